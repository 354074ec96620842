"""Configuration: defaults, a user file merged over them, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from regwatch.cli import main
from regwatch.config import load_config, settings_help
from regwatch.errors import ConfigError


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "user.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_load_and_name_the_real_sources() -> None:
    cfg = load_config(env={})
    names = {s.name for s in cfg.sources}
    assert {"egov-law", "meti-press-ja", "meti-press-en"} <= names
    egov = cfg.source("egov-law")
    assert egov.options["law_ids"][3] == "403M50000400049"
    assert egov.fetch_config(cfg.fetch).min_interval_s == 0.5
    assert cfg.database_url.startswith("sqlite:///") and cfg.database_url.endswith("regwatch.db")
    assert cfg.fetch.per_host_connections == 1 and cfg.fetch.min_interval_s >= 1


def test_user_file_is_merged_over_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[fetch]\nuser_agent = "acme-compliance/1.0"\n'), env={})
    assert cfg.fetch.user_agent == "acme-compliance/1.0"
    assert cfg.fetch.max_connections == 8  # untouched default
    assert cfg.sources  # default sources kept when the file names none


def test_user_sources_replace_the_default_list(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[[source]]
name = "watch"
scraper = "page"
urls = ["https://example.org/a"]
allowed_hosts = ["example.org"]
schedule = "*/5 * * * *"
selector = "#main"
timeout_s = 5
"""), env={})
    (src,) = cfg.sources
    assert src.options == {"selector": "#main"}
    assert src.fetch_config(cfg.fetch).timeout_s == 5.0


def test_environment_overrides(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), env={
        "REGWATCH_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "REGWATCH_FETCH_MAX_CONNECTIONS": "3",
        "REGWATCH_TIMEZONE": "Europe/Berlin",
    })
    assert cfg.database_url == "postgresql+psycopg://u@h/db"
    assert cfg.fetch.max_connections == 3
    assert cfg.timezone == "Europe/Berlin"


def test_password_only_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="smtp.password"):
        load_config(write(tmp_path, '[smtp]\npassword = "hunter2"\n'), env={})
    monkeypatch.setenv("REGWATCH_SMTP_PASSWORD", "s3cret")
    assert load_config(write(tmp_path, ""), env={}).smtp_password == "s3cret"


@pytest.mark.parametrize("body, key, words", [
    ('[fetch]\nmax_connections = "many"\n', "fetch.max_connections", "integer"),
    ('[fetch]\nmax_conections = 3\n', "fetch.max_conections", "unknown key"),
    ('timezone = "Mars/Olympus"\n', "timezone", "time zone"),
    ('[smtp]\nsecurity = "ssl3"\n', "smtp.security", "starttls"),
    ('[[source]]\nname = "x"\nscraper = "page"\nurl = "https://e.org"\nschedule = "every day"\n',
     "source.x.schedule", "cron"),
    ('[[source]]\nscraper = "page"\nurl = "https://e.org"\n', "source[0].name", "required"),
    ('[[subscriber]]\nemail = "a@b.org\\r\\nBcc: x@y"\n', "subscriber[0].email", "e-mail"),
    ("[fetch\n", None, "not valid TOML"),
])
def test_invalid_file_exits_2_naming_file_and_key(tmp_path: Path, capsys, body, key, words) -> None:
    path = write(tmp_path, body)
    assert main(["--config", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and words in err
    if key:
        assert repr(key) in err
    assert "Traceback" not in err


def test_missing_config_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "status"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [key for key, _default, _help in settings_help() if f"`{key}`" not in readme]
    assert missing == []


def test_a_source_needs_somewhere_to_look(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs `url`"):
        load_config(write(tmp_path, '[[source]]\nname = "x"\nscraper = "page"\n'), env={})
    cfg = load_config(write(tmp_path, '[[source]]\nname = "x"\nscraper = "page"\nurls_file = "u.txt"\n'),
                      env={})
    assert cfg.sources[0].options == {"urls_file": "u.txt"}


def test_bad_scraper_option_exits_2_naming_file_and_key(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, f'''data_dir = "{tmp_path / 'data'}"
[database]
url = "sqlite:///{tmp_path / 'db.sqlite'}"

[[source]]
name = "laws"
scraper = "egov_law"
url = "https://laws.e-gov.go.jp/api/2"
law_idz = ["403M50000400049"]
''')
    assert main(["--config", str(path), "init"]) == 0
    capsys.readouterr()
    for command in (["fetch"], ["run"]):
        assert main(["--config", str(path), *command]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and "'source.laws.law_idz'" in err and "law_ids" in err


def test_mirrors_map_origins_to_http_urls(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[fetch]\nmirrors = {"https://www.meti.go.jp" = '
                                      '"http://127.0.0.1:8080/www.meti.go.jp"}\n'), env={})
    assert cfg.fetch.mirrors == {"https://www.meti.go.jp": "http://127.0.0.1:8080/www.meti.go.jp"}
    with pytest.raises(ConfigError, match="not an origin") as err:
        load_config(write(tmp_path, '[fetch]\nmirrors = {"https://www.meti.go.jp/press" = '
                                    '"http://127.0.0.1:8080/x"}\n'), env={})
    assert err.value.key == "fetch.mirrors"
    with pytest.raises(ConfigError, match="must be an http"):
        load_config(write(tmp_path, '[[source]]\nname = "x"\nscraper = "page"\nurl = "https://a.example"'
                                    '\nmirrors = {"https://a.example" = "ftp://m"}\n'), env={})
    env = {"REGWATCH_FETCH_MIRRORS": '{"https://a.example": "http://127.0.0.1:9/a"}'}
    assert load_config(None, env=env).fetch.mirrors == {"https://a.example": "http://127.0.0.1:9/a"}
    with pytest.raises(ConfigError, match="is not a JSON object"):
        load_config(None, env={"REGWATCH_FETCH_MIRRORS": "x"})

"""Where the bundled config, templates and migrations live.

In a checkout (editable install) they are the top-level folders of the repository; in a
wheel they are copied into ``regwatch/_bundled`` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the folder `name` (``config``, ``reports`` or ``migrations``)."""
    bundled = _PACKAGE / "_bundled" / name
    if bundled.is_dir():
        return bundled
    checkout = _PACKAGE.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"regwatch resource folder {name!r} not found (broken install?)")


def default_config_path() -> Path:
    return resource_dir("config") / "regwatch.toml"

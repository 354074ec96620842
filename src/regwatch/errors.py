"""The project's own error types. Anything else escaping a parser is a bug."""

from __future__ import annotations


class RegwatchError(Exception):
    """Base of every error regwatch raises on purpose."""


def without_url(message: str, url: str | None) -> str:
    """`message` without a leading "url: " — for records that name the URL beside it.

    Errors name their source ("https://…: no <h1> title"), and an issue or problem that
    stores the URL in a field of its own would otherwise show it twice."""
    return message[len(url) + 2:] if url and message.startswith(f"{url}: ") else message


class ConfigError(RegwatchError):
    """An invalid configuration file, key or value (CLI exit code 2)."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        self.reason = message
        where = ", ".join(p for p in (file and f"file {file}", key and f"key {key!r}") if p)
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(RegwatchError):
    """The user asked for something that cannot be done as asked (exit code 2)."""


class ParseError(RegwatchError):
    """Input could not be parsed. Names the source (file, URL) and the reason."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class DateParseError(ParseError):
    """A date in a Japanese or English form could not be read, or is impossible."""


class ParserHealthError(ParseError):
    """A page parsed but yielded nothing where entries were expected: layout changed?"""


class FetchError(RegwatchError):
    """A fetch failed after its retries. Names the URL, the reason and the attempts."""

    def __init__(self, url: str, reason: str, *, attempts: int = 1, status: int | None = None):
        self.url = url
        self.reason = reason
        self.attempts = attempts
        self.status = status
        super().__init__(f"{url}: {reason} (after {attempts} attempt{'s' * (attempts != 1)})")


class StorageError(RegwatchError):
    """The snapshot store or the database could not be written (disk full, read-only)."""


class ReadOnlyViolation(UsageError):
    """`regwatch query` was given a statement that would write."""


class LockHeld(RegwatchError):
    """Another process holds the lock (scheduler or pipeline run)."""

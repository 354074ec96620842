"""The progress bar: counts and errors on a terminal, silent otherwise."""

from __future__ import annotations

import io

from regwatch.fetch.progress import Progress


def test_silent_when_not_a_tty():
    stream = io.StringIO()
    with Progress(3, "src", stream=stream) as bar:
        bar.advance()
        bar.advance(error=True)
    assert stream.getvalue() == "" and (bar.done, bar.errors) == (2, 1)


def test_bar_with_counts_and_errors_when_enabled():
    stream = io.StringIO()
    with Progress(4, "meti-anpo", enabled=True, stream=stream) as bar:
        for i in range(4):
            bar.advance(error=i == 2)
    out = stream.getvalue()
    assert "meti-anpo" in out and "4/4" in out and "errors=1" in out

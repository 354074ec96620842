"""A progress bar (tqdm, on stderr) with done/error counts, shown only on a terminal."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """`advance(error=...)` per finished item; silent unless `enabled` or stderr is a TTY."""

    def __init__(self, total: int | None, label: str, *, enabled: bool | None = None,
                 stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.done = 0
        self.errors = 0
        self._bar: Any = None
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="url", file=self.stream,
                             dynamic_ncols=True, leave=False)

    def advance(self, *, error: bool = False) -> None:
        self.done += 1
        self.errors += bool(error)
        if self._bar is not None:
            if error:
                self._bar.set_postfix(errors=self.errors, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.refresh()  # the final counts, even if updates were throttled
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

"""Messages for humans, on stderr only: errors always, warnings unless --quiet, chatter only on a terminal."""

from __future__ import annotations

import os
import sys
from typing import TextIO


class Reporter:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.is_terminal = is_terminal(self.stream)
        self.color = self.is_terminal and "NO_COLOR" not in os.environ
        # Progress bars and informational lines only make sense for a person watching.
        self.chatty = self.is_terminal and not quiet

    def rich_console(self):
        from rich.console import Console

        return Console(file=self.stream, no_color=not self.color, highlight=False, soft_wrap=True)

    def info(self, message: str) -> None:
        if self.chatty:
            self._line(message, "dim")

    def warn(self, message: str) -> None:
        if not self.quiet:
            self._line(f"warning: {message}", "yellow")

    def error(self, message: str) -> None:
        self._line(f"error: {message}", "red")

    def _line(self, message: str, style: str) -> None:
        message = printable(message)
        if self.color:
            self.stream.write(f"{_ANSI[style]}{message}\033[0m\n")
        else:
            self.stream.write(message + "\n")
        self.stream.flush()


def printable(message: str) -> str:
    """One event, one line, and no terminal escape sequences smuggled in through a file name."""
    message = " ".join(message.splitlines())
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in message)


_ANSI = {"dim": "\033[2m", "yellow": "\033[33m", "red": "\033[31m"}


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


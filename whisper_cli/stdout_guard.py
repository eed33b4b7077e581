"""sys.stdout while the CLI runs: a write that fails becomes `<stdout>: <cause>`, not a traceback.

Whatever writes to stdout (a transcript, --help, --version, probe's JSON) goes through sys.stdout, so this
one wrapper covers every writer: a reader that went away (`| head`) is StdoutClosed (exit 141, silent), any
other failure (`> /dev/full`, a failing disk, fd 1 closed or opened read-only) is an OutputError (exit 4).
"""

from __future__ import annotations

import errno
import os
from typing import Optional, TextIO

from .errors import OutputError, StdoutClosed

STDOUT_NAME = "<stdout>"


class GuardedStdout:
    """Delegates to `stream`; None (Python started with fd 1 closed) fails on the first write."""

    def __init__(self, stream: Optional[TextIO]):
        self._stream = stream
        self.failed = False

    def write(self, text: str) -> int:
        return self._guarded("write", text)

    def flush(self) -> None:
        self._guarded("flush")

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)

    def _guarded(self, method: str, *args):
        if self._stream is None:
            if method == "flush":
                return None
            raise OutputError(STDOUT_NAME, os.strerror(errno.EBADF))
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            self.failed = True
            raise StdoutClosed() from None
        except OSError as error:
            self.failed = True
            raise OutputError(STDOUT_NAME, error.strerror or str(error)) from None

    def settle(self) -> None:
        """After a failure, point fd 1 at /dev/null: the bytes still buffered must not fail again at exit.

        Not at the failure itself: click probes a stream with test writes and ignores what they raise."""
        if not self.failed:
            return
        try:
            is_fd_1 = self._stream.fileno() == 1
        except (AttributeError, OSError, ValueError):
            is_fd_1 = False  # a stand-in stream (a test's capture): nothing buffered at exit
        if is_fd_1:
            _point_fd_1_at_devnull()


def _point_fd_1_at_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, 1)
    except OSError:
        pass
    finally:
        os.close(devnull)

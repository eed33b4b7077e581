"""Per-input claims, so that runs sharing an output folder split a batch instead of both doing it.

A run claims an input before transcribing it by taking an exclusive flock on `OUT/a/.whisper-cli/x.lock`
(beside the input's record) and holds it until the input's outputs and record are in place. Another run
that finds the claim taken leaves the input for later; when it comes back it waits for the claim, then
finds the record and skips the input, or does the work itself if the first run failed or was killed.
The kernel drops a flock when its process dies, even by SIGKILL, so a claim can never be left stuck.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .manifest import record_path

try:
    import fcntl
except ImportError:  # Windows: no flock; every claim is granted and concurrent runs may both do an input
    fcntl = None


class Claim:
    """A held claim; release() unlinks the lock file while still holding it, then lets go."""

    def __init__(self, path: Optional[Path], fd: Optional[int]):
        self._path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self._path.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


UNCLAIMED = Claim(None, None)  # what a job holds when it needs no claim, or none could be made


def claim_path(base: Path) -> Path:
    return record_path(base).with_suffix(".lock")


def take(base: Path, *, wait: bool) -> Optional[Claim]:
    """Claim the input whose outputs are at `base`; None if another live run holds it (and `wait` is False).

    A folder where no lock file can be made gets a claim that guards nothing: writing the outputs there
    fails too, with its real cause, where it is reported.
    """
    if fcntl is None:
        return UNCLAIMED
    path = claim_path(base)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return UNCLAIMED
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:  # a file system without flock (some network mounts)
            os.close(fd)
            return UNCLAIMED
        except BaseException:  # Ctrl-C while waiting
            os.close(fd)
            raise
        # The run that held it may have released (unlinked) it after we opened it: our lock is then on a
        # file nobody else will ever open, so open the path again.
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return Claim(path, fd)
        os.close(fd)

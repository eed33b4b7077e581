"""Where transcript bytes go: stdout (flushed per segment) or files written atomically."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, Protocol, TextIO

from .errors import OutputError, StdoutClosed

# Temp files carry this suffix so a later run can recognise (and clean up) leftovers of a kill -9.
TEMP_SUFFIX = ".whisper-cli-partial"


class Sink(Protocol):
    def write(self, text: str) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class StreamSink:
    """Writes to a text stream (stdout) and flushes each piece so pipelines see it at once."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream or sys.stdout

    def write(self, text: str) -> None:
        if text:
            try:
                self._stream.write(text)
                self._stream.flush()
            except BrokenPipeError:
                raise StdoutClosed() from None

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class AtomicFileSink:
    """Streams into a temp file beside `path`; only commit() makes it appear, whole, at `path`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX
            )
        except OSError as error:
            raise OutputError(self.path, _cause(error)) from None
        self._temp_path = Path(temp_name)
        self._file = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def write(self, text: str) -> None:
        try:
            self._file.write(text)
        except OSError as error:
            self.abort()
            raise OutputError(self.path, _cause(error)) from None

    def commit(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.chmod(self._temp_path, 0o666 & ~_umask())
            os.replace(self._temp_path, self.path)
        except OSError as error:
            self.abort()
            raise OutputError(self.path, _cause(error)) from None

    def abort(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        try:
            self._temp_path.unlink()
        except FileNotFoundError:
            pass


def write_file_atomically(path: Path, text: str) -> None:
    sink = AtomicFileSink(path)
    sink.write(text)
    sink.commit()


def remove_stale_temp_files(directory: Path, recursive: bool = True) -> int:
    """Delete temp files that killed runs left in `directory` (and, if recursive, its sub-folders); returns how many.

    A temp file whose writer process is still alive belongs to a concurrent run and is kept.
    """
    removed = 0
    search = Path(directory).rglob if recursive else Path(directory).glob
    for temp in search(f"*{TEMP_SUFFIX}"):
        if _writer_is_alive(temp):
            continue
        try:
            temp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def remove_own_temp_files(directory: Path) -> None:
    """Delete this process's temp files in `directory`: after Ctrl-C, for the rare signal that lands between
    a temp file's creation and the code that would remove it (inside tempfile.mkstemp, say)."""
    for temp in Path(directory).glob(f"*{TEMP_SUFFIX}"):
        if _writer_pid(temp) == os.getpid():
            try:
                temp.unlink()
            except OSError:
                pass


def _writer_pid(temp: Path) -> Optional[int]:
    # Name shape: .<output name>.<pid>.<random><TEMP_SUFFIX>
    parts = temp.name[: -len(TEMP_SUFFIX)].split(".")
    try:
        return int(parts[-2])
    except (IndexError, ValueError):
        return None


def _writer_is_alive(temp: Path) -> bool:
    pid = _writer_pid(temp)
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cause(error: OSError) -> str:
    return error.strerror or str(error)

"""Where transcript bytes go: stdout (flushed per segment) or files written atomically."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Optional, Protocol, Sequence, TextIO

from .errors import OutputError, StdoutClosed

# Temp files carry this suffix so a later run can recognise (and clean up) leftovers of a kill -9.
TEMP_SUFFIX = ".whisper-cli-partial"
# Where os.link fails because the file system has no hard links (FAT, some network mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV, errno.ENOSYS}


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
    """Streams into a temp file beside `path`; only commit() makes it appear, whole, at `path`.

    commit() is stage() (flush, fsync, close) then publish() (the rename) then finish(); commit_all() runs
    those steps over several sinks so that they all appear or none does. With `root` (the -o folder) the
    folder is checked, at creation and again at the rename, not to lead out of `root` by a symbolic link.
    """

    def __init__(self, path: Path, root: Optional[Path] = None):
        self.path = Path(path)
        self._root = root
        if root is not None:
            check_inside(self.path.parent, root)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX
            )
        except OSError as error:
            raise OutputError(self.path, _cause(error)) from None
        self._temp_path = Path(temp_name)
        self._file = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._hash = hashlib.sha256()
        self.size = 0  # bytes written
        self._backup: Optional[Path] = None  # a hard link to the file that publish() replaced
        self._published = False

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of what was written: what the resume record keeps, to see an edit of any size."""
        return self._hash.hexdigest()

    def write(self, text: str) -> None:
        try:
            self._file.write(text)
        except OSError as error:
            self.abort()
            raise OutputError(self.path, _cause(error)) from None
        data = text.encode("utf-8")
        self._hash.update(data)
        self.size += len(data)

    def commit(self) -> None:
        self.stage()
        commit_all([self])

    def stage(self) -> None:
        """Everything written on disk, in the temp file: what can fail on a full disk fails here."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.chmod(self._temp_path, 0o666 & ~_umask())
        except OSError as error:
            self.abort()
            raise OutputError(self.path, _cause(error)) from None

    def publish(self) -> None:
        """Rename the staged temp file into place, keeping a hard link to the file it replaces (for rollback)."""
        if self._root is not None:
            check_inside(self.path.parent, self._root)
        try:
            self._backup = _link_aside(self.path)
            os.replace(self._temp_path, self.path)
        except OSError as error:
            raise OutputError(self.path, _cause(error)) from None
        self._published = True

    def rollback(self) -> None:
        """Undo publish(): the replaced file back in place, or (if there was none) the new one removed."""
        if self._published:
            try:
                if self._backup is not None:
                    os.replace(self._backup, self.path)
                    self._backup = None
                else:
                    self.path.unlink()  # also when a file was there but could not be kept (no hard links)
            except OSError:
                pass  # the record was not renamed into place, so a re-run does this input again
            self._published = False
        self.abort()

    def finish(self) -> None:
        """After a successful publish(): the replaced file is no longer needed."""
        _unlink(self._backup)
        self._backup = None

    def abort(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        if not self._published:
            _unlink(self._temp_path)
        _unlink(self._backup)
        self._backup = None


def commit_all(sinks: Sequence[AtomicFileSink]) -> None:
    """Rename staged sinks into place in order; if one rename fails (or a signal comes), put back the ones
    already renamed, so the files are as they were before, and raise."""
    published: list[AtomicFileSink] = []
    try:
        for sink in sinks:
            sink.publish()
            published.append(sink)
    except BaseException:
        for sink in reversed(published):
            sink.rollback()
        for sink in sinks:
            sink.abort()
        raise
    for sink in sinks:
        sink.finish()


def check_inside(folder: Path, root: Path) -> None:
    """Refuse to write into `folder` when a symbolic link on its way down from `root` leads out of root's real path.

    Called just before each write (not once at the start), so a link made while a batch runs is caught too.
    """
    real_root = os.path.realpath(root)
    relative = os.path.relpath(os.path.abspath(folder), os.path.abspath(root))
    parts = () if relative == os.curdir else Path(relative).parts
    for depth in range(1, len(parts) + 1):
        shown = Path(root).joinpath(*parts[:depth])
        if not os.path.lexists(shown):
            return  # made by mkdir inside a folder already checked
        real = os.path.realpath(shown)
        if os.path.commonpath([real_root, real]) != real_root:
            raise OutputError(shown, f"symbolic link to {real}, outside {root}: refusing to write through it")


def atomic_write(path: Path, text: str, root: Optional[Path] = None) -> None:
    """`text` at `path`, whole or not at all: a temp file beside it, fsync, then a rename; raises OutputError."""
    sink = AtomicFileSink(path, root)
    sink.write(text)
    sink.commit()


def _link_aside(path: Path) -> Optional[Path]:
    """A hard link to the file at `path` under a temp name; None if there is none, or the file system has no
    hard links (then a rollback can only remove the new file)."""
    if not os.path.lexists(path):
        return None
    while True:
        backup = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            os.link(path, backup, follow_symlinks=False)
            return backup
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno in _NO_HARD_LINKS:
                return None
            raise


def _unlink(path: Optional[Path]) -> None:
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # a leftover temp name: the next run removes it (remove_stale_temp_files)


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


def remove_stale_temp_files_in(folders) -> None:
    """remove_stale_temp_files for each existing folder, its sub-folders left alone: after a worker died."""
    for folder in folders:
        if Path(folder).is_dir():
            remove_stale_temp_files(folder, recursive=False)


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
    return pid is not None and (pid == os.getpid() or process_is_alive(pid))


def process_is_alive(pid: int) -> bool:
    """Whether a process of this machine with this id exists (one of another user's counts)."""
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

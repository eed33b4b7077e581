"""Resume records: which model and settings made an input's outputs, so a re-run can skip finished work.

Beside the outputs of `x.wav` (say `OUT/a/x.srt`, `OUT/a/x.json`) lies `OUT/a/.whisper-cli/x.json`, renamed
into place right after every output (commit.py). It holds the settings key, the input's size and
modification time, and each output's name, size and SHA-256. An input is done when its record exists, the
key and the input are unchanged, and every output asked for is there with its recorded size and hash.
Anything else (no record, a killed run, a changed --model or --language, an edited or missing output)
means: transcribe again.

The record also says which files whisper-cli wrote, so a batch never replaces one it did not write: the
outputs, the outputs of other formats that earlier runs wrote (`earlier_outputs`), and, while an input's
outputs are being renamed into place, `x.pending` listing them (a kill then cannot orphan them).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from . import __version__
from .output import atomic_write

RECORD_FOLDER = ".whisper-cli"
# Bump when a key below changes meaning; older records then read as not done. 2: outputs carry their sha256.
RECORD_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class SourceStamp:
    """What identifies the input's content cheaply, as make does: size and modification time."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, source: str) -> Optional["SourceStamp"]:
        try:
            status = os.stat(source)
        except OSError:
            return None  # missing or unreadable: never done, and the load will say why
        return cls(status.st_size, status.st_mtime_ns)


def help_text() -> str:
    """The --help paragraph on resuming."""
    return (
        "A batch (anything but one file argument) is resumable: a re-run skips inputs whose outputs are complete "
        "for the same model and settings, as recorded "
        f"in {RECORD_FOLDER}/ beside the outputs; a changed model, setting, input or output is transcribed again, "
        "and --overwrite redoes everything. A batch never replaces a file that it did not write (--overwrite "
        "does). An input's outputs appear whole and all together or not at all, so after Ctrl-C, a kill or a "
        "power cut the next run finishes the rest (and removes temp files that killed runs left)."
    )


def record_path(base: Path) -> Path:
    """Where the record of the outputs at `base` (`OUT/a/x` for `OUT/a/x.srt`) lives."""
    return base.parent / RECORD_FOLDER / f"{base.name}.json"


def canonical(key: Mapping[str, Any]) -> str:
    """The key as one comparable string: sorted keys, tuples as lists, anything odd as text."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


def pending_path(base: Path) -> Path:
    """Names the outputs of `base` being renamed into place right now (or when a kill came)."""
    return record_path(base).with_suffix(".pending")


def why_not_done(base: Path, outputs: Mapping[str, Path], key: Mapping[str, Any], stamp: Optional[SourceStamp]) -> Optional[str]:
    """None when the outputs at `base` are complete for `key`; otherwise why they must be made again."""
    record = _read(record_path(base))
    if record is None:
        return "no record of a finished run"
    if record.get("schema_version") != RECORD_SCHEMA_VERSION:
        return "record from another version"
    recorded_key = record.get("key", {})
    if canonical(recorded_key) != canonical(key):
        if isinstance(recorded_key, dict) and recorded_key.get("model") != key.get("model"):
            return "model changed"
        return "settings changed"
    if stamp is None or record.get("source_size") != stamp.size or record.get("source_mtime_ns") != stamp.mtime_ns:
        return "input changed"
    recorded_outputs = record.get("outputs", {})
    for fmt, path in outputs.items():
        entry = recorded_outputs.get(fmt)
        if not isinstance(entry, dict) or entry.get("file") != path.name:
            return f"no {fmt} output recorded"
        try:
            size = os.stat(path).st_size
        except OSError:
            return f"{path.name} is missing"
        # The size first: it is free, and tells most edits; the hash tells the rest ("This" -> "Thus").
        if size != entry.get("size") or file_sha256(path) != entry.get("sha256"):
            return f"{path.name} changed since it was written"
    return None


def written_names(base: Path) -> set[str]:
    """The names of the files beside `base` that whisper-cli wrote, as its pending list and record say.

    The pending list first: a run committing meanwhile writes it, renames, then drops it after the record."""
    pending = _read(pending_path(base)) or {}
    names = {name for name in pending.get("files") or () if isinstance(name, str)}
    record = _read(record_path(base)) or {}
    for entry in (record.get("outputs") or {}).values():
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            names.add(entry["file"])
    names.update(name for name in record.get("earlier_outputs") or () if isinstance(name, str))
    return names


def write_pending(base: Path, names: Iterable[str], root: Optional[Path]) -> None:
    """Say which files are about to be renamed into place at `base`, before the first rename."""
    pending = {"schema_version": RECORD_SCHEMA_VERSION, "files": sorted(set(names) | written_names(base))}
    atomic_write(pending_path(base), json.dumps(pending) + "\n", root)


def drop_pending(base: Path) -> None:
    try:
        pending_path(base).unlink()
    except OSError:
        pass  # left over, it only lists files whisper-cli wrote or was about to write


def record_text(
    base: Path,
    outputs: Mapping[str, tuple[str, int, str]],
    key: Mapping[str, Any],
    stamp: Optional[SourceStamp],
    source: str,
    details: Mapping[str, Any],
) -> str:
    """The record of finished outputs (format -> (file name, size, sha256)), to be renamed into place last."""
    current = {name for name, _, _ in outputs.values()}
    earlier = sorted(name for name in written_names(base) - current if os.path.lexists(base.parent / name))
    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "source": os.path.abspath(source),
        "source_size": stamp.size if stamp else None,
        "source_mtime_ns": stamp.mtime_ns if stamp else None,
        "key": json.loads(canonical(key)),
        "outputs": {fmt: {"file": name, "size": size, "sha256": digest} for fmt, (name, size, digest) in outputs.items()},
        "earlier_outputs": earlier,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "whisper_cli": __version__,
        **details,
    }
    # ASCII: a file name that is not UTF-8 (surrogate escapes) must not make the record unwritable.
    return json.dumps(record, indent=2, default=str) + "\n"


def file_sha256(path: Path) -> Optional[str]:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _read(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None  # missing, unreadable or damaged: not done
    return record if isinstance(record, dict) else None

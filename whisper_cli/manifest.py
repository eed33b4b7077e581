"""Resume records: which model and settings made an input's outputs, so a re-run can skip finished work.

Beside the outputs of `x.wav` (say `OUT/a/x.srt`, `OUT/a/x.json`) lies `OUT/a/.whisper-cli/x.json`, written
atomically after every output was renamed into place. It holds the settings key, the input's size and
modification time, and each output's name and size. An input is done when its record exists, the key and
the input are unchanged, and every output asked for is there at its recorded size. Anything else (no
record, a killed run, a changed --model or --language, an edited or missing output) means: transcribe again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from . import __version__
from .output import AtomicFileSink

RECORD_FOLDER = ".whisper-cli"
RECORD_SCHEMA_VERSION = 1  # bump when a key below changes meaning; older records then read as not done


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
        "and --overwrite redoes everything. Outputs appear whole or not at all, so after Ctrl-C, a kill or a power "
        "cut the next run finishes the rest (and removes temp files that killed runs left)."
    )


def record_path(base: Path) -> Path:
    """Where the record of the outputs at `base` (`OUT/a/x` for `OUT/a/x.srt`) lives."""
    return base.parent / RECORD_FOLDER / f"{base.name}.json"


def canonical(key: Mapping[str, Any]) -> str:
    """The key as one comparable string: sorted keys, tuples as lists, anything odd as text."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


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
        if size != entry.get("size"):
            return f"{path.name} changed since it was written"
    return None


def forget(base: Path) -> None:
    """Drop the record before outputs are rewritten, so a crash halfway can never read as done."""
    try:
        record_path(base).unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # an unwritable record folder shows up, with its real cause, when the record is written


def write(
    base: Path,
    outputs: Mapping[str, Path],
    key: Mapping[str, Any],
    stamp: Optional[SourceStamp],
    source: str,
    details: Mapping[str, Any],
) -> None:
    """Record finished outputs (call once every output is in place); atomic like the outputs."""
    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "source": os.path.abspath(source),
        "source_size": stamp.size if stamp else None,
        "source_mtime_ns": stamp.mtime_ns if stamp else None,
        "key": json.loads(canonical(key)),
        "outputs": {fmt: {"file": path.name, "size": os.stat(path).st_size} for fmt, path in outputs.items()},
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "whisper_cli": __version__,
        **details,
    }
    sink = AtomicFileSink(record_path(base))
    try:
        # ASCII: a file name that is not UTF-8 (surrogate escapes) must not make the record unwritable.
        sink.write(json.dumps(record, indent=2, default=str) + "\n")
        sink.commit()
    except BaseException:
        sink.abort()
        raise


def _read(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None  # missing, unreadable or damaged: not done
    return record if isinstance(record, dict) else None

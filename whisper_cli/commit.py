"""An input's outputs and its record: streamed into temp files, then renamed into place all together or not at all.

What an input's outputs promise: after any run, the outputs of an input and its record are those of one
complete run, this one or the one before. Every output is first written whole into its temp file (stage:
flush and fsync, where a full disk fails); then each is renamed into place, then the record. If any rename
fails, or a signal comes meanwhile, the ones already renamed are put back as they were (output.commit_all),
so the folder holds the previous complete state; the error is then an exit 4 as any output error is.
While the renames run, `.whisper-cli/x.pending` names them, so a kill -9 halfway leaves files that the
next run knows whisper-cli wrote (and, their hashes not matching the record, transcribes again).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from . import manifest
from .errors import InputError
from .output import AtomicFileSink, Sink, StreamSink, commit_all
from .transcript import Transcript
from .writers import OutputFormat, SubtitleLayout, Writer, make_writer

NOT_WRITTEN_BY_US = "exists and was not written by whisper-cli (use --overwrite)"

Outputs = list[tuple[Writer, Sink]]


class NotWrittenByUs(InputError):
    """A file whisper-cli did not write is where an output would go: that input fails, the batch goes on."""

    def __init__(self, path: Path):
        super().__init__(path, NOT_WRITTEN_BY_US)


@dataclass(frozen=True)
class Record:
    """What an input's resume record says besides its outputs (a batch's inputs only; manifest.py)."""

    key: dict[str, Any]  # plan.settings_key
    stamp: manifest.SourceStamp
    source: str  # the input's path
    overwrite: bool  # --overwrite: a file not ours in the way is replaced


@dataclass(frozen=True)
class Destination:
    """Where one input's transcript goes: plain data, so that it can be sent to another process."""

    formats: tuple[OutputFormat, ...]
    layout: SubtitleLayout
    outputs: dict[str, Path]  # format -> final path; empty: formats[0] to stdout
    root: Optional[Path] = None  # the -o folder, which no symbolic link may lead out of
    base: Optional[Path] = None  # outputs' path less the extension; where the record is kept
    record: Optional[Record] = None  # None: no record (one file, or stdin)


def open_outputs(destination: Destination) -> Outputs:
    """A writer and a sink per format: temp files beside the final outputs, or stdout when there are none."""
    if not destination.outputs:
        return [(make_writer(destination.formats[0], destination.layout), StreamSink())]
    outputs: Outputs = []
    try:
        for fmt, path in destination.outputs.items():
            outputs.append((make_writer(fmt, destination.layout), AtomicFileSink(path, destination.root)))
    except BaseException:
        abort(outputs)
        raise
    return outputs


def write_start(outputs: Outputs, info) -> None:
    for writer, sink in outputs:
        sink.write(writer.start(info))


def write_segment(outputs: Outputs, segment) -> None:
    for writer, sink in outputs:
        sink.write(writer.segment(segment))


def finish(outputs: Outputs, transcript: Transcript, destination: Destination, whisper) -> None:
    """Each writer's ending, then every output and the record committed together (the caller aborts on failure)."""
    for writer, sink in outputs:
        sink.write(writer.finish(transcript))
    files = [sink for _, sink in outputs if isinstance(sink, AtomicFileSink)]
    for sink in files:
        sink.stage()
    spec, base = destination.record, destination.base
    if spec is None or base is None:
        commit_all(files)
        return
    if not spec.overwrite:
        check_not_foreign(base, destination.outputs)  # again: a file may have been put there since the plan was made
    record = AtomicFileSink(manifest.record_path(base), destination.root)
    try:
        written = {fmt: (sink.path.name, sink.size, sink.sha256) for fmt, sink in zip(destination.outputs, files)}
        details = record_details(whisper, transcript)
        record.write(manifest.record_text(base, written, spec.key, spec.stamp, spec.source, details))
        record.stage()
        manifest.write_pending(base, [sink.path.name for sink in files], destination.root)
    except BaseException:
        record.abort()
        raise
    try:
        commit_all([*files, record])
    finally:
        manifest.drop_pending(base)


def abort(outputs: Outputs) -> None:
    for _, sink in outputs:
        sink.abort()


def record_details(whisper, transcript: Transcript) -> dict[str, Any]:
    """What the record says besides the key: how the model resolved, and what was found."""
    return {
        "model_resolved": whisper.resolved.name,
        "device": whisper.choice.device,
        "language": transcript.info.language,
        "audio_s": round(transcript.info.duration, 3),
    }


def check_not_foreign(base: Path, outputs: dict[str, Path]) -> None:
    """Raise NotWrittenByUs for the first output whose place holds a file no record says whisper-cli wrote."""
    # Which outputs exist, before reading who wrote them: a run committing this input meanwhile has then
    # already named them in its pending list or its record (manifest.written_names reads them in that order).
    present = [path for path in outputs.values() if os.path.lexists(path)]
    written = manifest.written_names(base) if present else set()
    for path in present:
        if path.name not in written:
            raise NotWrittenByUs(path)

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

from typing import TYPE_CHECKING, Any

from . import manifest
from .output import AtomicFileSink, Sink, StreamSink, commit_all
from .plan import Job, check_not_foreign, settings_key
from .transcript import Transcript
from .writers import Writer, make_writer

if TYPE_CHECKING:
    from .batch import RunConfig

Outputs = list[tuple[Writer, Sink]]


def open_outputs(job: Job, config: "RunConfig") -> Outputs:
    """A writer and a sink per format: temp files beside the job's outputs, or stdout when it has none."""
    if not job.outputs:
        return [(make_writer(config.formats[0], config.layout), StreamSink())]
    outputs: Outputs = []
    try:
        for fmt, path in job.outputs.items():
            outputs.append((make_writer(fmt, config.layout), AtomicFileSink(path, config.output_dir)))
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


def finish(outputs: Outputs, transcript: Transcript, job: Job, config: "RunConfig", whisper) -> None:
    """Each writer's ending, then every output and the record committed together (the caller aborts on failure)."""
    for writer, sink in outputs:
        sink.write(writer.finish(transcript))
    files = [sink for _, sink in outputs if isinstance(sink, AtomicFileSink)]
    for sink in files:
        sink.stage()
    if not job.resumable:
        commit_all(files)
        return
    if not config.overwrite:
        check_not_foreign(job)  # again: a file may have been put there since the plan was made
    record = AtomicFileSink(manifest.record_path(job.base), config.output_dir)
    try:
        written = {fmt: (sink.path.name, sink.size, sink.sha256) for fmt, sink in zip(job.outputs, files)}
        details = record_details(whisper, transcript)
        record.write(manifest.record_text(job.base, written, settings_key(config), job.stamp, job.input.source, details))
        record.stage()
        manifest.write_pending(job.base, [sink.path.name for sink in files], config.output_dir)
    except BaseException:
        record.abort()
        raise
    try:
        commit_all([*files, record])
    finally:
        manifest.drop_pending(job.base)


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


def write_transcript(transcript: Transcript, outputs: Outputs, job: Job, config: "RunConfig", whisper) -> None:
    """Write a whole transcript into `outputs` and commit them with the record; on any failure none appears."""
    try:
        write_start(outputs, transcript.info)
        for segment in transcript.segments:
            write_segment(outputs, segment)
        finish(outputs, transcript, job, config, whisper)
    except BaseException:
        abort(outputs)
        raise

"""Inputs -> transcripts: one model load for all inputs, an outcome per file, going on past a bad file.

run() plans first (find the files, name their outputs, remove temp files of killed runs, skip what a
record says is done), then loads the model once, if anything is left to do, and transcribes the rest in
order while the next file is decoded in the background. Every output appears whole or not at all, and a
file's record is written only after all of its outputs are in place. Each input is claimed before it is
transcribed, so runs sharing an output folder split the work (claims.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from . import claims, manifest
from .audio import SAMPLE_RATE, STDIN_NAME, load_audio
from .console import Reporter
from .errors import ExitCode, InputError, UsageError
from .inputs import Input, discover, is_single_file, output_bases, read_list
from .options import DecodeOptions
from .output import AtomicFileSink, Sink, StreamSink, remove_own_temp_files, remove_stale_temp_files
from .packing import MAX_PACKED_CLIP_S, packable, transcribe_packed
from .prefetch import Loaded, Prefetcher
from .progress import LogFormat, make_view
from .transcript import Transcript
from .writers import OutputFormat, SubtitleLayout, Writer, make_writer

DEFAULT_PREFETCH = 1  # files decoded ahead of the one being transcribed
PACK_GROUP_CLIPS = 32  # short clips waiting for shared windows are transcribed once this many wait ...
PACK_GROUP_S = 600.0  # ... or once they hold this much audio (and at the end of the run)


@dataclass(frozen=True)
class ModelSettings:
    name: str = "base"
    device: str = "auto"
    compute_type: str = "auto"
    cpu_threads: int = 0
    offline: Optional[bool] = None


@dataclass(frozen=True)
class RunConfig:
    inputs: tuple[str, ...]
    formats: tuple[OutputFormat, ...] = (OutputFormat.TXT,)
    output_dir: Optional[Path] = None
    decode: DecodeOptions = DecodeOptions()
    layout: SubtitleLayout = SubtitleLayout()
    model: ModelSettings = ModelSettings()
    recursive: bool = True  # search folders' sub-folders too
    files_from: Optional[str] = None  # a file listing one input per line; "-" reads stdin
    overwrite: bool = False  # transcribe again even what a record says is done
    log_format: LogFormat = LogFormat.text
    prefetch: int = DEFAULT_PREFETCH  # 0 decodes each file only when its turn comes
    pack: bool = True  # short clips of a batch share 30 s windows (packing.py)
    pack_batch: Optional[int] = None  # packed windows decoded at once; None: packing.WINDOW_BATCH for the device

    @property
    def is_batch(self) -> bool:
        """Anything but one file argument: folders, patterns, a list or several files. Only a batch resumes
        (skips what a record says is done) and ends with a summary; one file is transcribed every time."""
        return not is_single_file(self.inputs, self.files_from)

    @property
    def to_stdout(self) -> bool:
        return not self.is_batch and self.output_dir is None


class Status(str, Enum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    NOT_STARTED = "not started"


@dataclass
class Outcome:
    source: str  # the input's name as messages show it
    status: Status = Status.NOT_STARTED
    error: Optional[str] = None  # why it failed
    reason: Optional[str] = None  # why it was skipped, or why it is transcribed again
    outputs: tuple[Path, ...] = ()
    language: Optional[str] = None
    notes: list[str] = field(default_factory=list)  # what the engine noticed (a collapsed repetition loop ...)
    audio_s: float = 0.0  # seconds of audio in the input
    decode_s: float = 0.0  # decoding it (in the background unless --prefetch 0)
    wait_s: float = 0.0  # waiting for that decoding to finish
    transcribe_s: float = 0.0  # the model's work and writing the outputs
    wall_s: float = 0.0  # from its turn coming to its outputs being in place


@dataclass
class RunResult:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    wall_s: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.failures() else ExitCode.OK

    @property
    def audio_s(self) -> float:
        return sum(outcome.audio_s for outcome in self.outcomes if outcome.status == Status.DONE)

    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == Status.FAILED]

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in (Status.DONE, Status.SKIPPED, Status.FAILED, Status.INTERRUPTED, Status.NOT_STARTED)}
        for outcome in self.outcomes:
            counts[outcome.status.value] += 1
        return counts


@dataclass
class Job:
    """One entry of the plan: an input and the files it is to produce, or an argument that named none."""

    outcome: Outcome
    input: Optional[Input] = None  # None for a Problem (a pattern that matches nothing ...)
    outputs: dict[str, Path] = field(default_factory=dict)  # format -> final path; empty for stdout
    base: Optional[Path] = None  # outputs' path less the extension; where the record is kept
    stamp: Optional[manifest.SourceStamp] = None
    problem: Optional[str] = None  # why an argument named no file
    claim: claims.Claim = claims.UNCLAIMED  # held while this run transcribes the input (claims.py)

    @property
    def resumable(self) -> bool:
        """Part of a batch, with outputs in files, from a file that a later run can find again (not stdin)."""
        return self.stamp is not None


def validate(config: RunConfig) -> None:
    """Usage errors that can be seen before any model is loaded."""
    if not config.inputs and config.files_from is None:
        raise UsageError("inputs", "no input given (a file, a folder, a pattern, - for stdin, or --files-from)")
    if config.to_stdout and len(config.formats) > 1:
        raise UsageError("--format", "several formats need --output-dir (stdout takes one)")
    if STDIN_NAME in config.inputs and (len(config.inputs) > 1 or config.files_from is not None):
        raise UsageError("-", "stdin can only be transcribed on its own")
    if config.prefetch < 0:
        raise UsageError("--prefetch", "must be 0 or more")


def run(config: RunConfig, reporter: Reporter, load_model: Optional[Callable] = None) -> RunResult:
    validate(config)
    started = time.monotonic()
    jobs = plan(config, reporter)
    todo = [job for job in jobs if job.input is not None and job.outcome.status == Status.NOT_STARTED]
    view = make_view(reporter, config.log_format, batch=config.is_batch)
    result = RunResult()
    # Decoding starts now, on a background thread, and keeps `prefetch` files ahead of transcription.
    decode = partial(_decode, split_stereo=config.decode.split_stereo)
    prefetcher = Prefetcher(todo, decode, depth=config.prefetch)
    current: Optional[Outcome] = None
    began = False
    model = _LazyModel(config, reporter, load_model, view)
    group = _PackGroup() if _packing(config, len(todo)) else None
    key = settings_key(config)
    deferred: list[tuple[int, Job]] = []  # inputs another run was transcribing when their turn came
    try:
        view.begin(len(jobs), sum(1 for job in jobs if job.outcome.status != Status.SKIPPED))
        began = True
        for index, job in enumerate(jobs, start=1):
            outcome = job.outcome
            if job.problem is not None:
                outcome.status, outcome.error = Status.FAILED, job.problem
                view.finished(outcome)
            elif outcome.status == Status.SKIPPED:
                view.skipped(outcome)
            elif not _claim(job, config, key, wait=False):
                prefetcher.take(job)  # keeps the order; decoded again if it comes back to this run
                if outcome.status == Status.SKIPPED:
                    view.skipped(outcome)
                else:
                    deferred.append((index, job))
            else:
                current = outcome
                view.started(outcome, index, len(jobs))
                if group is None:
                    _transcribe_job(model, job, prefetcher, config, view)
                    job.claim.release()
                    view.finished(outcome)
                else:
                    turn = time.monotonic()
                    loaded = prefetcher.take(job)
                    if _fits_a_window(loaded):
                        group.add(job, loaded, turn)
                        if group.full():
                            current = None
                            group.flush(model, config, view)
                    else:
                        _transcribe_job(model, job, prefetcher, config, view, loaded=loaded, turn=turn)
                        job.claim.release()
                        view.finished(outcome)
                current = None
        if group is not None:
            group.flush(model, config, view)  # before waiting on other runs, which may wait on these claims
        for index, job in deferred:
            # Wait until the other run is done with it, then skip it, or do it if that run failed or died.
            if not _claim(job, config, key, wait=True):
                view.skipped(job.outcome)
                continue
            current = job.outcome
            view.started(job.outcome, index, len(jobs))
            _transcribe_job(model, job, Prefetcher([job], decode, depth=0), config, view)
            job.claim.release()
            view.finished(job.outcome)
            current = None
    except KeyboardInterrupt:
        result.interrupted = True
        for folder in _output_folders(jobs):
            remove_own_temp_files(folder)
        waiting = group.interrupt() if group is not None else []
        if current is not None and current.status == Status.NOT_STARTED:  # not if it had just finished
            current.status = Status.INTERRUPTED
            waiting.insert(0, current)
        for outcome in waiting:
            view.interrupted(outcome)
        if not waiting:
            view.interrupted(None)
        raise
    finally:
        prefetcher.close()
        for job in jobs:
            job.claim.release()
        result.outcomes = [job.outcome for job in jobs]
        result.wall_s = time.monotonic() - started
        if began:
            view.summary(result)
        view.close()
    return result


def _claim(job: Job, config: RunConfig, key: dict[str, Any], *, wait: bool) -> bool:
    """Claim the job's input for this run (claims.py). False if another run holds the claim (and `wait` is
    False), or has finished the input since the plan was made: then the job is marked skipped."""
    if not job.resumable:
        return True
    claim = claims.take(job.base, wait=wait)
    if claim is None:
        return False
    if not config.overwrite and manifest.why_not_done(job.base, job.outputs, key, job.stamp) is None:
        claim.release()
        job.outcome.status, job.outcome.reason = Status.SKIPPED, "finished by another run"
        return False
    job.claim = claim
    return True


def _packing(config: RunConfig, todo: int) -> bool:
    """Short clips share windows only in a batch writing files, of more than one input, with options packing honours."""
    # Not with --diarize: a speaker's voice is found across the whole file, not within a shared window.
    return config.pack and packable(config.decode) and not config.decode.diarize and config.is_batch and not config.to_stdout and todo > 1


def _fits_a_window(loaded: Loaded) -> bool:
    audio = loaded.audio
    return (
        loaded.error is None
        and isinstance(audio, np.ndarray)
        and audio.ndim == 1
        and len(audio) <= MAX_PACKED_CLIP_S * SAMPLE_RATE
    )


class _PackGroup:
    """Decoded short clips waiting to be transcribed together in shared windows (packing.py)."""

    def __init__(self):
        self._waiting: list[tuple[Job, Loaded, float]] = []  # job, its decoded audio, when its turn came
        self._audio_s = 0.0

    def add(self, job: Job, loaded: Loaded, turn: float) -> None:
        job.outcome.wait_s = time.monotonic() - turn
        job.outcome.decode_s = loaded.decode_s
        self._waiting.append((job, loaded, turn))
        self._audio_s += len(loaded.audio) / SAMPLE_RATE

    def full(self) -> bool:
        return len(self._waiting) >= PACK_GROUP_CLIPS or self._audio_s >= PACK_GROUP_S

    def interrupt(self) -> list[Outcome]:
        """Outcomes of the clips still waiting (or being transcribed), marked interrupted."""
        interrupted = []
        for job, _, _ in self._waiting:
            if job.outcome.status == Status.NOT_STARTED:
                job.outcome.status = Status.INTERRUPTED
                interrupted.append(job.outcome)
        self._waiting = []
        return interrupted

    def flush(self, model: "_LazyModel", config: RunConfig, view) -> None:
        """Transcribe the waiting clips together and write each one's outputs and record; a failure stays per file."""
        if not self._waiting:
            return
        waiting = self._waiting
        whisper = model.get()
        for job, _, _ in waiting:
            if job.resumable:
                manifest.forget(job.base)
        working = time.monotonic()
        try:
            clips = [(job.input.name, loaded.audio) for job, loaded, _ in waiting]
            results = transcribe_packed(whisper, clips, config.decode, batch_size=config.pack_batch)
        except InputError as error:
            for job, _, turn in waiting:
                _fail(job.outcome, error)
                job.claim.release()
                job.outcome.wall_s = time.monotonic() - turn
                view.finished(job.outcome)
            self._waiting, self._audio_s = [], 0.0
            return
        share_s = (time.monotonic() - working) / sum(max(len(loaded.audio), 1) for _, loaded, _ in waiting)
        for (job, loaded, turn), clip in zip(waiting, results):
            outcome = job.outcome
            writing = time.monotonic()
            try:
                info = clip.transcript.info
                if config.decode.language is None:
                    view.language(outcome, info.language, info.language_probability)
                view.transcribing(outcome, info.duration)
                for note in clip.notes:
                    _note(outcome, note, view)
                write_transcript(clip.transcript, _open_outputs(job, config))
                view.advance(info.duration)
                if job.resumable:
                    _write_record(job, config, whisper, clip.transcript)
            except InputError as error:
                _fail(outcome, error)
            else:
                _done(outcome, clip.transcript)
            job.claim.release()
            outcome.transcribe_s = share_s * max(len(loaded.audio), 1) + time.monotonic() - writing
            outcome.wall_s = time.monotonic() - turn
            view.finished(outcome)
        self._waiting, self._audio_s = [], 0.0


def plan(config: RunConfig, reporter: Reporter) -> list[Job]:
    """Find the inputs, name their outputs, clear temp files of killed runs, mark what is already done."""
    listed = _read_files_from(config.files_from) if config.files_from is not None else []
    found = discover(config.inputs, recursive=config.recursive, listed=listed)
    inputs = [entry for entry in found.entries if isinstance(entry, Input)]
    bases = {} if config.to_stdout else output_bases(inputs, config.output_dir)
    jobs = [
        _job(entry, bases.get(entry), config) if isinstance(entry, Input) else Job(Outcome(entry.name), problem=entry.cause)
        for entry in found.entries
    ]
    _remove_stale_temp_files(jobs, reporter)
    if config.is_batch:
        key = settings_key(config)
        for job in jobs:
            if job.input is not None:
                _decide(job, key, config.overwrite)
    return jobs


def settings_key(config: RunConfig) -> dict[str, Any]:
    """What makes an output what it is: the model asked for, its compute type, every decoding and layout setting.

    The model is taken as asked for, not as resolved, so a finished batch is recognised without loading it;
    a size name counts as its hub repo (turbo = large-v3-turbo), a local folder as its resolved path.
    """
    from .models import MODEL_REPOS

    name = config.model.name
    if os.path.isdir(os.path.expanduser(name)):
        model = os.path.realpath(os.path.expanduser(name))
    else:
        model = MODEL_REPOS.get(name, name)
    return {
        "model": model,
        "compute_type": config.model.compute_type,
        "decode": config.decode.as_record(),
        "layout": asdict(config.layout),
        "pack": config.pack,
    }


def _read_files_from(list_source: str) -> list[str]:
    try:
        return read_list(list_source)
    except OSError as error:
        raise UsageError("--files-from", f"cannot read {list_source}: {error.strerror or error}") from None


def _job(item: Input, base: Optional[Path], config: RunConfig) -> Job:
    if base is None:  # streaming to stdout
        return Job(Outcome(item.name), item)
    outputs = {fmt.value: base.with_name(f"{base.name}.{make_writer(fmt, config.layout).extension}") for fmt in config.formats}
    return Job(Outcome(item.name, outputs=tuple(outputs.values())), item, outputs, base)


def _decode(job: Job, split_stereo: bool):
    assert job.input is not None
    return load_audio(job.input.source, split_stereo=split_stereo)


def _decide(job: Job, key: dict[str, Any], overwrite: bool) -> None:
    """Skip the job if its record says it is done (stdin is never in a batch, so every input is a path)."""
    assert job.input is not None and job.base is not None
    job.stamp = manifest.SourceStamp.of(job.input.source)
    if overwrite:
        job.outcome.reason = "--overwrite"
        return
    job.outcome.reason = manifest.why_not_done(job.base, job.outputs, key, job.stamp)
    if job.outcome.reason is None:
        job.outcome.status = Status.SKIPPED
        job.outcome.reason = "already done with the same model and settings"


def _remove_stale_temp_files(jobs: list[Job], reporter: Reporter) -> None:
    """Temp files of killed runs (dead writer pids) in the folders this run writes to.

    A killed file is not done, so it is in this run too, and its folder is searched; only those folders,
    not their sub-folders, so that `-o ~` or an input folder's whole tree is never walked.
    """
    removed = sum(remove_stale_temp_files(folder, recursive=False) for folder in _output_folders(jobs))
    if removed:
        reporter.info(f"removed {removed} temp file(s) left by an interrupted run")


def _output_folders(jobs: list[Job]) -> list[Path]:
    """The existing folders this run writes outputs and records to."""
    folders = {job.base.parent for job in jobs if job.base is not None}
    folders |= {folder / manifest.RECORD_FOLDER for folder in folders}
    return [folder for folder in folders if folder.is_dir()]


class _LazyModel:
    """Loads the model when the first input has decoded, so a run whose inputs are all done or all fail
    to decode (a re-run with a corrupt file still in the folder) never pays for it."""

    def __init__(self, config: RunConfig, reporter: Reporter, load_model: Optional[Callable], view):
        self._config, self._reporter, self._load_model, self._view = config, reporter, load_model, view
        self._whisper = None

    def get(self):
        if self._whisper is None:
            with self._view.paused():  # a download's progress bar must not fight ours
                self._whisper = _load_model(self._config, self._reporter, self._load_model)
        return self._whisper


def _load_model(config: RunConfig, reporter: Reporter, load_model: Optional[Callable]):
    if load_model is None:
        from .engine import get_whisper as load_model
    whisper = load_model(
        config.model.name,
        config.model.compute_type,
        config.model.device,
        config.model.cpu_threads,
        offline=config.model.offline,
        show_progress=not reporter.quiet and config.log_format == LogFormat.text,
    )
    if whisper.choice.fallback_reason:
        reporter.warn(whisper.choice.fallback_reason)
    if config.log_format == LogFormat.text:
        reporter.info(f"model {whisper.resolved.name} on {whisper.choice.description}")
    if config.decode.diarize:
        from .diarize import DiarizingWhisper

        whisper = DiarizingWhisper(whisper)  # one diarizer for the run, loaded with the first file
    return whisper


def _transcribe_job(
    model: _LazyModel, job: Job, prefetcher: Prefetcher, config: RunConfig, view,
    *, loaded: Optional[Loaded] = None, turn: Optional[float] = None,
) -> None:
    """Transcribe one input and fill in its outcome; a bad input becomes a failed outcome.

    `loaded` is its decoded audio when the caller has already taken it from the prefetcher (at `turn`)."""
    outcome = job.outcome
    turn = time.monotonic() if turn is None else turn
    try:
        if loaded is None:
            loaded = prefetcher.take(job)
        outcome.wait_s = time.monotonic() - turn
        outcome.decode_s = loaded.decode_s
        if loaded.error is not None:
            raise loaded.error
        whisper = model.get()
        if job.resumable:
            manifest.forget(job.base)
        working = time.monotonic()
        transcript = transcribe_one(whisper, loaded.audio, job.input.name, _open_outputs(job, config), config, view, outcome)
        if job.resumable:
            _write_record(job, config, whisper, transcript)
        outcome.transcribe_s = time.monotonic() - working
    except InputError as error:
        _fail(outcome, error)
        return
    finally:
        outcome.wall_s = time.monotonic() - turn
    _done(outcome, transcript)


def _write_record(job: Job, config: RunConfig, whisper, transcript: Transcript) -> None:
    manifest.write(job.base, job.outputs, settings_key(config), job.stamp, job.input.source, {
        "model_resolved": whisper.resolved.name,
        "device": whisper.choice.device,
        "language": transcript.info.language,
        "audio_s": round(transcript.info.duration, 3),
    })


def _fail(outcome: Outcome, error: InputError) -> None:
    outcome.status = Status.FAILED
    outcome.error = error.cause
    outcome.outputs = ()


def _done(outcome: Outcome, transcript: Transcript) -> None:
    outcome.status = Status.DONE  # the transcript itself is not kept: a long batch would hold them all
    outcome.language = transcript.info.language
    outcome.audio_s = transcript.info.duration


def transcribe_one(whisper, audio, name: str, outputs: list[tuple[Writer, Sink]], config: RunConfig, view, outcome: Outcome) -> Transcript:
    """Transcribe decoded audio into `outputs`; they appear only once complete, and never on failure."""
    try:
        stream = whisper(audio, config.decode, source=name)
        if config.decode.language is None:
            view.language(outcome, stream.info.language, stream.info.language_probability)
        view.transcribing(outcome, stream.info.duration)
        _report_notes(stream, view, outcome)
        _write_start(outputs, stream.info)
        segments = []
        for segment in stream.segments:
            segments.append(segment)
            view.advance(segment.end)
            _report_notes(stream, view, outcome)
            _write_segment(outputs, segment)
        _report_notes(stream, view, outcome)
        transcript = Transcript(stream.info, tuple(segments))
        _write_finish(outputs, transcript)
        return transcript
    except BaseException:
        _abort(outputs)
        raise


def write_transcript(transcript: Transcript, outputs: list[tuple[Writer, Sink]]) -> None:
    """Write a whole transcript into `outputs` and commit them; on any failure none of them appears."""
    try:
        _write_start(outputs, transcript.info)
        for segment in transcript.segments:
            _write_segment(outputs, segment)
        _write_finish(outputs, transcript)
    except BaseException:
        _abort(outputs)
        raise


def _write_start(outputs: list[tuple[Writer, Sink]], info) -> None:
    for writer, sink in outputs:
        sink.write(writer.start(info))


def _write_segment(outputs: list[tuple[Writer, Sink]], segment) -> None:
    for writer, sink in outputs:
        sink.write(writer.segment(segment))


def _write_finish(outputs: list[tuple[Writer, Sink]], transcript: Transcript) -> None:
    """Each writer's ending, then every output renamed into place."""
    for writer, sink in outputs:
        sink.write(writer.finish(transcript))
    for _, sink in outputs:
        sink.commit()


def _abort(outputs: list[tuple[Writer, Sink]]) -> None:
    for _, sink in outputs:
        sink.abort()


def _report_notes(stream, view, outcome: Outcome) -> None:
    """The engine never prints: what it noticed while decoding is told here, as it happens."""
    take_notes = getattr(stream, "take_notes", None)
    for note in take_notes() if take_notes else ():
        _note(outcome, note, view)


def _note(outcome: Outcome, note: str, view) -> None:
    outcome.notes.append(note)
    view.note(outcome, note)


def _open_outputs(job: Job, config: RunConfig) -> list[tuple[Writer, Sink]]:
    if not job.outputs:
        return [(make_writer(config.formats[0], config.layout), StreamSink())]
    outputs: list[tuple[Writer, Sink]] = []
    try:
        for fmt, path in job.outputs.items():
            outputs.append((make_writer(fmt, config.layout), AtomicFileSink(path)))
    except BaseException:
        for _, sink in outputs:
            sink.abort()
        raise
    return outputs

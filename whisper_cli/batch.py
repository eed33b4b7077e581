"""Inputs -> transcripts: one model load for all inputs, an outcome per file, going on past a bad file.

run() plans first (find the files, name their outputs, remove temp files of killed runs, skip what a
record says is done), then loads the model once, if anything is left to do, and transcribes the rest in
order while the next file is decoded in the background. An input's outputs and record appear all together,
whole, or not at all (commit.py); what is done and where outputs go is decided in plan.py. Each input is claimed before it is
transcribed, so runs sharing an output folder split the work (claims.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from . import claims, commit, manifest
from .audio import SAMPLE_RATE, STDIN_NAME, load_audio
from .audio_raw import RawFormat
from .console import Reporter
from .errors import ExitCode, InputError, UsageError
from .inputs import is_single_file
from .lazy_model import LazyModel
from .options import DecodeOptions
from .output import remove_own_temp_files
from .engine.packed import MAX_PACKED_CLIP_S, packable, transcribe_packed
from .plan import Job, Outcome, Status, check_folders_inside, fail, output_folders, plan, settings_key
from .prefetch import Loaded, Prefetcher
from .progress import LogFormat, make_view
from .transcript import Transcript
from .writers import OutputFormat, SubtitleLayout

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
    raw: Optional[RawFormat] = None  # headerless PCM input (--input-format); None: containers say what they hold

    @property
    def is_batch(self) -> bool:
        """Anything but one file argument: folders, patterns, a list or several files. Only a batch resumes
        (skips what a record says is done) and ends with a summary; one file is transcribed every time."""
        return not is_single_file(self.inputs, self.files_from)

    @property
    def to_stdout(self) -> bool:
        return not self.is_batch and self.output_dir is None


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
    decode = partial(_decode, split_stereo=config.decode.split_stereo, raw=config.raw, reporter=reporter)
    prefetcher = Prefetcher(todo, decode, depth=config.prefetch)
    current: Optional[Outcome] = None
    began = False
    model = LazyModel(config, reporter, load_model, view)
    group = _PackGroup() if _packing(config, len(todo)) else None
    key = settings_key(config)
    deferred: list[tuple[int, Job]] = []  # inputs another run was transcribing when their turn came
    try:
        view.begin(len(jobs), sum(1 for job in jobs if job.outcome.status != Status.SKIPPED), sum(job.outcome.size or 0 for job in todo))
        began = True
        for index, job in enumerate(jobs, start=1):
            outcome = job.outcome
            if job.problem is not None:
                outcome.status, outcome.error = Status.FAILED, job.problem
                view.finished(outcome)
            elif outcome.status == Status.SKIPPED:
                view.skipped(outcome)
            elif outcome.status == Status.FAILED:  # a file not ours in the way (plan.py)
                view.finished(outcome)
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
        for folder in output_folders(jobs):
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
    if config.output_dir is not None:
        check_folders_inside(job, config.output_dir)  # again: a link may have been made since the plan
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

    def flush(self, model: LazyModel, config: RunConfig, view) -> None:
        """Transcribe the waiting clips together and write each one's outputs and record; a failure stays per file."""
        if not self._waiting:
            return
        waiting = self._waiting
        whisper = model.get()
        working = time.monotonic()
        try:
            clips = [(job.input.name, loaded.audio) for job, loaded, _ in waiting]
            results = transcribe_packed(whisper, clips, config.decode, batch_size=config.pack_batch)
        except InputError as error:
            for job, _, turn in waiting:
                fail(job.outcome, error)
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
                commit.write_transcript(clip.transcript, commit.open_outputs(job, config), job, config, whisper)
                view.advance(info.duration)
            except InputError as error:
                fail(outcome, error)
            else:
                _done(outcome, clip.transcript)
            job.claim.release()
            # Its share of the pack's time, by audio, so the clips' times add up to the pack's (not each the whole).
            outcome.transcribe_s = share_s * max(len(loaded.audio), 1) + time.monotonic() - writing
            outcome.wall_s = outcome.wait_s + outcome.transcribe_s
            view.finished(outcome)
        self._waiting, self._audio_s = [], 0.0


def _decode(job: Job, split_stereo: bool, raw: Optional[RawFormat] = None, reporter: Optional[Reporter] = None):
    assert job.input is not None
    if raw is None:
        return load_audio(job.input.source, split_stereo=split_stereo)
    # Only raw input reports on stderr what decoding dropped (a partial last frame); a container's
    # notes stay with the API, since a piped WAV's header announces a length it never has.
    warn = (lambda message: reporter.warn(f"{job.input.name}: {message}")) if reporter else None
    return load_audio(job.input.source, split_stereo=split_stereo, raw=raw, warn=warn)


def _transcribe_job(
    model: LazyModel, job: Job, prefetcher: Prefetcher, config: RunConfig, view,
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
        working = time.monotonic()
        transcript = transcribe_one(whisper, loaded.audio, job, config, view)
        outcome.transcribe_s = time.monotonic() - working
    except InputError as error:
        fail(outcome, error)
        return
    finally:
        outcome.wall_s = time.monotonic() - turn
    _done(outcome, transcript)


def _done(outcome: Outcome, transcript: Transcript) -> None:
    outcome.status = Status.DONE  # the transcript itself is not kept: a long batch would hold them all
    outcome.language = transcript.info.language
    outcome.audio_s = transcript.info.duration


def transcribe_one(whisper, audio, job: Job, config: RunConfig, view) -> Transcript:
    """Transcribe decoded audio into the job's outputs; they appear (with the record) only once all are complete,
    and never on failure (commit.py)."""
    outcome = job.outcome
    outputs = commit.open_outputs(job, config)
    try:
        stream = whisper(audio, config.decode, source=job.input.name)
        if config.decode.language is None:
            view.language(outcome, stream.info.language, stream.info.language_probability)
        view.transcribing(outcome, stream.info.duration)
        _report_notes(stream, view, outcome)
        commit.write_start(outputs, stream.info)
        segments = []
        for segment in stream.segments:
            segments.append(segment)
            view.advance(segment.end)
            _report_notes(stream, view, outcome)
            commit.write_segment(outputs, segment)
        _report_notes(stream, view, outcome)
        transcript = Transcript(stream.info, tuple(segments))
        commit.finish(outputs, transcript, job, config, whisper)
        return transcript
    except BaseException:
        commit.abort(outputs)
        raise


def _report_notes(stream, view, outcome: Outcome) -> None:
    """The engine never prints: what it noticed while decoding is told here, as it happens."""
    take_notes = getattr(stream, "take_notes", None)
    for note in take_notes() if take_notes else ():
        _note(outcome, note, view)


def _note(outcome: Outcome, note: str, view) -> None:
    outcome.notes.append(note)
    view.note(outcome, note)

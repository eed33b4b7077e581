"""One input's audio -> its outputs (and record): the one per-file path, callable in any process.

transcribe_file() serves a single file, each input of a batch, and (through transcribe_group) short
clips read together in shared windows: each ends in the same steps, that stream the transcript into temp
files and commit them with the record, or leave nothing (commit.py). Nothing here needs the run around
it: the model is passed in (or, for another process, named by ModelSettings: run_task), what happens
while it works goes to a FileEvents, and what became of the input comes back as a plain FileResult.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence

from . import commit
from .audio import load_audio
from .audio_raw import RawFormat
from .commit import Destination
from .errors import InputError
from .options import DecodeOptions
from .outcome import Status
from .run_config import ModelSettings
from .transcript import Transcript


@dataclass(frozen=True)
class FileResult:
    """What became of one input: plain data, so that it can come back from another process."""

    source: str  # the input's name as messages show it
    status: Status  # DONE or FAILED
    error: Optional[str] = None  # why it failed
    subject: Optional[str] = None  # the file the error is about, when it is not the input (an output in the way)
    language: Optional[str] = None
    audio_s: float = 0.0
    notes: tuple[str, ...] = ()  # what the engine noticed, in order
    warnings: tuple[str, ...] = ()  # what decoding the path dropped (raw input), when this path decoded it
    decode_s: float = 0.0
    wait_s: float = 0.0  # set by the executor: waiting for the decoded audio
    transcribe_s: float = 0.0  # the model's work and writing the outputs (a packed clip: its share by audio)
    wall_s: float = 0.0  # set by the executor: from the input's turn to its outputs being in place


class FileEvents(Protocol):
    """What a caller may show while one input is transcribed (the engine never prints)."""

    def language(self, language: Optional[str], probability: Optional[float]) -> None: ...
    def transcribing(self, duration_s: float) -> None: ...
    def advance(self, seconds: float) -> None: ...
    def note(self, message: str) -> None: ...


class NoEvents:
    def language(self, language: Optional[str], probability: Optional[float]) -> None:
        pass

    def transcribing(self, duration_s: float) -> None:
        pass

    def advance(self, seconds: float) -> None:
        pass

    def note(self, message: str) -> None:
        pass


NO_EVENTS = NoEvents()


@dataclass(frozen=True)
class FileTask:
    """One input as another process is given it: a path to read, never audio."""

    source: str  # the path to open
    name: str  # how messages name it
    destination: Destination
    decode: DecodeOptions
    raw: Optional[RawFormat] = None


@dataclass(frozen=True)
class Clip:
    """A decoded short clip of a packed group (transcribe_group)."""

    source: str
    audio: Any  # float32 samples, at most packing.MAX_PACKED_CLIP_S long
    destination: Destination
    events: FileEvents = field(default=NO_EVENTS)


def transcribe_file(
    whisper, audio, destination: Destination, decode: DecodeOptions, *, source: str,
    events: FileEvents = NO_EVENTS, raw: Optional[RawFormat] = None,
) -> FileResult:
    """Transcribe decoded samples (or a path, decoded here) into `destination`; a bad input is a failed result.

    Errors that are not the input's (an output that cannot be written, a model that cannot honour the
    options) are raised, as a run stops on them."""
    notes: list[str] = []
    decode_s, warnings = 0.0, []
    try:
        if isinstance(audio, (str, os.PathLike)):
            started = time.perf_counter()
            audio = decode_input(audio, decode.split_stereo, raw, warnings.append)
            decode_s = time.perf_counter() - started
        working = time.monotonic()
        transcript = _write(whisper, lambda: whisper(audio, decode, source=source), destination, decode, events, notes)
    except InputError as error:
        return replace(failed(source, error), notes=tuple(notes), warnings=tuple(warnings), decode_s=decode_s)
    return replace(
        _done(source, transcript, notes), warnings=tuple(warnings), decode_s=decode_s, transcribe_s=time.monotonic() - working
    )


def transcribe_group(whisper, clips: Sequence[Clip], decode: DecodeOptions, *, batch_size: Optional[int] = None) -> Iterator[FileResult]:
    """Read short clips together in shared windows (packing.py), then write each as transcribe_file does.

    Yields each clip's result, in order, once its outputs are in place. If the group cannot be read at all,
    every clip fails with that cause, and its transcribe_s is 0."""
    from .engine.packed import transcribe_packed

    working = time.monotonic()
    try:
        packed = transcribe_packed(whisper, [(clip.source, clip.audio) for clip in clips], decode, batch_size=batch_size)
    except InputError as error:
        for clip in clips:
            yield failed(clip.source, error)
        return
    share_s = (time.monotonic() - working) / sum(max(len(clip.audio), 1) for clip in clips)
    for clip, read in zip(clips, packed):
        writing, notes = time.monotonic(), []
        try:
            transcript = _write(whisper, lambda: _Finished(read.transcript, read.notes), clip.destination, decode, clip.events, notes)
        except InputError as error:
            result = replace(failed(clip.source, error), notes=tuple(notes))
        else:
            result = _done(clip.source, transcript, notes)
        # Its share of the pack's time, by audio, so the clips' times add up to the pack's (not each the whole).
        yield replace(result, transcribe_s=share_s * max(len(clip.audio), 1) + time.monotonic() - writing)


def run_task(whisper, task: FileTask, events: FileEvents = NO_EVENTS) -> FileResult:
    """One FileTask with a loaded model: what a worker process does with each input it is sent."""
    return transcribe_file(whisper, task.source, task.destination, task.decode, source=task.name, events=events, raw=task.raw)


def transcribe_in_new_process(settings: ModelSettings, task: FileTask) -> FileResult:
    """Load the model named by `settings`, then run_task: every argument is plain data, so multiprocessing's spawn
    (or a cluster worker) can call it with nothing of the run that made the task."""
    from .lazy_model import open_model

    return run_task(open_model(settings, diarize=task.decode.diarize), task)


def decode_input(source, split_stereo: bool, raw: Optional[RawFormat] = None, warn: Optional[Callable[[str], None]] = None):
    """Decode an input's samples; only raw input tells `warn` what decoding dropped (a partial last frame)."""
    if raw is None:
        # A container's notes stay with the API, since a piped WAV's header announces a length it never has.
        return load_audio(source, split_stereo=split_stereo)
    return load_audio(source, split_stereo=split_stereo, raw=raw, warn=warn)


def failed(source: str, error: InputError) -> FileResult:
    subject = error.subject if error.subject != source else None
    return FileResult(source, Status.FAILED, error=error.cause, subject=subject)


def _done(source: str, transcript: Transcript, notes: list[str]) -> FileResult:
    # The transcript itself is not kept: a long batch would hold them all.
    info = transcript.info
    return FileResult(source, Status.DONE, language=info.language, audio_s=info.duration, notes=tuple(notes))


@dataclass
class _Finished:
    """A transcript already read (a packed clip), shaped as the engine's TranscriptStream."""

    transcript: Transcript
    notes: tuple[str, ...]

    @property
    def info(self):
        return self.transcript.info

    @property
    def segments(self):
        return iter(self.transcript.segments)

    def take_notes(self) -> list[str]:
        taken, self.notes = list(self.notes), ()
        return taken


def _write(whisper, start: Callable[[], Any], destination: Destination, decode: DecodeOptions, events: FileEvents, notes: list[str]) -> Transcript:
    """The one write path: outputs opened, the stream started, each segment written as it comes, then the
    outputs committed with the record (commit.py); on any failure none of them appears."""
    outputs = commit.open_outputs(destination)
    try:
        stream = start()
        if decode.language is None:
            events.language(stream.info.language, stream.info.language_probability)
        events.transcribing(stream.info.duration)
        _report_notes(stream, events, notes)
        commit.write_start(outputs, stream.info)
        segments = []
        for segment in stream.segments:
            segments.append(segment)
            events.advance(segment.end)
            _report_notes(stream, events, notes)
            commit.write_segment(outputs, segment)
        _report_notes(stream, events, notes)
        transcript = Transcript(stream.info, tuple(segments))
        commit.finish(outputs, transcript, destination, whisper)
        return transcript
    except BaseException:
        commit.abort(outputs)
        raise


def _report_notes(stream, events: FileEvents, notes: list[str]) -> None:
    """What the engine noticed while decoding is told as it happens."""
    take_notes = getattr(stream, "take_notes", None)
    for note in take_notes() if take_notes else ():
        notes.append(note)
        events.note(note)

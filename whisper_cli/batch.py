"""Inputs -> transcripts: one model load for all inputs, an outcome per file, going on past a bad file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .audio import STDIN_NAME, display_name, load_audio
from .console import FileProgress, Reporter
from .errors import ExitCode, InputError, UsageError
from .options import DecodeOptions
from .output import AtomicFileSink, Sink, StreamSink
from .transcript import Transcript
from .writers import OutputFormat, SubtitleLayout, Writer, make_writer


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


@dataclass
class Outcome:
    source: str
    error: Optional[str] = None
    transcript: Optional[Transcript] = None


@dataclass
class RunResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if any(o.error for o in self.outcomes) else ExitCode.OK


def validate(config: RunConfig) -> None:
    """Usage errors that can be seen before any model is loaded."""
    if not config.inputs:
        raise UsageError("inputs", "no input given (a file, a folder, or - for stdin)")
    to_stdout = config.output_dir is None and len(config.inputs) == 1
    if to_stdout and len(config.formats) > 1:
        raise UsageError("--format", "several formats need --output-dir (stdout takes one)")
    if STDIN_NAME in config.inputs and len(config.inputs) > 1:
        raise UsageError("-", "stdin can only be transcribed on its own")


def run(config: RunConfig, reporter: Reporter, load_model: Optional[Callable] = None) -> RunResult:
    validate(config)
    if load_model is None:
        from .engine import get_whisper as load_model
    whisper = load_model(
        config.model.name,
        config.model.compute_type,
        config.model.device,
        config.model.cpu_threads,
        offline=config.model.offline,
        show_progress=not reporter.quiet,
    )
    if whisper.choice.fallback_reason:
        reporter.warn(whisper.choice.fallback_reason)
    reporter.info(f"model {whisper.resolved.name} on {whisper.choice.description}")

    result = RunResult()
    for source in config.inputs:
        outcome = Outcome(display_name(source))
        try:
            outcome.transcript = transcribe_one(whisper, source, config, reporter)
        except InputError as error:
            outcome.error = error.cause
            reporter.error(str(error))
        result.outcomes.append(outcome)
    return result


def transcribe_one(whisper, source: str, config: RunConfig, reporter: Reporter) -> Transcript:
    """Decode, transcribe and write one input; outputs appear only once complete."""
    name = display_name(source)
    audio = load_audio(source, split_stereo=config.decode.split_stereo)
    stream = whisper(audio, config.decode, source=name)
    if config.decode.language is None:
        info = stream.info
        reporter.info(f"{name}: language {info.language} ({info.language_probability:.0%})")
    outputs = _open_outputs(source, config)
    progress = FileProgress(reporter, name, stream.info.duration)
    try:
        for writer, sink in outputs:
            sink.write(writer.start(stream.info))
        segments = []
        for segment in stream.segments:
            segments.append(segment)
            progress.advance_to(segment.end)
            for writer, sink in outputs:
                sink.write(writer.segment(segment))
        transcript = Transcript(stream.info, tuple(segments))
        for writer, sink in outputs:
            sink.write(writer.finish(transcript))
        for _, sink in outputs:
            sink.commit()
        return transcript
    except BaseException:
        for _, sink in outputs:
            sink.abort()
        raise
    finally:
        progress.close()


def _open_outputs(source: str, config: RunConfig) -> list[tuple[Writer, Sink]]:
    if config.output_dir is None and len(config.inputs) == 1:
        return [(make_writer(config.formats[0], config.layout), StreamSink())]
    stem = "stdin" if source == STDIN_NAME else Path(source).stem
    directory = config.output_dir if config.output_dir is not None else Path(source).parent
    outputs: list[tuple[Writer, Sink]] = []
    try:
        for fmt in config.formats:
            writer = make_writer(fmt, config.layout)
            outputs.append((writer, AtomicFileSink(directory / f"{stem}.{writer.extension}")))
    except BaseException:
        for _, sink in outputs:
            sink.abort()
        raise
    return outputs

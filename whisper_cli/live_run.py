"""`transcribe --live [SOURCE]`: a never-ending pipe in, final segments out on stdout as they are heard.

A background thread decodes the pipe as its bytes arrive (audio_stream.decode_chunks) and queues the
blocks, so the writer of the pipe is never held up by the model; the main thread takes a step of audio
at a time, runs live.LiveTranscriber on it and writes what became final, flushed at once. EOF flushes the
last utterance; Ctrl-C and SIGTERM (a KeyboardInterrupt from cli._run) write what is committed first.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .audio import SAMPLE_RATE, STDIN_NAME, display_name
from .audio_raw import RawFormat
from .audio_stream import PipeReader, decode_chunks
from .console import Reporter
from .errors import ExitCode, InputError, UsageError
from .live import LiveSettings, LiveTranscriber, LiveUpdate
from .live_decoder import EngineDecoder
from .live_output import LiveOutput, check_live_outputs, live_output_paths
from .options import DecodeOptions
from .transcript import Segment, TranscriptInfo
from .writers import OutputFormat, SubtitleLayout

LAG_WARNING_S = 5.0  # audio waiting this long behind the decoder is worth saying, once
MAX_LAG_S = 60.0  # beyond this much waiting audio, the oldest is dropped (and said so): memory stays flat
IDLE_FINAL_S = 2.0  # a pipe with no bytes this long ends the utterance, as a pause would


@dataclass(frozen=True)
class LiveConfig:
    source: str = STDIN_NAME
    formats: tuple[OutputFormat, ...] = (OutputFormat.TXT,)
    decode: DecodeOptions = DecodeOptions()
    layout: SubtitleLayout = SubtitleLayout()
    raw: Optional[RawFormat] = None
    partials: bool = False
    settings: LiveSettings = LiveSettings()
    output_dir: Optional[Path] = None  # None: stdout
    overwrite: bool = False  # with output_dir: replace files already there


def check_live_usage(config: LiveConfig, inputs: tuple[str, ...]) -> None:
    """What --live cannot do, said before any model is loaded."""
    if len(inputs) > 1:
        raise UsageError("--live", "reads one stream (- or a FIFO)")
    if len(config.formats) > 1 and config.output_dir is None:
        raise UsageError("--format", "--live writes one format to stdout (several need -o DIR)")
    if config.partials and OutputFormat.JSONL not in config.formats:
        raise UsageError("--partials", "needs -f jsonl (provisional lines are JSON objects with \"final\": false)")
    if config.decode.split_stereo or config.decode.batch_size or config.decode.clip_timestamps:
        raise UsageError("--live", "cannot be combined with --split-stereo, --batch-size or --clip-timestamps")
    if config.decode.diarize:
        raise UsageError("--diarize", "needs the whole recording to find its speakers; --live has no end to wait for")


def live_settings(decode: DecodeOptions) -> LiveSettings:
    settings = dataclasses.replace(LiveSettings(), vad_threshold=decode.vad_parameters.threshold)
    if decode.multilingual:
        # Each utterance decoded without the one before: that may be in another language, and detection would hear it.
        settings = dataclasses.replace(settings, context_gap_s=0.0)
    return settings


def run_live(config: LiveConfig, whisper_factory: Callable[[], object], reporter: Reporter) -> ExitCode:
    name = display_name(config.source)
    feed = _Feed(_open_source(config.source), config.raw, lambda message: reporter.warn(f"{name}: {message}"))
    whisper = whisper_factory()  # the pipe is read meanwhile, so nothing is lost while the model loads
    decoder = EngineDecoder(whisper, config.decode)
    transcriber = LiveTranscriber(
        decoder, config.settings, word_timestamps=config.decode.word_timestamps, on_utterance_end=decoder.utterance_ended,
        decode_provisional=decoder.provisional,
    )
    info = TranscriptInfo(source=name, duration=0.0, language=config.decode.language)
    out = _open_output(config, info, reporter)
    lag_told = False
    try:
        out.start()
        quiet = False  # the pipe went quiet and what was heard is already final
        while True:
            blocks, dropped_s, ended = feed.take(config.settings.step_s, float("inf") if quiet else IDLE_FINAL_S)
            if not blocks and not ended and not dropped_s:
                # No bytes for a while (a paused producer, `cat clip; sleep`): the utterance is over.
                out.update(transcriber.finish())
                quiet = True
                continue
            quiet = False
            early = LiveUpdate()
            if dropped_s:
                early.dropped.append((transcriber.received_s, transcriber.received_s + dropped_s))
                early.finals = transcriber.skip_audio(dropped_s)
            for block in blocks:
                transcriber.insert_audio_chunk(block)
            # All that was taken beyond one step waited while the last pass ran: that is the lag.
            lag_s = sum(len(block) for block in blocks) / SAMPLE_RATE - config.settings.step_s
            if lag_s > LAG_WARNING_S and not lag_told:
                lag_told = True
                reporter.warn(f"{name}: decoding is {lag_s:.1f} s behind the stream; passes take more audio at once and commit sooner")
            update = transcriber.finish() if ended else transcriber.process_iter(lag_s)
            update.finals[:0], update.dropped[:0] = early.finals, early.dropped
            for start_s, end_s in update.dropped:
                reporter.warn(f"{name}: dropped {start_s:.1f}-{end_s:.1f} s of audio undecoded (decoding fell too far behind)")
            for note in decoder.take_notes():
                reporter.warn(f"{name}: {note}")
            out.update(update)
            if ended:
                break
    except KeyboardInterrupt:
        out.update(LiveUpdate(finals=transcriber.flush_committed()))
        out.finish(transcriber.received_s, decoder.language)
        raise
    except BaseException:
        out.abort()  # the files keep what was written: whole lines and cues
        raise
    out.finish(transcriber.received_s, decoder.language)
    return ExitCode.OK


def _open_output(config: LiveConfig, info: TranscriptInfo, reporter: Reporter) -> LiveOutput:
    if config.output_dir is None:
        return LiveOutput.open(config.formats, config.layout, config.partials, info, reporter)
    paths = live_output_paths(config.source, config.output_dir, config.formats, config.layout)
    return LiveOutput.open(
        config.formats, config.layout, config.partials, info, reporter, paths, config.output_dir, config.overwrite
    )


def _open_source(source: str) -> PipeReader:
    name = display_name(source)
    if source == STDIN_NAME:
        if sys.stdin is None:
            raise InputError(name, "stdin is closed")
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            raise InputError(name, "stdin is closed") from None
        if os.isatty(fd):
            raise InputError(name, "stdin is a terminal; pipe audio in, e.g. `arecord -f S16_LE -r 16000 -t raw | transcribe --live - --input-format s16le`")
        return PipeReader(fd, name)
    try:
        mode = os.stat(source).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(name, "is a directory")
        fd = os.open(source, os.O_RDONLY)  # a FIFO blocks here until its writer opens it
    except FileNotFoundError:
        raise InputError(name, "no such file") from None
    except OSError as error:
        raise InputError(name, error.strerror or str(error)) from None
    return PipeReader(fd, name)


class _Feed:
    """Decodes the source on a daemon thread; take() hands the main thread what has arrived."""

    def __init__(self, reader: PipeReader, raw: Optional[RawFormat], warn: Callable[[str], None]):
        self._queue: "queue.Queue" = queue.Queue()
        # A daemon: a read blocked on a quiet pipe must not keep the process alive after Ctrl-C; it holds
        # no io lock (audio_stream reads the descriptor itself), so exiting past it is safe.
        self._thread = threading.Thread(target=self._work, args=(reader, raw, warn), name="whisper-cli-live-feed", daemon=True)
        self._thread.start()

    def _work(self, reader: PipeReader, raw: Optional[RawFormat], warn) -> None:
        try:
            for block in decode_chunks(reader, raw, warn):
                self._queue.put(block)
        except BaseException as error:  # raised again in the main thread by take()
            self._queue.put(error)
            return
        self._queue.put(None)

    def take(self, step_s: float, idle_s: float = float("inf")) -> tuple[list[np.ndarray], float, bool]:
        """Blocks until step_s of new audio (or the end) has arrived, then takes all that has; returns early
        with nothing if no audio comes for idle_s.

        Returns (blocks, seconds dropped before them, ended): beyond MAX_LAG_S the oldest audio is dropped."""
        blocks: list[np.ndarray] = []
        have, ended = 0, False
        last_arrival = time.monotonic()
        while not ended and (have < step_s * SAMPLE_RATE or not self._queue.empty()):
            try:
                item = self._queue.get(timeout=0.5)  # a timeout keeps Ctrl-C responsive
            except queue.Empty:
                if time.monotonic() - last_arrival >= idle_s:
                    break  # what has come is all there is for now
                continue
            if item is None:
                ended = True
            elif isinstance(item, BaseException):
                raise item
            else:
                blocks.append(item)
                have += len(item)
                last_arrival = time.monotonic()
        excess = have - int(MAX_LAG_S * SAMPLE_RATE)
        if excess <= 0:
            return blocks, 0.0, ended
        return [np.concatenate(blocks)[excess:]], excess / SAMPLE_RATE, ended


def live_command(
    inputs: tuple[str, ...], formats: tuple[OutputFormat, ...], output_dir: Optional[Path], decode: DecodeOptions,
    layout: SubtitleLayout, raw: Optional[RawFormat], partials: bool, model, reporter: Reporter, overwrite: bool = False,
) -> ExitCode:
    """The --live branch of the transcribe command: check, load the model once, run."""
    from .run_config import RunConfig
    from .lazy_model import load_whisper

    config = LiveConfig(
        inputs[0] if inputs else STDIN_NAME, formats, decode, layout, raw, partials, live_settings(decode), output_dir, overwrite
    )
    check_live_usage(config, inputs)
    if output_dir is not None:
        check_live_outputs(live_output_paths(config.source, output_dir, formats, layout), output_dir, overwrite)
    run_config = RunConfig(inputs=(config.source,), formats=formats, decode=decode, layout=layout, model=model)
    return run_live(config, lambda: load_whisper(run_config, reporter), reporter)

"""get_whisper(): the only caller of faster-whisper. Yields our Segments and never prints."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

import numpy as np

from .audio import SAMPLE_RATE, load_audio
from .device import DeviceChoice, probe, usable_cpu_cores
from .errors import ModelError
from .models import ResolvedModel, resolve_model
from .options import DecodeOptions
from .quality import checked
from .stereo import CHANNEL_NAMES, LEFT, RIGHT, merge_channels, same_channels
from .transcript import Segment, TranscriptInfo, Word

Audio = Union[np.ndarray, tuple[np.ndarray, np.ndarray], str, os.PathLike]


@dataclass
class TranscriptStream:
    """Language and duration are known at once; segments arrive lazily as they are decoded.

    `notes` gathers, as segments are decoded, what the user should be told (a collapsed repetition
    loop, channels in different languages); the engine never prints, so the caller reports them.
    """

    info: TranscriptInfo
    segments: Iterator[Segment]
    notes: list[str] = field(default_factory=list)

    def take_notes(self) -> list[str]:
        """The notes added since the last call; call it while or after iterating the segments."""
        taken = self.notes[:]
        del self.notes[:]  # in place: the segment generator appends to this very list
        return taken


class Whisper:
    """A loaded model: call it with audio to get a TranscriptStream."""

    def __init__(self, model, resolved: ResolvedModel, choice: DeviceChoice, cpu_threads: int):
        self._model = model
        self.resolved = resolved
        self.choice = choice
        self.cpu_threads = cpu_threads

    @property
    def is_multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def __call__(
        self,
        audio: Audio,
        options: DecodeOptions = DecodeOptions(),
        *,
        source: Optional[str] = None,
    ) -> TranscriptStream:
        """Transcribe a path, 16 kHz float32 samples, or a (left, right) pair of them (--split-stereo).

        Raises UsageError for options this model cannot honour (a language on an English-only model).
        """
        options.validate()
        options.check_model(self.resolved.name, self.is_multilingual)
        if isinstance(audio, (str, os.PathLike)):
            source = source or str(audio)
            audio = load_audio(audio, split_stereo=options.split_stereo)
        notes: list[str] = []
        if isinstance(audio, tuple):
            segments, raw_info = self._stereo(audio, options, notes)
        elif options.split_stereo:
            raise ValueError("split_stereo needs (left, right) samples, as load_audio(..., split_stereo=True) gives")
        else:
            raw_segments, raw_info = self._transcribe(audio, options)
            segments = checked(_convert_segments(raw_segments), notes.append)
        info = TranscriptInfo(
            source=source or "<audio>",
            duration=float(raw_info.duration),
            language=raw_info.language,
            language_probability=float(raw_info.language_probability),
            model=self.resolved.name,
            device=self.choice.device,
            compute_type=self.choice.compute_type,
            settings=options.as_record(),
        )
        return TranscriptStream(info, segments, notes)

    def transcribe_span(
        self, samples: np.ndarray, options: DecodeOptions, *, offset_s: float = 0.0, prompt: Optional[str] = None
    ) -> TranscriptStream:
        """Samples that begin `offset_s` into a longer stream (live mode), primed with `prompt`, the text
        heard before them: segments and words timed from the stream's start."""
        if prompt:
            options = dataclasses.replace(options, initial_prompt=prompt)
        stream = self(samples, options)
        stream.segments = (_shifted(segment, offset_s) for segment in stream.segments)
        return stream

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions):
        """faster-whisper's lazy (segments, info) for one channel."""
        if options.batch_size:
            from faster_whisper import BatchedInferencePipeline

            # One pipeline per call: it keeps word-timing state between batches, which two channels
            # decoded in turn must not share.
            engine = BatchedInferencePipeline(self._model)
        else:
            engine = self._model
        guess = self._detect_language_cheaply(samples, options)
        if guess is not None:
            options = dataclasses.replace(options, language=guess.language)
        raw_segments, raw_info = engine.transcribe(samples, **options.engine_kwargs(duration=len(samples) / SAMPLE_RATE))
        if guess is not None:
            raw_info = dataclasses.replace(
                raw_info, language_probability=guess.probability, all_language_probs=guess.all_probs
            )
        return raw_segments, raw_info

    def _detect_language_cheaply(self, samples: np.ndarray, options: DecodeOptions):
        """Detect on the clip's own frames instead of letting faster-whisper do it.

        faster-whisper encodes a padded 30 s window to detect the language and then encodes it again
        to transcribe; on an 11 s clip that is 40% of the time. Only taken where faster-whisper would
        detect on the start of the plain audio (no VAD, no clips, sequential).
        """
        if options.language is not None or not self.is_multilingual:
            return None
        if options.vad_filter or options.batch_size or options.clip_timestamps:
            return None
        from .language import detect_language

        return detect_language(
            self._model,
            samples,
            threshold=options.language_detection_threshold,
            segments=options.language_detection_segments,
        )

    @property
    def model(self):
        """The underlying faster_whisper.WhisperModel."""
        return self._model

    def _stereo(self, channels, options: DecodeOptions, notes: list[str]):
        """Each channel transcribed on its own and merged by time; the more confident language reported."""
        left, right = channels
        if same_channels(left, right):
            notes.append("--split-stereo: both channels hold the same audio (a mono recording?), so it is transcribed twice")
        (left_raw, left_info), (right_raw, right_info) = self._transcribe(left, options), self._transcribe(right, options)
        labelled = {LEFT: left_info, RIGHT: right_info}
        if options.language is None and left_info.language != right_info.language:
            notes.append(
                "channels differ in language: "
                + ", ".join(
                    f"{CHANNEL_NAMES[label]} {info.language} ({info.language_probability:.0%})"
                    for label, info in labelled.items()
                )
            )
        segments = merge_channels(
            checked(_convert_segments(left_raw), notes.append, LEFT),
            checked(_convert_segments(right_raw), notes.append, RIGHT),
        )
        return segments, max((left_info, right_info), key=lambda info: info.language_probability)


def get_whisper(
    model_size: str = "base",
    compute_type: str = "auto",
    device: str = "auto",
    cpu_threads: int = 0,
    *,
    offline: Optional[bool] = None,
    show_progress: bool = True,
) -> Whisper:
    """Resolve and load a model once; cpu_threads 0 means every usable core."""
    resolved = resolve_model(model_size, offline=offline, show_progress=show_progress)
    choice = probe(device, compute_type, check_model=resolved.path)
    threads = cpu_threads or usable_cpu_cores()
    from faster_whisper import WhisperModel

    try:
        model = WhisperModel(
            str(resolved.path),
            device=choice.device,
            compute_type=choice.compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception for a broken tokenizer.json
        raise ModelError(resolved.name, f"cannot load model from {resolved.path}: {error}") from None
    from .features import WindowedFeatureExtractor

    # Same features, same settings; only computed window by window (see features.py).
    model.feature_extractor.__class__ = WindowedFeatureExtractor
    return Whisper(model, resolved, choice, threads)


def _shifted(segment: Segment, offset_s: float) -> Segment:
    words = tuple(dataclasses.replace(w, start=w.start + offset_s, end=w.end + offset_s) for w in segment.words)
    return dataclasses.replace(segment, start=segment.start + offset_s, end=segment.end + offset_s, words=words)


def _convert_segments(raw_segments) -> Iterator[Segment]:
    for raw in raw_segments:
        words = tuple(
            Word(start=w.start, end=w.end, text=w.word, probability=w.probability) for w in raw.words or ()
        )
        yield Segment(
            id=raw.id,
            start=raw.start,
            end=raw.end,
            text=raw.text,
            words=words,
            avg_logprob=raw.avg_logprob,
            no_speech_prob=raw.no_speech_prob,
            compression_ratio=raw.compression_ratio,
            temperature=raw.temperature,
        )


"""get_whisper(): the only caller of faster-whisper. Yields our Segments and never prints."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

# Until engine.py moves into the engine/ package (issue 12, "engine" helper): let engine/*.py import as its submodules.
__path__ = [os.path.join(os.path.dirname(__file__), "engine")]

from .audio import SAMPLE_RATE, load_audio
from .engine.device import DeviceChoice, probe, usable_cpu_cores
from .errors import ModelError
from .languages import language_name
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
    It also unpacks as faster-whisper's transcribe() result does: `segments, info = whisper(audio)`.
    """

    info: TranscriptInfo
    segments: Iterator[Segment]
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.segments, self.info))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Any:
        return (self.segments, self.info)[index]

    def take_notes(self) -> list[str]:
        """The notes added since the last call; call it while or after iterating the segments."""
        taken = self.notes[:]
        del self.notes[:]  # in place: the segment generator appends to this very list
        return taken


class Whisper:
    """A loaded model: call it with audio to get a TranscriptStream, or unpack that into (segments, info)."""

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
        note_speech_without_text: bool = True,
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
            raw_segments, raw_info, prompts = self._transcribe(audio, options)
            segments = checked(_convert_segments(raw_segments, _window_language(prompts, options)), notes.append)
            if options.multilingual:
                segments = _language_changes(segments, raw_info.language, notes.append)
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
        stream = TranscriptStream(info, segments, notes)
        if note_speech_without_text and not isinstance(audio, tuple) and not options.multilingual and not options.clip_timestamps:
            stream.segments = self._watch_for_skipped_speech(stream, segments, audio, options)
        return stream

    def _watch_for_skipped_speech(self, stream: TranscriptStream, segments, samples: np.ndarray, options: DecodeOptions):
        """`segments`; after the last, a note for each stretch of speech that got no text, also recorded in
        stream.info.speech_without_text."""
        from .speech_gaps import hint, speech_without_text

        seen = []
        for segment in segments:
            seen.append(segment)
            yield segment
        found = speech_without_text(samples, seen)
        for stretch in found:
            stream.notes.append(hint(stretch, self.resolved.name, self.is_multilingual, options.language is not None))
        stream.info = dataclasses.replace(stream.info, speech_without_text=tuple(found))

    def transcribe_span(
        self, samples: np.ndarray, options: DecodeOptions, *, offset_s: float = 0.0, prompt: Optional[str] = None
    ) -> TranscriptStream:
        """Samples that begin `offset_s` into a longer stream (live mode), primed with `prompt`, the text
        heard before them: segments and words timed from the stream's start."""
        if prompt:
            options = dataclasses.replace(options, initial_prompt=prompt)
        stream = self(samples, options, note_speech_without_text=False)  # a live pass is one utterance
        stream.segments = (_shifted(segment, offset_s) for segment in stream.segments)
        return stream

    def _transcribe(self, samples: np.ndarray, options: DecodeOptions):
        """faster-whisper's lazy (segments, info) for one channel."""
        if options.batch_size:
            from faster_whisper import BatchedInferencePipeline

            # One pipeline per call: it keeps word-timing state between batches, which two channels
            # decoded in turn must not share.
            engine = BatchedInferencePipeline(self._model)
            prompts = None
        else:
            from .prompts import prompted_model

            engine, prompts = prompted_model(self._model, options)
        guess = self._detect_language_cheaply(samples, options)
        if guess is not None:
            options = dataclasses.replace(options, language=guess.language)
        raw_segments, raw_info = engine.transcribe(samples, **options.engine_kwargs(duration=len(samples) / SAMPLE_RATE))
        if guess is not None:
            raw_info = dataclasses.replace(
                raw_info, language_probability=guess.probability, all_language_probs=guess.all_probs
            )
        return raw_segments, raw_info, prompts

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
        (left_raw, left_info, left_prompts), (right_raw, right_info, right_prompts) = (
            self._transcribe(left, options), self._transcribe(right, options)
        )
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
            checked(_convert_segments(left_raw, _window_language(left_prompts, options)), notes.append, LEFT),
            checked(_convert_segments(right_raw, _window_language(right_prompts, options)), notes.append, RIGHT),
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
    num_workers: int = 1,
) -> Whisper:
    """Resolve and load a model once; cpu_threads 0 means every usable core.

    num_workers > 1 lets that many threads decode with the model at once, each on cpu_threads threads.
    """
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
            num_workers=num_workers,
            local_files_only=True,
        )
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception for a broken tokenizer.json
        raise ModelError(resolved.name, f"cannot load model from {resolved.path}: {error}") from None
    from .features import WindowedFeatureExtractor

    # Same features, same settings; only computed window by window (see features.py).
    model.feature_extractor.__class__ = WindowedFeatureExtractor
    return Whisper(model, resolved, choice, threads)


def _window_language(prompts, options: DecodeOptions) -> Callable[[], Optional[str]]:
    """The language of the window being decoded, where it is detected per window (--multilingual)."""
    if prompts is None or not options.multilingual:
        return lambda: None
    return lambda: prompts.language


def _language_changes(segments: Iterator[Segment], language: Optional[str], note: Callable[[str], None]) -> Iterator[Segment]:
    """The segments, with a note wherever the language differs from the one before."""
    for segment in segments:
        if segment.language is not None and segment.language != language:
            note(f"{segment.start:.1f} s: language changes from {language_name(language)} to {language_name(segment.language)}")
            language = segment.language
        yield segment


def _shifted(segment: Segment, offset_s: float) -> Segment:
    words = tuple(dataclasses.replace(w, start=w.start + offset_s, end=w.end + offset_s) for w in segment.words)
    return dataclasses.replace(segment, start=segment.start + offset_s, end=segment.end + offset_s, words=words)


def _convert_segments(raw_segments, window_language: Callable[[], Optional[str]] = lambda: None) -> Iterator[Segment]:
    """Our Segments, numbered from 0 as openai-whisper does (faster-whisper counts from 1)."""
    for number, raw in enumerate(raw_segments):
        words = tuple(
            Word(start=w.start, end=w.end, text=w.word, probability=w.probability) for w in raw.words or ()
        )
        yield Segment(
            id=number,
            start=raw.start,
            end=raw.end,
            text=raw.text,
            words=words,
            seek=int(raw.seek),
            tokens=tuple(int(token) for token in raw.tokens),
            avg_logprob=raw.avg_logprob,
            no_speech_prob=raw.no_speech_prob,
            compression_ratio=raw.compression_ratio,
            temperature=raw.temperature,
            language=window_language(),
        )


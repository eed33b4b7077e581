"""Samples (with a time offset and the text heard before them) -> lazy Segments; sequential or batched.

The engine never prints: what the user should be told is gathered in TranscriptStream.notes."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..languages import language_name
from ..options import DecodeOptions
from ..quality import checked
from ..stereo import CHANNEL_NAMES, LEFT, RIGHT, merge_channels, same_channels
from ..transcript import Segment, TranscriptInfo, Word
from . import speech_first

if TYPE_CHECKING:  # pragma: no cover
    from .model import Whisper

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


def transcript_info(
    whisper: "Whisper", source: str, duration: float, language: str, language_probability: float, options: DecodeOptions
) -> TranscriptInfo:
    """The one place a TranscriptInfo is made: what was heard, and by which model with which settings."""
    return TranscriptInfo(
        source=source,
        duration=float(duration),
        language=language,
        language_probability=float(language_probability),
        model=whisper.resolved.name,
        device=whisper.choice.device,
        compute_type=whisper.choice.compute_type,
        settings=options.as_record(),
    )


def transcribe(
    whisper: "Whisper",
    audio: Audio,
    options: DecodeOptions = DecodeOptions(),
    *,
    source: Optional[str] = None,
    offset_s: float = 0.0,
    prompt: Optional[str] = None,
    note_speech_without_text: bool = True,
) -> TranscriptStream:
    """Transcribe a path, 16 kHz float32 samples, or a (left, right) pair of them (split_stereo).

    Samples may be a piece of a longer stream: `offset_s` is where they begin in it (segments and words
    are timed from the stream's start, and info.duration is where the piece ends), and `prompt` the text
    heard before them (it takes the place of options.initial_prompt). Options are assumed valid
    (DecodeOptions.validate); raises UsageError for those this model cannot honour.
    """
    options.check_model(whisper.resolved.name, whisper.is_multilingual)
    if prompt:
        options = dataclasses.replace(options, initial_prompt=prompt)
    if isinstance(audio, (str, os.PathLike)):
        source = source or str(audio)
        audio = load_audio(audio, split_stereo=options.split_stereo)
    notes: list[str] = []
    if isinstance(audio, tuple):
        segments, raw_info = _stereo(whisper, audio, options, notes)
    elif options.split_stereo:
        raise ValueError("split_stereo needs (left, right) samples, as load_audio(..., split_stereo=True) gives")
    elif speech_first.applies(options, audio):
        raw_segments, raw_info = speech_first.transcribe_speech_first(whisper, audio, options, notes.append)
        segments = checked(raw_segments, notes.append)
    else:
        raw_segments, raw_info, prompts = _transcribe_channel(whisper, audio, options)
        segments = checked(_convert_segments(raw_segments, _window_language(prompts, options)), notes.append)
        if options.multilingual:
            segments = _language_changes(segments, raw_info.language, notes.append)
    info = transcript_info(
        whisper, source or "<audio>", offset_s + raw_info.duration, raw_info.language, raw_info.language_probability, options
    )
    stream = TranscriptStream(info, segments, notes)
    if note_speech_without_text and not isinstance(audio, tuple) and not options.multilingual and not options.clip_timestamps:
        stream.segments = _watch_for_skipped_speech(whisper, stream, segments, audio, options, offset_s)
    if offset_s:
        stream.segments = (_shifted(segment, offset_s) for segment in stream.segments)
    return stream


def _watch_for_skipped_speech(
    whisper: "Whisper", stream: TranscriptStream, segments, samples: np.ndarray, options: DecodeOptions, offset_s: float
):
    """`segments`; after the last, a note for each stretch of speech that got no text, also recorded in
    stream.info.speech_without_text."""
    from ..speech_gaps import hint, speech_without_text

    seen = []
    for segment in segments:
        seen.append(segment)
        yield segment
    found = [(start + offset_s, end + offset_s) for start, end in speech_without_text(samples, seen)]
    for stretch in found:
        stream.notes.append(hint(stretch, whisper.resolved.name, whisper.is_multilingual, options.language is not None))
    stream.info = dataclasses.replace(stream.info, speech_without_text=tuple(found))


def _transcribe_channel(whisper: "Whisper", samples: np.ndarray, options: DecodeOptions):
    """faster-whisper's lazy (segments, info) for one channel."""
    if options.batch_size:
        from faster_whisper import BatchedInferencePipeline

        # One pipeline per call: it keeps word-timing state between batches, which two channels
        # decoded in turn must not share.
        engine = BatchedInferencePipeline(whisper.model)
        prompts = None
    else:
        from ..prompts import prompted_model

        engine, prompts = prompted_model(whisper.model, options)
    guess = _detect_language_cheaply(whisper, samples, options)
    if guess is not None:
        options = dataclasses.replace(options, language=guess.language)
    raw_segments, raw_info = engine.transcribe(samples, **options.engine_kwargs(duration=len(samples) / SAMPLE_RATE))
    if guess is not None:
        raw_info = dataclasses.replace(raw_info, language_probability=guess.probability, all_language_probs=guess.all_probs)
    return raw_segments, raw_info, prompts


def _detect_language_cheaply(whisper: "Whisper", samples: np.ndarray, options: DecodeOptions):
    """Detect on the clip's own frames instead of letting faster-whisper do it.

    faster-whisper encodes a padded 30 s window to detect the language and then encodes it again
    to transcribe; on an 11 s clip that is 40% of the time. Only taken where faster-whisper would
    detect on the start of the plain audio (no VAD, no clips, sequential).
    """
    if options.language is not None or not whisper.is_multilingual:
        return None
    if options.vad_filter or options.batch_size or options.clip_timestamps:
        return None
    from .language import detect_language

    return detect_language(
        whisper.model, samples, threshold=options.language_detection_threshold, segments=options.language_detection_segments
    )


def _stereo(whisper: "Whisper", channels, options: DecodeOptions, notes: list[str]):
    """Each channel transcribed on its own and merged by time; the more confident language reported."""
    left, right = channels
    if same_channels(left, right):
        notes.append("--split-stereo: both channels hold the same audio (a mono recording?), so it is transcribed twice")
    (left_raw, left_info, left_prompts), (right_raw, right_info, right_prompts) = (
        _transcribe_channel(whisper, left, options), _transcribe_channel(whisper, right, options)
    )
    labelled = {LEFT: left_info, RIGHT: right_info}
    if options.language is None and left_info.language != right_info.language:
        notes.append(
            "channels differ in language: "
            + ", ".join(
                f"{CHANNEL_NAMES[label]} {info.language} ({info.language_probability:.0%})" for label, info in labelled.items()
            )
        )
    segments = merge_channels(
        checked(_convert_segments(left_raw, _window_language(left_prompts, options)), notes.append, LEFT),
        checked(_convert_segments(right_raw, _window_language(right_prompts, options)), notes.append, RIGHT),
    )
    return segments, max((left_info, right_info), key=lambda info: info.language_probability)


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


"""Short clips transcribed in shared windows: packing.py's layout, decoded by windows.py, the rest alone.

Layout -> decode the windows -> split each window's text back to its clips -> pack again the clips Whisper
skipped -> transcribe alone (the normal path) the clips a window could not vouch for. packing.py says what
each clip gets and why.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from ..audio import SAMPLE_RATE
from ..options import DecodeOptions
from ..packing import (
    END_MARGIN_S, GAP_S, MAX_PACKED_CLIP_S, ROUNDS, WINDOW_BATCH, Window, assign, even, pack, packable, read_window,
    settle, window_languages, window_mel,
)
from ..quality import checked
from ..transcript import Transcript
from .features import FRAMES_PER_SECOND, WINDOW_FRAMES, clip_features
from .language import ENGLISH_ONLY, LanguageGuess, detect_languages
from .speech_first import SPEECH_FIRST_SILENCE_MS
from .transcribe import transcript_info
from .vad import has_speech, speech_spans
from .windows import MelWindow, WindowDecoder

if TYPE_CHECKING:  # pragma: no cover
    from .model import Whisper

__all__ = ["END_MARGIN_S", "GAP_S", "MAX_PACKED_CLIP_S", "WINDOW_BATCH", "ClipResult", "packable", "transcribe_packed"]
_SKIPPED = "Whisper ended its window before it"


@dataclass(frozen=True)
class ClipResult:
    """One clip's transcript, and whether it came from a shared window or the normal path (and why)."""

    transcript: Transcript
    packed: bool
    reason: Optional[str] = None  # why it was transcribed alone; None when packed
    notes: tuple[str, ...] = ()  # what the quality checks noticed, as TranscriptStream.notes
    window: Optional[int] = None  # which shared window of the call it was read in (numbered from 0); None alone


def transcribe_packed(
    whisper: "Whisper",
    clips: Sequence[tuple[str, np.ndarray]],
    options: DecodeOptions = DecodeOptions(),
    *,
    batch_size: Optional[int] = None,
    gap_s: float = GAP_S,
) -> list[ClipResult]:
    """Transcripts for (name, 16 kHz samples) clips, in the order given; `batch_size` windows are decoded
    together (default: WINDOW_BATCH for the model's device).

    Raises UsageError as Whisper.__call__ does for options this model cannot honour.
    """
    options.check_model(whisper.resolved.name, whisper.is_multilingual)
    model = whisper.model
    batch_size = batch_size or WINDOW_BATCH.get(whisper.choice.device, 1)
    results: dict[int, ClipResult] = {}
    alone = _alone_from_the_start(clips, options)
    pending = [i for i in range(len(clips)) if i not in alone]

    features = {i: clip_features(model, clips[i][1]) for i in pending}
    guesses = _languages(model, clips, options, pending, features, batch_size)
    speech = _SpeechCache(clips)
    window_language = window_languages(pending, guesses, speech)
    gap_frames = even(round(gap_s * FRAMES_PER_SECOND))
    capacity = WINDOW_FRAMES - round(END_MARGIN_S * FRAMES_PER_SECOND)
    decoder = WindowDecoder(model, options)

    window_numbers = itertools.count()
    for attempt in range(1, ROUNDS + 1):
        windows: list[Window] = []
        for language in sorted({window_language[i] for i in pending}):
            members = [i for i in pending if window_language[i] == language]
            for window in pack(members, {i: features[i].shape[1] for i in members}, gap_frames, capacity):
                if len(window.placements) == 1:
                    alone[window.placements[0].clip] = "alone in its window" if attempt == 1 else _SKIPPED
                else:
                    windows.append(replace(window, language=language))
        retry: list[int] = []
        for window, outcome in zip(windows, _decode(decoder, windows, features, options, batch_size)):
            number = next(window_numbers)
            failed, skipped = settle(window, outcome, speech, speech.seconds_after)
            alone.update((clip, reason) for clip, reason in failed.items() if clip not in alone)
            if attempt < ROUNDS:
                retry.extend(skipped)
            else:
                alone.update((clip, _SKIPPED) for clip in skipped)
            for clip in window.clips:
                if clip in failed or clip in skipped:
                    continue
                name, audio = clips[clip]
                notes: list[str] = []
                segments = tuple(checked(outcome.segments.get(clip, []), notes.append))
                guess = guesses[clip]
                info = transcript_info(whisper, name, len(audio) / SAMPLE_RATE, guess.language, guess.probability, options)
                results[clip] = ClipResult(Transcript(info, segments), packed=True, notes=tuple(notes), window=number)
        pending = retry

    for clip, reason in alone.items():
        transcript, notes = _transcribe_alone(whisper, clips[clip], options, guesses.get(clip))
        results[clip] = ClipResult(transcript, packed=False, reason=reason, notes=tuple(notes))
    return [results[i] for i in range(len(clips))]


def _alone_from_the_start(clips: Sequence[tuple[str, np.ndarray]], options: DecodeOptions) -> dict[int, str]:
    """The clips that go the normal way before any packing, and why."""
    alone: dict[int, str] = {}
    for i, (_, audio) in enumerate(clips):
        if not packable(options):
            alone[i] = "options not packable"
        elif len(audio) > MAX_PACKED_CLIP_S * SAMPLE_RATE:
            alone[i] = f"longer than {MAX_PACKED_CLIP_S:g} s"
        elif len(audio) < SAMPLE_RATE // FRAMES_PER_SECOND:
            alone[i] = "shorter than one frame"
    return alone


def _decode(decoder: WindowDecoder, windows: list[Window], features, options: DecodeOptions, batch_size: int):
    """Each window's Outcome: decoded at the first temperature only (a window that fails sends its clips
    the normal way, which falls back itself), its text split back to its clips."""
    if not windows:
        return []
    readings = {}

    def wants_words(index: int, result) -> bool:
        readings[index] = reading = read_window(windows[index], result, options)
        return bool(reading.pieces) and (options.word_timestamps or reading.needs_words)

    mels = [MelWindow(window_mel(w, features), w.language, w.content_frames) for w in windows]
    decoder.decode(mels, batch_size=batch_size, temperatures=options.temperature[:1], words=wants_words)
    return [assign(decoder.tokenizer(w.language), readings[i], options) for i, w in enumerate(windows)]


class _SpeechCache:
    """What the VAD hears in a clip, asked only when needed (whether it has speech: at most once per clip)."""

    def __init__(self, clips: Sequence[tuple[str, np.ndarray]]):
        self._clips = clips
        self._known: dict[int, bool] = {}

    def __call__(self, clip: int) -> bool:
        if clip not in self._known:
            self._known[clip] = has_speech(self._clips[clip][1])
        return self._known[clip]

    def seconds_after(self, clip: int, start_s: float) -> float:
        """Seconds of speech in the clip from `start_s` on (unpadded spans, a short pause ends one)."""
        tail = self._clips[clip][1][round(start_s * SAMPLE_RATE) :]
        spans = speech_spans(tail, min_silence_duration_ms=SPEECH_FIRST_SILENCE_MS, speech_pad_ms=0)
        return sum(end - start for start, end in spans) / SAMPLE_RATE


def _languages(model, clips, options: DecodeOptions, indices: list[int], features, batch_size: int) -> dict[int, LanguageGuess]:
    """Each packable clip's language: the one given, "en" for an English-only model, else detected with
    up to `batch_size` windows' worth of frames per encoder call."""
    if not model.model.is_multilingual:
        return {i: ENGLISH_ONLY for i in indices}
    if options.language:
        given = LanguageGuess(options.language, 1.0, ((options.language, 1.0),))
        return {i: given for i in indices}
    detected = detect_languages(
        model,
        [clips[i][1] for i in indices],
        threshold=options.language_detection_threshold,
        segments=options.language_detection_segments,
        features=[features[i] for i in indices],
        batch_frames=batch_size * WINDOW_FRAMES,
    )
    return dict(zip(indices, detected))


def _transcribe_alone(
    whisper: "Whisper", clip: tuple[str, np.ndarray], options: DecodeOptions, guess: Optional[LanguageGuess]
) -> tuple[Transcript, list[str]]:
    """The normal path, reusing the language already known rather than detecting it again."""
    name, audio = clip
    default = DecodeOptions()
    given = options
    if guess is not None and not options.multilingual:  # --multilingual detects every window's language itself
        # Detection settings back at their defaults once a language is given, as DecodeOptions.validate wants.
        given = replace(
            options,
            language=guess.language,
            language_detection_threshold=default.language_detection_threshold,
            language_detection_segments=default.language_detection_segments,
        )
    stream = whisper(audio, given, source=name)
    segments = tuple(stream.segments)
    info = stream.info
    if given is not options:
        info = replace(info, language_probability=guess.probability, settings=options.as_record())
    return Transcript(info, segments), stream.take_notes()

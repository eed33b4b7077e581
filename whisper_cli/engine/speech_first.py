"""Speech first, many windows at once (issue 13): how an input longer than one window is transcribed.

VAD over the whole input (speech_regions.py) -> windows of at most 30 s that end in pauses
(speech_windows.py) -> each window's log-mel -> windows.py in batches: beam search, then the windows that
fail the compression-ratio or log-probability checks decoded again at the next temperature, only those ->
segments timed from the file's start, through the repetition guard, batch by batch in order. Non-speech never
reaches the decoder, and an input without speech gets no segments and a note. Unlike faster-whisper's
batched pipeline, a window that fails falls back, and no window is cut inside speech.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Iterator, NamedTuple, Optional

import numpy as np

from ..audio import SAMPLE_RATE
from ..options import DecodeOptions, VadOptions
from ..packing import MIN_LEFT_SPEECH_S
from ..speech_windows import SpeechWindow, frame_loudness, plan_windows
from ..transcript import Segment, Word
from .features import FRAMES_PER_SECOND, WINDOW_FRAMES, clip_features
from .language import ENGLISH_ONLY, LanguageGuess, detect_language
from .speech_regions import speech_regions
from .windows import TIME_PRECISION_S, MelWindow, WindowDecoder, WindowResult

if TYPE_CHECKING:  # pragma: no cover
    from .model import Whisper

BATCH_WINDOWS = 8  # windows per encoder and generate call: 2x faster than one at a time on 2 cores
WINDOW_S = WINDOW_FRAMES / FRAMES_PER_SECOND
NO_SPEECH_NOTE = "no speech found (VAD); nothing was decoded"
_SAMPLES_PER_FRAME = SAMPLE_RATE // FRAMES_PER_SECOND
SPEECH_FIRST_SILENCE_MS = 160  # a pause this long may end a window (faster-whisper's batched pipeline: the same)
MIN_REST_SPEECH_S = MIN_LEFT_SPEECH_S  # speech after Whisper's last timestamp worth decoding again (less: its last word ending)
REST_GAP_S = 1.0  # silence between two rests that share a window: Whisper ends a segment in it
REST_ROUNDS = 3  # times what a rest leaves is decoded again (faster-whisper's loop has no bound; each round costs a pass)


class Heard(NamedTuple):
    """What transcribe() reads from faster-whisper's info, for the speech-first path."""

    language: str
    language_probability: float
    duration: float


def applies(options: DecodeOptions, samples: np.ndarray) -> bool:
    """Whether this input goes speech first: asked for, longer than one window, and nothing that needs the
    sequential loop (faster-whisper's VAD or batches, clips, per-window languages, a prefix for the first
    window, skipping silences by the previous window's words)."""
    sequential_only = (
        options.vad_filter or options.batch_size or options.clip_timestamps or options.multilingual
        or options.prefix is not None or options.hallucination_silence_threshold is not None
    )
    return options.speech_first and len(samples) > WINDOW_S * SAMPLE_RATE and not sequential_only


def plan(samples: np.ndarray, options: DecodeOptions) -> tuple[list[SpeechWindow], list[tuple[int, int]]]:
    """The windows to decode (VAD regions padded by options.vad_parameters.speech_pad_ms), and the regions."""
    vad = options.vad_parameters
    # --min-silence-ms where given; else 160 ms, as faster-whisper's batched pipeline (2 s is --vad's default).
    silence_ms = vad.min_silence_duration_ms if vad.min_silence_duration_ms != VadOptions().min_silence_duration_ms else SPEECH_FIRST_SILENCE_MS
    regions = speech_regions(
        samples, threshold=vad.threshold, min_silence_duration_ms=silence_ms, min_speech_duration_ms=vad.min_speech_duration_ms
    )
    pad = vad.speech_pad_ms * SAMPLE_RATE // 1000
    return plan_windows(regions, len(samples), frame_loudness(samples), pad_samples=pad), regions


def transcribe_speech_first(
    whisper: "Whisper", samples: np.ndarray, options: DecodeOptions, note: Callable[[str], None], batch_windows: int = BATCH_WINDOWS
) -> tuple[Iterator[Segment], Heard]:
    """Lazy segments (decoded a batch of windows at a time), and the language and duration."""
    duration = len(samples) / SAMPLE_RATE
    windows, regions = plan(samples, options)
    if not windows:
        note(NO_SPEECH_NOTE)
        known = options.language or (None if whisper.is_multilingual else "en")
        return iter(()), Heard(known or "en", 1.0 if known else 0.0, duration)
    guess = _language(whisper, samples[windows[0].start : windows[0].end], options)
    decoding = _Decoding(whisper, samples, regions, options, guess.language)
    return _segments(decoding, windows, note, batch_windows), Heard(guess.language, guess.probability, duration)


def _language(whisper: "Whisper", speech: np.ndarray, options: DecodeOptions) -> LanguageGuess:
    if options.language:
        return LanguageGuess(options.language, 1.0, ((options.language, 1.0),))
    if not whisper.is_multilingual:
        return ENGLISH_ONLY
    return detect_language(
        whisper.model, speech, threshold=options.language_detection_threshold, segments=options.language_detection_segments
    )


def _segments(decoding: "_Decoding", windows: list[SpeechWindow], note, batch_windows: int) -> Iterator[Segment]:
    number = 0
    for first in range(0, len(windows), batch_windows):
        for window, result in decoding.batch(windows[first : first + batch_windows]):
            if result.complete_until is not None:
                note(f"{window.start_s:.1f}-{window.end_s:.1f} s: the window's text was cut off after {window.start_s + result.complete_until:.1f} s")
            if decoding.silent(result):
                continue
            for segment in _window_segments(decoding.tokenizer, window, result, decoding.segment_language):
                yield replace(segment, id=number)
                number += 1


class _Decoding:
    """One input's windows decoded with one WindowDecoder: batches, and the rest of a window Whisper left."""

    def __init__(self, whisper: "Whisper", samples: np.ndarray, regions, options: DecodeOptions, language: str):
        self._model, self._samples, self._regions, self._options = whisper.model, samples, regions, options
        self._decoder = WindowDecoder(whisper.model, options)
        self.language = language
        self.tokenizer = self._decoder.tokenizer(language)
        self.segment_language = language if options.multilingual else None

    def batch(self, windows: list[SpeechWindow]) -> list[tuple[SpeechWindow, WindowResult]]:
        """Each window's result, in order, each followed by those of the rests Whisper left of it.

        Whisper may end its text before the window's speech ends ("<|23.20|><|23.20|>" then the end token,
        or one sentence of three); faster-whisper's loop then decodes again from that timestamp, and so does
        this, where the VAD hears speech after it, so the words there are not lost. The rests of a batch are
        short, so they share windows (REST_GAP_S of silence between two), each costing one encoder pass. A
        shared window may end early too (JFK, 1 s, JFK: the second read up to 20.0 s of 23 s, then
        "<|20.00|><|20.00|>"), so what a rest leaves is decoded again in turn, up to REST_ROUNDS times.
        """
        results = self._decode(windows)
        read: list[list[tuple[SpeechWindow, WindowResult]]] = [[pair] for pair in zip(windows, results)]
        self.read_rests([_Rest(i, rest) for i, (w, r) in enumerate(zip(windows, results)) if (rest := self._rest(w, r))], read)
        return [pair for pairs in read for pair in pairs]

    def read_rests(self, rests: list["_Rest"], read: list[list[tuple[SpeechWindow, WindowResult]]]) -> None:
        """Decode the rests, then what they leave, up to REST_ROUNDS times; each result goes to its window's list."""
        for _ in range(REST_ROUNDS):
            if not rests:
                return
            rests = self._decode_rests(rests, read)

    def _decode_rests(self, rests: list["_Rest"], read: list[list[tuple[SpeechWindow, WindowResult]]]) -> list["_Rest"]:
        """One round: the rests decoded (in shared windows, but alone those that got no text beside another),
        each result added to its window's list in `read`; returns what they leave in turn."""
        owners = [rest for rest in rests if not rest.alone]
        shared = _shared_windows([rest.window for rest in owners])
        alone = [rest for rest in rests if rest.alone]
        left: list[_Rest] = []
        for members, result in zip(shared, self._decode_joined(shared)):
            mine, owners = owners[: len(members)], owners[len(members) :]
            if _spans_two_members(members, result):
                alone += mine  # decoded again one at a time, as packing.py does
                continue
            for rest, part in zip(mine, _member_results(members, result)):
                read[rest.index].append((rest.window, part))
                if (after := rest_after(rest.window, _last_end_s(part), self._regions)) is not None:
                    # A member Whisper gave no text to is not put beside another again: it goes alone.
                    left.append(_Rest(rest.index, after, alone=after.start == rest.window.start))
        for rest, result in zip(alone, self._decode([rest.window for rest in alone]) if alone else []):
            read[rest.index].append((rest.window, result))
            if (after := self._rest(rest.window, result)) is not None:
                left.append(_Rest(rest.index, after))
        return sorted(left, key=lambda rest: rest.window.start)

    def silent(self, result: WindowResult) -> bool:
        """faster-whisper's no-speech rule: a likely-silent window is dropped unless its text is probable."""
        options = self._options
        if options.no_speech_threshold is None or result.no_speech_prob <= options.no_speech_threshold:
            return False
        return options.log_prob_threshold is None or result.avg_logprob <= options.log_prob_threshold

    def _decode(self, windows: list[SpeechWindow]) -> list[WindowResult]:
        mels = [_mel(self._model, self._samples[w.start : w.end], self.language) for w in windows]
        return self._decoder.decode(mels, batch_size=len(mels), words=self._options.word_timestamps)

    def _decode_joined(self, shared: list[list[tuple[SpeechWindow, float]]]) -> list[WindowResult]:
        """Each shared window's members laid end to end, REST_GAP_S of silence between two, decoded."""
        if not shared:
            return []
        gap = np.zeros(round(REST_GAP_S * SAMPLE_RATE), dtype=np.float32)
        joined = []
        for members in shared:
            pieces = [self._samples[m.start : m.end] for m, _ in members]
            joined.append(np.concatenate([part for piece in pieces for part in (piece, gap)][:-1]))
        mels = [_mel(self._model, audio, self.language) for audio in joined]
        return self._decoder.decode(mels, batch_size=len(mels), words=self._options.word_timestamps)

    def _rest(self, window: SpeechWindow, result: WindowResult) -> Optional[SpeechWindow]:
        """What is left of the window after the last timestamp Whisper gave, if enough speech is in it."""
        if result.complete_until is not None:
            return None  # cut off at the length limit: noted, not retried
        begin = self.tokenizer.timestamp_begin
        stamps = [token - begin for token in result.tokens if token >= begin]
        if not stamps or stamps[-1] <= 0:
            return None  # no text, or none that Whisper could place
        return rest_after(window, stamps[-1] * TIME_PRECISION_S, self._regions)


def rest_after(window: SpeechWindow, last_s: float, regions: list[tuple[int, int]]) -> Optional[SpeechWindow]:
    """The window from `last_s` (seconds from its start) on, if the VAD regions hold enough speech there."""
    start = window.start + round(last_s * SAMPLE_RATE)
    speech = sum(max(0, min(b, window.end) - max(a, start)) for a, b in regions)
    return SpeechWindow(start, window.end) if speech >= MIN_REST_SPEECH_S * SAMPLE_RATE else None


def _last_end_s(part: WindowResult) -> float:
    """Where a member's text ends, in seconds from its start (0.0 where it got none)."""
    return max((piece["end"] for piece in part.pieces), default=0.0)


class _Rest(NamedTuple):
    """Part of a window left to decode again: which window of the batch it belongs to, and where it is."""

    index: int
    window: SpeechWindow
    alone: bool = False  # Whisper gave it no text beside another rest: decode it in a window of its own


def _shared_windows(rests: list[SpeechWindow]) -> list[list[tuple[SpeechWindow, float]]]:
    """Rests in order -> windows of at most WINDOW_S, each a list of (rest, its start in the window, s)."""
    shared: list[list[tuple[SpeechWindow, float]]] = []
    used_s = WINDOW_S
    for rest in rests:
        length_s = (rest.end - rest.start) / SAMPLE_RATE
        if used_s + REST_GAP_S + length_s > WINDOW_S:
            shared.append([])
            used_s = -REST_GAP_S
        shared[-1].append((rest, used_s + REST_GAP_S))
        used_s += REST_GAP_S + length_s
    return shared


def _overlaps_s(piece: dict, members: list[tuple[SpeechWindow, float]]) -> list[float]:
    """How long the piece overlaps each member, in seconds (a member's gap after it counted half)."""
    spans = [(start_s, start_s + (m.end - m.start) / SAMPLE_RATE) for m, start_s in members]
    return [max(0.0, min(piece["end"], end + REST_GAP_S / 2) - max(piece["start"], start - REST_GAP_S / 2)) for start, end in spans]


def _spans_two_members(members: list[tuple[SpeechWindow, float]], result: WindowResult) -> bool:
    """Whether a piece covers 2 s of two members each: Whisper read two rests as one segment, whose text
    cannot be split between them by time. (An end that drifts a little into the next is kept.)"""
    return len(members) > 1 and any(sorted(_overlaps_s(piece, members))[-2] > 2.0 for piece in result.pieces)


def _member_results(members: list[tuple[SpeechWindow, float]], result: WindowResult) -> list[WindowResult]:
    """A shared window's result split by member: each piece goes to the member it overlaps most (Whisper's
    times near a gap drift), timed from that member's start and clipped to it."""
    owner = [max(range(len(members)), key=_overlaps_s(piece, members).__getitem__) for piece in result.pieces]
    return [
        _member_result(result, [p for p, o in zip(result.pieces, owner) if o == index], start_s, (m.end - m.start) / SAMPLE_RATE)
        for index, (m, start_s) in enumerate(members)
    ]


def _member_result(result: WindowResult, pieces: list[dict], offset_s: float, length_s: float) -> WindowResult:
    """The member's pieces of a shared window's result, timed from the member's start."""

    def shifted(item: dict) -> dict:
        # Clipped to the member: Whisper may time a member's last words into the silence after it.
        return {**item, "start": min(max(0.0, item["start"] - offset_s), length_s), "end": min(max(0.0, item["end"] - offset_s), length_s)}

    own = [{**shifted(piece), "words": [shifted(word) for word in piece.get("words") or ()]} for piece in pieces]
    words = [word for piece in own for word in piece["words"]]
    return replace(result, pieces=own, words=words, complete_until=None)


def _mel(model, audio: np.ndarray, language: str) -> MelWindow:
    features = clip_features(model, audio)[:, :WINDOW_FRAMES]
    mel = np.zeros((features.shape[0], WINDOW_FRAMES), dtype=np.float32)  # 0.0 after the speech, as faster-whisper pads
    mel[:, : features.shape[1]] = features
    return MelWindow(mel, language, content_frames=features.shape[1])


def _window_segments(tokenizer, window: SpeechWindow, result: WindowResult, language: Optional[str]) -> Iterator[Segment]:
    """The window's pieces as Segments timed from the file's start (times inside the window's speech)."""
    length_s = (window.end - window.start) / SAMPLE_RATE
    offset = window.start_s
    for piece in result.pieces:
        start, end = min(piece["start"], length_s), min(piece["end"], length_s)
        words = tuple(
            Word(start=offset + min(w["start"], length_s), end=offset + min(w["end"], length_s), text=w["word"], probability=w["probability"])
            for w in piece.get("words") or ()
        )
        yield Segment(
            id=0,
            start=round(offset + start, 3),
            end=round(offset + end, 3),
            text=tokenizer.decode(piece["tokens"]),
            words=words,
            seek=window.start // _SAMPLES_PER_FRAME,
            tokens=tuple(int(t) for t in piece["tokens"]),
            avg_logprob=result.avg_logprob,
            no_speech_prob=result.no_speech_prob,
            compression_ratio=result.compression_ratio,
            temperature=result.temperature,
            language=language,
        )

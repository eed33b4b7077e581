"""Speech that produced no text: a stretch Whisper skipped, as it skips a second language without --multilingual.

Whisper decoding English can pass over 25 s of German without a word and carry on, and nothing in the
segments' scores says so. The VAD can: where the segments leave a long stretch uncovered and the VAD
hears more than MIN_SPEECH_S of speech in it, the stretch is reported. The VAD runs only on those
uncovered stretches, so a transcript whose text covers the audio costs nothing.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from .audio import SAMPLE_RATE
from .transcript import Segment

MIN_SPEECH_S = 10.0  # speech in one stretch without text worth a warning: longer than any pause in talk


def uncovered(segments: Iterable[Segment], duration: float, min_s: float = MIN_SPEECH_S) -> list[tuple[float, float]]:
    """The stretches longer than `min_s` that no segment with text covers."""
    spans = []
    covered_to = 0.0
    for segment in sorted((s for s in segments if s.text.strip()), key=lambda s: s.start):
        if segment.start - covered_to > min_s:
            spans.append((covered_to, segment.start))
        covered_to = max(covered_to, segment.end)
    if duration - covered_to > min_s:
        spans.append((covered_to, duration))
    return spans


def speech_without_text(
    samples: np.ndarray, segments: Iterable[Segment], min_speech_s: float = MIN_SPEECH_S
) -> list[tuple[float, float]]:
    """Each uncovered stretch where the VAD hears more than `min_speech_s` of speech, from its first speech
    to its last, in seconds to 0.1."""
    gaps = uncovered(segments, len(samples) / SAMPLE_RATE, min_speech_s)
    if not gaps:
        return []
    from .engine.vad import speech_spans

    found = []
    for start, end in gaps:
        chunks = speech_spans(samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)])
        if sum(chunk_end - chunk_start for chunk_start, chunk_end in chunks) / SAMPLE_RATE > min_speech_s:
            first, last = chunks[0][0] / SAMPLE_RATE, chunks[-1][1] / SAMPLE_RATE
            # Rounded inwards, so that the stretch never reaches into a segment's text.
            found.append((math.ceil((start + first) * 10) / 10, math.floor(min(start + last, end) * 10) / 10))
    return found


def hint(found: tuple[float, float], model: str, multilingual_model: bool, language_given: bool) -> str:
    """The warning for one stretch of speech without text."""
    start, end = found
    if not multilingual_model:
        advice = f"{model} is English-only; try --model base --multilingual"
    else:
        advice = "try --multilingual" + (" without --language" if language_given else "")
    return f"{start:.1f}-{end:.1f} s: speech with no text; another language? {advice}"

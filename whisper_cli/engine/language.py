"""Spoken-language detection that encodes a clip's own frames, not a 30-second window padded with silence.

faster-whisper pads every clip to 3000 mel frames before it asks the model for the language, and then
encodes the same window again to transcribe it. CTranslate2's Whisper encoder also takes shorter inputs at
a cost roughly linear in their length, and the language read from the un-padded clip is the same with
equal or higher confidence (jfk.flac: en 0.973 un-padded vs 0.958 padded), so an 11 s clip costs about a
third of a window here. Clips shorter than MIN_FRAMES are padded up to it, because very short un-padded inputs
lose the answer, and an answer less sure than RECHECK_BELOW is read again from a full padded window. The voting
over several windows for long clips follows faster-whisper's WhisperModel.detect_language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional, Sequence

import numpy as np

from .features import WINDOW_FRAMES, clip_features

if TYPE_CHECKING:  # pragma: no cover
    from faster_whisper import WhisperModel

# A clip shorter than this is padded up to it (with faster-whisper's padding value): 1-2 s clips read
# un-padded often come out wrong (1 s of multilingual.mp3: zh 0.22 un-padded, en 1.00 padded), while from
# 500 frames on the answer agreed with the padded window on 32 of 34 real and synthetic 1-8 s clips, at the
# same mean confidence and a sixth of a window's encoder cost.
MIN_FRAMES = 500
# An un-padded answer less sure than this is read again from a full padded window, as faster-whisper reads
# it: "The soup needs a little more salt." (2.8 s, espeak-ng en-029) read un-padded is ca 0.28 and padded en;
# a wrong language costs far more than the second encoder pass (Catalan text, sampled at temperature 1.0).
RECHECK_BELOW = 0.5
# Clips whose lengths differ by at most this factor share one encoder batch, padded to the longest.
_BATCH_LENGTH_RATIO = 1.15
# Mel frames per encoder call: one window's worth. Encoder memory grows with the batch (three padded windows at
# once peaked 220 MB above one on 2 CPU cores), and a CPU gains little from batching; a GPU caller passes more.
DEFAULT_BATCH_FRAMES = WINDOW_FRAMES


class LanguageGuess(NamedTuple):
    language: str  # code, e.g. "en"
    probability: float
    all_probs: tuple[tuple[str, float], ...]  # every language, most likely first


ENGLISH_ONLY = LanguageGuess("en", 1.0, (("en", 1.0),))


def detect_language(
    model: "WhisperModel",
    audio: np.ndarray,
    *,
    threshold: Optional[float] = 0.5,
    segments: int = 1,
) -> LanguageGuess:
    """The language of one clip of 16 kHz samples; ("en", 1.0) for an English-only model."""
    return detect_languages(model, [audio], threshold=threshold, segments=segments)[0]


def detect_languages(
    model: "WhisperModel",
    clips: Sequence[np.ndarray],
    *,
    threshold: Optional[float] = 0.5,
    segments: int = 1,
    features: Optional[Sequence[np.ndarray]] = None,
    batch_frames: int = DEFAULT_BATCH_FRAMES,
) -> list[LanguageGuess]:
    """The language of each clip, encoding clips of similar length together.

    threshold and segments mean what faster-whisper's language_detection_threshold and
    language_detection_segments mean: look at up to `segments` 30-second windows of a clip and stop at the
    first whose top language is more likely than `threshold`, else take the language most windows chose.
    None as threshold takes the first window's answer. features, when given, are clip_features() of the
    clips, so that a caller who needs them anyway computes them once.
    """
    if not model.model.is_multilingual:
        return [ENGLISH_ONLY for _ in clips]
    if features is None:
        features = [clip_features(model, clip) for clip in clips]
    windows = [_windows(frames, max(1, segments)) for frames in features]
    results: list[Optional[LanguageGuess]] = [None] * len(windows)
    votes: list[dict[str, list[float]]] = [{} for _ in windows]
    step = 0
    pending = list(range(len(windows)))
    while pending:
        probs = _detect_batch(model, [windows[i][step] for i in pending], batch_frames)
        still_pending = []
        for i, all_probs in zip(pending, probs):
            language, probability = all_probs[0]
            last = step + 1 == len(windows[i])
            if threshold is None or probability > threshold:
                results[i] = LanguageGuess(language, probability, all_probs)
                continue
            votes[i].setdefault(language, []).append(probability)
            if not last:
                still_pending.append(i)
                continue
            # No window was sure: the language most windows chose, as faster-whisper does.
            voted = max(votes[i], key=lambda code: len(votes[i][code]))
            results[i] = LanguageGuess(voted, max(votes[i][voted]), all_probs)
        pending = still_pending
        step += 1
    _recheck_unsure_on_padded_windows(model, windows, results, batch_frames)
    return [result for result in results if result is not None]


def _recheck_unsure_on_padded_windows(model, windows, results: list[Optional[LanguageGuess]], batch_frames: int) -> None:
    """Replace each unsure answer from a clip shorter than a window by the answer of its padded window."""
    unsure = [
        i for i, result in enumerate(results)
        if result is not None and result.probability < RECHECK_BELOW and windows[i][0].shape[1] < WINDOW_FRAMES
    ]
    if not unsure:
        return
    probs = _detect_batch(model, [_pad_to(windows[i][0], WINDOW_FRAMES) for i in unsure], batch_frames)
    for i, all_probs in zip(unsure, probs):
        results[i] = LanguageGuess(all_probs[0][0], all_probs[0][1], all_probs)


def _windows(frames: np.ndarray, segments: int) -> list[np.ndarray]:
    """Up to `segments` consecutive windows of at most WINDOW_FRAMES frames, none shorter than MIN_FRAMES."""
    frames = frames[:, : segments * WINDOW_FRAMES]
    windows = [frames[:, i : i + WINDOW_FRAMES] for i in range(0, frames.shape[1], WINDOW_FRAMES)] or [frames]
    return [_pad_to(window, MIN_FRAMES) for window in windows]


def _pad_to(frames: np.ndarray, length: int) -> np.ndarray:
    if frames.shape[1] >= length:
        return frames
    # 0.0 is what faster-whisper's pad_or_trim pads features with.
    return np.pad(frames, ((0, 0), (0, length - frames.shape[1])))


def _detect_batch(
    model: "WhisperModel", windows: list[np.ndarray], batch_frames: int
) -> list[tuple[tuple[str, float], ...]]:
    """Language probabilities for each window; windows of similar length share one encoder call."""
    order = sorted(range(len(windows)), key=lambda i: windows[i].shape[1])
    out: list[tuple[tuple[str, float], ...]] = [()] * len(windows)
    start = 0
    while start < len(order):
        shortest = windows[order[start]].shape[1]
        end = start + 1
        while (
            end < len(order)
            and (end - start + 1) * windows[order[end]].shape[1] <= batch_frames
            and windows[order[end]].shape[1] <= shortest * _BATCH_LENGTH_RATIO
        ):
            end += 1
        group = order[start:end]
        longest = windows[group[-1]].shape[1]
        batch = np.stack([_pad_to(windows[i], longest) for i in group])
        encoded = model.encode(batch)
        for i, result in zip(group, model.model.detect_language(encoded)):
            # Tokens look like "<|en|>"; strip the markers as faster-whisper does.
            out[i] = tuple((token[2:-2], float(prob)) for token, prob in result)
        start = end
    return out

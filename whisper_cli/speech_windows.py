"""Speech regions -> the windows the decoder sees: at most 30 s each, cut only where nobody speaks (issue 13).

Pure layout, no model: sample indices in, sample indices out. The steps, in order:

1. Pad each region as faster-whisper's `speech_pad_ms` does, so a word the VAD clipped at an edge is kept:
   a gap shorter than two pads is shared half and half, so its two regions touch (and may share a window).
2. Merge regions that overlap (touching ones stay apart: the point where they touch is a pause to cut at).
3. Cut a region longer than a window at its quietest point (the lowest loudness, smoothed over ~160 ms).
4. Group regions into windows of at most one window's length, from a region's start to a later region's end.
   When the next region does not fit, the window ends at the longest pause among those that leave it at least
   70% full (fewer windows: each costs a whole encoder pass), so a window is never cut inside a region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

SAMPLE_RATE = 16000  # Hz: what the VAD and Whisper read
WINDOW_SAMPLES = 30 * SAMPLE_RATE  # Whisper's window
PAD_SAMPLES = 400 * SAMPLE_RATE // 1000  # faster-whisper's speech_pad_ms default
FRAME_SAMPLES = 512  # the loudness grid: the Silero VAD's frame
SMOOTH_FRAMES = 5  # ~160 ms, so a cut lands in a pause, not in the gap of a plosive
MIN_FILL = 0.7  # a window ends at an earlier, longer pause only if it stays at least this full: each
# window costs one whole 30 s encoder pass, the largest cost on a CPU, so windows are kept full


@dataclass(frozen=True)
class SpeechWindow:
    """One stretch of the input, [start, end) in samples, decoded as one Whisper window."""

    start: int
    end: int

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE


Region = tuple[int, int]


def plan_windows(
    regions: Sequence[Region],
    total_samples: int,
    loudness: Optional[np.ndarray] = None,
    pad_samples: int = PAD_SAMPLES,
    window_samples: int = WINDOW_SAMPLES,
) -> list[SpeechWindow]:
    """Speech regions (sample indices, in order) -> windows; `loudness` per FRAME_SAMPLES frame (frame_loudness)."""
    merged = merge_regions(pad_regions(regions, pad_samples, total_samples))
    fitted = [piece for region in merged for piece in split_region(region, window_samples, loudness)]
    return group_regions(fitted, window_samples)


def pad_regions(regions: Sequence[Region], pad_samples: int, total_samples: int) -> list[Region]:
    """faster-whisper's padding: pad each side, but share a gap shorter than two pads half and half."""
    out = [list(region) for region in regions]
    for index, region in enumerate(out):
        if index == 0:
            region[0] = max(0, region[0] - pad_samples)
        if index + 1 < len(out):
            following = out[index + 1]
            gap = following[0] - region[1]
            share = gap // 2 if gap < 2 * pad_samples else pad_samples
            region[1] += share
            following[0] = max(0, following[0] - (gap - share if gap < 2 * pad_samples else pad_samples))
        else:
            region[1] = min(total_samples, region[1] + pad_samples)
    return [(start, end) for start, end in out]


def merge_regions(regions: Sequence[Region]) -> list[Region]:
    """Regions that overlap become one."""
    merged: list[Region] = []
    for start, end in sorted(regions):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def split_region(region: Region, window_samples: int, loudness: Optional[np.ndarray]) -> list[Region]:
    """A region longer than a window -> pieces of at most a window, each cut at the quietest point it may be."""
    pieces = []
    start, end = region
    while end - start > window_samples:
        if end - start > 2 * window_samples:
            low, high = start + window_samples // 2, start + window_samples  # the first piece 15-30 s
        else:
            low, high = end - window_samples, start + window_samples  # both pieces fit whatever the cut
        cut = quietest_point(low, high, loudness)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def quietest_point(low: int, high: int, loudness: Optional[np.ndarray]) -> int:
    """The sample in [low, high] at the centre of the quietest smoothed frame; the middle without loudness."""
    first, last = -(-low // FRAME_SAMPLES), high // FRAME_SAMPLES  # frames wholly inside the range
    if loudness is None or last <= first or first >= len(loudness):
        return (low + high) // 2
    kernel = np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES
    smooth = np.convolve(loudness, kernel, mode="same")[first : min(last, len(loudness))]
    frame = first + int(np.argmin(smooth))
    return min(high, max(low, frame * FRAME_SAMPLES + FRAME_SAMPLES // 2))


def group_regions(regions: Sequence[Region], window_samples: int) -> list[SpeechWindow]:
    """Consecutive regions (each at most a window) -> windows of at most a window, ended at the longest pause."""
    windows = []
    first = 0
    while first < len(regions):
        start = regions[first][0]
        last = first
        while last + 1 < len(regions) and regions[last + 1][1] - start <= window_samples:
            last += 1
        if last + 1 < len(regions):  # full: choose the pause to end at
            last = max(
                (k for k in range(first, last + 1) if k == last or regions[k][1] - start >= MIN_FILL * window_samples),
                key=lambda k: (regions[k + 1][0] - regions[k][1], k),
            )
        windows.append(SpeechWindow(start, regions[last][1]))
        first = last + 1
    return windows


def frame_loudness(samples: np.ndarray, block_frames: int = 4096) -> np.ndarray:
    """Mean square of each FRAME_SAMPLES frame, computed a block at a time so no copy of the input is made."""
    frames = len(samples) // FRAME_SAMPLES
    out = np.empty(frames, dtype=np.float32)
    for first in range(0, frames, block_frames):
        count = min(block_frames, frames - first)
        block = samples[first * FRAME_SAMPLES : (first + count) * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
        out[first : first + count] = np.mean(np.square(block, dtype=np.float32), axis=1)
    return out

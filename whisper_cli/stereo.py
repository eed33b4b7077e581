"""--split-stereo: each channel transcribed on its own, then merged by time with a speaker label.

The offline diarization of call recordings, where each party is on one channel. The labels are "L" and
"R": short enough for every cue, and what the writers show as `[L]` (txt, srt, tsv), `<v L>` (vtt)
and `"speaker": "L"` (json, jsonl).
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Iterable, Iterator

import numpy as np

from .transcript import Segment

LEFT = "L"
RIGHT = "R"
CHANNEL_NAMES = {LEFT: "left", RIGHT: "right"}


def merge_channels(left: Iterable[Segment], right: Iterable[Segment], *, labelled: bool = True) -> Iterator[Segment]:
    """Both channels' segments by start time (left first on a tie), labelled and numbered from 0.

    `labelled=False` keeps the speakers the segments carry (with --diarize, each channel's own speakers).

    Lazy: to yield a segment it needs the next segment of each channel, so at most one decoded segment
    per channel waits, and decoding alternates between the channels as the transcript moves on in time.
    Each channel's segments must come in order of start time, as faster-whisper yields them.
    """
    channels = (_labelled(left, LEFT), _labelled(right, RIGHT)) if labelled else (left, right)
    for number, segment in enumerate(heapq.merge(*channels, key=lambda segment: segment.start)):
        yield replace(segment, id=number)


def same_channels(left: np.ndarray, right: np.ndarray) -> bool:
    """Whether both channels carry the same samples (mono saved as stereo): nothing to split."""
    return left.shape == right.shape and bool(np.array_equal(left, right))


def _labelled(segments: Iterable[Segment], speaker: str) -> Iterator[Segment]:
    for segment in segments:
        yield replace(segment, speaker=speaker)

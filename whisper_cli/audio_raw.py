"""Headerless PCM (`arecord`, `sox -t raw`, `parec`, `ffmpeg -f s16le`) -> 16 kHz mono float32 samples.

Raw bytes carry no header, so the user's --input-format, --sample-rate and --channels say what they are.
They go through the same s16 resampler as decoded containers (audio._Resampled), so a raw stream and the
WAV holding the same samples give the same transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterator, Optional

from .audio_format import MAX_SOURCE_RATE_HZ, MIN_SOURCE_RATE_HZ
from .errors import UsageError

MAX_CHANNELS = 8  # the most FFmpeg has a standard layout for (7.1), and so can downmix
_FRAMES_PER_BLOCK = 1 << 16  # source frames handed to PyAV at once: bounds its per-call copy


class RawEncoding(str, Enum):
    """Sample encodings of headerless input, named as FFmpeg's -f names them."""

    s16le = "s16le"
    s32le = "s32le"
    f32le = "f32le"


# encoding -> (numpy dtype, PyAV sample format, bytes per sample)
_LAYOUTS = {
    RawEncoding.s16le: ("<i2", "s16", 2),
    RawEncoding.s32le: ("<i4", "s32", 4),
    RawEncoding.f32le: ("<f4", "flt", 4),
}


@dataclass(frozen=True)
class RawFormat:
    encoding: RawEncoding = RawEncoding.s16le
    sample_rate: int = 16000  # Hz, of the source
    channels: int = 1  # interleaved

    def validate(self) -> None:
        if not MIN_SOURCE_RATE_HZ <= self.sample_rate <= MAX_SOURCE_RATE_HZ:
            raise UsageError(
                "--sample-rate", f"{self.sample_rate} Hz makes no sense (from {MIN_SOURCE_RATE_HZ} to {MAX_SOURCE_RATE_HZ})"
            )
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise UsageError("--channels", f"{self.channels} makes no sense (from 1 to {MAX_CHANNELS})")

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame: a sample of every channel."""
        return _LAYOUTS[self.encoding][2] * self.channels

    def describe(self) -> str:
        return f"{self.encoding.value}, {self.channels} channel{'s' if self.channels > 1 else ''}, {self.sample_rate} Hz"


def raw_format(encoding: Optional[RawEncoding], sample_rate: Optional[int], channels: Optional[int]) -> Optional[RawFormat]:
    """The command line's raw-input options -> a validated RawFormat, or None for self-describing input."""
    if encoding is None:
        for flag, value in (("--sample-rate", sample_rate), ("--channels", channels)):
            if value is not None:
                raise UsageError(flag, "needs --input-format (a file's own header says its rate and channels)")
        return None
    defaults = RawFormat()
    chosen = RawFormat(
        RawEncoding(encoding),
        defaults.sample_rate if sample_rate is None else sample_rate,
        defaults.channels if channels is None else channels,
    )
    chosen.validate()
    return chosen


def whole_frames(data: bytes, raw: RawFormat, warn: Callable[[str], None]) -> memoryview:
    """`data` cut to whole frames; a cut partial frame at the end is dropped, and `warn` says so."""
    extra = len(data) % raw.frame_bytes
    if extra:
        warn(
            f"dropped the last {extra} byte{'s' if extra > 1 else ''}: not a whole frame "
            f"({raw.frame_bytes} bytes per frame for {raw.describe()})"
        )
    return memoryview(data)[: len(data) - extra]


def pcm_frames(data, raw: RawFormat) -> Iterator:
    """Whole-frame PCM bytes -> PyAV AudioFrames of at most _FRAMES_PER_BLOCK frames each."""
    import av
    import numpy as np

    dtype, sample_format, _ = _LAYOUTS[raw.encoding]
    samples = np.frombuffer(data, dtype=dtype)
    layout = av.AudioLayout(f"{raw.channels}c").name  # FFmpeg's default layout for that many channels
    step = _FRAMES_PER_BLOCK * raw.channels
    for start in range(0, len(samples), step):
        block = samples[start : start + step]
        if sample_format == "flt":
            # NaN or infinity would come out of FFmpeg's float -> s16 conversion as full-scale noise.
            block = np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block).reshape(1, -1), format=sample_format, layout=layout)
        frame.sample_rate = raw.sample_rate
        yield frame

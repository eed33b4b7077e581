"""whisper_cli/fbank.py: Kaldi's log-mel filterbank, checked frame by frame against Kaldi's recipe on real speech."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from whisper_cli import fbank
from whisper_cli.audio import load_audio


@pytest.fixture(scope="module")
def speech(shared_samples):
    return load_audio(shared_samples / "jfk.flac")[: 3 * 16000]


def _kaldi_frame_by_frame(samples: np.ndarray) -> np.ndarray:
    """Kaldi's compute-fbank-feats steps, one frame at a time, in float64 (slow and plain on purpose)."""
    n = np.arange(400)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * n / 399)) ** 0.85
    mel = lambda hz: 1127.0 * np.log(1.0 + hz / 700.0)  # noqa: E731
    low, high = mel(20.0), mel(8000.0)
    delta = (high - low) / 81
    banks = np.zeros((80, 256))
    for m in range(80):
        left, center, right = low + m * delta, low + (m + 1) * delta, low + (m + 2) * delta
        for k in range(256):
            bin_mel = mel(k * 16000 / 512)
            if left < bin_mel < right:
                banks[m, k] = (bin_mel - left) / (center - left) if bin_mel <= center else (right - bin_mel) / (right - center)
    rows = []
    for start in range(0, len(samples) - 400 + 1, 160):
        frame = samples[start: start + 400].astype(np.float64)
        frame = frame - frame.mean()
        frame = np.append(frame[0] - 0.97 * frame[0], frame[1:] - 0.97 * frame[:-1]) * window
        power = np.abs(np.fft.rfft(frame, n=512)[:256]) ** 2
        rows.append(np.log(np.maximum(banks @ power, np.finfo(np.float32).eps)))
    return np.array(rows, dtype=np.float32).reshape(-1, 80)


def test_features_of_real_speech_match_kaldis_recipe_frame_by_frame(speech):
    features = fbank.log_mel_fbank(speech)
    assert features.shape == (1 + (len(speech) - 400) // 160, 80) and features.dtype == np.float32
    assert np.allclose(features, _kaldi_frame_by_frame(speech), rtol=0, atol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("torchaudio") is None, reason="torchaudio is not installed")
def test_features_match_torchaudios_kaldi_fbank(speech):
    import torch
    from torchaudio.compliance import kaldi

    expected = kaldi.fbank(
        torch.from_numpy(speech).unsqueeze(0), num_mel_bins=80, frame_length=25, frame_shift=10, dither=0.0,
        preemphasis_coefficient=0.97, remove_dc_offset=True, window_type="povey", low_freq=20, high_freq=0,
        use_energy=False, use_log_fbank=True, use_power=True, snip_edges=True, sample_frequency=16000,
    ).numpy()
    assert np.allclose(fbank.log_mel_fbank(speech), expected, rtol=0, atol=1e-3)


def test_segments_computed_together_equal_each_alone_across_chunks(speech, monkeypatch):
    monkeypatch.setattr(fbank, "CHUNK_FRAMES", 100)  # so the 1.5 s segments below span several chunks
    starts = [0, 5000, 9000, 17000, 30000]
    segments = [speech[start: start + 24000] for start in starts] + [speech[:399], speech[:400], speech[1000:17000]]
    together = fbank.log_mel_fbanks(segments)
    assert [len(features) for features in together] == [1 + (len(s) - 400) // 160 if len(s) >= 400 else 0 for s in segments]
    for segment, features in zip(segments, together):
        assert np.array_equal(features, fbank.log_mel_fbank(segment))
    assert fbank.log_mel_fbanks([]) == []


def test_senkos_feature_hook_hands_over_the_same_features_as_tensors(speech):
    pytest.importorskip("torch")
    import torch

    from whisper_cli.diarize import _fbank_tensors

    segments = [torch.from_numpy(speech[:24000].copy()), torch.from_numpy(speech[8000:20000].copy())]
    tensors = _fbank_tensors(segments)
    assert [tuple(t.shape) for t in tensors] == [(148, 80), (73, 80)]
    for segment, tensor in zip(segments, tensors):
        assert tensor.dtype == torch.float32 and np.array_equal(tensor.numpy(), fbank.log_mel_fbank(segment.numpy()))

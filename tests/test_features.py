"""The windowed log-mel extractor gives faster-whisper's features, on real audio of several windows."""

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

from whisper_cli.audio import load_audio
from whisper_cli.engine.features import WindowedFeatureExtractor

from conftest import SAMPLES


def test_windowed_features_equal_faster_whispers_across_window_edges():
    forecast = load_audio(SAMPLES / "forecast.ogg")
    samples = np.concatenate([forecast] * 7)[: 16000 * 77 + 123]  # 77 s: three windows and a ragged end
    expected = FeatureExtractor()(samples)
    got = WindowedFeatureExtractor()(samples)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


def test_windowed_features_equal_faster_whispers_on_a_short_clip_and_chunk_length():
    samples = load_audio(SAMPLES / "hello.flac")
    for chunk_length in (None, 30):
        expected = FeatureExtractor()(samples, chunk_length=chunk_length)
        got = WindowedFeatureExtractor()(samples, chunk_length=chunk_length)
        assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-5

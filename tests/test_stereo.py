"""--split-stereo: each channel transcribed apart and merged by time with L/R speaker labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SAMPLES, TEST_MODEL
from openai_shape import assert_openai_document
from whisper_cli.audio import load_audio
from whisper_cli.options import DecodeOptions
from whisper_cli.stereo import LEFT, RIGHT, merge_channels, same_channels
from whisper_cli.transcript import Segment


def _segments(*spans: tuple[float, str]) -> list[Segment]:
    return [Segment(id=i, start=start, end=start + 1.0, text=text) for i, (start, text) in enumerate(spans, start=1)]


def test_channels_merge_by_start_time_with_labels_and_fresh_ids():
    left = _segments((0.0, " a"), (4.0, " c"), (9.0, " e"))
    right = _segments((2.0, " b"), (4.0, " d"))
    merged = list(merge_channels(left, right))
    assert [(s.id, s.speaker, s.text) for s in merged] == [
        (0, LEFT, " a"), (1, RIGHT, " b"), (2, LEFT, " c"), (3, RIGHT, " d"), (4, LEFT, " e"),
    ]  # on a tie (4.0) the left channel comes first


def test_merge_with_a_silent_channel_is_the_other_channel_labelled():
    merged = list(merge_channels([], _segments((1.0, " only"))))
    assert [(s.id, s.speaker) for s in merged] == [(0, RIGHT)]


def test_merge_reads_at_most_one_segment_ahead_per_channel():
    read = []

    def channel(name, starts):
        for start in starts:
            read.append((name, start))
            yield Segment(id=1, start=start, end=start + 1, text=name)

    merged = merge_channels(channel("L", [0.0, 10.0, 20.0]), channel("R", [5.0, 15.0, 25.0]))
    assert next(merged).start == 0.0
    assert read == [("L", 0.0), ("R", 5.0)]
    assert next(merged).start == 5.0
    assert read == [("L", 0.0), ("R", 5.0), ("L", 10.0)]


def test_identical_channels_are_noticed():
    samples = np.linspace(-0.5, 0.5, 1600, dtype=np.float32)
    assert same_channels(samples, samples.copy())
    assert not same_channels(samples, samples[::-1].copy())


def test_split_stereo_gives_each_channels_sentence_with_its_label(run_cli, shared_samples, tmp_path):
    recording = shared_samples / "stereo_diarization.wav"  # a different sentence on each channel
    run_cli(recording, "--model", TEST_MODEL, "--split-stereo", "-f", "txt,vtt,json", "-o", tmp_path)

    document = json.loads((tmp_path / "stereo_diarization.json").read_text())
    by_speaker = {
        speaker: " ".join(s["text"] for s in document["segments"] if s["speaker"] == speaker).lower()
        for speaker in (LEFT, RIGHT)
    }
    assert "wizard" in by_speaker[LEFT] and "curtain" in by_speaker[LEFT]
    assert "horizon" in by_speaker[RIGHT] and "distant" in by_speaker[RIGHT]
    assert "horizon" not in by_speaker[LEFT] and "wizard" not in by_speaker[RIGHT]
    starts = [s["start"] for s in document["segments"]]
    assert starts == sorted(starts)
    assert [s["id"] for s in document["segments"]] == list(range(len(starts)))
    assert_openai_document(document, words=False)  # each channel's seek and tokens kept through the merge
    assert document["settings"]["split_stereo"] is True

    lines = (tmp_path / "stereo_diarization.txt").read_text().splitlines()
    assert {line[:4] for line in lines} == {"[L] ", "[R] "}
    assert any("horizon" in line.lower() for line in lines if line.startswith("[R] "))
    vtt = (tmp_path / "stereo_diarization.vtt").read_text()
    assert "<v L>" in vtt and "<v R>" in vtt


def test_mono_audio_split_as_stereo_says_both_channels_are_the_same(tiny_whisper):
    samples = load_audio(SAMPLES / "hello.flac")
    stream = tiny_whisper((samples, samples.copy()), DecodeOptions(split_stereo=True))
    [note] = stream.take_notes()  # given before any segment is decoded
    assert "same audio" in note


def test_split_stereo_needs_two_channels(tiny_whisper):
    with pytest.raises(ValueError, match="left, right"):
        tiny_whisper(np.zeros(16000, np.float32), DecodeOptions(split_stereo=True))

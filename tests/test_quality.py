"""Quality flags and the repetition-loop guard: hand-built segments for the rules, real noise and silence for the model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import TEST_MODEL
from whisper_cli.options import DecodeOptions
from whisper_cli.quality import (
    MAX_COMPRESSION_RATIO,
    MAX_NO_SPEECH_PROB,
    MIN_AVG_LOGPROB,
    Repetition,
    checked,
    collapse_repetitions,
    is_suspect,
)
from whisper_cli.transcript import Segment, Word

MODEL = ("--model", TEST_MODEL)
LOOP_PREFIX = "Thank you. " * 6  # forced into the output, and the model goes on repeating it


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Ten seconds of white noise and of digital silence; sox -R makes the noise the same every run."""
    folder = tmp_path_factory.mktemp("quality")
    noise, silence = folder / "noise.wav", folder / "silence.wav"
    subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", str(noise), "synth", "10", "whitenoise", "vol", "0.3"], check=True)
    subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", str(silence), "trim", "0", "10"], check=True)
    return {"noise": noise, "silence": silence}


def _segment(text: str, **scores) -> Segment:
    return Segment(id=1, start=2.0, end=9.5, text=text, **scores)


def _timed(*texts: str) -> Segment:
    words = tuple(Word(float(i), i + 0.5, text, 0.9) for i, text in enumerate(texts))
    return Segment(id=1, start=0.0, end=float(len(texts)), text="".join(texts), words=words)


# --- suspect ------------------------------------------------------------------------------------


def test_good_scores_are_not_suspect():
    assert not is_suspect(_segment(" Hello.", avg_logprob=-0.3, no_speech_prob=0.05, compression_ratio=1.2))
    assert not is_suspect(_segment(" Hello."))  # no scores, no verdict


@pytest.mark.parametrize(
    "scores",
    [
        {"avg_logprob": MIN_AVG_LOGPROB - 0.01},
        {"compression_ratio": MAX_COMPRESSION_RATIO + 0.01},
        {"no_speech_prob": MAX_NO_SPEECH_PROB + 0.01},
    ],
)
def test_each_score_past_its_threshold_makes_a_segment_suspect(scores):
    assert is_suspect(_segment(" Hello.", **scores))


def test_thresholds_are_whispers_own_fallback_and_silence_thresholds():
    defaults = DecodeOptions()
    assert MAX_COMPRESSION_RATIO == defaults.compression_ratio_threshold
    assert MIN_AVG_LOGPROB == defaults.log_prob_threshold
    assert MAX_NO_SPEECH_PROB == defaults.no_speech_threshold


# --- repetition guard ---------------------------------------------------------------------------


def test_a_phrase_looping_in_a_segment_is_kept_once():
    segment = _segment(" I said thank you. Thank you. Thank you, thank you. Thank you. Thank you. Thank you. Thank")
    collapsed, found = collapse_repetitions(segment)
    assert collapsed.text == " I said thank you."
    assert found == [Repetition("thank you.", 7)]
    assert (collapsed.start, collapsed.end) == (segment.start, segment.end)


def test_text_after_the_loop_is_kept():
    text = " Go " + "on and on " * 8 + "until the end."
    assert collapse_repetitions(_segment(text))[0].text == " Go on and on until the end."


def test_short_or_few_repeats_are_speech_not_a_loop():
    for text in (" no, no, no, no, no", " Thank you. Thank you. Thank you. Thank you.", " very very very very very good"):
        assert collapse_repetitions(_segment(text)) == (_segment(text), [])


def test_one_word_loop_is_the_word_not_a_longer_phrase():
    collapsed, found = collapse_repetitions(_segment(" So the" + " the" * 11 + " end."))
    assert collapsed.text == " So the end."
    assert found == [Repetition("the", 12)]


def test_scripts_without_spaces_loop_by_characters():
    collapsed, found = collapse_repetitions(_segment(" " + "我们走吧" * 10 + "。好"))
    assert collapsed.text == " 我们走吧。好"
    assert found[0].count == 10


def test_with_word_timestamps_the_words_are_collapsed_and_the_text_rebuilt():
    segment = _timed(" So", *([" the"] * 12), " end.")
    collapsed, found = collapse_repetitions(segment)
    assert [word.text for word in collapsed.words] == [" So", " the", " end."]
    assert [word.start for word in collapsed.words] == [0.0, 1.0, 13.0]
    assert collapsed.text == " So the end."
    assert found == [Repetition(" the", 12)]


def test_checked_collapses_reports_through_the_callback_and_flags_suspect():
    notes: list[str] = []
    good = _segment(" Fine words.", avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.1)
    looping = _segment(" Thank you." * 9, avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.1)
    out = list(checked([good, looping], notes.append, label="R"))
    assert [segment.text for segment in out] == [" Fine words.", " Thank you."]
    assert [segment.suspect for segment in out] == [False, True]
    assert notes == ["[R] 2.0-9.5 s: 'Thank you.' repeated 9 times in a row (a Whisper repetition loop); kept once"]


def test_checked_is_lazy():
    def segments():
        yield _segment(" One.")
        raise AssertionError("read past the first segment")

    assert next(checked(segments(), print)).text == " One."


# --- real model on real noise, silence and a loop -------------------------------------------------


def test_noise_hallucination_is_kept_only_as_suspect_and_fallback_raises_the_temperature(run_cli, clips):
    # With the silence check off, tiny.en reads white noise as "Thank you so much for watching ...".
    greedy = json.loads(run_cli(clips["noise"], *MODEL, "-f", "json", "--no-speech-threshold", "none",
                                "--temperature", "0", "--temperature-increment-on-fallback", "0").stdout)
    assert greedy["segments"] and all(s["suspect"] and s["temperature"] == 0.0 for s in greedy["segments"])
    assert all(s["avg_logprob"] < MIN_AVG_LOGPROB for s in greedy["segments"])
    # That text fails --log-prob-threshold, so with a list faster-whisper retries at the next temperatures.
    fallback = json.loads(run_cli(clips["noise"], *MODEL, "-f", "json", "--no-speech-threshold", "none",
                                  "--temperature", "0,0.5,1").stdout)
    assert fallback["settings"]["temperature"] == [0.0, 0.5, 1.0]
    assert all(s["temperature"] in (0.5, 1.0) and s["suspect"] for s in fallback["segments"])


def test_noise_is_skipped_as_silence_by_default(run_cli, clips):
    assert run_cli(clips["noise"], *MODEL).stdout == ""


def test_silence_gives_nothing_or_only_suspect_segments(run_cli, clips):
    document = json.loads(run_cli(clips["silence"], *MODEL, "-f", "json").stdout)
    assert all(segment["suspect"] for segment in document["segments"])
    for key in ("avg_logprob", "no_speech_prob", "compression_ratio", "suspect"):
        assert all(key in segment for segment in document["segments"])


def test_real_repetition_loop_is_collapsed_and_noted_on_the_stream(tiny_whisper, clips):
    options = DecodeOptions(prefix=LOOP_PREFIX, no_speech_threshold=None, temperature=(0.0,))
    stream = tiny_whisper(str(clips["silence"]), options)
    segments = list(stream.segments)
    assert [segment.text for segment in segments] == [" Thank you."]
    assert segments[0].suspect
    [note] = stream.take_notes()
    assert "'Thank you.' repeated" in note and "kept once" in note
    assert stream.take_notes() == []


def test_repetition_loop_is_reported_on_stderr(run_cli, clips):
    result = run_cli(clips["silence"], *MODEL, "--prefix", LOOP_PREFIX, "--no-speech-threshold", "none",
                     "--temperature", "0", "--temperature-increment-on-fallback", "0")
    assert result.stdout == "Thank you.\n"
    assert "repeated" in result.stderr and "kept once" in result.stderr

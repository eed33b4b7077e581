"""Every decoding and subtitle control, end to end through `transcribe` on real models and real audio."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLES, TEST_MODEL
from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.errors import UsageError
from whisper_cli.options import DecodeOptions

MODEL = ("--model", TEST_MODEL)
HELLO = SAMPLES / "hello.flac"  # 5.6 s: "This recording was transcribed on your own computer."
GERMAN_CLIP = ("--clip-timestamps", "30,36")  # multilingual.mp3 is English, then German from 29.6 s


@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_samples) -> dict[str, Path]:
    """jfk.flac after 15 s and after 25 s of digital silence."""
    folder = tmp_path_factory.mktemp("controls")
    made = {}
    for seconds in (15, 25):
        made[f"jfk_after_{seconds}s"] = path = folder / f"jfk_after_{seconds}s.wav"
        subprocess.run(
            ["sox", str(shared_samples / "jfk.flac"), "-r", "16000", "-c", "1", str(path), "pad", str(seconds), "0"],
            check=True,
        )
    return made


def _one_error_line(result, flag: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag}: "), result.stderr
    assert result.stdout == ""


# --- every flag reaches faster-whisper ----------------------------------------------------------


def test_every_sequential_flag_reaches_whisper_model_transcribe(run_cli, transcribe_calls):
    result = run_cli(
        HELLO, *MODEL, "-f", "json", "--language", "English", "--beam-size", "2", "--best-of", "3", "--patience", "1.5",
        "--length-penalty", "0.9", "--repetition-penalty", "1.1", "--no-repeat-ngram-size", "4",
        "--temperature", "0", "--temperature-increment-on-fallback", "0.5", "--compression-ratio-threshold", "2.0",
        "--log-prob-threshold", "none", "--no-speech-threshold", "0.7", "--no-condition-on-previous-text",
        "--initial-prompt", "A recording.", "--hotwords", "computer", "--suppress-tokens", "-1,11",
        "--word-timestamps", "--hallucination-silence-threshold", "2", "--clip-timestamps", "0,5",
        "--no-suppress-blank", "--prepend-punctuations", "\"(", "--append-punctuations", "\".,",
    )
    expected = {
        "language": "en", "task": "transcribe", "beam_size": 2, "best_of": 3, "patience": 1.5, "length_penalty": 0.9,
        "repetition_penalty": 1.1, "no_repeat_ngram_size": 4, "temperature": [0.0, 0.5, 1.0],
        "compression_ratio_threshold": 2.0, "log_prob_threshold": None, "no_speech_threshold": 0.7,
        "condition_on_previous_text": False, "initial_prompt": "A recording.", "prefix": None, "hotwords": "computer",
        "suppress_tokens": [-1, 11], "word_timestamps": True, "hallucination_silence_threshold": 2.0,
        "clip_timestamps": [0.0, 5.0], "vad_filter": False, "suppress_blank": False, "prepend_punctuations": '"(',
        "append_punctuations": '".,', "multilingual": False, "prompt_reset_on_temperature": 0.5,
    }
    [(engine, kwargs)] = transcribe_calls
    assert engine == "WhisperModel"
    assert {key: kwargs[key] for key in expected} == expected
    settings = json.loads(result.stdout)["settings"]
    assert {key: settings[key] for key in expected} == expected
    assert "computer" in json.loads(result.stdout)["text"]


def test_batch_size_reaches_the_batched_pipeline_with_vad_and_warns_once_about_what_it_ignores(
    run_cli, transcribe_calls, shared_samples
):
    result = run_cli(
        shared_samples / "jfk.flac", *MODEL, "--batch-size", "2", "--vad-threshold", "0.4", "--min-speech-ms", "100",
        "--min-silence-ms", "500", "--speech-pad-ms", "200", "--max-speech-s", "20", "--temperature", "0,0.5",
    )
    [(engine, kwargs)] = transcribe_calls
    assert engine == "BatchedInferencePipeline" and kwargs["batch_size"] == 2
    assert kwargs["vad_filter"] is True  # --batch-size turns VAD on, as faster-whisper's own default
    assert kwargs["vad_parameters"] == {
        "threshold": 0.4, "min_speech_duration_ms": 100, "min_silence_duration_ms": 500, "speech_pad_ms": 200,
        "max_speech_duration_s": 20.0,
    }
    assert "ask not what your country can do for you" in result.stdout.lower()
    [warning] = result.stderr.strip().splitlines()
    assert warning.startswith("warning: --batch-size ignores --temperature fallback")
    assert "--max-speech-s" in warning


def test_batch_size_without_vad_decodes_audio_over_30_s_in_fixed_windows(run_cli, clips):
    # faster-whisper alone raises "No clip timestamps found" here.
    document = json.loads(run_cli(clips["jfk_after_25s"], *MODEL, "--batch-size", "2", "--no-vad", "-f", "json").stdout)
    assert document["settings"]["vad_filter"] is False
    assert "americans" in document["text"].lower() and "country" in document["text"].lower()
    assert max(segment["end"] for segment in document["segments"]) > 30


def test_prompt_reset_on_temperature_reaches_whisper_model_transcribe(run_cli, transcribe_calls):
    run_cli(HELLO, *MODEL, "--prompt-reset-on-temperature", "0.3")
    [(_, kwargs)] = transcribe_calls
    assert kwargs["prompt_reset_on_temperature"] == 0.3


def test_peer_spellings_reach_whisper_model_transcribe_as_ours(run_cli, transcribe_calls):
    result = run_cli(
        HELLO, *MODEL, "--beam_size", "2", "--word_timestamps", "True", "--condition_on_previous_text", "False",
        "--logprob_threshold", "None", "--suppress_blank", "False", "--output_format", "json",
    )
    [(_, kwargs)] = transcribe_calls
    assert (kwargs["beam_size"], kwargs["word_timestamps"], kwargs["condition_on_previous_text"]) == (2, True, False)
    assert kwargs["log_prob_threshold"] is None and kwargs["suppress_blank"] is False
    assert "computer" in json.loads(result.stdout)["text"]


@pytest.fixture(scope="module")
def forty_seconds(tmp_path_factory, shared_samples) -> Path:
    """40 s of English: the licence text of multilingual.mp3, then jfk.flac; two 30 s windows."""
    path = tmp_path_factory.mktemp("carry") / "licence_then_jfk.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(shared_samples / "multilingual.mp3"), "-i", str(shared_samples / "jfk.flac"),
         "-filter_complex", "[0:a]atrim=0:29[a];[a][1:a]concat=n=2:v=0:a=1", "-ar", "16000", "-ac", "1", str(path)],
        check=True,
    )
    return path


@pytest.fixture
def window_prompts(monkeypatch):
    """The prompt of every window faster-whisper decodes sequentially; the real get_prompt still builds it."""
    from faster_whisper import WhisperModel

    prompts: list[list[int]] = []
    real = WhisperModel.get_prompt

    def spy(self, *args, **kwargs):
        prompts.append(real(self, *args, **kwargs))
        return prompts[-1]

    monkeypatch.setattr(WhisperModel, "get_prompt", spy)
    return prompts


# A prompt of about 190 tokens: with the first window's text it is more than the half of the context a
# prompt may take, so faster-whisper alone cuts it off the second window's prompt.
LONG_PROMPT = "Glossary: " + ", ".join(f"term{i}" for i in range(60)) + "."


@pytest.mark.parametrize(
    "prompt, conditioning", [("A licence, then a speech.", "--no-condition-on-previous-text"), (LONG_PROMPT, "--condition-on-previous-text")]
)
@pytest.mark.parametrize("carry", [False, True])
def test_carry_initial_prompt_starts_every_windows_prompt(run_cli, tiny_whisper, window_prompts, forty_seconds, prompt, conditioning, carry):
    result = run_cli(forty_seconds, *MODEL, "--initial-prompt", prompt, conditioning, *(["--carry-initial-prompt"] if carry else []))
    assert "permission is hereby granted" in result.stdout.lower() and "ask not what" in result.stdout.lower()
    tokenizer = _tokenizer(tiny_whisper)
    carried = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt)]
    starts = [window[: len(carried)] == carried for window in window_prompts]
    assert len(starts) >= 2 and starts[0]  # the first window is prompted with it either way
    # With the long prompt, this also holds the text before it to what is left of half the context.
    assert starts[1:] == [carry] * (len(starts) - 1)


def _tokenizer(whisper):
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(whisper.model.hf_tokenizer, whisper.is_multilingual, task="transcribe", language="en")


# --- each control takes effect ------------------------------------------------------------------


def test_vad_skips_leading_silence_and_its_settings_take_effect(run_cli, clips):
    # Without VAD, Whisper starts the first segment at 0.0, over the silence.
    document = json.loads(run_cli(clips["jfk_after_15s"], *MODEL, "--vad", "-f", "json").stdout)
    assert document["segments"][0]["start"] >= 14.0
    assert "ask not what your country" in document["text"].lower()
    # All of jfk.flac is under 20 s of speech, so nothing is left to transcribe.
    assert run_cli(clips["jfk_after_15s"], *MODEL, "--vad", "--min-speech-ms", "20000").stdout == ""


def test_prefix_starts_the_transcript(run_cli):
    assert run_cli(HELLO, *MODEL, "--prefix", "Greetings, friends.").stdout.startswith("Greetings, friends.")


def test_suppress_tokens_keeps_those_tokens_out(run_cli):
    # Without it: "This recording was transcribed on your own computer." 11 is "," and 13 "." in Whisper's vocabulary.
    text = run_cli(HELLO, *MODEL, "--suppress-tokens", "-1,11,13").stdout
    assert "computer" in text and "." not in text and "," not in text


def test_initial_prompt_teaches_a_spelling(run_cli, shared_samples):
    assert "ComfyUI" in run_cli(shared_samples / "hotwords.mp3", *MODEL, "--initial-prompt", "ComfyUI").stdout


def test_word_timestamps_highlight_and_line_layout_on_real_output(run_cli, shared_samples, tmp_path):
    import srt as srt_parser
    import webvtt

    run_cli(
        shared_samples / "jfk.flac", *MODEL, "--word-timestamps", "--highlight-words", "--max-line-width", "24",
        "--max-line-count", "2", "--max-words-per-line", "4", "-f", "srt,vtt,json", "-o", tmp_path,
    )
    document = json.loads((tmp_path / "jfk.json").read_text())
    previous_end = 0.0
    for segment in document["segments"]:
        assert not segment["suspect"]  # clear speech
        words = segment["words"]
        assert "".join(word["word"] for word in words) == segment["text"]
        for word in words:
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"] <= document["duration"]
            assert word["start"] >= previous_end and 0 <= word["probability"] <= 1
            previous_end = word["end"]

    cues = list(srt_parser.parse((tmp_path / "jfk.srt").read_text()))
    assert cues and sum(cue.content.count("<u>") for cue in cues) == sum(len(s["words"]) for s in document["segments"])
    for cue in cues:
        lines = re.sub("</?u>", "", cue.content).split("\n")
        assert len(lines) <= 2
        assert all(len(line) <= 24 and len(line.split()) <= 4 for line in lines)
        assert cue.content.count("<u>") <= 1
    captions = webvtt.from_string((tmp_path / "jfk.vtt").read_text()).captions
    assert len(captions) == len(cues)


def test_english_only_model_refuses_other_languages(run_cli, tiny_whisper):
    _one_error_line(run_cli(HELLO, *MODEL, "--language", "de", expect=2), "--language")
    # A model that is English-only without ".en" in its name is caught once loaded.
    with pytest.raises(UsageError, match="English-only"):
        tiny_whisper(np.zeros(SAMPLE_RATE, np.float32), DecodeOptions(task="translate"))


@pytest.mark.parametrize(
    "args, flag",
    [
        (("--highlight-words", "-f", "srt"), "--highlight-words"),
        (("--prefix", "So", "--batch-size", "4"), "--prefix"),
        (("--hotwords", "ComfyUI", "--prefix", "So"), "--hotwords"),
        (("--hallucination-silence-threshold", "2"), "--hallucination-silence-threshold"),
        (("--task", "translate"), "--task"),
        (("--language", "en", "--detect-language-segments", "3"), "--detect-language-segments"),
        (("--language", "Klingon"), "--language"),
        (("--vad-threshold", "0.3"), "--vad-threshold"),
        (("--vad", "--clip-timestamps", "0,5"), "--clip-timestamps"),
        (("--batch-size", "4", "--clip-timestamps", "0,45"), "--clip-timestamps"),
        (("--max-line-width", "30"), "--max-line-width"),
        (("--max-line-count", "2", "-f", "srt"), "--max-line-count"),
        (("--temperature", "0,1", "--temperature-increment-on-fallback", "0.1"), "--temperature-increment-on-fallback"),
        (("--suppress-tokens", "eleven"), "--suppress-tokens"),
        (("--carry-initial-prompt",), "--carry-initial-prompt"),
        (("--carry-initial-prompt", "--initial-prompt", "Hi.", "--batch-size", "2"), "--carry-initial-prompt"),
        (("--append-punctuations", ".,"), "--append-punctuations"),
        (("--prompt-reset-on-temperature", "0.3", "--no-condition-on-previous-text"), "--prompt-reset-on-temperature"),
        (("--multilingual",), "--multilingual"),  # tiny.en is English-only
        (("--model_dir", "models"), "--model_dir"),
        (("--batch_size", "4"), "--batch_size"),
        (("--vad_filter", "yes"), "--vad_filter"),
    ],
)
def test_incompatible_combinations_are_one_line_usage_errors(run_cli, args, flag):
    _one_error_line(run_cli(HELLO, *MODEL, *args, expect=2), flag)


# --- multilingual: the bundled base model --------------------------------------------------------


def test_language_by_name_transcribes_german(run_base, shared_samples):
    document = json.loads(run_base(shared_samples / "multilingual.mp3", "--language", "German", *GERMAN_CLIP, "-f", "json").stdout)
    assert document["language"] == "de" and document["settings"]["language"] == "de"
    text = document["text"].lower()
    assert "software" in text and "dokumentation" in text


def test_translate_gives_english_and_json_records_the_detected_language(run_base, shared_samples):
    document = json.loads(run_base(shared_samples / "multilingual.mp3", "--task", "translate", *GERMAN_CLIP, "-f", "json").stdout)
    assert document["language"] == "de" and document["language_probability"] > 0.9
    words = set(re.findall(r"[a-z]+", document["text"].lower()))
    assert {"the", "documentation"} <= words
    assert not {"der", "die", "und", "dokumentationsdatein"} & words


def test_hotwords_spell_a_name_the_model_does_not_know(run_base, shared_samples):
    # Without hotwords, base hears "confu i".
    assert "ComfyUI" in run_base(shared_samples / "hotwords.mp3", "--language", "en", "--hotwords", "ComfyUI").stdout


def test_language_detection_over_several_windows_finds_speech_that_starts_late(base_whisper, shared_samples):
    german = load_audio(shared_samples / "multilingual.mp3")[int(29.6 * SAMPLE_RATE) : 36 * SAMPLE_RATE]
    audio = np.concatenate([np.zeros(30 * SAMPLE_RATE, np.float32), german])  # speech begins after one window
    first_window = base_whisper(audio, DecodeOptions()).info  # segments are lazy: only detection runs
    assert first_window.language != "de"
    two_windows = base_whisper(audio, DecodeOptions(language_detection_segments=2, language_detection_threshold=0.7)).info
    assert two_windows.language == "de" and two_windows.language_probability > 0.9
    assert two_windows.settings["language_detection_segments"] == 2

"""DecodeOptions: every field reaches faster-whisper, the command line maps onto it, and its usage checks."""

from __future__ import annotations

import inspect
from dataclasses import fields

import numpy as np
import pytest

from whisper_cli.errors import UsageError
from whisper_cli.languages import LANGUAGES, language_code
from whisper_cli.options import (
    DEFAULT_TEMPERATURES,
    DecodeOptions,
    VadOptions,
    check_usage,
    decode_options,
    parse_clip_timestamps,
    parse_language,
    parse_suppress_tokens,
    parse_temperatures,
    parse_threshold,
    subtitle_layout,
)
from whisper_cli.speakers import SPEAKER_FIELDS
from whisper_cli.writers import OutputFormat, SubtitleLayout

OURS = {"speech_first", "batch_size", "split_stereo", "carry_initial_prompt", "diarize", *SPEAKER_FIELDS}  # fields that are not transcribe() parameters
# transcribe() parameters deliberately left at faster-whisper's defaults (neither peer exposes them); a new one
# in an upgrade shows up here.
NOT_EXPOSED = {"log_progress", "without_timestamps", "max_initial_timestamp", "max_new_tokens", "chunk_length"}

# Options that change every engine argument from its default, sequential and batched.
SEQUENTIAL = DecodeOptions(
    language="de", task="translate", beam_size=2, best_of=3, patience=1.5, length_penalty=0.9,
    repetition_penalty=1.1, no_repeat_ngram_size=3, temperature=(0.0, 0.5), compression_ratio_threshold=2.0,
    log_prob_threshold=None, no_speech_threshold=0.7, condition_on_previous_text=False, initial_prompt="Hi.",
    hotwords="ComfyUI", suppress_tokens=(), word_timestamps=True, hallucination_silence_threshold=2.0,
    clip_timestamps=(1.0, 4.0), suppress_blank=False, prepend_punctuations="(",
    append_punctuations=".",
)
BATCHED = DecodeOptions(
    batch_size=4, vad_filter=True, vad_parameters=VadOptions(0.4, 100, 500, 200, 20.0), prefix=None,
    language_detection_segments=3, language_detection_threshold=0.8,
)


def _transcribe_signatures():
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    return inspect.signature(WhisperModel.transcribe), inspect.signature(BatchedInferencePipeline.transcribe)


# --- the guard: every field reaches faster-whisper ----------------------------------------------


def test_every_decode_option_is_a_parameter_of_whisper_model_transcribe():
    sequential, batched = _transcribe_signatures()
    names = {f.name for f in fields(DecodeOptions)} - OURS
    assert names <= set(sequential.parameters)
    assert names <= set(batched.parameters)
    assert set(sequential.parameters) - names - {"self", "audio"} == NOT_EXPOSED


def test_defaults_are_faster_whispers():
    sequential, _ = _transcribe_signatures()
    default = DecodeOptions()
    for name in ("beam_size", "best_of", "prompt_reset_on_temperature", "suppress_blank", "prepend_punctuations",
                 "append_punctuations", "multilingual", "condition_on_previous_text", "word_timestamps"):
        assert getattr(default, name) == sequential.parameters[name].default, name


def test_vad_options_are_faster_whispers_vad_options():
    from faster_whisper.vad import VadOptions as FasterVadOptions

    assert {f.name for f in fields(VadOptions)} <= {f.name for f in fields(FasterVadOptions)}
    assert VadOptions() == VadOptions(**{f.name: getattr(FasterVadOptions(), f.name) for f in fields(VadOptions)})


@pytest.mark.parametrize("options", [DecodeOptions(), SEQUENTIAL], ids=["defaults", "changed"])
def test_engine_kwargs_bind_to_whisper_model_transcribe_and_carry_every_field(options):
    sequential, _ = _transcribe_signatures()
    options.validate()
    kwargs = options.engine_kwargs()
    sequential.bind(object(), np.zeros(16000, np.float32), **kwargs)  # TypeError on an unknown name
    assert set(kwargs) == {f.name for f in fields(DecodeOptions)} - OURS


@pytest.mark.parametrize("options", [DecodeOptions(batch_size=8), BATCHED], ids=["defaults", "changed"])
def test_engine_kwargs_bind_to_the_batched_pipeline(options):
    _, batched = _transcribe_signatures()
    options.validate()
    kwargs = options.engine_kwargs(duration=12.0)
    batched.bind(object(), np.zeros(16000, np.float32), **kwargs)
    assert kwargs["batch_size"] == options.batch_size


def test_engine_kwargs_translate_types_faster_whisper_wants():
    kwargs = SEQUENTIAL.engine_kwargs()
    assert kwargs["temperature"] == [0.0, 0.5] and kwargs["suppress_tokens"] == []
    assert kwargs["clip_timestamps"] == [1.0, 4.0]
    assert DecodeOptions().engine_kwargs()["clip_timestamps"] == "0"
    assert BATCHED.engine_kwargs()["vad_parameters"] == {
        "threshold": 0.4, "min_speech_duration_ms": 100, "min_silence_duration_ms": 500, "speech_pad_ms": 200,
        "max_speech_duration_s": 20.0,
    }


def test_batched_clips_become_start_end_dicts():
    options = DecodeOptions(batch_size=2, clip_timestamps=(0.0, 11.0, 11.0, 22.0))
    assert options.engine_kwargs()["clip_timestamps"] == [{"start": 0.0, "end": 11.0}, {"start": 11.0, "end": 22.0}]


def test_batched_without_vad_cuts_long_audio_into_30_s_windows():
    # faster-whisper's batched pipeline raises for audio over 30 s with neither VAD nor clips.
    assert DecodeOptions(batch_size=2).engine_kwargs(duration=65.0)["clip_timestamps"] == [
        {"start": 0.0, "end": 30.0}, {"start": 30.0, "end": 60.0}, {"start": 60.0, "end": 65.0},
    ]
    assert DecodeOptions(batch_size=2).engine_kwargs(duration=20.0)["clip_timestamps"] is None
    assert DecodeOptions(batch_size=2, vad_filter=True).engine_kwargs(duration=65.0)["clip_timestamps"] is None


def test_settings_record_is_plain_json_data():
    import json

    record = BATCHED.as_record()
    assert record["vad_parameters"]["max_speech_duration_s"] == 20.0
    assert DecodeOptions().as_record()["vad_parameters"]["max_speech_duration_s"] is None  # inf is not JSON
    json.dumps(record, allow_nan=False)


# --- the command line maps onto DecodeOptions ---------------------------------------------------


def _command_params(*args: str) -> dict:
    """The `transcribe` command's parsed parameters, as its body receives them."""
    import typer

    from whisper_cli.cli import _single_command_app

    command = typer.main.get_command(_single_command_app())
    return command.make_context("transcribe", ["in.wav", *args]).params


def test_command_defaults_are_the_dataclass_defaults():
    params = _command_params()
    assert decode_options(params) == DecodeOptions()
    assert subtitle_layout(params) == SubtitleLayout()


def test_every_field_has_a_command_parameter_of_its_name():
    params = _command_params()
    assert {f.name for f in fields(DecodeOptions)} - {"vad_parameters"} <= set(params)
    assert {f"vad_{f.name}" for f in fields(VadOptions)} <= set(params)
    assert {f.name for f in fields(SubtitleLayout)} <= set(params)


def test_batch_size_turns_vad_on_unless_told_otherwise():
    assert decode_options(_command_params("--batch-size", "4")).vad_filter is True
    assert decode_options(_command_params("--batch-size", "4", "--no-vad")).vad_filter is False
    assert decode_options(_command_params("--batch-size", "4", "--clip-timestamps", "0,10")).vad_filter is False
    assert decode_options(_command_params("--vad")).vad_filter is True


def test_flags_named_unlike_their_fields_land_in_them():
    options = decode_options(_command_params(
        "--detect-language-segments", "3", "--language-threshold", "0.8", "--vad", "--vad-threshold", "0.3",
        "--min-speech-ms", "250", "--min-silence-ms", "500", "--speech-pad-ms", "100", "--max-speech-s", "12",
        "--no-condition-on-previous-text", "--log-prob-threshold", "none", "--language", "German",
    ))
    assert options.language_detection_segments == 3 and options.language_detection_threshold == 0.8
    assert options.vad_parameters == VadOptions(0.3, 250, 500, 100, 12.0)
    assert options.condition_on_previous_text is False and options.log_prob_threshold is None
    assert options.language == "de"


# --- the peers' spellings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "peer, ours",
    [
        (("--beam_size", "2", "--best_of", "3", "--length_penalty", "0.9"), ("--beam-size", "2", "--best-of", "3", "--length-penalty", "0.9")),
        (("--output_dir", "out", "--output_format", "srt", "--compute_type", "int8"), ("-o", "out", "-f", "srt", "--compute-type", "int8")),
        (("--model_directory", "/models/x", "--threads", "3", "--local_files_only", "True"), ("-m", "/models/x", "--cpu-threads", "3", "--offline")),
        (("--local_files_only", "False"), ()),
        (("--vad_filter", "True", "--vad_threshold", "0.3", "--vad_min_speech_duration_ms", "200",
          "--vad_max_speech_duration_s", "20", "--vad_min_silence_duration_ms", "500"),
         ("--vad", "--vad-threshold", "0.3", "--min-speech-ms", "200", "--max-speech-s", "20", "--min-silence-ms", "500")),
        (("--vad_filter", "false"), ("--no-vad",)),
        (("--condition_on_previous_text", "False", "--prompt_reset_on_temperature", "0.5"), ("--no-condition-on-previous-text",)),
        (("--logprob_threshold", "None", "--compression_ratio_threshold", "2", "--no_speech_threshold", "0.7"),
         ("--log-prob-threshold", "none", "--compression-ratio-threshold", "2", "--no-speech-threshold", "0.7")),
        (("--temperature_increment_on_fallback", "None"), ("--temperature-increment-on-fallback", "0")),
        (("--word_timestamps", "True", "--highlight_words", "True", "--max_line_width", "40", "--max_line_count", "2",
          "--max_words_per_line", "None", "--prepend_punctuations", "(", "--append_punctuations", ".", "-f", "srt"),
         ("--word-timestamps", "--highlight-words", "--max-line-width", "40", "--max-line-count", "2",
          "--prepend-punctuations", "(", "--append-punctuations", ".", "-f", "srt")),
        (("--suppress_blank", "False", "--suppress_tokens", "-1,11", "--initial_prompt", "Hi.", "--carry_initial_prompt", "True"),
         ("--no-suppress-blank", "--suppress-tokens", "-1,11", "--initial-prompt", "Hi.", "--carry-initial-prompt")),
        (("--repetition_penalty", "1.1", "--no_repeat_ngram_size", "3", "--clip_timestamps", "0,5"),
         ("--repetition-penalty", "1.1", "--no-repeat-ngram-size", "3", "--clip-timestamps", "0,5")),
        (("--hallucination_silence_threshold", "2", "--word_timestamps", "True"), ("--hallucination-silence-threshold", "2", "--word-timestamps")),
        (("--batched", "True"), ("--batch-size", "8")),
        (("--batched", "True", "--batch_size", "4"), ("--batch-size", "4")),
        (("--batched", "False"), ()),
        (("--multilingual", "True"), ("--multilingual",)),
        (("--multilingual", "False"), ()),
        (("--language", "None", "--beam_size=1"), ("--beam-size", "1")),
    ],
)
def test_peer_spellings_parse_to_the_same_options(peer, ours):
    assert _parsed(*peer) == _parsed(*ours)
    assert _parsed(*peer) != _parsed() or not ours  # the peer's flags were not dropped


def _parsed(*args: str) -> tuple:
    """What the command makes of its arguments: DecodeOptions and every other parameter as parsed."""
    params = _command_params(*args)
    return decode_options(params), {key: value for key, value in params.items() if key != "language"}


def test_a_peer_spelling_as_the_value_of_an_option_stays_a_value():
    params = _command_params("--initial-prompt", "--beam_size", "-qf", "--vad_filter")
    assert params["initial_prompt"] == "--beam_size" and params["output_format"] == ("--vad_filter",)
    assert params["beam_size"] == 5 and params["quiet"] is True


def test_every_peer_spelling_becomes_an_option_of_the_command():
    import typer

    from whisper_cli.cli import _single_command_app
    from whisper_cli.peer_flags import PEER_FLAGS

    command = typer.main.get_command(_single_command_app())
    ours = {name for param in command.params for name in [*param.opts, *param.secondary_opts]}
    for peer, entry in PEER_FLAGS.items():
        assert {entry.ours, *(entry.on or "").split()[:1], *(entry.off or "").split()[:1]} <= ours, peer
        assert peer not in ours  # a hidden spelling, not an option


@pytest.mark.parametrize("peer", ["--model_dir", "--verbose", "--fp16", "--device_index", "--hf_token"])
def test_peer_flags_that_mean_something_else_here_are_refused(peer):
    with pytest.raises(UsageError) as raised:
        _command_params(peer, "x")
    assert raised.value.subject == peer


def test_peer_spellings_are_hidden_from_help():
    import re
    import subprocess
    import sys

    from whisper_cli.peer_flags import PEER_FLAGS

    help_text = subprocess.run(
        [sys.executable, "-m", "whisper_cli", "--help"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    for flag in ("--multilingual", "--carry-initial-prompt", "--suppress-blank", "--prompt-reset-on-temperature",
                 "--prepend-punctuations", "--append-punctuations"):
        assert flag in help_text
    assert not re.findall(r"--[a-z]+_[a-z_]+", help_text)
    assert not [flag for flag in PEER_FLAGS if flag in help_text]


def test_readme_shows_the_table_of_peer_flags():
    from pathlib import Path

    from whisper_cli.peer_flags import markdown_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert markdown_table() in readme


# --- parsers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, increment, expected",
    [
        ("0", None, DEFAULT_TEMPERATURES),  # openai-whisper's default: 0 then +0.2 up to 1
        ("0", 0.25, (0.0, 0.25, 0.5, 0.75, 1.0)),
        ("0.3", None, (0.3, 0.5, 0.7, 0.9)),
        ("0", 0.0, (0.0,)),
        ("0.7", 0.0, (0.7,)),
        ("1", None, (1.0,)),
        ("0, 0.5,1", None, (0.0, 0.5, 1.0)),
    ],
)
def test_temperature_is_a_value_with_increments_or_a_list(value, increment, expected):
    assert parse_temperatures(value, increment) == expected


def test_temperature_list_with_an_increment_is_a_usage_error():
    with pytest.raises(UsageError, match="temperature-increment-on-fallback"):
        parse_temperatures("0,0.5", 0.2)
    with pytest.raises(UsageError, match="not a number"):
        parse_temperatures("warm")


def test_suppress_tokens_and_clip_timestamps_parse_comma_lists():
    assert parse_suppress_tokens("-1") == (-1,)
    assert parse_suppress_tokens("") == ()
    assert parse_suppress_tokens("-1, 11,13") == (-1, 11, 13)
    for bad in ("-2", "1.5", "comma"):
        with pytest.raises(UsageError, match="suppress-tokens"):
            parse_suppress_tokens(bad)
    assert parse_clip_timestamps(None) == parse_clip_timestamps("0") == ()
    assert parse_clip_timestamps("30,42.5") == (30.0, 42.5)
    with pytest.raises(UsageError, match="clip-timestamps"):
        parse_clip_timestamps("30,end")


def test_thresholds_take_none_to_turn_a_check_off():
    assert parse_threshold("none") is None and parse_threshold("OFF") is None
    assert parse_threshold("-1.5") == -1.5 and parse_threshold(2.4) == 2.4


@pytest.mark.parametrize("value, code", [("de", "de"), ("DE", "de"), ("German", "de"), ("haitian creole", "ht"),
                                         ("Mandarin", "zh"), ("yue", "yue"), ("auto", None), ("None", None), (None, None)])
def test_language_is_a_code_or_an_english_name(value, code):
    assert parse_language(value) == code


def test_unknown_language_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown language 'Klingon'"):
        parse_language("Klingon")


def test_language_table_matches_faster_whispers_tokenizer():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(LANGUAGES) == set(_LANGUAGE_CODES)
    assert all(language_code(name) == code for code, name in LANGUAGES.items())


# --- usage checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, flag",
    [
        (DecodeOptions(prefix="So", batch_size=4), "--prefix"),
        (DecodeOptions(prefix="So", hotwords="ComfyUI"), "--hotwords"),
        (DecodeOptions(hallucination_silence_threshold=2.0), "--hallucination-silence-threshold"),
        (DecodeOptions(language="de", language_detection_segments=3), "--detect-language-segments"),
        (DecodeOptions(language="de", language_detection_threshold=0.9), "--language-threshold"),
        (DecodeOptions(vad_parameters=VadOptions(min_silence_duration_ms=500)), "--min-silence-ms"),
        (DecodeOptions(vad_filter=True, clip_timestamps=(0.0, 5.0)), "--clip-timestamps"),
        (DecodeOptions(speech_first=True, batch_size=8), "--speech-first"),
        (DecodeOptions(clip_timestamps=(5.0, 2.0)), "--clip-timestamps"),
        (DecodeOptions(batch_size=2, clip_timestamps=(5.0,)), "--clip-timestamps"),
        (DecodeOptions(batch_size=2, clip_timestamps=(0.0, 45.0)), "--clip-timestamps"),
        (DecodeOptions(temperature=()), "--temperature"),
        (DecodeOptions(beam_size=0), "--beam-size"),
        (DecodeOptions(language="xx"), "--language"),
        (DecodeOptions(task="summarise"), "--task"),
        (DecodeOptions(multilingual=True, language="de"), "--multilingual"),
        (DecodeOptions(carry_initial_prompt=True), "--carry-initial-prompt"),
        (DecodeOptions(carry_initial_prompt=True, initial_prompt="Hi.", batch_size=2), "--carry-initial-prompt"),
        (DecodeOptions(prepend_punctuations="("), "--prepend-punctuations"),
        (DecodeOptions(prompt_reset_on_temperature=0.2, condition_on_previous_text=False), "--prompt-reset-on-temperature"),
    ],
)
def test_incompatible_or_invalid_options_are_usage_errors_naming_the_flag(options, flag):
    with pytest.raises(UsageError) as raised:
        options.validate()
    assert raised.value.subject == flag
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "layout, formats, flag",
    [
        (SubtitleLayout(highlight_words=True), (OutputFormat.SRT,), "--highlight-words"),
        (SubtitleLayout(max_line_width=30), (OutputFormat.TXT,), "--max-line-width"),
        (SubtitleLayout(max_words_per_line=3), (OutputFormat.JSON, OutputFormat.TSV), "--max-words-per-line"),
        (SubtitleLayout(max_line_count=2), (OutputFormat.SRT,), "--max-line-count"),
    ],
)
def test_subtitle_layout_that_would_do_nothing_is_a_usage_error(layout, formats, flag):
    with pytest.raises(UsageError) as raised:
        check_usage(DecodeOptions(), layout, formats)
    assert raised.value.subject == flag


def test_layout_for_several_formats_needs_only_one_subtitle_format():
    layout = SubtitleLayout(max_line_width=30, max_line_count=2)
    assert check_usage(DecodeOptions(), layout, tuple(OutputFormat)) == []


@pytest.mark.parametrize(
    "options, flag",
    [
        (DecodeOptions(language="de"), "--language"),
        (DecodeOptions(task="translate"), "--task"),
        (DecodeOptions(language_detection_segments=2), "--detect-language-segments"),
        (DecodeOptions(multilingual=True), "--multilingual"),
    ],
)
def test_english_only_model_name_rejects_other_languages_before_loading(options, flag):
    with pytest.raises(UsageError) as raised:
        check_usage(options, model="tiny.en")
    assert raised.value.subject == flag
    check_usage(options, model="base")  # multilingual, or unknown until loaded: the engine checks then
    check_usage(DecodeOptions(language="en"), model="Systran/faster-whisper-small.en")


def test_batched_mode_warns_once_about_each_changed_setting_it_ignores():
    options = DecodeOptions(
        batch_size=4, vad_filter=True, temperature=(0.0, 0.5), no_speech_threshold=None,
        vad_parameters=VadOptions(max_speech_duration_s=20.0), prompt_reset_on_temperature=0.3,
    )
    [warning] = check_usage(options)
    for flag in ("--temperature fallback", "--no-speech-threshold", "--max-speech-s", "--prompt-reset-on-temperature"):
        assert flag in warning
    assert "--log-prob-threshold" not in warning
    assert check_usage(DecodeOptions(batch_size=4)) == []  # the defaults are not the user's doing
    assert check_usage(DecodeOptions(temperature=(0.0, 0.5))) == []  # sequential honours them

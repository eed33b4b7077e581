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
from whisper_cli.writers import OutputFormat, SubtitleLayout

OURS = {"batch_size", "split_stereo", "diarize"}  # fields that are not transcribe() parameters
# transcribe() parameters deliberately left at faster-whisper's defaults; a new one in an upgrade shows up here.
NOT_EXPOSED = {
    "log_progress", "prompt_reset_on_temperature", "suppress_blank", "without_timestamps", "max_initial_timestamp",
    "prepend_punctuations", "append_punctuations", "multilingual", "max_new_tokens", "chunk_length",
}

# Options that change every engine argument from its default, sequential and batched.
SEQUENTIAL = DecodeOptions(
    language="de", task="translate", beam_size=2, best_of=3, patience=1.5, length_penalty=0.9,
    repetition_penalty=1.1, no_repeat_ngram_size=3, temperature=(0.0, 0.5), compression_ratio_threshold=2.0,
    log_prob_threshold=None, no_speech_threshold=0.7, condition_on_previous_text=False, initial_prompt="Hi.",
    hotwords="ComfyUI", suppress_tokens=(), word_timestamps=True, hallucination_silence_threshold=2.0,
    clip_timestamps=(1.0, 4.0),
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
                                         ("Mandarin", "zh"), ("yue", "yue"), ("auto", None), (None, None)])
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
        (DecodeOptions(clip_timestamps=(5.0, 2.0)), "--clip-timestamps"),
        (DecodeOptions(batch_size=2, clip_timestamps=(5.0,)), "--clip-timestamps"),
        (DecodeOptions(batch_size=2, clip_timestamps=(0.0, 45.0)), "--clip-timestamps"),
        (DecodeOptions(temperature=()), "--temperature"),
        (DecodeOptions(beam_size=0), "--beam-size"),
        (DecodeOptions(language="xx"), "--language"),
        (DecodeOptions(task="summarise"), "--task"),
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
        vad_parameters=VadOptions(max_speech_duration_s=20.0),
    )
    [warning] = check_usage(options)
    for flag in ("--temperature fallback", "--no-speech-threshold", "--max-speech-s"):
        assert flag in warning
    assert "--log-prob-threshold" not in warning
    assert check_usage(DecodeOptions(batch_size=4)) == []  # the defaults are not the user's doing
    assert check_usage(DecodeOptions(temperature=(0.0, 0.5))) == []  # sequential honours them

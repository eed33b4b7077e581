"""The decoding controls are declared once (options_spec) and the format list of --help comes from the writers."""

import inspect
from dataclasses import fields

import typer
from typer.testing import CliRunner

from whisper_cli.cli import _single_command_app, transcribe
from whisper_cli.formats import SubtitleLayout
from whisper_cli.options import DecodeOptions
from whisper_cli.options_spec import decoding_controls
from whisper_cli.writers import WRITERS


def _help() -> str:
    result = CliRunner().invoke(_single_command_app(), ["--help"], env={"COLUMNS": "400"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_decoding_control_is_a_flag_of_transcribe_and_a_field_it_sets():
    command = typer.main.get_command(_single_command_app())
    flags = {param.name for param in command.params}
    controls = list(inspect.signature(decoding_controls).parameters)
    assert set(controls) <= flags
    settable = {f.name for f in fields(DecodeOptions)} | {f.name for f in fields(SubtitleLayout)}
    assert {name.removeprefix("vad_") if name.startswith("vad_") and name != "vad_filter" else name for name in controls} - settable <= {
        "threshold", "min_speech_duration_ms", "min_silence_duration_ms", "speech_pad_ms", "max_speech_duration_s",
        "temperature_increment_on_fallback",
    }


def test_decoding_controls_sit_before_the_raw_input_flags_as_before():
    names = list(inspect.signature(transcribe).parameters)
    assert names.index("pack_batch") < names.index("language") < names.index("diarize") < names.index("input_format")
    assert set(transcribe.__annotations__) >= set(inspect.signature(decoding_controls).parameters)


def test_help_lists_every_format_with_its_writer_description():
    text = " ".join(_help().split())  # --help wraps lines
    for fmt, writer in WRITERS.items():
        assert f"{fmt.value} ({' '.join(writer.description.split())})" in text

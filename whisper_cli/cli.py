"""The Typer app: typed parameters -> RunConfig -> batch.run, and the one error -> exit-code mapping."""

from __future__ import annotations

import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .console import Reporter
from .device import COMPUTE_TYPES
from .errors import EXIT_CODE_MEANINGS, ExitCode, StdoutClosed, UsageError, WhisperCliError
from .models import BUNDLED_MODELS, MODEL_REPOS
from .options import DecodeOptions
from .writers import OutputFormat, SubtitleLayout

MODEL_PANEL = "Model and device"
OUTPUT_PANEL = "Output"
DECODE_PANEL = "Decoding"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


ComputeType = Enum("ComputeType", {name: name for name in COMPUTE_TYPES}, type=str)


class Task(str, Enum):
    transcribe = "transcribe"
    translate = "translate"


def _exit_codes_help() -> str:
    return "\n\n".join(f"{int(code):>3}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items())


EPILOG = "[bold]Exit codes[/bold]\n\n" + _exit_codes_help()


def parse_formats(values: list[str]) -> tuple[OutputFormat, ...]:
    """`-f srt,json -f vtt` or `-f all` -> unique formats in the order given."""
    names = [name.strip().lower() for value in values for name in value.split(",") if name.strip()]
    formats: list[OutputFormat] = []
    for name in names:
        chosen = list(OutputFormat) if name == "all" else [_format_named(name)]
        formats.extend(fmt for fmt in chosen if fmt not in formats)
    return tuple(formats) or (OutputFormat.TXT,)


def _format_named(name: str) -> OutputFormat:
    try:
        return OutputFormat(name)
    except ValueError:
        valid = ", ".join([fmt.value for fmt in OutputFormat] + ["all"])
        raise UsageError("--format", f"unknown format {name!r} (choose from {valid})") from None


def transcribe(
    inputs: Annotated[list[str], typer.Argument(help="Audio or video files; - reads stdin.", show_default=False)],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m",
            help=f"Size name ({', '.join(MODEL_REPOS)}), a local CTranslate2 model folder, or a hub repo id. "
            f"Bundled, so offline: {', '.join(BUNDLED_MODELS)}.",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = "base",
    device: Annotated[Device, typer.Option(help="Where to run; auto probes for a usable GPU.", rich_help_panel=MODEL_PANEL)] = Device.auto,
    compute_type: Annotated[
        ComputeType,
        typer.Option(help="CTranslate2 compute type; auto = float16 on GPU, int8 on CPU.", rich_help_panel=MODEL_PANEL),
    ] = "auto",
    cpu_threads: Annotated[int, typer.Option(min=0, help="CPU threads; 0 = every usable core.", rich_help_panel=MODEL_PANEL)] = 0,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Never touch the network (also HF_HUB_OFFLINE=1).", rich_help_panel=MODEL_PANEL),
    ] = False,
    output_format: Annotated[
        list[str],
        typer.Option(
            "--format", "-f",
            help="txt, srt, vtt, tsv, json, jsonl or all; several with commas (needs --output-dir).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = ["txt"],
    output_dir: Annotated[
        Optional[Path],
        typer.Option("--output-dir", "-o", help="Write <name>.<format> files here instead of stdout.", rich_help_panel=OUTPUT_PANEL),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.", rich_help_panel=OUTPUT_PANEL)] = False,
    language: Annotated[
        Optional[str], typer.Option("--language", "-l", help="Spoken language code (en, de, ...); default detects it.", rich_help_panel=DECODE_PANEL)
    ] = None,
    task: Annotated[Task, typer.Option(help="translate gives English text.", rich_help_panel=DECODE_PANEL)] = Task.transcribe,
    beam_size: Annotated[int, typer.Option(min=1, help="Beam width.", rich_help_panel=DECODE_PANEL)] = 5,
    word_timestamps: Annotated[bool, typer.Option(help="Time every word (JSON/JSONL words).", rich_help_panel=DECODE_PANEL)] = False,
    vad: Annotated[bool, typer.Option(help="Skip non-speech with Silero VAD.", rich_help_panel=DECODE_PANEL)] = False,
    batch_size: Annotated[
        int, typer.Option(min=0, help="0 decodes sequentially; N > 0 batches N windows of one file.", rich_help_panel=DECODE_PANEL)
    ] = 0,
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=lambda v: _print_version(v))
    ] = False,
) -> None:
    """Transcribe audio or video to text, streaming each segment as soon as it is decoded.

    Example: transcribe interview.m4a --model medium -f srt -o subtitles/
    """
    from .batch import ModelSettings, RunConfig, run

    reporter = Reporter(quiet=quiet)
    config = RunConfig(
        inputs=tuple(inputs),
        formats=parse_formats(output_format),
        output_dir=output_dir,
        decode=DecodeOptions(
            language=language,
            task=task.value,
            beam_size=beam_size,
            best_of=beam_size,
            word_timestamps=word_timestamps,
            vad_filter=vad,
            batch_size=batch_size,
        ),
        layout=SubtitleLayout(),
        model=ModelSettings(model, device.value, compute_type.value, cpu_threads, offline or None),
    )
    raise typer.Exit(run(config, reporter).exit_code)


def probe_command(
    device: Annotated[Device, typer.Option(help="Device to probe.")] = Device.auto,
    compute_type: Annotated[ComputeType, typer.Option(help="Compute type to check.")] = "auto",
) -> None:
    """Show the devices, compute types and libraries found, and what --device auto would pick."""
    import json

    from .device import describe

    typer.echo(json.dumps(describe(device.value, compute_type.value, include_torch=True), indent=2))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"whisper-cli {__version__}")
        raise typer.Exit()


def _single_command_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich")
    app.command(epilog=EPILOG)(transcribe)
    return app


def _multi_command_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich", no_args_is_help=True)
    app.command("transcribe", epilog=EPILOG)(transcribe)
    app.command("probe")(probe_command)
    return app


def main() -> None:
    """Entry point of `transcribe` and `python -m whisper_cli`."""
    _run(_single_command_app())


def whisper_cli_main() -> None:
    """Entry point of `whisper-cli` (transcribe, probe)."""
    _run(_multi_command_app())


def _run(app: typer.Typer) -> None:
    """The one place where failures become exit codes."""
    import click

    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    reporter = Reporter()
    try:
        # Without standalone mode, click returns typer.Exit's code instead of raising it.
        returned = app(standalone_mode=False)
        code = returned if isinstance(returned, int) else ExitCode.OK
    except click.ClickException as error:
        error.show()
        code = ExitCode.USAGE if isinstance(error, click.UsageError) else ExitCode.FAILED
    except StdoutClosed:
        code = _quiet_broken_pipe()
    except WhisperCliError as error:
        reporter.error(str(error))
        code = error.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        reporter.error("interrupted")
        code = ExitCode.INTERRUPTED
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _quiet_broken_pipe()
    sys.exit(int(code))


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _quiet_broken_pipe() -> ExitCode:
    # Point stdout at /dev/null so Python's exit-time flush cannot raise a second time.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return ExitCode.BROKEN_PIPE

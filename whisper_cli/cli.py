"""The Typer app: typed parameters -> RunConfig -> batch.run, and the one error -> exit-code mapping."""

import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .console import Reporter, is_terminal
from .commands import ComputeType, Device, ExecutorKind, app_options, completion_command, print_version, probe_command
from .errors import EXIT_CODE_MEANINGS, ExitCode, StdoutClosed, UsageError, WhisperCliError
from .help_format import GroupedHelpCommand
from .models import BUNDLED_MODELS, MODEL_REPOS, check_model_name
from .peer_flags import PeerFlagsCommand
from .options import check_usage, decode_options, subtitle_layout
from .options_spec import add_decoding_controls
from .inputs import STDIN_NAME
from .inputs import help_text as inputs_help
from .manifest import help_text as resume_help
from .audio_raw import RawEncoding, raw_format
from .progress import LogFormat
from .stdout_guard import GuardedStdout
from .usage_errors import describe as describe_usage_error
from .writers import WRITERS, OutputFormat

MODEL_PANEL = "Model and device"
OUTPUT_PANEL = "Output"
BATCH_PANEL = "Batch"
RAW_PANEL = "Raw PCM input"
LIVE_PANEL = "Live streams"

STOP_SIGNALS = {signal.SIGINT: (ExitCode.INTERRUPTED, "interrupted"), signal.SIGTERM: (ExitCode.TERMINATED, "terminated")}


def _exit_codes_help() -> str:
    # "\b" keeps click from re-wrapping the table into one paragraph.
    return "\b\n" + "\n".join(f"{int(code):>3}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items())


EPILOG = "Exit codes:\n\n" + _exit_codes_help() + "\n\nInputs and resuming:\n\n" + inputs_help() + "\n\n" + resume_help()


def format_list() -> str:
    """The formats for --help, from each writer's description."""
    return ", ".join(f"{fmt.value} ({writer.description})" for fmt, writer in WRITERS.items())


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
    ctx: typer.Context,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="INPUT",
            help="Audio or video files, folders (searched for media files), or quoted patterns ('calls/**/*.m4a'); - reads stdin.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m",
            metavar="NAME",
            help=f"Size name ({', '.join(MODEL_REPOS)}), a local CTranslate2 model folder, or a hub repo id. "
            f"Bundled, so offline: {', '.join(BUNDLED_MODELS)}.",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = "base",
    device: Annotated[Device, typer.Option(help="Where to run; auto probes for a usable GPU.", rich_help_panel=MODEL_PANEL)] = Device.auto,
    compute_type: Annotated[
        ComputeType,
        typer.Option(metavar="TYPE", help="CTranslate2 compute type; auto = float16 on GPU, int8 on CPU.", rich_help_panel=MODEL_PANEL),
    ] = "auto",
    cpu_threads: Annotated[int, typer.Option(metavar="N", min=0, help="CPU threads; 0 = every usable core.", rich_help_panel=MODEL_PANEL)] = 0,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Never touch the network (also HF_HUB_OFFLINE=1).", rich_help_panel=MODEL_PANEL),
    ] = False,
    output_format: Annotated[
        list[str],
        typer.Option(
            "--format", "-f",
            metavar="FORMATS",
            help=f"{format_list()} or all; several with commas (needs --output-dir).",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = ["txt"],
    output_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--output-dir", "-o",
            metavar="DIR",
            help="Write <name>.<format> files here, mirroring the input folders. Without it one file streams to stdout, "
            "and several are written next to each input.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.", rich_help_panel=OUTPUT_PANEL)] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive/--no-recursive", help="Search folders' sub-folders too.", rich_help_panel=BATCH_PANEL)
    ] = True,
    files_from: Annotated[
        Optional[str],
        typer.Option(
            "--files-from", metavar="LIST",
            help="Also transcribe the paths in LIST, one per line (or NUL-separated, as find -print0); - reads stdin.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Transcribe again inputs whose outputs are complete for the same model and settings (skipped otherwise).",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            help="jsonl: one JSON event per line on stderr (started, skipped, done, failed, summary) instead of bars and a table.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = LogFormat.text,
    workers: Annotated[
        Optional[int],
        typer.Option(
            metavar="N", min=1, show_default=False, rich_help_panel=BATCH_PANEL,
            help="Model replicas, each in a process of its own, each with --cpu-threads (default: cores / N) [default: 1, or one per --device-index].",
        ),
    ] = None,
    device_index: Annotated[
        Optional[str],
        typer.Option(metavar="0,1,...", show_default=False, rich_help_panel=BATCH_PANEL, help="With --device cuda: the GPUs the workers run on, in turn."),
    ] = None,
    executor: Annotated[
        ExecutorKind,
        typer.Option(rich_help_panel=BATCH_PANEL, help="Where a batch runs: local (this machine), or ray (actors on a Ray cluster; pip install 'whisper-cli[ray]')."),
    ] = ExecutorKind.local,
    ray_address: Annotated[
        Optional[str],
        typer.Option(metavar="ADDRESS", envvar="RAY_ADDRESS", show_default=False, rich_help_panel=BATCH_PANEL, help="With --executor ray: the cluster to join (default: a local Ray, started and stopped)."),
    ] = None,
    prefetch: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0, max=2, help="Files decoded in the background ahead of the one being transcribed; 0 turns it off.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = 1,
    pack: Annotated[
        bool,
        typer.Option(
            "--pack/--no-pack",
            help="Pack short clips (<= 25 s) of a batch into shared 30 s windows: several times faster on folders of "
            "short recordings; --no-pack transcribes each file alone.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = True,
    pack_batch: Annotated[
        Optional[int],
        typer.Option(
            "--pack-batch",
            metavar="N",
            min=1,
            help="Packed windows decoded at once. Default: 1 on a CPU, 4 on a GPU. More is faster on CPUs with "
            "AVX-512 or AMX and costs memory (base, beam 5: about 90 MB a window).",
            rich_help_panel=BATCH_PANEL,
            show_default=False,
        ),
    ] = None,
    input_format: Annotated[
        Optional[RawEncoding],
        typer.Option(
            "--input-format", help="The input is headerless PCM in this encoding (arecord, sox -t raw, parec, ffmpeg -f s16le).",
            rich_help_panel=RAW_PANEL, show_default=False,
        ),
    ] = None,
    sample_rate: Annotated[
        Optional[int],
        typer.Option("--sample-rate", metavar="HZ", help="Sample rate of --input-format audio [default: 16000].", rich_help_panel=RAW_PANEL, show_default=False),
    ] = None,
    channels: Annotated[
        Optional[int],
        typer.Option("--channels", metavar="N", help="Interleaved channels of --input-format audio [default: 1].", rich_help_panel=RAW_PANEL, show_default=False),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Transcribe a never-ending stream (INPUT - or a FIFO) as it arrives: final segments stream to stdout (or to files under -o that grow).",
            rich_help_panel=LIVE_PANEL,
        ),
    ] = False,
    partials: Annotated[
        bool,
        typer.Option("--partials", help='With --live -f jsonl, also provisional lines ("final": false), replaced by the next with the same id.', rich_help_panel=LIVE_PANEL),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=lambda v: print_version(v))
    ] = False,
    **decoding,  # the decoding controls of options_spec, placed before --input-format in the signature
) -> None:
    """Transcribe audio or video to text, streaming each segment as soon as it is decoded.

    Example: transcribe interview.m4a --model medium -f srt -o subtitles/

    A folder, resumable (a re-run skips finished files): transcribe recordings/ -f srt,json -o transcripts/
    """
    from .batch import ModelSettings, RunConfig, run, validate
    from .run_config import gpu_indices

    reporter = Reporter(quiet=quiet)
    check_model_name(model)
    formats = parse_formats(output_format)
    decode, layout = decode_options(ctx.params), subtitle_layout(ctx.params)
    if pack_batch is not None and not pack:
        raise UsageError("--pack-batch", "has no effect with --no-pack")
    raw = raw_format(input_format, sample_rate, channels)
    for warning in check_usage(decode, layout, formats, model):
        reporter.warn(warning)
    model_settings = ModelSettings(model, device.value, compute_type.value, cpu_threads, offline or None)
    if partials and not live:
        raise UsageError("--partials", "needs --live")
    if live:
        from .live_run import live_command

        raise typer.Exit(live_command(tuple(inputs or ()), formats, output_dir, decode, layout, raw, partials, model_settings, reporter, overwrite))
    config = RunConfig(
        inputs=tuple(inputs or ()),
        formats=formats,
        output_dir=output_dir,
        decode=decode,
        layout=layout,
        model=model_settings,
        recursive=recursive,
        files_from=files_from,
        overwrite=overwrite,
        log_format=log_format,
        prefetch=prefetch,
        workers=workers or len(gpu_indices(device_index)) or 1,
        device_index=gpu_indices(device_index),
        executor=executor.value,
        ray_address=ray_address,
        pack=pack,
        pack_batch=pack_batch,
        raw=raw,
    )
    validate(config)
    _say_when_reading_stdin(config, reporter)
    raise typer.Exit(run(config, reporter).exit_code)


add_decoding_controls(transcribe, before="input_format")


def _say_when_reading_stdin(config, reporter: Reporter) -> None:
    """Someone at a terminal would otherwise look at a blank screen while `sleep 30 | transcribe -` waits."""
    if config.inputs == (STDIN_NAME,) and reporter.chatty and sys.stdin is not None and not is_terminal(sys.stdin):
        reporter.info("reading audio from stdin (until it ends; Ctrl-C stops)")


# Typer's --install-completion and --show-completion cost --help nothing: Typer imports its completion
# code (and shellingham) either way.
APP_SETTINGS = dict(add_completion=True, pretty_exceptions_enable=False, rich_markup_mode=None)
COMMAND_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _single_command_app() -> typer.Typer:
    app = typer.Typer(**APP_SETTINGS, context_settings=COMMAND_SETTINGS)
    app.command(cls=PeerFlagsCommand, epilog=EPILOG, context_settings=COMMAND_SETTINGS)(transcribe)
    return app


def _multi_command_app() -> typer.Typer:
    app = typer.Typer(**APP_SETTINGS, no_args_is_help=True, context_settings=COMMAND_SETTINGS)
    app.callback()(app_options)
    app.command("transcribe", cls=PeerFlagsCommand, epilog=EPILOG, context_settings=COMMAND_SETTINGS)(transcribe)
    app.command("probe", cls=GroupedHelpCommand, context_settings=COMMAND_SETTINGS)(probe_command)
    from .serve.command import serve_command  # light: the server itself is imported when serve runs

    app.command("serve", cls=GroupedHelpCommand, context_settings=COMMAND_SETTINGS)(serve_command)
    app.command("completion", cls=GroupedHelpCommand, context_settings=COMMAND_SETTINGS)(completion_command)
    return app


def main() -> None:
    """Entry point of `transcribe` and `python -m whisper_cli`."""
    _run(_single_command_app())


def whisper_cli_main() -> None:
    """Entry point of `whisper-cli` (transcribe, probe, serve, completion)."""
    _run(_multi_command_app())


def _run(app: typer.Typer) -> None:
    """The one place where failures become exit codes."""
    # click's exceptions from wherever this Typer takes click: typer 0.26+ vendors its own copy (and keeps
    # Abort elsewhere: typer.Abort is the name every version exports).
    click_exceptions = sys.modules[typer.BadParameter.__module__]
    received: list[int] = []  # the stop signal that arrived, if one did

    def stop(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt  # so every clean-up path of Ctrl-C runs, for SIGTERM too

    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # ignored by the parent (nohup, `&` in a script): keep it so
            signal.signal(signum, stop)
    reporter = Reporter()
    real_stdout = sys.stdout
    sys.stdout = guarded = GuardedStdout(real_stdout)
    try:
        code = _run_app(app, click_exceptions, reporter, received)
        try:
            guarded.flush()
        except WhisperCliError as error:
            code = _report(error, reporter) if code == ExitCode.OK else code
    finally:
        sys.stdout = real_stdout
        guarded.settle()
    sys.exit(int(code))


def _run_app(app: typer.Typer, click_exceptions, reporter: Reporter, received: list[int]) -> int:
    try:
        # Without standalone mode, click returns typer.Exit's code instead of raising it.
        returned = app(standalone_mode=False)
        code = returned if isinstance(returned, int) else ExitCode.OK
    except click_exceptions.ClickException as error:
        code = _report_click_error(error, click_exceptions, reporter)
    except WhisperCliError as error:
        code = _report(error, reporter)
    except (KeyboardInterrupt, typer.Abort):
        received.append(signal.SIGINT)
    # Typer versions differ in what a KeyboardInterrupt becomes (an Abort, or a silent exit 130), so the
    # signal that arrived decides the code and the message.
    if received:
        code, message = STOP_SIGNALS[received[0]]
        reporter.error(message)
    return code


def _report(error: WhisperCliError, reporter: Reporter) -> ExitCode:
    if not isinstance(error, StdoutClosed):  # `| head`: the reader knows, and stderr may be gone too
        reporter.error(str(error))
    return error.exit_code


def _report_click_error(error, click_exceptions, reporter: Reporter) -> int:
    if type(error).__name__ == "NoArgsIsHelpError":  # click 8.2+: `whisper-cli` alone shows the help
        error.show()
        return ExitCode.USAGE
    if isinstance(error, click_exceptions.UsageError):
        reporter.error(describe_usage_error(error))
        return ExitCode.USAGE
    reporter.error(error.format_message())
    return ExitCode.FAILED

"""The Typer app: typed parameters -> RunConfig -> batch.run, and the one error -> exit-code mapping."""

import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .console import Reporter, is_terminal
from .device_names import COMPUTE_TYPES
from .errors import EXIT_CODE_MEANINGS, ExitCode, StdoutClosed, UsageError, WhisperCliError
from .help_format import GroupedHelpCommand
from .models import BUNDLED_MODELS, MODEL_REPOS, check_model_name
from .peer_flags import PeerFlagsCommand
from .options import APPEND_PUNCTUATIONS, PREPEND_PUNCTUATIONS, check_usage, decode_options, parse_threshold, subtitle_layout
from .inputs import STDIN_NAME
from .inputs import help_text as inputs_help
from .manifest import help_text as resume_help
from .audio_raw import RawEncoding, raw_format
from .progress import LogFormat
from .stdout_guard import GuardedStdout
from .usage_errors import describe as describe_usage_error
from .writers import OutputFormat

MODEL_PANEL = "Model and device"
OUTPUT_PANEL = "Output"
LANGUAGE_PANEL = "Language and task"
DECODE_PANEL = "Decoding"
FALLBACK_PANEL = "Fallback and quality"
WORDS_PANEL = "Word timestamps"
LAYOUT_PANEL = "Subtitle layout (srt, vtt)"
VAD_PANEL = "VAD, batching and stereo"
BATCH_PANEL = "Batch"
RAW_PANEL = "Raw PCM input"
LIVE_PANEL = "Live streams"

STOP_SIGNALS = {signal.SIGINT: (ExitCode.INTERRUPTED, "interrupted"), signal.SIGTERM: (ExitCode.TERMINATED, "terminated")}


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


ComputeType = Enum("ComputeType", {name: name for name in COMPUTE_TYPES}, type=str)


class ExecutorKind(str, Enum):
    local = "local"
    ray = "ray"


class Task(str, Enum):
    transcribe = "transcribe"
    translate = "translate"


def _exit_codes_help() -> str:
    # "\b" keeps click from re-wrapping the table into one paragraph.
    return "\b\n" + "\n".join(f"{int(code):>3}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items())


EPILOG = "Exit codes:\n\n" + _exit_codes_help() + "\n\nInputs and resuming:\n\n" + inputs_help() + "\n\n" + resume_help()


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
            help="txt, srt, vtt, tsv, json, jsonl or all; several with commas (needs --output-dir).",
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
    # Decoding controls are named as the DecodeOptions and SubtitleLayout fields they set (VAD ones
    # as vad_<VadOptions field>): options.decode_options() and subtitle_layout() read them by name.
    language: Annotated[
        Optional[str],
        typer.Option(
            "--language", "-l", help="Spoken language: a code (de) or an English name (German); default detects it.",
            metavar="LANG",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = None,
    task: Annotated[
        Task, typer.Option(help="translate: English text from speech in any language (multilingual models).", rich_help_panel=LANGUAGE_PANEL)
    ] = Task.transcribe,
    language_detection_segments: Annotated[
        int,
        typer.Option(
            "--detect-language-segments", min=1, metavar="N",
            help="Detect the language over up to N 30 s windows: the first one surer than --language-threshold wins, else a vote.",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = 1,
    language_detection_threshold: Annotated[
        float,
        typer.Option(
            "--language-threshold", metavar="PROB", min=0.0, max=1.0, help="How sure of its language a window must be to end the detection.",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = 0.5,
    multilingual: Annotated[
        bool,
        typer.Option(
            "--multilingual", help="Detect the language of every 30 s window (speech that switches language); "
            "each segment's language in JSON/JSONL.",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = False,
    beam_size: Annotated[int, typer.Option(metavar="N", min=1, help="Beam width at temperature 0.", rich_help_panel=DECODE_PANEL)] = 5,
    best_of: Annotated[int, typer.Option(metavar="N", min=1, help="Candidates sampled at a temperature above 0.", rich_help_panel=DECODE_PANEL)] = 5,
    patience: Annotated[float, typer.Option(metavar="FACTOR", min=0.0, help="Beam search patience factor.", rich_help_panel=DECODE_PANEL)] = 1.0,
    length_penalty: Annotated[float, typer.Option(metavar="FACTOR", help="Exponential length penalty of beam search.", rich_help_panel=DECODE_PANEL)] = 1.0,
    repetition_penalty: Annotated[
        float, typer.Option(metavar="FACTOR", min=0.0, help="Above 1 penalises tokens already generated.", rich_help_panel=DECODE_PANEL)
    ] = 1.0,
    no_repeat_ngram_size: Annotated[
        int, typer.Option(min=0, metavar="N", help="Never repeat a sequence of N tokens; 0 = off.", rich_help_panel=DECODE_PANEL)
    ] = 0,
    initial_prompt: Annotated[
        Optional[str], typer.Option(metavar="TEXT", help="Text that primes the first window: names, spelling, punctuation style.", rich_help_panel=DECODE_PANEL)
    ] = None,
    carry_initial_prompt: Annotated[
        bool,
        typer.Option(
            "--carry-initial-prompt", help="Prompt every window with --initial-prompt, not only the first (as openai-whisper).",
            rich_help_panel=DECODE_PANEL,
        ),
    ] = False,
    prefix: Annotated[Optional[str], typer.Option(metavar="TEXT", help="Text the transcript starts with.", rich_help_panel=DECODE_PANEL)] = None,
    hotwords: Annotated[Optional[str], typer.Option(metavar="TEXT", help="Words or phrases to favour: names, jargon.", rich_help_panel=DECODE_PANEL)] = None,
    suppress_tokens: Annotated[
        str,
        typer.Option(
            metavar="IDS", help='Token ids never to emit, comma-separated; -1 = Whisper\'s default symbols, "" = none.',
            rich_help_panel=DECODE_PANEL,
        ),
    ] = "-1",
    suppress_blank: Annotated[
        bool,
        typer.Option(
            "--suppress-blank/--no-suppress-blank", help="Never start a window's text with a blank or its end.",
            rich_help_panel=DECODE_PANEL,
        ),
    ] = True,
    clip_timestamps: Annotated[
        Optional[str],
        typer.Option(
            metavar="START,END,...", help="Decode only these spans, in seconds (30,42,60,75); a last START runs to the end.",
            rich_help_panel=DECODE_PANEL,
        ),
    ] = None,
    temperature: Annotated[
        str, typer.Option(metavar="T[,T...]", help="Sampling temperature, or a comma list to try in turn.", rich_help_panel=FALLBACK_PANEL)
    ] = "0",
    temperature_increment_on_fallback: Annotated[
        Optional[float],
        typer.Option(
            min=0.0, metavar="STEP",
            help="With one --temperature T, retry a failed window at T+STEP, T+2*STEP ... up to 1 (default 0.2; 0 = never).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = None,
    compression_ratio_threshold: Annotated[
        Optional[float],
        typer.Option(
            parser=parse_threshold, metavar="RATIO|none", help="Retry a window whose text compresses better than this (repetitive).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = 2.4,
    log_prob_threshold: Annotated[
        Optional[float],
        typer.Option(
            parser=parse_threshold, metavar="LOGPROB|none", help="Retry a window whose average token log probability is lower.",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = -1.0,
    no_speech_threshold: Annotated[
        Optional[float],
        typer.Option(
            parser=parse_threshold, metavar="PROB|none",
            help="Skip a window as silence above this no-speech probability (if its log probability is low too).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = 0.6,
    condition_on_previous_text: Annotated[
        bool,
        typer.Option(
            "--condition-on-previous-text/--no-condition-on-previous-text",
            help="Prompt each window with the text before it; off resists repetition loops.", rich_help_panel=FALLBACK_PANEL,
        ),
    ] = True,
    prompt_reset_on_temperature: Annotated[
        float,
        typer.Option(
            metavar="T", min=0.0, max=1.0,
            help="A window that needed a temperature above T prompts the next one with no previous text.",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = 0.5,
    hallucination_silence_threshold: Annotated[
        Optional[float],
        typer.Option(
            min=0.0, metavar="SECONDS",
            help="Skip silences longer than this around a likely hallucination (needs --word-timestamps).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = None,
    word_timestamps: Annotated[
        bool, typer.Option(help="Time every word: start, end and probability in JSON/JSONL.", rich_help_panel=WORDS_PANEL)
    ] = False,
    highlight_words: Annotated[
        bool, typer.Option(help="Underline each word in srt/vtt as it is spoken (needs --word-timestamps).", rich_help_panel=WORDS_PANEL)
    ] = False,
    prepend_punctuations: Annotated[
        str,
        typer.Option(metavar="CHARS", help="Punctuation joined to the word after it.", rich_help_panel=WORDS_PANEL),
    ] = PREPEND_PUNCTUATIONS,
    append_punctuations: Annotated[
        str,
        typer.Option(metavar="CHARS", help="Punctuation joined to the word before it.", rich_help_panel=WORDS_PANEL),
    ] = APPEND_PUNCTUATIONS,
    max_line_width: Annotated[
        Optional[int], typer.Option(min=1, metavar="CHARS", help="Break lines at words within this many characters.", rich_help_panel=LAYOUT_PANEL)
    ] = None,
    max_line_count: Annotated[
        Optional[int], typer.Option(min=1, metavar="LINES", help="Lines per cue; a longer segment becomes several cues.", rich_help_panel=LAYOUT_PANEL)
    ] = None,
    max_words_per_line: Annotated[Optional[int], typer.Option(min=1, metavar="WORDS", help="Words per line.", rich_help_panel=LAYOUT_PANEL)] = None,
    vad_filter: Annotated[
        Optional[bool],
        typer.Option("--vad/--no-vad", help="Skip non-speech with Silero VAD. Default: on with --batch-size, else off.", rich_help_panel=VAD_PANEL),
    ] = None,
    speech_first: Annotated[
        bool, typer.Option("--speech-first", help="Over 30 s: VAD first, then speech windows 8 at a time with fallback.", rich_help_panel=VAD_PANEL)
    ] = False,
    vad_threshold: Annotated[
        float, typer.Option("--vad-threshold", metavar="PROB", min=0.0, max=1.0, help="Speech probability above which VAD hears speech.", rich_help_panel=VAD_PANEL)
    ] = 0.5,
    vad_min_speech_duration_ms: Annotated[
        int, typer.Option("--min-speech-ms", metavar="MS", min=0, help="Drop speech chunks shorter than this (ms).", rich_help_panel=VAD_PANEL)
    ] = 0,
    vad_min_silence_duration_ms: Annotated[
        int, typer.Option("--min-silence-ms", metavar="MS", min=0, help="Silence that ends a speech chunk (ms).", rich_help_panel=VAD_PANEL)
    ] = 2000,
    vad_speech_pad_ms: Annotated[
        int, typer.Option("--speech-pad-ms", metavar="MS", min=0, help="Audio kept on each side of speech (ms).", rich_help_panel=VAD_PANEL)
    ] = 400,
    vad_max_speech_duration_s: Annotated[
        float,
        typer.Option("--max-speech-s", metavar="SECONDS", min=0.0, help="Split speech chunks longer than this (s).", rich_help_panel=VAD_PANEL),
    ] = float("inf"),
    batch_size: Annotated[
        int,
        typer.Option(
            min=0, metavar="N", help="0 decodes sequentially; N > 0 decodes N windows of a file at once (faster on a GPU).",
            rich_help_panel=VAD_PANEL,
        ),
    ] = 0,
    split_stereo: Annotated[
        bool,
        typer.Option(
            "--split-stereo", help="Transcribe the left and right channels apart, labelled L and R (calls).", rich_help_panel=VAD_PANEL
        ),
    ] = False,
    diarize: Annotated[
        bool,
        typer.Option(
            "--diarize",
            help="Label each segment and word with its speaker (S1, S2 ...), offline; needs pip install 'whisper-cli[diarize]'.",
            rich_help_panel=VAD_PANEL,
        ),
    ] = False,
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
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=lambda v: _print_version(v))
    ] = False,
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


def _say_when_reading_stdin(config, reporter: Reporter) -> None:
    """Someone at a terminal would otherwise look at a blank screen while `sleep 30 | transcribe -` waits."""
    if config.inputs == (STDIN_NAME,) and reporter.chatty and sys.stdin is not None and not is_terminal(sys.stdin):
        reporter.info("reading audio from stdin (until it ends; Ctrl-C stops)")


def probe_command(
    device: Annotated[Device, typer.Option(help="Device to probe.")] = Device.auto,
    compute_type: Annotated[ComputeType, typer.Option(help="Compute type to check.")] = "auto",
) -> None:
    """Show the devices, compute types and libraries found, and what --device auto would pick."""
    import json

    from .engine.device import describe

    typer.echo(json.dumps(describe(device.value, compute_type.value, include_torch=True), indent=2))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"whisper-cli {__version__}")
        raise typer.Exit()


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_command(shell: Annotated[Shell, typer.Argument(help="The shell to complete in.")]) -> None:
    """Print the completion script of whisper-cli and transcribe for SHELL.

    Example: eval "$(whisper-cli completion bash)"  (in ~/.bashrc; or --install-completion, which detects the shell)
    """
    from typer._completion_shared import get_completion_script

    for program in ("whisper-cli", "transcribe"):
        complete_var = f"_{program.replace('-', '_').upper()}_COMPLETE"  # the variable click's completion reads
        typer.echo(get_completion_script(prog_name=program, complete_var=complete_var, shell=shell.value))


def _app_options(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=lambda v: _print_version(v))
    ] = False,
) -> None:
    """Speech to text on faster-whisper: transcribe files, folders and streams; probe the devices."""


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
    app.callback()(_app_options)
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

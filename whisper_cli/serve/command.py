"""The `whisper-cli serve` command. Imports nothing heavy: the server is imported when it runs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..device_names import COMPUTE_TYPES
from ..errors import UsageError
from ..progress import LogFormat
from .config import MEGABYTE, ServeConfig, check_binding

SERVER_PANEL = "Server"
LIMITS_PANEL = "Limits and concurrency"
MODEL_PANEL = "Model and device"
DEVICES = ("auto", "cpu", "cuda")


def serve_command(
    ctx: typer.Context,
    model: Annotated[
        Optional[list[str]],
        typer.Option(
            "--model", "-m", metavar="NAME",
            help="A model requests may name (as transcribe --model); repeat for more. The first is the default. "
            "Each is loaded on its first request.  [default: base]",
            rich_help_panel=MODEL_PANEL, show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option(metavar="auto|cpu|cuda", help="Where to run.", rich_help_panel=MODEL_PANEL)] = "auto",
    compute_type: Annotated[
        str, typer.Option(metavar="TYPE", help="CTranslate2 compute type; auto = float16 on GPU, int8 on CPU.", rich_help_panel=MODEL_PANEL)
    ] = "auto",
    cpu_threads: Annotated[
        int, typer.Option(metavar="N", min=0, help="Threads of each worker; 0 = the cores shared out among the workers.", rich_help_panel=MODEL_PANEL)
    ] = 0,
    offline: Annotated[bool, typer.Option("--offline", help="Never touch the network (also HF_HUB_OFFLINE=1).", rich_help_panel=MODEL_PANEL)] = False,
    idle_unload_s: Annotated[
        Optional[float],
        typer.Option(min=0.0, metavar="SECONDS", help="Unload a model no request has used for this long.  [default: never]",
                     rich_help_panel=MODEL_PANEL, show_default=False),
    ] = None,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on; another than loopback needs --api-key or --no-auth.", rich_help_panel=SERVER_PANEL)] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port to listen on; 0 picks a free one (shown on stderr).", rich_help_panel=SERVER_PANEL)] = 8000,
    api_key: Annotated[
        Optional[str],
        typer.Option(envvar="WHISPER_CLI_API_KEY", metavar="KEY", help="Require `Authorization: Bearer KEY` on /v1 requests.",
                     rich_help_panel=SERVER_PANEL, show_default=False),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve a non-loopback --host without a key (a trusted network only).", rich_help_panel=SERVER_PANEL)
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option(help="jsonl: one JSON event per line on stderr (listening, loaded, request, ...).", rich_help_panel=SERVER_PANEL)
    ] = LogFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the listening line on stderr.", rich_help_panel=SERVER_PANEL)] = False,
    workers: Annotated[
        Optional[int],
        typer.Option(min=1, metavar="N", help="Requests decoded at once; on a CPU workers x --cpu-threads stays within the cores. "
                     "[default: half the cores; 2 on a GPU]", rich_help_panel=LIMITS_PANEL, show_default=False),
    ] = None,
    max_queue: Annotated[
        int, typer.Option(min=0, metavar="N", help="Requests that may wait beyond those decoding; more get 429.", rich_help_panel=LIMITS_PANEL)
    ] = 64,
    max_upload_mb: Annotated[
        float, typer.Option(min=0.001, metavar="MB", help="Largest upload accepted (413 beyond it), as OpenAI's 25 MB.", rich_help_panel=LIMITS_PANEL)
    ] = 25.0,
    pack: Annotated[
        bool,
        typer.Option("--pack/--no-pack", help="Read short uploads that arrive together in shared 30 s windows; "
                     "--no-pack reads each request alone.", rich_help_panel=LIMITS_PANEL),
    ] = True,
    request_timeout_s: Annotated[
        float, typer.Option(min=0.001, metavar="SECONDS", help="Longest a request may take, upload included; also how long SIGTERM waits.",
                            rich_help_panel=LIMITS_PANEL)
    ] = 600.0,
) -> None:
    """Serve OpenAI's speech-to-text API, so the official client, curl and any OpenAI-speaking app can use it.

    Example: whisper-cli serve --model small --port 8000

    Then: curl localhost:8000/v1/audio/transcriptions -F file=@talk.mp3 -F model=small -F response_format=srt
    """
    if device not in DEVICES:
        raise UsageError("--device", f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if compute_type not in COMPUTE_TYPES:
        raise UsageError("--compute-type", f"unknown compute type {compute_type!r} (choose from {', '.join(COMPUTE_TYPES)})")
    check_binding(host, api_key, no_auth)
    config = ServeConfig(
        models=tuple(dict.fromkeys(model or ["base"])),
        host=host, port=port, api_key=api_key or None, no_auth=no_auth,
        workers=workers or 0, cpu_threads=cpu_threads, max_queue=max_queue,
        max_upload_bytes=int(max_upload_mb * MEGABYTE), request_timeout_s=request_timeout_s, idle_unload_s=idle_unload_s,
        device=device, compute_type=compute_type, offline=offline or None, log_format=log_format, quiet=quiet, pack=pack,
        decode_params=_transcribe_params(ctx),
    )
    _require_extra()
    from .server import run

    run(config)


def _transcribe_params(ctx: typer.Context) -> tuple:
    """The `transcribe` command's parameters, whose names, types and bounds request fields follow."""
    root = ctx.find_root()
    transcribe = root.command.get_command(root, "transcribe") if hasattr(root.command, "get_command") else None
    if transcribe is None:
        raise RuntimeError("serve runs as a subcommand of whisper-cli, beside transcribe")
    return tuple(transcribe.params)


def _require_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise UsageError("serve", f"needs {error.name}: pip install 'whisper-cli[serve]'") from None

"""ServeConfig: what `whisper-cli serve` was told, checked before anything is bound or loaded."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..errors import UsageError
from ..progress import LogFormat

MEGABYTE = 1024 * 1024  # bytes; OpenAI's "25 MB" upload limit is 25 MiB
GPU_WORKERS = 2  # one window decoding while the next request's audio is decoded and its features made


@dataclass(frozen=True)
class ServeConfig:
    models: tuple[str, ...]  # names as given; the first is the default; a request may name only these
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: Optional[str] = None
    no_auth: bool = False
    workers: int = 1  # requests decoded at once
    cpu_threads: int = 1  # threads of each worker
    max_queue: int = 64  # admitted requests waiting beyond those being decoded
    max_upload_bytes: int = 25 * MEGABYTE
    request_timeout_s: float = 600.0
    idle_unload_s: Optional[float] = None  # None: a loaded model stays loaded
    device: str = "auto"
    compute_type: str = "auto"
    offline: Optional[bool] = None
    log_format: LogFormat = LogFormat.text
    quiet: bool = False
    pack: bool = True  # short uploads that arrive together share 30 s windows (packer.py)
    # The `transcribe` command's click parameters: request fields are parsed and bounded by them.
    decode_params: Sequence[Any] = field(default=(), compare=False, repr=False)

    @property
    def default_model(self) -> str:
        return self.models[0]


def check_binding(host: str, api_key: Optional[str], no_auth: bool) -> None:
    """Refuse to serve the network without a key unless told so plainly."""
    if api_key is not None and not api_key.strip():
        raise UsageError("--api-key", "is empty")
    if api_key and no_auth:
        raise UsageError("--no-auth", "cannot be combined with --api-key")
    if api_key or no_auth or is_loopback(host):
        return
    raise UsageError(
        "--host",
        f"{host} is reachable from other machines; give --api-key KEY (or WHISPER_CLI_API_KEY), "
        "or --no-auth to serve it without one",
    )


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is on this machine only (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        raise UsageError("--host", f"cannot resolve {host}: {error}") from None
    return bool(addresses) and all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)


def plan_workers(device: str, workers: Optional[int], cpu_threads: int, cores: int) -> tuple[int, int]:
    """(workers, threads each); on a CPU workers x threads never exceeds the cores."""
    if device == "cuda":
        return workers or GPU_WORKERS, cpu_threads or 1
    if workers is None:
        # Half the cores as workers keeps one request's latency near its best while a second one runs.
        workers = max(1, cores // 2) if not cpu_threads else max(1, cores // cpu_threads)
    if workers > cores:
        raise UsageError("--workers", f"{workers} workers need at least {workers} CPU cores; this machine gives {cores}")
    threads = cpu_threads or max(1, cores // workers)
    if workers * threads > cores:
        raise UsageError(
            "--cpu-threads", f"{workers} workers x {threads} threads exceeds the {cores} CPU cores; lower one of them"
        )
    return workers, threads

"""Run the server: resolve the models, bind, serve with uvicorn, and drain gracefully on SIGTERM."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import uvicorn

from ..errors import UsageError
from .config import ServeConfig, plan_workers
from .log import ServerLog


def run(config: ServeConfig) -> None:
    """Serve until SIGTERM or Ctrl-C; returns once what was in flight has finished."""
    from ..engine.device import probe, usable_cpu_cores
    from ..models import resolve_model

    log = ServerLog(config.log_format, config.quiet)
    for name in config.models:  # fetched now, so a bad name fails at start and not on a request
        resolve_model(name, offline=config.offline, show_progress=False)
    choice = probe(config.device, config.compute_type)
    workers, threads = plan_workers(choice.device, config.workers or None, config.cpu_threads, usable_cpu_cores())
    config = replace(config, workers=workers, cpu_threads=threads)
    sock = _bind(config.host, config.port)
    services = _services(config, log, choice)
    try:
        _serve(config, services, sock)
    finally:
        services.close()
        log.event("stopped", "stopped")


def _services(config: ServeConfig, log: ServerLog, choice):
    from .app import Services
    from .fields import FormRules
    from .packer import Packer
    from .pool import ModelPool
    from .scheduler import Scheduler

    def load(name: str):
        from ..engine import get_whisper

        started = time.monotonic()
        log.event("loading", f"loading model {name}", model=name)
        whisper = get_whisper(
            name, choice.compute_type, choice.device, config.cpu_threads,
            offline=config.offline, show_progress=False, num_workers=config.workers,
        )
        elapsed = time.monotonic() - started
        log.event("loaded", f"model {name} loaded in {elapsed:.1f}s", model=name, wall_s=round(elapsed, 3))
        return whisper

    pool = ModelPool(
        config.models, load, config.idle_unload_s,
        on_unload=lambda name: log.event("unloaded", f"model {name} unloaded after {config.idle_unload_s:g}s idle", model=name),
    )
    scheduler = Scheduler(config.workers, config.max_queue)
    return Services(
        config=config,
        pool=pool,
        scheduler=scheduler,
        rules=FormRules(config.decode_params),
        upload_dir=Path(tempfile.mkdtemp(prefix="whisper-cli-serve-")),  # 0700: only this user reads uploads
        log=log,
        packer=Packer(scheduler, pool, log, device=choice.device) if config.pack else None,
    )


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a one-line error and port 0 can be reported."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        raise UsageError("--host", f"cannot resolve {host}: {error}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise UsageError("--port", f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.set_inheritable(False)
    return sock


def _serve(config: ServeConfig, services, sock: socket.socket) -> None:
    from .app import create_app

    app = create_app(services)
    server = DrainingServer(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=config.request_timeout_s, timeout_keep_alive=5,
        ),
        services,
    )
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    services.log.event(
        "listening",
        f"listening on http://{shown}:{port} (models: {', '.join(config.models)}; "
        f"{config.workers} workers x {config.cpu_threads} threads, queue {config.max_queue})",
        url=f"http://{shown}:{port}", host=host, port=port, models=list(config.models),
        workers=config.workers, threads=config.cpu_threads, max_queue=config.max_queue,
    )
    server.run(sockets=[sock])


class DrainingServer(uvicorn.Server):
    """The first SIGTERM or Ctrl-C drains: new requests get 503 while those in flight finish (up to
    --request-timeout-s), then the server stops; a second one stops it at once. Exit status 0 either way."""

    def __init__(self, config: "uvicorn.Config", services):
        super().__init__(config)
        self.services = services

    def handle_exit(self, sig, frame):
        # Not uvicorn's: it records the signal to raise it again after serving, which would end the
        # process by that signal instead of with exit status 0.
        if self.services.scheduler.draining:
            self.should_exit = self.force_exit = True
            return
        self.services.scheduler.draining = True
        threading.Thread(target=self._drain, name="whisper-cli-drain", daemon=True).start()

    def _drain(self) -> None:
        services = self.services
        services.log.event(
            "draining", f"stopping: finishing {services.in_flight} requests in flight", in_flight=services.in_flight
        )
        services.idle.wait(timeout=services.config.request_timeout_s)
        self.should_exit = True

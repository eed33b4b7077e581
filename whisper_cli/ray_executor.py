"""--executor ray: the batch on a Ray cluster, one model replica per Ray Core actor.

The driver stays here: it plans, takes each input's claim (executor.Driver), and hands inputs out as
--workers does (workers.WorkerPool: largest first, retries, reporting); each actor runs the replica
--workers runs in a process (worker_process.Worker), so short clips are held and read in packed groups
the same way. An actor is sent an input's FileTask (a path and where to write, never audio), reads the
file and writes its outputs and record on the shared filesystem, so the tree is the one a local run
makes. An actor that dies has its inputs tried on another (a new actor takes its place) at most
MAX_RETRIES times, then they fail with the cause. A cluster that cannot be reached, or has no node an
actor fits on, is a ClusterError (exit 5) before any input is begun.

Ray is imported only here, and only when a run asks for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Optional

from .console import Reporter
from .errors import DeviceError
from .executor import Driver
from .output import process_is_alive, remove_stale_temp_files_in
from .run_config import RunConfig
from .worker_process import WorkerSpec
from .workers import Slot, WorkerPool

LOCAL_OBJECT_STORE_BYTES = 80 * 1024 * 1024  # a local Ray moves only paths and results: Ray's minimum is 75 MiB
CONNECT_TIMEOUT_S = 10.0  # how long the cluster's address has to answer
STOP_WAIT_S = 10.0  # how long killed actors' processes have to end before their temp files are removed


class ClusterError(DeviceError):
    """The Ray cluster cannot be reached, or cannot run an actor as asked (exit 5, as for a device)."""


def _import_ray():
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # Ray's C++ warnings would otherwise fill stderr
    try:
        import ray
    except ImportError:
        raise ClusterError("--executor ray", "Ray is not installed: pip install 'whisper-cli[ray]'") from None
    return ray


class RayWorker:
    """One model replica, made a Ray actor by RayExecutor: worker_process.Worker (the one that --workers runs, so
    short clips are held and read in packed groups the same way), answering each message with what it sent."""

    def __init__(self, spec):
        from .worker_process import Worker

        self._sent: list = []
        self._worker = Worker(spec, self)

    def pid(self) -> int:
        return os.getpid()

    def send(self, message) -> None:
        self._sent.append(message)

    def handle(self, message) -> list:
        """("file", key, FileTask, may_pack) or ("flush",): the messages worker_process.py documents, in order."""
        from .errors import WhisperCliError

        try:
            self._worker.handle(message)
        except WhisperCliError as error:  # a model that cannot load, an output that cannot be written: stops the run
            self.send(("error", type(error), error.subject, error.cause))
        sent, self._sent = self._sent, []
        return sent


class RayExecutor(WorkerPool):
    """WorkerPool's hand-out, packing, retries and reporting, with Ray actors for its worker processes."""

    def __init__(self, config: RunConfig, reporter: Reporter, view):
        super().__init__(config, reporter, view)
        self._ray = _import_ray()
        self._started_here: Optional[Path] = None  # the temp folder of a Ray started for this run
        self._actor_class = None
        self._calls: dict = {}  # object ref -> the slot whose actor answers it
        self._pids: dict = {}  # slot -> its actor's process id, to wait for it to end when killed
        self._connect()
        self._specs = [self._spec()] * self._actor_count()  # started as inputs are handed out (Ray starts them at once)

    # --- the Executor protocol (transcribe and in_flight are WorkerPool's) ---

    def close(self) -> None:
        ray, begun = self._ray, bool(self._jobs)
        for slot in self._slots:
            ray.kill(slot.connection)  # an input in progress is aborted: only its temp files remain, removed below
        if begun:  # after a finished run there is nothing to wait for: no actor was writing
            self._wait_for_ends(list(self._pids.values()))
            remove_stale_temp_files_in(self._folders)
        self._slots, self._calls = [], {}
        if self._started_here is not None:
            ray.shutdown()
            shutil.rmtree(self._started_here, ignore_errors=True)  # its logs and sockets: nothing else was there

    # --- the cluster ---

    def _connect(self) -> None:
        ray, config = self._ray, self._config
        address = config.ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            _check_answers(address)
        on_sigterm = signal.getsignal(signal.SIGTERM)
        try:
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            else:
                self._started_here = Path(tempfile.mkdtemp(prefix="whisper-cli-ray-"))
                ray.init(
                    num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES, _temp_dir=str(self._started_here),
                )
        except (ConnectionError, RuntimeError, ValueError) as error:
            if self._started_here is not None:
                shutil.rmtree(self._started_here, ignore_errors=True)
            raise ClusterError(address or "local Ray", f"cannot start or reach the Ray cluster: {_first_line(error)}") from None
        finally:
            # A Ray it starts puts in its own SIGTERM handler (stop Ray, exit 1): the run's is put back, so SIGTERM
            # still ends the run as Ctrl-C does (exit 143), and close() stops Ray.
            if on_sigterm is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, on_sigterm)

    def _resources(self) -> dict:
        model = self._config.model
        return {"num_cpus": max(1, model.cpu_threads or 1), "num_gpus": 1 if model.device == "cuda" else 0}

    def _spec(self) -> WorkerSpec:
        model = self._config.model
        settings = model if model.cpu_threads else replace(model, cpu_threads=1)
        return WorkerSpec(settings, pack_batch=self._config.pack_batch, diarize=self._config.decode.diarize)

    def _actor_count(self) -> int:
        """--workers actors if asked; else as many as the cluster's nodes fit. None fits: ClusterError."""
        wanted = self._resources()
        fits = 0
        for node in self._ray.nodes():
            if not node.get("Alive"):
                continue
            have = node.get("Resources", {})
            by_cpu = int(have.get("CPU", 0) // wanted["num_cpus"])
            by_gpu = int(have.get("GPU", 0) // wanted["num_gpus"]) if wanted["num_gpus"] else by_cpu
            fits += min(by_cpu, by_gpu)
        if fits == 0:
            need = f"{wanted['num_cpus']} CPU" + (f" and {wanted['num_gpus']} GPU" if wanted["num_gpus"] else "")
            self.close()
            raise ClusterError("--executor ray", f"no node of the Ray cluster has {need} for a worker")
        return self._config.workers if self._config.workers > 1 else fits

    def _start(self) -> Slot:
        ray = self._ray
        if self._actor_class is None:
            self._actor_class = ray.remote(max_restarts=0, max_task_retries=0)(RayWorker)
        actor = self._actor_class.options(**self._resources()).remote(self._specs[0])
        slot = Slot(None, actor)
        self._slots.append(slot)
        self._pids[slot] = actor.pid.remote()
        return slot

    # --- messages ---

    def _tell(self, slot: Slot, message) -> None:
        self._calls[slot.connection.handle.remote(message)] = slot

    def _receive(self, driver: Driver, queue: deque) -> None:
        ray = self._ray
        ready, _ = ray.wait(list(self._calls), num_returns=1)
        for ref in ready:
            slot = self._calls.pop(ref)
            try:
                messages = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError) as error:
                self._actor_died(slot, driver, queue, error)
                continue
            for message in messages:
                self._handle(slot, message, driver)

    def _actor_died(self, slot: Slot, driver: Driver, queue: deque, error) -> None:
        """The actor is gone (killed, out of memory, its node lost): once its process has ended (its temp files
        are then a dead writer's), its inputs go to another actor, or fail."""
        pid = self._pids.pop(slot, None)
        self._wait_for_ends([pid] if pid is not None else [])
        self._lost(slot, driver, queue, f"its Ray actor died ({_first_line(error)})")

    def _wait_for_ends(self, pid_refs: list) -> None:
        """Wait (a bounded time) for killed actors' processes on this machine to end, so that their temp
        files count as a dead process's (output.remove_stale_temp_files keeps a live writer's)."""
        pids = []
        for ref in pid_refs:
            try:
                pids.append(self._ray.get(ref, timeout=1))
            except Exception:  # noqa: BLE001 - it died before it told: nothing to wait for here
                pass
        deadline = time.monotonic() + STOP_WAIT_S
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if process_is_alive(pid)]
            if pids:
                time.sleep(0.1)


def _check_answers(address: str) -> None:
    """A host:port that does not answer is a ClusterError now: ray.init would retry it for minutes."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return  # "auto", a ray:// client address: left to ray.init
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ClusterError(address, f"the Ray cluster does not answer ({error.strerror or error})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

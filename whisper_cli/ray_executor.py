"""--executor ray: the batch on a Ray cluster, one model replica per Ray Core actor.

The driver stays here (executor.Driver): it plans, takes each input's claim, and sends an actor the
input's FileTask (a path and where to write, never audio). The actor reads the file and writes its
outputs and record on the shared filesystem with pipeline.run_task, so the tree is the one a local run
makes. Inputs go out largest first. An actor that dies has its input tried on another (a new actor
takes its place) at most MAX_RETRIES times, then the input fails with the cause. A cluster that cannot
be reached, or has no node an actor fits on, is a ClusterError (exit 5) before any input is begun.

Ray is imported only here, and only when a run asks for it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Optional, Sequence

from . import manifest
from .console import Reporter
from .errors import DeviceError
from .executor import Driver
from .outcome import Status
from .output import process_is_alive, remove_stale_temp_files_in
from .pipeline import FileResult
from .plan import Job, is_todo
from .run_config import RunConfig
from .worker_process import rebuild_error

MAX_RETRIES = 2  # an input whose actor died is tried again on another actor at most this many times
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
    """One model replica (made a Ray actor by RayExecutor): loads its model at the first input."""

    def __init__(self, settings, diarize: bool):
        self._settings, self._diarize = settings, diarize
        self._whisper = None

    def pid(self) -> int:
        return os.getpid()

    def transcribe(self, task) -> tuple:
        """("result", FileResult) or ("error", type, subject, cause) for an error that stops the run."""
        from .errors import WhisperCliError
        from .lazy_model import open_model
        from .pipeline import run_task

        try:
            if self._whisper is None:
                self._whisper = open_model(self._settings, diarize=self._diarize)
            return ("result", run_task(self._whisper, task))
        except WhisperCliError as error:  # a model that cannot load, an output that cannot be written
            return ("error", type(error), error.subject, error.cause)


class RayExecutor:
    def __init__(self, config: RunConfig, reporter: Reporter, view):
        self._config, self._reporter, self._view = config, reporter, view
        self._ray = _import_ray()
        self._started_here = False
        self._actor_class = None
        self._actors: list = []
        self._pids: dict = {}  # actor -> its process id, to wait for it to end when killed
        self._running: dict = {}  # object ref -> (actor, job)
        self._tries: dict[int, int] = {}
        self._events: dict[int, object] = {}
        self._folders: set[Path] = set()
        self._connect()
        self._wanted = self._actor_count()

    # --- the Executor protocol ---

    def transcribe(self, jobs: Sequence[Job], driver: Driver, *, waiting: bool) -> None:
        todo = [job for job in jobs if is_todo(job)]
        for job in jobs:
            if not is_todo(job):
                driver.turn(job, wait=waiting)
        queue = deque(sorted(todo, key=lambda job: -(job.outcome.size or 0)))
        idle = list(self._actors)
        while queue or self._running:
            self._hand_out(queue, idle, driver, waiting)
            if self._running:
                self._receive(queue, idle, driver)

    def in_flight(self) -> list[Job]:
        return [job for _, job in self._running.values()]

    def close(self) -> None:
        ray = self._ray
        for actor in self._actors:
            ray.kill(actor)  # an input in progress is aborted: only its temp files remain, removed below
        self._wait_for_ends(list(self._pids.values()))
        remove_stale_temp_files_in(self._folders)
        self._actors, self._running = [], {}
        if self._started_here:
            ray.shutdown()

    # --- the cluster ---

    def _connect(self) -> None:
        ray, config = self._ray, self._config
        address = config.ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            _check_answers(address)
        try:
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(
                    num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES, _temp_dir=tempfile.mkdtemp(prefix="whisper-cli-ray-"),
                )
                self._started_here = True
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ClusterError(address or "local Ray", f"cannot start or reach the Ray cluster: {_first_line(error)}") from None

    def _resources(self) -> dict:
        model = self._config.model
        return {"num_cpus": max(1, model.cpu_threads or 1), "num_gpus": 1 if model.device == "cuda" else 0}

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

    def _new_actor(self):
        ray = self._ray
        if self._actor_class is None:
            self._actor_class = ray.remote(max_restarts=0, max_task_retries=0)(RayWorker)
        model = self._config.model
        settings = model if model.cpu_threads else type(model)(model.name, model.device, model.compute_type, 1, model.offline)
        actor = self._actor_class.options(**self._resources()).remote(settings, self._config.decode.diarize)
        self._actors.append(actor)
        self._pids[actor] = actor.pid.remote()
        return actor

    # --- handing out and taking back ---

    def _hand_out(self, queue: deque, idle: list, driver: Driver, one_at_a_time: bool) -> None:
        while queue and not (one_at_a_time and self._running):
            if not idle and len(self._actors) < self._wanted:
                idle.append(self._new_actor())
            if not idle:
                return
            job = queue.popleft()
            if id(job) not in self._tries:  # its first try: an input tried again keeps its claim and started event
                if not driver.turn(job, wait=one_at_a_time):
                    continue
                self._tries[id(job)] = 0
                self._events[id(job)] = driver.started(job)
                if job.base is not None:
                    self._folders |= {job.base.parent, job.base.parent / manifest.RECORD_FOLDER}
            actor = idle.pop()
            self._running[actor.transcribe.remote(driver.task(job))] = (actor, job)

    def _receive(self, queue: deque, idle: list, driver: Driver) -> None:
        ray = self._ray
        ready, _ = ray.wait(list(self._running), num_returns=1)
        for ref in ready:
            actor, job = self._running.pop(ref)
            try:
                answer = ray.get(ref)
            except ray.exceptions.RayActorError as error:
                self._died(actor, job, queue, driver, error)
                continue
            idle.append(actor)
            if answer[0] == "error":
                raise rebuild_error(*answer[1:])
            result: FileResult = answer[1]
            events = self._events.pop(id(job))
            if result.status == Status.DONE:
                events.transcribing(result.audio_s)  # for the time left: its length, now that it is known
            self._tries.pop(id(job), None)
            driver.finished(job, result)

    def _died(self, actor, job: Job, queue: deque, driver: Driver, error) -> None:
        """The actor is gone (killed, out of memory, its node lost): its input goes to another, or fails."""
        self._actors.remove(actor)
        pid = self._pids.pop(actor, None)
        self._wait_for_ends([pid] if pid is not None else [])
        if job.base is not None:
            remove_stale_temp_files_in({job.base.parent, job.base.parent / manifest.RECORD_FOLDER})
        self._tries[id(job)] += 1
        if self._tries[id(job)] <= MAX_RETRIES:
            queue.appendleft(job)
            return
        self._tries.pop(id(job))
        self._events.pop(id(job), None)
        cause = f"its Ray actor died on each of {MAX_RETRIES + 1} tries ({_first_line(error)})"
        driver.finished(job, FileResult(job.outcome.source, Status.FAILED, error=cause))

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

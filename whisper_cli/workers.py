"""--workers N: N model replicas on this machine, each in a process of its own (worker_process.py).

The driver stays here, on the run's thread: it gives each input its turn and its claim (executor.Driver),
hands inputs out largest first (bytes stand for length, so the last worker does not finish alone with
the longest file), and reports every result as it comes. Short clips still share windows: once a worker
holds a clip, the next inputs in line are set aside for its group, up to its share of what is not yet in
a group (guided scheduling: that, divided by the workers); it is told to read the group once they are
sent. A clip's cost is known only once it is read (one that a shared window cannot vouch for is read
again alone, many times dearer), so one worker holding every clip left would leave the others idle while
it reads them. Setting the share aside at once makes a group a run of inputs next to each other in line
(alike in size), not every other one as the workers take turns, and less a matter of which answers first.

A worker process that dies (kill -9, out of memory) has its inputs tried again on another worker, at most
MAX_RETRIES times, then they fail with the cause; the temp files it left are removed. On Ctrl-C or
SIGTERM the workers are stopped (each aborts its input, so only complete outputs remain).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import signal
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait
from pathlib import Path
from typing import Optional, Sequence

from . import manifest
from .console import Reporter
from .executor import Driver
from .local_executor import packing
from .outcome import Status
from .output import remove_stale_temp_files_in
from .pipeline import FileResult
from .plan import Job, is_todo
from .progress import LogFormat
from .run_config import RunConfig
from .worker_process import WorkerSpec, rebuild_error, serve

MAX_RETRIES = 2  # an input whose worker died is tried again on another worker at most this many times
STOP_WAIT_S = 30.0  # how long a stopped worker has to abort its input and remove its temp files


class WorkerBug(RuntimeError):
    """A genuine bug in a worker process: raised here with the worker's traceback."""


@dataclass(eq=False)
class Slot:
    process: Optional[multiprocessing.process.BaseProcess]  # None for a Ray actor
    connection: object  # the Pipe's end; the actor's handle for Ray
    busy: Optional[int] = None  # the key of the input it reads now; None: it may take another
    held: set[int] = field(default_factory=set)  # clips waiting in its group
    reserved: deque = field(default_factory=deque)  # jobs set aside for its group, not yet sent (nor begun)
    grouping: bool = False  # its group's share is set aside: once all sent, it is told to read them
    flushing: bool = False  # told to read its group, results not all back yet

    @property
    def idle(self) -> bool:
        return self.busy is None and not self.flushing

    def keys(self) -> list[int]:
        return ([self.busy] if self.busy is not None else []) + sorted(self.held)


class WorkerPool:
    """The driver's side of the replicas. The parts that know they are processes (starting one, waiting for its
    messages, its death, stopping it) are what ray_executor.RayExecutor replaces; the rest it shares."""

    def __init__(self, config: RunConfig, reporter: Reporter, view):
        self._config, self._reporter, self._view = config, reporter, view
        self._specs = worker_specs(config)
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[Slot] = []
        self._started = 0  # workers started, for each one's GPU (round robin over --device-index)
        self._keys = itertools.count()
        self._jobs: dict[int, Job] = {}  # begun, not finished: key -> job
        self._events: dict[int, object] = {}
        self._key_of: dict[int, int] = {}  # id(job) -> key, kept across retries
        self._tries: dict[int, int] = {}
        self._folders: set[Path] = set()  # where workers write: searched for their temp files
        self._announced: set[str] = set()
        self._model_ready = False

    # --- the Executor protocol ---

    def transcribe(self, jobs: Sequence[Job], driver: Driver, *, waiting: bool) -> None:
        todo = [job for job in jobs if is_todo(job)]
        for job in jobs:
            if not is_todo(job):
                driver.turn(job, wait=waiting)  # reported at once: nothing to hand out
        queue = deque(sorted(todo, key=lambda job: -(job.outcome.size or 0)))  # largest first; stable: plan order among equals
        may_pack = not waiting and packing(self._config, len(todo))
        while queue or self._jobs or any(slot.reserved for slot in self._slots):
            self._hand_out(queue, driver, may_pack, one_at_a_time=waiting)
            if self._on_workers():
                self._receive(driver, queue)

    def in_flight(self) -> list[Job]:
        return list(self._jobs.values())

    def close(self) -> None:
        for slot in self._slots:
            if self._jobs:
                slot.process.terminate()  # SIGTERM: the worker aborts its input and removes its temp files
            else:
                self._tell(slot, ("stop",))
        for slot in self._slots:
            slot.process.join(STOP_WAIT_S)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.connection.close()
        self._slots = []
        remove_stale_temp_files_in(self._folders)

    # --- handing out ---

    def _on_workers(self) -> bool:
        return any(slot.keys() for slot in self._slots)

    def _hand_out(self, queue: deque, driver: Driver, may_pack: bool, *, one_at_a_time: bool) -> None:
        """Give idle workers the next inputs (those set aside for their group first); tell a worker to read its
        group once it has been sent all of it, or nothing is left."""
        while not (one_at_a_time and self._on_workers()):
            self._set_aside_shares(queue)
            slot = next((slot for slot in self._slots if slot.idle and slot.reserved), None)
            if slot is None and queue:
                slot = next((slot for slot in self._slots if slot.idle and not slot.held), None)
                if slot is None and len(self._slots) < len(self._specs):
                    slot = self._start()
            if slot is None:
                break
            job = slot.reserved.popleft() if slot.reserved else queue.popleft()
            key = self._key_of.get(id(job))
            if key is None:  # its first try: an input tried again keeps its claim and its started event
                if not driver.turn(job, wait=one_at_a_time):
                    continue
                key = self._key_of[id(job)] = next(self._keys)
                self._jobs[key], self._events[key] = job, driver.started(job)
                if job.base is not None:
                    self._folders |= {job.base.parent, job.base.parent / manifest.RECORD_FOLDER}
            self._tell(slot, ("file", key, driver.task(job), may_pack))
            slot.busy = key
        for slot in self._slots:
            if slot.idle and slot.held and not slot.reserved and (slot.grouping or not queue):
                self._tell(slot, ("flush",))
                slot.flushing = True

    def _set_aside_shares(self, queue: deque) -> None:
        """A worker that has begun a group (holds a clip) gets the inputs next in line, up to its share."""
        for slot in self._slots:
            if slot.idle and slot.held and not slot.reserved and not slot.grouping:
                share = math.ceil(self._not_in_a_group(queue) / len(self._specs))
                for _ in range(min(len(queue), share - len(slot.held))):
                    slot.reserved.append(queue.popleft())
                slot.grouping = True

    def _not_in_a_group(self, queue: deque) -> int:
        """Inputs not in a group being read: those in line, and each other worker's (held, set aside, being sent)."""
        pending = (len(slot.held) + len(slot.reserved) + (slot.busy is not None) for slot in self._slots if not slot.flushing)
        return len(queue) + sum(pending)

    def _start(self) -> Slot:
        if not self._model_ready:
            self._prepare_model()
        spec = self._specs[self._started % len(self._specs)]
        self._started += 1
        parent, child = self._context.Pipe()
        process = self._context.Process(target=serve, args=(spec, child), name=f"whisper-cli-worker-{self._started}", daemon=True)
        # Started with SIGINT ignored (which it keeps until it ignores it itself), so a Ctrl-C while it is
        # still starting does not print a traceback from there: the driver stops the workers.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            with _threads_env(spec.model.cpu_threads):
                process.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        child.close()
        slot = Slot(process, parent)
        self._slots.append(slot)
        return slot

    def _prepare_model(self) -> None:
        """Fetch the model once, here, with its progress shown, instead of in every worker at once."""
        from .errors import ModelError
        from .models import resolve_model

        model = self._config.model
        show = not self._reporter.quiet and self._config.log_format == LogFormat.text
        self._model_ready = True
        try:
            with self._view.paused():
                resolve_model(model.name, offline=model.offline, show_progress=show)
        except ModelError:
            pass  # a worker meets it again once an input has decoded (none may: then it is not reported, as with one)

    # --- what comes back ---

    def _receive(self, driver: Driver, queue: deque) -> None:
        ready = wait([slot.connection for slot in self._slots] + [slot.process.sentinel for slot in self._slots])
        for slot in list(self._slots):
            try:
                while slot.connection.poll():
                    self._handle(slot, slot.connection.recv(), driver)
            except (EOFError, OSError):
                self._died(slot, driver, queue)
                continue
            if slot.process.sentinel in ready and not slot.process.is_alive():
                self._died(slot, driver, queue)

    def _handle(self, slot: Slot, message: tuple, driver: Driver) -> None:
        kind = message[0]
        if kind == "result":
            _, key, result = message
            self._finish(slot, key, result, driver)
        elif kind == "more":
            slot.held.add(message[1])
            slot.busy = None
        elif kind == "note":
            self._events[message[1]].note(message[2])
        elif kind == "language":
            self._events[message[1]].language(message[2], message[3])
        elif kind == "warn":
            self._reporter.warn(f"{self._jobs[message[1]].outcome.source}: {message[2]}")
        elif kind == "loaded":
            self._announce(*message[1:])
        elif kind == "error":
            raise rebuild_error(*message[1:])
        elif kind == "bug":
            raise WorkerBug(f"a worker process failed:\n{message[1]}")

    def _finish(self, slot: Slot, key: int, result: FileResult, driver: Driver) -> None:
        slot.held.discard(key)
        if slot.busy == key:
            slot.busy = None
        if not slot.held:
            slot.flushing = False
            slot.grouping = bool(slot.reserved)  # a group it read by itself (full) goes on with what is set aside
        job = self._jobs.pop(key)
        events = self._events.pop(key)
        if result.status == Status.DONE:
            events.transcribing(result.audio_s)  # for the time left: its length, now that it is known
        driver.finished(job, result)

    def _died(self, slot: Slot, driver: Driver, queue: deque) -> None:
        """A worker process ended without being told to."""
        slot.process.join()
        slot.connection.close()
        self._lost(slot, driver, queue, f"its worker process {_death(slot.process.exitcode)}")

    def _lost(self, slot: Slot, driver: Driver, queue: deque, cause: str) -> None:
        """A replica is gone with its inputs (the one it read, the clips it held): each goes to another, or fails."""
        self._slots.remove(slot)
        queue.extendleft(reversed(slot.reserved))  # not begun: back in their place in line
        lost = [self._jobs[key] for key in slot.keys() if key in self._jobs]
        remove_stale_temp_files_in({folder for job in lost if job.base is not None for folder in (job.base.parent, job.base.parent / manifest.RECORD_FOLDER)})
        for job in reversed(lost):
            key = self._key_of[id(job)]
            self._tries[key] = self._tries.get(key, 0) + 1
            if self._tries[key] <= MAX_RETRIES:
                queue.appendleft(job)  # still begun: its claim held, its started event told
                continue
            self._jobs.pop(key)
            self._events.pop(key)
            error = f"{cause}, on each of {MAX_RETRIES + 1} tries"
            driver.finished(job, FileResult(job.outcome.source, Status.FAILED, error=error))

    def _announce(self, model: str, device: str, fallback: Optional[str]) -> None:
        """What one process says when it loads its model, once per device for the workers."""
        if device in self._announced:
            return
        self._announced.add(device)
        if fallback:
            self._reporter.warn(fallback)
        if self._config.log_format == LogFormat.text:
            self._reporter.info(f"model {model} on {device}")

    def _tell(self, slot: Slot, message) -> None:
        try:
            slot.connection.send(message)
        except (OSError, EOFError):
            pass  # it died: its sentinel says so, and _died hands its inputs out again



THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _threads_env(threads: int):
    """A worker started inside sees its thread count in the BLAS/OpenMP variables a user has not set: numpy is loaded
    as the process starts, and its OpenBLAS would otherwise run a thread per core in every worker (what Ray does too)."""
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: str(threads) for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def worker_specs(config: RunConfig) -> list[WorkerSpec]:
    """One per worker: its model settings (cores shared out unless --cpu-threads says), and its GPU."""
    from .engine.device import usable_cpu_cores

    count = config.workers
    threads = config.model.cpu_threads or max(1, usable_cpu_cores() // count)
    model = replace(config.model, cpu_threads=threads)
    gpus = [None] if not config.device_index else [str(index) for index in config.device_index]
    diarize, driver = config.decode.diarize, os.getpid()
    return [WorkerSpec(model, gpus[i % len(gpus)], config.pack_batch, diarize, driver) for i in range(count)]


def _death(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"

"""The bounded queue in front of the decoding threads: at most workers + max_queue requests admitted."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

from .errors import QueueFull, ShuttingDown

T = TypeVar("T")
MAX_RETRY_AFTER_S = 120
_EARLY_GUESS_S = 5.0  # a request's decoding time before any has been measured
# Threads that decode uploads' audio for the packer, beside the decoding threads: a request joins the open
# group while the model is busy with the last one, rather than waiting for a decoding thread to decode it.
AUDIO_THREADS = 2


class Scheduler:
    """Admit or refuse at once (429 with Retry-After, 503 while draining); never let a request wait unbounded."""

    def __init__(self, workers: int, max_queue: int):
        self.workers = workers
        self.capacity = workers + max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whisper-cli-worker")
        self._audio = ThreadPoolExecutor(max_workers=AUDIO_THREADS, thread_name_prefix="whisper-cli-audio")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._preparing = 0  # admitted requests whose audio is being decoded on an audio thread
        self._mean_s = _EARLY_GUESS_S
        self.draining = False

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def running(self) -> int:
        return self._running

    def check_open(self) -> None:
        """Raise at once if a request arriving now could not be admitted (before its upload is read)."""
        if self.draining:
            raise ShuttingDown("the server is shutting down; retry on another instance or later")
        if self._admitted >= self.capacity:
            raise self._full()

    @property
    def preparing(self) -> int:
        """Admitted requests whose audio is still being decoded: a packed group waiting for company waits for these."""
        return self._preparing

    def submit(self, work: Callable[[], T], *, audio: bool = False) -> "Future[T]":
        """Run `work` on a decoding thread (on an audio thread with `audio`: work that needs no model);
        cancelling the future before it starts frees its place."""
        with self._lock:
            self.check_open()
            self._admitted += 1
        try:
            future = self._audio.submit(self._preparing_for, work) if audio else self._executor.submit(self._timed, work)
        except RuntimeError:  # the executor was shut down under us
            self._release(None)
            raise ShuttingDown("the server is shutting down") from None
        future.add_done_callback(self._release)
        return future

    def hold(self) -> None:
        """Keep a request's place after its own work returns, while a packed group finishes it (packer.py)."""
        with self._lock:
            self._admitted += 1

    def release(self) -> None:
        """Give back a place that hold() kept."""
        self._release(None)

    def execute(self, work: Callable[[], T]) -> "Future[T]":
        """Run work for requests already admitted (a packed group) on a decoding thread, without a place of its own."""
        try:
            return self._executor.submit(self._timed, work)
        except RuntimeError:  # shut down
            raise ShuttingDown("the server is shutting down") from None

    def close(self) -> None:
        self._audio.shutdown(wait=True, cancel_futures=True)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _preparing_for(self, work: Callable[[], T]) -> T:
        with self._lock:
            self._preparing += 1
        try:
            return work()
        finally:
            with self._lock:
                self._preparing -= 1

    def _timed(self, work: Callable[[], T]) -> T:
        with self._lock:
            self._running += 1
        started = time.monotonic()
        try:
            return work()
        finally:
            elapsed = time.monotonic() - started
            with self._lock:
                self._running -= 1
                self._mean_s = 0.8 * self._mean_s + 0.2 * elapsed

    def _release(self, future) -> None:
        with self._lock:
            self._admitted -= 1

    def _full(self) -> QueueFull:
        # When a place is likely to be free: the queue ahead drained by every worker at the mean pace.
        waves = (self._admitted - self.workers + 1) / self.workers
        retry_after = min(MAX_RETRY_AFTER_S, max(1, math.ceil(self._mean_s * max(waves, 1))))
        return QueueFull(
            f"the server is busy: {self._admitted} requests decoding or queued (--workers plus --max-queue); "
            f"retry in {retry_after} s",
            retry_after,
        )

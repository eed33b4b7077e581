"""Decode the next inputs on a background thread while the current one is transcribed.

PyAV releases the GIL while it decodes, so decoding file n+1 overlaps with the model working on file n.
Memory stays bounded: at most `depth` decoded files wait beyond the one being transcribed.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, Sequence, TypeVar

Item = TypeVar("Item")


@dataclass
class Loaded:
    """One item's decoded audio (or the error its decoding raised), and how long decoding took."""

    audio: Any
    error: Optional[BaseException]
    decode_s: float


class Prefetcher(Generic[Item]):
    """take() returns the items' loads in order; with depth 0 each load happens inside take()."""

    def __init__(self, items: Sequence[Item], load: Callable[[Item], Any], depth: int = 1):
        self._items = list(items)
        self._load = load
        self._next = 0  # index of the item the next take() returns
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        # One item has nothing to be decoded ahead of, so it is loaded in take(), on the caller's thread. That
        # is always so for stdin (only ever transcribed alone): a daemon thread blocked in sys.stdin's read
        # would hold its buffer's lock, and a Ctrl-C then aborts the interpreter at exit (exit 134).
        if depth > 0 and len(self._items) > 1:
            self._slots = threading.Semaphore(depth)
            self._ready: "queue.Queue[Loaded]" = queue.Queue()
            # A daemon thread: an interrupted run must not wait at exit for a long file to finish decoding.
            self._thread = threading.Thread(target=self._work, name="whisper-cli-prefetch", daemon=True)
            self._thread.start()

    def take(self, item: Item) -> Loaded:
        """The load of `item`, which must be the next item in order."""
        expected = self._items[self._next]
        assert item is expected, f"take() out of order: {item!r} before {expected!r}"
        self._next += 1
        if self._thread is None:
            return _timed(self._load, item)
        loaded = self._ready.get()
        if loaded.error is None:
            self._slots.release()  # it is the current file now, no longer one ahead
        return loaded

    def close(self) -> None:
        """Stop decoding ahead; a decode in progress finishes on its own and is dropped."""
        self._stop.set()
        if self._thread is not None:
            self._slots.release()  # wake the worker if it waits for a slot, so it sees the stop

    def _work(self) -> None:
        for item in self._items:
            self._slots.acquire()
            if self._stop.is_set():
                return
            loaded = _timed(self._load, item)
            self._ready.put(loaded)
            if loaded.error is not None:
                self._slots.release()  # a failed decode holds no audio, so it takes no slot
            if self._stop.is_set():
                return


def _timed(load: Callable[[Any], Any], item: Any) -> Loaded:
    started = time.perf_counter()
    try:
        audio = load(item)
    except Exception as error:  # raised again by the caller of take(), with its traceback
        return Loaded(None, error, time.perf_counter() - started)
    return Loaded(audio, None, time.perf_counter() - started)

"""The models named on the command line: each loaded on first use, and unloaded after sitting idle."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence


@dataclass
class _Slot:
    whisper: object = None
    users: int = 0
    last_used: float = 0.0


class ModelPool:
    """Thread-safe: concurrent first requests for one model load it once; `load(name)` builds a Whisper."""

    def __init__(
        self,
        names: Sequence[str],
        load: Callable[[str], object],
        idle_unload_s: Optional[float] = None,
        on_unload: Callable[[str], None] = lambda name: None,
    ):
        self._load = load
        self._on_unload = on_unload
        self._slots = {name: _Slot() for name in names}
        self._locks = {name: threading.Lock() for name in names}  # held while that model loads
        self._state = threading.Lock()
        self.idle_unload_s = idle_unload_s
        self._stop = threading.Event()
        self._reaper: Optional[threading.Thread] = None
        if idle_unload_s is not None:
            self._reaper = threading.Thread(target=self._reap, name="whisper-cli-unload", daemon=True)
            self._reaper.start()

    @property
    def names(self) -> list[str]:
        return list(self._slots)

    def loaded(self, name: str) -> bool:
        return self._slots[name].whisper is not None

    @contextmanager
    def lease(self, name: str) -> Iterator[object]:
        """The loaded model, kept loaded for as long as the lease lasts."""
        slot = self._slots[name]
        with self._state:
            slot.users += 1
        try:
            with self._locks[name]:
                if slot.whisper is None:
                    slot.whisper = self._load(name)
            yield slot.whisper
        finally:
            with self._state:
                slot.users -= 1
                slot.last_used = time.monotonic()

    def unload_idle(self, now: Optional[float] = None) -> list[str]:
        """Drop every model unused for idle_unload_s; returns their names."""
        if self.idle_unload_s is None:
            return []
        now = time.monotonic() if now is None else now
        dropped = []
        with self._state:
            for name, slot in self._slots.items():
                if slot.whisper is not None and not slot.users and now - slot.last_used >= self.idle_unload_s:
                    slot.whisper = None  # CTranslate2 frees the weights when the last reference goes
                    dropped.append(name)
        return dropped

    def close(self) -> None:
        self._stop.set()
        with self._state:
            for slot in self._slots.values():
                slot.whisper = None

    def _reap(self) -> None:
        assert self.idle_unload_s is not None
        while not self._stop.wait(min(max(self.idle_unload_s / 4, 0.1), 5.0)):
            for name in self.unload_idle():
                self._on_unload(name)

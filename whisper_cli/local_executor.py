"""The in-process executor: one model, inputs in plan order, the next ones decoded in the background.

Short clips wait in a group and are read together in shared 30 s windows (pipeline.transcribe_group);
every other input goes through pipeline.transcribe_file as soon as its audio is decoded.
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial
from typing import Optional, Sequence

import numpy as np

from .audio import SAMPLE_RATE
from .console import Reporter
from .errors import InputError
from .executor import Driver
from .lazy_model import LazyModel
from .packing import MAX_PACKED_CLIP_S, packable
from .pipeline import Clip, FileEvents, FileResult, decode_input, failed, transcribe_file, transcribe_group
from .plan import Job, destination, is_todo
from .prefetch import Loaded, Prefetcher
from .run_config import RunConfig

PACK_GROUP_CLIPS = 32  # short clips waiting for shared windows are transcribed once this many wait ...
PACK_GROUP_S = 600.0  # ... or once they hold this much audio (and at the end of the run)


class LocalExecutor:
    def __init__(self, config: RunConfig, model: LazyModel, reporter: Reporter):
        self._config, self._model = config, model
        self._decode = partial(_decode, split_stereo=config.decode.split_stereo, raw=config.raw, reporter=reporter)
        self._prefetcher: Optional[Prefetcher] = None
        self._current: Optional[Job] = None  # the job whose turn it is, unless it waits in the group
        self._group: Optional[_PackGroup] = None

    def transcribe(self, jobs: Sequence[Job], driver: Driver, *, waiting: bool) -> None:
        todo = [job for job in jobs if is_todo(job)]
        ours = {id(job) for job in todo}
        # Decoding starts now, on a background thread, and keeps `prefetch` files ahead of transcription.
        self._prefetcher = Prefetcher(todo, self._decode, depth=0 if waiting else self._config.prefetch)
        group = self._group = _PackGroup() if not waiting and packing(self._config, len(todo)) else None
        for job in jobs:
            if not driver.turn(job, wait=waiting):
                if id(job) in ours:
                    self._prefetcher.take(job)  # keeps the order; decoded again if it comes back to this run
                continue
            self._current = job
            events = driver.started(job)
            turn = time.monotonic()
            if group is None:
                driver.finished(job, self._one(job, events, turn))
            else:
                loaded = self._prefetcher.take(job)
                if fits_a_window(loaded):
                    group.add(job, loaded, turn, events)
                    if group.full():
                        self._current = None
                        group.flush(self._model, self._config, driver)
                else:
                    driver.finished(job, self._one(job, events, turn, loaded))
            self._current = None
        if group is not None:
            group.flush(self._model, self._config, driver)  # before waiting on other runs, which may wait on these claims

    def in_flight(self) -> list[Job]:
        current = [self._current] if self._current is not None else []
        return current + (self._group.jobs() if self._group is not None else [])

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.close()

    def _one(self, job: Job, events: FileEvents, turn: float, loaded: Optional[Loaded] = None) -> FileResult:
        """One input through pipeline.transcribe_file; `loaded` when the caller has already taken its audio."""
        assert job.input is not None and self._prefetcher is not None
        if loaded is None:
            loaded = self._prefetcher.take(job)
        wait_s = time.monotonic() - turn
        try:
            if loaded.error is not None:
                raise loaded.error
            whisper = self._model.get()  # not before: a file that fails to decode needs no model
            result = transcribe_file(whisper, loaded.audio, destination(job, self._config), self._config.decode, source=job.input.name, events=events)
        except InputError as error:
            result = failed(job.input.name, error)
        return replace(result, decode_s=loaded.decode_s, wait_s=wait_s, wall_s=time.monotonic() - turn)


def packing(config: RunConfig, todo: int) -> bool:
    """Short clips share windows only in a batch writing files, of more than one input, with options packing honours."""
    # Not with --diarize: a speaker's voice is found across the whole file, not within a shared window.
    return config.pack and packable(config.decode) and not config.decode.diarize and config.is_batch and not config.to_stdout and todo > 1


def fits_a_window(loaded: Loaded) -> bool:
    return loaded.error is None and fits_audio(loaded.audio)


def fits_audio(audio) -> bool:
    """Decoded audio short enough to share a window (one channel: not --split-stereo's pair)."""
    return isinstance(audio, np.ndarray) and audio.ndim == 1 and len(audio) <= MAX_PACKED_CLIP_S * SAMPLE_RATE


class _PackGroup:
    """Decoded short clips waiting to be transcribed together in shared windows (packing.py)."""

    def __init__(self):
        self._waiting: list[tuple[Job, Loaded, float, FileEvents, float]] = []  # job, audio, its turn, events, wait_s
        self._audio_s = 0.0

    def add(self, job: Job, loaded: Loaded, turn: float, events: FileEvents) -> None:
        self._waiting.append((job, loaded, turn, events, time.monotonic() - turn))
        self._audio_s += len(loaded.audio) / SAMPLE_RATE

    def full(self) -> bool:
        return len(self._waiting) >= PACK_GROUP_CLIPS or self._audio_s >= PACK_GROUP_S

    def jobs(self) -> list[Job]:
        return [job for job, *_ in self._waiting]

    def flush(self, model: LazyModel, config: RunConfig, driver: Driver) -> None:
        """Transcribe the waiting clips together; each one's outputs and record are written as it comes."""
        if not self._waiting:
            return
        waiting = self._waiting
        whisper = model.get()
        clips = [Clip(job.input.name, loaded.audio, destination(job, config), events) for job, loaded, _, events, _ in waiting]
        results = transcribe_group(whisper, clips, config.decode, batch_size=config.pack_batch)
        for (job, loaded, turn, _, wait_s), result in zip(waiting, results):
            # A group that could not be read at all took no share of time: its clips' wall time is their own.
            wall_s = wait_s + result.transcribe_s if result.transcribe_s else time.monotonic() - turn
            driver.finished(job, replace(result, decode_s=loaded.decode_s, wait_s=wait_s, wall_s=wall_s))
        self._waiting, self._audio_s = [], 0.0


def _decode(job: Job, split_stereo: bool, raw=None, reporter: Optional[Reporter] = None):
    assert job.input is not None
    warn = (lambda message: reporter.warn(f"{job.input.name}: {message}")) if reporter else None
    return decode_input(job.input.source, split_stereo, raw, warn)

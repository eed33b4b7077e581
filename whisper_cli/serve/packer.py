"""Short uploads that arrive together, read together: shared 30 s windows (packing.py) for the server.

A request whose options packing honours and whose audio fits a window (packing.MAX_PACKED_CLIP_S) is not
transcribed on its own. Once its audio is decoded (on an audio thread, beside the model) it joins the open
group of requests for the same model with the same options; the group waits GATHER_S for company (longer,
up to MAX_GATHER_S, while other requests' audio is still being decoded), then queues for a decoding thread,
and takes newcomers until a thread picks it up or it holds MIN_GROUP_WINDOWS windows' worth of audio. Its clips are then read in one
transcribe_packed() call, and each request gets its own transcript; a request that found no company is read
the plain way (transcribe_upload), as with --no-pack.

Kept apart: a group shares model and options (prompt, language, task, beam, word timestamps ...), so no
request changes how another is decoded; packing gives every window no previous text but the prompt, and
each clip the language detected on its own audio. Word timestamps pack: packing times words with the
same alignment as alone, relative to each clip.
Not packed, so as before: stream=true (it asks for the language at once and each segment as it is
decoded, where a group answers after waiting for company, all at once), options packable() refuses
(vad, prefix, batch_size, ...), audio over MAX_PACKED_CLIP_S, and every request with --no-pack.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Callable, Hashable

import numpy as np

from ..audio import SAMPLE_RATE
from ..options import DecodeOptions
from ..engine.packed import END_MARGIN_S, GAP_S, MAX_PACKED_CLIP_S, WINDOW_BATCH, ClipResult, packable, transcribe_packed
from .errors import Cancelled, ShuttingDown
from .transcribe import transcribe_upload

GATHER_S = 0.05  # how long a new group waits for company before it queues: a lone request pays no more
# While other admitted requests are still having their audio decoded, the group waits for them in steps of
# GATHER_S, up to this long: eight clients that post at once land in one group, not in two or three.
MAX_GATHER_S = 0.3
WINDOW_S = 30.0 - END_MARGIN_S  # audio (with its gaps) one shared window holds
# The decoding threads' groups together hold at least this many windows' worth even where one call decodes
# one window at a time (a CPU): the layout then fills windows from more clips, and a clip alone in its language
# more often finds company. With one decoding thread, groups run one after another, so a fuller group costs no
# one a turn; with two, each group holds one window's worth, so that eight requests posted at once make two
# groups that are read side by side rather than one group while the other thread waits.
MIN_GROUP_WINDOWS = 2


@dataclass
class _Member:
    name: str  # the upload's file name, for messages
    audio: np.ndarray
    cancelled: threading.Event
    result: Future = field(default_factory=Future)  # the Transcript


@dataclass
class _Group:
    key: Hashable
    model: str
    options: DecodeOptions
    members: list[_Member] = field(default_factory=list)
    audio_s: float = 0.0
    queued: bool = False
    opened: float = field(default_factory=time.monotonic)


class Packer:
    """Thread-safe: requests join from decoding threads, groups queue from a timer or when full."""

    def __init__(
        self, scheduler, pool, log, *, device: str, enabled: bool = True,
        gather_s: float = GATHER_S, max_gather_s: float = MAX_GATHER_S,
    ):
        self.scheduler, self.pool, self.log = scheduler, pool, log
        self.enabled = enabled
        self.gather_s, self.max_gather_s = gather_s, max_gather_s
        shared = -(-MIN_GROUP_WINDOWS // max(1, scheduler.workers))  # rounded up
        self.capacity_s = max(WINDOW_BATCH.get(device, 1), shared) * WINDOW_S
        self._open: dict[Hashable, _Group] = {}
        self._lock = threading.Lock()
        self.requests = 0  # requests read through the packer, and the windows that took
        self.windows = 0

    def takes(self, job) -> bool:
        """Whether this request may be packed, once its audio proves short enough."""
        return self.enabled and not job.stream and packable(job.options)

    @staticmethod
    def fits(audio: np.ndarray) -> bool:
        return audio.ndim == 1 and 0 < len(audio) <= MAX_PACKED_CLIP_S * SAMPLE_RATE

    def add(self, model: str, options: DecodeOptions, name: str, audio: np.ndarray, cancelled: threading.Event) -> Future:
        """The future of this clip's Transcript; the request keeps its place in the queue until it is done."""
        member = _Member(name, audio, cancelled)
        need_s = len(audio) / SAMPLE_RATE + GAP_S
        key = (model, options)
        self.scheduler.hold()
        with self._lock:
            group = self._open.get(key)
            if group is not None and group.audio_s + need_s > self.capacity_s:
                self._close(group)
                group = None
            if group is None:
                group = self._open[key] = _Group(key, model, options)
                self._start_timer(group)
            group.members.append(member)
            group.audio_s += need_s
            if group.audio_s >= self.capacity_s:
                self._close(group)
        return member.result

    def _close(self, group: _Group) -> None:
        """No newcomers (it is full): queue it now. Called with the lock held."""
        if self._open.get(group.key) is group:
            del self._open[group.key]
        self._submit(group)

    def _queue(self, group: _Group) -> None:
        """The gathering timer: queue the group, or wait one more step for requests still decoding their audio."""
        with self._lock:
            waited_s = time.monotonic() - group.opened
            if not group.queued and self.scheduler.preparing and waited_s + self.gather_s <= self.max_gather_s:
                self._start_timer(group)
                return
            self._submit(group)

    def _start_timer(self, group: _Group) -> None:
        timer = threading.Timer(self.gather_s, self._queue, args=(group,))
        timer.daemon = True
        timer.start()

    def _submit(self, group: _Group) -> None:
        if group.queued:
            return
        group.queued = True
        try:
            self.scheduler.execute(lambda: self._read(group))
        except ShuttingDown as error:
            self._open.pop(group.key, None)
            for member in group.members:
                _settle(member, lambda future: future.set_exception(error))
                self.scheduler.release()

    def _read(self, group: _Group) -> None:
        """On a decoding thread: close the group to newcomers and transcribe what its members sent."""
        with self._lock:
            if self._open.get(group.key) is group:
                del self._open[group.key]
        started = time.monotonic()
        members = []
        for member in group.members:
            # From here a client that leaves cannot cancel its future: it is read with the others.
            if member.cancelled.is_set() or not member.result.set_running_or_notify_cancel():
                _settle(member, lambda future: future.set_exception(Cancelled("cancelled before it started")))
                self.scheduler.release()
                self.log.event("cancelled", f"{member.name}: cancelled before it started", source=member.name, segments=0, at_s=0.0)
            else:
                members.append(member)
        if not members:
            return
        try:
            with self.pool.lease(group.model) as whisper:
                transcripts, windows, alone = _transcribe_members(whisper, members, group.options)
        except Exception as error:  # each request answers for it: a UsageError, Cancelled, or a bug with its traceback
            for member in members:
                member.result.set_exception(error)
        else:
            self._count(group, len(members), windows, alone, waited_s=started - group.opened, decode_s=time.monotonic() - started)
            for member, transcript in zip(members, transcripts):
                member.result.set_result(transcript)
        finally:
            for _ in members:
                self.scheduler.release()

    def _count(self, group: _Group, requests: int, windows: int, alone: int, *, waited_s: float, decode_s: float) -> None:
        """Tally and log the group: its windows (shared ones, and one per clip read alone), how long it
        gathered and queued, and how long its reading took."""
        with self._lock:
            self.requests += requests
            self.windows += windows
        self.log.event(
            "packed", f"{group.model}: {requests} requests read in {windows} windows ({alone} alone)",
            model=group.model, requests=requests, windows=windows, alone=alone,
            audio_s=round(sum(len(m.audio) for m in group.members) / SAMPLE_RATE, 3),
            waited_s=round(waited_s, 3), decode_s=round(decode_s, 3),
        )


def _transcribe_members(whisper, members: list[_Member], options: DecodeOptions) -> tuple[list, int, int]:
    """Each member's Transcript, the windows they took and how many were read alone. A member that found
    no company is read the plain way, as a request with --no-pack is: packing one clip only adds its own
    layout work, and the plain path stops at the next segment when its client leaves."""
    if len(members) == 1:
        (member,) = members
        transcript = transcribe_upload(whisper, member.audio, options, filename=member.name, cancelled=member.cancelled)
        return [transcript], 1, 1
    results: list[ClipResult] = transcribe_packed(whisper, [(m.name, m.audio) for m in members], options)
    alone = sum(1 for r in results if not r.packed)
    windows = len({r.window for r in results if r.packed}) + alone
    return [r.transcript for r in results], windows, alone


def _settle(member: _Member, settle: Callable[[Future], None]) -> None:
    """Answer a member not being read, unless its client's leaving has cancelled its future already."""
    try:
        settle(member.result)
    except InvalidStateError:
        pass

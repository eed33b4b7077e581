"""The batch bar's time left: audio seconds done per second of wall time, applied to the audio still to do."""

from __future__ import annotations

import math
import time
from typing import Callable, Optional


class TimeLeft:
    """How long the rest of a batch will take, from the audio seconds done per second since it began.

    The audio still to do is what is left of the files begun, plus, for files not reached yet, their size
    at the seconds of audio per byte of the files begun so far (one folder's files are mostly one format).
    """

    def __init__(self, todo_bytes: int, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._began = clock()
        self._unseen_bytes = todo_bytes  # inputs not reached yet
        self._seen_bytes = 0  # inputs whose duration is known
        self._seen_audio_s = 0.0  # their durations
        self._done_audio_s = 0.0  # of the files finished
        self._file_s = 0.0  # the current file's duration
        self._file_done_s = 0.0  # how far into it
        self._in_file = False

    def begin_file(self, size: Optional[int], duration_s: float) -> None:
        self._unseen_bytes -= size or 0
        self._seen_bytes += size or 0
        self._seen_audio_s += duration_s
        self._file_s, self._file_done_s, self._in_file = duration_s, 0.0, True

    def advance(self, seconds: float) -> None:
        self._file_done_s = min(seconds, self._file_s)

    def end_file(self, size: Optional[int], *, done: bool) -> None:
        if not self._in_file:  # failed before its audio was known (could not be decoded)
            self._unseen_bytes -= size or 0
        elif done:
            self._done_audio_s += self._file_s
        else:  # failed partway: its audio will not be done
            self._seen_audio_s -= self._file_s
            self._seen_bytes -= size or 0
        self._file_s, self._file_done_s, self._in_file = 0.0, 0.0, False

    def seconds_left(self) -> Optional[float]:
        """None until some audio is done, or while nothing tells how long the files not reached yet are."""
        rate = self._rate()
        if rate is None or (self._unseen_bytes > 0 and self._seen_bytes <= 0):
            return None
        unseen_s = self._unseen_bytes * self._seen_audio_s / self._seen_bytes if self._unseen_bytes > 0 else 0.0
        begun_left_s = self._seen_audio_s - self._done_audio_s - self._file_done_s
        return max(begun_left_s + unseen_s, 0.0) / rate

    def file_seconds_left(self) -> Optional[float]:
        rate = self._rate()
        return None if rate is None else max(self._file_s - self._file_done_s, 0.0) / rate

    def _rate(self) -> Optional[float]:
        """Audio seconds done per second of wall time since the batch began."""
        done_s = self._done_audio_s + self._file_done_s
        elapsed = self._clock() - self._began
        return done_s / elapsed if done_s > 0 and elapsed > 0 else None


def clock(seconds: Optional[float]) -> str:
    """h:mm:ss as Rich's time columns show it; -:--:-- when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-:--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"

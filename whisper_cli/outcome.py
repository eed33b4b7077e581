"""What became of each input of a run, and of the run: plain data that the driver, the views and the summary share."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Optional

from .errors import ExitCode


class Status(str, Enum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    NOT_STARTED = "not started"


@dataclass
class Outcome:
    source: str  # the input's name as messages show it
    status: Status = Status.NOT_STARTED
    error: Optional[str] = None  # why it failed
    subject: Optional[str] = None  # the file the error is about, when it is not the input (an output in the way)
    reason: Optional[str] = None  # why it was skipped, or why it is transcribed again
    outputs: tuple[Path, ...] = ()
    size: Optional[int] = None  # the input's bytes, for the time-left estimate (progress.py)
    language: Optional[str] = None
    notes: list[str] = field(default_factory=list)  # what the engine noticed (a collapsed repetition loop ...)
    audio_s: float = 0.0  # seconds of audio in the input
    decode_s: float = 0.0  # decoding it (in the background unless --prefetch 0)
    wait_s: float = 0.0  # waiting for that decoding to finish
    transcribe_s: float = 0.0  # the model's work and writing the outputs (a packed clip: its share by audio)
    wall_s: float = 0.0  # from its turn coming to its outputs being in place (a packed clip: wait_s + transcribe_s)


@dataclass
class RunResult:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    wall_s: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.failures() else ExitCode.OK

    @property
    def audio_s(self) -> float:
        return sum(outcome.audio_s for outcome in self.outcomes if outcome.status == Status.DONE)

    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == Status.FAILED]

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in (Status.DONE, Status.SKIPPED, Status.FAILED, Status.INTERRUPTED, Status.NOT_STARTED)}
        for outcome in self.outcomes:
            counts[outcome.status.value] += 1
        return counts

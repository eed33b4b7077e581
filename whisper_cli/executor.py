"""The contract between a batch's driver and whatever transcribes its inputs (this process, workers, a cluster).

The driver (batch.run) owns the run: the plan, the claims on inputs (claims.py), the view, the outcomes
and the summary. An Executor owns the models and decides where and in what order inputs are transcribed.
It calls the Driver from the thread that called Executor.transcribe, for each job:

    driver.turn(job, wait=waiting)   its turn has come; False: nothing to do (already reported by the driver)
    driver.started(job)              it is being transcribed; returns the FileEvents to report progress to
    driver.finished(job, result)     its outputs and record are in place (or it failed): the pipeline's FileResult

An executor in another process is sent driver.task(job) (a plain, picklable pipeline.FileTask) and runs
pipeline.run_task with it; the claim stays here, with the driver, for as long as the job is begun.
"""

from __future__ import annotations

from typing import Optional, Protocol, Sequence

from . import claims, manifest
from .outcome import Outcome, Status
from .pipeline import FileEvents, FileResult, FileTask
from .plan import Job, check_folders_inside, destination, settings_key
from .run_config import RunConfig


class Executor(Protocol):
    def transcribe(self, jobs: Sequence[Job], driver: "Driver", *, waiting: bool) -> None:
        """Give every job its turn (driver.turn, in plan order or any order the executor prefers), and
        transcribe each job that turn() returned True for, between driver.started and driver.finished.
        Returns once all of them are finished; a KeyboardInterrupt (Ctrl-C, SIGTERM) is let through.

        waiting: the driver's second pass, over inputs another run held at their first turn; turn() then
        waits for each claim, and each input is transcribed alone (no packing, no decoding ahead)."""

    def in_flight(self) -> list[Job]:
        """The jobs begun and not finished (asked after an interrupt, to report them interrupted)."""

    def close(self) -> None:
        """Stop all work and let go of workers and models; always called, also after an interrupt."""


class Driver:
    """The run's side of the contract: claims, events and outcomes, for the executor to call."""

    def __init__(self, config: RunConfig, jobs: Sequence[Job], view):
        self.config = config
        self.view = view
        self.deferred: list[Job] = []  # inputs another run was transcribing when their turn came
        self._total = len(jobs)
        self._index = {id(job): index for index, job in enumerate(jobs, start=1)}
        self._key = settings_key(config)
        self._claims: dict[int, claims.Claim] = {}

    def turn(self, job: Job, *, wait: bool = False) -> bool:
        """The job's turn has come. True: claimed, transcribe it now. False: the plan settled it (reported
        now), another run finished it (skipped), or another run holds it (left for the waiting pass)."""
        outcome = job.outcome
        if job.problem is not None:
            outcome.status, outcome.error = Status.FAILED, job.problem
            self.view.finished(outcome)
        elif outcome.status == Status.SKIPPED:
            self.view.skipped(outcome)
        elif outcome.status == Status.FAILED:  # a file not ours in the way (plan.py)
            self.view.finished(outcome)
        elif self._claim(job, wait=wait):
            return True
        elif outcome.status == Status.SKIPPED:
            self.view.skipped(outcome)
        else:
            self.deferred.append(job)
        return False

    def started(self, job: Job) -> FileEvents:
        self.view.started(job.outcome, self._index[id(job)], self._total)
        return ViewEvents(self.view, job.outcome)

    def finished(self, job: Job, result: FileResult) -> None:
        """Record what became of the job, let go of its claim, and tell the view."""
        apply(job.outcome, result)
        self.release(job)
        self.view.finished(job.outcome)

    def task(self, job: Job) -> FileTask:
        assert job.input is not None
        return FileTask(job.input.source, job.input.name, destination(job, self.config), self.config.decode, self.config.raw)

    def release(self, job: Job) -> None:
        claim = self._claims.pop(id(job), None)
        if claim is not None:
            claim.release()

    def release_all(self) -> None:
        for claim in self._claims.values():
            claim.release()
        self._claims.clear()

    def _claim(self, job: Job, *, wait: bool) -> bool:
        """Claim the job's input for this run (claims.py). False if another run holds the claim (and `wait` is
        False), or has finished the input since the plan was made: then the job is marked skipped."""
        if not job.resumable:
            return True
        config = self.config
        if config.output_dir is not None:
            check_folders_inside(job, config.output_dir)  # again: a link may have been made since the plan
        claim = claims.take(job.base, wait=wait)
        if claim is None:
            return False
        if not config.overwrite and manifest.why_not_done(job.base, job.outputs, self._key, job.stamp) is None:
            claim.release()
            job.outcome.status, job.outcome.reason = Status.SKIPPED, "finished by another run"
            return False
        self._claims[id(job)] = claim
        return True


class ViewEvents:
    """A job's FileEvents, told to the run's view."""

    def __init__(self, view, outcome: Outcome):
        self._view, self._outcome = view, outcome

    def language(self, language: Optional[str], probability: Optional[float]) -> None:
        self._view.language(self._outcome, language, probability)

    def transcribing(self, duration_s: float) -> None:
        self._view.transcribing(self._outcome, duration_s)

    def advance(self, seconds: float) -> None:
        self._view.advance(seconds)

    def note(self, message: str) -> None:
        self._view.note(self._outcome, message)  # kept in the outcome from the FileResult (apply)


def apply(outcome: Outcome, result: FileResult) -> None:
    """A FileResult into the job's Outcome, which the view and the summary read."""
    outcome.status = result.status
    if result.status == Status.FAILED:
        outcome.error, outcome.subject, outcome.outputs = result.error, result.subject, ()
    else:
        outcome.language, outcome.audio_s = result.language, result.audio_s
    outcome.notes = list(result.notes)
    outcome.decode_s, outcome.wait_s = result.decode_s, result.wait_s
    outcome.transcribe_s, outcome.wall_s = result.transcribe_s, result.wall_s

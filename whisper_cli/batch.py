"""Inputs -> transcripts: one model load for all inputs, an outcome per file, going on past a bad file.

run() plans first (find the files, name their outputs, remove temp files of killed runs, skip what a
record says is done), then hands the jobs to an executor (executor.py), which loads the model once, if
anything is left to do, and transcribes the rest (local_executor.py: in order, in this process, while the
next file is decoded in the background). An input's outputs and record appear all together, whole, or not
at all (commit.py); what is done and where outputs go is decided in plan.py. Each input is claimed before
it is transcribed, so runs sharing an output folder split the work (claims.py); the driver holds the claims.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from .console import Reporter
from .executor import Driver, Executor
from .lazy_model import LazyModel
from .local_executor import LocalExecutor
from .outcome import RunResult, Status
from .output import remove_own_temp_files
from .plan import is_todo, output_folders, plan, settings_key
from .progress import make_view
from .run_config import DEFAULT_PREFETCH, ModelSettings, RunConfig, validate

__all__ = ["DEFAULT_PREFETCH", "ModelSettings", "RunConfig", "RunResult", "run", "settings_key", "validate"]


def run(config: RunConfig, reporter: Reporter, load_model: Optional[Callable] = None) -> RunResult:
    validate(config)
    started = time.monotonic()
    jobs = plan(config, reporter)
    view = make_view(reporter, config.log_format, batch=config.is_batch)
    result = RunResult()
    driver = Driver(config, jobs, view)
    executor = make_executor(config, reporter, load_model, view)
    began = False
    try:
        todo = [job for job in jobs if is_todo(job)]
        view.begin(len(jobs), sum(1 for job in jobs if job.outcome.status != Status.SKIPPED), sum(job.outcome.size or 0 for job in todo))
        began = True
        executor.transcribe(jobs, driver, waiting=False)
        # Wait until the other run is done with each input it held, then skip it, or do it if that run failed or died.
        executor.transcribe(list(driver.deferred), driver, waiting=True)
    except KeyboardInterrupt:
        result.interrupted = True
        for folder in output_folders(jobs):
            remove_own_temp_files(folder)
        waiting = [job.outcome for job in executor.in_flight() if job.outcome.status == Status.NOT_STARTED]
        for outcome in waiting:  # not one that had just finished
            outcome.status = Status.INTERRUPTED
            view.interrupted(outcome)
        if not waiting:
            view.interrupted(None)
        raise
    finally:
        executor.close()
        driver.release_all()
        result.outcomes = [job.outcome for job in jobs]
        result.wall_s = time.monotonic() - started
        if began:
            view.summary(result)
        view.close()
    return result


def make_executor(config: RunConfig, reporter: Reporter, load_model: Optional[Callable], view) -> Executor:
    """This process's model, unless a batch of files asks for workers (--workers, --device-index)."""
    if (config.workers > 1 or config.device_index) and config.is_batch and not config.to_stdout:
        from .workers import WorkerPool

        return WorkerPool(config, reporter, view)
    return LocalExecutor(config, LazyModel(config, reporter, load_model, view), reporter)

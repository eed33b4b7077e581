"""Inputs -> jobs: find the files, name their outputs, and decide for each what a record says is done.

A job is skipped when its record matches (manifest.py); it fails at once, without being decoded, when a
file whisper-cli did not write is in the way of one of its outputs (a batch never replaces one; --overwrite
does). Before anything is written, each output folder is checked not to lead out of -o through a
symbolic link; the same check is made again at every write (output.check_inside).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from . import manifest
from .commit import NOT_WRITTEN_BY_US, Destination, NotWrittenByUs, Record
from .commit import check_not_foreign as _check_not_foreign
from .console import Reporter
from .errors import InputError, UsageError
from .inputs import Input, discover, output_bases, read_list
from .outcome import Outcome, Status
from .output import check_inside, remove_stale_temp_files
from .run_config import RunConfig
from .writers import make_writer

__all__ = ["NOT_WRITTEN_BY_US", "NotWrittenByUs", "Outcome", "Status"]  # kept here for their earlier importers


@dataclass
class Job:
    """One entry of the plan: an input and the files it is to produce, or an argument that named none."""

    outcome: Outcome
    input: Optional[Input] = None  # None for a Problem (a pattern that matches nothing ...)
    outputs: dict[str, Path] = field(default_factory=dict)  # format -> final path; empty for stdout
    base: Optional[Path] = None  # outputs' path less the extension; where the record is kept
    stamp: Optional[manifest.SourceStamp] = None
    problem: Optional[str] = None  # why an argument named no file

    @property
    def resumable(self) -> bool:
        """Part of a batch, with outputs in files, from a file that a later run can find again (not stdin)."""
        return self.stamp is not None


def plan(config: RunConfig, reporter: Reporter) -> list[Job]:
    """Find the inputs, name their outputs, clear temp files of killed runs, mark what is already done."""
    listed = _read_files_from(config.files_from) if config.files_from is not None else []
    found = discover(config.inputs, recursive=config.recursive, listed=listed)
    inputs = [entry for entry in found.entries if isinstance(entry, Input)]
    bases = {} if config.to_stdout else output_bases(inputs, config.output_dir)
    jobs = [
        _job(entry, bases.get(entry), config) if isinstance(entry, Input) else Job(Outcome(entry.name), problem=entry.cause)
        for entry in found.entries
    ]
    if config.output_dir is not None:
        for job in jobs:
            if job.base is not None:
                check_folders_inside(job, config.output_dir)
    _remove_stale_temp_files(jobs, reporter)
    if config.is_batch:
        key = settings_key(config)
        for job in jobs:
            if job.input is not None:
                _decide(job, key, config.overwrite)
    return jobs


def settings_key(config: RunConfig) -> dict[str, Any]:
    """What makes an output what it is: the model asked for, its compute type, every decoding and layout setting.

    The model is taken as asked for, not as resolved, so a finished batch is recognised without loading it;
    a size name counts as its hub repo (turbo = large-v3-turbo), a local folder as its resolved path.
    """
    from .models import MODEL_REPOS

    name = config.model.name
    if os.path.isdir(os.path.expanduser(name)):
        model = os.path.realpath(os.path.expanduser(name))
    else:
        model = MODEL_REPOS.get(name, name)
    return {
        "model": model,
        "compute_type": config.model.compute_type,
        "decode": config.decode.as_record(),
        "layout": asdict(config.layout),
        "pack": config.pack,
        **({"raw": asdict(config.raw)} if config.raw else {}),  # absent unless given: older records stay valid
    }


def check_folders_inside(job: Job, output_dir: Path) -> None:
    """The job's output folder and its record folder must not lead out of -o by a symbolic link (exit 4)."""
    assert job.base is not None
    check_inside(job.base.parent, output_dir)
    check_inside(job.base.parent / manifest.RECORD_FOLDER, output_dir)


def check_not_foreign(job: Job) -> None:
    """Raise NotWrittenByUs for the first output whose place holds a file no record says whisper-cli wrote."""
    assert job.base is not None
    _check_not_foreign(job.base, job.outputs)


def is_todo(job: Job) -> bool:
    """Whether the plan leaves the job to be transcribed (not skipped, not failed, not a problem)."""
    return job.input is not None and job.outcome.status == Status.NOT_STARTED


def destination(job: Job, config: RunConfig) -> Destination:
    """Where the job's transcript goes, as plain data a worker in another process can be given."""
    record = None
    if job.resumable:
        assert job.input is not None and job.stamp is not None
        record = Record(settings_key(config), job.stamp, job.input.source, config.overwrite)
    return Destination(config.formats, config.layout, dict(job.outputs), config.output_dir, job.base, record)


def fail(outcome: Outcome, error: InputError) -> None:
    outcome.status = Status.FAILED
    outcome.error = error.cause
    outcome.subject = error.subject if error.subject != outcome.source else None
    outcome.outputs = ()


def output_folders(jobs: list[Job]) -> list[Path]:
    """The existing folders this run writes outputs and records to."""
    folders = {job.base.parent for job in jobs if job.base is not None}
    folders |= {folder / manifest.RECORD_FOLDER for folder in folders}
    return [folder for folder in folders if folder.is_dir()]


def _read_files_from(list_source: str) -> list[str]:
    try:
        return read_list(list_source)
    except OSError as error:
        raise UsageError("--files-from", f"cannot read {list_source}: {error.strerror or error}") from None


def _job(item: Input, base: Optional[Path], config: RunConfig) -> Job:
    if base is None:  # streaming to stdout
        return Job(Outcome(item.name), item)
    outputs = {fmt.value: base.with_name(f"{base.name}.{make_writer(fmt, config.layout).extension}") for fmt in config.formats}
    return Job(Outcome(item.name, outputs=tuple(outputs.values())), item, outputs, base)


def _decide(job: Job, key: dict[str, Any], overwrite: bool) -> None:
    """Skip the job if its record says it is done, fail it if a file not ours is in the way (stdin is never
    in a batch, so every input is a path)."""
    assert job.input is not None and job.base is not None
    job.stamp = manifest.SourceStamp.of(job.input.source)
    job.outcome.size = job.stamp.size if job.stamp else None
    if overwrite:
        job.outcome.reason = "--overwrite"
        return
    job.outcome.reason = manifest.why_not_done(job.base, job.outputs, key, job.stamp)
    if job.outcome.reason is None:
        job.outcome.status = Status.SKIPPED
        job.outcome.reason = "already done with the same model and settings"
        return
    try:
        check_not_foreign(job)
    except NotWrittenByUs as error:
        fail(job.outcome, error)


def _remove_stale_temp_files(jobs: list[Job], reporter: Reporter) -> None:
    """Temp files of killed runs (dead writer pids) in the folders this run writes to.

    A killed file is not done, so it is in this run too, and its folder is searched; only those folders,
    not their sub-folders, so that `-o ~` or an input folder's whole tree is never walked.
    """
    removed = sum(remove_stale_temp_files(folder, recursive=False) for folder in output_folders(jobs))
    if removed:
        reporter.info(f"removed {removed} temp file(s) left by an interrupted run")

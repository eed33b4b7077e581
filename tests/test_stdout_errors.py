"""stdout that cannot be written: exit 4 and `error: <stdout>: <cause>`; a genuine bug keeps its traceback.

Real processes and real devices: /dev/full gives ENOSPC, fd 1 opened read-only or closed gives EBADF. Only
EIO (a failing disk) cannot be made here; an in-process stream that raises it stands in for one.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES

TRANSCRIBE = str(Path(sys.executable).parent / "transcribe")
HELLO = SAMPLES / "hello.flac"


def _shell(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args", [[str(HELLO), "--model", "tiny.en"], ["--version"], ["--help"]], ids=["transcript", "--version", "--help"]
)
def test_full_disk_on_stdout_exits_4_with_one_line(args):
    done = _shell(f"{TRANSCRIBE} {' '.join(args)} > /dev/full")
    assert (done.returncode, done.stderr.splitlines()) == (4, ["error: <stdout>: No space left on device"]), done.stderr


@pytest.mark.parametrize("redirect", ["1</dev/null", ">&-"], ids=["stdout opened read-only", "stdout closed"])
def test_unwritable_stdout_exits_4_with_one_line(redirect):
    done = _shell(f"{TRANSCRIBE} {HELLO} --model tiny.en {redirect}")
    assert (done.returncode, done.stderr.splitlines()) == (4, ["error: <stdout>: Bad file descriptor"]), done.stderr


def test_nothing_on_stdout_needs_no_stdout(tmp_path):
    """With -o, a closed stdout is never written to, so it is no error."""
    done = _shell(f"{TRANSCRIBE} {HELLO} --model tiny.en -o {tmp_path} >&-")
    assert done.returncode == 0, done.stderr
    assert "transcribed" in (tmp_path / "hello.txt").read_text()


class _FailingDisk:
    """A stdout whose device fails (EIO): this machine has no failing disk to write to."""

    def write(self, text):
        raise OSError(errno.EIO, "Input/output error")

    def flush(self):
        pass


def test_io_error_on_stdout_exits_4(monkeypatch, capsys, reuse_loaded_model):
    from whisper_cli.cli import main

    monkeypatch.setattr(sys, "argv", ["transcribe", str(HELLO), "--model", "tiny.en"])
    monkeypatch.setattr(sys, "stdout", _FailingDisk())
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 4
    assert capsys.readouterr().err.splitlines() == ["error: <stdout>: Input/output error"]


def test_genuine_bug_keeps_its_traceback():
    """An exception that is not ours (here a ZeroDivisionError planted in batch.run) is shown whole."""
    program = (
        "import sys\n"
        "from whisper_cli import batch, cli\n"
        "def broken(config, reporter):\n    return 1 / 0\n"
        "batch.run = broken\n"
        f"sys.argv = ['transcribe', {str(HELLO)!r}]\n"
        "cli.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1] == "ZeroDivisionError: division by zero", done.stderr

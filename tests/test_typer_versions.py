"""The CLI under the lowest and the highest Typer that pyproject.toml allows, each installed for this test.

Typer 0.26+ vendors its own click (typer._click, without Abort); older ones use click itself, and their
click must be one they work with. Each version is pip-installed into a temporary folder put first on
PYTHONPATH, so the rest of this environment (numpy, PyAV, the engine) is shared and a real transcription runs.
Needs PyPI (or the index pip is configured with); CI has it. Marked slow, but CI runs it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SAMPLES
from test_signals import _wait_until_blocked_reading

HELLO = SAMPLES / "hello.flac"

pytestmark = pytest.mark.slow


def _allowed_typer() -> tuple[str, str]:
    """(lowest, highest) as pip requirements, from the typer line of pyproject.toml."""
    spec = re.search(r'"typer(>=[^",]+,<[^",]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    floor = re.match(r">=([\w.]+)", spec).group(1)
    return f"typer=={floor}", f"typer{spec}"


@pytest.fixture(scope="module", params=_allowed_typer(), ids=["lowest allowed", "highest allowed"])
def typer_env(request, tmp_path_factory):
    target = tmp_path_factory.mktemp("typer")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target), request.param],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    installed = sorted(path.name for path in target.glob("typer-*.dist-info"))
    assert installed, f"pip put no typer in {target}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    version = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m, typer; print(m.version('typer'), typer.__file__)"],
        capture_output=True, text=True, env=env, timeout=60,
    ).stdout.split()
    assert version[1].startswith(str(target)), version  # the installed Typer, not this environment's
    return env


def _cli(env, *args, program="main", stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    code = f"from whisper_cli.launch import {program}; {program}()"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], stdout=stdout, stderr=subprocess.PIPE, text=True, env=env,
        timeout=300,
    )


def test_transcribes_and_answers_help_and_version(typer_env):
    done = _cli(typer_env, HELLO, "--model", "tiny.en")
    assert done.returncode == 0 and "transcribed on your own computer" in done.stdout, done.stderr
    assert _cli(typer_env, "-h").stdout.startswith("Usage: ")
    assert _cli(typer_env, "--version", program="whisper_cli_main").stdout.startswith("whisper-cli ")
    assert "_transcribe_completion" in _cli(typer_env, "completion", "bash", program="whisper_cli_main").stdout


@pytest.mark.parametrize(
    "args, program, line",
    [
        (["--bogus"], "main", "error: --bogus: no such option"),
        ([HELLO, "--beam-size", "0"], "main", "error: --beam-size: 0 is not in the range x>=1"),
        (["prob"], "whisper_cli_main", "error: prob: no such command (did you mean probe?)"),
    ],
)
def test_usage_errors_are_one_line_exit_2(typer_env, args, program, line):
    done = _cli(typer_env, *args, program=program)
    assert (done.returncode, done.stderr.splitlines()) == (2, [line])


def test_stdout_write_failure_exits_4(typer_env):
    with open("/dev/full", "w") as full:
        done = _cli(typer_env, "--version", stdout=full)
    assert (done.returncode, done.stderr.splitlines()) == (4, ["error: <stdout>: No space left on device"])


def test_ctrl_c_while_reading_stdin_exits_130(typer_env):
    """Ctrl-C inside the command is what click turns into its Abort: the handler that crashed in issue 11."""
    sleeper = subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE)
    process = subprocess.Popen(
        [sys.executable, "-c", "from whisper_cli.launch import main; main()", "-", "--model", "tiny.en"],
        stdin=sleeper.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=typer_env,
    )
    sleeper.stdout.close()
    try:
        _wait_until_blocked_reading(process.pid)
        process.send_signal(signal.SIGINT)
        stderr = process.stderr.read().decode()
        assert (process.wait(timeout=60), stderr.splitlines()) == (130, ["error: interrupted"]), stderr
    finally:
        for child in (process, sleeper):
            if child.poll() is None:
                child.kill()
            child.wait(timeout=60)


def test_genuine_bug_keeps_its_traceback(typer_env):
    program = (
        "import sys\nfrom whisper_cli import batch, cli\n"
        "batch.run = lambda config, reporter: 1 / 0\n"
        f"sys.argv = ['transcribe', {str(HELLO)!r}]\ncli.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=typer_env, timeout=120)
    assert done.returncode == 1 and "Traceback" in done.stderr
    assert done.stderr.splitlines()[-1] == "ZeroDivisionError: division by zero", done.stderr

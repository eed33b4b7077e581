"""Ctrl-C and SIGTERM while `transcribe` waits for audio on stdin, a FIFO or a process substitution.

Real processes only: the writer is a `sleep 30` that never writes, the signal goes to the process or to its
whole process group (what a terminal's Ctrl-C and `timeout` do), and the test waits until the process is
really blocked in the read before signalling. A reader on a daemon thread made this `Fatal Python error:
_enter_buffered_busy` and exit 134 (issue 11, item 2).
"""

from __future__ import annotations

import os
import pty
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SAMPLES

TRANSCRIBE = str(Path(sys.executable).parent / "transcribe")
EXPECTED = {signal.SIGINT: (130, "error: interrupted"), signal.SIGTERM: (143, "error: terminated")}
# What the kernel shows in /proc/<pid>/wchan for a thread blocked reading an empty pipe or opening a FIFO.
BLOCKED_IN = ("pipe_read", "pipe_wait", "wait_for_partner", "fifo_open")


def _wait_until_blocked_reading(pid: int, timeout_s: float = 120.0) -> None:
    """Until one of the process's threads sleeps in a pipe read (or a FIFO open)."""
    deadline = time.monotonic() + timeout_s
    hidden_after = time.monotonic() + 20
    while time.monotonic() < deadline:
        channels = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                channels.append((task / "wchan").read_text())
            except OSError:
                pass
        if any(blocked in channel for channel in channels for blocked in BLOCKED_IN):
            time.sleep(0.5)  # let the other threads settle where they wait too
            return
        if channels and all(channel in ("", "0") for channel in channels) and time.monotonic() > hidden_after:
            return  # this kernel hides wait channels: 20 s is far past start-up on any machine
        time.sleep(0.1)
    pytest.fail(f"process {pid} never blocked in a read")


def _signal_and_collect(process: subprocess.Popen, signum: int, group: int | None) -> tuple[int, str]:
    _wait_until_blocked_reading(process.pid)
    if group is not None:
        os.killpg(group, signum)
    else:
        os.kill(process.pid, signum)
    stderr = process.stderr.read().decode()
    return process.wait(timeout=60), stderr


def _assert_stopped_cleanly(code: int, stderr: str, signum: int) -> None:
    expected_code, expected_line = EXPECTED[signum]
    assert "Fatal Python error" not in stderr and "Traceback" not in stderr, stderr
    assert (code, stderr.splitlines()) == (expected_code, [expected_line]), stderr


def _start_in_shell(command: str) -> subprocess.Popen:
    """bash execs transcribe, so its pid is the process group's, and <(...) children share the group."""
    return subprocess.Popen(
        ["bash", "-c", f"exec {command}"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, process_group=0,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("to_group", [False, True], ids=["to the process", "to its group"])
def test_signal_while_reading_a_stdin_pipe_exits_130_or_143_with_one_line(signum, to_group):
    """`sleep 30 | transcribe -`, then Ctrl-C or SIGTERM; both in one process group, as a shell makes them."""
    sleeper = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE, process_group=0)
    process = subprocess.Popen(
        [TRANSCRIBE, "-", "--model", "tiny.en"], stdin=sleeper.stdout, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, process_group=sleeper.pid,
    )
    sleeper.stdout.close()
    try:
        code, stderr = _signal_and_collect(process, signum, group=sleeper.pid if to_group else None)
    finally:
        _reap(process)
        _reap(sleeper)
    _assert_stopped_cleanly(code, stderr, signum)


@pytest.mark.parametrize(
    "source",
    ["stdin from a FIFO", "stdin from a process substitution", "a FIFO path", "a process substitution path"],
)
@pytest.mark.parametrize(
    "signum, to_group", [(signal.SIGINT, False), (signal.SIGTERM, True)], ids=["SIGINT to the process", "SIGTERM to its group"]
)
def test_signal_while_waiting_on_a_fifo_or_process_substitution(tmp_path, source, signum, to_group):
    fifo = tmp_path / "audio.wav"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["bash", "-c", f"exec 3>{shlex.quote(str(fifo))}; sleep 30"])  # opens, never writes
    transcribe = shlex.quote(TRANSCRIBE)
    command = {
        "stdin from a FIFO": f"{transcribe} - --model tiny.en < {shlex.quote(str(fifo))}",
        "stdin from a process substitution": f"{transcribe} - --model tiny.en < <(sleep 30)",
        "a FIFO path": f"{transcribe} {shlex.quote(str(fifo))} --model tiny.en",
        "a process substitution path": f"{transcribe} <(sleep 30) --model tiny.en",
    }[source]
    process = _start_in_shell(command)
    try:
        code, stderr = _signal_and_collect(process, signum, group=process.pid if to_group else None)
    finally:
        _reap(process)
        writer.kill()
        writer.wait()
    _assert_stopped_cleanly(code, stderr, signum)


def test_stdin_on_a_terminal_says_it_is_reading_audio_until_the_audio_comes():
    """stderr on a terminal: one line says where the audio is awaited; the transcript follows once it comes."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [TRANSCRIBE, "-", "--model", "tiny.en"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=follower,
    )
    os.close(follower)
    try:
        seen = _read_until(leader, b"reading audio from stdin", timeout_s=120)
        assert b"reading audio from stdin" in seen, seen
        process.stdin.write((SAMPLES / "hello.flac").read_bytes())
        process.stdin.close()
        stdout = process.stdout.read().decode()
        assert process.wait(timeout=300) == 0
    finally:
        _reap(process)
        os.close(leader)
    assert "transcribed on your own computer" in stdout


def test_stdin_notice_is_not_written_when_stderr_is_not_a_terminal():
    done = subprocess.run(
        [TRANSCRIBE, "-", "--model", "tiny.en"], input=(SAMPLES / "hello.flac").read_bytes(),
        capture_output=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""


def _read_until(fd: int, wanted: bytes, timeout_s: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the terminal closed: the process ended
                break
    return seen


def _reap(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=60)

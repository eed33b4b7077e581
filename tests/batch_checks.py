"""Checks shared by the batch tests: its jsonl events, its output files, and whether they are whole."""

from __future__ import annotations

import json
from pathlib import Path

from whisper_cli.output import TEMP_SUFFIX


def events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def sources(stderr: str, kind: str) -> list[str]:
    return [event["source"] for event in events(stderr) if event["event"] == kind]


def relative_sources(stderr: str, kind: str, root: Path) -> list[str]:
    return [Path(source).relative_to(root).as_posix() for source in sources(stderr, kind)]


def output_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".whisper-cli" not in p.parts)


def temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(f"*{TEMP_SUFFIX}"))


def assert_complete(out: Path) -> None:
    """Every output parses whole: srt cues end cleanly, json documents close, txt ends its last line."""
    import srt as srt_parser

    for path in out.rglob("*.srt"):
        cues = list(srt_parser.parse(path.read_text()))
        assert cues and all(cue.content.strip() for cue in cues), path
    for path in out.rglob("*.json"):
        if ".whisper-cli" not in path.parts:
            document = json.loads(path.read_text())
            assert document["segments"] and document["text"], path
    for path in out.rglob("*.txt"):
        assert path.read_text().endswith("\n"), path


def run_on_terminal(command: list[str], cwd: Path, timeout_s: float = 300) -> tuple[int, str]:
    """Run `command` with its stderr on a pseudo-terminal (200 columns), as a person would see it; stdout is
    discarded. Returns the exit code and everything written to the terminal, escape sequences removed."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import termios
    import threading

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    timer = threading.Timer(timeout_s, process.kill)  # never hang the suite
    timer.start()
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process and its children closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=60)
    finally:
        timer.cancel()
        os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r", "\n", text)

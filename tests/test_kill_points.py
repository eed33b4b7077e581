"""SIGINT, SIGTERM and SIGKILL at points of a real batch that the batch itself reports, each followed by a re-run.

Each point is placed by progress, not by time: the signal goes out as soon as the process has written its
Nth `started` or `done` event (`--log-format jsonl` on stderr), so it lands in model load, in a given
input's transcription, between inputs, or while packed clips share a window, on a fast machine or a slow
one. Every point must interrupt the run: the process ends with 130 (SIGINT), 143 (SIGTERM) or by SIGKILL,
not every output is there, and no traceback. Every output in place parses whole and no temp file is left
(after SIGKILL temp files may be left, and the re-run removes them). The re-run transcribes exactly the
inputs not finished before (each input once in all) and ends with the transcripts of a run never stopped
(packing groups differ after a stop, so packed runs are compared by file set and wholeness).

No point lands inside an output's write on purpose: the project has no hook to pause a process there, and
a point placed by time would land there only by chance; output.py's atomic write has its own tests.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from batch_checks import assert_complete, events, output_files, sources, temp_files
from conftest import REPO, SAMPLES, TEST_MODEL
from same_words import assert_same_words
from whisper_cli.errors import ExitCode
from whisper_cli.launch import INTERRUPTED

# Greedy decoding: what is tested is stopping and resuming, and it halves each run's time.
OPTIONS = ("-f", "srt,json,txt", "--model", TEST_MODEL, "--compute-type", "int8", "--beam-size", "1", "--log-format", "jsonl")
EXIT_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED, signal.SIGKILL: -signal.SIGKILL}
# The batch, in the order it is transcribed; b/long.wav (28 s) is too long to share a window when packing.
INPUTS = ("a/forecast.ogg", "a/hello.flac", "b/long.wav", "c/hotwords.mp3")
OUTPUTS = sorted(f"{name.rsplit('.', 1)[0]}.{ext}" for name in INPUTS for ext in ("json", "srt", "txt"))


@dataclass(frozen=True)
class Point:
    """Send `signal` once the run has reported its `count`th `event`; `lands` is what the run is doing then."""

    signal: signal.Signals
    event: str  # "started" or "done"
    count: int
    pack: bool
    lands: str

    @property
    def id(self) -> str:
        return f"{self.signal.name}-after-{self.event}-{self.count}-{'packed' if self.pack else 'one-by-one'}"


POINTS = [
    # One by one: started 1 comes before the engine is imported and the model loaded.
    Point(signal.SIGINT, "started", 1, False, "engine import and model load"),
    Point(signal.SIGTERM, "started", 1, False, "engine import and model load"),
    Point(signal.SIGKILL, "started", 1, False, "engine import and model load"),
    Point(signal.SIGTERM, "done", 1, False, "the second input's transcription"),
    Point(signal.SIGKILL, "done", 2, False, "the 28 s input's transcription"),
    Point(signal.SIGINT, "done", 3, False, "the last input's transcription"),
    # Packed: the two clips of a/ wait for a shared window while b/long.wav loads the model and is
    # transcribed alone; c/hotwords.mp3 joins them and the shared window is transcribed at the end.
    Point(signal.SIGINT, "started", 2, True, "two clips waiting for a shared window, model load"),
    Point(signal.SIGTERM, "done", 1, True, "the shared window's transcription"),
    Point(signal.SIGKILL, "started", 4, True, "the shared window's transcription"),
]


@pytest.fixture(scope="module")
def batch(tmp_path_factory, shared_samples) -> Path:
    """Four inputs in three folders: short clips that packing puts in shared windows, and one of 28 s that it does not."""
    folder = tmp_path_factory.mktemp("kill-points") / "in"
    parts = [SAMPLES / "forecast.ogg", shared_samples / "jfk.flac", shared_samples / "hotwords.mp3"]
    for relative, source in {
        "a/forecast.ogg": parts[0],
        "a/hello.flac": SAMPLES / "hello.flac",
        "c/hotwords.mp3": parts[2],
    }.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / relative)
    (folder / "b").mkdir()
    inputs = [argument for part in parts for argument in ("-i", str(part))]
    chains = "".join(f"[{index}:a]aresample=16000,aformat=channel_layouts=mono[a{index}];" for index in range(len(parts)))
    joined = "".join(f"[a{index}]" for index in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", *inputs, "-filter_complex", chains + joined, str(folder / "b" / "long.wav")], check=True
    )
    return folder


def _command(folder: Path, out: Path, pack: bool) -> list[str]:
    return [sys.executable, "-m", "whisper_cli", str(folder), "-o", str(out), *OPTIONS, *([] if pack else ["--no-pack"])]


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        # A test run from a non-interactive shell's background job inherits SIGINT ignored; Ctrl-C is what we test.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _signal_at(point: Point, process: subprocess.Popen) -> tuple[int, list[dict], str]:
    """Read events until the point's event has come `count` times, signal, and wait: exit code, events, stderr."""
    timer = threading.Timer(300, process.kill)  # never hang the suite if the event never comes
    timer.start()
    seen: list[dict] = []
    lines: list[str] = []
    try:
        while sum(event["event"] == point.event for event in seen) < point.count:
            line = process.stderr.readline()
            if not line:
                raise AssertionError(f"{point.id}: the run ended before the point\n{''.join(lines)}")
            lines.append(line)
            if line.startswith("{"):
                seen.append(json.loads(line))
        process.send_signal(point.signal)
        lines.append(process.stderr.read())
        process.wait(timeout=120)
    finally:
        timer.cancel()
    stderr = "".join(lines)
    return process.returncode, events(stderr), stderr


@pytest.fixture(scope="module")
def uninterrupted(batch, tmp_path_factory) -> dict[str, bytes]:
    """The outputs of a run never stopped (one by one), by name."""
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    done = subprocess.run(_command(batch, out, pack=False), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert output_files(out) == OUTPUTS
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def test_the_launcher_exit_code_is_the_documented_one():
    assert INTERRUPTED == ExitCode.INTERRUPTED


@pytest.mark.parametrize("point", POINTS, ids=[point.id for point in POINTS])
def test_a_signal_at_a_reported_point_interrupts_keeps_only_whole_outputs_and_a_rerun_finishes_each_input_once(
    point, batch, uninterrupted, run_cli, tmp_path
):
    out = tmp_path / "out"
    returncode, reported, stderr = _signal_at(point, _start(_command(batch, out, point.pack)))
    context = f"{point.id} ({point.lands})\n{stderr}"

    # It interrupted the run: the signal's own exit code, and something left to do.
    assert returncode == EXIT_CODES[point.signal], context
    present = output_files(out) if out.exists() else []
    assert set(present) < set(OUTPUTS), f"nothing was left to interrupt\n{context}"
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, context
    finished = {event["source"] for event in reported if event["event"] == "done"}
    if point.signal != signal.SIGKILL:
        assert reported[-1]["event"] == "summary" and reported[-1]["interrupted"] is True, context
        assert any(event["event"] == "interrupted" for event in reported), context
        assert set(present) == {name for name in OUTPUTS if str(batch / _input_of(name)) in finished}, context
    if out.exists():
        assert_complete(out)
        if point.signal != signal.SIGKILL:
            assert not temp_files(out), context

    rerun = run_cli(batch, "-o", out, *OPTIONS, *([] if point.pack else ["--no-pack"]))
    done, skipped = set(sources(rerun.stderr, "done")), set(sources(rerun.stderr, "skipped"))
    assert finished <= skipped, f"finished work was done again\n{context}"
    assert done and not done & skipped and len(done | skipped) == len(INPUTS), context
    assert [event for event in events(rerun.stderr) if event["event"] == "failed"] == []
    assert output_files(out) == OUTPUTS
    assert_complete(out)
    assert not temp_files(out) and not list(out.rglob("*.lock"))
    if not point.pack:
        # The transcripts of a run never stopped; word for word, not byte for byte: on some CPUs CTranslate2's
        # int8 decoding differs from one run to the next (same_words.py).
        for name in OUTPUTS:
            if name.endswith(".txt"):
                assert_same_words(f"{name}\n{context}", (out / name).read_text(), uninterrupted[name].decode())


def _input_of(output: str) -> str:
    return next(name for name in INPUTS if name.rsplit(".", 1)[0] == output.rsplit(".", 1)[0])

"""SIGINT and SIGTERM at 20 seeded points of a real batch, SIGKILL at 8 more, each followed by a re-run that finishes it.

Each kill point is a fraction of an uninterrupted run's wall time (start-up and model load included), so
the signals land anywhere: while importing, loading the model, decoding, transcribing, writing outputs
and records, or after the end. After each one the process exits 130 (SIGINT) or 143 (SIGTERM) without a
traceback, every output in place parses whole, no temp file is left (after SIGKILL temp files may be left,
and the re-run removes them), and a re-run transcribes exactly the inputs not finished before (each input
once in all) and ends with the same transcripts as the run never stopped (packing groups differ after a
stop, so packed runs are compared by file set and wholeness).
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_checks import assert_complete, events, output_files, sources, temp_files
from conftest import REPO, SAMPLES, TEST_MODEL
from same_words import assert_same_words
from whisper_cli.errors import ExitCode
from whisper_cli.launch import INTERRUPTED

STOP_POINTS = 20  # SIGINT or SIGTERM
KILL_POINTS = 8  # SIGKILL
POINTS = [(seed, "stop") for seed in range(STOP_POINTS)] + [(seed, "kill") for seed in range(STOP_POINTS, STOP_POINTS + KILL_POINTS)]
# Greedy decoding: what is tested is stopping and resuming, and it halves each run's time.
OPTIONS = ("-f", "srt,json,txt", "--model", TEST_MODEL, "--compute-type", "int8", "--beam-size", "1", "--log-format", "jsonl")
EXIT_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED, signal.SIGKILL: -signal.SIGKILL}


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
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A test run from a non-interactive shell's background job inherits SIGINT ignored; Ctrl-C is what we test.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.fixture(scope="module")
def uninterrupted(batch, tmp_path_factory) -> dict[bool, tuple[float, dict[str, bytes]]]:
    """For packing on and off: an uninterrupted run's wall time and its outputs' bytes."""
    runs = {}
    for pack in (True, False):
        out = tmp_path_factory.mktemp("uninterrupted") / "out"
        started = time.monotonic()
        process = _start(_command(batch, out, pack))
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        runs[pack] = (time.monotonic() - started, {name: (out / name).read_bytes() for name in output_files(out)})
    return runs


def test_the_launcher_exit_code_is_the_documented_one():
    assert INTERRUPTED == ExitCode.INTERRUPTED


@pytest.mark.parametrize("seed, kind", POINTS, ids=[f"{kind}-{seed}" for seed, kind in POINTS])
def test_signal_at_a_seeded_point_keeps_only_whole_outputs_and_a_rerun_finishes_each_input_once(
    seed, kind, batch, uninterrupted, run_cli, tmp_path
):
    chance = random.Random(seed)
    sent = chance.choice([signal.SIGINT, signal.SIGTERM]) if kind == "stop" else signal.SIGKILL
    pack = chance.choice([True, False])
    full_wall_s, full_outputs = uninterrupted[pack]
    delay_s = chance.uniform(0.02, 1.05) * full_wall_s
    out = tmp_path / "out"

    process = _start(_command(batch, out, pack))
    time.sleep(delay_s)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    context = f"seed {seed}: {sent.name} after {delay_s:.2f} s of {full_wall_s:.2f} s, pack={pack}\n{stderr}"

    # Finished before the signal (0), or stopped by it. A SIGTERM before the CLI installs its handler, or
    # after the interpreter has begun to shut down (the work done), ends the process by the signal itself.
    assert process.returncode in (0, EXIT_CODES[sent], -sent), context
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, context
    if out.exists():
        assert_complete(out)
        if sent != signal.SIGKILL:
            assert not temp_files(out), context
    finished = set(sources(stderr, "done"))

    rerun = run_cli(batch, "-o", out, *OPTIONS, *([] if pack else ["--no-pack"]))
    done, skipped = set(sources(rerun.stderr, "done")), set(sources(rerun.stderr, "skipped"))
    assert finished <= skipped, f"finished work was done again\n{context}"
    assert not done & skipped and len(done | skipped) == len(full_outputs) // 3, context
    assert [event for event in events(rerun.stderr) if event["event"] == "failed"] == []
    assert output_files(out) == sorted(full_outputs)
    assert_complete(out)
    assert not temp_files(out) and not list(out.rglob("*.lock"))
    if not pack:
        # The transcripts of a run never stopped; word for word, not byte for byte: on some CPUs CTranslate2's
        # int8 decoding differs from one run to the next (same_words.py).
        for name in full_outputs:
            if name.endswith(".txt"):
                assert_same_words(f"{name}\n{context}", (out / name).read_text(), full_outputs[name].decode())

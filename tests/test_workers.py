"""--workers N: model replicas in processes of their own, with every guarantee of one worker kept.

Real processes and the real tiny.en model on real recordings and espeak-ng clips; greedy decoding
(--beam-size 1) halves each run's time, and is what every compared run uses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import Pipe
from pathlib import Path

import pytest

from batch_checks import assert_complete, events, output_files, sources, temp_files
from conftest import REPO, SAMPLES, TEST_MODEL
from same_words import assert_same_words
from whisper_cli.errors import ExitCode

OPTIONS = ("--model", TEST_MODEL, "--compute-type", "int8", "--beam-size", "1", "--log-format", "jsonl")
# Sentences tiny.en reads the same alone and in any shared window (others flip a word with the context).
SENTENCES = {
    "meeting": "The meeting has been moved to Thursday afternoon.",
    "river": "We walked along the river until the sun went down.",
    "library": "The library closes early on Sundays during the summer.",
    "directions": "Turn left at the bank and the post office is on your right.",
}
BAD = "broken.wav"


@pytest.fixture(scope="module")
def folder(tmp_path_factory, shared_samples) -> Path:
    """Nine real clips (four read by espeak-ng) in two folders, and a corrupt file."""
    root = tmp_path_factory.mktemp("workers") / "in"
    (root / "spoken").mkdir(parents=True)
    for name, sentence in SENTENCES.items():
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(root / "spoken" / f"{name}.wav"), sentence], check=True)
    for source in (shared_samples / "jfk.flac", shared_samples / "hotwords.mp3", SAMPLES / "hello.flac", SAMPLES / "forecast.ogg"):
        shutil.copyfile(source, root / source.name)
    shutil.copyfile(shared_samples / "jfk.flac", root / "spoken" / "jfk-again.flac")
    (root / BAD).write_bytes(b"RIFF" + b"\x00" * 100)
    return root


def _transcribe(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whisper_cli", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _assert_same_words_per_file(out: Path, reference: Path, names) -> None:
    """Read alone, each input gives the same words on any worker. Not the same bytes: a worker's numpy runs one BLAS
    thread, the one-worker run's one per core, so a probability (and a word Whisper is unsure of) may differ."""
    for name in names:
        if name.endswith(".txt"):
            assert_same_words(name, (out / name).read_text(), (reference / name).read_text())
        elif name.endswith(".json"):
            assert_same_words(name, json.loads((out / name).read_text())["text"], json.loads((reference / name).read_text())["text"])


def _record(path: Path) -> dict:
    record = json.loads(path.read_text())
    record.pop("finished")  # when it was written
    return record


@pytest.fixture(scope="module")
def one_worker(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "out"
    done = _transcribe(folder, "-o", out, "-f", "txt,json,srt", "--no-pack", *OPTIONS)
    assert done.returncode == ExitCode.FAILED, done.stderr
    return out


def test_two_workers_write_what_one_writes_name_the_bad_file_and_a_rerun_skips_the_rest(folder, one_worker, tmp_path):
    out = tmp_path / "out"
    done = _transcribe(folder, "-o", out, "-f", "txt,json,srt", "--no-pack", "--workers", "2", *OPTIONS)
    assert done.returncode == ExitCode.FAILED, done.stderr
    assert sources(done.stderr, "failed") == [str(folder / BAD)]
    [summary] = [event for event in events(done.stderr) if event["event"] == "summary"]
    assert (summary["done"], summary["failed"], summary["failures"][0]["source"]) == (9, 1, str(folder / BAD))
    # Handed out largest first.
    started = sources(done.stderr, "started")
    assert started == sorted(started, key=lambda source: -os.path.getsize(source)) and len(started) == 10

    names = output_files(out)
    assert names == output_files(one_worker) and len(names) == 27
    _assert_same_words_per_file(out, one_worker, names)
    for record in sorted((out / ".whisper-cli").glob("*.json")):
        mine, theirs = _record(record), _record(one_worker / ".whisper-cli" / record.name)
        assert mine.pop("outputs").keys() == theirs.pop("outputs").keys() and mine == theirs  # outputs: their hashes

    again = _transcribe(folder, "-o", out, "-f", "txt,json,srt", "--no-pack", "--workers", "2", *OPTIONS)
    assert again.returncode == ExitCode.FAILED, again.stderr
    assert sources(again.stderr, "started") == [str(folder / BAD)]
    assert len(sources(again.stderr, "skipped")) == 9


def test_short_clips_are_packed_on_the_workers_and_read_the_same_words(folder, one_worker, tmp_path):
    out = tmp_path / "out"
    done = _transcribe(folder, "-o", out, "-f", "txt", "--workers", "2", *OPTIONS)
    assert done.returncode == ExitCode.FAILED, done.stderr
    assert sorted(output_files(out)) == sorted(name for name in output_files(one_worker) if name.endswith(".txt"))
    for name in output_files(out):
        assert_same_words(name, (out / name).read_text(), (one_worker / name).read_text())


def test_a_worker_holds_short_clips_until_told_to_flush_then_reads_them_as_one_group(folder, tmp_path):
    """The worker's side of the pipe, in a thread of this process: "more" for each clip it may pack."""
    from whisper_cli.executor import Driver
    from whisper_cli.console import Reporter
    from whisper_cli.outcome import Status
    from whisper_cli.plan import plan
    from whisper_cli.progress import JsonlView
    from whisper_cli.run_config import ModelSettings, RunConfig
    from whisper_cli.worker_process import WorkerSpec, Worker

    settings = ModelSettings(TEST_MODEL, "cpu", "int8", 1)
    config = RunConfig(inputs=(str(folder / "spoken"),), output_dir=tmp_path / "out", model=settings)
    reporter = Reporter(quiet=True, stream=open(os.devnull, "w"))
    jobs = [job for job in plan(config, reporter) if job.input.name.endswith(("meeting.wav", "river.wav"))]
    driver = Driver(config, jobs, JsonlView(reporter))
    ours, theirs = Pipe()
    worker = threading.Thread(target=Worker(WorkerSpec(settings), theirs).serve, daemon=True)
    worker.start()
    replies = []
    for key, job in enumerate(jobs):
        ours.send(("file", key, driver.task(job), True))
        replies.append(ours.recv())
    assert replies == [("more", 0), ("more", 1)]  # decoded, held, and no model loaded yet
    ours.send(("flush",))
    messages = []
    while sum(message[0] == "result" for message in messages) < 2:
        messages.append(ours.recv())
    ours.send(("stop",))
    worker.join(timeout=60)
    assert messages[0][0] == "loaded"
    assert [message[:2] for message in messages if message[0] != "loaded"] == [("language", 0), ("result", 0), ("language", 1), ("result", 1)]
    assert all(message[2].status == Status.DONE for message in messages if message[0] == "result")
    assert "thursday" in (tmp_path / "out" / "meeting.txt").read_text().lower()


def test_a_worker_takes_only_its_share_of_the_clips_left_so_the_others_do_not_idle_at_the_end(folder, tmp_path):
    """The driver's hand-out, with this test answering as the two workers would over real pipes: while one worker
    still reads a long file, the other takes half the clips (not all nine), the next ones in line, and reads them;
    the first, once free, takes half of the rest. A clip's cost shows only once it is read (a clip read again alone
    costs many), so one worker holding every clip left made the run slower with two workers than with one."""
    from collections import deque

    from whisper_cli.console import Reporter
    from whisper_cli.executor import Driver
    from whisper_cli.plan import plan
    from whisper_cli.progress import JsonlView
    from whisper_cli.run_config import RunConfig
    from whisper_cli.workers import Slot, WorkerPool

    clips = tmp_path / "clips"
    clips.mkdir()
    for index in range(9):
        shutil.copyfile(folder / "spoken" / "meeting.wav", clips / f"clip{index}.wav")
    config = RunConfig(inputs=(str(clips),), output_dir=tmp_path / "out", workers=2)
    reporter = Reporter(quiet=True, stream=open(os.devnull, "w"))
    view = JsonlView(reporter)
    jobs = plan(config, reporter)
    driver, pool = Driver(config, jobs, view), WorkerPool(config, reporter, view)
    (long_reader, long_end), (free, free_end) = Pipe(), Pipe()
    reading_long, taking = Slot(None, long_reader, busy=-1), Slot(None, free)
    pool._slots = [reading_long, taking]
    queue = deque(jobs)

    def held_until_flush(slot: Slot, end) -> list[str]:
        taken = []
        while True:
            pool._hand_out(queue, driver, True, one_at_a_time=False)
            message = end.recv()
            if message == ("flush",):
                return taken
            taken.append(message[2].name)
            pool._handle(slot, ("more", message[1]), driver)

    in_line = [job.input.name for job in jobs]
    assert held_until_flush(taking, free_end) == in_line[:5] and len(queue) == 4  # half of 9, rounded up
    reading_long.busy = None  # its long file is done
    assert held_until_flush(reading_long, long_end) == in_line[5:7] and len(queue) == 2
    driver.release_all()


def _children(pid: int) -> list[int]:
    """The driver's worker processes (spawned python processes, not a resource tracker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    workers = []
    for child in map(int, children):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "spawn_main" in command:
            workers.append(child)
    return workers


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _start(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "whisper_cli", *map(str, args)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,  # its own process group, as a terminal's foreground job: Ctrl-C reaches it all
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _read_until(process: subprocess.Popen, event: str) -> list[str]:
    lines = []
    while not any(line.startswith("{") and json.loads(line)["event"] == event for line in lines):
        line = process.stderr.readline()
        assert line, "the run ended before the event:\n" + "".join(lines)
        lines.append(line)
    return lines


def test_a_worker_killed_mid_run_has_its_input_done_by_another_and_each_file_counts_once(folder, one_worker, tmp_path):
    out = tmp_path / "out"
    process = _start(folder / "spoken", "-o", out, "-f", "txt,json,srt", "--no-pack", "--workers", "2", *OPTIONS)
    timer = threading.Timer(600, process.kill)
    timer.start()
    try:
        lines = _read_until(process, "started")
        writing = temp_files(out)
        while not writing and process.poll() is None:  # a worker is writing an input's outputs
            time.sleep(0.01)
            writing = temp_files(out)
        victim = int(writing[0].name.split(".")[-3])  # .<output>.<pid>.<random>.whisper-cli-partial
        assert victim in _children(process.pid)
        _kill(victim)
        lines.append(process.stderr.read())
        code = process.wait(timeout=600)
    finally:
        timer.cancel()
    stderr = "".join(lines)
    assert code == ExitCode.OK, stderr
    [summary] = [event for event in events(stderr) if event["event"] == "summary"]
    assert (summary["done"], summary["failed"], summary["not_started"]) == (5, 0, 0)
    assert sorted(sources(stderr, "done")) == sorted(str(path) for path in (folder / "spoken").iterdir())
    assert temp_files(out) == [] and not list((out / ".whisper-cli").glob("*.pending"))
    assert_complete(out)
    _assert_same_words_per_file(out, one_worker / "spoken", output_files(out))


def test_an_input_whose_worker_dies_on_every_try_fails_with_the_cause_and_leaves_nothing(folder, tmp_path):
    out = tmp_path / "out"
    single = tmp_path / "in"
    single.mkdir()
    shutil.copyfile(folder / "jfk.flac", single / "jfk.flac")
    process = _start(single, "-o", out, "--workers", "2", *OPTIONS)
    killer = threading.Thread(target=_kill_workers_while_alive, args=(process,), daemon=True)
    killer.start()
    stderr = process.communicate(timeout=600)[1]
    killer.join(timeout=60)
    assert process.returncode == ExitCode.FAILED, stderr
    [failure] = [event for event in events(stderr) if event["event"] == "failed"]
    assert failure["source"] == str(single / "jfk.flac")
    assert failure["reason"] == "its worker process was killed by SIGKILL, on each of 3 tries"
    assert output_files(out) == [] and temp_files(out) == []


def _kill_workers_while_alive(process: subprocess.Popen) -> None:
    while process.poll() is None:
        for pid in _children(process.pid):
            _kill(pid)
        time.sleep(0.02)


@pytest.fixture(scope="module")
def with_long_file(folder, tmp_path_factory) -> Path:
    """Short clips and one 52 s recording, which a worker is still reading when the first clips are done."""
    root = tmp_path_factory.mktemp("long") / "in"
    root.mkdir()
    parts = [folder / "jfk.flac", folder / "forecast.ogg", folder / "hello.flac", folder / "jfk.flac", folder / "forecast.ogg"]
    inputs = [argument for part in parts for argument in ("-i", str(part))]
    chains = "".join(f"[{index}:a]aresample=16000,aformat=channel_layouts=mono[a{index}];" for index in range(len(parts)))
    joined = "".join(f"[a{index}]" for index in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1"
    subprocess.run(["ffmpeg", "-loglevel", "error", *inputs, "-filter_complex", chains + joined, str(root / "long.wav")], check=True)
    for name in SENTENCES:
        shutil.copyfile(folder / "spoken" / f"{name}.wav", root / f"{name}.wav")
    return root


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_stops_its_workers_keeps_only_whole_outputs_and_a_rerun_finishes(with_long_file, tmp_path, stop):
    out = tmp_path / "out"
    command = (with_long_file, "-o", out, "-f", "txt,json,srt", "--workers", "2", *OPTIONS)
    process = _start(*command)
    timer = threading.Timer(600, process.kill)
    timer.start()
    try:
        lines = _read_until(process, "done")
        workers = _children(process.pid)
        if stop == signal.SIGINT:
            os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        else:
            process.send_signal(signal.SIGTERM)
        lines.append(process.stderr.read())
        code = process.wait(timeout=300)
    finally:
        timer.cancel()
    stderr = "".join(lines)
    expected = ExitCode.INTERRUPTED if stop == signal.SIGINT else ExitCode.TERMINATED
    assert code == expected, stderr
    assert stderr.splitlines()[-1] == f"error: {'interrupted' if stop == signal.SIGINT else 'terminated'}", stderr
    assert "Traceback" not in stderr
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker outlived the run"
    assert temp_files(out) == []
    assert_complete(out)
    finished = set(sources(stderr, "done"))
    [summary] = [event for event in events(stderr) if event["event"] == "summary"]
    assert summary["interrupted"] and summary["done"] == len(finished) < 5

    again = _transcribe(*command)
    assert again.returncode == ExitCode.OK, again.stderr
    assert set(sources(again.stderr, "skipped")) == finished
    assert set(sources(again.stderr, "done")) == {str(path) for path in with_long_file.iterdir()} - finished
    assert len(output_files(out)) == 3 * 5


def test_workers_usage_errors_are_one_line_and_exit_2(run_cli, tmp_path):
    zero = run_cli(tmp_path, "--workers", "0", expect=ExitCode.USAGE)
    assert "--workers" in zero.stderr and len(zero.stderr.strip().splitlines()) == 1
    gpu = run_cli(tmp_path, "-o", tmp_path / "out", "--device-index", "0", expect=ExitCode.USAGE)
    assert gpu.stderr.strip() == "error: --device-index: needs --device cuda"
    bad = run_cli(tmp_path, "--device", "cuda", "--device-index", "one", expect=ExitCode.USAGE)
    assert bad.stderr.strip() == "error: --device-index: expected GPU numbers separated by commas (0,1), got 'one'"


def test_one_worker_is_this_process_and_n_workers_share_the_cores_or_take_the_gpus_in_turn(tmp_path):
    from whisper_cli.batch import make_executor
    from whisper_cli.console import Reporter
    from whisper_cli.engine.device import usable_cpu_cores
    from whisper_cli.local_executor import LocalExecutor
    from whisper_cli.progress import JsonlView
    from whisper_cli.run_config import ModelSettings, RunConfig
    from whisper_cli.workers import WorkerPool, worker_specs

    reporter = Reporter(quiet=True)
    one = RunConfig(inputs=(str(tmp_path),), output_dir=tmp_path)
    assert isinstance(make_executor(one, reporter, None, JsonlView(reporter)), LocalExecutor)
    two = RunConfig(inputs=(str(tmp_path),), output_dir=tmp_path, workers=2)
    assert isinstance(make_executor(two, reporter, None, JsonlView(reporter)), WorkerPool)
    assert [spec.model.cpu_threads for spec in worker_specs(two)] == [max(1, usable_cpu_cores() // 2)] * 2
    gpus = RunConfig(inputs=(str(tmp_path),), workers=3, device_index=(0, 1), model=ModelSettings(device="cuda", cpu_threads=4))
    assert [(spec.visible_devices, spec.model.cpu_threads) for spec in worker_specs(gpus)] == [("0", 4), ("1", 4), ("0", 4)]


def test_workers_end_with_a_driver_killed_by_sigkill_and_a_rerun_finishes(with_long_file, tmp_path):
    out = tmp_path / "out"
    command = (with_long_file, "-o", out, "-f", "txt", "--workers", "2", *OPTIONS)
    process = _start(*command)
    timer = threading.Timer(600, process.kill)
    timer.start()
    try:
        _read_until(process, "started")
        workers = _children(process.pid)
        while not list(out.glob(".long.txt.*")) and process.poll() is None:  # its worker is reading long.wav
            time.sleep(0.02)
            workers = _children(process.pid)
        process.kill()
        process.wait(timeout=60)
    finally:
        timer.cancel()
    deadline = time.monotonic() + 120
    while [pid for pid in workers if Path(f"/proc/{pid}").exists()] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker outlived its driver"
    assert temp_files(out) == []  # each removed its own on the way out
    assert "long.txt" not in output_files(out), "a worker wrote on after its driver (and the claim) died"
    again = _transcribe(*command)
    assert again.returncode == ExitCode.OK, again.stderr
    assert len(output_files(out)) == 5


def test_a_run_with_workers_and_a_run_without_split_one_folder_each_input_done_once(folder, one_worker, tmp_path):
    """The driver holds each input's claim while a worker reads it, so the usual claims keep the runs apart."""
    out = tmp_path / "out"
    command = (folder / "spoken", "-o", out, "-f", "txt", "--no-pack", *OPTIONS)
    runs = [_start(*command, "--workers", "2"), _start(*command)]
    stderrs = [run.communicate(timeout=600)[1] for run in runs]
    assert [run.returncode for run in runs] == [ExitCode.OK, ExitCode.OK], stderrs
    done = [source for stderr in stderrs for source in sources(stderr, "done")]
    assert sorted(done) == sorted(str(path) for path in (folder / "spoken").iterdir())
    assert sum(len(sources(stderr, "skipped")) for stderr in stderrs) == 5
    _assert_same_words_per_file(out, one_worker / "spoken", output_files(out))


def test_a_worker_process_starts_with_its_own_thread_count_for_blas_unless_the_user_set_one(monkeypatch):
    """numpy loads as a worker process starts: without these, OpenBLAS ran a thread per core in every worker."""
    from whisper_cli.workers import _threads_env

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")  # the user's
    with _threads_env(1):
        assert (os.environ["OMP_NUM_THREADS"], os.environ["OPENBLAS_NUM_THREADS"], os.environ["MKL_NUM_THREADS"]) == ("1", "1", "7")
    assert "OMP_NUM_THREADS" not in os.environ and os.environ["MKL_NUM_THREADS"] == "7"

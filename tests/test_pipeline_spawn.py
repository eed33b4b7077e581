"""pipeline.transcribe_in_new_process in a fresh process (multiprocessing's spawn), given only picklable
arguments, writes what the in-process batch writes: the real tiny.en model on real recordings."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import pytest

from batch_checks import output_files
from conftest import SAMPLES, TEST_MODEL
from whisper_cli import batch
from whisper_cli.console import Reporter
from whisper_cli.executor import Driver
from whisper_cli.outcome import Status
from whisper_cli.pipeline import transcribe_in_new_process
from whisper_cli.plan import is_todo, plan
from whisper_cli.progress import JsonlView
from whisper_cli.run_config import ModelSettings, RunConfig
from whisper_cli.writers import OutputFormat

FORMATS = (OutputFormat.TXT, OutputFormat.JSON, OutputFormat.SRT)
SETTINGS = ModelSettings(TEST_MODEL, "cpu", "int8", 1)


@pytest.fixture
def folder(tmp_path, shared_samples):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(shared_samples / "jfk.flac", inputs / "jfk.flac")  # 11 s
    shutil.copy(SAMPLES / "hello.flac", inputs / "hello.flac")  # a short clip
    (inputs / "broken.flac").write_bytes(b"fLaC" + b"\x00" * 200)
    return inputs


def _config(inputs, out) -> RunConfig:
    # --no-pack: the in-process batch would read the two clips in one shared window, a task reads one alone.
    return RunConfig(inputs=(str(inputs),), formats=FORMATS, output_dir=out, model=SETTINGS, pack=False)


def _record(path) -> dict:
    record = json.loads(path.read_text())
    record.pop("finished")  # when it was written
    return record


def test_a_spawned_process_writes_the_same_outputs_and_records_as_the_in_process_batch(folder, tmp_path, tiny_whisper):
    local, spawned = tmp_path / "local", tmp_path / "spawned"
    reporter = Reporter(quiet=True, stream=open("/dev/null", "w"))
    done = batch.run(_config(folder, local), reporter, load_model=lambda *args, **kwargs: tiny_whisper)
    assert done.counts()["done"] == 2 and done.counts()["failed"] == 1

    config = _config(folder, spawned)
    jobs = plan(config, reporter)
    driver = Driver(config, jobs, JsonlView(reporter))
    tasks = [driver.task(job) for job in jobs if is_todo(job)]
    pickle.dumps((SETTINGS, tasks))  # nothing of this process goes with them
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(transcribe_in_new_process, [SETTINGS] * len(tasks), tasks, timeout=600))

    by_name = {result.source.rsplit("/", 1)[-1]: result for result in results}
    assert by_name["broken.flac"].status == Status.FAILED and by_name["broken.flac"].error
    assert (by_name["jfk.flac"].status, by_name["jfk.flac"].language) == (Status.DONE, "en")
    assert by_name["jfk.flac"].audio_s == pytest.approx(11.0, abs=0.1)

    names = output_files(local)
    assert names == output_files(spawned) == ["hello.json", "hello.srt", "hello.txt", "jfk.json", "jfk.srt", "jfk.txt"]
    for name in names:
        assert (spawned / name).read_bytes() == (local / name).read_bytes(), name
    assert "ask not what your country" in (spawned / "jfk.txt").read_text().lower()
    for stem in ("hello", "jfk"):
        record = f".whisper-cli/{stem}.json"
        assert _record(spawned / record) == _record(local / record)


def test_a_re_run_skips_what_the_spawned_process_finished(folder, tmp_path, tiny_whisper):
    """Its records are the batch's: a batch into the same folder finds every good input done."""
    out = tmp_path / "out"
    reporter = Reporter(quiet=True, stream=open("/dev/null", "w"))
    config = _config(folder, out)
    jobs = plan(config, reporter)
    tasks = [Driver(config, jobs, JsonlView(reporter)).task(job) for job in jobs if is_todo(job)]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(transcribe_in_new_process, [SETTINGS] * len(tasks), tasks, timeout=600))
    again = batch.run(replace(config), reporter, load_model=lambda *args, **kwargs: tiny_whisper)
    assert again.counts() == {"done": 0, "skipped": 2, "failed": 1, "interrupted": 0, "not started": 0}

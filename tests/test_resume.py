"""Resume rules (README "Resuming") and what a batch may replace: each rule on real files, most on real runs.

A re-run skips an input only when its record matches: same input size and modification time, the same
settings key (model, compute type, every decoding and subtitle-layout setting, packing), and every output
there with its recorded size and SHA-256. A batch never replaces a file whisper-cli did not write.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from batch_checks import events
from conftest import REPO, SAMPLES, SHARED_SAMPLES, TEST_MODEL
from whisper_cli import manifest
from whisper_cli.batch import ModelSettings, RunConfig, settings_key
from whisper_cli.options import DecodeOptions
from whisper_cli.plan import NOT_WRITTEN_BY_US
from whisper_cli.writers import SubtitleLayout

MODEL = ("--model", TEST_MODEL, "--device", "cpu", "--compute-type", "int8")
HELLO = SAMPLES / "hello.flac"  # 5.6 s: "This recording was transcribed on your own computer ..."
FORECAST = SAMPLES / "forecast.ogg"


def started_reasons(stderr: str) -> dict[str, str]:
    return {Path(e["source"]).name: e["reason"] for e in events(stderr) if e["event"] == "started"}


def skipped(stderr: str) -> list[str]:
    return [Path(e["source"]).name for e in events(stderr) if e["event"] == "skipped"]


@pytest.fixture
def two_inputs(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(HELLO, folder / "hello.flac")
    shutil.copyfile(FORECAST, folder / "forecast.ogg")
    return folder


def batch(run_cli, folder: Path, out: Path, *extra: str, expect: int = 0):
    return run_cli(folder, "-o", out, "-f", "srt,txt", *MODEL, "--log-format", "jsonl", *extra, expect=expect)


# --- the input ------------------------------------------------------------------------------------


def test_input_of_another_size_with_the_same_mtime_is_transcribed_again(run_cli, two_inputs, tmp_path):
    out = tmp_path / "out"
    batch(run_cli, two_inputs, out)
    hello = two_inputs / "hello.flac"
    mtime_ns = os.stat(hello).st_mtime_ns
    with open(hello, "ab") as handle:
        handle.write(b"\0" * 64)  # FLAC decoders stop at the last frame; the size alone changed
    os.utime(hello, ns=(mtime_ns, mtime_ns))
    again = batch(run_cli, two_inputs, out)
    assert started_reasons(again.stderr) == {"hello.flac": "input changed"}
    assert skipped(again.stderr) == ["forecast.ogg"]


def test_input_with_a_new_mtime_and_the_same_size_is_transcribed_again(run_cli, two_inputs, tmp_path):
    out = tmp_path / "out"
    batch(run_cli, two_inputs, out)
    forecast = two_inputs / "forecast.ogg"
    status = os.stat(forecast)
    os.utime(forecast, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    again = batch(run_cli, two_inputs, out)
    assert started_reasons(again.stderr) == {"forecast.ogg": "input changed"}
    assert skipped(again.stderr) == ["hello.flac"]


# --- the settings key -----------------------------------------------------------------------------


def changed_value(field: dataclasses.Field, default):
    """Some other valid-looking value of a setting, derived from its default so new settings are covered too."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1
    if isinstance(default, float):
        return default + 0.25 if default != float("inf") else 30.0
    if isinstance(default, str):
        return default + "x"
    if isinstance(default, tuple):
        return default + (1.0,)
    if default is None:
        kind = str(field.type)
        return "x" if "str" in kind else 3 if "int" in kind else 1.5
    raise AssertionError(f"no changed value for {field.name}={default!r}: extend changed_value()")


def key_changes() -> list:
    """(id, RunConfig) for every setting that is part of the key, each changed alone."""
    base = RunConfig(inputs=("in",))
    cases = [
        ("model", dataclasses.replace(base, model=ModelSettings(name="small"))),
        ("compute_type", dataclasses.replace(base, model=ModelSettings(compute_type="float32"))),
        ("pack", dataclasses.replace(base, pack=False)),
    ]
    for field in dataclasses.fields(DecodeOptions):
        default = getattr(base.decode, field.name)
        if dataclasses.is_dataclass(default):  # vad_parameters: each of its settings
            for inner in dataclasses.fields(default):
                nested = dataclasses.replace(default, **{inner.name: changed_value(inner, getattr(default, inner.name))})
                decode = dataclasses.replace(base.decode, **{field.name: nested})
                cases.append((f"decode.{field.name}.{inner.name}", dataclasses.replace(base, decode=decode)))
            continue
        decode = dataclasses.replace(base.decode, **{field.name: changed_value(field, default)})
        cases.append((f"decode.{field.name}", dataclasses.replace(base, decode=decode)))
    for field in dataclasses.fields(SubtitleLayout):
        layout = dataclasses.replace(base.layout, **{field.name: changed_value(field, getattr(base.layout, field.name))})
        cases.append((f"layout.{field.name}", dataclasses.replace(base, layout=layout)))
    return [pytest.param(config, id=name) for name, config in cases]


@pytest.mark.parametrize("changed", key_changes())
def test_each_setting_in_the_key_makes_a_finished_record_stale(changed, tmp_path):
    """A real record on disk, written for the default settings, is not done for any one setting changed."""
    source = tmp_path / "x.flac"
    shutil.copyfile(HELLO, source)
    base = tmp_path / "out" / "x"
    output = base.with_name("x.txt")
    output.parent.mkdir()
    output.write_text("text\n")
    stamp = manifest.SourceStamp.of(str(source))
    written = {"txt": (output.name, output.stat().st_size, manifest.file_sha256(output))}
    original = RunConfig(inputs=("in",))
    record = manifest.record_text(base, written, settings_key(original), stamp, str(source), {})
    manifest.record_path(base).parent.mkdir()
    manifest.record_path(base).write_text(record)
    assert manifest.why_not_done(base, {"txt": output}, settings_key(original), stamp) is None
    reason = manifest.why_not_done(base, {"txt": output}, settings_key(changed), stamp)
    assert reason in ("settings changed", "model changed")


def test_another_compute_type_or_subtitle_layout_is_transcribed_again(run_cli, two_inputs, tmp_path):
    out = tmp_path / "out"
    batch(run_cli, two_inputs, out)
    float32 = ("--model", TEST_MODEL, "--device", "cpu", "--compute-type", "float32")
    changed = run_cli(two_inputs, "-o", out, "-f", "srt,txt", *float32, "--log-format", "jsonl")
    assert started_reasons(changed.stderr) == {"hello.flac": "settings changed", "forecast.ogg": "settings changed"}
    batch(run_cli, two_inputs, out)  # back to int8
    narrow = batch(run_cli, two_inputs, out, "--max-line-width", "20")
    assert started_reasons(narrow.stderr) == {"hello.flac": "settings changed", "forecast.ogg": "settings changed"}
    assert max(len(line) for line in (out / "hello.srt").read_text().splitlines()) <= 20 + 10  # a long word stands alone
    assert sorted(skipped(batch(run_cli, two_inputs, out, "--max-line-width", "20").stderr)) == ["forecast.ogg", "hello.flac"]


# --- the outputs ----------------------------------------------------------------------------------


def test_deleted_output_is_made_again(run_cli, two_inputs, tmp_path):
    out = tmp_path / "out"
    batch(run_cli, two_inputs, out)
    (out / "forecast.txt").unlink()
    again = batch(run_cli, two_inputs, out)
    assert started_reasons(again.stderr) == {"forecast.ogg": "forecast.txt is missing"}
    assert (out / "forecast.txt").read_text().strip()


def test_edit_that_keeps_the_size_is_seen_and_transcribed_again(run_cli, two_inputs, tmp_path):
    out = tmp_path / "out"
    batch(run_cli, two_inputs, out)
    subtitles = out / "hello.srt"
    written = subtitles.read_text()
    assert "This recording" in written
    subtitles.write_text(written.replace("This recording", "Thus recording"))
    assert subtitles.stat().st_size == len(written.encode())
    again = batch(run_cli, two_inputs, out)
    assert started_reasons(again.stderr) == {"hello.flac": "hello.srt changed since it was written"}
    assert subtitles.read_text() == written


# --- files whisper-cli did not write ----------------------------------------------------------------


def transcribe_process(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "whisper_cli", *map(str, args), *MODEL],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def keep_and_other(tmp_path, shared_samples) -> Path:
    """keep.m4a beside a keep.txt written by hand, and other.mp3."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(HELLO), str(tmp_path / "keep.m4a")], check=True)
    shutil.copyfile(shared_samples / "hotwords.mp3", tmp_path / "other.mp3")
    (tmp_path / "keep.txt").write_text("my own notes\n")
    return tmp_path


def test_batch_without_output_dir_never_replaces_a_file_it_did_not_write(keep_and_other):
    folder = keep_and_other
    result = transcribe_process("keep.m4a", "other.mp3", cwd=folder)
    assert result.returncode == 1, result.stderr
    assert f"error: keep.txt: {NOT_WRITTEN_BY_US}" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert (folder / "keep.txt").read_text() == "my own notes\n"
    assert (folder / "other.txt").read_text().strip(), "the rest of the batch goes on"

    again = transcribe_process("keep.m4a", "other.mp3", "--log-format", "jsonl", cwd=folder)
    assert again.returncode == 1
    [failed] = [e for e in events(again.stderr) if e["event"] == "failed"]
    assert (failed["source"], failed["file"], failed["reason"]) == ("keep.m4a", "keep.txt", NOT_WRITTEN_BY_US)
    assert skipped(again.stderr) == ["other.mp3"]

    forced = transcribe_process("keep.m4a", "other.mp3", "--overwrite", cwd=folder)
    assert forced.returncode == 0, forced.stderr
    assert "transcribed" in (folder / "keep.txt").read_text()
    assert transcribe_process("keep.m4a", "other.mp3", cwd=folder).returncode == 0  # now it is ours


def test_batch_into_output_dir_never_replaces_a_file_it_did_not_write_there(run_cli, two_inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "hello.srt").write_text("hand-made subtitles\n")
    result = run_cli(two_inputs, "-o", out, "-f", "srt,txt", *MODEL, expect=1)
    assert f"error: {out / 'hello.srt'}: {NOT_WRITTEN_BY_US}" in result.stderr.splitlines()
    assert (out / "hello.srt").read_text() == "hand-made subtitles\n"
    assert not (out / "hello.txt").exists(), "none of that input's outputs is written"
    assert (out / "forecast.srt").exists() and (out / "forecast.txt").exists()


def test_outputs_of_another_format_from_an_earlier_run_stay_ours(run_cli, two_inputs, tmp_path):
    out = tmp_path / "out"
    run_cli(two_inputs, "-o", out, "-f", "srt", *MODEL)
    run_cli(two_inputs, "-o", out, "-f", "txt", *MODEL)  # the record now lists txt; srt was written by an earlier run
    again = run_cli(two_inputs, "-o", out, "-f", "srt", *MODEL, "--log-format", "jsonl")
    assert started_reasons(again.stderr) == {"hello.flac": "no srt output recorded", "forecast.ogg": "no srt output recorded"}


def test_files_named_in_a_pending_list_are_ours(tmp_path):
    """A kill between two renames leaves outputs the record does not name yet; `x.pending` names them."""
    from whisper_cli.plan import Job, NotWrittenByUs, Outcome, check_not_foreign

    base = tmp_path / "x"
    (tmp_path / "x.txt").write_text("half of a commit\n")
    job = Job(Outcome("x.flac"), outputs={"txt": tmp_path / "x.txt"}, base=base)
    with pytest.raises(NotWrittenByUs):
        check_not_foreign(job)
    manifest.write_pending(base, ["x.txt"], None)
    check_not_foreign(job)
    assert manifest.written_names(base) == {"x.txt"}

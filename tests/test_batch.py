"""Batch transcription: folders, patterns and lists; mirrored outputs; resume; interrupts; real tiny.en and real audio."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePath

import pytest

from batch_checks import assert_complete, events, output_files, relative_sources, sources, temp_files
from conftest import REPO, SAMPLES, TEST_MODEL
from same_words import assert_same_words, words
from whisper_cli.inputs import Input, Problem, discover, output_bases
from whisper_cli.output import TEMP_SUFFIX
from whisper_cli.prefetch import Prefetcher

MODEL = ("--model", TEST_MODEL, "--device", "cpu", "--compute-type", "int8")


# --- audio -------------------------------------------------------------------------------------


def _speak(text: str, target: Path) -> Path:
    """A short clip of synthetic speech in the container `target`'s extension names."""
    wav = target.with_suffix(".tmp.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), text], check=True, capture_output=True)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1", str(target)],
        check=True, capture_output=True,
    )
    wav.unlink()
    return target


@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_samples) -> dict[str, Path]:
    """Real recordings and short synthetic ones, made once for the module."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "hello.flac": SAMPLES / "hello.flac",  # 5.6 s
        "forecast.ogg": SAMPLES / "forecast.ogg",  # 12.6 s, three sentences
        "jfk.flac": shared_samples / "jfk.flac",  # 11 s
        "hotwords.mp3": shared_samples / "hotwords.mp3",  # 4 s
        "apples.mp3": _speak("The apples in the basket are red and sweet.", folder / "apples.mp3"),
        "boat.m4a": _speak("A small boat crossed the quiet lake at dawn.", folder / "boat.m4a"),
        "train.wav": _speak("The last train leaves at midnight.", folder / "train.wav"),
    }


@pytest.fixture
def tree(tmp_path, clips) -> Path:
    """A nested folder of ten entries: eight clips (two named x.mp3), a corrupt file, an empty one, and noise.

    tree/
      hello.flac  forecast.ogg  notes.txt (not media)  .hidden/secret.wav (hidden)
      talks/jfk.flac  talks/x.mp3 (hotwords)
      field/x.mp3 (apples)  field/boat.m4a  field/deep/er/train.wav
      broken/corrupt.mp3  broken/empty.wav
    """
    root = tmp_path / "tree"
    layout = {
        "hello.flac": "hello.flac",
        "forecast.ogg": "forecast.ogg",
        "talks/jfk.flac": "jfk.flac",
        "talks/x.mp3": "hotwords.mp3",
        "field/x.mp3": "apples.mp3",
        "field/boat.m4a": "boat.m4a",
        "field/deep/er/train.wav": "train.wav",
        ".hidden/secret.wav": "train.wav",
    }
    for relative, clip in layout.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clips[clip], root / relative)
    (root / "broken").mkdir()
    (root / "broken" / "corrupt.mp3").write_bytes(bytes(range(256)) * 40)
    (root / "broken" / "empty.wav").write_bytes(b"")
    (root / "notes.txt").write_text("not audio\n")
    return root


GOOD = ["field/boat.m4a", "field/deep/er/train.wav", "field/x.mp3", "forecast.ogg", "hello.flac", "talks/jfk.flac", "talks/x.mp3"]
BAD = {"broken/corrupt.mp3": "not a recognised audio or video file", "broken/empty.wav": "empty file (0 bytes)"}
# Sorted folder by folder: what a folder argument is processed in.
TREE_ORDER = ["broken/corrupt.mp3", "broken/empty.wav", *GOOD[:3], "forecast.ogg", "hello.flac", "talks/jfk.flac", "talks/x.mp3"]


# --- a whole folder ----------------------------------------------------------------------------


def test_corrupt_and_empty_files_in_a_folder_exit_1_and_every_good_file_is_mirrored(run_cli, tree, tmp_path):
    out = tmp_path / "out"
    result = run_cli(tree, "-o", out, "-f", "srt,json", *MODEL, expect=1)

    expected = sorted(f"{str(PurePath(name).with_suffix(''))}.{ext}" for name in GOOD for ext in ("json", "srt"))
    assert output_files(out) == expected  # talks/x and field/x both kept; nothing for bad, hidden or non-media files
    assert_complete(out)
    assert "ask not what your country can do for you" in json.loads((out / "talks/jfk.json").read_text())["text"]
    assert "apple" in (out / "field/x.srt").read_text().lower()  # packed, tiny.en may write "The apple in the basket"
    assert json.loads((out / "field/x.json").read_text())["source"] == str(tree / "field/x.mp3")
    assert json.loads((out / "talks/x.json").read_text())["source"] == str(tree / "talks/x.mp3")

    lines = result.stderr.splitlines()
    for name, cause in BAD.items():
        assert any(line.startswith(f"error: {tree / name}: {cause}") for line in lines), result.stderr
        assert any(line.startswith(f"failed: {tree / name}: {cause}") for line in lines), result.stderr
    assert "summary: 7 done, 2 failed" in lines
    assert "of audio transcribed in" in lines[-1] and "real-time factor" in lines[-1]
    assert result.stdout == "" and not temp_files(tmp_path)

    # Re-run: everything good is skipped, in the documented order, with no transcription at all.
    rerun = run_cli(tree, "-o", out, "-f", "srt,json", *MODEL, "--log-format", "jsonl", expect=1)
    assert relative_sources(rerun.stderr, "skipped", tree) == [name for name in TREE_ORDER if name in GOOD]
    assert relative_sources(rerun.stderr, "started", tree) == list(BAD)  # the bad ones are tried again
    assert relative_sources(rerun.stderr, "failed", tree) == list(BAD)

    for name in BAD:
        (tree / name).unlink()
    clean = run_cli(tree, "-o", out, "-f", "srt,json", *MODEL, "--log-format", "jsonl")
    assert not sources(clean.stderr, "started") and not sources(clean.stderr, "done")
    summary = events(clean.stderr)[-1]
    assert summary["event"] == "summary" and (summary["done"], summary["skipped"], summary["failed"]) == (0, 7, 0)


def test_changed_language_or_model_is_not_taken_as_done_and_overwrite_redoes(run_cli, clips, tmp_path, tiny_whisper):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(clips["hello.flac"], folder / "hello.flac")
    shutil.copyfile(clips["train.wav"], folder / "train.wav")
    out = tmp_path / "out"
    jsonl = ("-o", out, "-f", "txt", "--log-format", "jsonl")

    first = run_cli(folder, *jsonl, *MODEL)
    assert len(sources(first.stderr, "done")) == 2
    assert len(sources(run_cli(folder, *jsonl, *MODEL).stderr, "skipped")) == 2

    changed = run_cli(folder, *jsonl, *MODEL, "--language", "en")
    assert [e["reason"] for e in events(changed.stderr) if e["event"] == "started"] == ["settings changed"] * 2
    assert len(sources(run_cli(folder, *jsonl, *MODEL, "--language", "en").stderr, "skipped")) == 2

    forced = run_cli(folder, *jsonl, *MODEL, "--language", "en", "--overwrite")
    assert [e["reason"] for e in events(forced.stderr) if e["event"] == "started"] == ["--overwrite"] * 2

    # The same weights named by their folder are another model as far as the record knows.
    other = ("--model", str(tiny_whisper.resolved.path), "--device", "cpu", "--compute-type", "int8")
    by_path = run_cli(folder / "train.wav", folder / "hello.flac", *jsonl, *other, "--language", "en")
    assert [e["reason"] for e in events(by_path.stderr) if e["event"] == "started"] == ["model changed"] * 2
    assert "last train" in (out / "train.txt").read_text().lower()


def test_edited_or_deleted_output_is_made_again(run_cli, clips, tmp_path):
    shutil.copyfile(clips["train.wav"], tmp_path / "train.wav")
    shutil.copyfile(clips["apples.mp3"], tmp_path / "apples.mp3")
    out = tmp_path / "out"
    args = (tmp_path / "train.wav", tmp_path / "apples.mp3", "-o", out, "-f", "srt,txt", *MODEL, "--log-format", "jsonl")
    run_cli(*args)
    (out / "train.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhand edit\n\n")
    (out / "apples.txt").unlink()
    again = run_cli(*args)
    reasons = {Path(e["source"]).name: e["reason"] for e in events(again.stderr) if e["event"] == "started"}
    assert reasons == {"train.wav": "train.srt changed since it was written", "apples.mp3": "apples.txt is missing"}
    assert "last train" in (out / "train.srt").read_text().lower()


def test_packed_short_clips_match_each_file_alone_and_all_are_done(run_cli, clips, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("hello.flac", "forecast.ogg", "apples.mp3", "train.wav"):
        shutil.copyfile(clips[name], folder / name)
    texts = {}
    # --pack-batch 3: windows decoded several at once, as on a GPU or with --pack-batch on an AMX CPU.
    for switch in ("--pack", "--no-pack", "--pack-batch=3"):
        out = tmp_path / switch.strip("-")
        result = run_cli(folder, "-o", out, "-f", "txt", *MODEL, "--log-format", "jsonl", switch)
        assert sorted(Path(s).name for s in sources(result.stderr, "done")) == sorted(p.name for p in folder.iterdir())
        summary = events(result.stderr)[-1]
        assert summary["event"] == "summary" and (summary["done"], summary["failed"]) == (4, 0)
        assert not temp_files(out)
        texts[switch] = {path.name: path.read_text() for path in out.glob("*.txt")}
    assert sorted(texts["--pack"]) == sorted(texts["--no-pack"]) and len(texts["--pack"]) == 4
    for name, text in texts["--pack"].items():
        assert_same_words(name, text, texts["--no-pack"][name])
        assert_same_words(name, texts["--pack-batch=3"][name], text)
    assert "train" in words(texts["--pack"]["train.txt"]) and "basket" in words(texts["--pack"]["apples.txt"])


# --- lists and patterns ------------------------------------------------------------------------


def test_files_from_stdin_keeps_list_order_and_drops_duplicates(run_cli, tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tree)
    listing = b"talks/x.mp3\n\nfield/x.mp3\n./talks/x.mp3\nfield/deep/er/train.wav\n"
    result = run_cli("--files-from", "-", "-o", tmp_path / "out", *MODEL, "--log-format", "jsonl", stdin=listing)
    assert sources(result.stderr, "done") == ["talks/x.mp3", "field/x.mp3", "field/deep/er/train.wav"]
    # Explicit files from different folders keep their folders when their names clash, and only then.
    assert output_files(tmp_path / "out") == ["field/x.txt", "talks/x.txt", "train.txt"]


def test_files_from_a_list_file_with_nul_separators_and_a_space_in_a_name(run_cli, clips, tmp_path):
    spaced = tmp_path / "my recordings" / "first take.wav"
    spaced.parent.mkdir()
    shutil.copyfile(clips["train.wav"], spaced)
    listing = tmp_path / "list"
    listing.write_bytes(str(spaced).encode() + b"\0")
    run_cli("--files-from", listing, "-o", tmp_path / "out", *MODEL)
    assert "last train" in (tmp_path / "out" / "first take.txt").read_text().lower()


def test_missing_list_file_is_a_usage_error(run_cli, tmp_path):
    result = run_cli("--files-from", tmp_path / "nope.txt", "-o", tmp_path / "out", expect=2)
    assert f"error: --files-from: cannot read {tmp_path / 'nope.txt'}" in result.stderr


def test_quoted_glob_pattern_is_expanded_with_double_star_and_mirrored_from_its_fixed_folder(run_cli, tree, tmp_path):
    out = tmp_path / "out"
    result = run_cli(str(tree / "field" / "**" / "*.wav"), str(tree / "*.nothing"), "-o", out, *MODEL, "--log-format", "jsonl", expect=1)
    assert relative_sources(result.stderr, "done", tree) == ["field/deep/er/train.wav"]
    assert output_files(out) == ["deep/er/train.txt"]
    assert [e["reason"] for e in events(result.stderr) if e["event"] == "failed"] == ["no file matches this pattern"]


# --- without -o, and quiet -----------------------------------------------------------------------


def test_several_inputs_without_output_dir_write_next_to_each_input(run_cli, clips, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(clips["train.wav"], tmp_path / folder / "take.wav")
    shutil.copyfile(clips["apples.mp3"], tmp_path / "a" / "take.mp3")  # same stem, same folder
    result = run_cli(tmp_path / "a", tmp_path / "b", *MODEL, "-q")
    assert result.stdout == "" and result.stderr == ""
    assert sorted(p.name for p in (tmp_path / "a").glob("*.txt")) == ["take.mp3.txt", "take.wav.txt"]
    assert "last train" in (tmp_path / "b" / "take.txt").read_text().lower()
    assert "apple" in (tmp_path / "a" / "take.mp3.txt").read_text().lower()


def test_quiet_batch_still_shows_each_failure_but_no_summary(run_cli, tree, tmp_path):
    result = run_cli(tree / "broken", "-o", tmp_path / "out", *MODEL, "-q", expect=1)
    lines = result.stderr.splitlines()
    assert len(lines) == len(BAD)
    for line, (name, cause) in zip(lines, BAD.items()):
        assert line.startswith(f"error: {tree / name}: {cause}")


def test_folder_without_media_is_a_failure_like_a_missing_file(run_cli, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    result = run_cli(tmp_path / "docs", "-o", tmp_path / "out", *MODEL, expect=1)
    assert f"error: {tmp_path / 'docs'}: no audio or video files in this folder or its sub-folders" in result.stderr


# --- interrupts (real processes) --------------------------------------------------------------


def _batch_process(tree: Path, out: Path) -> subprocess.Popen:
    # --no-pack: these tests interrupt between files, which packing would transcribe together.
    command = [sys.executable, "-m", "whisper_cli", str(tree), "-o", str(out), "-f", "srt,json", *MODEL, "--log-format", "jsonl", "--no-pack"]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A test run from a non-interactive shell's background job inherits SIGINT ignored; Ctrl-C is what we test.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _read_until_first_done(process: subprocess.Popen) -> list[dict]:
    seen = []
    timer = threading.Timer(240, process.kill)  # never hang the suite if no file ever finishes
    timer.start()
    try:
        for line in process.stderr:
            if line.startswith("{"):
                seen.append(json.loads(line))
                if seen[-1]["event"] == "done":
                    return seen
    finally:
        timer.cancel()
    raise AssertionError(f"the batch ended before any file was done: {seen}")


@pytest.fixture
def four_files(tmp_path, clips) -> Path:
    folder = tmp_path / "in"
    for index in range(4):
        (folder / f"part{index}").mkdir(parents=True)
        shutil.copyfile(clips["forecast.ogg"], folder / f"part{index}" / "forecast.ogg")
    return folder


def _with_outputs(out: Path, folder: Path) -> set[str]:
    """The inputs (as the batch names them) whose srt and json outputs both exist."""
    return {
        str(folder / path.parent.relative_to(out) / "forecast.ogg")
        for path in out.rglob("forecast.srt")
        if path.with_suffix(".json").exists()
    }


def _plant_stale_temp_file(out: Path) -> None:
    """A temp file of a writer that is surely dead, whether or not the kill left one of its own."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / "part0").mkdir(parents=True, exist_ok=True)
    (out / "part0" / f".forecast.srt.{dead.pid}.abc123{TEMP_SUFFIX}").write_text("1\n00:00")


def _finish_the_rest(run_cli, folder: Path, out: Path, finished: set[str]) -> None:
    rerun = run_cli(folder, "-o", out, "-f", "srt,json", *MODEL, "--log-format", "jsonl", "--no-pack")
    assert set(sources(rerun.stderr, "skipped")) == finished
    assert len(sources(rerun.stderr, "done")) == 4 - len(finished)
    assert output_files(out) == sorted(f"part{i}/forecast.{ext}" for i in range(4) for ext in ("json", "srt"))
    assert_complete(out)
    assert not temp_files(out)


def test_sigint_mid_batch_exits_130_keeps_only_whole_outputs_and_rerun_finishes(run_cli, four_files, tmp_path):
    out = tmp_path / "out"
    process = _batch_process(four_files, out)
    seen = _read_until_first_done(process)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130, rest
    after = seen + events(rest)
    assert after[-1]["event"] == "summary" and after[-1]["interrupted"] is True
    assert "Traceback" not in rest
    finished = {e["source"] for e in after if e["event"] == "done"}
    assert_complete(out)
    assert _with_outputs(out, four_files) >= finished
    assert not temp_files(out)  # a clean interrupt removes its temp files
    _finish_the_rest(run_cli, four_files, out, finished)


def test_sigkill_mid_batch_leaves_only_whole_outputs_and_rerun_clears_temp_files(run_cli, four_files, tmp_path):
    out = tmp_path / "out"
    process = _batch_process(four_files, out)
    seen = _read_until_first_done(process)
    time.sleep(0.5)  # into the next file, whose outputs are open as temp files
    process.kill()
    process.wait(timeout=60)
    finished = {e["source"] for e in seen + events(process.stderr.read()) if e["event"] == "done"}
    assert_complete(out)  # whatever was renamed into place is whole; the rest is at most temp files
    assert _with_outputs(out, four_files) >= finished
    _plant_stale_temp_file(out)
    _finish_the_rest(run_cli, four_files, out, finished)  # also asserts the leftovers are gone


# --- two runs into one output folder (real processes) ------------------------------------------


@pytest.fixture
def six_clips(tmp_path, clips) -> Path:
    folder = tmp_path / "six"
    for index, name in enumerate(["hello.flac", "forecast.ogg", "jfk.flac", "hotwords.mp3", "apples.mp3", "boat.m4a"]):
        (folder / f"d{index % 3}").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clips[name], folder / f"d{index % 3}" / name)
    return folder


@pytest.mark.parametrize("pack", [True, False], ids=["packed", "one by one"])
def test_two_runs_into_one_output_folder_transcribe_each_input_once_and_write_it_whole(pack, six_clips, tmp_path, run_cli):
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "whisper_cli", str(six_clips), "-o", str(out), "-f", "srt,json,txt", *MODEL,
        "--log-format", "jsonl", *([] if pack else ["--no-pack"]),
    ]
    runs = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    stderrs = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], stderrs
    done = [sources(stderr, "done") for stderr in stderrs]
    skipped = [sources(stderr, "skipped") for stderr in stderrs]
    everything = {str(path) for path in six_clips.rglob("*.*")}
    assert sorted(done[0] + done[1]) == sorted(everything), "each input transcribed exactly once by the two runs"
    assert set(skipped[0]) == set(done[1]) and set(skipped[1]) == set(done[0])
    assert output_files(out) == sorted(
        f"{Path(source).relative_to(six_clips).with_suffix('').as_posix()}.{ext}" for source in everything for ext in ("json", "srt", "txt")
    )
    assert_complete(out)
    assert not temp_files(out) and not list(out.rglob("*.lock"))
    rerun = run_cli(six_clips, "-o", out, "-f", "srt,json,txt", *MODEL, "--log-format", "jsonl", *([] if pack else ["--no-pack"]))
    assert set(sources(rerun.stderr, "skipped")) == everything


# --- discovery, order and output names (no model) --------------------------------------------------


def _names(entries, root: Path) -> list[str]:
    return [Path(e.source).relative_to(root).as_posix() if isinstance(e, Input) else f"problem:{e.name}" for e in entries]


def test_folder_search_is_sorted_folder_by_folder_and_skips_hidden_and_non_media(tree):
    found = discover([str(tree)])
    assert _names(found.entries, tree) == TREE_ORDER
    assert [str(e.relative) for e in found.entries][:3] == ["broken/corrupt.mp3", "broken/empty.wav", "field/boat.m4a"]
    assert _names(discover([str(tree)], recursive=False).entries, tree) == ["forecast.ogg", "hello.flac"]


def test_arguments_keep_their_order_and_a_file_reached_twice_is_transcribed_once(tree):
    found = discover([str(tree / "talks"), str(tree / "hello.flac"), str(tree / "talks" / "x.mp3"), str(tree / "talks/../hello.flac"), str(tree / "notes.txt")])
    assert _names(found.entries, tree) == ["talks/jfk.flac", "talks/x.mp3", "hello.flac", "notes.txt"]  # explicit: any extension


def test_pattern_matching_nothing_is_a_problem_and_matched_folders_are_searched(tree):
    found = discover([str(tree / "t*"), str(tree / "*.none")])
    assert _names(found.entries[:2], tree) == ["talks/jfk.flac", "talks/x.mp3"]
    assert isinstance(found.entries[2], Problem) and found.entries[2].cause == "no file matches this pattern"
    assert [str(e.relative) for e in found.entries[:2]] == ["talks/jfk.flac", "talks/x.mp3"]


def test_order_does_not_depend_on_creation_order(tmp_path, clips):
    for name in ("b.wav", "a/z.wav", "A.wav", "a-b/c.wav", "a/b/c.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clips["train.wav"], tmp_path / name)
    assert _names(discover([str(tmp_path)]).entries, tmp_path) == ["A.wav", "a/b/c.wav", "a/z.wav", "a-b/c.wav", "b.wav"]


@pytest.mark.parametrize(
    "sources",
    [
        ["../../x.wav", "x.wav"],
        ["/abs/one/x.wav", "/abs/two/x.wav", "/elsewhere/x.mp3"],
        ["a/../../b/x.wav", "./x.wav", "dir..name/x.wav", "..x.wav"],
        ["a/X.wav", "b/x.wav", "a/x.mp3"],
        ["..flac", "...flac", ".flac", "a/..wav"],
    ],
)
def test_output_paths_stay_inside_output_dir_and_never_collide(tmp_path, sources):
    out = tmp_path / "out"
    inputs = [Input(source, PurePath(os.path.basename(source))) for source in sources]
    bases = output_bases(inputs, out)
    keys = [str(base).casefold() for base in bases.values()]
    assert len(set(keys)) == len(inputs)
    for base in bases.values():
        assert os.path.commonpath([os.path.abspath(base), str(out)]) == str(out) and ".." not in base.parts
        assert base.name not in ("", ".", "..") and os.path.dirname(os.path.abspath(base)).startswith(str(out))


def test_same_name_in_two_folders_keeps_the_folders_and_same_stem_keeps_the_extension(tmp_path):
    out = tmp_path / "out"
    inputs = [Input("a/x.wav", PurePath("x.wav")), Input("b/x.wav", PurePath("x.wav")), Input("c/y.wav", PurePath("y.wav"))]
    assert [str(b.relative_to(out)) for b in output_bases(inputs, out).values()] == ["a/x", "b/x", "y"]
    same_folder = [Input("a/x.wav", PurePath("x.wav")), Input("a/x.mp3", PurePath("x.mp3"))]
    assert [str(b.relative_to(out)) for b in output_bases(same_folder, out).values()] == ["x.wav", "x.mp3"]


# --- prefetch ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_prefetch_keeps_order_reports_errors_in_place_and_stays_within_depth(depth):
    items = list(range(8))
    loaded, taken, ahead = [], [], []

    def load(item):
        time.sleep(0.002)
        if item == 3:
            raise ValueError("bad file")
        loaded.append(item)
        ahead.append(len(loaded) - len(taken))
        return item * 10

    prefetcher = Prefetcher(items, load, depth=depth)
    results = []
    for item in items:
        result = prefetcher.take(item)
        if result.error is None:
            taken.append(item)
        results.append(str(result.error) if result.error else result.audio)
        time.sleep(0.005)  # the "transcription"
    prefetcher.close()
    assert results == [0, 10, 20, "bad file", 40, 50, 60, 70]
    assert max(ahead) <= depth + 1  # depth files waiting, plus the one being transcribed


def test_one_file_is_not_a_batch_no_record_no_summary_transcribed_again(run_cli, clips, tmp_path):
    shutil.copyfile(clips["train.wav"], tmp_path / "train.wav")
    out = tmp_path / "out"
    first = run_cli(tmp_path / "train.wav", "-o", out, *MODEL)
    assert first.stderr == "" and sorted(os.listdir(out)) == ["train.txt"]
    again = run_cli(tmp_path / "train.wav", "-o", out, *MODEL, "--log-format", "jsonl")
    assert sources(again.stderr, "done") == [str(tmp_path / "train.wav")]


def test_listed_paths_are_literal_never_patterns_or_stdin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("-", "take[1].wav", "a.wav"):
        (tmp_path / name).write_bytes(b"x")
    found = discover([], listed=["-", "take[1].wav", "*.wav"])
    assert [e.source for e in found.entries] == ["./-", "take[1].wav", "*.wav"]  # "*.wav" fails later as missing


def test_name_that_is_not_utf8_is_recorded_and_skipped_on_rerun(run_cli, clips, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.wav")  # latin-1 bytes: a surrogate escape in Python
    shutil.copyfile(clips["train.wav"], folder / name)
    args = (folder, "-o", tmp_path / "out", *MODEL, "--log-format", "jsonl")
    assert len(sources(run_cli(*args).stderr, "done")) == 1
    assert len(sources(run_cli(*args).stderr, "skipped")) == 1
    assert sorted(os.listdir(tmp_path / "out")) == [".whisper-cli", os.fsdecode(b"caf\xe9.txt")]


# --- progress that tells the truth ---------------------------------------------------------------------


def test_time_left_comes_from_audio_seconds_done_per_second():
    from whisper_cli.time_left import TimeLeft, clock

    now = [100.0]
    left = TimeLeft(todo_bytes=3_000, clock=lambda: now[0])  # three inputs of 1,000 bytes
    assert left.seconds_left() is None and clock(left.seconds_left()) == "-:--:--"
    left.begin_file(1_000, 10.0)  # 10 s of audio in 1,000 bytes
    now[0] += 2.0
    left.advance(4.0)  # 4 s of audio in 2 s: 2 audio seconds per second
    assert left.file_seconds_left() == pytest.approx(3.0)  # 6 s of audio left in it
    assert left.seconds_left() == pytest.approx((6.0 + 20.0) / 2.0)  # and two more files of about 10 s each
    now[0] += 3.0
    left.end_file(1_000, done=True)
    left.end_file(1_000, done=False)  # the next one could not be decoded: its audio will never be done
    assert left.seconds_left() == pytest.approx(10.0 / 2.0)
    assert clock(left.seconds_left()) == "0:00:05" and clock(3725.2) == "1:02:05"


def test_packed_clips_each_report_their_share_of_the_pack_time(run_cli, clips, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("hello.flac", "jfk.flac", "apples.mp3", "train.wav"):
        shutil.copyfile(clips[name], folder / name)
    result = run_cli(folder, "-o", tmp_path / "out", *MODEL, "--log-format", "jsonl")
    done = [e for e in events(result.stderr) if e["event"] == "done"]
    summary = events(result.stderr)[-1]
    assert len(done) == 4
    # Each its share (by audio) of the one pack: the clips' times add up to no more than the run's.
    assert sum(e["wall_s"] for e in done) <= summary["wall_s"]
    for event in done:
        assert event["wall_s"] == pytest.approx(event["wait_s"] + event["transcribe_s"], abs=0.002)
    by_audio = sorted(done, key=lambda e: e["audio_s"])
    assert by_audio[0]["transcribe_s"] < by_audio[-1]["transcribe_s"]  # the longest clip has the largest share


def test_batch_on_a_terminal_shows_time_left_and_a_true_time_per_file(clips, tmp_path):
    """A person's view (stderr on a pseudo-terminal): the batch bar's time left is a time, not -:--:--, and
    packed clips' `done` lines add up to no more than the whole run."""
    from batch_checks import run_on_terminal

    folder = tmp_path / "in"
    folder.mkdir()
    forecast = str(clips["forecast.ogg"])
    subprocess.run(  # about 38 s, too long to pack: transcribed alone first, segment by segment
        ["ffmpeg", "-loglevel", "error", "-i", forecast, "-i", forecast, "-i", forecast,
         "-filter_complex", "concat=n=3:v=0:a=1", str(folder / "a-long.flac")],
        check=True,
    )
    for name in ("hello.flac", "jfk.flac", "apples.mp3", "train.wav"):  # then packed together
        shutil.copyfile(clips[name], folder / name)
    command = [sys.executable, "-m", "whisper_cli", str(folder), "-o", str(tmp_path / "out"), *MODEL]
    code, screen = run_on_terminal(command, REPO)
    assert code == 0, screen
    # The batch bar's detail and time left, while files were still to do: "1/5 files, 37.8 s of audio 0:00:41".
    times_left = re.findall(r"(\d+)/5 files, [^\n]* of audio (\S+)", screen)
    assert any(int(done) < 5 and re.fullmatch(r"\d+:\d\d:\d\d", left) for done, left in times_left), times_left
    done = {name: _seconds(wall) for name, wall in re.findall(r"(?m)^done \S+/(\S+) \(.* of audio in (.*)\)$", screen)}
    assert sorted(done) == ["a-long.flac", "apples.mp3", "hello.flac", "jfk.flac", "train.wav"]
    [total] = re.findall(r"of audio transcribed in (.*), real-time factor", screen)
    assert sum(done.values()) <= _seconds(total) + 0.5 * len(done)  # each rounded (to 1 s above a minute)


def _seconds(shown: str) -> float:
    """ "5.6 s" or "1 min 05 s" (progress._duration) -> seconds."""
    minutes = re.match(r"(\d+) min (\d+) s$", shown)
    return int(minutes[1]) * 60 + int(minutes[2]) if minutes else float(shown.removesuffix(" s"))

"""--live -o DIR: files that grow as finals arrive and parse whenever the run dies, json written whole at the end.

Real processes read a pipe that stays open (no EOF), so the files are looked at while the run is still going,
then the run is killed: SIGKILL gives it no chance to tidy up, so what is on disk is what was written as it went.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import srt
import webvtt

from test_live import ENV, WAIT_S, keys, speech_wav, transcribe_exe  # noqa: F401 (speech_wav is a fixture)


def _live(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [transcribe_exe(), "--live", "-", "--model", "tiny.en", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=tmp_path,
    )


def _feed_and_keep_open(process: subprocess.Popen, clip: str) -> None:
    with open(clip, "rb") as audio:
        process.stdin.write(audio.read())
    process.stdin.flush()  # and left open: the stream goes on


def _wait_for(path: Path, process: subprocess.Popen, marker: str) -> str:
    """The file's text once it holds `marker` (the end of a first cue), while the process still runs."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if marker in text:
            return text
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.2)
    raise AssertionError(f"no {marker!r} in {path} after {WAIT_S} s")


def _stop(process: subprocess.Popen, how: int) -> tuple[bytes, bytes]:
    try:
        process.send_signal(how)
        return process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()


def test_sigkill_after_the_first_final_leaves_an_srt_of_complete_cues(speech_wav, tmp_path):
    out = tmp_path / "out"
    process = _live(tmp_path, "-f", "srt", "-o", str(out))
    _feed_and_keep_open(process, speech_wav)
    _wait_for(out / "stdin.srt", process, "\n\n")  # a first whole cue, named after the source (stdin)
    stdout, _ = _stop(process, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL and stdout == b""  # with -o, stdout carries nothing
    text = (out / "stdin.srt").read_text(encoding="utf-8")
    cues = list(srt.parse(text))  # raises on a cut-off cue
    assert cues and text.endswith("\n\n"), text
    assert [cue.index for cue in cues] == list(range(1, len(cues) + 1))
    assert "fellow americans" in cues[0].content.lower()
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))


def test_sigterm_writes_json_whole_at_the_end_beside_the_growing_files(speech_wav, tmp_path):
    out = tmp_path / "out"
    process = _live(tmp_path, "-f", "vtt,jsonl,json", "-o", str(out))
    _feed_and_keep_open(process, speech_wav)
    _wait_for(out / "stdin.jsonl", process, "\n")
    assert not (out / "stdin.json").exists()  # json cannot be valid before the stream ends
    _, stderr = _stop(process, signal.SIGTERM)
    assert process.returncode == 143, stderr.decode()
    lines = [json.loads(line) for line in (out / "stdin.jsonl").read_text().splitlines()]
    document = json.loads((out / "stdin.json").read_text())
    assert [s["text"] for s in document["segments"]] == [line["text"] for line in lines] and lines
    assert all(line["final"] for line in lines)
    captions = webvtt.from_buffer(io.StringIO((out / "stdin.vtt").read_text()))
    assert keys(" ".join(c.text for c in captions)) == keys(" ".join(line["text"] for line in lines))
    assert sorted(os.listdir(out)) == ["stdin.json", "stdin.jsonl", "stdin.vtt"]  # no temp file left behind


def test_vtt_to_stdout_parses_with_webvtt(shared_samples):
    done = subprocess.run(
        [transcribe_exe(), "--live", "-", "--model", "tiny.en", "-f", "vtt"],
        stdin=open(shared_samples / "jfk.flac", "rb"), capture_output=True, text=True, env=ENV, timeout=WAIT_S,
    )
    assert done.returncode == 0, done.stderr
    captions = webvtt.from_buffer(io.StringIO(done.stdout))
    assert "ask not what your country can do for you" in " ".join(keys(" ".join(c.text for c in captions)))
    assert all(a.end_in_seconds <= b.start_in_seconds for a, b in zip(captions, captions[1:]))


def test_a_fifo_names_its_outputs_and_an_existing_one_is_refused_unless_overwrite(tmp_path, shared_samples):
    fifo, out = tmp_path / "radio.fifo", tmp_path / "out"
    os.mkfifo(fifo)
    out.mkdir()
    (out / "radio.txt").write_text("yesterday's transcript\n")
    refused = subprocess.run(
        [transcribe_exe(), "--live", str(fifo), "--model", "tiny.en", "-o", str(out)],
        capture_output=True, text=True, env=ENV, timeout=300,  # refused before the FIFO is opened: no writer needed
    )
    assert (refused.returncode, refused.stderr.splitlines()) == (
        4, [f"error: {out / 'radio.txt'}: exists; a live run starts its files afresh (use --overwrite to replace it)"]
    )
    assert (out / "radio.txt").read_text() == "yesterday's transcript\n"
    command = f"{transcribe_exe()} --live {fifo} --model tiny.en -o {out} --overwrite & cat {shared_samples / 'jfk.flac'} > {fifo}; wait $!"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=ENV, timeout=WAIT_S)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert "ask not what your country" in " ".join(keys((out / "radio.txt").read_text()))


@pytest.mark.parametrize("args, line", [
    (["-f", "srt,vtt"], "error: --format: --live writes one format to stdout (several need -o DIR)"),
    (["-f", "srt,json", "-o", "out", "--partials"], 'error: --partials: needs -f jsonl (provisional lines are JSON objects with "final": false)'),
])
def test_live_output_usage_errors_exit_2(args, line, tmp_path):
    done = subprocess.run([transcribe_exe(), "--live", "--model", "tiny.en", *args], capture_output=True, text=True, env=ENV, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert (done.returncode, done.stderr.splitlines()) == (2, [line])
    assert not (tmp_path / "out").exists()

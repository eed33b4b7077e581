"""The `transcribe` command end to end, on the real tiny.en model and real audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, SAMPLES

HELLO = SAMPLES / "hello.flac"
FORECAST = SAMPLES / "forecast.ogg"  # three sentences -> three segments
HELLO_TEXT = "This recording was transcribed on your own computer"


def test_prints_transcript_of_bundled_sample(run_cli):
    result = run_cli(HELLO, "--model", "tiny.en")
    assert HELLO_TEXT in result.stdout
    assert result.stdout.count("\n") == 1


def test_stdout_holds_only_transcript_and_errors_go_to_stderr(run_cli, tmp_path):
    result = run_cli(FORECAST, tmp_path / "missing.wav", "--model", "tiny.en", "-o", tmp_path, "-q", expect=1)
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.wav'}: no such file"]
    assert "umbrella" in (tmp_path / "forecast.txt").read_text()


@pytest.mark.parametrize(
    "bad_input, cause",
    [
        ("missing.wav", "no such file"),
        ("notes.txt", "no audio stream"),
        ("empty.mp3", "empty file"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(run_cli, tmp_path, bad_input, cause):
    (tmp_path / "notes.txt").write_text("hello, I am not audio\n" * 20)
    (tmp_path / "empty.mp3").write_bytes(b"")
    result = run_cli(tmp_path / bad_input, "--model", "tiny.en", expect=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / bad_input}: {cause}")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_each_format_streams_to_stdout(run_cli):
    import srt as srt_parser
    import webvtt

    srt_text = run_cli(FORECAST, "--model", "tiny.en", "-f", "srt").stdout
    cues = list(srt_parser.parse(srt_text))
    assert len(cues) == 3 and cues[0].start.total_seconds() == 0

    vtt_text = run_cli(FORECAST, "--model", "tiny.en", "-f", "vtt").stdout
    assert len(webvtt.from_string(vtt_text).captions) == 3

    tsv_lines = run_cli(FORECAST, "--model", "tiny.en", "-f", "tsv").stdout.splitlines()
    assert tsv_lines[0] == "start\tend\ttext" and len(tsv_lines) == 4

    jsonl = [json.loads(line) for line in run_cli(FORECAST, "--model", "tiny.en", "-f", "jsonl").stdout.splitlines()]
    assert [segment["id"] for segment in jsonl] == [0, 1, 2]
    assert "umbrella" in jsonl[-1]["text"]


def test_json_is_openai_compatible_and_records_how_it_was_made(run_cli):
    document = json.loads(run_cli(FORECAST, "--model", "tiny.en", "-f", "json").stdout)
    assert document["language"] == "en"
    assert "today is sunny" in document["text"]
    assert len(document["segments"]) == 3
    assert document["schema_version"] == 2
    assert document["source"] == str(FORECAST)
    assert document["model"] == "tiny.en" and document["device"] == "cpu" and document["compute_type"] == "int8"
    assert 12 < document["duration"] < 13.5
    assert document["settings"]["beam_size"] == 5 and document["settings"]["task"] == "transcribe"


def test_output_dir_writes_every_format_atomically(run_cli, tmp_path):
    run_cli(FORECAST, "--model", "tiny.en", "-f", "all", "-o", tmp_path / "out")
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == [f"forecast.{ext}" for ext in ("json", "jsonl", "srt", "tsv", "txt", "vtt")]
    assert "umbrella" in (tmp_path / "out" / "forecast.txt").read_text()


def test_stdin_is_decoded_whatever_the_container(run_cli):
    result = run_cli("-", "--model", "tiny.en", stdin=FORECAST.read_bytes())
    assert "heavy rain" in result.stdout


def test_segments_reach_stdout_before_the_last_is_decoded(monkeypatch, tiny_whisper, run_cli):
    events = []

    class RecordingStdout:
        def write(self, text):
            events.append(("write", text))

        def flush(self):
            events.append(("flush", None))

    real_call = type(tiny_whisper).__call__

    def recording_call(self, audio, options, source=None):
        stream = real_call(self, audio, options, source=source)
        stream.segments = _record_decoding(stream.segments, events)
        return stream

    monkeypatch.setattr(type(tiny_whisper), "__call__", recording_call)
    monkeypatch.setattr(sys, "stdout", RecordingStdout())
    from whisper_cli.cli import main

    monkeypatch.setattr(sys, "argv", ["transcribe", str(FORECAST), "--model", "tiny.en"])
    with pytest.raises(SystemExit):
        main()
    kinds = [kind for kind, _ in events]
    first_write = kinds.index("write")
    last_decode = len(kinds) - 1 - kinds[::-1].index("decoded")
    assert kinds.count("decoded") == 3
    assert first_write < last_decode, events
    assert kinds[first_write + 1] == "flush"


def _record_decoding(segments, events):
    for segment in segments:
        events.append(("decoded", segment.id))
        yield segment


def test_several_formats_without_output_dir_is_a_usage_error(run_cli):
    result = run_cli(HELLO, "-f", "srt,json", expect=2)
    assert "--output-dir" in result.stderr


def test_unknown_format_is_a_usage_error(run_cli):
    result = run_cli(HELLO, "-f", "docx", expect=2)
    assert "docx" in result.stderr


def _transcribe_command(*args):
    return [sys.executable, "-m", "whisper_cli", *map(str, args)]


def test_real_entry_point_runs_default_bundled_base_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "transcribe"), str(HELLO)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert HELLO_TEXT.lower() in done.stdout.lower()


def test_closed_stdout_pipe_exits_quietly(tmp_path):
    # Several 30 s windows, so decoding is still going on when the reader goes away.
    long_clip = tmp_path / "long.wav"
    subprocess.run(["sox", *[str(FORECAST)] * 8, str(long_clip)], check=True)
    process = subprocess.Popen(
        _transcribe_command(long_clip, "--model", "tiny.en"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    first_line = process.stdout.readline()
    process.stdout.close()  # what `| head -1` does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert b"sunny" in first_line  # "The weather today is sunny", or "But whether" on some CPUs (same_words.py)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.parametrize(
    "arguments, line",
    [
        (["--beam-size", "x"], "error: --beam-size: 'x' is not a valid "),
        (["--beam-size", "0"], "error: --beam-size: 0 is not in the range x>=1"),
        (["--device", "gpu"], "error: --device: 'gpu' is not one of 'auto', 'cpu', 'cuda'"),
        (["--no-such-flag"], "error: --no-such-flag: no such option"),
        (["--beam-siz", "2"], "error: --beam-siz: no such option (did you mean --beam-size or --batch-size?)"),
        (["--beam-size"], "error: --beam-size: requires an argument"),
        (["--format", "docx"], "error: --format: unknown format 'docx'"),
        # The project's own message, so the case fails if --pack-batch is renamed (click's "no such option"
        # would name the flag too).
        (["--no-pack", "--pack-batch", "2"], "error: --pack-batch: has no effect with --no-pack"),
        (["--model", "smal"], "error: --model: unknown model 'smal': not a size name, a model folder or a repo id (did you mean small?)"),
    ],
    ids=[
        "not a number", "below the minimum", "not a choice", "unknown flag", "mistyped flag", "missing value",
        "unknown format", "flag without effect", "mistyped model",
    ],
)
def test_bad_command_line_is_one_house_format_line_and_exit_2(run_cli, arguments, line):
    # Typer 0.26+ raises its own vendored click's exceptions; they must still map to exit 2.
    result = run_cli(HELLO, *arguments, expect=2)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result.stderr
    assert result.stdout == ""


def test_help_groups_options_under_their_panels_and_lists_exit_codes(run_cli):
    help_text = run_cli("--help").stdout
    sections = [line for line in help_text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert sections[:3] == ["Arguments:", "Model and device:", "Output:"]
    assert "Options:" in sections  # --help and --version, last
    assert "--model NAME" in help_text and "130  interrupted" in help_text


# Every module README says --help does not import, and the ones the new modes will bring.
HEAVY_MODULES = (
    "numpy", "av", "rich.markdown", "huggingface_hub", "torch", "faster_whisper", "ctranslate2",
    "fastapi", "uvicorn", "ray",
)


@pytest.mark.parametrize("argv", [["transcribe", "--help"], ["whisper-cli", "--help"], ["whisper-cli", "transcribe", "-h"]])
def test_help_imports_no_heavy_module(argv):
    entry = "main" if argv[0] == "transcribe" else "whisper_cli_main"
    probe = (
        f"import sys; sys.argv = {argv!r}\n"
        f"from whisper_cli.cli import {entry} as entry\n"
        "try:\n    entry()\nexcept SystemExit:\n    pass\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "--model" in done.stdout or "transcribe" in done.stdout
    assert "HEAVY=\n" in done.stderr, done.stderr

"""JSON and JSONL in openai-whisper's shape (openai_shape.py), from the real tiny.en model on real audio:
a file decoded over two windows, word timestamps, and short clips packed into a shared window or alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import SAMPLES, TEST_MODEL
from openai_shape import assert_openai_document, assert_openai_segments
from whisper_cli.audio import load_audio
from whisper_cli.options import DecodeOptions
from whisper_cli.engine.packed import transcribe_packed
from whisper_cli.writers import OutputFormat, make_writer

TIMESTAMP_S = 0.02  # one timestamp token
FRAME_S = 0.01  # one unit of seek


@pytest.fixture(scope="module")
def tokenizer(tiny_whisper):
    from faster_whisper.tokenizer import Tokenizer

    model = tiny_whisper.model
    return Tokenizer(model.hf_tokenizer, model.model.is_multilingual)


@pytest.fixture(scope="module")
def jfk_three_times(tmp_path_factory, shared_samples) -> Path:
    """33 s of speech, so that Whisper decodes it in more than one 30 s window."""
    path = tmp_path_factory.mktemp("long") / "jfk3.flac"
    jfk = str(shared_samples / "jfk.flac")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", jfk, "-i", jfk, "-i", jfk,
         "-filter_complex", "concat=n=3:v=0:a=1", str(path)],
        check=True, capture_output=True, timeout=120,
    )
    return path


def test_json_and_jsonl_have_openai_whispers_keys_ids_seek_and_tokens(run_cli, jfk_three_times, tokenizer, tmp_path):
    run_cli(jfk_three_times, "--model", TEST_MODEL, "-f", "json,jsonl", "-o", tmp_path)
    document = json.loads((tmp_path / "jfk3.json").read_text())
    lines = [json.loads(line) for line in (tmp_path / "jfk3.jsonl").read_text().splitlines()]
    assert_openai_document(document, words=False)
    assert lines == document["segments"]

    segments = document["segments"]
    seeks = [segment["seek"] for segment in segments]
    assert seeks == sorted(seeks) and seeks[0] == 0 and seeks[-1] > 0, seeks  # a second window
    for segment in segments:
        tokens = segment["tokens"]
        assert tokenizer.decode(tokens) == segment["text"]
        assert tokens[0] >= tokenizer.timestamp_begin, segment
        # seek is where the window starts, in 10 ms frames: the segment's first timestamp token counts from there
        # (a window's only segment starts at the window, as in openai-whisper).
        window_start = segment["seek"] * FRAME_S
        first_timestamp = window_start + (tokens[0] - tokenizer.timestamp_begin) * TIMESTAMP_S
        assert min(abs(segment["start"] - first_timestamp), abs(segment["start"] - window_start)) < 1e-3, segment
        assert window_start <= segment["start"] < window_start + 30


def test_word_timestamps_give_every_segment_openai_whispers_words(run_cli, shared_samples):
    stdout = run_cli(shared_samples / "jfk.flac", "--model", TEST_MODEL, "-f", "jsonl", "--word-timestamps").stdout
    segments = [json.loads(line) for line in stdout.splitlines()]
    assert len(segments) >= 2
    assert_openai_segments(segments, words=True)


def test_packed_and_lone_clips_carry_their_own_tokens_in_openai_whispers_shape(tiny_whisper, tokenizer, shared_samples):
    # First-fit packs forecast (12.6 s) and jfk (11 s) into one window; hello (5.6 s) is left alone in a second.
    paths = [SAMPLES / "hello.flac", SAMPLES / "forecast.ogg", shared_samples / "jfk.flac"]
    clips = [(path.name, load_audio(path)) for path in paths]
    results = transcribe_packed(tiny_whisper, clips, DecodeOptions(word_timestamps=True))
    assert {result.packed for result in results} == {True, False}, [result.reason for result in results]
    for result in results:
        name = result.transcript.info.source
        document = json.loads(make_writer(OutputFormat.JSON).render(result.transcript))
        lines = [json.loads(line) for line in make_writer(OutputFormat.JSONL).render(result.transcript).splitlines()]
        assert_openai_document(document, words=True)
        assert lines == document["segments"], name
        assert document["segments"], name
        for segment in document["segments"]:
            tokens = segment["tokens"]
            assert tokenizer.decode(tokens) == segment["text"], (name, segment)  # its own text, nothing more
            assert segment["seek"] == 0, name  # a clip of under 30 s: its window starts with it
            if result.packed:
                # Timestamp tokens in the clip's own time, as if it had been decoded alone.
                first, last = ((token - tokenizer.timestamp_begin) * TIMESTAMP_S for token in (tokens[0], tokens[-1]))
                assert first == pytest.approx(segment["start"], abs=TIMESTAMP_S / 2), (name, segment)
                assert last == pytest.approx(segment["end"], abs=TIMESTAMP_S / 2), (name, segment)

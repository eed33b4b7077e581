"""Fuzzing, bounded for CI (seeded, 500 cases in all, a few seconds): the audio loader on mutated real files
may return audio or raise InputError, nothing else; the writers' TSV and TXT keep their shape and JSON keeps
the text for any segment text.

The writers' SRT/VTT/JSON parse-back property lives in test_writers.py; this adds only what it does not check.
benchmarks/fuzz_long.py runs the same loader property for tens of thousands of cases.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whisper_cli.audio import load_audio
from whisper_cli.errors import InputError
from whisper_cli.transcript import Transcript, TranscriptInfo
from whisper_cli.writers import OutputFormat, make_writer

# Half a second of a tone with a click in it, in each container and codec the loader meets most.
SEED_ENCODINGS = {
    "wav": ("-c:a", "pcm_s16le"),
    "flac": ("-c:a", "flac"),
    "ogg": ("-c:a", "libvorbis"),
    "opus": ("-c:a", "libopus"),
    "mp3": ("-c:a", "libmp3lame", "-b:a", "32k"),
    "m4a": ("-c:a", "aac", "-b:a", "32k"),
    "mkv": ("-c:a", "pcm_s16le"),
    "stereo.wav": ("-c:a", "pcm_s16le", "-ac", "2", "-ar", "44100"),
}
FUZZ = settings(
    derandomize=True,  # the same cases on every run and machine: a CI failure reproduces
    database=None,
    deadline=None,  # a few mutated headers make FFmpeg probe for longer; the case count bounds the time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def make_seeds(folder: Path) -> dict[str, bytes]:
    """Short real files, made with ffmpeg; the fuzzers mutate their bytes."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg to make the seed files")
    seeds = {}
    for name, codec in SEED_ENCODINGS.items():
        path = folder / f"seed.{name}"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5:sample_rate=16000",
             *codec, str(path)],
            check=True, capture_output=True,
        )
        seeds[name] = path.read_bytes()
    return seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    return make_seeds(tmp_path_factory.mktemp("seeds"))


# --- mutations -----------------------------------------------------------------------------------


@st.composite
def mutations(draw, size: int) -> list[tuple]:
    """A few edits of a file of `size` bytes: flips, cuts, random headers, inserted and zeroed runs."""
    position = st.integers(0, max(size - 1, 0))
    edit = st.one_of(
        st.tuples(st.just("flip"), position, st.integers(1, 255)),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("header"), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=256)),
        st.tuples(st.just("zero"), position, st.integers(1, 512)),
        st.tuples(st.just("repeat"), position, st.integers(1, 512)),
        # Small integers written over a header field: 0, 1, 0xFFFF... in sizes, rates and channel counts.
        st.tuples(st.just("int"), st.integers(0, 96), st.sampled_from([0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])),
    )
    return draw(st.lists(edit, min_size=1, max_size=6))


def mutate(data: bytes, edits: list[tuple]) -> bytes:
    buffer = bytearray(data)
    for edit in edits:
        kind, args = edit[0], edit[1:]
        at = min(args[0], len(buffer)) if kind in ("flip", "truncate", "insert", "zero", "repeat") else 0
        if kind == "flip" and at < len(buffer):
            buffer[at] ^= args[1]
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "header":
            buffer[: len(args[0])] = args[0]
        elif kind == "insert":
            buffer[at:at] = args[1]
        elif kind == "zero":
            buffer[at : at + args[1]] = bytes(len(buffer[at : at + args[1]]))
        elif kind == "repeat":
            buffer[at:at] = buffer[at : at + args[1]]
        elif kind == "int":
            offset, value = args
            width = 4 if value > 0xFFFF else 2
            if offset + width <= len(buffer):
                buffer[offset : offset + width] = value.to_bytes(width, "little")
    return bytes(buffer)


@st.composite
def mutated_files(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(seeds)))
    return name, mutate(seeds[name], draw(mutations(len(seeds[name]))))


def check_loaded(load, subject: str) -> str | None:
    """The property: audio out (1-D float32, finite, in [-1, 1]) or an InputError naming `subject`.

    Returns the error's cause, or None when audio came out.
    """
    try:
        samples = load()
    except InputError as error:
        assert error.subject == subject
        assert error.cause and "\n" not in error.cause
        return error.cause
    assert isinstance(samples, np.ndarray) and samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size > 0
    assert np.isfinite(samples).all() and np.abs(samples).max() <= 1.0
    return None


# --- the loader ----------------------------------------------------------------------------------

FILE_CASES = 400
STDIN_CASES = 50
WRITER_CASES = 50


def test_fuzz_loader_on_mutated_files_raises_nothing_but_input_error(seeds, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")

    @settings(FUZZ, max_examples=FILE_CASES)
    @given(mutated_files(seeds))
    def property(named):
        name, data = named
        path = folder / f"mutated.{name.rsplit('.', 1)[-1]}"
        path.write_bytes(data)
        check_loaded(lambda: load_audio(str(path)), str(path))

    property()


def test_fuzz_loader_on_mutated_bytes_through_stdin(seeds):
    @settings(FUZZ, max_examples=STDIN_CASES)
    @given(mutated_files(seeds), st.booleans())
    def property(named, split_stereo):
        _, data = named
        load = lambda: load_audio("-", stdin=io.BytesIO(data), split_stereo=split_stereo)  # noqa: E731
        if not split_stereo:
            check_loaded(load, "<stdin>")
            return
        try:
            left, right = load()
        except InputError as error:
            assert error.subject == "<stdin>" and error.cause
            return
        assert left.shape == right.shape and left.dtype == right.dtype == np.float32

    property()


# --- the writers: what test_writers.py's property leaves out --------------------------------------


def test_fuzz_tsv_and_txt_keep_their_shape_and_json_keeps_the_text():
    from test_writers import segments

    @settings(FUZZ, max_examples=WRITER_CASES)
    @given(segments())
    def property(segs):
        transcript = Transcript(TranscriptInfo("any.wav", 1.0), segs)
        tsv = make_writer(OutputFormat.TSV).render(transcript)
        rows = tsv.split("\n")
        assert rows[0] == "start\tend\ttext" and rows[-1] == ""
        for row in rows[1:-1]:
            start, end, text = row.split("\t")  # exactly three fields: no tab or line break leaks from text
            assert 0 <= int(start) <= int(end) and text.strip()
        txt = make_writer(OutputFormat.TXT).render(transcript)
        assert txt == "" or (txt.endswith("\n") and all(line.strip() for line in txt.split("\n")[:-1]))
        assert len(txt.splitlines()) == len(rows) - 2  # one line per segment with text, in both

        document = json.loads(make_writer(OutputFormat.JSON).render(transcript))
        for record, segment in zip(document["segments"], segs):
            # Verbatim, line breaks and control characters included; only lone surrogates become U+FFFD.
            assert record["text"] == "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in segment.text)

    property()

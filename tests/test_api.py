"""The Python API on the real tiny.en: get_whisper(model_size, compute_type, device, cpu_threads)(audio), in
faster-whisper's style (`segments, info = ...`) and in ours (`.segments`, `.info`, `take_notes()`)."""

from __future__ import annotations

import inspect
import subprocess
import sys

from conftest import REPO, TEST_MODEL
from whisper_cli.options import DecodeOptions

JFK_LINE = "ask not what your country can do for you"


def test_call_unpacks_into_lazy_segments_and_info_as_faster_whisper_does(tiny_whisper, shared_samples):
    segments, info = tiny_whisper(str(shared_samples / "jfk.flac"))
    assert inspect.isgenerator(segments)
    assert inspect.getgeneratorstate(segments) == inspect.GEN_CREATED  # nothing decoded until asked
    assert info.language == "en" and 10.5 < info.duration < 11.5
    segments = list(segments)
    assert JFK_LINE in "".join(segment.text for segment in segments).lower()
    assert [segment.id for segment in segments] == list(range(len(segments)))


def test_attribute_style_keeps_segments_info_and_notes(tiny_whisper, shared_samples):
    stream = tiny_whisper(shared_samples / "jfk.flac", DecodeOptions(language="en"))
    assert stream.info.language == "en" and stream.info.source.endswith("jfk.flac")
    first = next(stream.segments)
    assert "americans" in first.text.lower()
    assert stream.take_notes() == []
    segments, info = stream  # the same stream unpacks too, and shares its one iterator
    assert info is stream.info and segments is stream.segments
    assert "your country" in "".join(segment.text for segment in segments).lower()
    assert list(stream.segments) == [] and stream[1] is stream.info and len(stream) == 2


def test_positional_arguments_are_model_size_compute_type_device_cpu_threads(private_caches):
    from whisper_cli import get_whisper

    whisper = get_whisper(TEST_MODEL, "float32", "cpu", 1)
    assert whisper.resolved.name == TEST_MODEL
    assert (whisper.choice.compute_type, whisper.choice.device, whisper.cpu_threads) == ("float32", "cpu", 1)
    assert (whisper.model.model.compute_type, whisper.model.model.device) == ("float32", "cpu")


def test_the_factorys_one_line_call_works_in_a_fresh_interpreter(private_caches, shared_samples):
    script = (
        "import sys\n"
        "from whisper_cli import get_whisper\n"
        f"segments, info = get_whisper({TEST_MODEL!r}, 'int8', 'cpu', 1)(sys.argv[1])\n"
        "print(info.language)\n"
        "for segment in segments:\n"
        "    print(segment.id, segment.text.strip())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(shared_samples / "jfk.flac")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "en" and lines[1].startswith("0 ")
    assert JFK_LINE in " ".join(lines).lower()

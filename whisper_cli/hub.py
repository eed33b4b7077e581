"""The Hugging Face Hub: a repo's snapshot from the local cache or a download, and one-line causes of failures.

huggingface_hub is imported inside functions, so only a run that takes the Hub path pays for it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from .errors import ModelError

# The files faster-whisper's own download_model fetches from a repo.
HUB_ALLOW_PATTERNS: list[str] = [
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
]


def cached_snapshot(name: str, repo_id: str) -> Optional[Path]:
    """The repo's snapshot in the Hugging Face cache (HF_HOME / HF_HUB_CACHE); None when it is not there whole."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_ALLOW_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:  # not cached, or an interrupted download left it incomplete
        return None
    except HFValidationError as exc:
        raise ModelError(name, f"not a valid Hub repo id: {_first_line(exc)}") from exc


def download_snapshot(name: str, repo_id: str, *, show_progress: bool) -> Path:
    """Download the repo's model files; a network or Hub failure is a ModelError saying why in one line."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id,
                allow_patterns=HUB_ALLOW_PATTERNS,
                tqdm_class=None if show_progress and _stderr_is_terminal() else _silent_tqdm(),
            )
        )
    except Exception as exc:
        if not isinstance(exc, _hub_failures()):
            raise  # a bug, not a network problem: keep the traceback
        raise ModelError(name, _hub_cause(repo_id, exc)) from exc


def _stderr_is_terminal() -> bool:
    # huggingface_hub hides its byte bars off a terminal but not its "Fetching N files" bar.
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _silent_tqdm() -> type:
    from huggingface_hub.utils import tqdm as hf_tqdm

    class SilentTqdm(hf_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return SilentTqdm


def _network_errors() -> tuple[type, ...]:
    """Errors of the HTTP library huggingface_hub uses: httpx2 (2.x), httpx (1.x) or requests (0.x)."""
    libraries = (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException"))
    return tuple(getattr(sys.modules[module], error) for module, error in libraries if module in sys.modules)


def _hub_failures() -> tuple[type, ...]:
    from huggingface_hub.utils import EntryNotFoundError, HFValidationError

    # OSError covers HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled and a full disk.
    return (OSError, EntryNotFoundError, HFValidationError, *_network_errors())


def _hub_cause(repo_id: str, exc: BaseException) -> str:
    """One line saying why the Hub download failed, from the most telling error in the chain."""
    from huggingface_hub import constants
    from huggingface_hub.utils import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = constants.ENDPOINT
    chain: list[BaseException] = []
    error: Optional[BaseException] = exc
    while error is not None and error not in chain and len(chain) < 8:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for error in chain:
        if isinstance(error, GatedRepoError):
            return f"{repo_id} is gated: accept its terms on the Hub website, then log in (`hf auth login`)"
        if isinstance(error, RepositoryNotFoundError):
            return f"repository {repo_id} not found on {endpoint} (if private, log in with `hf auth login`)"
        if isinstance(error, RevisionNotFoundError):
            return f"{repo_id} has no such revision on {endpoint}"
        if isinstance(error, OfflineModeIsEnabled):
            return "not in the local cache and HF_HUB_OFFLINE is set"
        response = getattr(error, "response", None)
        if isinstance(error, HfHubHTTPError) and response is not None:
            reason = getattr(response, "reason_phrase", None) or getattr(response, "reason", "") or ""
            return f"download failed: {endpoint} answered HTTP {response.status_code} {reason}".rstrip()
        if isinstance(error, _network_errors()):
            return f"cannot reach {endpoint}: {_first_line(error) or type(error).__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"download failed: {exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return f"download failed: {_first_line(exc) or type(exc).__name__}"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else ""

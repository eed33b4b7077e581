"""The optional extras (pip install 'whisper-cli[NAME]'): is one installed, and a usage error that says how if not.

Checked before any work starts, without importing the extra (find_spec only), so a missing one costs nothing.
"""

from __future__ import annotations

import importlib.util

from .errors import UsageError


def install_hint(extra: str) -> str:
    return f"pip install 'whisper-cli[{extra}]'"


def require(extra: str, modules: tuple[str, ...], subject: str) -> None:
    """UsageError naming `subject` (the option or command that needs it) when a module of `extra` is missing."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise UsageError(subject, f"needs the {extra} extra, which is not installed: {install_hint(extra)}")

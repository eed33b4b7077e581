"""The benchmark environment's exact versions (requirements.txt), and what differs from them on this machine.

The engines must be identical across runs and between contenders, so that a difference in a table is the CLIs'
and not an engine release's. The main venv (whisper-cli and the plain script) needs the pinned engine packages;
whisper-ctranslate2's own venv needs those and whisper-ctranslate2 itself.
"""

from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Optional

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
WCT2_ONLY = ("whisper-ctranslate2",)  # installed only in whisper-ctranslate2's venv


def pinned(path: Optional[Path] = None) -> dict[str, str]:
    """{package: version} from `name==version` lines; comments and blank lines ignored."""
    path = path or REQUIREMENTS
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise ValueError(f"{path.name}: {line!r} is not pinned to one version (name==version)")
        pins[name.strip().lower()] = version.strip()
    return pins


def engine_packages(pins: dict[str, str]) -> list[str]:
    """The pinned packages both venvs must have."""
    return [name for name in pins if name not in WCT2_ONLY]


def differences(pins: dict[str, str], installed: dict[str, Optional[str]], where: str) -> list[str]:
    """One line per package of `installed` whose version is not the pinned one."""
    out = []
    for name, version in installed.items():
        want = pins.get(name)
        if want is not None and version != want:
            have = version or "not installed"
            out.append(f"{where}: {name} {have}, benchmarks/requirements.txt pins {want}")
    return out


def installed_here(names: list[str]) -> dict[str, Optional[str]]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def installed_in(python: Path, names: list[str]) -> dict[str, Optional[str]]:
    """Versions in another venv, read by its own interpreter; {} when it cannot run."""
    code = (
        "import json, sys; from importlib import metadata as m\n"
        "def v(p):\n"
        "    try: return m.version(p)\n"
        "    except m.PackageNotFoundError: return None\n"
        "print(json.dumps({p: v(p) for p in sys.argv[1:]}))"
    )
    try:
        done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True)
    except OSError:
        return {}
    return json.loads(done.stdout) if done.returncode == 0 else {}


def check(wct2_python: Optional[Path]) -> tuple[dict, list[str]]:
    """({"main": versions, "whisper-ctranslate2": versions}, differences from the pins)."""
    pins = pinned()
    main = installed_here(engine_packages(pins))
    versions, problems = {"main": main}, differences(pins, main, "main venv")
    if wct2_python is not None and wct2_python.is_file():
        theirs = installed_in(wct2_python, list(pins))
        versions["whisper-ctranslate2"] = theirs
        problems += differences(pins, theirs, f"{wct2_python.parent.parent.name}")
    return versions, problems

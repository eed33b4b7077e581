"""Who is measured: whisper-cli (defaults and faster settings), the plain faster-whisper script, whisper-ctranslate2.

Each contender is one row of CONTENDERS: a family (which program), the options it adds to that family's base
command, and the workloads (a-d) it runs. To measure a new whisper-cli setting, add one line; a row whose options
`transcribe --help` does not list is shown as skipped, so rows for options still being written are harmless.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pins

HERE = Path(__file__).resolve().parent
PLAIN_SCRIPT = HERE / "plain_faster_whisper.py"
WCT2_VENV = HERE / "work" / "wct2-venv"
WCT2_PYTHON = WCT2_VENV / "bin" / "python"

WHISPER_CLI = "whisper-cli"
PLAIN = "plain"
WCT2 = "whisper-ctranslate2"


@dataclass(frozen=True)
class Contender:
    id: str  # short name for --contenders and the JSON
    family: str
    extra: tuple[str, ...] = ()  # options added to the family's base command
    workloads: str = "abcd"  # which of the workloads (a-d) it runs
    role: str = ""  # "default": the family's out-of-the-box run, which the targets compare against
    floor: str = ""  # id of the plain row with the same decoding settings, for like-for-like speed and memory

    @property
    def label(self) -> str:
        name = {PLAIN: "plain faster-whisper"}.get(self.family, self.family)
        return " ".join((name, *self.extra))

    def needs(self) -> list[str]:
        """The long options this row passes, which the program must offer."""
        return [arg for arg in self.extra if arg.startswith("--")]


CONTENDERS: tuple[Contender, ...] = (
    Contender("wcli", WHISPER_CLI, (), "abcd", role="default", floor="plain"),
    Contender("wcli-beam1", WHISPER_CLI, ("--beam-size", "1"), "cd"),
    Contender("wcli-beam2", WHISPER_CLI, ("--beam-size", "2"), "d"),
    Contender("wcli-nopack", WHISPER_CLI, ("--no-pack",), "d", floor="plain"),  # each clip alone, as its peers
    Contender("wcli-pack4", WHISPER_CLI, ("--pack-batch", "4"), "d"),  # packed windows 4 at a time: faster with AVX-512/AMX
    Contender("wcli-vad", WHISPER_CLI, ("--vad",), "cd"),
    # VAD spelled out on every batched row: whisper-cli turns it on by default with --batch-size, and a default may move.
    Contender("wcli-bs4-vad", WHISPER_CLI, ("--batch-size", "4", "--vad"), "c", floor="plain-bs4-vad"),
    Contender("wcli-bs8-vad", WHISPER_CLI, ("--batch-size", "8", "--vad"), "bcd", floor="plain-bs8-vad"),
    Contender("wcli-bs16-vad", WHISPER_CLI, ("--batch-size", "16", "--vad"), "c", floor="plain-bs16-vad"),
    Contender("wcli-bs8-vad-beam1", WHISPER_CLI, ("--batch-size", "8", "--vad", "--beam-size", "1"), "c", floor="plain-bs8-vad-beam1"),
    Contender("wcli-bs8-vad-beam2", WHISPER_CLI, ("--batch-size", "8", "--vad", "--beam-size", "2"), "c", floor="plain-bs8-vad-beam2"),
    Contender("wcli-bs4-novad", WHISPER_CLI, ("--batch-size", "4", "--no-vad"), "c", floor="plain-bs4"),
    Contender("wcli-bs8-novad", WHISPER_CLI, ("--batch-size", "8", "--no-vad"), "cd", floor="plain-bs8"),
    Contender("wcli-bs16-novad", WHISPER_CLI, ("--batch-size", "16", "--no-vad"), "c", floor="plain-bs16"),
    Contender("plain", PLAIN, (), "abcd", role="default"),
    # The floor of each batched setting, so the CLI's speed and memory are also compared like for like.
    Contender("plain-bs4-vad", PLAIN, ("--batch-size", "4", "--vad"), "c"),
    Contender("plain-bs8-vad", PLAIN, ("--batch-size", "8", "--vad"), "cd"),
    Contender("plain-bs16-vad", PLAIN, ("--batch-size", "16", "--vad"), "c"),
    Contender("plain-bs8-vad-beam1", PLAIN, ("--batch-size", "8", "--vad", "--beam-size", "1"), "c"),
    Contender("plain-bs8-vad-beam2", PLAIN, ("--batch-size", "8", "--vad", "--beam-size", "2"), "c"),
    Contender("plain-bs4", PLAIN, ("--batch-size", "4"), "c"),  # fixed 30-second windows, as whisper-cli --no-vad
    Contender("plain-bs8", PLAIN, ("--batch-size", "8"), "c"),
    Contender("plain-bs16", PLAIN, ("--batch-size", "16"), "c"),
    Contender("wct2", WCT2, (), "abcd", role="default"),
    # Its own fast mode: BatchedInferencePipeline, batch size 8, VAD forced on.
    Contender("wct2-batched", WCT2, ("--batched", "True"), "cd"),
)


def select(spec: Optional[str]) -> list[Contender]:
    """--contenders: ids or families, comma-separated ("wcli,plain-bs8", "whisper-cli"); None: all."""
    if not spec:
        return list(CONTENDERS)
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    ids = {c.id for c in CONTENDERS}
    # A name that is a row's id picks that row ("plain"); otherwise a family picks all its rows ("whisper-cli").
    chosen = [c for c in CONTENDERS if c.id in wanted or any(name not in ids and name == c.family for name in wanted)]
    unknown = [n for n in wanted if not any(n in (c.id, c.family) for c in CONTENDERS)]
    if unknown:
        valid = ", ".join(dict.fromkeys([c.id for c in CONTENDERS] + [WHISPER_CLI, PLAIN, WCT2]))
        raise SystemExit(f"unknown contender(s) {', '.join(unknown)}; choose from {valid}")
    return chosen


@dataclass
class Setup:
    """What the commands need: programs, the shared model directory, device, threads."""

    model_dir: Path
    device: str  # "cpu" or "cuda"
    compute_type: str  # "int8" on CPU, "float16" on CUDA
    threads: int
    cuda_devices: int
    transcribe: Path = field(default_factory=lambda: Path(sys.executable).parent / "transcribe")
    wct2: Path = WCT2_VENV / "bin" / "whisper-ctranslate2"
    wcli_options: frozenset = frozenset()

    def available(self, contender: Contender) -> Optional[str]:
        """None if the contender can run, else why it is skipped."""
        if contender.family == WCT2 and not self.wct2.is_file():
            return f"whisper-ctranslate2 is not installed in {WCT2_VENV} (run without --no-install)"
        if contender.family == WHISPER_CLI:
            missing = [opt for opt in contender.needs() if opt not in self.wcli_options]
            if missing:
                return f"`transcribe --help` has no {', '.join(missing)} yet"
        return None

    def help_command(self, contender: Contender) -> list[str]:
        return {
            WHISPER_CLI: [str(self.transcribe), "--help"],
            PLAIN: [sys.executable, str(PLAIN_SCRIPT), "--help"],
            WCT2: [str(self.wct2), "--help"],
        }[contender.family]

    def transcribe_command(self, contender: Contender, files: list[Path], out_dir: Path) -> tuple[list[str], bool]:
        """(argv, whether the transcript comes on stdout) for transcribing `files`; text files land in out_dir."""
        inputs = [str(f) for f in files]
        if contender.family == WHISPER_CLI:
            # Its defaults pick the device and use every usable core; it is told only what differs from them.
            device = ["--device", "cpu"] if self.device == "cpu" and self.cuda_devices else []
            if self.threads != len(os.sched_getaffinity(0)):
                device += ["--cpu-threads", str(self.threads)]
            if len(files) == 1:
                return [str(self.transcribe), *inputs, *device, *contender.extra], True  # stdout: its default
            return [str(self.transcribe), *inputs, "-o", str(out_dir), *device, *contender.extra], False
        if contender.family == PLAIN:
            return [
                sys.executable, str(PLAIN_SCRIPT), "--model-dir", str(self.model_dir), "-o", str(out_dir),
                "--device", self.device, "--compute-type", self.compute_type, "--threads", str(self.threads),
                *contender.extra, *inputs,
            ], False
        return [
            str(self.wct2), "--model_directory", str(self.model_dir), "--device", self.device,
            "--compute_type", self.compute_type, "--threads", str(self.threads), "--output_dir", str(out_dir),
            *contender.extra, *inputs,
        ], False


def whisper_cli_options(transcribe: Path) -> frozenset:
    """The long options `transcribe --help` lists today (other engineers are still adding some)."""
    env = dict(os.environ, COLUMNS="250", NO_COLOR="1")
    done = subprocess.run([str(transcribe), "--help"], capture_output=True, text=True, env=env)
    return frozenset(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", done.stdout))


def ensure_wct2(install: bool, log) -> Optional[str]:
    """Install whisper-ctranslate2 and the pinned engine into its own venv once; None when ready, else why not."""
    exe = WCT2_VENV / "bin" / "whisper-ctranslate2"
    if exe.is_file():
        return None
    if not install:
        return "not installed and --no-install given"
    log(f"installing {pins.REQUIREMENTS.name} into {WCT2_VENV} (once; no torch: whisper-ctranslate2 needs it only for diarization)")
    venv.create(WCT2_VENV, with_pip=True)
    pip = [str(WCT2_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*pip, "-r", str(pins.REQUIREMENTS)], capture_output=True, text=True)
    if done.returncode != 0 or not exe.is_file():
        return f"pip install failed: {done.stderr.strip()[-400:]}"
    return None


def wct2_versions() -> dict:
    """The pinned packages' versions in whisper-ctranslate2's venv; {} when it is not installed."""
    return pins.installed_in(WCT2_PYTHON, list(pins.pinned())) if WCT2_PYTHON.is_file() else {}

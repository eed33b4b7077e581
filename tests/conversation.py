"""Conversations made here with espeak-ng and sox: each turn one voice, pauses between, exact ground truth.

Shared by tests/test_diarize.py and benchmarks/diarize.py.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

TOOLS = ("espeak-ng", "sox", "soxi", "ffmpeg")
MALE, FEMALE = "en-us+m3", "en-us+f3"
PAUSE_S = 0.8  # silence after each turn


@dataclass(frozen=True)
class SpokenTurn:
    voice: str
    text: str
    start: float = 0.0  # seconds in the conversation, filled in by build()
    end: float = 0.0


def tools_missing() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def build(turns: Sequence[tuple], path: Path, pause_s: float = PAUSE_S, speed_wpm: int = 160) -> list[SpokenTurn]:
    """Speak each (voice, text) turn, join them with `pause_s` of silence after each into a 16 kHz mono WAV.

    A voice may carry more espeak-ng options ("en-us+m3 -p 30 -s 150" overrides the speed), and a turn may
    carry its own pause as a third item."""
    work = path.parent / f"{path.stem}-turns"
    work.mkdir(parents=True, exist_ok=True)
    parts, spoken, clock = [], [], 0.0
    for index, (voice, text, *pause) in enumerate(turns):
        raw, part = work / f"{index:03d}-raw.wav", work / f"{index:03d}.wav"
        pause_after = pause[0] if pause else pause_s
        name, *options = voice.split()
        _run("espeak-ng", "-v", name, "-s", str(speed_wpm), *options, "-w", str(raw), text)
        _run("sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(part), "pad", "0", str(pause_after))
        length = float(_run("soxi", "-D", str(part)))
        spoken.append(SpokenTurn(voice, text, clock, clock + length - pause_after))
        parts.append(str(part))
        clock += length
    _run("sox", *parts, str(path))
    return spoken


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def splice(pieces: Sequence[tuple[str, Path, float, float]], path: Path, pause_s: float = PAUSE_S) -> list[SpokenTurn]:
    """Cut each (speaker, recording, start s, end s) piece with ffmpeg, join them with `pause_s` of silence after
    each into a 16 kHz mono WAV; a turn spans its whole piece (a recording's own pauses included)."""
    work = path.parent / f"{path.stem}-pieces"
    work.mkdir(parents=True, exist_ok=True)
    parts, spoken, clock = [], [], 0.0
    for index, (speaker, source, start, end) in enumerate(pieces):
        raw, part = work / f"{index:03d}-raw.wav", work / f"{index:03d}.wav"
        _run("ffmpeg", "-v", "error", "-y", "-ss", str(start), "-to", str(end), "-i", str(source), "-ac", "1", "-ar", "16000", str(raw))
        _run("sox", str(raw), "-b", "16", str(part), "pad", "0", str(pause_s))
        length = float(_run("soxi", "-D", str(part)))
        spoken.append(SpokenTurn(speaker, source.name, clock, clock + length - pause_s))
        parts.append(str(part))
        clock += length
    _run("sox", *parts, str(path))
    return spoken

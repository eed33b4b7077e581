"""Live-mode latency, accuracy, lag and memory (issue 14): recordings fed through a pipe at real-time rate.

For each recording and model, a pacer thread writes raw s16le audio into `transcribe --live - -f jsonl` at
the real-time rate; the reading side stamps each final segment's arrival. Latency of a segment = arrival -
(stream start + the segment's end). RSS is polled from /proc. A silence-and-noise stream counts words out.

    .venv/bin/python benchmarks/live.py --quick                 # jfk.flac and 30 s of noise, tiny.en
    .venv/bin/python benchmarks/live.py --models base,tiny.en   # the recordings named by --inputs

Prints a markdown table and writes results/live-<UTC time>.json. Run it on a quiet machine: latency is wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from normalize import normalize  # noqa: E402
from whisper_cli.audio import SAMPLE_RATE, load_audio  # noqa: E402

TRANSCRIBE = Path(sys.executable).parent / "transcribe"
CHUNK_S = 0.1  # the pacer writes this much audio at a time


def pace(process: subprocess.Popen, samples: np.ndarray, started: threading.Event, clock: list[float]) -> None:
    """Write the samples at real-time rate, then close stdin (EOF)."""
    data = (np.clip(samples, -1, 1 - 1 / 32768) * 32768).astype("<i2").tobytes()
    step = int(CHUNK_S * SAMPLE_RATE) * 2
    clock.append(time.monotonic())
    started.set()
    try:
        for index, offset in enumerate(range(0, len(data), step)):
            delay = clock[0] + index * CHUNK_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            process.stdin.write(data[offset : offset + step])
            process.stdin.flush()
        process.stdin.close()
    except BrokenPipeError:
        pass


def rss_mib(pid: int):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def run_stream(samples: np.ndarray, model: str, threads: int) -> dict:
    command = [str(TRANSCRIBE), "--live", "-", "--input-format", "s16le", "-f", "jsonl", "-m", model, "--cpu-threads", str(threads), "-q"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    started, clock = threading.Event(), []
    pacer = threading.Thread(target=pace, args=(process, samples, started, clock), daemon=True)
    pacer.start()
    started.wait()
    rss: list[tuple[float, float]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            value = rss_mib(process.pid)
            if value is not None:
                rss.append((time.monotonic() - clock[0], value))
            stop.wait(1.0)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    finals = []
    for line in process.stdout:
        arrival = time.monotonic() - clock[0]
        record = json.loads(line)
        finals.append({"end": record["end"], "text": record["text"], "arrival_s": arrival, "latency_s": arrival - record["end"]})
    process.wait()
    stop.set()
    return {"exit": process.returncode, "finals": finals, "rss_mib": rss, "audio_s": len(samples) / SAMPLE_RATE}


def offline_text(path: str, model: str, threads: int) -> str:
    done = subprocess.run([str(TRANSCRIBE), path, "-m", model, "--cpu-threads", str(threads), "-q"], capture_output=True, text=True, check=True)
    return done.stdout


def summarise(name: str, model: str, run: dict, reference: str | None, offline: str | None) -> dict:
    latencies = [final["latency_s"] for final in run["finals"]]
    text = " ".join(final["text"] for final in run["finals"])
    after_first_minute = [value for at, value in run["rss_mib"] if at >= 60] or [value for _, value in run["rss_mib"]]
    return {
        "input": name,
        "model": model,
        "exit": run["exit"],
        "finals": len(run["finals"]),
        "words": len(text.split()),
        "median_latency_s": statistics.median(latencies) if latencies else None,
        "p95_latency_s": sorted(latencies)[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "max_latency_s": max(latencies) if latencies else None,
        "wer_reference": jiwer.wer(normalize(reference), normalize(text) or "-") if reference else None,
        "wer_offline": jiwer.wer(normalize(offline), normalize(text) or "-") if offline and offline.strip() else None,
        "peak_rss_mib": max((value for _, value in run["rss_mib"]), default=None),
        "rss_growth_after_1min_mib": (max(after_first_minute) - after_first_minute[0]) if after_first_minute else None,
        "raw": run,
    }


def table(rows: list[dict]) -> str:
    head = "| input | model | finals | words | median latency | p95 latency | WER ref | WER vs offline | peak RSS | RSS growth |"
    lines = [head, "|" + "---|" * 10]
    fmt = lambda value, spec: "-" if value is None else format(value, spec)  # noqa: E731
    for row in rows:
        lines.append(
            f"| {row['input']} | {row['model']} | {row['finals']} | {row['words']} | {fmt(row['median_latency_s'], '.2f')} s "
            f"| {fmt(row['p95_latency_s'], '.2f')} s | {fmt(row['wer_reference'], '.1%')} | {fmt(row['wer_offline'], '.1%')} "
            f"| {fmt(row['peak_rss_mib'], '.0f')} MiB | {fmt(row['rss_growth_after_1min_mib'], '.0f')} MiB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="jfk.flac and 30 s of noise with tiny.en")
    parser.add_argument("--models", default="base,tiny.en")
    parser.add_argument("--inputs", default=str(ROOT.parent / "shared" / "samples" / "jfk.flac"), help="comma-separated recordings")
    parser.add_argument("--noise-s", type=float, default=600.0, help="seconds of silence and noise to stream")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    models = ["tiny.en"] if args.quick else args.models.split(",")
    noise_s = 30.0 if args.quick else args.noise_s
    jfk_reference = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
    rows = []
    rng = np.random.default_rng(14)
    noise = np.concatenate([np.zeros(int(noise_s / 2 * SAMPLE_RATE)), rng.normal(0, 0.01, int(noise_s / 2 * SAMPLE_RATE))]).astype(np.float32)
    for model in models:
        for path in args.inputs.split(","):
            reference = jfk_reference if path.endswith("jfk.flac") else None
            run = run_stream(load_audio(path), model, args.threads)
            rows.append(summarise(Path(path).name, model, run, reference, offline_text(path, model, args.threads)))
        rows.append(summarise(f"silence+noise {noise_s:.0f} s", model, run_stream(noise, model, args.threads), None, None))
    print(table(rows))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out / f"live-{stamp}.json").write_text(json.dumps({"rows": rows, "threads": args.threads}, indent=2))


if __name__ == "__main__":
    main()

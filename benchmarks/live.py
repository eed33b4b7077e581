"""Live-mode latency, accuracy, lag and memory (issue 14): recordings fed through a pipe at real-time rate.

For each recording and model, a pacer thread writes raw s16le audio into `transcribe --live - -f jsonl` at
the real-time rate (or --rate times it); the reading side stamps each final segment's arrival. Latency of a
segment = arrival - (stream start + the segment's end / rate). RSS is polled from /proc every second, the load
average every 10 s. Each recording is led by --lead-s of silence, during which the model loads, so the latency
is that of a stream already running. A silence-and-noise stream counts words out.

    .venv/bin/python benchmarks/live.py --quick                      # jfk.flac and 30 s of noise, tiny.en
    .venv/bin/python benchmarks/live.py --models base,tiny.en --long-s 300 --noise-s 0   # a 5-minute espeak recording
    .venv/bin/python benchmarks/live.py --models base,tiny.en --inputs none --noise-s 600  # noise only
    .venv/bin/python benchmarks/live.py --models base,tiny.en --noise-models tiny.en      # both on speech, tiny.en on noise
    .venv/bin/python benchmarks/live.py --models base --loop-s 900 --rate 1.5 --inputs jfk   # memory over a looped stream

The default recording is workloads.long_recording (paragraphs of texts/long_en.txt read by espeak-ng with several
voices, joined by 0.4-1.5 s pauses) cut at --long-s. Prints a markdown table and writes
results/live-<UTC time>[-label].json. Latency is wall time: the load average is recorded beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
SHARED = ROOT.parent / "shared" / "samples"
JFK_REFERENCE = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def pace(process: subprocess.Popen, data: bytes, rate: float, clock: list[float], started: threading.Event) -> None:
    """Write s16le bytes at `rate` times real time, then close stdin (EOF)."""
    step = int(CHUNK_S * SAMPLE_RATE) * 2
    clock.append(time.monotonic())
    started.set()
    try:
        for index, offset in enumerate(range(0, len(data), step)):
            delay = clock[0] + index * CHUNK_S / rate - time.monotonic()
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


def watch(pid: int, clock: list[float], stop: threading.Event, rss: list, load: list) -> None:
    """RSS every second, the 1-minute load average every 10 s, until `stop`."""
    tick = 0
    while not stop.is_set():
        value = rss_mib(pid)
        if value is not None:
            rss.append((round(time.monotonic() - clock[0], 1), round(value, 1)))
        if tick % 10 == 0:
            load.append((round(time.monotonic() - clock[0], 1), os.getloadavg()[0]))
        tick += 1
        stop.wait(1.0)


def run_stream(samples: np.ndarray, model: str, threads: int, rate: float = 1.0) -> dict:
    command = [str(TRANSCRIBE), "--live", "-", "--input-format", "s16le", "-f", "jsonl", "-m", model, "--cpu-threads", str(threads)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    data = (np.clip(samples, -1, 1 - 1 / 32768) * 32768).astype("<i2").tobytes()
    started, clock, stop, rss, load = threading.Event(), [], threading.Event(), [], []
    threading.Thread(target=pace, args=(process, data, rate, clock, started), daemon=True).start()
    started.wait()
    threading.Thread(target=watch, args=(process.pid, clock, stop, rss, load), daemon=True).start()
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(line.decode() for line in process.stderr), daemon=True)
    reader.start()
    finals = []
    for line in process.stdout:
        arrival = time.monotonic() - clock[0]
        record = json.loads(line)
        finals.append({
            "start": record["start"], "end": record["end"], "text": record["text"],
            "arrival_s": round(arrival, 3), "latency_s": round(arrival - record["end"] / rate, 3),
        })
    process.wait()
    reader.join(10)
    stop.set()
    return {
        "exit": process.returncode, "finals": finals, "rss_mib": rss, "loadavg_1min": load,
        "audio_s": len(samples) / SAMPLE_RATE, "rate": rate, "wall_s": round(time.monotonic() - clock[0], 1),
        "stderr": [line.rstrip() for line in stderr][-20:],
    }


def offline_text(path: str, model: str, threads: int) -> str:
    done = subprocess.run(
        [str(TRANSCRIBE), path, "-m", model, "--cpu-threads", str(threads), "-q"], capture_output=True, text=True, check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return done.stdout


def per_minute(values: list[tuple[float, float]], audio_s: float) -> list[float]:
    """The largest value in each minute of the stream (by when it happened)."""
    minutes = [[] for _ in range(int(audio_s // 60) + 1)]
    for at, value in values:
        minutes[min(int(at // 60), len(minutes) - 1)].append(value)
    return [round(max(minute), 2) if minute else None for minute in minutes]


def summarise(name: str, model: str, run: dict, reference: str | None, offline: str | None) -> dict:
    latencies = sorted(final["latency_s"] for final in run["finals"])
    text = " ".join(final["text"] for final in run["finals"])
    rss = run["rss_mib"]
    after_first_minute = next((value for at, value in rss if at >= 60), None)
    peak_later = max((value for at, value in rss if at >= 60), default=None)  # the model's load peaks earlier
    wer = lambda truth: jiwer.wer(normalize(truth), normalize(text) or "-") if truth and truth.strip() else None  # noqa: E731
    return {
        "input": name,
        "model": model,
        "exit": run["exit"],
        "audio_s": round(run["audio_s"], 1),
        "rate": run["rate"],
        "finals": len(run["finals"]),
        "words": len(text.split()),
        "median_latency_s": statistics.median(latencies) if latencies else None,
        "p95_latency_s": latencies[round(0.95 * (len(latencies) - 1))] if latencies else None,
        "max_latency_s": latencies[-1] if latencies else None,
        # What the reading side can see of the lag: the worst final latency in each minute of the stream.
        "lag_per_minute_s": per_minute([(f["arrival_s"], f["latency_s"]) for f in run["finals"]], run["wall_s"]),
        "wer_reference": wer(reference),
        "wer_offline": wer(offline),
        "peak_rss_mib": max((value for _, value in rss), default=None),
        "rss_after_1min_mib": after_first_minute,
        "rss_growth_after_1min_mib": round(peak_later - after_first_minute, 1) if after_first_minute else None,
        "rss_per_minute_mib": per_minute(rss, run["wall_s"]),
        "loadavg_1min": [load for _, load in run["loadavg_1min"]],
        "offline_text": offline,
        "raw": run,
    }


def table(rows: list[dict]) -> str:
    head = ("| input | model | finals | words | median latency | p95 latency | max lag | WER ref | WER vs offline "
            "| offline WER ref | peak RSS | RSS growth after 1 min | load avg |")
    lines = [head, "|" + "---|" * 13]
    fmt = lambda value, spec: "-" if value is None else format(value, spec)  # noqa: E731
    for row in rows:
        loads = row["loadavg_1min"] or [0.0]
        lines.append(
            f"| {row['input']} | {row['model']} | {row['finals']} | {row['words']} | {fmt(row['median_latency_s'], '.2f')} s "
            f"| {fmt(row['p95_latency_s'], '.2f')} s | {fmt(row['max_latency_s'], '.1f')} s | {fmt(row['wer_reference'], '.1%')} "
            f"| {fmt(row['wer_offline'], '.1%')} | {fmt(row.get('offline_wer_reference'), '.1%')} "
            f"| {fmt(row['peak_rss_mib'], '.0f')} MiB | {fmt(row['rss_growth_after_1min_mib'], '.0f')} MiB "
            f"| {min(loads):.1f}-{max(loads):.1f} |"
        )
    return "\n".join(lines)


def recordings(args) -> list[tuple[str, str, str | None]]:
    """(name, path, reference) of each recording to stream."""
    if args.inputs == "none":
        return []
    if args.inputs == "jfk" or args.quick:
        return [("jfk.flac", str(SHARED / "jfk.flac"), JFK_REFERENCE)]
    if args.inputs:
        return [(Path(path).name, path, None) for path in args.inputs.split(",")]
    from workloads import long_recording

    clip = long_recording(quick=False, long_s=args.long_s).clips[0]
    return [(f"espeak {clip.duration_s / 60:.1f} min, pauses", str(clip.path), clip.reference)]


def merge(paths: list[str], label: str) -> None:
    """Several results files (runs made side by side) -> one, each row summarised again from its raw run."""
    records = [json.loads(Path(path).read_text()) for path in paths]
    rows = []
    for record in records:
        for row in record["rows"]:
            again = summarise(row["input"], row["model"], row["raw"], row.get("reference"), row["offline_text"])
            again["offline_wer_reference"] = row.get("offline_wer_reference")
            if "reference" not in row:  # written before rows kept their reference: its WER is as it was
                again["wer_reference"] = row["wer_reference"]
            again["command"] = record["command"]
            rows.append(again)
    print(table(rows))
    merged = {**records[0], "command": [record["command"] for record in records], "merged_from": [Path(p).name for p in paths], "rows": rows}
    (Path(paths[0]).parent / f"live-{records[0]['started']}-{label or 'merged'}.json").write_text(json.dumps(merged, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="jfk.flac and 30 s of noise with tiny.en")
    parser.add_argument("--models", default="base,tiny.en")
    parser.add_argument("--inputs", default="", help="comma-separated recordings, 'jfk', or 'none' (default: the espeak recording)")
    parser.add_argument("--long-s", type=float, default=300.0, help="length of the espeak recording")
    parser.add_argument("--noise-s", type=float, default=600.0, help="seconds of silence and noise to stream (0: none)")
    parser.add_argument("--loop-s", type=float, default=0.0, help="loop each recording to this many seconds (a memory run; no offline WER)")
    parser.add_argument("--rate", type=float, default=1.0, help="feed at this many times real time (memory runs only)")
    parser.add_argument("--noise-models", default="", help="models for the silence-and-noise stream (default: --models)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lead-s", type=float, default=20.0, help="silence before each recording, while the model loads")
    parser.add_argument("--label", default="")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="summarise the raw runs of earlier results again, into one file")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.label)
    models = ["tiny.en"] if args.quick else args.models.split(",")
    noise_s = 30.0 if args.quick else args.noise_s
    rows, started = [], time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    rng = np.random.default_rng(14)
    half = int(noise_s / 2 * SAMPLE_RATE)
    noise = np.concatenate([np.zeros(half), rng.normal(0, 0.01, half)]).astype(np.float32)
    for model in models:
        for name, path, reference in recordings(args):
            samples = load_audio(path)
            offline = None if args.loop_s else offline_text(path, model, args.threads)
            if args.loop_s:
                samples = np.tile(samples, int(np.ceil(args.loop_s * SAMPLE_RATE / len(samples))))[: int(args.loop_s * SAMPLE_RATE)]
                name, reference = f"{name} looped to {args.loop_s / 60:.0f} min at {args.rate:g}x", None
            # The model loads while the lead-in plays: latency is that of a stream already running.
            samples = np.concatenate([np.zeros(int(args.lead_s * SAMPLE_RATE), dtype=np.float32), samples])
            run = run_stream(samples, model, args.threads, args.rate)
            row = summarise(name, model, run, reference, offline)
            row["reference"] = reference
            row["offline_wer_reference"] = jiwer.wer(normalize(reference), normalize(offline)) if reference and offline else None
            rows.append(row)
            print(table(rows[-1:]), flush=True)
            save(args, started, rows)  # after each row: a run stopped later keeps the rows done
        if noise_s and model in (args.noise_models.split(",") if args.noise_models else models):
            rows.append(summarise(f"silence+noise {noise_s:.0f} s", model, run_stream(noise, model, args.threads), None, None))
            print(table(rows[-1:]), flush=True)
            save(args, started, rows)
    print(table(rows))
    save(args, started, rows)


def save(args, started: str, rows: list[dict]) -> None:
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {
        "command": " ".join([".venv/bin/python", "benchmarks/live.py", *sys.argv[1:]]),
        "started": started, "commit": commit, "threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "rows": rows,
    }
    label = f"-{args.label}" if args.label else ""
    (out / f"live-{started}{label}.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()

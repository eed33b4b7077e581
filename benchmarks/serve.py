"""`whisper-cli serve` under 1, 4 and 8 concurrent clients posting the clip folder, against batch mode on the
same clips and against the same server with one worker (what a one-at-a-time server does).

    .venv/bin/python benchmarks/serve.py                       # base, clients 1,4,8, the full clip folder
    .venv/bin/python benchmarks/serve.py --quick --clients 1,4 # a smoke run on the first clips

Prints a markdown table (requests per second, p50/p95 latency, WER) and writes JSON to benchmarks/results/.
The server does not pack concurrent short uploads into shared windows yet, so no row compares packing.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a script from anywhere: the sibling modules import by name

import workloads as wl  # noqa: E402
from normalize import normalize  # noqa: E402

RESULTS = HERE / "results"
ENTRY = "from whisper_cli.launch import whisper_cli_main; whisper_cli_main()"
TIMEOUT_S = 3600


def main() -> None:
    args = _parse_args()
    clips = list(wl.clip_folder(args.quick, args.samples).clips)[: args.limit or None]
    clients = [int(n) for n in args.clients.split(",")]
    rows = [_batch_row(args, clips)]
    for label, flags in (("serve", []), ("serve --workers 1", ["--workers", "1"])):
        server = _start(args.model, flags)
        try:
            _post(server["url"], clips[0].path)  # loads the model, outside the timings
            for count in clients:
                rows.append(_serve_row(label, server["url"], clips, count))
                _log(f"{label}, {count} clients: {rows[-1]['requests_per_s']:.2f} req/s")
        finally:
            server["proc"].terminate()
            server["proc"].wait(timeout=TIMEOUT_S)
    print(_table(rows))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"serve-{stamp}.json"
    out.write_text(json.dumps({"model": args.model, "clips": len(clips), "rows": rows}, indent=2) + "\n")
    _log(f"wrote {out}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--clients", default="1,4,8", help="concurrent clients, comma-separated")
    parser.add_argument("--quick", action="store_true", help="the first clips of the folder only")
    parser.add_argument("--limit", type=int, default=0, help="at most this many clips (0: all)")
    parser.add_argument("--samples", type=Path, default=wl.DEFAULT_SAMPLES)
    return parser.parse_args()


def _batch_row(args, clips) -> dict:
    out = HERE / "work" / "serve-batch"
    started = time.monotonic()
    command = [sys.executable, "-m", "whisper_cli", *[str(c.path) for c in clips], "--model", args.model, "-o", str(out), "-q", "--overwrite"]
    subprocess.run(command, check=True, timeout=TIMEOUT_S)
    wall = time.monotonic() - started
    texts = {c.stem: (out / f"{c.stem}.txt").read_text(encoding="utf-8") for c in clips}
    return {"mode": "batch (transcribe)", "clients": None, "requests_per_s": len(clips) / wall, "wall_s": wall,
            "p50_s": None, "p95_s": None, "wer_pct": _wer(clips, texts)}


def _start(model: str, flags: list[str]) -> dict:
    command = [sys.executable, "-c", ENTRY, "serve", "--model", model, "--port", "0", "--log-format", "jsonl", *flags]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "listening":
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # keep the pipe drained
            return {"proc": proc, "url": event["url"]}
    raise RuntimeError(f"server exited {proc.wait()} before listening")


def _post(url: str, path: Path) -> str:
    import httpx

    with path.open("rb") as audio:
        response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": audio}, data={"response_format": "text"}, timeout=TIMEOUT_S)
    response.raise_for_status()
    return response.text


def _serve_row(label: str, url: str, clips, count: int) -> dict:
    todo: queue.Queue = queue.Queue()
    for clip in clips:
        todo.put(clip)
    latencies: list[float] = []
    texts: dict[str, str] = {}

    def client() -> None:
        while True:
            try:
                clip = todo.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            texts[clip.stem] = _post(url, clip.path)
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    return {"mode": label, "clients": count, "requests_per_s": len(clips) / wall, "wall_s": wall,
            "p50_s": statistics.median(ordered), "p95_s": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "wer_pct": _wer(clips, texts)}


def _wer(clips, texts: dict[str, str]) -> float:
    import jiwer

    refs = [normalize(c.reference, c.language) for c in clips]
    hyps = [normalize(texts.get(c.stem, ""), c.language) for c in clips]
    return 100 * jiwer.wer(refs, hyps)


def _table(rows: list[dict]) -> str:
    lines = ["| mode | clients | requests/s | p50 s | p95 s | WER % |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = [row["mode"], row["clients"] or "", f"{row['requests_per_s']:.2f}",
                 _maybe(row["p50_s"]), _maybe(row["p95_s"]), f"{row['wer_pct']:.1f}"]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _maybe(value) -> str:
    return "" if value is None else f"{value:.2f}"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()

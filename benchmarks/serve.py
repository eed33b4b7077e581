"""`whisper-cli serve` under 1, 4 and 8 concurrent clients posting the clip folder, against batch mode on the
same clips and against the same server with one worker and no packing (what a one-at-a-time server does).

    .venv/bin/python benchmarks/serve.py                       # base, clients 1,4,8, the full clip folder
    .venv/bin/python benchmarks/serve.py --quick --clients 1,4 # a smoke run on the first clips
    .venv/bin/python benchmarks/serve.py --serve-flags '' --serve-flags '--workers 2 --cpu-threads 1'  # two packed servers

Prints a markdown table (requests per second, p50/p95 latency, WER, the windows the packed requests took,
the machine's load average during the row, the server's CPU seconds over the row: unlike wall time, little
changed by other jobs) and the issue's targets, and writes JSON to benchmarks/results/.
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
SERVE = "serve"
ONE_AT_A_TIME = "serve --workers 1 --no-pack"
ENTRY = "from whisper_cli.launch import whisper_cli_main; whisper_cli_main()"
TIMEOUT_S = 3600


def main() -> None:
    args = _parse_args()
    clips = list(wl.clip_folder(args.quick, args.samples).clips)[: args.limit or None]
    clients = [int(n) for n in args.clients.split(",")]
    rows = [_loaded(lambda: _batch_row(args, clips))]
    _log(f"batch: {rows[-1]['requests_per_s']:.2f} files/s")
    packed = [(_label(flags), flags.split()) for flags in args.serve_flags or [""]]
    for label, flags in (*packed, (ONE_AT_A_TIME, ["--workers", "1", "--no-pack"])):
        server = _start(args.model, flags)
        try:
            _post(server["url"], clips[0].path)  # loads the model, outside the timings
            for count in clients:
                seen = len(server["events"])
                cpu_before = _cpu_s(server["proc"].pid)
                rows.append(_loaded(lambda: _serve_row(label, server["url"], clips, count)))
                rows[-1]["server_cpu_s"] = round(_cpu_s(server["proc"].pid) - cpu_before, 2)
                time.sleep(0.5)  # the last access lines
                rows[-1]["profile"] = _profile(server["events"][seen:])
                rows[-1]["workers_x_threads"] = f"{server['workers']}x{server['threads']}"
                _log(f"{label}, {count} clients: {rows[-1]['requests_per_s']:.2f} req/s")
        finally:
            server["proc"].terminate()
            server["proc"].wait(timeout=TIMEOUT_S)
    targets = [line for label, _ in packed for line in _targets(rows, max(clients), label)]
    print(_table(rows))
    print("\n".join(targets))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"serve-{stamp}.json"
    (out.with_suffix(".md")).write_text(f"`{' '.join(sys.argv)}`\n\n{_table(rows)}\n\n" + "\n".join(targets) + "\n")
    record = {"command": sys.argv, "model": args.model, "clips": len(clips), "cores": len(os.sched_getaffinity(0)), "rows": rows, "targets": targets}
    out.write_text(json.dumps(record, indent=2) + "\n")
    _log(f"wrote {out}")


def _loaded(measure) -> dict:
    """The row `measure` returns, with the machine's 1-minute load average before and after it."""
    before = os.getloadavg()[0]
    row = measure()
    row["load_before"], row["load_after"] = round(before, 2), round(os.getloadavg()[0], 2)
    return row


def _label(flags: str) -> str:
    return f"{SERVE} {flags.strip()}".strip()


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _targets(rows: list[dict], clients: int, label: str = SERVE) -> list[str]:
    """The issue's targets at the most clients: 2x the one-at-a-time server, 0.8x batch mode, the same WER."""
    def at(mode):
        return next((r for r in rows if r["mode"] == mode and r["clients"] == clients), None)

    served, single, batch = at(label), at(ONE_AT_A_TIME), rows[0]
    if served is None or single is None:
        return []
    return [
        f"`{label}`, {clients} clients: {served['requests_per_s'] / single['requests_per_s']:.2f}x the one-at-a-time server (target 2x)",
        f"`{label}`, {clients} clients: {served['requests_per_s'] / batch['requests_per_s']:.2f}x batch mode's files/s (target 0.8x)",
        f"`{label}`: WER {served['wer_pct']:.1f}% served, {batch['wer_pct']:.1f}% batch, {single['wer_pct']:.1f}% one at a time",
    ]


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--clients", default="1,4,8", help="concurrent clients, comma-separated")
    parser.add_argument("--quick", action="store_true", help="the first clips of the folder only")
    parser.add_argument("--limit", type=int, default=0, help="at most this many clips (0: all)")
    parser.add_argument("--samples", type=Path, default=wl.DEFAULT_SAMPLES)
    parser.add_argument("--serve-flags", action="append", help="flags for a packed server, e.g. '--workers 2 --cpu-threads 1'; "
                        "repeat it to measure several (default: one, with no flags)")
    return parser.parse_args()


def _batch_row(args, clips) -> dict:
    out = HERE / "work" / "serve-batch"
    started = time.monotonic()
    command = [sys.executable, "-m", "whisper_cli", *[str(c.path) for c in clips], "--model", args.model, "-o", str(out), "-q", "--overwrite"]
    subprocess.run(command, check=True, timeout=TIMEOUT_S)
    wall = time.monotonic() - started
    texts = {c.stem: (out / f"{c.stem}.txt").read_text(encoding="utf-8") for c in clips}
    cpu = os.times()
    return {"mode": "batch (transcribe)", "clients": None, "requests_per_s": len(clips) / wall, "wall_s": wall,
            "server_cpu_s": round(cpu.children_user + cpu.children_system, 2),
            "p50_s": None, "p95_s": None, "wer_pct": _wer(clips, texts), "texts": texts}


def _start(model: str, flags: list[str]) -> dict:
    command = [sys.executable, "-c", ENTRY, "serve", "--model", model, "--port", "0", "--log-format", "jsonl", *flags]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "listening":
            server = {"proc": proc, "url": event["url"], "events": [], "workers": event["workers"], "threads": event["threads"]}
            threading.Thread(target=_collect, args=(proc, server["events"]), daemon=True).start()  # keeps the pipe drained
            return server
    raise RuntimeError(f"server exited {proc.wait()} before listening")


def _collect(proc, events: list) -> None:
    """The server's JSONL events: its `packed` groups say how full the windows were and where the time went."""
    for line in proc.stderr:
        if line.startswith("{"):
            events.append(json.loads(line))


def _profile(events: list[dict]) -> dict:
    """Per packed group: requests and windows, seconds gathering + queued, seconds reading; per request: seconds."""
    groups = [e for e in events if e.get("event") == "packed"]
    requests = [e for e in events if e.get("event") == "request" and e.get("path", "").startswith("/v1/audio")]
    if not groups:
        return {"requests_s_mean": _mean([r.get("wall_s") for r in requests]),
                "upload_s_mean": _mean([r.get("upload_s") for r in requests])}
    return {
        "groups": len(groups),
        "requests_per_group": _mean([g["requests"] for g in groups]),
        "requests_per_window": sum(g["requests"] for g in groups) / max(1, sum(g["windows"] for g in groups)),
        "alone": sum(g.get("alone", 0) for g in groups),
        "group_waited_s_mean": _mean([g.get("waited_s") for g in groups]),
        "group_decode_s_mean": _mean([g.get("decode_s") for g in groups]),
        "group_decode_s_total": round(sum(g.get("decode_s", 0) for g in groups), 2),
        "requests_s_mean": _mean([r.get("wall_s") for r in requests]),
        "upload_s_mean": _mean([r.get("upload_s") for r in requests]),
        "decode_audio_s_mean": _mean([r.get("decode_audio_s") for r in requests]),
    }


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.mean(values), 3) if values else None


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

    packed_before = _packed(url)
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    packed_after = _packed(url)
    return {"mode": label, "clients": count, "requests_per_s": len(clips) / wall, "wall_s": wall,
            "p50_s": statistics.median(ordered), "p95_s": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "wer_pct": _wer(clips, texts), "texts": texts,
            "packed_requests": packed_after["requests"] - packed_before["requests"],
            "packed_windows": packed_after["windows"] - packed_before["windows"]}


def _packed(url: str) -> dict:
    """The server's count of requests read through the packer and the windows they took (0s with --no-pack)."""
    import httpx

    return httpx.get(f"{url}/health", timeout=60).json().get("packed", {"requests": 0, "windows": 0})


def _wer(clips, texts: dict[str, str]) -> float:
    import jiwer

    refs = [normalize(c.reference, c.language) for c in clips]
    hyps = [normalize(texts.get(c.stem, ""), c.language) for c in clips]
    return 100 * jiwer.wer(refs, hyps)


def _table(rows: list[dict]) -> str:
    lines = ["| mode | clients | requests/s | p50 s | p95 s | WER % | packed: requests / windows | CPU s | load before / after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        packed = f"{row['packed_requests']} / {row['packed_windows']}" if row.get("packed_requests") else ""
        cells = [row["mode"], row["clients"] or "", f"{row['requests_per_s']:.2f}",
                 _maybe(row["p50_s"]), _maybe(row["p95_s"]), f"{row['wer_pct']:.1f}", packed, _maybe(row.get("server_cpu_s"), ".1f"),
                 f"{row['load_before']:.1f} / {row['load_after']:.1f}"]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _maybe(value, spec: str = ".2f") -> str:
    return "" if value is None else format(value, spec)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()

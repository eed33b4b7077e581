"""Measured rows -> the issue's targets (pass/fail) and markdown tables. String in, string out.

Run as a script, it prints the tables of a result file, so a README table can be checked against its JSON:

    .venv/bin/python benchmarks/report.py benchmarks/results/RUN.json --markdown   # README's like-for-like table
    .venv/bin/python benchmarks/report.py benchmarks/results/RUN.json --full       # the whole report run.py printed
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

STARTUP_MAX_S = 0.3  # `transcribe --help`, wall seconds
SHORT_MAX_RATIO = 1.10  # whisper-cli wall / plain wall on the short file
LONG_MIN_SPEEDUP = 2.0  # whisper-cli RTF / whisper-ctranslate2 default RTF on the long recording
CLIPS_MIN_SPEEDUP = 3.0  # whisper-cli files/s / whisper-ctranslate2 default files/s on the clip folder
WER_MAX_EXTRA_POINTS = 0.5  # whisper-cli WER may exceed the plain sequential run's by this many points
RSS_MAX_EXTRA_MB = 150.0  # whisper-cli peak RSS may exceed the like-for-like plain run's by this much

PASS, FAIL, NA = "pass", "FAIL", "-"


def _ok(row: dict) -> bool:
    return row.get("status") == "ok"


def _find(rows: list[dict], workload: str, contender_id: str) -> Optional[dict]:
    for row in rows:
        if row["workload"] == workload and row["id"] == contender_id and _ok(row):
            return row
    return None


def _floor_for(rows: list[dict], row: dict) -> tuple[Optional[dict], bool]:
    """(the plain row with the same settings, True), else (the plain default run of that workload, False)."""
    same = _find(rows, row["workload"], row["floor"]) if row.get("floor") else None
    return (same, True) if same else (_find(rows, row["workload"], "plain"), False)


def judge(rows: list[dict]) -> None:
    """Add checks (speed/wer/rss -> pass, FAIL or -) and the figures behind them to each whisper-cli row."""
    for row in rows:
        if row["family"] != "whisper-cli" or not _ok(row):
            continue
        checks, basis = {}, {}
        workload = row["workload"]
        plain, wct2 = _find(rows, workload, "plain"), _matching_wct2(rows, row)
        if workload == "startup":
            checks["speed"] = _verdict(row["wall_s"] < STARTUP_MAX_S)
            basis["speed"] = f"{row['wall_s']:.3f} s vs < {STARTUP_MAX_S} s"
        elif workload == "short" and plain:
            ratio = row["wall_s"] / plain["wall_s"]
            row["vs_plain_wall"] = ratio
            checks["speed"] = _verdict(ratio <= SHORT_MAX_RATIO)
            basis["speed"] = f"{ratio:.2f}x plain wall vs <= {SHORT_MAX_RATIO}x"
        elif workload in ("long", "clips") and wct2:
            figure, need = ("rtf", LONG_MIN_SPEEDUP) if workload == "long" else ("files_per_s", CLIPS_MIN_SPEEDUP)
            speedup = row[figure] / wct2[figure]
            row["vs_wct2"] = speedup
            checks["speed"] = _verdict(speedup >= need)
            basis["speed"] = f"{speedup:.2f}x {wct2['label']} {figure} vs >= {need}x"
        if workload in ("long", "clips") and plain and row.get("wer") is not None and plain.get("wer") is not None:
            extra = row["wer"] - plain["wer"]
            row["wer_vs_plain"] = extra
            checks["wer"] = _verdict(extra <= WER_MAX_EXTRA_POINTS)
            basis["wer"] = f"{extra:+.2f} points vs plain sequential, <= +{WER_MAX_EXTRA_POINTS}"
        floor, same_settings = _floor_for(rows, row)
        if floor and same_settings and workload != "startup":
            row["vs_same_plain_wall"] = row["wall_s"] / floor["wall_s"]  # the CLI's overhead at equal settings
        if floor and row.get("rss_mb") and floor.get("rss_mb"):
            extra_mb = row["rss_mb"] - floor["rss_mb"]
            row["rss_vs_plain_mb"] = extra_mb
            checks["rss"] = _verdict(extra_mb <= RSS_MAX_EXTRA_MB)
            basis["rss"] = f"{extra_mb:+.0f} MB vs {floor['label']}, <= +{RSS_MAX_EXTRA_MB:.0f}"
        row["checks"], row["check_basis"] = checks, basis


def _matching_wct2(rows: list[dict], row: dict) -> Optional[dict]:
    """whisper-ctranslate2 in the same mode: its batched run for a batched row (when measured), else its default."""
    batched = _find(rows, row["workload"], "wct2-batched") if "--batch-size" in row["extra"] else None
    return batched or _find(rows, row["workload"], "wct2")


def _verdict(passed: bool) -> str:
    return PASS if passed else FAIL


def targets(rows: list[dict]) -> list[dict]:
    """One line per target of the issue, with the row that decides it."""
    out = []
    wcli = [r for r in rows if r["family"] == "whisper-cli" and _ok(r) and r.get("checks")]

    def add(target: str, row: Optional[dict], key: str, note: str = "") -> None:
        if row is None:
            out.append({"target": target, "contender": None, "measured": "not measured", "result": NA, "note": note})
        else:
            out.append({
                "target": target, "contender": row["label"], "measured": row["check_basis"].get(key, ""),
                "result": row["checks"].get(key, NA), "note": note,
            })

    add(f"start-up (`--help`) < {STARTUP_MAX_S} s", _default(wcli, "startup"), "speed")
    add(f"short file within {SHORT_MAX_RATIO - 1:.0%} of plain faster-whisper", _default(wcli, "short"), "speed")
    for workload, name, need in (("long", "long recording", LONG_MIN_SPEEDUP), ("clips", "short-clip folder", CLIPS_MIN_SPEEDUP)):
        candidates = [r for r in wcli if r["workload"] == workload]
        default = _default(wcli, workload)
        best = _best(candidates)
        pairs = [("defaults", default), ("best setting", best)]
        if best is default:
            pairs = [("defaults (also the best setting)", default)]  # one pair of lines says it
        for label, row in pairs:
            add(f"{name}, {label}: >= {need}x whisper-ctranslate2 in the same mode", row, "speed")
            add(f"{name}, {label}: WER <= plain + {WER_MAX_EXTRA_POINTS}", row, "wer")
    worst = max((r for r in wcli if "rss_vs_plain_mb" in r), key=lambda r: r["rss_vs_plain_mb"], default=None)
    add(f"peak RSS <= plain + {RSS_MAX_EXTRA_MB:.0f} MB (worst whisper-cli row, {worst['workload'] if worst else '-'})", worst, "rss")
    return out


def _default(rows: list[dict], workload: str) -> Optional[dict]:
    return next((r for r in rows if r["workload"] == workload and r["role"] == "default"), None)


def _best(rows: list[dict]) -> Optional[dict]:
    """The fastest row whose WER is within the bound; if none is, the fastest row."""
    figure = "rtf" if rows and rows[0]["workload"] == "long" else "files_per_s"
    within = [r for r in rows if r.get("checks", {}).get("wer") == PASS]
    pool = within or rows
    return max(pool, key=lambda r: r.get(figure) or 0.0, default=None)


# --- markdown -----------------------------------------------------------------------------------------------------


def markdown(result: dict) -> str:
    machine, rows = result["machine"], result["rows"]
    parts = [
        f"## Benchmark {result['started']}{' (--quick)' if result['config']['quick'] else ''}",
        "",
        f"Machine: {machine['cpu_model']}{_topology(machine.get('lscpu') or {})}, "
        f"{machine['usable_cores']} usable cores of {machine['logical_cpus']}, "
        f"{machine['memory_gb']:.0f} GB; {machine['platform']}. faster-whisper {machine['packages'].get('faster-whisper')}, "
        f"ctranslate2 {machine['packages'].get('ctranslate2')}, whisper-ctranslate2 "
        f"{machine.get('wct2_packages', {}).get('whisper-ctranslate2', 'not installed')}. Model: bundled base, "
        f"{result['config']['compute_type']} on {result['config']['device']}, {result['config']['threads']} threads. "
        f"Load average (1 min) at start {machine['load_start']:.2f}, at end {result.get('load_end', float('nan')):.2f}.",
        "",
    ]
    for workload in result["workloads"]:
        parts += [f"### ({workload['letter']}) {workload['title']}", ""]
        if workload.get("note"):
            parts += [workload["note"] + (f"; {workload['audio_s']:.0f} s of audio" if workload["audio_s"] else ""), ""]
        parts += _workload_table([r for r in rows if r["workload"] == workload["key"]]) + [""]
    long_rows = [r for r in rows if r["workload"] == "long" and _ok(r)]
    if long_rows:
        parts += ["### Long recordings: settings by speed (for choosing the default, part 3)", ""]
        parts += _long_table(long_rows) + [""]
    parts += ["### Targets", "", "| target | decided by | measured | result |", "|---|---|---|---|"]
    for t in result["targets"]:
        parts.append(f"| {t['target']} | {t['contender'] or '-'} | {t['measured']} | {t['result']} |")
    return "\n".join(parts) + "\n"


def _topology(lscpu: dict) -> str:
    parts = [f"family {lscpu['CPU family']} model {lscpu['Model']}" if "CPU family" in lscpu and "Model" in lscpu else "",
             f"{lscpu['Thread(s) per core']} thread(s) per core" if "Thread(s) per core" in lscpu else "",
             lscpu.get("Hypervisor vendor", ""), " ".join(lscpu.get("vector_flags", []))]
    parts = [part for part in parts if part]
    return f" ({', '.join(parts)})" if parts else ""


def _workload_table(rows: list[dict]) -> list[str]:
    startup = rows and rows[0]["workload"] == "startup"
    head = ["contender", "wall s", "peak RSS MB"] if startup else ["contender", "wall s", "RTF", "files/s", "peak RSS MB", "WER %"]
    lines = ["| " + " | ".join(head + ["targets"]) + " |", "|" + "---|" * (len(head) + 1)]
    for row in rows:
        if not _ok(row):
            lines.append(f"| {row['label']} | {row['status']} |" + " |" * len(head))
            continue
        cells = [row["label"], _fmt(row["wall_s"], 3 if startup else 1)]
        if not startup:
            cells += [_fmt(row.get("rtf"), 1), _fmt(row.get("files_per_s"), 2)]
        cells.append(_fmt(row.get("rss_mb"), 0))
        if not startup:
            cells.append(_fmt(row.get("wer"), 2))
        checks = row.get("checks") or {}
        cells.append(" ".join(f"{k} {v}" for k, v in checks.items()) or "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _long_table(rows: list[dict]) -> list[str]:
    plain = next((r for r in rows if r["id"] == "plain"), None)
    wct2 = next((r for r in rows if r["id"] == "wct2"), None)
    lines = [
        "| setting | wall s | RTF | x whisper-ctranslate2 default | wall / plain, same setting | WER % | WER vs plain sequential | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: -(r.get("rtf") or 0)):
        speedup = f"{row['rtf'] / wct2['rtf']:.2f}x" if wct2 else "-"
        overhead = f"{row['vs_same_plain_wall']:.2f}" if "vs_same_plain_wall" in row else "-"
        delta = f"{row['wer'] - plain['wer']:+.2f}" if plain and row.get("wer") is not None else "-"
        lines.append(
            f"| {row['label']} | {row['wall_s']:.1f} | {row['rtf']:.1f} | {speedup} | {overhead} | {_fmt(row.get('wer'), 2)} | {delta} | {_fmt(row.get('rss_mb'), 0)} |"
        )
    return lines


def _fmt(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- like against like (the README table) -------------------------------------------------------------------------

PEERS = (("whisper-ctranslate2", "wct2", "wct2-batched"), ("plain", "plain", "plain-bs8-vad"))
# Each whisper-cli mode beside its peers' matching mode: (workload, mode, whisper-cli, whisper-ctranslate2, plain).
# whisper-cli packs a folder of clips by default; the peers have no such mode, so that row is set against each of
# their modes on the same folder.
PAIRINGS = (
    ("startup", "-", "wcli", "wct2", "plain"),
    ("short", "sequential (defaults)", "wcli", "wct2", "plain"),
    ("long", "sequential (defaults)", "wcli", "wct2", "plain"),
    ("long", "batched, 8 VAD regions at a time", "wcli-bs8-vad", "wct2-batched", "plain-bs8-vad"),
    ("clips", "sequential, each clip alone", "wcli-nopack", "wct2", "plain"),
    ("clips", "batched, 8 VAD regions at a time", "wcli-bs8-vad", "wct2-batched", "plain-bs8-vad"),
    ("clips", "packed (whisper-cli's default for a folder)", "wcli", None, None),
)


def like_for_like(result: dict) -> str:
    """The README table: each whisper-cli mode beside the peers' matching mode, all from this one run."""
    rows, workloads = result["rows"], {w["key"]: w for w in result["workloads"]}
    lines = [
        "| workload | mode | whisper-cli | whisper-ctranslate2 | plain faster-whisper | whisper-cli speed-up (their wall / its wall) |",
        "|---|---|---|---|---|---|",
    ]
    for key, mode, wcli_id, wct2_id, plain_id in PAIRINGS:
        if key not in workloads:
            continue
        wcli = _any(rows, key, wcli_id)
        if wcli is None:
            continue
        peers = [_any(rows, key, wct2_id), _any(rows, key, plain_id)] if wct2_id else None
        cells = [_workload_name(workloads[key]), mode, _cell(wcli)]
        cells += [_cell(peer) for peer in peers] if peers else ["no packing", "no packing"]
        cells.append(_speedups(rows, key, wcli, peers))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", _caption(result)]) + "\n"


def _any(rows: list[dict], workload: str, contender_id: Optional[str]) -> Optional[dict]:
    return next((r for r in rows if r["workload"] == workload and r["id"] == contender_id), None)


def _workload_name(workload: dict) -> str:
    clips = workload.get("clips") or []
    if workload["key"] == "startup":
        return f"({workload['letter']}) `--help`"
    if workload["key"] == "short":
        return f"({workload['letter']}) {Path(clips[0]['path']).name}, {clips[0]['duration_s']:.0f} s"
    if workload["key"] == "long":
        return f"({workload['letter']}) {workload['audio_s'] / 60:.1f}-min recording"
    lengths = [c["duration_s"] for c in clips]
    languages = "/".join(sorted({c["language"] for c in clips}))
    return f"({workload['letter']}) {len(clips)} clips, {min(lengths):.1f}-{max(lengths):.1f} s, {languages}"


def _cell(row: Optional[dict]) -> str:
    if row is None:
        return "not run"
    if not _ok(row):
        return row["status"].split(":")[0]
    options = f"`{' '.join(row['extra'])}`: " if row["extra"] else ""
    if row["workload"] == "startup":
        return f"{options}{row['wall_s']:.2f} s, {row['rss_mb']:.0f} MB"
    return f"{options}{row['wall_s']:.1f} s, {row['rss_mb']:.0f} MB, WER {_fmt(row.get('wer'), 2)}"


def _ratio(peer: Optional[dict], wcli: dict) -> Optional[str]:
    if peer is None or not _ok(peer) or not _ok(wcli):
        return None
    return f"{peer['wall_s'] / wcli['wall_s']:.2f}x"


def _speedups(rows: list[dict], key: str, wcli: dict, peers: Optional[list]) -> str:
    """Peer wall / whisper-cli wall: above 1 means whisper-cli is faster."""
    if peers is not None:
        named = [(name, _ratio(peer, wcli)) for (name, _, _), peer in zip(PEERS, peers)]
        return ", ".join(f"{ratio} {name}" for name, ratio in named if ratio) or "-"
    parts = []
    for name, sequential_id, batched_id in PEERS:
        sequential = _ratio(_any(rows, key, sequential_id), wcli)
        batched = _ratio(_any(rows, key, batched_id), wcli)
        found = [f"{r} {what}" for r, what in ((sequential, "sequential"), (batched, "batched")) if r]
        if found:
            parts.append(f"{name}: {', '.join(found)}")
    return "; ".join(parts) or "-"


def _caption(result: dict) -> str:
    machine, config = result["machine"], result["config"]
    lscpu = machine.get("lscpu") or {}
    installed = (machine.get("pins") or {}).get("installed", {})
    wct2 = installed.get("whisper-ctranslate2", {}).get("whisper-ctranslate2") or "not installed"
    load = result.get("load") or {}
    before, after = load.get("before") or [machine["load_start"]], load.get("after") or [result.get("load_end")]
    runs = config["runs"]
    return (
        f"Run `{result['started']}` (`{result.get('command', 'benchmarks/run.py')}`), JSON in "
        f"`benchmarks/results/{result['started']}{'-quick' if config.get('quick') else ''}.json`: {machine['cpu_model']}{_topology(lscpu)}, {machine['usable_cores']} cores, "
        f"{machine['memory_gb']:.0f} GB. faster-whisper {machine['packages'].get('faster-whisper')}, ctranslate2 "
        f"{machine['packages'].get('ctranslate2')}, whisper-ctranslate2 {wct2}, Python {machine['python']}, "
        f"whisper-cli {machine['git']['commit'][:10]}{' (uncommitted changes)' if machine['git'].get('dirty') else ''}. "
        f"Model: bundled base, {config['compute_type']} on {config['device']}, {config['threads']} threads. "
        f"Wall time from spawn to exit, the median of the runs ({runs['startup']} for (a), {runs['short']} for (b), "
        f"{runs['long']} for (c) and (d)); peak RSS the largest, "
        f"{'GNU time' + chr(39) + 's %M' if machine.get('rss_method') == 'gnu-time' else '/proc VmHWM polled'} "
        f"(MB = 10^6 bytes). "
        f"Load average (1 min) {before[0]:.2f} at the start, {after[0]:.2f} at the end."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="print the tables of a benchmark result (JSON written by run.py)")
    parser.add_argument("result", type=Path)
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--markdown", action="store_true", help="the like-for-like table README quotes (default)")
    shape.add_argument("--full", action="store_true", help="the whole report, as run.py printed it")
    args = parser.parse_args()
    result = json.loads(args.result.read_text(encoding="utf-8"))
    sys.stdout.write(markdown(result) if args.full else like_for_like(result))


if __name__ == "__main__":
    main()

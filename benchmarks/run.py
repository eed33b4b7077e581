"""The benchmark suite, one command: every contender on every workload, a markdown table, JSON in results/scratch/.

    .venv/bin/python benchmarks/run.py             # the full suite (about an hour on 2 cores)
    .venv/bin/python benchmarks/run.py --quick     # a smoke run: 12 clips, a 1-minute recording
    .venv/bin/python benchmarks/run.py --workloads b,d --contenders wcli,plain

Each transcription is one child process, timed from spawn to exit; its peak RSS is GNU time's %M for that process
(Debian package `time`; without it, VmHWM polled from /proc): measure.py. It refuses to run when installed versions
differ from requirements.txt (pins.py). See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a script from anywhere: the sibling modules import by name

import contenders as cont  # noqa: E402
import pins  # noqa: E402
import report  # noqa: E402
import workloads as wl  # noqa: E402
from measure import RSS_NOTE, measure, rss_method, summarise  # noqa: E402
from normalize import normalize  # noqa: E402

# Every run's JSON and markdown land in results/scratch/ (ignored by git); a run a README table quotes is copied
# to results/ and committed.
RESULTS = HERE / "results" / "scratch"
RUNS = HERE / "work" / "runs"


def main() -> None:
    args = _parse_args()
    letters = _letters(args.workloads)
    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = RUNS / started

    chosen = cont.select(args.contenders)
    if any(c.family == cont.WCT2 for c in chosen):
        problem = cont.ensure_wct2(not args.no_install, _log)
        if problem:
            _log(f"whisper-ctranslate2: {problem}")
    versions = _check_pins(args.allow_unpinned)
    setup = _setup(args)
    args.rss_method = rss_method()
    if args.rss_method != "gnu-time":
        _log("GNU time not found (Debian package `time`); peak RSS is polled from /proc, which can miss a short peak")
    work = wl.select(letters, args.quick, args.samples, args.long_seconds)
    for workload in work:
        if workload.clips:
            _log(f"({workload.letter}) {workload.title}: {workload.audio_s:.0f} s of audio; {workload.note}")

    load_before = os.getloadavg()
    result = {
        "schema": 2,
        "started": started,
        # Relative to the repository root, as a reader would type it there.
        "command": shlex.join([_from_root(sys.executable), "benchmarks/run.py", *sys.argv[1:]]),
        "config": {
            "quick": args.quick,
            "workloads": letters,
            "contenders": [c.id for c in chosen],
            "device": setup.device,
            "compute_type": setup.compute_type,
            "threads": setup.threads,
            "model_dir": str(setup.model_dir),
            "runs": {"startup": args.startup_runs, "short": args.short_runs, "long": args.runs, "clips": args.runs},
            "run_dir": str(run_dir),
        },
        "machine": _machine(setup, args.rss_method, versions),
        "load": {"before": list(load_before)},
        "workloads": [_describe(w) for w in work],
        "rows": [],
    }
    if not args.no_warmup:
        _warm_up(setup, chosen, work, args, run_dir / "warmup")
    stem = RESULTS / f"{started}{'-quick' if args.quick else ''}"
    partial = stem.with_name(stem.name + ".partial.json")
    for done, workload in enumerate(work, 1):
        result["rows"] += _run_workload(workload, chosen, setup, args, run_dir)
        # After each workload, what is complete so far: a run cut short still leaves whole workloads behind.
        text = _finish(result, complete=done == len(work))
        partial.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    partial.replace(stem.with_suffix(".json"))
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    _log(f"wrote {stem}.json and {stem}.md; outputs and logs of every run in {run_dir}")


def _finish(result: dict, complete: bool) -> str:
    """Load average now, verdicts and targets over the rows measured so far; returns the markdown report."""
    result["complete"] = complete
    result["load"]["after"] = list(os.getloadavg())
    result["load_end"] = result["load"]["after"][0]
    result["finished"] = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report.judge(result["rows"])
    result["targets"] = report.targets(result["rows"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    return report.markdown(result)


def _from_root(path: str) -> str:
    """A path relative to the repository root when it lies inside it (not resolved: .venv/bin/python is a link)."""
    relative = os.path.relpath(os.path.abspath(path), HERE.parent)
    return path if relative.startswith("..") else relative


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="whisper-cli benchmark suite (issue 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer clips, a shorter long recording, fewer repeats")
    parser.add_argument("--workloads", default="a,b,c,d", help="a start-up, b short file, c long recording, d clip folder")
    parser.add_argument("--contenders", default=None, help="ids or families, comma-separated (default: all); see contenders.py")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu: int8; cuda: float16")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="CPU threads (default: every usable core)")
    parser.add_argument("--startup-runs", type=int, default=None, help="--help runs, median reported (default 10; --quick 5)")
    parser.add_argument("--short-runs", type=int, default=None, help="runs on the short file, median (default 3; --quick 1)")
    parser.add_argument("--runs", type=int, default=1, help="runs on the long recording and the clip folder, median")
    parser.add_argument("--long-seconds", type=float, default=None, help="cut the long recording to about this much audio")
    parser.add_argument("--samples", type=Path, default=wl.DEFAULT_SAMPLES, help="folder holding jfk.flac and references.json")
    parser.add_argument("--no-install", action="store_true", help="never pip-install whisper-ctranslate2")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed run that puts the model in the page cache")
    parser.add_argument("--allow-unpinned", action="store_true",
                        help="run even when installed versions differ from benchmarks/requirements.txt (recorded in the JSON)")
    args = parser.parse_args()
    if args.startup_runs is None:
        args.startup_runs = 5 if args.quick else 10
    if args.short_runs is None:
        args.short_runs = 1 if args.quick else 3
    return args


def _letters(spec: str) -> list[str]:
    letters = [x.strip().lower() for x in spec.split(",") if x.strip()]
    bad = [x for x in letters if x not in wl.WORKLOAD_LETTERS]
    if bad:
        raise SystemExit(f"unknown workload(s) {', '.join(bad)}; choose from a, b, c, d")
    return sorted(set(letters))


def _log(message: str) -> None:
    """Progress for the person waiting, on stderr; stdout carries only the markdown report."""
    print(message, file=sys.stderr, flush=True)


def _check_pins(allow: bool) -> dict:
    """Refuse to measure engines other than the pinned ones, unless told to; the differences go into the JSON."""
    versions, problems = pins.check(cont.WCT2_PYTHON)
    for problem in problems:
        _log(f"{'warning' if allow else 'error'}: {problem}")
    if problems and not allow:
        raise SystemExit(
            "error: installed versions differ from benchmarks/requirements.txt: install the pinned ones "
            f"(remove {cont.WCT2_VENV} to rebuild whisper-ctranslate2's venv) or pass --allow-unpinned"
        )
    return {"pinned": pins.pinned(), "installed": versions, "differences": problems}


def _setup(args: argparse.Namespace) -> cont.Setup:
    from whisper_cli.models import resolve_model

    cuda = _cuda_devices()
    if args.device == "cuda" and not cuda:
        raise SystemExit("--device cuda: CTranslate2 sees no CUDA device")
    setup = cont.Setup(
        model_dir=resolve_model("base").path,
        device=args.device,
        compute_type="float16" if args.device == "cuda" else "int8",
        threads=args.threads,
        cuda_devices=cuda,
    )
    setup.wcli_options = cont.whisper_cli_options(setup.transcribe)
    return setup


def _cuda_devices() -> int:
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count()
    except RuntimeError:
        return 0


def _warm_up(setup, chosen, work, args, folder: Path) -> None:
    """One untimed run per family, so every timed run finds the model and the libraries in the page cache."""
    jfk = wl._jfk_clip(args.samples)
    need_model = jfk is not None and any(w.clips for w in work)
    _log("warming up (untimed): " + ("one short transcription per program" if need_model else "--help per program"))
    seen = set()
    for contender in chosen:
        if contender.family in seen or setup.available(contender):
            continue
        seen.add(contender.family)
        target = folder / contender.family
        target.mkdir(parents=True, exist_ok=True)
        if need_model:
            argv, _ = setup.transcribe_command(contender, [jfk.path], target / "out")
        else:
            argv = setup.help_command(contender)
        measure(argv, target / "stdout.txt", target / "stderr.txt", args.rss_method)


def _run_workload(workload, chosen, setup, args, run_dir: Path) -> list[dict]:
    """Every contender on one workload; repeats are interleaved (A B C, A B C) so drifting load hits all alike."""
    runs = {"startup": args.startup_runs, "short": args.short_runs}.get(workload.key, args.runs)
    rows, active = [], []
    for contender in chosen:
        if workload.letter not in contender.workloads:
            continue
        row = _row(workload, contender)
        rows.append(row)
        skip = setup.available(contender)
        if skip:
            row["status"] = f"skipped: {skip}"
            _log(f"({workload.letter}) {contender.id}: skipped, {skip}")
        else:
            active.append((contender, row))
    for rep in range(runs):
        for contender, row in active:
            if row["status"] != "ok":
                continue  # it already failed once; do not spend the machine on it again
            folder = run_dir / workload.key / contender.id / f"r{rep + 1}"
            (folder / "out").mkdir(parents=True, exist_ok=True)
            _one_run(workload, contender, setup, row, folder, args.rss_method, first=rep == 0)
            last = row["runs"][-1]
            _log(f"({workload.letter}) {contender.id} run {rep + 1}/{runs}: {last['wall_s']:.2f} s, {last['rss_mb']:.0f} MB"
                + (f", WER {row['wer']:.2f}%" if rep == 0 and row.get("wer") is not None else "")
                + ("" if row["status"] == "ok" else f", {row['status']}"))
    for row in rows:
        _summarise(row, workload)
    return rows


def _row(workload, contender) -> dict:
    return {
        "workload": workload.key,
        "id": contender.id,
        "label": contender.label,
        "family": contender.family,
        "extra": list(contender.extra),
        "role": contender.role,
        "floor": contender.floor,
        "status": "ok",
        "runs": [],
    }


def _one_run(workload, contender, setup, row: dict, folder: Path, method: str, first: bool) -> None:
    if not workload.clips:
        argv, on_stdout = setup.help_command(contender), True
    else:
        argv, on_stdout = setup.transcribe_command(contender, [c.path for c in workload.clips], folder / "out")
    got = measure(argv, folder / "stdout.txt", folder / "stderr.txt", method)
    row["runs"].append({"wall_s": got.wall_s, "rss_mb": got.rss_mb, "returncode": got.returncode, "load_before": got.load_before})
    if first:
        row["argv"] = argv
    if got.returncode != 0:
        tail = (folder / "stderr.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        row["status"] = f"failed: exit {got.returncode}: {tail[0][:160]}"
        return
    if first and workload.clips:
        _score(row, workload, folder, on_stdout)


def _score(row: dict, workload, folder: Path, on_stdout: bool) -> None:
    """WER of the first run against the references, after normalize(); corpus-level over all files."""
    import jiwer

    refs, hyps, missing, by_language = [], [], [], {}
    for clip in workload.clips:
        source = folder / "stdout.txt" if on_stdout else folder / "out" / f"{clip.stem}.txt"
        try:
            hyp = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            hyp = ""
            missing.append(clip.stem)
        ref_n, hyp_n = normalize(clip.reference, clip.language), normalize(hyp, clip.language)
        refs.append(ref_n)
        hyps.append(hyp_n)
        by_language.setdefault(clip.language, ([], []))
        by_language[clip.language][0].append(ref_n)
        by_language[clip.language][1].append(hyp_n)
    words = jiwer.process_words(refs, hyps)
    row["wer"] = 100 * words.wer
    row["wer_counts"] = {
        "reference_words": sum(len(r.split()) for r in refs),
        "substitutions": words.substitutions,
        "deletions": words.deletions,
        "insertions": words.insertions,
    }
    if len(by_language) > 1:
        row["wer_by_language"] = {lang: 100 * jiwer.wer(r, h) for lang, (r, h) in sorted(by_language.items())}
    if missing:
        row["missing_outputs"] = missing


def _summarise(row: dict, workload) -> None:
    figures = summarise(row["runs"]) if row["status"] == "ok" else {}
    if not figures:
        return
    row.update(figures)
    if workload.clips:
        row["rtf"] = workload.audio_s / row["wall_s"]
        row["files_per_s"] = len(workload.clips) / row["wall_s"]


# --- the record of the machine ------------------------------------------------------------------------------------


def _machine(setup: cont.Setup, method: str, versions: dict) -> dict:
    packages = {}
    for name in ("whisper-cli", "faster-whisper", "ctranslate2", "onnxruntime", "av", "numpy", "jiwer"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "cpu_model": _cpu_model(),
        "lscpu": _lscpu(),
        "logical_cpus": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "wct2_packages": cont.wct2_versions(),
        "pins": versions,
        "espeak_ng": wl._espeak_version(),
        "cuda_devices": setup.cuda_devices,
        "whisper_cli_probe": _probe(setup),
        "whisper_cli_options": sorted(setup.wcli_options),
        "git": _git(),
        "load_start": os.getloadavg()[0],
        "rss_method": method,
        "rss_note": RSS_NOTE,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _lscpu() -> dict:
    """Topology and the vector extensions CTranslate2's int8 kernels care about; {} without lscpu."""
    try:
        done = subprocess.run(["lscpu"], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    keep = ("Model name", "CPU family", "Model", "Thread(s) per core", "Core(s) per socket", "Socket(s)",
            "Hypervisor vendor", "L3 cache")
    record = {key: fields[key] for key in keep if key in fields}
    flags = set(fields.get("Flags", "").split())
    record["vector_flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")) or f == "avx512_vnni")
    return record


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return float("nan")


def _probe(setup: cont.Setup):
    exe = setup.transcribe.parent / "whisper-cli"
    done = subprocess.run([str(exe), "probe"], capture_output=True, text=True)
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"error": (done.stderr or done.stdout).strip()[-300:]}


def _git() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _describe(workload) -> dict:
    return {
        "key": workload.key,
        "letter": workload.letter,
        "title": workload.title,
        "note": workload.note,
        "files": len(workload.clips),
        "audio_s": workload.audio_s,
        "clips": [{"path": str(c.path), "language": c.language, "duration_s": c.duration_s} for c in workload.clips],
    }


if __name__ == "__main__":
    main()

"""Long recordings with real pauses (issue 13): which mode is fast and at least as accurate, recording by recording.

    .venv/bin/python benchmarks/long.py                          # base, every recording, every contender
    .venv/bin/python benchmarks/long.py --model tiny.en          # the quick check
    .venv/bin/python benchmarks/long.py --recordings talk,silence --contenders wcli-novad,wct2
    .venv/bin/python benchmarks/long.py --add-to benchmarks/results/scratch/long-RUN.json   # measure the rows it lacks

Three 10-minute recordings with 0.3-5 s pauses and a 70 s file of silence and noise (long_audio.py), each
transcribed by every contender below: one child process per run, timed from spawn to exit with its peak RSS
(measure.py), scored with jiwer after normalize.py. Prints a table per recording and writes the figures, the
machine, the command and the load average to results/scratch/long-<UTC time>-<model>.json (and .md). A run the
README quotes is copied to results/. On a loaded machine, the load average before every run is in its row.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a script from anywhere: the sibling modules import by name

import contenders as cont  # noqa: E402
import long_audio  # noqa: E402
import run as suite  # noqa: E402
from contenders import PLAIN, WCT2, WHISPER_CLI, Contender  # noqa: E402
from measure import measure, rss_method  # noqa: E402
from normalize import normalize  # noqa: E402

RESULTS = HERE / "results" / "scratch"
RUNS = HERE / "work" / "runs"

CONTENDERS: tuple[Contender, ...] = (
    Contender("wcli", WHISPER_CLI, (), role="default"),  # each whisper-cli row records its commit
    Contender("wcli-novad", WHISPER_CLI, ("--no-vad",)),  # sequential, today's default spelled out
    Contender("wcli-speech", WHISPER_CLI, ("--speech-first",)),  # VAD first, windows in batches with fallback
    Contender("wcli-bs8", WHISPER_CLI, ("--batch-size", "8")),  # faster-whisper's batched pipeline over VAD regions
    Contender("plain", PLAIN, ()),
    Contender("plain-bs8-vad", PLAIN, ("--batch-size", "8", "--vad")),
    Contender("wct2", WCT2, (), role="default"),
    Contender("wct2-batched", WCT2, ("--batched", "True")),  # batch 8, VAD forced on
)
DEFAULT_SELECTION = "wcli-novad,wcli-speech,wcli-bs8,wct2,wct2-batched"


def main() -> None:
    args = _parse_args()
    if args.merge:
        merge(args.merge)
        return
    chosen = _select(args.contenders)
    if any(c.family == WCT2 for c in chosen):
        problem = cont.ensure_wct2(not args.no_install, _log)
        if problem:
            _log(f"whisper-ctranslate2: {problem}")
    versions = suite._check_pins(args.allow_unpinned)
    setup = _setup(args)
    method = rss_method()
    names = [n.strip() for n in args.recordings.split(",") if n.strip()]
    clips = {name: long_audio.recording(name, args.minutes * 60) for name in names}
    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = _prior(args.add_to) if args.add_to else _new_result(args, setup, method, versions, clips, started)
    result["sessions"].append({"started": started, "command": _command(), "load_before": list(os.getloadavg())})
    done = {(r["recording"], r["id"]) for r in result["rows"] if r["status"] == "ok"}
    # The model's name goes in with "." as "-": Path.with_suffix would take "tiny.en"'s ".en" for a suffix.
    stem = Path(args.add_to).with_suffix("") if args.add_to else RESULTS / f"long-{started}-{args.model.replace('.', '-')}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    if not args.no_warmup:
        _warm_up(setup, chosen, args, RUNS / started / "warmup", method)
    for name, clip in clips.items():
        for contender in chosen:
            if (name, contender.id) in done:
                continue
            result["rows"] = [r for r in result["rows"] if (r["recording"], r["id"]) != (name, contender.id)]
            row = _run_one(setup, contender, name, clip, args, RUNS / started / name / contender.id, method)
            result["rows"].append(row)
            _log(_progress(row))
            stem.with_suffix(".json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    result["sessions"][-1]["load_after"] = list(os.getloadavg())
    text = markdown(result)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    _log(f"wrote {stem}.json and {stem}.md")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="long recordings with pauses: speed and WER per mode (issue 13)")
    parser.add_argument("--model", default="base", help="base (the decision) or tiny.en (a quick check)")
    parser.add_argument("--recordings", default=",".join(long_audio.RECORDINGS), help="talk, noisy, real, silence")
    parser.add_argument("--contenders", default=DEFAULT_SELECTION, help=f"ids, comma-separated; all: {','.join(c.id for c in CONTENDERS)}")
    parser.add_argument("--minutes", type=float, default=long_audio.TARGET_S / 60, help="length of each speech recording")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="CPU threads (default: every usable core)")
    parser.add_argument("--add-to", default=None, help="a JSON this script wrote: measure only the rows it lacks or failed")
    parser.add_argument("--merge", nargs="+", type=Path, default=None,
                        help="JSONs of runs made side by side: their rows and sessions into the first, and its table printed")
    parser.add_argument("--no-install", action="store_true", help="never pip-install whisper-ctranslate2")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed run that puts the model in the page cache")
    parser.add_argument("--allow-unpinned", action="store_true", help="run even when installed versions differ from the pins")
    return parser.parse_args()


def _select(spec: str) -> list[Contender]:
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    known = {c.id: c for c in CONTENDERS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise SystemExit(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return [known[w] for w in wanted]


def _setup(args: argparse.Namespace) -> cont.Setup:
    from whisper_cli.models import resolve_model

    setup = cont.Setup(model_dir=resolve_model(args.model).path, device="cpu", compute_type="int8",
                       threads=args.threads, cuda_devices=suite._cuda_devices())
    setup.wcli_options = cont.whisper_cli_options(setup.transcribe)
    return setup


def _argv(setup: cont.Setup, contender: Contender, path: Path, out: Path, model: str) -> tuple[list[str], bool]:
    argv, on_stdout = setup.transcribe_command(contender, [path], out)
    if contender.family == WHISPER_CLI and model != "base":
        argv += ["--model", model]  # its default is the bundled base; the others are given the model's folder
    return argv, on_stdout


def _run_one(setup, contender: Contender, name: str, clip, args, folder: Path, method: str) -> dict:
    row = {"recording": name, "id": contender.id, "label": contender.label, "family": contender.family,
           "extra": list(contender.extra), "role": contender.role, "status": "ok"}
    skip = setup.available(contender)
    if skip:
        row["status"] = f"skipped: {skip}"
        return row
    (folder / "out").mkdir(parents=True, exist_ok=True)
    argv, on_stdout = _argv(setup, contender, clip.path, folder / "out", args.model)
    got = measure(argv, folder / "stdout.txt", folder / "stderr.txt", method)
    if contender.family == WHISPER_CLI:
        row["commit"] = suite._git()["commit"][:10]
    row.update(argv=argv, wall_s=got.wall_s, rss_mb=got.rss_mb, load_before=got.load_before,
               returncode=got.returncode, speed_x=clip.duration_s / got.wall_s)
    if got.returncode != 0:
        tail = (folder / "stderr.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        row["status"] = f"failed: exit {got.returncode}: {tail[0][:160]}"
        return row
    source = folder / "stdout.txt" if on_stdout else folder / "out" / f"{clip.stem}.txt"
    hypothesis = source.read_text(encoding="utf-8") if source.is_file() else ""
    row.update(_score(clip.reference, hypothesis))
    return row


def _score(reference: str, hypothesis: str) -> dict:
    """WER and its parts (jiwer's alignment, after normalize()); words_out for a recording with no reference."""
    import jiwer

    ref, hyp = normalize(reference), normalize(hypothesis)
    out = {"words_out": len(hyp.split()), "reference_words": len(ref.split())}
    if not ref:
        return out
    words = jiwer.process_words(ref, hyp)
    out.update(wer=100 * words.wer, substitutions=words.substitutions, deletions=words.deletions,
               insertions=words.insertions)
    return out


def _warm_up(setup, chosen, args, folder: Path, method: str) -> None:
    """One untimed short run per program, so the timed runs find the model and libraries in the page cache."""
    jfk = long_audio.wl._jfk_clip(long_audio.wl.DEFAULT_SAMPLES)
    seen = set()
    for contender in chosen:
        if jfk is None or contender.family in seen or setup.available(contender):
            continue
        seen.add(contender.family)
        target = folder / contender.family
        (target / "out").mkdir(parents=True, exist_ok=True)
        argv, _ = _argv(setup, contender, jfk.path, target / "out", args.model)
        measure(argv, target / "stdout.txt", target / "stderr.txt", method)


def _new_result(args, setup, method, versions, clips, started) -> dict:
    return {
        "schema": 1,
        "started": started,
        "model": args.model,
        "model_dir": str(setup.model_dir),
        "threads": setup.threads,
        "machine": suite._machine(setup, method, versions),
        "recordings": {name: {"path": str(c.path), "duration_s": c.duration_s,
                              **long_audio.describe(name, c.path.parent)} for name, c in clips.items()},
        "sessions": [],
        "rows": [],
    }


def merge(paths: list[Path]) -> None:
    """Runs made at the same time on the same machine (each row keeps its own load average) -> one result."""
    result = _prior(str(paths[0]))
    for path in paths[1:]:
        other = _prior(str(path))
        keys = {(r["recording"], r["id"]) for r in other["rows"] if r["status"] == "ok"}
        result["rows"] = [r for r in result["rows"] if (r["recording"], r["id"]) not in keys] + other["rows"]
        result["sessions"] += other["sessions"]
    text = markdown(result)
    paths[0].write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    paths[0].with_suffix(".md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)


def _prior(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _command() -> str:
    return shlex.join([suite._from_root(sys.executable), "benchmarks/long.py", *sys.argv[1:]])


def _progress(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['recording']} {row['id']}: {row['status']}"
    wer = f", WER {row['wer']:.2f}%, {row['deletions']} deleted" if "wer" in row else f", {row['words_out']} words out"
    return f"{row['recording']} {row['id']}: {row['wall_s']:.1f} s ({row['speed_x']:.1f}x real time){wer}, load {row['load_before']:.1f}"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the report ---------------------------------------------------------------------------------------------------


def markdown(result: dict) -> str:
    """Per recording: each contender's wall, speed, WER, deletions and memory; then the default's verdict."""
    machine = result["machine"]
    loads = "; ".join(
        f"`{s['command']}` at {s['started']}: load {s['load_before'][0]:.2f} before, "
        f"{(s.get('load_after') or [float('nan')])[0]:.2f} after" for s in result["sessions"])
    parts = [f"## Long recordings {result['started']} ({result['model']})", "",
             f"{machine['cpu_model']}, {machine['usable_cores']} cores, {result['threads']} threads, int8. {loads}.", ""]
    for name, info in result["recordings"].items():
        parts += [f"### {name}: {info['duration_s'] / 60:.1f} min, {100 * info.get('non_speech_share', 1):.0f}% non-speech", ""]
        parts += table([r for r in result["rows"] if r["recording"] == name]) + [""]
    parts += ["### Speech first against sequential (`--no-vad`)", ""] + verdict(result["rows"]) + [""]
    return "\n".join(parts)


def table(rows: list[dict]) -> list[str]:
    lines = ["| contender | wall s | x real time | x whisper-ctranslate2 | WER % | deleted | inserted | words out | peak RSS MB | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    wct2 = next((r for r in rows if r["id"] == "wct2" and r["status"] == "ok"), None)
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['label']} | {row['status']} |" + " |" * 8)
            continue
        vs = f"{row['speed_x'] / wct2['speed_x']:.2f}x" if wct2 else "-"
        lines.append(
            f"| {row['label']} | {row['wall_s']:.1f} | {row['speed_x']:.1f} | {vs} | {_fmt(row.get('wer'))} | "
            f"{row.get('deletions', '-')} | {row.get('insertions', '-')} | {row['words_out']} | {row['rss_mb']:.0f} | "
            f"{row['load_before']:.1f} |")
    return lines


def verdict(rows: list[dict]) -> list[str]:
    """For each recording with a reference: is speech first at least as accurate as sequential, with no more deletions?"""
    lines = ["| recording | WER speech first | WER --no-vad | deleted (speech first / --no-vad) | at least as accurate |",
             "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["recording"] for r in rows):
        new = _ok_row(rows, name, "wcli-speech")
        old = _ok_row(rows, name, "wcli-novad")
        if not (new and old and "wer" in new and "wer" in old):
            continue
        good = new["wer"] <= old["wer"] and new["deletions"] <= old["deletions"]
        lines.append(f"| {name} | {new['wer']:.2f} | {old['wer']:.2f} | {new['deletions']} / {old['deletions']} | {'yes' if good else 'NO'} |")
    return lines


def _ok_row(rows: list[dict], recording: str, contender_id: str):
    return next((r for r in rows if r["recording"] == recording and r["id"] == contender_id and r["status"] == "ok"), None)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()

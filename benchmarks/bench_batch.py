"""Batch throughput: whisper-cli (one process for a whole folder) against whisper-ctranslate2 on the same files.

Makes a folder of short clips (2-15 s of espeak-ng speech from a seeded generator, in several voices and
speeds, saved as a mix of mp3, m4a, ogg, flac and wav so that decoding costs something), then transcribes it,
in this one invocation, with:

  - whisper-cli                  `transcribe FOLDER -o OUT` (decodes the next file while one is transcribed)
  - whisper-cli --no-pack        each clip in its own 30 s window, to show what packing gains
  - whisper-cli --no-pack --prefetch 0   also with background decoding off, to show what prefetching gains
  - whisper-cli --beam-size 1    its fastest setting: packed, greedy decoding (the WER column says what it costs)
  - whisper-ctranslate2          every file in one process, from its own virtualenv in benchmarks/work/

all with the same local model directory (the bundled base model unless --model-dir), int8 on the CPU, beam 5,
the same language and the same thread count. Each run gets a fresh output folder, so nothing is skipped.
Reported: files/s, audio seconds/s, the median wall time over the --repeat runs and the largest peak RSS, both
measured as benchmarks/run.py does (benchmarks/measure.py: GNU time's %M, else /proc VmHWM), how many outputs
each wrote, and the word error rate over all clips against the text espeak-ng spoke (both sides through
benchmarks/normalize.py), scored on the first run.

    .venv/bin/python benchmarks/bench_batch.py                 # 40 clips, each tool once
    .venv/bin/python benchmarks/bench_batch.py --clips 8       # a quick check that it all runs
    .venv/bin/python benchmarks/bench_batch.py --repeat 3      # median of three per tool

whisper-ctranslate2 is installed on first use, at the versions of benchmarks/requirements.txt, into
benchmarks/work/wct2-venv (as run.py does; it needs no torch); the script warns when an installed version differs
from those pins. Results are printed as a markdown table and written to benchmarks/results/scratch/bench_batch.json.
Timings compare only between runs on the same machine with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # run as a script: the sibling modules import by name

import contenders  # noqa: E402
import pins  # noqa: E402
from measure import RSS_NOTE, measure, rss_method, summarise  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "batch"
RESULTS = ROOT / "benchmarks" / "results" / "scratch" / "bench_batch.json"
BIN = Path(sys.executable).parent
MIN_CLIP_S, MAX_CLIP_S = 2.0, 15.0
WORDS_PER_S = 2.6  # espeak-ng at about 160 words per minute
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3", "en-029")
CONTAINERS = ("mp3", "m4a", "ogg", "flac", "wav")

_SUBJECTS = "the committee, our neighbour, the old engineer, a small boat, the city council, my sister, the new teacher, a tired farmer, the orchestra, the weather service".split(", ")
_VERBS = "reported, repaired, painted, carried, described, measured, ignored, celebrated, postponed, recorded".split(", ")
_OBJECTS = "the broken bridge, a long letter, the quarterly budget, three wooden chairs, the harvest festival, a quiet garden, the train timetable, seven paper lanterns, the northern road, an unusual storm".split(", ")
_TAILS = "before the meeting, after lunch on Tuesday, in the early morning, despite the heavy rain, near the river, without any warning, during the long winter, at the end of the season, with great care, for the second time".split(", ")


# --- clips ---------------------------------------------------------------------------------------


def sentence_text(rng: random.Random, words: int) -> str:
    out, count = [], 0
    while count < words:
        sentence = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}."
        out.append(sentence[0].upper() + sentence[1:])
        count += len(sentence.split())
    return " ".join(out)


def make_clips(count: int, seed: int) -> tuple[Path, dict[str, float], dict[str, str]]:
    """<work>/clips-<count>-<seed>/clipNN.<ext>, made once; returns the folder, each clip's duration (s) and the
    text it speaks."""
    folder = WORK / f"clips-{count}-{seed}"
    index_path = folder / "clips.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
        return folder, index["durations"], index["texts"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    durations: dict[str, float] = {}
    texts: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        for number in range(count):
            target_s = rng.uniform(MIN_CLIP_S + 0.5, MAX_CLIP_S - 2.5)
            words = max(4, round(target_s * WORDS_PER_S))
            text = " ".join(sentence_text(rng, words).split()[:words])
            wav = Path(tmp) / f"{number}.wav"
            speed = rng.choice((140, 160, 175))
            subprocess.run(["espeak-ng", "-v", rng.choice(VOICES), "-s", str(speed), "-w", str(wav), text], check=True, capture_output=True)
            clip = folder / f"clip{number:03d}.{CONTAINERS[number % len(CONTAINERS)]}"
            # Trimmed to the range; resampled to 44.1 kHz stereo, as real recordings are, so decoding has work to do.
            subprocess.run(
                ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-t", str(MAX_CLIP_S), "-ar", "44100", "-ac", "2", str(clip)],
                check=True, capture_output=True,
            )
            durations[clip.name] = probe_duration(clip)
            texts[clip.name] = text
    index_path.write_text(json.dumps({"durations": durations, "texts": texts}, indent=1))
    return folder, durations, texts


def probe_duration(path: Path) -> float:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        check=True, capture_output=True, text=True,
    )
    return float(done.stdout.strip())


# --- tools ---------------------------------------------------------------------------------------


def ensure_whisper_ctranslate2() -> Path:
    """benchmarks/work/wct2-venv/bin/whisper-ctranslate2, installed at the pinned versions on first use."""
    problem = contenders.ensure_wct2(True, lambda message: print(message, file=sys.stderr))
    if problem:
        raise SystemExit(f"error: whisper-ctranslate2: {problem}")
    return contenders.WCT2_VENV / "bin" / "whisper-ctranslate2"


def commands(tool: str, clips: list[Path], folder: Path, out: Path, model_dir: Path, args) -> list[str]:
    if tool == "whisper-ctranslate2":
        return [
            str(ensure_whisper_ctranslate2()), *map(str, clips),
            "--model_directory", str(model_dir), "--device", "cpu", "--compute_type", "int8",
            "--beam_size", str(args.beam_size), "--best_of", str(args.beam_size), "--language", args.language,
            "--threads", str(args.threads), "--output_dir", str(out), "--output_format", "txt", "--verbose", "False",
        ]
    variant = tool.split()[1:]  # e.g. ["--no-pack"] or ["--beam-size", "1"]; last, so it wins over the shared settings
    return [
        str(BIN / "transcribe"), str(folder), "-o", str(out), "-f", "txt", "-q",
        "--model", str(model_dir), "--device", "cpu", "--compute-type", "int8",
        "--beam-size", str(args.beam_size), "--language", args.language, "--cpu-threads", str(args.threads), *variant,
    ]


def run_tool(tool: str, clips: list[Path], folder: Path, model_dir: Path, args, env: dict[str, str]) -> dict:
    """--repeat runs of one tool: median wall time, largest peak RSS; outputs and texts of the first run."""
    runs, first = [], None
    method = rss_method()
    for rep in range(args.repeat):
        out = WORK / "out" / tool.replace(" ", "_").replace("-", "_")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        logs = WORK / "logs" / out.name
        logs.mkdir(parents=True, exist_ok=True)
        got = measure(commands(tool, clips, folder, out, model_dir, args), logs / "stdout.txt", logs / "stderr.txt",
                      method, env=env)
        runs.append({"wall_s": got.wall_s, "rss_mb": got.rss_mb, "returncode": got.returncode,
                     "load_before": got.load_before})
        if got.returncode != 0:
            tail = (logs / "stderr.txt").read_text(errors="replace")[-2000:]
            print(f"warning: {tool} exited {got.returncode}:\n{tail}", file=sys.stderr)
        if rep == 0:
            first = {"outputs": len(list(out.rglob("*.txt"))),
                     "texts": {p.stem: " ".join(p.read_text().split()) for p in out.rglob("*.txt")}}
    figures = summarise(runs) or {"wall_s": float("nan"), "rss_mb": float("nan")}
    return {**figures, "exit_code": max(r["returncode"] for r in runs), "runs": runs, "rss_method": method, **first}


def word_error_rate(references: dict[str, str], texts: dict[str, str]) -> float:
    """Corpus WER over every clip (a clip without output counts as all words deleted), both sides normalised."""
    import jiwer
    from normalize import normalize

    names = sorted(references)
    return jiwer.wer(
        [normalize(references[name]) for name in names],
        [normalize(texts.get(Path(name).stem, "")) for name in names],
    )


# --- report --------------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    lines = [
        "| tool | files | files/s | audio s/s | median wall s | peak RSS MB | outputs | WER % | same text as whisper-cli |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['tool']} | {row['files']} | {row['files_per_s']:.2f} | {row['audio_s_per_s']:.1f} | "
            f"{row['wall_s']:.1f} | {row['rss_mb']:.0f} | {row['outputs']} | {row['wer_pct']:.2f} | {row['same_text']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40, help="number of clips (default 40)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model-dir", type=Path, help="CTranslate2 model folder (default: the bundled base model)")
    parser.add_argument("--language", default="en")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="CPU threads for both tools")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median wall time is reported")
    parser.add_argument(
        "--tools",
        default="whisper-cli,whisper-cli --beam-size 1,whisper-cli --no-pack,whisper-cli --no-pack --prefetch 0,whisper-ctranslate2",
        help="comma-separated, from the default list",
    )
    args = parser.parse_args()

    versions, drift = pins.check(contenders.WCT2_PYTHON)
    for problem in drift:
        print(f"warning: {problem}", file=sys.stderr)
    folder, durations, references = make_clips(args.clips, args.seed)
    clips = sorted(folder / name for name in durations)
    audio_s = sum(durations.values())
    if args.model_dir is None:
        from whisper_cli.models import resolve_model

        args.model_dir = resolve_model("base").path
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    print(f"{len(clips)} clips, {audio_s:.0f} s of audio ({min(durations.values()):.1f}-{max(durations.values()):.1f} s each), "
          f"model {args.model_dir}, {args.threads} threads", file=sys.stderr)

    rows = []
    reference: dict[str, str] = {}
    for tool in [t.strip() for t in args.tools.split(",") if t.strip()]:
        print(f"running {tool} ...", file=sys.stderr)
        result = run_tool(tool, clips, folder, args.model_dir, args, env)
        texts = result.pop("texts")
        if tool == "whisper-cli":
            reference = texts
        same = sum(1 for stem, text in texts.items() if reference.get(stem) == text) if reference else None
        rows.append({
            "tool": tool,
            "files": len(clips),
            "files_per_s": len(clips) / result["wall_s"],
            "audio_s_per_s": audio_s / result["wall_s"],
            "same_text": "-" if same is None else f"{same}/{len(clips)}",
            "wer_pct": 100 * word_error_rate(references, texts),
            **result,
        })

    print(table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "clips": len(clips),
        "audio_s": audio_s,
        "model_dir": str(args.model_dir),
        "language": args.language,
        "beam_size": args.beam_size,
        "threads": args.threads,
        "repeat": args.repeat,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": versions,
        "version_differences": drift,
        "figures": f"median wall time of {args.repeat} run(s); {RSS_NOTE}",
        "runs": [{key: value for key, value in row.items() if key != "stderr_tail"} for row in rows],
    }, indent=2))
    print(f"written to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

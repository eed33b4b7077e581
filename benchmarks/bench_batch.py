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
Reported: files/s, audio seconds/s, wall time and peak RSS (the kernel's ru_maxrss of that child, via os.wait4),
how many outputs each wrote, and the word error rate over all clips against the text espeak-ng spoke (both sides
through benchmarks/normalize.py).

    .venv/bin/python benchmarks/bench_batch.py                 # 40 clips, each tool once
    .venv/bin/python benchmarks/bench_batch.py --clips 8       # a quick check that it all runs
    .venv/bin/python benchmarks/bench_batch.py --repeat 3      # best of three per tool

whisper-ctranslate2 is installed on first use with `pip install whisper-ctranslate2` into
benchmarks/work/wct2-venv (it needs no torch; the script checks that none came along). Results are printed as a
markdown table and written to benchmarks/results/bench_batch.json. Timings compare only between runs on the same
machine with nothing else running.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work" / "batch"
WCT2_VENV = ROOT / "benchmarks" / "work" / "wct2-venv"
RESULTS = ROOT / "benchmarks" / "results" / "bench_batch.json"
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
    """benchmarks/work/wct2-venv/bin/whisper-ctranslate2, installed with pip on first use."""
    tool = WCT2_VENV / "bin" / "whisper-ctranslate2"
    if tool.exists():
        return tool
    print(f"installing whisper-ctranslate2 into {WCT2_VENV} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(WCT2_VENV)], check=True)
    pip = [str(WCT2_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "whisper-ctranslate2"], check=True)
    has_torch = subprocess.run([str(WCT2_VENV / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode == 0
    if has_torch:
        print("warning: whisper-ctranslate2 pulled in torch; its peak RSS is not comparable", file=sys.stderr)
    return tool


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Wall time, exit status and peak RSS of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr_chunks = []
    # wait4 gives this child's own rusage; read stderr first so a chatty child never blocks on a full pipe.
    for chunk in iter(lambda: process.stderr.read(65536), b""):
        stderr_chunks.append(chunk)
    _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall_s,
        "exit_code": process.returncode,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "stderr_tail": b"".join(stderr_chunks).decode(errors="replace")[-2000:],
    }


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
    best = None
    for _ in range(args.repeat):
        out = WORK / "out" / tool.replace(" ", "_").replace("-", "_")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        result = measure(commands(tool, clips, folder, out, model_dir, args), env)
        result["outputs"] = len([p for p in out.rglob("*.txt")])
        result["texts"] = {p.stem: " ".join(p.read_text().split()) for p in out.rglob("*.txt")}
        if result["exit_code"] != 0:
            print(f"warning: {tool} exited {result['exit_code']}:\n{result['stderr_tail']}", file=sys.stderr)
        if best is None or result["wall_s"] < best["wall_s"]:
            best = result
    return best


def word_error_rate(references: dict[str, str], texts: dict[str, str]) -> float:
    """Corpus WER over every clip (a clip without output counts as all words deleted), both sides normalised."""
    import jiwer

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from normalize import normalize

    names = sorted(references)
    return jiwer.wer(
        [normalize(references[name]) for name in names],
        [normalize(texts.get(Path(name).stem, "")) for name in names],
    )


# --- report --------------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    lines = [
        "| tool | files | files/s | audio s/s | wall s | peak RSS MiB | outputs | WER % | same text as whisper-cli |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['tool']} | {row['files']} | {row['files_per_s']:.2f} | {row['audio_s_per_s']:.1f} | "
            f"{row['wall_s']:.1f} | {row['peak_rss_mib']:.0f} | {row['outputs']} | {row['wer_pct']:.2f} | {row['same_text']} |"
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
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest is reported")
    parser.add_argument(
        "--tools",
        default="whisper-cli,whisper-cli --beam-size 1,whisper-cli --no-pack,whisper-cli --no-pack --prefetch 0,whisper-ctranslate2",
        help="comma-separated, from the default list",
    )
    args = parser.parse_args()

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
        "runs": [{key: value for key, value in row.items() if key != "stderr_tail"} for row in rows],
    }, indent=2))
    print(f"written to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Peak memory and wall time of whisper-cli on long recordings: does RSS grow with duration?

Generates a 60-minute speech recording (espeak-ng sentences from a seeded generator, in several voices,
joined with sox) into benchmarks/work/long/, cuts 10- and 30-minute prefixes of it, then transcribes each
in a fresh `transcribe` process and reports, per length:

  - peak RSS of the whole run, measured as benchmarks/run.py does (benchmarks/measure.py: GNU time's %M, else
    /proc VmHWM; MB = 10^6 bytes),
  - peak RSS of decoding the audio alone (whisper_cli.audio.load_audio, in its own process, measured the same way),
  - wall time and the real-time factor.

The audio-only column separates what our decoder holds (the whole waveform) from what the engine adds
(faster-whisper computes the log-mel spectrogram of the whole waveform at once).

    .venv/bin/python benchmarks/long_memory.py                       # tiny.en, int8, 10/30/60 min
    .venv/bin/python benchmarks/long_memory.py --model base --minutes 10 60
    .venv/bin/python benchmarks/long_memory.py --audio-only          # our decoder's share, in a minute
    .venv/bin/python benchmarks/long_memory.py --features            # log-mel: whole file vs windowed sketch

Results are printed and written to benchmarks/results/scratch/long_memory.json. Run it on a quiet machine: wall
times are only comparable between runs on the same hardware with nothing else running.
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

from bench_batch import sentence_text  # the same seeded sentence generator as the batch benchmark
from measure import RSS_NOTE, measure as measure_child, rss_method

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work" / "long"
RESULTS = ROOT / "benchmarks" / "results" / "scratch" / "long_memory.json"
BIN = Path(sys.executable).parent
SAMPLE_RATE = 16000  # Hz
BLOCK_WORDS = 1600  # about 10 minutes of espeak-ng speech at 150 words per minute
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3", "en-029")
RSS_POLL_S = 0.25
MIB_PER_MB = 1e6 / 2**20

# Decodes a file with whisper-cli's loader in a fresh process and prints the sample count; its peak RSS is
# measured from outside, as every benchmark measures it.
_AUDIO_ONLY = """
import sys
from whisper_cli.audio import load_audio
print(len(load_audio(sys.argv[1])))
"""

# Decodes a file, then computes its log-mel features with faster-whisper's extractor ("whole") or the
# windowed one whisper-cli uses ("windowed"), in a fresh process; prints its own peak RSS in KiB (VmHWM, not
# ru_maxrss, which exec inflates with the parent's) before and after the features, and the seconds they took.
_FEATURES = """
import sys, time
from whisper_cli.engine.features import WindowedFeatureExtractor
from faster_whisper.feature_extractor import FeatureExtractor
from whisper_cli.audio import load_audio
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
samples = load_audio(sys.argv[1])
before = hwm()
extractor = WindowedFeatureExtractor() if sys.argv[2] == "windowed" else FeatureExtractor()
started = time.perf_counter()
features = extractor(samples)
print(before, hwm(), round(time.perf_counter() - started, 1), features.shape[1])
"""


def make_recordings(minutes: list[int]) -> dict[int, Path]:
    """<work>/long_<N>min.flac for each N, all prefixes of one recording of max(minutes) minutes."""
    WORK.mkdir(parents=True, exist_ok=True)
    longest = max(minutes)
    paths = {n: WORK / f"long_{n}min.flac" for n in minutes}
    full = WORK / f"long_{longest}min.flac"
    if not full.exists():
        with tempfile.TemporaryDirectory(dir=WORK) as tmp:
            blocks, seconds, index = [], 0.0, 0
            while seconds < longest * 60:
                text = Path(tmp) / f"block{index}.txt"
                text.write_text(sentence_text(random.Random(index), BLOCK_WORDS))
                wav = Path(tmp) / f"block{index}.wav"
                voice = VOICES[index % len(VOICES)]
                subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-f", str(text), "-w", str(wav)], check=True)
                resampled = Path(tmp) / f"block{index}_16k.wav"
                subprocess.run(["sox", str(wav), "-r", str(SAMPLE_RATE), "-c", "1", str(resampled)], check=True)
                seconds += _duration(resampled)
                blocks.append(str(resampled))
                index += 1
                print(f"  block {index}: {seconds / 60:.1f} min so far", file=sys.stderr)
            partial = Path(tmp) / "full.flac"
            subprocess.run(["sox", *blocks, str(partial), "trim", "0", str(longest * 60)], check=True)
            os.replace(partial, full)
    for n, path in paths.items():
        if not path.exists():
            partial = path.with_suffix(".partial.flac")
            subprocess.run(["sox", str(full), str(partial), "trim", "0", str(n * 60)], check=True)
            os.replace(partial, path)
    return paths


def _duration(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run `command`: exit status, wall time, peak RSS (MiB) and an RSS timeline, measured as run.py measures."""
    logs = Path(tempfile.mkdtemp(prefix="logs.", dir=WORK))
    got = measure_child(command, logs / "stdout.txt", logs / "stderr.txt", rss_method(), env=env,
                        timeline_every_s=RSS_POLL_S)
    result = {
        "exit_code": got.returncode,
        "wall_s": round(got.wall_s, 1),
        "peak_rss_mib": round(got.rss_mb * MIB_PER_MB, 1),
        "stdout": (logs / "stdout.txt").read_text(errors="replace"),
        "stderr": (logs / "stderr.txt").read_text(errors="replace")[-2000:],
        "timeline": [(t, round(mb * MIB_PER_MB, 1)) for t, mb in got.timeline or []],
    }
    shutil.rmtree(logs, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--minutes", type=int, nargs="+", default=[10, 30, 60])
    parser.add_argument("--cpu-threads", type=int, default=0)
    parser.add_argument("--audio-only", action="store_true", help="measure decoding alone (seconds, not minutes)")
    parser.add_argument(
        "--features", action="store_true",
        help="measure log-mel extraction alone: faster-whisper's whole-file extractor against the windowed sketch",
    )
    args = parser.parse_args()

    print(f"generating recordings in {WORK} ...", file=sys.stderr)
    recordings = make_recordings(args.minutes)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    rows = []
    for n in sorted(args.minutes):
        path = recordings[n]
        audio_only = measure([str(BIN / "python"), "-c", _AUDIO_ONLY, str(path)], env)
        samples = int(audio_only["stdout"].split()[0])
        audio_kib = audio_only["peak_rss_mib"] * 1024
        if args.features:
            for kind in ("whole", "windowed"):
                measured = measure(
                    [str(BIN / "python"), "-c", _FEATURES, str(path), kind, str(Path(__file__).parent)], env
                )
                before_kib, after_kib, seconds, frames = measured["stdout"].split()
                print(f"{n:>3} min: {kind:>8} log-mel: peak RSS {int(after_kib) / 1024:7.1f} MiB "
                      f"(+{(int(after_kib) - int(before_kib)) / 1024:.1f} MiB over the decoded audio), "
                      f"{seconds} s, {frames} frames", flush=True)
            continue
        if args.audio_only:
            print(f"{n:>3} min: audio decode alone peak RSS {audio_kib / 1024:.1f} MiB in {audio_only['wall_s']} s "
                  f"(waveform {samples * 4 / 2**20:.1f} MiB)", flush=True)
            continue
        out_dir = Path(tempfile.mkdtemp(prefix=f"long{n}.", dir=WORK))
        run = measure(
            [str(BIN / "transcribe"), str(path), "--model", args.model, "--compute-type", args.compute_type,
             "--device", "cpu", "--cpu-threads", str(args.cpu_threads), "-f", "json", "-o", str(out_dir), "-q"],
            env,
        )
        document = json.loads((out_dir / f"{path.stem}.json").read_text()) if run["exit_code"] == 0 else None
        shutil.rmtree(out_dir, ignore_errors=True)
        audio_s = samples / SAMPLE_RATE
        row = {
            "minutes": n,
            "audio_s": round(audio_s, 1),
            "exit_code": run["exit_code"],
            "wall_s": run["wall_s"],
            "realtime_factor": round(audio_s / run["wall_s"], 1),
            "peak_rss_mib": run["peak_rss_mib"],
            "audio_only_peak_rss_mib": round(audio_kib / 1024, 1),
            "waveform_float32_mib": round(samples * 4 / 2**20, 1),
            "segments": len(document["segments"]) if document else None,
            "words": len(document["text"].split()) if document else None,
            "last_segment_end_s": document["segments"][-1]["end"] if document and document["segments"] else None,
            "rss_timeline": run["timeline"][:: max(1, len(run["timeline"]) // 200)],
        }
        if run["exit_code"] != 0:
            row["stderr"] = run["stderr"]
        rows.append(row)
        print(
            f"{n:>3} min: exit {row['exit_code']}, wall {row['wall_s']:>7.1f} s ({row['realtime_factor']}x real time), "
            f"peak RSS {row['peak_rss_mib']:>7.1f} MiB (audio decode alone {row['audio_only_peak_rss_mib']} MiB, "
            f"waveform {row['waveform_float32_mib']} MiB), {row['segments']} segments",
            flush=True,
        )

    if args.audio_only or args.features:
        return
    report = {
        "model": args.model,
        "compute_type": args.compute_type,
        "cpu_threads": args.cpu_threads or len(os.sched_getaffinity(0)),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip(),
        "python": platform.python_version(),
        "rss": RSS_NOTE,
        "rows": rows,
    }
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        per_min = (last["peak_rss_mib"] - first["peak_rss_mib"]) / (last["minutes"] - first["minutes"])
        report["rss_growth_mib_per_audio_minute"] = round(per_min, 1)
        print(f"peak RSS grows {per_min:.1f} MiB per minute of audio", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""A shorter mel for live passes (issue 14): what encoding fewer than 3000 frames does to a pass's cost and words.

faster-whisper pads every window's mel to 3000 frames (30 s) before CTranslate2 encodes it; CTranslate2's Whisper
encoder also accepts fewer frames (as whisper.cpp's audio_ctx does). Here the padding is cut to the audio plus
--margin-s, by replacing faster_whisper.transcribe.pad_or_trim for the run (a measurement, not the product),
and each clip is decoded as a live pass is (transcribe_span, word timestamps) both ways. Printed per clip: pass
time both ways (median of --repeats), word edits against the 3000-frame pass, and how far word ends moved.

    .venv/bin/python benchmarks/live_mel.py --models tiny.en,base --margin-s 1.0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from same_words import word_edits, words  # noqa: E402
from whisper_cli.audio import SAMPLE_RATE, load_audio  # noqa: E402

SHARED = ROOT.parent / "shared" / "samples"
FRAMES_PER_S = 100


def clips() -> list[tuple[str, "np.ndarray"]]:
    from workloads import long_recording

    espeak = load_audio(str(long_recording(quick=False, long_s=300).clips[0].path))
    reading = load_audio(str(SHARED / "multilingual.mp3"))[: int(29.3 * SAMPLE_RATE)]
    found = [("jfk 11 s", load_audio(str(SHARED / "jfk.flac"))), ("reading 29.3 s", reading),
             ("forecast 12.6 s", load_audio(str(ROOT / "samples" / "forecast.ogg"))), ("hello 5.6 s", load_audio(str(ROOT / "samples" / "hello.flac")))]
    for start_s, length_s in ((60, 5), (120, 10), (180, 15), (240, 20)):
        found.append((f"espeak {start_s}+{length_s} s", espeak[start_s * SAMPLE_RATE : (start_s + length_s) * SAMPLE_RATE]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--margin-s", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    import faster_whisper.transcribe as fw_transcribe
    from faster_whisper.audio import pad_or_trim

    from whisper_cli.engine.model import get_whisper
    from whisper_cli.options import DecodeOptions

    options = DecodeOptions(language="en", word_timestamps=True, vad_filter=False, condition_on_previous_text=False)
    margin = int(args.margin_s * FRAMES_PER_S)
    rows = []
    for model in args.models.split(","):
        whisper = get_whisper(model, cpu_threads=args.threads, offline=True, show_progress=False)
        for name, samples in clips():
            result = {}
            for mode in ("3000", "short"):
                fw_transcribe.pad_or_trim = pad_or_trim if mode == "3000" else (
                    lambda segment: pad_or_trim(segment, min(3000, segment.shape[-1] + margin)))
                times = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    segments = list(whisper.transcribe_span(samples, options).segments)
                    times.append(time.perf_counter() - started)
                result[mode] = (statistics.median(times), segments)
            fw_transcribe.pad_or_trim = pad_or_trim
            (full_s, full), (short_s, short) = result["3000"], result["short"]
            full_text, short_text = " ".join(s.text for s in full), " ".join(s.text for s in short)
            full_words = [w for s in full for w in s.words]
            short_words = [w for s in short for w in s.words]
            shifts = [abs(a.end - b.end) for a, b in zip(full_words, short_words) if words(a.text) == words(b.text)]
            row = {
                "model": model, "clip": name, "pass_3000_s": round(full_s, 3), "pass_short_s": round(short_s, 3),
                "words": len(words(full_text)), "word_edits": word_edits(words(short_text), words(full_text)),
                "median_word_end_shift_s": round(statistics.median(shifts), 3) if shifts else None,
                "max_word_end_shift_s": round(max(shifts), 3) if shifts else None,
                "temperature_3000": max((seg.temperature or 0.0 for seg in full), default=None),
                "temperature_short": max((seg.temperature or 0.0 for seg in short), default=None),
                "text_3000": full_text, "text_short": short_text,
            }
            rows.append(row)
            print(f"| {model} | {name} | {full_s:.2f} s | {short_s:.2f} s | {row['words']} | {row['word_edits']} "
                  f"| {row['median_word_end_shift_s']} / {row['max_word_end_shift_s']} s | {row['temperature_3000']} / {row['temperature_short']} "
                  f"| {os.getloadavg()[0]:.1f} |", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "margin_s": args.margin_s, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

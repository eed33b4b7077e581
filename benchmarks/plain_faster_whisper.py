"""The floor: faster-whisper with nothing around it. Loads the model once and transcribes each file in turn.

Every whisper-cli figure in the benchmark is compared with this script on the same model, options and files,
so the difference is the CLI's own overhead (or, for batched and packed runs, its gain).

    python benchmarks/plain_faster_whisper.py --model-dir DIR -o OUT a.flac b.flac
writes OUT/a.txt and OUT/b.txt, one line per segment, as whisper-cli and whisper-ctranslate2 do.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

SAMPLE_RATE = 16000  # Hz, what decode_audio returns
WINDOW_S = 30.0  # Whisper's window


def fixed_windows(duration_s: float) -> list[dict]:
    """Back-to-back 30-second clips covering the audio, as whisper-cli's --batch-size without --vad uses."""
    starts = [i * WINDOW_S for i in range(max(1, math.ceil(duration_s / WINDOW_S)))]
    return [{"start": start, "end": min(start + WINDOW_S, duration_s)} for start in starts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--model-dir", required=True, help="a CTranslate2 Whisper model directory")
    parser.add_argument("-o", "--output-dir", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: every usable core")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--language", default=None, help="default: detect per file")
    parser.add_argument("--vad", action="store_true", help="vad_filter=True")
    parser.add_argument("--batch-size", type=int, default=0, help="0: WhisperModel.transcribe; N: BatchedInferencePipeline")
    args = parser.parse_args()

    # Imported after parsing, so --help costs what argparse costs.
    from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

    model = WhisperModel(args.model_dir, device=args.device, compute_type=args.compute_type, cpu_threads=args.threads)
    engine = BatchedInferencePipeline(model) if args.batch_size else model
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        audio, extra = str(path), {}
        if args.batch_size:
            extra["batch_size"] = args.batch_size
            if not args.vad:
                # The batched pipeline refuses audio without VAD or clips; whisper-cli gives it fixed windows.
                audio = decode_audio(str(path))
                extra["clip_timestamps"] = fixed_windows(len(audio) / SAMPLE_RATE)
        segments, _info = engine.transcribe(
            audio, beam_size=args.beam_size, language=args.language, vad_filter=args.vad, **extra
        )
        lines = [segment.text.strip() + "\n" for segment in segments]
        (args.output_dir / f"{path.stem}.txt").write_text("".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()

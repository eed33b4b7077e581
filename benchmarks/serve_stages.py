"""Where a served request's CPU time goes: the clip folder read one clip at a time (what a one-at-a-time
server does), and in packed groups of N (what `serve` does with N requests in a group), in one process.

    .venv/bin/python benchmarks/serve_stages.py --limit 24 --groups 1,4,8,24 [--cpu-threads 1]

CPU seconds of the process (process_time, all threads), not wall time, so other jobs on the machine change
them little; split by stage: mel features, encoder passes (language detection on each clip's own frames, shared
windows, clips read alone in a padded window), language-detection heads, beam search (generate), word alignment
and the VAD. Writes benchmarks/results/serve-stages-<UTC stamp>.md (the table it prints) with the load average.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a script from anywhere: the sibling modules import by name

import workloads as wl  # noqa: E402

STAGES = ("features", "encode", "detect_language", "generate", "words", "vad")


class _Stages:
    """CPU seconds and calls per stage; a stage called inside another counts for the outer one only."""

    def __init__(self):
        self.cpu, self.calls, self._depth = collections.Counter(), collections.Counter(), 0

    def wrap(self, label, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            started = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu[label] += time.process_time() - started
                self.calls[label] += 1
                self._depth -= 1

        return timed


class _Translator:
    """The CTranslate2 model with its generate and detect_language timed."""

    def __init__(self, inner, stages: _Stages):
        self._inner, self._stages = inner, stages

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        return self._stages.wrap(name, value) if name in ("generate", "detect_language") else value


def main() -> None:
    args = _parse_args()
    from whisper_cli.audio import load_audio
    from whisper_cli.engine import get_whisper, packed
    from whisper_cli.options import DecodeOptions

    clips = list(wl.clip_folder(False, wl.DEFAULT_SAMPLES).clips)[: args.limit]
    whisper = get_whisper(args.model, cpu_threads=args.cpu_threads, show_progress=False, offline=True)
    stages = _Stages()
    model = whisper.model
    model.encode = stages.wrap("encode", model.encode)
    model.model = _Translator(model.model, stages)
    model.add_word_timestamps = stages.wrap("words", model.add_word_timestamps)
    model.feature_extractor = stages.wrap("features", model.feature_extractor)
    packed.has_speech = stages.wrap("vad", packed.has_speech)
    options = DecodeOptions()
    audios = [(clip.stem, load_audio(clip.path)) for clip in clips]
    list(whisper(audios[0][1], options).segments)  # warm-up, outside the figures

    lines = [f"`{' '.join(sys.argv)}` ({len(clips)} clips, {sum(len(a) for _, a in audios) / 16000:.0f} s of audio; "
             f"model {args.model}, {whisper.cpu_threads} threads)", "",
             "| read | CPU s | " + " | ".join(f"{s} s (calls)" for s in STAGES) + " | windows (alone) | load before / after |",
             "|---|---:|" + "---:|" * len(STAGES) + "---:|---:|"]
    for size in [int(n) for n in args.groups.split(",")]:
        stages.cpu.clear()
        stages.calls.clear()
        load_before, started, windows, alone = os.getloadavg()[0], time.process_time(), 0, 0
        for first in range(0, len(audios), size):
            group = audios[first : first + size]
            if size == 1:
                list(whisper(group[0][1], options, source=group[0][0]).segments)
                windows, alone = windows + 1, alone + 1
                continue
            results = packed.transcribe_packed(whisper, group, options)
            solo = sum(1 for r in results if not r.packed)
            windows, alone = windows + len({r.window for r in results if r.packed}) + solo, alone + solo
        total = time.process_time() - started
        label = "one at a time" if size == 1 else f"groups of {size}"
        cells = [f"{stages.cpu[s]:.1f} ({stages.calls[s]})" for s in STAGES]
        lines.append(f"| {label} | {total:.1f} | " + " | ".join(cells) + f" | {windows} ({alone}) | {load_before:.1f} / {os.getloadavg()[0]:.1f} |")
        print(lines[-1], flush=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = HERE / "results" / f"serve-stages-{stamp}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}", file=sys.stderr)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--limit", type=int, default=24, help="the first clips of the folder")
    parser.add_argument("--groups", default="1,4,8,24", help="group sizes; 1 reads each clip the plain way")
    parser.add_argument("--cpu-threads", type=int, default=0, help="0: every core")
    return parser.parse_args()


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()

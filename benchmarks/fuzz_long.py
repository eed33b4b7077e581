"""The audio-loader fuzz of tests/test_fuzz.py, long: tens of thousands of mutated files.

The property is the CI one (audio out, or an InputError naming the file; nothing else), with the same seeds
and mutations; this prints how the cases ended, by cause, and the slowest case. A failure stops the run and
Hypothesis prints the smallest input it could shrink it to.

    .venv/bin/python benchmarks/fuzz_long.py                 # 20,000 cases, seed 0
    .venv/bin/python benchmarks/fuzz_long.py --cases 100000 --seed 7
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from test_fuzz import check_loaded, make_seeds, mutated_files  # noqa: E402
from whisper_cli.audio import load_audio  # noqa: E402


def bucket(cause: str) -> str:
    """A cause less its numbers and quoted details, so that causes count by kind."""
    return re.sub(r"\d+(\.\d+)?", "N", cause.split(" (")[0])[:80]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    outcomes: collections.Counter[str] = collections.Counter()
    by_seed: collections.Counter[str] = collections.Counter()
    slowest = (0.0, "")
    with tempfile.TemporaryDirectory(prefix="fuzz-long.") as work:
        folder = Path(work)
        seeds = make_seeds(folder)

        @seed(args.seed)
        @settings(max_examples=args.cases, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(mutated_files(seeds))
        def property(named):
            nonlocal slowest
            name, data = named
            path = folder / f"mutated.{name.rsplit('.', 1)[-1]}"
            path.write_bytes(data)
            started = time.perf_counter()
            cause = check_loaded(lambda: load_audio(str(path)), str(path))
            elapsed = time.perf_counter() - started
            if elapsed > slowest[0]:
                slowest = (elapsed, f"{name}, {len(data)} bytes")
            by_seed[name] += 1
            outcomes["decoded" if cause is None else f"InputError: {bucket(cause)}"] += 1

        started = time.monotonic()
        property()
        wall = time.monotonic() - started

    total = sum(outcomes.values())
    print(f"{total} cases in {wall:.0f} s, none raised anything but InputError (seed {args.seed})")
    for outcome, count in outcomes.most_common():
        print(f"  {count:>7}  {outcome}")
    print("cases per seed file: " + ", ".join(f"{name} {count}" for name, count in sorted(by_seed.items())))
    print(f"slowest case: {slowest[0] * 1000:.0f} ms ({slowest[1]})")


if __name__ == "__main__":
    main()

"""Each count in README's Reliability table, derived from the tests it counts, with what does not pass said apart."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from collections import Counter

import pytest

from conftest import REPO

README = REPO / "README.md"


def count_cell(area: str) -> str:
    """The last cell of the Reliability table's row for `area`."""
    section = README.read_text(encoding="utf-8").split("\n## Reliability\n", 1)[1].split("\n## ", 1)[0]
    [row] = [line for line in section.splitlines() if line.startswith(f"| {area} |")]
    return row.rstrip().rstrip("|").rsplit("|", 1)[1].strip()


@pytest.fixture(scope="module")
def collected() -> Counter:
    """How many tests pytest collects from each counted file, and from each test function (parameters apart)."""
    files = ["tests/test_faults.py", "tests/test_security.py", "tests/test_claims.py", "tests/test_batch.py"]
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    counts: Counter = Counter()
    for node in listing.stdout.splitlines():
        if "::" in node:
            path, name = node.split("::", 1)
            counts[path.rsplit("/", 1)[-1]] += 1
            counts[name.split("[", 1)[0]] += 1
    return counts


def test_bad_input_count_says_what_passes_what_is_expected_to_fail_and_what_root_skips():
    from test_bad_input import CASES

    expected_to_fail = [case for case in CASES if any(mark.name == "xfail" for mark in case.marks)]
    assert all(mark.kwargs.get("strict") for case in expected_to_fail for mark in case.marks), "an xfail that may pass"
    skipped_as_root = [case for case in CASES if case.make.__qualname__.startswith("unreadable.")]
    passing = len(CASES) - len(expected_to_fail) - len(skipped_as_root)
    cell = count_cell("bad input")
    assert f"{len(CASES)} inputs: {passing} pass" in cell
    assert f"{len(expected_to_fail)} expected to fail" in cell and "You" in cell
    assert f"{len(skipped_as_root)} skipped when run as root" in cell


def test_fuzz_counts_are_the_case_counts_of_the_tests():
    import test_fuzz
    import test_writers

    cell = count_cell("fuzzing")
    in_ci = test_fuzz.FILE_CASES + test_fuzz.STDIN_CASES + test_fuzz.WRITER_CASES
    assert f"{in_ci} seeded cases in CI" in cell
    writers = inspect.getsource(test_writers.test_any_text_and_times_give_files_that_parsers_read)
    writer_cases = re.search(r"max_examples=(\d+)", writers).group(1)
    assert f"{writer_cases} in `test_writers.py`" in cell
    long_run = (REPO / "benchmarks" / "fuzz_long.py").read_text()
    default = int(re.search(r'"--cases", type=int, default=([\d_]+)', long_run).group(1))
    assert f"{default:,} with `benchmarks/fuzz_long.py`" in cell
    what = README.read_text(encoding="utf-8")
    encodings = test_fuzz.SEED_ENCODINGS
    containers = {name.rsplit(".", 1)[-1] for name in encodings}
    assert f"mutated real files ({len(encodings)} seed files in {len(containers)} containers)" in what


def test_kill_point_count_is_the_points_and_each_signal_is_counted():
    from test_kill_points import POINTS

    cell = count_cell("interruption")
    assert f"{len(POINTS)} kill points" in cell
    by_signal = Counter(point.signal.name for point in POINTS)
    for name in ("SIGINT", "SIGTERM", "SIGKILL"):
        assert f"{by_signal[name]} {name}" in cell


def test_concurrency_fault_and_security_counts_are_what_pytest_collects(collected):
    assert count_cell("concurrency").startswith(
        f"{collected['test_two_runs_into_one_output_folder_transcribe_each_input_once_and_write_it_whole']} runs + "
        f"{collected['test_claims.py']} claim tests"
    )
    import test_faults

    root_skips = [
        function.__name__
        for _, function in inspect.getmembers(test_faults, inspect.isfunction)
        if any(mark.name == "skipif" and "root" in mark.kwargs.get("reason", "") for mark in getattr(function, "pytestmark", []))
    ]
    skipped = sum(collected[name] for name in root_skips)
    assert count_cell("faults") == f"{collected['test_faults.py']} fault tests ({skipped} skipped when run as root)"
    scans = collected["test_package_never_runs_a_shell_or_unpickles"]
    assert count_cell("security") == (
        f"{collected['test_security.py']} tests ({scans} of them the code scan, one per module of `whisper_cli/`, `whisper_cli/engine/` and `whisper_cli/serve/`)"
    )

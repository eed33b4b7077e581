"""README's speed table is what benchmarks/report.py prints from the committed run, and the suite measures alike.

Model-free and fast: these read committed JSON, hand-built rows and tiny child processes; nothing is transcribed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import measure  # noqa: E402
import pins  # noqa: E402
import report  # noqa: E402

TABLE = re.compile(
    r"<!-- table printed by: \.venv/bin/python benchmarks/report\.py (?P<json>\S+) --markdown -->\n"
    r"(?P<table>.*?)<!-- end of the table printed by report\.py -->",
    re.S,
)


def readme_tables() -> list[tuple[Path, str]]:
    found = [(REPO / m["json"], m["table"]) for m in TABLE.finditer((REPO / "README.md").read_text(encoding="utf-8"))]
    assert found, "README has no table marked as printed by report.py"
    return found


def test_readme_speed_table_is_what_report_prints_from_the_committed_json():
    for path, table in readme_tables():
        assert path.parent == REPO / "benchmarks" / "results", f"{path} is not a committed result"
        result = json.loads(path.read_text(encoding="utf-8"))
        assert table == report.like_for_like(result)


def test_report_script_prints_the_same_table():
    path, table = readme_tables()[0]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "report.py"), str(path), "--markdown"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == table


def test_committed_run_records_machine_versions_command_and_load():
    for path, _ in readme_tables():
        result = json.loads(path.read_text(encoding="utf-8"))
        machine = result["machine"]
        assert machine["cpu_model"] and machine["usable_cores"] >= 1
        assert machine["lscpu"]["vector_flags"]
        assert re.fullmatch(r"[0-9a-f]{40}", machine["git"]["commit"])
        assert not machine["pins"]["differences"], "the quoted run used unpinned engines"
        installed = machine["pins"]["installed"]
        for name in ("faster-whisper", "ctranslate2"):
            assert installed["main"][name] == installed["whisper-ctranslate2"][name] == machine["pins"]["pinned"][name]
        assert installed["whisper-ctranslate2"]["whisper-ctranslate2"] == machine["pins"]["pinned"]["whisper-ctranslate2"]
        assert machine["python"]
        assert result["command"].startswith(".venv/bin/python benchmarks/run.py")
        assert len(result["load"]["before"]) == len(result["load"]["after"]) == 3


def test_committed_results_are_tracked_and_scratch_runs_ignored():
    def ignored(relative: str) -> bool:
        return subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", relative]).returncode == 0

    for path, _ in readme_tables():
        assert not ignored(str(path.relative_to(REPO)))
    assert ignored("benchmarks/results/scratch/20990101T000000Z.json")


def _row(workload: str, contender_id: str, family: str, wall_s: float, extra=(), **more) -> dict:
    return {
        "workload": workload, "id": contender_id, "family": family, "label": " ".join((family, *extra)),
        "extra": list(extra), "role": more.pop("role", ""), "floor": more.pop("floor", ""), "status": "ok",
        "wall_s": wall_s, "rss_mb": 500.0, "wer": 10.0, "rtf": 300 / wall_s, "files_per_s": 49 / wall_s, **more,
    }


def _result(rows: list[dict]) -> dict:
    clips = [{"path": f"/x/c{i}.flac", "language": "en", "duration_s": 3.0 + i} for i in range(3)]
    return {
        "started": "20990101T000000Z", "command": ".venv/bin/python benchmarks/run.py",
        "config": {"compute_type": "int8", "device": "cpu", "threads": 2,
                   "runs": {"startup": 10, "short": 3, "long": 3, "clips": 3}},
        "machine": {"cpu_model": "CPU", "lscpu": {}, "usable_cores": 2, "memory_gb": 8, "python": "3.11",
                    "packages": {}, "git": {"commit": "0" * 40}, "load_start": 1.0, "rss_method": "gnu-time"},
        "load": {"before": [1.0, 1.0, 1.0], "after": [2.0, 2.0, 2.0]},
        "workloads": [{"key": "long", "letter": "c", "audio_s": 300.0, "clips": clips[:1]},
                      {"key": "clips", "letter": "d", "audio_s": 12.0, "clips": clips}],
        "rows": rows,
    }


BS8 = ("--batch-size", "8", "--vad")


def _peer_rows(workload: str) -> list[dict]:
    return [
        _row(workload, "wct2", "whisper-ctranslate2", 100.0, role="default"),
        _row(workload, "wct2-batched", "whisper-ctranslate2", 40.0, ("--batched", "True")),
        _row(workload, "plain", "plain", 90.0, role="default"),
        _row(workload, "plain-bs8-vad", "plain", 36.0, BS8),
    ]


def test_each_whisper_cli_mode_sits_beside_the_peers_matching_mode():
    rows = [
        _row("long", "wcli", "whisper-cli", 95.0, role="default"),
        _row("long", "wcli-bs8-vad", "whisper-cli", 38.0, BS8),
        *_peer_rows("long"),
    ]
    lines = report.like_for_like(_result(rows)).splitlines()
    batched = next(line for line in lines if line.startswith("| (c)") and "batched" in line)
    cells = [cell.strip() for cell in batched.strip("|").split("|")]
    assert cells[2].startswith("`--batch-size 8 --vad`: 38.0 s")
    assert cells[3].startswith("`--batched True`: 40.0 s")
    assert cells[4].startswith("`--batch-size 8 --vad`: 36.0 s")
    assert cells[5] == "1.05x whisper-ctranslate2, 0.95x plain"
    sequential = next(line for line in lines if line.startswith("| (c)") and "sequential" in line)
    assert "1.05x whisper-ctranslate2, 0.95x plain" in sequential and "`--batched" not in sequential


def test_packed_folder_is_set_against_each_peer_mode():
    rows = [_row("clips", "wcli", "whisper-cli", 20.0, role="default"), *_peer_rows("clips")]
    packed = next(line for line in report.like_for_like(_result(rows)).splitlines() if "packed" in line)
    assert "whisper-ctranslate2: 5.00x sequential, 2.00x batched; plain: 4.50x sequential, 1.80x batched" in packed


def test_batched_whisper_cli_target_is_judged_against_batched_whisper_ctranslate2():
    rows = [_row("long", "wcli-bs8-vad", "whisper-cli", 38.0, BS8), *_peer_rows("long")]
    report.judge(rows)
    assert rows[0]["vs_wct2"] == pytest.approx(40.0 / 38.0)
    assert "--batched True" in rows[0]["check_basis"]["speed"]


def test_repeats_report_the_median_wall_and_the_largest_peak_rss():
    runs = [{"wall_s": w, "rss_mb": r, "returncode": 0} for w, r in ((3.0, 400), (1.0, 420), (2.0, 410))]
    runs.append({"wall_s": 0.1, "rss_mb": 1, "returncode": 1})  # a failed run counts for neither
    assert measure.summarise(runs) == {"wall_s": 2.0, "rss_mb": 420}


@pytest.mark.parametrize("method", ["gnu-time", "proc-poll"])
def test_child_peak_rss_is_the_childs_not_the_runners(tmp_path, method):
    if method == "gnu-time" and measure.rss_method() != "gnu-time":
        pytest.skip("GNU time is not installed (Debian package `time`)")
    ballast = bytearray(400 * 10**6)  # this runner's high-water mark, which ru_maxrss would fold into the child's
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    child = "b = bytearray(60 * 10**6); b[::4096] = b'y' * len(b[::4096])"
    got = measure.measure([sys.executable, "-c", child], tmp_path / "out.txt", tmp_path / "err.txt", method)
    del ballast
    assert got.returncode == 0
    assert 60 <= got.rss_mb < 250


def test_version_drift_refuses_the_run_unless_allowed(tmp_path, monkeypatch, capsys):
    import run

    fake = tmp_path / "requirements.txt"
    fake.write_text("faster-whisper==0.0.1\nwhisper-ctranslate2==0.0.1\n", encoding="utf-8")
    monkeypatch.setattr(pins, "REQUIREMENTS", fake)
    with pytest.raises(SystemExit, match="installed versions differ"):
        run._check_pins(allow=False)
    assert "faster-whisper" in capsys.readouterr().err
    recorded = run._check_pins(allow=True)
    assert any("faster-whisper" in line and "pins 0.0.1" in line for line in recorded["differences"])


def test_requirements_pin_every_package_to_one_version(tmp_path):
    assert {"faster-whisper", "ctranslate2", "whisper-ctranslate2"} <= set(pins.pinned())
    loose = tmp_path / "requirements.txt"
    loose.write_text("faster-whisper>=1.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not pinned to one version"):
        pins.pinned(loose)

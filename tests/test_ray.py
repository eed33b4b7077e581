"""--executor ray on a real two-node Ray cluster on this machine, with the real tiny.en model.

The cluster runs inside a network namespace of its own with only loopback (`unshare -n`): in the
machine's own namespace Ray's processes talk over the machine's network address even when told
127.0.0.1. tests/ray_cluster.py starts it once, runs every check, stops it, and reports; each test
below asserts one part of that report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from batch_checks import events, temp_files
from same_words import assert_same_words

HERE = Path(__file__).resolve().parent
pytest.importorskip("ray")


def _namespace_allowed() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None or shutil.which("espeak-ng") is None:
        return False
    return subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, shared_samples):
    if not _namespace_allowed():
        pytest.skip("needs `unshare -n` (root, or user namespaces), `ip` and espeak-ng, to keep Ray's traffic on loopback")
    work = tmp_path_factory.mktemp("ray")
    script = f"ip link set lo up && exec {sys.executable} {HERE / 'ray_cluster.py'} {work}"
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=1500, env=os.environ)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), work


def test_ray_run_writes_the_same_tree_and_words_as_a_local_run(cluster_run):
    seen, _ = cluster_run
    assert seen["local"]["rc"] == seen["ray"]["rc"] == 1  # the broken file, in both
    assert sorted(seen["ray_tree"]) == sorted(seen["local_tree"])
    assert "jfk.txt" in seen["ray_tree"] and ".whisper-cli/jfk.json" in seen["ray_tree"]
    for name, words in seen["local_tree"].items():  # Ray packs the clips; the local run read each alone (--no-pack)
        if words is not None:
            assert_same_words(name, " ".join(seen["ray_tree"][name]), " ".join(words))


def test_ray_run_names_the_bad_file_once_and_goes_on(cluster_run):
    seen, _ = cluster_run
    errors = [line for line in seen["ray"]["stderr"].splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.wav" in errors[0]
    assert "3 done, 1 failed" in seen["ray"]["stderr"]


def test_ray_rerun_skips_what_is_done(cluster_run):
    seen, _ = cluster_run
    summary = events(seen["rerun"]["stderr"])[-1]
    assert (summary["done"], summary["skipped"], summary["failed"]) == (0, 3, 1)


def test_actor_killed_mid_file_its_file_is_done_by_another_and_counted_once(cluster_run):
    seen, work = cluster_run
    kill = seen["kill"]
    assert kill["killed"] is not None, "no actor was seen transcribing"
    assert kill["rc"] == 0, kill["stderr"][-2000:]
    summary = events(kill["stderr"])[-1]
    assert (summary["done"], summary["failed"]) == (3, 0)
    assert sorted(event["source"] for event in events(kill["stderr"]) if event["event"] == "done") == [
        str(work / "kill" / f"jfk{index}.flac") for index in range(3)
    ]
    words = " ".join(seen["kill_tree"]["jfk0.txt"])
    for index in range(3):
        assert_same_words(f"jfk{index}.txt", " ".join(seen["kill_tree"][f"jfk{index}.txt"]), words)
    assert temp_files(work / "killed") == []


def test_short_clips_go_to_ray_actors_in_packed_groups(cluster_run):
    """Two actors, three clips: each actor holds the clips it is sent until nothing is left to hand out, so all
    three are begun before any is done (read one at a time, the third would wait for a first to be done)."""
    seen, _ = cluster_run
    order = [event["event"] for event in events(seen["kill"]["stderr"]) if event["event"] in ("started", "done")]
    assert order.index("done") == order.count("started") == 3, order


def test_asking_for_a_gpu_the_cluster_lacks_is_exit_5_before_any_work(cluster_run):
    seen, _ = cluster_run
    assert seen["gpu"]["rc"] == 5
    assert [line for line in seen["gpu"]["stderr"].splitlines() if line.startswith("error:")] == [
        "error: --executor ray: no node of the Ray cluster has 1 CPU and 1 GPU for a worker"
    ]
    assert "Traceback" not in seen["gpu"]["stderr"] and not seen["gpu_written"]


def test_an_address_that_does_not_answer_is_one_line_and_exit_5(cluster_run):
    seen, _ = cluster_run
    gone = seen["unreachable"]
    assert gone["rc"] == 5, gone["stderr"][-2000:]
    lines = gone["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 127.0.0.1:6390: the Ray cluster does not answer"), lines
    assert not seen["unreachable_written"]  # bounded by the script's timeout: ray.init alone retries for minutes


def test_ctrl_c_on_the_driver_exits_130_and_a_rerun_completes_the_rest(cluster_run):
    seen, work = cluster_run
    stopped = seen["interrupt"]
    assert stopped["rc"] == 130, stopped["stderr"][-2000:]
    assert stopped["temps_after"] == [] and temp_files(work / "interrupted") == []
    summary = events(stopped["rerun"]["stderr"])[-1]
    assert stopped["rerun"]["rc"] == 0 and summary["failed"] == 0 and summary["skipped"] >= 1
    assert summary["done"] + summary["skipped"] == 3


def test_sigterm_on_a_run_with_its_own_local_ray_exits_143_and_stops_that_ray(cluster_run):
    """No address: the run starts a Ray of its own (whose SIGTERM handler would exit 1), and stops it on the way out."""
    seen, work = cluster_run
    stopped = seen["local_ray"]
    assert stopped["rc"] == 143, stopped["stderr"][-2000:]
    assert stopped["temps_after"] == [] and temp_files(work / "terminated") == []
    assert events(stopped["stderr"])[-1]["done"] >= 1
    assert stopped["left"] == []

"""--workers and --executor ray (issue 16): files per second, wall time and peak RSS of the whole process tree.

    unshare -n sh -c 'ip link set lo up && .venv/bin/python benchmarks/workers.py'

One run measures two workloads, tiny.en with packing on (Ray packs short clips as --workers does), `-o` to
a fresh folder per run, after one warm-up run:

- "cluster": what a cluster user runs, several minutes a row: workloads.py's folder of 49 short clips plus
  the first 5 minutes of long_audio.py's "talk" recording in two 2.5-minute files (one long file would leave
  a worker alone with it), with local `--workers 1 --cpu-threads 2`, local
  `--workers 2 --cpu-threads 1` and `--executor ray --workers 2 --cpu-threads 1` on a two-node local Ray
  cluster (one CPU per node, started as tests/ray_cluster.py does, BEFORE the timed runs: a cluster user's
  cluster is already up);
- "start-up": one clip (jfk.flac), where the fixed costs are nearly all of the time: local `--workers 2`,
  Ray on the cluster already up, and Ray with no address, which starts a local Ray and stops it after.

It must run inside a network namespace with only loopback (`unshare -n`), so Ray's traffic stays on loopback.

Peak RSS is the largest sum of VmRSS over the driver's process tree plus Ray's actor processes (`ray::`),
polled every 0.1 s: Ray's own daemons (GCS, raylet) are left out, and pages shared between processes count once
per process. CPU seconds are also split by class (the driver, its workers or Ray's actors, Ray's own daemons, the
rest of the machine), from the same polling, so that what Ray's daemons take from the two cores shows. The driver's CPU time (from wait4) per file is the driver's per-file cost, for the README's scaling
estimate. Writes benchmarks/results/workers-<UTC stamp>.json and .md (the table it prints).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a script from anywhere: the sibling modules import by name
sys.path.insert(0, str(HERE.parent / "tests"))

import long_audio  # noqa: E402
import ray_cluster  # noqa: E402
import workloads as wl  # noqa: E402
from run import _cpu_model  # noqa: E402

BIN = Path(sys.executable).parent
ROOT = HERE.parent
RESULTS = HERE / "results"
LONG_RECORDING = "talk"  # long_audio.py's 10-minute recording
LONG_PART_S = 150.0  # two parts of it this long: minutes a row on this shared 2-core machine, not a quarter hour
POLL_S = 0.1
TIMEOUT_S = 1800
WORKERS_1 = ("workers 1 x 2 threads", ("--workers", "1", "--cpu-threads", "2"), None)
WORKERS_2 = ("workers 2 x 1 thread", ("--workers", "2", "--cpu-threads", "1"), None)
RAY_UP = ("ray 2 nodes x 1 thread, cluster up", ("--executor", "ray", "--workers", "2", "--cpu-threads", "1"), "cluster")
RAY_FRESH = ("ray, fresh local Ray x 1 thread", ("--executor", "ray", "--workers", "2", "--cpu-threads", "1"), "fresh")
SETTINGS = {"cluster": (WORKERS_1, WORKERS_2, RAY_UP), "start-up": (WORKERS_2, RAY_UP, RAY_FRESH)}
RAY_OVERHEAD_TARGET = 0.05  # of the local --workers 2 wall time


def cluster_folder(into: Path) -> Path:
    """The 49 short clips of workloads.py (48 made with espeak-ng, plus jfk.flac) and two 2.5-minute recordings."""
    folder = into / "cluster"
    folder.mkdir()
    for clip in wl.clip_folder(False, wl.DEFAULT_SAMPLES).clips:
        shutil.copy(clip.path, folder / clip.path.name)
    talk = long_audio.recording(LONG_RECORDING)
    for name, start in (("talk-1", 0.0), ("talk-2", LONG_PART_S)):
        wl._run(["sox", str(talk.path), str(folder / f"{name}.flac"), "trim", f"{start:.3f}", f"{LONG_PART_S:.3f}"])
    return folder


def startup_folder(into: Path) -> Path:
    folder = into / "start-up"
    folder.mkdir()
    shutil.copy(wl.DEFAULT_SAMPLES / "jfk.flac", folder / "jfk.flac")
    return folder


CLK_TCK = os.sysconf("SC_CLK_TCK")
CPU_CLASSES = ("driver", "workers", "ray daemons", "other")


def _processes() -> dict[int, tuple[int, int, float, bytes]]:
    """pid -> (parent, VmRSS kB, CPU seconds so far, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        found[int(entry.name)] = (int(fields[1]), rss, (int(fields[11]) + int(fields[12])) / CLK_TCK, cmdline)
    return found


def _cpu_class(pid: int, root: int, processes: dict) -> str:
    """The driver; its worker processes or Ray's actors (`ray::`, not idle); Ray's own processes; the rest."""
    if pid == root:
        return "driver"
    cmdline = processes[pid][3]
    if cmdline.startswith(b"ray::") and not cmdline.startswith(b"ray::IDLE"):
        return "workers"
    walk = pid
    while walk not in (root, 0, 1) and walk in processes:
        walk = processes[walk][0]
    if walk == root:
        return "workers"
    return "ray daemons" if b"ray" in cmdline else "other"


class Sampler:
    """Polled while a run goes: the peak of VmRSS summed over the driver's tree plus Ray's actors, and CPU seconds
    by class (what each process used since the run began, as last seen), so that Ray's own daemons show apart."""

    def __init__(self):
        self._before = {pid: info[2] for pid, info in _processes().items()}
        self.peak_kb = 0
        self._cpu: dict[int, tuple[str, float]] = {}

    def sample(self, root: int) -> None:
        processes = _processes()
        rss = 0
        for pid, (_, kb, cpu, _) in processes.items():
            kind = _cpu_class(pid, root, processes)
            if kind in ("driver", "workers"):
                rss += kb
            used = cpu - self._before.get(pid, 0.0)
            if used > 0:
                self._cpu[pid] = (kind, used)
        self.peak_kb = max(self.peak_kb, rss)

    def cpu_s(self) -> dict[str, float]:
        totals = dict.fromkeys(CPU_CLASSES, 0.0)
        for kind, used in self._cpu.values():
            totals[kind] += used
        return {kind: round(seconds, 2) for kind, seconds in totals.items()}


def timed(argv: list[str], env: dict, log: Path) -> dict:
    """Run one CLI invocation: wall time, peak tree RSS, the driver's CPU seconds, CPU by class, exit status."""
    load = os.getloadavg()
    sampler = Sampler()
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        status, usage = None, None
        deadline = start + TIMEOUT_S
        while status is None:
            sampler.sample(proc.pid)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == 0:
                status = None
                if time.perf_counter() > deadline:
                    proc.kill()
                time.sleep(POLL_S)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(sampler.peak_kb * 1024 / 1e6, 1), "rc": proc.returncode,
            "driver_cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "cpu_s": sampler.cpu_s(),
            "load_before": [round(x, 2) for x in load]}


def run_row(workload: str, folder: Path, setting: tuple, work: Path, env: dict) -> dict:
    name, flags, _ = setting
    out = Path(tempfile.mkdtemp(prefix="out-", dir=work))
    argv = [str(BIN / "transcribe"), str(folder), "-o", str(out), "--model", "tiny.en", *flags]
    files = len([p for p in folder.iterdir() if p.is_file()])
    row = {"workload": workload, "setting": name, "argv": argv[1:], "files": files,
           **timed(argv, env, work / f"{workload}-{name.replace(' ', '_')}.log")}
    row["files_per_s"] = round(files / row["wall_s"], 3)
    row["outputs"] = len([p for p in out.rglob("*.txt")])
    print(f"{workload:8} {name:36} {row['wall_s']:7.1f} s rc={row['rc']} load {row['load_before'][0]}", file=sys.stderr)
    return row


def targets(rows: list[dict]) -> list[dict]:
    found = {(r["workload"], r["setting"]): r for r in rows}
    one, two, ray = (found[("cluster", s[0])] for s in SETTINGS["cluster"])
    overhead = (ray["wall_s"] - two["wall_s"]) / two["wall_s"]
    checks = [
        {"workload": "cluster", "target": "ray (cluster up) overhead <= 5% of local --workers 2 wall",
         "measured": f"{overhead:+.1%} ({ray['wall_s'] - two['wall_s']:+.1f} s)", "met": overhead <= RAY_OVERHEAD_TARGET},
        {"workload": "cluster", "target": "--workers 2 not slower than --workers 1",
         "measured": f"{two['files_per_s']:.3f} vs {one['files_per_s']:.3f} files/s", "met": two["wall_s"] <= one["wall_s"]},
    ]
    two, up, fresh = (found[("start-up", s[0])] for s in SETTINGS["start-up"])
    checks.append({"workload": "start-up", "target": "fixed cost of Ray (cluster up) over local --workers 2 (no target)",
                   "measured": f"{up['wall_s'] - two['wall_s']:+.1f} s", "met": None})
    checks.append({"workload": "start-up", "target": "fixed cost of a fresh local Ray over local --workers 2 (no target)",
                   "measured": f"{fresh['wall_s'] - two['wall_s']:+.1f} s", "met": None})
    per_file = (ray["driver_cpu_s"] - up["driver_cpu_s"]) / (ray["files"] - up["files"])
    checks.append({"workload": "cluster", "target": "Ray driver's CPU per file, its start-up taken off (no target)",
                   "measured": f"{per_file:.3f} s ({up['driver_cpu_s']:.1f} s fixed)", "met": None})
    return checks


def markdown(result: dict) -> str:
    lines = ["| workload | setting | files | wall s | files/s | peak RSS MB (tree) | CPU s (driver + children it waited for) "
             "| CPU s: driver / workers / Ray's daemons / other | load before (1 min) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        by_class = " / ".join(f"{r['cpu_s'][kind]:.1f}" for kind in CPU_CLASSES)
        lines.append(f"| {r['workload']} | {r['setting']} | {r['files']} | {r['wall_s']:.1f} | {r['files_per_s']:.3f} "
                     f"| {r['peak_rss_mb']:.0f} | {r['driver_cpu_s']:.1f} | {by_class} "
                     f"| {r['load_before'][0]:.2f} |")
    lines += ["", "| workload | target | measured | met |", "|---|---|---|---|"]
    met = {True: "yes", False: "no", None: "-"}
    lines += [f"| {t['workload']} | {t['target']} | {t['measured']} | {met[t['met']]} |" for t in result["targets"]]
    return "\n".join(lines) + "\n"


def measure_all(folders: dict, work: Path) -> list[dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    warm = run_row("start-up", folders["start-up"], WORKERS_2, work, env)
    print(f"warm-up {warm['wall_s']} s", file=sys.stderr)
    ray_temp = Path(tempfile.mkdtemp(prefix="wcb", dir="/tmp"))  # short: Ray's socket paths live under it
    rows = []
    try:
        ray_cluster.start_cluster(ray_temp)  # up before any timed run, as a cluster user's is
        ray_env = {**env, "RAY_ADDRESS": f"127.0.0.1:{ray_cluster.PORT}"}
        for workload, folder in folders.items():
            for setting in SETTINGS[workload]:
                if setting[2] != "fresh":
                    rows.append(run_row(workload, folder, setting, work, ray_env if setting[2] == "cluster" else env))
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=300)
        shutil.rmtree(ray_temp, ignore_errors=True)
    # Once the cluster is stopped: a Ray started with no address would join one that runs here.
    for workload, folder in folders.items():
        rows += [run_row(workload, folder, setting, work, env) for setting in SETTINGS[workload] if setting[2] == "fresh"]
    return rows


def main() -> None:
    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="workers-bench-"))
    folders = {"start-up": startup_folder(work), "cluster": cluster_folder(work)}
    load_start = os.getloadavg()
    rows = measure_all(folders, work)
    result = {
        "started": started,
        "command": "unshare -n sh -c 'ip link set lo up && .venv/bin/python benchmarks/workers.py'",
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "machine": {"cpu_model": _cpu_model(), "logical_cpus": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                    "load_start": [round(x, 2) for x in load_start], "load_end": [round(x, 2) for x in os.getloadavg()]},
        "workloads": {k: sorted(p.name for p in v.iterdir()) for k, v in folders.items()},
        "audio_s": {k: round(sum(wl._duration_s(p) for p in v.iterdir()), 1) for k, v in folders.items()},
        "notes": "tiny.en int8 CPU, packing on; peak RSS is summed VmRSS of the driver's tree plus ray:: actors",
        "rows": rows,
    }
    result["targets"] = targets(rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"workers-{started}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (RESULTS / f"workers-{started}.md").write_text(f"`{result['command']}`\n\n" + markdown(result), encoding="utf-8")
    print(markdown(result))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

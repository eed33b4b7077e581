"""How every benchmark script times a child process and reads its peak memory: one method for all of them.

Wall time runs from spawn to exit. Peak RSS is GNU time's %M for that one process (Debian package `time`), else
VmHWM polled from /proc/PID/status. Not wait4's ru_maxrss of a child Python spawns: Linux folds the spawning
process's own high-water mark into it at exec (vfork shares our memory), so every child would weigh at least as
much as the runner. For the same reason a child that reports its own memory reads VmHWM (`own_peak_kb`), not
getrusage's ru_maxrss. Repeated runs are summarised as the median wall time and the largest peak RSS.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

GNU_TIME = "/usr/bin/time"
TIMEOUT_S = 3600  # one child process; the slowest full-suite run takes a few minutes
RSS_NOTE = "peak RSS: GNU time %M of the process (else /proc VmHWM polled); MB = 10^6 bytes; largest over the runs"


@dataclass
class Measurement:
    wall_s: float
    rss_mb: float  # peak resident set size of the child, 10^6 bytes
    returncode: int
    load_before: float  # 1-minute load average when the child started
    timeline: Optional[list] = None  # [(seconds since spawn, VmRSS MB)], when asked for


def rss_method() -> str:
    """How peak RSS is read: "gnu-time" when installed (Debian package `time`), else "proc-poll"."""
    try:
        done = subprocess.run([GNU_TIME, "--version"], capture_output=True, text=True)
    except OSError:
        return "proc-poll"
    return "gnu-time" if "GNU" in done.stdout + done.stderr else "proc-poll"


def measure(
    argv: list[str],
    stdout_path: Path,
    stderr_path: Path,
    method: str,
    timeout_s: float = TIMEOUT_S,
    env: Optional[dict] = None,
    timeline_every_s: Optional[float] = None,
) -> Measurement:
    """Run one child process with stdout and stderr in files: its wall time and peak RSS."""
    env = dict(env if env is not None else os.environ, HF_HUB_OFFLINE="1")  # no contender may reach the network
    load = os.getloadavg()[0]
    rss_file = stderr_path.with_name(stderr_path.stem + ".rss.txt")
    command = [GNU_TIME, "-q", "-f", "%M", "-o", str(rss_file), *argv] if method == "gnu-time" else argv
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        start = time.perf_counter()
        # Its own process group, so a timeout or Ctrl-C ends the contender too, not only GNU time above it.
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True)
        poller = _Poller(proc.pid, wrapped=method == "gnu-time", timeline_every_s=timeline_every_s)
        try:
            returncode = proc.wait(timeout=timeout_s)
        except BaseException:  # the timeout, or Ctrl-C
            os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
            poller.stop()
            if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                raise
        wall = time.perf_counter() - start
    polled_kb = poller.stop()
    if method == "gnu-time":
        lines = rss_file.read_text().split() if rss_file.is_file() else []
        peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    else:
        peak_kb = polled_kb
    return Measurement(wall, peak_kb * 1024 / 1e6, returncode, load, poller.timeline if timeline_every_s else None)


def summarise(runs: list[dict]) -> dict:
    """The figures reported for repeated runs of one setting: median wall time, largest peak RSS."""
    good = [r for r in runs if r.get("returncode", 0) == 0]
    if not good:
        return {}
    return {"wall_s": statistics.median(r["wall_s"] for r in good), "rss_mb": max(r["rss_mb"] for r in good)}


def own_peak_kb() -> int:
    """This process's peak RSS in KiB (VmHWM), for a child that reports its own memory: see the module docstring."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class _Poller:
    """Reads VmHWM (peak RSS) and optionally VmRSS of the measured process from /proc until stopped.

    Under GNU time the measured process is GNU time's child, found in /proc/PID/task/PID/children.
    """

    INTERVAL_S = 0.005

    def __init__(self, pid: int, wrapped: bool, timeline_every_s: Optional[float]):
        self._pid, self._wrapped = pid, wrapped
        self._every = timeline_every_s
        self._started = time.perf_counter()
        self._peak_kb = 0
        self.timeline: list = []
        self._done = threading.Event()
        self._thread = None
        if not wrapped or timeline_every_s:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def _target(self) -> Optional[int]:
        if not self._wrapped:
            return self._pid
        try:
            children = Path(f"/proc/{self._pid}/task/{self._pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def _poll(self) -> None:
        last_sample = -1e9
        while not self._done.is_set():
            pid = self._target()
            fields = _status_kb(pid) if pid else {}
            self._peak_kb = max(self._peak_kb, fields.get("VmHWM", 0))
            now = time.perf_counter() - self._started
            if self._every and "VmRSS" in fields and now - last_sample >= self._every:
                self.timeline.append((round(now, 2), round(fields["VmRSS"] * 1024 / 1e6, 1)))
                last_sample = now
            self._done.wait(self.INTERVAL_S if not self._wrapped else min(self._every or 1.0, 0.25))

    def stop(self) -> int:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        return self._peak_kb


def _status_kb(pid: int) -> dict:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            try:
                out[key] = int(value.split()[0])
            except (ValueError, IndexError):
                pass
    return out

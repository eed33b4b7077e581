"""The Ray cluster checks, run as one script inside a network namespace of its own (tests/test_ray.py).

Starts a real two-node Ray cluster on loopback (`ray start --head` plus a second `ray start`, one CPU
each), runs the CLI against it, stops it, and prints one JSON object of what it saw for the test to
assert on. One cluster start serves every check, since starting Ray is the slow part.

    python tests/ray_cluster.py WORKDIR   (inside `unshare -n`, after `ip link set lo up`)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Without this, a Ray that ray.init() starts (a run with no address) turns on Ray's token auth and writes
# ~/.ray/auth_token; every later `ray start --head` then asks for the token, which `ray start --address` does
# not send. These clusters live in a namespace of their own with only loopback.
os.environ["RAY_AUTH_MODE"] = "disabled"
BIN = Path(sys.executable).parent
SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"
PORT = 6390
TIMEOUT_S = 600


def tree(out: Path) -> dict:
    """Every file's path and, for transcripts, its words; records by name only (they carry timings)."""
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            rel = path.relative_to(out).as_posix()
            words = [word.strip(".,?!").lower() for word in path.read_text().split()]
            files[rel] = words if path.suffix == ".txt" else None
    return files


def cli(*args: str, env: dict | None = None, timeout: float = TIMEOUT_S) -> dict:
    started = time.monotonic()
    done = subprocess.run([str(BIN / "transcribe"), *args], capture_output=True, text=True, timeout=timeout, env=env)
    return {"rc": done.returncode, "stderr": done.stderr, "seconds": time.monotonic() - started}


def ray(*args: str) -> None:
    done = subprocess.run([str(BIN / "ray"), *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)}: {done.stdout[-1500:]}{done.stderr[-1500:]}")


def start_cluster(temp: Path) -> None:
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(80 * 1024 * 1024), "--disable-usage-stats"]
    ray("start", "--head", "--port", str(PORT), "--include-dashboard=false", "--temp-dir", str(temp), *common)
    ray("start", "--address", f"127.0.0.1:{PORT}", "--temp-dir", str(temp), *common)


def kill_an_actor_mid_file(folder: Path, out: Path, env: dict) -> dict:
    """SIGKILL the first actor process seen transcribing (or reading clips it held in one packed group); the run
    must still finish every file."""
    driver = subprocess.Popen(
        [str(BIN / "transcribe"), str(folder), "-o", str(out), "--model", "tiny.en", "--executor", "ray", "--log-format", "jsonl"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )
    killed, deadline = None, time.monotonic() + TIMEOUT_S
    while killed is None and driver.poll() is None and time.monotonic() < deadline:
        listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        busy = [line.split()[0] for line in listing.splitlines() if "ray::RayWorker.handle" in line]
        if busy:
            killed = int(busy[0])
            os.kill(killed, 9)
        time.sleep(0.05)
    _, stderr = driver.communicate(timeout=TIMEOUT_S)
    return {"rc": driver.returncode, "stderr": stderr, "killed": killed}


def interrupt_after_first_file(folder: Path, out: Path, env: dict, signum: int = signal.SIGINT, rerun: bool = True) -> dict:
    """`signum` to the driver once one file is done (SIGINT: as Ctrl-C would), then a re-run of the same folder. One
    actor and --no-pack, so that files are done one at a time (packed, the three clips are done at once)."""
    args = (str(folder), "-o", str(out), "--model", "tiny.en", "--executor", "ray", "--log-format", "jsonl", "--no-pack")
    driver = subprocess.Popen([str(BIN / "transcribe"), *args, "--workers", "1"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines = []
    for line in driver.stderr:
        lines.append(line)
        if '"event": "done"' in line:
            driver.send_signal(signum)
            break
    rest = driver.communicate(timeout=TIMEOUT_S)[1]
    temps = sorted(p.name for p in out.rglob("*") if "whisper-cli-partial" in p.name)
    if not rerun:
        return {"rc": driver.returncode, "stderr": "".join(lines) + (rest or ""), "temps_after": temps}
    rerun = cli(*args, env=env)  # the same settings (--no-pack is one of them in the records), two actors
    return {"rc": driver.returncode, "stderr": "".join(lines) + (rest or ""), "temps_after": temps, "rerun": rerun}


def ray_left_running() -> list[str]:
    """Processes of a Ray the CLI started (its temp folder is in their arguments), given a while to end."""
    deadline = time.monotonic() + 30
    while True:
        listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        left = [line for line in listing.splitlines() if "whisper-cli-ray-" in line]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def main(work: Path) -> dict:
    folder, kill_folder = work / "in", work / "kill"
    folder.mkdir()
    kill_folder.mkdir()
    shutil.copy(SAMPLES / "jfk.flac", folder / "jfk.flac")
    for name, text in (("hello", "hello there, this is a short test"), ("numbers", "one two three four five")):
        subprocess.run(["espeak-ng", "-w", str(folder / f"{name}.wav"), text], check=True, timeout=60)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all" * 10)
    for index in range(3):
        shutil.copy(SAMPLES / "jfk.flac", kill_folder / f"jfk{index}.flac")
    seen: dict = {}
    seen["local"] = cli(str(folder), "-o", str(work / "local"), "--model", "tiny.en", "--no-pack")
    seen["local_tree"] = tree(work / "local")
    # Short: Ray's unix sockets live under it, and a socket path has at most 107 characters.
    ray_temp = Path(tempfile.mkdtemp(prefix="wcr", dir="/tmp"))
    address = f"127.0.0.1:{PORT}"
    try:
        start_cluster(ray_temp)
        env = {**os.environ, "RAY_ADDRESS": address}
        seen["ray"] = cli(str(folder), "-o", str(work / "ray"), "--model", "tiny.en", "--executor", "ray", env=env)
        seen["ray_tree"] = tree(work / "ray")
        seen["rerun"] = cli(str(folder), "-o", str(work / "ray"), "--model", "tiny.en", "--executor", "ray", "--log-format", "jsonl", env=env)
        seen["kill"] = kill_an_actor_mid_file(kill_folder, work / "killed", env)
        seen["kill_tree"] = tree(work / "killed")
        seen["interrupt"] = interrupt_after_first_file(kill_folder, work / "interrupted", env)
        seen["gpu"] = cli(str(folder), "-o", str(work / "gpu"), "--model", "tiny.en", "--executor", "ray", "--device", "cuda", env=env)
        seen["gpu_written"] = (work / "gpu").exists() and any((work / "gpu").iterdir())
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=TIMEOUT_S)
        shutil.rmtree(ray_temp, ignore_errors=True)
    # No address, no cluster: a Ray of its own, started for the run and stopped by it, also after a SIGTERM.
    before = set(Path(tempfile.gettempdir()).glob("whisper-cli-ray-*"))
    seen["local_ray"] = interrupt_after_first_file(kill_folder, work / "terminated", dict(os.environ), signal.SIGTERM, rerun=False)
    seen["local_ray"]["left"] = ray_left_running() + [str(p) for p in set(Path(tempfile.gettempdir()).glob("whisper-cli-ray-*")) - before]
    # Nothing answers here now: the cluster is stopped.
    seen["unreachable"] = cli(str(folder), "-o", str(work / "none"), "--model", "tiny.en", "--executor", "ray", "--ray-address", address, timeout=180)
    seen["unreachable_written"] = (work / "none").exists()
    return seen


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))

"""A refactor's before/after check: the same workloads through an older source tree and this one, alternating.

    git worktree add --detach ../old 17258ab && .venv/bin/python benchmarks/before_after.py ../old [repeats]

PYTHONPATH picks which source tree this venv runs, so both use the same packages; outputs are compared text for
text, wall times as medians. Prints a markdown table.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
TREES = {f"before ({Path(sys.argv[1]).name})": str(Path(sys.argv[1]).resolve()), "after (this tree)": str(REPO)}
SHARED = REPO.parent / "shared" / "samples"
WORK = Path(tempfile.mkdtemp(prefix="before-after-"))
clips = WORK / "clips"; clips.mkdir()
for f in ["jfk.flac", "hotwords.mp3", "stereo_diarization.wav"]:
    shutil.copy(SHARED / f, clips / f)
for f in (REPO / "samples").glob("*.*"):
    if f.suffix in (".flac", ".ogg", ".wav", ".mp3"):
        shutil.copy(f, clips / f.name)
WORKLOADS = {
    "short file (jfk.flac, txt to stdout)": lambda out: ["--model", "tiny.en", str(SHARED / "jfk.flac")],
    "short file (multilingual.mp3, base, json)": lambda out: ["--model", "base", "-f", "json", str(SHARED / "multilingual.mp3")],
    f"clip folder ({len(list(clips.iterdir()))} clips, packed, txt)": lambda out: ["--model", "tiny.en", str(clips), "-o", str(out), "--quiet"],
}
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
rows = []
for name, args in WORKLOADS.items():
    times = {tree: [] for tree in TREES}
    texts = {}
    for r in range(REPEATS):
        for tree, path in TREES.items():
            out = WORK / f"out-{abs(hash(tree))}-{r}"
            env = dict(os.environ, PYTHONPATH=path)
            start = time.perf_counter()
            done = subprocess.run([PY, "-m", "whisper_cli", *args(out)], capture_output=True, text=True, env=env, cwd=path)
            times[tree].append(time.perf_counter() - start)
            assert done.returncode == 0, (tree, done.stderr[-500:])
            text = done.stdout
            if out.exists():
                text = "".join(p.read_text() for p in sorted(out.glob("*.txt")))
            if name.startswith("short file (multilingual"):
                text = json.dumps([s["text"] for s in json.loads(done.stdout)["segments"]])
            texts.setdefault(tree, text)
    same = len(set(texts.values())) == 1
    rows.append((name, *(statistics.median(times[t]) for t in TREES), same))
print(f"load average: {os.getloadavg()}")
print("| workload | " + " | ".join(f"{t} median s" for t in TREES) + " | after / before | same text |")
print("|---|---:|---:|---:|---|")
for name, before, after, same in rows:
    print(f"| {name} | {before:.2f} | {after:.2f} | {after / before:.2f} | {'yes' if same else 'NO'} |")
shutil.rmtree(WORK, ignore_errors=True)

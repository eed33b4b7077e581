"""Security: outputs stay inside the output folder whatever the input names; no shell, no unpickling of
user files; offline runs open no socket; FFmpeg never reads a file name as a URL."""

from __future__ import annotations

import ast
import os
import shutil
import socket
from pathlib import Path

import pytest

from conftest import REPO, SAMPLES
from whisper_cli.errors import ExitCode

HELLO = SAMPLES / "hello.flac"
PACKAGE = REPO / "whisper_cli"


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if not path.is_dir()}


def outputs(folder: Path) -> set[str]:
    """Output files under `folder`, less batch mode's records (kept in a hidden sub-folder)."""
    return {name for name in files_under(folder) if not name.startswith(".whisper-cli" + os.sep)}


def assert_all_inside(out: Path) -> None:
    root = os.path.realpath(out)
    for path in out.rglob("*"):
        assert os.path.commonpath([root, os.path.realpath(path)]) == root, path


# --- output paths --------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path) -> Path:
    """sandbox/{work/in, outside, out}: the CLI runs in work/ and may only write into out/."""
    for folder in ("work/in", "outside"):
        (tmp_path / folder).mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    "argument",
    [
        "../outside/up.flac",
        "ABSOLUTE",
        "in/../../outside/dotdot.flac",
        "link-out.flac",
        "..flac",
        "...flac",
        ".hidden.flac",
    ],
)
def test_single_file_output_lands_inside_the_output_folder_whatever_the_input_path(argument, sandbox, run_cli, monkeypatch):
    work = sandbox / "work"
    shutil.copy(HELLO, sandbox / "outside" / "up.flac")
    shutil.copy(HELLO, sandbox / "outside" / "dotdot.flac")
    shutil.copy(HELLO, sandbox / "outside" / "target.flac")
    (work / "link-out.flac").symlink_to(sandbox / "outside" / "target.flac")  # a symlink pointing outside
    for name in ("..flac", "...flac", ".hidden.flac"):
        shutil.copy(HELLO, work / name)
    if argument == "ABSOLUTE":
        argument = str(sandbox / "outside" / "up.flac")
    outside_before = files_under(sandbox / "outside")
    monkeypatch.chdir(work)

    run_cli("--model", "tiny.en", "-o", sandbox / "out", "--", argument)

    assert_all_inside(sandbox / "out")
    written = outputs(sandbox / "out")
    assert len(written) == 1 and next(iter(written)).endswith(".txt"), written
    assert "/" not in next(iter(written)), "a single file's output goes straight into the output folder"
    assert files_under(sandbox / "outside") == outside_before
    assert files_under(work) == {"link-out.flac", "..flac", "...flac", ".hidden.flac"}


def test_several_files_from_everywhere_all_land_inside_the_output_folder(sandbox, run_cli, monkeypatch):
    work = sandbox / "work"
    shutil.copy(HELLO, sandbox / "outside" / "up.flac")
    shutil.copy(HELLO, sandbox / "outside" / "target.flac")
    shutil.copy(HELLO, work / "in" / "here.flac")
    (work / "in" / "link-out.flac").symlink_to(sandbox / "outside" / "target.flac")
    outside_before = files_under(sandbox / "outside")
    monkeypatch.chdir(work)

    run_cli(
        "--model", "tiny.en", "-o", sandbox / "out", "--",
        "../outside/up.flac", str(sandbox / "outside" / "target.flac"), "in/here.flac", "in/link-out.flac",
        "in/../../outside/up.flac",
    )

    assert_all_inside(sandbox / "out")
    assert len(outputs(sandbox / "out")) >= 3  # each distinct name once; the same file twice may be one
    assert files_under(sandbox / "outside") == outside_before
    assert files_under(work / "in") == {"here.flac", "link-out.flac"}


def test_symlink_in_the_output_folder_is_replaced_not_followed(sandbox, run_cli):
    victim = sandbox / "outside" / "precious.txt"
    victim.write_text("do not overwrite\n")
    out = sandbox / "out"
    out.mkdir()
    (out / "hello.txt").symlink_to(victim)  # planted where the output will be written

    run_cli(HELLO, "--model", "tiny.en", "-o", out)

    assert victim.read_text() == "do not overwrite\n"
    assert not (out / "hello.txt").is_symlink() and "transcribed" in (out / "hello.txt").read_text()


# --- symbolic links inside the output folder -------------------------------------------------------

MODEL = ("--model", "tiny.en", "--device", "cpu", "--compute-type", "int8")


def refusal(out: Path, link: str, target: Path) -> str:
    return f"error: {out / link}: symbolic link to {os.path.realpath(target)}, outside {out}: refusing to write through it"


@pytest.fixture
def nested(sandbox) -> Path:
    """work/in/{a,b,c}/*.flac: a batch whose outputs go to out/a, out/b and out/c."""
    for folder in ("a", "b", "c"):
        (sandbox / "work" / "in" / folder).mkdir()
        shutil.copy(HELLO, sandbox / "work" / "in" / folder / f"{folder}.flac")
    return sandbox / "work" / "in"


@pytest.mark.parametrize("link", ["b", ".whisper-cli", "b/.whisper-cli"], ids=["output folder", "record folder", "nested record folder"])
def test_symlink_in_the_output_folder_leading_outside_is_refused_with_exit_4(link, sandbox, nested, run_cli):
    out = sandbox / "out"
    (out / link).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(HELLO, nested / "top.flac")  # its record goes to out/.whisper-cli
    (out / link).symlink_to(sandbox / "outside")
    result = run_cli(nested, "-o", out, *MODEL, expect=ExitCode.OUTPUT)
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [refusal(out, link, sandbox / "outside")]
    assert "Traceback" not in result.stderr
    assert files_under(sandbox / "outside") == set(), "nothing written through the link"
    assert outputs(out) == set(), "refused before anything was written"


def test_symlink_that_stays_inside_the_output_folder_is_followed(sandbox, nested, run_cli):
    out = sandbox / "out"
    (out / "real-b").mkdir(parents=True)
    (out / "b").symlink_to(out / "real-b")
    run_cli(nested, "-o", out, *MODEL)
    assert "transcribed" in (out / "real-b" / "b.txt").read_text()
    assert_all_inside(out)


def test_symlink_made_between_planning_and_writing_is_refused(sandbox, nested, run_cli, monkeypatch):
    from whisper_cli import batch

    out = sandbox / "out"
    real_plan = batch.plan

    def plan_then_link(*args, **kwargs):
        jobs = real_plan(*args, **kwargs)
        out.mkdir(exist_ok=True)
        (out / "c").symlink_to(sandbox / "outside")  # as another process could, once the plan is made
        return jobs

    monkeypatch.setattr(batch, "plan", plan_then_link)
    result = run_cli(nested, "-o", out, *MODEL, "--no-pack", expect=ExitCode.OUTPUT)
    assert refusal(out, "c", sandbox / "outside") in result.stderr.splitlines()
    assert files_under(sandbox / "outside") == set()
    assert "transcribed" in (out / "a" / "a.txt").read_text(), "inputs before the link are done"


def test_symlink_made_while_the_batch_runs_is_refused(sandbox, nested, tmp_path):
    """A real process: out/c becomes a link to outside/ once the first input is done (its jsonl `done` event),
    while the long second input is transcribed."""
    import json
    import subprocess
    import sys

    long_input = nested / "b" / "b.flac"  # about 38 s: three times forecast.ogg, so out/c is made long before its turn
    forecast = str(SAMPLES / "forecast.ogg")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", forecast, "-i", forecast, "-i", forecast,
         "-filter_complex", "concat=n=3:v=0:a=1", str(long_input)],
        check=True,
    )
    out = sandbox / "out"
    command = [sys.executable, "-m", "whisper_cli", str(nested), "-o", str(out), *MODEL, "--no-pack", "--log-format", "jsonl"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if line.startswith("{") and json.loads(line)["event"] == "done":
                (out / "c").symlink_to(sandbox / "outside")
                break
        lines.extend(process.stderr)
        assert process.wait(timeout=300) == ExitCode.OUTPUT, "".join(lines)
    finally:
        process.kill()
    assert refusal(out, "c", sandbox / "outside") + "\n" in lines
    assert files_under(sandbox / "outside") == set()
    assert "transcribed" in (out / "a" / "a.txt").read_text() and (out / "b" / "b.txt").read_text().strip()


# --- no shell, no unpickling ---------------------------------------------------------------------

SHELL_CALLS = {("os", "system"), ("os", "popen"), ("os", "execl"), ("os", "execlp"), ("os", "spawnl"),
               ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"), ("pty", "spawn")}
UNSAFE_LOADS = {("torch", "load"), ("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"), ("yaml", "load"),
                ("joblib", "load"), ("dill", "load"), ("shelve", "open")}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "joblib"}
SUBPROCESS_RUNNERS = {"run", "Popen", "call", "check_call", "check_output"}


def package_sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))  # serve/ too


def dotted(node: ast.AST) -> tuple[str, ...]:
    """`os.path.join` -> ("os", "path", "join"); empty when the call target is not a plain name chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return ()


def shell_and_pickle_uses(source: Path) -> list[str]:
    """Each call or import in `source` that could run a shell or unpickle, as "line N: what"."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            problems += [f"line {node.lineno}: imports {name}" for name in names if name.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        target = dotted(node.func)
        where = f"line {node.lineno}: {'.'.join(target)}"
        if target[-2:] in SHELL_CALLS or target[-2:] in UNSAFE_LOADS or target[-1:] in (("eval",), ("exec",)):
            problems.append(where)
        for keyword in node.keywords:
            # Typer's get_completion_script(shell="bash") names the shell to write a script for; it runs nothing.
            if target[-1:] == ("get_completion_script",):
                continue
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                problems.append(f"{where} with shell=")
            if keyword.arg == "allow_pickle" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                problems.append(f"{where} with allow_pickle=")
        # A subprocess command must be an argument list: a string would be split by a shell or not at all.
        if target[:1] == ("subprocess",) and target[-1] in SUBPROCESS_RUNNERS and node.args:
            if isinstance(node.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
                problems.append(f"{where} with a command string")
    return problems


@pytest.mark.parametrize("source", package_sources(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_package_never_runs_a_shell_or_unpickles(source):
    assert shell_and_pickle_uses(source) == []


def test_the_shell_check_catches_what_it_looks_for(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import os, pickle, subprocess, torch\n"
        "os.system('ls ' + name)\n"
        "subprocess.run(f'ffmpeg -i {name}', shell=True)\n"
        "torch.load(path)\n"
    )
    found = " | ".join(shell_and_pickle_uses(sample))
    for expected in ("imports pickle", "os.system", "shell=", "command string", "torch.load"):
        assert expected in found, expected


def test_package_text_has_no_shell_escape_hatches():
    # The plain grep the issue asks for, beside the AST check above (which also sees aliases and keywords).
    for source in package_sources():
        text = source.read_text(encoding="utf-8")
        for needle in ("shell=True", "os.system(", "os.popen(", "pickle", "torch.load("):
            assert needle not in text, f"{source.name}: {needle}"


# --- FFmpeg and file names -----------------------------------------------------------------------


def test_a_file_named_like_a_url_is_read_as_a_file_not_fetched(run_cli, tmp_path, monkeypatch):
    # FFmpeg reads "http:host:port" as a URL; a file with that name must be opened as the file it is.
    shutil.copy(HELLO, tmp_path / "http:127.0.0.1:9")
    shutil.copy(HELLO, tmp_path / "concat:hello.flac|hello.flac")
    monkeypatch.chdir(tmp_path)
    for name in ("http:127.0.0.1:9", "concat:hello.flac|hello.flac"):
        result = run_cli("--model", "tiny.en", "--", name)
        assert "transcribed" in result.stdout


# --- offline means offline -----------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Fail (and record) any attempt to resolve a name or open a connection in this process."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("this test allows no network")

    for owner, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"), (socket, "create_connection"),
                        (socket, "getaddrinfo"), (socket, "gethostbyname")):
        monkeypatch.setattr(owner, name, refuse)
    return attempts


def run_main(monkeypatch, capsysbinary, *args: str) -> tuple[int, str]:
    """The real entry point, resolving and loading the model itself (no fixture shortcut)."""
    import sys

    from whisper_cli.cli import main

    monkeypatch.setattr(sys, "argv", ["transcribe", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsysbinary.readouterr().err.decode()


@pytest.mark.parametrize("how", ["--offline", "HF_HUB_OFFLINE=1"])
def test_offline_run_on_the_bundled_model_opens_no_socket(how, no_network, monkeypatch, capsysbinary):
    if how == "--offline":
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        flags = ["--offline"]
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        flags = []

    code, err = run_main(monkeypatch, capsysbinary, str(HELLO), "--model", "tiny.en", *flags)
    assert code == ExitCode.OK, err

    # A model that is neither bundled nor cached: refused at once, still without a socket.
    code, err = run_main(monkeypatch, capsysbinary, str(HELLO), "--model", "small", *flags)
    assert code == ExitCode.MODEL and "offline" in err
    assert no_network == []

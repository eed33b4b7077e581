"""The usual shell conventions, through the real entry points: -h, --version, completion, usage errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES

BIN = Path(sys.executable).parent
HELLO = SAMPLES / "hello.flac"


def _run(program: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / program), *args], capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.parametrize("argv", [["transcribe"], ["whisper-cli"], ["whisper-cli", "transcribe"], ["whisper-cli", "probe"]])
def test_dash_h_is_help(argv):
    short, long = _run(*argv, "-h"), _run(*argv, "--help")
    assert short.returncode == long.returncode == 0
    assert short.stdout == long.stdout and short.stdout.startswith("Usage: ")
    assert "-h, --help" in short.stdout


@pytest.mark.parametrize("program", ["transcribe", "whisper-cli"])
def test_version(program):
    from whisper_cli import __version__

    done = _run(program, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"whisper-cli {__version__}\n", "")


@pytest.mark.parametrize(
    "args, line",
    [
        (["bogus"], "error: bogus: no such command"),
        (["prob"], "error: prob: no such command (did you mean probe?)"),
        (["probe", "extra"], "error: extra: unexpected argument (see whisper-cli probe --help)"),
        (["probe", "--devic", "cpu"], "error: --devic: no such option (did you mean --device?)"),
        (["completion"], "error: SHELL: missing argument"),
        (["completion", "tcsh"], "error: SHELL: 'tcsh' is not one of 'bash', 'zsh', 'fish'"),
        (["transcribe", str(HELLO), "--bogus"], "error: --bogus: no such option"),
    ],
)
def test_whisper_cli_usage_errors_are_one_line_and_exit_2(args, line):
    done = _run("whisper-cli", *args)
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (2, [line], "")


def test_bash_completion_completes_options_and_commands(tmp_path):
    """The script `whisper-cli completion bash` prints, sourced into a real bash, completes both programs."""
    script = (
        'eval "$(whisper-cli completion bash)"\n'
        "COMP_WORDS=(transcribe --beam-si); COMP_CWORD=1; _transcribe_completion transcribe; echo \"T:${COMPREPLY[*]}\"\n"
        "COMP_WORDS=(whisper-cli pro); COMP_CWORD=1; _whisper_cli_completion whisper-cli; echo \"W:${COMPREPLY[*]}\"\n"
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "T:--beam-size" in done.stdout.splitlines() and "W:probe" in done.stdout.splitlines(), done.stdout


@pytest.mark.parametrize("shell, marker", [("zsh", "#compdef transcribe"), ("fish", "complete --command transcribe")])
def test_completion_scripts_for_zsh_and_fish(shell, marker):
    done = _run("whisper-cli", "completion", shell)
    assert done.returncode == 0 and marker in done.stdout and "whisper-cli" in done.stdout


def test_typers_completion_flags_are_offered():
    help_text = _run("transcribe", "--help").stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text


def test_mistyped_model_is_a_usage_error_before_any_decoding(tmp_path):
    """Exit 2 and the nearest size, even when the input is bad too: nothing was decoded or loaded."""
    done = _run("transcribe", str(tmp_path / "missing.wav"), "-m", "smal")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: --model: unknown model 'smal': not a size name, a model folder or a repo id (did you mean small?)"
    ]


def test_existing_model_that_fails_to_load_stays_exit_3(tmp_path):
    model = tmp_path / "smal"  # a folder of that name is taken as the folder, not as a typo
    model.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (model / name).write_text("")
    done = _run("transcribe", str(HELLO), "-m", "smal", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: smal: ") and len(done.stderr.splitlines()) == 1


def test_readme_and_ci_run_the_same_test_command():
    """README's test command is what .ci/run runs, word for word, and it works as root and with sudo."""
    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text()
    ci = (repo / ".ci" / "run").read_text()
    start = readme.index("Set up and run the tests")
    command = readme[start:].split("```sh\n", 1)[1].split("\n```", 1)[0].strip()
    assert command in ci.splitlines(), f"{command!r} not a line of .ci/run"
    assert "sudo apt-get" not in command  # a bare sudo fails where there is none: a root container
    prefix = command.split(";", 1)[0]  # SUDO=... : empty as root, sudo for anyone else
    assert _shell_says(f'{prefix}; echo "[$SUDO]"') == ("[]" if os.geteuid() == 0 else "[sudo]")
    if os.geteuid() == 0 and Path("/usr/bin/setpriv").exists():
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        assert _shell_says(f'{prefix}; echo "[$SUDO]"', as_nobody) == "[sudo]"


def _shell_says(script: str, prefix: tuple | list = ()) -> str:
    done = subprocess.run([*prefix, "bash", "-c", script], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()

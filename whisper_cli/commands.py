"""The small commands and shared choices of the app: probe, completion, --version, and the device enums."""

from enum import Enum
from typing import Annotated

import typer

from . import __version__
from .device_names import COMPUTE_TYPES


class ExecutorKind(str, Enum):
    local = "local"
    ray = "ray"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


ComputeType = Enum("ComputeType", {name: name for name in COMPUTE_TYPES}, type=str)


def probe_command(
    device: Annotated[Device, typer.Option(help="Device to probe.")] = Device.auto,
    compute_type: Annotated[ComputeType, typer.Option(help="Compute type to check.")] = "auto",
) -> None:
    """Show the devices, compute types and libraries found, and what --device auto would pick."""
    import json

    from .engine.device import describe

    typer.echo(json.dumps(describe(device.value, compute_type.value, include_torch=True), indent=2))


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"whisper-cli {__version__}")
        raise typer.Exit()


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_command(shell: Annotated[Shell, typer.Argument(help="The shell to complete in.")]) -> None:
    """Print the completion script of whisper-cli and transcribe for SHELL.

    Example: eval "$(whisper-cli completion bash)"  (in ~/.bashrc; or --install-completion, which detects the shell)
    """
    from typer._completion_shared import get_completion_script

    for program in ("whisper-cli", "transcribe"):
        complete_var = f"_{program.replace('-', '_').upper()}_COMPLETE"  # the variable click's completion reads
        typer.echo(get_completion_script(prog_name=program, complete_var=complete_var, shell=shell.value))


def app_options(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=lambda v: print_version(v))
    ] = False,
) -> None:
    """Speech to text on faster-whisper: transcribe files, folders and streams; probe the devices."""

"""Console-script entry points: import the CLI, and stay quiet if Ctrl-C comes while it is still importing.

Until cli._run takes over, a SIGINT would end in a KeyboardInterrupt traceback from whatever module was
being imported. (SIGTERM keeps its default action until then: the process ends with no output.)
"""

import sys

INTERRUPTED = 130  # ExitCode.INTERRUPTED, without importing anything before the guard is in place


def main() -> None:
    """`transcribe` and `python -m whisper_cli`."""
    _launch("main")


def whisper_cli_main() -> None:
    """`whisper-cli` (transcribe, probe)."""
    _launch("whisper_cli_main")


def _launch(entry_point: str) -> None:
    try:
        from . import cli
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(INTERRUPTED)
    getattr(cli, entry_point)()

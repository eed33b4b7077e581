"""Typed errors that carry the file and a human cause, and the exit codes they map to."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """Process exit codes; README and --help list them from here."""

    OK = 0
    FAILED = 1  # an input could not be transcribed (bad audio, unreadable file)
    USAGE = 2  # bad command line
    MODEL = 3  # the model could not be found, downloaded, verified or loaded
    OUTPUT = 4  # an output could not be written (disk full, read-only folder)
    DEVICE = 5  # the requested device (e.g. --device cuda) cannot be used
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    BROKEN_PIPE = 141  # the reader of stdout went away (as if killed by SIGPIPE)
    TERMINATED = 143  # SIGTERM (a service manager, timeout, kill)


EXIT_CODE_MEANINGS = {
    ExitCode.OK: "every input transcribed (or skipped as already done)",
    ExitCode.FAILED: "one or more inputs could not be transcribed",
    ExitCode.USAGE: "invalid command line",
    ExitCode.MODEL: "the model could not be found, downloaded, verified or loaded",
    ExitCode.OUTPUT: "an output file (or stdout: a full disk, /dev/full) could not be written",
    ExitCode.DEVICE: "the requested device cannot be used",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); finished outputs are kept",
    ExitCode.BROKEN_PIPE: "stdout was closed by its reader (for example `| head`)",
    ExitCode.TERMINATED: "terminated (SIGTERM); finished outputs are kept",
}


class WhisperCliError(Exception):
    """An expected failure: shown as `error: <subject>: <cause>` with no traceback."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, subject: object, cause: str):
        self.subject = str(subject)
        self.cause = cause
        super().__init__(f"{self.subject}: {cause}")


class InputError(WhisperCliError):
    """An input file is missing, unreadable or not decodable audio."""

    exit_code = ExitCode.FAILED


class UsageError(WhisperCliError):
    exit_code = ExitCode.USAGE


class ModelError(WhisperCliError):
    """The model name or directory cannot be resolved, fetched, verified or loaded."""

    exit_code = ExitCode.MODEL


class OutputError(WhisperCliError):
    """An output file cannot be written."""

    exit_code = ExitCode.OUTPUT


class DeviceError(WhisperCliError):
    """The requested device cannot be used."""

    exit_code = ExitCode.DEVICE


class StdoutClosed(WhisperCliError):
    """The reader of stdout went away (`| head`); not worth a message."""

    exit_code = ExitCode.BROKEN_PIPE

    def __init__(self):
        super().__init__("<stdout>", "closed by its reader")

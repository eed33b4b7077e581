"""What a run is asked to do: the inputs, the model, the options and the outputs, as frozen plain data.

Imported by the driver (batch.py) and by everything it drives (plan, commit, progress, the executors), so
that none of them imports batch.py back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .audio import STDIN_NAME
from .audio_raw import RawFormat
from .errors import UsageError
from .inputs import is_single_file
from .options import DecodeOptions
from .progress import LogFormat
from .writers import OutputFormat, SubtitleLayout

DEFAULT_PREFETCH = 1  # files decoded ahead of the one being transcribed


@dataclass(frozen=True)
class ModelSettings:
    name: str = "base"
    device: str = "auto"
    compute_type: str = "auto"
    cpu_threads: int = 0
    offline: Optional[bool] = None


@dataclass(frozen=True)
class RunConfig:
    inputs: tuple[str, ...]
    formats: tuple[OutputFormat, ...] = (OutputFormat.TXT,)
    output_dir: Optional[Path] = None
    decode: DecodeOptions = DecodeOptions()
    layout: SubtitleLayout = SubtitleLayout()
    model: ModelSettings = ModelSettings()
    recursive: bool = True  # search folders' sub-folders too
    files_from: Optional[str] = None  # a file listing one input per line; "-" reads stdin
    overwrite: bool = False  # transcribe again even what a record says is done
    log_format: LogFormat = LogFormat.text
    prefetch: int = DEFAULT_PREFETCH  # 0 decodes each file only when its turn comes
    workers: int = 1  # model replicas, each in a process of its own (workers.py); 1: this process
    device_index: tuple[int, ...] = ()  # the GPUs of the workers, in turn (--device cuda)
    pack: bool = True  # short clips of a batch share 30 s windows (packing.py)
    pack_batch: Optional[int] = None  # packed windows decoded at once; None: packing.WINDOW_BATCH for the device
    raw: Optional[RawFormat] = None  # headerless PCM input (--input-format); None: containers say what they hold

    @property
    def is_batch(self) -> bool:
        """Anything but one file argument: folders, patterns, a list or several files. Only a batch resumes
        (skips what a record says is done) and ends with a summary; one file is transcribed every time."""
        return not is_single_file(self.inputs, self.files_from)

    @property
    def to_stdout(self) -> bool:
        return not self.is_batch and self.output_dir is None


def validate(config: RunConfig) -> None:
    """Usage errors that can be seen before any model is loaded."""
    if not config.inputs and config.files_from is None:
        raise UsageError("inputs", "no input given (a file, a folder, a pattern, - for stdin, or --files-from)")
    if config.to_stdout and len(config.formats) > 1:
        raise UsageError("--format", "several formats need --output-dir (stdout takes one)")
    if STDIN_NAME in config.inputs and (len(config.inputs) > 1 or config.files_from is not None):
        raise UsageError("-", "stdin can only be transcribed on its own")
    if config.prefetch < 0:
        raise UsageError("--prefetch", "must be 0 or more")
    if config.workers < 1:
        raise UsageError("--workers", "must be 1 or more")
    if config.device_index and config.model.device != "cuda":
        raise UsageError("--device-index", "needs --device cuda")


def gpu_indices(text: Optional[str]) -> tuple[int, ...]:
    """--device-index 0,1: the GPU numbers, each 0 or more."""
    if text is None:
        return ()
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise UsageError("--device-index", f"expected GPU numbers separated by commas (0,1), got {text!r}")
    return tuple(int(part) for part in parts)

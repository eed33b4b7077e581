"""The model of a batch, loaded once and only when the first input needs it."""

from __future__ import annotations

from typing import Callable, Optional

from .console import Reporter
from .progress import LogFormat
from .run_config import ModelSettings, RunConfig


class LazyModel:
    """Loads the model when the first input has decoded, so a run whose inputs are all done or all fail
    to decode (a re-run with a corrupt file still in the folder) never pays for it."""

    def __init__(self, config: RunConfig, reporter: Reporter, load_model: Optional[Callable], view):
        self._config, self._reporter, self._load_model, self._view = config, reporter, load_model, view
        self._whisper = None

    def get(self):
        if self._whisper is None:
            with self._view.paused():  # a download's progress bar must not fight ours
                self._whisper = load_whisper(self._config, self._reporter, self._load_model)
        return self._whisper


def load_whisper(config: RunConfig, reporter: Reporter, load_model: Optional[Callable] = None):
    """The run's model (wrapped with the diarizer for --diarize), with its device notes on stderr; batch and live mode."""
    show_progress = not reporter.quiet and config.log_format == LogFormat.text
    whisper = open_model(config.model, diarize=False, show_progress=show_progress, load_model=load_model)
    if whisper.choice.fallback_reason:
        reporter.warn(whisper.choice.fallback_reason)
    if config.log_format == LogFormat.text:
        reporter.info(f"model {whisper.resolved.name} on {whisper.choice.description}")
    return wrap_diarizer(whisper) if config.decode.diarize else whisper


def open_model(settings: ModelSettings, *, diarize: bool, show_progress: bool = False, load_model: Optional[Callable] = None):
    """Load the model `settings` name, saying nothing (a worker process's model: its caller reports)."""
    if load_model is None:
        from .engine import get_whisper as load_model
    whisper = load_model(
        settings.name, settings.compute_type, settings.device, settings.cpu_threads,
        offline=settings.offline, show_progress=show_progress,
    )
    return wrap_diarizer(whisper) if diarize else whisper


def wrap_diarizer(whisper):
    from .diarize import DiarizingWhisper

    return DiarizingWhisper(whisper)  # one diarizer for the run, loaded with the first file

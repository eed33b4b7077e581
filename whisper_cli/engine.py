"""get_whisper(): the only caller of faster-whisper. Yields our Segments and never prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Union

import numpy as np

from .audio import load_audio
from .device import DeviceChoice, probe, usable_cpu_cores
from .errors import ModelError
from .models import ResolvedModel, resolve_model
from .options import DecodeOptions
from .transcript import Segment, TranscriptInfo, Word


@dataclass
class TranscriptStream:
    """Language and duration are known at once; segments arrive lazily as they are decoded."""

    info: TranscriptInfo
    segments: Iterator[Segment]


class Whisper:
    """A loaded model: call it with audio to get a TranscriptStream."""

    def __init__(self, model, resolved: ResolvedModel, choice: DeviceChoice, cpu_threads: int):
        self._model = model
        self._batched = None
        self.resolved = resolved
        self.choice = choice
        self.cpu_threads = cpu_threads

    @property
    def is_multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def __call__(
        self,
        audio: Union[np.ndarray, str],
        options: DecodeOptions = DecodeOptions(),
        *,
        source: Optional[str] = None,
    ) -> TranscriptStream:
        if not isinstance(audio, np.ndarray):
            source = source or str(audio)
            audio = load_audio(audio)
        engine = self._batched_pipeline() if options.batch_size else self._model
        raw_segments, raw_info = engine.transcribe(audio, **options.engine_kwargs())
        info = TranscriptInfo(
            source=source or "<audio>",
            duration=float(raw_info.duration),
            language=raw_info.language,
            language_probability=float(raw_info.language_probability),
            model=self.resolved.name,
            device=self.choice.device,
            compute_type=self.choice.compute_type,
            settings=options.as_record(),
        )
        return TranscriptStream(info, _convert_segments(raw_segments))

    def _batched_pipeline(self):
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self._model)
        return self._batched


def get_whisper(
    model_size: str = "base",
    compute_type: str = "auto",
    device: str = "auto",
    cpu_threads: int = 0,
    *,
    offline: Optional[bool] = None,
    show_progress: bool = True,
) -> Whisper:
    """Resolve and load a model once; cpu_threads 0 means every usable core."""
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
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as error:
        raise ModelError(resolved.name, f"cannot load model from {resolved.path}: {error}") from None
    return Whisper(model, resolved, choice, threads)


def _convert_segments(raw_segments) -> Iterator[Segment]:
    for raw in raw_segments:
        words = tuple(
            Word(start=w.start, end=w.end, text=w.word, probability=w.probability) for w in raw.words or ()
        )
        yield Segment(
            id=raw.id,
            start=raw.start,
            end=raw.end,
            text=raw.text,
            words=words,
            avg_logprob=raw.avg_logprob,
            no_speech_prob=raw.no_speech_prob,
            compression_ratio=raw.compression_ratio,
            temperature=raw.temperature,
        )


TranscribeCallable = Callable[..., TranscriptStream]

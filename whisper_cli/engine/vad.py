"""Speech spans by the Silero VAD model faster-whisper ships: the one caller of faster_whisper.vad."""

from __future__ import annotations

import numpy as np


def speech_spans(
    samples: np.ndarray,
    *,
    threshold: float = 0.5,
    min_speech_duration_ms: int = 0,
    min_silence_duration_ms: int = 2000,
    speech_pad_ms: int = 400,
) -> list[tuple[int, int]]:
    """(start, end) sample indices of each stretch of speech in 16 kHz samples; defaults are faster-whisper's."""
    from faster_whisper import vad

    options = vad.VadOptions(
        threshold=threshold,
        min_speech_duration_ms=min_speech_duration_ms,
        min_silence_duration_ms=min_silence_duration_ms,
        speech_pad_ms=speech_pad_ms,
    )
    return [(span["start"], span["end"]) for span in vad.get_speech_timestamps(samples, options)]


def has_speech(samples: np.ndarray) -> bool:
    """Whether the VAD hears at least 250 ms of speech."""
    return bool(speech_spans(samples, min_speech_duration_ms=250))

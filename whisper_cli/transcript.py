"""The plain data that flows from the engine to the writers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the source
    end: float
    text: str
    probability: float
    speaker: Optional[str] = None  # --diarize


@dataclass(frozen=True)
class Segment:
    id: int
    start: float  # seconds from the start of the source
    end: float
    text: str
    words: tuple[Word, ...] = ()
    seek: int = 0  # where the window it was decoded in starts, in 10 ms frames (openai-whisper's seek)
    tokens: tuple[int, ...] = ()  # the token ids decoded for it, timestamp tokens included
    avg_logprob: Optional[float] = None
    no_speech_prob: Optional[float] = None
    compression_ratio: Optional[float] = None
    temperature: Optional[float] = None
    speaker: Optional[str] = None
    suspect: bool = False
    language: Optional[str] = None  # detected for this segment's window (--multilingual); None when not


@dataclass(frozen=True)
class TranscriptInfo:
    """What is known about a transcription before its first segment is decoded."""

    source: str
    duration: float  # seconds of audio in the source
    language: Optional[str] = None
    language_probability: Optional[float] = None
    model: Optional[str] = None
    device: Optional[str] = None
    compute_type: Optional[str] = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    # (start, end) seconds where the VAD heard speech that produced no text; known once segments are done.
    speech_without_text: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Transcript:
    info: TranscriptInfo
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "".join(segment.text for segment in self.segments).strip()

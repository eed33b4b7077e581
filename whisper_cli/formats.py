"""OutputFormat and SubtitleLayout: what to write and how subtitle cues are shaped, without the writers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class OutputFormat(str, Enum):
    TXT = "txt"
    SRT = "srt"
    VTT = "vtt"
    TSV = "tsv"
    JSON = "json"
    JSONL = "jsonl"

    def __str__(self) -> str:
        # Python 3.11 would print "OutputFormat.SRT" for a str-mixin Enum; help text wants "srt".
        return self.value


@dataclass(frozen=True)
class SubtitleLayout:
    """How srt and vtt cues are shaped; every limit is off when None. Other formats ignore it."""

    max_line_width: Optional[int] = None  # characters per line; a longer single word stands alone
    max_line_count: Optional[int] = None  # lines per cue; a longer segment is split into several cues
    max_words_per_line: Optional[int] = None
    highlight_words: bool = False  # karaoke-style <u>word</u> cues; needs word timestamps

    def __post_init__(self) -> None:
        for name in ("max_line_width", "max_line_count", "max_words_per_line"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")

    @property
    def active(self) -> bool:
        return (
            self.max_line_width is not None
            or self.max_line_count is not None
            or self.max_words_per_line is not None
            or self.highlight_words
        )

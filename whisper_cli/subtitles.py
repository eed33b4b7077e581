"""Subtitle cue layout: a segment's words broken into lines within the limits, lines grouped into cues, cue times.

Pure data in and out; the SRT and VTT writers (writers.py) only render and escape what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

from .clean import milliseconds, one_line
from .formats import SubtitleLayout
from .transcript import Segment


@dataclass(frozen=True)
class _Token:
    """One word of a cue: clean text, what separates it from the word before, its times if known."""

    text: str
    joiner: str  # " " or "" (words in Japanese or Chinese carry no space)
    start: Optional[float] = None
    end: Optional[float] = None


Line = Sequence[_Token]


def _tokens(segment: Segment) -> tuple[list[_Token], bool]:
    """The segment's words and whether they carry times (from segment.words) or not (from its text)."""
    timed = [
        _Token(text, " " if word.text[:1].isspace() else "", word.start, word.end)
        for word in segment.words
        if (text := one_line(word.text))
    ]
    if timed:
        return timed, True
    return [_Token(text, " ") for text in one_line(segment.text).split(" ") if text], False


def _lines(tokens: Sequence[_Token], layout: SubtitleLayout) -> list[list[_Token]]:
    """Greedy line breaking at word boundaries within the width and words-per-line limits."""
    lines: list[list[_Token]] = []
    line: list[_Token] = []
    width = 0
    for token in tokens:
        if line and (
            (layout.max_line_width is not None and width + len(token.joiner) + len(token.text) > layout.max_line_width)
            or (layout.max_words_per_line is not None and len(line) >= layout.max_words_per_line)
        ):
            lines.append(line)
            line, width = [], 0
        width += (len(token.joiner) if line else 0) + len(token.text)
        line.append(token)
    if line:
        lines.append(line)
    return lines


def _cue_spans(segment: Segment, cues: Sequence[Sequence[Line]], timed: bool) -> list[tuple[float, float]]:
    """(start, end) of each cue a segment is split into: the words' own times, else by character count."""
    if len(cues) == 1:
        return [(segment.start, segment.end)]
    if timed:
        return [(cue[0][0].start, cue[-1][-1].end) for cue in cues]  # type: ignore[misc]
    counts = [sum(len(token.text) for line in cue for token in line) for cue in cues]
    total = sum(counts)
    duration = max(segment.end - segment.start, 0.0)
    spans = []
    start, done = segment.start, 0
    for count in counts:
        done += count
        end = segment.end if done == total else segment.start + duration * done / total
        spans.append((start, end))
        start = end
    return spans


def layout_cues(
    segment: Segment, layout: SubtitleLayout
) -> Iterator[tuple[float, float, list[list[_Token]], Optional[int]]]:
    """(start, end, cue lines, highlighted word index or None) for each cue of a non-empty segment."""
    tokens, timed = _tokens(segment)
    lines = _lines(tokens, layout)
    per_cue = layout.max_line_count or len(lines) or 1
    cues = [lines[i : i + per_cue] for i in range(0, len(lines), per_cue)]
    for (start, end), cue in zip(_cue_spans(segment, cues, timed), cues):
        if not (layout.highlight_words and timed):
            yield start, end, cue, None
            continue
        # As openai-whisper: the cue's text stays up for the whole cue, the spoken word underlined.
        last = start
        for index, token in enumerate(token for line in cue for token in line):
            assert token.start is not None and token.end is not None
            if milliseconds(token.start) > milliseconds(last):
                yield last, token.start, cue, None
            yield token.start, token.end, cue, index
            last = token.end
        if milliseconds(end) > milliseconds(last):
            yield last, end, cue, None

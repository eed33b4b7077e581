"""One small class per output format, keyed by one OutputFormat enum.

Writers are pure: a Transcript (or its parts) in, a str out. They never open files or print;
output.py decides where the bytes go. A streaming writer is driven as

    writer.start(info) + writer.segment(s1) + writer.segment(s2) + ... + writer.finish(transcript)

and `Writer.render(transcript)` does exactly that in one call.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Iterator, Mapping, Optional, Sequence

from .formats import OutputFormat, SubtitleLayout
from .transcript import Segment, Transcript, TranscriptInfo

JSON_SCHEMA_VERSION = 2  # bump when a key of the JSON document changes meaning or goes away


# --- text hygiene -------------------------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0/C1 control characters that are not whitespace; whitespace ones (\t \n \r \x1c-\x1f \x85 ...) are
# folded into spaces instead, so that words they separate stay apart.
_CONTROLS = {
    code: None
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if not chr(code).isspace()
}
# Lenient SRT parsers (the `srt` package) also take "- >" and "-- >" for the cue-timing arrow.
_SRT_ARROWS = re.compile(r"-[ -]*>")
# Lenient SRT parsers also accept a cue with no blank line before it, so inside a cue a line that is only
# a number followed by a line that starts like a timestamp ("7" then "1.2.3 ...") would end the cue early.
_SRT_INDEX_LINE = re.compile(r"-?[0-9]+\.?[0-9]*\s*")
_SRT_TIMESTAMP_START = re.compile(r"[0-9]+[,.:，．。：][0-9]+[,.:，．。：][0-9]+")
# Line breaks that str.splitlines() honours but JSON leaves raw inside strings with ensure_ascii=False.
_JSONL_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _valid_unicode(text: str) -> str:
    """Text that encodes to UTF-8: a lone surrogate becomes U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def _one_line(text: str) -> str:
    """Text on one line: control characters go, every run of whitespace (line breaks too) is one space."""
    return " ".join(_valid_unicode(text).translate(_CONTROLS).split())


def _label(speaker: Optional[str]) -> str:
    """The speaker label cleaned for a one-line prefix; "" when there is none."""
    return "" if speaker is None else _one_line(speaker)


def _vtt_escape(text: str) -> str:
    # Escaping ">" also keeps "-->" out of cue text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- numbers ------------------------------------------------------------------------------------


def _milliseconds(seconds: float) -> int:
    """Seconds rounded to whole milliseconds first (so 59.9999 s is 01:00.000), never below 0."""
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return round(seconds * 1000)


def _span_ms(start: float, end: float) -> tuple[int, int]:
    """A cue's (start, end) in milliseconds; an end before the start is clamped to the start."""
    start_ms = _milliseconds(start)
    return start_ms, max(_milliseconds(end), start_ms)


def _clock(ms: int, decimal_marker: str) -> str:
    """HH:MM:SS<marker>mmm; hours are at least two digits and may be more."""
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_marker}{ms:03d}"


def _time(seconds: float) -> Optional[float]:
    """A time for JSON: 3 decimals (millisecond precision); None where it is not a finite number."""
    if not math.isfinite(seconds):
        return None
    return round(seconds, 3) + 0.0  # + 0.0 turns -0.0 into 0.0


def _number(value: Optional[float]) -> Optional[float]:
    """A score for JSON as it is, but None for NaN and infinities, which JSON cannot hold."""
    if value is None or not math.isfinite(value):
        return None
    return value


def _jsonable(value: Any) -> Any:
    """Plain JSON data from settings: mappings, sequences, Enums; non-finite floats become None."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _valid_unicode(value)
    if isinstance(value, Mapping):
        return {_valid_unicode(str(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    return _valid_unicode(str(value))  # a Path, say: recorded as text rather than failing the run


def _segment_record(segment: Segment) -> dict[str, Any]:
    """One segment as JSON data: openai-whisper's keys plus ours (speaker, suspect)."""
    record: dict[str, Any] = {
        "id": segment.id,
        "seek": segment.seek,
        "start": _time(segment.start),
        "end": _time(segment.end),
        "text": _valid_unicode(segment.text),
        "tokens": list(segment.tokens),
    }
    if segment.speaker is not None:
        record["speaker"] = _valid_unicode(segment.speaker)
    if segment.language is not None:
        record["language"] = segment.language
    record["avg_logprob"] = _number(segment.avg_logprob)
    record["no_speech_prob"] = _number(segment.no_speech_prob)
    record["compression_ratio"] = _number(segment.compression_ratio)
    record["temperature"] = _number(segment.temperature)
    record["suspect"] = segment.suspect
    if segment.words:
        record["words"] = [
            {
                "start": _time(word.start),
                "end": _time(word.end),
                "word": _valid_unicode(word.text),
                "probability": _number(word.probability),
                **({"speaker": _valid_unicode(word.speaker)} if word.speaker is not None else {}),
            }
            for word in segment.words
        ]
    return record


# --- subtitle layout ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    """One word of a cue: clean text, what separates it from the word before, its times if known."""

    text: str
    joiner: str  # " " or "" (words in Japanese or Chinese carry no space)
    start: Optional[float] = None
    end: Optional[float] = None


_Line = Sequence[_Token]


def _tokens(segment: Segment) -> tuple[list[_Token], bool]:
    """The segment's words and whether they carry times (from segment.words) or not (from its text)."""
    timed = [
        _Token(text, " " if word.text[:1].isspace() else "", word.start, word.end)
        for word in segment.words
        if (text := _one_line(word.text))
    ]
    if timed:
        return timed, True
    return [_Token(text, " ") for text in _one_line(segment.text).split(" ") if text], False


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


def _cue_spans(segment: Segment, cues: Sequence[Sequence[_Line]], timed: bool) -> list[tuple[float, float]]:
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


# --- writers ------------------------------------------------------------------------------------


class Writer:
    """Base of every format: start(info), then segment() for each segment, then finish(transcript)."""

    extension: ClassVar[str]
    description: ClassVar[str]  # one line for --help
    streams: ClassVar[bool] = True  # False: nothing can be emitted before finish() (JSON)

    def __init__(self, layout: SubtitleLayout = SubtitleLayout()) -> None:
        self.layout = layout

    def start(self, info: TranscriptInfo) -> str:
        """The header, "" if the format has none; also resets any per-transcript state."""
        return ""

    def segment(self, segment: Segment) -> str:
        """The text for one segment (a subtitle writer may emit several cues)."""
        return ""

    def finish(self, transcript: Transcript) -> str:
        """The trailer, "" if none; a non-streaming writer emits the whole document here."""
        return ""

    def render(self, transcript: Transcript) -> str:
        """The whole output for a finished transcript."""
        parts = [self.start(transcript.info)]
        parts.extend(self.segment(segment) for segment in transcript.segments)
        parts.append(self.finish(transcript))
        return "".join(parts)


class TxtWriter(Writer):
    extension = "txt"
    description = "plain text, one line per segment"

    def segment(self, segment: Segment) -> str:
        text = _one_line(segment.text)
        if not text:
            return ""
        label = _label(segment.speaker)
        return f"[{label}] {text}\n" if label else f"{text}\n"


class TsvWriter(Writer):
    """openai-whisper's TSV: integer milliseconds, so no float formatting or comma decimals."""

    extension = "tsv"
    description = "tab-separated start, end (ms) and text"

    def start(self, info: TranscriptInfo) -> str:
        return "start\tend\ttext\n"

    def segment(self, segment: Segment) -> str:
        text = _one_line(segment.text)  # tabs and line breaks become spaces
        if not text:
            return ""
        label = _label(segment.speaker)
        start_ms, end_ms = _span_ms(segment.start, segment.end)
        return f"{start_ms}\t{end_ms}\t{f'[{label}] ' if label else ''}{text}\n"


class _SubtitleWriter(Writer, ABC):
    """Shared cue logic of SRT and VTT: hygiene, line breaking, splitting and word highlighting."""

    decimal_marker: ClassVar[str]

    def _escape(self, text: str) -> str:
        return text

    @abstractmethod
    def _speaker(self, label: str) -> str:
        """The prefix that names the speaker at the start of a cue."""

    @abstractmethod
    def _cue(self, start_ms: int, end_ms: int, text: str) -> str:
        """One numbered (SRT) or plain (VTT) cue, ending in a blank line."""

    def _timestamp(self, ms: int) -> str:
        return _clock(ms, self.decimal_marker)

    def segment(self, segment: Segment) -> str:
        return "".join(self._cue(*_span_ms(start, end), text) for start, end, text in self._cues(segment))

    def _cues(self, segment: Segment) -> Iterator[tuple[float, float, str]]:
        """(start, end, cue text) for each cue of a segment; none for an empty segment."""
        label = _label(segment.speaker)
        prefix = self._speaker(label) if label else ""
        if not self.layout.active:
            text = _one_line(segment.text)
            if text:
                yield segment.start, segment.end, prefix + self._escape(text)
            return
        tokens, timed = _tokens(segment)
        lines = _lines(tokens, self.layout)
        per_cue = self.layout.max_line_count or len(lines) or 1
        cues = [lines[i : i + per_cue] for i in range(0, len(lines), per_cue)]
        for (start, end), cue in zip(_cue_spans(segment, cues, timed), cues):
            if not (self.layout.highlight_words and timed):
                yield start, end, prefix + self._render(cue)
                continue
            # As openai-whisper: the cue's text stays up for the whole cue, the spoken word underlined.
            last = start
            for index, token in enumerate(token for line in cue for token in line):
                assert token.start is not None and token.end is not None
                if _milliseconds(token.start) > _milliseconds(last):
                    yield last, token.start, prefix + self._render(cue)
                yield token.start, token.end, prefix + self._render(cue, highlight=index)
                last = token.end
            if _milliseconds(end) > _milliseconds(last):
                yield last, end, prefix + self._render(cue)

    def _render(self, cue: Sequence[_Line], highlight: Optional[int] = None) -> str:
        """The cue's lines joined by newlines, word number `highlight` wrapped in <u>...</u>."""
        rendered = []
        index = 0
        for line in cue:
            parts = []
            for position, token in enumerate(line):
                if position:
                    parts.append(token.joiner)
                text = self._escape(token.text)
                parts.append(f"<u>{text}</u>" if index == highlight else text)
                index += 1
            rendered.append("".join(parts))
        return "\n".join(rendered)


class SrtWriter(_SubtitleWriter):
    extension = "srt"
    description = "SubRip subtitles"
    decimal_marker = ","

    def __init__(self, layout: SubtitleLayout = SubtitleLayout()) -> None:
        super().__init__(layout)
        self._number = 0  # the last cue number written

    def start(self, info: TranscriptInfo) -> str:
        self._number = 0
        return ""

    def _speaker(self, label: str) -> str:
        return f"[{label}] "

    def _cue(self, start_ms: int, end_ms: int, text: str) -> str:
        self._number += 1
        # SRT has no escaping: an arrow in the text would read as a new cue's timings.
        lines = _SRT_ARROWS.sub("->", text).split("\n")
        for i in range(len(lines) - 2, 0, -1):
            if _SRT_INDEX_LINE.fullmatch(lines[i]) and _SRT_TIMESTAMP_START.match(lines[i + 1]):
                lines[i : i + 2] = [f"{lines[i]} {lines[i + 1]}"]
        text = "\n".join(lines)
        return f"{self._number}\n{self._timestamp(start_ms)} --> {self._timestamp(end_ms)}\n{text}\n\n"


class VttWriter(_SubtitleWriter):
    extension = "vtt"
    description = "WebVTT subtitles"
    decimal_marker = "."

    def start(self, info: TranscriptInfo) -> str:
        return "WEBVTT\n\n"

    def _escape(self, text: str) -> str:
        return _vtt_escape(text)

    def _speaker(self, label: str) -> str:
        # A label ending in "-" would make "-->" with the tag's ">"; a space before ">" is ignored.
        return f"<v {_vtt_escape(label)}{' ' if label.endswith('-') else ''}>"

    def _cue(self, start_ms: int, end_ms: int, text: str) -> str:
        return f"{self._timestamp(start_ms)} --> {self._timestamp(end_ms)}\n{text}\n\n"


class JsonlWriter(Writer):
    """One compact JSON object per segment per line, so a reader can follow a transcription live."""

    extension = "jsonl"
    description = "one JSON object per segment per line"

    def segment(self, segment: Segment) -> str:
        line = json.dumps(_segment_record(segment), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        for raw, escaped in _JSONL_LINE_BREAKS.items():
            line = line.replace(raw, escaped)  # raw, they appear only inside strings, where \\uXXXX means the same
        return line + "\n"


class JsonWriter(Writer):
    """openai-whisper's document ({text, segments, language}) plus what it leaves out: where, how, with what."""

    extension = "json"
    description = "one JSON document: openai-whisper's keys plus model, device and settings"
    streams = False

    def finish(self, transcript: Transcript) -> str:
        info = transcript.info
        document = {
            "text": _valid_unicode(transcript.text),
            "segments": [_segment_record(segment) for segment in transcript.segments],
            "language": info.language,
            "schema_version": JSON_SCHEMA_VERSION,
            "source": _valid_unicode(info.source),
            "duration": _time(info.duration),
            "language_probability": _number(info.language_probability),
            "model": info.model,
            "device": info.device,
            "compute_type": info.compute_type,
            "settings": _jsonable(info.settings),
        }
        if info.speech_without_text:
            document["speech_without_text"] = [[_time(start), _time(end)] for start, end in info.speech_without_text]
        return json.dumps(_jsonable(document), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


WRITERS: dict[OutputFormat, type[Writer]] = {
    OutputFormat.TXT: TxtWriter,
    OutputFormat.SRT: SrtWriter,
    OutputFormat.VTT: VttWriter,
    OutputFormat.TSV: TsvWriter,
    OutputFormat.JSON: JsonWriter,
    OutputFormat.JSONL: JsonlWriter,
}


def make_writer(fmt: OutputFormat, layout: SubtitleLayout = SubtitleLayout()) -> Writer:
    """A fresh writer for one transcript; `fmt` may also be the format's name, as "srt"."""
    return WRITERS[OutputFormat(fmt)](layout)

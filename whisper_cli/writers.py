"""One small class per output format, keyed by one OutputFormat enum.

Writers are pure: a Transcript (or its parts) in, a str out. They never open files or print;
output.py decides where the bytes go. A streaming writer is driven as

    writer.start(info) + writer.segment(s1) + writer.segment(s2) + ... + writer.finish(transcript)

and `Writer.render(transcript)` does exactly that in one call.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, ClassVar, Iterator, Mapping, Optional, Sequence

from .clean import clock, json_number, json_time, one_line, span_ms, speaker_label, valid_unicode, vtt_escape
from .subtitles import Line, layout_cues
from .formats import OutputFormat, SubtitleLayout
from .transcript import Segment, Transcript, TranscriptInfo

JSON_SCHEMA_VERSION = 2  # bump when a key of the JSON document changes meaning or goes away


# Lenient SRT parsers (the `srt` package) also take "- >" and "-- >" for the cue-timing arrow.
_SRT_ARROWS = re.compile(r"-[ -]*>")
# Lenient SRT parsers also accept a cue with no blank line before it, so inside a cue a line that is only
# a number followed by a line that starts like a timestamp ("7" then "1.2.3 ...") would end the cue early.
_SRT_INDEX_LINE = re.compile(r"-?[0-9]+\.?[0-9]*\s*")
_SRT_TIMESTAMP_START = re.compile(r"[0-9]+[,.:，．。：][0-9]+[,.:，．。：][0-9]+")
# Line breaks that str.splitlines() honours but JSON leaves raw inside strings with ensure_ascii=False.
_JSONL_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _jsonable(value: Any) -> Any:
    """Plain JSON data from settings: mappings, sequences, Enums; non-finite floats become None."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, Mapping):
        return {valid_unicode(str(key)): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    return valid_unicode(str(value))  # a Path, say: recorded as text rather than failing the run


def _segment_record(segment: Segment) -> dict[str, Any]:
    """One segment as JSON data: openai-whisper's keys plus ours (speaker, suspect)."""
    record: dict[str, Any] = {
        "id": segment.id,
        "seek": segment.seek,
        "start": json_time(segment.start),
        "end": json_time(segment.end),
        "text": valid_unicode(segment.text),
        "tokens": list(segment.tokens),
    }
    if segment.speaker is not None:
        record["speaker"] = valid_unicode(segment.speaker)
    if segment.language is not None:
        record["language"] = segment.language
    record["avg_logprob"] = json_number(segment.avg_logprob)
    record["no_speech_prob"] = json_number(segment.no_speech_prob)
    record["compression_ratio"] = json_number(segment.compression_ratio)
    record["temperature"] = json_number(segment.temperature)
    record["suspect"] = segment.suspect
    if segment.words:
        record["words"] = [
            {
                "start": json_time(word.start),
                "end": json_time(word.end),
                "word": valid_unicode(word.text),
                "probability": json_number(word.probability),
                **({"speaker": valid_unicode(word.speaker)} if word.speaker is not None else {}),
            }
            for word in segment.words
        ]
    return record


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
        text = one_line(segment.text)
        if not text:
            return ""
        label = speaker_label(segment.speaker)
        return f"[{label}] {text}\n" if label else f"{text}\n"


class TsvWriter(Writer):
    """openai-whisper's TSV: integer milliseconds, so no float formatting or comma decimals."""

    extension = "tsv"
    description = "tab-separated start, end (ms) and text"

    def start(self, info: TranscriptInfo) -> str:
        return "start\tend\ttext\n"

    def segment(self, segment: Segment) -> str:
        text = one_line(segment.text)  # tabs and line breaks become spaces
        if not text:
            return ""
        label = speaker_label(segment.speaker)
        start_ms, end_ms = span_ms(segment.start, segment.end)
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
        return clock(ms, self.decimal_marker)

    def segment(self, segment: Segment) -> str:
        return "".join(self._cue(*span_ms(start, end), text) for start, end, text in self._cues(segment))

    def _cues(self, segment: Segment) -> Iterator[tuple[float, float, str]]:
        """(start, end, cue text) for each cue of a segment; none for an empty segment."""
        label = speaker_label(segment.speaker)
        prefix = self._speaker(label) if label else ""
        if not self.layout.active:
            text = one_line(segment.text)
            if text:
                yield segment.start, segment.end, prefix + self._escape(text)
            return
        for start, end, cue, highlight in layout_cues(segment, self.layout):
            yield start, end, prefix + self._render(cue, highlight)

    def _render(self, cue: Sequence[Line], highlight: Optional[int] = None) -> str:
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
        return vtt_escape(text)

    def _speaker(self, label: str) -> str:
        # A label ending in "-" would make "-->" with the tag's ">"; a space before ">" is ignored.
        return f"<v {vtt_escape(label)}{' ' if label.endswith('-') else ''}>"

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
            "text": valid_unicode(transcript.text),
            "segments": [_segment_record(segment) for segment in transcript.segments],
            "language": info.language,
            "schema_version": JSON_SCHEMA_VERSION,
            "source": valid_unicode(info.source),
            "duration": json_time(info.duration),
            "language_probability": json_number(info.language_probability),
            "model": info.model,
            "device": info.device,
            "compute_type": info.compute_type,
            "settings": _jsonable(info.settings),
        }
        if info.speech_without_text:
            document["speech_without_text"] = [[json_time(start), json_time(end)] for start, end in info.speech_without_text]
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

"""Transcript -> OpenAI's response formats and stream events; srt and vtt come from the writers."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from ..languages import LANGUAGES, language_name
from ..transcript import Segment, Transcript
from ..clean import json_number as _number, json_time as _time, valid_unicode as _valid_unicode
from ..writers import OutputFormat, SubtitleLayout, make_writer

MEDIA_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "text/plain; charset=utf-8",  # as OpenAI sends it
    "vtt": "text/vtt; charset=utf-8",
}


def render(transcript: Transcript, response_format: str, *, task: str, words: bool, layout: SubtitleLayout) -> tuple[str, str]:
    """(body, media type) of a finished transcript in one of OpenAI's response formats."""
    if response_format == "json":
        body = _json({"text": _valid_unicode(transcript.text), "usage": usage(transcript)})
    elif response_format == "verbose_json":
        body = _json(verbose_json(transcript, task=task, words=words))
    elif response_format == "text":
        body = _valid_unicode(transcript.text) + "\n"
    else:
        body = make_writer(OutputFormat(response_format), layout).render(transcript)
    return body, MEDIA_TYPES[response_format]


def verbose_json(transcript: Transcript, *, task: str, words: bool) -> dict[str, Any]:
    info = transcript.info
    document: dict[str, Any] = {
        "task": task,
        "language": openai_language(info.language),
        "duration": _time(info.duration),
        "text": _valid_unicode(transcript.text),
        "segments": [segment_record(index, segment) for index, segment in enumerate(transcript.segments)],
    }
    if words:
        document["words"] = [
            {"word": _valid_unicode(word.text), "start": _time(word.start), "end": _time(word.end), **_speaker(word.speaker)}
            for segment in transcript.segments
            for word in segment.words
        ]
    document["usage"] = usage(transcript)
    return document


def segment_record(index: int, segment: Segment) -> dict[str, Any]:
    """OpenAI's segment keys, numbered from 0 as OpenAI does."""
    return {
        "id": index,
        "seek": segment.seek,
        "start": _time(segment.start),
        "end": _time(segment.end),
        "text": _valid_unicode(segment.text),
        "tokens": list(segment.tokens),
        "temperature": _number(segment.temperature),
        "avg_logprob": _number(segment.avg_logprob),
        "compression_ratio": _number(segment.compression_ratio),
        "no_speech_prob": _number(segment.no_speech_prob),
        **_speaker(segment.speaker),
    }


def _speaker(speaker: Optional[str]) -> dict[str, Any]:
    """Ours, not OpenAI's: `speaker` with diarize or split_stereo, as in the CLI's JSON."""
    return {} if speaker is None else {"speaker": _valid_unicode(speaker)}


def usage(transcript: Transcript) -> dict[str, Any]:
    """OpenAI bills whisper-1 by whole seconds of input audio, and says so in `usage`."""
    duration = transcript.info.duration
    return {"type": "duration", "seconds": math.ceil(duration) if math.isfinite(duration) else 0}


def openai_language(code: Optional[str]) -> str:
    """OpenAI names the language in verbose_json in lower case ("english"), not by its code."""
    if code is None:
        return ""
    return language_name(code).lower() if code in LANGUAGES else code


def delta_event(text: str) -> str:
    return sse({"type": "transcript.text.delta", "delta": _valid_unicode(text)})


def done_event(text: str) -> str:
    return sse({"type": "transcript.text.done", "text": _valid_unicode(text)})


def error_event(body: dict[str, Any]) -> str:
    return sse({"type": "error", **body})


def sse(data: dict[str, Any]) -> str:
    """One server-sent event; JSON has no raw line breaks, so it is one `data:` line."""
    return f"data: {json.dumps(data, ensure_ascii=False, allow_nan=False)}\n\n"


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, allow_nan=False)


"""openai-whisper's JSON shape, as its own source writes it, to hold our json and jsonl to.

Taken from openai/whisper (commit f572f2161ba8): in whisper/transcribe.py, `new_segment()` builds each
segment (seek, start, end, text, tokens, temperature, avg_logprob, compression_ratio, no_speech_prob),
`{"id": i, **segment}` numbers them from 0 across the file, and transcribe() returns
`dict(text=..., segments=..., language=...)`; with word_timestamps, whisper/timing.py gives every segment
"words", each `dict(word=, start=, end=, probability=)`.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

SEGMENT_KEYS: dict[str, type] = {
    "id": int,
    "seek": int,  # mel frames of 10 ms
    "start": float,
    "end": float,
    "text": str,
    "tokens": list,  # token ids, timestamp tokens included
    "temperature": float,
    "avg_logprob": float,
    "compression_ratio": float,
    "no_speech_prob": float,
}
WORD_KEYS: dict[str, type] = {"word": str, "start": float, "end": float, "probability": float}
DOCUMENT_KEYS: dict[str, type] = {"text": str, "segments": list, "language": str}
# The keys README says are ours, beyond openai-whisper's.
OUR_SEGMENT_KEYS = {"speaker", "suspect", "language"}
OUR_DOCUMENT_KEYS = {
    "schema_version", "source", "duration", "language_probability", "model", "device", "compute_type", "settings",
    "speech_without_text",
}


def _typed(record: Mapping[str, Any], keys: Mapping[str, type], where: str) -> None:
    for key, kind in keys.items():
        assert key in record, f"{where}: no {key!r} in {sorted(record)}"
        # type() rather than isinstance(): JSON true is not an id, 1 is not a time.
        assert type(record[key]) is kind, f"{where}: {key}={record[key]!r} is not {kind.__name__}"


def assert_openai_segments(segments: Iterable[Mapping[str, Any]], *, words: bool) -> None:
    """openai-whisper's keys and types in each segment (and each word, `words` being on), ids from 0."""
    segments = list(segments)
    ids = [segment.get("id") for segment in segments]
    assert ids == list(range(len(segments))), f"ids {ids}: openai-whisper counts from 0"
    for segment in segments:
        where = f"segment {segment['id']}"
        _typed(segment, SEGMENT_KEYS, where)
        assert segment["seek"] >= 0, where
        assert segment["tokens"] and all(type(token) is int and token >= 0 for token in segment["tokens"]), where
        if words:
            assert type(segment.get("words")) is list, f"{where}: no words"
            for word in segment["words"]:
                _typed(word, WORD_KEYS, f"{where}, word {word.get('word')!r}")
        extra = set(segment) - set(SEGMENT_KEYS) - {"words"}
        assert extra <= OUR_SEGMENT_KEYS, f"{where}: {extra - OUR_SEGMENT_KEYS} are neither openai-whisper's nor ours"


def assert_openai_document(document: Mapping[str, Any], *, words: bool) -> None:
    _typed(document, DOCUMENT_KEYS, "document")
    assert set(document) - set(DOCUMENT_KEYS) <= OUR_DOCUMENT_KEYS
    assert_openai_segments(document["segments"], words=words)

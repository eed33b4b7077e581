"""Quality checks on decoded segments: the `suspect` flag and the repetition-loop guard.

Whisper fails in two well-known ways: it writes text over silence or noise (a "hallucination"), and it
gets stuck repeating one phrase ("Thank you. Thank you. Thank you. ..."). Both leave traces in the
scores faster-whisper reports for each segment, and the second is plain in the text itself.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, Optional, Sequence

from .transcript import Segment, Word

# A segment is suspect when any score crosses these; they are the thresholds at which Whisper itself
# retries a window at a higher temperature (compression ratio, log probability) or calls it silence
# (no-speech probability), so a suspect segment is one that stayed bad whatever decoding did.
from .thresholds import MAX_COMPRESSION_RATIO, MAX_NO_SPEECH_PROB, MIN_AVG_LOGPROB

# The repetition guard collapses a phrase repeated at least this many times in a row ...
MIN_REPEATS = 5
# ... when the repeats together are at least this many characters, so "no, no, no, no, no" stays.
MIN_REPEATED_CHARS = 30
MAX_PHRASE_TOKENS = 30  # longest phrase (in words, or characters of CJK scripts) looked for

# Scripts written without spaces: each character counts as one token.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_NOT_WORD = re.compile(r"[\W_]+")


def is_suspect(segment: Segment) -> bool:
    """Whether the segment's scores say its text may not be what was said."""
    return (
        (segment.compression_ratio is not None and segment.compression_ratio > MAX_COMPRESSION_RATIO)
        or (segment.avg_logprob is not None and segment.avg_logprob < MIN_AVG_LOGPROB)
        or (segment.no_speech_prob is not None and segment.no_speech_prob > MAX_NO_SPEECH_PROB)
    )


@dataclass(frozen=True)
class Repetition:
    """A phrase found repeated `count` times in a row and kept once."""

    phrase: str
    count: int


def collapse_repetitions(segment: Segment) -> tuple[Segment, list[Repetition]]:
    """The segment with every run of a repeated phrase kept once, and the runs that were collapsed.

    With word timestamps the words are collapsed and the text is rebuilt from them; otherwise the text.
    The segment keeps its start and end: the collapsed run still covers that stretch of audio.
    """
    if segment.words:
        keys = [_key(word.text) for word in segment.words]
        keep, runs = _collapse(keys)
        if not runs:
            return segment, []
        words = tuple(word for word, kept in zip(segment.words, keep) if kept)
        found = [Repetition(_words_text(segment.words[start : start + size]), count) for start, size, count in runs]
        return replace(segment, words=words, text=_words_text(words)), found
    tokens = [(match.start(), match.end()) for match in _TOKEN.finditer(segment.text)]
    keep, runs = _collapse([_key(segment.text[start:end]) for start, end in tokens])
    if not runs:
        return segment, []
    text = _kept_text(segment.text, tokens, keep)
    found = [
        Repetition(segment.text[tokens[start][0] : tokens[start + size - 1][1]], count) for start, size, count in runs
    ]
    return replace(segment, text=text), found


def checked(segments: Iterable[Segment], note: Callable[[str], None], label: Optional[str] = None) -> Iterator[Segment]:
    """Segments with repetition loops collapsed (each reported through `note`) and `suspect` set."""
    for segment in segments:
        segment, repetitions = collapse_repetitions(segment)
        for repetition in repetitions:
            where = f"[{label}] " if label else ""
            note(
                f"{where}{segment.start:.1f}-{segment.end:.1f} s: {_shorten(repetition.phrase)!r} repeated "
                f"{repetition.count} times in a row (a Whisper repetition loop); kept once"
            )
        yield replace(segment, suspect=bool(repetitions) or is_suspect(segment))


def _collapse(keys: Sequence[str]) -> tuple[list[bool], list[tuple[int, int, int]]]:
    """Which tokens to keep, and each collapsed run as (first token, phrase length, repeats).

    Left to right, at each token the phrase length that covers the most tokens by repeating wins (the
    shortest on a tie, so "ha ha ha ha" is "ha" x 4, not "ha ha" x 2). A trailing partial repeat, as
    when decoding stopped mid-phrase, goes with the run.
    """
    keep = [True] * len(keys)
    runs = []
    i = 0
    while i < len(keys):
        best_size, best_count = 0, 0
        for size in range(1, min(MAX_PHRASE_TOKENS, (len(keys) - i) // MIN_REPEATS) + 1):
            phrase = keys[i : i + size]
            if not any(phrase):
                continue
            count = 1
            while keys[i + count * size : i + (count + 1) * size] == phrase:
                count += 1
            if count * size > best_count * best_size:
                best_size, best_count = size, count
        end = i + best_size * best_count
        repeated_chars = sum(len(key) for key in keys[i:end])
        if best_count >= MIN_REPEATS and repeated_chars >= MIN_REPEATED_CHARS:
            while end < len(keys) and end - i - best_size * best_count < best_size - 1 and keys[end] == keys[i + (end - i) % best_size]:
                end += 1
            for j in range(i + best_size, end):
                keep[j] = False
            runs.append((i, best_size, best_count))
            i = end
        else:
            i += 1
    return keep, runs


def _key(text: str) -> str:
    """What two tokens must share to count as the same: letters and digits, case folded."""
    return _NOT_WORD.sub("", text).casefold()


def _kept_text(text: str, tokens: Sequence[tuple[int, int]], keep: Sequence[bool]) -> str:
    """The text without the dropped tokens, each dropped token taking the space before it along."""
    parts = []
    position = previous_end = 0
    for (start, end), kept in zip(tokens, keep):
        if not kept:
            parts.append(text[position:previous_end])
            position = end
        previous_end = end
    parts.append(text[position:])
    return "".join(parts)


def _words_text(words: Sequence[Word]) -> str:
    return "".join(word.text for word in words)


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compression_ratio(text: str) -> float:
    """How well the text compresses, as faster-whisper's get_compression_ratio: a repeating loop compresses well."""
    text_bytes = text.encode("utf-8")
    return len(text_bytes) / len(zlib.compress(text_bytes))

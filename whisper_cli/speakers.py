"""Speaker turns -> each word's and each segment's speaker: pure data, no model (diarize.py finds the turns).

A word takes the speaker whose turn overlaps it most, or the nearest turn within NEAREST_TURN_S when none
overlaps it (a word in a pause between turns). A segment whose words change speaker is split at each change,
so no cue of a subtitle mixes two voices; a segment without words takes the speaker that overlaps it most.
Also the checks of the speaker settings (--speaker-names, --num-speakers ...) and the renaming they ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import groupby
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence

from .errors import UsageError
from .transcript import Segment, Word

if TYPE_CHECKING:  # pragma: no cover
    from .options import DecodeOptions

NEAREST_TURN_S = 1.0  # a word outside every turn takes the nearest one this close, else no speaker
SPEAKER_PREFIX = "S"  # speakers are S1, S2 ... in order of first appearance
# The DecodeOptions fields that only --diarize reads, and their flags.
SPEAKER_FLAGS = {
    "speaker_names": "--speaker-names",
    "num_speakers": "--num-speakers",
    "min_speakers": "--min-speakers",
    "max_speakers": "--max-speakers",
}
SPEAKER_FIELDS = tuple(SPEAKER_FLAGS)


@dataclass(frozen=True)
class Turn:
    start: float  # seconds from the start of the source
    end: float
    speaker: str


@dataclass(frozen=True)
class SpeakerCount:
    """What the clustering is told of the number of speakers; None leaves it to find."""

    exactly: Optional[int] = None
    at_least: Optional[int] = None
    at_most: Optional[int] = None

    @classmethod
    def of(cls, options: "DecodeOptions") -> "SpeakerCount":
        return cls(options.num_speakers, options.min_speakers, options.max_speakers)


def relabel(turns: Iterable[Turn], prefix: str = SPEAKER_PREFIX) -> tuple[Turn, ...]:
    """Turns by start time, their speakers renamed S1, S2 ... (`prefix` 1, 2 ...) in order of first appearance."""
    names: dict[str, str] = {}
    ordered = sorted(turns, key=lambda turn: (turn.start, turn.end))
    for turn in ordered:
        names.setdefault(turn.speaker, f"{prefix}{len(names) + 1}")
    return tuple(replace(turn, speaker=names[turn.speaker]) for turn in ordered)


def named(turns: Sequence[Turn], names: Sequence[str]) -> tuple[Turn, ...]:
    """The speakers renamed `names` in order of first appearance; those past the last name keep their label."""
    order: dict[str, int] = {}
    for turn in sorted(turns, key=lambda turn: (turn.start, turn.end)):
        order.setdefault(turn.speaker, len(order))
    given = {speaker: names[index] for speaker, index in order.items() if index < len(names)}
    return tuple(replace(turn, speaker=given.get(turn.speaker, turn.speaker)) for turn in turns)


def parse_speaker_names(value: Optional[str]) -> tuple[str, ...]:
    """ "Alice, Bob" -> ("Alice", "Bob"); None -> ()."""
    if value is None:
        return ()
    return tuple(name.strip() for name in value.split(","))  # an empty one is refused by check_speaker_settings


def check_speaker_settings(options: "DecodeOptions") -> None:
    """UsageError for a speaker setting without --diarize, out of range, or contradicting another."""
    given = [flag for name, flag in SPEAKER_FLAGS.items() if getattr(options, name) not in (None, ())]
    if given and not options.diarize:
        raise UsageError(given[0], "needs --diarize")
    names = options.speaker_names
    if any(not name.strip() for name in names):
        raise UsageError("--speaker-names", "a name is empty; give names separated by commas, such as Alice,Bob")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError("--speaker-names", f"{repeated[0]!r} is given twice (two speakers would share one label)")
    for name in ("num_speakers", "min_speakers", "max_speakers"):
        value = getattr(options, name)
        if value is not None and value < 1:
            raise UsageError(SPEAKER_FLAGS[name], "must be at least 1")
    if options.num_speakers is not None and (options.min_speakers is not None or options.max_speakers is not None):
        raise UsageError("--num-speakers", "cannot be combined with --min-speakers or --max-speakers")
    if options.min_speakers is not None and options.max_speakers is not None and options.min_speakers > options.max_speakers:
        raise UsageError("--min-speakers", "must not be above --max-speakers")


def speaker_of(start: float, end: float, turns: Sequence[Turn]) -> Optional[str]:
    """The speaker whose turns overlap [start, end] most; else the nearest within NEAREST_TURN_S; else None."""
    overlap: dict[str, float] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=overlap.__getitem__)  # first appearance wins a tie (dicts keep order)
    gaps = [(max(turn.start - end, start - turn.end), turn.speaker) for turn in turns]
    near = [gap for gap in gaps if gap[0] <= NEAREST_TURN_S]
    return min(near)[1] if near else None


def with_speakers(
    segments: Iterable[Segment],
    turns: Sequence[Turn],
    encode: Optional[Callable[[str], tuple[int, ...]]] = None,
) -> Iterator[Segment]:
    """Each segment labelled with its speaker (and its words with theirs), split where the speaker changes.

    Lazy, so segments still stream. Ids are renumbered from 0 across the splits. A split piece keeps the
    segment's seek and decoding statistics; its tokens are its own text encoded by `encode` (without the
    timestamp tokens the decoder gave the whole segment), or none without an encoder.
    """
    number = 0
    for segment in segments:
        for piece in _split(segment, turns, encode):
            yield replace(piece, id=number)
            number += 1


def _split(segment: Segment, turns: Sequence[Turn], encode) -> list[Segment]:
    if not segment.words:
        return [replace(segment, speaker=speaker_of(segment.start, segment.end, turns))]
    words = _fill_gaps([replace(word, speaker=speaker_of(word.start, word.end, turns)) for word in segment.words])
    runs = [list(run) for _, run in groupby(words, key=lambda word: word.speaker)]
    if len(runs) == 1:
        return [replace(segment, words=tuple(words), speaker=words[0].speaker)]
    pieces = []
    for index, run in enumerate(runs):
        text = "".join(word.text for word in run)
        pieces.append(replace(
            segment,
            start=segment.start if index == 0 else run[0].start,
            end=segment.end if index == len(runs) - 1 else run[-1].end,
            text=text,
            words=tuple(run),
            tokens=encode(text) if encode else (),
            speaker=run[0].speaker,
        ))
    return pieces


def _fill_gaps(words: list[Word]) -> list[Word]:
    """A word no turn is near takes the speaker of the word before it (the first known one at the start)."""
    known = [word.speaker for word in words if word.speaker is not None]
    if not known:
        return words
    current = known[0]
    filled = []
    for word in words:
        current = word.speaker or current
        filled.append(replace(word, speaker=current))
    return filled

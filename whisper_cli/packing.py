"""Many short clips, few encoder windows: pack clips into shared 30-second windows and split the text back.

Whisper pads every input to a 30 s window, so a 3 s voice note spends 90% of the encoder's work on
padding. Here clips of one language are laid end to end in a window with GAP_S of silence after each,
the windows are encoded and decoded in batches, and each timestamped segment goes back to the clip whose
audio it covers, with times relative to that clip.

Each clip should get what it gets alone, so:
- nothing one file says conditions another: each window is decoded with no previous text but
  options.initial_prompt, which the normal path also gives a clip's only window;
- each clip keeps the language detected on its own audio (language.py), and a window holds one language;
- a segment that covers two clips (Whisper sometimes joins short sentences across the gap) is cut
  between words, timed by the same cross-attention alignment as word timestamps; if a word cannot be
  placed in a clip, the clips around it go the normal way (Whisper.__call__, one clip at a time);
- where the normal path would retry at a higher temperature (a window under options.log_prob_threshold,
  a clip's text over options.compression_ratio_threshold) or a window's output was cut off, the clips
  concerned go the normal way;
- a clip that got no text although the VAD hears speech in it either lost its words to a neighbour (then
  it and its neighbours go the normal way) or was never reached, because Whisper ended the window early
  with a bare timestamp (then it is packed again, once);
- a clip whose text ends with MIN_LEFT_SPEECH_S or more of speech after it (VAD) was cut short: Whisper
  ended the window inside it, leaving the rest for "the next window" (the normal path decodes again from
  there), so it goes the normal way;
- a clip alone in its window, longer than MAX_PACKED_CLIP_S, or with options packable() refuses goes the
  normal way.
What differs from the normal path: avg_logprob and no_speech_prob of a packed segment are its window's
(CTranslate2 scores whole sequences), and a clip of silence gets no segments rather than what Whisper
may invent for it alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from .engine.features import FRAMES_PER_SECOND, WINDOW_FRAMES
from .options import DecodeOptions
from .quality import compression_ratio
from .transcript import Segment, Word

if TYPE_CHECKING:  # pragma: no cover
    from .engine.language import LanguageGuess
    from .engine.windows import WindowResult

MAX_PACKED_CLIP_S = 25.0  # longer clips leave too little room to share a window; they go the normal way
GAP_S = 1.0  # silence after each clip in a window, so that Whisper closes the segment before the next one
# More silence after a window's last clip: speech that runs to within about a second of the window's end
# is left for the next window (Whisper ends with a bare timestamp), as seen with clips ending at 29 s.
END_MARGIN_S = 1.0
# A segment may run this far into the audio of a clip that is not its own (Whisper's timestamps at a
# segment boundary are often off by a few tenths of a second); beyond it, it covers two clips.
STRADDLE_S = 0.3
# Windows per encode/generate call. On 2 CPU cores, 4 at once was no faster than 1 (59.0 vs 60.4 s for 40
# clips, base int8) but raised peak RSS from 351 to 726 MiB: beam search keeps cross-attention keys and
# values over 1500 frames for every hypothesis of every window. A GPU has the memory and gains from it.
WINDOW_BATCH = {"cpu": 1, "cuda": 4}
ROUNDS = 2  # clips Whisper skipped in a window are packed once more before they go alone
# Speech (VAD) after a clip's text that means Whisper stopped inside the clip; less is its last word ending.
# speech_first.MIN_REST_SPEECH_S is this bar too. Seen: forecast, coffee, jfk in one window, read every time
# to "...ask what you can do<|26.44|><|26.44|>" with jfk's audio running to 27.92 s.
MIN_LEFT_SPEECH_S = 0.5
UNSURE_LANGUAGE = 0.5  # below this detected probability, a clip is checked for speech before its language counts
_TIME_PRECISION_S = 0.02  # one timestamp token


def packable(options: DecodeOptions) -> bool:
    """Whether these options can be honoured in a shared window.

    Not with a prefix (forced at the start of every clip), clip_timestamps, split_stereo, the batched
    pipeline (batch_size > 0: its own chunking and no temperature fallback), the VAD filter (it cuts each
    file into speech regions first) or hallucination_silence_threshold (it skips silences per window).
    Everything else (language, task, beam, temperatures, thresholds, initial_prompt, hotwords,
    suppress_tokens, word timestamps) means the same for a clip under 30 s in a shared window as alone.
    """
    return not (
        options.prefix
        or options.clip_timestamps
        or options.split_stereo
        or options.batch_size
        or options.vad_filter
        or options.hallucination_silence_threshold is not None
        or options.diarize  # a voice is found across its whole recording, not within a shared window
    )


def settle(window: "Window", outcome: "Outcome", speech, speech_after) -> tuple[dict[int, str], list[int]]:
    """Which clips of a decoded window must go alone (and why), and which to pack again in a new window.

    A clip that got no text but has speech either lost its words to a neighbour, when text follows it in
    the window (then it and both neighbours go alone), or was never reached: Whisper may end a window with
    a bare timestamp after a finished sentence, leaving the rest for "the next window". Such clips are
    packed again. A clip whose text stops before its speech does (speech_after(clip, seconds from its start):
    seconds of speech from there on) was cut short the same way, and goes alone.
    """
    failed = dict(outcome.failed)
    skipped: list[int] = []
    clips = window.clips
    lengths = {p.clip: p.frames / FRAMES_PER_SECOND for p in window.placements}
    for at, clip in enumerate(clips):
        if clip in failed:
            continue
        if segments := outcome.segments.get(clip):
            text_end = segments[-1].end
            if lengths[clip] - text_end >= MIN_LEFT_SPEECH_S and speech_after(clip, text_end) >= MIN_LEFT_SPEECH_S:
                failed[clip] = "its text in its window ends before its speech"
            continue
        if not speech(clip):
            continue
        if any(outcome.segments.get(later) for later in clips[at + 1 :]):
            failed[clip] = "no text in its window though it has speech"
            for neighbour in window.neighbours(clip):
                failed.setdefault(neighbour, "a neighbour in its window got no text")
        else:
            skipped.append(clip)
    return failed, [clip for clip in skipped if clip not in failed]


def window_languages(pending: list[int], guesses: dict[int, "LanguageGuess"], speech) -> dict[int, str]:
    """The language of the window each clip is decoded in: its own, except for silence.

    The language read from a clip without speech is noise (silence reads as nn or cy), and would leave it
    alone in a window of its own; such a clip joins the windows of the commonest language instead, and
    keeps its detected language in its transcript.
    """
    languages = {i: guesses[i].language for i in pending}
    unsure = [i for i in pending if guesses[i].probability < UNSURE_LANGUAGE and not speech(i)]
    sure = [languages[i] for i in pending if i not in unsure]
    if unsure and sure:
        commonest = max(sorted(set(sure)), key=sure.count)
        languages.update((i, commonest) for i in unsure)
    return languages


# --- packing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    clip: int
    start_frame: int
    frames: int

    @property
    def start(self) -> float:
        return self.start_frame / FRAMES_PER_SECOND

    @property
    def end(self) -> float:
        return (self.start_frame + self.frames) / FRAMES_PER_SECOND

    def relative(self, window_time: float) -> float:
        """A time in the window as seconds from the clip's start, inside the clip."""
        return round(min(max(float(window_time) - self.start, 0.0), self.frames / FRAMES_PER_SECOND), 3)


@dataclass(frozen=True)
class Window:
    placements: tuple[Placement, ...]
    language: str = "en"

    @property
    def clips(self) -> list[int]:
        return [p.clip for p in self.placements]

    @property
    def content_frames(self) -> int:
        """Frames the alignment looks at: up to two seconds past the last clip."""
        return min(WINDOW_FRAMES, self.placements[-1].start_frame + self.placements[-1].frames + 2 * FRAMES_PER_SECOND)

    def neighbours(self, clip: int) -> list[int]:
        order = self.clips
        at = order.index(clip)
        return [order[j] for j in (at - 1, at + 1) if 0 <= j < len(order)]


def even(frames: int) -> int:
    # The encoder's first convolution has stride 2: starting every clip on an even frame lets it see the
    # clip's frames in the same phase as when the clip is alone.
    return frames + (frames % 2)


def pack(members: list[int], frames: dict[int, int], gap_frames: int, capacity: int) -> list[Window]:
    """First-fit decreasing: each clip and the gap after it go into the first window with room."""
    bins: list[list[int]] = []
    used: list[int] = []
    for clip in sorted(members, key=lambda i: -frames[i]):
        need = even(frames[clip]) + gap_frames
        for b, total in enumerate(used):
            if total + need <= capacity:
                bins[b].append(clip)
                used[b] += need
                break
        else:
            bins.append([clip])
            used.append(need)
    windows = []
    for content in bins:
        placements, at = [], 0
        for clip in sorted(content):  # input order inside a window
            placements.append(Placement(clip, at, frames[clip]))
            at += even(frames[clip]) + gap_frames
        windows.append(Window(tuple(placements)))
    return windows


# --- decoding ----------------------------------------------------------------------------------------

@dataclass
class Outcome:
    segments: dict[int, list[Segment]]
    failed: dict[int, str]


@dataclass
class Reading:
    """One window's decoded tokens cut into timed pieces (faster-whisper's segment dicts), window time."""

    window: Window
    pieces: list[dict]
    avg_logprob: float
    no_speech_prob: float
    failed: dict[int, str]

    @property
    def needs_words(self) -> bool:
        """Whether a piece covers two clips or none, so that only its words can say where it belongs."""
        return any(_owner(self.window, piece["start"], piece["end"]) is None for piece in self.pieces)


def window_mel(window: Window, features: dict[int, np.ndarray]) -> np.ndarray:
    n_mels = next(iter(features.values())).shape[0]
    # 0.0 between and after clips: what faster-whisper pads a short clip's features with, so each clip
    # is followed by what follows it when alone. (Log-mel silence in the gaps instead made no difference.)
    mel = np.zeros((n_mels, WINDOW_FRAMES), dtype=np.float32)
    for p in window.placements:
        mel[:, p.start_frame : p.start_frame + p.frames] = features[p.clip]
    return mel


def read_window(window: "Window", result: "WindowResult", options: DecodeOptions) -> "Reading":
    """A decoded window as a Reading, failing the clips it cannot vouch for."""
    reading = Reading(window, [], result.avg_logprob, result.no_speech_prob, {})
    if options.log_prob_threshold is not None and result.avg_logprob < options.log_prob_threshold:
        # The normal path would retry at a higher temperature; which clip made the window fail is unknown.
        reading.failed = {clip: "its window failed the log-probability check" for clip in window.clips}
        return reading
    if result.complete_until is not None:
        # Text after the last complete segment was dropped: the clips from there on go alone.
        for p in window.placements:
            if p.end > result.complete_until:
                reading.failed[p.clip] = "its window's output was cut off"
    reading.pieces = result.pieces
    return reading


def _owner(window: Window, start: float, end: float) -> Optional[int]:
    """The one clip whose audio the stretch covers, allowing STRADDLE_S into a neighbour; None if not one."""
    overlaps = sorted(((min(end, p.end) - max(start, p.start), p.clip) for p in window.placements), reverse=True)
    best, owner = overlaps[0]
    runner_up = overlaps[1][0] if len(overlaps) > 1 else 0.0
    if best <= 0 or runner_up > STRADDLE_S:
        return None
    return owner


def _word_owner(window: Window, word: dict) -> Optional[int]:
    """The clip a word was said in: the one it overlaps most, or the nearest within STRADDLE_S."""
    best = max(window.placements, key=lambda p: min(word["end"], p.end) - max(word["start"], p.start))
    if min(word["end"], best.end) - max(word["start"], best.start) > 0:
        return best.clip
    nearest = min(window.placements, key=lambda p: max(p.start - word["end"], word["start"] - p.end))
    gap = max(nearest.start - word["end"], word["start"] - nearest.end)
    return nearest.clip if gap <= STRADDLE_S else None


def assign(tokenizer, reading: Reading, options: DecodeOptions) -> Outcome:
    """Give each piece to the clip whose audio it covers; a piece over several clips is cut between words."""
    window = reading.window
    outcome = Outcome(segments={}, failed=dict(reading.failed))
    owned: dict[int, list[dict]] = {}
    for piece in reading.pieces:
        text_tokens = [token for token in piece["tokens"] if token < tokenizer.eot]
        owner = _owner(window, piece["start"], piece["end"])
        if owner is not None:
            owned.setdefault(owner, []).append(dict(piece, text=tokenizer.decode(text_tokens), text_tokens=text_tokens))
            continue
        words = piece.get("words") or []
        owners = [_word_owner(window, word) for word in words]
        if not words or None in owners:
            for clip in _nearest(window, piece["start"], piece["end"]):
                outcome.failed.setdefault(clip, "text outside every clip in its window")
            continue
        runs = _cut(tokenizer, text_tokens, owners, words)
        if runs is None:
            for clip in set(owners):
                outcome.failed.setdefault(clip, "its words could not be matched to its tokens")
            continue
        for clip, run in runs:
            owned.setdefault(clip, []).append(run)

    placements = {p.clip: p for p in window.placements}
    for clip, pieces in owned.items():
        if clip in outcome.failed:
            continue
        ratio = compression_ratio("".join(piece["text"] for piece in pieces).strip())
        if options.compression_ratio_threshold is not None and ratio > options.compression_ratio_threshold:
            outcome.failed[clip] = "its text failed the compression-ratio check"
            continue
        outcome.segments[clip] = _clip_segments(tokenizer, placements[clip], pieces, reading, options, ratio)
    return outcome


def _cut(tokenizer, text_tokens: list[int], owners: list, words: list[dict]) -> Optional[list[tuple[int, dict]]]:
    """A piece over several clips as (clip, piece) for each run of consecutive words said in one clip, each
    with the tokens of its own text; None where the words are not the piece's tokens decoded in turn."""
    grouped = itertools.groupby(zip(owners, words), key=lambda pair: pair[0])
    runs = [(clip, [word for _, word in run]) for clip, run in grouped]
    texts = ["".join(word["word"] for word in run_words) for _, run_words in runs]
    tokens = _split_tokens(tokenizer, text_tokens, texts)
    if tokens is None:
        return None
    return [
        (clip, dict(start=run[0]["start"], end=run[-1]["end"], text=text, text_tokens=run_tokens, words=run))
        for (clip, run), text, run_tokens in zip(runs, texts, tokens)
    ]


def _split_tokens(tokenizer, tokens: list[int], texts: list[str]) -> Optional[list[list[int]]]:
    """`tokens` cut into consecutive runs that decode to each of `texts` in turn; None where they do not."""
    runs: list[list[int]] = []
    start = 0
    for number, text in enumerate(texts):
        end = len(tokens) if number == len(texts) - 1 else start  # the last run takes every token left
        while tokenizer.decode(tokens[start:end]) != text:
            end += 1
            if end > len(tokens):
                return None
        runs.append(tokens[start:end])
        start = end
    return runs


def _clip_segments(
    tokenizer, p: Placement, pieces: list[dict], reading: Reading, options: DecodeOptions, compression_ratio: float
) -> list[Segment]:
    """One clip's pieces as Segments timed from the clip's start, numbered from 0."""
    temperature = options.temperature[0] if options.temperature else 0.0
    segments = []
    for number, piece in enumerate(pieces):
        start, end = p.relative(piece["start"]), p.relative(piece["end"])
        words: tuple[Word, ...] = ()
        if options.word_timestamps and piece.get("words"):
            words = tuple(
                Word(p.relative(w["start"]), p.relative(w["end"]), w["word"], float(w["probability"]))
                for w in piece["words"]
            )
            # faster-whisper may leave the last word a few hundredths past its segment's end.
            start, end = min(start, words[0].start), max(end, words[-1].end)
        end = max(end, start)
        segments.append(
            Segment(
                id=number,
                start=start,
                end=end,
                text=piece["text"],
                words=words,
                # As if the clip had been decoded alone: its window starts with it, and its text sits
                # between the timestamp tokens of its start and end.
                seek=0,
                tokens=(_timestamp_token(tokenizer, start), *piece["text_tokens"], _timestamp_token(tokenizer, end)),
                avg_logprob=reading.avg_logprob,  # the window's: CTranslate2 scores whole sequences
                no_speech_prob=reading.no_speech_prob,
                compression_ratio=compression_ratio,
                temperature=temperature,
                language=reading.window.language if options.multilingual else None,  # a clip is one window alone
            )
        )
    return segments


def _timestamp_token(tokenizer, seconds: float) -> int:
    return tokenizer.timestamp_begin + round(seconds / _TIME_PRECISION_S)


def _nearest(window: Window, start: float, end: float) -> list[int]:
    """The clips just before and after a stretch of time, or those it overlaps."""
    before = [p.clip for p in window.placements if p.start < start]
    after = [p.clip for p in window.placements if p.end > end]
    return sorted(set(before[-1:] + after[:1] + [p.clip for p in window.placements if p.start < end and p.end > start]))

"""Many short clips, few encoder windows: pack clips into shared 30-second windows and split the text back.

Whisper pads every input to a 30 s window, so a 3 s voice note spends 90% of the encoder's work on
padding. Here clips of one language are laid end to end in a window with GAP_S of silence between them,
the windows are encoded and decoded in batches, and each timestamped segment goes back to the clip whose
audio it covers, with times relative to that clip.

The packed result must equal what each clip gets alone, so every doubt sends a clip back to the normal
path (Whisper.__call__, one clip at a time):
- a segment that covers two clips, or text outside every clip (then both neighbours go);
- a window whose output was cut off (the clips after its last complete segment);
- a window whose average log-probability is under options.log_prob_threshold (all its clips), or a clip
  whose text compresses more than options.compression_ratio_threshold: where the normal path would have
  retried at a higher temperature;
- a clip that got no text although the VAD hears speech in it, and its neighbours, which may have taken
  its words.
Each window is decoded with no text before it but options.initial_prompt, so nothing one file says can
condition another; each clip keeps the language detected on its own audio (language.py), and windows
hold clips of one language. A clip alone in its window, or longer than MAX_PACKED_CLIP_S, goes the
normal way too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .audio import SAMPLE_RATE
from .language import ENGLISH_ONLY, LanguageGuess, clip_features, detect_languages
from .options import DecodeOptions
from .quality import checked
from .transcript import Segment, Transcript, TranscriptInfo

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Whisper

WINDOW_FRAMES = 3000  # mel frames (10 ms) in one encoder window: 30 s
FRAMES_PER_SECOND = 100
MAX_PACKED_CLIP_S = 25.0  # longer clips leave too little room to share a window; they go the normal way
GAP_S = 1.0  # silence after each clip in a window, so that Whisper closes the segment before the next one
# More silence after a window's last clip: speech that runs to within about a second of the window's end
# is left for the next window (Whisper ends with a bare timestamp), as seen with clips ending at 29 s.
END_MARGIN_S = 1.0
# A segment may run this far into the audio of a clip that is not its own (Whisper's timestamps at a
# segment boundary are often off by a few tenths of a second); beyond it, it covers two clips.
STRADDLE_S = 0.3
DEFAULT_WINDOW_BATCH = 4  # windows per encode/generate call
ROUNDS = 2  # clips Whisper skipped in a window are packed once more before they go alone
UNSURE_LANGUAGE = 0.5  # below this detected probability, a clip is checked for speech before its language counts
_MAX_INITIAL_TIMESTAMP_S = 1.0  # as faster-whisper's transcribe(max_initial_timestamp=1.0)
_TIME_PRECISION_S = 0.02  # one timestamp token


@dataclass(frozen=True)
class ClipResult:
    """One clip's transcript, and whether it came from a shared window or the normal path (and why)."""

    transcript: Transcript
    packed: bool
    reason: Optional[str] = None  # why it was transcribed alone; None when packed
    notes: tuple[str, ...] = ()  # what the quality checks noticed, as TranscriptStream.notes


def packable(options: DecodeOptions) -> bool:
    """Whether these options can be honoured in a shared window.

    Not with word timestamps (words are aligned per window in faster-whisper), a prefix (forced at the
    start of every clip's first window), clip_timestamps, split_stereo, the batched pipeline
    (batch_size > 0: its own chunking and no temperature fallback), or the VAD filter (it cuts each file
    into speech regions first). Everything else (language, task, beam, temperatures, thresholds,
    initial_prompt, hotwords, suppress_tokens) means the same for a clip under 30 s in a window of its own
    as in a shared one.
    """
    return not (
        options.word_timestamps
        or options.prefix
        or options.clip_timestamps
        or options.split_stereo
        or options.batch_size
        or options.vad_filter
    )


def transcribe_packed(
    whisper: "Whisper",
    clips: Sequence[tuple[str, np.ndarray]],
    options: DecodeOptions = DecodeOptions(),
    *,
    batch_size: int = DEFAULT_WINDOW_BATCH,
    gap_s: float = GAP_S,
) -> list[ClipResult]:
    """Transcripts for (name, 16 kHz samples) clips, in the order given.

    Raises UsageError as Whisper.__call__ does for options this model cannot honour.
    """
    options.validate()
    options.check_model(whisper.resolved.name, whisper.is_multilingual)
    model = _engine_model(whisper)
    results: dict[int, ClipResult] = {}
    alone: dict[int, str] = {}  # clip index -> why it goes the normal way

    pending: list[int] = []
    for i, (_, audio) in enumerate(clips):
        if not packable(options):
            alone[i] = "options not packable"
        elif len(audio) > MAX_PACKED_CLIP_S * SAMPLE_RATE:
            alone[i] = f"longer than {MAX_PACKED_CLIP_S:g} s"
        elif len(audio) < SAMPLE_RATE // FRAMES_PER_SECOND:
            alone[i] = "shorter than one frame"
        else:
            pending.append(i)

    features = {i: clip_features(model, clips[i][1]) for i in pending}
    guesses = _languages(whisper, clips, options, pending, features)
    speech = _SpeechCache(clips)
    window_language = _window_languages(pending, guesses, speech)
    gap_frames = _even(round(gap_s * FRAMES_PER_SECOND))
    capacity = WINDOW_FRAMES - round(END_MARGIN_S * FRAMES_PER_SECOND)

    for attempt in range(1, ROUNDS + 1):
        windows: list[_Window] = []
        for language in sorted({window_language[i] for i in pending}):
            members = [i for i in pending if window_language[i] == language]
            for window in _pack(members, {i: features[i].shape[1] for i in members}, gap_frames, capacity):
                if len(window.placements) == 1:
                    alone[window.placements[0].clip] = "alone in its window"
                else:
                    windows.append(replace(window, language=language))
        retry: list[int] = []
        for window, outcome in zip(windows, _decode_windows(model, windows, features, options, batch_size)):
            failed, skipped = _settle(window, outcome, speech, gap_s)
            alone.update((clip, reason) for clip, reason in failed.items() if clip not in alone)
            if attempt < ROUNDS:
                retry.extend(skipped)
            else:
                alone.update((clip, "Whisper ended its window before it") for clip in skipped)
            for clip in window.clips:
                if clip in failed or clip in skipped:
                    continue
                name, audio = clips[clip]
                notes: list[str] = []
                segments = tuple(checked(outcome.segments.get(clip, []), notes.append))
                info = _info(whisper, name, audio, guesses[clip], options)
                results[clip] = ClipResult(Transcript(info, segments), packed=True, notes=tuple(notes))
        pending = retry

    for clip, reason in alone.items():
        transcript, notes = _transcribe_alone(whisper, clips[clip], options, guesses.get(clip))
        results[clip] = ClipResult(transcript, packed=False, reason=reason, notes=tuple(notes))
    return [results[i] for i in range(len(clips))]


def _settle(window: "_Window", outcome: "_Outcome", speech: "_SpeechCache", gap_s: float) -> tuple[dict[int, str], list[int]]:
    """Which clips of a decoded window must go alone (and why), and which to pack again in a new window.

    A clip that got no text but has speech either lost its words to a neighbour, when text follows it in
    the window (then it and both neighbours go alone), or was never reached: Whisper may end a window with
    a bare timestamp after a finished sentence, leaving the rest for "the next window". Such clips are
    packed again.
    """
    failed = dict(outcome.failed)
    skipped: list[int] = []
    clips = window.clips
    for at, clip in enumerate(clips):
        if clip in failed or outcome.segments.get(clip) or not speech(clip):
            continue
        if any(outcome.segments.get(later) for later in clips[at + 1 :]):
            failed[clip] = "no text in its window though it has speech"
            for neighbour in window.neighbours(clip):
                failed.setdefault(neighbour, "a neighbour in its window got no text")
        else:
            skipped.append(clip)
    return failed, [clip for clip in skipped if clip not in failed]


class _SpeechCache:
    """Whether the VAD hears speech in a clip, asked at most once per clip and only when needed."""

    def __init__(self, clips: Sequence[tuple[str, np.ndarray]]):
        self._clips = clips
        self._known: dict[int, bool] = {}

    def __call__(self, clip: int) -> bool:
        if clip not in self._known:
            self._known[clip] = _has_speech(self._clips[clip][1])
        return self._known[clip]


def _window_languages(pending: list[int], guesses: dict[int, LanguageGuess], speech: _SpeechCache) -> dict[int, str]:
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


# --- languages ---------------------------------------------------------------------------------------


def _languages(
    whisper: "Whisper",
    clips: Sequence[tuple[str, np.ndarray]],
    options: DecodeOptions,
    indices: list[int],
    features: dict[int, np.ndarray],
) -> dict[int, LanguageGuess]:
    """Each packable clip's language: the one given, "en" for an English-only model, else detected."""
    model = _engine_model(whisper)
    if not model.model.is_multilingual:
        return {i: ENGLISH_ONLY for i in indices}
    if options.language:
        given = LanguageGuess(options.language, 1.0, ((options.language, 1.0),))
        return {i: given for i in indices}
    detected = detect_languages(
        model,
        [clips[i][1] for i in indices],
        threshold=options.language_detection_threshold,
        segments=options.language_detection_segments,
        features=[features[i] for i in indices],
    )
    return dict(zip(indices, detected))


# --- packing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placement:
    clip: int
    start_frame: int
    frames: int

    @property
    def start(self) -> float:
        return self.start_frame / FRAMES_PER_SECOND

    @property
    def end(self) -> float:
        return (self.start_frame + self.frames) / FRAMES_PER_SECOND


@dataclass(frozen=True)
class _Window:
    placements: tuple[_Placement, ...]
    language: str = "en"

    @property
    def clips(self) -> list[int]:
        return [p.clip for p in self.placements]

    def neighbours(self, clip: int) -> list[int]:
        order = self.clips
        at = order.index(clip)
        return [order[j] for j in (at - 1, at + 1) if 0 <= j < len(order)]


def _even(frames: int) -> int:
    # The encoder's first convolution has stride 2: starting every clip on an even frame lets it see the
    # clip's frames in the same phase as when the clip is alone.
    return frames + (frames % 2)


def _pack(members: list[int], frames: dict[int, int], gap_frames: int, capacity: int) -> list[_Window]:
    """First-fit decreasing: each clip and the gap after it go into the first window with room."""
    bins: list[list[int]] = []
    used: list[int] = []
    for clip in sorted(members, key=lambda i: -frames[i]):
        need = _even(frames[clip]) + gap_frames
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
            placements.append(_Placement(clip, at, frames[clip]))
            at += _even(frames[clip]) + gap_frames
        windows.append(_Window(tuple(placements)))
    return windows


# --- decoding ----------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    segments: dict[int, list[Segment]]
    failed: dict[int, str]


def _decode_windows(
    model, windows: list[_Window], features: dict[int, np.ndarray], options: DecodeOptions, batch_size: int
) -> list[_Outcome]:
    if not windows:
        return []
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    tokenizers = {
        language: Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=options.task, language=language)
        for language in {w.language for w in windows}
    }
    any_tokenizer = next(iter(tokenizers.values()))
    # The suppressed set depends on the vocabulary only, not on the language.
    suppress = list(get_suppressed_tokens(any_tokenizer, list(options.suppress_tokens)) if options.suppress_tokens else [])
    initial: list[int] = []
    if options.initial_prompt:
        initial = any_tokenizer.encode(" " + options.initial_prompt.strip())

    outcomes = []
    for first in range(0, len(windows), batch_size):
        batch = windows[first : first + batch_size]
        mels = np.stack([_window_features(w, features) for w in batch])
        encoded = model.encode(mels)
        prompts = [
            # No previous text but the initial prompt: nothing one clip says conditions another.
            model.get_prompt(tokenizers[w.language], initial, without_timestamps=False, hotwords=options.hotwords)
            for w in batch
        ]
        results = model.model.generate(
            encoded,
            prompts,
            length_penalty=options.length_penalty,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            max_length=model.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppress,
            max_initial_timestamp_index=round(_MAX_INITIAL_TIMESTAMP_S / _TIME_PRECISION_S),
            **_search_kwargs(options),
        )
        for window, result, prompt in zip(batch, results, prompts):
            outcomes.append(_split(model, tokenizers[window.language], window, result, prompt, options))
    return outcomes


def _search_kwargs(options: DecodeOptions) -> dict:
    """Beam search or sampling at the first temperature, as faster-whisper's generate_with_fallback."""
    temperature = options.temperature[0] if options.temperature else 0.0
    if temperature > 0:
        return dict(beam_size=1, num_hypotheses=options.best_of, sampling_topk=0, sampling_temperature=temperature)
    return dict(beam_size=options.beam_size, patience=options.patience)


def _window_features(window: _Window, features: dict[int, np.ndarray]) -> np.ndarray:
    n_mels = next(iter(features.values())).shape[0]
    # 0.0 between and after clips: what faster-whisper pads a short clip's features with, so each clip
    # is followed by what follows it when alone.
    mel = np.zeros((n_mels, WINDOW_FRAMES), dtype=np.float32)
    for p in window.placements:
        mel[:, p.start_frame : p.start_frame + p.frames] = features[p.clip]
    return mel


def _split(model, tokenizer, window: _Window, result, prompt: list[int], options: DecodeOptions) -> _Outcome:
    """Cut one window's tokens into segments and give each to the clip whose audio it covers."""
    from faster_whisper.transcribe import get_compression_ratio

    tokens = list(result.sequences_ids[0])
    outcome = _Outcome(segments={}, failed={})
    length = len(tokens)
    avg_logprob = result.scores[0] * (length**options.length_penalty) / (length + 1)
    temperature = options.temperature[0] if options.temperature else 0.0
    every = [p.clip for p in window.placements]

    if options.log_prob_threshold is not None and avg_logprob < options.log_prob_threshold:
        return _Outcome({}, {clip: "its window failed the log-probability check" for clip in every})

    pieces, _, _ = model._split_segments_by_timestamps(
        tokenizer=tokenizer,
        tokens=tokens,
        time_offset=0.0,
        segment_size=WINDOW_FRAMES,
        segment_duration=WINDOW_FRAMES / FRAMES_PER_SECOND,
        seek=0,
    )
    consumed = sum(len(piece["tokens"]) for piece in pieces)
    cut_off = len(prompt) + length >= model.max_length or any(
        t < tokenizer.eot for t in tokens[consumed:]
    )
    if cut_off:
        # Text after the last complete segment was dropped: every clip from there on goes alone.
        last_end = max((piece["end"] for piece in pieces), default=0.0)
        for p in window.placements:
            if p.end > last_end:
                outcome.failed[p.clip] = "its window's output was cut off"

    owned: dict[int, list[tuple[float, float, list[int]]]] = {}
    for piece in pieces:
        text_tokens = piece["tokens"]
        start, end = piece["start"], piece["end"]
        if text_tokens and text_tokens[0] >= tokenizer.timestamp_begin:
            # _split_segments_by_timestamps starts a lone segment at the window start, not its timestamp.
            start = (text_tokens[0] - tokenizer.timestamp_begin) * _TIME_PRECISION_S
        if start == end or not tokenizer.decode(text_tokens).strip():
            continue  # faster-whisper drops these too
        overlaps = sorted(
            ((min(end, p.end) - max(start, p.start), p.clip) for p in window.placements), reverse=True
        )
        (best, owner), runner_up = overlaps[0], overlaps[1][0] if len(overlaps) > 1 else 0.0
        if best <= 0:
            for clip in _nearest(window, start, end):
                outcome.failed.setdefault(clip, "text outside every clip in its window")
            continue
        if runner_up > STRADDLE_S:
            for _, clip in overlaps[:2]:
                outcome.failed.setdefault(clip, "a segment covered two clips")
            continue
        owned.setdefault(owner, []).append((start, end, text_tokens))

    placements = {p.clip: p for p in window.placements}
    for clip, pieces_of_clip in owned.items():
        if clip in outcome.failed:
            continue
        text = tokenizer.decode([t for _, _, toks in pieces_of_clip for t in toks]).strip()
        compression_ratio = get_compression_ratio(text)
        if (
            options.compression_ratio_threshold is not None
            and compression_ratio > options.compression_ratio_threshold
        ):
            outcome.failed[clip] = "its text failed the compression-ratio check"
            continue
        p = placements[clip]
        duration = p.frames / FRAMES_PER_SECOND
        segments = []
        for start, end, toks in pieces_of_clip:
            rel_start = min(max(start - p.start, 0.0), duration)
            rel_end = min(max(end - p.start, rel_start), duration)
            segments.append(
                Segment(
                    id=len(segments) + 1,
                    start=round(rel_start, 3),
                    end=round(rel_end, 3),
                    text=tokenizer.decode(toks),
                    avg_logprob=avg_logprob,  # the window's: CTranslate2 scores whole sequences
                    no_speech_prob=result.no_speech_prob,
                    compression_ratio=compression_ratio,
                    temperature=temperature,
                )
            )
        outcome.segments[clip] = segments
    return outcome


def _nearest(window: _Window, start: float, end: float) -> list[int]:
    """The clips just before and after a stretch of time that lies in no clip."""
    before = [p.clip for p in window.placements if p.end <= start]
    after = [p.clip for p in window.placements if p.start >= end]
    return before[-1:] + after[:1]


def _has_speech(audio: np.ndarray) -> bool:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return bool(get_speech_timestamps(audio, VadOptions(min_speech_duration_ms=250)))


# --- the normal path and the records -----------------------------------------------------------------


def _engine_model(whisper: "Whisper"):
    # engine.Whisper keeps its faster_whisper.WhisperModel private; see the integration note in the report.
    return getattr(whisper, "model", None) or whisper._model


def _transcribe_alone(
    whisper: "Whisper", clip: tuple[str, np.ndarray], options: DecodeOptions, guess: Optional[LanguageGuess]
) -> tuple[Transcript, list[str]]:
    """The normal path, reusing the language already known rather than detecting it again."""
    name, audio = clip
    default = DecodeOptions()
    given = options
    if guess is not None:
        # Detection settings must be at their defaults once a language is given (DecodeOptions.validate).
        given = replace(
            options,
            language=guess.language,
            language_detection_threshold=default.language_detection_threshold,
            language_detection_segments=default.language_detection_segments,
        )
    stream = whisper(audio, given, source=name)
    segments = tuple(stream.segments)
    info = stream.info
    if guess is not None:
        info = replace(info, language_probability=guess.probability, settings=options.as_record())
    return Transcript(info, segments), stream.take_notes()


def _info(whisper: "Whisper", name: str, audio: np.ndarray, guess: LanguageGuess, options: DecodeOptions) -> TranscriptInfo:
    # The same fields engine.Whisper.__call__ fills in.
    return TranscriptInfo(
        source=name,
        duration=len(audio) / SAMPLE_RATE,
        language=guess.language,
        language_probability=guess.probability,
        model=whisper.resolved.name,
        device=whisper.choice.device,
        compute_type=whisper.choice.compute_type,
        settings=options.as_record(),
    )

"""The streaming state machine of --live: insert audio, process, emit finals and partials, finish.

The split of ufal/whisper_streaming's OnlineASRProcessor, without its globals, prints or clock:
insert_audio_chunk() appends samples, process_iter() decodes what is buffered and returns what became
final, finish() flushes the rest at the end of the stream. Time is the stream's own (seconds of audio
inserted), so a recording replayed as fast as the CPU goes gives the same finals as the same audio
arriving in real time.

Silero VAD splits the stream into utterances, and non-speech never reaches the decoder. Inside an
utterance each pass re-decodes the buffer and LocalAgreement-2 commits what two passes agree on; the
rest is committed when the utterance ends (a pause) or when too much audio waits uncommitted. Only
uncommitted audio and a few seconds before it are kept, so memory is flat however long the stream runs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from .audio import SAMPLE_RATE
from .live_agreement import LocalAgreement
from .quality import is_suspect
from .transcript import Segment, Word

SENTENCE_ENDS = (".", "?", "!", "。", "？", "！")
_ONSET_KEPT_S = 0.5  # of silence, kept in case speech is starting (the VAD needs 0.25 s to call it speech)
_UNCOMMITTED_KEPT_S = 1.0  # of a stretch committed for its length, the last second waits for the next pass
_TRIM_HYSTERESIS_S = 3.0  # committed audio beyond the context kept before it is cut, so cuts are rare
_PROMPT_SLACK_S = 0.05  # word ends are timed to 20 ms; a word ending this close to the buffer start is before it

# (samples, offset_s, prompt) -> segments timed from the stream's start, with words.
Decode = Callable[[np.ndarray, float, Optional[str]], list[Segment]]
# samples -> speech spans as (start, end) sample indices; a span still open at the end ends at len(samples).
DetectSpeech = Callable[[np.ndarray], list[tuple[int, int]]]


@dataclass(frozen=True)
class LiveSettings:
    step_s: float = 1.0  # new audio between two passes
    pause_s: float = 0.5  # silence that ends an utterance
    speech_pad_s: float = 0.2  # audio kept on each side of speech
    max_uncommitted_s: float = 15.0  # past this, words are committed without waiting for agreement
    max_buffer_s: float = 28.0  # never more than this is decoded at once (Whisper's window is 30 s); a longer backlog goes window by window
    context_s: float = 4.0  # committed audio decoded again before the uncommitted, as context
    context_gap_s: float = 2.0  # speech after a longer silence is decoded without the speech before it
    max_segment_s: float = 10.0  # a final segment without a sentence end is closed at this length
    prompt_chars: int = 200  # committed text that primes each pass
    prompt_reset_pause_s: float = 10.0  # a pause this long starts the prompt afresh
    vad_threshold: float = 0.5
    behind_s: float = 2.0  # audio that waited for the last pass beyond a step: past this, decoding is behind
    edge_s: float = 2.0  # behind: a pending word ending this long before the newest audio is final after one pass


@dataclass(frozen=True, eq=False)
class HeardWord:
    """A decoded word and the segment it came from (its scores say whether it may be a hallucination)."""

    start: float
    end: float
    text: str
    probability: float
    source: Segment = field(repr=False)


@dataclass
class LiveUpdate:
    finals: list[Segment] = field(default_factory=list)  # append-only, each id once
    partial: Optional[Segment] = None  # provisional text of the segment being heard, with the next final's id
    dropped: list[tuple[float, float]] = field(default_factory=list)  # audio spans thrown away undecoded


def silero_speech(threshold: float, pause_s: float, pad_s: float) -> DetectSpeech:
    """Speech spans by the Silero model faster-whisper ships."""

    def detect(samples: np.ndarray) -> list[tuple[int, int]]:
        from .engine.vad import speech_spans

        return speech_spans(
            samples,
            threshold=threshold,
            min_speech_duration_ms=250,
            min_silence_duration_ms=int(pause_s * 1000),
            speech_pad_ms=int(pad_s * 1000),
        )

    return detect


class LiveTranscriber:
    """The state machine; `decode` runs the model, `detect_speech` the VAD (both injectable for tests)."""

    def __init__(
        self,
        decode: Decode,
        settings: LiveSettings = LiveSettings(),
        detect_speech: Optional[DetectSpeech] = None,
        word_timestamps: bool = False,
        on_utterance_end: Callable[[], None] = lambda: None,
        decode_provisional: Optional[Decode] = None,
    ):
        self.settings = settings
        self._on_utterance_end = on_utterance_end  # e.g. to detect the next utterance's language afresh
        self._decode = decode
        # Passes inside an utterance, whose words wait for a second pass anyway, may be decoded more cheaply.
        self._decode_provisional = decode_provisional or decode
        self._detect = detect_speech or silero_speech(settings.vad_threshold, settings.pause_s, settings.speech_pad_s)
        self._word_timestamps = word_timestamps
        self._audio = np.zeros(0, dtype=np.float32)
        self._start_s = 0.0  # stream time of self._audio[0]
        self._done_s = 0.0  # stream time before which everything is final (an utterance's end, silence)
        self._policy = LocalAgreement()
        self._open: list[HeardWord] = []  # committed words not yet in a final segment
        self._prompt: deque[HeardWord] = deque()  # committed words of the recent past
        self._last_word_end_s = 0.0
        self._next_id = 0
        self._lag_s = 0.0  # how far behind the stream the caller's last process_iter came
        self._heard_until_s = 0.0  # stream time where the audio of the last pass ended

    @property
    def received_s(self) -> float:
        """Seconds of audio inserted so far: the stream's clock."""
        return self._start_s + len(self._audio) / SAMPLE_RATE

    @property
    def buffered_s(self) -> float:
        return len(self._audio) / SAMPLE_RATE

    def insert_audio_chunk(self, samples: np.ndarray) -> None:
        self._audio = np.concatenate([self._audio, np.asarray(samples, dtype=np.float32)])

    def process_iter(self, lag_s: float = 0.0) -> LiveUpdate:
        """Decode what is buffered: the finals that two passes agree on (or whose utterance ended), and a partial.

        `lag_s`: the audio that waited while the last pass ran, beyond one step. Past settings.behind_s the
        words far from the newest audio are final after one pass, so the buffer, and each pass, stay short."""
        self._lag_s = lag_s
        update = LiveUpdate()
        while self._step(update, at_end=False):
            pass
        update.partial = self._partial()
        return update

    def finish(self) -> LiveUpdate:
        """The stream ended: everything heard becomes final."""
        update = LiveUpdate()
        while self._step(update, at_end=True):
            pass
        self._commit(self._commit_unconfirmed(), update, close_all=True)
        self._on_utterance_end()
        return update

    def skip_audio(self, seconds: float) -> list[Segment]:
        """`seconds` of the stream that will never be inserted (dropped, falling behind): what was heard
        before them is final, and the clock moves past them."""
        update = LiveUpdate()
        self._commit(self._commit_unconfirmed(), update, close_all=True)
        self._policy.forget_pending()
        self._start_s = self.received_s + seconds
        self._done_s = self._start_s
        self._audio = self._audio[:0]
        return update.finals

    def flush_committed(self) -> list[Segment]:
        """What is committed but not yet in a final segment (on Ctrl-C), without decoding anything more."""
        update = LiveUpdate()
        self._close_segments(update, close_all=True)
        return update.finals

    def _step(self, update: LiveUpdate, at_end: bool) -> bool:
        """One utterance's worth of work, or one window of a backlog; True when more may be waiting in the buffer."""
        # A backlog longer than one pass can take (decoding fell behind) is worked through window by window.
        horizon_s = min(self.received_s, self._start_s + self.settings.max_buffer_s)
        backlog = horizon_s < self.received_s
        region = self._audio[self._index(self._done_s) : self._index(horizon_s)]  # what is not final yet
        if not len(region):
            return False
        spans = self._detect(region)
        if not spans:
            # Silence: it never reaches the decoder; what was heard before it is final.
            self._commit(self._commit_unconfirmed(), update, close_all=True)
            # Keep a little: speech that is only starting is too short yet for the VAD to call it speech.
            self._done_s = max(self._done_s, horizon_s - _ONSET_KEPT_S)
            self._drop_before(self._done_s - self.settings.context_s)
            return backlog
        region_s = horizon_s - len(region) / SAMPLE_RATE
        speech_s = region_s + spans[0][0] / SAMPLE_RATE
        # The speech before, if recent, is context that helps the decoder; silence before it never is.
        stale = speech_s - self._done_s > self.settings.context_gap_s
        self._drop_before(speech_s if stale else speech_s - self.settings.context_s)
        ended = [index for index, span in enumerate(spans) if index + 1 < len(spans) or span[1] < len(region) or (at_end and not backlog)]
        if ended:  # the utterance has ended; a backlog of them close together is decoded in one pass
            last = self._last_of_backlog(spans, len(ended), region_s)
            end_s = region_s + spans[last][1] / SAMPLE_RATE
            if self._heard_all_of(end_s):
                # The last pass already decoded the whole utterance, cleanly: its words are final without another.
                agreed = self._commit_unconfirmed(until_s=end_s + _PROMPT_SLACK_S)
            else:
                agreed = self._pass(self._audio[: self._index(end_s)])
            self._commit(agreed + self._commit_unconfirmed(), update, close_all=True)
            self._policy.forget_pending()
            self._on_utterance_end()
            self._done_s = end_s
            self._drop_before(end_s - self.settings.context_s)
            return len(spans) > last + 1 or backlog
        if backlog:
            return self._window(horizon_s, update)
        self._commit(self._pass(self._audio, provisional=True), update)
        if self._lag_s > self.settings.behind_s:
            # Behind: waiting for a second pass would make the buffer, and so every pass, longer still.
            self._commit(self._commit_unconfirmed(until_s=self.received_s - self.settings.edge_s), update)
        if self.received_s - max(self._policy.committed_until_s, speech_s) > self.settings.max_uncommitted_s:
            # Too long without agreement (a long breathless stretch, or speech-like noise with no words):
            # all but the last second is final, and only context is kept of it.
            cut_s = self.received_s - _UNCOMMITTED_KEPT_S
            self._commit(self._commit_unconfirmed(until_s=cut_s), update)
            self._drop_before(cut_s - self.settings.context_s)
        self._trim_committed()
        return False

    def _window(self, horizon_s: float, update: LiveUpdate) -> bool:
        """An utterance still going at the end of a full window of backlog: decode the window, commit its words
        but those near its end (a word may be cut there), and start the next window edge_s before that end,
        with context_s of the window before it."""
        cut_s = horizon_s - self.settings.edge_s
        agreed = self._pass(self._audio[: self._index(horizon_s)])
        self._commit(agreed + self._commit_unconfirmed(until_s=cut_s), update)
        # Even a window without words moves on: its audio was decoded, not dropped.
        self._drop_before(cut_s - self.settings.context_s)
        return True

    def _last_of_backlog(self, spans: list[tuple[int, int]], ended: int, region_s: float) -> int:
        """The last of the ended utterances that one pass can take with the first: each starts at most
        context_gap_s after the one before, and all fit in max_buffer_s."""
        last = 0
        while last + 1 < ended:
            gap_s = (spans[last + 1][0] - spans[last][1]) / SAMPLE_RATE
            end_s = region_s + spans[last + 1][1] / SAMPLE_RATE
            if gap_s > self.settings.context_gap_s or end_s - self._start_s > self.settings.max_buffer_s:
                break
            last += 1
        return last

    def _heard_all_of(self, end_s: float) -> bool:
        """Whether the last pass decoded audio up to `end_s` and its words wait, none from a segment that failed
        the quality checks (where a full decode would have tried higher temperatures)."""
        pending = self._policy.pending
        return bool(pending) and self._heard_until_s >= end_s and not any(
            word.source.suspect or is_suspect(word.source) for word in pending
        )

    def _pass(self, samples: np.ndarray, provisional: bool = False) -> list[HeardWord]:
        """Decode `samples` (at the start of the buffer); the words the commit policy now agrees on."""
        decode = self._decode_provisional if provisional else self._decode
        segments = decode(samples, self._start_s, self._prompt_text())
        self._heard_until_s = self._start_s + len(samples) / SAMPLE_RATE
        words = [
            HeardWord(w.start, w.end, w.text, w.probability, segment)
            for segment in segments
            for w in segment.words
        ]
        return self._policy.insert(words)

    def _commit_unconfirmed(self, until_s: float = float("inf")) -> list[HeardWord]:
        """The pending words no second pass confirmed, less those from a segment that fails the quality checks:
        what Whisper writes over the cut-off end of an utterance ("Thank you for watching.") is such a segment."""
        return [word for word in self._policy.commit_pending(until_s) if not is_suspect(word.source)]

    def _commit(self, words: Sequence[HeardWord], update: LiveUpdate, close_all: bool = False) -> None:
        if words and words[0].start - self._last_word_end_s > self.settings.prompt_reset_pause_s:
            self._prompt.clear()  # a long pause: what came before says little about what comes now
        for word in words:
            self._open.append(word)
            self._prompt.append(word)
            self._last_word_end_s = word.end
        while sum(len(word.text) for word in self._prompt) > self.settings.prompt_chars:
            self._prompt.popleft()
        self._close_segments(update, close_all)

    def _close_segments(self, update: LiveUpdate, close_all: bool) -> None:
        """Committed words -> final segments, cut after a sentence end, at a length limit, or all at once."""
        while self._open:
            cut = next((i + 1 for i, w in enumerate(self._open) if w.text.rstrip().endswith(SENTENCE_ENDS)), 0)
            # Words committed many at once (a pass that took all the audio that waited) are still cut at the limit.
            too_long = next((i for i, w in enumerate(self._open) if w.end - self._open[0].start > self.settings.max_segment_s), 0)
            if too_long and (not cut or cut > too_long):
                cut = too_long
            elif not cut and self._open[-1].end - self._open[0].start >= self.settings.max_segment_s:
                cut = len(self._open)
            if not cut and close_all:
                cut = len(self._open)
            if not cut:
                return
            update.finals.append(self._segment(self._open[:cut], self._next_id))
            self._next_id += 1
            del self._open[:cut]

    def _partial(self) -> Optional[Segment]:
        words = self._open + self._policy.pending
        return self._segment(words, self._next_id) if words else None

    def _segment(self, words: Sequence[HeardWord], segment_id: int) -> Segment:
        sources = list({id(w.source): w.source for w in words}.values())
        return Segment(
            id=segment_id,
            start=words[0].start,
            end=words[-1].end,
            text="".join(w.text for w in words),
            words=tuple(Word(w.start, w.end, w.text, w.probability) for w in words) if self._word_timestamps else (),
            avg_logprob=min(_scores(sources, "avg_logprob"), default=None),
            no_speech_prob=max(_scores(sources, "no_speech_prob"), default=None),
            compression_ratio=max(_scores(sources, "compression_ratio"), default=None),
            temperature=max(_scores(sources, "temperature"), default=None),
            suspect=any(source.suspect or is_suspect(source) for source in sources),
            language=next((source.language for source in reversed(sources) if source.language), None),
        )

    def _prompt_text(self) -> Optional[str]:
        # Only words whose audio is no longer in the buffer: a prompt repeating the audio invites a repeat.
        before = [word.text for word in self._prompt if word.end <= self._start_s + _PROMPT_SLACK_S]
        return "".join(before).strip() or None

    def _trim_committed(self) -> None:
        """Cut committed audio from the buffer once it is long: the prompt carries its words instead."""
        committed_s = self._policy.committed_until_s - self._start_s
        if committed_s > self.settings.context_s + _TRIM_HYSTERESIS_S:
            self._drop_before(self._policy.committed_until_s - self.settings.context_s)

    def _index(self, time_s: float) -> int:
        return min(len(self._audio), max(0, int(round((time_s - self._start_s) * SAMPLE_RATE))))

    def _drop_before(self, time_s: float) -> None:
        cut = int(round((time_s - self._start_s) * SAMPLE_RATE))
        if cut > 0:
            cut = min(cut, len(self._audio))
            self._audio = self._audio[cut:]
            self._start_s += cut / SAMPLE_RATE


def _scores(sources: Sequence[Segment], name: str) -> list[float]:
    return [value for value in (getattr(source, name) for source in sources) if value is not None]

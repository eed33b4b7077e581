"""Prepared 30 s windows of log-mel features in, decoded text out, with faster-whisper's temperature fallback.

The caller lays out each window (packing.py puts several clips in one); this encodes them in batches,
generates at the first temperature, and decodes again at the next temperature only the windows that fail
the quality checks, as faster-whisper's generate_with_fallback does for its one window: text that compresses
above options.compression_ratio_threshold, or an average log-probability under options.log_prob_threshold
unless the window is silence (no_speech_prob above options.no_speech_threshold). Where every temperature
fails, the most probable result is kept, as there. Each window is prompted with `prompt` only: no text of
another window conditions it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from ..options import DecodeOptions
from ..quality import compression_ratio
from .features import FRAMES_PER_SECOND, WINDOW_FRAMES

MAX_INITIAL_TIMESTAMP_S = 1.0  # as faster-whisper's transcribe(max_initial_timestamp=1.0)
TIME_PRECISION_S = 0.02  # one timestamp token


@dataclass(frozen=True)
class MelWindow:
    """One window to decode: log-mel features of shape (n_mels, WINDOW_FRAMES), in one language."""

    mel: np.ndarray
    language: str
    content_frames: int = WINDOW_FRAMES  # frames word alignment looks at (the rest is padding)


@dataclass
class WindowResult:
    """One window decoded. Times are seconds from the window's start.

    `pieces` are faster-whisper's segment dicts (tokens, start, end, seek, and words when aligned:
    dicts of word, start, end, probability); pieces without text or without length are dropped, as
    faster-whisper drops them.
    """

    tokens: list[int]  # generated, without the prompt
    text: str
    pieces: list[dict]
    avg_logprob: float
    no_speech_prob: float
    temperature: float
    compression_ratio: float
    complete_until: Optional[float] = None  # None: complete; else the end of its last complete piece
    words: list[dict] = field(default_factory=list)


WantsWords = Union[bool, Callable[[int, WindowResult], bool]]


class WindowDecoder:
    """Decodes windows with one loaded faster_whisper.WhisperModel and one set of options."""

    def __init__(self, model: Any, options: DecodeOptions, *, prompt: Optional[str] = None):
        """`prompt`: the text heard before the windows (default options.initial_prompt)."""
        self._model = model
        self._options = options
        self._prompt_text = options.initial_prompt if prompt is None else prompt
        self._tokenizers: dict[str, Any] = {}
        self._kept_alive: Optional[np.ndarray] = None

    def tokenizer(self, language: str):
        """faster-whisper's Tokenizer for the options' task in `language`."""
        if language not in self._tokenizers:
            from faster_whisper.tokenizer import Tokenizer

            model = self._model
            self._tokenizers[language] = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task=self._options.task, language=language
            )
        return self._tokenizers[language]

    def decode(
        self,
        windows: Sequence[MelWindow],
        *,
        batch_size: int = 1,
        temperatures: Optional[Sequence[float]] = None,
        words: WantsWords = False,
    ) -> list[WindowResult]:
        """Each window's result, in order; `batch_size` windows of one language per encoder call.

        temperatures: tried in turn (default options.temperature); `words`: which results get word
        timings, as a flag or a function of (index in `windows`, result).
        """
        temperatures = tuple(temperatures if temperatures is not None else self._options.temperature)
        results: list[WindowResult] = []
        for batch in _batches(windows, batch_size):
            first = len(results)
            wants = words if not isinstance(words, bool) else (lambda _i, _r, flag=words: flag)
            results.extend(self._decode_batch(batch, temperatures, lambda i, r: wants(first + i, r)))
        return results

    def _decode_batch(self, batch: list[MelWindow], temperatures: tuple[float, ...], wants) -> list[WindowResult]:
        tokenizer = self.tokenizer(batch[0].language)
        prompt = self._prompt(tokenizer)
        encoded = self._model.encode(np.stack([window.mel for window in batch]))
        tried: list[list[WindowResult]] = [[] for _ in batch]
        todo = list(range(len(batch)))
        for temperature in temperatures:
            # Only the windows that failed are decoded again, from the batch's own encoder output.
            again = encoded if len(todo) == len(batch) else self._encoded_rows(encoded, batch, todo)
            for i, generated in zip(todo, self._generate(again, prompt, len(todo), temperature)):
                tried[i].append(self._read(tokenizer, generated, len(prompt), temperature))
            todo = [i for i in todo if self._needs_fallback(tried[i][-1])]
            if not todo:
                break
        results = [self._chosen(candidates, failed=i in todo) for i, candidates in enumerate(tried)]
        self._add_words(tokenizer, encoded, batch, results, [wants(i, r) for i, r in enumerate(results)])
        return results

    def _encoded_rows(self, encoded, batch: list[MelWindow], rows: list[int]):
        """The encoder output of the windows `rows`: taken from the batch's on a CPU (an encoder pass costs
        as much as beam search for a whole window there); encoded again where it lives on a GPU."""
        if getattr(encoded, "device", "cpu") != "cpu":
            return self._model.encode(np.stack([batch[i].mel for i in rows]))
        import ctranslate2

        rows_array = np.ascontiguousarray(np.asarray(encoded)[rows])
        view = ctranslate2.StorageView.from_array(rows_array)
        self._kept_alive = rows_array  # the view does not own its memory
        return view

    def _prompt(self, tokenizer) -> list[int]:
        initial: list[int] = []
        if self._prompt_text:
            initial = tokenizer.encode(" " + self._prompt_text.strip())  # as faster-whisper encodes initial_prompt
        return self._model.get_prompt(tokenizer, initial, without_timestamps=False, hotwords=self._options.hotwords)

    def _generate(self, encoded, prompt: list[int], count: int, temperature: float):
        options = self._options
        suppress: list[int] = []
        if options.suppress_tokens:
            from faster_whisper.transcribe import get_suppressed_tokens

            suppress = list(get_suppressed_tokens(self.tokenizer("en"), list(options.suppress_tokens)))
        if temperature > 0:
            search = dict(beam_size=1, num_hypotheses=options.best_of, sampling_topk=0, sampling_temperature=temperature)
        else:
            search = dict(beam_size=options.beam_size, patience=options.patience)
        return self._model.model.generate(
            encoded,
            [prompt] * count,
            length_penalty=options.length_penalty,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            max_length=self._model.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=options.suppress_blank,
            suppress_tokens=suppress,
            max_initial_timestamp_index=round(MAX_INITIAL_TIMESTAMP_S / TIME_PRECISION_S),
            **search,
        )

    def _read(self, tokenizer, generated, prompt_length: int, temperature: float) -> WindowResult:
        """One generated sequence cut into timed pieces, as faster-whisper cuts a window's tokens."""
        tokens = list(generated.sequences_ids[0])
        length = len(tokens)
        # As faster-whisper's generate_with_fallback: undo the length penalty, average over tokens + end.
        avg_logprob = generated.scores[0] * (length**self._options.length_penalty) / (length + 1)
        text = tokenizer.decode(tokens).strip()
        pieces, _, _ = self._model._split_segments_by_timestamps(
            tokenizer=tokenizer,
            tokens=tokens,
            time_offset=0.0,
            segment_size=WINDOW_FRAMES,
            segment_duration=WINDOW_FRAMES / FRAMES_PER_SECOND,
            seek=0,
        )
        complete_until = None
        consumed = sum(len(piece["tokens"]) for piece in pieces)
        if prompt_length + length >= self._model.max_length or any(t < tokenizer.eot for t in tokens[consumed:]):
            complete_until = max((piece["end"] for piece in pieces), default=0.0)  # the text after it was dropped
        kept = []
        for piece in pieces:
            if piece["tokens"] and piece["tokens"][0] >= tokenizer.timestamp_begin:
                # _split_segments_by_timestamps starts a lone segment at the window start, not at its timestamp.
                piece["start"] = (piece["tokens"][0] - tokenizer.timestamp_begin) * TIME_PRECISION_S
            if piece["start"] != piece["end"] and tokenizer.decode(piece["tokens"]).strip():
                kept.append(piece)
        return WindowResult(
            tokens, text, kept, avg_logprob, generated.no_speech_prob, temperature, compression_ratio(text), complete_until
        )

    def _needs_fallback(self, result: WindowResult) -> bool:
        options = self._options
        repetitive = options.compression_ratio_threshold is not None and result.compression_ratio > options.compression_ratio_threshold
        unlikely = options.log_prob_threshold is not None and result.avg_logprob < options.log_prob_threshold
        silence = options.no_speech_threshold is not None and result.no_speech_prob > options.no_speech_threshold
        return repetitive or (unlikely and not silence)

    def _chosen(self, candidates: list[WindowResult], failed: bool) -> WindowResult:
        """The last result, or where every temperature failed, the most probable of those that do not repeat."""
        if not failed:
            return candidates[-1]
        threshold = self._options.compression_ratio_threshold
        below = [c for c in candidates if threshold is None or c.compression_ratio <= threshold]
        best = max(below or candidates, key=lambda c: c.avg_logprob)
        best.temperature = candidates[-1].temperature  # as faster-whisper: the last tried, for its prompt reset
        return best

    def _add_words(self, tokenizer, encoded, batch: list[MelWindow], results: list[WindowResult], wanted: list[bool]) -> None:
        """Word timings for the results that want them, from one alignment pass over the batch."""
        if not any(wanted):
            return
        # A window that needs no words gets an empty stand-in, which costs the alignment nothing.
        segments = [
            result.pieces if want and result.pieces else [dict(tokens=[], start=0.0, end=0.0, seek=0)]
            for result, want in zip(results, wanted)
        ]
        options = self._options
        self._model.add_word_timestamps(
            segments, tokenizer, encoded, [window.content_frames for window in batch],
            options.prepend_punctuations, options.append_punctuations, last_speech_timestamp=0.0,
        )
        for result, want in zip(results, wanted):
            if want:
                result.words = [word for piece in result.pieces for word in piece.get("words") or []]


def _batches(windows: Sequence[MelWindow], size: int) -> list[list[MelWindow]]:
    """Up to `size` consecutive windows of one language each: word alignment takes one start-of-transcript sequence."""
    batches: list[list[MelWindow]] = []
    for window in windows:
        if batches and len(batches[-1]) < size and batches[-1][0].language == window.language:
            batches[-1].append(window)
        else:
            batches.append([window])
    return batches

"""live.Decode on the loaded model, and the language each pass is decoded in.

Without --language the language is detected on the first few seconds of speech and kept for the rest of
the stream: a language per pass would flicker. With --multilingual it is detected again for each
utterance (LiveTranscriber says when one ends), kept until that utterance ends, and each final segment
carries it; a change is noted on stderr as file mode notes it.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .audio import SAMPLE_RATE
from .languages import language_name
from .options import DecodeOptions
from .transcript import Segment

LANGUAGE_AFTER_S = 3.0  # audio decoded before the detected language is kept (for the stream, or the utterance)


class EngineDecoder:
    """Passes on the loaded model: word timestamps on, our own VAD instead of faster-whisper's."""

    def __init__(self, whisper, options: DecodeOptions):
        self._whisper = whisper
        self._per_utterance = options.multilingual
        # multilingual off in the engine: it would detect per 30 s window, and a pass is one window anyway.
        self._options = dataclasses.replace(
            options, word_timestamps=True, vad_filter=False, condition_on_previous_text=False, multilingual=False
        )
        self._notes: list[str] = []
        self._previous: Optional[str] = None  # --multilingual: the language of the last utterance

    def __call__(self, samples: np.ndarray, offset_s: float, prompt: Optional[str], provisional: bool = False) -> list[Segment]:
        if self._per_utterance and self._options.language != self._previous:
            prompt = None  # text in another language (or one not known yet) would pull the decoder towards it
        options = self._options
        if provisional:
            # Its words wait for a second pass: no fallback to higher temperatures, which can cost five decodes.
            options = dataclasses.replace(options, temperature=options.temperature[:1])
        stream = self._whisper.transcribe_span(samples, options, offset_s=offset_s, prompt=prompt)
        segments = list(stream.segments)
        self._notes += stream.take_notes()
        if self._options.language is None and len(samples) / SAMPLE_RATE >= LANGUAGE_AFTER_S and segments:
            self._options = dataclasses.replace(self._options, language=stream.info.language)
            if self._per_utterance and self._previous not in (None, stream.info.language):
                self._notes.append(
                    f"{offset_s:.1f} s: language changes from {language_name(self._previous)} to {language_name(stream.info.language)}"
                )
        if self._per_utterance:
            segments = [dataclasses.replace(segment, language=stream.info.language) for segment in segments]
        return segments

    def provisional(self, samples: np.ndarray, offset_s: float, prompt: Optional[str]) -> list[Segment]:
        """live.Decode for the passes inside an utterance."""
        return self(samples, offset_s, prompt, provisional=True)

    def utterance_ended(self) -> None:
        """--multilingual: the next utterance's language is detected afresh."""
        if self._per_utterance:
            self._previous = self._options.language or self._previous
            self._options = dataclasses.replace(self._options, language=None)

    def take_notes(self) -> list[str]:
        taken, self._notes = self._notes, []
        return taken

    @property
    def language(self) -> Optional[str]:
        """The language of the stream (--multilingual: of the last utterance)."""
        return self._options.language or self._previous

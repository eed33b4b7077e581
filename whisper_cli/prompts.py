"""What each 30 s window of faster-whisper's sequential decoding is prompted with, and in which language.

faster-whisper builds every window's prompt in WhisperModel.get_prompt from the text decoded so far.
`prompted_model()` gives a per-call copy of the loaded model whose get_prompt also:
- with --multilingual, records the language faster-whisper detected for the window (its segments are
  yielded before the next window is prompted, so `language` is theirs), and drops the previous text when
  the language changed: English text before a German window made Whisper skip the German altogether;
- with --carry-initial-prompt, puts the initial prompt first in every window's prompt, as openai-whisper's
  carry_initial_prompt (faster-whisper 1.2 has no such parameter): the text before it is cut from the
  left so that both fit in the half of the context a prompt may take.
The loaded model is not changed, so two channels or files decoded in turn do not share this state.
"""

from __future__ import annotations

import copy
from typing import Optional


class WindowPrompts:
    """faster-whisper's get_prompt with the carried initial prompt and the language of each window."""

    def __init__(self, model, initial_prompt: Optional[str], carry: bool, reset_on_language_change: bool):
        self._get_prompt = model.get_prompt  # the loaded model's own, bound to it
        self._max_prompt_tokens = model.max_length // 2 - 1  # as faster-whisper and openai-whisper
        self._initial_prompt = initial_prompt if carry else None
        self._reset_on_language_change = reset_on_language_change
        self.language: Optional[str] = None  # of the window prompted last
        self._since = 0  # previous tokens before this index are in another language
        self._last_length = 0

    def get_prompt(self, tokenizer, previous_tokens, without_timestamps=False, prefix=None, hotwords=None):
        previous_tokens = list(previous_tokens)
        if len(previous_tokens) < self._last_length:
            self._since = 0  # faster-whisper reset the prompt itself (temperature or no conditioning)
        self._last_length = len(previous_tokens)
        language = tokenizer.language_code
        if self._reset_on_language_change and self.language is not None and language != self.language:
            self._since = len(previous_tokens)
        self.language = language
        previous_tokens = previous_tokens[self._since :]
        if self._initial_prompt is not None:
            previous_tokens = self._carried(tokenizer, previous_tokens)
        return self._get_prompt(tokenizer, previous_tokens, without_timestamps, prefix, hotwords)

    def _carried(self, tokenizer, previous_tokens: list[int]) -> list[int]:
        carried = tokenizer.encode(" " + self._initial_prompt.strip())  # as faster-whisper encodes initial_prompt
        if previous_tokens[: len(carried)] == carried:
            previous_tokens = previous_tokens[len(carried) :]  # faster-whisper's own copy, at the start
        room = max(0, self._max_prompt_tokens - len(carried))
        # A carried prompt longer than the room keeps its end, as get_prompt keeps the end of any prompt.
        return carried + (previous_tokens[max(0, len(previous_tokens) - room) :] if room else [])


def prompted_model(model, options) -> tuple[object, Optional[WindowPrompts]]:
    """The model to call transcribe() on, and its WindowPrompts when the options need one."""
    if options.batch_size or not (options.multilingual or options.carry_initial_prompt):
        return model, None
    prompts = WindowPrompts(
        model, options.initial_prompt, carry=options.carry_initial_prompt, reset_on_language_change=options.multilingual
    )
    prompted = copy.copy(model)  # shares the loaded weights, tokenizer and feature extractor
    prompted.get_prompt = prompts.get_prompt
    return prompted, prompts

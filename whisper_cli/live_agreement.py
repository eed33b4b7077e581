"""LocalAgreement-2, the commit policy of live mode: a word is final once two passes in a row agree on it.

Each pass re-decodes the growing buffer and gives its words, timed from the start of the stream. Words
that the previous pass also gave, in the same order from the first uncommitted one on, are committed;
the rest wait for the next pass. This is the HypothesisBuffer of ufal/whisper_streaming (Machacek et
al., 2023) without the model: it sees only words, so it is tested on scripted hypotheses.
"""

from __future__ import annotations

import re
from typing import Protocol, Sequence, TypeVar

# A pass re-decodes audio before the last committed word's end, so it repeats that word with a
# slightly different time; a word starting this much before the commit point still counts as new,
# and the seam check below decides whether it is a repeat.
SEAM_SLACK_S = 0.1
SEAM_WINDOW_S = 1.0  # a pass whose first new word starts this close to the commit point may repeat its tail
MAX_SEAM_WORDS = 5  # longest run of words looked for at a seam
_NOT_WORD = re.compile(r"[\W_]+")


class TimedWord(Protocol):
    start: float
    end: float
    text: str


W = TypeVar("W", bound=TimedWord)


def word_key(text: str) -> str:
    """What two passes must agree on: the word without case or punctuation ("Country," = "country")."""
    key = _NOT_WORD.sub("", text.lower())
    return key or text.strip()


class LocalAgreement:
    """Feed it each pass's words with insert(); it returns the words that became final, in order, once each."""

    def __init__(self) -> None:
        self.committed_until_s = 0.0  # end of the last committed word
        self._recent: list[TimedWord] = []  # the last committed words, for the seam check
        self._pending: list[TimedWord] = []  # the last pass's words after the commit point

    def insert(self, words: Sequence[W]) -> list[W]:
        """One pass's hypothesis -> the words that it and the previous pass agree on (now committed)."""
        fresh = self._after_commit_point(words)
        agreed = 0
        for new, old in zip(fresh, self._pending):
            if word_key(new.text) != word_key(old.text):
                break
            agreed += 1
        self._pending = fresh[agreed:]
        return self._commit(fresh[:agreed])

    def commit_pending(self, until_s: float = float("inf")) -> list[TimedWord]:
        """Commit the last pass's uncommitted words that end by `until_s` (an utterance ended, or the buffer is full)."""
        count = 0
        while count < len(self._pending) and self._pending[count].end <= until_s:
            count += 1
        taken, self._pending = self._pending[:count], self._pending[count:]
        return self._commit(taken)

    @property
    def pending(self) -> list[TimedWord]:
        """The provisional words: what the last pass heard after the commit point."""
        return list(self._pending)

    def forget_pending(self) -> None:
        """Drop the provisional words, e.g. when the audio under them was dropped."""
        self._pending = []

    def _after_commit_point(self, words: Sequence[W]) -> list[W]:
        fresh = [word for word in words if word.start > self.committed_until_s - SEAM_SLACK_S]
        if not fresh or not self._recent or abs(fresh[0].start - self.committed_until_s) >= SEAM_WINDOW_S:
            return fresh
        # The longest run that both ends the committed text and starts this pass is a repeat at the seam.
        for size in range(min(MAX_SEAM_WORDS, len(self._recent), len(fresh)), 0, -1):
            tail = [word_key(word.text) for word in self._recent[-size:]]
            head = [word_key(word.text) for word in fresh[:size]]
            if tail == head:
                return fresh[size:]
        return fresh

    def _commit(self, words: list[W]) -> list[W]:
        if words:
            self.committed_until_s = max(self.committed_until_s, words[-1].end)
            self._recent = (self._recent + list(words))[-MAX_SEAM_WORDS:]
        return words

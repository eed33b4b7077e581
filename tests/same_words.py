"""What "the same words" means when a clip read packed is compared with the clip read alone.

CPUs round int8 matrix products differently (AVX2 on one machine, AVX-512 VNNI or AMX on another), and a
word Whisper is unsure of flips either way with the context: on one of this project's machines every test
clip read the same packed and alone; on another "verfiefältigen" alone became "vervielfältigen" packed, and
"The weather" became "But whether". On that machine the engine also reads the same file differently from one
run to the next (plain faster-whisper too: 5 runs of one 50 s file gave 3 different texts). So one word in ten
(at least one) may differ; a leak, a lost sentence or a clip read in the wrong language is many more.
"""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """Lower case, punctuation dropped."""
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def word_edits(got: list[str], want: list[str]) -> int:
    """Word-level edit distance: substitutions, insertions and deletions."""
    row = list(range(len(want) + 1))
    for i, word in enumerate(got, 1):
        diagonal, row[0] = row[0], i
        for j, wanted in enumerate(want, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (word != wanted))
    return row[-1]


def allowed_edits(want: list[str]) -> int:
    # One decoding choice can cost two words ("the meeting starts" -> "the meetings start"; "comfy" -> "comfyu"
    # twice), and a packed window or another process decodes a short clip in another context, with CTranslate2's
    # int8 kernels not bit-reproducible between runs on every CPU. Clips mixed up with each other differ far more.
    return max(2, round(len(want) / 10))


def assert_same_words(name: str, got_text: str, want_text: str) -> None:
    got, want = words(got_text), words(want_text)
    edits = word_edits(got, want)
    assert edits <= allowed_edits(want), f"{name}: {edits} words differ: {got_text!r} != {want_text!r}"

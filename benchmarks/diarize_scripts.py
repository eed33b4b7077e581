"""The conversations benchmarks/diarize.py measures: espeak-ng voices speaking texts/long_en.txt, and real voices.

Each built turn is 0.5-20 s (3-50 words, or a back-channel word from another voice), followed by a 0.2-1.2 s
pause; every turn's speed and pitch are nudged a little, so no two clips are identical (identical clips give
identical embeddings, which cluster as a speaker of their own). The real-voice conversation is pieces of the
three recordings in ../shared/samples with one speaker each, cut at their pauses (ffmpeg's silencedetect).
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent.parent / "shared" / "samples"

# label -> espeak-ng voice and options: both sexes, pitches 25-85, speeds 140-195 words a minute.
VOICES = {
    "male, low, 150 wpm": ("en-us+m3", 30, 150),
    "female, high, 175 wpm": ("en-gb+f3", 70, 175),
    "male, RP, mid, 195 wpm": ("en-gb-x-rp+m5", 50, 195),
    "female, very high, 140 wpm": ("en-us+f2", 85, 140),
}
BACKCHANNELS = ["Yes.", "Mm-hm.", "Right.", "Okay.", "I see.", "Sure.", "Exactly.", "Really?", "Uh-huh.", "No."]
BUILT = {  # name -> voices (labels of VOICES)
    "two voices": list(VOICES)[:2],
    "three voices": list(VOICES)[:3],
    "four voices": list(VOICES),
    "one voice": list(VOICES)[:1],
}
# (speaker, recording, start s, end s): every piece once, interleaved; about 75 s.
_JFK, _LICENCE, _HOTWORDS = SAMPLES / "jfk.flac", SAMPLES / "multilingual.mp3", SAMPLES / "hotwords.mp3"
REAL_PIECES = [
    ("licence reader", _LICENCE, 0.0, 8.97),
    ("JFK", _JFK, 0.0, 4.8),
    ("licence reader", _LICENCE, 8.97, 15.71),
    ("hotwords speaker", _HOTWORDS, 0.0, 4.05),
    ("licence reader", _LICENCE, 15.71, 21.29),
    ("JFK", _JFK, 4.8, 7.8),
    ("licence reader", _LICENCE, 21.29, 25.6),
    ("licence reader", _LICENCE, 25.6, 30.0),
    ("JFK", _JFK, 7.8, 11.0),
    ("licence reader", _LICENCE, 30.0, 36.1),
    ("licence reader", _LICENCE, 36.1, 42.0),
    ("licence reader", _LICENCE, 42.0, 47.5),
    ("licence reader", _LICENCE, 47.5, 51.3),
    ("licence reader", _LICENCE, 51.3, 59.9),
]


def text_words() -> list[str]:
    lines = (HERE / "texts" / "long_en.txt").read_text(encoding="utf-8").splitlines()
    return " ".join(line for line in lines if not line.startswith("#")).split()


def script(voices: list[str], minutes: float, seed: int) -> tuple[list[tuple[str, str, float]], list[str]]:
    """(espeak-ng voice and options, text, pause s) turns of about `minutes`, and each turn's voice label."""
    rng = random.Random(seed)
    words = text_words()
    at, clock, last = (seed * 997) % len(words), 0.0, None
    turns, labels = [], []
    while clock < minutes * 60:
        others = [voice for voice in voices if voice != last] or voices
        voice = rng.choice(others)
        name, pitch, speed = VOICES[voice]
        speed += rng.randint(-8, 8)
        if last is not None and len(voices) > 1 and rng.random() < 0.15:
            text = rng.choice(BACKCHANNELS)
            clock += 0.5
        else:
            count = 3 + int(47 * rng.random() ** 2)  # mostly short turns, a few long ones
            text = " ".join(words[(at + i) % len(words)] for i in range(count))
            at += count
            clock += count * 60 / speed
        pause = round(rng.uniform(0.2, 1.2), 2)
        clock += pause
        turns.append((f"{name} -p {pitch + rng.randint(-4, 4)} -s {speed}", text, pause))
        labels.append(voice)
        last = voice
    return turns, labels

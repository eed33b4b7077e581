"""--live --multilingual: the language is detected per utterance, on the real bundled base model."""

from __future__ import annotations

import re
import subprocess

import numpy as np

from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.live import LiveTranscriber
from whisper_cli.live_run import EngineDecoder, live_settings
from whisper_cli.options import DecodeOptions

ENGLISH_S, GERMAN_S = (0.0, 12.0), (29.6, 42.0)  # multilingual.mp3: the MIT licence in English, then in German
PAUSE_S = 1.5
GERMAN_WORDS = {"hiermit", "genehmigung", "person", "kopie", "software", "kostenlos", "erteilt", "jeder"}


def _cut(samples: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return samples[int(span[0] * SAMPLE_RATE) : int(span[1] * SAMPLE_RATE)]


def test_multilingual_detects_each_utterances_language(base_whisper, shared_samples):
    whole = load_audio(str(shared_samples / "multilingual.mp3"))
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), dtype=np.float32)
    samples = np.concatenate([_cut(whole, ENGLISH_S), pause, _cut(whole, GERMAN_S)])
    options = DecodeOptions(multilingual=True)
    decoder = EngineDecoder(base_whisper, options)
    transcriber = LiveTranscriber(decoder, live_settings(options), on_utterance_end=decoder.utterance_ended)
    finals, notes = [], []
    for start in range(0, len(samples), SAMPLE_RATE):  # one second at a time, on a virtual clock
        transcriber.insert_audio_chunk(samples[start : start + SAMPLE_RATE])
        finals += transcriber.process_iter().finals
        notes += decoder.take_notes()
    finals += transcriber.finish().finals
    notes += decoder.take_notes()

    german_from_s = ENGLISH_S[1] - ENGLISH_S[0] + PAUSE_S
    english = [s for s in finals if s.end <= german_from_s]
    german = [s for s in finals if s.start >= german_from_s - 0.3]
    assert english and german and len(english) + len(german) == len(finals), [(s.start, s.language, s.text) for s in finals]
    assert {s.language for s in english} == {"en"} and {s.language for s in german} == {"de"}
    assert "permission" in " ".join(s.text for s in english).lower()
    words = set(re.findall(r"\w+", " ".join(s.text for s in german).lower()))
    assert len(GERMAN_WORDS & words) >= 2, words
    assert [note for note in notes if "language changes from English to German" in note], notes

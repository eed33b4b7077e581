"""Language detection on a clip's own frames (whisper_cli.language) against faster-whisper's padded window."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from whisper_cli.engine import language
from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.engine.language import ENGLISH_ONLY, detect_language, detect_languages
from whisper_cli.models import resolve_model

# multilingual.mp3 reads the MIT licence notice in English, then from 29.4 s in German.
GERMAN_FROM_S = 29.4
HOP = SAMPLE_RATE // 100  # samples per mel frame (10 ms)


@pytest.fixture(scope="module")
def base_model(private_caches):
    from faster_whisper import WhisperModel

    return WhisperModel(str(resolve_model("base").path), device="cpu", compute_type="int8")


@pytest.fixture(scope="module")
def recordings(shared_samples) -> dict[str, np.ndarray]:
    multilingual = load_audio(shared_samples / "multilingual.mp3")
    german = multilingual[int(GERMAN_FROM_S * SAMPLE_RATE) :]
    return {
        "jfk": load_audio(shared_samples / "jfk.flac"),
        "english reading, 12 s": multilingual[: 12 * SAMPLE_RATE],
        "german reading, 12 s": german[: 12 * SAMPLE_RATE],
        "german reading, 5 s": german[13 * SAMPLE_RATE : 18 * SAMPLE_RATE],
        "german reading, 18 s": german[12 * SAMPLE_RATE : 30 * SAMPLE_RATE],
        # 1 s: un-padded this reads as zh 0.22; language.MIN_FRAMES pads it.
        "english reading, 1 s": multilingual[17 * SAMPLE_RATE : 18 * SAMPLE_RATE],
        "hotwords.mp3": load_audio(shared_samples / "hotwords.mp3"),
    }


def test_jfk_is_english_from_its_own_frames(base_model, recordings):
    guess = detect_language(base_model, recordings["jfk"])
    assert guess.language == "en"
    assert guess.probability > 0.9
    assert guess.all_probs[0] == ("en", guess.probability)
    assert sum(probability for _, probability in guess.all_probs) == pytest.approx(1.0, abs=0.02)


def test_german_half_of_the_multilingual_sample_is_german(base_model, recordings):
    guess = detect_language(base_model, recordings["german reading, 12 s"])
    assert (guess.language, guess.probability > 0.9) == ("de", True)


class EncodeRecorder:
    """A WhisperModel's CTranslate2 model, passed through, noting the shape (clips, mels, frames) of each encode."""

    def __init__(self, whisper):
        self._whisper = whisper
        self.shapes: list[tuple[int, ...]] = []

    def encode(self, features, *args, **kwargs):
        self.shapes.append(tuple(features.shape))
        return self._whisper.encode(features, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._whisper, name)

    def frames(self) -> int:
        """Mel frames encoded in all, padding included: what the encoder's work grows with."""
        return sum(clips * frames for clips, _, frames in self.shapes)


@pytest.fixture
def encoded(base_model, monkeypatch) -> EncodeRecorder:
    recorder = EncodeRecorder(base_model.model)
    monkeypatch.setattr(base_model, "model", recorder)
    return recorder


def test_agrees_with_faster_whisper_and_encodes_each_clips_own_frames(base_model, recordings, encoded):
    names = list(recordings)
    theirs = {name: base_model.detect_language(recordings[name]) for name in names}
    theirs_frames, encoded.shapes = encoded.frames(), []
    ours = dict(zip(names, detect_languages(base_model, [recordings[name] for name in names])))

    for name in names:
        code, probability, _ = theirs[name]
        print(f"{name}: faster-whisper {code} {probability:.3f}, ours {ours[name].language} {ours[name].probability:.3f}")
    print(f"encoded: faster-whisper {theirs_frames} frames, ours {encoded.frames()} frames in {encoded.shapes}")
    assert {name: ours[name].language for name in names} == {name: theirs[name][0] for name in names}
    assert theirs_frames == len(names) * language.WINDOW_FRAMES
    # No clip here is unsure, so none is read again from a padded window: each is encoded at its own length
    # (at least MIN_FRAMES), padded at most to the longest clip of its encoder batch.
    assert min(guess.probability for guess in ours.values()) >= language.RECHECK_BELOW
    own = [max(language.MIN_FRAMES, min(language.WINDOW_FRAMES, len(audio) // HOP)) for audio in recordings.values()]
    assert max(frames for _, _, frames in encoded.shapes) <= max(own) + 1
    assert sum(clips for clips, _, _ in encoded.shapes) == len(names)
    assert encoded.frames() <= language._BATCH_LENGTH_RATIO * sum(own) + len(names)


def test_a_batch_gives_what_each_clip_gives_alone(base_model, recordings):
    clips = list(recordings.values())
    batched = detect_languages(base_model, clips)
    one_by_one = [detect_language(base_model, clip) for clip in clips]
    assert [guess.language for guess in batched] == [guess.language for guess in one_by_one]
    for together, alone in zip(batched, one_by_one):
        assert together.probability == pytest.approx(alone.probability, abs=0.05)


def test_a_long_recording_votes_over_windows_as_faster_whisper_does(base_model, shared_samples):
    # With a threshold no window passes, both look at two windows (English, then German) and take the
    # language most windows chose; each language has one vote, so the first seen wins.
    audio = load_audio(shared_samples / "multilingual.mp3")
    language, probability, _ = base_model.detect_language(
        audio, language_detection_segments=2, language_detection_threshold=1.0
    )
    guess = detect_language(base_model, audio, threshold=1.0, segments=2)
    assert (guess.language, language) == ("en", "en")
    assert guess.probability == pytest.approx(probability, abs=0.05)


def test_a_window_that_passes_the_threshold_decides(base_model, shared_samples):
    audio = load_audio(shared_samples / "multilingual.mp3")
    assert detect_language(base_model, audio, threshold=0.5, segments=2).language == "en"
    german_first = audio[int(GERMAN_FROM_S * SAMPLE_RATE) :]
    assert detect_language(base_model, german_first, segments=2).language == "de"


def test_english_only_model_is_english_without_encoding(private_caches, recordings):
    from faster_whisper import WhisperModel

    model = WhisperModel(str(resolve_model("tiny.en").path), device="cpu", compute_type="int8")
    assert detect_language(model, recordings["german reading, 12 s"]) == ENGLISH_ONLY
    assert detect_languages(model, [recordings["jfk"]] * 2) == [ENGLISH_ONLY, ENGLISH_ONLY]


def test_silence_and_a_fraction_of_a_second_still_get_an_answer(base_model):
    guesses = detect_languages(base_model, [np.zeros(SAMPLE_RATE, np.float32), np.zeros(80, np.float32)])
    assert all(guess.language and 0 <= guess.probability <= 1 for guess in guesses)


def test_an_unsure_answer_from_a_short_clip_is_read_again_from_a_padded_window(base_model, tmp_path):
    # The benchmark's clip en42 (espeak-ng en-029+m5, 165 wpm, 0.3 s of silence around): un-padded it
    # reads as Catalan 0.28, so the whole clip was transcribed as Catalan; its padded window says English.
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    raw, clip = tmp_path / "raw.wav", tmp_path / "clip.wav"
    sentence = "The soup needs a little more salt."
    subprocess.run(["espeak-ng", "-v", "en-029+m5", "-s", "165", "-w", str(raw), sentence], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(clip), "pad", "0.3", "0.3"], check=True)
    audio = load_audio(clip)

    frames = language._pad_to(language.clip_features(base_model, audio), language.MIN_FRAMES)
    unpadded = language._detect_batch(base_model, [frames], language.WINDOW_FRAMES)[0]
    assert unpadded[0][1] < language.RECHECK_BELOW, f"this clip no longer reads unsure un-padded ({unpadded[0]}): pick another"
    guess = detect_language(base_model, audio)
    theirs, probability, _ = base_model.detect_language(audio)
    assert (guess.language, theirs) == ("en", "en")
    assert guess.probability == pytest.approx(probability, abs=0.05)

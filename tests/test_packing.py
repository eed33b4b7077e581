"""Packing short clips into shared windows (whisper_cli.packing) gives each clip what it gets alone.

Real audio, real models: tiny.en for the English-only cases, base for two languages. Each pack is
transcribed once per module, and each clip alone once, and the tests read those results.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.options import DecodeOptions
from whisper_cli.engine.packed import ClipResult, packable, transcribe_packed
from whisper_cli.transcript import Transcript

from same_words import allowed_edits, assert_same_words, word_edits, words

TIMING_TOLERANCE_S = 0.5

# Sentences read by espeak-ng, 1-6 s, each naming things no other clip names (to see text leak), chosen
# among sentences tiny.en reads the same alone and packed (on one machine: see same_words.py). On synthetic
# speech the small models misread about half of all sentences somewhere, and a different context (alone or
# in a shared window) flips some of those words either way; the benchmark compares word error rates over
# many clips for that.
ENGLISH_SENTENCES = {
    "morning": "Good morning.",
    "coffee": "The coffee is too hot to drink.",
    "thanks": "Thank you very much for your help.",
    "window": "Please close the window before you leave the room.",
    "meeting": "The meeting starts at ten o'clock tomorrow morning.",
    "storm": "When the storm finally passed, the children ran outside to look at the fallen branches.",
}
# The words of each clip that no other clip says: none may turn up in another clip's transcript.
KEYWORDS = {
    "morning": {"good"},
    "coffee": {"coffee", "drink"},
    "thanks": {"thank", "help"},
    "window": {"window", "room"},
    "meeting": {"meeting", "meetings", "o'clock"},
    "storm": {"storm", "children", "branches"},
    "hello": {"recording", "computer", "network"},
    "forecast": {"weather", "umbrella", "breeze"},
    "jfk": {"americans", "country"},
    "silence": set(),
}
# German from multilingual.mp3 (a reading of the MIT licence notice), cut in its pauses: (start, end) in
# seconds. de_zu goes on where de_dies stops, mid-sentence, as VAD regions of one recording would.
GERMAN_PIECES = {
    "de_dies": (42.2, 47.55),  # "Dies umfasst insbesondere das Recht, die Software zu verwenden, zu vervielfältigen,"
    "de_zu": (47.6, 52.2),  # "zu modifizieren, zusammenzufügen, zu veröffentlichen, zu verteilen,"
}


def assert_matches_alone(name: str, packed: Transcript, alone: Transcript) -> None:
    assert_same_words(name, packed.text, alone.text)
    got, want = packed.segments, alone.segments
    if len(got) == len(want):
        pairs = [(g.start, w.start) for g, w in zip(got, want)] + [(g.end, w.end) for g, w in zip(got, want)]
    else:
        # Whisper may cut a sentence in two in one context and not in the other: then the outer times must
        # agree, and every cut of the coarser one must be a cut of the finer one.
        coarse, fine = sorted((got, want), key=len)
        fine_cuts = [s.start for s in fine[1:]]
        pairs = [(got[0].start, want[0].start), (got[-1].end, want[-1].end)]
        pairs += [(s.start, min(fine_cuts, key=lambda cut: abs(cut - s.start))) for s in coarse[1:]]
    for packed_s, alone_s in pairs:
        assert abs(packed_s - alone_s) <= TIMING_TOLERANCE_S, f"{name}: {packed_s} vs {alone_s} s\n{got}\n{want}"


def assert_times_inside_clip(result: ClipResult) -> None:
    info, segments = result.transcript.info, result.transcript.segments
    assert [s.id for s in segments] == list(range(len(segments)))
    for segment in segments:
        assert 0 <= segment.start <= segment.end <= info.duration + 1e-6, (info.source, segment)
        for word in segment.words:
            assert segment.start - 1e-6 <= word.start <= word.end <= segment.end + 1e-6, (info.source, word, segment)
    assert [s.start for s in segments] == sorted(s.start for s in segments)


# --- material -----------------------------------------------------------------------------------------


def espeak(text: str, path: Path, voice: str = "en-us") -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return load_audio(path)


@pytest.fixture(scope="module")
def english_clips(tmp_path_factory, shared_samples) -> list[tuple[str, np.ndarray]]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("espeak")
    clips = [(name, espeak(text, folder / f"{name}.wav")) for name, text in ENGLISH_SENTENCES.items()]
    samples = Path(__file__).resolve().parent.parent / "samples"
    clips.append(("hello", load_audio(samples / "hello.flac")))  # 5.6 s
    clips.append(("forecast", load_audio(samples / "forecast.ogg")))  # 12.6 s, three sentences
    clips.append(("jfk", load_audio(shared_samples / "jfk.flac")))  # 11 s, a real recording
    clips.append(("silence", np.zeros(3 * SAMPLE_RATE, np.float32)))
    return clips


@pytest.fixture(scope="module")
def tiny_alone(tiny_whisper, english_clips) -> dict[str, Transcript]:
    return {name: _alone(tiny_whisper, name, audio) for name, audio in english_clips}


@pytest.fixture(scope="module")
def tiny_packed(tiny_whisper, english_clips) -> dict[str, ClipResult]:
    results = transcribe_packed(tiny_whisper, english_clips, DecodeOptions())
    return {name: result for (name, _), result in zip(english_clips, results)}


@pytest.fixture(scope="module")
def base_whisper(private_caches):
    from whisper_cli import get_whisper

    return get_whisper("base", "int8", "cpu", 0)


@pytest.fixture(scope="module")
def two_language_clips(english_clips, shared_samples) -> list[tuple[str, np.ndarray]]:
    multilingual = load_audio(shared_samples / "multilingual.mp3")
    german = [(name, multilingual[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]) for name, (a, b) in GERMAN_PIECES.items()]
    english = [clip for clip in english_clips if clip[0] in ("coffee", "meeting", "storm", "jfk")]
    # Interleaved, so that packing has to sort the languages out; de_zu first, so that no clip in a window
    # goes on with the sentence the clip before it stopped in.
    return [german[1], english[0], english[1], german[0], english[2], english[3]]


@pytest.fixture(scope="module")
def base_alone(base_whisper, two_language_clips) -> dict[str, Transcript]:
    return {name: _alone(base_whisper, name, audio) for name, audio in two_language_clips}


@pytest.fixture(scope="module")
def base_packed(base_whisper, two_language_clips) -> dict[str, ClipResult]:
    results = transcribe_packed(base_whisper, two_language_clips, DecodeOptions())
    return {name: result for (name, _), result in zip(two_language_clips, results)}


def _alone(whisper, name: str, audio: np.ndarray) -> Transcript:
    stream = whisper(audio, DecodeOptions(), source=name)
    return Transcript(stream.info, tuple(stream.segments))


def test_word_edits_counts_each_kind_of_change():
    assert word_edits("a b c".split(), "a b c".split()) == 0
    assert word_edits("a x c".split(), "a b c".split()) == 1
    assert word_edits("a b".split(), "a b c".split()) == 1
    assert word_edits("but whether today".split(), "the weather today".split()) == 2
    assert word_edits([], "a b c".split()) == 3


# --- English, tiny.en ---------------------------------------------------------------------------------


def test_english_clips_of_1_to_13_s_share_windows(tiny_packed):
    reasons = {name: result.reason for name, result in tiny_packed.items() if not result.packed}
    assert len(reasons) <= 1, reasons  # a clip left alone in the last window goes the normal way


def test_each_packed_english_clip_has_the_words_and_times_it_has_alone(tiny_packed, tiny_alone):
    for name, result in tiny_packed.items():
        if name != "silence":
            assert_matches_alone(name, result.transcript, tiny_alone[name])


def test_no_clip_gets_words_only_another_clip_says(tiny_packed):
    for name, result in tiny_packed.items():
        others = set().union(*(keywords for other, keywords in KEYWORDS.items() if other != name))
        said = set(words(result.transcript.text))
        assert not said & others, (name, result.transcript.text)
        assert said & KEYWORDS[name] or name == "silence", (name, result.transcript.text)  # and its own are there


def test_timestamps_are_relative_to_each_clip_and_inside_it(tiny_packed):
    for name, result in tiny_packed.items():
        assert_times_inside_clip(result)
        if result.transcript.segments:
            assert result.transcript.segments[0].start < 1.0, name  # every clip starts speaking at once


def test_silence_in_a_pack_gets_no_words(tiny_packed):
    silence = tiny_packed["silence"]
    assert silence.packed and silence.transcript.segments == ()
    assert silence.transcript.info.duration == 3.0


def test_each_clip_gets_its_own_record(tiny_packed, english_clips, tiny_whisper):
    for name, audio in english_clips:
        info = tiny_packed[name].transcript.info
        assert (info.source, info.duration, info.language) == (name, len(audio) / SAMPLE_RATE, "en")
        choice = tiny_whisper.choice
        assert (info.model, info.device, info.compute_type) == ("tiny.en", choice.device, choice.compute_type)
        assert info.settings == DecodeOptions().as_record()
    for segment in tiny_packed["jfk"].transcript.segments:
        assert segment.avg_logprob < 0 and 0 <= segment.no_speech_prob <= 1 and segment.compression_ratio > 0
        assert segment.temperature == 0.0


def test_windows_decoded_several_at_once_as_on_a_gpu_read_as_one_at_a_time(tiny_whisper, english_clips, tiny_packed):
    together = transcribe_packed(tiny_whisper, english_clips, DecodeOptions(), batch_size=4)
    for (name, _), result in zip(english_clips, together):
        assert result.packed == tiny_packed[name].packed
        assert_same_words(name, result.transcript.text, tiny_packed[name].transcript.text)


def test_word_timestamps_are_packed_and_fall_inside_their_segments(tiny_whisper, english_clips, tiny_alone):
    options = DecodeOptions(word_timestamps=True)
    clips = [clip for clip in english_clips if clip[0] in ("coffee", "window", "meeting", "hello")]
    results = transcribe_packed(tiny_whisper, clips, options)
    assert all(result.packed for result in results), [result.reason for result in results]
    for (name, _), result in zip(clips, results):
        assert_times_inside_clip(result)
        assert_same_words(name, result.transcript.text, tiny_alone[name].text)
        for segment in result.transcript.segments:
            assert "".join(word.text for word in segment.words) == segment.text


def test_a_clip_over_25_s_and_options_a_window_cannot_honour_go_the_normal_way(tiny_whisper, english_clips, tiny_alone):
    short = [clip for clip in english_clips if clip[0] in ("coffee", "window")]
    jfk = dict(english_clips)["jfk"]
    long_clip = ("long", np.concatenate([jfk, jfk, np.zeros(5 * SAMPLE_RATE, np.float32)]))
    results = transcribe_packed(tiny_whisper, [*short, long_clip], DecodeOptions())
    assert [result.packed for result in results] == [True, True, False]
    assert results[2].reason == "longer than 25 s"
    # Both readings of JFK (the long clip is JFK twice), each within same_words' allowance ("American" once in CI).
    twice = "and so my fellow americans ask not what your country can do for you ask what you can do for your country".split() * 2
    assert word_edits(words(results[2].transcript.text), twice) <= allowed_edits(twice)

    prefixed = transcribe_packed(tiny_whisper, short, DecodeOptions(prefix="The"))
    assert [(result.packed, result.reason) for result in prefixed] == [(False, "options not packable")] * 2


def test_packable_refuses_options_a_shared_window_cannot_honour():
    assert packable(DecodeOptions())
    assert packable(DecodeOptions(word_timestamps=True, initial_prompt="Glossary:", hotwords="Kennedy", language="de"))
    for refused in (
        DecodeOptions(prefix="And so"),
        DecodeOptions(clip_timestamps=(0.0, 5.0)),
        DecodeOptions(split_stereo=True),
        DecodeOptions(batch_size=8),
        DecodeOptions(vad_filter=True),
        DecodeOptions(word_timestamps=True, hallucination_silence_threshold=2.0),
    ):
        assert not packable(refused), refused


# --- two languages, base ------------------------------------------------------------------------------


def test_german_and_english_clips_keep_their_own_languages(base_packed, base_alone):
    for name, result in base_packed.items():
        expected = "de" if name.startswith("de_") else "en"
        assert (name, result.transcript.info.language) == (name, expected)
        assert base_alone[name].info.language == expected
        assert result.transcript.info.language_probability > 0.5


def test_german_and_english_clips_are_packed_and_match_each_clip_alone(base_packed, base_alone):
    german = [name for name, result in base_packed.items() if name.startswith("de_") and result.packed]
    english = [name for name, result in base_packed.items() if not name.startswith("de_") and result.packed]
    assert len(german) >= 2 and len(english) >= 2, {name: r.reason for name, r in base_packed.items()}
    for name, result in base_packed.items():
        assert_matches_alone(name, result.transcript, base_alone[name])
        assert_times_inside_clip(result)


# --- the splitting rules, on hand-made window readings ------------------------------------------------


class WordTokenizer:
    """Stands in for faster-whisper's Tokenizer in _assign: token i is VOCABULARY[i]."""

    VOCABULARY = [" Good", " morning.", " Thank", " you."]
    eot = len(VOCABULARY)
    timestamp_begin = eot + 1  # <|0.00|>; each later timestamp token is 0.02 s more

    def decode(self, tokens: list[int]) -> str:
        return "".join(self.VOCABULARY[token] for token in tokens)


def _window(*spans: tuple[float, float]):
    from whisper_cli.packing import Placement as _Placement, Window as _Window

    return _Window(tuple(_Placement(i, round(a * 100), round((b - a) * 100)) for i, (a, b) in enumerate(spans)))


def _word(text: str, start: float, end: float) -> dict:
    return dict(word=text, start=start, end=end, probability=0.9)


def _assigned(window, pieces):
    from whisper_cli.packing import Reading as _Reading, assign as _assign

    return _assign(WordTokenizer(), _Reading(window, pieces, -0.2, 0.01, {}), DecodeOptions())


def test_a_segment_over_two_clips_is_cut_between_its_words():
    window = _window((0.0, 3.0), (4.0, 7.0))
    words_said = [_word(" Good", 0.1, 0.5), _word(" morning.", 0.5, 1.0), _word(" Thank", 4.2, 4.5), _word(" you.", 4.5, 5.0)]
    outcome = _assigned(window, [dict(tokens=[0, 1, 2, 3], start=0.0, end=6.5, words=words_said)])
    assert outcome.failed == {}
    first, second = outcome.segments[0], outcome.segments[1]
    assert [(s.id, s.start, s.end, s.text) for s in first] == [(0, 0.1, 1.0, " Good morning.")]
    assert [(s.id, s.start, s.end, s.text) for s in second] == [(0, 0.2, 1.0, " Thank you.")]
    # Each clip's own text tokens, between timestamp tokens of its start and end in clip time.
    begin = WordTokenizer.timestamp_begin
    assert (first[0].seek, first[0].tokens) == (0, (begin + 5, 0, 1, begin + 50))
    assert (second[0].seek, second[0].tokens) == (0, (begin + 10, 2, 3, begin + 50))


def test_a_segment_whose_words_are_not_its_tokens_sends_its_clips_the_normal_way():
    window = _window((0.0, 3.0), (4.0, 7.0))
    words_said = [_word(" Good", 0.1, 0.5), _word(" evening.", 0.5, 1.0), _word(" Thank", 4.2, 4.5), _word(" you.", 4.5, 5.0)]
    # " evening." where the tokens say " morning."
    outcome = _assigned(window, [dict(tokens=[0, 1, 2, 3], start=0.0, end=6.5, words=words_said)])
    assert outcome.segments == {} and set(outcome.failed) == {0, 1}


def test_a_word_in_no_clip_sends_the_clips_around_it_the_normal_way():
    window = _window((0.0, 3.0), (4.0, 7.0))
    words_said = [_word(" Good", 0.1, 0.5), _word(" morning.", 3.4, 3.6), _word(" Thank", 4.2, 4.5)]
    outcome = _assigned(window, [dict(tokens=[0, 1, 2], start=0.0, end=6.5, words=words_said)])
    assert outcome.segments == {} and set(outcome.failed) == {0, 1}


def test_a_segment_within_one_clip_keeps_its_text_and_is_timed_from_the_clip_start():
    window = _window((0.0, 3.0), (4.0, 7.0))
    begin = WordTokenizer.timestamp_begin
    window_tokens = [begin + 190, 2, 3, begin + 260]  # 3.8 and 5.2 s into the window
    pieces = [dict(tokens=[0, 1], start=0.0, end=1.0), dict(tokens=window_tokens, start=3.8, end=5.2)]
    outcome = _assigned(window, pieces)
    assert [(s.start, s.end, s.text) for s in outcome.segments[1]] == [(0.0, 1.2, " Thank you.")]
    assert outcome.segments[1][0].tokens == (begin, 2, 3, begin + 60)  # timestamps now in the clip's time
    assert outcome.segments[1][0].avg_logprob == -0.2 and outcome.segments[1][0].no_speech_prob == 0.01


def _settled(window, texts: dict[int, str], speech: set[int], speech_after: dict[int, float] = {}):
    from whisper_cli.packing import Outcome as _Outcome, settle as _settle
    from whisper_cli.transcript import Segment

    outcome = _Outcome({clip: [Segment(1, 0.0, 1.0, text)] for clip, text in texts.items()}, {})
    return _settle(window, outcome, lambda clip: clip in speech, lambda clip, start_s: speech_after.get(clip, 0.0))


def test_a_clip_with_speech_but_no_text_between_two_with_text_goes_alone_with_its_neighbours():
    failed, skipped = _settled(_window((0, 3), (4, 7), (8, 11), (12, 15)), {0: " a", 2: " c", 3: " d"}, {0, 1, 2, 3})
    assert set(failed) == {0, 1, 2} and skipped == []


def test_clips_after_the_last_text_in_a_window_are_packed_again():
    failed, skipped = _settled(_window((0, 3), (4, 7), (8, 11)), {0: " a"}, {0, 1, 2})
    assert failed == {} and skipped == [1, 2]


def test_a_clip_whose_text_stops_before_its_speech_goes_alone():
    # Each clip's text ends at 1.0 s of 3 s; the VAD hears 1.5 s of speech after that in clip 1 (Whisper ended
    # the window inside it), 0.3 s in clip 0 (its last word ending).
    failed, skipped = _settled(_window((0, 3), (4, 7)), {0: " a", 1: " b"}, {0, 1}, {0: 0.3, 1: 1.5})
    assert list(failed) == [1] and skipped == []


def test_a_clip_cut_short_at_its_windows_end_goes_alone_and_keeps_its_last_words(tiny_whisper, english_clips, shared_samples):
    # forecast, coffee, jfk fill one window to 27.9 s, and Whisper reads jfk to "...ask what you can do<|26.44|>
    # <|26.44|>" every time on this machine, leaving "for your country" for a next window that packing has not.
    clips = dict(english_clips)
    chosen = [(name, clips[name]) for name in ("forecast", "coffee", "jfk")]
    results = transcribe_packed(tiny_whisper, chosen, DecodeOptions())
    heard = words(results[2].transcript.text)
    assert heard[-3:] == ["for", "your", "country"], heard
    assert results[0].packed and results[1].packed and results[0].window == results[1].window


def test_a_clip_without_speech_and_without_text_is_simply_empty():
    failed, skipped = _settled(_window((0, 3), (4, 7), (8, 11)), {0: " a", 2: " c"}, {0, 2})
    assert failed == {} and skipped == []

"""Speech first (engine/speech_first.py) on real audio with the real tiny.en model: inputs of 40-70 s."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.engine import speech_first
from whisper_cli.options import DecodeOptions

from conftest import SAMPLES
from same_words import allowed_edits, word_edits

SPEECH_FIRST = dataclasses.replace(DecodeOptions(), speech_first=True)
JFK_WORDS = "and so my fellow americans ask not what your country can do for you ask what you can do for your country".split()


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


@pytest.fixture(scope="module")
def jfk(shared_samples):
    return load_audio(str(shared_samples / "jfk.flac"))


def transcribe(whisper, audio, options=SPEECH_FIRST):
    stream = whisper(audio, options)
    segments = list(stream.segments)
    return segments, stream.take_notes(), stream.info


def test_long_silences_give_the_same_words_as_sequential(tiny_whisper, jfk):
    audio = np.concatenate([silence(8), jfk, silence(25), jfk, silence(6)])
    segments, _, info = transcribe(tiny_whisper, audio)
    sequential, _, _ = transcribe(tiny_whisper, audio, DecodeOptions())
    assert words(" ".join(s.text for s in segments)) == words(" ".join(s.text for s in sequential))
    assert words(" ".join(s.text for s in segments)).count("country") == 4
    assert info.duration == pytest.approx(len(audio) / SAMPLE_RATE)


def test_word_at_a_window_cut_is_transcribed_once(tiny_whisper, jfk):
    # Four readings 0.9 s apart (> 2 pads, so each is its own region): no 30 s window holds them all, so a
    # window ends between two readings, right after one's last word ("country").
    gap = silence(0.9)
    audio = np.concatenate([jfk, gap, jfk, gap, jfk, gap, jfk])
    windows, _ = speech_first.plan(audio, SPEECH_FIRST)
    assert len(windows) >= 2
    segments, _, _ = transcribe(tiny_whisper, audio)
    heard = words(" ".join(s.text for s in segments))
    assert heard.count("country") == 8 and heard.count("americans") == 4


def test_timestamps_are_monotonic_inside_the_file_and_stream_in_order(tiny_whisper, jfk):
    audio = np.concatenate([silence(3), jfk, silence(12), jfk, silence(1.5), jfk, silence(4)])
    segments, _, _ = transcribe(tiny_whisper, audio, dataclasses.replace(SPEECH_FIRST, word_timestamps=True))
    duration = len(audio) / SAMPLE_RATE
    assert [s.id for s in segments] == list(range(len(segments)))
    assert all(0 <= s.start <= s.end <= duration for s in segments)
    assert all(a.start <= b.start and a.end <= b.end + 0.01 for a, b in zip(segments, segments[1:]))
    for segment in segments:
        assert segment.words and all(segment.start - 0.05 <= w.start <= w.end <= segment.end + 0.05 for w in segment.words)
    first_start = segments[0].start
    assert 2.5 <= first_start <= 4.0  # mapped back to the file's time: the speech starts at 3 s


def test_a_window_that_fails_the_checks_falls_back_to_higher_temperatures(tiny_whisper, jfk):
    # No text can have an average log-probability above 0: every window fails, every temperature is tried,
    # and the most probable result is kept with the last temperature tried.
    audio = np.concatenate([jfk, silence(25), jfk])
    failing = dataclasses.replace(SPEECH_FIRST, log_prob_threshold=0.0, no_speech_threshold=None)
    segments, _, _ = transcribe(tiny_whisper, audio, failing)
    assert segments and {s.temperature for s in segments} == {failing.temperature[-1]}
    passing, _, _ = transcribe(tiny_whisper, audio)
    assert {s.temperature for s in passing} == {0.0}


def test_digital_silence_gives_no_text_and_a_note_without_decoding(tiny_whisper, monkeypatch):
    decoded = []
    monkeypatch.setattr(speech_first._Decoding, "_decode", lambda self, windows: decoded.append(windows))
    segments, notes, _ = transcribe(tiny_whisper, silence(70))
    assert segments == [] and decoded == []
    assert speech_first.NO_SPEECH_NOTE in notes


def test_short_input_and_sequential_options_keep_the_sequential_path(jfk):
    assert not speech_first.applies(SPEECH_FIRST, jfk)
    long = np.concatenate([jfk, silence(25)])
    assert speech_first.applies(SPEECH_FIRST, long)
    assert not speech_first.applies(dataclasses.replace(SPEECH_FIRST, speech_first=False), long)
    assert not speech_first.applies(dataclasses.replace(SPEECH_FIRST, batch_size=8), long)
    assert not speech_first.applies(dataclasses.replace(SPEECH_FIRST, vad_filter=True), long)


def test_the_rest_of_a_window_after_whispers_last_timestamp_is_decoded_again_where_speech_is(tiny_whisper):
    # Whisper closed its text at 23.2 s of a 24.6 s window ("...what you can do<|23.20|><|23.20|>"), and the
    # VAD hears speech until 24.2 s: the last 1.4 s go to the decoder again (the words "for your country").
    from whisper_cli.engine.windows import WindowResult
    from whisper_cli.speech_windows import SpeechWindow

    window = SpeechWindow(10 * SAMPLE_RATE, int(34.6 * SAMPLE_RATE))
    speech_until = [(10 * SAMPLE_RATE, int(34.2 * SAMPLE_RATE))]
    decoding = speech_first._Decoding(tiny_whisper, silence(40), speech_until, SPEECH_FIRST, "en")
    begin = decoding.tokenizer.timestamp_begin
    text = decoding.tokenizer.encode(" ask what you can do")
    result = WindowResult([begin, *text, begin + 1160, begin + 1160], "", [], -0.2, 0.01, 0.0, 1.0)
    assert decoding._rest(window, result) == SpeechWindow(int(33.2 * SAMPLE_RATE), window.end)
    one_timestamp_ending = WindowResult([begin, *text, begin + 1160], "", [], -0.2, 0.01, 0.0, 1.0)  # stopped early too
    assert decoding._rest(window, one_timestamp_ending) == SpeechWindow(int(33.2 * SAMPLE_RATE), window.end)
    no_speech_after = speech_first._Decoding(tiny_whisper, silence(40), [(10 * SAMPLE_RATE, int(33.5 * SAMPLE_RATE))], SPEECH_FIRST, "en")
    assert no_speech_after._rest(window, result) is None  # 0.3 s: the end of its last word


def test_a_window_that_falls_back_reuses_the_batchs_encoder_output(tiny_whisper, jfk):
    # jfk and jfk played backwards in one batch; the log-probability bar sits between their scores, so only
    # the backwards window falls back. Its re-decodes read its own rows of the batch's encoder output: the
    # encoder runs once, and the fallback text is not jfk's (the rows of the wrong window would give it).
    from whisper_cli.engine.windows import WindowDecoder

    model = tiny_whisper.model
    mels = [speech_first._mel(model, audio, "en") for audio in (jfk, jfk[::-1].copy())]
    first_pass = WindowDecoder(model, SPEECH_FIRST).decode(mels, batch_size=2, temperatures=(0.0,))
    forwards, backwards = (result.avg_logprob for result in first_pass)
    assert backwards < forwards - 0.03  # a margin the midpoint bar keeps on both sides
    options = dataclasses.replace(SPEECH_FIRST, log_prob_threshold=(forwards + backwards) / 2, no_speech_threshold=None)
    encoder_batches = []
    real_encode = model.encode
    model.encode = lambda features: encoder_batches.append(len(features)) or real_encode(features)
    try:
        kept, fell_back = WindowDecoder(model, options).decode(mels, batch_size=2)
    finally:
        del model.encode
    assert encoder_batches == [2]
    assert kept.temperature == 0.0 and "country" in words(kept.text)
    assert fell_back.temperature > 0.0 and words(fell_back.text)[:4] != ["and", "so", "my", "fellow"]
    assert "ask not what your country" not in " ".join(words(fell_back.text))


def test_the_rests_of_a_batch_share_one_window_and_keep_their_own_times(tiny_whisper, jfk):
    # Two 11 s rests become one window (jfk, 1 s of silence, jfk): one encoder pass for both, and each gets
    # the words that start inside it, timed from its own start. Whisper often ends that window early (here 7
    # times in 10 the second jfk was read to 20.0 s of 23 s, then "<|20.00|><|20.00|>", losing "ask what you
    # can do for your country"): what a member leaves is decoded again, so each keeps its whole sentence.
    from whisper_cli.speech_windows import SpeechWindow

    audio = np.concatenate([jfk, silence(9), jfk, silence(2)])
    second = len(jfk) + 9 * SAMPLE_RATE
    rests = [SpeechWindow(0, len(jfk)), SpeechWindow(second, second + len(jfk))]
    shared = speech_first._shared_windows(rests)
    assert [[offset for _, offset in members] for members in shared] == [[0.0, pytest.approx(len(jfk) / SAMPLE_RATE + 1.0)]]
    decoding = speech_first._Decoding(tiny_whisper, audio, [(r.start, r.end) for r in rests], SPEECH_FIRST, "en")
    read: list[list] = [[], []]
    decoding.read_rests([speech_first._Rest(i, rest) for i, rest in enumerate(rests)], read)
    length_s = len(jfk) / SAMPLE_RATE
    for rest, pairs in zip(rests, read):
        heard = words(" ".join(decoding.tokenizer.decode(piece["tokens"]) for _, part in pairs for piece in part.pieces))
        # Its own speech and not the other's: JFK's sentence once (the other's would double it), from its start.
        # Int8 decoding may drop a word or two ("And", "for your country"), as same_words allows.
        assert word_edits(heard, JFK_WORDS) <= allowed_edits(JFK_WORDS), (rest, heard)
        assert "fellow" in heard[:4], (rest, heard)
        spans = [
            ((window.start - rest.start) / SAMPLE_RATE + piece["start"], (window.start - rest.start) / SAMPLE_RATE + piece["end"])
            for window, part in pairs
            for piece in part.pieces
        ]
        assert all(0.0 <= start <= end <= length_s for start, end in spans), (rest, spans)
        assert spans[0][0] < 2.0 and spans[-1][1] > length_s - 3.0, (rest, spans)  # its own times, give or take drift


def test_what_a_member_of_a_shared_window_leaves_is_decoded_in_the_next_round():
    # Whisper's times in a shared window of two 11 s rests (the second at 12 s): the first member's text runs
    # to its end; the second's stops at 20.0 s, 3 s before its speech ends. That 3 s is left for another round.
    from whisper_cli.engine.windows import WindowResult
    from whisper_cli.speech_windows import SpeechWindow

    members = [(SpeechWindow(0, 11 * SAMPLE_RATE), 0.0), (SpeechWindow(20 * SAMPLE_RATE, 31 * SAMPLE_RATE), 12.0)]
    regions = [(0, int(10.6 * SAMPLE_RATE)), (20 * SAMPLE_RATE, int(30.6 * SAMPLE_RATE))]

    def result(*spans):
        return WindowResult([], "", [dict(tokens=[1], start=a, end=b) for a, b in spans], -0.2, 0.01, 0.0, 1.0)

    first, second = speech_first._member_results(members, result((0.0, 8.0), (8.0, 11.0), (12.0, 20.0)))
    left = [speech_first.rest_after(m, speech_first._last_end_s(part), regions) for (m, _), part in zip(members, (first, second))]
    assert left == [None, SpeechWindow(28 * SAMPLE_RATE, 31 * SAMPLE_RATE)]
    # A member that got no text at all leaves the whole of itself.
    _, nothing = speech_first._member_results(members, result((0.0, 8.0), (8.0, 11.0)))
    assert speech_first.rest_after(members[1][0], speech_first._last_end_s(nothing), regions) == members[1][0]


def test_a_rest_whose_shared_window_ends_early_keeps_its_last_words(tiny_whisper, jfk, shared_samples):
    # forecast, hotwords, jfk as three rests in one window: Whisper reads jfk to "...can do for you.<|26.76|>
    # <|26.76|>" (of 29.6 s) and stops, every time on this machine. The next round reads the 2.8 s it left.
    from whisper_cli.speech_windows import SpeechWindow

    clips = [load_audio(str(SAMPLES / "forecast.ogg")), load_audio(str(shared_samples / "hotwords.mp3")), jfk]
    audio, rests = np.concatenate([part for clip in clips for part in (clip, silence(5))]), []
    for clip in clips:
        start = rests[-1].end + 5 * SAMPLE_RATE if rests else 0
        rests.append(SpeechWindow(start, start + len(clip)))
    assert len(speech_first._shared_windows(rests)) == 1
    decoding = speech_first._Decoding(tiny_whisper, audio, [(r.start, r.end) for r in rests], SPEECH_FIRST, "en")
    read: list[list] = [[], [], []]
    decoding.read_rests([speech_first._Rest(i, rest) for i, rest in enumerate(rests)], read)
    heard = words(" ".join(decoding.tokenizer.decode(piece["tokens"]) for _, part in read[2] for piece in part.pieces))
    assert word_edits(heard, JFK_WORDS) <= allowed_edits(JFK_WORDS) and heard.count("country") == 2, heard


def test_a_member_given_no_text_beside_another_is_decoded_alone_next_round(tiny_whisper, monkeypatch):
    # Scripted decoder results (which texts Whisper ends early cannot be chosen on real audio): round 1 shares
    # two rests and gives the second nothing; round 2 decodes it alone, not beside another again.
    from whisper_cli.engine.windows import WindowResult
    from whisper_cli.speech_windows import SpeechWindow

    rests = [SpeechWindow(0, 5 * SAMPLE_RATE), SpeechWindow(10 * SAMPLE_RATE, 15 * SAMPLE_RATE)]
    decoding = speech_first._Decoding(tiny_whisper, silence(16), [(r.start, r.end) for r in rests], SPEECH_FIRST, "en")
    begin = decoding.tokenizer.timestamp_begin

    def result(pieces, stamps=()):
        return WindowResult([begin + s for s in stamps], "", [dict(tokens=[1], start=a, end=b) for a, b in pieces], -0.2, 0.01, 0.0, 1.0)

    joined, alone = [], []
    monkeypatch.setattr(decoding, "_decode_joined", lambda shared: joined.append(shared) or [result([(0.0, 5.0)])])
    monkeypatch.setattr(decoding, "_decode", lambda windows: alone.append(windows) or [result([(0.0, 5.0)], (0, 250))])
    read: list[list] = [[], []]
    decoding.read_rests([speech_first._Rest(i, rest) for i, rest in enumerate(rests)], read)
    assert [[m for m, _ in members] for shared in joined for members in shared] == [rests]
    assert alone == [[rests[1]]]
    assert [[window for window, _ in pairs] for pairs in read] == [[rests[0]], [rests[1], rests[1]]]


def test_a_segment_over_two_rests_sends_them_to_be_decoded_one_at_a_time():
    # Whisper may read two rests as one segment (no timestamp in the 1 s between them): its text cannot be
    # split by time, so those rests are decoded again alone. An end that drifts a little into the next is kept.
    from whisper_cli.engine.windows import WindowResult
    from whisper_cli.speech_windows import SpeechWindow

    members = [(SpeechWindow(0, 8 * SAMPLE_RATE), 0.0), (SpeechWindow(20 * SAMPLE_RATE, 28 * SAMPLE_RATE), 9.0)]

    def result(*spans):
        return WindowResult([], "", [dict(tokens=[1], start=a, end=b) for a, b in spans], -0.2, 0.01, 0.0, 1.0)

    assert speech_first._spans_two_members(members, result((0.0, 16.0)))
    assert not speech_first._spans_two_members(members, result((0.0, 8.0), (9.0, 17.0)))
    assert not speech_first._spans_two_members(members, result((0.0, 9.6), (9.6, 17.0)))
    # A piece timed early across the gap still goes to the member it overlaps most.
    first, second = speech_first._member_results(members, result((0.0, 7.0), (7.5, 16.0)))
    assert [(p["start"], p["end"]) for p in first.pieces] == [(0.0, 7.0)]
    assert [(p["start"], p["end"]) for p in second.pieces] == [(0.0, 7.0)]

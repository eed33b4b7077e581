"""The live state machine on long streams without the model: buffer bounds, clock, utterance ends.

The decoder and the VAD are replaced here by scripted stand-ins of the same interface (live.Decode and
live.DetectSpeech), because what is checked is the bookkeeping over minutes of audio, which the real
model would take far too long to produce on this machine; test_live.py runs the real ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from whisper_cli.audio import SAMPLE_RATE
from whisper_cli.live import LiveSettings, LiveTranscriber
from whisper_cli.transcript import Segment, Word

WORD_S = 0.5  # the scripted speaker says word k from k*0.5 to k*0.5+0.4 s


def scripted_decoder(calls: list):
    """Hears every whole word inside the audio it is given, timed from the stream's start."""

    def decode(samples, offset_s, prompt):
        calls.append((offset_s, len(samples) / SAMPLE_RATE, prompt))
        end_s = offset_s + len(samples) / SAMPLE_RATE
        first = int(np.ceil(offset_s / WORD_S))
        words = tuple(
            Word(k * WORD_S, k * WORD_S + 0.4, f" w{k}", 0.9)
            for k in range(first, int(end_s / WORD_S) + 1)
            if k * WORD_S + 0.4 <= end_s
        )
        if not words:
            return []
        text = "".join(word.text for word in words)
        return [Segment(0, words[0].start, words[-1].end, text, words, -0.2, 0.01, 1.1, 0.0)]

    return decode


def always_speech(samples):
    return [(0, len(samples))]


def run(transcriber: LiveTranscriber, seconds: float, step_s: float = 1.0):
    finals, buffered, dropped = [], [], []
    chunk = np.zeros(int(step_s * SAMPLE_RATE), dtype=np.float32)
    for _ in range(int(seconds / step_s)):
        transcriber.insert_audio_chunk(chunk)
        update = transcriber.process_iter()
        finals += update.finals
        dropped += update.dropped
        buffered.append(transcriber.buffered_s)
    update = transcriber.finish()
    return finals + update.finals, buffered, dropped + update.dropped


def test_ten_minutes_of_speech_keep_the_buffer_bounded_and_every_word_once_in_order():
    calls: list = []
    transcriber = LiveTranscriber(scripted_decoder(calls), LiveSettings(), detect_speech=always_speech, word_timestamps=True)
    finals, buffered, dropped = run(transcriber, 600)
    heard = [word.text.strip() for segment in finals for word in segment.words]
    assert heard == [f"w{k}" for k in range(len(heard))]
    assert len(heard) >= 1195  # 600 s at two words a second, less the end
    assert max(buffered) <= LiveSettings().context_s + 3.0 + 2.0  # context, trim hysteresis, a step or two
    assert dropped == []
    assert [segment.id for segment in finals] == list(range(len(finals)))
    # Prompts come from committed text before the decoded audio, and stay short.
    prompts = [prompt for _, _, prompt in calls if prompt]
    assert prompts and all(len(prompt) <= LiveSettings().prompt_chars for prompt in prompts)
    for offset_s, _, prompt in calls:
        if prompt:
            last = int(prompt.split()[-1][1:])
            assert last * WORD_S + 0.4 <= offset_s + 0.05


def test_speech_that_yields_no_words_is_let_go_and_memory_stays_flat():
    def no_words(samples, offset_s, prompt):
        return []

    transcriber = LiveTranscriber(no_words, LiveSettings(), detect_speech=always_speech)
    finals, buffered, dropped = run(transcriber, 300)
    settings = LiveSettings()
    assert finals == [] and dropped == []
    assert max(buffered) <= settings.context_s + settings.max_uncommitted_s + 2 * settings.step_s


def test_a_lump_of_audio_larger_than_the_window_is_decoded_window_by_window_and_nothing_is_dropped():
    """As when decoding fell 40 s behind inside one long utterance: no pass takes more than a window."""
    calls: list = []
    settings = LiveSettings()
    transcriber = LiveTranscriber(scripted_decoder(calls), settings, detect_speech=always_speech, word_timestamps=True)
    transcriber.insert_audio_chunk(np.zeros(40 * SAMPLE_RATE, dtype=np.float32))
    update = transcriber.process_iter(lag_s=39.0)
    finals = update.finals + transcriber.finish().finals
    assert update.dropped == []
    assert all(seconds <= settings.max_buffer_s + 1e-6 for _, seconds, _ in calls), calls
    assert len(calls) >= 2
    heard = [word.text for segment in finals for word in segment.words]
    assert heard == [f" w{k}" for k in range(80)]  # every word of 0-40 s, once, in order


def test_skipped_audio_moves_the_clock_and_finalises_what_came_before():
    transcriber = LiveTranscriber(scripted_decoder([]), LiveSettings(), detect_speech=always_speech)
    for _ in range(3):
        transcriber.insert_audio_chunk(np.zeros(SAMPLE_RATE, dtype=np.float32))
        transcriber.process_iter()
    before = transcriber.skip_audio(10.0)
    assert transcriber.received_s == 13.0
    transcriber.insert_audio_chunk(np.zeros(2 * SAMPLE_RATE, dtype=np.float32))
    after = transcriber.finish().finals
    assert before and before[-1].end <= 3.0
    assert after and after[0].start >= 13.0


def test_a_pause_ends_the_utterance_at_once_without_a_second_pass():
    speech_until_s = 2.0

    def speech_then_pause(samples):
        # As Silero with a 0.5 s min_silence: the span closes once the pause is long enough.
        return [(0, int(speech_until_s * SAMPLE_RATE))] if len(samples) >= (speech_until_s + 0.5) * SAMPLE_RATE else [(0, len(samples))]

    transcriber = LiveTranscriber(scripted_decoder([]), LiveSettings(), detect_speech=speech_then_pause)
    transcriber.insert_audio_chunk(np.zeros(3 * SAMPLE_RATE, dtype=np.float32))
    finals = transcriber.process_iter().finals
    assert [segment.text for segment in finals] == [" w0 w1 w2 w3"]


def test_decode_chunks_yields_blocks_of_a_pipe_before_its_writer_closes_it(shared_samples):
    """A WAV stream from ffmpeg, read through audio.decode_chunks while ffmpeg still holds the pipe open."""
    import subprocess

    from whisper_cli.audio import decode_chunks

    command = f"ffmpeg -loglevel error -i {shared_samples / 'jfk.flac'} -f wav -ac 1 -ar 16000 -; sleep 600"
    writer = subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE, start_new_session=True)
    try:
        total = 0
        for block in decode_chunks(writer.stdout, name="<pipe>"):
            assert block.dtype == np.float32
            total += len(block)
            if total >= 10 * SAMPLE_RATE:
                break
        assert writer.poll() is None  # still sleeping: no EOF yet
    finally:
        import os
        import signal

        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()


def test_words_committed_many_at_once_are_still_cut_into_segments_of_at_most_max_segment_s():
    """As when decoding fell behind and one pass took half a minute of waiting audio."""
    transcriber = LiveTranscriber(scripted_decoder([]), LiveSettings(), detect_speech=always_speech, word_timestamps=True)
    finals, _, _ = run(transcriber, 40, step_s=20.0)
    assert len(finals) >= 4
    assert all(segment.end - segment.start <= LiveSettings().max_segment_s for segment in finals), [(s.start, s.end) for s in finals]
    assert [w.text for s in finals for w in s.words] == [f" w{k}" for k in range(len([w for s in finals for w in s.words]))]


def utterances_at(transcriber: LiveTranscriber, spans_s: list[tuple[float, float]]):
    """A VAD hearing speech at fixed stream times: each span in the region it is given, in its samples."""

    def detect(samples):
        region_s = transcriber.received_s - len(samples) / SAMPLE_RATE
        found = []
        for start_s, end_s in spans_s:
            start, end = int((start_s - region_s) * SAMPLE_RATE), int((end_s - region_s) * SAMPLE_RATE)
            if end > 0 and start < len(samples):
                found.append((max(0, start), min(len(samples), end)))
        return found

    return detect


@pytest.mark.parametrize(("spans_s", "passes"), [
    ([(0.5, 3.5), (4.3, 7.3), (8.1, 11.1)], 1),  # pauses of 0.8 s: one pass takes the backlog
    ([(0.5, 3.5), (6.0, 9.0)], 2),  # a 2.5 s pause (over context_gap_s): decoded apart, as without a backlog
])
def test_a_backlog_of_ended_utterances_close_together_is_decoded_in_one_pass(spans_s, passes):
    calls: list = []
    transcriber = LiveTranscriber(scripted_decoder(calls), LiveSettings(), word_timestamps=True)
    transcriber._detect = utterances_at(transcriber, spans_s)  # needs the transcriber's clock
    transcriber.insert_audio_chunk(np.zeros(12 * SAMPLE_RATE, dtype=np.float32))
    finals = transcriber.process_iter().finals
    assert len(calls) == passes
    heard = [word.text for segment in finals for word in segment.words]
    assert heard[0] == " w0" and heard[-1] == f" w{int(spans_s[-1][1] / WORD_S) - 1}"
    assert len(heard) == len(set(heard))


def test_behind_words_far_from_the_newest_audio_are_final_after_one_pass():
    settings = LiveSettings()
    for lag_s, committed in ((0.0, []), (settings.behind_s + 1.0, [f" w{k}" for k in range(8)])):
        transcriber = LiveTranscriber(scripted_decoder([]), settings, detect_speech=always_speech, word_timestamps=True)
        transcriber.insert_audio_chunk(np.zeros(6 * SAMPLE_RATE, dtype=np.float32))
        transcriber.process_iter(lag_s)  # one pass over 0-6 s: w7 ends at 3.9 s, edge_s before the newest audio
        assert [word.text for segment in transcriber.flush_committed() for word in segment.words] == committed


def test_two_minutes_behind_keep_every_word_once_in_order_and_the_buffer_short():
    calls: list = []
    transcriber = LiveTranscriber(scripted_decoder(calls), LiveSettings(), detect_speech=always_speech, word_timestamps=True)
    finals, buffered = [], []
    for _ in range(40):  # 3 s of audio a pass, each pass saying it came 2.5 s late
        transcriber.insert_audio_chunk(np.zeros(3 * SAMPLE_RATE, dtype=np.float32))
        finals += transcriber.process_iter(lag_s=2.5).finals
        buffered.append(transcriber.buffered_s)
    finals += transcriber.finish().finals
    heard = [word.text for segment in finals for word in segment.words]
    assert heard == [f" w{k}" for k in range(len(heard))] and len(heard) >= 235
    settings = LiveSettings()
    assert max(buffered) <= settings.context_s + 3.0 + settings.edge_s + 3.0  # context, hysteresis, edge, a pass's audio
    assert len(calls) == 40  # one pass a call; the end needs none, the last pass heard all of it


@pytest.mark.parametrize(("speech_until_s", "suspect", "full_passes"), [
    (5.0, False, 0),  # the pass at 5 s heard the whole utterance: its words are final as they are
    (5.5, False, 1),  # it heard only up to 5 s: the end is decoded in full
    (5.0, True, 1),  # it heard all, but failed the quality checks: decoded in full (with temperature fallback)
])
def test_passes_inside_an_utterance_are_provisional_and_its_end_is_decoded_in_full_unless_the_last_pass_heard_it(
    speech_until_s, suspect, full_passes
):
    import dataclasses

    full, provisional = [], []

    def speech_until(samples):
        return [(0, min(len(samples), int(speech_until_s * SAMPLE_RATE)))]

    def provisional_decode(samples, offset_s, prompt, _decode=scripted_decoder(provisional)):
        return [dataclasses.replace(segment, avg_logprob=-2.0 if suspect else -0.2) for segment in _decode(samples, offset_s, prompt)]

    transcriber = LiveTranscriber(
        scripted_decoder(full), LiveSettings(), detect_speech=speech_until, decode_provisional=provisional_decode, word_timestamps=True
    )
    finals = []
    for _ in range(6):
        transcriber.insert_audio_chunk(np.zeros(SAMPLE_RATE, dtype=np.float32))
        finals += transcriber.process_iter().finals
    assert len(provisional) == 5 and len(full) == full_passes  # at 1-5 s inside the utterance; at 6 s it has ended
    heard = [word.text for segment in finals for word in segment.words]
    assert heard == [f" w{k}" for k in range(int((speech_until_s - 0.4) / WORD_S) + 1)], heard

"""The live state machine on long streams without the model: buffer bounds, clock, utterance ends.

The decoder and the VAD are replaced here by scripted stand-ins of the same interface (live.Decode and
live.DetectSpeech), because what is checked is the bookkeeping over minutes of audio, which the real
model would take far too long to produce on this machine; test_live.py runs the real ones.
"""

from __future__ import annotations

import numpy as np

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


def test_a_lump_of_audio_larger_than_the_window_is_cut_and_the_cut_is_reported():
    transcriber = LiveTranscriber(scripted_decoder([]), LiveSettings(), detect_speech=always_speech)
    transcriber.insert_audio_chunk(np.zeros(40 * SAMPLE_RATE, dtype=np.float32))
    update = transcriber.process_iter()
    assert update.dropped == [(0.0, 40.0 - LiveSettings().max_buffer_s)]
    assert all(segment.start >= 12.0 for segment in update.finals)


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

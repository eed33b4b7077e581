"""--live on real recordings with the real tiny.en model: a virtual-clock replay of the whole state machine,
and real processes reading pipes that stay open.

The replay feeds a recording one second at a time as fast as the CPU goes, so what it asserts (words,
order, no repeats) does not depend on the machine's speed; the process tests wait generously.
"""

from __future__ import annotations

import difflib
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.live import LiveSettings, LiveTranscriber
from whisper_cli.live_agreement import word_key
from whisper_cli.live_run import EngineDecoder
from whisper_cli.options import DecodeOptions

from same_words import assert_same_words

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
REPO_SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# For a first final on a loaded shared machine (a pass of tiny.en takes well under a second on an idle one);
# LIVE_TEST_WAIT_S shortens it when checking that a deliberately broken build fails.
WAIT_S = float(os.environ.get("LIVE_TEST_WAIT_S", 900))


def transcribe_exe() -> str:
    return os.path.join(os.path.dirname(sys.executable), "transcribe")


@pytest.fixture(scope="module")
def speech_wav(shared_samples, tmp_path_factory) -> str:
    """A real recording with pauses (jfk.flac), a second's silence, then 9 s of fast reading (multilingual.mp3's English)."""
    folder = tmp_path_factory.mktemp("live")
    jfk, reading, joined = folder / "jfk.wav", folder / "reading.wav", folder / "speech.wav"
    subprocess.run(["sox", str(shared_samples / "jfk.flac"), "-r", "16000", "-c", "1", str(jfk), "pad", "0", "1"], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(shared_samples / "multilingual.mp3"), "-t", "9", "-ar", "16000", "-ac", "1", str(reading)], check=True)
    subprocess.run(["sox", str(jfk), str(reading), str(joined)], check=True)
    return str(joined)


def replay(whisper, samples: np.ndarray, step_s: float = 1.0, decode=None):
    """The whole live path on a virtual clock: step_s of audio in, one process_iter, until finish()."""
    transcriber = LiveTranscriber(decode or EngineDecoder(whisper, DecodeOptions()), LiveSettings(step_s=step_s))
    finals, partials = [], []
    step = int(step_s * SAMPLE_RATE)
    for start in range(0, len(samples), step):
        transcriber.insert_audio_chunk(samples[start : start + step])
        update = transcriber.process_iter()
        finals += update.finals
        partials += [update.partial] if update.partial else []
    finals += transcriber.finish().finals
    return finals, partials


def keys(text: str) -> list[str]:
    return [word_key(word) for word in text.split() if word_key(word)]


def test_replayed_recording_gives_the_offline_words_in_order_without_repeats(tiny_whisper, speech_wav):
    samples = load_audio(speech_wav)
    offline = keys(" ".join(segment.text for segment in tiny_whisper(samples, DecodeOptions()).segments))
    finals, partials = replay(tiny_whisper, samples)
    live = keys(" ".join(segment.text for segment in finals))

    matcher = difflib.SequenceMatcher(a=offline, b=live, autojunk=False)
    differing = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    assert differing <= max(4, len(offline) // 8), (offline, live)
    assert "ask not what your country can do for you" in " ".join(live)
    assert "permission is hereby granted" in " ".join(live)
    # In order, each id once, and nothing said twice at a seam between finals.
    assert [segment.id for segment in finals] == list(range(len(finals)))
    assert all(a.end <= b.start + 0.05 for a, b in zip(finals, finals[1:])), [(s.start, s.end) for s in finals]
    for a, b in zip(finals, finals[1:]):
        tail, head = keys(a.text), keys(b.text)
        assert not (tail and head and tail[-1] == head[0]), (a.text, b.text)
    assert all(s.end <= len(samples) / SAMPLE_RATE + 0.05 for s in finals)
    assert partials and all(p.id >= 0 for p in partials)


@pytest.fixture(scope="module")
def long_utterance_wav(shared_samples, tmp_path_factory) -> str:
    """29 s of reading without a pause (multilingual.mp3's English), then jfk.flac: an utterance longer than a window."""
    folder = tmp_path_factory.mktemp("live-long")
    reading, jfk, joined = folder / "reading.wav", folder / "jfk.wav", folder / "long.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(shared_samples / "multilingual.mp3"), "-t", "30.5", "-ar", "16000", "-ac", "1", str(reading)], check=True)
    subprocess.run(["sox", str(shared_samples / "jfk.flac"), "-r", "16000", "-c", "1", str(jfk)], check=True)
    subprocess.run(["sox", str(reading), str(jfk), str(joined)], check=True)
    return str(joined)


def test_a_decoder_slower_than_real_time_works_through_its_backlog_window_by_window_dropping_nothing(tiny_whisper, long_utterance_wav):
    """A virtual clock on which the model loads for 35 s while the pipe fills, and each pass then costs 1.5 s per
    second of audio it decodes (a machine slower than real time): each take is all the audio that arrived meanwhile,
    so the backlog outgrows a window inside the 29 s utterance. The model is real."""
    samples = load_audio(long_utterance_wav)
    offline = " ".join(segment.text for segment in tiny_whisper(samples, DecodeOptions()).segments)
    engine = EngineDecoder(tiny_whisper, DecodeOptions())
    clock = [35.0]  # stream seconds arrived when the next take happens
    passes = []

    def slow(audio, offset_s, prompt, provisional=False):
        passes.append(len(audio) / SAMPLE_RATE)
        clock[0] += 1.5 * len(audio) / SAMPLE_RATE
        return engine(audio, offset_s, prompt, provisional)

    settings = LiveSettings()
    transcriber = LiveTranscriber(slow, settings, decode_provisional=lambda *a: slow(*a, provisional=True))
    finals, dropped, taken = [], [], 0
    while taken < len(samples):
        arrived = min(len(samples), max(taken + SAMPLE_RATE, int(clock[0] * SAMPLE_RATE)))
        transcriber.insert_audio_chunk(samples[taken:arrived])
        update = transcriber.process_iter(lag_s=(arrived - taken) / SAMPLE_RATE - settings.step_s)
        taken = arrived
        finals += update.finals
        dropped += update.dropped
    finals += transcriber.finish().finals

    assert passes[0] == pytest.approx(settings.max_buffer_s, abs=0.01), passes  # a whole window of backlog first
    assert max(passes) <= settings.max_buffer_s + 0.01, passes
    assert dropped == []
    live = " ".join(segment.text for segment in finals)
    assert_same_words("slow live vs offline", live, offline)
    assert [segment.id for segment in finals] == list(range(len(finals)))
    assert all(a.end <= b.start + 0.05 for a, b in zip(finals, finals[1:])), [(s.start, s.end) for s in finals]
    for a, b in zip(finals, finals[1:]):
        tail, head = keys(a.text), keys(b.text)
        assert not (tail and head and tail[-1] == head[0]), (a.text, b.text)


def test_silence_and_noise_never_reach_the_decoder(tiny_whisper, tmp_path):
    noise = tmp_path / "noise.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(noise), "synth", "20", "pinknoise", "vol", "0.02"], check=True)
    samples = np.concatenate([np.zeros(10 * SAMPLE_RATE, dtype=np.float32), load_audio(str(noise))])
    calls = []

    def decode(audio, offset_s, prompt):
        calls.append(offset_s)
        return EngineDecoder(tiny_whisper, DecodeOptions())(audio, offset_s, prompt)

    finals, partials = replay(tiny_whisper, samples, decode=decode)
    assert (finals, partials, calls) == ([], [], [])


def _finals_stdout(process, wanted: int, timeout_s: float) -> list[str]:
    """Lines of the process's stdout until `wanted` have arrived (or the timeout), without waiting for EOF."""
    lines, buffer, deadline = [], b"", time.monotonic() + timeout_s
    fd = process.stdout.fileno()
    while len(lines) < wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        lines += [line.decode() for line in complete]
    return lines


def test_first_final_comes_before_stdin_closes_and_sigterm_exits_143(speech_wav, tmp_path):
    """As `(cat clip; sleep 600) | transcribe --live -`: the pipe stays open, text must come anyway."""
    process = subprocess.Popen(
        [transcribe_exe(), "--live", "-", "--model", "tiny.en", "-f", "srt"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )
    try:
        with open(speech_wav, "rb") as clip:
            process.stdin.write(clip.read())
        process.stdin.flush()  # and left open: no EOF
        lines = _finals_stdout(process, 3, WAIT_S)  # index, times, text of the first cue
        assert process.poll() is None, process.stderr.read().decode()
        assert lines[0] == "1" and re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", lines[1]), lines
        assert "fellow americans" in lines[2].lower(), lines
        process.send_signal(signal.SIGTERM)
        rest, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err.decode()
    assert err.decode().splitlines()[-1] == "error: terminated"
    # What was written is whole cues: blank-line separated blocks of index, times, text.
    text = "\n".join(lines) + "\n" + rest.decode()
    for block in filter(None, text.strip().split("\n\n")):
        index, times, *words = block.splitlines()
        assert index.isdigit() and " --> " in times and words, block


def test_raw_s16le_stream_with_partials_ends_at_eof_with_exit_0(speech_wav):
    raw = subprocess.run(["sox", speech_wav, "-t", "raw", "-e", "signed", "-b", "16", "-"], check=True, capture_output=True).stdout
    done = subprocess.run(
        [transcribe_exe(), "--live", "--model", "tiny.en", "--input-format", "s16le", "-f", "jsonl", "--partials"],
        input=raw, capture_output=True, env=ENV, timeout=WAIT_S,
    )
    assert done.returncode == 0, done.stderr.decode()
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    finals = [record for record in records if record["final"]]
    assert [record["id"] for record in finals] == list(range(len(finals)))
    assert "ask not what your country" in " ".join(" ".join(record["text"].lower() for record in finals).split())
    # A provisional line is never after the final with its id: finals are append-only.
    final_at = {record["id"]: index for index, record in enumerate(records) if record["final"]}
    for index, record in enumerate(records):
        if not record["final"]:
            assert index < final_at.get(record["id"], len(records))


def test_wav_stream_from_ffmpeg_pipe_is_transcribed(shared_samples, tmp_path):
    command = (
        f"ffmpeg -loglevel error -i {shared_samples / 'jfk.flac'} -f wav - "
        f"| {transcribe_exe()} --live - --model tiny.en -f txt"
    )
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, env=ENV, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    assert "your country" in done.stdout.lower()


def test_malformed_stream_is_one_error_line_and_exit_1():
    done = subprocess.run(
        [transcribe_exe(), "--live", "-", "--model", "tiny.en"],
        input=random.Random(14).randbytes(50_000), capture_output=True, env=ENV, timeout=600,
    )
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode().splitlines() == ["error: <stdin>: not a recognised audio or video file, or a damaged one (invalid data)"]


@pytest.mark.parametrize("args, line", [
    (["--partials"], "error: --partials: needs --live"),
    (["--live", "--partials"], 'error: --partials: needs -f jsonl (provisional lines are JSON objects with "final": false)'),
    (["--live", "a.wav", "b.wav"], "error: --live: reads one stream (- or a FIFO)"),
    (["--live", "--diarize"], "error: --diarize: needs the whole recording to find its speakers; --live has no end to wait for"),
])
def test_live_usage_errors_exit_2(args, line):
    done = subprocess.run([transcribe_exe(), "--model", "tiny.en", *args], capture_output=True, text=True, env=ENV, timeout=300, stdin=subprocess.DEVNULL)
    assert (done.returncode, done.stderr.splitlines()) == (2, [line])


def test_a_fifo_source_is_read_as_it_is_written(tmp_path):
    fifo = tmp_path / "stream.fifo"
    os.mkfifo(fifo)
    command = f"{transcribe_exe()} --live {fifo} --model tiny.en & cat {REPO_SAMPLES / 'hello.flac'} > {fifo}; wait $!"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=ENV, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    assert "without any network connection" in done.stdout.lower()


def test_provisional_passes_decode_without_temperature_fallback(tiny_whisper, speech_wav):
    """A pass inside an utterance tries one temperature (its words wait for a second pass); the utterance's end all."""
    seen = []

    class RecordingWhisper:  # the real model, with the options of each pass noted
        def transcribe_span(self, samples, options, **kwargs):
            seen.append(options.temperature)
            return tiny_whisper.transcribe_span(samples, options, **kwargs)

    decoder = EngineDecoder(RecordingWhisper(), DecodeOptions(language="en"))
    samples = load_audio(speech_wav)[: 3 * SAMPLE_RATE]
    assert decoder.provisional(samples, 0.0, None) and decoder(samples, 0.0, None)
    assert seen == [DecodeOptions().temperature[:1], DecodeOptions().temperature] and len(seen[1]) > 1


def test_silence_and_noise_on_a_pipe_give_no_text_and_exit_0(tmp_path):
    """`(silence; pink noise) | transcribe --live -`: nothing on stdout, whatever the model would make of noise."""
    noise = tmp_path / "noise.raw"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-e", "signed", "-b", "16", str(noise), "synth", "20", "pinknoise", "vol", "0.3", "pad", "10", "0"], check=True)
    done = subprocess.run(
        [transcribe_exe(), "--live", "-", "--model", "tiny.en", "--input-format", "s16le", "-f", "jsonl"],
        input=noise.read_bytes(), capture_output=True, env=ENV, timeout=WAIT_S,
    )
    assert (done.returncode, done.stdout) == (0, b""), done.stderr.decode()

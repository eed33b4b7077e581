"""The server's packer in-process, with the real tiny.en model: how requests gather into groups.

Its scheduler and decoding thread are the real ones; a decoding thread (or an audio thread) is kept busy
with an event, so which requests share a group does not depend on the machine's speed.
"""

from __future__ import annotations

import io
import json
import threading

import pytest

from conftest import REPO

HELLO = REPO / "samples" / "hello.flac"  # 5.6 s
FORECAST = REPO / "samples" / "forecast.ogg"  # 12.6 s
RESULT_TIMEOUT_S = 300  # the machine is shared: generous, never a measure of speed


@pytest.fixture
def packing(tiny_whisper):
    from whisper_cli.progress import LogFormat
    from whisper_cli.serve.log import ServerLog
    from whisper_cli.serve.packer import Packer
    from whisper_cli.serve.pool import ModelPool
    from whisper_cli.serve.scheduler import Scheduler

    scheduler = Scheduler(workers=1, max_queue=64)
    stream = io.StringIO()
    pool = ModelPool(["tiny.en"], lambda name: tiny_whisper)

    def make(**kwargs) -> Packer:
        return Packer(scheduler, pool, ServerLog(LogFormat.jsonl, stream=stream), device="cpu", **kwargs)

    def groups() -> list[int]:
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        return [event["requests"] for event in events if event["event"] == "packed"]

    yield scheduler, make, groups
    scheduler.close()


def _audio(path):
    from whisper_cli.audio import load_audio

    return load_audio(path)


def _add(packer, clips) -> list:
    from whisper_cli.options import DecodeOptions

    return [packer.add("tiny.en", DecodeOptions(), name, audio, threading.Event()) for name, audio in clips]


def test_requests_waiting_for_a_busy_model_share_one_group_of_two_windows_worth(packing):
    scheduler, make, groups = packing
    busy = threading.Event()
    scheduler.execute(busy.wait)  # the one decoding thread reads another request
    hello, forecast = _audio(HELLO), _audio(FORECAST)
    clips = [("hello1", hello), ("forecast1", forecast), ("hello2", hello), ("forecast2", forecast)]  # 40 s with gaps
    futures = _add(make(gather_s=0.01), clips)
    busy.set()
    texts = [future.result(RESULT_TIMEOUT_S).text.lower() for future in futures]
    assert groups() == [4], "more than one window's worth, yet split into several groups"
    for (name, _), text in zip(clips, texts):
        assert ("own computer" in text) if name.startswith("hello") else ("umbrella" in text), (name, text)


def test_a_group_waits_for_requests_still_decoding_their_audio(packing):
    scheduler, make, groups = packing
    decoding_audio = threading.Event()
    scheduler.submit(decoding_audio.wait, audio=True)  # another request's upload, still being decoded
    packer = make(gather_s=0.02, max_gather_s=RESULT_TIMEOUT_S)
    [first] = _add(packer, [("hello", _audio(HELLO))])
    assert not decoding_audio.wait(0.5)  # many gathering steps: with the decoding thread free, it would have gone
    [second] = _add(packer, [("forecast", _audio(FORECAST))])
    decoding_audio.set()
    assert "own computer" in first.result(RESULT_TIMEOUT_S).text.lower()
    assert "umbrella" in second.result(RESULT_TIMEOUT_S).text.lower()
    assert groups() == [2]


def test_a_request_that_finds_no_company_is_read_the_plain_way(packing, monkeypatch):
    from whisper_cli.serve import packer as packer_module

    scheduler, make, groups = packing
    packed_calls = []
    real = packer_module.transcribe_packed

    def spy(whisper, clips, options):  # calls through: only records that the packed path was taken
        packed_calls.append(len(clips))
        return real(whisper, clips, options)

    monkeypatch.setattr(packer_module, "transcribe_packed", spy)
    packer = make(gather_s=0.01)
    [alone] = _add(packer, [("hello", _audio(HELLO))])
    assert "own computer" in alone.result(RESULT_TIMEOUT_S).text.lower()
    assert packed_calls == [], "a group of one went through the packed path (layout, its own language pass)"

    busy = threading.Event()
    scheduler.execute(busy.wait)
    together = _add(packer, [("hello", _audio(HELLO)), ("forecast", _audio(FORECAST))])
    busy.set()
    assert "umbrella" in together[1].result(RESULT_TIMEOUT_S).text.lower()
    assert packed_calls == [2] and groups() == [1, 2]
    assert (packer.requests, packer.windows) == (3, 2)


def test_with_two_decoding_threads_a_group_holds_one_window_so_both_threads_read(tiny_whisper):
    from whisper_cli.progress import LogFormat
    from whisper_cli.serve.log import ServerLog
    from whisper_cli.serve.packer import Packer
    from whisper_cli.serve.pool import ModelPool
    from whisper_cli.serve.scheduler import Scheduler

    scheduler = Scheduler(workers=2, max_queue=64)
    stream = io.StringIO()
    try:
        pool = ModelPool(["tiny.en"], lambda name: tiny_whisper)
        packer = Packer(scheduler, pool, ServerLog(LogFormat.jsonl, stream=stream), device="cpu", gather_s=0.01)
        busy = threading.Event()
        for _ in range(2):
            scheduler.execute(busy.wait)  # both decoding threads read other requests
        hello, forecast = _audio(HELLO), _audio(FORECAST)
        clips = [("hello1", hello), ("forecast1", forecast), ("hello2", hello), ("forecast2", forecast)]  # 40 s with gaps
        futures = _add(packer, clips)
        busy.set()
        for future in futures:
            future.result(RESULT_TIMEOUT_S)
    finally:
        scheduler.close()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["requests"] for e in events if e["event"] == "packed"] in ([3, 1], [1, 3]), "one group for two threads"

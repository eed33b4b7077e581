"""Headerless PCM input (--input-format, --sample-rate, --channels): real pipes from sox and ffmpeg, real files.

A raw stream must give the same samples as the WAV holding it (both go through one resampler), a
partial last frame is dropped with a warning, and options that make no sense are one usage line, exit 2.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from whisper_cli.audio import load_audio
from whisper_cli.audio_raw import RawEncoding, RawFormat

PHRASE = "ask not what your country"  # from jfk.flac
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def transcribe_exe() -> str:
    return os.path.join(os.path.dirname(sys.executable), "transcribe")


def pipeline(command: str, cwd) -> subprocess.CompletedProcess:
    """Run a shell pipeline whose last stage is `transcribe` (the real entry point)."""
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.replace("transcribe ", f"{shlex.quote(transcribe_exe())} --model tiny.en ")],
        cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600,
    )


@pytest.fixture(scope="module")
def jfk(shared_samples):
    return shared_samples / "jfk.flac"


def test_sox_raw_s16le_pipe_is_transcribed(jfk, tmp_path):
    done = pipeline(f"sox {jfk} -t raw -r 16000 -e signed -b 16 -c 1 - | transcribe - --input-format s16le", tmp_path)
    assert done.returncode == 0, done.stderr
    assert PHRASE in done.stdout.lower()
    assert "warning" not in done.stderr


def test_ffmpeg_f32le_pipe_is_transcribed(jfk, tmp_path):
    done = pipeline(f"ffmpeg -loglevel error -i {jfk} -f f32le -ac 1 -ar 16000 - | transcribe - --input-format f32le", tmp_path)
    assert done.returncode == 0, done.stderr
    assert PHRASE in done.stdout.lower()


def test_s32le_file_is_transcribed(jfk, tmp_path):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(jfk), "-f", "s32le", "-ac", "1", "-ar", "16000", "talk.pcm"], cwd=tmp_path, check=True)
    done = pipeline("transcribe talk.pcm --input-format s32le -f srt -o out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert PHRASE in (tmp_path / "out" / "talk.srt").read_text().lower()


def test_44k1_stereo_stream_is_resampled_and_downmixed(jfk, tmp_path):
    command = f"sox {jfk} -t raw -r 44100 -e signed -b 16 -c 2 - | transcribe - --input-format s16le --sample-rate 44100 --channels 2"
    done = pipeline(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert PHRASE in done.stdout.lower()


@pytest.mark.parametrize("encoding, sox_args", [
    ("s16le", ["-e", "signed", "-b", "16"]),
    ("s32le", ["-e", "signed", "-b", "32"]),
    ("f32le", ["-e", "floating-point", "-b", "32"]),
])
def test_raw_gives_the_same_samples_as_the_wav_holding_it(jfk, tmp_path, encoding, sox_args):
    wav, raw = tmp_path / "talk.wav", tmp_path / "talk.pcm"
    subprocess.run(["sox", str(jfk), "-r", "44100", "-c", "2", *sox_args, str(wav)], check=True)
    subprocess.run(["sox", str(wav), "-t", "raw", str(raw)], check=True)
    fmt = RawFormat(RawEncoding(encoding), 44100, 2)
    assert np.array_equal(load_audio(str(raw), raw=fmt), load_audio(str(wav)))
    left, right = load_audio(str(raw), raw=fmt, split_stereo=True)
    wav_left, wav_right = load_audio(str(wav), split_stereo=True)
    assert np.array_equal(left, wav_left) and np.array_equal(right, wav_right)


def test_odd_byte_count_drops_the_partial_frame_with_a_warning(jfk, tmp_path):
    command = f"(sox {jfk} -t raw -r 16000 -e signed -b 16 -c 1 -; printf 'x') | transcribe - --input-format s16le"
    done = pipeline(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert PHRASE in done.stdout.lower()
    assert "warning: <stdin>: dropped the last 1 byte: not a whole frame (2 bytes per frame for s16le, 1 channel, 16000 Hz)" in done.stderr


def test_partial_frame_leaves_the_whole_frames_unchanged(tmp_path):
    samples = (np.sin(np.arange(16000) / 5) * 10000).astype("<i2")
    (tmp_path / "even.pcm").write_bytes(samples.tobytes())
    (tmp_path / "odd.pcm").write_bytes(samples.tobytes() + b"\x01\x02\x03")
    warnings: list[str] = []
    stereo = RawFormat(RawEncoding.s16le, 16000, 2)  # 4-byte frames: 3 extra bytes are a partial one
    odd = load_audio(str(tmp_path / "odd.pcm"), raw=stereo, warn=warnings.append)
    assert np.array_equal(odd, load_audio(str(tmp_path / "even.pcm"), raw=stereo))
    assert warnings == ["dropped the last 3 bytes: not a whole frame (4 bytes per frame for s16le, 2 channels, 16000 Hz)"]


def test_less_than_one_frame_is_an_input_error(tmp_path):
    done = pipeline("printf 'abc' | transcribe - --input-format f32le", tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "error: <stdin>: less than one frame of audio (3 bytes of f32le, 1 channel, 16000 Hz)"
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("args, line", [
    (["--sample-rate", "0"], "error: --sample-rate: 0 Hz makes no sense (from 1000 to 768000)"),
    (["--sample-rate", "-8000"], "error: --sample-rate: -8000 Hz makes no sense (from 1000 to 768000)"),
    (["--sample-rate", "10000000"], "error: --sample-rate: 10000000 Hz makes no sense (from 1000 to 768000)"),
    (["--channels", "0"], "error: --channels: 0 makes no sense (from 1 to 8)"),
    (["--channels", "64"], "error: --channels: 64 makes no sense (from 1 to 8)"),
])
def test_senseless_rate_or_channels_is_exit_2_naming_the_option(tmp_path, args, line):
    done = pipeline(f"printf 'abcd' | transcribe - --input-format s16le {' '.join(args)}", tmp_path)
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (2, [line], "")


def test_rate_without_input_format_is_a_usage_error(tmp_path):
    done = pipeline("printf 'abcd' | transcribe - --sample-rate 44100", tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: --sample-rate: needs --input-format (a file's own header says its rate and channels)"]


def test_unknown_encoding_is_a_usage_error(tmp_path):
    done = pipeline("printf 'abcd' | transcribe - --input-format u8", tmp_path)
    assert done.returncode == 2 and "--input-format" in done.stderr and "Traceback" not in done.stderr

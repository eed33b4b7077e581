"""Path, "-" (stdin) or a pipe -> 16 kHz mono float32 samples; every error names the file."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from .errors import InputError

SAMPLE_RATE = 16000  # Hz; what Whisper's feature extractor expects
STDIN_NAME = "-"
_DECODE_CHUNK_SAMPLES = 500_000  # resample in chunks this big to bound PyAV's per-call memory

AudioSource = Union[str, os.PathLike]


def display_name(source: AudioSource) -> str:
    return "<stdin>" if str(source) == STDIN_NAME else str(source)


def load_audio(source: AudioSource, *, split_stereo: bool = False, stdin: BinaryIO | None = None):
    """Decode any container PyAV reads into float32 samples at SAMPLE_RATE.

    Returns one array, or (left, right) with split_stereo. Raises InputError naming the source.
    """
    name = display_name(source)
    if str(source) == STDIN_NAME:
        data = (stdin or sys.stdin.buffer).read()
        return _decode(io.BytesIO(_non_empty(data, name)), name, split_stereo)
    path = Path(source)
    mode = _stat_input(path, name)
    if stat.S_ISREG(mode):
        if os.stat(path).st_size == 0:
            raise InputError(name, "empty file (0 bytes)")
        return _decode(str(path), name, split_stereo)
    # A pipe or character device (e.g. `transcribe <(ffmpeg ...)`): read it whole, as for stdin,
    # because several containers need to seek.
    with _open_readable(path, name) as stream:
        return _decode(io.BytesIO(_non_empty(stream.read(), name)), name, split_stereo)


def _stat_input(path: Path, name: str) -> int:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        cause = "broken symbolic link" if path.is_symlink() else "no such file"
        raise InputError(name, cause) from None
    except OSError as error:
        raise InputError(name, error.strerror or str(error)) from None
    if stat.S_ISDIR(mode):
        raise InputError(name, "is a directory")
    if not os.access(path, os.R_OK):
        raise InputError(name, "permission denied")
    return mode


def _open_readable(path: Path, name: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as error:
        raise InputError(name, error.strerror or str(error)) from None


def _non_empty(data: bytes, name: str) -> bytes:
    if not data:
        raise InputError(name, "no data (0 bytes)")
    return data


def _decode(file: Union[str, BinaryIO], name: str, split_stereo: bool):
    import av

    layout = "stereo" if split_stereo else "mono"
    # s16, as faster-whisper does: FFmpeg's float downmix keeps stereo sums above 1.0, and matching
    # the engine's own decoder keeps our transcripts identical to a plain faster-whisper run.
    resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    try:
        with av.open(file, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InputError(name, "no audio stream (not an audio or video file with sound)")
            stream = container.streams.audio[0]
            fifo = av.AudioFifo()
            for frame in _decodable_frames(container.decode(stream)):
                frame.pts = None  # PyAV's fifo rejects gaps in timestamps; we only need samples
                fifo.write(frame)
                if fifo.samples >= _DECODE_CHUNK_SAMPLES:
                    chunks.extend(_resample(resampler, fifo.read()))
            if fifo.samples:
                chunks.extend(_resample(resampler, fifo.read()))
            chunks.extend(_resample(resampler, None))
    except InputError:
        raise
    except av.error.FFmpegError as error:
        raise InputError(name, _ffmpeg_cause(error)) from None
    except (ValueError, IndexError, OSError, MemoryError) as error:
        # PyAV raises these for malformed headers (0 channels, 0 Hz, absurd sizes).
        raise InputError(name, f"cannot decode audio: {error}") from None

    channels = 2 if split_stereo else 1
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.int16)
    samples = samples.astype(np.float32) / 32768.0
    if samples.shape[1] == 0:
        raise InputError(name, "no audio samples could be decoded")
    if split_stereo:
        return np.ascontiguousarray(samples[0]), np.ascontiguousarray(samples[1])
    return samples[0]


def _decodable_frames(frames):
    """Skip corrupt packets in the middle of a stream instead of failing the whole file."""
    import av

    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def _resample(resampler, frame) -> list[np.ndarray]:
    # Packed stereo comes back as shape (1, 2n) interleaved; reshape to (channels, n).
    arrays = []
    for out in resampler.resample(frame):
        array = out.to_ndarray()
        channels = len(out.layout.channels)
        arrays.append(array.reshape(-1, channels).T if channels > 1 else array.reshape(1, -1))
    return arrays


def _ffmpeg_cause(error) -> str:
    message = getattr(error, "strerror", None) or str(error)
    if "Invalid data found" in message:
        return "not a recognised audio or video file (invalid data)"
    return f"cannot decode audio: {message}"

"""A never-ending pipe -> 16 kHz mono float32 blocks as its bytes arrive (live mode), never waiting for EOF.

Reads go straight to the file descriptor (os.read returns what is there), so a block comes out as soon as
FFmpeg has a frame, and a read blocked on a quiet pipe holds none of the io module's locks: a signal or
the interpreter's exit never waits on it. Headerless PCM is cut into whole frames as it comes; anything
else is demuxed by PyAV from the same reads, which never seeks.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Optional

import numpy as np

from .audio_format import SAMPLE_RATE, ffmpeg_cause
from .audio_raw import RawFormat, pcm_frames
from .errors import InputError

READ_BYTES = 8192  # per read: at 16 kHz s16 mono a quarter second, so a slow pipe is never waited on long
# FFmpeg probes this many bytes to tell the container apart; enough for every header we know, and small
# enough that a slow stream starts at once (its default of 5 MB would be minutes of a live mp3).
_PROBE_BYTES = 32768
_ANALYZE_US = 1_000_000  # and it reads at most this much audio for stream parameters


class PipeReader:
    """A file-like `read(n)` that returns whatever the descriptor has (at most n bytes), b"" at EOF."""

    def __init__(self, fd: int, name: str):
        self._fd = fd
        self.name = name
        self.bytes_read = 0

    def read(self, size: int = READ_BYTES) -> bytes:
        try:
            data = os.read(self._fd, size if size and size > 0 else READ_BYTES)
        except OSError as error:
            raise InputError(self.name, f"cannot read: {error.strerror or error}") from None
        self.bytes_read += len(data)
        return data


def decode_chunks(
    reader: PipeReader, raw: Optional[RawFormat] = None, warn: Optional[Callable[[str], None]] = None
) -> Iterator[np.ndarray]:
    """float32 blocks at SAMPLE_RATE, mono, in order, as the bytes arrive; InputError if no audio comes out."""
    warn = warn or (lambda message: None)
    blocks = _raw_blocks(reader, raw, warn) if raw is not None else _container_blocks(reader, warn)
    produced = False
    for block in blocks:
        if block.size:
            produced = True
            yield block
    if not produced:
        if reader.bytes_read == 0:
            raise InputError(reader.name, "no data (0 bytes)")
        raise InputError(reader.name, "no audio could be decoded")


class _Mono16k:
    """PyAV frames in, float32 16 kHz mono out; a new resampler whenever the frame format changes."""

    def __init__(self) -> None:
        self._key: Optional[tuple] = None
        self._resampler = None

    def add(self, frame) -> Iterator[np.ndarray]:
        import av

        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if key != self._key:
            yield from self.flush()
            self._key = key
            # s16, as audio.py and faster-whisper do, so live and file mode hear the same samples.
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        frame.pts = None
        yield from self._convert(self._resampler.resample(frame))

    def flush(self) -> Iterator[np.ndarray]:
        if self._resampler is not None:
            yield from self._convert(self._resampler.resample(None))
            self._resampler = None

    @staticmethod
    def _convert(frames) -> Iterator[np.ndarray]:
        for out in frames:
            yield out.to_ndarray().reshape(-1).astype(np.float32) * np.float32(1 / 32768.0)


def _raw_blocks(reader: PipeReader, raw: RawFormat, warn) -> Iterator[np.ndarray]:
    resampler = _Mono16k()
    carry = b""
    while True:
        data = reader.read(READ_BYTES)
        if not data:
            break
        data = carry + data
        whole = len(data) - len(data) % raw.frame_bytes
        carry = data[whole:]
        if whole:
            for frame in pcm_frames(memoryview(data)[:whole], raw):
                yield from resampler.add(frame)
    if carry:
        warn(f"dropped the last {len(carry)} byte{'s' if len(carry) > 1 else ''}: not a whole frame "
             f"({raw.frame_bytes} bytes per frame for {raw.describe()})")
    yield from resampler.flush()


def _container_blocks(reader: PipeReader, warn) -> Iterator[np.ndarray]:
    import av

    options = {"probesize": str(_PROBE_BYTES), "analyzeduration": str(_ANALYZE_US)}
    resampler = _Mono16k()
    decoded_s = 0.0
    try:
        with av.open(reader, mode="r", options=options, metadata_errors="ignore", buffer_size=READ_BYTES) as container:
            if not container.streams.audio:
                raise InputError(reader.name, "no audio stream (not an audio or video stream with sound)")
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue  # a corrupt packet: skip it, as file mode does
                for frame in frames:
                    for block in resampler.add(frame):
                        decoded_s += len(block) / SAMPLE_RATE
                        yield block
    except InputError:
        raise
    except av.error.FFmpegError as error:
        if reader.bytes_read == 0:
            raise InputError(reader.name, "no data (0 bytes)") from None
        if decoded_s == 0:
            raise InputError(reader.name, ffmpeg_cause(error)) from None
        warn(f"damaged stream after {decoded_s:.1f} s ({getattr(error, 'strerror', None) or type(error).__name__}); stopping there")
    except (ValueError, IndexError) as error:
        raise InputError(reader.name, f"cannot decode audio: {error}") from None
    yield from resampler.flush()

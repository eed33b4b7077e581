"""Path, "-" (stdin) or a pipe -> 16 kHz mono float32 samples; every error names the file.

A damaged file gives what can be decoded from it: a corrupt packet is skipped and a truncated file yields
the audio before the cut, because a recording that cannot be made again is worth a partial transcript.
Only when no audio at all comes out is it an error. Every failure is an InputError with a cause in words.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Optional, Union

import numpy as np

from .audio_format import MAX_SOURCE_RATE_HZ, MIN_SOURCE_RATE_HZ, SAMPLE_RATE, ffmpeg_cause
from .errors import InputError

if TYPE_CHECKING:
    from .audio_raw import RawFormat

STDIN_NAME = "-"
_DECODE_CHUNK_SAMPLES = 500_000  # resample in chunks this big to bound PyAV's per-call memory
# A header claiming a lower rate is corrupt, not audio: 1 Hz would blow 100 KB up into a day of samples.
_TRUNCATION_SLACK_S = 1.0  # decoding this much less than the header announces is not worth a warning

AudioSource = Union[str, os.PathLike]
Warn = Callable[[str], None]


def display_name(source: AudioSource) -> str:
    return "<stdin>" if str(source) == STDIN_NAME else str(source)


def load_audio(
    source: AudioSource,
    *,
    split_stereo: bool = False,
    stdin: BinaryIO | None = None,
    warn: Optional[Warn] = None,
    raw: Optional["RawFormat"] = None,
):
    """Decode any container PyAV reads, or headerless PCM described by `raw`, into float32 samples at SAMPLE_RATE.

    Returns one array, or (left, right) with split_stereo. Raises InputError naming the source.
    `warn` is told, in words, when a damaged or truncated file was only partly decoded.
    """
    name = display_name(source)
    warn = warn or _ignore
    if raw is not None:
        return _load_raw(source, name, raw, split_stereo, stdin, warn)
    if str(source) == STDIN_NAME:
        return _decode(io.BytesIO(_read_stdin(stdin, name)), name, split_stereo, warn)
    path = Path(source)
    mode = _stat_input(path, name)
    if stat.S_ISREG(mode):
        if os.stat(path).st_size == 0:
            raise InputError(name, "empty file (0 bytes)")
        # Absolute, so FFmpeg never reads a name like "http:host:80" or "pipe:0" as a protocol.
        return _decode(os.path.abspath(path), name, split_stereo, warn)
    # A pipe (e.g. `transcribe <(ffmpeg ...)`) or a socket: read it whole, as for stdin, because several
    # containers need to seek.
    with _open_readable(path, name) as stream:
        return _decode(io.BytesIO(_non_empty(_read(stream, name), name)), name, split_stereo, warn)


def _ignore(message: str) -> None:
    pass


def _load_raw(source: AudioSource, name: str, raw: "RawFormat", split_stereo: bool, stdin: Optional[BinaryIO], warn: Warn):
    """Headerless PCM from stdin, a pipe or a file: read whole, then resampled as a container's frames are."""
    from .audio_raw import pcm_frames, whole_frames

    if str(source) == STDIN_NAME:
        data = _read_stdin(stdin, name)
    else:
        path = Path(source)
        _stat_input(path, name)
        with _open_readable(path, name) as stream:
            data = _non_empty(_read(stream, name), name)
    frames = whole_frames(data, raw, warn)
    if not frames:
        raise InputError(name, f"less than one frame of audio ({len(data)} bytes of {raw.describe()})")
    output = _Resampled("stereo" if split_stereo else "mono")
    try:
        for frame in pcm_frames(frames, raw):
            output.add(frame)
    except MemoryError:
        raise InputError(name, "too large to decode in memory") from None
    return _to_float(output.finish(), split_stereo)


def _read_stdin(stdin: Optional[BinaryIO], name: str) -> bytes:
    if stdin is None:
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise InputError(name, "stdin is closed")
        if _isatty(sys.stdin):
            raise InputError(name, "stdin is a terminal; pipe audio in, e.g. `transcribe - < talk.mp3`")
        stdin = sys.stdin.buffer
    return _non_empty(_read(stdin, name), name)


def _read(stream: BinaryIO, name: str) -> bytes:
    try:
        return stream.read()
    except OSError as error:
        raise InputError(name, f"cannot read: {error.strerror or error}") from None
    except MemoryError:
        raise InputError(name, "too large to hold in memory") from None


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


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
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        # /dev/zero or /dev/urandom would be read forever, and a disk is not a recording.
        raise InputError(name, "not a regular file or a pipe")
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


def _decode(file: Union[str, BinaryIO], name: str, split_stereo: bool, warn: Warn):
    import av

    layout = "stereo" if split_stereo else "mono"
    try:
        with av.open(file, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InputError(name, "no audio stream (not an audio or video file with sound)")
            stream = container.streams.audio[0]
            if stream.codec_context is None:
                raise InputError(name, "no decoder for this audio codec in FFmpeg")
            _check_header(stream, name)
            try:
                chunks = _decode_stream(container, stream, layout, warn)
            except av.error.ArgumentError:
                # FFmpeg cannot open a decoder or resampler for what the header describes (64 channels, say).
                raise InputError(name, f"unsupported audio format ({_describe(stream)})") from None
    except InputError:
        raise
    except av.error.FFmpegError as error:
        raise InputError(name, ffmpeg_cause(error)) from None
    except MemoryError:
        raise InputError(name, "too large to decode in memory") from None
    except (ValueError, IndexError, OSError) as error:
        # PyAV raises these for malformed headers (absurd channel layouts or sizes).
        raise InputError(name, f"cannot decode audio: {error}") from None
    if not chunks:
        raise InputError(name, "no audio could be decoded (damaged or truncated file?)")
    return _to_float(chunks, split_stereo)


def _describe(stream) -> str:
    context = stream.codec_context
    return f"{context.name}, {getattr(context, 'channels', '?')} channels, {context.sample_rate} Hz"


def _check_header(stream, name: str) -> None:
    """Raw PCM has only its header to go by; compressed codecs are judged by the frames they decode."""
    context = stream.codec_context
    if not context.name.startswith("pcm_"):
        return
    if getattr(context, "channels", 1) <= 0:
        raise InputError(name, "invalid audio header: 0 channels")
    if not MIN_SOURCE_RATE_HZ <= context.sample_rate <= MAX_SOURCE_RATE_HZ:
        raise InputError(name, f"invalid audio header: sample rate {context.sample_rate} Hz")


def _decode_stream(container, stream, layout: str, warn: Warn) -> list[np.ndarray]:
    """Demux and decode packet by packet, skipping corrupt packets and stopping at a truncation."""
    import av

    output = _Resampled(layout)
    corrupt = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                corrupt += 1  # a corrupt packet: skip it, keep the rest
                continue
            for frame in frames:
                output.add(frame)
    except av.error.FFmpegError as error:
        if not output.has_samples:
            raise
        # The file is cut off or damaged past this point: keep what came before.
        cause = getattr(error, "strerror", None) or type(error).__name__
        warn(f"damaged or truncated after {output.seconds:.1f} s ({cause}); transcribing the audio before that")
    else:
        _warn_if_shorter_than_announced(stream, output.seconds, warn)
    if corrupt and output.has_samples:
        warn(f"skipped {corrupt} corrupt packet{'s' if corrupt > 1 else ''}")
    return output.finish()


def _warn_if_shorter_than_announced(stream, decoded_s: float, warn: Warn) -> None:
    """A truncated FLAC or WAV ends quietly; its header still tells how long it was meant to be."""
    if not (stream.codec_context.name == "flac" or stream.codec_context.name.startswith("pcm_")):
        return  # other headers estimate duration (from a bitrate, say) and would cry wolf
    if not stream.duration or not stream.time_base:
        return
    announced_s = float(stream.duration * stream.time_base)
    if announced_s - decoded_s > max(_TRUNCATION_SLACK_S, 0.05 * announced_s):
        warn(f"truncated: decoded {decoded_s:.1f} s of the {announced_s:.1f} s its header announces")


class _Resampled:
    """Frames in, int16 arrays of shape (channels, n) out; a new resampler whenever the frame format changes."""

    def __init__(self, layout: str):
        self._layout = layout
        self._chunks: list[np.ndarray] = []
        self._key: Optional[tuple] = None
        self._fifo = None
        self._resampler = None

    @property
    def seconds(self) -> float:
        """Seconds of audio taken in so far."""
        resampled = sum(chunk.shape[1] for chunk in self._chunks) / SAMPLE_RATE
        pending = self._fifo.samples / self._key[3] if self._fifo is not None else 0.0
        return resampled + pending

    @property
    def has_samples(self) -> bool:
        return bool(self._chunks) or (self._fifo is not None and self._fifo.samples > 0)

    def add(self, frame) -> None:
        import av

        if frame.samples == 0:
            return
        if not MIN_SOURCE_RATE_HZ <= frame.sample_rate <= MAX_SOURCE_RATE_HZ:
            raise ValueError(f"implausible sample rate {frame.sample_rate} Hz")
        key = (frame.format.name, frame.layout.name, len(frame.layout.channels), frame.sample_rate)
        if key != self._key:
            # PyAV's fifo and resampler take one format only; a stream that changes rate or layout mid-way
            # (radio recordings, concatenated files) gets a fresh pair.
            self._flush()
            self._key = key
            self._fifo = av.AudioFifo()
            # s16, as faster-whisper does: FFmpeg's float downmix keeps stereo sums above 1.0, and matching
            # the engine's own decoder keeps our transcripts identical to a plain faster-whisper run.
            self._resampler = av.AudioResampler(format="s16", layout=self._layout, rate=SAMPLE_RATE)
        frame.pts = None  # PyAV's fifo rejects gaps in timestamps; we only need samples
        self._fifo.write(frame)
        if self._fifo.samples >= _DECODE_CHUNK_SAMPLES:
            self._resample(self._fifo.read())

    def finish(self) -> list[np.ndarray]:
        self._flush()
        return self._chunks

    def _flush(self) -> None:
        if self._fifo is None:
            return
        if self._fifo.samples:
            self._resample(self._fifo.read())
        self._resample(None)
        self._fifo = self._resampler = None

    def _resample(self, frame) -> None:
        # Packed stereo comes back as shape (1, 2n) interleaved; reshape to (channels, n).
        for out in self._resampler.resample(frame):
            array = out.to_ndarray()
            channels = len(out.layout.channels)
            self._chunks.append(array.reshape(-1, channels).T if channels > 1 else array.reshape(1, -1))


def _to_float(chunks: list[np.ndarray], split_stereo: bool):
    """int16 chunks -> float32 in [-1, 1), holding at most the int16 copy and the float32 result at once."""
    samples = np.concatenate(chunks, axis=1) if len(chunks) > 1 else chunks[0]
    chunks.clear()
    result = samples.astype(np.float32)
    del samples
    result *= 1 / 32768.0
    if split_stereo:
        return np.ascontiguousarray(result[0]), np.ascontiguousarray(result[1])
    return result[0]


def decode_chunks(stream, raw: Optional["RawFormat"] = None, *, name: str = "<stream>", warn: Optional[Warn] = None):
    """A pipe (a file descriptor or a binary file with one) -> float32 16 kHz mono blocks as its bytes arrive.

    Raw PCM with `raw`, else any container FFmpeg demuxes without seeking; never waits for EOF (audio_stream.py).
    """
    from .audio_stream import PipeReader, decode_chunks as stream_chunks

    fd = stream if isinstance(stream, int) else stream.fileno()
    return stream_chunks(PipeReader(fd, name), raw, warn)

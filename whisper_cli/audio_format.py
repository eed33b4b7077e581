"""What every audio path shares: Whisper's sample rate, the source rates that make sense, FFmpeg's errors in words.

Both the whole-file decoder (audio.py) and the stream decoder (audio_stream.py) import it, so neither imports the other.
"""

from __future__ import annotations

SAMPLE_RATE = 16000  # Hz; what Whisper's feature extractor expects
MIN_SOURCE_RATE_HZ = 1000
MAX_SOURCE_RATE_HZ = 768_000  # the highest PCM rate in real use


def ffmpeg_cause(error) -> str:
    import av

    if isinstance(error, av.error.InvalidDataError):
        return "not a recognised audio or video file, or a damaged one (invalid data)"
    if isinstance(error, av.error.EOFError):
        return "the file ends before any audio (truncated, or not an audio file)"
    if isinstance(error, av.error.DecoderNotFoundError):
        return "no decoder for this audio codec in FFmpeg"
    message = getattr(error, "strerror", None) or str(error)
    if isinstance(error, (PermissionError, FileNotFoundError, IsADirectoryError)):
        return message[:1].lower() + message[1:]  # the file changed since it was checked: say so plainly
    # The file was readable a moment ago, so FFmpeg's "Input/output error" and the like are its demuxer
    # giving up on a damaged or cut-off container far more often than a failing disk.
    return f"cannot decode audio: damaged, truncated or unsupported file (FFmpeg: {message})"

"""One uploaded file -> Transcript, on a decoding thread. The server's per-file path."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from ..audio import load_audio
from ..errors import InputError
from ..options import DecodeOptions
from ..transcript import Segment, Transcript, TranscriptInfo
from .errors import BadRequest, Cancelled

OnStart = Callable[[TranscriptInfo], None]
OnSegment = Callable[[Segment], None]


def decode_upload(path: Path, filename: str) -> np.ndarray:
    """The upload's 16 kHz samples; raises BadRequest (param "file") for audio that cannot be decoded."""
    try:
        return load_audio(path)
    except InputError as error:
        raise _undecodable(error, path, filename) from None


def transcribe_upload(
    whisper,
    path: Union[Path, np.ndarray],
    options: DecodeOptions,
    *,
    filename: str,
    cancelled: threading.Event,
    on_start: Optional[OnStart] = None,
    on_segment: Optional[OnSegment] = None,
) -> Transcript:
    """Decode and transcribe the file at `path` (or its decoded samples); stop at the next segment once `cancelled` is set.

    Raises BadRequest (param "file") for audio that cannot be decoded, UsageError for options the model
    cannot honour, Cancelled when told to stop. `on_start` hears the language and duration before the
    first segment, `on_segment` each segment as it is decoded.
    """
    if cancelled.is_set():
        raise Cancelled("cancelled before it started")
    try:
        stream = whisper(path, options, source=filename)
    except InputError as error:
        raise _undecodable(error, path, filename) from None
    if on_start is not None:
        on_start(stream.info)
    segments = []
    for segment in stream.segments:
        if cancelled.is_set():
            at_s = segments[-1].end if segments else 0.0
            raise Cancelled(f"cancelled after {len(segments)} segments ({at_s:.1f} s)", len(segments), at_s)
        segments.append(segment)
        if on_segment is not None:
            on_segment(segment)
    return Transcript(stream.info, tuple(segments))


def _undecodable(error: InputError, path, filename: str) -> BadRequest:
    cause = error.cause.replace(str(path), filename) if isinstance(path, Path) else error.cause
    return BadRequest(f"file: {cause}", param="file")

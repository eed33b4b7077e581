"""One uploaded file -> Transcript, on a decoding thread. The server's per-file path."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Optional

from ..errors import InputError
from ..options import DecodeOptions
from ..transcript import Segment, Transcript, TranscriptInfo
from .errors import BadRequest, Cancelled

OnStart = Callable[[TranscriptInfo], None]
OnSegment = Callable[[Segment], None]


def transcribe_upload(
    whisper,
    path: Path,
    options: DecodeOptions,
    *,
    filename: str,
    cancelled: threading.Event,
    on_start: Optional[OnStart] = None,
    on_segment: Optional[OnSegment] = None,
) -> Transcript:
    """Decode and transcribe the file at `path`; stop at the next segment once `cancelled` is set.

    Raises BadRequest (param "file") for audio that cannot be decoded, UsageError for options the model
    cannot honour, Cancelled when told to stop. `on_start` hears the language and duration before the
    first segment, `on_segment` each segment as it is decoded.
    """
    if cancelled.is_set():
        raise Cancelled("cancelled before it started")
    try:
        stream = whisper(path, options, source=filename)
    except InputError as error:
        cause = error.cause.replace(str(path), filename)
        raise BadRequest(f"file: {cause}", param="file") from None
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

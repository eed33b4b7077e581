"""Text and numbers made safe to write: valid UTF-8, one line, escaped for VTT; times as clocks or JSON numbers."""

from __future__ import annotations

import math
import re
from typing import Optional

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0/C1 control characters that are not whitespace; whitespace ones (\t \n \r \x1c-\x1f \x85 ...) are
# folded into spaces instead, so that words they separate stay apart.
_CONTROLS = {
    code: None
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))
    if not chr(code).isspace()
}


def valid_unicode(text: str) -> str:
    """Text that encodes to UTF-8: a lone surrogate becomes U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def one_line(text: str) -> str:
    """Text on one line: control characters go, every run of whitespace (line breaks too) is one space."""
    return " ".join(valid_unicode(text).translate(_CONTROLS).split())


def speaker_label(speaker: Optional[str]) -> str:
    """The speaker label cleaned for a one-line prefix; "" when there is none."""
    return "" if speaker is None else one_line(speaker)


def vtt_escape(text: str) -> str:
    # Escaping ">" also keeps "-->" out of cue text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def milliseconds(seconds: float) -> int:
    """Seconds rounded to whole milliseconds first (so 59.9999 s is 01:00.000), never below 0."""
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return round(seconds * 1000)


def span_ms(start: float, end: float) -> tuple[int, int]:
    """A cue's (start, end) in milliseconds; an end before the start is clamped to the start."""
    start_ms = milliseconds(start)
    return start_ms, max(milliseconds(end), start_ms)


def clock(ms: int, decimal_marker: str) -> str:
    """HH:MM:SS<marker>mmm; hours are at least two digits and may be more."""
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_marker}{ms:03d}"


def json_time(seconds: float) -> Optional[float]:
    """A time for JSON: 3 decimals (millisecond precision); None where it is not a finite number."""
    if not math.isfinite(seconds):
        return None
    return round(seconds, 3) + 0.0  # + 0.0 turns -0.0 into 0.0


def json_number(value: Optional[float]) -> Optional[float]:
    """A score for JSON as it is, but None for NaN and infinities, which JSON cannot hold."""
    if value is None or not math.isfinite(value):
        return None
    return value

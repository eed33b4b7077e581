"""The server's lines on stderr: plain lines as the CLI writes them, or one JSON event a line (--log-format jsonl)."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from typing import Any, Optional, TextIO

from ..console import printable as _printable
from ..progress import LogFormat


class ServerLog:
    """Thread-safe: access lines come from the event loop, model loads from decoding threads."""

    def __init__(self, log_format: LogFormat = LogFormat.text, quiet: bool = False, stream: Optional[TextIO] = None):
        self.jsonl = log_format == LogFormat.jsonl
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def event(self, event: str, message: str, **fields: Any) -> None:
        """One thing that happened; `message` is its plain-text line, `fields` its JSON event."""
        if self.quiet and event not in ("error", "listening"):
            return
        if self.jsonl:
            record = {"event": event, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
            line = json.dumps(record, default=str)
        else:
            line = _printable(message)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def request(self, method: str, path: str, status: int, wall_s: float, **fields: Any) -> None:
        details = [f"{key}={value}" for key, value in fields.items() if value is not None]
        self.event(
            "request",
            " ".join([method, path, str(status), f"{wall_s:.2f}s", *details]),
            method=method,
            path=path,
            status=status,
            wall_s=round(wall_s, 3),
            **fields,
        )

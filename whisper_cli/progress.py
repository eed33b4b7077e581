"""What a batch tells the person or script watching it, on stderr: progress, per-file events, the summary.

Two views with one interface, driven by batch.run:
  TextView   for people: a Rich progress bar (files done, audio seconds, time left) and the current file's bar,
             only when stderr is a terminal and not --quiet; a line per failed file always; a summary at
             the end (a table on a terminal, plain lines otherwise; none with --quiet).
  JsonlView  for scripts (--log-format jsonl): one JSON object per line per event, whatever --quiet says:
             started, skipped, done, failed, interrupted, then summary. Times are in seconds (`*_s`).
Rich is imported only when a bar or table is drawn.
"""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional

from .console import Reporter, is_terminal
from .time_left import TimeLeft, clock

if TYPE_CHECKING:
    from .outcome import Outcome, RunResult

_NAME_WIDTH = 40  # characters of a file name shown beside its progress bar


class LogFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


def make_view(reporter: Reporter, log_format: LogFormat, *, batch: bool):
    if log_format == LogFormat.jsonl:
        return JsonlView(reporter)
    return TextView(reporter, batch=batch)


class TextView:
    """Bars and lines for a person; `batch=False` (one file to stdout) shows only the file's bar."""

    def __init__(self, reporter: Reporter, *, batch: bool):
        self.reporter = reporter
        self.batch = batch
        self._progress = None
        self._batch_task = None
        self._file_task = None
        self._file_total_s = 0.0
        self._audio_done_s = 0.0
        self._finished = 0  # files done or failed, of the `todo` that were not skipped
        self._todo = 0
        self._time_left = TimeLeft(0)

    # --- the run ---

    def begin(self, total: int, todo: int, todo_bytes: int = 0) -> None:
        self._todo = todo
        self._time_left = TimeLeft(todo_bytes)
        if not self.reporter.chatty:
            return
        from rich.progress import BarColumn, Progress, TextColumn

        # Time left is ours (TimeLeft), not Rich's: Rich's estimate needs steady updates of one task, and the
        # batch bar moves once a file, all at once for packed clips, so it showed -:--:-- for the whole run.
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TextColumn("{task.fields[left]}"),
            console=self.reporter.rich_console(),
            transient=True,
            # Rich would send stdout to the bars' terminal (stderr): `transcribe x > out.txt` wrote nothing.
            # Only when stdout is that screen too are its lines shown above the bars.
            redirect_stdout=is_terminal(sys.stdout),
        )
        if self.batch and todo:
            self._batch_task = self._progress.add_task("batch", total=todo, detail=self._batch_detail(), left=clock(None))
        self._progress.start()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    @contextmanager
    def paused(self):
        """Takes the bars off the screen meanwhile, for output that is not ours (a model download)."""
        if self._progress is None:
            yield
            return
        self._progress.stop()
        try:
            yield
        finally:
            self._progress.start()

    # --- per file ---

    def started(self, outcome: "Outcome", index: int, total: int) -> None:
        pass

    def transcribing(self, outcome: "Outcome", duration_s: float) -> None:
        self._time_left.begin_file(outcome.size, duration_s)
        if self._progress is None:
            return
        if self._file_task is not None:
            self._progress.remove_task(self._file_task)
        self._file_total_s = duration_s
        self._file_task = self._progress.add_task(
            _shorten(outcome.source), total=max(duration_s, 0.001), detail=f"0/{duration_s:.0f} s",
            left=clock(self._time_left.file_seconds_left()),
        )
        self._show_time_left()

    def language(self, outcome: "Outcome", language: Optional[str], probability: Optional[float]) -> None:
        if probability is not None:
            self._info(f"{outcome.source}: language {language} ({probability:.0%})")

    def note(self, outcome: "Outcome", message: str) -> None:
        """Something the engine noticed in this file; a warning, so --quiet hides it."""
        if self.reporter.quiet:
            return
        if self._progress is None:
            self.reporter.warn(f"{outcome.source}: {message}")
        else:
            self._above_bars(f"warning: {outcome.source}: {message}", "yellow")

    def advance(self, seconds: float) -> None:
        self._time_left.advance(seconds)
        if self._progress is not None and self._file_task is not None:
            detail = f"{seconds:.0f}/{self._file_total_s:.0f} s"
            left = clock(self._time_left.file_seconds_left())
            self._progress.update(self._file_task, completed=seconds, detail=detail, left=left)
            self._show_time_left()

    def skipped(self, outcome: "Outcome") -> None:
        pass  # counted in the summary; a line each would bury the files that are being worked on

    def finished(self, outcome: "Outcome") -> None:
        self._finished += 1
        self._audio_done_s += outcome.audio_s
        self._time_left.end_file(outcome.size, done=outcome.status == "done")
        if outcome.status == "failed":
            self._error(f"{outcome.subject or outcome.source}: {outcome.error}")
        elif self.batch:
            self._info(f"done {outcome.source} ({_duration(outcome.audio_s)} of audio in {_duration(outcome.wall_s)})")
        if self._progress is not None:
            if self._file_task is not None:
                self._progress.remove_task(self._file_task)
                self._file_task = None
            if self._batch_task is not None:
                self._progress.update(self._batch_task, completed=self._finished, detail=self._batch_detail())
            self._show_time_left()

    def interrupted(self, outcome: Optional["Outcome"]) -> None:
        pass  # the summary says so

    # --- the end ---

    def summary(self, result: "RunResult") -> None:
        self.close()
        if not self.batch or self.reporter.quiet:
            return
        if self.reporter.is_terminal:
            self._summary_table(result)
        else:
            for line in summary_lines(result):
                self.reporter.stream.write(line + "\n")
            self.reporter.stream.flush()

    def _summary_table(self, result: "RunResult") -> None:
        from rich.table import Table
        from rich.text import Text

        counts = result.counts()
        table = Table(title="interrupted" if result.interrupted else None, show_header=True, box=None, padding=(0, 2))
        table.add_column("result")
        table.add_column("files", justify="right")
        table.add_column("")
        colour = {"done": "green", "skipped": "cyan", "failed": "red", "not started": "yellow"}
        for status, count in counts.items():
            if count or status in ("done", "failed"):
                table.add_row(Text(status, style=colour.get(status, "")), str(count), "")
        for outcome in result.failures():
            table.add_row("", "", Text(f"{outcome.source}: {failure(outcome)}", style="red"))
        console = self.reporter.rich_console()
        console.print(table)
        console.print(Text(totals_line(result)))

    # --- lines ---

    def _info(self, message: str) -> None:
        if not self.reporter.chatty:
            return
        if self._progress is None:
            self.reporter.info(message)
        else:
            self._above_bars(message, "dim")

    def _error(self, message: str) -> None:
        """Errors show whatever --quiet says."""
        if self._progress is None:
            self.reporter.error(message)
        else:
            self._above_bars(f"error: {message}", "red")

    def _above_bars(self, message: str, style: str) -> None:
        from rich.text import Text

        # Text, so that brackets in a file name are not read as Rich markup.
        self._progress.console.print(Text(" ".join(message.splitlines()), style=style))

    def _batch_detail(self) -> str:
        return f"{self._finished}/{self._todo} files, {_duration(self._audio_done_s)} of audio"

    def _show_time_left(self) -> None:
        if self._progress is not None and self._batch_task is not None:
            self._progress.update(self._batch_task, left=clock(self._time_left.seconds_left()))


class JsonlView:
    """One JSON object per line on stderr for each event; nothing else from the batch itself."""

    def __init__(self, reporter: Reporter):
        self.stream = reporter.stream
        self.batch = True

    def begin(self, total: int, todo: int, todo_bytes: int = 0) -> None:
        pass

    def close(self) -> None:
        pass

    @contextmanager
    def paused(self):
        yield

    def started(self, outcome: "Outcome", index: int, total: int) -> None:
        self._emit("started", source=outcome.source, index=index, total=total, reason=outcome.reason)

    def transcribing(self, outcome: "Outcome", duration_s: float) -> None:
        pass

    def language(self, outcome: "Outcome", language: Optional[str], probability: Optional[float]) -> None:
        pass  # in the done event

    def note(self, outcome: "Outcome", message: str) -> None:
        pass  # in the done event

    def advance(self, seconds: float) -> None:
        pass

    def skipped(self, outcome: "Outcome") -> None:
        self._emit("skipped", source=outcome.source, reason=outcome.reason, outputs=[str(p) for p in outcome.outputs])

    def finished(self, outcome: "Outcome") -> None:
        if outcome.status == "failed":
            where = {"file": outcome.subject} if outcome.subject else {}
            self._emit("failed", source=outcome.source, reason=outcome.error, **where, **_timings(outcome))
        else:
            self._emit(
                "done",
                source=outcome.source,
                outputs=[str(p) for p in outcome.outputs],
                language=outcome.language,
                notes=outcome.notes,
                **_timings(outcome),
            )

    def interrupted(self, outcome: Optional["Outcome"]) -> None:
        self._emit("interrupted", source=outcome.source if outcome else None)

    def summary(self, result: "RunResult") -> None:
        counts = result.counts()
        self._emit(
            "summary",
            done=counts["done"],
            skipped=counts["skipped"],
            failed=counts["failed"],
            not_started=counts["not started"],
            interrupted=result.interrupted,
            audio_s=_seconds(result.audio_s),
            wall_s=_seconds(result.wall_s),
            real_time_factor=_ratio(result.wall_s, result.audio_s),
            failures=[{"source": o.source, "reason": failure(o)} for o in result.failures()],
        )

    def _emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
        # ASCII, so a file name that is not UTF-8 (surrogate escapes) cannot break the stream.
        self.stream.write(json.dumps(record, default=str) + "\n")
        self.stream.flush()


# --- plain text ----------------------------------------------------------------------------------


def summary_lines(result: "RunResult") -> list[str]:
    """The summary as plain lines (stderr is a file or a pipe): counts, each failure, totals."""
    counts = result.counts()
    head = ", ".join(f"{count} {status}" for status, count in counts.items() if count or status in ("done", "failed"))
    lines = [f"summary{' (interrupted)' if result.interrupted else ''}: {head}"]
    lines.extend(f"failed: {o.source}: {' '.join(failure(o).splitlines())}" for o in result.failures())
    lines.append(totals_line(result))
    return lines


def failure(outcome: "Outcome") -> str:
    """Why an input failed, naming the file concerned when that is not the input (an output in the way)."""
    return f"{outcome.subject}: {outcome.error}" if outcome.subject else str(outcome.error)


def totals_line(result: "RunResult") -> str:
    factor = _ratio(result.wall_s, result.audio_s)
    speed = f", real-time factor {factor:.2f}" if factor is not None else ""
    return f"{_duration(result.audio_s)} of audio transcribed in {_duration(result.wall_s)}{speed}"


def _duration(seconds: float) -> str:
    """1.5 s, 2 min 05 s, 1 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _shorten(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else "..." + name[-(_NAME_WIDTH - 3):]


def _seconds(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else round(value, 3)


def _ratio(wall_s: float, audio_s: float) -> Optional[float]:
    """Real-time factor: processing time / audio time (0.25 = four times faster than real time)."""
    return round(wall_s / audio_s, 3) if audio_s > 0 else None


def _timings(outcome: "Outcome") -> dict[str, Optional[float]]:
    return {
        "audio_s": _seconds(outcome.audio_s),
        "decode_s": _seconds(outcome.decode_s),
        "wait_s": _seconds(outcome.wait_s),
        "transcribe_s": _seconds(outcome.transcribe_s),
        "wall_s": _seconds(outcome.wall_s),
    }


"""Where --live writes: stdout, or with -o files that grow as finals arrive.

A streaming format's file is opened once at its final path and each final is appended in one write, at
once, so `tail -f` sees it and a killed run (even by SIGKILL) leaves whole lines and whole cues: a file
that parses. `json` cannot be valid before the end, so it is written whole, atomically, when the stream
ends (EOF, Ctrl-C, SIGTERM), by output.atomic_write. Outputs are named after the source as file
mode names them: `stdin.<ext>` for `-`, the FIFO's name less its extension otherwise.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Optional, Sequence

from .audio import STDIN_NAME
from .console import Reporter
from .errors import OutputError
from .inputs import Input, output_bases
from .live import LiveUpdate
from .output import Sink, StreamSink, check_inside, atomic_write
from .transcript import Segment, Transcript, TranscriptInfo
from .writers import OutputFormat, SubtitleLayout, Writer, make_writer

EXISTS = "exists; a live run starts its files afresh (use --overwrite to replace it)"


class AppendingFileSink:
    """Text appended to a file as it comes, each piece in one write(2) with no buffer in between."""

    def __init__(self, path: Path, root: Path, overwrite: bool):
        self.path = path
        check_inside(path.parent, root)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        flags |= os.O_TRUNC if overwrite else os.O_EXCL  # never replaces a file unasked, even one made meanwhile
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: Optional[int] = os.open(path, flags, 0o666)
        except FileExistsError:
            raise OutputError(path, EXISTS) from None
        except OSError as error:
            raise OutputError(path, error.strerror or str(error)) from None

    def write(self, text: str) -> None:
        view = memoryview(text.encode("utf-8"))
        try:
            while view and self._fd is not None:
                view = view[os.write(self._fd, view):]
        except OSError as error:
            self.abort()
            raise OutputError(self.path, error.strerror or str(error)) from None

    def commit(self) -> None:
        """The end of the stream: what was written is on disk."""
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as error:
            raise OutputError(self.path, error.strerror or str(error)) from None
        finally:
            self.abort()

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class _Channel:
    """One format: its writer, and where its text goes (`json_path` for a json file, written at the end)."""

    writer: Writer
    sink: Optional[Sink]
    json_path: Optional[Path] = None
    root: Optional[Path] = None
    finals: list[Segment] = field(default_factory=list)  # kept only for json, written whole at the end


def live_output_paths(source: str, output_dir: Path, formats: Sequence[OutputFormat], layout: SubtitleLayout) -> dict[OutputFormat, Path]:
    """Each format -> its file under -o, named after the source as file mode names it."""
    item = Input(source, PurePath("stdin" if source == STDIN_NAME else Path(source).name))
    base = output_bases([item], output_dir)[item]
    return {fmt: base.with_name(f"{base.name}.{make_writer(fmt, layout).extension}") for fmt in formats}


def check_live_outputs(paths: dict[OutputFormat, Path], output_dir: Path, overwrite: bool) -> None:
    """Before the model loads and before any file is made: no output in the way, none leading out of -o."""
    for path in paths.values():
        check_inside(path.parent, output_dir)
        if not overwrite and os.path.lexists(path):
            raise OutputError(path, EXISTS)


class LiveOutput:
    """Finals through each format's writer, written and flushed at once; partials as JSONL with "final": false."""

    def __init__(self, channels: list[_Channel], partials: bool, info: TranscriptInfo, reporter: Reporter):
        self._channels = channels
        self._partials = partials
        self._info = info
        self._last_partial: Optional[str] = None
        # The provisional text as one live line, only for a person watching stderr on a terminal.
        self._live_line = reporter.stream if reporter.chatty else None

    @classmethod
    def open(
        cls, formats: Sequence[OutputFormat], layout: SubtitleLayout, partials: bool, info: TranscriptInfo,
        reporter: Reporter, paths: Optional[dict[OutputFormat, Path]] = None, root: Optional[Path] = None,
        overwrite: bool = False,
    ) -> "LiveOutput":
        """To stdout (one format), or to `paths` under `root`: streaming formats' files are created now."""
        channels = []
        try:
            for fmt in formats:
                writer = make_writer(fmt, layout)
                if paths is None:
                    channels.append(_Channel(writer, StreamSink()))
                elif writer.streams:
                    channels.append(_Channel(writer, AppendingFileSink(paths[fmt], root, overwrite)))
                else:
                    channels.append(_Channel(writer, None, paths[fmt], root))
        except BaseException:
            for channel in channels:
                if channel.sink is not None:
                    channel.sink.abort()
            raise
        return cls(channels, partials, info, reporter)

    def start(self) -> None:
        for channel in self._channels:
            if channel.sink is not None:
                channel.sink.write(channel.writer.start(self._info))

    def update(self, update: LiveUpdate) -> None:
        if update.finals:
            self._show_live_line("")  # cleared first: stdout may be the same terminal
        for channel in self._channels:
            jsonl = channel.writer.extension == OutputFormat.JSONL.value
            for segment in update.finals:
                if not channel.writer.streams:
                    channel.finals.append(segment)
                elif jsonl:
                    channel.sink.write(_with_final_flag(channel.writer.segment(segment), True))
                else:
                    channel.sink.write(channel.writer.segment(segment))
            if jsonl and self._partials and update.partial is not None:
                line = _with_final_flag(channel.writer.segment(update.partial), False)
                if line != self._last_partial:  # the same provisional text again says nothing new
                    channel.sink.write(line)
                    self._last_partial = line
        if update.partial is not None:
            self._show_live_line(" ".join(update.partial.text.split()))

    def _show_live_line(self, text: str) -> None:
        if self._live_line is None:
            return
        import shutil

        width = shutil.get_terminal_size().columns - 1
        shown = text if len(text) <= width else "…" + text[-(width - 1):]
        try:
            self._live_line.write(f"\r\033[K{shown}")
            self._live_line.flush()
        except OSError:
            self._live_line = None  # a terminal that went away is no reason to stop transcribing

    def finish(self, received_s: float, language: Optional[str]) -> None:
        """The stream ended: each writer's closing text, the json files written whole, the files synced."""
        self._show_live_line("")
        info = dataclasses.replace(self._info, duration=received_s, language=language or self._info.language)
        for channel in self._channels:
            text = channel.writer.finish(Transcript(info, tuple(channel.finals)))
            if channel.json_path is not None:
                atomic_write(channel.json_path, text, channel.root)
            else:
                channel.sink.write(text)
                channel.sink.commit()

    def abort(self) -> None:
        for channel in self._channels:
            if channel.sink is not None:
                channel.sink.abort()


def _with_final_flag(line: str, final: bool) -> str:
    """A JSONL writer's line (one object, then a newline) with "final" added as its last key."""
    assert line.endswith("}\n"), line
    return f'{line[:-2]},"final":{"true" if final else "false"}}}\n'

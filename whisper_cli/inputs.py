"""Command-line inputs -> an ordered list of files, and where each one's outputs go.

Arguments are taken in the order given, then the lines of --files-from. A folder is searched (recursively
unless --no-recursive) for files whose extension is in MEDIA_EXTENSIONS, skipping hidden names and not
following symbolic links to folders; its files are sorted by relative path, folder by folder. A pattern
(`*`, `?`, `[`) that names no existing file is expanded here, `**` matching any depth, its matches sorted
the same way; a pattern behaves as if the shell had expanded it, so matched files are taken whatever their
extension and matched folders are searched. An explicit file is taken whatever its extension. The same
file (by resolved path) reached twice is transcribed once, at its first place.

Output names (see output_bases): each input keeps its path relative to the argument it came from, so the
output tree mirrors the input tree and never leaves the output folder.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO, Iterable, Optional, Sequence, Union

# As audio.STDIN_NAME, which is not imported because audio imports numpy and --help reads this module.
STDIN_NAME = "-"

# What a folder search picks up; lower case, compared case-insensitively. Explicit files and pattern
# matches are taken whatever their extension.
AUDIO_EXTENSIONS = (
    "aac", "ac3", "aif", "aifc", "aiff", "amr", "ape", "au", "caf", "dts", "eac3", "flac", "m4a", "m4b",
    "mka", "mp2", "mp3", "mpga", "oga", "ogg", "opus", "ra", "spx", "tta", "voc", "w64", "wav", "wma", "wv",
)
VIDEO_EXTENSIONS = (
    "3g2", "3gp", "asf", "avi", "f4v", "flv", "m2ts", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts",
    "mxf", "ogv", "ts", "vob", "webm", "wmv",
)
MEDIA_EXTENSIONS = frozenset(AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)
_GLOB_MAGIC = frozenset("*?[")


@dataclass(frozen=True)
class Input:
    """One file to transcribe."""

    source: str  # the path to open (as typed, or joined onto the folder or pattern it was found by), or "-"
    relative: PurePath  # its path relative to the argument it came from; an explicit file's is its name

    @property
    def name(self) -> str:
        """How messages name it: the path as the user would type it."""
        return "<stdin>" if self.source == STDIN_NAME else self.source


@dataclass(frozen=True)
class Problem:
    """An argument that yields no file to try: a pattern that matches nothing, an empty or unreadable folder."""

    name: str
    cause: str


@dataclass
class Discovery:
    entries: list[Union[Input, Problem]]  # in processing order


def help_text() -> str:
    """The --help paragraphs on what is searched, in which order, and where outputs go."""
    extensions = " ".join(sorted(MEDIA_EXTENSIONS))
    return (
        f"Folders are searched, sub-folders too unless --no-recursive, for files ending in: {extensions} "
        "(any case; hidden names skipped; links to folders not followed). A file named on the command line or in "
        "--files-from, or matched by a quoted pattern ('calls/**/*.m4a'), is taken whatever its extension."
        "\n\n"
        "Order: arguments as given, then the --files-from lines; a folder's or a pattern's files sorted by path, "
        "folder by folder. A file reached twice is transcribed once."
        "\n\n"
        "With -o OUT, outputs mirror the input tree: rec/a/x.wav found in the folder rec gives OUT/a/x.srt, a "
        "file given by name gives OUT/x.srt. Names that would clash keep more of their path (a/x.wav and "
        "b/x.wav give OUT/a/x.srt and OUT/b/x.srt), then their extension (x.wav.srt, x.mp3.srt). Without -o, one "
        "file streams to stdout and a batch is written next to each input."
    )


def is_pattern(argument: str) -> bool:
    """A glob pattern for us to expand: it has glob characters and is not itself an existing path."""
    return any(char in _GLOB_MAGIC for char in argument) and not os.path.lexists(argument)


def is_single_file(arguments: Sequence[str], files_from: Optional[str]) -> bool:
    """One file argument (or -), no folder, pattern or list: the core tool, not a batch.

    It streams to stdout without -o, and is transcribed every time (no resume record, no summary).
    """
    if files_from is not None or len(arguments) != 1:
        return False
    argument = arguments[0]
    return argument == STDIN_NAME or not (is_pattern(argument) or os.path.isdir(argument))


def read_list(list_source: str, stdin: Optional[BinaryIO] = None) -> list[str]:
    """The paths in a --files-from list: one per line (or NUL-separated, as `find -print0` writes).

    Blank lines are skipped; nothing else is stripped, so names may hold spaces. "-" reads stdin.
    """
    if list_source == STDIN_NAME:
        data = (stdin or sys.stdin.buffer).read()
    else:
        with open(list_source, "rb") as handle:
            data = handle.read()
    chunks = data.split(b"\0") if b"\0" in data else data.splitlines()
    return [os.fsdecode(chunk) for chunk in chunks if chunk.strip()]


def discover(arguments: Iterable[str], recursive: bool = True, listed: Iterable[str] = ()) -> Discovery:
    """Every argument, then every `listed` path (--files-from) -> the files they name, in a stable order, each
    resolved path once. Listed paths are literal: never a pattern, and "-" is a file of that name, not stdin."""
    discovery = Discovery([])
    seen: set[str] = set()

    def add(source: str, relative: PurePath) -> None:
        key = source if source == STDIN_NAME else os.path.normcase(os.path.realpath(source))
        if key not in seen:
            seen.add(key)
            discovery.entries.append(Input(source, relative))

    for argument in arguments:
        if argument == STDIN_NAME:
            add(STDIN_NAME, PurePath("stdin"))
        elif is_pattern(argument):
            _expand_pattern(argument, recursive, discovery, add)
        elif os.path.isdir(argument):
            _search_folder(argument, argument, recursive, discovery, add)
        else:
            _add_file(argument, add)
    for path in listed:
        if os.path.isdir(path):
            _search_folder(path, path, recursive, discovery, add)
        else:
            _add_file(os.path.join(os.curdir, path) if path == STDIN_NAME else path, add)
    return discovery


def _add_file(path: str, add) -> None:
    # Taken whatever its extension, and even if missing: the load then says what is wrong.
    add(path, PurePath(os.path.basename(os.path.normpath(path)) or path))


def _expand_pattern(pattern: str, recursive: bool, discovery: Discovery, add) -> None:
    base = _pattern_base(pattern)
    matches = glob.glob(pattern, recursive=True)
    if not matches:
        discovery.entries.append(Problem(pattern, "no file matches this pattern"))
        return
    for match in sorted(matches, key=lambda path: _sort_key(_relative_to(path, base))):
        if os.path.isdir(match):
            _search_folder(match, base, recursive, discovery, add)
        else:
            add(match, _relative_to(match, base))


def _pattern_base(pattern: str) -> str:
    """The leading folders of a pattern that hold no glob character: where its matches are mirrored from."""
    head = []
    for part in Path(pattern).parts[:-1]:
        if any(char in _GLOB_MAGIC for char in part):
            break
        head.append(part)
    return os.path.join(*head) if head else os.curdir


def _search_folder(folder: str, base: str, recursive: bool, discovery: Discovery, add) -> None:
    """Media files under `folder`, sorted by their path relative to `base`."""
    found: list[str] = []
    unreadable: list[Problem] = []

    def on_error(error: OSError) -> None:
        unreadable.append(Problem(error.filename or folder, f"cannot read folder: {error.strerror or error}"))

    for directory, subdirectories, files in os.walk(folder, onerror=on_error):
        # Hidden folders (.git, .whisper-cli records) and hidden files (macOS "._x.m4a") are never media.
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")] if recursive else []
        found.extend(
            os.path.join(directory, name)
            for name in files
            if not name.startswith(".") and _extension(name) in MEDIA_EXTENSIONS
        )
    discovery.entries.extend(unreadable)
    if not found and not unreadable:
        # An argument that names nothing to transcribe is a failure, as a missing file is: a script
        # pointed at an empty or unmounted folder should not exit 0.
        where = "in this folder or its sub-folders" if recursive else "in this folder (--no-recursive)"
        discovery.entries.append(Problem(folder, f"no audio or video files {where}"))
    for path in sorted(found, key=lambda path: _sort_key(_relative_to(path, base))):
        add(path, _relative_to(path, base))


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _relative_to(path: str, base: str) -> PurePath:
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    if relative == os.curdir or relative.split(os.sep)[0] == os.pardir:
        return PurePath(os.path.basename(os.path.normpath(path)))  # a symlink trick or "..": keep the name
    return PurePath(relative)


def _sort_key(relative: PurePath) -> tuple[str, ...]:
    # Folder by folder, so "a/x" sorts with "a/y" rather than after "a-b/x".
    return relative.parts


# --- output names -------------------------------------------------------------------------------


def output_bases(inputs: Sequence[Input], output_dir: Optional[Path]) -> dict[Input, Path]:
    """Each input -> its output path less the format extension (`OUT/a/x` for `x.srt`, `x.json` ...).

    With -o, an input's relative path (from the argument it came from) is mirrored under OUT, less its
    extension. Without -o, outputs go next to their input. Inputs that would share an output name (also
    case-insensitively) all move up a level, until every name is unique:
      1. (-o only) their path relative to the deepest folder that holds every input;
      2. that path with the input's extension kept (`x.wav` -> `x.wav.srt`, `x.mp3` -> `x.mp3.srt`).
    The result always lies inside OUT.
    """
    if not inputs:
        return {}
    anchor = _common_folder(inputs) if output_dir is not None else None
    candidates = {item: _candidates(item, output_dir, anchor) for item in inputs}
    level = {item: 0 for item in inputs}
    while True:
        by_name: dict[str, list[Input]] = {}
        for item in inputs:
            by_name.setdefault(_collision_key(candidates[item][level[item]]), []).append(item)
        clashing = [item for group in by_name.values() if len(group) > 1 for item in group]
        movable = [item for item in clashing if level[item] < 2]
        if not movable:
            break  # level 2 names are unique for distinct files, so no clash is left
        for item in movable:
            level[item] += 1
    bases = {item: candidates[item][level[item]] for item in inputs}
    if output_dir is not None:
        for item, base in bases.items():
            _check_inside(base, output_dir, item)
    return bases


def _candidates(item: Input, output_dir: Optional[Path], anchor: Optional[str]) -> tuple[Path, Path, Path]:
    if item.source == STDIN_NAME:
        folder = output_dir if output_dir is not None else Path(os.curdir)
        return (folder / "stdin",) * 3
    if output_dir is None:
        source = Path(item.source)
        return source.parent / _stem(source.name), source.parent / _stem(source.name), source
    assert anchor is not None
    full = _relative_to(item.source, anchor)
    return (
        output_dir / _safe(item.relative.parent) / _stem(item.relative.name),
        output_dir / _safe(full.parent) / _stem(full.name),
        output_dir / _safe(full),
    )


def _stem(name: str) -> str:
    """The name less its extension; the whole name where that would leave "", "." or ".." ("..flac")."""
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem.strip(".") else name


def _safe(relative: PurePath) -> PurePath:
    """Only plain names: no root, no "..", so that joining onto OUT stays inside OUT."""
    return PurePath(*[part for part in relative.parts if part not in (os.curdir, os.pardir) and not PurePath(part).anchor])


def _common_folder(inputs: Sequence[Input]) -> str:
    folders = [os.path.dirname(os.path.abspath(item.source)) for item in inputs if item.source != STDIN_NAME]
    return os.path.commonpath(folders) if folders else os.path.abspath(os.curdir)


def _collision_key(path: Path) -> str:
    # casefold: x.srt and X.srt are one file on macOS and Windows file systems.
    return os.path.normpath(os.path.abspath(path)).casefold()


def _check_inside(base: Path, output_dir: Path, item: Input) -> None:
    root = os.path.normpath(os.path.abspath(output_dir))
    target = os.path.normpath(os.path.abspath(base))
    if os.path.commonpath([root, target]) != root or target == root:
        raise AssertionError(f"output for {item.name} would leave {output_dir}: {base}")

"""Checks shared by the batch tests: its jsonl events, its output files, and whether they are whole."""

from __future__ import annotations

import json
from pathlib import Path

from whisper_cli.output import TEMP_SUFFIX


def events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def sources(stderr: str, kind: str) -> list[str]:
    return [event["source"] for event in events(stderr) if event["event"] == kind]


def relative_sources(stderr: str, kind: str, root: Path) -> list[str]:
    return [Path(source).relative_to(root).as_posix() for source in sources(stderr, kind)]


def output_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".whisper-cli" not in p.parts)


def temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(f"*{TEMP_SUFFIX}"))


def assert_complete(out: Path) -> None:
    """Every output parses whole: srt cues end cleanly, json documents close, txt ends its last line."""
    import srt as srt_parser

    for path in out.rglob("*.srt"):
        cues = list(srt_parser.parse(path.read_text()))
        assert cues and all(cue.content.strip() for cue in cues), path
    for path in out.rglob("*.json"):
        if ".whisper-cli" not in path.parts:
            document = json.loads(path.read_text())
            assert document["segments"] and document["text"], path
    for path in out.rglob("*.txt"):
        assert path.read_text().endswith("\n"), path

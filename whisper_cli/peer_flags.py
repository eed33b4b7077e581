"""The peers' underscore spellings (openai-whisper, whisper-ctranslate2), accepted where they mean the same.

People switching tools bring their scripts, so `--beam_size 2`, `--vad_filter True` and `--output_dir out`
work here, rewritten into whisper-cli's own flags before click parses the command line. They are not
options of the command, so --help does not show them and costs nothing more. A peer flag whose meaning
differs here is refused with one line saying what to use instead, never mapped silently.

Taken from openai-whisper's `cli()` (release 20250625) and whisper-ctranslate2's commandline.py (0.5.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from .errors import UsageError
from .help_format import GroupedHelpCommand

OW, WCT2, BOTH = "openai-whisper", "whisper-ctranslate2", "openai-whisper, whisper-ctranslate2"
BATCHED_DEFAULT_SIZE = "8"  # what whisper-ctranslate2's --batched True gets: BatchedInferencePipeline's default


@dataclass(frozen=True)
class PeerFlag:
    """A peer's flag and what it becomes: `ours` followed by its value, or, for a True/False flag (`on`
    set), `on` for True and `off` for False (None: False is the default, so nothing is added)."""

    ours: str
    peers: str
    on: Optional[str] = None
    off: Optional[str] = None
    none_as: Optional[str] = None  # the value a peer's "None" becomes; "" drops the flag (our default)

    def expand(self, flag: str, value: str) -> list[str]:
        if self.on is not None:
            chosen = _bool(flag, value, self.peers)
            added = self.on if chosen else self.off
            return added.split() if added else []
        if value == "None" and self.none_as is not None:
            return [self.ours, self.none_as] if self.none_as else []
        return [self.ours, value]


PEER_FLAGS: dict[str, PeerFlag] = {
    "--model_directory": PeerFlag("--model", WCT2),
    "--output_dir": PeerFlag("--output-dir", BOTH),
    "--output_format": PeerFlag("--format", BOTH),
    "--compute_type": PeerFlag("--compute-type", WCT2),
    "--threads": PeerFlag("--cpu-threads", BOTH),
    "--local_files_only": PeerFlag("--offline", WCT2, on="--offline"),
    "--best_of": PeerFlag("--best-of", BOTH, none_as="1"),
    "--beam_size": PeerFlag("--beam-size", BOTH, none_as="1"),  # None: greedy, which is a beam of 1
    "--length_penalty": PeerFlag("--length-penalty", BOTH),
    "--repetition_penalty": PeerFlag("--repetition-penalty", WCT2),
    "--no_repeat_ngram_size": PeerFlag("--no-repeat-ngram-size", WCT2),
    "--initial_prompt": PeerFlag("--initial-prompt", BOTH),
    "--carry_initial_prompt": PeerFlag("--carry-initial-prompt", OW, on="--carry-initial-prompt"),
    "--suppress_tokens": PeerFlag("--suppress-tokens", BOTH),
    "--suppress_blank": PeerFlag("--suppress-blank", WCT2, on="--suppress-blank", off="--no-suppress-blank"),
    "--clip_timestamps": PeerFlag("--clip-timestamps", OW),
    "--temperature_increment_on_fallback": PeerFlag("--temperature-increment-on-fallback", BOTH, none_as="0"),
    "--compression_ratio_threshold": PeerFlag("--compression-ratio-threshold", BOTH),
    "--logprob_threshold": PeerFlag("--log-prob-threshold", BOTH),
    "--no_speech_threshold": PeerFlag("--no-speech-threshold", BOTH),
    "--condition_on_previous_text": PeerFlag(
        "--condition-on-previous-text", BOTH, on="--condition-on-previous-text", off="--no-condition-on-previous-text"
    ),
    "--prompt_reset_on_temperature": PeerFlag("--prompt-reset-on-temperature", WCT2),
    "--hallucination_silence_threshold": PeerFlag("--hallucination-silence-threshold", BOTH),
    "--word_timestamps": PeerFlag("--word-timestamps", BOTH, on="--word-timestamps"),
    "--prepend_punctuations": PeerFlag("--prepend-punctuations", BOTH),
    "--append_punctuations": PeerFlag("--append-punctuations", BOTH),
    "--highlight_words": PeerFlag("--highlight-words", BOTH, on="--highlight-words"),
    "--max_line_width": PeerFlag("--max-line-width", BOTH, none_as=""),
    "--max_line_count": PeerFlag("--max-line-count", BOTH, none_as=""),
    "--max_words_per_line": PeerFlag("--max-words-per-line", BOTH, none_as=""),
    "--vad_filter": PeerFlag("--vad", WCT2, on="--vad", off="--no-vad"),
    "--vad_threshold": PeerFlag("--vad-threshold", WCT2),
    "--vad_min_speech_duration_ms": PeerFlag("--min-speech-ms", WCT2),
    "--vad_max_speech_duration_s": PeerFlag("--max-speech-s", WCT2),
    "--vad_min_silence_duration_ms": PeerFlag("--min-silence-ms", WCT2),
    "--batched": PeerFlag("--batch-size", WCT2, on=f"--batch-size {BATCHED_DEFAULT_SIZE}"),
    "--batch_size": PeerFlag("--batch-size", WCT2),  # only with --batched True, as there
}

# Peer flags that mean something else here, or that whisper-cli does not have: what to use instead.
REFUSED: dict[str, tuple[str, str]] = {
    "--model_dir": (BOTH, "the peers' download folder; whisper-cli downloads into the Hugging Face cache (set HF_HOME), "
                    "and --model DIR loads a model folder"),
    "--verbose": (BOTH, "the peers print segments with it; whisper-cli writes the transcript to stdout without -o, "
                  "and --quiet silences stderr"),
    "--fp16": (OW, "use --compute-type float16 or float32"),
    "--device_index": (WCT2, "use --device cuda --device-index 0,1,... (one worker per GPU listed)"),
    "--pretty_json": (WCT2, "not needed: whisper-cli's JSON is always indented"),
    "--print_colors": (WCT2, "not supported"),
    "--hf_token": (WCT2, "--diarize labels speakers offline, with no token"),
    "--speaker_name": (WCT2, "--diarize names speakers S1, S2 ...; --speaker-names Alice,Bob names them"),
    "--speaker_num": (WCT2, "use --diarize --num-speakers N"),
    **dict.fromkeys(
        ("--live_transcribe", "--live_volume_threshold", "--live_input_device", "--live_input_device_sample_rate"),
        (WCT2, "live transcription from a microphone is not supported"),
    ),
}

# whisper-ctranslate2 spells this True/False flag as ours, with a value: `--multilingual True`.
_VALUED_FLAGS = {"--multilingual": "--multilingual"}


def translate(args: Sequence[str], value_options: set[str]) -> list[str]:
    """`args` with every peer flag rewritten into ours; `value_options` are our options that take a value
    (their next argument is a value, never a flag to rewrite). Raises UsageError for a refused flag."""
    out: list[str] = []
    batched = batch_size = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in REFUSED:
            raise UsageError(name, REFUSED[name][1])
        if name in PEER_FLAGS:
            value, i = (inline, i + 1) if eq else (_value(args, i, name), i + 2)
            if name == "--batched":
                batched = _bool(name, value, WCT2)
            elif name == "--batch_size":
                batch_size = value
            else:
                out.extend(PEER_FLAGS[name].expand(name, value))
            continue
        if name in _VALUED_FLAGS and not eq and i + 1 < len(args) and args[i + 1].lower() in ("true", "false"):
            out.extend([_VALUED_FLAGS[name]] if args[i + 1].lower() == "true" else [])
            i += 2
            continue
        out.append(arg)
        i += 1
        if i < len(args) and _takes_next(arg, eq, value_options):
            out.append(args[i])
            i += 1
    return out + _batched(batched, batch_size)


def _batched(batched: Optional[bool], batch_size: Optional[str]) -> list[str]:
    if batch_size is not None and not batched:
        raise UsageError("--batch_size", "works only with --batched True in whisper-ctranslate2; here --batch-size N alone batches")
    if not batched:
        return []
    return ["--batch-size", batch_size if batch_size not in (None, "None") else BATCHED_DEFAULT_SIZE]


def _takes_next(arg: str, eq: str, value_options: set[str]) -> bool:
    """Whether the argument after `arg` is its value: `--beam-size 2`, `-f srt`, `-qf srt`."""
    if arg.startswith("--"):
        return not eq and arg in value_options
    if not arg.startswith("-") or len(arg) < 2:
        return False
    for at, letter in enumerate(arg[1:], start=1):
        if f"-{letter}" in value_options:
            return at == len(arg) - 1  # else the rest of the argument is the value
    return False


def _value(args: Sequence[str], i: int, name: str) -> str:
    if i + 1 >= len(args):
        raise UsageError(name, "needs a value")
    return args[i + 1]


def _bool(flag: str, value: str, peers: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise UsageError(flag, f"takes True or False (as in {peers}), not {value!r}")
    return value.lower() == "true"


class PeerFlagsCommand(GroupedHelpCommand):
    """The grouped --help command, reading the peers' spellings as whisper-cli's own flags."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        value_options = {
            name
            for param in self.get_params(ctx)
            if param.param_type_name == "option" and not param.is_flag and not param.count
            for name in param.opts
        }
        return super().parse_args(ctx, translate(args, value_options))


def markdown_table() -> str:
    """README's table of peer flags: what each becomes, or why it is refused."""
    rows = ["| peer flag | from | whisper-cli |", "|---|---|---|"]
    for flag, entry in PEER_FLAGS.items():
        if entry.on is not None:
            target = f"`True`: `{entry.on}`" + (f", `False`: `{entry.off}`" if entry.off else "")
        else:
            target = f"`{entry.ours}`"
        if flag == "--batch_size":
            target += " (with `--batched True`, as there)"
        rows.append(f"| `{flag}` | {entry.peers} | {target} |")
    rows.append("| `--multilingual True` | whisper-ctranslate2 | `--multilingual` |")
    for flag, (peers, reason) in REFUSED.items():
        rows.append(f"| `{flag}` | {peers} | refused: {reason} |")
    return "\n".join(rows)

"""The decoding controls of `transcribe`, declared once: help, panel, bounds and default of each.

They are declared as the parameters of `decoding_controls` (Typer's own form), named as the DecodeOptions
and SubtitleLayout fields they set (VAD ones as vad_<VadOptions field>): `add_decoding_controls` gives
them to the command, and options.decode_options() and subtitle_layout() read them back by name. serve
converts and bounds its form fields with the click parameters made from them.
"""

import inspect
from enum import Enum
from typing import Annotated, Optional

import typer

from .options import DecodeOptions, parse_threshold

LANGUAGE_PANEL = "Language and task"
DECODE_PANEL = "Decoding"
FALLBACK_PANEL = "Fallback and quality"
WORDS_PANEL = "Word timestamps"
LAYOUT_PANEL = "Subtitle layout (srt, vtt)"
VAD_PANEL = "VAD, batching and stereo"
# Each control's default is its field's default, written once (in DecodeOptions and quality.py).
DECODE_DEFAULTS = DecodeOptions()


class Task(str, Enum):
    transcribe = "transcribe"
    translate = "translate"


def decoding_controls(
    language: Annotated[
        Optional[str],
        typer.Option(
            "--language", "-l", help="Spoken language: a code (de) or an English name (German); default detects it.",
            metavar="LANG",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = None,
    task: Annotated[
        Task, typer.Option(help="translate: English text from speech in any language (multilingual models).", rich_help_panel=LANGUAGE_PANEL)
    ] = Task.transcribe,
    language_detection_segments: Annotated[
        int,
        typer.Option(
            "--detect-language-segments", min=1, metavar="N",
            help="Detect the language over up to N 30 s windows: the first one surer than --language-threshold wins, else a vote.",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = DECODE_DEFAULTS.language_detection_segments,
    language_detection_threshold: Annotated[
        float,
        typer.Option(
            "--language-threshold", metavar="PROB", min=0.0, max=1.0, help="How sure of its language a window must be to end the detection.",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = DECODE_DEFAULTS.language_detection_threshold,
    multilingual: Annotated[
        bool,
        typer.Option(
            "--multilingual", help="Detect the language of every 30 s window (speech that switches language); "
            "each segment's language in JSON/JSONL.",
            rich_help_panel=LANGUAGE_PANEL,
        ),
    ] = False,
    beam_size: Annotated[int, typer.Option(metavar="N", min=1, help="Beam width at temperature 0.", rich_help_panel=DECODE_PANEL)] = DECODE_DEFAULTS.beam_size,
    best_of: Annotated[int, typer.Option(metavar="N", min=1, help="Candidates sampled at a temperature above 0.", rich_help_panel=DECODE_PANEL)] = DECODE_DEFAULTS.best_of,
    patience: Annotated[float, typer.Option(metavar="FACTOR", min=0.0, help="Beam search patience factor.", rich_help_panel=DECODE_PANEL)] = DECODE_DEFAULTS.patience,
    length_penalty: Annotated[float, typer.Option(metavar="FACTOR", help="Exponential length penalty of beam search.", rich_help_panel=DECODE_PANEL)] = DECODE_DEFAULTS.length_penalty,
    repetition_penalty: Annotated[
        float, typer.Option(metavar="FACTOR", min=0.0, help="Above 1 penalises tokens already generated.", rich_help_panel=DECODE_PANEL)
    ] = DECODE_DEFAULTS.repetition_penalty,
    no_repeat_ngram_size: Annotated[
        int, typer.Option(min=0, metavar="N", help="Never repeat a sequence of N tokens; 0 = off.", rich_help_panel=DECODE_PANEL)
    ] = DECODE_DEFAULTS.no_repeat_ngram_size,
    initial_prompt: Annotated[
        Optional[str], typer.Option(metavar="TEXT", help="Text that primes the first window: names, spelling, punctuation style.", rich_help_panel=DECODE_PANEL)
    ] = None,
    carry_initial_prompt: Annotated[
        bool,
        typer.Option(
            "--carry-initial-prompt", help="Prompt every window with --initial-prompt, not only the first (as openai-whisper).",
            rich_help_panel=DECODE_PANEL,
        ),
    ] = False,
    prefix: Annotated[Optional[str], typer.Option(metavar="TEXT", help="Text the transcript starts with.", rich_help_panel=DECODE_PANEL)] = None,
    hotwords: Annotated[Optional[str], typer.Option(metavar="TEXT", help="Words or phrases to favour: names, jargon.", rich_help_panel=DECODE_PANEL)] = None,
    suppress_tokens: Annotated[
        str,
        typer.Option(
            metavar="IDS", help='Token ids never to emit, comma-separated; -1 = Whisper\'s default symbols, "" = none.',
            rich_help_panel=DECODE_PANEL,
        ),
    ] = "-1",
    suppress_blank: Annotated[
        bool,
        typer.Option(
            "--suppress-blank/--no-suppress-blank", help="Never start a window's text with a blank or its end.",
            rich_help_panel=DECODE_PANEL,
        ),
    ] = True,
    clip_timestamps: Annotated[
        Optional[str],
        typer.Option(
            metavar="START,END,...", help="Decode only these spans, in seconds (30,42,60,75); a last START runs to the end.",
            rich_help_panel=DECODE_PANEL,
        ),
    ] = None,
    temperature: Annotated[
        str, typer.Option(metavar="T[,T...]", help="Sampling temperature, or a comma list to try in turn.", rich_help_panel=FALLBACK_PANEL)
    ] = "0",
    temperature_increment_on_fallback: Annotated[
        Optional[float],
        typer.Option(
            min=0.0, metavar="STEP",
            help="With one --temperature T, retry a failed window at T+STEP, T+2*STEP ... up to 1 (default 0.2; 0 = never).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = None,
    compression_ratio_threshold: Annotated[
        Optional[float],
        typer.Option(
            parser=parse_threshold, metavar="RATIO|none", help="Retry a window whose text compresses better than this (repetitive).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = DECODE_DEFAULTS.compression_ratio_threshold,
    log_prob_threshold: Annotated[
        Optional[float],
        typer.Option(
            parser=parse_threshold, metavar="LOGPROB|none", help="Retry a window whose average token log probability is lower.",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = DECODE_DEFAULTS.log_prob_threshold,
    no_speech_threshold: Annotated[
        Optional[float],
        typer.Option(
            parser=parse_threshold, metavar="PROB|none",
            help="Skip a window as silence above this no-speech probability (if its log probability is low too).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = DECODE_DEFAULTS.no_speech_threshold,
    condition_on_previous_text: Annotated[
        bool,
        typer.Option(
            "--condition-on-previous-text/--no-condition-on-previous-text",
            help="Prompt each window with the text before it; off resists repetition loops.", rich_help_panel=FALLBACK_PANEL,
        ),
    ] = True,
    prompt_reset_on_temperature: Annotated[
        float,
        typer.Option(
            metavar="T", min=0.0, max=1.0,
            help="A window that needed a temperature above T prompts the next one with no previous text.",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = DECODE_DEFAULTS.prompt_reset_on_temperature,
    hallucination_silence_threshold: Annotated[
        Optional[float],
        typer.Option(
            min=0.0, metavar="SECONDS",
            help="Skip silences longer than this around a likely hallucination (needs --word-timestamps).",
            rich_help_panel=FALLBACK_PANEL,
        ),
    ] = None,
    word_timestamps: Annotated[
        bool, typer.Option(help="Time every word: start, end and probability in JSON/JSONL.", rich_help_panel=WORDS_PANEL)
    ] = False,
    highlight_words: Annotated[
        bool, typer.Option(help="Underline each word in srt/vtt as it is spoken (needs --word-timestamps).", rich_help_panel=WORDS_PANEL)
    ] = False,
    prepend_punctuations: Annotated[
        str,
        typer.Option(metavar="CHARS", help="Punctuation joined to the word after it.", rich_help_panel=WORDS_PANEL),
    ] = DECODE_DEFAULTS.prepend_punctuations,
    append_punctuations: Annotated[
        str,
        typer.Option(metavar="CHARS", help="Punctuation joined to the word before it.", rich_help_panel=WORDS_PANEL),
    ] = DECODE_DEFAULTS.append_punctuations,
    max_line_width: Annotated[
        Optional[int], typer.Option(min=1, metavar="CHARS", help="Break lines at words within this many characters.", rich_help_panel=LAYOUT_PANEL)
    ] = None,
    max_line_count: Annotated[
        Optional[int], typer.Option(min=1, metavar="LINES", help="Lines per cue; a longer segment becomes several cues.", rich_help_panel=LAYOUT_PANEL)
    ] = None,
    max_words_per_line: Annotated[Optional[int], typer.Option(min=1, metavar="WORDS", help="Words per line.", rich_help_panel=LAYOUT_PANEL)] = None,
    vad_filter: Annotated[
        Optional[bool],
        typer.Option("--vad/--no-vad", help="Skip non-speech with Silero VAD. Default: on with --batch-size, else off.", rich_help_panel=VAD_PANEL),
    ] = None,
    speech_first: Annotated[
        bool, typer.Option("--speech-first", help="Over 30 s: VAD first, then speech windows 8 at a time with fallback.", rich_help_panel=VAD_PANEL)
    ] = DECODE_DEFAULTS.speech_first,
    vad_threshold: Annotated[
        float, typer.Option("--vad-threshold", metavar="PROB", min=0.0, max=1.0, help="Speech probability above which VAD hears speech.", rich_help_panel=VAD_PANEL)
    ] = DECODE_DEFAULTS.vad_parameters.threshold,
    vad_min_speech_duration_ms: Annotated[
        int, typer.Option("--min-speech-ms", metavar="MS", min=0, help="Drop speech chunks shorter than this (ms).", rich_help_panel=VAD_PANEL)
    ] = DECODE_DEFAULTS.vad_parameters.min_speech_duration_ms,
    vad_min_silence_duration_ms: Annotated[
        int, typer.Option("--min-silence-ms", metavar="MS", min=0, help="Silence that ends a speech chunk (ms).", rich_help_panel=VAD_PANEL)
    ] = DECODE_DEFAULTS.vad_parameters.min_silence_duration_ms,
    vad_speech_pad_ms: Annotated[
        int, typer.Option("--speech-pad-ms", metavar="MS", min=0, help="Audio kept on each side of speech (ms).", rich_help_panel=VAD_PANEL)
    ] = DECODE_DEFAULTS.vad_parameters.speech_pad_ms,
    vad_max_speech_duration_s: Annotated[
        float,
        typer.Option("--max-speech-s", metavar="SECONDS", min=0.0, help="Split speech chunks longer than this (s).", rich_help_panel=VAD_PANEL),
    ] = DECODE_DEFAULTS.vad_parameters.max_speech_duration_s,
    batch_size: Annotated[
        int,
        typer.Option(
            min=0, metavar="N", help="0 decodes sequentially; N > 0 decodes N windows of a file at once (faster on a GPU).",
            rich_help_panel=VAD_PANEL,
        ),
    ] = DECODE_DEFAULTS.batch_size,
    split_stereo: Annotated[
        bool,
        typer.Option(
            "--split-stereo", help="Transcribe the left and right channels apart, labelled L and R (calls).", rich_help_panel=VAD_PANEL
        ),
    ] = False,
    diarize: Annotated[
        bool,
        typer.Option(
            "--diarize",
            help="Label each segment and word with its speaker (S1, S2 ...), offline; needs pip install 'whisper-cli[diarize]'.",
            rich_help_panel=VAD_PANEL,
        ),
    ] = False,
    speaker_names: Annotated[
        Optional[str],
        typer.Option(
            metavar="NAME,...", help="With --diarize: names for S1, S2 ... in order of first appearance (Alice,Bob).",
            rich_help_panel=VAD_PANEL,
        ),
    ] = None,
    num_speakers: Annotated[
        Optional[int],
        typer.Option(min=1, metavar="N", help="With --diarize: exactly N speakers (fewer if one says under ~3 s).", rich_help_panel=VAD_PANEL),
    ] = None,
    min_speakers: Annotated[
        Optional[int], typer.Option(min=1, metavar="N", help="With --diarize: at least N speakers.", rich_help_panel=VAD_PANEL)
    ] = None,
    max_speakers: Annotated[
        Optional[int], typer.Option(min=1, metavar="N", help="With --diarize: at most N speakers.", rich_help_panel=VAD_PANEL)
    ] = None,
) -> None:
    """The decoding controls; the body is never run: the signature is the declaration."""


def add_decoding_controls(command, before: str):
    """Give `command` (which takes them as **decoding) the decoding controls, in its signature just before `before`.

    Typer reads both the signature (`inspect.signature(..., eval_str=True)`) and `get_type_hints`, so both
    `__signature__` and `__annotations__` are set, with the real annotation objects.
    """
    own = [p for p in inspect.signature(command).parameters.values() if p.kind is not p.VAR_KEYWORD]
    controls = list(inspect.signature(decoding_controls).parameters.values())
    at = next(i for i, p in enumerate(own) if p.name == before)
    command.__signature__ = inspect.signature(command).replace(parameters=own[:at] + controls + own[at:])
    command.__annotations__ = {
        **{name: hint for name, hint in command.__annotations__.items() if name != "return"},
        **{p.name: p.annotation for p in controls},
        "return": None,
    }
    return command

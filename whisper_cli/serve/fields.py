"""A request's form fields -> a TranscriptionJob: OpenAI's fields plus whisper-cli's decoding controls.

The decoding controls are named as the DecodeOptions and SubtitleLayout fields (VAD ones as vad_<field>),
which are the `transcribe` command's parameter names; each value is converted and bounded by that very
click parameter and then goes through options.decode_options() and check_usage(), so a request is held
to exactly the rules of the command line. Errors name the form field, never a flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields as dataclass_fields
from typing import Any, Iterable, Mapping, Sequence

from ..errors import UsageError
from ..options import DecodeOptions, check_usage, decode_options, parse_language, subtitle_layout
from ..writers import OutputFormat, SubtitleLayout
from .errors import BadRequest, ModelNotFound

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
STREAMED_FORMATS = ("json", "text")
GRANULARITIES = ("word", "segment")
GRANULARITY_FIELD = "timestamp_granularities[]"
OPENAI_FIELDS = ("model", "language", "prompt", "response_format", "temperature", GRANULARITY_FIELD, "stream")
# Decoding parameters that OpenAI's own fields (or the endpoint) already set.
SET_BY_OPENAI_FIELDS = {"language": "language", "initial_prompt": "prompt", "temperature": "temperature", "task": "model"}
_FORMAT_OF = {"srt": OutputFormat.SRT, "vtt": OutputFormat.VTT, "text": OutputFormat.TXT}
_FLAG = re.compile(r"(?<![\w-])--?[a-z][a-z-]*")


@dataclass(frozen=True)
class TranscriptionJob:
    """What one request asks for, checked as far as it can be without the model."""

    model: str
    options: DecodeOptions
    layout: SubtitleLayout
    response_format: str
    words: bool  # timestamp_granularities[] has word: verbose_json gets `words`
    stream: bool


class FormRules:
    """The extra fields a request may set, each converted by its `transcribe` click parameter."""

    def __init__(self, decode_params: Sequence[Any]):
        settable = {f.name for f in dataclass_fields(DecodeOptions)} | {f.name for f in dataclass_fields(SubtitleLayout)}
        settable.add("temperature_increment_on_fallback")
        self.params = {p.name: p for p in decode_params}
        self.extra = {
            name: param
            for name, param in self.params.items()
            if (name in settable or name.startswith("vad_")) and name not in SET_BY_OPENAI_FIELDS
        }
        self.flags = {flag: p.name for p in decode_params for flag in (*p.opts, *p.secondary_opts) if flag.startswith("-")}

    def field_of(self, name: str, given: Iterable[str] = ()) -> str:
        """The form field that sets parameter `name`."""
        if name == "output_format":
            return "response_format"
        if name == "word_timestamps" and name not in given:
            return GRANULARITY_FIELD
        return SET_BY_OPENAI_FIELDS.get(name, name)

    def bad_request(self, error: UsageError, given: Iterable[str] = ()) -> BadRequest:
        """A UsageError from the options layer, its flags spelled as the form fields that set them."""
        given = set(given)

        def field(match: re.Match) -> str:
            name = self.flags.get(match.group(0))
            return self.field_of(name, given) if name else match.group(0)

        subject = _FLAG.sub(field, error.subject)
        return BadRequest(f"{subject}: {_FLAG.sub(field, error.cause)}", param=subject)


def parse_job(
    form: Mapping[str, list[str]], rules: FormRules, models: Sequence[str], *, task: str
) -> TranscriptionJob:
    """The job a request's text fields describe; raises BadRequest or ModelNotFound naming the field."""
    unknown = [name for name in form if name not in OPENAI_FIELDS and name not in rules.extra]
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown field", param=unknown[0])
    for name, values in form.items():
        if len(values) > 1 and name != GRANULARITY_FIELD:
            raise BadRequest(f"{name}: given {len(values)} times", param=name)
    text = {name: values[0] for name, values in form.items()}
    model = text.get("model") or models[0]
    if model not in models:
        raise ModelNotFound(f"model {model!r} is not served here (available: {', '.join(models)})", param="model")
    response_format = _choice(text.get("response_format") or "json", RESPONSE_FORMATS, "response_format")
    granularities = {_choice(value, GRANULARITIES, GRANULARITY_FIELD) for value in form.get(GRANULARITY_FIELD, ())}
    if "word" in granularities and response_format != "verbose_json":
        raise BadRequest(f"{GRANULARITY_FIELD}: word needs response_format verbose_json", param=GRANULARITY_FIELD)
    stream = _boolean(text.get("stream", "false"), "stream")
    if stream and response_format not in STREAMED_FORMATS:
        raise BadRequest(f"stream: needs response_format {' or '.join(STREAMED_FORMATS)}", param="stream")
    params = _decode_params(text, rules, task=task, words="word" in granularities)
    try:
        options, layout = decode_options(params), subtitle_layout(params)
        fmt = _FORMAT_OF.get(response_format, OutputFormat.JSON)
        check_usage(options, layout, (fmt,), model)
    except UsageError as error:
        raise rules.bad_request(error, text) from None
    except ValueError as error:  # SubtitleLayout's own bounds
        raise BadRequest(str(error)) from None
    return TranscriptionJob(model, options, layout, response_format, "word" in granularities, bool(stream))


def _decode_params(text: Mapping[str, str], rules: FormRules, *, task: str, words: bool) -> dict[str, Any]:
    """The `transcribe` parameters as the command line would have them: defaults, then the request's values."""
    params = {name: param.default for name, param in rules.params.items()}
    for name, value in text.items():
        if name in rules.extra:
            params[name] = _convert(rules.extra[name], value, name)
    params["task"] = task
    params["word_timestamps"] = bool(params["word_timestamps"]) or words
    params["initial_prompt"] = text.get("prompt") or None
    params["temperature"] = text.get("temperature") or "0"
    try:
        params["language"] = parse_language(text.get("language"))
    except UsageError as error:
        raise rules.bad_request(error) from None
    return params


def _convert(param: Any, value: str, name: str) -> Any:
    """A form value as its click parameter converts and bounds it on the command line."""
    from typer import BadParameter  # click's, whichever copy this Typer uses

    try:
        return param.type.convert(value, param, None)
    except BadParameter as error:
        raise BadRequest(f"{name}: {error.message}", param=name) from None


def _choice(value: str, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise BadRequest(f"{name}: {value!r} is not one of {', '.join(choices)}", param=name)
    return value


def _boolean(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise BadRequest(f"{name}: {value!r} is not true or false", param=name)

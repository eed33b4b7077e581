"""click's usage errors in the house format: `<option or argument>: <cause>`, shown as one `error:` line.

click prints three lines (Usage, Try, Error) in its own words. The attributes read here (option_name,
param, param_hint, ctx) are the same in click 8 and in the copy Typer 0.26+ vendors; a message this module
does not recognise is still shown, lower-cased, after the command's name.
"""

from __future__ import annotations

import difflib
import re
from typing import Iterable

_EXTRA_ARGUMENTS = re.compile(r"unexpected extra arguments?(?:\(s\))? \((?P<names>.*)\)", re.IGNORECASE)
_NO_SUCH_COMMAND = re.compile(r"no such command '?(?P<name>[^'.]*)'?", re.IGNORECASE)
_OPTION_PREFIX = re.compile(r"^option '[^']*' ", re.IGNORECASE)


def describe(error) -> str:
    """`subject: cause` for a click UsageError (NoSuchOption, BadParameter, MissingParameter ...)."""
    ctx = getattr(error, "ctx", None)
    message = _sentence(error.format_message() if hasattr(error, "format_message") else str(error))
    option_name = getattr(error, "option_name", None)
    if hasattr(error, "possibilities") and option_name:  # NoSuchOption
        return f"{option_name}: no such option{_did_you_mean(option_name, _option_names(ctx))}"
    if hasattr(error, "param_type"):  # MissingParameter
        param = getattr(error, "param", None)
        kind = getattr(param, "param_type_name", None) or error.param_type or "option"
        return f"{_param_name(error)}: missing {'argument' if kind == 'argument' else 'option'}"
    if hasattr(error, "param"):  # BadParameter
        return f"{_param_name(error)}: {_sentence(getattr(error, 'message', '') or message)}"
    if option_name:  # BadOptionUsage: "Option '--beam-size' requires an argument."
        return f"{option_name}: {_OPTION_PREFIX.sub('', message)}"
    command = ctx.command_path if ctx is not None else "command line"
    extra = _EXTRA_ARGUMENTS.search(message)
    if extra:
        return f"{extra.group('names')}: unexpected argument (see {command} --help)"
    unknown = _NO_SUCH_COMMAND.search(message)
    if unknown and ctx is not None:
        name = unknown.group("name")
        return f"{name}: no such command{_did_you_mean(name, _command_names(ctx))}"
    return f"{command}: {message}"


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    if not close:
        return ""
    listed = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return f" (did you mean {listed}?)"


def _option_names(ctx) -> list[str]:
    if ctx is None:
        return []
    names: list[str] = []
    for param in ctx.command.get_params(ctx):
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            names.extend(list(param.opts) + list(param.secondary_opts))
    return names


def _command_names(ctx) -> list[str]:
    try:
        return list(ctx.command.list_commands(ctx))
    except AttributeError:  # not a group
        return []


def _param_name(error) -> str:
    """--beam-size for an option, INPUT for an argument: what the user typed or saw in --help."""
    param = getattr(error, "param", None)
    if param is not None:
        if param.param_type_name == "option":
            longs = [opt for opt in param.opts if opt.startswith("--")]
            return (longs or list(param.opts))[0]
        return param.human_readable_name.upper()  # as --help shows an argument
    hint = getattr(error, "param_hint", None)
    if isinstance(hint, (list, tuple)):
        hint = hint[0] if hint else None
    return str(hint).strip("'\"") if hint else "command line"


def _sentence(message: str) -> str:
    """click's "Invalid value for '--x': 'y' is ..." sentence -> "'y' is ..." without the capital and the stop."""
    message = " ".join(message.split()).rstrip(".")
    message = re.sub(r"^invalid value(?: for [^:]*)?: ", "", message, flags=re.IGNORECASE)
    if message[:1].isupper() and not message[1:2].isupper():  # keep "NAME ..." as it is
        message = message[:1].lower() + message[1:]
    return message

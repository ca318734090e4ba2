"""What goes wrong before or around a command, said in Swedish: a command typed wrong (Typer
and Click speak English), and what the environment gets wrong, as a message, not a traceback."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NoReturn

# What a value must look like, for "Ogiltigt värde för …": by Click's type name, or by the
# annotation Typer (0.29+) checks with pydantic.
EXPECTED_BY_TYPE: dict[object, str] = {
    "integer": "ett heltal",
    "integer range": "ett heltal",
    "float": "ett tal",
    "float range": "ett tal",
    "boolean": "ja eller nej (true/false)",
    "datetime": "ett datum som ÅÅÅÅ-MM-DD",
    int: "ett heltal",
    float: "ett tal",
    bool: "ja eller nej (true/false)",
    date: "ett datum som ÅÅÅÅ-MM-DD",
    datetime: "en tidpunkt som ÅÅÅÅ-MM-DDTTT:MM",
}
_NO_SUCH_COMMAND = re.compile(r"No such command '([^']*)'\.(?: Did you mean '([^']*)'\?)?")


def refuse_command_line(error: Exception) -> NoReturn:
    """What Click (or Typer's copy of it) refused before any command ran, in Swedish."""
    if not derives_from(error, "UsageError"):  # a file argument that cannot be opened, say
        exit_with([str(getattr(error, "message", error))], getattr(error, "exit_code", 1))
    if type(error).__name__ == "NoArgsIsHelpError":  # the help is already printed
        sys.exit(2)
    command = getattr(getattr(error, "ctx", None), "command_path", None) or "kvalitet"
    print(f"fel: {usage_problem(error)}", file=sys.stderr)
    print(f"Se '{command} --help'.", file=sys.stderr)
    sys.exit(2)


def derives_from(error: Exception, class_name: str) -> bool:
    """Click's (or Typer's copy of Click's) exception classes, recognised by name as Typer
    itself does, since where they live moved between versions."""
    return any(kind.__name__ == class_name for kind in type(error).__mro__)


def usage_problem(error: Exception) -> str:
    """A command typed wrong, said in Swedish (Click's own sentences are English)."""
    kind = type(error).__name__
    message = str(getattr(error, "message", error))
    parameter = getattr(error, "param", None)
    if kind == "MissingParameter":
        return f"{_parameter_name(parameter)} saknas."
    if kind == "BadParameter":
        expected = _expected_value(parameter)
        wanted = f": ange {expected}" if expected else f" ({message})"
        return f"Ogiltigt värde för {_parameter_name(parameter)}{wanted}."
    if kind == "NoSuchOption":
        name = getattr(error, "option_name", "")
        return f"Okänt alternativ {name}.{_did_you_mean(getattr(error, 'possibilities', []))}"
    if kind == "BadOptionUsage":
        return f"{getattr(error, 'option_name', 'Alternativet')} behöver ett värde."
    if match := _NO_SUCH_COMMAND.match(message):
        return f"Okänt kommando '{match[1]}'.{_did_you_mean([match[2]] if match[2] else [])}"
    return f"Fel i kommandot ({message})."


def _expected_value(parameter: Any) -> str | None:
    click_type = getattr(parameter, "type", None)
    if choices := getattr(click_type, "choices", None):
        return "något av " + ", ".join(str(choice) for choice in choices)
    runtime = getattr(parameter, "get_runtime_param", None)
    annotation = getattr(runtime(), "annotation", None) if callable(runtime) else None
    for key in (getattr(click_type, "name", None), annotation):
        if key is not None and key in EXPECTED_BY_TYPE:
            return EXPECTED_BY_TYPE[key]
    return None


def _parameter_name(parameter: Any) -> str:
    options = getattr(parameter, "opts", None) or []
    if getattr(parameter, "param_type_name", "") == "option" and options:
        return str(max(options, key=len))
    return str(getattr(parameter, "name", None) or "Ett värde").upper()


def _did_you_mean(possibilities: Sequence[str] | None) -> str:
    return f" Menade du {' eller '.join(possibilities)}?" if possibilities else ""


def exit_with(messages: Sequence[str], code: int) -> NoReturn:
    """`work.fail` outside a command, where typer no longer turns its Exit into an exit code."""
    for message in messages:
        print(f"fel: {message}", file=sys.stderr)
    sys.exit(code)


def first_line(error: BaseException) -> str:
    """The driver's own first line (psycopg: 'connection failed: … Connection refused')."""
    original = getattr(error, "orig", None) or error
    return (str(original).strip().splitlines() or [type(original).__name__])[0]

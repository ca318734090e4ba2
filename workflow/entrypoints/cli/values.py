"""What a command was given (dates, times, KEY=VALUE pairs, files), read or refused with exit
code 2; and JSON, as every `--json` prints it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any

import typer

from workflow.domain import rules
from workflow.entrypoints.cli.work import fail

JsonFlag = Annotated[bool, typer.Option("--json", help="Skriv ut som JSON.")]


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def parse_date(value: str, option: str) -> date:
    return parse_dates((option, value))[0]


def parse_dates(*options: tuple[str, str]) -> list[date]:
    """Every option's date, or one message per bad one (a person fixes them all at once)."""
    parsed = {option: rules.parse_date(value) for option, value in options}
    bad = [f"{option}: '{value}' är inget datum (ÅÅÅÅ-MM-DD)." for option, value in options
           if parsed[option] is None]  # fmt: skip
    if bad:
        fail(bad, 2)
    return [day for day in parsed.values() if day is not None]


def parse_optional_date(value: str | None, option: str) -> date | None:
    return parse_date(value, option) if value else None


def parse_time(value: str, option: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        fail([f"{option}: '{value}' är ingen tid (TT:MM, svensk tid)."], 2)
    return parsed


def parse_optional_time(value: str | None, option: str) -> time | None:
    return parse_time(value, option) if value else None


def parse_data(pairs: Sequence[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail([f"'{pair}' ska skrivas NYCKEL=VÄRDE, t.ex. meeting_date=2024-06-10."], 2)
        if data.get(key.strip(), value) != value:
            fail([f"{key.strip()} anges två gånger med olika värden; vilket gäller?"], 2)
        data[key.strip()] = value
    return data


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        fail([f"Kan inte läsa {path}: {error.strerror}."], 2)

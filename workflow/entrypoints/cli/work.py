"""One unit of work per command: its transaction, who acts and when, and the exit code each
refusal ends it with."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import NoReturn, TypeVar

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session

from workflow import db
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    Ineligible,
    InvalidInput,
    NotFound,
    StaleVersion,
    TooManyAttempts,
    TransitionRefused,
    Unauthenticated,
    WorkflowError,
)

# Every refusal the workflow raises has its own code (tests/e2e/test_cli.py checks that none
# is missing); a subclass takes its nearest mapped ancestor's.
EXIT_CODES: dict[type[WorkflowError], int] = {
    InvalidInput: 2,
    NotFound: 3,
    StaleVersion: 4,
    Conflict: 4,
    TransitionRefused: 5,
    Ineligible: 6,
    Unauthenticated: 9,
    Forbidden: 9,
    TooManyAttempts: 10,
}
EXIT_NOT_INITIALISED = 7
EXIT_UNAVAILABLE = 8
# A refusal whose class has no code of its own still ends as a message, never a traceback.
EXIT_OTHER_REFUSAL = 1

T = TypeVar("T")


def exit_code_for(error: WorkflowError) -> int:
    """The code of the error's own class, else of its nearest mapped ancestor."""
    return next(
        (EXIT_CODES[kind] for kind in type(error).__mro__ if kind in EXIT_CODES),
        EXIT_OTHER_REFUSAL,
    )


def now() -> datetime:
    return datetime.now(UTC)


def actor() -> str:
    """Who the history records: KVALITET_ACTOR, else the logged-in user."""
    return os.environ.get("KVALITET_ACTOR") or f"cli:{getpass.getuser()}"


def fail(messages: Sequence[str], code: int) -> NoReturn:
    for message in messages:
        typer.echo(f"fel: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction; every refusal becomes a message on stderr and a non-zero exit code."""
    try:
        with db.transaction() as session:
            yield session
    except WorkflowError as error:
        fail([reason.message for reason in error.reasons], exit_code_for(error))
    except (OperationalError, ProgrammingError) as error:
        # A missing table is a database not initialised; a missing database (PostgreSQL's
        # 'database "x" does not exist') is one not reachable, which `main` reports.
        said = str(error)
        if "no such table" in said or ("relation" in said and "does not exist" in said):
            fail(["Databasen är inte initierad: kör 'kvalitet init' först."], EXIT_NOT_INITIALISED)
        raise


def run(work: Callable[[Session], T]) -> T:
    with unit_of_work() as session:
        return work(session)

"""What every use case does with a new row: add it, and turn a lost race into a Conflict."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from workflow.domain.errors import Conflict, refusal

T = TypeVar("T")


def insert_or_conflict(session: Session, item: T, code: str, message: str) -> T:
    """Add and flush; a unique constraint that a racing writer hit first becomes a Conflict
    (the caller's transaction then rolls back whole, so nothing is half-written)."""
    try:
        session.add(item)
        session.flush()
    except IntegrityError:
        raise refusal(Conflict, code, message) from None
    return item

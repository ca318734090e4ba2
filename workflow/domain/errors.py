"""Named failures of the workflow; entrypoints map each to an exit code or HTTP status once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """Why something was refused: a stable `code` for machines, a Swedish `message` for people."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class WorkflowError(Exception):
    """Base of every refusal the workflow raises on purpose."""

    def __init__(self, reasons: tuple[Reason, ...] | list[Reason]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(reason.message for reason in self.reasons))


class NotFound(WorkflowError):
    """The named cycle, organisation, unit or entry does not exist."""


class StaleVersion(WorkflowError):
    """The change was based on a version that is no longer current; nothing was changed."""


class TransitionRefused(WorkflowError):
    """The transition table or one of its guards refused the change."""


class Ineligible(WorkflowError):
    """The unit fails one or more eligibility rules of the award."""


class InvalidInput(WorkflowError):
    """The input is malformed (a date, a number, a CSV row, deadlines out of order)."""


class Conflict(WorkflowError):
    """The change collides with existing data (a duplicate entry, a name already taken)."""


class Unauthenticated(WorkflowError):
    """No valid token or session."""


class Forbidden(WorkflowError):
    """Authenticated, but this role may not do this."""


class TooManyAttempts(WorkflowError):
    """Too many failed logins just now; wait `retry_after` seconds and try again."""

    def __init__(
        self, reasons: tuple[Reason, ...] | list[Reason], *, retry_after: int = 60
    ) -> None:
        super().__init__(reasons)
        self.retry_after = retry_after


def refusal(error: type[WorkflowError], code: str, message: str) -> WorkflowError:
    """Build a one-reason error, the common case."""
    return error((Reason(code, message),))


def not_found(label: str, item_id: int) -> NotFound:
    """The refusal for an id that names nothing: `label` is what was looked for ("Posten")."""
    return NotFound((Reason("not_found", f"{label} med id {item_id} finns inte."),))


# A calendar app cannot log in, so a feed is reached with a random token in its URL. A wrong
# token, a revoked one and an unknown organisation are all refused with this one reason, so
# the answer never tells which of them it was.
FEED_NOT_FOUND = Reason(
    "calendar_not_found",
    "Kalendern finns inte. Länken kan vara fel eller återkallad; be om en ny länk.",
)


def feed_not_found() -> NotFound:
    """The one refusal for a wrong token, a revoked token and an unknown organisation."""
    return NotFound((FEED_NOT_FOUND,))

"""Request and response shapes of the HTTP API (JSON field names are a contract).

Every request model refuses unknown fields, bounds every number to what the database columns
hold (a 32-bit id, a year the award can have) and refuses text no database can store (NUL,
unpaired surrogates), so malformed input is a 422 with its field named, never a 500.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from workflow import models
from workflow.domain.rules import EARLIEST_PARTICIPATION_YEAR, EARLIEST_YEAR, LATEST_YEAR

MAX_ID = models.MAX_ID

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Year = Annotated[int, Field(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
ParticipationYear = Annotated[int, Field(ge=EARLIEST_PARTICIPATION_YEAR, le=LATEST_YEAR)]
Email = Annotated[str, Field(max_length=254)]


def storable_text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (PostgreSQL refuses NUL; UTF-8 refuses a lone
    surrogate), or None."""
    if "\x00" in value:
        return "får inte innehålla NUL-tecken"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "är inte giltig UTF-8"
    return None


def _check_storable(value: Any) -> Any:
    if isinstance(value, str):
        problem = storable_text_problem(value)
        if problem is not None:
            raise ValueError(f"texten {problem}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item)
    return value


_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_CLOCK_SCHEMA = {"type": "string", "pattern": f"^{_CLOCK.pattern}$", "examples": ["13:00"]}


def _clock_time(value: Any) -> Any:
    """'HH:MM', Stockholm time. JSON Schema's `format: time` means RFC 3339 with an offset,
    which a wall-clock time in Stockholm has not: so a plain pattern, in and out."""
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError("Ange tiden som TT:MM, svensk tid (t.ex. 13:00).")
    return time(int(value[:2]), int(value[3:]))


LocalTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(lambda t: f"{t:%H:%M}", return_type=str),
    WithJsonSchema(_CLOCK_SCHEMA),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return _check_storable(value)


# The prize cheque, whole kronor (the service says why another amount is refused, in Swedish).
PrizeAmount = Annotated[int, Field(strict=True, description="Whole kronor, 0–10 000 000.")]


class CycleCreate(Strict):
    year: Year
    contribution_deadline: date
    extract_deadline: date
    winners_date: date
    award_office_email: Email | None = None
    classes: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=20)
    ceremony_starts_at: LocalTime | None = Field(
        default=None, description="The prize ceremony, Stockholm time (default 15:00)."
    )
    ceremony_ends_at: LocalTime | None = Field(
        default=None, description="Stockholm time, after ceremony_starts_at (default 17:00)."
    )
    budget_rule: Literal["to_win", "to_take_part"] = Field(
        default="to_win",
        description="Whether a budget in balance is a condition of winning or of taking part.",
    )
    prize_amount: PrizeAmount = Field(
        default=50_000, description="Each winner's prize cheque, in whole kronor."
    )


class CyclePublic(BaseModel):
    id: int
    year: int
    contribution_deadline: date
    extract_deadline: date
    winners_date: date
    award_office_email: str
    classes: list[str]
    ceremony_starts_at: LocalTime | None = None
    ceremony_ends_at: LocalTime | None = None
    budget_rule: str = "to_win"
    prize_amount: int = 50_000


class OrganisationCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    board: str = Field(min_length=1, max_length=200)
    kind: Literal["forvaltning", "bolag"]
    coordinator_email: Email | None = None
    escalation_email: Email | None = None


class OrganisationPublic(BaseModel):
    id: int
    name: str
    board: str
    kind: str
    coordinator_email: str | None
    escalation_email: str | None = None


class UnitCreate(Strict):
    organisation_id: Id
    name: str = Field(min_length=1, max_length=200)
    staff_count: int = Field(ge=0, le=1_000_000)
    manager_has_budget_and_staff_responsibility: bool
    has_business_plan: bool
    share_stockholm_residents: float = Field(ge=0.0, le=1.0)
    budget_in_balance: bool
    privately_run: bool
    contact_email: Email | None = None
    earlier_participation_years: list[ParticipationYear] = Field(
        default_factory=list, max_length=100
    )
    earlier_participation_count: int = Field(default=0, ge=0, le=1000)


UnitPublic = models.UnitPublic  # spelled once, from the table's base


class EntryCreate(Strict):
    unit_id: Id
    year: Year
    award_class: str = Field(min_length=1, max_length=50)


class EntryPublic(BaseModel):
    id: int
    unit_id: int
    unit: str
    organisation_id: int
    organisation: str
    privately_run: bool
    year: int
    award_class: str
    stage: str
    stage_label: str
    version: int
    allowed_transitions: list[str]
    facts: dict[str, dict[str, str]]
    pending: dict[str, dict[str, str]]
    created_at: str
    updated_at: str
    case_number: str | None = None
    contribution_until: date | None = Field(
        default=None, description="The entry's extended contribution deadline, if any."
    )
    extract_until: date | None = Field(
        default=None, description="The entry's extended minutes-extract deadline, if any."
    )


class ExtensionRequest(Strict):
    """Give one entry more time (förlängd tid) for its contribution or its minutes extract."""

    deadline: str = Field(min_length=1, max_length=50, description='"contribution" or "extract".')
    until: date = Field(description="The entry's new last day (YYYY-MM-DD).")
    note: str = Field(max_length=10_000, description="Why (kept in the entry's history).")
    version: int | None = Field(
        default=None, ge=0, le=MAX_ID, description="The version you read (compare-and-set)."
    )


class EntryCorrection(Strict):
    """Correct what was recorded about an entry; `note` says why, `version` is the one read."""

    version: int = Field(ge=0, le=MAX_ID)
    note: str = Field(max_length=10_000)
    award_class: str | None = Field(default=None, min_length=1, max_length=50)
    case_number: str | None = Field(
        default=None, max_length=200, description='The diarienummer; "" clears it.'
    )
    facts: dict[
        Annotated[str, Field(max_length=50)],
        dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=10_000)]],
    ] = Field(default_factory=dict, max_length=10, description="Stage → fields to correct.")


class CaseNumberRequest(Strict):
    case_number: str = Field(max_length=200, description='The diarienummer; "" clears it.')
    version: int | None = Field(default=None, ge=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=10_000)


class BoardReportCasePublic(BaseModel):
    organisation_id: int
    year: int
    case_number: str | None


DataValue = Annotated[str, Field(max_length=5000)] | int | float | bool | None


class TransitionRequest(Strict):
    to: str = Field(min_length=1, max_length=50)
    version: int = Field(ge=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=5000)
    data: dict[Annotated[str, Field(max_length=100)], DataValue] = Field(
        default_factory=dict, max_length=50
    )


class SiteVisitRequest(Strict):
    """Book the examiners' site visit (platsbesök) on a submitted entry."""

    site_visit_on: date
    version: int = Field(ge=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=5000)
    starts_at: LocalTime | None = Field(
        default=None, description="Stockholm time, e.g. 13:00 (default 09:00)."
    )
    ends_at: LocalTime | None = Field(
        default=None, description="Stockholm time, after starts_at (default 12:00)."
    )


class HistoryEventPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    version: int
    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str
    actor: str
    at: str
    note: str | None
    data: dict[str, Any]


class ExaminerAssign(Strict):
    user_id: Id


class ExaminerAssignmentPublic(BaseModel):
    entry_id: int
    user_id: int


class DocumentPublic(BaseModel):
    id: int
    filename: str
    size: int


class OutboxPublic(BaseModel):
    id: int
    entry_id: int | None
    kind: str
    to: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    due_at: str
    sent_at: str | None
    message_id: str


class ReasonPublic(BaseModel):
    code: str
    message: str


class Problem(BaseModel):
    """Every refusal: a sentence for people and the reasons with their stable codes."""

    detail: str
    reasons: list[ReasonPublic]


# --- changing the register (PATCH: only the fields sent change) ------------------------------

BudgetRule = Literal["to_win", "to_take_part"]
Note = Annotated[str, Field(max_length=2000)]


class CycleUpdate(Strict):
    contribution_deadline: date | None = None
    extract_deadline: date | None = None
    winners_date: date | None = None
    classes: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=20)
    award_office_email: Email | None = None
    budget_rule: BudgetRule | None = None
    prize_amount: PrizeAmount | None = None
    note: Note | None = None


class CycleSettingsPublic(CyclePublic):
    """A cycle with its settings (what PATCH answers)."""

    budget_rule: str


class OrganisationUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    board: str | None = Field(default=None, min_length=1, max_length=200)
    kind: Literal["forvaltning", "bolag"] | None = None
    coordinator_email: Email | None = Field(default=None, description='"" clears it.')
    escalation_email: Email | None = Field(default=None, description='"" clears it.')
    note: Note | None = None


class OrganisationDetailsPublic(OrganisationPublic):
    escalation_email: str | None


class UnitUpdate(Strict):
    """A correction: the fields to change and why (`note`, required)."""

    note: Note = Field(min_length=1)
    organisation_id: Id | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    staff_count: int | None = Field(default=None, ge=0, le=1_000_000)
    manager_has_budget_and_staff_responsibility: bool | None = None
    has_business_plan: bool | None = None
    share_stockholm_residents: float | None = Field(default=None, ge=0.0, le=1.0)
    budget_in_balance: bool | None = None
    privately_run: bool | None = None
    contact_email: Email | None = Field(default=None, description='"" clears it.')
    earlier_participation_years: list[ParticipationYear] | None = Field(
        default=None, max_length=100
    )
    earlier_participation_count: int | None = Field(default=None, ge=0, le=1000)


RoleName = Literal["admin", "coordinator", "unit_contact", "examiner", "jury"]


class UserCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: RoleName
    email: Email | None = Field(
        default=None, description="Gets a one-time link to choose a password."
    )
    organisation_id: Id | None = None
    unit_id: Id | None = None


class UserUpdate(Strict):
    role: RoleName | None = None
    organisation_id: Id | None = None
    unit_id: Id | None = None
    email: Email | None = Field(default=None, description='"" clears it.')
    active: Literal[False] | None = Field(default=None, description="false deactivates.")
    note: Note | None = None


class UserPublic(BaseModel):
    id: int
    name: str
    role: str
    organisation_id: int | None
    unit_id: int | None
    email: str | None
    active: bool


class UserCreated(UserPublic):
    token: str = Field(description="The API token, shown this once.")
    password_link_sent: bool

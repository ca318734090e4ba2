"""Request and response shapes of the HTTP API (JSON field names are a contract).

Every request model refuses unknown fields, bounds every number to what the database columns
hold (a 32-bit id, a year the award can have) and refuses text no database can store (NUL,
unpaired surrogates), so malformed input is a 422 with its field named, never a 500.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic import Strict as StrictType

from workflow import models
from workflow.domain.calendar import Deadline
from workflow.domain.rules import (
    AWARD_CLASSES,
    EARLIEST_PARTICIPATION_YEAR,
    EARLIEST_YEAR,
    LATEST_YEAR,
)
from workflow.domain.stages import Stage
from workflow.outbox.operator import STATUSES

MAX_ID = models.MAX_ID

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Year = Annotated[int, Field(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
ParticipationYear = Annotated[int, Field(ge=EARLIEST_PARTICIPATION_YEAR, le=LATEST_YEAR)]

# Request models are strict (a JSON `true` is no id, "3" no number); dates and times arrive as
# ISO text, which strict mode would refuse, so they alone are parsed.
JsonDate = Annotated[date, StrictType(False)]
JsonDateTime = Annotated[datetime, StrictType(False)]
# A day of the award process: `rules.date_reason` refuses years outside 2000–2100.
AwardDate = Annotated[
    date,
    StrictType(False),
    WithJsonSchema({"type": "string", "format": "date", "pattern": "^(20[0-9]{2}|2100)-"}),
]

# What the services refuse, said in the schema too (the services keep their Swedish reasons and
# stable codes; the schema lets a client, and schemathesis, know the rule beforehand).
_UNSAFE = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
NO_NUL = "^[^\\x00]*$"  # every text field: no database stores NUL
# A name (organisation, board, unit, user): no control characters, not only spaces.
NAME_PATTERN = f"^[^{_UNSAFE}]*[^\\s{_UNSAFE}][^{_UNSAFE}]*$"
LINE_PATTERN = f"^[^{_UNSAFE}]*$"  # one line of text: no control characters
# Text that must say something: not only spaces (Python's, which include \x1c-\x1f and \x85).
CONTENT_PATTERN = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"
# `rules.is_email`: something@domain.tld, without spaces, brackets, commas or quotes.
_EMAIL_PART = r'[^@\s<>,;"\x00-\x1f\x7f-\x9f]+'
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"
_EMAIL_SCHEMA = {"type": "string", "format": "email", "pattern": EMAIL_PATTERN, "maxLength": 254}
# An address, or "" for none ("" also clears one in a PATCH).
Email = Annotated[
    str,
    Field(max_length=254),
    WithJsonSchema({"anyOf": [_EMAIL_SCHEMA, {"type": "string", "maxLength": 0}]}),
]
Name = Annotated[
    str,
    Field(min_length=1, max_length=200),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200, "pattern": NAME_PATTERN}),
]
# Why a change after the fact was made: required, and more than spaces (`missing_note`).
RequiredNote = Annotated[
    str,
    Field(max_length=10_000),
    WithJsonSchema({"type": "string", "maxLength": 10_000, "pattern": CONTENT_PATTERN}),
]


# `corrections.clean_case_number`: one line; at most 40 characters once runs of spaces are one.
CaseNumber = Annotated[
    str,
    Field(max_length=200),
    WithJsonSchema({"type": "string", "maxLength": 40, "pattern": LINE_PATTERN}),
]


def listed(values: Any, max_length: int = 50) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(values), "maxLength": max_length})


# Fixed lists: plain text to pydantic (the service names the valid values in its Swedish
# refusal, with a stable code such as `unknown_stage`), an enum in the schema.
StageName = Annotated[str, Field(max_length=50), listed(Stage)]
DeadlineName = Annotated[str, Field(max_length=50), listed(Deadline)]
OutboxStatus = Annotated[str, Field(max_length=20), listed(STATUSES, 20)]
# A class by its code or its Swedish name ("socialtjanst" or "socialtjänst").
AwardClass = Annotated[
    str,
    Field(min_length=1, max_length=50),
    listed(dict.fromkeys([*AWARD_CLASSES, *AWARD_CLASSES.values()])),
]


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


def _no_nul_in_text(schema: dict[str, Any]) -> None:
    """Add `NO_NUL` to every string in a request model's schema that has no pattern, format
    or list of its own (object keys too): `_check_storable` refuses NUL in any of them."""

    def walk(node: Any, is_key: bool = False) -> None:
        if not isinstance(node, dict) or "$ref" in node:
            return
        plain = not ({"pattern", "format", "enum", "const"} & node.keys())
        if plain and (node.get("type") == "string" or is_key):
            node["pattern"] = NO_NUL
        for name in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for inner in node.get(name, ()):
                walk(inner)
        for name in ("items", "additionalProperties"):
            walk(node.get(name))
        walk(node.get("propertyNames"), is_key=True)
        for inner in node.get("properties", {}).values():
            walk(inner)

    walk(schema)


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra=lambda schema, _: _no_nul_in_text(schema)
    )

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        """2007.0 is the integer 2007 to JSON Schema, so an id or a year may come so (strict
        mode would refuse it); a JSON `true` or "3" still is no number."""
        return _integral_floats_as_ints(data)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return _check_storable(value)


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


# The prize cheque, whole kronor (the service says why another amount is refused, in Swedish).
PrizeAmount = Annotated[int, Field(strict=True, description="Whole kronor, 0–10 000 000.")]


class CycleCreate(Strict):
    year: Year
    contribution_deadline: AwardDate
    extract_deadline: AwardDate
    winners_date: AwardDate
    award_office_email: Email | None = None
    classes: list[AwardClass] | None = Field(default=None, max_length=20)
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
    name: Name
    board: Name
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
    name: Name
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
    award_class: AwardClass


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

    deadline: DeadlineName
    until: AwardDate = Field(description="The entry's new last day (YYYY-MM-DD).")
    note: RequiredNote = Field(description="Why (kept in the entry's history).")
    version: int | None = Field(
        default=None, ge=0, le=MAX_ID, description="The version you read (compare-and-set)."
    )


class EntryCorrection(Strict):
    """Correct what was recorded about an entry; `note` says why, `version` is the one read."""

    version: int = Field(ge=0, le=MAX_ID)
    note: RequiredNote
    award_class: AwardClass | None = None
    case_number: CaseNumber | None = Field(
        default=None, description='The diarienummer; "" clears it.'
    )
    facts: dict[
        Annotated[str, Field(max_length=50)],
        dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=10_000)]],
    ] = Field(default_factory=dict, max_length=10, description="Stage → fields to correct.")


class CaseNumberRequest(Strict):
    case_number: CaseNumber = Field(description='The diarienummer; "" clears it.')
    version: int | None = Field(default=None, ge=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=10_000)


class BoardReportCasePublic(BaseModel):
    organisation_id: int
    year: int
    case_number: str | None


DataValue = Annotated[str, Field(max_length=5000)] | int | float | bool | None


class TransitionRequest(Strict):
    to: StageName
    version: int = Field(ge=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=5000)
    data: dict[Annotated[str, Field(max_length=100)], DataValue] = Field(
        default_factory=dict, max_length=50
    )


class SiteVisitRequest(Strict):
    """Book the examiners' site visit (platsbesök) on a submitted entry."""

    site_visit_on: AwardDate
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
    internet_message_id: str = Field(
        validation_alias=AliasChoices("internet_message_id", "message_id"),
        description="The e-mail's Message-ID header.",
    )
    message_id: str = Field(
        deprecated=True,
        description="The old name of `internet_message_id` (the Message-ID header, not the "
        "row id `/outbox/{message_id}` takes); answered until the next release.",
    )


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
    contribution_deadline: AwardDate | None = None
    extract_deadline: AwardDate | None = None
    winners_date: AwardDate | None = None
    classes: list[AwardClass] | None = Field(default=None, max_length=20)
    award_office_email: Email | None = None
    budget_rule: BudgetRule | None = None
    prize_amount: PrizeAmount | None = None
    ceremony_starts_at: LocalTime | None = Field(
        default=None,
        description="The ceremony's new start, Stockholm time (its length kept without an end). "
        "A moved ceremony (this, ceremony_ends_at or winners_date) queues the new time to "
        "everyone already invited.",
    )
    ceremony_ends_at: LocalTime | None = None
    note: Note | None = None


class CycleSettingsPublic(CyclePublic):
    """A cycle with its settings (what PATCH answers)."""

    budget_rule: str


class OrganisationUpdate(Strict):
    name: Name | None = None
    board: Name | None = None
    kind: Literal["forvaltning", "bolag"] | None = None
    coordinator_email: Email | None = Field(default=None, description='"" clears it.')
    escalation_email: Email | None = Field(default=None, description='"" clears it.')
    note: Note | None = None


class OrganisationDetailsPublic(OrganisationPublic):
    escalation_email: str | None


class UnitUpdate(Strict):
    """A correction: the fields to change and why (`note`, required)."""

    note: Annotated[
        str,
        Field(min_length=1, max_length=2000),
        WithJsonSchema({"type": "string", "maxLength": 2000, "pattern": CONTENT_PATTERN}),
    ]
    organisation_id: Id | None = None
    name: Name | None = None
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
    name: Name
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

"""SQLModel tables. The schema itself is owned by the Alembic migrations in workflow/migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, UniqueConstraint, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every database (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MAX_ID = 2**31 - 1  # ids are 32-bit integers in both databases


def _json_column() -> Any:
    return Column(JSON, nullable=False)


def _utc_column(nullable: bool = False) -> Any:
    return Column(UTCDateTime(), nullable=nullable)


class Cycle(SQLModel, table=True):
    """One year's award; carries that year's deadlines (never code)."""

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(unique=True)
    contribution_deadline: date  # sista dag för skriftligt bidrag
    extract_deadline: date  # sista dag för protokollsutdrag
    winners_date: date  # vinnarna utses
    award_office_email: str
    classes: list[str] = Field(sa_column=_json_column())
    # The prize ceremony in Stadshuset on the winners' day, Stockholm time (None: 15–17).
    ceremony_starts_at: time | None = None
    ceremony_ends_at: time | None = None
    # Whether a budget in balance is a condition of winning ("to_win", Östermalm 2021) or of
    # taking part at all ("to_take_part", Bromma 2024); the seeds differ, so each year says.
    budget_rule: str = Field(default="to_win", sa_column_kwargs={"server_default": "to_win"})
    # The prize cheque each winner gets, in whole kronor, for its continued quality work.
    prize_amount: int = Field(default=50_000, sa_column_kwargs={"server_default": "50000"})


class Organisation(SQLModel, table=True):
    """A förvaltning or bolag; its board (nämnd/styrelse) decides on city-run units."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    kind: str  # "forvaltning" | "bolag"
    board: str
    coordinator_email: str | None = None
    # Who hears when the coordinator does not act (an extract overdue): a registrator or chief.
    escalation_email: str | None = None


class UnitBase(SQLModel):
    """A unit (enhet) as registered: the facts its eligibility is judged on, and its contact.

    The one place a unit's fields are spelled: the table, what registering takes
    (`UnitCreate`) and what is shown (`UnitPublic`) derive from it.
    """

    name: str
    staff_count: int
    manager_has_budget_and_staff_responsibility: bool
    has_business_plan: bool
    share_stockholm_residents: float
    budget_in_balance: bool
    privately_run: bool
    contact_email: str | None = None
    # Seeds sometimes say "tredje gången" without the years; the count is at least len(years).
    earlier_participation_count: int = 0


class Unit(UnitBase, table=True):
    """A unit (enhet) and the facts its eligibility is judged on."""

    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    earlier_participation_years: list[int] = Field(sa_column=_json_column())


class UnitCreate(UnitBase):
    """A unit to register; what `create_unit` and the CSV import take."""

    organisation_id: int
    earlier_participation_years: tuple[int, ...] = ()


class UnitPublic(UnitBase):
    """A registered unit as the API shows it."""

    id: int
    organisation_id: int
    earlier_participation_years: list[int]


class Entry(SQLModel, table=True):
    """A unit's participation in one cycle; `version` guards every change (compare-and-set)."""

    __table_args__ = (UniqueConstraint("unit_id", "cycle_id"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    award_class: str
    stage: str = Field(index=True)
    version: int
    # Data recorded with each stage reached, by stage; and facts kept ahead of their stage.
    facts: dict[str, dict[str, str]] = Field(sa_column=_json_column())
    pending: dict[str, dict[str, str]] = Field(sa_column=_json_column())
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())
    # The diarienummer the organisation files the entry under (free text, e.g. "SLK 2025/123").
    case_number: str | None = None
    # Per-entry extensions of the cycle's deadlines (None: the cycle's own date holds).
    contribution_until: date | None = None
    extract_until: date | None = None


class BoardReportCase(SQLModel, table=True):
    """The diarienummer of an organisation's board report (tjänsteutlåtande) for one cycle."""

    __tablename__ = "board_report_case"
    __table_args__ = (UniqueConstraint("organisation_id", "cycle_id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    case_number: str


class AuditEvent(SQLModel, table=True):
    """Append-only audit trail of changes to the register (cycles, organisations, units, users)
    and of corrections: who changed what, when, old → new, and why.

    `changes` maps each field to `[old, new]`. The database refuses UPDATE and DELETE.
    """

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_subject", "subject", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    subject: str  # cycle | organisation | unit | user | entry
    subject_id: int
    action: str  # created | corrected | extended | copied | deactivated | password_reset | ...
    actor: str
    at: datetime = Field(sa_column=_utc_column())
    note: str | None = None
    changes: dict[str, Any] = Field(sa_column=_json_column())


class PasswordLink(SQLModel, table=True):
    """A one-time link to set a password, e-mailed to a new user (or on reset); sha256 only."""

    __tablename__ = "password_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column())
    used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class HistoryEvent(SQLModel, table=True):
    """Append-only audit trail: who moved which entry from where to where, when and why.

    The database refuses UPDATE and DELETE on this table (triggers in the migrations).
    An event whose from and to are equal records a fact kept for later, not a move.
    """

    __tablename__ = "history_event"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    version: int  # the entry's version after this event
    from_stage: str | None
    to_stage: str
    actor: str
    at: datetime = Field(sa_column=_utc_column())
    note: str | None = None
    data: dict[str, Any] = Field(sa_column=_json_column())


class OutboxMessage(SQLModel, table=True):
    """An e-mail a change caused, written in the change's own transaction; delivered later."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index(
            "ix_outbox_due_queued",
            "due_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # stable; the Message-ID (or webhook delivery id) derives from it
    entry_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    channel: str = "email"  # email | webhook (recipient is then the webhook's id)
    kind: str
    recipient: str
    payload: dict[str, Any] = Field(sa_column=_json_column())
    status: str = "queued"  # queued | sent | failed | cancelled (a reminder no longer needed)
    attempts: int = 0
    last_error: str | None = None
    due_at: datetime = Field(sa_column=_utc_column())
    created_at: datetime = Field(sa_column=_utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    claimed_by: str | None = None  # set while a relay is sending it; cleared after
    claimed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Claims found still held after their lease: the relay died mid-send, so the message may
    # have reached the server; counted, because that window cannot be closed by a sender.
    interrupted_attempts: int = 0


class Reminder(SQLModel, table=True):
    """A planned deadline reminder: a row due at a time, never a long Celery ETA task.

    `pending` until the sweep claims it (→ `queued`, with an outbox row of the same key);
    `cancelled` when a re-plan no longer wants it (fact arrived, entry withdrawn, deadline moved).
    """

    __table_args__ = (
        Index(
            "ix_reminder_due_pending",
            "due_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    deadline_kind: str  # contribution | extract
    deadline: date
    kind: str  # reminder | overdue | escalation
    days_before: int
    recipient_role: str
    due_at: datetime = Field(sa_column=_utc_column())
    status: str = "pending"
    created_at: datetime = Field(sa_column=_utc_column())
    queued_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Document(SQLModel, table=True):
    """An uploaded file kept with its entry: the minutes extract (PDF), the contribution."""

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    kind: str  # extract | contribution
    filename: str
    content_type: str
    size: int
    sha256: str
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    uploaded_by: str
    created_at: datetime = Field(sa_column=_utc_column())


class User(SQLModel, table=True):
    """A person or script using the system; a role, and the organisation or unit it acts for.

    The API token and the password are stored only as hashes (sha256 for the random token,
    argon2 for the password a person chose).
    """

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    email: str | None = None  # where the one-time password link goes
    token_hash: str = Field(unique=True)
    password_hash: str | None = None
    active: bool = True
    created_at: datetime = Field(sa_column=_utc_column())


class ExaminerAssignment(SQLModel, table=True):
    __tablename__ = "examiner_assignment"
    __table_args__ = (UniqueConstraint("entry_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    assigned_by: str
    created_at: datetime = Field(sa_column=_utc_column())
    # The lead examiner (huvudexaminator) writes the team's consensus.
    lead: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class ExaminationSetting(SQLModel, table=True):
    """A cycle's scoring scale and team size; a cycle without a row has the defaults."""

    __tablename__ = "examination_setting"

    cycle_id: int = Field(foreign_key="cycle.id", primary_key=True)
    score_min: int = 1
    score_max: int = 5
    examiners_per_entry: int = 2


class AssessmentCriterion(SQLModel, table=True):
    """One criterion (bedömningsgrund) of a cycle, in the order the forms show them."""

    __tablename__ = "assessment_criterion"
    __table_args__ = (UniqueConstraint("cycle_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    position: int
    name: str
    description: str = ""


class Assessment(SQLModel, table=True):
    """One examiner's assessment of an entry: per criterion (by id, as text) a score,
    strengths and development areas; the site visit and the interviews held."""

    __table_args__ = (UniqueConstraint("entry_id", "examiner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    examiner_id: int = Field(foreign_key="app_user.id", index=True)
    status: str = "draft"  # draft | submitted
    criteria: dict[str, Any] = Field(sa_column=_json_column())
    site_visit_on: date | None = None
    interviews: dict[str, Any] = Field(sa_column=_json_column())
    updated_at: datetime = Field(sa_column=_utc_column())
    submitted_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Consensus(SQLModel, table=True):
    """The team's joint assessment of an entry, written by the lead examiner."""

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", unique=True)
    status: str = "draft"  # draft | submitted
    criteria: dict[str, Any] = Field(sa_column=_json_column())
    summary: str = ""
    written_by: str
    updated_at: datetime = Field(sa_column=_utc_column())
    submitted_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class WebSession(SQLModel, table=True):
    """A logged-in browser: the cookie holds a random secret, stored here only as its sha256
    (`id`), so a read of this table logs nobody in; the forms carry `csrf_token`."""

    __tablename__ = "web_session"

    id: str = Field(primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    csrf_token: str
    created_at: datetime = Field(sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column())


class LoginAttempt(SQLModel, table=True):
    """Failed logins, by name and client address, to slow password guessing down
    (`workflow.domain.throttle`); `throttled` marks an attempt refused for coming too soon."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    address: str = Field(default="", index=True, sa_column_kwargs={"server_default": ""})
    throttled: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    at: datetime = Field(sa_column=_utc_column())


class HealthProbe(SQLModel, table=True):
    """One row `/healthz` rewrites on every check: a database that answers reads but can no
    longer commit a write (disk full, read-only) is not healthy."""

    __tablename__ = "health_probe"

    id: int | None = Field(default=None, primary_key=True)
    checked_at: datetime = Field(sa_column=_utc_column())


class FeedToken(SQLModel, table=True):
    """A secret in a calendar URL, so a calendar app can subscribe without a login.

    `organisation_id` None: the whole cycle's feed. Stored as sha256; revocable.
    """

    __tablename__ = "feed_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    created_by: str
    created_at: datetime = Field(sa_column=_utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Webhook(SQLModel, table=True):
    """Another city system to tell about every transition (case register, intranet)."""

    # One active webhook per address: a second would deliver every event twice. Deleted ones
    # (inactive, kept for their delivery log) do not count.
    __table_args__ = (
        Index(
            "ux_webhook_active_url",
            "url",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    url: str
    secret: str  # HMAC-SHA256 key shared with the receiver
    active: bool = True
    created_by: str
    created_at: datetime = Field(sa_column=_utc_column())


class CalendarEvent(SQLModel, table=True):
    """An event the calendars have published (in a feed or an invitation), as last published.

    SEQUENCE (RFC 5545 §3.8.7.4) rises by one each time what the event says (its times, title,
    place or status, summed up by `fingerprint`) changes, and at no other time; LAST-MODIFIED
    is when that happened. Written in the transaction of the change that moves the event.
    """

    __tablename__ = "calendar_event"

    uid: str = Field(primary_key=True)
    sequence: int
    fingerprint: str  # sha256 of DTSTART, DTEND, SUMMARY, LOCATION and STATUS as published
    last_modified: datetime = Field(sa_column=_utc_column())


class FeedbackRelease(SQLModel, table=True):
    """The admin's release of a cycle's feedback reports (for one class, or all when
    `award_class` is None) at `due_at`: `scheduled` until a sweep or the admin carries it out,
    then `done` (or `refused`, with the reasons, when entries still lacked consensus)."""

    __tablename__ = "feedback_release"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    award_class: str | None = None
    due_at: datetime = Field(sa_column=_utc_column())
    status: str = Field(default="scheduled", index=True)  # scheduled | done | refused
    requested_by: str
    created_at: datetime = Field(sa_column=_utc_column())
    done_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    released: int = 0  # entries moved to `feedback` by it
    reasons: list[str] = Field(sa_column=_json_column())


class JuryMember(SQLModel, table=True):
    """A member of a cycle's jury committee (domarkommittén); one of them chairs it."""

    __tablename__ = "jury_member"
    __table_args__ = (UniqueConstraint("cycle_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    chair: bool = False
    assigned_by: str
    created_at: datetime = Field(sa_column=_utc_column())


class JuryRecommendation(SQLModel, table=True):
    """A jury member's recommendation in one class: entry ids, or none (no winner)."""

    __tablename__ = "jury_recommendation"
    __table_args__ = (UniqueConstraint("cycle_id", "award_class", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    award_class: str
    user_id: int = Field(foreign_key="app_user.id")
    winners: list[int] = Field(sa_column=_json_column())
    motivation: str = ""
    updated_at: datetime = Field(sa_column=_utc_column())


class JuryDecision(SQLModel, table=True):
    """The chair's decision in one class (winner entry ids; empty: no winner this year).
    Embargoed until the cycle's announcement: only the admin and the jury read this table."""

    __tablename__ = "jury_decision"
    __table_args__ = (UniqueConstraint("cycle_id", "award_class"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="cycle.id", index=True)
    award_class: str
    winners: list[int] = Field(sa_column=_json_column())
    motivation: str
    decided_by: str
    decided_at: datetime = Field(sa_column=_utc_column())


class JuryAnnouncement(SQLModel, table=True):
    """When a cycle's jury decisions are made public (None: the winners' day at the
    ceremony's start), and when they were."""

    __tablename__ = "jury_announcement"

    cycle_id: int = Field(foreign_key="cycle.id", primary_key=True)
    announce_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    announced_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    set_by: str

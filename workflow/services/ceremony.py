"""The prize ceremony: the winners' diplomas and prize letters, and the invitation to the
ceremony in Stadshuset that every participating unit and its coordinator gets.

- `prize_document(...)`: one of them as a download, for the admin at any time and for the
  unit's own coordinator and contact once the entry is in stage `jury` as a winner (until then
  the same 404 as for an entry that does not exist, so nothing leaks before the announcement).
- `send_ceremony_invitations(...)`: one e-mail with an iCalendar invitation per address per
  cycle (`ceremony/{year}/{address}`), so sending again queues only what is new; audited.
- `reissue_moved_ceremony(...)`: the new time to everyone invited, when the day moves.

The documents themselves are made in `workflow.documents.winner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from workflow import calendar_events, db, feeds
from workflow.auth import entry_scope
from workflow.documents.winner import entry_rows, no_documents, prize_facts, render_prize_document
from workflow.domain.access import Actor, Role, can_see
from workflow.domain.calendar import ceremony_span
from workflow.domain.errors import Forbidden, InvalidInput, NotFound, refusal
from workflow.domain.rules import is_email
from workflow.domain.stages import Stage
from workflow.emails import Attachment
from workflow.models import Cycle, Entry, Organisation, OutboxMessage, Unit
from workflow.outbox.rows import INVITATION
from workflow.services._audit import OPERATOR, record_audit

CEREMONY_INVITATION = "ceremony_invitation"


# --- the winner's documents --------------------------------------------------------------------


def is_announced_winner(entry: Entry) -> bool:
    """The jury's decision is out and names this entry a winner."""
    return entry.stage == Stage.JURY and (entry.facts.get(Stage.JURY) or {}).get("outcome") == (
        "winner"
    )


def prize_links(acting: Actor, entry: Entry) -> list[tuple[str, str]]:
    """(label, path) of the winner's documents for its entry page: shown once the entry is in
    stage `jury` as a winner, to those who may fetch them (the page shows the entry only to
    those who may see it)."""
    if not is_announced_winner(entry) or acting.role not in _FETCHERS:
        return []
    return [
        ("Diplom (PDF)", f"/entries/{entry.id}/diploma.pdf"),
        ("Prisbrev med prischeck (Word)", f"/entries/{entry.id}/prize-letter.docx"),
        ("Prisbrev med prischeck (PDF)", f"/entries/{entry.id}/prize-letter.pdf"),
    ]


_FETCHERS = frozenset({Role.ADMIN, Role.COORDINATOR, Role.UNIT_CONTACT})


def prize_document(
    session: Session, entry_id: int, document: str, fmt: str, *, acting: Actor
) -> Attachment:
    """One of a winner's documents as a download. The admin may fetch it at any time (a
    preview before the announcement); the unit's own coordinator and contact once the entry is
    in stage `jury` as a winner; everyone else, and they before then, get 404."""
    entry, _unit, _organisation, _cycle = entry_rows(session, entry_id)
    if acting.role != Role.ADMIN:
        own = acting.role in (Role.COORDINATOR, Role.UNIT_CONTACT) and can_see(
            acting, entry_scope(session, entry)
        )
        if not own or not is_announced_winner(entry):
            raise no_documents(entry_id)
    return render_prize_document(prize_facts(session, entry_id), document, fmt)


# --- the ceremony invitation -------------------------------------------------------------------


@dataclass
class _Invitee:
    address: str
    units: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)
    coordinator_of: list[str] = field(default_factory=list)

    def add(self, unit: str, organisation: str) -> None:
        if unit not in self.units:
            self.units.append(unit)
        if organisation not in self.organisations:
            self.organisations.append(organisation)


@dataclass(frozen=True)
class InvitationRound:
    """What sending the ceremony invitations did: new addresses queued, addresses invited
    before (left alone), and the units nobody could be invited for (no address)."""

    year: int
    queued: tuple[str, ...]
    already: tuple[str, ...]
    without_address: tuple[str, ...]


def send_ceremony_invitations(
    session: Session, *, year: int, now: datetime, acting: Actor | None = None
) -> InvitationRound:
    """Queue the ceremony invitation (e-mail and iCalendar METHOD:REQUEST) to the contact of
    every unit taking part in `year` (entries not withdrawn) and to its organisation's
    coordinator: one per address, however many units it stands for. Idempotent: an address
    invited before is not invited again."""
    if acting is not None and acting.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", "Bara utmärkelsens kansli bjuder in till ceremonin.")
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    rows = session.exec(
        select(Entry, Unit, Organisation)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Organisation, col(Organisation.id) == Unit.organisation_id)
        .where(Entry.cycle_id == cycle.id, Entry.stage != Stage.WITHDRAWN)
        .order_by(col(Organisation.name), col(Unit.name))
    ).all()
    if not rows:
        raise refusal(
            InvalidInput,
            "no_participants",
            f"Ingen enhet deltar i omgång {year}, så det finns ingen att bjuda in till ceremonin.",
        )
    invitees: dict[str, _Invitee] = {}
    without_address: list[str] = []
    for _entry, unit, organisation in rows:
        found = False
        for address, coordinator in (
            (unit.contact_email, False),
            (organisation.coordinator_email, True),
        ):
            if not address or not is_email(address.strip()):
                continue
            found = True
            invitee = invitees.setdefault(address.strip().lower(), _Invitee(address.strip()))
            invitee.add(unit.name, organisation.name)
            if coordinator and organisation.name not in invitee.coordinator_of:
                invitee.coordinator_of.append(organisation.name)
        if not found:
            without_address.append(unit.name)

    keys = {address: f"ceremony/{year}/{address}" for address in invitees}
    taken = set(
        session.exec(
            select(OutboxMessage.key).where(col(OutboxMessage.key).in_(list(keys.values())))
        ).all()
    )
    issued = calendar_events.record(session, feeds.cycle_events(cycle), now=now)
    ceremony = issued[feeds.ceremony_uid(year)]
    new_rows = [
        _invitation_row(keys[address], CEREMONY_INVITATION, invitee, cycle, ceremony, now)
        for address, invitee in invitees.items()
        if keys[address] not in taken
    ]
    queued = _queue_once(session, new_rows)
    already = [invitees[a].address for a in invitees if keys[a] in taken]
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, action="ceremony_invited",
        actor=acting.name if acting is not None else OPERATOR, at=now,
        changes={"ceremony_invitations": [len(already), len(already) + len(queued)]},
        note=f"Inbjudan till ceremonin köad till {len(queued)} adresser.",
    )  # fmt: skip
    return InvitationRound(year, tuple(queued), tuple(already), tuple(without_address))


def _invitation_row(
    key: str,
    kind: str,
    invitee: _Invitee,
    cycle: Cycle,
    ceremony: calendar_events.Issued,
    now: datetime,
    **extra: str,
) -> dict[str, Any]:
    """The outbox row of one address's invitation to the cycle's ceremony as it now stands."""
    one_unit = len(invitee.units) == 1 and not invitee.coordinator_of
    starts_at, ends_at = ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at)
    payload = {
        "year": cycle.year,
        "units": invitee.units,
        "organisations": invitee.organisations,
        "coordinator_of": invitee.coordinator_of,
        "ceremony_on": cycle.winners_date.isoformat(),
        "starts_at": starts_at.isoformat(timespec="minutes"),
        "ends_at": ends_at.isoformat(timespec="minutes"),
        "place": feeds.CEREMONY_PLACE,
        "award_office_email": cycle.award_office_email,
        "winners_date": cycle.winners_date.isoformat(),
        **extra,
        INVITATION: feeds.ceremony_invitation(
            cycle,
            invitee.address,
            invitee.units[0] if one_unit else invitee.address,
            issued=ceremony,
            now=now,
        ),
    }
    return {
        "key": key,
        "entry_id": None,
        "channel": "email",
        "kind": kind,
        "recipient": invitee.address,
        "payload": payload,
        "status": "queued",
        "due_at": now,
        "created_at": now,
    }


def _queue_once(session: Session, rows: list[dict[str, Any]]) -> list[str]:
    """Insert `rows`, leaving a key a racing round queued first as it is; the recipients of
    the rows inserted."""
    queued: list[str] = []
    if not rows:
        return queued
    connection = session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    for row in rows:
        result = connection.execute(
            dialect.insert(table).values(**row).on_conflict_do_nothing(index_elements=["key"])
        )
        if result.rowcount:
            queued.append(str(row["recipient"]))
    db.note_outbox_written(session)
    return queued


# --- a moved ceremony -------------------------------------------------------------------------

CEREMONY_MOVED = "ceremony_moved"
_UNSENT = ("queued", "held", "undeliverable")


def reissue_moved_ceremony(
    session: Session,
    cycle: Cycle,
    *,
    previous_on: date,
    previous_hours: tuple[time, time],
    actor: str,
    now: datetime,
) -> list[str]:
    """After the ceremony moved (its day or hours), give everyone invited so far the new time.

    Per address: an invitation not yet sent (and not claimed by a relay) is cancelled, so the
    old day never leaves; an address that has (or is being sent) an invitation gets
    `ceremony_moved`, saying so, with the calendar event under a higher SEQUENCE that replaces
    the one in its calendar; an address that never got one gets a fresh invitation. Keys carry
    the event's SEQUENCE, so the same move recorded twice queues nothing twice. Runs in the
    caller's transaction, after the moved event was recorded (`feeds.record_cycle_events`)."""
    prefix = f"ceremony/{cycle.year}/"
    rows = session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.key).startswith(prefix, autoescape=True))
        .where(col(OutboxMessage.kind).in_((CEREMONY_INVITATION, CEREMONY_MOVED)))
        .order_by(col(OutboxMessage.id))
    ).all()
    if not rows:
        return []
    latest: dict[str, OutboxMessage] = {}
    for row in rows:
        latest[row.recipient.lower()] = row
    issued = calendar_events.record(session, feeds.cycle_events(cycle), now=now)
    ceremony = issued[feeds.ceremony_uid(cycle.year)]
    # A row already of this version (the same move recorded again) is the one to keep.
    older = [row.id for row in rows if not row.key.endswith(f"/{ceremony.sequence}")]
    cancelled = session.connection().execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(older))
        .where(col(OutboxMessage.status).in_(_UNSENT), col(OutboxMessage.claimed_by).is_(None))
        .values(status="cancelled")
        .returning(col(OutboxMessage.id))
    )
    withdrawn = set(cancelled.scalars())
    told = {row.recipient.lower() for row in rows if row.id not in withdrawn and _told(row)}
    new_rows = []
    for address, row in latest.items():
        invitee = _Invitee(
            row.recipient,
            list(row.payload.get("units") or ()),
            list(row.payload.get("organisations") or ()),
            list(row.payload.get("coordinator_of") or ()),
        )
        key = f"{prefix}{address}/{ceremony.sequence}"
        kind = CEREMONY_MOVED if address in told else CEREMONY_INVITATION
        extra = (
            {
                "previous_on": previous_on.isoformat(),
                "previous_starts_at": previous_hours[0].isoformat(timespec="minutes"),
                "previous_ends_at": previous_hours[1].isoformat(timespec="minutes"),
            }
            if address in told
            else {}
        )
        new_rows.append(_invitation_row(key, kind, invitee, cycle, ceremony, now, **extra))
    queued = _queue_once(session, new_rows)
    record_audit(
        session, subject="cycle", subject_id=cycle.id or 0, action="ceremony_moved",
        actor=actor, at=now, changes={
            "winners_date": [previous_on.isoformat(), cycle.winners_date.isoformat()],
            "ceremony_hours": [_hours(previous_hours), _hours(ceremony_span(
                cycle.ceremony_starts_at, cycle.ceremony_ends_at))],
        },
        note=f"Ny tid för ceremonin köad till {len(queued)} adresser; "
        f"{len(withdrawn)} osända inbjudningar stoppade.",
    )  # fmt: skip
    return queued


def _hours(span: tuple[time, time]) -> str:
    return f"{span[0]:%H:%M}–{span[1]:%H:%M}"


def _told(row: OutboxMessage) -> bool:
    """The address has, or is being sent, this invitation."""
    return row.status == "sent" or (row.status == "queued" and row.claimed_by is not None)

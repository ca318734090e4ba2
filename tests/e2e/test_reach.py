"""Nobody is silently unreachable, and an escalation goes up: each fallback path delivered to a
real SMTP server (aiosmtpd on loopback), on SQLite and PostgreSQL.

- a unit without a contact address: its mail goes to the organisation's coordinator, saying so
  at the top;
- neither a unit address nor a coordinator: the mail is kept as undeliverable (shown in
  `kvalitet status` and on the admin's "Att göra"), and sent exactly once, under its own
  Message-ID, when an address is set through the API;
- an overdue extract's escalation: to the organisation's escalation contact, else the award
  office, the coordinator in copy (Cc header and envelope).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from tests.conftest import NOW, seed_cycle
from tests.e2e.conftest import start_server
from tests.e2e.support import (  # noqa: F401  (redis_url is a fixture)
    SmtpSink,
    Worker,
    redis_url,
    wait_until,
    worker_env,
)
from workflow import reminders, services
from workflow.db import make_engine, transaction, upgrade_schema
from workflow.domain.access import Actor, Role
from workflow.emails import message_id_for
from workflow.models import AuditEvent, Cycle, OutboxMessage
from workflow.outbox import deliver_outbox_batch
from workflow.outbox.transports import SmtpTransport
from workflow.queries.todo import todo_for
from workflow.services import registry
from workflow.settings import Settings

DOMAIN = Settings().message_id_domain
NOTICE = "Vi har ingen e-postadress till enheten"
# Three working days after the extract deadline (Friday 28 June 2024): escalations are due.
AFTER_ESCALATION = datetime(2024, 7, 4, 9, 0, tzinfo=UTC)
FUTURE_YEAR = datetime.now(UTC).year + 3


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def relay_settings(tmp_path: Path, port: int) -> Settings:
    return Settings(
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=3,
        webhook_timeout_seconds=3,
        outbox_lease_seconds=6,
        KVALITET_DATA_DIR=tmp_path,
    )


def deliver(engine: Engine, sink: SmtpSink, tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, sink.port)
    report = deliver_outbox_batch(
        engine, transport=SmtpTransport(settings), settings=settings, worker="relay", limit=500
    )
    assert report.errors == [] and report.failed == 0


def register(
    engine: Engine,
    *,
    unit: str = "Ungdomsjouren",
    contact: str | None = None,
    coordinator: str | None = None,
    escalation: str | None = None,
    year: int = 2024,
) -> tuple[int, int, int]:
    """(organisation id, unit id, entry id): a city-run unit's entry, addressed as told."""
    with transaction(engine) as session:
        has_cycle = session.exec(select(Cycle)).first() is not None
    if not has_cycle:
        seed_cycle(engine, year)
    with transaction(engine) as session:
        organisation = services.create_organisation(
            session,
            name=f"Förvaltningen för {unit}",
            kind="forvaltning",
            board="Socialnämnden",
            coordinator_email=coordinator,
            escalation_email=escalation,
        )
        created = services.create_unit(
            session,
            services.UnitCreate(
                organisation_id=organisation.id or 0,
                name=unit,
                staff_count=12,
                manager_has_budget_and_staff_responsibility=True,
                has_business_plan=True,
                share_stockholm_residents=0.9,
                budget_in_balance=True,
                privately_run=False,
                contact_email=contact,
            ),
        )
        entry = services.create_entry(
            session,
            unit_id=created.id or 0,
            year=year,
            award_class="socialtjanst",
            actor="test",
            now=NOW,
        )
        return organisation.id or 0, created.id or 0, entry.id or 0


def outbox(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def arrived(sink: SmtpSink, message: OutboxMessage) -> list[EmailMessage]:
    wanted = message_id_for(message.key, DOMAIN)
    return [m for m in sink.messages if str(m["Message-ID"]) == wanted]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def test_a_unit_without_an_address_is_written_to_through_its_coordinator(
    engine: Engine, sink: SmtpSink, tmp_path: Path
) -> None:
    """The receipt meant for the unit reaches the coordinator, the notice first; the agenda
    request, the coordinator's own, says nothing of it."""
    register(engine, contact=None, coordinator="samordnare@social.example.se")
    messages = {m.kind: m for m in outbox(engine)}
    receipt, agenda = messages["notification_receipt"], messages["agenda_request"]
    assert (receipt.status, receipt.recipient) == ("queued", "samordnare@social.example.se")
    assert receipt.payload["unit_unreachable"] is True
    assert agenda.payload["unit_unreachable"] is False

    deliver(engine, sink, tmp_path)

    (mail,) = arrived(sink, receipt)
    assert mail["To"] == "samordnare@social.example.se"
    text = text_of(mail)
    assert text.lstrip().startswith(f"{NOTICE} Ungdomsjouren.")
    assert "vidarebefordra det gärna till enhetens chef" in text
    assert NOTICE in html_of(mail)
    assert html_of(mail).index(NOTICE) < html_of(mail).index("Hej!")
    (request,) = arrived(sink, agenda)
    assert NOTICE not in text_of(request)
    assert sink.envelope_recipients[str(mail["Message-ID"])] == ["samordnare@social.example.se"]


def test_mail_nobody_can_receive_waits_and_goes_once_when_an_address_is_set(
    database_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """No unit address and no coordinator: the receipt and the agenda request are kept as
    undeliverable (in `kvalitet status` and on the admin's "Att göra"), never sent by the
    running relay; the unit's address set over the API sends the receipt to the unit, the
    coordinator's sends the agenda request, each exactly once under its own Message-ID."""
    live = start_server(database_url, tmp_path, broker_url=redis_url)
    server = next(live)
    engine = make_engine(database_url)
    worker = Worker(worker_env(database_url, redis_url, sink.port, tmp_path), tmp_path / "w.log")
    try:
        # A year still to come: the running worker's sweep finds no reminder due.
        organisation_id, unit_id, _ = register(engine, year=FUTURE_YEAR)
        kept = {m.kind: m for m in outbox(engine)}
        assert {m.status for m in kept.values()} == {"undeliverable"}
        assert {m.recipient for m in kept.values()} == {""}

        status = server.cli("status")
        assert "Utan mottagare:       2" in status
        assert "undeliverable 2" in status
        with transaction(engine) as session:
            cycle = session.exec(select(Cycle)).one()
            admin = Actor(user_id=1, name="kansliet", role=Role.ADMIN)
            todo = todo_for(session, admin, cycle, today=datetime.now(UTC).date())
        waiting = [t for t in todo.items if t.task == "Utskick väntar på en e-postadress"]
        assert [(t.subject, t.url) for t in waiting] == [
            ("2 utskick", "/outbox?status=undeliverable")
        ]

        worker.start()  # its relay runs every second, and finds nothing to send
        assert not wait_until(lambda: len(sink.messages) > 0, timeout=4)

        token = server.user("kansliet", "admin")
        with server.client(token) as api:
            waiting_ids = sorted(m.id for m in kept.values())
            listed = api.get("/api/v1/outbox", params={"status": "undeliverable"})
            assert sorted(m["id"] for m in listed.json()) == waiting_ids, listed.text
            assert all(m["to"] == "" for m in listed.json())
            cli_listed = server.cli("outbox", "list", "--status", "undeliverable", "--json")
            assert sorted(m["id"] for m in json.loads(cli_listed)) == waiting_ids
            answer = api.patch(
                f"/api/v1/units/{unit_id}",
                json={"contact_email": "chef@jouren.example.se", "note": "Ny chef"},
            )
            assert answer.status_code == 200, answer.text
            receipt = kept["notification_receipt"]
            assert wait_until(lambda: len(arrived(sink, receipt)) == 1, timeout=30)
            (mail,) = arrived(sink, receipt)
            assert mail["To"] == "chef@jouren.example.se"
            assert NOTICE not in text_of(mail)
            agenda = kept["agenda_request"]
            assert arrived(sink, agenda) == []
            assert {m.kind: m.status for m in outbox(engine)}["agenda_request"] == "undeliverable"

            answer = api.patch(
                f"/api/v1/organisations/{organisation_id}",
                json={"coordinator_email": "samordnare@social.example.se"},
            )
            assert answer.status_code == 200, answer.text
            assert wait_until(lambda: len(arrived(sink, agenda)) == 1, timeout=30)
            assert arrived(sink, agenda)[0]["To"] == "samordnare@social.example.se"

        wait_until(lambda: False, timeout=3)  # time for a duplicate to show, if one would
        assert sorted(sink.ids().values()) == [1, 1]
        assert {m.status for m in outbox(engine)} == {"sent"}
        with transaction(engine) as session:
            readdressed = session.exec(
                select(AuditEvent).where(AuditEvent.action == "readdressed")
            ).all()
        assert sorted((e.subject_id, e.changes["recipient"][1]) for e in readdressed) == sorted(
            [
                (receipt.id, "chef@jouren.example.se"),
                (agenda.id, "samordnare@social.example.se"),
            ]
        )
        assert "Utan mottagare:       0" in server.cli("status")
    finally:
        worker.stop()
        engine.dispose()
        live.close()


def test_a_coordinator_set_later_carries_the_notice_for_a_unit_still_without_address(
    engine: Engine, sink: SmtpSink, tmp_path: Path
) -> None:
    """Set through the service the setup pages and CLI use: the receipt kept for the unit goes
    to the new coordinator, saying the unit has no address."""
    organisation_id, _, _ = register(engine)
    with transaction(engine) as session:
        registry.update_organisation(
            session,
            organisation_id=organisation_id,
            now=NOW,
            coordinator_email="samordnare@social.example.se",
        )
    messages = {m.kind: m for m in outbox(engine)}
    assert {m.status for m in messages.values()} == {"queued"}
    deliver(engine, sink, tmp_path)
    (mail,) = arrived(sink, messages["notification_receipt"])
    assert mail["To"] == "samordnare@social.example.se"
    assert text_of(mail).lstrip().startswith(NOTICE)


def escalations(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        reminders.sweep_due_reminders(session, now=AFTER_ESCALATION, limit=1000)
    return [
        m
        for m in outbox(engine)
        if m.kind == "escalation" and m.payload["deadline_kind"] == "extract"
    ]


def test_an_overdue_extract_escalates_to_the_escalation_contact_with_the_coordinator_in_copy(
    engine: Engine, sink: SmtpSink, tmp_path: Path
) -> None:
    register(
        engine,
        contact="chef@jouren.example.se",
        coordinator="samordnare@social.example.se",
        escalation="registrator@social.example.se",
    )
    (escalation,) = escalations(engine)
    assert escalation.recipient == "registrator@social.example.se"
    deliver(engine, sink, tmp_path)

    (mail,) = arrived(sink, escalation)
    assert mail["Message-ID"] == message_id_for(escalation.key, DOMAIN)
    assert mail["To"] == "registrator@social.example.se"
    assert mail["Cc"] == "samordnare@social.example.se"
    assert sink.envelope_recipients[str(mail["Message-ID"])] == [
        "registrator@social.example.se",
        "samordnare@social.example.se",
    ]
    text = " ".join(text_of(mail).split())
    assert "Vi vänder oss till er som samordnare" not in text
    assert "Ungdomsjouren" in text and "Förvaltningen för Ungdomsjouren" in text
    assert "senast den 28 juni 2024" in text
    assert "protokollsutdrag" in text and "Socialnämnden" in text
    assert "föredragningslistan" in text
    assert "Kvalitetsutmärkelsens kansli" not in text


def test_without_an_escalation_contact_the_award_office_hears_with_the_coordinator_in_copy(
    engine: Engine, sink: SmtpSink, tmp_path: Path
) -> None:
    register(engine, contact="chef@jouren.example.se", coordinator="samordnare@social.example.se")
    (escalation,) = escalations(engine)
    deliver(engine, sink, tmp_path)

    (mail,) = arrived(sink, escalation)
    office = "kvalitetsutmarkelsen@stockholm.se"
    assert (mail["To"], mail["Cc"]) == (office, "samordnare@social.example.se")
    assert sink.envelope_recipients[str(mail["Message-ID"])] == [
        office,
        "samordnare@social.example.se",
    ]
    assert "Kvalitetsutmärkelsens kansli" in text_of(mail)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def test_an_undeliverable_message_cannot_be_retried_but_can_be_cancelled(
    sqlite_engine: Engine,
) -> None:
    """A retry would send it nowhere: refused in Swedish; cancelling it keeps it from going
    out once an address is set."""
    from workflow.domain.errors import InvalidInput
    from workflow.outbox import retry_message
    from workflow.outbox.control import MessageFilter, act_on_messages

    _, unit_id, _ = register(sqlite_engine)
    receipt, agenda = outbox(sqlite_engine)
    with transaction(sqlite_engine) as session, pytest.raises(InvalidInput) as refused:
        retry_message(session, receipt.id or 0, now=NOW)
    assert "har ingen mottagare" in str(refused.value.reasons[0].message)
    with transaction(sqlite_engine) as session:
        done = act_on_messages(
            session, "cancel", MessageFilter(ids=(receipt.id or 0,)), actor="kansliet", now=NOW
        )
    assert done.changed == [receipt.id]
    with transaction(sqlite_engine) as session:
        registry.update_unit(
            session,
            unit_id=unit_id,
            now=NOW,
            changes={"contact_email": "chef@jouren.example.se"},
            note="Ny chef",
        )
    assert [m.status for m in outbox(sqlite_engine)] == ["cancelled", "undeliverable"]
    assert agenda.status == "undeliverable"


def test_of_the_reminders_kept_for_one_deadline_only_the_latest_goes_once_reachable(
    engine: Engine,
) -> None:
    """Kept since April with nobody to send to, then an address set in July: the unit gets its
    contribution's overdue notice, not also four stale "days left" reminders; the coordinator
    likewise the extract's. An extract escalation reached the award office all along."""
    organisation_id, unit_id, _ = register(engine)
    (escalation,) = escalations(engine)
    assert (escalation.status, escalation.recipient) == (
        "queued",
        "kvalitetsutmarkelsen@stockholm.se",
    )
    assert "cc" not in escalation.payload  # no coordinator to copy

    def queued(deadline_kind: str) -> list[str]:
        return [
            m.kind
            for m in outbox(engine)
            if m.status == "queued" and m.payload.get("deadline_kind") == deadline_kind
        ]

    with transaction(engine) as session:
        registry.update_unit(
            session,
            unit_id=unit_id,
            now=AFTER_ESCALATION,
            changes={"contact_email": "chef@jouren.example.se"},
            note="Ny chef",
        )
    assert queued("contribution") == ["overdue"]
    with transaction(engine) as session:
        registry.update_organisation(
            session,
            organisation_id=organisation_id,
            now=AFTER_ESCALATION,
            coordinator_email="samordnare@social.example.se",
        )
    assert sorted(queued("contribution")) == ["escalation", "overdue"]
    assert sorted(queued("extract")) == ["escalation", "overdue"]
    cancelled = [m for m in outbox(engine) if m.status == "cancelled"]
    assert len(cancelled) == 8 and {m.kind for m in cancelled} == {"reminder"}
    assert {m.status for m in outbox(engine)} == {"queued", "cancelled"}

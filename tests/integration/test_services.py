"""Use cases on a real database, each test run on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from tests.conftest import MINIMAL_PDF, NOW, attach_extract, seed_cycle, seed_entry, seed_unit
from workflow import db, services
from workflow.db import transaction
from workflow.domain.access import Actor, Role
from workflow.domain.errors import (
    Conflict,
    Forbidden,
    Ineligible,
    InvalidInput,
    NotFound,
    StaleVersion,
    TransitionRefused,
    WorkflowError,
)
from workflow.emails import OutgoingEmail
from workflow.models import Cycle, Entry, HistoryEvent, OutboxMessage, Unit
from workflow.queries import entries as queries
from workflow.settings import Settings

BOARD = {"decision": "approved", "meeting_date": "2024-06-10", "paragraph": "§ 12"}


def advance(engine: Engine, entry_id: int, target: str, version: int, **data: str) -> Entry:
    if target == "extract_sent":
        attach_extract(engine, entry_id)
    with transaction(engine) as session:
        return services.advance_entry(
            session,
            entry_id=entry_id,
            target=target,
            version=version,
            actor="handläggare",
            now=NOW + timedelta(hours=version),
            data=data,
            # The state machine's path the jury's announcement takes (services/jury.py).
            announcement=target == "jury",
        )


def snapshot(engine: Engine, entry_id: int) -> tuple[str, int, int, int]:
    """What a refusal must leave untouched: stage, version, history and outbox sizes."""
    with transaction(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        history = session.exec(select(HistoryEvent).where(HistoryEvent.entry_id == entry_id)).all()
        outbox = session.exec(select(OutboxMessage).where(OutboxMessage.entry_id == entry_id)).all()
        return entry.stage, entry.version, len(history), len(outbox)


def test_new_entry_is_notified_with_history_and_outbox(engine: Engine) -> None:
    """Creating an entry records who notified it and queues the receipt and agenda request."""
    entry = seed_entry(engine)
    assert entry.id is not None
    with transaction(engine) as session:
        history = queries.entry_history(session, entry.id)
        outbox = session.exec(select(OutboxMessage).order_by(OutboxMessage.kind)).all()
    assert [(e["from"], e["to"], e["actor"], e["version"]) for e in history] == [
        (None, "notified", "test", 1)
    ]
    assert [(m.kind, m.recipient, m.status) for m in outbox] == [
        ("agenda_request", "samordnare@example.se", "queued"),
        ("notification_receipt", "chef@example.se", "queued"),
    ]


def agenda_requests(engine: Engine) -> list[tuple[str, str]]:
    with transaction(engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "agenda_request")
        ).all()
        return [(row.key, row.payload["unit"]) for row in rows]


def test_one_agenda_request_per_organisation_and_year(engine: Engine) -> None:
    """The board takes up one case a year for all its units: the second unit of the same
    förvaltning that registers sends the coordinator no second copy of the same draft."""
    first = seed_entry(engine)
    seed_entry(engine, name="LSS/SoL-hälsan")
    with transaction(engine) as session:
        organisation_id = session.exec(select(Unit.organisation_id)).first()
    assert agenda_requests(engine) == [(f"agenda/{organisation_id}/2024", "Ungdomsjouren")]
    seed_entry(engine, name="Hemtjänsten", organisation="Bromma stadsdelsförvaltning")
    assert len(agenda_requests(engine)) == 2  # another organisation: its own request
    with transaction(engine) as session:
        receipts = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "notification_receipt")
        ).all()
    assert len(receipts) == 3  # every unit still gets its own receipt
    assert first.id is not None


def test_no_agenda_request_once_the_extract_deadline_has_passed(engine: Engine) -> None:
    """A unit registered after the year's extract deadline (28 June) asks no board for a
    decision the award office no longer waits for; the day itself still does."""
    seed_cycle(engine)
    late = seed_unit(engine)
    on_the_day = seed_unit(engine, name="Sista dagen", organisation="Bromma stadsdelsförvaltning")
    with transaction(engine) as session:
        for unit_id, when in (
            (late, datetime(2024, 6, 28, 22, 30, tzinfo=UTC)),  # 29 June in Stockholm
            (on_the_day, datetime(2024, 6, 28, 21, 30, tzinfo=UTC)),  # 23.30 on 28 June
        ):
            services.create_entry(
                session, unit_id=unit_id, year=2024, award_class="socialtjanst", actor="t", now=when
            )
    assert [unit for _, unit in agenda_requests(engine)] == ["Sista dagen"]


def test_two_registrations_at_once_queue_one_agenda_request(engine: Engine) -> None:
    """The agenda request's key names the organisation and year; a second insert of it (two
    registrations whose checks both found none) writes nothing and refuses nothing."""
    from workflow.writes import EntryChange, apply_change

    entry = seed_entry(engine)
    with transaction(engine) as session:
        (row,) = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "agenda_request")
        ).all()
        again = {
            column: getattr(row, column)
            for column in ("key", "entry_id", "channel", "kind", "recipient", "payload", "status")
        } | {"due_at": NOW, "created_at": NOW}
        change = EntryChange(
            entry_id=entry.id or 0, seen_version=None, stage="notified", version=1, facts={},
            pending={}, at=NOW, history=[], outbox=[again],
        )  # fmt: skip
        assert apply_change(session, change)
    assert len(agenda_requests(engine)) == 1


def test_city_run_entry_walks_every_stage_to_jury(engine: Engine) -> None:
    """A city-run entry passes all seven stages, each audited with actor, time and data."""
    entry = seed_entry(engine)
    assert entry.id is not None
    steps = [
        ("board_decision", BOARD),
        ("extract_sent", {"sent_on": "2024-06-20"}),
        ("submitted", {"submitted_on": "2024-05-17"}),
        ("examined", {"site_visit_on": "2024-09-03"}),
        ("feedback", {"strengths": "Tydliga mål", "development_areas": "Uppföljning"}),
        ("jury", {"outcome": "winner"}),
    ]
    for version, (target, data) in enumerate(steps, start=1):
        entry = advance(engine, entry.id, target, version, **data)  # type: ignore[arg-type]
    assert (entry.stage, entry.version) == ("jury", 7)
    with transaction(engine) as session:
        history = queries.entry_history(session, entry.id)  # type: ignore[arg-type]
    assert [e["to"] for e in history] == [
        "notified",
        "board_decision",
        "extract_sent",
        "submitted",
        "examined",
        "feedback",
        "jury",
    ]
    assert history[1]["data"] == BOARD
    assert history[1]["actor"] == "handläggare"


def test_stale_version_is_refused_and_changes_nothing(engine: Engine) -> None:
    """A change based on an old version is a conflict; stage, history and outbox stay."""
    entry = seed_entry(engine)
    assert entry.id is not None
    advance(engine, entry.id, "board_decision", 1, **BOARD)
    before = snapshot(engine, entry.id)
    with pytest.raises(StaleVersion, match="version 1"):
        advance(engine, entry.id, "extract_sent", 1)
    assert snapshot(engine, entry.id) == before


def test_refused_transition_names_reason_and_changes_nothing(engine: Engine) -> None:
    """Skipping stages is refused with the allowed targets named; nothing is written."""
    entry = seed_entry(engine)
    assert entry.id is not None
    before = snapshot(engine, entry.id)
    with pytest.raises(TransitionRefused) as refused:
        advance(engine, entry.id, "examined", 1, site_visit_on="2024-09-03")
    assert refused.value.reasons[0].code == "transition_not_allowed"
    assert "board_decision" in refused.value.reasons[0].message
    assert snapshot(engine, entry.id) == before


def test_privately_run_unit_goes_straight_to_submitted(engine: Engine) -> None:
    """An enskilt driven unit has no board: notified → submitted, no agenda request."""
    entry = seed_entry(engine, name="Privata förskolan", privately_run=True)
    assert entry.id is not None
    with pytest.raises(TransitionRefused) as refused:
        advance(engine, entry.id, "board_decision", 1, **BOARD)
    assert refused.value.reasons[0].code == "privately_run_skips_board"
    entry = advance(engine, entry.id, "submitted", 1, submitted_on="2024-05-16")
    assert (entry.stage, entry.version) == ("submitted", 2)
    with transaction(engine) as session:
        kinds = {m.kind for m in session.exec(select(OutboxMessage)).all()}
    assert "agenda_request" not in kinds
    assert "contribution_receipt" in kinds


def test_contribution_before_board_meeting_is_kept_then_completes(engine: Engine) -> None:
    """A contribution arriving before the board met is kept; the entry reaches submitted by
    itself when the extract is sent, and the receipt is sent once, when it arrived."""
    entry = seed_entry(engine)
    assert entry.id is not None
    entry = advance(engine, entry.id, "submitted", 1, submitted_on="2024-05-17")
    assert (entry.stage, entry.version) == ("notified", 2)
    assert entry.pending == {"submitted": {"submitted_on": "2024-05-17"}}
    entry = advance(engine, entry.id, "board_decision", 2, **BOARD)
    entry = advance(engine, entry.id, "extract_sent", 3, sent_on="2024-06-20")
    assert (entry.stage, entry.version, entry.pending) == ("submitted", 5, {})
    with transaction(engine) as session:
        history = queries.entry_history(session, entry.id)  # type: ignore[arg-type]
        receipts = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "contribution_receipt")
        ).all()
    assert [(e["from"], e["to"]) for e in history][-2:] == [
        ("board_decision", "extract_sent"),
        ("extract_sent", "submitted"),
    ]
    assert history[-1]["data"] == {"submitted_on": "2024-05-17"}
    assert len(receipts) == 1


def test_ineligible_unit_names_every_failing_rule(engine: Engine) -> None:
    """A unit with four staff and no business plan is refused with both rules; no entry."""
    seed_cycle(engine)
    with transaction(engine) as session:
        org = services.create_organisation(
            session, name="Bromma stadsdelsförvaltning", kind="forvaltning", board="Bromma sdn"
        )
        unit = services.create_unit(
            session,
            services.UnitCreate(
                organisation_id=org.id or 0,
                name="Liten enhet",
                staff_count=4,
                manager_has_budget_and_staff_responsibility=True,
                has_business_plan=False,
                share_stockholm_residents=0.4,
                budget_in_balance=True,
                privately_run=False,
            ),
        )
    with pytest.raises(Ineligible) as refused, transaction(engine) as session:
        services.create_entry(
            session, unit_id=unit.id or 0, year=2024, award_class="skola", actor="t", now=NOW
        )
    codes = {r.code for r in refused.value.reasons}
    assert codes == {"business_plan", "staff_count", "share_stockholm_residents"}
    with transaction(engine) as session:
        assert queries.count_rows(session, Entry) == 0


def test_winner_without_budget_in_balance_is_refused(engine: Engine) -> None:
    """The jury cannot name a winner whose budget is not in balance; not_awarded is fine."""
    entry = seed_entry(engine, budget_in_balance=False)
    assert entry.id is not None
    steps = [
        ("board_decision", BOARD),
        ("extract_sent", {}),
        ("submitted", {}),
        ("examined", {"site_visit_on": "2024-09-03"}),
        ("feedback", {"strengths": "a", "development_areas": "b"}),
    ]
    for version, (target, data) in enumerate(steps, start=1):
        advance(engine, entry.id, target, version, **data)
    with pytest.raises(TransitionRefused) as refused:
        advance(engine, entry.id, "jury", 6, outcome="winner")
    assert refused.value.reasons[0].code == "winner_budget_in_balance"
    assert advance(engine, entry.id, "jury", 6, outcome="not_awarded").stage == "jury"


def test_history_is_append_only_in_the_database(engine: Engine) -> None:
    """Even a direct UPDATE or DELETE on the history is refused by the database."""
    entry = seed_entry(engine)
    for statement in ("UPDATE history_event SET actor = 'x'", "DELETE FROM history_event"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with transaction(engine) as session:
        assert queries.entry_history(session, entry.id or 0)[0]["actor"] == "test"


def test_duplicate_entry_is_a_conflict(engine: Engine) -> None:
    """A unit takes part in a cycle once; a second notification is a conflict."""
    entry = seed_entry(engine)
    with pytest.raises(Conflict), transaction(engine) as session:
        services.create_entry(
            session, unit_id=entry.unit_id, year=2024, award_class="skola", actor="t", now=NOW
        )


def test_cycle_with_deadlines_out_of_order_is_refused(engine: Engine) -> None:
    """A contribution deadline after the extract deadline is refused; no cycle is stored."""
    with pytest.raises(InvalidInput) as refused, transaction(engine) as session:
        services.create_cycle(
            session,
            year=2025,
            contribution_deadline=date(2025, 7, 1),
            extract_deadline=date(2025, 6, 28),
            winners_date=date(2025, 11, 25),
        )
    assert refused.value.reasons[0].code == "deadlines_out_of_order"
    with transaction(engine) as session:
        assert session.exec(select(Cycle)).all() == []


def test_unknown_entry_and_stage_are_named(engine: Engine) -> None:
    """Asking for an entry that does not exist, or a stage that does not, is refused clearly."""
    entry = seed_entry(engine)
    with pytest.raises(NotFound, match="4711"):
        advance(engine, 4711, "board_decision", 1, **BOARD)
    with pytest.raises(InvalidInput, match="Okänt steg 'granskad'"):
        advance(engine, entry.id or 0, "granskad", 1)


def test_unit_import_stores_all_rows_or_none(engine: Engine) -> None:
    """One bad row among good ones stores nothing; the error names the row."""
    seed_unit(engine, name="Befintlig")
    good = services.UnitCreate(
        organisation_id=1,
        name="Ny enhet",
        staff_count=6,
        manager_has_budget_and_staff_responsibility=True,
        has_business_plan=True,
        share_stockholm_residents=1.0,
        budget_in_balance=True,
        privately_run=False,
    )
    bad = services.UnitCreate(**{**good.__dict__, "name": "Fel", "share_stockholm_residents": 7.0})
    with pytest.raises(InvalidInput, match="Rad 3") as refused, transaction(engine) as session:
        services.import_units(session, [(2, good), (3, bad)])
    assert len(refused.value.reasons) == 1
    with transaction(engine) as session:
        assert [u.name for u in session.exec(select(Unit)).all()] == ["Befintlig"]


def test_extract_cannot_be_sent_without_the_pdf(engine: Engine) -> None:
    """Marking the extract sent needs the uploaded minutes extract; a non-PDF is refused."""
    entry = seed_entry(engine)
    assert entry.id is not None
    advance(engine, entry.id, "board_decision", 1, **BOARD)
    before = snapshot(engine, entry.id)
    with pytest.raises(TransitionRefused) as refused, transaction(engine) as session:
        services.advance_entry(
            session, entry_id=entry.id, target="extract_sent", version=2, actor="t", now=NOW
        )
    assert refused.value.reasons[0].code == "extract_missing"
    with pytest.raises(InvalidInput, match="PDF"), transaction(engine) as session:
        services.attach_document(
            session,
            entry_id=entry.id,
            kind="extract",
            filename="x.docx",
            data=b"PK\x03\x04",
            actor="t",
            now=NOW,
        )
    assert snapshot(engine, entry.id) == before


@pytest.mark.parametrize(
    ("uploaded", "stored"),
    [
        ("../../etc/protokoll.pdf", "protokoll.pdf"),
        ("C:\\Users\\eva\\Protokoll §5.pdf", "Protokoll §5.pdf"),
        ("protokoll\u202efdp.exe", "protokollfdp.exe"),  # would read as "protokollexe.pdf"
        ("proto\x7fkoll\x1b.pdf", "protokoll.pdf"),
        ("x" * 3000 + ".pdf", "x" * 196 + ".pdf"),
        ("\u2028", "extract.pdf"),
    ],
)
def test_an_uploaded_files_name_is_kept_safe(engine: Engine, uploaded: str, stored: str) -> None:
    """The same for the API, the web form and the CLI: no folders, no control or
    bidirectional characters, at most 200 characters with the ending kept."""
    entry = seed_entry(engine)
    assert entry.id is not None
    with transaction(engine) as session:
        document = services.attach_document(
            session,
            entry_id=entry.id,
            kind="extract",
            filename=uploaded,
            data=MINIMAL_PDF,
            actor="t",
            now=NOW,
        )
    assert document.filename == stored


def test_extract_message_carries_the_pdf(engine: Engine) -> None:
    """The e-mail to the award office names the uploaded extract as its attachment."""
    entry = seed_entry(engine)
    assert entry.id is not None
    advance(engine, entry.id, "board_decision", 1, **BOARD)
    advance(engine, entry.id, "extract_sent", 2)
    with transaction(engine) as session:
        message = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "extract_to_award_office")
        ).one()
    assert message.recipient == "kvalitetsutmarkelsen@stockholm.se"
    assert len(message.payload["attachments"]) == 1


def test_site_visit_is_booked_and_announced(engine: Engine) -> None:
    """Booking the site visit of a submitted entry is audited and e-mails the unit; before
    the contribution is in it is refused."""
    entry = seed_entry(engine, privately_run=True, name="Privat")
    assert entry.id is not None
    with pytest.raises(TransitionRefused), transaction(engine) as session:
        services.schedule_site_visit(
            session, entry_id=entry.id, version=1, on=date(2024, 9, 3), actor="t", now=NOW
        )
    advance(engine, entry.id, "submitted", 1)
    with transaction(engine) as session:
        booked = services.schedule_site_visit(
            session, entry_id=entry.id, version=2, on=date(2024, 9, 3), actor="examinator", now=NOW
        )
        notice = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "site_visit_notice")
        ).one()
        history = queries.entry_history(session, entry.id)
    assert (booked.stage, booked.version) == ("submitted", 3)
    assert notice.payload["site_visit_on"] == "2024-09-03"
    assert notice.payload["examiners"] == []  # none assigned yet: the notice names nobody
    assert (history[-1]["from"], history[-1]["to"], history[-1]["actor"]) == (
        "submitted",
        "submitted",
        "examinator",
    )


def test_the_site_visit_notice_names_the_assigned_examiners(engine: Engine) -> None:
    """The unit learns who is coming: the examiners assigned when the visit is booked."""
    from workflow.emails import render_email

    entry = seed_entry(engine, privately_run=True, name="Privat")
    assert entry.id is not None
    advance(engine, entry.id, "submitted", 1)
    with transaction(engine) as session:
        elsewhere = services.create_organisation(
            session, name="Bromma stadsdelsförvaltning", kind="forvaltning", board="Bromma sdn"
        )
        for name in ("Åsa Öberg", "Bo Ek"):
            examiner = services.create_user(
                session, name=name, role="examiner", now=NOW, organisation_id=elsewhere.id
            ).user
            services.assign_examiner(
                session, entry_id=entry.id, examiner_id=examiner.id or 0, assigned_by="t", now=NOW
            )
        services.schedule_site_visit(
            session, entry_id=entry.id, version=2, on=date(2024, 9, 3), actor="t", now=NOW
        )
        notice = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "site_visit_notice")
        ).one()
    assert notice.payload["examiners"] == ["Bo Ek", "Åsa Öberg"]
    message = render_email(
        "site_visit_notice", to=notice.recipient, context=notice.payload, key=notice.key,
        date=NOW, settings=Settings(public_url="https://kvalitet.stockholm.se"),
    )  # fmt: skip
    text = " ".join(str(message.get_body(("plain",)).get_content()).split())  # type: ignore[union-attr]
    assert "Examinatorer: Bo Ek och Åsa Öberg" in text
    assert "arbetar själva i staden" not in text
    assert f"Sidan för deltagandet: https://kvalitet.stockholm.se/entries/{entry.id}" in text


def test_a_site_visit_in_year_9999_is_refused_and_nothing_changes(engine: Engine) -> None:
    """A typo like 9999-12-31 would break every calendar feed the visit appears in."""
    entry = seed_entry(engine, privately_run=True, name="Privat")
    assert entry.id is not None
    advance(engine, entry.id, "submitted", 1)
    with pytest.raises(WorkflowError) as refused, transaction(engine) as session:
        services.schedule_site_visit(
            session, entry_id=entry.id, version=2, on=date(9999, 12, 31), actor="t", now=NOW
        )
    assert refused.value.reasons[0].code == "implausible_date"
    assert snapshot(engine, entry.id)[1] == 2  # version unchanged


def as_received(sent: OutgoingEmail) -> EmailMessage:
    """The relay's wire bytes as a mail client reads them."""
    message = BytesParser(policy=policy.default).parsebytes(sent.data)
    assert isinstance(message, EmailMessage)
    return message


def test_site_visit_notice_carries_a_calendar_invitation(engine: Engine) -> None:
    """The site-visit e-mail includes a METHOD:REQUEST invitation mail clients show as one."""
    from workflow.outbox import EMAIL

    entry = seed_entry(engine, privately_run=True, name="Privat")
    assert entry.id is not None
    advance(engine, entry.id, "submitted", 1)
    with transaction(engine) as session:
        services.schedule_site_visit(
            session, entry_id=entry.id, version=2, on=date(2024, 9, 3), actor="t", now=NOW
        )
        notice = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "site_visit_notice")
        ).one()
        loaded = EMAIL.load(session, [notice])
    email = as_received(EMAIL.build(notice, loaded, Settings()))
    parts = {part.get_content_type(): part for part in email.walk()}
    assert "text/calendar" in parts
    assert parts["text/calendar"].get_param("method") == "REQUEST"
    assert "DTSTART;TZID=Europe/Stockholm:20240903T090000" in parts["text/calendar"].get_content()


def test_site_visit_hours_reach_the_invitation_the_e_mail_and_the_feed(engine: Engine) -> None:
    """Booked for 13:00–15:30: the invitation, the notice's text and the organisation's
    calendar feed all say so; hours that end before they start are refused, nothing kept."""
    from workflow import feeds
    from workflow.outbox import EMAIL

    entry = seed_entry(engine, privately_run=True, name="Privat")
    assert entry.id is not None
    advance(engine, entry.id, "submitted", 1)
    with pytest.raises(WorkflowError) as refused, transaction(engine) as session:
        services.schedule_site_visit(
            session,
            entry_id=entry.id,
            version=2,
            on=date(2024, 9, 3),
            actor="t",
            now=NOW,
            starts_at=time(15, 0),
            ends_at=time(13, 0),
        )
    assert refused.value.reasons[0].code == "site_visit_hours"
    assert snapshot(engine, entry.id)[1] == 2  # version unchanged
    with transaction(engine) as session:
        services.schedule_site_visit(
            session,
            entry_id=entry.id,
            version=2,
            on=date(2024, 9, 3),
            actor="t",
            now=NOW,
            starts_at=time(13, 0),
            ends_at=time(15, 30),
        )
        notice = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "site_visit_notice")
        ).one()
        loaded = EMAIL.load(session, [notice])
        organisation_id = session.get(Unit, entry.unit_id).organisation_id  # type: ignore[union-attr]
        feed = feeds.cycle_calendar(session, organisation_id=organisation_id, now=NOW).decode()
        history = queries.entry_history(session, entry.id)
    email = as_received(EMAIL.build(notice, loaded, Settings()))
    parts = {part.get_content_type(): part for part in email.walk()}
    invitation = parts["text/calendar"].get_content()
    assert "DTSTART;TZID=Europe/Stockholm:20240903T130000" in invitation
    assert "DTEND;TZID=Europe/Stockholm:20240903T153000" in invitation
    assert "den 3 september 2024 kl. 13.00–15.30" in parts["text/plain"].get_content()
    assert "DTSTART;TZID=Europe/Stockholm:20240903T130000" in feed
    assert history[-1]["data"] == {
        "site_visit_on": "2024-09-03",
        "starts_at": "13:00",
        "ends_at": "15:30",
    }


def test_agenda_request_carries_the_draft_board_report(engine: Engine) -> None:
    """The request to put the case on the board's agenda attaches the draft report (DOCX)."""
    from workflow.outbox import EMAIL

    seed_entry(engine)
    with transaction(engine) as session:
        request = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "agenda_request")
        ).one()
        loaded = EMAIL.load(session, [request])
    email = as_received(EMAIL.build(request, loaded, Settings()))
    attachments = [part for part in email.walk() if part.get_filename()]
    assert len(attachments) == 1
    assert attachments[0].get_filename().endswith(".docx")
    assert attachments[0].get_content().startswith(b"PK")  # a zip container, as DOCX is


def test_the_view_after_a_change_reads_nothing_again(engine: Engine) -> None:
    """The API answers a transition with the entry's view; it is built, after the commit, from
    the rows the change read, so the request costs no extra round trips to the database."""
    from sqlalchemy import event

    from workflow.entrypoints.http.deps import rows_of_change

    entry = seed_entry(engine, privately_run=True, name="Privat")
    assert entry.id is not None
    statements: list[str] = []

    def seen(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        statements.append(statement.split()[0].upper())

    with transaction(engine) as session:
        changed = services.advance_entry(
            session, entry_id=entry.id, target="submitted", version=1, actor="t", now=NOW
        )
        event.listen(engine, "before_cursor_execute", seen)
        try:
            rows = rows_of_change(session, changed)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    view = queries.view_of(*rows)
    assert view["stage"] == "submitted" and view["unit"] == "Privat"
    assert statements == []


def nudges_seen(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record every nudge of the relay, with how many queued messages a worker would see."""
    seen: list[int] = []

    def record() -> bool:
        with transaction(engine) as other:  # another connection: only what is committed
            seen.append(len(other.exec(select(OutboxMessage)).all()))
        return True

    monkeypatch.setattr(db, "_outbox_committed", [])  # this test's hook alone
    db.when_outbox_committed(record)
    return seen


def decide_on_board(session: Session, entry: Entry) -> None:
    """A change that queues an e-mail (the decision, to the coordinator)."""
    services.advance_entry(
        session,
        entry_id=entry.id or 0,
        target="board_decision",
        version=entry.version,
        actor="handläggare",
        now=NOW,
        data=BOARD,
    )


def test_a_transaction_that_queues_a_message_nudges_once_after_commit(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nudge comes once, after the commit: the worker it wakes finds the messages there."""
    entry = seed_entry(engine)
    seen = nudges_seen(engine, monkeypatch)
    with transaction(engine) as session:
        decide_on_board(session, entry)
        assert seen == []  # nothing before the commit
    with transaction(engine) as session:
        queued = len(session.exec(select(OutboxMessage)).all())
    assert seen == [queued]


def test_a_rolled_back_transaction_does_not_nudge(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages that were never committed are nobody's to deliver: no nudge."""
    entry = seed_entry(engine)
    seen = nudges_seen(engine, monkeypatch)
    with pytest.raises(RuntimeError), transaction(engine) as session:
        decide_on_board(session, entry)
        raise RuntimeError("the caller fails after the change")
    with transaction(engine) as session:  # a later commit that queues nothing stays quiet
        session.get(Entry, entry.id)
    assert seen == []


def people_of(engine: Engine, entry: Entry) -> tuple[Actor, Actor, Actor]:
    """The entry's own coordinator and unit contact, and another organisation's coordinator."""
    with transaction(engine) as session:
        unit = session.get_one(Unit, entry.unit_id)
    own = Actor(1, "samordnare", Role.COORDINATOR, organisation_id=unit.organisation_id)
    contact = Actor(2, "chef", Role.UNIT_CONTACT, unit.organisation_id, unit_id=unit.id)
    other = Actor(3, "annan", Role.COORDINATOR, organisation_id=unit.organisation_id + 1000)
    return own, contact, other


def move_as(engine: Engine, entry: Entry, acting: Actor, target: str = "board_decision") -> Entry:
    with transaction(engine) as session:
        return services.advance_entry(
            session,
            entry_id=entry.id or 0,
            target=target,
            version=entry.version,
            actor=acting.name,
            now=NOW,
            # A person acting records a meeting already held (before NOW), never a future one.
            data={**BOARD, "meeting_date": "2024-03-28"},
            acting=acting,
        )


def test_a_move_the_actors_role_may_not_make_is_forbidden(engine: Engine) -> None:
    """The use case checks who acts: a unit contact records no board decision."""
    entry = seed_entry(engine)
    _, contact, _ = people_of(engine, entry)
    before = snapshot(engine, entry.id or 0)
    with pytest.raises(Forbidden):
        move_as(engine, entry, contact)
    assert snapshot(engine, entry.id or 0) == before


def test_an_entry_the_actor_may_not_see_is_not_found(engine: Engine) -> None:
    """Another organisation's entry answers as one that does not exist: nothing leaks."""
    entry = seed_entry(engine)
    _, _, other = people_of(engine, entry)
    with pytest.raises(NotFound):
        move_as(engine, entry, other)
    with pytest.raises(NotFound):
        move_as(engine, Entry(id=2**40, version=1), other)  # beyond any id: not looked up


def test_the_entrys_own_coordinator_may_move_it(engine: Engine) -> None:
    """The same check lets through whom the access table lets through."""
    entry = seed_entry(engine)
    own, _, _ = people_of(engine, entry)
    assert move_as(engine, entry, own).stage == "board_decision"


def test_a_person_cannot_record_a_board_meeting_not_yet_held(engine: Engine) -> None:
    """Acting through the web or the API, a meeting date after today (Stockholm) is refused
    with its reason, and nothing changes."""
    entry = seed_entry(engine)
    own, _, _ = people_of(engine, entry)
    with pytest.raises(TransitionRefused) as refused, transaction(engine) as session:
        services.advance_entry(
            session,
            entry_id=entry.id or 0,
            target="board_decision",
            version=entry.version,
            actor=own.name,
            now=NOW,
            data=BOARD,  # 10 June, after NOW (2 April)
            acting=own,
        )
    assert refused.value.reasons[0].code == "date_in_future"


def test_booking_a_site_visit_is_for_whoever_may_record_the_examination(engine: Engine) -> None:
    """One rule for every entrypoint: the examination's movers book its visit."""
    entry = seed_entry(engine, privately_run=True)
    entry = advance(engine, entry.id or 0, "submitted", entry.version)
    own, _, _ = people_of(engine, entry)
    with pytest.raises(Forbidden), transaction(engine) as session:
        services.schedule_site_visit(
            session,
            entry_id=entry.id or 0,
            version=entry.version,
            on=date(2024, 9, 3),
            actor=own.name,
            now=NOW,
            acting=own,
        )

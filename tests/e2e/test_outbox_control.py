"""The award office holds, edits, releases and cancels e-mails while a real relay is sending
(real worker, Redis, SMTP sink counting by Message-ID), and over the API, CLI and pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW
from tests.e2e.browser import (
    axe_violations,
    describe_violations,
)
from tests.e2e.support import (  # noqa: F401  (redis_url is a fixture)
    SmtpSink,
    Worker,
    redis_url,
    wait_until,
    worker_env,
)
from tests.e2e.test_delivery import seed_entries, sqlite_engine  # noqa: F401 (a fixture)
from tests.e2e.test_web import (  # noqa: F401 (sqlite_world is a fixture)
    ADMIN,
    COORDINATOR,
    World,
    log_in,
    logged_in,
    sqlite_world,
)
from workflow.db import make_engine, transaction
from workflow.domain.errors import Conflict
from workflow.emails import message_id_for
from workflow.models import AuditEvent, OutboxMessage
from workflow.outbox.control import MessageFilter, act_on_messages, edit_message
from workflow.settings import Settings

DOMAIN = Settings().message_id_domain
EDITED_SUBJECT = "Kvalitetsutmärkelsen: ändrad tid för ert platsbesök"
EDITED_TEXT = "Hej!\n\nVi har flyttat platsbesöket till den 3 september.\n\nVänliga hälsningar"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def act(engine: Engine, action: str, wanted: MessageFilter) -> Any:
    with transaction(engine) as session:
        return act_on_messages(session, action, wanted, actor="kansliet", now=NOW)


def mid(message: OutboxMessage) -> str:
    return message_id_for(message.key, DOMAIN)


def settled(engine: Engine) -> bool:
    """Nothing left for a relay: every row sent, held or cancelled, no claim outstanding."""
    return all(m.status in ("sent", "held", "cancelled") for m in rows(engine))


def test_held_mail_is_never_sent_an_edit_is_what_arrives_and_sent_mail_cannot_be_cancelled(
    sqlite_engine: Engine, sqlite_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """Holding everything queued, again and again, while the relay sends: each message ends
    either sent (and arrived once) or held (and never arrived). Then one held message is
    edited, one cancelled, the rest released: the edit is what arrives, the cancelled one
    never does, nothing arrives twice; cancelling a sent message is refused."""
    seed_entries(sqlite_engine, 20)
    # Small claims, so holding and sending interleave row by row.
    env = worker_env(sqlite_url, redis_url, sink.port, tmp_path) | {
        "OUTBOX_BATCH_SIZE": "3",
        "OUTBOX_CONNECTIONS": "1",
    }
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        assert wait_until(lambda: len(sink.messages) >= 5, timeout=60)  # the relay is sending
        holds = 0
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            holds += len(act(sqlite_engine, "hold", MessageFilter(status="queued")).changed)
            time.sleep(0.01)
        assert wait_until(lambda: settled(sqlite_engine), timeout=60)
        time.sleep(3)  # three more sweeps: a held message stays unsent
        now_rows = rows(sqlite_engine)
        held = [m for m in now_rows if m.status == "held"]
        sent = [m for m in now_rows if m.status == "sent"]
        assert held and sent and holds >= len(held), (len(held), len(sent))
        leaked = [
            (m.id, m.kind, m.attempts, m.interrupted_attempts, m.claimed_by)
            for m in held
            if mid(m) in sink.ids()
        ]
        assert leaked == [], (tmp_path / "worker.log").read_text()[-4000:]
        assert set(sink.ids()) == {mid(m) for m in sent}

        edited, cancelled = held[0], held[1]
        with transaction(sqlite_engine) as session:
            edit_message(
                session, edited.id or 0, subject=EDITED_SUBJECT, body=EDITED_TEXT,
                actor="kansliet", now=NOW, note="Ny tid",
            )  # fmt: skip
        act(sqlite_engine, "cancel", MessageFilter(ids=(cancelled.id or 0,)))
        released = act(sqlite_engine, "release", MessageFilter(status="held"))
        assert len(released.changed) == len(held) - 1
        expected = {mid(m) for m in sent} | {mid(m) for m in held if m.id != cancelled.id}
        assert wait_until(
            lambda: set(sink.ids()) >= expected and settled(sqlite_engine), timeout=60
        )
    finally:
        worker.stop()
    assert set(sink.ids()) == expected
    assert sink.duplicates() == {}
    arrived = next(m for m in sink.messages if m["Message-ID"] == mid(edited))
    assert arrived["Subject"] == EDITED_SUBJECT
    body = arrived.get_body(("plain",))
    assert body is not None and "flyttat platsbesöket" in body.get_content()
    with pytest.raises(Conflict) as refused, transaction(sqlite_engine) as session:
        act_on_messages(
            session, "cancel", MessageFilter(ids=(sent[0].id or 0,)), actor="kansliet", now=NOW
        )
    assert refused.value.reasons[0].code == "already_sent"
    with transaction(sqlite_engine) as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.subject == "outbox_message"))
        actions = {event.action for event in audit}
    assert actions == {"hold", "edited", "cancel", "release"}


def test_the_api_holds_edits_releases_and_cancels_for_admins_only(sqlite_server: Any) -> None:
    admin = sqlite_server.client(sqlite_server.user("kansliet", "admin"))
    year = 2031
    cycle = {
        "year": year,
        "contribution_deadline": f"{year}-05-17",
        "extract_deadline": f"{year}-06-28",
        "winners_date": f"{year}-11-20",
    }
    assert admin.post("/api/v1/cycles", json=cycle).status_code == 201
    org = admin.post(
        "/api/v1/organisations",
        json={"name": "Bromma stadsdelsförvaltning", "board": "Bromma sdn", "kind": "forvaltning",
              "coordinator_email": "samordnare@bromma.stockholm.se"},
    ).json()  # fmt: skip
    unit = admin.post(
        "/api/v1/units",
        json={"organisation_id": org["id"], "name": "Ungdomsjouren", "staff_count": 12,
              "manager_has_budget_and_staff_responsibility": True, "has_business_plan": True,
              "share_stockholm_residents": 0.9, "budget_in_balance": True,
              "privately_run": False, "contact_email": "chef@bromma.stockholm.se"},
    ).json()  # fmt: skip
    entry = admin.post(
        "/api/v1/entries", json={"unit_id": unit["id"], "year": year, "award_class": "skola"}
    )
    assert entry.status_code == 201, entry.text
    queued = admin.get("/api/v1/outbox", params={"status": "queued"}).json()
    assert queued, "registering queues at least one e-mail"
    first = queued[0]["id"]

    held = admin.post(f"/api/v1/outbox/{first}/hold", json={"note": "Vänta på dnr"})
    assert held.status_code == 200 and held.json()["status"] == "held"
    again = admin.post(f"/api/v1/outbox/{first}/hold")
    assert again.status_code == 409 and again.json()["reasons"][0]["code"] == "wrong_status"

    template_subject = held.json()["template_subject"]
    edit = {"subject": "Ändrat ämne", "text": "Ny text.\n\nHälsningar", "note": "Rättelse"}
    edited = admin.patch(f"/api/v1/outbox/{first}", json=edit)
    assert edited.status_code == 200, edited.text
    assert edited.json()["subject"] == "Ändrat ämne"
    assert edited.json()["template_subject"] == template_subject  # both kept
    assert edited.json()["edited_by"] == "kansliet"
    bad = admin.patch(f"/api/v1/outbox/{first}", json={"subject": "A\nB", "text": "x"})
    assert bad.status_code == 422 and bad.json()["reasons"][0]["code"] == "invalid_subject"
    assert admin.get(f"/api/v1/outbox/{first}").json()["subject"] == "Ändrat ämne"

    released = admin.post("/api/v1/outbox/actions", json={"action": "release", "status": "held"})
    assert released.json() == {"action": "release", "changed": [first], "skipped": []}
    cancelled = admin.post(f"/api/v1/outbox/{first}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert admin.post(f"/api/v1/outbox/{first}/release").status_code == 409

    for body, code in (
        ({"action": "explode", "status": "queued"}, "unknown_action"),
        ({"action": "hold"}, "missing_filter"),
        ({"action": "hold", "status": "nonsense"}, "unknown_status"),
    ):
        refused = admin.post("/api/v1/outbox/actions", json=body)
        assert refused.status_code in (400, 422), refused.text
        assert refused.json()["reasons"][0]["code"] == code
    assert admin.post("/api/v1/outbox/999999/hold").status_code == 404
    coordinator = sqlite_server.client(
        sqlite_server.user("samordnare", "coordinator", "--organisation", str(org["id"]))
    )
    assert coordinator.post(f"/api/v1/outbox/{first}/release").status_code == 403
    assert coordinator.get(f"/api/v1/outbox/{first}").status_code == 403


def test_the_cli_retries_every_failed_message_with_one_command(sqlite_server: Any) -> None:
    """`outbox retry --status failed` instead of one call per row; an id still works."""
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    try:
        seed_entries(engine, 3)
        with transaction(engine) as session:
            messages = session.exec(select(OutboxMessage)).all()
            for message in messages:
                message.status, message.attempts, message.last_error = "failed", 8, "550 nej"
                session.add(message)
        out = sqlite_server.cli("outbox", "retry", "--status", "failed")
        assert f"{len(messages)} meddelanden köat igen." in out
        assert {m.status for m in rows(engine)} == {"queued"}
        out = sqlite_server.cli("outbox", "hold", str(messages[0].id))
        assert f"Meddelande {messages[0].id} pausat." in out
        shown = sqlite_server.cli("outbox", "show", str(messages[0].id))
        assert "Status: held" in shown
    finally:
        engine.dispose()


def test_admin_holds_edits_and_releases_an_e_mail_in_the_pages(
    sqlite_world: World, page: Page, axe_source: str
) -> None:
    """From the outbox page: pause a message, open it, correct its words, release it; the
    pages pass axe-core, and a coordinator cannot reach the controls."""
    url = sqlite_world.server.url
    log_in(page, sqlite_world.server, ADMIN)
    page.goto(f"{url}/outbox?status=queued")
    first = page.locator(".message").first
    first.get_by_role("button", name="Pausa").click()
    expect(page.get_by_role("status")).to_contain_text("pausat")
    page.get_by_role("link", name=re.compile(r"^Pausat")).click()
    expect(page.locator(".message")).to_have_count(1)
    page.get_by_role("link", name="Visa och ändra").click()
    assert not axe_violations(page, axe_source), describe_violations(
        axe_violations(page, axe_source)
    )
    page.get_by_label("Ämne").fill("Kvalitetsutmärkelsen: rättad uppgift")
    page.get_by_label("Text", exact=True).fill("Hej!\n\nHär är den rättade uppgiften.")
    page.get_by_label(re.compile("^Varför")).fill("Fel datum i mallen")
    page.get_by_role("button", name="Spara ändringen").click()
    expect(page.get_by_role("status")).to_contain_text("nya texten")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Kvalitetsutmärkelsen: rättad uppgift"
    )
    page.locator("details summary", has_text="Mallens version").click()
    assert not axe_violations(page, axe_source), describe_violations(
        axe_violations(page, axe_source)
    )
    page.get_by_label("Ämne").fill("")
    page.get_by_label("Ämne").evaluate("e => e.removeAttribute('required')")
    page.get_by_role("button", name="Spara ändringen").click()
    expect(page.get_by_role("alert")).to_contain_text("Ämnesraden behövs.")
    page.goto(f"{url}/outbox?status=held")
    page.get_by_role("button", name="Släpp").click()
    expect(page.get_by_role("status")).to_contain_text("släppt")
    with transaction(sqlite_world.engine) as session:
        statuses = {m.status for m in session.exec(select(OutboxMessage))}
    assert "held" not in statuses

    page.goto(f"{url}/outbox")
    page.locator("#styr-utskick summary").click()
    assert not axe_violations(page, axe_source), describe_violations(
        axe_violations(page, axe_source)
    )
    page.get_by_label("Vad ska göras").select_option("hold")
    page.get_by_label("Med status").select_option("queued")
    page.get_by_role("button", name="Utför").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pausa:")
    with transaction(sqlite_world.engine) as session:
        statuses = {m.status for m in session.exec(select(OutboxMessage))}
    assert "queued" not in statuses and "held" in statuses

    with logged_in(sqlite_world.server, COORDINATOR) as coordinator:
        refused = coordinator.get("/outbox/1")  # the controls are for admins only
        assert refused.status_code == 403
        listing = coordinator.get("/outbox").text
        assert ">Pausa<" not in listing and 'action="/outbox"' not in listing

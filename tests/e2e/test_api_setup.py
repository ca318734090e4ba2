"""Changing the register over HTTP: PATCH a cycle, an organisation, a unit and a user; create
users who get an e-mailed one-time link. Bad input is a 4xx with reasons and changes nothing;
roles are checked (403). A real uvicorn server per module, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from tests.e2e.conftest import LiveServer
from workflow.db import make_engine, transaction
from workflow.models import AuditEvent, OutboxMessage, PasswordLink, Reminder

API = "/api/v1"


@dataclass
class Register:
    server: LiveServer
    admin: httpx.Client
    coordinator: httpx.Client
    other_coordinator: httpx.Client
    organisation_id: int
    other_organisation_id: int
    unit_id: int
    entry_id: int

    def audit(self, subject: str, subject_id: int) -> list[AuditEvent]:
        engine = make_engine(self.server.env["DATABASE_URL"])
        try:
            with transaction(engine) as session:
                return list(
                    session.exec(
                        select(AuditEvent)
                        .where(AuditEvent.subject == subject, AuditEvent.subject_id == subject_id)
                        .order_by(col(AuditEvent.id))
                    ).all()
                )
        finally:
            engine.dispose()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int, *codes: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"].strip()
    seen = {reason["code"] for reason in body["reasons"]}
    assert set(codes) <= seen, body["reasons"]


@pytest.fixture(scope="module")
def register(module_server: LiveServer) -> Iterator[Register]:
    server = module_server
    admin = server.client(server.user("kansliet", "admin"))
    ok(admin.post(f"{API}/cycles", json={
        "year": 2027, "contribution_deadline": "2027-05-17", "extract_deadline": "2027-06-28",
        "winners_date": "2027-11-26"}), 201)  # fmt: skip
    social = ok(admin.post(f"{API}/organisations", json={
        "name": "Socialförvaltningen", "board": "Socialnämnden", "kind": "forvaltning",
        "coordinator_email": "sam@social.example.se"}), 201)["id"]  # fmt: skip
    school = ok(admin.post(f"{API}/organisations", json={
        "name": "Utbildningsförvaltningen", "board": "Utbildningsnämnden",
        "kind": "forvaltning"}), 201)["id"]  # fmt: skip
    unit = ok(admin.post(f"{API}/units", json={
        "organisation_id": social, "name": "Ungdomsjouren", "staff_count": 14,
        "manager_has_budget_and_staff_responsibility": True, "has_business_plan": True,
        "share_stockholm_residents": 0.9, "budget_in_balance": True, "privately_run": False,
        "contact_email": "chef@jouren.example.se"}), 201)["id"]  # fmt: skip
    entry = ok(admin.post(f"{API}/entries", json={
        "unit_id": unit, "year": 2027, "award_class": "socialtjanst"}), 201)["id"]  # fmt: skip
    coordinator = server.client(server.direct_user("sam", "coordinator", organisation_id=social))
    other = server.client(server.direct_user("uno", "coordinator", organisation_id=school))
    yield Register(server, admin, coordinator, other, social, school, unit, entry)
    for client in (admin, coordinator, other):
        client.close()


def _cycle(register: Register) -> dict[str, Any]:
    return next(c for c in ok(register.admin.get(f"{API}/cycles")) if c["year"] == 2027)


def _reminder_deadlines(register: Register) -> set[str]:
    engine = make_engine(register.server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            rows = session.exec(
                select(Reminder.deadline).where(
                    Reminder.entry_id == register.entry_id,
                    Reminder.deadline_kind == "contribution",
                    Reminder.status == "pending",
                )
            ).all()
            return {day.isoformat() for day in rows}
    finally:
        engine.dispose()


def test_patching_a_cycle_moves_its_reminders_and_keeps_its_settings(register: Register):
    """Moved dates re-plan the pending reminders; classes, address and budget rule change;
    the audit trail has old → new and why."""
    body = ok(register.admin.patch(f"{API}/cycles/2027", json={
        "contribution_deadline": "2027-05-20", "budget_rule": "to_take_part",
        "classes": ["socialtjänst", "skola"], "note": "Nytt beslut om datum"}))  # fmt: skip
    assert body["contribution_deadline"] == "2027-05-20"
    assert body["budget_rule"] == "to_take_part"
    assert body["classes"] == ["socialtjanst", "skola"]
    assert _reminder_deadlines(register) == {"2027-05-20"}
    last = register.audit("cycle", body["id"])[-1]
    assert last.changes["contribution_deadline"] == ["2027-05-17", "2027-05-20"]
    assert last.note == "Nytt beslut om datum"
    ok(register.admin.patch(f"{API}/cycles/2027", json={"budget_rule": "to_win"}))


def test_a_bad_cycle_patch_names_each_reason_and_changes_nothing(register: Register):
    before = _cycle(register)
    refused(
        register.admin.patch(f"{API}/cycles/2027", json={
            "contribution_deadline": "2027-07-01", "award_office_email": "inte en adress"}),
        422, "deadlines_out_of_order", "invalid_email",
    )  # fmt: skip
    refused(register.admin.patch(f"{API}/cycles/2027", json={"budget_rule": "ibland"}), 422)
    refused(register.admin.patch(f"{API}/cycles/2027", json={"classes": ["cirkus"]}), 422,
            "unknown_award_class")  # fmt: skip
    refused(register.admin.patch(f"{API}/cycles/2033", json={"budget_rule": "to_win"}), 404,
            "cycle_not_found")  # fmt: skip
    assert _cycle(register) == before


def test_only_the_award_office_changes_cycles_organisations_and_users(register: Register):
    refused(register.coordinator.patch(f"{API}/cycles/2027", json={"budget_rule": "to_win"}),
            403, "forbidden")  # fmt: skip
    refused(
        register.coordinator.patch(
            f"{API}/organisations/{register.organisation_id}", json={"board": "X"}
        ),
        403,
    )
    refused(register.coordinator.post(f"{API}/users", json={"name": "x", "role": "jury"}), 403)
    refused(register.coordinator.post(f"{API}/users/1/password-link"), 403)


def test_patching_an_organisation_sets_and_clears_its_addresses(register: Register):
    url = f"{API}/organisations/{register.other_organisation_id}"
    body = ok(register.admin.patch(url, json={
        "kind": "bolag", "board": "Styrelsen för Skolbolaget",
        "escalation_email": "registrator@skola.example.se"}))  # fmt: skip
    assert (body["kind"], body["escalation_email"]) == ("bolag", "registrator@skola.example.se")
    assert ok(register.admin.patch(url, json={"escalation_email": ""}))["escalation_email"] is None
    refused(register.admin.patch(url, json={"name": "Socialförvaltningen"}), 409,
            "organisation_exists")  # fmt: skip
    refused(register.admin.patch(url, json={"coordinator_email": "nej"}), 422, "invalid_email")
    refused(register.admin.patch(url, json={"kind": "kiosk"}), 422)
    current = next(o for o in ok(register.admin.get(f"{API}/organisations"))
                   if o["id"] == register.other_organisation_id)  # fmt: skip
    assert current["name"] == "Utbildningsförvaltningen"
    assert current["coordinator_email"] is None


def test_a_coordinator_corrects_its_own_unit_with_a_reason(register: Register):
    """Old → new and why go to the audit trail; another organisation's unit is not found."""
    url = f"{API}/units/{register.unit_id}"
    body = ok(register.coordinator.patch(url, json={
        "contact_email": "ny.chef@jouren.example.se", "staff_count": 15,
        "note": "Ny chef från 1 mars"}))  # fmt: skip
    assert (body["contact_email"], body["staff_count"]) == ("ny.chef@jouren.example.se", 15)
    event = register.audit("unit", register.unit_id)[-1]
    assert event.actor == "sam"
    assert event.changes["contact_email"] == ["chef@jouren.example.se", "ny.chef@jouren.example.se"]
    assert event.note == "Ny chef från 1 mars"
    refused(register.other_coordinator.patch(url, json={"staff_count": 1, "note": "x"}), 404)
    refused(register.coordinator.patch(url, json={
        "organisation_id": register.other_organisation_id, "note": "flytt"}), 403)  # fmt: skip


def test_a_bad_unit_correction_changes_nothing(register: Register):
    url = f"{API}/units/{register.unit_id}"
    before = next(u for u in ok(register.admin.get(f"{API}/units")) if u["id"] == register.unit_id)
    events = len(register.audit("unit", register.unit_id))
    refused(register.admin.patch(url, json={"staff_count": 3}), 422)  # no note: why?
    refused(register.admin.patch(url, json={"contact_email": "fel", "note": "x"}), 422,
            "invalid_email")  # fmt: skip
    refused(register.admin.patch(url, json={"share_stockholm_residents": 3, "note": "x"}), 422)
    refused(register.admin.patch(f"{API}/units/999999", json={"note": "x"}), 404)
    after = next(u for u in ok(register.admin.get(f"{API}/units")) if u["id"] == register.unit_id)
    assert after == before
    assert len(register.audit("unit", register.unit_id)) == events


def _outbox_links(register: Register, user_id: int) -> list[OutboxMessage]:
    engine = make_engine(register.server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            return list(
                session.exec(
                    select(OutboxMessage)
                    .where(OutboxMessage.kind == "password_link",
                           col(OutboxMessage.key).startswith(f"user/{user_id}/"))
                    .order_by(col(OutboxMessage.id))
                ).all()
            )  # fmt: skip
    finally:
        engine.dispose()


def test_a_new_user_gets_a_one_time_link_and_can_be_changed_and_deactivated(register: Register):
    created = ok(register.admin.post(f"{API}/users", json={
        "name": "eva", "role": "examiner", "organisation_id": register.other_organisation_id,
        "email": "eva@skola.example.se"}), 201)  # fmt: skip
    assert created["password_link_sent"] is True and created["token"]
    [message] = _outbox_links(register, created["id"])
    assert message.recipient == "eva@skola.example.se"
    assert "/password/" in message.payload["link"]
    changed = ok(register.admin.patch(f"{API}/users/{created['id']}", json={
        "role": "coordinator", "note": "Ny tjänst"}))  # fmt: skip
    assert changed["role"] == "coordinator"
    ok(register.admin.post(f"{API}/users/{created['id']}/password-link"), 202)
    assert len(_outbox_links(register, created["id"])) == 2
    engine = make_engine(register.server.env["DATABASE_URL"])
    with transaction(engine) as session:
        links = session.exec(select(PasswordLink).where(PasswordLink.user_id == created["id"]))
        used = [link.used_at is not None for link in links.all()]
    engine.dispose()
    assert sorted(used) == [False, True]  # the first link stopped working
    eva = register.server.client(created["token"])
    assert eva.get(f"{API}/cycles").status_code == 200
    ok(register.admin.patch(f"{API}/users/{created['id']}", json={"active": False}))
    assert eva.get(f"{API}/cycles").status_code == 401
    actions = [e.action for e in register.audit("user", created["id"])]
    assert actions == ["created", "corrected", "password_reset", "deactivated"]


def test_bad_user_input_is_refused_and_nothing_is_made(register: Register):
    refused(register.admin.post(f"{API}/users", json={"name": "x", "role": "coordinator"}), 422,
            "missing_organisation")  # fmt: skip
    refused(register.admin.post(f"{API}/users", json={"name": "y", "role": "emperor"}), 422)
    refused(register.admin.post(f"{API}/users", json={"name": "kansliet", "role": "jury"}), 409,
            "user_exists")  # fmt: skip
    refused(register.admin.post(f"{API}/users", json={"name": "z", "role": "jury",
            "email": "fel"}), 422, "invalid_email")  # fmt: skip
    created = ok(register.admin.post(f"{API}/users", json={"name": "utan", "role": "jury"}), 201)
    assert created["password_link_sent"] is False
    refused(register.admin.post(f"{API}/users/{created['id']}/password-link"), 422,
            "missing_email")  # fmt: skip
    refused(register.admin.patch(f"{API}/users/{created['id']}", json={"role": "unit_contact"}),
            422, "missing_unit")  # fmt: skip
    assert ok(register.admin.get(f"{API}/cycles"))  # the admin still works


def test_json_types_are_taken_strictly(register: Register):
    """A JSON `true` is no organisation id (it was read as 1: a coordinator of organisation 1)
    and "3" no number; nothing is made. 3.0 is the integer JSON Schema says it is."""
    organisation = register.organisation_id
    for wrong in (True, str(organisation)):
        body = {"name": "strikt", "role": "coordinator", "organisation_id": wrong}
        refused(register.admin.post(f"{API}/users", json=body), 422, "invalid_field")
    body = {"name": "strikt", "role": "coordinator", "organisation_id": float(organisation)}
    made = ok(register.admin.post(f"{API}/users", json=body), 201)  # not "user_exists"
    assert made["organisation_id"] == organisation


def test_registration_refuses_an_unbalanced_budget_when_the_cycle_says_so(register: Register):
    """The cycle's budget rule: "to_take_part" refuses at registration, "to_win" does not."""
    unit = ok(register.admin.post(f"{API}/units", json={
        "organisation_id": register.organisation_id, "name": "Boendet", "staff_count": 9,
        "manager_has_budget_and_staff_responsibility": True, "has_business_plan": True,
        "share_stockholm_residents": 1.0, "budget_in_balance": False,
        "privately_run": False}), 201)["id"]  # fmt: skip
    ok(register.admin.patch(f"{API}/cycles/2027", json={"budget_rule": "to_take_part"}))
    try:
        refused(register.admin.post(f"{API}/entries", json={
            "unit_id": unit, "year": 2027, "award_class": "socialtjanst"}), 422,
            "budget_in_balance")  # fmt: skip
    finally:
        ok(register.admin.patch(f"{API}/cycles/2027", json={"budget_rule": "to_win"}))
    ok(register.admin.post(f"{API}/entries", json={
        "unit_id": unit, "year": 2027, "award_class": "socialtjanst"}), 201)  # fmt: skip


def test_what_the_api_creates_is_audited_and_carries_the_new_settings(sqlite_server: Any) -> None:
    """A cycle with its budget rule and an organisation with its escalation contact, created
    over the API, read back as sent, each with its 'created' event in the audit trail."""
    admin = sqlite_server.client(sqlite_server.user("kansliet", "admin"))
    cycle = admin.post(
        "/api/v1/cycles",
        json={"year": 2032, "contribution_deadline": "2032-05-17",
              "extract_deadline": "2032-06-28", "winners_date": "2032-11-19",
              "budget_rule": "to_take_part"},
    )  # fmt: skip
    assert cycle.status_code == 201, cycle.text
    assert cycle.json()["budget_rule"] == "to_take_part"
    bad = admin.post(
        "/api/v1/cycles",
        json={"year": 2033, "contribution_deadline": "2033-05-17",
              "extract_deadline": "2033-06-28", "winners_date": "2033-11-19",
              "budget_rule": "ibland"},
    )  # fmt: skip
    assert bad.status_code == 422
    organisation = admin.post(
        "/api/v1/organisations",
        json={"name": "Farsta stadsdelsförvaltning", "board": "Farsta stadsdelsnämnd",
              "kind": "forvaltning", "escalation_email": "registrator@farsta.stockholm.se"},
    )  # fmt: skip
    assert organisation.status_code == 201, organisation.text
    assert organisation.json()["escalation_email"] == "registrator@farsta.stockholm.se"
    engine = make_engine(sqlite_server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            events = session.exec(select(AuditEvent).where(AuditEvent.action == "created")).all()
            created = {(e.subject, e.actor) for e in events}
    finally:
        engine.dispose()
    assert {("cycle", "kansliet"), ("organisation", "kansliet")} <= created

"""The API gives an entry more time, corrects it and files it under a case number: httpx
against a real server, on SQLite and PostgreSQL. Every refusal is a 4xx with its reason, and
the entry, its history and its outbox are read back unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlmodel import select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_api import API, UNIT_EMAIL, World, expect, make_world, refused
from workflow.db import make_engine, transaction
from workflow.models import Reminder

FUTURE = 2027  # reminders are planned only for days still to come


@pytest.fixture(scope="module")
def world(module_server: LiveServer) -> Iterator[World]:
    world = make_world(module_server, "coordinator", "coordinator_b", "unit_contact")
    body = {
        "year": FUTURE,
        "contribution_deadline": f"{FUTURE}-05-17",
        "extract_deadline": f"{FUTURE}-06-28",
        "winners_date": f"{FUTURE}-11-26",
    }
    expect(world.admin.post(f"{API}/cycles", json=body), 201)
    yield world
    world.close()


def new_entry(world: World) -> dict[str, Any]:
    return world.new_entry(year=FUTURE)


def pending_deadlines(world: World, entry_id: int, kind: str = "contribution") -> set[date]:
    engine = make_engine(world.server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            rows = session.exec(
                select(Reminder).where(
                    Reminder.entry_id == entry_id,
                    Reminder.status == "pending",
                    Reminder.deadline_kind == kind,
                )
            ).all()
            return {row.deadline for row in rows}
    finally:
        engine.dispose()


def extension(entry: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "deadline": "contribution",
        "until": f"{FUTURE}-05-31",
        "note": "Chefen har varit sjukskriven.",
        "version": entry["version"],
        **changes,
    }


def test_extension_is_201_with_the_entry_and_replans_its_reminders(world: World) -> None:
    """The entry answers with its new date; its pending contribution reminders count down to
    31 May, and the unit is told the new date by e-mail."""
    entry = new_entry(world)
    assert pending_deadlines(world, entry["id"]) == {date(FUTURE, 5, 17)}
    url = f"{API}/entries/{entry['id']}/extensions"
    extended = expect(world.admin.post(url, json=extension(entry)), 201)
    assert extended["contribution_until"] == f"{FUTURE}-05-31"
    assert extended["extract_until"] is None
    assert extended["version"] == entry["version"] + 1
    assert pending_deadlines(world, entry["id"]) == {date(FUTURE, 5, 31)}
    assert pending_deadlines(world, entry["id"], "extract") == {date(FUTURE, 6, 28)}
    outbox = expect(world.admin.get(f"{API}/outbox", params={"entry_id": entry["id"]}), 200)
    told = [m for m in outbox if m["kind"] == "deadline_extended"]
    assert len(told) == 1
    assert told[0]["to"] == UNIT_EMAIL
    assert "31 maj 2027" in told[0]["subject"]
    history = expect(world.admin.get(f"{API}/entries/{entry['id']}/history"), 200)
    last = history[-1]
    assert last["from"] == last["to"] == "notified"
    assert last["data"]["until_before"] == f"{FUTURE}-05-17"
    assert last["data"]["until"] == f"{FUTURE}-05-31"
    assert last["note"] == "Chefen har varit sjukskriven."


def test_extract_extension_moves_the_extract_reminders(world: World) -> None:
    entry = new_entry(world)
    url = f"{API}/entries/{entry['id']}/extensions"
    body = extension(entry, deadline="extract", until=f"{FUTURE}-08-15")
    extended = expect(world.admin.post(url, json=body), 201)
    assert extended["extract_until"] == f"{FUTURE}-08-15"
    assert pending_deadlines(world, entry["id"], "extract") == {date(FUTURE, 8, 15)}


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"until": f"{FUTURE}-05-10"}, 422, "extension_not_later"),
        ({"until": f"{FUTURE}-05-17"}, 422, "extension_not_later"),
        ({"until": f"{FUTURE}-11-27"}, 422, "extension_after_winners"),
        ({"deadline": "jury"}, 422, "unknown_deadline"),
        ({"until": "31/5/2027"}, 422, None),
        ({"version": 99}, 409, "stale_version"),
        ({"note": " "}, 422, "missing_note"),
    ],
)
def test_bad_extensions_are_refused_with_a_reason_and_change_nothing(
    world: World, changes: dict[str, Any], status: int, code: str | None
) -> None:
    entry = new_entry(world)
    before = world.snapshot(entry["id"])
    url = f"{API}/entries/{entry['id']}/extensions"
    response = world.admin.post(url, json=extension(entry, **changes))
    if code is None:
        assert response.status_code == status, response.text
    else:
        refused(response, status, code)
    assert world.snapshot(entry["id"]) == before
    assert pending_deadlines(world, entry["id"]) == {date(FUTURE, 5, 17)}


def test_extension_of_an_unknown_entry_is_404(world: World) -> None:
    response = world.admin.post(
        f"{API}/entries/999999/extensions",
        json={"deadline": "contribution", "until": f"{FUTURE}-05-31", "note": "x"},
    )
    refused(response, 404, "not_found")


def test_extension_after_the_contribution_arrived_is_refused(world: World) -> None:
    entry = new_entry(world)
    body = {"to": "submitted", "version": entry["version"], "data": {}}
    entry = expect(world.admin.post(f"{API}/entries/{entry['id']}/transitions", json=body), 200)
    url = f"{API}/entries/{entry['id']}/extensions"
    refused(world.admin.post(url, json=extension(entry)), 422, "deadline_already_met")


def test_only_the_award_office_extends(world: World) -> None:
    entry = new_entry(world)
    url = f"{API}/entries/{entry['id']}/extensions"
    refused(world.as_("coordinator").post(url, json=extension(entry)), 403, "forbidden")
    refused(world.as_("coordinator_b").post(url, json=extension(entry)), 404, "not_found")


def test_correction_keeps_who_when_old_new_and_why_and_stale_is_409(world: World) -> None:
    entry = new_entry(world)
    url = f"{API}/entries/{entry['id']}"
    body = {"version": entry["version"], "note": "Fel klass vid anmälan", "award_class": "skola"}
    corrected = expect(world.as_("coordinator").patch(url, json=body), 200)
    assert corrected["award_class"] == "skola"
    history = expect(world.admin.get(f"{API}/entries/{entry['id']}/history"), 200)
    assert history[-1]["data"]["award_class"] == "socialtjanst → skola"
    assert history[-1]["actor"] == "coordinator"
    assert history[-1]["note"] == "Fel klass vid anmälan"
    before = world.snapshot(entry["id"])
    refused(world.admin.patch(url, json=body), 409, "stale_version")
    body = {"version": corrected["version"], "note": "x", "award_class": "skolan"}
    refused(world.admin.patch(url, json=body), 422, "unknown_award_class")
    assert world.snapshot(entry["id"]) == before


def test_correction_of_a_board_meeting_date_typed_wrong(world: World) -> None:
    entry = new_entry(world)
    data = {"decision": "approved", "meeting_date": "2025-03-12", "paragraph": "§ 4"}
    body = {"to": "board_decision", "version": entry["version"], "data": data}
    entry = expect(world.admin.post(f"{API}/entries/{entry['id']}/transitions", json=body), 200)
    url = f"{API}/entries/{entry['id']}"
    future = {"board_decision": {"meeting_date": "2099-01-01"}}
    refused(
        world.admin.patch(url, json={"version": entry["version"], "note": "x", "facts": future}),
        422,
        "date_in_future",
    )
    fix = {"board_decision": {"meeting_date": "2025-03-14"}}
    body = {"version": entry["version"], "note": "Protokollet säger 14 mars", "facts": fix}
    corrected = expect(world.as_("coordinator").patch(url, json=body), 200)
    assert corrected["facts"]["board_decision"]["meeting_date"] == "2025-03-14"
    history = expect(world.admin.get(f"{API}/entries/{entry['id']}/history"), 200)
    assert history[-1]["data"]["board_decision.meeting_date"] == "2025-03-12 → 2025-03-14"


def test_case_number_appears_in_every_later_email_subject(world: World) -> None:
    """The coordinator files the entry under SLK 2027/123; the next e-mail's subject ends
    with "[Dnr SLK 2027/123]"."""
    entry = new_entry(world)
    url = f"{API}/entries/{entry['id']}"
    body = {"version": entry["version"], "note": "Diarieförd", "case_number": "SLK 2027/123"}
    filed = expect(world.as_("coordinator").patch(url, json=body), 200)
    assert filed["case_number"] == "SLK 2027/123"
    body = {"to": "submitted", "version": filed["version"], "data": {}}
    expect(world.admin.post(f"{API}/entries/{entry['id']}/transitions", json=body), 200)
    outbox = expect(world.admin.get(f"{API}/outbox", params={"entry_id": entry["id"]}), 200)
    receipt = next(m for m in outbox if m["kind"] == "contribution_receipt")
    assert receipt["subject"].endswith("[Dnr SLK 2027/123]")
    too_long = {"case_number": "x" * 41}
    refused(world.admin.put(f"{url}/case-number", json=too_long), 422, "case_number_too_long")
    cleared = expect(world.admin.put(f"{url}/case-number", json={"case_number": ""}), 200)
    assert cleared["case_number"] is None


def test_board_report_case_number_is_set_by_the_own_coordinator(world: World) -> None:
    url = f"{API}/organisations/{world.org_a}/board-report-case/{FUTURE}"
    body = {"case_number": "SOF 2027/45"}
    filed = expect(world.as_("coordinator").put(url, json=body), 200)
    assert filed == {"organisation_id": world.org_a, "year": FUTURE, "case_number": "SOF 2027/45"}
    refused(world.as_("coordinator_b").put(url, json=body), 403, "forbidden")
    refused(world.admin.put(f"{API}/organisations/{world.org_a}/board-report-case/2031", json=body),
            404, "cycle_not_found")  # fmt: skip

"""The HTTP API as its clients use it: httpx against a real uvicorn server on loopback.

The admin is made the way an operator makes it (`kvalitet user create`, the token alone on the
last line); the other users go straight into the database, to keep each test short. Every
refusal is checked twice: the status and reason codes it answers with, and that nothing changed
(the entry, its history and its outbox are read back as the admin and compared).

The contract tests run on SQLite and on PostgreSQL (the `server` fixture). The role × action
matrix shares one SQLite server (`module_sqlite_server`): it checks every pair, each on an
entry of its own in the stage the action needs.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import httpx
import pytest

from tests.conftest import MINIMAL_PDF
from tests.e2e.conftest import LiveServer

API = "/api/v1"
YEAR = 2024
ROLES = ("admin", "coordinator", "unit_contact", "examiner", "jury")
ENTRY_FIELDS = {"id", "unit_id", "year", "award_class", "stage", "version", "allowed_transitions"}
HISTORY_FIELDS = {"from", "to", "actor", "at", "note", "data"}
OUTBOX_FIELDS = {"to", "subject", "status", "message_id"}
AWARD_OFFICE = "kvalitetsutmarkelsen@stockholm.se"
COORDINATOR_EMAIL = "samordnare@socialforvaltningen.example.se"
UNIT_EMAIL = "chef@ungdomsjouren.example.se"
MAX_UPLOAD = 20 * 1024 * 1024

# The data each forward move carries, in the order a city-run entry makes them.
STEP_DATA: dict[str, dict[str, str]] = {
    "board_decision": {"decision": "approved", "meeting_date": "2024-06-10", "paragraph": "§ 12"},
    "extract_sent": {"sent_on": "2024-06-20"},
    "submitted": {"submitted_on": "2024-05-15", "title": "Trygg i jouren"},
    "examined": {"site_visit_on": "2024-09-03", "examiner": "Eva Ek"},
    "feedback": {
        "strengths": "Tydligt ledarskap och systematisk uppföljning.",
        "development_areas": "Brukarnas delaktighet i förbättringsarbetet.",
    },
    "jury": {"outcome": "winner"},
}
WALK = tuple(STEP_DATA)


# --- helpers ---------------------------------------------------------------------------------


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON body of a response that must have `status`."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code}, "
        f"expected {status}: {response.text[:2000]}"
    )
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def refused(response: httpx.Response, status: int, *codes: str) -> dict[str, Any]:
    """A refusal: `status`, a sentence for people and each expected reason code."""
    body = expect(response, status)
    assert isinstance(body["detail"], str)
    assert body["detail"].strip()
    assert body["reasons"], body
    for reason in body["reasons"]:
        assert set(reason) == {"code", "message"}
        assert reason["message"].strip()
    seen = {reason["code"] for reason in body["reasons"]}
    assert set(codes) <= seen, f"expected reasons {codes}, got {body['reasons']}"
    return body


def cycle_body(year: int) -> dict[str, Any]:
    return {
        "year": year,
        "contribution_deadline": f"{year}-05-17",
        "extract_deadline": f"{year}-06-28",
        "winners_date": f"{year}-11-26",
    }


def unit_body(organisation_id: int, name: str, **changes: Any) -> dict[str, Any]:
    """An eligible, city-run unit."""
    return {
        "organisation_id": organisation_id,
        "name": name,
        "staff_count": 14,
        "manager_has_budget_and_staff_responsibility": True,
        "has_business_plan": True,
        "share_stockholm_residents": 0.9,
        "budget_in_balance": True,
        "privately_run": False,
        "contact_email": UNIT_EMAIL,
        **changes,
    }


def pdf_upload(data: bytes = MINIMAL_PDF, name: str = "protokollsutdrag.pdf") -> dict[str, Any]:
    return {"files": {"file": (name, data, "application/pdf")}, "data": {"kind": "extract"}}


@dataclass
class World:
    """A server with a cycle, two organisations (A, B), a unit in A, and users by role:
    coordinator (A), coordinator_b (B), unit_contact (the unit in A), examiner (B, so it may
    examine A's entries), examiner_a (A: a conflict of interest for A's entries), jury."""

    server: LiveServer
    org_a: int
    org_b: int
    unit: int
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=itertools.count)
    years: Iterator[int] = field(default_factory=lambda: itertools.count(2030))

    def as_(self, role: str) -> httpx.Client:
        if role not in self.clients:
            self.clients[role] = self.server.client(self.tokens[role])
        return self.clients[role]

    @property
    def admin(self) -> httpx.Client:
        return self.as_("admin")

    def user_id(self, role: str) -> int:
        return self.server.user_ids[role]

    def seat_jury(self, year: int) -> None:
        """The jury user chairs `year`'s jury committee (a jury member sees its cycle only)."""
        jury_id = self.user_id("jury")
        body = {"members": [jury_id], "chair": jury_id}
        expect(self.admin.put(f"{API}/cycles/{year}/jury", json=body), 200)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    # -- entries --

    def new_unit(self, **changes: Any) -> int:
        name = f"Enhet {next(self.counter)}"
        return int(
            expect(
                self.admin.post(f"{API}/units", json=unit_body(self.org_a, name, **changes)), 201
            )["id"]
        )

    def new_entry(self, unit_id: int | None = None, year: int = YEAR) -> dict[str, Any]:
        unit_id = unit_id if unit_id is not None else self.new_unit()
        body = {"unit_id": unit_id, "year": year, "award_class": "socialtjänst"}
        return dict(expect(self.admin.post(f"{API}/entries", json=body), 201))

    def advance(
        self, role: str, entry: dict[str, Any], to: str, *, note: str | None = None
    ) -> dict[str, Any]:
        body = {"to": to, "version": entry["version"], "note": note, "data": STEP_DATA.get(to, {})}
        response = self.as_(role).post(f"{API}/entries/{entry['id']}/transitions", json=body)
        return dict(expect(response, 200))

    def walk_to(self, entry: dict[str, Any], stage: str) -> dict[str, Any]:
        """Advance as the admin until `stage` (uploading the extract on the way)."""
        for target in WALK:
            if entry["stage"] == stage:
                break
            if target == "extract_sent":
                url = f"{API}/entries/{entry['id']}/documents"
                expect(self.admin.post(url, **pdf_upload()), 201)
            entry = self.advance("admin", entry, target)
        assert entry["stage"] == stage
        return entry

    def assign(self, entry_id: int, role: str = "examiner") -> httpx.Response:
        body = {"user_id": self.user_id(role)}
        return self.admin.post(f"{API}/entries/{entry_id}/examiners", json=body)

    def snapshot(self, entry_id: int) -> tuple[Any, Any, Any]:
        """Everything a change would touch, read as the admin."""
        return (
            expect(self.admin.get(f"{API}/entries/{entry_id}"), 200),
            expect(self.admin.get(f"{API}/entries/{entry_id}/history"), 200),
            expect(self.admin.get(f"{API}/outbox", params={"entry_id": entry_id}), 200),
        )

    def counts(self) -> dict[str, int]:
        return {
            kind: len(expect(self.admin.get(f"{API}/{kind}"), 200))
            for kind in ("cycles", "organisations", "units", "entries")
        }


def make_world(server: LiveServer, *roles: str) -> World:
    """The admin is made as an operator makes it (`kvalitet user create`, the token on the
    last line); it seeds through the API; the other users go straight into the database."""
    admin_token = server.user("admin", "admin")
    with server.client(admin_token) as admin:
        expect(admin.post(f"{API}/cycles", json=cycle_body(YEAR)), 201)
        org_a = expect(
            admin.post(
                f"{API}/organisations",
                json={
                    "name": "Socialförvaltningen",
                    "board": "Socialnämnden",
                    "kind": "forvaltning",
                    "coordinator_email": COORDINATOR_EMAIL,
                },
            ),
            201,
        )["id"]
        org_b = expect(
            admin.post(
                f"{API}/organisations",
                json={"name": "Bromma stadsdelsförvaltning", "board": "Bromma", "kind": "bolag"},
            ),
            201,
        )["id"]
        unit = expect(admin.post(f"{API}/units", json=unit_body(org_a, "Ungdomsjouren")), 201)
    options: dict[str, tuple[str, dict[str, int]]] = {
        "coordinator": ("coordinator", {"organisation_id": org_a}),
        "coordinator_b": ("coordinator", {"organisation_id": org_b}),
        "unit_contact": ("unit_contact", {"unit_id": unit["id"]}),
        "examiner": ("examiner", {"organisation_id": org_b}),
        "examiner_a": ("examiner", {"organisation_id": org_a}),
        "jury": ("jury", {}),
    }
    world = World(server=server, org_a=org_a, org_b=org_b, unit=unit["id"])
    world.tokens["admin"] = admin_token
    for name in roles:
        role, links = options[name]
        world.tokens[name] = server.direct_user(name, role, **links)
    if "jury" in roles:
        world.seat_jury(YEAR)
    return world


@pytest.fixture
def world_factory(server: LiveServer) -> Iterator[Any]:
    worlds: list[World] = []

    def build(*roles: str) -> World:
        world = make_world(server, *roles)
        worlds.append(world)
        return world

    yield build
    for world in worlds:
        world.close()


# --- the contract, on both databases ----------------------------------------------------------


def test_entries_are_listed_page_by_page_following_the_link_header(world_factory: Any) -> None:
    """`limit` and `after_id` page through a cycle; the Link header leads from page to page
    and the pages together are the whole list, each entry once; a coordinator pages only
    through their own organisation's entries."""
    world = world_factory("coordinator_b")
    admin = world.admin
    year = next(world.years)
    expect(admin.post(f"{API}/cycles", json=cycle_body(year)), 201)
    ours = [world.new_entry(year=year)["id"] for _ in range(5)]
    unit_b = expect(admin.post(f"{API}/units", json=unit_body(world.org_b, "B-enheten")), 201)
    body_b = {"unit_id": unit_b["id"], "year": year, "award_class": "skola"}
    theirs = expect(admin.post(f"{API}/entries", json=body_b), 201)["id"]

    def walk(client: httpx.Client) -> list[list[int]]:
        return pages_of(client, "entries", {"year": year, "limit": 2})

    assert walk(admin) == [ours[0:2], ours[2:4], [ours[4], theirs]]
    assert walk(world.as_("coordinator_b")) == [[theirs]]
    after_third = {"year": year, "after_id": ours[2], "limit": 500}
    assert [e["id"] for e in expect(admin.get(f"{API}/entries", params=after_third), 200)] == [
        *ours[3:],
        theirs,
    ]
    for bad in ({"limit": 0}, {"limit": 501}, {"after_id": -1}, {"limit": "alla"}):
        refused(admin.get(f"{API}/entries", params=bad), 422, "invalid_field")


def pages_of(client: httpx.Client, path: str, params: dict[str, Any]) -> list[list[int]]:
    """The ids of each page of a list, following its Link header to the end."""
    pages = []
    response = client.get(f"{API}/{path}", params=params)
    while True:
        pages.append([row["id"] for row in expect(response, 200)])
        if "link" not in response.headers:
            assert "x-next-after-id" not in response.headers
            return pages
        assert response.headers["link"].endswith('>; rel="next"')
        assert response.headers["x-next-after-id"] == str(pages[-1][-1])
        response = client.get(response.headers["link"][1 : -len('>; rel="next"')])


def test_units_organisations_and_the_outbox_are_listed_page_by_page(world_factory: Any) -> None:
    """No list stops without saying so: every list pages like /entries, and the pages
    together hold every row once (the outbox gave the 1,000 oldest and no more)."""
    world = world_factory("coordinator_b")
    admin = world.admin
    year = next(world.years)
    expect(admin.post(f"{API}/cycles", json=cycle_body(year)), 201)
    for number in range(4):
        expect(admin.post(f"{API}/units", json=unit_body(world.org_b, f"B-enhet {number}")), 201)
    for _ in range(3):
        world.new_entry(year=year)
    for path in ("units", "organisations", "outbox"):
        everything = pages_of(admin, path, {"limit": 500})
        assert len(everything) == 1
        pages = pages_of(admin, path, {"limit": 1})
        assert len(pages) == len(everything[0]) >= 2, path
        assert [i for page in pages for i in page] == everything[0], path
    own = pages_of(world.as_("coordinator_b"), "units", {"limit": 2})
    assert [len(page) for page in own] == [2, 2]  # organisation B's own four, page by page
    refused(admin.get(f"{API}/outbox", params={"limit": 501}), 422, "invalid_field")


def test_a_cycle_names_its_ceremony_hours(world_factory: Any) -> None:
    world = world_factory()
    year = next(world.years)
    body = {**cycle_body(year), "ceremony_starts_at": "18:00"}
    for wrong in ("18:00+01:00", "kvart i sex", "18:00:00", "24:00"):
        refused(world.admin.post(f"{API}/cycles", json={**body, "ceremony_starts_at": wrong}), 422)
    reversed_hours = {**body, "ceremony_ends_at": "17:00"}
    refused(world.admin.post(f"{API}/cycles", json=reversed_hours), 422, "ceremony_hours")
    cycle = expect(world.admin.post(f"{API}/cycles", json=body), 201)
    assert (cycle["ceremony_starts_at"], cycle["ceremony_ends_at"]) == ("18:00", "20:00")
    listed = {c["year"]: c for c in expect(world.admin.get(f"{API}/cycles"), 200)}
    assert listed[year]["ceremony_starts_at"] == "18:00"


def test_creation_answers_with_the_contracted_fields(world_factory: Any) -> None:
    """Cycles, organisations, units and entries come back with their ids and fields; an entry
    is listed and filtered by year, stage and organisation; OpenAPI and /healthz answer."""
    world = world_factory()
    admin = world.admin
    cycle = expect(admin.post(f"{API}/cycles", json=cycle_body(2025)), 201)
    assert {**cycle_body(2025), "id": cycle["id"]}.items() <= cycle.items()
    organisations = expect(admin.get(f"{API}/organisations"), 200)
    assert [o["kind"] for o in organisations] == ["forvaltning", "bolag"]
    assert all(isinstance(o["id"], int) for o in organisations)
    unit = expect(admin.post(f"{API}/units", json=unit_body(world.org_a, "Förskolan Ugglan")), 201)
    assert unit_body(world.org_a, "Förskolan Ugglan").items() <= unit.items()

    body = {"unit_id": unit["id"], "year": YEAR, "award_class": "socialtjänst"}
    created = expect(admin.post(f"{API}/entries", json=body), 201)
    assert created.keys() >= ENTRY_FIELDS
    assert (created["unit_id"], created["year"], created["award_class"]) == (
        unit["id"],
        YEAR,
        "socialtjanst",
    )
    assert (created["stage"], created["version"]) == ("notified", 1)
    assert created["allowed_transitions"] == ["board_decision", "withdrawn"]
    assert expect(admin.get(f"{API}/entries/{created['id']}"), 200) == created

    private = world.new_unit(privately_run=True)
    private_entry = world.new_entry(private)
    assert private_entry["allowed_transitions"] == ["submitted", "withdrawn"]

    def listed(**params: Any) -> list[int]:
        return [e["id"] for e in expect(admin.get(f"{API}/entries", params=params), 200)]

    both = [created["id"], private_entry["id"]]
    assert listed() == both
    assert listed(year=YEAR) == both
    assert listed(year=2025) == []
    assert listed(stage="notified", year=YEAR, organisation_id=world.org_a) == both
    assert listed(stage="submitted") == []
    assert listed(organisation_id=world.org_b) == []
    refused(admin.get(f"{API}/entries", params={"stage": "granskad"}), 422, "unknown_stage")

    schema = expect(admin.get(f"{API}/openapi.json"), 200)
    for path in (
        "/api/v1/cycles",
        "/api/v1/organisations",
        "/api/v1/units",
        "/api/v1/entries",
        "/api/v1/entries/{entry_id}",
        "/api/v1/entries/{entry_id}/transitions",
        "/api/v1/entries/{entry_id}/history",
        "/api/v1/entries/{entry_id}/documents",
        "/api/v1/outbox",
    ):
        assert path in schema["paths"], path
    assert expect(httpx.get(f"{world.server.url}/healthz"), 200)["status"] == "ok"


def test_an_entry_walks_through_every_stage_by_its_roles(world_factory: Any) -> None:
    """Coordinator, unit contact, examiner and jury each make their moves; the history and
    the outbox say who did what and which e-mails it caused."""
    world = world_factory("coordinator", "unit_contact", "examiner", "jury")
    entry = world.new_entry(world.unit)
    entry_id = entry["id"]

    entry = world.advance("coordinator", entry, "board_decision", note="Nämndmöte juni")
    assert (entry["stage"], entry["version"]) == ("board_decision", 2)
    assert entry["facts"]["board_decision"] == STEP_DATA["board_decision"]
    url = f"{API}/entries/{entry_id}/documents"
    document = expect(world.as_("coordinator").post(url, **pdf_upload()), 201)
    assert document["size"] == len(MINIMAL_PDF)
    assert document["filename"] == "protokollsutdrag.pdf"
    entry = world.advance("coordinator", entry, "extract_sent")
    entry = world.advance("unit_contact", entry, "submitted")
    expect(world.assign(entry_id), 201)
    visit = {"site_visit_on": "2024-09-03", "version": entry["version"], "note": "Bokat"}
    book = f"{API}/entries/{entry_id}/site-visit"
    examiner = world.as_("examiner")
    for hours, code in (
        ({"starts_at": "15:00", "ends_at": "13:00"}, "site_visit_hours"),
        ({"starts_at": "25:00"}, "invalid_field"),
        ({"starts_at": "13:00+02:00"}, "invalid_field"),
    ):
        refused(examiner.post(book, json={**visit, **hours}), 422, code)
    entry = expect(examiner.post(book, json={**visit, "starts_at": "13:00"}), 200)
    assert entry["facts"]["site_visit"] == {
        "site_visit_on": "2024-09-03",
        "starts_at": "13:00",
        "ends_at": "16:00",  # as long as the default visit
    }
    # An entry is examined by its team's consensus (test_api_examination.py), never by one
    # examiner's move; the admin's own move stands in for it here.
    body = {"to": "examined", "version": entry["version"], "data": STEP_DATA["examined"]}
    alone = world.as_("examiner").post(f"{API}/entries/{entry_id}/transitions", json=body)
    refused(alone, 403, "forbidden")
    entry = world.advance("admin", entry, "examined")
    # Feedback is released by the admin, never by an examiner's own move.
    body = {"to": "feedback", "version": entry["version"], "data": STEP_DATA["feedback"]}
    early = world.as_("examiner").post(f"{API}/entries/{entry_id}/transitions", json=body)
    refused(early, 403, "forbidden")
    entry = world.advance("admin", entry, "feedback")

    # The unit contact reads its feedback; the jury now sees the entry and decides.
    seen = expect(world.as_("unit_contact").get(f"{API}/entries/{entry_id}"), 200)
    assert seen["facts"]["feedback"] == STEP_DATA["feedback"]
    assert [e["id"] for e in expect(world.as_("jury").get(f"{API}/entries"), 200)] == [entry_id]
    # The jury decides per class and the decision waits for the announcement
    # (tests/e2e/test_api_jury.py): a single click can no longer tell the unit.
    body = {"to": "jury", "version": entry["version"], "data": STEP_DATA["jury"]}
    move = world.as_("jury").post(f"{API}/entries/{entry_id}/transitions", json=body)
    refused(move, 422, "jury_by_decision")
    assert entry["allowed_transitions"] == ["withdrawn"]

    history = expect(world.admin.get(f"{API}/entries/{entry_id}/history"), 200)
    assert all(event.keys() >= HISTORY_FIELDS for event in history)
    moves = [(e["from"], e["to"], e["actor"]) for e in history]
    assert moves == [
        (None, "notified", "admin"),
        ("notified", "board_decision", "coordinator"),
        ("board_decision", "extract_sent", "coordinator"),
        ("extract_sent", "submitted", "unit_contact"),
        ("submitted", "submitted", "examiner"),  # the site visit: a fact, not a stage
        ("submitted", "examined", "admin"),
        ("examined", "feedback", "admin"),
    ]
    assert history[1]["note"] == "Nämndmöte juni"
    assert history[1]["data"] == STEP_DATA["board_decision"]
    assert history[-1]["data"] == STEP_DATA["feedback"]
    assert all(datetime.fromisoformat(e["at"]).tzinfo is not None for e in history)
    assert (
        [e["version"] for e in history] == list(range(1, 8)) == list(range(1, entry["version"] + 1))
    )

    messages = expect(world.admin.get(f"{API}/outbox", params={"entry_id": entry_id}), 200)
    assert all(m.keys() >= OUTBOX_FIELDS for m in messages)
    assert all(m["subject"].strip() and m["status"] == "queued" for m in messages)
    assert all(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", m["message_id"]) for m in messages)
    assert len({m["message_id"] for m in messages}) == len(messages)
    # The Message-ID's own name; `message_id` (the path's row id elsewhere) stays one release.
    assert all(m["internet_message_id"] == m["message_id"] for m in messages)
    sent_to = {m["kind"]: m["to"] for m in messages}
    assert sent_to["extract_to_award_office"] == AWARD_OFFICE
    assert sent_to["board_decision_recorded"] == COORDINATOR_EMAIL
    assert sent_to["feedback_letter"] == UNIT_EMAIL
    assert "jury_outcome" not in sent_to
    assert expect(world.admin.get(f"{API}/outbox", params={"status": "queued"}), 200) == messages
    assert expect(world.admin.get(f"{API}/outbox", params={"status": "sent"}), 200) == []
    refused(world.admin.get(f"{API}/outbox", params={"status": "lost"}), 422, "unknown_status")
    # The coordinator sees its organisation's messages; the unit contact sees its own.
    assert expect(world.as_("coordinator").get(f"{API}/outbox"), 200) == messages
    assert expect(world.as_("unit_contact").get(f"{API}/outbox"), 200) == messages


def test_refusals_answer_with_reasons_and_change_nothing(world_factory: Any) -> None:
    """Stale versions, refused moves, invalid fields, unknown ids, missing or bad tokens and
    forbidden roles: each answers with its status and reasons, and the entry, its history
    and its outbox are exactly as before."""
    world = world_factory("coordinator", "unit_contact", "examiner", "jury")
    entry = world.new_entry(world.unit)
    entry_id = entry["id"]
    url = f"{API}/entries/{entry_id}/transitions"
    before = world.snapshot(entry_id)
    board = STEP_DATA["board_decision"]
    coordinator, admin = world.as_("coordinator"), world.admin
    nobody = world.server.client()
    forged = world.server.client("not-a-token")

    def move(to: str, version: int = 1, **extra: Any) -> dict[str, Any]:
        return {"to": to, "version": version, **extra}

    bd, co, uc = "board_decision", coordinator, world.as_("unit_contact")
    # Dates that would break every calendar feed they reach.
    far, early = board | {"meeting_date": "9999-12-31"}, board | {"meeting_date": "0001-01-01"}
    valid = move(bd, data=board)  # what the coordinator may do: refused only by who sends it

    def post(client: httpx.Client, body: Any, **options: Any) -> Callable[[], httpx.Response]:
        return partial(client.post, url, json=body, **options)

    basic = {"Authorization": f"Basic {world.tokens['admin']}"}
    bad_json = {"content": b"{to:", "headers": {"content-type": "application/json"}}
    unknown = f"{API}/entries/987654/transitions"
    over_1_mb = {**valid, "note": "x" * (1024 * 1024)}

    def streamed() -> Iterator[bytes]:  # no Content-Length: measured as it arrives
        yield json.dumps(over_1_mb).encode()

    chunked = {"content": streamed(), "headers": {"content-type": "application/json"}}
    cases: list[tuple[str, int, str, Callable[[], httpx.Response]]] = [
        ("stale version", 409, "stale_version", post(co, move(bd, 7, data=board))),
        ("table refuses", 422, "transition_not_allowed", post(co, move("extract_sent"))),
        ("admin too", 422, "transition_not_allowed", post(admin, move("jury"))),
        ("guard: data", 422, "missing_field", post(co, move(bd))),
        ("bad choice", 422, "invalid_choice", post(co, move(bd, data=board | {"decision": "x"}))),
        ("bad date", 422, "invalid_date", post(co, move(bd, data=board | {"meeting_date": "x"}))),
        ("year 9999", 422, "implausible_date", post(co, move(bd, data=far))),
        ("year 1", 422, "implausible_date", post(co, move(bd, data=early))),
        ("guard: field", 422, "unknown_field", post(co, move(bd, data=board | {"colour": "x"}))),
        ("no note", 422, "missing_note", post(co, move("withdrawn"))),
        ("unknown stage", 422, "unknown_stage", post(co, move("granskad"))),
        ("version not int", 422, "invalid_field", post(co, move(bd, "sju"))),
        ("negative version", 422, "invalid_field", post(co, move(bd, -1))),
        ("unknown field", 422, "invalid_field", post(co, move(bd, why="x"))),
        ("no target", 422, "invalid_field", post(co, {"version": 1})),
        ("not JSON", 422, "invalid_field", partial(co.post, url, **bad_json)),
        ("NUL in note", 422, "invalid_field", post(co, {**valid, "note": "a\x00b"})),
        ("body over 1 MB", 413, "too_large", post(co, over_1_mb)),
        ("streamed over 1 MB", 413, "too_large", partial(co.post, url, **chunked)),
        ("unknown entry", 404, "not_found", partial(co.post, unknown, json=valid)),
        ("huge entry id", 404, "not_found", partial(admin.get, f"{API}/entries/{2**70}")),
        ("entry id zero", 404, "not_found", partial(admin.get, f"{API}/entries/0/history")),
        ("id not a number", 422, "invalid_field", partial(admin.get, f"{API}/entries/tre")),
        ("no token", 401, "unauthenticated", post(nobody, valid)),
        ("bad token", 401, "unauthenticated", post(forged, valid)),
        ("not bearer", 401, "unauthenticated", post(nobody, valid, headers=basic)),
        ("role may not", 403, "forbidden", post(uc, valid)),
        ("unassigned examiner", 404, "not_found", post(world.as_("examiner"), move("examined"))),
        ("jury before examined", 404, "not_found", post(world.as_("jury"), valid)),
    ]  # fmt: skip
    for name, status, code, attempt in cases:
        response = attempt()
        body = refused(response, status, code)
        assert world.snapshot(entry_id) == before, f"{name} changed something"
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer", name
        if name == "role may not":
            assert "board_decision" in body["detail"]
    nobody.close()
    forged.close()

    # Two people read version 1; the first move wins, the second is told and changes nothing.
    first = world.advance("coordinator", entry, "board_decision")
    after_first = world.snapshot(entry_id)
    late = admin.post(url, json=move("withdrawn", 1, note="Vi hann inte"))
    refused(late, 409, "stale_version")
    assert world.snapshot(entry_id) == after_first
    assert first["version"] == 2


def test_the_jury_sees_the_examined_entries_of_its_own_cycle_only(world_factory: Any) -> None:
    """A jury member sits on one cycle's committee: an examined entry of another cycle is
    neither listed nor found, until the admin seats the member on that cycle's jury too."""
    world = world_factory("jury")
    expect(world.admin.post(f"{API}/cycles", json=cycle_body(2029)), 201)
    entry = world.walk_to(world.new_entry(world.unit, 2029), "examined")
    jury = world.as_("jury")
    assert expect(jury.get(f"{API}/entries"), 200) == []
    refused(jury.get(f"{API}/entries/{entry['id']}"), 404, "not_found")
    refused(jury.get(f"{API}/entries/{entry['id']}/history"), 404, "not_found")
    world.seat_jury(2029)
    assert [e["id"] for e in expect(jury.get(f"{API}/entries"), 200)] == [entry["id"]]
    expect(jury.get(f"{API}/entries/{entry['id']}/history"), 200)


def test_another_organisations_entry_is_neither_listed_nor_found(world_factory: Any) -> None:
    """A coordinator of B, an unassigned examiner and the jury do not see A's new entry: it
    is not listed, and every direct call answers 404 as for an id that does not exist."""
    world = world_factory("coordinator", "coordinator_b", "examiner", "jury")
    entry = world.new_entry(world.unit)
    entry_id = entry["id"]
    before = world.snapshot(entry_id)
    assert [e["id"] for e in expect(world.as_("coordinator").get(f"{API}/entries"), 200)] == [
        entry_id
    ]
    for role in ("coordinator_b", "examiner", "jury"):
        client = world.as_(role)
        assert expect(client.get(f"{API}/entries"), 200) == [], role
        params = {"organisation_id": world.org_a}
        assert expect(client.get(f"{API}/entries", params=params), 200) == [], role
        assert expect(client.get(f"{API}/outbox"), 200) == [], role
        assert expect(client.get(f"{API}/outbox", params={"entry_id": entry_id}), 200) == []
        for response in (
            client.get(f"{API}/entries/{entry_id}"),
            client.get(f"{API}/entries/{entry_id}/history"),
            client.post(
                f"{API}/entries/{entry_id}/transitions",
                json={"to": "withdrawn", "version": 1, "note": "Nej"},
            ),
            client.post(f"{API}/entries/{entry_id}/documents", **pdf_upload()),
        ):
            # The same answer as for an id that does not exist: nothing leaks.
            body = refused(response, 404, "not_found")
            assert [r["code"] for r in body["reasons"]] == ["not_found"]
    coordinator_b = world.as_("coordinator_b")
    assert [o["id"] for o in expect(coordinator_b.get(f"{API}/organisations"), 200)] == [
        world.org_b
    ]
    assert expect(coordinator_b.get(f"{API}/units"), 200) == []
    other_unit = unit_body(world.org_a, "Inte min")
    refused(coordinator_b.post(f"{API}/units", json=other_unit), 403, "forbidden")
    notify = {"unit_id": world.unit, "year": YEAR, "award_class": "skola"}
    refused(coordinator_b.post(f"{API}/entries", json=notify), 404, "not_found")
    assert world.snapshot(entry_id) == before
    assert len(expect(world.admin.get(f"{API}/units"), 200)) == 1


def test_an_examiner_from_the_entrys_own_organisation_is_refused(world_factory: Any) -> None:
    """Assigning an examiner of the entry's own organisation is a conflict of interest (409,
    nothing assigned); one from another organisation is assigned and then sees the entry."""
    world = world_factory("examiner", "examiner_a", "jury")
    entry = world.new_entry(world.unit)
    entry_id = entry["id"]
    refused(world.assign(entry_id, "examiner_a"), 409, "conflict_of_interest")
    refused(world.as_("examiner_a").get(f"{API}/entries/{entry_id}"), 404, "not_found")
    assert expect(world.as_("examiner_a").get(f"{API}/entries"), 200) == []

    assigned = expect(world.assign(entry_id), 201)
    assert assigned == {"entry_id": entry_id, "user_id": world.user_id("examiner")}
    assert expect(world.assign(entry_id), 201) == assigned  # again: the same assignment
    seen = expect(world.as_("examiner").get(f"{API}/entries/{entry_id}"), 200)
    assert seen["id"] == entry_id
    refused(world.assign(987654), 404, "not_found")
    jury_as_examiner = {"user_id": world.user_id("jury")}
    refused(world.admin.post(f"{API}/entries/{entry_id}/examiners", json=jury_as_examiner), 404)
    refused(world.admin.post(f"{API}/entries/{entry_id}/examiners", json={"user_id": 2**40}), 422)
    assert expect(world.admin.get(f"{API}/entries/{entry_id}"), 200) == entry


def test_uploads_refuse_large_and_non_pdf_files_and_a_good_pdf_sends_the_extract(
    world_factory: Any,
) -> None:
    """Over 20 MB → 413, not a PDF → 422, empty → 422; none of them is kept (the extract is
    still missing). A good PDF → 201, and then the extract can be sent."""
    world = world_factory("coordinator", "unit_contact")
    entry = world.walk_to(world.new_entry(world.unit), "board_decision")
    entry_id = entry["id"]
    url = f"{API}/entries/{entry_id}/documents"
    coordinator = world.as_("coordinator")
    send = {"to": "extract_sent", "version": entry["version"], "data": {}}
    refused(
        coordinator.post(f"{API}/entries/{entry_id}/transitions", json=send), 422, "extract_missing"
    )
    before = world.snapshot(entry_id)

    too_large = MINIMAL_PDF + b"0" * (MAX_UPLOAD + 1 - len(MINIMAL_PDF))
    refused(coordinator.post(url, **pdf_upload(too_large)), 413, "too_large")
    refused(
        coordinator.post(
            url, **pdf_upload("Hej, detta är ett protokoll.\n".encode(), "protokoll.pdf")
        ),
        422,
        "not_pdf",
    )
    refused(coordinator.post(url, **pdf_upload(b"")), 422, "empty_file")
    wrong_kind = {"files": {"file": ("a.pdf", MINIMAL_PDF)}, "data": {"kind": "foto"}}
    refused(coordinator.post(url, **wrong_kind), 422, "invalid_field")
    refused(coordinator.post(url, data={"kind": "extract"}), 422, "invalid_field")
    refused(world.as_("unit_contact").post(url, **pdf_upload()), 403, "forbidden")
    assert world.snapshot(entry_id) == before
    refused(
        coordinator.post(f"{API}/entries/{entry_id}/transitions", json=send), 422, "extract_missing"
    )

    document = expect(coordinator.post(url, **pdf_upload(name="../../protokoll.pdf")), 201)
    assert document["filename"] == "protokoll.pdf"
    entry = expect(coordinator.post(f"{API}/entries/{entry_id}/transitions", json=send), 200)
    assert entry["stage"] == "extract_sent"
    messages = expect(world.admin.get(f"{API}/outbox", params={"entry_id": entry_id}), 200)
    extract = [m for m in messages if m["kind"] == "extract_to_award_office"]
    assert [m["to"] for m in extract] == [AWARD_OFFICE]


def test_invalid_input_on_creation_is_refused_with_every_reason(world_factory: Any) -> None:
    """Ineligible units (every failing rule named), invalid fields, duplicates and unknown
    ids: each refused with its status and reasons, and nothing is created."""
    world = world_factory("coordinator")
    admin = world.admin
    counts = world.counts()

    small = world.new_unit(
        staff_count=3,
        has_business_plan=False,
        manager_has_budget_and_staff_responsibility=False,
        share_stockholm_residents=0.3,
    )
    counts["units"] += 1
    notify = {"unit_id": small, "year": YEAR, "award_class": "socialtjanst"}
    refused(
        admin.post(f"{API}/entries", json=notify),
        422,
        "manager_responsibility",
        "business_plan",
        "staff_count",
        "share_stockholm_residents",
    )
    unit, org = world.unit, world.org_a

    def post(path: str, body: Any, client: httpx.Client = admin) -> Callable[[], httpx.Response]:
        return partial(client.post, f"{API}/{path}", json=body)

    organisation = {"name": "X", "board": "Y", "kind": "bolag"}
    ours = notify | {"unit_id": unit}
    taken = "Socialförvaltningen"
    c26 = cycle_body(2026)
    coordinator = world.as_("coordinator")
    cases: list[tuple[int, str, Callable[[], httpx.Response]]] = [
        (404, "not_found", post("entries", notify | {"unit_id": 987654})),
        (404, "not_found", post("entries", notify | {"unit_id": 987654}, coordinator)),
        (404, "cycle_not_found", post("entries", {**ours, "year": 2031})),
        (422, "unknown_award_class", post("entries", {**ours, "award_class": "cirkus"})),
        (422, "invalid_field", post("entries", notify | {"unit_id": 2**63})),
        (422, "invalid_field", post("entries", {"unit_id": unit})),
        (422, "invalid_field", post("units", unit_body(org, "X", share_stockholm_residents=1.5))),
        (422, "invalid_field", post("units", unit_body(org, "X", staff_count=-1))),
        (422, "invalid_email", post("units", unit_body(org, "X", contact_email="inte en adress"))),
        (422, "invalid_field", post("units", unit_body(org, "Noll\x00byte"))),
        (422, "invalid_characters", post("units", unit_body(org, "Förskolan\x01Sol"))),
        (422, "invalid_characters", post("units", unit_body(org, "U4\r\nX"))),
        (422, "invalid_characters", post("organisations", organisation | {"name": "O\nrg\x07"})),
        (422, "invalid_characters", post("organisations", organisation | {"board": "Nämnd\u202e"})),
        (409, "unit_exists", post("units", unit_body(org, "Ungdomsjouren"))),
        (404, "not_found", post("units", unit_body(987654, "X"))),
        (422, "invalid_field", post("organisations", organisation | {"kind": "kommun"})),
        (422, "invalid_field", post("organisations", {**organisation, "board": "a\x00b"})),
        (409, "organisation_exists", post("organisations", {**organisation, "name": taken})),
        (409, "cycle_exists", post("cycles", cycle_body(YEAR))),
        (422, "deadlines_out_of_order", post("cycles", {**c26, "winners_date": "2026-01-01"})),
        (422, "invalid_field", post("cycles", {**c26, "winners_date": "2026-02-30"})),
        (422, "invalid_field", post("cycles", cycle_body(1899))),
        (422, "invalid_field", partial(admin.get, f"{API}/entries", params={"year": 2**40})),
        (404, "not_found", partial(admin.post, f"{API}/outbox/{2**40}/retry")),
    ]  # fmt: skip
    for status, code, attempt in cases:
        response = attempt()
        refused(response, status, code)
        assert world.counts() == counts, f"{response.request.url} created something"
    body = refused(admin.post(f"{API}/units", json={"organisation_id": world.org_a}), 422)
    missing = {r["message"].split(":")[0] for r in body["reasons"]}
    assert {"name", "staff_count", "privately_run", "share_stockholm_residents"} <= missing
    created = world.new_entry(world.unit)
    refused(
        admin.post(f"{API}/entries", json={**notify, "unit_id": world.unit}), 409, "entry_exists"
    )
    assert [e["id"] for e in expect(admin.get(f"{API}/entries"), 200)] == [created["id"]]


def test_concurrent_moves_from_one_version_apply_once(world_factory: Any) -> None:
    """Twelve clients move the same entry from version 1 at once: one 200, eleven 409, one
    history event and one e-mail."""
    world = world_factory()
    entry = world.new_entry(world.unit)
    url = f"{world.server.url}{API}/entries/{entry['id']}/transitions"
    body = {"to": "board_decision", "version": 1, "data": STEP_DATA["board_decision"]}
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}

    def post(_: int) -> httpx.Response:
        return httpx.post(url, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(post, range(12)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 11, [
        r.text for r in responses if r.status_code not in (200, 409)
    ]
    entry_now, history, messages = world.snapshot(entry["id"])
    assert (entry_now["stage"], entry_now["version"]) == ("board_decision", 2)
    assert [e["to"] for e in history] == ["notified", "board_decision"]
    assert [m["kind"] for m in messages].count("board_decision_recorded") == 1


# --- every role × action, on one SQLite server ------------------------------------------------

# Expected status per role, in the order of ROLES (admin, coordinator, unit_contact,
# examiner, jury). 404 where the role cannot see the entry in that stage at all: the jury
# sees entries from `examined` on, so for it an earlier entry does not exist.
MATRIX: dict[str, tuple[int, int, int, int, int]] = {
    "create_cycle": (201, 403, 403, 403, 403),
    "list_cycles": (200, 200, 200, 200, 200),
    "create_organisation": (201, 403, 403, 403, 403),
    "list_organisations": (200, 200, 200, 200, 200),
    "create_unit": (201, 201, 403, 403, 403),
    "list_units": (200, 200, 200, 200, 200),
    "create_entry": (201, 201, 403, 403, 403),
    "list_entries": (200, 200, 200, 200, 200),
    "list_outbox": (200, 200, 200, 200, 200),
    "retry_outbox": (200, 403, 403, 403, 403),
    "assign_examiner": (201, 403, 403, 403, 403),
    "get_entry": (200, 200, 200, 200, 404),
    "get_history": (200, 200, 200, 200, 404),
    "get_examined_entry": (200, 200, 200, 200, 200),
    "board_decision": (200, 200, 403, 403, 404),
    "upload_extract": (201, 201, 403, 403, 404),
    "extract_sent": (200, 200, 403, 403, 404),
    "upload_contribution": (201, 201, 201, 403, 404),
    "submitted": (200, 200, 200, 403, 404),
    "book_site_visit": (200, 403, 403, 200, 404),
    "examined": (200, 403, 403, 403, 404),  # reached by the team's consensus
    "feedback": (200, 403, 403, 403, 403),  # released by the admin (feedback_release)
    # Nobody moves an entry to `jury` by hand: the announcement does (test_api_jury.py).
    "jury": (422, 403, 403, 403, 422),
    "withdrawn": (200, 200, 200, 403, 404),
}
# The stage an entry must be in for each action on an entry.
SOURCE_STAGE = {
    "assign_examiner": "notified",
    "get_entry": "notified",
    "get_history": "notified",
    "get_examined_entry": "examined",
    "board_decision": "notified",
    "upload_extract": "board_decision",
    "extract_sent": "board_decision",
    "upload_contribution": "extract_sent",
    "submitted": "extract_sent",
    "book_site_visit": "submitted",
    "examined": "submitted",
    "feedback": "examined",
    "jury": "feedback",
    "withdrawn": "notified",
}
TRANSITION_ACTIONS = {
    "board_decision",
    "extract_sent",
    "submitted",
    "examined",
    "feedback",
    "jury",
    "withdrawn",
}


@pytest.fixture(scope="module")
def matrix_world(module_sqlite_server: LiveServer) -> Iterator[World]:
    """Users of every role, and one examined entry of the unit contact's unit (in 2029) with
    the examiner assigned, so that every role has something to list."""
    world = make_world(module_sqlite_server, "coordinator", "unit_contact", "examiner", "jury")
    expect(world.admin.post(f"{API}/cycles", json=cycle_body(2029)), 201)
    seen_by_all = world.new_entry(world.unit, 2029)
    expect(world.assign(seen_by_all["id"]), 201)
    world.walk_to(seen_by_all, "examined")
    world.seat_jury(2029)
    yield world
    world.close()


def _entry_for(world: World, role: str, stage: str) -> dict[str, Any]:
    """A fresh entry in `stage` that `role` is tied to: the unit contact's own unit (in a
    cycle of its own: a unit takes part once a year), else a new unit of organisation A.
    The examiner (of organisation B) is assigned to it."""
    if role == "unit_contact":
        year = next(world.years)
        expect(world.admin.post(f"{API}/cycles", json=cycle_body(year)), 201)
        entry = world.new_entry(world.unit, year)
    else:
        entry = world.new_entry()
    expect(world.assign(entry["id"]), 201)
    return world.walk_to(entry, stage)


def _perform(world: World, role: str, action: str, entry: dict[str, Any] | None) -> httpx.Response:
    client = world.as_(role)
    n = next(world.counter)
    if action == "create_cycle":
        return client.post(f"{API}/cycles", json=cycle_body(2099))
    if action == "create_organisation":
        return client.post(
            f"{API}/organisations", json={"name": f"Org {n}", "board": "Nämnd", "kind": "bolag"}
        )
    if action == "create_unit":
        return client.post(f"{API}/units", json=unit_body(world.org_a, f"Ny enhet {n}"))
    if action == "create_entry":
        assert entry is not None
        notify = {"unit_id": entry["unit_id"], "year": YEAR, "award_class": "skola"}
        return client.post(f"{API}/entries", json=notify)
    if action.startswith("list_"):
        return client.get(f"{API}/{action.removeprefix('list_')}")
    if action == "retry_outbox":
        first = expect(world.admin.get(f"{API}/outbox"), 200)[0]
        return client.post(f"{API}/outbox/{first['id']}/retry")
    assert entry is not None
    entry_url = f"{API}/entries/{entry['id']}"
    if action == "assign_examiner":
        return client.post(f"{entry_url}/examiners", json={"user_id": world.user_id("examiner")})
    if action in ("get_entry", "get_examined_entry"):
        return client.get(entry_url)
    if action == "get_history":
        return client.get(f"{entry_url}/history")
    if action == "upload_extract":
        return client.post(f"{entry_url}/documents", **pdf_upload())
    if action == "upload_contribution":
        files = {"file": ("bidrag.pdf", MINIMAL_PDF, "application/pdf")}
        return client.post(f"{entry_url}/documents", files=files, data={"kind": "contribution"})
    if action == "book_site_visit":
        visit = {"site_visit_on": "2024-09-03", "version": entry["version"]}
        return client.post(f"{entry_url}/site-visit", json=visit)
    assert action in TRANSITION_ACTIONS
    note = "Enheten drar sig ur." if action == "withdrawn" else None
    body = {
        "to": action,
        "version": entry["version"],
        "note": note,
        "data": STEP_DATA.get(action, {}),
    }
    return client.post(f"{entry_url}/transitions", json=body)


@pytest.mark.parametrize(
    ("action", "role", "status"),
    [
        pytest.param(action, role, status, id=f"{action}-{role}")
        for action, statuses in MATRIX.items()
        for role, status in zip(ROLES, statuses, strict=True)
    ],
)
def test_role_action_matrix(matrix_world: World, action: str, role: str, status: int) -> None:
    """Each role may do exactly what its row says; a refusal says why (403) or that there is
    no such entry for it (404), and changes nothing."""
    world = matrix_world
    entry = _entry_for(world, role, SOURCE_STAGE[action]) if action in SOURCE_STAGE else None
    if action == "create_entry":
        entry = {"unit_id": world.new_unit()}  # a unit to notify, not yet an entry
    if action == "extract_sent":  # the extract is uploaded; only the sending is tested
        url = f"{API}/entries/{entry['id']}/documents"  # type: ignore[index]
        expect(world.admin.post(url, **pdf_upload()), 201)
    before = world.snapshot(entry["id"]) if entry and "id" in entry else None
    counts = world.counts()
    response = _perform(world, role, action, entry)
    if status >= 400:
        code = {403: "forbidden", 404: "not_found", 422: "jury_by_decision"}[status]
        refused(response, status, code)
        if before is not None:
            assert world.snapshot(entry["id"]) == before  # type: ignore[index]
        assert world.counts() == counts
        return
    body = expect(response, status)
    if action in TRANSITION_ACTIONS:
        assert (body["stage"], body["version"]) == (action, entry["version"] + 1)  # type: ignore[index]
        history = expect(world.admin.get(f"{API}/entries/{body['id']}/history"), 200)
        assert (history[-1]["to"], history[-1]["actor"]) == (action, role)
    elif action.startswith("list_"):
        assert isinstance(body, list)
        if action in ("list_cycles", "list_entries", "list_outbox"):
            assert body, f"{role} sees no {action.removeprefix('list_')}"
    elif action in ("get_entry", "get_examined_entry"):
        assert body.keys() >= ENTRY_FIELDS
    elif action == "get_history":
        assert [e["to"] for e in body] == ["notified"]

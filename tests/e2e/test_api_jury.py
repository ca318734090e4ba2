"""The jury over HTTP against a real server on SQLite and PostgreSQL: roles (admin sets the
committee and announces, only the chair decides, a jury user of no committee sees nothing), and
the embargo: before the announcement the coordinator and the unit contact find no outcome in
any API route, export, calendar feed, page or queued message (e-mail or webhook); after it the
outcome e-mails are queued once per entry."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pypdf import PdfReader
from sqlmodel import select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_api_years import expect, refused
from tests.integration.test_jury import entry_with_consensus
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import Entry, OutboxMessage, Unit

API = "/api/v1"
NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
MOTIVATION = "Ett föredöme för hela staden i hur brukarnas röst styr verksamheten"
PASSWORD = "hemligt-lösen-2024"
# What an outcome looks like wherever it could surface (JSON, CSV, iCalendar, HTML, e-mail).
# Compared in lower case; `"winner"` quoted, as JSON carries it ("winners_date" is no outcome).
OUTCOME_MARKS = ('"winner"', '"not_awarded"', "vinnare i sin klass", "ej tilldelad", "grattis",
                 MOTIVATION.lower(), "jury_outcome")  # fmt: skip


Clients = tuple[dict[str, int], dict[str, httpx.Client]]


def leaks(text: str) -> list[str]:
    return [mark for mark in OUTCOME_MARKS if mark in text.lower()]


def _seed(server: LiveServer) -> dict[str, int]:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        ids = {
            "best": entry_with_consensus(engine, "Ungdomsjouren", 5),
            "other": entry_with_consensus(engine, "Fältgruppen", 3),
        }
        with transaction(engine) as session:
            unit = session.get(Unit, session.get(Entry, ids["best"]).unit_id)  # type: ignore[union-attr]
            assert unit is not None
            ids["organisation"], ids["unit"] = unit.organisation_id, unit.id or 0
            for name, role, extra in (
                ("samordnare", "coordinator", {"organisation_id": unit.organisation_id}),
                ("enhetschef", "unit_contact", {"unit_id": unit.id}),
            ):
                services.create_user(
                    session, name=name, role=role, now=NOW, password=PASSWORD, **extra
                )
        return ids
    finally:
        engine.dispose()


def _feed_token(server: LiveServer, organisation_id: int) -> str:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            return services.create_feed_token(
                session, organisation_id=organisation_id, created_by="test", now=NOW
            )
    finally:
        engine.dispose()


def _queued(server: LiveServer) -> list[OutboxMessage]:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            return list(session.exec(select(OutboxMessage)).all())
    finally:
        engine.dispose()


@pytest.fixture
def clients(server: LiveServer) -> Iterator[Clients]:
    ids = _seed(server)
    made = {
        "admin": server.client(server.direct_user("kansliet", "admin")),
        "chair": server.client(server.direct_user("stadsdirektoren", "jury")),
        "member": server.client(server.direct_user("bertil", "jury")),
        "outsider": server.client(server.direct_user("david", "jury")),
        "coordinator": server.client(
            server.direct_user("samordnare2", "coordinator", organisation_id=ids["organisation"])
        ),
        "unit_contact": server.client(
            server.direct_user("enhetschef2", "unit_contact", unit_id=ids["unit"])
        ),
    }
    users = server.user_ids
    ids["chair"], ids["member"] = users["stadsdirektoren"], users["bertil"]
    yield ids, made
    for client in made.values():
        client.close()


def _login(server: LiveServer, name: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    answer = client.post(
        "/login", data={"name": name, "password": PASSWORD, "csrf_token": csrf.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return client


def _everything_seen(
    server: LiveServer, client: httpx.Client, login: str, ids: dict[str, int], feed: str
) -> dict[str, str]:
    """Every route, export, feed and page this person can read, by what it is."""
    seen: dict[str, str] = {}
    for url in (
        f"{API}/entries", f"{API}/entries/{ids['best']}", f"{API}/entries/{ids['other']}",
        f"{API}/entries/{ids['best']}/history", f"{API}/outbox",
        f"{API}/entries/{ids['best']}/history.csv", f"{API}/exports/entries.csv?year=2024",
        f"{API}/cycles",
    ):  # fmt: skip
        response = client.get(url)
        assert response.status_code in (200, 403, 404), (url, response.status_code, response.text)
        seen[url] = response.text
    seen["feed"] = httpx.get(f"{server.url}{API}/calendar.ics", params={"token": feed}).text
    xlsx = client.get(f"{API}/exports/entries.xlsx", params={"year": 2024})
    seen["xlsx"] = xlsx.content.decode("latin-1")
    pages = _login(server, login)
    try:
        for url in ("/", "/entries", f"/entries/{ids['best']}", f"/entries/{ids['other']}",
                    "/outbox"):  # fmt: skip
            response = pages.get(url)
            assert response.status_code in (200, 403, 404), (url, response.status_code)
            seen[url] = response.text
    finally:
        pages.close()
    return seen


def test_roles_and_bad_input_are_refused(clients: Clients) -> None:
    ids, c = clients
    committee = {"members": [ids["chair"], ids["member"]], "chair": ids["chair"]}
    two_chairs = {**committee, "chair": [ids["chair"], ids["member"]]}
    refused(c["chair"].put(f"{API}/cycles/2024/jury", json=committee), 403, "forbidden")
    refused(c["admin"].put(f"{API}/cycles/2024/jury", json=two_chairs), 422, "second_chair")
    expect(c["admin"].put(f"{API}/cycles/2024/jury", json=committee), 200)

    klass = f"{API}/cycles/2024/classes/socialtjanst"
    decision = {"winners": [ids["best"]], "motivation": MOTIVATION}
    refused(c["outsider"].get(f"{klass}/jury"), 404, "not_jury_member")
    refused(c["coordinator"].get(f"{klass}/jury-pack.pdf"), 403, "forbidden")
    refused(c["member"].put(f"{klass}/decision", json=decision), 403, "not_chair")
    refused(c["admin"].put(f"{klass}/decision", json=decision), 403, "not_chair")
    refused(c["unit_contact"].post(f"{API}/cycles/2024/announcement", json={}), 403, "forbidden")
    refused(c["chair"].put(f"{API}/cycles/2024/classes/skola/decision", json=decision),
            422, "class_without_entries")  # fmt: skip
    refused(c["chair"].put(f"{klass}/decision", json={"winners": [ids["best"]]}),
            422, "missing_motivation")  # fmt: skip
    assert expect(c["chair"].get(f"{klass}/jury"), 200)["decision"] is None

    pack = c["member"].get(f"{klass}/jury-pack.pdf")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pack.content)).pages)
    assert text.index("1. Ungdomsjouren") < text.index("2. Fältgruppen")


def test_the_embargo_holds_until_the_announcement(server: LiveServer, clients: Clients) -> None:
    ids, c = clients
    committee = {"members": [ids["chair"], ids["member"]], "chair": ids["chair"]}
    expect(c["admin"].put(f"{API}/cycles/2024/jury", json=committee), 200)
    klass = f"{API}/cycles/2024/classes/socialtjanst"
    mine = {"winners": [ids["best"]], "motivation": "Starkast"}
    expect(c["member"].put(f"{klass}/recommendations/mine", json=mine), 200)
    decided = expect(
        c["chair"].put(
            f"{klass}/decision", json={"winners": [ids["best"]], "motivation": MOTIVATION}
        ),
        200,
    )
    assert decided["decision"]["winners"] == [ids["best"]]
    feed = _feed_token(server, ids["organisation"])
    before = len(_queued(server))

    for role, login in (("coordinator", "samordnare"), ("unit_contact", "enhetschef")):
        for where, text in _everything_seen(server, c[role], login, ids, feed).items():
            assert leaks(text) == [], f"{role} sees {leaks(text)} in {where}"
    queued = _queued(server)
    assert [m.kind for m in queued if leaks(json.dumps(m.payload, ensure_ascii=False))] == []
    assert not [m for m in queued if m.kind == "jury_outcome"]

    announced = expect(c["admin"].post(f"{API}/cycles/2024/announcement", json={}), 200)
    assert sorted(announced["moved"]) == sorted([ids["best"], ids["other"]])
    refused(c["admin"].post(f"{API}/cycles/2024/announcement", json={}), 409, "already_announced")
    outcomes = [m for m in _queued(server) if m.kind == "jury_outcome"]
    assert sorted(m.entry_id or 0 for m in outcomes) == sorted([ids["best"], ids["other"]])
    assert len(_queued(server)) > before
    seen = expect(c["unit_contact"].get(f"{API}/entries/{ids['best']}"), 200)
    assert (seen["stage"], seen["facts"]["jury"]) == (
        "jury",
        {"outcome": "winner", "motivation": MOTIVATION},  # public with the decision
    )

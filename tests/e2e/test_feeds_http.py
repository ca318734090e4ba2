"""Calendar feeds and exports through a real server: subscribe without a login, revoke, and the
404 that does not tell a wrong token from an unknown organisation."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from icalendar import Calendar
from openpyxl import load_workbook

from tests.e2e.conftest import LiveServer

CYCLE = {
    "year": 2024,
    "contribution_deadline": "2024-05-17",
    "extract_deadline": "2024-06-28",
    "winners_date": "2024-11-26",
}


def organisation(admin: httpx.Client, name: str) -> int:
    response = admin.post(
        "/api/v1/organisations",
        json={"name": name, "board": f"{name}s nämnd", "kind": "forvaltning"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def entry(admin: httpx.Client, organisation_id: int, unit: str) -> dict[str, Any]:
    created = admin.post(
        "/api/v1/units",
        json={
            "organisation_id": organisation_id,
            "name": unit,
            "staff_count": 12,
            "manager_has_budget_and_staff_responsibility": True,
            "has_business_plan": True,
            "share_stockholm_residents": 0.9,
            "budget_in_balance": True,
            "privately_run": False,
            "contact_email": "chef@example.se",
        },
    )
    assert created.status_code == 201, created.text
    response = admin.post(
        "/api/v1/entries",
        json={"unit_id": created.json()["id"], "year": 2024, "award_class": "förskola"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def setup(server: LiveServer) -> tuple[httpx.Client, int, int]:
    admin = server.client(server.user("kansliet", "admin"))
    assert admin.post("/api/v1/cycles", json=CYCLE).status_code == 201
    return admin, organisation(admin, "Socialförvaltningen"), organisation(admin, "Södermalm")


def test_subscribe_without_login_then_revoke(server: LiveServer) -> None:
    """On both databases: an admin makes an organisation's subscription URL; a calendar app
    fetches it with no Authorization header; after revocation the same URL is 404."""
    admin, social, _ = setup(server)
    entry(admin, social, "Förskolan Äppelträdet")
    created = admin.post("/api/v1/calendar-tokens", json={"organisation_id": social})
    assert created.status_code == 201, created.text
    issued = created.json()
    assert set(issued) == {"id", "organisation_id", "token", "url"}
    assert issued["url"] == f"{server.url}/api/v1/calendar.ics?token={issued['token']}"

    feed = httpx.get(issued["url"], timeout=30)  # a calendar app: no login
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(feed.content)
    assert str(calendar["X-WR-CALNAME"]) == "Kvalitetsutmärkelsen – Socialförvaltningen"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Stockholm"]
    uids = {str(e["UID"]) for e in calendar.walk("VEVENT")}
    assert "ceremony-2024@kvalitet.stockholm.se" in uids

    listed = admin.get("/api/v1/calendar-tokens").json()
    assert [t["id"] for t in listed] == [issued["id"]]
    assert "token" not in listed[0] and listed[0]["revoked_at"] is None

    assert admin.delete(f"/api/v1/calendar-tokens/{issued['id']}").status_code == 204
    gone = httpx.get(issued["url"], timeout=30)
    assert gone.status_code == 404
    wrong = httpx.get(f"{server.url}/api/v1/calendar.ics", params={"token": "fel"}, timeout=30)
    assert gone.content == wrong.content
    assert admin.get("/api/v1/calendar-tokens").json()[0]["revoked_at"] is not None


def test_feed_404_does_not_tell_a_wrong_token_from_an_unknown_organisation(
    sqlite_server: LiveServer,
) -> None:
    admin, social, sodermalm = setup(sqlite_server)
    url = f"{sqlite_server.url}/api/v1/calendar.ics"
    city = admin.post("/api/v1/calendar-tokens", json={"organisation_id": None}).json()
    own = admin.post("/api/v1/calendar-tokens", json={"organisation_id": social}).json()

    assert httpx.get(url, params={"token": city["token"]}).status_code == 200
    assert (
        httpx.get(url, params={"token": city["token"], "organisation_id": sodermalm}).status_code
        == 200
    )
    refused = [
        httpx.get(url, params={"token": "fel-token"}),
        httpx.get(url, params={"token": city["token"], "organisation_id": 999_999}),
        httpx.get(url, params={"token": own["token"], "organisation_id": sodermalm}),
        httpx.get(url),
    ]
    assert [r.status_code for r in refused] == [404] * 4
    assert len({r.content for r in refused}) == 1
    assert refused[0].json()["reasons"][0]["code"] == "calendar_not_found"
    assert "Södermalm" not in refused[1].text and "999999" not in refused[1].text


def test_coordinators_manage_only_their_own_organisations_feeds(
    sqlite_server: LiveServer,
) -> None:
    admin, social, sodermalm = setup(sqlite_server)
    coordinator = sqlite_server.client(
        sqlite_server.user("samordnare", "coordinator", "--organisation", str(social))
    )
    city = admin.post("/api/v1/calendar-tokens", json={"organisation_id": None}).json()

    own = coordinator.post("/api/v1/calendar-tokens", json={"organisation_id": social})
    assert own.status_code == 201
    for body in ({"organisation_id": sodermalm}, {"organisation_id": None}):
        refused = coordinator.post("/api/v1/calendar-tokens", json=body)
        assert refused.status_code == 403
        assert refused.json()["reasons"][0]["code"] == "forbidden"
    assert coordinator.post(
        "/api/v1/calendar-tokens", json={"organisation_id": "x"}
    ).status_code == (422)
    assert admin.post("/api/v1/calendar-tokens", json={"organisation_id": 999_999}).status_code == (
        404
    )
    assert [t["id"] for t in coordinator.get("/api/v1/calendar-tokens").json()] == [
        own.json()["id"]
    ]
    assert coordinator.delete(f"/api/v1/calendar-tokens/{city['id']}").status_code == 404
    assert coordinator.delete("/api/v1/calendar-tokens/999999").status_code == 404
    assert coordinator.delete(f"/api/v1/calendar-tokens/{2**70}").status_code == 404
    assert coordinator.delete(f"/api/v1/calendar-tokens/{own.json()['id']}").status_code == 204
    # Refusals stored nothing: the admin's token and the coordinator's one, nothing more.
    tokens = admin.get("/api/v1/calendar-tokens").json()
    assert len(tokens) == 2
    assert [t["revoked_at"] is None for t in tokens] == [True, False]
    assert httpx.post(f"{sqlite_server.url}/api/v1/calendar-tokens", json={}).status_code == 401


def test_exports_need_a_login_and_the_right_role(sqlite_server: LiveServer) -> None:
    admin, social, sodermalm = setup(sqlite_server)
    own = entry(admin, social, "Förskolan Äppelträdet")
    other = entry(admin, sodermalm, "Ängens äldreboende")
    coordinator = sqlite_server.client(
        sqlite_server.user("samordnare", "coordinator", "--organisation", str(social))
    )
    anonymous = sqlite_server.client()
    paths = (
        "/api/v1/exports/entries.csv?year=2024",
        "/api/v1/exports/entries.xlsx?year=2024",
        f"/api/v1/entries/{own['id']}/history.csv",
    )
    for path in paths:
        assert anonymous.get(path).status_code == 401
    assert coordinator.get(paths[0]).status_code == 403
    assert coordinator.get(paths[1]).status_code == 403
    assert coordinator.get(paths[2]).status_code == 200
    assert coordinator.get(f"/api/v1/entries/{other['id']}/history.csv").status_code == 404

    exported = admin.get(paths[0])
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"] == (
        'attachment; filename="kvalitetsutmarkelsen-2024.csv"'
    )
    assert exported.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert [row[1] for row in rows[1:]] == ["Förskolan Äppelträdet", "Ängens äldreboende"]

    workbook = admin.get(paths[1])
    assert workbook.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        "Förskolan Äppelträdet",
        "Ängens äldreboende",
    ]

    history = admin.get(paths[2])
    assert history.status_code == 200
    assert "Anmäld" in history.content.decode("utf-8-sig")
    missing = admin.get("/api/v1/exports/entries.csv?year=2030")
    assert missing.status_code == 404
    assert missing.json()["reasons"][0]["code"] == "cycle_not_found"

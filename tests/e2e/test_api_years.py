"""Next year from this one over HTTP: `POST /api/v1/cycles/{year}/copy` and
`GET /api/v1/cycles/{year}/offers`, against a real server on SQLite and PostgreSQL.

Every refusal is checked for its status and reason, and that nothing changed: the cycles and
the audit trail read back afterwards are what they were before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import select

from tests.e2e.conftest import LiveServer
from workflow.db import make_engine, transaction
from workflow.models import AuditEvent

API = "/api/v1"


@dataclass
class Year2025:
    server: LiveServer
    admin: httpx.Client
    units: dict[str, int]


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code}, "
        f"expected {status}: {response.text[:2000]}"
    )
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> list[dict[str, str]]:
    body = expect(response, status)
    assert body["detail"].strip()
    assert code in {r["code"] for r in body["reasons"]}, body
    return list(body["reasons"])


def make_cycle(
    admin: httpx.Client, year: int, contribution: str, extract: str, winners: str
) -> None:
    expect(
        admin.post(
            f"{API}/cycles",
            json={
                "year": year,
                "contribution_deadline": contribution,
                "extract_deadline": extract,
                "winners_date": winners,
                "classes": ["socialtjänst", "skola"],
                "ceremony_starts_at": "14:00",
                "ceremony_ends_at": "16:30",
            },
        ),
        201,
    )


@pytest.fixture
def year2025(server: LiveServer) -> Year2025:
    """2025: 17 May (a Saturday), 19 June (a Thursday; in 2026 midsommarafton) and 25 Nov.
    Three units took part; a fourth withdrew; a fifth only took part in 2024."""
    token = server.direct_user("kansliet", "admin")
    admin = server.client(token)
    make_cycle(admin, 2024, "2024-05-17", "2024-06-28", "2024-11-26")
    make_cycle(admin, 2025, "2025-05-17", "2025-06-19", "2025-11-25")
    org = expect(
        admin.post(
            f"{API}/organisations",
            json={
                "name": "Socialförvaltningen",
                "board": "Socialnämnden",
                "kind": "forvaltning",
                "coordinator_email": "samordnare@example.se",
            },
        ),
        201,
    )
    units: dict[str, int] = {}
    for name in ("Ungdomsjouren", "LSS/SoL-hälsan", "Fältassistenterna", "Drogstödet", "Jouren"):
        unit = expect(
            admin.post(
                f"{API}/units",
                json={
                    "organisation_id": org["id"],
                    "name": name,
                    "staff_count": 12,
                    "manager_has_budget_and_staff_responsibility": True,
                    "has_business_plan": True,
                    "share_stockholm_residents": 0.9,
                    "budget_in_balance": True,
                    "privately_run": False,
                    "contact_email": "chef@example.se",
                },
            ),
            201,
        )
        units[name] = unit["id"]
    for name in ("Ungdomsjouren", "LSS/SoL-hälsan", "Fältassistenterna", "Drogstödet"):
        entry = expect(
            admin.post(
                f"{API}/entries",
                json={"unit_id": units[name], "year": 2025, "award_class": "socialtjanst"},
            ),
            201,
        )
        if name == "Drogstödet":
            expect(
                admin.post(
                    f"{API}/entries/{entry['id']}/transitions",
                    json={"to": "withdrawn", "version": entry["version"], "note": "Avstår."},
                ),
                200,
            )
    expect(
        admin.post(
            f"{API}/entries",
            json={"unit_id": units["Jouren"], "year": 2024, "award_class": "socialtjanst"},
        ),
        201,
    )
    return Year2025(server, admin, units)


def cycles(admin: httpx.Client) -> list[dict[str, Any]]:
    return list(expect(admin.get(f"{API}/cycles"), 200))


def audit_events(server: LiveServer) -> list[tuple[str, int, str]]:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            rows = session.exec(select(AuditEvent)).all()
            return [(r.subject, r.subject_id, r.action) for r in rows]
    finally:
        engine.dispose()


def test_copy_makes_next_years_cycle_with_moved_dates_settings_and_offers(
    year2025: Year2025,
) -> None:
    """17 May 2026 is a Sunday → Friday 15 May; 19 June 2026 is midsommarafton → Thursday 18
    June; 25 November 2026 is a Wednesday and stays. Classes and ceremony hours come along; the
    three units that took part in 2025 are offered, not registered."""
    body = expect(year2025.admin.post(f"{API}/cycles/2025/copy", json={"year": 2026}), 201)
    cycle = body["cycle"]
    assert cycle["year"] == 2026
    assert cycle["contribution_deadline"] == "2026-05-15"
    assert cycle["extract_deadline"] == "2026-06-18"
    assert cycle["winners_date"] == "2026-11-25"
    assert cycle["classes"] == ["socialtjanst", "skola"]
    assert (cycle["ceremony_starts_at"], cycle["ceremony_ends_at"]) == ("14:00", "16:30")
    assert cycle["award_office_email"] == "kvalitetsutmarkelsen@stockholm.se"
    assert cycle["budget_rule"] == "to_win"
    moved = {m["field"]: m for m in body["moved"]}
    assert set(moved) == {"contribution_deadline", "extract_deadline"}
    assert moved["contribution_deadline"]["from"] == "2025-05-17"
    assert moved["contribution_deadline"]["to"] == "2026-05-15"
    assert "söndag" in moved["contribution_deadline"]["reason"]
    assert moved["extract_deadline"]["to"] == "2026-06-18"
    assert "midsommarafton" in moved["extract_deadline"]["reason"]
    offered = {o["unit"] for o in body["offers"]}
    assert offered == {"Ungdomsjouren", "LSS/SoL-hälsan", "Fältassistenterna"}
    assert body["units_offered"] == 3
    first = body["offers"][0]
    assert first["register_url"] == f"/admin/entries/new?unit={first['unit_id']}&year=2026"
    assert first["years"] == [2025]
    # Offered, never registered: 2026 has no entries.
    assert expect(year2025.admin.get(f"{API}/entries", params={"year": 2026}), 200) == []
    assert [c["year"] for c in cycles(year2025.admin)] == [2024, 2025, 2026]
    assert ("cycle", cycle["id"], "copied") in audit_events(year2025.server)


def test_a_year_taken_is_409_and_nothing_changes(year2025: Year2025) -> None:
    before, audited = cycles(year2025.admin), audit_events(year2025.server)
    refused(
        year2025.admin.post(f"{API}/cycles/2024/copy", json={"year": 2025}), 409, "cycle_exists"
    )
    assert cycles(year2025.admin) == before
    assert audit_events(year2025.server) == audited  # the setup's own events, nothing more


def test_an_unknown_source_year_is_404_and_nothing_changes(year2025: Year2025) -> None:
    before = cycles(year2025.admin)
    refused(
        year2025.admin.post(f"{API}/cycles/2019/copy", json={"year": 2027}),
        404,
        "cycle_not_found",
    )
    assert cycles(year2025.admin) == before


@pytest.mark.parametrize(
    "body",
    [{"year": 2101}, {"year": 1999}, {"year": "nästa"}, {}, {"year": 2026, "extra": 1}],
)
def test_a_bad_body_is_422_with_the_field_named_and_nothing_changes(
    year2025: Year2025, body: dict[str, Any]
) -> None:
    before = cycles(year2025.admin)
    response = year2025.admin.post(f"{API}/cycles/2025/copy", json=body)
    reasons = expect(response, 422)["reasons"]
    assert reasons and all(r["message"].strip() for r in reasons)
    assert cycles(year2025.admin) == before


def test_dates_out_of_order_after_moving_are_refused_with_the_reason(year2025: Year2025) -> None:
    """2030: extract Monday 23 December, winners Friday 27 December. In 2031 the 27th is a
    Saturday, and 26, 25 and 24 December are holidays: the winners' day moves back onto the
    23rd, the extract's own day, and the copy is refused with the reason."""
    make_cycle(year2025.admin, 2030, "2030-05-17", "2030-12-23", "2030-12-27")
    before = cycles(year2025.admin)
    reasons = refused(
        year2025.admin.post(f"{API}/cycles/2030/copy", json={"year": 2031}),
        422,
        "deadlines_out_of_order",
    )
    assert any("2031" in r["message"] for r in reasons)
    assert cycles(year2025.admin) == before


def test_only_the_admin_copies(year2025: Year2025) -> None:
    token = year2025.server.direct_user("jury1", "jury")
    before = cycles(year2025.admin)
    refused(
        year2025.server.client(token).post(f"{API}/cycles/2025/copy", json={"year": 2026}),
        403,
        "forbidden",
    )
    assert cycles(year2025.admin) == before


def test_offers_list_units_that_took_part_earlier_and_have_no_entry_this_year(
    year2025: Year2025,
) -> None:
    """2026: those of 2025 (not the withdrawn one) and Jouren from 2024; once Ungdomsjouren is
    registered for 2026 it is no longer offered."""
    expect(year2025.admin.post(f"{API}/cycles/2025/copy", json={"year": 2026}), 201)
    body = expect(year2025.admin.get(f"{API}/cycles/2026/offers"), 200)
    assert body["year"] == 2026
    assert [o["unit"] for o in body["offers"]] == [
        "Fältassistenterna",
        "LSS/SoL-hälsan",
        "Ungdomsjouren",
        "Jouren",
    ]
    assert body["offers"][-1]["years"] == [2024]
    assert body["offers"][-1]["last_year"] == 2024
    expect(
        year2025.admin.post(
            f"{API}/entries",
            json={
                "unit_id": year2025.units["Ungdomsjouren"],
                "year": 2026,
                "award_class": "socialtjanst",
            },
        ),
        201,
    )
    again = expect(year2025.admin.get(f"{API}/cycles/2026/offers"), 200)
    assert "Ungdomsjouren" not in {o["unit"] for o in again["offers"]}
    refused(year2025.admin.get(f"{API}/cycles/2027/offers"), 404, "cycle_not_found")

"""Examination over HTTP against a real server on SQLite and PostgreSQL: each piece of bad
input is refused with its status and Swedish reason, and nothing changes; the good path ends
with the entry examined."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import select

from tests.e2e.conftest import LiveServer
from tests.e2e.test_api_years import expect, refused
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import Assessment, AuditEvent, Consensus
from workflow.services import examination

API = "/api/v1"
NOW = datetime(2024, 9, 2, 9, 0, tzinfo=UTC)


@dataclass
class Team:
    server: LiveServer
    entry_id: int
    admin: httpx.Client
    lead: httpx.Client
    other: httpx.Client
    own: int  # an examiner from the unit's own administration (jäv)
    ids: dict[str, int]


def _seed(server: LiveServer) -> tuple[int, dict[str, int]]:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            services.create_cycle(
                session, year=2024, contribution_deadline=datetime(2024, 5, 17).date(),
                extract_deadline=datetime(2024, 6, 28).date(),
                winners_date=datetime(2024, 11, 26).date(),
            )  # fmt: skip
            orgs = {
                name: services.create_organisation(
                    session, name=name, kind="forvaltning", board="Nämnden"
                ).id
                or 0
                for name in ("Socialförvaltningen", "Kulturförvaltningen")
            }
            unit = services.create_unit(
                session,
                services.UnitCreate(
                    organisation_id=orgs["Socialförvaltningen"], name="Ungdomsjouren",
                    staff_count=12, manager_has_budget_and_staff_responsibility=True,
                    has_business_plan=True, share_stockholm_residents=0.9,
                    budget_in_balance=True, privately_run=True,
                ),
            )  # fmt: skip
            entry = services.create_entry(
                session, unit_id=unit.id or 0, year=2024, award_class="socialtjanst",
                actor="test", now=NOW,
            )  # fmt: skip
            services.advance_entry(
                session, entry_id=entry.id or 0, target="submitted", version=1, actor="test",
                now=NOW,
            )  # fmt: skip
            examination.seed_default_criteria(session, year=2024, now=NOW)
            return entry.id or 0, orgs
    finally:
        engine.dispose()


@pytest.fixture
def team(server: LiveServer) -> Iterator[Team]:
    entry_id, orgs = _seed(server)
    culture, social = orgs["Kulturförvaltningen"], orgs["Socialförvaltningen"]
    admin = server.client(server.direct_user("kansliet", "admin"))
    lead = server.client(server.direct_user("lena", "examiner", organisation_id=culture))
    other = server.client(server.direct_user("olle", "examiner", organisation_id=culture))
    server.direct_user("sara", "examiner", organisation_id=social)
    ids = server.user_ids
    yield Team(server, entry_id, admin, lead, other, ids["sara"], ids)
    for client in (admin, lead, other):
        client.close()


def _state(server: LiveServer) -> tuple[int, int, int]:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            return (
                len(session.exec(select(Assessment)).all()),
                len(session.exec(select(Consensus)).all()),
                len(session.exec(select(AuditEvent)).all()),
            )
    finally:
        engine.dispose()


def _body(admin: httpx.Client, score: int = 4) -> dict[str, Any]:
    criteria = expect(admin.get(f"{API}/cycles/2024/criteria"), 200)["criteria"]
    return {
        "criteria": {
            str(c["id"]): {"score": score, "strengths": "Tydlig", "development_areas": "Mät"}
            for c in criteria
        },
        "site_visit_on": "2024-09-01",
        "interviews": {"manager": 1, "staff": 3},
    }


def test_bad_input_is_refused_in_swedish_and_changes_nothing(team: Team) -> None:
    url = f"{API}/entries/{team.entry_id}"
    lena, olle = team.ids["lena"], team.ids["olle"]
    before = _state(team.server)
    refused(team.admin.put(f"{url}/examiners", json={"examiners": [lena], "lead": lena}),
            422, "too_few_examiners")  # fmt: skip
    refused(team.admin.put(f"{url}/examiners", json={"examiners": [lena, team.own], "lead": lena}),
            409, "conflict_of_interest")  # fmt: skip
    refused(team.lead.put(f"{url}/examiners", json={"examiners": [lena, olle], "lead": lena}),
            403, "forbidden")  # fmt: skip
    refused(team.lead.get(f"{url}/assessments/mine"), 404, "not_found")  # not in a team yet
    bad_scale = {"criteria": [{"name": "Ledarskap"}], "score_min": 5, "score_max": 1}
    refused(team.admin.put(f"{API}/cycles/2024/criteria", json=bad_scale), 422, "invalid_scale")
    assert _state(team.server) == before
    expect(team.admin.put(f"{url}/examiners", json={"examiners": [lena, olle], "lead": lena}), 200)
    body = _body(team.admin)
    key = next(iter(body["criteria"]))
    too_high = {**body, "criteria": {key: {"score": 6}}}
    refused(team.lead.put(f"{url}/assessments/mine", json=too_high), 422, "score_out_of_scale")
    write = {"criteria": body["criteria"], "summary": "Ett föredöme."}
    refused(team.lead.post(f"{url}/consensus/submit", json=write), 409, "assessments_missing")
    expect(team.lead.post(f"{url}/assessments/mine/submit", json=body), 200)
    expect(team.other.post(f"{url}/assessments/mine/submit", json=_body(team.admin, 2)), 200)
    refused(team.other.put(f"{url}/consensus", json=write), 403, "not_lead")
    refused(team.admin.put(f"{API}/cycles/2024/criteria", json={"criteria": [{"name": "A"}]}),
            409, "criteria_locked")  # fmt: skip
    after = _state(team.server)
    spread = expect(team.lead.get(f"{url}/consensus"), 200)["spread"][key]
    assert sorted(spread["scores"]) == [2, 4] and spread["mean"] == 3
    result = expect(team.lead.post(f"{url}/consensus/submit", json=write), 200)
    assert result["status"] == "submitted"
    entry = expect(team.admin.get(f"{url}"), 200)
    assert entry["stage"] == "examined"
    assert _state(team.server)[1] == after[1] + 1


def test_an_examiner_reads_a_colleagues_assessment_only_after_submitting(team: Team) -> None:
    url = f"{API}/entries/{team.entry_id}"
    lena, olle = team.ids["lena"], team.ids["olle"]
    expect(team.admin.put(f"{url}/examiners", json={"examiners": [lena, olle], "lead": lena}), 200)
    expect(team.other.post(f"{url}/assessments/mine/submit", json=_body(team.admin)), 200)
    expect(team.lead.put(f"{url}/assessments/mine", json=_body(team.admin, 3)), 200)
    seen = expect(team.lead.get(f"{url}/assessments"), 200)
    assert [a["examiner"] for a in seen] == ["lena"]
    expect(team.lead.post(f"{url}/assessments/mine/submit", json=_body(team.admin, 3)), 200)
    seen = expect(team.lead.get(f"{url}/assessments"), 200)
    assert sorted(a["examiner"] for a in seen) == ["lena", "olle"]
    refused(
        team.lead.post(f"{url}/assessments/{olle}/reopen", json={"note": "x"}), 403, "forbidden"
    )
    reopened = team.admin.post(f"{url}/assessments/{olle}/reopen", json={"note": "Se över."})
    assert expect(reopened, 200)["status"] == "draft"

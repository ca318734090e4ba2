"""Writing to a group through the HTTP API and the `kvalitet message` commands, on a real
server: admins only, refusals in Swedish with nothing queued, a repeated key queues nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import func, select

from tests.conftest import seed_cycle
from tests.e2e.conftest import LiveServer
from workflow import services
from workflow.db import make_engine, transaction
from workflow.models import OutboxMessage

NOW = datetime(2024, 4, 2, 9, 0, tzinfo=UTC)
BODY = {"year": 2024, "subject": "Hej {enhet}", "text": "Hej {enhet}!\n\nSenast {datum}."}


@pytest.fixture(scope="module")
def server(module_sqlite_server: LiveServer) -> Iterator[LiveServer]:
    """2024 with two units of Socialförvaltningen, both with a contact address."""
    engine = make_engine(module_sqlite_server.env["DATABASE_URL"])
    seed_cycle(engine)
    with transaction(engine) as session:
        social = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden",
            coordinator_email="samordnare@example.se",
        )  # fmt: skip
        for number in (1, 2):
            unit = services.create_unit(
                session,
                services.UnitCreate(
                    organisation_id=social.id or 0, name=f"Enhet {number}", staff_count=12,
                    manager_has_budget_and_staff_responsibility=True, has_business_plan=True,
                    share_stockholm_residents=0.9, budget_in_balance=True, privately_run=False,
                    contact_email=f"chef{number}@example.se",
                ),
            )  # fmt: skip
            services.create_entry(
                session, unit_id=unit.id or 0, year=2024, award_class="socialtjanst",
                actor="test", now=NOW,
            )  # fmt: skip
    engine.dispose()
    yield module_sqlite_server


def group_rows(server: LiveServer) -> int:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        with transaction(engine) as session:
            return int(
                session.exec(
                    select(func.count()).where(OutboxMessage.kind == "group_message")
                ).one()
            )
    finally:
        engine.dispose()


def test_the_api_previews_sends_once_per_key_and_lists(server: LiveServer) -> None:
    token = server.direct_user("kansli-api", "admin")
    before = group_rows(server)
    with server.client(token) as client:
        preview = client.post("/api/v1/messages/preview", json={**BODY, "to": "both"})
        assert preview.status_code == 200, preview.text
        shown = preview.json()
        assert sorted(r["address"] for r in shown["recipients"]) == [
            "chef1@example.se", "chef2@example.se", "samordnare@example.se"
        ]  # fmt: skip
        assert shown["example"]["text"].startswith("Hej Enhet 1!")
        assert group_rows(server) == before

        headers = {"Idempotency-Key": "api-1"}
        first = client.post("/api/v1/messages", json=BODY, headers=headers)
        again = client.post("/api/v1/messages", json=BODY, headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == {**first.json(), "repeated": True}
        assert group_rows(server) == before + 2

        other = client.post("/api/v1/messages", json={**BODY, "text": "Annat"}, headers=headers)
        assert other.status_code == 409
        assert "Nyckeln har redan använts" in other.json()["detail"]

        listed = client.get("/api/v1/messages").json()
        assert listed[0]["group_id"] == first.json()["group_id"]
        assert listed[0]["recipients"] == 2 and listed[0]["text"] == BODY["text"]


def test_the_api_refuses_bad_input_in_swedish_and_queues_nothing(server: LiveServer) -> None:
    token = server.direct_user("kansli-fel", "admin")
    before = group_rows(server)
    with server.client(token) as client:
        for path in ("/api/v1/messages/preview", "/api/v1/messages"):
            refused = client.post(path, json={**BODY, "text": "Hej {namn}!"})
            assert refused.status_code == 422, refused.text
            assert "Okänd platshållare {namn}" in refused.json()["detail"]
        naive = client.post("/api/v1/messages", json={**BODY, "send_at": "2030-01-01T08:00:00"})
        assert naive.status_code == 422 and "tidszon" in naive.json()["detail"]
        late = client.post(
            "/api/v1/messages", json={**BODY, "send_at": "2020-01-01T08:00:00+01:00"}
        )
        assert late.status_code == 422 and "redan passerat" in late.json()["detail"]
    assert group_rows(server) == before


def test_only_admins_use_the_api(server: LiveServer) -> None:
    token = server.direct_user("sam-api", "coordinator", organisation_id=1)
    with server.client(token) as client:
        for answer in (
            client.post("/api/v1/messages/preview", json=BODY),
            client.post("/api/v1/messages", json=BODY),
            client.get("/api/v1/messages"),
        ):
            assert answer.status_code == 403
            assert "administratörer" in answer.json()["detail"]


def test_the_cli_previews_and_sends_once_per_key(server: LiveServer) -> None:
    before = group_rows(server)
    common = ["--year", "2024", "--subject", "Hej {enhet}", "--to", "coordinators"]
    shown = server.cli("message", "preview", *common, "--text", "Hej {enhet}, senast {datum}.")
    assert "Mottagare:        1" in shown
    assert "samordnare@example.se: Enhet 1, Enhet 2" in shown
    assert "Hej Enhet 1 och Enhet 2, senast den 17 maj 2024." in shown
    assert group_rows(server) == before

    send = ["message", "send", *common, "--text", "Hej {enhet}.", "--idempotency-key", "cli-1"]
    assert "1 meddelanden köade" in server.cli(*send)
    assert "inget nytt köades" in server.cli(*send)
    assert group_rows(server) == before + 1


def test_the_cli_refuses_an_unknown_placeholder(server: LiveServer) -> None:
    before = group_rows(server)
    result = subprocess.run(
        [sys.executable, "-m", "workflow.entrypoints.cli", "message", "send", "--year", "2024",
         "--subject", "Hej", "--text", "Hej {namn}!"],
        env=server.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "fel: Okänd platshållare {namn}." in result.stderr
    assert "Traceback" not in result.stderr
    assert group_rows(server) == before

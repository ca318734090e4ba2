"""The ceremony over HTTP and the command line, against a real server on SQLite and
PostgreSQL: the winner's documents as downloads (the admin's at once, the unit's own once
announced, 404 for another organisation's coordinator), the prize amount in the cycle API,
and the invitation sent by the admin (403 for anyone else), once per address."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import Engine

from tests.conftest import seed_unit
from tests.e2e.conftest import LiveServer
from tests.e2e.test_api_years import expect, refused
from tests.integration.test_ceremony import docx_text, flat, organisation_of, pdf_text
from tests.integration.test_exports import winner
from workflow.db import make_engine, transaction
from workflow.models import Unit

API = "/api/v1"


def test_documents_invitations_and_prize_amount_over_http_and_cli(
    server: LiveServer, tmp_path: Path
) -> None:
    engine = make_engine(server.env["DATABASE_URL"])
    try:
        entry_id = winner(engine)
        organisation_id, unit_id = organisation_of(engine, entry_id)
        other_unit = seed_unit(engine, name="Äldreboendet", organisation="Äldreförvaltningen")
        other_org = organisation_of_unit(engine, other_unit)
    finally:
        engine.dispose()
    admin = server.client(server.direct_user("kansliet", "admin"))
    own = server.client(
        server.direct_user("samordnaren", "coordinator", organisation_id=organisation_id)
    )
    contact = server.client(server.direct_user("chefen", "unit_contact", unit_id=unit_id))
    stranger = server.client(server.direct_user("annan", "coordinator", organisation_id=other_org))
    try:
        # The prize amount is the cycle's, set with PATCH (and refused in Swedish).
        refused(admin.patch(f"{API}/cycles/2024", json={"prize_amount": -1}), 422,
                "invalid_prize_amount")  # fmt: skip
        body = expect(admin.patch(f"{API}/cycles/2024", json={"prize_amount": 60_000}), 200)
        assert body["prize_amount"] == 60_000
        assert [c["prize_amount"] for c in expect(admin.get(f"{API}/cycles"), 200)] == [60_000]

        url = f"{API}/entries/{entry_id}"
        for client in (admin, own, contact):
            diploma = client.get(f"{url}/diploma.pdf")
            assert diploma.status_code == 200, diploma.text
            assert diploma.headers["content-type"] == "application/pdf"
            assert "Diplom" in diploma.headers["content-disposition"]
            [page] = PdfReader(io.BytesIO(diploma.content)).pages
            assert float(page.mediabox.width) > float(page.mediabox.height)
            letter = client.get(f"{url}/prize-letter.docx")
            assert letter.status_code == 200
            assert "60 000 kronor" in docx_text(letter.content)
            assert "60 000 kronor" in pdf_text(client.get(f"{url}/prize-letter.pdf").content)
        for path in ("diploma.pdf", "prize-letter.docx", "prize-letter.pdf"):
            refused(stranger.get(f"{url}/{path}"), 404, "not_found")
        refused(admin.get(f"{API}/entries/999999/diploma.pdf"), 404, "not_found")

        # The invitation: the admin's action, idempotent; others are refused.
        refused(own.post(f"{API}/cycles/2024/ceremony-invitations"), 403, "forbidden")
        refused(admin.post(f"{API}/cycles/2031/ceremony-invitations"), 404, "cycle_not_found")
        first = expect(admin.post(f"{API}/cycles/2024/ceremony-invitations"), 200)
        assert sorted(first["queued"]) == ["chef@example.se", "samordnare@example.se"]
        again = expect(admin.post(f"{API}/cycles/2024/ceremony-invitations"), 200)
        assert again["queued"] == [] and sorted(again["already_invited"]) == sorted(first["queued"])
        out = server.cli("ceremony", "invite", "--year", "2024")
        assert "köad till 0 adresser (2 hade redan fått den)" in flat(out)

        out = server.cli("cycle", "update", "--year", "2024", "--prize-amount", "65000")
        assert "Prischeck: 65 000 kronor" in flat(out)

        # The ceremony moves (API: hours; CLI: the day): each invited address gets the new
        # time once per move, in a letter that says what it replaces.
        wrong = {"ceremony_starts_at": "18:00", "ceremony_ends_at": "17:00"}
        refused(admin.patch(f"{API}/cycles/2024", json=wrong), 422, "ceremony_hours")
        moved = expect(admin.patch(f"{API}/cycles/2024", json={"ceremony_starts_at": "16:00"}), 200)
        assert (moved["ceremony_starts_at"], moved["ceremony_ends_at"]) == ("16:00", "18:00")
        out = server.cli("cycle", "update", "--year", "2024", "--winners-date", "2024-11-28")
        assert "Prisutdelningen: den 28 november 2024 kl. 16.00–18.00" in flat(out)
        rows = expect(admin.get(f"{API}/outbox", params={"status": "queued"}), 200)
        waiting = sorted(r["to"] for r in rows if r["kind"] == "ceremony_invitation")
        assert waiting == ["chef@example.se", "samordnare@example.se"]  # none sent yet
        refused(stranger.get(f"{url}/prize-letter.pdf"), 404, "not_found")

        # The operator saves a winner's documents from the command line.
        saved = server.cli("ceremony", "documents", str(entry_id), "--out", str(tmp_path))
        names = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pdf", ".docx"))
        assert names == [
            "Diplom Kvalitetsutmärkelsen 2024 - Ungdomsjouren.pdf",
            "Prisbrev Kvalitetsutmärkelsen 2024 - Ungdomsjouren.docx",
            "Prisbrev Kvalitetsutmärkelsen 2024 - Ungdomsjouren.pdf",
        ]
        assert "Diplom Kvalitetsutmärkelsen 2024" in saved
    finally:
        for client in (admin, own, contact, stranger):
            client.close()


def organisation_of_unit(engine: Engine, unit_id: int) -> int:
    with transaction(engine) as session:
        return session.get_one(Unit, unit_id).organisation_id

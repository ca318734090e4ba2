"""The jury from the command line: `jury members/pack/recommend/decide/announce`. Refusals
exit non-zero in Swedish and change nothing; the announcement queues each outcome once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import select

from tests.e2e.test_cli_setup import Cli
from tests.integration.test_jury import entry_with_consensus
from workflow.db import make_engine, transaction
from workflow.models import OutboxMessage


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    cli = Cli(sqlite_url)
    cli("init")
    return cli


def outcomes(engine: Engine) -> int:
    with transaction(engine) as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == "jury_outcome")
        return len(session.exec(query).all())


def test_the_jury_decides_and_announces_from_the_command_line(
    cli: Cli, sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    best = entry_with_consensus(engine, "Ungdomsjouren", 5)
    entry_with_consensus(engine, "Fältgruppen", 3, budget=False)
    anna = cli("user", "create", "anna", "--role", "jury").stdout
    bertil = cli("user", "create", "bertil", "--role", "jury").stdout
    ids = [line.split("id ")[1].split()[0].strip(").,:") for line in (anna, bertil)]
    two = cli("jury", "members", "2024", "--member", ids[0], "--member", ids[1],
              "--chair", "99", code=2)  # fmt: skip
    assert "Ordföranden måste vara en av ledamöterna." in two.stderr
    shown = cli("jury", "members", "2024", "--member", ids[0], "--member", ids[1],
                "--chair", ids[0]).stdout  # fmt: skip
    assert "anna (ordförande)" in shown

    pack = tmp_path / "underlag.pdf"
    cli("jury", "pack", "2024", "socialtjanst", "--out", str(pack))
    text = " ".join(p.extract_text() for p in PdfReader(pack).pages)
    assert text.index("1. Ungdomsjouren") < text.index("2. Fältgruppen")

    cli("jury", "recommend", "2024", "socialtjanst", "--member", "bertil",
        "--winner", str(best), "--motivation", "Starkast")  # fmt: skip
    refused = cli("jury", "decide", "2024", "socialtjanst", "--motivation", "Bäst",
                  "--winner", str(best + 1), code=2)  # fmt: skip
    assert "budget i balans" in refused.stderr
    cli("jury", "decide", "2024", "socialtjanst", "--motivation", "Ett föredöme",
        "--winner", str(best))  # fmt: skip
    with transaction(engine) as session:
        assert (
            session.exec(select(OutboxMessage).where(OutboxMessage.kind == "jury_outcome")).all()
            == []
        )
    assert "2 besked" in cli("jury", "announce", "2024").stdout
    assert "redan tillkännagivna" in cli("jury", "announce", "2024", code=4).stderr
    assert outcomes(engine) == 2
    engine.dispose()

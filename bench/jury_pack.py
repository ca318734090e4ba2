"""The jury pack of one class of 200 entries: time and memory (goal < 5 s, < 300 MB).

    .venv/bin/python bench/jury_pack.py [--n 200]

A fresh SQLite file gets a cycle with the default criteria and `n` entries in socialtjänst,
each with a submitted consensus (every criterion scored, a summary of some 600 characters).
Timed: what `GET /api/v1/cycles/{year}/classes/{class}/jury-pack.pdf` does — read the class
(`services.jury.class_view`) and render the PDF. Memory: the process's peak resident size
(ru_maxrss), seeding included, so an upper bound.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import select

from workflow import services
from workflow.db import make_engine, transaction, upgrade_schema
from workflow.entrypoints.http.jury import pack_pdf
from workflow.models import Consensus, Entry
from workflow.services import examination, jury

NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
SUMMARY = (
    "Verksamheten arbetar systematiskt med brukarnas delaktighet och följer upp sina mål "
    "varje månad. Ledningen är närvarande och medarbetarna beskriver ett tydligt uppdrag. "
) * 4


def seed(engine: Engine, n: int) -> None:
    with transaction(engine) as session:
        services.create_cycle(
            session, year=2024, contribution_deadline=date(2024, 5, 17),
            extract_deadline=date(2024, 6, 28), winners_date=date(2024, 11, 26),
        )  # fmt: skip
        examination.seed_default_criteria(session, year=2024, now=NOW)
        org = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden"
        )
        for i in range(n):
            unit = services.create_unit(
                session,
                services.UnitCreate(
                    organisation_id=org.id or 0, name=f"Enhet {i:03d}", staff_count=12,
                    manager_has_budget_and_staff_responsibility=True, has_business_plan=True,
                    share_stockholm_residents=0.9, budget_in_balance=True, privately_run=True,
                ),
            )  # fmt: skip
            session.add(
                Entry(
                    unit_id=unit.id or 0, cycle_id=1, award_class="socialtjanst",
                    stage="feedback", version=4, facts={}, pending={}, created_at=NOW,
                    updated_at=NOW,
                )
            )  # fmt: skip
        session.flush()
        criteria = examination.criteria_of(session, 1)
        for entry in session.exec(select(Entry)).all():
            session.add(
                Consensus(
                    entry_id=entry.id or 0, status="submitted", written_by="bench",
                    updated_at=NOW, submitted_at=NOW, summary=SUMMARY,
                    criteria={str(c.id): {"score": 1 + (entry.id or 0) * (c.position + 1) % 5}
                              for c in criteria},
                )
            )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        upgrade_schema(engine)
        seed(engine, n)
        started = time.perf_counter()
        with transaction(engine) as session:
            view = jury.class_view(session, year=2024, award_class="socialtjanst", acting=None)
        read = time.perf_counter() - started
        data = pack_pdf(view, NOW.date())
        total = time.perf_counter() - started
        pages = len(PdfReader(io.BytesIO(data)).pages)
        engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"jury pack, class of {n}: {total:.2f} s (read {read:.2f} s, PDF {total - read:.2f} s), "
          f"{pages} pages, {len(data) / 1024:.0f} KiB; peak RSS {peak_mb:.0f} MB "
          f"(goal < 5 s, < 300 MB)")  # fmt: skip


if __name__ == "__main__":
    main()

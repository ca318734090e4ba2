"""Releasing a cycle's feedback for 1,000 entries: 1,000 reports (PDF) made and 1,000 letters
queued in one transaction. Goal (issue #15): under 60 s and 300 MB on this 2-core machine.

    .venv/bin/python bench/feedback_release.py [--n 1000] [--db sqlite|postgres]

The entries are seeded examined, each with a submitted consensus over the cycle's default
criteria (two points of strengths and one development area per criterion, a two-paragraph
summary) and a team of two. The release runs in a child process, so its peak memory (maximum
resident set) is the release's own and not the seeding's.

Measured 2026-12-03 on SQLite, 2 cores shared with four other sessions (load average 9):
1,000 entries released, 1,000 letters with their PDF queued in 42.4 s, peak 127 MB. Before
the PDF writer drew its page numbers in one pass (it laid every report out twice): 74.8-90.9 s.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from _support import scratch_database
from sqlmodel import Session, select

from workflow import services
from workflow.db import make_engine, transaction, upgrade_schema
from workflow.models import AssessmentCriterion, Consensus, Entry, ExaminerAssignment, OutboxMessage
from workflow.services import examination, feedback_release

NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
CLASSES = ("forskola", "skola", "aldreomsorg", "socialtjanst", "andra_verksamheter")


def seed(url: str, n: int) -> None:
    engine = make_engine(url)
    upgrade_schema(engine)
    with transaction(engine) as session:
        services.create_cycle(
            session, year=2024, contribution_deadline=date(2024, 5, 17),
            extract_deadline=date(2024, 6, 28), winners_date=date(2024, 11, 26),
        )  # fmt: skip
        examination.seed_default_criteria(session, year=2024, now=NOW)
        home = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden",
            coordinator_email="samordnare@example.se",
        )  # fmt: skip
        other = services.create_organisation(
            session, name="Kulturförvaltningen", kind="forvaltning", board="Kulturnämnden"
        )
        team = [
            services.create_user(
                session, name=name, role="examiner", organisation_id=other.id, now=NOW
            ).user.id
            or 0
            for name in ("Małgorzata Wójcik", "Aino Väisänen")
        ]
    for start in range(0, n, 100):
        with transaction(engine) as session:
            criteria = examination.criteria_of(session, 1)
            for i in range(start, min(n, start + 100)):
                _examined(session, home.id or 0, team, criteria, i)
    engine.dispose()


def _examined(
    session: Session, org_id: int, team: list[int], criteria: list[AssessmentCriterion], i: int
) -> None:
    unit = services.create_unit(
        session,
        services.UnitCreate(
            organisation_id=org_id, name=f"Enhet {i:04d} Söder", staff_count=12,
            manager_has_budget_and_staff_responsibility=True, has_business_plan=True,
            share_stockholm_residents=0.9, budget_in_balance=True, privately_run=True,
            contact_email=f"chef{i}@example.se",
        ),
    )  # fmt: skip
    entry = services.create_entry(
        session, unit_id=unit.id or 0, year=2024, award_class=CLASSES[i % len(CLASSES)],
        actor="bench", now=NOW,
    )  # fmt: skip
    entry = services.advance_entry(
        session, entry_id=entry.id or 0, target="submitted", version=entry.version,
        actor="bench", now=NOW,
    )  # fmt: skip
    for index, user_id in enumerate(team):
        session.add(
            ExaminerAssignment(
                entry_id=entry.id or 0, user_id=user_id, assigned_by="bench", created_at=NOW,
                lead=index == 0,
            )
        )  # fmt: skip
    session.add(
        Consensus(
            entry_id=entry.id or 0, status="submitted", written_by="Małgorzata Wójcik",
            updated_at=NOW, submitted_at=NOW,
            criteria={
                str(c.id): {
                    "score": 4,
                    "strengths": f"- Tydliga mål inom {c.name.lower()}\n- Engagerad personal "
                    "som följer upp resultaten varje månad",
                    "development_areas": "- Involvera brukarna mer i förbättringsarbetet",
                }
                for c in criteria
            },
            summary="Enheten har ett systematiskt kvalitetsarbete med tydlig styrning.\n\n"
            "Fortsätt utveckla uppföljningen av resultaten.",
        )
    )  # fmt: skip
    services.advance_entry(
        session, entry_id=entry.id or 0, target="examined", version=entry.version,
        actor="bench", now=NOW,
        data={"site_visit_on": "2024-09-12", "examiner": "Małgorzata Wójcik, Aino Väisänen"},
    )  # fmt: skip


def release(url: str) -> None:
    """The timed part, in its own process: one release of the whole cycle."""
    engine = make_engine(url)
    started = time.perf_counter()
    with transaction(engine) as session:
        made = feedback_release.release_feedback(session, year=2024, acting=None, now=NOW)
    elapsed = time.perf_counter() - started
    with transaction(engine) as session:
        letters = session.exec(
            select(OutboxMessage.id).where(OutboxMessage.kind == "feedback_letter")
        ).all()
        released = session.exec(select(Entry.id).where(Entry.stage == "feedback")).all()
    print(
        f"released {made.released} entries, {len(released)} in feedback, "
        f"{len(letters)} letters queued (each with its PDF) in {elapsed:.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--release-only", metavar="URL")
    args = parser.parse_args()
    if args.release_only:
        release(args.release_only)
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.db, Path(tmp), "kv_bench_feedback") as url,
    ):
        started = time.perf_counter()
        seed(url, args.n)
        print(f"seeded {args.n} examined entries in {time.perf_counter() - started:.1f} s")
        subprocess.run([sys.executable, __file__, "--release-only", url], check=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak memory of the release process: {peak:.0f} MB (goal < 300 MB)")


if __name__ == "__main__":
    main()

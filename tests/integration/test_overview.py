"""The dashboard's figures, counted by the database, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW, seed_entry
from tests.integration.test_services import BOARD, advance
from workflow import services
from workflow.auth import visible_entries
from workflow.db import transaction
from workflow.domain.access import Actor, Role
from workflow.models import Cycle
from workflow.queries import entries as queries
from workflow.services.extensions import extend_deadline

BEFORE_DEADLINES = date(2024, 5, 1)
AFTER_CONTRIBUTION_DEADLINE = date(2024, 6, 1)  # 17 May has passed, 28 June has not
AFTER_BOTH = date(2024, 7, 1)


def seed_a_cycle(engine: Engine) -> dict[str, int]:
    """Six entries, each lacking something else (names sort in the expected overdue order)."""
    ids: dict[str, int | None] = {}
    ids["nothing"] = seed_entry(engine, name="A Inget inlämnat").id
    ids["private"] = seed_entry(engine, name="B Privat", privately_run=True).id
    early = seed_entry(engine, name="C Tidigt bidrag").id
    advance(engine, early, "submitted", 1, submitted_on="2024-05-10")  # kept as pending
    ids["early"] = early
    extract = seed_entry(engine, name="D Utdrag skickat").id
    advance(engine, extract, "board_decision", 1, **BOARD)
    advance(engine, extract, "extract_sent", 2, sent_on="2024-06-20")
    ids["extract"] = extract
    done = seed_entry(engine, name="E Klar").id
    advance(engine, done, "board_decision", 1, **BOARD)
    advance(engine, done, "extract_sent", 2, sent_on="2024-06-20")
    advance(engine, done, "submitted", 3, submitted_on="2024-05-17")
    ids["done"] = done
    withdrawn = seed_entry(engine, name="F Återtagen").id
    with transaction(engine) as session:
        services.withdraw_entry(
            session, entry_id=withdrawn, version=1, actor="t", now=NOW, note="Slutar"
        )
    ids["withdrawn"] = withdrawn
    return {name: int(i or 0) for name, i in ids.items()}


def overview(engine: Engine, today: date, actor: Actor | None = None) -> queries.CycleOverview:
    with transaction(engine) as session:
        cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).one()
        scope = visible_entries(actor) if actor else None
        return queries.cycle_overview(session, cycle, today=today, visible=scope, overdue_limit=3)


def test_counts_per_stage_and_class_and_what_is_missing(engine: Engine) -> None:
    seed_a_cycle(engine)
    figures = overview(engine, BEFORE_DEADLINES)
    assert figures.counts == {
        ("notified", "socialtjanst"): 3,  # nothing, private, early
        ("extract_sent", "socialtjanst"): 1,
        ("submitted", "socialtjanst"): 1,
        ("withdrawn", "socialtjanst"): 1,
    }
    assert figures.total == 6
    # Without a contribution: nothing, private, extract (early's is kept; withdrawn is out).
    assert figures.missing_contribution == 3
    # Without an extract: nothing, early (the private unit needs none).
    assert figures.missing_extract == 2
    assert (figures.overdue_count, figures.overdue) == (0, [])


def test_overdue_lists_what_each_entry_lacks_earliest_deadline_first(engine: Engine) -> None:
    ids = seed_a_cycle(engine)
    after_first = overview(engine, AFTER_CONTRIBUTION_DEADLINE)
    assert after_first.overdue_count == 3
    assert [row["entry"]["id"] for row in after_first.overdue] == [
        ids["nothing"],
        ids["private"],
        ids["extract"],
    ]
    assert all(
        row["missing"] == [{"what": "Skriftligt bidrag saknas", "deadline": date(2024, 5, 17)}]
        for row in after_first.overdue
    )

    after_both = overview(engine, AFTER_BOTH)
    assert after_both.overdue_count == 4  # early now lacks its extract
    assert len(after_both.overdue) == 3  # the limit; the count tells how many more
    first = after_both.overdue[0]
    assert (first["entry"]["id"], first["entry"]["unit"]) == (ids["nothing"], "A Inget inlämnat")
    assert [m["what"] for m in first["missing"]] == [
        "Skriftligt bidrag saknas",
        "Protokollsutdrag saknas",
    ]


def test_a_coordinator_counts_only_their_organisation(engine: Engine) -> None:
    seed_a_cycle(engine)
    seed_entry(engine, name="Annan förvaltning", organisation="Utbildningsförvaltningen")
    with transaction(engine) as session:
        cycle = session.exec(select(Cycle).where(Cycle.year == 2024)).one()
        others = [
            v["organisation_id"]
            for v in queries.entry_views(session, year=cycle.year)
            if v["unit"] == "Annan förvaltning"
        ]
    coordinator = Actor(user_id=1, name="s", role=Role.COORDINATOR, organisation_id=others[0])
    figures = overview(engine, BEFORE_DEADLINES, coordinator)
    assert (figures.total, figures.counts) == (1, {("notified", "socialtjanst"): 1})
    assert overview(engine, BEFORE_DEADLINES).total == 7


def test_an_entry_given_more_time_is_late_only_after_its_own_date(engine: Engine) -> None:
    """The dashboard counts an extended entry as overdue once its own date has passed, not
    the cycle's."""
    ids = seed_a_cycle(engine)
    with transaction(engine) as session:
        extend_deadline(
            session, entry_id=ids["nothing"], deadline="contribution", until=date(2024, 6, 14),
            note="Chefen sjukskriven", actor="kansliet", now=NOW,
        )  # fmt: skip
    late = overview(engine, AFTER_CONTRIBUTION_DEADLINE)
    assert late.overdue_count == 2
    assert ids["nothing"] not in [row["entry"]["id"] for row in late.overdue]
    later = overview(engine, date(2024, 6, 15))
    assert ids["nothing"] in [row["entry"]["id"] for row in later.overdue]

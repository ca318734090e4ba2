"""Finding the due reminders among 10k, 100k and 1,000,000 planned ones.

    .venv/bin/python bench/reminder_sweep.py [--totals 10000 100000 1000000] [--due 100 1000]
        [--runs 50] [--sweep-runs 50] [--db sqlite|postgres|both] [--past-queued 0.0]

The reminder table is filled with bulk inserts (SQLAlchemy Core executemany on SQLite, COPY on
PostgreSQL), growing from one total to the next; a few hundred entries exist for the foreign
key and the rows are spread over them. The first max(--due) rows are due one second apart;
the rest are pending and due in the coming year (with --past-queued F, a fraction F of them is
in the past and already swept, status 'queued': what a table looks like after a few years).
Asking with `now` between two due rows makes exactly 100 or 1,000 of them due.

Timed, per total and number due:
- `workflow.reminders.due_reminder_ids(session, now=…, limit=500)`: --runs calls, after three
  warm-up calls, in one session (no connection checkout in the time);
- the claim: `sweep_due_reminders(session, now=…, limit=500)` --sweep-runs times, each in its own
  transaction rolled back afterwards; the claim statement (UPDATE … RETURNING) is timed on its
  own through SQLAlchemy's cursor events, and the whole sweep (claim, joined load, outbox rows);
- for comparison, the same SELECT made to ignore the index (SQLite: NOT INDEXED; PostgreSQL:
  index scans disabled for the transaction), 5 runs.
The plans of both statements are printed (EXPLAIN QUERY PLAN / EXPLAIN, with the statement and
parameters the code really sent) and checked for the partial index ix_reminder_due_pending.
Goal: p99 under 20 ms at 1,000,000, growing with the number due, not with the total.

SQLite: a fresh file in a temporary directory, pragmas as `make_engine` sets them, no ANALYZE
(the application never runs one). PostgreSQL: a scratch database `kv_sweep_<pid>` created
through BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), ANALYZE
after each load, dropped after.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import percentile, scratch_database
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from workflow.db import make_engine, upgrade_schema
from workflow.models import Cycle, Entry, Organisation, Reminder, Unit
from workflow.reminders import due_reminder_ids, sweep_due_reminders

INDEX = "ix_reminder_due_pending"
GOAL_MS = 20.0
LIMIT = 500
ENTRIES = 200
BASE = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)  # the first due row; due rows follow 1 s apart
CREATED = datetime(2025, 1, 2, 9, 0, tzinfo=UTC)
CHUNK = 50_000
LOAD_AT_START = os.getloadavg()  # other work on the machine shows in every figure
REMINDER_COLUMNS = (
    "key",
    "entry_id",
    "deadline_kind",
    "deadline",
    "kind",
    "days_before",
    "recipient_role",
    "due_at",
    "status",
    "created_at",
    "queued_at",
)


# --- measurements ----------------------------------------------------------------------------


@dataclass
class Row:
    database: str
    total: int
    due: int
    returned: int = 0
    query_ms: list[float] = field(default_factory=list)
    claim_ms: list[float] = field(default_factory=list)
    sweep_ms: list[float] = field(default_factory=list)
    claimed: int = 0
    full_scan_ms: list[float] = field(default_factory=list)
    query_plan: list[str] = field(default_factory=list)
    claim_plan: list[str] = field(default_factory=list)

    @property
    def query_index(self) -> str:
        return plan_verdict(self.query_plan)

    @property
    def claim_index(self) -> str:
        return plan_verdict(self.claim_plan)


def plan_verdict(plan: list[str]) -> str:
    """ "yes" when the partial index is used and nothing reads the whole reminder table;
    "+scan" when the index is used but another step still scans the table; else "NO"."""
    scans = any(
        line.startswith(("Seq Scan on reminder", "->  Seq Scan on reminder", "SCAN reminder"))
        for line in plan
    )
    if not any(INDEX in line for line in plan):
        return "NO"
    return "+scan" if scans else "yes"


@dataclass
class Load:
    database: str
    total: int
    seconds: float


# --- databases -------------------------------------------------------------------------------


def database_settings(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            mode = connection.execute(text("PRAGMA journal_mode")).scalar()
            return f"SQLite {sqlite3.sqlite_version}, journal_mode={mode}, no ANALYZE"
        version = connection.execute(text("SHOW server_version")).scalar()
        return f"PostgreSQL {version}, ANALYZE after each load"


# --- loading ---------------------------------------------------------------------------------


def seed_entries(engine: Engine) -> list[int]:
    """One cycle, one organisation, ENTRIES units each with a notified entry; their ids."""
    with engine.begin() as connection:
        cycle_id = connection.execute(
            Cycle.__table__.insert().returning(Cycle.__table__.c.id),  # type: ignore[attr-defined]
            {
                "year": 2025,
                "contribution_deadline": date(2025, 5, 16),
                "extract_deadline": date(2025, 6, 27),
                "winners_date": date(2025, 11, 25),
                "award_office_email": "kvalitetsutmarkelsen@stockholm.se",
                "classes": ["socialtjanst"],
            },
        ).scalar_one()
        organisation_id = connection.execute(
            Organisation.__table__.insert().returning(Organisation.__table__.c.id),  # type: ignore[attr-defined]
            {
                "name": "Socialförvaltningen",
                "kind": "forvaltning",
                "board": "Socialnämnden",
                "coordinator_email": "samordnare@example.se",
            },
        ).scalar_one()
        connection.execute(
            Unit.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "organisation_id": organisation_id,
                    "name": f"Enhet {n:04d}",
                    "staff_count": 12,
                    "manager_has_budget_and_staff_responsibility": True,
                    "has_business_plan": True,
                    "share_stockholm_residents": 0.9,
                    "budget_in_balance": True,
                    "privately_run": False,
                    "contact_email": f"chef{n}@example.se",
                    "earlier_participation_years": [],
                    "earlier_participation_count": 0,
                }
                for n in range(ENTRIES)
            ],
        )
        unit_ids = [row[0] for row in connection.execute(text("SELECT id FROM unit ORDER BY id"))]
        connection.execute(
            Entry.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "unit_id": unit_id,
                    "cycle_id": cycle_id,
                    "award_class": "socialtjanst",
                    "stage": "notified",
                    "version": 1,
                    "facts": {},
                    "pending": {},
                    "created_at": CREATED,
                    "updated_at": CREATED,
                }
                for unit_id in unit_ids
            ],
        )
        return [row[0] for row in connection.execute(text("SELECT id FROM entry ORDER BY id"))]


def reminder_rows(
    start: int, stop: int, *, entries: list[int], due: int, final_total: int, past_queued: float
) -> Iterator[tuple[Any, ...]]:
    """Rows start..stop-1 of the layout: `due` rows due 1 s apart from BASE, then the rest
    spread over the coming year (and, with past_queued, some already swept in the past)."""
    future = max(final_total - due, 1)
    year = timedelta(days=365).total_seconds()
    for n in range(start, stop):
        entry_id = entries[n % len(entries)]
        role = "unit_contact" if n % 3 else "coordinator"
        queued_at = None
        if n < due:
            due_at, status = BASE + timedelta(seconds=n), "pending"
        else:
            j = n - due
            offset = timedelta(seconds=3600 + year * j / future)
            # every 1/past_queued-th non-due row lies in the past, already swept
            if past_queued and int((j + 1) * past_queued) != int(j * past_queued):
                due_at, status, queued_at = BASE - offset, "queued", BASE - offset
            else:
                due_at, status = BASE + offset, "pending"
        yield (
            f"bench/{n:08d}",
            entry_id,
            "contribution",
            date(2025, 5, 16),
            "reminder",
            7,
            role,
            due_at,
            status,
            CREATED,
            queued_at,
        )


def load(engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    if engine.dialect.name == "postgresql":
        _copy_postgres(engine, rows)
        return
    insert = Reminder.__table__.insert()  # type: ignore[attr-defined]
    while True:
        chunk = [
            dict(zip(REMINDER_COLUMNS, row, strict=True))
            for _, row in zip(range(CHUNK), rows, strict=False)
        ]
        if not chunk:
            return
        with engine.begin() as connection:
            connection.execute(insert, chunk)


def _copy_postgres(engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            columns = ", ".join(REMINDER_COLUMNS)
            with cursor.copy(f"COPY reminder ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE reminder"))


# --- timing ----------------------------------------------------------------------------------


@contextmanager
def statement_timer(engine: Engine, marker: str) -> Iterator[list[tuple[float, str, Any]]]:
    """(seconds, statement, parameters) of each cursor execute whose SQL contains `marker`."""
    seen: list[tuple[float, str, Any]] = []

    def before(
        conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool
    ) -> None:
        if marker in statement:
            conn.info["bench_t0"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if marker in statement:
            seen.append((time.perf_counter() - conn.info.pop("bench_t0"), statement, params))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def explain(engine: Engine, statement: str, params: Any) -> list[str]:
    """The plan of `statement` exactly as the code sent it (DBAPI statement and parameters)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            lines = [str(row[3]) for row in cursor.fetchall()]
        else:
            cursor.execute(f"EXPLAIN {statement}", params)
            lines = [str(row[0]).strip() for row in cursor.fetchall()]
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return lines


def measure(engine: Engine, row: Row, *, runs: int, sweep_runs: int) -> None:
    now = BASE + timedelta(seconds=row.due - 0.5)  # exactly `due` rows are due
    expected = min(row.due, LIMIT)

    with (
        statement_timer(engine, "FROM reminder WHERE status = 'pending'") as reads,
        Session(engine) as session,
    ):
        for _ in range(3):
            row.returned = len(due_reminder_ids(session, now=now, limit=LIMIT))
        for _ in range(runs):
            t0 = time.perf_counter()
            ids = due_reminder_ids(session, now=now, limit=LIMIT)
            row.query_ms.append(1000 * (time.perf_counter() - t0))
            if len(ids) != expected:
                raise AssertionError(f"{len(ids)} due ids, expected {expected}")
    _, read_sql, read_params = reads[-1]
    row.query_plan = explain(engine, read_sql, read_params)

    with statement_timer(engine, "UPDATE reminder SET status = 'queued'") as claims:
        for n in range(2 + sweep_runs):
            with Session(engine) as session:
                t0 = time.perf_counter()
                queued = sweep_due_reminders(session, now=now, limit=LIMIT)
                elapsed = time.perf_counter() - t0
                session.rollback()
            if n >= 2:  # two warm-up sweeps
                row.sweep_ms.append(1000 * elapsed)
            row.claimed = queued
    row.claim_ms = [1000 * seconds for seconds, _, _ in claims[2:]]
    if row.claimed != expected:
        raise AssertionError(f"the sweep queued {row.claimed}, expected {expected}")
    _, claim_sql, claim_params = claims[-1]
    row.claim_plan = explain(engine, claim_sql, claim_params)

    row.full_scan_ms = _without_index(engine, read_sql, read_params, expected)


def _without_index(engine: Engine, statement: str, params: Any, expected: int) -> list[float]:
    raw = engine.raw_connection()
    timings: list[float] = []
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            statement = statement.replace("FROM reminder WHERE", "FROM reminder NOT INDEXED WHERE")
        else:
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                cursor.execute(f"SET LOCAL {setting} = off")
        for _ in range(5):
            t0 = time.perf_counter()
            cursor.execute(statement, params)
            found = len(cursor.fetchall())
            timings.append(1000 * (time.perf_counter() - t0))
            if found != expected:
                raise AssertionError(f"full scan found {found}, expected {expected}")
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return timings


# --- one database ----------------------------------------------------------------------------


def run_database(
    kind: str,
    directory: Path,
    *,
    totals: list[int],
    dues: list[int],
    runs: int,
    sweep_runs: int,
    past_queued: float,
) -> tuple[str, list[Load], list[Row]]:
    rows: list[Row] = []
    loads: list[Load] = []
    with scratch_database(kind, directory, "kv_sweep") as url:
        engine = make_engine(url)
        try:
            upgrade_schema(engine)
            settings = database_settings(engine)
            entries = seed_entries(engine)
            loaded = 0
            final = max(totals)
            for total in sorted(totals):
                print(f"[{kind}] loading reminders {loaded:,} → {total:,} …", flush=True)
                started = time.perf_counter()
                load(
                    engine,
                    reminder_rows(
                        loaded,
                        total,
                        entries=entries,
                        due=max(dues),
                        final_total=final,
                        past_queued=past_queued,
                    ),
                )
                analyze(engine)
                loads.append(Load(kind, total, time.perf_counter() - started))
                loaded = total
                for due in sorted(dues):
                    print(f"[{kind}] {total:,} rows, {due:,} due: timing …", flush=True)
                    row = Row(kind, total, due)
                    measure(engine, row, runs=runs, sweep_runs=sweep_runs)
                    rows.append(row)
        finally:
            engine.dispose()
    return settings, loads, rows


# --- report ----------------------------------------------------------------------------------


def report(settings: list[str], loads: list[Load], rows: list[Row], past_queued: float) -> bool:
    cores = os.cpu_count() or 0
    print()
    print(
        f"This machine has {cores} cores; Python {platform.python_version()}; "
        f"limit {LIMIT} per call; {ENTRIES} entries; "
        + (
            f"{past_queued:.0%} of the not-due rows in the past, already queued."
            if past_queued
            else "every not-due row pending, in the coming year."
        )
    )
    print(
        f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"(at the start: {' '.join(f'{x:.2f}' for x in LOAD_AT_START)})"
    )
    for line in settings:
        print(f"  {line}")
    for item in loads:
        print(f"  {item.database}: loaded up to {item.total:>9,} rows in {item.seconds:5.1f} s")
    print()
    header = (
        f"{'database':<9} {'total':>9} {'due':>5} {'rows':>4}  {'query p50':>9} {'p99':>6}  "
        f"{'claim p50':>9} {'p99':>6}  {'sweep p50':>9} {'p99':>6}  {'no index':>8}  "
        f"{'index: query':>12} {'claim':>5}  p99 < {GOAL_MS:.0f} ms: query claim"
    )
    print(header + "   (ms)")
    print("-" * len(header))
    largest = max(r.total for r in rows)
    met = True
    for r in rows:
        query_ok = percentile(r.query_ms, 0.99) < GOAL_MS
        claim_ok = percentile(r.claim_ms, 0.99) < GOAL_MS
        if r.total == largest:  # the goal is stated at the largest total (1,000,000)
            met = met and query_ok and claim_ok and r.query_index == r.claim_index == "yes"
        met = met and r.query_index == "yes"
        print(
            f"{r.database:<9} {r.total:>9,} {r.due:>5,} {r.returned:>4}  "
            f"{percentile(r.query_ms, 0.5):>9.3f} {percentile(r.query_ms, 0.99):>6.2f}  "
            f"{percentile(r.claim_ms, 0.5):>9.3f} {percentile(r.claim_ms, 0.99):>6.2f}  "
            f"{percentile(r.sweep_ms, 0.5):>9.1f} {percentile(r.sweep_ms, 0.99):>6.1f}  "
            f"{percentile(r.full_scan_ms, 0.5):>8.1f}  {r.query_index:>12} {r.claim_index:>5}  "
            f"{'':>13}{'yes' if query_ok else 'no':>5} {'yes' if claim_ok else 'no':>5}"
        )
    print()
    print(
        "  query: due_reminder_ids(limit=500); claim: the UPDATE … RETURNING inside "
        "sweep_due_reminders; sweep: the whole call (claim, joined load, outbox rows), rolled "
        "back; no index: the same SELECT forced to scan the table (p50 of 5)."
    )
    print(
        "  index: yes = the plan uses ix_reminder_due_pending and reads no table in full; "
        "+scan = it uses it, but another step scans the reminder table."
    )
    _growth(rows)
    print()
    print("Plans (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL), at the largest total:")
    for database in dict.fromkeys(r.database for r in rows):
        top = max((r for r in rows if r.database == database), key=lambda r: (r.total, r.due))
        print(f"  {database}, {top.total:,} rows, {top.due:,} due:")
        print("    query: " + " | ".join(top.query_plan))
        print("    claim: " + " | ".join(top.claim_plan))
        other = [
            r for r in rows if r.database == database and r is not top and r.claim_index != "yes"
        ]
        for r in other[:1]:  # a plan that differs from the one above, once
            print(f"  {database}, {r.total:,} rows, {r.due:,} due, claim ({r.claim_index}):")
            print("    claim: " + " | ".join(r.claim_plan))
    return met


def _growth(rows: list[Row]) -> None:
    """p50 query time against the total (same number due) and against the number due."""
    for database in dict.fromkeys(r.database for r in rows):
        mine = [r for r in rows if r.database == database]
        totals = sorted({r.total for r in mine})
        dues = sorted({r.due for r in mine})
        p50 = {(r.total, r.due): percentile(r.query_ms, 0.5) for r in mine}
        claim = {(r.total, r.due): percentile(r.claim_ms, 0.5) for r in mine}
        parts = []
        for due in dues:
            small, large = p50[(totals[0], due)], p50[(totals[-1], due)]
            csmall, clarge = claim[(totals[0], due)], claim[(totals[-1], due)]
            parts.append(
                f"{due:,} due: query ×{large / small:.2f}, claim ×{clarge / csmall:.2f} "
                f"from {totals[0]:,} to {totals[-1]:,} rows"
            )
        if len(dues) > 1:
            small, large = p50[(totals[-1], dues[0])], p50[(totals[-1], dues[-1])]
            parts.append(
                f"at {totals[-1]:,} rows, {dues[0]:,} → {dues[-1]:,} due: ×{large / small:.2f}"
            )
        print(f"  growth, {database}: " + "; ".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--totals", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--due", type=int, nargs="+", default=[100, 1_000])
    parser.add_argument("--runs", type=int, default=50, help="timed due_reminder_ids calls")
    parser.add_argument("--sweep-runs", type=int, default=50, help="timed, rolled-back sweeps")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--past-queued", type=float, default=0.0, help="share of not-due rows already swept"
    )
    args = parser.parse_args(argv)
    if max(args.due) > min(args.totals):
        parser.error("every total must hold the largest number due")

    settings: list[str] = []
    loads: list[Load] = []
    rows: list[Row] = []
    status = 0
    started = time.perf_counter()
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        try:
            with tempfile.TemporaryDirectory(prefix="kv_sweep_") as directory:
                line, more_loads, more_rows = run_database(
                    kind,
                    Path(directory),
                    totals=args.totals,
                    dues=args.due,
                    runs=args.runs,
                    sweep_runs=args.sweep_runs,
                    past_queued=args.past_queued,
                )
            settings.append(line)
            loads += more_loads
            rows += more_rows
        except OperationalError as error:
            print(f"[{kind}] skipped, database not reachable: {error}", file=sys.stderr)
            status = 1
    if rows:
        met = report(settings, loads, rows, args.past_queued)
        print()
        print(
            f"Goal (p99 < {GOAL_MS:.0f} ms for query and claim at {max(args.totals):,} rows, "
            "partial index used, no full scan) met: "
            f"{'yes' if met else 'no'}; total run time {time.perf_counter() - started:.0f} s"
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())

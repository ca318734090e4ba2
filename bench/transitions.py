"""Transitions per second through the service layer, beside the database's raw commit rate.

    .venv/bin/python bench/transitions.py [--n 2000] [--db sqlite|postgres|both] [--profile]

Each transition is what one CLI or HTTP request does: its own `transaction(engine)` with one
`services.advance_entry(...)` from the version the caller last saw. The raw rate is N single-row
INSERT + COMMIT transactions on a small `bench_raw` table through the same engine, in the same
run, on the same database (one connection checkout per transaction, as on the service path):
the physical limit of one writer committing one at a time. Goal: service ≥ 0.5 × raw.

Also reported, from untimed extra runs: the time spent inside the database driver itself
(execute, executemany, commit, the pool's pre-ping) per transition and per raw insert. A
transition's statements alone cost that much however little Python surrounds them, so it
bounds the ratio any implementation of these statements could reach.

SQLite: a fresh file in a temporary directory, with the pragmas `make_engine` sets (WAL,
synchronous=NORMAL). PostgreSQL: a scratch database `kv_bench_<pid>` created through
BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped after.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from _support import percentile, scratch_database, scratch_postgres
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, event, text
from sqlalchemy.exc import OperationalError

from workflow import services
from workflow.db import make_engine, transaction, upgrade_schema
from workflow.domain.stages import Stage

YEAR = 2024
# Early in the season, as in the tests: deadlines ahead, so every change re-plans reminders.
NOW = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)
GOAL = 0.5
WARMUP_ENTRIES = 2
WARMUP_RAW = 50
MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)

# The six forward moves of a city-run entry, with the data each request carries.
CITY_RUN_WALK: tuple[tuple[Stage, Mapping[str, str]], ...] = (
    (
        Stage.BOARD_DECISION,
        {"decision": "approved", "meeting_date": "2024-06-10", "paragraph": "§ 5"},
    ),
    (Stage.EXTRACT_SENT, {}),
    (Stage.SUBMITTED, {}),
    (Stage.EXAMINED, {"site_visit_on": "2024-09-01"}),
    (
        Stage.FEEDBACK,
        {
            "strengths": "Tydligt ledarskap och systematisk uppföljning.",
            "development_areas": "Brukarnas delaktighet i förbättringsarbetet.",
        },
    ),
    (Stage.JURY, {"outcome": "not_awarded"}),
)

raw_metadata = MetaData()
bench_raw = Table(
    "bench_raw",
    raw_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # SERIAL / INTEGER PK
    Column("payload", Text, nullable=False),
)
RAW_PAYLOAD = "x" * 120


# --- measurements ----------------------------------------------------------------------------


@dataclass
class Timing:
    count: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def mean_ms(self) -> float:
        return 1000 * sum(self.latencies) / len(self.latencies) if self.latencies else 0.0

    @property
    def p99_ms(self) -> float:
        return 1000 * percentile(self.latencies, 0.99)

    def merge(self, other: Timing) -> Timing:
        return Timing(
            self.count + other.count,
            self.elapsed + other.elapsed,
            self.latencies + other.latencies,
        )


@dataclass
class Result:
    database: str
    settings: str
    service: Timing
    raw: Timing
    statements: Counter[str]
    statement_transitions: int
    driver: DriverTime = field(default_factory=lambda: DriverTime())
    raw_driver: DriverTime = field(default_factory=lambda: DriverTime())
    profile: str | None = None

    @property
    def ratio(self) -> float:
        return self.service.rate / self.raw.rate if self.raw.rate else 0.0


# --- seeding ---------------------------------------------------------------------------------


def seed(engine: Engine, entries: int) -> list[tuple[int, int]]:
    """One cycle, one organisation, and `entries` eligible city-run units with a notified entry
    and an uploaded minutes extract each. Returns (entry id, version) pairs."""
    with transaction(engine) as session:
        services.create_cycle(
            session,
            year=YEAR,
            contribution_deadline=date(YEAR, 5, 17),
            extract_deadline=date(YEAR, 6, 28),
            winners_date=date(YEAR, 11, 26),
        )
        organisation = services.create_organisation(
            session,
            name="Socialförvaltningen",
            kind="forvaltning",
            board="Socialnämnden",
            coordinator_email="samordnare@example.se",
        )
        assert organisation.id is not None
        organisation_id = organisation.id

    seeded: list[tuple[int, int]] = []
    batch = 100
    for start in range(0, entries, batch):
        with transaction(engine) as session:
            for number in range(start, min(start + batch, entries)):
                unit = services.create_unit(
                    session,
                    services.UnitCreate(
                        organisation_id=organisation_id,
                        name=f"Enhet {number:05d}",
                        staff_count=12,
                        manager_has_budget_and_staff_responsibility=True,
                        has_business_plan=True,
                        share_stockholm_residents=0.9,
                        budget_in_balance=True,
                        privately_run=False,
                        contact_email=f"chef{number}@example.se",
                    ),
                )
                assert unit.id is not None
                entry = services.create_entry(
                    session,
                    unit_id=unit.id,
                    year=YEAR,
                    award_class="socialtjanst",
                    actor="bench",
                    now=NOW,
                )
                assert entry.id is not None
                services.attach_document(
                    session,
                    entry_id=entry.id,
                    kind="extract",
                    filename="protokollsutdrag.pdf",
                    data=MINIMAL_PDF,
                    actor="bench",
                    now=NOW,
                )
                seeded.append((entry.id, entry.version))
    return seeded


# --- the two workloads -----------------------------------------------------------------------


def walk(engine: Engine, entries: list[tuple[int, int]], steps: int | None = None) -> Timing:
    """Advance every entry one stage at a time (all entries to stage 1, then stage 2, …),
    one transaction per transition, each from the version the previous response returned."""
    versions = dict(entries)
    timing = Timing()
    started = time.perf_counter()
    for target, data in CITY_RUN_WALK[:steps]:
        for entry_id in versions:
            t0 = time.perf_counter()
            with transaction(engine) as session:
                entry = services.advance_entry(
                    session,
                    entry_id=entry_id,
                    target=target,
                    version=versions[entry_id],
                    actor="bench",
                    now=NOW,
                    data=data,
                )
            timing.latencies.append(time.perf_counter() - t0)
            versions[entry_id] = entry.version
    timing.elapsed = time.perf_counter() - started
    timing.count = len(timing.latencies)
    return timing


def raw_inserts(engine: Engine, n: int) -> Timing:
    """N transactions of one single-row INSERT + COMMIT, each on its own connection checkout."""
    statement = bench_raw.insert()
    timing = Timing()
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(statement, {"payload": RAW_PAYLOAD})
        timing.latencies.append(time.perf_counter() - t0)
    timing.elapsed = time.perf_counter() - started
    timing.count = n
    return timing


@contextmanager
def counting_statements(engine: Engine) -> Iterator[Counter[str]]:
    """Count the SQL statements the engine sends, keyed by verb and table."""
    counts: Counter[str] = Counter()

    def before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool
    ) -> None:
        counts[_describe(statement, executemany)] += 1

    def on_commit(_conn: Any) -> None:
        counts["COMMIT"] += 1

    def on_begin(_conn: Any) -> None:
        counts["BEGIN"] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "begin", on_begin)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "begin", on_begin)


def _describe(statement: str, executemany: bool) -> str:
    top_level = statement
    while (flattened := re.sub(r"\([^()]*\)", "", top_level)) != top_level:
        top_level = flattened  # drop subqueries: the FROM that names a SELECT is outside them
    words = top_level.split()
    verb = words[0].upper() if words else "?"
    upper = [w.upper() for w in words]
    table = "?"
    marker = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE", "DELETE": "FROM"}.get(verb)
    if marker and marker in upper:
        index = upper.index(marker) + 1
        if index < len(words):
            table = words[index].strip('"').split(".")[-1]
    if verb == "SELECT" and table == "?":
        return statement.strip()[:40]
    return f"{verb} {table}" + (" (executemany)" if executemany else "")


@dataclass
class DriverTime:
    """Seconds spent inside the database driver (execute, executemany, commit, rollback, the
    pool's pre-ping) over `operations` transactions: what they cost with no Python around."""

    seconds: float = 0.0
    operations: int = 0

    @property
    def per_operation_ms(self) -> float:
        return 1000 * self.seconds / self.operations if self.operations else 0.0

    @property
    def ceiling(self) -> float:
        """Operations per second if nothing but the driver ran."""
        return 1000 / self.per_operation_ms if self.per_operation_ms else 0.0


@contextmanager
def timing_driver(engine: Engine, operations: int) -> Iterator[DriverTime]:
    """Time every call the dialect makes into the DBAPI driver while the block runs."""
    measured = DriverTime(operations=operations)
    dialect = engine.dialect
    names = ("do_execute", "do_executemany", "do_commit", "do_rollback", "do_ping")

    def timed(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                measured.seconds += time.perf_counter() - t0

        return call

    for name in names:
        setattr(dialect, name, timed(getattr(dialect, name)))
    try:
        yield measured
    finally:
        for name in names:
            delattr(dialect, name)  # back to the class's own method


# --- one database ----------------------------------------------------------------------------


def run_database(
    name: str, url: str, n: int, *, profile: bool, settings: Callable[[Engine], str]
) -> Result:
    engine = make_engine(url)
    try:
        upgrade_schema(engine)
        raw_metadata.create_all(engine)
        per_entry = len(CITY_RUN_WALK)
        measured = max(1, math.ceil(n / per_entry))
        driver_entries = max(10, measured // 10)
        extra = 1 + driver_entries + (max(1, measured // 4) if profile else 0)
        print(f"[{name}] seeding {measured + WARMUP_ENTRIES + extra} entries …", flush=True)
        seeded = seed(engine, measured + WARMUP_ENTRIES + extra)
        warm, timed = seeded[:WARMUP_ENTRIES], seeded[WARMUP_ENTRIES:]
        timed, spare = timed[:measured], timed[measured:]

        walk(engine, warm)  # warm-up: pool, statement caches, the planner's first run
        raw_inserts(engine, WARMUP_RAW)

        # Raw before and after the service run, so drift (WAL growth, checkpoints, autovacuum)
        # falls on both sides alike.
        print(f"[{name}] raw inserts + {measured * per_entry} transitions …", flush=True)
        raw = raw_inserts(engine, n // 2)
        service = walk(engine, timed)
        raw = raw.merge(raw_inserts(engine, n - n // 2))

        # Not timed: what one entry's walk sends to the database, and how long the driver
        # itself takes for the statements of a transition and of a raw insert.
        with counting_statements(engine) as counts:
            walk(engine, spare[:1])
        driver_walk = spare[1 : 1 + driver_entries]
        with timing_driver(engine, len(driver_walk) * per_entry) as driver:
            walk(engine, driver_walk)
        with timing_driver(engine, n // 2) as raw_driver:
            raw_inserts(engine, n // 2)
        spare = spare[driver_entries:]

        profile_text = None
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            walk(engine, spare[1:])
            profiler.disable()
            stream = io.StringIO()
            stats = pstats.Stats(profiler, stream=stream)
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(20)
            profile_text = stream.getvalue()
        return Result(
            name,
            settings(engine),
            service,
            raw,
            counts,
            per_entry,
            driver,
            raw_driver,
            profile_text,
        )
    finally:
        engine.dispose()


def sqlite_settings(engine: Engine) -> str:
    with engine.connect() as connection:
        mode = connection.execute(text("PRAGMA journal_mode")).scalar()
        sync = connection.execute(text("PRAGMA synchronous")).scalar()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    level = names.get(int(sync), str(sync)) if sync is not None else "?"
    return f"SQLite {sqlite3.sqlite_version}, journal_mode={mode}, synchronous={level}"


def postgres_settings(engine: Engine) -> str:
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar()
        sync = connection.execute(text("SHOW synchronous_commit")).scalar()
        fsync = connection.execute(text("SHOW fsync")).scalar()
        method = connection.execute(text("SHOW wal_sync_method")).scalar()
    return (
        f"PostgreSQL {version}, synchronous_commit={sync}, fsync={fsync}, "
        f"wal_sync_method={method}, pool_pre_ping=True"
    )


def run_sqlite(n: int, profile: bool) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix="kv_bench_") as directory,
        scratch_database("sqlite", Path(directory), "kv_bench") as url,
    ):
        return run_database("sqlite", url, n, profile=profile, settings=sqlite_settings)


def run_postgres(n: int, profile: bool) -> Result:
    with scratch_postgres("kv_bench") as url:
        return run_database("postgres", url, n, profile=profile, settings=postgres_settings)


# --- report ----------------------------------------------------------------------------------


def report(results: list[Result]) -> None:
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print()
    print(
        f"This machine has {cores} cores ({usable} usable by this process); "
        f"Python {platform.python_version()}, single writer, one transaction per operation."
    )
    for result in results:
        print(f"  {result.database}: {result.settings}")
    print()
    header = (
        f"{'database':<9} {'transitions':>11} {'trans/s':>9} {'mean ms':>8} {'p99 ms':>8} "
        f"{'raw ins/s':>10} {'raw mean':>9} {'raw p99':>8} {'ratio':>6}  goal ≥ {GOAL}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        met = "yes" if r.ratio >= GOAL else "no"
        print(
            f"{r.database:<9} {r.service.count:>11} {r.service.rate:>9.0f} "
            f"{r.service.mean_ms:>8.2f} {r.service.p99_ms:>8.2f} "
            f"{r.raw.rate:>10.0f} {r.raw.mean_ms:>9.3f} {r.raw.p99_ms:>8.3f} "
            f"{r.ratio:>6.2f}  {met}"
        )
    print()
    print("SQL per transition (one extra entry's six-step walk, not timed; averaged):")
    for r in results:
        total = sum(v for k, v in r.statements.items() if k not in ("BEGIN", "COMMIT"))
        per = total / r.statement_transitions
        print(f"  {r.database}: {per:.1f} statements per transition, plus BEGIN and COMMIT")
        for key, value in r.statements.most_common():
            print(f"    {value / r.statement_transitions:5.2f}  {key}")
    print()
    print(
        "Time inside the database driver (execute, commit, pre-ping; not timed above): what the\n"
        "statements alone cost, so the best ratio any Python at all could reach."
    )
    for r in results:
        best = r.driver.ceiling / r.raw.rate if r.raw.rate else 0.0
        print(
            f"  {r.database}: {r.driver.per_operation_ms:.3f} ms per transition "
            f"(ceiling {r.driver.ceiling:.0f}/s), {r.raw_driver.per_operation_ms:.3f} ms per raw "
            f"insert; a service with no Python at all would reach ratio {best:.2f}"
        )
    for r in results:
        if r.profile:
            print()
            print(f"=== cProfile, service path on {r.database} ===")
            print(r.profile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="transitions (and raw inserts)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile an extra service run")
    args = parser.parse_args(argv)

    results: list[Result] = []
    status = 0
    if args.db in ("sqlite", "both"):
        results.append(run_sqlite(args.n, args.profile))
    if args.db in ("postgres", "both"):
        try:
            results.append(run_postgres(args.n, args.profile))
        except OperationalError as error:
            print(f"[postgres] skipped, not reachable: {error}", file=sys.stderr)
            status = 1
    if results:
        report(results)
    return status


if __name__ == "__main__":
    raise SystemExit(main())

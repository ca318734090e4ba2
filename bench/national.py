"""National scale on PostgreSQL: 100,000 entries, 290 organisations, 1,000,000 planned reminders.

    .venv/bin/python bench/national.py [--entries 100000] [--organisations 290]
        [--reminders 1000000] [--due 1000] [--dashboard-requests 30] [--dashboard-budget 120]
        [--list-requests 30] [--list-budget 60] [--page-size 100] [--clients 16]
        [--transition-seconds 15] [--worker-seconds 30] [--worker-max-seconds 60]
        [--web-workers 2] [--redis-url redis://127.0.0.1:6379/13] [--profile]

Quick check: `--entries 10000 --reminders 100000`.

Seeding (timed per table) goes around the service layer: SQLAlchemy Core executemany for the
cycle and the organisations, psycopg COPY for units, entries, history and reminders, then the
id sequences are moved past the seeded ids and the tables are VACUUM ANALYZEd. Shape: one cycle
(2027: contribution 2027-05-17, extract 2027-06-28, winners 2027-11-23, all five classes),
--organisations organisations of Zipf-like size, one unit per entry (every tenth privately run),
entries spread over the stages (mostly early in the year: notified 50 %, board decision 30 %,
extract sent 8 %, submitted 5 %, examined 3 %, feedback 2 %, jury 1 %, withdrawn 1 %) and the
five classes, each with the facts of the stages it has passed and one history event (from NULL
to its stage). Reminders are the entries' real plans (`workflow.domain.calendar`, real keys,
2027 send times), cut evenly or topped up evenly with extra offsets (30, 21, 10, 5, … days before,
keys of the same format) to exactly --reminders rows, all pending; exactly --due of them (the
first reminder of evenly spaced entries past the notified stage) are moved into the last hour,
so they are due now. No outbox rows and no documents are seeded.

Measured:
- sweep: `workflow.reminders.due_reminder_ids(session, now=…, limit=500)` 50 times (p50/p99)
  after 3 warm-up calls, and the plan of its statement; one claim (`sweep_due_reminders`) in
  a transaction that is rolled back, after a cold one, with its UPDATE … RETURNING timed alone;
- web: `kvalitet web --workers 2` (uvicorn, as docker-compose runs it) on a free loopback
  port; an admin made with `kvalitet user create … --password` (password on stdin); a login
  through the web form (GET /login, POST /login with its CSRF token); GET /?year=2027 (the
  dashboard) up to --dashboard-requests times within --dashboard-budget seconds (at least 3;
  one keep-alive connection, as a browser, so one uvicorn worker serves them);
  GET /entries?year=2027&after=… (the web list page, 100 a page) over first, last and evenly
  spread pages; GET /api/v1/entries?year=2027 page by page when the OpenAPI document shows
  paging parameters (limit/after_id, limit/offset, page/page_size), else the whole list (said
  so in the report);
- API transitions/s: --clients threads, each with its own httpx client and its own notified
  city-run entries, POST /api/v1/entries/{id}/transitions notified → board_decision for
  --transition-seconds;
- memory: psutil RSS of the uvicorn master and its workers every 0.1 s during the dashboard,
  list and transition phases (max per process, max of the sum), with the CPU time the server
  used per request (unlike wall time, not inflated when other work shares the machine; the
  load average is reported too); then, uvicorn stopped, one
  `celery -A tasks.app worker --concurrency 2 --beat` (Redis db 13, flushed before and after;
  MAIL_TRANSPORT=eml; both sweeps every second) sweeps the due reminders and delivers the outbox
  (the transitions' e-mails too) for --worker-seconds, longer until drained (at most
  --worker-max-seconds), while its processes are sampled the same way.
--profile adds in-process pyinstrument profiles of one claim, of one dashboard request and one
entry list request (driven through the ASGI app in this thread, the threadpool inlined, so the
profiler sees the handler), and the dashboard's figures computed as SQL aggregates.

Goals: dashboard p99 < 300 ms, sweep (due_reminder_ids) p99 < 20 ms, every web and worker
process < 200 MB RSS. Scratch database `kv_national_<pid>` through BENCH_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); every process started here and the database
are removed on exit, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis
from _support import free_port, percentile, scratch_postgres
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from workflow import services
from workflow.db import make_engine, upgrade_schema
from workflow.domain.calendar import (
    Deadline,
    PlannedReminder,
    ReminderKind,
    ReminderSubject,
    plan_reminders,
    send_time,
    working_day_on_or_before,
)
from workflow.domain.messages import Recipient
from workflow.domain.rules import AWARD_OFFICE_EMAIL
from workflow.domain.stages import Stage
from workflow.models import Cycle, Organisation
from workflow.reminders import due_reminder_ids, sweep_due_reminders
from workflow.working_days import is_swedish_working_day

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
YEAR = 2027
CONTRIBUTION_DEADLINE = date(2027, 5, 17)
EXTRACT_DEADLINE = date(2027, 6, 28)
WINNERS_DATE = date(2027, 11, 23)
DEADLINES = {Deadline.CONTRIBUTION: CONTRIBUTION_DEADLINE, Deadline.EXTRACT: EXTRACT_DEADLINE}
CREATED = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)  # the first entry's notification
SWEEP_LIMIT = 500
SWEEP_RUNS = 50
GOAL_DASHBOARD_P99_MS = 300.0
GOAL_SWEEP_P99_MS = 20.0
GOAL_RSS_MB = 200.0
ADMIN_NAME = "bench-admin"
ADMIN_PASSWORD = "riksskala-2027-lösen"
BOARD_DECISION_DATA = {"decision": "approved", "meeting_date": "2027-02-10", "paragraph": "§ 12"}

STAGE_WEIGHTS: tuple[tuple[Stage, int], ...] = (
    (Stage.NOTIFIED, 50),
    (Stage.BOARD_DECISION, 30),
    (Stage.EXTRACT_SENT, 8),
    (Stage.SUBMITTED, 5),
    (Stage.EXAMINED, 3),
    (Stage.FEEDBACK, 2),
    (Stage.JURY, 1),
    (Stage.WITHDRAWN, 1),
)
CLASS_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("forskola", 30),
    ("skola", 25),
    ("aldreomsorg", 15),
    ("socialtjanst", 15),
    ("andra_verksamheter", 15),
)
CITY_ROUTE = (
    Stage.BOARD_DECISION,
    Stage.EXTRACT_SENT,
    Stage.SUBMITTED,
    Stage.EXAMINED,
    Stage.FEEDBACK,
    Stage.JURY,
)
PRIVATE_ROUTE = (Stage.SUBMITTED, Stage.EXAMINED, Stage.FEEDBACK, Stage.JURY)
CITY_ONLY = frozenset({Stage.BOARD_DECISION, Stage.EXTRACT_SENT})
STAGE_DATA: dict[Stage, dict[str, str]] = {
    Stage.BOARD_DECISION: {
        "decision": "approved",
        "meeting_date": "2026-12-10",
        "paragraph": "§ 7",
    },
    Stage.EXTRACT_SENT: {"sent_on": "2027-01-15"},
    Stage.SUBMITTED: {"submitted_on": "2027-05-10", "title": "Tillsammans för varje barn"},
    Stage.EXAMINED: {"site_visit_on": "2027-09-02", "examiner": "Examinator"},
    Stage.FEEDBACK: {
        "strengths": "Tydligt ledarskap och systematisk uppföljning.",
        "development_areas": "Brukarnas delaktighet i förbättringsarbetet.",
    },
    Stage.JURY: {"outcome": "not_awarded"},
}
# Extra reminder offsets (days before a deadline) for topping up to --reminders; never one
# of the real ones (14, 7, 2, 0), so every key is unique.
_FIRST_EXTRAS = (30, 21, 10, 5, 3, 1)
EXTRA_OFFSETS = _FIRST_EXTRAS + tuple(d for d in range(4, 121) if d not in (*_FIRST_EXTRAS, 7, 14))

UNIT_COLUMNS = (
    "id", "organisation_id", "name", "staff_count",
    "manager_has_budget_and_staff_responsibility", "has_business_plan",
    "share_stockholm_residents", "budget_in_balance", "privately_run", "contact_email",
    "earlier_participation_years", "earlier_participation_count",
)  # fmt: skip
ENTRY_COLUMNS = (
    "id", "unit_id", "cycle_id", "award_class", "stage", "version", "facts", "pending",
    "created_at", "updated_at",
)  # fmt: skip
HISTORY_COLUMNS = (
    "id", "entry_id", "version", "from_stage", "to_stage", "actor", "at", "note", "data",
)  # fmt: skip
REMINDER_COLUMNS = (
    "id", "key", "entry_id", "deadline_kind", "deadline", "kind", "days_before",
    "recipient_role", "due_at", "status", "created_at",
)  # fmt: skip


# --- measurements ----------------------------------------------------------------------------


def ms(seconds: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (nan when nothing was measured)."""
    p50, p99 = (percentile(seconds, q, empty=math.nan) for q in (0.5, 0.99))
    return 1000 * p50, 1000 * p99


@dataclass
class Requests:
    """Timed HTTP requests of one kind."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    sizes: list[int] = field(default_factory=list)
    elapsed: float = 0.0
    warmups: int = 0  # untimed requests made in the same phase (their CPU is in the phase's)
    note: str = ""

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


class RssSampler:
    """RSS of a process and all its descendants every `interval` seconds, in a thread:
    the maximum per process and the maximum of their sum; beside it the CPU time the tree
    used while sampled (contention-proof, unlike wall time) and the highest load average."""

    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak: dict[int, int] = {}
        self.labels: dict[int, str] = {}
        self.last: dict[int, int] = {}
        self.peak_sum = 0
        self.samples = 0
        self.first_cpu: dict[int, float] = {}
        self.last_cpu: dict[int, float] = {}
        self.peak_load = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()  # the CPU time up to the end

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        current: dict[int, int] = {}
        for process in processes:
            try:
                rss = process.memory_info().rss
                cpu = process.cpu_times()
                self.first_cpu.setdefault(process.pid, cpu.user + cpu.system)
                self.last_cpu[process.pid] = cpu.user + cpu.system
                if process.pid not in self.labels:
                    self.labels[process.pid] = _label(process, process.pid == self.root_pid)
            except psutil.Error:
                continue
            current[process.pid] = rss
            total += rss
            self.peak[process.pid] = max(self.peak.get(process.pid, 0), rss)
        self.last = current
        self.peak_sum = max(self.peak_sum, total)
        self.peak_load = max(self.peak_load, os.getloadavg()[0])
        self.samples += 1

    @property
    def cpu_seconds(self) -> float:
        return sum(self.last_cpu[pid] - first for pid, first in self.first_cpu.items())

    @property
    def peak_process_mb(self) -> float:
        return max(self.peak.values(), default=0) / 2**20

    def lines(self) -> list[str]:
        return [
            f"{self.labels.get(pid, '?'):<34} pid {pid:>7}  peak {rss / 2**20:7.1f} MB"
            f"  last {self.last.get(pid, 0) / 2**20:7.1f} MB"
            for pid, rss in sorted(self.peak.items())
        ] + [f"{'sum (max of the sampled sums)':<46}  peak {self.peak_sum / 2**20:7.1f} MB"]


def _label(process: psutil.Process, root: bool) -> str:
    words = " ".join(process.cmdline())
    if root:
        return "master" if "uvicorn" in words else "celery main"
    if "resource_tracker" in words:
        return "multiprocessing resource tracker"
    if "multiprocessing" in words and "spawn" in words:
        return "uvicorn worker"
    return "celery child (pool or beat)"


# --- processes: every one registered, every one stopped ---------------------------------------

_children: list[subprocess.Popen[bytes]] = []


def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: every finally below runs


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A subprocess in its own session (process group), so Ctrl-C in the terminal reaches only
    this script and `stop_process` takes the whole group (uvicorn workers, celery pool)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _children.append(process)
    return process


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children a dead parent left behind
    if process in _children:
        _children.remove(process)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# --- database --------------------------------------------------------------------------------


def postgres_settings(engine: Engine) -> str:
    with engine.connect() as connection:
        values = {
            name: connection.execute(text(f"SHOW {name}")).scalar()
            for name in ("server_version", "shared_buffers", "work_mem", "synchronous_commit")
        }
    return ", ".join(f"{k}={v}" for k, v in values.items())


def copy_rows(engine: Engine, table: str, columns: tuple[str, ...], rows: Iterable[Any]) -> int:
    """COPY rows into `table` in one transaction; returns how many."""
    raw = engine.raw_connection()
    count = 0
    try:
        driver = raw.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,  # type: ignore[attr-defined]
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        raw.commit()
    finally:
        raw.close()
    return count


# --- seeding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One reminder of a plan, without its entry (the key is completed per entry)."""

    key_tail: str  # "{deadline_kind}/{deadline}/{kind}/{days_before}"
    deadline_kind: str
    deadline: date
    kind: str
    days_before: int
    recipient: str
    send_at: datetime


@dataclass
class Seeded:
    cycle_id: int
    entries: int
    reminders: int
    due: int
    stages: Counter[str]
    pool: list[int]  # notified city-run entries without a due reminder: the transitions' own
    timings: list[tuple[str, int, float]]  # table, rows, seconds
    real_plan_rows: int
    extra_rows: int


def _spec(planned: PlannedReminder) -> Spec:
    return Spec(
        key_tail=(
            f"{planned.deadline_kind}/{planned.deadline.isoformat()}/"
            f"{planned.kind}/{planned.days_before}"
        ),
        deadline_kind=str(planned.deadline_kind),
        deadline=planned.deadline,
        kind=str(planned.kind),
        days_before=planned.days_before,
        recipient=str(planned.recipient),
        send_at=planned.send_at,
    )


def reminder_templates(
    stage: Stage, privately_run: bool, facts: dict[str, Any]
) -> tuple[list[Spec], list[Spec]]:
    """The real plan of an entry in this state (entry id left out), and the extra reminders
    that may top it up: other offsets before the same deadlines, keys of the same format."""
    subject = ReminderSubject(
        entry_id=0,
        stage=stage,
        privately_run=privately_run,
        has_contribution=Stage.SUBMITTED in facts,
        has_extract=Stage.EXTRACT_SENT in facts,
    )
    real = [
        _spec(p)
        for p in plan_reminders(subject, DEADLINES, now=None, is_working_day=is_swedish_working_day)
    ]
    kinds = list(dict.fromkeys(s.deadline_kind for s in real))
    taken = {(s.deadline_kind, s.days_before) for s in real if s.kind == ReminderKind.REMINDER}
    extras: list[Spec] = []
    for offset in EXTRA_OFFSETS:
        for kind in kinds:
            if (kind, offset) in taken:
                continue
            deadline = DEADLINES[Deadline(kind)]
            day = working_day_on_or_before(
                deadline - timedelta(days=offset), is_swedish_working_day
            )
            recipient = (
                Recipient.UNIT_CONTACT if kind == Deadline.CONTRIBUTION else Recipient.COORDINATOR
            )
            extras.append(
                _spec(
                    PlannedReminder(
                        0,
                        Deadline(kind),
                        deadline,
                        ReminderKind.REMINDER,
                        offset,
                        recipient,
                        send_time(day),
                    )
                )
            )
    return real, extras


def facts_for(stage: Stage, privately_run: bool) -> dict[str, Any]:
    if stage == Stage.WITHDRAWN:
        return {Stage.WITHDRAWN.value: {}}
    route = PRIVATE_ROUTE if privately_run else CITY_ROUTE
    if stage not in route:
        return {}
    return {s.value: STAGE_DATA[s] for s in route[: route.index(stage) + 1]}


def spread(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, exactly (cumulative rounding)."""
    whole = sum(weights)
    shares: list[int] = []
    done = 0
    running = 0
    for weight in weights:
        running += weight
        upto = total * running // whole if whole else 0
        shares.append(upto - done)
        done = upto
    return shares


def seed(engine: Engine, args: argparse.Namespace, started: datetime) -> Seeded:
    rng = random.Random(YEAR)
    n = args.entries
    timings: list[tuple[str, int, float]] = []

    def timed(table: str, work: Callable[[], int]) -> None:
        t0 = time.perf_counter()
        rows = work()
        timings.append((table, rows, time.perf_counter() - t0))
        print(f"[seed] {table:<16} {rows:>9,} rows  {time.perf_counter() - t0:7.2f} s", flush=True)

    # cycle and organisations: SQLAlchemy Core
    cycle_table = Cycle.__table__  # type: ignore[attr-defined]
    organisation_table = Organisation.__table__  # type: ignore[attr-defined]
    cycle_id = 0

    def insert_cycle() -> int:
        nonlocal cycle_id
        with engine.begin() as connection:
            cycle_id = connection.execute(
                cycle_table.insert().returning(cycle_table.c.id),
                {
                    "year": YEAR,
                    "contribution_deadline": CONTRIBUTION_DEADLINE,
                    "extract_deadline": EXTRACT_DEADLINE,
                    "winners_date": WINNERS_DATE,
                    "award_office_email": AWARD_OFFICE_EMAIL,
                    "classes": [code for code, _ in CLASS_WEIGHTS],
                },
            ).scalar_one()
        return 1

    organisation_ids: list[int] = []

    def insert_organisations() -> int:
        rows = []
        for k in range(args.organisations):
            company = k % 10 == 9
            rows.append(
                {
                    "name": f"{'Bolag' if company else 'Förvaltning'} {k + 1:03d}",
                    "kind": "bolag" if company else "forvaltning",
                    "board": f"{'Styrelsen' if company else 'Nämnden'} {k + 1:03d}",
                    "coordinator_email": f"samordnare{k + 1}@example.se",
                }
            )
        with engine.begin() as connection:
            connection.execute(organisation_table.insert(), rows)
            organisation_ids.extend(
                row[0]
                for row in connection.execute(text("SELECT id FROM organisation ORDER BY id"))
            )
        return len(rows)

    timed("cycle", insert_cycle)
    timed("organisation", insert_organisations)

    # The shape of every entry, decided up front (cheap), so quotas can be exact.
    stages = rng.choices([s for s, _ in STAGE_WEIGHTS], [w for _, w in STAGE_WEIGHTS], k=n)
    classes = rng.choices([c for c, _ in CLASS_WEIGHTS], [w for _, w in CLASS_WEIGHTS], k=n)
    org_weights = [1 / (k + 1) ** 0.8 for k in range(len(organisation_ids))]
    org_of = rng.choices(organisation_ids, org_weights, k=n)
    private = [i % 10 == 9 and stages[i] not in CITY_ONLY for i in range(n)]
    combos: dict[tuple[Stage, bool], tuple[str, list[Spec], list[Spec]]] = {}
    for stage in Stage:
        for is_private in (False, True):
            facts = facts_for(stage, is_private)
            real, extras = reminder_templates(stage, is_private, facts)
            combos[(stage, is_private)] = (json.dumps(facts, ensure_ascii=False), real, extras)

    def created(i: int) -> datetime:
        return CREATED + timedelta(seconds=20 * i)

    def units() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            earlier = (YEAR - 2,) if i % 7 == 0 else ()
            yield (
                i + 1, org_of[i], f"Enhet {i + 1:06d}", 5 + i % 60, True, True,
                0.9, True, private[i], f"chef{i + 1}@example.se",
                json.dumps(list(earlier)), len(earlier),
            )  # fmt: skip

    def entries() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            facts_json = combos[(stages[i], private[i])][0]
            at = created(i)
            yield (i + 1, i + 1, cycle_id, classes[i], stages[i].value, 1, facts_json, "{}", at, at)

    def history() -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            data = json.dumps({"award_class": classes[i], "year": YEAR})
            yield (i + 1, i + 1, 1, None, stages[i].value, "bench", created(i), None, data)

    timed("unit (COPY)", lambda: copy_rows(engine, "unit", UNIT_COLUMNS, units()))
    timed("entry (COPY)", lambda: copy_rows(engine, "entry", ENTRY_COLUMNS, entries()))
    timed("history (COPY)", lambda: copy_rows(engine, "history_event", HISTORY_COLUMNS, history()))

    # Reminders: each entry's real plan, cut or topped up evenly to exactly --reminders rows.
    real_counts = [len(combos[(stages[i], private[i])][1]) for i in range(n)]
    planned_total = sum(real_counts)
    extras = [0] * n
    if args.reminders <= planned_total:
        quotas = spread(args.reminders, real_counts)
    else:
        quotas = real_counts
        open_entries = [i for i in range(n) if real_counts[i]]
        if not open_entries:
            raise SystemExit("no entry has reminders to top up")
        for i, share in zip(
            open_entries,
            spread(args.reminders - planned_total, [1] * len(open_entries)),
            strict=True,
        ):
            available = len(combos[(stages[i], private[i])][2])
            if share > available:
                raise SystemExit(
                    f"--reminders {args.reminders:,} needs {share} extra reminders per entry; "
                    f"at most {available} fit (raise --entries)"
                )
            extras[i] = share
    # Due now: one reminder each of evenly spaced entries past the notified stage.
    candidates = [i for i in range(n) if stages[i] != Stage.NOTIFIED and quotas[i] + extras[i]]
    due_counts = [0] * n
    for i, share in zip(candidates, spread(args.due, [1] * len(candidates)), strict=True):
        if share > quotas[i] + extras[i]:
            raise SystemExit(f"--due {args.due:,} is more than the entries can hold")
        due_counts[i] = share
    if sum(due_counts) != args.due:
        raise SystemExit(f"--due {args.due:,}: not enough entries past the notified stage")
    due_step = min(1.0, 3000 / max(args.due, 1))
    due_base = started - timedelta(hours=1)

    def reminders() -> Iterator[tuple[Any, ...]]:
        rid = 0
        due_seq = 0
        for i in range(n):
            _, real, extra = combos[(stages[i], private[i])]
            entry_id = i + 1
            at = created(i)
            specs = itertools.chain(real[: quotas[i]], extra[: extras[i]])
            for k, s in enumerate(specs):
                rid += 1
                due_at = s.send_at
                if k < due_counts[i]:
                    due_at = due_base + timedelta(seconds=due_step * due_seq)
                    due_seq += 1
                yield (
                    rid, f"reminder/{entry_id}/{s.key_tail}", entry_id, s.deadline_kind,
                    s.deadline, s.kind, s.days_before, s.recipient, due_at, "pending", at,
                )  # fmt: skip

    timed("reminder (COPY)", lambda: copy_rows(engine, "reminder", REMINDER_COLUMNS, reminders()))

    def finish() -> int:
        with engine.begin() as connection:
            for table in ("unit", "entry", "history_event", "reminder"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(max(id), 1) FROM {table}))"
                    )
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        return 0

    timed("VACUUM ANALYZE", finish)
    pool = [
        i + 1
        for i in range(n)
        if stages[i] == Stage.NOTIFIED and not private[i] and not due_counts[i]
    ]
    return Seeded(
        cycle_id=cycle_id,
        entries=n,
        reminders=args.reminders,
        due=args.due,
        stages=Counter(s.value for s in stages),
        pool=pool,
        timings=timings,
        real_plan_rows=sum(quotas),
        extra_rows=sum(extras),
    )


# --- the sweep -------------------------------------------------------------------------------


@dataclass
class Sweep:
    query: list[float]
    returned: int
    plan: list[str]
    claim_seconds: list[float]  # cold, warm
    claimed: int
    claim_statement: float  # the warm claim's UPDATE … RETURNING alone


def measure_sweep(engine: Engine, due: int, *, profile: bool) -> Sweep:
    now = datetime.now(UTC)
    expected = min(due, SWEEP_LIMIT)
    latencies: list[float] = []
    with Session(engine) as session:
        for _ in range(3):
            returned = len(due_reminder_ids(session, now=now, limit=SWEEP_LIMIT))
        for _ in range(SWEEP_RUNS):
            t0 = time.perf_counter()
            ids = due_reminder_ids(session, now=now, limit=SWEEP_LIMIT)
            latencies.append(time.perf_counter() - t0)
            if len(ids) != expected:
                raise AssertionError(f"{len(ids)} due ids, expected {expected}")
        plan = [
            str(row[0])
            for row in session.execute(
                text(
                    "EXPLAIN SELECT id FROM reminder WHERE status = 'pending' AND due_at <= :now "
                    "ORDER BY due_at LIMIT :limit"
                ),
                {"now": now, "limit": SWEEP_LIMIT},
            )
        ]
    claims: list[float] = []
    statements: list[float] = []

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("UPDATE reminder SET status = 'queued'"):
            conn.info["claim_t0"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "claim_t0" in conn.info and statement.lstrip().startswith("UPDATE reminder"):
            statements.append(time.perf_counter() - conn.info.pop("claim_t0"))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)

    def claim() -> int:
        with Session(engine) as session:
            t0 = time.perf_counter()
            queued = sweep_due_reminders(session, now=now, limit=SWEEP_LIMIT)
            claims.append(time.perf_counter() - t0)
            session.rollback()
        return queued

    try:
        claimed = claim()  # cold: the first statements of the process
        claimed = claim()  # warm
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    if profile:
        profiled(f"sweep_due_reminders(limit={SWEEP_LIMIT}), rolled back", claim)
    return Sweep(latencies, returned, plan, claims[:2], claimed, statements[-1])


# --- the web server --------------------------------------------------------------------------


def service_env(database_url: str, data_dir: Path, redis_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KVALITET_DATA_DIR": str(data_dir),
        "CELERY_BROKER_URL": redis_url,
        "PYTHONPATH": str(ROOT),
    }
    for name in ("MAIL_TRANSPORT", "REMINDER_SWEEP_SECONDS", "OUTBOX_SWEEP_SECONDS"):
        env.pop(name, None)
    return env


def start_uvicorn(
    env: dict[str, str], log: Path, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [
        sys.executable, "-m", "workflow.entrypoints.cli", "web",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning",
    ]  # fmt: skip
    process = spawn(argv, env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if _healthy(url) and len(_descendants(process.pid)) >= workers:
            return process, url
        time.sleep(0.2)
    stop_process(process)
    raise RuntimeError(f"uvicorn did not become healthy:\n{tail(log)}")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def create_admin(env: dict[str, str]) -> str:
    """`kvalitet user create … --role admin --password`, the password twice on stdin (in its own
    session: without a controlling terminal getpass reads stdin). Returns the API token."""
    result = subprocess.run(
        [sys.executable, "-m", "workflow.entrypoints.cli", "user", "create", ADMIN_NAME,
         "--role", "admin", "--password"],
        cwd=ROOT, env=env, input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n", capture_output=True,
        text=True, timeout=120, start_new_session=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"user create failed ({result.returncode}): {result.stderr}")
    return result.stdout.strip().splitlines()[-1]


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(client: httpx.Client) -> None:
    """Through the web form: GET /login (sets the login cookie), POST it back with the token."""
    page = client.get("/login")
    found = _CSRF.search(page.text)
    if page.status_code != 200 or not found:
        raise RuntimeError(f"login form: {page.status_code}")
    response = client.post(
        "/login",
        data={
            "name": ADMIN_NAME,
            "password": ADMIN_PASSWORD,
            "csrf_token": found.group(1),
            "next": "/",
        },
        follow_redirects=False,
    )
    if response.status_code != 303 or "kv_session" not in client.cookies:
        raise RuntimeError(f"login refused: {response.status_code} {response.text[:300]}")


def timed_gets(
    client: httpx.Client,
    paths: Iterable[str],
    *,
    count: int,
    budget: float,
    minimum: int = 3,
    on_first: Callable[[httpx.Response], None] | None = None,
) -> Requests:
    """GET each path (cycling) until `count` requests are done or `budget` seconds are spent
    (but at least `minimum`); one untimed warm-up request first."""
    result = Requests(warmups=1)
    cycle = itertools.cycle(paths)
    warm = client.get(next(cycle))
    if on_first is not None:
        on_first(warm)
    started = time.perf_counter()
    while len(result.latencies) < count:
        spent = time.perf_counter() - started
        if len(result.latencies) >= minimum and spent >= budget:
            break
        t0 = time.perf_counter()
        response = client.get(next(cycle))
        result.latencies.append(time.perf_counter() - t0)
        result.statuses[response.status_code] += 1
        result.sizes.append(len(response.content))
    result.elapsed = time.perf_counter() - started
    return result


def paging_parameters(client: httpx.Client) -> tuple[str, str] | None:
    """The entry list's paging parameters as the OpenAPI document names them, if any."""
    spec = client.get("/api/v1/openapi.json").json()
    operation = spec.get("paths", {}).get("/api/v1/entries", {}).get("get", {})
    names = {p.get("name") for p in operation.get("parameters", [])}
    for size in ("limit", "page_size", "per_page", "size"):
        for position in ("after_id", "offset", "page"):
            if size in names and position in names:
                return size, position
    return None


def list_items(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    for key in ("items", "entries", "data", "results"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return body[key]
    return []


def spread_pages(entries: int, page_size: int) -> list[int]:
    """The first, the last and evenly spread pages between them (deep offsets cost most)."""
    pages = max(1, math.ceil(entries / page_size))
    return sorted({0, pages - 1, *(pages * k // 10 for k in range(1, 10))})


def start(page: int, page_size: int, position: str) -> int:
    """Where page `page` (from 0) starts: an offset, a page number, or (keyset) the id before
    it; the seeded entry ids are 1…n in order."""
    return page + 1 if position == "page" else page * page_size


def measure_entry_page(
    client: httpx.Client, entries: int, *, count: int, budget: float
) -> Requests:
    """The web list page `/entries` (100 a page, `after` = the id before the page), first,
    last and evenly spread pages, with the session cookie of the dashboard phase."""
    page_size = 100
    picks = spread_pages(entries, page_size)
    paths = [f"/entries?year={YEAR}&after={p * page_size}" for p in picks]
    result = timed_gets(client, paths, count=count, budget=budget, minimum=len(paths))
    result.note = f"paginated: 100 a page, after=<id> over {len(picks)} pages (first…last)"
    return result


def measure_entry_list(
    client: httpx.Client, entries: int, *, count: int, budget: float, page_size: int
) -> Requests:
    paging = paging_parameters(client)
    base = f"/api/v1/entries?year={YEAR}"
    if paging is None:
        result = timed_gets(client, [base], count=count, budget=budget, minimum=3)
        result.note = (
            "UNPAGINATED: GET /api/v1/entries has no paging parameters (OpenAPI shows none); "
            f"every call returns all {entries:,} entries of the year"
        )
        return result
    size, position = paging
    picks = spread_pages(entries, page_size)
    paths = [f"{base}&{size}={page_size}&{position}={start(p, page_size, position)}" for p in picks]
    result = timed_gets(client, paths, count=count, budget=budget, minimum=len(paths))
    result.note = f"paginated: {size}={page_size}, {position} over {len(picks)} pages (first…last)"
    return result


def measure_transitions(
    url: str, token: str, pool: list[int], *, clients: int, seconds: float
) -> Requests:
    """`clients` threads, each with its own httpx client and its own entries, advancing
    notified → board_decision until `seconds` have passed."""
    body = {"to": Stage.BOARD_DECISION.value, "version": 1, "data": BOARD_DECISION_DATA}
    headers = {"Authorization": f"Bearer {token}"}
    # Untimed warm-up: two requests per client's connection, from the end of the pool.
    warm, pool = pool[-2 * clients :], pool[: -2 * clients]
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for entry_id in warm:
            client.post(f"/api/v1/entries/{entry_id}/transitions", json=body)
    shares = [pool[k::clients] for k in range(clients)]
    results = [Requests() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop = threading.Event()
    finished: list[float] = []

    def run(k: int) -> None:
        mine = results[k]
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            start.wait()
            deadline = time.perf_counter() + seconds
            for entry_id in shares[k]:
                if stop.is_set() or time.perf_counter() >= deadline:
                    break
                t0 = time.perf_counter()
                response = client.post(f"/api/v1/entries/{entry_id}/transitions", json=body)
                mine.latencies.append(time.perf_counter() - t0)
                mine.statuses[response.status_code] += 1
        finished.append(time.perf_counter())

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    try:
        for thread in threads:
            thread.join()
    finally:
        stop.set()
    total = Requests()
    for r in results:
        total.latencies += r.latencies
        total.statuses.update(r.statuses)
    total.elapsed = max(finished, default=started) - started
    total.warmups = len(warm)
    exhausted = sum(1 for k in range(clients) if len(results[k].latencies) == len(shares[k]))
    total.note = f"{clients} clients, {len(pool):,} notified city-run entries in their pools"
    if exhausted:
        total.note += f"; {exhausted} clients ran out of entries (raise --entries)"
    return total


@dataclass
class Web:
    dashboard: Requests
    dashboard_rows: int
    entry_page: Requests
    entry_list: Requests
    transitions: Requests
    rss: dict[str, RssSampler]


def run_web(
    database_url: str, data_dir: Path, seeded: Seeded, args: argparse.Namespace
) -> tuple[Web, str]:
    env = service_env(database_url, data_dir, args.redis_url)
    log = data_dir.parent / "uvicorn.log"
    print("[web] creating the admin through the CLI …", flush=True)
    token = create_admin(env)
    print(f"[web] starting uvicorn --workers {args.web_workers} …", flush=True)
    process, url = start_uvicorn(env, log, args.web_workers)
    try:
        rss: dict[str, RssSampler] = {}
        with httpx.Client(base_url=url, timeout=600) as client:
            login(client)
            rows = [0]

            def count_rows(response: httpx.Response) -> None:
                if response.status_code != 200:
                    raise RuntimeError(f"dashboard: {response.status_code} {response.text[:300]}")
                rows[0] = response.text.count('class="list__item entry-row"')

            print(
                f"[web] dashboard GET /?year={YEAR}: up to {args.dashboard_requests} requests "
                f"or {args.dashboard_budget:.0f} s …",
                flush=True,
            )
            with RssSampler(process.pid) as rss["dashboard"]:
                dashboard = timed_gets(
                    client,
                    [f"/?year={YEAR}"],
                    count=args.dashboard_requests,
                    budget=args.dashboard_budget,
                    on_first=count_rows,
                )
            print(
                f"[web] dashboard p50/p99 {ms(dashboard.latencies)[0]:.0f}/"
                f"{ms(dashboard.latencies)[1]:.0f} ms over {len(dashboard.latencies)}",
                flush=True,
            )
            print("[web] entry list page GET /entries …", flush=True)
            with RssSampler(process.pid) as rss["entry page"]:
                entry_page = measure_entry_page(
                    client, seeded.entries, count=args.list_requests, budget=args.list_budget
                )
            client.headers["Authorization"] = f"Bearer {token}"
            print("[web] entry list GET /api/v1/entries …", flush=True)
            with RssSampler(process.pid) as rss["entry list"]:
                entry_list = measure_entry_list(
                    client,
                    seeded.entries,
                    count=args.list_requests,
                    budget=args.list_budget,
                    page_size=args.page_size,
                )
        print(
            f"[web] API transitions: {args.clients} clients for {args.transition_seconds:.0f} s …",
            flush=True,
        )
        with RssSampler(process.pid) as rss["transitions"]:
            transitions = measure_transitions(
                url, token, seeded.pool, clients=args.clients, seconds=args.transition_seconds
            )
        print(f"[web] {transitions.rate:.0f} transitions/s", flush=True)
    except BaseException:
        print(tail(log), file=sys.stderr)
        raise
    finally:
        stop_process(process)
    return Web(dashboard, rows[0], entry_page, entry_list, transitions, rss), token


# --- the worker ------------------------------------------------------------------------------


@dataclass
class WorkerRun:
    rss: RssSampler
    seconds: float
    reminders_queued: int
    outbox_before: Counter[str]
    outbox_after: Counter[str]
    eml_files: int
    drained_after: float | None  # seconds until every due reminder was queued and nothing queued


def outbox_counts(engine: Engine) -> tuple[Counter[str], int]:
    with engine.connect() as connection:
        counts = Counter(
            {
                str(status): int(n)
                for status, n in connection.execute(
                    text("SELECT status, count(*) FROM outbox_message GROUP BY status")
                )
            }
        )
        reminders = int(
            connection.execute(
                text("SELECT count(*) FROM outbox_message WHERE key LIKE 'reminder/%'")
            ).scalar_one()
        )
    return counts, reminders


def run_worker(
    engine: Engine, database_url: str, data_dir: Path, due: int, args: argparse.Namespace
) -> WorkerRun:
    broker = redis.Redis.from_url(args.redis_url)
    broker.flushdb()  # the web's nudges: the outbox is the truth, the sweeps find every row
    env = {
        **service_env(database_url, data_dir, args.redis_url),
        "MAIL_TRANSPORT": "eml",
        "REMINDER_SWEEP_SECONDS": "1",
        "OUTBOX_SWEEP_SECONDS": "1",
    }
    log = data_dir.parent / "worker.log"
    before, _ = outbox_counts(engine)
    argv = [
        sys.executable, "-m", "celery", "-A", "tasks.app", "worker",
        "--concurrency", "2", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"national{os.getpid()}@%h",
        "--beat", "--schedule", str(data_dir.parent / "worker.beat"),
    ]  # fmt: skip
    print(
        f"[worker] celery worker --concurrency 2 --beat for {args.worker_seconds:.0f} s "
        f"(up to {args.worker_max_seconds:.0f} s until drained) "
        f"({due:,} reminders due, {before.get('queued', 0):,} messages queued) …",
        flush=True,
    )
    process = spawn(argv, env, log)
    drained: float | None = None
    started = time.perf_counter()
    try:
        with RssSampler(process.pid) as sampler:
            while True:
                spent = time.perf_counter() - started
                if spent >= args.worker_max_seconds or (
                    spent >= args.worker_seconds and drained is not None
                ):
                    break
                time.sleep(1)
                if process.poll() is not None:
                    raise RuntimeError(f"the worker exited:\n{tail(log)}")
                counts, queued_reminders = outbox_counts(engine)
                if drained is None and queued_reminders >= due and not counts.get("queued"):
                    drained = time.perf_counter() - started
                    print(f"[worker] drained after {drained:.1f} s", flush=True)
    except BaseException:
        print(tail(log), file=sys.stderr)
        raise
    finally:
        seconds = time.perf_counter() - started
        stop_process(process)
        broker.flushdb()
    after, queued_reminders = outbox_counts(engine)
    mail_dir = data_dir / "mail"
    emls = sum(1 for _ in mail_dir.rglob("*.eml")) if mail_dir.exists() else 0
    return WorkerRun(sampler, seconds, queued_reminders, before, after, emls, drained)


# --- optional: where the time goes -------------------------------------------------------------


@contextlib.contextmanager
def inline_threadpool() -> Iterator[None]:
    """Run what Starlette and FastAPI hand to worker threads (sync endpoints, dependencies,
    response validation) in the calling thread, so a one-thread profiler sees all of it."""
    import anyio.to_thread

    original = anyio.to_thread.run_sync

    async def run_sync(func: Callable[..., Any], *args: Any, **_options: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
    try:
        yield
    finally:
        anyio.to_thread.run_sync = original


async def asgi_get(app: Any, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One GET straight through the ASGI app, in this thread and this event loop."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # no disconnect while the response is written
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def profile_pages(database_url: str, data_dir: Path) -> None:
    """pyinstrument (else cProfile) of one dashboard and one entry-list request through the
    real ASGI app in this process (threadpool inlined), and the dashboard's figures as SQL
    aggregates for comparison."""
    os.environ.update(DATABASE_URL=database_url, KVALITET_DATA_DIR=str(data_dir))
    os.environ.pop("CELERY_BROKER_URL", None)
    from workflow import auth, db
    from workflow.db import transaction
    from workflow.entrypoints.http.app import create_app
    from workflow.settings import get_settings

    get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        app = create_app()
        logging.getLogger().setLevel(logging.WARNING)
        with transaction(db.get_engine()) as session:
            _, web_session = auth.login(
                session, name=ADMIN_NAME, password=ADMIN_PASSWORD, now=datetime.now(UTC)
            )
            token = services.create_user(
                session, name=f"profile-{os.getpid()}", role="admin", now=datetime.now(UTC)
            ).token
        for path, headers in (
            (f"/?year={YEAR}", {"cookie": f"kv_session={web_session.id}"}),
            (f"/api/v1/entries?year={YEAR}", {"authorization": f"Bearer {token}"}),
        ):
            with inline_threadpool():
                asyncio.run(asgi_get(app, path, headers))  # warm-up
                status, body = profiled(
                    f"GET {path}", lambda p=path, h=headers: asyncio.run(asgi_get(app, p, h))
                )
            print(f"status {status}, {len(body):,} bytes")
        sql_aggregates(db.get_engine())
    finally:
        db.get_engine().dispose()
        db.get_engine.cache_clear()


def profiled(label: str, work: Callable[[], Any]) -> Any:
    print()
    print(f"=== in-process profile of {label} ===")
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        with cProfile.Profile() as profile:
            result = work()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        return result
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        result = work()
    finally:
        profiler.stop()
    print(
        profiler.output_text(
            unicode=True, color=False, processor_options={"filter_threshold": 0.02}
        )
    )
    return result


AGGREGATES = {
    "counts per stage and class (GROUP BY)": """
        SELECT e.stage, e.award_class, count(*) FROM entry e JOIN cycle c ON c.id = e.cycle_id
        WHERE c.year = :year GROUP BY e.stage, e.award_class
    """,
    "missing contribution / extract (JSON, as now)": """
        SELECT
          count(*) FILTER (WHERE e.facts -> 'submitted' IS NULL
                             AND e.pending -> 'submitted' IS NULL),
          count(*) FILTER (WHERE NOT u.privately_run AND e.facts -> 'extract_sent' IS NULL)
        FROM entry e JOIN unit u ON u.id = e.unit_id JOIN cycle c ON c.id = e.cycle_id
        WHERE c.year = :year AND e.stage NOT IN ('jury', 'withdrawn')
    """,
    "missing contribution / extract (from stage)": """
        SELECT
          count(*) FILTER (WHERE e.stage IN ('notified', 'board_decision', 'extract_sent')
                             AND (e.pending::text = '{}' OR e.pending -> 'submitted' IS NULL)),
          count(*) FILTER (WHERE NOT u.privately_run
                             AND e.stage IN ('notified', 'board_decision'))
        FROM entry e JOIN unit u ON u.id = e.unit_id JOIN cycle c ON c.id = e.cycle_id
        WHERE c.year = :year
    """,
    "one page of 100 entries (keyset on id)": """
        SELECT e.id, u.name, o.name, e.stage, e.award_class, u.privately_run
        FROM entry e JOIN unit u ON u.id = e.unit_id
        JOIN organisation o ON o.id = u.organisation_id JOIN cycle c ON c.id = e.cycle_id
        WHERE c.year = :year AND e.id > :after ORDER BY e.id LIMIT 100
    """,
}


def sql_aggregates(engine: Engine) -> None:
    print()
    print("=== the dashboard's figures as SQL (10 runs each, after one warm-up) ===")
    with engine.connect() as connection:
        for label, statement in AGGREGATES.items():
            params = {"year": YEAR, "after": 50_000}
            connection.execute(text(statement), params).all()
            runs = []
            for _ in range(10):
                t0 = time.perf_counter()
                connection.execute(text(statement), params).all()
                runs.append(time.perf_counter() - t0)
            p50, p99 = ms(runs)
            print(f"  {label:<46} p50 {p50:7.1f} ms  max {p99:7.1f} ms")


# --- report ----------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    settings: str,
    seeded: Seeded,
    sweep: Sweep,
    web: Web | None,
    worker: WorkerRun | None,
    load_at_start: float,
) -> None:
    cores = os.cpu_count() or 0
    samplers = [*(web.rss.values() if web else ()), *([worker.rss] if worker else ())]
    peak_load = max([load_at_start, *(s.peak_load for s in samplers)])
    print()
    print(
        f"{cores} cores, {psutil.virtual_memory().total / 2**30:.0f} GB RAM, "
        f"Python {platform.python_version()}; PostgreSQL: {settings}"
    )
    print(
        f"Load average (1 min): {load_at_start:.1f} at the start, at most {peak_load:.1f} during "
        "the measured phases"
        + (
            f" — MORE THAN {cores} CORES: other work shared this machine, so wall times are "
            "inflated; the server CPU per request below is not"
            if peak_load > cores + 0.5
            else ""
        )
    )
    print(
        f"{seeded.entries:,} entries over {args.organisations} organisations "
        f"({', '.join(f'{s} {n:,}' for s, n in seeded.stages.most_common())}); "
        f"{seeded.reminders:,} pending reminders ({seeded.real_plan_rows:,} from the entries' "
        f"real plans, {seeded.extra_rows:,} extra offsets), {seeded.due:,} due now"
    )
    print()
    print("Seeding")
    total = 0.0
    for table, count, seconds in seeded.timings:
        total += seconds
        rate = f"{count / seconds:>10,.0f} rows/s" if count and seconds else ""
        print(f"  {table:<18} {count:>10,} rows  {seconds:8.2f} s  {rate}")
    print(f"  {'total':<18} {'':>10}       {total:8.2f} s")

    print()
    p50, p99 = ms(sweep.query)
    index = (
        "ix_reminder_due_pending"
        if any("ix_reminder_due_pending" in line for line in sweep.plan)
        else "NOT the partial index"
    )
    print(
        f"Sweep: due_reminder_ids(limit={SWEEP_LIMIT}) returned {sweep.returned} of {seeded.due:,} "
        f"due among {seeded.reminders:,}; p50 {p50:.2f} ms, p99 {p99:.2f} ms over {SWEEP_RUNS} "
        f"runs; plan uses {index}"
    )
    for line in sweep.plan:
        print(f"    {line}")
    cold, warm = sweep.claim_seconds
    print(
        f"  one claim, sweep_due_reminders(limit={SWEEP_LIMIT}) rolled back: {sweep.claimed} "
        f"queued in {1000 * warm:.1f} ms (the first, cold one: {1000 * cold:.1f} ms), of which "
        f"the claiming UPDATE … RETURNING {1000 * sweep.claim_statement:.1f} ms; the rest loads "
        "the claimed rows and writes their outbox messages"
    )

    rows: list[tuple[str, str, str, str]] = []
    rows.append(("seeding, all tables", f"{total:.1f} s", "", ""))
    rows.append(("sweep due_reminder_ids p50", f"{p50:.2f} ms", "", ""))
    rows.append(
        ("sweep due_reminder_ids p99", f"{p99:.2f} ms", f"< {GOAL_SWEEP_P99_MS:.0f} ms",
         _met(p99 < GOAL_SWEEP_P99_MS))
    )  # fmt: skip
    rows.append((f"sweep claim of {SWEEP_LIMIT} (warm, one)", f"{1000 * warm:.1f} ms", "", ""))
    rows.append(
        ("  its UPDATE … RETURNING alone", f"{1000 * sweep.claim_statement:.1f} ms", "", "")
    )

    if web is not None:
        d = web.dashboard
        dp50, dp99 = ms(d.latencies)
        size = max(d.sizes, default=0)
        print()
        print(
            f"Dashboard GET /?year={YEAR}: {len(d.latencies)} requests in {d.elapsed:.1f} s "
            f"(statuses {dict(d.statuses)}), {size / 2**20:.1f} MB of HTML, "
            f"{web.dashboard_rows:,} entry rows on the page; p50 {dp50:.0f} ms, p99 {dp99:.0f} ms"
        )
        w = web.entry_page
        wp50, wp99 = ms(w.latencies)
        print(
            f"Entry list page /entries: {w.note}. {len(w.latencies)} requests in "
            f"{w.elapsed:.1f} s (statuses {dict(w.statuses)}); p50 {wp50:.0f} ms, "
            f"p99 {wp99:.0f} ms"
        )
        e = web.entry_list
        lp50, lp99 = ms(e.latencies)
        print(
            f"Entry list: {e.note}. {len(e.latencies)} requests in {e.elapsed:.1f} s "
            f"(statuses {dict(e.statuses)}), {max(e.sizes, default=0) / 2**20:.1f} MB per "
            f"response; p50 {lp50:.0f} ms, p99 {lp99:.0f} ms"
        )
        t = web.transitions
        tp50, tp99 = ms(t.latencies)
        print(
            f"API transitions notified → board_decision: {t.ok:,} ok in {t.elapsed:.1f} s "
            f"= {t.rate:.0f}/s (statuses {dict(t.statuses)}); p50 {tp50:.0f} ms, "
            f"p99 {tp99:.0f} ms; {t.note}"
        )
        print()
        print(f"Web RSS (uvicorn --workers {args.web_workers}), sampled every 0.1 s")
        for phase, sampler in web.rss.items():
            print(
                f"  {phase} ({sampler.samples} samples; uvicorn CPU {sampler.cpu_seconds:.1f} s, "
                f"load average up to {sampler.peak_load:.1f})"
            )
            for line in sampler.lines():
                print(f"    {line}")
        web_peak = max(s.peak_process_mb for s in web.rss.values())
        cpu = {
            phase: 1000 * web.rss[phase].cpu_seconds / max(1, len(r.latencies) + r.warmups)
            for phase, r in (("dashboard", d), ("entry list", e), ("transitions", t))
        }
        web_sum = max(s.peak_sum for s in web.rss.values()) / 2**20
        paged = e.note.startswith("paginated")
        rows += [
            ("dashboard p50", f"{dp50:.0f} ms", "", ""),
            ("dashboard p99", f"{dp99:.0f} ms", f"< {GOAL_DASHBOARD_P99_MS:.0f} ms",
             _met(dp99 < GOAL_DASHBOARD_P99_MS)),
            ("dashboard uvicorn CPU per request", f"{cpu['dashboard']:.0f} ms", "", ""),
            ("entry list page /entries p50", f"{wp50:.0f} ms", "", ""),
            ("entry list page /entries p99", f"{wp99:.0f} ms", "", ""),
            (f"entry list p50 ({'paged' if paged else 'UNPAGINATED'})", f"{lp50:.0f} ms", "", ""),
            (f"entry list p99 ({'paged' if paged else 'UNPAGINATED'})", f"{lp99:.0f} ms", "", ""),
            ("entry list uvicorn CPU per request", f"{cpu['entry list']:.0f} ms", "", ""),
            (f"API transitions/s ({args.clients} clients)", f"{t.rate:.0f}/s", "", ""),
            ("API transition p50", f"{tp50:.0f} ms", "", ""),
            ("API transition p99", f"{tp99:.0f} ms", "", ""),
            ("API transition uvicorn CPU each", f"{cpu['transitions']:.1f} ms", "", ""),
            ("web peak RSS, largest process", f"{web_peak:.0f} MB", f"< {GOAL_RSS_MB:.0f} MB",
             _met(web_peak < GOAL_RSS_MB)),
            ("web peak RSS, sum of processes", f"{web_sum:.0f} MB", "", ""),
        ]  # fmt: skip

    if worker is not None:
        print()
        sent = worker.outbox_after.get("sent", 0) - worker.outbox_before.get("sent", 0)
        drained = f"{worker.drained_after:.1f} s" if worker.drained_after is not None else "not"
        print(
            f"Worker ({worker.seconds:.0f} s): {worker.reminders_queued:,} of {seeded.due:,} due "
            f"reminders queued; outbox before {dict(worker.outbox_before)}, after "
            f"{dict(worker.outbox_after)}; {sent:,} sent, {worker.eml_files:,} .eml files; "
            f"all due reminders queued and the outbox empty after: {drained}"
        )
        print(
            f"Worker RSS (celery --concurrency 2 --beat), {worker.rss.samples} samples; "
            f"CPU {worker.rss.cpu_seconds:.1f} s, load average up to {worker.rss.peak_load:.1f}"
        )
        for line in worker.rss.lines():
            print(f"    {line}")
        peak = worker.rss.peak_process_mb
        rows += [
            ("worker peak RSS, largest process", f"{peak:.0f} MB", f"< {GOAL_RSS_MB:.0f} MB",
             _met(peak < GOAL_RSS_MB)),
            ("worker peak RSS, sum of processes", f"{worker.rss.peak_sum / 2**20:.0f} MB", "", ""),
            ("worker: due reminders queued", f"{worker.reminders_queued:,}/{seeded.due:,}", "all",
             _met(worker.reminders_queued >= seeded.due)),
            ("worker: messages sent", f"{sent:,}", "", ""),
            ("worker: due swept and outbox empty after", drained, "", ""),
        ]  # fmt: skip

    rows.append(("load average (1 min), highest seen", f"{peak_load:.1f}", f"≤ {cores}", ""))
    print()
    header = f"{'metric':<40} {'value':>14}  {'goal':<10} {'met':<3}"
    print(header)
    print("-" * len(header))
    for metric, value, goal, met in rows:
        print(f"{metric:<40} {value:>14}  {goal:<10} {met:<3}")


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--organisations", type=int, default=290)
    parser.add_argument("--reminders", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1000, help="reminders due now")
    parser.add_argument("--dashboard-requests", type=int, default=30)
    parser.add_argument("--dashboard-budget", type=float, default=120, help="seconds, at most")
    parser.add_argument("--list-requests", type=int, default=30)
    parser.add_argument("--list-budget", type=float, default=60, help="seconds, at most")
    parser.add_argument("--page-size", type=int, default=100, help="if the API pages")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--transition-seconds", type=float, default=15)
    parser.add_argument("--worker-seconds", type=float, default=30)
    parser.add_argument(
        "--worker-max-seconds",
        type=float,
        default=60,
        help="on past --worker-seconds until drained",
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--profile", action="store_true", help="profile the pages in-process")
    args = parser.parse_args(argv)
    if args.entries < 1 or args.organisations < 1 or args.reminders < 0 or args.due < 0:
        parser.error("--entries and --organisations must be positive, the counts not negative")

    signal.signal(signal.SIGTERM, _terminate)
    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        print(f"Redis not reachable at {args.redis_url}: {error}", file=sys.stderr)
        return 1
    status = 0
    web: Web | None = None
    worker: WorkerRun | None = None
    try:
        with (
            tempfile.TemporaryDirectory(prefix="kv_national_") as tmp,
            scratch_postgres("kv_national") as database_url,
        ):
            data_dir = Path(tmp) / "data"
            engine = make_engine(database_url)
            try:
                upgrade_schema(engine)
                settings = postgres_settings(engine)
                load_at_start = os.getloadavg()[0]
                started = datetime.now(UTC)
                print(
                    f"[seed] {args.entries:,} entries, {args.organisations} organisations, "
                    f"{args.reminders:,} reminders ({args.due:,} due) …",
                    flush=True,
                )
                seeded = seed(engine, args, started)
                print("[sweep] timing due_reminder_ids and one claim …", flush=True)
                sweep = measure_sweep(engine, args.due, profile=args.profile)
                try:
                    web, _ = run_web(database_url, data_dir, seeded, args)
                    worker = run_worker(engine, database_url, data_dir, args.due, args)
                    if args.profile:
                        profile_pages(database_url, data_dir)
                finally:
                    report(args, settings, seeded, sweep, web, worker, load_at_start)
            finally:
                engine.dispose()
    except KeyboardInterrupt:
        print("interrupted; stopping every process started here", file=sys.stderr)
        status = 130
    except OperationalError as error:
        print(f"PostgreSQL not reachable: {error}", file=sys.stderr)
        status = 1
    finally:
        for process in list(_children):
            stop_process(process)
    return status


if __name__ == "__main__":
    raise SystemExit(main())

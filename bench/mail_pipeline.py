"""E-mails per second through the whole pipeline, beside a bare Celery no-op task drain.

    .venv/bin/python bench/mail_pipeline.py [--reminders 10000] [--noop 5000]
        [--batch-size 200 [500 …]] [--db sqlite|postgres|both] [--with-receipts]
        [--breakdown 2000] [--profile] [--timeout 600] [--stall 90] [--loglevel INFO]
        [--redis-url redis://127.0.0.1:6379/14]

Pipeline: ~10,000 deadline reminders are planned through the service layer (834 city-run entries
notified on 2 April 2024 get 12 reminders each for the 2024 cycle; every one is due by now), then
a real `celery -A tasks.app worker --beat --concurrency 2` on a real Redis sweeps them into the
outbox, renders them and delivers them over SMTP to an aiosmtpd sink running in its own process
(so it takes no GIL from anyone), which counts what arrives by Message-ID. The two e-mails each
entry's creation queues (receipt, agenda request) are deleted before the worker starts, unless
--with-receipts. Reported: messages/s from the first to the last message received at the sink,
and end to end from the worker's spawn.

Baseline, same run, same Redis: N no-op tasks (bench/noop_app.py, configured like tasks/app.py)
are published, then a `celery worker --concurrency 2` is started and timed from the first task
taken until the queue and the broker's unacked set are both empty; measured before and after
the pipeline runs, the mean is the baseline. Goal: messages/s ≥ no-op tasks/s (ratio ≥ 1.0).
Both workers log at --loglevel (INFO, as docker-compose and `kvalitet worker` run them; a
no-op worker drains ~15 % faster at WARNING, since it writes two lines per task at INFO).
The CPU time of the worker's process group, of the sink and of Redis is reported too: on a
machine shared with other work it is steadier than the rates.

Breakdown (in-process, no Celery): the same reminders delivered by direct calls of
`workflow.outbox.deliver_outbox_batch` against a fresh sink process, with the time spent
rendering, in the SMTP send, in the per-message "sent" commit and in the claim split out; beside
the rates of each part alone: rendering, the SMTP sink with a pre-rendered message (serialised
each time, and as bytes), bare single-row UPDATE + COMMITs. --profile adds a cProfile of it.

SQLite: a fresh file in a temporary directory. PostgreSQL: a scratch database `kv_mail_<pid>`
created through BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
and dropped after. Redis: the database of --redis-url is flushed before and after each run.
Every process started here is stopped on exit, also on Ctrl-C or SIGTERM; a run is abandoned
after --timeout seconds, or --stall seconds without a message arriving.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import math
import multiprocessing
import os
import platform
import pstats
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
import redis
from _support import free_port, scratch_database
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from workflow import outbox as outbox_module
from workflow import services
from workflow.db import make_engine, transaction, upgrade_schema
from workflow.emails import message_id_for, render_email, render_outgoing
from workflow.models import OutboxMessage, Reminder
from workflow.outbox import channels, relay
from workflow.outbox.transports import SmtpTransport
from workflow.reminders import sweep_due_reminders
from workflow.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
YEAR = 2024
NOW = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)  # notified early: all twelve reminders planned
REMINDERS_PER_ENTRY = 12
GOAL = 1.0
DOMAIN = Settings().message_id_domain
NOOP_QUEUE = "bench_noop"
LOAD_AT_START = os.getloadavg()  # other work on the machine shows in every figure
LOGLEVEL = ["INFO"]  # both workers, as production runs them (docker-compose, `kvalitet worker`)


# --- processes: every one registered, every one stopped ---------------------------------------

_children: list[subprocess.Popen[bytes]] = []


def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: every finally below runs


class Worker:
    """`celery worker` as a subprocess in its own process group (pool children included)."""

    def __init__(self, app: str, env: dict[str, str], log: Path, *, beat: bool, queue: str = ""):
        self.app, self.env, self.log, self.beat, self.queue = app, env, log, beat, queue
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned = 0.0  # time.monotonic()
        self.spawned_wall = 0.0  # time.time() at the same moment

    def start(self) -> Worker:
        argv = [
            sys.executable, "-m", "celery", "-A", self.app, "worker",
            "--concurrency", "2", "--pool", "prefork", "--loglevel", LOGLEVEL[0],
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"bench{time.monotonic_ns()}@%h",
        ]  # fmt: skip
        if self.queue:
            argv += ["-Q", self.queue]
        if self.beat:
            argv += ["--beat", "--schedule", str(self.log.with_suffix(".beat"))]
        with self.log.open("ab") as out:
            self.spawned, self.spawned_wall = time.monotonic(), time.time()
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _children.append(self.process)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process in the worker's group (main, pool, beat)."""
        return group_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def stop(self) -> None:
        stop_process(self.process)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process group (warm shutdown), SIGKILL it if it lingers."""
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
        os.killpg(process.pid, signal.SIGKILL)  # pool children a dead parent left behind
    if process in _children:
        _children.remove(process)


def group_cpu_seconds(pgid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after "(comm)": state ppid pgrp … utime is field 14 of stat, stime 15
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


# --- the SMTP sink, in its own process --------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


class _CountingHandler:
    """aiosmtpd handler: accept everything, count by Message-ID, note first and last arrival."""

    def __init__(self, shared: Any) -> None:
        self.shared = shared  # RawArray('d', 4): received, unique, first, last (monotonic)
        self.seen: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        found = _MESSAGE_ID.search(content)  # the leftmost one is the header's
        message_id = found.group(1).decode("ascii", "replace") if found else "(none)"
        now = time.monotonic()
        self.seen[message_id] += 1
        shared = self.shared
        if shared[0] == 0:
            shared[2] = now
        shared[3] = now
        shared[1] = len(self.seen)
        shared[0] += 1
        return "250 2.0.0 OK"


def _sink_main(port: int, shared: Any, ready: Any, stop: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the sink
    from aiosmtpd.controller import Controller

    handler = _CountingHandler(shared)
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=30)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    results.send((dict(handler.seen), time.process_time()))
    results.close()


class SinkProcess:
    """An aiosmtpd server on loopback in a separate process; counters in shared memory."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.shared = context.RawArray("d", 4)
        self._ready = context.Event()
        self._stop = context.Event()
        self._results, child_end = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_sink_main,
            args=(self.port, self.shared, self._ready, self._stop, child_end),
            daemon=True,
        )
        self.seen: Counter[str] = Counter()
        self.cpu_seconds = 0.0

    def start(self) -> SinkProcess:
        self.process.start()
        if not self._ready.wait(timeout=60):
            self.stop()
            raise RuntimeError("the SMTP sink did not start")
        return self

    @property
    def received(self) -> int:
        return int(self.shared[0])

    @property
    def unique(self) -> int:
        return int(self.shared[1])

    @property
    def first(self) -> float:
        return float(self.shared[2])

    @property
    def last(self) -> float:
        return float(self.shared[3])

    def stop(self) -> None:
        if self.process.pid is None:
            return
        if self.process.is_alive():
            self._stop.set()
            if self._results.poll(30):
                seen, self.cpu_seconds = self._results.recv()
                self.seen = Counter(seen)
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)


# --- databases and Redis ----------------------------------------------------------------------


def flush_redis(url: str) -> None:
    redis.Redis.from_url(url).flushdb()


def redis_cpu_seconds(url: str) -> float:
    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def column(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text(sql))]


# --- planning ---------------------------------------------------------------------------------


def plan(engine: Engine, entries: int) -> None:
    """One 2024 cycle and `entries` eligible city-run units, each with a notified entry
    (as tests/conftest.py seeds them): 12 reminders and 2 outbox e-mails per entry."""
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
                services.create_entry(
                    session,
                    unit_id=unit.id,
                    year=YEAR,
                    award_class="socialtjanst",
                    actor="bench",
                    now=NOW,
                )


# --- baseline: a bare Celery worker draining no-op tasks ---------------------------------------


@dataclass
class NoopRun:
    tasks: int
    first_taken: float  # seconds after the worker's spawn
    drained: float
    worker_cpu: float

    @property
    def rate(self) -> float:
        span = self.drained - self.first_taken
        return self.tasks / span if span > 0 else 0.0


def noop_drain(redis_url: str, count: int, directory: Path, timeout: float) -> NoopRun:
    sys.path.insert(0, str(BENCH))
    try:
        import noop_app
    finally:
        sys.path.remove(str(BENCH))
    flush_redis(redis_url)
    noop_app.app.conf.broker_url = redis_url
    client = redis.Redis.from_url(redis_url)
    with noop_app.app.producer_or_acquire() as producer:
        for _ in range(count):
            noop_app.noop.apply_async(producer=producer)
    queued = int(client.llen(NOOP_QUEUE))
    if queued != count:
        raise RuntimeError(f"published {count} no-op tasks, the queue holds {queued}")
    env = {**os.environ, "BENCH_BROKER_URL": redis_url, "PYTHONPATH": str(BENCH)}
    worker = Worker("noop_app", env, directory / "noop_worker.log", beat=False, queue=NOOP_QUEUE)
    print(f"[baseline] draining {count} no-op tasks …", flush=True)
    worker.start()
    first_taken = drained = empty_since = 0.0
    try:
        while True:
            if time.monotonic() > worker.spawned + timeout:
                raise TimeoutError(f"no-op drain unfinished after {timeout:.0f} s")
            if not worker.alive():
                raise RuntimeError(f"the no-op worker died:\n{worker.log_tail()}")
            with client.pipeline(transaction=False) as pipe:
                waiting, unacked = pipe.llen(NOOP_QUEUE).hlen("unacked").execute()
            now = time.monotonic()
            if not first_taken and waiting < count:
                first_taken = now
            if waiting == 0 and unacked == 0:
                # Twice in a row, so a message between BRPOP and its unacked entry is not missed.
                if empty_since:
                    drained = empty_since
                    break
                empty_since = now
            else:
                empty_since = 0.0
            time.sleep(0.005)
        cpu = worker.cpu_seconds()
    finally:
        worker.stop()
        flush_redis(redis_url)
    return NoopRun(count, first_taken - worker.spawned, drained - worker.spawned, cpu)


# --- the pipeline ----------------------------------------------------------------------------


@dataclass
class PipelineRun:
    database: str
    batch_size: int
    entries: int
    reminders: int
    receipts: int
    expected: int
    plan_seconds: float
    # seconds after the worker's spawn
    first_received: float = 0.0
    last_received: float = 0.0
    swept_first: float = 0.0  # first and last reminder turned into an outbox row (queued_at)
    swept_last: float = 0.0
    received: int = 0
    lost: int = 0
    unexpected: int = 0
    duplicates: int = 0
    not_done: int = 0  # outbox rows not 'sent' + reminders still 'pending', after the run
    worker_cpu: float = 0.0
    sink_cpu: float = 0.0
    redis_cpu: float = 0.0
    aborted: str = ""

    @property
    def rate(self) -> float:
        span = self.last_received - self.first_received
        return (self.received - 1) / span if span > 0 else 0.0

    @property
    def end_to_end_rate(self) -> float:
        return self.received / self.last_received if self.last_received else 0.0


def run_pipeline(
    kind: str,
    *,
    reminders: int,
    batch_size: int,
    with_receipts: bool,
    redis_url: str,
    directory: Path,
    timeout: float,
    stall: float,
) -> PipelineRun:
    entries = math.ceil(reminders / REMINDERS_PER_ENTRY)
    with scratch_database(kind, directory, "kv_mail") as url:
        engine = make_engine(url)
        try:
            upgrade_schema(engine)
            print(f"[{kind}, batch {batch_size}] planning {entries} entries …", flush=True)
            started = time.perf_counter()
            plan(engine, entries)
            plan_seconds = time.perf_counter() - started
            planned = column(engine, "SELECT key FROM reminder WHERE status = 'pending'")
            receipts = column(engine, "SELECT key FROM outbox_message")
            if not with_receipts:
                with engine.begin() as connection:
                    connection.execute(text("DELETE FROM outbox_message"))
                receipts = []
            expected = {message_id_for(key, DOMAIN) for key in [*planned, *receipts]}
        finally:
            engine.dispose()  # the bench holds no connection while the worker runs
        run = PipelineRun(
            kind, batch_size, entries, len(planned), len(receipts), len(expected), plan_seconds
        )
        spawned_wall = _deliver_through_worker(
            run, url, expected, redis_url, directory, timeout, stall
        )
        engine = make_engine(url)
        try:
            run.not_done = int(
                scalar(engine, "SELECT count(*) FROM outbox_message WHERE status <> 'sent'")
            ) + int(scalar(engine, "SELECT count(*) FROM reminder WHERE status = 'pending'"))
            with Session(engine) as session:
                queued = [
                    at.timestamp()
                    for at in session.exec(select(Reminder.queued_at)).all()
                    if at is not None
                ]
            if queued:
                run.swept_first = min(queued) - spawned_wall
                run.swept_last = max(queued) - spawned_wall
        finally:
            engine.dispose()
        return run


def _deliver_through_worker(
    run: PipelineRun,
    url: str,
    expected: set[str],
    redis_url: str,
    directory: Path,
    timeout: float,
    stall: float,
) -> float:
    """Start the worker, wait until the sink has every expected message; the spawn time."""
    flush_redis(redis_url)
    sink = SinkProcess().start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": redis_url,
        "KVALITET_DATA_DIR": str(directory / "data"),
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "SMTP_TIMEOUT_SECONDS": "30",
        "REMINDER_SWEEP_SECONDS": "1",
        "OUTBOX_SWEEP_SECONDS": "1",
        "OUTBOX_BATCH_SIZE": str(run.batch_size),
        "PYTHONPATH": str(ROOT),
    }
    log = directory / f"worker_{run.database}_{run.batch_size}.log"
    redis_cpu = redis_cpu_seconds(redis_url)
    worker = Worker("tasks.app", env, log, beat=True)
    print(f"[{run.database}, batch {run.batch_size}] delivering {len(expected)} …", flush=True)
    worker.start()
    try:
        progress, progress_at = 0, time.monotonic()
        while sink.unique < len(expected):
            now = time.monotonic()
            if now > worker.spawned + timeout:
                run.aborted = f"timeout after {timeout:.0f} s"
                break
            if not worker.alive():
                run.aborted = "worker died"
                break
            if sink.received != progress:
                progress, progress_at = sink.received, now
            elif now - progress_at > stall:
                run.aborted = f"no message for {stall:.0f} s"
                break
            time.sleep(0.02)
        if not run.aborted:
            _wait_all_sent(url, deadline=time.monotonic() + 30)
        run.worker_cpu = worker.cpu_seconds()
        run.redis_cpu = redis_cpu_seconds(redis_url) - redis_cpu
    finally:
        worker.stop()
        sink.stop()
        flush_redis(redis_url)
    if run.aborted:
        print(f"[{run.database}] aborted ({run.aborted}); worker log:\n{worker.log_tail()}")
    if sink.received:
        run.first_received = sink.first - worker.spawned
        run.last_received = sink.last - worker.spawned
    run.received = sink.received
    run.sink_cpu = sink.cpu_seconds
    run.lost = len(expected - set(sink.seen))
    run.unexpected = len(set(sink.seen) - expected)
    run.duplicates = sum(n - 1 for n in sink.seen.values() if n > 1)
    return worker.spawned_wall


def _wait_all_sent(url: str, deadline: float) -> None:
    """The sink has everything; the worker's last "sent" commits follow within moments."""
    engine = make_engine(url)
    try:
        while time.monotonic() < deadline:
            if not scalar(engine, "SELECT count(*) FROM outbox_message WHERE status <> 'sent'"):
                return
            time.sleep(0.1)
    finally:
        engine.dispose()


# --- in-process breakdown ---------------------------------------------------------------------


@dataclass
class Breakdown:
    database: str
    batch_size: int
    messages: int = 0
    elapsed: float = 0.0
    claim: float = 0.0  # release stale + claim + load, up to each batch's first render
    render: float = 0.0
    jinja: float = 0.0  # of render: jinja2 Template.render (subject, text, HTML)
    connect: float = 0.0
    send: float = 0.0
    wire: float = 0.0  # of send: smtplib sendmail (MAIL, RCPT, DATA, the sink's replies)
    record: float = 0.0  # _record_sent: one UPDATE + COMMIT per message
    sweep_rate: float = 0.0  # reminders → outbox rows, in-process
    render_only_rate: float = 0.0
    render_message_rate: float = 0.0  # render_email + as_bytes: the email package's way
    smtp_message_rate: float = 0.0  # send_message(EmailMessage): serialise + SMTP
    smtp_bytes_rate: float = 0.0  # sendmail(bytes): SMTP and the sink alone
    commit_only_rate: float = 0.0
    message_bytes: int = 0
    sink_cpu: float = 0.0
    sink_messages: int = 0
    profile: str | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed if self.elapsed else 0.0

    def per_message_ms(self, seconds: float) -> float:
        return 1000 * seconds / self.messages if self.messages else 0.0


class _TimedSmtp(SmtpTransport):
    """The real SMTP transport, timing its connection set-up and each send."""

    def __init__(self, settings: Settings, timing: Breakdown) -> None:
        super().__init__(settings)
        self.timing = timing

    def __enter__(self) -> _TimedSmtp:
        t0 = time.perf_counter()
        super().__enter__()
        self.timing.connect += time.perf_counter() - t0
        return self

    def send(self, message: Any) -> None:
        t0 = time.perf_counter()
        super().send(message)
        self.timing.send += time.perf_counter() - t0


@contextmanager
def _instrumented(result: Breakdown) -> Iterator[list[float]]:
    """Wrap `render_outgoing` and `_record_sent` as the outbox's channels and relay call them,
    and Jinja's Template.render and smtplib's sendmail inside them. Yields a one-item list:
    set it to the batch's start; the first render after it closes the batch's claim."""
    render = channels.render_outgoing
    record = relay._record_sent
    template_render, sendmail = jinja2.Template.render, smtplib.SMTP.sendmail
    batch_started = [0.0]

    def timed_template(self: Any, *args: Any, **kwargs: Any) -> str:
        t0 = time.perf_counter()
        try:
            return template_render(self, *args, **kwargs)
        finally:
            result.jinja += time.perf_counter() - t0

    def timed_sendmail(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return sendmail(self, *args, **kwargs)
        finally:
            result.wire += time.perf_counter() - t0

    def timed_render(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        if batch_started[0]:
            result.claim += t0 - batch_started[0]
            batch_started[0] = 0.0
        try:
            return render(*args, **kwargs)
        finally:
            result.render += time.perf_counter() - t0

    def timed_record(*args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        try:
            record(*args, **kwargs)
        finally:
            result.record += time.perf_counter() - t0

    channels.render_outgoing = timed_render
    relay._record_sent = timed_record
    jinja2.Template.render = timed_template  # type: ignore[method-assign]
    smtplib.SMTP.sendmail = timed_sendmail  # type: ignore[method-assign]
    try:
        yield batch_started
    finally:
        channels.render_outgoing = render
        relay._record_sent = record
        jinja2.Template.render = template_render  # type: ignore[method-assign]
        smtplib.SMTP.sendmail = sendmail  # type: ignore[method-assign]


def breakdown(
    kind: str, *, messages: int, batch_size: int, directory: Path, profile: bool
) -> Breakdown:
    result = Breakdown(kind, batch_size)
    entries = math.ceil(messages / REMINDERS_PER_ENTRY)
    with scratch_database(kind, directory, "kv_mail") as url:
        engine = make_engine(url)
        sink = SinkProcess().start()
        try:
            upgrade_schema(engine)
            print(f"[{kind}] breakdown: planning {entries} entries, sweeping …", flush=True)
            plan(engine, entries)
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM outbox_message"))
            now = datetime.now(UTC)
            started = time.perf_counter()
            swept = 0
            while True:
                with transaction(engine) as session:
                    batch = sweep_due_reminders(session, now=now)
                if not batch:
                    break
                swept += batch
            result.sweep_rate = swept / (time.perf_counter() - started)
            settings = Settings(
                database_url=url,
                mail_transport="smtp",
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
                outbox_batch_size=batch_size,
            )
            print(f"[{kind}] breakdown: delivering {swept} in-process …", flush=True)
            profiler = cProfile.Profile() if profile else None
            with _instrumented(result) as batch_started:
                started = time.perf_counter()
                while True:
                    batch_started[0] = time.perf_counter()
                    if profiler is not None:
                        profiler.enable()
                    report = outbox_module.deliver_outbox_batch(
                        engine,
                        transport=_TimedSmtp(settings, result),
                        settings=settings,
                        worker="bench",
                        limit=batch_size,
                    )
                    if profiler is not None:
                        profiler.disable()
                    if report.errors or report.failed or report.retrying:
                        raise RuntimeError(f"in-process delivery failed: {report}")
                    result.messages += report.sent
                    if report.claimed == 0:
                        break
                result.elapsed = time.perf_counter() - started
            if profiler is not None:
                stream = io.StringIO()
                stats = pstats.Stats(profiler, stream=stream)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(30)
                result.profile = stream.getvalue()
            _isolated_rates(engine, settings, result, count=min(swept, 2000))
        finally:
            sink.stop()
            engine.dispose()
        result.sink_cpu = sink.cpu_seconds
        result.sink_messages = sum(sink.seen.values())
    return result


def _isolated_rates(engine: Engine, settings: Settings, result: Breakdown, count: int) -> None:
    """Each part of a delivery alone, `count` times: render, SMTP, UPDATE + COMMIT."""
    with Session(engine) as session:
        rows = list(session.exec(select(OutboxMessage).limit(count)).all())

    def render_all(render: Any) -> list[Any]:
        return [
            render(
                m.kind,
                to=m.recipient,
                context=m.payload,
                key=m.key,
                date=m.created_at,
                settings=settings,
            )
            for m in rows
        ]

    t0 = time.perf_counter()
    outgoing = render_all(render_outgoing)
    result.render_only_rate = len(rows) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    emails = render_all(render_email)
    for email in emails:
        email.as_bytes()
    result.render_message_rate = len(rows) / (time.perf_counter() - t0)
    raw = outgoing[0].data
    result.message_bytes = len(raw)
    sender, recipient = outgoing[0].sender, outgoing[0].recipient
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        t0 = time.perf_counter()
        for email in emails:
            smtp.send_message(email)
        result.smtp_message_rate = len(emails) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(count):
            smtp.sendmail(sender, [recipient], raw)
        result.smtp_bytes_rate = count / (time.perf_counter() - t0)
    ids = [m.id for m in rows]
    statement = text("UPDATE outbox_message SET last_error = NULL WHERE id = :id")
    t0 = time.perf_counter()
    for row_id in ids:
        with engine.begin() as connection:
            connection.execute(statement, {"id": row_id})
    result.commit_only_rate = len(ids) / (time.perf_counter() - t0)


# --- report ----------------------------------------------------------------------------------


def report(
    noops: list[NoopRun], runs: list[PipelineRun], breakdowns: list[Breakdown], reminders: int
) -> bool:
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    baseline = sum(n.rate for n in noops) / len(noops) if noops else 0.0
    print()
    print(
        f"This machine has {cores} cores ({usable} usable); Python {platform.python_version()}; "
        "Redis, worker (prefork 2 + beat) and SMTP sink all on it, over loopback."
    )
    print(
        f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"(at the start: {' '.join(f'{x:.2f}' for x in LOAD_AT_START)})"
    )
    print()
    print("Baseline: bare Celery + Redis worker, 2 processes, no-op task (bench/noop_app.py)")
    for label, n in zip(("before", "after", "again"), noops, strict=False):
        print(
            f"  {label:<6} {n.tasks} tasks: {n.rate:6.0f} tasks/s  (first taken "
            f"{n.first_taken:.1f} s after spawn, drained at {n.drained:.1f} s; "
            f"worker CPU {n.worker_cpu:.1f} s)"
        )
    print(f"  mean   {baseline:6.0f} no-op tasks/s")
    print()
    header = (
        f"{'database':<9} {'batch':>5} {'e-mails':>7} {'plan s':>6} {'sweep s':>11} "
        f"{'first→last s':>13} {'msgs/s':>7} {'e2e/s':>6} {'ratio':>6}  goal ≥ {GOAL:.1f}  "
        f"{'lost':>4} {'dup':>4} {'undone':>6}"
    )
    print(header)
    print("-" * len(header))
    met = bool(runs)
    for r in runs:
        ratio = r.rate / baseline if baseline else 0.0
        ok = ratio >= GOAL and not r.aborted and r.lost == 0
        met = met and ok
        sweep = f"{r.swept_first:.1f}–{r.swept_last:.1f}" if r.swept_last else "-"
        span = f"{r.first_received:.1f}–{r.last_received:.1f}"
        print(
            f"{r.database:<9} {r.batch_size:>5} {r.received:>7} {r.plan_seconds:>6.1f} "
            f"{sweep:>11} {span:>13} {r.rate:>7.0f} {r.end_to_end_rate:>6.0f} {ratio:>6.2f}  "
            f"{'yes' if ok else 'no':<10}  {r.lost:>4} {r.duplicates:>4} {r.not_done:>6}"
            + (f"  ABORTED: {r.aborted}" if r.aborted else "")
        )
    print()
    if runs:
        first = runs[0]
        receipts = f" + {first.receipts} creation e-mails" if first.receipts else ""
        print(
            f"  e-mails: received at the sink; expected {first.reminders} reminders{receipts} "
            f"(asked for {reminders}: whole entries of 12). plan s: planning through the "
            "service layer, outside the rates."
        )
        print(
            "  sweep s, first→last s: seconds after the worker's spawn. msgs/s = (received − 1)"
            " / (last − first); e2e/s = received / (spawn → last); undone: outbox rows not sent"
            " + reminders still pending afterwards."
        )
    for r in runs:
        wall = r.last_received or 1.0
        print(
            f"  CPU {r.database}, batch {r.batch_size}: worker {r.worker_cpu:.1f} s, "
            f"sink {r.sink_cpu:.1f} s, Redis {r.redis_cpu:.1f} s in {wall:.1f} s wall "
            f"= {(r.worker_cpu + r.sink_cpu + r.redis_cpu) / wall:.2f} cores busy; "
            f"worker {1000 * r.worker_cpu / max(r.received, 1):.2f} ms CPU per e-mail"
        )
    if noops:
        per_task = sum(n.worker_cpu / n.tasks for n in noops) / len(noops)
        print(f"  CPU baseline: worker {1000 * per_task:.2f} ms CPU per no-op task")
    for b in breakdowns:
        print()
        print(
            f"In-process delivery ({b.database}, batch {b.batch_size}, one process, no Celery): "
            f"{b.messages} e-mails in {b.elapsed:.2f} s = {b.rate:.0f} e-mails/s"
        )
        other = b.elapsed - b.claim - b.render - b.connect - b.send - b.record
        for label, seconds in (
            ("render_outgoing, all", b.render),
            ("  of which Jinja (subject, text, HTML)", b.jinja),
            ("  of which the rest (headers, QP, MIME bytes)", b.render - b.jinja),
            ("SMTP send, all", b.send),
            ("  of which sendmail (MAIL/RCPT/DATA, replies)", b.wire),
            ("_record_sent (UPDATE + COMMIT per message)", b.record),
            ("claim + load (release stale, claim, SELECT)", b.claim),
            ("SMTP connect + QUIT", b.connect),
            ("other (loop, ORM, exceptions)", other),
        ):
            share = 100 * seconds / b.elapsed if b.elapsed else 0.0
            print(f"  {label:<48} {b.per_message_ms(seconds):7.3f} ms/e-mail  {share:5.1f} %")
        print(
            f"  alone: render_outgoing {b.render_only_rate:.0f}/s (render_email + as_bytes "
            f"{b.render_message_rate:.0f}/s); SMTP send_message "
            f"{b.smtp_message_rate:.0f}/s; SMTP sendmail(bytes) {b.smtp_bytes_rate:.0f}/s "
            f"({b.message_bytes} bytes each); UPDATE+COMMIT {b.commit_only_rate:.0f}/s; "
            f"sweep (reminders → outbox rows) {b.sweep_rate:.0f}/s"
        )
        if b.sink_messages:
            print(
                f"  sink CPU: {b.sink_cpu:.2f} s for {b.sink_messages} messages = "
                f"{1000 * b.sink_cpu / b.sink_messages:.3f} ms per message"
            )
        if b.profile:
            print()
            print(f"=== cProfile, in-process delivery on {b.database} ===")
            print(b.profile)
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--noop", type=int, default=5_000, help="no-op tasks in the baseline")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[200])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--with-receipts", action="store_true", help="keep creation e-mails")
    parser.add_argument(
        "--breakdown", type=int, default=2000, help="e-mails in the in-process breakdown (0: off)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the breakdown")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per worker run")
    parser.add_argument(
        "--stall", type=float, default=90, help="abort a run after this long without a message"
    )
    parser.add_argument(
        "--loglevel", default="INFO", help="of both workers (INFO: as production runs them)"
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _terminate)
    LOGLEVEL[0] = args.loglevel
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    noops: list[NoopRun] = []
    runs: list[PipelineRun] = []
    breakdowns: list[Breakdown] = []
    status = 0
    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        print(f"Redis not reachable at {args.redis_url}: {error}", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="kv_mail_") as tmp:
            directory = Path(tmp)
            noops.append(noop_drain(args.redis_url, args.noop, directory, args.timeout))
            for kind in databases:
                try:
                    for size in args.batch_size:
                        runs.append(
                            run_pipeline(
                                kind,
                                reminders=args.reminders,
                                batch_size=size,
                                with_receipts=args.with_receipts,
                                redis_url=args.redis_url,
                                directory=directory,
                                timeout=args.timeout,
                                stall=args.stall,
                            )
                        )
                    if args.breakdown:
                        breakdowns.append(
                            breakdown(
                                kind,
                                messages=args.breakdown,
                                batch_size=args.batch_size[0],
                                directory=directory,
                                profile=args.profile,
                            )
                        )
                except OperationalError as error:
                    print(f"[{kind}] skipped, database not reachable: {error}", file=sys.stderr)
                    status = 1
            noops.append(noop_drain(args.redis_url, args.noop, directory, args.timeout))
    except KeyboardInterrupt:
        print("interrupted; stopping every process started here", file=sys.stderr)
        status = 130
    finally:
        for process in list(_children):
            stop_process(process)
    if noops or runs:
        met = report(noops, runs, breakdowns, args.reminders)
        print()
        print(f"Goal (messages/s ≥ {GOAL:.1f} × no-op tasks/s) met: {'yes' if met else 'no'}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

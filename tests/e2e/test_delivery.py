"""E-mail delivery under faults: real Redis, real `celery worker` processes, a real SMTP server.

Every test counts at the SMTP server by Message-ID: lost = expected ids never received;
duplicates = ids received more than once. A SIGKILL between the server's 250 and the commit
that marks the row sent cannot be prevented by any sender (`../shared/RELIABILITY.md`); such
a message is recorded as interrupted, and a duplicate is only ever allowed for those, and
counted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW, seed_cycle, seed_unit, service_unavailable
from tests.e2e.support import (  # noqa: F401  (redis_url is a fixture)
    SmtpSink,
    Worker,
    free_port,
    redis_url,
    wait_until,
    worker_env,
)
from workflow import services
from workflow.db import make_engine, transaction, upgrade_schema
from workflow.emails import message_id_for
from workflow.models import OutboxMessage, Reminder
from workflow.settings import Settings

SEEDED_AT = NOW  # 2 April 2024: every reminder of the 2024 cycle is planned, and due today
DOMAIN = Settings().message_id_domain


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def seed_entries(engine: Engine, count: int) -> None:
    """`count` notified entries, each with its twelve reminders, all due by now (2024)."""
    seed_cycle(engine)
    for number in range(count):
        unit_id = seed_unit(engine, name=f"Enhet {number:04d}")
        with transaction(engine) as session:
            services.create_entry(
                session,
                unit_id=unit_id,
                year=2024,
                award_class="socialtjanst",
                actor="test",
                now=SEEDED_AT,
            )


def expected_ids(engine: Engine) -> set[str]:
    """Message-IDs of everything that must arrive: the outbox plus every planned reminder."""
    with transaction(engine) as session:
        keys = {m.key for m in session.exec(select(OutboxMessage)).all()}
        keys |= {r.key for r in session.exec(select(Reminder)).all() if r.status != "cancelled"}
    return {message_id_for(key, DOMAIN) for key in keys}


def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


def all_sent(engine: Engine, expected: int) -> bool:
    rows = outbox_rows(engine)
    return len(rows) == expected and all(m.status == "sent" for m in rows)


def assert_exactly_once(engine: Engine, sink: SmtpSink, expected: set[str]) -> dict[str, int]:
    """0 lost; no defects; duplicates only among interrupted sends. Returns the duplicates."""
    received = sink.ids()
    assert expected - set(received) == set(), "lost messages"
    assert set(received) - expected == set(), "unexpected messages"
    assert sink.defects == []
    duplicates = sink.duplicates()
    interrupted = {
        message_id_for(m.key, DOMAIN) for m in outbox_rows(engine) if m.interrupted_attempts
    }
    assert set(duplicates) <= interrupted, "a duplicate that no crash explains"
    assert all(n == 2 for n in duplicates.values())
    return duplicates


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def test_worker_killed_five_times_loses_nothing(
    engine: Engine, database_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """1,000+ due reminders; the worker is SIGKILLed 5 times during delivery and restarted:
    every message arrives, none twice except where a kill fell after the server's 250."""
    # 84 × 12 reminders, 84 receipts, and the organisation's one agenda request for the year
    seed_entries(engine, 84)
    expected = expected_ids(engine)
    assert len(expected) >= 1000 + 84 + 1
    env = worker_env(database_url, redis_url, sink.port, tmp_path)
    worker = Worker(env, tmp_path / "worker.log").start()
    kills = 0
    try:
        for fraction in (0.1, 0.25, 0.4, 0.55, 0.7):
            reached = wait_until(
                lambda f=fraction: len(sink.ids()) >= f * len(expected), timeout=120, interval=0.02
            )
            assert reached, (tmp_path / "worker.log").read_text()[-3000:]
            worker.kill()
            kills += 1
            worker = Worker(env, tmp_path / "worker.log").start()
        assert wait_until(lambda: expected <= set(sink.ids()), timeout=240), "not all delivered"
        assert wait_until(lambda: all_sent(engine, len(expected)), timeout=60)
    finally:
        worker.stop()
    duplicates = assert_exactly_once(engine, sink, expected)
    interrupted = sum(m.interrupted_attempts for m in outbox_rows(engine))
    print(
        f"\n{len(expected)} messages, {kills} kills: 0 lost, {len(duplicates)} duplicates at the "
        f"SMTP server, {interrupted} interrupted sends"
    )
    assert kills == 5
    # At most one message in flight per connection (2 pool processes × 2 each) at each kill.
    assert interrupted <= kills * 2 * Settings().outbox_connections


def test_one_worker_process_keeps_two_smtp_connections_busy_at_once(
    sqlite_engine: Engine, sqlite_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """A connection mostly waits for the server's replies, so each outbox task keeps
    OUTBOX_CONNECTIONS of them sending at the same time; still each message arrives once."""
    seed_entries(sqlite_engine, 30)
    expected = expected_ids(sqlite_engine)
    env = worker_env(sqlite_url, redis_url, sink.port, tmp_path) | {"OUTBOX_CONNECTIONS": "2"}
    worker = Worker(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        assert wait_until(lambda: all_sent(sqlite_engine, len(expected)), timeout=120)
    finally:
        worker.stop()
    assert set(sink.ids()) == expected
    assert sink.duplicates() == {}
    spans = sorted(sink.connection_spans.values())
    overlapping = any(
        later_first < earlier_last for (_, earlier_last), (later_first, _) in pairwise(spans)
    )
    assert overlapping, f"the connections took turns: {spans}"


def test_smtp_outage_then_refusals_deliver_everything_once(
    sqlite_engine: Engine, sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    """With the SMTP server down, the errors are recorded but no message loses an attempt (none
    was offered); when it returns and first answers 421, everything is delivered exactly once,
    nothing dead-lettered."""
    seed_entries(sqlite_engine, 10)
    expected = expected_ids(sqlite_engine)
    port = free_port()
    env = worker_env(sqlite_url, redis_url, port, tmp_path)
    worker = Worker(env, tmp_path / "worker.log").start()
    sink = SmtpSink(port)
    try:
        assert wait_until(
            lambda: sum(bool(m.last_error) for m in outbox_rows(sqlite_engine)) >= 10,
            timeout=60,
        ), (tmp_path / "worker.log").read_text()[-3000:]
        time.sleep(3)  # a few more tries of the relay against the closed port
        assert all(m.attempts == 0 for m in outbox_rows(sqlite_engine))
        sink.refuse_next(5, "421 4.3.2 Servern stänger, försök senare")
        sink.start()
        assert wait_until(lambda: all_sent(sqlite_engine, len(expected)), timeout=120)
    finally:
        worker.stop()
        sink.stop()
    assert sink.refused == 5
    assert sink.duplicates() == {}
    assert set(sink.ids()) == expected
    assert max(m.attempts for m in outbox_rows(sqlite_engine)) >= 2


def test_permanent_refusal_is_dead_lettered_and_can_be_retried(
    sqlite_engine: Engine, sqlite_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """A 550 leaves the message failed with the server's reason; `outbox retry` sends it."""
    seed_cycle(sqlite_engine)
    unit_id = seed_unit(sqlite_engine, privately_run=True)  # no agenda request
    sink.refuse_next(1, "550 5.1.1 Mottagaren finns inte")
    env = worker_env(sqlite_url, redis_url, sink.port, tmp_path)
    with transaction(sqlite_engine) as session:
        entry = services.create_entry(
            session, unit_id=unit_id, year=2024, award_class="skola", actor="t", now=SEEDED_AT
        )
        services.withdraw_entry(
            session, entry_id=entry.id or 0, version=1, actor="t", now=SEEDED_AT, note="Test"
        )
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        assert wait_until(
            lambda: {m.status for m in outbox_rows(sqlite_engine)} == {"sent", "failed"},
            timeout=60,
        )
        failed = [m for m in outbox_rows(sqlite_engine) if m.status == "failed"]
        assert len(failed) == 1
        assert "550" in (failed[0].last_error or "")
        retry = subprocess.run(
            [sys.executable, "-m", "workflow.entrypoints.cli", "outbox", "retry",
             str(failed[0].id)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert retry.returncode == 0, retry.stderr
        assert wait_until(lambda: all_sent(sqlite_engine, 2), timeout=60)
    finally:
        worker.stop()
    assert sink.duplicates() == {}
    assert len(sink.ids()) == 2


def test_redis_restart_mid_run_loses_and_doubles_nothing(
    sqlite_engine: Engine, sqlite_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """Redis is shut down without saving while transitions keep coming from the CLI: every
    CLI call succeeds, and once Redis is back every e-mail arrives exactly once."""
    port = free_port()
    server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
    try:
        redis_process = subprocess.Popen(server, stdout=subprocess.DEVNULL)
    except FileNotFoundError:
        service_unavailable("redis-server is not installed")
    broker = f"redis://127.0.0.1:{port}/0"
    assert wait_until(lambda: _redis_up(port), timeout=10)
    seed_cycle(sqlite_engine)
    unit_ids = [seed_unit(sqlite_engine, name=f"Enhet {n}") for n in range(12)]
    env = worker_env(sqlite_url, broker, sink.port, tmp_path)
    worker = Worker(env, tmp_path / "worker.log").start()
    cli = [sys.executable, "-m", "workflow.entrypoints.cli"]
    try:
        for number, unit_id in enumerate(unit_ids):
            if number == 4:
                redis.Redis(port=port).shutdown(nosave=True)
                redis_process.wait(timeout=10)
            if number == 8:
                redis_process = subprocess.Popen(server, stdout=subprocess.DEVNULL)
                assert wait_until(lambda: _redis_up(port), timeout=10)
            created = subprocess.run(
                [*cli, "entry", "create", "--unit", str(unit_id), "--year", "2024",
                 "--class", "skola"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert created.returncode == 0, created.stderr
        expected = expected_ids(sqlite_engine)
        assert wait_until(lambda: all_sent(sqlite_engine, len(expected)), timeout=120), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    finally:
        worker.stop()
        redis_process.terminate()
        redis_process.wait(timeout=10)
    assert set(sink.ids()) == expected
    assert sink.duplicates() == {}


def _redis_up(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.exceptions.ConnectionError:
        return False


def test_two_schedulers_and_two_workers_send_each_message_once(
    postgres_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """Two workers, each with its own beat scheduler, on PostgreSQL: no message twice."""
    engine = make_engine(postgres_url)
    upgrade_schema(engine)
    seed_entries(engine, 30)
    expected = expected_ids(engine)
    env = worker_env(postgres_url, redis_url, sink.port, tmp_path)
    workers = [Worker(env, tmp_path / f"worker{n}.log").start() for n in range(2)]
    try:
        assert wait_until(lambda: all_sent(engine, len(expected)), timeout=180)
        time.sleep(3)  # let both schedulers tick again: nothing more may arrive
    finally:
        for worker in workers:
            worker.stop()
        engine.dispose()
    assert set(sink.ids()) == expected
    assert sink.duplicates() == {}
    assert sink.defects == []


def test_a_worker_that_dies_by_itself_is_started_again_and_delivers_everything_once(
    sqlite_engine: Engine, sqlite_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """`kvalitet worker` supervises Celery: when Celery ends on its own (as it does on some
    broker errors), it is started again and the deliveries go on, each message once."""
    seed_entries(sqlite_engine, 20)
    expected = expected_ids(sqlite_engine)
    env = worker_env(sqlite_url, redis_url, sink.port, tmp_path)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        assert wait_until(lambda: len(sink.ids()) >= 10, timeout=60, interval=0.05)
        first = worker.celery_pid()
        psutil.Process(first).kill()  # Celery alone dies; the supervisor lives
        assert wait_until(lambda: _restarted(worker, first), timeout=30)
        assert wait_until(lambda: all_sent(sqlite_engine, len(expected)), timeout=120), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    finally:
        worker.stop()
    assert "starting it again" in (tmp_path / "worker.log").read_text()
    assert_exactly_once(sqlite_engine, sink, expected)


def _restarted(worker: Worker, before: int) -> bool:
    try:
        return worker.celery_pid() != before
    except (AssertionError, psutil.NoSuchProcess):
        return False

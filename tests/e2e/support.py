"""Real peers for end-to-end tests: an aiosmtpd server on loopback and Celery worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from aiosmtpd.controller import Controller

from tests.conftest import service_unavailable

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """An SMTP server that parses every message it accepts and counts them by Message-ID.

    `refuse_next(n, code)` answers the next n DATA commands with a transient error, as a
    server under load or greylisting does.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.defects: list[str] = []
        self.refused = 0
        self._refuse_left = 0
        self._refuse_reply = "451 4.3.0 Försök igen senare"
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        # When each client connection delivered its first and its last message.
        self.connection_spans: dict[Any, tuple[float, float]] = {}
        # Each accepted message's envelope recipients (RCPT TO), by Message-ID.
        self.envelope_recipients: dict[str, list[str]] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._refuse_left > 0:
                self._refuse_left -= 1
                self.refused += 1
                return self._refuse_reply
            raw = envelope.original_content or envelope.content
            message = BytesParser(policy=policy.default).parsebytes(raw)
            for part in message.walk():
                self.defects.extend(f"{message['Message-ID']}: {d!r}" for d in part.defects)
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelope_recipients[str(message["Message-ID"])] = list(envelope.rcpt_tos)
            now = time.monotonic()
            first, _ = self.connection_spans.get(session.peer, (now, now))
            self.connection_spans[session.peer] = (first, now)
        return "250 2.0.0 OK"

    def refuse_next(self, count: int, reply: str = "451 4.3.0 Försök igen senare") -> None:
        with self._lock:
            self._refuse_left = count
            self._refuse_reply = reply

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def ids(self) -> Counter[str]:
        with self._lock:
            return Counter(str(m["Message-ID"]) for m in self.messages)

    def duplicates(self) -> dict[str, int]:
        return {mid: n for mid, n in self.ids().items() if n > 1}


class Worker:
    """`kvalitet worker` (Celery under its supervisor, with the beat scheduler unless told
    otherwise) as a real subprocess, in its own process group so a SIGKILL takes the
    supervisor, Celery and its pool children with it."""

    def __init__(self, env: dict[str, str], log: Path, *, beat: bool = True, concurrency: int = 2):
        self.env = env
        self.log = log
        self.beat = beat
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        argv = [
            sys.executable, "-m", "workflow.entrypoints.cli", "worker",
            "--concurrency", str(self.concurrency), "--loglevel", "INFO",
            "--name", f"w{time.monotonic_ns()}@%h",
        ]  # fmt: skip
        if self.beat:
            argv += ["--beat", "--schedule", str(self.log.with_suffix(".beat"))]
        else:
            argv += ["--no-beat"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def celery_pid(self) -> int:
        """The Celery main process the supervisor runs (it changes when restarted)."""
        assert self.process is not None
        children = psutil.Process(self.process.pid).children()
        assert len(children) == 1, children
        return int(children[0].pid)

    def kill(self) -> None:
        """SIGKILL the whole group: no cleanup, no ack, exactly like a crashed machine."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


REDIS_CLAIM_SECONDS = 1800  # longer than any test; a crashed run's claim expires by itself


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A database number on the machine's Redis that no other test uses meanwhile (parallel
    workers and other test runs included: each claims its number in database 0), emptied
    before and after."""
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        service_unavailable(f"Redis not reachable at 127.0.0.1:6379: {error}")
    token = uuid.uuid4().hex
    number = claim_redis_database(client, token)
    url = f"redis://127.0.0.1:6379/{number}"
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        if client.get(f"kvalitet-test:db:{number}") == token.encode():
            client.delete(f"kvalitet-test:db:{number}")


def claim_redis_database(client: redis.Redis, token: str) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for number in range(1, 16):
            if client.set(f"kvalitet-test:db:{number}", token, nx=True, ex=REDIS_CLAIM_SECONDS):
                return number
        time.sleep(0.2)
    raise AssertionError("every Redis database 1-15 is claimed by another test for 2 minutes")


def worker_env(database_url: str, broker: str, smtp_port: int, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "KVALITET_DATA_DIR": str(tmp_path / "data"),
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TIMEOUT_SECONDS": "3",
        "WEBHOOK_TIMEOUT_SECONDS": "3",
        "OUTBOX_LEASE_SECONDS": "6",
        "OUTBOX_RETRY_BASE_SECONDS": "0.5",
        "OUTBOX_SWEEP_SECONDS": "1",
        "REMINDER_SWEEP_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
    }

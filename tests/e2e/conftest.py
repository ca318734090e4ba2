"""A real uvicorn server on loopback, on a real database, and users of every role."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.conftest import POSTGRES_ADMIN_URL, service_unavailable

# The browser fixtures are registered here, once: a session fixture imported into several test
# modules is one per module, and a second sync Playwright in one process refuses to start.
from tests.e2e.browser import axe_source, browser, page  # noqa: F401
from tests.e2e.support import ROOT, free_port, wait_until
from workflow import services


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "workflow.entrypoints.cli", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    log: Path
    user_ids: dict[str, int] = field(default_factory=dict)  # name → id, of users made here

    def cli(self, *args: str, stdin: str | None = None) -> str:
        return run_cli(self.env, *args, stdin=stdin)

    def user(self, name: str, role: str, *options: str, password: str | None = None) -> str:
        """Create a user through the CLI; returns its API token (the last line printed).
        The new user's id is kept in `user_ids[name]`."""
        extra = ["--password"] if password else []
        stdin = f"{password}\n{password}\n" if password else None
        out = self.cli("user", "create", name, "--role", role, *options, *extra, stdin=stdin)
        created = re.search(r"id (\d+)\.", out)
        if created:
            self.user_ids[name] = int(created.group(1))
        return out.strip().splitlines()[-1]

    def direct_user(
        self,
        name: str,
        role: str,
        *,
        organisation_id: int | None = None,
        unit_id: int | None = None,
    ) -> str:
        """Create a user straight in the server's database (what `user create` runs, without
        the cost of a CLI process); returns its API token. For tests that need many users."""
        from workflow.db import make_engine, transaction

        engine = make_engine(self.env["DATABASE_URL"])
        try:
            with transaction(engine) as session:
                created = services.create_user(
                    session,
                    name=name,
                    role=role,
                    now=datetime.now(UTC),
                    organisation_id=organisation_id,
                    unit_id=unit_id,
                )
                self.user_ids[name] = created.user.id or 0
                return created.token
        finally:
            engine.dispose()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_server(
    database_url: str, tmp_path: Path, broker_url: str | None = None
) -> Iterator[LiveServer]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KVALITET_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("CELERY_BROKER_URL", None)  # no worker here: messages stay queued, visibly
    if broker_url:  # a broker but still no worker: the server nudges, nobody delivers
        env["CELERY_BROKER_URL"] = broker_url
    run_cli(env, "init")
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn",
             "--factory", "workflow.entrypoints.http.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        # Stop waiting at once if the server died (an import error, a port taken). A loaded
        # 2-core machine has taken over 30 s to migrate a PostgreSQL database and start.
        wait_until(lambda: process.poll() is not None or _healthy(url), timeout=90)
        assert process.poll() is None and _healthy(url), log.read_text()
        yield LiveServer(url=url, env=env, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server per test, on SQLite and on PostgreSQL."""
    yield from start_server(database_url, tmp_path)


@pytest.fixture
def sqlite_server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    yield from start_server(sqlite_url, tmp_path)


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A brand-new PostgreSQL database for a module's server, dropped afterwards."""
    name = f"kvtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        service_unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}")
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def module_sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server on SQLite shared by a module's tests (for wide matrices)."""
    directory = tmp_path_factory.mktemp("server")
    yield from start_server(f"sqlite:///{directory / 'kvalitet.db'}", directory)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per database shared by a module's tests, on SQLite and on PostgreSQL."""
    directory = tmp_path_factory.mktemp(f"server_{request.param}")
    if request.param == "sqlite":
        yield from start_server(f"sqlite:///{directory / 'kvalitet.db'}", directory)
        return
    with scratch_postgres() as url:
        yield from start_server(url, directory)

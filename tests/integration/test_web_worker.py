"""What a web worker sets up before it serves (the app's lifespan)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from anyio import to_thread
from fastapi.testclient import TestClient

from workflow import db
from workflow.entrypoints.http.app import create_app
from workflow.settings import get_settings


@pytest.fixture
def sqlite_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'kvalitet.db'}")
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.upgrade_schema()
    yield
    get_settings.cache_clear()
    db.get_engine.cache_clear()


@pytest.mark.parametrize(("setting", "threads"), [(None, 2), ("5", 5)])
def test_request_handlers_run_in_web_threads_threads(
    monkeypatch: pytest.MonkeyPatch, sqlite_database: None, setting: str | None, threads: int
) -> None:
    """A web worker runs its handlers in few threads (WEB_THREADS, default 2), not anyio's 40."""
    if setting is None:
        monkeypatch.delenv("WEB_THREADS", raising=False)
    else:
        monkeypatch.setenv("WEB_THREADS", setting)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert client.portal is not None
        limit = client.portal.call(lambda: to_thread.current_default_thread_limiter())
        assert limit.total_tokens == threads


def test_a_worker_keeps_what_it_imported_out_of_the_collectors_scans(
    sqlite_database: None,
) -> None:
    """Frozen at start-up, so a full collection under load does not stall every request in
    the worker for as long as it takes to scan ~200,000 objects; let go when it stops."""
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 50_000
    assert gc.get_freeze_count() == 0

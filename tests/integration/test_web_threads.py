from __future__ import annotations

from pathlib import Path

import pytest
from anyio import to_thread
from fastapi.testclient import TestClient

from workflow import db
from workflow.entrypoints.app import create_app
from workflow.settings import get_settings


@pytest.mark.parametrize(("setting", "threads"), [(None, 2), ("5", 5)])
def test_request_handlers_run_in_web_threads_threads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str | None, threads: int
) -> None:
    """A web worker runs its handlers in few threads (WEB_THREADS, default 2), not anyio's 40."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'kvalitet.db'}")
    if setting is None:
        monkeypatch.delenv("WEB_THREADS", raising=False)
    else:
        monkeypatch.setenv("WEB_THREADS", setting)
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.upgrade_schema()
    try:
        with TestClient(create_app()) as client:
            assert client.get("/healthz").status_code == 200
            limit = client.portal.call(lambda: to_thread.current_default_thread_limiter())
            assert limit.total_tokens == threads
    finally:
        get_settings.cache_clear()
        db.get_engine.cache_clear()

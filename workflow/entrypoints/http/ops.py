"""Operator endpoints: `GET /healthz` (liveness plus progress, no login) and `GET /metrics` in
the Prometheus text format (admin token required)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text, update
from sqlmodel import col

from workflow import db, outbox
from workflow.domain.access import Role
from workflow.domain.errors import Forbidden, refusal
from workflow.entrypoints.http.deps import ActorDep, now
from workflow.entrypoints.http.problems import documented
from workflow.metrics import WorkflowCollector
from workflow.models import HealthProbe

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/healthz", include_in_schema=True)
def healthz() -> JSONResponse:
    """Liveness plus progress: the database answers and takes a write, and the age of the
    oldest message waiting in the outbox. 503 when either database check fails."""
    try:
        with db.transaction() as session:
            session.execute(text("SELECT 1"))
            health = outbox.queue_health(session, now=now())
    except Exception as error:  # the database is down: say so, do not crash
        log.warning("health check failed: %s", error)
        return JSONResponse(status_code=503, content={"status": "error", "database": "down"})
    age = round(health.oldest_queued_age_seconds, 1)
    try:
        _prove_writable()
    except Exception as error:  # disk full, read-only file or database: reads still work
        log.error("health check: the database refuses writes: %s", error)
        return JSONResponse(
            status_code=503,
            content={"status": "error", "database": "read_only", "oldest_queued_age_seconds": age},
        )
    return JSONResponse(
        content={"status": "ok", "database": "writable", "oldest_queued_age_seconds": age}
    )


def _prove_writable() -> None:
    """Commit a write to the probe row; a database that only reads raises here."""
    with db.transaction() as session:
        updated = session.execute(
            update(HealthProbe).where(col(HealthProbe.id) == 1).values(checked_at=now())
        )
        if updated.rowcount == 0:  # type: ignore[attr-defined]  # the row was removed by hand
            session.add(HealthProbe(id=1, checked_at=now()))


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format.", "content": {CONTENT_TYPE_LATEST: {}}},
        **documented(401, 403),
    },
)
def metrics(actor: ActorDep) -> Response:
    """Transitions, reminders, outbox depth and age, failures, delivery latency."""
    if actor.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", "Endast administratörer ser driftstatistiken.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkflowCollector(db.get_engine()))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

"""Operator endpoints: `GET /healthz` (liveness plus progress, no login) and `GET /metrics` in
the Prometheus text format (admin token required)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from workflow import db, outbox
from workflow.domain.access import Role
from workflow.domain.errors import Forbidden, refusal
from workflow.entrypoints.http.deps import ActorDep, now
from workflow.metrics import WorkflowCollector

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/healthz", include_in_schema=True)
def healthz() -> JSONResponse:
    """Liveness plus progress: the age of the oldest message waiting in the outbox."""
    try:
        with db.transaction() as session:
            session.execute(text("SELECT 1"))
            health = outbox.queue_health(session, now=now())
    except Exception as error:  # the database is down: say so, do not crash
        log.warning("health check failed: %s", error)
        return JSONResponse(status_code=503, content={"status": "error", "database": "down"})
    age = round(health.oldest_queued_age_seconds, 1)
    return JSONResponse(content={"status": "ok", "oldest_queued_age_seconds": age})


@router.get("/metrics", response_class=Response)
def metrics(actor: ActorDep) -> Response:
    """Transitions, reminders, outbox depth and age, failures, delivery latency."""
    if actor.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", "Endast administratörer ser driftstatistiken.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkflowCollector(db.get_engine()))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

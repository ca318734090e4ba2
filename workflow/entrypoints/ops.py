"""Operator endpoints: `GET /metrics` in the Prometheus text format (admin token required)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from workflow import db
from workflow.auth import Forbidden
from workflow.domain.access import Role
from workflow.domain.errors import refusal
from workflow.entrypoints.api import ActorDep
from workflow.metrics import WorkflowCollector

router = APIRouter()


@router.get("/metrics", response_class=Response)
def metrics(actor: ActorDep) -> Response:
    """Transitions, reminders, outbox depth and age, failures, delivery latency."""
    if actor.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", "Endast administratörer ser driftstatistiken.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkflowCollector(db.get_engine()))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    app.include_router(router)

"""Operational figures, read from the database (the source of truth) at scrape time.

The same numbers feed `GET /metrics` (Prometheus text format, via prometheus_client),
`kvalitet status` and the dashboard's outbox health. Each is one indexed query; the queue's
age is `workflow.outbox.queue_health`, the one place that figure is defined.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from workflow.db import transaction
from workflow.domain.stages import Stage
from workflow.domain.throttle import WINDOW
from workflow.models import Entry, HistoryEvent, LoginAttempt, OutboxMessage, Reminder
from workflow.outbox import STATUSES as OUTBOX_STATUSES
from workflow.outbox import queue_health

REMINDER_STATUSES = ("pending", "queued")
STAGE_NAMES = tuple(stage.value for stage in Stage)


@dataclass(frozen=True)
class Snapshot:
    entries_by_stage: dict[str, int]
    transitions_by_stage: dict[str, int]
    reminders_by_status: dict[str, int]
    outbox_by_status: dict[str, int]
    oldest_queued_age_seconds: float
    delivery_failures: int
    interrupted_sends: int
    logins_throttled: int = 0  # logins refused for coming too soon, in the last 15 minutes
    delivery_latency_seconds: dict[str, float] = field(default_factory=dict)
    undeliverable: int = 0  # kept until an address is set: nobody to send them to yet


def snapshot(session: Session, *, now: datetime) -> Snapshot:
    def grouped(
        column: object, model: type, every: Iterable[str], where: object | None = None
    ) -> dict[str, int]:
        """Counts by value; every known value is present, at 0 when none has it (a series
        that vanishes at 0 cannot be told from one that was never measured)."""
        query = select(column, func.count()).select_from(model).group_by(column)  # type: ignore[call-overload]
        if where is not None:
            query = query.where(where)
        counts = dict.fromkeys(every, 0)
        counts.update({str(key): int(count) for key, count in session.exec(query).all()})
        return counts

    health = queue_health(session, now=now)
    failed = session.exec(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
    ).one()
    interrupted = session.exec(select(func.sum(OutboxMessage.interrupted_attempts))).one()
    throttled = session.exec(
        select(func.count())
        .select_from(LoginAttempt)
        .where(col(LoginAttempt.throttled).is_(True), col(LoginAttempt.at) > now - WINDOW)
    ).one()
    # Delivery latency (queued → sent) over the latest 1,000 sent messages.
    recent = session.exec(
        select(OutboxMessage.created_at, OutboxMessage.sent_at)
        .where(OutboxMessage.status == "sent")
        .order_by(col(OutboxMessage.id).desc())
        .limit(1000)
    ).all()
    latencies = sorted((sent - created).total_seconds() for created, sent in recent if sent)
    return Snapshot(
        entries_by_stage=grouped(Entry.stage, Entry, STAGE_NAMES),
        transitions_by_stage=grouped(
            HistoryEvent.to_stage,
            HistoryEvent,
            STAGE_NAMES,
            col(HistoryEvent.from_stage) != col(HistoryEvent.to_stage),
        ),
        reminders_by_status=grouped(Reminder.status, Reminder, REMINDER_STATUSES),
        outbox_by_status=grouped(OutboxMessage.status, OutboxMessage, OUTBOX_STATUSES),
        oldest_queued_age_seconds=health.oldest_queued_age_seconds,
        delivery_failures=int(failed),
        interrupted_sends=int(interrupted or 0),
        logins_throttled=int(throttled),
        delivery_latency_seconds=_quantiles(latencies),
        undeliverable=int(
            session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "undeliverable")
            ).one()
        ),
    )


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "0.5": values[len(values) // 2],
        "0.99": values[min(len(values) - 1, int(len(values) * 0.99))],
    }


class WorkflowCollector(Collector):
    """Collects a fresh snapshot on every scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with transaction(self.engine) as session:
            snap = snapshot(session, now=datetime.now(UTC))
        entries = GaugeMetricFamily("kvalitet_entries", "Entries by stage", labels=["stage"])
        for stage, count in snap.entries_by_stage.items():
            entries.add_metric([stage], count)
        yield entries
        moves = CounterMetricFamily(
            "kvalitet_transitions", "Transitions applied, by target stage", labels=["stage"]
        )
        for stage, count in snap.transitions_by_stage.items():
            moves.add_metric([stage], count)
        yield moves
        reminders = GaugeMetricFamily(
            "kvalitet_reminders",
            "Reminders by status (pending = planned, queued = handed to the outbox)",
            labels=["status"],
        )
        for status, count in snap.reminders_by_status.items():
            reminders.add_metric([status], count)
        yield reminders
        outbox = GaugeMetricFamily(
            "kvalitet_outbox_messages", "Outbox by status", labels=["status"]
        )
        for status, count in snap.outbox_by_status.items():
            outbox.add_metric([status], count)
        yield outbox
        yield GaugeMetricFamily(
            "kvalitet_outbox_oldest_queued_age_seconds",
            "Seconds the oldest due message has waited for a relay; grows when delivery stalls",
            value=snap.oldest_queued_age_seconds,
        )
        yield GaugeMetricFamily(
            "kvalitet_outbox_failed",
            "Messages dead-lettered (failed)",
            value=snap.delivery_failures,
        )
        yield CounterMetricFamily(
            "kvalitet_outbox_interrupted_sends",
            "Sends interrupted by a crashed relay (may have reached the server)",
            value=snap.interrupted_sends,
        )
        yield GaugeMetricFamily(
            "kvalitet_logins_throttled",
            "Logins refused for coming too soon after failures, in the last 15 minutes",
            value=snap.logins_throttled,
        )
        latency = GaugeMetricFamily(
            "kvalitet_delivery_latency_seconds",
            "Queued-to-sent latency of the latest 1,000 messages",
            labels=["quantile"],
        )
        for quantile, seconds in snap.delivery_latency_seconds.items():
            latency.add_metric([quantile], seconds)
        yield latency

"""Running the award day to day: the outbox, planned reminders, and the operating status."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow.entrypoints.cli.values import JsonFlag, echo_json, parse_date
from workflow.entrypoints.cli.work import now, run


def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="queued, sent, failed eller cancelled.")
    ] = None,
    entry: Annotated[int | None, typer.Option(help="Bara en posts meddelanden.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Visa meddelanden i utkorgen med status, försök och senaste fel."""
    from workflow import outbox

    views = run(lambda s: outbox.outbox_views(s, status=status, entry_id=entry))
    if as_json:
        echo_json(views)
        return
    if not views:
        filtered = status is not None or entry is not None
        typer.echo("Inga meddelanden med de villkoren." if filtered else "Utkorgen är tom.")
    for m in views:
        error = f"  ({m['last_error']})" if m["last_error"] else ""
        typer.echo(
            f"{m['id']:>5}  {m['status']:<7} {m['attempts']:>2} försök  {m['kind']:<24} "
            f"{m['to']}{error}"
        )


def outbox_retry(message_id: Annotated[int, typer.Argument(help="Meddelandets id.")]) -> None:
    """Skicka ett misslyckat meddelande igen."""
    from workflow import services

    message = run(lambda s: services.retry_message(s, message_id, now=now()))
    typer.echo(f"Meddelande {message.id} köat igen.")


def reminders_list(
    until: Annotated[str, typer.Option(help="Visa påminnelser till och med detta datum.")],
    as_json: JsonFlag = False,
) -> None:
    """Förhandsvisa vilka påminnelser som går ut när, utan att skicka något."""
    from workflow import reminders

    day = parse_date(until, "--until")
    rows = run(lambda s: list(reminders.reminder_preview(s, until=day)))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("Inga påminnelser planerade.")
    for r in rows:
        typer.echo(
            f"{r['due_local']}  {r['kind']:<10} {r['deadline_kind']:<12} "
            f"sista dag {r['deadline']}  post {r['entry_id']} {r['unit']} → {r['recipient_role']}"
        )


def status(as_json: JsonFlag = False) -> None:
    """Driftstatus: poster per steg, påminnelser, utkorgens djup och ålder, fel."""
    from dataclasses import asdict

    from workflow.metrics import snapshot

    snap = run(lambda s: snapshot(s, now=now()))
    if as_json:
        echo_json(asdict(snap))
        return
    typer.echo("Poster per steg:      " + _pairs(snap.entries_by_stage))
    typer.echo("Övergångar per steg:  " + _pairs(snap.transitions_by_stage))
    typer.echo("Påminnelser:          " + _pairs(snap.reminders_by_status))
    typer.echo("Utkorgen:             " + _pairs(snap.outbox_by_status))
    typer.echo(f"Äldsta väntande:      {snap.oldest_queued_age_seconds:.0f} s")
    typer.echo(f"Misslyckade:          {snap.delivery_failures}")
    typer.echo(f"Avbrutna sändningar:  {snap.interrupted_sends}")
    latency = snap.delivery_latency_seconds
    if latency:
        typer.echo(f"Leveranstid p50/p99:  {latency['0.5']:.1f} s / {latency['0.99']:.1f} s")


def _pairs(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "-"

"""Running the award day to day: the outbox, planned reminders, and the operating status."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from workflow.entrypoints.cli.values import JsonFlag, echo_json, parse_date, read_file
from workflow.entrypoints.cli.work import actor, now, run


def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="queued, sent, failed eller cancelled.")
    ] = None,
    entry: Annotated[int | None, typer.Option(help="Bara en posts meddelanden.")] = None,
    limit: Annotated[int, typer.Option(help="Högst så många.", min=1)] = 1000,
    after_id: Annotated[int, typer.Option(help="De efter detta id.", min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Visa meddelanden i utkorgen med status, försök och senaste fel."""
    from workflow import outbox

    views = run(
        lambda s: outbox.outbox_views(
            s, status=status, entry_id=entry, after_id=after_id, limit=limit + 1
        )
    )
    more = len(views) > limit
    views = views[:limit]
    if more:  # never a list that stops without saying so
        typer.echo(
            f"Visar {limit} meddelanden; fler finns: lägg till --after-id {views[-1]['id']}.",
            err=True,
        )
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


MessageIdArgument = Annotated[
    int | None, typer.Argument(help="Meddelandets id (eller ange villkor i stället).")
]
StatusOption = Annotated[str | None, typer.Option(help="Alla med denna status, t.ex. failed.")]
KindOption = Annotated[str | None, typer.Option(help="Alla av denna typ, t.ex. reminder.")]
YearOption = Annotated[int | None, typer.Option(help="Alla som gäller detta års omgång.")]
OrganisationOption = Annotated[
    int | None, typer.Option("--organisation", help="Alla som gäller denna organisation (id).")
]
NoteOption = Annotated[str | None, typer.Option(help="Varför (sparas i loggen).")]

_DONE = {"hold": "pausat", "release": "släppt", "cancel": "stoppat", "retry": "köat igen"}


def _act(
    action: str,
    message_id: int | None,
    status: str | None,
    kind: str | None,
    year: int | None,
    organisation: int | None,
    note: str | None,
    as_json: bool,
) -> None:
    from workflow.outbox.control import MessageFilter, act_on_messages

    wanted = MessageFilter(
        ids=(message_id,) if message_id is not None else (),
        status=status,
        kind=kind,
        year=year,
        organisation_id=organisation,
    )
    result = run(lambda s: act_on_messages(s, action, wanted, actor=actor(), now=now(), note=note))
    if as_json:
        echo_json(result.as_dict())
        return
    done = _DONE[action]
    if message_id is not None and not result.skipped and len(result.changed) == 1:
        typer.echo(f"Meddelande {message_id} {done}.")
        return
    typer.echo(f"{len(result.changed)} meddelanden {done}.")
    for skipped_id, reason in sorted(result.skipped.items()):
        typer.echo(f"  {skipped_id}: {reason}")


def _outbox_command(action: str, summary: str) -> Callable[..., None]:
    """One `outbox` command per action, all taking an id or a filter."""

    def command(
        message_id: MessageIdArgument = None,
        status: StatusOption = None,
        kind: KindOption = None,
        year: YearOption = None,
        organisation: OrganisationOption = None,
        note: NoteOption = None,
        as_json: JsonFlag = False,
    ) -> None:
        _act(action, message_id, status, kind, year, organisation, note, as_json)

    command.__doc__ = summary
    command.__name__ = f"outbox_{action}"
    return command


outbox_hold = _outbox_command("hold", "Pausa väntande meddelanden: inget skickas förrän de släpps.")
outbox_release = _outbox_command("release", "Släpp pausade meddelanden så att de skickas.")
outbox_cancel = _outbox_command("cancel", "Stoppa väntande eller pausade meddelanden för gott.")
outbox_retry = _outbox_command(
    "retry", "Skicka misslyckade meddelanden igen (ett id, eller t.ex. --status failed för alla)."
)


def outbox_show(
    message_id: Annotated[int, typer.Argument(help="Meddelandets id.")],
    as_json: JsonFlag = False,
) -> None:
    """Visa ett meddelande som det kommer att skickas (och mallens version om det ändrats)."""
    from workflow.outbox.preview import message_detail

    detail = run(lambda s: message_detail(s, message_id))
    if as_json:
        echo_json(detail)
        return
    typer.echo(f"Till:   {detail['to']}\nStatus: {detail['status']}\nÄmne:   {detail['subject']}")
    if detail["edited_by"]:
        typer.echo(f"Ändrat av {detail['edited_by']} {detail['edited_at']}.")
    typer.echo("")
    typer.echo(detail["text"])


def outbox_edit(
    message_id: Annotated[int, typer.Argument(help="Meddelandets id.")],
    subject: Annotated[str, typer.Option(help="Ny ämnesrad.")],
    text_file: Annotated[
        Path, typer.Option("--text-file", help="Fil med den nya texten (UTF-8), - för stdin.")
    ],
    note: NoteOption = None,
) -> None:
    """Ersätt ämne och text i ett väntande meddelande (mallens version sparas i loggen)."""
    from workflow.outbox.control import edit_message

    body = sys.stdin.read() if str(text_file) == "-" else read_file(text_file).decode("utf-8")
    run(
        lambda s: edit_message(
            s, message_id, subject=subject, body=body, actor=actor(), now=now(), note=note
        )
    )
    typer.echo(f"Meddelande {message_id} ändrat.")


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
    typer.echo(f"Utan mottagare:       {snap.undeliverable}")
    typer.echo(f"Avbrutna sändningar:  {snap.interrupted_sends}")
    latency = snap.delivery_latency_seconds
    if latency:
        typer.echo(f"Leveranstid p50/p99:  {latency['0.5']:.1f} s / {latency['0.99']:.1f} s")


def _pairs(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "-"

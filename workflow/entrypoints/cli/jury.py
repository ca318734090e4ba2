"""`kvalitet jury …`: the jury committee, its pack per class, recommendations, the chair's
decision and the announcement (the operator's own hand; refusals are the services' Swedish
reasons). The decision is embargoed: nothing reaches the units before `jury announce`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import select

from workflow.auth import actor_of
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import InvalidInput, NotFound, Reason
from workflow.entrypoints.cli.work import now, run
from workflow.entrypoints.http.jury import pack_pdf
from workflow.models import User
from workflow.services import jury

Year = Annotated[int, typer.Argument(help="Omgångens år, t.ex. 2025.")]
Class = Annotated[str, typer.Argument(help="Klassens kod, t.ex. socialtjanst.")]
Winners = Annotated[
    list[int] | None, typer.Option("--winner", help="Vinnande posts id (kan upprepas).")
]
Motivation = Annotated[str, typer.Option(help="Motivering.")]


def members(
    year: Year,
    member: Annotated[list[int], typer.Option("--member", help="Jurymedlemmens användar-id.")],
    chair: Annotated[int, typer.Option(help="Ordförandens användar-id.")],
) -> None:
    """Utse omgångens jury och dess ordförande."""
    result = run(
        lambda s: jury.set_members(
            s, year=year, members=member, chair=chair, acting=None, now=now()
        )
    )
    typer.echo(
        f"Juryn {year}: " + ", ".join(m.name + (" (ordförande)" if m.chair else "") for m in result)
    )


def pack(
    year: Year,
    award_class: Class,
    out: Annotated[Path, typer.Option(help="Filen som juryunderlaget sparas i.")],
) -> None:
    """Spara klassens juryunderlag (PDF) i en fil."""
    view = run(lambda s: jury.class_view(s, year=year, award_class=award_class, acting=None))
    out.write_bytes(pack_pdf(view, now().astimezone(STOCKHOLM).date()))
    typer.echo(f"Juryunderlaget för {view.class_name} {year} ({len(view.items)} bidrag): {out}")


def _member(session: Any, name: str) -> Any:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound((Reason("not_found", f"Användaren '{name}' finns inte."),))
    return actor_of(user)


def recommend(
    year: Year,
    award_class: Class,
    member: Annotated[str, typer.Option(help="Jurymedlemmens användarnamn.")],
    winner: Winners = None,
    motivation: Motivation = "",
) -> None:
    """Spara en jurymedlems rekommendation i klassen (inga --winner: ingen vinnare)."""
    run(
        lambda s: jury.recommend(
            s, year=year, award_class=award_class, winners=winner or [],
            motivation=motivation, acting=_member(s, member), now=now(),
        )
    )  # fmt: skip
    typer.echo(f"Rekommendationen från {member} är sparad.")


def decide(
    year: Year,
    award_class: Class,
    motivation: Motivation,
    winner: Winners = None,
    no_winner: Annotated[bool, typer.Option("--no-winner", help="Ingen vinnare i år.")] = False,
) -> None:
    """Registrera juryns beslut i klassen (hålls hemligt till tillkännagivandet)."""

    def apply(session: Any) -> None:
        if bool(winner) == no_winner:  # inside: a refusal is worded like any other
            raise InvalidInput((_WINNER_OR_NONE,))
        jury.decide(
            session, year=year, award_class=award_class, winners=winner or [],
            motivation=motivation, acting=None, now=now(),
        )  # fmt: skip

    run(apply)
    typer.echo(f"Beslutet i klassen {award_class} {year} är registrerat; det tillkännages senare.")


_WINNER_OR_NONE = Reason(
    "winner_or_none", "Ange antingen --winner (en eller flera) eller --no-winner."
)


def announce(
    year: Year,
    at: Annotated[
        str | None, typer.Option(help="Tidpunkt ÅÅÅÅ-MM-DD TT:MM (Stockholm); utan: nu.")
    ] = None,
) -> None:
    """Tillkännage omgångens jurybeslut nu, eller bestäm när det sker."""

    def apply(session: Any) -> jury.Announcement:
        return jury.set_announcement(session, year=year, at=_moment(at), acting=None, now=now())

    done = run(apply)
    if done.announced_at is None:
        when = done.announce_at.astimezone(STOCKHOLM)
        typer.echo(f"Jurybesluten {year} tillkännages {when:%Y-%m-%d} kl. {when:%H.%M}.")
    else:
        typer.echo(f"Jurybesluten {year} är tillkännagivna; {len(done.moved)} besked skickas.")


def _moment(at: str | None) -> datetime | None:
    if at is None:
        return None
    try:
        when = datetime.fromisoformat(at.strip())
    except ValueError:
        raise InvalidInput(
            (Reason("invalid_time", f"'{at}' är ingen tidpunkt (ÅÅÅÅ-MM-DD TT:MM)."),)
        ) from None
    return when.replace(tzinfo=STOCKHOLM) if when.tzinfo is None else when


def install(app: typer.Typer) -> None:
    jury_app = typer.Typer(help="Domarkommittén: beslut per klass.", no_args_is_help=True)
    for command in (members, pack, recommend, decide, announce):
        jury_app.command(command.__name__)(command)
    app.add_typer(jury_app, name="jury")

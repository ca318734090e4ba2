"""`kvalitet ceremony …`: the invitation to the prize ceremony and a winner's documents (the
operator's own hand, as the admin: refusals are the services' Swedish reasons)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow.documents import winner
from workflow.domain.errors import InvalidInput, Reason
from workflow.entrypoints.cli.values import JsonFlag, echo_json
from workflow.entrypoints.cli.work import now, run
from workflow.services import ceremony


def ceremony_invite(
    year: Annotated[int, typer.Option(help="Omgångens år, t.ex. 2025.")],
    as_json: JsonFlag = False,
) -> None:
    """Bjud in alla deltagande enheter och deras samordnare till prisutdelningen."""
    done = run(lambda session: ceremony.send_ceremony_invitations(session, year=year, now=now()))
    if as_json:
        echo_json(
            {
                "year": done.year,
                "queued": list(done.queued),
                "already_invited": list(done.already),
                "units_without_address": list(done.without_address),
            }
        )
        return
    typer.echo(
        f"Omgång {year}: inbjudan till ceremonin köad till {len(done.queued)} adresser"
        f"{f' ({len(done.already)} hade redan fått den)' if done.already else ''}."
    )
    for address in done.queued:
        typer.echo(f"  {address}")
    if done.without_address:
        typer.echo(f"Utan adress (ingen inbjudan): {', '.join(done.without_address)}.")


def ceremony_documents(
    entry: Annotated[int, typer.Argument(help="Postens id.")],
    out: Annotated[Path, typer.Option("--out", help="Mappen som filerna sparas i.")] = Path(),
) -> None:
    """Spara vinnarens diplom (PDF) och prisbrev (DOCX och PDF) i en mapp."""
    if out.exists() and not out.is_dir():
        raise InvalidInput((Reason("invalid_out", f"'{out}' är ingen mapp."),))
    files = run(lambda session: winner.documents_for_winner(session, entry))
    try:
        out.mkdir(parents=True, exist_ok=True)
        for made in files:
            (out / made.filename).write_bytes(made.data)
    except OSError as error:
        reason = f"Kunde inte spara filerna i '{out}': {error.strerror or error}."
        raise InvalidInput((Reason("invalid_out", reason),)) from None
    for made in files:
        typer.echo(str(out / made.filename))


def install(app: typer.Typer) -> None:
    """The command group, added to `kvalitet`."""
    ceremony_app = typer.Typer(
        help="Prisutdelningen: inbjudan och vinnarnas dokument.", no_args_is_help=True
    )
    ceremony_app.command("invite")(ceremony_invite)
    ceremony_app.command("documents")(ceremony_documents)
    app.add_typer(ceremony_app, name="ceremony")

"""`kvalitet feedback release|report`: release a cycle's feedback reports (now or at a given
moment) and write one entry's report to a file (the operator's own hand: refusals are the
services' Swedish reasons)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from workflow import swedish
from workflow.documents.feedback import feedback_report
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import InvalidInput, Reason
from workflow.entrypoints.cli.work import now, run
from workflow.services import feedback_release

feedback_app = typer.Typer(help="Återkopplingsrapporter och släppet av dem.", no_args_is_help=True)


def _moment(text: str | None) -> datetime | None:
    """An ISO moment; without a zone it is Stockholm time."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            (Reason("invalid_time", f"'{text}' är ingen tidpunkt (t.ex. 2024-10-01T09:00)."),)
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=STOCKHOLM)


@feedback_app.command("release")
def release(
    year: Annotated[int, typer.Option("--year", help="Omgångens år, t.ex. 2024.")],
    award_class: Annotated[
        str | None, typer.Option("--class", help="Bara en klass, t.ex. förskola.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Släpp vid tidpunkten (t.ex. 2024-10-01T09:00).")
    ] = None,
) -> None:
    """Släpp omgångens återkoppling till alla enheter (eller en klass), nu eller senare."""
    made = run(
        lambda s: feedback_release.release_feedback(
            s, year=year, award_class=award_class, at=_moment(at), acting=None, now=now()
        )
    )
    scope = f"klassen {swedish.klass(made.award_class)}" if made.award_class else "alla klasser"
    if made.status == "scheduled":
        typer.echo(f"Återkopplingen för {scope} {year} släpps den {swedish.tid(made.due_at)}.")
    else:
        typer.echo(
            f"Återkopplingen för {scope} {year} är släppt: {made.released} "
            f"{'enhet' if made.released == 1 else 'enheter'} får sin rapport."
        )


@feedback_app.command("report")
def report(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Skriv PDF-filen hit.")] = None,
    docx: Annotated[Path | None, typer.Option("--docx", help="Skriv Word-filen hit.")] = None,
) -> None:
    """Skriv en posts återkopplingsrapport till fil (PDF och/eller Word)."""
    targets = [(fmt, path) for fmt, path in (("pdf", pdf), ("docx", docx)) if path is not None]
    if not targets:
        targets = [("pdf", Path(f"aterkoppling-{entry_id}.pdf"))]
    for fmt, path in targets:
        _, _, data = run(lambda s, fmt=fmt: feedback_report(s, entry_id, fmt))  # type: ignore[misc]
        path.write_bytes(data)
        typer.echo(f"Återkopplingsrapporten för post {entry_id} är sparad i {path}.")

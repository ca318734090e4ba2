"""Entries (anmälda enheter) and their stages: create, list, show, advance, book a site visit,
withdraw, read the history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from workflow import services
from workflow.domain.rules import AWARD_CLASSES
from workflow.domain.stages import STAGE_LABELS_SV, Stage
from workflow.entrypoints.cli.values import (
    JsonFlag,
    echo_json,
    parse_data,
    parse_date,
    parse_optional_time,
    read_file,
)
from workflow.entrypoints.cli.work import actor, fail, now, run
from workflow.queries import entries as entry_queries
from workflow.services import corrections, extensions

# The file is what the target stage is about; never, say, a contribution as the extract.
ATTACHMENT_KIND_BY_STAGE = {
    Stage.EXTRACT_SENT.value: "extract",
    Stage.SUBMITTED.value: "contribution",
}


@dataclass(frozen=True)
class _Attachment:
    kind: str
    filename: str
    data: bytes


def entry_create(
    unit_id: Annotated[int, typer.Option("--unit", help="Enhetens id.")],
    year: Annotated[int, typer.Option(help="Omgångens år.")],
    award_class: Annotated[
        str, typer.Option("--class", help=f"Klass: {', '.join(AWARD_CLASSES)}.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Anmäl en enhet till en omgång (steget notified)."""

    def work(session: Session) -> dict[str, Any]:
        entry = services.create_entry(
            session, unit_id=unit_id, year=year, award_class=award_class, actor=actor(), now=now()
        )
        assert entry.id is not None
        return entry_queries.entry_view(session, entry.id)

    print_entry(run(work), as_json)


def entry_list(
    stage: Annotated[str | None, typer.Option(help="Bara poster i detta steg.")] = None,
    year: Annotated[int | None, typer.Option(help="Bara poster i detta års omgång.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Visa anmälda enheter och deras steg."""
    views = run(lambda s: entry_queries.entry_views(s, stage=stage, year=year))
    if as_json:
        echo_json(views)
        return
    if not views:
        typer.echo("Inga poster.")
        return
    typer.echo(f"{'id':>4}  {'år':<4}  {'steg':<15} {'v':>3}  {'klass':<18}  enhet (organisation)")
    for v in views:
        typer.echo(
            f"{v['id']:>4}  {v['year']:<4}  {v['stage']:<15} {v['version']:>3}  "
            f"{AWARD_CLASSES[v['award_class']]:<18}  {v['unit']} ({v['organisation']})"
        )


def entry_show(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")], as_json: JsonFlag = False
) -> None:
    """Visa en post: steg, version, tillåtna övergångar och registrerade uppgifter."""
    print_entry(run(lambda s: entry_queries.entry_view(s, entry_id)), as_json)


def print_entry(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(view)
        return
    typer.echo(f"Post {view['id']}: {view['unit']} ({view['organisation']}), {view['year']}")
    typer.echo(f"  Klass:     {AWARD_CLASSES[view['award_class']]}")
    typer.echo(f"  Steg:      {view['stage']} ({view['stage_label']}), version {view['version']}")
    if view.get("case_number"):
        typer.echo(f"  Dnr:       {view['case_number']}")
    if view.get("contribution_until"):
        typer.echo(f"  Förlängd tid för bidraget: till {view['contribution_until']}")
    if view.get("extract_until"):
        typer.echo(f"  Förlängd tid för protokollsutdraget: till {view['extract_until']}")
    allowed = ", ".join(view["allowed_transitions"]) or "inga (avslutad)"
    typer.echo(f"  Nästa steg: {allowed}")
    for fact, data in view["facts"].items():
        shown = ", ".join(f"{k}={v}" for k, v in data.items())
        stage = next((s for s in Stage if s.value == fact), None)
        label = STAGE_LABELS_SV[stage] if stage else "Platsbesök"
        typer.echo(f"  {label}: {shown or '-'}")
    for stage, data in view["pending"].items():
        shown = ", ".join(f"{k}={v}" for k, v in data.items())
        typer.echo(f"  Väntar: {STAGE_LABELS_SV[Stage(stage)]} ({shown})")


def entry_advance(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    stage: Annotated[str, typer.Argument(help="Steget posten ska till.")],
    version: Annotated[int, typer.Option(help="Versionen du utgår från (se 'entry show').")],
    more_data: Annotated[
        list[str] | None, typer.Argument(help="Fler NYCKEL=VÄRDE efter --data.", show_default=False)
    ] = None,
    note: Annotated[str | None, typer.Option(help="Varför (sparas i historiken).")] = None,
    data: Annotated[
        list[str] | None, typer.Option(help="Uppgift för steget, NYCKEL=VÄRDE (upprepa).")
    ] = None,
    attach: Annotated[
        Path | None,
        typer.Option(
            help="Protokollsutdraget (extract_sent) eller bidraget (submitted) som fil, "
            "sparas med posten."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Flytta en post till nästa steg, från den version du utgick från."""
    values = parse_data([*(data or []), *(more_data or [])])
    attachment = _attachment_for(stage, attach) if attach is not None else None

    def work(session: Session) -> dict[str, Any]:
        if attachment is not None:
            services.attach_document(
                session,
                entry_id=entry_id,
                kind=attachment.kind,
                filename=attachment.filename,
                data=attachment.data,
                actor=actor(),
                now=now(),
            )
        services.advance_entry(
            session,
            entry_id=entry_id,
            target=stage,
            version=version,
            actor=actor(),
            now=now(),
            note=note,
            data=values,
        )
        return entry_queries.entry_view(session, entry_id)

    print_entry(run(work), as_json)


def _attachment_for(stage: str, path: Path) -> _Attachment:
    """The file `--attach` names, as what the target stage is about, or a refusal (exit 2)."""
    kind = ATTACHMENT_KIND_BY_STAGE.get(stage)
    if kind is None:
        fail(
            ["--attach gäller bara extract_sent (protokollsutdraget) och submitted (bidraget)."], 2
        )
    return _Attachment(kind=kind, filename=path.name, data=read_file(path))


def entry_site_visit(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    on: Annotated[str, typer.Option("--date", help="Dag för platsbesöket (ÅÅÅÅ-MM-DD).")],
    version: Annotated[int, typer.Option(help="Versionen du utgår från.")],
    note: Annotated[str | None, typer.Option(help="Anteckning i historiken.")] = None,
    starts_at: Annotated[
        str | None, typer.Option("--starts-at", help="Börjar, svensk tid (TT:MM; 09:00).")
    ] = None,
    ends_at: Annotated[
        str | None, typer.Option("--ends-at", help="Slutar, svensk tid (TT:MM; 12:00).")
    ] = None,
) -> None:
    """Boka examinatorernas platsbesök; enheten får ett meddelande."""
    day = parse_date(on, "--date")
    start = parse_optional_time(starts_at, "--starts-at")
    end = parse_optional_time(ends_at, "--ends-at")

    def work(session: Session) -> dict[str, Any]:
        services.schedule_site_visit(
            session,
            entry_id=entry_id,
            version=version,
            on=day,
            actor=actor(),
            now=now(),
            note=note,
            starts_at=start,
            ends_at=end,
        )
        return entry_queries.entry_view(session, entry_id)

    print_entry(run(work), False)


def entry_withdraw(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    version: Annotated[int, typer.Option(help="Versionen du utgår från.")],
    note: Annotated[str, typer.Option(help="Varför deltagandet återkallas.")],
) -> None:
    """Återkalla ett deltagande (möjligt före jurybeslutet)."""

    def work(session: Session) -> dict[str, Any]:
        services.withdraw_entry(
            session, entry_id=entry_id, version=version, actor=actor(), now=now(), note=note
        )
        return entry_queries.entry_view(session, entry_id)

    print_entry(run(work), False)


def entry_history(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")], as_json: JsonFlag = False
) -> None:
    """Visa postens historik: vem, när, från, till och varför."""
    events = run(lambda s: entry_queries.entry_history(s, entry_id))
    if as_json:
        echo_json(events)
        return
    for e in events:
        source = e["from"] or "-"
        line = f"v{e['version']:<3} {e['at'][:19]}  {source:>15} → {e['to']:<15} {e['actor']}"
        typer.echo(line + (f"  «{e['note']}»" if e["note"] else ""))


def entry_extend(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    note: Annotated[str, typer.Option(help="Varför posten får förlängd tid (i historiken).")],
    contribution_until: Annotated[
        str | None,
        typer.Option("--contribution-until", help="Ny sista dag för bidraget (ÅÅÅÅ-MM-DD)."),
    ] = None,
    extract_until: Annotated[
        str | None,
        typer.Option("--extract-until", help="Ny sista dag för protokollsutdraget (ÅÅÅÅ-MM-DD)."),
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="Versionen du utgår från (frivilligt).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ge en post förlängd tid för bidraget eller protokollsutdraget; påminnelserna planeras
    om mot det nya datumet."""
    if (contribution_until is None) == (extract_until is None):
        fail(["Ange antingen --contribution-until eller --extract-until."], 2)
    if contribution_until is not None:
        kind, until = "contribution", parse_date(contribution_until, "--contribution-until")
    else:
        kind, until = "extract", parse_date(extract_until or "", "--extract-until")

    def work(session: Session) -> dict[str, Any]:
        extensions.extend_deadline(
            session,
            entry_id=entry_id,
            deadline=kind,
            until=until,
            note=note,
            version=version,
            actor=actor(),
            now=now(),
        )
        return entry_queries.entry_view(session, entry_id)

    print_entry(run(work), as_json)


def entry_case_number(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    case_number: Annotated[
        str, typer.Argument(help='Diarienumret, t.ex. "SLK 2025/123"; "" tar bort det.')
    ],
    version: Annotated[
        int | None, typer.Option(help="Versionen du utgår från (frivilligt).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Anteckning i historiken.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ange postens diarienummer; det står sedan i ämnesraden på all e-post om posten."""

    def work(session: Session) -> dict[str, Any]:
        corrections.set_case_number(
            session,
            entry_id=entry_id,
            case_number=case_number,
            version=version,
            note=note,
            actor=actor(),
            now=now(),
        )
        return entry_queries.entry_view(session, entry_id)

    print_entry(run(work), as_json)


def entry_correct(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    version: Annotated[int, typer.Option(help="Versionen du utgår från (se 'entry show').")],
    note: Annotated[str, typer.Option(help="Varför uppgifterna rättas (i historiken).")],
    award_class: Annotated[
        str | None, typer.Option("--class", help="Rätt klass (före examinationen).")
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option(help="Rättad uppgift, STEG.FÄLT=VÄRDE, t.ex. board_decision.meeting_date="),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rätta registrerade uppgifter (klass, uppgifter i ett steg); historiken visar gammalt
    och nytt värde, vem, när och varför."""
    facts: dict[str, dict[str, str]] = {}
    for key, value in parse_data(data or []).items():
        stage, _, name = key.partition(".")
        if not name:
            fail([f"--data {key}=…: ange STEG.FÄLT, t.ex. board_decision.meeting_date."], 2)
        facts.setdefault(stage, {})[name] = value

    def work(session: Session) -> dict[str, Any]:
        corrections.correct_entry(
            session,
            entry_id=entry_id,
            version=version,
            note=note,
            actor=actor(),
            now=now(),
            award_class=award_class,
            facts=facts,
        )
        return entry_queries.entry_view(session, entry_id)

    print_entry(run(work), as_json)


def board_report_case(
    organisation_id: Annotated[int, typer.Argument(help="Organisationens id.")],
    year: Annotated[int, typer.Argument(help="Omgångens år.")],
    case_number: Annotated[
        str, typer.Argument(help='Tjänsteutlåtandets diarienummer; "" tar bort det.')
    ],
) -> None:
    """Ange diarienumret för organisationens tjänsteutlåtande om årets deltagande."""

    def work(session: Session) -> str | None:
        row = corrections.set_board_report_case(
            session,
            organisation_id=organisation_id,
            year=year,
            case_number=case_number,
            actor=actor(),
            now=now(),
        )
        return row.case_number if row is not None else None

    filed = run(work)
    typer.echo(f"Dnr {filed}" if filed else "Diarienumret är borttaget.")

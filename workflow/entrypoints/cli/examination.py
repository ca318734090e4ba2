"""`kvalitet criteria …`, `kvalitet examiners …`, `kvalitet assessment …`: the examination's
criteria and scale, the examiner teams, and the assessments' state (the operator's own hand:
refusals are the services' Swedish reasons)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from workflow.domain import examination as rules
from workflow.domain.errors import InvalidInput, Reason
from workflow.entrypoints.cli.values import JsonFlag, echo_json
from workflow.entrypoints.cli.work import now, run
from workflow.entrypoints.http.examination import criteria_view
from workflow.services import assessments, examination

Year = Annotated[int, typer.Argument(help="Omgångens år, t.ex. 2025.")]
EntryId = Annotated[int, typer.Argument(help="Postens id.")]


def criteria_show(year: Year, as_json: JsonFlag = False) -> None:
    """Visa omgångens bedömningsgrunder, skala och antal examinatorer per bidrag."""
    view = run(lambda session: criteria_view(session, year))
    if as_json:
        echo_json(view)
        return
    typer.echo(
        f"Omgång {year}: skala {view['score_min']}–{view['score_max']}, "
        f"{view['examiners_per_entry']} examinatorer per bidrag"
        + (" (låst: en bedömning är sparad)." if view["locked"] else ".")
    )
    for c in view["criteria"]:
        typer.echo(f"  {c['position']}. {c['name']}: {c['description']}")


def _parse_scale(scale: str) -> tuple[int, int]:
    low, _, high = scale.partition("-")
    if not (low.strip().isdigit() and high.strip().isdigit()):
        raise InvalidInput((Reason("invalid_scale", "Ange skalan som LÄGST-HÖGST, t.ex. 1-5."),))
    return int(low), int(high)


def criteria_set(
    year: Year,
    criterion: Annotated[
        list[str], typer.Option("--criterion", help="'Namn: beskrivning', en per bedömningsgrund.")
    ],
    scale: Annotated[str, typer.Option(help="Skalan, t.ex. 1-5.")] = "1-5",
    team: Annotated[int, typer.Option(help="Examinatorer per bidrag.")] = rules.DEFAULT_TEAM_SIZE,
) -> None:
    """Ersätt omgångens bedömningsgrunder och skala (går bara före första bedömningen)."""
    rows = [(n.strip(), d.strip()) for n, _, d in (c.partition(":") for c in criterion)]

    def apply(session: Any) -> tuple[int, int]:
        low, high = _parse_scale(scale)  # inside: a refusal is worded like any other
        change = examination.CriteriaChange(rows, low, high, team)
        examination.set_criteria(session, year=year, change=change, acting=None, now=now())
        return low, high

    low, high = run(apply)
    typer.echo(f"Omgång {year} har {len(rows)} bedömningsgrunder, skala {low}–{high}.")


def criteria_default(year: Year) -> None:
    """Ge omgången de föreslagna bedömningsgrunderna (om den inte har några)."""
    run(lambda s: examination.seed_default_criteria(s, year=year, now=now()))
    typer.echo(f"Omgång {year}: {rules.DEFAULT_CRITERIA_NOTE}")


def examiners_team(
    entry_id: EntryId,
    examiner: Annotated[list[int], typer.Option("--examiner", help="Examinatorns id.")],
    lead: Annotated[int, typer.Option(help="Huvudexaminatorns id.")],
) -> None:
    """Sätt postens examinatorsteam och huvudexaminator (jävsregeln gäller var och en)."""
    members = run(
        lambda s: examination.set_team(
            s, entry_id=entry_id, members=examiner, lead=lead, acting=None, now=now()
        )
    )
    typer.echo(f"Post {entry_id}: " + _names(members))


def _names(members: list[examination.Member]) -> str:
    return ", ".join(m.name + (" (huvudexaminator)" if m.lead else "") for m in members)


def examiners_class(
    year: Year,
    award_class: Annotated[str, typer.Argument(help="Klassens kod, t.ex. socialtjanst.")],
    pool: Annotated[list[int], typer.Option("--pool", help="Examinator som kan ta uppdrag.")],
) -> None:
    """Fyll alla team i en klass från de angivna examinatorerna, utan jäv."""
    teams = run(
        lambda s: examination.assign_class(
            s, year=year, award_class=award_class, pool=pool, acting=None, now=now()
        )
    )
    for entry_id, members in sorted(teams.items()):
        typer.echo(f"Post {entry_id}: {_names(members)}")
    if not teams:
        typer.echo("Alla poster i klassen har redan fulla team.")


def assessment_list(entry_id: EntryId, as_json: JsonFlag = False) -> None:
    """Visa teamets bedömningar och konsensus för en post."""

    def read(session: Any) -> dict[str, Any]:
        exam = assessments.load(session, None, entry_id)
        return {
            "team": [
                {"user_id": m.user_id, "name": m.name, "lead": m.lead, "status": status}
                for m, status in zip(exam.team, exam.statuses, strict=True)
            ],
            "consensus": exam.consensus.status if exam.consensus else None,
        }

    view = run(read)
    if as_json:
        echo_json(view)
        return
    words = {"submitted": "inlämnad", "draft": "utkast", "missing": "inte påbörjad"}
    for m in view["team"]:
        lead = " (huvudexaminator)" if m["lead"] else ""
        typer.echo(f"  {m['user_id']}  {m['name']}{lead}: {words[m['status']]}")
    consensus = {"submitted": "fastställd", "draft": "utkast", None: "inte påbörjad"}
    typer.echo(f"Konsensus: {consensus[view['consensus']]}.")


def assessment_reopen(
    entry_id: EntryId,
    examiner: Annotated[int, typer.Argument(help="Examinatorns id.")],
    note: Annotated[str, typer.Option(help="Varför bedömningen öppnas igen.")],
) -> None:
    """Öppna en inlämnad bedömning igen (före konsensus); antecknas i granskningsloggen."""
    run(
        lambda s: assessments.reopen_assessment(
            s, entry_id=entry_id, examiner_id=examiner, note=note, acting=None, now=now()
        )
    )
    typer.echo(f"Bedömningen av post {entry_id} är öppnad igen för examinator {examiner}.")


def install(app: typer.Typer) -> None:
    """The three command groups, added to `kvalitet`."""
    criteria_app = typer.Typer(help="Bedömningsgrunder och skala per omgång.", no_args_is_help=True)
    criteria_app.command("show")(criteria_show)
    criteria_app.command("set")(criteria_set)
    criteria_app.command("default")(criteria_default)
    app.add_typer(criteria_app, name="criteria")
    examiners_app = typer.Typer(help="Examinatorsteam.", no_args_is_help=True)
    examiners_app.command("team")(examiners_team)
    examiners_app.command("class")(examiners_class)
    app.add_typer(examiners_app, name="examiners")
    assessment_app = typer.Typer(help="Examinatorernas bedömningar.", no_args_is_help=True)
    assessment_app.command("list")(assessment_list)
    assessment_app.command("reopen")(assessment_reopen)
    app.add_typer(assessment_app, name="assessment")

"""`kvalitet cycle copy --from 2025 --to 2026`: next year's cycle from this one's."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from workflow.entrypoints.cli.values import JsonFlag, echo_json
from workflow.entrypoints.cli.work import actor, now, run
from workflow.services.next_year import CycleCopy, copy_cycle


def cycle_copy(
    from_year: Annotated[int, typer.Option("--from", help="Omgången att utgå från, t.ex. 2025.")],
    to_year: Annotated[int, typer.Option("--to", help="Den nya omgångens år, t.ex. 2026.")],
    as_json: JsonFlag = False,
) -> None:
    """Skapa nästa års omgång från en tidigare: samma datum (flyttade från helger och
    helgdagar), klasser och inställningar. Enheter som deltog erbjuds att anmälas igen."""
    copied = run(
        lambda session: _summary(
            copy_cycle(
                session,
                from_year=from_year,
                to_year=to_year,
                acting=None,
                actor=actor(),
                now=now(),
            )
        )
    )
    if as_json:
        echo_json(copied)
        return
    cycle = copied["cycle"]
    typer.echo(
        f"Omgång {cycle['year']} skapad från {from_year} (id {cycle['id']}): "
        f"bidrag {cycle['contribution_deadline']}, utdrag {cycle['extract_deadline']}, "
        f"vinnare {cycle['winners_date']}."
    )
    for moved in copied["moved"]:
        typer.echo(f"Flyttat: {moved['field']} {moved['from']} → {moved['to']} ({moved['reason']})")
    typer.echo(f"{copied['units_offered']} enheter från {from_year} kan anmälas igen:")
    for offer in copied["offers"]:
        typer.echo(f"  enhet {offer['unit_id']}  {offer['unit']} ({offer['organisation']})")


def _summary(copied: CycleCopy) -> dict[str, Any]:
    """What the command prints, read inside the transaction."""
    return {
        "cycle": copied.cycle.model_dump(mode="json"),
        "moved": [
            {
                "field": m.field,
                "from": m.source.isoformat(),
                "to": m.day.isoformat(),
                "reason": m.reason,
            }
            for m in copied.moved
        ],
        "units_offered": len(copied.offers),
        "offers": [
            {
                "unit_id": o.unit_id,
                "unit": o.unit_name,
                "organisation": o.organisation_name,
                "years": list(o.years),
            }
            for o in copied.offers
        ],
    }

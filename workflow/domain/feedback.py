"""The feedback report (återkopplingsrapport) and its release; pure.

Every participant gets the examiners' feedback, whatever the outcome (seeds 000, 004). The
award office releases a cycle's feedback at once, for all entries or one class: until then no
unit sees it. A release waits for every entry of its scope to have its consensus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workflow.domain.access import Actor, EntryScope, Role, can_see
from workflow.domain.errors import Reason
from workflow.domain.stages import Stage

# Entries past these stages have had their feedback released (the report is theirs to read).
RELEASED_STAGES = frozenset({Stage.FEEDBACK, Stage.JURY})
# Entries a release leaves alone: withdrawn ones, and those already released.
NOT_RELEASED = frozenset({Stage.WITHDRAWN}) | RELEASED_STAGES
SCHEDULED, DONE, REFUSED = "scheduled", "done", "refused"


def points(text: str) -> list[str]:
    """Free text as a list of points: one per non-empty line, list markers dropped."""
    lines = (line.strip().lstrip("-–•*").strip() for line in str(text).splitlines())
    return [line for line in lines if line]


def paragraphs(text: str) -> list[str]:
    """Free text as paragraphs (a blank line between two), each on one line."""
    parts = str(text).replace("\r\n", "\n").split("\n\n")
    return [" ".join(part.split()) for part in parts if part.strip()]


def criteria_feedback(
    names: Sequence[tuple[str, str]], consensus: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per criterion (`names`: id as text, name; in the cycle's order) the consensus's
    strengths and development areas as points; criteria with nothing written are left out."""
    rows = []
    for key, name in names:
        given = consensus.get(key) or {}
        strengths = points(given.get("strengths") or "")
        development = points(given.get("development_areas") or "")
        if strengths or development:
            rows.append({"name": name, "strengths": strengths, "development_areas": development})
    return rows


def feedback_stage_data(criteria: Sequence[Mapping[str, Any]], summary: str) -> dict[str, str]:
    """The `feedback` stage's data from the consensus: strengths and development areas, one
    line per point, each prefixed by its criterion (the summary when none is written)."""

    def lines(field: str) -> str:
        out = [f"{c['name']}: {point}" for c in criteria for point in c[field]]
        return "\n".join(out) or " ".join(summary.split()) or "Se återkopplingsrapporten."

    return {"strengths": lines("strengths"), "development_areas": lines("development_areas")}


def lacking_consensus(unit_names: Sequence[str], scope: str) -> Reason:
    """Why a release is refused: these units' entries have no consensus yet."""
    listed = ", ".join(sorted(unit_names, key=str.casefold))
    return Reason(
        "missing_consensus",
        f"Återkopplingen för {scope} kan inte släppas ännu: examinatorerna har inte fastställt "
        f"konsensus för {len(unit_names)} "
        f"{'anmälan' if len(unit_names) == 1 else 'anmälningar'}: {listed}. Vänta tills "
        "konsensus är klar, eller återkalla anmälningar som inte ska examineras.",
    )


def may_read_report(actor: Actor, entry: EntryScope) -> bool:
    """The admin and the entry's examiners at any time; the unit's contact and its
    organisation's coordinator once the feedback is released (embargo); nobody else (a jury
    member reads the consensus through the jury pack, not the unit's report)."""
    if actor.role in (Role.ADMIN, Role.EXAMINER):
        return can_see(actor, entry)
    if actor.role in (Role.COORDINATOR, Role.UNIT_CONTACT):
        return entry.stage in RELEASED_STAGES and can_see(actor, entry)
    return False

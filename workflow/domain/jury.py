"""The jury committee's rules; pure, standard library only.

A cycle's committee (domarkommittén) has members and exactly one chair. Per class the jury
reads the entries that reached consensus, ranked by their consensus score; each member may
recommend, the chair decides: winner(s) or no winner this year, always with a motivation.
The decision is embargoed until the announcement; only then do the entries move to `jury`
and the outcome e-mails leave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from statistics import mean
from typing import Any

from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import Reason

MAX_MOTIVATION = 5_000
MAX_MEMBERS = 30
# Without a time set by the admin, the decisions are announced on the winners' day at the
# ceremony's start (or at 15.00, the ceremony's usual hour).
DEFAULT_ANNOUNCEMENT_HOUR = time(15, 0)

NOT_MEMBER = Reason("not_jury_member", "Du ingår inte i juryn för den här omgången.")
NOT_CHAIR = Reason("not_chair", "Bara juryns ordförande registrerar beslutet i en klass.")
ALREADY_ANNOUNCED = Reason(
    "already_announced", "Jurybesluten är redan tillkännagivna och kan inte längre ändras."
)
DIRECT_JURY_MOVE = Reason(
    "jury_by_decision",
    "Jurybeslutet registreras av juryns ordförande per klass och meddelas vid "
    "tillkännagivandet; först då flyttas posterna till jurybeslut.",
)


@dataclass(frozen=True)
class Candidate:
    """An entry of the class as the jury weighs it."""

    entry_id: int
    unit: str
    reached_consensus: bool
    budget_in_balance: bool
    score: float | None = None


def consensus_score(criteria: Mapping[str, Any]) -> float | None:
    """The mean of the consensus scores over the criteria scored (None: no score)."""
    scores = [
        float(value["score"])
        for value in criteria.values()
        if isinstance(value, Mapping) and value.get("score") is not None
    ]
    return round(mean(scores), 2) if scores else None


def ranked(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The entries that reached consensus, best consensus score first (then by name)."""
    reached = [c for c in candidates if c.reached_consensus]
    return sorted(reached, key=lambda c: (-(c.score or 0.0), c.unit.casefold(), c.entry_id))


def committee_reasons(
    members: Sequence[int], chairs: Sequence[int], roles: Mapping[int, str | None]
) -> list[Reason]:
    """Why this committee cannot be set: at least one member, members with the jury role,
    exactly one chair who is a member."""
    reasons: list[Reason] = []
    if not members:
        reasons.append(Reason("no_members", "Ange minst en jurymedlem."))
    if len(members) > MAX_MEMBERS:
        reasons.append(Reason("too_many_members", f"Juryn kan ha högst {MAX_MEMBERS} ledamöter."))
    if len(set(members)) != len(members):
        reasons.append(Reason("duplicate_member", "En jurymedlem är angiven två gånger."))
    for user_id in members:
        role = roles.get(user_id)
        if role is None:
            reasons.append(Reason("unknown_user", f"Användaren med id {user_id} finns inte."))
        elif role != "jury":
            reasons.append(
                Reason("not_jury_role", f"Användaren med id {user_id} har inte rollen jury.")
            )
    if not chairs:
        reasons.append(Reason("missing_chair", "Ange vem av ledamöterna som är ordförande."))
    elif len(set(chairs)) > 1:
        reasons.append(Reason("second_chair", "Juryn har redan en ordförande; den kan bara ha en."))
    elif chairs[0] not in members:
        reasons.append(Reason("chair_not_member", "Ordföranden måste vara en av ledamöterna."))
    return reasons


def choice_reasons(
    candidates: Sequence[Candidate],
    winners: Sequence[int],
    motivation: str,
    *,
    class_name: str,
    budget_rule: str,
    require_motivation: bool,
) -> list[Reason]:
    """Why winners `winners` (empty: no winner this year) cannot be chosen in the class."""
    reasons: list[Reason] = []
    if not candidates:
        reasons.append(
            Reason(
                "class_without_entries",
                f"Klassen {class_name} har inga bidrag i omgången; där finns inget att besluta.",
            )
        )
        return reasons
    by_id = {c.entry_id: c for c in candidates}
    if len(set(winners)) != len(winners):
        reasons.append(Reason("duplicate_winner", "En vinnare är angiven två gånger."))
    for entry_id in dict.fromkeys(winners):
        candidate = by_id.get(entry_id)
        if candidate is None:
            reasons.append(
                Reason(
                    "winner_not_in_class",
                    f"Post {entry_id} är inget bidrag i klassen {class_name}.",
                )
            )
        elif not candidate.reached_consensus:
            reasons.append(
                Reason(
                    "winner_without_consensus",
                    f"{candidate.unit} har ingen fastställd konsensusbedömning och kan inte "
                    "utses till vinnare.",
                )
            )
        elif not candidate.budget_in_balance and budget_rule in ("to_win", "to_take_part"):
            reasons.append(
                Reason(
                    "winner_budget_in_balance",
                    f"{candidate.unit} har inte budget i balans; en vinnare måste ha en budget "
                    "i balans.",
                )
            )
    text = motivation.strip()
    if require_motivation and not text:
        reasons.append(Reason("missing_motivation", "Skriv en motivering till beslutet."))
    if len(text) > MAX_MOTIVATION:
        reasons.append(Reason("too_long", f"Motiveringen får vara högst {MAX_MOTIVATION} tecken."))
    return reasons


def default_announcement(winners_date: date, ceremony_starts_at: time | None) -> datetime:
    """The winners' day at the ceremony's start, Stockholm time."""
    return datetime.combine(
        winners_date, ceremony_starts_at or DEFAULT_ANNOUNCEMENT_HOUR, STOCKHOLM
    )


def announcement_reasons(
    undecided: Sequence[str], not_ready: Sequence[str], already: bool
) -> list[Reason]:
    """Why the decisions cannot be announced now: a class with consensus entries but no
    decision, an entry whose feedback is not released yet, or an earlier announcement."""
    reasons: list[Reason] = []
    if already:
        reasons.append(ALREADY_ANNOUNCED)
    if undecided:
        reasons.append(
            Reason(
                "class_undecided",
                "Juryn har inte beslutat i klasserna: " + ", ".join(undecided) + ".",
            )
        )
    if not_ready:
        reasons.append(
            Reason(
                "feedback_not_released",
                "Återkopplingen är ännu inte släppt för: " + ", ".join(not_ready) + ".",
            )
        )
    return reasons

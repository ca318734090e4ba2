"""Eligibility rules, the data each stage needs, and cycle checks; pure, standard library only.

Every check returns *all* the reasons it finds, so a person fixes a form once, not rule by rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from workflow.domain.errors import Reason

MIN_STAFF_INCLUDING_MANAGER = 5
MIN_SHARE_STOCKHOLM_RESIDENTS = 0.51
AWARD_OFFICE_EMAIL = "kvalitetsutmarkelsen@stockholm.se"

# The jury's classes (klasser), code → Swedish name as the seeds write it.
AWARD_CLASSES: Mapping[str, str] = {
    "forskola": "förskola",
    "skola": "skola",
    "aldreomsorg": "äldreomsorg",
    "socialtjanst": "socialtjänst",
    "andra_verksamheter": "andra verksamheter",
}

BOARD_DECISIONS: Mapping[str, str] = {
    "approved": "godkänner deltagandet",
    "noted": "noterar anmälan och lägger den till handlingarna",
}
JURY_OUTCOMES: Mapping[str, str] = {
    "winner": "vinnare i sin klass",
    "not_awarded": "ej tilldelad utmärkelsen",
}


@dataclass(frozen=True)
class UnitFacts:
    """What the award's conditions are checked against (from the unit's registration)."""

    staff_count: int
    manager_has_budget_and_staff_responsibility: bool
    has_business_plan: bool
    share_stockholm_residents: float
    budget_in_balance: bool
    privately_run: bool


def eligibility_reasons(facts: UnitFacts) -> tuple[Reason, ...]:
    """Every rule the unit fails; empty when it may take part."""
    reasons: list[Reason] = []
    if not facts.manager_has_budget_and_staff_responsibility:
        reasons.append(
            Reason("manager_responsibility", "Enheten saknar chef med budget- och personalansvar.")
        )
    if not facts.has_business_plan:
        reasons.append(Reason("business_plan", "Enheten saknar verksamhetsplan med mål."))
    if facts.staff_count < MIN_STAFF_INCLUDING_MANAGER:
        reasons.append(
            Reason(
                "staff_count",
                f"Enheten har {facts.staff_count} medarbetare; minst "
                f"{MIN_STAFF_INCLUDING_MANAGER} inklusive chef krävs.",
            )
        )
    if facts.share_stockholm_residents < MIN_SHARE_STOCKHOLM_RESIDENTS:
        reasons.append(
            Reason(
                "share_stockholm_residents",
                f"{facts.share_stockholm_residents:.0%} av verksamheten riktar sig till "
                f"stockholmare; minst {MIN_SHARE_STOCKHOLM_RESIDENTS:.0%} krävs.",
            )
        )
    return tuple(reasons)


def unit_fact_reasons(staff_count: int, share_stockholm_residents: float) -> tuple[Reason, ...]:
    """Values that cannot be true of any unit (as opposed to values that make it ineligible)."""
    reasons: list[Reason] = []
    if staff_count < 0:
        reasons.append(Reason("staff_count_invalid", "Antal medarbetare kan inte vara negativt."))
    if not 0.0 <= share_stockholm_residents <= 1.0:
        reasons.append(
            Reason(
                "share_invalid",
                "Andelen för stockholmare anges som ett tal mellan 0 och 1 (t.ex. 0.8).",
            )
        )
    return tuple(reasons)


def normalise_award_class(value: str) -> str | None:
    """The class code for a code or a Swedish name ("socialtjänst" → "socialtjanst")."""
    # NFC: a pasted "ä" may arrive as "a" plus a combining mark.
    wanted = unicodedata.normalize("NFC", value).strip().lower()
    for code, name in AWARD_CLASSES.items():
        if wanted in (code, name):
            return code
    return None


# The years a person can mean here. Anything else is a typo, and 9999-12-31 would break every
# calendar feed it appears in (an all-day event ends the day after).
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100

# Characters no name may hold: control characters (they make DOCX and XLSX files invalid and
# can break a line in a report or header), line and paragraph separators, and the bidirectional
# overrides that make a name read differently from what it is.
_UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MAX_NAME_LENGTH = 200


def without_unsafe_characters(value: str) -> str:
    """`value` with what `name_reasons` refuses taken out (for names nobody typed, like an
    uploaded file's)."""
    return _UNSAFE_IN_NAMES.sub("", value)


def date_reason(label: str, day: date) -> Reason | None:
    """Why `day` cannot be a date of the award process, or None."""
    if EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        return None
    return Reason(
        "implausible_date",
        f"{label} ({day.isoformat()}) ligger inte mellan år {EARLIEST_YEAR} och {LATEST_YEAR}.",
    )


def name_reasons(label: str, value: str, missing: str = "missing_name") -> tuple[Reason, ...]:
    """Why `value` cannot be the name of an organisation, board or unit; empty if it can."""
    if not value.strip():
        return (Reason(missing, f"{label} saknas."),)
    reasons = []
    if _UNSAFE_IN_NAMES.search(value):
        reasons.append(
            Reason(
                "invalid_characters",
                f"{label} innehåller radbrytningar eller andra styrtecken: {value!r}.",
            )
        )
    if len(value.strip()) > MAX_NAME_LENGTH:
        reasons.append(Reason("name_too_long", f"{label} får vara högst {MAX_NAME_LENGTH} tecken."))
    return tuple(reasons)


def cycle_reasons(
    year: int, contribution_deadline: date, extract_deadline: date, winners_date: date
) -> tuple[Reason, ...]:
    """A cycle's dates must lie in its year and come in the order the process runs."""
    reasons: list[Reason] = []
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        reasons.append(
            Reason(
                "implausible_year",
                f"Året {year} ligger inte mellan {EARLIEST_YEAR} och {LATEST_YEAR}.",
            )
        )
    named = {
        "contribution_deadline": contribution_deadline,
        "extract_deadline": extract_deadline,
        "winners_date": winners_date,
    }
    for name, day in named.items():
        if day.year != year:
            reasons.append(Reason("date_outside_year", f"{name} ({day}) ligger inte år {year}."))
    if contribution_deadline > extract_deadline:
        reasons.append(
            Reason(
                "deadlines_out_of_order",
                "Sista dag för bidraget får inte ligga efter sista dag för protokollsutdraget.",
            )
        )
    if extract_deadline >= winners_date:
        reasons.append(
            Reason(
                "deadlines_out_of_order",
                "Vinnarna utses efter sista dag för protokollsutdraget.",
            )
        )
    return tuple(reasons)


def parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def is_email(value: str) -> bool:
    """A plain address, nothing that could smuggle a second header or recipient."""
    return bool(_EMAIL.match(value)) and "\n" not in value and "\r" not in value


# A unit's earlier participation may reach back before the cycles this system has held.
EARLIEST_PARTICIPATION_YEAR = 1900


def unknown_award_class(name: str) -> Reason:
    """The refusal of a class the award does not have, listing the ones it has."""
    known = ", ".join(AWARD_CLASSES)
    return Reason("unknown_award_class", f"Okänd klass '{name}' (giltiga: {known}).")


# Whether a budget in balance is a condition of winning or of taking part at all; the seeds
# differ (Östermalm 2021: to win; Bromma 2024: to take part), so each cycle says.
BUDGET_RULES: Mapping[str, str] = {
    "to_win": "Budget i balans krävs för att vinna",
    "to_take_part": "Budget i balans krävs för att delta",
}
DEFAULT_BUDGET_RULE = "to_win"

# The prize cheque (prischeck) each winner gets, in whole kronor, unless the cycle says otherwise.
DEFAULT_PRIZE_AMOUNT = 50_000
MAX_PRIZE_AMOUNT = 10_000_000


def prize_amount_reasons(amount: object) -> tuple[Reason, ...]:
    """Why `amount` cannot be a cycle's prize cheque (whole kronor, 0 to 10 000 000), if so."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        return (Reason("invalid_prize_amount", "Prissumman ska anges i hela kronor."),)
    if not 0 <= amount <= MAX_PRIZE_AMOUNT:
        return (
            Reason(
                "invalid_prize_amount",
                "Prissumman ska vara mellan 0 och 10 000 000 kronor.",
            ),
        )
    return ()


def budget_rule_reason(rule: str) -> Reason | None:
    """Why `rule` is not a budget rule a cycle can have, or None."""
    if rule in BUDGET_RULES:
        return None
    known = ", ".join(BUDGET_RULES)
    return Reason("unknown_budget_rule", f"Okänd budgetregel '{rule}' (giltiga: {known}).")


def budget_reasons(budget_rule: str, budget_in_balance: bool) -> tuple[Reason, ...]:
    """At registration: a unit without a budget in balance is refused when the cycle makes the
    budget a condition of taking part ("to_take_part"); under "to_win" the jury checks it."""
    if budget_rule == "to_take_part" and not budget_in_balance:
        return (
            Reason(
                "budget_in_balance",
                "Enheten har inte budget i balans; i den här omgången krävs det för att delta.",
            ),
        )
    return ()

"""A message the award office writes to a group (skriv till en grupp); pure, stdlib only.

The admin chooses the group by a filter (`GroupFilter`), writes a subject and a plain text with
placeholders from `PLACEHOLDERS`, and every recipient gets the text filled in with their own
values. Recipients are addresses: a coordinator of several matching units, or a contact person
of two units, gets one message that names all of them (the outbox key is the address).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache

from workflow.domain.errors import Reason
from workflow.domain.rules import AWARD_CLASSES
from workflow.domain.stages import Stage

MAX_SUBJECT = 200
MAX_TEXT = 20_000

# The placeholders a text may use, with what each becomes (shown on the page, in the API's
# description and in `kvalitet message --help`). A message about several entries (a
# coordinator's) names every unit, and gives the earliest date and the list of the entries.
PLACEHOLDERS: Mapping[str, str] = {
    "enhet": "enhetens namn (flera enheter: ”A, B och C”)",
    "organisation": "förvaltningens eller bolagets namn",
    "datum": "sista dag, t.ex. ”den 17 maj 2027”: för protokollsutdraget när urvalet är "
    "”protokollsutdrag saknas”, annars för det skriftliga bidraget; postens egen förlängda dag "
    "när den har en (flera poster: den tidigaste)",
    "länk": "länken till postens sida (flera poster: en länk per rad)",
    "år": "årets utmärkelse, t.ex. 2027",
    "klass": "klassen, t.ex. äldreomsorg",
    "dnr": "postens diarienummer (tomt när den saknar ett)",
}
_PLACEHOLDER = re.compile(r"\{([^{}\n]{0,40})\}")
# What a subject may not hold: line breaks and other control or direction characters.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class Audience(StrEnum):
    UNITS = "units"  # enheternas kontaktpersoner
    COORDINATORS = "coordinators"  # organisationernas samordnare
    BOTH = "both"


AUDIENCE_LABELS_SV: Mapping[Audience, str] = {
    Audience.UNITS: "Enheterna",
    Audience.COORDINATORS: "Samordnarna",
    Audience.BOTH: "Enheterna och samordnarna",
}


@dataclass(frozen=True)
class GroupFilter:
    """Which entries of one year the message is about, and who of theirs receives it. Without
    a stage, withdrawn entries are left out (nobody writes to a unit that has left)."""

    year: int
    audience: Audience = Audience.UNITS
    award_class: str | None = None
    stage: Stage | None = None
    organisation_id: int | None = None
    not_submitted: bool = False  # no written contribution yet (nor one kept for later)
    extract_missing: bool = False  # a city-run entry whose minutes extract has not been sent

    def as_dict(self) -> dict[str, object]:
        return {
            "year": self.year,
            "audience": self.audience.value,
            "award_class": self.award_class,
            "stage": self.stage.value if self.stage else None,
            "organisation_id": self.organisation_id,
            "not_submitted": self.not_submitted,
            "extract_missing": self.extract_missing,
        }


def parse_filter(
    *,
    year: int | None,
    audience: str | None,
    award_class: str | None = None,
    stage: str | None = None,
    organisation_id: int | None = None,
    not_submitted: bool = False,
    extract_missing: bool = False,
    classes: Sequence[str] | None = None,
) -> GroupFilter | list[Reason]:
    """The filter, or every reason it cannot be one. `classes`: the year's classes, when known."""
    reasons: list[Reason] = []
    if year is None:
        reasons.append(Reason("missing_year", "Välj vilket år meddelandet gäller."))
    try:
        chosen = Audience(audience or Audience.UNITS.value)
    except ValueError:
        chosen = Audience.UNITS
        reasons.append(
            Reason(
                "invalid_audience",
                f"Okänd mottagargrupp '{audience}'. Välj enheterna, samordnarna eller båda.",
            )
        )
    stage_value: Stage | None = None
    if stage:
        try:
            stage_value = Stage(stage)
        except ValueError:
            reasons.append(Reason("invalid_stage", f"Okänt steg '{stage}'."))
    if award_class:
        known = classes if classes is not None else tuple(AWARD_CLASSES)
        if award_class not in known:
            reasons.append(Reason("invalid_class", f"Klassen '{award_class}' finns inte det året."))
    if reasons or year is None:
        return reasons
    return GroupFilter(
        year=year,
        audience=chosen,
        award_class=award_class or None,
        stage=stage_value,
        organisation_id=organisation_id,
        not_submitted=not_submitted,
        extract_missing=extract_missing,
    )


# --- the words ----------------------------------------------------------------------------


def placeholders_in(text: str) -> list[str]:
    """The placeholders `text` names, in order of first use."""
    return list(dict.fromkeys(match.group(1) for match in _PLACEHOLDER.finditer(text)))


def text_reasons(subject: str, text: str) -> list[Reason]:
    """Why the subject and text cannot be sent (empty, too long, control characters, or a
    placeholder that is not in `PLACEHOLDERS`); empty when they can."""
    reasons: list[Reason] = []
    if not subject.strip():
        reasons.append(Reason("missing_subject", "Ämnesraden behövs."))
    elif len(subject) > MAX_SUBJECT or _UNSAFE.search(subject):
        reasons.append(
            Reason(
                "invalid_subject",
                f"Ämnesraden får vara högst {MAX_SUBJECT} tecken på en rad, utan styrtecken.",
            )
        )
    if not text.strip():
        reasons.append(Reason("missing_text", "Texten behövs."))
    elif len(text) > MAX_TEXT:
        reasons.append(
            Reason("text_too_long", f"Texten är {len(text)} tecken; högst {MAX_TEXT} går.")
        )
    elif _UNSAFE_IN_TEXT.search(text):
        reasons.append(Reason("invalid_text", "Texten innehåller styrtecken som inte kan skickas."))
    unknown = [name for name in placeholders_in(f"{subject}\n{text}") if name not in PLACEHOLDERS]
    if unknown:
        named = ", ".join("{" + name + "}" for name in unknown)
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        reasons.append(
            Reason(
                "unknown_placeholder",
                f"Okänd platshållare {named}. De som går att använda är {known}.",
            )
        )
    return reasons


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each known placeholder replaced by its value (check `text_reasons` first:
    an unknown one is left as written)."""
    return "".join(
        (values.get(part, "{" + part + "}") if i % 2 else part)
        for i, part in enumerate(_parts(text))
    )


@lru_cache(maxsize=64)  # one text, filled in for thousands of recipients
def _parts(text: str) -> tuple[str, ...]:
    """Literal text and placeholder names, alternating (the names at odd positions)."""
    return tuple(_PLACEHOLDER.split(text))


# --- the recipients -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One matching entry as a group message needs it."""

    entry_id: int
    year: int
    award_class: str
    unit: str
    organisation: str
    unit_email: str
    coordinator_email: str
    contribution_due: date  # the entry's own dates: an extension replaces the cycle's
    extract_due: date
    case_number: str | None = None


@dataclass(frozen=True)
class GroupRecipient:
    """One address and the entries its message is about (`roles`: unit, coordinator)."""

    address: str
    roles: tuple[str, ...]
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Unreachable:
    """A matching entry that one of the chosen recipients cannot be written to about."""

    target: Target
    missing: str  # unit | coordinator


@dataclass(frozen=True)
class Recipients:
    reached: tuple[GroupRecipient, ...]
    unreachable: tuple[Unreachable, ...] = field(default=())


def recipients(targets: Sequence[Target], audience: Audience) -> Recipients:
    """Who receives the message: one per address (compared without case), in the order the
    entries came; entries with nobody to write to (for each chosen role) as unreachable."""
    roles = {
        Audience.UNITS: ("unit",),
        Audience.COORDINATORS: ("coordinator",),
        Audience.BOTH: ("unit", "coordinator"),
    }[audience]
    by_address: dict[str, tuple[str, list[str], dict[int, Target]]] = {}
    unreachable: list[Unreachable] = []
    for target in targets:
        for role in roles:
            address = (target.unit_email if role == "unit" else target.coordinator_email).strip()
            if not address:
                unreachable.append(Unreachable(target, role))
                continue
            found = by_address.get(address.lower())
            if found is None:
                by_address[address.lower()] = (address, [role], {target.entry_id: target})
                continue
            if role not in found[1]:
                found[1].append(role)
            found[2].setdefault(target.entry_id, target)
    reached = tuple(
        GroupRecipient(address, tuple(its_roles), tuple(its_targets.values()))
        for address, its_roles, its_targets in by_address.values()
    )
    return Recipients(reached, tuple(unreachable))


def placeholder_values(
    targets: Sequence[Target],
    *,
    public_url: str,
    extract: bool,
    date_words: Callable[[date], str],
) -> dict[str, str]:
    """Each placeholder's value for a message about `targets` (at least one). `extract`: the
    group was chosen for a missing extract, so {datum} is the extract's deadline.
    `date_words` writes a date in Swedish ("17 maj 2027")."""
    base = public_url.rstrip("/")
    if len(targets) == 1:  # most messages: one unit's own
        (one,) = targets
        return {
            "enhet": one.unit,
            "organisation": one.organisation,
            "datum": f"den {date_words(one.extract_due if extract else one.contribution_due)}",
            "länk": f"{base}/entries/{one.entry_id}",
            "år": str(one.year),
            "klass": AWARD_CLASSES.get(one.award_class, one.award_class),
            "dnr": one.case_number or "",
        }
    dues = [t.extract_due if extract else t.contribution_due for t in targets]
    return {
        "enhet": _listed(t.unit for t in targets),
        "organisation": _listed(t.organisation for t in targets),
        "datum": f"den {date_words(min(dues))}",
        "länk": "\n".join(f"{base}/entries/{t.entry_id}" for t in targets),
        "år": _listed(str(t.year) for t in targets),
        "klass": _listed(AWARD_CLASSES.get(t.award_class, t.award_class) for t in targets),
        "dnr": _listed(t.case_number for t in targets if t.case_number),
    }


def _listed(items: Iterable[object]) -> str:
    """Distinct values in order, as Swedish lists them: "A", "A och B", "A, B och C"."""
    words = list(dict.fromkeys(str(item) for item in items))
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} och {words[-1]}"

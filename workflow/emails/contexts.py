"""What each kind of e-mail says: one context builder per kind, registered with `@_email`.

A builder only derives what its templates need from the outbox payload (the warehouse
pattern); `context_for` adds what every letter shares. The kind's name is its template folder,
`templates/email/<kind>/`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from workflow import swedish
from workflow.domain.rules import AWARD_OFFICE_EMAIL, is_email

ContextBuilder = Callable[[Mapping[str, Any], date | None], dict[str, Any]]
_BUILDERS: dict[str, ContextBuilder] = {}


def _email(kind: str) -> Callable[[ContextBuilder], ContextBuilder]:
    """Register the context builder of the e-mail kind `kind` (its template folder's name)."""

    def register(builder: ContextBuilder) -> ContextBuilder:
        _BUILDERS[kind] = builder
        return builder

    return register


def _stage_data(payload: Mapping[str, Any], stage: str) -> Mapping[str, Any]:
    """The data recorded with `stage`, or kept for it ahead of time; KeyError when neither."""
    facts: Mapping[str, Any] = payload["facts"]
    if stage in facts:
        return facts[stage]  # type: ignore[no-any-return]
    pending: Mapping[str, Any] = payload["pending"]
    return pending[stage]  # type: ignore[no-any-return]


@_email("notification_receipt")
@_email("agenda_request")
@_email("withdrawal_confirmation")
def _payload_only(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    return {}


@_email("password_link")
def _password_link(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    return {"expires_label": swedish.tid(str(payload["expires_at"]))}


@_email("board_decision_recorded")
@_email("extract_to_award_office")
def _board_decision(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    decision = _stage_data(payload, "board_decision")
    if decision["decision"] not in ("approved", "noted"):
        raise ValueError(f"Okänt nämndbeslut: {decision['decision']!r}")
    return {
        "decision": decision["decision"],
        "meeting_date": decision["meeting_date"],
        "paragraph": swedish.paragraf(str(decision["paragraph"])),
    }


@_email("contribution_receipt")
def _contribution(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    contribution = _stage_data(payload, "submitted")
    return {
        # Kept ahead of its stage: the board decision or the extract is still missing.
        "kept_for_later": "submitted" in payload["pending"],
        "board_decided": "board_decision" in payload["facts"],
        "submitted_on": contribution.get("submitted_on"),
        "title": contribution.get("title"),
    }


@_email("site_visit_notice")
@_email("site_visit_cancelled")
def _site_visit(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    examined = payload["facts"].get("examined", {})
    site_visit_on = payload.get("site_visit_on") or examined.get("site_visit_on")
    if not site_visit_on:
        raise KeyError("site_visit_on")
    # The examiners assigned when the visit was booked; an older notice names the one the
    # examination recorded, if any.
    examiners = [" ".join(str(name).split()) for name in payload.get("examiners") or ()]
    if not examiners and examined.get("examiner"):
        examiners = [" ".join(str(examined["examiner"]).split())]
    return {
        "site_visit_on": site_visit_on,
        "examiners": [name for name in examiners if name],
        # Swedish style "kl. 9.00–12.00"; a notice queued before hours were booked has none.
        "site_visit_hours": swedish.hours_span(payload.get("starts_at"), payload.get("ends_at")),
    }


@_email("feedback_letter")
def _feedback(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    feedback = payload["facts"]["feedback"]
    return {
        "strengths": _points(feedback["strengths"]),
        "development_areas": _points(feedback["development_areas"]),
    }


@_email("jury_outcome")
def _jury(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    jury = payload["facts"]["jury"]
    outcome = jury["outcome"]
    if outcome not in ("winner", "not_awarded"):
        raise ValueError(f"Okänt utfall från domarkommittén: {outcome!r}")
    return {"outcome": outcome, "motivation": str(jury.get("motivation") or "").strip()}


@_email("ceremony_invitation")
def _ceremony(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    units = [" ".join(str(name).split()) for name in payload["units"]]
    if not units:
        raise ValueError("Inbjudan till ceremonin saknar enheter.")
    return {
        "units": units,
        "coordinator_of": list(payload.get("coordinator_of") or ()),
        "ceremony_on": date.fromisoformat(str(payload["ceremony_on"])),
        # Swedish style "kl. 15.00–17.00", from the cycle's hours as queued.
        "ceremony_hours": swedish.hours_span(payload["starts_at"], payload["ends_at"]),
    }


@_email("ceremony_moved")
def _ceremony_moved(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    previous = (payload.get("previous_starts_at"), payload.get("previous_ends_at"))
    return {
        **_ceremony(payload, today),
        "previous_on": date.fromisoformat(str(payload["previous_on"])),
        "previous_hours": swedish.hours_span(*previous) if all(previous) else "",
    }


@_email("reminder")
@_email("overdue")
@_email("escalation")
def _deadline(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    if payload["deadline_kind"] not in ("contribution", "extract"):
        raise ValueError(f"Okänd tidsfrist: {payload['deadline_kind']!r}")
    deadline = date.fromisoformat(str(payload["deadline"]))
    # A reminder moved to the working day before a weekend or holiday is sent more days ahead
    # than its offset says, so count from the day it is dated when that is known.
    days_left = (deadline - today).days if today is not None else int(payload["days_before"])
    return {"deadline_date": deadline, "days_left": days_left}


@_email("deadline_extended")
def _extension(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    kind = payload["deadline_kind"]
    if kind not in ("contribution", "extract"):
        raise ValueError(f"Okänd tidsfrist: {kind!r}")
    previous = payload.get("previous_deadline")
    return {
        "deadline_date": date.fromisoformat(str(payload["extended_until"])),
        "previous_date": date.fromisoformat(str(previous)) if previous else None,
    }


@_email("group_message")
def _group(payload: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    """The award office's own text, filled in when queued, as the HTML part's paragraphs:
    each a list of lines, each line split into (text, is_link) pieces."""
    text = str(payload["group_text"]).replace("\r\n", "\n")
    return {
        "group_paragraphs": [
            [_linked(line) for line in block.split("\n")]
            for block in text.split("\n\n")
            if block.strip()
        ]
    }


_LINK = re.compile(r"(https?://[^\s<>\"]+[^\s<>\".,;:!?)])")


def _linked(line: str) -> list[tuple[str, bool]]:
    """A line as pieces of text and links (Jinja's `urlize` costs a millisecond a letter)."""
    return [(piece, i % 2 == 1) for i, piece in enumerate(_LINK.split(line)) if piece]


def _points(text: str) -> list[str]:
    """Free text as a list of points: one per non-empty line, list markers dropped."""
    points = [line.strip().lstrip("-–•*").strip() for line in str(text).splitlines()]
    return [point for point in points if point]


EMAIL_KINDS: frozenset[str] = frozenset(_BUILDERS)

# Keys a payload may carry but need not; templates test them with `{% if … %}`.
_OPTIONAL: Mapping[str, Any] = {
    "contribution_deadline": None,  # ISO date of the cycle's deadline for the contribution
    "extract_deadline": None,  # ISO date of the cycle's deadline for the minutes extract
    "privately_run": None,  # True/False when known: privately run units have no board
    "award_office_email": AWARD_OFFICE_EMAIL,
    "coordinator_email": None,  # the organisation's coordinator, when it has one
    "organisation_kind": None,  # forvaltning | bolag: a bolag's decision is its styrelse's
    "case_number": None,  # the entry's diarienummer: every subject then carries "[Dnr …]"
    "winners_date": None,  # ISO date the jury names the winners (the prize ceremony's day)
    # Added by the renderer from the settings (see `rendering`), never frozen in a payload.
    "entry_link": None,
    "award_office_name": "Kvalitetsutmärkelsen",
    "award_office_contact": None,
    # Written to the coordinator because the unit has no address: the letter says so first.
    "unit_unreachable": False,
    # An escalation's addressee: the organisation's escalation contact, or the award office.
    "escalated_to": None,
}
# The award office's own mail about an organisation's case: a reply goes to that
# organisation's coordinator, not back to the office.
_REPLY_TO_COORDINATOR = frozenset({"extract_to_award_office"})
# Sent by the system for the organisation, not by the award office: From names the
# organisation ("… via Kvalitetsutmärkelsen"), and the letter is not signed by the office.
SENT_FOR_ORGANISATION = frozenset({"extract_to_award_office"})
# Names that appear in subjects and single lines: never more than one line.
_ONE_LINE = ("unit", "organisation", "board", "case_number")


def context_for(
    kind: str, payload: Mapping[str, Any], *, today: date | None = None
) -> dict[str, Any]:
    """The template context of `kind` for an outbox payload.

    `today` is the Stockholm day the message is dated (reminders count days left from it).
    Raises ValueError for an unknown kind and KeyError/ValueError for data the kind needs
    but the payload lacks.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"Okänd e-posttyp: {kind!r} (kända: {', '.join(sorted(EMAIL_KINDS))})")
    context: dict[str, Any] = {**_OPTIONAL, **payload}
    if not context["award_office_email"]:  # a cycle without its own address
        context["award_office_email"] = AWARD_OFFICE_EMAIL
    for name in _ONE_LINE:
        if isinstance(context.get(name), str):
            context[name] = " ".join(context[name].split())
    context.update(builder(context, today))
    # Who decides, in the words of the seeds: a förvaltning's nämnd, a bolag's styrelse.
    company = context["organisation_kind"] == "bolag"
    context["decider"] = "styrelsen" if company else "nämnden"
    context["deciders"] = "styrelsens" if company else "nämndens"
    coordinator = context["coordinator_email"]
    replies_to_coordinator = kind in _REPLY_TO_COORDINATOR and coordinator and is_email(coordinator)
    context["reply_address"] = coordinator if replies_to_coordinator else None
    return context

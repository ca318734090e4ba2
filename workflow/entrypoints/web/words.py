"""The pages' words: Swedish labels for fields, moves, statuses and errors, and the Jinja
filters that show dates, sizes and durations as a Swedish reader expects them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from babel.dates import format_timedelta

from workflow.domain.calendar import STOCKHOLM
from workflow.domain.rules import AWARD_CLASSES, BOARD_DECISIONS, JURY_OUTCOMES
from workflow.domain.stages import STAGE_LABELS_SV, Stage
from workflow.emails import datum

FIELD_LABELS: Mapping[str, str] = {
    "decision": "Nämndens beslut",
    "meeting_date": "Sammanträdesdatum",
    "paragraph": "Paragraf i protokollet",
    "sent_on": "Skickat den",
    "submitted_on": "Inlämnat den",
    "title": "Bidragets titel",
    "site_visit_on": "Platsbesök den",
    "examiner": "Examinator",
    "strengths": "Styrkor",
    "development_areas": "Utvecklingsområden",
    "outcome": "Jurybeslut",
    "award_class": "Klass",
    "year": "År",
    "kept_for": "Registrerat i förväg för",
    "starts_at": "Börjar",
    "ends_at": "Slutar",
}
# Facts that are not stages, as the entry page heads them.
FACT_GROUP_LABELS: Mapping[str, str] = {"site_visit": "Platsbesök"}
FIELD_HINTS: Mapping[str, str] = {"paragraph": "Till exempel § 12."}
LONG_TEXT_FIELDS = frozenset({"strengths", "development_areas"})
CHOICE_LABELS: Mapping[str, Mapping[str, str]] = {
    "decision": BOARD_DECISIONS,
    "outcome": JURY_OUTCOMES,
}
ACTION_LABELS: Mapping[Stage, str] = {
    Stage.BOARD_DECISION: "Registrera nämndbeslut",
    Stage.EXTRACT_SENT: "Registrera att protokollsutdraget är skickat",
    Stage.SUBMITTED: "Registrera inlämnat bidrag",
    Stage.EXAMINED: "Registrera examinationen",
    Stage.FEEDBACK: "Registrera återkopplingen",
    Stage.JURY: "Registrera jurybeslut",
    Stage.WITHDRAWN: "Återkalla deltagandet",
}
STATUS_LABELS: Mapping[str, str] = {
    "queued": "I kö",
    "sent": "Skickat",
    "failed": "Misslyckat",
    "cancelled": "Behövs inte",
}
DOCUMENT_LABELS: Mapping[str, str] = {
    "extract": "Protokollsutdrag",
    "contribution": "Skriftligt bidrag",
}
NOTICES: Mapping[str, str] = {
    "moved": "Ändringen är sparad.",
    "uploaded": "Filen är uppladdad.",
    "site_visit": "Platsbesöket är bokat och enheten får ett meddelande.",
    "examiner": "Examinatorn är tilldelad posten och ser den nu.",
    "retried": "Meddelandet ligger i kön igen och skickas strax.",
    "logged_out": "Du är utloggad.",
}
ERROR_TITLES: Mapping[int, str] = {
    400: "Felaktig begäran",
    403: "Åtkomst nekad",
    404: "Sidan finns inte",
    405: "Metoden är inte tillåten",
    409: "Posten har ändrats",
    413: "Filen är för stor",
    422: "Uppgifterna kunde inte sparas",
    429: "För många försök",
    503: "Tjänsten är inte tillgänglig just nu",
}
# Field-level messages by the domain's stable reason codes; other reasons are shown as given.
FIELD_REASON_MESSAGES: Mapping[str, str] = {
    "missing_field": "Fältet måste fyllas i.",
    "invalid_date": "Ange ett datum som ÅÅÅÅ-MM-DD.",
    "invalid_choice": "Välj ett av alternativen.",
}


def today() -> date:
    """Today in Stockholm, which is what "i dag" means on a page."""
    return datetime.now(UTC).astimezone(STOCKHOLM).date()


def tid(value: datetime | str) -> str:
    """A timestamp in Stockholm time: "2 april 2024 kl. 11.30"."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(STOCKHOLM)
    return f"{datum(local.date())} kl. {local:%H.%M}"


def swedish_date(value: date | datetime | str) -> str:
    try:
        return datum(value)
    except (TypeError, ValueError):
        return str(value)


def klass(code: str) -> str:
    return AWARD_CLASSES.get(code, code)


def stage_label(code: str | None) -> str:
    try:
        return STAGE_LABELS_SV[Stage(code or "")]
    except ValueError:
        return FACT_GROUP_LABELS.get(str(code), str(code))


def filesize(size: int) -> str:
    if size < 1024:
        return f"{size} byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def days_from_today(day: date) -> str:
    days = (day - today()).days
    if days == 0:
        return "i dag"
    if days == 1:
        return "i morgon"
    if days == -1:
        return "i går"
    return f"om {days} dagar" if days > 0 else f"för {-days} dagar sedan"


def fact_value(name: str, value: Any) -> str:
    """A recorded value as a person reads it: dates in Swedish, codes as their names."""
    text = str(value)
    if name in CHOICE_LABELS:
        label = CHOICE_LABELS[name].get(text, text)
        return label[:1].upper() + label[1:]
    if name == "award_class":
        label = klass(text)
        return label[:1].upper() + label[1:]
    if name == "kept_for":
        return stage_label(text)
    if name.endswith(("_on", "_date")):
        return swedish_date(text)
    return text


def duration(seconds: float) -> str:
    """'7 minuter', '5 timmar': how long something has waited, in Swedish."""
    return str(format_timedelta(timedelta(seconds=seconds), locale="sv_SE"))

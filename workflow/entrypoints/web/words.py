"""The pages' words: Swedish labels for fields, moves, statuses and errors, and how a recorded
value reads on a page (the formatters themselves are `workflow.swedish`'s)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from workflow import swedish
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.rules import BOARD_DECISIONS, JURY_OUTCOMES
from workflow.domain.stages import STAGE_LABELS_SV, Stage

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
    "motivation": "Motivering",
    "award_class": "Klass",
    "year": "År",
    "kept_for": "Registrerat i förväg för",
    "starts_at": "Börjar",
    "ends_at": "Slutar",
}
# Facts that are not stages, as the entry page heads them.
FACT_GROUP_LABELS: Mapping[str, str] = {"site_visit": "Platsbesök"}
FIELD_HINTS: Mapping[str, str] = {"paragraph": "Till exempel § 12."}
LONG_TEXT_FIELDS = frozenset({"strengths", "development_areas", "motivation"})
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
    "held": "Pausat",
    "sent": "Skickat",
    "failed": "Misslyckat",
    "cancelled": "Behövs inte",
    "undeliverable": "Saknar mottagare",
}
DOCUMENT_LABELS: Mapping[str, str] = {
    "extract": "Protokollsutdrag",
    "contribution": "Skriftligt bidrag",
}
NOTICES: Mapping[str, str] = {
    "moved": "Ändringen är sparad.",
    "criteria": "Bedömningsgrunderna är sparade.",
    "team": "Examinatorsteamet är sparat.",
    "feedback_released": "Återkopplingen är släppt; breven med rapporterna är på väg.",
    "feedback_scheduled": "Släppet av återkopplingen är inplanerat.",
    "draft": "Utkastet är sparat. Ni kan fortsätta senare.",
    "assessment": "Bedömningen är inlämnad och låst.",
    "reopened": "Bedömningen är öppnad igen.",
    "consensus": "Konsensus är fastställd och posten är examinerad.",
    "uploaded": "Filen är uppladdad.",
    "site_visit": "Platsbesöket är bokat och enheten får ett meddelande.",
    "examiner": "Examinatorn är tilldelad posten och ser den nu.",
    "retried": "Meddelandet ligger i kön igen och skickas strax.",
    "held": "Meddelandet är pausat och skickas inte förrän det släpps.",
    "released": "Meddelandet är släppt och skickas strax.",
    "cancelled": "Meddelandet är stoppat och skickas inte.",
    "edited": "Ändringen är sparad; meddelandet skickas med den nya texten.",
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


def stage_label(code: str | None) -> str:
    try:
        return STAGE_LABELS_SV[Stage(code or "")]
    except ValueError:
        return FACT_GROUP_LABELS.get(str(code), str(code))


def days_from_today(day: date) -> str:
    return swedish.days_from(day, today())


def fact_value(name: str, value: Any) -> str:
    """A recorded value as a person reads it: dates in Swedish, codes as their names."""
    text = str(value)
    if name in CHOICE_LABELS:
        return swedish.versal(CHOICE_LABELS[name].get(text, text))
    if name == "award_class":
        return swedish.versal(swedish.klass_or_code(text))
    if name == "kept_for":
        return stage_label(text)
    if name.endswith(("_on", "_date")):
        return swedish.datum_or_text(text)
    return text

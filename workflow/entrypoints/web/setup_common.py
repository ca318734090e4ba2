"""What the setup pages (cycles, organisations, units, users, registration) share: who may
use them, reading their forms, and placing each refusal beside the field it concerns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session
from starlette.datastructures import FormData

from workflow.domain.access import Role
from workflow.domain.errors import Forbidden, InvalidInput, Reason, refusal
from workflow.domain.rules import parse_date
from workflow.entrypoints.web.pages import WebUser, render
from workflow.entrypoints.web.session import current_user, form_text

# Notices after a saved change (`?ok=`), in the setup pages' own words.
SETUP_NOTICES: Mapping[str, str] = {
    "created": "Uppgifterna är sparade.",
    "saved": "Ändringen är sparad.",
    "imported": "Enheterna är inlästa.",
    "link_sent": "En ny länk för att välja lösenord skickas till användarens e-post.",
    "deactivated": "Användaren är inaktiverad och kan inte längre logga in.",
    "invited": "Inbjudan till ceremonin är köad till de deltagande enheterna och samordnarna.",
}


def admin(session: Session, request: Request) -> WebUser:
    """The logged-in award office (403 for every other role)."""
    user = current_user(session, request)
    if user.actor.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", "Bara utmärkelsens kansli kan använda sidan.")
    return user


def admin_or_coordinator(session: Session, request: Request) -> WebUser:
    user = current_user(session, request)
    if user.actor.role not in (Role.ADMIN, Role.COORDINATOR):
        raise refusal(Forbidden, "forbidden", "Din roll kan inte använda sidan.")
    return user


@dataclass
class FormState:
    """A form as typed, with each refusal beside its field and the rest above the form."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.general)


FieldOf = Callable[[Reason], str | None]


def place_reasons(
    state: FormState, reasons: Iterable[Reason], by_code: Mapping[str, str | FieldOf]
) -> FormState:
    """Each reason beside the field `by_code` names for its code (or a function of it), the
    others above the form. Two reasons on one field are both shown."""
    for reason in reasons:
        where = by_code.get(reason.code)
        name = where(reason) if callable(where) else where
        if name is None:
            state.general.append(reason.message)
        elif name in state.errors:
            state.errors[name] += " " + reason.message
        else:
            state.errors[name] = reason.message
    return state


def field_named_in(*names: str) -> FieldOf:
    """The first of `names` the reason's message mentions (messages that name a field)."""
    return lambda reason: next((n for n in names if n in reason.message), None)


def form_values(form: FormData, names: Iterable[str], limit: int = 2000) -> dict[str, str]:
    return {name: form_text(form, name, limit) for name in names}


def form_date(value: str, name: str, label: str, reasons: list[Reason]) -> date | None:
    if not value:
        return None
    day = parse_date(value)
    if day is None:
        reasons.append(Reason(f"invalid_date:{name}", f"{label}: ange datumet som ÅÅÅÅ-MM-DD."))
    return day


def form_time(value: str, name: str, label: str, reasons: list[Reason]) -> time | None:
    """A clock time as 15:00 or 15.00 (Swedish style); None when empty."""
    if not value:
        return None
    try:
        return time.fromisoformat(value.strip().replace(".", ":"))
    except ValueError:
        reasons.append(Reason(f"invalid_time:{name}", f"{label}: ange tiden som TT:MM."))
        return None


def form_int(value: str, name: str, label: str, reasons: list[Reason]) -> int | None:
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        reasons.append(Reason(f"invalid_number:{name}", f"{label}: ange ett heltal."))
        return None
    return int(value)


def form_share(value: str, reasons: list[Reason]) -> float | None:
    """A share as 0.8, 0,8 or 80 %."""
    if not value:
        return None
    text = value.replace(",", ".").replace(" ", "")
    percent = text.endswith("%") or (text.replace(".", "").isdigit() and float(text) > 1)
    try:
        number = float(text.rstrip("%"))
    except ValueError:
        reasons.append(
            Reason(
                "invalid_number:share_stockholm_residents", "Ange andelen som t.ex. 0,8 eller 80 %."
            )
        )
        return None
    return number / 100 if percent else number


def own_code_field(reason: Reason) -> str | None:
    """The field a page's own parse error names ("invalid_date:winners_date")."""
    return reason.code.split(":", 1)[1] if ":" in reason.code else None


def raise_if(reasons: list[Reason]) -> None:
    if reasons:
        raise InvalidInput(reasons)


def setup_page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    user: WebUser,
    status: int = 200,
) -> HTMLResponse:
    """A setup page, with its notice (`?ok=`) in the setup pages' words."""
    notice = SETUP_NOTICES.get(request.query_params.get("ok", ""))
    return render(
        request,
        template,
        {"setup_notice": notice, **context},
        user=user,
        status=status,
    )


# What the audit trail's field names and actions are called on a page.
AUDIT_LABELS: Mapping[str, str] = {
    "name": "Namn",
    "staff_count": "Antal medarbetare",
    "manager_has_budget_and_staff_responsibility": "Chef med budget- och personalansvar",
    "has_business_plan": "Verksamhetsplan med mål",
    "share_stockholm_residents": "Andel för stockholmare",
    "budget_in_balance": "Budget i balans",
    "privately_run": "Enskilt driven",
    "contact_email": "Kontaktens e-post",
    "earlier_participation_count": "Antal tidigare deltaganden",
    "earlier_participation_years": "År för tidigare deltagande",
    "organisation_id": "Organisation (id)",
    "unit_id": "Enhet (id)",
    "role": "Roll",
    "email": "E-post",
    "active": "Aktiv",
    "kind": "Typ",
    "board": "Nämnd eller styrelse",
    "coordinator_email": "Samordnarens e-post",
    "escalation_email": "E-post för eskalering",
    "contribution_deadline": "Sista dag för bidraget",
    "extract_deadline": "Sista dag för protokollsutdraget",
    "winners_date": "Vinnarna utses",
    "award_office_email": "Utmärkelsens adress",
    "classes": "Klasser",
    "budget_rule": "Budgetregel",
    "prize_amount": "Prischeck (kronor)",
    "ceremony_invitations": "Inbjudna adresser",
    "criteria": "Bedömningsgrunder",
    "entries": "Poster",
    "award_class": "Klass",
    "status": "Status",
    "announce_at": "Tillkännages",
    "year": "År",
}
AUDIT_ACTIONS: Mapping[str, str] = {
    "created": "Skapad",
    "corrected": "Rättad",
    "deactivated": "Inaktiverad",
    "password_reset": "Ny lösenordslänk skickad",
    "password_set": "Lösenord valt",
    "copied": "Kopierad till nästa år",
    "criteria_changed": "Bedömningsgrunder ändrade",
    "examiners_assigned": "Examinatorer tilldelade",
    "assessment_saved": "Bedömning sparad som utkast",
    "assessment_submitted": "Bedömning lämnad",
    "assessment_reopened": "Bedömning öppnad igen",
    "consensus_saved": "Konsensus sparad som utkast",
    "consensus_submitted": "Konsensus fastställd",
    "feedback_release_scheduled": "Släpp av återkoppling planerat",
    "feedback_release_cancelled": "Planerat släpp av återkoppling stoppat",
    "feedback_released": "Återkoppling släppt",
    "feedback_release_refused": "Planerat släpp av återkoppling kunde inte göras",
    "jury_members_set": "Juryn tillsatt",
    "jury_recommendation_saved": "Jurymedlems rekommendation sparad",
    "jury_decision_recorded": "Jurybeslut registrerat",
    "jury_announcement_scheduled": "Tillkännagivande planerat",
    "jury_announced": "Jurybeslutet tillkännagivet",
    "ceremony_invited": "Inbjudan till ceremonin köad",
    "ceremony_moved": "Ny tid för ceremonin meddelad",
    "board_report_case": "Diarienummer för tjänsteutlåtandet",
    "extended": "Tidsfrist förlängd",
    "queued": "E-post köad",
    "readdressed": "E-post fick mottagare",
    "edited": "E-post ändrad",
    "cancel": "E-post stoppad",
}


def audit_value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "–"
    if value is True:
        return "ja"
    if value is False:
        return "nej"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def audit_events(session: Session, subject: str, subject_id: int) -> list[dict[str, Any]]:
    """The subject's audit trail, newest first, as a page shows it."""
    from sqlmodel import col, select

    from workflow.models import AuditEvent

    rows = session.exec(
        select(AuditEvent)
        .where(AuditEvent.subject == subject, AuditEvent.subject_id == subject_id)
        .order_by(col(AuditEvent.id).desc())
    ).all()
    return [
        {
            "action_label": AUDIT_ACTIONS.get(event.action, event.action),
            "at": event.at,
            "actor": event.actor,
            "note": event.note,
            "changes": [
                {
                    "label": AUDIT_LABELS.get(name, name),
                    "old": audit_value(old_new[0]),
                    "new": audit_value(old_new[1]),
                }
                for name, old_new in event.changes.items()
            ],
        }
        for event in rows
    ]

"""The entry page: what it shows of one entry, the forms it offers the user (asked of the
domain: which moves and uploads, and may this user make them), and the page again with a
refusal next to the form that caused it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from workflow import auth, db, services
from workflow.domain.access import (
    EntryScope,
    Role,
    examiner_conflict,
    may_book_site_visit,
    may_move,
)
from workflow.domain.calendar import entry_deadline, reminder_recipient
from workflow.domain.corrections import (
    CLASS_FIXED_FROM,
    MAX_CASE_NUMBER_LENGTH,
    MAX_NOTE_LENGTH,
    may_correct,
    may_extend,
    may_file,
)
from workflow.domain.errors import Reason, WorkflowError
from workflow.domain.next_step import EntryDates, NextStep, next_step
from workflow.domain.rules import AWARD_CLASSES
from workflow.domain.stages import (
    STAGE_FIELDS,
    STAGE_LABELS_SV,
    TERMINAL_STAGES,
    EntryState,
    Stage,
    may_keep_contribution,
    offered_moves,
    offered_uploads,
    upload_stage,
)
from workflow.entrypoints.http.deps import visible_entry
from workflow.entrypoints.http.problems import status_for
from workflow.entrypoints.web.pages import WebUser, error_page, render
from workflow.entrypoints.web.words import (
    ACTION_LABELS,
    CHOICE_LABELS,
    FIELD_HINTS,
    FIELD_LABELS,
    FIELD_REASON_MESSAGES,
    LONG_TEXT_FIELDS,
    NOTICES,
)
from workflow.models import Cycle, Entry, Organisation, Reminder, Unit, User
from workflow.queries import documents, messages, registry
from workflow.queries import entries as entry_queries
from workflow.services import ceremony, examination

OUTBOX_PAGE_SIZE = 200
# Field-level reasons whose own message is the one to show beside the field.
_OWN_MESSAGE = frozenset({"date_in_future", "text_too_long"})
_QUOTED_NAME = re.compile(r"'([a-z_]+)'")


@dataclass
class FormProblem:
    """What went wrong in one form of the entry page, to show next to it."""

    form: str  # "transition-<stage>", "upload-<kind>", "site-visit"
    reasons: list[Reason]
    values: Mapping[str, str]


# What the page says after a saved change, at its top with the stage it is now in.
ENTRY_NOTICES: Mapping[str, str] = {
    **NOTICES,
    "extended": "Posten har fått förlängd tid och påminnelserna är planerade om.",
    "corrected": "Rättelsen är sparad och syns i tidslinjen.",
    "case_number": "Diarienumret är sparat.",
}


def entry_context(
    session: Session,
    user: WebUser,
    entry_id: int,
    problem: FormProblem | None = None,
    saved: str | None = None,
) -> dict[str, Any]:
    """Everything the entry page shows; raises NotFound for an entry the user may not see.
    `saved` names the change just saved (the `ok` of the address), confirmed at the top."""
    entry = visible_entry(session, user.actor, entry_id)
    unit = session.get_one(Unit, entry.unit_id)
    scope = auth.entry_scope(session, entry)
    cycle = session.get_one(Cycle, entry.cycle_id)
    organisation = session.get_one(Organisation, unit.organisation_id)
    dates = EntryDates(
        contribution=entry_deadline(cycle.contribution_deadline, entry.contribution_until),
        extract=entry_deadline(cycle.extract_deadline, entry.extract_until),
        winners=cycle.winners_date,
    )
    state = EntryState(
        stage=Stage(entry.stage),
        privately_run=unit.privately_run,
        budget_in_balance=unit.budget_in_balance,
        pending={Stage(k): v for k, v in entry.pending.items()},
    )
    files = documents.entry_documents(session, entry_id)
    forms = [
        _transition_form(target, problem)
        for target in offered_moves(state)
        if may_move(user.actor, scope, target) is None
    ]
    _add_hints(forms, state, has_extract=any(d.kind == "extract" for d in files))
    uploads = [
        kind
        for kind in offered_uploads(state)
        if may_move(user.actor, scope, upload_stage(kind)) is None
    ]
    _fill_from_booking(forms, entry)
    site_visit = state.stage == Stage.SUBMITTED and may_book_site_visit(user.actor, scope) is None
    year_forms = _year_forms(user, entry, unit.privately_run, cycle, scope, dates, problem)
    shown = (
        {f["id"] for f in forms}
        | ({"site-visit"} if site_visit else set())
        | ({"examiner"} if user.is_admin else set())
        | {name for name, form in year_forms.items() if form}
    )
    page_problem, problem_anchor = _placed(problem, shown, has_uploads=bool(uploads))
    message_ids = messages.message_ids(session, {entry_id}, status=None, limit=OUTBOX_PAGE_SIZE)
    return {
        "entry": entry_queries.entry_view(session, entry_id),
        "history": entry_queries.entry_history(session, entry_id),
        "forms": forms,
        "documents": files,
        "prize_documents": ceremony.prize_links(user.actor, entry),
        "uploads": uploads,
        "upload_problem": _problem_for(problem, "upload-") if uploads else None,
        "site_visit": site_visit,
        "page_errors": [r.message for r in page_problem.reasons] if page_problem else [],
        "problem_anchor": problem_anchor,
        "site_visit_problem": _problem_for(problem, "site-visit"),
        "messages": messages.messages_with_units(session, message_ids),
        "max_upload_mb": services.MAX_UPLOAD_BYTES // (1024 * 1024),
        "missing_addresses": _missing_addresses(session, unit, state.stage),
        **_examiners(session, user, entry_id, scope, problem),
        "next_step": _next_step(entry, unit, organisation, dates),
        "dates": dates,
        "cycle_dates": {
            "contribution": cycle.contribution_deadline,
            "extract": cycle.extract_deadline,
        },
        "case_number": entry.case_number,
        "confirmation": ENTRY_NOTICES.get(saved or "") if problem is None else None,
        "notice": None,  # the page confirms at its own top, with the stage (`confirmation`)
        "max_note": MAX_NOTE_LENGTH,
        "correction_label": correction_label,
        "reminders": _pending_reminders(session, entry_id)
        if user.actor.role in _SEE_REMINDERS
        else [],
        "max_case_number": MAX_CASE_NUMBER_LENGTH,
        **{name.replace("-", "_") + "_form": form for name, form in year_forms.items()},
    }


# Who sees the entry's planned reminders: those who plan and chase the deadlines.
_SEE_REMINDERS = frozenset({Role.ADMIN, Role.COORDINATOR})
_REMINDER_WORDS = {"reminder": "Påminnelse", "overdue": "Försenad", "escalation": "Eskalering"}
_RECIPIENT_WORDS = {
    "unit_contact": "enheten",
    "coordinator": "samordnaren",
    "escalation_contact": "organisationens kontakt för eskalering, samordnaren i kopia",
}


def _pending_reminders(session: Session, entry_id: int) -> list[dict[str, Any]]:
    """The entry's reminders still to be sent, planned against its own dates."""
    rows = session.exec(
        select(Reminder)
        .where(Reminder.entry_id == entry_id, Reminder.status == "pending")
        .order_by(col(Reminder.due_at))
    ).all()
    return [
        {
            "due_at": row.due_at,
            "what": _REMINDER_WORDS.get(row.kind, row.kind),
            "about": "bidraget" if row.deadline_kind == "contribution" else "protokollsutdraget",
            "deadline": row.deadline,
            "to": _RECIPIENT_WORDS.get(_role(row), _role(row)),
        }
        for row in rows
    ]


def _role(reminder: Reminder) -> str:
    return reminder_recipient(reminder.kind, reminder.deadline_kind, reminder.recipient_role).value


def correction_label(name: str) -> str:
    """A corrected field as the timeline names it: "Nämndbeslut: sammanträdesdatum"."""
    if name == "case_number":
        return "Diarienummer"
    stage_value, _, field = name.partition(".")
    if not field:
        return FIELD_LABELS.get(name, name)
    try:
        stage = STAGE_LABELS_SV[Stage(stage_value)]
    except ValueError:
        stage = stage_value
    return f"{stage}: {FIELD_LABELS.get(field, field).lower()}"


def _next_step(
    entry: Entry, unit: Unit, organisation: Organisation, dates: EntryDates
) -> NextStep | None:
    return next_step(
        Stage(entry.stage),
        privately_run=unit.privately_run,
        company=organisation.kind == "bolag",
        facts=entry.facts,
        pending=entry.pending,
        dates=dates,
    )


def _fill_from_booking(forms: list[dict[str, Any]], entry: Entry) -> None:
    """The examination form starts from the booked site visit's day."""
    booked = entry.facts.get("site_visit", {}).get("site_visit_on")
    for form in forms:
        if form["target"] != Stage.EXAMINED or not booked:
            continue
        for field in form["fields"]:
            if field["name"] == "site_visit_on" and not field["value"]:
                field["value"] = booked
                field["hint"] = "Dagen för det bokade platsbesöket."


def _year_forms(
    user: WebUser,
    entry: Entry,
    privately_run: bool,
    cycle: Cycle,
    scope: EntryScope,
    dates: EntryDates,
    problem: FormProblem | None,
) -> dict[str, dict[str, Any] | None]:
    """The forms for changes after the fact, each only for whoever may use it: more time
    (the award office), the case number, and corrections of what was recorded."""
    stage = Stage(entry.stage)
    open_entry = stage not in TERMINAL_STAGES
    kinds = []
    if open_entry and may_extend(user.actor) is None:
        has_contribution = Stage.SUBMITTED in entry.facts or Stage.SUBMITTED in entry.pending
        if not has_contribution:
            kinds.append(("contribution", "Skriftligt bidrag", dates.contribution))
        if not privately_run and Stage.EXTRACT_SENT not in entry.facts:
            kinds.append(("extract", "Protokollsutdrag", dates.extract))
    return {
        "extension": _with_problem(
            {"kinds": kinds, "winners": cycle.winners_date}, problem, "extension"
        )
        if kinds
        else None,
        "case-number": _with_problem({}, problem, "case-number")
        if may_file(user.actor, scope) is None
        else None,
        "correction": _correction_form(user, entry, cycle, scope, problem),
    }


def _with_problem(
    form: dict[str, Any], problem: FormProblem | None, form_id: str
) -> dict[str, Any]:
    mine = problem if problem is not None and problem.form == form_id else None
    return {
        **form,
        "id": form_id,
        "errors": [r.message for r in mine.reasons] if mine else [],
        "values": dict(mine.values) if mine else {},
        "open": mine is not None,
    }


def _correction_form(
    user: WebUser, entry: Entry, cycle: Cycle, scope: EntryScope, problem: FormProblem | None
) -> dict[str, Any] | None:
    """ "Rätta uppgifter": the class (until examined) and the data of each recorded stage the
    user may record, filled in with what is recorded now."""
    stage = Stage(entry.stage)
    fields: list[dict[str, Any]] = []
    mine = problem if problem is not None and problem.form == "correction" else None
    typed = mine.values if mine else {}
    if stage not in CLASS_FIXED_FROM and may_correct(user.actor, scope, None) is None:
        fields.append(
            {
                "name": "award_class",
                "id": "correction-award_class",
                "label": "Klass",
                "kind": "choice",
                "choices": [
                    (code, AWARD_CLASSES[code].capitalize())
                    for code in cycle.classes
                    if code in AWARD_CLASSES
                ],
                "value": typed.get("award_class", entry.award_class),
            }
        )
    for name in ("facts", "pending"):
        held: dict[str, dict[str, str]] = getattr(entry, name)
        for stage_value, data in held.items():
            try:
                recorded = Stage(stage_value)
            except ValueError:
                continue  # a fact that is not a stage (the booked site visit)
            if not STAGE_FIELDS[recorded] or may_correct(user.actor, scope, recorded) is not None:
                continue
            for field, spec in STAGE_FIELDS[recorded].items():
                key = f"fact_{stage_value}__{field}"
                fields.append(
                    {
                        "name": key,
                        "id": f"correction-{stage_value}-{field}",
                        "label": f"{STAGE_LABELS_SV[recorded]}: "
                        f"{FIELD_LABELS.get(field, field).lower()}",
                        "kind": "textarea" if field in LONG_TEXT_FIELDS else spec.kind,
                        "choices": [
                            (code, label[:1].upper() + label[1:])
                            for code, label in (spec.choices or {}).items()
                        ],
                        "value": typed.get(key, data.get(field, "")),
                    }
                )
    if not fields:
        return None
    return _with_problem({"fields": fields}, problem, "correction")


def _add_hints(forms: list[dict[str, Any]], state: EntryState, *, has_extract: bool) -> None:
    """What a move will do, said before the click, not only in the refusal after it."""
    for form in forms:
        if form["target"] == Stage.SUBMITTED and may_keep_contribution(state):
            # A contribution may arrive before the board has met; it is kept until then.
            form["hint"] = (
                "Bidraget sparas och posten går vidare till Bidrag inlämnat "
                "när protokollsutdraget är skickat."
            )
        if form["target"] == Stage.EXTRACT_SENT and not has_extract:
            form["hint"] = (
                "Ladda först upp protokollsutdraget som PDF under Dokument nedan; "
                "det skickas då med till Kvalitetsutmärkelsen."
            )


def _placed(
    problem: FormProblem | None, shown: set[str], *, has_uploads: bool
) -> tuple[FormProblem | None, str | None]:
    """Where a problem goes: next to its form (the anchor to jump to), or, when its form is
    not on the page (say, a move no longer possible), on top of the page."""
    if problem is not None and problem.form in shown:
        return None, problem.form
    if problem is not None and problem.form.startswith("upload-") and has_uploads:
        return None, "dokument"
    return problem, None


def _examiners(
    session: Session,
    user: WebUser,
    entry_id: int,
    scope: EntryScope,
    problem: FormProblem | None,
) -> dict[str, Any]:
    """Who examines the entry, and for an admin the examiners that can still be assigned:
    only those the jäv rule allows; the others are named with the reason they are missing."""
    assigned_ids = registry.assigned_examiner_ids(session, entry_id)
    examiners = registry.examiners(session)
    assignable: list[dict[str, Any]] = []
    left_out: list[dict[str, Any]] = []
    if user.is_admin:
        organisations = dict(
            session.exec(
                select(User.id, User.organisation_id).where(col(User.role) == Role.EXAMINER.value)
            ).all()
        )
        for examiner in examiners:
            if examiner["id"] in assigned_ids:
                continue
            conflict = examiner_conflict(organisations.get(examiner["id"]), scope)
            if conflict is None:
                assignable.append(examiner)
            else:
                left_out.append({**examiner, "reason": conflict.message})
    return {
        "examiners": [e for e in examiners if e["id"] in assigned_ids],
        "assignable": assignable,
        "left_out": left_out,
        "examiner_problem": _problem_for(problem, "examiner"),
        "lead_ids": {m.user_id for m in examination.team_of(session, entry_id) if m.lead},
        "in_team": user.actor.user_id in assigned_ids and user.actor.role == Role.EXAMINER,
    }


def _missing_addresses(session: Session, unit: Unit, stage: Stage) -> list[str]:
    """Who the entry's e-mails cannot reach: without an address they are not written at all,
    so the page says so (receipts, reminders, feedback and the jury's answer)."""
    if stage in TERMINAL_STAGES:
        return []
    organisation = session.get(Organisation, unit.organisation_id)
    missing = []
    if not unit.contact_email:
        missing.append(
            f"{unit.name} saknar e-postadress: kvitton, påminnelser, återkoppling och "
            "jurybeslut kan inte skickas till enheten."
        )
    if organisation is not None and not organisation.coordinator_email:
        what = (
            "påminnelser till samordnaren"
            if unit.privately_run
            else "begäran om nämndbeslut och påminnelser om protokollsutdraget"
        )
        missing.append(
            f"{organisation.name} saknar samordnare med e-postadress: {what} kan inte skickas."
        )
    return missing


def _problem_for(problem: FormProblem | None, prefix: str) -> FormProblem | None:
    return problem if problem is not None and problem.form.startswith(prefix) else None


def _transition_form(target: Stage, problem: FormProblem | None) -> dict[str, Any]:
    form_id = f"transition-{target.value}"
    mine = problem if problem is not None and problem.form == form_id else None
    values = mine.values if mine else {}
    field_errors: dict[str, str] = {}
    general: list[str] = []
    specs = STAGE_FIELDS[target]
    for reason in mine.reasons if mine else []:
        name = _field_of(reason, {*specs, "note"})
        if name is not None and name not in field_errors:
            field_errors[name] = FIELD_REASON_MESSAGES.get(reason.code, reason.message)
        else:
            general.append(reason.message)
    fields = [
        {
            "name": name,
            "id": f"{target.value}-{name}",
            "label": FIELD_LABELS.get(name, name),
            "hint": FIELD_HINTS.get(name),
            "kind": "textarea" if name in LONG_TEXT_FIELDS else specs[name].kind,
            "required": specs[name].required,
            "choices": [
                (code, label[:1].upper() + label[1:])
                for code, label in (specs[name].choices or {}).items()
            ],
            "value": values.get(f"data_{name}", ""),
            "error": field_errors.get(name),
        }
        for name in sorted(specs, key=lambda n: not specs[n].required)
    ]
    return {
        "id": form_id,
        "target": target.value,
        "title": STAGE_LABELS_SV[target],
        "button": ACTION_LABELS.get(target, STAGE_LABELS_SV[target]),
        "fields": fields,
        "note": values.get("note", ""),
        "note_required": target == Stage.WITHDRAWN,
        "note_error": field_errors.get("note"),
        "errors": general,
        "danger": target == Stage.WITHDRAWN,
        "open": mine is not None,
        "hint": None,
    }


def _field_of(reason: Reason, names: set[str]) -> str | None:
    """The form field a domain reason is about: by its stable code, and the field name the
    message quotes (the last one that is a field of this form)."""
    if reason.code in ("missing_note", "note_too_long"):
        return "note"
    if reason.code not in FIELD_REASON_MESSAGES and reason.code not in _OWN_MESSAGE:
        return None
    quoted = [name for name in _QUOTED_NAME.findall(reason.message) if name in names]
    return quoted[-1] if quoted else None


def entry_problem_page(
    request: Request,
    user: WebUser,
    entry_id: int,
    error: WorkflowError,
    form_id: str,
    values: Mapping[str, str],
) -> HTMLResponse:
    """The entry page again, with the refusal shown next to the form that caused it."""
    with db.transaction() as session:
        context = entry_context(
            session, user, entry_id, FormProblem(form_id, list(error.reasons), values)
        )
    return render(request, "entry.html", context, user=user, status=status_for(error))


NOTHING_SAVED = "Någon annan har ändrat posten sedan du läste in sidan, så ingenting sparades."


def stale_page(
    request: Request, user: WebUser, entry_id: int, form_id: str, values: Mapping[str, str]
) -> Response:
    """Someone else changed the entry first: nothing was saved, and nothing typed is lost.
    The entry as it is now, with the form filled in again to check and send; or, when that
    move is no longer possible, the conflict page with the texts to copy."""
    kept = f"{NOTHING_SAVED} Det du skrev finns kvar: se efter vad som ändrats och skicka igen."
    reason = Reason("stale_version", kept)
    with db.transaction() as session:
        context = entry_context(session, user, entry_id, FormProblem(form_id, [reason], values))
    if context["problem_anchor"] == form_id:
        return render(request, "entry.html", context, user=user, status=409)
    return error_page(
        request,
        409,
        [
            Reason(
                "stale_version",
                f"{NOTHING_SAVED} Läs in posten igen, kontrollera uppgifterna och försök på nytt.",
            )
        ],
        user=user,
        back=(f"/entries/{entry_id}", "Läs in posten igen"),
        typed=_typed_texts(values),
    )


def _typed_texts(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """The texts someone wrote into a form, by label, for a page that cannot show the form."""
    labels = {"note": "Anteckning i historiken"} | {
        f"data_{name}": label for name, label in FIELD_LABELS.items() if name not in CHOICE_LABELS
    }
    typed = ((key, value.strip()) for key, value in values.items() if key in labels)
    return [(labels[key], text) for key, text in typed if text]


def typed_values(form: Any) -> dict[str, str]:
    """What the person typed into a form (not the CSRF token), to show again after a refusal."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}

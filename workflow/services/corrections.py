"""Corrections of an entry's facts after the fact, and its case numbers (diarienummer).

A correction changes what was recorded (a board meeting date typed wrong, the class while the
entry has not been examined, the case number), never the stage: one history event that stays
in its stage records who, when, old → new and why, and the audit trail gets the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from workflow.auth import scope_for
from workflow.db import get_existing
from workflow.domain.access import Actor, EntryScope, may_fetch_report
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.corrections import (
    class_correction_reason,
    clean_case_number,
    correctable_stages,
    may_correct,
    may_file,
    note_reasons,
)
from workflow.domain.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    Reason,
    TransitionRefused,
    refusal,
)
from workflow.domain.stages import STAGE_LABELS_SV, Stage, check_stage_data
from workflow.models import BoardReportCase, Cycle, Entry, Organisation
from workflow.services._audit import record_audit
from workflow.services._calendar import calendar_before, calendar_change_rows
from workflow.services._change import (
    change_of,
    history_row,
    settle,
    settle_columns,
    write_change,
)
from workflow.services.entries import Loaded, class_in_cycle, load_for_change
from workflow.services.extensions import check_entry_access


def _scope(session: Session, acting: Actor | None, loaded: Loaded) -> EntryScope:
    if acting is not None:
        scope = scope_for(session, acting, loaded.entry.id or 0)
        if scope is not None:
            return scope
    return EntryScope(
        organisation_id=loaded.unit.organisation_id,
        unit_id=loaded.unit.id or 0,
        stage=Stage(loaded.entry.stage),
        examiner_ids=frozenset(),
    )


def set_case_number(
    session: Session,
    *,
    entry_id: int,
    case_number: str | None,
    actor: str,
    now: datetime,
    version: int | None = None,
    note: str | None = None,
    acting: Actor | None = None,
) -> Entry:
    """File the entry under `case_number` (empty clears it): free text up to 40 characters.
    The award office or the coordinator of the entry's organisation; with `version`,
    compare-and-set. The same number again changes nothing."""
    check_entry_access(session, acting, entry_id)
    loaded = load_for_change(session, entry_id, version)
    forbidden = may_file(acting, _scope(session, acting, loaded))
    if forbidden is not None:
        raise Forbidden((forbidden,))
    cleaned, reasons = clean_case_number(case_number)
    reasons += note_reasons(note, required=False)
    if reasons:
        raise InvalidInput(reasons)
    if cleaned == loaded.entry.case_number:
        return loaded.entry
    changes = {"case_number": [loaded.entry.case_number, cleaned]}
    _write_correction(
        session,
        loaded,
        changes,
        columns={"case_number": cleaned},
        facts=None,
        note=(note or "").strip() or None,
        actor=actor,
        now=now,
    )
    return loaded.entry


def correct_entry(
    session: Session,
    *,
    entry_id: int,
    version: int,
    note: str,
    actor: str,
    now: datetime,
    award_class: str | None = None,
    case_number: str | None = None,
    clear_case_number: bool = False,
    facts: Mapping[str, Mapping[str, str]] | None = None,
    acting: Actor | None = None,
) -> Entry:
    """Correct what was recorded about the entry, from the version the caller saw; `note`
    says why. `facts` maps a stage already recorded (or kept ahead) to the fields to correct
    in it, checked as when they were first recorded. Refused, with every reason and nothing
    changed, when a value is invalid, the class is past correcting (examined or later), the
    actor may not correct that part, or nothing would change."""
    check_entry_access(session, acting, entry_id)
    loaded = load_for_change(session, entry_id, version)
    entry = loaded.entry
    scope = _scope(session, acting, loaded)
    reasons: list[Reason] = list(note_reasons(note, required=True))
    changes: dict[str, list[Any]] = {}
    columns: dict[str, Any] = {}
    if award_class is not None:
        _correct_class(loaded, award_class, acting, scope, changes, columns, reasons)
    if case_number is not None or clear_case_number:
        forbidden = may_file(acting, scope)
        if forbidden is not None:
            raise Forbidden((forbidden,))
        cleaned, problems = clean_case_number(None if clear_case_number else case_number)
        reasons.extend(problems)
        if not problems and cleaned != entry.case_number:
            changes["case_number"] = [entry.case_number, cleaned]
            columns["case_number"] = cleaned
    new_facts = _corrected_facts(loaded, facts or {}, acting, scope, changes, reasons, now=now)
    if reasons:
        raise InvalidInput(reasons)
    if not changes:
        raise refusal(
            InvalidInput,
            "nothing_to_correct",
            "Uppgifterna är desamma som redan finns registrerade; ingenting ändrades.",
        )
    _write_correction(
        session,
        loaded,
        changes,
        columns=columns,
        facts=new_facts,
        note=note.strip(),
        actor=actor,
        now=now,
    )
    return entry


def _correct_class(
    loaded: Loaded,
    award_class: str,
    acting: Actor | None,
    scope: EntryScope,
    changes: dict[str, list[Any]],
    columns: dict[str, Any],
    reasons: list[Reason],
) -> None:
    entry = loaded.entry
    forbidden = may_correct(acting, scope, None)
    if forbidden is not None:
        raise Forbidden((forbidden,))
    try:
        code = class_in_cycle(award_class, loaded.cycle)
    except InvalidInput as error:
        reasons.extend(error.reasons)
        return
    if code == entry.award_class:
        return
    fixed = class_correction_reason(Stage(entry.stage))
    if fixed is not None:
        raise TransitionRefused((fixed,))
    changes["award_class"] = [entry.award_class, code]
    columns["award_class"] = code


def _corrected_facts(
    loaded: Loaded,
    corrections: Mapping[str, Mapping[str, str]],
    acting: Actor | None,
    scope: EntryScope,
    changes: dict[str, list[Any]],
    reasons: list[Reason],
    *,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The entry's (facts, pending) with the corrections applied, or None when none."""
    if not corrections:
        return None
    entry, unit = loaded.entry, loaded.unit
    facts = {**entry.facts}
    pending = {**entry.pending}
    recorded = {stage.value for stage in correctable_stages(facts, pending)}
    today = now.astimezone(STOCKHOLM).date() if acting is not None else None
    for stage_value, given in corrections.items():
        if stage_value not in recorded:
            reasons.append(_not_recorded(stage_value))
            continue
        stage = Stage(stage_value)
        forbidden = may_correct(acting, scope, stage)
        if forbidden is not None:
            raise Forbidden((forbidden,))
        held = facts if stage_value in facts else pending
        before = {str(k): str(v) for k, v in held[stage_value].items()}
        merged = {**before, **{str(k): str(v) for k, v in given.items()}}
        cleaned, problems = check_stage_data(
            stage, merged, note=None, budget_in_balance=unit.budget_in_balance, today=today
        )
        if problems:
            reasons.extend(problems)
            continue
        for name in sorted(set(before) | set(cleaned)):
            if before.get(name) != cleaned.get(name):
                changes[f"{stage_value}.{name}"] = [before.get(name), cleaned.get(name)]
        held[stage_value] = cleaned
    return facts, pending


def _not_recorded(stage_value: str) -> Reason:
    try:
        label = STAGE_LABELS_SV[Stage(stage_value)]
    except ValueError:
        label = stage_value
    return Reason(
        "not_recorded",
        f"Det finns inga registrerade uppgifter för steget {label} att rätta.",
    )


def _write_correction(
    session: Session,
    loaded: Loaded,
    changes: dict[str, list[Any]],
    *,
    columns: dict[str, Any],
    facts: tuple[dict[str, Any], dict[str, Any]] | None,
    note: str | None,
    actor: str,
    now: datetime,
) -> None:
    entry = loaded.entry
    entry_id, version = entry.id or 0, entry.version
    stage = Stage(entry.stage)
    kind = "case_number" if set(changes) == {"case_number"} else "correction"
    data: dict[str, Any] = {"change": kind} | {
        name: f"{old or '–'} → {new or '–'}" for name, (old, new) in changes.items()
    }
    history = [
        history_row(entry_id, version + 1, stage, stage, actor=actor, at=now, note=note, data=data)
    ]
    new_facts, new_pending = facts if facts is not None else (entry.facts, entry.pending)
    calendar = calendar_before(entry)
    settle(entry, stage, version + 1, new_facts, new_pending, now)
    settle_columns(entry, columns)
    outbox = calendar_change_rows(
        session, entry, loaded.unit, loaded.organisation, loaded.cycle, calendar, now=now
    )
    write_change(session, change_of(entry, version, history, outbox), entry, columns)
    record_audit(
        session,
        subject="entry",
        subject_id=entry_id,
        action="corrected",
        actor=actor,
        at=now,
        changes=changes,
        note=note,
    )


# --- the board report's own case number -------------------------------------------------------


def set_board_report_case(
    session: Session,
    *,
    organisation_id: int,
    year: int,
    case_number: str | None,
    actor: str,
    now: datetime,
    acting: Actor | None = None,
) -> BoardReportCase | None:
    """File the organisation's board report (tjänsteutlåtande) of the cycle `year` under
    `case_number`; empty clears it (returns None). The award office or the organisation's
    coordinator."""
    if acting is not None:
        forbidden = may_fetch_report(acting, organisation_id)
        if forbidden is not None:
            raise Forbidden(
                (
                    Reason(
                        "forbidden",
                        "Bara utmärkelsens kansli och organisationens samordnare kan ange "
                        "tjänsteutlåtandets diarienummer.",
                    ),
                )
            )
    get_existing(session, Organisation, organisation_id, "Organisationen")
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
    cleaned, reasons = clean_case_number(case_number)
    if reasons:
        raise InvalidInput(reasons)
    row = session.exec(
        select(BoardReportCase).where(
            BoardReportCase.organisation_id == organisation_id,
            BoardReportCase.cycle_id == cycle.id,
        )
    ).first()
    before = row.case_number if row is not None else None
    if cleaned == before:
        return row
    if cleaned is None:
        assert row is not None
        session.delete(row)
        row = None
    elif row is None:
        row = BoardReportCase(
            organisation_id=organisation_id, cycle_id=cycle.id or 0, case_number=cleaned
        )
        session.add(row)
    else:
        row.case_number = cleaned
        session.add(row)
    session.flush()
    record_audit(
        session,
        subject="organisation",
        subject_id=organisation_id,
        action="board_report_case",
        actor=actor,
        at=now,
        changes={f"board_report_case_{year}": [before, cleaned]},
    )
    return row

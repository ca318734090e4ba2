"""Stages of an entry and the one transition table that moves it; pure, standard library only.

Read `TRANSITIONS` top to bottom: that is the whole process. `plan_transition` applies it to an
entry's current state and returns the steps to record, or raises `TransitionRefused` with every
reason it found. Facts may arrive earlier than their stage (a contribution before the board has
met); such a fact is kept and the entry moves on by itself once the stages before it are done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from workflow.domain.errors import InvalidInput, Reason, TransitionRefused
from workflow.domain.rules import BOARD_DECISIONS, JURY_OUTCOMES, date_reason, parse_date


class Stage(StrEnum):
    NOTIFIED = "notified"  # anmälan
    BOARD_DECISION = "board_decision"  # nämndens (styrelsens) beslut
    EXTRACT_SENT = "extract_sent"  # protokollsutdrag skickat till kvalitetsutmärkelsen
    SUBMITTED = "submitted"  # skriftligt bidrag inlämnat
    EXAMINED = "examined"  # examination med platsbesök och intervjuer
    FEEDBACK = "feedback"  # återkoppling: styrkor och utvecklingsområden
    JURY = "jury"  # domarkommitténs beslut
    WITHDRAWN = "withdrawn"  # deltagandet återkallat


STAGE_LABELS_SV: Mapping[Stage, str] = {
    Stage.NOTIFIED: "Anmäld",
    Stage.BOARD_DECISION: "Nämndbeslut",
    Stage.EXTRACT_SENT: "Protokollsutdrag skickat",
    Stage.SUBMITTED: "Bidrag inlämnat",
    Stage.EXAMINED: "Examinerad",
    Stage.FEEDBACK: "Återkoppling",
    Stage.JURY: "Jurybeslut",
    Stage.WITHDRAWN: "Återkallad",
}

TERMINAL_STAGES = frozenset({Stage.JURY, Stage.WITHDRAWN})


class Route(StrEnum):
    """Which units a transition applies to."""

    ANY = "any"
    CITY_RUN = "city_run"  # kommunalt driven: goes through its board
    PRIVATELY_RUN = "privately_run"  # enskilt driven: no city board, no minutes extract


@dataclass(frozen=True)
class Transition:
    source: Stage
    target: Stage
    route: Route = Route.ANY


_FORWARD: tuple[Transition, ...] = (
    Transition(Stage.NOTIFIED, Stage.BOARD_DECISION, Route.CITY_RUN),
    Transition(Stage.BOARD_DECISION, Stage.EXTRACT_SENT, Route.CITY_RUN),
    Transition(Stage.EXTRACT_SENT, Stage.SUBMITTED, Route.CITY_RUN),
    Transition(Stage.NOTIFIED, Stage.SUBMITTED, Route.PRIVATELY_RUN),
    Transition(Stage.SUBMITTED, Stage.EXAMINED),
    Transition(Stage.EXAMINED, Stage.FEEDBACK),
    Transition(Stage.FEEDBACK, Stage.JURY),
)
# An entry may be withdrawn from any stage before the jury has decided.
_WITHDRAWALS: tuple[Transition, ...] = tuple(
    Transition(stage, Stage.WITHDRAWN) for stage in Stage if stage not in TERMINAL_STAGES
)
TRANSITIONS: tuple[Transition, ...] = _FORWARD + _WITHDRAWALS

# The stages a city-run entry passes before `submitted`: while it is in one of them, a
# contribution that arrives is kept, not refused.
_BEFORE_SUBMITTED_CITY_RUN = frozenset({Stage.NOTIFIED, Stage.BOARD_DECISION})


def _route_of(privately_run: bool) -> Route:
    return Route.PRIVATELY_RUN if privately_run else Route.CITY_RUN


def allowed_transitions(stage: Stage, *, privately_run: bool) -> tuple[Stage, ...]:
    """Targets the table allows from `stage` for this kind of unit, in table order."""
    route = _route_of(privately_run)
    return tuple(
        t.target for t in TRANSITIONS if t.source == stage and t.route in (Route.ANY, route)
    )


@dataclass(frozen=True)
class EntryState:
    """What the table and its guards need to know about an entry."""

    stage: Stage
    privately_run: bool
    budget_in_balance: bool
    # Facts recorded ahead of their stage, by the stage they lead to (e.g. submitted → data).
    pending: Mapping[Stage, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One move to record in the history; `automatic` when a kept fact completed it."""

    source: Stage
    target: Stage
    data: Mapping[str, str]
    automatic: bool = False


@dataclass(frozen=True)
class Plan:
    """What a request does: the steps to apply, and the facts kept for later."""

    steps: tuple[Step, ...]
    kept: Mapping[Stage, Mapping[str, str]]

    @property
    def final_stage(self) -> Stage | None:
        return self.steps[-1].target if self.steps else None


@dataclass(frozen=True)
class StageField:
    """One datum a stage records (the web page draws its form from these)."""

    required: bool
    kind: str  # "date", "text", or "choice"
    choices: Mapping[str, str] | None = None


STAGE_FIELDS: Mapping[Stage, Mapping[str, StageField]] = {
    Stage.BOARD_DECISION: {
        "decision": StageField(True, "choice", BOARD_DECISIONS),
        "meeting_date": StageField(True, "date"),
        "paragraph": StageField(True, "text"),  # protokollsparagraf, e.g. "§ 12"
    },
    Stage.EXTRACT_SENT: {"sent_on": StageField(False, "date")},
    Stage.SUBMITTED: {
        "submitted_on": StageField(False, "date"),
        "title": StageField(False, "text"),
    },
    Stage.EXAMINED: {
        "site_visit_on": StageField(True, "date"),
        "examiner": StageField(False, "text"),
    },
    Stage.FEEDBACK: {
        "strengths": StageField(True, "text"),  # styrkor
        "development_areas": StageField(True, "text"),  # utvecklingsområden
    },
    Stage.JURY: {
        "outcome": StageField(True, "choice", JURY_OUTCOMES),
        "motivation": StageField(False, "text"),  # the jury's motivation, for its winners
    },
    Stage.WITHDRAWN: {},
    Stage.NOTIFIED: {},
}


# Dates that record something already done: the board's meeting cannot lie in the future.
_NOT_IN_FUTURE = frozenset({"meeting_date"})


def stage_fields(target: Stage) -> tuple[str, ...]:
    """Names of the data a move to `target` takes, required ones first."""
    fields = STAGE_FIELDS[target]
    return tuple(sorted(fields, key=lambda name: not fields[name].required))


def check_stage_data(
    target: Stage,
    data: Mapping[str, str],
    *,
    note: str | None,
    budget_in_balance: bool,
    today: date | None = None,
) -> tuple[dict[str, str], tuple[Reason, ...]]:
    """Validate and normalise the data a move to `target` carries; (cleaned, reasons).
    With `today` (Stockholm), a board meeting cannot be dated after it."""
    fields = STAGE_FIELDS[target]
    cleaned: dict[str, str] = {}
    reasons: list[Reason] = []
    for name in data:
        if name not in fields:
            known = ", ".join(fields) or "inga"
            reasons.append(
                Reason(
                    "unknown_field",
                    f"Okänt fält '{name}' för steget {target.value} (giltiga: {known}).",
                )
            )
    for name, spec in fields.items():
        raw = str(data.get(name, "")).strip()
        if not raw:
            if spec.required:
                reasons.append(
                    Reason("missing_field", f"Fältet '{name}' krävs för steget {target.value}.")
                )
            continue
        if spec.kind == "date":
            day = parse_date(raw)
            if day is None:
                reasons.append(
                    Reason(
                        "invalid_date", f"'{raw}' i fältet '{name}' är inget datum (ÅÅÅÅ-MM-DD)."
                    )
                )
                continue
            implausible = date_reason(f"Fältet '{name}'", day)
            if implausible is not None:
                reasons.append(implausible)
                continue
            if name in _NOT_IN_FUTURE and today is not None and day > today:
                reasons.append(
                    Reason(
                        "date_in_future",
                        f"Fältet '{name}' ({day.isoformat()}) ligger i framtiden; ett "
                        "sammanträde registreras när det har hållits.",
                    )
                )
                continue
            raw = day.isoformat()
        elif spec.kind == "choice" and spec.choices is not None and raw not in spec.choices:
            options = ", ".join(spec.choices)
            reasons.append(
                Reason(
                    "invalid_choice", f"'{raw}' är inget giltigt värde för '{name}' ({options})."
                )
            )
            continue
        cleaned[name] = raw
    if target == Stage.WITHDRAWN and not (note or "").strip():
        reasons.append(Reason("missing_note", "Ange varför deltagandet återkallas."))
    if target == Stage.JURY and cleaned.get("outcome") == "winner" and not budget_in_balance:
        reasons.append(
            Reason("winner_budget_in_balance", "En vinnare måste ha en budget i balans.")
        )
    return cleaned, tuple(reasons)


def plan_transition(
    state: EntryState,
    target: Stage,
    data: Mapping[str, str],
    *,
    note: str | None = None,
    today: date | None = None,
) -> Plan:
    """Check a requested move against the table and its guards; raise `TransitionRefused`.
    `today` (Stockholm) refuses dates that cannot have happened yet (see `check_stage_data`)."""
    if state.stage in TERMINAL_STAGES:
        raise TransitionRefused(
            (
                Reason(
                    "entry_closed",
                    f"Posten är avslutad ({STAGE_LABELS_SV[state.stage]}) och kan inte ändras.",
                ),
            )
        )
    if target == state.stage:
        raise TransitionRefused(
            (Reason("already_in_stage", f"Posten är redan i steget {target.value}."),)
        )

    cleaned, reasons = check_stage_data(
        target, data, note=note, budget_in_balance=state.budget_in_balance, today=today
    )
    allowed = allowed_transitions(state.stage, privately_run=state.privately_run)
    if target in allowed:
        if reasons:
            raise TransitionRefused(reasons)
        steps = [Step(state.stage, target, cleaned)]
        steps.extend(_follow_kept_facts(target, state))
        return Plan(steps=tuple(steps), kept={})

    if target == Stage.SUBMITTED and may_keep_contribution(state):
        if reasons:
            raise TransitionRefused(reasons)
        return Plan(steps=(), kept={Stage.SUBMITTED: cleaned})

    raise TransitionRefused((_not_allowed(state, target, allowed), *reasons))


def may_keep_contribution(state: EntryState) -> bool:
    """A contribution that arrives now is kept until the board has met (a city-run entry
    before its board decision that holds none yet), rather than refused."""
    return (
        not state.privately_run
        and state.stage in _BEFORE_SUBMITTED_CITY_RUN
        and Stage.SUBMITTED not in state.pending
    )


def _follow_kept_facts(reached: Stage, state: EntryState) -> list[Step]:
    """Steps a kept fact completes once the stage before it is reached."""
    steps: list[Step] = []
    current = reached
    while True:
        nexts = [
            t
            for t in allowed_transitions(current, privately_run=state.privately_run)
            if t in state.pending and t != Stage.WITHDRAWN
        ]
        if not nexts:
            return steps
        target = nexts[0]
        steps.append(Step(current, target, dict(state.pending[target]), automatic=True))
        current = target


def _not_allowed(state: EntryState, target: Stage, allowed: tuple[Stage, ...]) -> Reason:
    if state.privately_run and target in (Stage.BOARD_DECISION, Stage.EXTRACT_SENT):
        return Reason(
            "privately_run_skips_board",
            "Enskilt drivna verksamheter har inget nämndbeslut eller protokollsutdrag.",
        )
    if target == Stage.SUBMITTED and Stage.SUBMITTED in state.pending:
        return Reason(
            "contribution_already_kept",
            "Bidraget är redan registrerat och väntar på att tidigare steg blir klara.",
        )
    options = ", ".join(stage.value for stage in allowed) or "inga"
    return Reason(
        "transition_not_allowed",
        f"Övergången från {state.stage.value} till {target.value} är inte tillåten "
        f"(tillåtna: {options}).",
    )


def replay(events: list[tuple[Stage | None, Stage]]) -> Stage | None:
    """The stage a history of (from, to) events leads to; raises ValueError on a broken chain."""
    stage: Stage | None = None
    for source, target in events:
        if source != stage:
            raise ValueError(f"history breaks: event from {source} while at {stage}")
        stage = target
    return stage


def offered_moves(state: EntryState) -> tuple[Stage, ...]:
    """The moves a page offers on an entry, in the order it shows them: the table's forward
    moves, a contribution that would be kept, and the withdrawal last. (Who may make each is
    `access.may_move`.)"""
    allowed = allowed_transitions(state.stage, privately_run=state.privately_run)
    # `jury` is reached only through the jury's announcement (services/jury.py), never a click.
    offered: list[Stage] = [t for t in allowed if t not in (Stage.WITHDRAWN, Stage.JURY)]
    if may_keep_contribution(state):
        offered.append(Stage.SUBMITTED)
    if Stage.WITHDRAWN in allowed:
        offered.append(Stage.WITHDRAWN)
    return tuple(offered)


# The stages in which a contribution (skriftligt bidrag) may be uploaded.
_CONTRIBUTION_STAGES = frozenset(
    {Stage.NOTIFIED, Stage.BOARD_DECISION, Stage.EXTRACT_SENT, Stage.SUBMITTED}
)


def upload_stage(kind: str) -> Stage:
    """The stage an upload counts towards, whose movers may send it: the minutes extract
    (`extract`) towards `extract_sent`, anything else (the contribution) towards `submitted`."""
    return Stage.EXTRACT_SENT if kind == "extract" else Stage.SUBMITTED


def offered_uploads(state: EntryState) -> tuple[str, ...]:
    """The documents an entry can take now: the minutes extract while a city-run entry waits
    for it, the contribution until the entry is submitted."""
    offered: list[str] = []
    if not state.privately_run and state.stage in _BEFORE_SUBMITTED_CITY_RUN:
        offered.append("extract")
    if state.stage in _CONTRIBUTION_STAGES:
        offered.append("contribution")
    return tuple(offered)


def parse_stage(value: Stage | str) -> Stage:
    """The stage `value` names; InvalidInput, listing the stages, for any other text."""
    try:
        return Stage(value)
    except ValueError:
        known = ", ".join(stage.value for stage in Stage)
        raise InvalidInput(
            (Reason("unknown_stage", f"Okänt steg '{value}' (giltiga: {known})."),)
        ) from None


# Sending the minutes extract sends the uploaded PDF: without one, the move is refused.
EXTRACT_MISSING = Reason(
    "extract_missing", "Protokollsutdraget saknas: ladda upp det som PDF innan det skickas."
)


def needs_extract(plan: Plan) -> bool:
    """Whether `plan` sends the minutes extract (and so needs its PDF)."""
    return any(step.target == Stage.EXTRACT_SENT for step in plan.steps)

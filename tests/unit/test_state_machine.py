"""A stateful property test of the pure core: random requests against one modelled entry.

The applier below copies what `services.advance_entry` does with a `Plan` (history events,
version arithmetic, pending facts), so the invariants hold for the stored history too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from workflow.domain.errors import TransitionRefused
from workflow.domain.stages import (
    TERMINAL_STAGES,
    TRANSITIONS,
    EntryState,
    Plan,
    Route,
    Stage,
    plan_transition,
    replay,
)

S = Stage

# The process written out independently of the table, as the oracle for what is accepted.
NEXT_CITY_RUN: Mapping[Stage, Stage] = {
    S.NOTIFIED: S.BOARD_DECISION,
    S.BOARD_DECISION: S.EXTRACT_SENT,
    S.EXTRACT_SENT: S.SUBMITTED,
    S.SUBMITTED: S.EXAMINED,
    S.EXAMINED: S.FEEDBACK,
    S.FEEDBACK: S.JURY,
}
NEXT_PRIVATELY_RUN: Mapping[Stage, Stage] = {
    S.NOTIFIED: S.SUBMITTED,
    S.SUBMITTED: S.EXAMINED,
    S.EXAMINED: S.FEEDBACK,
    S.FEEDBACK: S.JURY,
}
NOT_ALLOWED_CODES = {
    "transition_not_allowed",
    "privately_run_skips_board",
    "contribution_already_kept",
}

YEAR_DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 12, 31))
ISO_DAY = YEAR_DAYS.map(date.isoformat)
TEXT = st.sampled_from(["§ 12", "Tydliga mål", "Examinator A", "Uppföljning av resultat"])

# Required/optional fields per target, and the kind of each, written out again for the oracle.
FIELDS: Mapping[Stage, Mapping[str, tuple[bool, st.SearchStrategy[str]]]] = {
    S.NOTIFIED: {},
    S.BOARD_DECISION: {
        "decision": (True, st.sampled_from(["approved", "noted"])),
        "meeting_date": (True, ISO_DAY),
        "paragraph": (True, TEXT),
    },
    S.EXTRACT_SENT: {"sent_on": (False, ISO_DAY)},
    S.SUBMITTED: {"submitted_on": (False, ISO_DAY), "title": (False, TEXT)},
    S.EXAMINED: {"site_visit_on": (True, ISO_DAY), "examiner": (False, TEXT)},
    S.FEEDBACK: {"strengths": (True, TEXT), "development_areas": (True, TEXT)},
    S.JURY: {"outcome": (True, st.sampled_from(["winner", "not_awarded"]))},
    S.WITHDRAWN: {},
}
DATE_FIELDS = {"meeting_date", "sent_on", "submitted_on", "site_visit_on"}
CHOICE_FIELDS = {"decision", "outcome"}


@dataclass(frozen=True)
class Request:
    target: Stage
    data: dict[str, str]
    note: str | None
    well_formed: bool  # True when data and note pass every check that does not depend on the unit


@st.composite
def valid_request(draw: st.DrawFn, target: Stage) -> Request:
    data: dict[str, str] = {}
    for name, (required, values) in FIELDS[target].items():
        if required or draw(st.booleans()):
            data[name] = draw(values)
    note = draw(st.sampled_from(["Enheten har lagts ned.", "Chefen har slutat."]))
    if target != S.WITHDRAWN:
        note = draw(st.sampled_from([None, note]))
    return Request(target, data, note, well_formed=True)


@st.composite
def junk_request(draw: st.DrawFn, target: Stage) -> Request:
    """A request that is certainly malformed, whatever the entry's state."""
    base = draw(valid_request(target))
    data = dict(base.data)
    corruptions = ["unknown_field"]
    if any(required for required, _ in FIELDS[target].values()):
        corruptions.append("missing_field")
    if DATE_FIELDS & set(FIELDS[target]):
        corruptions.append("invalid_date")
    if CHOICE_FIELDS & set(FIELDS[target]):
        corruptions.append("invalid_choice")
    if target == S.WITHDRAWN:
        corruptions.append("missing_note")
    corruption = draw(st.sampled_from(corruptions))
    note = base.note
    if corruption == "unknown_field":
        data[draw(st.sampled_from(["bogus", "grade", "kommentar"]))] = "x"
    elif corruption == "missing_field":
        required = [name for name, (req, _) in FIELDS[target].items() if req]
        del data[draw(st.sampled_from(required))]
    elif corruption == "invalid_date":
        data[draw(st.sampled_from(sorted(DATE_FIELDS & set(FIELDS[target]))))] = draw(
            st.sampled_from(["17 maj", "2024-13-01", "2024-6-1"])
        )
    elif corruption == "invalid_choice":
        data[draw(st.sampled_from(sorted(CHOICE_FIELDS & set(FIELDS[target]))))] = "kanske"
    else:
        note = draw(st.sampled_from([None, "", "   "]))
    return Request(target, data, note, well_formed=False)


def any_request(target: Stage) -> st.SearchStrategy[Request]:
    return st.one_of(valid_request(target), junk_request(target))


REQUESTS = st.sampled_from(list(Stage)).flatmap(any_request)


@dataclass(frozen=True)
class Event:
    version: int
    source: Stage | None
    target: Stage
    data: Mapping[str, str]
    automatic: bool = False
    kept: Mapping[Stage, Mapping[str, str]] = field(default_factory=dict)


class EntryMachine(RuleBasedStateMachine):
    """One entry of one unit; requests arrive in any order, as reality delivers them."""

    @initialize(privately_run=st.booleans(), budget_in_balance=st.booleans())
    def create(self, privately_run: bool, budget_in_balance: bool) -> None:
        self.privately_run = privately_run
        self.budget_in_balance = budget_in_balance
        self.route = Route.PRIVATELY_RUN if privately_run else Route.CITY_RUN
        self.stage = S.NOTIFIED
        self.version = 1
        self.history: list[Event] = [Event(1, None, S.NOTIFIED, {})]
        self.facts: dict[Stage, dict[str, str]] = {}
        self.pending: dict[Stage, dict[str, str]] = {}
        event(f"privately_run={privately_run}")

    # --- the applier: services.advance_entry without the database ------------------------------

    def state(self) -> EntryState:
        return EntryState(
            stage=self.stage,
            privately_run=self.privately_run,
            budget_in_balance=self.budget_in_balance,
            pending={stage: dict(data) for stage, data in self.pending.items()},
        )

    def apply(self, plan: Plan) -> None:
        facts = {**self.facts}
        pending = {**self.pending}
        for stage, kept in plan.kept.items():
            pending[stage] = dict(kept)
        for step in plan.steps:
            facts[step.target] = dict(step.data)
            pending.pop(step.target, None)
        events = len(plan.steps) or 1
        final_stage = plan.final_stage or self.stage
        if plan.steps:
            for offset, step in enumerate(plan.steps, start=1):
                self.history.append(
                    Event(
                        self.version + offset,
                        step.source,
                        step.target,
                        dict(step.data),
                        automatic=step.automatic,
                    )
                )
        else:
            kept_stage = next(iter(plan.kept))
            self.history.append(
                Event(
                    self.version + 1,
                    self.stage,
                    self.stage,
                    {"kept_for": kept_stage.value, **plan.kept[kept_stage]},
                    kept={kept_stage: dict(plan.kept[kept_stage])},
                )
            )
        self.stage = final_stage
        self.version += events
        self.facts = facts
        self.pending = pending

    # --- the oracle --------------------------------------------------------------------------

    def expected(self, request: Request) -> str:
        """'move', 'keep', or a refusal: 'closed', 'same', 'not_allowed', 'bad_data'."""
        if self.stage in TERMINAL_STAGES:
            return "closed"
        if request.target == self.stage:
            return "same"
        valid = request.well_formed and not (
            request.target == S.JURY
            and request.data.get("outcome") == "winner"
            and not self.budget_in_balance
        )
        nexts = NEXT_PRIVATELY_RUN if self.privately_run else NEXT_CITY_RUN
        if request.target in (nexts.get(self.stage), S.WITHDRAWN):
            return "move" if valid else "bad_data"
        if (
            request.target == S.SUBMITTED
            and not self.privately_run
            and self.stage in (S.NOTIFIED, S.BOARD_DECISION)
            and S.SUBMITTED not in self.pending
        ):
            return "keep" if valid else "bad_data"
        return "not_allowed"

    def handle(self, request: Request) -> None:
        expected = self.expected(request)
        before = (self.stage, self.version, list(self.history), dict(self.facts))
        pending_before = {stage: dict(data) for stage, data in self.pending.items()}
        state = self.state()
        try:
            plan = plan_transition(state, request.target, request.data, note=request.note)
        except TransitionRefused as refused:
            codes = [reason.code for reason in refused.reasons]
            event(f"refused: {expected}")
            # A refusal changes nothing: the model is untouched and so is the state passed in.
            assert (self.stage, self.version, self.history, self.facts) == before
            assert state.pending == pending_before
            assert expected not in ("move", "keep"), f"refused {request} with {codes}"
            assert codes, "a refusal names at least one reason"
            if expected == "closed":
                assert codes == ["entry_closed"]
            elif expected == "same":
                assert codes == ["already_in_stage"]
            elif expected == "not_allowed":
                assert codes[0] in NOT_ALLOWED_CODES
            else:
                assert not NOT_ALLOWED_CODES & set(codes)
            return
        assert state.pending == pending_before, "planning must not change the entry's state"
        assert expected in ("move", "keep"), f"accepted {request} expected {expected}: {plan}"
        if expected == "keep":
            assert plan.steps == ()
            assert set(plan.kept) == {S.SUBMITTED}
            event("kept a contribution")
        else:
            first = plan.steps[0]
            assert (first.source, first.target, first.automatic) == (
                self.stage,
                request.target,
                False,
            )
            if request.target == S.EXTRACT_SENT and S.SUBMITTED in self.pending:
                assert len(plan.steps) == 2
                event("kept contribution completed automatically")
            else:
                assert len(plan.steps) == 1
            assert plan.kept == {}
        self.apply(plan)
        event(f"reached {self.stage.value}")

    # --- rules -------------------------------------------------------------------------------

    @rule(request=REQUESTS)
    def request_any_stage(self, request: Request) -> None:
        self.handle(request)

    @rule(data=st.data())
    def advance_to_next_stage(self, data: st.DataObject) -> None:
        """Ask for the next stage with valid data (once closed: any stage, which must fail)."""
        nexts = NEXT_PRIVATELY_RUN if self.privately_run else NEXT_CITY_RUN
        target = nexts.get(self.stage) or data.draw(st.sampled_from(list(Stage)))
        self.handle(data.draw(valid_request(target)))

    @rule(submitted_on=YEAR_DAYS, title=st.none() | TEXT)
    def record_contribution(self, submitted_on: date, title: str | None) -> None:
        data = {"submitted_on": submitted_on.isoformat()}
        if title:
            data["title"] = title
        self.handle(Request(S.SUBMITTED, data, None, well_formed=True))

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def replay_gives_the_current_stage(self) -> None:
        assert replay([(e.source, e.target) for e in self.history]) == self.stage

    @invariant()
    def versions_increase_by_one_per_event(self) -> None:
        assert [e.version for e in self.history] == list(range(1, len(self.history) + 1))
        assert self.version == self.history[-1].version

    @invariant()
    def every_move_is_in_the_table_for_this_route(self) -> None:
        table = {(t.source, t.target) for t in TRANSITIONS if t.route in (Route.ANY, self.route)}
        for e in self.history[1:]:
            if e.source != e.target:
                assert (e.source, e.target) in table, e

    @invariant()
    def nothing_follows_a_closing_event(self) -> None:
        for index, e in enumerate(self.history):
            if e.target in TERMINAL_STAGES:
                assert index == len(self.history) - 1, self.history[index:]

    @invariant()
    def a_kept_contribution_is_never_lost(self) -> None:
        if S.SUBMITTED in self.pending:
            assert self.stage in (S.NOTIFIED, S.BOARD_DECISION, S.WITHDRAWN)
        for index, e in enumerate(self.history):
            if S.SUBMITTED not in e.kept:
                continue
            later = self.history[index + 1 :]
            assert not any(S.SUBMITTED in other.kept for other in later), "kept twice"
            reached = [i for i, other in enumerate(later) if other.target == S.EXTRACT_SENT]
            if reached:
                completed = later[reached[0] + 1]  # IndexError here would be a lost fact
                assert (completed.source, completed.target, completed.automatic) == (
                    S.EXTRACT_SENT,
                    S.SUBMITTED,
                    True,
                )
                assert completed.data == e.kept[S.SUBMITTED]
                assert self.facts.get(S.SUBMITTED) is not None

    @invariant()
    def only_a_kept_contribution_makes_an_automatic_step(self) -> None:
        for previous, e in pairwise(self.history):
            if e.automatic:
                assert (previous.target, e.source, e.target) == (
                    S.EXTRACT_SENT,
                    S.EXTRACT_SENT,
                    S.SUBMITTED,
                )


EntryMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
)
TestEntryMachine = EntryMachine.TestCase

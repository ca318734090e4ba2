"""Examination over HTTP (JSON field names are a contract):

- `GET/PUT /api/v1/cycles/{year}/criteria` → `{"year", "score_min", "score_max",
  "examiners_per_entry", "locked", "note", "criteria": [{"id", "position", "name",
  "description"}]}`; PUT (admin) takes `{"criteria": [{"name", "description"}], "score_min",
  "score_max", "examiners_per_entry"}`, 409 once an assessment of the cycle is saved.
- `GET/PUT /api/v1/entries/{id}/examiners` → `{"entry_id", "examiners": [{"user_id", "name",
  "lead"}]}`; PUT (admin) `{"examiners": [ids], "lead": id}`, jäv 409, too few 422.
- `POST /api/v1/cycles/{year}/classes/{class}/examiners` (admin) `{"pool": [ids]}` → every
  team of the class filled from the pool: `{"teams": [{"entry_id", "examiners"}]}`.
- `GET/PUT /api/v1/entries/{id}/assessments/mine`, `POST …/mine/submit` (the examiner):
  `{"status", "criteria": {criterion id: {"score", "strengths", "development_areas"}},
  "site_visit_on", "interviews": {"manager", "staff", "others", "others_who"}}`.
- `GET /api/v1/entries/{id}/assessments`: those the caller may read (the others' only once
  their own is submitted); `POST …/assessments/{examiner}/reopen` (admin) `{"note"}`.
- `GET/PUT /api/v1/entries/{id}/consensus`, `POST …/consensus/submit` (the lead, once every
  member has submitted; submit moves the entry to `examined`): `{"status", "criteria",
  "summary", "spread": {criterion id: {"scores", "low", "high", "mean"}}, "may_write",
  "reasons"}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field
from sqlmodel import Session

from workflow.domain import examination as rules
from workflow.domain.access import Actor
from workflow.entrypoints.http.deps import TokenDep, authorised, entry_scope, now
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.schemas import AwardClass, AwardDate, Id, Note, Strict
from workflow.models import Assessment
from workflow.services import assessments, consensus, examination

router = APIRouter(
    prefix="/api/v1", tags=["examination"], responses=documented(400, 401, 403, 404, 409, 413, 422)
)
YearInPath = Annotated[int, Path(ge=1, le=9999)]
EntryInPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
Text = Annotated[str, Field(max_length=rules.MAX_TEXT)]


class CriterionIn(Strict):
    name: Annotated[str, Field(max_length=rules.MAX_NAME)]
    description: Text = ""


class CriteriaIn(Strict):
    criteria: list[CriterionIn] = Field(max_length=rules.MAX_CRITERIA)
    score_min: int = rules.DEFAULT_SCALE[0]
    score_max: int = rules.DEFAULT_SCALE[1]
    examiners_per_entry: int = rules.DEFAULT_TEAM_SIZE


class TeamIn(Strict):
    examiners: list[Id] = Field(max_length=10)
    lead: Id | None = None


class PoolIn(Strict):
    pool: list[Id] = Field(max_length=500)


class ScoreIn(Strict):
    score: int | None = None
    strengths: Text = ""
    development_areas: Text = ""


class InterviewsIn(Strict):
    manager: int = 0
    staff: int = 0
    others: int = 0
    others_who: Annotated[str, Field(max_length=rules.MAX_NAME)] = ""


class AssessmentIn(Strict):
    criteria: dict[Annotated[str, Field(max_length=12)], ScoreIn] = Field(
        default_factory=dict, max_length=rules.MAX_CRITERIA
    )
    site_visit_on: AwardDate | None = None
    interviews: InterviewsIn = Field(default_factory=InterviewsIn)


class ConsensusIn(Strict):
    criteria: dict[Annotated[str, Field(max_length=12)], ScoreIn] = Field(
        default_factory=dict, max_length=rules.MAX_CRITERIA
    )
    summary: Text = ""


class ReopenIn(Strict):
    note: Note


def criteria_view(session: Session, year: int) -> dict[str, Any]:
    cycle = examination.cycle_of_year(session, year)
    setting = examination.setting_of(session, cycle.id or 0)
    return {
        "year": year,
        "score_min": setting.score_min,
        "score_max": setting.score_max,
        "examiners_per_entry": setting.examiners_per_entry,
        "locked": examination.criteria_locked(session, cycle.id or 0),
        "note": rules.DEFAULT_CRITERIA_NOTE,
        "criteria": [
            {"id": c.id, "position": c.position, "name": c.name, "description": c.description}
            for c in examination.criteria_of(session, cycle.id or 0)
        ],
    }


@router.get("/cycles/{year}/criteria")
def get_criteria(year: YearInPath, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, _):
        return criteria_view(session, year)


@router.put("/cycles/{year}/criteria")
def put_criteria(year: YearInPath, body: CriteriaIn, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        change = examination.CriteriaChange(
            [(c.name, c.description) for c in body.criteria],
            body.score_min, body.score_max, body.examiners_per_entry,
        )  # fmt: skip
        examination.set_criteria(session, year=year, change=change, acting=actor, now=now())
        return criteria_view(session, year)


def team_view(session: Session, entry_id: int) -> dict[str, Any]:
    members = examination.team_of(session, entry_id)
    return {
        "entry_id": entry_id,
        "examiners": [{"user_id": m.user_id, "name": m.name, "lead": m.lead} for m in members],
    }


@router.get("/entries/{entry_id}/examiners")
def get_team(entry_id: EntryInPath, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        entry_scope(session, actor, entry_id)
        return team_view(session, entry_id)


@router.put("/entries/{entry_id}/examiners")
def put_team(entry_id: EntryInPath, body: TeamIn, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        examination.require_admin(actor, "Bara utmärkelsens kansli tilldelar examinatorer.")
        entry_scope(session, actor, entry_id)
        examination.set_team(
            session, entry_id=entry_id, members=body.examiners, lead=body.lead,
            acting=actor, now=now(),
        )  # fmt: skip
        return team_view(session, entry_id)


@router.post("/cycles/{year}/classes/{award_class}/examiners")
def assign_class(
    year: YearInPath,
    award_class: Annotated[AwardClass, Path()],
    body: PoolIn,
    token: TokenDep,
) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        teams = examination.assign_class(
            session, year=year, award_class=award_class, pool=body.pool, acting=actor, now=now()
        )
        return {"teams": [team_view(session, entry_id) for entry_id in sorted(teams)]}


def assessment_view(row: Assessment | None, name: str | None = None) -> dict[str, Any]:
    if row is None:
        return {"status": "new", "criteria": {}, "site_visit_on": None, "interviews": {}}
    view = {
        "status": row.status,
        "criteria": row.criteria,
        "site_visit_on": row.site_visit_on,
        "interviews": row.interviews,
        "submitted_at": row.submitted_at,
    }
    return view if name is None else {"examiner": name, "examiner_id": row.examiner_id, **view}


@router.get("/entries/{entry_id}/assessments/mine")
def get_mine(entry_id: EntryInPath, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        exam = assessments.load(session, actor, entry_id)
        return assessment_view(exam.assessments.get(actor.user_id))


def _save_mine(entry_id: int, body: AssessmentIn, token: str, *, submit: bool) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        row = assessments.save_assessment(
            session, entry_id=entry_id, body=body.model_dump(mode="json"), acting=actor,
            now=now(), submit=submit,
        )  # fmt: skip
        return assessment_view(row)


@router.put("/entries/{entry_id}/assessments/mine")
def put_mine(entry_id: EntryInPath, body: AssessmentIn, token: TokenDep) -> dict[str, Any]:
    return _save_mine(entry_id, body, token, submit=False)


@router.post("/entries/{entry_id}/assessments/mine/submit")
def submit_mine(entry_id: EntryInPath, body: AssessmentIn, token: TokenDep) -> dict[str, Any]:
    return _save_mine(entry_id, body, token, submit=True)


@router.get("/entries/{entry_id}/assessments")
def list_assessments(entry_id: EntryInPath, token: TokenDep) -> list[dict[str, Any]]:
    with authorised(token) as (session, actor):
        exam = assessments.load(session, actor, entry_id)
        visible = assessments.visible_assessments(session, exam, actor)
        return [assessment_view(row, name) for name, row in visible]


@router.post("/entries/{entry_id}/assessments/{examiner_id}/reopen")
def reopen(
    entry_id: EntryInPath, examiner_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ReopenIn, token: TokenDep,
) -> dict[str, Any]:  # fmt: skip
    with authorised(token) as (session, actor):
        row = assessments.reopen_assessment(
            session, entry_id=entry_id, examiner_id=examiner_id, note=body.note,
            acting=actor, now=now(),
        )  # fmt: skip
        return assessment_view(row)


def consensus_view(session: Session, actor: Actor, entry_id: int) -> dict[str, Any]:
    exam = assessments.load(session, actor, entry_id)
    row = exam.consensus
    return {
        "status": row.status if row is not None else "new",
        "criteria": row.criteria if row is not None else {},
        "summary": row.summary if row is not None else "",
        "spread": {
            key: {"scores": list(s.scores), "low": s.low, "high": s.high, "mean": s.mean}
            for key, s in consensus.spreads(exam).items()
        },
        "may_write": not consensus.write_refusals(exam, actor),
        "reasons": [r.as_dict() for r in consensus.write_refusals(exam, actor)],
    }


@router.get("/entries/{entry_id}/consensus")
def get_consensus(entry_id: EntryInPath, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        return consensus_view(session, actor, entry_id)


def _save_consensus(entry_id: int, body: ConsensusIn, token: str, *, submit: bool) -> Any:
    with authorised(token) as (session, actor):
        consensus.save_consensus(
            session, entry_id=entry_id, body=body.model_dump(mode="json"), acting=actor,
            now=now(), submit=submit,
        )  # fmt: skip
        return consensus_view(session, actor, entry_id)


@router.put("/entries/{entry_id}/consensus")
def put_consensus(entry_id: EntryInPath, body: ConsensusIn, token: TokenDep) -> dict[str, Any]:
    return dict(_save_consensus(entry_id, body, token, submit=False))


@router.post("/entries/{entry_id}/consensus/submit")
def submit_consensus(entry_id: EntryInPath, body: ConsensusIn, token: TokenDep) -> dict[str, Any]:
    return dict(_save_consensus(entry_id, body, token, submit=True))

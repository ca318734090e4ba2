"""Next year from this one, over HTTP (JSON field names are a contract):

- `POST /api/v1/cycles/{year}/copy {"year": Y}` (admin) → 201
  `{"cycle": {...}, "moved": [{"field", "from", "to", "reason"}], "units_offered": N,
  "offers": [...]}`: `moved` lists each date that is not the same month and day as in `year`
  (`from` the old cycle's date, `to` the new one's); `offers` the units that took part in
  `year` (an entry not withdrawn), offered for registration in Y, never registered.
- `GET /api/v1/cycles/{year}/offers` (admin; a coordinator its organisation's) → 200
  `{"year", "offers": [{"unit_id", "unit", "organisation_id", "organisation", "contact_email",
  "years", "last_year", "register_url"}]}`: units that took part in any cycle before `year`
  and have no entry in `year`, most recent participants first.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlmodel import select

from workflow.domain.access import Role
from workflow.domain.errors import NotFound, refusal
from workflow.entrypoints.http.deps import TokenDep, authorised, now, require
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.schemas import CyclePublic, Strict, Year
from workflow.models import Cycle
from workflow.queries import registry
from workflow.services.next_year import copy_cycle

router = APIRouter(prefix="/api/v1", tags=["years"], responses=documented(401, 403, 404, 422))

YearInPath = Annotated[int, Path(ge=1, le=9999, description="Omgångens år, t.ex. 2025.")]


class CycleCopyRequest(Strict):
    year: Year = Field(description="The new cycle's year.")


class CopiedCycle(CyclePublic):
    budget_rule: str


class MovedDatePublic(BaseModel):
    field: str
    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    reason: str


class OfferPublic(BaseModel):
    unit_id: int
    unit: str
    organisation_id: int
    organisation: str
    contact_email: str | None
    years: list[int]
    last_year: int
    register_url: str = Field(description="The registration form for the unit in the year.")


class CycleCopyPublic(BaseModel):
    cycle: CopiedCycle
    moved: list[MovedDatePublic]
    units_offered: int
    offers: list[OfferPublic]


class OffersPublic(BaseModel):
    year: int
    offers: list[OfferPublic]


def registration_url(unit_id: int, year: int) -> str:
    """The registration form (`/admin/entries/new`), filled in for the unit and the year."""
    return f"/admin/entries/new?{urlencode({'unit': unit_id, 'year': year})}"


def offer_view(offer: registry.Offer, year: int) -> dict[str, Any]:
    return {
        "unit_id": offer.unit_id,
        "unit": offer.unit_name,
        "organisation_id": offer.organisation_id,
        "organisation": offer.organisation_name,
        "contact_email": offer.contact_email,
        "years": list(offer.years),
        "last_year": offer.last_year,
        "register_url": registration_url(offer.unit_id, year),
    }


@router.post(
    "/cycles/{year}/copy",
    status_code=201,
    response_model=CycleCopyPublic,
    responses=documented(409),
)
def copy_cycle_to_year(year: YearInPath, body: CycleCopyRequest, token: TokenDep) -> Any:
    with authorised(token) as (session, actor):
        copied = copy_cycle(
            session,
            from_year=year,
            to_year=body.year,
            acting=actor,
            actor=actor.name,
            now=now(),
        )
        return {
            "cycle": copied.cycle.model_dump(),
            "moved": [
                {"field": m.field, "from": m.source, "to": m.day, "reason": m.reason}
                for m in copied.moved
            ],
            "units_offered": len(copied.offers),
            "offers": [offer_view(o, body.year) for o in copied.offers],
        }


@router.get("/cycles/{year}/offers", response_model=OffersPublic)
def offers_for_year(year: YearInPath, token: TokenDep) -> Any:
    with authorised(token) as (session, actor):
        require(actor, Role.COORDINATOR)
        if session.exec(select(Cycle.id).where(Cycle.year == year)).first() is None:
            raise refusal(NotFound, "cycle_not_found", f"Det finns ingen omgång för år {year}.")
        found = registry.offers(session, year, actor=actor)
        return {"year": year, "offers": [offer_view(o, year) for o in found]}

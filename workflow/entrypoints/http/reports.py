"""GET /api/v1/organisations/{id}/report: the board report draft (tjänsteutlåtande) as a file.

An administrator may fetch any organisation's draft, a coordinator only its own organisation's;
every other role is refused (403). The file comes as an attachment with a Swedish filename.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from workflow import documents
from workflow.documents.context import PROPOSALS
from workflow.documents.report import FORMATS
from workflow.domain.access import may_fetch_report
from workflow.entrypoints.http.deps import ActorDep, SessionDep, forbid_unless_allowed
from workflow.entrypoints.http.schemas import MAX_ID, listed

router = APIRouter(prefix="/api/v1", tags=["reports"])


def download_response(filename: str, content_type: str, data: bytes) -> Response:
    """The file as a download: `filename*` (RFC 6266/5987) in UTF-8, an ASCII `filename` too."""
    disposition = (
        f'attachment; filename="{documents.ascii_filename(filename)}"; '
        f"filename*=UTF-8''{quote(filename, safe='')}"
    )
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/organisations/{organisation_id}/report",
    response_class=Response,
    responses={
        200: {
            "description": "Utkast till tjänsteutlåtande",
            "content": {documents.DOCX_CONTENT_TYPE: {}, documents.PDF_CONTENT_TYPE: {}},
        },
        403: {"description": "Rollen får inte hämta organisationens tjänsteutlåtande"},
        404: {"description": "Okänd organisation, eller inga anmälningar det året"},
        422: {"description": "Okänt format eller förslag"},
    },
)
def board_report(
    organisation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    actor: ActorDep,
    year: Annotated[int, Query(ge=0, le=MAX_ID, description="Omgångens år, t.ex. 2024")],
    fmt: Annotated[
        str, Query(alias="format", max_length=10, description="docx eller pdf"), listed(FORMATS)
    ] = "docx",
    proposal: Annotated[
        Annotated[str, listed(PROPOSALS, 10)] | None,
        Query(
            max_length=10,
            description="approve (godkänner) eller note (noterar) för enheter utan "
            "registrerat nämndbeslut; standard approve",
        ),
    ] = None,
) -> Response:
    """The draft for the organisation's units in the cycle `year`, as DOCX (default) or PDF."""
    forbid_unless_allowed(may_fetch_report(actor, organisation_id))
    preparation = documents.ReportPreparation(proposal=proposal) if proposal else None
    filename, content_type, data = documents.report_for(
        session, organisation_id, year, fmt, preparation=preparation
    )
    return download_response(filename, content_type, data)

"""Keyset paging, the same on every list: rows in id order, `limit` per page, `after_id` to
continue; while there are more, the `Link` header names the next page (rel="next") and
`X-Next-After-Id` the id to continue after. No list stops without saying so."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from workflow.entrypoints.http.schemas import MAX_ID

PAGE_MAX = 500

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description="Rows per page.")]
AfterId = Annotated[
    int | None,
    Query(ge=0, le=MAX_ID, description="Continue after this id (see the Link header)."),
]


def one_page(
    rows: Sequence[T],
    *,
    limit: int,
    request: Request,
    response: Response,
    id_of: Callable[[T], Any] = lambda row: row.id,  # type: ignore[attr-defined]
) -> list[T]:
    """The page of `rows`, fetched with `limit + 1` (the extra row tells a next page exists),
    with the headers that lead to the next one."""
    page = list(rows)
    if len(page) > limit:
        page = page[:limit]
        last = str(id_of(page[-1]))
        following = request.url.include_query_params(after_id=last, limit=limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
        response.headers["X-Next-After-Id"] = last
    return page

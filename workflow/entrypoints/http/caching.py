"""Conditional GET (RFC 9110 §13): a client that already holds what it asks for gets 304."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request

# An HTTP date counts whole seconds: a Last-Modified within the current second could hide a
# second change in the same second, so it is not given out (nor compared) until a second has
# passed (RFC 9110 §8.8.2.2); the ETag answers meanwhile.
_SETTLED = timedelta(seconds=1)


def _usable(last_modified: datetime | None, now: datetime) -> datetime | None:
    if last_modified is None or now - last_modified < _SETTLED:
        return None
    return last_modified


def validators(etag: str, last_modified: datetime | None, now: datetime) -> dict[str, str]:
    """The ETag and (when settled) Last-Modified headers of a response."""
    headers = {"ETag": etag}
    settled = _usable(last_modified, now)
    if settled is not None:
        headers["Last-Modified"] = format_datetime(settled.astimezone(UTC), usegmt=True)
    return headers


def not_modified(
    request: Request, etag: str, last_modified: datetime | None, now: datetime
) -> bool:
    """Whether the client's copy is current: If-None-Match names `etag` (or is "*"); or, only
    when there is no If-None-Match, If-Modified-Since is no earlier than `last_modified`."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    settled = _usable(last_modified, now)
    if if_modified_since is None or settled is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # a date we cannot read is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        return False
    return settled.replace(microsecond=0) <= since

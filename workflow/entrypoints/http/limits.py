"""How large a request to the API may be: refused with the API's own 413 before it is read."""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow import services
from workflow.domain.errors import Reason
from workflow.entrypoints.http.problems import problem

MAX_UPLOAD_BYTES = services.MAX_UPLOAD_BYTES
# A JSON request is a few kilobytes; refuse anything far larger before parsing it.
MAX_JSON_BODY_BYTES = 1024 * 1024
# An upload is read whole and then measured (so a file just over 20 MB gets a 413 with its
# reason); a body far beyond that is refused by the server before it is read at all.
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024

_UPLOAD_PATH = re.compile(r"/api/v1/entries/[^/]+/documents")


def body_limit_for(path: str) -> tuple[int, str] | None:
    """The most an API request may send, and what the refusal says; None off the API (the
    web pages check their own uploads and answer with a page)."""
    if not path.startswith("/api/"):
        return None
    if _UPLOAD_PATH.fullmatch(path):
        return MAX_UPLOAD_BODY_BYTES, "Filen är större än 20 MB."
    return MAX_JSON_BODY_BYTES, "Begäran är större än 1 MB."


class LimitApiBodies:
    """Refuses an API request body over its limit with the API's own 413 (a JSON problem),
    before reading it when its length is declared, else as soon as the limit is passed.
    (Starlette's `max_body_size` answers a declared one with plain text, whatever the app's
    handlers say, and covered only the routers that set it.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = body_limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        most, refusal_text = limit
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > most:
            await problem(413, [Reason("too_large", refusal_text)])(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > most:  # raised inside the route: the handler above answers it
                raise StarletteHTTPException(413, refusal_text)
            return message

        await self.app(scope, limited, send)

"""The ASGI application: the HTTP API, the operator endpoints and the web pages, made ready
for a worker to serve."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from tasks.nudge import nudge_after_outbox_commits
from workflow import db, logs
from workflow.entrypoints.http import (
    api,
    calendars,
    ceremony,
    examination,
    feedback,
    group_messages,
    hooks,
    jury,
    ops,
    outbox_control,
    problems,
    register,
    reports,
    years,
)
from workflow.entrypoints.http.limits import LimitApiBodies
from workflow.entrypoints.web import ceremony as web_ceremony
from workflow.entrypoints.web import examination as web_examination
from workflow.entrypoints.web import feedback as web_feedback
from workflow.entrypoints.web import jury as web_jury
from workflow.entrypoints.web import routes as web_pages
from workflow.entrypoints.web import setup as setup_pages
from workflow.entrypoints.web import years as web_years
from workflow.settings import get_settings
from workflow.write_turns import take_turns_on_sqlite


@asynccontextmanager
async def _prepare_worker(_app: FastAPI) -> AsyncIterator[None]:
    """Before a web worker serves:

    - its handlers run in `WEB_THREADS` threads, not anyio's default 40: with 16 requests in
      flight, the one holding SQLite's write turn otherwise queued for the GIL behind up to 15
      others, and every writer waited for it (bench/api.py: turn held 2.5 → 1.0 ms on average);
    - everything imported so far is frozen out of the garbage collector: a worker holds ~200,000
      objects after start-up, and the first full collection under load scanned them all, a
      130 ms stall for every request in that worker (bench/api.py's p99). Frozen, a full
      collection scans only what was made since: 5–8 ms."""
    to_thread.current_default_thread_limiter().total_tokens = get_settings().web_threads
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()  # collectable again once the app is gone (tests start many)


def create_app() -> FastAPI:
    logs.configure()
    nudge_after_outbox_commits()
    # The docs page loads Swagger UI's script, style and icon from this server (the package
    # ships them), never from a CDN: it works on a network that reaches nothing outside.
    app = FastAPIOffline(
        lifespan=_prepare_worker,
        title="Kvalitetsutmärkelsen",
        version="1.0",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        static_url="/api/v1/docs-static",
    )
    app.include_router(api.router)
    app.include_router(years.router)
    app.include_router(register.router)
    app.add_middleware(LimitApiBodies)
    problems.document_problems_everywhere(app)
    take_turns_on_sqlite(db.get_engine())
    problems.install_handlers(app)
    for router in (
        ops.router,
        hooks.router,
        calendars.router,
        reports.router,
        outbox_control.router,
        examination.router,
        group_messages.router,
        feedback.router,
        ceremony.router,
        jury.router,
    ):
        app.include_router(router)
    app.include_router(web_years.router)
    app.include_router(web_examination.router)
    app.include_router(web_feedback.router)
    app.include_router(web_ceremony.router)
    app.include_router(web_jury.router)
    for pages in setup_pages.ROUTERS:  # before `install`, which wraps every error handler
        app.include_router(pages)
    web_pages.install(app)
    return app

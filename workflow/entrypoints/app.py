"""The ASGI application: the HTTP API, the operator endpoints and the web pages."""

from __future__ import annotations

from fastapi import FastAPI

from workflow import logs
from workflow.entrypoints import api, feeds, hooks, ops, reports, web


def create_app() -> FastAPI:
    logs.configure()
    app = api.create_app()
    ops.install(app)
    for router in (hooks.router, feeds.router, reports.router):
        app.include_router(router)
    web.install(app)
    return app

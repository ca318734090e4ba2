"""Alembic environment: runs on the connection `workflow.db.upgrade_schema` hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import workflow.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from workflow.db import get_engine

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        with get_engine().begin() as own_connection:
            _run(own_connection)
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

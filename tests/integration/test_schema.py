"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import workflow.models  # noqa: F401 (the tables register themselves)


def test_migrations_and_models_agree(engine: Engine) -> None:
    """A model changed without a migration (or the other way round) shows up here, not in
    production: `kvalitet init` on a fresh database gives the tables the code expects."""
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []

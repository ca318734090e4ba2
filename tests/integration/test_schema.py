"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import workflow.models  # noqa: F401 (the tables register themselves)
from workflow import db
from workflow.db import make_engine


def test_migrations_and_models_agree(engine: Engine) -> None:
    """A model changed without a migration (or the other way round) shows up here, not in
    production: `kvalitet init` on a fresh database gives the tables the code expects."""
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_upgrading_keeps_the_oldest_of_duplicate_webhooks_active(database_url: str) -> None:
    """Before 0006 two registrations of one address could both be active (each event went
    out twice); the upgrade leaves the oldest active, keeps the others (inactive, with their
    delivery logs) and from then on refuses a second active one."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")
            rows = [
                ("https://diarium.stockholm.se/in", True, "first"),
                ("https://diarium.stockholm.se/in", True, "second"),
                ("https://diarium.stockholm.se/in", False, "deleted"),
                ("https://intranat.stockholm.se/in", True, "other"),
            ]
            for url, active, created_by in rows:
                connection.execute(
                    text(
                        "INSERT INTO webhook (url, secret, active, created_by, created_at) "
                        "VALUES (:url, 'hemlighet-hemlighet', :active, :by, :at)"
                    ),
                    {"url": url, "active": active, "by": created_by, "at": datetime.now(UTC)},
                )
        db.upgrade_schema(engine)
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT created_by, active FROM webhook ORDER BY id")
            ).all()
            assert [(by, bool(flag)) for by, flag in stored] == [
                ("first", True),
                ("second", False),
                ("deleted", False),
                ("other", True),
            ]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO webhook (url, secret, active, created_by, created_at) "
                    "VALUES ('https://intranat.stockholm.se/in', 'x', :active, 'again', :at)"
                ),
                {"active": True, "at": datetime.now(UTC)},
            )
    finally:
        engine.dispose()

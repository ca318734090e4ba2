"""Engine, sessions and schema upgrades. SQLite file by default; DATABASE_URL selects PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Insert, Table, create_engine, event, insert
from sqlmodel import Session, SQLModel

from workflow.domain.errors import not_found
from workflow.models import OutboxMessage
from workflow.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine tuned for the workflow: WAL, foreign keys and a busy wait on SQLite."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().resolved_database_url())


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back on any exception.

    A unit that wrote outbox rows asks a worker to deliver them once it has committed (see
    `note_outbox_written`), so no entrypoint has to remember to.
    """
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# --- the nudge after commit ------------------------------------------------------------------
# As warehouse's task class does: a worker is told "deliver now" only once the rows it is to
# deliver are committed (told earlier, it could look before they are there), never for a
# rollback, and at most once per commit. Only a nudge: the periodic sweep delivers anyway.
# The process's entrypoint says how to nudge (`when_outbox_committed`): this layer knows no broker.
_OUTBOX_WRITTEN = "outbox_written"
_outbox_committed: list[Callable[[], None]] = []


def note_outbox_written(session: Session) -> None:
    """Mark that `session`'s transaction queued (or re-queued) outbox messages."""
    session.info[_OUTBOX_WRITTEN] = True


def when_outbox_committed(hook: Callable[[], None]) -> None:
    """Call `hook` after every commit that wrote outbox messages (once, however often it is
    registered). It runs on the committing thread, so it must not wait for anything."""
    if hook not in _outbox_committed:
        _outbox_committed.append(hook)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_OUTBOX_WRITTEN, False):
        for hook in _outbox_committed:
            try:
                hook()
            except Exception as error:  # best effort: a lost nudge only waits for the sweep
                log.warning("could not nudge the outbox relay: %s", error)


@event.listens_for(Session, "after_rollback")
def _forget_outbox_written(session: Session) -> None:
    session.info.pop(_OUTBOX_WRITTEN, None)


def upgrade_schema(engine: Engine | None = None) -> None:
    """Create or upgrade the schema to the newest migration (what `kvalitet init` runs)."""
    from alembic import command
    from alembic.config import Config

    engine = engine or get_engine()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def insert_rows(session: Session, model: type[SQLModel], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` into `model`'s table in one statement (executemany for several), in the
    session's transaction. Core, not ORM objects: nothing to track, flush or expire, which on
    the transition path costs more than the statements themselves. Rows must share their keys."""
    if rows:
        session.connection().execute(insert_statement(model), list(rows))
        if model is OutboxMessage:
            note_outbox_written(session)


@cache
def insert_statement(model: type[SQLModel]) -> Insert:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return insert(table)


def get_existing(session: Session, model: type[T], item_id: int, label: str) -> T:
    """The row `item_id` of `model`; NotFound, naming it by `label` ("Posten"), when absent."""
    item = session.get(model, item_id)
    if item is None:
        raise not_found(label, item_id)
    return item

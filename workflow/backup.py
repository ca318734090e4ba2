"""Backup and restore of the embedded SQLite database, through SQLite's online backup API.

The backup is consistent while the system runs (web, worker and scheduler keep writing: the
API copies a snapshot, WAL included), and holds everything: entries, history, audit, queued
messages and the uploaded documents, which live in the database too. PostgreSQL is backed up
with its own tools; `postgres_dump_line` says how.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from workflow.domain.errors import Conflict, InvalidInput, NotFound, refusal

# Tables a restore counts, so the operator sees what came back.
COUNTED = ("entry", "history_event", "outbox_message", "document", "audit_event")


@dataclass(frozen=True)
class Copied:
    path: Path
    bytes: int
    rows: dict[str, int]


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


def postgres_dump_line(database_url: str) -> str:
    """The pg_dump line that backs up this PostgreSQL database (password never printed)."""
    url = make_url(database_url).set(drivername="postgresql", password=None)
    return f"pg_dump --format=custom --file BACKUP.dump '{url.render_as_string()}'"


def backup(database: Path, target: Path) -> Copied:
    """Copy the live database at `database` to the new file `target`."""
    if not database.is_file():
        raise refusal(NotFound, "no_database", f"Det finns ingen databas i {database}.")
    if target.exists():
        raise refusal(Conflict, "backup_exists", f"{target} finns redan; välj ett nytt filnamn.")
    if not target.parent.is_dir():
        raise refusal(InvalidInput, "no_folder", f"Mappen {target.parent} finns inte.")
    _copy(database, target)
    return Copied(target, target.stat().st_size, _counts(target))


def restore(source: Path, database: Path) -> Copied:
    """Copy the backup `source` to `database`, which must not exist yet: a restore goes into
    an empty data directory and never overwrites what is there."""
    if not source.is_file():
        raise refusal(NotFound, "no_backup", f"Säkerhetskopian {source} finns inte.")
    if database.exists():
        raise refusal(
            Conflict,
            "database_exists",
            f"Det finns redan en databas i {database}; återställ till en tom datamapp.",
        )
    if "alembic_version" not in _tables(source):
        raise refusal(
            InvalidInput, "not_a_backup", f"{source} är ingen säkerhetskopia av systemet."
        )
    database.parent.mkdir(parents=True, exist_ok=True)
    _copy(source, database)
    return Copied(database, database.stat().st_size, _counts(database))


def _copy(source: Path, target: Path) -> None:
    with closing(_open(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def _open(path: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise refusal(
            InvalidInput, "not_a_backup", f"{path} är ingen SQLite-databas ({error})."
        ) from error
    return connection


def _tables(path: Path) -> set[str]:
    with closing(_open(path)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _counts(path: Path) -> dict[str, int]:
    present = _tables(path)
    with closing(_open(path)) as connection:
        return {
            table: int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for table in COUNTED
            if table in present
        }

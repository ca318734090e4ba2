"""`kvalitet backup` and `kvalitet restore`: the embedded SQLite database, copied while the
system runs; PostgreSQL is told the pg_dump line that does the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from workflow import backup as backups
from workflow import db
from workflow.domain.errors import WorkflowError
from workflow.entrypoints.cli.work import exit_code_for, fail
from workflow.settings import get_settings

_COUNTED_WORDS = {
    "entry": "poster",
    "history_event": "händelser i historiken",
    "outbox_message": "meddelanden i utkorgen",
    "document": "dokument",
    "audit_event": "händelser i loggen",
}


def backup(
    path: Annotated[Path, typer.Argument(help="Ny fil att skriva säkerhetskopian till.")],
) -> None:
    """Säkerhetskopiera databasen medan systemet är igång (SQLite); för PostgreSQL visas
    pg_dump-raden."""
    url = get_settings().resolved_database_url()
    database = backups.sqlite_path(url)
    if database is None:
        fail(
            [
                "Databasen är PostgreSQL: säkerhetskopiera den med PostgreSQL:s eget verktyg,",
                backups.postgres_dump_line(url),
                "och återställ med pg_restore --dbname … BACKUP.dump.",
            ],
            2,
        )
    copied = _refusing(lambda: backups.backup(database, path))
    typer.echo(f"Säkerhetskopian är sparad i {copied.path} ({copied.bytes} byte): {_told(copied)}.")


def restore(
    path: Annotated[Path, typer.Argument(help="Säkerhetskopian att återställa.")],
) -> None:
    """Återställ en säkerhetskopia till en tom datamapp (KVALITET_DATA_DIR eller DATABASE_URL)."""
    url = get_settings().resolved_database_url()
    database = backups.sqlite_path(url)
    if database is None:
        fail(["Databasen är PostgreSQL: återställ med pg_restore --dbname … BACKUP.dump."], 2)
    copied = _refusing(lambda: backups.restore(path, database))
    db.upgrade_schema()  # a backup from an earlier version gets today's schema
    typer.echo(f"Återställt till {copied.path}: {_told(copied)}.")


def _refusing(work: Callable[[], backups.Copied]) -> backups.Copied:
    try:
        return work()
    except WorkflowError as error:
        fail([reason.message for reason in error.reasons], exit_code_for(error))


def _told(copied: backups.Copied) -> str:
    return ", ".join(f"{count} {_COUNTED_WORDS[table]}" for table, count in copied.rows.items())

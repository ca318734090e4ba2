"""Fair turns for the web server's writers to one SQLite file (a database adapter beside db.py)."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import weakref
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

SQLITE_WRITE_TIMEOUT = 30.0  # as long as the busy timeout `make_engine` sets


class SqliteWriteTurns:
    """Writers to one SQLite file take turns on a blocking lock instead of SQLite's busy
    handler.

    SQLite lets one writer at a time in; the others wait in its busy handler, which sleeps
    1, 2, 5 … up to 100 ms between tries and lets any newcomer that arrives while it sleeps
    overtake it. With 16 concurrent writers some requests lose the race for a second or
    more. Here a connection about to write (its first INSERT, UPDATE or DELETE) first takes
    this process's lock and then an flock on a file beside the database (shared by every
    uvicorn worker); both wake a waiter the moment the turn is given back, when the
    connection returns to the pool after its COMMIT or ROLLBACK. Only the write part of a
    request queues: reads and the HTTP work around them stay parallel. Writers outside the
    server (the CLI, Celery) keep SQLite's own locking, which still guarantees correctness;
    this only makes the server's own writers fair.
    """

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, database_path: str) -> None:
        self._lock = threading.Lock()
        self._path = f"{database_path}.writers"
        self._fd: int | None = None

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        # Given back when the connection returns to the pool: right after its COMMIT or
        # ROLLBACK has run (the engine's commit event fires before the COMMIT itself).
        event.listen(engine.pool, "checkin", self._checked_in)

    def _before_execute(
        self,
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if connection.info.get("write_turn") or not statement.lstrip()[:7].upper().startswith(
            self.WRITES
        ):
            return
        if not self._lock.acquire(timeout=SQLITE_WRITE_TIMEOUT):
            raise OperationalError(statement, parameters, TimeoutError("write turn"))
        try:
            if self._fd is None:
                self._fd = self._open_lock_file()
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        connection.info["write_turn"] = True

    def _open_lock_file(self) -> int:
        try:
            return os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:  # a read-only directory: turns within this process only
            log.warning("no write-turn file %s (%s); workers queue on SQLite", self._path, error)
            return -1

    def _checked_in(self, dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("write_turn", False):
            self._give_back()

    def _give_back(self) -> None:
        try:
            if self._fd is not None and self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


_turns: weakref.WeakKeyDictionary[Engine, SqliteWriteTurns] = weakref.WeakKeyDictionary()


def take_turns_on_sqlite(engine: Engine) -> None:
    """Install the write turns once per SQLite file engine (an app made twice shares them);
    other databases, and SQLite in memory, are left as they are."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return
    if engine not in _turns:
        _turns[engine] = SqliteWriteTurns(_file_of(str(engine.url.database)))
        _turns[engine].install(engine)


def _file_of(database: str) -> str:
    """The file of SQLite's database name, which may be a URI ("file:/path?mode=ro"): the turns'
    lock file goes beside the database, never into a folder named "file:" where we run."""
    if database.startswith("file:"):
        return database.removeprefix("file:").split("?", 1)[0]
    return database

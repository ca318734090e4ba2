"""What every bench needs: a free port, a scratch database, and percentiles.

The benches run as scripts (`.venv/bin/python bench/X.py`), so Python puts this folder on the
path and they import this module as `_support`.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# The PostgreSQL server the benches use unless BENCH_POSTGRES_URL names another.
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: Sequence[float], q: float, *, empty: float = 0.0) -> float:
    """Nearest-rank percentile (q in 0..1); `empty` when there are no values."""
    if not values:
        return empty
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """`<prefix>_<pid>` on the bench server, created fresh and dropped afterwards (also on
    Ctrl-C); yields its URL."""
    admin_url = make_url(os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    scratch = f"{prefix}_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{scratch}"'))
        try:
            yield admin_url.set(database=scratch).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            print(f"[cleanup] dropped database {scratch}", flush=True)
    finally:
        admin.dispose()


@contextmanager
def scratch_database(kind: str, directory: Path, prefix: str) -> Iterator[str]:
    """A fresh SQLite file in `directory` (kind "sqlite"), or a scratch PostgreSQL database;
    either is gone afterwards. Yields its URL."""
    if kind != "sqlite":
        with scratch_postgres(prefix) as url:
            yield url
        return
    path = directory / f"{prefix}_{time.monotonic_ns()}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

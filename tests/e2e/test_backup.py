"""`kvalitet backup` and `kvalitet restore`: what is restored is everything there was."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from ..conftest import one_page_pdf

KVALITET = [sys.executable, "-m", "workflow.entrypoints.cli"]
TABLES = ("entry", "history_event", "outbox_message", "document", "audit_event", "reminder")


def kvalitet(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "KVALITET_DATA_DIR": str(data_dir), "KVALITET_ACTOR": "e2e"}
    environment.pop("DATABASE_URL", None)
    environment.update(env)
    return subprocess.run(
        [*KVALITET, *args], env=environment, capture_output=True, text=True, timeout=120
    )


def rows(database: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(database)) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in TABLES
        }


def test_a_restored_backup_holds_every_entry_history_row_and_queued_message(
    tmp_path: Path,
) -> None:
    live, restored = tmp_path / "live", tmp_path / "restored"
    assert kvalitet(live, "demo").returncode == 0
    pdf = tmp_path / "bidrag.pdf"
    pdf.write_bytes(one_page_pdf())
    version = str(rows(live / "kvalitet.db")["entry"][0][5])
    attached = kvalitet(live, "entry", "advance", "1", "submitted", "--version", version,
                        "--attach", str(pdf))  # fmt: skip
    assert attached.returncode == 0, attached.stderr
    before = rows(live / "kvalitet.db")
    assert before["entry"] and before["history_event"] and before["document"]
    assert any(row for row in before["outbox_message"] if "queued" in row)

    made = kvalitet(live, "backup", str(tmp_path / "kopia.db"))
    assert made.returncode == 0, made.stderr
    assert f"{len(before['entry'])} poster" in made.stdout

    back = kvalitet(restored, "restore", str(tmp_path / "kopia.db"))
    assert back.returncode == 0, back.stderr
    assert rows(restored / "kvalitet.db") == before
    listed = kvalitet(restored, "entry", "list")
    assert listed.returncode == 0 and "Ungdomsjouren" in listed.stdout


def test_a_restore_never_overwrites_a_database(tmp_path: Path) -> None:
    """Restoring into a data folder that has a database is refused and changes nothing."""
    live, other = tmp_path / "live", tmp_path / "other"
    kvalitet(live, "demo")
    kvalitet(live, "backup", str(tmp_path / "kopia.db"))
    kvalitet(other, "init")
    before = (other / "kvalitet.db").read_bytes()
    refused = kvalitet(other, "restore", str(tmp_path / "kopia.db"))
    assert refused.returncode == 4
    assert "tom datamapp" in refused.stderr
    assert (other / "kvalitet.db").read_bytes() == before

    again = kvalitet(live, "backup", str(tmp_path / "kopia.db"))  # an existing file is kept
    assert again.returncode == 4 and "finns redan" in again.stderr
    not_ours = tmp_path / "anteckning.txt"
    not_ours.write_text("inte en databas")
    refused = kvalitet(tmp_path / "empty", "restore", str(not_ours))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr


def test_postgresql_is_told_its_pg_dump_line(tmp_path: Path, postgres_url: str) -> None:
    told = kvalitet(tmp_path, "backup", str(tmp_path / "x"), DATABASE_URL=postgres_url)
    assert told.returncode == 2
    assert "pg_dump --format=custom" in told.stderr
    assert not (tmp_path / "x").exists()

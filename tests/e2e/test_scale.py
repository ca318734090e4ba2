"""Scale-out on the production services: PostgreSQL + Redis, 4 worker processes (2 of them
with a beat scheduler) and 16 API clients advancing entries at once."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
from sqlmodel import select

from tests.conftest import MINIMAL_PDF
from tests.e2e.conftest import start_server
from tests.e2e.support import SmtpSink, Worker, redis_url, wait_until, worker_env  # noqa: F401
from tests.e2e.test_delivery import expected_ids, seed_entries
from workflow.db import make_engine, transaction
from workflow.models import Entry, HistoryEvent, OutboxMessage

BOARD = {"decision": "approved", "meeting_date": "2024-06-10", "paragraph": "§ 7"}


def test_sixteen_clients_four_workers_two_schedulers_everything_once(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Every transition is applied once (racing clients on one version: one wins, one gets
    409), and every e-mail and due reminder reaches the SMTP server exactly once."""
    sink = SmtpSink().start()
    servers = start_server(postgres_url, tmp_path)
    server = next(servers)
    engine = make_engine(postgres_url)
    seed_entries(engine, 32)  # 32 entries with 12 due reminders each
    token = server.user("kansliet", "admin")
    env = worker_env(postgres_url, redis_url, sink.port, tmp_path)
    workers = [
        Worker(env, tmp_path / f"worker{n}.log", beat=n < 2, concurrency=1).start()
        for n in range(4)
    ]
    with transaction(engine) as session:
        entry_ids = sorted(e.id or 0 for e in session.exec(select(Entry)).all())
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client_work(ids: list[int]) -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            for entry_id in ids:
                # Two clients race for the same entry at version 1: one must lose with 409.
                response = client.post(
                    f"/api/v1/entries/{entry_id}/transitions",
                    json={"to": "board_decision", "version": 1, "data": BOARD},
                )
                with lock:
                    statuses[response.status_code] += 1
                if response.status_code != 200:
                    continue
                uploaded = client.post(
                    f"/api/v1/entries/{entry_id}/documents",
                    files={"file": ("utdrag.pdf", MINIMAL_PDF, "application/pdf")},
                    data={"kind": "extract"},
                )
                assert uploaded.status_code == 201, uploaded.text
                for version, target in ((2, "extract_sent"), (3, "submitted")):
                    moved = client.post(
                        f"/api/v1/entries/{entry_id}/transitions",
                        json={"to": target, "version": version},
                    )
                    assert moved.status_code == 200, moved.text

    # Clients n and n + 8 get the same entries, so every first move is raced by two.
    threads = [
        threading.Thread(target=client_work, args=(entry_ids[n % 8 :: 8],)) for n in range(16)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert statuses == {200: len(entry_ids), 409: len(entry_ids)}
        expected = expected_ids(engine)

        def drained() -> bool:
            with transaction(engine) as session:
                rows = session.exec(select(OutboxMessage)).all()
            return all(m.status == "sent" for m in rows) and expected <= set(sink.ids())

        assert wait_until(drained, timeout=240), (tmp_path / "worker0.log").read_text()[-3000:]
    finally:
        for worker in workers:
            worker.stop()
        sink.stop()
        servers.close()
    with transaction(engine) as session:
        history = session.exec(select(HistoryEvent)).all()
        entries = session.exec(select(Entry)).all()
    moves = Counter((h.entry_id, h.to_stage) for h in history)
    assert set(moves.values()) == {1}  # no transition recorded twice
    assert {e.stage for e in entries} == {"submitted"}
    assert {e.version for e in entries} == {4}
    assert set(sink.ids()) == expected_ids(engine)
    assert sink.duplicates() == {}
    assert sink.defects == []
    engine.dispose()

"""Transitions per second over HTTP: 16 concurrent clients against a real uvicorn server.

    .venv/bin/python bench/api.py [--n 2000] [--clients 16] [--workers 1]
                                  [--db sqlite|postgres|both] [--sweep 1,2,3]

Each client owns its share of the entries and walks each one through the six forward moves of
a city-run entry (board decision … jury), one POST /api/v1/entries/{id}/transitions per move,
each from the version the previous response returned, as a person at a screen does; so 16
requests are in flight at any moment. The server is `kvalitet web --workers W` on loopback
(the same app the tests start), with an admin token, on a fresh database seeded like
`bench/transitions.py` (one organisation, eligible units, notified entries with their minutes
extract uploaded).

Beside it, in the same run and on the same kind of database, the service-layer rate of
`bench/transitions.py` (its own `run_sqlite` / `run_postgres`: one transaction per transition,
no HTTP, one writer). Goals: p99 under 50 ms, and the HTTP rate at least 0.4 × the service rate.

`--sweep 1,2,3` runs the HTTP part once per worker count (the service rate once), to show why
the default is what it is.

Workers: two, as `kvalitet web --workers 2` (what docker-compose runs, one per core here).
Until stop 9 this bench ran bare `uvicorn --workers W`, which leaves Nagle on (uvicorn#3149):
every keep-alive response after the first waited ~40 ms for a delayed ACK, which made a
second worker look useless. Through `kvalitet web`, measured on this two-core machine:
SQLite 254/s with one worker, 352/s with two; PostgreSQL 158/s and 196/s (`--sweep 1,2`).

Threads: each worker runs its handlers in `WEB_THREADS` threads (default 2; anyio's default
was 40). Set it in the environment to compare, e.g. `WEB_THREADS=3 .venv/bin/python
bench/api.py`: the server inherits it.

Balance: each client reconnects per entry, and a connection stays with the worker that
accepted it. Until stop 12 one worker held 13-15 of the 16 connections (watch it with
`ss -tnp state established "( sport = :PORT )"` during a run); now a worker with requests in
flight leaves new connections to an idler one (workflow/entrypoints/http/webserver.py), 8 and 8.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import transitions as service_bench  # bench/transitions.py, beside this file
from _support import free_port, percentile, scratch_database
from sqlalchemy.exc import OperationalError

from workflow import services
from workflow.db import make_engine, transaction, upgrade_schema

ROOT = Path(__file__).resolve().parents[1]
P99_GOAL_MS = 50.0
RATIO_GOAL = 0.4
WARMUP_ENTRIES_PER_CLIENT = 1
WALK = [(stage.value, dict(data)) for stage, data in service_bench.CITY_RUN_WALK]


@dataclass
class HttpRun:
    database: str
    workers: int
    clients: int
    timing: service_bench.Timing
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def p50_ms(self) -> float:
        return 1000 * percentile(self.timing.latencies, 0.50)

    @property
    def p99_ms(self) -> float:
        return 1000 * percentile(self.timing.latencies, 0.99)


# --- a server on a scratch database ------- ---------------------------------------------------


def seed(url: str, entries: int) -> tuple[list[tuple[int, int]], str]:
    """Entries as bench/transitions.py seeds them, and an admin's API token."""
    engine = make_engine(url)
    try:
        upgrade_schema(engine)
        seeded = service_bench.seed(engine, entries)
        with transaction(engine) as session:
            created = services.create_user(
                session, name="bench-admin", role="admin", now=datetime.now(UTC)
            )
        return seeded, created.token
    finally:
        engine.dispose()


@contextmanager
def server(url: str, workers: int, directory: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KVALITET_DATA_DIR": str(directory),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_BROKER_URL", None)  # no worker: the after-commit nudge is a no-op
    log = directory / "uvicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            # `kvalitet web`, as production runs it: bare `uvicorn --workers N` leaves Nagle on
            # and adds ~40 ms to every keep-alive response (uvicorn#3149).
            [str(Path(sys.executable).with_name("kvalitet")), "web",
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"uvicorn did not come up: {log.read_text()[-3000:]}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


# --- the clients -----------------------------------------------------------------------------


def drive(
    base: str, token: str, entries: list[tuple[int, int]], clients: int
) -> tuple[service_bench.Timing, dict[int, int]]:
    """`clients` clients, each walking its own entries; wall time from a common start."""
    return asyncio.run(_drive(base, token, entries, clients))


async def _drive(
    base: str, token: str, entries: list[tuple[int, int]], clients: int
) -> tuple[service_bench.Timing, dict[int, int]]:
    # The clients share two cores with the server, so each is as cheap as a client can be:
    # one event loop, keep-alive connections, HTTP/1.1 written by hand. (Sixteen
    # threads with httpx or http.client cost the server a measurable share of the CPU and
    # add GIL hand-offs to every latency.)
    host, port = base.removeprefix("http://").split(":")
    shares = [entries[i::clients] for i in range(clients)]
    latencies: list[float] = []
    errors: dict[int, int] = {}
    go = asyncio.Event()
    head = (
        "POST /api/v1/entries/{entry_id}/transitions HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )

    async def client(share: list[tuple[int, int]]) -> None:
        await go.wait()
        for entry_id, version in share:
            # A connection per entry: keep-alive over its six moves, then a fresh one, so the
            # kernel spreads connections over the uvicorn workers as they come and go (16
            # connections opened at once and kept would land mostly on one worker).
            reader, writer = await asyncio.open_connection(host, int(port))
            for target, data in WALK:
                body = json.dumps({"to": target, "version": version, "data": data}).encode()
                t0 = time.perf_counter()
                writer.write(head.format(entry_id=entry_id, length=len(body)).encode() + body)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                payload = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1
                    break
                version = json.loads(payload)["version"]
            writer.close()
            await writer.wait_closed()

    tasks = [asyncio.create_task(client(share)) for share in shares]
    await asyncio.sleep(0)  # every client waiting
    began = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return service_bench.Timing(count=len(latencies), elapsed=elapsed, latencies=latencies), errors


def run_http(kind: str, n: int, clients: int, workers: int) -> HttpRun:
    measured = max(clients, math.ceil(n / len(WALK)))
    warmup = clients * WARMUP_ENTRIES_PER_CLIENT
    with (
        tempfile.TemporaryDirectory() as directory,
        scratch_database(kind, Path(directory), "kv_api_bench") as url,
    ):
        print(f"[{kind}] HTTP: seeding {measured + warmup} entries …", flush=True)
        seeded, token = seed(url, measured + warmup)
        with server(url, workers, Path(directory)) as base:
            drive(base, token, seeded[:warmup], clients)  # every worker's pool and caches
            print(
                f"[{kind}] HTTP: {measured * len(WALK)} transitions, {clients} clients, "
                f"{workers} worker(s) …",
                flush=True,
            )
            timing, errors = drive(base, token, seeded[warmup:], clients)
    return HttpRun(kind, workers, clients, timing, errors)


def run_service(kind: str, n: int) -> service_bench.Result:
    print(f"[{kind}] service layer (bench/transitions.py) …", flush=True)
    if kind == "sqlite":
        return service_bench.run_sqlite(n, False)
    return service_bench.run_postgres(n, False)


# --- report ----------------------------------------------------------------------------------


def report(rows: list[tuple[HttpRun, service_bench.Result]]) -> None:
    cores = os.cpu_count() or 0
    try:
        load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        load = "?"
    print()
    print(
        f"{cores} cores, load average {load}; Python {platform.python_version()}; "
        "clients: one asyncio loop in this process, a keep-alive connection per entry."
    )
    for database, settings in {s.database: s.settings for _, s in rows}.items():
        print(f"  {database}: {settings}")
    print()
    header = (
        f"{'database':<9} {'workers':>7} {'clients':>7} {'transitions':>11} {'trans/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'service/s':>9} {'ratio':>6}  goals: p99 < "
        f"{P99_GOAL_MS:.0f} ms, ratio ≥ {RATIO_GOAL}"
    )
    print(header)
    print("-" * len(header))
    for run, service in rows:
        ratio = run.timing.rate / service.service.rate if service.service.rate else 0.0
        met = [
            "p99 ok" if run.p99_ms < P99_GOAL_MS else "p99 MISSED",
            "ratio ok" if ratio >= RATIO_GOAL else "ratio MISSED",
        ]
        errors = f"  errors {run.errors}" if run.errors else ""
        print(
            f"{run.database:<9} {run.workers:>7} {run.clients:>7} {run.timing.count:>11} "
            f"{run.timing.rate:>8.0f} {run.p50_ms:>7.1f} {run.p99_ms:>7.1f} "
            f"{service.service.rate:>9.0f} {ratio:>6.2f}  {', '.join(met)}{errors}"
        )


def littles_law_note(clients: int) -> None:
    print()
    print(
        f"With {clients} clients and no pause between requests, mean latency = {clients} / rate "
        f"(Little's law): p99 < {P99_GOAL_MS:.0f} ms needs well over "
        f"{clients / (P99_GOAL_MS / 1000):.0f} transitions/s."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="transitions per measurement")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes (see the docstring)"
    )
    parser.add_argument("--sweep", default="", help="worker counts to compare, e.g. 1,2,3")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.sweep.split(",") if w] or [args.workers]

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows: list[tuple[HttpRun, service_bench.Result]] = []
    status = 0
    for kind in kinds:
        try:
            service = run_service(kind, args.n)
            for workers in worker_counts:
                rows.append((run_http(kind, args.n, args.clients, workers), service))
        except OperationalError as error:
            print(f"[{kind}] skipped, not reachable: {error}", file=sys.stderr)
            status = 1
    if rows:
        report(rows)
        littles_law_note(args.clients)
    if any(run.errors for run, _ in rows):
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())

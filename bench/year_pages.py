"""The year-from-the-web pages at a city's scale: 300 organisations, 3,000 units.

    .venv/bin/python bench/year_pages.py [--database sqlite|postgresql|both]
        [--organisations 300] [--units 3000] [--entries 300] [--requests 40]
        [--import-rows 3000]

Seeds through the service layer (organisations one by one, units in one import, entries
registered as the award office would, every tenth unit privately run, one coordinator per
organisation), starts `kvalitet web` (one uvicorn worker, as a small installation runs it) on a
free loopback port, logs in through the login form and GETs every page the award office uses to
run its year, --requests times each over one keep-alive connection after one warm-up request.
The baseline, measured in the same run, is the entry list page (`/entries`), a page whose speed
earlier benches already accepted. Then the CSV import preview: a file of --import-rows new units
posted to the import form (timed from the request to the preview's last byte, three times).

Goals (issue #14): every page p99 < 150 ms on SQLite and PostgreSQL; import preview < 2 s.
Scratch databases only (a SQLite file in a temporary folder, `kv_year_pages_<pid>` on
BENCH_POSTGRES_URL); the server is stopped and the database removed on exit.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from _support import free_port, percentile, scratch_database

ROOT = Path(__file__).resolve().parent.parent
ADMIN_NAME, ADMIN_PASSWORD = "bench-admin", "bench-lösenord-123"
YEAR = 2027
PAGE_GOAL_MS = 150.0
IMPORT_GOAL_S = 2.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Seeded:
    organisation_ids: list[int] = field(default_factory=list)
    unit_ids: list[int] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)


def seed(database_url: str, organisations: int, units: int, entries: int) -> Seeded:
    os.environ["DATABASE_URL"] = database_url
    from workflow import db
    from workflow.domain.access import Actor, Role
    from workflow.models import UnitCreate
    from workflow.services.entries import create_entry
    from workflow.services.registry import create_cycle, create_organisation, create_user
    from workflow.services.unit_import import import_units

    engine = db.make_engine(database_url)
    db.upgrade_schema(engine)
    now = datetime.now(UTC)
    seeded = Seeded()
    with db.transaction(engine) as session:
        create_cycle(
            session,
            year=YEAR,
            contribution_deadline=date(YEAR, 5, 17),
            extract_deadline=date(YEAR, 6, 28),
            winners_date=date(YEAR, 11, 23),
        )
        for number in range(organisations):
            organisation = create_organisation(
                session,
                name=f"Förvaltning {number:03d}",
                kind="forvaltning" if number % 5 else "bolag",
                board=f"Nämnd {number:03d}",
                coordinator_email=f"samordnare{number}@forvaltning.stockholm.se",
            )
            assert organisation.id is not None
            seeded.organisation_ids.append(organisation.id)
        specs = [
            (
                row + 2,
                UnitCreate(
                    organisation_id=seeded.organisation_ids[row % organisations],
                    name=f"Enhet {row:04d}",
                    staff_count=5 + row % 40,
                    manager_has_budget_and_staff_responsibility=True,
                    has_business_plan=True,
                    share_stockholm_residents=0.9,
                    budget_in_balance=True,
                    privately_run=row % 10 == 0,
                    contact_email=f"enhet{row}@stockholm.se" if row % 7 else None,
                ),
            )
            for row in range(units)
        ]
        seeded.unit_ids = import_units(session, specs)
        for number, organisation_id in enumerate(seeded.organisation_ids[:50]):
            made = create_user(
                session,
                name=f"samordnare-{number}",
                role="coordinator",
                organisation_id=organisation_id,
                now=now,
            )
            assert made.user.id is not None
            seeded.user_ids.append(made.user.id)
    admin = Actor(user_id=0, name="bench", role=Role.ADMIN)
    classes = ["forskola", "skola", "aldreomsorg", "socialtjanst", "andra_verksamheter"]
    started = time.perf_counter()
    for number, unit_id in enumerate(seeded.unit_ids[:entries]):
        with db.transaction(engine) as session:
            entry = create_entry(
                session,
                unit_id=unit_id,
                year=YEAR,
                award_class=classes[number % len(classes)],
                actor="bench",
                now=now,
                acting=admin,
            )
            assert entry.id is not None
            seeded.entry_ids.append(entry.id)
    print(f"  registered {entries} entries in {time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()
    return seeded


def start_web(database_url: str, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KVALITET_DATA_DIR": str(data_dir),
        "CELERY_BROKER_URL": "",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "-m", "workflow.entrypoints.cli", "user", "create", ADMIN_NAME,
         "--role", "admin", "--password"],
        cwd=ROOT, env=env, input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n", capture_output=True,
        text=True, timeout=120, start_new_session=True, check=True,
    )  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "workflow.entrypoints.cli", "web", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the web server did not start:\n{log.read_text()[-2000:]}")


def login(client: httpx.Client) -> None:
    page = client.get("/login")
    token = _CSRF.search(page.text)
    assert token, f"login form: {page.status_code}"
    answer = client.post(
        "/login",
        data={"name": ADMIN_NAME, "password": ADMIN_PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, f"login refused: {answer.status_code}"


def pages(seeded: Seeded) -> dict[str, str]:
    """Label → path of every page the award office runs its year in (the baseline first)."""
    middle_unit = seeded.unit_ids[len(seeded.unit_ids) // 2]
    return {
        "baseline: /entries": f"/entries?year={YEAR}",
        "start page (Att göra)": "/",
        "cycles": "/admin/cycles",
        "one cycle": f"/admin/cycles/{YEAR}",
        "organisations": "/admin/organisations",
        "one organisation": f"/admin/organisations/{seeded.organisation_ids[-1]}",
        "units, first page": "/admin/units",
        "units, searched": "/admin/units?q=Enhet+29",
        "one unit": f"/admin/units/{middle_unit}",
        "users": "/admin/users",
        "one user": f"/admin/users/{seeded.user_ids[-1]}",
        "registration form": f"/admin/entries/new?year={YEAR}&unit={seeded.unit_ids[-1]}",
        "copy cycle form": f"/admin/cycles/{YEAR}/copy",
        "one entry": f"/entries/{seeded.entry_ids[len(seeded.entry_ids) // 2]}",
        "unit import form": "/admin/units/import",
    }


def time_pages(client: httpx.Client, seeded: Seeded, requests: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    for label, path in pages(seeded).items():
        warm = client.get(path)
        if warm.status_code != 200:
            print(f"  {label}: {path} answered {warm.status_code}; not timed", flush=True)
            timings[label] = []
            continue
        latencies = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(path)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, (path, response.status_code)
        timings[label] = latencies
    return timings


def import_csv(rows: int, organisation_id: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["organisation_id", "name", "staff_count", "manager_has_budget_and_staff_responsibility",
         "has_business_plan", "share_stockholm_residents", "budget_in_balance", "privately_run",
         "contact_email"]
    )  # fmt: skip
    for row in range(rows):
        writer.writerow(
            [organisation_id, f"Ny enhet {row:04d}", 12, "ja", "ja", "0.8", "ja", "nej",
             f"ny{row}@stockholm.se"]
        )  # fmt: skip
    return buffer.getvalue().encode()


def time_import_preview(client: httpx.Client, rows: int, organisation_id: int) -> list[float]:
    form = client.get("/admin/units/import")
    token = _CSRF.search(form.text)
    if form.status_code != 200 or not token:
        print(f"  import form answered {form.status_code}; preview not timed", flush=True)
        return []
    payload = import_csv(rows, organisation_id)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        response = client.post(
            "/admin/units/import",
            data={"csrf_token": token.group(1)},
            files={"file": ("enheter.csv", payload, "text/csv")},
        )
        timings.append(time.perf_counter() - started)
        if response.status_code != 200 or f"Ny enhet {rows - 1:04d}" not in response.text:
            print(f"  preview answered {response.status_code}: {response.text[:300]}", flush=True)
            return []
    return timings


def run(kind: str, args: argparse.Namespace) -> tuple[dict[str, list[float]], list[float]]:
    with (
        tempfile.TemporaryDirectory() as folder,
        scratch_database(kind, Path(folder), "kv_year_pages") as database_url,
    ):
        started = time.perf_counter()
        seeded = seed(database_url, args.organisations, args.units, args.entries)
        print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)
        process, url = start_web(database_url, Path(folder), Path(folder) / "web.log")
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                login(client)
                timings = time_pages(client, seeded, args.requests)
                preview = time_import_preview(client, args.import_rows, seeded.organisation_ids[0])
        finally:
            process.terminate()
            process.wait(timeout=30)
    return timings, preview


def report(kind: str, timings: dict[str, list[float]], preview: list[float]) -> bool:
    baseline = percentile(timings.get("baseline: /entries", []), 0.99, empty=float("nan"))
    print(f"\n{kind}: page                     p50 ms   p99 ms   p99/baseline  goal")
    met = True
    for label, latencies in timings.items():
        if not latencies:
            met = False
            print(f"  {label:<26} not measured                       MISSED")
            continue
        p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
        ok = p99 < PAGE_GOAL_MS
        met = met and ok
        ratio = p99 / (baseline * 1000) if baseline == baseline else float("nan")
        print(
            f"  {label:<26} {p50:7.1f}  {p99:7.1f}   {ratio:6.2f}×      {'met' if ok else 'MISSED'}"
        )
    if preview:
        best, worst = min(preview), max(preview)
        ok = worst < IMPORT_GOAL_S
        met = met and ok
        print(f"  import preview            best {best:.2f} s, worst {worst:.2f} s  "
              f"{'met' if ok else 'MISSED'} (< {IMPORT_GOAL_S:.0f} s)")  # fmt: skip
    else:
        met = False
        print("  import preview            not measured")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--organisations", type=int, default=300)
    parser.add_argument("--units", type=int, default=3000)
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--import-rows", type=int, default=3000)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = {}
    for kind in kinds:
        print(f"{kind}: seeding {args.organisations} organisations, {args.units} units, "
              f"{args.entries} entries", flush=True)  # fmt: skip
        results[kind] = run(kind, args)
    met = all([report(kind, *result) for kind, result in results.items()])  # noqa: C419 (each reports)
    print(f"\nAll goals {'met' if met else 'NOT met'}.")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

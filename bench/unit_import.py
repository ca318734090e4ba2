"""A 100,000-unit CSV import through `kvalitet unit import`, as a city's first load would be.

    .venv/bin/python bench/unit_import.py [--rows 100000]

Writes a CSV of --rows units in one organisation, imports it into a scratch SQLite database
with the CLI (its own process, so its peak memory is the import's alone), and prints the wall
time and the process's peak resident memory. The baseline, measured in the same run, is the
same import of 1,000 rows: the ratio of the two peaks shows how memory grows with the file.
Goal (issue #17, point 6): the import streams — memory must not grow with the file's size.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "name", "organisation_id", "staff_count", "manager_has_budget_and_staff_responsibility",
    "has_business_plan", "share_stockholm_residents", "budget_in_balance", "privately_run",
    "contact_email",
)  # fmt: skip
KVALITET = [sys.executable, "-m", "workflow.entrypoints.cli"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for number in range(rows):
            writer.writerow(
                (
                    f"Förskolan Nummer {number}",
                    1,
                    12,
                    "ja",
                    "ja",
                    "0.95",
                    "ja",
                    "nej",
                    f"forskola{number}@stockholm.se",
                )
            )


def run_import(rows: int, folder: Path) -> tuple[float, float]:
    """(seconds, peak MB) of importing `rows` units into a new database."""
    data = folder / f"data-{rows}"
    env = {**os.environ, "KVALITET_DATA_DIR": str(data), "KVALITET_ACTOR": "bench"}
    env.pop("DATABASE_URL", None)
    subprocess.run([*KVALITET, "init"], env=env, check=True, capture_output=True)
    org = ["org", "create", "Utbildningsförvaltningen", "--board", "Utbildningsnämnden"]
    subprocess.run([*KVALITET, *org], env=env, check=True, capture_output=True)
    path = folder / f"units-{rows}.csv"
    write_csv(path, rows)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([*KVALITET, "unit", "import", str(path)], env=env, capture_output=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: the import is the largest by far.
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        base_seconds, base_mb = run_import(1_000, folder)
        seconds, megabytes = run_import(args.rows, folder)
    print(f"baseline 1,000 rows:   {base_seconds:6.1f} s, peak {base_mb:6.0f} MB")
    print(f"{args.rows:,} rows:       {seconds:6.1f} s, peak {megabytes:6.0f} MB")
    print(f"ratio (peak):          {megabytes / base_mb:6.2f}x for {args.rows / 1000:.0f}x rows")


if __name__ == "__main__":
    main()

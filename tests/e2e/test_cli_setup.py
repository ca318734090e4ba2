"""The register's changes from the command line: `cycle update` with its settings,
`org update`, `unit update` (a correction needs its why), `user update`, `user deactivate`
and `user password-link`. Refusals exit non-zero and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

KVALITET = [sys.executable, "-m", "workflow.entrypoints.cli"]


class Cli:
    def __init__(self, database_url: str) -> None:
        self.env = {**os.environ, "DATABASE_URL": database_url}

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*KVALITET, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == code, (result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> list[dict[str, object]]:
        return json.loads(self(*args, "--json").stdout)  # type: ignore[no-any-return]


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    cli = Cli(sqlite_url)
    cli("init")
    cli(
        "cycle", "create", "--year", "2027", "--contribution-deadline", "2027-05-17",
        "--extract-deadline", "2027-06-28", "--winners-date", "2027-11-26",
    )  # fmt: skip
    return cli


def test_cycle_update_changes_dates_classes_and_budget_rule(cli: Cli) -> None:
    out = cli("cycle", "update", "--year", "2027", "--contribution-deadline", "2027-05-20",
              "--class", "skola", "--class", "förskola", "--budget-rule", "to_take_part",
              "--note", "Beslut i ledningsgruppen").stdout  # fmt: skip
    assert "Budget i balans krävs för att delta" in out
    [cycle] = cli.json("cycle", "list")
    assert cycle["contribution_deadline"] == "2027-05-20"
    assert cycle["classes"] == ["skola", "forskola"]
    assert cycle["budget_rule"] == "to_take_part"


def test_a_bad_cycle_update_exits_2_and_changes_nothing(cli: Cli) -> None:
    before = cli.json("cycle", "list")
    result = cli("cycle", "update", "--year", "2027", "--budget-rule", "ibland", code=2)
    assert "budgetregel" in result.stderr
    cli("cycle", "update", "--year", "2027", "--contribution-deadline", "2027-07-01", code=2)
    assert cli.json("cycle", "list") == before


def test_org_and_unit_updates_are_saved_and_a_correction_needs_its_why(cli: Cli) -> None:
    org = cli("org", "create", "Bromma stadsdelsförvaltning", "--board", "Bromma nämnd").stdout
    org_id = org.strip()
    cli("organisation", "update", org_id, "--board", "Bromma stadsdelsnämnd",
        "--escalation-email", "registrator@bromma.example.se")  # fmt: skip
    [saved] = cli.json("org", "list")
    assert saved["board"] == "Bromma stadsdelsnämnd"
    assert saved["escalation_email"] == "registrator@bromma.example.se"
    unit = cli("unit", "create", "Förskolan Ekorren", "--org", org_id, "--staff", "4").stdout
    unit_id = unit.strip()
    missing_note = cli("unit", "update", unit_id, "--staff", "8", code=2)
    assert "--note" in missing_note.stderr or "note" in missing_note.stderr.lower()
    cli("unit", "update", unit_id, "--staff", "8", "--contact", "chef@ekorren.example.se",
        "--note", "Rätt antal enligt chefen")  # fmt: skip
    [corrected] = cli.json("unit", "list")
    assert corrected["staff_count"] == 8
    assert corrected["contact_email"] == "chef@ekorren.example.se"
    cli("unit", "update", unit_id, "--contact", "fel", "--note", "x", code=2)


def test_user_update_deactivate_and_password_link(cli: Cli) -> None:
    org_id = cli("org", "create", "Socialförvaltningen", "--board", "Socialnämnden").stdout.strip()
    out = cli("user", "create", "eva", "--role", "coordinator", "--organisation", org_id).stdout
    user_id = out.split("id ")[1].split(".")[0]
    no_email = cli("user", "password-link", user_id, code=2)
    assert "e-postadress" in no_email.stderr
    cli("user", "update", user_id, "--email", "eva@social.example.se", "--role", "examiner")
    sent = cli("user", "password-link", user_id).stdout
    assert "eva@social.example.se" in sent
    assert "eva" in cli("user", "deactivate", user_id).stdout
    cli("user", "update", "999999", "--role", "jury", code=3)

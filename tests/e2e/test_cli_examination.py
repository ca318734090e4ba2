"""The examination from the command line: `criteria default/set/show`, `examiners team`,
`assessment list`. Refusals exit non-zero in Swedish and change nothing."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli_setup import Cli


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    cli = Cli(sqlite_url)
    cli("init")
    cli(
        "cycle", "create", "--year", "2027", "--contribution-deadline", "2027-05-17",
        "--extract-deadline", "2027-06-28", "--winners-date", "2027-11-26",
    )  # fmt: skip
    return cli


def test_criteria_are_suggested_changed_and_a_bad_scale_is_refused(cli: Cli) -> None:
    cli("criteria", "default", "2027")
    shown = json.loads(cli("criteria", "show", "2027", "--json").stdout)
    assert shown["criteria"][0]["name"] == "Ledarskap" and shown["score_max"] == 5
    refused = cli("criteria", "set", "2027", "--criterion", "Ledarskap", "--scale", "5-1", code=2)
    assert "Skalan" in refused.stderr
    cli("criteria", "set", "2027", "--criterion", "Ledarskap: Hur chefen leder",
        "--criterion", "Resultat: Vad som nås", "--scale", "1-4")  # fmt: skip
    out = cli("criteria", "show", "2027").stdout
    assert "skala 1–4" in out and "2. Resultat: Vad som nås" in out


def test_a_team_for_an_entry_that_does_not_exist_is_refused_and_listed_as_none(cli: Cli) -> None:
    result = cli("examiners", "team", "99", "--examiner", "1", "--lead", "1", code=3)
    assert "Posten med id 99 finns inte." in result.stderr
    assert "finns inte" in cli("assessment", "list", "99", code=3).stderr

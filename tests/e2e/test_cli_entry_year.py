"""`kvalitet entry extend`, `entry case-number`, `entry correct` and `org board-report-case`
as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.e2e.test_cli import Cli, cli, entry_id  # fixtures

__all__ = ["cli", "entry_id"]


def test_extend_moves_the_entrys_date_and_is_in_the_history(cli: Cli, entry_id: int) -> None:
    view = cli.json(
        "entry", "extend", str(entry_id), "--contribution-until", "2024-05-31",
        "--note", "Sjukdom", "--version", "1",
    )  # fmt: skip
    assert isinstance(view, dict)
    assert view["contribution_until"] == "2024-05-31"
    history = cli.json("entry", "history", str(entry_id))
    assert isinstance(history, list)
    assert history[-1]["data"]["until"] == "2024-05-31"
    assert history[-1]["note"] == "Sjukdom"
    shown = cli("entry", "show", str(entry_id)).stdout
    assert "Förlängd tid för bidraget: till 2024-05-31" in shown


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--contribution-until", "2024-05-10"], 2, "efter omgångens sista dag"),
        (["--contribution-until", "2024-12-01"], 2, "före den dag vinnarna utses"),
        (["--contribution-until", "31 maj"], 2, "inget datum"),
        ([], 2, "antingen"),
        (["--contribution-until", "2024-05-31", "--version", "9"], 4, "har ändrats"),
    ],
)
def test_bad_extensions_exit_with_a_reason(
    cli: Cli, entry_id: int, args: list[str], code: int, words: str
) -> None:
    result = cli("entry", "extend", str(entry_id), *args, "--note", "x", ok=False)
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    view = cli.json("entry", "show", str(entry_id))
    assert isinstance(view, dict)
    assert view["version"] == 1 and view["contribution_until"] is None


def test_case_number_is_set_shown_and_cleared(cli: Cli, entry_id: int) -> None:
    cli("entry", "case-number", str(entry_id), "SLK 2024/123")
    assert "Dnr:       SLK 2024/123" in cli("entry", "show", str(entry_id)).stdout
    too_long = cli("entry", "case-number", str(entry_id), "x" * 41, ok=False)
    assert too_long.returncode == 2 and "högst 40 tecken" in too_long.stderr
    view = cli.json("entry", "case-number", str(entry_id), "")
    assert isinstance(view, dict)
    assert view["case_number"] is None


def test_correct_a_board_meeting_date(cli: Cli, entry_id: int) -> None:
    cli(
        "entry", "advance", str(entry_id), "board_decision", "--version", "1",
        "--data", "decision=approved", "--data", "meeting_date=2024-03-12",
        "--data", "paragraph=§ 4",
    )  # fmt: skip
    view = cli.json(
        "entry", "correct", str(entry_id), "--version", "2", "--note", "Fel datum",
        "--data", "board_decision.meeting_date=2024-03-14",
    )  # fmt: skip
    assert isinstance(view, dict)
    assert view["facts"]["board_decision"]["meeting_date"] == "2024-03-14"
    stale = cli(
        "entry", "correct", str(entry_id), "--version", "2", "--note", "x", "--class", "skola",
        ok=False,
    )  # fmt: skip
    assert stale.returncode == 4


def test_board_report_case_number(cli: Cli, entry_id: int) -> None:
    assert cli("org", "board-report-case", "1", "2024", "SOF 2024/9").stdout.strip() == (
        "Dnr SOF 2024/9"
    )
    missing = cli("org", "board-report-case", "1", "2031", "SOF", ok=False)
    assert missing.returncode == 3

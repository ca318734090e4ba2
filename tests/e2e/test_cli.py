"""The `kvalitet` command as a user runs it: a real subprocess on a real database."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest
import typer

import workflow
from tests.conftest import MINIMAL_PDF
from tests.e2e.support import free_port, wait_until
from workflow import db
from workflow.domain.errors import (
    Forbidden,
    TooManyAttempts,
    Unauthenticated,
    WorkflowError,
    refusal,
)
from workflow.entrypoints.cli.processes import serve_environment
from workflow.entrypoints.cli.work import EXIT_CODES, run

KVALITET = [sys.executable, "-m", "workflow.entrypoints.cli"]


class Cli:
    def __init__(self, database_url: str) -> None:
        self.env = {**os.environ, "DATABASE_URL": database_url, "KVALITET_ACTOR": "e2e"}

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*KVALITET, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(database_url: str) -> Cli:
    cli = Cli(database_url)
    cli("init")
    return cli


@pytest.fixture
def entry_id(cli: Cli) -> int:
    cli(
        "cycle", "create", "--year", "2024", "--contribution-deadline", "2024-05-17",
        "--extract-deadline", "2024-06-28", "--winners-date", "2024-11-26",
    )  # fmt: skip
    org = cli("org", "create", "Socialförvaltningen", "--board", "Socialnämnden").stdout.strip()
    unit = cli("unit", "create", "Ungdomsjouren", "--org", org, "--staff", "14").stdout.strip()
    view = cli.json("entry", "create", "--unit", unit, "--year", "2024", "--class", "socialtjänst")
    assert isinstance(view, dict)
    return int(view["id"])


def test_demo_loads_the_four_seed_cases_idempotently(cli: Cli) -> None:
    """`demo` twice gives the six seed entries once, with unit, organisation and stage."""
    cli("demo")
    cli("demo")
    entries = cli.json("entry", "list")
    assert isinstance(entries, list)
    seen = {(e["organisation"], e["unit"], e["year"]) for e in entries}
    assert seen == {
        ("Hägersten-Älvsjö stadsdelsförvaltning", "Medborgarservice", 2025),
        ("Socialförvaltningen", "Ungdomsjouren", 2024),
        ("Socialförvaltningen", "LSS/SoL-hälsan", 2024),
        ("Bromma stadsdelsförvaltning", "Enheten för arbete och försörjning", 2024),
        ("Bromma stadsdelsförvaltning", "Förebyggande verksamhet", 2024),
        ("Östermalms stadsdelsförvaltning", "Stöd- och serviceenhetens beställarenhet", 2021),
    }
    ostermalm = next(e for e in entries if e["year"] == 2021)
    assert ostermalm["pending"] == {"submitted": {"submitted_on": "2021-05-17"}}
    assert len(cli.json("entry", "list", "--year", "2024")) == 4  # type: ignore[arg-type]


def test_entry_json_has_the_contracted_fields(cli: Cli, entry_id: int) -> None:
    """`entry show --json` carries id, unit, organisation, year, class, stage, version, moves."""
    view = cli.json("entry", "show", str(entry_id))
    assert isinstance(view, dict)
    assert view["unit"] == "Ungdomsjouren"
    assert view["organisation"] == "Socialförvaltningen"
    assert (view["year"], view["award_class"], view["stage"], view["version"]) == (
        2024,
        "socialtjanst",
        "notified",
        1,
    )
    assert view["allowed_transitions"] == ["board_decision", "withdrawn"]


def test_advance_with_data_and_history(cli: Cli, entry_id: int) -> None:
    """Advancing records the board decision data; history shows actor, from, to and note."""
    cli(
        "entry", "advance", str(entry_id), "board_decision", "--version", "1",
        "--note", "Nämndmöte juni", "--data", "decision=approved",
        "meeting_date=2024-06-10", "paragraph=§ 12",
    )  # fmt: skip
    history = cli.json("entry", "history", str(entry_id))
    assert isinstance(history, list)
    last = history[-1]
    assert (last["from"], last["to"], last["actor"], last["note"]) == (
        "notified",
        "board_decision",
        "e2e",
        "Nämndmöte juni",
    )
    assert last["data"] == {
        "decision": "approved",
        "meeting_date": "2024-06-10",
        "paragraph": "§ 12",
    }
    listed = cli.json("entry", "list", "--stage", "board_decision")
    assert [e["id"] for e in listed] == [entry_id]  # type: ignore[union-attr]


def test_ceremony_and_site_visit_are_given_their_hours(cli: Cli) -> None:
    """The cycle's ceremony is set to 18:00–20:30. A privately run unit's entry goes
    straight to `submitted`; its site visit is booked for 13:00–15:30. A time that is no
    time is refused (exit 2), and nothing is booked."""
    cli(
        "cycle", "create", "--year", "2024", "--contribution-deadline", "2024-05-17",
        "--extract-deadline", "2024-06-28", "--winners-date", "2024-11-26",
        "--ceremony-starts-at", "18:00", "--ceremony-ends-at", "20:30",
    )  # fmt: skip
    assert "vinnare 2024-11-26 (prisutdelning 18:00–20:30)" in cli("cycle", "list").stdout
    org = cli("org", "create", "Äldreförvaltningen", "--board", "Äldrenämnden").stdout.strip()
    unit = cli("unit", "create", "Hemtjänsten", "--org", org, "--staff", "20", "--private")
    view = cli.json(
        "entry", "create", "--unit", unit.stdout.strip(), "--year", "2024", "--class", "äldreomsorg"
    )
    entry = str(view["id"])  # type: ignore[index]
    cli("entry", "advance", entry, "submitted", "--version", "1")
    book = ["entry", "site-visit", entry, "--date", "2024-09-03", "--version", "2"]
    wrong = cli(*book, "--starts-at", "kvart över ett", ok=False)
    assert wrong.returncode == 2
    assert "--starts-at: 'kvart över ett' är ingen tid" in wrong.stderr
    cli(*book, "--starts-at", "13:00", "--ends-at", "15:30")
    booked = cli.json("entry", "show", entry)
    assert booked["version"] == 3  # type: ignore[index]
    assert booked["facts"]["site_visit"] == {  # type: ignore[index]
        "site_visit_on": "2024-09-03",
        "starts_at": "13:00",
        "ends_at": "15:30",
    }


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["entry", "advance", "{id}", "jury", "--version", "1"], 5, "inte tillåten"),
        (["entry", "advance", "{id}", "granskad", "--version", "1"], 2, "Okänt steg"),
        (["entry", "advance", "{id}", "board_decision", "--version", "7"], 4, "har ändrats"),
        (["entry", "advance", "999", "board_decision", "--version", "1"], 3, "finns inte"),
        (["entry", "advance", "{id}", "board_decision", "--version", "1"], 5, "meeting_date"),
        (["entry", "advance", "{id}", "withdrawn", "--version", "1", "--data", "x"], 2, "NYCKEL"),
        (
            [
                "entry",
                "advance",
                "{id}",
                "board_decision",
                "--version",
                "1",
                "decision=approved",
                "meeting_date=2024-06-10",
                "paragraph=5",
                "--data",
                "decision=noted",
            ],
            2,
            "två gånger",
        ),
    ],
)
def test_refusals_exit_non_zero_and_change_nothing(
    cli: Cli, entry_id: int, args: list[str], exit_code: int, message: str
) -> None:
    """Each refusal prints its reason on stderr, exits with its code, and changes nothing."""
    before = cli.json("entry", "history", str(entry_id))
    result = cli(*[a.replace("{id}", str(entry_id)) for a in args], ok=False)
    assert result.returncode == exit_code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.json("entry", "history", str(entry_id)) == before


@pytest.mark.parametrize(
    ("args", "message", "help_for"),
    [
        (["user", "create", "kalle"], "fel: --role saknas.", "kvalitet user create"),
        (["entry", "history", "tre"], "ENTRY_ID: ange ett heltal.", "kvalitet entry history"),
        (["cycle", "create", "--year", "x"], "--year: ange ett heltal.", "kvalitet cycle create"),
        (["user", "create", "k", "--rol", "admin"], "Menade du --role?", "kvalitet user create"),
        (["entry", "histroy", "1"], "'histroy'. Menade du history?", "kvalitet entry"),
        (["skicka"], "Okänt kommando 'skicka'.", "kvalitet"),
    ],
)
def test_a_command_typed_wrong_is_told_in_swedish(
    cli: Cli, args: list[str], message: str, help_for: str
) -> None:
    """Click's own refusals (a missing option, a value of the wrong kind, a misspelt command)
    answer in Swedish, with where to read more, exit 2, and no English box or traceback."""
    result = cli(*args, ok=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert f"Se '{help_for} --help'." in result.stderr
    for english in ("Usage:", "Error", "Missing", "No such", "Invalid value", "Traceback"):
        assert english not in result.stderr


def test_outbox_list_shows_what_a_change_queued_and_says_when_there_is_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    assert cli("outbox", "list").stdout.strip() == "Utkorgen är tom."
    cli(
        "cycle", "create", "--year", "2024", "--contribution-deadline", "2024-05-17",
        "--extract-deadline", "2024-06-28", "--winners-date", "2024-11-26",
    )  # fmt: skip
    org = cli("org", "create", "Socialförvaltningen", "--board", "Socialnämnden").stdout.strip()
    unit = cli("unit", "create", "Ungdomsjouren", "--org", org, "--staff", "14",
               "--contact", "chef@example.se").stdout.strip()  # fmt: skip
    cli("entry", "create", "--unit", unit, "--year", "2024", "--class", "socialtjänst")
    queued = cli.json("outbox", "list")
    assert isinstance(queued, list)
    receipt = next(m for m in queued if m["kind"] == "notification_receipt")
    assert (receipt["to"], receipt["status"]) == ("chef@example.se", "queued")
    assert receipt["message_id"].endswith("@kvalitet.stockholm.se>")
    assert "notification_receipt" in cli("outbox", "list").stdout
    none_sent = cli("outbox", "list", "--status", "sent").stdout.strip()
    assert none_sent == "Inga meddelanden med de villkoren."


def test_ineligible_unit_is_refused_with_each_rule(cli: Cli, entry_id: int) -> None:
    """A three-person unit without a business plan cannot be notified; both rules are named."""
    unit = cli("unit", "create", "Liten", "--org", "1", "--staff", "3", "--no-business-plan")
    result = cli(
        "entry", "create", "--unit", unit.stdout.strip(), "--year", "2024", "--class", "skola",
        ok=False,
    )  # fmt: skip
    assert result.returncode == 6
    assert "verksamhetsplan" in result.stderr
    assert "minst 5" in result.stderr
    assert len(cli.json("entry", "list")) == 1  # type: ignore[arg-type]


def test_cycle_with_deadlines_out_of_order_is_refused(cli: Cli) -> None:
    """A cycle whose contribution deadline falls after the extract deadline is not stored."""
    result = cli(
        "cycle", "create", "--year", "2025", "--contribution-deadline", "2025-07-01",
        "--extract-deadline", "2025-06-28", "--winners-date", "2025-11-25", ok=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "protokollsutdraget" in result.stderr
    assert cli.json("cycle", "list") == []
    # Every bad date at once, so the person fixes them in one go.
    both = cli(
        "cycle", "create", "--year", "2025", "--contribution-deadline", "2025-02-30",
        "--extract-deadline", "28 juni", "--winners-date", "2025-11-25", ok=False,
    )  # fmt: skip
    assert both.returncode == 2
    assert "--contribution-deadline: '2025-02-30' är inget datum" in both.stderr
    assert "--extract-deadline: '28 juni' är inget datum" in both.stderr
    assert cli.json("cycle", "list") == []


def test_unit_import_reports_rows_and_stores_none(cli: Cli, tmp_path: Path) -> None:
    """A CSV with two bad rows names both rows and stores no unit; a good file stores all."""
    cli("org", "create", "Bromma stadsdelsförvaltning", "--board", "Bromma stadsdelsnämnd")
    header = (
        "organisation;name;staff_count;manager_has_budget_and_staff_responsibility;"
        "has_business_plan;share_stockholm_residents;budget_in_balance;privately_run;"
        "earlier_participation_years\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        header
        + "Bromma stadsdelsförvaltning;Arbete och försörjning;20;ja;ja;0,9;ja;nej;2022 2023\n"
        + "Bromma stadsdelsförvaltning;Förebyggande;sju;ja;ja;90%;ja;nej;\n"
        + "Okänd förvaltning;X;8;ja;ja;1;ja;nej;\n"
        + "Bromma stadsdelsförvaltning;Kort rad;6;ja;ja;0,9\n"
        + "Bromma stadsdelsförvaltning;Arabisk siffra;٥;ja;ja;0,9;ja;nej;\n",
        encoding="utf-8",
    )
    result = cli("unit", "import", str(bad), ok=False)
    assert result.returncode == 2
    assert "Rad 3" in result.stderr
    assert "Rad 4" in result.stderr
    assert "Rad 5: för få fält" in result.stderr  # not read as "nej" for what is missing
    assert "Rad 6: '٥' i staff_count är inget heltal" in result.stderr
    assert cli.json("unit", "list") == []
    twice = tmp_path / "twice.csv"
    twice.write_text(header.rstrip("\n") + ";name\n", encoding="utf-8")
    result = cli("unit", "import", str(twice), ok=False)
    assert result.returncode == 2 and "två gånger: name" in result.stderr
    assert cli.json("unit", "list") == []

    good = tmp_path / "good.csv"
    good.write_text(
        header
        + "Bromma stadsdelsförvaltning;Arbete och försörjning;20;ja;ja;0,9;ja;nej;2022 2023\n"
        + "Bromma stadsdelsförvaltning;Förebyggande;7;ja;ja;90%;ja;nej;\n",
        encoding="utf-8-sig",
    )
    assert "2 enheter" in cli("unit", "import", str(good)).stdout
    units = cli.json("unit", "list")
    assert isinstance(units, list)
    assert units[0]["earlier_participation_years"] == [2022, 2023]
    assert units[1]["share_stockholm_residents"] == pytest.approx(0.9)


def test_non_utf8_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    """A Latin-1 file is refused with advice to save it as UTF-8; nothing is stored."""
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("organisation_id,name\n1,Förskolan\n".encode("latin-1"))
    result = cli("unit", "import", str(latin1), ok=False)
    assert result.returncode == 2
    assert "UTF-8" in result.stderr
    assert cli.json("unit", "list") == []


def test_commands_before_init_say_what_to_do(tmp_path: Path) -> None:
    """On an empty database a command tells the user to run `kvalitet init`."""
    cli = Cli(f"sqlite:///{tmp_path / 'empty.db'}")
    result = cli("entry", "list", ok=False)
    assert result.returncode == 7
    assert "kvalitet init" in result.stderr


def test_a_database_that_does_not_exist_is_unreachable_not_uninitialised(
    postgres_url: str,
) -> None:
    """'kvalitet init' cannot help when the database itself is missing: exit 8, not 7."""
    cli = Cli(postgres_url.rsplit("/", 1)[0] + "/finns_inte_alls")
    result = cli("entry", "list", ok=False)
    assert result.returncode == 8, result.stderr
    assert "kvalitet init" not in result.stderr


def test_an_attached_file_is_kept_as_what_the_stage_is_about(
    cli: Cli, entry_id: int, tmp_path: Path
) -> None:
    """The contribution attached on `submitted` is the contribution: it is never sent to the
    award office as the minutes extract. On other stages --attach is refused."""
    pdf = tmp_path / "bidrag.pdf"
    pdf.write_bytes(MINIMAL_PDF)
    entry = str(entry_id)
    refused = cli("entry", "advance", entry, "withdrawn", "--version", "1", "--note", "x",
                  "--attach", str(pdf), ok=False)  # fmt: skip
    assert refused.returncode == 2 and "--attach gäller bara" in refused.stderr
    cli("entry", "advance", entry, "submitted", "--version", "1", "--attach", str(pdf))
    cli("entry", "advance", entry, "board_decision", "--version", "2",
        "decision=approved", "meeting_date=2024-06-10", "paragraph=§ 5")  # fmt: skip
    no_extract = cli("entry", "advance", entry, "extract_sent", "--version", "3", ok=False)
    assert no_extract.returncode == 5
    assert "Protokollsutdraget saknas" in no_extract.stderr


def test_what_the_environment_gets_wrong_is_a_message_not_a_traceback(
    cli: Cli, entry_id: int, tmp_path: Path
) -> None:
    """Numbers too large for the database, bytes that are not UTF-8, control characters in a
    user name, an unreachable database and a data folder that is a file: each says what is
    wrong in Swedish and exits non-zero."""
    huge = str(2**63)
    cases: list[tuple[Cli, list[str], set[int], str]] = [
        (cli, ["entry", "show", huge], {2, 3}, ""),
        (cli, ["entry", "history", huge], {2, 3}, ""),
        (cli, ["unit", "create", "Stor", "--org", "1", "--staff", huge], {2}, "för stort"),
        (cli, ["unit", "create", "Bad\udcffName", "--org", "1", "--staff", "5"], {2}, "UTF-8"),
        (cli, ["unit", "create", "Ny", "--org", "1", "--staff", "5", "--earlier", "-5"], {2}, "-5"),
        (cli, ["user", "create", "ev\nil", "--role", "jury"], {2}, "styrtecken"),
        (Cli("postgresql+psycopg://postgres@127.0.0.1:1/x"), ["entry", "list"], {8}, "databasen"),
    ]
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    folder_is_a_file = Cli("")
    folder_is_a_file.env.pop("DATABASE_URL")
    folder_is_a_file.env["KVALITET_DATA_DIR"] = str(a_file)
    cases.append((folder_is_a_file, ["entry", "list"], {8}, str(a_file)))
    units = cli.json("unit", "list")
    for runner, args, codes, message in cases:
        result = runner(*args, ok=False)
        assert result.returncode in codes, (args, result.stderr)
        assert "Traceback" not in result.stderr, args
        assert result.stderr.startswith("fel: "), (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert cli.json("unit", "list") == units


def test_twenty_concurrent_advances_from_one_version_apply_once(cli: Cli, entry_id: int) -> None:
    """20 processes advance the same entry from version 1 at once: one wins, 19 get a
    conflict, and the history holds exactly one new event."""
    argv = [
        *KVALITET, "entry", "advance", str(entry_id), "board_decision", "--version", "1",
        "--data", "decision=noted", "meeting_date=2024-06-10", "paragraph=§ 3",
    ]  # fmt: skip

    def run(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=cli.env, capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(run, range(20)))
    codes = sorted(r.returncode for r in results)
    assert codes == [0] + [4] * 19, [r.stderr for r in results if r.returncode not in (0, 4)]
    history = cli.json("entry", "history", str(entry_id))
    assert [e["to"] for e in history] == ["notified", "board_decision"]  # type: ignore[union-attr]


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    assert client.get(path).status_code == 200
    return time.perf_counter() - started


def test_web_serves_with_several_workers_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`kvalitet web --workers 2` (what docker-compose runs) answers, with both worker
    processes up, and stops cleanly on SIGTERM."""
    env = {**os.environ, "KVALITET_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    subprocess.run([*KVALITET, "init"], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    process = subprocess.Popen(
        [*KVALITET, "web", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(up, timeout=60)
        workers = [p for p in psutil.Process(process.pid).children() if p.cmdline()]
        assert len([p for p in workers if "resource_tracker" not in " ".join(p.cmdline())]) == 2
        with httpx.Client(base_url=url, timeout=10) as client:
            statuses = {client.get("/healthz").status_code for _ in range(10)}
            assert statuses == {200}
            assert client.get("/api/v1/entries").status_code == 401  # still needs a token
            # Keep-alive requests answer at once: without TCP_NODELAY on the accepted
            # connections each one after the first waits ~40 ms for the delayed ACK.
            fastest = min(timed_get(client, "/healthz") for _ in range(20))
            assert fastest < 0.020, f"fastest keep-alive request took {fastest * 1000:.0f} ms"
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = process.wait(timeout=30)
    assert code == 0, process.stdout.read().decode() if process.stdout else ""
    assert time.monotonic() - started < 30


def _refusal_classes() -> set[type[WorkflowError]]:
    """Every refusal the workflow defines below its entrypoints (the HTTP entrypoints' own,
    such as an upload too large for a request body, never reach the command line)."""
    for module in pkgutil.walk_packages(workflow.__path__, "workflow."):
        if not module.name.startswith(("workflow.entrypoints", "workflow.migrations")):
            importlib.import_module(module.name)
    found: set[type[WorkflowError]] = set()
    unseen = [WorkflowError]
    while unseen:
        for kind in unseen.pop().__subclasses__():
            found.add(kind)
            unseen.append(kind)
    return {kind for kind in found if not kind.__module__.startswith("workflow.entrypoints")}


def test_every_refusal_has_an_exit_code() -> None:
    """Each refusal class the workflow raises maps to an exit code, by its own class or a
    named ancestor: none falls through to the catch-all."""
    unmapped = [
        kind.__qualname__
        for kind in _refusal_classes()
        if not any(ancestor in EXIT_CODES for ancestor in kind.__mro__)
    ]
    assert unmapped == []


@pytest.mark.parametrize(
    ("error", "exit_code"), [(Unauthenticated, 9), (Forbidden, 9), (TooManyAttempts, 10)]
)
def test_an_access_refusal_ends_the_command_with_its_code_and_reason(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: type[WorkflowError],
    exit_code: int,
) -> None:
    """A refusal of access in a command's transaction prints its reason and exits with its
    own code (it used to end in StopIteration, the code lookup finding nothing)."""

    @contextmanager
    def no_database() -> Iterator[None]:
        yield None

    def refuse(_session: object) -> None:
        raise refusal(error, "refused", "Du får inte göra det.")

    monkeypatch.setattr(db, "transaction", no_database)
    with pytest.raises(typer.Exit) as exited:
        run(refuse)
    assert exited.value.exit_code == exit_code
    assert capsys.readouterr().err == "fel: Du får inte göra det.\n"


def test_serve_gives_the_web_and_the_worker_one_broker_and_its_own_address() -> None:
    """`serve` adds the broker both processes use, and its own address as PUBLIC_URL unless
    the operator set one (a webhook may not point back at this very server)."""
    broker = "redis://127.0.0.1:6379/0"
    assert serve_environment(broker, "0.0.0.0", 8080, {}) == {
        "CELERY_BROKER_URL": broker,
        "PUBLIC_URL": "http://0.0.0.0:8080",
    }
    given = {"PUBLIC_URL": "https://kvalitet.stockholm.se"}
    assert serve_environment(broker, "127.0.0.1", 8000, given) == {"CELERY_BROKER_URL": broker}


def test_outbox_list_says_when_there_are_more(cli: Cli, entry_id: int) -> None:
    """A list cut at --limit says so and how to go on; going on finds the rest."""
    cli("org", "update", "1", "--coordinator-email", "samordnare@stockholm.se", "--note", "ny")
    unit = cli("unit", "create", "Fritidsgården", "--org", "1", "--staff", "9").stdout.strip()
    cli("unit", "update", unit, "--contact", "chef@stockholm.se", "--note", "ny")
    cli("entry", "create", "--unit", unit, "--year", "2024", "--class", "socialtjänst")
    everything = cli.json("outbox", "list")
    assert isinstance(everything, list) and len(everything) >= 2
    first = cli("outbox", "list", "--limit", "1", "--json")
    assert [m["id"] for m in json.loads(first.stdout)] == [everything[0]["id"]]
    assert f"--after-id {everything[0]['id']}" in first.stderr
    rest = cli.json("outbox", "list", "--after-id", str(everything[0]["id"]))
    assert rest == everything[1:]

"""The `kvalitet` command line: parse, call one service in one transaction, map errors once.

Exit codes (stable, for scripts): 0 done; 2 invalid input; 3 not found; 4 conflict (stale
version, duplicate); 5 transition refused; 6 unit not eligible; 7 database not initialised;
8 database or data folder unreachable.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)
from sqlmodel import Session, col, select

from workflow import db, imports, services
from workflow.demo import load_demo
from workflow.domain import rules
from workflow.domain.calendar import ceremony_span
from workflow.domain.errors import (
    Conflict,
    Ineligible,
    InvalidInput,
    NotFound,
    StaleVersion,
    TransitionRefused,
    WorkflowError,
)
from workflow.domain.rules import AWARD_CLASSES, AWARD_OFFICE_EMAIL
from workflow.domain.stages import STAGE_LABELS_SV, Stage
from workflow.models import Cycle, Organisation, Unit

EXIT_CODES: dict[type[WorkflowError], int] = {
    InvalidInput: 2,
    NotFound: 3,
    StaleVersion: 4,
    Conflict: 4,
    TransitionRefused: 5,
    Ineligible: 6,
}
EXIT_NOT_INITIALISED = 7
EXIT_UNAVAILABLE = 8

app = typer.Typer(
    help="Kvalitetsutmärkelsen: omgångar, enheter och deras steg.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cycle_app = typer.Typer(help="Omgångar (ett år av utmärkelsen).", no_args_is_help=True)
org_app = typer.Typer(help="Förvaltningar och bolag.", no_args_is_help=True)
unit_app = typer.Typer(help="Enheter.", no_args_is_help=True)
entry_app = typer.Typer(help="Anmälda enheter (poster) och deras steg.", no_args_is_help=True)
app.add_typer(cycle_app, name="cycle")
app.add_typer(org_app, name="org")
app.add_typer(unit_app, name="unit")
app.add_typer(entry_app, name="entry")

T = TypeVar("T")
JsonFlag = Annotated[bool, typer.Option("--json", help="Skriv ut som JSON.")]


def main() -> None:
    """The console script: what the environment gets wrong becomes a message, not a traceback,
    and a command typed wrong is told in Swedish (Typer and Click speak English)."""
    try:
        code = app(prog_name="kvalitet", standalone_mode=False)
    except typer.Abort:
        _exit_with(["Avbrutet."], 1)
    except (OverflowError, DataError):
        _exit_with(["Ett tal är för stort (id:n och antal är högst 2147483647)."], 2)
    except UnicodeError:
        _exit_with(["Argumenten är inte giltig UTF-8: kontrollera terminalens teckenkodning."], 2)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as error:
        _exit_with(
            [
                f"DATABASE_URL går inte att använda: {_first_line(error)}",
                "Ange sqlite:///SÖKVÄG eller postgresql+psycopg://ANVÄNDARE@VÄRD/DATABAS.",
            ],
            2,
        )
    except (OperationalError, InterfaceError) as error:
        _exit_with(
            [
                f"Kan inte använda databasen: {_first_line(error)}",
                "Kontrollera DATABASE_URL och att databasen är igång och skrivbar.",
            ],
            EXIT_UNAVAILABLE,
        )
    except OSError as error:  # the data folder (KVALITET_DATA_DIR), a port, a file
        reason = error.strerror or str(error)
        where = f"Kan inte använda {error.filename}: " if error.filename else ""
        _exit_with(
            [f"{where}{reason}", "Kontrollera KVALITET_DATA_DIR och att mappen går att skriva i."],
            EXIT_UNAVAILABLE,
        )
    except Exception as error:
        if not _derives_from(error, "ClickException"):
            raise
        _refuse_command_line(error)
    if isinstance(code, int) and code:  # typer.Exit(code) from a command
        sys.exit(code)


def _refuse_command_line(error: Exception) -> NoReturn:
    """What Click (or Typer's copy of it) refused before any command ran, in Swedish."""
    if not _derives_from(error, "UsageError"):  # a file argument that cannot be opened, say
        _exit_with([str(getattr(error, "message", error))], getattr(error, "exit_code", 1))
    if type(error).__name__ == "NoArgsIsHelpError":  # the help is already printed
        sys.exit(2)
    command = getattr(getattr(error, "ctx", None), "command_path", None) or "kvalitet"
    print(f"fel: {usage_problem(error)}", file=sys.stderr)
    print(f"Se '{command} --help'.", file=sys.stderr)
    sys.exit(2)


# What a value must look like, for "Ogiltigt värde för …": by Click's type name, or by the
# annotation Typer (0.29+) checks with pydantic.
EXPECTED_BY_TYPE: dict[object, str] = {
    "integer": "ett heltal",
    "integer range": "ett heltal",
    "float": "ett tal",
    "float range": "ett tal",
    "boolean": "ja eller nej (true/false)",
    "datetime": "ett datum som ÅÅÅÅ-MM-DD",
    int: "ett heltal",
    float: "ett tal",
    bool: "ja eller nej (true/false)",
    date: "ett datum som ÅÅÅÅ-MM-DD",
    datetime: "en tidpunkt som ÅÅÅÅ-MM-DDTTT:MM",
}
_NO_SUCH_COMMAND = re.compile(r"No such command '([^']*)'\.(?: Did you mean '([^']*)'\?)?")


def _derives_from(error: Exception, class_name: str) -> bool:
    """Click's (or Typer's copy of Click's) exception classes, recognised by name as Typer
    itself does, since where they live moved between versions."""
    return any(kind.__name__ == class_name for kind in type(error).__mro__)


def usage_problem(error: Exception) -> str:
    """A command typed wrong, said in Swedish (Click's own sentences are English)."""
    kind = type(error).__name__
    message = str(getattr(error, "message", error))
    parameter = getattr(error, "param", None)
    if kind == "MissingParameter":
        return f"{_parameter_name(parameter)} saknas."
    if kind == "BadParameter":
        expected = _expected_value(parameter)
        wanted = f": ange {expected}" if expected else f" ({message})"
        return f"Ogiltigt värde för {_parameter_name(parameter)}{wanted}."
    if kind == "NoSuchOption":
        name = getattr(error, "option_name", "")
        return f"Okänt alternativ {name}.{_did_you_mean(getattr(error, 'possibilities', []))}"
    if kind == "BadOptionUsage":
        return f"{getattr(error, 'option_name', 'Alternativet')} behöver ett värde."
    if match := _NO_SUCH_COMMAND.match(message):
        return f"Okänt kommando '{match[1]}'.{_did_you_mean([match[2]] if match[2] else [])}"
    return f"Fel i kommandot ({message})."


def _expected_value(parameter: Any) -> str | None:
    click_type = getattr(parameter, "type", None)
    if choices := getattr(click_type, "choices", None):
        return "något av " + ", ".join(str(choice) for choice in choices)
    runtime = getattr(parameter, "get_runtime_param", None)
    annotation = getattr(runtime(), "annotation", None) if callable(runtime) else None
    for key in (getattr(click_type, "name", None), annotation):
        if key is not None and key in EXPECTED_BY_TYPE:
            return EXPECTED_BY_TYPE[key]
    return None


def _parameter_name(parameter: Any) -> str:
    options = getattr(parameter, "opts", None) or []
    if getattr(parameter, "param_type_name", "") == "option" and options:
        return str(max(options, key=len))
    return str(getattr(parameter, "name", None) or "Ett värde").upper()


def _did_you_mean(possibilities: Sequence[str] | None) -> str:
    return f" Menade du {' eller '.join(possibilities)}?" if possibilities else ""


def _exit_with(messages: Sequence[str], code: int) -> NoReturn:
    """`_fail` outside a command, where typer no longer turns its Exit into an exit code."""
    for message in messages:
        print(f"fel: {message}", file=sys.stderr)
    sys.exit(code)


def _first_line(error: BaseException) -> str:
    """The driver's own first line (psycopg: 'connection failed: … Connection refused')."""
    original = getattr(error, "orig", None) or error
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _now() -> datetime:
    return datetime.now(UTC)


def _actor() -> str:
    """Who the history records: KVALITET_ACTOR, else the logged-in user."""
    return os.environ.get("KVALITET_ACTOR") or f"cli:{getpass.getuser()}"


def _fail(messages: Sequence[str], code: int) -> NoReturn:
    for message in messages:
        typer.echo(f"fel: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    """One transaction; every refusal becomes a message on stderr and a non-zero exit code."""
    try:
        with db.transaction() as session:
            yield session
    except WorkflowError as error:
        code = next(c for kind, c in EXIT_CODES.items() if isinstance(error, kind))
        _fail([reason.message for reason in error.reasons], code)
    except (OperationalError, ProgrammingError) as error:
        if "no such table" in str(error) or "does not exist" in str(error):
            _fail(["Databasen är inte initierad: kör 'kvalitet init' först."], EXIT_NOT_INITIALISED)
        raise


def _run(work: Callable[[Session], T]) -> T:
    with _unit_of_work() as session:
        return work(session)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _parse_date(value: str, option: str) -> date:
    return _parse_dates((option, value))[0]


def _parse_dates(*options: tuple[str, str]) -> list[date]:
    """Every option's date, or one message per bad one (a person fixes them all at once)."""
    parsed = {option: rules.parse_date(value) for option, value in options}
    bad = [f"{option}: '{value}' är inget datum (ÅÅÅÅ-MM-DD)." for option, value in options
           if parsed[option] is None]  # fmt: skip
    if bad:
        _fail(bad, 2)
    return [day for day in parsed.values() if day is not None]


def _parse_time(value: str, option: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        _fail([f"{option}: '{value}' är ingen tid (TT:MM, svensk tid)."], 2)
    return parsed


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        _fail([f"Kan inte läsa {path}: {error.strerror}."], 2)


def _nudge() -> None:
    """Ask a running worker to deliver the e-mails this change queued (best effort)."""
    from tasks.nudge import nudge_outbox

    nudge_outbox()


# --- init and demo ---------------------------------------------------------------------------


@app.command()
def init() -> None:
    """Skapa eller uppgradera databasens schema (SQLite-fil eller DATABASE_URL)."""
    db.upgrade_schema()
    typer.echo("Databasen är klar.")


@app.command()
def demo() -> None:
    """Läs in de fyra exempelärendena (Hägersten-Älvsjö, Socialnämnden, Bromma, Östermalm)."""
    db.upgrade_schema()
    ids = _run(lambda session: load_demo(session, now=_now()))
    typer.echo(f"Exempeldata inläst: {len(ids)} poster. Visa dem med 'kvalitet entry list'.")


# --- cycles ------------------------------------------------------------------------------------


@cycle_app.command("create")
def cycle_create(
    year: Annotated[int, typer.Option(help="År, t.ex. 2024.")],
    contribution_deadline: Annotated[str, typer.Option(help="Sista dag för bidraget.")],
    extract_deadline: Annotated[str, typer.Option(help="Sista dag för protokollsutdraget.")],
    winners_date: Annotated[str, typer.Option(help="Dagen då vinnarna utses.")],
    award_office: Annotated[str, typer.Option(help="Utmärkelsens adress.")] = AWARD_OFFICE_EMAIL,
    award_class: Annotated[
        list[str] | None,
        typer.Option("--class", help="Klass (upprepa); standard: alla fem klasser."),
    ] = None,
    ceremony_starts_at: Annotated[
        str | None,
        typer.Option("--ceremony-starts-at", help="Prisutdelningen börjar (TT:MM; 15:00)."),
    ] = None,
    ceremony_ends_at: Annotated[
        str | None,
        typer.Option("--ceremony-ends-at", help="Prisutdelningen slutar (TT:MM; 17:00)."),
    ] = None,
) -> None:
    """Skapa en omgång med årets sista dagar."""
    ceremony = (
        _parse_time(ceremony_starts_at, "--ceremony-starts-at") if ceremony_starts_at else None,
        _parse_time(ceremony_ends_at, "--ceremony-ends-at") if ceremony_ends_at else None,
    )
    dates = _parse_dates(
        ("--contribution-deadline", contribution_deadline),
        ("--extract-deadline", extract_deadline),
        ("--winners-date", winners_date),
    )
    cycle = _run(
        lambda session: services.create_cycle(
            session,
            year=year,
            contribution_deadline=dates[0],
            extract_deadline=dates[1],
            winners_date=dates[2],
            award_office_email=award_office,
            classes=award_class,
            ceremony_starts_at=ceremony[0],
            ceremony_ends_at=ceremony[1],
        )
    )
    typer.echo(f"Omgång {cycle.year} skapad (id {cycle.id}).")


@cycle_app.command("update")
def cycle_update(
    year: Annotated[int, typer.Option(help="Omgångens år.")],
    contribution_deadline: Annotated[str | None, typer.Option()] = None,
    extract_deadline: Annotated[str | None, typer.Option()] = None,
    winners_date: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Flytta en omgångs datum; väntande påminnelser planeras om."""
    contribution = (
        _parse_date(contribution_deadline, "--contribution-deadline")
        if (contribution_deadline)
        else None
    )
    extract = _parse_date(extract_deadline, "--extract-deadline") if extract_deadline else None
    winners = _parse_date(winners_date, "--winners-date") if winners_date else None
    cycle = _run(
        lambda session: services.update_cycle_deadlines(
            session,
            year=year,
            now=_now(),
            contribution_deadline=contribution,
            extract_deadline=extract,
            winners_date=winners,
        )
    )
    typer.echo(
        f"Omgång {cycle.year}: bidrag {cycle.contribution_deadline}, "
        f"utdrag {cycle.extract_deadline}, vinnare {cycle.winners_date}. Påminnelser omplanerade."
    )


@cycle_app.command("list")
def cycle_list(as_json: JsonFlag = False) -> None:
    """Visa omgångarna."""
    cycles = _run(lambda s: [c.model_dump(mode="json") for c in s.exec(select(Cycle)).all()])
    if as_json:
        _echo_json(cycles)
        return
    for c in cycles:
        start, end = ceremony_span(
            *(time.fromisoformat(c[k]) if c[k] else None for k in CEREMONY_FIELDS)
        )
        typer.echo(
            f"{c['year']}  bidrag {c['contribution_deadline']}  utdrag {c['extract_deadline']}  "
            f"vinnare {c['winners_date']} (prisutdelning {start:%H:%M}–{end:%H:%M})  "
            f"{c['award_office_email']}"
        )


CEREMONY_FIELDS = ("ceremony_starts_at", "ceremony_ends_at")


# --- organisations -----------------------------------------------------------------------------


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="T.ex. 'Bromma stadsdelsförvaltning'.")],
    board: Annotated[str, typer.Option(help="Nämnden eller styrelsen som beslutar.")],
    kind: Annotated[str, typer.Option(help="forvaltning eller bolag.")] = "forvaltning",
    coordinator_email: Annotated[str | None, typer.Option(help="Samordnarens e-post.")] = None,
) -> None:
    """Skapa en förvaltning eller ett bolag; skriver ut dess id."""
    organisation = _run(
        lambda s: services.create_organisation(
            s, name=name, kind=kind, board=board, coordinator_email=coordinator_email
        )
    )
    typer.echo(organisation.id)


@org_app.command("list")
def org_list(as_json: JsonFlag = False) -> None:
    """Visa förvaltningar och bolag."""
    orgs = _run(
        lambda s: [
            o.model_dump() for o in s.exec(select(Organisation).order_by(col(Organisation.id)))
        ]
    )
    if as_json:
        _echo_json(orgs)
        return
    for o in orgs:
        typer.echo(f"{o['id']:>4}  {o['name']}  ({o['board']})")


# --- units -------------------------------------------------------------------------------------


@unit_app.command("create")
def unit_create(
    name: Annotated[str, typer.Argument(help="Enhetens namn.")],
    organisation_id: Annotated[int, typer.Option("--org", help="Organisationens id.")],
    staff_count: Annotated[int, typer.Option("--staff", help="Medarbetare inklusive chef.")],
    share: Annotated[
        float, typer.Option(help="Andel av verksamheten för stockholmare, 0–1.")
    ] = 1.0,
    manager: Annotated[
        bool,
        typer.Option("--manager/--no-manager", help="Chef med budget- och personalansvar."),
    ] = True,
    business_plan: Annotated[
        bool, typer.Option("--business-plan/--no-business-plan", help="Verksamhetsplan med mål.")
    ] = True,
    budget_in_balance: Annotated[
        bool, typer.Option("--budget-in-balance/--budget-not-in-balance")
    ] = True,
    private: Annotated[
        bool, typer.Option("--private/--city-run", help="Enskilt driven (ingen nämnd).")
    ] = False,
    contact_email: Annotated[str | None, typer.Option("--contact", help="Chefens e-post.")] = None,
    earlier: Annotated[
        list[int] | None, typer.Option(help="År för tidigare deltagande (upprepa).")
    ] = None,
    earlier_count: Annotated[int, typer.Option(help="Antal tidigare deltaganden.")] = 0,
) -> None:
    """Registrera en enhet; skriver ut dess id."""
    spec = services.UnitCreate(
        organisation_id=organisation_id,
        name=name,
        staff_count=staff_count,
        manager_has_budget_and_staff_responsibility=manager,
        has_business_plan=business_plan,
        share_stockholm_residents=share,
        budget_in_balance=budget_in_balance,
        privately_run=private,
        contact_email=contact_email,
        earlier_participation_years=tuple(earlier or ()),
        earlier_participation_count=earlier_count,
    )
    unit = _run(lambda s: services.create_unit(s, spec))
    typer.echo(unit.id)


@unit_app.command("import")
def unit_import(
    file: Annotated[Path, typer.Argument(help="CSV-fil, en enhet per rad.")],
) -> None:
    """Läs in enheter från CSV: alla rader eller ingen, med radnummer i felen."""
    raw = _read_file(file)

    def work(session: Session) -> int:
        text = imports.decode_csv(raw)
        names = {o.name: o.id or 0 for o in session.exec(select(Organisation)).all()}
        specs = imports.parse_units_csv(text, organisation_ids_by_name=names)
        return len(services.import_units(session, specs))

    typer.echo(f"{_run(work)} enheter inlästa.")


@unit_app.command("list")
def unit_list(as_json: JsonFlag = False) -> None:
    """Visa enheterna."""
    units = _run(lambda s: [u.model_dump() for u in s.exec(select(Unit).order_by(col(Unit.id)))])
    if as_json:
        _echo_json(units)
        return
    for u in units:
        kind = "enskilt driven" if u["privately_run"] else "kommunalt driven"
        typer.echo(f"{u['id']:>4}  {u['name']}  ({kind}, {u['staff_count']} medarbetare)")


# --- entries -----------------------------------------------------------------------------------


@entry_app.command("create")
def entry_create(
    unit_id: Annotated[int, typer.Option("--unit", help="Enhetens id.")],
    year: Annotated[int, typer.Option(help="Omgångens år.")],
    award_class: Annotated[
        str, typer.Option("--class", help=f"Klass: {', '.join(AWARD_CLASSES)}.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Anmäl en enhet till en omgång (steget notified)."""

    def work(session: Session) -> dict[str, Any]:
        entry = services.create_entry(
            session, unit_id=unit_id, year=year, award_class=award_class, actor=_actor(), now=_now()
        )
        assert entry.id is not None
        return services.entry_view(session, entry.id)

    _print_entry(_run(work), as_json)


@entry_app.command("list")
def entry_list(
    stage: Annotated[str | None, typer.Option(help="Bara poster i detta steg.")] = None,
    year: Annotated[int | None, typer.Option(help="Bara poster i detta års omgång.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Visa anmälda enheter och deras steg."""
    views = _run(lambda s: services.entry_views(s, stage=stage, year=year))
    if as_json:
        _echo_json(views)
        return
    if not views:
        typer.echo("Inga poster.")
        return
    typer.echo(f"{'id':>4}  {'år':<4}  {'steg':<15} {'v':>3}  {'klass':<18}  enhet (organisation)")
    for v in views:
        typer.echo(
            f"{v['id']:>4}  {v['year']:<4}  {v['stage']:<15} {v['version']:>3}  "
            f"{AWARD_CLASSES[v['award_class']]:<18}  {v['unit']} ({v['organisation']})"
        )


@entry_app.command("show")
def entry_show(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")], as_json: JsonFlag = False
) -> None:
    """Visa en post: steg, version, tillåtna övergångar och registrerade uppgifter."""
    _print_entry(_run(lambda s: services.entry_view(s, entry_id)), as_json)


def _print_entry(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo_json(view)
        return
    typer.echo(f"Post {view['id']}: {view['unit']} ({view['organisation']}), {view['year']}")
    typer.echo(f"  Klass:     {AWARD_CLASSES[view['award_class']]}")
    typer.echo(f"  Steg:      {view['stage']} ({view['stage_label']}), version {view['version']}")
    allowed = ", ".join(view["allowed_transitions"]) or "inga (avslutad)"
    typer.echo(f"  Nästa steg: {allowed}")
    for fact, data in view["facts"].items():
        shown = ", ".join(f"{k}={v}" for k, v in data.items())
        stage = next((s for s in Stage if s.value == fact), None)
        label = STAGE_LABELS_SV[stage] if stage else "Platsbesök"
        typer.echo(f"  {label}: {shown or '-'}")
    for stage, data in view["pending"].items():
        shown = ", ".join(f"{k}={v}" for k, v in data.items())
        typer.echo(f"  Väntar: {STAGE_LABELS_SV[Stage(stage)]} ({shown})")


def _parse_data(pairs: Sequence[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            _fail([f"'{pair}' ska skrivas NYCKEL=VÄRDE, t.ex. meeting_date=2024-06-10."], 2)
        if data.get(key.strip(), value) != value:
            _fail([f"{key.strip()} anges två gånger med olika värden; vilket gäller?"], 2)
        data[key.strip()] = value
    return data


@entry_app.command("advance")
def entry_advance(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    stage: Annotated[str, typer.Argument(help="Steget posten ska till.")],
    version: Annotated[int, typer.Option(help="Versionen du utgår från (se 'entry show').")],
    more_data: Annotated[
        list[str] | None, typer.Argument(help="Fler NYCKEL=VÄRDE efter --data.", show_default=False)
    ] = None,
    note: Annotated[str | None, typer.Option(help="Varför (sparas i historiken).")] = None,
    data: Annotated[
        list[str] | None, typer.Option(help="Uppgift för steget, NYCKEL=VÄRDE (upprepa).")
    ] = None,
    attach: Annotated[
        Path | None,
        typer.Option(
            help="Protokollsutdraget (extract_sent) eller bidraget (submitted) som fil, "
            "sparas med posten."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Flytta en post till nästa steg, från den version du utgick från."""
    values = _parse_data([*(data or []), *(more_data or [])])
    # The file is what the target stage is about; never, say, a contribution as the extract.
    kind = {Stage.EXTRACT_SENT.value: "extract", Stage.SUBMITTED.value: "contribution"}.get(stage)
    if attach is not None and kind is None:
        _fail(
            ["--attach gäller bara extract_sent (protokollsutdraget) och submitted (bidraget)."], 2
        )
    upload = _read_file(attach) if attach else None

    def work(session: Session) -> dict[str, Any]:
        if attach is not None and upload is not None and kind is not None:
            services.attach_document(
                session,
                entry_id=entry_id,
                kind=kind,
                filename=attach.name,
                data=upload,
                actor=_actor(),
                now=_now(),
            )
        services.advance_entry(
            session,
            entry_id=entry_id,
            target=stage,
            version=version,
            actor=_actor(),
            now=_now(),
            note=note,
            data=values,
        )
        return services.entry_view(session, entry_id)

    _print_entry(_run(work), as_json)
    _nudge()


@entry_app.command("site-visit")
def entry_site_visit(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    on: Annotated[str, typer.Option("--date", help="Dag för platsbesöket (ÅÅÅÅ-MM-DD).")],
    version: Annotated[int, typer.Option(help="Versionen du utgår från.")],
    note: Annotated[str | None, typer.Option(help="Anteckning i historiken.")] = None,
    starts_at: Annotated[
        str | None, typer.Option("--starts-at", help="Börjar, svensk tid (TT:MM; 09:00).")
    ] = None,
    ends_at: Annotated[
        str | None, typer.Option("--ends-at", help="Slutar, svensk tid (TT:MM; 12:00).")
    ] = None,
) -> None:
    """Boka examinatorernas platsbesök; enheten får ett meddelande."""
    day = _parse_date(on, "--date")
    start = _parse_time(starts_at, "--starts-at") if starts_at else None
    end = _parse_time(ends_at, "--ends-at") if ends_at else None

    def work(session: Session) -> dict[str, Any]:
        services.schedule_site_visit(
            session,
            entry_id=entry_id,
            version=version,
            on=day,
            actor=_actor(),
            now=_now(),
            note=note,
            starts_at=start,
            ends_at=end,
        )
        return services.entry_view(session, entry_id)

    _print_entry(_run(work), False)
    _nudge()


@entry_app.command("withdraw")
def entry_withdraw(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")],
    version: Annotated[int, typer.Option(help="Versionen du utgår från.")],
    note: Annotated[str, typer.Option(help="Varför deltagandet återkallas.")],
) -> None:
    """Återkalla ett deltagande (möjligt före jurybeslutet)."""

    def work(session: Session) -> dict[str, Any]:
        services.withdraw_entry(
            session, entry_id=entry_id, version=version, actor=_actor(), now=_now(), note=note
        )
        return services.entry_view(session, entry_id)

    _print_entry(_run(work), False)


@entry_app.command("history")
def entry_history(
    entry_id: Annotated[int, typer.Argument(help="Postens id.")], as_json: JsonFlag = False
) -> None:
    """Visa postens historik: vem, när, från, till och varför."""
    events = _run(lambda s: services.entry_history(s, entry_id))
    if as_json:
        _echo_json(events)
        return
    for e in events:
        source = e["from"] or "-"
        line = f"v{e['version']:<3} {e['at'][:19]}  {source:>15} → {e['to']:<15} {e['actor']}"
        typer.echo(line + (f"  «{e['note']}»" if e["note"] else ""))


# --- users ------------------------------------------------------------------------------------

user_app = typer.Typer(help="Användare, roller och API-nycklar.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="Användarnamn (inloggning).")],
    role: Annotated[str, typer.Option(help="admin, coordinator, unit_contact, examiner, jury.")],
    organisation: Annotated[
        int | None, typer.Option(help="Organisationens id (samordnare, examinator).")
    ] = None,
    unit: Annotated[int | None, typer.Option(help="Enhetens id (kontaktperson).")] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Fråga efter ett lösenord för webbinloggning.")
    ] = False,
) -> None:
    """Skapa en användare; API-nyckeln skrivs ut en gång, ensam på sista raden."""

    secret: str | None = None
    if password:
        secret = typer.prompt("Lösenord", hide_input=True, confirmation_prompt=True)
    created = _run(
        lambda s: services.create_user(
            s,
            name=name,
            role=role,
            now=_now(),
            organisation_id=organisation,
            unit_id=unit,
            password=secret,
        )
    )
    typer.echo(f"Användare {created.user.name} ({created.user.role}) skapad, id {created.user.id}.")
    typer.echo("API-nyckel (visas bara nu):")
    typer.echo(created.token)


# --- outbox, reminders, worker ---------------------------------------------------------------

outbox_app = typer.Typer(help="Utgående e-post.", no_args_is_help=True)
reminders_app = typer.Typer(help="Planerade påminnelser.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.add_typer(reminders_app, name="reminders")


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="queued, sent, failed eller cancelled.")
    ] = None,
    entry: Annotated[int | None, typer.Option(help="Bara en posts meddelanden.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Visa meddelanden i utkorgen med status, försök och senaste fel."""
    from workflow import outbox

    views = _run(lambda s: outbox.outbox_views(s, status=status, entry_id=entry))
    if as_json:
        _echo_json(views)
        return
    if not views:
        filtered = status is not None or entry is not None
        typer.echo("Inga meddelanden med de villkoren." if filtered else "Utkorgen är tom.")
    for m in views:
        error = f"  ({m['last_error']})" if m["last_error"] else ""
        typer.echo(
            f"{m['id']:>5}  {m['status']:<7} {m['attempts']:>2} försök  {m['kind']:<24} "
            f"{m['to']}{error}"
        )


@outbox_app.command("retry")
def outbox_retry(message_id: Annotated[int, typer.Argument(help="Meddelandets id.")]) -> None:
    """Skicka ett misslyckat meddelande igen."""
    from workflow import outbox

    message = _run(lambda s: outbox.retry_message(s, message_id, now=_now()))
    typer.echo(f"Meddelande {message.id} köat igen.")
    _nudge()


@reminders_app.command("list")
def reminders_list(
    until: Annotated[str, typer.Option(help="Visa påminnelser till och med detta datum.")],
    as_json: JsonFlag = False,
) -> None:
    """Förhandsvisa vilka påminnelser som går ut när, utan att skicka något."""
    from workflow import reminders

    day = _parse_date(until, "--until")
    rows = _run(lambda s: list(reminders.reminder_preview(s, until=day)))
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        typer.echo("Inga påminnelser planerade.")
    for r in rows:
        typer.echo(
            f"{r['due_local']}  {r['kind']:<10} {r['deadline_kind']:<12} "
            f"sista dag {r['deadline']}  post {r['entry_id']} {r['unit']} → {r['recipient_role']}"
        )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Antal arbetsprocesser.")] = 2,
    beat: Annotated[
        bool, typer.Option("--beat/--no-beat", help="Kör schemaläggaren i samma process.")
    ] = True,
    loglevel: Annotated[str, typer.Option(help="Loggnivå.")] = "INFO",
    name: Annotated[
        str | None,
        typer.Option(help="Arbetarens namn, t.ex. w1@%h (flera arbetare på samma dator)."),
    ] = None,
    schedule: Annotated[
        Path | None,
        typer.Option(help="Schemaläggarens tillståndsfil (standard: i datakatalogen)."),
    ] = None,
) -> None:
    """Kör en Celery-arbetare med schemaläggare (påminnelser och e-post).

    Arbetaren övervakas: avslutas den av sig själv (t.ex. när Redis startas om) startas den
    igen. SIGTERM och Ctrl-C avslutar den efter pågående uppgifter.
    """
    from tasks.broker import broker_url
    from workflow import logs
    from workflow.settings import get_settings
    from workflow.supervise import Supervisor

    settings = get_settings()
    db.upgrade_schema()
    logs.configure()  # the supervisor's own lines, as JSON where the workers' are
    broker = broker_url(settings)  # the embedded broker lives as long as this process
    argv = [sys.executable, "-m", "celery", "-A", "tasks.app", "worker"]
    argv += ["--concurrency", str(concurrency), "--loglevel", loglevel]
    # Neither revokes nor worker gossip are used; mingle would cost a second at each start.
    argv += ["--without-gossip", "--without-mingle"]
    if name:
        argv += ["-n", name]
    if beat:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(schedule or settings.data_dir / "celerybeat-schedule")]
    supervisor = Supervisor(argv, env={**os.environ, "CELERY_BROKER_URL": broker})
    supervisor.stop_on_signals()
    raise typer.Exit(supervisor.run())


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Driftstatus: poster per steg, påminnelser, utkorgens djup och ålder, fel."""
    from dataclasses import asdict

    from workflow.metrics import snapshot

    snap = _run(lambda s: snapshot(s, now=_now()))
    if as_json:
        _echo_json(asdict(snap))
        return
    typer.echo("Poster per steg:      " + _pairs(snap.entries_by_stage))
    typer.echo("Övergångar per steg:  " + _pairs(snap.transitions_by_stage))
    typer.echo("Påminnelser:          " + _pairs(snap.reminders_by_status))
    typer.echo("Utkorgen:             " + _pairs(snap.outbox_by_status))
    typer.echo(f"Äldsta väntande:      {snap.oldest_queued_age_seconds:.0f} s")
    typer.echo(f"Misslyckade:          {snap.delivery_failures}")
    typer.echo(f"Avbrutna sändningar:  {snap.interrupted_sends}")
    latency = snap.delivery_latency_seconds
    if latency:
        typer.echo(f"Leveranstid p50/p99:  {latency['0.5']:.1f} s / {latency['0.99']:.1f} s")


def _pairs(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "-"


@app.command()
def web(
    host: Annotated[str, typer.Option(help="Adress att lyssna på.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Antal webbprocesser.", min=1)] = 1,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Lita på X-Forwarded-* från en omvänd proxy.",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Loggnivå.")] = "info",
) -> None:
    """Kör bara webben och API:t (produktion: flera processer, bakom en proxy)."""
    from workflow.entrypoints.http import webserver

    webserver.run(
        host=host, port=port, workers=workers, proxy_headers=proxy_headers, log_level=log_level
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Adress att lyssna på.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Läs in exempelärendena och skapa en inloggning per roll."),
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Arbetsprocesser för e-post.")] = 2,
) -> None:
    """Kör webb, arbetare och schemaläggare tillsammans; Ctrl-C stoppar alla."""
    import subprocess

    import uvicorn

    from tasks.broker import broker_url
    from workflow.entrypoints.http.app import create_app
    from workflow.settings import get_settings

    settings = get_settings()
    db.upgrade_schema()
    if demo:
        _run(lambda session: load_demo(session, now=_now()))
        for line in _demo_logins():
            typer.echo(line)
    broker = broker_url(settings)
    settings.celery_broker_url = broker  # the web process nudges the same broker
    if "PUBLIC_URL" not in os.environ:  # so a webhook cannot point back at this very server
        settings.public_url = f"http://{host}:{port}"
    os.environ["CELERY_BROKER_URL"] = broker
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # `kvalitet worker` in a child: it supervises Celery (restarts it if it dies).
    worker_process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflow.entrypoints.cli",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
        ],
        env={**os.environ},
    )
    typer.echo(f"Kvalitetsutmärkelsen körs på http://{host}:{port}/ (Ctrl-C avslutar)")
    try:
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")
    finally:
        worker_process.terminate()
        try:
            worker_process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker_process.kill()
        typer.echo("Stoppad.")


def _demo_logins() -> list[str]:
    """One login per role for the demo, created once; passwords are random and shown once."""
    import secrets

    from sqlmodel import select as sql_select

    from workflow.models import Entry, User
    from workflow.models import Unit as UnitRow

    def work(session: Session) -> list[str]:
        units = session.exec(sql_select(UnitRow).order_by(col(UnitRow.id))).all()
        first = units[0]
        other_org = next(
            u.organisation_id for u in units if u.organisation_id != first.organisation_id
        )
        roles: list[tuple[str, str, dict[str, Any]]] = [
            ("admin", "admin", {}),
            ("samordnare", "coordinator", {"organisation_id": first.organisation_id}),
            ("kontakt", "unit_contact", {"unit_id": first.id}),
            ("examinator", "examiner", {"organisation_id": other_org}),
            ("jury", "jury", {}),
        ]
        lines = []
        for name, role, extra in roles:
            if session.exec(sql_select(User).where(User.name == name)).first() is not None:
                lines.append(f"  {name:<11} ({role}) finns redan")
                continue
            password = secrets.token_urlsafe(9)
            created = services.create_user(
                session, name=name, role=role, now=_now(), password=password, **extra
            )
            if role == "examiner":
                # Give the demo examiner something to examine: the first unit's entries.
                for entry in session.exec(sql_select(Entry).where(Entry.unit_id == first.id)):
                    services.assign_examiner(
                        session,
                        entry_id=entry.id or 0,
                        examiner_id=created.user.id or 0,
                        assigned_by="demo",
                        now=_now(),
                    )
            lines.append(f"  {name:<11} lösenord {password}  ({role})")
        return ["Inloggningar för demo:", *lines]

    return _run(work)


if __name__ == "__main__":  # pragma: no cover
    main()

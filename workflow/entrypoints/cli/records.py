"""The records the award is run on: the schema and demo data, cycles, organisations, units
and users."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, col, select

from workflow import db, imports, services, swedish
from workflow.demo import load_demo
from workflow.domain.calendar import ceremony_span
from workflow.domain.rules import AWARD_OFFICE_EMAIL, BUDGET_RULES, DEFAULT_PRIZE_AMOUNT
from workflow.entrypoints.cli.values import (
    JsonFlag,
    echo_json,
    parse_dates,
    parse_optional_date,
    parse_optional_time,
    read_file,
)
from workflow.entrypoints.cli.work import now, run
from workflow.models import Cycle, Organisation, Unit
from workflow.services import registry, users
from workflow.services._audit import OPERATOR

CEREMONY_FIELDS = ("ceremony_starts_at", "ceremony_ends_at")


# The ceremony's hours (Stockholm time); unset, a new cycle has 15:00–17:00.
CeremonyStartsAt = Annotated[
    str | None, typer.Option("--ceremony-starts-at", help="Prisutdelningen börjar (TT:MM; 15:00).")
]
CeremonyEndsAt = Annotated[
    str | None, typer.Option("--ceremony-ends-at", help="Prisutdelningen slutar (TT:MM; 17:00).")
]


def init() -> None:
    """Skapa eller uppgradera databasens schema (SQLite-fil eller DATABASE_URL)."""
    db.upgrade_schema()
    typer.echo("Databasen är klar.")


def demo() -> None:
    """Läs in de fyra exempelärendena (Hägersten-Älvsjö, Socialnämnden, Bromma, Östermalm)."""
    db.upgrade_schema()
    ids = run(lambda session: load_demo(session, now=now()))
    typer.echo(f"Exempeldata inläst: {len(ids)} poster. Visa dem med 'kvalitet entry list'.")


# --- cycles ------------------------------------------------------------------------------------


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
    ceremony_starts_at: CeremonyStartsAt = None,
    ceremony_ends_at: CeremonyEndsAt = None,
    prize_amount: Annotated[
        int, typer.Option(help="Prischecken till varje vinnare, i hela kronor.")
    ] = DEFAULT_PRIZE_AMOUNT,
) -> None:
    """Skapa en omgång med årets sista dagar."""
    starts_at = parse_optional_time(ceremony_starts_at, "--ceremony-starts-at")
    ends_at = parse_optional_time(ceremony_ends_at, "--ceremony-ends-at")
    dates = parse_dates(
        ("--contribution-deadline", contribution_deadline),
        ("--extract-deadline", extract_deadline),
        ("--winners-date", winners_date),
    )
    cycle = run(
        lambda session: services.create_cycle(
            session,
            year=year,
            contribution_deadline=dates[0],
            extract_deadline=dates[1],
            winners_date=dates[2],
            award_office_email=award_office,
            classes=award_class,
            ceremony_starts_at=starts_at,
            ceremony_ends_at=ends_at,
            prize_amount=prize_amount,
            created=registry.Created(OPERATOR, now()),
        )
    )
    typer.echo(f"Omgång {cycle.year} skapad (id {cycle.id}).")


def cycle_update(
    year: Annotated[int, typer.Option(help="Omgångens år.")],
    contribution_deadline: Annotated[str | None, typer.Option()] = None,
    extract_deadline: Annotated[str | None, typer.Option()] = None,
    winners_date: Annotated[str | None, typer.Option()] = None,
    award_class: Annotated[
        list[str] | None,
        typer.Option("--class", help="Omgångens klasser (upprepa; ersätter de nuvarande)."),
    ] = None,
    award_office: Annotated[str | None, typer.Option(help="Utmärkelsens adress.")] = None,
    budget_rule: Annotated[
        str | None,
        typer.Option(help="to_win (budget i balans krävs för att vinna) eller to_take_part."),
    ] = None,
    prize_amount: Annotated[
        int | None, typer.Option(help="Prischecken till varje vinnare, i hela kronor.")
    ] = None,
    ceremony_starts_at: CeremonyStartsAt = None,
    ceremony_ends_at: CeremonyEndsAt = None,
    note: Annotated[str | None, typer.Option(help="Varför (till granskningsloggen).")] = None,
) -> None:
    """Ändra en omgångs datum och inställningar; väntande påminnelser planeras om, och flyttas
    prisutdelningen får alla som redan är inbjudna den nya tiden."""
    starts_at = parse_optional_time(ceremony_starts_at, "--ceremony-starts-at")
    ends_at = parse_optional_time(ceremony_ends_at, "--ceremony-ends-at")
    contribution = parse_optional_date(contribution_deadline, "--contribution-deadline")
    extract = parse_optional_date(extract_deadline, "--extract-deadline")
    winners = parse_optional_date(winners_date, "--winners-date")
    cycle = run(
        lambda session: registry.update_cycle(
            session,
            year=year,
            now=now(),
            contribution_deadline=contribution,
            extract_deadline=extract,
            winners_date=winners,
            classes=award_class,
            award_office_email=award_office,
            budget_rule=budget_rule,
            prize_amount=prize_amount,
            ceremony_starts_at=starts_at,
            ceremony_ends_at=ends_at,
            note=note,
        )
    )
    typer.echo(
        f"Omgång {cycle.year}: bidrag {cycle.contribution_deadline}, "
        f"utdrag {cycle.extract_deadline}, vinnare {cycle.winners_date}. Påminnelser omplanerade."
    )
    typer.echo(
        f"Klasser: {', '.join(cycle.classes)}. {BUDGET_RULES[cycle.budget_rule]}. "
        f"Adress: {cycle.award_office_email}. Prischeck: {swedish.kronor(cycle.prize_amount)}."
    )
    start, end = ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at)
    hours = swedish.hours_span(f"{start:%H:%M}", f"{end:%H:%M}")
    typer.echo(f"Prisutdelningen: den {swedish.datum(cycle.winners_date)} {hours}.")


def cycle_list(as_json: JsonFlag = False) -> None:
    """Visa omgångarna."""
    cycles = run(lambda s: [c.model_dump(mode="json") for c in s.exec(select(Cycle)).all()])
    if as_json:
        echo_json(cycles)
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


# --- organisations -----------------------------------------------------------------------------


def org_create(
    name: Annotated[str, typer.Argument(help="T.ex. 'Bromma stadsdelsförvaltning'.")],
    board: Annotated[str, typer.Option(help="Nämnden eller styrelsen som beslutar.")],
    kind: Annotated[str, typer.Option(help="forvaltning eller bolag.")] = "forvaltning",
    coordinator_email: Annotated[str | None, typer.Option(help="Samordnarens e-post.")] = None,
) -> None:
    """Skapa en förvaltning eller ett bolag; skriver ut dess id."""
    organisation = run(
        lambda s: services.create_organisation(
            s,
            name=name,
            kind=kind,
            board=board,
            coordinator_email=coordinator_email,
            created=registry.Created(OPERATOR, now()),
        )
    )
    typer.echo(organisation.id)


def org_list(as_json: JsonFlag = False) -> None:
    """Visa förvaltningar och bolag."""
    orgs = run(
        lambda s: [
            o.model_dump() for o in s.exec(select(Organisation).order_by(col(Organisation.id)))
        ]
    )
    if as_json:
        echo_json(orgs)
        return
    for o in orgs:
        typer.echo(f"{o['id']:>4}  {o['name']}  ({o['board']})")


# --- units -------------------------------------------------------------------------------------


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
    unit = run(lambda s: registry.create_unit(s, spec, registry.Created(OPERATOR, now())))
    typer.echo(unit.id)


def unit_import(
    file: Annotated[Path, typer.Argument(help="CSV-fil, en enhet per rad.")],
) -> None:
    """Läs in enheter från CSV: alla rader eller ingen, med radnummer i felen."""
    raw = read_file(file)

    def work(session: Session) -> int:
        text = imports.decode_csv(raw)
        names = {o.name: o.id or 0 for o in session.exec(select(Organisation)).all()}
        specs = imports.parse_units_csv(text, organisation_ids_by_name=names)
        return len(services.import_units(session, specs))

    typer.echo(f"{run(work)} enheter inlästa.")


def unit_list(as_json: JsonFlag = False) -> None:
    """Visa enheterna."""
    units = run(lambda s: [u.model_dump() for u in s.exec(select(Unit).order_by(col(Unit.id)))])
    if as_json:
        echo_json(units)
        return
    for u in units:
        kind = "enskilt driven" if u["privately_run"] else "kommunalt driven"
        typer.echo(f"{u['id']:>4}  {u['name']}  ({kind}, {u['staff_count']} medarbetare)")


# --- users ------------------------------------------------------------------------------------


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
    created = run(
        lambda s: services.create_user(
            s,
            name=name,
            role=role,
            now=now(),
            organisation_id=organisation,
            unit_id=unit,
            password=secret,
        )
    )
    typer.echo(f"Användare {created.user.name} ({created.user.role}) skapad, id {created.user.id}.")
    typer.echo("API-nyckel (visas bara nu):")
    typer.echo(created.token)


# --- changes of the register (each one audited) ------------------------------------------------


def org_update(
    organisation_id: Annotated[int, typer.Argument(help="Organisationens id.")],
    name: Annotated[str | None, typer.Option(help="Nytt namn.")] = None,
    board: Annotated[str | None, typer.Option(help="Nämnden eller styrelsen.")] = None,
    kind: Annotated[str | None, typer.Option(help="forvaltning eller bolag.")] = None,
    coordinator_email: Annotated[
        str | None, typer.Option(help="Samordnarens e-post ('' tar bort).")
    ] = None,
    escalation_email: Annotated[
        str | None, typer.Option(help="Vem som får eskaleringar ('' tar bort).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Varför (till granskningsloggen).")] = None,
) -> None:
    """Ändra en förvaltning eller ett bolag."""
    organisation = run(
        lambda s: registry.update_organisation(
            s,
            organisation_id=organisation_id,
            now=now(),
            name=name,
            board=board,
            kind=kind,
            coordinator_email=coordinator_email,
            escalation_email=escalation_email,
            note=note,
        )
    )
    typer.echo(
        f"Organisation {organisation.id} sparad: {organisation.name} ({organisation.board})."
    )


def unit_update(
    unit_id: Annotated[int, typer.Argument(help="Enhetens id.")],
    note: Annotated[str, typer.Option(help="Varför uppgifterna ändras (krävs).")],
    name: Annotated[str | None, typer.Option(help="Nytt namn.")] = None,
    organisation_id: Annotated[int | None, typer.Option("--org", help="Ny organisation.")] = None,
    staff_count: Annotated[int | None, typer.Option("--staff", help="Medarbetare.")] = None,
    share: Annotated[float | None, typer.Option(help="Andel för stockholmare, 0–1.")] = None,
    manager: Annotated[bool | None, typer.Option("--manager/--no-manager")] = None,
    business_plan: Annotated[
        bool | None, typer.Option("--business-plan/--no-business-plan")
    ] = None,
    budget_in_balance: Annotated[
        bool | None, typer.Option("--budget-in-balance/--budget-not-in-balance")
    ] = None,
    private: Annotated[bool | None, typer.Option("--private/--city-run")] = None,
    contact_email: Annotated[
        str | None, typer.Option("--contact", help="Chefens e-post ('' tar bort).")
    ] = None,
    earlier: Annotated[
        list[int] | None, typer.Option(help="År för tidigare deltagande (upprepa; ersätter).")
    ] = None,
    earlier_count: Annotated[int | None, typer.Option(help="Antal tidigare deltaganden.")] = None,
) -> None:
    """Rätta en enhets uppgifter; ändringen och skälet sparas i granskningsloggen."""
    given: dict[str, object] = {
        "name": name,
        "organisation_id": organisation_id,
        "staff_count": staff_count,
        "share_stockholm_residents": share,
        "manager_has_budget_and_staff_responsibility": manager,
        "has_business_plan": business_plan,
        "budget_in_balance": budget_in_balance,
        "privately_run": private,
        "contact_email": contact_email,
        "earlier_participation_years": tuple(earlier) if earlier is not None else None,
        "earlier_participation_count": earlier_count,
    }
    changes: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if changes.get("contact_email") == "":
        changes["contact_email"] = None
    unit = run(
        lambda s: registry.update_unit(s, unit_id=unit_id, now=now(), changes=changes, note=note)
    )
    typer.echo(f"Enhet {unit.id} sparad: {unit.name}.")


def user_update(
    user_id: Annotated[int, typer.Argument(help="Användarens id.")],
    role: Annotated[str | None, typer.Option(help="Ny roll.")] = None,
    organisation: Annotated[int | None, typer.Option(help="Organisationens id.")] = None,
    unit: Annotated[int | None, typer.Option(help="Enhetens id.")] = None,
    email: Annotated[str | None, typer.Option(help="E-postadress ('' tar bort).")] = None,
    note: Annotated[str | None, typer.Option(help="Varför (till granskningsloggen).")] = None,
) -> None:
    """Ändra en användares roll, organisation, enhet eller e-post."""
    clear = frozenset({"email"}) if email == "" else frozenset()
    user = run(
        lambda s: users.update_user(
            s, user_id=user_id, now=now(), role=role, organisation_id=organisation,
            unit_id=unit, email=email, clear=clear, note=note,
        )
    )  # fmt: skip
    typer.echo(f"Användare {user.name} ({user.role}) sparad.")


def user_deactivate(user_id: Annotated[int, typer.Argument(help="Användarens id.")]) -> None:
    """Inaktivera en användare: ingen inloggning, ingen API-nyckel."""
    user = run(lambda s: users.deactivate_user(s, user_id=user_id, now=now()))
    typer.echo(f"Användare {user.name} är inaktiverad.")


def user_password_link(user_id: Annotated[int, typer.Argument(help="Användarens id.")]) -> None:
    """Skicka en ny engångslänk för att välja lösenord till användarens e-post."""
    user = run(lambda s: users.issue_password_link(s, user_id=user_id, now=now()))
    typer.echo(f"En länk för att välja lösenord skickas till {user.email}.")

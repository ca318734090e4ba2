"""The `kvalitet` command line: parse, call one service in one transaction, map errors once.

The whole command tree is declared below, in the order `kvalitet --help` lists it; each
command lives in the module of its concern: `records` (schema, demo, cycles, organisations,
units, users), `entries` (an entry's stages), `operations` (outbox, reminders, status) and
`processes` (worker, web, serve). `work` holds the transaction and the exit codes, `values`
what a command is given, `usage` what goes wrong before a command runs.

Exit codes (stable, for scripts): 0 done; 2 invalid input; 3 not found; 4 conflict (stale
version, duplicate); 5 transition refused; 6 unit not eligible; 7 database not initialised;
8 database or data folder unreachable; 9 not permitted (no valid login, or the role may not);
10 too many attempts (wait and try again).
"""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)

from tasks.nudge import nudge_after_outbox_commits
from workflow.entrypoints.cli import (
    backups,
    ceremony,
    entries,
    examination,
    feedback,
    jury,
    messages,
    operations,
    processes,
    records,
    years,
)
from workflow.entrypoints.cli.usage import derives_from, exit_with, first_line, refuse_command_line
from workflow.entrypoints.cli.work import EXIT_UNAVAILABLE

app = typer.Typer(
    help="Kvalitetsutmärkelsen: omgångar, enheter och deras steg.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("init")(records.init)
app.command("demo")(records.demo)
app.command("worker")(processes.worker)
app.command("status")(operations.status)
app.command("backup")(backups.backup)
app.command("restore")(backups.restore)
app.command("web")(processes.web)
app.command("serve")(processes.serve)

cycle_app = typer.Typer(help="Omgångar (ett år av utmärkelsen).", no_args_is_help=True)
cycle_app.command("create")(records.cycle_create)
cycle_app.command("update")(records.cycle_update)
cycle_app.command("list")(records.cycle_list)
cycle_app.command("copy")(years.cycle_copy)
app.add_typer(cycle_app, name="cycle")

org_app = typer.Typer(help="Förvaltningar och bolag.", no_args_is_help=True)
org_app.command("create")(records.org_create)
org_app.command("list")(records.org_list)
org_app.command("update")(records.org_update)
org_app.command("board-report-case")(entries.board_report_case)
app.add_typer(org_app, name="org")
app.add_typer(org_app, name="organisation", hidden=True)  # the long name, as people say it

unit_app = typer.Typer(help="Enheter.", no_args_is_help=True)
unit_app.command("create")(records.unit_create)
unit_app.command("import")(records.unit_import)
unit_app.command("list")(records.unit_list)
unit_app.command("update")(records.unit_update)
app.add_typer(unit_app, name="unit")

entry_app = typer.Typer(help="Anmälda enheter (poster) och deras steg.", no_args_is_help=True)
entry_app.command("create")(entries.entry_create)
entry_app.command("list")(entries.entry_list)
entry_app.command("show")(entries.entry_show)
entry_app.command("advance")(entries.entry_advance)
entry_app.command("site-visit")(entries.entry_site_visit)
entry_app.command("withdraw")(entries.entry_withdraw)
entry_app.command("history")(entries.entry_history)
entry_app.command("extend")(entries.entry_extend)
entry_app.command("case-number")(entries.entry_case_number)
entry_app.command("correct")(entries.entry_correct)
app.add_typer(entry_app, name="entry")

user_app = typer.Typer(help="Användare, roller och API-nycklar.", no_args_is_help=True)
user_app.command("create")(records.user_create)
user_app.command("update")(records.user_update)
user_app.command("deactivate")(records.user_deactivate)
user_app.command("password-link")(records.user_password_link)
app.add_typer(user_app, name="user")

outbox_app = typer.Typer(help="Utgående e-post.", no_args_is_help=True)
outbox_app.command("list")(operations.outbox_list)
outbox_app.command("retry")(operations.outbox_retry)
outbox_app.command("hold")(operations.outbox_hold)
outbox_app.command("release")(operations.outbox_release)
outbox_app.command("cancel")(operations.outbox_cancel)
outbox_app.command("show")(operations.outbox_show)
outbox_app.command("edit")(operations.outbox_edit)
app.add_typer(outbox_app, name="outbox")

examination.install(app)
message_app = typer.Typer(help="Skriv till en grupp.", no_args_is_help=True)
message_app.command("preview")(messages.message_preview)
message_app.command("send")(messages.message_send)
app.add_typer(message_app, name="message")
app.add_typer(feedback.feedback_app, name="feedback")
ceremony.install(app)
jury.install(app)

reminders_app = typer.Typer(help="Planerade påminnelser.", no_args_is_help=True)
reminders_app.command("list")(operations.reminders_list)
app.add_typer(reminders_app, name="reminders")


def main() -> None:
    """The console script: what the environment gets wrong becomes a message, not a traceback,
    and a command typed wrong is told in Swedish (Typer and Click speak English)."""
    nudge_after_outbox_commits()
    try:
        code = app(prog_name="kvalitet", standalone_mode=False)
    except typer.Abort:
        exit_with(["Avbrutet."], 1)
    except (OverflowError, DataError):
        exit_with(["Ett tal är för stort (id:n och antal är högst 2147483647)."], 2)
    except UnicodeError:
        exit_with(["Argumenten är inte giltig UTF-8: kontrollera terminalens teckenkodning."], 2)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as error:
        exit_with(
            [
                f"DATABASE_URL går inte att använda: {first_line(error)}",
                "Ange sqlite:///SÖKVÄG eller postgresql+psycopg://ANVÄNDARE@VÄRD/DATABAS.",
            ],
            2,
        )
    except (OperationalError, InterfaceError) as error:
        exit_with(
            [
                f"Kan inte använda databasen: {first_line(error)}",
                "Kontrollera DATABASE_URL och att databasen är igång och skrivbar.",
            ],
            EXIT_UNAVAILABLE,
        )
    except OSError as error:  # the data folder (KVALITET_DATA_DIR), a port, a file
        reason = error.strerror or str(error)
        where = f"Kan inte använda {error.filename}: " if error.filename else ""
        exit_with(
            [f"{where}{reason}", "Kontrollera KVALITET_DATA_DIR och att mappen går att skriva i."],
            EXIT_UNAVAILABLE,
        )
    except Exception as error:
        if not derives_from(error, "ClickException"):
            raise
        refuse_command_line(error)
    if isinstance(code, int) and code:  # typer.Exit(code) from a command
        sys.exit(code)

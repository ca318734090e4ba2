"""`kvalitet message preview|send`: write to a group from the command line (the operator acts
as the award office's administrator)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from workflow.domain.access import Actor, Role
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.group_messages import PLACEHOLDERS
from workflow.entrypoints.cli.values import JsonFlag, echo_json, read_file
from workflow.entrypoints.cli.work import actor, fail, now, run
from workflow.services import group_messages as service

_PLACEHOLDER_HELP = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)

YearOption = Annotated[int, typer.Option("--year", help="Årets omgång, t.ex. 2027.")]
ClassOption = Annotated[str | None, typer.Option("--class", help="Bara denna klass, t.ex. skola.")]
StageOption = Annotated[str | None, typer.Option("--stage", help="Bara poster i detta steg.")]
OrganisationOption = Annotated[
    int | None, typer.Option("--organisation", help="Bara denna organisation (id).")
]
NotSubmittedFlag = Annotated[
    bool, typer.Option("--not-submitted", help="Bara de som inte har lämnat sitt bidrag.")
]
ExtractMissingFlag = Annotated[
    bool, typer.Option("--extract-missing", help="Bara de vars protokollsutdrag saknas.")
]
ToOption = Annotated[
    str, typer.Option("--to", help="units (enheterna), coordinators (samordnarna) eller both.")
]
SubjectOption = Annotated[str, typer.Option("--subject", help="Ämnesraden.")]
TextOption = Annotated[
    str | None, typer.Option("--text", help=f"Texten. Platshållare: {_PLACEHOLDER_HELP}.")
]
TextFileOption = Annotated[
    Path | None, typer.Option("--text-file", help="Fil med texten (UTF-8), - för stdin.")
]
AtOption = Annotated[
    str | None,
    typer.Option("--at", help="Skicka vid denna tid, t.ex. '2027-05-10 08:00' (svensk tid)."),
]


def _operator() -> Actor:
    return Actor(user_id=0, name=actor(), role=Role.ADMIN)


def _send_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail([f"--at: '{value}' är ingen tidpunkt (ÅÅÅÅ-MM-DD TT:MM)."], 2)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=STOCKHOLM)


def _text(text: str | None, text_file: Path | None) -> str:
    if (text is None) == (text_file is None):
        fail(["Ange texten med antingen --text eller --text-file."], 2)
    if text_file is not None:
        data = sys.stdin.buffer.read() if str(text_file) == "-" else read_file(text_file)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            fail([f"{text_file} är inte UTF-8."], 2)
    return text or ""


def _request(
    year: int,
    award_class: str | None,
    stage: str | None,
    organisation: int | None,
    not_submitted: bool,
    extract_missing: bool,
    to: str,
    subject: str,
    text: str | None,
    text_file: Path | None,
    at: str | None,
) -> service.GroupRequest:
    return service.GroupRequest(
        year=year,
        audience=to,
        award_class=award_class,
        stage=stage,
        organisation_id=organisation,
        not_submitted=not_submitted,
        extract_missing=extract_missing,
        subject=subject,
        text=_text(text, text_file),
        send_at=_send_at(at),
    )


def message_preview(
    year: YearOption,
    subject: SubjectOption,
    award_class: ClassOption = None,
    stage: StageOption = None,
    organisation: OrganisationOption = None,
    not_submitted: NotSubmittedFlag = False,
    extract_missing: ExtractMissingFlag = False,
    to: ToOption = "units",
    text: TextOption = None,
    text_file: TextFileOption = None,
    at: AtOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Visa vilka som skulle få meddelandet och ett exempel; inget skickas."""
    request = _request(year, award_class, stage, organisation, not_submitted, extract_missing,
                       to, subject, text, text_file, at)  # fmt: skip
    preview = run(lambda s: service.preview_group_message(s, _operator(), request, now=now()))
    if as_json:
        echo_json(preview)
        return
    _print_preview(preview)


def _print_preview(preview: dict[str, Any]) -> None:
    reached, unreachable = preview["recipients"], preview["unreachable"]
    typer.echo(f"Poster i urvalet: {preview['matched']}")
    typer.echo(f"Mottagare:        {len(reached)}")
    for recipient in reached:
        typer.echo(f"  {recipient['address']}: {', '.join(recipient['units'])}")
    if unreachable:
        typer.echo(f"Kan inte nås:     {len(unreachable)}")
        for item in unreachable:
            whose = "enheten" if item["missing"] == "unit" else "samordnaren"
            typer.echo(f"  {item['unit']} ({item['organisation']}): {whose} saknar e-postadress")
    example = preview["example"]
    if example:
        typer.echo(f"\nExempel till {example['to']}:\nÄmne: {example['subject']}\n")
        typer.echo(example["text"])


def message_send(
    year: YearOption,
    subject: SubjectOption,
    award_class: ClassOption = None,
    stage: StageOption = None,
    organisation: OrganisationOption = None,
    not_submitted: NotSubmittedFlag = False,
    extract_missing: ExtractMissingFlag = False,
    to: ToOption = "units",
    text: TextOption = None,
    text_file: TextFileOption = None,
    at: AtOption = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Samma nyckel igen köar ingenting två gånger."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Lägg meddelandet i utkorgen, ett per mottagare (granska det först med preview)."""
    request = _request(year, award_class, stage, organisation, not_submitted, extract_missing,
                       to, subject, text, text_file, at)  # fmt: skip
    sent = run(
        lambda s: service.send_group_message(
            s, _operator(), request, idempotency_key=idempotency_key, now=now()
        )
    )
    if as_json:
        echo_json(
            {
                "group_id": sent.group_id,
                "queued": sent.queued,
                "unreachable": sent.unreachable,
                "due_at": sent.due_at.isoformat(),
                "repeated": sent.repeated,
            }
        )
        return
    when = sent.due_at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
    if sent.repeated:
        typer.echo(f"Meddelandet var redan köat ({sent.queued} mottagare); inget nytt köades.")
    else:
        typer.echo(f"{sent.queued} meddelanden köade, skickas från {when}.")
    if sent.unreachable:
        typer.echo(f"{sent.unreachable} i urvalet saknar e-postadress och får inget.")

"""The board report draft (tjänsteutlåtande) "Deltagande i kvalitetsutmärkelsen YYYY".

One draft per organisation and cycle, covering every unit of the organisation that takes part
that year and goes through its board (withdrawn entries and privately run units are left out).
The whole text is one Jinja2 template, `templates/documents/tjansteutlatande.txt`, written in a
small markup that a non-programmer can edit (see the README.md beside it):

    build_report_context(session, organisation_id, year)  → the template's variables
    render_report_docx(context) / render_report_pdf(context) → the file, as bytes
    report_for(session, organisation_id, year, "docx")      → (filename, content type, bytes)

The DOCX is what the city edits (python-docx: real Word headings, lists and page fields); the
PDF uses reportlab with the PDF standard fonts (Times, Helvetica), so no font file has to be
installed anywhere. Placeholders in brackets, like "[avdelning]", mark what is left to fill in
and are highlighted in both formats. Nothing here writes to the database.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from docx import Document as new_docx
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt, RGBColor
from docx.styles.style import ParagraphStyle as DocxParagraphStyle
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph as DocxParagraph
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    BaseDocTemplate,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from sqlmodel import Session, col, select

from workflow.domain import rules
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import InvalidInput, NotFound, refusal
from workflow.domain.stages import STAGE_LABELS_SV, Stage
from workflow.emails import Attachment, datum, klass
from workflow.models import Cycle, Entry, Organisation, Unit

DOCUMENT_TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "documents"
REPORT_TEMPLATE = "tjansteutlatande.txt"

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_CONTENT_TYPE = "application/pdf"
FORMATS: Mapping[str, str] = {"docx": DOCX_CONTENT_TYPE, "pdf": PDF_CONTENT_TYPE}

PROPOSALS = ("approve", "note")
# The board decision recorded on an entry (facts["board_decision"]["decision"]) → proposal.
_RECORDED_DECISIONS: Mapping[str, str] = {"approved": "approve", "noted": "note"}

UNIT_DESCRIPTION_PLACEHOLDER = (
    "[Beskriv verksamheten: uppdrag, målgrupp, organisatorisk tillhörighet och hur enheten "
    "arbetar med systematiskt kvalitetsarbete.]"
)
DATE_PLACEHOLDER = "[datum]"


# --- what the caller knows that the database does not ---------------------------------------


@dataclass(frozen=True)
class ReportPreparation:
    """The case's preparation (ärendets beredning) and the draft's signatures.

    Anything not known yet stays a bracketed placeholder, so the draft shows what to fill in.
    `informed` lists the union forums and councils told of the case, e.g.
    (("samverkansgrupp", date(2025, 5, 6)), ("förvaltningsgruppen", date(2025, 5, 13)),
    ("Rådet för funktionshinderfrågor", date(2024, 5, 16))); a body whose name has the word
    "råd" (rådet, pensionärsrådet) is a council, the others are where the unions are informed.
    `proposal` is used for units whose board decision is not recorded yet.
    """

    proposal: str = "approve"  # approve | note
    prepared_by: str = "[avdelning]"  # e.g. "avdelningen för socialt stöd"
    consulted: str | None = None  # e.g. "avdelningen för samhällsplanering" (i samråd med …)
    informed: tuple[tuple[str, date | None], ...] = (
        ("samverkansgrupp", None),
        ("förvaltningsgruppen", None),
    )
    case_officer: str = "[handläggare]"
    case_officer_phone: str = "[telefon]"
    case_number: str = "[diarienummer]"
    document_date: date | None = None  # default: today in Stockholm
    meeting_date: date | None = None  # default: a recorded board meeting, else a placeholder
    director_name: str = "[namn]"
    director_title: str | None = None  # default from the organisation: Stadsdelsdirektör, …
    head_name: str = "[namn]"
    head_title: str = "Avdelningschef"
    # Unit name → a description in the organisation's own words (blank lines: paragraphs).
    unit_descriptions: Mapping[str, str] = field(default_factory=dict)


# --- Swedish wording helpers (template filters) ----------------------------------------------

# fmt: off
_NUMBERS_SV = ("noll", "en", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio", "tio",
               "elva", "tolv")
_ORDINALS_SV = ("nollte", "första", "andra", "tredje", "fjärde", "femte", "sjätte", "sjunde",
                "åttonde", "nionde", "tionde", "elfte", "tolfte", "trettonde", "fjortonde",
                "femtonde", "sextonde", "sjuttonde", "artonde", "nittonde", "tjugonde")
# fmt: on


def lista(items: Sequence[Any], conjunction: str = "och") -> str:
    """Items joined as Swedish writes them: "A", "A och B", "A, B och C"."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def versal(text: Any) -> str:
    """The first letter in upper case, the rest untouched ("nämnden" → "Nämnden")."""
    value = str(text)
    return value[:1].upper() + value[1:]


def antal(number: int) -> str:
    """A count as Swedish prose writes it: words up to twelve, digits above ("fem", "15")."""
    return _NUMBERS_SV[number] if 0 <= number < len(_NUMBERS_SV) else str(number)


def ordningstal(number: int) -> str:
    """An ordinal: 1 → "första", 3 → "tredje", 21 → "21:a", 25 → "25:e"."""
    if 0 <= number < len(_ORDINALS_SV):
        return _ORDINALS_SV[number]
    ending = "a" if number % 10 in (1, 2) and number % 100 not in (11, 12) else "e"
    return f"{number}:{ending}"


def isodatum(value: date | datetime | str) -> str:
    """A date as the page header writes it: "2024-05-21"."""
    if isinstance(value, datetime):
        value = value.astimezone(STOCKHOLM).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()


def _day_and_month(value: date) -> str:
    """ "6 maj": the date without its year, for a list that ends with the year once."""
    return datum(value).rsplit(" ", 1)[0]


def _percent(share: float) -> str:
    value = round(share * 100, 1)
    return str(int(value)) if value == int(value) else f"{value:.1f}".replace(".", ",")


# --- the context -----------------------------------------------------------------------------


def build_report_context(
    session: Session,
    organisation_id: int,
    year: int,
    *,
    preparation: ReportPreparation | None = None,
) -> dict[str, Any]:
    """Everything the template needs for `organisation_id`'s draft for the cycle `year`.

    Raises NotFound for an unknown organisation, a year without a cycle, or a year in which the
    organisation has no entry that goes to its board; InvalidInput for an unknown proposal.
    Only reads.
    """
    preparation = preparation or ReportPreparation()
    if preparation.proposal not in PROPOSALS:
        raise refusal(
            InvalidInput,
            "unknown_proposal",
            f"Okänt förslag '{preparation.proposal}' (giltiga: approve = godkänner, "
            "note = noterar anmälan).",
        )
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise refusal(NotFound, "not_found", f"Organisationen med id {organisation_id} finns inte.")
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(
            NotFound,
            "cycle_not_found",
            f"Det finns ingen omgång av kvalitetsutmärkelsen för år {year}, och därför inget "
            f"tjänsteutlåtande för {organisation.name}.",
        )
    rows = session.exec(
        select(Entry, Unit)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(Unit.organisation_id == organisation_id, Entry.cycle_id == cycle.id)
        .order_by(col(Entry.id))
    ).all()
    if not rows:
        raise refusal(
            NotFound,
            "no_entries",
            f"{organisation.name} har inga anmälda enheter i kvalitetsutmärkelsen {year}; "
            "det finns inget att föra upp i nämnden.",
        )
    for_board = [
        (entry, unit)
        for entry, unit in rows
        if entry.stage != Stage.WITHDRAWN and not unit.privately_run
    ]
    if not for_board:
        raise refusal(
            NotFound,
            "no_board_entries",
            f"{organisation.name} har inga anmälningar till kvalitetsutmärkelsen {year} som "
            f"ska till {organisation.board}: återkallade anmälningar och enskilt drivna "
            "verksamheter tas inte upp i nämnden.",
        )

    units = [_unit_context(entry, unit, preparation) for entry, unit in for_board]
    decisions: list[dict[str, Any]] = []
    for unit in units:
        group = next((g for g in decisions if g["decision"] == unit["decision"]), None)
        if group is None:
            decisions.append({"decision": unit["decision"], "units": [unit["name"]]})
        else:
            group["units"].append(unit["name"])

    document_date = preparation.document_date or datetime.now(STOCKHOLM).date()
    recorded_meetings = [u["meeting_date"] for u in units if u["meeting_date"] is not None]
    unions, councils = _informed(preparation.informed, document_date)
    return {
        "year": cycle.year,
        "organisation": _organisation_context(organisation),
        "board": organisation.board,
        "cycle": {
            "year": cycle.year,
            "contribution_deadline": cycle.contribution_deadline,
            "extract_deadline": cycle.extract_deadline,
            "winners_date": cycle.winners_date,
            "award_office_email": cycle.award_office_email or rules.AWARD_OFFICE_EMAIL,
            "classes": list(cycle.classes),
        },
        "units": units,
        "unit_names": [unit["name"] for unit in units],
        "decisions": decisions,
        "several_decisions": len(decisions) > 1,
        "proposal": decisions[0]["decision"] if len(decisions) == 1 else "mixed",
        "rules": {
            "min_staff": rules.MIN_STAFF_INCLUDING_MANAGER,
            "min_share_percent": _percent(rules.MIN_SHARE_STOCKHOLM_RESIDENTS),
        },
        "document_date": document_date,
        "meeting_date": preparation.meeting_date or max(recorded_meetings, default=None),
        "preparation": {
            "prepared_by": preparation.prepared_by,
            "consulted": preparation.consulted,
            "case_officer": preparation.case_officer,
            "case_officer_phone": preparation.case_officer_phone,
            "case_number": preparation.case_number,
        },
        "unions": unions,
        "unions_informed_before": bool(unions)
        and all(item["on"] is not None and item["on"] <= document_date for item in unions),
        "councils": councils,
        "signatures": {
            "director": {
                "name": preparation.director_name,
                "title": preparation.director_title or _director_title(organisation),
            },
            "head": {"name": preparation.head_name, "title": preparation.head_title},
        },
    }


def _organisation_context(organisation: Organisation) -> dict[str, Any]:
    company = organisation.kind == "bolag"
    return {
        "id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind,
        "board": organisation.board,
        "noun": "bolaget" if company else "förvaltningen",
        "genitive": "bolagets" if company else "förvaltningens",
        "board_noun": "styrelsen" if company else "nämnden",
    }


def _director_title(organisation: Organisation) -> str:
    if organisation.kind == "bolag":
        return "Verkställande direktör"
    if "stadsdelsförvaltning" in organisation.name.lower():
        return "Stadsdelsdirektör"
    return "Förvaltningschef"


def _unit_context(entry: Entry, unit: Unit, preparation: ReportPreparation) -> dict[str, Any]:
    board = {**entry.pending.get("board_decision", {}), **entry.facts.get("board_decision", {})}
    recorded = _RECORDED_DECISIONS.get(str(board.get("decision", "")))
    submitted = {**entry.pending.get("submitted", {}), **entry.facts.get("submitted", {})}
    years = sorted(set(unit.earlier_participation_years))
    description = preparation.unit_descriptions.get(unit.name, "").strip()
    return {
        "id": unit.id,
        "entry_id": entry.id,
        "name": unit.name,
        "award_class": entry.award_class,
        "stage": entry.stage,
        "stage_label": STAGE_LABELS_SV[Stage(entry.stage)],
        "staff_count": unit.staff_count,
        "share_percent": _percent(unit.share_stockholm_residents),
        "manager_responsible": unit.manager_has_budget_and_staff_responsibility,
        "business_plan": unit.has_business_plan,
        "budget_in_balance": unit.budget_in_balance,
        "earlier_years": years,
        "earlier_count": max(unit.earlier_participation_count, len(years)),
        "decision": recorded or preparation.proposal,
        "decision_recorded": recorded is not None,
        "meeting_date": _date_or_none(board.get("meeting_date")),
        "paragraph": board.get("paragraph"),
        "submitted_on": _date_or_none(submitted.get("submitted_on")),
        "description": [
            " ".join(part.split()) for part in re.split(r"\n\s*\n", description) if part.strip()
        ]
        or [UNIT_DESCRIPTION_PLACEHOLDER],
    }


def _date_or_none(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


_COUNCIL = re.compile(r"\bråd|råd(et)?\b", re.IGNORECASE)


def _informed(
    informed: Sequence[tuple[str, date | None]], document_date: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(union forums, councils), each item with `body`, `on`, `when` (Swedish) and `before`."""
    unions: list[dict[str, Any]] = []
    councils: list[dict[str, Any]] = []
    for body, on in informed:
        name = " ".join(str(body).split())
        if not name:
            continue
        item: dict[str, Any] = {
            "body": name,
            "on": on,
            "when": datum(on) if on else DATE_PLACEHOLDER,
            "before": on is not None and on <= document_date,
        }
        (councils if _COUNCIL.search(name) else unions).append(item)
    # "i samverkansgrupp den 6 maj och i förvaltningsgruppen den 13 maj 2025": the year once.
    days = [item["on"] for item in unions]
    if len(days) > 1 and all(days) and len({day.year for day in days}) == 1:
        for item in unions[:-1]:
            item["when"] = _day_and_month(item["on"])
    return unions, councils


# --- the template and its markup -------------------------------------------------------------


def _one_line(value: Any) -> Any:
    """Printed values never break a line, so no name can start a heading or a list item."""
    if isinstance(value, str):
        return re.sub(r"\s*[\r\n\v\f\u2028\u2029]+\s*", " ", value)
    return value


@lru_cache(maxsize=4)
def environment(template_dir: Path = DOCUMENT_TEMPLATE_DIR) -> Environment:
    """The Jinja environment of the document templates (plain text: no HTML escaping)."""
    env = Environment(
        loader=FileSystemLoader(template_dir),
        autoescape=False,  # noqa: S701 - the markup is not HTML; renderers escape for PDF
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_one_line,
    )
    env.filters.update(
        datum=datum,
        klass=klass,
        lista=lista,
        versal=versal,
        antal=antal,
        ordningstal=ordningstal,
        isodatum=isodatum,
    )
    return env


HEADER_FIELDS = (
    "förvaltning",
    "avdelning",
    "handläggare",
    "telefon",
    "dokument",
    "dnr",
    "datum",
    "till",
    "sammanträde",
    "sidfot",
)


@dataclass(frozen=True)
class Block:
    """One piece of the document: a heading, a paragraph, a list item or a table."""

    kind: str  # title | heading | subheading | paragraph | bullet | numbered | table
    text: str = ""
    label: str = ""  # the number of a numbered item, e.g. "1."
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ReportMarkup:
    header: Mapping[str, str]
    blocks: tuple[Block, ...]

    @property
    def title(self) -> str:
        return next((b.text for b in self.blocks if b.kind == "title"), "")


def render_markup(context: Mapping[str, Any], template_dir: Path | None = None) -> ReportMarkup:
    """The template rendered with `context`, parsed into the page header and the blocks."""
    template = environment(template_dir or DOCUMENT_TEMPLATE_DIR).get_template(REPORT_TEMPLATE)
    # XML (so DOCX) cannot hold control characters; a stored text with one must not make the
    # report impossible to write.
    return parse_markup(_NOT_IN_XML.sub("", template.render(context)))


_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_HEADING = re.compile(r"(#{1,3})\s+(.+)")
_BULLET = re.compile(r"[-•]\s+(.+)")
_NUMBERED = re.compile(r"(\d{1,2}[.)])\s+(.+)")
_HEADING_KINDS = {1: "title", 2: "heading", 3: "subheading"}


def parse_markup(text: str) -> ReportMarkup:
    """Parse the markup described in templates/documents/README.md; ValueError on a bad header."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    header: dict[str, str] = dict.fromkeys(HEADER_FIELDS, "")
    if lines and lines[0].strip() == "---":
        try:
            end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
        except StopIteration:
            raise ValueError("Sidhuvudet i mallen saknar sin avslutande rad '---'.") from None
        for line in lines[1:end]:
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            key = name.strip().lower()
            if not colon or key not in header:
                known = ", ".join(HEADER_FIELDS)
                raise ValueError(f"Okänd rad i mallens sidhuvud: {line!r} (kända: {known}).")
            header[key] = " ".join(value.split())
        lines = lines[end + 1 :]

    blocks: list[Block] = []
    paragraph: list[str] = []
    rows: list[tuple[str, ...]] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", " ".join(paragraph)))
            paragraph.clear()
        if rows:
            blocks.append(Block("table", rows=tuple(rows)))
            rows.clear()

    for raw in lines:
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("|"):
            if paragraph:
                flush()
            cells = [" ".join(cell.split()) for cell in line.strip("|").split("|")]
            rows.append(tuple(cells))
            continue
        if rows:
            flush()
        last = blocks[-1] if blocks else None
        if (
            raw[:1].isspace()
            and not paragraph
            and last is not None
            and last.kind in ("bullet", "numbered")
        ):
            blocks[-1] = Block(last.kind, f"{last.text} {line}", last.label)  # continued item
            continue
        if heading := _HEADING.fullmatch(line):
            flush()
            blocks.append(Block(_HEADING_KINDS[len(heading[1])], heading[2].strip()))
        elif bullet := _BULLET.fullmatch(line):
            flush()
            blocks.append(Block("bullet", bullet[1].strip()))
        elif numbered := _NUMBERED.fullmatch(line):
            flush()
            blocks.append(Block("numbered", numbered[2].strip(), numbered[1]))
        else:
            paragraph.append(line)
    flush()
    return ReportMarkup(header=header, blocks=tuple(blocks))


_INLINE = re.compile(r"\*\*(?P<bold>.+?)\*\*|(?P<placeholder>\[[^\[\]]+\])")


def inline_runs(text: str) -> list[tuple[str, bool, bool]]:
    """`text` as (text, bold, placeholder) runs: **bold** and [placeholder] are marked."""
    runs: list[tuple[str, bool, bool]] = []
    position = 0
    for match in _INLINE.finditer(text):
        if match.start() > position:
            runs.append((text[position : match.start()], False, False))
        if match["bold"] is not None:
            runs.extend((t, True, p) for t, _, p in inline_runs(match["bold"]))
        else:
            runs.append((match["placeholder"], False, True))
        position = match.end()
    if position < len(text):
        runs.append((text[position:], False, False))
    return runs


# --- DOCX ------------------------------------------------------------------------------------

DOCX_BODY_FONT = "Times New Roman"
DOCX_HEADING_FONT = "Arial"
_PAGE_WIDTH, _PAGE_HEIGHT = Mm(210), Mm(297)
_MARGIN_LEFT = _MARGIN_RIGHT = Mm(25)
_TEXT_WIDTH = Emu(_PAGE_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT)
_LEFT_COLUMN = Mm(100)  # the first page's info block and the header: left | right column
_BLACK = RGBColor(0, 0, 0)
_GREY = RGBColor(0x55, 0x55, 0x55)


def render_report_docx(context: Mapping[str, Any]) -> bytes:
    """The draft as a Word document (DOCX) the board secretary can go on editing."""
    return docx_from_markup(render_markup(context), document_date=context.get("document_date"))


def docx_from_markup(markup: ReportMarkup, *, document_date: date | None = None) -> bytes:
    document = new_docx()
    _docx_styles(document)
    _docx_page(document, markup.header)
    _docx_info_block(document, markup.header)
    previous = ""
    for block in markup.blocks:
        _docx_block(document, block, previous)
        previous = block.kind

    properties = document.core_properties
    properties.title = markup.title
    properties.subject = "Kvalitetsutmärkelsen"
    properties.author = markup.header["förvaltning"]
    properties.last_modified_by = markup.header["förvaltning"]
    properties.comments = "Utkast till tjänsteutlåtande. Fyll i det som står inom hakparentes."
    properties.keywords = "tjänsteutlåtande, kvalitetsutmärkelsen"
    properties.language = "sv-SE"
    properties.revision = 1
    if document_date is not None:
        stamp = datetime.combine(document_date, time(0, 0), tzinfo=UTC)
        properties.created = properties.modified = stamp
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _set_fonts(element: Any, name: str) -> None:
    """Set every script's font on an rPr (python-docx sets two; themes would win otherwise)."""
    fonts = element.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        element.insert(0, fonts)
    for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attribute), None)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), name)


def _style(
    style: DocxParagraphStyle,
    *,
    font: str,
    size: float,
    bold: bool = False,
    before: float = 0,
    after: float = 0,
    keep_with_next: bool = False,
) -> None:
    style.font.size = Pt(size)
    style.font.bold = bold
    style.font.italic = False
    style.font.color.rgb = _BLACK
    _set_fonts(style.element.get_or_add_rPr(), font)
    paragraph = style.paragraph_format
    paragraph.space_before = Pt(before)
    paragraph.space_after = Pt(after)
    paragraph.keep_with_next = keep_with_next


# Headings: style, size, space before, space after (points).
_DOCX_HEADINGS = (("Heading 1", 18, 12, 14), ("Heading 2", 13, 16, 4), ("Heading 3", 11.5, 10, 3))


def _docx_styles(document: DocxDocument) -> None:
    styles = document.styles
    _style(styles["Normal"], font=DOCX_BODY_FONT, size=12, after=8)
    styles["Normal"].paragraph_format.line_spacing = 1.08
    for name, size, before, after in _DOCX_HEADINGS:
        _style(
            styles[name],
            font=DOCX_HEADING_FONT,
            size=size,
            bold=True,
            before=before,
            after=after,
            keep_with_next=True,
        )
    _style(styles["List Bullet"], font=DOCX_BODY_FONT, size=12, after=2)
    # Swedish spelling and hyphenation for the whole document.
    defaults = styles.element.find(qn("w:docDefaults"))
    if defaults is not None:
        run_defaults = defaults.find(qn("w:rPrDefault"))
        properties = run_defaults.find(qn("w:rPr")) if run_defaults is not None else None
        if properties is not None:
            language = properties.find(qn("w:lang"))
            if language is None:
                language = OxmlElement("w:lang")
                properties.append(language)
            language.set(qn("w:val"), "sv-SE")


def _docx_page(document: DocxDocument, header: Mapping[str, str]) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = _PAGE_WIDTH, _PAGE_HEIGHT
    section.left_margin, section.right_margin = _MARGIN_LEFT, _MARGIN_RIGHT
    section.top_margin, section.bottom_margin = Mm(38), Mm(25)
    section.header_distance, section.footer_distance = Mm(12), Mm(10)

    page_header = section.header
    table = page_header.add_table(3, 2, _TEXT_WIDTH)
    _fixed_columns(table, (_LEFT_COLUMN, _TEXT_WIDTH - _LEFT_COLUMN))
    page_header.paragraphs[0]._p.addprevious(table._tbl)  # the table first, then the paragraph
    _tiny(page_header.paragraphs[0])
    for cell in (cell for row in table.rows for cell in row.cells):
        _cell_paragraph(cell, "", font=DOCX_HEADING_FONT, size=9)  # empty ones stay low too
    logo = _cell_paragraph(table.cell(0, 0), "STOCKHOLMS STAD", font=DOCX_HEADING_FONT, size=13)
    logo.runs[0].bold = True
    _cell_paragraph(table.cell(0, 1), header["dokument"], font=DOCX_HEADING_FONT, size=10)
    table.cell(0, 1).paragraphs[0].runs[0].bold = True
    _cell_paragraph(table.cell(1, 1), f"Dnr {header['dnr']}", font=DOCX_HEADING_FONT, size=9)
    pages = _cell_paragraph(table.cell(2, 1), "Sida ", font=DOCX_HEADING_FONT, size=9)
    _field(pages, "PAGE", "1")
    _run(pages, " (", font=DOCX_HEADING_FONT, size=9)
    _field(pages, "NUMPAGES", "1")
    _run(pages, ")", font=DOCX_HEADING_FONT, size=9)

    footer = section.footer.paragraphs[0]
    _run(footer, header["sidfot"], font=DOCX_HEADING_FONT, size=8, color=_GREY)
    _top_border(footer)


def _docx_info_block(document: DocxDocument, header: Mapping[str, str]) -> None:
    """First page: the sender and case officer on the left; date and addressee on the right."""
    meeting = header["sammanträde"]
    rows = (
        (header["förvaltning"], header["datum"]),
        (header["avdelning"], ""),
        ("", ""),
        ("Handläggare", "Till"),
        (header["handläggare"], header["till"]),
        (f"Telefon: {header['telefon']}", f"Sammanträde {meeting}" if meeting else ""),
    )
    table = document.add_table(len(rows), 2)
    _fixed_columns(table, (_LEFT_COLUMN, _TEXT_WIDTH - _LEFT_COLUMN))
    for index, (left, right) in enumerate(rows):
        for column, text in enumerate((left, right)):
            paragraph = _cell_paragraph(
                table.cell(index, column), text, font=DOCX_HEADING_FONT, size=9.5
            )
            if (index, column) in ((0, 0), (4, 1)):  # the sender and the addressee
                for run in paragraph.runs:
                    run.bold = True
    document.add_paragraph().paragraph_format.space_after = Pt(18)


def _docx_block(document: DocxDocument, block: Block, previous: str) -> None:
    if block.kind in ("title", "heading", "subheading"):
        level = {"title": 1, "heading": 2, "subheading": 3}[block.kind]
        paragraph = document.add_heading(level=level)
        _inline(paragraph, block.text)
    elif block.kind == "bullet":
        _inline(document.add_paragraph(style="List Bullet"), block.text)
    elif block.kind == "numbered":
        paragraph = document.add_paragraph()
        layout = paragraph.paragraph_format
        layout.left_indent, layout.first_line_indent = Mm(7), -Mm(7)
        layout.tab_stops.add_tab_stop(Mm(7))
        paragraph.add_run(f"{block.label}\t")
        _inline(paragraph, block.text)
    elif block.kind == "table":
        spacer = document.add_paragraph()
        spacer.paragraph_format.space_before = Pt(24)
        spacer.paragraph_format.keep_with_next = True
        columns = max(len(row) for row in block.rows)
        table = document.add_table(len(block.rows), columns)
        width = _TEXT_WIDTH // columns
        _fixed_columns(table, tuple(width for _ in range(columns)))
        for r, row in enumerate(block.rows):
            for c in range(columns):
                paragraph = table.cell(r, c).paragraphs[0]
                paragraph.paragraph_format.space_after = Pt(0)
                paragraph.paragraph_format.keep_with_next = r < len(block.rows) - 1
                _inline(paragraph, row[c] if c < len(row) else "")
    else:
        paragraph = document.add_paragraph()
        if previous in ("bullet", "numbered"):
            paragraph.paragraph_format.space_before = Pt(6)
        _inline(paragraph, block.text)


def _inline(paragraph: DocxParagraph, text: str) -> None:
    for part, bold, placeholder in inline_runs(text):
        run = paragraph.add_run(part)
        if bold:
            run.bold = True
        if placeholder:
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW


def _run(
    paragraph: DocxParagraph,
    text: str,
    *,
    font: str,
    size: float,
    color: RGBColor | None = None,
) -> None:
    for part, bold, placeholder in inline_runs(text):
        run = paragraph.add_run(part)
        run.font.size = Pt(size)
        run.bold = bold or None
        if color is not None:
            run.font.color.rgb = color
        if placeholder:
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW
        _set_fonts(run._r.get_or_add_rPr(), font)


def _cell_paragraph(cell: Any, text: str, *, font: str, size: float) -> DocxParagraph:
    paragraph: DocxParagraph = cell.paragraphs[0]
    layout = paragraph.paragraph_format
    # Exact line height: an empty cell is as high as a filled one, whatever the Normal style.
    layout.space_after, layout.space_before = Pt(0), Pt(0)
    layout.line_spacing = Pt(round(size * 1.3, 1))
    _run(paragraph, text, font=font, size=size)
    return paragraph


def _fixed_columns(table: DocxTable, widths: Sequence[int]) -> None:
    table.autofit = False
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Emu(width)
        for cell in column.cells:
            cell.width = Emu(width)
    # No cell padding on the left, so the table's text lines up with the paragraphs.
    properties = table._tbl.tblPr
    margins = OxmlElement("w:tblCellMar")
    for side, value in (("left", "0"), ("right", "115")):
        margin = OxmlElement(f"w:{side}")
        margin.set(qn("w:w"), value)
        margin.set(qn("w:type"), "dxa")
        margins.append(margin)
    properties.append(margins)


def _field(paragraph: DocxParagraph, instruction: str, shown: str) -> None:
    """A Word field (PAGE, NUMPAGES), updated by Word and LibreOffice when the page is laid out."""
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None)):
        run = paragraph.add_run()
        run.font.size = Pt(9)
        _set_fonts(run._r.get_or_add_rPr(), DOCX_HEADING_FONT)
        if kind == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} \\* MERGEFORMAT "
            run._r.append(instr)
        else:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
    result = paragraph.add_run(shown)
    result.font.size = Pt(9)
    _set_fonts(result._r.get_or_add_rPr(), DOCX_HEADING_FONT)
    end = paragraph.add_run()
    char = OxmlElement("w:fldChar")
    char.set(qn("w:fldCharType"), "end")
    end._r.append(char)


def _tiny(paragraph: DocxParagraph) -> None:
    layout = paragraph.paragraph_format
    layout.space_before, layout.space_after, layout.line_spacing = Pt(0), Pt(0), Pt(2)


def _top_border(paragraph: DocxParagraph) -> None:
    properties = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for name, value in (("val", "single"), ("sz", "4"), ("space", "4"), ("color", "999999")):
        top.set(qn(f"w:{name}"), value)
    borders.append(top)
    properties.append(borders)


# --- PDF -------------------------------------------------------------------------------------

_PDF_LEFT = 25 * mm
_PDF_LEFT_COLUMN = 100 * mm
_PDF_RIGHT_COLUMN = _PDF_LEFT + _PDF_LEFT_COLUMN
_PDF_TEXT_WIDTH = A4[0] - 50 * mm
_HIGHLIGHT = "#fff1a6"


# Headings: name, size, leading, space before, space after (points).
_PDF_HEADINGS = (
    ("title", 17, 21, 6, 12),
    ("heading", 12.5, 16, 11, 4),
    ("subheading", 11, 14, 7, 2.5),
)


def _pdf_styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName="Times-Roman", fontSize=11.5, leading=15, spaceAfter=7.5)
    styles = {
        name: ParagraphStyle(
            name,
            fontName="Helvetica-Bold",
            fontSize=size,
            leading=leading,
            spaceBefore=before,
            spaceAfter=after,
            keepWithNext=1,
        )
        for name, size, leading, before, after in _PDF_HEADINGS
    }
    return {
        **styles,
        "body": body,
        "bullet": ParagraphStyle(
            "bullet", parent=body, leftIndent=16, bulletIndent=4, spaceAfter=1.5
        ),
        "numbered": ParagraphStyle("numbered", parent=body, leftIndent=16, bulletIndent=0),
        "info": ParagraphStyle("info", fontName="Helvetica", fontSize=9.5, leading=12.5),
        "signature": ParagraphStyle("signature", parent=body, spaceAfter=0, leading=14.5),
    }


# Letters outside Windows-1252 that have no decomposition to fall back on.
_PLAIN_LETTERS = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "ẞ": "SS"})


def _pdf_safe(text: str) -> str:
    """Text the PDF standard fonts can show (Windows-1252): other letters lose their accents."""
    out: list[str] = []
    for char in text.translate(_PLAIN_LETTERS):
        try:
            char.encode("cp1252")
            out.append(char)
        except UnicodeEncodeError:
            plain = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            try:
                plain.encode("cp1252")
                out.append(plain)
            except UnicodeEncodeError:
                out.append("?")
    return "".join(out)


def _pdf_inline(text: str) -> str:
    """Reportlab's paragraph markup for `text`: escaped, bold and highlighted placeholders."""
    parts: list[str] = []
    for part, bold, placeholder in inline_runs(_pdf_safe(text)):
        markup = escape(part)
        if placeholder:
            markup = f'<font backColor="{_HIGHLIGHT}">{markup}</font>'
        if bold:
            markup = f"<b>{markup}</b>"
        parts.append(markup)
    return "".join(parts)


def render_report_pdf(context: Mapping[str, Any]) -> bytes:
    """The draft as a PDF, laid out like the city's tjänsteutlåtanden."""
    return pdf_from_markup(render_markup(context))


def pdf_from_markup(markup: ReportMarkup) -> bytes:
    # Two passes: the first counts the pages, so every page can say "Sida 1 (3)".
    data, pages = _build_pdf(markup, total_pages=None)
    if pages > 1:
        data, _ = _build_pdf(markup, total_pages=pages)
    return data


def _build_pdf(markup: ReportMarkup, *, total_pages: int | None) -> tuple[bytes, int]:
    header = {key: _pdf_safe(value) for key, value in markup.header.items()}
    styles = _pdf_styles()
    buffer = io.BytesIO()
    document = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_PDF_LEFT,
        rightMargin=25 * mm,
        topMargin=36 * mm,
        bottomMargin=24 * mm,
        title=_pdf_safe(markup.title),
        author=header["förvaltning"],
        subject="Tjänsteutlåtande, Kvalitetsutmärkelsen",
        creator="Kvalitetsutmärkelsen",
        lang="sv-SE",
        displayDocTitle=1,
        invariant=1,
    )
    frame = Frame(
        document.leftMargin,
        document.bottomMargin,
        document.width,
        document.height,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="text",
    )
    document.addPageTemplates(
        [PageTemplate(id="page", frames=[frame], onPage=_pdf_page(header, total_pages))]
    )
    story: list[Any] = [_pdf_info_block(header, styles["info"]), Spacer(1, 9 * mm)]
    previous = ""
    for block in markup.blocks:
        story.append(_pdf_block(block, styles, previous))
        previous = block.kind
    document.build(story)
    return buffer.getvalue(), int(document.page)


def _pdf_page(header: Mapping[str, str], total_pages: int | None) -> Callable[[Any, Any], None]:
    def draw(canvas: Any, document: Any) -> None:
        top = A4[1]
        canvas.saveState()
        canvas.setFont("Helvetica-Bold", 13)
        canvas.drawString(_PDF_LEFT, top - 17 * mm, "STOCKHOLMS STAD")
        canvas.setFont("Helvetica-Bold", 10)
        canvas.drawString(_PDF_RIGHT_COLUMN, top - 15 * mm, header["dokument"])
        canvas.setFont("Helvetica", 9)
        canvas.drawString(_PDF_RIGHT_COLUMN, top - 19.5 * mm, f"Dnr {header['dnr']}")
        total = total_pages or document.page
        canvas.drawString(_PDF_RIGHT_COLUMN, top - 24 * mm, f"Sida {document.page} ({total})")
        canvas.setStrokeColor(colors.HexColor("#999999"))
        canvas.setLineWidth(0.4)
        canvas.line(_PDF_LEFT, 17 * mm, A4[0] - 25 * mm, 17 * mm)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.setFont("Helvetica", 8)
        canvas.drawString(_PDF_LEFT, 12.5 * mm, header["sidfot"])
        canvas.restoreState()

    return draw


def _pdf_info_block(header: Mapping[str, str], style: ParagraphStyle) -> Any:
    meeting = header["sammanträde"]
    rows = (
        (f"**{header['förvaltning']}**", header["datum"]),
        (header["avdelning"], ""),
        ("", ""),
        ("Handläggare", "Till"),
        (header["handläggare"], f"**{header['till']}**"),
        (f"Telefon: {header['telefon']}", f"Sammanträde {meeting}" if meeting else ""),
    )
    table = Table(
        [[Paragraph(_pdf_inline(text) or "\u00a0", style) for text in row] for row in rows],
        colWidths=[_PDF_LEFT_COLUMN, _PDF_TEXT_WIDTH - _PDF_LEFT_COLUMN],
        hAlign="LEFT",
    )
    table.setStyle(_plain_table())
    return table


def _plain_table() -> TableStyle:
    return TableStyle(
        [
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )


def _pdf_block(block: Block, styles: Mapping[str, ParagraphStyle], previous: str) -> Any:
    if block.kind in ("title", "heading", "subheading"):
        return Paragraph(_pdf_inline(block.text), styles[block.kind])
    if block.kind == "bullet":
        return Paragraph(_pdf_inline(block.text), styles["bullet"], bulletText="\u2022")
    if block.kind == "numbered":
        return Paragraph(_pdf_inline(block.text), styles["numbered"], bulletText=block.label)
    if block.kind == "table":
        columns = max(len(row) for row in block.rows)
        cells = [
            [
                Paragraph(_pdf_inline(row[c] if c < len(row) else ""), styles["signature"])
                for c in range(columns)
            ]
            for row in block.rows
        ]
        table = Table(cells, colWidths=[_PDF_TEXT_WIDTH / columns] * columns, hAlign="LEFT")
        table.setStyle(_plain_table())
        return KeepTogether([Spacer(1, 12 * mm), table])
    paragraph = Paragraph(_pdf_inline(block.text), styles["body"])
    if previous in ("bullet", "numbered"):
        return KeepTogether([Spacer(1, 5), paragraph])
    return paragraph


# --- the file, for downloads and e-mails -----------------------------------------------------

_UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def report_filename(organisation_name: str, year: int, fmt: str) -> str:
    """ "Tjänsteutlåtande Deltagande i kvalitetsutmärkelsen 2024 - Socialförvaltningen.docx"."""
    name = " ".join(_UNSAFE_IN_FILENAME.sub("-", organisation_name).split()).strip(" .-")
    suffix = f" - {name}" if name else ""
    return f"Tjänsteutlåtande Deltagande i kvalitetsutmärkelsen {year}{suffix}.{fmt}"


def ascii_filename(filename: str) -> str:
    """The filename without accents, for clients that only read the plain `filename=`."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9 ._()-]+", "_", plain) or "tjansteutlatande"


def report_for(
    session: Session,
    organisation_id: int,
    year: int,
    fmt: str,
    *,
    preparation: ReportPreparation | None = None,
) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of the draft in `fmt` ("docx" or "pdf").

    Raises InvalidInput for an unknown format or proposal, NotFound for an unknown organisation
    or a year in which it has no entries; reads only, so a refusal leaves nothing behind.
    """
    wanted = str(fmt).strip().lower().lstrip(".")
    if wanted not in FORMATS:
        raise refusal(
            InvalidInput,
            "unknown_format",
            f"Okänt format '{fmt}' för tjänsteutlåtandet (giltiga: {', '.join(FORMATS)}).",
        )
    context = build_report_context(session, organisation_id, year, preparation=preparation)
    render = render_report_docx if wanted == "docx" else render_report_pdf
    filename = report_filename(context["organisation"]["name"], context["year"], wanted)
    return filename, FORMATS[wanted], render(context)


def report_attachment(
    session: Session,
    organisation_id: int,
    year: int,
    fmt: str = "docx",
    *,
    preparation: ReportPreparation | None = None,
) -> Attachment:
    """The draft as an e-mail attachment (for the agenda request to the coordinator)."""
    filename, content_type, data = report_for(
        session, organisation_id, year, fmt, preparation=preparation
    )
    return Attachment(filename=filename, content_type=content_type, data=data)


def report_subject(session: Session, entry_id: int) -> tuple[int, int] | None:
    """(organisation id, year): whose draft report an entry's agenda request carries."""
    row = session.exec(
        select(Unit.organisation_id, Cycle.year)
        .select_from(Entry)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .where(Entry.id == entry_id)
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else None


def report_attachment_for_entry(session: Session, entry_id: int, fmt: str = "docx") -> Attachment:
    """The draft of the organisation and cycle an entry belongs to (what the outbox knows)."""
    subject = report_subject(session, entry_id)
    if subject is None:
        raise refusal(NotFound, "not_found", f"Posten med id {entry_id} finns inte.")
    return report_attachment(session, *subject, fmt)

"""A winner's diploma (PDF, A4 landscape) and prize letter (DOCX and PDF): what the unit is
handed at the ceremony in Stadshuset, with the prize cheque (prischeck) to be used for the
unit's continued quality work. Pure rendering: `PrizeFacts` in, bytes out; nothing here reads
the database (see `workflow.services.ceremony` for who may fetch them, and when).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from docx import Document as new_docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm, Pt, RGBColor
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_CENTER  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from workflow import swedish
from workflow.documents.fonts import (
    BOLD,
    ITALIC,
    REGULAR,
    TABLE_FONT,
    draw_string,
    paragraph_markup,
    register_fonts,
)
from workflow.documents.report import ascii_filename

CITY_BLUE = "#005aa0"
AWARD = "Stockholms stads kvalitetsutmärkelse"
PURPOSE = (
    "Prissumman ska användas till att utveckla verksamheten vidare, i enhetens fortsatta "
    "kvalitetsarbete."
)
DEFAULT_MOTIVATION = (
    "för ett framgångsrikt och systematiskt kvalitetsarbete till nytta för stockholmarna"
)


@dataclass(frozen=True)
class PrizeFacts:
    """What a winner's documents say."""

    unit: str
    organisation: str
    award_class: str  # the class code; the documents write its Swedish name
    year: int
    amount: int  # the prize cheque, whole kronor
    ceremony_on: date
    ceremony_hours: tuple[time, time]
    signatory_name: str  # "" leaves a line to sign on
    signatory_title: str
    award_office_email: str
    motivation: str = ""  # the jury's, when it gave one

    @property
    def class_name(self) -> str:
        return swedish.klass_or_code(self.award_class)

    @property
    def hours(self) -> str:
        span = swedish.hours_span(
            self.ceremony_hours[0].isoformat(), self.ceremony_hours[1].isoformat()
        )
        return span or ""


def diploma_filename(facts: PrizeFacts) -> str:
    return f"Diplom Kvalitetsutmärkelsen {facts.year} - {_safe(facts.unit)}.pdf"


def prize_letter_filename(facts: PrizeFacts, fmt: str) -> str:
    return f"Prisbrev Kvalitetsutmärkelsen {facts.year} - {_safe(facts.unit)}.{fmt}"


def _safe(name: str) -> str:
    cleaned = "".join("-" if c in '\\/:*?"<>|' or ord(c) < 32 else c for c in name)
    return " ".join(cleaned.split()).strip(" .-") or ascii_filename(name)


# --- the diploma -------------------------------------------------------------------------------


def render_diploma_pdf(facts: PrizeFacts) -> bytes:
    """The diploma: one A4 landscape page, drawn centred within a double frame."""
    register_fonts()
    width, height = landscape(A4)
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=(width, height), invariant=1, lang="sv-SE", initialFontName=REGULAR
    )
    canvas.setTitle(f"Diplom – {AWARD} {facts.year}")
    canvas.setViewerPreference("DisplayDocTitle", "true")
    canvas.setAuthor("Stockholms stad")
    canvas.setSubject(f"{facts.unit}, {facts.class_name}")
    canvas.setCreator("Kvalitetsutmärkelsen")
    blue = colors.HexColor(CITY_BLUE)
    canvas.setStrokeColor(blue)
    canvas.setLineWidth(3)
    canvas.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    canvas.setLineWidth(0.8)
    canvas.rect(16 * mm, 16 * mm, width - 32 * mm, height - 32 * mm)

    middle = width / 2
    canvas.setFillColor(blue)
    draw_string(canvas, middle, height - 36 * mm, "STOCKHOLMS STAD", BOLD, 14, "centre")
    draw_string(canvas, middle, height - 62 * mm, "DIPLOM", BOLD, 46, "centre")
    canvas.setFillColor(colors.black)
    draw_string(canvas, middle, height - 78 * mm, f"{AWARD} {facts.year}", REGULAR, 19, "centre")
    draw_string(canvas, middle, height - 92 * mm, "tilldelas", ITALIC, 15, "centre")

    text_width = width - 70 * mm
    top = height - 97 * mm
    story = [
        (_centred(facts.unit, BOLD, 30, 35), 3 * mm),
        (_centred(facts.organisation, REGULAR, 15, 19), 5 * mm),
        (_centred(f"i klassen {facts.class_name}", REGULAR, 17, 21), 4 * mm),
        (
            _centred(
                facts.motivation or DEFAULT_MOTIVATION,
                ITALIC,
                13,
                17,
            ),
            0,
        ),
    ]
    for paragraph, gap in story:
        _, used = paragraph.wrap(text_width, height)
        top -= used
        paragraph.drawOn(canvas, 35 * mm, top)
        top -= gap

    when = f"Stockholm den {swedish.datum(facts.ceremony_on)}"
    draw_string(canvas, 40 * mm, 40 * mm, when, REGULAR, 12.5)
    line_left, line_right = width - 130 * mm, width - 40 * mm
    canvas.setLineWidth(0.6)
    canvas.setStrokeColor(colors.black)
    canvas.line(line_left, 42 * mm, line_right, 42 * mm)
    signer = (line_left + line_right) / 2
    if facts.signatory_name:
        draw_string(canvas, signer, 36 * mm, facts.signatory_name, BOLD, 12.5, "centre")
    draw_string(canvas, signer, 30.5 * mm, facts.signatory_title, REGULAR, 11, "centre")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _centred(text: str, font: str, size: float, leading: float) -> Paragraph:
    style = ParagraphStyle("c", fontName=font, fontSize=size, leading=leading, alignment=TA_CENTER)
    return Paragraph(paragraph_markup(" ".join(text.split())), style)


# --- the prize letter --------------------------------------------------------------------------


def _letter_paragraphs(facts: PrizeFacts) -> list[str]:
    ceremony = f"den {swedish.datum(facts.ceremony_on)}"
    if facts.hours:
        ceremony += f" {facts.hours}"
    return [
        f"Stort grattis! Domarkommittén har utsett {facts.unit} till vinnare av {AWARD} "
        f"{facts.year} i klassen {facts.class_name}.",
        f"Som vinnare får ni en prischeck på {swedish.kronor(facts.amount)}. {PURPOSE}",
        f"Prischecken och diplomet delas ut vid den högtidliga ceremonin i Stadshuset {ceremony}. "
        "Inbjudan till ceremonin skickas till er och till er samordnare.",
        "Ert arbete är ett gott exempel för hela staden. Tack för att ni delar med er av det!",
    ]


def _cheque_rows(facts: PrizeFacts) -> list[tuple[str, str]]:
    return [
        ("Belopp", swedish.kronor(facts.amount)),
        ("Mottagare", f"{facts.unit}, {facts.organisation}"),
        ("Ändamål", "Enhetens fortsatta kvalitetsarbete"),
        ("Utmärkelse", f"{AWARD} {facts.year}, klassen {facts.class_name}"),
    ]


def _contact(facts: PrizeFacts) -> str:
    return f"Frågor besvaras av Kvalitetsutmärkelsen, {facts.award_office_email}."


def _title(facts: PrizeFacts) -> str:
    return f"Prisbrev – {AWARD} {facts.year}"


def render_prize_letter_docx(facts: PrizeFacts) -> bytes:
    """The prize letter as a Word document (A4 portrait), with the prize cheque as a table."""
    document = new_docx()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(25)
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = "Times New Roman", Pt(12)
    header = section.header.paragraphs[0]
    run = header.add_run("STOCKHOLMS STAD")
    run.bold, run.font.name, run.font.size = True, "Arial", Pt(13)
    document.add_paragraph(f"Stockholm den {swedish.datum(facts.ceremony_on)}")
    document.add_paragraph(f"Till {facts.unit}, {facts.organisation}")
    heading = document.add_heading(_title(facts), level=1)
    for run in heading.runs:
        run.font.color.rgb = RGBColor(0x00, 0x5A, 0xA0)
    for text in _letter_paragraphs(facts):
        document.add_paragraph(text)
    document.add_heading("Prischeck", level=2)
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in _cheque_rows(facts):
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
        cells[0].paragraphs[0].runs[0].bold = True
    document.add_paragraph()
    document.add_paragraph("Med vänliga hälsningar")
    signature = document.add_paragraph()
    if facts.signatory_name:
        signature.add_run(facts.signatory_name).bold = True
        signature.add_run("\n")
    signature.add_run(facts.signatory_title)
    contact = document.add_paragraph(
        f"Frågor besvaras av Kvalitetsutmärkelsen, {facts.award_office_email}."
    )
    contact.alignment = WD_ALIGN_PARAGRAPH.LEFT
    properties = document.core_properties
    properties.title = _title(facts)
    properties.subject = "Kvalitetsutmärkelsen"
    properties.author = "Stockholms stad"
    properties.language = "sv-SE"
    properties.created = properties.modified = datetime.combine(
        facts.ceremony_on, time(0), tzinfo=UTC
    )
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def render_prize_letter_pdf(facts: PrizeFacts) -> bytes:
    """The prize letter as a PDF (A4 portrait), the same words as the DOCX."""
    register_fonts()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=25 * mm,
        rightMargin=25 * mm,
        topMargin=30 * mm,
        bottomMargin=25 * mm,
        title=_title(facts),
        author="Stockholms stad",
        subject="Kvalitetsutmärkelsen",
        creator="Kvalitetsutmärkelsen",
        lang="sv-SE",
        displayDocTitle=1,
        invariant=1,
        initialFontName=REGULAR,
    )
    body = ParagraphStyle("body", fontName=REGULAR, fontSize=12, leading=16, spaceAfter=8)
    title = ParagraphStyle(
        "title", fontName=BOLD, fontSize=16, leading=20, spaceBefore=10, spaceAfter=12,
        textColor=colors.HexColor(CITY_BLUE),
    )  # fmt: skip
    heading = ParagraphStyle(
        "heading", fontName=BOLD, fontSize=12.5, leading=16, spaceBefore=8, spaceAfter=6
    )
    label_style = ParagraphStyle("label", parent=body, fontName=BOLD)
    logo = ParagraphStyle("logo", fontName=BOLD, fontSize=13, leading=16, spaceAfter=14)

    def para(text: str, style: ParagraphStyle) -> Paragraph:
        return Paragraph(paragraph_markup(text).replace("\n", "<br/>"), style)

    story = [
        para("STOCKHOLMS STAD", logo),
        para(f"Stockholm den {swedish.datum(facts.ceremony_on)}", body),
        para(f"Till {facts.unit}, {facts.organisation}", body),
        para(_title(facts), title),
        *(para(text, body) for text in _letter_paragraphs(facts)),
        para("Prischeck", heading),
    ]
    cheque = Table(
        [[para(label, label_style), para(value, body)] for label, value in _cheque_rows(facts)],
        colWidths=[40 * mm, A4[0] - 90 * mm],
        hAlign="LEFT",
    )
    cheque.setStyle(
        TableStyle(
            [
                TABLE_FONT,
                ("BOX", (0, 0), (-1, -1), 1.2, colors.HexColor(CITY_BLUE)),
                ("INNERGRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    signer = f"{facts.signatory_name}\n" if facts.signatory_name else ""
    story += [
        cheque,
        Spacer(1, 10 * mm),
        para("Med vänliga hälsningar", body),
        para(f"{signer}{facts.signatory_title}", body),
        para(_contact(facts), body),
    ]
    document.build(story)
    return buffer.getvalue()

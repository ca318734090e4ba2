"""The draft as a PDF (reportlab), laid out like the city's tjänsteutlåtanden. Set in the
embedded fonts of `documents.fonts` (FiraGO and its stand-ins), so every letter of a name shows
as written; no font has to be installed on the machine.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
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

from workflow.documents.fonts import (
    BOLD,
    REGULAR,
    TABLE_FONT,
    draw_string,
    paragraph_markup,
    register_fonts,
)
from workflow.documents.markup import Block, ReportMarkup, inline_runs, render_markup

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
    register_fonts()
    body = ParagraphStyle(
        "body", fontName=REGULAR, bulletFontName=REGULAR, fontSize=11.5, leading=15, spaceAfter=7.5
    )
    styles = {
        name: ParagraphStyle(
            name,
            fontName=BOLD,
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
        "info": ParagraphStyle("info", fontName=REGULAR, fontSize=9.5, leading=12.5),
        "signature": ParagraphStyle("signature", parent=body, spaceAfter=0, leading=14.5),
    }


def _pdf_inline(text: str) -> str:
    """Reportlab's paragraph markup for `text`: escaped, bold and highlighted placeholders."""
    parts: list[str] = []
    for part, bold, placeholder in inline_runs(text):
        markup = paragraph_markup(part)
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
    # One pass: each page's "Sida 1 (3)" is drawn when the document is saved and the number
    # of pages known (`_CountingCanvas`); laying the text out twice cost half of a release
    # of 1,000 feedback reports (bench/feedback_release.py).
    data, _ = _build_pdf(markup)
    return data


class _CountingCanvas(Canvas):  # type: ignore[misc]
    """Keeps each finished page until the document is saved, then adds "Sida n (total)"."""

    page_number_at: tuple[float, float] = (_PDF_RIGHT_COLUMN, A4[1] - 24 * mm)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.saveState()
            page = f"Sida {self._pageNumber} ({total})"
            draw_string(self, *self.page_number_at, page, REGULAR, 9)
            self.restoreState()
            super().showPage()
        super().save()


def _build_pdf(markup: ReportMarkup) -> tuple[bytes, int]:
    header = dict(markup.header)
    styles = _pdf_styles()
    buffer = io.BytesIO()
    document = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_PDF_LEFT,
        rightMargin=25 * mm,
        topMargin=36 * mm,
        bottomMargin=24 * mm,
        title=markup.title,
        author=header["förvaltning"],
        subject=f"{header['dokument'] or 'Tjänsteutlåtande'}, Kvalitetsutmärkelsen",
        creator="Kvalitetsutmärkelsen",
        lang="sv-SE",
        displayDocTitle=1,
        invariant=1,
        initialFontName=REGULAR,
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
    document.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=_pdf_page(header))])
    story: list[Any] = [_pdf_info_block(header, styles["info"]), Spacer(1, 9 * mm)]
    previous = ""
    for block in markup.blocks:
        story.append(_pdf_block(block, styles, previous))
        previous = block.kind
    document.build(story, canvasmaker=_CountingCanvas)
    return buffer.getvalue(), int(document.page)


def _pdf_page(header: Mapping[str, str]) -> Callable[[Any, Any], None]:
    def draw(canvas: Any, document: Any) -> None:
        top = A4[1]
        canvas.saveState()
        draw_string(canvas, _PDF_LEFT, top - 17 * mm, "STOCKHOLMS STAD", BOLD, 13)
        draw_string(canvas, _PDF_RIGHT_COLUMN, top - 15 * mm, header["dokument"], BOLD, 10)
        draw_string(canvas, _PDF_RIGHT_COLUMN, top - 19.5 * mm, f"Dnr {header['dnr']}", REGULAR, 9)
        canvas.setStrokeColor(colors.HexColor("#999999"))
        canvas.setLineWidth(0.4)
        canvas.line(_PDF_LEFT, 17 * mm, A4[0] - 25 * mm, 17 * mm)
        canvas.setFillColor(colors.HexColor("#555555"))
        draw_string(canvas, _PDF_LEFT, 12.5 * mm, header["sidfot"], REGULAR, 8)
        canvas.restoreState()

    return draw


def _pdf_info_block(header: Mapping[str, str], style: ParagraphStyle) -> Any:
    meeting = header["sammanträde"]
    phone = f"Telefon: {header['telefon']}" if header["telefon"] else ""
    rows = (
        (f"**{header['förvaltning']}**", header["datum"]),
        (header["avdelning"], ""),
        ("", ""),
        ("Handläggare", "Till"),
        (header["handläggare"], f"**{header['till']}**"),
        (phone, f"Sammanträde {meeting}" if meeting else ""),
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
            TABLE_FONT,
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

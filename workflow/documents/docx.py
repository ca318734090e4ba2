"""The draft as a Word document (python-docx): real Word headings, lists and page fields, so
the board secretary can go on editing it. Placeholders are highlighted in yellow.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

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

from workflow.documents.markup import Block, ReportMarkup, inline_runs, render_markup

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
    kind = markup.header["dokument"] or "Tjänsteutlåtande"
    if kind == "Tjänsteutlåtande":
        properties.comments = "Utkast till tjänsteutlåtande. Fyll i det som står inom hakparentes."
    properties.keywords = f"{kind.lower()}, kvalitetsutmärkelsen"
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
    phone = f"Telefon: {header['telefon']}" if header["telefon"] else ""
    rows = (
        (header["förvaltning"], header["datum"]),
        (header["avdelning"], ""),
        ("", ""),
        ("Handläggare", "Till"),
        (header["handläggare"], header["till"]),
        (phone, f"Sammanträde {meeting}" if meeting else ""),
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

"""The jury pack (juryunderlag) of one class as a PDF: the entries that reached consensus,
ranked by consensus score, each with its scores per criterion and the consensus summary.
Laid out like the board report (reportlab, the embedded fonts of documents/fonts.py).
Confidential: only the jury and the award office ever fetch it."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from workflow import swedish
from workflow.documents.fonts import (
    BOLD,
    REGULAR,
    TABLE_FONT,
    draw_string,
    paragraph_markup,
    register_fonts,
)

_LEFT = 25 * mm
_WIDTH = A4[0] - 50 * mm
_BODY = ParagraphStyle("body", fontName=REGULAR, fontSize=11, leading=14, spaceAfter=6)
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=9.5, leading=12, spaceAfter=0)
_TITLE = ParagraphStyle("title", fontName=BOLD, fontSize=17, leading=21, spaceAfter=10)
_HEADING = ParagraphStyle(
    "heading", fontName=BOLD, fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=4
)


def _text(value: str) -> str:
    return paragraph_markup(value).replace("\n", "<br/>")


def _score(value: float | int | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}".replace(".", ",") if isinstance(value, float) else str(value)


def _footer(year: int, class_name: str) -> Any:
    def draw(canvas: Any, document: Any) -> None:
        canvas.saveState()
        draw_string(canvas, _LEFT, A4[1] - 17 * mm, "STOCKHOLMS STAD", BOLD, 13)
        draw_string(
            canvas, A4[0] - 25 * mm, A4[1] - 17 * mm, f"Juryunderlag {year}, {class_name}",
            REGULAR, 9, "right",
        )  # fmt: skip
        canvas.setStrokeColor(colors.HexColor("#999999"))
        canvas.setLineWidth(0.4)
        canvas.line(_LEFT, 17 * mm, A4[0] - 25 * mm, 17 * mm)
        draw_string(
            canvas, _LEFT, 12.5 * mm,
            f"Konfidentiellt till tillkännagivandet · Sida {document.page}", REGULAR, 8,
        )  # fmt: skip
        canvas.restoreState()

    return draw


def render_jury_pack(*, year: int, class_name: str, items: Sequence[Any], made_on: date) -> bytes:
    """The pack; `items` are services.jury.PackItem (rank, unit, organisation, score,
    summary, scores)."""
    register_fonts()
    story: list[Any] = [
        Paragraph(_text(f"Juryunderlag – {swedish.versal(class_name)} {year}"), _TITLE),
        Paragraph(
            _text(
                f"Stockholms stads kvalitetsutmärkelse {year}. Bidragen i klassen som har en "
                f"fastställd konsensusbedömning, rangordnade efter konsensuspoäng "
                f"(medelvärdet över bedömningsgrunderna). Upprättat {swedish.datum(made_on)}."
            ),
            _BODY,
        ),
    ]
    if not items:
        story.append(Paragraph(_text("Inget bidrag i klassen har ännu fått konsensus."), _BODY))
    for item in items:
        rows = [[Paragraph(_text(name), _SMALL), Paragraph(_score(score), _SMALL)]
                for name, score in item.scores]  # fmt: skip
        block: list[Any] = [
            Paragraph(_text(f"{item.rank}. {item.unit} – {_score(item.score)} poäng"), _HEADING),
            Paragraph(_text(item.organisation), _SMALL),
            Spacer(1, 4),
        ]
        if rows:
            table = Table(rows, colWidths=[_WIDTH - 25 * mm, 25 * mm], hAlign="LEFT")
            table.setStyle(
                TableStyle(
                    [
                        TABLE_FONT,
                        ("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.HexColor("#cccccc")),
                        ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ]
                )
            )
            block.append(table)
        if not item.budget_in_balance:
            block.append(Paragraph(_text("Obs: enheten har inte budget i balans."), _SMALL))
        story.append(KeepTogether(block))
        story.append(Paragraph(_text(item.summary or "(Ingen sammanfattning.)"), _BODY))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=_LEFT, rightMargin=25 * mm, topMargin=28 * mm,
        bottomMargin=24 * mm, title=f"Juryunderlag {year} {class_name}",
        author="Stockholms stad", creator="Kvalitetsutmärkelsen", lang="sv-SE", displayDocTitle=1,
        initialFontName=REGULAR,
    )  # fmt: skip
    page = _footer(year, class_name)
    document.build(story, onFirstPage=page, onLaterPages=page)
    return buffer.getvalue()

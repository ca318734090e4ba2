"""Every PDF shows names as written: Polish, Finnish, Arabic script and emoji (issue #17, 12).

Each kind of PDF is made for units and organisations with such names, then read back: with
pypdf (every font embedded as a TrueType file, none of the PDF standard fonts, the text layer
holds the names exactly) and with pdfium, which renders the page and says which font drew each
character, so a name that is drawn as blank paper or as empty boxes fails.
"""

from __future__ import annotations

import ctypes
import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from pypdf import PdfReader
from pypdf.generic import BooleanObject, DictionaryObject
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_entry
from tests.integration.test_feedback_release import ADMIN, _team, examined_entry
from workflow import documents
from workflow.db import transaction
from workflow.documents import fonts
from workflow.documents.jury_pack import render_jury_pack
from workflow.documents.prize import (
    PrizeFacts,
    render_diploma_pdf,
    render_prize_letter_docx,
    render_prize_letter_pdf,
)
from workflow.models import Organisation
from workflow.services import feedback_release
from workflow.services.jury import PackItem

POLISH = "Łucja Żółć förskola ✓"
FINNISH = "Äänekosken päiväkoti Öljymäki"
ARABIC = "مدرسة النور"
EMOJI = "Solrosen 🌻"
NAMES = (POLISH, FINNISH, ARABIC, EMOJI)
ORGANISATION = "Łódź–Ääneväkevä förvaltning"
BASE_14 = {
    "Courier", "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique", "Helvetica",
    "Helvetica-Bold", "Helvetica-Oblique", "Helvetica-BoldOblique", "Times-Roman", "Times-Bold",
    "Times-Italic", "Times-BoldItalic", "Symbol", "ZapfDingbats",
}  # fmt: skip
# Which font draws the characters only a stand-in has (fonts.py): never the missing-glyph box.
DRAWN_BY = {"✓": "CascadiaMono", "🌻": "NotoEmoji", "Ł": "FiraGO", "م": "FiraGO"}


@dataclass(frozen=True)
class Checked:
    text: str
    fonts: list[str]


def check_pdf(data: bytes, names: tuple[str, ...], target: Path) -> Checked:
    """Fails unless every font is embedded, the text holds `names` exactly and each name is
    drawn (ink on the rendered page, in the font that has the glyph)."""
    reader = PdfReader(io.BytesIO(data))
    used = _fonts(reader)
    assert used, "no font at all"
    for name, font in used.items():
        base = name.split("+", 1)[-1]
        assert base not in BASE_14, f"standard font {base} is used"
        descriptor = font.get("/FontDescriptor")
        assert descriptor is not None and "/FontFile2" in descriptor.get_object(), (
            f"{name} is not embedded"
        )
    _check_declarations(reader)
    text = " ".join(page.extract_text() for page in reader.pages)
    for name in names:
        assert name in text, (name, text)
    _check_drawn(data, names, target)
    return Checked(text, sorted(n.split("+", 1)[-1] for n in used))


def _check_declarations(reader: PdfReader) -> None:
    """Swedish, a title the reader shows instead of the file name, and no claim to be tagged:
    reportlab writes no structure tree, so /MarkInfo /Marked true would be a lie to a screen
    reader (and PDF/UA is not claimed either)."""
    root = reader.trailer["/Root"]
    assert root.get("/Lang") == "sv-SE"
    preferences = root["/ViewerPreferences"].get_object()
    assert preferences.get("/DisplayDocTitle") == BooleanObject(True)
    assert reader.metadata is not None and reader.metadata.title
    assert "/StructTreeRoot" not in root
    assert not root.get("/MarkInfo", {}).get("/Marked", False)


def _fonts(reader: PdfReader) -> dict[str, DictionaryObject]:
    found: dict[str, DictionaryObject] = {}
    for page in reader.pages:
        resources = page.get("/Resources")
        if resources is None:
            continue
        for font in resources.get_object().get("/Font", {}).values():
            font = font.get_object()
            found[str(font["/BaseFont"]).lstrip("/")] = font
    return found


def _check_drawn(data: bytes, names: tuple[str, ...], target: Path) -> None:
    document = pdfium.PdfDocument(data)
    scale = 2.0
    seen: set[str] = set()
    for number in range(len(document)):
        page = document[number]
        textpage = page.get_textpage()
        content = textpage.get_text_range()
        image = page.render(scale=scale).to_pil().convert("L")
        height = page.get_height()
        if number == 0:
            image.save(target)
            _keep(target)
        for name in names:
            for probe in _as_pdfium_reads(name):
                start = content.find(probe)
                if start < 0:
                    continue
                seen.add(name)
                for position in range(start, start + len(probe)):
                    char = content[position]
                    if char.isspace():
                        continue
                    # pdfium counts a character beyond U+FFFF (an emoji) as two.
                    index = position + sum(ord(c) > 0xFFFF for c in content[:position])
                    left, bottom, right, top = textpage.get_charbox(index)
                    box = (
                        int(left * scale), int((height - top) * scale),
                        int(right * scale) + 1, int((height - bottom) * scale) + 1,
                    )  # fmt: skip
                    darkest = image.crop(box).getextrema()[0]
                    assert darkest < 200, f"{char!r} of {name!r} is blank paper on the page"
                    if char in DRAWN_BY:
                        assert DRAWN_BY[char] in _font_of(textpage, index), (char, name)
    assert seen == set(names), f"not found on any page: {set(names) - seen}"


def _as_pdfium_reads(name: str) -> list[str]:
    """pdfium reads a right-to-left run's words in the order they are drawn."""
    if name == ARABIC:
        return [" ".join(reversed(name.split()))]
    return [name]


def _font_of(textpage: Any, index: int) -> str:
    buffer = ctypes.create_string_buffer(256)
    flags = ctypes.c_int()
    pdfium_c.FPDFText_GetFontInfo(textpage.raw, index, buffer, 256, ctypes.byref(flags))
    return buffer.value.decode("latin-1")


def _keep(target: Path) -> None:
    artifacts = os.environ.get("KVALITET_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(artifacts) / target.name)


# --- the documents ---------------------------------------------------------------------------


def _prize_facts(unit: str) -> PrizeFacts:
    return PrizeFacts(
        unit=unit, organisation=ORGANISATION, award_class="forskola", year=2024,
        amount=50_000, ceremony_on=date(2024, 11, 26), ceremony_hours=(time(15), time(17)),
        signatory_name="Łucja Żółć", signatory_title="Stadsdirektör",
        award_office_email="kvalitetsutmarkelsen@stockholm.se",
        motivation=f"för {FINNISH} och {ARABIC} 🌻",
    )  # fmt: skip


PRIZE_KINDS: dict[str, Callable[[PrizeFacts], bytes]] = {
    "diplom": render_diploma_pdf,
    "prisbrev": render_prize_letter_pdf,
}


@pytest.mark.parametrize("kind", PRIZE_KINDS)
@pytest.mark.parametrize("unit", NAMES, ids=["polish", "finnish", "arabic", "emoji"])
def test_the_winner_s_documents_show_the_unit_s_name_as_written(
    kind: str, unit: str, tmp_path: Path
) -> None:
    data = PRIZE_KINDS[kind](_prize_facts(unit))
    ids = {POLISH: "polish", FINNISH: "finnish", ARABIC: "arabic", EMOJI: "emoji"}
    checked = check_pdf(data, (unit, ORGANISATION), tmp_path / f"{kind}-{ids[unit]}.png")
    assert all(font.startswith(("FiraGO", "CascadiaMono", "NotoEmoji")) for font in checked.fonts)


def test_the_word_version_keeps_every_name_too() -> None:
    """The DOCX stores text as Unicode and Word picks fonts itself: nothing to change there."""
    for unit in NAMES:
        document = docx.Document(io.BytesIO(render_prize_letter_docx(_prize_facts(unit))))
        cells = [c.text for table in document.tables for row in table.rows for c in row.cells]
        text = "\n".join([p.text for p in document.paragraphs] + cells)
        assert unit in text and ORGANISATION in text


def test_the_jury_pack_shows_every_name_as_written(tmp_path: Path) -> None:
    items = [
        PackItem(
            rank=rank,
            entry_id=rank,
            unit=name,
            organisation=ORGANISATION,
            score=4.5 - rank,
            summary=f"{name}: ett genomarbetat kvalitetsarbete.",
            scores=[("Ledarskap", 4), (f"Kriterium {name}", 3)],
            budget_in_balance=rank != 2,
        )
        for rank, name in enumerate(NAMES, start=1)
    ]
    data = render_jury_pack(
        year=2024, class_name=f"förskola {ARABIC}", items=items, made_on=date(2024, 10, 1)
    )
    check_pdf(data, (*NAMES, ORGANISATION), tmp_path / "juryunderlag.png")


def test_the_board_report_shows_every_unit_s_name_as_written(
    engine: Engine, tmp_path: Path
) -> None:
    for name in NAMES:
        seed_entry(engine, name=name, organisation=ORGANISATION)
    with transaction(engine) as session:
        organisation = session.exec(
            select(Organisation).where(Organisation.name == ORGANISATION)
        ).one()
        _, _, data = documents.report_for(session, organisation.id or 0, 2024, "pdf")
    check_pdf(data, (*NAMES, ORGANISATION), tmp_path / "tjansteutlatande.png")


def test_the_feedback_report_shows_the_unit_and_examiners_as_written(
    engine: Engine, tmp_path: Path
) -> None:
    team = _team(engine)  # Małgorzata Wójcik and Aino Väisänen
    for number, name in enumerate(NAMES):
        entry_id = examined_entry(engine, name, team)
        with transaction(engine) as session:
            _, _, data = feedback_release.report_for_reader(session, ADMIN, entry_id, "pdf")
        check_pdf(data, (name, "Małgorzata Wójcik"), tmp_path / f"aterkoppling-{number}.png")


# --- the fonts ---------------------------------------------------------------------------------


def test_every_character_of_the_names_has_a_glyph_in_its_font() -> None:
    """No character is left to the missing-glyph box: each run's font has all its characters."""
    for name in (*NAMES, ORGANISATION, "Ünal Şahin – ”citat” § ẞ ☃ ✔️ שלום"):
        for font in (fonts.REGULAR, fonts.BOLD, fonts.ITALIC, fonts.BOLD_ITALIC):
            for run in fonts.font_runs(name, font):
                assert "\ufffd" not in run.text, (name, run)
                face = fonts.pdfmetrics.getFont(run.font).face
                assert all(ord(c) in face.charToGlyph for c in run.text), (name, run)


def test_a_character_no_font_has_shows_as_the_replacement_sign() -> None:
    """A private-use character is drawn as "�", never dropped or turned into another letter;
    an invisible joiner no font has is simply left out."""
    runs = fonts.font_runs("a\U000f0001b\u2064c")
    assert "".join(run.text for run in runs) == "a\ufffdbc"

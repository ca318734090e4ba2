"""The fonts every PDF is set in, embedded (as subsets) so that any name shows as written.

Reportlab's standard fonts (Times, Helvetica) know Windows-1252 only: "Łucja Żółć förskola ✓"
came out as "Lucja Zólc förskola ?". Every PDF now uses only the TrueType fonts below, which
reportlab embeds (FontFile2), each character taken from the first font of its chain that has it:

- FiraGO (package pymupdf-fonts; regular, bold, italic, bold italic): Latin with all its
  accents, Greek, Cyrillic, Arabic, Hebrew, Georgian, Thai.
- Cascadia Mono (same package): symbols FiraGO lacks, such as ✓ and □.
- Noto Emoji (package manimgx-fonts): emoji, in black and white — reportlab cannot embed colour
  glyphs (they are bitmaps or layers in other tables).
- Anything no font has is shown as "�" (U+FFFD), never dropped or changed into another letter;
  an invisible format character no font has (a variation selector, say) is left out instead.

Arabic and Hebrew are written right to left and Arabic letters join: each right-to-left run
(its words kept together) is shaped by HarfBuzz (uharfbuzz) into the joined forms, in the
order they are drawn, and so reaches the PDF's text as Unicode presentation forms, which
normalise (NFKC) to the letters written. Marks above or below (harakat) keep the font's
default place, not HarfBuzz's fine positioning, which plain text cannot carry.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import manimgx_fonts  # type: ignore[import-untyped]
import pymupdf_fonts  # type: ignore[import-untyped]
import uharfbuzz  # type: ignore[import-untyped]
from reportlab.lib.fonts import addMapping  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

REGULAR = "FiraGO"
BOLD = "FiraGO-Bold"
ITALIC = "FiraGO-Italic"
BOLD_ITALIC = "FiraGO-BoldItalic"
_SYMBOLS, _SYMBOLS_BOLD = "CascadiaMono", "CascadiaMono-Bold"
_EMOJI = "NotoEmoji"
_REPLACEMENT = "\ufffd"
# A table's cells default to Helvetica even when they hold paragraphs: every table names ours.
TABLE_FONT = ("FONT", (0, 0), (-1, -1), REGULAR)

# Which font stands in, for each text font, when it lacks a character (in this order).
_CHAINS: dict[str, tuple[str, ...]] = {
    REGULAR: (REGULAR, _SYMBOLS, _EMOJI),
    BOLD: (BOLD, _SYMBOLS_BOLD, _EMOJI),
    ITALIC: (ITALIC, _SYMBOLS, _EMOJI),
    BOLD_ITALIC: (BOLD_ITALIC, _SYMBOLS_BOLD, _EMOJI),
}

# Right-to-left letters (Hebrew, Arabic and their supplements, marks and presentation forms),
# and a run of them: words joined by spaces stay one run, drawn as one unit.
_RTL = "\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc"
_RTL_RUN = re.compile(f"[{_RTL}]+(?:[ \u00a0]+[{_RTL}]+)*")


class _EmbeddedFont(TTFont):  # type: ignore[misc]
    """A TrueType font whose ToUnicode map also names characters beyond U+FFFF (emoji):
    reportlab writes those as five hex digits, which readers reject, so the text lost them."""

    def addObjects(self, doc: Any) -> None:
        super().addObjects(doc)
        for key, obj in doc.idToObject.items():
            if str(key).startswith("toUnicodeCMap:"):
                obj.content = _ASTRAL.sub(_utf16_pair, obj.content)


_ASTRAL = re.compile(r"<([0-9A-F]{5,6})>$", re.MULTILINE)


def _utf16_pair(match: re.Match[str]) -> str:
    return "<" + chr(int(match.group(1), 16)).encode("utf-16-be").hex().upper() + ">"


def _packaged(code: str) -> Callable[[], io.BytesIO]:
    """A font of pymupdf-fonts by its code there (it keeps them compressed inside modules)."""
    return lambda: io.BytesIO(pymupdf_fonts.fontbuffers[code]())


def _file(name: str) -> Callable[[], str]:
    return lambda: str(Path(manimgx_fonts.__file__).parent / name)


_SOURCES: dict[str, Callable[[], Any]] = {
    REGULAR: _packaged("figo"),
    BOLD: _packaged("figbo"),
    ITALIC: _packaged("figit"),
    BOLD_ITALIC: _packaged("figbi"),
    _SYMBOLS: _packaged("cascadia"),
    _SYMBOLS_BOLD: _packaged("cascadiab"),
    _EMOJI: _file("NotoEmoji[wght].ttf"),
}


@functools.cache
def register_fonts() -> None:
    """Registers the fonts with reportlab once per process (about half a second: the first
    PDF a process makes pays it), with their bold and italic faces, so that paragraph
    markup's <b> and <i> pick them."""
    for name, source in _SOURCES.items():
        pdfmetrics.registerFont(_EmbeddedFont(name, source()))
    families = (
        (REGULAR, BOLD, ITALIC, BOLD_ITALIC),
        (_SYMBOLS, _SYMBOLS_BOLD, _SYMBOLS, _SYMBOLS_BOLD),
        (_EMOJI, _EMOJI, _EMOJI, _EMOJI),
    )
    for regular, bold, italic, bold_italic in families:
        addMapping(regular, 0, 0, regular)
        addMapping(regular, 1, 0, bold)
        addMapping(regular, 0, 1, italic)
        addMapping(regular, 1, 1, bold_italic)


@functools.cache
def _characters(font: str) -> frozenset[int]:
    register_fonts()
    return frozenset(pdfmetrics.getFont(font).face.charToGlyph)


@dataclass(frozen=True)
class Run:
    font: str
    text: str


def font_runs(text: str, font: str = REGULAR) -> list[Run]:
    """`text` as drawable runs: right-to-left runs shaped, each character in the first font of
    `font`'s chain that has it (see the module's docstring for what is shown instead)."""
    text = shape_rtl(unicodedata.normalize("NFC", text))
    if _characters(font).issuperset(map(ord, text)):  # most text: one run, found at C speed
        return [Run(font, text)] if text else []
    runs: list[Run] = []
    for char in text:
        chosen = _font_for(font, char)
        if chosen is None:
            if unicodedata.category(char) == "Cf" or 0xFE00 <= ord(char) <= 0xFE0F:
                continue  # invisible format characters: nothing to show
            chosen, char = _SYMBOLS, _REPLACEMENT
        if runs and runs[-1].font == chosen:
            runs[-1] = Run(chosen, runs[-1].text + char)
        else:
            runs.append(Run(chosen, char))
    return runs


def _font_for(font: str, char: str) -> str | None:
    return next((name for name in _CHAINS[font] if ord(char) in _characters(name)), None)


def paragraph_markup(text: str) -> str:
    """Reportlab paragraph markup for `text`: escaped, with the stand-in fonts named where they
    are needed (the style's font, and <b> or <i> around it, set the rest: FiraGO's faces have
    the same characters, but for one private-use glyph)."""
    parts = [(escape(run.text), run.font) for run in font_runs(text)]
    return "".join(t if f == REGULAR else f'<font name="{f}">{t}</font>' for t, f in parts)


def draw_string(
    canvas: Any, x: float, y: float, text: str, font: str, size: float, align: str = "left"
) -> None:
    """canvas.drawString with the stand-in fonts; `align` "left", "centre" or "right" of x."""
    runs = [(r, pdfmetrics.stringWidth(r.text, r.font, size)) for r in font_runs(text, font)]
    width = sum(run_width for _, run_width in runs)
    x -= {"left": 0.0, "centre": width / 2, "right": width}[align]
    for run, run_width in runs:
        canvas.setFont(run.font, size)
        canvas.drawString(x, y, run.text)
        x += run_width


def shape_rtl(text: str) -> str:
    """`text` with each right-to-left run in the joined forms and the order they are drawn in
    (left to right), its spaces no-break so that a line never splits it. Runs stay in the
    sentence's order: digits or Latin words between two right-to-left words part them (the full
    bidirectional algorithm would move a number inside the run; names rarely need it)."""
    return _RTL_RUN.sub(lambda match: _shape(match.group().replace(" ", "\u00a0")), text)


def _shape(run: str) -> str:
    font, glyph_chars = _harfbuzz()
    buffer = uharfbuzz.Buffer()
    buffer.add_str(run)
    buffer.guess_segment_properties()
    # Only what the script requires (joining forms, lam-alef): no optional ligatures, so that
    # every glyph drawn still has a character of its own.
    uharfbuzz.shape(font, buffer, {"liga": False, "dlig": False, "kern": False})
    drawn: list[str] = []
    for info in buffer.glyph_infos:
        char = glyph_chars.get(info.codepoint)
        if char is None:  # a glyph no character names: draw the letters unjoined instead
            return run[::-1]
        drawn.append(run[info.cluster] if run[info.cluster] in char else char[0])
    return "".join(drawn)


@functools.cache
def _harfbuzz() -> tuple[Any, dict[int, str]]:
    """FiraGO for HarfBuzz, and each glyph's characters (a joined form has its own)."""
    register_fonts()
    face = pdfmetrics.getFont(REGULAR).face
    data = _SOURCES[REGULAR]().getvalue()
    font = uharfbuzz.Font(uharfbuzz.Face(uharfbuzz.Blob(data)))
    glyph_chars: dict[int, str] = {}
    for code, glyph in sorted(face.charToGlyph.items()):
        glyph_chars[glyph] = glyph_chars.get(glyph, "") + chr(code)
    return font, glyph_chars

"""The report template and its markup: Jinja renders `templates/documents/tjansteutlatande.txt`
into a small markup (see the README.md beside it), parsed here into a page header and blocks
that the DOCX and PDF writers lay out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workflow import swedish

DOCUMENT_TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "documents"
REPORT_TEMPLATE = "tjansteutlatande.txt"


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
    env.filters.update(swedish.FILTERS)
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


def render_markup(
    context: Mapping[str, Any],
    template_dir: Path | None = None,
    template_name: str = REPORT_TEMPLATE,
) -> ReportMarkup:
    """The template rendered with `context`, parsed into the page header and the blocks."""
    template = environment(template_dir or DOCUMENT_TEMPLATE_DIR).get_template(template_name)
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
    header, body = _split_header(lines)
    return ReportMarkup(header=header, blocks=_parse_blocks(body))


def _split_header(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """The page header between two `---` lines (when the text starts with one), and the rest."""
    header: dict[str, str] = dict.fromkeys(HEADER_FIELDS, "")
    if not lines or lines[0].strip() != "---":
        return header, lines
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
    return header, lines[end + 1 :]


def _parse_blocks(lines: list[str]) -> tuple[Block, ...]:
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
        if block := _one_line_block(line):
            flush()
            blocks.append(block)
        else:
            paragraph.append(line)
    flush()
    return tuple(blocks)


def _one_line_block(line: str) -> Block | None:
    """The heading, bullet or numbered item that `line` is; None for a line of a paragraph."""
    if heading := _HEADING.fullmatch(line):
        return Block(_HEADING_KINDS[len(heading[1])], heading[2].strip())
    if bullet := _BULLET.fullmatch(line):
        return Block("bullet", bullet[1].strip())
    if numbered := _NUMBERED.fullmatch(line):
        return Block("numbered", numbered[2].strip(), numbered[1])
    return None


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

"""What an uploaded file must be before it is kept and, perhaps, mailed on: a PDF that really is
one (parsed, not just its first bytes), open, without scripts or files inside; and within the
entry's share of storage.

A file that only starts like a PDF (an HTML page renamed .pdf) would be mailed to the award
office as a PDF; an encrypted one cannot be read there; JavaScript, launch actions and embedded
files are how a PDF carries something other than a document.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from workflow.domain.errors import Reason

# Keys that carry scripts, actions that start programs, and files inside the PDF.
_ACTIVE_KEYS = {"/JS": "javascript", "/JavaScript": "javascript", "/Launch": "launch"}
_EMBEDDED_KEYS = {"/EmbeddedFiles", "/EmbeddedFile", "/FileAttachment"}
# A walk over a malicious file's object graph must end: a real extract has a few hundred.
_MOST_OBJECTS_WALKED = 200_000

NOT_PDF = Reason("not_pdf", "Filen är ingen läsbar PDF-fil. Spara den som PDF och ladda upp igen.")


def pdf_reasons(data: bytes) -> tuple[Reason, ...]:
    """Why `data` is not a PDF we keep; empty when it is one."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a broken file is our refusal, not a log
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return (
                Reason(
                    "pdf_encrypted",
                    "PDF-filen är krypterad eller lösenordsskyddad; ladda upp en öppen fil.",
                ),
            )
        if len(reader.pages) == 0:
            return (Reason("pdf_empty", "PDF-filen har inga sidor."),)
        found = _active_content(reader.trailer)
    except (PyPdfError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return (NOT_PDF,)
    if "javascript" in found or "launch" in found:
        return (
            Reason(
                "pdf_active_content",
                "PDF-filen innehåller skript eller startar program; spara den som en vanlig PDF.",
            ),
        )
    if "embedded" in found:
        return (
            Reason(
                "pdf_embedded_files",
                "PDF-filen har bifogade filer inuti sig; ladda upp dem var för sig eller ta bort "
                "dem.",
            ),
        )
    return ()


def _active_content(root: Any) -> set[str]:
    """Which kinds of active content the object graph from `root` holds."""
    found: set[str] = set()
    seen: set[tuple[int, int]] = set()
    stack = [root]
    walked = 0
    while stack and walked < _MOST_OBJECTS_WALKED:
        item = stack.pop()
        walked += 1
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            item = item.get_object()
        if isinstance(item, DictionaryObject):
            for key, value in item.items():
                name = str(value) if isinstance(value, NameObject) else None
                if key in _ACTIVE_KEYS:
                    found.add(_ACTIVE_KEYS[key])
                if key in _EMBEDDED_KEYS or name in _EMBEDDED_KEYS:
                    found.add("embedded")
                if key in ("/S", "/Subtype") and name in ("/JavaScript", "/Launch"):
                    found.add("javascript")
                stack.append(value)
        elif isinstance(item, ArrayObject):
            stack.extend(item)
    return found


def looks_like_pdf(filename: str, data: bytes) -> bool:
    """Whether the file claims to be a PDF, by its name or its first bytes."""
    return filename.lower().endswith(".pdf") or data.lstrip()[:5] == b"%PDF-"


def quota_reason(stored_bytes: int, new_bytes: int, quota_bytes: int) -> Reason | None:
    """Refuse a file that would take the entry's files past its quota, saying what is left."""
    if stored_bytes + new_bytes <= quota_bytes:
        return None
    left = max(quota_bytes - stored_bytes, 0)
    return Reason(
        "quota_exceeded",
        f"Postens filer får ta högst {_megabytes(quota_bytes)} MB; "
        f"{_megabytes(left)} MB återstår och filen är {_megabytes(new_bytes)} MB.",
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".replace(".", ",")

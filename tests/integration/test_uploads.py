"""Uploads are parsed, not sniffed: what is kept (and perhaps mailed on as a PDF) is a real,
open PDF without scripts or files inside, and an entry's files stay within its quota."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import MINIMAL_PDF, NOW, one_page_pdf, seed_entry
from workflow import services
from workflow.db import transaction
from workflow.domain.errors import InvalidInput
from workflow.models import Document
from workflow.settings import get_settings

HTML = b"<!DOCTYPE html><html><body><script>alert('hej')</script></body></html>"


def upload(engine: Engine, entry_id: int, data: bytes, *, kind: str, name: str) -> Document:
    with transaction(engine) as session:
        return services.attach_document(
            session, entry_id=entry_id, kind=kind, filename=name, data=data, actor="t", now=NOW
        )


@pytest.mark.parametrize(
    ("data", "kind", "name", "code"),
    [
        (HTML, "extract", "protokollsutdrag.pdf", "not_pdf"),  # a web page renamed .pdf
        (HTML, "contribution", "bidrag.pdf", "not_pdf"),  # would be mailed on as a PDF
        (b"%PDF-1.7\n" + HTML, "extract", "utdrag.pdf", "not_pdf"),  # right first bytes only
        (MINIMAL_PDF[: len(MINIMAL_PDF) // 2], "extract", "utdrag.pdf", "not_pdf"),  # cut off
        (one_page_pdf(password="hemligt"), "extract", "utdrag.pdf", "pdf_encrypted"),
        (one_page_pdf(javascript="app.alert(1);"), "extract", "utdrag.pdf", "pdf_active_content"),
        (one_page_pdf(attachment=b"MZ\x90"), "contribution", "bidrag.pdf", "pdf_embedded_files"),
    ],
)
def test_a_file_that_is_not_a_plain_pdf_is_refused_and_nothing_is_kept(
    engine: Engine, data: bytes, kind: str, name: str, code: str
) -> None:
    entry = seed_entry(engine)
    assert entry.id is not None
    with pytest.raises(InvalidInput) as refused:
        upload(engine, entry.id, data, kind=kind, name=name)
    assert [r.code for r in refused.value.reasons] == [code]
    with transaction(engine) as session:
        assert session.exec(select(Document)).all() == []


def test_a_real_pdf_and_a_word_contribution_are_kept(engine: Engine) -> None:
    entry = seed_entry(engine)
    assert entry.id is not None
    kept = upload(engine, entry.id, MINIMAL_PDF, kind="extract", name="utdrag.pdf")
    assert kept.content_type == "application/pdf"
    word = upload(engine, entry.id, b"PK\x03\x04 docx", kind="contribution", name="bidrag.docx")
    assert word.content_type == "application/octet-stream"


def test_an_entrys_files_stay_within_its_quota(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three 19 MB files no longer fit one entry: the third is refused, saying what is left."""
    monkeypatch.setenv("UPLOAD_QUOTA_BYTES_PER_ENTRY", str(2 * len(MINIMAL_PDF) + 10))
    get_settings.cache_clear()
    try:
        entry = seed_entry(engine)
        assert entry.id is not None
        for _ in range(2):
            upload(engine, entry.id, MINIMAL_PDF, kind="extract", name="utdrag.pdf")
        with pytest.raises(InvalidInput) as refused:
            upload(engine, entry.id, MINIMAL_PDF, kind="extract", name="utdrag.pdf")
        assert [r.code for r in refused.value.reasons] == ["quota_exceeded"]
        assert "återstår" in refused.value.reasons[0].message
        other = seed_entry(engine, name="En annan enhet")
        assert other.id is not None
        upload(engine, other.id, MINIMAL_PDF, kind="extract", name="utdrag.pdf")  # its own quota
    finally:
        get_settings.cache_clear()

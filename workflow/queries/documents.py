"""An entry's uploaded documents, as its page lists and serves them."""

from __future__ import annotations

from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from workflow.models import Document


def entry_documents(session: Session, entry_id: int) -> list[Document]:
    """The entry's documents in upload order, without their contents."""
    return list(
        session.exec(
            select(Document)
            # The list needs no file contents (SQLModel types the column as bytes).
            .options(defer(Document.content))  # type: ignore[arg-type]
            .where(Document.entry_id == entry_id)
            .order_by(col(Document.id))
        ).all()
    )


def entry_document(session: Session, entry_id: int, document_id: int) -> Document | None:
    """One document of the entry, with its contents; None when the entry has no such one."""
    document = session.get(Document, document_id)
    return document if document is not None and document.entry_id == entry_id else None

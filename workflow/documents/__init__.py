"""The board report draft (tjänsteutlåtande) "Deltagande i kvalitetsutmärkelsen YYYY".

One draft per organisation and cycle, covering every unit of the organisation that takes part
that year and goes through its board (withdrawn entries and privately run units are left out).
The whole text is one Jinja2 template, `templates/documents/tjansteutlatande.txt`, written in a
small markup that a non-programmer can edit (see the README.md beside it):

    build_report_context(session, organisation_id, year)  → the template's variables  (context)
    render_markup(context)                                → header and blocks         (markup)
    render_report_docx(context) / render_report_pdf(context) → the file, as bytes  (docx, pdf)
    report_for(session, organisation_id, year, "docx")      → (filename, content type, bytes)
                                                                                      (report)

The DOCX is what the city edits (python-docx: real Word headings, lists and page fields); the
PDF uses reportlab with the fonts of `documents/fonts.py` embedded, so every letter of a name
shows as written and no font has to be installed on the machine. Placeholders in brackets,
like "[avdelning]", mark what is left to fill in and are highlighted in both formats. Nothing
here writes to the database.
"""

from workflow.documents.context import ReportPreparation, build_report_context
from workflow.documents.docx import render_report_docx
from workflow.documents.pdf import render_report_pdf
from workflow.documents.report import (
    DOCX_CONTENT_TYPE,
    FORMATS,
    PDF_CONTENT_TYPE,
    ascii_filename,
    report_attachment,
    report_attachment_for_entry,
    report_filename,
    report_for,
    report_subject,
)

__all__ = [
    "DOCX_CONTENT_TYPE",
    "FORMATS",
    "PDF_CONTENT_TYPE",
    "ReportPreparation",
    "ascii_filename",
    "build_report_context",
    "render_report_docx",
    "render_report_pdf",
    "report_attachment",
    "report_attachment_for_entry",
    "report_filename",
    "report_for",
    "report_subject",
]

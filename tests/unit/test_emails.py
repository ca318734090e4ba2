"""E-mail rendering: real templates, real MIME, parsed back the way a mail client would."""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from workflow.emails import (
    EMAIL_KINDS,
    TEMPLATE_DIR,
    Attachment,
    CalendarPart,
    OutgoingEmail,
    context_for,
    message_id_for,
    render_email,
    render_outgoing,
    render_subject,
)
from workflow.settings import Settings

SETTINGS = Settings(
    mail_from="Kvalitetsutmärkelsen <kvalitetsutmarkelsen@stockholm.se>",
    mail_reply_to="kvalitetsutmarkelsen@stockholm.se",
    message_id_domain="kvalitet.stockholm.se",
)
SENT = datetime(2024, 5, 10, 6, 0, tzinfo=UTC)  # 08:00 in Stockholm
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n" + bytes(range(256)) + b"\n%%EOF\n"

FACTS: dict[str, dict[str, str]] = {
    "board_decision": {"decision": "approved", "meeting_date": "2024-06-11", "paragraph": "§ 12"},
    "extract_sent": {"sent_on": "2024-06-14"},
    "submitted": {"submitted_on": "2024-05-17", "title": "Trygghet dygnet runt"},
    "examined": {"site_visit_on": "2024-09-10", "examiner": "Åsa Öberg"},
    "feedback": {
        "strengths": "- Tydlig styrning med mål i hela verksamheten\n- Engagerade medarbetare",
        "development_areas": "Följ upp resultaten oftare och använd dem i planeringen",
    },
    "jury": {"outcome": "winner"},
}
REMINDER = {
    "deadline": "2024-05-17",
    "deadline_kind": "contribution",
    "days_before": 7,
    "award_office_email": "kvalitetsutmarkelsen@stockholm.se",
}
RECIPIENT = {
    "notification_receipt": "chef.ungdomsjouren@stockholm.se",
    "agenda_request": "samordnare@stockholm.se",
    "board_decision_recorded": "samordnare@stockholm.se",
    "extract_to_award_office": "kvalitetsutmarkelsen@stockholm.se",
    "escalation": "samordnare@stockholm.se",
}


def payload(kind: str, **changes: Any) -> dict[str, Any]:
    """A payload as the outbox stores it for `kind` (reminder kinds carry their deadline)."""
    base: dict[str, Any] = {
        "entry_id": 41,
        "stage": "notified",
        "version": 3,
        "unit": "Ungdomsjouren",
        "organisation": "Socialförvaltningen",
        "board": "Socialnämnden",
        "year": 2024,
        "award_class": "socialtjanst",
        "facts": FACTS,
        "pending": {},
        "award_office_email": "kvalitetsutmarkelsen@stockholm.se",
        "attachments": [],
    }
    if kind in ("reminder", "overdue", "escalation"):
        base.update(REMINDER)
    if kind in ("overdue", "escalation"):
        base["days_before"] = -1 if kind == "overdue" else -3
    if kind == "password_link":  # about a person, not an entry
        base.update(
            name="eva",
            welcome=True,
            link="https://kvalitet.stockholm.se/password/abc",
            expires_at="2024-05-13T06:00:00+00:00",
        )
    if kind == "group_message":  # the award office's own words, filled in when queued
        base.update(
            group_id="g1",
            group_subject="Om ert bidrag, Ungdomsjouren",
            group_text="Hej Ungdomsjouren!\n\nSkicka bidraget senast den 17 maj 2024:\n"
            "https://kvalitet.stockholm.se/entries/41",
            roles=["unit"],
            entry_ids=[41],
        )
    if kind in ("ceremony_invitation", "ceremony_moved"):  # to an address, for its units
        if kind == "ceremony_moved":
            base["previous_on"] = "2024-11-19"
        base.update(
            units=["Ungdomsjouren", "Fältgruppen"],
            coordinator_of=["Socialförvaltningen"],
            ceremony_on="2024-11-26",
            starts_at="15:00",
            ends_at="17:00",
            place="Stadshuset, Hantverkargatan 1, Stockholm",
        )
    if kind == "deadline_extended":
        base.update(
            deadline_kind="contribution",
            extended_until="2024-05-31",
            previous_deadline="2024-05-17",
        )
    base.update(changes)
    return base


def render(
    kind: str,
    context: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    to: str | None = None,
    date: datetime = SENT,
    **kwargs: Any,
) -> EmailMessage:
    return render_email(
        kind,
        to=RECIPIENT.get(kind, "chef.ungdomsjouren@stockholm.se") if to is None else to,
        context=payload(kind) if context is None else context,
        key=key or f"entry/41/v3/{kind}",
        date=date,
        settings=SETTINGS,
        **kwargs,
    )


def parse(message: EmailMessage) -> EmailMessage:
    """The message as a receiving client sees it: serialised to bytes and parsed back."""
    parsed = BytesParser(policy=email.policy.default).parsebytes(message.as_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(message: EmailMessage) -> str:
    """The plain-text body with the wire's CRLF line endings read as newlines."""
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS))
def test_every_kind_renders_a_clean_message_with_text_and_html(kind: str):
    """Each kind renders from a realistic payload into a defect-free text+HTML message."""
    parsed = parse(render(kind))

    for part in parsed.walk():
        assert not part.defects, (kind, part.get_content_type(), part.defects)
        for name, value in part.items():
            assert not getattr(value, "defects", ()), (kind, name, value.defects)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "Kvalitetsutmärkelsen" in parsed["Subject"] or "kvalitetsutmärkelse" in text_of(parsed)
    assert "Stockholms stad" in text_of(parsed)
    assert "Stockholms stad" in html_of(parsed)
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Reply-To"] == "kvalitetsutmarkelsen@stockholm.se"
    sender = parsed["From"].addresses[0]
    assert sender.addr_spec == "kvalitetsutmarkelsen@stockholm.se"
    if kind == "extract_to_award_office":  # the organisation's notice, sent by the system
        assert sender.display_name == "Socialförvaltningen via Kvalitetsutmärkelsen"
    else:
        assert sender.display_name == "Kvalitetsutmärkelsen"
    assert parsed["Date"].datetime == SENT


def outgoing(
    kind: str, context: Mapping[str, Any] | None = None, *, to: str | None = None, **kwargs: Any
) -> OutgoingEmail:
    return render_outgoing(
        kind,
        to=to or RECIPIENT.get(kind, "chef.ungdomsjouren@stockholm.se"),
        context=payload(kind) if context is None else context,
        key=f"entry/41/v3/{kind}",
        date=SENT,
        settings=SETTINGS,
        **kwargs,
    )


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS))
def test_the_relays_wire_bytes_say_what_the_email_package_would(kind: str):
    """The relay writes text+HTML messages itself; a client must read exactly the message
    the email package builds: same headers, same bodies, no defects, SMTP-safe lines."""
    sent = outgoing(kind)
    built = parse(render(kind))
    received = BytesParser(policy=email.policy.default).parsebytes(sent.data)

    for part in received.walk():
        assert not part.defects, (kind, part.defects)
        for name, value in part.items():
            assert not getattr(value, "defects", ()), (kind, name, value.defects)
    headers = [(k, str(v)) for k, v in received.items() if k != "Content-Type"]
    assert headers == [(k, str(v)) for k, v in built.items() if k != "Content-Type"]
    assert received.get_content_type() == "multipart/alternative"
    assert text_of(received) == text_of(built)
    assert html_of(received) == html_of(built)
    assert sent.message_id == built["Message-ID"]
    assert (sent.sender, sent.recipient) == ("kvalitetsutmarkelsen@stockholm.se", built["To"])
    lines = sent.data.split(b"\r\n")
    assert all(len(line) <= 78 for line in lines)
    assert all(byte < 128 for byte in sent.data)
    assert b"\n" not in sent.data.replace(b"\r\n", b"")


def test_a_copy_is_named_in_the_cc_header_and_the_envelope_alike():
    """An escalation's coordinator in copy: the relay's own bytes and the email package's
    message carry the same Cc header, and the envelope names both recipients."""
    copy = ["samordnare@stockholm.se"]
    sent = outgoing("escalation", to="registrator@stockholm.se", cc=copy)
    built = parse(render("escalation", to="registrator@stockholm.se", cc=copy))
    received = BytesParser(policy=email.policy.default).parsebytes(sent.data)
    assert received["Cc"] == built["Cc"] == "samordnare@stockholm.se"
    assert [(k, str(v)) for k, v in received.items() if k != "Content-Type"] == [
        (k, str(v)) for k, v in built.items() if k != "Content-Type"
    ]
    assert sent.recipients == ["registrator@stockholm.se", "samordnare@stockholm.se"]
    assert sent.message_id == outgoing("escalation", to="registrator@stockholm.se").message_id
    with pytest.raises(ValueError):
        outgoing("escalation", cc=["samordnare@stockholm.se\r\nBcc: x@y.se"])


def test_wire_bytes_keep_a_bodys_own_line_breaks_and_trailing_spaces():
    """A note typed with CRLF or ending lines in spaces reads back as typed."""
    facts = {**FACTS, "feedback": {**FACTS["feedback"], "strengths": "Ett  \r\nTvå\tsteg "}}
    received = BytesParser(policy=email.policy.default).parsebytes(
        outgoing("feedback_letter", payload("feedback_letter", facts=facts)).data
    )
    built = parse(render("feedback_letter", payload("feedback_letter", facts=facts)))
    assert text_of(received) == text_of(built)
    assert "Två" in text_of(received) and "\r" not in text_of(received)


def test_messages_with_attachments_go_through_the_email_package():
    attachment = Attachment("protokollsutdrag.pdf", "application/pdf", PDF)
    sent = outgoing("extract_to_award_office", attachments=[attachment])
    received = BytesParser(policy=email.policy.default).parsebytes(sent.data)
    assert received.get_content_type() == "multipart/mixed"
    (part,) = received.iter_attachments()
    assert part.get_content() == PDF


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS))
def test_the_subject_alone_is_the_subject_of_the_whole_message(kind: str):
    """The outbox list shows subjects rendered without the bodies; they must be the same."""
    alone = render_subject(kind, context=payload(kind), date=SENT, settings=SETTINGS)
    assert alone == parse(render(kind))["Subject"]


def test_every_kind_has_its_three_templates():
    """The registry and the template folders name the same kinds, each with all three files."""
    folders = {p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir() and p.name != "_base"}
    assert folders == set(EMAIL_KINDS)
    for kind in EMAIL_KINDS:
        for name in ("subject.txt", "body.txt", "body.html"):
            assert (TEMPLATE_DIR / kind / name).is_file(), (kind, name)


def test_subject_decodes_with_swedish_letters_and_spaces_intact():
    """å, ä, ö and the spaces between encoded words survive a long, folded Subject."""
    context = payload(
        "extract_to_award_office",
        unit="Förskolan Åkervägen",
        organisation="Hägersten-Älvsjö stadsdelsförvaltning",
    )
    parsed = parse(render("extract_to_award_office", context))

    assert parsed["Subject"] == (
        "Protokollsutdrag: Förskolan Åkervägen, Hägersten-Älvsjö stadsdelsförvaltning – "
        "Kvalitetsutmärkelsen 2024"
    )
    wire = render("extract_to_award_office", context).as_bytes()
    assert all(len(line) <= 78 for line in wire.split(b"\r\n"))


def test_message_id_is_the_same_for_the_same_key():
    """The Message-ID derives from the outbox key alone: a resend carries the same id."""
    first = render("notification_receipt", key="entry/41/v1/notification_receipt")
    again = render(
        "notification_receipt",
        key="entry/41/v1/notification_receipt",
        date=datetime(2024, 5, 11, tzinfo=UTC),
    )

    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"] == message_id_for(
        "entry/41/v1/notification_receipt", "kvalitet.stockholm.se"
    )
    assert message_id_for("a", "kvalitet.stockholm.se") == message_id_for(
        "a", "kvalitet.stockholm.se"
    )


def test_message_id_differs_for_different_keys():
    """Two outbox keys never share a Message-ID."""
    one = render("reminder", key="reminder/41/contribution/2024-05-17/reminder/7")
    other = render("reminder", key="reminder/41/contribution/2024-05-17/reminder/2")

    assert one["Message-ID"] != other["Message-ID"]


def test_message_id_is_an_rfc5322_id_on_the_configured_domain():
    """The id looks like <32 hex digits@domain> and parses back as one."""
    message_id = message_id_for("entry/1/v1/notification_receipt", "kvalitet.stockholm.se")

    local, domain = message_id.strip("<>").split("@")
    assert message_id.startswith("<") and message_id.endswith(">")
    assert len(local) == 32 and int(local, 16) >= 0
    assert domain == "kvalitet.stockholm.se"
    assert (
        parse(render("notification_receipt", key="entry/1/v1/notification_receipt"))["Message-ID"]
        == message_id
    )


def test_html_escapes_markup_from_a_unit_name_while_text_keeps_it():
    """A unit name with <script> is escaped in HTML and verbatim in the plain text."""
    context = payload("notification_receipt", unit="<script>alert('hej')</script> Enhet")
    parsed = parse(render("notification_receipt", context))

    assert "<script>" not in html_of(parsed)
    assert "&lt;script&gt;" in html_of(parsed)
    assert "<script>alert('hej')</script> Enhet" in text_of(parsed)


def test_line_break_in_a_unit_name_never_becomes_a_header():
    """A unit name smuggling "\\r\\nBcc: …" adds no Bcc header; the subject stays one line."""
    context = payload("notification_receipt", unit="Ungdomsjouren\r\nBcc: evil@x.se")
    message = render("notification_receipt", context)
    parsed = parse(message)

    assert parsed["Bcc"] is None
    assert not any(line.lower().startswith(b"bcc:") for line in message.as_bytes().splitlines())
    assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
    assert parsed["Subject"].endswith("Ungdomsjouren Bcc: evil@x.se")


@pytest.mark.parametrize(
    "to",
    [
        "chef@stockholm.se\r\nBcc: evil@x.se",
        "chef@stockholm.se\nBcc: evil@x.se",
        "chef@stockholm.se, evil@x.se",
        "Chef <chef@stockholm.se>",
        "chef@stockholm.se;evil@x.se",
        "not an address",
        "",
    ],
)
def test_recipient_must_be_one_plain_address(to: str):
    """Anything but a single bare address as recipient is refused before a message exists."""
    with pytest.raises(ValueError):
        render("notification_receipt", to=to)


def test_sender_with_a_line_break_is_refused():
    """A misconfigured From with a line break is refused, not sent with an extra header."""
    settings = SETTINGS.model_copy(update={"mail_from": "X <a@stockholm.se>\r\nBcc: evil@x.se"})
    with pytest.raises(ValueError):
        render_email(
            "notification_receipt",
            to="chef@stockholm.se",
            context=payload("notification_receipt"),
            key="k",
            date=SENT,
            settings=settings,
        )


def test_naive_date_is_refused():
    """The Date header needs a timezone; a naive datetime is a caller's bug."""
    with pytest.raises(ValueError):
        render("notification_receipt", date=datetime(2024, 5, 10, 8, 0))


def test_pdf_attachment_round_trips_byte_exact_with_its_filename():
    """The minutes extract arrives as the same bytes under the same (Swedish) file name."""
    attachment = Attachment("Protokollsutdrag Älvsjö § 12.pdf", "application/pdf", PDF)
    parsed = parse(render("extract_to_award_office", attachments=[attachment]))

    assert parsed.get_content_type() == "multipart/mixed"
    files = list(parsed.iter_attachments())
    assert len(files) == 1
    assert files[0].get_content_type() == "application/pdf"
    assert files[0].get_filename() == "Protokollsutdrag Älvsjö § 12.pdf"
    assert files[0].get_content() == PDF
    assert "Utdraget bifogas som PDF." in text_of(parsed)


def test_attachment_name_with_a_line_break_is_refused():
    """A file name cannot carry a line break into a MIME header."""
    with pytest.raises(ValueError):
        render(
            "extract_to_award_office",
            attachments=[Attachment("a.pdf\r\nBcc: evil@x.se", "application/pdf", PDF)],
        )


def test_calendar_invitation_is_a_request_alternative():
    """A given calendar part travels as text/calendar; method=REQUEST beside text and HTML."""
    ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    parsed = parse(render("site_visit_notice", calendar=CalendarPart(ics)))

    parts = {p.get_content_type(): p for p in parsed.walk()}
    assert parts["text/calendar"].get_param("method") == "REQUEST"
    assert "METHOD:REQUEST" in str(parts["text/calendar"].get_content())
    assert "text/plain" in parts and "text/html" in parts


def test_winner_is_congratulated_in_their_class():
    """A winner hears congratulations, the class in Swedish, Stadshuset and the prize cheque."""
    text = text_of(parse(render("jury_outcome")))

    assert "grattis" in text.lower()
    assert "i klassen socialtjänst" in text
    assert "Stadshuset" in text and "prischeck" in text
    assert "motivering" not in text  # none was given


def test_winner_reads_the_jurys_motivation():
    """The jury's motivation for its winners is quoted in the winner's letter, escaped."""
    motivation = "Ett systematiskt arbete med <mätbara> mål & tydlig uppföljning."
    facts = {**FACTS, "jury": {"outcome": "winner", "motivation": motivation}}
    parsed = parse(render("jury_outcome", payload("jury_outcome", facts=facts)))

    assert "Domarkommitténs motivering:" in text_of(parsed)
    assert motivation in text_of(parsed)
    html = next(p for p in parsed.walk() if p.get_content_type() == "text/html").get_content()
    assert "&lt;mätbara&gt; mål &amp; tydlig" in html


def test_not_awarded_is_thanked_without_a_prize():
    """A unit not awarded is thanked and pointed to its feedback; no prize is mentioned."""
    facts = {**FACTS, "jury": {"outcome": "not_awarded"}}
    winner = parse(render("jury_outcome"))
    other = parse(render("jury_outcome", payload("jury_outcome", facts=facts)))

    assert text_of(other) != text_of(winner)
    assert other["Subject"] != winner["Subject"]
    assert "prischeck" not in text_of(other)
    assert "tack för ert bidrag" in text_of(other).lower()
    assert "återkoppling om era styrkor och utvecklingsområden" in " ".join(text_of(other).split())


def test_board_decision_wording_follows_approved_or_noted():
    """The extract mail quotes the decision the way the board writes it."""
    noted = {**FACTS, "board_decision": {**FACTS["board_decision"], "decision": "noted"}}
    approved_text = text_of(parse(render("extract_to_award_office")))
    noted_text = text_of(
        parse(render("extract_to_award_office", payload("extract_to_award_office", facts=noted)))
    )

    assert "Socialnämnden godkänner att Ungdomsjouren deltar" in approved_text
    assert "Socialnämnden noterar anmälan och lägger den till handlingarna." in noted_text
    assert "11 juni 2024, § 12" in noted_text


def test_bare_paragraph_number_gets_its_section_sign():
    """A paragraph entered as "12" is shown as "§ 12"."""
    facts = {**FACTS, "board_decision": {**FACTS["board_decision"], "paragraph": "12"}}
    text = text_of(
        parse(render("board_decision_recorded", payload("board_decision_recorded", facts=facts)))
    )

    assert "11 juni 2024, § 12" in text
    assert "kvalitetsutmarkelsen@stockholm.se" in text


def test_privately_run_unit_is_not_told_about_a_board():
    """A privately run unit's receipt skips the board and the extract; a city-run one has both."""
    private = text_of(parse(render("notification_receipt", payload("x", privately_run=True))))
    city = text_of(parse(render("notification_receipt", payload("x", privately_run=False))))

    assert "Socialnämnden" not in private and "protokollsutdrag" not in private.lower()
    assert "Socialnämnden" in city and "protokollsutdraget" in city


def test_deadlines_in_the_payload_are_written_out():
    """When the payload carries the cycle's deadlines, the receipt names both dates."""
    context = payload(
        "x", contribution_deadline="2025-05-16", extract_deadline="2025-06-27", year=2025
    )
    text = " ".join(text_of(parse(render("notification_receipt", context))).split())

    assert "senast den 16 maj 2025" in text
    assert "senast den 27 juni 2025" in text


def test_missing_award_office_address_falls_back_to_the_reply_address():
    """A payload without the award office's address still tells the reader where to write."""
    context = payload("x", award_office_email=None)
    parsed = parse(render("notification_receipt", context))

    assert "kvalitetsutmarkelsen@stockholm.se" in text_of(parsed)
    assert "None" not in text_of(parsed)


def test_contribution_kept_ahead_of_the_board_says_so():
    """A contribution that arrived before the board stages is acknowledged as kept."""
    submitted = FACTS["submitted"]
    early = {k: v for k, v in FACTS.items() if k == "board_decision"}
    kept = payload("contribution_receipt", facts=early, pending={"submitted": submitted})
    kept_text = text_of(parse(render("contribution_receipt", kept)))
    normal_text = text_of(parse(render("contribution_receipt")))

    assert "vi sparar bidraget" in kept_text
    assert "vi sparar bidraget" not in normal_text
    assert "17 maj 2024" in normal_text
    # The board has decided here; only the extract is missing, and the text says just that.
    kept_flat = " ".join(kept_text.split())
    assert "innan protokollsutdraget med beslutet från Socialnämnden hade skickats" in kept_flat
    # its own paragraph, between the thanks and what happens next
    assert "\n\nBidraget kom in innan" in kept_text and "igen.\n\nHärnäst" in kept_text
    assert "nämndens beslut" not in kept_flat
    before_board = payload("contribution_receipt", facts={}, pending={"submitted": submitted})
    before_board_text = text_of(parse(render("contribution_receipt", before_board)))
    assert "innan nämndens beslut och protokollsutdraget var klara" in " ".join(
        before_board_text.split()
    )


def test_site_visit_date_comes_from_the_payload_or_the_examined_facts():
    """The visit date is the payload's own `site_visit_on`, else the examined stage's."""
    from_facts = parse(render("site_visit_notice"))
    from_payload = parse(
        render("site_visit_notice", payload("site_visit_notice", site_visit_on="2024-09-24"))
    )

    assert "10 september 2024" in from_facts["Subject"]
    assert "24 september 2024" in text_of(from_payload)
    flat = " ".join(text_of(from_payload).split())
    assert "intervjuar examinatorerna chef och medarbetare" in flat


def test_feedback_lists_strengths_and_development_areas():
    """Each line of the examiners' text becomes one point, in text and HTML."""
    parsed = parse(render("feedback_letter"))

    assert "- Engagerade medarbetare" in text_of(parsed)
    assert "<li>Engagerade medarbetare</li>" in html_of(parsed)
    assert "Utvecklingsområden" in text_of(parsed)
    assert "oavsett" in text_of(parsed)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (datetime(2024, 5, 3, 6, 0, tzinfo=UTC), "Nu är det 14 dagar kvar"),
        (datetime(2024, 5, 16, 6, 0, tzinfo=UTC), "I morgon, 17 maj 2024"),
        (datetime(2024, 5, 17, 6, 0, tzinfo=UTC), "I dag, 17 maj 2024, är sista dagen"),
    ],
)
def test_reminder_counts_days_left_from_the_day_it_is_dated(sent: datetime, expected: str):
    """Days left are counted in Stockholm from the message's date, down to "today"."""
    text = text_of(parse(render("reminder", date=sent)))

    assert expected in text


def test_reminder_for_the_extract_goes_to_the_coordinator_wording():
    """An extract reminder names the board, the unit and where the extract goes."""
    context = payload("reminder", deadline_kind="extract", deadline="2024-06-28", days_before=2)
    parsed = parse(render("reminder", context, date=datetime(2024, 6, 26, 6, 0, tzinfo=UTC)))

    assert "Nu är det 2 dagar kvar: protokollsutdraget från Socialnämnden" in text_of(parsed)
    assert parsed["Subject"].endswith("– senast den 28 juni 2024")


def test_the_coordinator_is_told_one_way_to_send_the_extract():
    """Uploading the extract forwards it to the award office, so no e-mail about the extract
    also asks the coordinator to mail it there (that gave the office two copies)."""
    extract = payload("reminder", deadline_kind="extract", deadline="2024-06-28", days_before=2)
    overdue = payload("overdue", deadline_kind="extract", deadline="2024-06-28")
    texts = [
        text_of(parse(render("board_decision_recorded"))),
        text_of(parse(render("reminder", extract, date=datetime(2024, 6, 26, 6, tzinfo=UTC)))),
        text_of(parse(render("overdue", overdue, date=datetime(2024, 7, 1, 6, tzinfo=UTC)))),
    ]
    for text in (" ".join(t.split()) for t in texts):
        assert "som PDF på sidan för deltagandet (länken nedan) och skicka det därifrån" in text
        assert "Systemet skickar då utdraget till Kvalitetsutmärkelsen" in text
        assert "ni behöver inte mejla det" in text
        assert "Skicka det till" not in text and "Skicka utdraget" not in text
        assert "när ni registrerar" not in text  # the old, circular instruction


def test_a_reply_to_the_forwarded_extract_reaches_the_coordinator():
    """The extract goes from the award office's system to the award office: a question about
    it must reach the organisation's coordinator, not come back to the office itself."""
    coordinator = "samordnare@stockholm.se"
    forwarded = parse(
        render("extract_to_award_office", payload("x", coordinator_email=coordinator))
    )
    assert forwarded["Reply-To"] == coordinator
    assert "går svaret till samordnare@stockholm.se, samordnaren för Socialförvaltningen" in (
        " ".join(text_of(forwarded).split())
    )
    # From the organisation, through the office's own address: not the office writing to itself
    assert forwarded["From"].addresses[0].display_name == (
        "Socialförvaltningen via Kvalitetsutmärkelsen"
    )
    text = " ".join(text_of(forwarded).split())
    assert "Kontaktperson: samordnaren för Socialförvaltningen, samordnare@stockholm.se" in text
    assert "Skickat via Kvalitetsutmärkelsens system på uppdrag av Socialförvaltningen" in text
    quoted = parse(render("extract_to_award_office", payload("x", organisation='A "B", C')))
    assert quoted["From"].addresses[0].display_name == 'A "B", C via Kvalitetsutmärkelsen'
    without = parse(render("extract_to_award_office"))  # no coordinator on record
    assert without["Reply-To"] == "kvalitetsutmarkelsen@stockholm.se"
    receipt = parse(render("notification_receipt", payload("x", coordinator_email=coordinator)))
    assert receipt["Reply-To"] == "kvalitetsutmarkelsen@stockholm.se"  # others: the office


def test_a_bolag_decides_in_its_styrelse_not_a_namnd():
    """Seed 002: the case goes to the "nämnd eller styrelse"; a city-owned company's board
    is its styrelse, and the e-mails say so."""
    bolag = {"organisation": "Stockholm Vatten och Avfall", "board": "Styrelsen för SVOA"}
    agenda = " ".join(
        text_of(
            parse(render("agenda_request", payload("x", organisation_kind="bolag", **bolag)))
        ).split()
    )
    receipt = " ".join(
        text_of(
            parse(render("notification_receipt", payload("x", organisation_kind="bolag", **bolag)))
        ).split()
    )
    assert "Styrelsen kan antingen godkänna" in agenda and "Nämnden kan" not in agenda
    assert "på föredragningslistan för" in agenda and "dagordning" not in agenda
    assert "styrelsens beslut" in receipt and "nämndens beslut" not in receipt
    forvaltning = " ".join(
        text_of(
            parse(render("agenda_request", payload("x", organisation_kind="forvaltning")))
        ).split()
    )
    assert "Nämnden kan antingen godkänna" in forvaltning


def test_overdue_and_escalation_name_the_missed_deadline():
    """After the deadline the unit is asked to send soon, and the coordinator is told."""
    overdue = text_of(parse(render("overdue", date=datetime(2024, 5, 20, 6, tzinfo=UTC))))
    escalation = parse(render("escalation", date=datetime(2024, 5, 22, 6, tzinfo=UTC)))

    assert "17 maj 2024" in overdue and "så snart som möjligt" in overdue
    text = " ".join(text_of(escalation).split())
    assert "Enhetens skriftliga bidrag skulle ha lämnats in senast den 17 maj 2024" in text
    assert "Vi ber er som samordnare att kontakta enhetens chef" in text


def test_an_extract_escalation_goes_up_and_says_what_is_missing():
    """Written to the escalation contact (not back to the coordinator): which unit and
    organisation, the entry's own date, the board's extract missing, what to do; to the award
    office it says why it came there."""
    extract = {"deadline_kind": "extract", "deadline": "2024-07-05"}
    built = parse(
        render(
            "escalation",
            to="registrator@socialforvaltningen.se",
            cc=["samordnare@x.se"],
            date=datetime(2024, 7, 10, 6, tzinfo=UTC),
            context=payload(
                "escalation",
                **extract,
                escalated_to="escalation_contact",
                coordinator_email="samordnare@x.se",
            ),
        )
    )
    text = " ".join(text_of(built).split())
    assert "Vi vänder oss till er som samordnare" not in text
    assert "Ungdomsjouren på Socialförvaltningen" in text
    assert "senast den 5 juli 2024" in text
    assert "protokollsutdrag som visar att Socialnämnden har behandlat ärendet" in text
    assert "föredragningslistan för Socialnämnden" in text
    assert "samordnare@x.se, har fått påminnelser från oss och får en kopia" in text
    assert built["Cc"] == "samordnare@x.se"
    assert "Kvalitetsutmärkelsens kansli" not in text

    to_office = payload("escalation", **extract, escalated_to="award_office")
    office_text = text_of(
        parse(render("escalation", date=datetime(2024, 7, 10, 6, tzinfo=UTC), context=to_office))
    )
    assert "Till Kvalitetsutmärkelsens kansli" in office_text


def test_missing_template_value_is_an_error_not_a_blank():
    """StrictUndefined: a payload without `unit` fails to render instead of leaving a gap."""
    context = payload("notification_receipt")
    del context["unit"]

    with pytest.raises(UndefinedError):
        render("notification_receipt", context)


def test_missing_stage_data_is_an_error():
    """A jury mail without the jury's outcome cannot be rendered."""
    facts = {k: v for k, v in FACTS.items() if k != "jury"}
    with pytest.raises(KeyError):
        render("jury_outcome", payload("jury_outcome", facts=facts))


def test_unknown_kind_is_refused():
    """Only registered kinds render."""
    with pytest.raises(ValueError, match="Okänd e-posttyp"):
        context_for("birthday_card", payload("birthday_card"))


def test_templates_folder_can_be_overridden(tmp_path: Path):
    """A caller may point at another template folder (e.g. a test or a preview)."""
    folder = tmp_path / "notification_receipt"
    folder.mkdir()
    (folder / "subject.txt").write_text("Hej {{ unit }}\n", encoding="utf-8")
    (folder / "body.txt").write_text("Text för {{ unit }}\n", encoding="utf-8")
    (folder / "body.html").write_text("<p>{{ unit }}</p>\n", encoding="utf-8")

    parsed = parse(render("notification_receipt", template_dir=tmp_path))

    assert parsed["Subject"] == "Hej Ungdomsjouren"
    assert text_of(parsed) == "Text för Ungdomsjouren\n"


def test_the_feedback_letter_links_the_report_and_says_it_is_attached():
    """The letter points to the feedback report on the entry's page and says it comes as a PDF."""
    text = text_of(parse(render("feedback_letter")))

    assert "Rapporten är bifogad som PDF" in " ".join(text.split())
    assert "/feedback-report.pdf" in text

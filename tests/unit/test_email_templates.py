"""Every e-mail template, in every stage it is sent in and for both kinds of organisation,
read the way its recipient reads it: polite Swedish with "ni", dates as the city writes them
("senast den 17 maj"), months only from the cycle's own dates, no English and no placeholder
left over, and always a way in (the entry's page) and who wrote it."""

from __future__ import annotations

import email.policy
import html
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from workflow.emails import EMAIL_KINDS, render_email
from workflow.settings import Settings

SETTINGS = Settings(
    mail_from="Kvalitetsutmärkelsen <kvalitetsutmarkelsen@stockholm.se>",
    mail_reply_to="kvalitetsutmarkelsen@stockholm.se",
    message_id_domain="kvalitet.stockholm.se",
    public_url="https://kvalitet.stockholm.se/",
    award_office_contact="Eva Ek",
)
# A cycle in unusual months: no letter may say "november" for it (winners on 15 December).
CYCLE = {
    "contribution_deadline": "2025-03-14",
    "extract_deadline": "2025-04-25",
    "winners_date": "2025-12-15",
}
SENT = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)
ENTRY_ID = 41
ENTRY_LINK = "https://kvalitet.stockholm.se/entries/41"

# What each stage records, in the order an entry reaches them (dates in the cycle's months).
FACTS: dict[str, dict[str, str]] = {
    "board_decision": {"decision": "approved", "meeting_date": "2025-04-08", "paragraph": "12"},
    "extract_sent": {"sent_on": "2025-04-10"},
    "submitted": {"submitted_on": "2025-03-12", "title": "Trygghet dygnet runt"},
    "examined": {"site_visit_on": "2025-03-25", "examiner": "Åsa Öberg"},
    "feedback": {"strengths": "- Tydlig styrning", "development_areas": "- Följ upp oftare"},
    "jury": {"outcome": "winner"},
}
ORDER = ("notified", *FACTS)
ORGANISATIONS = {
    "forvaltning": {"organisation": "Socialförvaltningen", "board": "Socialnämnden"},
    "bolag": {"organisation": "Stockholm Vatten och Avfall AB", "board": "Styrelsen för SVOA"},
}

# The English words a Swedish letter must never show (a variable's name, a Python value).
ENGLISH = (
    "the", "and", "deadline", "deadlines", "entry", "stage", "None", "True", "False", "null",
    "undefined", "unit", "board", "decision", "approved", "noted", "winner", "contribution",
    "extract", "payload", "of", "to", "is", "please", "your", "you",
)  # fmt: skip
MONTHS = (
    "januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
    "oktober", "november", "december",
)  # fmt: skip
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\{[a-zåäö_]+\}", re.IGNORECASE)
ENGLISH_WORD = re.compile(rf"\b({'|'.join(ENGLISH)})\b", re.IGNORECASE)
THOU = re.compile(r"\b(du|dig|din|ditt|dina)\b", re.IGNORECASE)
SENAST_WITHOUT_DEN = re.compile(r"\bsenast\s+(\d|<)", re.IGNORECASE)
URL_OR_ADDRESS = re.compile(r"https?://\S+|\S+@\S+")
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def facts_until(stage: str) -> dict[str, Any]:
    """The facts of every stage up to and including `stage` (an entry's history so far)."""
    reached = ORDER[: ORDER.index(stage) + 1] if stage in ORDER else ORDER
    return {name: FACTS[name] for name in reached if name in FACTS}


# kind → the stages it is sent in (a reminder is about the stage's missing piece).
STAGES: Mapping[str, tuple[str, ...]] = {
    "notification_receipt": ("notified",),
    "agenda_request": ("notified",),
    "board_decision_recorded": ("board_decision",),
    "extract_to_award_office": ("extract_sent",),
    "contribution_receipt": ("notified", "board_decision", "submitted"),
    "site_visit_notice": ("submitted",),
    "site_visit_cancelled": ("submitted",),  # the withdrawal of an entry with a visit booked
    "group_message": ("notified",),  # the office's own words to a group it picked
    "feedback_letter": ("feedback",),
    "jury_outcome": ("jury",),
    "withdrawal_confirmation": tuple(ORDER[:-1]),
    "reminder": ("notified", "board_decision", "extract_sent"),
    "overdue": ("notified", "board_decision", "extract_sent"),
    "escalation": ("notified", "board_decision", "extract_sent"),
    "deadline_extended": ("notified", "board_decision", "extract_sent"),
    "password_link": ("",),
    "ceremony_invitation": ("",),  # to an address, for every unit of the cycle it stands for
    "ceremony_moved": ("",),  # the same addresses, when the ceremony's day moved
}
# Letters to a person or an address rather than about one entry: no entry page to link to.
NOT_ABOUT_AN_ENTRY = frozenset({"password_link", "ceremony_invitation", "ceremony_moved"})


def variants(kind: str, stage: str) -> Iterator[dict[str, Any]]:
    """Each way `kind` reads differently in `stage` (which deadline, how many days left …)."""
    if kind in ("reminder", "overdue", "escalation", "deadline_extended"):
        kinds = ["contribution"] + (["extract"] if stage != "extract_sent" else [])
        for deadline_kind in kinds:
            deadline = CYCLE[f"{deadline_kind}_deadline"]
            if kind == "deadline_extended":
                yield {"deadline_kind": deadline_kind, "extended_until": "2025-04-30",
                       "previous_deadline": deadline}  # fmt: skip
                continue
            offsets = {"reminder": (7, 1, 0, -2), "overdue": (-1,), "escalation": (-3,)}[kind]
            for days in offsets:
                yield {"deadline_kind": deadline_kind, "deadline": deadline, "days_before": days}
    elif kind == "contribution_receipt" and stage != "submitted":
        yield {"pending": {"submitted": FACTS["submitted"]}}  # kept until the extract is in
    elif kind == "jury_outcome":
        for outcome in ("winner", "not_awarded"):
            yield {"facts": {**facts_until("jury"), "jury": {"outcome": outcome}}}
        motivated = {"outcome": "winner", "motivation": "Ett systematiskt förbättringsarbete."}
        yield {"facts": {**facts_until("jury"), "jury": motivated}}
    elif kind in ("board_decision_recorded", "extract_to_award_office"):
        for decision in ("approved", "noted"):
            decided = {**FACTS["board_decision"], "decision": decision}
            yield {"facts": {**facts_until(stage), "board_decision": decided}}
    elif kind == "notification_receipt":
        for privately_run in (None, False, True):
            yield {"privately_run": privately_run}
    elif kind in ("site_visit_notice", "site_visit_cancelled"):
        yield {"examiners": ["Åsa Öberg", "Bo Ek"], "site_visit_on": "2025-03-25",
               "starts_at": "09:00", "ends_at": "12:00"}  # fmt: skip
        yield {"site_visit_on": "2025-03-25"}  # an older notice: the examiner from the facts
    elif kind == "group_message":  # filled in when queued, from the office's own text
        for roles, entry_ids in ((["unit"], [ENTRY_ID]), (["coordinator"], [ENTRY_ID, 42])):
            yield {"group_id": "g1", "group_subject": "Om ert bidrag", "roles": roles,
                   "entry_ids": entry_ids, "group_text": "Hej!\n\nGlöm inte att skicka in bidraget:"
                   f"\n{ENTRY_LINK}\n\nHör av er om något är oklart."}  # fmt: skip
    elif kind == "password_link":
        for welcome in (True, False):
            yield {"name": "eva", "welcome": welcome, "link": "https://kvalitet.stockholm.se/p/x",
                   "expires_at": "2025-03-06T07:00:00+00:00"}  # fmt: skip
    elif kind in ("ceremony_invitation", "ceremony_moved"):
        place = "Stadshuset, Hantverkargatan 1, Stockholm"
        ceremony = {"ceremony_on": CYCLE["winners_date"], "starts_at": "15:00",
                    "ends_at": "17:00", "place": place}  # fmt: skip
        if kind == "ceremony_moved":
            ceremony.update(previous_on="2025-12-08", previous_starts_at="14:00",
                            previous_ends_at="16:00")  # fmt: skip
        yield {**ceremony, "units": ["Ungdomsjouren"], "coordinator_of": []}
        yield {**ceremony, "units": ["Ungdomsjouren", "Fältgruppen", "Mottagningen"],
               "coordinator_of": ["Socialförvaltningen"]}  # fmt: skip
        yield {**ceremony, "units": ["Ungdomsjouren"], "coordinator_of": ["Socialförvaltningen"]}
    else:
        yield {}


def cases() -> Iterator[Any]:
    for kind in sorted(EMAIL_KINDS):
        for stage in STAGES[kind]:
            for org_kind in ORGANISATIONS:
                for case_number in (None, "SLK 2025/123"):
                    for number, variant in enumerate(variants(kind, stage)):
                        label = f"{kind}-{stage or 'person'}-{org_kind}-{case_number and 'dnr'}"
                        yield pytest.param(kind, stage, org_kind, case_number, variant,
                                           id=f"{label}-{number}")  # fmt: skip


def payload(
    kind: str, stage: str, org_kind: str, case_number: str | None, variant: Mapping[str, Any]
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "stage": stage or "notified",
        "version": 3,
        "unit": "Ungdomsjouren",
        **ORGANISATIONS[org_kind],
        "organisation_kind": org_kind,
        "year": 2025,
        "award_class": "socialtjanst",
        "facts": facts_until(stage or "notified"),
        "pending": {},
        "award_office_email": "kvalitetsutmarkelsen@stockholm.se",
        "coordinator_email": "samordnare@stockholm.se",
        "privately_run": False,
        "case_number": case_number,
        "attachments": [],
        **CYCLE,
    }
    if kind not in NOT_ABOUT_AN_ENTRY:  # about a person or an address, not an entry
        base["entry_id"] = ENTRY_ID
    base.update(variant)
    return base


def read(message: EmailMessage) -> tuple[str, str, str]:
    """(subject, text, HTML as the words a reader sees) of the message as a client parses it."""
    parsed = BytesParser(policy=email.policy.default).parsebytes(message.as_bytes())
    assert isinstance(parsed, EmailMessage)
    text_part, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    text = str(text_part.get_content()).replace("\r\n", "\n")
    markup = str(html_part.get_content()).replace("\r\n", "\n")
    seen = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<head>.*?</head>", "", markup)))
    return str(parsed["Subject"]), text, seen + "\n" + markup


def allowed_months(data: Any) -> set[str]:
    """The months of every date the payload carries (the cycle's, the entry's facts)."""
    return {MONTHS[int(m.group(2)) - 1] for m in ISO_DATE.finditer(str(data))}


@pytest.mark.parametrize(("kind", "stage", "org_kind", "case_number", "variant"), list(cases()))
def test_every_letter_reads_as_the_city_writes(
    kind: str, stage: str, org_kind: str, case_number: str | None, variant: dict[str, Any]
) -> None:
    context = payload(kind, stage, org_kind, case_number, variant)
    message = render_email(
        kind,
        to="mottagare@stockholm.se",
        context=context,
        key=f"entry/{ENTRY_ID}/v3/{kind}",
        date=SENT,
        settings=SETTINGS,
    )
    subject, text, seen_html = read(message)
    for part, words in (("ämne", subject), ("text", text), ("html", seen_html)):
        assert not LEFTOVER.search(words), (part, LEFTOVER.search(words))
        prose = URL_OR_ADDRESS.sub(" ", words.split("\n<!DOCTYPE")[0])
        assert not ENGLISH_WORD.search(prose), (part, ENGLISH_WORD.search(prose))
        assert not THOU.search(prose), (part, THOU.search(prose))  # the letters say "ni"
        assert not SENAST_WITHOUT_DEN.search(prose), (part, SENAST_WITHOUT_DEN.search(prose))
        months = {m.lower() for m in re.findall(rf"\b({'|'.join(MONTHS)})\b", prose, re.I)}
        assert months <= allowed_months(context), (part, months - allowed_months(context))
    assert "november" not in (text + seen_html).lower()  # no payload date is in November

    if kind == "password_link":
        assert context["link"] in text and context["link"] in seen_html
    elif kind in ("ceremony_invitation", "ceremony_moved"):
        flat = " ".join(text.split())
        assert "den 15 december 2025 kl. 15.00–17.00" in flat, flat
        if kind == "ceremony_moved":
            assert "i stället för den 8 december 2025 kl. 14.00–16.00 som" in flat, flat
        assert "Stadshuset" in subject + flat and "Sidan för deltagandet" not in text
        assert all(unit in flat for unit in context["units"])
    else:  # the way in, from every letter about an entry
        assert f"Sidan för deltagandet: {ENTRY_LINK}" in text
        # … after a blank line, never run into the letter's last paragraph
        assert re.search(r"[.!]\n\n(Diarienummer|Sidan för deltagandet)", text), text
        assert f'href="{ENTRY_LINK}"' in seen_html
        if case_number:
            assert f"Diarienummer: {case_number}" in text and case_number in seen_html
            assert subject.endswith(f"[Dnr {case_number}]")
        else:
            assert "Diarienummer" not in text
    assert "Stadsledningskontoret, Stockholms stad" in text
    assert "Stadsledningskontoret, Stockholms stad" in seen_html
    if kind != "extract_to_award_office":  # that one is the organisation's, sent by the system
        assert "Med vänliga hälsningar\nKvalitetsutmärkelsen\nEva Ek\n" in text
        assert "kvalitetsutmarkelsen@stockholm.se" in text.split("Med vänliga hälsningar")[1]


def test_the_link_follows_the_settings_not_the_queued_payload() -> None:
    """A message queued before the service's address changed links to where it is now."""
    context = payload("withdrawal_confirmation", "notified", "forvaltning", None, {})
    context["entry_link"] = "http://127.0.0.1:8000/entries/41"  # as if frozen in an old row
    moved = SETTINGS.model_copy(update={"public_url": "https://ny.stockholm.se"})
    message = render_email(
        "withdrawal_confirmation",
        to="chef@stockholm.se",
        context=context,
        key="entry/41/v3/withdrawal_confirmation",
        date=SENT,
        settings=moved,
    )
    _, text, _ = read(message)
    assert "Sidan för deltagandet: https://ny.stockholm.se/entries/41" in text
    assert "127.0.0.1" not in text


def test_months_come_from_the_cycle() -> None:
    """A cycle naming its winners on 15 December says December, in each letter that says when."""
    for kind, stage, variant in (
        ("feedback_letter", "feedback", {}),
        ("notification_receipt", "notified", {}),
        ("jury_outcome", "jury", {}),
    ):
        context = payload(kind, stage, "forvaltning", None, variant)
        message = render_email(
            kind, to="c@stockholm.se", context=context, key=f"k/{kind}", date=SENT,
            settings=SETTINGS,
        )  # fmt: skip
        _, text, _ = read(message)
        flat = " ".join(text.split())
        expected = "i december" if kind == "jury_outcome" else "den 15 december 2025"
        assert expected in flat, (kind, flat)


def test_a_date_in_the_test_cycle_is_not_in_november() -> None:
    """The month check above means something only if nothing in the payload is in November."""
    months = allowed_months(payload("jury_outcome", "jury", "bolag", "X", {}))
    assert "november" not in months and "december" in months
    assert date.fromisoformat(CYCLE["winners_date"]).month == 12


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS - NOT_ABOUT_AN_ENTRY))
def test_a_row_queued_before_the_cycle_dates_were_in_the_payload_still_reads_right(
    kind: str,
) -> None:
    """An old row carries no winners' day nor deadlines: the letter names no month then,
    says where the dates are, and still links to the entry's page (added from the settings)."""
    stage = {"site_visit_notice": "submitted", "contribution_receipt": "submitted"}.get(
        kind, STAGES[kind][0]
    )
    variant = next(variants(kind, stage))
    context = payload(kind, stage, "forvaltning", None, variant)
    for name in CYCLE:
        context.pop(name)
    message = render_email(
        kind, to="c@stockholm.se", context=context, key=f"k/{kind}", date=SENT, settings=SETTINGS
    )
    _, text, seen_html = read(message)
    months = {m.lower() for m in re.findall(rf"\b({'|'.join(MONTHS)})\b", text, re.I)}
    assert months <= allowed_months(context), months
    assert f"Sidan för deltagandet: {ENTRY_LINK}" in text
    assert not LEFTOVER.search(text) and not LEFTOVER.search(seen_html)

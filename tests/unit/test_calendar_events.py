"""Calendar events without a database: every UID is one the feed looks for, a fingerprint
moves with what an attendee sees, the cancellation of a site visit as an e-mail
(method=CANCEL, a Swedish letter), and the feed's conditional GET."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

from starlette.requests import Request

from workflow import feeds
from workflow.calendar_events import fingerprint
from workflow.emails import render_email
from workflow.entrypoints.http.caching import not_modified, validators
from workflow.models import Cycle, Entry, Organisation, Unit
from workflow.outbox.rows import INVITATION, invitation_of
from workflow.settings import Settings

CANCEL = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"
REQUEST = CANCEL.replace("CANCEL", "REQUEST")
PAYLOAD: dict[str, Any] = {
    "entry_id": 41,
    "stage": "withdrawn",
    "version": 7,
    "unit": "Förskolan Åkerbäret",
    "organisation": "Södermalms stadsdelsförvaltning",
    "board": "Södermalms stadsdelsnämnd",
    "year": 2024,
    "award_class": "forskola",
    "facts": {"site_visit": {"site_visit_on": "2024-09-12"}},
    "pending": {},
    "award_office_email": "kvalitetsutmarkelsen@stockholm.se",
    "attachments": [],
    "site_visit_on": "2024-09-12",
    "starts_at": "09:00",
    "ends_at": "12:00",
    INVITATION: CANCEL,
}
NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


def test_the_cancellation_travels_as_method_cancel_with_a_swedish_letter() -> None:
    """The stored CANCEL goes out as text/calendar; method=CANCEL; the letter names the
    visit's day the Swedish way and says why it is off, with "ni"."""
    calendar = invitation_of(PAYLOAD)
    assert calendar is not None and calendar.method == "CANCEL"
    message = render_email(
        "site_visit_cancelled",
        to="chef@example.se",
        context=PAYLOAD,
        key="entry/41/v7/site_visit_cancelled",
        date=NOW,
        settings=Settings(),
        calendar=calendar,
    )
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    parts = {part.get_content_type(): part for part in parsed.walk()}
    assert parts["text/calendar"].get_param("method") == "CANCEL"
    text = " ".join(parts["text/plain"].get_content().split())  # lines are wrapped
    assert "den 12 september 2024 kl. 9.00–12.00 är inställt" in text
    assert "har återkallats" in text and "Ni behöver inte" in text
    assert "inställt" in str(parsed["Subject"])


def test_an_invitation_stays_a_request() -> None:
    calendar = invitation_of({INVITATION: REQUEST})
    assert calendar is not None and calendar.method == "REQUEST"
    assert invitation_of({}) is None


def request(**headers: str) -> Request:
    raw = [
        (name.lower().replace("_", "-").encode(), value.encode()) for name, value in headers.items()
    ]
    return Request({"type": "http", "method": "GET", "headers": raw})


def test_conditional_get_follows_rfc_9110() -> None:
    """If-None-Match decides when given (a weak or listed tag, or *); If-Modified-Since only
    without it, and only once the last change is a whole second old; an unreadable date is
    ignored."""
    etag, changed = '"abc"', NOW - timedelta(minutes=5)
    http_date = validators(etag, changed, NOW)["Last-Modified"]
    assert http_date == "Sun, 01 Sep 2024 07:55:00 GMT"
    assert not_modified(request(if_none_match='"x", W/"abc"'), etag, changed, NOW)
    assert not_modified(request(if_none_match="*"), etag, changed, NOW)
    assert not not_modified(
        request(if_none_match='"x"', if_modified_since=http_date), etag, changed, NOW
    )
    assert not_modified(request(if_modified_since=http_date), etag, changed, NOW)
    assert not not_modified(request(if_modified_since="i går"), etag, changed, NOW)
    just_now = NOW - timedelta(milliseconds=300)
    assert "Last-Modified" not in validators(etag, just_now, NOW)
    assert not not_modified(request(if_modified_since=http_date), etag, just_now, NOW)


def every_event() -> tuple[list[Any], Entry, Unit, Organisation, Cycle]:
    cycle = Cycle(
        id=1, year=2024, contribution_deadline=date(2024, 5, 17),
        extract_deadline=date(2024, 6, 28), winners_date=date(2024, 11, 26),
        award_office_email="kvalitetsutmarkelsen@stockholm.se", classes=["forskola"],
    )  # fmt: skip
    organisation = Organisation(
        id=3, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden"
    )
    unit = Unit(id=5, organisation_id=3, name="Ungdomsjouren", staff_count=12)  # type: ignore[call-arg]
    entry = Entry(
        id=41, unit_id=5, cycle_id=1, award_class="socialtjanst", stage="submitted", version=9,
        facts={
            "board_decision": {"decision": "approved", "meeting_date": "2024-06-10"},
            "site_visit": {"site_visit_on": "2024-09-12", "starts_at": "09:00", "ends_at": "12:00"},
        },
        pending={}, contribution_until=date(2024, 5, 31), extract_until=date(2024, 7, 5),
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    events = feeds.cycle_events(cycle) + feeds.entry_events(entry, unit, organisation, cycle)
    return events, entry, unit, organisation, cycle


def test_every_event_has_a_uid_the_feed_looks_for() -> None:
    """The feed reads what was recorded by the UIDs a cycle and an entry can have: every
    event's UID is among them, so none is compared with nothing."""
    events, *_ = every_event()
    uids = {str(event["UID"]) for event in events}
    assert len(uids) == len(events) == 8
    assert uids <= set(feeds.possible_uids([2024], [41]))


def test_fingerprint_moves_with_what_an_attendee_sees_only() -> None:
    """A new time or a cancellation changes the fingerprint; the description does not."""
    events, entry, unit, organisation, cycle = every_event()
    visit = events[-1]
    same = feeds.entry_events(entry, unit, organisation, cycle)[-1]
    same["DESCRIPTION"] = "Annan text."
    assert fingerprint(same) == fingerprint(visit)
    entry.facts = {**entry.facts, "site_visit": {"site_visit_on": "2024-09-19"}}
    assert fingerprint(feeds.entry_events(entry, unit, organisation, cycle)[-1]) != fingerprint(
        visit
    )
    entry.stage = "withdrawn"
    cancelled = feeds.entry_events(entry, unit, organisation, cycle)[-1]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert feeds.calendar_key(entry) != feeds.calendar_key(
        Entry(**{**entry.model_dump(), "stage": "submitted"})
    )

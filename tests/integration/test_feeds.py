"""Calendar feeds, the site-visit invitation and feed tokens, on SQLite and on PostgreSQL.

Every calendar is parsed back with icalendar and checked the way RFC 5545 asks: a VTIMEZONE
for each TZID used, UID/DTSTAMP/DTSTART in every event, lines folded at 75 octets with CRLF.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.parser import BytesParser

import pytest
from icalendar import Calendar, Event
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import NOW, attach_extract, seed_entry
from workflow import feeds, services
from workflow.auth import hash_token
from workflow.db import transaction
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import FEED_NOT_FOUND, InvalidInput, NotFound
from workflow.emails import CalendarPart, render_email
from workflow.models import Entry, FeedToken, Organisation, Unit
from workflow.queries import entries as queries
from workflow.settings import Settings

LATER = NOW + timedelta(days=1)
SUMMER_VISIT = date(2024, 9, 12)  # CEST, UTC+2
WINTER_VISIT = date(2024, 10, 30)  # CET, UTC+1: after the change on 27 October
SOCIAL = "Socialförvaltningen"
SODERMALM = "Södermalms stadsdelsförvaltning"


@dataclass(frozen=True)
class Scenario:
    city_run: int  # Ungdomsjouren (Socialförvaltningen): board meeting, booked site visit
    private: int  # Förskolan Åkerbäret (Södermalm): examined, site visit recorded then
    social_id: int
    sodermalm_id: int


def step(engine: Engine, entry_id: int, target: str, **data: str) -> Entry:
    if target == "extract_sent":
        attach_extract(engine, entry_id)
    with transaction(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        return services.advance_entry(
            session,
            entry_id=entry_id,
            target=target,
            version=entry.version,
            actor="handläggare",
            now=NOW,
            data=data,
        )


def book_visit(engine: Engine, entry_id: int, on: date) -> None:
    with transaction(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        services.schedule_site_visit(
            session, entry_id=entry_id, version=entry.version, on=on, actor="kansliet", now=NOW
        )


def scenario(engine: Engine) -> Scenario:
    city = seed_entry(engine)
    private = seed_entry(
        engine, name="Förskolan Åkerbäret", organisation=SODERMALM, privately_run=True
    )
    assert city.id is not None and private.id is not None
    step(
        engine,
        city.id,
        "board_decision",
        decision="approved",
        meeting_date="2024-06-10",
        paragraph="§ 12",
    )
    step(engine, city.id, "extract_sent", sent_on="2024-06-12")
    step(engine, city.id, "submitted", submitted_on="2024-05-17")
    book_visit(engine, city.id, SUMMER_VISIT)
    step(engine, private.id, "submitted", submitted_on="2024-05-16")
    step(engine, private.id, "examined", site_visit_on=WINTER_VISIT.isoformat())
    with transaction(engine) as session:
        orgs = {o.name: o.id for o in session.exec(select(Organisation)).all()}
    return Scenario(city.id, private.id, orgs[SOCIAL] or 0, orgs[SODERMALM] or 0)


def feed(engine: Engine, organisation_id: int | None, now: datetime = LATER) -> bytes:
    with transaction(engine) as session:
        return feeds.cycle_calendar(session, organisation_id=organisation_id, now=now)


def assert_valid(raw: bytes) -> Calendar:
    """Parse back, and check what RFC 5545 requires of what we produce."""
    text = raw.decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    for line in text.split("\r\n"):
        assert "\n" not in line and "\r" not in line
        assert len(line.encode("utf-8")) <= 75, line  # folded (RFC 5545 §3.1)
    calendar = Calendar.from_ical(raw)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    timezones = calendar.walk("VTIMEZONE")
    assert [str(tz["TZID"]) for tz in timezones] == ["Europe/Stockholm"]
    assert calendar.get_missing_tzids() == set()
    events = calendar.walk("VEVENT")
    assert events
    for event in events:
        for name in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            assert name in event, (name, event)
        assert event.decoded("DTSTAMP").utcoffset() == timedelta(0)  # DTSTAMP is UTC
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        if isinstance(start, datetime):
            assert event["DTSTART"].params["TZID"] == "Europe/Stockholm"
            assert event["DTEND"].params["TZID"] == "Europe/Stockholm"
            assert end > start
        else:
            assert event["DTSTART"].params.get("VALUE", "DATE") == "DATE"
            assert end == start + timedelta(days=1)  # one whole day, DTEND exclusive
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids))
    return calendar


def by_uid(calendar: Calendar) -> dict[str, Event]:
    return {str(e["UID"]): e for e in calendar.events}


def test_whole_city_feed_has_every_date_and_parses_back(engine: Engine) -> None:
    s = scenario(engine)
    events = by_uid(assert_valid(feed(engine, None)))
    domain = "kvalitet.stockholm.se"
    assert set(events) == {
        f"contribution-deadline-2024@{domain}",
        f"extract-deadline-2024@{domain}",
        f"winners-day-2024@{domain}",
        f"ceremony-2024@{domain}",
        f"board-meeting-{s.city_run}@{domain}",
        f"site-visit-{s.city_run}@{domain}",
        f"site-visit-{s.private}@{domain}",
    }
    assert events[f"contribution-deadline-2024@{domain}"].decoded("DTSTART") == date(2024, 5, 17)
    assert events[f"extract-deadline-2024@{domain}"].decoded("DTSTART") == date(2024, 6, 28)
    assert events[f"winners-day-2024@{domain}"].decoded("DTSTART") == date(2024, 11, 26)
    board = events[f"board-meeting-{s.city_run}@{domain}"]
    assert board.decoded("DTSTART") == date(2024, 6, 10)
    assert str(board["SUMMARY"]) == "Socialnämnden behandlar deltagandet – Ungdomsjouren"
    ceremony = events[f"ceremony-2024@{domain}"]
    assert "Stadshuset" in str(ceremony["LOCATION"])
    assert str(events[f"site-visit-{s.private}@{domain}"]["SUMMARY"]) == (
        "Platsbesök hos Förskolan Åkerbäret – Kvalitetsutmärkelsen"
    )
    assert str(events[f"site-visit-{s.private}@{domain}"]["LOCATION"]) == (
        f"Förskolan Åkerbäret, {SODERMALM}"
    )


def test_times_are_stockholm_time_in_summer_and_in_winter(engine: Engine) -> None:
    """09:00 in September is 07:00 UTC, in late October 08:00 UTC; the ceremony in November
    15:00 is 14:00 UTC — by zoneinfo and by the VTIMEZONE in the file itself."""
    s = scenario(engine)
    calendar = assert_valid(feed(engine, None))
    events = by_uid(calendar)
    # The zone as the file defines it (dateutil reads the VTIMEZONE), not looked up by TZID.
    vtimezone = calendar.timezones[0].to_tz(lookup_tzid=False)
    expected = {
        f"site-visit-{s.city_run}": datetime(2024, 9, 12, 7, 0, tzinfo=UTC),
        f"site-visit-{s.private}": datetime(2024, 10, 30, 8, 0, tzinfo=UTC),
        "ceremony-2024": datetime(2024, 11, 26, 14, 0, tzinfo=UTC),
    }
    for kind, utc_start in expected.items():
        event = events[f"{kind}@kvalitet.stockholm.se"]
        start = event.decoded("DTSTART")
        assert start.astimezone(UTC) == utc_start
        assert start.replace(tzinfo=vtimezone).astimezone(UTC) == utc_start
    visit = events[f"site-visit-{s.city_run}@kvalitet.stockholm.se"]
    assert (visit.decoded("DTSTART").time(), visit.decoded("DTEND").time()) == (
        time(9, 0),
        time(12, 0),
    )
    assert b"20240912T090000" in visit["DTSTART"].to_ical()


def create_2025(engine: Engine, **ceremony_hours: time) -> None:
    with transaction(engine) as session:
        services.create_cycle(
            session,
            year=2025,
            contribution_deadline=date(2025, 5, 16),
            extract_deadline=date(2025, 6, 27),
            winners_date=date(2025, 11, 25),
            **ceremony_hours,  # type: ignore[arg-type]
        )


def test_a_cycle_sets_its_ceremony_hours_and_they_must_make_sense(engine: Engine) -> None:
    """2025's ceremony is at 18:00–20:00; a ceremony ending before it starts is refused."""
    with pytest.raises(InvalidInput) as refused:
        create_2025(engine, ceremony_starts_at=time(18, 0), ceremony_ends_at=time(17, 0))
    assert [r.code for r in refused.value.reasons] == ["ceremony_hours"]
    create_2025(engine, ceremony_starts_at=time(18, 0))
    ceremony = by_uid(assert_valid(feed(engine, None)))["ceremony-2025@kvalitet.stockholm.se"]
    assert (ceremony.decoded("DTSTART").time(), ceremony.decoded("DTEND").time()) == (
        time(18, 0),
        time(20, 0),  # as long as the default ceremony
    )


def test_vtimezone_onsets_follow_rfc5545(engine: Engine) -> None:
    """An observance's DTSTART is local time in its TZOFFSETFROM (RFC 5545 §3.6.5): Stockholm
    goes to summer time at 01:00 UTC on 31 March 2024 and back at 01:00 UTC on 27 October."""
    scenario(engine)
    vtimezone = Calendar.from_ical(feed(engine, None)).walk("VTIMEZONE")[0]
    onsets = {}
    for observance in vtimezone.walk():
        if observance.name in ("STANDARD", "DAYLIGHT"):
            offset_from = observance.decoded("TZOFFSETFROM")
            local = observance.decoded("DTSTART")
            onsets[(observance.name, local.year, local.month)] = local - offset_from
    assert onsets[("DAYLIGHT", 2024, 3)] == datetime(2024, 3, 31, 1, 0)
    assert onsets[("STANDARD", 2024, 10)] == datetime(2024, 10, 27, 1, 0)


def test_vtimezone_agrees_with_zoneinfo_every_hour_of_the_year(engine: Engine) -> None:
    """Read by dateutil from the file, the zone gives zoneinfo's offset at every instant of
    2024, including the hours around both changes."""
    scenario(engine)
    from_file = Calendar.from_ical(feed(engine, None)).timezones[0].to_tz(lookup_tzid=False)
    instant = datetime(2024, 1, 1, tzinfo=UTC)
    while instant.year == 2024:
        for moment in (instant, instant + timedelta(minutes=59)):
            assert moment.astimezone(from_file).utcoffset() == (
                moment.astimezone(STOCKHOLM).utcoffset()
            ), moment
        instant += timedelta(hours=1)


def test_organisation_feed_has_only_its_own_entries(engine: Engine) -> None:
    s = scenario(engine)
    social = by_uid(assert_valid(feed(engine, s.social_id)))
    sodermalm = by_uid(assert_valid(feed(engine, s.sodermalm_id)))
    assert f"board-meeting-{s.city_run}@kvalitet.stockholm.se" in social
    assert f"site-visit-{s.city_run}@kvalitet.stockholm.se" in social
    assert not any(str(s.private) in uid for uid in social if uid.startswith("site-visit"))
    assert set(sodermalm) == {
        "contribution-deadline-2024@kvalitet.stockholm.se",
        "extract-deadline-2024@kvalitet.stockholm.se",
        "winners-day-2024@kvalitet.stockholm.se",
        "ceremony-2024@kvalitet.stockholm.se",
        f"site-visit-{s.private}@kvalitet.stockholm.se",
    }
    name = Calendar.from_ical(feed(engine, s.sodermalm_id))["X-WR-CALNAME"]
    assert str(name) == f"Kvalitetsutmärkelsen – {SODERMALM}"


def test_feed_asks_apps_to_refresh_hourly(engine: Engine) -> None:
    raw = feed(engine, None).decode()
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in raw
    assert "X-PUBLISHED-TTL:PT1H\r\n" in raw


def test_uids_are_stable_and_a_rebooked_visit_updates_the_same_event(engine: Engine) -> None:
    s = scenario(engine)
    before = by_uid(Calendar.from_ical(feed(engine, None, now=LATER)))
    # The visit took place a week later than booked: the examined fact wins.
    step(engine, s.city_run, "examined", site_visit_on="2024-09-19")
    after = by_uid(Calendar.from_ical(feed(engine, None, now=LATER + timedelta(hours=1))))
    assert set(before) == set(after)
    uid = f"site-visit-{s.city_run}@kvalitet.stockholm.se"
    assert after[uid].decoded("DTSTART").date() == date(2024, 9, 19)
    assert after[uid].decoded("SEQUENCE") == before[uid].decoded("SEQUENCE") + 1
    # Stamped when the visit moved (the change's time), not when the feed was fetched.
    assert after[uid].decoded("LAST-MODIFIED") == after[uid].decoded("DTSTAMP") == NOW


def test_withdrawn_entry_visit_is_cancelled(engine: Engine) -> None:
    s = scenario(engine)
    with transaction(engine) as session:
        entry = session.get(Entry, s.city_run)
        assert entry is not None
        services.withdraw_entry(
            session,
            entry_id=s.city_run,
            version=entry.version,
            actor="chef",
            now=NOW,
            note="Omorganisation",
        )
    visit = by_uid(Calendar.from_ical(feed(engine, None)))[
        f"site-visit-{s.city_run}@kvalitet.stockholm.se"
    ]
    assert str(visit["STATUS"]) == "CANCELLED"


def test_unknown_organisation_is_refused_like_a_wrong_token(engine: Engine) -> None:
    scenario(engine)
    with pytest.raises(NotFound) as unknown_org:
        feed(engine, 999_999)
    with transaction(engine) as session, pytest.raises(NotFound) as wrong_token:
        services.resolve_feed_token(session, "fel-token")
    assert unknown_org.value.reasons == wrong_token.value.reasons == (FEED_NOT_FOUND,)


def test_feed_without_any_cycle_is_still_a_valid_calendar(engine: Engine) -> None:
    raw = feed(engine, None)
    calendar = Calendar.from_ical(raw)
    assert calendar.walk("VEVENT") == []
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Stockholm"]


# --- the invitation --------------------------------------------------------------------------


def invitation(engine: Engine, entry_id: int, day: date) -> str:
    with transaction(engine) as session:
        return feeds.site_visit_invitation_for(session, entry_id, day, now=LATER)


def test_invitation_is_a_request_for_the_feeds_event(engine: Engine) -> None:
    s = scenario(engine)
    ics = invitation(engine, s.city_run, SUMMER_VISIT)
    calendar = assert_valid(ics.encode("utf-8"))
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    feed_event = by_uid(Calendar.from_ical(feed(engine, s.social_id)))[str(event["UID"])]
    assert str(event["UID"]) == f"site-visit-{s.city_run}@kvalitet.stockholm.se"
    assert event.decoded("DTSTART") == feed_event.decoded("DTSTART")
    assert str(event["ORGANIZER"]) == "mailto:kvalitetsutmarkelsen@stockholm.se"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:chef@example.se"
    assert attendee.params["RSVP"] == "TRUE"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["CN"] == "Ungdomsjouren"
    assert event.decoded("SEQUENCE") == feed_event.decoded("SEQUENCE")
    assert event.decoded("LAST-MODIFIED") == feed_event.decoded("LAST-MODIFIED")
    assert event.decoded("DTSTAMP") == LATER  # an iTIP message is stamped when it is made


def test_invitation_travels_in_the_site_visit_email(engine: Engine) -> None:
    """The notice renders with the invitation as text/calendar; method=REQUEST, which mail
    clients show as an invitation; the part parses back to the same event."""
    s = scenario(engine)
    ics = invitation(engine, s.city_run, SUMMER_VISIT)
    with transaction(engine) as session:
        view = queries.entry_view(session, s.city_run)
    settings = Settings(
        mail_from="Kvalitetsutmärkelsen <kvalitetsutmarkelsen@stockholm.se>",
        mail_reply_to="kvalitetsutmarkelsen@stockholm.se",
        message_id_domain="kvalitet.stockholm.se",
    )
    message = render_email(
        "site_visit_notice",
        to="chef@example.se",
        context={**view, "board": "Socialnämnden", "site_visit_on": SUMMER_VISIT.isoformat()},
        key=f"entry/{s.city_run}/site_visit_notice",
        date=LATER,
        settings=settings,
        calendar=CalendarPart(ics=ics),
    )
    parsed = BytesParser(policy=email.policy.default).parsebytes(message.as_bytes())
    parts = {p.get_content_type(): p for p in parsed.walk() if not p.is_multipart()}
    part = parts["text/calendar"]
    assert part.get_param("method") == "REQUEST"
    received = Calendar.from_ical(part.get_content())
    assert str(received["METHOD"]) == "REQUEST"
    assert str(received.walk("VEVENT")[0]["UID"]) == (
        f"site-visit-{s.city_run}@kvalitet.stockholm.se"
    )


def test_invitation_refuses_an_address_that_could_inject(engine: Engine) -> None:
    s = scenario(engine)
    with transaction(engine) as session:
        entry = session.get(Entry, s.city_run)
        unit = session.get(Unit, entry.unit_id if entry else 0)
        assert entry is not None and unit is not None
        organisation = session.get(Organisation, unit.organisation_id)
        assert organisation is not None
        for attendee in ("chef@example.se\r\nATTENDEE:mailto:x@evil.se", "inte en adress"):
            with pytest.raises(ValueError, match="deltagare"):
                feeds.site_visit_invitation(
                    entry,
                    unit,
                    organisation,
                    SUMMER_VISIT,
                    "kvalitetsutmarkelsen@stockholm.se",
                    attendee,
                )


def test_invitation_for_unknown_entry_is_not_found(engine: Engine) -> None:
    with transaction(engine) as session, pytest.raises(NotFound):
        feeds.site_visit_invitation_for(session, 404, SUMMER_VISIT)


# --- tokens ----------------------------------------------------------------------------------


def test_token_is_returned_once_and_stored_as_its_hash(engine: Engine) -> None:
    s = scenario(engine)
    with transaction(engine) as session:
        token = services.create_feed_token(
            session, organisation_id=s.social_id, created_by="kansliet", now=NOW
        )
    with transaction(engine) as session:
        stored = session.exec(select(FeedToken)).all()
        assert [t.token_hash for t in stored] == [hash_token(token)]
        assert token not in {t.token_hash for t in stored}
        resolved = services.resolve_feed_token(session, token)
        assert (resolved.organisation_id, resolved.created_by) == (s.social_id, "kansliet")


def test_wrong_and_revoked_tokens_are_refused_alike(engine: Engine) -> None:
    s = scenario(engine)
    with transaction(engine) as session:
        issued = services.issue_feed_token(
            session, organisation_id=None, created_by="kansliet", now=NOW
        )
        token_id = issued.feed_token.id
        assert token_id is not None
    with transaction(engine) as session:
        assert services.resolve_feed_token(session, issued.token).organisation_id is None
        revoked = services.revoke_feed_token(session, token_id, LATER)
        assert revoked.revoked_at == LATER
    with transaction(engine) as session:  # revoking again keeps the first time
        assert services.revoke_feed_token(
            session, token_id, LATER + timedelta(days=1)
        ).revoked_at == (LATER)
    refusals = []
    for token in (issued.token, issued.token[:-1], "", "x" * 10_000):
        with transaction(engine) as session, pytest.raises(NotFound) as refused:
            services.resolve_feed_token(session, token)
        refusals.append(refused.value.reasons)
    assert all(r == (FEED_NOT_FOUND,) for r in refusals)
    assert "finns inte" in FEED_NOT_FOUND.message  # Swedish, and says nothing more
    assert s.social_id  # the organisations exist; the refusal does not say so


def test_bad_token_requests_store_nothing(engine: Engine) -> None:
    scenario(engine)
    with transaction(engine) as session, pytest.raises(NotFound, match="Organisationen"):
        services.create_feed_token(session, organisation_id=999_999, created_by="x", now=NOW)
    with transaction(engine) as session, pytest.raises(NotFound, match="Kalenderlänken"):
        services.revoke_feed_token(session, 999_999, NOW)
    with transaction(engine) as session:
        assert session.exec(select(FeedToken)).all() == []

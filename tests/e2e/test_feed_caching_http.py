"""The calendar feed through a real server answers ETag and Last-Modified, and 304 to a calendar
app that already has it, until one of its events moves."""

from __future__ import annotations

import time

import httpx
from icalendar import Calendar

from tests.e2e.conftest import LiveServer
from tests.e2e.test_feeds_http import entry, setup

CONTRIBUTION = "contribution-deadline-2024@kvalitet.stockholm.se"


def sequence(body: bytes, uid: str) -> int:
    [event] = [e for e in Calendar.from_ical(body).walk("VEVENT") if str(e["UID"]) == uid]
    return int(event.decoded("SEQUENCE"))


def test_feed_is_not_sent_again_until_an_event_moves(server: LiveServer) -> None:
    """On both databases: the second fetch with the ETag or the Last-Modified date gets 304
    and no body; a case number filed changes nothing; the contribution deadline moved in the
    setup gives 200, a new ETag and that event's SEQUENCE one higher."""
    admin, social, _ = setup(server)
    created = entry(admin, social, "Förskolan Äppelträdet")
    url = admin.post("/api/v1/calendar-tokens", json={"organisation_id": social}).json()["url"]
    httpx.get(url, timeout=30)  # the first fetch publishes the events
    time.sleep(1.1)  # an HTTP date counts seconds: Last-Modified is given once a second passed

    first = httpx.get(url, timeout=30)
    assert first.status_code == 200, first.text
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = httpx.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    since = httpx.get(url, headers={"If-Modified-Since": modified}, timeout=30)
    assert since.status_code == 304

    filed = admin.put(
        f"/api/v1/entries/{created['id']}/case-number", json={"case_number": "SOF 2024/12"}
    )
    assert filed.status_code == 200, filed.text
    assert httpx.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304

    moved = admin.patch("/api/v1/cycles/2024", json={"contribution_deadline": "2024-05-24"})
    assert moved.status_code == 200, moved.text
    changed = httpx.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert sequence(changed.content, CONTRIBUTION) == sequence(first.content, CONTRIBUTION) + 1
    time.sleep(1.1)
    later = httpx.get(url, headers={"If-Modified-Since": modified}, timeout=30)
    assert later.status_code == 200
    assert later.headers["Last-Modified"] != modified

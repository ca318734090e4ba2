"""Webhooks to a real HTTP server on loopback that verifies signatures, via a real worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tests.conftest import NOW, attach_extract, seed_cycle, seed_unit
from tests.e2e.support import Worker, redis_url, wait_until, worker_env  # noqa: F401
from workflow import services
from workflow.db import make_engine, transaction, upgrade_schema
from workflow.domain.errors import Conflict, InvalidInput
from workflow.models import OutboxMessage, Webhook
from workflow.outbox.channels import sign, sign_standard
from workflow.outbox.transports import (
    HttpTransport,
    PermanentFailure,
    SignedRequest,
    TransientFailure,
)
from workflow.settings import Settings

SECRET = "en-lång-hemlighet-för-test"
# The receivers here listen on loopback, which webhooks may reach only when a setting allows.
LOOPBACK_ALLOWED = Settings(webhook_allowed_hosts="127.0.0.1")
TOLERANCE_SECONDS = 300  # what README tells a receiver to accept


def standard_signature_verifies(headers: Any, body: bytes) -> bool:
    """A receiver's check, as Standard Webhooks describes it: the HMAC of "id.timestamp.body"
    under the secret, and a timestamp within the tolerance window."""
    delivery_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest())
    offered = [part.removeprefix("v1,") for part in headers["webhook-signature"].split(" ")]
    fresh = abs(time.time() - int(timestamp)) <= TOLERANCE_SECONDS
    return fresh and any(hmac.compare_digest(expected.decode(), o) for o in offered)


class Receiver:
    """Accepts POSTs whose signature verifies; answers 500 to the first `fail_first`."""

    def __init__(self, fail_first: int = 0) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.hosts: list[str] = []
        self.bad_signatures = 0
        self.refused = 0
        self.fail_left = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    receiver.hosts.append(self.headers["Host"])
                    if not hmac.compare_digest(
                        expected, self.headers["X-Kvalitet-Signature"]
                    ) or not standard_signature_verifies(self.headers, body):
                        receiver.bad_signatures += 1
                        self.send_response(401)
                    elif receiver.fail_left > 0:
                        receiver.fail_left -= 1
                        receiver.refused += 1
                        self.send_response(500)
                    else:
                        event = json.loads(body)
                        assert event["delivery_id"] == self.headers["X-Kvalitet-Delivery"]
                        assert event["delivery_id"] == self.headers["webhook-id"]
                        receiver.accepted.append(event)
                        self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/kvalitet"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(fail_first=3)
    yield server
    server.stop()


def test_refused_webhook_urls_store_nothing(engine: Engine) -> None:
    """A non-http URL, one with spaces or line breaks, one pointing at the service itself (in
    any spelling), and a short secret are refused."""
    settings = Settings(public_url="http://127.0.0.1:8000")
    cases = [
        ("ftp://arendesystem.stockholm.se/in", SECRET, "invalid_url"),
        ("http://localhost:8000/api/v1/entries", SECRET, "points_at_itself"),
        # Every other spelling of this machine a resolver accepts.
        ("http://127.1:8000/x", SECRET, "points_at_itself"),
        ("http://0.0.0.0:8000/x", SECRET, "points_at_itself"),
        ("http://[::ffff:127.0.0.1]:8000/x", SECRET, "points_at_itself"),
        ("http://[::1]:8000/x", SECRET, "points_at_itself"),
        ("https://exa mple.se/x", SECRET, "invalid_url"),
        ("https://example.se/x\r\nHost: y", SECRET, "invalid_url"),
        ("https://arendesystem.stockholm.se/in", "kort", "weak_secret"),
    ]
    for url, secret, code in cases:
        with pytest.raises(InvalidInput) as refused, transaction(engine) as session:
            services.register_webhook(
                session, url=url, secret=secret, created_by="t", now=NOW, settings=settings
            )
        assert refused.value.reasons[0].code == code
    with transaction(engine) as session:
        assert session.exec(select(Webhook)).all() == []


def test_two_registrations_of_one_address_racing_leave_one_active(engine: Engine) -> None:
    """The second registration's check ran before the first committed, so only the database
    can refuse it: 409 webhook_exists, one active webhook, nothing else stored."""
    url = "https://diarium.stockholm.se/in"

    def the_other_registration_commits_first(session: Session, *_: Any) -> None:
        with transaction(engine) as other:
            services.register_webhook(
                other, url=url, secret=SECRET, created_by="b", now=NOW, settings=Settings()
            )

    with pytest.raises(Conflict) as refused, transaction(engine) as session:
        event.listen(session, "before_flush", the_other_registration_commits_first, once=True)
        services.register_webhook(
            session, url=url, secret=SECRET, created_by="a", now=NOW, settings=Settings()
        )
    assert refused.value.reasons[0].code == "webhook_exists"
    assert isinstance(refused.value.__cause__, IntegrityError)  # the index, not the check
    with transaction(engine) as session:
        stored = session.exec(select(Webhook)).all()
    assert [(w.created_by, w.active) for w in stored] == [("b", True)]


def test_every_transition_arrives_signed_once_despite_failures(
    sqlite_url: str, redis_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    """Each transition is POSTed with a valid HMAC; the receiver's first three 500s are
    retried with backoff, and every delivery id is accepted exactly once."""
    engine = make_engine(sqlite_url)
    upgrade_schema(engine)
    with transaction(engine) as session:
        services.register_webhook(
            session, url=receiver.url, secret=SECRET, created_by="t", now=NOW,
            settings=LOOPBACK_ALLOWED,
        )  # fmt: skip
    seed_cycle(engine)
    for number in range(4):
        unit_id = seed_unit(engine, name=f"Enhet {number}")
        with transaction(engine) as session:
            entry = services.create_entry(
                session, unit_id=unit_id, year=2024, award_class="skola", actor="t", now=NOW
            )
        data = {"decision": "approved", "meeting_date": "2024-06-10", "paragraph": "§ 1"}
        with transaction(engine) as session:
            services.advance_entry(
                session, entry_id=entry.id or 0, target="board_decision", version=1,
                actor="samordnare", now=NOW + timedelta(minutes=1), data=data,
            )  # fmt: skip
        attach_extract(engine, entry.id or 0)
        with transaction(engine) as session:
            services.advance_entry(
                session, entry_id=entry.id or 0, target="extract_sent", version=2,
                actor="samordnare", now=NOW + timedelta(minutes=2),
            )  # fmt: skip
    with transaction(engine) as session:
        expected = {
            m.payload["delivery_id"]
            for m in session.exec(select(OutboxMessage).where(OutboxMessage.channel == "webhook"))
        }
    assert len(expected) == 12  # 4 entries × (notified, board_decision, extract_sent)
    env = {
        **worker_env(sqlite_url, redis_url, 1, tmp_path),
        "MAIL_TRANSPORT": "eml",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        assert wait_until(
            lambda: {e["delivery_id"] for e in receiver.accepted} == expected, timeout=90
        ), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        worker.stop()
    counts = Counter(e["delivery_id"] for e in receiver.accepted)
    assert set(counts.values()) == {1}
    assert receiver.refused == 3
    assert receiver.bad_signatures == 0
    moves = {(e["from"], e["to"], e["actor"]) for e in receiver.accepted}
    assert ("notified", "board_decision", "samordnare") in moves
    with transaction(engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "webhook")).all()
    assert {m.status for m in rows} == {"sent"}
    assert sum(m.attempts for m in rows) >= 12 + 3
    engine.dispose()


def test_webhooks_are_registered_over_http_by_admins_only(sqlite_server: Any) -> None:
    """An admin registers a webhook (201); a bad URL is 422 with the reason, the same URL again
    409; a coordinator gets 403; nothing is stored by a refusal."""
    admin = sqlite_server.client(sqlite_server.user("kansliet", "admin"))
    refused = admin.post("/api/v1/webhooks", json={"url": "ftp://x.se/in", "secret": SECRET})
    assert refused.status_code == 422
    assert refused.json()["reasons"][0]["code"] == "invalid_url"
    huge = {"url": "https://diarium.stockholm.se/in", "secret": "x" * 2_000_000}
    too_large = admin.post("/api/v1/webhooks", json=huge)
    assert too_large.status_code == 413
    assert too_large.json()["reasons"][0]["code"] == "too_large"
    created = admin.post(
        "/api/v1/webhooks", json={"url": "https://diarium.stockholm.se/in", "secret": SECRET}
    )
    assert created.status_code == 201
    assert "secret" not in created.json()
    # The same address twice would get every event twice.
    again = admin.post(
        "/api/v1/webhooks", json={"url": "https://diarium.stockholm.se/in", "secret": SECRET}
    )
    assert again.status_code == 409
    assert again.json()["reasons"][0]["code"] == "webhook_exists"
    org = admin.post(
        "/api/v1/organisations",
        json={"name": "Bromma stadsdelsförvaltning", "board": "Bromma sdn", "kind": "forvaltning"},
    ).json()
    coordinator = sqlite_server.client(
        sqlite_server.user("samordnare", "coordinator", "--organisation", str(org["id"]))
    )
    assert coordinator.get("/api/v1/webhooks").status_code == 403
    assert [w["url"] for w in admin.get("/api/v1/webhooks").json()] == [
        "https://diarium.stockholm.se/in"
    ]
    # Unknown webhooks, also ids no database could hold, are 404 like unknown entries.
    for path in (f"/api/v1/webhooks/{2**70}", "/api/v1/webhooks/999999"):
        assert admin.delete(path).status_code == 404
    for path in (f"/api/v1/webhooks/{2**70}/deliveries", "/api/v1/webhooks/999999/deliveries"):
        gone = admin.get(path)
        assert gone.status_code == 404 and gone.json()["reasons"][0]["code"] == "not_found"
    nul_secret = admin.post("/api/v1/webhooks", json={"url": "https://x.se", "secret": "a\x00" * 9})
    assert nul_secret.status_code == 422
    assert len(admin.get("/api/v1/webhooks").json()) == 1
    # A deleted webhook no longer counts: its address may be registered again, and its
    # delivery log is gone with it (404, as for a webhook that never was).
    assert admin.get(f"/api/v1/webhooks/{created.json()['id']}/deliveries").status_code == 200
    assert admin.delete(f"/api/v1/webhooks/{created.json()['id']}").status_code == 204
    gone = admin.get(f"/api/v1/webhooks/{created.json()['id']}/deliveries")
    assert gone.status_code == 404 and gone.json()["reasons"][0]["code"] == "not_found"
    renewed = admin.post(
        "/api/v1/webhooks", json={"url": "https://diarium.stockholm.se/in", "secret": SECRET}
    )
    assert renewed.status_code == 201 and renewed.json()["id"] != created.json()["id"]


def test_webhooks_to_this_machine_private_nets_or_metadata_are_refused_unless_allowed(
    engine: Engine,
) -> None:
    """Registering an address no webhook may reach is refused with the reason; nothing is
    stored. A host the settings name is accepted. (Only registered, never sent to.)"""
    settings = Settings(public_url="https://kvalitet.stockholm.se")
    cases = [
        ("http://127.0.0.1:6379/", "private_address"),  # Redis, on this machine
        ("http://localhost:5432/", "private_address"),  # PostgreSQL
        ("http://[::1]:8080/hook", "private_address"),
        ("http://10.20.30.40/in", "private_address"),
        ("http://192.168.1.10/in", "private_address"),
        ("http://[fe80::1]/in", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "metadata_address"),
        ("http://[::ffff:169.254.169.254]/", "metadata_address"),
    ]
    for url, code in cases:
        with pytest.raises(InvalidInput) as refused, transaction(engine) as session:
            services.register_webhook(
                session, url=url, secret=SECRET, created_by="t", now=NOW, settings=settings
            )
        assert refused.value.reasons[0].code == code, url
    with transaction(engine) as session:
        assert session.exec(select(Webhook)).all() == []
    allowed = Settings(
        public_url="https://kvalitet.stockholm.se", webhook_allowed_hosts="localhost, ::1"
    )
    with transaction(engine) as session:
        for url in ("http://localhost:9100/in", "http://[::1]:9100/in"):
            services.register_webhook(
                session, url=url, secret=SECRET, created_by="t", now=NOW, settings=allowed
            )
    with transaction(engine) as session:
        assert len(session.exec(select(Webhook)).all()) == 2


def _request(url: str) -> SignedRequest:
    return SignedRequest(url=url, body=b"{}", headers={"Content-Type": "application/json"})


def test_a_name_resolving_to_an_internal_address_at_send_time_is_not_sent_to() -> None:
    """DNS rebinding: a name that passed at registration resolves to a metadata or private
    address when sent to. The transport refuses before connecting (a resolver stub stands in
    for DNS: no request leaves loopback). A resolver that fails is a transient failure."""
    answers = {
        "diarium.stockholm.se": ["169.254.169.254"],
        "intranat.stockholm.se": ["93.184.216.34", "10.1.2.3"],  # one bad answer is enough
        "v6.stockholm.se": ["fd12:3456::1"],
    }

    def stub(host: str, port: int) -> list[Any]:
        if host not in answers:
            raise OSError("Name or service not known")
        return [ipaddress.ip_address(a) for a in answers[host]]

    with HttpTransport(2, resolve=stub) as transport:
        for host in answers:
            with pytest.raises(PermanentFailure) as refused:
                transport.send(_request(f"https://{host}/in"))
            assert host in str(refused.value)
        with pytest.raises(TransientFailure):
            transport.send(_request("https://okand.stockholm.se/in"))


def test_the_request_goes_to_the_address_checked_with_the_name_as_host(
    receiver: Receiver,
) -> None:
    """The checked address is the one connected to (pinned), the name kept in Host: here a
    stub resolves a name to the loopback receiver, whose address the settings allow."""
    receiver.fail_left = 0
    port = int(receiver.url.split(":")[2].split("/")[0])
    checked: list[str] = []

    def stub(host: str, wanted_port: int) -> list[Any]:
        checked.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    body = json.dumps({"delivery_id": "d-1"}).encode()
    sent_at = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Kvalitet-Signature": sign(SECRET, body),
        "X-Kvalitet-Delivery": "d-1",
        "webhook-id": "d-1",
        "webhook-timestamp": str(sent_at),
        "webhook-signature": sign_standard(SECRET, "d-1", sent_at, body),
    }
    with HttpTransport(2, allowed_hosts=frozenset({"127.0.0.1"}), resolve=stub) as transport:
        transport.send(SignedRequest(f"http://diarium.test:{port}/in", body, headers))
    assert checked == ["diarium.test"]
    assert receiver.hosts == [f"diarium.test:{port}"]
    assert [e["delivery_id"] for e in receiver.accepted] == ["d-1"]


def test_an_old_captured_delivery_no_longer_verifies() -> None:
    """The standard signature covers the send time: replayed after the tolerance window, a
    delivery fails the receiver's check, and a changed timestamp breaks the signature."""
    body = b'{"delivery_id": "d-2"}'
    then = int(time.time()) - TOLERANCE_SECONDS - 60
    old = {
        "webhook-id": "d-2",
        "webhook-timestamp": str(then),
        "webhook-signature": sign_standard(SECRET, "d-2", then, body),
    }
    assert not standard_signature_verifies(old, body)
    moved = {**old, "webhook-timestamp": str(int(time.time()))}
    assert not standard_signature_verifies(moved, body)
    now = int(time.time())
    fresh = {**old, "webhook-timestamp": str(now)}
    fresh["webhook-signature"] = sign_standard(SECRET, "d-2", now, body)
    assert standard_signature_verifies(fresh, body)

"""Logging in, against a real database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_entry
from workflow import auth, services
from workflow.db import transaction
from workflow.domain.errors import TooManyAttempts, Unauthenticated, WorkflowError
from workflow.metrics import snapshot
from workflow.models import ExaminerAssignment, User, WebSession

NOW = datetime(2024, 4, 2, 9, 0, tzinfo=UTC)


def test_an_unknown_name_costs_the_same_password_check_as_a_known_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answering an unknown name at once would tell an attacker which names exist; both
    refusals run one argon2 verification and read the same."""
    with transaction(engine) as session:
        services.create_user(session, name="anna", role="admin", password="rätt-lösen-1", now=NOW)
    checked: list[str] = []
    matches = auth._password_matches

    def counting(hash_: str, password: str) -> bool:
        checked.append(hash_)
        return matches(hash_, password)

    monkeypatch.setattr(auth, "_password_matches", counting)
    refusals = []
    for name in ("anna", "okänd"):
        with transaction(engine) as session, pytest.raises(WorkflowError) as refused:
            auth.login(session, name=name, password="fel-lösen", now=NOW)
        refusals.append(str(refused.value))
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)
    assert checked[0] != checked[1]  # the unknown name was checked against a stand-in
    assert refusals[0] == refusals[1] == "Fel användarnamn eller lösenord."
    with transaction(engine) as session:
        actor, _ = auth.login(session, name="anna", password="rätt-lösen-1", now=NOW)
    assert actor.name == "anna"


def test_an_examiner_needs_an_organisation_so_conflicts_of_interest_can_be_ruled_out(
    engine: Engine,
) -> None:
    """Created without one: refused. One stored without (from before the rule) is not
    assigned to any entry, since nobody can tell whether it is their own administration's."""
    entry = seed_entry(engine)
    with transaction(engine) as session, pytest.raises(WorkflowError) as refused:
        services.create_user(session, name="eva", role="examiner", now=NOW)
    assert [r.code for r in refused.value.reasons] == ["missing_organisation"]
    with transaction(engine) as session:
        assert session.exec(select(User).where(User.name == "eva")).first() is None
        session.add(User(name="eva", role="examiner", token_hash="x" * 64, created_at=NOW))
    with transaction(engine) as session:
        eva = session.exec(select(User).where(User.name == "eva")).one()
        assert eva.id is not None and entry.id is not None
    with transaction(engine) as session, pytest.raises(WorkflowError) as refused:
        services.assign_examiner(
            session, entry_id=entry.id, examiner_id=eva.id, assigned_by="admin", now=NOW
        )
    assert [r.code for r in refused.value.reasons] == ["examiner_organisation_unknown"]
    with transaction(engine) as session:
        assert session.exec(select(ExaminerAssignment)).all() == []


def _attempt(engine: Engine, name: str, password: str, at: datetime, address: str) -> str:
    """'in', 'wrong' or 'wait' — what a person at `address` gets. The refusal is caught inside
    the transaction, as the login page does, so the failed attempt is kept."""
    with transaction(engine) as session:
        try:
            auth.login(session, name=name, password=password, now=at, address=address)
        except TooManyAttempts:
            return "wait"
        except Unauthenticated:
            return "wrong"
    return "in"


def test_guessing_from_many_addresses_slows_the_name_but_never_locks_its_owner_out(
    engine: Engine,
) -> None:
    """Wrong passwords for 'anna' from 30 addresses, one a second: after 20 they must wait
    too; her own login from another address waits at most 10 seconds, then succeeds; each
    refused attempt is counted."""
    with transaction(engine) as session:
        services.create_user(session, name="anna", role="admin", password="rätt-lösen-1", now=NOW)
    at = NOW
    outcomes = []
    for attacker in range(30):
        at += timedelta(seconds=1)
        outcomes.append(_attempt(engine, "anna", "gissning", at, f"198.51.100.{attacker}"))
    assert outcomes[:20] == ["wrong"] * 20
    assert "wait" in outcomes[20:]
    waited = outcomes.count("wait")
    own = "192.0.2.7"
    assert _attempt(engine, "anna", "rätt-lösen-1", at + timedelta(seconds=1), own) == "wait"
    assert _attempt(engine, "anna", "rätt-lösen-1", at + timedelta(seconds=11), own) == "in"
    with transaction(engine) as session:
        counted = snapshot(session, now=at + timedelta(seconds=12)).logins_throttled
    assert counted == waited + 1


def test_one_guess_each_against_many_names_from_one_address_is_slowed(engine: Engine) -> None:
    at = NOW
    outcomes = []
    for number in range(12):
        at += timedelta(milliseconds=100)
        outcomes.append(_attempt(engine, f"namn{number}", "gissning", at, "203.0.113.9"))
    assert outcomes[:10] == ["wrong"] * 10
    assert outcomes[10:] == ["wait", "wait"]  # an 11th name within a second must wait
    assert _attempt(engine, "namn99", "gissning", at, "203.0.113.10") == "wrong"  # not others


def test_the_session_cookie_is_stored_only_as_its_hash(engine: Engine) -> None:
    """A read of the sessions table logs nobody in: its ids are sha256 of the cookies."""
    with transaction(engine) as session:
        services.create_user(session, name="anna", role="admin", password="rätt-lösen-1", now=NOW)
    with transaction(engine) as session:
        _, secret = auth.login(session, name="anna", password="rätt-lösen-1", now=NOW)
    with transaction(engine) as session:
        (stored,) = session.exec(select(WebSession)).all()
        assert stored.id == hashlib.sha256(secret.encode()).hexdigest() != secret
        assert auth.session_actor(session, secret, now=NOW)[0].name == "anna"
        with pytest.raises(Unauthenticated):
            auth.session_actor(session, stored.id, now=NOW)

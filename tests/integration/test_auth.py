"""Logging in, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_entry
from workflow import auth, services
from workflow.db import transaction
from workflow.domain.errors import WorkflowError
from workflow.models import ExaminerAssignment, User

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

"""Logging in, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from workflow import auth
from workflow.db import transaction
from workflow.domain.errors import WorkflowError

NOW = datetime(2024, 4, 2, 9, 0, tzinfo=UTC)


def test_an_unknown_name_costs_the_same_password_check_as_a_known_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answering an unknown name at once would tell an attacker which names exist; both
    refusals run one argon2 verification and read the same."""
    with transaction(engine) as session:
        auth.create_user(session, name="anna", role="admin", password="rätt-lösen-1", now=NOW)
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

"""Who is acting: API tokens, passwords, web sessions, and which entries each actor may see.

Tokens are 256-bit random strings shown once and stored as sha256 (a fast hash is right for
high-entropy secrets); passwords are people's choices and are stored with argon2.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, Select, bindparam, delete, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from workflow.domain import throttle
from workflow.domain.access import (
    JURY_SEES,
    Actor,
    EntryScope,
    Role,
    can_see,
)
from workflow.domain.errors import Reason, TooManyAttempts, Unauthenticated, refusal
from workflow.domain.stages import Stage
from workflow.models import (
    Entry,
    ExaminerAssignment,
    JuryMember,
    LoginAttempt,
    Unit,
    User,
    WebSession,
)

SESSION_LIFETIME = timedelta(hours=8)
_hasher = PasswordHasher()
log = logging.getLogger(__name__)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def actor_of(user: User) -> Actor:
    return Actor(
        user_id=user.id or 0,
        name=user.name,
        role=Role(user.role),
        organisation_id=user.organisation_id,
        unit_id=user.unit_id,
    )


# Every API call runs these two reads: built once (building one costs more than running it).
_ACTOR_BY_TOKEN = sa_select(
    col(User.id), col(User.name), col(User.role), col(User.organisation_id), col(User.unit_id)
).where(col(User.token_hash) == bindparam("token_hash"), col(User.active).is_(True))
_SCOPE_OF_ENTRY = (
    sa_select(col(Entry.stage), col(Unit.id), col(Unit.organisation_id), col(Entry.cycle_id))
    .join(Unit, col(Unit.id) == Entry.unit_id)
    .where(col(Entry.id) == bindparam("entry_id"))
)
_ASSIGNED = sa_select(col(ExaminerAssignment.id)).where(
    col(ExaminerAssignment.entry_id) == bindparam("entry_id"),
    col(ExaminerAssignment.user_id) == bindparam("user_id"),
)
_ON_JURY = sa_select(col(JuryMember.id)).where(
    col(JuryMember.cycle_id) == bindparam("cycle_id"),
    col(JuryMember.user_id) == bindparam("user_id"),
)


def authenticate_token(session: Session, token: str) -> Actor:
    """The active user holding `token`. Runs on every API call, so it reads only the columns
    an Actor needs (no ORM entity to build)."""
    row = session.connection().execute(_ACTOR_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise refusal(Unauthenticated, "unauthenticated", "Ogiltig eller saknad token.")
    user_id, name, role, organisation_id, unit_id = cast(
        "tuple[int, str, str, int | None, int | None]", tuple(row)
    )
    return Actor(
        user_id=user_id,
        name=name,
        role=Role(role),
        organisation_id=organisation_id,
        unit_id=unit_id,
    )


def login(
    session: Session, *, name: str, password: str, now: datetime, address: str = ""
) -> tuple[Actor, str]:
    """Check the password (argon2) and open a web session; returns the actor and the session's
    secret for the cookie (only its sha256 is stored). Attempts that come too soon after
    failures, by name and by client `address`, are refused with how long to wait."""
    # Attempts older than the window no longer count for anything.
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.at) < now - 4 * throttle.WINDOW))
    wait = throttle.seconds_to_wait(
        now,
        by_name_and_address=_failures(session, now, name=name, address=address),
        by_address=_failures(session, now, address=address),
        by_name=_failures(session, now, name=name),
    )
    if wait > 0:
        session.add(LoginAttempt(name=name, address=address, throttled=True, at=now))
        log.warning(
            "login throttled for %.0f s", wait, extra={"login_name": name, "address": address}
        )
        raise TooManyAttempts(
            (
                Reason(
                    "too_many_attempts",
                    "För många misslyckade inloggningar. Vänta "
                    f"{_seconds_sv(math.ceil(wait))} och försök igen.",
                ),
            ),
            retry_after=math.ceil(wait),
        )
    user = session.exec(select(User).where(User.name == name, col(User.active).is_(True))).first()
    # An unknown name costs the same argon2 verification as a known one: the answer's timing
    # must not tell which names exist.
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    if not _password_matches(stored, password) or user is None or not user.password_hash:
        session.add(LoginAttempt(name=name, address=address, at=now))
        raise refusal(Unauthenticated, "bad_login", "Fel användarnamn eller lösenord.")
    session.exec(
        delete(LoginAttempt).where(  # the throttled ones stay: /metrics counts them
            col(LoginAttempt.name) == name,
            col(LoginAttempt.address) == address,
            col(LoginAttempt.throttled).is_(False),
        )
    )
    secret = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=hash_token(secret),
            user_id=user.id or 0,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return actor_of(user), secret


def _seconds_sv(seconds: int) -> str:
    if seconds >= 120:
        return f"{math.ceil(seconds / 60)} minuter"
    return "1 sekund" if seconds == 1 else f"{seconds} sekunder"


def _failures(
    session: Session, now: datetime, *, name: str | None = None, address: str | None = None
) -> throttle.Failures:
    query = select(func.count(), func.max(LoginAttempt.at)).where(
        col(LoginAttempt.at) > now - throttle.WINDOW, col(LoginAttempt.throttled).is_(False)
    )
    if name is not None:
        query = query.where(LoginAttempt.name == name)
    if address is not None:
        query = query.where(LoginAttempt.address == address)
    count, latest = session.exec(query).one()
    return throttle.Failures(int(count), latest)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_actor(session: Session, secret: str, *, now: datetime) -> tuple[Actor, WebSession]:
    """Who holds the session whose cookie is `secret`."""
    web_session = session.get(WebSession, hash_token(secret))
    if web_session is None or web_session.expires_at <= now:
        raise refusal(Unauthenticated, "unauthenticated", "Du är inte inloggad.")
    user = session.get(User, web_session.user_id)
    if user is None or not user.active:
        raise refusal(Unauthenticated, "unauthenticated", "Du är inte inloggad.")
    return actor_of(user), web_session


def logout(session: Session, secret: str) -> None:
    web_session = session.get(WebSession, hash_token(secret))
    if web_session is not None:
        session.delete(web_session)


def entry_scope(session: Session, entry: Entry) -> EntryScope:
    unit = session.get(Unit, entry.unit_id)
    assert unit is not None
    examiners = session.exec(
        select(ExaminerAssignment.user_id).where(ExaminerAssignment.entry_id == entry.id)
    ).all()
    jury = session.exec(select(JuryMember.user_id).where(JuryMember.cycle_id == entry.cycle_id))
    return EntryScope(
        organisation_id=unit.organisation_id,
        unit_id=unit.id or 0,
        stage=Stage(entry.stage),
        examiner_ids=frozenset(examiners),
        jury_ids=frozenset(jury.all()),
    )


def visible_entries(actor: Actor) -> ColumnElement[bool] | None:
    """The entries an actor may see as a condition on `entry`, or None for all (admin).

    The same rule as `visible_entry_ids`, left to the database: lists and counts over a
    national cycle filter and page there instead of carrying a set of ids around.
    """
    if actor.role == Role.ADMIN:
        return None
    entry_id = col(Entry.id)
    if actor.role == Role.COORDINATOR:
        units = sa_select(col(Unit.id)).where(col(Unit.organisation_id) == actor.organisation_id)
        return col(Entry.unit_id).in_(units)
    if actor.role == Role.UNIT_CONTACT:
        return col(Entry.unit_id) == actor.unit_id
    if actor.role == Role.EXAMINER:
        assigned = sa_select(col(ExaminerAssignment.entry_id)).where(
            col(ExaminerAssignment.user_id) == actor.user_id
        )
        return entry_id.in_(assigned)
    return col(Entry.stage).in_([s.value for s in JURY_SEES]) & col(Entry.cycle_id).in_(
        _jury_cycles(actor)
    )


def _jury_cycles(actor: Actor) -> Select[int]:
    """The cycles whose jury `actor` sits on, as a subquery."""
    return sa_select(col(JuryMember.cycle_id)).where(col(JuryMember.user_id) == actor.user_id)


def visible_entry_ids(session: Session, actor: Actor) -> set[int] | None:
    """The entries an actor may see, or None for all (admin). Cheap: one query per role."""
    if actor.role == Role.ADMIN:
        return None
    if actor.role == Role.COORDINATOR:
        query = (
            select(Entry.id)
            .join(Unit, col(Unit.id) == Entry.unit_id)
            .where(Unit.organisation_id == actor.organisation_id)
        )
    elif actor.role == Role.UNIT_CONTACT:
        query = select(Entry.id).where(Entry.unit_id == actor.unit_id)
    elif actor.role == Role.EXAMINER:
        query = select(ExaminerAssignment.entry_id).where(
            ExaminerAssignment.user_id == actor.user_id
        )
    else:
        query = select(Entry.id).where(
            col(Entry.stage).in_([s.value for s in JURY_SEES]),
            col(Entry.cycle_id).in_(_jury_cycles(actor)),
        )
    return {int(i) for i in session.exec(query).all() if i is not None}


def scope_for(session: Session, actor: Actor, entry_id: int) -> EntryScope | None:
    """What access rules need of an entry, for `actor`, in one small query (and one more for
    an examiner: is it assigned?); None when there is no such entry."""
    connection = session.connection()
    row = connection.execute(_SCOPE_OF_ENTRY, {"entry_id": entry_id}).first()
    if row is None:
        return None
    stage, unit_id, organisation_id, cycle_id = row
    examiner_ids: frozenset[int] = frozenset()
    jury_ids: frozenset[int] = frozenset()
    if actor.role == Role.EXAMINER:
        assigned = connection.execute(
            _ASSIGNED, {"entry_id": entry_id, "user_id": actor.user_id}
        ).first()
        examiner_ids = frozenset({actor.user_id}) if assigned is not None else frozenset()
    elif actor.role == Role.JURY:
        member = connection.execute(
            _ON_JURY, {"cycle_id": cycle_id, "user_id": actor.user_id}
        ).first()
        jury_ids = frozenset({actor.user_id}) if member is not None else frozenset()
    return EntryScope(
        organisation_id=organisation_id,
        unit_id=unit_id or 0,
        stage=Stage(stage),
        examiner_ids=examiner_ids,
        jury_ids=jury_ids,
    )


def can_see_entry(session: Session, actor: Actor, entry: Entry) -> bool:
    return can_see(actor, entry_scope(session, entry))

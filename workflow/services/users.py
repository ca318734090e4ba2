"""People and their access, from the web, the API and the CLI: create a user (who gets an
e-mail with a one-time link to choose a password), change role, organisation or unit,
deactivate, send a new link, and set the password from a link. Every change is audited.

A link is a 256-bit random token; only its sha256 is stored (`PasswordLink`), it expires after
`LINK_LIFETIME` and works once. The e-mail goes through the outbox like every other message:
its payload holds the link until it is sent, which is as long-lived as the link itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from workflow import db
from workflow.auth import hash_password, hash_token
from workflow.db import get_existing
from workflow.domain import rules
from workflow.domain.access import Actor, Role
from workflow.domain.errors import Forbidden, InvalidInput, NotFound, Reason, refusal
from workflow.models import Organisation, OutboxMessage, PasswordLink, Unit, User, WebSession
from workflow.services import registry
from workflow.services._audit import OPERATOR, changed_fields, record_audit
from workflow.settings import get_settings

LINK_LIFETIME = timedelta(hours=72)
MIN_PASSWORD_LENGTH = 10
PASSWORD_LINK_KIND = "password_link"  # noqa: S105 (an e-mail kind, not a secret)


@dataclass(frozen=True)
class CreatedUser:
    user: User
    token: str  # the API token, shown once (by the API and CLI; never on a page)
    link_sent: bool  # whether an e-mail with a password link was queued


def _admin_only(acting: Actor | None) -> None:
    if acting is not None and acting.role != Role.ADMIN:
        raise refusal(Forbidden, "forbidden", "Bara utmärkelsens kansli hanterar användare.")


def _email_reasons(email: str | None) -> list[Reason]:
    if email and not rules.is_email(email):
        return [Reason("invalid_email", f"'{email}' är ingen e-postadress.")]
    return []


def create_user_with_link(
    session: Session,
    *,
    name: str,
    role: str,
    now: datetime,
    acting: Actor | None = None,
    email: str | None = None,
    organisation_id: int | None = None,
    unit_id: int | None = None,
) -> CreatedUser:
    """Create a user; with an e-mail address, queue the one-time link to choose a password."""
    _admin_only(acting)
    email = (email or "").strip() or None
    reasons = _email_reasons(email)
    if reasons:
        raise InvalidInput(reasons)
    created = registry.create_user(
        session,
        name=name,
        role=role,
        now=now,
        organisation_id=organisation_id,
        unit_id=unit_id,
    )
    user = created.user
    user.email = email
    session.add(user)
    session.flush()
    record_audit(
        session,
        subject="user",
        subject_id=user.id or 0,
        action="created",
        actor=OPERATOR if acting is None else acting.name,
        at=now,
        changes=changed_fields({}, _audited(user)),
    )
    if email:
        _queue_link(session, user, now=now, welcome=True)
    return CreatedUser(user, created.token, link_sent=email is not None)


def _audited(user: User) -> dict[str, object]:
    return user.model_dump(
        include={"name", "role", "organisation_id", "unit_id", "email", "active"}
    )


def update_user(
    session: Session,
    *,
    user_id: int,
    now: datetime,
    acting: Actor | None = None,
    role: str | None = None,
    organisation_id: int | None = None,
    unit_id: int | None = None,
    email: str | None = None,
    clear: frozenset[str] = frozenset(),
    note: str | None = None,
) -> User:
    """Change a user's role, organisation, unit or e-mail (None: unchanged; a field named in
    `clear` is emptied). The role's needs are checked as at creation."""
    _admin_only(acting)
    user = get_existing(session, User, user_id, "Användaren")
    before = _audited(user)
    new_role = registry.parse_role(role or user.role)
    organisation = None if "organisation_id" in clear else organisation_id or user.organisation_id
    unit = None if "unit_id" in clear else unit_id or user.unit_id
    address = None if "email" in clear else (email or "").strip() or user.email
    if acting is not None and user.id == acting.user_id and new_role != Role.ADMIN:
        raise refusal(Forbidden, "own_role", "Du kan inte ta bort din egen administratörsroll.")
    reasons = registry.user_reasons(user.name, new_role, organisation, unit, None)
    reasons += _email_reasons(address)
    if reasons:
        raise InvalidInput(reasons)
    if organisation is not None:
        get_existing(session, Organisation, organisation, "Organisationen")
    if unit is not None:
        found = get_existing(session, Unit, unit, "Enheten")
        organisation = organisation or found.organisation_id
    after = {**before, "role": new_role.value, "organisation_id": organisation}
    after.update(unit_id=unit, email=address)
    changes = changed_fields(before, after)
    if not changes:
        return user
    user.role, user.organisation_id, user.unit_id, user.email = (
        new_role.value,
        organisation,
        unit,
        address,
    )
    session.add(user)
    session.flush()
    record_audit(
        session, subject="user", subject_id=user_id, action="corrected",
        actor=_name(acting), at=now, changes=changes, note=note or None,
    )  # fmt: skip
    return user


def _name(acting: Actor | None) -> str:
    return OPERATOR if acting is None else acting.name


def deactivate_user(
    session: Session, *, user_id: int, now: datetime, acting: Actor | None = None
) -> User:
    """Deactivate: no login, no API token, open sessions ended, unused links void."""
    _admin_only(acting)
    user = get_existing(session, User, user_id, "Användaren")
    if acting is not None and user.id == acting.user_id:
        raise refusal(Forbidden, "own_account", "Du kan inte inaktivera ditt eget konto.")
    if not user.active:
        return user
    user.active = False
    session.add(user)
    session.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))
    _void_links(session, user_id, now)
    record_audit(
        session, subject="user", subject_id=user_id, action="deactivated",
        actor=_name(acting), at=now, changes={"active": [True, False]},
    )  # fmt: skip
    return user


def issue_password_link(
    session: Session, *, user_id: int, now: datetime, acting: Actor | None = None
) -> User:
    """Reset: void the user's unused links and e-mail a new one (the old password keeps working
    until the new one is set)."""
    _admin_only(acting)
    user = get_existing(session, User, user_id, "Användaren")
    if not user.active:
        raise refusal(InvalidInput, "inactive_user", "Användaren är inaktiverad.")
    if not user.email:
        raise refusal(
            InvalidInput,
            "missing_email",
            "Användaren saknar e-postadress; ange en först, så kan länken skickas.",
        )
    _void_links(session, user_id, now)
    _queue_link(session, user, now=now, welcome=False)
    record_audit(
        session, subject="user", subject_id=user_id, action="password_reset",
        actor=_name(acting), at=now, changes={},
    )  # fmt: skip
    return user


def _void_links(session: Session, user_id: int, now: datetime) -> None:
    session.exec(
        update(PasswordLink)
        .where(col(PasswordLink.user_id) == user_id, col(PasswordLink.used_at).is_(None))
        .values(used_at=now)
    )


def _queue_link(session: Session, user: User, *, now: datetime, welcome: bool) -> None:
    token = secrets.token_urlsafe(32)
    link = PasswordLink(
        token_hash=hash_token(token),
        user_id=user.id or 0,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    settings = get_settings()
    payload = {
        "name": user.name,
        "welcome": welcome,
        "link": f"{settings.public_url.rstrip('/')}/password/{token}",
        "expires_at": link.expires_at.isoformat(),
        "award_office_email": rules.AWARD_OFFICE_EMAIL,
    }
    session.add(
        OutboxMessage(
            key=f"user/{user.id}/password-link/{link.id}",
            entry_id=None,
            kind=PASSWORD_LINK_KIND,
            recipient=user.email or "",
            payload=payload,
            due_at=now,
            created_at=now,
        )
    )
    session.flush()
    db.note_outbox_written(session)


def link_user(session: Session, token: str, *, now: datetime) -> User:
    """The active user a valid (unused, unexpired) link belongs to; NotFound otherwise, with
    one reason whatever was wrong, so the answer tells nothing about other links."""
    link = session.exec(
        select(PasswordLink).where(PasswordLink.token_hash == hash_token(token))
    ).first()
    user = session.get(User, link.user_id) if link is not None else None
    if link is None or link.used_at is not None or link.expires_at <= now or user is None:
        raise _link_refused()
    if not user.active:
        raise _link_refused()
    return user


def _link_refused() -> NotFound:
    return NotFound(
        (
            Reason(
                "password_link_invalid",
                "Länken är ogiltig, redan använd eller för gammal. Be kansliet om en ny länk.",
            ),
        )
    )


def set_password_from_link(session: Session, token: str, *, password: str, now: datetime) -> User:
    """Set the user's password (argon2) from a one-time link, and use the link up."""
    user = link_user(session, token, now=now)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise refusal(
            InvalidInput,
            "weak_password",
            f"Lösenordet måste ha minst {MIN_PASSWORD_LENGTH} tecken.",
        )
    user.password_hash = hash_password(password)
    session.add(user)
    _void_links(session, user.id or 0, now)
    record_audit(
        session, subject="user", subject_id=user.id or 0, action="password_set",
        actor=user.name, at=now, changes={},
    )  # fmt: skip
    return user

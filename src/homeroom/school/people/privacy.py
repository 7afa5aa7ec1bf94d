"""Data protection: who may export or erase a person, the export, and the erasure.

Design: docs/school.md#data-about-minors and docs/api.md#school-api.

- Who: an administrator whose scope covers *every* place the person belongs to (their school,
  and each school or académie of their role grants), or an operator. A parent linked to two
  schools is handled by an administrator of both (an académie's, or an operator): erasing them
  in one school's name would erase them from the other. A person with no place at all is an
  operator's. Anyone may export their own data (but not erase their own account here).
  Everyone else gets `NotFound`, as for a person who does not exist.
- Export: everything the model holds about the person, as JSON — never a password hash, a
  session id, a CSRF secret, an invitation token or a one-time code (only their hashes are
  stored, and those are left out too).
- Erasure: the `person` row is deleted and the database deletes what hangs on it (ON DELETE,
  docs/school.md "What a deletion takes with it"). The person's sign-in audit goes with them
  rather than being kept anonymised: a row with no person but a time, an address block and an
  outcome still says "someone on this school's network signed in at 8:02", which next to a
  class's timetable can point at one child; the audit's use is the security of accounts that
  exist, and the counts an operator watches live in the throttle and the metrics. Sessions are
  revoked in this process's cache first, so the erased person is signed out at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.errors import Forbidden, NotFound
from homeroom.school.auth.sessions import Sessions
from homeroom.school.data.access import Principal
from homeroom.school.data.models import (
    AuthSession,
    ChatMessage,
    ClassGroup,
    ClassSession,
    Enrolment,
    Guardianship,
    Invitation,
    OneTimeCode,
    Person,
    RoleGrant,
    School,
    SignInEvent,
    Teaching,
    TimetableEntry,
)

log = logging.getLogger("homeroom.school.privacy")


def person_not_found() -> NotFound:
    return NotFound("person_not_found", "Personne introuvable.", "No such person.")


@dataclass(frozen=True, slots=True)
class Holding:
    """Every place a person belongs to: what an administrator must cover to handle them."""

    person_id: int
    schools: frozenset[tuple[int, int]]  # (school id, its académie)
    academies: frozenset[int]  # académie-scoped grants
    national: bool  # a grant with no scope (an operator)

    def covered_by(self, principal: Principal) -> bool:
        if principal.operator:
            return True
        if self.national or not (self.schools or self.academies):
            return False
        return all(principal.administers_school(s, a) for s, a in self.schools) and all(
            principal.administers_academy(a) for a in self.academies
        )


async def holding(db: AsyncSession, person_id: int) -> Holding | None:
    """The places of a person, or None if there is no such person: two or three queries."""
    found = (await db.execute(select(Person.school_id).where(Person.id == person_id))).one_or_none()
    if found is None:
        return None
    school_id = found[0]
    grants = (
        await db.execute(
            select(RoleGrant.school_id, RoleGrant.academy_id, School.academy_id)
            .outerjoin(School, School.id == RoleGrant.school_id)
            .where(RoleGrant.person_id == person_id)
        )
    ).all()
    schools = {(s, a) for s, _, a in grants if s is not None}
    academies = {a for s, a, _ in grants if s is None and a is not None}
    national = any(s is None and a is None for s, a, _ in grants)
    if school_id is not None:
        academy = await db.scalar(select(School.academy_id).where(School.id == school_id))
        if academy is not None:
            schools.add((school_id, academy))
    return Holding(person_id, frozenset(schools), frozenset(academies), national)


async def check_may_export(db: AsyncSession, principal: Principal, person_id: int) -> None:
    if person_id == principal.person_id:
        if await db.get(Person, person_id) is None:
            raise person_not_found()
        return
    found = await holding(db, person_id)
    if found is None or not found.covered_by(principal):
        raise person_not_found()


async def check_may_erase(db: AsyncSession, principal: Principal, person_id: int) -> None:
    found = await holding(db, person_id)
    if found is None or not found.covered_by(principal):
        raise person_not_found()
    if person_id == principal.person_id:
        raise Forbidden(
            "erase_self",
            "On ne peut pas effacer son propre compte : demandez à un autre administrateur.",
            "You cannot erase your own account: ask another administrator.",
        )


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def _rows(db: AsyncSession, query: Any) -> list[Any]:
    return list((await db.execute(query)).all())


async def export(db: AsyncSession, person_id: int, now: dt.datetime) -> dict[str, Any]:
    """Everything the model holds about a person (who must exist), without any secret."""
    person = await db.get(Person, person_id)
    if person is None:
        raise person_not_found()
    parent = Person.__table__.alias("parent")
    child = Person.__table__.alias("child")
    grants = await _rows(
        db,
        select(RoleGrant.role, RoleGrant.academy_id, RoleGrant.school_id)
        .where(RoleGrant.person_id == person_id)
        .order_by(RoleGrant.id),
    )
    enrolments = await _rows(
        db,
        select(ClassGroup.id, ClassGroup.name, ClassGroup.school_id)
        .join(Enrolment, Enrolment.group_id == ClassGroup.id)
        .where(Enrolment.pupil_id == person_id)
        .order_by(ClassGroup.id),
    )
    teaching = await _rows(
        db,
        select(ClassGroup.id, ClassGroup.name, Teaching.subject)
        .join(Teaching, Teaching.group_id == ClassGroup.id)
        .where(Teaching.teacher_id == person_id)
        .order_by(ClassGroup.id, Teaching.subject),
    )
    children = await _rows(
        db,
        select(child.c.id, child.c.display_name)
        .join(Guardianship, Guardianship.child_id == child.c.id)
        .where(Guardianship.parent_id == person_id)
        .order_by(child.c.id),
    )
    parents = await _rows(
        db,
        select(parent.c.id, parent.c.display_name)
        .join(Guardianship, Guardianship.parent_id == parent.c.id)
        .where(Guardianship.child_id == person_id)
        .order_by(parent.c.id),
    )
    sessions = await _rows(
        db,
        select(AuthSession)
        .where(AuthSession.person_id == person_id)
        .order_by(AuthSession.created_at),
    )
    codes = await _rows(
        db,
        select(OneTimeCode.expires_at, OneTimeCode.used)
        .where(OneTimeCode.person_id == person_id)
        .order_by(OneTimeCode.id),
    )
    events = await _rows(
        db,
        select(SignInEvent.at, SignInEvent.address_block, SignInEvent.outcome)
        .where(SignInEvent.person_id == person_id)
        .order_by(SignInEvent.at, SignInEvent.id),
    )
    entries = await _rows(
        db,
        select(TimetableEntry)
        .where(TimetableEntry.teacher_id == person_id)
        .order_by(TimetableEntry.id),
    )
    taught = await _rows(
        db,
        select(ClassSession)
        .where(ClassSession.teacher_id == person_id)
        .order_by(ClassSession.starts_at, ClassSession.id),
    )
    invitations = await _rows(
        db,
        select(Invitation).where(Invitation.created_by == person_id).order_by(Invitation.id),
    )
    messages = await _rows(
        db,
        select(ChatMessage)
        .where(ChatMessage.person_id == person_id)
        .order_by(ChatMessage.sent_at, ChatMessage.id),
    )
    return {
        "exported_at": _iso(now),
        "person": {
            "id": person.id,
            "login": person.login,
            "display_name": person.display_name,
            "email": person.email,
            "has_password": person.password_hash is not None,
            "accommodation": person.accommodation,
            "disabled": person.disabled,
            "created_at": _iso(person.created_at),
            "external_id": person.external_id,
            "school_id": person.school_id,
        },
        "roles": [{"role": r.value, "academy_id": a, "school_id": s} for r, a, s in grants],
        "enrolments": [{"group_id": g, "group_name": n, "school_id": s} for g, n, s in enrolments],
        "teaching": [{"group_id": g, "group_name": n, "subject": s} for g, n, s in teaching],
        "children": [{"person_id": i, "display_name": n} for i, n in children],
        "parents": [{"person_id": i, "display_name": n} for i, n in parents],
        "auth_sessions": [
            {
                "created_at": _iso(s.created_at),
                "last_seen_at": _iso(s.last_seen_at),
                "absolute_until": _iso(s.absolute_until),
                "idle_s": s.idle_s,
                "revoked": s.revoked,
            }
            for (s,) in sessions
        ],
        "one_time_codes": [{"expires_at": _iso(e), "used": u} for e, u in codes],
        "sign_in_events": [
            {"at": _iso(at), "address_block": block, "outcome": outcome.value}
            for at, block, outcome in events
        ],
        "timetable_entries": [
            {
                "id": e.id,
                "group_id": e.group_id,
                "title": e.title,
                "weekday": e.weekday,
                "local_start": e.local_start.isoformat(),
                "minutes": e.minutes,
                "first_day": e.first_day.isoformat(),
                "last_day": e.last_day.isoformat(),
            }
            for (e,) in entries
        ],
        "class_sessions": [
            {
                "id": s.id,
                "group_id": s.group_id,
                "title": s.title,
                "starts_at": _iso(s.starts_at),
                "ends_at": _iso(s.ends_at),
            }
            for (s,) in taught
        ],
        "invitations_created": [
            {
                "id": i.id,
                "role": i.role.value,
                "school_id": i.school_id,
                "group_id": i.group_id,
                "expires_at": _iso(i.expires_at),
                "max_uses": i.max_uses,
                "uses": i.uses,
                "revoked": i.revoked,
            }
            for (i,) in invitations
        ],
        "chat_messages": [
            {
                "session_id": m.session_id,
                "sent_at": _iso(m.sent_at),
                "audience": m.audience.value,
                "text": m.text,
            }
            for (m,) in messages
        ],
    }


async def erase(db: AsyncSession, sessions: Sessions, person_id: int, by: int) -> None:
    """Delete the person and what cascades from them; the caller commits."""
    await sessions.revoke_person(db, person_id)  # out of this process's cache at once
    await db.execute(
        delete(Person).where(Person.id == person_id).execution_options(synchronize_session=False)
    )
    log.info("person %d erased by person %d", person_id, by)  # ids only: no names in logs

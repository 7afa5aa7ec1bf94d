"""The ways into a school: class codes, invitations, sign-up, one-time code sheets.

Each function works on the caller's AsyncSession and leaves the commit to the caller (as
`auth/sessions.py` does), so that a refused step leaves nothing behind. Rights come from a
`Principal`: a caller who may not see a group, school or invitation gets `NotFound`, so ids
cannot be probed; one who sees it but may not change it (a pupil of the class) gets `Forbidden`.
Design and the reasons for each choice: docs/school.md#getting-people-in.

Passwords are hashed by a `Hasher` the caller passes (`passwords.hash_password` in the app, a
cheap one in tests) and checked by a `PasswordCheck`, `passwords.check_new_password` unless told.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar, cast

from sqlalchemy import CursorResult, delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from homeroom.errors import BadRequest, Forbidden, Gone, HomeroomError, NotFound
from homeroom.school.auth.passwords import MIN_LENGTH, check_new_password
from homeroom.school.auth.sessions import Sessions
from homeroom.school.auth.throttle import normalise_login
from homeroom.school.data.access import Place, Principal
from homeroom.school.data.models import (
    ClassGroup,
    Enrolment,
    Guardianship,
    Invitation,
    OneTimeCode,
    Person,
    Role,
    RoleGrant,
    School,
)
from homeroom.school.data.queries import place_of
from homeroom.school.people.roster import MAX_LOGIN, clean, make_login

# Crockford's base 32 without 0 and 1: no 0/O, 1/I/L or U to confuse, read aloud or handwritten.
ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH: Final = 8  # 30**8 ≈ 6.6e11: see the docs for what it means against guessing
INVITATION_TTL: Final = dt.timedelta(days=14)
MAX_INVITATION_TTL: Final = dt.timedelta(days=90)
MAX_INVITATION_USES: Final = 1000
CODE_TTL: Final = dt.timedelta(days=7)
MAX_CODE_TTL: Final = dt.timedelta(days=30)
MAX_DISPLAY_NAME: Final = 120
_TOKEN_MAX: Final = 120  # a parent token is "<child id>.<43 characters>"
_ATTEMPTS: Final = 5  # a new random code or login after a unique-constraint collision
_SEPARATORS = re.compile(r"[\s\-_.·]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EMAIL = re.compile(r"[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+")

# reason: (French, English)
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "group_not_found": ("classe introuvable", "class not found"),
    "school_not_found": ("établissement introuvable", "school not found"),
    "pupil_not_found": ("élève introuvable dans cette classe", "pupil not found in this class"),
    "not_group_manager": (
        "seuls les enseignants de la classe et les administrateurs peuvent faire cela",
        "only the class's teachers and administrators can do this",
    ),
    "not_school_admin": (
        "seul un administrateur de l'établissement peut inviter un enseignant",
        "only a school administrator can invite a teacher",
    ),
    "role_not_invitable": (
        "on ne peut inviter que des élèves, des parents ou des enseignants",
        "only pupils, parents and teachers can be invited",
    ),
    "group_required": ("indiquez la classe", "give the class"),
    "child_required": ("indiquez l'enfant", "give the child"),
    "teacher_invitation_group": (
        "une invitation d'enseignant vaut pour l'établissement, pas pour une classe",
        "a teacher invitation is for the school, not for a class",
    ),
    "bad_max_uses": (
        "nombre d'utilisations : entre 1 et {limit}",
        "number of uses: between 1 and {limit}",
    ),
    "bad_ttl": (
        "durée de validité : entre une minute et {limit} jours",
        "validity: between one minute and {limit} days",
    ),
    "unknown_code": ("code de classe inconnu", "unknown class code"),
    "unknown_invitation": ("invitation inconnue", "unknown invitation"),
    "invitation_expired": ("cette invitation a expiré", "this invitation has expired"),
    "invitation_revoked": ("cette invitation a été annulée", "this invitation was revoked"),
    "invitation_used_up": (
        "cette invitation a déjà servi autant de fois que prévu",
        "this invitation has been used as many times as allowed",
    ),
    "child_left_class": (
        "l'enfant n'est plus dans cette classe : demandez une nouvelle invitation",
        "the child is no longer in this class: ask for a new invitation",
    ),
    "bad_display_name": (
        "nom affiché : de 1 à {limit} caractères, sans caractère de contrôle",
        "display name: 1 to {limit} characters, no control characters",
    ),
    "bad_email": ("adresse e-mail invalide", "invalid e-mail address"),
    "weak_password": ("mot de passe refusé : {value}", "password refused: {value}"),
    "bad_code": (
        "identifiant ou code incorrect",
        "wrong login or code",
    ),
    "code_used": ("ce code a déjà servi", "this code has already been used"),
    "code_expired": (
        "ce code a expiré : demandez-en un nouveau",
        "this code has expired: ask for a new one",
    ),
}

# the reason words of passwords.check_new_password, for people
PASSWORD_PROBLEMS: Final[dict[str, tuple[str, str]]] = {
    "too_short": (f"au moins {MIN_LENGTH} caractères", f"at least {MIN_LENGTH} characters"),
    "too_long": ("trop long", "too long"),
    "invalid": ("caractères non valides", "invalid characters"),
    "same_as_login": ("pas l'identifiant lui-même", "not the login itself"),
    "one_character": ("pas un seul caractère répété", "not one character repeated"),
}


class Hasher(Protocol):
    """Turns a password into what `person.password_hash` stores. Called on a worker thread."""

    def __call__(self, password: str, /) -> str: ...


class PasswordCheck(Protocol):
    """The problems of a new password for this login (empty: accepted)."""

    def __call__(self, password: str, login: str, /) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class SignedUp:
    person_id: int
    login: str  # generated: shown to the person once, on the page that follows the sign-up
    role: Role
    school_id: int


@dataclass(frozen=True, slots=True)
class CodeRow:
    """One line of a printed code sheet."""

    display_name: str
    login: str
    code: str  # XXXX-XXXX


E = TypeVar("E", bound=HomeroomError)


def _error(kind: type[E], reason: str, **values: object) -> E:
    french, english = MESSAGES[reason]
    return kind(reason, french.format(**values), english.format(**values))


# ---------------------------------------------------------------- codes


def normalise_code(text: str) -> str:
    """What a person typed, as stored: upper case, without spaces, dashes or dots."""
    return _SEPARATORS.sub("", text).upper()


def shown(code: str) -> str:
    """A code as printed and read aloud: `ABCD-EFGH`."""
    return f"{code[:4]}-{code[4:]}"


def _is_code(normalised: str) -> bool:
    return len(normalised) == CODE_LENGTH and all(c in ALPHABET for c in normalised)


def _random_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


async def _managed_place(db: AsyncSession, principal: Principal, group_id: int) -> Place:
    place = await place_of(db, group_id)
    if place is None or not principal.sees_group(place):
        raise _error(NotFound, "group_not_found")
    if not principal.manages_group(place):
        raise _error(Forbidden, "not_group_manager")
    return place


async def make_class_code(db: AsyncSession, principal: Principal, group_id: int) -> str:
    """A new class code for the group, replacing the old one; returned as `ABCD-EFGH`."""
    await _managed_place(db, principal, group_id)
    for _ in range(_ATTEMPTS):
        code = _random_code()
        try:
            async with db.begin_nested():  # a collision undoes this attempt only
                await db.execute(
                    update(ClassGroup)
                    .where(ClassGroup.id == group_id)
                    .values(join_code=code, join_code_active=True)
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:
            continue
        return shown(code)
    raise RuntimeError("no free class code: is the random generator broken?")


async def revoke_class_code(db: AsyncSession, principal: Principal, group_id: int) -> None:
    """The group's code stops working at once; a new one can be made later."""
    await _managed_place(db, principal, group_id)
    await db.execute(
        update(ClassGroup)
        .where(ClassGroup.id == group_id)
        .values(join_code=None, join_code_active=False)
        .execution_options(synchronize_session=False)
    )


async def group_for_code(db: AsyncSession, code: str) -> ClassGroup | None:
    """The group whose active code this is, whatever the case, spaces or dashes typed."""
    normalised = normalise_code(code)
    if not _is_code(normalised):
        return None
    group: ClassGroup | None = await db.scalar(
        select(ClassGroup).where(ClassGroup.join_code == normalised, ClassGroup.join_code_active)
    )
    return group


# ---------------------------------------------------------------- invitations


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _school_place(db: AsyncSession, principal: Principal, school_id: int) -> int:
    """The académie of a school the caller belongs to (NotFound otherwise)."""
    academy_id = await db.scalar(select(School.academy_id).where(School.id == school_id))
    belongs = any(s.school_id == school_id for s in principal.scopes)
    if academy_id is None or not (belongs or principal.administers_school(school_id, academy_id)):
        raise _error(NotFound, "school_not_found")
    return academy_id


async def _check_invite_rights(
    db: AsyncSession,
    principal: Principal,
    role: Role,
    school_id: int,
    group_id: int | None,
    child_id: int | None,
) -> None:
    if role is Role.TEACHER:
        academy_id = await _school_place(db, principal, school_id)
        if not principal.administers_school(school_id, academy_id):
            raise _error(Forbidden, "not_school_admin")
        if group_id is not None:
            raise _error(BadRequest, "teacher_invitation_group")
        return
    if role not in (Role.PUPIL, Role.PARENT):
        raise _error(BadRequest, "role_not_invitable")
    if group_id is None:
        raise _error(BadRequest, "group_required")
    place = await _managed_place(db, principal, group_id)
    if place.school_id != school_id:
        raise _error(NotFound, "group_not_found")
    if role is Role.PARENT:
        if child_id is None:
            raise _error(BadRequest, "child_required")
        if not await _enrolled(db, child_id, group_id):
            raise _error(NotFound, "pupil_not_found")


def _check_limits(max_uses: int, ttl: dt.timedelta, longest: dt.timedelta) -> None:
    if not 1 <= max_uses <= MAX_INVITATION_USES:
        raise _error(BadRequest, "bad_max_uses", limit=MAX_INVITATION_USES)
    if not dt.timedelta(minutes=1) <= ttl <= longest:
        raise _error(BadRequest, "bad_ttl", limit=longest.days)


async def invite(
    db: AsyncSession,
    principal: Principal,
    role: Role,
    school_id: int,
    group_id: int | None = None,
    *,
    child_id: int | None = None,
    max_uses: int = 1,
    ttl: dt.timedelta = INVITATION_TTL,
    now: dt.datetime,
) -> str:
    """A new invitation; returns its token, the only time it exists in clear.

    Pupils and parents are invited to a group by its teachers or the school's administrators; a
    parent invitation is for one child of that group (`child_id`). Teachers are invited to the
    school by its administrators (of the school or the académie) or an operator.
    """
    await _check_invite_rights(db, principal, role, school_id, group_id, child_id)
    _check_limits(max_uses, ttl, MAX_INVITATION_TTL)
    token = secrets.token_urlsafe(32)
    db.add(
        Invitation(
            token_hash=token_hash(token),
            role=role,
            school_id=school_id,
            group_id=group_id,
            created_by=principal.person_id,
            child_id=child_id if role is Role.PARENT else None,
            expires_at=now + ttl,
            max_uses=max_uses,
            uses=0,
            revoked=False,
        )
    )
    await db.flush()
    return token


async def revoke_invitation(db: AsyncSession, principal: Principal, invitation_id: int) -> None:
    """Its author, the group's teachers or the school's administrators may revoke it."""
    invitation = await db.get(Invitation, invitation_id)
    if invitation is None:
        raise _error(NotFound, "unknown_invitation")
    allowed = invitation.created_by == principal.person_id
    if not allowed and invitation.group_id is not None:
        place = await place_of(db, invitation.group_id)
        allowed = place is not None and principal.manages_group(place)
    if not allowed:
        academy_id = await db.scalar(
            select(School.academy_id).where(School.id == invitation.school_id)
        )
        allowed = academy_id is not None and principal.administers_school(
            invitation.school_id, academy_id
        )
    if not allowed:
        raise _error(NotFound, "unknown_invitation")
    invitation.revoked = True
    await db.flush()


def _refusal(invitation: Invitation | None, now: dt.datetime, role: Role | None) -> HomeroomError:
    if invitation is None or (role is not None and invitation.role is not role):
        return _error(NotFound, "unknown_invitation")
    if invitation.revoked:
        return _error(Gone, "invitation_revoked")
    if invitation.expires_at <= now:
        return _error(Gone, "invitation_expired")
    return _error(Gone, "invitation_used_up")


async def _peek(db: AsyncSession, token: str, now: dt.datetime, role: Role) -> Invitation:
    """The invitation if it would be accepted now, without counting a use."""
    invitation = None
    if len(token) <= _TOKEN_MAX:
        invitation = await db.scalar(
            select(Invitation).where(Invitation.token_hash == token_hash(token))
        )
    if (
        invitation is None
        or invitation.role is not role
        or invitation.revoked
        or invitation.expires_at <= now
        or invitation.uses >= invitation.max_uses
    ):
        raise _refusal(invitation, now, role)
    return invitation


async def redeem_invitation(
    db: AsyncSession, token: str, now: dt.datetime, role: Role | None = None
) -> Invitation:
    """Count one use of a valid invitation (of `role`, if given) and return it.

    The use is counted by one conditional UPDATE: of two concurrent redeems of the last use,
    the database lets exactly one change the row (PostgreSQL's row lock makes the second
    re-check `uses < max_uses` after the first commits; SQLite has a single writer).
    Unknown (or of another role): NotFound. Expired, revoked or used up: Gone.
    """
    hashed = token_hash(token) if len(token) <= _TOKEN_MAX else b""
    conditions = [
        Invitation.token_hash == hashed,
        Invitation.revoked.is_(False),
        Invitation.expires_at > now,
        Invitation.uses < Invitation.max_uses,
    ]
    if role is not None:
        conditions.append(Invitation.role == role)
    result = cast(
        CursorResult[Any],
        await db.execute(
            update(Invitation)
            .where(*conditions)
            .values(uses=Invitation.uses + 1)
            .execution_options(synchronize_session=False)
        ),
    )
    invitation: Invitation | None = await db.scalar(
        select(Invitation)
        .where(Invitation.token_hash == hashed)
        .execution_options(populate_existing=True)
    )
    if result.rowcount != 1 or invitation is None:
        raise _refusal(invitation, now, role)
    return invitation


# ---------------------------------------------------------------- sign-up


def _display_name(value: str) -> str:
    name = clean(value)  # line breaks and tabs become spaces; other control characters stay
    if not name or len(name) > MAX_DISPLAY_NAME or _CONTROL.search(name):
        raise _error(BadRequest, "bad_display_name", limit=MAX_DISPLAY_NAME)
    return name


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    email = value.strip()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise _error(BadRequest, "bad_email")
    return email


def _check_password(check: PasswordCheck, password: str, login: str) -> None:
    problems = check(password, login)
    if problems:
        french = "; ".join(PASSWORD_PROBLEMS.get(p, (p, p))[0] for p in problems)
        english = "; ".join(PASSWORD_PROBLEMS.get(p, (p, p))[1] for p in problems)
        raise BadRequest(
            "weak_password",
            MESSAGES["weak_password"][0].format(value=french),
            MESSAGES["weak_password"][1].format(value=english),
            extra={"problems": problems},
        )


async def _free_login(db: AsyncSession, name: str) -> str:
    """`make_login` for a display name ("Léa Martin" -> lea.martin, lea.martin2, …).

    Every candidate starts with the first one's first 70 characters (make_login shortens the
    name by at most 6 digits and a stripped dot), so one query finds every login in the way.
    """
    given, _, family = name.partition(" ")
    first = make_login(given, family, lambda _: False)
    rows = await db.scalars(
        select(Person.login).where(
            Person.login.startswith(first[: MAX_LOGIN - 10], autoescape=True)
        )
    )
    taken = set(rows)
    return make_login(given, family, taken.__contains__)


@dataclass(frozen=True, slots=True)
class _Account:
    name: str
    login: str
    password_hash: str


async def _new_person(
    db: AsyncSession, account: _Account, now: dt.datetime, **fields: Any
) -> Person:
    """Insert the person; a login taken meanwhile by a concurrent sign-up gives the next one."""
    login, name = account.login, account.name
    for _ in range(_ATTEMPTS):
        person = Person(
            login=login,
            display_name=name,
            password_hash=account.password_hash,
            created_at=now,
            **fields,
        )
        try:
            async with db.begin_nested():  # a collision undoes this insert only
                db.add(person)
        except IntegrityError:
            login = await _free_login(db, name)
            continue
        return person
    raise RuntimeError(f"no free login for {name!r} after {_ATTEMPTS} attempts")


async def _hash(hasher: Hasher, password: str) -> str:
    # argon2 takes tens of milliseconds of CPU and releases the GIL: keep the event loop free.
    return await asyncio.to_thread(hasher, password)


async def _prepared(
    db: AsyncSession, display_name: str, password: str, hasher: Hasher, check: PasswordCheck
) -> _Account:
    """The cleaned name, a free login and the password's hash, or why they are refused."""
    name = _display_name(display_name)
    login = await _free_login(db, name)
    _check_password(check, password, login)
    return _Account(name, login, await _hash(hasher, password))


async def _grant(db: AsyncSession, person: Person, role: Role, school_id: int) -> SignedUp:
    db.add(RoleGrant(person_id=person.id, role=role, school_id=school_id))
    await db.flush()
    return SignedUp(person.id, person.login, role, school_id)


async def sign_up_pupil(
    db: AsyncSession,
    code_or_token: str,
    display_name: str,
    password: str,
    hasher: Hasher,
    now: dt.datetime,
    check: PasswordCheck = check_new_password,
) -> SignedUp:
    """A pupil's account in the class of a class code or of a pupil invitation."""
    normalised = normalise_code(code_or_token)
    if _is_code(normalised):
        group = await group_for_code(db, normalised)
        if group is None:
            raise _error(NotFound, "unknown_code")
        group_id, school_id = group.id, group.school_id
    else:
        invitation = await _peek(db, code_or_token, now, Role.PUPIL)
        assert invitation.group_id is not None  # invite() requires one for pupils
        group_id, school_id = invitation.group_id, invitation.school_id
    account = await _prepared(db, display_name, password, hasher, check)
    if not _is_code(normalised):
        await redeem_invitation(db, code_or_token, now, Role.PUPIL)
    person = await _new_person(db, account, now, school_id=school_id)
    db.add(Enrolment(pupil_id=person.id, group_id=group_id))
    return await _grant(db, person, Role.PUPIL, school_id)


async def _enrolled(db: AsyncSession, pupil_id: int, group_id: int) -> bool:
    found = await db.scalar(
        select(
            exists().where(
                Enrolment.pupil_id == pupil_id,
                Enrolment.group_id == group_id,
            )
        )
    )
    return bool(found)


async def _parent_invitation(db: AsyncSession, token: str, now: dt.datetime) -> tuple[int, int]:
    """(child id, school id) of a valid parent invitation whose child is still in the class."""
    invitation = await _peek(db, token, now, Role.PARENT)
    child_id = invitation.child_id
    if child_id is None or invitation.group_id is None:  # not made by invite(): refuse
        raise _error(NotFound, "unknown_invitation")
    if not await _enrolled(db, child_id, invitation.group_id):
        raise _error(Gone, "child_left_class")
    return child_id, invitation.school_id


async def sign_up_parent(
    db: AsyncSession,
    token: str,
    display_name: str,
    password: str,
    hasher: Hasher,
    now: dt.datetime,
    check: PasswordCheck = check_new_password,
    email: str | None = None,
) -> SignedUp:
    """A parent's account, guardian of the child their invitation was made for."""
    child_id, school_id = await _parent_invitation(db, token, now)
    address = _email(email)
    account = await _prepared(db, display_name, password, hasher, check)
    await redeem_invitation(db, token, now, Role.PARENT)
    # A parent belongs to no school (children may be in several): the role grant is scoped.
    person = await _new_person(db, account, now, email=address, school_id=None)
    db.add(Guardianship(parent_id=person.id, child_id=child_id))
    return await _grant(db, person, Role.PARENT, school_id)


async def claim_child(db: AsyncSession, principal: Principal, token: str, now: dt.datetime) -> int:
    """A signed-in person becomes guardian of the invitation's child; returns the child's id.

    For a parent who already has an account (a second child, another school). Following the
    link again for a child already theirs changes nothing and counts no use, even once the
    invitation is used up or expired.
    """
    if len(token) <= _TOKEN_MAX:
        known = await db.scalar(
            select(Invitation.child_id).where(
                Invitation.token_hash == token_hash(token), Invitation.role == Role.PARENT
            )
        )
        if known is not None and known in principal.children:  # a link followed twice
            return known
    child_id, school_id = await _parent_invitation(db, token, now)
    await redeem_invitation(db, token, now, Role.PARENT)
    db.add(Guardianship(parent_id=principal.person_id, child_id=child_id))
    granted = await db.scalar(
        select(
            exists().where(
                RoleGrant.person_id == principal.person_id,
                RoleGrant.role == Role.PARENT,
                RoleGrant.school_id == school_id,
            )
        )
    )
    if not granted:
        db.add(RoleGrant(person_id=principal.person_id, role=Role.PARENT, school_id=school_id))
    await db.flush()
    return child_id


async def sign_up_teacher(
    db: AsyncSession,
    token: str,
    display_name: str,
    password: str,
    hasher: Hasher,
    now: dt.datetime,
    check: PasswordCheck = check_new_password,
    email: str | None = None,
) -> SignedUp:
    """A teacher's account in the school of a teacher invitation (classes are assigned after)."""
    invitation = await _peek(db, token, now, Role.TEACHER)
    address = _email(email)
    account = await _prepared(db, display_name, password, hasher, check)
    await redeem_invitation(db, token, now, Role.TEACHER)
    school_id = invitation.school_id
    person = await _new_person(db, account, now, email=address, school_id=school_id)
    return await _grant(db, person, Role.TEACHER, school_id)


# ---------------------------------------------------------------- one-time codes


def _code_hash(person_id: int, normalised: str) -> bytes:
    # Salted with the person: two pupils may draw the same code, and a copy of the table cannot
    # be matched against one precomputed list of all codes.
    return hashlib.sha256(f"homeroom.one-time-code\0{person_id}\0{normalised}".encode()).digest()


async def reset_codes(
    db: AsyncSession,
    principal: Principal,
    group_id: int,
    now: dt.datetime,
    ttl: dt.timedelta = CODE_TTL,
    pupil_ids: Collection[int] | None = None,
) -> list[CodeRow]:
    """A new one-time code for each pupil of the group (or those of `pupil_ids`), by name.

    The pupils' earlier codes stop working. Their passwords are left alone: a pupil who
    remembers theirs goes on using it; the code sets a new one.
    """
    await _managed_place(db, principal, group_id)
    _check_limits(1, ttl, MAX_CODE_TTL)
    query = (
        select(Person.id, Person.display_name, Person.login)
        .join(Enrolment, Enrolment.pupil_id == Person.id)
        .where(Enrolment.group_id == group_id, Person.disabled.is_(False))
        .order_by(Person.display_name, Person.login)
    )
    if pupil_ids is not None:
        query = query.where(Person.id.in_(list(pupil_ids)))
    pupils = (await db.execute(query)).all()
    if pupil_ids is not None and len(pupils) != len(set(pupil_ids)):
        raise _error(NotFound, "pupil_not_found")
    ids = [pupil.id for pupil in pupils]
    await db.execute(delete(OneTimeCode).where(OneTimeCode.person_id.in_(ids)))
    rows: list[CodeRow] = []
    for pupil in pupils:
        code = _random_code()
        db.add(
            OneTimeCode(
                person_id=pupil.id,
                code_hash=_code_hash(pupil.id, code),
                expires_at=now + ttl,
                used=False,
            )
        )
        rows.append(CodeRow(pupil.display_name, pupil.login, shown(code)))
    await db.flush()
    return rows


async def use_code(
    db: AsyncSession,
    sessions: Sessions,
    login: str,
    code: str,
    new_password: str,
    hasher: Hasher,
    now: dt.datetime,
    check: PasswordCheck = check_new_password,
) -> int:
    """Set a new password with a one-time code; returns the person's id.

    A wrong code, an unknown or disabled login and a code replaced by a newer sheet all get the
    same refusal (`bad_code`), after the same single query. A used or expired code: Gone. The
    person's sign-in sessions are revoked (other processes see it within `sessions.CACHE_S`).
    """
    login = normalise_login(login)
    _check_password(check, new_password, login)
    normalised = normalise_code(code)
    rows = (
        await db.execute(
            select(Person.id, Person.disabled, OneTimeCode)
            .join(OneTimeCode, OneTimeCode.person_id == Person.id)
            .where(Person.login == login)
        )
    ).all()
    match = next(
        (
            row
            for row in rows
            if hmac.compare_digest(row.OneTimeCode.code_hash, _code_hash(row.id, normalised))
        ),
        None,
    )
    if match is None or match.disabled:
        raise _error(Forbidden, "bad_code")
    one_time: OneTimeCode = match.OneTimeCode
    if one_time.used:
        raise _error(Gone, "code_used")
    if one_time.expires_at <= now:
        raise _error(Gone, "code_expired")
    password_hash = await _hash(hasher, new_password)
    await _spend(db, one_time.id, now)
    await db.execute(
        update(Person)
        .where(Person.id == match.id)
        .values(password_hash=password_hash)
        .execution_options(synchronize_session=False)
    )
    await sessions.revoke_person(db, int(match.id))
    return int(match.id)


async def _spend(db: AsyncSession, code_id: int, now: dt.datetime) -> None:
    """Mark the code used, once: a concurrent use of the same code gets Gone."""
    result = cast(
        CursorResult[Any],
        await db.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.id == code_id,
                OneTimeCode.used.is_(False),
                OneTimeCode.expires_at > now,
            )
            .values(used=True)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise _error(Gone, "code_used")

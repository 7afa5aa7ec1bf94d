"""The school data model: SQLAlchemy 2 typed tables, the same on SQLite and PostgreSQL.

Times are stored in UTC (timezone-aware columns); each school shows them in its own zone
(Europe/Paris unless the school or its académie says otherwise). Only the data a school needs
about minors is kept: no birth date, no address, e-mail optional (docs/school.md#data-about-minors).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from homeroom.core.live.parts import Role as LiveRole

DEFAULT_ZONE = "Europe/Paris"


# Constraint names are part of the schema: migrations drop and alter constraints by name, and
# SQLite's batch mode can only do so for named ones. Keep the convention stable.
MAX_ID: Final = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime, stored in UTC, read back aware in UTC on every database.

    SQLite has no time zone type: SQLAlchemy writes the wall-clock digits and drops the offset,
    and reads naive datetimes back. Converting to UTC on the way in and marking UTC on the way
    out makes SQLite behave as PostgreSQL's `timestamp with time zone`. Naive datetimes are
    refused: they are ambiguous (local time of which school?).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give it a time zone (UTC)")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


class Role(StrEnum):
    OPERATOR = "operator"  # national
    ADMIN = "admin"  # of an académie, or of a school
    TEACHER = "teacher"
    PUPIL = "pupil"
    PARENT = "parent"


class Outcome(StrEnum):
    OK = "ok"
    BAD_PASSWORD = "bad_password"
    UNKNOWN = "unknown"
    LOCKED = "locked"
    THROTTLED = "throttled"
    DISABLED = "disabled"


class Academy(Base):
    __tablename__ = "academy"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_ZONE)
    # The database refuses to delete an académie that has schools (RESTRICT): let it say so.
    schools: Mapped[list[School]] = relationship(back_populates="academy", passive_deletes="all")


class School(Base):
    __tablename__ = "school"
    id: Mapped[int] = mapped_column(primary_key=True)
    academy_id: Mapped[int] = mapped_column(ForeignKey("academy.id", ondelete="RESTRICT"))
    uai: Mapped[str] = mapped_column(String(8), unique=True)  # 7 digits and a check letter
    name: Mapped[str] = mapped_column(String(160))
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the académie's
    academy: Mapped[Academy] = relationship(back_populates="schools")
    # ON DELETE CASCADE does the work; without passive_deletes the ORM would first try to set
    # the groups' school_id to NULL, which the NOT NULL column refuses.
    groups: Mapped[list[ClassGroup]] = relationship(
        back_populates="school", cascade="all, delete-orphan", passive_deletes=True
    )


class ClassGroup(Base):
    __tablename__ = "class_group"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))  # "6e B"
    join_code: Mapped[str | None] = mapped_column(String(16), unique=True)  # pupils sign up with it
    join_code_active: Mapped[bool] = mapped_column(Boolean, default=True)
    school: Mapped[School] = relationship(back_populates="groups")


class Person(Base):
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)  # what they type to sign in
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))  # children often have none
    password_hash: Mapped[str | None] = mapped_column(String(200))
    accommodation: Mapped[bool] = mapped_column(Boolean, default=False)  # priority lane
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    external_id: Mapped[str | None] = mapped_column(String(64))  # the school's own id (imports)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id", ondelete="SET NULL"))
    roles: Mapped[list[RoleGrant]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )
    __table_args__ = (UniqueConstraint("school_id", "external_id"),)


class RoleGrant(Base):
    """A role held in a scope: national (no scope), an académie, or a school."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("person_id", "role", "academy_id", "school_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    academy_id: Mapped[int | None] = mapped_column(ForeignKey("academy.id", ondelete="CASCADE"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    person: Mapped[Person] = relationship(back_populates="roles")


class Enrolment(Base):
    __tablename__ = "enrolment"
    pupil_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("class_group.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Teaching(Base):
    __tablename__ = "teaching"
    teacher_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("class_group.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)


class Guardianship(Base):
    __tablename__ = "guardianship"
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TimetableEntry(Base):
    """A weekly slot that repeats between two dates, in the school's local time."""

    __tablename__ = "timetable_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("class_group.id", ondelete="CASCADE"), index=True
    )
    teacher_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(160))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    local_start: Mapped[dt.time] = mapped_column(Time)
    minutes: Mapped[int] = mapped_column(Integer)
    first_day: Mapped[dt.date]
    last_day: Mapped[dt.date]


class ClassSession(Base):
    """A scheduled live class."""

    __tablename__ = "class_session"
    __table_args__ = (
        Index("ix_class_session_group_start", "group_id", "starts_at"),
        UniqueConstraint("entry_id", "starts_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("class_group.id", ondelete="CASCADE"))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(160))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("timetable_entry.id", ondelete="SET NULL")
    )


class Invitation(Base):
    """A link or code that lets people sign up: expiring, revocable, limited uses."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("class_group.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    child_id: Mapped[int | None] = mapped_column(  # a parent invitation: whose parent
        ForeignKey("person.id", ondelete="CASCADE")
    )
    expires_at: Mapped[dt.datetime]
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AuthSession(Base):
    """A server-side sign-in session; the cookie holds its signed id only."""

    __tablename__ = "auth_session"
    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    idle_s: Mapped[int] = mapped_column(Integer)
    absolute_until: Mapped[dt.datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    csrf_secret: Mapped[bytes] = mapped_column(LargeBinary(32))


class OneTimeCode(Base):
    """A printed code a pupil without e-mail uses once to set a new password."""

    __tablename__ = "one_time_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[dt.datetime]
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class SignInEvent(Base):
    """The audit of sign-ins: who (if known), when, from which address block, outcome."""

    __tablename__ = "sign_in_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(index=True)
    address_block: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[Outcome] = mapped_column(Enum(Outcome, native_enum=False, length=16))


# -- what a live class leaves behind (docs/live.md#records) -------------------------------------


class ChatAudience(StrEnum):
    ALL = "all"  # the class
    TEACHER = "teacher"  # a pupil's private message to the teachers
    GROUP = "group"  # a breakout group and the teachers


class ChatMessage(Base):
    """A chat message of a live class, written by the gateway in batches (live/records.py)."""

    __tablename__ = "chat_message"
    # A room's sequence numbers start again with each epoch: the three name one message, and
    # make a batch written twice (its commit's reply lost) go in once. `sent_as` (the author and
    # the client's id for the message) keeps it once when resent under a new epoch (a failover).
    __table_args__ = (
        UniqueConstraint("session_id", "epoch", "seq"),
        UniqueConstraint("session_id", "sent_as"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_session.id", ondelete="CASCADE"))
    epoch: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    # NULL for someone with no account (a guest); erasing the person erases their messages.
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[LiveRole] = mapped_column(Enum(LiveRole, native_enum=False, length=16))
    audience: Mapped[ChatAudience] = mapped_column(Enum(ChatAudience, native_enum=False, length=16))
    breakout_group: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime]
    sent_as: Mapped[str | None] = mapped_column(String(130))  # "person:client id"


class PollResult(Base):
    """A poll of a live class once closed: the counts, no names (live/records.py)."""

    __tablename__ = "poll_result"
    __table_args__ = (UniqueConstraint("session_id", "epoch", "poll"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_session.id", ondelete="CASCADE"))
    epoch: Mapped[str] = mapped_column(String(64))
    poll: Mapped[int] = mapped_column(Integer)  # its number in the room's epoch
    question: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[str]] = mapped_column(JSON)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[list[int]] = mapped_column(JSON)
    voters: Mapped[int] = mapped_column(Integer)
    shown: Mapped[bool] = mapped_column(Boolean, default=False)  # pupils saw the counts
    closed_at: Mapped[dt.datetime]


class LiveRevocation(Base):
    """Join tokens revoked before they expire; the gateways read new rows (live/revocations.py).

    `room`, `person` and `grant_tag` may each be "*" (any); the row covers the tokens issued until
    `before_ms` (unix milliseconds). Rows older than a join token's longest life are deleted.
    """

    __tablename__ = "live_revocation"
    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(String(64), index=True)  # a guest's join: one look-up
    person: Mapped[str] = mapped_column(String(64))
    grant_tag: Mapped[str] = mapped_column(String(64))
    before_ms: Mapped[int] = mapped_column(BigInteger, index=True)

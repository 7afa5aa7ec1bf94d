"""Who may see or change what in the school workspace: pure decisions over a Principal.

Every page and API call loads the signed-in person's Principal once (their roles with scopes,
the groups they teach or are enrolled in, their children's groups) and asks here. A refusal is
answered 404 by the HTTP layer, so guessing ids tells nothing (docs/school.md#access).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homeroom.core.lanes import Lane
from homeroom.school.data.models import Role


@dataclass(frozen=True, slots=True)
class Scope:
    role: Role
    academy_id: int | None = None  # admin of an académie
    school_id: int | None = None  # admin, teacher, pupil or parent of a school


@dataclass(frozen=True, slots=True)
class Place:
    """Where a class group sits: enough to decide access without another query."""

    group_id: int
    school_id: int
    academy_id: int


@dataclass(frozen=True, slots=True)
class Principal:
    person_id: int
    scopes: frozenset[Scope] = frozenset()
    taught: frozenset[int] = frozenset()  # group ids
    enrolled: frozenset[int] = frozenset()  # group ids
    children: frozenset[int] = frozenset()  # person ids
    children_groups: frozenset[int] = frozenset()
    accommodation: bool = False
    roles: frozenset[Role] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(s.role for s in self.scopes))

    @property
    def operator(self) -> bool:
        return Role.OPERATOR in self.roles

    def administers_school(self, school_id: int, academy_id: int) -> bool:
        if self.operator:
            return True
        return any(
            s.role is Role.ADMIN and (s.school_id == school_id or s.academy_id == academy_id)
            for s in self.scopes
        )

    def administers_academy(self, academy_id: int) -> bool:
        return self.operator or any(
            s.role is Role.ADMIN and s.academy_id == academy_id and s.school_id is None
            for s in self.scopes
        )

    def sees_group(self, place: Place) -> bool:
        """May see the group's sessions and roll: its people, its teachers, its admins."""
        return (
            place.group_id in self.taught
            or place.group_id in self.enrolled
            or place.group_id in self.children_groups
            or self.administers_school(place.school_id, place.academy_id)
        )

    def manages_group(self, place: Place) -> bool:
        """May create sessions, share or revoke the class code, reset pupils' passwords."""
        return place.group_id in self.taught or self.administers_school(
            place.school_id, place.academy_id
        )

    def sees_person(self, person_id: int) -> bool:
        """Own data, or a child's (the HTTP layer checks staff access through the group)."""
        return person_id == self.person_id or person_id in self.children

    @property
    def lane(self) -> Lane:
        """The gate lane a signed-in person queues in."""
        if self.roles & {Role.OPERATOR, Role.ADMIN, Role.TEACHER}:
            return Lane.STAFF
        if Role.PUPIL in self.roles:
            return Lane.PRIORITY if self.accommodation else Lane.PUPILS
        return Lane.GUESTS

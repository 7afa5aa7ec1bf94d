"""Access decisions case by case: each role sees its own scope and nothing else."""

from __future__ import annotations

from homeroom.core.lanes import Lane
from homeroom.school.data.access import Place, Principal, Scope
from homeroom.school.data.models import Role

MATHS_6A = Place(group_id=1, school_id=10, academy_id=100)
MATHS_6B = Place(group_id=2, school_id=10, academy_id=100)
OTHER_SCHOOL = Place(group_id=3, school_id=11, academy_id=100)
OTHER_ACADEMY = Place(group_id=4, school_id=12, academy_id=200)


def pupil(**kw: object) -> Principal:
    return Principal(1, frozenset({Scope(Role.PUPIL, school_id=10)}), enrolled=frozenset({1}), **kw)  # type: ignore[arg-type]


def test_a_pupil_sees_their_class_only_and_manages_nothing() -> None:
    p = pupil()
    assert p.sees_group(MATHS_6A)
    assert not p.sees_group(MATHS_6B)
    assert not p.sees_group(OTHER_SCHOOL)
    assert not p.manages_group(MATHS_6A)
    assert p.lane is Lane.PUPILS
    assert pupil(accommodation=True).lane is Lane.PRIORITY


def test_a_teacher_manages_the_classes_they_teach_not_another_schools() -> None:
    t = Principal(2, frozenset({Scope(Role.TEACHER, school_id=10)}), taught=frozenset({2}))
    assert t.manages_group(MATHS_6B) and t.sees_group(MATHS_6B)
    assert not t.manages_group(MATHS_6A)
    assert not t.manages_group(OTHER_SCHOOL)
    assert t.lane is Lane.STAFF


def test_a_parent_sees_their_childrens_classes_only() -> None:
    parent = Principal(
        3,
        frozenset({Scope(Role.PARENT, school_id=10)}),
        children=frozenset({1}),
        children_groups=frozenset({1}),
    )
    assert parent.sees_group(MATHS_6A)
    assert not parent.sees_group(MATHS_6B)
    assert parent.sees_person(1) and parent.sees_person(3)
    assert not parent.sees_person(4)
    assert not parent.manages_group(MATHS_6A)
    assert parent.lane is Lane.GUESTS


def test_administrators_see_their_scope_only() -> None:
    school_admin = Principal(4, frozenset({Scope(Role.ADMIN, school_id=10)}))
    assert school_admin.manages_group(MATHS_6A) and school_admin.manages_group(MATHS_6B)
    assert not school_admin.sees_group(OTHER_SCHOOL)
    assert not school_admin.administers_academy(100)
    academy_admin = Principal(5, frozenset({Scope(Role.ADMIN, academy_id=100)}))
    assert academy_admin.manages_group(OTHER_SCHOOL) and academy_admin.administers_academy(100)
    assert not academy_admin.sees_group(OTHER_ACADEMY)
    operator = Principal(6, frozenset({Scope(Role.OPERATOR)}))
    assert operator.manages_group(OTHER_ACADEMY) and operator.administers_academy(200)
    assert academy_admin.lane is Lane.STAFF


def test_nobody_without_a_role_sees_anything() -> None:
    nobody = Principal(7)
    for place in (MATHS_6A, MATHS_6B, OTHER_SCHOOL, OTHER_ACADEMY):
        assert not nobody.sees_group(place)
        assert not nobody.manages_group(place)
    assert nobody.lane is Lane.GUESTS

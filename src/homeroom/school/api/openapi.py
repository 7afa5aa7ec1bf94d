"""The school's part of the OpenAPI document served at /openapi.json (docs/api.md#school-api).

Written by hand next to the endpoints in school/api/; the application merges `paths()` and
`schemas()` into the gate's document, and the schemathesis run checks answers against them.
Errors use the gate's `Error` schema. Every signed-in call takes the `hr_sid` cookie; every
one that changes something also takes `X-CSRF-Token` (from `GET /api/v1/me`).
"""

from __future__ import annotations

from typing import Any

from homeroom.school.api.base import MAX_PAGE, MAX_PER_PAGE
from homeroom.school.data.models import MAX_ID

_ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_MOMENT = {
    "type": "string",
    "description": "RFC 3339 with an offset (`2026-09-07T08:00:00+02:00` or `…Z`)",
    "pattern": (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})$"
    ),
}
_UTC = {"type": "string", "description": "UTC, RFC 3339 (`2026-09-07T06:00:00Z`)"}
_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": True,
    "description": "the session's CSRF token (`csrf` of GET /api/v1/me)",
    "schema": {"type": "string", "maxLength": 128},
}
_PAGING = [
    {
        "name": "page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 50},
    },
]
ROLE = {"type": "string", "enum": ["operator", "admin", "teacher", "pupil", "parent"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _err(*codes: int) -> dict[str, Any]:
    return {str(c): _UNAVAILABLE if c == 503 else _ERROR_ANSWER for c in codes}


_ERROR_ANSWER: dict[str, Any] = {
    "description": "error",
    "content": {"application/json": {"schema": _ERROR}},
}
# Every operation reads or writes the database: while it is away, 503 `database_unavailable`
# (or `store_unavailable` for what counts in Redis: sign-in's throttle), with Retry-After
# (docs/operations.md#when-a-store-is-away).
_UNAVAILABLE: dict[str, Any] = {
    "description": "a store away (`database_unavailable`, `store_unavailable`) or busy: try "
    "again after Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    "content": {"application/json": {"schema": _ERROR}},
}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _no_content(description: str) -> dict[str, Any]:
    return {"description": description}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    errors: tuple[int, ...],
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    signed_in: bool = True,
    changes: bool = False,
) -> dict[str, Any]:
    """An operation. Signed-in ones can answer 401; changing ones need the CSRF header (403)."""
    codes = {*errors, 503}  # every operation needs the database
    if signed_in:
        codes.add(401)
    if changes:
        codes.add(403)
    if body is not None:
        codes.update((400, 413))
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [*(params or []), *([_CSRF] if changes and signed_in else [])],
        "responses": {**responses, **_err(*sorted(codes))},
    }
    if signed_in:  # the `hr_sid` cookie (security_schemes)
        operation["description"] = "Needs the `hr_sid` session cookie."
        operation["security"] = [{"session": []}]
    if body is not None:
        operation["requestBody"] = body
    return operation


def _page_of(item: str) -> dict[str, Any]:
    return _object(
        ["items", "page", "per_page", "total"],
        items=_list(_ref(item)),
        page={"type": "integer"},
        per_page={"type": "integer"},
        total={"type": "integer"},
    )


_SIGNUP_ACCOUNT = {
    "display_name": {"type": "string", "minLength": 1, "maxLength": 480},
    "password": {"type": "string", "minLength": 1, "maxLength": 1024},
}
_INVITE_LIMITS = {
    "max_uses": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1},
    "ttl_days": {"type": "integer", "minimum": 1, "maximum": 90, "default": 14},
}


def schemas() -> dict[str, Any]:
    group = _object(["id", "name"], id={"type": "integer"}, name=_STRING)
    return {
        "Group": group,
        "Me": _object(
            ["person_id", "roles", "lane", "csrf"],
            person_id={"type": "integer"},
            roles=_list(ROLE),
            lane={"type": "string", "enum": ["staff", "priority", "pupils", "guests"]},
            csrf=_STRING,
        ),
        "SessionOfDay": _object(
            ["id", "title", "group", "teacher", "starts_at", "ends_at"],
            id={"type": "integer"},
            title=_STRING,
            group=group,
            teacher=_STRING,
            starts_at=_UTC,
            ends_at=_UTC,
        ),
        "ClassSession": _object(
            ["id", "title", "group", "teacher_id", "starts_at", "ends_at"],
            id={"type": "integer"},
            title=_STRING,
            group=group,
            teacher_id={"type": "integer"},
            starts_at=_UTC,
            ends_at=_UTC,
        ),
        "Attendance": _object(
            [
                "session_id",
                "group",
                "title",
                "starts_at",
                "ends_at",
                "pupils",
                "admitted",
                "waiting",
                "not_connected",
            ],
            session_id={"type": "integer"},
            group=group,
            title=_STRING,
            starts_at=_UTC,
            ends_at=_UTC,
            pupils={"type": "integer", "minimum": 0},
            admitted={"type": "integer", "minimum": 0},
            waiting={"type": "integer", "minimum": 0},
            not_connected={"type": "integer", "minimum": 0},
        ),
        "SignedUp": _object(
            ["person_id", "login", "role", "school_id"],
            person_id={"type": "integer"},
            login={"type": "string", "description": "shown once: the person signs in with it"},
            role=ROLE,
            school_id={"type": "integer"},
        ),
        "TaughtClass": _object(
            ["id", "name", "school", "subjects", "join_code", "pupils"],
            id={"type": "integer"},
            name=_STRING,
            school=group,
            subjects=_list(_STRING),
            join_code=_NULLABLE_STRING,
            pupils=_list(
                _object(["id", "display_name"], id={"type": "integer"}, display_name=_STRING)
            ),
        ),
        "Invitation": _object(
            ["id", "token", "role", "school_id", "group_id", "expires_at", "max_uses"],
            id={"type": "integer"},
            token={"type": "string", "description": "the only time it exists in clear"},
            role=ROLE,
            school_id={"type": "integer"},
            group_id={"type": ["integer", "null"]},
            expires_at=_UTC,
            max_uses={"type": "integer"},
        ),
        "CodeSheet": _object(
            ["group_id", "expires_at", "codes"],
            group_id={"type": "integer"},
            expires_at=_UTC,
            codes=_list(
                _object(
                    ["display_name", "login", "code"],
                    display_name=_STRING,
                    login=_STRING,
                    code={"type": "string", "description": "XXXX-XXXX, shown this once"},
                )
            ),
        ),
        "SchoolSummary": _object(
            ["id", "uai", "name", "academy_id", "timezone"],
            id={"type": "integer"},
            uai=_STRING,
            name=_STRING,
            academy_id={"type": "integer"},
            timezone=_NULLABLE_STRING,
        ),
        "ClassSummary": _object(
            ["id", "name", "pupils", "join_code_active"],
            id={"type": "integer"},
            name=_STRING,
            pupils={"type": "integer"},
            join_code_active={"type": "boolean"},
        ),
        "PersonSummary": _object(
            ["id", "display_name", "login", "disabled", "roles"],
            id={"type": "integer"},
            display_name=_STRING,
            login=_STRING,
            disabled={"type": "boolean"},
            roles=_list(ROLE),
        ),
        "ImportReport": _object(
            [
                "created",
                "updated",
                "unchanged",
                "counts",
                "groups_created",
                "errors",
                "logins",
                "links_added",
                "ignored_columns",
            ],
            created={"type": "integer"},
            updated={"type": "integer"},
            unchanged={"type": "integer"},
            counts={"type": "object", "additionalProperties": {"type": "object"}},
            groups_created=_list(_STRING),
            errors=_list(
                _object(
                    ["line", "reason", "column", "message"],
                    line={"type": "integer"},
                    reason=_STRING,
                    column=_NULLABLE_STRING,
                    message=_STRING,
                )
            ),
            logins=_list(
                _object(
                    ["line", "person_id", "external_id", "role", "display_name", "login"],
                    line={"type": "integer"},
                    person_id={"type": "integer"},
                    external_id=_STRING,
                    role=ROLE,
                    display_name=_STRING,
                    login=_STRING,
                )
            ),
            links_added={"type": "object", "additionalProperties": {"type": "integer"}},
            ignored_columns=_list(_STRING),
        ),
        "PersonExport": _object(
            [
                "exported_at",
                "person",
                "roles",
                "enrolments",
                "teaching",
                "children",
                "parents",
                "auth_sessions",
                "one_time_codes",
                "sign_in_events",
                "timetable_entries",
                "class_sessions",
                "invitations_created",
                "chat_messages",
            ],
            exported_at=_UTC,
            person=_object(
                ["id", "login", "display_name", "email", "has_password", "created_at"],
                id={"type": "integer"},
                login=_STRING,
                display_name=_STRING,
                email=_NULLABLE_STRING,
                has_password={"type": "boolean"},
                accommodation={"type": "boolean"},
                disabled={"type": "boolean"},
                created_at=_UTC,
                external_id=_NULLABLE_STRING,
                school_id={"type": ["integer", "null"]},
            ),
            roles=_list({"type": "object"}),
            enrolments=_list({"type": "object"}),
            teaching=_list({"type": "object"}),
            children=_list({"type": "object"}),
            parents=_list({"type": "object"}),
            auth_sessions=_list({"type": "object"}),
            one_time_codes=_list({"type": "object"}),
            sign_in_events=_list(
                _object(
                    ["at", "address_block", "outcome"],
                    at=_UTC,
                    address_block=_STRING,
                    outcome={
                        "type": "string",
                        "enum": [
                            "ok",
                            "bad_password",
                            "unknown",
                            "locked",
                            "throttled",
                            "disabled",
                        ],
                    },
                )
            ),
            timetable_entries=_list({"type": "object"}),
            class_sessions=_list({"type": "object"}),
            invitations_created=_list({"type": "object"}),
            chat_messages=_list({"type": "object"}),
        ),
        **_record_schemas(),
    }


def _account_paths() -> dict[str, Any]:
    signup = {
        "pupil": _object(["code", *_SIGNUP_ACCOUNT], code={**_STRING, "maxLength": 200}),
        "parent": _object(
            ["token", *_SIGNUP_ACCOUNT],
            token={**_STRING, "maxLength": 200},
            email={**_STRING, "maxLength": 254},
        ),
        "teacher": _object(
            ["token", *_SIGNUP_ACCOUNT],
            token={**_STRING, "maxLength": 200},
            email={**_STRING, "maxLength": 254},
        ),
    }
    for schema in signup.values():
        schema["properties"].update(_SIGNUP_ACCOUNT)
    paths: dict[str, Any] = {
        f"/api/v1/signup/{kind}": {
            "post": _op(
                f"Sign up as a {kind} ({'a class code or a pupil invitation' if kind == 'pupil' else 'an invitation'})",
                {"201": _json(_ref("SignedUp"))},
                errors=(404, 410, 503),
                body=_body(schema),
                signed_in=False,
            )
        }
        for kind, schema in signup.items()
    }
    paths["/api/v1/password/code"] = {
        "post": _op(
            "Set a new password with a printed one-time code (signs the person out everywhere)",
            {"204": _no_content("password set")},
            errors=(403, 410, 429, 503),
            body=_body(
                _object(
                    ["login", "code", "password"],
                    login={**_STRING, "minLength": 1, "maxLength": 200},
                    code={**_STRING, "minLength": 1, "maxLength": 64},
                    password={**_STRING, "minLength": 1, "maxLength": 1024},
                )
            ),
            signed_in=False,
        )
    }
    return paths


def _me_paths() -> dict[str, Any]:
    return {
        "/api/v1/session": {
            "post": _op(
                "Sign in (sets the `hr_sid` cookie)",
                {
                    "201": _json(
                        _object(
                            ["person_id", "expires_idle_s"],
                            person_id={"type": "integer"},
                            expires_idle_s={"type": "integer"},
                        )
                    )
                },
                errors=(403, 429, 503),
                body=_body(
                    _object(
                        ["login", "password"],
                        login={**_STRING, "minLength": 1, "maxLength": 1024},
                        password={**_STRING, "minLength": 1, "maxLength": 1024},
                        shared_device={"type": "boolean", "default": False},
                    )
                ),
                signed_in=False,
            ),
            "delete": _op(
                "Sign out (clears the cookie)",
                {"204": _no_content("signed out")},
                errors=(),
                changes=True,
            ),
        },
        "/api/v1/me": {
            "get": _op("Who am I, and my CSRF token", {"200": _json(_ref("Me"))}, errors=())
        },
        "/api/v1/me/sessions": {
            "get": _op(
                "My class sessions of a day (Paris time); by default today's, in progress or soon",
                {
                    "200": _json(
                        _object(
                            ["day", "sessions"], day=_STRING, sessions=_list(_ref("SessionOfDay"))
                        )
                    )
                },
                errors=(400,),
                params=[
                    {
                        "name": "day",
                        "in": "query",
                        "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                    }
                ],
            )
        },
        "/api/v1/me/children": {
            "get": _op(
                "A parent's children and their classes",
                {
                    "200": _json(
                        _object(
                            ["children"],
                            children=_list(
                                _object(
                                    ["id", "display_name", "groups"],
                                    id={"type": "integer"},
                                    display_name=_STRING,
                                    groups=_list(_ref("Group")),
                                )
                            ),
                        )
                    )
                },
                errors=(),
            ),
            "post": _op(
                "Become the guardian of another child with their parent invitation",
                {"200": _json(_object(["child_id"], child_id={"type": "integer"}))},
                errors=(404, 410),
                body=_body(_object(["token"], token={**_STRING, "maxLength": 200})),
                changes=True,
            ),
        },
        "/api/v1/me/calendar.ics": {
            "get": _op(
                "My class sessions, a month back to a year ahead, as iCalendar",
                {
                    "200": {
                        "description": "an iCalendar feed (RFC 5545)",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    }
                },
                errors=(),
            )
        },
        "/api/v1/me/classes": {
            "get": _op(
                "The classes I teach, with their pupils' names",
                {"200": _json(_object(["classes"], classes=_list(_ref("TaughtClass"))))},
                errors=(),
            )
        },
    }


def _teacher_paths() -> dict[str, Any]:
    group = [_path_id("group_id")]
    return {
        "/api/v1/groups/{group_id}/sessions": {
            "post": _op(
                "Schedule a class session (5 min to 8 h, starting within the coming year)",
                {"201": _json(_ref("ClassSession"))},
                errors=(403, 404),
                params=group,
                body=_body(
                    _object(
                        ["title", "starts_at", "ends_at"],
                        title={**_STRING, "minLength": 1, "maxLength": 160},
                        starts_at=_MOMENT,
                        ends_at=_MOMENT,
                    )
                ),
                changes=True,
            )
        },
        "/api/v1/sessions/{session_id}": {
            "delete": _op(
                "Cancel a class session",
                {"204": _no_content("cancelled")},
                errors=(404,),
                params=[_path_id("session_id")],
                changes=True,
            )
        },
        "/api/v1/sessions/{session_id}/attendance": {
            "get": _op(
                "How many of the class the gate admitted, holds waiting, or has not seen "
                "(the class's teachers; school/api/gatelink.py)",
                {"200": _json(_ref("Attendance"))},
                errors=(404,),
                params=[_path_id("session_id")],
            )
        },
        "/api/v1/sessions/{session_id}/join": {
            "post": _op(
                "A join token for the live class: its teacher or a pupil of its class "
                "(school/api/live.py; docs/live.md#join)",
                {
                    "200": _json(
                        _object(
                            ["room", "role", "token", "url", "expires_at"],
                            room=_STRING,
                            role={"type": "string", "enum": ["teacher", "pupil", "guest"]},
                            token=_STRING,
                            url=_STRING,
                            expires_at={"type": "string", "format": "date-time"},
                        )
                    )
                },
                errors=(404, 410, 425, 503),
                params=[_path_id("session_id")],
                changes=True,
            )
        },
        "/api/v1/sessions/{session_id}/guest-link": {
            "post": _op(
                "A guest link for the session, by one of its teachers (docs/live.md#guests)",
                {
                    "200": _json(
                        _object(
                            ["url", "expires_at"],
                            url=_STRING,
                            expires_at={"type": "string", "format": "date-time"},
                        )
                    )
                },
                errors=(404, 410),
                params=[_path_id("session_id")],
                changes=True,
            ),
            "delete": _op(
                "Cancel every guest link of the session made so far; its guests are disconnected",
                {"204": _no_content("cancelled")},
                errors=(404,),
                params=[_path_id("session_id")],
                changes=True,
            ),
        },
        "/api/v1/sessions/{session_id}/guest-join": {
            "post": _op(
                "A guest's join token, for whoever holds the session's guest link",
                {
                    "200": _json(
                        _object(
                            ["room", "role", "token", "url", "expires_at"],
                            room=_STRING,
                            role={"type": "string", "enum": ["guest"]},
                            token=_STRING,
                            url=_STRING,
                            expires_at={"type": "string", "format": "date-time"},
                        )
                    )
                },
                errors=(400, 404, 410, 503),
                params=[
                    _path_id("session_id"),
                    {
                        "name": "token",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 200},
                    },
                    {
                        "name": "name",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 200},
                    },
                ],
                signed_in=False,
            )
        },
        "/api/v1/groups/{group_id}/code": {
            "post": _op(
                "A new class code (replaces the old one)",
                {
                    "200": _json(
                        _object(["group_id", "code"], group_id={"type": "integer"}, code=_STRING)
                    )
                },
                errors=(404,),
                params=group,
                changes=True,
            ),
            "delete": _op(
                "Revoke the class code",
                {"204": _no_content("revoked")},
                errors=(404,),
                params=group,
                changes=True,
            ),
        },
        "/api/v1/groups/{group_id}/invitations": {
            "post": _op(
                "Invite a pupil to the class, or a parent of one of its pupils (`child_id`)",
                {"201": _json(_ref("Invitation"))},
                errors=(404,),
                params=group,
                body=_body(
                    _object(
                        ["role"],
                        role={"type": "string", "enum": ["pupil", "parent"]},
                        child_id=_ID,
                        **_INVITE_LIMITS,
                    )
                ),
                changes=True,
            )
        },
        "/api/v1/schools/{school_id}/invitations": {
            "post": _op(
                "Invite a teacher to the school (its administrators)",
                {"201": _json(_ref("Invitation"))},
                errors=(404,),
                params=[_path_id("school_id")],
                body=_body(_object([], **_INVITE_LIMITS), required=False),
                changes=True,
            )
        },
        "/api/v1/invitations/{invitation_id}": {
            "delete": _op(
                "Revoke an invitation",
                {"204": _no_content("revoked")},
                errors=(404,),
                params=[_path_id("invitation_id")],
                changes=True,
            )
        },
        "/api/v1/groups/{group_id}/one-time-codes": {
            "post": _op(
                "New one-time codes for the class's pupils (or `pupil_ids`), shown this once",
                {"200": _json(_ref("CodeSheet"))},
                errors=(404,),
                params=group,
                body=_body(
                    _object(
                        [],
                        ttl_days={"type": "integer", "minimum": 1, "maximum": 30, "default": 7},
                        pupil_ids={
                            "type": "array",
                            "items": _ID,
                            "minItems": 1,
                            "maxItems": 1000,
                        },
                    ),
                    required=False,
                ),
                changes=True,
            )
        },
    }


def _admin_paths() -> dict[str, Any]:
    school = [_path_id("school_id")]
    person = [_path_id("person_id")]
    return {
        "/api/v1/schools": {
            "get": _op(
                "The schools I administer",
                {"200": _json(_page_of("SchoolSummary"))},
                errors=(400,),
                params=_PAGING,
            )
        },
        "/api/v1/schools/{school_id}/classes": {
            "get": _op(
                "A school's classes",
                {"200": _json(_page_of("ClassSummary"))},
                errors=(400, 404),
                params=[*school, *_PAGING],
            )
        },
        "/api/v1/schools/{school_id}/people": {
            "get": _op(
                "A school's people (pupils, staff, and parents with a role there)",
                {"200": _json(_page_of("PersonSummary"))},
                errors=(400, 404),
                params=[*school, *_PAGING, {"name": "role", "in": "query", "schema": ROLE}],
            )
        },
        "/api/v1/schools/{school_id}/roster": {
            "post": _op(
                "Import a roster CSV (docs/roster-import.md); importing it again changes nothing",
                {"200": _json(_ref("ImportReport"))},
                errors=(404,),
                params=school,
                body={
                    "required": True,
                    "content": {
                        "text/csv": {"schema": {"type": "string", "maxLength": 2 * 1024 * 1024}},
                        "multipart/form-data": {
                            "schema": _object(["file"], file={"type": "string", "format": "binary"})
                        },
                    },
                },
                changes=True,
            )
        },
        "/api/v1/people/{person_id}/export": {
            "get": _op(
                "Everything held about a person (their administrators, or themselves)",
                {"200": _json(_ref("PersonExport"))},
                errors=(404,),
                params=person,
            )
        },
        "/api/v1/people/{person_id}": {
            "delete": _op(
                "Erase a person and what hangs on them (docs/school.md)",
                {"204": _no_content("erased")},
                errors=(404,),
                params=person,
                changes=True,
            )
        },
    }


def _slides_paths() -> dict[str, Any]:
    """A live class's slides (school/api/slides.py; docs/live.md#pages)."""
    return {
        "/api/v1/sessions/{session_id}/slides": {
            "post": _op(
                "Upload a PDF for the live class (its teachers only): at most 20 MiB and 300 "
                "pages, not encrypted; the page then opens it with `slides.open`",
                {
                    "201": _json(
                        _object(
                            ["doc", "pages", "bytes", "url"],
                            doc={"type": "string", "pattern": "^[1-9][0-9]{0,9}$"},
                            pages={"type": "integer", "minimum": 1, "maximum": 300},
                            bytes={"type": "integer"},
                            url=_STRING,
                        ),
                        "kept",
                    )
                },
                errors=(404,),
                params=[_path_id("session_id")],
                body={
                    "required": True,
                    "description": "the PDF's bytes; checked by content, whatever the type says",
                    "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in ("application/pdf", "application/octet-stream")
                    },
                },
                changes=True,
            )
        },
        "/api/v1/sessions/{session_id}/slides/{doc}": {
            "get": _op(
                "A live class's slides, for the members of its class",
                {
                    "200": {
                        "description": "the PDF",
                        "content": {
                            "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                        },
                    }
                },
                errors=(404,),
                params=[_path_id("session_id"), _path_id("doc")],
            )
        },
    }


def _record_schemas() -> dict[str, Any]:
    """What a live class left behind (school/api/records.py; docs/live.md#records)."""
    nullable_int = {"type": ["integer", "null"]}
    return {
        "ChatRecord": _object(
            ["seq", "person_id", "display_name", "role", "to", "group", "text", "sent_at"],
            seq={"type": "integer", "description": "the room's sequence number"},
            person_id=nullable_int,
            display_name=_STRING,
            role={"type": "string", "enum": ["teacher", "pupil", "guest"]},
            to={"type": "string", "enum": ["all", "teacher", "group"]},
            group={**nullable_int, "description": "the breakout group it was sent in"},
            text=_STRING,
            sent_at=_UTC,
        ),
        "PollRecord": _object(
            ["poll", "question", "choices", "multiple", "shown", "counts", "voters", "closed_at"],
            poll={"type": "integer", "description": "its number in the class"},
            question=_STRING,
            choices=_list(_STRING),
            multiple={"type": "boolean"},
            shown={"type": "boolean", "description": "the teacher showed pupils the counts"},
            counts={"type": ["array", "null"], "items": {"type": "integer", "minimum": 0}},
            voters={"type": ["integer", "null"], "minimum": 0},
            closed_at=_UTC,
        ),
    }


def _records_paths() -> dict[str, Any]:
    """A live class's chat and polls, after it (school/api/records.py; docs/live.md#records)."""
    session = [_path_id("session_id")]
    return {
        "/api/v1/sessions/{session_id}/chat": {
            "get": _op(
                "The chat of a live class, oldest first: its teachers read every message, a "
                "pupil of the class the public ones and their own",
                {"200": _json(_page_of("ChatRecord"))},
                errors=(400, 404),
                params=[*session, *_PAGING],
            )
        },
        "/api/v1/sessions/{session_id}/polls": {
            "get": _op(
                "The closed polls of a live class: its teachers see the counts, a pupil of the "
                "class those of the polls the teacher showed (`counts` null otherwise)",
                {
                    "200": _json(
                        _object(
                            ["session_id", "polls"],
                            session_id={"type": "integer"},
                            polls=_list(_ref("PollRecord")),
                        )
                    )
                },
                errors=(404,),
                params=session,
            )
        },
    }


def paths() -> dict[str, Any]:
    return {
        **_me_paths(),
        **_account_paths(),
        **_teacher_paths(),
        **_admin_paths(),
        **_slides_paths(),
        **_records_paths(),
    }


def security_schemes() -> dict[str, Any]:
    """The session cookie as a security scheme, merged by app.py; signed-in operations name it."""
    return {"session": {"type": "apiKey", "in": "cookie", "name": "hr_sid"}}

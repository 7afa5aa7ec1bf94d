"""The OpenAPI document of the gate's HTTP API, served at /openapi.json (docs/api.md).

Written by hand, next to the endpoints it describes; tests/service/test_openapi.py checks that
every route is in it and that the answers match it.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_GATE = {
    "name": "gate",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
}
_OPERATOR: list[dict[str, list[str]]] = [{"operator": []}]


def _err(*codes: int) -> dict[str, Any]:
    return {str(c): _UNAVAILABLE if c == 503 else _ERROR_ANSWER for c in codes}


_ERROR_ANSWER: dict[str, Any] = {
    "description": "error",
    "content": {"application/json": {"schema": _ERROR}},
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
# the pass check's short refusal: a proxy reads its status and headers, never a message
_CHECK_REFUSED = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "stable reason word"}},
}
# docs/api.md#errors, docs/operations.md#when-a-store-is-away
_UNAVAILABLE: dict[str, Any] = {
    "description": "closed, not open yet, no pass (`waiting_room`), or a store away "
    "(`degraded`, `store_unavailable`, `database_unavailable`): try again after Retry-After",
    "headers": _RETRY_AFTER,
    "content": {"application/json": {"schema": _ERROR}},
}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


LANE = {"type": "string", "enum": ["staff", "priority", "pupils", "guests"]}
MODE = {"type": "string", "enum": ["safety_net", "queue", "paused", "closed", "under_attack"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "stable reason word"},
            "message": {"type": "string"},
            "retry_after": {"type": "integer"},
        },
    },
    "Left": {
        "type": "object",
        "required": ["left", "pending"],
        "properties": {
            "left": {"type": "boolean", "description": "uncounted now"},
            "pending": {"type": "boolean", "description": "uncounted once the store is back"},
        },
    },
    "LaneState": {
        "type": "object",
        "required": ["issued", "horizon", "rate"],
        "properties": {
            "issued": {"type": "integer"},
            "horizon": {"type": "integer"},
            "rate": {"type": "number"},
            "born": {
                "type": "integer",
                "description": "unix time the lane's count began (0: unknown); a ticket issued "
                "before it is from a lost count and takes a new place",
            },
        },
    },
    "State": {
        "type": "object",
        "required": ["v", "gate", "at", "mode", "lanes", "poll_s"],
        "properties": {
            "v": {"type": "integer"},
            "gate": {"type": "string"},
            "at": {"type": "integer"},
            "mode": MODE,
            "degraded": {"type": "boolean"},
            "capacity": {"type": "integer"},
            "opening_at": {"type": ["integer", "null"]},
            "prequeue": {"type": "boolean"},
            "poll_s": {"type": "integer"},
            "lanes": {
                "type": "object",
                "additionalProperties": {"$ref": "#/components/schemas/LaneState"},
            },
        },
    },
    "TicketRequest": {
        "type": "object",
        "properties": {
            "grant": {"type": "string", "description": "lane grant token (staff, priority)"},
            "altcha": {"type": "string", "description": "ALTCHA solution payload when asked"},
            "rejoin": {"type": "boolean", "description": "drop a lapsed ticket and take a new one"},
        },
    },
    "Ticket": {
        "type": "object",
        "required": ["gate", "ticket", "lane", "number", "prequeue", "admitted"],
        "properties": {
            "gate": {"type": "string"},
            "ticket": {"type": "string"},
            "lane": LANE,
            "number": {"type": "integer"},
            "prequeue": {"type": "boolean"},
            "opening_at": {"type": ["integer", "null"]},
            "position": {"type": ["integer", "null"]},
            "wait_s": {"type": ["integer", "null"]},
            "expires": {"type": "integer"},
            "signed_in": {
                "type": "boolean",
                "description": "the ticket carries a signed-in person: one place on every device",
            },
            "appointment": {
                "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Appointment"}],
                "description": "a pupil early for class: come back then (no place, number 0)",
            },
            "admitted": {"type": "boolean"},
            "pass_expires": {"type": "integer"},
            "state_url": {"type": "string"},
            "redeem_url": {"type": "string"},
        },
    },
    "Appointment": {
        "type": "object",
        "required": ["starts_at", "come_back_at", "until", "lane"],
        "properties": {
            "starts_at": {"type": "integer", "description": "the class starts (unix seconds)"},
            "come_back_at": {
                "type": "integer",
                "description": "from then the place is kept: the ticket becomes a place in `lane`",
            },
            "until": {"type": "integer", "description": "the appointment holds until then"},
            "lane": LANE,
        },
    },
    "RedeemRequest": {
        "type": "object",
        "properties": {"ticket": {"type": ["string", "null"]}, "next": {"type": "string"}},
    },
    "Admitted": {
        "type": "object",
        "required": ["admitted", "lane", "expires"],
        "properties": {
            "admitted": {"const": True},
            "lane": LANE,
            "expires": {"type": "integer"},
            "next": {"type": "string"},
        },
    },
    "Policy": {
        "type": "object",
        "properties": {
            "mode": MODE,
            "capacity": {"type": "integer", "minimum": 0},
            "rate_per_min": {"type": "integer", "minimum": 0},
            "shares": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
            "safety_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "claim_window_s": {"type": "integer", "minimum": 10},
            "opening_at": {"type": "integer", "minimum": 0},
            "prequeue_s": {"type": "integer", "minimum": 0},
            "adaptive": {"type": "boolean"},
            "capacity_min": {"type": "integer", "minimum": 0},
            "capacity_max": {"type": "integer", "minimum": 0},
            "target_p95_ms": {"type": "number"},
            "target_error_rate": {"type": "number"},
        },
        "additionalProperties": False,
    },
}


def document(version: str) -> dict[str, Any]:
    doc = _document(version)
    wait = doc["paths"]["/gate/{gate}/wait"]
    wait["post"] = {
        **wait["get"],
        "summary": "The waiting page, posting a solved ALTCHA challenge (form field `altcha`)",
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": {"altcha": {"type": "string"}}}
                }
            },
        },
    }
    return doc


def _document(version: str) -> dict[str, Any]:
    gate = [_GATE]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "homeroom gate",
            "version": version,
            "description": "The national waiting room. See docs/api.md.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"operator": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/gate/{gate}/state": {
                "get": {
                    "summary": "Public state, the same for everyone (cacheable)",
                    "parameters": gate,
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/State"}),
                        "304": {"description": "not modified"},
                        **_err(404),
                    },
                }
            },
            "/gate/{gate}/ticket": {
                "post": {
                    "summary": "Take a ticket (or get back the one this browser holds)",
                    "parameters": gate,
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/TicketRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {"$ref": "#/components/schemas/Ticket"}, "the ticket already held"
                        ),
                        "201": _json({"$ref": "#/components/schemas/Ticket"}, "a new ticket"),
                        **_err(400, 403, 404, 410, 413, 429, 503),
                    },
                }
            },
            "/gate/{gate}/redeem": {
                "post": {
                    "summary": "Exchange an admitted ticket for a pass",
                    "parameters": gate,
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/RedeemRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Admitted"}),
                        **_err(400, 403, 404, 409, 410, 413, 425, 503),
                    },
                }
            },
            "/gate/{gate}/pass": {
                "get": {
                    "summary": "Check a pass (cookie or bearer)",
                    "parameters": gate,
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["valid"],
                                "properties": {
                                    "valid": {"const": True},
                                    "gate": {"type": "string"},
                                    "lane": LANE,
                                    "expires": {"type": "integer"},
                                },
                            }
                        ),
                        **_err(400, 403, 404, 410, 503),
                    },
                }
            },
            "/gate/{gate}/check": {
                "get": {
                    "summary": "The pass check for proxies (nginx auth_request, HAProxy)",
                    "description": "Reads the pass cookie hr_p_<gate> (or that of a gate sharing "
                    "passes with it) and hr_bid from the forwarded Cookie header, the asked URL "
                    "from X-Original-URI; answers from the pass's signature and expiry alone "
                    "(docs/gate.md#the-pass-check-for-proxies). HEAD answers the same, no body.",
                    "parameters": [
                        *gate,
                        {
                            "name": "X-Original-URI",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "204": {
                            "description": "a valid pass; renewed (Set-Cookie) once past the "
                            "gate's renew age",
                            "headers": {"Set-Cookie": {"schema": {"type": "string"}}},
                        },
                        "401": {
                            "description": "no valid pass: send the person to X-Homeroom-Wait",
                            "headers": {
                                "X-Homeroom-Wait": {
                                    "schema": {"type": "string"},
                                    "description": "/gate/{gate}/wait?next=<the asked path>",
                                }
                            },
                            "content": {"application/json": {"schema": _CHECK_REFUSED}},
                        },
                        "503": {
                            "description": "the gate is closed (maintenance)",
                            "headers": _RETRY_AFTER,
                            "content": {"application/json": {"schema": _CHECK_REFUSED}},
                        },
                        **_err(404),
                    },
                }
            },
            "/gate/{gate}/leave": {
                "post": {
                    "summary": "Give the pass back (logout)",
                    "description": "With the gate's store away the pass is kept by this "
                    "process and uncounted once the store is back: 202, cookies cleared.",
                    "parameters": gate,
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Left"}, "given back"),
                        "202": _json(
                            {"$ref": "#/components/schemas/Left"},
                            "accepted: uncounted once the store is back (`pending`)",
                        ),
                        **_err(404),
                    },
                }
            },
            "/gate/{gate}/challenge": {
                "get": {
                    "summary": "An ALTCHA proof-of-work challenge",
                    "parameters": gate,
                    "responses": {"200": _json({"type": "object"}), **_err(404)},
                }
            },
            "/gate/{gate}/wait": {
                "get": {
                    "summary": "The waiting page (HTML)",
                    "parameters": [
                        *gate,
                        {"name": "next", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "waiting page", "content": {"text/html": {}}},
                        "303": {"description": "admitted: to next"},
                        "503": {
                            "description": "closed, not open yet, or the store away "
                            "(`degraded`: the place is kept)",
                            "headers": _RETRY_AFTER,
                            "content": {"text/html": {}},
                        },
                        **_err(404),
                    },
                }
            },
            "/gate/{gate}/admin/status": {
                "get": {
                    "summary": "Counters and policy",
                    "security": _OPERATOR,
                    "parameters": gate,
                    "responses": {"200": _json({"type": "object"}), **_err(403, 404)},
                }
            },
            "/gate/{gate}/admin/policy": {
                "get": {
                    "summary": "The policy",
                    "security": _OPERATOR,
                    "parameters": gate,
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Policy"}),
                        **_err(403, 404),
                    },
                },
                "patch": {
                    "summary": "Change mode, capacity, rate, shares or schedule",
                    "security": _OPERATOR,
                    "parameters": gate,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Policy"}}
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Policy"}),
                        **_err(400, 403, 404, 413, 503),
                    },
                },
            },
            "/gate/{gate}/admin/health": {
                "post": {
                    "summary": "The protected app reports its health",
                    "security": _OPERATOR,
                    "parameters": gate,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["p95_ms", "error_rate"],
                                    "properties": {
                                        "p95_ms": {"type": "number"},
                                        "error_rate": {"type": "number"},
                                        "samples": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"type": "object"}),
                        **_err(400, 403, 404, 413, 503),
                    },
                }
            },
            "/gate/{gate}/admin/grant": {
                "post": {
                    "summary": "A lane grant for staff or priority people",
                    "security": _OPERATOR,
                    "parameters": gate,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["lane"],
                                    "properties": {"lane": LANE, "ttl_s": {"type": "integer"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["grant"],
                                "properties": {
                                    "grant": {"type": "string"},
                                    "lane": LANE,
                                    "expires": {"type": "integer"},
                                },
                            }
                        ),
                        **_err(400, 403, 404, 413),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "text exposition", "content": {"text/plain": {}}}
                    },
                }
            },
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": _json({"type": "object"})}}
            },
        },
    }

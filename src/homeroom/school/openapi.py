"""The school's part of the OpenAPI document served at /openapi.json (docs/api.md#school).

Written by hand next to the endpoints in school/api.py; the application merges `paths()` and
`schemas()` into the gate's document, and the schemathesis run checks answers against them.
"""

from __future__ import annotations

from typing import Any


def paths() -> dict[str, Any]:
    return {}


def schemas() -> dict[str, Any]:
    return {}

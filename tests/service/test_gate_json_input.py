"""The gate refuses JSON it cannot read safely with a 4xx, never a 500: a proof of work whose
payload nests deeper than Python's recursion, a body with a lone surrogate (core/clientjson.py)."""

from __future__ import annotations

import base64

from tests.service.conftest import Gate

JSON = {"accept": "application/json"}


async def test_a_deeply_nested_proof_of_work_is_refused_like_a_forged_one(gate: Gate) -> None:
    await gate.set_policy(mode="under_attack")
    deep = base64.b64encode(b"[" * 1500 + b"]" * 1500).decode()  # 4,000 characters
    async with gate.make_client() as client:
        refused = await client.post("/gate/national/ticket", headers=JSON, json={"altcha": deep})
        assert refused.status_code == 403
        assert refused.json()["error"] == "proof_of_work_required"


async def test_a_body_with_a_lone_surrogate_or_deep_nesting_is_400(gate: Gate) -> None:
    async with gate.make_client() as client:
        for content, error in (
            (b'{"grant": "\\ud800"}', "bad_text"),
            (b"[" * 3000 + b"]" * 3000, "malformed_json"),
        ):
            response = await client.post(
                "/gate/national/ticket",
                headers={**JSON, "content-type": "application/json"},
                content=content,
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"] == error
        assert (await client.post("/gate/national/ticket", headers=JSON)).status_code == 201

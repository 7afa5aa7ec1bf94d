"""Operator endpoints of the gate: status, policy (mode, capacity, rate, shares, schedule), health.

Every route needs `Authorization: Bearer <operator token>` (docs/api.md#operator).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.backends.gate import BackendUnavailable, bucket_now
from homeroom.core.adaptive import Health
from homeroom.core.policy import PolicyError
from homeroom.core.tokens import Kind
from homeroom.errors import BadRequest
from homeroom.gate.http import lane_of, operator_guard, policy_error
from homeroom.gate.runtime import HISTORY_MARGIN_S, GateRuntime
from homeroom.gate.service import Gatekeeper, degraded_error
from homeroom.web.http import read_body

GRANT_MAX_TTL_S = 30 * 86400


def status_of(rt: GateRuntime) -> dict[str, Any]:
    return {
        "gate": rt.gate_id,
        "policy": rt.policy.to_dict(),
        "capacity": rt.capacity,
        "active": rt.active,
        "degraded": rt.degraded,
        "controller": rt.stats.controller,
        "admitted_per_s": round(rt.stats.admitted_per_s, 3),
        "lanes": {
            lane.value: {
                "issued": c.issued,
                "horizon": c.horizon,
                "waiting": max(0, c.issued - c.horizon),
                "active": c.active,
                "prequeue": c.prequeue,
                "redeemed": c.redeemed,
            }
            for lane, c in rt.counters.items()
        },
    }


class AdminEndpoints:
    def __init__(self, keeper: Gatekeeper, operator_token: str) -> None:
        self.keeper = keeper
        self.token = operator_token
        self.limit = keeper.settings.max_body_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/gate/{gate}/admin/status", self.status, methods=["GET"]),
            Route("/gate/{gate}/admin/policy", self.policy, methods=["GET", "PATCH"]),
            Route("/gate/{gate}/admin/health", self.health, methods=["POST"]),
            Route("/gate/{gate}/admin/grant", self.grant, methods=["POST"]),
        ]

    def _runtime(self, request: Request) -> GateRuntime:
        operator_guard(request, self.token)
        return self.keeper.runtime(request.path_params["gate"])

    async def status(self, request: Request) -> Response:
        return JSONResponse(status_of(self._runtime(request)))

    async def policy(self, request: Request) -> Response:
        rt = self._runtime(request)
        if request.method == "GET":
            return JSONResponse(rt.policy.to_dict())
        changes = await read_body(request, self.limit)
        if "capacity" in changes and "adaptive" not in changes:
            changes["adaptive"] = False  # a capacity set by hand overrides adaptation
        try:
            current = await rt.store.get_policy(rt.gate_id) or rt.policy
            new = current.updated(changes)
            if new.opening_at != current.opening_at:
                await rt.store.reset_prequeue(rt.gate_id)
            await rt.store.set_policy(rt.gate_id, new)
            if not new.rules.instant:  # close the safety net's ceilings now, not at the next tick
                now = rt.clock()
                keep = new.claim_window_s + HISTORY_MARGIN_S
                await rt.store.advance(rt.gate_id, {}, {}, int(now), keep, bucket_now(now))
            await rt.refresh()
        except PolicyError as exc:
            raise policy_error(exc) from exc
        except BackendUnavailable as exc:
            raise degraded_error() from exc
        if "capacity" in changes:
            rt.capacity = new.capacity
        return JSONResponse(new.to_dict())

    async def health(self, request: Request) -> Response:
        rt = self._runtime(request)
        body = await read_body(request, self.limit)
        try:
            report = Health(
                float(body["p95_ms"]), float(body["error_rate"]), int(body.get("samples", 100))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(
                "bad_health", "Attendu : p95_ms, error_rate.", "Expected p95_ms and error_rate."
            ) from exc
        holder = f"app:{request.client.host if request.client else 'unknown'}"
        try:
            await rt.store.report_health(rt.gate_id, holder, report, 30)
        except BackendUnavailable as exc:
            raise degraded_error() from exc
        return JSONResponse({"recorded": True})

    async def grant(self, request: Request) -> Response:
        """A lane grant: a signed link for staff or priority people to take their own lane."""
        rt = self._runtime(request)
        body = await read_body(request, self.limit)
        lane = lane_of(str(body.get("lane", "")))
        ttl = body.get("ttl_s", 7 * 86400)
        if not isinstance(ttl, int) or not 60 <= ttl <= GRANT_MAX_TTL_S:
            raise BadRequest("bad_ttl", "Durée invalide.", f"ttl_s must be 60..{GRANT_MAX_TTL_S}.")
        text, token = rt.seal(Kind.GRANT, lane, 0, bytes(16), ttl)
        return Response(
            content=f'{{"grant":"{text}","lane":"{lane.value}","expires":{token.expires}}}',
            media_type="application/json",
        )

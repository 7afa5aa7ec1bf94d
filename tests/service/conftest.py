"""In-process gate app on the memory backend, with a clock the tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from homeroom.app import create_app
from homeroom.config import load_settings
from homeroom.gate.runtime import GateRuntime
from homeroom.gate.service import Gatekeeper
from homeroom.school.auth.passwords import PasswordParameters

CHEAP = PasswordParameters(1, 64, 1)  # argon2 at its cheapest: tests sign in many times

START = 1_790_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Gate:
    app: Any
    keeper: Gatekeeper
    clock: Clock
    token: str
    make_client: Callable[..., httpx.AsyncClient]

    @property
    def rt(self) -> GateRuntime:
        return self.keeper.gates["national"]

    def keeper_app_routes(self) -> list[Any]:
        """The Starlette routes under the protecting middleware."""
        routes: list[Any] = self.app.router.routes
        return routes

    async def tick(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)
        await self.rt.step()

    async def set_policy(self, **changes: Any) -> dict[str, Any]:
        async with self.make_client() as client:
            response = await client.patch(
                "/gate/national/admin/policy",
                json=changes,
                headers={"authorization": f"Bearer {self.token}"},
            )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def gate(settings_overrides: dict[str, Any], tmp_path: Path) -> AsyncIterator[Gate]:
    base: dict[str, Any] = {
        "mode": "queue",
        "tick_s": 5.0,
        "operator_token": "op-secret",
        "session_secret": "s" * 32,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'homeroom.db'}",
    }
    base.update(settings_overrides)
    settings = load_settings(**base)
    clock = Clock()
    app = create_app(settings, clock=clock, password_parameters=CHEAP)
    async with LifespanManager(app) as manager:
        keeper: Gatekeeper = app.keeper

        def make_client(**kw: Any) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=manager.app, client=("192.0.2.10", 4000))
            return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kw)

        yield Gate(app, keeper, clock, "op-secret", make_client)

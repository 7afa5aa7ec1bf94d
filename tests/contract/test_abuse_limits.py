"""Rate limits per address block: in process, and shared between processes through a real Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from homeroom.core.blocks import address_block
from homeroom.gate.abuse import Abuse, Verdict
from tests.redis_servers import ping

KEY = b"k" * 32


def test_address_blocks() -> None:
    assert address_block("203.0.113.77") == "203.0.113.0/24"
    assert address_block("203.0.113.1") == address_block("203.0.113.254")
    assert address_block("203.0.114.1") != address_block("203.0.113.1")
    assert address_block("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_block("::ffff:203.0.113.9") == "203.0.113.0/24"
    assert address_block("not an address") == "unknown"
    assert address_block(None) == "unknown"


async def test_in_process_hard_and_soft_limits() -> None:
    abuse = Abuse("async+memory://", "4/minute", "2/minute", KEY, 1000)
    verdicts = [(await abuse.check_ticket("b", False)).verdict for _ in range(6)]
    assert verdicts == [
        Verdict.OK,
        Verdict.OK,
        Verdict.PROOF_OF_WORK,
        Verdict.PROOF_OF_WORK,
        Verdict.LIMITED,
        Verdict.LIMITED,
    ]
    other = await abuse.check_ticket("other-block", False)
    assert other.verdict is Verdict.OK
    limited = await abuse.check_ticket("b", False)
    assert 1 <= limited.retry_after <= 60
    assert (await abuse.check_ticket("fresh", True)).verdict is Verdict.PROOF_OF_WORK


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    if not ping(6379):
        pytest.skip("no Redis on 127.0.0.1:6379 (make test starts one)")
    yield "async+redis://127.0.0.1:6379/0"


@pytest.mark.slow
async def test_two_processes_share_the_block_limit_through_redis(redis_url: str) -> None:
    block = f"198.51.100.0/24-{secrets.token_hex(4)}"  # a key no other run uses
    a = Abuse(redis_url, "10/minute", "100/minute", KEY, 1000)
    b = Abuse(redis_url, "10/minute", "100/minute", KEY, 1000)
    try:
        for _ in range(6):
            assert (await a.check_ticket(block, False)).verdict is Verdict.OK
            assert (await b.check_ticket(block, False)).verdict is Verdict.OK
        await a.flush()
        await b.flush()  # 12 > 10 in the shared window: b learns the block is over
        assert (await b.check_ticket(block, False)).verdict is Verdict.LIMITED
        await a.flush()  # a learns it from the shared count on its next flush
        await a.check_ticket(block, False)
        await a.flush()
        assert (await a.check_ticket(block, False)).verdict is Verdict.LIMITED
    finally:
        await a.aclose()
        await b.aclose()

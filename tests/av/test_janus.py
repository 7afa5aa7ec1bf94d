"""homeroom's Janus client against the real Janus (Debian's), on a configuration homeroom wrote.

Sessions kept past a short session timeout by keepalives, VideoRoom rooms behind the admin key,
the API secret enforced, only the VideoRoom and the WebSocket API loaded and listening on
127.0.0.1 alone, and a clear error when Janus is killed (docs/av.md#janus).
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest

from homeroom.av.client import JanusClient, JanusGone, Session, SessionGone
from homeroom.av.process import JanusProcess, JanusStartError, probe
from homeroom.core import janus
from homeroom.core import videoroom as vr
from homeroom.core.janus import JanusError, PluginError
from tests.janus_servers import janus_instance, settings
from tests.redis_servers import free_port

pytestmark = pytest.mark.slow

TIMEOUT_S = 2  # Janus's session timeout in these tests (its default is 60)


@pytest.fixture(scope="module")
def instance() -> Iterator[JanusProcess]:
    with janus_instance(session_timeout_s=TIMEOUT_S) as process:
        yield process


@pytest.fixture
async def client(instance: JanusProcess) -> AsyncIterator[JanusClient]:
    s = instance.settings
    async with await JanusClient.connect(s.url, s.api_secret) as c:
        yield c


def listening(pid: int) -> set[str]:
    """The TCP addresses process `pid` listens on (from `ss`)."""
    out = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return {row.split()[3] for row in out.splitlines() if f"pid={pid}," in row}


def test_only_the_videoroom_and_the_websocket_api_on_loopback(instance: JanusProcess) -> None:
    info = instance.info
    assert set(info["plugins"]) == {janus.VIDEOROOM}  # type: ignore[arg-type]
    assert set(info["transports"]) == {"janus.transport.websockets"}  # type: ignore[arg-type]
    assert info["events"] == {} and info["api_secret"] is True
    assert info["session-timeout"] == TIMEOUT_S
    assert instance.pid is not None
    # no HTTP API, no admin API: one TCP listener, on 127.0.0.1
    assert listening(instance.pid) == {f"127.0.0.1:{instance.settings.ws_port}"}
    # `ulimit -n` raised as far as the hard limit allows
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    wanted = instance.settings.nofile
    assert instance.nofile() == (wanted if hard == resource.RLIM_INFINITY else min(hard, wanted))


async def test_a_session_outlives_the_timeout_on_keepalives(client: JanusClient) -> None:
    # kept alive at the interval the client chooses from Janus's own session timeout
    assert await client.keepalive_interval() == TIMEOUT_S / 3
    kept = await client.create_session()
    # the control: no keepalive within the test; Janus times it out and says so
    left = await client.create_session(keepalive_s=3600)
    with pytest.raises(SessionGone, match=r"timed session \d+ out"):
        await left.next_event(timeout_s=TIMEOUT_S * 5)
    with pytest.raises(JanusError) as caught:
        await client.request("attach", left.id, plugin=janus.VIDEOROOM)
    assert caught.value.code == 458  # no such session
    # the kept one lived as long, and longer than the timeout: it still works
    assert kept.keepalives >= 1
    handle = await kept.attach()
    answer, _ = await handle.videoroom(vr.list_rooms())
    assert isinstance(answer, vr.Rooms)
    await kept.destroy()


async def session(client: JanusClient) -> Session:
    return await client.create_session(keepalive_s=TIMEOUT_S / 4)


async def test_a_room_is_made_listed_joined_and_destroyed(
    client: JanusClient, instance: JanusProcess
) -> None:
    key = instance.settings.admin_key
    handle = await (await session(client)).attach()
    made, _ = await handle.videoroom(vr.create(4101, key, publishers=3))
    assert made == vr.Created(4101)
    rooms, _ = await handle.videoroom(vr.list_rooms())
    assert isinstance(rooms, vr.Rooms) and 4101 in rooms.ids()
    assert (await handle.videoroom(vr.exists(4101)))[0] == vr.Exists(4101, True)
    joined, _ = await handle.videoroom(vr.join_publisher(4101, "teacher"))
    assert isinstance(joined, vr.Joined) and joined.room == 4101
    people, _ = await handle.videoroom(vr.participants(4101))
    assert isinstance(people, vr.Participants)
    assert [p["id"] for p in people.participants] == [joined.participant]
    gone, _ = await handle.videoroom(vr.destroy(4101))
    assert gone == vr.Destroyed(4101)
    # its participant is told, on its handle's events
    told = await handle.wait_for(lambda e: isinstance(e, janus.PluginEvent))
    assert isinstance(told, janus.PluginEvent)
    assert vr.answer(told.data) == vr.Destroyed(4101)
    assert (await handle.videoroom(vr.exists(4101)))[0] == vr.Exists(4101, False)


async def test_creating_a_room_needs_the_admin_key(
    client: JanusClient, instance: JanusProcess
) -> None:
    handle = await (await session(client)).attach()
    body = vr.create(4102, "not-the-admin-key-0123")
    del body["admin_key"]
    with pytest.raises(PluginError) as missing:
        await handle.videoroom(body)
    assert missing.value.code == 429 and "admin_key" in missing.value.reason
    with pytest.raises(PluginError) as wrong:
        await handle.videoroom(vr.create(4102, "not-the-admin-key-0123"))
    assert wrong.value.code == 433
    assert (await handle.videoroom(vr.exists(4102)))[0] == vr.Exists(4102, False)
    # a private room is listed only to the admin key
    await handle.videoroom(vr.create(4103, instance.settings.admin_key, is_private=True))
    public, _ = await handle.videoroom(vr.list_rooms())
    everything, _ = await handle.videoroom(vr.list_rooms(instance.settings.admin_key))
    assert isinstance(public, vr.Rooms) and isinstance(everything, vr.Rooms)
    assert 4103 not in public.ids() and 4103 in everything.ids()
    await handle.videoroom(vr.destroy(4103))


@pytest.mark.parametrize("secret", [None, "wrong-secret-0123456789"])
async def test_a_missing_or_wrong_api_secret_is_refused(
    instance: JanusProcess, secret: str | None
) -> None:
    async with await JanusClient.connect(instance.settings.url, secret) as c:
        with pytest.raises(JanusError) as caught:
            await c.create_session()
        assert caught.value.code == 403
        # `info` needs no secret (Janus's choice): it says what runs, never a session
        assert (await c.info())["api_secret"] is True


async def test_janus_killed_the_client_says_so() -> None:
    with janus_instance(session_timeout_s=TIMEOUT_S) as process:
        s = process.settings
        c = await JanusClient.connect(s.url, s.api_secret)
        kept = await c.create_session(keepalive_s=TIMEOUT_S / 4)
        handle = await kept.attach()
        waiting = asyncio.create_task(handle.next_event(timeout_s=30))
        process.kill()
        with pytest.raises(JanusGone, match=rf"Janus at ws://127\.0\.0\.1:{s.ws_port} went away"):
            await waiting
        assert c.gone is not None
        with pytest.raises(JanusGone):
            await handle.videoroom(vr.list_rooms())
        with pytest.raises(JanusGone):
            await kept.attach()
        with pytest.raises(JanusGone):
            await c.create_session()
        await c.close()  # closing a dead connection is quiet
        assert probe(s) is None


async def test_no_janus_there_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(JanusGone, match=rf"cannot reach Janus at ws://127\.0\.0\.1:{port}"):
        await JanusClient.connect(f"ws://127.0.0.1:{port}", "s" * 20, timeout_s=2)


def test_a_janus_that_cannot_start_says_why(instance: JanusProcess) -> None:
    """Its port taken (by the running instance): Janus exits, and the error carries its log."""
    twin = JanusProcess(settings(ws_port=instance.settings.ws_port))
    try:
        with pytest.raises(JanusStartError, match=r"Janus exited with \d+ \(log .*janus\.log\)"):
            twin.start(timeout_s=10)
        assert not twin.running()
        # the running one was not mistaken for the twin: its secret is not the twin's
        assert probe(twin.settings) is None and probe(instance.settings) is not None
    finally:
        shutil.rmtree(twin.settings.folder, ignore_errors=True)

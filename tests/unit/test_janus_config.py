"""Janus's configuration as homeroom writes it (homeroom.av.janusconfig): locked, and only what is needed loaded.

The real Janus reads these files in tests/av/test_janus.py; here, what they say."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest

from homeroom.av import janusconfig as jc
from homeroom.av.janusconfig import Installed, JanusConfigError, JanusSettings

INSTALLED = Installed(
    Path("/usr/lib/x86_64-linux-gnu/janus"),
    {
        "plugins": ("libjanus_audiobridge.so", "libjanus_streaming.so", "libjanus_videoroom.so"),
        "transports": ("libjanus_http.so", "libjanus_pfunix.so", "libjanus_websockets.so"),
        "events": ("libjanus_sampleevh.so", "libjanus_wsevh.so"),
        "loggers": ("libjanus_jsonlog.so",),
    },
)


def settings(**changes: Any) -> JanusSettings:
    values: dict[str, Any] = {
        "folder": Path("/tmp/janus-test"),
        "api_secret": "api-secret-0123456789",
        "admin_key": "admin-key-0123456789",
        "ws_port": 18188,
    }
    return JanusSettings(**{**values, **changes})


def setting(text: str, name: str) -> str | None:
    """The value of `name = ...` in a jcfg text (the last one), without its quotes."""
    found = re.findall(rf"^\s*{re.escape(name)} = (.*)$", text, re.MULTILINE)
    return found[-1].strip('"') if found else None


def disabled(text: str, section: str) -> set[str]:
    body = re.search(rf"^{section}: \{{(.*?)^\}}", text, re.MULTILINE | re.DOTALL)
    assert body is not None, section
    value = setting(body.group(1), "disable")
    return set(value.split(",")) if value else set()


def test_the_api_is_locked_and_on_loopback() -> None:
    files = jc.render(settings(), INSTALLED)
    core, ws, room = files[jc.CONFIG], files[jc.WEBSOCKETS], files[jc.VIDEOROOM]
    assert setting(core, "api_secret") == "api-secret-0123456789"
    assert setting(core, "token_auth") == "false"
    assert setting(room, "admin_key") == "admin-key-0123456789"
    assert setting(room, "lock_rtp_forward") == "true"
    assert setting(ws, "ws_ip") == "127.0.0.1" and setting(ws, "ws_port") == "18188"
    assert setting(ws, "wss") == "false"
    assert setting(ws, "admin_ws") == "false"
    assert setting(core, "admin_secret") is None  # no admin API, no admin secret
    assert settings().url == "ws://127.0.0.1:18188" and settings().admin_url is None


def test_the_admin_api_when_asked_is_on_127_0_0_1_behind_its_secret() -> None:
    s = settings(admin_ws_port=17188, admin_secret="admin-secret-0123456")
    files = jc.render(s, INSTALLED)
    ws = files[jc.WEBSOCKETS]
    assert setting(ws, "admin_ws") == "true" and setting(ws, "admin_ws_port") == "17188"
    assert setting(ws, "admin_ws_ip") == "127.0.0.1"
    assert setting(files[jc.CONFIG], "admin_secret") == "admin-secret-0123456"
    assert s.admin_url == "ws://127.0.0.1:17188"


def test_only_the_videoroom_and_the_websocket_transport_are_loaded() -> None:
    core = jc.render(settings(), INSTALLED)[jc.CONFIG]
    assert disabled(core, "plugins") == {"libjanus_audiobridge.so", "libjanus_streaming.so"}
    assert disabled(core, "transports") == {"libjanus_http.so", "libjanus_pfunix.so"}
    assert disabled(core, "events") == {"libjanus_sampleevh.so", "libjanus_wsevh.so"}
    assert disabled(core, "loggers") == {"libjanus_jsonlog.so"}
    assert setting(core, "plugins_folder") == "/usr/lib/x86_64-linux-gnu/janus/plugins"


def test_media_sessions_and_ice() -> None:
    s = settings(
        rtp_ports=(42000, 42999),
        ice_enforce_list=("hr-janus0",),
        session_timeout_s=3,
        event_loops=2,
    )
    core = jc.render(s, INSTALLED)[jc.CONFIG]
    assert setting(core, "rtp_port_range") == "42000-42999"
    assert setting(core, "ice_enforce_list") == "hr-janus0"
    assert setting(core, "session_timeout") == "3"
    assert setting(core, "reclaim_session_timeout") == "0"
    assert setting(core, "event_loops") == "2"
    assert setting(core, "slowlink_threshold") == "4"
    assert setting(jc.render(settings(), INSTALLED)[jc.CONFIG], "ice_enforce_list") is None


def test_every_line_is_a_comment_a_section_or_a_setting() -> None:
    """libconfig's syntax as Janus reads it: nothing else slips in (a secret with a quote, a
    newline in a path); the e2e test has the real Janus read the files."""
    line = re.compile(
        r'^(#.*|[a-z]+: \{|\}|    (#.*|[a-z_0-9]+ = ("[^"\n]*"|\d+|true|false|\[.*\])))$'
    )
    s = settings(admin_ws_port=17188, admin_secret="admin-secret-0123456", ice_enforce_list=("a",))
    for name, text in jc.render(s, INSTALLED).items():
        for n, row in enumerate(text.splitlines(), 1):
            assert line.match(row), f"{name}:{n}: {row!r}"


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"api_secret": "short"}, "api_secret"),
        ({"api_secret": 'has"quote-0123456789'}, "api_secret"),
        ({"admin_key": "x" * 15}, "admin_key"),
        ({"admin_key": "new\nline-0123456789"}, "admin_key"),
        ({"ws_port": 0}, "ws_port"),
        ({"ws_port": 70000}, "ws_port"),
        ({"ws_ip": "0.0.0.300"}, "ws_ip"),
        ({"ws_ip": "localhost"}, "ws_ip"),
        ({"admin_ws_port": 17188}, "admin_secret"),
        ({"admin_ws_port": 18188, "admin_secret": "a" * 20}, "admin_ws_port"),
        ({"rtp_ports": (40000, 40000)}, "rtp_ports"),
        ({"rtp_ports": (40000, 70000)}, "rtp_ports"),
        ({"ice_enforce_list": ("veth0,eth0",)}, "ice_enforce_list"),
        ({"ice_enforce_list": ('x"',)}, "ice_enforce_list"),
        ({"session_timeout_s": -1}, "session_timeout_s"),
        ({"nofile": 10}, "nofile"),
        ({"slowlink_threshold": -1}, "slowlink_threshold"),
        ({"event_loops": 1000}, "event_loops"),
        ({"debug_level": 9}, "debug_level"),
        ({"server_name": "my janus"}, "server_name"),
        ({"folder": Path('/tmp/a"b')}, "folder"),
    ],
)
def test_a_bad_setting_is_refused_by_name(changes: dict[str, Any], names: str) -> None:
    with pytest.raises(JanusConfigError, match=names):
        settings(**changes)


def test_the_files_are_written_for_the_owner_only(tmp_path: Path) -> None:
    s = settings(folder=tmp_path / "janus")
    path = jc.write(s, INSTALLED)
    assert path == tmp_path / "janus" / jc.CONFIG
    assert stat.S_IMODE((tmp_path / "janus").stat().st_mode) == 0o700
    for name in (jc.CONFIG, jc.WEBSOCKETS, jc.VIDEOROOM):
        assert stat.S_IMODE((tmp_path / "janus" / name).stat().st_mode) == 0o600


def test_janus_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JanusConfigError, match="scripts/need janus"):
        jc.find_installed((str(tmp_path),))


def test_the_installed_modules_are_found(tmp_path: Path) -> None:
    for kind, names in INSTALLED.modules.items():
        (tmp_path / kind).mkdir()
        for name in names:
            (tmp_path / kind / name).touch()
    (tmp_path / "plugins" / "libjanus_videoroom.so.1").touch()  # versioned links: not modules
    found = jc.find_installed((str(tmp_path / "nowhere"), str(tmp_path)))
    assert found == Installed(tmp_path, INSTALLED.modules)

"""The workspace configurations: what `homeroom workspace` prints, and the copies kept in deploy/.

The files in deploy/ are the renderer's output for its example (so a change of a template is
seen in review), every value is checked before it goes into a configuration, and the static
path setting makes pages link homeroom's files where the proxy sends them.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from homeroom.config import ConfigError, load_settings
from homeroom.deploy import workspace
from homeroom.web import pages
from tests.gate_process import ROOT

KEPT = {
    "nginx": ROOT / "deploy" / "nginx" / "workspace.conf",
    "haproxy": ROOT / "deploy" / "haproxy" / "workspace.cfg",
    "lua": ROOT / "deploy" / "haproxy" / "homeroom-check.lua",
}
HOMEROOM = [sys.executable, "-m", "homeroom", "workspace"]
RENDER = {"nginx": workspace.nginx, "haproxy": workspace.haproxy, "lua": workspace.lua}


@pytest.mark.parametrize("kind", sorted(KEPT))
def test_deploy_holds_the_renderers_example(kind: str) -> None:
    again = (
        f"{sys.executable} -m homeroom workspace {kind} --gate ent-normandie "
        f"--workspace 10.0.0.20:8080 > {KEPT[kind].relative_to(ROOT)}"
    )
    assert KEPT[kind].read_text() == RENDER[kind](workspace.EXAMPLE), f"run: {again}"


def test_the_command_prints_the_same() -> None:
    printed = subprocess.run(
        [*HOMEROOM, "nginx", "--gate", "ent-normandie", "--workspace", "10.0.0.20:8080"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == workspace.nginx(workspace.EXAMPLE)


def test_the_values_are_where_they_belong() -> None:
    site = dataclasses.replace(workspace.EXAMPLE, listen="127.0.0.1:8443", health="/status")
    conf = workspace.nginx(site)
    assert "proxy_pass http://hr_homeroom_ent_normandie/gate/ent-normandie/check;" in conf
    assert "listen 127.0.0.1:8443;" in conf
    assert "location = /status {" in conf
    assert "location /static/ {" in conf
    cfg = workspace.haproxy(site)
    assert "http-request lua.homeroom_check ent-normandie 127.0.0.1:8000" in cfg
    assert "lua-load /etc/haproxy/homeroom-check.lua" in cfg
    assert "acl ws_open path /status" in cfg


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gate", "ENT normandie"),
        ("gate", "ent;"),
        ("workspace", "10.0.0.20"),
        ("workspace", "10.0.0.20:80; evil"),
        ("homeroom", "http://10.0.0.10:8000"),
        ("listen", "80 ssl; include /etc/passwd"),
        ("server_name", "ent.example.fr;"),
        ("assets", "static/"),
        ("assets", "/"),
        ("assets", "/gate/static/"),
        ("health", "/health;"),
        ("health", "/health {"),
        ("lua_path", "check.lua"),
    ],
)
def test_a_bad_value_is_refused_by_name(field: str, value: str) -> None:
    with pytest.raises(workspace.WorkspaceError, match=f"workspace {field}: "):
        dataclasses.replace(workspace.EXAMPLE, **{field: value})


def test_the_command_says_what_is_wrong_without_a_traceback() -> None:
    done = subprocess.run(
        [*HOMEROOM, "haproxy", "--gate", "ent", "--workspace", "no-port"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == "homeroom workspace: workspace workspace: 'no-port' is not host:port\n"


def test_pages_link_homerooms_files_under_the_static_path() -> None:
    try:
        pages.use_static_path("/gate/static")
        assert pages.static_url("gate.js") == f"/gate/static/gate.js?v={pages.static_version()}"
    finally:
        pages.use_static_path("/static")
    assert pages.static_url("gate.js") == f"/static/gate.js?v={pages.static_version()}"


@pytest.mark.parametrize("value", ["gate/static", "/gate/static/", "/", "/a b", "/x?y"])
def test_a_bad_static_path_is_refused(value: str) -> None:
    with pytest.raises((ConfigError, ValueError), match="HOMEROOM_STATIC_PATH"):
        load_settings(static_path=value)

"""nginx and HAProxy configurations that put a gate in front of a workspace homeroom does not own (docs/operations.md#in-front-of-a-workspace).

`Workspace` says what an operator knows (the workspace's address and host name, the gate's
name, where homeroom runs, the workspace's own files and health URL); `nginx()`, `haproxy()`
and `lua()` fill the templates of `deploy/templates/` with it. `homeroom workspace nginx|haproxy|lua`
prints them; the tests run them in real nginx and HAProxy. The files in the repository's
`deploy/nginx/workspace.conf`, `deploy/haproxy/workspace.cfg` and `deploy/haproxy/homeroom-check.lua`
are these functions' output for `EXAMPLE` (tests/unit/test_deploy_workspace.py keeps them so).
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass

GATE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")  # as HOMEROOM_GATES accepts them
ADDRESS = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9.-]+$")
URL_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
LISTEN = re.compile(r"^(?:[A-Za-z0-9.-]+:|\[[0-9A-Fa-f:.]+\]:)?[0-9]{1,5}$")
PLACEHOLDER = re.compile(r"@[A-Z_]+@")


class WorkspaceError(ValueError):
    """A value that cannot go into a configuration: the message names it."""


@dataclass(frozen=True, slots=True)
class Workspace:
    """One protected workspace: what the templates need, each value checked."""

    gate: str  # the gate of HOMEROOM_GATES that guards it
    workspace: str  # host:port of the workspace as it runs today
    homeroom: str = "127.0.0.1:8000"  # host:port of `homeroom run`
    listen: str = "80"  # where the proxy listens: port, or address:port
    server_name: str = "ent.example.fr"  # the workspace's public host name
    assets: str = "/static/"  # the workspace's own files: left unprotected
    health: str = "/health"  # the workspace's health URL: left unprotected
    lua_path: str = "/etc/haproxy/homeroom-check.lua"  # where HAProxy finds lua()'s file

    def __post_init__(self) -> None:
        checks = [
            ("gate", self.gate, GATE_NAME, "a gate name (a-z, 0-9, -)"),
            ("workspace", self.workspace, ADDRESS, "host:port"),
            ("homeroom", self.homeroom, ADDRESS, "host:port"),
            ("listen", self.listen, LISTEN, "port or address:port"),
            ("server_name", self.server_name, HOST_NAME, "a host name"),
            ("assets", self.assets, URL_PATH, "a path starting with /"),
            ("health", self.health, URL_PATH, "a path starting with /"),
            ("lua_path", self.lua_path, URL_PATH, "an absolute file path"),
        ]
        for name, value, pattern, what in checks:
            if not pattern.match(value):
                raise WorkspaceError(f"workspace {name}: {value!r} is not {what}")
        for name, value in (("assets", self.assets), ("health", self.health)):
            if value == "/" or value.startswith("/gate/") or value == "/gate":
                raise WorkspaceError(
                    f"workspace {name}: {value!r} would leave the workspace or homeroom's "
                    "/gate/ unprotected or hidden"
                )

    @property
    def name(self) -> str:
        """The gate's name as nginx and HAProxy identifiers accept it."""
        return self.gate.replace("-", "_")

    def values(self) -> dict[str, str]:
        return {
            "@GATE@": self.gate,
            "@NAME@": self.name,
            "@WORKSPACE@": self.workspace,
            "@HOMEROOM@": self.homeroom,
            "@LISTEN@": self.listen,
            "@SERVER_NAME@": self.server_name,
            "@ASSETS@": self.assets,
            "@HEALTH@": self.health,
            "@LUA@": self.lua_path,
        }


EXAMPLE = Workspace(gate="ent-normandie", workspace="10.0.0.20:8080")


def _fill(template: str, workspace: Workspace) -> str:
    text = (importlib.resources.files("homeroom.deploy") / "templates" / template).read_text()
    for key, value in workspace.values().items():
        text = text.replace(key, value)
    left = PLACEHOLDER.findall(text)
    if left:  # a template names something Workspace does not give
        raise WorkspaceError(f"{template}: unfilled {sorted(set(left))}")
    return text


def nginx(workspace: Workspace) -> str:
    """A server block for nginx's conf.d/ (docs/operations.md#in-front-of-a-workspace)."""
    return _fill("workspace.nginx.conf", workspace)


def haproxy(workspace: Workspace) -> str:
    """A whole haproxy.cfg (docs/operations.md#in-front-of-a-workspace)."""
    return _fill("workspace.haproxy.cfg", workspace)


def lua(workspace: Workspace) -> str:
    """The Lua file haproxy() loads; it is the same for every workspace."""
    return _fill("workspace.check.lua", workspace)

"""Janus's configuration for one instance, written by homeroom into a folder of its own (docs/av.md#janus).

`render(settings, installed)` is the whole configuration, three files, commented line by line:
`janus.jcfg` (the core: secrets, sessions, media ports, ICE, what is loaded),
`janus.transport.websockets.jcfg` (the one API homeroom's live side talks to) and
`janus.plugin.videoroom.jcfg` (the SFU; rooms are created through the API, behind `admin_key`).
`write(settings)` puts them in `settings.folder`, disabling every plugin, transport, event
handler and logger the package installed but the instance does not need: a Janus upgrade that
brings a new plugin does not load it here.

Locked: every request needs `api_secret`, creating a room needs `admin_key`, the API listens on
127.0.0.1 unless told otherwise, the admin API is off unless a port is given (and then on
127.0.0.1 only, behind its own secret), no HTTP or other transport is loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONFIG = "janus.jcfg"
WEBSOCKETS = "janus.transport.websockets.jcfg"
VIDEOROOM = "janus.plugin.videoroom.jcfg"

PLUGIN = "libjanus_videoroom.so"  # the only plugin loaded
TRANSPORT = "libjanus_websockets.so"  # the only transport loaded
KINDS = ("plugins", "transports", "events", "loggers")
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu/janus", "/usr/lib/aarch64-linux-gnu/janus", "/usr/lib/janus")

# Folders Janus refuses to write a recording into (recording is off, but a room created with
# `record` and `rec_dir` would write there: refused below these).
PROTECTED = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/proc",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
)

_SECRET = re.compile(r"[A-Za-z0-9._~+/=-]{16,200}")
_NAME = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_IPV4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


class JanusConfigError(ValueError):
    """A setting Janus would misread or that would unlock it; the message names the setting."""


@dataclass(frozen=True, slots=True)
class JanusSettings:
    """One instance. Ports are TCP for the APIs, UDP for media; secrets are random strings of
    at least 16 characters (`secrets.token_urlsafe()`)."""

    folder: Path
    api_secret: str
    admin_key: str
    ws_port: int
    ws_ip: str = "127.0.0.1"
    admin_ws_port: int | None = None  # None: the admin API is not served at all
    admin_secret: str | None = None
    rtp_ports: tuple[int, int] = (20_000, 40_000)
    ice_enforce_list: tuple[str, ...] = ()  # interface names or address prefixes; () = all
    session_timeout_s: int = 60
    nofile: int = 65_536  # `ulimit -n` of the process: ~4 files a PeerConnection, plus threads
    slowlink_threshold: int = 4  # lost packets a second that make a `slowlink` event (0 = off)
    event_loops: int = 0  # 0: a thread a handle (Janus's default); n: n shared loops
    debug_level: int = 4
    server_name: str = "homeroom"

    def __post_init__(self) -> None:
        _check_secret("api_secret", self.api_secret)
        _check_secret("admin_key", self.admin_key)
        _check_port("ws_port", self.ws_port)
        _check_ipv4("ws_ip", self.ws_ip)
        if self.admin_ws_port is not None:
            _check_port("admin_ws_port", self.admin_ws_port)
            if self.admin_secret is None:
                raise JanusConfigError("admin_secret: needed when admin_ws_port is set")
            _check_secret("admin_secret", self.admin_secret)
            if self.admin_ws_port == self.ws_port:
                raise JanusConfigError("admin_ws_port: the same as ws_port")
        low, high = self.rtp_ports
        _check_port("rtp_ports", low)
        _check_port("rtp_ports", high)
        if high - low < 1:
            raise JanusConfigError(f"rtp_ports: {low}-{high} is not a range (low < high)")
        for name in self.ice_enforce_list:
            if not _NAME.fullmatch(name):
                raise JanusConfigError(f"ice_enforce_list: {name!r} is not an interface name")
        if not 0 <= self.session_timeout_s <= 86_400:
            raise JanusConfigError("session_timeout_s: between 0 (never) and 86400")
        if not 1_024 <= self.nofile <= 1_048_576:
            raise JanusConfigError("nofile: between 1024 and 1048576")
        if not 0 <= self.slowlink_threshold <= 1_000:
            raise JanusConfigError("slowlink_threshold: between 0 (off) and 1000")
        if not 0 <= self.event_loops <= 256:
            raise JanusConfigError("event_loops: between 0 (a thread a handle) and 256")
        if not 0 <= self.debug_level <= 7:
            raise JanusConfigError("debug_level: between 0 and 7")
        if not _NAME.fullmatch(self.server_name):
            raise JanusConfigError(f"server_name: {self.server_name!r} (letters, digits, ._:-)")
        _check_path("folder", self.folder)

    @property
    def url(self) -> str:
        """The WebSocket API's address, for homeroom's client."""
        return f"ws://{self.ws_ip}:{self.ws_port}"

    @property
    def admin_url(self) -> str | None:
        return None if self.admin_ws_port is None else f"ws://127.0.0.1:{self.admin_ws_port}"


@dataclass(frozen=True, slots=True)
class Installed:
    """What the Janus package installed: its library folder and the modules of each kind."""

    lib_dir: Path
    modules: dict[str, tuple[str, ...]]  # kind (KINDS) → file names (libjanus_*.so)


def _check_secret(name: str, value: str) -> None:
    if not _SECRET.fullmatch(value):
        raise JanusConfigError(
            f"{name}: 16 to 200 characters of letters, digits and ._~+/=- (got {len(value)})"
        )


def _check_port(name: str, port: int) -> None:
    if not 1 <= port <= 65_535:
        raise JanusConfigError(f"{name}: {port} is not a port (1-65535)")


def _check_ipv4(name: str, address: str) -> None:
    found = _IPV4.fullmatch(address)
    if found is None or any(int(part) > 255 for part in found.groups()):
        raise JanusConfigError(f"{name}: {address!r} is not an IPv4 address")


def _check_path(name: str, path: Path) -> None:
    if any(c in str(path) for c in '"\\\n\r\0'):
        raise JanusConfigError(f"{name}: {str(path)!r} holds a quote, backslash or newline")


def find_installed(lib_dirs: tuple[str, ...] = LIB_DIRS) -> Installed:
    """The Janus package's modules, found on this machine; a clear error if it is missing."""
    for candidate in lib_dirs:
        lib_dir = Path(candidate)
        if (lib_dir / "plugins" / PLUGIN).exists():
            modules = {
                kind: tuple(sorted(p.name for p in (lib_dir / kind).glob("libjanus_*.so")))
                for kind in KINDS
            }
            if TRANSPORT not in modules["transports"]:
                raise JanusConfigError(f"{lib_dir}: Janus has no {TRANSPORT}")
            return Installed(lib_dir, modules)
    raise JanusConfigError(
        f"Janus's VideoRoom plugin not found under {', '.join(lib_dirs)}: "
        "install Debian's `janus` (scripts/need janus)"
    )


def _disable(installed: Installed, kind: str, keep: str | None) -> str:
    return ",".join(m for m in installed.modules.get(kind, ()) if m != keep)


def _core(s: JanusSettings, installed: Installed) -> list[str]:
    lib = installed.lib_dir
    low, high = s.rtp_ports
    protected = ", ".join(f'"{p}"' for p in PROTECTED)
    enforce = ",".join(s.ice_enforce_list)
    lines = [
        "# Written by homeroom (homeroom.av.janusconfig): edits are lost when it writes again.",
        "general: {",
        f'    configs_folder = "{s.folder}"',
        f'    plugins_folder = "{lib}/plugins"',
        f'    transports_folder = "{lib}/transports"',
        f'    events_folder = "{lib}/events"',
        f'    loggers_folder = "{lib}/loggers"',
        f"    debug_level = {s.debug_level}",
        "    debug_colors = false",
        f'    server_name = "{s.server_name}"',
        "    # every request of the Janus API carries this: only homeroom's live side knows it;",
        "    # browsers never talk to Janus's API (docs/av.md)",
        f'    api_secret = "{s.api_secret}"',
        "    # no tokens: the live side is the one client, and it holds the secret",
        "    token_auth = false",
    ]
    if s.admin_secret is not None:
        lines += ["    # the admin API's own secret (its transport listens on 127.0.0.1 only)"]
        lines += [f'    admin_secret = "{s.admin_secret}"']
    lines += [
        "    # a session without a request or keepalive for this long is destroyed, with its",
        "    # handles and PeerConnections; homeroom's client sends a keepalive well within it",
        f"    session_timeout = {s.session_timeout_s}",
        "    # a session whose transport closed is gone at once: homeroom makes new ones",
        "    reclaim_session_timeout = 0",
    ]
    if s.event_loops:
        lines += [
            "    # handles share this many event loops instead of a thread each",
            f"    event_loops = {s.event_loops}",
        ]
    lines += [
        "    # a room's recording folder may not be below these",
        f"    protected_folders = [{protected}]",
        "}",
        "certificates: {",
        "    # no files: Janus makes a DTLS certificate of its own at each start",
        "}",
        "media: {",
        "    # UDP ports of the PeerConnections (one a PeerConnection with bundle and rtcp-mux)",
        f'    rtp_port_range = "{low}-{high}"',
        "    # a `media` event after 1 s without packets: a publisher's camera or line stopped",
        "    no_media_timer = 1",
        "    # a `slowlink` event when this many packets a second are lost: an input of the ladder",
        f"    slowlink_threshold = {s.slowlink_threshold}",
        "}",
        "nat: {",
        "    nice_debug = false",
        "    # half-trickle: Janus's candidates go in its answer, the browser's trickle in",
        "    full_trickle = false",
    ]
    if enforce:
        lines += [
            "    # the only interfaces gathered for ICE (the veth in tests, the media network",
            "    # in a deployment); loopback is never used by Janus anyway",
            f'    ice_enforce_list = "{enforce}"',
        ]
    lines += [
        "}",
        "# everything the package installed but the VideoRoom and the WebSocket transport is off",
        "plugins: {",
        f'    disable = "{_disable(installed, "plugins", PLUGIN)}"',
        "}",
        "transports: {",
        f'    disable = "{_disable(installed, "transports", TRANSPORT)}"',
        "}",
        "loggers: {",
        f'    disable = "{_disable(installed, "loggers", None)}"',
        "}",
        "events: {",
        "    broadcast = false",
        f'    disable = "{_disable(installed, "events", None)}"',
        "}",
    ]
    return lines


def _websockets(s: JanusSettings) -> list[str]:
    lines = [
        "# Written by homeroom (homeroom.av.janusconfig): the one API homeroom talks to.",
        "general: {",
        "    # notify no event handler (none is loaded)",
        "    events = false",
        "    # one JSON object a line, not indented: fewer bytes to send and parse",
        '    json = "plain"',
        "    ws = true",
        f"    ws_port = {s.ws_port}",
        "    # the address homeroom's live side reaches; never a public one",
        f'    ws_ip = "{s.ws_ip}"',
        "    # no TLS: the API stays on a private address (127.0.0.1 here)",
        "    wss = false",
        '    ws_logging = "err,warn"',
        "}",
        "admin: {",
    ]
    if s.admin_ws_port is None:
        lines += ["    # the admin API is not served", "    admin_ws = false"]
    else:
        lines += [
            "    # the admin API, on 127.0.0.1 only and behind admin_secret",
            "    admin_ws = true",
            f"    admin_ws_port = {s.admin_ws_port}",
            '    admin_ws_ip = "127.0.0.1"',
            '    admin_ws_acl = "127.0.0.1"',
        ]
    return [*lines, "    admin_wss = false", "}"]


def _videoroom(s: JanusSettings) -> list[str]:
    return [
        "# Written by homeroom (homeroom.av.janusconfig): no room here, all made through the API.",
        "general: {",
        "    # creating a room needs this key as well as api_secret: homeroom's live side alone",
        f'    admin_key = "{s.admin_key}"',
        "    # and so does forwarding a room's RTP elsewhere",
        "    lock_rtp_forward = true",
        "    # no event handler is loaded",
        "    events = false",
        "    # rooms and participants are numbers (homeroom maps its own ids to them)",
        "    string_ids = false",
        "}",
    ]


def render(settings: JanusSettings, installed: Installed) -> dict[str, str]:
    """The three files, by name."""
    return {
        CONFIG: "\n".join(_core(settings, installed)) + "\n",
        WEBSOCKETS: "\n".join(_websockets(settings)) + "\n",
        VIDEOROOM: "\n".join(_videoroom(settings)) + "\n",
    }


def write(settings: JanusSettings, installed: Installed | None = None) -> Path:
    """Write the files into `settings.folder` (created, mode 0700: they hold secrets); return
    the path of `janus.jcfg`."""
    installed = installed or find_installed()
    settings.folder.mkdir(parents=True, exist_ok=True)
    settings.folder.chmod(0o700)
    for name, text in render(settings, installed).items():
        path = settings.folder / name
        path.write_text(text)
        path.chmod(0o600)
    return settings.folder / CONFIG

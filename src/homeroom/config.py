"""The one typed configuration of homeroom, read from HOMEROOM_* variables (docs/configuration.md).

Validated at start-up: a bad value stops the program with a message naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from homeroom.core.ladder import LOAD_LIMITS
from homeroom.core.lanes import Lane
from homeroom.core.policy import GatePolicy, Mode, PolicyError
from homeroom.core.tokens import KeyRing

BACKEND_SCHEMES = ("memory://", "redis://", "redis+cluster://")
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class ConfigError(Exception):
    """A setting is wrong; the message names the HOMEROOM_* variable."""


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEROOM_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    public_origin: str = ""  # e.g. https://classe.example.fr; empty = same origin as requested
    secure_cookies: bool = False  # derived from public_origin unless set: see the block below
    log_level: str = "info"

    backend_url: str = "memory://"
    ratelimit_url: str = ""  # limits storage URL; empty = memory:// or the Redis of backend_url
    gates: Annotated[list[str], NoDecode] = ["national"]
    # "[METHOD ]/prefix=gate": sign-in and sign-up sit behind the gate, so a crowd waits before
    # argon2 runs; the dashboard too, so the database sees only who was let in
    protect: Annotated[list[str], NoDecode] = [
        "/class=national",
        "/workspace=national",
        "/home=national",
        "/signin=national",
        "POST /signup=national",
        "POST /api/v1/session=national",
        "POST /api/v1/signup=national",
        "POST /api/v1/password/code=national",
    ]
    secret_keys: SecretStr | None = None  # "ID:base64key,ID:base64key", first signs
    # Where pages link homeroom's own files; they are served there and under /static. In front
    # of a workspace whose /static/ is its own: /gate/static (docs/operations.md#in-front-of-a-workspace).
    static_path: str = "/static"
    operator_token: SecretStr | None = None

    # Initial policy of each gate (the operator changes it at run time).
    mode: Mode = Mode.SAFETY_NET
    capacity: int = Field(10_000, ge=0)
    rate_per_min: int = Field(6_000, ge=0)
    claim_window_s: int = Field(600, ge=10)
    safety_threshold: float = Field(0.8, gt=0, le=1)

    tick_s: float = Field(1.0, gt=0.05, le=10)
    ticket_ttl_s: int = Field(36 * 3600, ge=60)
    pass_ttl_s: int = Field(1200, ge=60)
    pass_renew_after_s: int = Field(300, ge=10)
    anonymous_lane: Lane = Lane.PUPILS
    appointment_lane: Lane = Lane.PRIORITY  # where an appointment queues from come-back time
    signin_page: str = "/signin"  # GET here with a valid session needs no pass; "" = none
    degraded_admit_per_min: int = Field(0, ge=0)  # per process, while the backend is away

    ticket_limit: str = "3000/minute"  # per IPv4 /24 or IPv6 /64: hard limit
    pow_above: str = "300/minute"  # per address block: above this, proof of work is asked
    pow_max_number: int = Field(50_000, ge=1_000)  # ALTCHA difficulty
    max_body_bytes: int = Field(8192, ge=512)
    waiting_content_file: str = ""  # operator HTML shown while waiting

    # The school: its database, sign-in sessions, and what the gate learns from the timetable.
    database_url: str = "sqlite+aiosqlite:///.homeroom/homeroom.db"
    session_secret: SecretStr | None = None  # signs hr_sid; empty: derived or kept in .homeroom/
    appointment_lead_s: int = Field(600, ge=0)  # a class further ahead gives an appointment
    verify_workers: int = Field(0, ge=0)  # password verifications at once; 0 = usable CPUs
    demo: bool = False  # seed the demo académie at start-up (make run)
    # Migrate the database at start-up (one process at a time, docs/operations.md#migrations);
    # false: `homeroom migrate` does it first (a Kubernetes Job) and start-up only checks it did.
    migrate_on_start: bool = True

    # The live gateway, `homeroom live` (docs/live.md#many-processes); its log is backend_url's.
    live_host: str = "127.0.0.1"
    live_port: int = Field(8001, ge=0, le=65535)  # 0: `make run` starts no gateway
    live_public_url: str = ""  # what browsers connect to (wss://…/live); empty: this host
    live_processes: int = Field(1, ge=1, le=256)  # sharing the port (SO_REUSEPORT)
    live_heartbeat_s: float = Field(15.0, ge=0.3, le=600)  # silent longer: a process is gone
    live_log_entries: int = Field(10_000, ge=100)  # a room's log keeps this many entries
    live_log_idle_s: int = Field(3600, ge=60)  # a room's log goes this long after its last use

    # -- A Redis primary dies (docs/operations.md#a-redis-primary-dies) --
    # After a backend outage (perhaps a failover to a replica behind its primary) a gate process
    # admits nobody for this long (at least two ticks), while every process puts back what it
    # knows the store had (gate/failover.py).
    failover_pause_s: float = Field(2.0, ge=0, le=60)
    # How often a gateway reads the cluster's slot map to move a room's subscription to the
    # primary now serving it (a failover that left the old primary up sends no word of it).
    live_slot_refresh_s: float = Field(5.0, ge=0.05, le=300)
    # -- end of the failover settings --

    # -- Audio and video: the Janus instances the live gateway relays to (docs/av.md#placement) --
    # ws:// URLs of their WebSocket APIs, comma-separated; none: no audio or video (`av_off`).
    janus_urls: Annotated[list[str], NoDecode] = []
    janus_api_secret: SecretStr | None = None  # every instance's `api_secret` (av/janusconfig.py)
    janus_admin_key: SecretStr | None = None  # every instance's VideoRoom `admin_key`
    # Each instance's load ceiling (docs/av.md#instance-ceilings): the cores one may use, and
    # the marks of its estimated load a core: above either high mark its classes step down
    # together, below both low marks for a while they climb back. Defaults: bench-av's figures.
    janus_cores: float = Field(1.0, gt=0, le=1024)
    janus_pps_high: float = Field(LOAD_LIMITS.pps_high, gt=0)
    janus_pps_low: float = Field(LOAD_LIMITS.pps_low, ge=0)
    janus_cpu_high: float = Field(LOAD_LIMITS.cpu_high, gt=0, le=1)
    janus_cpu_low: float = Field(LOAD_LIMITS.cpu_low, ge=0, le=1)

    @field_validator("janus_urls", mode="before")
    @classmethod
    def _janus_urls(cls, value: Any) -> Any:
        urls = _csv(value)
        for url in urls if isinstance(urls, list) else ():
            if not str(url).startswith(("ws://", "wss://")):
                raise ValueError(f"{url!r}: a Janus WebSocket URL starts with ws:// or wss://")
        return urls

    @model_validator(mode="after")
    def _janus_secrets(self) -> Settings:
        if self.janus_urls and (self.janus_api_secret is None or self.janus_admin_key is None):
            raise ValueError("HOMEROOM_JANUS_URLS needs HOMEROOM_JANUS_API_SECRET and _ADMIN_KEY")
        for kind in ("pps", "cpu"):
            if getattr(self, f"janus_{kind}_low") > getattr(self, f"janus_{kind}_high"):
                raise ValueError(
                    f"janus_{kind}_low: must not exceed janus_{kind}_high (the hysteresis)"
                )
        return self

    # -- end of the audio and video settings --

    # -- The door of `homeroom run` and `homeroom live` against slow clients (docs/server.md) --
    # A whole request head (or WebSocket handshake) within this: a slow phone line needs ~2 s.
    head_timeout_s: float = Field(10.0, ge=1, le=120)
    # Unfinished heads at once per IPv4 /24 or IPv6 /64 (one school behind NAT); 0: no limit.
    heads_per_block: int = Field(1000, ge=0)
    # Of the open-file limit: above it, idle kept-alive connections go first, new ones are refused.
    files_high_water: float = Field(0.8, gt=0, lt=1)
    keepalive_s: int = Field(5, ge=1, le=300)  # an idle kept-alive HTTP connection closes then
    # -- end of the door's settings --

    # -- The database's pool, and PgBouncer in front of it (docs/configuration.md#the-database-pool;
    # homeroom.deploy). PostgreSQL only: SQLite keeps SQLAlchemy's own pool.
    database_pool_size: int = Field(5, ge=1, le=500)  # connections this process keeps open
    database_max_overflow: int = Field(5, ge=0, le=500)  # more at busy times, closed after use
    # Behind PgBouncer in transaction mode (1.18 carries no prepared statement from one
    # transaction to the next): no statement cache, and a unique name for each statement.
    database_pgbouncer: bool = False
    # -- end of the database pool's settings --

    # -- Drain on SIGTERM, `homeroom run` and `homeroom live` (docs/operations.md#drain) --
    # Readiness and agent checks fail first; the balancer has this long to notice.
    drain_notice_s: float = Field(5.0, ge=0, le=300)
    # Then a gateway closes its clients (1001 `drain`) spread over this window, with jitter.
    drain_window_s: float = Field(15.0, ge=0, le=3600)
    # The process exits by this long after SIGTERM, whatever is left: above notice + window.
    drain_deadline_s: float = Field(25.0, gt=0, le=3600)
    agent_port: int = Field(0, ge=0, le=65535)  # `homeroom run`'s HAProxy agent check; 0: off
    live_agent_port: int = Field(0, ge=0, le=65535)  # `homeroom live`'s agent check; 0: off
    live_health_port: int = Field(0, ge=0, le=65535)  # `homeroom live`'s /healthz, /readyz; 0: off

    @model_validator(mode="after")
    def _drain_fits(self) -> Settings:
        least = self.drain_notice_s + self.drain_window_s
        if self.drain_deadline_s <= least:
            raise ValueError(
                f"drain_deadline_s: must exceed drain_notice_s + drain_window_s ({least:g} s),"
                " or clients are cut before their turn"
            )
        return self

    # -- end of the drain's settings --

    # -- The gate's fast path for tickets and redeems (docs/gate.md#the-fast-path) --
    # Off: POST /gate/{gate}/ticket and /redeem go through the router like every other request
    # (the same answers, at about half the rate); for comparing the two, or ruling it out.
    gate_fast_path: bool = True
    # -- end of the fast path's settings --

    # -- The client's real address behind a balancer (docs/operations.md#behind-a-balancer-the-
    # clients-real-address). Peers (CIDRs, comma-separated) whose connections must begin with a
    # PROXY protocol header (v2 or v1) naming the client; empty: trust nobody, read none.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # How those balancers name the client on `homeroom run`'s connections: "proxy", the PROXY
    # header first (each connection then belongs to one client), or "forwarded", their
    # X-Forwarded-For header on each request (a balancer then shares its connections between
    # clients: HAProxy opens no new connection a request). The live gateway always reads the
    # PROXY header: its connections are each one client's anyway, and its door needs the address
    # before the handshake (docs/server.md#the-clients-real-address).
    http_proxy_header: Literal["proxy", "forwarded"] = "proxy"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        cidrs = _csv(value)
        for cidr in cidrs if isinstance(cidrs, list) else ():
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR block") from None
        return cidrs

    # -- end of the real address's settings --

    # -- Gates in front of a workspace homeroom does not own (docs/gate.md#in-front-of-a-
    # workspace-homeroom-does-not-own). Each is "gate=value" items, comma-separated; every gate
    # named must be one of HOMEROOM_GATES.
    # The workspace's health URL, probed by the gate's controller process for adaptive capacity.
    gate_health: Annotated[list[str], NoDecode] = []  # "ent=http://10.1.0.5/health,..."
    gate_health_interval_s: float = Field(5.0, ge=0.1, le=300)  # one probe this often
    gate_health_timeout_s: float = Field(2.0, gt=0, le=60)  # no whole answer by then: an error
    # An answer whose first 64 KiB hold this (any case) is an error: the workspace is full; "": off
    gate_health_quota_marker: str = "quota de connexions atteint"
    # Address blocks of schools and offices: an arrival from one queues in the staff lane.
    # "ent=10.0.0.0/8,192.0.2.0/24,moodle=172.16.0.0/12": a bare block belongs to the gate before.
    staff_networks: Annotated[list[str], NoDecode] = []
    # The lane of everyone else (no grant, no session, no staff block), per gate:
    # "ent=pupils,moodle=guests"; a gate not named: HOMEROOM_ANONYMOUS_LANE.
    anonymous_lanes: Annotated[list[str], NoDecode] = []
    # A gate's first policy where it differs from the global one (HOMEROOM_CAPACITY, ...):
    # "ent.capacity=5000,ent.adaptive=true,moodle.rate_per_min=600"; the operator's changes win.
    gate_policy: Annotated[list[str], NoDecode] = []

    @field_validator(
        "gate_health", "staff_networks", "anonymous_lanes", "gate_policy", mode="before"
    )
    @classmethod
    def _split_workspace(cls, value: Any) -> Any:
        return _csv(value)

    @model_validator(mode="after")
    def _workspace_gates(self) -> Settings:
        gates = set(self.gates)
        checks: dict[str, Callable[[], Mapping[str, object]]] = {
            "gate_health": self.health_urls,
            "staff_networks": self.staff_blocks,
            "anonymous_lanes": self.anonymous_lane_by_gate,
            "gate_policy": self.policy_changes,
        }
        for name, parse in checks.items():
            try:
                named = parse()
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            for gate in named:
                if gate not in gates:
                    raise ValueError(f"{name}: gate {gate!r} is not one of HOMEROOM_GATES")
        return self

    def health_urls(self) -> dict[str, str]:
        """gate → the workspace's health URL (http or https)."""
        urls: dict[str, str] = {}
        for gate, url in _pairs(self.gate_health, "gate=http://host/health"):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
            urls[gate] = url
        return urls

    def staff_blocks(self) -> dict[str, list[str]]:
        """gate → the CIDRs whose arrivals queue in the staff lane."""
        blocks: dict[str, list[str]] = {}
        gate = ""
        for item in self.staff_networks:
            name, sep, cidr = item.partition("=")
            if sep:
                gate = name.strip()
            elif not gate:
                raise ValueError(f"{item!r}: expected gate=cidr first")
            cidr = (cidr if sep else name).strip()
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR block") from None
            blocks.setdefault(gate, []).append(cidr)
        return blocks

    def anonymous_lane_by_gate(self) -> dict[str, Lane]:
        lanes: dict[str, Lane] = {}
        for gate, lane in _pairs(self.anonymous_lanes, "gate=lane"):
            try:
                lanes[gate] = Lane(lane)
            except ValueError:
                raise ValueError(f"{lane!r} is not a lane ({', '.join(Lane)})") from None
        return lanes

    def anonymous_lane_of(self, gate: str) -> Lane:
        """The lane of an arrival the gate knows nothing of, at `gate`."""
        return self.anonymous_lane_by_gate().get(gate, self.anonymous_lane)

    def policy_changes(self) -> dict[str, dict[str, Any]]:
        """gate → the fields of its first policy that differ from the global settings."""
        changes: dict[str, dict[str, Any]] = {}
        for key, value in _pairs(self.gate_policy, "gate.field=value"):
            gate, dot, name = key.partition(".")
            if not dot or not name:
                raise ValueError(f"{key!r}: expected gate.field=value")
            lowered = value.lower()
            parsed: Any = value
            if lowered in ("true", "false"):
                parsed = lowered == "true"
            else:
                with contextlib.suppress(ValueError):
                    parsed = float(value) if "." in value else int(value)
            changes.setdefault(gate, {})[name] = parsed
        for gate, fields in changes.items():
            try:
                GatePolicy().updated(fields)
            except PolicyError as exc:
                raise ValueError(f"gate {gate}: {exc}") from None
        return changes

    # -- end of the workspace gates' settings --

    # -- Passes for a workspace behind a proxy (docs/gate.md#the-pass-check-for-proxies) --
    # Per gate, "gate=IDLE[/RENEW]" in seconds (IDLE >= 10): its passes last IDLE seconds from
    # their last renewal and are renewed once RENEW old (default IDLE // 4, at most
    # pass_renew_after_s); a gate not named keeps pass_ttl_s and pass_renew_after_s.
    pass_idle: Annotated[list[str], NoDecode] = []
    # Groups of gates whose passes open each other: "ent-normandie=moodle-normandie,a=b=c".
    pass_shared: Annotated[list[str], NoDecode] = []

    @field_validator("pass_idle", "pass_shared", mode="before")
    @classmethod
    def _pass_items(cls, value: Any, info: ValidationInfo) -> Any:
        items = _csv(value)
        parse = _idle_item if info.field_name == "pass_idle" else _share_group
        for item in items if isinstance(items, list) else ():
            parse(item)
        return items

    @model_validator(mode="after")
    def _pass_gates_known(self) -> Settings:
        gates = set(self.gates)
        named = [_idle_item(item)[0] for item in self.pass_idle]
        for gate in named:
            if gate not in gates:
                raise ValueError(f"pass_idle: gate {gate!r} is not one of HOMEROOM_GATES")
        if len(set(named)) != len(named):
            raise ValueError("pass_idle: a gate is named twice")
        for item in self.pass_shared:
            for gate in _share_group(item):
                if gate not in gates:
                    raise ValueError(f"pass_shared: gate {gate!r} is not one of HOMEROOM_GATES")
        return self

    def pass_times(self, gate: str) -> tuple[int, int]:
        """(idle time, renew age) in seconds of the passes of `gate`."""
        for item in self.pass_idle:
            name, idle, renew = _idle_item(item)
            if name == gate:
                return idle, renew if renew else max(1, min(self.pass_renew_after_s, idle // 4))
        return self.pass_ttl_s, self.pass_renew_after_s

    def pass_shares(self, gate: str) -> tuple[str, ...]:
        """The other gates whose passes open `gate` (HOMEROOM_PASS_SHARED), in the order named."""
        out: list[str] = []
        for item in self.pass_shared:
            group = _share_group(item)
            if gate in group:
                out += [g for g in group if g != gate and g not in out]
        return tuple(out)

    # -- end of the passes' settings --

    @field_validator("gates", "protect", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("backend_url")
    @classmethod
    def _backend(cls, value: str) -> str:
        if not value.startswith(BACKEND_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(BACKEND_SCHEMES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(DATABASE_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(DATABASE_SCHEMES)}")
        return value

    @field_validator("gates")
    @classmethod
    def _gate_names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one gate")
        for name in value:
            if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 40:
                raise ValueError(f"gate name {name!r}: letters, digits, - and _ only")
        return value

    @field_validator("protect")
    @classmethod
    def _protect(cls, value: list[str]) -> list[str]:
        for item in value:
            _protected(item)
        return value

    @field_validator("static_path")
    @classmethod
    def _static_path(cls, value: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("must be a path like /static or /gate/static (no trailing /)")
        return value

    @field_validator("signin_page")
    @classmethod
    def _signin_page(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("must be a path starting with / (or empty)")
        return value

    @field_validator("secret_keys")
    @classmethod
    def _keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        gates = set(self.gates)
        for item in self.protect:
            gate = _protected(item)[2]
            if gate not in gates:
                raise ValueError(f"protect: gate {gate!r} is not one of HOMEROOM_GATES")
        shared = not self.backend_url.startswith("memory://")
        if shared and self.secret_keys is None:
            raise ValueError(
                "secret_keys: required with a shared backend, so every process signs alike"
            )
        return self

    # -- What the browser needs to protect people (docs/configuration.md#cookies-and-https) ----
    # An https public origin makes the cookies Secure and sends HSTS, so a deployment cannot
    # forget either; an explicit HOMEROOM_SECURE_COOKIES that contradicts the origin stops the
    # start rather than leave sign-in broken (Secure on http) or cookies readable on the wire.
    hsts_max_age_s: int = Field(31_536_000, ge=0)  # with an https public origin; 0: not sent

    @model_validator(mode="before")
    @classmethod
    def _secure_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "secure_cookies" not in data:
            origin = str(data.get("public_origin") or "").strip().lower()
            data = {**data, "secure_cookies": origin.startswith("https://")}
        return data

    @field_validator("public_origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        return _origin(value)

    @model_validator(mode="after")
    def _cookies_match_origin(self) -> Settings:
        if self.public_origin and self.secure_cookies != self.https:
            wanted = "true" if self.https else "false"
            raise ValueError(
                f"secure_cookies: must be {wanted} (or unset) with HOMEROOM_PUBLIC_ORIGIN "
                f"{self.public_origin}: "
                + (
                    "cookies would cross the network readable by anyone on it"
                    if self.https
                    else "browsers would never send Secure cookies back over http"
                )
            )
        return self

    @property
    def https(self) -> bool:
        """The public origin is https: cookies are Secure and HSTS is sent."""
        return self.public_origin.startswith("https://")

    # -- end of the browser's block ------------------------------------------------------------

    def keyring(self, fallback: bytes | None = None) -> KeyRing:
        if self.secret_keys is None:
            return KeyRing({0: fallback or secrets.token_bytes(32)}, 0)
        keys = parse_keys(self.secret_keys.get_secret_value())
        return KeyRing(dict(keys), keys[0][0])

    def limits_url(self) -> str:
        """Where rate limits count (gate and sign-in): ratelimit_url, else the backend's Redis."""
        if self.ratelimit_url:
            return self.ratelimit_url
        url = self.backend_url
        if url.startswith("redis+cluster://"):
            return "async+redis+cluster://" + url.removeprefix("redis+cluster://")
        if url.startswith("redis://"):
            return "async+" + url
        return "async+memory://"

    def protected_prefixes(self) -> list[tuple[str, str]]:
        """(prefix, gate) of the rules for every method, longest prefix first."""
        return [(p, g) for m, p, g in self.protected_routes() if m is None]

    def protected_routes(self) -> list[tuple[str | None, str, str]]:
        """(method or None for all, prefix, gate), longest prefix first, a method's rule first."""
        rules = [_protected(item) for item in self.protect]
        return sorted(rules, key=lambda r: (-len(r[1]), r[0] is None))

    def public_view(self) -> dict[str, Any]:
        """The effective configuration, secrets masked (for `homeroom config`)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********"
            elif hasattr(value, "value"):
                value = value.value
            out[f"HOMEROOM_{name.upper()}"] = value
        return out


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


def _protected(item: str) -> tuple[str | None, str, str]:
    """ "[METHOD ]/prefix=gate" → (method or None, prefix, gate); ValueError naming the item."""
    rule, _, gate = item.partition("=")
    method, _, prefix = rule.strip().rpartition(" ")
    method = method.strip().upper()
    if not prefix.startswith("/") or not gate.strip() or (method and method not in _METHODS):
        raise ValueError(f"{item!r}: expected /path=gate or METHOD /path=gate")
    return method or None, prefix, gate.strip()


def _pairs(items: list[str], form: str) -> list[tuple[str, str]]:
    """ "key=value" items → (key, value); ValueError naming an item without "=" or a side."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{item!r}: expected {form}")
        pairs.append((key.strip(), value.strip()))
    return pairs


PASS_IDLE_MIN_S = 10


def _idle_item(item: str) -> tuple[str, int, int]:
    """ "gate=IDLE[/RENEW]" → (gate, idle, renew or 0); ValueError naming the item."""
    gate, sep, times = item.partition("=")
    idle_text, slash, renew_text = times.strip().partition("/")
    if (
        not sep
        or not gate.strip()
        or not idle_text.isdigit()
        or (slash and not renew_text.isdigit())
    ):
        raise ValueError(f"{item!r}: expected gate=IDLE or gate=IDLE/RENEW (whole seconds)")
    idle, renew = int(idle_text), int(renew_text or 0)
    if idle < PASS_IDLE_MIN_S:
        raise ValueError(f"{item!r}: the idle time is at least {PASS_IDLE_MIN_S} s")
    if slash and not 1 <= renew < idle:
        raise ValueError(f"{item!r}: the renew age is at least 1 s and below the idle time")
    return gate.strip(), idle, renew


def _share_group(item: str) -> tuple[str, ...]:
    """ "a=b[=c...]" → the gates of one sharing group; ValueError naming the item."""
    gates = tuple(part.strip() for part in item.split("="))
    if len(gates) < 2 or not all(gates) or len(set(gates)) != len(gates):
        raise ValueError(f"{item!r}: expected two gates or more, gate=gate[=gate...]")
    return gates


def _origin(value: str) -> str:
    """ "" or scheme://host[:port] (http or https, nothing after): lower-case, no final /."""
    text = value.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError("expected an origin such as https://classe.example.fr (no path)")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def parse_keys(text: str) -> list[tuple[int, bytes]]:
    keys: list[tuple[int, bytes]] = []
    for part in _csv(text):
        kid_text, sep, b64 = part.partition(":")
        if not sep or not kid_text.isdigit():
            raise ValueError("expected ID:base64key[,ID:base64key...]")
        try:
            key = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"key {kid_text} is not base64") from exc
        if len(key) < 16 or not 0 <= int(kid_text) <= 255:
            raise ValueError(f"key {kid_text}: id 0..255 and at least 16 bytes")
        keys.append((int(kid_text), key))
    if not keys:
        raise ValueError("no key")
    return keys


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if not loc:  # a check across fields names its field first: "field: why"
                loc, _, msg = msg.partition(": ")
            lines.append(f"HOMEROOM_{loc.upper()}: {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None

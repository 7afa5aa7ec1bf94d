"""The `homeroom` command line: run the platform, print its configuration, steer a gate."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from homeroom.config import ConfigError, Settings, load_settings
from homeroom.web.http import safe_next


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"homeroom: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from homeroom.app import create_app
    from homeroom.httpserver import server_for

    settings = _settings()
    if not settings.migrate_on_start and (problem := _not_migrated(settings)):
        print(f"homeroom: {problem}", file=sys.stderr)
        return 2
    app = create_app(settings)
    host, port = args.host or settings.host, args.port if args.port is not None else settings.port
    print(f"homeroom: http://{host}:{port}/  (backend {settings.backend_url})", flush=True)
    if settings.operator_token is None:
        print("homeroom: operator token written to .homeroom/operator-token", flush=True)
    try:
        server_for(app, settings, host, port).run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down cleanly, then raises it again
        return 130
    return 0


def _not_migrated(settings: Settings) -> str | None:
    """Why the school database cannot be used as it is, or None when it is at the head."""
    from homeroom.school.data import db

    try:
        found = db.revision(settings.database_url, pgbouncer=settings.database_pgbouncer)
        wanted = db.head()
    except Exception as exc:  # unreachable, refused: say so in one line
        return f"cannot read the database's revision: {type(exc).__name__}: {exc}"
    if found == wanted:
        return None
    return (
        f"the database is at revision {found or 'none'}, this version needs {wanted}: "
        "run `homeroom migrate` first (HOMEROOM_MIGRATE_ON_START is false)"
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the school database to the head, one process at a time (a Kubernetes Job)."""
    from homeroom.school.data import db

    settings = _settings()
    if args.check:
        problem = _not_migrated(settings)
        print(f"homeroom: {problem or 'the database is at the head, ' + db.head()}")
        return 1 if problem else 0
    before = db.revision(settings.database_url, pgbouncer=settings.database_pgbouncer)
    db.upgrade(settings.database_url, pgbouncer=settings.database_pgbouncer)
    print(f"homeroom: database migrated from {before or 'none'} to {db.head()}", flush=True)
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from homeroom.live import process

    try:
        return process.run(_settings(), worker=args.worker)
    except process.Unsuitable as exc:
        print(f"homeroom: {exc}", file=sys.stderr)
        return 2


def cmd_janus(args: argparse.Namespace) -> int:
    from homeroom.av import local
    from homeroom.av.process import JanusStartError

    try:
        return local.run(args.port)
    except (JanusStartError, OSError) as exc:
        print(f"homeroom: Janus did not start: {exc}", file=sys.stderr)
        return 1


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(_settings().public_view(), indent=2, default=str))
    return 0


def cmd_workspace(args: argparse.Namespace) -> int:
    """Print nginx's or HAProxy's configuration (or HAProxy's Lua check) for one workspace."""
    from homeroom.deploy import workspace

    try:
        ws = workspace.Workspace(
            gate=args.gate,
            workspace=args.workspace,
            homeroom=args.homeroom,
            listen=args.listen,
            server_name=args.server_name,
            assets=args.assets,
            health=args.health,
            lua_path=args.lua_path,
        )
    except workspace.WorkspaceError as exc:
        print(f"homeroom workspace: {exc}", file=sys.stderr)
        return 2
    render = {"nginx": workspace.nginx, "haproxy": workspace.haproxy, "lua": workspace.lua}
    sys.stdout.write(render[args.kind](ws))
    return 0


def _operator_token() -> str:
    token = os.environ.get("HOMEROOM_OPERATOR_TOKEN")
    if token:
        return token
    path = Path(".homeroom") / "operator-token"
    if path.exists():
        return path.read_text().strip()
    print(
        "homeroom: set HOMEROOM_OPERATOR_TOKEN (or run from the folder of `homeroom run`)",
        file=sys.stderr,
    )
    raise SystemExit(2)


def _parse_time(text: str) -> int:
    """Unix seconds from an ISO time (2026-09-01T08:00+02:00), HH:MM today (local), or 0."""
    if text in ("0", "none", "off"):
        return 0
    if len(text) == 5 and text[2] == ":":
        now = datetime.now().astimezone()
        return int(
            now.replace(
                hour=int(text[:2]), minute=int(text[3:]), second=0, microsecond=0
            ).timestamp()
        )
    return int(datetime.fromisoformat(text).astimezone().timestamp())


def cmd_gate(args: argparse.Namespace) -> int:
    base = args.url.rstrip("/")
    headers = {"authorization": f"Bearer {_operator_token()}", "accept": "application/json"}
    change: dict[str, Any] | None = None
    if args.action == "mode":
        change = {"mode": args.value}
    elif args.action == "capacity":
        change = {"capacity": int(args.value)}
    elif args.action == "adaptive":
        change = {"adaptive": args.value in ("on", "true", "1")}
    elif args.action == "rate":
        change = {"rate_per_min": int(args.value)}
    elif args.action == "shares":
        change = {"shares": {k: float(v) for k, v in (p.split("=") for p in args.value.split(","))}}
    elif args.action == "schedule":
        change = {"opening_at": _parse_time(args.value)}
        if args.prequeue_minutes is not None:
            change["prequeue_s"] = args.prequeue_minutes * 60
    try:
        with httpx.Client(timeout=5) as client:
            if args.action == "invite":
                return _invite(client, base, headers, args)
            if change is None:
                response = client.get(f"{base}/gate/{args.gate}/admin/status", headers=headers)
            else:
                response = client.patch(
                    f"{base}/gate/{args.gate}/admin/policy", headers=headers, json=change
                )
    except httpx.HTTPError as exc:
        print(f"homeroom: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    try:
        payload = response.json()
    except ValueError:
        payload = {"status": response.status_code, "body": response.text[:500]}
    print(json.dumps(payload, indent=2))
    return 0 if response.is_success else 1


def _invite(
    client: httpx.Client, base: str, headers: dict[str, str], args: argparse.Namespace
) -> int:
    """An invitation link: the gate's waiting page with a signed lane grant, sending the person
    to `--next` once admitted (docs/gate.md#in-front-of-a-workspace-homeroom-does-not-own)."""
    response = client.post(
        f"{base}/gate/{args.gate}/admin/grant",
        headers=headers,
        json={"lane": args.value, "ttl_s": round(args.days * 86400)},
    )
    try:
        payload = response.json()
    except ValueError:
        payload = {"status": response.status_code, "body": response.text[:500]}
    if response.is_success:
        public = (args.public or base).rstrip("/")
        payload["link"] = (
            f"{public}/gate/{args.gate}/wait?next={quote(safe_next(args.next), safe='/')}"
            f"&grant={payload['grant']}"
        )
    print(json.dumps(payload, indent=2))
    return 0 if response.is_success else 1


def cmd_cluster(args: argparse.Namespace) -> int:
    from homeroom.deploy import cluster

    folder = Path(args.dir)
    try:
        if args.action == "up":
            cluster.up(
                folder,
                nodes=args.nodes,
                mode=args.mode,
                live_balance=args.live_balance,
                av=False if args.no_av else None,
            )
        elif args.action == "down":
            if not cluster.down(folder):
                print(f"homeroom cluster: no deployment in {folder}")
            else:
                print(f"homeroom cluster: stopped and removed the deployment in {folder}")
        else:
            print("\n".join(cluster.status(folder)))
    except cluster.ClusterError as exc:
        print(f"homeroom cluster: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="homeroom", description="homeroom: distance learning at national scale"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the embedded default (everything in one process)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.set_defaults(func=cmd_run)
    live = sub.add_parser("live", help="run the live WebSocket gateway (HOMEROOM_LIVE_*)")
    live.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    live.set_defaults(func=cmd_live)
    jan = sub.add_parser("janus", help="run one Janus for `make run` (audio and video)")
    jan.add_argument("--port", type=int, default=8188, help="its WebSocket API, on 127.0.0.1")
    jan.set_defaults(func=cmd_janus)
    migrate = sub.add_parser("migrate", help="bring the school database to the migrations' head")
    migrate.add_argument("--check", action="store_true", help="only say whether it is (exit 1: no)")
    migrate.set_defaults(func=cmd_migrate)
    conf = sub.add_parser("config", help="print the effective configuration")
    conf.set_defaults(func=cmd_config)
    gate = sub.add_parser("gate", help="show or steer a gate of a running instance")
    gate.add_argument(
        "action",
        choices=["show", "mode", "capacity", "adaptive", "rate", "shares", "schedule", "invite"],
    )
    gate.add_argument(
        "value",
        nargs="?",
        help="mode name | number | on/off | staff=0.2,... | HH:MM or ISO time or off | lane",
    )
    gate.add_argument("--gate", default="national")
    gate.add_argument("--url", default=os.environ.get("HOMEROOM_URL", "http://127.0.0.1:8000"))
    gate.add_argument("--prequeue-minutes", type=int)
    gate.add_argument("--days", type=float, default=7, help="invite: how long the link works")
    gate.add_argument("--next", default="/", help="invite: where the link leads once admitted")
    gate.add_argument("--public", help="invite: the origin people use (default: --url)")
    gate.set_defaults(func=cmd_gate)
    clu = sub.add_parser(
        "cluster", help="a whole deployment on this machine: HAProxy, 3 nodes, Redis Cluster"
    )
    clu.add_argument("action", choices=["up", "down", "status"])
    clu.add_argument("--dir", default=str(Path(".homeroom") / "cluster"))
    clu.add_argument("--nodes", type=int, default=3)
    clu.add_argument("--mode", choices=["netns", "loopback"], help="default: netns if possible")
    clu.add_argument("--live-balance", choices=["hash", "leastconn"], default="hash")
    clu.add_argument(
        "--no-av", action="store_true", help="no Janus pool (also HOMEROOM_AV=0): no audio/video"
    )
    clu.set_defaults(func=cmd_cluster)
    _workspace_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "gate" and args.action != "show" and args.value is None:
        parser.error(f"gate {args.action} needs a value")
    result: int = args.func(args)
    return result


def _workspace_parser(sub: Any) -> None:
    from homeroom.deploy.workspace import EXAMPLE

    ws = sub.add_parser(
        "workspace",
        help="print the nginx or HAProxy configuration putting a gate in front of a workspace",
    )
    ws.add_argument("kind", choices=["nginx", "haproxy", "lua"])
    ws.add_argument("--gate", required=True, help="the gate (one of HOMEROOM_GATES)")
    ws.add_argument("--workspace", required=True, help="host:port of the workspace")
    ws.add_argument("--homeroom", default=EXAMPLE.homeroom, help="host:port of homeroom run")
    ws.add_argument("--listen", default=EXAMPLE.listen, help="port or address:port to listen on")
    ws.add_argument("--server-name", default=EXAMPLE.server_name, help="the workspace's host name")
    ws.add_argument("--assets", default=EXAMPLE.assets, help="the workspace's files, unprotected")
    ws.add_argument("--health", default=EXAMPLE.health, help="its health URL, unprotected")
    ws.add_argument("--lua-path", default=EXAMPLE.lua_path, help="where HAProxy finds the Lua")
    ws.set_defaults(func=cmd_workspace)


if __name__ == "__main__":
    raise SystemExit(main())

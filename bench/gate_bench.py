"""`make bench-gate`: the gate's figures of issue #2, one JSON object per line.

Everything runs on loopback, bounded in time; the load generator is another process (wrk for the
state, bench/loadgen.py for the rest), pinned to the other core. Peers are measured in the same
run: nginx serving the same state bytes, and the same app under other HTTP servers (`servers`,
docs/server.md). `python bench/gate_bench.py STEP...` runs only those steps.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench import server_peers  # noqa: E402
from bench.steps import emit, process_cpu_s  # noqa: E402
from tests.gate_process import GateProcess, wait_http  # noqa: E402
from tests.redis_servers import RedisClusterProcesses, RedisServer, free_port  # noqa: E402

from homeroom.core.lanes import Lane  # noqa: E402
from homeroom.core.tokens import KeyRing, Kind, Token, binding_of, gate_tag  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
SERVER_CPU, CLIENT_CPU = "0", "1"
KEY = secrets.token_bytes(32)
KEYS_ENV = "1:" + base64.urlsafe_b64encode(KEY).decode().rstrip("=")
QUICK = os.environ.get("BENCH_QUICK") == "1"  # shorter runs while developing the bench


def Gate(port: int, env: dict[str, str], cpu: str = SERVER_CPU) -> GateProcess:
    """One `homeroom run` process, pinned to `cpu`, started."""
    return GateProcess(env, port=port, cpu=cpu).start()


def loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, PY, str(ROOT / "bench" / "loadgen.py"), handle.name],
        capture_output=True,
        text=True,
        timeout=spec.get("duration_s", 10) + 120,
        check=True,
    )
    os.unlink(handle.name)
    return json.loads(out.stdout)


def post(path: str, host_port: int, cookie: str = "", body: str = "") -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{host_port}",
        "Accept: application/json",
        f"Content-Length: {len(body)}",
    ]
    if body:
        lines.append("Content-Type: application/json")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def wrk(url: str, seconds: int, connections: int = 64) -> float:
    return wrk_run(url, seconds, connections)[0]


def wrk_run(
    url: str,
    seconds: int,
    connections: int = 64,
    headers: Sequence[str] = (),
    any_status: bool = False,
    script: Path | None = None,
) -> tuple[float, int]:
    """(requests a second, requests answered) of wrk on `url` from the client core, sending
    `headers` (or what the Lua `script` makes); more than 0.1 % of answers not 2xx or 3xx is
    an error unless `any_status`."""
    args = [a for h in headers for a in ("-H", h)]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run(
        [
            "taskset",
            "-c",
            CLIENT_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if bad and int(bad.group(1)) > total * 0.001 and not any_status:
        raise RuntimeError(f"{url}: {bad.group(1)} non-2xx responses of {total}")
    return rps, total


def gate_env(backend: str, **extra: str) -> dict[str, str]:
    return {
        "HOMEROOM_BACKEND_URL": backend,
        "HOMEROOM_SECRET_KEYS": KEYS_ENV,
        "HOMEROOM_MODE": "queue",
        "HOMEROOM_TICKET_LIMIT": "100000000/minute",
        "HOMEROOM_POW_ABOVE": "100000000/minute",
        "HOMEROOM_CAPACITY": "100000000",
        "HOMEROOM_RATE_PER_MIN": "100000000",
        **extra,
    }


# -- 1. state vs nginx --------------------------------------------------------------------

NGINX_STATE = """location = /gate/national/state {{
      root {dir}/www;
      default_type application/json;
      add_header Cache-Control "public, max-age=1";
      try_files /state.json =404;
    }}"""
NGINX_CONF = """
worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {{
    listen 127.0.0.1:{port} reuseport;
    {location}
  }}
}}
"""


def bench_state() -> None:
    port = free_port()
    gate = Gate(port, gate_env("memory://"))
    seconds = 4 if QUICK else 8
    try:
        url = f"http://127.0.0.1:{port}/gate/national/state"
        with urllib.request.urlopen(url) as response:
            body = response.read()
        wrk(url, 2)  # warm-up
        gate_rps = wrk(url, seconds)
    finally:
        gate.stop()
    work = Path(tempfile.mkdtemp())
    (work / "www").mkdir()
    (work / "www" / "state.json").write_bytes(body)
    nport = free_port()
    location = NGINX_STATE.format(dir=work)
    (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, port=nport, location=location))
    nginx = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, "nginx", "-c", str(work / "nginx.conf"), "-p", str(work)],
        stderr=subprocess.PIPE,
    )
    try:
        nurl = f"http://127.0.0.1:{nport}/gate/national/state"
        wait_http(nurl)
        with urllib.request.urlopen(nurl) as response:
            assert response.read() == body
        wrk(nurl, 2)
        nginx_rps = wrk(nurl, seconds)
    finally:
        nginx.terminate()
        nginx.wait(10)
    emit("gate_state_rps", gate_rps, "req/s", connections=64, body_bytes=len(body))
    emit("nginx_state_rps", nginx_rps, "req/s", connections=64, body_bytes=len(body))
    emit("gate_state_vs_nginx", gate_rps / nginx_rps, "ratio", goal=">= 0.25")


# -- 1b. the proxies' pass check vs nginx serving a small static file ----------------------

NGINX_STATIC = """location = /ok.txt {{ root {dir}/www; }}"""


def status_of(url: str, headers: list[str]) -> int:
    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def measured(
    pid: int, url: str, seconds: int, headers: list[str], script: Path | None = None
) -> tuple[float, float]:
    """(requests a second, server CPU µs a request) of one wrk run against process `pid`."""
    cpu = process_cpu_s(pid)
    rps, answered = wrk_run(url, seconds, headers=headers, any_status=True, script=script)
    return rps, (process_cpu_s(pid) - cpu) / max(1, answered) * 1e6


WRK_BROWSERS = """-- each request is the next browser's: its own hr_bid and pass (bench/gate_bench.py)
local cookies = {{}}
for line in io.lines("{path}") do cookies[#cookies + 1] = line end
local n, i = #cookies, math.random(#cookies)
request = function()
  i = i % n + 1
  return wrk.format("GET", nil, {{["Cookie"] = cookies[i], ["X-Original-URI"] = "{uri}"}})
end
"""
ORIGINAL_URI = "/cours/maths/chapitre-2?onglet=devoirs"


def browsers_script(work: Path, name: str, count: int) -> Path:
    """A wrk script sending, request after request, the Cookie header of `count` browsers in
    turn, each with its own browser id and a valid pass bound to it."""
    now = int(time.time())
    ring = KeyRing({1: KEY}, 1)
    tag = gate_tag("national")
    lines = []
    for _ in range(count):
        bid = secrets.token_urlsafe(16)
        token = Token(Kind.PASS, tag, Lane.PUPILS, 0, now, now + 3600, binding_of(bid))
        lines.append(f"hr_bid={bid}; hr_p_national={ring.seal(token)}")
    cookies = work / f"{name}.txt"
    cookies.write_text("\n".join(lines) + "\n")
    script = work / f"{name}.lua"
    script.write_text(WRK_BROWSERS.format(path=cookies, uri=ORIGINAL_URI))
    return script


def bench_check() -> None:
    """GET /gate/national/check as nginx's auth_request sends it (the Cookie header, the asked
    URI), against nginx serving a small static file, 1 worker each on the server core, wrk on
    the other. Each request is the next of many browsers, with its own browser id and pass:

    - `valid`: 1,000 browsers in turn, each checked again and again, as a workspace's pages
      and their assets are (the figure of the goal); the process remembers the passes it has
      opened and each header's cookies (core/tokens.py, gate/check.py), and so it does here;
    - `first`: 50,000 browsers in turn, more than the process remembers (8,192): every check
      opens its pass from scratch, as the first request of a browser does;
    - `refused`: no pass (401), one browser.

    nginx gets the same requests as `valid` (the same wrk script: the client's cost is the
    same). Both servers run side by side and the runs alternate, so that a busy machine weighs
    on both alike; medians of the rounds, and each side's CPU a request."""
    seconds, rounds = (3, 3) if QUICK else (5, 5)
    bid = secrets.token_urlsafe(16)
    none = [f"Cookie: hr_bid={bid}", f"X-Original-URI: {ORIGINAL_URI}"]
    work = Path(tempfile.mkdtemp())
    (work / "www").mkdir()
    (work / "www" / "ok.txt").write_bytes(b"ok\n")
    warm = browsers_script(work, "warm", 1_000)
    cold = browsers_script(work, "cold", 50_000)
    nport = free_port()
    location = NGINX_STATIC.format(dir=work)
    (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, port=nport, location=location))
    port = free_port()
    gate = Gate(port, gate_env("memory://"))
    nginx = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, "nginx", "-c", str(work / "nginx.conf"), "-p", str(work)],
        stderr=subprocess.PIPE,
    )
    runs: dict[str, list[tuple[float, float]]] = {
        "valid": [],
        "first": [],
        "refused": [],
        "nginx": [],
    }
    try:
        url = f"http://127.0.0.1:{port}/gate/national/check"
        nurl = f"http://127.0.0.1:{nport}/ok.txt"
        wait_http(nurl)
        if (status_of(url, none), status_of(nurl, none)) != (401, 200):
            raise RuntimeError("the check does not answer 401 without a pass, or nginx not 200")
        # every answer of the browsers' scripts must be 204 (wrk counts the others)
        for script in (warm, cold):
            if wrk_run(url, 1, script=script)[1] == 0:
                raise RuntimeError("no check answered")
        wrk_run(nurl, 2, script=warm)  # warm-up
        assert gate.proc is not None
        for _ in range(rounds):
            runs["valid"].append(measured(gate.proc.pid, url, seconds, [], warm))
            runs["nginx"].append(measured(nginx.pid, nurl, seconds, [], warm))
            runs["first"].append(measured(gate.proc.pid, url, seconds, [], cold))
            runs["refused"].append(measured(gate.proc.pid, url, seconds, none))
    finally:
        gate.stop()
        nginx.terminate()
        nginx.wait(10)
    rps = {name: median(r for r, _ in values) for name, values in runs.items()}
    cpu = {name: median(c for _, c in values) for name, values in runs.items()}
    rounds_of = {name: _round([r for r, _ in values], 0) for name, values in runs.items()}
    for metric, name, status, browsers in (
        ("gate_check_rps", "valid", 204, 1_000),
        ("gate_check_first_rps", "first", 204, 50_000),
        ("gate_check_refused_rps", "refused", 401, 1),
        ("nginx_static_rps", "nginx", 200, 1_000),
    ):
        emit(
            metric,
            rps[name],
            "req/s",
            status=status,
            browsers=browsers,
            server_cpu_us=round(cpu[name], 1),
            rounds=rounds_of[name],
        )
    for metric, name in (("gate_check_vs_nginx", "valid"), ("gate_check_first_vs_nginx", "first")):
        ratios = [v[0] / n[0] for v, n in zip(runs[name], runs["nginx"], strict=True)]
        emit(
            metric,
            median(ratios),
            "ratio",
            **({"goal": ">= 0.5"} if name == "valid" else {}),
            rounds=_round(ratios, 3),
            cpu_ratio=round(cpu["nginx"] / cpu[name], 3),
            connections=64,
        )


# -- 2. ticket and redeem on Redis --------------------------------------------------------


def forged_cookies(numbers: range, lane: Lane = Lane.PUPILS, gate: str = "national") -> list[str]:
    """The Cookie headers of browsers holding tickets 1..n, sealed with the gate's key as the
    gate itself would."""
    ring = KeyRing({1: KEY}, 1)
    now = int(time.time())
    out = []
    for n in numbers:
        bid = secrets.token_urlsafe(16)
        ticket = ring.seal(
            Token(Kind.TICKET, gate_tag(gate), lane, n, now, now + 3600, binding_of(bid))
        )
        out.append(f"hr_bid={bid}; hr_t_{gate}={ticket}")
    return out


def forged_requests(
    port: int, numbers: range, lane: Lane = Lane.PUPILS, gate: str = "national"
) -> list[str]:
    """Redeem requests for tickets 1..n (`forged_cookies`)."""
    return [
        post(f"/gate/{gate}/redeem", port, cookie=cookie)
        for cookie in forged_cookies(numbers, lane, gate)
    ]


def wait_admitted(gate: GateProcess, issued: int, name: str = "national") -> None:
    deadline = time.monotonic() + 30
    while gate.admin("GET", "status", gate=name)["lanes"]["pupils"]["horizon"] < issued:
        if time.monotonic() > deadline:
            raise TimeoutError("horizon did not reach the issued tickets")
        time.sleep(0.2)


WRK_POSTS = """-- POSTs of the gate, each request the next line's Cookie header if a file is named
-- (bench/gate_bench.py); counts the answers of status {status} and times the first and last
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} hr_timespec;
int clock_gettime(int clk_id, hr_timespec *tp);
]]
local ts = ffi.new("hr_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
local cookies = {{}}
if "{path}" ~= "" then for line in io.lines("{path}") do cookies[#cookies + 1] = line end end
local n, i = #cookies, 0
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
first, last, ok, other = 0, 0, 0, 0
request = function()
  local headers = {{["Accept"] = "application/json", ["Content-Length"] = "0"}}
  if n > 0 then
    i = i + 1
    if i > n then wrk.thread:stop() end  -- every ticket redeemed once: no more to send
    headers["Cookie"] = cookies[math.min(i, n)]
  end
  return wrk.format("POST", "{uri}", headers, "")
end
response = function(status, headers, body)
  if status == {status} then
    ok = ok + 1
    last = now()
    if first == 0 then first = last end
  else
    other = other + 1
  end
end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("POSTS %d %d %.6f\\n", t:get("ok"), t:get("other"), t:get("last") - t:get("first")))
  end
end
"""


def posts_script(work: Path, name: str, uri: str, status: int, cookies: list[str]) -> Path:
    """A wrk script POSTing to `uri`, each request with the next of `cookies` (none: no Cookie)."""
    path = ""
    if cookies:
        path = str(work / f"{name}.txt")
        Path(path).write_text("\n".join(cookies) + "\n")
    script = work / f"{name}.lua"
    script.write_text(WRK_POSTS.format(path=path, uri=uri, status=status))
    return script


def posts(pid: int | None, port: int, script: Path, seconds: int) -> dict[str, float]:
    """One wrk run of a `posts_script` against port `port`: answers of the awaited status a
    second (between the first and the last), the others, and, given the server's `pid`, its
    CPU µs an answer."""
    cpu = process_cpu_s(pid) if pid is not None else 0.0
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c64", f"-d{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"POSTS (\d+) (\d+) ([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk said no figures:\n{out}")
    ok, other, span = int(found.group(1)), int(found.group(2)), float(found.group(3))
    figures = {"rps": ok / span if span > 0 else 0.0, "ok": ok, "other": other}
    if pid is not None:
        spent = process_cpu_s(pid) - cpu
        figures["server_cpu_us"] = round(spent / max(1, ok + other) * 1e6, 1)
    return figures


def bench_ticket_redeem() -> None:
    """Tickets, then redeems of every ticket issued, through one process on core 0 with a real
    Redis. wrk sends them (a Lua script: each redeem its own browser and ticket, each once), on
    core 1 with Redis: the process has its core to itself, as it would on a node whose store is
    elsewhere. The rate counts the answers of the awaited status (201 a new ticket, 200 an
    admission) between the first and the last; a run's other answers are printed."""
    seconds = 5 if QUICK else 10
    work = Path(tempfile.mkdtemp())
    with RedisServer() as redis:
        assert redis.process is not None
        subprocess.run(["taskset", "-apc", CLIENT_CPU, str(redis.process.pid)], check=True,
                       capture_output=True)  # fmt: skip
        port = free_port()
        gate = Gate(port, gate_env(redis.url))
        try:
            assert gate.proc is not None
            ticket = posts_script(work, "ticket", "/gate/national/ticket", 201, [])
            posts(gate.proc.pid, port, ticket, 3)  # warm-up
            figures = posts(gate.proc.pid, port, ticket, seconds)
            emit(
                "gate_ticket_rps",
                figures.pop("rps"),
                "req/s",
                backend="redis",
                **figures,
                generator="wrk",
                goal=">= 10000",
            )
            issued = gate.admin("GET", "status")["lanes"]["pupils"]["issued"]
            wait_admitted(gate, issued)
            redeem = posts_script(
                work, "redeem", "/gate/national/redeem", 200, forged_cookies(range(1, issued + 1))
            )
            figures = posts(gate.proc.pid, port, redeem, seconds)
            emit(
                "gate_redeem_rps",
                figures.pop("rps"),
                "req/s",
                backend="redis",
                **figures,
                tickets=issued,
                generator="wrk",
                goal=">= 10000",
            )
        finally:
            gate.stop()
            shutil.rmtree(work, ignore_errors=True)


# -- 3. memory per waiting person at 1,000,000 issued tickets -----------------------------


def redis_used_memory(redis: RedisServer) -> int:
    from tests.redis_servers import command

    info = command(redis.port, "INFO", "memory") or ""
    return int(re.search(r"used_memory:(\d+)", info).group(1))  # type: ignore[union-attr]


def bench_bytes_per_waiting() -> None:
    target = 200_000 if QUICK else 1_000_000
    with RedisServer() as redis:
        port = free_port()
        gate = Gate(port, gate_env(redis.url, HOMEROOM_MODE="paused"))  # nobody admitted: all wait
        try:
            req = post("/gate/national/ticket", port)
            loadgen(
                {
                    "targets": [{"host": "127.0.0.1", "port": port}],
                    "requests": [req],
                    "repeat": 20_000,
                    "connections": 64,
                    "duration_s": 30,
                }
            )  # warm-up
            time.sleep(1.5)
            rss0, redis0 = gate.rss_bytes(), redis_used_memory(redis)
            start_issued = gate.admin("GET", "status")["lanes"]["pupils"]["issued"]
            started = time.monotonic()
            while True:
                issued = gate.admin("GET", "status")["lanes"]["pupils"]["issued"] - start_issued
                left = target - issued
                if left <= 0 or time.monotonic() - started > 420:
                    break
                loadgen(
                    {
                        "targets": [{"host": "127.0.0.1", "port": port}],
                        "requests": [req],
                        "repeat": left,
                        "connections": 64,
                        "duration_s": 60,
                    }
                )
            time.sleep(1.5)
            issued = gate.admin("GET", "status")["lanes"]["pupils"]["issued"] - start_issued
            rss1, redis1 = gate.rss_bytes(), redis_used_memory(redis)
        finally:
            gate.stop()
    waiting = max(1, issued)
    emit(
        "gate_process_bytes_per_waiting",
        max(0, rss1 - rss0) / waiting,
        "bytes",
        waiting=issued,
        rss_before=rss0,
        rss_after=rss1,
        goal="<= 1",
    )
    emit(
        "gate_redis_bytes_per_waiting",
        max(0, redis1 - redis0) / waiting,
        "bytes",
        waiting=issued,
        used_memory_before=redis0,
        used_memory_after=redis1,
        goal="<= 2",
    )


# -- 4. over-admission: 4 processes on a Redis Cluster ------------------------------------


def bench_overadmit_and_fifo() -> None:
    capacity, burst = 10_000, (30_000 if QUICK else 100_000)
    with RedisClusterProcesses() as cluster:
        ports = [free_port() for _ in range(4)]
        env = gate_env(
            cluster.url,
            HOMEROOM_CAPACITY=str(capacity),
            HOMEROOM_RATE_PER_MIN="6000000",
            HOMEROOM_GATES="national,fifo",
            HOMEROOM_PROTECT="/class=national",
        )
        gates = [Gate(p, env, cpu="0,1") for p in ports]
        try:
            targets = [{"host": "127.0.0.1", "port": p} for p in ports]
            tickets = [post("/gate/national/ticket", ports[i % 4]) for i in range(4)]
            # The burst: 100,000 ticket requests over the four processes, while everyone redeems
            # as soon as they can (forged = the same tickets the gates hand out, numbers 1..burst),
            # each number tried twice, at two different processes, to race the redeem (the same
            # browser asking twice: answered twice, counted once).
            redeems: list[str] = []
            numbers: list[int] = []
            for n in range(1, burst + 1, 5000):
                chunk = range(n, min(n + 5000, burst + 1))
                a = forged_requests(ports[0], chunk)
                redeems += a + a  # same cookies again: a duplicate on another connection
                numbers += [*chunk, *chunk]
            redeem_spec = {
                "targets": targets,
                "requests": redeems,
                "connections": 128,
                "duration_s": 120,
                "keep_order": True,
            }
            with ThreadPoolExecutor(2) as pool:  # redeems race the burst, then sweep once more
                burst_future = pool.submit(
                    loadgen,
                    {
                        "targets": targets,
                        "requests": tickets,
                        "repeat": burst // 4,
                        "connections": 128,
                        "duration_s": 120,
                    },
                )
                racing = pool.submit(loadgen, redeem_spec)
                burst_result, first = burst_future.result(), racing.result()
            time.sleep(3)  # a few controller ticks
            second = loadgen(redeem_spec)
            statuses = Counter(first["statuses"]) + Counter(second["statuses"])
            redeem_result = {"statuses": dict(statuses)}
            time.sleep(2)
            status = gates[0].admin("GET", "status")
            active = status["active"]
            admitted = {
                numbers[i] for i, code in [*first["order"], *second["order"]] if code == 200
            }
            ok = redeem_result["statuses"].get("200", 0)
            over = max(0, max(len(admitted), active) - capacity) / capacity * 100
            emit(
                "gate_overadmit_pct",
                over,
                "%",
                capacity=capacity,
                burst=burst,
                issued=burst_result["statuses"].get("201", 0),
                people_admitted=len(admitted),
                answers_200=ok,
                active=active,
                redeem_statuses=redeem_result["statuses"],
                goal="<= 1",
            )
            bench_fifo(gates, ports)
        finally:
            for g in gates:
                g.stop()


def bench_fifo(gates: list[GateProcess], ports: list[int]) -> None:
    """Pre-queue, opening, then sequential arrivals over four processes: tau(arrival, number)."""
    import http.client

    opening = int(time.time()) + 4
    gates[0].admin("PATCH", "policy", {"opening_at": opening, "prequeue_s": 600}, gate="fifo")
    time.sleep(1.2)

    def take(port: int) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request(
            "POST",
            "/gate/fifo/ticket",
            headers={"accept": "application/json", "content-length": "0"},
        )
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    pre = [take(ports[i % 4]) for i in range(200)]
    assert all(t["prequeue"] for t in pre), "pre-queue tickets expected"
    while time.time() < opening + 2.5:
        time.sleep(0.1)
    arrivals = [take(ports[i % 4]) for i in range(2000 if not QUICK else 500)]
    numbers = [t["number"] for t in arrivals]
    assert not any(t["prequeue"] for t in arrivals)
    emit(
        "gate_fifo_kendall_tau",
        kendall_tau(numbers),
        "tau",
        arrivals=len(numbers),
        prequeue=len(pre),
        first_number=numbers[0],
        goal="1.0",
    )


def kendall_tau(values: list[int]) -> float:
    """Kendall's tau between arrival order (0..n-1) and `values`."""
    n = len(values)
    concordant = discordant = 0
    for i in range(n):
        vi = values[i]
        for j in range(i + 1, n):
            if values[j] > vi:
                concordant += 1
            elif values[j] < vi:
                discordant += 1
    return (concordant - discordant) / (n * (n - 1) / 2)


# -- 5. the HTTP server: homeroom's, with its door, against its peers (docs/server.md) ---------

SERVERS = ("homeroom", *server_peers.SERVERS)  # homeroom: `homeroom run`, with its door


def server_round(name: str, redis_url: str, seconds: int) -> dict[str, float]:
    """One server, started for this round alone: state and ticket requests a second, and the
    server's CPU µs a request (less sensitive than rates to what else the machine runs)."""
    port = free_port()
    gate = GateProcess(gate_env(redis_url), port, SERVER_CPU, server_peers.command(name)).start()
    assert gate.proc is not None
    try:
        url = f"http://127.0.0.1:{port}/gate/national/state"
        wrk(url, 1)  # warm-up
        cpu = process_cpu_s(gate.proc.pid)
        state, answered = wrk_run(url, seconds)
        state_us = (process_cpu_s(gate.proc.pid) - cpu) / answered * 1e6
        target = {"targets": [{"host": "127.0.0.1", "port": port}]}
        ticket = {**target, "requests": [post("/gate/national/ticket", port)], "connections": 64}
        loadgen({**ticket, "repeat": 2000, "duration_s": 2})  # warm-up
        cpu = process_cpu_s(gate.proc.pid)
        result = loadgen({**ticket, "repeat": 400_000, "duration_s": seconds})
        issued = result["statuses"].get("201", 0)
        ticket_us = (process_cpu_s(gate.proc.pid) - cpu) / max(1, issued) * 1e6
        return {
            "state_rps": state,
            "state_cpu_us": state_us,
            "ticket_rps": issued / result["elapsed_s"],
            "ticket_cpu_us": ticket_us,
        }
    finally:
        gate.stop()


def bench_servers() -> None:
    """Each server's figures, in rounds (the order turns each round), and each peer's ratio to
    homeroom within a round: the machine is shared, so only same-round ratios compare."""
    rounds, seconds = (2, 3) if QUICK else (4, 5)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SERVERS}
    with RedisServer() as redis:
        for r in range(rounds):
            for name in SERVERS[r % len(SERVERS) :] + SERVERS[: r % len(SERVERS)]:
                runs[name].append(server_round(name, redis.url, seconds))
    for figure, unit in SERVER_FIGURES.items():
        ours = [run[figure] for run in runs["homeroom"]]
        for name in SERVERS:
            values = [run[figure] for run in runs[name]]
            emit(f"server_{figure}", median(values), unit, server=name, runs=_round(values))
            if name != "homeroom":
                ratios = [theirs / mine for theirs, mine in zip(values, ours, strict=True)]
                emit(
                    f"server_{figure}_vs_homeroom",
                    median(ratios),
                    "ratio",
                    server=name,
                    runs=_round(ratios, 3),
                )


SERVER_FIGURES = {
    "state_rps": "req/s",
    "state_cpu_us": "µs/req",
    "ticket_rps": "req/s",
    "ticket_cpu_us": "µs/req",
}


def _round(values: list[float], digits: int = 1) -> list[float]:
    return [round(v, digits) for v in values]


def main() -> None:
    for tool in ("taskset", "wrk", "nginx", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench-gate needs {tool}")
    only = set(sys.argv[1:])
    steps = {
        "state": bench_state,
        "check": bench_check,
        "ticket": bench_ticket_redeem,
        "memory": bench_bytes_per_waiting,
        "cluster": bench_overadmit_and_fifo,
        "servers": bench_servers,
    }
    for name, step in steps.items():
        if not only or name in only:
            step()


if __name__ == "__main__":
    main()

"""`make bench-school`: the school figures of issue #3, one JSON object per line.

    python bench/school_bench.py [step ...]     # every step when none is named
    BENCH_QUICK=1 python bench/school_bench.py  # shorter runs while developing the bench

Each step is a function registered with `@step("name")` (bench/steps.py); a step prints its own
lines and is bounded in time. PostgreSQL is the server on 127.0.0.1:5432 (user postgres): a step that
needs it creates a database `homeroom_bench_<hex>` and drops it afterwards. The steps that drive
a real `homeroom run` process pin it to core 0 and wrk to core 1, as `bench/gate_bench.py` does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, literal, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.steps import Steps, emit  # noqa: E402
from tests.gate_process import GateProcess, wait_http  # noqa: E402
from tests.school import people  # noqa: E402

from homeroom.school.auth.passwords import (  # noqa: E402
    ARGON2_CFFI_DEFAULT,
    OWASP_MINIMUM,
    PasswordParameters,
    Passwords,
    VerifyPool,
)
from homeroom.school.auth.sessions import COOKIE, LONG, Sessions  # noqa: E402
from homeroom.school.data import db  # noqa: E402
from homeroom.school.data.models import Academy, Person, School  # noqa: E402
from homeroom.school.data.queries import load_principal, sessions_of_groups  # noqa: E402
from homeroom.school.people.importer import ImportReport, import_roster  # noqa: E402
from homeroom.school.people.roster import parse_roster  # noqa: E402

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PY = str(ROOT / ".venv" / "bin" / "python")
SERVER_CPU, CLIENT_CPU = "0", "1"
QUICK = os.environ.get("BENCH_QUICK") == "1"  # shorter runs while developing the bench
NOW = dt.datetime(2026, 9, 1, 6, 0, tzinfo=dt.UTC)

step = Steps()


# --- databases -------------------------------------------------------------------------------


async def pg_execute(statement: str) -> None:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[str]:
    """The URL of a new database at head: a SQLite file, or a PostgreSQL database, dropped after."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="homeroom_bench_") as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'school.db'}"
            db.upgrade(url)  # env.py migrates on a thread of its own when a loop runs
            yield url
        return
    name = f"homeroom_bench_{secrets.token_hex(6)}"
    await pg_execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
        db.upgrade(url)
        yield url
    finally:
        await pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class QueryCount:
    """Statements the engine sends (an executemany counts once, each insertmanyvalues page too)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        self.engine = engine
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._seen)


# --- roster ----------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split(",")


# common names, so that logins clash as in a real school (lea.martin, lea.martin2...)
GIVEN = words(
    "Léa,Emma,Jade,Louise,Alice,Chloé,Lina,Rose,Anna,Mila,Inès,Ambre,Julia,Mia,Léna,Manon,Zoé,"
    "Agathe,Lou,Juliette,Gabriel,Léo,Raphaël,Arthur,Louis,Jules,Adam,Maël,Lucas,Hugo,Noah,"
    "Liam,Sacha,Gabin,Nathan,Aaron,Mohamed,Éthan,Paul,Tom,Moussa,Yasmine,Fatou,Chen,Théo"
)
FAMILY = words(
    "Martin,Bernard,Thomas,Petit,Robert,Richard,Durand,Dubois,Moreau,Laurent,Simon,Michel,"
    "Lefebvre,Leroy,Roux,David,Bertrand,Morel,Fournier,Girard,Bonnet,Dupont,Lambert,Fontaine,"
    "Rousseau,Vincent,Muller,Lefèvre,Faure,André,Mercier,Blanc,Guérin,Boyer,Garnier,Chevalier,"
    "François,Legrand,Gauthier,Garcia,Perrin,Robin,Clément,Morin,Nicolas,Henry,Roussel,"
    "Mathieu,N'Diaye,Diallo,Nguyen,Traoré,Benali,Da Silva,Le Gall,Ferreira"
)
SUBJECTS = words(
    "Mathématiques,Français,Histoire-géographie,Anglais,Physique-chimie,SVT,EPS,Musique"
)


def roster_csv(
    rows: int = 10_000, classes: int = 300, teachers: int = 500, parents: int = 1_000
) -> bytes:
    """A school's file: pupils in `classes` groups, teachers of six groups each, parents of 1-3."""
    rng = random.Random(3)
    groups = [f"{6 - i % 4}e {i // 4 + 1:02d}" for i in range(classes)]
    pupils = rows - teachers - parents
    lines = ["role;id;nom;prenom;classe;matiere;email;amenagement;enfants"]
    for n in range(pupils):
        flag = "oui" if rng.random() < 0.05 else "non"
        lines.append(
            f"eleve;E{n:05d};{rng.choice(FAMILY)};{rng.choice(GIVEN)};{groups[n % classes]};;;{flag};"
        )
    for n in range(teachers):
        taught = ";".join(rng.sample(groups, 6))
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        email = f"{given.lower()}.{n}@ac-bench.fr"
        lines.append(
            f'enseignant;P{n:04d};{family};{given};"{taught}";{SUBJECTS[n % len(SUBJECTS)]};{email};;'
        )
    for n in range(parents):
        children = ";".join(f"E{c:05d}" for c in rng.sample(range(pupils), rng.randint(1, 3)))
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        lines.append(f'parent;R{n:04d};{family};{given};;;parent{n}@example.fr;;"{children}"')
    return ("\n".join(lines) + "\n").encode()


async def _school(url: str) -> int:
    engine = db.engine_for(url)
    try:
        async with db.sessions(engine)() as session:
            academy = Academy(code="bench", name="Bench")
            session.add(academy)
            await session.flush()
            school = School(academy_id=academy.id, uai="0759999Z", name="Collège du banc")
            session.add(school)
            await session.commit()
            return school.id
    finally:
        await engine.dispose()


async def _timed_import(url: str, school_id: int, data: bytes) -> tuple[float, int, ImportReport]:
    """Seconds and statements of one import, on an engine of its own (a cold start)."""
    engine = db.engine_for(url)
    try:
        queries = QueryCount(engine)
        async with db.sessions(engine)() as session:
            started = time.perf_counter()
            report = await import_roster(session, school_id, data, now=NOW)
            seconds = time.perf_counter() - started
        return seconds, queries.count, report
    finally:
        await engine.dispose()


async def _roster_on(kind: str, data: bytes, rows: int) -> None:
    async with fresh_database(kind) as url:
        school_id = await _school(url)
        seconds, queries, report = await asyncio.wait_for(
            _timed_import(url, school_id, data), timeout=120
        )
        assert report.created == rows and not report.errors, report.errors[:3]
        emit(
            "roster_import_rows_per_s",
            rows / seconds,
            "rows/s",
            db=kind,
            rows=rows,
            goal=">= 2000",
            seconds=round(seconds, 3),
            queries=queries,
            groups=len(report.groups_created),
        )
        seconds, queries, report = await asyncio.wait_for(
            _timed_import(url, school_id, data), timeout=120
        )
        assert report.created == report.updated == 0 and report.unchanged == rows
        emit(
            "roster_reimport_rows_per_s",
            rows / seconds,
            "rows/s",
            db=kind,
            rows=rows,
            seconds=round(seconds, 3),
            queries=queries,
        )


@step("roster")
def bench_roster() -> None:
    rows = 10_000
    data = roster_csv(rows)
    started = time.perf_counter()
    parsed = parse_roster(data)
    parse_s = time.perf_counter() - started
    assert len(parsed.rows) == rows and not parsed.errors, parsed.errors[:3]
    emit("roster_parse_rows_per_s", rows / parse_s, "rows/s", rows=rows, bytes=len(data))
    for kind in ("sqlite", "postgresql"):
        asyncio.run(_roster_on(kind, data, rows))


# --- sign-in ---------------------------------------------------------------------------------

SIGNIN_S = float(os.environ.get("BENCH_SIGNIN_S", "1" if QUICK else "3"))
SIGNIN_PARAMETERS = {"owasp": OWASP_MINIMUM, "default": ARGON2_CFFI_DEFAULT}
SIGNIN_CHILD = "--signin-child"


async def verify_for(params: PasswordParameters, seconds: float) -> dict[str, Any]:
    """Right-password verifications through a full `VerifyPool` for `seconds`; rate and costs."""
    password = "un cheval vert dans la prairie"
    checker = Passwords(params)
    stored = checker.hash(password)
    checker.verify(None, password)  # warm: makes the dummy hash, touches the allocator
    pool = VerifyPool(check=checker.verify)  # one worker per CPU this process may use
    count = 0

    async def client(deadline: float) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            assert (await pool.verify(stored, password)).ok
            count += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:  # two clients per worker keep every worker busy, far below max_waiting
        await asyncio.gather(*(client(wall0 + seconds) for _ in range(2 * pool.workers)))
    finally:
        pool.close()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "per_s": count / wall,
        "verifications": count,
        "seconds": round(wall, 3),
        "cpu_ms_per_verification": round(1000 * cpu / max(count, 1), 2),
        "workers": pool.workers,
        "memory_mib_per_verification": round(params.memory_cost / 1024, 1),
    }


def signin_child(name: str) -> int:
    print(json.dumps(asyncio.run(verify_for(SIGNIN_PARAMETERS[name], SIGNIN_S))))
    return 0


def measure_signin(name: str) -> dict[str, Any]:
    """`verify_for` in a fresh process pinned to one core: the figure per core, per process."""
    command = [PY, __file__, SIGNIN_CHILD, name]
    pinned = shutil.which("taskset") is not None
    if pinned:
        command = ["taskset", "-c", SERVER_CPU, *command]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=60 + 4 * SIGNIN_S
    )
    result: dict[str, Any] = json.loads(out.stdout)
    result["pinned_cpu"] = SERVER_CPU if pinned else None
    return result


@step("signin")
def bench_signin() -> None:
    chosen, default = measure_signin("owasp"), measure_signin("default")
    chosen_rate, default_rate = chosen.pop("per_s"), default.pop("per_s")
    emit(
        "signin_per_s",
        chosen_rate,
        "per_s",
        params={"type": "argon2id", **asdict(OWASP_MINIMUM)},
        **chosen,
    )
    emit(
        "signin_default_per_s",
        default_rate,
        "per_s",
        params={"type": "argon2id", **asdict(ARGON2_CFFI_DEFAULT)},
        ratio_chosen_to_default=round(chosen_rate / default_rate, 2) if default_rate else None,
        **default,
    )


# --- signed-in requests ----------------------------------------------------------------------

SESSION_PEOPLE = 60 if QUICK else 300  # signed in through the API, their cookies rotated
SESSION_S = int(os.environ.get("BENCH_SESSION_S", "3" if QUICK else "8"))
SESSION_CONNECTIONS = 32
SESSION_PASSWORD = "un cheval vert dans la prairie"
PROFILE_CHILD = "--profile-child"
BREAKDOWN_CHILD = "--breakdown-child"
WRK_LUA = """
local cookies = {%s}
local i = 0
request = function()
  i = i %% #cookies + 1
  return wrk.format("GET", "%s", {["Accept"] = "application/json", ["Cookie"] = cookies[i]})
end
"""


async def _seed_pupils(url: str, count: int) -> list[str]:
    """`count` pupils of one school through the roster import, all with one argon2id hash."""
    school_id = await _school(url)
    data = roster_csv(rows=count, classes=max(1, count // 25), teachers=0, parents=0)
    engine = db.engine_for(url)
    try:
        async with db.sessions(engine)() as session:
            report = await import_roster(session, school_id, data, now=NOW)
            assert report.created == count and not report.errors, report.errors[:3]
            # one hash for everyone: hashing 300 passwords would only slow the set-up down
            stored = Passwords(OWASP_MINIMUM).hash(SESSION_PASSWORD)
            await session.execute(
                update(Person).where(Person.school_id == school_id).values(password_hash=stored)
            )
            await session.commit()
            logins = await session.scalars(
                select(Person.login).where(Person.school_id == school_id)
            )
            return sorted(logins)
    finally:
        await engine.dispose()


def _sign_in(port: int, login: str) -> str:
    """The `hr_sid` cookie of one sign-in through POST /api/v1/session (503: try again)."""
    body = json.dumps({"login": login, "password": SESSION_PASSWORD})
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(
                "POST",
                "/api/v1/session",
                body=body,
                headers={"content-type": "application/json", "accept": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            if response.status == 201:
                cookie = response.getheader("set-cookie") or ""
                assert cookie.startswith(f"{COOKIE}="), cookie
                return cookie.split(";")[0]
            if response.status != 503:  # the verification pool is full: not a failure
                raise RuntimeError(f"sign-in of {login}: HTTP {response.status}")
        finally:
            conn.close()
        time.sleep(0.1)
    raise TimeoutError(f"sign-in of {login}: still busy")


def sign_in_all(port: int, logins: list[str]) -> tuple[list[str], float]:
    """Everyone's cookie, signing in two at a time (the server verifies on one core)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        cookies = list(pool.map(lambda login: _sign_in(port, login), logins))
    return cookies, time.perf_counter() - started


def _get(port: int, path: str, cookie: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"cookie": cookie, "accept": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk_run(
    url: str, seconds: int, cookies: Sequence[str] = (), connections: int = SESSION_CONNECTIONS
) -> dict[str, Any]:
    """wrk on CLIENT_CPU for `seconds`, one thread, rotating `cookies`; rate and latencies."""
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "--timeout", "5s"]
    script = None
    if cookies:
        path = "/" + url.split("/", 3)[3]
        listed = ", ".join(json.dumps(cookie) for cookie in cookies)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(WRK_LUA % (listed, path))
        script = handle.name
        command += ["-s", script]
    try:
        out = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=True
        ).stdout
    finally:
        if script:
            os.unlink(script)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    return {
        "per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else None,
        "p50_ms": round(_wrk_ms(latency["50"]), 3),
        "p99_ms": round(_wrk_ms(latency["99"]), 3),
    }


class ProfiledProcess(GateProcess):
    """`homeroom run` under cProfile, enabled by SIGUSR1 and written out by SIGUSR2."""

    def __init__(self, env: dict[str, str], out: str, cpu: str) -> None:
        super().__init__(env, cpu=cpu)
        self.out = out

    def start(self) -> ProfiledProcess:
        argv = ["taskset", "-c", str(self.cpu), PY, __file__, PROFILE_CHILD, self.out]
        self.proc = subprocess.Popen(
            argv, env=self.env, cwd=self.workdir, stdout=subprocess.DEVNULL
        )
        wait_http(f"{self.base}/healthz", process=self.proc)
        return self

    def signal(self, number: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(number)


def profile_child(out: str) -> int:
    """The server of `ProfiledProcess`: the main thread profiled between SIGUSR1 and SIGUSR2."""
    import cProfile

    from homeroom.cli import main as homeroom_main

    profiler = cProfile.Profile()

    def begin(*_: object) -> None:
        profiler.enable()

    def end(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, begin)
    signal.signal(signal.SIGUSR2, end)
    return homeroom_main(["run"])


PACKAGES = {
    "sqlalchemy": "sqlalchemy (ORM, core, pool)",
    "aiosqlite": "aiosqlite (thread hand-off)",
    "asyncpg": "asyncpg",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "homeroom": "homeroom",
    "itsdangerous": "itsdangerous",
    "asyncio": "asyncio",
    "json": "json",
}


def profile_summary(path: str, top: int = 15) -> dict[str, Any]:
    """Where the main thread's time went: shares by package (own time) and the top functions."""
    import pstats

    stats = pstats.Stats(path)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values()) or 1.0
    shares: dict[str, float] = {}
    rows = []
    for (filename, line, function), (_cc, calls, own, cumulative, _callers) in table.items():
        name = next((label for key, label in PACKAGES.items() if f"/{key}/" in filename), None)
        if name is None:
            name = "builtins and C" if filename == "~" else "other"
        shares[name] = shares.get(name, 0.0) + own
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        rows.append((own, cumulative, calls, f"{short}:{line}({function})"))
    rows.sort(reverse=True)
    return {
        "own_time_share": {
            k: round(v / total, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
        },
        "top_own_time": [
            {"function": f, "own_s": round(o, 3), "cumulative_s": round(c, 3), "calls": n}
            for o, c, n, f in rows[:top]
        ],
        "profiled_s": round(total, 3),
    }


def _session_on(kind: str, profile: bool) -> None:
    async def prepare(url: str) -> list[str]:
        return await asyncio.wait_for(_seed_pupils(url, SESSION_PEOPLE), timeout=120)

    async def run() -> None:
        async with fresh_database(kind) as url:
            logins = await prepare(url)
            env = {"HOMEROOM_DATABASE_URL": url, "HOMEROOM_VERIFY_WORKERS": "1"}
            if profile:
                _profile_session(env, logins)
            else:
                _measure_session(kind, env, logins)

    asyncio.run(run())


def _measure_session(kind: str, env: dict[str, str], logins: list[str]) -> None:
    server = GateProcess(env, cpu=SERVER_CPU).start()
    try:
        cookies, signin_s = sign_in_all(server.port, logins)
        status, body = _get(server.port, "/api/v1/me", cookies[0])
        assert status == 200 and body["roles"] == ["pupil"], (status, body)
        url = f"{server.base}/api/v1/me"
        wrk_run(url, 2, cookies)  # warm-up: every session in the process's cache
        me = wrk_run(url, SESSION_S, cookies)
        floor = wrk_run(f"{server.base}/healthz", SESSION_S)
    finally:
        server.stop()
    if me["non_2xx"] > me["requests"] * 0.001:
        raise RuntimeError(f"/api/v1/me: {me['non_2xx']} non-2xx responses of {me['requests']}")
    rate = me.pop("per_s")
    emit(
        "session_check_per_s",
        rate,
        "req/s",
        db=kind,
        endpoint="GET /api/v1/me",
        goal=">= 2000",
        connections=SESSION_CONNECTIONS,
        sessions=len(cookies),
        seconds=SESSION_S,
        **me,
        signin_s=round(signin_s, 2),
        server_cpu=SERVER_CPU,
        client_cpu=CLIENT_CPU,
        healthz_per_s=round(floor["per_s"], 1),
        ratio_to_healthz=round(rate / floor["per_s"], 3),
    )


def _profile_session(env: dict[str, str], logins: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="homeroom_profile_") as directory:
        out = str(Path(directory) / "server.prof")
        server = ProfiledProcess(env, out, cpu=SERVER_CPU).start()
        try:
            cookies, _ = sign_in_all(server.port, logins)
            url = f"{server.base}/api/v1/me"
            wrk_run(url, 2, cookies)
            server.signal(signal.SIGUSR1)
            profiled = wrk_run(url, SESSION_S, cookies)
            server.signal(signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not Path(out).exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # dump_stats writes the whole file before returning, but be sure
        finally:
            server.stop()
        emit(
            "session_check_profile",
            profiled["per_s"],
            "req/s under cProfile",
            db="sqlite",
            endpoint="GET /api/v1/me",
            note="main thread only: aiosqlite's own thread runs the SQLite calls",
            **profile_summary(out),
        )


@step("session")
def bench_session() -> None:
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("the session step needs wrk and taskset (make bench-school installs them)")
    for kind in ("sqlite", "postgresql"):
        _session_on(kind, profile=False)


async def _breakdown_on(kind: str, rounds: int) -> None:
    """Microseconds of each part of GET /api/v1/me in this process (no HTTP), one at a time."""
    async with fresh_database(kind) as url:
        engine = db.engine_for(url)
        try:
            async with db.sessions(engine)() as session:
                demo = await people.build(session, classes=3)
            sessions = Sessions(b"k" * 32, clock=people.NOW.timestamp)
            async with db.sessions(engine)() as session:
                cookie = await sessions.create(session, demo.pupil, LONG)
                await session.commit()

            async def check() -> None:
                async with db.sessions(engine)() as session:
                    assert await sessions.check(session, cookie) is not None

            async def principal() -> None:
                async with db.sessions(engine)() as session:
                    assert await load_principal(session, demo.pupil) is not None

            async def one_query() -> None:
                async with db.sessions(engine)() as session:
                    await session.execute(select(literal(1)))

            parts = {"session_check_cached": check, "load_principal": principal}
            parts["select_1_round_trip"] = one_query
            timings = {}
            for name, part in parts.items():
                await part()  # warm: the session cached, the statements compiled
                started = time.perf_counter()
                for _ in range(rounds):
                    await part()
                timings[f"{name}_us"] = round((time.perf_counter() - started) / rounds * 1e6, 1)
        finally:
            await engine.dispose()
    emit(
        "me_request_parts_us",
        sum(v for k, v in timings.items() if not k.startswith("select_1")),
        "us",
        db=kind,
        note="one request at a time, in process, each part with its own AsyncSession",
        **timings,
    )


@step("session-profile")
def bench_session_profile() -> None:
    """Where a signed-in request's time goes: its parts in process, then cProfile in the server."""
    for kind in ("sqlite", "postgresql"):
        script = [PY, __file__, BREAKDOWN_CHILD, kind]
        out = subprocess.run(
            ["taskset", "-c", SERVER_CPU, *script], capture_output=True, text=True, timeout=120
        )
        print(out.stdout, end="", flush=True)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
    _session_on("sqlite", profile=True)


# --- queries of the pupil dashboard ----------------------------------------------------------


async def _dashboard(engine: AsyncEngine, sessions: Sessions, cookie: str) -> tuple[int, int]:
    """Statements and rows of one pupil dashboard: session check, Principal, day's sessions."""
    queries = QueryCount(engine)
    try:
        async with db.sessions(engine)() as session:
            current = await sessions.check(session, cookie)
            assert current is not None
            principal = await load_principal(session, current.person_id)
            assert principal is not None
            groups = principal.enrolled | principal.taught | principal.children_groups
            start = people.NOW.replace(hour=0)  # the day of the dashboard, as the API takes it
            end = start + dt.timedelta(days=1)
            rows = await sessions_of_groups(session, groups, start, end)
        return queries.count, len(rows)
    finally:
        queries.close()


async def _dashboard_on(kind: str, classes: int) -> None:
    async with fresh_database(kind) as url:
        engine = db.engine_for(url)
        try:
            async with db.sessions(engine)() as session:
                demo = await people.build(session, classes=classes)
            clock = people.NOW.timestamp
            async with db.sessions(engine)() as session:
                cookie = await Sessions(b"k" * 32, clock=clock).create(session, demo.pupil, LONG)
                await session.commit()
            sessions = Sessions(b"k" * 32, clock=clock)  # a process that has not seen it: cold
            cold, rows = await _dashboard(engine, sessions, cookie)
            warm, _ = await _dashboard(engine, sessions, cookie)
        finally:
            await engine.dispose()
    assert rows == 2 * classes, rows
    emit(
        "db_queries_per_dashboard",
        cold,
        "statements",
        db=kind,
        classes=classes,
        sessions_listed=rows,
        cache="cold",
        with_session_cached=warm,
        goal="<= 5",
    )


@step("dashboard")
def bench_dashboard() -> None:
    for kind in ("sqlite", "postgresql"):
        for classes in (1, 12):
            asyncio.run(_dashboard_on(kind, classes))


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    if names[:1] == [SIGNIN_CHILD]:  # one measurement, in the process `bench_signin` pinned
        return signin_child(names[1])
    if names[:1] == [PROFILE_CHILD]:  # the server of `bench_session_profile`
        return profile_child(names[1])
    if names[:1] == [BREAKDOWN_CHILD]:  # `_breakdown_on` pinned to the server's core
        asyncio.run(_breakdown_on(names[1], 300 if QUICK else 2000))
        return 0
    done = step.run(names)
    if done:
        return done
    return 0


if __name__ == "__main__":
    sys.exit(main())

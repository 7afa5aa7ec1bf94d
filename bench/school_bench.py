"""`make bench-school`: the school figures of issue #3, one JSON object per line.

    python bench/school_bench.py [step ...]     # every step when none is named

Each step is a function registered in `STEPS` with `@step("name")`; a step prints its own lines
and is bounded in time. PostgreSQL is the server on 127.0.0.1:5432 (user postgres): a step that
needs it creates a database `homeroom_bench_<hex>` and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from homeroom.school import db  # noqa: E402
from homeroom.school.importer import ImportReport, import_roster  # noqa: E402
from homeroom.school.models import Academy, School  # noqa: E402
from homeroom.school.passwords import (  # noqa: E402
    ARGON2_CFFI_DEFAULT,
    OWASP_MINIMUM,
    PasswordParameters,
    Passwords,
    VerifyPool,
)
from homeroom.school.roster import parse_roster  # noqa: E402

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PY = str(ROOT / ".venv" / "bin" / "python")
SERVER_CPU = "0"
QUICK = os.environ.get("BENCH_QUICK") == "1"  # shorter runs while developing the bench
NOW = dt.datetime(2026, 9, 1, 6, 0, tzinfo=dt.UTC)

STEPS: dict[str, Callable[[], None]] = {}


def step(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(function: Callable[[], None]) -> Callable[[], None]:
        STEPS[name] = function
        return function

    return register


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(
        json.dumps({"metric": metric, "value": round(value, 4), "unit": unit, **extra}), flush=True
    )


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
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


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


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv) or list(STEPS)
    if names[:1] == [SIGNIN_CHILD]:  # one measurement, in the process `bench_signin` pinned
        return signin_child(names[1])
    unknown = [name for name in names if name not in STEPS]
    if unknown:
        print(f"unknown step(s): {', '.join(unknown)}; known: {', '.join(STEPS)}", file=sys.stderr)
        return 2
    for name in names:
        STEPS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())

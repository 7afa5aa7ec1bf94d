"""deploy/nginx/homeroom.conf as it is, in front of real `homeroom run` and `homeroom live`.

nginx runs the file with its ports, upstreams and certificate paths swapped for the test's (a
throw-away certificate made with openssl): HSTS arrives once on every answer, the application's
own headers pass through, cookies are Secure, plain http is sent to https, and a class joins
over `wss://…/live` (docs/operations.md#tls-in-front-nginx).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from homeroom.config import load_settings
from homeroom.core.live.parts import Role
from homeroom.keys import live_join_key
from homeroom.live.jointoken import JoinClaims, JoinTokens
from tests.e2e.test_live_processes import LiveProcess
from tests.gate_process import ROOT, GateProcess
from tests.redis_servers import free_port

pytestmark = pytest.mark.slow
CONF = ROOT / "deploy" / "nginx" / "homeroom.conf"
ORIGIN = "https://classe.example.fr"
KEYS = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
HSTS = "max-age=31536000"
MAIN = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  include {dir}/homeroom.conf;
}}
"""


def swap(text: str, old: str, new: str) -> str:
    """`text` with `old` (which must be there: the example keeps its shape) made `new`."""
    assert old in text, f"deploy/nginx/homeroom.conf no longer has {old!r}"
    return text.replace(old, new)


@dataclass
class Proxied:
    https: str
    http: str


def certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
    out = ["-subj", "/CN=classe.example.fr", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(["openssl", "req", "-x509", *ec, *out], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def proxied() -> Iterator[Proxied]:
    subprocess.run([str(ROOT / "scripts" / "need"), "nginx", "openssl"], check=True)
    env = {
        "HOMEROOM_PUBLIC_ORIGIN": ORIGIN,
        "HOMEROOM_LIVE_PUBLIC_URL": f"{ORIGIN.replace('https', 'wss')}/live",
        "HOMEROOM_SECRET_KEYS": KEYS,
        "HOMEROOM_MODE": "safety_net",
    }
    live = LiveProcess(env)  # its port first: the app names it
    work = Path(tempfile.mkdtemp(prefix="homeroom-nginx-"))
    try:
        with GateProcess({**env, "HOMEROOM_LIVE_PORT": str(live.port)}) as app:
            # the gateway records into the app's database
            database = Path(app.workdir) / ".homeroom" / "homeroom.db"
            live.env["HOMEROOM_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
            live.start()
            cert, key = certificate(work)
            tls, plain = free_port(), free_port()
            site = CONF.read_text()
            site = swap(site, "listen 80;", f"listen 127.0.0.1:{plain};")
            site = swap(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{tls} ssl http2;")
            site = swap(site, "127.0.0.1:8000;", f"127.0.0.1:{app.port};")
            site = swap(site, "127.0.0.1:8001;", f"127.0.0.1:{live.port};")
            site = swap(site, "/etc/ssl/homeroom/fullchain.pem", str(cert))
            site = swap(site, "/etc/ssl/homeroom/privkey.pem", str(key))
            (work / "homeroom.conf").write_text(site)
            (work / "nginx.conf").write_text(MAIN.format(dir=work))
            nginx = subprocess.Popen(
                ["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)],
                stderr=subprocess.PIPE,
            )
            try:
                answering(f"http://127.0.0.1:{plain}/healthz", nginx)
                yield Proxied(f"https://127.0.0.1:{tls}", f"http://127.0.0.1:{plain}")
            finally:
                nginx.terminate()
                nginx.wait(10)
    finally:
        live.stop()
        shutil.rmtree(work, ignore_errors=True)


def answering(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll `url` (not following redirects) until it answers; fail early if `process` died."""
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def client(base: str) -> httpx.Client:
    # the certificate is the test's own; the name the browser would use goes in Host
    return httpx.Client(base_url=base, verify=False, headers={"host": "classe.example.fr"})


def test_every_answer_has_hsts_once_and_the_apps_headers(proxied: Proxied) -> None:
    with client(proxied.https) as https:
        answers = {
            "page": https.get("/signup", headers={"accept": "text/html"}),
            "error page": https.get("/no/such/page", headers={"accept": "text/html"}),
            "JSON": https.get("/healthz"),
            "state": https.get("/gate/national/state"),
            "static": https.get("/static/gate.css"),
        }
    for kind, answer in answers.items():
        assert answer.headers.get_list("strict-transport-security") == [HSTS], kind
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"], kind
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], kind
    page = answers["page"].headers["content-security-policy"]
    assert "connect-src 'self' wss://classe.example.fr;" in page
    assert answers["page"].headers["x-frame-options"] == "DENY"


def test_cookies_are_secure_behind_the_proxy(proxied: Proxied) -> None:
    with client(proxied.https) as https:
        ticket = https.post("/gate/national/ticket", headers={"accept": "application/json"})
    cookies = ticket.headers.get_list("set-cookie")
    assert ticket.status_code in (200, 201) and cookies
    assert all(cookie.endswith("; Secure") for cookie in cookies), cookies


def test_plain_http_is_sent_to_https(proxied: Proxied) -> None:
    with client(proxied.http) as plain:
        answer = plain.get("/signin?next=/home")
    assert answer.status_code == 301
    assert answer.headers["location"] == "https://classe.example.fr/signin?next=/home"


def test_a_class_joins_over_the_proxys_wss(proxied: Proxied) -> None:
    tokens = JoinTokens(live_join_key(load_settings(secret_keys=KEYS)))
    claims = JoinClaims("s-proxy", "p1", Role.PUPIL, "P1", int(time.time()) + 600)
    url = f"{proxied.https.replace('https', 'wss')}/live?token={tokens.issue(claims)}"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def first_message() -> dict[str, object]:
        async with connect(url, ssl=context, open_timeout=10) as ws:
            message: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return message

    assert asyncio.run(first_message())["type"] == "snapshot"

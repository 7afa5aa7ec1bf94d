"""Every HTML page: one Jinja2 environment and `render_page` (docs/gate.md#page).

Templates live in web/templates (the layout and the error page every component uses),
gate/templates and school/pages/templates, and receive, besides what the server passes:

- `t(key, **kw)` and `plural(key, number)`: the page's language's catalogue (web/i18n.py), and
  `N_(key)`, which marks a key chosen at run time so that extraction finds it;
- `lang`, and `other_langs` (each other language and its name), for the language switch;
- `static(name)`: the URL of one of homeroom's files (under /static/, or the prefix
  `HOMEROOM_STATIC_PATH` names: `use_static_path`), with a version query that changes with the
  files, so they can be cached for a long time;
- `n(number)`, `with_query(url, **params)` and `query_param(url, name)`;
- the filters `isotime` (unix time to ISO 8601) and `local` (a URL that is not a path on this
  site becomes "/", so a link or a redirect never leaves it).

Autoescaping is on for every template, and an undefined name is an error, not an empty string.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

import homeroom
from homeroom.web import i18n

STATIC_PREFIX = "/static/"
_static_prefix = [STATIC_PREFIX]  # what static_url writes: one process, one setting
_VERSIONED = (
    "gate.css",
    "gate.js",
    "gate-altcha.js",
    "school.css",
    "live.css",
    "live.js",
    "live-board.js",
    "live-conn.js",
    "live-slides.js",
    "live-state.js",
)

# Optional context: a template may read these names even when the server leaves them out.
_OPTIONAL: Mapping[str, object] = {
    "message": None,
    "waiting_content": None,
    "altcha": None,
    "page_url": None,
    "opening_text": None,
    "opening_at": None,
    "refresh_s": None,
    "retry_after": None,
    "retry_url": None,
    "back_url": "/",
    "position": None,
    "number": None,
    "issued": None,  # the ticket's issue time, for static/gate.js
    "wait_text": None,
}


@functools.cache
def static_version() -> str:
    """A short hash of the package version and of our static files, for cache busting."""
    digest = hashlib.blake2b(homeroom.__version__.encode(), digest_size=6)
    folder = importlib.resources.files("homeroom") / "static"
    for name in _VERSIONED:
        entry = folder / name
        if entry.is_file():
            digest.update(entry.read_bytes())
    return digest.hexdigest()


def use_static_path(path: str) -> None:
    """Pages link homeroom's files under `path` (HOMEROOM_STATIC_PATH, e.g. /gate/static) from
    now on: in front of a workspace, its own /static/ is not homeroom's."""
    _static_prefix[0] = path.rstrip("/") + "/"


def static_url(name: str) -> str:
    """<static path>/<name>?v=<version> (/static/ unless use_static_path said otherwise)."""
    return f"{_static_prefix[0]}{name}?v={static_version()}"


def with_query(url: str, **params: object) -> str:
    """`url` with the query parameters in `params` set (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend((k, str(v)) for k, v in params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_param(url: str | None, name: str) -> str | None:
    """The first value of query parameter `name` in `url`, or None."""
    for key, value in parse_qsl(urlsplit(url or "").query, keep_blank_values=True):
        if key == name:
            return value
    return None


def local_path(url: object) -> str:
    """`url` if it is a path on this site, else "/": a link or redirect never leaves the site."""
    text = str(url or "")
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    return text


def isotime(at: float) -> str:
    """Unix time as an ISO 8601 UTC string, for <time datetime>."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _environment() -> Environment:
    env = Environment(
        # the gate's and the school's pages extend the same base.html (web/templates)
        loader=ChoiceLoader(
            [
                PackageLoader("homeroom", "web/templates"),
                PackageLoader("homeroom", "gate/templates"),
                PackageLoader("homeroom", "school/pages/templates"),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # the page's JSON stays readable UTF-8; tojson still escapes < > & ' for <script> blocks
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    env.filters["isotime"] = isotime
    env.filters["local"] = local_path
    env.globals["static"] = static_url
    env.globals["with_query"] = with_query
    env.globals["query_param"] = query_param
    env.globals["N_"] = i18n.N_
    return env


ENV = _environment()


def _bound(lang: str) -> dict[str, object]:
    translate: Callable[..., str] = functools.partial(i18n.translate, lang)
    catalogues = i18n.CATALOGUES
    return {
        "t": translate,
        "lang": lang,
        "other_langs": [
            (other, catalogues.by_lang[other].name) for other in catalogues.langs if other != lang
        ],
        "n": functools.partial(i18n.format_number, lang),
        "plural": functools.partial(i18n.plural, lang),
        "js_strings": i18n.js_strings(lang),
    }


def render_page(template: str, lang: str, **ctx: object) -> str:
    """Render `template` in `lang` (one of the catalogues'; anything else gives French)."""
    return ENV.get_template(template).render({**_OPTIONAL, **ctx, **_bound(i18n.supported(lang))})

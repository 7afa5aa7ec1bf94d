"""The browser files that come from npm (package.json at the repository root), for /static/vendor/.

`npm ci` installs them under node_modules at build time; nothing of them is committed. The server
serves each file of `vendor_files` under /static/vendor/<name>:

- altcha.js, altcha.css, altcha-sha.js: the ALTCHA widget in its build without anything inline
  (altcha/dist/external), its styles, and its SHA proof-of-work worker, which static/gate-altcha.js
  registers: so the pages' Content-Security-Policy allows scripts, styles and workers from this
  site only, never `unsafe-inline`, `blob:` or `data:` (docs/operations.md#security-headers);
- altcha-fr.js: the widget's French strings, an ES module loaded before altcha.js on French pages;
- axe.min.js: axe-core, for the accessibility checks of the browser tests only;
- pdf.min.js, pdf.worker.min.js: pdf.js, which draws a live class's slides (ES modules, named
  .js here so that they are served as JavaScript, which module scripts require).
"""

from __future__ import annotations

import pathlib

_FILES: dict[str, tuple[str, ...]] = {
    "altcha.js": ("altcha", "dist", "external", "altcha.min.js"),
    "altcha.css": ("altcha", "dist", "external", "altcha.css"),
    "altcha-sha.js": ("altcha", "dist", "workers", "sha.js"),
    "altcha-fr.js": ("altcha", "dist", "i18n", "fr-fr.js"),
    "axe.min.js": ("axe-core", "axe.min.js"),
    "pdf.min.js": ("pdfjs-dist", "build", "pdf.min.mjs"),
    "pdf.worker.min.js": ("pdfjs-dist", "build", "pdf.worker.min.mjs"),
}


def vendor_files(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """URL name → file under `root`/node_modules, for every vendor file (present or not)."""
    modules = root / "node_modules"
    return {name: modules.joinpath(*parts) for name, parts in _FILES.items()}


def missing(root: pathlib.Path) -> list[str]:
    """The vendor files not installed under `root`: run `npm ci` there to get them."""
    return [name for name, path in vendor_files(root).items() if not path.is_file()]

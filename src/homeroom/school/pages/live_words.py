"""The live class page's words for its script (docs/live.md#pages): every `class_` message, raw.

The words themselves are in the catalogues (docs/translating.md), under keys starting with
`class_`; the page's template reads them with `t()`, and static/live.js gets them all, their
placeholders such as {name} left in, from a JSON block of the page.
"""

from __future__ import annotations

from typing import Final

from homeroom.web import i18n

PREFIX: Final = "class_"


def js_words(lang: str) -> dict[str, str]:
    """Every word of the page, raw, for its script."""
    return i18n.texts(lang, PREFIX)

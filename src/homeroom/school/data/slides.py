"""Slides of a live class: a teacher's PDF checked (type, size, pages), kept on disk, read back.

A document is a number chosen at random within its session (a positive 32-bit integer, like
every id in the API's paths), kept as `<data folder>/slides/<session id>-<number>.pdf`, written
whole then linked into place, so that a reader never sees half a file. Its session is in its
address, so serving it needs no table: who may read it is `api/live.py`'s `seat_of` of that session
(docs/live.md#pages). Deleting the session deletes its documents.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Final

from pypdf import PdfReader

from homeroom.core.live.commands import PAGES
from homeroom.errors import BadRequest, TooLarge
from homeroom.school.data.models import MAX_ID

MAX_BYTES: Final = 20 * 1024 * 1024  # a lesson's slides; a scanned book is not slides
MAX_PAGES: Final = 300
FOLDER: Final = Path(".homeroom") / "slides"
MAGIC: Final = b"%PDF-"

assert MAX_PAGES <= PAGES  # slides.open refuses more pages than the protocol's bound


def too_large() -> TooLarge:
    mib = MAX_BYTES // (1024 * 1024)
    return TooLarge(
        "slides_too_large",
        f"Fichier trop volumineux (au plus {mib} Mio).",
        f"File too large (at most {mib} MiB).",
        extra={"limit": MAX_BYTES},
    )


def _refused(reason: str, french: str, english: str) -> BadRequest:
    return BadRequest(reason, french, english)


def count_pages(data: bytes) -> int:
    """The number of pages of a PDF that is not encrypted; BadRequest otherwise."""
    if not data.startswith(MAGIC):
        raise _refused("not_a_pdf", "Ce fichier n'est pas un PDF.", "This file is not a PDF.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _refused(
                "pdf_encrypted",
                "Ce PDF est protégé par un mot de passe : enregistrez-le sans protection.",
                "This PDF is password-protected: save it without protection.",
            )
        pages = len(reader.pages)
    except BadRequest:
        raise
    except Exception as exc:  # pypdf raises many kinds on a broken file: all mean "unreadable"
        raise _broken() from exc
    if pages < 1:
        raise _broken()
    if pages > MAX_PAGES:
        raise _refused(
            "too_many_pages",
            f"Trop de pages ({pages}) : au plus {MAX_PAGES}.",
            f"Too many pages ({pages}): at most {MAX_PAGES}.",
        )
    return pages


def _broken() -> BadRequest:
    return _refused(
        "pdf_broken",
        "Ce PDF est illisible ou abîmé.",
        "This PDF cannot be read (broken or damaged).",
    )


class SlideStore:
    def __init__(self, folder: Path = FOLDER) -> None:
        self.folder = folder

    def save(self, session_id: int, data: bytes) -> int:
        """Keep a checked PDF of `session_id`; its new document number."""
        self.folder.mkdir(parents=True, exist_ok=True)
        draft = self.folder / f".{session_id}-{secrets.token_hex(8)}.part"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            while True:
                doc = 1 + secrets.randbelow(MAX_ID)
                try:
                    os.link(draft, self._file(session_id, doc))  # atomic; never replaces one
                except FileExistsError:
                    continue  # one chance in two billion: draw again
                return doc
        finally:
            draft.unlink()

    def path(self, session_id: int, doc: int) -> Path | None:
        """The file of document `doc` of `session_id`, or None when there is none."""
        path = self._file(session_id, doc)
        return path if path.is_file() else None

    def forget(self, session_id: int) -> int:
        """Delete every document of `session_id` (the session is gone); how many there were."""
        gone = 0
        for path in self.folder.glob(f"{session_id}-*.pdf"):
            path.unlink(missing_ok=True)
            gone += 1
        return gone

    def _file(self, session_id: int, doc: int) -> Path:
        return self.folder / f"{session_id}-{doc}.pdf"

"""The translation catalogue: one gettext ``.po`` file per notebook, one entry per markdown cell.

An entry is keyed by the English cell's nbformat id (``msgctxt``); its ``msgid`` is the
English text it translates, its ``msgstr`` the translation, and an extracted comment
records the hash of the English the translation was checked against::

    #. en-sha256: 3b0c44298fc1c149
    msgctxt "87a130b2"
    msgid "# 00 · Set up: ..."
    msgstr "# 00 · Thiết lập: ..."

When the English changes, :func:`merge` does what gettext's ``msgmerge`` does: the new
English becomes the ``msgid``, the old one is kept as ``#| msgid`` and the entry is
marked ``fuzzy``. A translator updates the ``msgstr`` and deletes the ``fuzzy`` flag;
the next merge records the new hash. Poedit, Weblate or any text editor can do it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polib

HASH_NOTE = "en-sha256: "
FUZZY = "fuzzy"


def source_hash(text: str) -> str:
    """The short SHA-256 of an English cell's text (16 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Entry:
    """One translated cell."""

    cell: str
    english: str
    translation: str = ""
    hash: str = ""
    fuzzy: bool = False
    previous: str = ""  # the English of the last checked translation, while fuzzy

    def is_current(self, english: str) -> bool:
        """Whether this translation was checked against exactly ``english``."""
        return bool(self.translation) and not self.fuzzy and self.hash == source_hash(english)

    def old_english(self) -> str:
        """The English the translation was made from (before a merge marked it fuzzy)."""
        return self.previous or self.english


@dataclass
class Catalogue:
    """The entries of one notebook, in the notebook's cell order."""

    notebook: str
    language: str
    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, notebook: str, language: str) -> Catalogue:
        """Read ``path``; an absent file is an empty catalogue."""
        catalogue = cls(notebook, language)
        if not path.exists():
            return catalogue
        for po in polib.pofile(str(path), encoding="utf-8"):
            catalogue.entries[po.msgctxt or ""] = Entry(
                cell=po.msgctxt or "",
                english=po.msgid,
                translation=po.msgstr,
                hash=_noted_hash(po.comment.splitlines()),
                fuzzy=FUZZY in po.flags,
                previous=po.previous_msgid or "",
            )
        return catalogue

    def render(self) -> str:
        """The ``.po`` text of the catalogue."""
        po = polib.POFile(wrapwidth=0, encoding="utf-8")
        po.header = (f"{self.language} translation of notebooks/{self.notebook}.ipynb, one entry "
                     "per markdown cell (msgctxt: the cell id).\n"
                     "Build the notebooks with: python -m tools.translate build")
        po.metadata = {
            "Project-Id-Version": "ddb-streams-lambda-workshop",
            "Language": self.language,
            "MIME-Version": "1.0",
            "Content-Type": "text/plain; charset=UTF-8",
            "Content-Transfer-Encoding": "8bit",
        }
        for entry in self.entries.values():
            po.append(polib.POEntry(
                msgctxt=entry.cell,
                msgid=entry.english,
                msgstr=entry.translation,
                flags=[FUZZY] if entry.fuzzy else [],
                comment=HASH_NOTE + entry.hash if entry.hash else "",
                previous_msgid=entry.previous or None,
            ))
        return str(po).rstrip("\n") + "\n"

    def write(self, path: Path) -> bool:
        """Write the catalogue if its text changed; return whether it did."""
        text = self.render()
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return True


def _noted_hash(comments: Iterable[str]) -> str:
    for comment in comments:
        if comment.startswith(HASH_NOTE):
            return comment[len(HASH_NOTE):].strip()
    return ""


@dataclass
class MergeReport:
    """What :func:`merge` changed in one catalogue."""

    added: list[str] = field(default_factory=list)
    marked_fuzzy: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old id, new id)
    dropped: list[str] = field(default_factory=list)


def merge(catalogue: Catalogue, cells: list[tuple[str, str]]) -> MergeReport:
    """Bring a catalogue in line with the English cells ``[(cell id, text), ...]``.

    New cells get empty entries; an entry whose English changed gets the new English as
    its ``msgid``, the old one as its previous ``msgid`` and the ``fuzzy`` flag; an entry a
    translator has checked (not fuzzy, ``msgid`` equal to the English) gets the English's
    hash. An entry whose cell id disappeared moves to a new cell with the very same
    English (an id that was regenerated), or is dropped.
    """
    report = MergeReport()
    old = dict(catalogue.entries)
    wanted = {cell for cell, _ in cells}
    orphans = {entry.english: entry for cell, entry in old.items() if cell not in wanted}
    merged: dict[str, Entry] = {}
    for cell, english in cells:
        entry = old.get(cell)
        if entry is None and english in orphans:
            entry = orphans.pop(english)
            report.moved.append((entry.cell, cell))
            entry.cell = cell
        if entry is None:
            entry = Entry(cell, english, hash=source_hash(english))
            report.added.append(cell)
        elif entry.english != english:
            if entry.translation:
                entry.previous = entry.previous or entry.english
                entry.fuzzy = True
                report.marked_fuzzy.append(cell)
            else:
                entry.hash = source_hash(english)
            entry.english = english
        elif not entry.fuzzy and entry.hash != source_hash(english):
            entry.hash = source_hash(english)
            entry.previous = ""
            report.accepted.append(cell)
        if not entry.fuzzy:
            entry.previous = ""
        merged[cell] = entry
    report.dropped = sorted(entry.cell for entry in orphans.values())
    catalogue.entries = merged
    return report

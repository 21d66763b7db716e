"""Translated editions of the workshop, generated from the English notebooks and a catalogue.

The English notebooks of ``notebooks/`` are the source. A translated edition
(``notebooks/vi/``) has the same cells, in the same order, with the same ids: its
code cells are the English ones copied verbatim (source, tags, metadata) and its
markdown cells come from ``translations/vi/<notebook>.po`` (see
:mod:`tools.translation_catalogue`). Nobody edits ``notebooks/vi/*.ipynb`` by hand::

    python -m tools.translate build    # merge the catalogue with the English, write notebooks/vi
    python -m tools.translate stale    # what a translator must update, old and new English
    python -m tools.translate check    # every drift (tests/unit/test_translation_drift.py)
    python -m tools.translate status   # how much of each notebook is translated

A cell whose translation is missing or out of date is written in English, and the
check fails until it is translated.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tools import notebook_nav
from tools.notebook_nav import MARK
from tools.translation_catalogue import Catalogue, merge

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CODE_SPAN = re.compile(r"```.*?```|`[^`\n]+`", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w])")


@dataclass(frozen=True)
class Edition:
    """A translated edition: its language, where its catalogue and notebooks live, its words."""

    language: str
    catalogue_dir: Path
    notebooks_dir: Path
    english_dir: Path = NOTEBOOKS
    next_label: str = "Next"
    previous_label: str = "Previous"
    start_label: str = "Back to the start"

    def notebooks(self) -> list[str]:
        """The English notebooks' names, in order (``NN_name`` without ``.ipynb``)."""
        return sorted(p.stem for p in self.english_dir.glob("*.ipynb") if NAME.match(p.name))

    def catalogue_path(self, name: str) -> Path:
        return self.catalogue_dir / f"{name}.po"

    def catalogue(self, name: str) -> Catalogue:
        return Catalogue.read(self.catalogue_path(name), name, self.language)


VI = Edition(
    language="vi",
    catalogue_dir=ROOT / "translations" / "vi",
    notebooks_dir=NOTEBOOKS / "vi",
    next_label="Bài tiếp theo",
    previous_label="Bài trước",
    start_label="Quay lại bài đầu tiên",
)
EDITIONS = {"vi": VI}


@dataclass(frozen=True)
class Problem:
    """One way an edition has drifted from the English."""

    notebook: str
    cell: str
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.notebook}.ipynb" + (f", cell {self.cell}" if self.cell else "")
        detail = self.detail if self.detail.startswith("\n") else " " + self.detail
        return f"{where}: {self.kind}:{detail}"


# --------------------------------------------------------------------------- the English


def english_text(cell: nbformat.NotebookNode) -> str:
    """A markdown cell's translatable text: a recap loses its generated navigation lines."""
    return cell.source.split(MARK)[0].rstrip() if MARK in cell.source else cell.source


def read_english(edition: Edition, name: str) -> nbformat.NotebookNode:
    return nbformat.read(edition.english_dir / f"{name}.ipynb", as_version=4)


def translatable(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """``[(cell id, English text), ...]`` of a notebook's markdown cells."""
    return [(c.id, english_text(c)) for c in nb.cells if c.cell_type == "markdown"]


def cell_id_problems(name: str, nb: nbformat.NotebookNode) -> list[Problem]:
    """The English cell ids must exist (nbformat 4.5), be valid and be unique."""
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        return [Problem(name, "", "cell ids", f"nbformat {nb.nbformat}.{nb.nbformat_minor} has "
                        "no cell ids: save it as 4.5 (nbformat.write keeps ids)")]
    problems, seen = [], set()
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id", "")
        if not CELL_ID.match(cell_id) or cell_id in seen:
            problems.append(Problem(name, cell_id, "cell ids",
                                    f"cell {index} has a missing, invalid or repeated id"))
        seen.add(cell_id)
    return problems


# --------------------------------------------------------------------------- building


def kept_tokens(english: str) -> dict[str, set[str]]:
    """What a translation must keep of its English: code spans, link targets and numbers."""
    spans = set(CODE_SPAN.findall(english))
    prose = CODE_SPAN.sub(" ", english)
    links = set(LINK.findall(prose))
    prose = LINK.sub("] ", prose)
    return {"code span": spans, "link": links, "number": set(NUMBER.findall(prose))}


def dropped_tokens(english: str, translation: str) -> list[str]:
    """The code spans, links and numbers of ``english`` that ``translation`` lacks."""
    wanted, found = kept_tokens(english), kept_tokens(translation)
    return [f"{kind} {token}" for kind in wanted for token in sorted(wanted[kind] - found[kind])]


def relink(text: str, english: str) -> str:
    """The English's relative links, seen from the edition's folder.

    A notebook stays a sibling; another file the English links to (``../FIDELITY.md``)
    is one folder further up. Links the translation adds (``GLOSSARY.md``) are the
    edition's own and stay as they are.
    """
    theirs = set(LINK.findall(english))

    def fix(match: re.Match[str]) -> str:
        target = match.group(1)
        if (target not in theirs or re.match(r"^([a-z]+:|#|/)", target)
                or NAME.match(target.split("#")[0])):
            return match.group(0)
        return f"]({'../' + target})"

    return LINK.sub(fix, text)


def title(source: str, fallback: str) -> str:
    """A notebook's short title: its first ``# heading``, up to the colon."""
    for line in source.splitlines():
        if line.startswith("# "):
            return line[2:].split(":")[0].strip()
    return fallback


def navigation(edition: Edition, names: list[str], titles: dict[str, str], index: int) -> str:
    """The edition's navigation lines for ``names[index]`` (tools.notebook_nav's, translated)."""
    return notebook_nav.navigation([(titles[n], f"{n}.ipynb") for n in names], index,
                                   next_label=edition.next_label,
                                   start_label=edition.start_label,
                                   previous_label=edition.previous_label)


def translated(nb: nbformat.NotebookNode, catalogue: Catalogue) -> nbformat.NotebookNode:
    """The notebook with every current translation in place (without navigation lines)."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type != "markdown":
            continue
        english = english_text(cell)
        entry = catalogue.entries.get(cell.id)
        text = entry.translation if entry and entry.is_current(english) else english
        cell.source = relink(text, english)
    return out


def expected(edition: Edition) -> dict[str, nbformat.NotebookNode]:
    """Every notebook of the edition as the English and the catalogue make it."""
    names = edition.notebooks()
    books = {n: translated(read_english(edition, n), edition.catalogue(n)) for n in names}
    titles = {n: title(books[n].cells[0].source if books[n].cells else "", n) for n in names}
    for index, name in enumerate(names):
        cells = books[name].cells
        if cells and cells[-1].cell_type == "markdown" and MARK in read_english(
                edition, name).cells[-1].source:
            cells[-1].source += "\n\n" + navigation(edition, names, titles, index)
    return books


def build(edition: Edition) -> list[str]:
    """Merge the catalogues with the English, then write the edition; return what changed."""
    changed = []
    for name in edition.notebooks():
        catalogue = edition.catalogue(name)
        report = merge(catalogue, translatable(read_english(edition, name)))
        if catalogue.write(edition.catalogue_path(name)):
            changed.append(_rel(edition.catalogue_path(name)))
        for old, new in report.moved:
            print(f"{name}: the translation of cell {old} moved to cell {new} (same English)")
        for cell in report.marked_fuzzy:
            print(f"{name}: cell {cell}: the English changed, the entry is marked fuzzy")
        for cell in report.accepted:
            print(f"{name}: cell {cell}: the translation is checked, its new hash recorded")
        for cell in report.dropped:
            print(f"{name}: cell {cell} no longer exists in the English: its entry is dropped")
    edition.notebooks_dir.mkdir(parents=True, exist_ok=True)
    for name, nb in expected(edition).items():
        target = edition.notebooks_dir / f"{name}.ipynb"
        text = nbformat.writes(nb) + "\n"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(_rel(target))
    return changed


# --------------------------------------------------------------------------- checking


def stale(edition: Edition) -> list[Problem]:
    """The entries a translator must write or update, with the old and new English."""
    problems = []
    for name in edition.notebooks():
        nb = read_english(edition, name)
        catalogue = edition.catalogue(name)
        if not edition.catalogue_path(name).exists():
            problems.append(Problem(name, "", "no catalogue",
                                    f"{_rel(edition.catalogue_path(name))} is missing"
                                    " (python -m tools.translate build starts it)"))
        cells = translatable(nb)
        for cell, english in cells:
            entry = catalogue.entries.get(cell)
            if entry is None or not entry.translation:
                problems.append(Problem(name, cell, "untranslated", _quote(english)))
            elif not entry.is_current(english):
                problems.append(Problem(name, cell, "English changed since the translation",
                                        _diff(entry.old_english(), english)))
            else:
                lost = dropped_tokens(english, entry.translation)
                if lost:
                    problems.append(Problem(name, cell, "the translation drops",
                                            ", ".join(lost)))
        ids = {cell for cell, _ in cells}
        for cell in catalogue.entries:
            if cell not in ids:
                problems.append(Problem(name, cell, "no such cell in the English",
                                        "its id changed or the cell was deleted (build moves a "
                                        "translation whose English is unchanged)"))
    return problems


def notebook_problems(edition: Edition) -> list[Problem]:
    """Notebooks of the edition that are missing, hand-edited or out of date."""
    problems = []
    want = expected(edition)
    for name, nb in want.items():
        path = edition.notebooks_dir / f"{name}.ipynb"
        if not path.exists():
            problems.append(Problem(name, "", "notebook missing", f"{_rel(path)} does not exist"))
            continue
        have = nbformat.read(path, as_version=4)
        code_diff = _code_cells(have) != _code_cells(nb)
        if code_diff:
            problems.append(Problem(name, "", "code cells differ from the English",
                                    "ids, order, source, tags or metadata of its cells"))
        elif path.read_text(encoding="utf-8") != nbformat.writes(nb) + "\n":
            problems.append(Problem(name, "", "notebook out of date",
                                    f"{_rel(path)} is not what the catalogue builds"))
    for path in sorted(edition.notebooks_dir.glob("*.ipynb")):
        if path.stem not in want:
            problems.append(Problem(path.stem, "", "no English notebook",
                                    f"{_rel(path)} has no twin in {_rel(edition.english_dir)}"))
    return problems


def check(edition: Edition) -> list[Problem]:
    """Every drift: cell ids, catalogue entries, and the generated notebooks."""
    problems = []
    for name in edition.notebooks():
        problems += cell_id_problems(name, read_english(edition, name))
    return problems + stale(edition) + notebook_problems(edition)


def _code_cells(nb: nbformat.NotebookNode) -> list[tuple]:
    return [(c.id, c.cell_type, c.source if c.cell_type == "code" else "",
             repr(c.metadata) if c.cell_type == "code" else "") for c in nb.cells]


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _quote(text: str) -> str:
    return "\n" + "\n".join("    " + line for line in text.splitlines())


def _diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "old English", "new English",
                                 lineterm="", n=1)
    return "\n" + "\n".join("    " + line for line in lines)


def status(edition: Edition) -> list[str]:
    """One line per notebook: how many of its markdown cells have a current translation."""
    lines = []
    for name in edition.notebooks():
        cells = translatable(read_english(edition, name))
        catalogue = edition.catalogue(name)
        done = sum(1 for cell, english in cells
                   if cell in catalogue.entries and catalogue.entries[cell].is_current(english))
        lines.append(f"{name:<40} {done:>3}/{len(cells):<3} cells translated")
    return lines


def report(problems: list[Problem]) -> str:
    """The problems as text, one block each, numbered."""
    return "\n".join(f"{i}. {p}" for i, p in enumerate(problems, 1))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``build``, ``stale``, ``check`` or ``status``."""
    parser = argparse.ArgumentParser(prog="python -m tools.translate")
    parser.add_argument("command", choices=("build", "stale", "check", "status"))
    parser.add_argument("--lang", default="vi", choices=sorted(EDITIONS))
    args = parser.parse_args(argv)
    edition = EDITIONS[args.lang]
    if args.command == "build":
        changed = build(edition)
        print("written: " + ", ".join(changed) if changed else "the edition is up to date")
        left = stale(edition)
        if left:
            print(f"{len(left)} entries still need a translator (python -m tools.translate stale)")
        return 0
    if args.command == "status":
        print("\n".join(status(edition)))
        return 0
    problems = stale(edition) if args.command == "stale" else check(edition)
    if problems:
        print(report(problems))
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        print(f"\n{count}; see README.md, 'Translating the workshop'")
        return 1
    print(f"the {edition.language} edition matches the English")
    return 0


if __name__ == "__main__":
    sys.exit(main())

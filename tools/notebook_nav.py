"""Generate the navigation cell at the end of every workshop notebook.

Each notebook ends with a markdown cell tagged ``navigation`` that links to the
previous and the next notebook, with their titles. The cell is written by this
script, never by hand, and CI checks it is up to date::

    python -m tools.notebook_nav          # rewrite the cells
    python -m tools.notebook_nav --check  # exit 1 if a cell is missing or stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TAG = "navigation"
NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The workshop's notebooks, in order (``NN_name.ipynb``)."""
    return sorted(p for p in folder.glob("*.ipynb") if NAME.match(p.name))


def title(path: Path) -> str:
    """The notebook's first ``# heading``."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def footer(paths: list[Path], index: int) -> str:
    """The navigation markdown for ``paths[index]``."""
    parts = []
    if index > 0:
        prev = paths[index - 1]
        parts.append(f"← Previous: [{title(prev)}]({prev.name})")
    if index + 1 < len(paths):
        nxt = paths[index + 1]
        parts.append(f"**Next: [{title(nxt)}]({nxt.name}) →**")
    else:
        parts.append("This is the last notebook: you are done.")
    return "---\n" + " &nbsp;|&nbsp; ".join(parts)


def sync(paths: list[Path], write: bool) -> list[str]:
    """Bring every navigation cell up to date; return the notebooks that were stale."""
    stale = []
    for i, path in enumerate(paths):
        nb = nbformat.read(path, as_version=4)
        wanted = footer(paths, i)
        cells = [c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])]
        last = nb.cells[-1] if nb.cells else None
        if len(cells) == 1 and cells[0] is last and last.source == wanted:
            continue
        stale.append(path.name)
        if write:
            nb.cells = [c for c in nb.cells if c not in cells]
            cell = nbformat.v4.new_markdown_cell(wanted)
            cell.metadata["tags"] = [TAG]
            cell.id = "navigation"
            nb.cells.append(cell)
            nbformat.write(nb, path)
    return stale


def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite, or ``--check``."""
    parser = argparse.ArgumentParser(prog="python -m tools.notebook_nav")
    parser.add_argument("--check", action="store_true", help="only report stale cells")
    args = parser.parse_args(argv)
    stale = sync(notebooks(), write=not args.check)
    if args.check and stale:
        print("navigation cells out of date (run python -m tools.notebook_nav): "
              + ", ".join(stale))
        return 1
    print("updated: " + ", ".join(stale) if stale else "navigation cells up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

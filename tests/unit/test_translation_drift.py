"""The Vietnamese edition cannot drift from the English notebooks.

On failure the message is the list ``python -m tools.translate check`` prints: which
notebook, which cell, and what is wrong (for a changed English cell, its old and new
text). README.md, "Translating the workshop", says what to do about each.
"""

from __future__ import annotations

import nbformat
import pytest

from tools import translate

EDITION = translate.VI


def test_vietnamese_edition_matches_the_english_notebooks():
    # when
    problems = translate.check(EDITION)
    # then
    assert not problems, "\n" + translate.report(problems)


def test_stale_lists_exactly_the_catalogue_problems_the_check_reports():
    # when
    stale = translate.stale(EDITION)
    checked = translate.check(EDITION)
    # then
    assert [p for p in checked if p in stale] == stale


@pytest.mark.parametrize("name", EDITION.notebooks())
def test_english_notebook_keeps_stable_cell_ids(name):
    # given
    nb = nbformat.read(EDITION.english_dir / f"{name}.ipynb", as_version=4)
    # when
    problems = translate.cell_id_problems(name, nb)
    # then
    assert problems == [], "\n" + translate.report(problems)


def test_writing_a_notebook_back_keeps_its_cell_ids(tmp_path):
    # given: what tools.notebook_nav and tools.translate do to a notebook
    name = EDITION.notebooks()[0]
    nb = translate.read_english(EDITION, name)
    # when
    nbformat.write(nb, tmp_path / "copy.ipynb")
    again = nbformat.read(tmp_path / "copy.ipynb", as_version=4)
    # then
    assert [c.id for c in again.cells] == [c.id for c in nb.cells]


def test_every_english_notebook_has_a_vietnamese_twin_with_identical_code():
    # given
    names = EDITION.notebooks()
    # when
    paths = {n: EDITION.notebooks_dir / f"{n}.ipynb" for n in names}
    twins = {n: nbformat.read(p, as_version=4) for n, p in paths.items() if p.exists()}
    # then
    assert sorted(twins) == names, "run: python -m tools.translate build"
    for name, twin in twins.items():
        english = translate.read_english(EDITION, name)
        assert [c for c in twin.cells if c.cell_type == "code"] == [
            c for c in english.cells if c.cell_type == "code"], name
        assert [c.id for c in twin.cells] == [c.id for c in english.cells], name


def test_the_glossary_exists_and_the_first_page_links_it():
    # when
    first = nbformat.read(EDITION.notebooks_dir / "00_setup.ipynb", as_version=4).cells[0]
    # then
    assert (EDITION.notebooks_dir / "GLOSSARY.md").is_file()
    assert "(GLOSSARY.md)" in first.source
    assert "tiếng Anh" in first.source  # helper output stays English, said on the first page


def test_the_readme_lists_every_vietnamese_notebook():
    # given
    readme = (translate.ROOT / "README.md").read_text(encoding="utf-8")
    # when
    missing = [n for n in EDITION.notebooks() if f"(notebooks/vi/{n}.ipynb)" not in readme]
    # then
    assert missing == [], "add them to README.md, 'Bản tiếng Việt'"

"""The translation tool, on small notebooks of its own: every kind of drift is found and named."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools import translate
from tools.notebook_nav import MARK
from tools.translation_catalogue import Catalogue, merge, source_hash

INTRO = "# 00 · Start: the intro\n\nWrite `4,000` items, see [FIDELITY](../FIDELITY.md#x)."
RECAP = "## Recap\n\n- 13 items."


def _notebook(*cells: tuple[str, str, str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for kind, cell_id, source in cells:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(source, id=cell_id))
    nb.cells[1].metadata["tags"] = ["parameters"]
    return nb


@pytest.fixture
def edition(tmp_path: Path) -> translate.Edition:
    english = tmp_path / "en"
    english.mkdir()
    for name in ("00_start", "01_more"):
        nb = _notebook(("md", "intro", INTRO.replace("00 · Start", name[:2] + " · " + name[3:])),
                       ("code", "params", "backend = 'local'"),
                       ("md", "recap", RECAP + "\n\n" + MARK + "\n\n**Next**: [x](x.ipynb)"))
        nbformat.write(nb, english / f"{name}.ipynb")
    return translate.Edition("vi", tmp_path / "po", tmp_path / "en" / "vi", english,
                             next_label="Tiếp", previous_label="Trước", start_label="Đầu")


def _translate_all(edition: translate.Edition) -> None:
    for name in edition.notebooks():
        catalogue = edition.catalogue(name)
        merge(catalogue, translate.translatable(translate.read_english(edition, name)))
        for entry in catalogue.entries.values():
            entry.translation = (entry.english.replace("Write", "Ghi").replace("Recap", "Tóm tắt")
                                 .replace("the intro", "lời mở đầu"))
        catalogue.write(edition.catalogue_path(name))
    translate.build(edition)


def _edit_english(edition: translate.Edition, name: str, cell: int, source: str) -> None:
    path = edition.english_dir / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[cell].source = source
    nbformat.write(nb, path)


def _kinds(problems: list[translate.Problem]) -> list[tuple[str, str, str]]:
    return [(p.notebook, p.cell, p.kind) for p in problems]


def test_a_translated_edition_has_no_problems(edition):
    # given
    _translate_all(edition)
    # when
    problems = translate.check(edition)
    # then
    assert problems == []


def test_build_copies_code_cells_verbatim_and_translates_markdown(edition):
    # given
    _translate_all(edition)
    # when
    english = nbformat.read(edition.english_dir / "00_start.ipynb", as_version=4)
    built = nbformat.read(edition.notebooks_dir / "00_start.ipynb", as_version=4)
    # then
    assert [c.id for c in built.cells] == [c.id for c in english.cells]
    assert built.cells[1] == english.cells[1]
    assert built.cells[0].source.startswith("# 00 · start: lời mở đầu")
    assert "(../../FIDELITY.md#x)" in built.cells[0].source


def test_the_recap_gets_navigation_in_the_edition_language(edition):
    # given
    _translate_all(edition)
    # when
    first = nbformat.read(edition.notebooks_dir / "00_start.ipynb", as_version=4).cells[-1]
    last = nbformat.read(edition.notebooks_dir / "01_more.ipynb", as_version=4).cells[-1]
    # then
    assert first.source.startswith("## Tóm tắt")
    assert "**Tiếp**: [01 · more](01_more.ipynb)" in first.source
    assert "**Đầu**: [00 · start](00_start.ipynb)" in last.source
    assert "**Trước**: [00 · start](00_start.ipynb)" in last.source
    assert "x.ipynb" not in first.source


def test_a_changed_english_cell_is_stale_with_old_and_new_text(edition):
    # given
    _translate_all(edition)
    _edit_english(edition, "01_more", 0, INTRO.replace("`4,000` items", "`4,500` items"))
    # when
    problems = translate.stale(edition)
    # then
    assert _kinds(problems) == [("01_more", "intro", "English changed since the translation")]
    assert "-Write `4,000` items" in problems[0].detail
    assert "+Write `4,500` items" in problems[0].detail


def test_the_check_names_the_same_stale_entries_and_the_stale_notebook(edition):
    # given
    _translate_all(edition)
    _edit_english(edition, "01_more", 0, INTRO + " More.")
    # when
    problems = translate.check(edition)
    # then
    assert _kinds(problems) == [
        ("01_more", "intro", "English changed since the translation"),
        ("00_start", "", "notebook out of date"),  # its link to 01 shows 01's title
        ("01_more", "", "notebook out of date"),
    ]


def test_a_new_english_cell_is_untranslated_until_someone_translates_it(edition):
    # given
    _translate_all(edition)
    path = edition.english_dir / "00_start.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("A new paragraph.", id="fresh"))
    nbformat.write(nb, path)
    # when
    translate.build(edition)
    problems = translate.check(edition)
    built = nbformat.read(edition.notebooks_dir / "00_start.ipynb", as_version=4)
    # then
    assert _kinds(problems) == [("00_start", "fresh", "untranslated")]
    assert built.cells[2].source == "A new paragraph."


def test_a_translation_that_drops_a_code_span_a_link_or_a_number_is_refused(edition):
    # given
    _translate_all(edition)
    catalogue = edition.catalogue("00_start")
    catalogue.entries["intro"].translation = "# 00 · Bắt đầu\n\nGhi 4000 mục, xem FIDELITY."
    catalogue.entries["recap"].translation = "## Tóm tắt\n\n- mười ba mục."
    catalogue.write(edition.catalogue_path("00_start"))
    # when
    problems = translate.stale(edition)
    # then
    assert [(p.cell, p.detail) for p in problems] == [
        ("intro", "code span `4,000`, link ../FIDELITY.md#x"),
        ("recap", "number 13"),
    ]


def test_a_hand_edited_code_cell_is_found(edition):
    # given
    _translate_all(edition)
    path = edition.notebooks_dir / "01_more.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = "backend = 'aws'"
    nbformat.write(nb, path)
    # when
    problems = translate.notebook_problems(edition)
    # then
    assert _kinds(problems) == [("01_more", "", "code cells differ from the English")]


def test_a_missing_or_extra_edition_notebook_is_found(edition):
    # given
    _translate_all(edition)
    (edition.notebooks_dir / "00_start.ipynb").unlink()
    (edition.notebooks_dir / "05_gone.ipynb").write_text("{}")
    # when
    problems = translate.notebook_problems(edition)
    # then
    assert _kinds(problems) == [("00_start", "", "notebook missing"),
                                ("05_gone", "", "no English notebook")]


def test_english_cells_without_ids_are_refused(edition):
    # given
    nb = nbformat.read(edition.english_dir / "00_start.ipynb", as_version=4)
    nb.cells[2]["id"] = nb.cells[0].id
    # when
    problems = translate.cell_id_problems("00_start", nb)
    nb.nbformat_minor = 4
    before_ids = translate.cell_id_problems("00_start", nb)
    # then
    assert _kinds(problems) == [("00_start", "intro", "cell ids")]
    assert _kinds(before_ids) == [("00_start", "", "cell ids")]


def test_merge_marks_a_changed_entry_fuzzy_and_accepts_it_once_checked():
    # given
    catalogue = Catalogue("00_start", "vi")
    merge(catalogue, [("a", "Old English.")])
    catalogue.entries["a"].translation = "Tiếng Việt cũ."
    # when
    changed = merge(catalogue, [("a", "New English.")])
    entry = catalogue.entries["a"]
    fuzzy = (entry.fuzzy, entry.previous, entry.is_current("New English."))
    entry.fuzzy = False  # the translator updated the text and removed the flag
    accepted = merge(catalogue, [("a", "New English.")])
    # then
    assert changed.marked_fuzzy == ["a"]
    assert fuzzy == (True, "Old English.", False)
    assert accepted.accepted == ["a"]
    assert entry.is_current("New English.") and entry.previous == ""
    assert entry.hash == source_hash("New English.")


def test_merge_moves_a_translation_whose_cell_id_was_regenerated():
    # given
    catalogue = Catalogue("00_start", "vi")
    merge(catalogue, [("old-id", "Same text.")])
    catalogue.entries["old-id"].translation = "Cùng nội dung."
    # when
    report = merge(catalogue, [("new-id", "Same text.")])
    # then
    assert report.moved == [("old-id", "new-id")]
    assert catalogue.entries["new-id"].is_current("Same text.")


def test_catalogue_round_trips_through_po_text(tmp_path):
    # given
    catalogue = Catalogue("00_start", "vi")
    tricky = 'Line "one"\\\n\n  indented `code`\ttab \n'
    merge(catalogue, [("a", tricky), ("b", "Other.")])
    catalogue.entries["a"].translation = "Dòng \"một\"\\\n\n  thụt lề `code`\ttab \n"
    catalogue.entries["b"].fuzzy = True
    catalogue.entries["b"].previous = "Earlier."
    path = tmp_path / "00_start.po"
    # when
    catalogue.write(path)
    again = Catalogue.read(path, "00_start", "vi")
    # then
    assert again.entries == catalogue.entries
    assert again.render() == path.read_text(encoding="utf-8")
    assert 'msgctxt "a"' in path.read_text(encoding="utf-8")


def test_the_translator_workflow_of_the_readme_ends_with_a_clean_check(edition):
    # given: a translated edition, then an English cell changes
    _translate_all(edition)
    _edit_english(edition, "00_start", 2, RECAP.replace("13", "14") + "\n\n" + MARK)
    # when: build marks the entry fuzzy, keeping the old English
    translate.build(edition)
    po_text = edition.catalogue_path("00_start").read_text(encoding="utf-8")
    waiting = translate.stale(edition)
    # and the translator updates the text and removes the flag, then builds again
    catalogue = edition.catalogue("00_start")
    catalogue.entries["recap"].translation = "## Tóm tắt\n\n- 14 mục."
    catalogue.entries["recap"].fuzzy = False
    catalogue.write(edition.catalogue_path("00_start"))
    translate.build(edition)
    # then
    assert "#, fuzzy" in po_text and '#| msgid ""\n#| "## Recap\\n"' in po_text
    assert _kinds(waiting) == [("00_start", "recap", "English changed since the translation")]
    assert "-- 13 items." in waiting[0].detail and "+- 14 items." in waiting[0].detail
    assert translate.check(edition) == []


def test_a_new_english_notebook_is_built_in_english_and_listed_until_translated(edition):
    # given
    _translate_all(edition)
    nb = _notebook(("md", "intro", "# 02 · New: more"), ("code", "params", "x = 1"),
                   ("md", "recap", RECAP + "\n\n" + MARK))
    nbformat.write(nb, edition.english_dir / "02_new.ipynb")
    # when
    before = translate.check(edition)
    translate.build(edition)
    after = translate.check(edition)
    # then
    assert ("02_new", "", "no catalogue") in _kinds(before)
    assert ("02_new", "", "notebook missing") in _kinds(before)
    assert _kinds(after) == [("02_new", "intro", "untranslated"),
                             ("02_new", "recap", "untranslated")]
    assert translate.status(edition)[-1].split()[1] == "0/2"

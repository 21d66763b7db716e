"""The generated navigation links at the end of each notebook."""

from __future__ import annotations

from tools.notebook_nav import MARK, links, notebooks, sync, with_links


def test_committed_notebooks_have_up_to_date_navigation_links():
    # when
    stale = sync(notebooks(), write=False)
    # then
    assert stale == [], "run: python -m tools.notebook_nav"


def test_links_point_to_the_next_and_previous_notebooks():
    # given
    paths = notebooks()
    # when
    middle = links(paths, 1)
    last = links(paths, len(paths) - 1)
    # then
    assert f"({paths[2].name})" in middle and f"({paths[0].name})" in middle
    assert "**Back to the start**" in last and f"({paths[0].name})" in last


def test_hand_written_links_are_replaced_not_duplicated():
    # given
    source = "## Recap\n\n- learned things\n\n**Next**: [old](old.ipynb)."
    # when
    once = with_links(source, MARK + "\n\n**Next**: [new](new.ipynb)")
    twice = with_links(once, MARK + "\n\n**Next**: [new](new.ipynb)")
    # then
    assert "old.ipynb" not in once
    assert once == twice
    assert once.count("**Next**") == 1

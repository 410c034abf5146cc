"""The three-way merge offered when an edit is overtaken: changes to different lines combine, changes to
the same or adjacent lines do not."""

from __future__ import annotations

from promptshelf.web.merging import MAX_MERGE_LINES, merge3

BASE = "one\ntwo\nthree\nfour\nfive\n"


def test_changes_to_different_lines_combine() -> None:
    theirs = BASE.replace("one", "ONE")
    mine = BASE.replace("five", "FIVE")
    assert merge3(BASE, theirs, mine) == "ONE\ntwo\nthree\nfour\nFIVE\n"


def test_an_insertion_and_a_deletion_apart_combine() -> None:
    theirs = "zero\n" + BASE
    mine = BASE.replace("four\n", "")
    assert merge3(BASE, theirs, mine) == "zero\none\ntwo\nthree\nfive\n"


def test_changes_to_the_same_or_adjacent_lines_do_not() -> None:
    assert merge3(BASE, BASE.replace("two", "2"), BASE.replace("two", "II")) is None
    assert merge3(BASE, BASE.replace("two", "2"), BASE.replace("three", "3")) is None


def test_the_same_change_on_both_sides_or_on_one_side_only() -> None:
    same = BASE.replace("two", "2")
    assert merge3(BASE, same, same) == same
    assert merge3(BASE, same, BASE) == same
    assert merge3(BASE, BASE, same) == same
    both = BASE.replace("one", "1").replace("five", "5")
    assert merge3(BASE, both, BASE.replace("one", "1")) == both  # mine is part of theirs


def test_long_changes_are_combined_only_within_a_bounded_amount_of_work() -> None:
    """Matching lines is quadratic or worse when lines repeat, and runs on the server's event loop: an
    edit of thousands of lines (a few-shot block, data, or a form sent to make the server work) must not
    stall every other request. Past the bound, the edit is offered for merging by hand, as on conflict."""
    lines = [f"line {index}\n" for index in range(3 * MAX_MERGE_LINES)]
    base = "".join(lines)
    theirs = "".join(["FIRST\n", *lines[1:-1], "LAST\n"])  # spans the whole text
    mine = "".join([*lines[:MAX_MERGE_LINES], "MINE\n", *lines[MAX_MERGE_LINES + 1 :]])
    assert merge3(base, theirs, mine) is None
    near = "".join([*lines[:-2], "LAST\n", lines[-1]])  # a short change: still combined
    assert merge3(base, near, mine) == "".join(
        [*lines[:MAX_MERGE_LINES], "MINE\n", *lines[MAX_MERGE_LINES + 1 : -2], "LAST\n", lines[-1]]
    )

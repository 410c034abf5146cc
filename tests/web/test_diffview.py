"""The diff laid out for a page: changed words marked, within a bounded amount of work."""

from __future__ import annotations

import difflib
import random

from promptshelf.web.diffview import MAX_DIFF_LINES, Line, parse, side_by_side


def unified(old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a", "b"))


def marked(line: Line) -> list[tuple[str, bool]]:
    return [(segment.text, segment.changed) for segment in line.segments]


def test_a_changed_word_is_marked_in_its_line() -> None:
    lines = parse(unified("Hello {{name}}, in {{lang}}.\n", "Hi {{name}}, in {{lang}}!\n"))
    deleted, added = (line for line in lines if line.kind in ("del", "add"))
    assert marked(deleted) == [("Hello", True), (" {{name}}, in {{lang}}", False), (".", True)]
    assert marked(added) == [("Hi", True), (" {{name}}, in {{lang}}", False), ("!", True)]


def test_long_lines_changed_throughout_are_marked_without_comparing_every_word() -> None:
    """Matching words is quadratic, and the page is built on the server's event loop: a large prompt
    whose long lines all changed (few-shot examples, data) must not stall every other request. Past a
    budget, a pair is marked as one changed stretch between what it starts and ends with."""
    chance = random.Random(7)

    def noise() -> str:
        return " ".join(chance.choice("ab") for _ in range(990))

    pairs = [(f"start {noise()} end", f"start {noise()} end") for _ in range(60)]
    lines = parse(unified("".join(f"{a}\n" for a, _ in pairs), "".join(f"{b}\n" for _, b in pairs)))
    changed = [line for line in lines if line.kind in ("del", "add")]
    assert len(changed) == 120
    coarse = [line for line in changed if len(line.segments) <= 3]
    assert len(coarse) >= 110, "nearly every pair was compared word by word"
    for line in coarse:
        if len(line.segments) == 3:
            assert [s.changed for s in line.segments] == [False, True, False]
            assert line.segments[0].text == "start " and line.segments[2].text == " end"


def test_a_small_change_in_a_long_line_is_still_marked_exactly() -> None:
    text = " ".join(f"word{index}" for index in range(300))
    lines = parse(unified(text + "\n", text.replace("word150", "WORD") + "\n"))
    added = next(line for line in lines if line.kind == "add")
    assert [s.text for s in added.segments if s.changed] == ["WORD"]


def test_a_diff_too_long_for_a_page_is_cut_with_a_note() -> None:
    """A prompt may hold a hundred thousand short lines: laying out every changed one would stall the
    server for seconds and send megabytes. The page shows the first ones and says how many more there are."""
    old = "".join(f"old {index}\n" for index in range(3 * MAX_DIFF_LINES))
    new = "".join(f"new {index}\n" for index in range(3 * MAX_DIFF_LINES))
    lines = parse(unified(old, new))
    assert len(lines) <= MAX_DIFF_LINES + 1
    note = lines[-1]
    assert note.kind == "hunk" and "more lines of this diff are not shown" in note.text
    shown = sum(1 for line in lines if line.kind != "hunk")
    assert f"{6 * MAX_DIFF_LINES - shown:,} more lines" in note.text
    rows = side_by_side(lines)
    assert rows[-1].left is note

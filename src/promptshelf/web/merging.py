"""A line-based three-way merge, for an edit overtaken by someone else's publish: when the two changes
touch different lines of the version both started from, they combine without asking anything."""

from __future__ import annotations

import difflib

MAX_MERGE_LINES = 500
"""Lines a change may span (after what it keeps at its start and end) to be combined automatically."""

Hunk = tuple[int, int, list[str]]
"""Lines ``start:end`` of the base replaced by these lines (``start == end``: an insertion)."""


def merge3(base: str, theirs: str, mine: str) -> str | None:
    """Both changes applied to ``base``, or ``None`` when they touch the same or adjacent lines (as git
    treats them: a person must decide)."""
    if theirs == mine or mine == base:
        return theirs
    if theirs == base:
        return mine
    base_lines = base.splitlines(keepends=True)
    their_hunks, my_hunks = _hunks(base_lines, theirs), _hunks(base_lines, mine)
    if their_hunks is None or my_hunks is None:
        return None
    hunks = sorted(their_hunks + my_hunks)
    merged: list[str] = []
    position = 0
    previous: Hunk | None = None
    for hunk in hunks:
        start, end, lines = hunk
        if previous is not None and start <= previous[1]:
            if hunk == previous:
                continue  # both made the same change
            return None
        merged += base_lines[position:start] + lines
        position = end
        previous = hunk
    return "".join(merged + base_lines[position:])


def _hunks(base: list[str], changed: str) -> list[Hunk] | None:
    """The changes from ``base`` as hunks; ``None`` when they span more than ``MAX_MERGE_LINES`` lines
    (matching repeated lines is quadratic or worse, and this runs on the server's event loop)."""
    lines = changed.splitlines(keepends=True)
    head = _common_start(base, lines)
    tail = _common_start(base[head:][::-1], lines[head:][::-1])
    base_middle, middle = base[head : len(base) - tail], lines[head : len(lines) - tail]
    if max(len(base_middle), len(middle)) > MAX_MERGE_LINES:
        return None
    matcher = difflib.SequenceMatcher(None, base_middle, middle, autojunk=False)
    return [
        (head + i1, head + i2, middle[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _common_start(first: list[str], second: list[str]) -> int:
    count = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        count += 1
    return count

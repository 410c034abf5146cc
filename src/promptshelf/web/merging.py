"""A line-based three-way merge, for an edit overtaken by someone else's publish: when the two changes
touch different lines of the version both started from, they combine without asking anything."""

from __future__ import annotations

import difflib

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
    hunks = sorted(_hunks(base_lines, theirs) + _hunks(base_lines, mine))
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


def _hunks(base: list[str], changed: str) -> list[Hunk]:
    lines = changed.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, base, lines, autojunk=False)
    return [(i1, i2, lines[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]

"""The diff of ``diff_prompt_versions`` laid out for a page: unified or side by side, with the changed
words of each changed line marked.

Input is the service's ``unified_diff`` text itself, so the page shows exactly the diff MCP callers get.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["context", "add", "del", "hunk"]

MAX_DIFF_LINES = 2_000
"""Lines of a diff laid out on a page; the rest is counted in a note (a prompt may hold 100,000 short
lines, and laying out every changed one would take the server seconds and the page megabytes)."""
TOO_LONG = "promptshelf diff NAME FROM TO (or MCP's diff_prompt_versions) gives the whole diff"
MAX_MARK_WORK = 100_000
"""Words compared in one diff, counted as the product of the two changed stretches' lengths (matching
words is quadratic in the worst case, and pages are built on the server's event loop: a large prompt must
not stall every other request). A pair past it is marked as one changed stretch between its common start
and end, which is what a small edit of a long line is anyway."""


@dataclass(frozen=True)
class Segment:
    text: str
    changed: bool


@dataclass
class Line:
    kind: Kind
    text: str
    old_number: int | None = None
    new_number: int | None = None
    segments: list[Segment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.segments:  # the row's colour says it changed; words are marked only against a pair
            self.segments = [Segment(self.text, False)]


@dataclass(frozen=True)
class Row:
    """One row of the side-by-side view: the old line (left) and the new one (right), either may be
    missing; a hunk header spans both."""

    left: Line | None
    right: Line | None


def parse(unified: str, limit: int = MAX_DIFF_LINES) -> list[Line]:
    """The diff's lines with numbers; ``---``/``+++`` headers dropped, changed characters marked; past
    ``limit`` lines, a note of how many more there are."""
    lines: list[Line] = []
    old = new = 0
    pending_del: list[Line] = []
    pending_add: list[Line] = []

    def flush() -> None:
        _mark_pairs(pending_del, pending_add)
        lines.extend(pending_del)
        lines.extend(pending_add)
        pending_del.clear()
        pending_add.clear()

    raws = unified.splitlines()
    for index, raw in enumerate(raws):
        if len(lines) + len(pending_del) + len(pending_add) >= limit:
            flush()
            rest = sum(1 for line in raws[index:] if not line.startswith(("@@", "\\")))
            lines.append(Line("hunk", f"… {rest:,} more lines of this diff are not shown here: {TOO_LONG}"))
            return lines
        if raw.startswith(("--- ", "+++ ")) and not lines and not pending_del and not pending_add:
            continue
        if raw.startswith("@@"):
            flush()
            old, new = _hunk_start(raw)
            lines.append(Line("hunk", raw))
        elif raw.startswith("-"):
            pending_del.append(Line("del", raw[1:], old_number=old))
            old += 1
        elif raw.startswith("+"):
            pending_add.append(Line("add", raw[1:], new_number=new))
            new += 1
        elif raw.startswith("\\"):
            continue  # "\ No newline at end of file"
        else:
            flush()
            lines.append(Line("context", raw[1:], old_number=old, new_number=new))
            old += 1
            new += 1
    flush()
    return lines


def side_by_side(lines: list[Line]) -> list[Row]:
    rows: list[Row] = []
    deleted: list[Line] = []
    added: list[Line] = []

    def flush() -> None:
        for index in range(max(len(deleted), len(added))):
            rows.append(
                Row(
                    deleted[index] if index < len(deleted) else None,
                    added[index] if index < len(added) else None,
                )
            )
        deleted.clear()
        added.clear()

    for line in lines:
        if line.kind == "del":
            if added:  # a deletion after additions starts a new block
                flush()
            deleted.append(line)
        elif line.kind == "add":
            added.append(line)
        else:
            flush()
            rows.append(Row(line, line))
    flush()
    return rows


def _hunk_start(header: str) -> tuple[int, int]:
    """``@@ -a,b +c,d @@`` -> (a, c); a zero start (an empty side) counts from 1."""
    parts = header.split()
    old = int(parts[1][1:].split(",")[0])
    new = int(parts[2][1:].split(",")[0])
    return max(old, 1), max(new, 1)


def _mark_pairs(deleted: list[Line], added: list[Line], budget: int = MAX_MARK_WORK) -> None:
    """Mark the words that differ between each deleted line and the added line at the same place."""
    for old, new in zip(deleted, added, strict=False):
        old_words, new_words = _WORDS.findall(old.text), _WORDS.findall(new.text)
        head = _common_start(old_words, new_words)
        tail = _common_start(old_words[head:][::-1], new_words[head:][::-1])
        old_middle = old_words[head : len(old_words) - tail]
        new_middle = new_words[head : len(new_words) - tail]
        work = len(old_middle) * len(new_middle)
        opcodes: Sequence[tuple[str, int, int, int, int]]
        if work <= budget:
            budget -= work
            matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
            opcodes = matcher.get_opcodes()
            same = head + tail + sum(block.size for block in matcher.get_matching_blocks())
        else:
            opcodes = [("replace", 0, len(old_middle), 0, len(new_middle))]
            same = head + tail
        if 2 * same < 0.3 * (len(old_words) + len(new_words)):
            continue  # mostly different: marking nearly every word helps nobody
        old_parts: list[Segment] = []
        new_parts: list[Segment] = []
        _append(old_parts, "".join(old_words[:head]), False)
        _append(new_parts, "".join(new_words[:head]), False)
        for tag, a1, a2, b1, b2 in opcodes:
            _append(old_parts, "".join(old_middle[a1:a2]), tag != "equal")
            _append(new_parts, "".join(new_middle[b1:b2]), tag != "equal")
        _append(old_parts, "".join(old_words[len(old_words) - tail :]), False)
        _append(new_parts, "".join(new_words[len(new_words) - tail :]), False)
        old.segments, new.segments = old_parts, new_parts


def _common_start(first: list[str], second: list[str]) -> int:
    count = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        count += 1
    return count


_WORDS = re.compile(r"\w+|\s+|[^\w\s]")


def _append(parts: list[Segment], text: str, changed: bool) -> None:
    if not text:
        return
    if parts and parts[-1].changed == changed:
        parts[-1] = Segment(parts[-1].text + text, changed)
    else:
        parts.append(Segment(text, changed))

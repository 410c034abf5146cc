"""The line diff behind diff_prompt_versions and the web view's diff pages."""

from __future__ import annotations

import difflib
import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from promptshelf.diffing import MAX_MATCHED_LINES_PRODUCT, unified_diff

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply(old: list[str], diff: str) -> list[str]:
    """Apply a unified diff to ``old`` (checking every context and removed line), as `patch` would."""
    lines = diff.splitlines(keepends=True)[2:]
    result: list[str] = []
    position = 0
    for line in lines:
        if line.startswith("@@"):
            match = _HUNK.match(line)
            assert match, line
            start = int(match[1]) - (0 if match[2] == "0" else 1)
            result.extend(old[position:start])
            position = start
        elif line[0] in " -":
            assert old[position] == line[1:], (position, line)
            position += 1
            if line[0] == " ":
                result.append(line[1:])
        else:
            assert line[0] == "+"
            result.append(line[1:])
    return result + old[position:]


lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "{{x}}\n", "\n"]), max_size=25)


@settings(deadline=None)  # a shared, loaded machine: speed is the benchmarks' business
@given(lines, lines)
def test_an_ordinary_diff_is_exactly_difflibs(old: list[str], new: list[str]) -> None:
    expected = "".join(difflib.unified_diff(old, new, fromfile="p@1", tofile="p@2"))
    assert unified_diff(old, new, fromfile="p@1", tofile="p@2") == expected


def adversarial(seed: int, count: int) -> list[str]:
    """Lines drawn from a few hundred values, each too rare for difflib's junk heuristic: its worst case."""
    chooser = random.Random(seed)
    return [f"value {chooser.randrange(count // 200)}\n" for _ in range(count)]


def test_a_diff_too_large_to_match_line_by_line_is_one_replaced_middle_that_still_applies() -> None:
    head, tail = ["system: be brief\n"] * 5, ["end\n"] * 4
    old = head + adversarial(1, 60_000) + tail
    new = head + adversarial(2, 60_000) + tail
    assert MAX_MATCHED_LINES_PRODUCT < 60_000 * 60_000

    diff = unified_diff(old, new, fromfile="p@1", tofile="p@2")

    hunks = [line for line in diff.splitlines() if line.startswith("@@")]
    assert hunks == ["@@ -3,60006 +3,60006 @@"]  # 3 lines of context either side, as difflib gives
    assert apply(old, diff) == new


def test_a_large_prompt_with_a_small_change_is_still_matched_line_by_line() -> None:
    old = adversarial(1, 60_000)
    new = [*old[:30_000], "changed\n", *old[30_001:]]
    diff = unified_diff(old, new, fromfile="p@1", tofile="p@2")
    assert diff == "".join(difflib.unified_diff(old, new, fromfile="p@1", tofile="p@2"))
    assert apply(old, diff) == new


def test_a_replaced_middle_at_either_end_has_no_context_on_that_side() -> None:
    old, new = [*adversarial(1, 5_000), "end\n"], [*adversarial(2, 5_000), "end\n"]
    diff = unified_diff(old, new, fromfile="p@1", tofile="p@2")
    assert diff.splitlines()[2] == "@@ -1,5001 +1,5001 @@"
    assert apply(old, diff) == new
    assert apply(new, unified_diff(new, [], fromfile="a", tofile="b")) == []

"""Differences between two versions: a unified text diff, variables added and removed, config changes."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import Any

from promptshelf.model import PromptVersion, variable_names
from promptshelf.results import ConfigChange, VersionDiff

_MISSING = object()


def diff_versions(old: PromptVersion, new: PromptVersion) -> VersionDiff:
    old_variables = variable_names(old.variables, old.text_parts)
    new_variables = variable_names(new.variables, new.text_parts)
    diff = unified_diff(
        _as_lines(old),
        _as_lines(new),
        fromfile=f"{old.name}@{old.version}",
        tofile=f"{new.name}@{new.version}",
    )
    return VersionDiff(
        name=new.name,
        from_version=old.version,
        to_version=new.version,
        unified_diff="".join(diff),
        variables_added=[name for name in new_variables if name not in old_variables],
        variables_removed=[name for name in old_variables if name not in new_variables],
        config_changes=config_changes(old.config, new.config),
    )


MAX_MATCHED_LINES_PRODUCT = 10_000_000
"""Past this many (old lines x new lines) left after the common start and end, the changed middle is shown as
one replaced block: difflib's matcher is quadratic or worse on such input (60,000 lines drawn from a few
hundred values took 13 s of the server's loop), and a person cannot read a line-by-line match that size."""

_CONTEXT = 3


def unified_diff(a: Sequence[str], b: Sequence[str], *, fromfile: str, tofile: str) -> str:
    """``difflib.unified_diff`` with 3 lines of context, in bounded time whatever the input."""
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    if (len(a) - start - end) * (len(b) - start - end) <= MAX_MATCHED_LINES_PRODUCT:
        return "".join(difflib.unified_diff(a, b, fromfile=fromfile, tofile=tofile))
    opcodes = [("replace", start, len(a) - end, start, len(b) - end)]
    if start:
        opcodes.insert(0, ("equal", 0, start, 0, start))
    if end:
        opcodes.append(("equal", len(a) - end, len(a), len(b) - end, len(b)))
    return "".join(_format_unified(a, b, opcodes, fromfile=fromfile, tofile=tofile))


def _format_unified(
    a: Sequence[str],
    b: Sequence[str],
    opcodes: list[tuple[str, int, int, int, int]],
    *,
    fromfile: str,
    tofile: str,
) -> Iterator[str]:
    """One hunk (the middle replaced), laid out exactly as ``difflib.unified_diff`` lays out its hunks."""
    first, last = opcodes[0], opcodes[-1]
    if first[0] == "equal":
        opcodes[0] = (
            "equal",
            max(first[1], first[2] - _CONTEXT),
            first[2],
            max(first[3], first[4] - _CONTEXT),
            first[4],
        )
    if last[0] == "equal":
        opcodes[-1] = (
            "equal",
            last[1],
            min(last[2], last[1] + _CONTEXT),
            last[3],
            min(last[4], last[3] + _CONTEXT),
        )
    yield f"--- {fromfile}\n"
    yield f"+++ {tofile}\n"
    a_start, a_end, b_start, b_end = opcodes[0][1], opcodes[-1][2], opcodes[0][3], opcodes[-1][4]
    yield f"@@ -{_range(a_start, a_end)} +{_range(b_start, b_end)} @@\n"
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            yield from (" " + line for line in a[i1:i2])
        else:
            yield from ("-" + line for line in a[i1:i2])
            yield from ("+" + line for line in b[j1:j2])


def _range(start: int, stop: int) -> str:
    """A hunk's line range as difflib writes it (1-based; an empty range names the line before it)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def config_changes(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[ConfigChange]:
    """Changed leaves by dotted path; nested objects are compared key by key."""
    changes: list[ConfigChange] = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        path = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(config_changes(old, new, prefix=f"{path}."))
        elif old != new or type(old) is not type(new):
            changes.append(
                ConfigChange(
                    key=path,
                    before=None if old is _MISSING else old,
                    after=None if new is _MISSING else new,
                )
            )
    return changes


def _as_lines(version: PromptVersion) -> list[str]:
    """The text a person would compare: the template, or each message under a ``[role]`` heading."""
    if version.type == "text":
        text = version.template or ""
    else:
        text = "\n".join(f"[{message.role}]\n{message.content}" for message in version.messages or [])
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines

"""Differences between two versions: a unified text diff, variables added and removed, config changes."""

from __future__ import annotations

import difflib
from typing import Any

from promptshelf.model import PromptVersion, variable_names
from promptshelf.results import ConfigChange, VersionDiff

_MISSING = object()


def diff_versions(old: PromptVersion, new: PromptVersion) -> VersionDiff:
    old_variables = variable_names(old.variables, old.text_parts)
    new_variables = variable_names(new.variables, new.text_parts)
    diff = difflib.unified_diff(
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

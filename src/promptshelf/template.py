"""Templates: placeholders, variables, includes and rendering.

Syntax (DESIGN.md, "Templates"): ``{{name}}`` or ``{{ name }}`` for a variable, ``{{> other}}``,
``{{> other@label}}`` or ``{{> other@3}}`` to insert another prompt's text. ``{{name}}`` is the syntax
PostHog's and Statsig's SDKs read, so a stored prompt stays usable by them; what they cannot render
(includes, and ``{{ name }}`` for PostHog's) is reported by the store's ``sdk_warnings``.

This module knows nothing of stores: includes are fetched through a ``load`` callable the service passes in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from promptshelf.errors import InvalidArgumentError
from promptshelf.model import PLACEHOLDER_RE, Variable, placeholders

INCLUDE_RE = re.compile(r"\{\{>\s*(.*?)\s*\}\}")
"""Deliberately loose: whatever stands between ``{{>`` and ``}}`` is an include, and a malformed one is
reported by name validation instead of passing through as text."""
MAX_INCLUDE_DEPTH = 10


@dataclass(frozen=True, slots=True)
class IncludeRef:
    """``{{> name@selector}}``: ``version`` or ``label`` (or neither: the default label)."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.label is not None:
            return f"{self.name}@{self.label}"
        return self.name


@dataclass(frozen=True, slots=True)
class IncludedPrompt:
    """What an include loader returns: the included version's raw template and declared variables."""

    name: str
    template: str
    declared: list[Variable]


IncludeLoader = Callable[[IncludeRef], Awaitable[IncludedPrompt]]


@dataclass(frozen=True, slots=True)
class Expanded:
    texts: list[str]
    """The texts with every include replaced by the included prompt's text."""
    included_variables: list[Variable]
    """The effective variables of everything included, nested includes merged."""


def include_refs(texts: Iterable[str]) -> list[IncludeRef]:
    return [_parse_include(match) for text in texts for match in INCLUDE_RE.finditer(text)]


def merge_variables(*groups: Iterable[Variable]) -> list[Variable]:
    """Variables by name, the first declaration of a name winning."""
    merged: dict[str, Variable] = {}
    for group in groups:
        for variable in group:
            merged.setdefault(variable.name, variable)
    return list(merged.values())


def derived_variables(texts: Iterable[str]) -> list[Variable]:
    return [Variable(name=name) for name in placeholders(texts)]


def effective_variables(
    declared: Iterable[Variable],
    texts: Iterable[str],
    included: Iterable[Variable] = (),
    expanded_texts: Iterable[str] | None = None,
) -> list[Variable]:
    """The variables a version takes.

    Which definition of a name wins: the version's own declaration, then an included prompt's, then a bare
    placeholder (required, no description). The order: declared ones first, then the others as they first
    appear in the text with includes expanded (so MCP clients ask for them in reading order).
    """
    own_declared = list(declared)
    merged = {v.name: v for v in merge_variables(own_declared, included, derived_variables(texts))}
    order = [v.name for v in own_declared]
    order += placeholders(expanded_texts if expanded_texts is not None else texts)
    order += list(merged)
    return [merged[name] for name in dict.fromkeys(order) if name in merged]


async def expand_includes(texts: list[str], load: IncludeLoader, chain: tuple[str, ...]) -> Expanded:
    """Replace every ``{{> ...}}`` in ``texts``; ``chain`` holds the names being expanded (the root first)."""
    expanded: list[str] = []
    collected: list[Variable] = []
    for text in texts:
        result, variables = await _expand_text(text, load, chain)
        expanded.append(result)
        collected.extend(variables)
    return Expanded(texts=expanded, included_variables=merge_variables(collected))


async def _expand_text(text: str, load: IncludeLoader, chain: tuple[str, ...]) -> tuple[str, list[Variable]]:
    if "{{>" not in text:
        return text, []
    pieces: list[str] = []
    collected: list[Variable] = []
    position = 0
    for match in INCLUDE_RE.finditer(text):
        ref = _parse_include(match)
        if ref.name in chain:
            cycle = " -> ".join((*chain, ref.name))
            raise InvalidArgumentError(
                f"include cycle: {cycle}", argument="template", chain=[*chain, ref.name]
            )
        if len(chain) > MAX_INCLUDE_DEPTH:
            path = " -> ".join((*chain, ref.name))
            raise InvalidArgumentError(
                f"includes nest deeper than {MAX_INCLUDE_DEPTH} levels: {path}",
                argument="template",
                chain=[*chain, ref.name],
            )
        included = await load(ref)
        inner_text, inner_variables = await _expand_text(included.template, load, (*chain, ref.name))
        collected.extend(
            effective_variables(included.declared, [included.template], inner_variables, [inner_text])
        )
        pieces.append(text[position : match.start()])
        pieces.append(inner_text)
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces), merge_variables(collected)


def _parse_include(match: re.Match[str]) -> IncludeRef:
    name, at, selector = match.group(1).partition("@")
    if not at:
        return IncludeRef(name)
    if selector.isascii() and selector.isdigit():  # not str.isdigit alone: int('²') fails
        return IncludeRef(name, version=int(selector))
    return IncludeRef(name, label=selector)


@dataclass(frozen=True, slots=True)
class Bindings:
    """Values ready to substitute, and the given names that no variable uses."""

    values: dict[str, str]
    unused: list[str]


def bind(variables: list[Variable], given: Mapping[str, Any], *, strict: bool) -> Bindings:
    """Check ``given`` against the variables and fill in defaults.

    Strict: every required variable without a default must be given (one error lists all missing names)
    and a value outside a declared ``enum`` is an error. Lenient: what is missing stays a placeholder.
    Extra values are never an error; they are reported as ``unused``.
    """
    values: dict[str, str] = {}
    missing: list[str] = []
    bad_enum: list[str] = []
    for variable in variables:
        if variable.name in given:
            value = as_text(given[variable.name])
            if strict and variable.enum is not None and value not in variable.enum:
                allowed = ", ".join(repr(option) for option in variable.enum)
                bad_enum.append(f"{variable.name}={value!r} (allowed: {allowed})")
            values[variable.name] = value
        elif variable.default is not None:
            values[variable.name] = as_text(variable.default)
        elif not variable.required:
            values[variable.name] = ""
        else:
            missing.append(variable.name)
    if strict and missing:
        raise InvalidArgumentError(
            f"missing required variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            argument="variables",
            missing=missing,
        )
    if bad_enum:
        raise InvalidArgumentError(
            f"value not allowed: {'; '.join(bad_enum)}", argument="variables", invalid=bad_enum
        )
    known = {variable.name for variable in variables}
    return Bindings(values=values, unused=[name for name in given if name not in known])


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each placeholder that has a value; leave the others exactly as written."""

    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else value

    return PLACEHOLDER_RE.sub(replace, text)


def as_text(value: Any) -> str:
    """How a variable's value appears in rendered text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def apply_edits(texts: list[str], edits: list[tuple[str, str]]) -> list[str]:
    """Apply ``(old, new)`` replacements in order across ``texts`` (a template, or each message's content).

    Each ``old`` must occur exactly once in all of them together when its turn comes.
    """
    texts = list(texts)
    for index, (old, new) in enumerate(edits):
        if not old:
            raise InvalidArgumentError(f"edit {index}: 'old' is empty", argument="edits", edit_index=index)
        count = sum(text.count(old) for text in texts)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise InvalidArgumentError(
                f"edit {index}: the text to replace {where} in the prompt (it must occur exactly once): "
                f"{_excerpt(old)}",
                argument="edits",
                edit_index=index,
                occurrences=count,
            )
        texts = [text.replace(old, new, 1) if old in text else text for text in texts]
    return texts


def _excerpt(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")

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
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from promptshelf.errors import InvalidArgumentError
from promptshelf.limits import (
    MAX_EDIT_WORK,
    MAX_EDITS,
    MAX_EXPANDED_CHARS,
    MAX_INCLUDE_DEPTH,
    MAX_INCLUDES,
    parse_version,
)
from promptshelf.model import PLACEHOLDER_RE, Variable, placeholders

_BLANKS = re.compile(r"\s*")
# PLACEHOLDER_RE needs no scanner of its own: blanks and name characters are disjoint classes and neither
# holds a brace, so a failed attempt backtracks only over the run after its own "{{", which the attempt at
# the next "{{" cannot share: linear in the text (tests/test_template.py parses 4 MB of adversarial input).


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
    version: int
    """With ``name``, what makes two includes the same: each is expanded once per resolve."""
    template: str
    declared: list[Variable]


IncludeLoader = Callable[[IncludeRef], Awaitable[IncludedPrompt]]


@dataclass(frozen=True, slots=True)
class Expanded:
    texts: list[str]
    """The texts with every include replaced by the included prompt's text."""
    included_variables: list[Variable]
    """The effective variables of everything included, nested includes merged."""


def include_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, inner)`` of each ``{{> inner}}`` in ``text``, left to right, in time linear in it.

    An include runs from ``{{>`` to the first ``}}`` after it, its inner text stripped of blanks; one whose
    inner text holds a line break is plain text. These are exactly the matches of the regular expression
    ``\\{\\{>\\s*(.*?)\\s*\\}\\}`` this replaces, which backtracked catastrophically (cubic in the
    blanks after an unclosed ``{{>``). Deliberately loose: whatever stands between ``{{>`` and ``}}`` is an
    include, and a malformed one is reported by name validation instead of passing through as text.

    Why linear: every search moves forward only. After an include the next search starts past its ``}}``.
    After a ``{{>`` that is text, the starts that follow share its ``}}`` (found once), the end of the text
    before it (found once) and the next line break (found again only once passed); each start's leading
    blanks end before the next ``{{>``, so no blank is skipped twice.
    """
    position = 0
    close = -1  # the first "}}" after the current start, kept while later starts still come before it
    inner_end = -1  # where the text before `close` ends, trailing blanks dropped
    newline = -1  # the first line break at or after the current inner text's start (len(text) if none)
    while (start := text.find("{{>", position)) >= 0:
        if close < start + 3:
            close = text.find("}}", start + 3)
            if close < 0:
                return  # no later start can find one either
            inner_end = start + 3 + len(text[start + 3 : close].rstrip())
        blanks = _BLANKS.match(text, start + 3, close)
        inner_start = blanks.end() if blanks else start + 3  # r"\s*" always matches
        if newline < inner_start:
            newline = text.find("\n", inner_start)
            newline = len(text) if newline < 0 else newline
        if newline < inner_end:
            position = start + 3
            continue
        yield start, close + 2, text[inner_start:inner_end]
        position = close + 2


def include_refs(texts: Iterable[str]) -> list[IncludeRef]:
    return [_parse_include(inner) for text in texts for _, _, inner in include_spans(text)]


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
    texts = list(texts)
    found = placeholders(texts)
    merged = {v.name: v for v in merge_variables(own_declared, included)}
    # Only a placeholder nothing declares becomes a Variable of its own (building one is a pydantic pass,
    # and on every prompt fetch each placeholder is usually declared).
    merged.update((name, Variable(name=name)) for name in found if name not in merged)
    order = [v.name for v in own_declared]
    if expanded_texts is not None and (expanded := list(expanded_texts)) != texts:
        found = placeholders(expanded)  # else the same texts: the same names (no include was expanded)
    order += found
    order += list(merged)
    return [merged[name] for name in dict.fromkeys(order) if name in merged]


async def expand_includes(texts: list[str], load: IncludeLoader, chain: tuple[str, ...]) -> Expanded:
    """Replace every ``{{> ...}}`` in ``texts``; ``chain`` holds the names being expanded (the root first).

    Each included ``(name, version)`` is loaded and expanded once; the totals over all of ``texts`` are
    bounded by ``MAX_INCLUDES`` and ``MAX_EXPANDED_CHARS`` before any text that would pass them is built.
    """
    expander = _Expander(load, chain[0])
    expanded: list[str] = []
    collected: list[Variable] = []
    includes = size = 0
    for text in texts:
        result = await expander.expand(text, chain)
        includes += result.includes
        size += len(result.text)
        expander.check_totals(includes, size)
        expanded.append(result.text)
        collected.extend(result.variables)
    return Expanded(texts=expanded, included_variables=merge_variables(collected))


@dataclass(frozen=True, slots=True)
class _Expansion:
    """A text with its includes expanded, and what it takes to reuse it under another chain."""

    text: str
    variables: list[Variable]
    includes: int
    """Includes expanded in it, nested ones counted each time they are met."""
    names: frozenset[str]
    """The names included in it, at any depth."""
    height: int
    """How many levels of includes it holds (0: none)."""


class _Expander:
    """One resolve's expansions, each ``(name, version)`` expanded once."""

    def __init__(self, load: IncludeLoader, root: str) -> None:
        self._load = load
        self._root = root
        self._loaded: dict[IncludeRef, IncludedPrompt] = {}
        self._expanded: dict[tuple[str, int], _Expansion] = {}

    def check_totals(self, includes: int, size: int) -> None:
        if includes > MAX_INCLUDES:
            raise InvalidArgumentError(
                f"prompt {self._root!r} expands more than {MAX_INCLUDES} includes (nested ones counted each "
                f"time they are met); the limit is {MAX_INCLUDES}: include fewer prompts, or fewer times",
                argument="template",
                limit=MAX_INCLUDES,
            )
        if size > MAX_EXPANDED_CHARS:
            raise InvalidArgumentError(
                f"prompt {self._root!r} is more than {MAX_EXPANDED_CHARS:,} characters long with its "
                f"includes expanded; the limit is {MAX_EXPANDED_CHARS:,}: include less text, or fewer times",
                argument="template",
                limit=MAX_EXPANDED_CHARS,
            )

    async def expand(self, text: str, chain: tuple[str, ...]) -> _Expansion:
        pieces: list[str] = []
        collected: list[Variable] = []
        names: set[str] = set()
        includes = size = height = 0
        position = 0
        for start, end, inner in include_spans(text):
            ref = _parse_include(inner)
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
            inner_expansion = await self._included(ref, chain)
            includes += 1 + inner_expansion.includes
            size += start - position + len(inner_expansion.text)
            self.check_totals(includes, size)
            pieces.append(text[position:start])
            pieces.append(inner_expansion.text)
            collected.extend(inner_expansion.variables)
            names.add(ref.name)
            names.update(inner_expansion.names)
            height = max(height, 1 + inner_expansion.height)
            position = end
        if not pieces:
            return _Expansion(text, [], 0, frozenset(), 0)
        self.check_totals(includes, size + len(text) - position)
        pieces.append(text[position:])
        return _Expansion("".join(pieces), merge_variables(collected), includes, frozenset(names), height)

    async def _included(self, ref: IncludeRef, chain: tuple[str, ...]) -> _Expansion:
        """The included prompt expanded, as its includer sees it (its effective variables)."""
        included = self._loaded.get(ref)
        if included is None:
            included = self._loaded[ref] = await self._load(ref)
        key = (included.name, included.version)
        known = self._expanded.get(key)
        # An expansion made under another chain holds for this one unless it would meet a name of this
        # chain or nest too deep here; then expand again, which raises the error a fresh expansion would.
        if (
            known is not None
            and known.names.isdisjoint(chain)
            and len(chain) + known.height <= MAX_INCLUDE_DEPTH
        ):
            return known
        inner = await self.expand(included.template, (*chain, ref.name))
        variables = effective_variables(included.declared, [included.template], inner.variables, [inner.text])
        expansion = _Expansion(inner.text, variables, inner.includes, inner.names, inner.height)
        self._expanded.setdefault(key, expansion)
        return expansion


def _parse_include(inner: str) -> IncludeRef:
    name, at, selector = inner.partition("@")
    if not at:
        return IncludeRef(name)
    if selector.isascii() and selector.isdigit():  # not str.isdigit alone: int('²') fails
        # int() refuses more than 4,300 digits, and a number that long is out of range anyway; shorter ones
        # are range-checked by the service, which names the prompt holding the include.
        if len(selector.lstrip("0")) > 100:
            parse_version(selector, f"the version in the include of {name!r}")
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
    # Every given name that is a variable's has its value kept, so the unused ones are those not kept.
    unused = [] if given.keys() <= values.keys() else [name for name in given if name not in values]
    return Bindings(values=values, unused=unused)


def render_texts(texts: list[str], values: Mapping[str, str]) -> list[str]:
    """Substitute ``values`` into every text, refusing before anything is built when the result would pass
    ``MAX_EXPANDED_CHARS`` (a 5,000-character value in 50,000 placeholders is 250 MB)."""
    length = sum(map(len, texts))
    longest = max(map(len, values.values()), default=0)
    # A placeholder takes at least five characters ("{{x}}"): when even that many, each given the longest
    # value, stay within the limit, the exact count below (a second pass over every text) cannot refuse.
    if length + (length // 5) * longest <= MAX_EXPANDED_CHARS:
        return [substitute(text, values) for text in texts]
    size = 0
    for text in texts:
        size += len(text)
        for match in PLACEHOLDER_RE.finditer(text):
            value = values.get(match.group(1))
            if value is not None:
                size += len(value) - len(match.group(0))
    if size > MAX_EXPANDED_CHARS:
        raise InvalidArgumentError(
            f"the rendered prompt would be {size:,} characters long; the limit is {MAX_EXPANDED_CHARS:,}: "
            "give shorter values",
            argument="variables",
            limit=MAX_EXPANDED_CHARS,
        )
    return [substitute(text, values) for text in texts]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each placeholder that has a value; leave the others exactly as written."""

    def replace(match: re.Match[str]) -> str:
        value = values.get(match[1])
        return match[0] if value is None else value

    return PLACEHOLDER_RE.sub(replace, text)


def as_text(value: Any) -> str:
    """How a variable's value appears in rendered text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def check_edit_count(count: int) -> None:
    if count > MAX_EDITS:
        raise InvalidArgumentError(
            f"{count} edits in one update; the limit is {MAX_EDITS}: send the whole new template instead",
            argument="edits",
            limit=MAX_EDITS,
        )


def apply_edits(texts: list[str], edits: list[tuple[str, str]]) -> list[str]:
    """Apply ``(old, new)`` replacements in order across ``texts`` (a template, or each message's content).

    Each ``old`` must occur exactly once in all of them together when its turn comes. Each edit costs one
    pass over the texts, so the number of edits times the characters they can reach is bounded first.
    """
    check_edit_count(len(edits))
    reach = sum(len(text) for text in texts) + sum(len(new) for _, new in edits)
    if len(edits) * reach > MAX_EDIT_WORK:
        raise InvalidArgumentError(
            f"{len(edits)} edits on {reach:,} characters (the prompt's text and the new texts) is too much "
            f"work for one update: edits times characters may be at most {MAX_EDIT_WORK:,}; send fewer "
            "edits, or the whole new template",
            argument="edits",
            limit=MAX_EDIT_WORK,
        )
    texts = list(texts)
    for index, (old, new) in enumerate(edits):
        if not old:
            raise InvalidArgumentError(f"edit {index}: 'old' is empty", argument="edits", edit_index=index)
        counts = [text.count(old) for text in texts]
        count = sum(counts)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise InvalidArgumentError(
                f"edit {index}: the text to replace {where} in the prompt (it must occur exactly once): "
                f"{_excerpt(old)}",
                argument="edits",
                edit_index=index,
                occurrences=count,
            )
        at = counts.index(1)
        texts[at] = texts[at].replace(old, new, 1)
    return texts


def _excerpt(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")

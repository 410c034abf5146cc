"""How big a stored or requested thing may be (README, "Limits"), and the checks of values from the wire.

Every limit is a clear ``InvalidArgumentError`` naming the field and the limit. The numbers are sized for a
prompt registry, well above real prompts and well below what would hurt the server or its clients:

- a template (or a chat prompt's messages together) of 256 Ki characters is about 65,000 tokens, several
  times the longest system prompts in use. A read answers with the text twice (as text content and as
  structured content), and the Python SDK's HTTP client refuses a server-sent event over 1 MiB by default:
  the largest prompt, with the largest config and variables, must still reach it;
- ``config`` holds model settings, possibly with tool definitions or a JSON schema for structured output:
  64 KiB of JSON and 64 levels of nesting leave room for those; declared variables get as much;
- versions are numbered from 1 one write at a time, so a version above 2^31 - 1 can never exist; refusing it
  keeps it out of every store's integer column (SQLite's stops at 2^63 - 1, PostgreSQL's ``integer`` at
  2^31 - 1) and out of the vendors' APIs.

Values arriving as JSON are also checked for what JSON cannot carry faithfully: ``NaN`` and infinities
(Python's parser accepts them; they would be stored as ``null``) and lone UTF-16 surrogates (no store can
encode them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from promptshelf.errors import InvalidArgumentError
from promptshelf.model import Variable

MAX_VERSION = 2**31 - 1
MAX_TEMPLATE_LENGTH = 262_144
"""Characters in a template, and in a chat prompt's message contents together."""
MAX_MESSAGES = 1000
MAX_CONFIG_SIZE = 65_536
"""Characters of ``config`` as compact JSON; the declared variables together get as much."""
MAX_JSON_DEPTH = 64
MAX_VARIABLES = 100
MAX_VARIABLE_NAME_LENGTH = 100
MAX_VARIABLE_DESCRIPTION_LENGTH = 1000
MAX_ENUM_VALUES = 100
MAX_ENUM_VALUE_LENGTH = 200
MAX_DEFAULT_LENGTH = 1000
MAX_LABELS = 100
"""Labels on one prompt (so on one version, and given in one write)."""
MAX_TAGS = 50
MAX_TAG_LENGTH = 100
MAX_SEARCH_LENGTH = 1000

# Includes and edits (used by template.py). Includes compose prompts from a few
# shared fragments; edits are the small search-and-replace changes an agent sends. Anything beyond these is
# a mistake or an attack, and each would otherwise cost the whole server its event loop.
MAX_INCLUDE_DEPTH = 10
"""How deep includes may nest below the prompt being resolved."""
MAX_INCLUDES = 200
"""Includes expanded in one resolve, nested ones counted each time they are met."""
MAX_EXPANDED_CHARS = 2_000_000
"""Characters of one prompt with its includes expanded (all its messages together): about half a million
tokens, more than any model's context window."""
MAX_EDITS = 100
"""Edits in one ``update_prompt``."""
MAX_EDIT_WORK = 20_000_000
"""Edits times characters (the base version's texts plus every edit's new text): each edit scans the text
once, so this bounds an update's work (about 20 ms)."""


def check_version(value: Any, argument: str = "version") -> int:
    """A version number: an integer (not a boolean) from 1 to ``MAX_VERSION``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{argument} must be an integer, not {value!r}", argument=argument)
    if value < 1:
        raise InvalidArgumentError(f"{argument} must be at least 1, not {value}", argument=argument)
    if value > MAX_VERSION:
        # str() of an int over 4300 digits raises ValueError: name so large a number by its size
        shown = str(value) if value.bit_length() <= 128 else f"a {len(hex(value)) - 2}-hex-digit number"
        raise InvalidArgumentError(
            f"{argument} must be at most {MAX_VERSION}, not {shown}: no prompt has that many versions",
            argument=argument,
        )
    return value


def parse_version(digits: str, argument: str = "version") -> int:
    """A version number written in ASCII digits (a URI, an include selector), range-checked.

    Python refuses to read an integer of more than 4300 digits; any number that long is out of range anyway.
    """
    significant = digits.lstrip("0")
    if len(significant) > len(str(MAX_VERSION)):
        shown = significant if len(significant) <= 30 else significant[:30] + "..."
        raise InvalidArgumentError(
            f"{argument} must be at most {MAX_VERSION}, not {shown}: no prompt has that many versions",
            argument=argument,
        )
    return check_version(int(digits), argument)


def check_length(text: str, argument: str, limit: int, what: str | None = None) -> None:
    if len(text) > limit:
        raise InvalidArgumentError(
            f"{what or argument} is {len(text):,} characters long; the limit is {limit:,}", argument=argument
        )


def check_search(search: str | None) -> None:
    """A listing's ``search``: a NUL would end the pattern early (and list everything)."""
    if search is None:
        return
    if "\x00" in search:
        raise InvalidArgumentError("search may not contain a NUL character (\\u0000)", argument="search")
    check_length(search, "search", MAX_SEARCH_LENGTH)


def check_content(template: str | None, contents: Sequence[str] | None) -> None:
    """A text prompt's template, or a chat prompt's message contents."""
    if template is not None:
        check_length(template, "template", MAX_TEMPLATE_LENGTH)
        check_text(template, "template")
    if contents is not None:
        if len(contents) > MAX_MESSAGES:
            raise InvalidArgumentError(
                f"a chat prompt has at most {MAX_MESSAGES} messages, not {len(contents)}", argument="messages"
            )
        for index, content in enumerate(contents):
            where = f"messages[{index}].content"
            check_length(content, "messages", MAX_TEMPLATE_LENGTH, where)
            check_text(content, "messages", where)
        total = sum(len(content) for content in contents)
        if total > MAX_TEMPLATE_LENGTH:
            raise InvalidArgumentError(
                f"the messages hold {total:,} characters together; the limit is {MAX_TEMPLATE_LENGTH:,}",
                argument="messages",
            )


def check_config(config: Mapping[str, Any]) -> None:
    check_json(config, "config", max_depth=MAX_JSON_DEPTH)
    _check_json_size(config, "config", "config takes")


def check_variables(variables: Sequence[Variable]) -> None:
    if len(variables) > MAX_VARIABLES:
        raise InvalidArgumentError(
            f"at most {MAX_VARIABLES} declared variables, not {len(variables)}", argument="variables"
        )
    for variable in variables:
        check_variable(variable)
    dumped = [variable.model_dump(exclude_none=True) for variable in variables]
    _check_json_size(dumped, "variables", "the declared variables take")


def _check_json_size(value: Any, argument: str, what: str) -> None:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if size > MAX_CONFIG_SIZE:
        raise InvalidArgumentError(
            f"{what} {size:,} characters as JSON; the limit is {MAX_CONFIG_SIZE:,}", argument=argument
        )


def check_variable(variable: Variable) -> None:
    """A declared variable's fields (its name's syntax is ``model.validate_variable_name``)."""
    check_length(variable.name, "variables", MAX_VARIABLE_NAME_LENGTH, "a variable name")
    where = f"variable {variable.name!r}"
    if variable.description is not None:
        check_length(
            variable.description, "variables", MAX_VARIABLE_DESCRIPTION_LENGTH, f"{where}: the description"
        )
    check_json(variable.model_dump(exclude_none=True), "variables", where=f"variables[{variable.name!r}]")
    if isinstance(variable.default, str):
        check_length(variable.default, "variables", MAX_DEFAULT_LENGTH, f"{where}: the default")
    if variable.enum is not None:
        if len(variable.enum) > MAX_ENUM_VALUES:
            raise InvalidArgumentError(
                f"{where}: enum lists {len(variable.enum)} values; the limit is {MAX_ENUM_VALUES}",
                argument="variables",
            )
        for value in variable.enum:
            check_length(value, "variables", MAX_ENUM_VALUE_LENGTH, f"{where}: an enum value")


def check_labels(count: int) -> None:
    if count > MAX_LABELS:
        raise InvalidArgumentError(
            f"a prompt carries at most {MAX_LABELS} labels; this would make {count}", argument="labels"
        )


def check_text(text: str, argument: str, where: str | None = None) -> None:
    """Refuse a lone UTF-16 surrogate (JSON's ``"\\ud800"``): no store can encode it."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            f"{where or argument} holds a lone UTF-16 surrogate ({text[exc.start]!a}) at character "
            f"{exc.start}: it is not text",
            argument=argument,
        ) from None


def check_json(value: Any, argument: str, *, where: str | None = None, max_depth: int | None = None) -> None:
    """Refuse non-finite numbers and lone surrogates anywhere in a JSON value (and nesting deeper than
    ``max_depth``), naming where: ``config.a[2]``. Iterative, so any depth the parser accepted is safe.

    Where an item sits is kept as a chain of steps and spelled out only for an error: every render checks
    its variables, and nearly all of them pass."""
    if isinstance(value, dict) and (max_depth is None or max_depth > 0):
        for key, item in value.items():
            if not (type(key) is str and type(item) is str and key.isascii() and item.isascii()):
                break
        else:
            return  # ASCII text only (a render's variables, nearly always): nothing here can be refused
    pending: list[tuple[Any, _Where, int]] = [(value, where or argument, 0)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                check_text(item, argument, _spell(path))
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidArgumentError(
                f"{_spell(path)} is {item}: JSON numbers must be finite (no NaN or Infinity)",
                argument=argument,
            )
        if isinstance(item, Mapping | list | tuple) and max_depth is not None and depth >= max_depth:
            raise InvalidArgumentError(
                f"{argument} nests deeper than {max_depth} levels (at {_spell(path)})", argument=argument
            )
        if isinstance(item, Mapping):
            for key, inner in item.items():
                if isinstance(key, str) and not key.isascii():
                    check_text(key, argument, f"a key of {_spell(path)}")
                pending.append((inner, (path, key, False), depth + 1))
        elif isinstance(item, list | tuple):
            pending.extend((inner, (path, index, True), depth + 1) for index, inner in enumerate(item))


_Where = str | tuple[Any, object, bool]
"""Where an item sits: the root's name, or (the parent's place, a key or index, whether an index)."""


def _spell(path: _Where) -> str:
    """``config.a[2]`` for ``(("config", "a", False), 2, True)``."""
    steps: list[str] = []
    while not isinstance(path, str):
        path, step, is_index = path
        steps.append(f"[{step}]" if is_index else f".{step}")
    return path + "".join(reversed(steps))

"""Wire data (JSON from a tool call, a file, the command line) into typed model objects.

Used by the edges (MCP tools, CLI, import); a malformed item becomes an ``InvalidArgumentError`` that says
which item and what is wrong, never a pydantic traceback.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from promptshelf.errors import InvalidArgumentError
from promptshelf.model import Edit, Message, Variable

ModelT = TypeVar("ModelT", bound=BaseModel)


def messages(raw: Any) -> list[Message] | None:
    return _items(raw, Message, "messages")


def variables(raw: Any) -> list[Variable] | None:
    return _items(raw, Variable, "variables")


def edits(raw: Any) -> list[Edit] | None:
    return _items(raw, Edit, "edits")


def _items(raw: Any, model: type[ModelT], argument: str) -> list[ModelT] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidArgumentError(f"{argument} must be a list, not {type(raw).__name__}", argument=argument)
    items: list[ModelT] = []
    for index, item in enumerate(raw):
        if isinstance(item, model):
            items.append(item)
            continue
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'item'}: {error['msg']}"
                for error in exc.errors()
            )
            raise InvalidArgumentError(
                f"{argument}[{index}] is invalid: {problems}", argument=argument
            ) from None
    return items

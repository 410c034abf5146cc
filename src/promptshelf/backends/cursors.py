"""Opaque listing cursors: a position ``(name, tiebreak)`` a store hands out and takes back."""

from __future__ import annotations

import base64
import json

from promptshelf.errors import InvalidArgumentError


def encode_cursor(name: str, tiebreak: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, tiebreak]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        name, tiebreak = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(name), int(tiebreak)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"invalid cursor {cursor!r}: pass next_cursor from a previous page"
        ) from exc

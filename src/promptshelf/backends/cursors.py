"""Opaque listing cursors: a position ``(name, tiebreak)`` a store hands out and takes back.

A cursor comes back from the caller, so it is read as untrusted input: anything but what ``encode_cursor``
makes (a float such as ``1e20``, an infinity, a number past SQLite's integers, a name that is not text) is
an ``InvalidArgumentError``, never a store error.
"""

from __future__ import annotations

import base64
import json

from promptshelf.errors import InvalidArgumentError

MAX_TIEBREAK = 2**63 - 1
"""SQLite's largest integer (a row id)."""


def encode_cursor(name: str, tiebreak: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, tiebreak]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, TypeError, RecursionError):  # binascii.Error, UnicodeError, JSONDecodeError
        position = None
    match position:
        case [str() as name, int() as tiebreak] if (
            not isinstance(tiebreak, bool) and 0 <= tiebreak <= MAX_TIEBREAK and _is_text(name)
        ):
            return name, tiebreak
    shown = cursor if len(cursor) <= 100 else cursor[:100] + "..."
    raise InvalidArgumentError(
        f"invalid cursor {shown!a}: pass next_cursor from a previous page", argument="cursor"
    )


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

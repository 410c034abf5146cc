"""What the outer layers of ``/mcp`` (``http.py``) leave in a request's ASGI scope for the inner ones, so that
the fast path (``fast_path.py``) reads, decodes and parses nothing a second time.

Each entry is present only when it means exactly what the inner layer would otherwise work out itself.
"""

from __future__ import annotations

from typing import Final

HEADERS: Final = "promptshelf.headers"
"""``dict[str, str]``: the request's headers decoded (latin-1, names as sent), left only when every name is
lower-case and none repeats, so that every reading of them (first value or last, any spelling) agrees."""

PARSED: Final = "promptshelf.parsed"
"""``tuple[bytes, JSONRPCRequest]``: the whole body, and the request the envelope check (``wire.py``) parsed
it into: left only for a valid JSON-RPC request, which the SDK's own ``json.loads`` and ``JSONRPCRequest``
read into the same values (JSON the envelope check accepts is UTF-8 without lone surrogates; NaN and
Infinity, which both accept, are the same floats to both)."""

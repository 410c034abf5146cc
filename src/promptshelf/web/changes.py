"""What the live change notice asks: has this prompt changed since the page was rendered?

The server's ``ChangeHub`` already watches the store's change log (every ``--poll-interval`` seconds, and
at once after a write through this server: MCP tools, or this web view). ``ChangeLog`` listens to it and
keeps, in memory, the sequence number of each prompt's last change. A page carries the number current
when it was rendered (taken before its store reads, so a change cannot slip between them) and a digest
of what it showed; its script asks ``/-/changes`` every few seconds. The answer comes from memory, and
only when the log says the prompt changed is the prompt read once, to say what changed (and to not
raise a false alarm when only another prompt's change was reported, or a store could not say which).

Why polling a tiny endpoint rather than an EventSource stream: browsers open at most six HTTP/1.1
connections per host, so a stream per open tab would stall the pages of a seventh; each stream would
also hold one of the server's ``--max-connections`` (shared with MCP clients) and keep uvicorn waiting
at shutdown. A poll answered from memory costs about as little, and works behind any proxy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Protocol

from promptshelf.model import PromptSummary


class ChangeFeed(Protocol):
    """What the web view needs of ``server.notifications.ChangeHub``."""

    def add_watcher(self, watcher: Callable[[frozenset[str] | None], None]) -> None: ...

    async def check(self) -> None: ...


class ChangeLog:
    def __init__(self) -> None:
        self.sequence = 0
        self._changed: dict[str, int] = {}
        self._everything = 0

    def __call__(self, names: frozenset[str] | None) -> None:
        """The hub's report: these prompts changed (``None``: the store cannot tell which)."""
        self.sequence += 1
        if names is None:
            self._everything = self.sequence
        else:
            for name in names:
                self._changed[name] = self.sequence

    def changed_since(self, name: str, sequence: int) -> bool:
        return max(self._everything, self._changed.get(name, 0)) > sequence


def state_of(summary: PromptSummary | None) -> str:
    """A short digest of what a prompt page shows of the prompt as a whole (``gone`` once archived)."""
    if summary is None:
        return "gone"
    shown = [summary.latest_version, sorted(summary.labels.items()), summary.description, summary.tags]
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()[:16]


def describe(before_latest: int | None, summary: PromptSummary | None) -> str:
    """The notice's sentence."""
    if summary is None:
        return "This prompt was archived (or renamed) since this page was loaded."
    if before_latest is not None and summary.latest_version != before_latest:
        return (
            f"Version {summary.latest_version} of this prompt was published since this page was loaded "
            f"(it showed version {before_latest} as the latest)."
        )
    return "This prompt's labels or details changed since this page was loaded."

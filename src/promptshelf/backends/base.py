"""The Store protocol: the small contract every backend implements.

A store translates; it does not decide. Validation, default labels, protected labels, edits, includes and
rendering all live in the service layer. A store:

- raises only ``promptshelf.errors`` exceptions (``NotFoundError`` for an unknown or archived name,
  version or label; ``ConflictError`` with ``current_version`` for a stale ``base_version`` or a name that
  exists; ``UnavailableError`` when it cannot answer now);
- treats ``latest`` as the newest version and never stores it as a label;
- keeps archived prompts out of every lookup (only ``list_prompts`` with ``include_archived`` shows them),
  and lets an archived name be created again from version 1.

The contract suite in ``tests/backends/test_contract.py`` runs against every implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from promptshelf.model import PromptMeta, PromptQuery, PromptSummary, PromptVersion, VersionDraft, VersionInfo


@dataclass(frozen=True, slots=True)
class PromptPage:
    prompts: list[PromptSummary]
    next_cursor: str | None
    """Opaque to everyone but the store that made it."""


@dataclass(frozen=True, slots=True)
class VersionPage:
    versions: list[VersionInfo]
    """Newest first."""
    has_more: bool


@dataclass(frozen=True, slots=True)
class Changes:
    token: str
    """Hand it back to ``poll_changes`` to hear only of later changes."""
    names: frozenset[str] | None
    """The prompts that changed since the token given; ``None`` when the store cannot tell which."""


@runtime_checkable
class Store(Protocol):
    kind: str
    """``sqlite``, ``postgres``, ``posthog``, ``statsig``: for messages and provenance."""

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        """Prompts matching the query, in a stable order; ``query.after`` is a cursor from a previous page."""
        ...

    async def get_summary(self, name: str) -> PromptSummary:
        """The prompt's metadata with every label and its latest version; ``NotFoundError`` if none."""
        ...

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        """One version by number, or the one a label points at, or (neither) the latest."""
        ...

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        """Version 1 of a new prompt; ``ConflictError`` if a live prompt has that name."""
        ...

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        """Version ``base_version + 1``, only if ``base_version`` is still the latest, else ``ConflictError``.

        ``meta``, when given, replaces the prompt's description and tags in the same write.
        """
        ...

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        """Point ``label`` at ``version``; returns the version it pointed at before, if any."""
        ...

    async def remove_label(self, name: str, label: str) -> int:
        """Remove ``label``; returns the version it pointed at (``NotFoundError`` if it was not set)."""
        ...

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        """A page of history, newest first, versions below ``before_version`` when it is given."""
        ...

    async def archive_prompt(self, name: str) -> int:
        """Archive every version of the live prompt; returns how many versions were archived."""
        ...

    async def poll_changes(self, since: str | None) -> Changes:
        """What changed since ``since`` (``None``: just the current token, ``names`` empty)."""
        ...

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not a deadline)
        """Return when a change may have happened (then ``poll_changes`` tells what), or after ``timeout``
        seconds. A store that cannot be told of changes just sleeps; PostgreSQL wakes on NOTIFY. Meant
        for one waiter at a time (the server's change hub)."""
        ...

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        """What the vendor's own SDKs will not render as promptshelf does, for a version about to be
        written (pure: no I/O). The service adds these to the write's result; empty when nothing differs."""
        ...

    async def aclose(self) -> None: ...

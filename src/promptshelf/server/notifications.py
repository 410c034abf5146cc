"""Change notifications in both protocol eras (DESIGN.md, "Change notifications").

One ``ChangeHub`` per server process watches the store's change log (``poll_changes``: a cheap query that
names the prompts changed since a token, never a re-read of everything) every ``poll_interval`` seconds,
at once when the store says a change may have happened (``wait_for_change``: PostgreSQL's NOTIFY, from a
write on any replica), and at once after a write made through this server. For the prompts named it
decides what a client can see change:

- ``prompts/list_changed`` and ``resources/list_changed`` when a prompt appears or disappears at the
  default label, or its default-label version or description changes;
- ``resources/updated`` for each subscribed URI whose document is now different (compared by digest, so
  a change reached through an include is noticed too).

Delivery: handshake-era connections (2025-06-18, 2025-11-25) are tracked here and told on their
standalone channel; 2026-07-28 clients listen with ``subscriptions/listen`` and are told through the
SDK's subscription bus. The URIs those listeners asked for are counted here so that only subscribed
URIs are ever re-read.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import mcp.types as types
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from promptshelf.errors import NotFoundError, PromptshelfError, UnavailableError
from promptshelf.model import LATEST, PromptSummary
from promptshelf.service import PromptService

logger = logging.getLogger(__name__)

ReadDocument = Callable[[str], Awaitable[str | None]]
"""Reads a ``prompt://`` URI's document (``None`` when it names nothing)."""

_Visible = tuple[int, str | None]
"""What ``prompts/list`` and ``resources/list`` show of a prompt: its default-label version, description."""


class ChangeHub:
    def __init__(self, service: PromptService, read_document: ReadDocument) -> None:
        self.service = service
        self.read_document = read_document
        self.bus = InMemorySubscriptionBus()
        self.listen_handler = ListenHandler(self.bus)
        self._connections: dict[Connection, set[str]] = {}
        self._listen_uris: Counter[str] = Counter()
        self._digests: dict[str, str | None] = {}
        self._visible: dict[str, _Visible] = {}
        self._token: str | None = None
        self._lock = anyio.Lock()

    # -- watching the store ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the change token and a snapshot of what the listings show (once, at startup).

        A store that cannot answer now (a vendor that is down) does not stop the server: the first
        ``check`` that reaches it takes them instead, and tells clients the lists changed (what they
        listed meanwhile was an error).
        """
        async with self._lock:
            try:
                await self._take_baseline()
            except UnavailableError as exc:
                logger.warning("cannot watch for prompt changes yet (%s); will retry", exc.message)

    async def _take_baseline(self) -> None:
        token = (await self.service.poll_changes(None)).token
        self._visible = await self._snapshot()
        self._token = token

    async def run(self, interval: float) -> None:
        """Look for changes (another process's writes included) whenever the store says one may have
        happened (PostgreSQL's NOTIFY), and at least every ``interval`` seconds, forever."""
        while True:
            try:
                await self.service.store.wait_for_change(interval)
            except Exception:  # a store that cannot wait now must not stop the polling
                logger.exception("waiting for prompt changes failed")
                await anyio.sleep(interval)
            try:
                await self.check()
            except PromptshelfError as exc:
                logger.warning("looking for prompt changes failed: %s", exc.message)
            except Exception:
                logger.exception("looking for prompt changes failed")

    async def check(self) -> None:
        """Notify what changed since the last check; called by ``run`` and after every write."""
        async with self._lock:
            if self._token is None:
                await self._take_baseline()
                list_changed = True
            else:
                changes = await self.service.poll_changes(self._token)
                self._token = changes.token
                if changes.names is not None and not changes.names:
                    return
                list_changed = await self._update_visible(changes.names)
            updated = await self._updated_uris()
        if list_changed:
            await self._send_list_changed()
        for uri in updated:
            await self._send_updated(uri)

    async def _snapshot(self) -> dict[str, _Visible]:
        visible: dict[str, _Visible] = {}
        cursor: str | None = None
        label = self.service.policy.default_label
        while True:
            page = await self.service.list_prompts(cursor=cursor, limit=200, label=label)
            for summary in page.prompts:
                if (entry := self._visible_entry(summary)) is not None:
                    visible[summary.name] = entry
            if page.next_cursor is None:
                return visible
            cursor = page.next_cursor

    def _visible_entry(self, summary: PromptSummary) -> _Visible | None:
        label = self.service.policy.default_label
        version = summary.latest_version if label == LATEST else summary.labels.get(label)
        return None if version is None else (version, summary.description)

    async def _update_visible(self, names: frozenset[str] | None) -> bool:
        if names is None:
            before, self._visible = self._visible, await self._snapshot()
            return before != self._visible
        changed = False
        for name in names:
            try:
                entry = self._visible_entry(await self.service.store.get_summary(name))
            except NotFoundError:
                entry = None
            if entry != self._visible.get(name):
                changed = True
                if entry is None:
                    self._visible.pop(name, None)
                else:
                    self._visible[name] = entry
        return changed

    async def _updated_uris(self) -> list[str]:
        updated = []
        for uri in self._subscribed():
            before = self._digests.get(uri)
            after = await self._digest(uri)
            self._digests[uri] = after
            if after != before:
                updated.append(uri)
        return updated

    async def _digest(self, uri: str) -> str | None:
        try:
            document = await self.read_document(uri)
        except PromptshelfError:
            return None
        return None if document is None else hashlib.sha256(document.encode()).hexdigest()

    def _subscribed(self) -> set[str]:
        uris = {uri for uri, count in self._listen_uris.items() if count > 0}
        for subscribed in self._connections.values():
            uris |= subscribed
        return uris

    # -- delivery ------------------------------------------------------------------------------------

    async def _send_list_changed(self) -> None:
        for connection in list(self._connections):
            await connection.send_prompt_list_changed()
            await connection.send_resource_list_changed()
        await self.bus.publish(PromptsListChanged())
        await self.bus.publish(ResourcesListChanged())

    async def _send_updated(self, uri: str) -> None:
        for connection, uris in list(self._connections.items()):
            if uri in uris:
                await connection.send_resource_updated(uri)
        if self._listen_uris[uri] > 0:
            await self.bus.publish(ResourceUpdated(uri=uri))

    # -- handshake-era connections -------------------------------------------------------------------

    def track(self, connection: Connection) -> None:
        """Remember a handshake-era connection until it closes, so that it hears of changes."""
        if connection.protocol_version in MODERN_PROTOCOL_VERSIONS or connection in self._connections:
            return
        self._connections[connection] = set()
        connection.exit_stack.callback(self._forget, connection)

    def _forget(self, connection: Connection) -> None:
        self._connections.pop(connection, None)

    async def subscribe(self, connection: Connection, uri: str) -> None:
        self.track(connection)
        await self._remember_digest(uri)
        self._connections[connection].add(uri)

    def subscriptions(self, connection: Connection) -> frozenset[str]:
        return frozenset(self._connections.get(connection, ()))

    def unsubscribe(self, connection: Connection, uri: str) -> None:
        self._connections.get(connection, set()).discard(uri)

    async def _remember_digest(self, uri: str) -> None:
        if uri not in self._subscribed():
            self._digests[uri] = await self._digest(uri)

    # -- 2026-07-28 listeners ------------------------------------------------------------------------

    async def listen(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """``subscriptions/listen``: the SDK's handler, with the requested URIs counted while it runs."""
        uris = list(params.notifications.resource_subscriptions or [])
        for uri in uris:
            await self._remember_digest(uri)
        self._count(uris, +1)
        try:
            return await self.listen_handler(ctx, params)
        finally:
            self._count(uris, -1)

    def _count(self, uris: Iterable[str], delta: int) -> None:
        for uri in uris:
            self._listen_uris[uri] += delta
            if self._listen_uris[uri] <= 0:
                del self._listen_uris[uri]

    def close(self) -> None:
        self.listen_handler.close()

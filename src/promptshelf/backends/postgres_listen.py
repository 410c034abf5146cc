"""``wait_for_change`` for PostgreSQL: a connection of its own that LISTENs for every replica's writes.

Every write sends ``NOTIFY promptshelf_changes`` in its transaction (delivered at commit). The listener
wakes the waiter (the server's change hub) on each; the hub then reads the change log from its last token,
so the notification only says "look now" and carries nothing that could be lost.

When the listening connection is lost (PostgreSQL restarted, the connection killed), the waiter is woken at
once and the listener reconnects in the background, backing off up to a few seconds while PostgreSQL is
away; once it listens again it wakes the waiter once more. Whatever was written meanwhile is in the change
log after the hub's token, so nothing is missed. The connection starts with the first wait: commands that
never wait (the CLI) never open it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from promptshelf.backends.postgres_connect import Target

logger = logging.getLogger("promptshelf.postgres")

FIRST_RETRY = 0.2
LAST_RETRY = 5.0
APPLICATION_NAME = "promptshelf-listen"


class ChangeListener:
    def __init__(self, target: Target, channel: str, connect_timeout: float) -> None:
        self.target = target
        self.channel = channel
        self.connect_timeout = connect_timeout
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not a deadline)
        """Return when a change may have happened since the last return, or after ``timeout`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="promptshelf-listen")
        if not self._changed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        self._changed.clear()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        delay = FIRST_RETRY
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self.target.url, **self.target.connect_kwargs(self.connect_timeout, APPLICATION_NAME)
                )
            except psycopg.Error as exc:
                if delay == FIRST_RETRY:
                    logger.warning(
                        "cannot listen for changes at %s (%s); retrying",
                        self.target.where,
                        self.target.scrub(str(exc).strip()),
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAST_RETRY)
                continue
            try:
                await connection.execute(f"LISTEN {self.channel}".encode())
                if delay != FIRST_RETRY:
                    logger.info("listening for changes at %s again", self.target.where)
                delay = FIRST_RETRY
                self._changed.set()  # anything written while no one listened is in the change log
                async for _ in connection.notifies():
                    self._changed.set()
            except psycopg.Error as exc:
                logger.warning(
                    "lost the connection listening for changes at %s (%s); reconnecting",
                    self.target.where,
                    self.target.scrub(str(exc).strip()),
                )
                self._changed.set()
            finally:
                await connection.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY)

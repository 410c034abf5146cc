"""Change notifications (DESIGN.md, "Change notifications"): for writes through the server and for
writes another process makes to the same SQLite file, in both eras, over both transports.

Handshake eras: ``notifications/prompts/list_changed``, ``notifications/resources/list_changed`` and
``notifications/resources/updated`` (after ``resources/subscribe``). 2026-07-28: the same events on a
``subscriptions/listen`` stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.client.subscriptions import PromptsListChanged, ResourcesListChanged, ResourceUpdated
from mcp_types import INVALID_PARAMS

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.server.app import MAX_SUBSCRIPTIONS, PromptshelfMCP
from promptshelf.service import Policy, PromptService
from tests.server.conftest import MODERN, Connect, Received, open_client, unique

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:resources/subscribe is removed"),
]

HANDSHAKE_ERAS = ["2025-06-18", "2025-11-25"]


async def write_elsewhere(db: Path, name: str, action: str) -> None:
    """A write by another writer of the same file (the server hears of it only through the file)."""
    store = await SQLiteStore.open(db)
    service = PromptService(store, Policy(trusted=True, actor="other"))
    try:
        if action == "create":
            await service.create_prompt(name, template="v1 {{x}}")
        elif action == "update":
            await service.update_prompt(name, base_version=1, template="v2 {{x}}")
        elif action == "label":
            await service.set_label(name, "staging", 1)
    finally:
        await store.aclose()


async def test_handshake_capabilities_advertise_change_notifications(
    connect: Connect, transport: str
) -> None:
    async with connect("2025-11-25", transport) as client:
        capabilities = client.server_capabilities
    assert capabilities.prompts is not None and capabilities.prompts.list_changed is True
    assert capabilities.resources is not None
    assert capabilities.resources.list_changed is True and capabilities.resources.subscribe is True


async def test_modern_discover_advertises_change_notifications(connect: Connect, transport: str) -> None:
    async with connect(MODERN, transport) as client:
        capabilities = client.server_capabilities
    assert capabilities.prompts is not None and capabilities.prompts.list_changed is True
    assert capabilities.resources is not None
    assert capabilities.resources.list_changed is True and capabilities.resources.subscribe is True


@pytest.mark.parametrize("era", HANDSHAKE_ERAS)
async def test_handshake_writes_through_the_server_notify(connect: Connect, era: str, transport: str) -> None:
    received = Received()
    name = unique("n")
    async with connect(era, transport, received=received) as client:
        await client.call_tool("create_prompt", {"name": name, "template": "v1"})
        await received.wait_for("notifications/prompts/list_changed")
        await received.wait_for("notifications/resources/list_changed")
        uri = f"prompt://{name}"
        await subscribe(client, uri)
        await client.call_tool("update_prompt", {"name": name, "base_version": 1, "template": "v2"})
        await received.wait_for("notifications/resources/updated", uri=uri)


@pytest.mark.parametrize("era", HANDSHAKE_ERAS)
async def test_handshake_writes_by_another_process_notify(
    connect: Connect, seeded_db: Path, era: str, transport: str
) -> None:
    received = Received()
    name = unique("x")
    async with connect(era, transport, received=received) as client:
        await client.list_prompts()
        await write_elsewhere(seeded_db, name, "create")
        await received.wait_for("notifications/prompts/list_changed", within=3)
        await received.wait_for("notifications/resources/list_changed", within=3)
        uri = f"prompt://{name}"
        label_uri = f"prompt://{name}/labels/staging"
        await subscribe(client, uri)
        await subscribe(client, label_uri)
        await write_elsewhere(seeded_db, name, "label")
        await received.wait_for("notifications/resources/updated", uri=label_uri, within=3)
        await write_elsewhere(seeded_db, name, "update")
        await received.wait_for("notifications/resources/updated", uri=uri, within=3)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("prompt://" + "n" * 100_000, "the limit is 255"),
        ("prompt://a%2F..%2Fb", "invalid prompt name"),
        ("prompt://p/labels/Not%20A%20Label", "invalid label"),
    ],
)
async def test_a_subscription_to_a_uri_no_prompt_could_have_is_refused(
    connect: Connect, uri: str, says: str
) -> None:
    async with connect("2025-11-25", "http") as client:
        with pytest.raises(MCPError, match=says) as raised:
            await subscribe(client, uri)
        assert raised.value.error.code == INVALID_PARAMS


async def test_subscriptions_per_session_are_limited(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    try:
        async with Client(PromptshelfMCP(PromptService(store)).server, mode="legacy") as client:
            for n in range(MAX_SUBSCRIPTIONS):
                await subscribe(client, f"prompt://s{n}")
            await subscribe(client, "prompt://s0")  # one already held is not counted twice
            with pytest.raises(MCPError, match=f"already has {MAX_SUBSCRIPTIONS} subscriptions"):
                await subscribe(client, "prompt://one-more")
    finally:
        await store.aclose()


async def subscribe(client: Client, uri: str) -> None:
    await client.session.subscribe_resource(uri)  # type: ignore[attr-defined,unused-ignore]


async def test_modern_listen_hears_writes_through_the_server_and_elsewhere(
    connect: Connect, seeded_db: Path, transport: str
) -> None:
    name = unique("m")
    uri = f"prompt://{name}"
    async with connect(MODERN, transport) as client, connect(MODERN, transport) as writer:
        await writer.call_tool("create_prompt", {"name": name, "template": "v1"})
        async with client.listen(
            prompts_list_changed=True, resources_list_changed=True, resource_subscriptions=[uri]
        ) as subscription:
            events: list[Any] = []

            async def collect(until: Any) -> None:
                with anyio.fail_after(5):
                    async for event in subscription:
                        events.append(event)
                        if event == until:
                            return
                raise AssertionError(f"the listen stream ended before {until}; it carried {events}")

            # Through the server (another connection's write) ...
            await writer.call_tool("update_prompt", {"name": name, "base_version": 1, "template": "v2"})
            await collect(ResourceUpdated(uri=uri))
            # ... and by another process writing the file.
            other = unique("m")
            await write_elsewhere(seeded_db, other, "create")
            await collect(PromptsListChanged())
            assert ResourcesListChanged() in events or await _next_is(subscription, ResourcesListChanged())


async def _next_is(subscription: Any, expected: Any) -> bool:
    with anyio.fail_after(5):
        async for event in subscription:
            if event == expected:
                return True
    return False


@pytest.mark.parametrize("era", HANDSHAKE_ERAS)
async def test_moving_the_default_label_or_archiving_notifies(tmp_path: Path, era: str) -> None:
    """With ``--label production``, moving ``production`` changes what ``prompt://{name}`` resolves to
    (resources/updated) and what the lists show (list_changed); archiving removes it from the lists."""
    db = tmp_path / "labels.db"
    name = unique("d")
    store = await SQLiteStore.open(db)
    service = PromptService(store, Policy(trusted=True, actor="other"))
    try:
        await service.create_prompt(name, template="v1 {{x}}")
        await service.update_prompt(name, base_version=1, template="v2 {{x}}")
        await service.set_label(name, "production", 1)
    finally:
        await store.aclose()
    received = Received()
    uri = f"prompt://{name}"
    async with open_client(era, "stdio", db=db, args=("--label", "production"), received=received) as client:
        await subscribe(client, uri)
        store = await SQLiteStore.open(db)
        service = PromptService(store, Policy(trusted=True, actor="other"))
        try:
            await service.set_label(name, "production", 2)
            await received.wait_for("notifications/resources/updated", uri=uri, within=3)
            await received.wait_for("notifications/prompts/list_changed", within=3)
            received.messages.clear()
            await service.archive_prompt(name)
            await received.wait_for("notifications/prompts/list_changed", within=3)
            await received.wait_for("notifications/resources/list_changed", within=3)
            await received.wait_for("notifications/resources/updated", uri=uri, within=3)
        finally:
            await store.aclose()

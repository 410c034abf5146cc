"""The vendor backends behind the MCP surface, end to end (issues #4 and #5: teams whose prompts live in
PostHog or Statsig "point promptshelf at their project and get the same tools, MCP prompts and resources
as with SQLite").

Every test runs once per vendor. The vendor is a fake PostHog or Statsig (``tests/fakes``, faithful to
``vendor-apis.md``) served on 127.0.0.1 by this test process; the server is a real
``promptshelf serve --backend <vendor>`` process configured only through the environment a user would set
(``POSTHOG_*`` / ``STATSIG_*``, ``PROMPTSHELF_CACHE_TTL``, ``PROMPTSHELF_POLL_INTERVAL``), reached with the
SDK's ``Client`` over stdio (a fresh process per connection) or streamable HTTP (one server per vendor for
the module). Prompts "written at the vendor" are written with plain HTTP calls to the vendor's API, as its
console or another team's script would, never through promptshelf.
"""

from __future__ import annotations

import json
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx
import pytest
from mcp import Client, MCPError

from tests.fakes.posthog import FakePostHog, run_fake_posthog
from tests.fakes.statsig import FakeStatsig, run_fake_statsig
from tests.server.conftest import (
    MODERN,
    TRANSPORTS,
    HttpServer,
    Received,
    open_client,
    server_env,
    start_http_server,
    unique,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:resources/subscribe is removed"),
]

VENDORS = ("posthog", "statsig")
POLL_INTERVAL = "0.3"
CACHE_TTL = "30"
"""Long enough that a repeated read is a cache hit, however slow the machine."""
NOTICE = 15.0
"""A generous bound on "within the poll interval" (the poll itself, then the vendor's answers)."""
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
LIST_CHANGED = "notifications/prompts/list_changed"

NATIVE_ARGUMENTS = {"topic": "tides", "audience": "kids"}
"""Values for the prompt each vendor writes natively (placeholders ``topic`` and ``audience``)."""

# Handshake eras and the 2026-07-28 era over stdio; over HTTP, one handshake era and the modern one.
CONNECTIONS = [
    ("2025-06-18", "stdio"),
    ("2025-11-25", "stdio"),
    (MODERN, "stdio"),
    ("2025-11-25", "http"),
    (MODERN, "http"),
]


# -- the vendors, as a user's environment and a vendor console see them ---------------------------------


class Vendor(ABC):
    kind: str
    display_name: str
    name_rule: str
    """The vendor's own name rule, as the error for a name it cannot store must quote it."""
    api_key: str
    native_description: str | None
    native_messages: ClassVar[list[tuple[str, str]]]
    """The MCP messages of the natively written prompt, rendered with ``NATIVE_ARGUMENTS``."""
    history_author: str | None = None
    """Who the vendor's own version history names as a version's author (``None``: promptshelf's actor)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @abstractmethod
    def environment(self, api_key: str | None = None) -> dict[str, str]:
        """The variables a user sets to point promptshelf at this vendor project (with its key, or
        ``api_key``)."""

    @abstractmethod
    async def create_natively(self, name: str) -> None:
        """Write a prompt with placeholders ``topic`` and ``audience``, the way the vendor's UI does."""

    @abstractmethod
    async def publish_natively(self, name: str, text: str) -> None:
        """Publish a second version of a natively written prompt whose only message is ``text``."""

    @abstractmethod
    async def promote_natively(self, name: str, version: int) -> None:
        """Make ``version`` (1 = oldest) the one the vendor serves in production, in its own terms."""

    @abstractmethod
    @contextmanager
    def failing(self) -> Iterator[None]:
        """Every request fails with a 5xx until the block ends."""


class PostHogVendor(Vendor):
    kind = "posthog"
    display_name = "PostHog"
    name_rule = "^[a-zA-Z0-9_-]+$"
    native_description = None  # PostHog prompts have no description
    native_messages: ClassVar[list[tuple[str, str]]] = [("user", "Summarize tides for kids.")]
    # PostHog's resolve names the user whose personal key wrote the version (the fake's user).
    history_author = "fake.user@example.com"

    def __init__(self, fake: FakePostHog, base_url: str) -> None:
        super().__init__(base_url)
        self.fake = fake
        self.api_key = fake.api_key

    def environment(self, api_key: str | None = None) -> dict[str, str]:
        return {
            "POSTHOG_HOST": self.base_url,
            "POSTHOG_PROJECT_ID": self.fake.project_id,
            "POSTHOG_PERSONAL_API_KEY": api_key or self.api_key,
        }

    def _api(self) -> httpx.AsyncClient:
        # The /api/projects/ alias, as older scripts use it; promptshelf uses /api/environments/.
        return httpx.AsyncClient(
            base_url=f"{self.base_url}/api/projects/{self.fake.project_id}/llm_prompts/",
            headers={"Authorization": f"Bearer {self.api_key}"},
        )

    async def create_natively(self, name: str) -> None:
        async with self._api() as api:
            answer = await api.post(
                "", json={"name": name, "prompt": "Summarize {{topic}} for {{ audience }}."}
            )
        assert answer.status_code == 201, answer.text

    async def publish_natively(self, name: str, text: str) -> None:
        async with self._api() as api:
            answer = await api.patch(f"name/{name}/", json={"prompt": text, "base_version": 1})
        assert answer.status_code == 200, answer.text

    async def promote_natively(self, name: str, version: int) -> None:
        async with self._api() as api:
            answer = await api.put(f"name/{name}/labels/production/", json={"version": version})
        assert answer.status_code in (200, 201), answer.text

    @contextmanager
    def failing(self) -> Iterator[None]:
        self.fake.outage = 502
        try:
            yield
        finally:
            self.fake.outage = None


class StatsigVendor(Vendor):
    kind = "statsig"
    display_name = "Statsig"
    name_rule = r"^[a-zA-Z0-9_\-. ]*$"
    native_description = "Written in the Statsig console"
    # A chat prompt, as Statsig keeps every prompt; MCP has no system role, so it comes first as a user one.
    native_messages: ClassVar[list[tuple[str, str]]] = [
        ("user", "You are terse."),
        ("user", "Summarize tides for kids."),
    ]

    def __init__(self, fake: FakeStatsig, base_url: str) -> None:
        super().__init__(base_url)
        self.fake = fake
        self.api_key = fake.api_key

    def environment(self, api_key: str | None = None) -> dict[str, str]:
        return {"STATSIG_API_URL": self.base_url, "STATSIG_CONSOLE_API_KEY": api_key or self.api_key}

    # Written as Statsig's console writes a prompt (the fake's ``console_*``: parameter store
    # ``prompt:{name}`` and one dynamic config per version, as Statsig's AI SDK reads them); the console's
    # own routes are not part of the published API.
    async def create_natively(self, name: str) -> None:
        self.fake.console_create_prompt(
            name,
            description=self.native_description or "",
            prompts=[
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Summarize {{topic}} for {{ audience }}."},
            ],
            model="gpt-4o-mini",
        )

    async def publish_natively(self, name: str, text: str) -> None:
        self.fake.console_publish(name, [{"role": "user", "content": text}])

    async def promote_natively(self, name: str, version: int) -> None:
        # Statsig serves the Live version: the console points the store's ``live`` at it.
        self.fake.console_promote(name, version)

    @contextmanager
    def failing(self) -> Iterator[None]:
        self.fake.down = True
        try:
            yield
        finally:
            self.fake.down = False


# -- servers pointed at the vendor ---------------------------------------------------------------------


@dataclass
class VendorServers:
    """Connections to promptshelf servers configured for ``vendor``, and the stderr each one wrote."""

    vendor: Vendor
    http: HttpServer
    tmp: Path
    logs: list[Path] = field(default_factory=list)

    def environment(self, cache_ttl: str, **extra: str) -> dict[str, str]:
        return server_env(
            **self.vendor.environment(),
            PROMPTSHELF_BACKEND=self.vendor.kind,
            PROMPTSHELF_CACHE_TTL=cache_ttl,
            PROMPTSHELF_POLL_INTERVAL=POLL_INTERVAL,
            **extra,
        )

    @asynccontextmanager
    async def connect(
        self,
        era: str,
        transport: str,
        *,
        received: Received | None = None,
        cache_ttl: str = CACHE_TTL,
        own_server: bool = False,
        default_label: str | None = None,
    ) -> AsyncIterator[Client]:
        """A client of a server for the vendor: stdio starts a process; HTTP uses the module's server,
        or (``own_server``, another ``cache_ttl`` or a ``default_label``) one started for this connection."""
        env = self.environment(cache_ttl, **({"PROMPTSHELF_LABEL": default_label} if default_label else {}))
        if transport == "stdio":
            log = self.tmp / f"stdio-{unique()}.log"
            self.logs.append(log)
            with log.open("w") as errlog:
                async with open_client(
                    era,
                    "stdio",
                    db=self.tmp / "unused.db",
                    args=("--poll-interval", POLL_INTERVAL),  # the conftest's default flag would win
                    env=env,
                    received=received,
                    errlog=errlog,
                ) as client:
                    yield client
        elif not (own_server or cache_ttl != CACHE_TTL or default_label is not None):
            async with open_client(era, "http", url=self.http.url, received=received) as client:
                yield client
        else:
            server = start_http_server(self.tmp / "unused.db", self.tmp, env=env)
            self.logs.append(server.log)
            try:
                async with open_client(era, "http", url=server.url, received=received) as client:
                    yield client
            finally:
                server.stop()

    def stderr(self) -> str:
        return "\n".join(log.read_text() for log in [self.http.log, *self.logs] if log.exists())


@pytest.fixture(scope="module", params=VENDORS)
def vendor(request: pytest.FixtureRequest) -> Iterator[Vendor]:
    if request.param == "posthog":
        # PostHog's per-key quotas (480 requests, 30 publishes a minute) are off: polling every 0.3 s from
        # several servers at once is this suite's choice, not a user's.
        posthog = FakePostHog(burst_limit=None, publish_limit=None)
        with run_fake_posthog(posthog) as url:
            yield PostHogVendor(posthog, url)
    else:
        # Statsig's quota (1,800 attempts per 15 minutes) is off: polling every 0.3 s from several
        # servers at once is this suite's choice, not a user's.
        statsig = FakeStatsig(quota=None, burst=None)
        with run_fake_statsig(statsig) as url:
            yield StatsigVendor(statsig, url)


@pytest.fixture(scope="module")
def vendor_http(vendor: Vendor, module_tmp: Path) -> Iterator[HttpServer]:
    env = server_env(
        **vendor.environment(),
        PROMPTSHELF_CACHE_TTL=CACHE_TTL,
        PROMPTSHELF_POLL_INTERVAL=POLL_INTERVAL,
    )
    server = start_http_server(module_tmp / "unused.db", module_tmp, "--backend", vendor.kind, env=env)
    yield server
    server.stop()


@pytest.fixture
def servers(vendor: Vendor, vendor_http: HttpServer, tmp_path: Path) -> VendorServers:
    return VendorServers(vendor, vendor_http, tmp_path)


# -- helpers --------------------------------------------------------------------------------------------


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    content: dict[str, Any] = result.structured_content
    return content


async def call_error(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    assert result.structured_content is not None
    error: dict[str, Any] = result.structured_content["error"]
    return error


def without_source(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "source"}


async def mcp_prompts(client: Client) -> dict[str, Any]:
    """Every MCP prompt, following ``prompts/list`` pages."""
    prompts: dict[str, Any] = {}
    cursor: str | None = None
    while True:
        page = await client.list_prompts(cursor=cursor) if cursor else await client.list_prompts()
        prompts.update({prompt.name: prompt for prompt in page.prompts})
        cursor = page.next_cursor
        if not cursor:
            return prompts


async def announced(client: Client, received: Received, name: str) -> None:
    """Wait for ``prompts/list_changed`` notifications until ``prompts/list`` shows ``name``.

    (An earlier notification may be about a change another test's server made at the vendor.)
    """
    with anyio.fail_after(NOTICE):
        while True:
            await received.wait_for(LIST_CHANGED, within=NOTICE)
            if name in await mcp_prompts(client):
                return
            received.messages = [m for m in received.messages if _method(m) != LIST_CHANGED]


def _method(message: Any) -> str:
    return str(getattr(getattr(message, "root", message), "method", ""))


def texts(result: Any) -> list[tuple[str, str]]:
    return [(message.role, message.content.text) for message in result.messages]


# -- the tools ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("era", "transport"), CONNECTIONS)
async def test_every_tool_works_against_the_vendor(servers: VendorServers, era: str, transport: str) -> None:
    name = unique("tools")
    async with servers.connect(era, transport) as client:
        created = await call(
            client,
            "create_prompt",
            name=name,
            template="Summarize {{text}} in {{lang}}.",
            description="Summaries",
            tags=["docs"],
            variables=[{"name": "lang", "description": "output language", "enum": ["en", "fr"]}],
            config={"model": "gpt-4o", "temperature": 0.2},
            commit_message="first",
        )
        assert created["version"] == 1 and created["template"] == "Summarize {{text}} in {{lang}}."
        assert created["config"] == {"model": "gpt-4o", "temperature": 0.2}
        assert created["description"] == "Summaries" and created["tags"] == ["docs"]

        # Reads go to the vendor once, then to the cache.
        first = await call(client, "get_prompt", name=name)
        again = await call(client, "get_prompt", name=name)
        assert (first["source"], again["source"]) == ("upstream", "cache")
        assert without_source(again) == without_source(first)
        assert [(v["name"], v.get("description"), v.get("enum")) for v in first["variables"]] == [
            ("lang", "output language", ["en", "fr"]),  # declared ...
            ("text", None, None),  # ... then undeclared placeholders, as with SQLite
        ]

        rendered = await call(
            client, "render_prompt", name=name, variables={"text": "the report", "lang": "fr"}
        )
        assert rendered["text"] == "Summarize the report in fr."
        refused = await call_error(client, "render_prompt", name=name, variables={"text": "x", "lang": "de"})
        assert refused["code"] == "invalid_argument"

        updated = await call(
            client,
            "update_prompt",
            name=name,
            base_version=1,
            template="Shorten {{text}} in {{lang}}.",
            commit_message="shorter",
        )
        assert updated["version"] == 2 and updated["template"] == "Shorten {{text}} in {{lang}}."
        assert (await call(client, "get_prompt", name=name))["version"] == 2  # the write refreshed the cache
        stale = await call_error(client, "update_prompt", name=name, base_version=1, template="lost")
        assert stale["code"] == "conflict" and stale["current_version"] == 2
        edited = await call(
            client, "update_prompt", name=name, base_version=2, edits=[{"old": "Shorten", "new": "Condense"}]
        )
        assert edited["version"] == 3 and edited["template"] == "Condense {{text}} in {{lang}}."

        moved = await call(client, "set_prompt_label", name=name, label="staging", version=1)
        assert moved == {"name": name, "label": "staging", "version": 1, "previous_version": None}
        staged = await call(client, "get_prompt", name=name, label="staging")
        assert staged["version"] == 1 and staged["template"] == "Summarize {{text}} in {{lang}}."
        assert (await call(client, "get_prompt", name=name, version=2))["commit_message"] == "shorter"

        history = await call(client, "list_prompt_versions", name=name)
        author = servers.vendor.history_author or "mcp"
        assert [
            (v["version"], v["labels"], v.get("commit_message"), v["created_by"]) for v in history["versions"]
        ] == [(3, [], None, author), (2, [], "shorter", author), (1, ["staging"], "first", author)]
        assert history["has_more"] is False
        older = await call(client, "list_prompt_versions", name=name, before_version=3, limit=1)
        assert [v["version"] for v in older["versions"]] == [2] and older["has_more"] is True

        diff = await call(client, "diff_prompt_versions", name=name, from_version=1)
        assert "-Summarize {{text}} in {{lang}}." in diff["unified_diff"]
        assert "+Condense {{text}} in {{lang}}." in diff["unified_diff"]

        listing = await call(client, "list_prompts", search=name)
        assert [(p["name"], p["latest_version"], p["labels"], p["tags"]) for p in listing["prompts"]] == [
            (name, 3, {"staging": 1}, ["docs"])
        ]
        removed = await call(client, "remove_prompt_label", name=name, label="staging")
        assert removed["previous_version"] == 1

        archived = await call(client, "archive_prompt", name=name)
        assert archived == {"name": name, "archived_versions": 3}
        assert (await call_error(client, "get_prompt", name=name))["code"] == "not_found"
        assert (await call(client, "list_prompts", search=name))["prompts"] == []


async def test_a_name_the_vendor_cannot_store_is_refused_quoting_its_rule(servers: VendorServers) -> None:
    async with servers.connect("2025-11-25", "http") as client:
        refused = await call_error(client, "create_prompt", name="team/x", template="t")
    assert refused["code"] == "invalid_argument" and refused["argument"] == "name"
    assert servers.vendor.display_name in refused["message"]
    assert servers.vendor.name_rule in refused["message"]


# -- MCP prompts and resources --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_prompt_written_at_the_vendor_is_an_mcp_prompt_and_resource(
    servers: VendorServers, transport: str
) -> None:
    vendor = servers.vendor
    name = unique("native")
    received = Received()
    async with servers.connect("2025-11-25", transport, received=received) as client:
        await client.list_prompts()
        await vendor.create_natively(name)
        await announced(client, received, name)

        prompt = (await mcp_prompts(client))[name]
        assert prompt.description == vendor.native_description
        assert [(a.name, a.required) for a in prompt.arguments or []] == [("topic", True), ("audience", True)]
        rendered = await client.get_prompt(name, NATIVE_ARGUMENTS)
        assert texts(rendered) == vendor.native_messages
        with pytest.raises(MCPError) as raised:
            await client.get_prompt(name, {"topic": "tides"})
        assert raised.value.error.code == INVALID_PARAMS and "audience" in raised.value.error.message

        resource = await client.read_resource(f"prompt://{name}")
        content = resource.contents[0]
        assert content.mime_type == "application/json"
        document = json.loads(content.text)  # type: ignore[union-attr]
        assert document["name"] == name and document["version"] == 1
        assert [v["name"] for v in document["variables"]] == ["topic", "audience"]
        assert without_source(document) == without_source(await call(client, "get_prompt", name=name))
        pinned = await client.read_resource(f"prompt://{name}/versions/1")
        assert json.loads(pinned.contents[0].text)["version"] == 1  # type: ignore[union-attr]
        listed = await client.list_resources()
        assert f"prompt://{name}" in [str(r.uri) for r in listed.resources] or listed.next_cursor


# -- change notifications -------------------------------------------------------------------------------


@pytest.mark.parametrize(("era", "transport"), [("2025-06-18", "stdio"), ("2025-11-25", "http")])
async def test_a_change_at_the_vendor_is_announced(servers: VendorServers, era: str, transport: str) -> None:
    name = unique("outside")
    received = Received()
    async with servers.connect(era, transport, received=received) as client:
        await client.list_prompts()
        await servers.vendor.create_natively(name)
        await announced(client, received, name)
        await received.wait_for("notifications/resources/list_changed", within=NOTICE)

        uri = f"prompt://{name}"
        await client.session.subscribe_resource(uri)  # type: ignore[attr-defined,unused-ignore]
        received.messages.clear()
        await servers.vendor.publish_natively(name, "Summarize {{topic}} briefly.")
        await received.wait_for(LIST_CHANGED, within=NOTICE)
        await received.wait_for("notifications/resources/updated", uri=uri, within=NOTICE)
        assert texts(await client.get_prompt(name, {"topic": "tides"})) == [
            ("user", "Summarize tides briefly.")
        ]


async def test_a_change_at_the_vendor_reaches_modern_listeners(servers: VendorServers) -> None:
    name = unique("listen")
    async with (
        servers.connect(MODERN, "http") as client,
        client.listen(prompts_list_changed=True) as subscription,
    ):
        await servers.vendor.create_natively(name)
        with anyio.fail_after(NOTICE):
            async for _ in subscription:
                if name in await mcp_prompts(client):
                    break
            else:
                raise AssertionError(f"the listen stream ended before {name} was listed")


# -- when the vendor fails ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_when_the_vendor_fails_reads_are_served_stale_and_writes_are_unavailable(
    servers: VendorServers, transport: str
) -> None:
    vendor = servers.vendor
    name = unique("down")
    # A cache TTL of 0: every read goes to the vendor, so only a failure makes the cache answer.
    async with servers.connect("2025-11-25", transport, cache_ttl="0") as client:
        await call(client, "create_prompt", name=name, template="Hello {{who}}")
        assert (await call(client, "get_prompt", name=name))["source"] == "upstream"
        with vendor.failing():
            served = await call(client, "get_prompt", name=name)
            rendered = await call(client, "render_prompt", name=name, variables={"who": "Ada"})
            as_mcp_prompt = await client.get_prompt(name, {"who": "Ada"})
            resource = await client.read_resource(f"prompt://{name}")
            update = await call_error(client, "update_prompt", name=name, base_version=1, template="Bye")
            create = await call_error(client, "create_prompt", name=unique("down"), template="x")
        assert served["source"] == "stale" and served["template"] == "Hello {{who}}"
        assert rendered["source"] == "stale" and rendered["text"] == "Hello Ada"
        assert texts(as_mcp_prompt) == [("user", "Hello Ada")]
        assert json.loads(resource.contents[0].text)["source"] == "stale"  # type: ignore[union-attr]
        for error in (update, create):
            assert error["code"] == "unavailable" and vendor.display_name in error["message"]
            assert vendor.api_key not in error["message"]
        assert (await call(client, "get_prompt", name=name))["source"] == "upstream"
    stderr = servers.stderr()
    assert "stale" in stderr  # the server said what it did ...
    assert vendor.api_key not in stderr  # ... and never with the key


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_started_while_the_vendor_fails_serves_once_it_is_back(
    servers: VendorServers, transport: str
) -> None:
    vendor = servers.vendor
    name, later = unique("early"), unique("later")
    await vendor.create_natively(name)
    received = Received()
    with ExitStack() as outage:
        outage.enter_context(vendor.failing())
        async with servers.connect("2025-11-25", transport, received=received, own_server=True) as client:
            refused = await call_error(client, "get_prompt", name=name)
            assert refused["code"] == "unavailable" and vendor.display_name in refused["message"]
            # Outside tools, an upstream failure is a JSON-RPC internal error carrying the same
            # structured error (not -32602, which would say the prompt does not exist).
            for request in (
                client.get_prompt(name, NATIVE_ARGUMENTS),
                client.read_resource(f"prompt://{name}"),
                client.list_prompts(),
            ):
                with pytest.raises(MCPError) as raised:
                    await request
                assert raised.value.error.code == INTERNAL_ERROR
                assert raised.value.error.data["code"] == "unavailable"
                assert vendor.display_name in raised.value.error.message
            outage.close()

            assert (await call(client, "get_prompt", name=name))["version"] == 1
            # Watching for changes resumed too.
            await vendor.create_natively(later)
            await announced(client, received, later)
    assert vendor.api_key not in servers.stderr()


async def test_a_wrong_key_stops_the_server_with_a_clear_message_that_does_not_repeat_it(
    servers: VendorServers,
) -> None:
    vendor = servers.vendor
    wrong = vendor.api_key[:-4] + "oops"
    env = server_env(**vendor.environment(api_key=wrong), PROMPTSHELF_BACKEND=vendor.kind)
    result = await anyio.run_process(
        [sys.executable, "-m", "promptshelf", "serve"], env=env, check=False, stdin=subprocess.DEVNULL
    )
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert vendor.display_name in stderr and "key" in stderr
    assert wrong not in stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_serving_production_follows_promotions_made_at_the_vendor(
    servers: VendorServers, transport: str
) -> None:
    vendor = servers.vendor
    name = unique("promoted")
    await vendor.create_natively(name)
    await vendor.publish_natively(name, "Summarize {{topic}} briefly.")
    await vendor.promote_natively(name, 1)
    received = Received()
    async with servers.connect(
        "2025-11-25", transport, received=received, default_label="production"
    ) as client:
        assert texts(await client.get_prompt(name, NATIVE_ARGUMENTS)) == vendor.native_messages
        served = json.loads((await client.read_resource(f"prompt://{name}")).contents[0].text)  # type: ignore[union-attr]
        assert served["version"] == 1 and "production" in served["labels"]

        await vendor.promote_natively(name, 2)
        await received.wait_for(LIST_CHANGED, within=NOTICE)
        assert texts(await client.get_prompt(name, {"topic": "tides"})) == [
            ("user", "Summarize tides briefly.")
        ]

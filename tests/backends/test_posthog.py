"""The PostHog backend over real HTTP against the fake PostHog: mapping, interop, older servers, faults.

The contract suite (``test_contract.py``) covers the Store semantics; this file covers what is PostHog's
own: how prompts look to PostHog's SDK and to plain API callers, what an older server refuses, and how
failures of the vendor reach users.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from posthog.ai.prompts import Prompts

from promptshelf.backends.cache import CachingStore
from promptshelf.backends.posthog import PostHogStore, open_posthog_store
from promptshelf.backends.posthog_api import PostHogApi
from promptshelf.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArgumentError,
    NotFoundError,
    PromptshelfError,
    UnavailableError,
)
from promptshelf.model import Message, PromptMeta, PromptQuery, Variable, VersionDraft
from promptshelf.service import PromptService
from promptshelf.settings import Settings
from tests.fakes.posthog import FakePostHog, run_fake_posthog
from tests.support.posthog_store import open_posthog

pytestmark = pytest.mark.anyio

Env = tuple[CachingStore, FakePostHog]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with open_posthog() as opened:
        yield opened


def text(template: str, **fields: Any) -> VersionDraft:
    return VersionDraft(type="text", template=template, **fields)


def raw_client(fake: FakePostHog, base: str) -> httpx.AsyncClient:
    """A plain API caller, as a team's own scripts or the PostHog UI would be."""
    return httpx.AsyncClient(
        base_url=f"{base}/api/projects/{fake.project_id}/llm_prompts/",
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )


def base_url(store: CachingStore) -> str:
    inner = store.inner
    assert isinstance(inner, PostHogStore)
    return inner.api.http.base_url.split("/api/")[0]


# -- what PostHog (and its SDK) sees ------------------------------------------------------------------


async def test_text_prompt_is_a_plain_string_that_posthog_python_fetches_and_compiles(env: Env) -> None:
    store, fake = env
    await store.create_prompt(
        "support-reply",
        PromptMeta(description="Replies to tickets", tags=["support"]),
        text(
            "Hello {{customer}}, about {{topic}}",
            variables=[Variable(name="customer", description="their first name")],
            config={"model": "gpt-4o", "temperature": 0.2},
            commit_message="first draft",
            created_by="ada",
        ),
    )
    prompts = Prompts(personal_api_key=fake.api_key, project_api_key=fake.project_token, host=base_url(store))
    result = await anyio.to_thread.run_sync(lambda: prompts.get("support-reply", with_metadata=True))
    assert result.source == "api" and result.version == 1
    assert result.prompt == "Hello {{customer}}, about {{topic}}"
    assert (
        prompts.compile(result.prompt, {"customer": "Ada", "topic": "billing"}) == "Hello Ada, about billing"
    )
    assert result.config is not None and result.config["model"] == "gpt-4o"
    # What PostHog cannot hold natively rides in one reserved config key, read back intact.
    assert result.config["_promptshelf"]["description"] == "Replies to tickets"
    back = await store.get_version("support-reply")
    assert back.config == {"model": "gpt-4o", "temperature": 0.2}
    assert back.variables == [Variable(name="customer", description="their first name")]
    assert (back.description, back.tags, back.commit_message, back.created_by) == (
        "Replies to tickets",
        ["support"],
        "first draft",
        "ada",
    )


async def test_chat_prompt_is_a_json_message_list_for_the_sdk(env: Env) -> None:
    store, fake = env
    messages = [Message(role="system", content="You are {{persona}}"), Message(role="user", content="Hi")]
    await store.create_prompt("chatty", PromptMeta(), VersionDraft(type="chat", messages=messages))
    prompts = Prompts(personal_api_key=fake.api_key, project_api_key=fake.project_token, host=base_url(store))
    fetched = await anyio.to_thread.run_sync(lambda: prompts.get("chatty", with_metadata=True))
    assert json.loads(fetched.prompt) == [m.model_dump() for m in messages]
    # No promptshelf-only data to keep: config stays exactly what the caller gave (nothing).
    assert fetched.config in ({}, None)
    assert (await store.get_version("chatty")).messages == messages


async def test_prompt_created_with_plain_api_calls_is_served_with_its_variables(env: Env) -> None:
    store, fake = env
    async with raw_client(fake, base_url(store)) as raw:
        created = await raw.post(
            "", json={"name": "from-ui", "prompt": "Summarise {{document}} for {{ audience }}"}
        )
        assert created.status_code == 201
        patched = await raw.patch(
            "name/from-ui/", json={"prompt": "Summarise {{document}} briefly", "base_version": 1}
        )
        assert patched.status_code == 200
    service = PromptService(store)
    document = await service.get_prompt("from-ui")
    assert document.version == 2 and document.type == "text"
    assert [v.name for v in document.variables] == ["document"]
    rendered = await service.render_prompt("from-ui", {"document": "the memo"})
    assert rendered.text == "Summarise the memo briefly"
    listing = await store.list_prompts(PromptQuery())
    assert listing.prompts[0].variables == ["document"]
    history = await store.list_versions("from-ui", before_version=None, limit=10)
    assert [v.version for v in history.versions] == [2, 1]
    assert history.versions[0].created_by == "fake.user@example.com"


# -- PostHog's rules ---------------------------------------------------------------------------------


async def test_names_posthog_cannot_hold_are_refused_before_any_request(env: Env) -> None:
    store, fake = env
    before = len(fake.requests)
    for name in ("team/summarize", "v1.2", "new", "NEW"):
        with pytest.raises(InvalidArgumentError) as caught:
            await store.create_prompt(name, PromptMeta(), text("x"))
        assert "PostHog" in caught.value.message
    assert "reserves the prompt name 'new'" in caught.value.message
    with pytest.raises(InvalidArgumentError, match=r"\^\[a-zA-Z0-9_-\]\+\$"):
        await store.get_version("team/summarize")
    assert len(fake.requests) == before


async def test_stale_base_version_is_a_conflict_carrying_current_version(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("one"))
    await store.publish_version("p", 1, text("two"))
    with pytest.raises(ConflictError) as caught:
        await store.publish_version("p", 1, text("lost update"))
    assert caught.value.current_version == 2
    with pytest.raises(ConflictError) as duplicate:
        await store.create_prompt("p", PromptMeta(), text("again"))
    assert duplicate.value.current_version == 2
    assert [r["version"] for r in fake.rows if r["name"] == "p"] == [1, 2]


async def test_race_between_check_and_publish_is_caught_by_posthogs_409(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("one"))
    inner = store.inner
    assert isinstance(inner, PostHogStore)
    # Another writer publishes between our read of the latest version and our PATCH.
    async with raw_client(fake, base_url(store)) as raw:
        original_resolve = inner.api.resolve

        async def read_then_race(name: str, **kwargs: Any) -> dict[str, Any]:
            answer = await original_resolve(name, **kwargs)
            await raw.patch("name/p/", json={"prompt": "theirs", "base_version": 1})
            return answer

        inner.api.resolve = read_then_race  # type: ignore[method-assign]
        with pytest.raises(ConflictError) as caught:
            await store.publish_version("p", 1, text("mine"))
    assert caught.value.current_version == 2


async def test_version_limit_is_a_clear_invalid_argument() -> None:
    async with open_posthog(FakePostHog(max_versions=2, publish_limit=None)) as (store, _):
        await store.create_prompt("p", PromptMeta(), text("1"))
        await store.publish_version("p", 1, text("2"))
        with pytest.raises(InvalidArgumentError, match="maximum of 2 versions"):
            await store.publish_version("p", 2, text("3"))


async def test_archive_frees_the_name_and_restarts_at_version_one(env: Env) -> None:
    store, _ = env
    await store.create_prompt("p", PromptMeta(), text("old 1"))
    await store.publish_version("p", 1, text("old 2"))
    assert (await store.get_version("p", version=1)).template == "old 1"
    assert await store.archive_prompt("p") == 2
    with pytest.raises(NotFoundError):
        await store.get_version("p")
    with pytest.raises(NotFoundError):
        await store.archive_prompt("p")
    await store.create_prompt("p", PromptMeta(), text("new 1"))
    assert (await store.get_version("p", version=1)).template == "new 1"
    with pytest.raises(InvalidArgumentError, match="archived"):
        await store.list_prompts(PromptQuery(include_archived=True))


async def test_listing_follows_pagination_links_and_sorts_by_name(env: Env) -> None:
    store, fake = env
    for index in range(130):
        fake.seed(f"p{index:03d}", "x")
    before = fake.count("GET", "llm_prompts/")
    page = await store.list_prompts(PromptQuery(limit=200))
    assert [p.name for p in page.prompts] == [f"p{index:03d}" for index in range(130)]
    # 130 prompts are two of the vendor's pages of 100: the listing followed the "next" link once.
    assert fake.count("GET", "llm_prompts/") - before == 2
    first = await store.list_prompts(PromptQuery(limit=50))
    second = await store.list_prompts(PromptQuery(limit=50, after=first.next_cursor))
    assert second.prompts[0].name == "p050"


async def test_history_pages_with_labels_and_commit_messages(env: Env) -> None:
    store, _ = env
    await store.create_prompt("p", PromptMeta(), text("1", commit_message="c1"))
    for base in range(1, 5):
        await store.publish_version("p", base, text(str(base + 1), commit_message=f"c{base + 1}"))
    await store.set_label("p", "production", 3)
    first = await store.list_versions("p", before_version=None, limit=2)
    assert [v.version for v in first.versions] == [5, 4] and first.has_more
    rest = await store.list_versions("p", before_version=4, limit=10)
    assert [(v.version, v.commit_message, v.labels) for v in rest.versions] == [
        (3, "c3", ["production"]),
        (2, "c2", []),
        (1, "c1", []),
    ]
    assert not rest.has_more


async def test_publish_carries_description_and_tags_forward(env: Env) -> None:
    store, _ = env
    await store.create_prompt("p", PromptMeta(description="d", tags=["t"]), text("1"))
    second = await store.publish_version("p", 1, text("2"))
    assert (second.description, second.tags) == ("d", ["t"])
    third = await store.publish_version("p", 2, text("3"), PromptMeta(description="new", tags=[]))
    assert (third.description, third.tags) == ("new", [])
    old = await store.get_version("p", version=1)
    assert (old.description, old.tags) == ("new", [])


async def test_reserved_config_key_is_refused(env: Env) -> None:
    store, _ = env
    with pytest.raises(InvalidArgumentError, match="reserved"):
        await store.create_prompt("p", PromptMeta(), text("x", config={"_promptshelf": {}}))


# -- older servers -----------------------------------------------------------------------------------


async def test_older_server_refuses_what_it_would_drop_and_leaves_nothing_behind() -> None:
    async with open_posthog(FakePostHog(legacy=True, publish_limit=None)) as (store, fake):
        # Empty project: the server's generation shows only in its answer; the create is undone.
        with pytest.raises(InvalidArgumentError, match="older"):
            await store.create_prompt("p", PromptMeta(description="d"), text("x", commit_message="why"))
        assert not [r for r in fake.rows if not r["deleted"]]
        plain = await store.create_prompt("p", PromptMeta(), text("Hi {{name}}", created_by="ada"))
        assert plain.template == "Hi {{name}}"
        posts = fake.count("POST")
        # Now known to be older: refused before any request.
        with pytest.raises(InvalidArgumentError, match="older"):
            await store.publish_version("p", 1, text("y", config={"model": "m"}))
        with pytest.raises(InvalidArgumentError, match="labels"):
            await store.set_label("p", "production", 1)
        with pytest.raises(InvalidArgumentError, match="label"):
            await store.get_version("p", label="production")
        assert fake.count("POST") == posts
        assert [r["version"] for r in fake.rows if r["name"] == "p" and not r["deleted"]] == [1]


async def test_edits_on_newer_and_older_servers() -> None:
    for legacy in (False, True):
        fake = FakePostHog(legacy=legacy, publish_limit=None)
        async with open_posthog(fake) as (store, _):
            inner = store.inner
            assert isinstance(inner, PostHogStore)
            await store.create_prompt("p", PromptMeta(), text("Hello world"))
            api: PostHogApi = inner.api
            if legacy:
                with pytest.raises(InvalidArgumentError, match="does not support edits"):
                    await api.publish("p", 1, edits=[{"old": "world", "new": "there"}])
                continue
            edited = await api.publish("p", 1, edits=[{"old": "world", "new": "there"}])
            assert edited["prompt"] == "Hello there"
            with pytest.raises(InvalidArgumentError) as caught:
                await api.publish("p", 2, edits=[{"old": "Hello", "new": "Hi"}, {"old": "nope", "new": "x"}])
            assert caught.value.details["edit_index"] == 1


async def test_web_only_endpoints_are_reported_as_forbidden_and_not_retried() -> None:
    async with open_posthog(FakePostHog(web_only=True, publish_limit=None)) as (store, fake):
        await store.create_prompt("p", PromptMeta(), text("x"))
        with pytest.raises(ForbiddenError, match="web app") as caught:
            await store.publish_version("p", 1, text("y"))
        assert "PATCH" in caught.value.message
        assert fake.count("PATCH") == 1


async def test_missing_scope_and_wrong_key_are_forbidden() -> None:
    fake = FakePostHog(scopes={"llm_prompt:read"})
    with run_fake_posthog(fake) as url:
        store = await PostHogStore.connect(host=url, project_id=fake.project_id, api_key=fake.api_key)
        with pytest.raises(ForbiddenError, match="llm_prompt:write"):
            await store.create_prompt("p", PromptMeta(), text("x"))
        await store.aclose()
        with pytest.raises(ForbiddenError, match="POSTHOG_PERSONAL_API_KEY"):
            await PostHogStore.connect(host=url, project_id=fake.project_id, api_key="phx_wrong")


async def test_open_posthog_store_reads_settings_and_needs_credentials() -> None:
    with pytest.raises(InvalidArgumentError, match="POSTHOG_PROJECT_ID"):
        await open_posthog_store(Settings(backend="posthog"))
    fake = FakePostHog()
    with run_fake_posthog(fake) as url:
        settings = Settings.model_validate(
            {
                "backend": "posthog",
                "POSTHOG_HOST": url,
                "POSTHOG_PROJECT_ID": fake.project_id,
                "POSTHOG_PERSONAL_API_KEY": fake.api_key,
                "cache_ttl": 5,
            }
        )
        store = await open_posthog_store(settings)
        assert isinstance(store, CachingStore) and store.ttl == 5 and store.kind == "posthog"
        await store.aclose()


async def test_polling_sees_changes_made_elsewhere(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("1"))
    await store.create_prompt("q", PromptMeta(), text("1"))
    token = (await store.poll_changes(None)).token
    assert (await store.get_version("p")).template == "1"
    async with raw_client(fake, base_url(store)) as raw:
        await raw.patch("name/p/", json={"prompt": "2 from elsewhere", "base_version": 1})
    changes = await store.poll_changes(token)
    assert changes.names == frozenset({"p"})
    assert (await store.get_version("p")).template == "2 from elsewhere"
    await store.set_label("q", "production", 1)
    assert (await store.poll_changes(changes.token)).names == frozenset({"q"})
    assert (await store.poll_changes("unknown-token")).names is None


# -- faults ------------------------------------------------------------------------------------------


async def test_reads_are_served_stale_through_500s_429s_and_timeouts() -> None:
    fake = FakePostHog(publish_limit=None)
    async with open_posthog(fake, ttl=0, timeout=0.1, max_retries=1) as (store, _):
        store.stale_while_revalidate = 0
        await store.create_prompt("p", PromptMeta(), text("cached"))
        assert (await store.get_version("p")).source == "upstream"
        for fault in ("500", "429", "timeout"):
            fake.outage = 500 if fault == "500" else None
            if fault == "429":
                fake.throttle_next(2, retry_after=0)
            fake.latency = 0.3 if fault == "timeout" else 0.0
            served = await store.get_version("p")
            assert (served.source, served.template) == ("stale", "cached"), fault
        fake.latency, fake.outage = 0.0, None
        assert (await store.get_version("p")).source == "upstream"


async def test_a_throttled_read_is_retried_after_retry_after(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("x"))
    fake.throttle_next(1, retry_after=0)
    seen = len(fake.requests)
    assert (await store.get_version("p", version=1)).template == "x"
    # The same read twice: refused with 429, then answered.
    answered = [(r.method, r.path, r.status) for r in fake.requests[seen:]]
    assert [status for *_, status in answered] == [429, 200]
    assert answered[0][:2] == answered[1][:2]


async def test_write_failures_are_clear_and_never_applied_twice(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("1"))

    def versions() -> list[int]:
        return [r["version"] for r in fake.rows if r["name"] == "p" and not r["deleted"]]

    # A 500 on the publish: not retried; checked afterwards, reported as not applied.
    fake.outage = None
    fake.fail_next(1, 500, method="PATCH")
    patches = fake.count("PATCH")
    with pytest.raises(UnavailableError) as caught:
        await store.publish_version("p", 1, text("2"))
    assert "not applied" in caught.value.message
    assert fake.count("PATCH") - patches == 1 and versions() == [1]
    # The connection drops after PostHog applied it: recognised as applied, not sent again.
    fake.drop_next(1, after_apply=True, method="PATCH")
    published = await store.publish_version("p", 1, text("2"))
    assert published.version == 2 and versions() == [1, 2]
    # Dropped before it ran: reported unavailable, nothing written.
    fake.drop_next(1, method="PATCH")
    with pytest.raises(UnavailableError):
        await store.publish_version("p", 2, text("3"))
    assert versions() == [1, 2]
    # Throttled create: PostHog did not run it, so it is retried and lands once.
    fake.throttle_next(1, retry_after=0, method="POST")
    await store.create_prompt("q", PromptMeta(), text("q"))
    assert [r["version"] for r in fake.rows if r["name"] == "q"] == [1]
    # A conflict stays a conflict (not an outage) even when PostHog is slow.
    with pytest.raises(ConflictError):
        await store.publish_version("p", 1, text("stale base"))


async def test_a_dropped_create_that_landed_is_recognised(env: Env) -> None:
    store, fake = env
    fake.drop_next(1, after_apply=True, method="POST")
    created = await store.create_prompt("p", PromptMeta(description="d"), text("x"))
    assert created.version == 1 and created.description == "d"
    assert len([r for r in fake.rows if r["name"] == "p"]) == 1


async def test_write_during_an_outage_is_unavailable_and_says_so(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("1"))
    fake.outage = 503
    with pytest.raises(UnavailableError) as caught:
        await store.publish_version("p", 1, text("2"))
    assert "PostHog" in caught.value.message and "503" in caught.value.message
    with pytest.raises(UnavailableError):
        await store.archive_prompt("p")
    fake.outage = None
    assert [r["version"] for r in fake.rows if r["name"] == "p"] == [1]


async def test_the_api_key_never_reaches_a_log_line_or_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakePostHog(publish_limit=None)
    errors: list[PromptshelfError] = []
    async with open_posthog(fake, ttl=0, timeout=0.1, max_retries=1) as (store, _):
        store.stale_while_revalidate = 0
        await store.create_prompt("p", PromptMeta(), text("x"))
        await store.get_version("p")
        scenarios: list[tuple[str, Any]] = [
            ("outage", 500),
            ("throttle", None),
            ("latency", 0.3),
            ("drop", None),
        ]
        for kind, value in scenarios:
            fake.outage = value if kind == "outage" else None
            fake.latency = value if kind == "latency" else 0.0
            if kind == "throttle":
                fake.throttle_next(5, retry_after=3600)
            if kind == "drop":
                fake.drop_next(5)
            attempts: list[Callable[[], Awaitable[object]]] = [
                lambda: store.get_version("nope"),
                lambda: store.publish_version("p", 1, text("y")),
                lambda: store.create_prompt("q", PromptMeta(), text("q")),
            ]
            for attempt in attempts:
                try:
                    await attempt()
                except PromptshelfError as failed:
                    errors.append(failed)
    wrong = FakePostHog(api_key="phx_someone_else")
    with run_fake_posthog(wrong) as url:
        try:
            await PostHogStore.connect(host=url, project_id=wrong.project_id, api_key=fake.api_key)
        except PromptshelfError as refused:
            errors.append(refused)
    assert len(errors) >= 10
    assert {type(e) for e in errors} >= {UnavailableError, ForbiddenError}
    for error in errors:
        assert fake.api_key not in f"{error} {error.to_dict()} {error.__cause__}"
    assert caplog.records and fake.api_key not in caplog.text
    assert "Bearer" not in caplog.text


# -- labels, history and commit messages as PostHog keeps them (vendor-audit.md P1-P7) ---------------


def inner_of(store: CachingStore) -> PostHogStore:
    inner = store.inner
    assert isinstance(inner, PostHogStore)
    return inner


def sent_since(fake: FakePostHog, start: int) -> list[tuple[str, str]]:
    """(method, path after ``llm_prompts/``) of every request since ``start``."""
    return [(r.method, r.path.split("/llm_prompts/")[1]) for r in fake.requests[start:]]


async def test_labels_move_through_put_and_delete_and_report_where_they_were(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("1"))
    await store.publish_version("p", 1, text("2"))
    start = len(fake.requests)
    assert await store.set_label("p", "production", 1) is None
    assert await store.set_label("p", "production", 2) == 1
    assert await store.set_label("p", "production", 2) == 2
    assert fake.label_versions("p") == {"production": 2}
    assert await store.remove_label("p", "production") == 2
    assert fake.label_versions("p") == {}
    with pytest.raises(NotFoundError, match="no label 'production'"):
        await store.remove_label("p", "production")
    writes = [(m, path) for m, path in sent_since(fake, start) if m != "GET"]
    assert writes == [("PUT", "name/p/labels/production/")] * 3 + [("DELETE", "name/p/labels/production/")]
    with pytest.raises(NotFoundError):
        await store.set_label("p", "staging", 7)


async def test_labels_of_a_write_are_set_with_their_own_calls_after_it(env: Env) -> None:
    store, fake = env
    created = await store.create_prompt("p", PromptMeta(), text("1", labels=["production", "staging"]))
    assert created.labels == ["production", "staging"]
    assert fake.label_versions("p") == {"production": 1, "staging": 1}
    published = await store.publish_version("p", 1, text("2", labels=["production"]))
    assert published.labels == ["production"]
    assert fake.label_versions("p") == {"production": 2, "staging": 1}
    assert (await store.get_version("p", label="staging")).version == 1
    # No create or publish body carried labels (the contract check at close would fail otherwise).
    assert [m for m, path in sent_since(fake, 0) if path.endswith("/labels/production/")] == ["PUT", "PUT"]


async def test_a_label_that_fails_after_the_write_is_reported_with_the_version_that_exists(env: Env) -> None:
    store, fake = env
    fake.fail_next(5, 503, method="PUT")  # every attempt at the first label
    with pytest.raises(UnavailableError) as caught:
        await store.create_prompt("p", PromptMeta(), text("1", labels=["production", "staging"]))
    message = caught.value.message
    assert "version 1 of 'p' was created" in message and "production" in message and "staging set" in message
    assert caught.value.details["labels_failed"] == ["production"]
    assert caught.value.details["labels_set"] == ["staging"]
    assert (await store.get_version("p")).version == 1  # the version is there, nothing lost
    assert fake.label_versions("p") == {"staging": 1}
    fake.fail_next(5, 503, method="PUT")
    with pytest.raises(UnavailableError, match="version 2 of 'p' was published") as again:
        await store.publish_version("p", 1, text("2", labels=["production"]))
    assert again.value.details["version"] == 2


async def test_posthogs_label_rule_and_cap_are_refused_before_any_request(env: Env) -> None:
    store, fake = env
    await store.create_prompt("p", PromptMeta(), text("1"))
    start = len(fake.requests)
    for label in ("42", "prod.", "prod-", "latest"):
        with pytest.raises(InvalidArgumentError, match="PostHog's rule") as caught:
            await store.set_label("p", label, 1)
        assert "not numbers only" in caught.value.message and "128" in caught.value.message
        with pytest.raises(InvalidArgumentError, match="PostHog's rule"):
            await store.publish_version("p", 1, text("2", labels=[label]))
        if label != "latest":  # reading by 'latest' means the newest version
            with pytest.raises(InvalidArgumentError, match="PostHog's rule"):
                await store.get_version("p", label=label)
    with pytest.raises(InvalidArgumentError, match="at most 50 labels"):
        await store.create_prompt("q", PromptMeta(), text("1", labels=[f"l{i}" for i in range(51)]))
    assert len(fake.requests) == start
    for index in range(50):
        await store.set_label("p", f"l{index}", 1)
    before_puts = fake.count("PUT")
    with pytest.raises(InvalidArgumentError, match="at most 50 labels"):
        await store.set_label("p", "one-too-many", 1)
    with pytest.raises(InvalidArgumentError, match="at most 50 labels"):
        await store.publish_version("p", 1, text("2", labels=["one-too-many"]))
    assert fake.count("PUT") == before_puts and fake.count("PATCH") == 0
    assert await store.set_label("p", "l0", 1) == 1  # moving an existing label is still allowed


async def test_a_get_by_name_never_makes_a_current_server_look_older(env: Env) -> None:
    store, _ = env
    inner = inner_of(store)
    await store.create_prompt("p", PromptMeta(), text("1"))
    await store.set_label("p", "production", 1)
    await inner.api.get("p")  # LLMPromptPublicApi: no version_description, no labels
    await inner.api.get("p", version=1)
    published = await store.publish_version("p", 1, text("2", commit_message="why"))
    assert published.commit_message == "why"
    assert (await store.get_version("p", label="production")).version == 1
    await inner.api.get("p")
    created = await store.create_prompt(
        "q", PromptMeta(), text("1", commit_message="init", labels=["staging"])
    )
    assert (created.commit_message, created.labels) == ("init", ["staging"])


async def test_reads_carry_commit_messages_and_labels_from_resolve(env: Env) -> None:
    store, _ = env
    await store.create_prompt("p", PromptMeta(description="d"), text("1", commit_message="first"))
    await store.publish_version("p", 1, text("2", commit_message="second", labels=["production"]))
    await store.set_label("p", "staging", 1)
    old = await store.get_version("p", version=1)
    assert (old.commit_message, old.labels, old.description) == ("first", ["staging"], "d")
    latest = await store.get_version("p")
    assert (latest.commit_message, latest.labels) == ("second", ["production"])
    by_label = await store.get_version("p", label="staging")
    assert (by_label.version, by_label.commit_message, by_label.description) == (1, "first", "d")
    summary = await store.get_summary("p")
    assert summary.labels == {"production": 2, "staging": 1}


async def test_request_counts_of_a_label_move_a_publish_and_a_history_page(env: Env) -> None:
    """What each operation costs against PostHog: one read then one write, and one request per page."""
    store, fake = env
    inner = inner_of(store)  # no cache in front: every request counted
    await inner.create_prompt("p", PromptMeta(), text("1", commit_message="c1"))
    for base in range(1, 60):
        await inner.publish_version("p", base, text(str(base + 1), commit_message=f"c{base + 1}"))
    await inner.set_label("p", "production", 3)

    start = len(fake.requests)
    assert await inner.set_label("p", "production", 4) == 3
    assert sent_since(fake, start) == [("GET", "resolve/name/p/"), ("PUT", "name/p/labels/production/")]

    start = len(fake.requests)
    await inner.publish_version("p", 60, text("61", commit_message="with a message"))
    assert sent_since(fake, start) == [("GET", "resolve/name/p/"), ("PATCH", "name/p/")]

    start = len(fake.requests)
    page = await inner.list_versions("p", before_version=None, limit=50)
    assert len(page.versions) == 50 and page.has_more
    assert sent_since(fake, start) == [("GET", "resolve/name/p/")]
    rest = await inner.list_versions("p", before_version=page.versions[-1].version, limit=50)
    assert [v.version for v in rest.versions][-1] == 1 and not rest.has_more
    assert sent_since(fake, start) == [("GET", "resolve/name/p/")] * 2
    four = next(v for v in page.versions + rest.versions if v.version == 4)
    assert (four.labels, four.commit_message, four.created_by) == (
        ["production"],
        "c4",
        "fake.user@example.com",
    )


async def test_a_name_shaped_like_a_version_id_never_reads_another_prompt(env: Env) -> None:
    store, fake = env
    inner = inner_of(store)
    await store.create_prompt("other", PromptMeta(), text("other content"))
    version_id = next(r["id"] for r in fake.rows if r["name"] == "other")
    # PostHog's name route answers a version id with that version's prompt; promptshelf must not take it.
    with pytest.raises(NotFoundError, match="no prompt named"):
        await inner.api.get(version_id)
    with pytest.raises(NotFoundError):
        await store.get_version(version_id)
    with pytest.raises(NotFoundError):
        await store.archive_prompt(version_id)
    with pytest.raises(NotFoundError):
        await store.publish_version(version_id, 1, text("hijack"))
    assert [(r["version"], r["deleted"]) for r in fake.rows if r["name"] == "other"] == [(1, False)]


async def test_a_config_only_publish_carries_the_prompt_forward(env: Env) -> None:
    store, _ = env
    await store.create_prompt("p", PromptMeta(), text("Hello {{name}}", config={"temperature": 0.2}))
    api = inner_of(store).api
    obj = await api.publish("p", 1, config={"temperature": 0.9})
    assert (obj["version"], obj["prompt"], obj["config"]) == (2, "Hello {{name}}", {"temperature": 0.9})
    with pytest.raises(InvalidArgumentError, match="needs a prompt, edits or a config"):
        await api.publish("p", 2)


async def test_what_posthogs_sdk_cannot_render_is_written_compilable_or_said(env: Env) -> None:
    store, fake = env
    service = PromptService(store)
    await service.create_prompt("footer", template="Thanks, {{team}}")
    created = await service.create_prompt("letter", template="Dear {{ name }}, about {{topic}}.")
    assert created.template == "Dear {{name}}, about {{topic}}."
    assert len(created.warnings) == 1 and "{{name}}" in created.warnings[0]
    assert next(r["prompt"] for r in fake.rows if r["name"] == "letter") == "Dear {{name}}, about {{topic}}."
    updated = await service.update_prompt("letter", base_version=1, template="Dear {{name}}.\n{{> footer}}")
    assert any(
        "{{> footer}}" in warning and "does not expand includes" in warning for warning in updated.warnings
    )
    defaulted = await service.update_prompt(
        "letter",
        base_version=2,
        template="Dear {{name}}.",
        variables=[Variable(name="name", default="friend")],
    )
    assert defaulted.warnings and "{{name}}" in defaulted.warnings[0] and "default" in defaulted.warnings[0]
    plain = await service.update_prompt("letter", base_version=3, template="Dear {{name}}.", variables=[])
    assert plain.warnings == []
    assert (await service.get_prompt("letter")).warnings == []


async def test_posthog_python_reads_by_name_and_label_what_promptshelf_wrote_and_compiles_it_alike(
    env: Env,
) -> None:
    store, fake = env
    service = PromptService(store)
    await service.create_prompt(
        "welcome", template="Hi {{ name }}, welcome to {{place}}!", commit_message="v1"
    )
    await service.update_prompt("welcome", base_version=1, template="Hello {{name}} from {{place}}.")
    await service.set_label("welcome", "staging", 1)
    prompts = Prompts(personal_api_key=fake.api_key, project_api_key=fake.project_token, host=base_url(store))
    variables = {"name": "Ada", "place": "Lovelace Hall"}
    for label, version in ((None, 2), ("staging", 1)):
        fetched = await anyio.to_thread.run_sync(
            lambda label=label: prompts.get("welcome", label=label, with_metadata=True)  # type: ignore[misc]
        )
        assert (fetched.source, fetched.version, fetched.label) == ("api", version, label)
        rendered = await service.render_prompt("welcome", variables, version=version)
        assert prompts.compile(fetched.prompt, variables) == rendered.text
    assert rendered.text == "Hi Ada, welcome to Lovelace Hall!"

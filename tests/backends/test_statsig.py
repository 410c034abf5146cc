"""The Statsig backend against the fake Statsig over real HTTP: mapping, round trips, races and faults.

The backend contract suite (test_contract.py) covers the Store behaviour shared by every backend; these
tests cover what is specific to Statsig: how versions, labels and metadata land in Statsig's own fields
(so Statsig's console and SDKs see them), its name rules, its rate limits and its failures.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest

from promptshelf.backends.cache import CachingStore
from promptshelf.backends.statsig import StatsigStore, build_statsig_store, open_statsig_store
from promptshelf.backends.vendor_http import SlidingWindowLimiter
from promptshelf.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArgumentError,
    NotFoundError,
    PromptshelfError,
    UnavailableError,
)
from promptshelf.model import Message, PromptMeta, PromptQuery, Variable, VersionDraft
from promptshelf.settings import Settings
from tests.fakes.statsig import FakeStatsig, run_fake_statsig
from tests.support.statsig_store import statsig_settings

EVERY_MODEL_FIELD: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "provider": "openai",
    "eval_model": "gpt-4o",
    "temperature": 0.35,
    "top_p": 0.9,
    "max_tokens": 512,
    "frequency_penalty": 0.25,
    "presence_penalty": -0.5,
    "workflow_body": {"type": "JSON", "value": '{"input": "{{ question }}"}'},
    "workflow_headers": [{"name": "X-Team", "value": "search"}],
    "auth_workflow_headers": [{"name": "Authorization", "value": "Bearer workflow-token"}],
}


def chat(text: str = "You are terse.", **kwargs: Any) -> VersionDraft:
    return VersionDraft(type="chat", messages=[Message(role="system", content=text)], **kwargs)


def text(template: str = "Hello {{name}}", **kwargs: Any) -> VersionDraft:
    return VersionDraft(type="text", template=template, **kwargs)


@pytest.fixture
def fake() -> FakeStatsig:
    return FakeStatsig()


@pytest.fixture
def base_url(fake: FakeStatsig) -> Iterator[str]:
    with run_fake_statsig(fake) as url:
        yield url


@pytest.fixture
async def store(fake: FakeStatsig, base_url: str) -> AsyncIterator[StatsigStore]:
    opened = build_statsig_store(statsig_settings(base_url, fake), backoff_base=0.01)
    yield opened
    await opened.aclose()


def raw_versions(fake: FakeStatsig, name: str) -> list[dict[str, Any]]:
    """The fake's own record of a prompt's versions, oldest first."""
    (prompt,) = [p for p in fake.prompts.values() if p["name"] == name]
    return sorted(fake.versions[prompt["id"]], key=lambda v: v["version"])


# -- mapping and round trips -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_every_model_field_round_trips_unchanged_and_lands_in_statsigs_own_fields(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    config = {**EVERY_MODEL_FIELD, "seed": 7, "stop": ["\n\n"]}
    await store.create_prompt("answerer", PromptMeta(), chat(config=config))

    read = await store.get_version("answerer", version=1)

    assert read.config == config
    for key, value in config.items():
        assert read.config[key] == value and type(read.config[key]) is type(value)
    (stored,) = raw_versions(fake, "answerer")
    # Statsig's SDK and console read these fields, so they must be Statsig's, not hidden in metadata.
    for key, value in EVERY_MODEL_FIELD.items():
        assert stored[key] == value
    assert stored["prompts"] == [{"role": "system", "content": "You are terse."}]


@pytest.mark.anyio
async def test_promptshelf_metadata_survives_the_round_trip(store: StatsigStore, fake: FakeStatsig) -> None:
    variables = [
        Variable(name="name", description="who to greet", required=False, default="you"),
        Variable(name="tone", enum=["warm", "dry"]),
    ]
    meta = PromptMeta(description="Greets people", tags=["onboarding", "email"])
    draft = text("Hi {{name}}, {{tone}}", variables=variables, commit_message="first cut", created_by="ana")
    created = await store.create_prompt("greeter", meta, draft)

    read = await store.get_version("greeter", version=1)

    assert read == created
    assert read.type == "text" and read.template == "Hi {{name}}, {{tone}}"
    assert read.variables == variables
    assert (read.description, read.tags) == ("Greets people", ["onboarding", "email"])
    assert (read.commit_message, read.created_by, read.source) == ("first cut", "ana", "upstream")
    (stored,) = raw_versions(fake, "greeter")
    assert stored["prompts"] == [{"role": "user", "content": "Hi {{name}}, {{tone}}"}]
    assert stored["description"].startswith("first cut\n\npromptshelf:")
    assert fake.prompts[next(iter(fake.prompts))]["description"] == "Greets people"


@pytest.mark.anyio
async def test_new_tags_and_description_on_publish_are_kept(store: StatsigStore) -> None:
    await store.create_prompt("tagged", PromptMeta(description="old", tags=["a"]), chat())
    await store.publish_version("tagged", 1, chat("v2"), PromptMeta(description="new", tags=["b", "c"]))
    await store.publish_version("tagged", 2, chat("v3"))  # no meta: tags and description stay

    latest = await store.get_version("tagged")
    assert (latest.version, latest.description, latest.tags) == (3, "new", ["b", "c"])
    page = await store.list_prompts(PromptQuery(tag="c"))
    assert [p.name for p in page.prompts] == ["tagged"]
    assert (await store.list_prompts(PromptQuery(tag="a"))).prompts == []


@pytest.mark.anyio
async def test_versions_written_in_statsig_follow_statsigs_order(
    store: StatsigStore, fake: FakeStatsig, base_url: str
) -> None:
    await store.create_prompt("shared", PromptMeta(), chat("one"))
    (prompt_id,) = fake.prompts
    async with httpx.AsyncClient(base_url=base_url, headers={"STATSIG-API-KEY": fake.api_key}) as client:
        response = await client.post(
            f"/console/v1/prompts/{prompt_id}/versions",
            json={
                "name": "edited in console",
                "description": "tuned by hand",
                "prompts": [{"role": "user", "content": "two"}],
                "model": "claude",
            },
        )
        assert response.status_code == 201

    second = await store.get_version("shared")
    assert (second.version, second.type, second.messages) == (
        2,
        "chat",
        [Message(role="user", content="two")],
    )
    assert (second.config, second.commit_message) == ({"model": "claude"}, "tuned by hand")
    history = await store.list_versions("shared", before_version=None, limit=10)
    assert [v.version for v in history.versions] == [2, 1]


# -- labels ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_promoting_to_production_makes_it_live_and_demotes_the_previous_live(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("promo", PromptMeta(), chat("one", labels=["production"]))
    await store.publish_version("promo", 1, chat("two"))
    assert [v["type"] for v in raw_versions(fake, "promo")] == ["Live", "Draft"]

    before = await store.set_label("promo", "production", 2)

    assert before == 1
    assert [v["type"] for v in raw_versions(fake, "promo")] == ["Draft", "Live"]
    assert (await store.get_version("promo", label="production")).version == 2
    assert (await store.get_version("promo", version=1)).labels == []
    assert (await store.get_summary("promo")).labels == {"production": 2}


@pytest.mark.anyio
async def test_candidate_is_statsigs_candidate_type(store: StatsigStore, fake: FakeStatsig) -> None:
    await store.create_prompt("cand", PromptMeta(), chat("one", labels=["production"]))
    await store.publish_version("cand", 1, chat("two", labels=["candidate"]))
    await store.publish_version("cand", 2, chat("three"))
    assert [v["type"] for v in raw_versions(fake, "cand")] == ["Live", "Candidate", "Draft"]

    assert await store.set_label("cand", "candidate", 3) == 2
    assert [v["type"] for v in raw_versions(fake, "cand")] == ["Live", "Draft", "Candidate"]

    with pytest.raises(InvalidArgumentError, match="Live"):
        await store.set_label("cand", "candidate", 1)

    # Promoting the candidate: it becomes Live, so it is no longer the candidate.
    await store.set_label("cand", "production", 3)
    assert [v["type"] for v in raw_versions(fake, "cand")] == ["Draft", "Draft", "Live"]
    assert (await store.get_summary("cand")).labels == {"production": 3}

    assert await store.remove_label("cand", "production") == 3
    assert [v["type"] for v in raw_versions(fake, "cand")] == ["Draft", "Draft", "Draft"]
    with pytest.raises(NotFoundError):
        await store.remove_label("cand", "candidate")


@pytest.mark.anyio
async def test_other_labels_move_between_versions(store: StatsigStore) -> None:
    await store.create_prompt("staged", PromptMeta(), chat("one", labels=["staging"]))
    await store.publish_version("staged", 1, chat("two"))

    assert await store.set_label("staged", "staging", 2) == 1
    assert (await store.get_version("staged", label="staging")).version == 2
    assert (await store.get_version("staged", version=1)).labels == []
    assert await store.remove_label("staged", "staging") == 2
    with pytest.raises(NotFoundError):
        await store.get_version("staged", label="staging")


@pytest.mark.anyio
async def test_production_and_candidate_on_one_new_version_is_refused_before_writing(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    with pytest.raises(InvalidArgumentError, match="not both"):
        await store.create_prompt("both", PromptMeta(), chat(labels=["production", "candidate"]))
    assert fake.requests == []


# -- names, conflicts, archive -----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["team/summarize", "ab", "x" * 101])
async def test_names_statsig_cannot_hold_are_refused_before_any_request(
    store: StatsigStore, fake: FakeStatsig, name: str
) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"3 to 100 characters matching \^\[a-zA-Z0-9_\\-\. \]\*\$"
    ):
        await store.create_prompt(name, PromptMeta(), chat())
    with pytest.raises(NotFoundError, match="AI config names are 3 to 100 characters"):
        await store.get_version(name)  # a lookup answers "no such prompt", and says why
    assert fake.requests == []


@pytest.mark.anyio
async def test_config_statsig_would_refuse_is_refused_before_any_request(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    with pytest.raises(InvalidArgumentError, match="temperature must be a number"):
        await store.create_prompt("typed", PromptMeta(), chat(config={"temperature": "warm"}))
    with pytest.raises(InvalidArgumentError, match="1000 characters"):
        await store.create_prompt(
            "wordy", PromptMeta(), chat(commit_message="x" * 400, config={"notes": "y" * 700})
        )
    assert fake.requests == []


@pytest.mark.anyio
async def test_stale_base_version_is_a_conflict(store: StatsigStore) -> None:
    await store.create_prompt("busy", PromptMeta(), chat("one"))
    await store.publish_version("busy", 1, chat("two"))

    with pytest.raises(ConflictError) as caught:
        await store.publish_version("busy", 1, chat("lost?"))

    assert caught.value.current_version == 2
    with pytest.raises(ConflictError) as again:
        await store.create_prompt("busy", PromptMeta(), chat())
    assert again.value.current_version == 2


@pytest.mark.anyio
async def test_racing_writers_on_one_base_version_lose_no_update(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("race", PromptMeta(), chat("base"))
    fake.latency = 0.02  # both writers read version 1 before either creates its version
    outcomes: list[str] = []

    async def write(content: str) -> None:
        try:
            await store.publish_version("race", 1, chat(content))
            outcomes.append("ok")
        except ConflictError as exc:
            assert exc.current_version == 2
            outcomes.append("conflict")

    async with anyio.create_task_group() as group:
        for content in ("left", "right", "middle"):
            group.start_soon(write, content)

    assert sorted(outcomes) == ["conflict", "conflict", "ok"]
    # The losers withdrew their versions: numbers stay contiguous and the winner is version 2.
    assert len(raw_versions(fake, "race")) == 2
    history = await store.list_versions("race", before_version=None, limit=10)
    assert [v.version for v in history.versions] == [2, 1]


@pytest.mark.anyio
async def test_archive_marks_versions_archive_and_the_name_starts_again(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("old", PromptMeta(tags=["t"]), chat("one", labels=["production"]))
    await store.publish_version("old", 1, chat("two"))

    assert await store.archive_prompt("old") == 2

    assert [v["type"] for v in raw_versions(fake, "old")] == ["Archive", "Archive"]
    with pytest.raises(NotFoundError):
        await store.get_version("old")
    assert (await store.list_prompts(PromptQuery())).prompts == []
    (archived,) = (await store.list_prompts(PromptQuery(include_archived=True))).prompts
    assert (archived.name, archived.archived) == ("old", True)

    again = await store.create_prompt("old", PromptMeta(description="fresh"), chat("new"))

    assert (again.version, again.latest_version, again.description, again.tags) == (1, 1, "fresh", [])
    assert len(fake.prompts) == 1 and len(raw_versions(fake, "old")) == 3  # history is kept in Statsig
    # Listed with archived ones, the name appears twice (archived first), one entry per page.
    everything = await store.list_prompts(PromptQuery(include_archived=True))
    assert [(p.name, p.archived, p.latest_version) for p in everything.prompts] == [
        ("old", True, 2),
        ("old", False, 1),
    ]
    first = await store.list_prompts(PromptQuery(include_archived=True, limit=1))
    second = await store.list_prompts(PromptQuery(include_archived=True, limit=1, after=first.next_cursor))
    assert [(p.archived, q.archived) for p, q in zip(first.prompts, second.prompts, strict=True)] == [
        (True, False)
    ]
    assert second.next_cursor is None


# -- listing and pagination --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_listing_pages_through_statsigs_pages(base_url: str, fake: FakeStatsig) -> None:
    fake.mutation_limits = ((10_000, 1.0),)
    store = build_statsig_store(
        statsig_settings(base_url, fake), rate_limiter=SlidingWindowLimiter(10_000, 1.0)
    )
    names = [f"prompt-{i:03d}" for i in range(130)]
    try:
        for name in reversed(names):  # Statsig lists by creation; promptshelf by name
            await store.create_prompt(name, PromptMeta(), chat())
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.list_prompts(PromptQuery(after=cursor, limit=50))
            seen += [p.name for p in page.prompts]
            cursor = page.next_cursor
            if cursor is None:
                break
    finally:
        await store.aclose()

    assert seen == names
    listing_pages = {r.query for r in fake.requests if r.method == "GET" and r.path == "/console/v1/prompts"}
    assert "limit=100&page=2" in listing_pages


# -- headers and change polling ---------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("respect", [True, False])
async def test_review_settings_header_rides_on_every_mutation_only_when_asked(
    base_url: str, fake: FakeStatsig, respect: bool
) -> None:
    store = build_statsig_store(statsig_settings(base_url, fake, statsig_respect_review_settings=respect))
    try:
        await store.create_prompt("reviewed", PromptMeta(), chat(labels=["production"]))
        await store.archive_prompt("reviewed")
    finally:
        await store.aclose()

    mutations = [r for r in fake.requests if r.method != "GET"]
    assert {r.method for r in mutations} == {"POST", "PATCH"}
    assert all(("x-respect-review-settings" in r.headers) is respect for r in mutations)
    assert all("x-respect-review-settings" not in r.headers for r in fake.requests if r.method == "GET")
    assert all(r.headers["statsig-api-key"] == fake.api_key for r in fake.requests)


@pytest.mark.anyio
async def test_poll_changes_names_what_changed_at_statsig(store: StatsigStore) -> None:
    await store.create_prompt("watched", PromptMeta(), chat())
    await store.create_prompt("quiet", PromptMeta(), chat())
    first = await store.poll_changes(None)
    assert first.names == frozenset()
    assert (await store.poll_changes(first.token)).names == frozenset()

    await store.set_label("watched", "production", 1)
    changed = await store.poll_changes(first.token)

    assert changed.names == frozenset({"watched"})
    assert (await store.poll_changes("from-another-process")).names is None


# -- faults ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reads_retry_through_5xx_429_and_dropped_connections(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("sturdy", PromptMeta(), chat())
    fake.fail_next(1, 502)
    fake.throttle_next(1)
    fake.drop_next(1)

    assert (await store.get_version("sturdy")).version == 1
    assert fake.throttled == 1


@pytest.mark.anyio
async def test_a_failed_create_leaves_nothing_a_retry_trips_over(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    fake.fail_next(1, 500, method="POST")  # the AI config is refused
    with pytest.raises(UnavailableError, match="may or may not have been applied"):
        await store.create_prompt("again", PromptMeta(), chat())
    fake.drop_next(1, method="POST")  # the AI config is created, but the answer is lost
    with pytest.raises(UnavailableError, match="may or may not have been applied"):
        await store.create_prompt("again", PromptMeta(), chat())
    assert len(fake.prompts) == 1

    created = await store.create_prompt("again", PromptMeta(), chat("third time"))
    assert created.version == 1


@pytest.mark.anyio
async def test_a_write_to_a_down_statsig_fails_clearly(store: StatsigStore, fake: FakeStatsig) -> None:
    await store.create_prompt("offline", PromptMeta(), chat())
    fake.down = True

    with pytest.raises(
        UnavailableError, match=r"Statsig answered HTTP 503 .* gave up after 5 attempts"
    ) as caught:
        await store.publish_version("offline", 1, chat("two"))
    assert caught.value.code == "unavailable"


@pytest.mark.anyio
async def test_a_dropped_write_is_not_sent_twice(store: StatsigStore, fake: FakeStatsig) -> None:
    await store.create_prompt("once", PromptMeta(), chat())
    fake.drop_next(1, method="POST")

    with pytest.raises(UnavailableError, match="may or may not have been applied") as caught:
        await store.publish_version("once", 1, chat("two"))

    assert caught.value.details["may_have_been_applied"] is True
    assert len([r for r in fake.requests if r.method == "POST" and r.path.endswith("/versions")]) == 2
    # It was applied: the next reader sees it, and a blind retry is a conflict, not a duplicate.
    assert (await store.get_version("once")).version == 2
    with pytest.raises(ConflictError):
        await store.publish_version("once", 1, chat("two"))


@pytest.mark.anyio
async def test_a_bad_key_is_forbidden_and_statsigs_message_is_kept(base_url: str, fake: FakeStatsig) -> None:
    settings = statsig_settings(base_url, FakeStatsig(api_key="console-wrong-key-4242"))
    store = build_statsig_store(settings)
    try:
        with pytest.raises(ForbiddenError, match="only accepts an active CONSOLE key") as caught:
            await store.list_prompts(PromptQuery())
    finally:
        await store.aclose()
    assert "console-wrong-key-4242" not in str(caught.value.to_dict())


@pytest.mark.anyio
async def test_reads_are_served_stale_when_statsig_is_down(fake: FakeStatsig, base_url: str) -> None:
    now = [0.0]
    inner = build_statsig_store(statsig_settings(base_url, fake), backoff_base=0.01)
    cached = CachingStore(inner, ttl=1.0, clock=lambda: now[0])
    try:
        await cached.create_prompt("resilient", PromptMeta(), chat("kept"))
        fresh = await cached.get_version("resilient")
        await cached.get_summary("resilient")
        assert fresh.source == "upstream"
        fake.down = True
        now[0] = 10.0  # past the TTL and the stale-while-revalidate window

        stale = await cached.get_version("resilient")
        summary = await cached.get_summary("resilient")

        assert stale.source == "stale"
        assert stale.messages == fresh.messages and summary.latest_version == 1
    finally:
        await cached.aclose()


@pytest.mark.anyio
async def test_open_statsig_store_needs_a_key() -> None:
    with pytest.raises(InvalidArgumentError, match="STATSIG_CONSOLE_API_KEY"):
        await open_statsig_store(Settings(backend="statsig", statsig_console_api_key=None))


# -- rate limits -------------------------------------------------------------------------------------


async def _burst(store: StatsigStore, prompts: int, versions_each: int) -> None:
    names = [f"burst-{i}" for i in range(prompts)]

    async def publish_all(name: str) -> None:
        await store.create_prompt(name, PromptMeta(), chat("v1"))
        for base in range(1, versions_each + 1):
            await store.publish_version(name, base, chat(f"v{base + 1}"))

    async with anyio.create_task_group() as group:
        for name in names:
            group.start_soon(publish_all, name)


@pytest.mark.anyio
async def test_a_burst_of_300_writes_slows_down_under_429s_and_none_fails(
    base_url: str, fake: FakeStatsig
) -> None:
    # Statsig's limits squeezed from 10 s to 1.5 s (and 15 min to 13.5 s); the client's own limiter is
    # set far looser so the fake really answers 429s and only backing off gets the burst through.
    fake.mutation_limits = ((100, 1.5), (900, 13.5))
    store = build_statsig_store(
        statsig_settings(base_url, fake), rate_limiter=SlidingWindowLimiter(10_000, 1.0)
    )
    try:
        with anyio.fail_after(60):
            await _burst(store, prompts=30, versions_each=10)
        for i in range(30):
            assert (await store.get_summary(f"burst-{i}")).latest_version == 11
    finally:
        await store.aclose()
    assert fake.throttled > 0  # real 429s were answered, and absorbed


@pytest.mark.anyio
async def test_the_mutation_limiter_keeps_a_burst_under_statsigs_limit(
    base_url: str, fake: FakeStatsig
) -> None:
    fake.mutation_limits = ((100, 0.5),)
    store = build_statsig_store(statsig_settings(base_url, fake), rate_limiter=SlidingWindowLimiter(90, 0.5))
    try:
        with anyio.fail_after(60):
            await _burst(store, prompts=5, versions_each=30)
    finally:
        await store.aclose()
    assert fake.throttled == 0
    assert fake.mutations_seen() == 5 * 2 + 5 * 30


# -- secrets -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_key_never_appears_in_logs_or_errors(
    store: StatsigStore, fake: FakeStatsig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[PromptshelfError] = []
    await store.create_prompt("secretive", PromptMeta(), chat())
    fake.throttle_next(2)
    fake.fail_next(2, 503)
    await store.get_version("secretive")
    fake.down = True
    for call in (store.get_version("secretive"), store.publish_version("secretive", 1, chat())):
        try:
            await call
        except PromptshelfError as exc:
            errors.append(exc)
    fake.down = False
    with pytest.raises(NotFoundError) as missing:
        await store.get_version("nowhere")
    errors.append(missing.value)

    assert len(errors) == 3
    assert "retrying" in caplog.text  # the retries were logged...
    assert fake.api_key not in caplog.text  # ...without the key
    for error in errors:
        assert fake.api_key not in f"{error} {error.to_dict()} {error!r} {error.__cause__!r}"

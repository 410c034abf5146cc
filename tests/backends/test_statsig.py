"""The Statsig backend against the fake Statsig over real HTTP: mapping, labels, partial failures, quota.

The fake serves only Statsig's published Console API operations and checks every request and answer
against the kept contract (``run_fake_statsig`` fails a test that broke it). The contract suite
(test_contract.py) covers the Store behaviour shared by every backend; these tests cover what is specific
to Statsig: what Statsig's AI SDKs read back, several Candidates, what is refused, what a failure leaves,
and the quota. Time-dependent tests use a virtual clock shared by the client and the fake.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from promptshelf.backends.cache import CachingStore
from promptshelf.backends.statsig import StatsigStore, build_statsig_store, open_statsig_store
from promptshelf.backends.vendor_http import MultiWindowLimiter
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
from tests.fakes.statsig_contract import StatsigContract
from tests.support.statsig_store import statsig_settings

SDK_FIELDS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "provider": "openai",
    "evalModel": "gpt-4o",
    "temperature": 0.35,
    "topP": 0.9,
    "maxTokens": 512,
    "frequencyPenalty": 0.25,
    "presencePenalty": -0.5,
    "workflowBody": {"type": "JSON", "value": '{"input": "{{ question }}"}'},
}
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


class VirtualClock:
    """Time that moves only when someone sleeps: the client and the fake read the same one."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


def chat(text: str = "You are terse.", **kwargs: Any) -> VersionDraft:
    return VersionDraft(type="chat", messages=[Message(role="system", content=text)], **kwargs)


def text(template: str = "Hello {{name}}", **kwargs: Any) -> VersionDraft:
    return VersionDraft(type="text", template=template, **kwargs)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock) -> FakeStatsig:
    return FakeStatsig(clock=clock)


@pytest.fixture
def base_url(fake: FakeStatsig) -> Iterator[str]:
    with run_fake_statsig(fake) as url:
        yield url


def open_store(base_url: str, fake: FakeStatsig, clock: VirtualClock, **options: Any) -> StatsigStore:
    settings = statsig_settings(base_url, fake, **options.pop("settings", {}))
    return build_statsig_store(settings, clock=clock, sleep=clock.sleep, **options)


@pytest.fixture
async def store(fake: FakeStatsig, base_url: str, clock: VirtualClock) -> AsyncIterator[StatsigStore]:
    opened = open_store(base_url, fake, clock)
    yield opened
    await opened.aclose()


def parameters(fake: FakeStatsig, name: str) -> dict[str, Any]:
    return {p["name"]: p.get("value") for p in fake.param_stores[f"prompt:{name}"]["parameters"]}


def served(fake: FakeStatsig, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """What Statsig's AI SDK serves for ``name``: the Live config's value and the Candidates' values.

    The lookup of ``make_prompt`` (statsig-io/statsig-ai-python @ 793e86c8c82431192e2bcd2b85e5249088afc163,
    ``statsig_ai/prompt.py``): ``live`` and ``candidates`` of ``prompt:{name}``, each a dynamic config.
    """
    params = parameters(fake, name)
    live = params.get("live") or ""
    values = {k: c["defaultValue"] for k, c in fake.dynamic_configs.items()}
    return values.get(live), [values[c] for c in params.get("candidates", [])]


def contents(value: dict[str, Any] | None) -> list[str]:
    return [m["content"] for m in (value or {}).get("prompts", [])]


# -- what Statsig's SDKs and console get -------------------------------------------------------------


@pytest.mark.anyio
async def test_every_model_field_round_trips_and_the_sdk_fields_land_where_statsigs_sdks_read_them(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    config = {**EVERY_MODEL_FIELD, "seed": 7, "stop": ["\n\n"]}
    await store.create_prompt("answerer", PromptMeta(), chat(config=config, labels=["production"]))

    read = await store.get_version("answerer", version=1)

    assert read.config == config
    for key, value in config.items():
        assert type(read.config[key]) is type(value)
    live, _ = served(fake, "answerer")
    assert live is not None
    # statsig-ai-node src/prompts/PromptVersion.ts reads these keys from the config's value.
    assert {k: live[k] for k in SDK_FIELDS} == SDK_FIELDS
    assert live["prompts"] == [{"role": "system", "content": "You are terse."}]
    assert live["aiConfigName"] == "answerer"
    # Headers may be secrets: they go to the AI config version only, never into the served value.
    assert "Bearer workflow-token" not in str(live)
    ((ai_version,),) = fake.ai_config_versions.values()
    assert ai_version["auth_workflow_headers"] == EVERY_MODEL_FIELD["auth_workflow_headers"]
    assert ai_version["prompts"] == live["prompts"]


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
    (config,) = fake.dynamic_configs.values()
    assert config["defaultValue"]["prompts"] == [{"role": "user", "content": "Hi {{name}}, {{tone}}"}]
    assert config["description"].startswith("first cut\n\npromptshelf:")
    (ai_config,) = fake.ai_configs.values()
    assert ai_config["description"] == "Greets people"


@pytest.mark.anyio
async def test_a_name_with_dots_round_trips_through_statsigs_paths(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("support.reply-v2.1", PromptMeta(), chat("hi", labels=["production"]))
    await store.publish_version("support.reply-v2.1", 1, chat("hello"))

    assert (await store.get_version("support.reply-v2.1", label="production")).version == 1
    assert "prompt:support.reply-v2.1" in fake.param_stores
    (config_id, _) = fake.dynamic_configs
    assert config_id.startswith("promptshelf.support.reply-v2.1.")


@pytest.mark.anyio
async def test_new_tags_and_description_on_publish_are_kept(store: StatsigStore, fake: FakeStatsig) -> None:
    await store.create_prompt("tagged", PromptMeta(description="old", tags=["a"]), chat())
    await store.publish_version("tagged", 1, chat("v2"), PromptMeta(description="new", tags=["b", "c"]))
    await store.publish_version("tagged", 2, chat("v3"))  # no meta: tags and description stay

    latest = await store.get_version("tagged")
    assert (latest.version, latest.description, latest.tags) == (3, "new", ["b", "c"])
    assert [p.name for p in (await store.list_prompts(PromptQuery(tag="c"))).prompts] == ["tagged"]
    assert (await store.list_prompts(PromptQuery(tag="a"))).prompts == []
    (ai_config,) = fake.ai_configs.values()
    assert ai_config["description"] == "new"
    assert [v["name"] for v in fake.ai_config_versions[ai_config["id"]]] == [
        "version 1",
        "version 2",
        "version 3",
    ]


@pytest.mark.anyio
async def test_create_publish_promote_candidates_and_read_live_on_published_routes_only(
    store: StatsigStore, fake: FakeStatsig, base_url: str
) -> None:
    await store.create_prompt("flow", PromptMeta(), chat("one"))
    await store.publish_version("flow", 1, chat("two"))
    await store.publish_version("flow", 2, chat("three", labels=["candidate-3"]))
    await store.publish_version("flow", 3, chat("four"))

    assert await store.set_label("flow", "production", 2) is None
    assert await store.set_label("flow", "candidate-4", 4) is None
    assert await store.remove_label("flow", "candidate-4") == 4

    assert (await store.get_version("flow", label="production")).messages == [
        Message(role="system", content="two")
    ]
    live, candidates = served(fake, "flow")
    assert contents(live) == ["two"]
    assert [contents(c) for c in candidates] == [["three"]]  # the other Candidate was untouched
    assert (await store.get_summary("flow")).labels == {"production": 2, "candidate-3": 3}
    # Every request was a published operation (the fake checked each against the contract) ...
    contract = StatsigContract()
    assert all(contract.operation(r.method, r.path) for r in fake.requests)
    assert fake.violations == []
    # ... and the unpublished version and delete routes do not exist on this fake.
    ai_id = next(iter(fake.ai_configs))
    async with httpx.AsyncClient(base_url=base_url, headers={"STATSIG-API-KEY": fake.api_key}) as client:
        for method, path in [
            ("GET", f"/console/v1/prompts/{ai_id}/versions"),
            ("GET", f"/console/v1/prompts/{ai_id}/versions/v1"),
            ("PATCH", f"/console/v1/prompts/{ai_id}/versions/v1"),
            ("DELETE", f"/console/v1/prompts/{ai_id}/versions/v1"),
            ("DELETE", f"/console/v1/prompts/{ai_id}"),
        ]:
            answer = await client.request(method, path, json={"type": "Live"} if method == "PATCH" else None)
            assert answer.status_code == 404, (method, path)
            assert answer.json() == {
                "status": 404,
                "message": "Not Found. The requested resource could not be found.",
            }


# -- labels ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_promoting_to_production_moves_live_and_the_previous_live_stops_being_served(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("promo", PromptMeta(), chat("one", labels=["production"]))
    await store.publish_version("promo", 1, chat("two"))
    assert contents(served(fake, "promo")[0]) == ["one"]

    assert await store.set_label("promo", "production", 2) == 1

    assert contents(served(fake, "promo")[0]) == ["two"]
    assert (await store.get_version("promo", version=1)).labels == []
    assert (await store.get_summary("promo")).labels == {"production": 2}
    assert await store.remove_label("promo", "production") == 2
    assert served(fake, "promo")[0] is None


@pytest.mark.anyio
async def test_several_candidates_are_kept_and_none_is_demoted_as_a_side_effect(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("cand", PromptMeta(), chat("one", labels=["production"]))
    await store.publish_version("cand", 1, chat("two", labels=["candidate-2"]))
    await store.publish_version("cand", 2, chat("three", labels=["candidate-3"]))
    await store.publish_version("cand", 3, chat("four"))
    assert [contents(c) for c in served(fake, "cand")[1]] == [["two"], ["three"]]

    assert await store.set_label("cand", "candidate-4", 4) is None
    assert await store.set_label("cand", "staging", 4) is None  # another label: Candidates stay
    assert [contents(c) for c in served(fake, "cand")[1]] == [["two"], ["three"], ["four"]]
    assert await store.remove_label("cand", "candidate-3") == 3
    assert [contents(c) for c in served(fake, "cand")[1]] == [["two"], ["four"]]

    # Promoting a Candidate makes it Live (Statsig's version type is one or the other); others stay.
    await store.set_label("cand", "production", 2)
    live, candidates = served(fake, "cand")
    assert contents(live) == ["two"] and [contents(c) for c in candidates] == [["four"]]
    assert (await store.get_summary("cand")).labels == {"production": 2, "candidate-4": 4, "staging": 4}


@pytest.mark.anyio
async def test_what_statsigs_model_cannot_hold_is_refused_before_any_write(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("rules", PromptMeta(), chat("one", labels=["production"]))
    await store.publish_version("rules", 1, chat("two"))
    writes = fake.mutations_seen()

    with pytest.raises(InvalidArgumentError, match=r"several Candidate versions at once.*'candidate-n'"):
        await store.set_label("rules", "candidate", 2)
    with pytest.raises(InvalidArgumentError, match=r"marks version 3 .* cannot point at version 2"):
        await store.set_label("rules", "candidate-3", 2)
    with pytest.raises(InvalidArgumentError, match=r"is Live .* not both"):
        await store.set_label("rules", "candidate-1", 1)
    with pytest.raises(InvalidArgumentError, match="not both"):
        await store.publish_version("rules", 2, chat(labels=["production", "candidate-3"]))
    with pytest.raises(InvalidArgumentError, match="'candidate-n'"):
        await store.create_prompt("other", PromptMeta(), chat(labels=["candidate"]))

    assert fake.mutations_seen() == writes


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


# -- prompts written in Statsig's console ----------------------------------------------------------


@pytest.mark.anyio
async def test_a_prompt_written_in_statsigs_console_is_read_and_can_be_published_to(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    fake.console_create_prompt(
        "native", description="From the console", prompts=[{"role": "system", "content": "one"}], model="m"
    )
    fake.console_publish("native", [{"role": "user", "content": "two {{x}}"}])

    first = await store.get_version("native", version=1)
    assert (first.config, first.description, first.labels) == (
        {"model": "m"},
        "From the console",
        ["production"],
    )
    second = await store.get_version("native")
    assert (second.version, second.labels) == (2, ["candidate-2"])

    await store.publish_version("native", 2, chat("three"))
    await store.set_label("native", "production", 3)

    live, candidates = served(fake, "native")
    assert contents(live) == ["three"] and [contents(c) for c in candidates] == [["two {{x}}"]]
    assert (await store.get_summary("native")).labels == {"production": 3, "candidate-2": 2}


@pytest.mark.anyio
async def test_console_versions_keep_their_numbers_when_one_stops_being_served(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    fake.console_create_prompt("renumber", description="", prompts=[{"role": "user", "content": "one"}])
    fake.console_publish("renumber", [{"role": "user", "content": "two"}])
    fake.console_promote("renumber", 2)  # version 1 is now a draft: in no parameter store

    assert (await store.get_version("renumber", label="production")).version == 2
    with pytest.raises(NotFoundError, match="version 1 of 'renumber' is neither Live nor a Candidate"):
        await store.get_version("renumber", version=1)
    history = await store.list_versions("renumber", before_version=None, limit=10)
    assert [(v.version, v.labels) for v in history.versions] == [(2, ["production"])]
    assert (await store.publish_version("renumber", 2, chat("three"))).version == 3


@pytest.mark.anyio
async def test_a_live_version_decided_by_targeting_is_not_overwritten(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    fake.console_create_prompt("targeted", description="", prompts=[{"role": "user", "content": "one"}])
    fake.console_publish("targeted", [{"role": "user", "content": "two"}])
    live = fake._parameter("targeted", "live")
    live.clear()
    live.update(
        {
            "name": "live",
            "ref_type": "layer",
            "param_type": "string",
            "layer_name": "exp",
            "param_name": "live",
        }
    )

    assert (await store.get_version("targeted")).messages == [Message(role="user", content="two")]
    with pytest.raises(InvalidArgumentError, match="decided in Statsig by layer 'exp'"):
        await store.set_label("targeted", "production", 2)
    await store.set_label("targeted", "staging", 2)
    with pytest.raises(NotFoundError, match="neither Live nor a Candidate"):
        await store.get_version("targeted", version=1)  # the layer's version cannot be named
    assert parameters(fake, "targeted")["live"] is None  # the layer reference is written back as it was
    assert fake._parameter("targeted", "live")["layer_name"] == "exp"


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
        await store.get_version(name)
    assert fake.requests == []


@pytest.mark.anyio
async def test_config_statsig_would_refuse_is_refused_before_any_request(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    with pytest.raises(InvalidArgumentError, match="temperature must be a number"):
        await store.create_prompt("typed", PromptMeta(), chat(config={"temperature": "warm"}))
    with pytest.raises(InvalidArgumentError, match="1000 characters"):
        await store.create_prompt(
            "wordy", PromptMeta(), chat(commit_message="x" * 400, config={"n": "y" * 700})
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
    fake.latency = 0.02  # every writer reads version 1 before any creates its version
    outcomes: list[str] = []

    async def write(content: str) -> None:
        try:
            await store.publish_version("race", 1, chat(content))
            outcomes.append(content)
        except ConflictError as exc:
            assert exc.current_version == 2
            outcomes.append("conflict")

    async with anyio.create_task_group() as group:
        for content in ("left", "right", "middle"):
            group.start_soon(write, content)

    assert sorted(outcomes).count("conflict") == 2
    (winner,) = [o for o in outcomes if o != "conflict"]
    assert len(fake.dynamic_configs) == 2  # the losers left nothing behind
    assert (await store.get_version("race")).messages == [Message(role="system", content=winner)]


@pytest.mark.anyio
async def test_archive_stops_serving_keeps_history_and_the_name_starts_again(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("old", PromptMeta(tags=["t"]), chat("one", labels=["production"]))
    await store.publish_version("old", 1, chat("two", labels=["candidate-2"]))

    assert await store.archive_prompt("old") == 2

    assert served(fake, "old") == (None, [])
    with pytest.raises(NotFoundError):
        await store.get_version("old")
    assert (await store.list_prompts(PromptQuery())).prompts == []
    (archived,) = (await store.list_prompts(PromptQuery(include_archived=True))).prompts
    assert (archived.name, archived.archived, archived.latest_version) == ("old", True, 2)

    again = await store.create_prompt("old", PromptMeta(description="fresh"), chat("new"))

    assert (again.version, again.latest_version, again.description, again.tags) == (1, 1, "fresh", [])
    assert len(fake.ai_configs) == 1 and len(fake.dynamic_configs) == 3  # history is kept in Statsig
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


# -- what a failure leaves ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "where",
    [
        "POST /console/v1/dynamic_configs",
        "POST /console/v1/param_stores",  # creating the store
        "POST /console/v1/prompts",  # creating the AI config
        "POST /console/v1/param_stores/prompt:",  # the commit: writing the index
        "/versions",  # the AI config version, after the commit
    ],
)
@pytest.mark.parametrize("fault", ["fail", "drop"])
async def test_a_failure_mid_create_leaves_nothing_served_and_a_retry_succeeds(
    store: StatsigStore, fake: FakeStatsig, where: str, fault: str
) -> None:
    if fault == "fail":
        fake.fail_next(1, 500, where=where)
    else:
        fake.drop_next(1, where=where)  # applied at Statsig, the answer lost

    with pytest.raises(UnavailableError):
        await store.create_prompt("fragile", PromptMeta(description="d"), chat("one", labels=["production"]))

    assert fake.dynamic_configs == {}
    store_left = fake.param_stores.get("prompt:fragile")
    assert store_left is None or served(fake, "fragile") == (None, [])
    with pytest.raises(NotFoundError):
        await store.get_version("fragile")
    assert (await store.list_prompts(PromptQuery(include_archived=True))).prompts == []

    created = await store.create_prompt(
        "fragile", PromptMeta(description="d"), chat("two", labels=["production"])
    )
    assert (created.version, created.labels) == (1, ["production"])
    assert contents(served(fake, "fragile")[0]) == ["two"]
    assert len(fake.ai_configs) == 1  # an AI config left by the failure is reused, not duplicated


@pytest.mark.anyio
async def test_a_failed_publish_is_undone_and_the_version_number_stays_free(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("steady", PromptMeta(), chat("one", labels=["production"]))
    fake.fail_next(1, 500, where="/versions")

    with pytest.raises(UnavailableError):
        await store.publish_version("steady", 1, chat("two", labels=["production"]))

    assert contents(served(fake, "steady")[0]) == ["one"]
    assert len(fake.dynamic_configs) == 1
    assert (await store.publish_version("steady", 1, chat("two again"))).version == 2


@pytest.mark.anyio
async def test_a_failure_whose_undo_fails_too_says_what_may_be_left(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    await store.create_prompt("stuck", PromptMeta(), chat("one"))
    fake.fail_next(1, 500, where="/versions")
    fake.fail_next(5, 503, where="DELETE")

    with pytest.raises(
        UnavailableError, match=r"undoing it failed too.*may still hold dynamic config"
    ) as caught:
        await store.publish_version("stuck", 1, chat("two"))
    assert caught.value.details["may_have_been_applied"] is True
    assert (await store.get_version("stuck")).version == 1  # the index was written back


# -- listing, headers, polling -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_listing_pages_through_statsigs_pages(
    base_url: str, fake: FakeStatsig, clock: VirtualClock
) -> None:
    fake.quota = fake.burst = None
    store = open_store(base_url, fake, clock, rate_limiter=MultiWindowLimiter(((10_000, 1.0),)))
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
    pages = {r.query for r in fake.requests if r.method == "GET" and r.path == "/console/v1/param_stores"}
    assert "limit=100&page=2" in pages


@pytest.mark.anyio
@pytest.mark.parametrize("respect", [True, False])
async def test_review_settings_header_rides_on_every_mutation_only_when_asked(
    base_url: str, fake: FakeStatsig, clock: VirtualClock, respect: bool
) -> None:
    store = open_store(base_url, fake, clock, settings={"statsig_respect_review_settings": respect})
    try:
        await store.create_prompt("reviewed", PromptMeta(description="x"), chat(labels=["production"]))
        await store.publish_version("reviewed", 1, chat(), PromptMeta(description="y"))
        await store.archive_prompt("reviewed")
    finally:
        await store.aclose()

    mutations = [r for r in fake.requests if r.method != "GET"]
    assert {r.method for r in mutations} == {"POST", "PATCH"}
    assert all(("x-respect-review-settings" in r.headers) is respect for r in mutations)
    assert all("x-respect-review-settings" not in r.headers for r in fake.requests if r.method == "GET")
    assert all(r.headers["statsig-api-key"] == fake.api_key for r in fake.requests)


@pytest.mark.anyio
async def test_poll_changes_names_what_changed_at_statsig(store: StatsigStore, fake: FakeStatsig) -> None:
    await store.create_prompt("watched", PromptMeta(), chat())
    await store.create_prompt("quiet", PromptMeta(), chat())
    first = await store.poll_changes(None)
    assert first.names == frozenset()
    assert (await store.poll_changes(first.token)).names == frozenset()

    await store.set_label("watched", "production", 1)
    changed = await store.poll_changes(first.token)
    assert changed.names == frozenset({"watched"})
    fake.console_create_prompt("console-made", description="", prompts=[{"role": "user", "content": "x"}])
    assert (await store.poll_changes(changed.token)).names == frozenset({"console-made"})
    assert (await store.poll_changes("from-another-process")).names is None


# -- the contract the fake checks ------------------------------------------------------------------------


def test_the_contract_names_its_source_and_refuses_a_wrong_field() -> None:
    contract = StatsigContract()
    assert contract.source["repository"] == "statsig-io/docs"
    assert contract.source["commit"] == "19d11656a29bfa57944825e2b44dfbb5a1774611"
    create = contract.operation("POST", "/console/v1/dynamic_configs")
    assert create is not None
    good = {"id": "promptshelf.x.g0.v1", "name": "promptshelf.x.g0.v1", "defaultValue": {}}
    assert contract.check_request(create, {}, good) == []
    assert contract.check_request(create, {}, {**good, "isEnabled": "yes"})  # a boolean in the spec
    assert contract.check_request(create, {}, {**good, "id": "prompt:has-a-colon"})  # id pattern
    store_update = contract.operation("POST", "/console/v1/param_stores/prompt:x")
    assert store_update is not None
    wrong = {"parameters": [{"name": "live", "ref_type": "static", "param_type": "string", "value": 3}]}
    assert contract.check_request(store_update, {}, wrong)
    version = contract.operation("POST", "/console/v1/prompts/abc/versions")
    assert version is not None
    assert contract.check_response(version, 201, {"message": "ok", "data": {"name": "version 1"}}) == []
    assert contract.check_response(version, 201, {"message": "ok", "data": {"name": 1}})
    assert contract.check_response(version, 200, {"message": "ok", "data": {"name": "version 1"}})
    assert contract.operation("GET", "/console/v1/prompts/abc/versions") is None


@pytest.mark.anyio
async def test_the_fake_records_and_refuses_a_request_outside_the_contract(fake: FakeStatsig) -> None:
    statuses: list[int] = []
    with (
        pytest.raises(AssertionError, match="outside Statsig's published contract"),
        run_fake_statsig(fake) as url,
    ):
        async with httpx.AsyncClient(base_url=url, headers={"STATSIG-API-KEY": fake.api_key}) as client:
            answer = await client.post("/console/v1/prompts", json={"name": "ok name", "tags": "not-a-list"})
        statuses.append(answer.status_code)
    assert statuses == [400]
    assert any("tags" in v for v in fake.violations)


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
async def test_a_write_to_a_down_statsig_fails_clearly(store: StatsigStore, fake: FakeStatsig) -> None:
    await store.create_prompt("offline", PromptMeta(), chat())
    fake.down = True

    with pytest.raises(
        UnavailableError, match=r"Statsig answered HTTP 503 .* gave up after 5 attempts"
    ) as caught:
        await store.publish_version("offline", 1, chat("two"))
    assert caught.value.code == "unavailable"


@pytest.mark.anyio
async def test_a_bad_key_is_forbidden_and_statsigs_message_is_kept(
    base_url: str, fake: FakeStatsig, clock: VirtualClock
) -> None:
    store = open_store(base_url, FakeStatsig(api_key="console-wrong-key-4242"), clock)
    try:
        with pytest.raises(ForbiddenError, match="only accepts an active CONSOLE key") as caught:
            await store.list_prompts(PromptQuery())
    finally:
        await store.aclose()
    assert "console-wrong-key-4242" not in str(caught.value.to_dict())


@pytest.mark.anyio
async def test_reads_are_served_stale_when_statsig_is_down(
    fake: FakeStatsig, base_url: str, clock: VirtualClock
) -> None:
    now = [0.0]
    cached = CachingStore(open_store(base_url, fake, clock), ttl=1.0, clock=lambda: now[0])
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


# -- quota (virtual time: the client and the fake share one clock) -------------------------------------


async def _burst(store: StatsigStore, prompts: int, versions_each: int) -> None:
    async def publish_all(name: str) -> None:
        await store.create_prompt(name, PromptMeta(), chat("v1"))
        for base in range(1, versions_each + 1):
            await store.publish_version(name, base, chat(f"v{base + 1}"))

    async with anyio.create_task_group() as group:
        for i in range(prompts):
            group.start_soon(publish_all, f"burst-{i}")


@pytest.mark.anyio
async def test_a_burst_of_300_writes_slows_down_under_429s_and_none_fails(
    base_url: str, fake: FakeStatsig, clock: VirtualClock
) -> None:
    # The client's mutation limiter is set far looser than Statsig's burst protection, so the fake really
    # answers 429s; nothing sleeps until the first one, so (in virtual time) the 101st mutation is refused.
    fake.quota, fake.retry_after = None, "auto"
    store = open_store(
        base_url,
        fake,
        clock,
        rate_limiter=MultiWindowLimiter(((10_000, 1.0),), clock=clock, sleep=clock.sleep),
        attempt_budget=MultiWindowLimiter(((100_000, 900.0),), clock=clock, sleep=clock.sleep),
    )
    try:
        await _burst(store, prompts=30, versions_each=10)
        for i in range(30):
            assert (await store.get_summary(f"burst-{i}")).latest_version == 11
    finally:
        await store.aclose()
    assert fake.throttled > 0  # real 429s were answered, and absorbed
    assert clock.now >= 10.0  # the client waited (virtually) as Statsig's Retry-After said


@pytest.mark.anyio
async def test_a_bulk_copy_with_the_default_limits_stays_inside_statsigs_quota_and_burst_protection(
    base_url: str, fake: FakeStatsig, clock: VirtualClock, store: StatsigStore
) -> None:
    # 305 writes (about 925 mutations and 1,550 attempts): more than the mutation tier allows in one
    # 15-minute window, so the client must spread them; the fake enforces Statsig's defaults.
    await _burst(store, prompts=5, versions_each=60)

    assert fake.throttled == 0
    refused = [(r.method, r.path) for r in fake.requests if r.status >= 400]
    assert sorted(refused) == [("GET", f"/console/v1/param_stores/prompt:burst-{i}") for i in range(5)]
    assert clock.now >= 900.0  # the writes were spread past one 15-minute window


@pytest.mark.anyio
async def test_when_the_quota_is_spent_requests_stop_instead_of_burning_retries(
    base_url: str, fake: FakeStatsig, clock: VirtualClock
) -> None:
    # Statsig counts rejected attempts too: retrying into a spent quota only prolongs it.
    fake.quota = (30, 900.0)
    store = open_store(
        base_url,
        fake,
        clock,
        attempt_budget=MultiWindowLimiter(((30, 900.0),), clock=clock, sleep=clock.sleep),
    )
    try:
        await store.create_prompt("budget", PromptMeta(), chat())
        reads = 0
        with pytest.raises(UnavailableError, match=r"request quota is spent.*not sent") as caught:
            for _ in range(100):
                await store.get_version("budget")
                reads += 1
    finally:
        await store.aclose()
    assert len(fake.requests) == 30  # not one attempt past the budget reached Statsig
    assert fake.throttled == 0
    assert caught.value.details["retry_after"] > 800
    assert caught.value.details["may_have_been_applied"] is False


@pytest.mark.anyio
async def test_a_429_is_retried_after_statsigs_retry_after(
    base_url: str, fake: FakeStatsig, clock: VirtualClock, store: StatsigStore
) -> None:
    await store.create_prompt("patient", PromptMeta(), chat())
    fake.retry_after = 7.0
    fake.throttle_next(1, where="GET")
    started = clock.now

    assert (await store.get_version("patient")).version == 1

    assert clock.now - started == pytest.approx(7.0)
    assert fake.throttled == 1


# -- SDK rendering ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sdk_warnings_name_what_statsigs_sdks_render_differently(
    store: StatsigStore, fake: FakeStatsig
) -> None:
    assert store.sdk_warnings(text("Hello {{name}} and {{ other }}")) == []
    include = store.sdk_warnings(text("{{> header}}\nHello {{name}}"))
    assert len(include) == 1 and "{{> header}}" in include[0] and "empty partial" in include[0]
    sections = store.sdk_warnings(chat("{{#items}}x{{/items}} {{! note}}"))
    assert [re.findall(r"'(\{\{.)'", w) for w in sections] == [["{{!"], ["{{#"], ["{{/"]]
    dotted = store.sdk_warnings(text("Hi {{user.name}}"))
    assert len(dotted) == 1 and "user.name" in dotted[0] and "paths" in dotted[0]
    default = store.sdk_warnings(
        text("Hi {{who}}", variables=[Variable(name="who", required=False, default="you")])
    )
    assert len(default) == 1 and "who" in default[0] and "empty string" in default[0]
    assert fake.requests == []  # pure: no request


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
    assert "retrying" in caplog.text
    assert fake.api_key not in caplog.text
    for error in errors:
        assert fake.api_key not in f"{error} {error.to_dict()} {error!r} {error.__cause__!r}"

"""The Store contract: what every backend must do, run once per backend (see conftest.py).

Names here suit every backend's rules (PostHog: ``[a-zA-Z0-9_-]+``; Statsig: 3 to 100 characters).
"""

from __future__ import annotations

import anyio
import pytest

from promptshelf.backends.base import Store
from promptshelf.errors import ConflictError, NotFoundError
from promptshelf.model import Message, PromptMeta, PromptQuery, Variable, VersionDraft

pytestmark = pytest.mark.anyio


def text(template: str, **fields: object) -> VersionDraft:
    return VersionDraft(type="text", template=template, **fields)  # type: ignore[arg-type]


async def make(store: Store, name: str, template: str = "Hello {{name}}", **fields: object) -> None:
    await store.create_prompt(name, PromptMeta(), text(template, **fields))


# -- create and read -------------------------------------------------------------------------------


async def test_a_created_prompt_reads_back_as_version_one(store: Store) -> None:
    created = await store.create_prompt(
        "greeting",
        PromptMeta(description="Greets a user", tags=["onboarding", "email"]),
        text(
            "Hello {{name}}, welcome to {{place}}",
            config={"model": "gpt-4o", "temperature": 0.2, "nested": {"a": [1, 2]}},
            variables=[Variable(name="name", description="who", enum=["Ann", "Bob"])],
            commit_message="first draft",
        ),
    )
    assert created.version == 1 and created.latest_version == 1
    read = await store.get_version("greeting")
    for version in (created, read):
        assert version.name == "greeting"
        assert version.type == "text"
        assert version.template == "Hello {{name}}, welcome to {{place}}"
        assert version.config == {"model": "gpt-4o", "temperature": 0.2, "nested": {"a": [1, 2]}}
        assert version.variables == [Variable(name="name", description="who", enum=["Ann", "Bob"])]
        assert version.commit_message == "first draft"
        assert version.description == "Greets a user"
        assert sorted(version.tags) == ["email", "onboarding"]
        assert version.created_at


async def test_a_chat_prompt_keeps_roles_and_order(store: Store) -> None:
    messages = [
        Message(role="system", content="You are {{tone}}."),
        Message(role="user", content="Summarise: {{text}}"),
        Message(role="assistant", content="Sure."),
    ]
    await store.create_prompt("summarise", PromptMeta(), VersionDraft(type="chat", messages=messages))
    read = await store.get_version("summarise", version=1)
    assert read.type == "chat"
    assert read.messages == messages
    assert read.template is None


async def test_unicode_and_whitespace_survive_exactly(store: Store) -> None:
    template = "  Grüße, {{name}}! 你好 🎉\n\ttabbed line\n\n"
    await make(store, "unicode-prompt", template)
    assert (await store.get_version("unicode-prompt")).template == template


async def test_a_spaced_placeholder_keeps_its_meaning(store: Store) -> None:
    # A store may write {{ name }} as {{name}} (the form vendors' SDKs fill in): the same variable.
    await make(store, "spaced", "Hi {{ name }}, {{name}}!")
    read = (await store.get_version("spaced")).template
    assert read in ("Hi {{ name }}, {{name}}!", "Hi {{name}}, {{name}}!")


async def test_an_unknown_name_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nothere"):
        await store.get_version("nothere")
    with pytest.raises(NotFoundError):
        await store.get_summary("nothere")
    with pytest.raises(NotFoundError):
        await store.list_versions("nothere", before_version=None, limit=10)


async def test_an_unknown_version_or_label_is_not_found(store: Store) -> None:
    await make(store, "greeting")
    with pytest.raises(NotFoundError):
        await store.get_version("greeting", version=2)
    with pytest.raises(NotFoundError):
        await store.get_version("greeting", label="staging")


async def test_creating_an_existing_name_is_a_conflict_and_changes_nothing(store: Store) -> None:
    await make(store, "greeting", "first")
    with pytest.raises(ConflictError):
        await make(store, "greeting", "second")
    read = await store.get_version("greeting")
    assert (read.version, read.template) == (1, "first")


# -- publishing ------------------------------------------------------------------------------------


async def test_publishing_adds_the_next_version_and_keeps_the_old_one(store: Store) -> None:
    await make(store, "greeting", "v1 text")
    published = await store.publish_version("greeting", 1, text("v2 text", commit_message="second"))
    assert (published.version, published.latest_version, published.template) == (2, 2, "v2 text")
    assert (await store.get_version("greeting", version=1)).template == "v1 text"
    assert (await store.get_version("greeting")).template == "v2 text"
    assert (await store.get_version("greeting", version=2)).commit_message == "second"
    assert (await store.get_version("greeting", version=1)).latest_version == 2


async def test_a_stale_base_version_is_a_conflict_carrying_the_current_version(store: Store) -> None:
    await make(store, "greeting", "v1")
    await store.publish_version("greeting", 1, text("v2"))
    with pytest.raises(ConflictError) as caught:
        await store.publish_version("greeting", 1, text("lost update"))
    assert caught.value.current_version == 2
    assert (await store.get_version("greeting")).template == "v2"
    assert (await store.get_summary("greeting")).latest_version == 2


async def test_publishing_to_an_unknown_name_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.publish_version("nothere", 1, text("x"))


async def test_concurrent_publishes_from_one_base_have_exactly_one_winner(store: Store) -> None:
    await make(store, "contested", "v1")
    outcomes: list[str] = []

    async def publish(index: int) -> None:
        try:
            await store.publish_version("contested", 1, text(f"writer {index}"))
            outcomes.append(f"won {index}")
        except ConflictError as exc:
            assert exc.current_version == 2
            outcomes.append("conflict")

    async with anyio.create_task_group() as group:
        for index in range(5):
            group.start_soon(publish, index)
    winners = [outcome for outcome in outcomes if outcome.startswith("won")]
    assert len(winners) == 1 and outcomes.count("conflict") == 4
    latest = await store.get_version("contested")
    assert latest.version == 2 and latest.template == f"writer {winners[0].split()[1]}"


async def test_the_type_may_change_between_versions(store: Store) -> None:
    await make(store, "shifting", "plain text")
    await store.publish_version(
        "shifting", 1, VersionDraft(type="chat", messages=[Message(role="user", content="now chat")])
    )
    assert (await store.get_version("shifting")).type == "chat"
    assert (await store.get_version("shifting", version=1)).type == "text"
    assert (await store.get_summary("shifting")).type == "chat"


async def test_publishing_with_meta_replaces_description_and_tags(store: Store) -> None:
    await store.create_prompt("tagged", PromptMeta(description="old", tags=["a"]), text("x"))
    await store.publish_version("tagged", 1, text("y"), PromptMeta(description="new", tags=["b", "c"]))
    summary = await store.get_summary("tagged")
    assert summary.description == "new" and sorted(summary.tags) == ["b", "c"]


async def test_publishing_without_meta_keeps_description_and_tags(store: Store) -> None:
    await store.create_prompt("tagged", PromptMeta(description="kept", tags=["a"]), text("x"))
    await store.publish_version("tagged", 1, text("y"))
    summary = await store.get_summary("tagged")
    assert summary.description == "kept" and summary.tags == ["a"]


# -- labels ----------------------------------------------------------------------------------------


async def test_labels_given_with_a_draft_point_at_the_new_version(store: Store) -> None:
    await store.create_prompt("labelled", PromptMeta(), text("v1", labels=["staging"]))
    await store.publish_version("labelled", 1, text("v2", labels=["canary"]))
    assert (await store.get_version("labelled", label="staging")).version == 1
    assert (await store.get_version("labelled", label="canary")).version == 2
    assert (await store.get_summary("labelled")).labels == {"canary": 2, "staging": 1}
    assert (await store.get_version("labelled", version=1)).labels == ["staging"]


async def test_moving_a_label_returns_where_it_was_and_never_creates_a_version(store: Store) -> None:
    await make(store, "labelled", "v1")
    await store.publish_version("labelled", 1, text("v2"))
    assert await store.set_label("labelled", "production", 2) is None
    assert await store.set_label("labelled", "production", 1) == 2
    assert (await store.get_version("labelled", label="production")).template == "v1"
    assert (await store.get_summary("labelled")).latest_version == 2


async def test_a_label_on_a_missing_version_is_not_found(store: Store) -> None:
    await make(store, "labelled")
    with pytest.raises(NotFoundError):
        await store.set_label("labelled", "production", 7)
    assert "production" not in (await store.get_summary("labelled")).labels


async def test_removing_a_label_returns_where_it_was(store: Store) -> None:
    await make(store, "labelled")
    await store.set_label("labelled", "staging", 1)
    assert await store.remove_label("labelled", "staging") == 1
    with pytest.raises(NotFoundError):
        await store.get_version("labelled", label="staging")
    with pytest.raises(NotFoundError):
        await store.remove_label("labelled", "staging")


# -- listing and history ---------------------------------------------------------------------------


async def test_listing_pages_cover_every_prompt_once_in_a_stable_order(store: Store) -> None:
    names = [f"prompt-{index:02d}" for index in range(7)]
    for name in reversed(names):
        await make(store, name)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await store.list_prompts(PromptQuery(limit=3, after=cursor))
        assert len(page.prompts) <= 3
        seen += [prompt.name for prompt in page.prompts]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == names and len(seen) == len(set(seen))
    again = await store.list_prompts(PromptQuery(limit=50))
    assert [prompt.name for prompt in again.prompts] == seen


async def test_prompts_created_between_pages_are_neither_skipped_nor_repeated(store: Store) -> None:
    for name in ("page-b", "page-d", "page-f", "page-h"):
        await make(store, name)
    first = await store.list_prompts(PromptQuery(limit=2))
    assert [prompt.name for prompt in first.prompts] == ["page-b", "page-d"]
    await make(store, "page-a")  # before the cursor: a later page must not bring it in
    await make(store, "page-e")  # after it: the next page must show it
    seen = [prompt.name for prompt in first.prompts]
    cursor = first.next_cursor
    while cursor is not None:
        page = await store.list_prompts(PromptQuery(limit=2, after=cursor))
        seen += [prompt.name for prompt in page.prompts]
        cursor = page.next_cursor
    assert seen == ["page-b", "page-d", "page-e", "page-f", "page-h"]


async def test_search_takes_wildcards_and_quotes_literally(store: Store) -> None:
    await store.create_prompt("percent", PromptMeta(description="100% sure"), text("x"))
    await store.create_prompt("quoted", PromptMeta(description='it\'s \\ "odd"'), text("y"))
    await store.create_prompt("under_score", PromptMeta(description="plain"), text("z"))
    await store.create_prompt("underXscore", PromptMeta(description="plain"), text("w"))

    async def search(needle: str) -> list[str]:
        page = await store.list_prompts(PromptQuery(search=needle))
        return sorted(prompt.name for prompt in page.prompts)

    assert await search("%") == ["percent"]
    assert await search("r_s") == ["under_score"]
    assert await search("'s \\ \"") == ["quoted"]
    assert await search("*") == []


async def test_a_listing_carries_metadata_of_the_latest_version(store: Store) -> None:
    await store.create_prompt(
        "listed",
        PromptMeta(description="d", tags=["t1"]),
        text("Hi {{who}}", variables=[Variable(name="mood")], labels=["staging"]),
    )
    await store.publish_version("listed", 1, text("Bye {{who}} {{when}}"))
    (summary,) = (await store.list_prompts(PromptQuery())).prompts
    assert summary.name == "listed" and summary.latest_version == 2 and summary.type == "text"
    assert summary.description == "d" and summary.tags == ["t1"]
    assert summary.labels == {"staging": 1}
    assert summary.variables == ["who", "when"]
    assert summary.updated_at


async def test_search_matches_name_or_description_case_insensitively(store: Store) -> None:
    await store.create_prompt("welcome-email", PromptMeta(), text("x"))
    await store.create_prompt("farewell", PromptMeta(description="Sent after the EMAIL is closed"), text("y"))
    await store.create_prompt("unrelated", PromptMeta(), text("z"))
    found = await store.list_prompts(PromptQuery(search="Email"))
    assert sorted(prompt.name for prompt in found.prompts) == ["farewell", "welcome-email"]


async def test_listing_filters_by_tag_and_by_label(store: Store) -> None:
    await store.create_prompt("first", PromptMeta(tags=["red"]), text("x", labels=["production"]))
    await store.create_prompt("second", PromptMeta(tags=["blue"]), text("y"))
    by_tag = await store.list_prompts(PromptQuery(tag="red"))
    by_label = await store.list_prompts(PromptQuery(label="production"))
    assert [prompt.name for prompt in by_tag.prompts] == ["first"]
    assert [prompt.name for prompt in by_label.prompts] == ["first"]


async def test_history_is_newest_first_and_pages_with_before_version(store: Store) -> None:
    await make(store, "history", "v1", commit_message="one")
    for version in range(1, 5):
        await store.publish_version(
            "history", version, text(f"v{version + 1}", commit_message=f"m{version + 1}")
        )
    await store.set_label("history", "production", 3)
    first = await store.list_versions("history", before_version=None, limit=2)
    assert [v.version for v in first.versions] == [5, 4] and first.has_more
    second = await store.list_versions("history", before_version=4, limit=2)
    assert [v.version for v in second.versions] == [3, 2] and second.has_more
    assert second.versions[0].labels == ["production"]
    assert second.versions[0].commit_message == "m3"
    last = await store.list_versions("history", before_version=2, limit=2)
    assert [v.version for v in last.versions] == [1] and not last.has_more


# -- archive ---------------------------------------------------------------------------------------


async def test_archiving_hides_the_prompt_and_frees_the_name(store: Store) -> None:
    await make(store, "retired", "old v1")
    await store.publish_version("retired", 1, text("old v2"))
    assert await store.archive_prompt("retired") == 2
    with pytest.raises(NotFoundError):
        await store.get_version("retired")
    assert "retired" not in [prompt.name for prompt in (await store.list_prompts(PromptQuery())).prompts]
    await make(store, "retired", "reborn")
    reborn = await store.get_version("retired")
    assert (reborn.version, reborn.template) == (1, "reborn")


async def test_archiving_an_unknown_prompt_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.archive_prompt("nothere")


# -- change detection ------------------------------------------------------------------------------


async def test_poll_changes_names_exactly_the_prompts_written_since_the_token(store: Store) -> None:
    # Every backend can name what changed since a token it handed out ("None", can't tell, is for a
    # token it no longer knows); a store that always answered None would make every poller re-read all.
    for name in ("quiet", "published", "labelled", "unlabelled", "archived", "untouched"):
        await make(store, name, labels=["staging"] if name == "unlabelled" else [])
    start = await store.poll_changes(None)
    assert start.names == frozenset()
    unchanged = await store.poll_changes(start.token)
    assert unchanged.names == frozenset()

    await make(store, "created")
    await store.publish_version("published", 1, text("Hello again {{name}}"))
    await store.set_label("labelled", "staging", 1)
    await store.remove_label("unlabelled", "staging")
    await store.archive_prompt("archived")
    changed = await store.poll_changes(start.token)
    assert changed.names == frozenset({"created", "published", "labelled", "unlabelled", "archived"})
    assert changed.token != start.token

    after = await store.poll_changes(changed.token)
    assert after.names == frozenset()
    await store.set_label("quiet", "staging", 1)
    assert (await store.poll_changes(changed.token)).names == frozenset({"quiet"})


async def test_sdk_warnings_are_strings_and_write_nothing(store: Store) -> None:
    draft = VersionDraft(type="text", template="Hi {{ name }}\n{{> footer}}")
    warnings = store.sdk_warnings(draft)
    assert isinstance(warnings, list) and all(isinstance(w, str) and w for w in warnings)
    assert (await store.list_prompts(PromptQuery())).prompts == []

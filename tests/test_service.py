"""The service layer: every rule of DESIGN.md, checked once for all backends (over a real SQLite file)."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import ConflictError, ForbiddenError, InvalidArgumentError, NotFoundError
from promptshelf.model import Edit, Message, PromptMeta, Variable, VersionDraft
from promptshelf.service import Policy, PromptService
from promptshelf.template import MAX_EDITS, MAX_INCLUDES

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    yield store
    await store.aclose()


@pytest.fixture
def service(store: SQLiteStore) -> PromptService:
    """As an MCP caller sees it: untrusted, default label ``latest``, ``production`` protected."""
    return PromptService(store, Policy(actor="agent"))


@pytest.fixture
def operator(store: SQLiteStore) -> PromptService:
    """As the CLI sees it: trusted."""
    return PromptService(store, Policy(trusted=True, actor="cli:ops"))


async def assert_nothing_stored(service: PromptService) -> None:
    assert (await service.list_prompts()).prompts == []


class TestNames:
    @pytest.mark.parametrize(
        "name", ["", "-leading-dash", "a//b", "a/../b", "trailing/", "sp ace", "semi;colon", "x" * 256]
    )
    async def test_a_bad_name_is_refused_before_anything_is_stored(
        self, service: PromptService, name: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="name"):
            await service.create_prompt(name, template="x")
        await assert_nothing_stored(service)

    async def test_folders_and_dots_are_fine(self, service: PromptService) -> None:
        created = await service.create_prompt("team/support.v2/reply-short", template="x")
        assert created.name == "team/support.v2/reply-short"


class TestSelectors:
    async def test_version_and_label_together_are_refused(self, service: PromptService) -> None:
        await service.create_prompt("greet", template="hi")
        with pytest.raises(InvalidArgumentError, match="not both"):
            await service.get_prompt("greet", version=1, label="latest")

    async def test_a_version_below_one_is_refused(self, service: PromptService) -> None:
        with pytest.raises(InvalidArgumentError, match="version must be at least 1"):
            await service.get_prompt("greet", version=0)

    async def test_the_default_label_applies_when_no_selector_is_given(self, store: SQLiteStore) -> None:
        operator = PromptService(store, Policy(trusted=True))
        await operator.create_prompt("greet", template="v1", labels=["production"])
        await operator.update_prompt("greet", base_version=1, template="v2")
        pinned = PromptService(store, Policy(default_label="production"))
        assert (await pinned.get_prompt("greet")).template == "v1"
        assert (await pinned.get_prompt("greet", label="latest")).template == "v2"
        await operator.create_prompt("unlabelled", template="x")
        with pytest.raises(NotFoundError, match="no label 'production'"):
            await pinned.get_prompt("unlabelled")

    async def test_labels_of_a_document_include_latest_only_on_the_newest(
        self, operator: PromptService
    ) -> None:
        await operator.create_prompt("greet", template="v1", labels=["production"])
        await operator.update_prompt("greet", base_version=1, template="v2")
        assert (await operator.get_prompt("greet", version=1)).labels == ["production"]
        assert (await operator.get_prompt("greet")).labels == ["latest"]


class TestRendering:
    async def test_strict_rendering_names_every_missing_variable(self, service: PromptService) -> None:
        await service.create_prompt("mail", template="Dear {{name}}, re {{topic}}")
        with pytest.raises(InvalidArgumentError, match="missing required variables: name, topic"):
            await service.render_prompt("mail", {})

    async def test_an_enum_violation_is_an_error(self, service: PromptService) -> None:
        await service.create_prompt(
            "mail", template="{{tone}}", variables=[Variable(name="tone", enum=["formal", "casual"])]
        )
        with pytest.raises(InvalidArgumentError, match="'rude'"):
            await service.render_prompt("mail", {"tone": "rude"})

    async def test_unused_variables_are_reported_not_refused(self, service: PromptService) -> None:
        await service.create_prompt("mail", template="Hi {{name}}")
        rendered = await service.render_prompt("mail", {"name": "Ann", "colour": "red"})
        assert (rendered.text, rendered.unused, rendered.version, rendered.source) == (
            "Hi Ann",
            ["colour"],
            1,
            "store",
        )

    async def test_lenient_rendering_leaves_unknown_placeholders(self, service: PromptService) -> None:
        await service.create_prompt("mail", template="Hi {{name}} {{ other }}")
        rendered = await service.render_prompt("mail", {"name": "Ann"}, strict=False)
        assert rendered.text == "Hi Ann {{ other }}"

    async def test_values_that_would_render_past_the_size_limit_are_refused(
        self, service: PromptService
    ) -> None:
        # 250 KB of template is within the limits; 50,000 placeholders of a 5,000-character value is 250 MB.
        await service.create_prompt("pad", template="{{a}}" * 50_000)
        with pytest.raises(InvalidArgumentError, match="the limit is 2,000,000: give shorter values"):
            await service.render_prompt("pad", {"a": "x" * 5_000})
        assert (await service.render_prompt("pad", {"a": "xy"})).text == "xy" * 50_000

    async def test_chat_prompts_render_every_message(self, service: PromptService) -> None:
        await service.create_prompt(
            "chat",
            messages=[Message(role="system", content="Be {{tone}}"), Message(role="user", content="{{q}}")],
            config={"model": "m"},
        )
        rendered = await service.render_prompt("chat", {"tone": "brief", "q": "Why?"})
        assert rendered.messages == [
            Message(role="system", content="Be brief"),
            Message(role="user", content="Why?"),
        ]
        assert rendered.config == {"model": "m"} and rendered.text is None

    async def test_includes_render_with_their_variables_and_provenance(self, operator: PromptService) -> None:
        await operator.create_prompt(
            "footer", template="-- {{signer}}", variables=[Variable(name="signer", default="The team")]
        )
        await operator.update_prompt("footer", base_version=1, template="== {{signer}}")
        await operator.set_label("footer", "production", 1)
        await operator.create_prompt("mail", template="Hi {{name}}\n{{> footer@production}}")
        doc = await operator.get_prompt("mail")
        assert doc.template == "Hi {{name}}\n-- {{signer}}"
        assert [v.name for v in doc.variables] == ["name", "signer"]
        assert doc.includes == ["footer@1"]
        raw = await operator.get_prompt("mail", resolve_includes=False)
        assert raw.template == "Hi {{name}}\n{{> footer@production}}" and raw.includes == []
        rendered = await operator.render_prompt("mail", {"name": "Ann"})
        assert rendered.text == "Hi Ann\n-- The team" and rendered.includes == ["footer@1"]

    async def test_a_prompt_fetched_again_renders_from_its_current_version(
        self, service: PromptService
    ) -> None:
        await service.create_prompt("greet", template="Hi {{name}}")
        first = await service.resolve("greet")
        first.variables.append(Variable(name="mutated"))  # a caller's copy: the next fetch is unaffected
        assert [v.name for v in (await service.resolve("greet")).variables] == ["name"]
        await service.update_prompt("greet", base_version=1, template="Hi {{name}} from {{place}}")
        again = await service.resolve("greet")
        assert (again.version.version, [v.name for v in again.variables]) == (2, ["name", "place"])
        assert (await service.render_prompt("greet", {"name": "Ann", "place": "Oslo"})).text == (
            "Hi Ann from Oslo"
        )

    async def test_a_document_fetched_again_shows_every_change_to_its_version(
        self, service: PromptService
    ) -> None:
        await service.create_prompt("greet", template="Hi {{name}}")
        first = await service.get_prompt("greet")
        assert await service.get_prompt("greet") == first
        assert first.json_text == json.dumps(first.to_json(), ensure_ascii=False)
        await service.set_label("greet", "staging", 1)
        labelled = await service.get_prompt("greet")
        assert (labelled.labels, first.labels) == (["staging", "latest"], ["latest"])
        await service.update_prompt("greet", base_version=1, template="Hello {{name}} in {{place}}")
        second = await service.get_prompt("greet")
        assert (second.version, second.template, [v.name for v in second.variables]) == (
            2,
            "Hello {{name}} in {{place}}",
            ["name", "place"],
        )
        assert '"version": 2' in second.json_text
        assert (await service.get_prompt("greet", version=1)).labels == ["staging"]

    async def test_versions_fetched_are_not_kept_alive_by_the_service(self, service: PromptService) -> None:
        await service.create_prompt("greet", template="Hi {{name}}")
        resolved = await service.resolve("greet")
        version = weakref.ref(resolved.version)
        document = weakref.ref(await service.get_prompt("greet"))
        del resolved
        await service.create_prompt("other", template="x")  # a commit: the store's read cache lets go
        gc.collect()
        assert (version(), document()) == (None, None)

    async def test_an_include_of_a_missing_prompt_names_the_include(self, service: PromptService) -> None:
        await service.create_prompt("mail", template="{{> nowhere}}")
        with pytest.raises(NotFoundError, match=r"include \{\{> nowhere\}\} in prompt 'mail'"):
            await service.render_prompt("mail", {})

    async def test_a_chat_prompt_cannot_be_included(self, service: PromptService) -> None:
        await service.create_prompt("chat", messages=[Message(role="user", content="x")])
        await service.create_prompt("mail", template="{{> chat}}")
        with pytest.raises(InvalidArgumentError, match="is a chat prompt"):
            await service.get_prompt("mail")

    async def test_content_that_would_include_itself_is_refused_and_not_stored(
        self, service: PromptService
    ) -> None:
        await service.create_prompt("a", template="{{> b}}")
        await service.create_prompt("b", template="plain")
        with pytest.raises(InvalidArgumentError, match="include cycle: b -> a -> b"):
            await service.update_prompt("b", base_version=1, template="{{> a}}")
        assert (await service.get_prompt("b")).version == 1

    async def test_an_include_met_twice_is_listed_once(self, service: PromptService) -> None:
        await service.create_prompt("sig", template="-- me")
        await service.create_prompt("mail", template="{{> sig}} {{> sig@1}} {{> sig}}")
        doc = await service.get_prompt("mail")
        assert (doc.template, doc.includes) == ("-- me -- me -- me", ["sig@1"])

    async def test_an_include_bomb_is_refused_at_write_time_naming_the_limit(
        self, service: PromptService
    ) -> None:
        await service.create_prompt("l3", template="word " * 40)
        await service.create_prompt("l2", template="{{> l3}} " * 10)
        await service.create_prompt("l1", template="{{> l2}} " * 10)  # 110 includes: fine
        with pytest.raises(
            InvalidArgumentError, match=f"prompt 'l0' expands more than {MAX_INCLUDES} includes"
        ):
            await service.create_prompt("l0", template="{{> l1}} " * 10)  # 1,110
        with pytest.raises(InvalidArgumentError, match="the limit is 200"):
            await service.update_prompt("l1", base_version=1, template="{{> l2}} " * 19)
        assert [p.name for p in (await service.list_prompts()).prompts] == ["l1", "l2", "l3"]
        assert (await service.get_prompt("l1")).latest_version == 1

    async def test_an_include_bomb_stored_before_the_limits_is_a_clear_error_when_read(
        self, store: SQLiteStore, service: PromptService
    ) -> None:
        # Five levels of ten includes: 111,110 includes and 22 MB if expanded.
        for level, template in enumerate(
            ["{{> l1}} " * 10, "{{> l2}} " * 10, "{{> l3}} " * 10, "{{> l4}} " * 10]
        ):
            await store.create_prompt(f"l{level}", PromptMeta(), VersionDraft(type="text", template=template))
        await store.create_prompt("l4", PromptMeta(), VersionDraft(type="text", template="word " * 40))
        for read in (service.get_prompt("l0"), service.render_prompt("l0")):
            with pytest.raises(InvalidArgumentError, match="'l0' expands more than 200 includes"):
                await read
        assert (await service.get_prompt("l0", resolve_includes=False)).template == "{{> l1}} " * 10

    async def test_a_prompt_too_long_with_its_includes_is_refused_at_write_time(
        self, service: PromptService
    ) -> None:
        await service.create_prompt("chunk", template="x" * 50_000)
        await service.create_prompt("page", template="{{> chunk}}" * 10)
        with pytest.raises(
            InvalidArgumentError, match="more than 2,000,000 characters long with its includes"
        ):
            await service.create_prompt("book", messages=[Message(role="user", content="{{> page}}")] * 5)
        assert [p.name for p in (await service.list_prompts()).prompts] == ["chunk", "page"]

    async def test_an_unclosed_include_followed_by_blanks_is_text_and_cheap(
        self, service: PromptService
    ) -> None:
        # The regular expression this replaced took about 30 s per scan for 4,000 blanks, cubically more
        # beyond; 20,000 would have taken hours on each write and each read.
        template = "Hi {{name}} {{> " + " " * 20_000
        await service.create_prompt("p", template=template)
        assert (await service.get_prompt("p")).template == template
        assert (await service.render_prompt("p", {"name": "Ann"})).text == template.replace("{{name}}", "Ann")


class TestCreate:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({}, "'template'.*or 'messages'"),
            ({"template": "x", "messages": [Message(role="user", content="y")]}, "not both"),
            ({"template": "   "}, "template is empty"),
            ({"messages": []}, "at least one message"),
            ({"template": "x", "commit_message": "m" * 401}, "commit_message is 401 characters"),
            ({"template": "x", "description": "d" * 1001}, "description is 1001 characters"),
            ({"template": "x", "variables": [Variable(name="a"), Variable(name="a")]}, "declared twice"),
            ({"template": "x", "variables": [Variable(name="9a")]}, "invalid variable name"),
            (
                {"template": "x", "variables": [Variable(name="a", enum=["b"], default="c")]},
                "not one of its enum",
            ),
            ({"template": "x", "labels": ["Bad Label"]}, "invalid label"),
            ({"template": "x", "labels": ["latest"]}, "reserved"),
            ({"template": "x", "tags": [""]}, "invalid tag"),
            ({"template": "{{> bad name}}"}, "invalid prompt name"),
        ],
    )
    async def test_bad_input_is_refused_with_a_clear_error_and_nothing_stored(
        self, service: PromptService, fields: dict[str, object], message: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            await service.create_prompt("p", **fields)  # type: ignore[arg-type]
        await assert_nothing_stored(service)

    async def test_a_created_prompt_records_who_made_it(self, service: PromptService) -> None:
        doc = await service.create_prompt("p", template="Hi {{x}}", commit_message="init", tags=["a", "a"])
        assert (doc.version, doc.created_by, doc.commit_message, doc.tags) == (1, "agent", "init", ["a"])
        assert [v.name for v in doc.variables] == ["x"]


class TestProtectedLabels:
    async def test_an_mcp_caller_cannot_move_a_protected_label(self, service: PromptService) -> None:
        await service.create_prompt("p", template="x")
        with pytest.raises(ForbiddenError, match="'production' is protected"):
            await service.set_label("p", "production", 1)
        with pytest.raises(ForbiddenError):
            await service.create_prompt("q", template="x", labels=["production"])
        with pytest.raises(ForbiddenError):
            await service.update_prompt("p", base_version=1, template="y", labels=["production"])
        assert (await service.get_prompt("p")).version == 1

    async def test_nor_remove_it(self, operator: PromptService, service: PromptService) -> None:
        await operator.create_prompt("p", template="x", labels=["production"])
        with pytest.raises(ForbiddenError):
            await service.remove_label("p", "production")
        assert (await operator.get_prompt("p", label="production")).version == 1

    async def test_the_operator_may_allow_it(self, store: SQLiteStore) -> None:
        allowed = PromptService(store, Policy(allowed_labels=frozenset({"production"})))
        await allowed.create_prompt("p", template="x")
        assert (await allowed.set_label("p", "production", 1)).version == 1

    async def test_other_labels_move_freely_and_latest_never(self, service: PromptService) -> None:
        await service.create_prompt("p", template="x")
        await service.update_prompt("p", base_version=1, template="y")
        assert (await service.set_label("p", "staging", 2)).previous_version is None
        move = await service.set_label("p", "staging", 1)
        assert (move.version, move.previous_version) == (1, 2)
        assert (await service.remove_label("p", "staging")).previous_version == 1
        with pytest.raises(InvalidArgumentError, match="reserved"):
            await service.set_label("p", "latest", 1)


class TestUpdate:
    async def test_exactly_one_kind_of_content_is_required(self, service: PromptService) -> None:
        await service.create_prompt("p", template="x")
        with pytest.raises(InvalidArgumentError, match="got none"):
            await service.update_prompt("p", base_version=1)
        with pytest.raises(InvalidArgumentError, match="got template, edits"):
            await service.update_prompt("p", base_version=1, template="y", edits=[Edit(old="x", new="y")])

    async def test_a_stale_base_version_is_a_conflict_and_nothing_is_written(
        self, service: PromptService
    ) -> None:
        await service.create_prompt("p", template="v1")
        await service.update_prompt("p", base_version=1, template="v2")
        with pytest.raises(ConflictError) as caught:
            await service.update_prompt("p", base_version=1, template="lost")
        assert caught.value.current_version == 2
        with pytest.raises(ConflictError) as ahead:
            await service.update_prompt("p", base_version=9, template="from the future")
        assert ahead.value.current_version == 2
        assert (await service.get_prompt("p")).template == "v2"

    async def test_a_stale_base_is_a_conflict_before_any_edit_is_tried(self, service: PromptService) -> None:
        # None of these edits could apply; a stale base answers conflict without trying them.
        await service.create_prompt("p", template="v1")
        await service.update_prompt("p", base_version=1, template="v2")
        edits = [Edit(old="absent", new="x")] * MAX_EDITS
        with pytest.raises(ConflictError, match="changed since version 1 was read") as caught:
            await service.update_prompt("p", base_version=1, edits=edits)
        assert caught.value.current_version == 2
        with pytest.raises(InvalidArgumentError, match="edit 0: the text to replace does not occur"):
            await service.update_prompt("p", base_version=2, edits=edits)
        assert (await service.get_prompt("p")).template == "v2"

    async def test_more_edits_than_the_limit_are_refused_and_nothing_written(
        self, service: PromptService
    ) -> None:
        await service.create_prompt("p", template=" ".join(f"w{i}." for i in range(MAX_EDITS + 1)))
        edits = [Edit(old=f"w{i}.", new=f"v{i}.") for i in range(MAX_EDITS + 1)]
        with pytest.raises(InvalidArgumentError, match="101 edits in one update; the limit is 100"):
            await service.update_prompt("p", base_version=1, edits=edits)
        assert (await service.get_prompt("p")).latest_version == 1
        doc = await service.update_prompt("p", base_version=1, edits=edits[:MAX_EDITS])
        assert doc.template is not None and doc.template.endswith("v99. w100.")

    async def test_edits_apply_to_the_version_read(self, service: PromptService) -> None:
        await service.create_prompt("p", template="Hello {{name}}, bye")
        doc = await service.update_prompt("p", base_version=1, edits=[Edit(old="bye", new="see you")])
        assert (doc.version, doc.template) == (2, "Hello {{name}}, see you")

    @pytest.mark.parametrize(("old", "problem"), [("absent", "does not occur"), ("l", "occurs 2 times")])
    async def test_an_edit_that_does_not_match_exactly_once_writes_nothing(
        self, service: PromptService, old: str, problem: str
    ) -> None:
        await service.create_prompt("p", template="Hello")
        with pytest.raises(InvalidArgumentError, match=f"edit 1: .*{problem}"):
            await service.update_prompt(
                "p", base_version=1, edits=[Edit(old="H", new="J"), Edit(old=old, new="x")]
            )
        assert (await service.get_prompt("p")).latest_version == 1

    async def test_edits_work_on_chat_messages(self, service: PromptService) -> None:
        await service.create_prompt(
            "c", messages=[Message(role="system", content="Be terse"), Message(role="user", content="{{q}}")]
        )
        doc = await service.update_prompt("c", base_version=1, edits=[Edit(old="terse", new="kind")])
        assert doc.messages == [
            Message(role="system", content="Be kind"),
            Message(role="user", content="{{q}}"),
        ]

    async def test_fields_not_given_carry_over_and_given_ones_replace(self, service: PromptService) -> None:
        await service.create_prompt(
            "p",
            template="x {{a}}",
            config={"model": "m1"},
            variables=[Variable(name="a", description="A")],
            description="desc",
            tags=["t"],
        )
        doc = await service.update_prompt("p", base_version=1, template="y {{a}}")
        assert (doc.config, doc.variables[0].description, doc.description, doc.tags) == (
            {"model": "m1"},
            "A",
            "desc",
            ["t"],
        )
        doc = await service.update_prompt(
            "p", base_version=2, template="z", config={}, tags=[], description="new"
        )
        assert (doc.config, doc.tags, doc.description) == ({}, [], "new")


class TestListingsAndHistory:
    @pytest.mark.parametrize("limit", [0, 201])
    async def test_list_limit_is_bounded(self, service: PromptService, limit: int) -> None:
        with pytest.raises(InvalidArgumentError, match="limit must be from 1 to 200"):
            await service.list_prompts(limit=limit)

    @pytest.mark.parametrize("limit", [0, 101])
    async def test_history_limit_is_bounded(self, service: PromptService, limit: int) -> None:
        with pytest.raises(InvalidArgumentError, match="limit must be from 1 to 100"):
            await service.list_versions("p", limit=limit)

    async def test_a_forged_cursor_is_a_clear_error(self, service: PromptService) -> None:
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            await service.list_prompts(cursor="not-a-cursor")

    async def test_history_shows_who_and_why(self, service: PromptService) -> None:
        await service.create_prompt("p", template="1", commit_message="first")
        await service.update_prompt("p", base_version=1, template="2", commit_message="second")
        listing = await service.list_versions("p")
        assert [(v.version, v.commit_message, v.created_by) for v in listing.versions] == [
            (2, "second", "agent"),
            (1, "first", "agent"),
        ]


class TestDiff:
    async def test_diff_reports_text_variables_and_config(self, service: PromptService) -> None:
        await service.create_prompt(
            "p", template="Hi {{name}}\nBye", config={"model": "a", "temperature": 0.1}
        )
        await service.update_prompt(
            "p", base_version=1, template="Hi {{name}}\nSee you {{when}}", config={"model": "b", "top_p": 1}
        )
        diff = await service.diff_versions("p", 1)
        assert diff.to_version == 2
        assert "-Bye\n+See you {{when}}\n" in diff.unified_diff
        assert (diff.variables_added, diff.variables_removed) == (["when"], [])
        assert [(c.key, c.before, c.after) for c in diff.config_changes] == [
            ("model", "a", "b"),
            ("temperature", 0.1, None),
            ("top_p", None, 1),
        ]

    async def test_diff_of_a_missing_version_is_not_found(self, service: PromptService) -> None:
        await service.create_prompt("p", template="x")
        with pytest.raises(NotFoundError):
            await service.diff_versions("p", 1, 5)


class TestArchive:
    async def test_archived_prompts_vanish_and_the_name_starts_over(self, service: PromptService) -> None:
        await service.create_prompt("p", template="old")
        await service.update_prompt("p", base_version=1, template="old 2")
        assert (await service.archive_prompt("p")).archived_versions == 2
        with pytest.raises(NotFoundError):
            await service.get_prompt("p")
        assert (await service.list_prompts()).prompts == []
        archived = await service.list_prompts(include_archived=True)
        assert [(p.name, p.archived) for p in archived.prompts] == [("p", True)]
        assert (await service.create_prompt("p", template="new")).version == 1


class WarningStore(SQLiteStore):
    """A store whose vendor SDK cannot render includes (as PostHog's cannot)."""

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        return [f"includes not rendered by the SDK: {part}" for part in draft.text_parts if "{{>" in part]


async def test_writes_carry_the_stores_sdk_warnings_and_reads_never_do(tmp_path: Path) -> None:
    store = await WarningStore.open(tmp_path / "warned.db")
    try:
        service = PromptService(store, Policy(trusted=True))
        await service.create_prompt("footer", template="Bye")
        plain = await service.create_prompt("letter", template="Hi")
        assert plain.warnings == [] and "warnings" not in plain.to_json()
        updated = await service.update_prompt("letter", base_version=1, template="Hi\n{{> footer}}")
        assert updated.warnings == ["includes not rendered by the SDK: Hi\n{{> footer}}"]
        assert updated.to_json()["warnings"] == updated.warnings
        assert (await service.get_prompt("letter")).warnings == []
    finally:
        await store.aclose()


async def test_sqlite_writes_have_no_sdk_warnings(service: PromptService) -> None:
    await service.create_prompt("footer", template="Bye")
    created = await service.create_prompt("letter", template="Hi {{ name }}\n{{> footer}}")
    assert created.warnings == []

"""Inputs at the edges of the service (README, "Limits"): out-of-range numbers, oversized content, values
JSON cannot carry faithfully, and searches that would fool the store. Each is an ``InvalidArgumentError``
naming the field (and the limit), and nothing is stored; over a real SQLite file."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from promptshelf import limits
from promptshelf.backends.sqlite import SQLiteStore
from promptshelf.errors import InvalidArgumentError
from promptshelf.model import Message, PromptMeta, Variable, VersionDraft
from promptshelf.service import Policy, PromptService

pytestmark = pytest.mark.anyio

HUGE = [2**31, 2**63 - 1, 2**63, 2**64, 10**30]
"""Versions no prompt can have; 2^63 and beyond do not fit SQLite's integers."""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "prompts.db")
    yield store
    await store.aclose()


@pytest.fixture
async def service(store: SQLiteStore) -> PromptService:
    service = PromptService(store, Policy(trusted=True, actor="test"))
    await service.create_prompt("p", template="v1 {{x}}", labels=["staging"])
    return service


async def versions_of(service: PromptService, name: str = "p") -> list[int]:
    return [info.version for info in (await service.list_versions(name)).versions]


class TestVersions:
    @pytest.mark.parametrize("version", HUGE)
    async def test_every_version_argument_is_range_checked(
        self, service: PromptService, version: int
    ) -> None:
        calls: dict[str, Any] = {
            "version": service.get_prompt("p", version=version),
            "version ": service.render_prompt("p", {"x": 1}, version=version),
            "version  ": service.set_label("p", "staging", version),
            "base_version": service.update_prompt("p", base_version=version, template="v2"),
            "before_version": service.list_versions("p", before_version=version),
            "from_version": service.diff_versions("p", version),
            "to_version": service.diff_versions("p", 1, version),
        }
        for argument, call in calls.items():
            with pytest.raises(InvalidArgumentError, match=f"must be at most {limits.MAX_VERSION}") as raised:
                await call
            assert raised.value.details["argument"] == argument.strip()
        assert await versions_of(service) == [1]

    async def test_the_largest_version_is_simply_not_found(self, service: PromptService) -> None:
        with pytest.raises(Exception, match="has no version") as raised:
            await service.get_prompt("p", version=limits.MAX_VERSION)
        assert raised.value.code == "not_found"  # type: ignore[attr-defined]

    @pytest.mark.parametrize("version", HUGE)
    async def test_an_include_of_a_version_out_of_range_is_refused_at_write(
        self, service: PromptService, version: int
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=f"include .*must be at most {limits.MAX_VERSION}"):
            await service.create_prompt("q", template=f"{{{{> p@{version}}}}}")
        assert [s.name for s in (await service.list_prompts()).prompts] == ["p"]

    async def test_a_stored_include_out_of_range_is_an_error_naming_it_at_read(
        self, store: SQLiteStore, service: PromptService
    ) -> None:
        # As stored before the rule: written past the service, as an older promptshelf would have.
        await store.create_prompt(
            "old", PromptMeta(), VersionDraft(type="text", template=f"{{{{> p@{2**63}}}}}")
        )
        with pytest.raises(
            InvalidArgumentError, match=r"include \{\{> p@9223372036854775808\}\} in prompt 'old'"
        ):
            await service.render_prompt("old", {})

    async def test_a_version_too_long_to_print_is_described_by_its_size(self, service: PromptService) -> None:
        with pytest.raises(
            InvalidArgumentError, match="must be at most 2147483647, not a 4153-hex-digit number"
        ):
            await service.get_prompt("p", version=10**5000)

    @pytest.mark.parametrize("value", [True, 1.0, "1"])
    async def test_a_version_must_be_an_integer(self, service: PromptService, value: Any) -> None:
        with pytest.raises(InvalidArgumentError, match="version must be an integer"):
            await service.get_prompt("p", version=value)

    def test_a_version_written_in_digits_is_read_without_converting_thousands_of_them(self) -> None:
        assert limits.parse_version("0042") == 42
        with pytest.raises(InvalidArgumentError, match=r"at most 2147483647, not 1" + "0" * 29 + r"\.\.\.: "):
            limits.parse_version("1" + "0" * 5000)  # int() refuses more than 4300 digits with a ValueError
        with pytest.raises(InvalidArgumentError, match="at least 1"):
            limits.parse_version("000")


class TestCursors:
    @pytest.mark.parametrize(
        "position",
        [
            '["p", 1e20]',
            '["p", Infinity]',
            '["p", NaN]',
            '["p", 1.5]',
            '["p", true]',
            '["p", -1]',
            '["p", 9223372036854775808]',
            '["\\ud800", 1]',
            "[1, 1]",
            '["p"]',
            '{"a": 1}',
            '"p"',
            "[" * 5000,
        ],
    )
    async def test_a_forged_cursor_is_an_invalid_argument(
        self, service: PromptService, position: str
    ) -> None:
        cursor = base64.urlsafe_b64encode(position.encode()).decode()
        with pytest.raises(InvalidArgumentError, match="invalid cursor") as raised:
            await service.list_prompts(cursor=cursor)
        assert raised.value.details["argument"] == "cursor"

    @pytest.mark.parametrize("cursor", ["\ud800", "é", "not base64!", ""])
    async def test_a_cursor_that_is_not_base64_is_an_invalid_argument(
        self, service: PromptService, cursor: str
    ) -> None:
        if not cursor:  # an empty cursor means the first page
            assert [s.name for s in (await service.list_prompts(cursor=cursor)).prompts] == ["p"]
            return
        with pytest.raises(InvalidArgumentError, match="invalid cursor"):
            await service.list_prompts(cursor=cursor)

    async def test_a_real_cursor_still_pages(self, service: PromptService) -> None:
        await service.create_prompt("q", template="x")
        first = await service.list_prompts(limit=1)
        assert first.next_cursor is not None
        second = await service.list_prompts(limit=1, cursor=first.next_cursor)
        assert [s.name for s in second.prompts] == ["q"]


class TestSearch:
    async def test_a_nul_in_search_is_refused_not_a_list_of_everything(self, service: PromptService) -> None:
        for search in ["\x00", "p\x00zzz"]:
            with pytest.raises(InvalidArgumentError, match="NUL") as raised:
                await service.list_prompts(search=search)
            assert raised.value.details["argument"] == "search"

    async def test_an_over_long_search_is_refused_not_a_store_outage(self, service: PromptService) -> None:
        with pytest.raises(
            InvalidArgumentError, match="search is 50,000 characters long; the limit is 1,000"
        ):
            await service.list_prompts(search="x" * 50_000)
        longest = await service.list_prompts(search="x" * limits.MAX_SEARCH_LENGTH)
        assert longest.prompts == []


class TestContentLimits:
    async def assert_refused(self, service: PromptService, match: str, argument: str, **fields: Any) -> None:
        fields.setdefault("template", "t")
        with pytest.raises(InvalidArgumentError, match=match) as raised:
            await service.create_prompt("new", **fields)
        assert raised.value.details["argument"] == argument
        with pytest.raises(InvalidArgumentError, match=match):
            await service.update_prompt("p", base_version=1, **fields)
        assert [s.name for s in (await service.list_prompts()).prompts] == ["p"]
        assert await versions_of(service) == [1]

    async def test_a_template_over_256_ki_characters(self, service: PromptService) -> None:
        assert limits.MAX_TEMPLATE_LENGTH == 262_144
        await self.assert_refused(
            service,
            "template is 262,145 characters long; the limit is 262,144",
            "template",
            template="x" * (limits.MAX_TEMPLATE_LENGTH + 1),
        )
        created = await service.create_prompt("big", template="é" * limits.MAX_TEMPLATE_LENGTH)
        assert created.version == 1

    async def test_messages_over_the_count_or_the_size(self, service: PromptService) -> None:
        one = Message(role="user", content="x")
        await self.assert_refused(
            service, "at most 1000 messages, not 1001", "messages", template=None, messages=[one] * 1001
        )
        big = Message(role="user", content="x" * (limits.MAX_TEMPLATE_LENGTH + 1))
        await self.assert_refused(
            service,
            r"messages\[1\].content is 262,145 characters",
            "messages",
            template=None,
            messages=[one, big],
        )
        half = Message(role="user", content="x" * (limits.MAX_TEMPLATE_LENGTH // 2 + 1))
        await self.assert_refused(
            service,
            "the messages hold 262,146 characters together; the limit is 262,144",
            "messages",
            template=None,
            messages=[half, half],
        )
        most = [Message(role="user", content="x" * 262)] * limits.MAX_MESSAGES
        assert (await service.create_prompt("chat", messages=most)).version == 1

    async def test_config_over_its_size_or_depth(self, service: PromptService) -> None:
        await self.assert_refused(
            service,
            "config takes 65,544 characters as JSON; the limit is 65,536",
            "config",
            config={"x": "y" * (limits.MAX_CONFIG_SIZE)},
        )
        deep: dict[str, Any] = {}  # 64 levels of objects
        for _ in range(limits.MAX_JSON_DEPTH - 1):
            deep = {"d": deep}
        assert (await service.create_prompt("deep", template="t", config=deep)).version == 1
        await service.archive_prompt("deep")
        await self.assert_refused(service, "config nests deeper than 64 levels", "config", config={"d": deep})

    async def test_variables_over_the_count_or_their_fields(self, service: PromptService) -> None:
        many = [Variable(name=f"v{i}") for i in range(limits.MAX_VARIABLES + 1)]
        await self.assert_refused(
            service, "at most 100 declared variables, not 101", "variables", variables=many
        )
        cases = [
            (Variable(name="v" * 101), "a variable name is 101 characters long; the limit is 100"),
            (Variable(name="v", description="d" * 1001), "variable 'v': the description is 1,001 characters"),
            (Variable(name="v", default="d" * 1001), "variable 'v': the default is 1,001 characters"),
            (Variable(name="v", enum=[str(i) for i in range(101)]), "variable 'v': enum lists 101 values"),
            (Variable(name="v", enum=["e" * 201]), "variable 'v': an enum value is 201 characters"),
        ]
        for variable, match in cases:
            await self.assert_refused(service, match, "variables", variables=[variable])
        wide = [Variable(name=f"v{i}", description="d" * 1000) for i in range(70)]
        await self.assert_refused(
            service,
            "the declared variables take 73,351 characters as JSON; the limit is 65,536",
            "variables",
            variables=wide,
        )

    async def test_labels_per_write_and_per_prompt(self, service: PromptService) -> None:
        labels = [f"l{i}" for i in range(limits.MAX_LABELS + 1)]
        await self.assert_refused(service, "at most 100 labels; this would make 101", "labels", labels=labels)
        await service.update_prompt(
            "p", base_version=1, template="v2", labels=labels[:99]
        )  # with staging: 100
        with pytest.raises(InvalidArgumentError, match="at most 100 labels; this would make 101"):
            await service.set_label("p", "one-more", 1)
        with pytest.raises(InvalidArgumentError, match="at most 100 labels; this would make 101"):
            await service.update_prompt("p", base_version=2, template="v3", labels=["one-more"])
        moved = await service.set_label("p", "staging", 2)  # moving a label it has is not adding one
        assert moved.previous_version == 1
        summary = await service.store.get_summary("p")
        assert len(summary.labels) == 100 and summary.latest_version == 2

    async def test_tags_keep_their_limits(self, service: PromptService) -> None:
        await self.assert_refused(
            service, "at most 50 tags, not 51", "tags", tags=[f"t{i}" for i in range(51)]
        )


class TestJsonValues:
    @pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
    async def test_non_finite_numbers_are_refused_wherever_they_are(
        self, service: PromptService, number: float
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=r"config.params\[1\] is .*must be finite"):
            await service.create_prompt("n", template="t", config={"params": [1, number]})
        with pytest.raises(InvalidArgumentError, match=r"variables\['v'\].default is .*must be finite"):
            await service.create_prompt("n", template="t", variables=[Variable(name="v", default=number)])
        with pytest.raises(InvalidArgumentError, match=r"variables.x is .*must be finite"):
            await service.render_prompt("p", {"x": number})
        assert [s.name for s in (await service.list_prompts()).prompts] == ["p"]

    async def test_render_variables_are_checked_for_lone_surrogates_in_names_and_values(
        self, service: PromptService
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=r"variables.name holds a lone UTF-16 surrogate"):
            await service.render_prompt("p", {"name": "Ann\ud800"})
        with pytest.raises(InvalidArgumentError, match=r"a key of variables holds a lone UTF-16 surrogate"):
            await service.render_prompt("p", {"n\udc00": "Ann"})
        assert (await service.render_prompt("p", {"x": "Zoë 😀", "v": "w"})).unused == ["v"]

    def test_a_flat_object_still_counts_as_one_level_of_nesting(self) -> None:
        limits.check_json({"a": "b"}, "config", max_depth=1)
        with pytest.raises(InvalidArgumentError, match="config nests deeper than 0 levels"):
            limits.check_json({"a": "b"}, "config", max_depth=0)

    async def test_lone_surrogates_are_refused_before_the_store_sees_them(
        self, service: PromptService
    ) -> None:
        refused: list[dict[str, Any]] = [
            {"template": "a\ud800b"},
            {"messages": [Message(role="user", content="\udfff")]},
            {"template": "t", "config": {"k\udc80": 1}},
            {"template": "t", "variables": [Variable(name="v", description="\ud800")]},
        ]
        for fields in refused:
            with pytest.raises(InvalidArgumentError, match="lone UTF-16 surrogate"):
                await service.create_prompt("s", **fields)
        assert [s.name for s in (await service.list_prompts()).prompts] == ["p"]
        created = await service.create_prompt("s", template="emoji 😀 and accents é")
        assert created.template == "emoji 😀 and accents é"


class TestNames:
    @pytest.mark.parametrize("name", [".", "a/./b", "a/.", "./a", "a/../b", "a//b"])
    async def test_dot_segments_are_refused_for_new_prompts(self, service: PromptService, name: str) -> None:
        with pytest.raises(InvalidArgumentError, match=r"may not be empty, '\.' or '\.\.'|must match"):
            await service.create_prompt(name, template="x")
        assert [s.name for s in (await service.list_prompts()).prompts] == ["p"]

    async def test_a_name_stored_with_a_dot_segment_before_the_rule_stays_readable(
        self, store: SQLiteStore, service: PromptService
    ) -> None:
        await store.create_prompt("a/./b", PromptMeta(), VersionDraft(type="text", template="old"))
        assert (await service.get_prompt("a/./b")).template == "old"
        assert (await service.archive_prompt("a/./b")).archived_versions == 1

    async def test_dotted_names_that_are_not_dot_segments_are_fine(self, service: PromptService) -> None:
        for name in ["a.b", "a/.hidden", "a/b.", "v1.2/x..y"]:
            assert (await service.create_prompt(name, template="x")).name == name


def test_the_readme_table_shows_each_limit() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("|")[1].strip(): line.split("|")[2]
        for line in section.splitlines()
        if line.startswith("| ")
    }
    shown = {
        "template": [limits.MAX_TEMPLATE_LENGTH],
        "messages": [limits.MAX_MESSAGES, limits.MAX_TEMPLATE_LENGTH],
        "config": [limits.MAX_CONFIG_SIZE, limits.MAX_JSON_DEPTH],
        "declared variables": [
            limits.MAX_VARIABLES,
            limits.MAX_CONFIG_SIZE,
            limits.MAX_VARIABLE_NAME_LENGTH,
            limits.MAX_VARIABLE_DESCRIPTION_LENGTH,
            limits.MAX_DEFAULT_LENGTH,
            limits.MAX_ENUM_VALUES,
            limits.MAX_ENUM_VALUE_LENGTH,
        ],
        "labels": [limits.MAX_LABELS],
        "tags": [limits.MAX_TAGS, limits.MAX_TAG_LENGTH],
        "version numbers": [limits.MAX_VERSION],
        "`list_prompts` search": [limits.MAX_SEARCH_LENGTH],
    }
    for what, numbers in shown.items():
        assert what in rows, f"the README's Limits table has no row {what!r}"
        for number in numbers:
            assert f"{number:,}" in rows[what] or f" {number} " in rows[what], (what, number, rows[what])

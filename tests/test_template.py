"""Templates: placeholders, variables, includes, binding and rendering, and edits."""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptshelf.errors import InvalidArgumentError
from promptshelf.model import Variable, placeholders
from promptshelf.template import (
    IncludedPrompt,
    IncludeRef,
    apply_edits,
    bind,
    effective_variables,
    expand_includes,
    include_refs,
    substitute,
)


class TestPlaceholders:
    def test_both_spellings_are_found_once_in_order_of_first_use(self) -> None:
        assert placeholders(["{{b}} and {{ a }} and {{b}}", "{{  c.d-e_f }}"]) == ["b", "a", "c.d-e_f"]

    def test_includes_and_malformed_braces_are_not_placeholders(self) -> None:
        assert placeholders(["{{> other}} {{1bad}} {single} {{ two words }}"]) == []


class TestIncludeSyntax:
    def test_name_label_and_version_selectors(self) -> None:
        refs = include_refs(["{{> plain}} {{>team/x@production}} {{> y@3 }}"])
        assert refs == [
            IncludeRef("plain"),
            IncludeRef("team/x", label="production"),
            IncludeRef("y", version=3),
        ]

    @pytest.mark.parametrize("selector", ["²", "١٢", "3x"])
    def test_a_selector_of_other_than_ascii_digits_is_a_label_never_a_crash(self, selector: str) -> None:
        # "²".isdigit() is true but int("²") fails; such a selector is a (bad) label, refused by name.
        assert include_refs([f"{{{{> y@{selector}}}}}"]) == [IncludeRef("y", label=selector)]


class TestVariables:
    def test_declarations_win_in_order_own_then_included_then_bare_placeholder(self) -> None:
        declared = [Variable(name="tone", description="how to sound")]
        included = [Variable(name="signer", description="from the footer"), Variable(name="tone")]
        variables = {
            v.name: v for v in effective_variables(declared, ["{{tone}} {{topic}} {{signer}}"], included)
        }
        assert variables["tone"].description == "how to sound"  # the including prompt's declaration wins
        assert variables["signer"].description == "from the footer"  # a declaration beats a bare placeholder
        assert variables["topic"] == Variable(name="topic", required=True)

    def test_declared_ones_come_first_then_the_rest_in_reading_order(self) -> None:
        declared = [Variable(name="z_last_in_text")]
        included = [Variable(name="signer"), Variable(name="unused_in_footer")]
        expanded = ["{{greeting}} {{z_last_in_text}}\n-- {{signer}}"]
        variables = effective_variables(
            declared, ["{{greeting}} {{z_last_in_text}}\n{{> footer}}"], included, expanded
        )
        assert [v.name for v in variables] == ["z_last_in_text", "greeting", "signer", "unused_in_footer"]


class TestBind:
    variables: ClassVar[list[Variable]] = [
        Variable(name="name"),
        Variable(name="tone", enum=["formal", "casual"]),
        Variable(name="sign", default="Team"),
        Variable(name="extra", required=False),
    ]

    def test_strict_lists_every_missing_required_variable_in_one_error(self) -> None:
        with pytest.raises(InvalidArgumentError, match="missing required variables: name, tone") as caught:
            bind(self.variables, {}, strict=True)
        assert caught.value.details["missing"] == ["name", "tone"]

    def test_a_value_outside_the_enum_is_an_error_naming_the_allowed_values(self) -> None:
        with pytest.raises(InvalidArgumentError, match=r"tone='rude' \(allowed: 'formal', 'casual'\)"):
            bind(self.variables, {"name": "A", "tone": "rude"}, strict=True)

    def test_defaults_fill_in_optional_ones_render_empty_and_extras_are_unused(self) -> None:
        bound = bind(self.variables, {"name": "Ann", "tone": "casual", "mood": "x"}, strict=True)
        assert bound.values == {"name": "Ann", "tone": "casual", "sign": "Team", "extra": ""}
        assert bound.unused == ["mood"]

    def test_non_string_values_render_as_json(self) -> None:
        bound = bind([Variable(name="n"), Variable(name="items")], {"n": 3, "items": ["a", 1]}, strict=True)
        assert bound.values == {"n": "3", "items": '["a", 1]'}

    def test_lenient_leaves_missing_variables_as_placeholders(self) -> None:
        bound = bind(self.variables, {"tone": "rude"}, strict=False)
        assert (
            substitute("Hi {{name}}, {{ tone }} from {{sign}}", bound.values) == "Hi {{name}}, rude from Team"
        )


class TestSubstitute:
    def test_replaces_both_spellings_and_leaves_unknown_ones(self) -> None:
        assert substitute("{{a}}-{{ a }}-{{b}}", {"a": "x"}) == "x-x-{{b}}"

    @given(st.text(), st.text())
    def test_values_are_inserted_verbatim_and_never_re_expanded(self, prefix: str, value: str) -> None:
        rendered = substitute(prefix.replace("{", "") + "{{v}}", {"v": value, "w": "W"})
        assert rendered == prefix.replace("{", "") + value


def loader(prompts: dict[str, str], declared: dict[str, list[Variable]] | None = None):  # type: ignore[no-untyped-def]
    async def load(ref: IncludeRef) -> IncludedPrompt:
        return IncludedPrompt(ref.name, prompts[ref.name], (declared or {}).get(ref.name, []))

    return load


@pytest.mark.anyio
class TestIncludes:
    async def test_nested_includes_expand_and_bring_their_variables(self) -> None:
        load = loader(
            {"footer": "-- {{signer}}", "body": "Dear {{name}}\n{{> footer}}"},
            {"footer": [Variable(name="signer", default="Team")]},
        )
        expanded = await expand_includes(["{{> body@production}}!"], load, ("mail",))
        assert expanded.texts == ["Dear {{name}}\n-- {{signer}}!"]
        assert [v.name for v in expanded.included_variables] == ["name", "signer"]

    async def test_a_cycle_is_an_error_naming_the_chain(self) -> None:
        load = loader({"b": "{{> c}}", "c": "{{> a}}"})
        with pytest.raises(InvalidArgumentError, match=r"include cycle: a -> b -> c -> a"):
            await expand_includes(["{{> b}}"], load, ("a",))

    async def test_depth_over_ten_is_an_error(self) -> None:
        prompts = {f"p{i}": f"{{{{> p{i + 1}}}}}" for i in range(12)}
        prompts["p12"] = "bottom"
        with pytest.raises(InvalidArgumentError, match="deeper than 10"):
            await expand_includes(["{{> p0}}"], loader(prompts), ("root",))

    async def test_ten_levels_are_allowed(self) -> None:
        prompts = {f"p{i}": f"{{{{> p{i + 1}}}}}" for i in range(9)}
        prompts["p9"] = "bottom"
        assert (await expand_includes(["{{> p0}}"], loader(prompts), ("root",))).texts == ["bottom"]


class TestEdits:
    def test_edits_apply_in_order(self) -> None:
        assert apply_edits(["Hello world"], [("Hello", "Hi"), ("Hi world", "Hi there")]) == ["Hi there"]

    def test_edits_reach_into_the_message_that_holds_the_text(self) -> None:
        assert apply_edits(["be nice", "say hi"], [("hi", "hello")]) == ["be nice", "say hello"]

    def test_an_edit_that_matches_nothing_names_its_index(self) -> None:
        with pytest.raises(
            InvalidArgumentError, match="edit 1: the text to replace does not occur"
        ) as caught:
            apply_edits(["abc"], [("a", "x"), ("zzz", "y")])
        assert caught.value.details["edit_index"] == 1

    def test_an_edit_that_matches_twice_is_refused(self) -> None:
        with pytest.raises(InvalidArgumentError, match="occurs 2 times"):
            apply_edits(["ab", "ab"], [("ab", "x")])

    def test_an_empty_old_text_is_refused(self) -> None:
        with pytest.raises(InvalidArgumentError, match="'old' is empty"):
            apply_edits(["ab"], [("", "x")])

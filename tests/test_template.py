"""Templates: placeholders, variables, includes, binding and rendering, and edits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptshelf import template
from promptshelf.errors import InvalidArgumentError
from promptshelf.model import Variable, placeholders
from promptshelf.template import (
    MAX_EDIT_WORK,
    MAX_EDITS,
    MAX_EXPANDED_CHARS,
    MAX_INCLUDE_DEPTH,
    MAX_INCLUDES,
    IncludedPrompt,
    IncludeRef,
    apply_edits,
    bind,
    effective_variables,
    expand_includes,
    include_refs,
    include_spans,
    render_texts,
    substitute,
)

FOUR_MB = 4 * 1024 * 1024
ADVERSARIAL = {
    # Each is built to make a backtracking parser retry from many places; none holds an include.
    "blanks after an unclosed include": "{{>" + " " * FOUR_MB,
    "blanks and a line break inside": "{{>" + " " * (FOUR_MB // 2) + "x\n" + " " * (FOUR_MB // 2) + "y}}",
    "many unclosed includes": "{{>" * (FOUR_MB // 3),
    "many includes sharing one broken close": "{{>a\n" * (FOUR_MB // 5) + "b}}",
    "blanks after an unclosed placeholder": "{{" + " " * FOUR_MB,
    "a long name never closed": "{{ " + "a" * FOUR_MB + " " * 10,
    "many unclosed placeholders": "{{ a " * (FOUR_MB // 5),
    "braces only": "{" * FOUR_MB,
}
OLD_INCLUDE_RE = re.compile(r"\{\{>\s*(.*?)\s*\}\}")
"""The include syntax as first written (cubic on unclosed includes): the reference the scanner must match."""


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

    def test_an_include_version_of_5000_digits_is_the_callers_mistake(self) -> None:
        # Python refuses int() of more than 4,300 digits: that must not become an internal error.
        with pytest.raises(InvalidArgumentError, match="include of 'y' must be at most 2147483647"):
            include_refs([f"{{{{> y@{'9' * 5000}}}}}"])

    @settings(max_examples=500)
    @given(
        st.lists(
            st.sampled_from(
                ["{{>", "{{", "}}", "{", "}", ">", " ", "\t", "\n", "\u3000", "\x1c", "\u2028", "a", "@2"]
            ),
            max_size=16,
        ).map("".join)
    )
    def test_the_scanner_finds_exactly_what_the_regular_expression_did(self, text: str) -> None:
        # Stored prompts keep their meaning: same includes, same spans, same inner text.
        expected = [(m.start(), m.end(), m.group(1)) for m in OLD_INCLUDE_RE.finditer(text)]
        assert list(include_spans(text)) == expected

    def test_a_line_break_inside_makes_it_text_and_blanks_around_are_dropped(self) -> None:
        assert include_refs(["{{>\n  a@x \n }} {{> b\nc}} {{>}}"]) == [
            IncludeRef("a", label="x"),
            IncludeRef(""),
        ]

    @pytest.mark.parametrize("shape", ADVERSARIAL)
    def test_4_mb_of_adversarial_input_parses_in_linear_time(self, shape: str) -> None:
        # Bound by construction (include_spans: every search moves forward; the placeholder expression
        # cannot backtrack past a brace): 4 MB finishes in well under a second, where the regular
        # expression this replaced took about 30 s for 4,000 blanks and cubically more beyond.
        text = ADVERSARIAL[shape]
        assert include_refs([text]) == []
        assert placeholders([text]) == []
        assert substitute(text, {"a": "x"}) == text


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

    def test_a_value_holding_a_placeholder_stays_literal(self) -> None:
        # A caller's value must never inject another variable (nor its own placeholder again).
        values = {"v": "{{w}} and {{ v }}", "w": "SECRET"}
        assert substitute("[{{v}}] {{w}}", values) == "[{{w}} and {{ v }}] SECRET"

    @given(
        st.text(),
        st.lists(st.one_of(st.text(), st.sampled_from(["{{w}}", "{{ v }}", "{{v}}", "{{", "}}", "w"]))).map(
            "".join
        ),
    )
    def test_values_are_inserted_verbatim_and_never_re_expanded(self, prefix: str, value: str) -> None:
        rendered = substitute(prefix.replace("{", "") + "{{v}}", {"v": value, "w": "W"})
        assert rendered == prefix.replace("{", "") + value

    def test_a_render_past_the_size_limit_is_refused_before_it_is_built(self) -> None:
        texts = ["{{a}}" * 50_000, "and {{a}}"]
        with pytest.raises(
            InvalidArgumentError, match="would be 250,005,004 characters long; the limit is 2,000,000"
        ):
            render_texts(texts, {"a": "x" * 5_000})
        assert render_texts(texts, {"a": "x" * 39}) == ["x" * 39 * 50_000, "and " + "x" * 39]

    @given(
        texts=st.lists(st.text(alphabet="ab{}", max_size=40), min_size=1, max_size=3),
        values=st.dictionaries(st.sampled_from("ab"), st.text(alphabet="xy", max_size=30), max_size=2),
        limit=st.integers(min_value=0, max_value=120),
    )
    def test_a_render_is_refused_exactly_when_it_would_pass_the_limit(
        self, texts: list[str], values: dict[str, str], limit: int
    ) -> None:
        texts = [text.replace("{a}", "{{a}}").replace("{b}", "{{b}}") for text in texts]
        expected = [substitute(text, values) for text in texts]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(template, "MAX_EXPANDED_CHARS", limit)
            if sum(map(len, expected)) > limit:
                with pytest.raises(InvalidArgumentError, match="would be"):
                    render_texts(texts, values)
            else:
                assert render_texts(texts, values) == expected


class Loader:
    """Includes from a dict of name (or ``name@version``) to template, counting the loads."""

    def __init__(self, prompts: dict[str, str], declared: dict[str, list[Variable]] | None = None) -> None:
        self.prompts = prompts
        self.declared = declared or {}
        self.loads: list[str] = []

    async def __call__(self, ref: IncludeRef) -> IncludedPrompt:
        self.loads.append(str(ref))
        if ref.version is not None:
            template, version = self.prompts[str(ref)], ref.version
        else:  # the newest version: after every numbered one
            template, version = (
                self.prompts[ref.name],
                1 + sum(key.startswith(f"{ref.name}@") for key in self.prompts),
            )
        return IncludedPrompt(ref.name, version, template, self.declared.get(ref.name, []))


def loader(prompts: dict[str, str], declared: dict[str, list[Variable]] | None = None) -> Loader:
    return Loader(prompts, declared)


def bomb(levels: int, fan_out: int, leaf: str = "word ") -> dict[str, str]:
    """``l0`` includes ``l1`` ``fan_out`` times, and so on down to the last level, whose text is ``leaf``."""
    prompts = {f"l{level}": f"{{{{> l{level + 1}}}}} " * fan_out for level in range(levels - 1)}
    prompts[f"l{levels - 1}"] = leaf
    return prompts


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

    async def test_each_included_version_is_loaded_and_expanded_once(self) -> None:
        load = loader(bomb(4, 5, "{{x}}"))  # 5 + 25 + 125 = 155 includes, 4 prompts
        expanded = await expand_includes(["{{> l0}}"], load, ("root",))
        assert sorted(load.loads) == ["l0", "l1", "l2", "l3"]
        assert expanded.texts == [_naive(bomb(4, 5, "{{x}}"), "l0")]
        assert [v.name for v in expanded.included_variables] == ["x"]

    async def test_each_included_version_is_scanned_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        scanned: list[str] = []

        def counting_spans(text: str) -> Iterator[tuple[int, int, str]]:
            scanned.append(text)
            return include_spans(text)

        monkeypatch.setattr(template, "include_spans", counting_spans)
        prompts = bomb(4, 5, "{{x}}")
        await expand_includes(["{{> l0}} {{> l1}}"], loader(prompts), ("root",))
        assert sorted(scanned) == sorted(["{{> l0}} {{> l1}}", *prompts.values()])

    async def test_five_levels_of_ten_are_refused_after_a_few_loads(self) -> None:
        # 111,110 includes and 22 MB if expanded; refused on the count, having loaded each prompt once.
        load = loader(bomb(5, 10, "word " * 40))
        with pytest.raises(InvalidArgumentError, match=f"more than {MAX_INCLUDES} includes") as caught:
            await expand_includes(["{{> l0}}"], load, ("root",))
        assert caught.value.details == {"argument": "template", "limit": MAX_INCLUDES}
        assert len(load.loads) <= 5

    async def test_the_include_limit_counts_across_messages_and_is_inclusive(self) -> None:
        half = "{{> a}}" * (MAX_INCLUDES // 2)
        assert (await expand_includes([half, half], loader({"a": "x"}), ("root",))).texts == ["x" * 100] * 2
        with pytest.raises(InvalidArgumentError, match="the limit is 200"):
            await expand_includes([half, half + "{{> a}}"], loader({"a": "x"}), ("root",))

    async def test_the_expanded_size_is_bounded_before_the_text_is_built(self) -> None:
        chunk = "x" * (MAX_EXPANDED_CHARS // 4)
        fits = "{{> big}}" * 3 + "y" * (MAX_EXPANDED_CHARS // 4)
        assert len((await expand_includes([fits], loader({"big": chunk}), ("root",))).texts[0]) == (
            MAX_EXPANDED_CHARS
        )
        with pytest.raises(InvalidArgumentError, match="more than 2,000,000 characters long") as caught:
            await expand_includes([fits + "!"], loader({"big": chunk}), ("root",))
        assert caught.value.details["limit"] == MAX_EXPANDED_CHARS

    async def test_a_reused_expansion_still_meets_a_cycle_through_another_version(self) -> None:
        # c@1 includes b@1 (fine under root), then b (its latest) includes c@1: under root -> b that
        # expansion of c@1 meets b again, a cycle by name, as when each include was expanded afresh.
        load = loader({"c@1": "{{> b@1}}", "b@1": "B1", "b": "{{> c@1}}"})
        with pytest.raises(InvalidArgumentError, match=r"include cycle: root -> b -> c -> b$"):
            await expand_includes(["{{> c@1}} {{> b}}"], load, ("root",))

    async def test_a_reused_expansion_still_counts_its_depth_where_it_is_met_again(self) -> None:
        prompts = {f"p{i}": f"{{{{> p{i + 1}}}}}" for i in range(8)}
        prompts |= {"p8": "{{> d}}", "d": "{{> e}}", "e": "bottom"}
        load = loader(prompts)
        with pytest.raises(InvalidArgumentError, match=r"deeper than 10 levels: root -> p0 .* -> d -> e$"):
            await expand_includes(["{{> d}} {{> p0}}"], load, ("root",))


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

    def test_more_edits_than_the_limit_are_refused(self) -> None:
        text = " ".join(f"w{i}." for i in range(MAX_EDITS + 1))
        edits = [(f"w{i}.", f"v{i}.") for i in range(MAX_EDITS + 1)]
        assert apply_edits([text], edits[:MAX_EDITS])[0].startswith("v0. v1.")
        with pytest.raises(
            InvalidArgumentError, match=f"{MAX_EDITS + 1} edits in one update; the limit is 100"
        ):
            apply_edits([text], edits)

    def test_edits_times_characters_is_bounded_before_any_edit_is_applied(self) -> None:
        # The last edit would fail; the bound is checked before the first one costs anything.
        ten_edits = [("a", "b"), ("b", "a")] * 4 + [("a", "b"), ("", "x")]
        text = "a" + "." * (MAX_EDIT_WORK // 10 - 1 - 10)
        with pytest.raises(InvalidArgumentError, match="'old' is empty"):
            apply_edits([text], ten_edits)  # exactly at the bound: it runs
        with pytest.raises(
            InvalidArgumentError, match=r"10 edits on 2,000,001 characters .* at most 20,000,000"
        ):
            apply_edits([text + "."], ten_edits)

    def test_new_text_counts_towards_the_work(self) -> None:
        with pytest.raises(InvalidArgumentError, match="at most 20,000,000") as caught:
            apply_edits(["a"], [("a", "b" * (MAX_EDIT_WORK // 2))] * 2)
        assert caught.value.details == {"argument": "edits", "limit": MAX_EDIT_WORK}


def _naive(prompts: dict[str, str], name: str) -> str:
    """What expanding every include afresh gives (the reference for the memoised expansion)."""
    return re.sub(r"\{\{> (\w+)\}\}", lambda match: _naive(prompts, match.group(1)), prompts[name])


def test_the_readme_lists_these_limits() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (.+?) \| ([\d,]+)(?: levels)? \|$", readme, re.MULTILINE))
    documented = {
        "includes nested below a prompt": MAX_INCLUDE_DEPTH,
        "includes expanded in one read (nested ones counted each time they are met)": MAX_INCLUDES,
        "characters of a prompt with its includes expanded (all its messages together)": MAX_EXPANDED_CHARS,
        "characters of a rendered prompt, values filled in (all its messages together)": MAX_EXPANDED_CHARS,
        "edits in one `update_prompt`": MAX_EDITS,
        "edits × characters they can reach (the base version's text plus the new texts)": MAX_EDIT_WORK,
    }
    assert {row: int(rows[row].replace(",", "")) for row in documented} == documented

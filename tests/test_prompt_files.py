"""The prompt file format (``promptshelf.files.prompt_files``): what a file looks like, that writing then
reading gives back exactly what was written, and that every malformed file is refused with its path and
the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptshelf.files.copying import PromptHistory, VersionSpec
from promptshelf.files.prompt_files import (
    PromptFileError,
    parse_prompt_file,
    prompt_path,
    read_prompt_files,
    render_prompt_file,
)
from promptshelf.model import Message, Variable

TEXT = PromptHistory(
    name="team/summarize",
    description="Summarize a document",
    tags=["writing", "docs"],
    versions=[
        VersionSpec(
            type="text",
            template="Summarize in {{style}} style:\n\n{{text}}",
            config={"model": "gpt-4o-mini", "temperature": 0.2},
            variables=[
                Variable(name="style", enum=["short", "long"], default="short"),
                Variable(name="text", description="The document"),
            ],
            labels=["production"],
        )
    ],
)

CHAT = PromptHistory(
    name="greet",
    versions=[
        VersionSpec(
            type="chat",
            messages=[
                Message(
                    role="system", content="You are terse.\n## user\nthis line is content, not a heading"
                ),
                Message(role="user", content="Hi {{name}}"),
            ],
        )
    ],
)


def roundtrip(history: PromptHistory, *, with_history: bool = False) -> PromptHistory:
    text = render_prompt_file(history, with_history=with_history)
    parsed = parse_prompt_file(text, path="x.md").history
    assert render_prompt_file(parsed, with_history=with_history) == text
    return parsed


def test_a_text_prompt_file_is_front_matter_then_the_template() -> None:
    assert render_prompt_file(TEXT) == (
        "---\n"
        "name: team/summarize\n"
        "type: text\n"
        "description: Summarize a document\n"
        "tags: [writing, docs]\n"
        "labels: [production]\n"
        "config:\n"
        "  model: gpt-4o-mini\n"
        "  temperature: 0.2\n"
        "variables:\n"
        "- name: style\n"
        "  default: short\n"
        "  enum: [short, long]\n"
        "- name: text\n"
        "  description: The document\n"
        "---\n"
        "Summarize in {{style}} style:\n"
        "\n"
        "{{text}}\n"
    )
    assert roundtrip(TEXT) == TEXT


def test_a_chat_prompt_file_has_one_heading_per_message_and_escapes_lookalike_lines() -> None:
    text = render_prompt_file(CHAT)
    assert text.endswith(
        "---\n"
        "## system\n"
        "\n"
        "You are terse.\n"
        "\\## user\n"
        "this line is content, not a heading\n"
        "\n"
        "## user\n"
        "\n"
        "Hi {{name}}\n"
    )
    assert roundtrip(CHAT) == CHAT


def test_hand_written_chat_without_blank_lines_reads_the_same() -> None:
    text = "---\ntype: chat\n---\n## system\nBe brief.\n## user\nHello\n"
    parsed = parse_prompt_file(text, path="p.md", default_name="p").history
    assert parsed.versions[0].messages == [
        Message(role="system", content="Be brief."),
        Message(role="user", content="Hello"),
    ]


def test_the_name_defaults_to_the_path_below_the_folder(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "review.md").write_text("---\ndescription: d\n---\nReview {{code}}\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "ignored.md").write_text("not a prompt")
    [prompt] = read_prompt_files(tmp_path)
    assert prompt.history.name == "team/review"
    assert prompt.history.versions[0].template == "Review {{code}}"
    assert prompt_path(tmp_path, "team/review") == tmp_path / "team" / "review.md"


def test_history_is_written_oldest_first_and_read_back() -> None:
    history = PromptHistory(
        name="h",
        versions=[
            VersionSpec(type="text", template="one\n", labels=["production"], commit_message="first"),
            VersionSpec(type="chat", messages=[Message(role="user", content="two")], created_by="ann"),
            VersionSpec(
                type="text", template="three", commit_message="third", created_at="2026-01-01T00:00:00Z"
            ),
        ],
    )
    parsed = roundtrip(history, with_history=True)
    assert parsed == history
    without = parse_prompt_file(render_prompt_file(history), path="h.md").history
    assert [v.template for v in without.versions] == ["three"]


PIECES = [*"ab #\\\n{}-\t\r", "## user", "## system ", "\\## assistant", "---", "\u2028"]


def pieces(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(PIECES), max_size=max_size).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    contents=st.lists(pieces(20), min_size=1, max_size=4),
    roles=st.lists(st.sampled_from(["system", "user", "assistant"]), min_size=4, max_size=4),
    template=pieces(30),
)
def test_any_content_survives_writing_and_reading(
    contents: list[str], roles: list[str], template: str
) -> None:
    chat = PromptHistory(
        name="c",
        versions=[
            VersionSpec(
                type="chat",
                messages=[
                    Message.model_validate({"role": r, "content": c})
                    for r, c in zip(roles, contents, strict=False)
                ],
            )
        ],
    )
    assert roundtrip(chat) == chat
    if template.strip():
        text = PromptHistory(name="t", versions=[VersionSpec(type="text", template=template)])
        assert roundtrip(text) == text
        assert roundtrip(text, with_history=True) == text


MALFORMED = [
    ("Summarize {{text}}\n", "starts with a '---' line"),
    ("---\nname: x\nSummarize\n", "not closed by a '---' line"),
    ("---\nname: [x\n---\nbody\n", "not valid YAML"),
    # An alias bomb (every level multiplies by ten) is refused at the first alias, before anything expands.
    (
        "---\nname: x\nconfig:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n  c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "---\nbody\n",
        "aliases (*name) are not allowed in prompt files; write the value out (line 5, column 10)",
    ),
    ("---\n- a\n- b\n---\nbody\n", "must be a YAML mapping"),
    ("---\nname: x\ntgas: [a]\n---\nbody\n", "tgas: unknown key"),
    ("---\nname: x\ntags: writing\n---\nbody\n", "tags: Input should be a valid list"),
    ("---\nname: x\ndescription: 12\n---\nbody\n", "description: Input should be a valid string"),
    ("---\nname: x\ntype: prose\n---\nbody\n", "type: Input should be 'text' or 'chat'"),
    ("---\nname: ../x\n---\nbody\n", "invalid prompt name '../x'"),
    ("---\nname: x\nlabels: [latest]\n---\nbody\n", "'latest' is reserved"),
    ("---\nname: x\nlabels: [Prod]\n---\nbody\n", "invalid label 'Prod'"),
    ("---\nname: x\n---\n\n", "the template (the text after the front matter) is empty"),
    ("---\nname: x\ntype: chat\n---\nhello\n## user\nhi\n", "line 5: a chat prompt's body is messages"),
    ("---\nname: x\ntype: chat\n---\n\n", "a chat prompt needs at least one message"),
    ("---\nname: x\nvariables:\n- nme: a\n---\nbody\n", "variables.0.nme: unknown key"),
    (
        "---\nname: x\nhistory:\n- template: a\n  messages: []\n---\nbody\n",
        "exactly one of 'template' or 'messages'",
    ),
    (
        "---\nname: x\nlabels: [prod]\nhistory:\n- template: a\n  labels: [prod]\n---\nbody\n",
        "label 'prod' is given to more than one version",
    ),
]


@pytest.mark.parametrize(("text", "problem"), MALFORMED)
def test_a_malformed_file_is_refused_naming_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(PromptFileError) as caught:
        parse_prompt_file(text, path="prompts/bad.md", default_name="bad")
    assert caught.value.message.startswith("prompts/bad.md: ")
    assert problem in caught.value.message
    assert caught.value.code == "invalid_argument"


def test_yaml_errors_give_the_line_in_the_file() -> None:
    with pytest.raises(PromptFileError, match=r"line 4, column 1"):
        parse_prompt_file("---\nname: x\ntags: [a\n---\nbody\n", path="p.md")


def test_a_file_without_a_name_outside_a_folder_import_is_refused() -> None:
    with pytest.raises(PromptFileError, match="has no 'name'"):
        parse_prompt_file("---\ntype: text\n---\nbody\n", path="p.md")


def test_two_files_for_one_prompt_are_refused_naming_both(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\nname: same\n---\none\n")
    (tmp_path / "b.md").write_text("---\nname: same\n---\ntwo\n")
    with pytest.raises(PromptFileError, match=r"b\.md: prompt 'same' is also defined in .*a\.md"):
        read_prompt_files(tmp_path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latin.md").write_bytes("---\nname: x\n---\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(PromptFileError, match=r"latin\.md: not UTF-8 text"):
        read_prompt_files(tmp_path)

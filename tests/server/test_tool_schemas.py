"""The tool registry is public contract: every tool's definition (schemas, annotations) is snapshotted in
``tests/server/snapshots/<tool>.json``. A change shows up as a diff; rewrite the snapshots deliberately
with ``PROMPTSHELF_UPDATE_SNAPSHOTS=1``. A missing snapshot fails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from promptshelf.server.tools import TOOLS, ToolSpec

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("PROMPTSHELF_UPDATE_SNAPSHOTS") == "1"


@pytest.mark.parametrize("tool", TOOLS, ids=[tool.name for tool in TOOLS])
def test_tool_definition_matches_its_snapshot(tool: ToolSpec[object]) -> None:  # type: ignore[type-var]
    definition = tool.definition.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = json.dumps(definition, indent=2, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{tool.name}.json"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no snapshot for {tool.name}: run with PROMPTSHELF_UPDATE_SNAPSHOTS=1"
    assert path.read_text() == text, f"{tool.name}'s definition changed: review, then update the snapshot"


def test_no_snapshot_without_a_tool() -> None:
    assert {path.stem for path in SNAPSHOTS.glob("*.json")} == {tool.name for tool in TOOLS}


def test_every_tool_has_a_description_title_and_explicit_annotations() -> None:
    for tool in TOOLS:
        assert tool.description and tool.title
        hints = tool.annotations
        assert None not in (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint)
        assert hints.open_world_hint is False


def test_annotations_follow_the_contract() -> None:
    read_only = {tool.name for tool in TOOLS if tool.read_only}
    assert read_only == {
        "list_prompts",
        "get_prompt",
        "render_prompt",
        "list_prompt_versions",
        "diff_prompt_versions",
    }
    destructive = {tool.name for tool in TOOLS if tool.annotations.destructive_hint}
    assert destructive == {"archive_prompt"}
    assert len({tool.name for tool in TOOLS}) == len(TOOLS) == 10


def test_input_schemas_refuse_unknown_arguments() -> None:
    for tool in TOOLS:
        assert tool.input_schema["additionalProperties"] is False

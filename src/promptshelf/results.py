"""What the service answers: the structured results of DESIGN.md's tools, shared by the MCP surface and
the CLI's ``--json`` output (``model_dump(mode="json")`` is the wire form)."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promptshelf.model import Message, PromptSummary, PromptType, Source, Variable, VersionInfo


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @cached_property
    def json_text(self) -> str:
        """``to_json()`` as JSON text (a tool result's text content), worked out once: the result is frozen,
        and the service hands out one ``PromptDocument`` for every fetch of an unchanged version."""
        return json.dumps(self.to_json(), ensure_ascii=False)


class PromptDocument(_Result):
    """``get_prompt`` (and the document behind ``prompt://`` resources)."""

    name: str
    version: int
    type: PromptType
    template: str | None = None
    messages: list[Message] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    variables: list[Variable] = Field(default_factory=list)
    """Declared, derived from placeholders, and from included prompts."""
    labels: list[str] = Field(default_factory=list)
    """Labels pointing at this version, ``latest`` included when it is the newest."""
    tags: list[str] = Field(default_factory=list)
    description: str | None = None
    commit_message: str | None = None
    created_at: str
    created_by: str | None = None
    latest_version: int
    includes: list[str] = Field(default_factory=list)
    """Resolved includes as ``name@version``, each once, in the order first met (empty when not resolved)."""
    source: Source
    warnings: list[str] = Field(default_factory=list)
    """On a write: what the backend vendor's own SDKs will not render as promptshelf does."""

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if not data.get("warnings"):
            data.pop("warnings", None)  # only writes that have something to say carry it
        return data


class RenderedPrompt(_Result):
    name: str
    version: int
    type: PromptType
    text: str | None = None
    messages: list[Message] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    unused: list[str] = Field(default_factory=list)
    """Variables given that the prompt does not use."""
    includes: list[str] = Field(default_factory=list)
    source: Source


class PromptListing(_Result):
    prompts: list[PromptSummary]
    next_cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        # next_cursor is always present (null on the last page) so clients can loop on it.
        data = self.model_dump(mode="json")
        for prompt in data["prompts"]:
            if not prompt.get("archived"):
                prompt.pop("archived", None)
        return data


class VersionListing(_Result):
    name: str
    versions: list[VersionInfo]
    has_more: bool


class ConfigChange(_Result):
    key: str
    """A dotted path into ``config``."""
    before: Any = None
    after: Any = None


class VersionDiff(_Result):
    name: str
    from_version: int
    to_version: int
    unified_diff: str
    variables_added: list[str]
    variables_removed: list[str]
    config_changes: list[ConfigChange]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class LabelMove(_Result):
    name: str
    label: str
    version: int | None
    """Where the label points now (``None`` once removed)."""
    previous_version: int | None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ArchiveResult(_Result):
    name: str
    archived_versions: int

"""The ten tools of DESIGN.md ("MCP surface"): each one is data plus a handler.

A ``ToolSpec`` holds the tool's name, description, a pydantic input model (which is both the input schema
and the validation), the result model (the output schema), explicit annotations and a handler that calls
the service. ``TOOLS`` holds them all; read-only mode and the read-token check are derived from each
tool's ``readOnlyHint``, never from a second list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

import mcp.types as types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptshelf import limits
from promptshelf.errors import InvalidArgumentError
from promptshelf.limits import (
    MAX_LABELS,
    MAX_MESSAGES,
    MAX_TAGS,
    MAX_TEMPLATE_LENGTH,
    MAX_VARIABLES,
    MAX_VERSION,
)
from promptshelf.model import LABEL_PATTERN, Edit, JsonScalar, Message, Variable
from promptshelf.results import (
    ArchiveResult,
    LabelMove,
    PromptDocument,
    PromptListing,
    RenderedPrompt,
    VersionDiff,
    VersionListing,
    _Result,
)
from promptshelf.service import MAX_HISTORY_LIMIT, MAX_LIST_LIMIT, PromptService

ArgsT = TypeVar("ArgsT", bound=BaseModel)

_NAME = Field(description="The prompt's name; '/' groups prompts into folders (e.g. 'team/summarize').")
_VERSION = Field(
    default=None,
    ge=1,
    le=MAX_VERSION,
    description="An exact version number. Give version or label, not both.",
)
_LABEL = Field(
    default=None,
    pattern=LABEL_PATTERN,
    description="A label such as 'production' or 'latest'. Without version or label, the server's default "
    "label applies.",
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListPromptsArgs(_Args):
    search: str | None = Field(
        default=None,
        max_length=limits.MAX_SEARCH_LENGTH,
        description="Only prompts whose name or description contains this.",
    )
    tag: str | None = Field(default=None, description="Only prompts with this tag.")
    label: str | None = Field(
        default=None, pattern=LABEL_PATTERN, description="Only prompts with this label."
    )
    cursor: str | None = Field(default=None, description="next_cursor from the previous page.")
    limit: int = Field(default=50, ge=1, le=MAX_LIST_LIMIT, description="Page size.")
    include_archived: bool = Field(default=False, description="Also list archived prompts.")


class GetPromptArgs(_Args):
    name: str = _NAME
    version: int | None = _VERSION
    label: str | None = _LABEL
    resolve_includes: bool = Field(
        default=True, description="Expand {{> other}} includes (true) or return the raw template (false)."
    )


class RenderPromptArgs(_Args):
    name: str = _NAME
    variables: dict[str, JsonScalar] = Field(
        default_factory=dict, description="Values for the prompt's {{placeholders}}, by variable name."
    )
    version: int | None = _VERSION
    label: str | None = _LABEL
    strict: bool = Field(
        default=True,
        description="Strict: every required variable must be given and enum values are checked. Lenient: "
        "unknown placeholders stay as they are.",
    )


class _Content(_Args):
    config: dict[str, Any] | None = Field(
        default=None, description="Model settings (model, provider, temperature, max_tokens, ...)."
    )
    variables: list[Variable] | None = Field(
        default=None,
        max_length=MAX_VARIABLES,
        description="Declared variables; placeholders not declared are required variables.",
    )
    description: str | None = Field(default=None, max_length=1000, description="What the prompt is for.")
    tags: list[str] | None = Field(
        default=None, max_length=MAX_TAGS, description="Tags for finding the prompt."
    )
    labels: list[str] | None = Field(
        default=None, max_length=MAX_LABELS, description="Labels to point at the new version."
    )
    commit_message: str | None = Field(default=None, max_length=400, description="Why this version exists.")


class CreatePromptArgs(_Content):
    name: str = _NAME
    template: str | None = Field(
        default=None,
        max_length=MAX_TEMPLATE_LENGTH,
        description="A text prompt's template. Give template or messages.",
    )
    messages: list[Message] | None = Field(
        default=None, max_length=MAX_MESSAGES, description="A chat prompt's messages."
    )


class UpdatePromptArgs(_Content):
    name: str = _NAME
    base_version: int = Field(
        ge=1,
        le=MAX_VERSION,
        description="The version you read; if the latest version differs, nothing is written (conflict).",
    )
    template: str | None = Field(
        default=None, max_length=MAX_TEMPLATE_LENGTH, description="A new template (text prompts)."
    )
    messages: list[Message] | None = Field(
        default=None, max_length=MAX_MESSAGES, description="New messages (chat prompts)."
    )
    edits: list[Edit] | None = Field(
        default=None,
        description="Replacements applied to the base version; each 'old' must occur exactly once.",
    )


class ListVersionsArgs(_Args):
    name: str = _NAME
    before_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Only versions older than this one."
    )
    limit: int = Field(default=20, ge=1, le=MAX_HISTORY_LIMIT, description="Page size.")


class DiffVersionsArgs(_Args):
    name: str = _NAME
    from_version: int = Field(ge=1, le=MAX_VERSION, description="The older version.")
    to_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="The newer version (default: latest)."
    )


class SetLabelArgs(_Args):
    name: str = _NAME
    label: str = Field(pattern=LABEL_PATTERN, description="The label to move ('latest' is reserved).")
    version: int = Field(ge=1, le=MAX_VERSION, description="The version the label should point at.")


class RemoveLabelArgs(_Args):
    name: str = _NAME
    label: str = Field(pattern=LABEL_PATTERN, description="The label to remove ('latest' is reserved).")


class ArchivePromptArgs(_Args):
    name: str = _NAME


@dataclass(frozen=True)
class ToolSpec(Generic[ArgsT]):
    name: str
    title: str
    description: str
    args: type[ArgsT]
    result: type[_Result]
    annotations: types.ToolAnnotations
    handler: Callable[[PromptService, ArgsT], Awaitable[_Result]]

    @property
    def read_only(self) -> bool:
        return bool(self.annotations.read_only_hint)

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        return _clean_schema(self.args.model_json_schema())

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        return _clean_schema(self.result.model_json_schema(mode="serialization"))

    @cached_property
    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            annotations=self.annotations,
        )

    def parse(self, arguments: dict[str, Any] | None) -> ArgsT:
        """The typed arguments, or an ``InvalidArgumentError`` naming each bad argument.

        Strict, as the published schema says: an integer is an integer (not ``true`` or ``"5"``), a boolean
        a boolean (not ``"false"``). Values the schema leaves open (``config``, variable values) are checked
        by the service, for every edge.
        """
        try:
            return self.args.model_validate(arguments or {}, strict=True)
        except ValidationError as exc:
            raise invalid_arguments(exc) from None

    async def call(self, service: PromptService, arguments: dict[str, Any] | None) -> _Result:
        return await self.handler(service, self.parse(arguments))


def invalid_arguments(exc: ValidationError) -> InvalidArgumentError:
    problems = []
    for error in exc.errors():
        where = _location(error["loc"])
        message = "unknown argument" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{where}: {message}" if where else message)
    first = exc.errors()[0]["loc"] if exc.errors() else ()
    argument = str(first[0]) if first else None
    return InvalidArgumentError("invalid arguments: " + "; ".join(problems), argument=argument)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated titles: they repeat the property names and bloat every tools/list."""

    def clean(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, dict):
            return {
                key: clean(value, key in ("properties", "$defs"))
                for key, value in node.items()
                if in_properties or key != "title"
            }
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    cleaned: dict[str, Any] = clean(schema)
    return cleaned


def _annotations(
    *, read_only: bool, destructive: bool = False, idempotent: bool = False
) -> types.ToolAnnotations:
    return types.ToolAnnotations(
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=False,
    )


_READ = _annotations(read_only=True, idempotent=True)


async def _list_prompts(service: PromptService, args: ListPromptsArgs) -> PromptListing:
    return await service.list_prompts(**args.model_dump())


async def _get_prompt(service: PromptService, args: GetPromptArgs) -> PromptDocument:
    return await service.get_prompt(
        args.name, version=args.version, label=args.label, resolve_includes=args.resolve_includes
    )


async def _render_prompt(service: PromptService, args: RenderPromptArgs) -> RenderedPrompt:
    return await service.render_prompt(
        args.name, args.variables, version=args.version, label=args.label, strict=args.strict
    )


async def _create_prompt(service: PromptService, args: CreatePromptArgs) -> PromptDocument:
    return await service.create_prompt(
        args.name,
        template=args.template,
        messages=args.messages,
        description=args.description,
        config=args.config,
        variables=args.variables,
        tags=args.tags,
        labels=args.labels,
        commit_message=args.commit_message,
    )


async def _update_prompt(service: PromptService, args: UpdatePromptArgs) -> PromptDocument:
    return await service.update_prompt(
        args.name,
        base_version=args.base_version,
        template=args.template,
        messages=args.messages,
        edits=args.edits,
        config=args.config,
        variables=args.variables,
        description=args.description,
        tags=args.tags,
        labels=args.labels,
        commit_message=args.commit_message,
    )


async def _list_versions(service: PromptService, args: ListVersionsArgs) -> VersionListing:
    return await service.list_versions(args.name, before_version=args.before_version, limit=args.limit)


async def _diff_versions(service: PromptService, args: DiffVersionsArgs) -> VersionDiff:
    return await service.diff_versions(args.name, args.from_version, args.to_version)


async def _set_label(service: PromptService, args: SetLabelArgs) -> LabelMove:
    return await service.set_label(args.name, args.label, args.version)


async def _remove_label(service: PromptService, args: RemoveLabelArgs) -> LabelMove:
    return await service.remove_label(args.name, args.label)


async def _archive_prompt(service: PromptService, args: ArchivePromptArgs) -> ArchiveResult:
    return await service.archive_prompt(args.name)


TOOLS: tuple[ToolSpec[Any], ...] = (
    ToolSpec(
        "list_prompts",
        "List prompts",
        "List prompts (metadata only: name, description, type, latest_version, labels, tags, variables), "
        "ordered by name, a page at a time; pass next_cursor back as cursor for the next page.",
        ListPromptsArgs,
        PromptListing,
        _READ,
        _list_prompts,
    ),
    ToolSpec(
        "get_prompt",
        "Get a prompt",
        "Read one version of a prompt: its template or messages, config, variables, labels and history "
        "fields. Selects by version or label; by default the server's default label.",
        GetPromptArgs,
        PromptDocument,
        _READ,
        _get_prompt,
    ),
    ToolSpec(
        "render_prompt",
        "Render a prompt",
        "Fill a prompt's {{placeholders}} with the given variables (includes resolved) and return the "
        "text or messages ready to send to a model, with its config.",
        RenderPromptArgs,
        RenderedPrompt,
        _READ,
        _render_prompt,
    ),
    ToolSpec(
        "create_prompt",
        "Create a prompt",
        "Create a new prompt (version 1) from a template (text prompt) or messages (chat prompt).",
        CreatePromptArgs,
        PromptDocument,
        _annotations(read_only=False),
        _create_prompt,
    ),
    ToolSpec(
        "update_prompt",
        "Publish a new version",
        "Publish a new version of a prompt. base_version must be the version you read (else a conflict "
        "error carries current_version). Give one of template, messages or edits; other fields carry over.",
        UpdatePromptArgs,
        PromptDocument,
        _annotations(read_only=False),
        _update_prompt,
    ),
    ToolSpec(
        "list_prompt_versions",
        "List versions",
        "A prompt's history, newest first, without content: version, labels, commit_message, created_at.",
        ListVersionsArgs,
        VersionListing,
        _READ,
        _list_versions,
    ),
    ToolSpec(
        "diff_prompt_versions",
        "Diff versions",
        "A unified diff between two versions of a prompt, with added and removed variables and config "
        "changes.",
        DiffVersionsArgs,
        VersionDiff,
        _READ,
        _diff_versions,
    ),
    ToolSpec(
        "set_prompt_label",
        "Move a label",
        "Point a label (e.g. 'staging') at a version; returns where it pointed before. Moving a label "
        "never creates a version: rolling back is moving it back. Protected labels may be refused.",
        SetLabelArgs,
        LabelMove,
        _annotations(read_only=False, idempotent=True),
        _set_label,
    ),
    ToolSpec(
        "remove_prompt_label",
        "Remove a label",
        "Remove a label from a prompt; returns the version it pointed at.",
        RemoveLabelArgs,
        LabelMove,
        _annotations(read_only=False, idempotent=True),
        _remove_label,
    ),
    ToolSpec(
        "archive_prompt",
        "Archive a prompt",
        "Archive a prompt: it disappears from every listing and lookup (its history is kept in the store) "
        "and its name can be created again from version 1.",
        ArchivePromptArgs,
        ArchiveResult,
        _annotations(read_only=False, destructive=True, idempotent=True),
        _archive_prompt,
    ),
)

TOOLS_BY_NAME: dict[str, ToolSpec[Any]] = {tool.name: tool for tool in TOOLS}

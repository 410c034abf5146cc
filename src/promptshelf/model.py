"""The data model shared by every layer: prompts, versions, variables, labels and selectors.

These are the shapes that cross layer boundaries (store -> service -> MCP/CLI). The naming rules of
DESIGN.md ("The data model") live here as plain functions so that every backend and the service apply
exactly the same ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promptshelf.errors import InvalidArgumentError

PromptType = Literal["text", "chat"]
Role = Literal["system", "user", "assistant"]
Source = Literal["store", "upstream", "cache", "stale"]
JsonScalar = str | int | float | bool

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
LABEL_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
MAX_NAME_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 1000
MAX_COMMIT_MESSAGE_LENGTH = 400
LATEST = "latest"

_NAME_RE = re.compile(NAME_PATTERN)
_LABEL_RE = re.compile(LABEL_PATTERN)
_VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
"""``{{name}}`` or ``{{ name }}``. PostHog's SDKs fill in only ``{{name}}`` (the PostHog store writes that
form); Statsig's read both."""


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with millisecond precision and a ``Z``, as every backend stores them."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def placeholders(texts: Iterable[str]) -> list[str]:
    """Variable names used in the texts, first occurrence first, each once."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in PLACEHOLDER_RE.finditer(text):
            seen.setdefault(match.group(1), None)
    return list(seen)


def variable_names(declared: Iterable[Variable], texts: Iterable[str]) -> list[str]:
    """Names of the declared variables and of undeclared placeholders (includes not followed).

    Stores keep this with each prompt so that a listing shows variables without reading content.
    """
    names = dict.fromkeys(variable.name for variable in declared)
    names.update(dict.fromkeys(placeholders(texts)))
    return list(names)


def validate_name(name: str, *, new: bool = False) -> str:
    """A prompt name; ``new``: a name about to be created, which may not have a ``.`` segment either.

    ``a/./b`` would be the same file as ``a/b`` on export (and the same path everywhere else), so it is
    refused for new prompts; a prompt stored with such a name before the rule stays readable.
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("prompt name must be a non-empty string", argument="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"prompt name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}", argument="name"
        )
    if not _NAME_RE.match(name):
        raise InvalidArgumentError(
            f"invalid prompt name {name!r}: it must match {NAME_PATTERN} "
            "(letters, digits, '.', '_', '-', '/' for folders; starting with a letter or digit)",
            argument="name",
        )
    refused = ("", ".", "..") if new else ("", "..")
    # Without a "/" the one segment is the name itself, which the pattern already keeps from being these.
    if "/" in name and any(segment in refused for segment in name.split("/")):
        raise InvalidArgumentError(
            f"invalid prompt name {name!r}: a folder segment may not be empty, '.' or '..'", argument="name"
        )
    return name


def validate_label(label: str, *, allow_latest: bool = False) -> str:
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        raise InvalidArgumentError(
            f"invalid label {label!r}: it must match {LABEL_PATTERN} "
            "(lower-case letters, digits, '_', '.', '-'; at most 63 characters)",
            argument="label",
        )
    if label == LATEST and not allow_latest:
        raise InvalidArgumentError(
            "the label 'latest' is reserved: it always means the newest version and cannot be set or removed",
            argument="label",
        )
    return label


def validate_variable_name(name: str) -> str:
    if not _VARIABLE_NAME_RE.match(name):
        raise InvalidArgumentError(
            f"invalid variable name {name!r}: it must match [A-Za-z_][A-Za-z0-9_.-]*", argument="variables"
        )
    return name


def text_parts(type_: PromptType, template: str | None, messages: list[Message] | None) -> list[str]:
    """Every piece of template text of a version: the template, or each message's content."""
    if type_ == "text":
        return [template or ""]
    return [message.content for message in messages or []]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variable(_Frozen):
    """A declared (or derived) template variable."""

    name: str
    description: str | None = None
    required: bool = True
    default: JsonScalar | None = None
    enum: list[str] | None = None


class Message(_Frozen):
    role: Role
    content: str


class Edit(_Frozen):
    """Replace ``old`` (which must occur exactly once) by ``new``."""

    old: str
    new: str


class Selector(_Frozen):
    """Which version of a prompt: by number, by label, or (neither) the default label."""

    version: int | None = None
    label: str | None = None


class VersionDraft(_Frozen):
    """A version about to be written. The store assigns ``version`` and ``created_at``."""

    type: PromptType
    template: str | None = None
    messages: list[Message] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    variables: list[Variable] = Field(default_factory=list)
    commit_message: str | None = None
    created_by: str | None = None
    labels: list[str] = Field(default_factory=list)
    """Labels to point at the new version, in the same write."""

    @property
    def text_parts(self) -> list[str]:
        return text_parts(self.type, self.template, self.messages)


class PromptMeta(_Frozen):
    """Prompt-level fields: not versioned; changing them never creates a version."""

    description: str | None = None
    tags: list[str] = Field(default_factory=list)


class PromptVersion(_Frozen):
    """One stored version, with the metadata of its prompt."""

    name: str
    version: int
    type: PromptType
    template: str | None = None
    messages: list[Message] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    variables: list[Variable] = Field(default_factory=list)
    """The declared variables; the service derives the rest from the template."""
    commit_message: str | None = None
    created_at: str
    created_by: str | None = None
    labels: list[str] = Field(default_factory=list)
    """The labels pointing at this version (``latest`` not included)."""
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    latest_version: int
    source: Source = "store"

    @property
    def text_parts(self) -> list[str]:
        return text_parts(self.type, self.template, self.messages)


class PromptSummary(_Frozen):
    """A prompt in a listing: metadata of the prompt and of its latest version, no content."""

    name: str
    description: str | None = None
    type: PromptType
    latest_version: int
    labels: dict[str, int] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    variables: list[str] = Field(default_factory=list)
    updated_at: str
    archived: bool = False


class VersionInfo(_Frozen):
    version: int
    labels: list[str] = Field(default_factory=list)
    commit_message: str | None = None
    created_at: str
    created_by: str | None = None


class PromptQuery(_Frozen):
    """A listing request as a store receives it: names strictly after ``after``, ordered by name."""

    search: str | None = None
    tag: str | None = None
    label: str | None = None
    after: str | None = None
    limit: int = 50
    include_archived: bool = False

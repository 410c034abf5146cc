"""Mapping PostHog's prompt objects to promptshelf's model and back (pure functions, no requests)."""

from __future__ import annotations

import json
from typing import Any

from promptshelf.backends.posthog_api import JsonObject
from promptshelf.errors import ConflictError
from promptshelf.model import (
    LATEST,
    Message,
    PromptQuery,
    PromptSummary,
    PromptType,
    PromptVersion,
    Variable,
    VersionDraft,
    variable_names,
)

META_KEY = "_promptshelf"
"""The one key of a version's ``config`` under which promptshelf keeps what PostHog has no field for."""


def promptshelf_meta(obj: JsonObject) -> JsonObject:
    config = obj.get("config")
    ours = config.get(META_KEY) if isinstance(config, dict) else None
    return ours if isinstance(ours, dict) else {}


def parse_messages(text: Any) -> list[Message] | None:
    """The chat messages a prompt string encodes, or ``None`` if it is not a message list."""
    if not isinstance(text, str) or not text.lstrip().startswith("["):
        return None
    try:
        items = json.loads(text)
    except ValueError:
        return None
    if not isinstance(items, list) or not items:
        return None
    messages = []
    for item in items:
        if not (
            isinstance(item, dict)
            and set(item) == {"role", "content"}
            and item["role"] in ("system", "user", "assistant")
            and isinstance(item["content"], str)
        ):
            return None
        messages.append(Message(role=item["role"], content=item["content"]))
    return messages


def content_of(obj: JsonObject) -> tuple[PromptType, str | None, list[Message] | None]:
    text = obj["prompt"] if isinstance(obj.get("prompt"), str) else json.dumps(obj.get("prompt"))
    messages = None if promptshelf_meta(obj).get("type") == "text" else parse_messages(text)
    if messages is not None:
        return "chat", None, messages
    return "text", text, None


def labels_by_version(obj: JsonObject) -> dict[str, int]:
    return {
        entry["name"]: entry["version"]
        for entry in obj.get("all_labels") or []
        if isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("version"), int)
    }


def user_name(user: Any) -> str | None:
    if isinstance(user, dict):
        found = user.get("email") or user.get("distinct_id")
        return str(found) if found else None
    return None


def declared_variables(ours: JsonObject) -> list[Variable]:
    return [Variable(**item) for item in ours.get("variables", []) if isinstance(item, dict)]


def version_from_object(obj: JsonObject, prompt_level: JsonObject | None) -> PromptVersion:
    """``prompt_level``: the latest version's ``_promptshelf`` data when ``obj`` is an older version."""
    ours = promptshelf_meta(obj)
    prompt_meta = ours if prompt_level is None else prompt_level
    type_, template, messages = content_of(obj)
    config = {key: value for key, value in (obj.get("config") or {}).items() if key != META_KEY}
    if isinstance(obj.get("labels"), list):
        labels = [label for label in obj["labels"] if isinstance(label, str)]
    else:
        labels = [label for label, at in labels_by_version(obj).items() if at == obj["version"]]
    return PromptVersion(
        name=obj["name"],
        version=obj["version"],
        type=type_,
        template=template,
        messages=messages,
        config=config,
        variables=declared_variables(ours),
        commit_message=obj.get("version_description"),
        created_at=obj["created_at"],
        # Only what promptshelf was told: PostHog names its user on some answers and not on others.
        created_by=ours.get("created_by"),
        labels=sorted(labels),
        description=prompt_meta.get("description"),
        tags=list(prompt_meta.get("tags", [])),
        latest_version=obj.get("latest_version") or obj["version"],
        source="upstream",
    )


def summary_from_object(obj: JsonObject) -> PromptSummary:
    version = version_from_object(obj, None)
    return PromptSummary(
        name=version.name,
        description=version.description,
        type=version.type,
        latest_version=version.latest_version,
        labels=dict(sorted(labels_by_version(obj).items())),
        tags=version.tags,
        variables=variable_names(version.variables, version.text_parts),
        updated_at=obj.get("updated_at") or obj["created_at"],
    )


def matches_query(summary: PromptSummary, query: PromptQuery) -> bool:
    if query.after is not None and summary.name <= query.after:
        return False
    if query.search:
        needle = query.search.casefold()
        if needle not in summary.name.casefold() and needle not in (summary.description or "").casefold():
            return False
    if query.tag and query.tag not in summary.tags:
        return False
    return not (query.label and query.label != LATEST and query.label not in summary.labels)


def same_content(obj: JsonObject, value: Any, config: JsonObject | None) -> bool:
    stored = obj.get("prompt")
    if isinstance(value, str):
        same = stored == value
    else:
        try:
            same = isinstance(stored, str) and json.loads(stored) == value
        except ValueError:
            same = False
    return same and (config is None or "config" not in obj or (obj.get("config") or {}) == config)


def dropped_fields(obj: JsonObject, config: JsonObject | None, draft: VersionDraft) -> list[str]:
    dropped = []
    ours = {key: value for key, value in (config or {}).get(META_KEY, {}).items() if key != "created_by"}
    asked_for_config = any(key != META_KEY for key in config or {}) or bool(ours)
    if asked_for_config and "config" not in obj:
        dropped.append("config, variables, tags or description")
    if draft.commit_message is not None and "version_description" not in obj:
        dropped.append("commit messages")
    if draft.labels and "labels" not in obj and "all_labels" not in obj:
        dropped.append("labels")
    return dropped


def stale_base_conflict(name: str, base_version: int, current: int | None) -> ConflictError:
    return ConflictError(
        f"prompt {name!r} changed since version {base_version} was read: the latest version is now "
        f"{current}; read it, reapply your change and publish with base_version={current}",
        current_version=current,
    )

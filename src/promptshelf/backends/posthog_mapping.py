"""Mapping PostHog's prompt objects to promptshelf's model and back (pure functions, no requests)."""

from __future__ import annotations

import json
import re
from typing import Any

from promptshelf.backends.posthog_api import JsonObject
from promptshelf.errors import ConflictError
from promptshelf.model import (
    LATEST,
    PLACEHOLDER_RE,
    Message,
    PromptQuery,
    PromptSummary,
    PromptType,
    PromptVersion,
    Variable,
    VersionDraft,
    VersionInfo,
    variable_names,
)

META_KEY = "_promptshelf"
"""The one key of a version's ``config`` under which promptshelf keeps what PostHog has no field for."""

SDK_PLACEHOLDER = r"\{\{([\w.-]+)\}\}"
"""What PostHog's SDK fills in: posthog-python ``Prompts.compile`` (``PostHog/posthog-python``,
``posthog/ai/prompts.py`` @ ``c55c9b22ffb6ae2db2c4a1e30813d2f89b50e297``) substitutes only this, and
leaves anything else (``{{ name }}``, ``{{> other}}``) in the text as it is."""
_SPACED_PLACEHOLDER_RE = re.compile(r"\{\{(?:\s+[A-Za-z_][A-Za-z0-9_.-]*\s*|[A-Za-z_][A-Za-z0-9_.-]*\s+)\}\}")
_INCLUDE_RE = re.compile(r"\{\{>\s*(.*?)\s*\}\}")


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


def compilable(text: str) -> str:
    """``{{ name }}`` written as ``{{name}}``: the same variable to promptshelf, and the only form PostHog's
    SDKs fill in."""
    return PLACEHOLDER_RE.sub(lambda match: "{{" + match.group(1) + "}}", text)


def sdk_warnings(draft: VersionDraft) -> list[str]:
    """What PostHog's SDKs will not render as promptshelf does (pure: no request)."""
    texts = draft.text_parts
    warnings = []
    if any(_SPACED_PLACEHOLDER_RE.search(text) for text in texts):
        warnings.append(
            "placeholders written with spaces ({{ name }}) are stored in PostHog as {{name}}, the only form "
            f"PostHog's SDKs fill in (posthog-python Prompts.compile matches {SDK_PLACEHOLDER}); promptshelf "
            "reads both the same way"
        )
    includes = sorted({match.group(1) for text in texts for match in _INCLUDE_RE.finditer(text)})
    if includes:
        warnings.append(
            "PostHog's SDK does not expand includes: an application fetching this prompt with posthog-python "
            "gets "
            + ", ".join("{{> " + include + "}}" for include in includes)
            + " as literal text; render it through promptshelf (render_prompt) to get the included text"
        )
    defaults = [variable.name for variable in draft.variables if variable.default is not None]
    if defaults:
        warnings.append(
            "PostHog's SDK does not know declared defaults: posthog-python Prompts.compile leaves "
            + ", ".join("{{" + name + "}}" for name in defaults)
            + " in the text when the application does not pass a value, where promptshelf renders the default"
        )
    return warnings


def labels_from_resolve(answer: JsonObject) -> dict[str, int]:
    """Every label of the prompt and its version, from resolve's top-level ``labels``."""
    return {
        entry["name"]: entry["version"]
        for entry in answer.get("labels") or []
        if isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("version"), int)
    }


def info_from_summary(item: JsonObject) -> VersionInfo:
    """One row of resolve's ``versions`` (``LLMPromptVersionSummaryApi``): PostHog names the user whose key
    wrote the version; promptshelf's own record of the author is in that version's config, not here."""
    return VersionInfo(
        version=item["version"],
        labels=sorted(label for label in item.get("labels") or [] if isinstance(label, str)),
        commit_message=item.get("version_description"),
        created_at=item["created_at"],
        created_by=user_name(item.get("created_by")),
    )


def labels_by_version(obj: JsonObject) -> dict[str, int]:
    """Every label of the prompt, from a list row's ``all_labels``."""
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


def summary_from_object(obj: JsonObject, labels: dict[str, int] | None = None) -> PromptSummary:
    """``labels``: every label of the prompt (default: a list row's ``all_labels``)."""
    version = version_from_object(obj, None)
    return PromptSummary(
        name=version.name,
        description=version.description,
        type=version.type,
        latest_version=version.latest_version,
        labels=dict(sorted((labels_by_version(obj) if labels is None else labels).items())),
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
    if draft.labels and "labels" not in obj:
        dropped.append("labels")
    return dropped


def stale_base_conflict(name: str, base_version: int, current: int | None) -> ConflictError:
    return ConflictError(
        f"prompt {name!r} changed since version {base_version} was read: the latest version is now "
        f"{current}; read it, reapply your change and publish with base_version={current}",
        current_version=current,
    )

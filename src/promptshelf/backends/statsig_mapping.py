"""Statsig's prompt objects and promptshelf's model, both ways: pure functions, no I/O.

How promptshelf's model maps onto Statsig (vendor-apis.md, "Statsig prompts"):

- A prompt is an AI config of the same name (Statsig allows 3 to 100 characters of ``[a-zA-Z0-9_\\-. ]``,
  so names with ``/`` folders are refused before any request). Its description is the config's.
- A version is a Statsig version; promptshelf's numbers are the order of the prompt's non-``Archive``
  versions (1 = oldest). Statsig's ``prompts`` messages are a chat prompt; a text prompt is one ``user``
  message. ``model``, ``provider``, ``eval_model``, ``temperature``, ``top_p``, ``max_tokens``, the
  penalties and the workflow fields are the version's ``config``, sent and read back as they are.
- What Statsig has no field for (text/chat type, declared variables, tags, created_by, config keys
  Statsig does not know, labels other than the two below) travels in the version's ``description``,
  after the commit message, as one line ``promptshelf:{json}``; the whole must fit Statsig's 1000
  characters. A prompt's tags are those recorded by its newest version (Statsig cannot update a
  config's tags), falling back to the config's own tags for versions written elsewhere.
- Labels: ``production`` is the ``Live`` version (moving it PATCHes ``type``; Statsig demotes the
  previous Live one), ``candidate`` is the ``Candidate`` version (moving it demotes other Candidates to
  ``Draft``; a version has one type, so the Live version cannot also be the candidate, and promoting the
  candidate to production takes the candidate label off it). Other labels are kept in the metadata of
  the version they point at; moving one PATCHes the description of the versions involved.
- Archive marks every version ``Archive`` (Statsig's own soft archive; nothing is deleted, the Live
  version stops being served). An AI config whose versions are all archived is an archived prompt;
  creating the name again reuses the config and numbering restarts at 1 after the archived versions.
  Archiving a single version in Statsig's console hides it from promptshelf and renumbers later ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promptshelf.backends.statsig_api import JsonDict
from promptshelf.errors import InvalidArgumentError, NotFoundError
from promptshelf.model import (
    LATEST,
    Message,
    PromptSummary,
    PromptVersion,
    Variable,
    VersionDraft,
    validate_name,
    variable_names,
)

STATSIG_NAME_RULE = r"3 to 100 characters matching ^[a-zA-Z0-9_\-. ]*$ (no '/' folders)"
_STATSIG_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ")
MAX_DESCRIPTION = 1000
LIVE_LABEL = "production"
CANDIDATE_LABEL = "candidate"
META_MARKER = "promptshelf:"
NUMBER_FIELDS = ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty")
STRING_FIELDS = ("model", "provider", "eval_model")
CONFIG_FIELDS = (*STRING_FIELDS, *NUMBER_FIELDS, "workflow_body", "workflow_headers", "auth_workflow_headers")


@dataclass(frozen=True, slots=True)
class StatsigPrompt:
    """An AI config with its versions split into what promptshelf sees and what is archived."""

    raw: JsonDict
    visible: list[JsonDict]
    """Non-archived versions, oldest first: ``visible[n - 1]`` is promptshelf's version ``n``."""
    archived: list[JsonDict]

    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def name(self) -> str:
        return str(self.raw.get("name"))

    def version(self, number: int) -> JsonDict:
        if not 1 <= number <= len(self.visible):
            raise NotFoundError(
                f"prompt {self.name!r} has no version {number} (versions 1 to {len(self.visible)})",
                version=number,
            )
        return self.visible[number - 1]

    def labels(self) -> dict[str, int]:
        """Every label and the version it points at; when several versions carry one, the newest wins."""
        found: dict[str, int] = {}
        for number, version in enumerate(self.visible, start=1):
            if version.get("type") == "Live":
                found[LIVE_LABEL] = number
            elif version.get("type") == "Candidate":
                found[CANDIDATE_LABEL] = number
            for label in meta_of(version).get("labels", []):
                if label not in (LIVE_LABEL, CANDIDATE_LABEL, LATEST):
                    found[label] = number
        return found

    def tags(self) -> list[str]:
        versions = self.visible or self.archived
        meta = split_description(versions[-1].get("description"))[1] if versions else None
        tags = meta.get("tags", []) if meta is not None else self.raw.get("tags") or []
        return [str(tag) for tag in tags]


def check_name(name: str) -> None:
    validate_name(name)
    if not 3 <= len(name) <= 100 or not set(name) <= _STATSIG_NAME_CHARS:
        raise InvalidArgumentError(
            f"Statsig cannot store the prompt name {name!r}: AI config names are {STATSIG_NAME_RULE}",
            argument="name",
        )


def addressable(name: object) -> bool:
    try:
        check_name(str(name))
    except InvalidArgumentError:
        return False
    return isinstance(name, str)


def check_label(label: str) -> None:
    if label == LATEST:
        raise InvalidArgumentError(
            "the label 'latest' is reserved and cannot be set or removed", argument="label"
        )


def check_prompt_description(description: str | None) -> None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidArgumentError(
            f"Statsig keeps at most {MAX_DESCRIPTION} characters of description", argument="description"
        )


def version_body(number: int, draft: VersionDraft, *, tags: list[str]) -> JsonDict:
    """The create-version body; refuses (before any request) what Statsig cannot hold."""
    if LIVE_LABEL in draft.labels and CANDIDATE_LABEL in draft.labels:
        raise InvalidArgumentError(
            "a Statsig version is either Live (production) or Candidate (candidate), not both",
            argument="labels",
        )
    if draft.type == "text":
        messages = [Message(role="user", content=draft.template or "")]
    else:
        messages = list(draft.messages or [])
    body: JsonDict = {"name": f"version {number}", "prompts": [m.model_dump() for m in messages]}
    extras: JsonDict = {}
    for key, value in draft.config.items():
        if key in CONFIG_FIELDS and value is not None:
            _check_config_value(key, value)
            body[key] = value
        else:
            extras[key] = value
    meta: JsonDict = {}
    if draft.type == "text":
        meta["type"] = "text"
    if draft.variables:
        meta["variables"] = [v.model_dump(exclude_defaults=True) for v in draft.variables]
    if tags:
        meta["tags"] = list(tags)
    if extras:
        meta["config"] = extras
    if draft.created_by:
        meta["by"] = draft.created_by
    other_labels = sorted(set(draft.labels) - {LIVE_LABEL, CANDIDATE_LABEL, LATEST})
    if other_labels:
        meta["labels"] = other_labels
    body["description"] = join_description(draft.commit_message, meta)
    return body


def _check_config_value(key: str, value: Any) -> None:
    if key in NUMBER_FIELDS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        expected = "a number"
    elif key in STRING_FIELDS:
        ok, expected = isinstance(value, str), "a string"
    elif key == "workflow_body":
        ok = isinstance(value, dict) and value.get("type") == "JSON" and isinstance(value.get("value"), str)
        expected = 'an object {"type": "JSON", "value": string}'
    else:
        ok = isinstance(value, list) and all(
            isinstance(h, dict)
            and set(h) == {"name", "value"}
            and all(isinstance(x, str) for x in h.values())
            for h in value
        )
        expected = "a list of {name, value} strings"
    if not ok:
        raise InvalidArgumentError(f"config.{key} must be {expected} for Statsig", argument="config")


def join_description(commit: str | None, meta: JsonDict) -> str:
    encoded = META_MARKER + json.dumps(meta, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    description = f"{commit}\n\n{encoded}" if commit else encoded
    if len(description) > MAX_DESCRIPTION:
        raise InvalidArgumentError(
            f"Statsig keeps at most {MAX_DESCRIPTION} characters of version description; the commit message "
            f"plus promptshelf's metadata (declared variables, tags, labels, extra config) need "
            f"{len(description)}: shorten the commit message or the variable descriptions",
            argument="commit_message",
        )
    return description


def split_description(description: object) -> tuple[str | None, JsonDict | None]:
    """(commit message, promptshelf metadata or ``None`` for a version written outside promptshelf)."""
    text = description if isinstance(description, str) else ""
    at = text.rfind(META_MARKER)
    if at == 0 or (at > 0 and text[at - 2 : at] == "\n\n"):
        try:
            meta = json.loads(text[at + len(META_MARKER) :])
        except ValueError:
            meta = None
        if isinstance(meta, dict):
            return (text[: at - 2] if at else None) or None, meta
    return text or None, None


def meta_of(version: JsonDict) -> JsonDict:
    return split_description(version.get("description"))[1] or {}


def to_version(prompt: StatsigPrompt, number: int) -> PromptVersion:
    raw = prompt.visible[number - 1] if prompt.visible else prompt.archived[number - 1]
    commit, meta = split_description(raw.get("description"))
    meta = meta or {}
    messages = [Message(role=m["role"], content=m["content"]) for m in raw.get("prompts") or []]
    is_text = meta.get("type") == "text" and len(messages) == 1
    config = {key: raw[key] for key in CONFIG_FIELDS if raw.get(key) is not None}
    config.update(meta.get("config") or {})
    labels = prompt.labels()
    return PromptVersion(
        name=prompt.name,
        version=number,
        type="text" if is_text else "chat",
        template=messages[0].content if is_text else None,
        messages=None if is_text else messages,
        config=config,
        variables=[Variable(**v) for v in meta.get("variables", [])],
        commit_message=commit,
        created_at=iso(raw.get("createdTime")),
        created_by=meta.get("by"),
        labels=sorted(label for label, at in labels.items() if at == number),
        description=prompt.raw.get("description") or None,
        tags=prompt.tags(),
        latest_version=len(prompt.visible),
        source="upstream",
    )


def summary_of(prompt: StatsigPrompt) -> PromptSummary | None:
    if prompt.visible:
        newest = to_version(prompt, len(prompt.visible))
    elif prompt.archived:
        newest = to_version(prompt, len(prompt.archived))
    else:
        return None  # an empty config (say, a create that failed half way) is no prompt yet
    times = [prompt.raw.get("lastModifiedTime"), *(v.get("lastModifiedTime") for v in prompt.visible)]
    return PromptSummary(
        name=prompt.name,
        description=newest.description,
        type=newest.type,
        latest_version=len(prompt.visible) or len(prompt.archived),
        labels=prompt.labels(),
        tags=newest.tags,
        variables=variable_names(newest.variables, newest.text_parts),
        updated_at=iso(max((t for t in times if isinstance(t, int | float)), default=None)),
        archived=not prompt.visible,
    )


def fingerprint(prompt: StatsigPrompt) -> str:
    parts = [prompt.raw.get("description"), prompt.raw.get("tags")]
    parts += [
        [v.get("id"), v.get("type"), v.get("description"), v.get("lastModifiedTime")] for v in prompt.visible
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def statsig_order(version: JsonDict) -> tuple[float, float]:
    number, created = version.get("version"), version.get("createdTime")
    return (
        number if isinstance(number, int | float) else 0,
        created if isinstance(created, int | float) else 0,
    )


def iso(epoch_ms: object) -> str:
    if isinstance(epoch_ms, str):
        return epoch_ms
    if not isinstance(epoch_ms, int | float):
        epoch_ms = 0
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lower_text(value: object) -> str:
    return value.lower() if isinstance(value, str) else ""

"""Statsig's objects and promptshelf's model, both ways: pure functions, no I/O.

Where promptshelf keeps a prompt in Statsig, and why there (README, "Vendor backends", "Statsig"):

- Statsig's AI SDKs read a prompt from the parameter store ``prompt:{name}``: its ``live`` parameter names
  the dynamic config of the Live version, ``candidates`` lists those of the Candidate versions, and each
  config's value holds the version (``prompts``, ``model``, ``temperature``, ``maxTokens``, ...)
  (statsig-io/statsig-ai-python @ 793e86c8c82431192e2bcd2b85e5249088afc163 ``statsig_ai/statsig_ai_base.py``
  ``get_prompt``, ``statsig_ai/prompt.py`` ``make_prompt``, ``statsig_ai/prompt_version.py``;
  statsig-io/statsig-ai-node @ c3ae2b280e5b82bdfe247c8dffab64262862af4c ``src/prompts/Prompt.ts``
  ``makePrompt``, ``src/prompts/PromptVersion.ts``). Both can be read and written on published routes;
  Statsig's AI config versions cannot be read back at all, so promptshelf reads this pair only.
- A version is a dynamic config that promptshelf creates with a fixed id (``config_id``): the value holds
  what the SDKs read, under their field names; the config's description holds the commit message and
  what Statsig has no field for (text/chat type, declared variables, tags, author, other config keys)
  as one line ``promptshelf:{json}`` after it (1000 characters in all). A version's content is never
  changed after it is written.
- The parameter store also holds promptshelf's own parameter ``promptshelf`` (a static object): the ids
  of the versions oldest first (``versions[n - 1]`` is version ``n``), labels other than Statsig's two,
  the archived generations and the AI config's id. Parameters promptshelf does not own (say
  ``prompt_targeting_rules``) are written back as they were.
- Labels: ``production`` is ``live``. Statsig serves several Candidates at once, so each Candidate
  version ``n`` carries its own label ``candidate-n``: setting it adds ``n`` to ``candidates``, removing
  it takes ``n`` out, and no other Candidate ever changes as a side effect. A version is Live or a
  Candidate, not both (Statsig's version ``type``): promoting a Candidate makes it Live and so ends its
  candidacy. The bare label ``candidate`` cannot say which Candidate it means and is refused.
- Archive moves the versions into ``archived`` and clears ``live`` and ``candidates`` (the SDKs then
  serve nothing); the configs stay as history. Creating the name again starts at version 1 with new
  config ids (the generation is part of the id).
- A prompt written in Statsig's console has no ``promptshelf`` parameter: its versions are the Live and
  Candidate configs, numbered as the console names them (``Version 3`` is version 3, as in the SDK's
  fixture), else oldest first after those. Drafts are in no store, so published routes cannot read them:
  their numbers are gaps (``None``), answered as such.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptshelf.backends.statsig_api import JsonDict
from promptshelf.errors import InvalidArgumentError, NotFoundError
from promptshelf.model import LATEST, Message, PromptVersion, Variable, VersionDraft, validate_name

STATSIG_NAME_RULE = r"3 to 100 characters matching ^[a-zA-Z0-9_\-. ]*$ (no '/' folders)"
_STATSIG_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ")
MAX_DESCRIPTION = 1000
STORE_PREFIX = "prompt:"
INDEX_PARAMETER = "promptshelf"
LIVE_PARAMETER = "live"
CANDIDATES_PARAMETER = "candidates"
LIVE_LABEL = "production"
CANDIDATE_LABEL = "candidate"
CANDIDATE_PREFIX = "candidate-"
META_MARKER = "promptshelf:"
SDK_FIELDS = {
    # promptshelf config key -> the key Statsig's SDKs read in the config value (PromptVersion.ts).
    "model": "model",
    "provider": "provider",
    "eval_model": "evalModel",
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxTokens",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
    "workflow_body": "workflowBody",
}
NUMBER_FIELDS = ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty")
STRING_FIELDS = ("model", "provider", "eval_model")
HEADER_FIELDS = ("workflow_headers", "auth_workflow_headers")
"""AI config version fields the SDKs do not read; kept off the served value, as they may hold secrets."""


@dataclass(slots=True)
class PromptIndex:
    """A prompt as its parameter store describes it."""

    name: str
    description: str
    versions: list[str | None]
    """Dynamic config ids, oldest first; ``None`` for a console draft that cannot be read."""
    labels: dict[str, int] = field(default_factory=dict)
    """Labels other than ``production`` and the Candidates."""
    archived: list[list[str | None]] = field(default_factory=list)
    ai_config_id: str | None = None
    live: str | None = None
    live_source: str | None = None
    """Set when ``live`` is not a static value (a layer or experiment decides it): promptshelf leaves it."""
    candidates: list[str] = field(default_factory=list)
    others: list[JsonDict] = field(default_factory=list)
    managed: bool = True

    def number_of(self, config_id: str | None) -> int | None:
        return self.versions.index(config_id) + 1 if config_id in self.versions else None

    def config(self, number: int) -> str:
        if not 1 <= number <= len(self.versions):
            raise NotFoundError(
                f"prompt {self.name!r} has no version {number} (versions 1 to {len(self.versions)})",
                version=number,
            )
        found = self.versions[number - 1]
        if found is None:
            raise NotFoundError(
                f"version {number} of {self.name!r} is neither Live nor a Candidate in Statsig's console, "
                "and Statsig's published API cannot read such a version (promote it in the console)",
                version=number,
            )
        return found

    def label_map(self) -> dict[str, int]:
        found = {label: at for label, at in self.labels.items() if 1 <= at <= len(self.versions)}
        live = self.number_of(self.live)
        if live is not None:
            found[LIVE_LABEL] = live
        for config_id in self.candidates:
            number = self.number_of(config_id)
            if number is not None:
                found[candidate_label(number)] = number
        return found

    def labels_of(self, number: int) -> list[str]:
        return sorted(label for label, at in self.label_map().items() if at == number)

    def parameters(self) -> list[JsonDict]:
        index = {
            "versions": self.versions,
            "labels": self.labels,
            "archived": self.archived,
            "aiConfigId": self.ai_config_id,
        }
        params = list(self.others)
        if self.live is not None and self.live_source is None:
            params.append(_static(LIVE_PARAMETER, "string", self.live))
        params.append(_static(CANDIDATES_PARAMETER, "array", list(self.candidates)))
        params.append(_static(INDEX_PARAMETER, "object", index))
        return params


def _static(name: str, param_type: str, value: Any) -> JsonDict:
    return {"name": name, "ref_type": "static", "param_type": param_type, "value": value}


def store_name(name: str) -> str:
    return STORE_PREFIX + name


def prompt_name_of(store: object) -> str | None:
    """The prompt a parameter store holds, if it is a prompt's store promptshelf can address."""
    if not isinstance(store, str) or not store.startswith(STORE_PREFIX):
        return None
    name = store[len(STORE_PREFIX) :]
    return name if addressable(name) else None


def config_id(name: str, generation: int, number: int) -> str:
    """The id of version ``number``: fixed, so two writers of one number collide at Statsig."""
    slug = "".join(c if c != " " else "_" for c in name)[:40]
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"promptshelf.{slug}.{digest}.g{generation}.v{number}"


def index_of(store: JsonDict) -> PromptIndex:
    name = str(store.get("name", ""))[len(STORE_PREFIX) :]
    index = PromptIndex(name=name, description=str(store.get("description") or ""), versions=[])
    found_index = False
    for param in store.get("parameters") or []:
        if not isinstance(param, dict):
            continue
        key, static = param.get("name"), param.get("ref_type") == "static"
        if key == INDEX_PARAMETER and static and isinstance(param.get("value"), dict):
            value = param["value"]
            found_index = True
            index.versions = [None if v is None else str(v) for v in value.get("versions") or []]
            index.labels = {str(k): int(v) for k, v in (value.get("labels") or {}).items()}
            index.archived = [
                [None if v is None else str(v) for v in gen] for gen in value.get("archived") or []
            ]
            index.ai_config_id = value.get("aiConfigId") or None
        elif key == LIVE_PARAMETER:
            if static:
                index.live = str(param.get("value") or "") or None
            else:
                index.live_source = f"{param.get('ref_type')} {_ref_target(param)!r}"
                index.others.append(param)
        elif key == CANDIDATES_PARAMETER and static:
            index.candidates = [str(c) for c in param.get("value") or []]
        else:
            index.others.append(param)
    index.managed = found_index
    return index


def console_number(config: JsonDict) -> int | None:
    """``n`` for a config whose value is named ``Version n``, as Statsig's console names versions."""
    value = config.get("defaultValue")
    name = value.get("name") if isinstance(value, dict) else None
    words = name.split() if isinstance(name, str) else []
    if len(words) == 2 and words[0].lower() == "version" and words[1].isascii() and words[1].isdigit():
        return int(words[1]) or None
    return None


def _ref_target(param: JsonDict) -> str:
    for key in ("layer_name", "experiment_name", "config_name", "gate_name"):
        if key in param:
            return str(param[key])
    return "?"


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


def candidate_label(number: int) -> str:
    return f"{CANDIDATE_PREFIX}{number}"


def candidate_number(label: str) -> int | None:
    """``n`` for ``candidate-n`` (ASCII digits, no leading zero), else ``None``."""
    digits = label[len(CANDIDATE_PREFIX) :] if label.startswith(CANDIDATE_PREFIX) else ""
    if digits.isascii() and digits.isdigit() and not digits.startswith("0"):
        return int(digits)
    return None


def check_label(label: str, version: int | None = None) -> None:
    """Refuse, before any request, a label Statsig's model cannot hold (``version``: where it would point)."""
    if label == LATEST:
        raise InvalidArgumentError(
            "the label 'latest' is reserved and cannot be set or removed", argument="label"
        )
    if label == CANDIDATE_LABEL:
        raise InvalidArgumentError(
            "Statsig serves several Candidate versions at once, so the label 'candidate' cannot say which "
            "one it means: each Candidate version n has its own label 'candidate-n' (set 'candidate-3' to "
            "make version 3 a Candidate; the other Candidates stay)",
            argument="label",
        )
    number = candidate_number(label)
    if number is not None and version is not None and number != version:
        raise InvalidArgumentError(
            f"the label {label!r} marks version {number} as one of Statsig's Candidates and cannot point at "
            f"version {version}; set {candidate_label(version)!r} to make version {version} a Candidate",
            argument="label",
        )


def check_draft_labels(draft: VersionDraft, number: int) -> None:
    for label in draft.labels:
        check_label(label, number)
    if LIVE_LABEL in draft.labels and candidate_label(number) in draft.labels:
        raise InvalidArgumentError(
            "a Statsig version is either Live (production) or a Candidate, not both", argument="labels"
        )


def check_prompt_description(description: str | None) -> None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidArgumentError(
            f"Statsig keeps at most {MAX_DESCRIPTION} characters of description", argument="description"
        )


@dataclass(frozen=True, slots=True)
class VersionWrite:
    """Everything written for one version: its dynamic config and its AI config version."""

    config: JsonDict
    """The ``POST /dynamic_configs`` body."""
    ai_version: JsonDict
    """The ``POST /prompts/{id}/versions`` body."""


def version_write(
    name: str, config_id_: str, number: int, draft: VersionDraft, *, tags: list[str]
) -> VersionWrite:
    """The bodies for a new version; refuses (before any request) what Statsig cannot hold."""
    if draft.type == "text":
        messages = [Message(role="user", content=draft.template or "")]
    else:
        messages = list(draft.messages or [])
    prompts = [m.model_dump() for m in messages]
    version_name = f"version {number}"
    value: JsonDict = {"name": version_name, "aiConfigName": name, "prompts": prompts}
    ai_version: JsonDict = {"name": version_name, "prompts": prompts}
    extras: JsonDict = {}
    for key, setting in draft.config.items():
        if setting is not None and (key in SDK_FIELDS or key in HEADER_FIELDS):
            _check_config_value(key, setting)
            ai_version[key] = setting
            if key in SDK_FIELDS:
                value[SDK_FIELDS[key]] = setting
                continue
        extras[key] = setting
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
    description = join_description(draft.commit_message, meta)
    ai_version["description"] = description
    config = {
        "id": config_id_,
        "name": config_id_,
        "description": description,
        "isEnabled": True,
        "defaultValue": value,
    }
    return VersionWrite(config=config, ai_version=ai_version)


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
            f"and promptshelf's metadata (declared variables, tags, other config) come to "
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


def to_version(index: PromptIndex, number: int, config: JsonDict) -> PromptVersion:
    commit, meta = split_description(config.get("description"))
    meta = meta or {}
    value = config.get("defaultValue") if isinstance(config.get("defaultValue"), dict) else {}
    assert isinstance(value, dict)
    messages = [
        Message.model_validate({"role": m.get("role"), "content": str(m.get("content", ""))})
        for m in value.get("prompts") or []
        if isinstance(m, dict)
    ]
    is_text = meta.get("type") == "text" and len(messages) == 1
    settings = {key: value[sdk] for key, sdk in SDK_FIELDS.items() if value.get(sdk) is not None}
    settings.update(meta.get("config") or {})
    return PromptVersion(
        name=index.name,
        version=number,
        type="text" if is_text else "chat",
        template=messages[0].content if is_text else None,
        messages=None if is_text else messages,
        config=settings,
        variables=[Variable(**v) for v in meta.get("variables", [])],
        commit_message=commit,
        created_at=iso(config.get("createdTime")),
        created_by=meta.get("by"),
        labels=index.labels_of(number) if index.versions else [],
        description=index.description or None,
        tags=[str(t) for t in meta.get("tags", [])],
        latest_version=len(index.versions),
        source="upstream",
    )


def iso(epoch_ms: object) -> str:
    if isinstance(epoch_ms, str):
        return epoch_ms
    if not isinstance(epoch_ms, int | float):
        epoch_ms = 0
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def store_fingerprint(store: JsonDict) -> str:
    parts = [store.get("description"), store.get("parameters")]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

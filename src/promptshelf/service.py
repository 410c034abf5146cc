"""The use cases of promptshelf, and every rule that must hold on all backends, written once.

The MCP surface and the CLI call this; it calls a ``Store``. Arguments arrive here already typed (the
edges turn wire data into ``Message``, ``Variable`` and ``Edit`` with ``promptshelf.coerce``); everything
else is checked here: names, selectors, labels (reserved and protected), limits, ``base_version``, edits,
includes and rendering.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptshelf import limits
from promptshelf import template as templating
from promptshelf.backends.base import Changes, Store
from promptshelf.diffing import diff_versions
from promptshelf.errors import ConflictError, ForbiddenError, InvalidArgumentError, NotFoundError
from promptshelf.limits import MAX_TAG_LENGTH, MAX_TAGS, check_version
from promptshelf.model import (
    LATEST,
    MAX_COMMIT_MESSAGE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    Edit,
    Message,
    PromptMeta,
    PromptQuery,
    PromptSummary,
    PromptType,
    PromptVersion,
    Variable,
    VersionDraft,
    text_parts,
    validate_label,
    validate_name,
    validate_variable_name,
)
from promptshelf.results import (
    ArchiveResult,
    LabelMove,
    PromptDocument,
    PromptListing,
    RenderedPrompt,
    VersionDiff,
    VersionListing,
)
from promptshelf.settings import Settings

MAX_LIST_LIMIT = 200
MAX_HISTORY_LIMIT = 100


@dataclass(frozen=True)
class Policy:
    """How this server instance behaves; built from Settings by whoever starts the service."""

    default_label: str = LATEST
    protected_labels: frozenset[str] = frozenset({"production"})
    allowed_labels: frozenset[str] = frozenset()
    """Protected labels that untrusted callers may still move (``--allow-label``)."""
    trusted: bool = False
    """The CLI is trusted (an operator at a terminal) and may move any label; MCP callers are not."""
    actor: str | None = None
    """Recorded as ``created_by`` on new versions."""

    @classmethod
    def from_settings(cls, settings: Settings, *, trusted: bool, actor: str | None) -> Policy:
        return cls(
            default_label=settings.label,
            protected_labels=frozenset(settings.protected_labels),
            allowed_labels=frozenset(settings.allow_labels),
            trusted=trusted,
            actor=actor,
        )


@dataclass(frozen=True)
class Resolved:
    """A version with its includes expanded (or not) and its effective variables."""

    version: PromptVersion
    texts: list[str]
    variables: list[Variable]
    includes: list[str] = field(default_factory=list)


class PromptService:
    def __init__(self, store: Store, policy: Policy | None = None) -> None:
        self.store = store
        self.policy = policy or Policy()
        validate_label(self.policy.default_label, allow_latest=True)
        self._plain: dict[int, _PlainVersion] = {}
        """What is worked out once for a version without includes, by the identity of the version object,
        for as long as it lives (see ``_plain_version``)."""

    # -- reads ---------------------------------------------------------------------------------------

    async def list_prompts(
        self,
        *,
        search: str | None = None,
        tag: str | None = None,
        label: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        include_archived: bool = False,
    ) -> PromptListing:
        _check_range("limit", limit, 1, MAX_LIST_LIMIT)
        limits.check_search(search)
        if label is not None:
            validate_label(label, allow_latest=True)
        query = PromptQuery(
            search=search or None,
            tag=tag or None,
            label=label,
            after=cursor or None,
            limit=limit,
            include_archived=include_archived,
        )
        page = await self.store.list_prompts(query)
        return PromptListing(prompts=page.prompts, next_cursor=page.next_cursor)

    async def get_prompt(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        resolve_includes: bool = True,
    ) -> PromptDocument:
        found = await self._select(name, version=version, label=label)
        plain = self._plain_version(found)
        if plain is None:
            return _document(await self._expand(found, resolve_includes))
        if plain.document is None:  # a frozen model: one can serve every fetch of the version
            plain.document = _document(Resolved(found, found.text_parts, plain.variables))
        return plain.document

    async def render_prompt(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        label: str | None = None,
        strict: bool = True,
    ) -> RenderedPrompt:
        resolved = await self.resolve(name, version=version, label=label)
        return self.render_resolved(resolved, variables or {}, strict=strict)

    def render_resolved(
        self, resolved: Resolved, variables: Mapping[str, Any], *, strict: bool
    ) -> RenderedPrompt:
        """Render a version already resolved (the MCP surface also needs its description)."""
        rendered, unused = self.render_texts(resolved, variables, strict=strict)
        found = resolved.version
        return RenderedPrompt(
            name=found.name,
            version=found.version,
            type=found.type,
            text=rendered[0] if found.type == "text" else None,
            messages=_with_contents(found.messages, rendered) if found.type == "chat" else None,
            config=found.config,
            unused=unused,
            includes=resolved.includes,
            source=found.source,
        )

    def render_texts(
        self, resolved: Resolved, variables: Mapping[str, Any], *, strict: bool
    ) -> tuple[list[str], list[str]]:
        """The texts of a resolved version rendered (the template, or each message's content, in order),
        and the given variables it does not use: ``render_resolved`` without building its result."""
        limits.check_json(dict(variables), "variables")
        bindings = templating.bind(resolved.variables, variables, strict=strict)
        return templating.render_texts(resolved.texts, bindings.values), bindings.unused

    async def resolve(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        resolve_includes: bool = True,
    ) -> Resolved:
        """The version a selector names, its texts (includes expanded) and its effective variables."""
        found = await self._select(name, version=version, label=label)
        plain = self._plain_version(found)
        if plain is not None:
            return Resolved(found, found.text_parts, list(plain.variables))
        return await self._expand(found, resolve_includes)

    async def _expand(self, found: PromptVersion, resolve_includes: bool) -> Resolved:
        name = found.name
        texts = found.text_parts
        if not resolve_includes:
            return Resolved(found, texts, templating.effective_variables(found.variables, texts))
        includes: list[str] = []

        async def load(ref: templating.IncludeRef) -> templating.IncludedPrompt:
            try:
                included = await self._select(ref.name, version=ref.version, label=ref.label)
            except (NotFoundError, InvalidArgumentError) as exc:
                raise type(exc)(
                    f"include {{{{> {ref}}}}} in prompt {name!r}: {exc.message}", **exc.details
                ) from exc
            if included.type != "text":
                raise InvalidArgumentError(
                    f"include {{{{> {ref}}}}} in prompt {name!r}: {ref.name!r} is a chat prompt; "
                    "only text prompts can be included",
                    argument="template",
                )
            includes.append(f"{included.name}@{included.version}")
            return templating.IncludedPrompt(
                included.name, included.version, included.template or "", included.variables
            )

        expanded = await templating.expand_includes(texts, load, (found.name,))
        variables = templating.effective_variables(
            found.variables, texts, expanded.included_variables, expanded.texts
        )
        return Resolved(found, expanded.texts, variables, list(dict.fromkeys(includes)))

    def _plain_version(self, found: PromptVersion) -> _PlainVersion | None:
        """What is kept for ``found`` if its texts include nothing (with or without includes resolved, it
        reads the same), else None.

        A version is immutable and a store with a read cache hands out the same object until anything
        commits, so the answer is kept with the object (by its identity, dropped when it is collected)
        instead of being worked out on every fetch of a popular prompt.
        """
        key = id(found)
        known = self._plain.get(key)
        if known is not None and known.version() is found:
            return known
        texts = found.text_parts
        if any(True for text in texts for _ in templating.include_spans(text)):
            return None

        def forget(_: weakref.ref[PromptVersion]) -> None:
            self._plain.pop(key, None)

        plain = _PlainVersion(
            weakref.ref(found, forget), templating.effective_variables(found.variables, texts)
        )
        self._plain[key] = plain
        return plain

    async def list_versions(
        self, name: str, *, before_version: int | None = None, limit: int = 20
    ) -> VersionListing:
        validate_name(name)
        _check_range("limit", limit, 1, MAX_HISTORY_LIMIT)
        if before_version is not None:
            check_version(before_version, "before_version")
        page = await self.store.list_versions(name, before_version=before_version, limit=limit)
        return VersionListing(name=name, versions=page.versions, has_more=page.has_more)

    async def diff_versions(self, name: str, from_version: int, to_version: int | None = None) -> VersionDiff:
        validate_name(name)
        check_version(from_version, "from_version")
        if to_version is not None:
            check_version(to_version, "to_version")
        old = await self.store.get_version(name, version=from_version)
        new = await self.store.get_version(name, version=to_version)
        return diff_versions(old, new)

    async def get_summary(self, name: str) -> PromptSummary:
        """The prompt's metadata: its latest version and every label with the version it points at."""
        validate_name(name)
        return await self.store.get_summary(name)

    async def poll_changes(self, since: str | None) -> Changes:
        return await self.store.poll_changes(since)

    # -- writes --------------------------------------------------------------------------------------

    async def create_prompt(
        self,
        name: str,
        *,
        template: str | None = None,
        messages: list[Message] | None = None,
        description: str | None = None,
        config: dict[str, Any] | None = None,
        variables: list[Variable] | None = None,
        tags: list[str] | None = None,
        labels: list[str] | None = None,
        commit_message: str | None = None,
    ) -> PromptDocument:
        validate_name(name, new=True)
        if template is None and messages is None:
            raise InvalidArgumentError(
                "give the prompt a 'template' (text prompt) or 'messages' (chat prompt)"
            )
        draft = self._draft(template, messages, config or {}, variables or [], labels or [], commit_message)
        meta = _meta(description, tags or [])
        await self._check_includes(name, draft)
        created = await self.store.create_prompt(name, meta, draft)
        return await self._written(created, draft)

    async def update_prompt(
        self,
        name: str,
        *,
        base_version: int,
        template: str | None = None,
        messages: list[Message] | None = None,
        edits: list[Edit] | None = None,
        config: dict[str, Any] | None = None,
        variables: list[Variable] | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        labels: list[str] | None = None,
        commit_message: str | None = None,
    ) -> PromptDocument:
        """Publish version ``base_version + 1``; fields not given carry over from ``base_version``."""
        validate_name(name)
        check_version(base_version, "base_version")
        given = [
            arg for arg, value in (("template", template), ("messages", messages), ("edits", edits)) if value
        ]
        if len(given) != 1:
            raise InvalidArgumentError(
                "give exactly one of 'template', 'messages' or 'edits' "
                + (f"(got {', '.join(given)})" if given else "(got none)")
            )
        if edits:
            templating.check_edit_count(len(edits))
        base = await self._base(name, base_version)
        if base.latest_version != base.version:
            # Checked again when publishing; here so that a stale base costs no edits.
            raise _changed_since(name, base_version, base.latest_version)
        if edits:
            edited = templating.apply_edits(base.text_parts, [(edit.old, edit.new) for edit in edits])
            if base.type == "text":
                template = edited[0]
            else:
                messages = _with_contents(base.messages, edited)
        draft = self._draft(
            template,
            messages,
            base.config if config is None else config,
            base.variables if variables is None else variables,
            labels or [],
            commit_message,
        )
        meta = None
        if description is not None or tags is not None:
            meta = _meta(
                base.description if description is None else description, base.tags if tags is None else tags
            )
        if draft.labels:  # the prompt keeps its other labels
            labelled = (await self.store.get_summary(name)).labels
            limits.check_labels(len(labelled.keys() | set(draft.labels)))
        await self._check_includes(name, draft)
        published = await self.store.publish_version(name, base_version, draft, meta)
        return await self._written(published, draft)

    async def set_label(self, name: str, label: str, version: int) -> LabelMove:
        validate_name(name)
        self._check_movable(validate_label(label))
        check_version(version)
        labelled = (await self.store.get_summary(name)).labels
        if label not in labelled:
            limits.check_labels(len(labelled) + 1)
        previous = await self.store.set_label(name, label, version)
        return LabelMove(name=name, label=label, version=version, previous_version=previous)

    async def remove_label(self, name: str, label: str) -> LabelMove:
        validate_name(name)
        self._check_movable(validate_label(label))
        previous = await self.store.remove_label(name, label)
        return LabelMove(name=name, label=label, version=None, previous_version=previous)

    async def archive_prompt(self, name: str) -> ArchiveResult:
        validate_name(name)
        archived = await self.store.archive_prompt(name)
        return ArchiveResult(name=name, archived_versions=archived)

    async def _written(self, written: PromptVersion, draft: VersionDraft) -> PromptDocument:
        document = await self.get_prompt(written.name, version=written.version, resolve_includes=False)
        warnings = self.store.sdk_warnings(draft)
        return document.model_copy(update={"warnings": warnings}) if warnings else document

    # -- rules ---------------------------------------------------------------------------------------

    async def _select(self, name: str, *, version: int | None, label: str | None) -> PromptVersion:
        validate_name(name)
        if version is not None and label is not None:
            raise InvalidArgumentError(
                f"give either version ({version}) or label ({label!r}), not both", argument="version"
            )
        if version is not None:
            check_version(version)
            return await self.store.get_version(name, version=version)
        label = validate_label(label, allow_latest=True) if label is not None else self.policy.default_label
        if label == LATEST:
            return await self.store.get_version(name)
        return await self.store.get_version(name, label=label)

    async def _base(self, name: str, base_version: int) -> PromptVersion:
        try:
            return await self.store.get_version(name, version=base_version)
        except NotFoundError:
            summary = await self.store.get_summary(name)  # raises NotFoundError for an unknown name
            raise ConflictError(
                f"prompt {name!r} has no version {base_version}; its latest version is "
                f"{summary.latest_version}: read it and publish with base_version={summary.latest_version}",
                current_version=summary.latest_version,
            ) from None

    def _draft(
        self,
        template_text: str | None,
        messages: list[Message] | None,
        config: dict[str, Any],
        variables: list[Variable],
        labels: list[str],
        commit_message: str | None,
    ) -> VersionDraft:
        if template_text is not None and messages is not None:
            raise InvalidArgumentError("give either 'template' or 'messages', not both")
        if template_text is not None and not template_text.strip():
            raise InvalidArgumentError("the template is empty", argument="template")
        if messages is not None and not messages:
            raise InvalidArgumentError("a chat prompt needs at least one message", argument="messages")
        if not isinstance(config, dict):
            raise InvalidArgumentError("config must be a JSON object", argument="config")
        limits.check_content(template_text, [m.content for m in messages] if messages is not None else None)
        limits.check_config(config)
        limits.check_labels(len(set(labels)))
        if commit_message is not None and len(commit_message) > MAX_COMMIT_MESSAGE_LENGTH:
            raise InvalidArgumentError(
                f"commit_message is {len(commit_message)} characters long; the limit is "
                f"{MAX_COMMIT_MESSAGE_LENGTH}",
                argument="commit_message",
            )
        _check_variables(variables)
        for label in labels:
            self._check_movable(validate_label(label))
        type_: PromptType = "text" if template_text is not None else "chat"
        draft = VersionDraft(
            type=type_,
            template=template_text,
            messages=messages,
            config=config,
            variables=variables,
            commit_message=commit_message,
            created_by=self.policy.actor,
            labels=list(dict.fromkeys(labels)),
        )
        _check_include_syntax(text_parts(type_, template_text, messages))
        return draft

    async def _check_includes(self, name: str, draft: VersionDraft) -> None:
        """Refuse content whose includes lead back to itself or pass the limits on includes; an include of a
        prompt that does not exist yet is allowed (prompts may be created in any order) and fails only when
        rendered."""
        if not templating.include_refs(draft.text_parts):
            return

        async def load(ref: templating.IncludeRef) -> templating.IncludedPrompt:
            try:
                included = await self._select(ref.name, version=ref.version, label=ref.label)
            except NotFoundError:
                return templating.IncludedPrompt(ref.name, 0, "", [])
            return templating.IncludedPrompt(
                included.name, included.version, "\n".join(included.text_parts), []
            )

        await templating.expand_includes(draft.text_parts, load, (name,))

    def check_movable(self, label: str) -> None:
        """Refuse, as ``set_label`` and ``remove_label`` would, a label this caller may not move (a page asks
        before it shows a confirmation)."""
        self._check_movable(validate_label(label))

    def _check_movable(self, label: str) -> None:
        policy = self.policy
        if label in policy.protected_labels and not policy.trusted and label not in policy.allowed_labels:
            raise ForbiddenError(
                f"the label {label!r} is protected: MCP callers cannot move it unless the operator allows it "
                f"(--allow-label {label}); the promptshelf CLI can",
                label=label,
            )


def _changed_since(name: str, base_version: int, latest: int) -> ConflictError:
    return ConflictError(
        f"prompt {name!r} changed since version {base_version} was read: the latest version is now {latest}; "
        f"read it, reapply your change and publish with base_version={latest}",
        current_version=latest,
    )


def _check_range(argument: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{argument} must be an integer, not {value!r}", argument=argument)
    if not low <= value <= high:
        raise InvalidArgumentError(f"{argument} must be from {low} to {high}, not {value}", argument=argument)


def _check_variables(variables: list[Variable]) -> None:
    limits.check_variables(variables)
    seen: set[str] = set()
    for variable in variables:
        validate_variable_name(variable.name)
        if variable.name in seen:
            raise InvalidArgumentError(f"variable {variable.name!r} is declared twice", argument="variables")
        seen.add(variable.name)
        if variable.enum is not None:
            if not variable.enum:
                raise InvalidArgumentError(
                    f"variable {variable.name!r}: enum must list at least one value", argument="variables"
                )
            if variable.default is not None and templating.as_text(variable.default) not in variable.enum:
                raise InvalidArgumentError(
                    f"variable {variable.name!r}: default {variable.default!r} is not one of its enum values",
                    argument="variables",
                )


def _check_include_syntax(texts: list[str]) -> None:
    for ref in templating.include_refs(texts):
        validate_name(ref.name)
        if ref.label is not None:
            validate_label(ref.label, allow_latest=True)
        if ref.version is not None:
            try:
                check_version(ref.version)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(
                    f"include {{{{> {ref}}}}}: {exc.message}", argument="template"
                ) from None


def _meta(description: str | None, tags: list[str]) -> PromptMeta:
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgumentError(
            f"description is {len(description)} characters long; the limit is {MAX_DESCRIPTION_LENGTH}",
            argument="description",
        )
    if len(tags) > MAX_TAGS:
        raise InvalidArgumentError(f"at most {MAX_TAGS} tags, not {len(tags)}", argument="tags")
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            raise InvalidArgumentError(
                f"invalid tag {tag!r}: tags are non-empty strings of at most {MAX_TAG_LENGTH} characters",
                argument="tags",
            )
    return PromptMeta(description=description, tags=list(dict.fromkeys(tags)))


def _labels_with_latest(version: PromptVersion) -> list[str]:
    labels = list(version.labels)
    if version.version == version.latest_version:
        labels.append(LATEST)
    return labels


@dataclass
class _PlainVersion:
    """What is worked out once for a version whose texts include nothing."""

    version: weakref.ref[PromptVersion]
    variables: list[Variable]
    document: PromptDocument | None = None


def _document(resolved: Resolved) -> PromptDocument:
    found = resolved.version
    texts = resolved.texts
    return PromptDocument(
        name=found.name,
        version=found.version,
        type=found.type,
        template=texts[0] if found.type == "text" else None,
        messages=_with_contents(found.messages, texts) if found.type == "chat" else None,
        config=found.config,
        variables=resolved.variables,
        labels=_labels_with_latest(found),
        tags=found.tags,
        description=found.description,
        commit_message=found.commit_message,
        created_at=found.created_at,
        created_by=found.created_by,
        latest_version=found.latest_version,
        includes=resolved.includes,
        source=found.source,
    )


def _with_contents(messages: list[Message] | None, contents: list[str]) -> list[Message]:
    return [
        Message(role=message.role, content=content)
        for message, content in zip(messages or [], contents, strict=True)
    ]

"""The PostHog store: promptshelf's model mapped onto PostHog's LLM prompts (``vendor-apis.md``).

How a version is kept in PostHog, so that PostHog's own SDKs (posthog-python ``Prompts``, posthog-js) and
UI keep reading what promptshelf writes:

- ``prompt``: a text prompt is the plain template string (the SDKs ``compile()`` it as is); a chat prompt
  is the JSON list of ``{role, content}`` messages (PostHog answers it JSON-encoded, as it does for any
  non-string prompt).
- ``config``: the version's model settings, as given. What PostHog has no field for (declared variables,
  the prompt's description and tags, the author promptshelf was told, and the type when the text alone
  would mislead) goes under one reserved key, ``config["_promptshelf"]``, written only when there is
  something to keep. ``config`` is versioned with the prompt, which suits variables; description and tags
  are prompt-level, so every new version carries them forward and the latest version's copy is the
  prompt's. The SDKs hand ``config`` to the application as an opaque dict, so an extra key breaks nothing.
- ``version_description``: the commit message. Labels: PostHog's own labels, set with their own calls
  (``PUT``/``DELETE name/{name}/labels/{label}/``) after the write that asks for them; PostHog takes none in
  create or publish bodies.
- Placeholders are written ``{{name}}`` (never ``{{ name }}``), the one form PostHog's SDKs fill in; what
  they still cannot render (includes) is reported by ``sdk_warnings`` and lands in the write's result.

Reads that need commit messages, labels or authors use ``resolve`` (PostHog's get by name carries none of
them), one request per history page. An older server without ``config``/``version_description``/labels
gets a clear ``invalid_argument`` for anything it would drop, never a silent loss. Names and labels are
checked against PostHog's stricter rules, and the 50-label cap, before any request. Archived prompts cannot
be listed (PostHog keeps no listing of them).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from promptshelf.backends.base import Changes, PromptPage, Store, VersionPage
from promptshelf.backends.cache import CachingStore
from promptshelf.backends.posthog_api import MAX_LABELS, JsonObject, PostHogApi, check_label, check_name
from promptshelf.backends.posthog_mapping import (
    META_KEY,
    compilable,
    dropped_fields,
    info_from_summary,
    labels_by_version,
    labels_from_resolve,
    matches_query,
    parse_messages,
    promptshelf_meta,
    same_content,
    sdk_warnings,
    stale_base_conflict,
    summary_from_object,
    version_from_object,
)
from promptshelf.backends.vendor_http import VendorHttp
from promptshelf.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArgumentError,
    NotFoundError,
    PromptshelfError,
    UnavailableError,
)
from promptshelf.model import (
    LATEST,
    PromptMeta,
    PromptQuery,
    PromptSummary,
    PromptVersion,
    VersionDraft,
)
from promptshelf.settings import Settings

logger = logging.getLogger("promptshelf.posthog")

_SNAPSHOTS_KEPT = 16


class PostHogStore:
    kind = "posthog"

    def __init__(self, api: PostHogApi) -> None:
        self.api = api
        self._snapshots: OrderedDict[str, dict[str, str]] = OrderedDict()

    @classmethod
    async def connect(
        cls,
        *,
        host: str,
        project_id: str,
        api_key: str,
        transport: httpx.AsyncBaseTransport | None = None,
        **http_options: Any,
    ) -> PostHogStore:
        http = VendorHttp(
            base_url=f"{host.rstrip('/')}/api/environments/{quote(project_id, safe='')}/llm_prompts/",
            headers={"Authorization": f"Bearer {api_key}"},
            secret_values=[api_key],
            vendor="PostHog",
            transport=transport,
            **http_options,
        )
        store = cls(PostHogApi(http))
        try:
            # Learns what the server supports and reports a bad key or project now, not at first use.
            await store.api.list_page(limit=1)
        except UnavailableError as exc:
            logger.warning("PostHog is not answering yet (%s); continuing, reads will retry", exc.message)
        except BaseException:
            await http.aclose()
            raise
        return store

    async def aclose(self) -> None:
        await self.api.http.aclose()

    # -- reads ---------------------------------------------------------------------------------------

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        if query.include_archived:
            raise InvalidArgumentError(
                "PostHog cannot list archived prompts (its API lists live prompts only); "
                "leave include_archived off with the posthog backend"
            )
        summaries = [summary_from_object(row) for row in await self.api.list_all()]
        wanted = [s for s in summaries if matches_query(s, query)]
        wanted.sort(key=lambda s: s.name)
        page = wanted[: query.limit]
        more = len(wanted) > query.limit
        return PromptPage(prompts=page, next_cursor=page[-1].name if more and page else None)

    async def get_summary(self, name: str) -> PromptSummary:
        state = await self.api.resolve(check_name(name), limit=1)
        return summary_from_object(state["prompt"], labels_from_resolve(state))

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        check_name(name)
        if label is not None and label != LATEST:
            return await self._by_label(name, check_label(label))
        try:
            obj = (await self.api.resolve(name, version=version, limit=1))["prompt"]
        except ForbiddenError as exc:
            if not exc.details.get("web_only"):
                raise
            # An older server serving resolve to the web app only: get by name still reads the version,
            # without its commit message and labels (that server has neither).
            obj = await self.api.get(name, version=version)
        prompt_level = None
        if obj["version"] != obj.get("latest_version", obj["version"]):
            prompt_level = promptshelf_meta(await self.api.get(name))
        return version_from_object(obj, prompt_level)

    async def _by_label(self, name: str, label: str) -> PromptVersion:
        """The version a label points at, from resolve (get by label carries no commit message or labels)."""
        state = await self.api.resolve(name, limit=1)
        self.api.require("labels", "reading a prompt by label")
        at = labels_from_resolve(state).get(label)
        if at is None:
            raise NotFoundError(f"prompt {name!r} has no label {label!r} in PostHog", name=name, label=label)
        latest = state["prompt"]
        if at == latest["version"]:
            return version_from_object(latest, None)
        obj = (await self.api.resolve(name, version=at, limit=1))["prompt"]
        return version_from_object(obj, promptshelf_meta(latest))

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        """One resolve per page: it carries each version's commit message, author and labels."""
        answer = await self.api.resolve(check_name(name), limit=limit, before_version=before_version)
        return VersionPage(
            versions=[info_from_summary(item) for item in answer["versions"]],
            has_more=bool(answer["has_more"]),
        )

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not a deadline)
        await anyio.sleep(timeout)  # the vendor tells no one of changes: they are polled

    async def poll_changes(self, since: str | None) -> Changes:
        snapshot = {
            row["name"]: f"{row['id']}:{row['version']}:{sorted(labels_by_version(row).items())}"
            for row in await self.api.list_all()
        }
        token = hashlib.sha256(json.dumps(sorted(snapshot.items())).encode()).hexdigest()[:24]
        self._snapshots[token] = snapshot
        self._snapshots.move_to_end(token)
        while len(self._snapshots) > _SNAPSHOTS_KEPT:
            self._snapshots.popitem(last=False)
        if since is None:
            return Changes(token=token, names=frozenset())
        before = self._snapshots.get(since)
        if before is None:
            return Changes(token=token, names=None)
        changed = {name for name in before.keys() | snapshot.keys() if before.get(name) != snapshot.get(name)}
        return Changes(token=token, names=frozenset(changed))

    # -- writes --------------------------------------------------------------------------------------

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        return sdk_warnings(draft)

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        check_name(name)
        labels = _check_labels(draft.labels, existing={})
        if labels:
            self.api.require("labels", "setting labels")
        value, config = self._encode(draft, meta)
        try:
            obj = await self.api.create(name, value, config=config, version_description=draft.commit_message)
        except ConflictError as exc:
            current = await self._latest_version_or_none(name)
            raise ConflictError(
                f"a prompt named {name!r} already exists in PostHog (latest version {current}); "
                "publish a new version instead",
                current_version=current,
            ) from exc
        except UnavailableError as exc:
            obj = await self._recover_write(name, 1, value, config, exc)
        dropped = dropped_fields(obj, config, draft)
        if dropped:
            # The server was not known to be an older one until it answered; undo rather than keep a
            # prompt that silently lost what the caller asked for.
            await self.api.archive(name)
            raise InvalidArgumentError(
                f"this (older) PostHog server does not store {', '.join(dropped)}; the prompt was not "
                "created. Upgrade PostHog or leave those out"
            )
        return await self._with_labels(name, obj, labels, "created")

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        check_name(name)
        for label in draft.labels:
            check_label(label)
        state = await self._latest_state(name)
        current = state["prompt"]
        if current["version"] != base_version:
            raise stale_base_conflict(name, base_version, current["version"])
        labels = _check_labels(draft.labels, existing=labels_from_resolve(state))
        if labels:
            self.api.require("labels", "setting labels")
        if meta is None:
            ours = promptshelf_meta(current)
            meta = PromptMeta(description=ours.get("description"), tags=ours.get("tags", []))
        value, config = self._encode(draft, meta)
        try:
            obj = await self.api.publish(
                name, base_version, prompt=value, config=config, version_description=draft.commit_message
            )
        except ConflictError as exc:
            raise stale_base_conflict(name, base_version, exc.current_version) from exc
        except UnavailableError as exc:
            obj = await self._recover_write(name, base_version + 1, value, config, exc)
        return await self._with_labels(name, obj, labels, "published")

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        check_label(label)
        state = await self.api.resolve(check_name(name), limit=1)
        self.api.require("labels", "setting a label")
        existing = labels_from_resolve(state)
        _check_labels([label], existing=existing)
        created = await self.api.set_label(name, label, version)
        # PostHog's answer does not say where a moved label was; the read just before does.
        return None if created else existing.get(label)

    async def remove_label(self, name: str, label: str) -> int:
        check_label(label)
        state = await self.api.resolve(check_name(name), limit=1)
        self.api.require("labels", "removing a label")
        at = labels_from_resolve(state).get(label)
        if at is None:
            raise NotFoundError(f"prompt {name!r} has no label {label!r} in PostHog", name=name, label=label)
        await self.api.remove_label(name, label)
        return at

    async def archive_prompt(self, name: str) -> int:
        current = await self.api.get(check_name(name))
        count = int(current.get("latest_version") or current["version"])
        try:
            await self.api.archive(name)
        except UnavailableError as exc:
            if not exc.details.get("may_have_been_applied"):
                raise
            try:
                await self.api.get(name)
            except NotFoundError:
                return count  # it was archived after all
            except PromptshelfError:
                raise exc from None
            raise UnavailableError(
                f"{exc.message} (checked: the prompt is still live, nothing was archived)"
            ) from exc
        return count

    # -- plumbing ------------------------------------------------------------------------------------

    def _encode(self, draft: VersionDraft, meta: PromptMeta) -> tuple[Any, JsonObject | None]:
        """The ``prompt`` value and ``config`` to send (``None``: leave config out)."""
        value: Any = (
            compilable(draft.template or "")
            if draft.type == "text"
            else [{"role": m.role, "content": compilable(m.content)} for m in draft.messages or []]
        )
        if META_KEY in draft.config:
            raise InvalidArgumentError(
                f"config key {META_KEY!r} is reserved by promptshelf", argument="config"
            )
        ours: JsonObject = {}
        if draft.variables:
            ours["variables"] = [v.model_dump(exclude_none=True) for v in draft.variables]
        if meta.description is not None:
            ours["description"] = meta.description
        if meta.tags:
            ours["tags"] = list(meta.tags)
        if draft.type == "text" and parse_messages(value) is not None:
            ours["type"] = "text"
        supports_config = self.api.capabilities.config is not False
        if draft.created_by and (ours or supports_config):
            # Attribution only: on a server without config PostHog's own created_by must do.
            ours["created_by"] = draft.created_by
        config = {**draft.config, META_KEY: ours} if ours else dict(draft.config)
        # Sent even when empty, so a new version never inherits the previous one's config.
        return value, config if config or supports_config else None

    async def _latest_state(self, name: str) -> JsonObject:
        """The latest version and every label (resolve); from get by name on a server serving resolve to
        the web app only (labels unknown there: such a server has none)."""
        try:
            return await self.api.resolve(name, limit=1)
        except ForbiddenError as exc:
            if not exc.details.get("web_only"):
                raise
            return {"prompt": await self.api.get(name), "labels": []}

    async def _with_labels(self, name: str, obj: JsonObject, labels: list[str], verb: str) -> PromptVersion:
        """Point ``labels`` at the version just written, one call each; a failure says what exists."""
        version = int(obj["version"])
        done: list[str] = []
        failures: list[tuple[str, PromptshelfError]] = []
        for label in labels:
            try:
                await self.api.set_label(name, label, version)
            except PromptshelfError as exc:
                failures.append((label, exc))
            else:
                done.append(label)
        if failures:
            failed = [label for label, _ in failures]
            first = failures[0][1]
            raise type(first)(
                f"version {version} of {name!r} was {verb} in PostHog, but PostHog did not set the label(s) "
                f"{', '.join(failed)} ({first.message})"
                + (f"; {', '.join(done)} set" if done else "")
                + ". The version exists: set the missing labels with set_prompt_label",
                **{**first.details, "version": version, "labels_set": done, "labels_failed": failed},
            ) from first
        written = version_from_object(obj, None)
        return (
            written.model_copy(update={"labels": sorted({*written.labels, *labels})}) if labels else written
        )

    async def _latest_version_or_none(self, name: str) -> int | None:
        try:
            return int((await self.api.get(name))["version"])
        except PromptshelfError:
            return None

    async def _recover_write(
        self, name: str, expected: int, value: Any, config: JsonObject | None, error: UnavailableError
    ) -> JsonObject:
        """After a write whose outcome is unknown: find out whether it landed, never send it again."""
        if not error.details.get("may_have_been_applied"):
            raise error
        try:
            latest = await self.api.get(name)
        except NotFoundError:
            latest = None
        except PromptshelfError:
            raise error from None
        if latest is not None and latest["version"] == expected and same_content(latest, value, config):
            logger.info("PostHog applied the %s write of %r although its answer was lost", self.kind, name)
            return latest
        raise UnavailableError(
            f"{error.message} (checked: it was not applied; PostHog's latest version of {name!r} is "
            f"{latest['version'] if latest else 'none'})",
            vendor="PostHog",
            may_have_been_applied=False,
        ) from error


def _check_labels(labels: list[str], *, existing: dict[str, int]) -> list[str]:
    """PostHog's label rule and its cap of 50 labels a prompt, before any request."""
    for label in labels:
        check_label(label)
    new = [label for label in labels if label not in existing]
    if new and len(existing) + len(new) > MAX_LABELS:
        raise InvalidArgumentError(
            f"PostHog holds at most {MAX_LABELS} labels a prompt (MAX_PROMPT_LABELS); this one has "
            f"{len(existing)} and the write adds {len(new)} ({', '.join(new)}). Remove labels first",
            argument="labels",
        )
    return labels


async def open_posthog_store(settings: Settings) -> Store:
    """The PostHog store the settings describe, behind the read cache."""
    if not settings.posthog_project_id:
        raise InvalidArgumentError("the posthog backend needs POSTHOG_PROJECT_ID (the project's numeric id)")
    if settings.posthog_personal_api_key is None or not settings.posthog_personal_api_key.get_secret_value():
        raise InvalidArgumentError(
            "the posthog backend needs POSTHOG_PERSONAL_API_KEY (a personal API key with the "
            "llm_prompt:read and llm_prompt:write scopes)"
        )
    store = await PostHogStore.connect(
        host=settings.posthog_host,
        project_id=settings.posthog_project_id,
        api_key=settings.posthog_personal_api_key.get_secret_value(),
    )
    return CachingStore(store, ttl=settings.cache_ttl)

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
- ``version_description``: the commit message. Labels: PostHog's own labels.

An older server without ``config``/``version_description``/labels gets a clear ``invalid_argument`` for
anything it would drop, never a silent loss. Names are checked against PostHog's stricter rule before any
request. Archived prompts cannot be listed (PostHog keeps no listing of them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import httpx

from promptshelf.backends.base import Changes, PromptPage, Store, VersionPage
from promptshelf.backends.cache import CachingStore
from promptshelf.backends.posthog_api import JsonObject, PostHogApi, check_name
from promptshelf.backends.posthog_mapping import (
    META_KEY,
    dropped_fields,
    labels_by_version,
    matches_query,
    parse_messages,
    promptshelf_meta,
    same_content,
    stale_base_conflict,
    summary_from_object,
    user_name,
    version_from_object,
)
from promptshelf.backends.vendor_http import VendorHttp
from promptshelf.errors import (
    ConflictError,
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
    VersionInfo,
)
from promptshelf.settings import Settings

logger = logging.getLogger("promptshelf.posthog")

_ROW_MEMO_SIZE = 4096
_SNAPSHOTS_KEPT = 16
_HISTORY_FETCHES = 8


class PostHogStore:
    kind = "posthog"

    def __init__(self, api: PostHogApi) -> None:
        self.api = api
        # Version rows are immutable and their ids unique, so what a row says never goes stale.
        self._rows: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
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
        return summary_from_object(await self.api.get(check_name(name)))

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        check_name(name)
        if label is not None and label != LATEST:
            await self._learn_capabilities(name)
            obj = await self.api.get(name, label=label)
        else:
            obj = await self.api.get(name, version=version)
        prompt_level = None
        if obj["version"] != obj.get("latest_version", obj["version"]):
            prompt_level = promptshelf_meta(await self.api.get(name))
        return version_from_object(obj, prompt_level)

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        answer = await self.api.resolve(check_name(name), limit=limit, before_version=before_version)
        labels = labels_by_version(answer["prompt"])
        limiter = asyncio.Semaphore(_HISTORY_FETCHES)

        async def info(item: JsonObject) -> VersionInfo:
            async with limiter:
                commit_message, created_by = await self._row_extras(name, item)
            return VersionInfo(
                version=item["version"],
                labels=sorted(label for label, at in labels.items() if at == item["version"]),
                commit_message=commit_message,
                created_at=item["created_at"],
                created_by=created_by,
            )

        versions = await asyncio.gather(*(info(item) for item in answer["versions"]))
        return VersionPage(versions=list(versions), has_more=bool(answer["has_more"]))

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

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        check_name(name)
        value, config = self._encode(draft, meta)
        try:
            obj = await self.api.create(
                name,
                value,
                config=config,
                version_description=draft.commit_message,
                labels=draft.labels or None,
            )
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
        return version_from_object(obj, None)

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        check_name(name)
        current = await self.api.get(name)
        if current["version"] != base_version:
            raise stale_base_conflict(name, base_version, current["version"])
        if meta is None:
            ours = promptshelf_meta(current)
            meta = PromptMeta(description=ours.get("description"), tags=ours.get("tags", []))
        value, config = self._encode(draft, meta)
        try:
            obj = await self.api.publish(
                name,
                base_version,
                prompt=value,
                config=config,
                version_description=draft.commit_message,
                labels=draft.labels or None,
            )
        except ConflictError as exc:
            raise stale_base_conflict(name, base_version, exc.current_version) from exc
        except UnavailableError as exc:
            obj = await self._recover_write(name, base_version + 1, value, config, exc)
        return version_from_object(obj, None)

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        await self._learn_capabilities(check_name(name))
        answer = await self.api.set_label(name, label, version)
        previous = answer.get("previous_version")
        return previous if isinstance(previous, int) else None

    async def remove_label(self, name: str, label: str) -> int:
        await self._learn_capabilities(check_name(name))
        answer = await self.api.set_label(name, label, None)
        return int(answer["previous_version"])

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
            (draft.template or "") if draft.type == "text" else [m.model_dump() for m in draft.messages or []]
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

    async def _learn_capabilities(self, name: str) -> None:
        if self.api.capabilities.labels is None:
            await self.api.get(name)

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

    async def _row_extras(self, name: str, item: JsonObject) -> tuple[str | None, str | None]:
        """Commit message and author of one history row (the history page carries neither)."""
        fallback_author = user_name(item.get("created_by"))
        caps = self.api.capabilities
        if not (caps.config or caps.version_description):
            return None, fallback_author
        if item["id"] not in self._rows:
            obj = await self.api.get(name, version=item["version"])
            if obj["id"] != item["id"]:  # the prompt was re-created meanwhile; don't memoise a mismatch
                return None, fallback_author
            self._rows[item["id"]] = (obj.get("version_description"), promptshelf_meta(obj).get("created_by"))
            while len(self._rows) > _ROW_MEMO_SIZE:
                self._rows.popitem(last=False)
        commit_message, author = self._rows[item["id"]]
        return commit_message, author or fallback_author


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

"""The Statsig backend: the Store protocol over Statsig's published Console API routes only.

Where each part of a prompt lives is described (and mapped) in ``statsig_mapping.py``; the routes in
``statsig_api.py``. In short: the parameter store ``prompt:{name}`` (what Statsig's AI SDKs read: ``live``,
``candidates``, plus promptshelf's index) and one dynamic config per version are read and written; the
AI config and its versions are written too, so the prompt shows in Statsig's console, but they cannot be
read back on published routes.

Writes are ordered so that a failure leaves nothing served or listed: a version's dynamic config is
created first (it can be deleted), then the AI config is found or created, then the parameter store is
written (the commit point: before it, the new version is in no index), and the AI config version last.
A failure after the config was created deletes it and writes the parameter store back as it was. What
published routes cannot delete stays and is reused by the next attempt: an AI config created for the
name, and an empty parameter store created for it.

Optimistic concurrency: version ``n``'s config id is fixed (``config_id``), so two writers publishing on
one ``base_version`` collide on its creation and the second gets ``conflict``. Label moves are
read-modify-write of the parameter store, which Statsig cannot guard: of two moves at the same instant
the last one written wins.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

from promptshelf.backends.base import Changes, PromptPage, Store, VersionPage
from promptshelf.backends.cache import CachingStore
from promptshelf.backends.cursors import decode_cursor, encode_cursor
from promptshelf.backends.statsig_api import API_VERSION, JsonDict, StatsigApi
from promptshelf.backends.statsig_mapping import (
    LIVE_LABEL,
    PromptIndex,
    VersionWrite,
    candidate_number,
    check_draft_labels,
    check_label,
    check_name,
    check_prompt_description,
    config_id,
    console_number,
    index_of,
    iso,
    prompt_name_of,
    split_description,
    store_fingerprint,
    store_name,
    to_version,
    version_write,
)
from promptshelf.backends.statsig_templates import mustache_warnings
from promptshelf.backends.vendor_http import Clock, MultiWindowLimiter, RateLimiter, Sleep, VendorHttp
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
    variable_names,
)
from promptshelf.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

MUTATION_TIERS = ((90, 10.0), (900, 900.0))
"""Mutations: under Statsig's burst protection (about 100 per 10 s, statsig-io/docs
``console-api/introduction.mdx`` @ 19d11656), and few enough per 15 minutes that the reads each write
needs (a publish is 3 mutations and 2 reads) stay inside the attempt budget below."""
ATTEMPT_BUDGET = ((1700, 900.0),)
"""Every attempt: Statsig's default quota is about 1,800 attempts per 15 minutes per project and rejected
attempts count (docs.statsig.com/console-api, quoted in the audit, S5); the margin is for other clients."""
CONCURRENT_READS = 8
KEPT_POLL_SNAPSHOTS = 16


async def open_statsig_store(settings: Settings) -> Store:
    """The Statsig store the settings describe, behind the shared read cache."""
    return CachingStore(build_statsig_store(settings), ttl=settings.cache_ttl)


def build_statsig_store(
    settings: Settings,
    *,
    rate_limiter: RateLimiter | None = None,
    attempt_budget: MultiWindowLimiter | None = None,
    max_retries: int = 4,
    backoff_base: float = 0.5,
    timeout: float = 10.0,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> StatsigStore:
    """The uncached store; the limiters default to Statsig's documented quota (with a margin)."""
    secret = settings.statsig_console_api_key
    key = secret.get_secret_value() if secret is not None else ""
    if not key:
        raise InvalidArgumentError(
            "the statsig backend needs STATSIG_CONSOLE_API_KEY (a Statsig console API key)"
        )
    http = VendorHttp(
        base_url=settings.statsig_api_url.rstrip("/"),
        headers={"STATSIG-API-KEY": key, "STATSIG-API-VERSION": API_VERSION},
        secret_values=[key],
        timeout=timeout,
        max_retries=max_retries,
        backoff_base=backoff_base,
        vendor="Statsig",
        rate_limiter=rate_limiter or MultiWindowLimiter(MUTATION_TIERS, clock=clock, sleep=sleep),
        attempt_budget=attempt_budget or MultiWindowLimiter(ATTEMPT_BUDGET, clock=clock, sleep=sleep),
        clock=clock,
        sleep=sleep,
    )
    return StatsigStore(StatsigApi(http, respect_review_settings=settings.statsig_respect_review_settings))


class StatsigStore:
    kind = "statsig"

    def __init__(self, api: StatsigApi) -> None:
        self._api = api
        self._poll_snapshots: dict[str, dict[str, str]] = {}

    async def aclose(self) -> None:
        await self._api.aclose()

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        """What Statsig's Node AI SDK (Mustache) renders differently from promptshelf, for this draft."""
        return mustache_warnings(draft)

    # -- reads ---------------------------------------------------------------------------------------

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        # Entries are ordered by (name, archived before live); the cursor is the last entry's place.
        after = decode_cursor(query.after) if query.after else None
        search = query.search.lower() if query.search else None
        stores = sorted(
            (s for s in await self._api.list_param_stores() if prompt_name_of(s.get("name"))),
            key=lambda s: str(s["name"]),
        )
        indexes = [
            raw
            for raw in stores
            if (after is None or index_of(raw).name >= after[0])
            and (
                search is None
                or search in index_of(raw).name.lower()
                or search in _lower(raw.get("description"))
            )
        ]
        found: list[PromptSummary] = []
        position = 0
        while position < len(indexes) and len(found) <= query.limit:
            batch = indexes[position : position + query.limit + 1 - len(found)]
            position += len(batch)
            for entries in await _map(self._listed, batch):
                for summary in entries:
                    if after is not None and _place(summary) <= after:
                        continue
                    if not query.include_archived and summary.archived:
                        continue
                    if query.tag and query.tag not in summary.tags:
                        continue
                    if query.label and query.label != LATEST and query.label not in summary.labels:
                        continue
                    found.append(summary)
        page = found[: query.limit]
        more = len(found) > query.limit
        return PromptPage(
            prompts=page, next_cursor=encode_cursor(*_place(page[-1])) if more and page else None
        )

    async def get_summary(self, name: str) -> PromptSummary:
        index = await self._load(name)
        return await self._summary(index)

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        index = await self._load(name)
        if label is not None and label != LATEST:
            number = index.label_map().get(label)
            if number is None:
                raise NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
        else:
            number = version if version is not None else len(index.versions)
        return to_version(index, number, await self._api.get_dynamic_config(index.config(number)))

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        index = await self._load(name)
        top = len(index.versions) if before_version is None else min(before_version - 1, len(index.versions))
        numbers = [n for n in range(top, 0, -1) if index.versions[n - 1] is not None]
        configs = await _map(self._api.get_dynamic_config, [index.config(n) for n in numbers[:limit]])
        infos = []
        for number, config in zip(numbers, configs, strict=False):
            commit, meta = split_description(config.get("description"))
            infos.append(
                VersionInfo(
                    version=number,
                    labels=index.labels_of(number),
                    commit_message=commit,
                    created_at=iso(config.get("createdTime")),
                    created_by=(meta or {}).get("by"),
                )
            )
        return VersionPage(versions=infos, has_more=len(numbers) > limit)

    async def wait_for_change(self, timeout: float) -> None:  # noqa: ASYNC109 (a wait, not a deadline)
        await anyio.sleep(timeout)  # the vendor tells no one of changes: they are polled

    async def poll_changes(self, since: str | None) -> Changes:
        # Statsig has no change feed, but one listing of parameter stores shows every label move and
        # version (a version's config never changes once written): fingerprint each, diff with the last.
        fingerprints = {
            name: store_fingerprint(store)
            for store in await self._api.list_param_stores()
            if (name := prompt_name_of(store.get("name"))) is not None
        }
        token = hashlib.sha256(json.dumps(sorted(fingerprints.items())).encode()).hexdigest()[:24]
        previous = self._poll_snapshots.get(since) if since is not None else None
        self._poll_snapshots[token] = fingerprints
        while len(self._poll_snapshots) > KEPT_POLL_SNAPSHOTS:
            del self._poll_snapshots[next(iter(self._poll_snapshots))]
        if since is None:
            return Changes(token=token, names=frozenset())
        if previous is None:
            return Changes(token=token, names=None)
        names = {
            name
            for name in previous.keys() | fingerprints.keys()
            if previous.get(name) != fingerprints.get(name)
        }
        return Changes(token=token, names=frozenset(names))

    # -- writes --------------------------------------------------------------------------------------

    async def create_prompt(self, name: str, meta: PromptMeta, draft: VersionDraft) -> PromptVersion:
        check_name(name)
        check_prompt_description(meta.description)
        check_draft_labels(draft, 1)
        version_write(name, config_id(name, 0, 1), 1, draft, tags=meta.tags)  # refuses before any request
        raw = await self._raw_store(name)
        index = await self._index(raw) if raw is not None else None
        if index is not None and index.versions:
            latest = len(index.versions)
            raise ConflictError(
                f"a prompt named {name!r} already exists (latest version {latest}); "
                "publish a new version with update_prompt instead",
                current_version=latest,
            )
        fresh = index is None
        if index is None:
            index = PromptIndex(name=name, description="", versions=[])
        write = version_write(name, config_id(name, len(index.archived), 1), 1, draft, tags=meta.tags)
        created = await self._append(index, write, draft, meta, create_store=fresh)
        return to_version(index, 1, created)

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        check_name(name)
        if meta is not None:
            check_prompt_description(meta.description)
        number = base_version + 1
        check_draft_labels(draft, number)
        version_write(name, config_id(name, 0, number), number, draft, tags=meta.tags if meta else [])
        index = await self._load(name)
        latest = len(index.versions)
        if base_version != latest:
            raise ConflictError(
                f"prompt {name!r} changed since version {base_version} was read: the latest version is "
                f"now {latest}; read it, reapply your change and publish with base_version={latest}",
                current_version=latest,
            )
        if meta is not None:
            tags = meta.tags
        else:
            newest = await self._api.get_dynamic_config(index.config(latest))
            tags = [str(t) for t in (split_description(newest.get("description"))[1] or {}).get("tags", [])]
        write = version_write(name, config_id(name, len(index.archived), number), number, draft, tags=tags)
        created = await self._append(index, write, draft, meta, create_store=False)
        return to_version(index, number, created)

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        check_label(label, version)
        index = await self._load(name)
        target = index.config(version)
        before = index.label_map().get(label)
        if label == LIVE_LABEL:
            self._check_live_is_ours(index)
            index.live = target
            # Statsig's version type is one of Live or Candidate: the promoted version stops being a
            # Candidate; the other Candidates stay as they are.
            index.candidates = [c for c in index.candidates if c != target]
        elif candidate_number(label) is not None:
            if index.live == target:
                raise InvalidArgumentError(
                    f"version {version} of {name!r} is Live (the production label); a Statsig version is "
                    "Live or a Candidate, not both",
                    argument="label",
                )
            if target not in index.candidates:
                index.candidates.append(target)
        else:
            index.labels[label] = version
        if before != version:
            await self._write_store(index)
        return before

    async def remove_label(self, name: str, label: str) -> int:
        check_label(label)
        index = await self._load(name)
        before = index.label_map().get(label)
        if before is None:
            raise NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
        if label == LIVE_LABEL:
            self._check_live_is_ours(index)
            index.live = None
        elif candidate_number(label) is not None:
            index.candidates = [c for c in index.candidates if c != index.config(before)]
        else:
            del index.labels[label]
        await self._write_store(index)
        return before

    async def archive_prompt(self, name: str) -> int:
        index = await self._load(name)
        self._check_live_is_ours(index)
        count = len(index.versions)
        index.archived.append(index.versions)
        index.versions, index.labels, index.live, index.candidates = [], {}, None, []
        await self._write_store(index)
        return count

    # -- plumbing ------------------------------------------------------------------------------------

    async def _raw_store(self, name: str) -> JsonDict | None:
        try:
            raw = await self._api.get_param_store(store_name(name))
        except NotFoundError:
            return None
        return raw if raw.get("name") == store_name(name) else None

    async def _load(self, name: str) -> PromptIndex:
        """The live prompt named ``name``: ``NotFoundError`` if there is none (or it is archived)."""
        try:
            check_name(name)
        except InvalidArgumentError as exc:
            # A lookup is answered, not refused: no such prompt can exist, and the rule says why.
            raise NotFoundError(f"no prompt named {name!r}: {exc.message}", name=name) from exc
        raw = await self._raw_store(name)
        index = await self._index(raw) if raw is not None else None
        if index is None or not index.versions:
            raise NotFoundError(f"no prompt named {name!r}", name=name)
        return index

    async def _index(self, raw: JsonDict) -> PromptIndex:
        index = index_of(raw)
        if not index.managed:
            # Written in Statsig's console: its versions are the Live and Candidate configs, oldest first.
            ids = list(dict.fromkeys([c for c in [index.live, *index.candidates] if c]))
            configs = await _map(self._config_or_none, ids)
            found = sorted(
                ((c.get("createdTime") or 0, i, c) for i, c in zip(ids, configs, strict=True) if c),
                key=lambda entry: (entry[0], entry[1]),
            )
            index.versions = _numbered([(console_number(c), i) for _, i, c in found])
            if index.versions and not index.description:
                # The console keeps the description on the AI config, not on the parameter store.
                for raw_config in await self._api.list_ai_configs():
                    if raw_config.get("name") == index.name:
                        index.description = str(raw_config.get("description") or "")
                        index.ai_config_id = str(raw_config["id"])
        return index

    async def _config_or_none(self, config: str) -> JsonDict | None:
        try:
            return await self._api.get_dynamic_config(config)
        except NotFoundError:
            return None

    async def _listed(self, raw: JsonDict) -> list[PromptSummary]:
        """A store's entries in a listing: its archived prompt (if any), then its live one."""
        entries = []
        index = await self._index(raw)
        if index.archived:
            gone = PromptIndex(name=index.name, description=index.description, versions=index.archived[-1])
            entries.append(await self._summary(gone, archived=True))
        if index.versions:
            entries.append(await self._summary(index))
        return entries

    async def _summary(self, index: PromptIndex, *, archived: bool = False) -> PromptSummary:
        config = await self._api.get_dynamic_config(index.config(len(index.versions)))
        newest = to_version(index, len(index.versions), config)
        times = [t for t in (config.get("lastModifiedTime"), config.get("createdTime")) if t]
        return PromptSummary(
            name=index.name,
            description=newest.description,
            type=newest.type,
            latest_version=len(index.versions),
            labels={} if archived else index.label_map(),
            tags=newest.tags,
            variables=variable_names(newest.variables, newest.text_parts),
            updated_at=iso(max(times, default=None)),
            archived=archived,
        )

    def _check_live_is_ours(self, index: PromptIndex) -> None:
        if index.live_source is not None:
            raise InvalidArgumentError(
                f"the Live version of {index.name!r} is decided in Statsig by {index.live_source} "
                "(targeting), not by a version promptshelf can name: change it in the Statsig console",
                argument="label",
            )

    async def _write_store(self, index: PromptIndex) -> None:
        await self._api.update_param_store(
            store_name(index.name), description=index.description, parameters=index.parameters()
        )

    async def _append(
        self,
        index: PromptIndex,
        write: VersionWrite,
        draft: VersionDraft,
        meta: PromptMeta | None,
        *,
        create_store: bool,
    ) -> JsonDict:
        """Write one version (the module docstring says in which order, and what is undone on failure)."""
        new_id = str(write.config["id"])
        number = len(index.versions) + 1
        before = (
            index.description,
            list(index.versions),
            dict(index.labels),
            index.live,
            list(index.candidates),
        )
        committed = taken = False
        try:
            try:
                created = await self._api.create_dynamic_config(write.config)
            except InvalidArgumentError as exc:
                # The id is taken: another writer created this number first (or is creating it now).
                # It is theirs, so nothing is undone.
                taken = True
                raise ConflictError(
                    f"prompt {index.name!r} changed while this version was being written: another writer "
                    f"is publishing version {number} (Statsig already has its config {new_id!r}); read "
                    f"the prompt, reapply your change and publish again ({exc.message})",
                    current_version=number,
                ) from exc
            if create_store:
                await self._create_store(index.name)
            created_ai_config = False
            if index.ai_config_id is None:
                wanted = (meta.description if meta else index.description) or ""
                index.ai_config_id, created_ai_config = await self._ai_config_id(index.name, wanted)
            if meta is not None:
                index.description = meta.description or ""
            index.versions.append(new_id)
            for label in draft.labels:
                if label == LIVE_LABEL:
                    self._check_live_is_ours(index)
                    index.live = new_id
                elif candidate_number(label) is not None:
                    index.candidates.append(new_id)
                elif label != LATEST:
                    index.labels[label] = number
            # Set before the write: a write whose answer was lost may have been applied.
            committed = True
            await self._write_store(index)
            await self._api.create_ai_config_version(index.ai_config_id, write.ai_version)
            if meta is not None and (meta.description or "") != before[0] and not created_ai_config:
                await self._api.update_ai_config(index.ai_config_id, description=meta.description or "")
            return created
        except BaseException as exc:
            if not taken:
                # The config may exist even when its create failed (the answer lost on the way back).
                with anyio.CancelScope(shield=True):
                    await self._undo(index, new_id, before, committed=committed, cause=exc)
            raise

    async def _undo(
        self,
        index: PromptIndex,
        new_id: str,
        before: tuple[str, list[str | None], dict[str, int], str | None, list[str]],
        *,
        committed: bool,
        cause: BaseException,
    ) -> None:
        index.description, index.versions, index.labels, index.live, index.candidates = before
        try:
            if committed:
                await self._write_store(index)
            await self._api.delete_dynamic_config(new_id)
        except NotFoundError:
            pass  # the config was never created
        except PromptshelfError as exc:
            raise UnavailableError(
                f"writing a version of {index.name!r} to Statsig failed ({_message(cause)}), and undoing it "
                f"failed too ({exc.message}): Statsig may still hold dynamic config {new_id!r}"
                + (" listed in the prompt's parameter store" if committed else "")
                + "; read the prompt before trying again",
                may_have_been_applied=True,
            ) from cause

    async def _create_store(self, name: str) -> None:
        try:
            await self._api.create_param_store(store_name(name), description="")
        except InvalidArgumentError:
            # Statsig refuses a name that exists: another writer (or Statsig's console) made it meanwhile.
            if await self._raw_store(name) is None:
                raise

    async def _ai_config_id(self, name: str, description: str) -> tuple[str, bool]:
        """The id of the AI config named ``name`` and whether it was just created (a retry reuses one)."""
        for raw in await self._api.list_ai_configs():
            if raw.get("name") == name:
                return str(raw["id"]), False
        try:
            return str((await self._api.create_ai_config(name, description=description))["id"]), True
        except InvalidArgumentError:
            for raw in await self._api.list_ai_configs():
                if raw.get("name") == name:
                    return str(raw["id"]), False
            raise


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, PromptshelfError) else type(exc).__name__


def _numbered(configs: list[tuple[int | None, str]]) -> list[str | None]:
    """Console versions at the numbers their names give; unnamed ones after, oldest first."""
    slots: dict[int, str] = {}
    for number, config in configs:
        if number is not None and number not in slots and number <= 10_000:
            slots[number] = config
    top = max(slots, default=0)
    for _, config in configs:
        if config not in slots.values():
            top += 1
            slots[top] = config
    return [slots.get(number) for number in range(1, top + 1)]


def _lower(value: object) -> str:
    return value.lower() if isinstance(value, str) else ""


def _place(summary: PromptSummary) -> tuple[str, int]:
    return summary.name, 0 if summary.archived else 1


async def _map(func: Callable[[T], Awaitable[R]], items: Sequence[T]) -> list[R]:
    """``func`` over ``items`` with a few requests in flight, results in order.

    The first failure cancels the rest and is raised as itself (not as an exception group), so callers
    keep seeing promptshelf errors only.
    """
    slots: dict[int, R] = {}
    failures: list[BaseException] = []
    limiter = anyio.CapacityLimiter(CONCURRENT_READS)

    async def run(index: int, item: T, scope: anyio.CancelScope) -> None:
        async with limiter:
            try:
                slots[index] = await func(item)
            except Exception as exc:
                failures.append(exc)
                scope.cancel()

    async with anyio.create_task_group() as group:
        for index, item in enumerate(items):
            group.start_soon(run, index, item, group.cancel_scope)
    if failures:
        raise failures[0]
    return [slots[index] for index in range(len(items))]

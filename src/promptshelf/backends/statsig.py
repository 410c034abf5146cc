"""The Statsig backend: the Store protocol over Statsig's prompt ("AI config") Console API.

The mapping of promptshelf's model onto Statsig's objects is described (and done) in
``statsig_mapping.py``.

Optimistic concurrency (``base_version``) is read-check-write: the latest version is read, compared,
then the new version is created. The race window is the time between that read and the create (one
round trip). It is closed after the fact: once created, the version list is read again and if another
writer's version got the number first, this writer deletes its own version and reports ``conflict``, so
no update is lost and no number skipped. What remains: during that second round trip a reader may see
the losing version, and a writer that dies between its create and its check leaves that version behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

from promptshelf.backends.base import Changes, PromptPage, Store, VersionPage
from promptshelf.backends.cache import CachingStore
from promptshelf.backends.cursors import decode_cursor, encode_cursor
from promptshelf.backends.statsig_api import API_VERSION, JsonDict, StatsigApi
from promptshelf.backends.statsig_mapping import (
    CANDIDATE_LABEL,
    LIVE_LABEL,
    StatsigPrompt,
    addressable,
    check_label,
    check_name,
    check_prompt_description,
    fingerprint,
    iso,
    join_description,
    lower_text,
    meta_of,
    split_description,
    statsig_order,
    summary_of,
    to_version,
    version_body,
)
from promptshelf.backends.vendor_http import RateLimiter, SlidingWindowLimiter, VendorHttp
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

T = TypeVar("T")
R = TypeVar("R")

MUTATIONS_PER_WINDOW = 90
"""Statsig allows about 100 mutations per 10 s per project; the margin leaves room for other clients."""
MUTATION_WINDOW = 10.0
CONCURRENT_READS = 8
KEPT_POLL_SNAPSHOTS = 16


async def open_statsig_store(settings: Settings) -> Store:
    """The Statsig store the settings describe, behind the shared read cache."""
    return CachingStore(build_statsig_store(settings), ttl=settings.cache_ttl)


def build_statsig_store(
    settings: Settings,
    *,
    rate_limiter: RateLimiter | None = None,
    max_retries: int = 4,
    backoff_base: float = 0.2,
    timeout: float = 10.0,
) -> StatsigStore:
    """The uncached store; ``rate_limiter`` defaults to Statsig's mutation quota (with a margin)."""
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
        rate_limiter=rate_limiter or SlidingWindowLimiter(MUTATIONS_PER_WINDOW, MUTATION_WINDOW),
    )
    return StatsigStore(StatsigApi(http, respect_review_settings=settings.statsig_respect_review_settings))


class StatsigStore:
    kind = "statsig"

    def __init__(self, api: StatsigApi) -> None:
        self._api = api
        self._poll_snapshots: dict[str, dict[str, str]] = {}

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- reads ---------------------------------------------------------------------------------------

    async def list_prompts(self, query: PromptQuery) -> PromptPage:
        # Entries are ordered by (name, archived before live), as a name archived and created again has
        # both; the cursor is the last entry's place in that order.
        after = decode_cursor(query.after) if query.after else None
        search = query.search.lower() if query.search else None
        candidates = sorted(
            (raw for raw in await self._api.list_prompts() if addressable(raw.get("name"))),
            key=lambda raw: str(raw["name"]),
        )
        candidates = [
            raw
            for raw in candidates
            if (after is None or str(raw["name"]) >= after[0])
            and (
                search is None
                or search in str(raw["name"]).lower()
                or search in lower_text(raw.get("description"))
            )
        ]
        # Versions are needed for labels, tags and types: read them a page-sized batch at a time.
        found: list[PromptSummary] = []
        position = 0
        while position < len(candidates) and len(found) <= query.limit:
            batch = candidates[position : position + query.limit + 1 - len(found)]
            position += len(batch)
            for prompt in await _map(self._with_versions, batch):
                for summary in _listed(prompt, include_archived=query.include_archived):
                    if after is not None and _place(summary) <= after:
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
        summary = summary_of(await self._load(name))
        assert summary is not None  # _load only answers prompts with visible versions
        return summary

    async def get_version(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        prompt = await self._load(name)
        if label is not None and label != LATEST:
            number = prompt.labels().get(label)
            if number is None:
                raise NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
        elif version is not None:
            prompt.version(version)
            number = version
        else:
            number = len(prompt.visible)
        return to_version(prompt, number)

    async def list_versions(self, name: str, *, before_version: int | None, limit: int) -> VersionPage:
        prompt = await self._load(name)
        labels = prompt.labels()
        top = len(prompt.visible) if before_version is None else min(before_version - 1, len(prompt.visible))
        numbers = list(range(top, 0, -1))
        infos = []
        for number in numbers[:limit]:
            raw = prompt.visible[number - 1]
            commit, meta = split_description(raw.get("description"))
            infos.append(
                VersionInfo(
                    version=number,
                    labels=sorted(label for label, at in labels.items() if at == number),
                    commit_message=commit,
                    created_at=iso(raw.get("createdTime")),
                    created_by=(meta or {}).get("by"),
                )
            )
        return VersionPage(versions=infos, has_more=len(numbers) > limit)

    def sdk_warnings(self, draft: VersionDraft) -> list[str]:
        return []  # placeholder so this branch type-checks; the Statsig helper's implementation replaces it

    async def poll_changes(self, since: str | None) -> Changes:
        # Statsig has no change feed: fingerprint every config and its versions, diff with the last look.
        raws = [raw for raw in await self._api.list_prompts() if addressable(raw.get("name"))]
        prompts = await _map(self._with_versions, raws)
        fingerprints = {prompt.name: fingerprint(prompt) for prompt in prompts}
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
        body = version_body(1, draft, tags=meta.tags)
        prompt = await self._find(name)
        if prompt is None:
            try:
                raw = await self._api.create_prompt(name, description=meta.description or "", tags=meta.tags)
                prompt = StatsigPrompt(raw, [], [])
            except InvalidArgumentError:
                # Statsig answers 400 for a taken name: another writer may have just created it.
                prompt = await self._find(name)
                if prompt is None:
                    raise
        if prompt.visible:
            latest = len(prompt.visible)
            raise ConflictError(
                f"a prompt named {name!r} already exists (latest version {latest}); "
                "publish a new version with update_prompt instead",
                current_version=latest,
            )
        if (prompt.raw.get("description") or "") != (meta.description or ""):
            # An archived (or empty) config of that name is reused: Statsig names cannot be freed.
            await self._api.update_prompt(prompt.id, description=meta.description or "")
        await self._append(prompt, 1, body)
        await self._apply_labels(name, 1, draft.labels)
        return await self.get_version(name, version=1)

    async def publish_version(
        self, name: str, base_version: int, draft: VersionDraft, meta: PromptMeta | None = None
    ) -> PromptVersion:
        check_name(name)
        if meta is not None:
            check_prompt_description(meta.description)
        prompt = await self._load(name)
        latest = len(prompt.visible)
        if base_version != latest:
            raise ConflictError(
                f"prompt {name!r} changed since version {base_version} was read: the latest version is "
                f"now {latest}; read it, reapply your change and publish with base_version={latest}",
                current_version=latest,
            )
        tags = meta.tags if meta is not None else prompt.tags()
        await self._append(prompt, latest + 1, version_body(latest + 1, draft, tags=tags))
        if meta is not None and (meta.description or "") != (prompt.raw.get("description") or ""):
            await self._api.update_prompt(prompt.id, description=meta.description or "")
        await self._apply_labels(name, latest + 1, draft.labels)
        return await self.get_version(name, version=latest + 1)

    async def set_label(self, name: str, label: str, version: int) -> int | None:
        check_label(label)
        prompt = await self._load(name)
        target = prompt.version(version)
        before = prompt.labels().get(label)
        if label == LIVE_LABEL:
            if target.get("type") != "Live":
                # Statsig serves one Live version: promoting this one demotes the previous one.
                await self._set_type(prompt, target, "Live")
        elif label == CANDIDATE_LABEL:
            if target.get("type") == "Live":
                raise InvalidArgumentError(
                    f"version {version} of {name!r} is Live (the production label); a Statsig version has "
                    "one type, so it cannot also be the Candidate",
                    argument="label",
                )
            if target.get("type") != "Candidate":
                await self._set_type(prompt, target, "Candidate")
            for other in prompt.visible:
                if other is not target and other.get("type") == "Candidate":
                    await self._set_type(prompt, other, "Draft")
        else:
            if label not in meta_of(target).get("labels", []):
                await self._edit_labels(prompt, target, add=label)
            await self._strip_label(prompt, label, keep=target)
        return before

    async def remove_label(self, name: str, label: str) -> int:
        check_label(label)
        prompt = await self._load(name)
        before = prompt.labels().get(label)
        if before is None:
            raise NotFoundError(f"prompt {name!r} has no label {label!r}", label=label)
        statsig_type = {LIVE_LABEL: "Live", CANDIDATE_LABEL: "Candidate"}.get(label)
        if statsig_type is None:
            await self._strip_label(prompt, label, keep=None)
        else:
            for version in prompt.visible:
                if version.get("type") == statsig_type:
                    await self._set_type(prompt, version, "Draft")
        return before

    async def archive_prompt(self, name: str) -> int:
        prompt = await self._load(name)
        # Newest first: if this is interrupted, the versions left keep their numbers (running it again
        # finishes the job).
        for version in reversed(prompt.visible):
            await self._set_type(prompt, version, "Archive")
        return len(prompt.visible)

    # -- plumbing ------------------------------------------------------------------------------------

    async def _find(self, name: str) -> StatsigPrompt | None:
        try:
            raw = await self._api.get_prompt(name)
        except NotFoundError:
            return None
        # Statsig also answers an id here; a config whose id happens to be this name is not it.
        if raw.get("name") != name:
            return None
        return await self._with_versions(raw)

    async def _load(self, name: str) -> StatsigPrompt:
        """The live prompt named ``name``: ``NotFoundError`` if there is none (or it is archived)."""
        try:
            check_name(name)
        except InvalidArgumentError as exc:
            # A lookup is answered, not refused: no such prompt can exist, and the rule says why.
            raise NotFoundError(f"no prompt named {name!r}: {exc.message}", name=name) from exc
        prompt = await self._find(name)
        if prompt is None or not prompt.visible:
            raise NotFoundError(f"no prompt named {name!r}", name=name)
        return prompt

    async def _with_versions(self, raw: JsonDict) -> StatsigPrompt:
        versions = sorted(await self._api.list_versions(str(raw["id"])), key=statsig_order)
        return StatsigPrompt(
            raw,
            visible=[v for v in versions if v.get("type") != "Archive"],
            archived=[v for v in versions if v.get("type") == "Archive"],
        )

    async def _append(self, prompt: StatsigPrompt, number: int, body: JsonDict) -> None:
        """Create version ``number``; if another writer's version took that number first, withdraw ours."""
        created = await self._api.create_version(prompt.id, body)
        now = await self._with_versions(prompt.raw)
        ids = [v.get("id") for v in now.visible]
        if created.get("id") in ids and ids.index(created.get("id")) + 1 == number:
            return
        # The version holding our number was created first among the racers, so it passed its own check
        # and stays; racers after it withdraw like this one.
        current = min(number, len([i for i in ids if i != created.get("id")]))
        try:
            await self._api.delete_version(prompt.id, str(created["id"]))
        except NotFoundError:
            pass
        except PromptshelfError as exc:
            raise UnavailableError(
                f"another writer published version {number} of {prompt.name!r} at the same time; this "
                f"writer's version could not be withdrawn ({exc.message}) and stays after it",
                may_have_been_applied=True,
            ) from exc
        raise ConflictError(
            f"prompt {prompt.name!r} changed while this version was being written: another writer published "
            f"version {number} first; read it, reapply your change and publish with base_version={current}",
            current_version=current,
        )

    async def _apply_labels(self, name: str, number: int, labels: Sequence[str]) -> None:
        for label in labels:
            if label != LATEST:
                await self.set_label(name, label, number)

    async def _set_type(self, prompt: StatsigPrompt, version: JsonDict, statsig_type: str) -> None:
        await self._api.update_version(prompt.id, str(version["id"]), {"type": statsig_type})

    async def _edit_labels(
        self, prompt: StatsigPrompt, version: JsonDict, *, add: str | None = None, drop: str = ""
    ) -> None:
        commit, meta = split_description(version.get("description"))
        if meta is None:
            # A version written outside promptshelf: record the tags it showed so they do not change.
            meta = {"tags": prompt.tags()} if prompt.tags() else {}
        labels = [label for label in meta.get("labels", []) if label != drop]
        if add is not None and add not in labels:
            labels.append(add)
        meta["labels"] = sorted(labels)
        if not meta["labels"]:
            del meta["labels"]
        description = join_description(commit, meta)
        await self._api.update_version(prompt.id, str(version["id"]), {"description": description})

    async def _strip_label(self, prompt: StatsigPrompt, label: str, *, keep: JsonDict | None) -> None:
        for version in prompt.visible:
            if version is not keep and label in meta_of(version).get("labels", []):
                await self._edit_labels(prompt, version, drop=label)


def _listed(prompt: StatsigPrompt, *, include_archived: bool) -> list[PromptSummary]:
    """A config's entries in a listing: its archived versions (if asked for), then its live prompt."""
    entries = []
    if include_archived and prompt.archived:
        entries.append(summary_of(StatsigPrompt(prompt.raw, visible=[], archived=prompt.archived)))
    if prompt.visible:
        entries.append(summary_of(prompt))
    return [entry for entry in entries if entry is not None]


def _place(summary: PromptSummary) -> tuple[str, int]:
    return summary.name, 0 if summary.archived else 1


async def _map(func: Callable[[T], Awaitable[R]], items: Sequence[T]) -> list[R]:
    """``func`` over ``items`` with a few requests in flight, results in order.

    The first failure cancels the rest and is raised as itself (not as an exception group), so callers
    keep seeing promptshelf errors only.
    """
    results: list[R] = []
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
    results.extend(slots[index] for index in range(len(items)))
    return results

"""PostHog's LLM prompts API, one method per endpoint, answers as the vendor's JSON objects.

Built from ``vendor-apis.md`` (PostHog section). This module knows PostHog's URLs, bodies and error
shapes and maps every failure to a promptshelf error; it knows nothing of promptshelf's data model
(``posthog.py`` does that mapping).

Newer PostHog servers carry ``config``, ``version_description``, ``edits`` and labels; older self-hosted
ones silently ignore those fields. This client learns what the server supports from the objects it answers
with (``Capabilities``) and refuses, with a clear error, to send a field the server would drop.

Labels are the least documented part: the read side (``?label=`` on get by name, ``label`` and
``all_labels`` on answers) follows PostHog's own SDKs; moving a label without publishing uses
``POST name/{name}/labels/`` ``{label, version}`` (``version: null`` removes it), inferred, not read in
PostHog's source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from promptshelf.backends.vendor_http import VendorHttp
from promptshelf.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArgumentError,
    NotFoundError,
    PromptshelfError,
    UnavailableError,
)

NAME_RULE = r"^[a-zA-Z0-9_-]+$"
MAX_NAME_LENGTH = 255
PAGE_SIZE = 100
HISTORY_PAGE_MAX = 100
_NAME_RE = re.compile(NAME_RULE)
_WEB_ONLY = "only available to web-authenticated users"

JsonObject = dict[str, Any]


def check_name(name: str) -> str:
    """PostHog's name rule, applied before any request so a bad name never costs a round trip."""
    if not name or len(name) > MAX_NAME_LENGTH or not _NAME_RE.match(name):
        raise InvalidArgumentError(
            f"PostHog cannot store a prompt named {name!r}: PostHog names must match {NAME_RULE} "
            f"(letters, digits, '_' and '-'; no '/' or '.') and be at most {MAX_NAME_LENGTH} characters",
            argument="name",
        )
    if name.lower() == "new":
        raise InvalidArgumentError("PostHog reserves the prompt name 'new' (in any case)", argument="name")
    return name


@dataclass(slots=True)
class Capabilities:
    """What this PostHog server stores; ``None`` until an answer shows it."""

    config: bool | None = None
    version_description: bool | None = None
    labels: bool | None = None

    def learn(self, obj: JsonObject) -> None:
        self.config = "config" in obj
        self.version_description = "version_description" in obj
        self.labels = "all_labels" in obj or "labels" in obj


class PostHogApi:
    def __init__(self, http: VendorHttp) -> None:
        self.http = http
        self.capabilities = Capabilities()

    # -- the six endpoints (plus labels) -------------------------------------------------------------

    async def list_page(
        self, *, limit: int = PAGE_SIZE, offset: int = 0, search: str | None = None
    ) -> JsonObject:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if search:
            params["search"] = search
        return await self._list("", params)

    async def list_all(self) -> list[JsonObject]:
        """Every live prompt at its latest version, following ``next`` links."""
        results: list[JsonObject] = []
        page = await self._list("", {"limit": PAGE_SIZE, "offset": 0})
        while True:
            results.extend(page["results"])
            next_url = page.get("next")
            if not next_url:
                return results
            page = await self._list(self._same_origin(next_url), None)

    async def create(
        self,
        name: str,
        prompt: Any,
        *,
        config: JsonObject | None = None,
        version_description: str | None = None,
        labels: list[str] | None = None,
    ) -> JsonObject:
        check_name(name)
        body: JsonObject = {"name": name, "prompt": prompt}
        self._add_newer_fields(body, config, version_description, labels)
        response = await self.http.request("POST", "", json=body)
        if response.status_code == 400 and _json_field(response, "code") == "unique":
            raise ConflictError(f"a prompt named {name!r} already exists in PostHog", name=name)
        obj = self._expect(response, 201, name=name)
        self.capabilities.learn(obj)
        return obj

    async def get(self, name: str, *, version: int | None = None, label: str | None = None) -> JsonObject:
        check_name(name)
        params: dict[str, Any] = {}
        if version is not None:
            params["version"] = version
        if label is not None:
            self._require("labels", "reading a prompt by label")
            params["label"] = label
        response = await self.http.request("GET", _named(name), params=params)
        obj = self._expect(response, 200, name=name)
        self.capabilities.learn(obj)
        if label is not None and obj.get("label") != label:
            raise InvalidArgumentError(
                f"this PostHog server ignored the label {label!r} (it answered with the latest version): "
                "it does not support prompt labels"
            )
        return obj

    async def publish(
        self,
        name: str,
        base_version: int,
        *,
        prompt: Any = None,
        edits: list[dict[str, str]] | None = None,
        config: JsonObject | None = None,
        version_description: str | None = None,
        labels: list[str] | None = None,
    ) -> JsonObject:
        check_name(name)
        if (prompt is None) == (edits is None):
            raise InvalidArgumentError("publishing to PostHog needs exactly one of prompt or edits")
        body: JsonObject = {"base_version": base_version}
        if edits is not None:
            body["edits"] = edits
        else:
            body["prompt"] = prompt
        self._add_newer_fields(body, config, version_description, labels)
        response = await self.http.request("PATCH", _named(name), json=body)
        if response.status_code == 400 and edits is not None and _json_field(response, "attr") == "prompt":
            raise InvalidArgumentError(
                "this PostHog server does not support edits (it asked for the whole prompt): "
                "send the full new text instead"
            )
        obj = self._expect(response, 200, name=name)
        self.capabilities.learn(obj)
        return obj

    async def archive(self, name: str) -> None:
        check_name(name)
        response = await self.http.request("POST", _named(name) + "archive/")
        self._expect(response, 204, name=name)

    async def resolve(
        self,
        name: str,
        *,
        version: int | None = None,
        version_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        before_version: int | None = None,
    ) -> JsonObject:
        """``{prompt, versions, has_more}``: one version and a page of the history, newest first."""
        check_name(name)
        if offset is not None and before_version is not None:
            raise InvalidArgumentError("PostHog does not accept offset together with before_version")
        if limit is not None and not 1 <= limit <= HISTORY_PAGE_MAX:
            raise InvalidArgumentError(f"PostHog history pages hold 1 to {HISTORY_PAGE_MAX} versions")
        params = {
            key: value
            for key, value in {
                "version": version,
                "version_id": version_id,
                "limit": limit,
                "offset": offset,
                "before_version": before_version,
            }.items()
            if value is not None
        }
        response = await self.http.request("GET", f"resolve/name/{quote(name, safe='')}/", params=params)
        answer = self._expect(response, 200, name=name)
        self.capabilities.learn(answer["prompt"])
        return answer

    async def set_label(self, name: str, label: str, version: int | None) -> JsonObject:
        """Point ``label`` at ``version`` (``None`` removes it): ``{label, version, previous_version}``."""
        check_name(name)
        self._require("labels", "moving a label")
        response = await self.http.request(
            "POST", _named(name) + "labels/", json={"label": label, "version": version}
        )
        return self._expect(response, 200, name=name)

    # -- plumbing ------------------------------------------------------------------------------------

    def _require(self, feature: str, action: str) -> None:
        if getattr(self.capabilities, feature) is False:
            raise InvalidArgumentError(
                f"{action} needs PostHog prompt {feature.replace('_', ' ')}, which this (older) PostHog "
                "server does not support; upgrade PostHog or leave it out"
            )

    def _add_newer_fields(
        self, body: JsonObject, config: JsonObject | None, description: str | None, labels: list[str] | None
    ) -> None:
        if config is not None:
            self._require("config", "storing config, variables, tags or a description")
            body["config"] = config
        if description is not None:
            self._require("version_description", "storing a commit message")
            body["version_description"] = description
        if labels:
            self._require("labels", "setting labels")
            body["labels"] = labels

    async def _list(self, path_or_url: str, params: dict[str, Any] | None) -> JsonObject:
        response = await self.http.request("GET", path_or_url, params=params)
        page = self._expect(response, 200, name=None)
        if page["results"]:
            self.capabilities.learn(page["results"][0])
        return page

    def _same_origin(self, url: str) -> str:
        # The Authorization header goes with every followed link: never follow one off this host.
        base = urlsplit(self.http.base_url)
        target = urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise UnavailableError(
                "PostHog answered with a pagination link to another host; refusing to follow it"
            )
        return url

    def _expect(self, response: httpx.Response, status: int, *, name: str | None) -> JsonObject:
        if response.status_code == status:
            if status == 204:
                return {}
            body = _json(response)
            if not isinstance(body, dict):
                raise UnavailableError(
                    f"PostHog answered HTTP {status} with a body that is not a JSON object"
                )
            return body
        raise self._error(response, name=name)

    def _error(self, response: httpx.Response, *, name: str | None) -> PromptshelfError:
        status = response.status_code
        body = _json(response)
        body = body if isinstance(body, dict) else {}
        detail = self.http.redact(str(body.get("detail") or response.reason_phrase))
        code = body.get("code")
        subject = f"prompt {name!r}" if name else "prompts"
        if status == 409:
            current = body.get("current_version")
            return ConflictError(
                f"PostHog: {detail} (latest version is now {current})",
                current_version=current if isinstance(current, int) else None,
            )
        if status == 404:
            return NotFoundError(f"PostHog: {detail}", name=name)
        if status == 401:
            return ForbiddenError(
                f"PostHog rejected the personal API key for {subject} ({detail}); "
                "check POSTHOG_PERSONAL_API_KEY"
            )
        if status == 403:
            if _WEB_ONLY in detail:
                return ForbiddenError(
                    f"this PostHog server serves this call ({response.request.method} on {subject}) only to "
                    "users logged in to the web app, not to personal API keys; upgrade PostHog or do it in "
                    "the PostHog UI"
                )
            return ForbiddenError(
                f"PostHog denied access to {subject} ({detail}); the personal API key needs the "
                "llm_prompt:read and llm_prompt:write scopes"
            )
        if status == 400:
            return InvalidArgumentError(
                f"PostHog refused the request for {subject}: {detail}",
                vendor_code=code,
                attr=body.get("attr"),
                **({"edit_index": body["edit_index"]} if "edit_index" in body else {}),
            )
        return UnavailableError(f"PostHog answered HTTP {status} for {subject}: {detail}", status=status)


def _named(name: str) -> str:
    return f"name/{quote(name, safe='')}/"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json_field(response: httpx.Response, field: str) -> Any:
    body = _json(response)
    return body.get(field) if isinstance(body, dict) else None

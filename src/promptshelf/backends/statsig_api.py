"""The raw Statsig Console API client for prompts ("AI configs"): endpoints in, JSON dicts out.

It knows Statsig's wire format (vendor-apis.md, "Statsig prompts") and nothing of promptshelf's model:
paths, page/limit pagination, the ``{status, message}`` error envelope and the review-settings header
on mutations. ``statsig.py`` maps these dicts onto the Store protocol.

Retries (429/5xx/timeouts for idempotent calls, 429 for any call since a throttled request was not
run), ``Retry-After``, the mutation rate limiter and secret redaction all belong to the shared
``VendorHttp``; this module only says which calls are mutations (they carry the review header).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

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

API_PREFIX = "/console/v1/prompts"
API_VERSION = "20240601"
PAGE_SIZE = 100
MAX_PAGES = 1000
"""A guard against a server whose ``nextPage`` never ends: 100,000 items."""

JsonDict = dict[str, Any]


class StatsigApi:
    def __init__(self, http: VendorHttp, *, respect_review_settings: bool = False) -> None:
        self._http = http
        self._mutation_headers = {"x-respect-review-settings": "true"} if respect_review_settings else None

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- prompts -------------------------------------------------------------------------------------

    async def list_prompts(self) -> list[JsonDict]:
        return await self._all_pages(API_PREFIX)

    async def get_prompt(self, key: str) -> JsonDict:
        """By id or by name (Statsig accepts either)."""
        return _data(await self._call("GET", _path(key)))

    async def create_prompt(self, name: str, *, description: str, tags: list[str]) -> JsonDict:
        body = {"name": name, "description": description, "tags": tags}
        return _data(await self._call("POST", API_PREFIX, json=body))

    async def update_prompt(self, prompt_id: str, *, description: str) -> JsonDict:
        return _data(await self._call("PATCH", _path(prompt_id), json={"description": description}))

    async def delete_prompt(self, prompt_id: str) -> None:
        await self._call("DELETE", _path(prompt_id))

    # -- versions ------------------------------------------------------------------------------------

    async def list_versions(self, prompt_id: str) -> list[JsonDict]:
        """Every version, newest first (Statsig's order)."""
        return await self._all_pages(_path(prompt_id, "versions"))

    async def get_version(self, prompt_id: str, version_id: str) -> JsonDict:
        return _data(await self._call("GET", _path(prompt_id, "versions", version_id)))

    async def create_version(self, prompt_id: str, body: JsonDict) -> JsonDict:
        return _data(await self._call("POST", _path(prompt_id, "versions"), json=body))

    async def update_version(self, prompt_id: str, version_id: str, patch: JsonDict) -> JsonDict:
        return _data(await self._call("PATCH", _path(prompt_id, "versions", version_id), json=patch))

    async def delete_version(self, prompt_id: str, version_id: str) -> None:
        await self._call("DELETE", _path(prompt_id, "versions", version_id))

    # -- plumbing ------------------------------------------------------------------------------------

    async def _all_pages(self, path: str) -> list[JsonDict]:
        # The pagination object's URLs carry no scheme, so they are not followed: the next page is
        # asked for by number, as long as Statsig says there is one.
        items: list[JsonDict] = []
        for page in range(1, MAX_PAGES + 1):
            payload = await self._call("GET", path, params={"limit": PAGE_SIZE, "page": page})
            data = payload.get("data")
            if not isinstance(data, list):
                raise UnavailableError(f"Statsig answered {path} without a list of data")
            items.extend(item for item in data if isinstance(item, dict))
            pagination = payload.get("pagination") or {}
            if not data or not pagination.get("nextPage"):
                return items
        raise UnavailableError(f"Statsig kept paginating {path} past {MAX_PAGES} pages")

    async def _call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> JsonDict:
        headers = None if method == "GET" else self._mutation_headers
        response = await self._http.request(method, path, params=params, json=json, extra_headers=headers)
        return _payload_or_raise(response, method, path, self._http.redact)


def _path(*segments: str) -> str:
    return API_PREFIX + "".join("/" + quote(segment, safe="") for segment in segments)


def _data(payload: JsonDict) -> JsonDict:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise UnavailableError("Statsig answered without the expected data object")
    return data


def _payload_or_raise(
    response: httpx.Response, method: str, path: str, redact: Callable[[str], str]
) -> JsonDict:
    """The JSON body of a success, else the promptshelf error for Statsig's ``{status, message}``."""
    try:
        payload = response.json() if response.content else {}
    except ValueError:
        payload = None
    if response.is_success:
        if not isinstance(payload, dict):
            raise UnavailableError(f"Statsig answered {method} {path} with a body that is not a JSON object")
        return payload
    message = payload.get("message") if isinstance(payload, dict) else None
    detail = (
        f"Statsig answered {method} {path} with {response.status_code}: {message or response.reason_phrase}"
    )
    raise _error_for(response.status_code)(redact(detail), status=response.status_code)


def _error_for(status: int) -> type[PromptshelfError]:
    if status in (401, 403):
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status in (400, 413, 422):
        return InvalidArgumentError
    return UnavailableError

"""The raw Statsig Console API client: published routes in, JSON dicts out.

Every route here is an operation of Statsig's published Console API spec (``statsig-io/docs``,
``console-api/capiopenapi.json`` @ 19d11656a29bfa57944825e2b44dfbb5a1774611), kept as a subset in
``tests/contracts/statsig/console-api-subset.json``, against which the tests check every request sent:

- AI configs ("prompts"): ``GET/POST /console/v1/prompts``, ``PATCH /console/v1/prompts/{id}``,
  ``POST /console/v1/prompts/{id}/versions``. Statsig publishes no route that reads, lists, changes or
  deletes a version, or deletes a prompt, so nothing here does.
- Parameter stores: ``GET/POST /console/v1/param_stores``, ``GET/POST /console/v1/param_stores/{name}``
  (the POST on a name replaces its description and parameters; there is no DELETE).
- Dynamic configs: ``POST /console/v1/dynamic_configs``, ``GET/DELETE /console/v1/dynamic_configs/{id}``.

It knows the wire format and nothing of promptshelf's model: paths, page/limit pagination, the
``{status, message}`` error envelope and the review-settings header on mutations. Retries, ``Retry-After``,
the quota and secret redaction belong to the shared ``VendorHttp``.
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

CONSOLE = "/console/v1"
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

    # -- AI configs (write-only: their versions cannot be read back on published routes) -----------------

    async def list_ai_configs(self) -> list[JsonDict]:
        return await self._all_pages(_path("prompts"))

    async def create_ai_config(self, name: str, *, description: str) -> JsonDict:
        return _data(
            await self._call("POST", _path("prompts"), json={"name": name, "description": description})
        )

    async def update_ai_config(self, ai_config_id: str, *, description: str) -> None:
        await self._call("PATCH", _path("prompts", ai_config_id), json={"description": description})

    async def create_ai_config_version(self, ai_config_id: str, body: JsonDict) -> None:
        # The 201 answer's data is AIConfigVersionCreateDto, the request's own shape (no id, type or
        # number): there is nothing in it to keep.
        await self._call("POST", _path("prompts", ai_config_id, "versions"), json=body)

    # -- parameter stores --------------------------------------------------------------------------------

    async def list_param_stores(self) -> list[JsonDict]:
        return await self._all_pages(_path("param_stores"))

    async def get_param_store(self, name: str) -> JsonDict:
        return _data(await self._call("GET", _path("param_stores", name)))

    async def create_param_store(self, name: str, *, description: str) -> JsonDict:
        body = {"name": name, "displayName": name, "description": description}
        return _data(await self._call("POST", _path("param_stores"), json=body))

    async def update_param_store(
        self, name: str, *, description: str, parameters: list[JsonDict]
    ) -> JsonDict:
        body = {"description": description, "parameters": parameters}
        return _data(await self._call("POST", _path("param_stores", name), json=body))

    # -- dynamic configs -----------------------------------------------------------------------------------

    async def get_dynamic_config(self, config_id: str) -> JsonDict:
        return _data(await self._call("GET", _path("dynamic_configs", config_id)))

    async def create_dynamic_config(self, body: JsonDict) -> JsonDict:
        return _data(await self._call("POST", _path("dynamic_configs"), json=body))

    async def delete_dynamic_config(self, config_id: str) -> None:
        await self._call("DELETE", _path("dynamic_configs", config_id))

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
    return CONSOLE + "".join("/" + quote(segment, safe="") for segment in segments)


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

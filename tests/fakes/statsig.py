"""A fake Statsig Console API for prompts ("AI configs"), faithful to /work/shared/vendor-apis.md.

It is deliberately no kinder than the real service: prompt ids are opaque (not the name), create prompt
answers 200 but create version 201, errors are ``{status, message}``, page URLs come without a scheme,
unset version fields come back as ``null``, unknown body fields are rejected, and mutations are throttled
(about 100 per 10 s and 900 per 15 min, both configurable so tests can hit real 429s in seconds).
429s carry no ``Retry-After`` unless asked: the client must back off on its own.

Fault switches (all safe to flip from the test thread while the server runs in its own thread):
``latency`` (seconds added to every request), ``fail_next(n, status)`` (5xx), ``drop_next(n)`` (the
connection is cut mid-response), ``throttle_next(n)`` (forced 429) and ``down`` (every request 503).

``run_fake_statsig(fake)`` serves it with uvicorn on 127.0.0.1 on a free port in a background thread.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.fakes.serving import serve_in_thread

PREFIX = "/console/v1/prompts"
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ")
VERSION_TYPES = ("Live", "Candidate", "Draft", "Archive")
NUMBER_FIELDS = ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty")
STRING_FIELDS = ("model", "provider", "eval_model", "description")
HEADER_FIELDS = ("workflow_headers", "auth_workflow_headers")
VERSION_FIELDS = (
    "name",
    "id",
    "prompts",
    *NUMBER_FIELDS,
    *STRING_FIELDS,
    "workflow_body",
    *HEADER_FIELDS,
)
PROMPT_CREATE_FIELDS = ("name", "description", "tags", "targetApps", "team", "teamID")
PROMPT_PATCH_FIELDS = ("description", "targetApps", "team", "teamID")
NOT_FOUND = "Not Found. The requested resource could not be found."
DROP = -1
"""A fault "status" meaning: cut the connection."""
BAD_KEY = "This endpoint only accepts an active CONSOLE key, but an invalid key was sent."


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class FakeStatsig:
    api_key: str = "console-fake-key-0123456789"
    mutation_limits: tuple[tuple[int, float], ...] = ((100, 10.0), (900, 900.0))
    """(how many mutations, per how many seconds) per project; every tier applies."""
    retry_after: float | None = None
    """When set, 429s carry ``Retry-After`` with this many seconds (the real API does not promise it)."""
    latency: float = 0.0
    down: bool = False
    clock: Callable[[], float] = time.monotonic

    prompts: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    throttled: int = 0
    _faults: deque[tuple[str | None, int]] = field(default_factory=deque)
    _mutations: deque[float] = field(default_factory=deque)
    _counters: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- fault switches ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503, *, method: str | None = None) -> None:
        """The next ``count`` requests (of ``method``, if given) answer ``status``."""
        with self._lock:
            self._faults.extend([(method, status)] * count)

    def drop_next(self, count: int = 1, *, method: str | None = None) -> None:
        """The next ``count`` requests (of ``method``, if given) are handled, then cut mid-response."""
        self.fail_next(count, DROP, method=method)

    def throttle_next(self, count: int = 1, *, method: str | None = None) -> None:
        """The next ``count`` requests (of ``method``, if given) answer 429, whatever the rate."""
        self.fail_next(count, 429, method=method)

    def _take_fault(self, method: str) -> int | None:
        with self._lock:
            for index, (wanted, status) in enumerate(self._faults):
                if wanted is None or wanted == method:
                    del self._faults[index]
                    return status
        return None

    def mutations_seen(self) -> int:
        return sum(1 for r in self.requests if r.method != "GET" and r.status < 300)

    # -- ASGI ----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        record = RecordedRequest(
            request.method,
            request.url.path,
            request.url.query,
            {k.lower(): v for k, v in request.headers.items()},
        )
        with self._lock:
            self.requests.append(record)
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(request.method)
        response = await self._respond(request, None if fault == DROP else fault)
        record.status = response.status_code
        if fault == DROP:
            # The request was handled (a mutation took effect) but the answer never arrives: the
            # connection is cut after part of the body, the worst case for a client.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            )
            await send({"type": "http.response.body", "body": b'{"mess', "more_body": True})
            raise ConnectionAbortedError("fake Statsig dropped the connection")
        await response(scope, receive, send)

    async def _respond(self, request: Request, fault: int | None) -> Response:
        try:
            # Read the body before taking the lock: the lock must never be held across an await.
            body = await _json_body(request) if request.method in ("POST", "PATCH") else None
            with self._lock:
                self._check_faults(fault)
                if request.headers.get("statsig-api-key") != self.api_key:
                    raise _ApiError(401, BAD_KEY)
                if request.method != "GET":
                    self._admit_mutation()
                status, payload = self._route(request, body)
            return JSONResponse(payload, status_code=status)
        except _ApiError as exc:
            headers = {}
            if exc.status == 429 and self.retry_after is not None:
                headers["Retry-After"] = str(self.retry_after)
            return JSONResponse({"status": exc.status, "message": exc.message}, exc.status, headers=headers)

    def _check_faults(self, fault: int | None) -> None:
        if self.down:
            raise _ApiError(503, "Service Unavailable")
        if fault == 429:
            self.throttled += 1
            raise _ApiError(429, "Too Many Requests. Please slow down.")
        if fault is not None:
            raise _ApiError(fault, "Internal Server Error")

    def _admit_mutation(self) -> None:
        now = self.clock()
        longest = max(window for _, window in self.mutation_limits)
        while self._mutations and self._mutations[0] <= now - longest:
            self._mutations.popleft()
        for limit, window in self.mutation_limits:
            if sum(1 for t in self._mutations if t > now - window) >= limit:
                self.throttled += 1
                raise _ApiError(429, "Too Many Requests. Mutation rate limit reached, please slow down.")
        self._mutations.append(now)

    # -- routing -------------------------------------------------------------------------------------

    def _route(self, request: Request, body: dict[str, Any] | None) -> tuple[int, Any]:
        path = request.url.path
        if not path.startswith(PREFIX):
            raise _ApiError(404, NOT_FOUND)
        parts = [p for p in path[len(PREFIX) :].split("/") if p]
        method = request.method
        if not parts:
            if method == "GET":
                return 200, self._page(request, sorted(self.prompts.values(), key=lambda p: p["createdTime"]))
            if method == "POST":
                return 200, {
                    "message": "AI Config created successfully.",
                    "data": self._create_prompt(body or {}),
                }
        elif len(parts) == 1:
            prompt = self._prompt(parts[0])
            if method == "GET":
                return 200, {"message": "AI Config read successfully.", "data": prompt}
            if method == "PATCH":
                return 200, {
                    "message": "AI Config updated successfully.",
                    "data": self._patch_prompt(prompt, body),
                }
            if method == "DELETE":
                del self.prompts[prompt["id"]]
                self.versions.pop(prompt["id"], None)
                return 200, {"message": "AI Config deleted successfully."}
        elif len(parts) == 2 and parts[1] == "versions":
            prompt = self._prompt(parts[0])
            versions = self.versions[prompt["id"]]
            if method == "GET":
                newest_first = sorted(versions, key=lambda v: v["version"], reverse=True)
                return 200, self._page(request, newest_first)
            if method == "POST":
                created = self._create_version(prompt, body or {})
                return 201, {"message": "Prompt version created successfully.", "data": created}
        elif len(parts) == 3 and parts[1] == "versions":
            prompt = self._prompt(parts[0])
            version = self._version(prompt, parts[2])
            if method == "GET":
                return 200, {"message": "Prompt version read successfully.", "data": version}
            if method == "PATCH":
                patched = self._patch_version(prompt, version, body or {})
                return 200, {"message": "Prompt version updated successfully.", "data": patched}
            if method == "DELETE":
                if version["type"] == "Live":
                    raise _ApiError(400, "Invalid request. A Live version cannot be deleted.")
                self.versions[prompt["id"]].remove(version)
                self._touch(prompt)
                return 200, {"message": "Prompt version deleted successfully."}
        raise _ApiError(404, NOT_FOUND)

    def _page(self, request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        limit = _int_param(request, "limit", 100)
        page = _int_param(request, "page", 1)
        if not 1 <= limit <= 100 or page < 1:
            raise _ApiError(400, "Invalid request. limit must be 1 to 100 and page at least 1.")
        start = (page - 1) * limit
        host = request.headers.get("host", "statsigapi.net")

        def link(number: int) -> str:
            return f"{host}{request.url.path}?limit={limit}&page={number}"

        return {
            "message": "Read successfully.",
            "data": items[start : start + limit],
            "pagination": {
                "itemsPerPage": limit,
                "pageNumber": page,
                "totalItems": len(items),
                "nextPage": link(page + 1) if start + limit < len(items) else None,
                "previousPage": link(page - 1) if page > 1 else None,
                "all": f"{host}{request.url.path}",
            },
        }

    # -- prompts -------------------------------------------------------------------------------------

    def _prompt(self, key: str) -> dict[str, Any]:
        if key in self.prompts:
            return self.prompts[key]
        for prompt in self.prompts.values():
            if prompt["name"] == key:
                return prompt
        raise _ApiError(404, NOT_FOUND)

    def _create_prompt(self, body: dict[str, Any]) -> dict[str, Any]:
        _only(body, PROMPT_CREATE_FIELDS)
        name = body.get("name")
        _check_name(name, "name")
        if any(p["name"].lower() == str(name).lower() for p in self.prompts.values()):
            raise _ApiError(400, f"Invalid request. An AI Config named {name} already exists.")
        description = body.get("description", "")
        _check_description(description)
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise _ApiError(400, "Invalid request. tags must be an array of strings.")
        now = _epoch_ms()
        prompt_id = secrets.token_urlsafe(12)
        prompt = {
            "id": prompt_id,
            "name": name,
            "description": description,
            "tags": tags,
            "targetApps": body.get("targetApps", []),
            "team": body.get("team"),
            "teamID": body.get("teamID"),
            "creatorID": "fake-user",
            "creatorName": "Fake User",
            "creatorEmail": "fake@example.com",
            "createdTime": now,
            "lastModifiedTime": now,
            "lastModifierID": "fake-user",
            "lastModifierName": "Fake User",
            "lastModifierEmail": "fake@example.com",
            "version": 1,
        }
        self.prompts[prompt_id] = prompt
        self.versions[prompt_id] = []
        return prompt

    def _patch_prompt(self, prompt: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
        body = body or {}
        _only(body, PROMPT_PATCH_FIELDS)
        if "description" in body:
            _check_description(body["description"])
        prompt.update(body)
        self._touch(prompt)
        return prompt

    def _touch(self, prompt: dict[str, Any]) -> None:
        prompt["lastModifiedTime"] = _epoch_ms()
        prompt["version"] += 1

    # -- versions ------------------------------------------------------------------------------------

    def _version(self, prompt: dict[str, Any], key: str) -> dict[str, Any]:
        for version in self.versions[prompt["id"]]:
            if version["id"] == key:
                return version
        raise _ApiError(404, NOT_FOUND)

    def _create_version(self, prompt: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        _only(body, VERSION_FIELDS)
        _check_name(body.get("name"), "name")
        _check_version_fields(body)
        versions = self.versions[prompt["id"]]
        version_id = body.get("id")
        if version_id is None:
            version_id = secrets.token_urlsafe(9)
        else:
            _check_name(version_id, "id", spaces=False)
            if any(v["id"] == version_id for v in versions):
                raise _ApiError(400, f"Invalid request. A version with id {version_id} already exists.")
        counter = self._counters.get(prompt["id"], 0) + 1
        self._counters[prompt["id"]] = counter
        now = _epoch_ms()
        version: dict[str, Any] = dict.fromkeys(VERSION_FIELDS)
        version.update(body)
        version.update(id=version_id, type="Draft", version=counter, createdTime=now, lastModifiedTime=now)
        versions.append(version)
        self._touch(prompt)
        return version

    def _patch_version(
        self, prompt: dict[str, Any], version: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        _only(body, (*VERSION_FIELDS, "type"))
        if "id" in body and body["id"] != version["id"]:
            raise _ApiError(400, "Invalid request. A version id cannot be changed.")
        if "name" in body:
            _check_name(body["name"], "name")
        _check_version_fields(body)
        new_type = body.get("type")
        if new_type is not None and new_type not in VERSION_TYPES:
            raise _ApiError(400, f"Invalid request. type must be one of {', '.join(VERSION_TYPES)}.")
        if new_type == "Live":
            # One version is served: promoting another demotes the one that was Live.
            for other in self.versions[prompt["id"]]:
                if other is not version and other["type"] == "Live":
                    other["type"] = "Draft"
                    other["lastModifiedTime"] = _epoch_ms()
        version.update(body)
        version["lastModifiedTime"] = _epoch_ms()
        self._touch(prompt)
        return version


# -- validation helpers (the rules of vendor-apis.md) ---------------------------------------------------


def _only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _ApiError(400, f"Invalid request. Unknown field(s): {', '.join(unknown)}.")


def _check_name(value: object, what: str, *, spaces: bool = True) -> None:
    allowed = NAME_CHARS if spaces else NAME_CHARS - {" "}
    if not isinstance(value, str) or not 3 <= len(value) <= 100 or not set(value) <= allowed:
        raise _ApiError(
            400, f"Invalid request. {what} must be 3 to 100 characters of letters, digits, _ - . and spaces."
        )


def _check_description(value: object) -> None:
    if not isinstance(value, str) or len(value) > 1000:
        raise _ApiError(400, "Invalid request. description must be a string of at most 1000 characters.")


def _check_version_fields(body: dict[str, Any]) -> None:
    for key in NUMBER_FIELDS:
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _ApiError(400, f"Invalid request. {key} must be a number.")
    for key in STRING_FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise _ApiError(400, f"Invalid request. {key} must be a string.")
    if len(body.get("description") or "") > 1000:
        raise _ApiError(400, "Invalid request. description must be at most 1000 characters.")
    prompts = body.get("prompts")
    if prompts is not None and not (
        isinstance(prompts, list)
        and all(
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and m["role"] in ("system", "user", "assistant")
            and isinstance(m["content"], str)
            for m in prompts
        )
    ):
        raise _ApiError(400, "Invalid request. prompts must be [{role: system|user|assistant, content}].")
    workflow = body.get("workflow_body")
    if workflow is not None and not (
        isinstance(workflow, dict)
        and workflow.get("type") == "JSON"
        and isinstance(workflow.get("value"), str)
    ):
        raise _ApiError(400, 'Invalid request. workflow_body must be {type: "JSON", value: string}.')
    for key in HEADER_FIELDS:
        headers = body.get(key)
        if headers is not None and not (
            isinstance(headers, list)
            and all(
                isinstance(h, dict)
                and set(h) == {"name", "value"}
                and all(isinstance(x, str) for x in h.values())
                for h in headers
            )
        ):
            raise _ApiError(400, f"Invalid request. {key} must be [{{name, value}}].")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise _ApiError(400, "Invalid request. The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise _ApiError(400, "Invalid request. The body must be a JSON object.")
    return body


def _int_param(request: Request, key: str, default: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise _ApiError(400, f"Invalid request. {key} must be an integer.") from exc


def _epoch_ms() -> int:
    return int(time.time() * 1000)


# -- serving -------------------------------------------------------------------------------------------


def run_fake_statsig(fake: FakeStatsig) -> AbstractContextManager[str]:
    """Serve ``fake`` on 127.0.0.1 (a free port) in a background thread; yields the base URL."""
    return serve_in_thread(fake, "fake Statsig server")

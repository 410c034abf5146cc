"""A fake PostHog LLM prompts API that follows PostHog's own sources, not promptshelf (an ASGI app).

Sources (all in ``PostHog/posthog``; every behaviour below comes from one of them):

- API tests: ``posthog/api/test/test_llm_prompt.py`` @ ``0037ddf4caa956b3fca7cb03ce6aa861321a7795``
  (ported as tests of this fake in ``tests/backends/test_posthog_fake.py``).
- Service layer: ``posthog/api/services/llm_prompt.py`` @ ``02730896ac872519aca5e185a3ef77584561ef93``
  (``publish_prompt_version``: 409 before the version limit before edits, config-only publish carries the
  prompt forward; ``apply_prompt_edits``; ``set_prompt_label``/``remove_prompt_label``,
  ``MAX_PROMPT_LABELS = 50``; ``resolve_versions_page``; ``archive_prompt`` deletes the labels).
- Answer shapes: ``products/ai_observability/frontend/generated/api.schemas.ts`` @
  ``00f6238b5f94939a83073087e2ff66f982f86fc4``: get by name answers ``LLMPromptPublicApi`` (no
  ``version_description``, ``labels``, ``all_labels`` or ``created_by``), create/publish ``LLMPromptApi``
  (own ``labels``, no ``all_labels``), list rows ``LLMPromptListApi`` (with ``all_labels``), resolve
  ``LLMPromptResolveResponseApi``, label writes ``LLMPromptLabelApi``. Kept as JSON Schema in
  ``tests/contracts/posthog/``; ``observer`` lets a test check every request and answer against it.
- Request bodies: ``services/mcp/src/generated/ai_observability/api.ts`` @
  ``02aa25dc8d8a5ec46f2744ae9f2e75c4f189ca75`` (``LlmPromptsCreateBody``: name, prompt, config,
  version_description; ``labels`` is read-only, so DRF ignores it, as it ignores any unknown field).
- Label names: ``validate_prompt_label_name_value`` (tests in ``TestLLMPromptLabelNameValidationNoDB``),
  whose rule the PostHog UI mirrors in ``products/ai_observability/frontend/prompts/utils.tsx`` (a stored
  version, search-index id 56032917948, "Mirrors validate_prompt_label_name_value"):
  ``^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$``, at most 128 characters, not numbers only, not ``latest``.
- ``legacy=True``: an older self-hosted server, whose serializers are those of
  ``posthog/api/llm_prompt_serializers.py`` @ ``d2762ad91693c661eeb5f834a07c7eed9259009a``: no ``config``,
  ``version_description``, labels or ``edits``; it ignores those fields. ``web_only=True`` answers 403
  "only available to web-authenticated users" on PATCH, archive and resolve (an earlier viewset, per the
  audit).

Not from PostHog (test plumbing): the fault switches, safe to flip from the test thread while the server
runs in its own thread: ``latency``, ``fail_next(n, status)``, ``throttle_next(n, retry_after)``,
``drop_next(n, after_apply)``, ``outage``; ``requests`` records what arrived. The 30-per-minute
publish quota is the team's notes' figure, unconfirmed (the audit could not read the rate of
``LLMPromptPublishBurstRateThrottle``); the 480-per-minute burst is ``BurstRateThrottle`` in
``posthog/rate_limit.py`` @ ``00b34d8231ad5f9095856f5a16307eff2fb0a5b7``.

``run_fake_posthog(fake)`` serves it with uvicorn on 127.0.0.1 (a free port) in a background thread.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from tests.fakes.serving import serve_in_thread

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
MAX_LABEL_LENGTH = 128
MAX_PROMPT_BYTES = 1_000_000
MAX_LABELS = 50
PAGE_SIZE = 100
USER = {
    "id": 1,
    "uuid": "095be615-a8ad-4c33-8e9c-c7612fbf6c9f",
    "distinct_id": "fake-user",
    "first_name": "Fake",
    "last_name": "User",
    "email": "fake.user@example.com",
    "is_email_verified": True,
    "hedgehog_config": None,
    "role_at_organization": "engineering",
}
PATH_RE = re.compile(r"^/api/(?:environments|projects)/(?P<project>[^/]+)/llm_prompts/(?P<rest>.*)$")
ROUTE_RE = re.compile(
    r"(?P<resolve>resolve/)?name/(?P<name>[^/]+)/(?:(?P<archive>archive/)|labels/(?P<label>[^/]+)/)?"
)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")

Observer = Callable[["Exchange"], None]


class _ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class _Drop(Exception):
    """Close the connection without an answer."""


def _validation(detail: str, *, code: str = "invalid", attr: str | None = None, **extra: Any) -> _ApiError:
    return _ApiError(400, {"type": "validation_error", "code": code, "detail": detail, "attr": attr, **extra})


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    status: int


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, for a contract check: ``route`` names the PostHog operation."""

    route: str
    method: str
    query: dict[str, str]
    body: Any
    status: int
    answer: Any


def label_name_problem(label: str) -> str | None:
    """PostHog's ``validate_prompt_label_name_value``; ``None`` when valid."""
    if not label:
        return "Label name is required."
    if label.lower() == "latest":
        return "'latest' is reserved and cannot be used as a label."
    if label.isdigit():
        return "Label names cannot be numbers only, to avoid confusion with version numbers."
    if len(label) > MAX_LABEL_LENGTH:
        return f"Label must be {MAX_LABEL_LENGTH} characters or fewer."
    if not label.isascii() or not LABEL_RE.match(label):
        return (
            "Use lowercase letters, numbers, dots (.), hyphens (-) and underscores (_), "
            "starting and ending with a letter or number."
        )
    return None


@dataclass
class FakePostHog:
    project_id: str = "4242"
    project_token: str = "phc_fake_project_token"
    api_key: str = "phx_fake_personal_key_do_not_leak"
    scopes: set[str] = field(default_factory=lambda: {"llm_prompt:read", "llm_prompt:write"})
    legacy: bool = False
    web_only: bool = False
    max_versions: int = 2000
    max_labels: int = MAX_LABELS
    burst_limit: int | None = 480
    """Requests per minute per key (PostHog cloud: 480); ``None`` turns it off."""
    publish_limit: int | None = 30
    """Publishes per minute per key (unconfirmed figure); ``None`` turns it off."""
    latency: float = 0.0
    outage: int | None = None
    clock: Callable[[], float] = time.monotonic
    observer: Observer | None = None
    """Called with every answered request (from the server thread), e.g. to check it against the contract."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """prompt name -> label name -> ``{id, version, created_at, updated_at}``."""
    requests: list[RecordedRequest] = field(default_factory=list)
    _faults: deque[tuple[str, Any, str | None]] = field(default_factory=deque)
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- switches ------------------------------------------------------------------------------------

    # Each switch hits the next ``count`` requests (of ``method`` only, when given).

    def fail_next(self, count: int = 1, status: int = 500, *, method: str | None = None) -> None:
        self._add_faults(count, ("fail", status, method))

    def throttle_next(self, count: int = 1, retry_after: int = 1, *, method: str | None = None) -> None:
        self._add_faults(count, ("throttle", retry_after, method))

    def drop_next(self, count: int = 1, *, after_apply: bool = False, method: str | None = None) -> None:
        self._add_faults(count, ("drop_after" if after_apply else "drop", None, method))

    def _add_faults(self, count: int, fault: tuple[str, Any, str | None]) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    def _take_fault(self, method: str) -> tuple[str, Any, str | None] | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault[2] in (None, method):
                    del self._faults[index]
                    return fault
        return None

    def seed(self, name: str, prompt: Any) -> None:
        """Add a prompt directly, as if created long ago (for tests that need many)."""
        with self._lock:
            self._add_row(name, prompt, 1, None, None)
            self.labels[name] = {}

    def label_versions(self, name: str) -> dict[str, int]:
        return {label: record["version"] for label, record in self.labels.get(name, {}).items()}

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        return sum(
            1
            for r in list(self.requests)
            if (method is None or r.method == method) and path_contains in r.path
        )

    # -- ASGI ----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(request.method)
        status: int = 500
        body: Any = {}
        headers: dict[str, str] = {}
        body_bytes = b""
        try:
            body_bytes = await request.body()
            if fault and fault[0] == "drop":
                raise _Drop
            status, body = self._handle(request, body_bytes, fault)
            if fault and fault[0] == "drop_after":
                raise _Drop
        except _ApiError as error:
            status, body, headers = error.status, error.body, error.headers
        except _Drop:
            self.requests.append(RecordedRequest(request.method, request.url.path, request.url.query, 0))
            # Headers out, then the connection dies mid-answer: the client sees a broken response.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            )
            raise
        self.requests.append(RecordedRequest(request.method, request.url.path, request.url.query, status))
        route = _route_of(request.method, request.url.path)
        if self.observer is not None and route:
            sent = _maybe_json(body_bytes)
            self.observer(Exchange(route, request.method, dict(request.query_params), sent, status, body))
        payload = b"" if status == 204 else json.dumps(body).encode()
        raw_headers = [(b"content-type", b"application/json")] + [
            (key.lower().encode(), value.encode()) for key, value in headers.items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    def _handle(
        self, request: Request, body_bytes: bytes, fault: tuple[str, Any, str | None] | None
    ) -> tuple[int, Any]:
        if self.outage is not None:
            raise _ApiError(self.outage, {"detail": "Server Error (500)"})
        if fault and fault[0] == "fail":
            raise _ApiError(fault[1], {"detail": "Server Error (500)"})
        if fault and fault[0] == "throttle":
            raise _throttled(fault[1])
        self._authenticate(request)
        match = PATH_RE.match(request.url.path)
        if not match:
            raise _ApiError(404, {"detail": "Not found."})
        self._check_project(match["project"], request)
        rest, method = match["rest"], request.method
        self._admit("burst", self.burst_limit)
        body = _json_body(body_bytes) if method in ("POST", "PATCH", "PUT") else {}
        route = ROUTE_RE.fullmatch(rest)
        with self._lock:
            if rest == "":
                if method == "GET":
                    self._scope("llm_prompt:read")
                    return 200, self._list(request)
                if method == "POST":
                    self._scope("llm_prompt:write")
                    return 201, self._create(body)
            elif route and route["resolve"]:
                if method == "GET" and not route["archive"] and not route["label"]:
                    self._scope("llm_prompt:read")
                    self._web_only()
                    return 200, self._resolve(unquote(route["name"]), request)
            elif route and route["archive"]:
                if method == "POST":
                    self._scope("llm_prompt:write")
                    self._web_only()
                    self._archive(unquote(route["name"]))
                    return 204, None
            elif route and route["label"] and not self.legacy:
                name, label = unquote(route["name"]), unquote(route["label"])
                if method == "PUT":
                    self._scope("llm_prompt:write")
                    status, answer = self._set_label(name, label, body)
                    return status, answer
                if method == "DELETE":
                    self._scope("llm_prompt:write")
                    self._remove_label(name, label)
                    return 204, None
            elif route and not route["label"]:
                name = unquote(route["name"])
                if method == "GET":
                    self._scope("llm_prompt:read")
                    return 200, self._get(name, request)
                if method == "PATCH":
                    self._scope("llm_prompt:write")
                    self._web_only()
                    self._admit("publish", self.publish_limit)
                    return 200, self._publish(name, body)
            else:
                raise _ApiError(404, {"detail": "Not found."})
        raise _ApiError(405, {"detail": f'Method "{method}" not allowed.'})

    # -- checks --------------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header:
            raise _ApiError(
                401,
                {
                    "type": "authentication_error",
                    "code": "not_authenticated",
                    "detail": "Authentication credentials were not provided.",
                    "attr": None,
                },
            )
        if header != f"Bearer {self.api_key}":
            raise _ApiError(
                401,
                {
                    "type": "authentication_error",
                    "code": "authentication_failed",
                    "detail": "Personal API key found in request Authorization header is invalid.",
                    "attr": None,
                },
            )

    def _check_project(self, project: str, request: Request) -> None:
        if project == self.project_id or (
            project == "@current" and request.query_params.get("token") == self.project_token
        ):
            return
        raise _ApiError(
            403,
            {
                "type": "authentication_error",
                "code": "permission_denied",
                "detail": "You don't have access to the project.",
                "attr": None,
            },
        )

    def _scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise _ApiError(
                403,
                {
                    "type": "authentication_error",
                    "code": "permission_denied",
                    "detail": f"API key missing required scope '{scope}'",
                    "attr": None,
                },
            )

    def _web_only(self) -> None:
        if self.web_only:
            raise _ApiError(403, {"detail": "This endpoint is only available to web-authenticated users."})

    def _admit(self, bucket: str, limit: int | None) -> None:
        if limit is None:
            return
        now = self.clock()
        window = self._windows.setdefault(bucket, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            raise _throttled(max(1, math.ceil(window[0] + 60 - now)))
        window.append(now)

    # -- endpoints -----------------------------------------------------------------------------------

    def _list(self, request: Request) -> dict[str, Any]:
        limit = min(_int_param(request, "limit", PAGE_SIZE), PAGE_SIZE)
        offset = _int_param(request, "offset", 0)
        search = (request.query_params.get("search") or "").casefold()
        label = None if self.legacy else request.query_params.get("label")
        if label is not None:
            _check_label(label, attr="label")
        rows = []
        for name in self._live_names():
            if label is not None:
                record = self.labels.get(name, {}).get(label)
                if record is None:
                    continue
                row = self._row(name, record["version"])
            else:
                row = self._latest(name)
            assert row is not None
            text = _as_string(row["prompt"])
            if search and search not in name.casefold() and search not in text.casefold():
                continue
            rows.append(row)
        order = request.query_params.get("order_by", "-created_at")
        if order.lstrip("-") not in ("name", "created_at"):
            raise _validation(f'"{order}" is not a valid choice.', attr="order_by")
        key = "name" if order.lstrip("-") == "name" else "seq"
        rows.sort(key=lambda r: r[key], reverse=order.startswith("-"))
        page = rows[offset : offset + limit]
        results = [self._list_row(r) for r in page]

        def link(at: int) -> str:
            params = dict(request.query_params)
            params.update(limit=str(limit), offset=str(at))
            return f"{request.base_url}{request.url.path.lstrip('/')}?{urlencode(params)}"

        return {
            "count": len(rows),
            "next": link(offset + limit) if offset + limit < len(rows) else None,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "results": results,
        }

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if name is None or name == "":
            raise _validation("This field is required.", code="required", attr="name")
        _check_name(name)
        if "prompt" not in body or body["prompt"] is None:
            raise _validation("This field is required.", code="required", attr="prompt")
        _check_size(body["prompt"], "prompt")
        newer = self._newer_fields(body)
        if self._latest(name) is not None:
            raise _validation("A prompt with this name already exists.", code="unique", attr="name")
        row = self._add_row(name, body["prompt"], 1, newer.get("config"), newer.get("version_description"))
        self.labels[name] = {}
        return self._full(row)

    def _get(self, name: str, request: Request) -> dict[str, Any]:
        name = self._by_id(name)
        label = None if self.legacy else request.query_params.get("label")
        version = request.query_params.get("version")
        if label is not None:
            if version is not None:
                raise _validation("Use either version or label, not both.", attr="label")
            _check_label(label, attr="label")
            record = self.labels.get(name, {}).get(label) if self._latest(name) else None
            if record is None:
                raise _ApiError(404, {"detail": f"Prompt '{name}' has no label '{label}'."})
            row = self._row(name, record["version"])
        elif version is not None:
            if self._latest(name) is None:
                raise _not_found(name)
            number = _int_param(request, "version", 0)
            row = self._row(name, number)
            if row is None:
                raise _ApiError(404, {"detail": f"Prompt '{name}' has no version {number}."})
        else:
            row = self._latest(name)
        if row is None:
            raise _not_found(name)
        obj = self._public(row)
        if label is not None:
            obj["label"] = label
        return obj

    def _publish(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        name = self._by_id(name)
        base = body.get("base_version")
        if base is None:
            raise _validation("This field is required.", code="required", attr="base_version")
        if not isinstance(base, int) or isinstance(base, bool) or base < 1:
            raise _validation("A valid integer is required.", attr="base_version")
        edits = None if self.legacy else body.get("edits")
        prompt = body.get("prompt")
        config_given = not self.legacy and "config" in body
        if prompt is not None and edits is not None:
            raise _validation("Provide either prompt or edits, not both.", attr="prompt")
        if prompt is None and edits is None and not config_given:
            raise _validation("Provide prompt, edits or config.", code="required", attr="prompt")
        if prompt is not None:
            _check_size(prompt, "prompt")
        if edits is not None:
            _check_edits_shape(edits)
        newer = self._newer_fields(body)
        latest = self._latest(name)
        if latest is None:
            raise _not_found(name)
        # publish_prompt_version: stale base (409), then the version limit, then edits.
        if base != latest["version"]:
            raise _ApiError(
                409,
                {
                    "detail": "The prompt changed since you opened it. "
                    "Reload the latest version and try again.",
                    "current_version": latest["version"],
                },
            )
        if latest["version"] >= self.max_versions:
            raise _validation(
                f"Prompt has reached the maximum of {self.max_versions} versions. "
                "Archive it and create a new prompt to keep iterating."
            )
        if edits is not None:
            resolved: Any = _apply_edits(latest["prompt"], edits)
        elif prompt is not None:
            resolved = prompt
        else:
            resolved = latest["prompt"]  # config-only publish carries the prompt forward
        config = newer["config"] if "config" in newer else latest["config"]
        row = self._add_row(name, resolved, latest["version"] + 1, config, newer.get("version_description"))
        return self._full(row)

    def _archive(self, name: str) -> None:
        live = self._live(name)
        if not live:
            raise _not_found(name)
        for row in live:
            row["deleted"] = True
            row["is_latest"] = False
            row["updated_at"] = _now()
        self.labels.pop(name, None)

    def _resolve(self, name: str, request: Request) -> dict[str, Any]:
        params = request.query_params
        limit = _int_param(request, "limit", 50)
        if not 1 <= limit <= 100:
            raise _validation("Ensure this value is between 1 and 100.", attr="limit")
        if "offset" in params and "before_version" in params:
            raise _validation("Use either offset or before_version, not both.")
        if params.get("version_id"):
            found = [r for r in self._live(name) if r["id"] == params["version_id"]]
            if params.get("version"):
                found = [r for r in found if r["version"] == _int_param(request, "version", 0)]
            row = found[0] if found else None
        elif params.get("version"):
            row = self._row(name, _int_param(request, "version", 0))
        else:
            row = self._latest(name)
        if row is None:
            raise _not_found(name)
        history = sorted(self._live(name), key=lambda r: r["version"], reverse=True)
        if "before_version" in params:
            before = _int_param(request, "before_version", 0)
            history = [r for r in history if r["version"] < before]
        else:
            history = history[_int_param(request, "offset", 0) :]
        page = history[:limit]
        answer: dict[str, Any] = {
            "prompt": self._full(row),
            "versions": [self._summary(r) for r in page],
            "has_more": len(history) > limit,
        }
        if not self.legacy:
            answer["labels"] = [
                self._label_object(name, label, record)
                for label, record in sorted(self.labels.get(name, {}).items())
            ]
        return answer

    def _set_label(self, name: str, label: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        _check_label(label, attr="label_name")
        version = body.get("version")
        if version is None:
            raise _validation("This field is required.", code="required", attr="version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _validation("A valid integer is required.", attr="version")
        if self._row(name, version) is None:
            raise _ApiError(404, {"detail": f"Prompt '{name}' has no version {version}."})
        labels = self.labels.setdefault(name, {})
        record = labels.get(label)
        if record is not None:
            if record["version"] != version:
                record["version"] = version
                record["updated_at"] = _now()
            return 200, self._label_object(name, label, record)
        if len(labels) >= self.max_labels:
            raise _validation(f"A prompt can have at most {self.max_labels} labels.", attr="label_name")
        now = _now()
        record = {"id": str(uuid.uuid4()), "version": version, "created_at": now, "updated_at": now}
        labels[label] = record
        return 201, self._label_object(name, label, record)

    def _remove_label(self, name: str, label: str) -> None:
        if self.labels.get(name, {}).pop(label, None) is None:
            raise _ApiError(404, {"detail": f"Label '{label}' not found on prompt '{name}'."})

    # -- storage -------------------------------------------------------------------------------------

    def _newer_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """``config`` and ``version_description``; ``labels`` and unknown fields are ignored, as by DRF."""
        if self.legacy:
            return {}
        fields: dict[str, Any] = {}
        if "config" in body:
            if body["config"] is not None and not isinstance(body["config"], dict):
                raise _validation("Config must be a JSON object.", attr="config")
            _check_size(body["config"], "config")
            fields["config"] = body["config"]
        if body.get("version_description") is not None:
            if not isinstance(body["version_description"], str):
                raise _validation("Not a valid string.", attr="version_description")
            if len(body["version_description"]) > 400:
                raise _validation(
                    "Ensure this field has no more than 400 characters.",
                    code="max_length",
                    attr="version_description",
                )
            fields["version_description"] = body["version_description"]
        return fields

    def _add_row(self, name: str, prompt: Any, version: int, config: Any, description: Any) -> dict[str, Any]:
        now = _now()
        for row in self._live(name):
            row["is_latest"] = False
        row = {
            "id": str(uuid.uuid4()),
            "seq": len(self.rows),
            "name": name,
            "prompt": prompt,
            "version": version,
            "created_at": now,
            "updated_at": now,
            "deleted": False,
            "is_latest": True,
            "config": config,
            "version_description": description,
        }
        self.rows.append(row)
        return row

    def _by_id(self, name: str) -> str:
        """The name route also takes a version id, for that version's prompt; a real name wins."""
        if self._latest(name) is None and UUID_RE.match(name):
            for row in self.rows:
                if row["id"] == name and not row["deleted"]:
                    return str(row["name"])
        return name

    def _live(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["name"] == name and not r["deleted"]]

    def _live_names(self) -> list[str]:
        return list(dict.fromkeys(r["name"] for r in self.rows if not r["deleted"]))

    def _latest(self, name: str) -> dict[str, Any] | None:
        live = self._live(name)
        return max(live, key=lambda r: r["version"]) if live else None

    def _row(self, name: str, version: int) -> dict[str, Any] | None:
        return next((r for r in self._live(name) if r["version"] == version), None)

    def _history_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        live = self._live(row["name"]) if not row["deleted"] else [row]
        latest = max(live, key=lambda r: r["version"])
        first = min(live, key=lambda r: r["version"])
        return {
            "is_latest": row is latest,
            "latest_version": latest["version"],
            "version_count": len(live),
            "first_version_created_at": first["created_at"],
        }

    def _own_labels(self, row: dict[str, Any]) -> list[str]:
        return sorted(
            label
            for label, record in self.labels.get(row["name"], {}).items()
            if record["version"] == row["version"]
        )

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        """``LLMPromptPublicApi`` (``llm_prompt_cache_payloads.py``): the answer to get by name."""
        obj: dict[str, Any] = {"id": row["id"], "name": row["name"], "prompt": _as_string(row["prompt"])}
        if not self.legacy:
            obj["config"] = row["config"]
            obj["outline"] = _outline(row["prompt"])
        obj.update(
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deleted=row["deleted"],
            **self._history_fields(row),
        )
        return obj

    def _full(self, row: dict[str, Any]) -> dict[str, Any]:
        """``LLMPromptApi``: create, publish and resolve's ``prompt`` (its own labels, no ``all_labels``)."""
        obj: dict[str, Any] = {"id": row["id"], "name": row["name"], "prompt": _as_string(row["prompt"])}
        if not self.legacy:
            obj["config"] = row["config"]
        obj["version"] = row["version"]
        if not self.legacy:
            obj["version_description"] = row["version_description"]
        obj.update(
            created_by=USER,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deleted=row["deleted"],
            **self._history_fields(row),
        )
        if not self.legacy:
            obj["outline"] = _outline(row["prompt"])
            obj["labels"] = self._own_labels(row)
            obj["activity_item_id"] = row["name"][:72]
        return obj

    def _list_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """``LLMPromptListApi``: a list row, with every label of the prompt in ``all_labels``."""
        obj = {**self._full(row), "prompt_size_bytes": _size(row["prompt"])}
        if not self.legacy:
            obj["all_labels"] = [
                {"name": label, "version": version}
                for label, version in sorted(self.label_versions(row["name"]).items())
            ]
        return obj

    def _summary(self, row: dict[str, Any]) -> dict[str, Any]:
        """``LLMPromptVersionSummaryApi``: one row of resolve's ``versions``."""
        obj: dict[str, Any] = {"id": row["id"], "version": row["version"]}
        if not self.legacy:
            obj["version_description"] = row["version_description"]
        obj.update(created_by=USER, created_at=row["created_at"], is_latest=row["is_latest"])
        if not self.legacy:
            obj["labels"] = self._own_labels(row)
        return obj

    def _label_object(self, name: str, label: str, record: dict[str, Any]) -> dict[str, Any]:
        """``LLMPromptLabelApi`` (no ``previous_version``)."""
        return {
            "id": record["id"],
            "name": label,
            "prompt_name": name,
            "version": record["version"],
            "created_by": USER,
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
        }


# -- helpers -----------------------------------------------------------------------------------------


def _route_of(method: str, path: str) -> str:
    """Which PostHog operation a request is (for the contract check); ``""`` for none."""
    match = PATH_RE.match(path)
    if not match:
        return ""
    rest = match["rest"]
    if rest == "":
        return {"GET": "list", "POST": "create"}.get(method, "")
    route = ROUTE_RE.fullmatch(rest)
    if route is None:
        return ""
    if route["resolve"]:
        return "resolve" if method == "GET" and not (route["archive"] or route["label"]) else ""
    if route["archive"]:
        return "archive" if method == "POST" else ""
    if route["label"]:
        return {"PUT": "label_set", "DELETE": "label_delete"}.get(method, "")
    return {"GET": "get", "PATCH": "publish"}.get(method, "")


def _throttled(seconds: int) -> _ApiError:
    return _ApiError(
        429,
        {
            "type": "throttled_error",
            "code": "throttled",
            "detail": f"Request was throttled. Expected available in {seconds} seconds.",
            "attr": None,
        },
        {"Retry-After": str(seconds)},
    )


def _not_found(name: str) -> _ApiError:
    return _ApiError(
        404, {"detail": f"Prompt '{name}' not found. List the project's prompts to find the right name."}
    )


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise _validation("Not a valid string.", attr="name")
    if len(name) > 255:
        raise _validation(
            "Ensure this field has no more than 255 characters.", code="max_length", attr="name"
        )
    if name.lower() == "new":
        raise _validation("'new' is a reserved name and cannot be used.", code="reserved_name", attr="name")
    if not NAME_RE.match(name):
        raise _validation(
            "Only letters, numbers, hyphens (-) and underscores (_) are allowed.",
            code="invalid_name",
            attr="name",
        )


def _check_label(label: str, *, attr: str) -> None:
    problem = label_name_problem(label)
    if problem is not None:
        raise _validation(problem, attr=attr)


def _size(prompt: Any) -> int:
    return len(json.dumps(prompt, separators=(",", ":"), ensure_ascii=False).encode())


def _check_size(payload: Any, attr: str) -> None:
    if _size(payload) > MAX_PROMPT_BYTES:
        what = "Config" if attr == "config" else "Prompt payload"
        raise _validation(f"{what} must be {MAX_PROMPT_BYTES} bytes or fewer.", code="max_size", attr=attr)


def _as_string(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)


def _outline(prompt: Any) -> list[dict[str, Any]]:
    if not isinstance(prompt, str):
        return []
    outline = []
    for line in prompt.splitlines():
        heading = HEADING_RE.match(line)
        if heading:
            outline.append({"level": len(heading[1]), "text": heading[2]})
    return outline


def _check_edits_shape(edits: Any) -> None:
    if not isinstance(edits, list) or not edits:
        raise _validation("Edits must be a non-empty list.", attr="edits")
    for edit in edits:
        if (
            not isinstance(edit, dict)
            or not isinstance(edit.get("old"), str)
            or not isinstance(edit.get("new"), str)
        ):
            raise _validation("Each edit needs 'old' and 'new' strings.", attr="edits")


def _apply_edits(prompt: Any, edits: list[dict[str, str]]) -> Any:
    """``apply_prompt_edits``: JSON prompts are edited as ``json.dumps(indent=2)`` and parsed back."""
    is_string = isinstance(prompt, str)
    text = prompt if is_string else json.dumps(prompt, indent=2, ensure_ascii=False)
    for index, edit in enumerate(edits):
        count = text.count(edit["old"])
        if count == 0:
            raise _validation("Text to replace was not found in the prompt.", attr="edits", edit_index=index)
        if count > 1:
            raise _validation(
                f"Text to replace matches {count} times — provide more context to make it unique.",
                attr="edits",
                edit_index=index,
            )
        text = text.replace(edit["old"], edit["new"], 1)
    result: Any = text
    if not is_string:
        try:
            result = json.loads(text)
        except ValueError as exc:
            raise _validation(
                f"Edits produced invalid JSON: {exc}", attr="edits", edit_index=len(edits) - 1
            ) from exc
    if _size(result) > MAX_PROMPT_BYTES:
        raise _validation(
            f"Resulting prompt exceeds the {MAX_PROMPT_BYTES} byte size limit.",
            attr="edits",
            edit_index=len(edits) - 1,
        )
    return result


def _maybe_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _ApiError(
            400,
            {"type": "validation_error", "code": "parse_error", "detail": "JSON parse error", "attr": None},
        ) from exc
    if not isinstance(body, dict):
        raise _validation("Expected a JSON object.")
    return body


def _int_param(request: Request, key: str, default: int) -> int:
    value = request.query_params.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise _validation("A valid integer is required.", attr=key) from exc


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def run_fake_posthog(fake: FakePostHog) -> AbstractContextManager[str]:
    """Serve ``fake`` on 127.0.0.1 (a free port) in a background thread; yields the base URL."""
    return serve_in_thread(fake, "fake PostHog server")

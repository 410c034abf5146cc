"""A fake PostHog LLM prompts API that follows ``vendor-apis.md`` strictly (an ASGI app).

What it is strict about: trailing slashes, Bearer personal-key auth and scopes (401/403 envelopes), the
name rule and the reserved name ``new``, prompt size, duplicate names (400 ``unique``), ``base_version``
(400 ``required``, 409 with ``current_version``), the version limit, ``prompt`` always answered as a string
(JSON-encoded when not one), archive (204, every version, the name restarts at 1), resolve paging
(``before_version`` with ``offset`` is 400), absolute ``next``/``previous`` URLs, 429 with ``Retry-After``.
``/api/projects/`` is an alias of ``/api/environments/``; ``@current`` works with ``?token=<project key>``
as PostHog's SDKs use it.

Server generations: by default the newer one (``config``, ``version_description``, ``edits``, labels with
``?label=``, ``label``/``labels``/``all_labels`` on answers, and the label route promptshelf uses,
``POST name/{name}/labels/``); ``legacy=True`` is an older self-hosted server that ignores all of those;
``web_only=True`` answers 403 "only available to web-authenticated users" on PATCH, archive and resolve.

Fault switches (safe to flip from the test thread while the server runs in its own thread):
``latency`` (seconds before each answer), ``fail_next(n, status)``, ``throttle_next(n, retry_after)``,
``drop_next(n, after_apply)`` (close the connection without an answer, before or after applying),
``outage`` (every request answers that status until cleared). ``requests`` records what arrived.

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
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from tests.fakes.serving import serve_in_thread

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAX_PROMPT_BYTES = 1_000_000
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


@dataclass
class FakePostHog:
    project_id: str = "4242"
    project_token: str = "phc_fake_project_token"
    api_key: str = "phx_fake_personal_key_do_not_leak"
    scopes: set[str] = field(default_factory=lambda: {"llm_prompt:read", "llm_prompt:write"})
    legacy: bool = False
    web_only: bool = False
    max_versions: int = 2000
    burst_limit: int | None = 480
    """Requests per minute per key (PostHog cloud: 480); ``None`` turns it off."""
    publish_limit: int | None = 30
    """Publishes per minute per key (PostHog cloud: 30); ``None`` turns it off."""
    latency: float = 0.0
    outage: int | None = None
    clock: Callable[[], float] = time.monotonic
    rows: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
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
        body = _json_body(body_bytes) if method in ("POST", "PATCH") else {}
        route = re.fullmatch(r"(?:resolve/)?name/([^/]+)/(archive/|labels/)?", rest)
        if rest == "":
            if method == "GET":
                self._scope("llm_prompt:read")
                return 200, self._list(request)
            if method == "POST":
                self._scope("llm_prompt:write")
                return 201, self._create(body)
        elif route and rest.startswith("resolve/"):
            if method == "GET":
                self._scope("llm_prompt:read")
                self._web_only()
                return 200, self._resolve(route[1], request)
        elif route and route[2] == "archive/":
            if method == "POST":
                self._scope("llm_prompt:write")
                self._web_only()
                self._archive(route[1])
                return 204, None
        elif route and route[2] == "labels/" and not self.legacy:
            if method == "POST":
                self._scope("llm_prompt:write")
                return 200, self._move_label(route[1], body)
        elif route and route[2] is None:
            if method == "GET":
                self._scope("llm_prompt:read")
                return 200, self._get(route[1], request)
            if method == "PATCH":
                self._scope("llm_prompt:write")
                self._web_only()
                self._admit("publish", self.publish_limit)
                return 200, self._publish(route[1], body)
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
        rows = []
        for name in self._live_names():
            if label is not None:
                at = self.labels.get(name, {}).get(label)
                if at is None:
                    continue
                row = self._row(name, at)
            else:
                row = self._latest(name)
            assert row is not None
            text = _as_string(row["prompt"])
            if search and search not in name.casefold() and search not in text.casefold():
                continue
            rows.append(row)
        rows.sort(key=lambda r: r["seq"], reverse=True)
        page = rows[offset : offset + limit]
        results = [{**self._object(r), "prompt_size_bytes": _size(r["prompt"])} for r in page]

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
        _check_size(body["prompt"])
        newer = self._newer_fields(body)
        if self._latest(name) is not None:
            raise _validation("A prompt with this name already exists.", code="unique", attr="name")
        row = self._add_row(name, body["prompt"], 1, newer.get("config"), newer.get("version_description"))
        self.labels[name] = {}
        for label in newer.get("labels", []):
            self.labels[name][label] = 1
        return self._object(row)

    def _get(self, name: str, request: Request) -> dict[str, Any]:
        label = None if self.legacy else request.query_params.get("label")
        if label is not None:
            at = self.labels.get(name, {}).get(label) if self._latest(name) else None
            if at is None:
                raise _ApiError(404, {"detail": f"Prompt with name '{name}' and label '{label}' not found."})
            row = self._row(name, at)
        else:
            version = request.query_params.get("version")
            row = self._row(name, _int_param(request, "version", 0)) if version else self._latest(name)
        if row is None:
            raise _not_found(name)
        obj = self._object(row, with_created_by=False)
        if label is not None:
            obj["label"] = label
        return obj

    def _publish(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        latest = self._latest(name)
        if latest is None:
            raise _not_found(name)
        base = body.get("base_version")
        if base is None:
            raise _validation("This field is required.", code="required", attr="base_version")
        if not isinstance(base, int) or isinstance(base, bool):
            raise _validation("A valid integer is required.", attr="base_version")
        edits = None if self.legacy else body.get("edits")
        if edits is not None:
            prompt: Any = _apply_edits(latest["prompt"], edits)
        elif body.get("prompt") is not None:
            prompt = body["prompt"]
        else:
            raise _validation("This field is required.", code="required", attr="prompt")
        _check_size(prompt)
        newer = self._newer_fields(body)
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
        config = newer["config"] if "config" in newer else latest["config"]
        row = self._add_row(name, prompt, latest["version"] + 1, config, newer.get("version_description"))
        for label in newer.get("labels", []):
            self.labels.setdefault(name, {})[label] = row["version"]
        return self._object(row)

    def _archive(self, name: str) -> None:
        live = [r for r in self.rows if r["name"] == name and not r["deleted"]]
        if not live:
            raise _not_found(name)
        for row in live:
            row["deleted"] = True
            row["updated_at"] = _now()
        self.labels.pop(name, None)

    def _resolve(self, name: str, request: Request) -> dict[str, Any]:
        params = request.query_params
        limit = _int_param(request, "limit", 50)
        if not 1 <= limit <= 100:
            raise _validation("Ensure this value is between 1 and 100.", attr="limit")
        if "offset" in params and "before_version" in params:
            raise _validation("offset cannot be combined with before_version.", attr="offset")
        if params.get("version_id"):
            found = [r for r in self._live(name) if r["id"] == params["version_id"]]
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
        offset = _int_param(request, "offset", 0)
        page = history[offset : offset + limit]
        versions = [
            {
                "id": r["id"],
                "version": r["version"],
                "created_by": USER,
                "created_at": r["created_at"],
                "is_latest": r is self._latest(name),
            }
            for r in page
        ]
        return {"prompt": self._object(row), "versions": versions, "has_more": offset + limit < len(history)}

    def _move_label(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._latest(name) is None:
            raise _not_found(name)
        label, version = body.get("label"), body.get("version")
        if not isinstance(label, str) or not LABEL_RE.match(label) or label == "latest":
            raise _validation("Enter a valid label.", attr="label")
        labels = self.labels.setdefault(name, {})
        previous = labels.get(label)
        if version is None:
            if previous is None:
                raise _ApiError(404, {"detail": f"Label '{label}' not found."})
            del labels[label]
        else:
            if self._row(name, version) is None:
                raise _ApiError(404, {"detail": f"Prompt '{name}' has no version {version}."})
            labels[label] = version
        return {"label": label, "version": version, "previous_version": previous}

    # -- storage -------------------------------------------------------------------------------------

    def _newer_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.legacy:
            return {}
        fields: dict[str, Any] = {}
        if "config" in body:
            if body["config"] is not None and not isinstance(body["config"], dict):
                raise _validation("Config must be a JSON object.", attr="config")
            fields["config"] = body["config"]
        if body.get("version_description") is not None:
            if len(str(body["version_description"])) > 400:
                raise _validation(
                    "Ensure this field has no more than 400 characters.",
                    code="max_length",
                    attr="version_description",
                )
            fields["version_description"] = body["version_description"]
        labels = body.get("labels") or []
        if not isinstance(labels, list) or any(
            not isinstance(label, str) or not LABEL_RE.match(label) or label == "latest" for label in labels
        ):
            raise _validation("Enter valid labels.", attr="labels")
        fields["labels"] = labels
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

    def _live(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["name"] == name and not r["deleted"]]

    def _live_names(self) -> list[str]:
        return list(dict.fromkeys(r["name"] for r in self.rows if not r["deleted"]))

    def _latest(self, name: str) -> dict[str, Any] | None:
        live = self._live(name)
        return max(live, key=lambda r: r["version"]) if live else None

    def _row(self, name: str, version: int) -> dict[str, Any] | None:
        return next((r for r in self._live(name) if r["version"] == version), None)

    def _object(self, row: dict[str, Any], *, with_created_by: bool = True) -> dict[str, Any]:
        live = self._live(row["name"]) if not row["deleted"] else [row]
        latest = max(live, key=lambda r: r["version"])
        first = min(live, key=lambda r: r["version"])
        obj: dict[str, Any] = {
            "id": row["id"],
            "name": row["name"],
            "prompt": _as_string(row["prompt"]),
            "version": row["version"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "deleted": row["deleted"],
            "is_latest": row is latest,
            "latest_version": latest["version"],
            "version_count": len(live),
            "first_version_created_at": first["created_at"],
        }
        if with_created_by:
            obj["created_by"] = USER
        if not self.legacy:
            labels = self.labels.get(row["name"], {})
            obj["config"] = row["config"]
            obj["version_description"] = row["version_description"]
            obj["labels"] = sorted(label for label, at in labels.items() if at == row["version"])
            obj["all_labels"] = [{"name": label, "version": at} for label, at in sorted(labels.items())]
        return obj


# -- helpers -----------------------------------------------------------------------------------------


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
    return _ApiError(404, {"detail": f"Prompt with name '{name}' not found."})


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _validation("Only letters, numbers, hyphens (-) and underscores (_) are allowed.", attr="name")
    if len(name) > 255:
        raise _validation(
            "Ensure this field has no more than 255 characters.", code="max_length", attr="name"
        )
    if name.lower() == "new":
        raise _validation("'new' is a reserved name.", attr="name")


def _size(prompt: Any) -> int:
    return len(json.dumps(prompt, separators=(",", ":"), ensure_ascii=False).encode())


def _check_size(prompt: Any) -> None:
    if _size(prompt) > MAX_PROMPT_BYTES:
        raise _validation(f"Prompt must be at most {MAX_PROMPT_BYTES} bytes.", attr="prompt")


def _as_string(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)


def _apply_edits(prompt: Any, edits: Any) -> str:
    if not isinstance(edits, list) or not edits:
        raise _validation("Edits must be a non-empty list.", attr="edits")
    text = _as_string(prompt)
    for index, edit in enumerate(edits):
        if (
            not isinstance(edit, dict)
            or not isinstance(edit.get("old"), str)
            or not isinstance(edit.get("new"), str)
        ):
            raise _validation("Each edit needs 'old' and 'new' strings.", attr="edits", edit_index=index)
        occurrences = text.count(edit["old"]) if edit["old"] else 0
        if occurrences != 1:
            raise _validation(
                f"Edit {index}: 'old' must occur exactly once in the prompt (found {occurrences}).",
                attr="edits",
                edit_index=index,
            )
        text = text.replace(edit["old"], edit["new"], 1)
    return text


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

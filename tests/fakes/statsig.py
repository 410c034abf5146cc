"""A fake Statsig Console API that serves only operations of Statsig's published spec.

The spec is ``statsig-io/docs`` ``console-api/capiopenapi.json`` @ 19d11656a29bfa57944825e2b44dfbb5a1774611;
the operations promptshelf uses are kept, unchanged, in ``tests/contracts/statsig/console-api-subset.json``
and this fake serves exactly those (``StatsigContract.operation``); anything else, the unpublished version
list/read/PATCH/DELETE and prompt DELETE included, answers 404. Every request it receives and every answer
it gives is checked against that contract; what does not conform lands in ``violations`` (and a request
body that does not conform is answered 400, as Statsig validates its DTOs). ``run_fake_statsig`` fails
the block if anything was recorded there.

Behaviour the spec states: status codes (create prompt 200, create version 201 with the request's own
shape as ``data``, create dynamic config 201, param stores 200), the shapes, ``{status, message}`` errors,
page/limit pagination with scheme-less page URLs. Behaviour inferred, not published: names are unique
(AI configs, param stores, dynamic configs: a taken one answers 400), a dynamic config created with an
``id`` is read back by it, a parameter store update replaces its parameters, ``GET /prompts/{id}``
answers by id only.

Quota (docs.statsig.com/console-api, quoted in the audit, S5): ``quota`` attempts per window (default about
1,800 per 15 minutes), every attempt counted, rejected ones too; plus burst protection on mutations
(``burst``, default 100 per 10 s as the spec's introduction says). Time is ``clock`` (injectable: the
tests use a virtual clock, not wall time). 429s carry ``Retry-After`` only when ``retry_after`` is set
(a number of seconds, or ``"auto"``: until a slot frees); Statsig does not promise it.

Fault switches (safe to flip from the test thread): ``latency``, ``fail_next(n, status, where=...)``,
``drop_next(n)`` (handled, then the connection is cut), ``throttle_next(n)``, ``down``.

``console_*`` methods write what Statsig's console makes for a prompt, as the AI SDK's test fixture shows
it (statsig-io/statsig-ai-node @ c3ae2b280e5b82bdfe247c8dffab64262862af4c
``src/__tests__/shared/eval_proj_dcs.json``: parameter store ``prompt:{name}`` with ``live`` and
``candidates``, one dynamic config ``prompt:{versionId}`` per version): prompts "written in Statsig".
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.fakes.serving import serve_in_thread
from tests.fakes.statsig_contract import Operation, StatsigContract

NOT_FOUND = "Not Found. The requested resource could not be found."
INVALID = "Invalid request. Please check the request input and try again."
BAD_KEY = "This endpoint only accepts an active CONSOLE key, but an invalid key was sent."
DROP = -1
"""A fault "status" meaning: cut the connection."""
_CONTRACT = StatsigContract()


class _ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any = None
    status: int = 0


@dataclass
class FakeStatsig:
    api_key: str = "console-fake-key-0123456789"
    quota: tuple[int, float] | None = (1800, 900.0)
    """(attempts, per seconds): every request counts, rejected ones too."""
    burst: tuple[int, float] | None = (100, 10.0)
    """(mutations, per seconds): burst protection."""
    retry_after: float | Literal["auto"] | None = None
    latency: float = 0.0
    down: bool = False
    clock: Callable[[], float] = time.monotonic

    ai_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ai_config_versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    param_stores: dict[str, dict[str, Any]] = field(default_factory=dict)
    dynamic_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    throttled: int = 0
    _faults: deque[tuple[str | None, int]] = field(default_factory=deque)
    _attempts: deque[float] = field(default_factory=deque)
    _mutations: deque[float] = field(default_factory=deque)
    _console_versions: dict[str, list[str]] = field(default_factory=dict)
    _last_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- fault switches ------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503, *, where: str | None = None) -> None:
        """The next ``count`` requests whose ``"METHOD path"`` contains ``where`` (any) answer ``status``."""
        with self._lock:
            self._faults.extend([(where, status)] * count)

    def drop_next(self, count: int = 1, *, where: str | None = None) -> None:
        self.fail_next(count, DROP, where=where)

    def throttle_next(self, count: int = 1, *, where: str | None = None) -> None:
        self.fail_next(count, 429, where=where)

    def _take_fault(self, what: str) -> int | None:
        with self._lock:
            for index, (wanted, status) in enumerate(self._faults):
                if wanted is None or wanted in what:
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
        raw = await request.body()
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
        fault = self._take_fault(f"{request.method} {request.url.path}")
        op = _CONTRACT.operation(request.method, request.url.path)
        status, payload, headers = self._respond(request, op, raw, record, None if fault == DROP else fault)
        record.status = status
        if op is not None:
            problems = _CONTRACT.check_response(op, status, payload)
            with self._lock:
                self.violations.extend(problems)
        if fault == DROP:
            # The request was handled (a mutation took effect) but the answer never arrives.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            )
            await send({"type": "http.response.body", "body": b'{"mess', "more_body": True})
            raise ConnectionAbortedError("fake Statsig dropped the connection")
        response: Response = JSONResponse(payload, status_code=status, headers=headers)
        await response(scope, receive, send)

    def _respond(
        self, request: Request, op: Operation | None, raw: bytes, record: RecordedRequest, fault: int | None
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            body = _parse(raw)
            record.body = body
            with self._lock:
                self._admit(request.method)
                self._check_faults(fault)
                if request.headers.get("statsig-api-key") != self.api_key:
                    raise _ApiError(401, BAD_KEY)
                if op is None:
                    raise _ApiError(404, NOT_FOUND)
                problems = _CONTRACT.check_request(op, dict(request.query_params), body)
                if problems:
                    self.violations.extend(problems)
                    raise _ApiError(400, f"{INVALID} {problems[0]}")
                status, payload = self._route(request, op, body)
            return status, payload, {}
        except _ApiError as exc:
            headers = {"Retry-After": f"{exc.retry_after:g}"} if exc.retry_after is not None else {}
            return exc.status, {"status": exc.status, "message": exc.message}, headers

    def _admit(self, method: str) -> None:
        """Count this attempt; 429 when the quota or (for a mutation) the burst limit is reached."""
        now = self.clock()
        tiers: list[tuple[deque[float], tuple[int, float] | None]] = [(self._attempts, self.quota)]
        if method != "GET":
            tiers.append((self._mutations, self.burst))
        refusal: float | None = None
        for sent, limit in tiers:
            if limit is None:
                continue
            count, window = limit
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= count:
                wait = sent[len(sent) - count] + window - now
                refusal = max(refusal or 0.0, wait)
            sent.append(now)  # rejected attempts count too
        if refusal is not None:
            self.throttled += 1
            after = refusal if self.retry_after == "auto" else self.retry_after
            raise _ApiError(429, "Too Many Requests. Please slow down.", retry_after=after)

    def _check_faults(self, fault: int | None) -> None:
        if self.down:
            raise _ApiError(503, "Service Unavailable")
        if fault == 429:
            self.throttled += 1
            after = self.retry_after if isinstance(self.retry_after, float | int) else None
            raise _ApiError(429, "Too Many Requests. Please slow down.", retry_after=after)
        if fault is not None:
            raise _ApiError(fault, "Internal Server Error")

    # -- routing -------------------------------------------------------------------------------------

    def _route(self, request: Request, op: Operation, body: Any) -> tuple[int, Any]:
        key = (op.method, op.template)
        param = next(iter(op.params.values()), "")
        if key == ("GET", "/console/v1/prompts"):
            return 200, self._page(request, list(self.ai_configs.values()))
        if key == ("POST", "/console/v1/prompts"):
            return 200, {"message": "Prompt created successfully.", "data": self._create_ai_config(body)}
        if key == ("GET", "/console/v1/prompts/{id}"):
            return 200, {"message": "Prompt read successfully.", "data": self._ai_config(param)}
        if key == ("PATCH", "/console/v1/prompts/{id}"):
            config = self._ai_config(param)
            config.update(body)
            self._touch(config)
            return 200, {"message": "Prompt updated successfully.", "data": config}
        if key == ("POST", "/console/v1/prompts/{id}/versions"):
            self._ai_config(param)
            self.ai_config_versions.setdefault(param, []).append(dict(body))
            # AIConfigVersionCreateDto: the answer is the request's own shape.
            return 201, {"message": "Prompt version created successfully.", "data": dict(body)}
        if key == ("GET", "/console/v1/param_stores"):
            return 200, self._page(request, list(self.param_stores.values()))
        if key == ("POST", "/console/v1/param_stores"):
            return 200, {"message": "Param Store created successfully.", "data": self._create_store(body)}
        if key == ("GET", "/console/v1/param_stores/{name}"):
            return 200, {"message": "Param Store read successfully.", "data": self._store(param)}
        if key == ("POST", "/console/v1/param_stores/{name}"):
            store = self._store(param)
            store.update({k: v for k, v in body.items() if k in ("description", "parameters")})
            store["lastModifierID"] = "console-api"
            return 200, {"message": "Param Store updated successfully.", "data": store}
        if key == ("POST", "/console/v1/dynamic_configs"):
            return 201, {"message": "Dynamic Config created successfully.", "data": self._create_config(body)}
        if key == ("GET", "/console/v1/dynamic_configs/{id}"):
            return 200, {"message": "Dynamic Config read successfully.", "data": self._config(param)}
        if key == ("DELETE", "/console/v1/dynamic_configs/{id}"):
            self._config(param)
            del self.dynamic_configs[param]
            return 200, {"message": "Dynamic Config deleted successfully."}
        raise _ApiError(404, NOT_FOUND)  # in the contract, but not an operation promptshelf needs

    def _page(self, request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        limit = _int_param(request, "limit", 100)
        page = _int_param(request, "page", 1)
        if not 1 <= limit <= 100 or page < 1:
            raise _ApiError(400, f"{INVALID} limit must be 1 to 100 and page at least 1.")
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

    # -- objects -------------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        # Strictly increasing, so creation order is always readable from createdTime.
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def _touch(self, obj: dict[str, Any]) -> None:
        obj["lastModifiedTime"] = self._now_ms()

    def _create_ai_config(self, body: dict[str, Any]) -> dict[str, Any]:
        if any(c["name"] == body["name"] for c in self.ai_configs.values()):
            raise _ApiError(400, f"{INVALID} A prompt named {body['name']} already exists.")
        now = self._now_ms()
        config = {
            "id": secrets.token_urlsafe(16),
            "name": body["name"],
            "description": body.get("description", ""),
            "tags": list(body.get("tags", [])),
            "targetApps": [],
            "createdTime": now,
            "creatorName": "Console API",
            "lastModifiedTime": now,
            "lastModifierID": None,
            "lastModifierEmail": None,
            "lastModifierName": "Console API",
        }
        self.ai_configs[config["id"]] = config
        return config

    def _ai_config(self, key: str) -> dict[str, Any]:
        if key not in self.ai_configs:
            raise _ApiError(404, NOT_FOUND)
        return self.ai_configs[key]

    def _create_store(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["name"] in self.param_stores:
            raise _ApiError(400, f"{INVALID} A param store named {body['name']} already exists.")
        store = {
            "id": secrets.token_urlsafe(16),
            "name": body["name"],
            "displayName": body["displayName"],
            "description": body["description"],
            "createdTime": self._now_ms(),
            "creatorID": "console-api",
            "lastModifierID": "console-api",
            "parameters": [],
        }
        self.param_stores[body["name"]] = store
        return store

    def _store(self, name: str) -> dict[str, Any]:
        if name not in self.param_stores:
            raise _ApiError(404, NOT_FOUND)
        return self.param_stores[name]

    def _create_config(self, body: dict[str, Any]) -> dict[str, Any]:
        config_id = body.get("id") or body["name"]
        if config_id in self.dynamic_configs:
            raise _ApiError(400, f"{INVALID} A dynamic config named {config_id} already exists.")
        now = self._now_ms()
        config = {
            "id": config_id,
            "name": body["name"],
            "description": body.get("description", ""),
            "idType": body.get("idType", "userID"),
            "isEnabled": body.get("isEnabled", True),
            "rules": body.get("rules", []),
            "defaultValue": body.get("defaultValue", {}),
            "tags": body.get("tags", []),
            "createdTime": now,
            "creatorName": "Console API",
            "lastModifiedTime": now,
            "lastModifierID": None,
            "lastModifierEmail": None,
            "lastModifierName": "Console API",
        }
        self.dynamic_configs[config_id] = config
        return config

    def _config(self, key: str) -> dict[str, Any]:
        if key not in self.dynamic_configs:
            raise _ApiError(404, NOT_FOUND)
        return self.dynamic_configs[key]

    # -- what Statsig's console makes (test setup; not a route) ---------------------------------------

    def console_create_prompt(
        self, name: str, *, description: str, prompts: list[dict[str, str]], model: str | None = None
    ) -> None:
        """An AI config written in Statsig's console: its first version Live."""
        with self._lock:
            ai = self._create_ai_config({"name": name, "description": description})
            store = self._create_store({"name": f"prompt:{name}", "displayName": name, "description": ""})
            config = self._console_version(ai, prompts, model, "Live")
            store["parameters"] = [
                {"name": "live", "ref_type": "static", "param_type": "string", "value": config},
                {"name": "candidates", "ref_type": "static", "param_type": "array", "value": []},
            ]

    def console_publish(self, name: str, prompts: list[dict[str, str]]) -> None:
        """A new version written in Statsig's console, served as a Candidate."""
        with self._lock:
            (ai,) = [c for c in self.ai_configs.values() if c["name"] == name]
            config = self._console_version(ai, prompts, None, "Candidate")
            self._parameter(name, "candidates")["value"].append(config)

    def console_promote(self, name: str, number: int) -> None:
        """Make the console's ``number``-th version (1 = oldest) Live, as Statsig's console does."""
        with self._lock:
            config = self._console_versions[name][number - 1]
            live = self._parameter(name, "live")
            candidates = self._parameter(name, "candidates")
            candidates["value"] = [c for c in candidates["value"] if c != config]
            live["value"] = config

    def _parameter(self, name: str, parameter: str) -> dict[str, Any]:
        (found,) = [p for p in self.param_stores[f"prompt:{name}"]["parameters"] if p["name"] == parameter]
        return found

    def _console_version(
        self, ai: dict[str, Any], prompts: list[dict[str, str]], model: str | None, kind: str
    ) -> str:
        versions = self._console_versions.setdefault(ai["name"], [])
        version_id = secrets.token_urlsafe(16)
        body = {"name": f"Version {len(versions) + 1}", "prompts": prompts}
        self.ai_config_versions.setdefault(ai["id"], []).append(body)
        value = {**body, "type": kind, "aiConfigName": ai["name"], **({"model": model} if model else {})}
        config = self._create_config(
            {"id": f"prompt:{version_id}", "name": body["name"], "defaultValue": value}
        )
        versions.append(config["id"])
        return str(config["id"])


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _ApiError(400, f"{INVALID} The body is not valid JSON.") from exc


def _int_param(request: Request, key: str, default: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise _ApiError(400, f"{INVALID} {key} must be an integer.") from exc


# -- serving -------------------------------------------------------------------------------------------


@contextmanager
def _checked(fake: FakeStatsig, served: AbstractContextManager[str]) -> Any:
    with served as url:
        yield url
    if fake.violations:
        raise AssertionError(
            "the fake Statsig saw requests or gave answers outside Statsig's published contract:\n"
            + "\n".join(fake.violations[:20])
        )


def run_fake_statsig(fake: FakeStatsig) -> AbstractContextManager[str]:
    """Serve ``fake`` on 127.0.0.1 (a free port) in a background thread; yields the base URL.

    When the block ends, any contract violation recorded fails it."""
    return _checked(fake, serve_in_thread(fake, "fake Statsig server"))

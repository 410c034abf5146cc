"""PostHog's LLM prompts API, one method per endpoint, answers as the vendor's JSON objects.

This module knows PostHog's URLs, bodies and error shapes and maps every failure to a promptshelf error;
it knows nothing of promptshelf's data model (``posthog.py`` does that mapping). Every route and shape is
PostHog's own (``PostHog/posthog``; the JSON Schemas in ``tests/contracts/posthog/`` are translated from
the same files and every request and answer of the test suite is checked against them):

- routes and status codes: ``posthog/api/test/test_llm_prompt.py`` @
  ``0037ddf4caa956b3fca7cb03ce6aa861321a7795`` (labels: ``TestLLMPromptLabelsAPI`` puts ``{version}`` to
  ``name/{name}/labels/{label}/``: 201 created, 200 moved; ``DELETE`` answers 204, then 404);
- request bodies: ``services/mcp/src/generated/ai_observability/api.ts`` @
  ``02aa25dc8d8a5ec46f2744ae9f2e75c4f189ca75`` (``LlmPromptsCreateBody``, ``LlmPromptsNamePartialUpdateBody``,
  ``LlmPromptsNameLabelsUpdateBody``): create and publish take no labels (``labels`` is read-only);
- answers: ``products/ai_observability/frontend/generated/api.schemas.ts`` @
  ``00f6238b5f94939a83073087e2ff66f982f86fc4``. Get by name answers ``LLMPromptPublicApi``, which has
  ``config`` but no ``version_description``, ``labels`` or ``created_by``; create, publish and resolve's
  ``prompt`` are ``LLMPromptApi`` (with ``version_description`` and the version's own ``labels``); resolve
  adds every label of the prompt (``labels``) and per-version summaries with ``version_description`` and
  ``labels``; list rows are ``LLMPromptListApi`` (with ``all_labels``).

Older self-hosted servers (``posthog/api/llm_prompt_serializers.py`` @
``d2762ad91693c661eeb5f834a07c7eed9259009a``) have no ``config``, ``version_description`` or labels and
silently ignore them. ``Capabilities`` learns what the server stores, each flag only from answers whose
current shape carries that field, so a get by name (which never carries ``version_description`` or labels)
cannot make a current server look older.
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
MAX_LABELS = 50
"""``MAX_PROMPT_LABELS`` in ``posthog/api/services/llm_prompt.py`` @
``02730896ac872519aca5e185a3ef77584561ef93``."""
MAX_LABEL_LENGTH = 128
LABEL_RULE = r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$"
"""PostHog's ``validate_prompt_label_name_value`` (``TestLLMPromptLabelNameValidationNoDB`` in the tests
above; the PostHog UI mirrors it in ``products/ai_observability/frontend/prompts/utils.tsx``): at most 128
characters, not numbers only, not ``latest``."""
_NAME_RE = re.compile(NAME_RULE)
_LABEL_RE = re.compile(LABEL_RULE)
_WEB_ONLY = "only available to web-authenticated users"

JsonObject = dict[str, Any]

# The fields each answer shape carries on a current server (see the module docstring).
FULL_FIELDS = ("config", "version_description", "labels")
PUBLIC_FIELDS = ("config",)


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


def check_label(label: str) -> str:
    """PostHog's label rule, applied before any request (PostHog answers 400 to anything else)."""
    problem = None
    if label.lower() == "latest":
        problem = "'latest' is reserved"
    elif label.isdigit():
        problem = "label names cannot be numbers only (they would read as version numbers)"
    elif len(label) > MAX_LABEL_LENGTH:
        problem = f"it is {len(label)} characters long"
    elif not label.isascii() or not _LABEL_RE.match(label):
        problem = "it must start and end with a lower-case letter or digit"
    if problem is not None:
        raise InvalidArgumentError(
            f"PostHog cannot hold the label {label!r}: {problem}. PostHog's rule: lower-case letters, "
            f"digits, '.', '-' and '_', starting and ending with a letter or digit ({LABEL_RULE}), at most "
            f"{MAX_LABEL_LENGTH} characters, not numbers only, not 'latest'",
            argument="label",
        )
    return label


@dataclass(slots=True)
class Capabilities:
    """What this PostHog server stores; ``None`` until an answer that would carry it shows it."""

    config: bool | None = None
    version_description: bool | None = None
    labels: bool | None = None

    def learn(self, obj: JsonObject, fields: tuple[str, ...]) -> None:
        """``fields``: the ones this answer's shape carries on a current server; the others say nothing."""
        for name in fields:
            setattr(self, name, name in obj)


class PostHogApi:
    def __init__(self, http: VendorHttp) -> None:
        self.http = http
        self.capabilities = Capabilities()

    # -- the endpoints -------------------------------------------------------------------------------

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
    ) -> JsonObject:
        check_name(name)
        body: JsonObject = {"name": name, "prompt": prompt}
        self._add_newer_fields(body, config, version_description)
        response = await self.http.request("POST", "", json=body)
        if response.status_code == 400 and _json_field(response, "code") == "unique":
            raise ConflictError(f"a prompt named {name!r} already exists in PostHog", name=name)
        obj = self._expect(response, 201, name=name)
        self.capabilities.learn(obj, FULL_FIELDS)
        return obj

    async def get(self, name: str, *, version: int | None = None, label: str | None = None) -> JsonObject:
        """``LLMPromptPublicApi``: no commit message, labels or author (use ``resolve`` for those)."""
        check_name(name)
        params: dict[str, Any] = {}
        if version is not None:
            params["version"] = version
        if label is not None:
            self.require("labels", "reading a prompt by label")
            params["label"] = check_label(label)
        response = await self.http.request("GET", _named(name), params=params)
        obj = self._named_answer(self._expect(response, 200, name=name), name)
        self.capabilities.learn(obj, PUBLIC_FIELDS)
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
    ) -> JsonObject:
        """A new version from ``prompt``, ``edits`` or (neither) ``config`` alone, with the prompt carried
        forward (``test_config_only_publish_creates_version_with_prompt_carried_forward``)."""
        check_name(name)
        if prompt is not None and edits is not None:
            raise InvalidArgumentError("publishing to PostHog takes prompt or edits, not both")
        if prompt is None and edits is None and config is None:
            raise InvalidArgumentError("publishing to PostHog needs a prompt, edits or a config")
        body: JsonObject = {"base_version": base_version}
        if edits is not None:
            body["edits"] = edits
        elif prompt is not None:
            body["prompt"] = prompt
        self._add_newer_fields(body, config, version_description)
        response = await self.http.request("PATCH", _named(name), json=body)
        if response.status_code == 400 and edits is not None and _json_field(response, "attr") == "prompt":
            raise InvalidArgumentError(
                "this PostHog server does not support edits (it asked for the whole prompt): "
                "send the full new text instead"
            )
        obj = self._named_answer(self._expect(response, 200, name=name), name)
        self.capabilities.learn(obj, FULL_FIELDS)
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
        """``LLMPromptResolveResponseApi``: ``prompt`` (one version, ``LLMPromptApi``), ``versions`` (a page
        of the history, newest first, each with its commit message and labels), ``has_more``, and
        ``labels`` (every label of the prompt, with its version)."""
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
        self._named_answer(answer["prompt"], name)
        self.capabilities.learn(answer["prompt"], FULL_FIELDS)
        self.capabilities.labels = "labels" in answer
        return answer

    async def set_label(self, name: str, label: str, version: int) -> bool:
        """Point ``label`` at ``version``: ``True`` if PostHog created the label (201), ``False`` if it moved
        it (200). The answer (``LLMPromptLabelApi``) does not say where it pointed before."""
        check_name(name)
        self.require("labels", "setting a label")
        response = await self.http.request(
            "PUT", _label_path(name, check_label(label)), json={"version": version}
        )
        if response.status_code == 201:
            self._expect(response, 201, name=name)
            return True
        self._expect(response, 200, name=name)
        return False

    async def remove_label(self, name: str, label: str) -> None:
        check_name(name)
        self.require("labels", "removing a label")
        response = await self.http.request("DELETE", _label_path(name, check_label(label)))
        self._expect(response, 204, name=name)

    # -- plumbing ------------------------------------------------------------------------------------

    def require(self, feature: str, action: str) -> None:
        if getattr(self.capabilities, feature) is False:
            raise InvalidArgumentError(
                f"{action} needs PostHog prompt {feature.replace('_', ' ')}, which this (older) PostHog "
                "server does not support; upgrade PostHog or leave it out"
            )

    def _add_newer_fields(self, body: JsonObject, config: JsonObject | None, description: str | None) -> None:
        if config is not None:
            self.require("config", "storing config, variables, tags or a description")
            body["config"] = config
        if description is not None:
            self.require("version_description", "storing a commit message")
            body["version_description"] = description

    @staticmethod
    def _named_answer(obj: JsonObject, name: str) -> JsonObject:
        # PostHog's name route also takes a version id and answers with that version's prompt
        # (test_fetch_prompt_by_version_id_resolves_to_the_prompt): a name shaped like one must not read,
        # or write, another prompt.
        if obj.get("name") != name:
            raise NotFoundError(
                f"PostHog has no prompt named {name!r} (it answered for {obj.get('name')!r}, whose "
                "version id that name is)",
                name=name,
            )
        return obj

    async def _list(self, path_or_url: str, params: dict[str, Any] | None) -> JsonObject:
        response = await self.http.request("GET", path_or_url, params=params)
        page = self._expect(response, 200, name=None)
        if page["results"]:
            self.capabilities.learn(page["results"][0], FULL_FIELDS)
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
                    "the PostHog UI",
                    web_only=True,
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


def _label_path(name: str, label: str) -> str:
    return f"{_named(name)}labels/{quote(label, safe='')}/"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json_field(response: httpx.Response, field: str) -> Any:
    body = _json(response)
    return body.get(field) if isinstance(body, dict) else None

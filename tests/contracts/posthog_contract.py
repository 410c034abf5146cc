"""Check requests to and answers from (the fake) PostHog against PostHog's own schemas.

The schemas live in ``tests/contracts/posthog/*.json``, each naming its source (repo, path, commit).
``PostHogContract.observe`` is the fake's ``observer``: it collects every violation so a test can assert
there were none (``assert_clean``). Only answers PostHog documents are checked against a shape: 2xx
answers by route, and any error answer for its ``detail``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from tests.fakes.posthog import Exchange

HERE = Path(__file__).parent / "posthog"
REQUESTS: dict[str, Any] = json.loads((HERE / "requests.json").read_text())
RESPONSES: dict[str, Any] = json.loads((HERE / "responses.json").read_text())

# route -> (request body schema, query schema, answer schema); None: nothing to check.
ROUTES: dict[str, tuple[str | None, str | None, str | None]] = {
    "list": (None, "LlmPromptsListQueryParams", "PaginatedLLMPromptListListApi"),
    "create": ("LlmPromptsCreateBody", None, "LLMPromptApi"),
    "get": (None, "LlmPromptsNameRetrieveQueryParams", "LLMPromptPublicApi"),
    "publish": ("LlmPromptsNamePartialUpdateBody", None, "LLMPromptApi"),
    "archive": (None, None, None),
    "resolve": (None, "LlmPromptsResolveQueryParams", "LLMPromptResolveResponseApi"),
    "label_set": ("LlmPromptsNameLabelsUpdateBody", None, "LLMPromptLabelApi"),
    "label_delete": (None, None, None),
}


def _validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    schema = {**{k: v for k, v in document.items() if k != "$defs"}, "$ref": f"#/$defs/{name}"}
    schema["$defs"] = document["$defs"]
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _typed_query(query: dict[str, str]) -> dict[str, Any]:
    return {key: int(value) if value.lstrip("-").isdigit() else value for key, value in query.items()}


def problems(document: dict[str, Any], name: str, value: Any) -> list[str]:
    """Every way ``value`` breaks the schema ``name`` of ``document`` (empty: it conforms)."""
    return [
        f"{name}{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
        for error in _validator(document, name).iter_errors(value)
    ]


@dataclass
class PostHogContract:
    violations: list[str] = field(default_factory=list)
    checked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, exchange: Exchange) -> list[str]:
        body_schema, query_schema, answer_schema = ROUTES[exchange.route]
        found: list[str] = []
        where = f"{exchange.method} {exchange.route}"
        if body_schema is not None:
            found += [f"{where} request: {p}" for p in problems(REQUESTS, body_schema, exchange.body)]
        elif exchange.body is not None:
            found.append(f"{where} request: PostHog takes no body here, got {exchange.body!r}")
        if query_schema is not None:
            query = _typed_query(exchange.query)
            found += [f"{where} query: {p}" for p in problems(REQUESTS, query_schema, query)]
        if 200 <= exchange.status < 300:
            if answer_schema is None:
                if exchange.answer is not None:
                    found.append(f"{where} answer: PostHog answers {exchange.status} with no body")
            else:
                found += [f"{where} answer: {p}" for p in problems(RESPONSES, answer_schema, exchange.answer)]
        elif exchange.status >= 400:
            errors = problems(RESPONSES, "ErrorResponse", exchange.answer)
            found += [f"{where} error answer: {p}" for p in errors]
        return found

    def observe(self, exchange: Exchange) -> None:
        found = self.check(exchange)
        with self._lock:
            self.checked += 1
            self.violations.extend(found)

    def assert_clean(self) -> None:
        assert not self.violations, "PostHog contract violations:\n" + "\n".join(self.violations)

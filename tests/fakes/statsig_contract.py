"""Statsig's published Console API contract (the subset promptshelf uses), as a request/response checker.

The contract is ``tests/contracts/statsig/console-api-subset.json``: operations and schemas copied
unchanged from ``statsig-io/docs`` ``console-api/capiopenapi.json``
@ 19d11656a29bfa57944825e2b44dfbb5a1774611.
OpenAPI 3.0 schemas are turned into JSON Schema (``$ref`` inlined, ``nullable`` as a ``null`` type) and
checked with ``jsonschema``. Error answers (any status 400 and up) are checked against the ``{status,
message}`` envelope the spec documents for its 400/401/403/404 answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

CONTRACT_PATH = Path(__file__).parents[1] / "contracts" / "statsig" / "console-api-subset.json"
ERROR_ENVELOPE = {
    "type": "object",
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
    "required": ["status", "message"],
}


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]
    params: dict[str, str]


class StatsigContract:
    def __init__(self, path: Path = CONTRACT_PATH) -> None:
        self.document = json.loads(path.read_text())
        self.source = self.document["x-source"]
        self._schemas = self.document["components"]["schemas"]
        self._validators: dict[int, jsonschema.Draft7Validator] = {}
        self._routes = [
            (
                template,
                re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"),
            )
            for template in self.document["paths"]
        ]

    def operation(self, method: str, path: str) -> Operation | None:
        """The published operation ``method path`` is, or ``None`` if Statsig publishes none."""
        for template, pattern in self._routes:
            match = pattern.match(path)
            if match and method.lower() in self.document["paths"][template]:
                spec = self.document["paths"][template][method.lower()]
                return Operation(method.upper(), template, spec, match.groupdict())
        return None

    def check_request(self, op: Operation, query: dict[str, str], body: Any) -> list[str]:
        problems = []
        declared = {p["name"] for p in op.spec.get("parameters", []) if p.get("in") == "query"}
        problems += [f"query parameter {key!r} is not in the spec" for key in query if key not in declared]
        request_body = op.spec.get("requestBody")
        if request_body is None:
            if body is not None:
                problems.append("a body was sent where the spec has none")
        elif body is None:
            problems.append("no body was sent where the spec requires one")
        else:
            schema = request_body["content"]["application/json"]["schema"]
            problems += self._check(schema, body, "request body")
        return [f"{op.method} {op.template}: {p}" for p in problems]

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        responses = op.spec["responses"]
        if status >= 400:
            problems = self._check(ERROR_ENVELOPE, body, f"{status} answer", resolve=False)
        elif str(status) not in responses:
            problems = [f"answered {status}, the spec says {sorted(responses)}"]
        else:
            content = responses[str(status)].get("content", {}).get("application/json")
            problems = self._check(content["schema"], body, f"{status} answer") if content else []
        return [f"{op.method} {op.template}: {p}" for p in problems]

    def _check(self, schema: Any, value: Any, what: str, *, resolve: bool = True) -> list[str]:
        validator = self._validators.get(id(schema))
        if validator is None:
            validator = jsonschema.Draft7Validator(self.json_schema(schema) if resolve else schema)
            self._validators[id(schema)] = validator
        return [
            f"{what} at {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        ]

    def json_schema(self, schema: Any) -> Any:
        """OpenAPI 3.0 ``schema`` as JSON Schema: references inlined, ``nullable`` as a null type."""
        if isinstance(schema, list):
            return [self.json_schema(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            return self.json_schema(self._schemas[schema["$ref"].rsplit("/", 1)[-1]])
        converted = {
            key: (
                {name: self.json_schema(sub) for name, sub in value.items()}
                if key == "properties"
                else self.json_schema(value)
            )
            for key, value in schema.items()
            if key not in ("example", "examples", "nullable", "format")
        }
        if schema.get("nullable"):
            if isinstance(converted.get("type"), str):
                converted["type"] = [converted["type"], "null"]
            else:
                converted = {"anyOf": [converted, {"type": "null"}]}
        return converted

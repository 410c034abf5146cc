"""The Jinja2 environment of the web view: autoescaping on for every template, strict undefined names,
and the filters the templates use (links to prompts, template text with placeholders and includes marked,
times, JSON)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from promptshelf.model import PLACEHOLDER_RE
from promptshelf.template import include_spans

_INCLUDE_SELECTOR = re.compile(r"^[0-9]+$")


def prompt_url(kind: str, name: str, **query: Any) -> str:
    """``/p/NAME``, ``/history/NAME``, ...: a name may hold ``/``, so it is the rest of the path."""
    params = {key: value for key, value in query.items() if value is not None and value != ""}
    url = f"/{kind}/{quote(name, safe='/')}"
    return f"{url}?{urlencode(params)}" if params else url


def include_url(inner: str) -> str:
    name, at, selector = inner.partition("@")
    if not at:
        return prompt_url("p", name)
    if _INCLUDE_SELECTOR.match(selector):
        return prompt_url("p", name, version=selector)
    return prompt_url("p", name, label=selector)


def marked_template(text: str) -> Markup:
    """The text, escaped, with ``{{> include}}`` as a link to the included prompt and ``{{var}}`` marked."""
    parts: list[str] = []
    position = 0
    for start, end, inner in include_spans(text):
        parts.append(_placeholders(text[position:start]))
        parts.append(f'<a class="include" href="{escape(include_url(inner))}">{escape(text[start:end])}</a>')
        position = end
    parts.append(_placeholders(text[position:]))
    return Markup("".join(parts))


def _placeholders(text: str) -> str:
    parts: list[str] = []
    position = 0
    for match in PLACEHOLDER_RE.finditer(text):
        parts.append(str(escape(text[position : match.start()])))
        parts.append(f'<span class="ph">{escape(match.group(0))}</span>')
        position = match.end()
    parts.append(str(escape(text[position:])))
    return "".join(parts)


def ago(timestamp: str | None, now: datetime | None = None) -> str:
    """``3 minutes ago``, ``2 days ago``; the exact time goes in the element's ``datetime``."""
    if not timestamp:
        return ""
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return timestamp


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def short_json(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("promptshelf.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, pretty_json=pretty_json, short_json=short_json, marked=marked_template)
    env.globals.update(url=prompt_url)
    return env

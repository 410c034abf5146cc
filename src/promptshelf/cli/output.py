"""How the CLI prints each result: JSON with ``--json``, else a short human-readable form."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click
from pydantic import BaseModel

from promptshelf.results import (
    ArchiveResult,
    LabelMove,
    PromptDocument,
    PromptListing,
    RenderedPrompt,
    VersionDiff,
    VersionListing,
)


def print_result(result: BaseModel, as_json: bool) -> None:
    if as_json:
        data = result.to_json() if hasattr(result, "to_json") else result.model_dump(mode="json")
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(human(result))


def human(result: BaseModel) -> str:
    if isinstance(result, PromptListing):
        return _listing(result)
    if isinstance(result, PromptDocument):
        return _document(result)
    if isinstance(result, RenderedPrompt):
        if result.text is not None:
            return result.text
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in result.messages or [])
    if isinstance(result, VersionListing):
        return history_text(result, starts_at_latest=False)
    if isinstance(result, VersionDiff):
        lines = [result.unified_diff.rstrip("\n") or f"(no text change from v{result.from_version})"]
        if result.variables_added:
            lines.append("variables added: " + ", ".join(result.variables_added))
        if result.variables_removed:
            lines.append("variables removed: " + ", ".join(result.variables_removed))
        for change in result.config_changes:
            lines.append(f"config {change.key}: {json.dumps(change.before)} -> {json.dumps(change.after)}")
        return "\n".join(lines)
    if isinstance(result, LabelMove):
        before = f"v{result.previous_version}" if result.previous_version is not None else "nothing"
        if result.version is None:
            return f"{result.name}: removed label {result.label!r} (was on {before})"
        return f"{result.name}: {result.label} -> v{result.version} (was {before})"
    if isinstance(result, ArchiveResult):
        return f"archived {result.name} ({result.archived_versions} versions)"
    return json.dumps(result.model_dump(mode="json"), indent=2)


def history_text(listing: VersionListing, *, starts_at_latest: bool) -> str:
    """The versions as a table; ``starts_at_latest`` (the first page) marks the first one ``latest``, as
    ``show`` lists it."""
    rows = [
        [
            f"v{v.version}",
            v.created_at,
            v.created_by or "",
            ",".join([*v.labels, *(["latest"] if starts_at_latest and index == 0 else [])]),
            v.commit_message or "",
        ]
        for index, v in enumerate(listing.versions)
    ]
    more = f"\n(more: --before {listing.versions[-1].version})" if listing.has_more else ""
    return _table(["VERSION", "CREATED", "BY", "LABELS", "MESSAGE"], rows) + more


def _listing(listing: PromptListing) -> str:
    if not listing.prompts:
        return "no prompts"
    rows = [
        [
            p.name + (" (archived)" if p.archived else ""),
            p.type,
            f"v{p.latest_version}",
            # latest too, as ``show`` lists it: a listing's labels come without it (it is implied).
            ",".join(
                f"{label}=v{version}" for label, version in {**p.labels, "latest": p.latest_version}.items()
            ),
            ",".join(p.tags),
            (p.description or "")[:60],
        ]
        for p in listing.prompts
    ]
    text = _table(["NAME", "TYPE", "LATEST", "LABELS", "TAGS", "DESCRIPTION"], rows)
    if listing.next_cursor:
        text += f"\n(more: --cursor {listing.next_cursor})"
    return text


def _document(doc: PromptDocument) -> str:
    header = [f"{doc.name} v{doc.version} ({doc.type}) of {doc.latest_version}"]
    if doc.labels:
        header.append("labels: " + ", ".join(doc.labels))
    if doc.description:
        header.append("description: " + doc.description)
    if doc.tags:
        header.append("tags: " + ", ".join(doc.tags))
    if doc.variables:
        described = [
            v.name
            + ("?" if not v.required or v.default is not None else "")
            + (f" — {v.description}" if v.description else "")
            for v in doc.variables
        ]
        header.append("variables: " + "; ".join(described))
    if doc.config:
        header.append("config: " + json.dumps(doc.config, ensure_ascii=False))
    if doc.commit_message:
        header.append("message: " + doc.commit_message)
    if doc.template is not None:
        body = doc.template
    else:
        body = "\n\n".join(f"[{m.role}]\n{m.content}" for m in doc.messages or [])
    return "\n".join(header) + "\n---\n" + body


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)

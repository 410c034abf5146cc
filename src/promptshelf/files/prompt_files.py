"""Prompts as files: one Markdown file per prompt, for keeping prompts in git (``export`` / ``import``).

A file is YAML front matter between two ``---`` lines, then the body::

    ---
    name: team/summarize
    type: text
    description: Summarize a document
    tags: [writing]
    labels: [production]
    config:
      model: gpt-4o-mini
      temperature: 0.2
    variables:
    - name: text
      description: The document
    ---
    Summarize this in {{style}} style:

    {{text}}

- ``name`` may be left out: it is then the file's path below the imported folder, without ``.md``
  (``team/summarize.md`` is ``team/summarize``). ``export`` writes it, and puts the file at that path.
- The body of a ``text`` prompt is its template; the file's final newline is not part of it.
- The body of a ``chat`` prompt is its messages, each a line ``## system``, ``## user`` or
  ``## assistant``, a blank line, and the content; one blank line separates messages. A content line that
  would read as such a heading is written with a backslash before it (``\\## user``), and one backslash
  is removed from such a line when read.
- ``labels``: the labels that point at this version. ``import`` points them here; it never removes a
  label the file does not list.
- ``history`` (``export --history``): the earlier versions, oldest first, each with ``template`` or
  ``messages``, ``config``, ``variables``, ``commit_message``, ``labels``, and ``created_at`` and
  ``created_by`` for information. The top-level ``commit_message``, ``created_by`` and ``created_at``
  then describe the current version.

Unknown keys are errors (a typo must not be ignored). Writing is deterministic, so export, import and
export again gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from promptshelf.errors import InvalidArgumentError, PromptshelfError
from promptshelf.files.copying import (
    PromptHistory,
    VersionSpec,
)
from promptshelf.model import Message, PromptType, Variable, validate_label, validate_name

SUFFIX = ".md"
FENCE = "---"
_MARKER_RE = re.compile(r"^## (system|user|assistant)[ \t\r]*$")
_ESCAPED_RE = re.compile(r"^\\+## (system|user|assistant)[ \t\r]*$")
_NEEDS_ESCAPE_RE = re.compile(r"^\\*## (system|user|assistant)[ \t\r]*$")


class PromptFileError(InvalidArgumentError):
    """A prompt file that cannot be read; the message starts with the file's path."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}", file=str(path))
        self.path = str(path)
        self.problem = problem


# -- the front matter ------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _VersionFields(_Strict):
    config: dict[str, Any] = Field(default_factory=dict)
    variables: list[Variable] = Field(default_factory=list)
    commit_message: str | None = None
    created_by: str | None = None
    created_at: str | None = None
    labels: list[str] = Field(default_factory=list)


class _HistoryEntry(_VersionFields):
    template: str | None = None
    messages: list[Message] | None = None

    @model_validator(mode="after")
    def _one_content(self) -> _HistoryEntry:
        if (self.template is None) == (self.messages is None):
            raise ValueError("each history entry needs exactly one of 'template' or 'messages'")
        return self


class _FrontMatter(_VersionFields):
    name: str | None = None
    type: PromptType = "text"
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    history: list[_HistoryEntry] = Field(default_factory=list)


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptFile:
    path: Path
    history: PromptHistory
    has_history: bool
    commit_message: str | None
    """The file's own commit message for its current version, if it gives one."""


def parse_prompt_file(text: str, *, path: Path | str, default_name: str | None = None) -> PromptFile:
    """Read one prompt file; ``PromptFileError`` (naming ``path``) for anything malformed."""
    path = Path(path)
    front_text, body, body_line = _split(text, path)
    try:
        raw = yaml.load(front_text, Loader=_Loader) if front_text.strip() else {}
    except yaml.YAMLError as exc:
        raise PromptFileError(path, f"the front matter is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(raw, dict):
        raise PromptFileError(path, "the front matter must be a YAML mapping (key: value lines)")
    try:
        front = _FrontMatter.model_validate(raw)
    except ValidationError as exc:
        raise PromptFileError(path, "front matter: " + _pydantic_problems(exc)) from None
    name = front.name if front.name is not None else default_name
    if name is None:
        raise PromptFileError(path, "the front matter has no 'name'")
    try:
        validate_name(name)
        for label in [*front.labels, *(label for entry in front.history for label in entry.labels)]:
            validate_label(label)
    except PromptshelfError as exc:
        raise PromptFileError(path, exc.message) from None
    if front.type == "text":
        template: str | None = _strip_newline(body)
        messages: list[Message] | None = None
        if not body.strip():
            raise PromptFileError(path, "the template (the text after the front matter) is empty")
    else:
        template, messages = None, _parse_messages(body, path, body_line)
    current = VersionSpec(
        type=front.type,
        template=template,
        messages=messages,
        config=front.config,
        variables=front.variables,
        commit_message=front.commit_message,
        created_by=front.created_by,
        created_at=front.created_at,
        labels=front.labels,
    )
    earlier = [
        VersionSpec(
            type="text" if entry.template is not None else "chat",
            template=entry.template,
            messages=entry.messages,
            config=entry.config,
            variables=entry.variables,
            commit_message=entry.commit_message,
            created_by=entry.created_by,
            created_at=entry.created_at,
            labels=entry.labels,
        )
        for entry in front.history
    ]
    _check_labels_once(path, [*earlier, current])
    history = PromptHistory(
        name=name, description=front.description, tags=front.tags, versions=[*earlier, current]
    )
    return PromptFile(path, history, bool(earlier), front.commit_message)


def read_prompt_files(root: Path) -> list[PromptFile]:
    """Every prompt file at ``root`` (a file, or a folder searched recursively; hidden paths skipped).

    All files are read before anything is returned, so one malformed file stops an import before it
    writes anything. Two files for the same prompt name are an error naming both.
    """
    if not root.exists():
        raise InvalidArgumentError(f"{root}: no such file or folder", file=str(root))
    if root.is_file():
        paths = [(root, root.name.removesuffix(SUFFIX))]
    else:
        paths = [
            (path, path.relative_to(root).as_posix().removesuffix(SUFFIX))
            for path in sorted(root.rglob(f"*{SUFFIX}"))
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
        ]
    files: list[PromptFile] = []
    seen: dict[str, Path] = {}
    for path, default_name in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise PromptFileError(path, "not UTF-8 text") from None
        except OSError as exc:
            raise PromptFileError(path, f"cannot read it: {exc.strerror or exc}") from None
        parsed = parse_prompt_file(text, path=path, default_name=_safe_default(default_name))
        name = parsed.history.name
        if name in seen:
            raise PromptFileError(path, f"prompt {name!r} is also defined in {seen[name]}")
        seen[name] = path
        files.append(parsed)
    return files


def _safe_default(name: str) -> str | None:
    try:
        return validate_name(name)
    except PromptshelfError:
        return None


def _split(text: str, path: Path) -> tuple[str, str, int]:
    """The front matter, the body, and the body's first line number."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _lines(text)
    if not lines or lines[0].rstrip("\r\n") != FENCE:
        raise PromptFileError(path, "a prompt file starts with a '---' line, then YAML front matter")
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") == FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise PromptFileError(path, "the front matter is not closed by a '---' line")


def _lines(text: str) -> list[str]:
    """The lines of ``text``, each with its ``\\n`` (only ``\\n`` ends a line; the last may have none)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return [line for line in lines if line]


def _strip_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def _parse_messages(body: str, path: Path, first_line: int) -> list[Message]:
    sections: list[tuple[str, list[str]]] = []
    for number, line in enumerate(_lines(body), start=first_line):
        marker = _MARKER_RE.match(line.rstrip("\n"))
        if marker:
            sections.append((marker.group(1), []))
        elif sections:
            escaped = _ESCAPED_RE.match(line.rstrip("\n"))
            sections[-1][1].append(line[1:] if escaped else line)
        elif line.strip():
            raise PromptFileError(
                path,
                f"line {number}: a chat prompt's body is messages, each starting with a line "
                "'## system', '## user' or '## assistant'; this text comes before the first one",
            )
    if not sections:
        raise PromptFileError(
            path, "a chat prompt needs at least one message: a line '## system', '## user' or '## assistant'"
        )
    messages = []
    for index, (role, lines) in enumerate(sections):
        content = "".join(lines)
        if content.startswith("\n"):
            content = content[1:]
        trailing = 2 if index < len(sections) - 1 else 1
        for _ in range(trailing):
            content = _strip_newline(content)
        messages.append(Message.model_validate({"role": role, "content": content}))
    return messages


def _check_labels_once(path: Path, versions: list[VersionSpec]) -> None:
    seen: set[str] = set()
    for version in versions:
        for label in version.labels:
            if label in seen:
                raise PromptFileError(path, f"label {label!r} is given to more than one version")
            seen.add(label)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        # +2: the front matter starts on the file's second line.
        return f"{problem} (line {mark.line + 2}, column {mark.column + 1})"
    return str(problem)


def _pydantic_problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


# -- writing ---------------------------------------------------------------------------------------


class _FlowList(list[Any]):
    """A list of plain strings, written on one line (``tags: [a, b]``)."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # the loader refuses aliases, so never write one (a value used twice is written twice)


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases: seven levels of ten ``*anchor`` references expand ten million times, and
    a prompt file from a teammate's branch must not be able to stall or exhaust the importer."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in prompt files; write the value out", mark
            )
        return super().compose_node(parent, index)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


def _represent_flow(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_FlowList, _represent_flow)


def prompt_path(root: Path, name: str) -> Path:
    """Where ``export`` puts a prompt: its name as a path below ``root``, plus ``.md``."""
    *folders, last = validate_name(name).split("/")
    return root.joinpath(*folders, last + SUFFIX)


def render_prompt_file(history: PromptHistory, *, with_history: bool = False) -> str:
    """The file for a prompt: its latest version as the body, earlier ones in ``history`` if asked."""
    current = history.versions[-1]
    front: dict[str, Any] = {"name": history.name, "type": current.type}
    if history.description:
        front["description"] = history.description
    if history.tags:
        front["tags"] = _FlowList(history.tags)
    front.update(_version_fields(current, with_history=with_history))
    if with_history and len(history.versions) > 1:
        front["history"] = [
            {
                **({"template": v.template} if v.type == "text" else {"messages": _messages(v.messages)}),
                **_version_fields(v, with_history=True),
            }
            for v in history.versions[:-1]
        ]
    text = yaml.dump(front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    if current.type == "text":
        body = (current.template or "") + "\n"
    else:
        body = "\n".join(
            f"## {message.role}\n\n{_escape(message.content)}\n" for message in current.messages or []
        )
    return f"{FENCE}\n{text}{FENCE}\n{body}"


def _version_fields(version: VersionSpec, *, with_history: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if version.labels:
        fields["labels"] = _FlowList(version.labels)
    if version.config:
        fields["config"] = version.config
    if version.variables:
        fields["variables"] = [_variable(variable) for variable in version.variables]
    if with_history:
        for key in ("commit_message", "created_by", "created_at"):
            value = getattr(version, key)
            if value is not None:
                fields[key] = value
    return fields


def _variable(variable: Variable) -> dict[str, Any]:
    data = variable.model_dump(mode="json", exclude_none=True)
    if data.get("required") is True:
        del data["required"]
    if "enum" in data:
        data["enum"] = _FlowList(data["enum"])
    return data


def _messages(messages: Iterable[Message] | None) -> list[dict[str, str]]:
    return [{"role": message.role, "content": message.content} for message in messages or []]


def _escape(content: str) -> str:
    return "".join(
        "\\" + line if _NEEDS_ESCAPE_RE.match(line.rstrip("\n")) else line for line in _lines(content)
    )


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` (atomically) unless it already holds exactly that; True if written."""
    try:
        if path.read_bytes() == text.encode("utf-8"):
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(text, encoding="utf-8", newline="\n")
    scratch.replace(path)
    return True

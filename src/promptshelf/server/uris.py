"""``prompt://`` URIs (DESIGN.md, "Resources"): the name is percent-encoded as one segment.

prompt://{name}                      the version at the server's default label
prompt://{name}/versions/{version}   one exact version
prompt://{name}/labels/{label}       the version a label points at
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from promptshelf.limits import parse_version

SCHEME = "prompt://"
PROMPT_TEMPLATE = "prompt://{name}"
VERSION_TEMPLATE = "prompt://{name}/versions/{version}"
LABEL_TEMPLATE = "prompt://{name}/labels/{label}"


@dataclass(frozen=True, slots=True)
class PromptUri:
    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        base = SCHEME + quote(self.name, safe="")
        if self.version is not None:
            return f"{base}/versions/{self.version}"
        if self.label is not None:
            return f"{base}/labels/{quote(self.label, safe='')}"
        return base


def prompt_uri(name: str) -> str:
    return str(PromptUri(name))


def parse(uri: str) -> PromptUri | None:
    """The prompt a URI names, or ``None`` when it is not a ``prompt://`` URI of one of the three shapes;
    ``InvalidArgumentError`` for a version out of range.

    A name whose ``/`` was not encoded (``prompt://team/summarize``) is accepted too, when the path does not
    end in ``/versions/N`` or ``/labels/L``.
    """
    if not uri.startswith(SCHEME):
        return None
    path = uri[len(SCHEME) :].split("?", 1)[0].split("#", 1)[0]
    if not path:
        return None
    segments = path.split("/")
    if len(segments) >= 3 and segments[-2] == "versions":
        version = segments[-1]
        if not (version.isascii() and version.isdigit()):  # '²'.isdigit() is true, int('²') fails
            return None
        return PromptUri(unquote("/".join(segments[:-2])), version=parse_version(version))
    if len(segments) >= 3 and segments[-2] == "labels" and segments[-1]:
        return PromptUri(unquote("/".join(segments[:-2])), label=unquote(segments[-1]))
    return PromptUri(unquote(path))

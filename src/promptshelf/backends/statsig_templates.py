"""What Statsig's AI SDKs will render differently from promptshelf, for a draft: pure, no I/O.

- Node (statsig-io/statsig-ai-node @ c3ae2b280e5b82bdfe247c8dffab64262862af4c ``src/prompts/PromptVersion.ts``
  ``getPromptMessages``): ``Mustache.render(content, params)`` with escaping off and no partials. So
  ``{{> x}}`` renders as an empty partial, a variable not passed renders as ``""``, and ``{{#``,
  ``{{^``, ``{{/``, ``{{!``, ``{{&``, ``{{{`` and ``{{=`` are sections, comments, raw values and
  delimiter changes.
- Python (statsig-io/statsig-ai-python @ 793e86c8c82431192e2bcd2b85e5249088afc163
  ``statsig_ai/prompt_version.py`` ``get_prompt_messages``): ``{{ path }}`` is replaced when the path
  resolves and left as it is otherwise, so an include stays verbatim.
- Both read ``a.b`` as a path into nested values (Mustache's dotted names, ``resolve_path``), where
  promptshelf reads one variable named ``a.b``; neither knows promptshelf's variable defaults.
"""

from __future__ import annotations

import re

from promptshelf.model import PLACEHOLDER_RE, VersionDraft

_INCLUDE = re.compile(r"\{\{>\s*([^}]*?)\s*\}\}")
_MUSTACHE_TAG = re.compile(r"\{\{\s*([#^/!&{=])")
_TAG_MEANING = {
    "#": "opens a section",
    "^": "opens an inverted section",
    "/": "closes a section",
    "!": "is a comment",
    "&": "inserts a raw value",
    "{": "inserts a raw value",
    "=": "changes the delimiters",
}
_NODE = "Statsig's Node AI SDK (Mustache)"
_PYTHON = "Statsig's Python AI SDK"


def mustache_warnings(draft: VersionDraft) -> list[str]:
    texts = draft.text_parts
    warnings: list[str] = []
    includes = sorted({m.group(1) for text in texts for m in _INCLUDE.finditer(text)})
    if includes:
        shown = ", ".join(f"{{{{> {name}}}}}" for name in includes)
        warnings.append(
            f"{_NODE} renders {shown} as an empty partial and {_PYTHON} leaves it as written: Statsig "
            "stores the template as it is, and only promptshelf inserts the included prompt"
        )
    tags = sorted({m.group(1) for text in texts for m in _MUSTACHE_TAG.finditer(text)})
    for tag in tags:
        warnings.append(
            f"{_NODE} reads '{{{{{tag}' as Mustache syntax (it {_TAG_MEANING[tag]}), where promptshelf "
            "keeps it as text"
        )
    names = {m.group(1) for text in texts for m in PLACEHOLDER_RE.finditer(text)}
    dotted = sorted(name for name in names if "." in name)
    if dotted:
        warnings.append(
            f"Statsig's AI SDKs read {', '.join(dotted)} as paths into nested values (a.b is b inside a), "
            "where promptshelf reads one variable of that name"
        )
    defaults = sorted(v.name for v in draft.variables if v.default is not None and v.name in names)
    if defaults:
        warnings.append(
            f"Statsig's AI SDKs do not know promptshelf's defaults ({', '.join(defaults)}): a variable not "
            f"passed renders as an empty string in {_NODE} and stays as {{{{name}}}} in {_PYTHON}"
        )
    return warnings

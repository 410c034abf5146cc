"""The layers of DESIGN.md: every import inside promptshelf points down (or sideways), never up.

cli  ->  server  ->  files and copying  ->  service  ->  template  ->  backends  ->  model
"""

from __future__ import annotations

import ast
from pathlib import Path

import promptshelf

PACKAGE = Path(promptshelf.__file__).parent

LAYERS: list[tuple[str, ...]] = [
    ("__init__", "errors", "model", "limits", "settings"),
    ("backends",),
    ("template",),
    ("results", "diffing", "coerce", "service"),
    ("copying", "prompt_files", "file_sync"),
    ("server",),
    ("cli", "cli_output", "cli_files", "__main__"),
]


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for index, members in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"promptshelf.{module} belongs to no layer: add it to LAYERS in {__file__}")


def project_imports(path: Path) -> set[str]:
    """The promptshelf modules a file imports (relative to the package), type-checking imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("promptshelf"):
            base = node.module.removeprefix("promptshelf").lstrip(".")
            if base:
                found.add(base)
            else:  # from promptshelf import template (a module) or __version__ (a name in __init__)
                found |= {
                    a.name
                    if (PACKAGE / a.name).exists() or (PACKAGE / f"{a.name}.py").exists()
                    else "__init__"
                    for a in node.names
                }
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("promptshelf.") for a in node.names if a.name.startswith("promptshelf.")
            }
    return {module for module in found if module}


def test_every_import_points_down_or_sideways() -> None:
    upward: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        own = layer_of(module)
        for imported in project_imports(path):
            if layer_of(imported) > own:
                upward.append(f"promptshelf.{module} imports promptshelf.{imported}")
    assert upward == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from promptshelf.service import PromptService\nimport promptshelf.server.app\n")
    assert project_imports(sample) == {"service", "server.app"}
    assert layer_of("server.app") > layer_of("backends.sqlite")

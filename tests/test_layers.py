"""The layers of DESIGN.md: every import inside promptshelf points down (or sideways), never up, and no
two modules import each other (directly or round a longer loop).

cli -> server, web -> files (prompt files, sync, copying) -> service -> template -> backends -> model

Inside ``cli``, ``files`` (export, import, copy) sits on ``base`` and ``output``, and ``commands`` (the
group, which registers the file commands) on all three.
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
    ("files",),
    ("server", "web"),
    ("cli.base", "cli.output"),
    ("cli.files",),
    ("cli.commands",),
    ("cli", "__main__"),
]


def layer_of(module: str) -> int:
    """The layer of the longest LAYERS entry that is ``module`` or a package above it."""
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        for index, members in enumerate(LAYERS):
            if prefix in members:
                return index
    raise AssertionError(f"promptshelf.{module} belongs to no layer: add it to LAYERS in {__file__}")


def project_imports(path: Path) -> set[str]:
    """The promptshelf modules a file imports (relative to the package), type-checking imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("promptshelf"):
            base = node.module.removeprefix("promptshelf").lstrip(".")
            folder = PACKAGE.joinpath(*base.split(".")) if base else PACKAGE
            for alias in node.names:
                # from promptshelf.server import uris: the module server.uris; from promptshelf import
                # __version__: a name in the package's __init__.
                if (folder / alias.name).is_dir() or (folder / f"{alias.name}.py").exists():
                    found.add(f"{base}.{alias.name}" if base else alias.name)
                else:
                    found.add(base or "__init__")
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("promptshelf.") for a in node.names if a.name.startswith("promptshelf.")
            }
    return {module for module in found if module}


def module_name(path: Path) -> str:
    """``cli/files.py`` -> ``cli.files``; a package's ``__init__.py`` is the package itself."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): project_imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop (``[a, b, a]``), or None. A name imported but not in the graph (a name from
    ``__init__``, say) leads nowhere."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for imported in sorted(graph.get(module, set())):
            if imported == module:
                continue
            if state.get(imported) == "open":
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported, [*path, imported])):
                return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return None


def test_every_import_points_down_or_sideways() -> None:
    upward = [
        f"promptshelf.{module} imports promptshelf.{imported}"
        for module, imports in import_graph().items()
        for imported in sorted(imports)
        if layer_of(imported) > layer_of(module)
    ]
    assert upward == []


def test_no_two_modules_import_each_other() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_check_sees_a_loop() -> None:
    assert find_cycle({"cli.commands": {"cli.files"}, "cli.files": {"cli.base", "cli.commands"}}) == [
        "cli.commands",
        "cli.files",
        "cli.commands",
    ]
    assert find_cycle({"cli.commands": {"cli.files", "cli.base"}, "cli.files": {"cli.base"}}) is None


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from promptshelf.service import PromptService\nimport promptshelf.server.app\n")
    assert project_imports(sample) == {"service", "server.app"}
    assert layer_of("server.app") > layer_of("backends.sqlite")
    assert layer_of("cli.commands") > layer_of("cli.files") > layer_of("cli.base") > layer_of("server")
    assert layer_of("server") > layer_of("files.copying")
    package_import = tmp_path / "package_import.py"
    package_import.write_text(
        "from promptshelf.server import uris\nfrom promptshelf import __version__, template\n"
    )
    assert project_imports(package_import) == {"server.uris", "__init__", "template"}

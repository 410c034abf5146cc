"""Helpers for the browser tests: Debian's Chromium driven by Playwright (never Playwright's own browser
download: the network is closed), axe-core from the npm tools, screenshots as artefacts."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.server.node_tools import ROOT, TOOLS

CHROMIUM = Path(os.environ.get("PROMPTSHELF_CHROMIUM", "/usr/bin/chromium"))
AXE = TOOLS / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """Debian's Chromium (``scripts/install-system-packages.sh`` installs it)."""
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run scripts/install-system-packages.sh")
    return str(found)


def launch_args() -> list[str]:
    return [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed in {TOOLS}: run scripts/install-node-tools.sh")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def heading_levels(page: Page) -> list[int]:
    levels: list[int] = page.eval_on_selector_all(
        "h1, h2, h3, h4, h5, h6", "nodes => nodes.map(n => Number(n.tagName[1]))"
    )
    return levels


def check_accessible(page: Page) -> None:
    """No serious or critical axe violation; one h1 first, and no heading level skipped going down."""
    assert axe_violations(page) == []
    levels = heading_levels(page)
    assert levels and levels[0] == 1 and levels.count(1) == 1, levels
    assert all(after <= before + 1 for before, after in itertools.pairwise(levels)), levels

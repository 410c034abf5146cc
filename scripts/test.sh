#!/usr/bin/env bash
# Set up everything the tests need (Debian's PostgreSQL and Chromium, a virtualenv, the package with its dev
# tools, Node 22 and the official MCP tools from npm), check lint, format and types, then run the whole test
# suite.
# Usage: scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-packages.sh

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,examples]"
if [ -f scripts/install-node-tools.sh ]; then
  bash scripts/install-node-tools.sh
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

exec .venv/bin/python -m pytest "$@"

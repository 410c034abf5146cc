#!/usr/bin/env bash
# One command for a newcomer: set up promptshelf in .venv, put a demo prompt in the default SQLite store
# if it has none, show it working, then run the MCP server over streamable HTTP until Ctrl-C.
# Usage: scripts/serve.sh [promptshelf serve flags]   (--transport http and --port 8000 unless given)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export PATH="$PWD/.venv/bin:$PATH"

count=$(promptshelf ls --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["prompts"]))')
if [ "$count" = "0" ]; then
  echo "Your store is empty: adding a demo prompt 'hello'."
  printf 'Hello {{name}}! Welcome to {{place}}.\n' |
    promptshelf publish hello --description "A first prompt" --message "demo" >/dev/null
fi

echo "== promptshelf ls"
promptshelf ls
if [ "$count" = "0" ]; then
  echo "== promptshelf render hello --var name=you --var place=promptshelf"
  promptshelf render hello --var name=you --var place=promptshelf
else
  first=$(promptshelf ls --json --limit 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["prompts"][0]["name"])')
  echo "== promptshelf show $first"
  promptshelf show "$first"
fi
echo

port=8000
args=("$@")
given_port=no given_transport=no
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --port) port=${args[$((i + 1))]}; given_port=yes ;;
    --transport) given_transport=yes ;;
  esac
done
# Flags add to the defaults rather than replace them: `scripts/serve.sh --port 8123` still serves HTTP.
[ "$given_transport" = yes ] || args=(--transport http "${args[@]}")
[ "$given_port" = yes ] || args+=(--port "$port")

promptshelf serve "${args[@]}" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' INT TERM EXIT
if [[ " ${args[*]} " == *" --transport http "* ]]; then
  for _ in $(seq 1 100); do
    if health=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1).read().decode())" 2>/dev/null); then
      echo "== GET http://127.0.0.1:$port/healthz -> $health"
      echo "promptshelf is serving MCP at http://127.0.0.1:$port/mcp, pages for people at http://127.0.0.1:$port/  (Ctrl-C to stop)"
      break
    fi
    sleep 0.1
  done
fi
wait "$server"

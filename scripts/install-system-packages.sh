#!/usr/bin/env bash
# Install the Debian packages the tests use (a throwaway PostgreSQL cluster, Chromium for the page tests,
# nginx as the load balancer in front of replicas, wrk for benchmarks/bench_postgres.py and bench_http.py),
# only those that are missing. Needs root (or sudo) when something is missing; prints what it installs.
set -euo pipefail

packages=(
  postgresql
  postgresql-contrib
  chromium
  nginx-light
  wrk
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Debian starts nginx's default site on port 80 when it installs it; the tests run their own nginx.
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1; then
  "${sudo_cmd[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
fi

#!/usr/bin/env bash
# Lints the API's OpenAPI document (as `troupe openapi` prints it, in 3.1 and
# in the 3.0 downgrade the generated client is made from) with Redocly's CLI
# and the rules of redocly.yaml: any error fails. The CLI is installed from npm
# at a pinned version into a cache folder, once; later runs only lint.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_go

VERSION=2.77.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/troupe/redocly"
redocly="$cache/node_modules/.bin/redocly"
if [ "$("$redocly" --version 2>/dev/null)" != "$VERSION" ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm is needed to install Redocly's CLI (Debian: apt-get install npm)" >&2; exit 1; }
  echo "installing @redocly/cli@$VERSION into $cache" >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "@redocly/cli@$VERSION" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# go run caches the binary: once built, this takes seconds.
go run ./cmd/troupe openapi >"$tmp/openapi.json"
go run ./cmd/troupe openapi --3.0 >"$tmp/openapi-3.0.json"
cd "$tmp"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$redocly" lint --config "$OLDPWD/redocly.yaml" --format=stylish openapi.json openapi-3.0.json

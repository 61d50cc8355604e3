# Shared helpers of the troupe scripts. Source it; it changes nothing by itself.

# pg_bin prints the folder with the PostgreSQL server binaries, if any.
pg_bin() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# ensure_pg_binaries installs Debian's postgresql package when no PostgreSQL
# server binaries are on the machine.
ensure_pg_binaries() {
  if [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ]; then return; fi
  echo "PostgreSQL binaries not found: installing Debian's postgresql package" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
}

# ensure_chromium installs Debian's chromium package when it is missing: the
# console's browser tests drive it headless.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return; fi
  echo "chromium not found: installing Debian's chromium package for the browser tests" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

# ensure_go checks that a Go toolchain is on PATH.
ensure_go() {
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; return; fi
    echo "Go is not installed: install Go 1.26 (https://go.dev/dl/) and try again" >&2
    exit 1
  fi
}

# ensure_node_openai installs the official OpenAI Node SDK (npm "openai", at
# a pinned version that runs on Debian's Node 20) into a cache folder, once,
# and exports TROUPE_NODE_MODULES, its node_modules, for the tests that drive
# the OpenAI-compatible API with it. Without npm, it says so and exports
# nothing (those tests then skip, saying why).
ensure_node_openai() {
  local version=6.49.0
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/troupe/node-openai"
  local installed
  installed=$(node -p "require('$cache/node_modules/openai/package.json').version" 2>/dev/null || true)
  if [ "$installed" != "$version" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "npm not found: the OpenAI Node SDK tests will skip (Debian: apt-get install npm)" >&2
      return
    fi
    echo "installing openai@$version (the OpenAI Node SDK) into $cache" >&2
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "openai@$version" >/dev/null
  fi
  export TROUPE_NODE_MODULES="$cache/node_modules"
}

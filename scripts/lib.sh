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

#!/usr/bin/env bash
# Re-fetches the browser libraries of the web console (/ui/) from npm at
# pinned versions into console/assets/vendor/, which the console package
# embeds: htmx and its server-sent events extension. Only this script needs
# npm; builds and CI use the committed copies. To upgrade one, change its
# version and integrity (npm view PACKAGE@VERSION dist.integrity), run it,
# and commit console/assets/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=console/assets/vendor
# package version integrity (the registry's dist.integrity: a re-published
# tarball fails) file-in-package:name-in-dest...
PACKAGES=(
  "htmx.org 2.0.11 sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA== dist/htmx.min.js:htmx.min.js LICENSE:htmx.LICENSE"
  "htmx-ext-sse 2.2.4 sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ== dist/sse.min.js:sse.min.js LICENSE:sse.LICENSE"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dest"
notice="These files are copied unchanged from npm packages, each under the Zero-Clause
BSD licence (0BSD; see the *.LICENSE files). scripts/vendor-console.sh re-fetches them.
"
for entry in "${PACKAGES[@]}"; do
  read -r package version integrity files <<<"$entry"
  dir="$tmp/$package"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$package@$version" >/dev/null)
  got="sha512-$(openssl dgst -sha512 -binary "$dir"/*.tgz | base64 -w0)"
  [ "$got" = "$integrity" ] || { echo "integrity of $package@$version is $got, want $integrity" >&2; exit 1; }
  tar -xzf "$dir"/*.tgz -C "$dir"
  # htmx-ext-sse names no licence in its package.json: read the LICENSE file.
  grep -qiE 'zero.clause bsd|bsd zero.clause' "$dir/package/LICENSE" ||
    { echo "unexpected licence of $package@$version: $(head -n 1 "$dir/package/LICENSE")" >&2; exit 1; }
  for pair in $files; do
    cp "$dir/package/${pair%%:*}" "$dest/${pair#*:}"
  done
  names=()
  for pair in $files; do names+=("${pair#*:}"); done
  notice+="
- $package@$version: ${names[*]}"
done
printf '%s\n' "$notice" >"$dest/NOTICE"
echo "vendored ${#PACKAGES[@]} packages into $dest" >&2

#!/usr/bin/env bash
# Re-fetches the browser assets of the API docs page (/docs) from npm at the
# pinned version of Stoplight Elements into docsui/elements/, which the docsui
# package embeds. Only this script needs npm; builds and CI use the committed
# copies. To upgrade, change VERSION and INTEGRITY (npm view PACKAGE@VERSION
# dist.integrity), run it, and commit docsui/elements/.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=9.0.25
# The registry's dist.integrity of that version: a re-published tarball fails.
INTEGRITY=sha512-rDbNsgSCNo74lyV57cBzym+8F68/R2j7UPq4r3w5qK608vX8APNJhTq+2MkbTjsM3bUhFIoRdI225tlI85KpCA==
PACKAGE=@stoplight/elements
FILES=(web-components.min.js web-components.min.js.LICENSE.txt styles.min.css LICENSE)
dest=docsui/elements

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
got="sha512-$(openssl dgst -sha512 -binary "$tmp"/*.tgz | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || { echo "integrity of $PACKAGE@$VERSION is $got, want $INTEGRITY" >&2; exit 1; }
tar -xzf "$tmp"/*.tgz -C "$tmp"
license=$(cd "$tmp/package" && node -p 'require("./package.json").license')
[ "$license" = "Apache-2.0" ] || { echo "unexpected licence of $PACKAGE@$VERSION: $license" >&2; exit 1; }

mkdir -p "$dest"
for f in "${FILES[@]}"; do
  cp "$tmp/package/$f" "$dest/$f"
done
cat >"$dest/NOTICE" <<NOTICE
These files are copied unchanged from the npm package $PACKAGE@$VERSION
(https://github.com/stoplightio/elements), licensed under the Apache License 2.0
(see LICENSE; web-components.min.js.LICENSE.txt lists the licences of the code
it bundles). scripts/vendor-docs-ui.sh re-fetches them.
NOTICE
echo "vendored $PACKAGE@$VERSION into $dest" >&2

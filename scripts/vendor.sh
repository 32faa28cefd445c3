#!/usr/bin/env bash
# Re-fetch the vendored browser libraries at their pinned versions with npm
# and copy the files the app serves into src/fleet/web/static/vendor/.
# Nothing is loaded from a CDN at run time; see src/fleet/web/static/vendor/VENDOR.md.
set -euo pipefail

JSONEDITOR_VERSION="3.13.0"
JSQR_VERSION="1.4.0"
CHARTJS_VERSION="4.6.1"
SWAGGER_UI_VERSION="5.35.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/src/fleet/web/static/vendor"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch NAME VERSION -> unpacked into $TMP/NAME/package
  local name="$1" version="$2" tgz
  mkdir -p "$TMP/$name"
  tgz="$(cd "$TMP/$name" && npm pack --silent "$name@$version" | tail -n 1)"
  tar -xzf "$TMP/$name/$tgz" -C "$TMP/$name"
}

fetch vanilla-jsoneditor "$JSONEDITOR_VERSION"
fetch jsqr "$JSQR_VERSION"
fetch chart.js "$CHARTJS_VERSION"
fetch swagger-ui-dist "$SWAGGER_UI_VERSION"

mkdir -p "$VENDOR/vanilla-jsoneditor" "$VENDOR/jsqr" "$VENDOR/chartjs" "$VENDOR/swagger-ui"

# vanilla-jsoneditor: standalone ES module (CSS is bundled inside it)
cp "$TMP/vanilla-jsoneditor/package/standalone.js" "$VENDOR/vanilla-jsoneditor/standalone.js"
cp "$TMP/vanilla-jsoneditor/package/LICENSE.md"    "$VENDOR/vanilla-jsoneditor/LICENSE.md"

# jsQR: browser build, defines window.jsQR
cp "$TMP/jsqr/package/dist/jsQR.js" "$VENDOR/jsqr/jsQR.js"
cp "$TMP/jsqr/package/LICENSE"      "$VENDOR/jsqr/LICENSE"

# Chart.js: UMD build, defines window.Chart
cp "$TMP/chart.js/package/dist/chart.umd.js" "$VENDOR/chartjs/chart.umd.js"
cp "$TMP/chart.js/package/LICENSE.md"        "$VENDOR/chartjs/LICENSE.md"

# Swagger UI: the API docs page at /docs
cp "$TMP/swagger-ui-dist/package/swagger-ui-bundle.js" "$VENDOR/swagger-ui/swagger-ui-bundle.js"
cp "$TMP/swagger-ui-dist/package/swagger-ui.css"       "$VENDOR/swagger-ui/swagger-ui.css"
cp "$TMP/swagger-ui-dist/package/LICENSE"              "$VENDOR/swagger-ui/LICENSE"

echo "vendored: swagger-ui-dist@$SWAGGER_UI_VERSION vanilla-jsoneditor@$JSONEDITOR_VERSION jsqr@$JSQR_VERSION chart.js@$CHARTJS_VERSION -> $VENDOR"

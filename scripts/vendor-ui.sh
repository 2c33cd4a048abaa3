#!/usr/bin/env bash
# Refresh the third-party browser files of the web page and of /docs from the npm registry.
# Nothing is built: the packages' own dist files are copied as published (byte for byte),
# with their licence files, into geocube_ingest/api/ui/vendor/. Bump a version below, run
# this, update the table in vendor/README.md (the script prints it) and run the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

LEAFLET=1.9.4
DOMPURIFY=3.5.0
SWAGGER_UI=5.36.0

VENDOR=geocube_ingest/api/ui/vendor
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

(cd "$scratch" && npm pack --silent "leaflet@$LEAFLET" "dompurify@$DOMPURIFY" "swagger-ui-dist@$SWAGGER_UI" >/dev/null)
for name in leaflet dompurify swagger-ui-dist; do
  mkdir -p "$scratch/$name"
  tar -xzf "$scratch/$name"-*.tgz -C "$scratch/$name" --strip-components=1
done

rm -rf "$VENDOR/leaflet" "$VENDOR/dompurify" "$VENDOR/swagger-ui"
mkdir -p "$VENDOR/leaflet/images" "$VENDOR/dompurify" "$VENDOR/swagger-ui"
cp "$scratch/leaflet/dist/leaflet.js" "$scratch/leaflet/dist/leaflet.css" "$scratch/leaflet/LICENSE" "$VENDOR/leaflet/"
cp "$scratch/leaflet/dist/images/"*.png "$VENDOR/leaflet/images/"
cp "$scratch/dompurify/dist/purify.min.js" "$scratch/dompurify/LICENSE" "$VENDOR/dompurify/"
cp "$scratch/swagger-ui-dist/"{swagger-ui-bundle.js,swagger-ui-bundle.js.LICENSE.txt,swagger-ui.css,LICENSE,NOTICE} \
  "$VENDOR/swagger-ui/"

echo "| package | version | npm integrity |"
echo "|---|---|---|"
for spec in "leaflet@$LEAFLET" "dompurify@$DOMPURIFY" "swagger-ui-dist@$SWAGGER_UI"; do
  echo "| ${spec%@*} | ${spec#*@} | \`$(npm view "$spec" dist.integrity)\` |"
done
echo
echo "sha256 of the copied files:"
(cd "$VENDOR" && find . -type f ! -name README.md | sort | xargs sha256sum)

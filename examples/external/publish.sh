#!/bin/sh
# The last stage of the external-ci example: "publishes" what CI built and a person approved.
set -eu
version=$(echo "$SIGNOFF_INPUTS" | tr '{' '\n' | sed -n 's/.*"name":"version\.txt","path":"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$version" ] || { echo "no version.txt from the build stage" >&2; exit 1; }
cp "$version" "$SIGNOFF_OUTPUT_DIR/published.txt"
echo "published $(head -n 1 "$version")"

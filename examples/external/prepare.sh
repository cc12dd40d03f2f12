#!/bin/sh
# The first stage of the external-ci example: writes the change description that CI builds.
set -eu
printf '%s\n' "$SIGNOFF_BRIEF" > "$SIGNOFF_OUTPUT_DIR/change.txt"
echo "change described ($(wc -c < "$SIGNOFF_OUTPUT_DIR/change.txt" | tr -d ' ') bytes)"

#!/bin/sh
# Hands the build stage to an external system. A real script would call the CI's API here
# (e.g. `gh workflow run build.yml -f callback_url="$SIGNOFF_CALLBACK_URL" -f token="$SIGNOFF_RUN_TOKEN"`);
# this one starts fake-ci.sh in the background, which plays the CI job. The two variables are
# all the CI job needs to report back; it never sees signoff's data directory.
set -eu
log="${TMPDIR:-/tmp}/signoff-fake-ci-job$SIGNOFF_JOB_ID-attempt$SIGNOFF_ATTEMPT.log"
# The CI job gets only what it needs: where to report and the run's token.
env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
  SIGNOFF_CALLBACK_URL="$SIGNOFF_CALLBACK_URL" SIGNOFF_RUN_TOKEN="$SIGNOFF_RUN_TOKEN" \
  SIGNOFF_CLI="${SIGNOFF_CLI:-node $(pwd)/bin/signoff.js}" DEMO_STEP_SECONDS="${DEMO_STEP_SECONDS:-3}" \
  CHANGE="$(cat "$(echo "$SIGNOFF_INPUTS" | tr "{" "\n" | sed -n 's/.*"name":"change\.txt","path":"\([^"]*\)".*/\1/p' | head -n 1)" 2>/dev/null || echo unknown)" \
  nohup sh "$(dirname "$0")/fake-ci.sh" > "$log" 2>&1 &
echo "CI job started (its log: $log)"
# From here on the run waits for the CI job: this script's exit 0 does not finish the stage.
echo "::external::"

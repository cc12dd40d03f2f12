#!/bin/sh
# A stand-in for a CI job on another machine: it works in a directory of its own and reports to
# signoff with `signoff run`, using only SIGNOFF_CALLBACK_URL and SIGNOFF_RUN_TOKEN.
set -u
run() { $SIGNOFF_CLI run "$@"; }
step() { sleep "${DEMO_STEP_SECONDS:-3}"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step
run progress "CI: compiling" || exit $?
step
run heartbeat || exit $?
printf 'app 1.0.%s\nchange: %s\n' "$(date +%s)" "$CHANGE" > "$work/version.txt"
tar -czf "$work/app.tar.gz" -C "$work" version.txt
run progress "CI: running tests" || exit $?
step
printf 'tests: 42 passed, 0 failed\n' > "$work/test-report.txt"

# Exit codes of `signoff run`: 0 done, 1 refused (wrong token, run over), 2 usage,
# 3 signoff unreachable or busy: try again a few times before giving up.
for try in 1 2 3 4 5; do
  run complete --summary "CI build passed (42 tests)" \
    --artifact "$work/app.tar.gz" --artifact "$work/test-report.txt" --artifact "$work/version.txt"
  code=$?
  [ "$code" -ne 3 ] && exit "$code"
  sleep $((try * 2))
done
exit 3

#!/bin/sh
# Smoke-test stage of the example "release" pipeline.
#
# Pretends to probe the staging release described by release-staging.json (from deploy.sh) and
# writes smoke-report.txt. In examples/deploy.yaml this stage carries the gate where SREs read
# the report and sign off before production.
#
# Demo knobs:  fail_at=smoke (or smoke:once, see build.sh) makes a check fail; the report is
#              still written so the failure can be read. DEMO_STEP_SECONDS as in build.sh.
set -eu

stage_name=smoke
out="${SIGNOFF_OUTPUT_DIR:?SIGNOFF_OUTPUT_DIR is not set; this script is meant to run as a signoff stage}"
job="${SIGNOFF_JOB_ID:-0}"
stage="${SIGNOFF_STAGE:-$stage_name}"
step="${DEMO_STEP_SECONDS:-1}"
report="$out/smoke-report.txt"

fail() {
  echo "$stage: $*" >&2
  exit 1
}

# Should a check fail on purpose? Same rules as build.sh (":once" fails only the first attempt).
failing() {
  case "${SIGNOFF_PARAM_FAIL_AT:-}" in
    "$stage" | "$stage_name") return 0 ;;
    "$stage:once" | "$stage_name:once") [ "${SIGNOFF_ATTEMPT:-1}" = 1 ] && return 0 ;;
  esac
  return 1
}
progress() { echo "::progress:: $*"; } # shown in chat; the last plain line is the summary

# See deploy.sh: one JSON object per line, then the "path" field.
input_paths() {
  printf '%s\n' "${SIGNOFF_INPUTS:-[]}" | tr '{}' '\n\n' | sed -n 's/.*"path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}
json_field() {
  sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n 1
}

release=$(input_paths | grep '/release-staging\.json$' | tail -n 1 || true)
[ -n "$release" ] && [ -f "$release" ] || fail "no release-staging.json among the inputs; does the pipeline deploy to staging first?"
version=$(json_field "$release" version)
url=$(json_field "$release" url)
progress "testing $version at $url"

break_one=no
if failing; then break_one=yes; fi

{
  echo "Smoke test of $version at $url (job $job)"
  echo
} >"$report"
passed=0
failed=0
n=0
# Each check: a name, and what "good" looks like; numbers are made up but stable.
for check in "GET /healthz -> 200" "GET /version -> $version" "POST /login -> 302" "GET /api/orders?limit=1 -> 200" "p95 latency < 250ms"; do
  sleep "$step"
  n=$((n + 1))
  if [ "$break_one" = yes ] && [ "$n" -eq 3 ]; then
    echo "FAIL  $check (got 503 Service Unavailable)" >>"$report"
    progress "FAIL $check"
    failed=$((failed + 1))
  else
    echo "PASS  $check" >>"$report"
    progress "pass $check"
    passed=$((passed + 1))
  fi
done

{
  echo
  echo "$passed passed, $failed failed"
} >>"$report"
[ "$failed" -eq 0 ] || fail "$failed smoke check(s) failed on staging; see smoke-report.txt (failed on purpose: fail_at=${SIGNOFF_PARAM_FAIL_AT:-})"
echo "Smoke test of $version on staging: all $passed checks passed"

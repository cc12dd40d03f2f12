#!/bin/sh
# Deploy stage of the example "release" pipeline: deploy.sh staging|production
#
# Pretends to roll the tarball made by build.sh out to an environment. It finds the build's
# artifacts in $SIGNOFF_INPUTS (a JSON array of {stage, name, path, ...}), checks the tarball
# against build-info.json, "rolls out" instance by instance and writes deploy-<env>.log and
# release-<env>.json. Production refuses to run unless a staging release came first.
#
# Demo knobs:  fail_at=<env> (or the stage id, or <that>:once, see build.sh), DEMO_STEP_SECONDS
# Output: "::progress::" lines, then a one-line summary (see build.sh).
set -eu

env_name="${1:-}"
case "$env_name" in
  staging) instances=2 ;;
  production) instances=4 ;;
  *) echo "usage: deploy.sh staging|production" >&2; exit 2 ;;
esac
out="${SIGNOFF_OUTPUT_DIR:?SIGNOFF_OUTPUT_DIR is not set; this script is meant to run as a signoff stage}"
job="${SIGNOFF_JOB_ID:-0}"
stage="${SIGNOFF_STAGE:-$env_name}"
step="${DEMO_STEP_SECONDS:-1}"
log="$out/deploy-$env_name.log"

fail() {
  echo "$stage: $*" >&2
  echo "FAILED: $*" >>"$log"
  exit 1
}
# Progress goes to stdout as "::progress::" lines (signoff shows them) and, with a timestamp,
# to the deploy log. The last plain stdout line is the stage's summary.
say() {
  echo "::progress:: $*"
  echo "$(date -u +%H:%M:%S) $*" >>"$log"
}

maybe_fail() {
  case "${SIGNOFF_PARAM_FAIL_AT:-}" in
    "$stage" | "$env_name") fail "failing on purpose (fail_at=${SIGNOFF_PARAM_FAIL_AT})" ;;
    "$stage:once" | "$env_name:once")
      if [ "${SIGNOFF_ATTEMPT:-1}" = 1 ]; then
        fail "failing the first attempt on purpose (fail_at=${SIGNOFF_PARAM_FAIL_AT}); a retry will pass"
      fi
      ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# Paths of the input artifacts, one per line. Plain sh has no JSON parser: each {...} object
# goes on its own line and the "path" field is cut out. Good enough for the paths signoff
# writes (no quotes, braces or newlines in them).
input_paths() {
  printf '%s\n' "${SIGNOFF_INPUTS:-[]}" | tr '{}' '\n\n' | sed -n 's/.*"path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}
json_field() { # json_field FILE KEY: the string value of "KEY" in a flat JSON file
  sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n 1
}

: >"$log"
say "deploying to $env_name for job $job (attempt ${SIGNOFF_ATTEMPT:-1})"
# A redo after a reviewer rejected the previous deploy: keep their reason in the log.
[ -z "${SIGNOFF_REDO_REASON:-}" ] || say "redeploying after review: $SIGNOFF_REDO_REASON"
maybe_fail

tarball=$(input_paths | grep '/app-[^/]*\.tar\.gz$' | tail -n 1 || true)
info=$(input_paths | grep '/build-info\.json$' | tail -n 1 || true)
[ -n "$tarball" ] && [ -f "$tarball" ] || fail "no app-*.tar.gz among the inputs; does the pipeline run build.sh first?"
[ -n "$info" ] && [ -f "$info" ] || fail "no build-info.json among the inputs; does the pipeline run build.sh first?"
version=$(json_field "$info" version)
case "$version" in '' | *[!A-Za-z0-9.+_-]*) fail "build-info.json has no usable version" ;; esac

if [ "$env_name" = production ]; then
  staged=$(input_paths | grep '/release-staging\.json$' | tail -n 1 || true)
  [ -n "$staged" ] && [ -f "$staged" ] || fail "refusing to deploy to production: no staging release among the inputs"
  [ "$(json_field "$staged" version)" = "$version" ] || fail "staging runs $(json_field "$staged" version), not $version"
  say "staging runs $version too, good"
fi

say "verifying $(basename "$tarball")"
digest=$(sha256 "$tarball")
[ "$digest" = "$(json_field "$info" sha256)" ] || fail "$(basename "$tarball") does not match the sha256 in build-info.json"
files=$(tar -tzf "$tarball" | wc -l | tr -d ' ')
say "checksum ok, $files entries in the archive"
sleep "$step"

i=1
while [ "$i" -le "$instances" ]; do
  say "instance $i/$instances: drained, updated to $version, healthy"
  sleep "$step"
  i=$((i + 1))
done

url="https://$env_name.app.example.internal"
cat >"$out/release-$env_name.json" <<JSON
{
  "environment": "$env_name",
  "version": "$version",
  "job": "$job",
  "instances": $instances,
  "url": "$url",
  "sha256": "$digest",
  "deployed_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
echo "$(date -u +%H:%M:%S) done: $version is live on $instances instances at $url" >>"$log"
echo "Deployed $version to $env_name ($instances instances, $url)"

#!/bin/sh
# Build stage of the example "release" pipeline (examples/deploy.yaml).
#
# Pretends to build version $SIGNOFF_PARAM_VERSION of an app: generates a small source tree,
# packs it as app-<version>.tar.gz and describes it in build-info.json. Everything written to
# $SIGNOFF_OUTPUT_DIR becomes an artifact that later stages receive in $SIGNOFF_INPUTS.
# Lines starting with "::progress::" are shown as progress; the last other line of stdout
# becomes the stage's summary.
#
# Demo knobs:  fail_at=build       fail every attempt (the stage has retries: 1, so 2 tries)
#              fail_at=build:once  fail only the first attempt, so the retry passes
#              DEMO_STEP_SECONDS   pause between steps (default 1) so progress is visible
set -eu

stage_name=build
out="${SIGNOFF_OUTPUT_DIR:?SIGNOFF_OUTPUT_DIR is not set; this script is meant to run as a signoff stage}"
version="${SIGNOFF_PARAM_VERSION:-0.0.0-dev}"
job="${SIGNOFF_JOB_ID:-0}"
stage="${SIGNOFF_STAGE:-$stage_name}"
step="${DEMO_STEP_SECONDS:-1}"
# The JSON document signoff writes on stdin repeats what the environment says; not needed here.

fail() {
  echo "$stage: $*" >&2
  exit 1
}

# fail_at=<stage> fails on purpose; fail_at=<stage>:once only on the first attempt
# (SIGNOFF_ATTEMPT is 1, 2, … within a stage run; run by hand it counts as the first).
maybe_fail() {
  case "${SIGNOFF_PARAM_FAIL_AT:-}" in
    "$stage" | "$stage_name") fail "failing on purpose (fail_at=${SIGNOFF_PARAM_FAIL_AT})" ;;
    "$stage:once" | "$stage_name:once")
      if [ "${SIGNOFF_ATTEMPT:-1}" = 1 ]; then
        fail "failing the first attempt on purpose (fail_at=${SIGNOFF_PARAM_FAIL_AT}); a retry will pass"
      fi
      ;;
  esac
}
progress() { echo "::progress:: $*"; } # signoff shows these lines in chat as progress

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# The version and job id end up in file names and JSON, so only allow what they can contain.
case "$version" in
  '' | *[!A-Za-z0-9.+_-]*) fail "version \"$version\" may only contain letters, digits and . + _ -" ;;
esac
case "$job" in *[!A-Za-z0-9_-]*) fail "unexpected job id \"$job\"" ;; esac

progress "building app $version (attempt ${SIGNOFF_ATTEMPT:-1})"
maybe_fail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/app-$version"
mkdir -p "$src/bin" "$src/conf"

progress "generating sources"
printf '%s\n' "$version" >"$src/VERSION"
cat >"$src/bin/app" <<SCRIPT
#!/bin/sh
echo "app $version (job $job) says hello"
SCRIPT
chmod +x "$src/bin/app"
printf 'listen=0.0.0.0:8080\nlog_level=info\n' >"$src/conf/app.conf"
printf '%s\n' "${SIGNOFF_BRIEF:-}" >"$src/RELEASE-NOTES.txt"
sleep "$step"

progress "running unit tests: 42 passed"
sleep "$step"

progress "packing app-$version.tar.gz"
tarball="app-$version.tar.gz"
tar -czf "$out/$tarball" -C "$work" "app-$version"
size=$(wc -c <"$out/$tarball" | tr -d ' ')
digest=$(sha256 "$out/$tarball")
cp "$src/RELEASE-NOTES.txt" "$out/release-notes.txt"

cat >"$out/build-info.json" <<JSON
{
  "version": "$version",
  "job": "$job",
  "artifact": "$tarball",
  "size": $size,
  "sha256": "$digest",
  "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
echo "Built $tarball ($size bytes, sha256 $(echo "$digest" | cut -c1-12))"

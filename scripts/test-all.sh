#!/usr/bin/env bash
# Runs every test suite of the project in order and prints one closing line with the totals.
# Static checks first (fast, no lab), then the lab comes up once and the suites that need it run
# against it: molecule first, because its check-mode step needs a lab nothing has touched yet.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
# molecule and the tests call ansible-playbook: the pinned one.
export PATH="$PWD/$VENV/bin:$PATH"
REPORTS=.cache/test-reports
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
failed_steps=()

step() {  # step NAME COMMAND...: run, time and record one suite
  local name=$1; shift
  local start=$SECONDS
  echo "=== ${name}: $*"
  if "$@"; then
    echo "=== ${name}: ok ($((SECONDS - start)) s)"
  else
    echo "=== ${name}: FAILED ($((SECONDS - start)) s)"
    failed_steps+=("$name")
  fi
}

pytest_suite() {  # pytest_suite NAME PATH...: pytest with a JUnit report for the totals
  local name=$1; shift
  step "$name" "$VENV/bin/pytest" -q -p no:cacheprovider --junitxml="$REPORTS/$name.xml" "$@"
}

# The benchmark report's test draws the HTML in a real headless browser: Debian's chromium.
if ! command -v chromium >/dev/null 2>&1; then
  echo "=== installing Debian's chromium for the report test"
  apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  { apt_get install -y -q chromium >/dev/null || { apt_get update -q >/dev/null && apt_get install -y -q chromium >/dev/null; }; } \
    || echo "=== chromium could not be installed: the report's browser test will be skipped"
fi

cleanup() { make --no-print-directory lab-down >/dev/null 2>&1 || true; }
trap cleanup EXIT

step lint "$VENV/bin/ansible-lint"
step sanity bash scripts/sanity.sh
step galaxy-import bash scripts/galaxy_import.sh
pytest_suite units tests/unit

if step lab-up make --no-print-directory lab-up; then
  step molecule "$VENV/bin/molecule" test --all
  pytest_suite lab lab/tests
  pytest_suite integration tests/integration
  # after the integration tests, whose last one tears its profile down: the namespace is empty
  pytest_suite aap tests/aap
  # AAP 2.5's minimal EE runs ansible-core 2.16: one model deployed, converged, checked, smoke-tested
  # and torn down with it (its own venv under .cache; about 30 s, 15 s more when the venv is made)
  step core-2.16 bash scripts/test-core-2.16.sh
fi

"$VENV/bin/python" - "$REPORTS" "${failed_steps[@]}" <<'PY'
import glob, os, sys
import xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/*.xml"):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        total = int(suite.get("tests", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0))
        passed += total - bad - skip
        failed += bad
        skipped += skip
steps = sys.argv[2:]
if steps:
    print("failed steps: " + ", ".join(steps))
# A failed step without a JUnit report (lint, sanity, lab-up, molecule) counts as one failed test;
# a failed pytest suite is already counted by its report.
unreported = [s for s in steps if not os.path.exists(os.path.join(sys.argv[1], s + ".xml"))]
print("total: %d passed, %d failed, %d skipped" % (passed, failed + len(unreported), skipped))
PY
[ ${#failed_steps[@]} -eq 0 ]

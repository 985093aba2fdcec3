#!/usr/bin/env bash
# Builds the collection tarball as it is published and runs galaxy-importer (what Galaxy and
# Private Automation Hub run on upload) on it; fails on any error the importer reports.
#   scripts/galaxy_import.sh [OUTPUT_DIR]   (default .cache/build; the tarball is left there)
# galaxy.yml has no `repository` (no public one exists yet, see its comment); the importer
# requires one, so the build takes LLM_SERVING_REPOSITORY, else the git remote `origin`, else
# this checkout's file:// URL.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
out=$(realpath -m "${1:-.cache/build}")
repository=${LLM_SERVING_REPOSITORY:-$(git remote get-url origin 2>/dev/null || echo "file://$PWD")}

mkdir -p .cache "$out"
work=$(mktemp -d "$PWD/.cache/galaxy-import.XXXXXX")
trap 'rm -rf "$work"' EXIT
git ls-files -co --exclude-standard | grep -vE "^collections/ansible_collections/" | while read -r f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | xargs -0 cp --parents -t "$work"
printf 'repository: %s\n' "$repository" >> "$work/galaxy.yml"
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$out" "$work" >/dev/null
tarball=$(ls -t "$out"/private_ai-llm_serving-*.tar.gz | head -1)
echo "built $tarball (repository: $repository)"

# The importer's own defaults (ansible-test off: scripts/sanity.sh runs it), with its checks of
# the roles and ansible-lint on; its log goes to the output and to $out/import.log.
cat > "$work/importer.cfg" <<CFG
[galaxy-importer]
LOG_LEVEL_MAIN = INFO
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = True
CHECK_REQUIRED_TAGS = False
CFG
(cd "$work" && GALAXY_IMPORTER_CONFIG="$work/importer.cfg" PATH="$PWD/../../$VENV/bin:$PATH" \
  "$OLDPWD/$VENV/bin/python" -m galaxy_importer.main --print-result "$tarball") > "$out/import.log" 2>&1 || {
  cat "$out/import.log"; echo "galaxy-importer failed"; exit 1; }
sed '/^{/,$d' "$out/import.log"
if grep -qE '^(ERROR|WARNING)' "$out/import.log"; then
  echo "galaxy-importer reported errors or warnings (above)"; exit 1
fi
echo "galaxy-importer: ok"

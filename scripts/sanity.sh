#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection as it ships: ansible-test needs the tree at
# ansible_collections/<namespace>/<name>, and the lab, benchmarks and CI files are not part of the
# collection (galaxy.yml build_ignore), so they are not copied.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
py="$PWD/$VENV/bin/python"

# ansible-test builds a venv per sanity test and bootstraps pip in it with a script it downloads
# from a host this machine cannot reach (only package registries are). Its cache slot takes a
# stand-in that bootstraps the same pip version from Python's own ensurepip and PyPI.
pip_version=$("$py" -c 'from ansible_test._internal.python_requirements import PIP_VERSION; print(PIP_VERSION)' 2>/dev/null || echo 24.2)
shim=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$shim" ]; then
  mkdir -p "$(dirname "$shim")"
  cat > "$shim" <<'PY'
"""Stand-in for get-pip.py: ensurepip, then pip installs what ansible-test asked for."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
fi

# A private copy per run: two runs at once must not delete each other's tree.
mkdir -p .cache
work=$(mktemp -d "$PWD/.cache/sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/private_ai/llm_serving
mkdir -p "$dest"
git ls-files -co --exclude-standard \
  | grep -vE "^(lab|benchmarks|molecule|\.ci|scripts|collections|aap)/" \
  | while read -r f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | xargs -0 cp --parents -t "$dest"
# kubernetes.core is a dependency: give ansible-test the copy the ansible package bundles.
ln -s "$("$py" -c 'import ansible_collections.kubernetes as k; print(list(k.__path__)[0])')" \
  "$work/ansible_collections/kubernetes"
cd "$dest"
git init -q . && git add -A >/dev/null
export PATH="$(dirname "$py"):$PATH"
ansible-test sanity --python 3.11 --local --color no "$@"

#!/usr/bin/env bash
# The collection on ansible-core 2.16, what AAP 2.5's minimal execution environment runs (and the
# floor of meta/runtime.yml's requires_ansible); every other suite runs the pinned ansible 12
# (ansible-core 2.19). On the running lab, with one model of the fp8_showcase profile: site.yml
# deploys, a second run and its --check --diff change nothing, the smoke test and the benchmark
# pass, the teardown leaves no GPU node. First, without the lab, the unit tests of the smoke test's
# client, whose transport ansible.module_utils.urls differs in on 2.16. Needs an empty namespace (test-all.sh runs it after the
# AAP suite).
# The venv (.cache/venv-core-2.16) holds ansible-core 2.16 and the Python packages the modules
# import, at the versions requirements-dev.txt pins; kubernetes.core is the copy the pinned ansible
# package bundles (6.2.0, which supports 2.16), this collection the checkout's collections/ link.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
CORE=ansible-core==2.16.19
pins=$(grep -iE '^(kubernetes|boto3|pyyaml|plotly|pytest)==' requirements-dev.txt | tr '\n' ' ')
venv=.cache/venv-core-2.16
stamp=$venv/.stamp-$(echo "$CORE $pins" | sha256sum | cut -c1-16)
if [ ! -e "$stamp" ]; then
  rm -rf "$venv"
  # ansible-core 2.16 runs on Python 3.10 to 3.12: the interpreter the project's venv is made from
  "$("$VENV/bin/python" -c 'import sys; print(sys._base_executable)')" -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$CORE" $pins
  touch "$stamp"
fi
bundled=$("$VENV/bin/python" -c 'import os, ansible_collections.kubernetes.core as c; print(os.path.dirname(os.path.dirname(os.path.dirname(list(c.__path__)[0]))))')
export ANSIBLE_COLLECTIONS_PATH="./collections:$bundled" ANSIBLE_NOCOLOR=1
export PATH="$PWD/$venv/bin:$PATH"
[ -f .lab/env ] && . .lab/env
version=$("$venv/bin/ansible-playbook" --version)
echo "${version%%$'\n'*}"

echo "--- pytest tests/unit/test_chat_completion_client.py"
PYTHONPATH=collections "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit/test_chat_completion_client.py

play() {  # play EXPECT PLAYBOOK ARGS...: run, fail unless it succeeds (and changes nothing for EXPECT=unchanged)
  local expect=$1 out
  shift
  echo "--- ansible-playbook $*"
  out=$("$venv/bin/ansible-playbook" "$@" -i inventories/fp8_showcase -i inventories/lab \
          -e llm_serving_only_models=mistral-24b-fp8 2>&1) || { echo "$out" | tail -40; return 1; }
  echo "$out" | grep -E '^localhost +:'
  if [ "$expect" = unchanged ] && ! echo "$out" | grep -qE '^localhost +: .* changed=0 '; then
    echo "$out" | tail -40
    return 1
  fi
}
play any site.yml
play unchanged site.yml
play unchanged site.yml --check --diff
play unchanged playbooks/smoke_test.yml
play any playbooks/benchmark.yml -e llm_serving_benchmark_output_dir="$PWD/.cache/benchmark-core-2.16" \
  -e llm_serving_benchmark_max_requests=4 -e llm_serving_benchmark_sweep_points=2 \
  -e llm_serving_benchmark_prompt_tokens=32 -e llm_serving_benchmark_output_tokens=16
play any playbooks/teardown.yml

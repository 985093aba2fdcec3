# private_ai.llm_serving — developer entry points. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SETUP_STAMP := $(VENV)/.setup-$(shell sha256sum requirements-dev.txt | cut -c1-16)
PROFILE ?= triple_play
INVENTORY ?= inventories/$(PROFILE) -i inventories/lab

.PHONY: help setup demo site test lint sanity units changelog build clean

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

setup: $(SETUP_STAMP)  ## .venv with the pinned tools (the collection resolves from the committed collections/ link)

$(SETUP_STAMP): requirements-dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.setup-* && touch $@

demo: setup lab-build lab-up  ## build and start the lab, then run site.yml with PROFILE (triple_play) on it
	. .lab/env && $(VENV)/bin/ansible-playbook site.yml -i $(INVENTORY)

site: setup  ## run site.yml against INVENTORY (default: PROFILE on the lab)
	$(VENV)/bin/ansible-playbook site.yml -i $(INVENTORY)

test: setup lab-build  ## everything CI runs: lint, sanity, unit, lab, integration and molecule tests
	bash scripts/test-all.sh

lint: setup  ## ansible-lint, production profile
	$(VENV)/bin/ansible-lint

sanity: setup  ## ansible-test sanity on a clean copy of the collection
	bash scripts/sanity.sh

units: setup  ## unit tests (no lab)
	$(VENV)/bin/pytest -q tests/unit

changelog: setup  ## release notes from changelogs/fragments
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/antsibull-changelog release

build: setup  ## the collection tarball in .cache/build, checked by galaxy-importer (LLM_SERVING_REPOSITORY sets its repository)
	bash scripts/galaxy_import.sh

clean: lab-down  ## remove the venv and caches inside the repository
	rm -rf $(VENV) .ansible .cache .pytest_cache

-include lab/lab.mk

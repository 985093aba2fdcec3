# Lab targets, included by the root Makefile (`include lab/lab.mk`).
VENV ?= .venv
LAB_PYTHON ?= $(VENV)/bin/python

.PHONY: lab-build lab-up lab-down lab-status lab-test

lab-build: ## Build the lab's binaries into ~/.cache/private-ai-lab/bin (no-op when present)
	bash lab/build.sh

lab-up: lab-build ## Start the local lab (idempotent); writes .lab/ and inventories/lab/.../lab_connection.yml
	$(LAB_PYTHON) lab/labctl.py up

lab-down: ## Stop the local lab and remove .lab/
	$(LAB_PYTHON) lab/labctl.py down

lab-status: ## One line per lab component, and the lab's total RSS
	$(LAB_PYTHON) lab/labctl.py status

lab-test: ## Tests of the running lab itself
	$(VENV)/bin/pytest -q lab/tests

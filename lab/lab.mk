# Lab targets, included by the root Makefile (`-include lab/lab.mk`).
VENV ?= .venv
LAB_PYTHON ?= $(VENV)/bin/python

.PHONY: lab-build lab-up lab-down lab-status

lab-build:  ## build the lab's binaries into ~/.cache/private-ai-lab/bin (a no-op once built)
	bash lab/build.sh

lab-up: setup lab-build  ## start the local lab (idempotent): writes .lab/ and the lab inventory's connection file
	PYTHONPATH=lab $(LAB_PYTHON) -m labctl up

lab-down:  ## stop the local lab and remove .lab/
	@if [ -x $(LAB_PYTHON) ]; then PYTHONPATH=lab $(LAB_PYTHON) -m labctl down; else PYTHONPATH=lab python3 -m labctl down; fi

lab-status:  ## one line per lab component and the lab's total RSS (exit 1 when one is down)
	@if [ -x $(LAB_PYTHON) ]; then PYTHONPATH=lab $(LAB_PYTHON) -m labctl status; else PYTHONPATH=lab python3 -m labctl status; fi

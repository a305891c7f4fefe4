# 驻马店市民助手 — `make help` lists the targets.
SHELL := /bin/bash
# No usage or crash reports to Rasa's servers from `rasa` commands run here (bot/__init__.py does the same).
export RASA_TELEMETRY_ENABLED ?= false
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test lint types validate train kb holdout clean lock browser run-cluster nginx bench

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock scripts/find-python310.sh
	@PYTHON310=$$(scripts/find-python310.sh) || exit 1; \
	  [ -x $(PY) ] || $$PYTHON310 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip check
	touch $@

kb: $(STAMP) ## build the knowledge base (checks every quote) and the jieba dictionary
	$(PY) -m bot kb build

train: kb ## train the model (skipped when data, config and domain are unchanged)
	$(PY) -m bot train

run: train ## build, train if needed, start actions :5055, Rasa :5005 and the chat page :8000 (Ctrl-C stops all)
	$(PY) -m bot run

validate: kb ## rasa data validate
	$(RASA) data validate --max-history 5 --data data --domain domain.yml --config config.yml

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(STAMP) ## mypy
	$(VENV)/bin/mypy

holdout: train ## NLU figures on the hold-out file, then whole conversations on tests/holdout/ (live servers)
	$(PY) -m bot evaluate --conversations

test: lint types validate train browser nginx ## the whole suite (bootstraps .venv, builds, trains once)
	$(PY) -m pytest

run-cluster: train nginx ## PostgreSQL + Redis, two Rasa instances behind nginx on :5005, actions, chat page (docs/deploy.md)
	$(PY) -m bot cluster

nginx: ## Debian's nginx for run-cluster and the cluster tests, installed only if missing
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update && apt-get install -y nginx-light)

bench: train ## benchmarks, ours against stock Rasa: prints a table, writes bench/results.json and bench/latency.png
	$(PY) -m bench.run

browser: ## Debian's Chromium (and a Chinese font) for the browser tests, installed only if missing
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	fc-list :lang=zh | grep -q . || (apt-get update && apt-get install -y fonts-wqy-microhei)

lock: ## re-pin requirements.lock from requirements.in in a scratch venv
	@PYTHON310=$$(scripts/find-python310.sh) && rm -rf /tmp/lockvenv && $$PYTHON310 -m venv /tmp/lockvenv && \
	  /tmp/lockvenv/bin/pip install -q -r requirements.in && \
	  /tmp/lockvenv/bin/pip freeze | grep -vE '^(pip|setuptools|wheel)==' | sort -f > requirements.lock

clean: ## remove build outputs (keeps .venv)
	rm -rf models var .pytest_cache .mypy_cache .ruff_cache

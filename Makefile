# Two commands on a fresh machine: `make run` (the default co-search) and `make test`.
PY := .venv/bin/python
ARGS ?=

.venv/installed: requirements.txt
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

.PHONY: run test
run: .venv/installed
	$(PY) -m search run $(ARGS)

test: .venv/installed
	$(PY) -m pytest -q tests

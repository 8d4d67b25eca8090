# Two commands on a fresh machine: `make run` (the default co-search) and `make test`.
PY := .venv/bin/python
ARGS ?=

.venv/installed: requirements.txt pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

.PHONY: run test
run: .venv/installed
	$(PY) -m search run $(ARGS)

test: .venv/installed
	$(PY) -m pytest -q

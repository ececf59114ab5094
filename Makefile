# gameday: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick test-scenarios lint bench bench-quick venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gameday demo

test: $(STAMP)
	$(PY) -m pytest -q -m "not scenarios" -n 2 --dist loadgroup --durations=15

# the auto drill of the scenarios `make test` leaves out (tests/e2e/test_drill_scenarios.py),
# two at a time; CI runs it after `make test`
test-scenarios: $(STAMP)
	$(PY) -m pytest -q -m scenarios -n 2 --dist load

test-quick: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not scenarios" -n 2 --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check src services tests bench

bench: $(STAMP)
	$(PY) bench/run.py

bench-quick: $(STAMP)
	$(PY) bench/run.py --quick

clean:
	rm -rf $(VENV) .gameday .pytest_cache

# gameday: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-quick test-long lint bench bench-quick venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gameday demo

test: $(STAMP)
	$(PY) -m pytest -q -m "not long" -n 2 --dist loadgroup --durations=15

# the long end-to-end checks `make test` leaves out (marker `long`: the auto drill of every
# scenario, ten times capacity for a minute, the scripted interactive wheel, the learning
# path's drills, the web console in Chromium, the installed wheel's demo, both engines on
# the live stack, five quiet minutes then an outage on the live SLOs), two at a time;
# CI runs it after `make test`
test-long: $(STAMP)
	$(PY) -m pytest -q -m long -n 2 --dist load

test-quick: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not long" -n 2 --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check src services tests bench

bench: $(STAMP)
	$(PY) bench/run.py

bench-quick: $(STAMP)
	$(PY) bench/run.py --quick

clean:
	rm -rf $(VENV) .gameday .pytest_cache

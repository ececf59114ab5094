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
# CI runs it after `make test`. The quiet-minutes test runs after the others, alone: it
# holds every SLO window under 1x for five minutes, and another test's stack starting on
# the same 2 cores starved its gateway's event loop for 0.37 s once (2026-12-05), one slow
# request in a 5 s window, a true 1.96x burn that no fault of ours caused.
QUIET_SLO_TEST = tests/e2e/test_slo_live.py::test_quiet_minutes_page_nothing_then_a_classifier_outage_pages_and_clears
test-long: $(STAMP)
	$(PY) -m pytest -q -m long -n 2 --dist load --deselect $(QUIET_SLO_TEST)
	$(PY) -m pytest -q -m long $(QUIET_SLO_TEST)

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

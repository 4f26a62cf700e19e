# Curhat backend. Two commands on a fresh machine with only Python 3.11:
#   make run    set up, start embedded PostgreSQL/Redis if DATABASE_URL/REDIS_URL are unset,
#               migrate, seed the demo data, run daphne + Celery worker + beat (Ctrl-C stops all)
#   make test   the same set-up, then pytest (pass options with ARGS="-k accounts -x")

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup bench faults clean-data screenshots

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

run: setup
	$(PY) -m ops.launch run

test: setup
	$(PY) -m ops.launch test $(ARGS)

# the README's pictures: the browser tests with their screenshots written to docs/screenshots/
# (a plain `make test` writes them to .data/screenshots/, ignored by git); ARGS are passed on
screenshots: setup
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m ops.launch test control_center/tests/test_browser.py $(ARGS)

# the scale targets P1–P7 against the app started as `make run` starts it (ops/bench);
# ARGS are passed on, e.g. make bench ARGS="--only P1,P2"
bench: setup
	$(PY) -m ops.bench $(ARGS)

clean-data:
	rm -rf .data

# the fault suite: worker, Redis, PostgreSQL, a web process and beat fail under traffic
# (ops/faults; about 3 minutes); ARGS are passed on, e.g. make faults ARGS="--only F2"
faults: setup
	$(PY) -m ops.faults $(ARGS)

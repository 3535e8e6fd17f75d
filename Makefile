# blast-radius: `make storm` runs a storm on the embedded stack; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

TARGET ?= DE
PROFILE ?= profiles/de_example.json
INGEST ?= hardened
DURATION ?= 60s
USERS ?= 16
SEED ?= 1
RUN_DIR ?= reports/latest
PROCESSES ?=

STORM_ARGS = -f locustfile.py -u $(USERS) -r $(USERS) --csv $(RUN_DIR)/storm \
	--html $(RUN_DIR)/storm.html --csv-full-history --fault-target $(TARGET) --fault-profile $(PROFILE) \
	--ingest $(INGEST) --fault-seed $(SEED) $(if $(PROCESSES),--processes $(PROCESSES)) \
	$(if $(BUGS),--bugs $(BUGS))

.PHONY: storm ui nightly matrix false-alarms soak bench test check format clean

$(BIN)/locust: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(BIN)/locust requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

storm: $(BIN)/locust
	@mkdir -p $(RUN_DIR)
	$(BIN)/locust $(STORM_ARGS) --headless --only-summary -t $(DURATION)

# The web UI writes into its own folder so that it never replaces the last headless storm.
ui: RUN_DIR = reports/ui
ui: $(BIN)/locust
	@mkdir -p $(RUN_DIR)
	$(BIN)/locust $(STORM_ARGS) --web-host 127.0.0.1

# One region a night, rotating with the date; history in reports/nightly/history.csv.
nightly: $(BIN)/locust
	$(BIN)/python -m storm.nightly $(if $(DATE),--date $(DATE)) $(if $(NIGHTLY_RANDOM),--random)

# Every ingest bug against the fault variants that can reveal it, and the bug-free stack
# against every variant: one short storm per cell (see README for the run time).
matrix: $(BIN)/locust
	$(BIN)/python -m storm.matrix --out reports/matrix $(if $(CELLS),--cells $(CELLS),--publish docs)

# RUNS seeded storms with random targets and fault mixes on the bug-free stack.
false-alarms: $(BIN)/locust
	$(BIN)/python -m storm.matrix --out reports/false_alarms --false-alarms $(or $(RUNS),20) \
		--seed $(SEED) --publish docs

# The proxy under every fault kind and high concurrency for SOAK_S seconds (10 minutes):
# open fds, RSS and asyncio tasks must return to their idle values.
soak: $(BIN)/locust
	$(BIN)/python bench/soak.py $(if $(SOAK_S),--duration-s $(SOAK_S))

# Every benchmark, its ratios measured side by side (under 10 minutes; needs wrk and
# nginx): rewrites docs/performance.md above its Soak section.
bench: $(BIN)/locust
	$(BIN)/python bench/report.py

test: $(VENV)/.dev
	$(BIN)/pytest -q

check: $(VENV)/.dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf reports .mypy_cache .ruff_cache .pytest_cache

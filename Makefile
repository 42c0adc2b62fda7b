# specsweep: every target that needs the environment depends on the install stamp, so on a
# fresh machine `make test` (or `make sweep`) alone builds .venv and then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SWEEP  ?= sweeps/demo.yaml

.PHONY: install test test-slow lint format bench sweep ui report clean

install: $(STAMP)

# Redone whenever pyproject.toml changes; the stamp is written only after a successful install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Run every trial of $(SWEEP) in parallel (resumable: run it again after a stop or a crash).
# More options: make sweep SWEEP=sweeps/merlin_part1.yaml ARGS="--gpus 0,1 --jobs-per-gpu 2"
sweep: $(STAMP)
	$(BIN)/specsweep sweep $(SWEEP) $(ARGS)

# The MLflow UI on the default tracking store, on this machine only.
ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1

# The sweep's report from its MLflow runs: reports/out/<experiment>/report.html, also logged to
# the sweep's summary run in MLflow. `make report SWEEP=sweeps/merlin_part1.yaml` for another sweep.
report: $(STAMP)
	$(BIN)/specsweep report $(SWEEP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# specsweep: every target that needs the environment depends on the install stamp, so on a
# fresh machine `make test` (or `make sweep`) alone builds .venv and then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SWEEP  ?= sweeps/demo.yaml

.PHONY: install test test-slow test-multinode test-cuda lint format bench sweep ui report server clean

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

# The GPU checks (frontend on CUDA, a trial with bf16 autocast, channels_last and torch.compile):
# run them on a machine with a CUDA device; elsewhere they are skipped.
test-cuda: $(STAMP)
	$(BIN)/python -m pytest -q -m cuda

# Multi-node tests with real servers (a private PostgreSQL, installed with apt when missing; an
# MLflow server; two supervisors): CI runs them on their own.
test-multinode: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/test_multinode_servers.py

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

# The MLflow UI on $(SWEEP)'s tracking store, on this machine only; prints (and opens, where
# there is a browser) the links to its runs ranked by MAP and to the mean over seeds per config.
ui: $(STAMP)
	$(BIN)/specsweep ui $(SWEEP) $(ARGS)

# The sweep's report from its MLflow runs: reports/out/<experiment>/report.html, also logged to
# the sweep's summary run in MLflow. `make report SWEEP=sweeps/merlin_part1.yaml` for another sweep.
report: $(STAMP)
	$(BIN)/specsweep report $(SWEEP)

# A team MLflow tracking server on 127.0.0.1:5000 (see README, Multi-node); e.g.
# make server SERVER_ARGS="--host 0.0.0.0 --port 5001"
server: $(STAMP)
	$(BIN)/specsweep server $(SERVER_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

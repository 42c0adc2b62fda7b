# specsweep: every target that needs the environment depends on the install stamp, so on a
# fresh machine `make test` (or `make sweep`) alone builds .venv and then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SWEEP  ?= sweeps/demo.yaml

LOCK   := requirements.lock
LATEST := .venv-latest
PIP_QUIET := --quiet --disable-pip-version-check --no-warn-script-location

# $(call venv_install,VENV,PIP ARGS): make VENV if missing, install the project into it with pip's
# output in VENV/install.log (its tail printed if the install fails). Shared by install, lock and
# test-latest, which differ only in the venv and whether the lock constrains it.
define venv_install
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@$(1)/bin/python -m pip install $(PIP_QUIET) --upgrade pip > $(1)/install.log 2>&1 \
		&& $(1)/bin/python -m pip install $(PIP_QUIET) $(2) -e '.[dev,postgres,onnx]' >> $(1)/install.log 2>&1 \
		|| { grep -v '^WARNING: Location' $(1)/install.log | tail -30; echo "specsweep: install failed; the whole log is $(1)/install.log"; exit 1; }
endef

DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: install lock test test-latest test-slow test-multinode test-cuda device-wheels gpu-check lint format bench sweep ui report server docs clean

install: $(STAMP)

# The exact set the suite passed on (requirements.lock, a pip constraints file) over the ranges in
# pyproject.toml. Redone whenever either changes; the stamp is written only after a successful
# install. pip's output goes to $(VENV)/install.log (printed if the install fails).
$(STAMP): pyproject.toml $(LOCK)
	@echo "specsweep: installing into $(VENV) with the tested versions of $(LOCK) (the first time takes a few minutes; log: $(VENV)/install.log)"
	$(call venv_install,$(VENV),-c $(LOCK))
	@touch $(STAMP)
	@$(BIN)/python -c "import torch, timm, optuna, mlflow; print(f'specsweep: installed (torch {torch.__version__}, timm {timm.__version__}, optuna {optuna.__version__}, mlflow {mlflow.__version__})')"

# Regenerate requirements.lock from the newest releases pyproject.toml allows, in a scratch venv;
# then `make test test-slow` installs it and runs the suites on it (commit the lock once they pass).
lock:
	@rm -rf .venv-lock
	@echo "specsweep: resolving the newest allowed versions in .venv-lock (log: .venv-lock/install.log)"
	$(call venv_install,.venv-lock,)
	@.venv-lock/bin/python -m pip install $(PIP_QUIET) -e '.[docs]' >> .venv-lock/install.log 2>&1
	@{ echo "# specsweep's tested dependency set: a pip constraints file applied by \`make install\`."; \
	   echo "# Made by \`make lock\` on $$(date -u +%Y-%m-%d) ($$(.venv-lock/bin/python -c 'import platform; print(platform.python_version(), platform.machine())')); the ranges are in pyproject.toml."; \
	   .venv-lock/bin/python -m pip freeze --exclude-editable --exclude specsweep | sed -E 's/^(torch|torchvision)==([^+]*)\+.*/\1==\2/'; } > $(LOCK)
	@rm -rf .venv-lock
	@echo "specsweep: wrote $(LOCK) ($$(grep -c '==' $(LOCK)) pins); run 'make test test-slow' to install and check it"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The fast suite on the newest releases the ranges in pyproject.toml allow (no lock), in a fresh
# venv: the next breaking upstream release fails here (CI runs it) before it fails a user.
test-latest:
	@rm -rf $(LATEST)
	@echo "specsweep: installing the newest allowed versions into $(LATEST) (log: $(LATEST)/install.log)"
	$(call venv_install,$(LATEST),)
	@$(LATEST)/bin/python -c "import torch, torchvision, timm, optuna, mlflow; print('specsweep: newest allowed:', *(f'{m.__name__} {m.__version__}' for m in (torch, torchvision, timm, optuna, mlflow)))"
	SPECSWEEP_UNLOCKED=1 $(LATEST)/bin/python -m pytest -q -p no:cacheprovider

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The GPU checks (frontend on CUDA, a trial with bf16 autocast, channels_last and torch.compile):
# run them on a machine with a CUDA device; elsewhere they are skipped.
test-cuda: $(STAMP)
	$(BIN)/python -m pytest -q -m cuda

# The wheels `make gpu-check` needs on a GPU machine without internet (MLflow, Optuna, soxr,
# soundfile... for CPython 3.12 manylinux x86_64, the lock's versions; what the GPU image lacks):
# into .whl/ with its list .whl/wheels.txt; fails past 60 MiB. Run where pip can download.
device-wheels: $(STAMP)
	$(BIN)/python benchmarks/device_wheels.py --dest .whl

# The device check (docs/gpus.md): on a GPU machine with the repository and .whl/ copied over,
# no venv and no network needed (the machine's own Python and torch). Results: $(GPU_CHECK_OUT).
# `make gpu-check GPU_CHECK_ARGS=--dry-run` runs every step tiny on the CPU.
GPU_CHECK_OUT ?= .gpu-check
gpu-check:
	$(PYTHON) benchmarks/gpu_check.py --out $(GPU_CHECK_OUT) --wheels .whl $(GPU_CHECK_ARGS)

# Multi-node tests with real servers (a private PostgreSQL, installed with apt when missing; an
# MLflow server; two supervisors): CI runs them on their own.
test-multinode: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/servers

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

# A team MLflow tracking server on 127.0.0.1:5000 (see docs/multinode.md); e.g.
# make server SERVER_ARGS="--host 0.0.0.0 --port 5001"
server: $(STAMP)
	$(BIN)/specsweep server $(SERVER_ARGS)

# The user guide (docs/, mkdocs.yml) as a site in site/, with the API reference from the
# docstrings; offline, and strict: a broken link, a page left out of the nav or a reference that
# does not resolve fails (CI runs it). Open site/index.html. The docs extra is installed once.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "specsweep: the guide is in site/ (open site/index.html)"

$(DOCS_STAMP): $(STAMP)
	@$(BIN)/python -m pip install $(PIP_QUIET) -c $(LOCK) -e '.[docs]' >> $(VENV)/install.log 2>&1 \
		|| { tail -30 $(VENV)/install.log; echo "specsweep: installing the docs extra failed; the log is $(VENV)/install.log"; exit 1; }
	@touch $(DOCS_STAMP)

clean:
	rm -rf $(VENV) $(LATEST) .venv-lock build site *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

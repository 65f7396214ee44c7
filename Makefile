# Two commands do all set-up on a fresh Debian 12 machine: `make demo` and `make test`.
# Both bootstrap (apt packages, venv, Python packages) once: about 2 minutes on a fresh machine, each
# step announced with its expected duration (docs/install.md); the stamp makes later runs start in seconds.
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.uqgan-bootstrapped
PYTEST_ARGS ?=

.PHONY: all bootstrap demo test test-all bench lint clean

all: test

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh
	VENV=$(VENV) scripts/bootstrap.sh
	@touch $@

bootstrap: $(STAMP)

## demo: run the main job on the built-in default case (about 8-20 minutes on 2 cores), then the
## spine on the 3-D example case simulations/plate3d_hole (a few minutes; ParaView files of one run)
demo: $(STAMP)
	@echo "[make] demo: full model, a small campaign, then the whole spine at demo size and the 3-D spine (8-20 min on 2 cores: 8 min measured from a clean clone with one other job running, 18 min on a busy machine)"
	$(PY) pipelines/demo.py
	$(PY) pipelines/spine.py
	$(PY) pipelines/spine_3d.py

## test: the default (fast) suite, < 15 min on 2 cores
test: $(STAMP)
	@echo "[make] test: the default suite (about 2 min on 2 cores; slow tests: make test-all)"
	$(PY) -m pytest $(PYTEST_ARGS)

## test-all: everything, slow verification tests included
test-all: $(STAMP)
	$(PY) -m pytest -m "" $(PYTEST_ARGS)

## bench: benchmarks (table on stdout, JSON in benchmarks/results/)
bench: $(STAMP)
	$(PY) benchmarks/run.py

lint: $(STAMP)
	$(PY) -m ruff check uqgan tests benchmarks pipelines

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info

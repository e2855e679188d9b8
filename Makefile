# Every target bootstraps its own environment: the first one that needs it creates .venv
# and installs the project (editable, with dev extras). The stamp depends on pyproject.toml,
# so a second run installs nothing unless the dependencies changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help test lint clean chaos images

help: ## show this help
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> bootstrapping $(VENV) (project + dev extras)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# make chaos [SCENARIO=file] [TOPOLOGY=file] [TAGS=default] [PROFILE=normal|fragile] [TIME_SCALE=floor]
#            [WORKERS=0] [BASE_PORT=18000] (two people on one host: each their own port block)
#            [STACK=default|real] (real: the catalog on PostgreSQL, installed first if missing)
SCENARIO   ?= scenarios
TAGS       ?= default
# floor: each scenario at its min_time_scale, the shortest timeline whose verdict CI checks
TIME_SCALE ?= floor
WORKERS    ?= 0
BACKEND    ?= local
STACK      ?= default
chaos: $(STAMP) ## run the default scenario suite (BACKEND=local processes, or docker containers)
	$(if $(filter docker,$(BACKEND)),@PY=$(BIN)/python images/build.sh,)
	$(if $(filter real,$(STACK)),$(if $(filter docker,$(BACKEND)),,@scripts/system-deps.sh postgresql nginx redis),)
	$(BIN)/harness run $(SCENARIO) --tags '$(TAGS)' --time-scale $(TIME_SCALE) --workers $(WORKERS) \
	  --backend $(BACKEND) $(if $(PROFILE),--profile $(PROFILE),) $(if $(TOPOLOGY),--topology $(TOPOLOGY),) \
	  $(if $(BASE_PORT),--base-port $(BASE_PORT),) $(if $(FAIL_FAST),--fail-fast,) \
	  $(if $(DEFECT),--defect $(DEFECT),) --stack $(STACK)

images: $(STAMP) ## build the docker backend's images locally (no registry needed)
	@PY=$(BIN)/python images/build.sh

# TEST_JOBS: pytest-xdist workers, each taking whole files (a module's shared platform, the
# docker tests' images); 0: every test in this process, in order
TEST_JOBS ?= 3
test: $(STAMP) ## run the test suite (unit, integration, e2e) on TEST_JOBS workers
	@scripts/system-deps.sh
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check + ruff format --check + mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean: ## remove the venv, caches and reports
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports build .test-artifacts *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Fieldcast: `make run` opens the app, `make test` runs every test. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fieldcast-setup

.PHONY: setup run test lint format package clean

setup: $(STAMP)

# Re-runs only when the pins or the project metadata change, so `make setup` is cheap and idempotent.
$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt
	# the-well (used by a test proving Well compatibility) pins an old fsspec it does not need to read files.
	$(BIN)/python -m pip install --quiet --no-deps the-well==1.2.0
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

run: setup
	$(BIN)/fieldcast

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/python -m pytest

# Linux bundles (Player, Studio) and their .deb packages, each built in its own environment under build/.
package:
	bash packaging/build_linux.sh

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info

# adaptive-lti: `make run` (try it) and `make test` (the whole suite). See README.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
export ADAPTIVE_LTI_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test install install-dev lint migrate clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned to the local CPU wheel first, so the project's range never pulls a CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0 -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/adaptive-lti db upgrade

run: install
	$(BIN)/adaptive-lti db upgrade
	$(BIN)/adaptive-lti dev --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

# After editing texts: extract, merge into the catalogs, translate the new entries in the .po, run it again.
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k plural_forms:1,2 -o lti_tool/translations/messages.pot --no-location \
		--sort-output lti_tool
	$(BIN)/pybabel update --no-wrap --no-fuzzy-matching -i lti_tool/translations/messages.pot -d lti_tool/translations
	$(BIN)/pybabel compile -d lti_tool/translations

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache

# Two commands do all the set-up on a fresh machine (Python 3.11+, Java 17+ and Maven present):
#   make demo   - the main job on the local engine
#   make test   - lint and the whole test suite against a real local OpenSearch
# Each installs what it needs, once: the virtual environment with the package, and the engine's jars.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JARS   := engine/target/classpath.txt

.PHONY: install jars demo test lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mlsiem needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

jars: $(JARS)

$(JARS): $(STAMP) engine/pom.xml $(shell find engine/src -name '*.java')
	$(BIN)/python -c 'from mlsiem.local_engine import resolve_classpath; resolve_classpath()'

demo: install jars
	$(BIN)/mlsiem demo

lint: install
	$(BIN)/ruff check .

test: install jars lint
	$(BIN)/python -m pytest -q

format: install
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) engine/target .pytest_cache .ruff_cache

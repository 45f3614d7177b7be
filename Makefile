# Two commands do all the set-up on a fresh machine (Python 3.11+, Java 17+ and Maven present):
#   make demo   - the main job on the local engine
#   make test   - lint and the whole test suite against a real local OpenSearch
# Each installs what it needs, once: the virtual environment with the package, and the engine's jars.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The checkout keeps its state (engine data, shipper registry) in a project-local folder; an installed
# mlsiem uses the user's ($XDG_STATE_HOME/mlsiem). An MLSIEM_HOME from the environment wins.
export MLSIEM_HOME ?= $(CURDIR)/.mlsiem

.PHONY: install jars nginx demo test test-fast lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mlsiem needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The engine's launcher and classpath are built under the user cache ($XDG_CACHE_HOME/mlsiem/engine/<hash
# of pom + sources>), shared by checkouts of the same engine project; a no-op when that build exists.
jars: $(STAMP)
	$(BIN)/python -c 'from mlsiem.local_engine import resolve_classpath; resolve_classpath()'

# nginx is the TLS + basic-auth proxy that tests/test_tls_auth.py puts in front of the local engine.
# Installed from the Debian package when missing (as root, else through sudo). The package would start
# its own service on port 80: a policy-rc.d that answers 101 ("action forbidden") keeps every init
# system from starting it during the install (Docker images already carry one; a temporary one is
# removed afterwards). The tests run their own nginx with their own configuration under a temp dir.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  set -e; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "make: nginx is needed by the TLS tests: run as root, install sudo, or install nginx yourself" >&2; exit 1; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "make: nginx is missing and apt-get is not available: install nginx yourself" >&2; exit 1; }; \
	  guard=; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $$sudo tee /usr/sbin/policy-rc.d >/dev/null; \
	    $$sudo chmod 755 /usr/sbin/policy-rc.d; guard=1; \
	  fi; \
	  status=0; \
	  { $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends nginx; } || status=$$?; \
	  if [ -n "$$guard" ]; then $$sudo rm -f /usr/sbin/policy-rc.d; fi; \
	  [ "$$status" = 0 ] || { echo "make: installing nginx failed (exit $$status)" >&2; exit $$status; }; \
	}

demo: install jars
	$(BIN)/mlsiem demo

lint: install
	$(BIN)/ruff check .

test: install jars nginx lint
	$(BIN)/python -m pytest -q

# The quick loop while developing: lint and every test that needs no engine. Tests that need one carry
# the `engine` marker (tests/conftest.py marks them), so no engine starts here; CI runs `make test`.
test-fast: install lint
	$(BIN)/python -m pytest -q -m "not engine"

format: install
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

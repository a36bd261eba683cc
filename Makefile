# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYNAPSE_VENV := .venv-synapse
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run reset test install install-test synapse browser lint bench clean systemd

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[matrix,discord,http,web]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[matrix,discord,http,web,test]'
	touch $(VENV)/.installed $@

# Synapse lives in its own virtualenv: it is a test peer, not one of our dependencies.
$(SYNAPSE_VENV)/.installed:
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip install -q --upgrade pip
	$(SYNAPSE_VENV)/bin/python -m pip install -q 'matrix-synapse>=1.100'
	touch $@

# The board's browser tests drive Debian's chromium through Playwright (never a downloaded
# browser). Installed only when missing; needs root (or sudo) the first time.
browser:
	@test -x /usr/bin/chromium || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver)

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
synapse: $(SYNAPSE_VENV)/.installed

run: install
	$(BIN)/commons-bot console --config config/example.yaml

# Start the console over: the old database is kept as commons.sqlite3.old.
reset: install
	$(BIN)/commons-bot console --fresh --config config/example.yaml </dev/null

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The tests verify deploy/commons-bot.service with systemd-analyze (Debian's systemd).
systemd:
	@command -v systemd-analyze >/dev/null || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends systemd)

test: install-test synapse systemd browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	SYNAPSE_PYTHON=$(CURDIR)/$(SYNAPSE_VENV)/bin/python $(BIN)/python -m pytest -q

bench: install-test synapse
	$(BIN)/python bench/core.py

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) .pytest_cache .hypothesis

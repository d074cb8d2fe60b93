# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test stress lint
run: $(VENV)/.installed
	$(PY) -m bot

test: lint node_modules/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

stress: $(VENV)/.installed
	$(PY) -m pytest -m 'stress or scale' $(PYTEST_ARGS)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# anvil (a real Ethereum node) for the chain tests; they skip when npm is missing.
node_modules/.installed: package.json package-lock.json
	# npm install, not npm ci: npm 11 leaves other platforms' optional anvil binaries out of the lock file
	if command -v npm >/dev/null; then npm install --no-audit --no-fund --loglevel=error; fi
	mkdir -p node_modules && touch $@

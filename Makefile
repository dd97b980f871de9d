# Two commands: `make run` serves the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# The browser tests drive Debian's Chromium (Playwright cannot download a browser here) and
# inject axe-core from npm.
CHROMIUM := /usr/bin/chromium
AXE := node_modules/axe-core/axe.min.js

.PHONY: run test install db clean translations messages

# Links in emails point at the server make run starts, unless BASE_URL says otherwise.
run: export BASE_URL ?= http://$(HOST):$(PORT)

# The virtual environment is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Bytecode written ahead (even where PYTHONDONTWRITEBYTECODE is set, as on these machines):
# without it every `flask` command compiles the package again, half a second of each start.
db: install translations
	$(BIN)/python -m compileall -q lms
	$(FLASK) db upgrade
	$(FLASK) lms demo --if-empty

run: db
	LMS_RUN_SCHEDULER=1 $(FLASK) run --host $(HOST) --port $(PORT)

# The import contracts first (pyproject.toml, [tool.importlinter]); then the suite, on SQLite,
# and on PostgreSQL too when a server answers on 127.0.0.1:5432.
test: install translations $(CHROMIUM) $(AXE)
	$(BIN)/lint-imports
	@if $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1).close()" 2>/dev/null; then \
		echo "PostgreSQL found on 127.0.0.1:5432: the suite runs on SQLite and PostgreSQL."; \
		TEST_DATABASE_URL=$${TEST_DATABASE_URL:-$(PG_TEST_URL)} $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
		echo "No PostgreSQL on 127.0.0.1:5432: the suite runs on SQLite only."; \
		$(BIN)/python -m pytest $(PYTEST_ARGS); \
	fi

$(CHROMIUM):
	$$([ "$$(id -u)" -eq 0 ] || echo sudo) apt-get update -qq
	$$([ "$$(id -u)" -eq 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) instance .pytest_cache .import_linter_cache node_modules

# Translations: the .po catalogs are the source; the .mo files are built from them.
CATALOGS := $(wildcard lms/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(COMPILED)

# After changing texts: re-extract them and merge the new ones into every catalog to translate.
messages: install
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location -o build/messages.pot .
	$(BIN)/pybabel update -i build/messages.pot -d lms/translations --ignore-obsolete --width 100

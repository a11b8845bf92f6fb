# Grid governance command dashboard. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
PORT ?= 8501
# Pid and log files live in the data folder: GRIDGOV_DATA_DIR when set (outside the checkout), else var/.
RUN := $(or $(GRIDGOV_DATA_DIR),var)
# ADDRESS (default 127.0.0.1) is read by scripts/serve.sh: ADDRESS=0.0.0.0 make run opens the app
# to the network; see README (Security) before doing that.

.PHONY: run serve test lint stop deps db sample bench clean-db start intake

run: deps db sample intake serve

# The Open311 intake service (INTAKE_PORT, default 8502) in the background; returns once it answers.
intake:
	@scripts/serve-intake.sh --background

# Database, app and intake service in the background; returns once all answer.
start: deps db sample intake
	@mkdir -p "$(RUN)"
	@if ! { [ -f $(RUN)/streamlit.pid ] && kill -0 $$(cat $(RUN)/streamlit.pid) 2>/dev/null; }; then \
	  PIDFILE=$(RUN)/streamlit.pid nohup scripts/serve.sh $(PORT) >> $(RUN)/streamlit.log 2>&1 & fi
	@scripts/wait-http.sh http://127.0.0.1:$(PORT)/_stcore/health 90 app
	@echo ">> app on http://localhost:$(PORT)"

deps:
	@scripts/bootstrap.sh run

db:
	@$(PY) manage.py db-up
	@$(PY) manage.py migrate

# The sample goes only into the project's own cluster (a DATABASE_URL database only when asked:
# manage.py load-sample --into-shared-database); it prints the sample accounts' login hint.
sample:
	@if [ -n "$$DATABASE_URL" ]; then \
	  echo ">> DATABASE_URL is set: no sample loaded there (manage.py load-sample --into-shared-database asks for it)"; \
	else $(PY) manage.py load-sample --if-empty; fi

serve:
	@scripts/serve.sh $(PORT)

test:
	@scripts/bootstrap.sh test
	@$(MAKE) --no-print-directory lint
	@$(PY) manage.py db-up --test
	@$(PY) manage.py migrate --test
	@$(PY) -m pytest -q tests

# Lint and the import layers (pyproject.toml; docs/architecture.md). Needs .venv: `make test` makes it.
lint:
	@.venv/bin/ruff check .
	@.venv/bin/lint-imports

bench: deps db
	@$(PY) manage.py bench join --points 1000000
	@$(PY) manage.py bench report

stop:
	@if [ -f $(RUN)/intake.pid ] && kill -0 $$(cat $(RUN)/intake.pid) 2>/dev/null; then \
	  kill $$(cat $(RUN)/intake.pid) && echo "intake service stopped"; fi; rm -f $(RUN)/intake.pid
	@if [ -f $(RUN)/streamlit.pid ] && kill -0 $$(cat $(RUN)/streamlit.pid) 2>/dev/null; then \
	  kill $$(cat $(RUN)/streamlit.pid) && echo "app stopped"; fi; rm -f $(RUN)/streamlit.pid
	@if [ -x $(PY) ]; then $(PY) manage.py db-down; fi

# Drops the local cluster and everything in it (asks first).
clean-db: stop
	@read -p "Delete the local database cluster and all its data? [y/N] " a && [ "$$a" = y ] && \
	  rm -rf "$$(cat var/pg-datadir)" var/pg-datadir var/pg-password var/pg-app-password && echo "removed"

#!/usr/bin/env bash
# Serves the Open311 intake service (intake/, FastAPI + uvicorn) on INTAKE_PORT (default 8502),
# listening on ADDRESS (default 127.0.0.1). In the foreground by default; with --background it
# detaches and returns once the service answers. `make stop` stops it. Its pid and log files
# (intake.pid, intake.log) go in the data folder: $GRIDGOV_DATA_DIR when set, else var/.
# Started as root, it runs as the service user, like the app (scripts/as-service-user.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${INTAKE_PORT:-8502}"
address="${ADDRESS:-127.0.0.1}"
workers="${INTAKE_WORKERS:-$(nproc)}"  # default: one uvicorn worker per CPU (the state is in the database)
run="${GRIDGOV_DATA_DIR:-var}"  # the data folder (pid and log files), as in the Makefile
mkdir -p "$run"
cmd=(scripts/as-service-user.sh .venv/bin/python -m uvicorn --factory intake.app:create_app --host "$address" --port "$port"
     --workers "$workers" --log-level warning --no-access-log)

if [ "${1:-}" != "--background" ]; then
  echo $$ > "$run/intake.pid"
  echo ">> intake service on http://localhost:${port}/open311/v2/  (make stop to stop)"
  exec "${cmd[@]}"
fi

if [ -f "$run/intake.pid" ] && kill -0 "$(cat "$run/intake.pid")" 2>/dev/null; then
  echo ">> intake service already running (pid $(cat "$run/intake.pid"))"
else
  nohup "${cmd[@]}" >> "$run/intake.log" 2>&1 &
  echo $! > "$run/intake.pid"
fi
scripts/wait-http.sh "http://127.0.0.1:${port}/healthz" 60 "intake service"
echo ">> intake service on http://localhost:${port}/open311/v2/"

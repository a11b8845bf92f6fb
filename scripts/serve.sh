#!/usr/bin/env bash
# Serves the Streamlit app in the foreground; `make stop` (another shell) stops it.
#
# Listens on 127.0.0.1 (this machine only) unless ADDRESS says otherwise: ADDRESS=0.0.0.0 opens it
# to the network over plain HTTP, so only do that behind a firewall, with TLS in front
# (docs/deploy.md). Started as root, the app runs as the service user (scripts/as-service-user.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8501}"
address="${ADDRESS:-127.0.0.1}"
run="${GRIDGOV_DATA_DIR:-var}"  # the data folder (pid file), as in the Makefile
mkdir -p "$run"
pidfile="${PIDFILE:-$run/streamlit.pid}"
echo $$ > "$pidfile"  # exec below keeps this process id, whichever user it ends up as
case "$address" in
  127.*|localhost|::1)
    echo ">> serving on http://localhost:${port}  (this machine only; make stop to stop)" ;;
  *)
    echo ">> serving on http://${address}:${port}  (make stop to stop)"
    echo ">> warning: ADDRESS=${address} opens the app to the network over plain HTTP: put TLS in front" \
         "(a reverse proxy, docs/deploy.md), allow only your networks in the firewall, and make sure" \
         "no sample account is active (docs/security.md)" ;;
esac
exec scripts/as-service-user.sh .venv/bin/python -m streamlit run app.py --server.port "$port" \
  --server.address "$address" --server.headless true --browser.gatherUsageStats false

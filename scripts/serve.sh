#!/usr/bin/env bash
# Serves the Streamlit app in the foreground; `make stop` (another shell) stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8501}"
mkdir -p var
echo $$ > var/streamlit.pid
echo ">> serving on http://localhost:${port}  (make stop to stop)"
exec .venv/bin/python -m streamlit run app.py --server.port "$port" --server.headless true

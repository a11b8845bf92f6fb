#!/usr/bin/env bash
# wait-http.sh URL SECONDS [NAME]: returns once URL answers 200, or fails after SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
url="$1"; limit="${2:-60}"; name="${3:-$1}"
.venv/bin/python - "$url" "$limit" "$name" <<'PY'
import sys, time, urllib.request
url, limit, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + limit
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"{name} did not answer at {url} within {limit:g} s")
    time.sleep(0.3)
PY

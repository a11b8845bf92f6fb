#!/usr/bin/env bash
# Installs what the project needs and is missing: Debian packages (PostgreSQL 15 + PostGIS 3,
# and for tests Chromium), then the virtual environment from requirements.txt.
# Usage: scripts/bootstrap.sh [run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if [ -z "${DATABASE_URL:-}" ]; then
  have_pkg postgresql-15 || need_pkgs+=(postgresql-15)
  have_pkg postgresql-15-postgis-3 || need_pkgs+=(postgresql-15-postgis-3)
  # pg_cron: scheduled boundary changes applied by the database (db/cluster.py preloads it)
  have_pkg postgresql-15-cron || need_pkgs+=(postgresql-15-cron)
fi
if [ "$mode" = test ]; then
  have_pkg chromium || need_pkgs+=(chromium)
  # CJK glyphs for the headless browser tests' screenshots
  have_pkg fonts-wqy-zenhei || need_pkgs+=(fonts-wqy-zenhei)
fi
# The virtualenv is made from Debian's Python where there is one: the app runs as an unprivileged
# service user (scripts/as-service-user.sh), who cannot reach an interpreter kept under /root
# (pyenv's, for one). PYTHON=... picks another.
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON="$(command -v python3)"; fi
fi
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "Missing packages: ${need_pkgs[*]}." >&2
    echo "Install them (Debian: apt-get install ${need_pkgs[*]}) or run as root on Debian 12," >&2
    echo "or set DATABASE_URL to an existing PostGIS 3 server." >&2
    exit 2
  fi
  echo ">> installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

stamp=.venv/.requirements.sha
want=$( (cat requirements.txt; readlink -f "$PYTHON") | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo ">> creating virtual environment .venv from requirements.txt with $PYTHON"
  if [ -x .venv/bin/python ] && [ "$(readlink -f .venv/bin/python)" != "$(readlink -f "$PYTHON")" ]; then
    rm -rf .venv  # made from another interpreter: start again
  fi
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

# The planner's map editor (ui/grid_editor): Leaflet and Terra Draw from the npm registry at the
# exact versions of web/package-lock.json, their browser builds copied to ui/grid_editor/frontend/vendor/
# (both git-ignored) and served with the component by the app itself: nothing is fetched from a CDN at run time.
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo ">> installing Debian packages: nodejs npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "Missing npm (for the planner's map editor): apt-get install nodejs npm" >&2
    exit 2
  fi
fi
# (The wall's map, ui/wall_map, needs no library since session 10: its deck.gl copy is removed.)
vendor=ui/grid_editor/frontend/vendor
rm -rf ui/wall_map/frontend/vendor
web_stamp=web/node_modules/.lock.sha
web_want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$web_stamp" 2>/dev/null)" != "$web_want" ] || [ ! -f "$vendor/terra-draw.umd.js" ]; then
  echo ">> installing the map editor's browser libraries (npm ci in web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  rm -rf "$vendor" && mkdir -p "$vendor/images"
  cp web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css "$vendor/"
  cp web/node_modules/leaflet/dist/images/* "$vendor/images/"
  cp web/node_modules/terra-draw/dist/terra-draw.umd.js "$vendor/"
  cp web/node_modules/terra-draw-leaflet-adapter/dist/terra-draw-leaflet-adapter.umd.js "$vendor/"
  echo "$web_want" > "$web_stamp"
fi

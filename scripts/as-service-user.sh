#!/usr/bin/env bash
# Runs CMD [ARGS...] as the unprivileged service user when started as root; as the caller otherwise.
#
#   scripts/as-service-user.sh .venv/bin/python -m streamlit run app.py ...
#
# As root it
#   - creates the system user $GRIDGOV_SERVICE_USER (default gridgov) if missing: no login shell,
#     no home directory, its own group;
#   - hands it what the services write: var/photos (or $GRIDGOV_PHOTO_DIR), static/wall (the map
#     wall's outline files) and var/service-home (Streamlit's ~/.streamlit), and nothing else;
#   - makes the secrets the services read (var/pg-app-password: the application's database role,
#     .streamlit/secrets.toml) owned by it, mode 0600 (root still reads them; nobody else does).
#     var/pg-password (the database owner's, for migrations) and var/sample-password stay root's;
#   - replaces itself with CMD under that user (setpriv: no capabilities, no new privileges),
#     keeping the environment and the process id (so var/streamlit.pid stays right).
# The var/ paths above are in the data folder: $GRIDGOV_DATA_DIR when set.
# The local PostgreSQL cluster already runs as the `postgres` user (db/cluster.py).
# GRIDGOV_SERVICE_USER=root runs CMD as root after all (a deliberate choice; it says so).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  exec "$@"
fi

user="${GRIDGOV_SERVICE_USER:-gridgov}"
if [ "$user" = root ]; then
  echo ">> warning: GRIDGOV_SERVICE_USER=root: running $1 as root" >&2
  exec "$@"
fi
if ! id -u "$user" >/dev/null 2>&1; then
  nologin="$(command -v nologin || echo /usr/sbin/nologin)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell "$nologin" "$user"
  echo ">> created the system user $user (no login, no home) for the services" >&2  # stdout is the command's
fi

# The checkout and the command (through every symlink: a virtualenv made from a Python under
# /root, e.g. pyenv's, is out of its reach) must be readable by the service user.
cmd="$(command -v "$1" || echo "$1")"
if ! setpriv --reuid="$user" --regid="$user" --clear-groups test -r app.py -a -x "$cmd"; then
  echo "error: the service user $user cannot read $(pwd) or run $cmd ($(readlink -f "$cmd"))." >&2
  echo "  Give it read access to the checkout, and make .venv from a Python it can run" >&2
  echo "  (rm -rf .venv && /usr/bin/python3 -m venv .venv && .venv/bin/pip install -r requirements.txt)," >&2
  echo "  or run as root knowingly: GRIDGOV_SERVICE_USER=root" >&2
  exit 1
fi

data="${GRIDGOV_DATA_DIR:-var}"  # the data folder (db/config.py VAR)
mkdir -p "$data" static/wall "$data/service-home" "${GRIDGOV_PHOTO_DIR:-$data/photos}"
chown -R "$user:$user" static/wall "$data/service-home" "${GRIDGOV_PHOTO_DIR:-$data/photos}"
chmod 0700 "$data/service-home"
for secret in "$data/pg-app-password" .streamlit/secrets.toml; do
  if [ -f "$secret" ]; then
    chown "$user:$user" "$secret"
    chmod 0600 "$secret"
  fi
done
# the owner's password is not the service's (a checkout from before the two roles handed it over)
if [ -f "$data/pg-password" ]; then chown root:root "$data/pg-password"; chmod 0600 "$data/pg-password"; fi

export HOME="$(cd "$data" && pwd)/service-home" USER="$user" LOGNAME="$user" PYTHONDONTWRITEBYTECODE=1
exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
  --inh-caps=-all --bounding-set=-all -- "$@"

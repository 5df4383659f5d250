# Sourced by .ci/run and usable by hand: `source .ci/postgres.sh && start_postgres`.
# Installs PostgreSQL with apt if no server is present (sudo only for that, when not root), starts a
# private cluster in a fresh temporary folder on a free 127.0.0.1 port and exports
# LAUNCHBOT_TEST_PG_URL for the test suite; stop_postgres stops it and removes the folder.

_pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)" && return 0
  return 1
}

_as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"; else sudo "$@"; fi
}

_as_pg() {
  # initdb and postgres refuse to run as root; any other user runs them as itself.
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_postgres() {
  local bin
  if ! bin=$(_pg_bin); then
    echo "PostgreSQL not found; installing it with apt"
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(_pg_bin)
  fi
  if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  fi
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/launchbot-pg.XXXXXX")
  PG_PORT=$(_free_port)
  [ "$(id -u)" = "0" ] && chown postgres "$PG_DIR"
  _as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
  _as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  export LAUNCHBOT_TEST_PG_URL="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/postgres"
  PG_BIN_DIR=$bin
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT in $PG_DIR"
}

stop_postgres() {
  if [ -n "${PG_BIN_DIR:-}" ] && [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    _as_pg "$PG_BIN_DIR/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -n "${PG_DIR:-}" ]; then rm -rf "$PG_DIR"; fi
}

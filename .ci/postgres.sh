# Sourced by .ci/run and usable by hand: `source .ci/postgres.sh && start_postgres`.
# Installs PostgreSQL with apt if no server is present, starts a private cluster on 127.0.0.1 and
# exports LAUNCHBOT_TEST_PG_URL for the test suite.
PG_PORT=${PG_PORT:-55432}
PG_DIR=${PG_DIR:-/tmp/launchbot-pg}

_pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)" && return 0
  return 1
}

_as_pg() {
  # initdb and postgres refuse to run as root.
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin
  if ! bin=$(_pg_bin); then
    echo "PostgreSQL not found; installing it with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    bin=$(_pg_bin)
  fi
  if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  fi
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then _as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = "0" ] && chown postgres "$PG_DIR"
  _as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
  _as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  export LAUNCHBOT_TEST_PG_URL="postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/postgres"
  PG_BIN_DIR=$bin
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
  if [ -n "${PG_BIN_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    _as_pg "$PG_BIN_DIR/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  fi
}

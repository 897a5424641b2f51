# Shared shell helpers for run.sh, test.sh and the benchmarks. Source, don't execute.
# Everything runs as root on Debian bookworm; the PostgreSQL server runs as `postgres`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
PACKAGES=(
  build-essential cmake make g++ pkg-config clang-format openssl
  postgresql-15 postgresql-server-dev-15 postgresql-15-partman postgresql-15-cron
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libpq-dev
  libgtest-dev libssl-dev nlohmann-json3-dev libpistache-dev libcpp-jwt-dev wrk curl
  libhpdf-dev poppler-utils iso-codes libicu-dev libphonenumber-dev
)

log() { printf '==> %s\n' "$*" >&2; }

# install_deps [PACKAGE...]: the project's packages and any given, with apt-get only when
# something is missing, so re-runs are fast and offline-safe.
install_deps() {
  local missing=() p
  for p in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# ext_version: the extension's current version, default_version of extension/coditect.control.
ext_version() {
  sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$ROOT/extension/coditect.control"
}

build_extension() {
  log "building and installing the extension"
  make -C "$ROOT" -j2 >/dev/null
  make -C "$ROOT" install >/dev/null
}

# cluster_init DATADIR PORT [SETTING...]: a private cluster's data directory, made once (initdb
# as postgres), listening on 127.0.0.1:PORT and on a socket inside DATADIR, with the given
# postgresql.conf lines; nothing when the directory holds a cluster already.
cluster_init() {
  local datadir=$1 port=$2
  shift 2
  mkdir -p "$datadir"
  chown postgres:postgres "$datadir"
  chmod 700 "$datadir"
  if [ -f "$datadir/PG_VERSION" ]; then return 0; fi
  runuser -u postgres -- "$PGBIN/initdb" -D "$datadir" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $port" "unix_socket_directories = '$datadir'" \
    "$@" >>"$datadir/postgresql.conf"
}

# cluster_start DATADIR PORT [CRON_DB]: initdb (once) and start a private cluster listening on
# 127.0.0.1:PORT and on a socket inside DATADIR. Sets PGHOST/PGPORT/PGUSER for psql.
# With CRON_DB, pg_cron is preloaded and schedules from database CRON_DB, its jobs connecting
# through that socket. Checked on every call, so a cluster made before gets it too (restarted
# once when the setting changes).
cluster_start() {
  local datadir=$1 port=$2 cron_db=${3:-} restart=
  cluster_init "$datadir" "$port" "max_connections = 200" "shared_buffers = 256MB"
  if [ -n "$cron_db" ]; then
    local cron_conf="shared_preload_libraries = 'pg_cron'
cron.database_name = '$cron_db'
cron.host = '$datadir'"
    if [ "$(cat "$datadir/coditect-cron.conf" 2>/dev/null)" != "$cron_conf" ]; then
      printf '%s\n' "$cron_conf" >"$datadir/coditect-cron.conf"
      chown postgres:postgres "$datadir/coditect-cron.conf"
      restart=1
    fi
    grep -qx "include_if_exists = 'coditect-cron.conf'" "$datadir/postgresql.conf" ||
      echo "include_if_exists = 'coditect-cron.conf'" >>"$datadir/postgresql.conf"
  fi
  if ! runuser -u postgres -- "$PGBIN/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w start >/dev/null
  elif [ -n "$restart" ]; then
    log "restarting the cluster in $datadir to load pg_cron"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$datadir" -l "$datadir/server.log" -m fast -w restart >/dev/null
  fi
  export PGHOST=$datadir PGPORT=$port PGUSER=postgres
}

cluster_stop() {
  local datadir=$1
  if [ -f "$datadir/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

# create_database NAME: a database with the extension installed (pg_partman in its own schema).
create_database() {
  local db=$1
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\""
  psql -X -q -d "$db" -v ON_ERROR_STOP=1 <<'SQL'
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;
CREATE EXTENSION coditect CASCADE;
SQL
}

# setup_maintenance DB: pg_cron in DB (the CRON_DB given to cluster_start) and the extension's
# maintenance jobs registered there; a re-run replaces the jobs, it adds none.
setup_maintenance() {
  local db=$1
  psql -X -q -d "$db" -v ON_ERROR_STOP=1 -o /dev/null -c "SET client_min_messages = warning" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "SELECT * FROM coditect.schedule_maintenance()"
}

# setup_signing_key DATADIR DB: an Ed25519 license signing key for the cluster (made once, kept
# in DATADIR), named in the superuser-only settings and published in database DB.
setup_signing_key() {
  local datadir=$1 db=$2 key=$1/license-signing.pem
  if [ ! -f "$key" ]; then
    openssl genpkey -algorithm ed25519 -out "$key" 2>/dev/null
    chown postgres:postgres "$key"
    chmod 600 "$key"
  fi
  local kid
  kid="k-$(openssl pkey -in "$key" -pubout -outform DER 2>/dev/null | sha256sum | cut -c1-12)"
  # PostgreSQL 15 only accepts ALTER SYSTEM for settings it knows: load the library first.
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "LOAD 'coditect'" \
    -c "ALTER SYSTEM SET coditect.license_signing_key_file = '$key'" \
    -c "ALTER SYSTEM SET coditect.license_signing_key_id = '$kid'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 50); do
    [ "$(psql -X -qtA -d "$db" -c "SELECT current_setting('coditect.license_signing_key_id', true)")" = "$kid" ] && break
    sleep 0.1
  done
  psql -X -q -d "$db" -v ON_ERROR_STOP=1 -c "SELECT coditect.publish_license_signing_key()" >/dev/null
}

# ensure_login NAME GROUP: a login role NAME in group role GROUP (made once; trust auth locally).
ensure_login() {
  psql -X -q -d postgres -v ON_ERROR_STOP=1 \
    -c "DO \$\$ BEGIN CREATE ROLE $1 LOGIN IN ROLE $2; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$"
}

# worker_start PIDFILE LOGFILE: starts coditect-worker (built in $ROOT/build) in the background
# with the CODITECT_WORKER_* environment, after stopping the one PIDFILE names if it still runs
# (a re-run replaces it, never adds a second); the new pid goes to PIDFILE.
worker_start() {
  local pidfile=$1 logfile=$2
  worker_stop "$pidfile"
  "$ROOT/build/coditect-worker" 2>>"$logfile" &
  echo $! >"$pidfile"
}

# worker_stop PIDFILE: SIGTERM to the worker PIDFILE names, if that process is a coditect-worker,
# and waits (at most 30 s) until it has finished the delivery in flight and exited.
worker_stop() {
  local pidfile=$1 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = coditect-worker ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
}

# free_port FROM: the first port from FROM to FROM+99 that nothing listens on (so that test runs
# side by side do not collide); non-zero when there is none.
free_port() {
  local p
  for p in $(seq "$1" $(($1 + 99))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# gateway_start DATADIR PORT DB LOGIN GW_PORT KEYS_DIR LOG: coditect-gateway (built in $ROOT/build)
# on 127.0.0.1:GW_PORT, connected as LOGIN to DB of the cluster in DATADIR (PORT), with a new HS256
# secret, the integration tests' keys (written to KEYS_DIR) and the limits the tests expect, its
# log in LOG; waits (at most 10 s) until /health/ answers. Sets GW_PORT, GW_PID, GW_SECRET and
# GW_KEYS for run_gateway_it; non-zero, the log shown, when the gateway exited.
gateway_start() {
  local datadir=$1 port=$2 db=$3 login=$4 log=$7
  GW_PORT=$5 GW_KEYS=$6
  GW_SECRET=$(openssl rand -hex 32)
  mkdir -p "$GW_KEYS"
  "$ROOT/build/coditect_gateway_it" --write-keys "$GW_KEYS" || return 1
  CODITECT_DATABASE_URL="host=$datadir port=$port dbname=$db user=$login" \
    CODITECT_LISTEN="127.0.0.1:$GW_PORT" CODITECT_JWT_SECRET="$GW_SECRET" \
    CODITECT_JWKS_FILE="$GW_KEYS/jwks.json" CODITECT_JWT_ISSUER=https://auth.coditect.test \
    CODITECT_JWT_AUDIENCE=coditect-it CODITECT_THREADS=4 CODITECT_MAX_REQUEST_BYTES=262144 \
    CODITECT_TIMEOUT_MS=3000 "$ROOT/build/coditect-gateway" 2>"$log" &
  GW_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$GW_PORT/health/" >/dev/null 2>&1 && break
    if ! kill -0 "$GW_PID" 2>/dev/null; then
      echo "the gateway did not start:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
}

# run_gateway_it DATADIR PORT DB GW_LOGIN WK_LOGIN WORKER_LOG [ARG...]: the gateway's integration
# tests (build/coditect_gateway_it, ARGs passed on) against the gateway of gateway_start: fixtures
# written as postgres into DB, the gateway's login GW_LOGIN, the outbox worker they start as
# WK_LOGIN (its log WORKER_LOG), the cluster in DATADIR stopped and started by the restart test.
run_gateway_it() {
  local datadir=$1 port=$2 db=$3 gw_login=$4 wk_login=$5 wk_log=$6
  shift 6
  CODITECT_IT_URL="http://127.0.0.1:$GW_PORT" CODITECT_IT_JWT_SECRET="$GW_SECRET" \
    CODITECT_IT_KEYS_DIR="$GW_KEYS" CODITECT_IT_JWT_ISSUER=https://auth.coditect.test \
    CODITECT_IT_JWT_AUDIENCE=coditect-it CODITECT_IT_MAX_REQUEST_BYTES=262144 CODITECT_IT_TIMEOUT_MS=3000 \
    CODITECT_IT_DATABASE_URL="host=$datadir port=$port dbname=$db user=postgres" \
    CODITECT_IT_GATEWAY_DATABASE_URL="host=$datadir port=$port dbname=$db user=$gw_login" \
    CODITECT_IT_PG_STOP="runuser -u postgres -- $PGBIN/pg_ctl -D $datadir -m fast -w stop >/dev/null" \
    CODITECT_IT_PG_START="runuser -u postgres -- $PGBIN/pg_ctl -D $datadir -l $datadir/server.log -w start >/dev/null" \
    CODITECT_IT_GATEWAY_PID="$GW_PID" \
    CODITECT_IT_WORKER_DATABASE_URL="host=$datadir port=$port dbname=$db user=$wk_login" \
    CODITECT_IT_WORKER_LOG="$wk_log" \
    "$ROOT/build/coditect_gateway_it" "$@"
}

# CITUS_GATE: 1 (the default) when the Citus suite gates: scripts/test.sh fails when
# scripts/test-citus.sh fails. CITUS_IT_GATE: 1 (the default) when a failing gateway integration
# test through the coordinator fails test-citus.sh; 0: reported only. CODITECT_CITUS_GATE and
# CODITECT_CITUS_IT_GATE (0/1) override them.
CITUS_GATE=${CODITECT_CITUS_GATE:-1}
CITUS_IT_GATE=${CODITECT_CITUS_IT_GATE:-1}

# citus_node_start DATADIR PORT DB [coordinator]: initdb (once) and start one Citus node (a
# private cluster like cluster_start's, Citus preloaded; pg_cron too on the coordinator, which
# runs the maintenance jobs), then DB made again with the citus extension.
citus_node_start() {
  local d=$1 p=$2 db=$3 role=${4:-worker} try preload=("shared_preload_libraries = 'citus'")
  if [ "$role" = coordinator ]; then
    preload=("shared_preload_libraries = 'citus,pg_cron'" "cron.database_name = '$db'" "cron.host = '$d'")
  fi
  # session_preload_libraries: hard deletes reach the workers only from sessions that loaded the
  # library at start (coditect.hard_delete, README: Running on Citus).
  cluster_init "$d" "$p" "max_connections = 300" "shared_buffers = 128MB" "max_prepared_transactions = 300" \
    "wal_level = logical" "session_preload_libraries = 'coditect'" "${preload[@]}"
  # The port may be busy for a while: just released, or the local end of some client's
  # connection (the ephemeral range includes it).
  for try in $(seq 10); do
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" status >/dev/null 2>&1 && break
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" -l "$d/server.log" -w start >/dev/null 2>&1 && break
    ((try < 10)) || { tail -3 "$d/server.log" >&2; return 1; }
    sleep 3
  done
  psql -X -q -h "$d" -p "$p" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\""
  psql -X -q -h "$d" -p "$p" -U postgres -d "$db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION citus"
}

# citus_cluster_start PORT DB COORDINATOR_DIR WORKER_DIR...: a coordinator on PORT and workers on
# the next ports, the workers added to it.
citus_cluster_start() {
  local port=$1 db=$2 c=$3 i=1 w
  shift 3
  citus_node_start "$c" "$port" "$db" coordinator
  psql -X -q -h "$c" -p "$port" -U postgres -d "$db" -v ON_ERROR_STOP=1 -o /dev/null \
    -c "SELECT citus_set_coordinator_host('127.0.0.1', $port)"
  for w in "$@"; do
    citus_node_start "$w" $((port + i)) "$db"
    psql -X -q -h "$c" -p "$port" -U postgres -d "$db" -v ON_ERROR_STOP=1 -o /dev/null \
      -c "SELECT citus_add_node('127.0.0.1', $((port + i)))"
    i=$((i + 1))
  done
}

citus_cluster_stop() {
  local d
  for d in "$@"; do cluster_stop "$d"; done
}

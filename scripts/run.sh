#!/usr/bin/env bash
# Sets everything up and runs the product: a PostgreSQL 15 cluster in ./.data/pg (port 5499 by
# default), the coditect extension installed in database `coditect`, a demo tenant, the maintenance
# jobs in pg_cron, the outbox's delivery worker (coditect-worker, in the background, log in
# .data/worker.log) and the REST gateway in the foreground on 127.0.0.1:8080 (HS256 secret kept in
# .data/gateway-hs256.secret). Ctrl-C stops both.
# Safe to re-run: the cluster and database are kept, the extension is updated in place, and a
# worker left by an earlier run is stopped before the new one starts.
source "$(dirname "$0")/lib.sh"

DATADIR=${CODITECT_DATA_DIR:-$ROOT/.data/pg}
PORT=${CODITECT_PG_PORT:-5499}
DB=${CODITECT_DB:-coditect}

install_deps
build_extension
cluster_start "$DATADIR" "$PORT" "$DB"

if ! psql -X -qtA -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  log "creating database $DB with the extension and a demo tenant"
  create_database "$DB"
  psql -X -q -d "$DB" -v ON_ERROR_STOP=1 <<'SQL'
SELECT coditect.create_tenant('Demo Inc', 'demo', 'ops@demo.test', 'owner@demo.test') AS t \gset
INSERT INTO coditect.projects (tenant_id, name, description)
VALUES ((:'t'::jsonb->>'tenant_id')::uuid, 'Website relaunch', 'Demo project'),
       ((:'t'::jsonb->>'tenant_id')::uuid, 'Mobile app', 'Demo project');
INSERT INTO coditect.teams (tenant_id, name) VALUES ((:'t'::jsonb->>'tenant_id')::uuid, 'Core');
SQL
fi
setup_signing_key "$DATADIR" "$DB"
# A database made by an older build lacks the function (the install script of 0.1.0 changed).
if [ "$(psql -X -qtA -d "$DB" -c "SELECT to_regprocedure('coditect.schedule_maintenance()') IS NOT NULL")" = t ]; then
  log "scheduling the maintenance jobs (pg_cron)"
  setup_maintenance "$DB"
else
  log "database $DB predates coditect.schedule_maintenance(): no maintenance scheduled (remove $DATADIR to start afresh)"
fi

log "building the gateway and the worker"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j2 --target coditect-gateway coditect-worker >/dev/null
ensure_login coditect_gw coditect_gateway
ensure_login coditect_wk coditect_worker
SECRET_FILE=$ROOT/.data/gateway-hs256.secret
mkdir -p "$ROOT/.data"  # CODITECT_DATA_DIR may put the cluster elsewhere
if [ ! -s "$SECRET_FILE" ]; then
  (umask 077 && openssl rand -hex 32 >"$SECRET_FILE")
fi
export CODITECT_JWT_SECRET
CODITECT_JWT_SECRET=$(cat "$SECRET_FILE")
export CODITECT_DATABASE_URL="host=$DATADIR port=$PORT dbname=$DB user=coditect_gw"
export CODITECT_LISTEN=${CODITECT_LISTEN:-127.0.0.1:8080}
read -r TENANT OWNER < <(psql -X -qtA -F ' ' -d "$DB" -c \
  "SELECT t.id, u.id FROM coditect.tenants t JOIN coditect.users u ON u.tenant_id = t.id AND u.role = 'owner' WHERE t.slug = 'demo' LIMIT 1")
GW=$ROOT/build/coditect-gateway

log "starting the outbox worker (log: $ROOT/.data/worker.log)"
WORKER_PID=$ROOT/.data/worker.pid
export CODITECT_WORKER_DATABASE_URL="host=$DATADIR port=$PORT dbname=$DB user=coditect_wk"
worker_start "$WORKER_PID" "$ROOT/.data/worker.log"
trap 'worker_stop "$WORKER_PID"' EXIT

cat <<INFO

Coditect Core is running.
  cluster:   $DATADIR (stop: runuser -u postgres -- $PGBIN/pg_ctl -D $DATADIR stop)
  database:  psql -h $DATADIR -p $PORT -U postgres $DB      (or host 127.0.0.1)
  demo:      SELECT * FROM coditect.tenants;  -- as postgres (superuser, bypasses RLS)
  jobs:      SELECT jobname, schedule, command FROM cron.job;  -- pg_cron, in $DB
  worker:    coditect-worker, pid $(cat "$WORKER_PID"), log $ROOT/.data/worker.log (webhook deliveries)

The gateway listens on http://$CODITECT_LISTEN (Ctrl-C stops it and the worker). Its HS256 secret is in
$SECRET_FILE. A token for the demo owner (valid 1 hour):

  TOKEN=\$(CODITECT_JWT_SECRET=\$(cat $SECRET_FILE) $GW --mint-dev-token --sub $OWNER --tenant $TENANT --role owner)
  curl -s http://$CODITECT_LISTEN/api/v1/projects/ -H "Authorization: Bearer \$TOKEN"
  curl -s http://$CODITECT_LISTEN/api/schema/        # OpenAPI 3.1

INFO
# Not exec: when the gateway ends, the EXIT trap stops the worker too.
"$GW"

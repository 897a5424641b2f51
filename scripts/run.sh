#!/usr/bin/env bash
# Sets everything up and runs the product: a PostgreSQL 15 cluster in ./.data/pg (port 5499 by
# default), the coditect extension installed in database `coditect`, and a demo tenant.
# Safe to re-run: the cluster and database are kept, the extension is updated in place.
source "$(dirname "$0")/lib.sh"

DATADIR=${CODITECT_DATA_DIR:-$ROOT/.data/pg}
PORT=${CODITECT_PG_PORT:-5499}
DB=${CODITECT_DB:-coditect}

install_deps
build_extension
cluster_start "$DATADIR" "$PORT"

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

cat <<INFO

Coditect Core is running.
  cluster:   $DATADIR (stop: runuser -u postgres -- $PGBIN/pg_ctl -D $DATADIR stop)
  database:  psql -h $DATADIR -p $PORT -U postgres $DB      (or host 127.0.0.1)
  demo:      SELECT * FROM coditect.tenants;  -- as postgres (superuser, bypasses RLS)

As the gateway would (see README, "Request context"):
  CREATE ROLE app LOGIN IN ROLE coditect_gateway;
  BEGIN; SET ROLE app;
  SELECT coditect.set_request_context(id, owner_id, 'owner') FROM ...;
  SELECT * FROM coditect.projects; COMMIT;
INFO

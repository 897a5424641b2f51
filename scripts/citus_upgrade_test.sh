#!/usr/bin/env bash
# An extension update on a distributed cluster (issue 13): a coordinator and two workers of their
# own (Citus, as scripts/test-citus.sh starts them), coditect installed at the current version
# and distributed, a board made; then a test-only next release in two update steps, written by
# the rules for update scripts on Citus (README, Running on Citus, Upgrading the extension):
# <current>-citus-upgrade-schema (test/citus_upgrade/schema.sql behind a replaced
# coditect_internal.check_board_columns) and <current>-citus-upgrade-test
# (test/citus_upgrade/catalog.sql), written into the extension directory for the run only and
# removed at the end, also on failure. Both ALTER EXTENSION coditect UPDATE on the coordinator in
# one transaction, coditect.distribute() for the new table, then test/citus_upgrade/checks.sql
# (every node, shard placement and worker's table; the API through the coordinator); then a
# third worker is added, the shards rebalanced, and the checks run again. Exits non-zero on any
# failure.
# Environment: CODITECT_CITUS_PORT (the coordinator, default 54461; the workers the next three
# ports). Needs Citus and the extension installed (make install, scripts/citus_build.sh):
# scripts/test-citus.sh runs it first, on its ports. Run under the suite lock (it writes into the
# extension directory).
source "$(dirname "$0")/lib.sh"

PORT=${CODITECT_CITUS_PORT:-54461}
DB=coditect_upgrade
FROM=$(ext_version)
STEP=$FROM-citus-upgrade-schema
VERSION=$FROM-citus-upgrade-test
EXTDIR=$("$PGBIN/pg_config" --sharedir)/extension
SCRIPT=$EXTDIR/coditect--$FROM--$STEP.sql
SCRIPT2=$EXTDIR/coditect--$STEP--$VERSION.sql
PREFIX=$(mktemp -d /tmp/coditect-citus-upgrade.XXXXXX)
chmod 755 "$PREFIX"
NODES=(c w1 w2 w3)
cleanup() {
  local n
  for n in "${NODES[@]}"; do cluster_stop "$PREFIX/$n"; done
  rm -rf "$PREFIX" "$SCRIPT" "$SCRIPT2"
}
trap cleanup EXIT

on() { # on NODE-INDEX psql-args...
  local i=$1
  shift
  psql -X -q -h "$PREFIX/${NODES[$i]}" -p $((PORT + i)) -U postgres -d "$DB" -v ON_ERROR_STOP=1 "$@"
}
C() { on 0 "$@"; }

log "upgrade on Citus: a coordinator ($PORT) and two workers in $PREFIX"
citus_cluster_start "$PORT" "$DB" "$PREFIX/c" "$PREFIX/w1" "$PREFIX/w2"
C -c "CREATE SCHEMA partman" -c "CREATE EXTENSION pg_partman SCHEMA partman" \
  -c "SET client_min_messages = warning" -c "CREATE EXTENSION coditect VERSION '$FROM' CASCADE" -c "CREATE EXTENSION pgtap" \
  -c "CREATE ROLE upg_gw LOGIN IN ROLE coditect_gateway"
C -tA -c "SET client_min_messages = warning" -c "SELECT coditect.distribute(4) - 'seconds'"
# A board made before the update: the new column's default must reach it on its shard.
C -o /dev/null <<'SQL'
SELECT coditect.create_tenant('Before', 'upg-before', 'before@upg.test', 'owner@before.upg.test') AS j \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES ((:'j'::jsonb ->> 'tenant_id')::uuid, 'P') RETURNING id AS p \gset
INSERT INTO coditect.boards (tenant_id, project_id, name) VALUES ((:'j'::jsonb ->> 'tenant_id')::uuid, :'p', 'Made before the update');
SQL

log "the update scripts $SCRIPT and $SCRIPT2"
# The replaced function: check_board_columns as installed, allowing column names of 200
# characters instead of 100.
fn=$(C -tA -c "SELECT pg_get_functiondef('coditect_internal.check_board_columns(jsonb)'::regprocedure)")
grep -qF "char_length(col ->> 'name') > 100" <<<"$fn" || {
  echo "citus_upgrade_test.sh: coditect_internal.check_board_columns no longer limits names to 100 characters; adapt the replaced function" >&2
  exit 1
}
{
  echo '\echo Use "ALTER EXTENSION coditect UPDATE" to load this file. \quit'
  echo '-- A plain statement: every node replaces its own copy.'
  sed -e "s/char_length(col ->> 'name') > 100/char_length(col ->> 'name') > 200/" \
    -e 's/of at most 100 characters/of at most 200 characters/' <<<"$fn"
  echo ';'
  cat "$ROOT/test/citus_upgrade/schema.sql"
} >"$SCRIPT"
{
  echo '\echo Use "ALTER EXTENSION coditect UPDATE" to load this file. \quit'
  cat "$ROOT/test/citus_upgrade/catalog.sql"
} >"$SCRIPT2"

log "ALTER EXTENSION coditect UPDATE TO '$STEP', then TO '$VERSION' on the coordinator (one transaction), then coditect.distribute()"
C -c "BEGIN" -c "ALTER EXTENSION coditect UPDATE TO '$STEP'" -c "ALTER EXTENSION coditect UPDATE TO '$VERSION'" -c "COMMIT"
out=$(C -tA -c "SET client_min_messages = warning" -c "SELECT coditect.distribute(4) - 'seconds'")
echo "distribute() after the update: $out"
[ "$(C -tA -c "SELECT '$out'::jsonb @> '{\"distributed\": 1, \"reference\": 0}'")" = t ] || {
  echo "citus_upgrade_test.sh: distribute() after the update should have distributed the one new table" >&2
  exit 1
}

status=0
PGHOST=$PREFIX/c PGPORT=$PORT PGUSER=postgres pg_prove -d "$DB" --ext .sql --set version="$VERSION" \
  "$ROOT/test/citus_upgrade/checks.sql" || status=1

log "a third worker ($((PORT + 3))) added after the update, and a rebalance"
citus_node_start "$PREFIX/w3" $((PORT + 3)) "$DB"
C -o /dev/null -c "SELECT citus_add_node('127.0.0.1', $((PORT + 3)))" \
  -c "SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')" -c "SELECT citus_rebalance_wait()"
n3=$(C -tA -c "SELECT count(*) FROM pg_dist_shard_placement WHERE nodeport = $((PORT + 3))")
echo "worker $((PORT + 3)) holds $n3 shard placements"
((n3 > 0)) || status=1
PGHOST=$PREFIX/c PGPORT=$PORT PGUSER=postgres pg_prove -d "$DB" --ext .sql --set version="$VERSION" \
  "$ROOT/test/citus_upgrade/checks.sql" || status=1
exit $status

#!/usr/bin/env bash
# bench/rls.sh: cost of row-level security on the tenant-scoped project list.
#
# Ours:     login bench_gw (member of coditect_gateway), RLS enforced by the policy
#           tenant_id = coditect.current_tenant_id(), context set per transaction
#           with coditect.set_request_context().
# Baseline: login bench_bypass (BYPASSRLS), the same query with an explicit
#           `AND tenant_id = $1`, no request context.
# Control:  login bench_ctl (member of coditect_gateway, but BYPASSRLS): ours' transaction,
#           context call included, with the explicit filter instead of the policy; so
#           ours vs control is the policy alone, control vs baseline the context call.
# Each statement of those three is a round trip of its own. The gateway sends a request's
# transaction as one libpq pipeline (gateway/db.hpp), so two more configurations send
# BEGIN; [context;] list; COMMIT that way, after the same lookup:
# Ours, pipelined (bench_gw) and baseline, pipelined (bench_bypass).
# All five run on the same data in the same run, interleaved; see bench/README.md.
#
# Runs its own throw-away cluster on CODITECT_BENCH_PORT (55440); no timing assertions, only a
# report. Knobs (environment): TENANTS PROJECTS DURATION ROUNDS WARMUP CLIENTS CODITECT_BENCH_PORT.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${CODITECT_BENCH_PORT:-55440}
DB=coditect_bench_rls
TENANTS=${TENANTS:-200}
PROJECTS=${PROJECTS:-500}
DURATION=${DURATION:-15}  # measured seconds per configuration, split into ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
CLIENTS=${CLIENTS:-2}
THREADS=2
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))
LIST_SQL='SELECT id, name, description, created_at FROM coditect.projects WHERE deleted_at IS NULL'

install_deps
build_extension

bench_prepare rls "$PORT"
bench_cluster "$PORT"
create_database "$DB"

sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
sql -c "CREATE EXTENSION pg_stat_statements"

log "loading $TENANTS tenants x $PROJECTS projects"
sql -v tenants="$TENANTS" -v bench="$HERE" -v per_tenant="$PROJECTS" -v step="interval '10 minutes'" \
  -v tenant_offset="interval '1 second'" <<'SQL'
CREATE SCHEMA bench;
CREATE TABLE bench.bench_tenants (
    n         int PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL
);
INSERT INTO bench.bench_tenants (n, tenant_id, user_id)
SELECT i, (r ->> 'tenant_id')::uuid, (r ->> 'user_id')::uuid
  FROM generate_series(1, :tenants) AS i,
       LATERAL coditect.create_tenant('Bench tenant ' || i, 'bench-' || i,
                                      'tenant' || i || '@bench.example',
                                      'owner' || i || '@bench.example') AS r;

-- 10 minutes between a tenant's projects, a second between tenants'.
\i :bench/projects_load.sql

-- Logins. The cluster is private to this run, so these roles are too.
CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway;
CREATE ROLE bench_bypass LOGIN BYPASSRLS;
GRANT USAGE ON SCHEMA coditect TO bench_bypass;
GRANT SELECT ON coditect.projects TO bench_bypass;
CREATE ROLE bench_ctl LOGIN BYPASSRLS IN ROLE coditect_gateway;
GRANT USAGE ON SCHEMA bench TO bench_gw, bench_bypass, bench_ctl;
GRANT SELECT ON bench.bench_tenants TO bench_gw, bench_bypass, bench_ctl;
SQL

read -r T1 U1 < <(sql -At -F ' ' -c "SELECT tenant_id, user_id FROM bench.bench_tenants WHERE n = 1")
CTX="SELECT coditect.set_request_context('$T1', '$U1', 'owner', '127.0.0.1', 'bench', 'GET', '/api/v1/projects/')"

# Sanity: all three logins see exactly tenant 1's live projects, and bench_gw sees nothing
# without a context.
read -r live total < <(sql -At -F ' ' -c \
  "SELECT count(*) FILTER (WHERE tenant_id = '$T1' AND deleted_at IS NULL), count(*) FROM coditect.projects")
gw_seen=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" \
  -c "BEGIN" -c "$CTX" -c "SELECT count(*) FROM ($LIST_SQL) q" -c "COMMIT" | tail -n 1)
gw_nocontext=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" -c "SELECT count(*) FROM coditect.projects")
bypass_seen=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_bypass -d "$DB" \
  -c "SELECT count(*) FROM ($LIST_SQL AND tenant_id = '$T1') q")
ctl_seen=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_ctl -d "$DB" \
  -c "BEGIN" -c "$CTX" -c "SELECT count(*) FROM ($LIST_SQL AND tenant_id = '$T1') q" -c "COMMIT" | tail -n 1)
echo
echo "Data: $total projects; tenant 1 has $live live ones."
echo "Check: bench_gw with tenant 1's context sees $gw_seen, without a context $gw_nocontext;" \
  "bench_bypass and bench_ctl with tenant_id = tenant 1 see $bypass_seen and $ctl_seen."
if [ "$gw_seen" != "$live" ] || [ "$gw_nocontext" != 0 ] || [ "$bypass_seen" != "$live" ] ||
  [ "$ctl_seen" != "$live" ]; then
  echo "the two configurations do not see the same rows; not benchmarking" >&2
  exit 1
fi

echo
echo "Plan of the RLS list query as bench_gw (tenant 1):"
psql -X -q -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" <<SQL | sed 's/^/    /'
BEGIN;
\\o /dev/null
$CTX;
\\o
EXPLAIN (ANALYZE, COSTS OFF) $LIST_SQL ORDER BY created_at DESC LIMIT 50;
COMMIT;
SQL

# pgbench scripts: the same random tenant lookup in all five; in the first three inside the
# transaction.
cat >"$WORK/ours.sql" <<SQL
\\set n random(1, $TENANTS)
BEGIN;
SELECT tenant_id AS tenant, user_id AS uid FROM bench.bench_tenants WHERE n = :n \\gset
SELECT coditect.set_request_context(:tenant, :uid, 'owner', '127.0.0.1', 'bench', 'GET', '/api/v1/projects/');
$LIST_SQL ORDER BY created_at DESC LIMIT 50;
COMMIT;
SQL
cat >"$WORK/baseline.sql" <<SQL
\\set n random(1, $TENANTS)
BEGIN;
SELECT tenant_id AS tenant, user_id AS uid FROM bench.bench_tenants WHERE n = :n \\gset
$LIST_SQL AND tenant_id = :tenant ORDER BY created_at DESC LIMIT 50;
COMMIT;
SQL
cat >"$WORK/control.sql" <<SQL
\\set n random(1, $TENANTS)
BEGIN;
SELECT tenant_id AS tenant, user_id AS uid FROM bench.bench_tenants WHERE n = :n \\gset
SELECT coditect.set_request_context(:tenant, :uid, 'owner', '127.0.0.1', 'bench', 'GET', '/api/v1/projects/');
$LIST_SQL AND tenant_id = :tenant ORDER BY created_at DESC LIMIT 50;
COMMIT;
SQL

# The pipelined two: the lookup first (the gateway knows tenant and user from the token), then
# the transaction in one round trip.
cat >"$WORK/ours_pipe.sql" <<SQL
\\set n random(1, $TENANTS)
SELECT tenant_id AS tenant, user_id AS uid FROM bench.bench_tenants WHERE n = :n \\gset
\\startpipeline
BEGIN;
SELECT coditect.set_request_context(:tenant, :uid, 'owner', '127.0.0.1', 'bench', 'GET', '/api/v1/projects/');
$LIST_SQL ORDER BY created_at DESC LIMIT 50;
COMMIT;
\\endpipeline
SQL
cat >"$WORK/base_pipe.sql" <<SQL
\\set n random(1, $TENANTS)
SELECT tenant_id AS tenant, user_id AS uid FROM bench.bench_tenants WHERE n = :n \\gset
\\startpipeline
BEGIN;
$LIST_SQL AND tenant_id = :tenant ORDER BY created_at DESC LIMIT 50;
COMMIT;
\\endpipeline
SQL

# pgbench_once NAME USER SCRIPT SECONDS OUT: one pgbench run; fails loudly if pgbench does.
pgbench_once() {
  local name=$1 user=$2 script=$3 secs=$4 out=$5
  log "pgbench $name: ${secs}s"
  if ! "$PGBENCH" -n -M prepared -r -c "$CLIENTS" -j "$THREADS" -T "$secs" -U "$user" \
    -f "$script" "$DB" >"$out" 2>&1; then
    cat "$out" >&2
    echo "pgbench $name failed" >&2
    exit 1
  fi
}

# Warm-up (discarded), then ROUNDS interleaved slices per configuration, in alternating
# order (ours, baseline, control, control, baseline, ours, ...) so that drift of this
# machine hits all alike.
declare -A USER_OF=([ours]=bench_gw [baseline]=bench_bypass [control]=bench_ctl
  [ours_pipe]=bench_gw [base_pipe]=bench_bypass)
if ((WARMUP > 0)); then
  for c in ours baseline control ours_pipe base_pipe; do
    pgbench_once "$c warm-up" "${USER_OF[$c]}" "$WORK/$c.sql" "$WARMUP" "$WORK/warmup.out"
  done
fi
sql -o /dev/null -c "SELECT pg_stat_statements_reset()"
for ((r = 1; r <= ROUNDS; r++)); do
  order=(ours baseline control ours_pipe base_pipe)
  ((r % 2)) || order=(base_pipe ours_pipe control baseline ours)
  for c in "${order[@]}"; do
    pgbench_once "$c round $r/$ROUNDS" "${USER_OF[$c]}" "$WORK/$c.sql" "$SLICE" "$WORK/$c.$r.out"
  done
done
# Server-side statistics of the measured slices, per login.
sql -At -F $'\t' -c "SELECT r.rolname, s.calls, s.total_exec_time, s.query
                       FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                      WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())" \
  >"$WORK/pgss.tsv"

tps() { pgbench_tps "$WORK/$1"; }
txns() { pgbench_txns "$WORK/$1"; }
client_ms() { pgbench_client_ms "$WORK/$1" "$2"; }
# server_ms LOGIN PATTERN: mean execution time (ms, pg_stat_statements) of LOGIN's statements
# containing PATTERN.
server_ms() {
  awk -F '\t' -v who="$1" -v pat="$2" '$1 == who && index($4, pat) {c += $2; t += $3}
    END {if (c) printf "%.4f", t / c; else print "nan"}' "$WORK/pgss.tsv"
}

echo
echo "RLS benchmark: $TENANTS tenants x $PROJECTS projects; pgbench -M prepared -n -c $CLIENTS -j $THREADS;" \
  "per configuration ${WARMUP}s warm-up, then $ROUNDS interleaved slices of ${SLICE}s; $(nproc) CPUs"
echo "  ours     = bench_gw, RLS:              BEGIN; lookup; set_request_context(...); list; COMMIT"
echo "  baseline = bench_bypass, BYPASSRLS:    BEGIN; lookup; list AND tenant_id = \$1; COMMIT"
echo "  control  = bench_ctl, gateway+BYPASSRLS: BEGIN; lookup; set_request_context(...); list AND tenant_id = \$1; COMMIT"
echo "  pipelined (row (c)): lookup, then one round trip: ours BEGIN; set_request_context(...); list; COMMIT"
echo "                       against baseline BEGIN; list AND tenant_id = \$1; COMMIT (the gateway's shape)"
echo "  list     = $LIST_SQL ORDER BY created_at DESC LIMIT 50"
echo "  server = mean execution time in pg_stat_statements; client = pgbench -r average latency,"
echo "  which adds the round trip and the time pgbench and the backends wait for a CPU."
echo
{
  echo "list_server $(for u in bench_gw bench_bypass bench_ctl; do server_ms $u 'FROM coditect.projects'; echo -n ' '; done)"
  echo "list_client $(for c in ours baseline control; do client_ms $c 'FROM coditect.projects'; echo -n ' '; done)"
  echo "tps $(for c in ours baseline control; do tps $c; echo -n ' '; done)"
  echo "tps_pipe $(tps ours_pipe) $(tps base_pipe) -"
  echo "ctx_server $(server_ms bench_gw 'set_request_context') - $(server_ms bench_ctl 'set_request_context')"
  echo "ctx_client $(client_ms ours 'set_request_context') - $(client_ms control 'set_request_context')"
  echo "lookup_server $(for u in bench_gw bench_bypass bench_ctl; do server_ms $u 'FROM bench.bench_tenants'; echo -n ' '; done)"
  echo "lookup_client $(for c in ours baseline control; do client_ms $c 'FROM bench.bench_tenants'; echo -n ' '; done)"
  echo "txns $(for c in ours baseline control; do txns $c; echo -n ' '; done)"
  echo "txns_pipe $(txns ours_pipe) $(txns base_pipe) -"
} | awk '
  { v[$1, 1] = $2; v[$1, 2] = $3; v[$1, 3] = $4 }
  function fmtv(fmt, x) { return x == "-" ? "-" : sprintf(fmt, x) }
  function ratio(a, b) { return (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.3f", a / b) }
  function row(label, key, fmt, note, noratio) {
    printf "%-41s %10s %10s %10s %9s %9s  %s\n", label, fmtv(fmt, v[key, 1]), fmtv(fmt, v[key, 2]),
      fmtv(fmt, v[key, 3]), noratio ? "" : ratio(v[key, 1], v[key, 2]),
      noratio ? "" : ratio(v[key, 1], v[key, 3]), note
  }
  END {
    printf "%-41s %10s %10s %10s %9s %9s  %s\n", "measure", "ours", "baseline", "control",
      "ours/base", "ours/ctl", "note"
    printf "%-41s %10s %10s %10s %9s %9s  %s\n", "-----------------------------------------",
      "----------", "----------", "----------", "---------", "---------", "----"
    row("(a) list statement, server mean (ms)", "list_server", "%.4f", "target ours/base <= 1.05")
    row("    list statement, client avg (ms)", "list_client", "%.4f", "")
    row("(b) whole transaction, tps", "tps", "%.1f", "ours includes the context call")
    row("(c) whole transaction pipelined, tps", "tps_pipe", "%.1f", "target ours/base >= 0.9")
    row("    set_request_context, server (ms)", "ctx_server", "%.4f", "")
    row("    set_request_context, client (ms)", "ctx_client", "%.4f", "")
    row("    tenant lookup, server mean (ms)", "lookup_server", "%.4f", "same statement in all")
    row("    tenant lookup, client avg (ms)", "lookup_client", "%.4f", "same statement in all")
    row("    transactions measured", "txns", "%d", "", 1)
    row("    transactions measured, pipelined", "txns_pipe", "%d", "", 1)
  }'
echo
echo "Ratios: ours / baseline and ours / control; for latencies lower is better for us, for tps"
echo "higher is. ours/ctl isolates the policy (same transaction, explicit filter instead of RLS)."

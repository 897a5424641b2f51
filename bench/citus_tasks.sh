#!/usr/bin/env bash
# bench/citus_tasks.sh: a tenant's task list through a Citus coordinator against the same list on
# a single node, in the same run (issue 13).
#
# Two installations loaded with the same data (bench/tasks_load.sql: TENANTS (10,000) tenants,
# each with its owner, one project and TASKS (100) tasks):
#   single: one PostgreSQL cluster, the extension as every other benchmark installs it;
#   citus:  a coordinator and two workers (three private clusters on this machine), the same
#           data loaded on the coordinator, then `SELECT coditect.distribute(SHARDS)`.
# Every transaction, as login bench_gw (member of coditect_gateway, RLS applies), picks a random
# tenant, looks up its owner and project, then sends one pipeline:
#   BEGIN READ ONLY; set_request_context(tenant, owner, 'owner', ...);
#   coditect.api_tasks_list('{"project_id": "<p>", "status": "todo"}', 1, 50, NULL); COMMIT
# On Citus the list's statements are router queries (scripts/test-citus.sh checks that the
# generated list's commands reach the tenant's shard group only), run on the tenant's worker.
# The configurations' slices are interleaved (bench/lib.sh bench_slices). Printed: tps, p50 and
# p99 of the transaction, and the ratio citus / single. Reports only; asserts nothing about timing.
#
# Ports: CODITECT_BENCH_PORT (55450) for the single node, the next three for the coordinator and
# the workers. Knobs: TENANTS TASKS SHARDS DURATION ROUNDS WARMUP CLIENTS.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${CODITECT_BENCH_PORT:-55450}
C_PORT=$((PORT + 1))
TENANTS=${TENANTS:-10000}
TASKS=${TASKS:-100}
SHARDS=${SHARDS:-32}
DURATION=${DURATION:-30} # measured seconds per configuration, split into ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-5}
CLIENTS=${CLIENTS:-4}
# shellcheck disable=SC2034 # bench_pgbench_slice's (lib.sh)
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))
DB=coditect_bench_citus
CONFIGS=(single citus)
LIST_SQL="SELECT coditect.api_tasks_list(jsonb_build_object('project_id', :project::text, 'status', 'todo'), 1, 50, NULL)"

install_deps
build_extension
"$ROOT/scripts/citus_build.sh"
bench_prepare citus_tasks "$PORT" "$C_PORT" $((C_PORT + 1)) $((C_PORT + 2))
# Beside DATADIR (WORK is root's alone; the servers run as postgres).
NODES=("$DATADIR-coordinator" "$DATADIR-worker1" "$DATADIR-worker2")
bench_cleanup_extra() {
  citus_cluster_stop "${NODES[@]}"
  rm -rf "${NODES[@]}"
}

declare -A HOST_OF=([single]=$DATADIR [citus]=${NODES[0]}) PORT_OF=([single]=$PORT [citus]=$C_PORT)
on() { # CONFIG psql-args...: psql as postgres on CONFIG's database
  local c=$1
  shift
  psql -X -q -v ON_ERROR_STOP=1 -h "${HOST_OF[$c]}" -p "${PORT_OF[$c]}" -U postgres -d "$DB" "$@"
}

bench_cluster "$PORT"
create_database "$DB"
citus_cluster_start "$C_PORT" "$DB" "${NODES[@]}"
# bench_cluster's pg_stat_statements on every Citus node is not needed: the figures are the
# client's, the same for both configurations.
psql -X -q -v ON_ERROR_STOP=1 -h "${NODES[0]}" -p "$C_PORT" -U postgres -d "$DB" <<'SQL'
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;
CREATE EXTENSION coditect CASCADE;
SQL

declare -A LOAD_S
for c in "${CONFIGS[@]}"; do
  log "loading $c: $TENANTS tenants x $TASKS tasks"
  start=$(date +%s.%N)
  on "$c" -v tenants="$TENANTS" -v tasks="$TASKS" -f "$HERE/tasks_load.sql"
  LOAD_S[$c]=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
done
log "distributing the Citus installation ($SHARDS shards)"
start=$(date +%s.%N)
on citus -c "SET client_min_messages = warning" -c "SELECT coditect.distribute($SHARDS)" >/dev/null
DIST_S=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
# The side table stays a local table of the coordinator: the lookup is not part of the list.
for c in "${CONFIGS[@]}"; do
  on "$c" -c "DO \$\$ BEGIN CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
    -c "GRANT USAGE ON SCHEMA bench TO bench_gw" -c "GRANT SELECT ON bench.bench_tenants TO bench_gw"
done

# Sanity as bench_gw with tenant 1's context, on both: the list's count is tenant 1's live todo
# tasks (there are some) and its page holds 50 of them, or all.
for c in "${CONFIGS[@]}"; do
  read -r T1 U1 P1 < <(on "$c" -At -F ' ' -c "SELECT tenant_id, user_id, project_id FROM bench.bench_tenants WHERE n = 1")
  expect=$(on "$c" -At -c "SELECT count(*) FROM coditect.tasks WHERE tenant_id = '$T1' AND project_id = '$P1' AND status = 'todo' AND deleted_at IS NULL")
  read -r seen n_results < <(psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -h "${HOST_OF[$c]}" -p "${PORT_OF[$c]}" -U bench_gw -d "$DB" <<SQL | tail -n 1
BEGIN READ ONLY;
\\o /dev/null
SELECT coditect.set_request_context('$T1', '$U1', 'owner');
\\o
SELECT j ->> 'count', jsonb_array_length(j -> 'results')
  FROM coditect.api_tasks_list(jsonb_build_object('project_id', '$P1', 'status', 'todo'), 1, 50, NULL) AS j;
COMMIT;
SQL
  )
  echo "Check $c (bench_gw, tenant 1): count $seen of $expect live todo tasks, $n_results results" >&2
  if [ "$seen" != "$expect" ] || [ "$n_results" != $((expect < 50 ? expect : 50)) ] || [ "$expect" = 0 ]; then
    echo "the list does not answer as expected on $c; not benchmarking" >&2
    exit 1
  fi
done

cat >"$WORK/list.sql" <<SQL
\\set n random(1, $TENANTS)
\\set r random(1, 1000000000)
SELECT tenant_id AS tenant, user_id AS uid, project_id AS project FROM bench.bench_tenants WHERE n = :n \\gset
\\startpipeline
BEGIN READ ONLY;
SELECT coditect.set_request_context(:tenant, :uid, 'owner', '127.0.0.1', 'pgbench', 'GET', '/api/v1/projects/' || :project || '/tasks/', 'pgb-' || :client_id || '-' || :r);
$LIST_SQL;
COMMIT;
\\endpipeline
SQL
slice() { # CONFIG SECONDS
  PGHOST=${HOST_OF[$1]} PGPORT=${PORT_OF[$1]} bench_pgbench_slice "$1" "$WORK/list.sql" "$CLIENTS" "$2"
}
bench_slices "${CONFIGS[@]}"

declare -A FIG
for c in "${CONFIGS[@]}"; do FIG[$c]=$(bench_figures "$c"); done
read -r s_tps s_p50 s_p99 s_n <<<"${FIG[single]}"
read -r c_tps c_p50 c_p99 c_n <<<"${FIG[citus]}"
echo
echo "A random tenant's task list (status todo, page 1 of 50 with the count) among $TENANTS tenants x $TASKS tasks;"
echo "  $ROUNDS interleaved slices of ${SLICE}s per configuration after ${WARMUP}s of warm-up; $CLIENTS clients; $(nproc) CPUs"
echo "  for all four servers; commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "  pgbench -M prepared, login bench_gw (RLS): lookup of the tenant; then one pipeline:"
echo "  BEGIN READ ONLY; set_request_context(...); api_tasks_list(...); COMMIT"
printf '%-8s %10s %8s %8s %10s %8s\n' "" "tps" "p50 ms" "p99 ms" "txns" "load s"
printf '%-8s %10s %8s %8s %10s %8s\n' single "$s_tps" "$s_p50" "$s_p99" "$s_n" "${LOAD_S[single]}"
printf '%-8s %10s %8s %8s %10s %8s\n' citus "$c_tps" "$c_p50" "$c_p99" "$c_n" "${LOAD_S[citus]}"
echo "citus / single: tps $(awk -v a="$c_tps" -v b="$s_tps" 'BEGIN { printf "%.2f", a / b }')," \
  "p50 $(awk -v a="$c_p50" -v b="$s_p50" 'BEGIN { printf "%.2f", a / b }')" \
  "(coordinator + 2 workers on the same $(nproc) CPUs as the single node; distribute() took ${DIST_S} s)"

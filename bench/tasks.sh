#!/usr/bin/env bash
# bench/tasks.sh: a project's task list as other tenants grow (issue 9).
#
# Two databases in one private cluster, loaded in the same run (the small one first):
#   small: SMALL_TENANTS (100) tenants x TASKS (1,000) tasks  =    100,000 tasks
#   big:   BIG_TENANTS (10,000) tenants x TASKS (1,000) tasks = 10,000,000 tasks
# each tenant with its owner and one project holding its tasks (bench/tasks_load.sql). Every
# transaction, as login bench_gw (member of coditect_gateway, RLS applies), picks a random
# tenant, looks up its owner and project in a side table, then sends one pipeline:
#   BEGIN READ ONLY; set_request_context(tenant, owner, 'owner', ...);
#   coditect.api_tasks_list('{"project_id": "<p>", "status": "todo"}', 1, 50, NULL); COMMIT
# Measured at each SHARED_BUFFERS setting (256MB and 8GB) in turn, sizes interleaved. Printed per
# setting and size: load time, rows, tps, p50/p95/p99 of the transaction and the server time of
# the list call; the ratio p95(big) / p95(small), target <= 1.2 (a tenant's list must not slow
# down as other tenants grow); and the plans of the list's statements (auto_explain).
#
# Runs its own throw-away cluster on CODITECT_BENCH_PORT (54349); reports only, asserts nothing
# about timing. Knobs: SMALL_TENANTS BIG_TENANTS TASKS DURATION ROUNDS WARMUP CLIENTS
# SHARED_BUFFERS LOAD_SHARED_BUFFERS.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${CODITECT_BENCH_PORT:-54349}
SMALL_TENANTS=${SMALL_TENANTS:-100}
BIG_TENANTS=${BIG_TENANTS:-10000}
TASKS=${TASKS:-1000}
DURATION=${DURATION:-30} # measured seconds per size, split into ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-5}
CLIENTS=${CLIENTS:-2}
# Measured at each of these shared_buffers settings in turn (the cluster restarted in between,
# then the tasks tables and their indexes prewarmed, the big database first): the small one
# keeps the 10M-task database mostly in the OS page cache, the large one holds all of it.
read -r -a SHARED_BUFFERS <<<"${SHARED_BUFFERS:-256MB 8GB}"
LOAD_SHARED_BUFFERS=${LOAD_SHARED_BUFFERS:-4GB}
# shellcheck disable=SC2034 # bench_pgbench_slice's (lib.sh)
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))
SIZES=(small big)
declare -A DB_OF=([small]=coditect_bench_tasks_small [big]=coditect_bench_tasks_big)
declare -A TENANTS_OF=([small]=$SMALL_TENANTS [big]=$BIG_TENANTS)
FILTER_SQL="jsonb_build_object('project_id', :project::text, 'status', 'todo')"
LIST_SQL="SELECT coditect.api_tasks_list($FILTER_SQL, 1, 50, NULL)"

df -h /tmp | sed 's/^/    /' >&2
install_deps
build_extension
bench_prepare tasks "$PORT"
# wal_level = minimal: the tasks are loaded in the transaction that truncates the table, so
# they skip the WAL (tasks_load.sql); a large max_wal_size keeps checkpoints out of the rest.
bench_cluster "$PORT" max_wal_size=16GB checkpoint_timeout=30min synchronous_commit=off
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET wal_level = minimal" \
  -c "ALTER SYSTEM SET max_wal_senders = 0" -c "ALTER SYSTEM SET shared_buffers = '$LOAD_SHARED_BUFFERS'"
cluster_stop "$DATADIR"
cluster_start "$DATADIR" "$PORT"

declare -A LOAD_S ROWS SIZE_MB
for s in "${SIZES[@]}"; do
  db=${DB_OF[$s]}
  create_database "$db"
  psql -X -q -d "$db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_stat_statements" -c "CREATE EXTENSION pg_prewarm"
  log "loading $s: ${TENANTS_OF[$s]} tenants x $TASKS tasks"
  start=$(date +%s.%N)
  psql -X -q -d "$db" -v ON_ERROR_STOP=1 -v tenants="${TENANTS_OF[$s]}" -v tasks="$TASKS" -f "$HERE/tasks_load.sql"
  LOAD_S[$s]=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  read -r "ROWS[$s]" "SIZE_MB[$s]" < <(psql -X -q -At -F ' ' -d "$db" -c \
    "SELECT count(*), pg_total_relation_size('coditect.tasks') / 1048576 FROM coditect.tasks")
  log "loaded $s in ${LOAD_S[$s]} s: ${ROWS[$s]} tasks, ${SIZE_MB[$s]} MB with indexes"
done
# The login of every transaction (coditect_gateway is the extension's, made with the first database).
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway"
for s in "${SIZES[@]}"; do
  psql -X -q -d "${DB_OF[$s]}" -v ON_ERROR_STOP=1 -c "GRANT USAGE ON SCHEMA bench TO bench_gw" \
    -c "GRANT SELECT ON bench.bench_tenants TO bench_gw"
done

# Sanity, per size, as bench_gw with tenant 1's context: the list's count is tenant 1's live
# todo tasks, its page is 50 of them, and without a context nothing is seen. Then the plan of
# the list's statements (auto_explain of the nested statements, loaded by the superuser before
# SET ROLE).
declare -A EXPECT
for s in "${SIZES[@]}"; do
  db=${DB_OF[$s]}
  read -r T1 U1 P1 < <(psql -X -q -At -F ' ' -d "$db" -c "SELECT tenant_id, user_id, project_id FROM bench.bench_tenants WHERE n = 1")
  EXPECT[$s]=$(psql -X -q -At -d "$db" -c \
    "SELECT count(*) FROM coditect.tasks WHERE tenant_id = '$T1' AND project_id = '$P1' AND status = 'todo' AND deleted_at IS NULL")
  read -r seen n_results all_todo < <(psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -U bench_gw -d "$db" <<SQL | tail -n 1
BEGIN READ ONLY;
\\o /dev/null
SELECT coditect.set_request_context('$T1', '$U1', 'owner');
\\o
WITH l AS (SELECT coditect.api_tasks_list(jsonb_build_object('project_id', '$P1', 'status', 'todo'), 1, 50, NULL) AS j)
SELECT j ->> 'count', jsonb_array_length(j -> 'results'),
       (SELECT bool_and(e ->> 'status' = 'todo' AND e ->> 'project_id' = '$P1') FROM jsonb_array_elements(j -> 'results') e)
  FROM l;
COMMIT;
SQL
  )
  nocontext=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_gw -d "$db" -c "SELECT count(*) FROM coditect.tasks")
  echo "Check $s (bench_gw, tenant 1): count $seen of ${EXPECT[$s]} live todo tasks, $n_results results, all todo of its project: $all_todo; without a context: $nocontext rows" >&2
  if [ "$seen" != "${EXPECT[$s]}" ] || [ "$n_results" != 50 ] || [ "$all_todo" != t ] || [ "$nocontext" != 0 ]; then
    echo "the list does not answer as expected on $s; not benchmarking" >&2
    exit 1
  fi
done

explain() { # SIZE
  local db=${DB_OF[$1]} t u p
  read -r t u p < <(psql -X -q -At -F ' ' -d "$db" -c "SELECT tenant_id, user_id, project_id FROM bench.bench_tenants WHERE n = 2")
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL 2>&1 | grep -v -E '^(SET|LOAD|BEGIN|COMMIT)$' | sed 's/^/    /'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_timing = off;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
SET ROLE bench_gw;
BEGIN READ ONLY;
\\o /dev/null
SELECT coditect.set_request_context('$t', '$u', 'owner');
SELECT coditect.api_tasks_list(jsonb_build_object('project_id', '$p', 'status', 'todo'), 1, 50, NULL);
\\o
COMMIT;
SQL
}
# explain_tasks SIZE: the plans of the list's statements on coditect.tasks, without their text.
explain_tasks() {
  explain "$1" | awk '
    /NOTICE:  duration:/ { flush(); block = $0 "\n"; keep = 0; plan = 0; next }
    /FROM coditect\.tasks t/ { keep = 1 }
    !plan && /^    [A-Z][A-Za-z ]+  \(cost=/ { plan = 1 }
    plan { block = block $0 "\n" }
    function flush() { if (keep) printf "%s", block }
    END { flush() }'
}

# pgbench: a random tenant's lookup, then one pipeline (one round trip) as the gateway sends it.
for s in "${SIZES[@]}"; do
  cat >"$WORK/$s.sql" <<SQL
\\set n random(1, ${TENANTS_OF[$s]})
\\set r random(1, 1000000000)
SELECT tenant_id AS tenant, user_id AS uid, project_id AS project FROM bench.bench_tenants WHERE n = :n \\gset
\\startpipeline
BEGIN READ ONLY;
SELECT coditect.set_request_context(:tenant, :uid, 'owner', '127.0.0.1', 'pgbench', 'GET', '/api/v1/projects/' || :project || '/tasks/', 'pgb-' || :client_id || '-' || :r);
$LIST_SQL;
COMMIT;
\\endpipeline
SQL
done

# pgss_snap DB: calls and total time (ms) of bench_gw's list calls in pg_stat_statements.
pgss_snap() {
  psql -X -q -At -F ' ' -d "$1" -c "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0)
    FROM pg_stat_statements WHERE userid = 'bench_gw'::regrole AND strpos(query, 'api_tasks_list') > 0
      AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
}
# slice SIZE SECONDS: bench_pgbench_slice (bench/lib.sh) against SIZE's database.
slice() {
  local before after
  before=$(pgss_snap "${DB_OF[$1]}")
  DB=${DB_OF[$1]} bench_pgbench_slice "$1" "$WORK/$1.sql" "$CLIENTS" "$2"
  after=$(pgss_snap "${DB_OF[$1]}")
  echo "$before $after" | awk '{ print $3 - $1, $4 - $2 }' >>"$WORK/$1.srv"
}
# prewarm: the tasks tables and their indexes into shared buffers, the big database first.
prewarm() {
  local s
  for s in big small; do
    psql -X -q -At -d "${DB_OF[$s]}" -c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c
      WHERE c.oid = 'coditect.tasks'::regclass OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'coditect.tasks'::regclass)" >/dev/null
  done
}

# percentiles SIZE: p50 p95 p99 (ms) of all its transactions, and their number.
percentiles() {
  sort -n -k1,1 "$WORK/$1.lat" | awk '
    { v[NR] = $1; c[NR] = $2; total += $2 }
    END {
      for (i = 1; i <= NR; i++) {
        seen += c[i]
        if (!p50 && seen >= 0.50 * total) p50 = v[i]
        if (!p95 && seen >= 0.95 * total) p95 = v[i]
        if (!p99 && seen >= 0.99 * total) p99 = v[i]
      }
      printf "%.3f %.3f %.3f %d\n", p50 / 1000, p95 / 1000, p99 / 1000, total
    }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-7s %9s %12s %8s %9s %8s %8s %8s %9s %12s\n' "$@"; }

declare -A TPS P50 P95 P99 N SRV
RESULTS=$WORK/results.txt
: >"$RESULTS"
for sb in "${SHARED_BUFFERS[@]}"; do
  log "shared_buffers = $sb: restarting the cluster and prewarming"
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET shared_buffers = '$sb'"
  cluster_stop "$DATADIR"
  cluster_start "$DATADIR" "$PORT"
  prewarm
  bench_slices "${SIZES[@]}"
  for s in "${SIZES[@]}"; do
    TPS[$s]=$(awk '{ s += $1; n++ } END { printf "%.1f", s / n }' "$WORK/$s.rate")
    read -r "P50[$s]" "P95[$s]" "P99[$s]" "N[$s]" < <(percentiles "$s")
    SRV[$s]=$(awk '{ c += $1; t += $2 } END { printf "%.3f", c ? t / c : 0 }' "$WORK/$s.srv")
  done
  {
    echo
    echo "shared_buffers $sb:"
    row "" tenants tasks "load s" "MB" tps "p50 ms" "p95 ms" "p99 ms" "list srv ms"
    for s in "${SIZES[@]}"; do
      row "$s" "${TENANTS_OF[$s]}" "${ROWS[$s]}" "${LOAD_S[$s]}" "${SIZE_MB[$s]}" "${TPS[$s]}" "${P50[$s]}" "${P95[$s]}" "${P99[$s]}" "${SRV[$s]}"
    done
    echo "p95 big / small: ${P95[big]} / ${P95[small]} = $(ratio "${P95[big]}" "${P95[small]}") (target <= 1.2)"
    echo "p50 big / small: $(ratio "${P50[big]}" "${P50[small]}"); p99: $(ratio "${P99[big]}" "${P99[small]}");" \
      "list server time: $(ratio "${SRV[big]}" "${SRV[small]}"); tps: $(ratio "${TPS[big]}" "${TPS[small]}");" \
      "transactions: ${N[small]} small, ${N[big]} big"
  } >>"$RESULTS"
  for s in "${SIZES[@]}"; do
    echo
    echo "Plans of the list's statements on coditect.tasks, $s, tenant 2, shared_buffers $sb, after the slices"
    echo "(auto_explain: ANALYZE, BUFFERS, as bench_gw; their text is the generated function's):"
    explain_tasks "$s"
  done
  rm -f "$WORK"/*.rate "$WORK"/*.lat "$WORK"/*.srv
done

echo
echo "Task list of a random tenant's project (status todo, page 1 of 50 with the count), as other tenants grow;"
echo "  $ROUNDS interleaved slices of ${SLICE}s per size after ${WARMUP}s of warm-up; $CLIENTS clients; $(nproc) CPUs;" \
  "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "  pgbench -M prepared, login bench_gw (RLS): lookup of the tenant; then one pipeline:"
echo "  BEGIN READ ONLY; set_request_context(...); $LIST_SQL; COMMIT"
cat "$RESULTS"
echo "(load s: wall time of tasks_load.sql, tenants to VACUUM ANALYZE, at shared_buffers $LOAD_SHARED_BUFFERS;"
echo " MB: coditect.tasks with its indexes; p50/p95/p99: whole transactions from pgbench's -l log, the"
echo " lookup round trip included; list srv ms: mean server time per list call from pg_stat_statements)"

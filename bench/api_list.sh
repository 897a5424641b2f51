#!/usr/bin/env bash
# bench/api_list.sh: the project list on a large tenant (issue 8's two list benchmarks).
#
# One tenant with BIG (100,000) projects, OTHERS (4) more with OTHER_PROJECTS (2,000) each, so
# that row-level security has rows to hide. Every transaction is the big tenant's owner's,
# with the same request context, as login bench_gw (member of coditect_gateway, RLS applies):
#
#   fn:     pgbench, BEGIN READ ONLY; set_request_context(...); api_projects_list('{}', 1, 50, NULL); COMMIT
#   static: pgbench, the same with the page AND the count written by hand as one static statement
#           (STATIC_SQL below)
#   gw:     wrk, GET /api/v1/projects/?page_size=50 through coditect-gateway (HS256 token of the
#           big tenant's owner; GW_THREADS threads, a pool of GW_POOL connections)
#
# pgbench runs with -M prepared and sends each transaction as one pipeline (one round trip), as
# the gateway does. Measured in the same run, interleaved:
#   1. fn against static at FN_CLIENTS (1 and 8) clients: tps ratio fn/static, target >= 0.9.
#   2. gw against static at GW_CONNS (8 and 64) connections (HTTP connections for wrk, clients
#      for pgbench): tps ratio gw/static, target >= 0.8; the gateway's p99 at 64, target < 10 ms.
#
# Runs its own throw-away cluster on CODITECT_BENCH_PORT (54343) and gateway on
# CODITECT_BENCH_GW_PORT (54383); reports only, asserts nothing about timing. Knobs: BIG OTHERS
# OTHER_PROJECTS PAGE_SIZE DURATION ROUNDS WARMUP FN_CLIENTS GW_CONNS GW_THREADS GW_POOL.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${CODITECT_BENCH_PORT:-54343}
GW_PORT=${CODITECT_BENCH_GW_PORT:-54383}
DB=coditect_bench_list
BIG=${BIG:-100000}
OTHERS=${OTHERS:-4}
OTHER_PROJECTS=${OTHER_PROJECTS:-2000}
PAGE_SIZE=${PAGE_SIZE:-50}
DURATION=${DURATION:-15} # measured seconds per configuration, split into ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
read -r -a FN_CLIENTS <<<"${FN_CLIENTS:-1 8}"
read -r -a GW_CONNS <<<"${GW_CONNS:-8 64}"
GW_THREADS=${GW_THREADS:-8}
GW_POOL=${GW_POOL:-$GW_THREADS}
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))
FN_SQL="SELECT coditect.api_projects_list('{}', 1, $PAGE_SIZE, NULL)"
STATIC_SQL="SELECT jsonb_build_object('count', (SELECT count(*) FROM coditect.projects WHERE deleted_at IS NULL), \
'results', (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY created_at DESC, id DESC), '[]') \
FROM (SELECT * FROM coditect.projects WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $PAGE_SIZE) p), \
'next_cursor', NULL)"
CTX_SQL="SELECT coditect.set_request_context(:tenant, :uid, 'owner', '127.0.0.1', 'pgbench', 'GET', \
'/api/v1/projects/', 'pgb-' || :client_id || '-' || :r)"

install_deps
build_extension
bench_gateway_build
bench_prepare list "$PORT" "$GW_PORT"
bench_cluster "$PORT"
create_database "$DB"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
sql -c "CREATE EXTENSION pg_stat_statements"

log "loading 1 tenant x $BIG projects and $OTHERS tenants x $OTHER_PROJECTS projects"
sql -v big="$BIG" -v others="$OTHERS" -v other_projects="$OTHER_PROJECTS" -v bench="$HERE" \
  -v per_tenant=t.projects -v step="interval '1 year' / t.projects" -v tenant_offset="interval '1 millisecond'" <<'SQL'
CREATE SCHEMA bench;
CREATE TABLE bench.bench_tenants (
    n         int PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    projects  int NOT NULL
);
INSERT INTO bench.bench_tenants (n, tenant_id, user_id, projects)
SELECT i, (r ->> 'tenant_id')::uuid, (r ->> 'user_id')::uuid,
       CASE WHEN i = 1 THEN :big ELSE :other_projects END
  FROM generate_series(1, 1 + :others) AS i,
       LATERAL coditect.create_tenant('Bench tenant ' || i, 'bench-' || i,
                                      'tenant' || i || '@bench.example',
                                      'owner' || i || '@bench.example') AS r;

-- The big tenant's projects spread over a year.
\i :bench/projects_load.sql

-- The gateway's login, also pgbench's.
CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway;
SQL

read -r T1 U1 < <(sql -At -F ' ' -c "SELECT tenant_id, user_id FROM bench.bench_tenants WHERE n = 1")
read -r live total < <(sql -At -F ' ' -c \
  "SELECT count(*) FILTER (WHERE tenant_id = '$T1' AND deleted_at IS NULL), count(*) FROM coditect.projects")

# The gateway, with a secret of this run, and a token of the big tenant's owner.
bench_gateway_start "$PORT" "$GW_PORT" "$DB"
TOKEN=$(CODITECT_JWT_SECRET=$SECRET "$GW" --mint-dev-token --sub "$U1" --tenant "$T1" --role owner --ttl 86400)
GW_PATH="/api/v1/projects/?page_size=$PAGE_SIZE"

# Sanity: the function, the static statement and the gateway give the same page and count (other
# keys of the envelope may differ), and RLS hides the other tenants' projects.
via_gw=$(curl -fsS "http://127.0.0.1:$GW_PORT$GW_PATH" -H "Authorization: Bearer $TOKEN")
read -r same_fn same_gw seen n_results < <(
  psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" -v gw="$via_gw" <<SQL | tail -n 1
BEGIN READ ONLY;
\\o /dev/null
SELECT coditect.set_request_context('$T1', '$U1', 'owner');
\\o
WITH f AS ($FN_SQL AS j), s AS ($STATIC_SQL AS j)
SELECT (f.j -> 'results') = (s.j -> 'results') AND (f.j -> 'count') = (s.j -> 'count'), (:'gw'::jsonb -> 'results') = (s.j -> 'results') AND (:'gw'::jsonb -> 'count') = (s.j -> 'count'),
       s.j ->> 'count', jsonb_array_length(s.j -> 'results')
  FROM f, s;
COMMIT;
SQL
)
echo
echo "Data: $total projects in $((1 + OTHERS)) tenants; the big tenant has $live live ones."
echo "Check (bench_gw, big tenant's context): static count $seen, $n_results results; function's count and results = static: $same_fn;" \
  "gateway's count and results = static: $same_gw"
if [ "$same_fn" != t ] || [ "$same_gw" != t ] || [ "$seen" != "$live" ] || [ "$n_results" != "$PAGE_SIZE" ]; then
  echo "the function, the static statement and the gateway do not answer alike; not benchmarking" >&2
  exit 1
fi
echo
echo "Plan of the static statement as bench_gw (big tenant):"
psql -X -q -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" <<SQL | sed 's/^/    /'
BEGIN READ ONLY;
\\o /dev/null
SELECT coditect.set_request_context('$T1', '$U1', 'owner');
\\o
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) $STATIC_SQL;
COMMIT;
SQL

# pgbench scripts: one pipeline per transaction (one round trip), as the gateway sends it.
tx_script() { # STATEMENT
  cat <<SQL
\\set r random(1, 1000000000)
\\startpipeline
BEGIN READ ONLY;
$CTX_SQL;
$1;
COMMIT;
\\endpipeline
SQL
}
tx_script "$FN_SQL" >"$WORK/fn.sql"
tx_script "$STATIC_SQL" >"$WORK/static.sql"

cat >"$WORK/list.lua" <<LUA
dofile("$HERE/wrk_hist.lua")
request = function()
  return wrk.format("GET", "$GW_PATH", {["Authorization"] = "Bearer $TOKEN"})
end
LUA

# pgss_snap: calls and total time (ms) in pg_stat_statements of bench_gw's list statements (the
# function, pgbench's or the gateway's call of it, and the static statement) and of its
# set_request_context calls.
pgss_snap() {
  sql -At -F ' ' <<'SQL'
SELECT coalesce(sum(calls) FILTER (WHERE l), 0), coalesce(sum(total_exec_time) FILTER (WHERE l), 0),
       coalesce(sum(calls) FILTER (WHERE c), 0), coalesce(sum(total_exec_time) FILTER (WHERE c), 0)
  FROM (SELECT calls, total_exec_time,
               strpos(query, 'api_projects_list') > 0 OR strpos(query, 'jsonb_build_object(') > 0 AS l,
               strpos(query, 'set_request_context') > 0 AS c
          FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND userid = 'bench_gw'::regrole) s
SQL
}
# slice CONFIG SECONDS; CONFIG is fn_N, static_N or gw_N (N clients or connections). Also
# appends the slice's pg_stat_statements deltas to $WORK/<config>.srv.
slice() {
  local before after
  before=$(pgss_snap)
  case $1 in
    fn_*) bench_pgbench_slice "$1" "$WORK/fn.sql" "${1#fn_}" "$2" -D tenant="$T1" -D uid="$U1" ;;
    static_*) bench_pgbench_slice "$1" "$WORK/static.sql" "${1#static_}" "$2" -D tenant="$T1" -D uid="$U1" ;;
    gw_*) bench_wrk_slice "$1" "$WORK/list.lua" "${1#gw_}" "$2" ;;
  esac
  after=$(pgss_snap)
  echo "$before $after" | awk '{ print $5 - $1, $6 - $2, $7 - $3, $8 - $4 }' >>"$WORK/$1.srv"
}
# server_ms CONFIG: mean server time (ms) per call of the list statement and of set_request_context.
server_ms() {
  awk '{ lc += $1; lt += $2; cc += $3; ct += $4 }
       END { printf "%.3f %.3f\n", lc ? lt / lc : 0, cc ? ct / cc : 0 }' "$WORK/$1.srv"
}
CONFIGS=()
for c in "${FN_CLIENTS[@]}"; do CONFIGS+=("fn_$c" "static_$c"); done
for c in "${GW_CONNS[@]}"; do
  CONFIGS+=("gw_$c")
  [[ " ${CONFIGS[*]} " == *" static_$c "* ]] || CONFIGS+=("static_$c")
done
bench_slices "${CONFIGS[@]}"

declare -A RPS P50 P99 N SRV CTX
for c in "${CONFIGS[@]}"; do
  read -r "RPS[$c]" "P50[$c]" "P99[$c]" "N[$c]" < <(bench_figures "$c")
  read -r "SRV[$c]" "CTX[$c]" < <(server_ms "$c")
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "Project list, big tenant ($live live projects of $total), page 1 of $PAGE_SIZE with the count;" \
  "$ROUNDS interleaved slices of ${SLICE}s per configuration after ${WARMUP}s of warm-up; $(nproc) CPUs;" \
  "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "  fn     = pgbench: BEGIN READ ONLY; set_request_context(...); $FN_SQL; COMMIT"
echo "  static = pgbench: the same with the page and the count as one static statement:"
echo "           $STATIC_SQL"
echo "  gw     = wrk -t2: GET $GW_PATH through the gateway ($GW_THREADS threads, a pool of $GW_POOL)"
echo "  pgbench: -M prepared, login bench_gw (RLS), each transaction one pipeline (one round trip)"
echo
row() { printf '%-40s %9s %8s %8s %9s %11s %10s\n' "$@"; }
row "" "tps" "p50 ms" "p99 ms" "requests" "list srv ms" "ctx srv ms"
echo "1. The list function against the static statement (target fn/static >= 0.9)"
for c in "${FN_CLIENTS[@]}"; do
  row "   fn, $c clients" "${RPS[fn_$c]}" "${P50[fn_$c]}" "${P99[fn_$c]}" "${N[fn_$c]}" "${SRV[fn_$c]}" "${CTX[fn_$c]}"
  row "   static, $c clients" "${RPS[static_$c]}" "${P50[static_$c]}" "${P99[static_$c]}" "${N[static_$c]}" "${SRV[static_$c]}" "${CTX[static_$c]}"
  row "   ratio fn/static, $c clients" "$(ratio "${RPS[fn_$c]}" "${RPS[static_$c]}")"
done
echo "2. The gateway against the static statement (target gw/static >= 0.8; gateway p99 < 10 ms at 64)"
for c in "${GW_CONNS[@]}"; do
  row "   gw, $c HTTP connections" "${RPS[gw_$c]}" "${P50[gw_$c]}" "${P99[gw_$c]}" "${N[gw_$c]}" "${SRV[gw_$c]}" "${CTX[gw_$c]}"
  row "   static, $c clients" "${RPS[static_$c]}" "${P50[static_$c]}" "${P99[static_$c]}" "${N[static_$c]}" "${SRV[static_$c]}" "${CTX[static_$c]}"
  row "   ratio gw/static, $c" "$(ratio "${RPS[gw_$c]}" "${RPS[static_$c]}")"
done
echo "(tps: mean over the slices of pgbench's tps / wrk's Requests/sec; p50/p99 over all requests of"
echo " the slices. The gateway's latencies include queueing for its $GW_POOL database connections."
echo " list srv / ctx srv: mean server time per call of the list statement (the function or the static"
echo " statement) and of set_request_context in pg_stat_statements, over that configuration's slices;"
echo " with more clients than CPUs it includes waiting for a CPU."
echo " Gateway requests logged: $(grep -c request_id "$WORK/gateway.log"))"

#!/usr/bin/env bash
# bench/gateway.sh: what the REST gateway costs on top of calling the same stored functions
# directly. Two endpoints, each measured three ways in the same run:
#
#   GET  /api/v1/projects/         coditect.api_projects_list('{}', 1, 20, NULL)
#   POST /api/v1/licenses/acquire  coditect.license_acquire(key, hardware id, ip, agent)
#
# Gateway:  wrk (64 connections, 2 threads) against coditect-gateway (GW_THREADS threads, a
#           pool of GW_POOL database connections, each transaction one libpq pipeline; HS256
#           tokens, one per tenant, picked at random per request; a new hardware id per acquire).
# Direct:   the baseline. pgbench (GW_POOL clients, i.e. as many connections as the gateway's
#           pool, 2 threads, -M prepared) as a login in coditect_gateway, one transaction per
#           request with the same context and function, sent as one pipeline like the
#           gateway's (\startpipeline ... \endpipeline: one round trip):
#           BEGIN [READ ONLY]; set_request_context(...); <function>; COMMIT.
# Direct64: the same transactions without the pipeline (four round trips) over CONNECTIONS (64)
#           clients: the earlier baseline, kept beside it to show how much of a ratio the
#           client setup decides.
#
# Prints req/s, p50 and p99 latency for each and the ratios gateway/direct (goal >= 0.7) and
# gateway/direct64. Runs its own throw-away cluster on port 55444 and gateway on 55480;
# reports only, asserts nothing about timing. Knobs: TENANTS PROJECTS DURATION ROUNDS WARMUP
# CONNECTIONS GW_THREADS GW_POOL.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=55444
GW_PORT=55480
DB=coditect_bench_gw
TENANTS=${TENANTS:-50}
PROJECTS=${PROJECTS:-200}
DURATION=${DURATION:-15} # measured seconds per configuration, split into ROUNDS slices
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
GW_THREADS=${GW_THREADS:-8}
GW_POOL=${GW_POOL:-$GW_THREADS}
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))

install_deps
build_extension
bench_gateway_build
bench_prepare gw "$PORT" "$GW_PORT"

log "starting a private cluster in $DATADIR on port $PORT"
cluster_start "$DATADIR" "$PORT"
create_database "$DB"
setup_signing_key "$DATADIR" "$DB"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

log "loading $TENANTS tenants x $PROJECTS projects, one license of 10,000,000 seats each"
sql -v tenants="$TENANTS" -v projects="$PROJECTS" <<'SQL'
CREATE SCHEMA bench;
CREATE TABLE bench.bench_tenants (
    n          int PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    key_string text
);
INSERT INTO bench.bench_tenants (n, tenant_id, user_id)
SELECT i, (r ->> 'tenant_id')::uuid, (r ->> 'user_id')::uuid
  FROM generate_series(1, :tenants) AS i,
       LATERAL coditect.create_tenant('Bench tenant ' || i, 'bench-' || i,
                                      'tenant' || i || '@bench.example',
                                      'owner' || i || '@bench.example') AS r;
INSERT INTO coditect.projects (tenant_id, name, description)
SELECT t.tenant_id, 'project-' || p, 'Benchmark project ' || p
  FROM bench.bench_tenants t CROSS JOIN generate_series(1, :projects) AS p;
WITH l AS (
    INSERT INTO coditect.licenses (tenant_id, tier, expiry_date, seats_total)
    SELECT tenant_id, 'ENTERPRISE', now() + interval '1 year', 10000000 FROM bench.bench_tenants
    RETURNING tenant_id, key_string
)
UPDATE bench.bench_tenants b SET key_string = l.key_string FROM l WHERE l.tenant_id = b.tenant_id;
VACUUM ANALYZE;
-- The gateway's login, also used by pgbench for the direct calls.
CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway;
GRANT USAGE ON SCHEMA bench TO bench_gw;
GRANT SELECT ON bench.bench_tenants TO bench_gw;
SQL

# The direct transactions. The tenant's ids and key come from bench.bench_tenants inside the
# context and acquire statements themselves (an index lookup, no extra round trip), as the
# gateway has them from the token and the body.
# direct_*: one pipeline per transaction (one round trip, as the gateway sends it);
# direct64_*: the same statements one round trip each.
list_tx() {
  cat <<'SQL'
BEGIN READ ONLY;
SELECT coditect.set_request_context(b.tenant_id, b.user_id, 'owner', '127.0.0.1', 'pgbench', 'GET', '/api/v1/projects/') FROM bench.bench_tenants b WHERE b.n = :n;
SELECT coditect.api_projects_list('{}', 1, 20, NULL);
COMMIT;
SQL
}
acquire_tx() {
  cat <<'SQL'
BEGIN;
SELECT coditect.set_request_context(b.tenant_id, b.user_id, 'owner', '127.0.0.1', 'pgbench', 'POST', '/api/v1/licenses/acquire') FROM bench.bench_tenants b WHERE b.n = :n;
SELECT coditect.license_acquire((SELECT key_string FROM bench.bench_tenants WHERE n = :n), 'pgb-' || :client_id || '-' || :h, '127.0.0.1', 'pgbench');
COMMIT;
SQL
}
{
  echo '\set n random(1, :tenants)'
  list_tx
} >"$WORK/direct64_list.sql"
{
  echo '\set n random(1, :tenants)'
  echo '\set h random(1, 1000000000000)'
  acquire_tx
} >"$WORK/direct64_acquire.sql"
{
  echo '\set n random(1, :tenants)'
  echo '\startpipeline'
  list_tx
  echo '\endpipeline'
} >"$WORK/direct_list.sql"
{
  echo '\set n random(1, :tenants)'
  echo '\set h random(1, 1000000000000)'
  echo '\startpipeline'
  acquire_tx
  echo '\endpipeline'
} >"$WORK/direct_acquire.sql"

# The gateway, with a secret of this run; one token and license key per tenant for wrk.
bench_gateway_start "$PORT" "$GW_PORT" "$DB"
{
  echo "tenants = {"
  sql -At -F ' ' -c "SELECT tenant_id, user_id, key_string FROM bench.bench_tenants ORDER BY n" |
    while read -r t u k; do
      tok=$(CODITECT_JWT_SECRET=$SECRET "$GW" --mint-dev-token --sub "$u" --tenant "$t" --role owner --ttl 86400)
      echo "  {token = \"$tok\", key = \"$k\"},"
    done
  echo "}"
} >"$WORK/tenants.lua"
cat >"$WORK/list.lua" <<LUA
dofile("$WORK/tenants.lua")
dofile("$HERE/wrk_hist.lua")
request = function()
  local t = tenants[math.random(#tenants)]
  return wrk.format("GET", "/api/v1/projects/", {["Authorization"] = "Bearer " .. t.token})
end
LUA
cat >"$WORK/acquire.lua" <<LUA
dofile("$WORK/tenants.lua")
dofile("$HERE/wrk_hist.lua")
local thread_no = 0
setup = function(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
end
local n = 0
request = function()
  n = n + 1
  local t = tenants[math.random(#tenants)]
  local body = '{"key_string": "' .. t.key .. '", "hardware_id": "wrk-' .. tid .. '-' .. n .. '"}'
  return wrk.format("POST", "/api/v1/licenses/acquire",
                    {["Authorization"] = "Bearer " .. t.token, ["Content-Type"] = "application/json"}, body)
end
LUA

# Sanity: both ways answer the same for tenant 1 before measuring.
read -r T1 U1 K1 < <(sql -At -F ' ' -c "SELECT tenant_id, user_id, key_string FROM bench.bench_tenants WHERE n = 1")
TOK1=$(CODITECT_JWT_SECRET=$SECRET "$GW" --mint-dev-token --sub "$U1" --tenant "$T1" --role owner)
via_gw=$(curl -fsS "http://127.0.0.1:$GW_PORT/api/v1/projects/" -H "Authorization: Bearer $TOK1" |
  grep -o '"count":[0-9]*')
via_db=$(psql -X -q -At -U bench_gw -d "$DB" -c "BEGIN" \
  -c "SELECT coditect.set_request_context('$T1', '$U1', 'owner')" -c "SELECT coditect.api_projects_list('{}', 1, 20, NULL)->>'count'" -c "COMMIT" | sed -n 2p)
acq=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$GW_PORT/api/v1/licenses/acquire" \
  -H "Authorization: Bearer $TOK1" -d "{\"key_string\": \"$K1\", \"hardware_id\": \"sanity\"}")
echo
echo "Check: tenant 1 through the gateway $via_gw, directly \"count\":$via_db; acquire through the gateway: HTTP $acq"
if [ "$via_gw" != "\"count\":$via_db" ] || [ "$acq" != 200 ]; then
  echo "the gateway does not answer as the database does; not benchmarking" >&2
  exit 1
fi

slice() { # CONFIG SECONDS
  case $1 in
    gw_list) bench_wrk_slice gw_list "$WORK/list.lua" "$CONNECTIONS" "$2" ;;
    direct_list) bench_pgbench_slice direct_list "$WORK/direct_list.sql" "$GW_POOL" "$2" -D tenants="$TENANTS" ;;
    direct_acquire)
      bench_pgbench_slice direct_acquire "$WORK/direct_acquire.sql" "$GW_POOL" "$2" -D tenants="$TENANTS"
      ;;
    direct64_list)
      bench_pgbench_slice direct64_list "$WORK/direct64_list.sql" "$CONNECTIONS" "$2" -D tenants="$TENANTS"
      ;;
    direct64_acquire)
      bench_pgbench_slice direct64_acquire "$WORK/direct64_acquire.sql" "$CONNECTIONS" "$2" -D tenants="$TENANTS"
      ;;
    gw_acquire) bench_wrk_slice gw_acquire "$WORK/acquire.lua" "$CONNECTIONS" "$2" ;;
  esac
}

CONFIGS=(gw_list direct_list direct64_list direct64_acquire direct_acquire gw_acquire)
bench_slices "${CONFIGS[@]}"
read -r gl_rps gl_p50 gl_p99 gl_n < <(bench_figures gw_list)
read -r dl_rps dl_p50 dl_p99 dl_n < <(bench_figures direct_list)
read -r xl_rps xl_p50 xl_p99 xl_n < <(bench_figures direct64_list)
read -r ga_rps ga_p50 ga_p99 ga_n < <(bench_figures gw_acquire)
read -r da_rps da_p50 da_p99 da_n < <(bench_figures direct_acquire)
read -r xa_rps xa_p50 xa_p99 xa_n < <(bench_figures direct64_acquire)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

sessions=$(sql -At -c "SELECT count(*) FROM coditect.license_sessions")
echo
echo "Gateway ($GW_THREADS threads, a pool of $GW_POOL, $CONNECTIONS HTTP connections) vs direct calls," \
  "$ROUNDS interleaved slices of ${SLICE}s each"
row() { printf '%-52s %10s %8s %8s %9s\n' "$@"; }
row "" "req/s" "p50 ms" "p99 ms" "requests"
row "GET projects: gateway" "$gl_rps" "$gl_p50" "$gl_p99" "$gl_n"
row "GET projects: direct, $GW_POOL clients, 1 round trip" "$dl_rps" "$dl_p50" "$dl_p99" "$dl_n"
row "GET projects: direct, $CONNECTIONS clients, 4 round trips" "$xl_rps" "$xl_p50" "$xl_p99" "$xl_n"
row "  ratio gateway/direct ($GW_POOL clients, 1 round trip)" "$(ratio "$gl_rps" "$dl_rps")"
row "  ratio gateway/direct ($CONNECTIONS clients, 4 round trips)" "$(ratio "$gl_rps" "$xl_rps")"
row "POST acquire: gateway" "$ga_rps" "$ga_p50" "$ga_p99" "$ga_n"
row "POST acquire: direct, $GW_POOL clients, 1 round trip" "$da_rps" "$da_p50" "$da_p99" "$da_n"
row "POST acquire: direct, $CONNECTIONS clients, 4 round trips" "$xa_rps" "$xa_p50" "$xa_p99" "$xa_n"
row "  ratio gateway/direct ($GW_POOL clients, 1 round trip)" "$(ratio "$ga_rps" "$da_rps")"
row "  ratio gateway/direct ($CONNECTIONS clients, 4 round trips)" "$(ratio "$ga_rps" "$xa_rps")"
echo "(goal: ratio gateway/direct with the same connection count and one round trip >= 0.7;"
echo " $sessions license sessions made in all; gateway requests logged: $(grep -c request_id "$WORK/gateway.log"))"

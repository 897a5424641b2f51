#!/usr/bin/env bash
# bench/gateway.sh: what the REST gateway costs on top of calling the same stored functions
# directly. Two endpoints, each measured both ways in the same run at 64 connections:
#
#   GET  /api/v1/projects/         coditect.api_projects_list('{}', 1, 20, NULL)
#   POST /api/v1/licenses/acquire  coditect.license_acquire(key, hardware id, ip, agent)
#
# Gateway: wrk (64 connections, 2 threads) against coditect-gateway (HS256 tokens, one per
#          tenant, picked at random per request; a new hardware id per acquire).
# Direct:  pgbench (64 clients, 2 threads, -M prepared) as a login in coditect_gateway, one
#          transaction per request with the same context and function:
#          BEGIN [READ ONLY]; set_request_context(...); <function>; COMMIT.
#
# Prints req/s, p50 and p99 latency for both and the ratio gateway/direct (goal >= 0.7).
# Runs its own throw-away cluster on port 55444 and gateway on 55480; reports only, asserts
# nothing about timing. Knobs: TENANTS PROJECTS DURATION WARMUP CONNECTIONS GW_THREADS GW_POOL.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

PORT=55444
GW_PORT=55480
DB=coditect_bench_gw
TENANTS=${TENANTS:-50}
PROJECTS=${PROJECTS:-200}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
GW_THREADS=${GW_THREADS:-8}
GW_POOL=${GW_POOL:-$GW_THREADS}
PGBENCH=$PGBIN/pgbench

install_deps
build_extension
log "building the gateway"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j2 --target coditect-gateway >/dev/null
GW=$ROOT/build/coditect-gateway

for p in "$PORT" "$GW_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "something already listens on 127.0.0.1:$p; stop it first (a leftover benchmark?)" >&2
    exit 1
  fi
done

DATADIR=$(mktemp -d /tmp/coditect-bench-gw.XXXXXX)
WORK=$(mktemp -d /tmp/coditect-bench-gw-work.XXXXXX)
GW_PID=
cleanup() {
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
  cluster_stop "$DATADIR"
  rm -rf "$DATADIR" "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
cat >"$WORK/direct_list.sql" <<'SQL'
\set n random(1, :tenants)
BEGIN READ ONLY;
SELECT coditect.set_request_context(b.tenant_id, b.user_id, 'owner', '127.0.0.1', 'pgbench', 'GET', '/api/v1/projects/') FROM bench.bench_tenants b WHERE b.n = :n;
SELECT coditect.api_projects_list('{}', 1, 20, NULL);
COMMIT;
SQL
cat >"$WORK/direct_acquire.sql" <<'SQL'
\set n random(1, :tenants)
\set h random(1, 1000000000000)
BEGIN;
SELECT coditect.set_request_context(b.tenant_id, b.user_id, 'owner', '127.0.0.1', 'pgbench', 'POST', '/api/v1/licenses/acquire') FROM bench.bench_tenants b WHERE b.n = :n;
SELECT coditect.license_acquire((SELECT key_string FROM bench.bench_tenants WHERE n = :n), 'pgb-' || :client_id || '-' || :h, '127.0.0.1', 'pgbench');
COMMIT;
SQL

# The gateway, with a secret of this run; one token and license key per tenant for wrk.
SECRET=$(openssl rand -hex 32)
CODITECT_DATABASE_URL="host=$DATADIR port=$PORT dbname=$DB user=bench_gw" \
  CODITECT_LISTEN="127.0.0.1:$GW_PORT" CODITECT_JWT_SECRET="$SECRET" \
  CODITECT_THREADS="$GW_THREADS" CODITECT_POOL_SIZE="$GW_POOL" "$GW" 2>"$WORK/gateway.log" &
GW_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$GW_PORT/health/" >/dev/null 2>&1 && break
  sleep 0.1
done
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
request = function()
  local t = tenants[math.random(#tenants)]
  return wrk.format("GET", "/api/v1/projects/", {["Authorization"] = "Bearer " .. t.token})
end
LUA
cat >"$WORK/acquire.lua" <<LUA
dofile("$WORK/tenants.lua")
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

# wrk_run NAME SCRIPT SECONDS: req/s, p50 ms, p99 ms on stdout; fails on any non-2xx answer.
ms() { # "1.23ms" / "456.00us" / "1.02s" -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
wrk_run() {
  local name=$1 script=$2 secs=$3 out=$WORK/wrk-$1.out
  log "wrk $name: ${secs}s, $CONNECTIONS connections"
  wrk -t2 -c"$CONNECTIONS" -d"${secs}s" --latency -s "$script" "http://127.0.0.1:$GW_PORT" >"$out" 2>&1
  if grep -q "Non-2xx" "$out" || grep -q "Socket errors" "$out"; then
    cat "$out" >&2
    echo "wrk $name: errors or non-2xx answers (see above; gateway log: $WORK/gateway.log)" >&2
    exit 1
  fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  echo "$rps $p50 $p99"
}
# pgbench_run NAME SCRIPT SECONDS: the same three figures, latencies from the per-transaction log.
pgbench_run() {
  local name=$1 script=$2 secs=$3 dir=$WORK/pgb-$1
  log "pgbench $name: ${secs}s, $CONNECTIONS clients"
  rm -rf "$dir" && mkdir -p "$dir"
  if ! (cd "$dir" && "$PGBENCH" -n -M prepared -c "$CONNECTIONS" -j 2 -T "$secs" -U bench_gw \
    -D tenants="$TENANTS" -l -f "$script" "$DB" >"$dir/out" 2>&1); then
    cat "$dir/out" >&2
    echo "pgbench $name failed" >&2
    exit 1
  fi
  if grep -q "failed transactions: [1-9]" "$dir/out"; then
    cat "$dir/out" >&2
    exit 1
  fi
  local rps
  rps=$(awk '/^tps = / { printf "%.2f", $3 }' "$dir/out")
  cat "$dir"/pgbench_log.* | awk '{ print $3 }' | sort -n >"$dir/lat"
  local n p50 p99
  n=$(wc -l <"$dir/lat")
  p50=$(sed -n "$(((n + 1) / 2))p" "$dir/lat" | awk '{ printf "%.2f", $1 / 1000 }')
  p99=$(sed -n "$(((n * 99 + 99) / 100))p" "$dir/lat" | awk '{ printf "%.2f", $1 / 1000 }')
  echo "$rps $p50 $p99"
}

if ((WARMUP > 0)); then
  wrk_run warmup-list "$WORK/list.lua" "$WARMUP" >/dev/null
  pgbench_run warmup-list "$WORK/direct_list.sql" "$WARMUP" >/dev/null
  wrk_run warmup-acquire "$WORK/acquire.lua" "$WARMUP" >/dev/null
  pgbench_run warmup-acquire "$WORK/direct_acquire.sql" "$WARMUP" >/dev/null
fi
# Order gateway, direct, direct, gateway so that drift of the machine falls on both alike.
read -r gl_rps gl_p50 gl_p99 < <(wrk_run list "$WORK/list.lua" "$DURATION")
read -r dl_rps dl_p50 dl_p99 < <(pgbench_run list "$WORK/direct_list.sql" "$DURATION")
read -r da_rps da_p50 da_p99 < <(pgbench_run acquire "$WORK/direct_acquire.sql" "$DURATION")
read -r ga_rps ga_p50 ga_p99 < <(wrk_run acquire "$WORK/acquire.lua" "$DURATION")

sessions=$(sql -At -c "SELECT count(*) FROM coditect.license_sessions")
echo
echo "Gateway ($GW_THREADS threads, $GW_POOL connections) vs direct calls, $CONNECTIONS connections, ${DURATION}s each"
printf '%-28s %12s %10s %10s\n' "" "req/s" "p50 ms" "p99 ms"
printf '%-28s %12s %10s %10s\n' "GET projects: gateway" "$gl_rps" "$gl_p50" "$gl_p99"
printf '%-28s %12s %10s %10s\n' "GET projects: direct" "$dl_rps" "$dl_p50" "$dl_p99"
printf '%-28s %12s\n' "  ratio gateway/direct" "$(awk -v a="$gl_rps" -v b="$dl_rps" 'BEGIN { printf "%.2f", a / b }')"
printf '%-28s %12s %10s %10s\n' "POST acquire: gateway" "$ga_rps" "$ga_p50" "$ga_p99"
printf '%-28s %12s %10s %10s\n' "POST acquire: direct" "$da_rps" "$da_p50" "$da_p99"
printf '%-28s %12s\n' "  ratio gateway/direct" "$(awk -v a="$ga_rps" -v b="$da_rps" 'BEGIN { printf "%.2f", a / b }')"
echo "(goal: ratio >= 0.7; $sessions license sessions made in all; gateway requests logged: $(grep -c request_id "$WORK/gateway.log"))"

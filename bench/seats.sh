#!/usr/bin/env bash
# bench/seats.sh: throughput of concurrent-seat licensing, ours (coditect.license_acquire /
# license_heartbeat / license_release in PostgreSQL) against the seed's design (a sorted-set
# semaphore in Redis, three Lua scripts), driven by the same C++ client (bench/seats_driver.cpp).
# Ours twice in the same run: "before", the PL/pgSQL calls and triggers as they were before
# they moved to C++ (bench/seats_before.sql, loaded into this throw-away cluster only, the
# triggers switched by seats_before.use() between slices), and "after", the extension's C++.
#
# One cycle = acquire -> heartbeat -> release of one seat by one client, with a hardware id
# unique per cycle; a full license (CD409 / nil) is a "no seat" outcome, counted apart.
# Configurations: 1, 8 and 64 clients over 1,000 licenses (a random license per cycle), and
# 64 clients on one hot license; every license has 5 seats.
#   before / after (sync on)   synchronous_commit = on, the default: every commit is durable;
#   before / after (sync off)  synchronous_commit = off for the gateway's connections;
#   redis            Redis 7 without persistence (--save '' --appendonly no), the seed's cache.
# A sampler thread counts the seats held per license every 100 ms during every run, and a
# check after the run counts oversubscribed licenses and seats still held.
# pgbench runs the same cycle as a sanity check (BEGIN; context; call; COMMIT per transaction).
#
# Runs its own throw-away PostgreSQL cluster on port 55442 and its own redis-server on port
# 56380; no timing assertions, only a report. Knobs (environment): LICENSES TENANTS SEATS
# DURATION ROUNDS WARMUP PGBENCH_SECS PORT REDIS_PORT SYSTEMS (a subset of the five below) and
# PG_TREE (a private copy of Debian's PostgreSQL tree, usr/lib/postgresql/15 and
# usr/share/postgresql/15 under one directory: the extension is installed there with DESTDIR
# and the cluster runs from there, leaving the system's extension files alone) and
# PERF=1 (a perf profile of the backends during the "after, sync off" slices of 64 clients,
# summarised after the table; needs perf).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${PORT:-55442}
REDIS_PORT=${REDIS_PORT:-56380}
DB=coditect_bench_seats
LICENSES=${LICENSES:-1000}
TENANTS=${TENANTS:-4}
SEATS=${SEATS:-5}
DURATION=${DURATION:-10}   # measured seconds per configuration and system, in ROUNDS slices
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-2}        # seconds of warm-up (not counted) at the start of every slice
PGBENCH_SECS=${PGBENCH_SECS:-5}
TTL=360                    # Redis session TTL, seconds (ours: coditect.license_session_ttl, 6 min)
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))
if [ -n "${PG_TREE:-}" ]; then
  PGBIN=$PG_TREE/usr/lib/postgresql/15/bin  # relocatable: finds its share and lib dirs there
  build_extension() {
    log "building the extension and installing it into $PG_TREE"
    make -C "$ROOT" -j2 >/dev/null
    make -C "$ROOT" install DESTDIR="$PG_TREE" >/dev/null
  }
fi
PGBENCH=$PGBIN/pgbench

CONFIGS=(c1 c8 c64 hot)
declare -A CLIENTS_OF=([c1]=1 [c8]=8 [c64]=64 [hot]=64)
declare -A LABEL_OF=([c1]="1 client, $LICENSES licenses" [c8]="8 clients, $LICENSES licenses"
  [c64]="64 clients, $LICENSES licenses" [hot]="64 clients, 1 hot license")
read -r -a SYSTEMS <<<"${SYSTEMS:-before_on after_on before_off after_off redis}"
declare -A SYSLABEL_OF=([before_on]="before (sync on)" [after_on]="after (sync on)"
  [before_off]="before (sync off)" [after_off]="after (sync off)" [redis]="redis (no persist.)")
PERF=${PERF:-0}

install_deps redis-server libhiredis-dev
build_extension

bench_prepare seats "$PORT" "$REDIS_PORT"
REDIS_PID=
bench_cleanup_extra() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
}

log "compiling bench/seats_driver.cpp"
g++ -O2 -std=c++17 -Wall -Wextra -pthread "$HERE/seats_driver.cpp" -I"$(pg_config --includedir)" \
  -lpq -lhiredis -o "$WORK/seats_driver"
DRIVER=$WORK/seats_driver

log "starting redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --dir "$WORK" --logfile "$WORK/redis.log" &
REDIS_PID=$!
for _ in $(seq 100); do
  [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || { echo "redis-server did not start" >&2; exit 1; }

# Checkpoints only where we ask (before every PostgreSQL slice), so that none falls into some
# slices and not others. synchronous_commit stays at its default (on) for the cluster; the
# "sync off" runs set it per connection.
bench_cluster "$PORT" max_wal_size=8GB checkpoint_timeout=30min
create_database "$DB"
setup_signing_key "$DATADIR" "$DB"

sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
sql -c "CREATE EXTENSION pg_stat_statements"
sql -f "$HERE/seats_before.sql"

log "loading $LICENSES licenses of $SEATS seats over $TENANTS tenants"
sql -v licenses="$LICENSES" -v tenants="$TENANTS" -v seats="$SEATS" <<'SQL'
CREATE SCHEMA bench;
CREATE TABLE bench.tenants AS
SELECT i, coditect.create_tenant('Seats tenant ' || i, 'seats-' || i, 'tenant' || i || '@seats.example',
                                 'owner' || i || '@seats.example') AS j
  FROM generate_series(1, :tenants) AS i;
-- As superuser: the gateway may not write seats_in_use, and it stays 0 here.
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total)
SELECT (t.j ->> 'tenant_id')::uuid, now() + interval '30 days', :seats
  FROM generate_series(1, :licenses) AS g
  JOIN bench.tenants t ON t.i = 1 + (g - 1) % :tenants
 ORDER BY g;
-- n = 1 is the hot license. Members with role 'member' or higher may use licenses; the tenant
-- owner is one.
CREATE TABLE bench.licenses (n int PRIMARY KEY, key_string text NOT NULL, tenant_id uuid NOT NULL,
                             user_id uuid NOT NULL, seats int NOT NULL);
INSERT INTO bench.licenses
SELECT row_number() OVER (ORDER BY l.id), l.key_string, l.tenant_id, (t.j ->> 'user_id')::uuid, l.seats_total
  FROM coditect.licenses l JOIN bench.tenants t ON (t.j ->> 'tenant_id')::uuid = l.tenant_id;
ANALYZE;

CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway;
GRANT USAGE ON SCHEMA bench TO bench_gw;
GRANT SELECT ON bench.licenses TO bench_gw;
-- For pgbench: a full license is an expected answer, not a failure of the client.
CREATE FUNCTION bench.try_acquire(p_key text, p_hardware text) RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN
    RETURN (coditect.license_acquire(p_key, p_hardware) ->> 'session_id')::uuid;
EXCEPTION WHEN SQLSTATE 'CD409' THEN
    RETURN NULL;
END $$;
GRANT EXECUTE ON FUNCTION bench.try_acquire(text, text) TO bench_gw;
SQL
sql -At -F $'\t' -c "SELECT key_string, tenant_id, user_id, seats FROM bench.licenses ORDER BY n" >"$WORK/licenses.tsv"
head -n 1 "$WORK/licenses.tsv" >"$WORK/hot.tsv"
"$DRIVER" load-redis "$REDIS_PORT" "$WORK/licenses.tsv" >/dev/null

# Sanity, as the gateway login: a cycle on license 2 gives a token that verifies; the hot
# license gives exactly its seats, then CD409 (NULL from the wrapper); all seats come back.
sanity=$(psql -X -q -At -v ON_ERROR_STOP=1 -U bench_gw -d "$DB" <<'SQL'
DO $$
DECLARE
    l2 bench.licenses;
    hot bench.licenses;
    a jsonb;
    h jsonb;
    sids uuid[] := '{}';
    s uuid;
    i int;
BEGIN
    SELECT * INTO l2 FROM bench.licenses WHERE n = 2;
    SELECT * INTO hot FROM bench.licenses WHERE n = 1;
    PERFORM coditect.set_request_context(l2.tenant_id, l2.user_id, 'member');
    a := coditect.license_acquire(l2.key_string, 'sanity-hw');
    IF coditect.license_verify(a ->> 'token') ->> 'verdict' <> 'valid' THEN
        RAISE EXCEPTION 'acquire token does not verify: %', coditect.license_verify(a ->> 'token');
    END IF;
    h := coditect.license_heartbeat((a ->> 'session_id')::uuid);
    IF h ->> 'session_id' <> a ->> 'session_id' OR coditect.license_verify(h ->> 'token') ->> 'verdict' <> 'valid' THEN
        RAISE EXCEPTION 'heartbeat answer is wrong: %', h;
    END IF;
    PERFORM coditect.license_release((a ->> 'session_id')::uuid);
    PERFORM coditect.set_request_context(hot.tenant_id, hot.user_id, 'member');
    FOR i IN 1 .. hot.seats LOOP
        sids := sids || bench.try_acquire(hot.key_string, 'sanity-hot-' || i);
    END LOOP;
    IF array_position(sids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'the hot license did not give its % seats', hot.seats;
    END IF;
    IF bench.try_acquire(hot.key_string, 'sanity-hot-extra') IS NOT NULL THEN
        RAISE EXCEPTION 'the hot license gave more than its % seats', hot.seats;
    END IF;
    FOREACH s IN ARRAY sids LOOP
        PERFORM coditect.license_release(s);
    END LOOP;
END
$$;
SELECT count(*) FROM coditect.license_sessions WHERE status = 'active';
SQL
)
if [ "$sanity" != 0 ]; then
  echo "sanity check failed (active sessions left: $sanity); not benchmarking" >&2
  exit 1
fi
echo
echo "Check: as bench_gw (coditect_gateway), acquire and heartbeat give tokens that verify; the hot"
echo "license gives exactly $SEATS seats, then CD409; every seat was released."

PG_CONN="host=127.0.0.1 port=$PORT dbname=$DB user=bench_gw"
ADMIN_CONN="host=127.0.0.1 port=$PORT dbname=$DB user=postgres"
declare -A OPTS_OF=([before_on]="options='-c synchronous_commit=on'" [after_on]="options='-c synchronous_commit=on'"
  [before_off]="options='-c synchronous_commit=off'" [after_off]="options='-c synchronous_commit=off'")
declare -A SCHEMA_OF=([before_on]=seats_before [before_off]=seats_before [after_on]=coditect [after_off]=coditect)
declare -A PATH_OF=([before_on]=before [before_off]=before [after_on]=after [after_off]=after)

# pg_stats CELL: pg_stat_statements of the gateway's calls in the slice just run, added to
# CELL's file as "pattern calls total_ms"; then reset.
pg_stats() {
  sql -At -F ' ' -c "SELECT p, coalesce(sum(s.calls), 0), coalesce(sum(s.total_exec_time), 0)
      FROM unnest('{set_request_context,license_acquire,license_heartbeat,license_release}'::text[]) AS p
      LEFT JOIN pg_stat_statements s ON s.query LIKE '%' || p || '%'
       AND s.userid = 'bench_gw'::regrole
       AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     GROUP BY p" >>"$WORK/$1.pgss"
  sql -o /dev/null -c "SELECT pg_stat_statements_reset()"
}

# slice CONFIG SYSTEM SECS WARMUP OUT: one run of the driver.
slice() {
  local cfg=$1 sys=$2 secs=$3 warm=$4 out=$5 args=()
  args=(--clients "${CLIENTS_OF[$cfg]}" --warmup "$warm" --duration "$secs" --ttl "$TTL")
  if [ "$cfg" = hot ]; then args+=(--licenses "$WORK/hot.tsv" --hot); else args+=(--licenses "$WORK/licenses.tsv"); fi
  if [ "$sys" = redis ]; then
    args=(redis "${args[@]}" --redis-port "$REDIS_PORT")
  else
    args=(pg "${args[@]}" --pg "$PG_CONN ${OPTS_OF[$sys]}" --admin "$ADMIN_CONN" --schema "${SCHEMA_OF[$sys]}")
    sql -o /dev/null -c "SELECT seats_before.use('${PATH_OF[$sys]}')"
    sql -c "CHECKPOINT"
    sql -o /dev/null -c "SELECT pg_stat_statements_reset()"
  fi
  log "$cfg $sys: ${warm}s warm-up + ${secs}s"
  local perf_pid=
  if [ "$PERF" = 1 ] && [ "$cfg" = c64 ] && [ "$sys" = after_off ]; then
    # The backends of this slice, sampled after the warm-up (they connect at its start).
    # (Attaching to pids counts nothing in some containers: the whole machine is recorded and
    # the report keeps this slice's backends.)
    (sleep "$warm"
      stamp=$(date +%s%N)
      sql -At -c "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE usename = 'bench_gw'" \
        >"$WORK/perf.$stamp.pids"
      exec perf record -q -a -F 499 -g -o "$WORK/perf.$stamp.data" -- sleep "$secs") >/dev/null 2>&1 &
    perf_pid=$!
  fi
  if ! "$DRIVER" run "${args[@]}" >"$out" 2>"$out.err"; then
    cat "$out.err" >&2
    echo "seats_driver $cfg $sys failed" >&2
    exit 1
  fi
  if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
  if [ -s "$out.err" ]; then sed "s/^/    [$cfg $sys] /" "$out.err" >&2; fi
  if [ "$sys" != redis ]; then pg_stats "$cfg.$sys"; fi
}
sql -o /dev/null -c "SELECT seats_before.use('after')"

# pgbench sanity runs: the cycle as a pgbench script, one transaction per call
# (BEGIN; context; call; COMMIT), the PL/pgSQL wrapper turning CD409 into NULL.
for cfg in c8 hot; do
  pick=$([ "$cfg" = hot ] && echo '\set n 1' || echo "\\set n random(1, $LICENSES)")
  cat >"$WORK/pgbench_$cfg.sql" <<SQL
$pick
\\set r random(1, 1000000000)
BEGIN;
SELECT key_string AS key, tenant_id AS tenant, user_id AS uid FROM bench.licenses WHERE n = :n \\gset
SELECT coditect.set_request_context(:tenant, :uid, 'member');
SELECT coalesce(s::text, '') AS sid, (s IS NOT NULL)::int AS got FROM bench.try_acquire(:key, 'pgb-' || :client_id || '-' || :r) AS s \\gset
COMMIT;
\\if :got
BEGIN;
SELECT coditect.set_request_context(:tenant, :uid, 'member');
SELECT coditect.license_heartbeat(:sid);
COMMIT;
BEGIN;
SELECT coditect.set_request_context(:tenant, :uid, 'member');
SELECT coditect.license_release(:sid);
COMMIT;
\\endif
SQL
done
declare -A PGB_CYCLES PGB_NOSEAT PGB_SECS PGB_LEFT
for cfg in c8 hot; do
  sql -c "CHECKPOINT"
  log "pgbench $cfg: ${PGBENCH_SECS}s"
  before=$(sql -At -c "SELECT count(*) FROM coditect.license_sessions WHERE hardware_id LIKE 'pgb-%'")
  if ! "$PGBENCH" -n -M prepared -c "${CLIENTS_OF[$cfg]}" -j 2 -T "$PGBENCH_SECS" -U bench_gw \
    -f "$WORK/pgbench_$cfg.sql" "$DB" >"$WORK/pgbench_$cfg.out" 2>&1; then
    cat "$WORK/pgbench_$cfg.out" >&2
    echo "pgbench $cfg failed" >&2
    exit 1
  fi
  read -r after left < <(sql -At -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE status = 'active')
                                           FROM coditect.license_sessions WHERE hardware_id LIKE 'pgb-%'")
  runs=$(awk '/^number of transactions actually processed:/{print $6}' "$WORK/pgbench_$cfg.out")
  PGB_SECS[$cfg]=$(awk '/^tps = /{printf "%.3f", n / $3} /^number of transactions actually processed:/{n = $6}' \
    "$WORK/pgbench_$cfg.out")
  PGB_CYCLES[$cfg]=$((after - before))
  PGB_NOSEAT[$cfg]=$((runs - (after - before)))
  PGB_LEFT[$cfg]=$left
done
sql -o /dev/null -c "SELECT pg_stat_statements_reset()"

# Warm-up inside every slice; ROUNDS interleaved slices, the order reversed every other round
# (c1 before_on, c1 after_on, ..., c1 redis, c8 ..., then backwards), so that drift of the machine and the
# growth of license_sessions and audit_logs fall on every configuration alike.
cells=()
for cfg in "${CONFIGS[@]}"; do for sys in "${SYSTEMS[@]}"; do cells+=("$cfg.$sys"); done; done
for ((r = 1; r <= ROUNDS; r++)); do
  order=("${cells[@]}")
  if ((r % 2 == 0)); then
    order=()
    for ((i = ${#cells[@]} - 1; i >= 0; i--)); do order+=("${cells[$i]}"); done
  fi
  for cell in "${order[@]}"; do
    slice "${cell%%.*}" "${cell#*.}" "$SLICE" "$WARMUP" "$WORK/$cell.$r.out"
  done
done
sessions=$(sql -At -c "SELECT count(*) FROM coditect.license_sessions")
audit_rows=$(sql -At -c "SELECT count(*) FROM coditect.audit_logs")

# sum CELL: the driver's results over all slices, as "key value" lines.
sum() {
  awk '/^result /{for (i = 2; i <= NF; i++) {split($i, kv, "="); k = kv[1]; v = kv[2] + 0
         if (k ~ /^(max_held)$/) {if (!(k in s) || v > s[k]) s[k] = v}
         else if (k ~ /^final_/ || k == "leftover") {if (v < 0) bad[k] = 1; s[k] += v}
         else s[k] += v}}
       END {for (k in s) print k, (k in bad) ? -1 : s[k]}' "$WORK/$1".*.out
}

echo
echo "Seats benchmark: $LICENSES licenses of $SEATS seats over $TENANTS tenants; per configuration and"
echo "system $ROUNDS interleaved slices of ${SLICE}s, each after ${WARMUP}s of warm-up in the same run"
echo "(figures add up the slices); $(nproc) CPUs; every client its own connection over TCP to 127.0.0.1."
echo "  cycle     = acquire -> heartbeat -> release of one seat, hardware id unique per cycle; a"
echo "              full license (CD409 / nil) is a 'no seat' attempt, counted apart"
echo "  before    = the PL/pgSQL calls and triggers (bench/seats_before.sql); after = the C++ calls"
echo "  ours      = bench_gw (coditect_gateway); per call one transaction, set_request_context(tenant,"
echo "              owner, 'member') then the call, sent as one pipeline (Bind/Execute x2, Sync):"
echo "              one round trip, committed at the Sync; acquire and heartbeat answer a signed token"
echo "  sync on   = synchronous_commit = on (default, durable); sync off: set on the connections"
echo "  redis     = redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'), --save '' --appendonly no; EVALSHA of"
echo "              Lua scripts (ZSET of sessions per license, TTL ${TTL}s): one round trip per call"
echo "  oversub.  = oversubscribed licenses, 'during + after': a sampler thread on its own connection"
echo "              counts every ~100 ms the sessions held per license (ours: status 'active', and"
echo "              seats_in_use; redis: ZCARD after removing expired), summed over samples, plus"
echo "              one check after the run; held = most sessions seen held on one license / seats;"
echo "              left = seats still held after the run (every client releases before it stops);"
echo "              drift (ours) = samples in which a license's seats_in_use differed from its"
echo "              active sessions; errors = cycles that failed other than for a full license"
echo
{
  for cfg in "${CONFIGS[@]}"; do
    for sys in "${SYSTEMS[@]}"; do
      echo "$cfg $sys $(sum "$cfg.$sys" | sort | tr '\n' ' ')"
    done
  done
} >"$WORK/summary"
awk -v seats="$SEATS" -v systems="${SYSTEMS[*]}" '
  BEGIN {
    split("c1 c8 c64 hot", cfgs, " "); nsys = split(systems, syss, " ")
    lab["c1"] = "'"${LABEL_OF[c1]}"'"; lab["c8"] = "'"${LABEL_OF[c8]}"'"
    lab["c64"] = "'"${LABEL_OF[c64]}"'"; lab["hot"] = "'"${LABEL_OF[hot]}"'"
    sl["before_on"] = "before (sync on)"; sl["after_on"] = "after (sync on)"
    sl["before_off"] = "before (sync off)"; sl["after_off"] = "after (sync off)"; sl["redis"] = "redis (no persist.)"
  }
  { for (i = 3; i < NF; i += 2) v[$1, $2, $i] = $(i + 1) }
  function rate(c, s, k) { return v[c, s, "secs"] > 0 ? v[c, s, k] / v[c, s, "secs"] : 0 }
  END {
    f = "%-26s %-19s %9s %10s %9s %10s %9s %12s %6s %5s %6s %6s\n"
    printf f, "configuration", "system", "cycles/s", "no seat/s", "cycle ms", "ours/redis", "/before", "oversub.",
      "held", "left", "drift", "errors"
    printf f, "--------------------------", "-------------------", "---------", "----------", "---------",
      "----------", "---------", "------------", "------", "-----", "------", "------"
    for (ci = 1; ci <= 4; ci++) {
      c = cfgs[ci]
      for (si = 1; si <= nsys; si++) {
        s = syss[si]
        cyc = rate(c, s, "cycles"); ns = rate(c, s, "noseat")
        ms = v[c, s, "cycles"] > 0 ? v[c, s, "cycle_us"] / v[c, s, "cycles"] / 1000 : 0
        red = rate(c, "redis", "cycles")
        ratio = s == "redis" ? "-" : (red > 0 ? sprintf("%.3f", cyc / red) : "-")
        b = s; sub(/^after/, "before", b); bef = rate(c, b, "cycles")
        gain = (s ~ /^after/ && bef > 0) ? sprintf("%.2fx", cyc / bef) : "-"
        over = sprintf("%d + %d", v[c, s, "violations"], v[c, s, "final_violations"])
        drift = s == "redis" ? "-" : sprintf("%d", v[c, s, "mismatches"] + v[c, s, "final_mismatches"])
        printf f, si == 1 ? lab[c] : "", sl[s], sprintf("%.1f", cyc), sprintf("%.1f", ns), sprintf("%.3f", ms),
          ratio, gain, over, sprintf("%d/%d", v[c, s, "max_held"], seats), v[c, s, "leftover"], drift, v[c, s, "errors"]
      }
      if (ci < 4) print ""
    }
    for (ci = 1; ci <= 4; ci++) for (si = 1; si <= nsys; si++) n[syss[si] == "redis" ? "redis" : "ours"] += v[cfgs[ci], syss[si], "samples"]
    printf "\n(sampler: %d samples of ours, %d of redis, each over all licenses of the configuration)\n", n["ours"], n["redis"]
  }' "$WORK/summary"

echo
echo "pgbench sanity (after, sync on; -M prepared -j 2, ${PGBENCH_SECS}s, no warm-up; one transaction per call"
echo "as BEGIN; set_request_context; call; COMMIT, i.e. four round trips, plus the license lookup;"
echo "CD409 turned into NULL by a PL/pgSQL wrapper):"
for cfg in c8 hot; do
  awk -v l="${LABEL_OF[$cfg]}" -v c="${PGB_CYCLES[$cfg]}" -v n="${PGB_NOSEAT[$cfg]}" -v s="${PGB_SECS[$cfg]}" \
    -v left="${PGB_LEFT[$cfg]}" \
    'BEGIN {printf "  %-28s %10.1f cycles/s %10.1f no seat/s   seats left held: %d\n", l, c / s, n / s, left}'
done

echo
echo "Server time per call (pg_stat_statements, mean ms over the measured slices; successful calls"
echo "only: a CD409 acquire is not counted; includes waiting for the license row lock):"
fmt="  %-28s %-16s %10s %10s %10s %10s\n"
# shellcheck disable=SC2059
printf "$fmt" "configuration" "system" "context" "acquire" "heartbeat" "release"
for cfg in "${CONFIGS[@]}"; do
  for sys in "${SYSTEMS[@]}"; do
    [ "$sys" = redis ] && continue
    awk -v l="${LABEL_OF[$cfg]}" -v s="${SYSLABEL_OF[$sys]}" -v fmt="$fmt" \
      '{c[$1] += $2; t[$1] += $3}
       function m(p) { return c[p] ? sprintf("%.4f", t[p] / c[p]) : "-" }
       END {printf fmt, l, s, m("set_request_context"), m("license_acquire"), m("license_heartbeat"),
              m("license_release")}' "$WORK/$cfg.$sys.pgss"
  done
done

echo
echo "ours/redis is cycles/s of ours over redis' in the same configuration (goal >= 0.5); /before is"
echo "after's cycles/s over before's at the same synchronous_commit. Ours must show 0 + 0"
echo "oversubscribed and 0 left; redis' figures are reported as measured."
echo "In total $sessions license sessions and $audit_rows audit rows were written."

if [ "$PERF" = 1 ] && ls "$WORK"/perf.*.data >/dev/null 2>&1; then
  echo
  echo "Profile (perf record -a -F 499 -g, kept to the 64 backends, during the 'after, sync off' slices"
  echo "of 64 clients over $LICENSES licenses): self time by symbol, then by library."
  for f in "$WORK"/perf.*.data; do
    pids=$(cat "${f%.data}.pids")
    perf report -i "$f" --pid "$pids" --no-children --sort dso,symbol --stdio 2>/dev/null |
      grep -v '^#' | grep '%' | head -n 30 || true
    perf report -i "$f" --pid "$pids" --no-children --sort dso --stdio 2>/dev/null |
      grep -v '^#' | grep '%' | head -n 12 || true
    cp "$f" "/tmp/seats-$(basename "$f")" && cp "${f%.data}.pids" "/tmp/seats-$(basename "${f%.data}").pids"
  done
  echo "(raw profiles and the backends' pids copied to /tmp/seats-perf.*)"
fi

# Shared set-up of the benchmarks; source after scripts/lib.sh. Each benchmark runs on its own
# throw-away cluster (and servers), so nothing here touches a cluster it did not start.

# bench_prepare NAME PORT...: refuses ports something already listens on, makes DATADIR and
# WORK (scratch files) in /tmp, and removes both on exit after bench_cleanup_extra (define it
# to stop servers of your own) and the cluster's stop.
bench_prepare() {
  local name=$1 port
  shift
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "something already listens on 127.0.0.1:$port; stop it first (a leftover benchmark?)" >&2
      exit 1
    fi
  done
  DATADIR=$(mktemp -d "/tmp/coditect-bench-$name.XXXXXX")
  WORK=$(mktemp -d "/tmp/coditect-bench-$name-work.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
  cluster_stop "$DATADIR"
  rm -rf "$DATADIR" "$WORK"
}

# bench_cluster PORT [name=value ...]: starts the cluster in DATADIR with pg_stat_statements
# preloaded (server-side statement times, free of the client round trip; top-level statements
# only) and the given settings.
bench_cluster() {
  local port=$1 setting
  shift
  log "starting a private cluster in $DATADIR on port $port"
  cluster_start "$DATADIR" "$port"
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  cluster_stop "$DATADIR"
  cluster_start "$DATADIR" "$port"
  local args=(-c "ALTER SYSTEM SET pg_stat_statements.track_utility = off")
  for setting in "$@"; do
    args+=(-c "ALTER SYSTEM SET ${setting%%=*} = '${setting#*=}'")
  done
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -o /dev/null "${args[@]}" -c "SELECT pg_reload_conf()"
}

# Readers of pgbench's output files PREFIX.*.out (one per measured slice):
# pgbench_tps PREFIX: transactions / seconds over all slices (pgbench's tps excludes connection time).
pgbench_tps() {
  awk '/^number of transactions actually processed:/{n = $6}
       /^tps = /{tx += n; secs += n / $3}
       END {printf "%.1f", tx / secs}' "$1".*.out
}
pgbench_txns() { awk '/^number of transactions actually processed:/{n += $6} END {printf "%d", n}' "$1".*.out; }
# pgbench_client_ms PREFIX PATTERN: pgbench -r average latency (ms) of the statement containing
# PATTERN, weighted by each slice's transaction count.
pgbench_client_ms() {
  awk -v pat="$2" '
    FNR == 1 {on = 0}
    /^number of transactions actually processed:/{n = $6}
    /^statement latencies/{on = 1; next}
    on && index($0, pat) {t += $1 * n; c += n; on = 0}
    END {if (c) printf "%.4f", t / c; else print "nan"}' "$1".*.out
}

# The gateway benchmarks (gateway.sh, api_list.sh): coditect-gateway under wrk against pgbench,
# in slices of configurations whose figures go to $WORK/<config>.rate (one rate per slice) and
# $WORK/<config>.lat ("microseconds count" lines).

# bench_gateway_build: builds coditect-gateway (GW) and makes the exit stop the one
# bench_gateway_start starts. Call before bench_prepare.
bench_gateway_build() {
  log "building the gateway"
  cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$ROOT/build" -j2 --target coditect-gateway >/dev/null
  GW=$ROOT/build/coditect-gateway
  GW_PID=
  bench_cleanup_extra() {
    if [ -n "$GW_PID" ]; then
      kill "$GW_PID" 2>/dev/null
      wait "$GW_PID" 2>/dev/null
    fi
    return 0
  }
}

# bench_gateway_start PORT GW_PORT DB: starts the gateway on 127.0.0.1:GW_PORT as login bench_gw
# of DB on the cluster at PORT, with a JWT secret of this run (SECRET), GW_THREADS threads and a
# pool of GW_POOL; logs to $WORK/gateway.log; waits up to 10 s for /health/.
bench_gateway_start() {
  SECRET=$(openssl rand -hex 32)
  CODITECT_DATABASE_URL="host=$DATADIR port=$1 dbname=$3 user=bench_gw" \
    CODITECT_LISTEN="127.0.0.1:$2" CODITECT_JWT_SECRET="$SECRET" \
    CODITECT_THREADS="$GW_THREADS" CODITECT_POOL_SIZE="$GW_POOL" "$GW" 2>"$WORK/gateway.log" &
  GW_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$2/health/" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

# bench_wrk_slice CONFIG SCRIPT CONNECTIONS SECONDS: one wrk run against the gateway on GW_PORT;
# SCRIPT must include wrk_hist.lua. Fails loudly on errors or non-2xx answers.
bench_wrk_slice() {
  local name=$1 script=$2 conns=$3 secs=$4 out=$WORK/wrk.out
  log "wrk $name: ${secs}s, $conns connections"
  WRK_HIST=$WORK/hist.out wrk -t2 -c"$conns" -d"${secs}s" -s "$script" \
    "http://127.0.0.1:$GW_PORT" >"$out" 2>&1
  if grep -q "Non-2xx" "$out" || grep -q "Socket errors" "$out" || [ ! -s "$WORK/hist.out" ]; then
    cat "$out" >&2
    echo "wrk $name: errors or non-2xx answers (see above; gateway log: $WORK/gateway.log)" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ { print $2 }' "$out" >>"$WORK/$name.rate"
  cat "$WORK/hist.out" >>"$WORK/$name.lat"
}

# bench_pgbench_slice CONFIG SCRIPT CLIENTS SECONDS [PGBENCH OPTION...]: one pgbench run as login
# BENCH_LOGIN (default bench_gw) on DB (-M prepared, 2 threads at most, -l for every transaction's latency). Fails
# loudly if pgbench or a transaction does.
bench_pgbench_slice() {
  local name=$1 script=$2 clients=$3 secs=$4 dir=$WORK/pgb threads=2
  shift 4
  ((clients >= threads)) || threads=$clients
  log "pgbench $name: ${secs}s, $clients clients"
  rm -rf "$dir" && mkdir -p "$dir"
  if ! (cd "$dir" && "$PGBENCH" -n -M prepared -c "$clients" -j "$threads" -T "$secs" -U "${BENCH_LOGIN:-bench_gw}" \
    "$@" -l -f "$script" "$DB" >"$dir/out" 2>&1) ||
    grep -q "failed transactions: [1-9]" "$dir/out"; then
    cat "$dir/out" >&2
    echo "pgbench $name failed" >&2
    exit 1
  fi
  awk '/^tps = / { print $3 }' "$dir/out" >>"$WORK/$name.rate"
  cat "$dir"/pgbench_log.* | awk '{ print $3, 1 }' >>"$WORK/$name.lat"
}

# bench_slices CONFIG...: with the script's `slice CONFIG SECONDS`, a WARMUP-second slice of each
# (its figures dropped), then ROUNDS rounds of SLICE-second slices, the order reversed every
# other round, so that drift of the machine (other load, CPU frequency, table growth) falls on
# every configuration alike.
bench_slices() {
  local c i r order
  if ((WARMUP > 0)); then
    for c in "$@"; do slice "$c" "$WARMUP"; done
    rm -f "$WORK"/*.rate "$WORK"/*.lat "$WORK"/*.srv
  fi
  for ((r = 1; r <= ROUNDS; r++)); do
    order=("$@")
    if ((r % 2 == 0)); then
      order=()
      for ((i = $#; i >= 1; i--)); do order+=("${!i}"); done
    fi
    for c in "${order[@]}"; do slice "$c" "$SLICE"; done
  done
}

# bench_figures CONFIG: mean rate over the slices, p50 and p99 (ms) of all its requests, their number.
bench_figures() {
  local name=$1 rate
  rate=$(awk '{ s += $1; n++ } END { printf "%.1f", s / n }' "$WORK/$name.rate")
  sort -n -k1,1 "$WORK/$name.lat" | awk -v rate="$rate" '
    { v[NR] = $1; c[NR] = $2; total += $2 }
    END {
      for (i = 1; i <= NR; i++) {
        seen += c[i]
        if (!p50 && seen >= 0.50 * total) p50 = v[i]
        if (!p99 && seen >= 0.99 * total) p99 = v[i]
      }
      printf "%s %.2f %.2f %d\n", rate, p50 / 1000, p99 / 1000, total
    }'
}

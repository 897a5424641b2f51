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

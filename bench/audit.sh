#!/usr/bin/env bash
# bench/audit.sh: cost of the C++ audit trigger on single-row INSERT and UPDATE of projects.
#
# Three tables in the same database, measured in the same run, interleaved:
#   ours    coditect.projects: its real triggers (stamp_timestamps BEFORE, the C++
#           audit_row_change AFTER, writing one coditect.audit_logs row per change);
#   plain   bench.projects_plain (LIKE coditect.projects INCLUDING ALL): no user triggers;
#   plpgsql bench.projects_plpgsql (LIKE ... INCLUDING ALL): stamp_timestamps plus a PL/pgSQL
#           AFTER ROW trigger, written for this benchmark, that writes the same audit row;
#           so ours vs plpgsql differ only in the audit trigger.
# plain and plpgsql get the same foreign key to coditect.tenants as coditect.projects has
# (LIKE does not copy foreign keys), so its check is in all three figures.
# Every transaction, as superuser postgres: BEGIN; set_request_context(...); the DML; COMMIT.
# The cluster runs with synchronous_commit = off: the figures are CPU cost, not fsync.
#
# Runs its own throw-away cluster on port 55441; no timing assertions, only a report.
# Knobs (environment): ROWS DURATION ROUNDS WARMUP CLIENTS.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=55441
DB=coditect_bench_audit
ROWS=${ROWS:-20000}       # preloaded rows per table, the UPDATE targets
DURATION=${DURATION:-15}  # measured seconds per configuration and operation, in ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-2}
THREADS=2
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))
CONFIGS=(plain ours plpgsql)
declare -A TABLE_OF=([plain]=bench.projects_plain [ours]=coditect.projects [plpgsql]=bench.projects_plpgsql)

install_deps
build_extension

bench_prepare audit "$PORT"
# Checkpoints only where we ask; synchronous_commit off so the figures are CPU cost.
bench_cluster "$PORT" synchronous_commit=off max_wal_size=8GB checkpoint_timeout=30min
create_database "$DB"

sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
sql -c "CREATE EXTENSION pg_stat_statements"

read -r TENANT USER_ID < <(sql -At -F ' ' -c "SELECT r ->> 'tenant_id', r ->> 'user_id'
  FROM coditect.create_tenant('Audit bench', 'audit-bench', 'audit@bench.example', 'owner@bench.example') AS r")
CTX_ARGS="'$TENANT', '$USER_ID', 'owner', '127.0.0.1', 'bench'"

log "creating the comparison tables and loading $ROWS rows into each"
sql -v rows="$ROWS" -v tenant="$TENANT" -v bench="$HERE" <<'SQL'
CREATE SCHEMA bench;
CREATE TABLE bench.projects_plain (LIKE coditect.projects INCLUDING ALL);
CREATE TABLE bench.projects_plpgsql (LIKE coditect.projects INCLUDING ALL);
ALTER TABLE bench.projects_plain
    ADD FOREIGN KEY (tenant_id) REFERENCES coditect.tenants (id) ON DELETE CASCADE;
ALTER TABLE bench.projects_plpgsql
    ADD FOREIGN KEY (tenant_id) REFERENCES coditect.tenants (id) ON DELETE CASCADE;

-- The PL/pgSQL equivalent of coditect_internal.audit_row_change(), for this benchmark only.
-- Arguments: resource, soft-delete column, then excluded columns. Same changes document
-- ({column: [old, new]}, whole row on insert, changed columns only on update), same action,
-- resource type, severity and metadata, one INSERT into coditect.audit_logs. The user comes
-- from coditect.current_user_id(); the extension has no SQL reader for the client ip, user
-- agent, method and path, so this trigger reads them from custom settings, as a PL/pgSQL
-- request context would (set below as database defaults, i.e. free for this trigger).
CREATE FUNCTION bench.audit_row_change_plpgsql() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    resource text := TG_ARGV[0];
    soft_col text := TG_ARGV[1];
    excluded text[] := TG_ARGV[2:];
    old_row  jsonb;
    new_row  jsonb;
    changes  jsonb;
    verb     text;
    severity text := 'info';
    meta     jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        new_row := to_jsonb(NEW);
        SELECT coalesce(jsonb_object_agg(key, jsonb_build_array(NULL::jsonb, value)), '{}')
          INTO changes FROM jsonb_each(new_row) WHERE key <> ALL (excluded);
        verb := 'create';
    ELSIF TG_OP = 'UPDATE' THEN
        old_row := to_jsonb(OLD);
        new_row := to_jsonb(NEW);
        SELECT coalesce(jsonb_object_agg(n.key, jsonb_build_array(old_row -> n.key, n.value)), '{}')
          INTO changes FROM jsonb_each(new_row) AS n
         WHERE n.key <> ALL (excluded) AND old_row -> n.key IS DISTINCT FROM n.value;
        IF changes = '{}' THEN
            RETURN NULL;
        END IF;
        IF old_row ->> soft_col IS NULL AND new_row ->> soft_col IS NOT NULL THEN
            verb := 'delete';
            severity := 'warning';
        ELSIF old_row ->> soft_col IS NOT NULL AND new_row ->> soft_col IS NULL THEN
            verb := 'restore';
        ELSE
            verb := 'update';
        END IF;
    ELSE
        old_row := to_jsonb(OLD);
        SELECT coalesce(jsonb_object_agg(key, jsonb_build_array(value, NULL::jsonb)), '{}')
          INTO changes FROM jsonb_each(old_row) WHERE key <> ALL (excluded);
        verb := 'purge';
        severity := 'warning';
    END IF;
    meta := jsonb_build_object('table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
                               'db_user', session_user, 'txid', txid_current());
    IF verb = 'delete' THEN
        meta := meta || '{"soft_delete": true}';
    END IF;
    new_row := coalesce(new_row, old_row);
    INSERT INTO coditect.audit_logs (tenant_id, user_id, action, resource_type, resource_id,
                                     ip_address, user_agent, request_method, request_path,
                                     changes, metadata, severity)
    VALUES ((new_row ->> 'tenant_id')::uuid, coditect.current_user_id(), resource || '.' || verb,
            replace(initcap(replace(resource, '_', ' ')), ' ', ''), new_row ->> 'id',
            nullif(current_setting('bench.client_ip', true), '')::inet,
            nullif(current_setting('bench.user_agent', true), ''),
            nullif(current_setting('bench.request_method', true), ''),
            nullif(current_setting('bench.request_path', true), ''),
            changes, meta, severity);
    RETURN NULL;
END
$$;

-- Preload: the same rows (same ids) in all three tables; coditect.projects' triggers are off
-- for the load only (their states are checked afterwards), the PL/pgSQL table gets its
-- triggers after the load.
INSERT INTO bench.projects_plain (tenant_id, name, description)
SELECT :'tenant', 'preloaded-' || i, 'preloaded project ' || i FROM generate_series(1, :rows) AS i;
\i :bench/projects_triggers_off.sql
INSERT INTO coditect.projects SELECT * FROM bench.projects_plain;
\i :bench/projects_triggers_on.sql
INSERT INTO bench.projects_plpgsql SELECT * FROM bench.projects_plain;
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON bench.projects_plpgsql
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();
CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON bench.projects_plpgsql
    FOR EACH ROW EXECUTE FUNCTION bench.audit_row_change_plpgsql('project', 'deleted_at', 'updated_at');

CREATE TABLE bench.update_keys (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench.update_keys SELECT row_number() OVER (ORDER BY id), id FROM bench.projects_plain;

VACUUM (ANALYZE) bench.projects_plain, bench.projects_plpgsql, coditect.projects, bench.update_keys;
SQL
sql -c "ALTER DATABASE $DB SET bench.client_ip = '127.0.0.1'" -c "ALTER DATABASE $DB SET bench.user_agent = 'bench'" \
  -c "ALTER DATABASE $DB SET bench.request_method = 'POST'" \
  -c "ALTER DATABASE $DB SET bench.request_path = '/api/v1/projects/'"

# Sanity: in one transaction, the same insert and update on coditect.projects and on the
# PL/pgSQL table must give the same audit rows (apart from the table name in metadata).
same=$(sql -At <<SQL
BEGIN;
SELECT coditect.set_request_context($CTX_ARGS, 'POST', '/api/v1/projects/') \\g /dev/null
INSERT INTO coditect.projects (tenant_id, id, name, description)
VALUES ('$TENANT', '00000000-0000-7000-8000-000000000001', 'sanity', 'first') \\g /dev/null
INSERT INTO bench.projects_plpgsql (tenant_id, id, name, description)
VALUES ('$TENANT', '00000000-0000-7000-8000-000000000001', 'sanity', 'first') \\g /dev/null
UPDATE coditect.projects SET description = 'second' WHERE id = '00000000-0000-7000-8000-000000000001' \\g /dev/null
UPDATE bench.projects_plpgsql SET description = 'second' WHERE id = '00000000-0000-7000-8000-000000000001' \\g /dev/null
SELECT count(*) = 4 AND count(DISTINCT (action, resource_type, resource_id, user_id, ip_address, user_agent,
                                         request_method, request_path, changes, severity,
                                         metadata - 'table', tenant_id)) = 2
  FROM coditect.audit_logs WHERE resource_id = '00000000-0000-7000-8000-000000000001';
ROLLBACK;
SQL
)
echo
if [ "$same" != t ]; then
  echo "the PL/pgSQL trigger does not write the same audit rows as the C++ one; not benchmarking" >&2
  exit 1
fi
echo "Check: the PL/pgSQL trigger writes the same audit rows as the C++ trigger (insert and update)."
echo "synchronous_commit = $(sql -At -c 'SHOW synchronous_commit') for this benchmark: figures are CPU cost, not WAL flush."

# pgbench scripts; the same transaction shape for every table.
for c in "${CONFIGS[@]}"; do
  cat >"$WORK/insert_$c.sql" <<SQL
\\set r random(1, 9000000000000000000)
BEGIN;
SELECT coditect.set_request_context($CTX_ARGS, 'POST', '/api/v1/projects/');
INSERT INTO ${TABLE_OF[$c]} (tenant_id, name, description) VALUES ('$TENANT', 'bench-' || :client_id::text || '-' || :r::text, 'created by pgbench');
COMMIT;
SQL
  cat >"$WORK/update_$c.sql" <<SQL
\\set n random(1, $ROWS)
\\set r random(1, 1000000000)
BEGIN;
SELECT coditect.set_request_context($CTX_ARGS, 'PATCH', '/api/v1/projects/');
SELECT id AS pid FROM bench.update_keys WHERE n = :n \\gset
UPDATE ${TABLE_OF[$c]} SET description = 'updated by pgbench ' || :r::text WHERE tenant_id = '$TENANT' AND id = :pid;
COMMIT;
SQL
done

# pgbench_once NAME SCRIPT SECONDS OUT: one pgbench run after a checkpoint; fails loudly.
pgbench_once() {
  local name=$1 script=$2 secs=$3 out=$4
  sql -c "CHECKPOINT"
  log "pgbench $name: ${secs}s"
  if ! "$PGBENCH" -n -M prepared -r -c "$CLIENTS" -j "$THREADS" -T "$secs" -f "$script" "$DB" >"$out" 2>&1; then
    cat "$out" >&2
    echo "pgbench $name failed" >&2
    exit 1
  fi
}

# Per operation: a warm-up per table (discarded), then ROUNDS interleaved slices per table
# in alternating order, then the server-side statistics of the measured slices.
for op in insert update; do
  if ((WARMUP > 0)); then
    for c in "${CONFIGS[@]}"; do pgbench_once "$op $c warm-up" "$WORK/${op}_$c.sql" "$WARMUP" "$WORK/warmup.out"; done
  fi
  sql -o /dev/null -c "SELECT pg_stat_statements_reset()"
  for ((r = 1; r <= ROUNDS; r++)); do
    order=("${CONFIGS[@]}")
    ((r % 2)) || order=(plpgsql ours plain)
    for c in "${order[@]}"; do
      pgbench_once "$op $c round $r/$ROUNDS" "$WORK/${op}_$c.sql" "$SLICE" "$WORK/${op}_$c.$r.out"
    done
  done
  sql -At -F $'\t' -c "SELECT calls, total_exec_time, query FROM pg_stat_statements
                        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())" \
    >"$WORK/$op.pgss"
done
audit_rows=$(sql -At -c "SELECT count(*) FROM coditect.audit_logs")

tps() { pgbench_tps "$WORK/$1_$2"; }
txns() { pgbench_txns "$WORK/$1_$2"; }
client_ms() { pgbench_client_ms "$WORK/$1_$2" "$3"; }
# server_ms OP PATTERN: mean execution time (ms, pg_stat_statements) of the statements
# containing PATTERN during OP's measured slices.
server_ms() {
  awk -F '\t' -v pat="$2" 'index($3, pat) {c += $1; t += $2}
    END {if (c) printf "%.4f", t / c; else print "nan"}' "$WORK/$1.pgss"
}

echo
echo "Audit trigger benchmark: pgbench -M prepared -n -c $CLIENTS -j $THREADS, as superuser postgres;" \
  "per table and operation ${WARMUP}s warm-up, then $ROUNDS interleaved slices of ${SLICE}s;" \
  "$ROWS preloaded rows per table; synchronous_commit = off; $(nproc) CPUs"
echo "  transaction = BEGIN; set_request_context(...); one INSERT or UPDATE (of the description of a"
echo "  random preloaded row, by primary key, after a key lookup); COMMIT"
echo "  plain   = bench.projects_plain: no user triggers (FK to tenants, as the others)"
echo "  ours    = coditect.projects: stamp_timestamps + C++ audit_row_change"
echo "  plpgsql = bench.projects_plpgsql: stamp_timestamps + PL/pgSQL audit trigger"
echo "  server = mean execution time in pg_stat_statements (AFTER triggers included);"
echo "  client = pgbench -r average latency, which adds the round trip and CPU waits."
for op in insert update; do
  OP=${op^^}
  echo
  {
    for c in "${CONFIGS[@]}"; do
      echo "$c $(server_ms "$op" "${TABLE_OF[$c]} ") $(client_ms "$op" "$c" "$OP ") $(tps "$op" "$c") $(txns "$op" "$c")"
    done
  } | awk -v op="$OP" '
    { s[$1] = $2; cl[$1] = $3; t[$1] = $4; n[$1] = $5 }
    function r(a, b) { return b + 0 == 0 ? "-" : sprintf("%.3f", a / b) }
    END {
      f = "%-36s %10s %10s %10s %11s %13s\n"
      printf f, op " (one row per transaction)", "plain", "ours", "plpgsql", "ours/plain", "plpgsql/ours"
      printf f, "------------------------------------", "----------", "----------", "----------", "-----------", "-------------"
      printf f, op " statement, server mean (ms)", sprintf("%.4f", s["plain"]), sprintf("%.4f", s["ours"]),
        sprintf("%.4f", s["plpgsql"]), r(s["ours"], s["plain"]), r(s["plpgsql"], s["ours"])
      printf f, op " statement, client avg (ms)", sprintf("%.4f", cl["plain"]), sprintf("%.4f", cl["ours"]),
        sprintf("%.4f", cl["plpgsql"]), r(cl["ours"], cl["plain"]), r(cl["plpgsql"], cl["ours"])
      printf f, "  added over plain, server (ms)", "-", sprintf("%.4f", s["ours"] - s["plain"]),
        sprintf("%.4f", s["plpgsql"] - s["plain"]), "-", r(s["plpgsql"] - s["plain"], s["ours"] - s["plain"])
      printf f, "transaction tps", sprintf("%.1f", t["plain"]), sprintf("%.1f", t["ours"]),
        sprintf("%.1f", t["plpgsql"]), r(t["ours"], t["plain"]), r(t["plpgsql"], t["ours"])
      printf f, "transactions measured", n["plain"], n["ours"], n["plpgsql"], "", ""
    }'
done
echo
echo "Targets: ours/plain statement latency <= 1.5; plpgsql/ours statement latency >= 2 (ours at"
echo "least twice as fast). \"added over plain\" is what the triggers add to the statement; its"
echo "plpgsql/ours ratio compares the two audit triggers alone (both include stamp_timestamps)."
echo "For tps, ours/plain and plpgsql/ours below 1 mean fewer transactions per second."
echo "$audit_rows audit rows written in total."

#!/usr/bin/env bash
# bench/workflows.sh: executions advanced through the workflow engine (issue 11) per second, at
# 1 and CLIENTS_MANY (16) clients, against the same row writes as plain SQL.
#
# One tenant and a published workflow start -> a -> b -> c -> end (three task steps). One pgbench
# transaction of the script is one whole execution as a client drives it: four database
# transactions, each BEGIN; set_request_context(...); the engine call; COMMIT:
#   workflow_start, then workflow_complete_step for a, b and c (the last one reaches the end).
# Every call runs the engine's checks, its step rows, the state machines, current_step's check,
# the audit trigger of every row and the read of the answer under row-level security.
# The baseline writes the same rows in the same four transactions as plain SQL on plain tables
# (no triggers, no policies, no checks, no audit): an execution, its five step rows and the
# updates of the steps and of the execution. Printed: executions per second of each, p50 and
# p99 of an execution, and engine / baseline.
#
# Runs its own throw-away cluster on CODITECT_BENCH_PORT (54347); reports only, asserts nothing
# about timing. Knobs: CLIENTS_MANY DURATION ROUNDS WARMUP.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PORT=${CODITECT_BENCH_PORT:-54347}
DB=coditect_bench_workflows
CLIENTS_MANY=${CLIENTS_MANY:-16}
DURATION=${DURATION:-15} # measured seconds per configuration, split into ROUNDS slices
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
# shellcheck disable=SC2034 # bench_pgbench_slice's (lib.sh)
PGBENCH=$PGBIN/pgbench
SLICE=$(((DURATION + ROUNDS - 1) / ROUNDS))

install_deps
build_extension
bench_prepare workflows "$PORT"
bench_cluster "$PORT"
create_database "$DB"
sql() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

log "loading: a tenant, a member and a published workflow of three task steps"
sql -o /dev/null <<'SQL'
CREATE ROLE bench_gw LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Flows', 'bench-flows', 'flows@bench.test', 'owner@bench.test') AS j \gset
SELECT :'j'::jsonb ->> 'tenant_id' AS tenant \gset
INSERT INTO coditect.users (tenant_id, email, role) VALUES (:'tenant', 'member@bench.test', 'member') RETURNING id AS member \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'tenant', :'member', 'member');
INSERT INTO coditect.workflows (tenant_id, name, definition) VALUES (:'tenant', 'Three steps',
    '{"nodes": [{"id": "start", "type": "start"}, {"id": "a", "type": "task"}, {"id": "b", "type": "task"},
                {"id": "c", "type": "task"}, {"id": "end", "type": "end"}],
      "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "end"}]}')
RETURNING id AS workflow \gset
UPDATE coditect.workflows SET status = 'active';
CREATE SCHEMA bench AUTHORIZATION bench_gw;
CREATE TABLE bench.ids AS SELECT :'tenant'::uuid AS tenant, :'member'::uuid AS member, :'workflow'::uuid AS workflow;
GRANT SELECT ON bench.ids TO bench_gw;
-- The baseline's plain tables: the engine's columns, no triggers, no policies, no checks.
SET ROLE bench_gw;
CREATE TABLE bench.executions (LIKE coditect.workflow_executions INCLUDING DEFAULTS, PRIMARY KEY (tenant_id, id));
CREATE TABLE bench.steps (LIKE coditect.workflow_steps INCLUDING DEFAULTS, PRIMARY KEY (tenant_id, id));
CREATE INDEX ON bench.steps (tenant_id, execution_id, started_at DESC);
SQL

# The engine's answer is checked before measuring: a whole execution ends completed.
check=$(sql -At <<'SQL'
SET ROLE bench_gw;
BEGIN;
SELECT coditect.set_request_context(tenant, member, 'member') FROM bench.ids \gset
SELECT coditect.workflow_start(workflow) ->> 'id' AS e FROM bench.ids \gset
SELECT coditect.workflow_complete_step(:'e', s, '{}') ->> 'status' FROM unnest(ARRAY['a', 'b', 'c']) s;
ROLLBACK;
SQL
)
[ "$(echo "$check" | tail -1)" = "completed" ] || { echo "the engine did not complete: $check" >&2; exit 1; }

cat >"$WORK/engine.sql" <<'SQL'
SELECT tenant, member, workflow FROM bench.ids \gset
BEGIN;
SELECT coditect.set_request_context(:tenant, :member, 'member', '127.0.0.1', 'pgbench', 'POST', '/api/v1/workflows/start/');
SELECT coditect.workflow_start(:workflow, '{"n": 1}') ->> 'id' AS e \gset
COMMIT;
BEGIN;
SELECT coditect.set_request_context(:tenant, :member, 'member', '127.0.0.1', 'pgbench', 'POST', '/api/v1/workflow-executions/complete/');
SELECT coditect.workflow_complete_step(:e, 'a', '{"ok": true}');
COMMIT;
BEGIN;
SELECT coditect.set_request_context(:tenant, :member, 'member', '127.0.0.1', 'pgbench', 'POST', '/api/v1/workflow-executions/complete/');
SELECT coditect.workflow_complete_step(:e, 'b', '{"ok": true}');
COMMIT;
BEGIN;
SELECT coditect.set_request_context(:tenant, :member, 'member', '127.0.0.1', 'pgbench', 'POST', '/api/v1/workflow-executions/complete/');
SELECT coditect.workflow_complete_step(:e, 'c', '{"ok": true}');
COMMIT;
SQL
# The same rows, by hand: the execution and its start and first step; then for each task its
# completion, the context, the next step (the last time: the end) and current_step.
cat >"$WORK/plain.sql" <<'SQL'
SELECT tenant, member, workflow FROM bench.ids \gset
BEGIN;
INSERT INTO bench.executions (tenant_id, id, workflow_id, triggered_by, status, current_step, context_data)
VALUES (:tenant, coditect.uuid_generate_v7(), :workflow, :member, 'running', 'a', '{"n": 1}') RETURNING id AS e \gset
INSERT INTO bench.steps (tenant_id, id, execution_id, step_id, step_type, status, started_at, completed_at)
VALUES (:tenant, coditect.uuid_generate_v7(), :e, 'start', 'start', 'completed', now(), now()),
       (:tenant, coditect.uuid_generate_v7(), :e, 'a', 'task', 'running', now(), NULL);
SELECT to_jsonb(x) FROM bench.executions x WHERE tenant_id = :tenant AND id = :e;
COMMIT;
BEGIN;
UPDATE bench.steps SET status = 'completed', output_data = '{"ok": true}', completed_at = now()
 WHERE tenant_id = :tenant AND execution_id = :e AND step_id = 'a' AND status = 'running';
UPDATE bench.executions SET context_data = context_data || '{"a": {"ok": true}}', current_step = 'b' WHERE tenant_id = :tenant AND id = :e;
INSERT INTO bench.steps (tenant_id, id, execution_id, step_id, step_type, status, started_at)
VALUES (:tenant, coditect.uuid_generate_v7(), :e, 'b', 'task', 'running', now());
SELECT to_jsonb(x) FROM bench.executions x WHERE tenant_id = :tenant AND id = :e;
COMMIT;
BEGIN;
UPDATE bench.steps SET status = 'completed', output_data = '{"ok": true}', completed_at = now()
 WHERE tenant_id = :tenant AND execution_id = :e AND step_id = 'b' AND status = 'running';
UPDATE bench.executions SET context_data = context_data || '{"b": {"ok": true}}', current_step = 'c' WHERE tenant_id = :tenant AND id = :e;
INSERT INTO bench.steps (tenant_id, id, execution_id, step_id, step_type, status, started_at)
VALUES (:tenant, coditect.uuid_generate_v7(), :e, 'c', 'task', 'running', now());
SELECT to_jsonb(x) FROM bench.executions x WHERE tenant_id = :tenant AND id = :e;
COMMIT;
BEGIN;
UPDATE bench.steps SET status = 'completed', output_data = '{"ok": true}', completed_at = now()
 WHERE tenant_id = :tenant AND execution_id = :e AND step_id = 'c' AND status = 'running';
UPDATE bench.executions SET context_data = context_data || '{"c": {"ok": true}}' WHERE tenant_id = :tenant AND id = :e;
INSERT INTO bench.steps (tenant_id, id, execution_id, step_id, step_type, status, started_at, completed_at)
VALUES (:tenant, coditect.uuid_generate_v7(), :e, 'end', 'end', 'completed', now(), now());
UPDATE bench.executions SET status = 'completed', current_step = 'end', completed_at = now() WHERE tenant_id = :tenant AND id = :e;
SELECT to_jsonb(x) FROM bench.executions x WHERE tenant_id = :tenant AND id = :e;
COMMIT;
SQL

slice() {
  local kind=${1%-*} clients=${1#*-}
  bench_pgbench_slice "$1" "$WORK/$kind.sql" "$clients" "$2"
}
bench_slices engine-1 plain-1 "engine-$CLIENTS_MANY" "plain-$CLIENTS_MANY"

echo
echo "Executions (start, three task steps, end; four transactions each) per second through the engine,"
echo "  against the same rows written as plain SQL on plain tables; $ROUNDS interleaved slices of ${SLICE}s after"
echo "  ${WARMUP}s of warm-up; $(nproc) CPUs; commit $(git -C "$ROOT" rev-parse --short HEAD)"
printf '%-8s %-8s %12s %10s %10s %12s\n' clients kind 'exec/s' 'p50 ms' 'p99 ms' executions
for c in 1 "$CLIENTS_MANY"; do
  read -r e_tps e_p50 e_p99 e_n <<<"$(bench_figures "engine-$c")"
  read -r p_tps p_p50 p_p99 p_n <<<"$(bench_figures "plain-$c")"
  printf '%-8s %-8s %12s %10s %10s %12s\n' "$c" engine "$e_tps" "$e_p50" "$e_p99" "$e_n"
  printf '%-8s %-8s %12s %10s %10s %12s\n' "$c" plain "$p_tps" "$p_p50" "$p_p99" "$p_n"
  awk -v c="$c" -v a="$e_tps" -v b="$p_tps" 'BEGIN { printf "%s clients: engine / plain executions per second %.2f\n", c, a / b }'
done

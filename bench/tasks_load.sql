-- One database of bench/tasks.sh: :tenants tenants, each with its owner, one project and :tasks
-- tasks, bulk-loaded as superuser (bypasses RLS), then VACUUM ANALYZE. psql variables: tenants,
-- tasks, bench (this directory).
\timing off
SET client_min_messages = warning;
SET work_mem = '256MB';
SET maintenance_work_mem = '1GB';
CREATE SCHEMA bench;
-- Lets every pgbench transaction pick a random tenant: its owner and its project.
CREATE TABLE bench.bench_tenants (
    n          int PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    project_id uuid
);

-- Tenants, owners and memberships: what coditect.create_tenant makes, in three bulk INSERTs
-- (create_tenant is one call per tenant). Our triggers are off for them: audit rows, the
-- ownership guard (a no-op without a request context) and the slug's global-key claim, which
-- is made here in bulk the way the trigger makes it. Foreign-key checks stay on.
\set table coditect.tenants
\set which USER
\ir triggers_off.sql
\set table coditect.users
\ir triggers_off.sql
\set table coditect.memberships
\ir triggers_off.sql
INSERT INTO coditect.tenants (name, slug, email, license_tier)
SELECT 'Bench tenant ' || i, 'bench-' || i, 'tenant' || i || '@bench.example', 'trial'
  FROM generate_series(1, :tenants) AS i ORDER BY i;
INSERT INTO coditect_internal.global_keys (kind, value, tenant_id, row_id)
SELECT 'tenants.slug', slug, id, id FROM coditect.tenants;
INSERT INTO coditect.users (tenant_id, email, role)
SELECT id, 'owner' || substr(slug, 7) || '@bench.example', 'owner' FROM coditect.tenants;
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT tenant_id, id, 'owner' FROM coditect.users;
\set table coditect.tenants
\ir triggers_on.sql
\set table coditect.users
\ir triggers_on.sql
\set table coditect.memberships
\ir triggers_on.sql
INSERT INTO bench.bench_tenants (n, tenant_id, user_id)
SELECT substr(t.slug, 7)::int, t.id, u.id
  FROM coditect.tenants t JOIN coditect.users u ON u.tenant_id = t.id;

-- One project per tenant (projects_load.sql, which also does the VACUUM ANALYZE of projects).
\set per_tenant 1
\set step 'interval ''1 second'''
\set tenant_offset 'interval ''1 millisecond'''
\ir projects_load.sql
UPDATE bench.bench_tenants b SET project_id = p.id FROM coditect.projects p WHERE p.tenant_id = b.tenant_id;
ANALYZE bench.bench_tenants;

-- Tasks: :tasks per project, interleaved across tenants in created_at order as real traffic
-- writes them (task number outer, tenant inner: the LATERAL reference makes the planner keep
-- that order without a sort), a minute apart within a tenant. Statuses 2 backlog, 2 todo,
-- 1 in_progress, 1 in_review, 3 done, 1 cancelled in 10, with the timestamps their transitions
-- would have stamped; one in 50 soft-deleted; half assigned to the owner, who reports them all.
-- Every trigger is off, foreign-key checks included (one check per row per reference is most of
-- the load time); the references are checked in bulk below. In one transaction with a TRUNCATE,
-- so that with wal_level = minimal the table and its indexes skip the WAL (synced at commit).
-- The database is new: tasks and the tables that reference it (CASCADE) are empty.
-- Task numbers (WEB-42), where the schema has them: number_task would give each project's
-- tasks 1, 2, ... and keep the last in coditect_internal.task_counters; the projects have no
-- key, so the tasks have none either.
SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'coditect.tasks'::regclass
                AND attname = 'number' AND NOT attisdropped) AS numbered \gset
\if :numbered
\set number_cols ', number'
\set number_vals ', p'
\else
\set number_cols ''
\set number_vals ''
\endif
BEGIN;
TRUNCATE coditect.tasks CASCADE;
\set table coditect.tasks
\set which ALL
\ir triggers_off.sql
INSERT INTO coditect.tasks (tenant_id, project_id, title, description, task_type, status, priority,
                            assignee_id, reporter_id, story_points, started_at, completed_at,
                            created_at, updated_at, deleted_at :number_cols)
SELECT t.tenant_id, t.project_id, 'Task ' || p, 'Benchmark task ' || p || ' of tenant ' || t.n,
       (ARRAY['task', 'task', 'bug', 'feature'])[1 + p % 4]::coditect.task_type, s.status,
       (ARRAY['low', 'medium', 'medium', 'high', 'urgent'])[1 + p % 5]::coditect.task_priority,
       CASE WHEN p % 2 = 0 THEN t.user_id END, t.user_id,
       (ARRAY[1, 2, 3, 5, 8, 13])[1 + p % 6],
       CASE WHEN s.status IN ('in_progress', 'in_review', 'done') THEN ts + interval '1 hour' END,
       CASE WHEN s.status = 'done' THEN ts + interval '1 day' END,
       ts, ts, CASE WHEN p % 50 = 0 THEN ts + interval '2 days' END :number_vals
  FROM generate_series(1, :tasks) AS p
 CROSS JOIN LATERAL (SELECT b.* FROM bench.bench_tenants b WHERE p > 0 ORDER BY b.n) AS t
 CROSS JOIN LATERAL (SELECT now() - interval '1 year' + p * interval '1 minute'
                            + t.n * interval '1 millisecond' AS ts,
                            (ARRAY['backlog', 'backlog', 'todo', 'todo', 'in_progress', 'in_review',
                                   'done', 'done', 'done', 'cancelled'])[1 + p % 10]::coditect.task_status
                                AS status) AS s;
\ir triggers_on.sql
\if :numbered
INSERT INTO coditect_internal.task_counters (tenant_id, project_id, last_number)
SELECT tenant_id, project_id, :tasks FROM bench.bench_tenants;
\endif
COMMIT;
-- The references the disabled foreign-key checks would have checked (hash anti joins).
SELECT count(*) AS dangling
  FROM coditect.tasks k
  LEFT JOIN coditect.projects p ON p.tenant_id = k.tenant_id AND p.id = k.project_id
  LEFT JOIN coditect.users u ON u.tenant_id = k.tenant_id AND u.id = k.reporter_id
 WHERE p.id IS NULL OR u.id IS NULL OR k.assignee_id <> k.reporter_id
    OR k.sprint_id IS NOT NULL OR k.milestone_id IS NOT NULL OR k.parent_task_id IS NOT NULL \gset
SELECT :dangling = 0 AS references_ok \gset
\if :references_ok
\else
    \warn 'tasks with a dangling reference'
    SELECT 1 / 0;
\endif
VACUUM (ANALYZE) coditect.tasks;

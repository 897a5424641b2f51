-- What the catalog's code needs to run on Citus as well as on one node (issue 13): the generated
-- functions name the tenant as a parameter (router queries), call computed fields on a row of
-- the table's type built from the scanned row (a shard's row type differs), and every NOTIFY
-- goes through coditect_internal.notify, which sends nothing on a Citus worker.
BEGIN;
SELECT no_plan();

-- B12: every generated statement that reads or changes a tenant table's rows names the tenant as
-- a PL/pgSQL variable (a parameter), besides the policy's coditect.current_tenant_id().
CREATE TEMP TABLE ops AS
SELECT o.resource, o.name, o.kind, p.prosrc, r.tenant_column
  FROM coditect_internal.resource_operations o
  JOIN coditect_internal.resources r ON r.name = o.resource
  JOIN pg_proc p ON p.oid = o.function
 WHERE o.kind IN ('list', 'get', 'update', 'delete', 'restore')
   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = r.relid AND a.attname = r.tenant_column AND NOT a.attisdropped);
SELECT cmp_ok((SELECT count(*)::int FROM ops), '>', 100, 'the generated functions of the tenant tables are checked');
SELECT is((SELECT string_agg(resource || '.' || name, ', ' ORDER BY resource, name) FROM ops
            WHERE prosrc NOT LIKE '%' || format('t.%I = v_tenant', tenant_column) || '%'),
          NULL, 'every generated list, get, update, delete and restore filters t.<tenant column> = v_tenant');
-- A list's every statement (counts, pages, cursors): as many tenant filters as FROM clauses.
SELECT is((SELECT string_agg(resource || '.' || name, ', ' ORDER BY resource, name) FROM ops
            WHERE kind = 'list' AND prosrc NOT LIKE '%RETURN coditect.%'
              AND (SELECT count(*) FROM regexp_matches(prosrc, 'FROM coditect[a-z_]*\.[a-z_]+ t\M', 'g'))
                  <> (SELECT count(*) FROM regexp_matches(prosrc, format('\mt\.%s = v_tenant', tenant_column), 'g'))),
          NULL, 'every statement of a generated list names the tenant');

-- The hand-written API functions that read a tenant table name the tenant as a variable too.
SELECT is((SELECT string_agg(f::text, ', ' ORDER BY f::text)
             FROM unnest(ARRAY['coditect.board_view(uuid,integer)', 'coditect.document_access(uuid)',
                               'coditect.task_attachment_download(uuid,uuid)',
                               'coditect_internal.task_attachment_upload_check(uuid,jsonb)',
                               'coditect_internal.workflow_execution_for_update(uuid)',
                               'coditect_internal.workflow_decide_as(uuid,text,text)', 'coditect.workflow_rotate_secret(uuid)',
                               'coditect_internal.workflow_new_version_as(uuid)',
                               'coditect_internal.compliance_report_upload_check(uuid,jsonb)',
                               'coditect_internal.idempotency_finish_as(text,integer,text,jsonb,text,boolean)',
                               'coditect.cart_add_item(uuid,uuid,integer)', 'coditect_internal.order_cancel_as(uuid)',
                               'coditect.order_mark_paid(uuid,text)', 'coditect_internal.subscription_cancel_as(uuid,boolean)']::regprocedure[]) f
             JOIN pg_proc p ON p.oid = f
            WHERE p.prosrc !~ 'tenant_id (=|OPERATOR\(pg_catalog\.=\)) v_tenant'
               OR p.prosrc ~ 'tenant_id (=|OPERATOR\(pg_catalog\.=\)) coditect\.current_tenant_id\(\)'),
          NULL, 'the hand-written API functions filter by the tenant as a variable');

-- The filter does the scoping even where the policies would let more through: with a policy that
-- admits every row (rolled back), the owner of one tenant still gets only that tenant's rows.
SELECT coditect.create_tenant('Router A', 't29-a', 'a@t29.test', 'owner@a.t29.test') AS a \gset
SELECT coditect.create_tenant('Router B', 't29-b', 'b@t29.test', 'owner@b.t29.test') AS b \gset
SELECT :'a'::jsonb ->> 'tenant_id' AS ta, :'a'::jsonb ->> 'user_id' AS ua,
       :'b'::jsonb ->> 'tenant_id' AS tb, :'b'::jsonb ->> 'user_id' AS ub \gset
SELECT set_config('tap.tenant', :'ta', false), set_config('tap.user.owner', :'ua', false) \gset
\ir lib/as_user.psql
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'Mine'), (:'tb', 'Theirs 1'), (:'tb', 'Theirs 2');
SELECT id AS pb FROM coditect.projects WHERE tenant_id = :'tb' AND name = 'Theirs 1' \gset
SELECT id AS pa FROM coditect.projects WHERE tenant_id = :'ta' AND name = 'Mine' \gset
INSERT INTO coditect.tasks (tenant_id, project_id, title, reporter_id)
VALUES (:'ta', :'pa', 'mine', :'ua'), (:'tb', :'pb', 'theirs', :'ub');
CREATE POLICY tap29_all_projects ON coditect.projects USING (true) WITH CHECK (true);
CREATE POLICY tap29_all_tasks ON coditect.tasks USING (true) WITH CHECK (true);
CREATE ROLE tap29_gateway LOGIN IN ROLE coditect_gateway;
SET ROLE tap29_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT count(*) FROM coditect.projects WHERE tenant_id = %L', :'tb')), '2',
          'with the extra policy, plain SQL in tenant A''s context sees tenant B''s projects too');
SELECT is(pg_temp.as_user('owner', 'owner', 'SELECT coditect.api_projects_list(''{}'')'::text)::jsonb -> 'count', '1',
          'the project list counts only the context''s tenant');
SELECT is(pg_temp.as_user('owner', 'owner', 'SELECT coditect.api_projects_list(''{}'')'::text)::jsonb #>> '{results,0,name}', 'Mine',
          'and lists only its rows');
SELECT is(jsonb_array_length(pg_temp.as_user('owner', 'owner', 'SELECT coditect.api_projects_list(''{}'', NULL)')::jsonb -> 'results'), 1,
          'a keyset page too');
SELECT is(pg_temp.as_user('owner', 'owner', 'SELECT coditect.api_tasks_list(''{}'')')::jsonb -> 'count', '1',
          'the task list counts only the context''s tenant');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pb')), 'CD404:%',
             'another tenant''s project is not found by the get');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_update(%L, ''{"name": "x"}'')', :'pb')), 'CD404:%',
             'nor changed by the update');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_delete(%L)', :'pb')), 'CD404:%',
             'nor deleted by the delete');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pa')), '{%"name": "Mine"%',
             'its own project is found');
RESET ROLE;
SELECT is((SELECT name FROM coditect.projects WHERE id = :'pb'), 'Theirs 1', 'tenant B''s project is unchanged');
DROP POLICY tap29_all_projects ON coditect.projects;
DROP POLICY tap29_all_tasks ON coditect.tasks;

-- B9: computed fields are called on the row a statement answered, outside the statement (on a
-- Citus shard the scanned row's type is the shard's, RETURNING takes only IMMUTABLE functions, and
-- a computed field's own query would be a distributed query from a shard).
SELECT is((SELECT string_agg(DISTINCT o.resource || '.' || o.name, ', ')
             FROM coditect_internal.resource_operations o
             JOIN pg_proc p ON p.oid = o.function
             JOIN coditect_internal.resource_computed c ON c.resource = o.resource
            CROSS JOIN LATERAL regexp_split_to_table(p.prosrc, ';') st
            WHERE st LIKE '%' || c.function::regproc::text || '(%'
              AND (st ~* 'returning|\mfrom coditect' OR st NOT LIKE '%' || c.function::regproc::text || '(v_row)%'
                   AND st NOT LIKE '%' || c.function::regproc::text || '(x.v)%')),
          NULL, 'no generated statement on a table calls a computed field; they take v_row or a list''s x.v');
SELECT cmp_ok((SELECT count(DISTINCT o.function)::int FROM coditect_internal.resource_operations o
                 JOIN pg_proc p ON p.oid = o.function
                 JOIN coditect_internal.resource_computed c ON c.resource = o.resource
                WHERE p.prosrc LIKE '%' || c.function::regproc::text || '(v_row)%'
                   OR p.prosrc LIKE '%' || c.function::regproc::text || '(x.v)%'), '>=', 10,
              'the generated functions of resources with computed fields call them (checked above)');
SELECT is((SELECT string_agg(c.function::text, ', ') FROM coditect_internal.resource_computed c JOIN pg_proc p ON p.oid = c.function
            WHERE p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql') AND p.prosrc ~* '\mfrom\s+coditect'),
          NULL, 'a computed field that reads a table is PL/pgSQL (Citus cannot route a SQL function''s statement)');
-- Citus refuses a STABLE function (to_jsonb) in an UPDATE's RETURNING: the generated create,
-- update and restore return the row into v_row and make the answer outside the statement.
SELECT is((SELECT string_agg(DISTINCT p.oid::regproc::text, ', ')
             FROM coditect_internal.resource_operations o JOIN pg_proc p ON p.oid = o.function
            WHERE o.name IN ('create', 'update', 'restore') AND p.prosrc ~* '\mreturning\M[^;(]*\('),
          NULL, 'no generated create, update or restore calls a function in a RETURNING clause');
SELECT cmp_ok((SELECT count(*)::int FROM coditect_internal.resource_operations o JOIN pg_proc p ON p.oid = o.function
                WHERE o.name IN ('update', 'create') AND p.prosrc ~* 'returning t\.\* into v_row'), '>=', 20,
              'the generated creates and updates return t.* INTO v_row');
SET ROLE tap29_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pa'))::jsonb ->> 'tasks_count', '1',
          'the project get answers its tasks_count');
SELECT is((pg_temp.as_user('owner', 'owner', 'SELECT coditect.api_projects_list(''{}'')')::jsonb #> '{results,0}') - 'tasks_count' - 'documents_count',
          pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pa'))::jsonb - 'tasks_count' - 'documents_count',
          'the list answers the row as the get does');
SELECT is(pg_temp.as_user('owner', 'owner', 'SELECT coditect.api_projects_list(''{}'')')::jsonb #>> '{results,0,tasks_count}', '1',
          'with its computed fields');
RESET ROLE;

-- B1: every NOTIFY of the extension goes through coditect_internal.notify, which sends nothing on
-- a Citus worker (a NOTIFY inside Citus's two-phase commit fails at PREPARE).
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1) FROM pg_proc p
            WHERE p.pronamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)
              AND p.prosrc ~* 'pg_notify|\mnotify\s+coditect' AND p.oid <> 'coditect_internal.notify(text,text)'::regprocedure),
          NULL, 'no function of the extension notifies but coditect_internal.notify');
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)
              AND p.prosrc LIKE '%coditect_internal.notify(''coditect_%'), 7,
          'the six catalog notifications and the outbox''s call it');
SELECT is(coditect_internal.is_citus_worker(), false, 'one node (no Citus): not a worker');
-- Citus's pg_dist_local_group, as a worker and as the coordinator have it (rolled back).
SET LOCAL allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_local_group (groupid int NOT NULL);
INSERT INTO pg_catalog.pg_dist_local_group VALUES (2);
SELECT is(coditect_internal.is_citus_worker(), true, 'a node of group 2: a Citus worker');
-- Update scripts on a worker (README, Running on Citus, Upgrading the extension): catalog writes
-- are the coordinator's, a new table's mechanisms every node's own.
CREATE TABLE coditect.tap_upg (tenant_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT coditect_internal.on_coordinator($$INSERT INTO coditect.permissions (codename, name) VALUES ('tap_upg.view', 'x')$$);
SELECT is((SELECT count(*)::int FROM coditect.permissions WHERE codename = 'tap_upg.view'), 0,
          'on a worker, on_coordinator runs nothing');
SELECT coditect_internal.register_tenant_table('coditect.tap_upg', 'tap_upg');
SELECT is((SELECT count(*)::int FROM coditect_internal.tenant_tables WHERE relid = 'coditect.tap_upg'::regclass), 0,
          'on a worker, register_tenant_table writes no registry row');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polrelid = 'coditect.tap_upg'::regclass), 1,
          'but makes the table''s policy');
UPDATE pg_catalog.pg_dist_local_group SET groupid = 0;
SELECT is(coditect_internal.is_citus_worker(), false, 'the coordinator (group 0): not a worker');
SELECT coditect_internal.on_coordinator($$INSERT INTO coditect.permissions (codename, name) VALUES ('tap_upg.view', 'x')$$);
SELECT is((SELECT count(*)::int FROM coditect.permissions WHERE codename = 'tap_upg.view'), 1,
          'on the coordinator (or one node), on_coordinator runs its statements');
-- alter_table on one node (no Citus placements): the statements, as any other.
SELECT coditect_internal.alter_table('coditect.tap_upg', $$ALTER TABLE coditect.tap_upg ADD COLUMN note text DEFAULT 'n'$$,
                                     'CREATE INDEX tap_upg_note_idx ON coditect.tap_upg (tenant_id, note)');
SELECT is((SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'coditect.tap_upg'::regclass AND attname = 'note')
          + (SELECT count(*)::int FROM pg_class WHERE relname = 'tap_upg_note_idx'), 2,
          'alter_table on one node runs each statement on the table');
DROP TABLE pg_catalog.pg_dist_local_group;
RESET allow_system_table_mods;

SELECT * FROM finish();
ROLLBACK;

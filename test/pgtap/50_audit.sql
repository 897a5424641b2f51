-- The audit trail: one row per committed change with the right diff, none for rolled-back
-- work, redaction and exclusion, immutability for every role, retention and maintenance.
-- Several transactions in one session so commit and rollback are real; fixtures removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(56);

CREATE ROLE tap50_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap50_writer LOGIN;
SELECT coditect.create_tenant('Audit A', 't50-a', 'a@a.test', 'owner@a.test') AS j \gset
SELECT (:'j'::jsonb->>'tenant_id') AS tenant, (:'j'::jsonb->>'user_id') AS owner \gset
CREATE TEMP TABLE marks (name text PRIMARY KEY, at timestamptz);
CREATE FUNCTION pg_temp.audit_for(p_id text) RETURNS SETOF coditect.audit_logs LANGUAGE sql AS
$$ SELECT * FROM coditect.audit_logs WHERE resource_id = p_id ORDER BY id $$;

-- 1. INSERT through the gateway, committed.
BEGIN;
SET LOCAL ROLE tap50_gateway;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner', '198.51.100.9', 'tap/1.0', 'POST', '/api/v1/projects/',
                                    'req-t50-1');
INSERT INTO coditect.projects (tenant_id, name, description, metadata)
VALUES (:'tenant', 'Apollo', 'first', '{"k": [1, 2]}') RETURNING id AS project \gset
SELECT throws_ok(format($$SELECT coditect.set_request_context(%L, %L, 'owner', NULL, NULL, NULL, NULL, 'bad id!')$$,
                        :'tenant', :'owner'),
                 'CD400', NULL, 'a request id with other characters is refused');
COMMIT;

SELECT is((SELECT count(*)::int FROM pg_temp.audit_for(:'project')), 1, 'one audit row for one committed insert');
SELECT is(a.action::text, 'project.create', 'action is <resource>.<verb>') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.resource_type::text, 'Project', 'resource type') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.tenant_id, :'tenant'::uuid, 'tenant of the row') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.user_id, :'owner'::uuid, 'who: the context user') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.ip_address, '198.51.100.9'::inet, 'client IP from the context') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.user_agent::text, 'tap/1.0', 'user agent from the context') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.request_method::text || ' ' || a.request_path, 'POST /api/v1/projects/', 'method and path from the context')
  FROM pg_temp.audit_for(:'project') a;
SELECT is(a.request_id::text, 'req-t50-1', 'request id from the context (joins the gateway''s log line)')
  FROM pg_temp.audit_for(:'project') a;
SELECT is(a.severity::text, 'info', 'creates are info') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.changes - 'created_at' - 'id',
          jsonb_build_object('tenant_id', jsonb_build_array(NULL, :'tenant'), 'name', '[null, "Apollo"]'::jsonb,
                             'description', '[null, "first"]'::jsonb, 'metadata', '[null, {"k": [1, 2]}]'::jsonb,
                             'deleted_at', '[null, null]'::jsonb, 'key', '[null, null]'::jsonb),
          'insert: the whole row as [null, new], typed JSON values') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.changes->'id'->>1, :'project', 'insert: the id is in the row') FROM pg_temp.audit_for(:'project') a;
SELECT ok(NOT a.changes ? 'updated_at', 'updated_at is excluded from diffs') FROM pg_temp.audit_for(:'project') a;
SELECT is(a.metadata->>'table', 'coditect.projects', 'metadata names the table') FROM pg_temp.audit_for(:'project') a;

-- 2. UPDATE: only the changed columns.
BEGIN;
SET LOCAL ROLE tap50_gateway;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner');
UPDATE coditect.projects SET name = 'Apollo 2', description = 'second', metadata = metadata WHERE id = :'project';
COMMIT;
SELECT is((SELECT changes FROM pg_temp.audit_for(:'project') WHERE action = 'project.update'),
          '{"name": ["Apollo", "Apollo 2"], "description": ["first", "second"]}'::jsonb,
          'update: only changed columns as [old, new]');

-- 3. An UPDATE that changes nothing audited is not a change.
BEGIN;
SET LOCAL ROLE tap50_gateway;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner');
UPDATE coditect.projects SET name = name WHERE id = :'project';
COMMIT;
SELECT is((SELECT count(*)::int FROM pg_temp.audit_for(:'project')), 2, 'a no-op update writes no audit row');

-- 4. Rolled-back work leaves no audit row; a rolled-back savepoint neither.
BEGIN;
SET LOCAL ROLE tap50_gateway;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tenant', 'Ghost') RETURNING id AS ghost \gset
ROLLBACK;
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE resource_id = :'ghost'), 0, 'no audit row for a rolled-back insert');
BEGIN;
SET LOCAL ROLE tap50_gateway;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tenant', 'Kept') RETURNING id AS kept \gset
SAVEPOINT s;
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tenant', 'Dropped') RETURNING id AS dropped \gset
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE resource_id = :'kept'), 1, 'the committed part is audited');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE resource_id = :'dropped'), 0, 'the rolled-back savepoint is not');

-- 5. Soft delete, restore, purge.
BEGIN;
SET LOCAL ROLE tap50_gateway;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner');
DELETE FROM coditect.projects WHERE id = :'project';
COMMIT;
SELECT ok((SELECT deleted_at IS NOT NULL FROM coditect.projects WHERE id = :'project'), 'DELETE by the gateway soft-deletes');
SELECT is((SELECT action::text || '/' || severity || '/' || (metadata->>'soft_delete')
             FROM pg_temp.audit_for(:'project') ORDER BY id DESC LIMIT 1),
          'project.delete/warning/true', 'the soft delete is audited as a delete');
SELECT is((SELECT array(SELECT jsonb_object_keys(changes)) FROM pg_temp.audit_for(:'project') ORDER BY id DESC LIMIT 1),
          ARRAY['deleted_at'], '... whose diff is deleted_at');
BEGIN;
SET LOCAL ROLE tap50_gateway;
SELECT coditect.set_request_context(:'tenant', :'owner', 'owner');
SELECT coditect.restore_row('coditect.projects', :'project');
COMMIT;
SELECT is((SELECT action::text FROM pg_temp.audit_for(:'project') ORDER BY id DESC LIMIT 1), 'project.restore', 'restore is audited');
DELETE FROM coditect.projects WHERE id = :'project';
SELECT is(coditect.purge_deleted('coditect.projects', '0 seconds'), 1::bigint, 'purge removes the soft-deleted row');
SELECT is((SELECT action::text || '/' || (user_id IS NULL)::text FROM pg_temp.audit_for(:'project') ORDER BY id DESC LIMIT 1),
          'project.purge/true', 'the purge is audited, with no user outside a request');
SELECT is((SELECT count(*)::int FROM pg_temp.audit_for(:'project')), 6,
          'create, update, delete, restore, delete, purge: six audit rows');

-- 6. Redaction and exclusion.
UPDATE coditect.users SET oauth_provider = 'google', oauth_sub = 'secret-sub-123' WHERE id = :'owner';
UPDATE coditect.tenants SET tax_id = 'DE-SECRET-999' WHERE id = :'tenant';
SELECT is((SELECT changes->'oauth_sub' FROM coditect.audit_logs WHERE resource_id = :'owner' AND action = 'user.update'),
          '[null, "[REDACTED]"]'::jsonb, 'a redacted column shows that it changed, not its value');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE changes::text LIKE '%secret-sub-123%' OR changes::text LIKE '%DE-SECRET-999%'),
          0, 'redacted values never reach the log');
SELECT is((SELECT changes->'tax_id' FROM coditect.audit_logs WHERE resource_id = :'tenant' AND action = 'tenant.update'),
          '[null, "[REDACTED]"]'::jsonb, 'tenants.tax_id is redacted too');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs WHERE changes ? 'updated_at'), 0, 'no diff anywhere carries updated_at');

-- 7. Writes to the log: only the trigger.
SET ROLE tap50_gateway;
SELECT throws_ok(format($$INSERT INTO coditect.audit_logs (tenant_id, action, resource_type) VALUES (%L, 'x.forged', 'X')$$, :'tenant'),
                 '42501', NULL, 'the gateway cannot insert audit rows itself');
RESET ROLE;

-- 8. Immutability, for every role.
SELECT throws_ok($$UPDATE coditect.audit_logs SET severity = 'critical'$$, 'CD403', NULL, 'UPDATE fails, even for a superuser');
SELECT throws_ok($$DELETE FROM coditect.audit_logs$$, 'CD403', NULL, 'DELETE fails, even for a superuser');
SELECT throws_ok($$TRUNCATE coditect.audit_logs$$, 'CD403', NULL, 'TRUNCATE fails, even for a superuser');
SELECT tableoid::regclass::text AS part FROM coditect.audit_logs WHERE resource_id = :'kept' \gset
SELECT throws_ok(format('UPDATE %s SET severity = %L', :'part', 'critical'), 'CD403', NULL, 'UPDATE of a partition fails');
SELECT throws_ok(format('DELETE FROM %s', :'part'), 'CD403', NULL, 'DELETE from a partition fails');
SELECT throws_ok(format('TRUNCATE %s', :'part'), 'CD403', NULL, 'TRUNCATE of a partition fails');
SET session_replication_role = replica;
SELECT throws_ok($$DELETE FROM coditect.audit_logs$$, 'CD403', NULL, 'replica mode does not switch the guard off');
RESET session_replication_role;
-- (Tests run in committed transactions only: pgTAP's result count is transactional.)
GRANT USAGE ON SCHEMA coditect TO tap50_writer;
GRANT ALL ON coditect.audit_logs TO tap50_writer;
SELECT format('GRANT ALL ON %s TO tap50_writer', :'part') \gexec
SET ROLE tap50_writer;
SELECT throws_ok($$UPDATE coditect.audit_logs SET severity = 'critical'$$, 'CD403', NULL, 'a role granted ALL cannot UPDATE');
SELECT throws_ok($$TRUNCATE coditect.audit_logs$$, 'CD403', NULL, 'a role granted ALL cannot TRUNCATE');
SELECT throws_ok(format('DELETE FROM %s', :'part'), 'CD403', NULL, 'a role granted ALL cannot DELETE from a partition');
RESET ROLE;
ALTER TABLE coditect.audit_logs OWNER TO tap50_writer;
SET ROLE tap50_writer;
SELECT throws_ok($$DELETE FROM coditect.audit_logs$$, 'CD403', NULL, 'the table owner cannot DELETE');
RESET ROLE;
ALTER TABLE coditect.audit_logs OWNER TO postgres;
REVOKE ALL ON coditect.audit_logs FROM tap50_writer;
SELECT format('REVOKE ALL ON %s FROM tap50_writer', :'part') \gexec
REVOKE USAGE ON SCHEMA coditect FROM tap50_writer;
SELECT ok((SELECT count(*) FROM coditect.audit_logs WHERE tenant_id = :'tenant') >= 10, 'the log still holds every row');

-- 9. Retention and maintenance.
SELECT is(coditect.audit_retention(), interval '1 year', 'retention defaults to one year');
SELECT throws_ok($$SELECT coditect.set_audit_retention('1 day')$$, 'CD400', NULL, 'a retention under a month is rejected');
SELECT coditect.set_audit_retention('7 years');
SELECT is(coditect.audit_retention(), interval '7 years', 'seven years of retention can be set');
SELECT coditect.set_audit_retention('1 year');
SET ROLE tap50_gateway;
SELECT throws_ok($$SELECT coditect.set_audit_retention('2 years')$$, '42501', NULL, 'only a DBA changes retention');
RESET ROLE;
-- The partitions CREATE EXTENSION made belong to the extension, which alone could not drop them:
-- maintenance releases those past retention, then drops them like the others.
SELECT c.oid::regclass::text AS oldest FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
 WHERE i.inhparent = 'coditect.audit_logs'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
 ORDER BY c.relname LIMIT 1 \gset
SELECT ok(:'oldest' ~ '^coditect\.audit_logs_p', 'the oldest partition CREATE EXTENSION made is an extension member: ' || :'oldest');
SELECT coditect.set_audit_retention('1 month');
SELECT lives_ok('SELECT coditect.audit_maintenance()', 'maintenance with a retention it has passed succeeds');
SELECT ok(to_regclass(:'oldest') IS NULL, 'and drops that partition (released from the extension first)');
SELECT ok(to_regclass('coditect.audit_logs_p' || to_char(now(), 'YYYY_MM')) IS NOT NULL, '... but not the current month''s');
SELECT coditect.set_audit_retention('1 year');
SELECT partman.create_partition_time('coditect.audit_logs', ARRAY[date_trunc('month', now() - interval '26 months')]);
SELECT ok(to_regclass('coditect.audit_logs_p' || to_char(now() - interval '26 months', 'YYYY_MM')) IS NOT NULL,
          'an old partition exists before maintenance');
SELECT coditect.audit_maintenance();
SELECT ok(to_regclass('coditect.audit_logs_p' || to_char(now() - interval '26 months', 'YYYY_MM')) IS NULL,
          'maintenance drops partitions past retention');
SELECT ok(to_regclass('coditect.audit_logs_p' || to_char(now() + interval '3 months', 'YYYY_MM')) IS NOT NULL,
          'maintenance keeps partitions made ahead');
SELECT is((SELECT count(*)::int FROM pg_inherits i
            WHERE i.inhparent = 'coditect.audit_logs'::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = i.inhrelid
                                 AND t.tgname = 'audit_logs_immutable' AND t.tgenabled = 'A')),
          0, 'every partition carries the statement guard, ENABLE ALWAYS');

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'tenant');
DROP ROLE tap50_gateway;
DROP ROLE tap50_writer;

-- Workflows (sql/54_workflows.sql): the tables and their rules for every writer (definitions
-- checked by the validator, users named by a definition, versions and publishing, current_step
-- inside the pinned definition, decisions by approvers only), the engine (a linear flow, a
-- condition branch, approvals approved, rejected and expired, failures, a loop that never
-- waits, cancellation), and the triggers (an event in the same transaction, pg_cron schedules,
-- signed webhooks). Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

\set fx t54
\ir lib/tenants.psql
\ir lib/as_user.psql
CREATE ROLE tap54_gateway LOGIN IN ROLE coditect_gateway;

-- A version of a workflow in tenant A, written as the DBA (no context), published or not.
CREATE FUNCTION pg_temp.wf(p_name text, p_definition jsonb, p_triggers jsonb DEFAULT '[{"type": "manual"}]',
                           p_publish boolean DEFAULT true) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    wid uuid;
BEGIN
    INSERT INTO coditect.workflows (tenant_id, name, definition, triggers)
    VALUES (current_setting('tap.tenant')::uuid, p_name, p_definition, p_triggers) RETURNING workflows.id INTO wid;
    IF p_publish THEN
        UPDATE coditect.workflows SET status = 'active' WHERE workflows.id = wid;
    END IF;
    RETURN pg_temp.put(p_name, wid);
END $$;
-- An execution's state, 'status@current_step'; its steps, 'node:status' in order.
CREATE FUNCTION pg_temp.at(p_execution uuid) RETURNS text LANGUAGE sql AS $$
    SELECT status || '@' || coalesce(current_step, '-') FROM coditect.workflow_executions WHERE id = p_execution
$$;
CREATE FUNCTION pg_temp.steps(p_execution uuid) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(step_id || ':' || status, ' ' ORDER BY created_at, id) FROM coditect.workflow_steps WHERE execution_id = p_execution
$$;
-- Runs an engine call as a user of tenant A and keeps the id of the answer under p_key.
CREATE FUNCTION pg_temp.run(p_key text, p_user text, p_role text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text := pg_temp.as_user(p_user, p_role, p_sql);
BEGIN
    IF r LIKE '{%' THEN
        PERFORM pg_temp.put(p_key, (r::jsonb ->> 'id')::uuid);
        RETURN 'ok';
    END IF;
    RETURN r;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.wf(text, jsonb, jsonb, boolean), pg_temp.at(uuid), pg_temp.steps(uuid),
    pg_temp.run(text, text, text, text) TO PUBLIC;

------------------------------------------------------------------------------------------------
-- The tables
------------------------------------------------------------------------------------------------

SELECT columns_are('coditect', 'workflows', ARRAY['tenant_id', 'id', 'lineage_id', 'project_id', 'name', 'description', 'workflow_type',
    'version', 'status', 'definition', 'triggers', 'approval_expiry_hours', 'created_by', 'created_at', 'updated_at', 'published_at'],
    'workflows: the seeds'' fields, the lineage of its versions and the approval period');
SELECT columns_are('coditect', 'workflow_executions', ARRAY['tenant_id', 'id', 'workflow_id', 'triggered_by', 'trigger_type', 'status',
    'current_step', 'started_at', 'completed_at', 'error_message', 'context_data', 'created_at'], 'workflow_executions: the seeds'' fields');
SELECT columns_are('coditect', 'workflow_steps', ARRAY['tenant_id', 'id', 'execution_id', 'step_id', 'step_name', 'step_type', 'status',
    'started_at', 'completed_at', 'input_data', 'output_data', 'error_message', 'created_at'], 'workflow_steps: the seeds'' fields');
SELECT columns_are('coditect', 'workflow_approvals', ARRAY['tenant_id', 'id', 'step_id', 'execution_id', 'approver_id', 'min_role', 'status',
    'comment', 'decided_by', 'approved_at', 'decided_at', 'expires_at', 'created_at'],
    'workflow_approvals: the seeds'' fields, who may decide by role, who decided and when');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t::regtype ORDER BY e.enumsortorder), v, t || ' values')
  FROM (VALUES ('coditect.workflow_type', ARRAY['approval', 'automation', 'review', 'deployment', 'custom']),
               ('coditect.workflow_status', ARRAY['draft', 'active', 'paused', 'archived']),
               ('coditect.workflow_trigger_type', ARRAY['manual', 'scheduled', 'webhook', 'event']),
               ('coditect.workflow_execution_status', ARRAY['pending', 'running', 'paused', 'completed', 'failed', 'cancelled']),
               ('coditect.workflow_step_status', ARRAY['pending', 'running', 'completed', 'failed', 'skipped']),
               ('coditect.workflow_approval_status', ARRAY['pending', 'approved', 'rejected', 'expired', 'cancelled'])) x (t, v);
SELECT col_type_is('coditect', 'workflows', 'name', 'character varying(255)', 'workflows.name varchar(255)');
SELECT col_type_is('coditect', 'workflow_executions', 'current_step', 'character varying(100)', 'current_step varchar(100)');
SELECT col_default_is('coditect', 'workflows', 'version', '1', 'version defaults to 1');
SELECT col_default_is('coditect', 'workflows', 'approval_expiry_hours', '168', 'approvals expire after 7 days (168 hours) by default');
SELECT is(ARRAY(SELECT c.relname || ': ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                 WHERE c.relname IN ('workflows', 'workflow_executions', 'workflow_steps', 'workflow_approvals')
                   AND c.relnamespace = 'coditect'::regnamespace
                   AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'), '{}'::text[], 'every index leads with tenant_id');
SELECT ok(EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'coditect' AND tablename = t AND indexdef LIKE '%' || cols || '%'), t || ' ' || cols)
  FROM (VALUES ('workflows', '(tenant_id, status)'), ('workflows', '(tenant_id, workflow_type)'),
               ('workflow_executions', '(tenant_id, workflow_id, started_at DESC)'), ('workflow_executions', '(tenant_id, status)'),
               ('workflow_steps', '(tenant_id, execution_id, started_at DESC)'),
               ('workflow_approvals', '(tenant_id, approver_id, status)'), ('workflow_approvals', '(tenant_id, step_id, status)')) x (t, cols);
SELECT is((SELECT array_agg(machine::text || ':' || coalesce(from_status, '-') || '>' || to_status ORDER BY from_status NULLS FIRST, to_status)
             FROM coditect.state_transitions WHERE machine = 'workflow_execution'),
          ARRAY['workflow_execution:->running', 'workflow_execution:running>cancelled', 'workflow_execution:running>completed',
                'workflow_execution:running>failed'], 'the execution state machine');

-- Clients read executions, steps and approvals under row-level security; only the engine writes.
SET ROLE tap54_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$INSERT INTO coditect.workflows (tenant_id, id, name, definition) VALUES (%L, %L, 'Mine', '{}')$$,
                                                  current_setting('tap.tenant'), :'owner_b')),
          '42501: permission denied for column "id" of table coditect.workflows', 'a client cannot choose a workflow''s id (secrets and webhook paths are keyed by it)');
SELECT is(pg_temp.try(format('INSERT INTO coditect.%I (tenant_id) VALUES (%L)', t, current_setting('tap.tenant'))),
          '42501: permission denied for table ' || t, 'a gateway login cannot write ' || t)
  FROM unnest(ARRAY['workflow_executions', 'workflow_steps', 'workflow_approvals']) t;
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Definitions, users and triggers are checked on every write
------------------------------------------------------------------------------------------------

\set linear '{"nodes": [{"id": "start", "type": "start"}, {"id": "work", "type": "task", "settings": {"title": "Do it"}}, {"id": "done", "type": "end"}], "edges": [{"from": "start", "to": "work"}, {"from": "work", "to": "done"}]}'

SELECT is(pg_temp.try($$INSERT INTO coditect.workflows (tenant_id, name, definition) VALUES (current_setting('tap.tenant')::uuid, 'Bad',
              '{"nodes": [{"id": "a", "type": "start"}, {"id": "a", "type": "wait"}], "edges": [{"from": "a", "to": "z"}]}')$$),
          'CD422: the workflow definition has 4 problem(s): $.nodes[1].type: unknown node type ''wait'' (start, task, approval, notification, condition or end); '
          || '$.nodes[1].id: node id ''a'' is already used by $.nodes[0]; $.edges[0].to: no node has the id ''z''; $.nodes: the workflow has no end node',
          'an invalid definition is refused with every problem and its path, for a DBA too');
SELECT is(pg_temp.try(format($$INSERT INTO coditect.workflows (tenant_id, name, definition) VALUES (%L, 'Who',
              '{"nodes": [{"id": "s", "type": "start"}, {"id": "ok", "type": "approval", "settings": {"approvers": ["%s", "00000000-0000-4000-8000-000000000000"]}},
                          {"id": "t", "type": "task", "settings": {"assignee": "%s"}}, {"id": "e", "type": "end"}],
                "edges": [{"from": "s", "to": "ok"}, {"from": "ok", "to": "t", "on": "approved"}, {"from": "t", "to": "e"}]}')$$,
              :'ta', pg_temp.id('admin'), :'owner_b')),
          format('CD422: the workflow definition names unknown users: $.nodes[2].settings.assignee: no user %s in this tenant; '
                 '$.nodes[1].settings.approvers[1]: no user 00000000-0000-4000-8000-000000000000 in this tenant', :'owner_b'),
          'approvers and assignees must be users of the tenant (another tenant''s user is unknown)');
SELECT is(pg_temp.try(format('INSERT INTO coditect.workflows (tenant_id, name, definition, triggers) VALUES (%L, %L, %L, %L)',
                             :'ta', 'T' || n, :'linear', trig)), e, d)
  FROM (VALUES (1, '{"type": "manual"}', '23514: value for domain coditect.json_array violates check constraint "json_array_check"', 'not an array (the column''s domain)'),
               (2, '[{"type": "cron"}]', 'CD400: trigger 1: must be an object whose type is manual, scheduled, webhook or event', 'an unknown type'),
               (3, '[{"type": "manual"}, {"type": "manual"}]', 'CD400: trigger 2: a workflow has one manual trigger', 'two manual triggers'),
               (4, '[{"type": "scheduled", "cron": "every day"}]', 'CD400: trigger 1: cron must be a cron expression such as "0 9 * * 1" (at most once a minute)', 'a bad cron'),
               (10, '[{"type": "scheduled", "cron": "5 seconds"}]', 'CD400: trigger 1: cron must be a cron expression such as "0 9 * * 1" (at most once a minute)', 'pg_cron''s seconds are refused: at most once a minute'),
               (5, '[{"type": "event", "resource": "task", "when": "now"}]', 'CD400: trigger 1 (event): unknown field(s) when (fields: type, resource, on, condition)', 'an unknown field'),
               (6, '[{"type": "event", "resource": "task", "on": ["touch"]}]', 'CD400: trigger 1: on must be a non-empty array of create, update, delete, restore', 'an unknown verb'),
               (7, '[{"type": "event", "resource": "task", "condition": "$.a ==="}]', 'CD400: trigger 1: condition is not an SQL/JSON path predicate: syntax error at or near "=" of jsonpath input', 'a condition that does not parse'),
               (8, '[{"type": "event", "resource": "spaceship"}]', 'CD422: trigger 1: "spaceship" is not a resource a workflow can watch', 'an unknown resource'),
               (9, '[{"type": "event", "resource": "workflow_execution"}]', 'CD422: trigger 1: "workflow_execution" is not a resource a workflow can watch', 'the engine''s own rows cannot trigger (no loops)'))
       x (n, trig, e, d);

------------------------------------------------------------------------------------------------
-- Versions: a published version never changes; editing makes the next version
------------------------------------------------------------------------------------------------

SELECT pg_temp.wf('Linear', :'linear', p_publish => false) IS NOT NULL AS _ \gset
SELECT is((SELECT (version, lineage_id = id, status::text, published_at IS NULL) FROM coditect.workflows WHERE id = pg_temp.id('Linear')),
          ROW(1, true, 'draft'::text, true), 'a new workflow is version 1 of its own lineage, a draft');
SELECT lives_ok(format($$UPDATE coditect.workflows SET description = 'edited' WHERE id = %L$$, pg_temp.id('Linear')), 'a draft is edited');
SELECT lives_ok(format($$UPDATE coditect.workflows SET status = 'active' WHERE id = %L$$, pg_temp.id('Linear')), 'publishing');
SELECT ok((SELECT published_at IS NOT NULL FROM coditect.workflows WHERE id = pg_temp.id('Linear')), 'publishing stamps published_at');
SELECT is(pg_temp.try(format($$UPDATE coditect.workflows SET %s WHERE id = %L$$, c, pg_temp.id('Linear'))),
          'CD422: workflow "Linear" version 1 is published and cannot change; create the next version to edit it', 'published: ' || c || ' refused')
  FROM unnest(ARRAY['description = ''again''', 'name = ''Other''', $$definition = jsonb_set(definition, '{nodes,1,name}', '"Renamed"')$$, $$triggers = '[]'$$,
                    $$approval_expiry_hours = 24$$]) c;
SELECT is(pg_temp.try(format($$UPDATE coditect.workflows SET created_by = %L WHERE id = %L$$, pg_temp.id('admin'), pg_temp.id('Linear'))),
          'CD422: workflow "Linear" version 1 is published and cannot change; create the next version to edit it', 'published: its creator refused');
SELECT matches(pg_temp.try(format($$UPDATE coditect.workflows SET status = 'draft' WHERE id = %L$$, pg_temp.id('Linear'))),
          '^CD422: workflow: cannot go from ''active'' to ''draft''', 'a published version never goes back to draft');

SET ROLE tap54_gateway;
SELECT is(pg_temp.run('Linear v2', 'admin', 'admin', format('SELECT coditect.workflow_new_version(%L)::text', pg_temp.id('Linear'))), 'ok',
          'an admin makes the next version');
SELECT is((SELECT (version, lineage_id, status::text, definition) FROM coditect.workflows WHERE id = pg_temp.id('Linear v2')),
          ROW(2, pg_temp.id('Linear'), 'draft'::text, :'linear'::jsonb), 'version 2: a draft of the same lineage, copying version 1');
SELECT is(pg_temp.as_user('admin', 'admin', format('SELECT coditect.workflow_new_version(%L)::text', pg_temp.id('Linear'))),
          format('CD409: version 2 of this workflow is a draft already: edit it (id %s)', pg_temp.id('Linear v2')), 'one draft at a time');
SELECT is(pg_temp.as_user('member', 'member', format('SELECT coditect.workflow_new_version(%L)::text', pg_temp.id('Linear'))),
          'CD403: permission denied: workflow.create needs a role that holds it (current role: member)', 'members do not edit workflows');
-- An execution of version 1 stays on version 1 when version 2 is published with another graph.
SELECT is(pg_temp.run('x1', 'member', 'member', format($$SELECT coditect.workflow_start(%L, '{"n": 1}')::text$$, pg_temp.id('Linear'))), 'ok',
          'a member starts the workflow');
SELECT is(pg_temp.at(pg_temp.id('x1')), 'running@work', 'it waits at the task');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_workflows_update(%L, %L)::text$$, pg_temp.id('Linear v2'),
              '{"definition": {"nodes": [{"id": "start", "type": "start"}, {"id": "check", "type": "task"}, {"id": "end", "type": "end"}],
                               "edges": [{"from": "start", "to": "check"}, {"from": "check", "to": "end"}]}}'))::jsonb ->> 'version', '2',
          'the draft is edited');
SELECT is(pg_temp.as_user('admin', 'admin', format('SELECT coditect.workflow_publish(%L)::text', pg_temp.id('Linear v2')))::jsonb ->> 'status',
          'active', 'version 2 is published');
SELECT is((SELECT status::text FROM coditect.workflows WHERE id = pg_temp.id('Linear')), 'archived', 'publishing archived version 1');
SELECT is(pg_temp.run('x2', 'member', 'member', format($$SELECT coditect.workflow_start(%L)::text$$, pg_temp.id('Linear'))), 'ok',
          'starting by any version''s id starts the active version');
SELECT is((SELECT (w.version, pg_temp.at(e.id)) FROM coditect.workflow_executions e JOIN coditect.workflows w ON w.id = e.workflow_id
            WHERE e.id = pg_temp.id('x2')), ROW(2, 'running@check'::text), 'the new execution runs version 2');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_complete_step(%L, 'check')::text$$, pg_temp.id('x1'))),
          'CD409: the execution is at step "work", not "check"', 'the old execution is still on version 1''s graph');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_complete_step(%L, 'work', '{"ok": true}')::text$$, pg_temp.id('x1')))::jsonb ->> 'status',
          'completed', 'and completes on it');
SELECT is(pg_temp.steps(pg_temp.id('x1')), 'start:completed work:completed done:completed', 'a linear flow: start, the task, the end');
SELECT is((SELECT context_data::jsonb FROM coditect.workflow_executions WHERE id = pg_temp.id('x1')), '{"n": 1, "work": {"ok": true}}'::jsonb,
          'a completed step''s output joins the context under the step''s id');
SELECT ok((SELECT completed_at IS NOT NULL FROM coditect.workflow_executions WHERE id = pg_temp.id('x1')), 'completed_at is stamped');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- current_step and step ids are nodes of the pinned definition, whoever writes
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.try(format($$UPDATE coditect.workflow_executions SET current_step = 'nowhere' WHERE id = %L$$, pg_temp.id('x2'))),
          'CD422: "nowhere" is not a step of this workflow version (its steps: start, check, end)', 'a current_step outside the definition is refused');
SELECT is(pg_temp.try(format($$UPDATE coditect.workflow_executions SET current_step = 'work' WHERE id = %L$$, pg_temp.id('x2'))),
          'CD422: "work" is not a step of this workflow version (its steps: start, check, end)', 'a node of another version is refused too');
SELECT is(pg_temp.try(format($$INSERT INTO coditect.workflow_steps (tenant_id, execution_id, step_id, step_type, status) VALUES (%L, %L, 'x', 'task', 'running')$$,
                             :'ta', pg_temp.id('x2'))),
          'CD422: "x" is not a step of this workflow version (its steps: start, check, end)', 'a step row names a node of the definition');
SELECT is(pg_temp.try(format($$UPDATE coditect.workflow_executions SET workflow_id = %L WHERE id = %L$$, pg_temp.id('Linear'), pg_temp.id('x2'))),
          'CD422: an execution stays on the workflow version it started on', 'an execution stays pinned');
SELECT is((SELECT created_by FROM coditect.workflows WHERE id = pg_temp.id('Linear v2')), pg_temp.id('admin'), 'version 2 was made by the admin');
SELECT is(pg_temp.try(format($$UPDATE coditect.workflows SET created_by = NULL WHERE id = %L AND created_by = %L$$,
                             pg_temp.id('Linear v2'), pg_temp.id('admin'))), 'ok',
          'a published version''s creator may become NULL (the user''s deletion: ON DELETE SET NULL)');
SELECT is((SELECT created_by FROM coditect.workflows WHERE id = pg_temp.id('Linear v2')), NULL, '... and did');
SELECT is(pg_temp.try(format($$DELETE FROM coditect.workflows WHERE id = %L$$, pg_temp.id('Linear'))),
          '23503: update or delete on table "workflows" violates foreign key constraint "workflow_executions_tenant_id_workflow_id_fkey" on table "workflow_executions"',
          'a version that ran keeps its history: it cannot be deleted');

------------------------------------------------------------------------------------------------
-- Conditions: a branch, a condition that does not evaluate, a loop that never waits
------------------------------------------------------------------------------------------------

SELECT pg_temp.wf('Branch', '{"nodes": [{"id": "start", "type": "start"}, {"id": "gate", "type": "condition"},
                                        {"id": "big", "type": "end"}, {"id": "small", "type": "end"}],
                              "edges": [{"from": "start", "to": "gate"}, {"from": "gate", "to": "big", "condition": "$.amount > 1000"},
                                        {"from": "gate", "to": "small"}]}') IS NOT NULL AS _ \gset
SELECT pg_temp.wf('Broken', '{"nodes": [{"id": "start", "type": "start"}, {"id": "gate", "type": "condition"}, {"id": "end", "type": "end"}],
                              "edges": [{"from": "start", "to": "gate"}, {"from": "gate", "to": "end", "condition": "$.amount"},
                                        {"from": "gate", "to": "end"}]}') IS NOT NULL AS _ \gset
SELECT pg_temp.wf('Loop', '{"nodes": [{"id": "start", "type": "start"}, {"id": "again", "type": "condition"},
                                      {"id": "ping", "type": "notification", "settings": {"channel": "ops"}}, {"id": "end", "type": "end"}],
                            "edges": [{"from": "start", "to": "again"}, {"from": "again", "to": "ping", "condition": "$.x == 1"},
                                      {"from": "again", "to": "end"}, {"from": "ping", "to": "again"}]}') IS NOT NULL AS _ \gset
SET ROLE tap54_gateway;
SELECT is(pg_temp.run('big', 'member', 'member', format($$SELECT coditect.workflow_start(%L, '{"amount": 5000}')::text$$, pg_temp.id('Branch'))), 'ok', 'a start with a big amount');
SELECT is(pg_temp.run('small', 'member', 'member', format($$SELECT coditect.workflow_start(%L, '{"amount": 10}')::text$$, pg_temp.id('Branch'))), 'ok', 'a start with a small amount');
SELECT is(pg_temp.at(pg_temp.id('big')), 'completed@big', 'the condition holds: its edge is taken');
SELECT is(pg_temp.at(pg_temp.id('small')), 'completed@small', 'the condition fails: the default edge is taken');
SELECT is((SELECT output_data::jsonb FROM coditect.workflow_steps WHERE execution_id = pg_temp.id('big') AND step_id = 'gate'), '{"next": "big"}',
          'the condition step records where it went');
SELECT is(pg_temp.run('broken', 'member', 'member', format($$SELECT coditect.workflow_start(%L, '{"amount": 5}')::text$$, pg_temp.id('Broken'))), 'ok',
          'a start whose condition does not evaluate to a boolean');
SELECT is((SELECT (pg_temp.at(id), error_message, completed_at IS NOT NULL) FROM coditect.workflow_executions WHERE id = pg_temp.id('broken')),
          ROW('failed@gate'::text, 'step "gate": a condition did not evaluate: single boolean result is expected'::text, true),
          'the execution fails at the step, with the reason');
SELECT is(pg_temp.steps(pg_temp.id('broken')), 'start:completed gate:failed', 'no history is lost: the steps before stay, the failed one says so');
SELECT is(pg_temp.run('loop', 'member', 'member', format($$SELECT coditect.workflow_start(%L, '{"x": 1}')::text$$, pg_temp.id('Loop'))), 'ok',
          'a start into a loop whose exit never holds');
SELECT is((SELECT (status::text, error_message) FROM coditect.workflow_executions WHERE id = pg_temp.id('loop')),
          ROW('failed'::text, 'the execution went through 100 steps without waiting, at "ping": a loop whose exit never holds'::text),
          'a loop that never waits fails instead of running forever');
SELECT is(pg_temp.run('noloop', 'member', 'member', format($$SELECT coditect.workflow_start(%L, '{"x": 2}')::text$$, pg_temp.id('Loop'))), 'ok',
          'the same workflow with the exit holding');
SELECT is(pg_temp.at(pg_temp.id('noloop')), 'completed@end', 'a loop with an exit ends');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.workflow_start(%L)::text$$, pg_temp.id('Branch'))),
          'CD403: permission denied: workflow.start needs a role that holds it (current role: guest)', 'guests do not start workflows');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_start(%L, '[1]')::text$$, pg_temp.id('Branch'))),
          'CD400: context must be a JSON object', 'a context that is not an object is refused');
SELECT matches(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_start(%L, jsonb_build_object('big', repeat('x', 70000)))::text$$, pg_temp.id('Branch'))),
               '^CD400: an execution''s context is at most 64 KiB of JSON', 'a context over 64 KiB is refused (it travels in every notification)');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_start(%L)::text$$, :'owner_b')),
          format('CD404: workflow %s not found', :'owner_b'), 'an unknown workflow is not found');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Approvals: approved, rejected, expired; only an approver decides, and only once
------------------------------------------------------------------------------------------------

SELECT pg_temp.wf('Review', format('{"nodes": [{"id": "start", "type": "start"},
        {"id": "review", "type": "approval", "settings": {"title": "Looks good?", "approvers": ["%s", "%s"], "expire_after": "1 hour"}},
        {"id": "fix", "type": "task"}, {"id": "escalate", "type": "approval", "settings": {"min_role": "admin"}}, {"id": "done", "type": "end"}],
      "edges": [{"from": "start", "to": "review"}, {"from": "review", "to": "done", "on": "approved"},
                {"from": "review", "to": "fix", "on": "rejected"}, {"from": "review", "to": "escalate", "on": "expired"},
                {"from": "fix", "to": "done"}, {"from": "escalate", "to": "done", "on": "approved"}]}',
      pg_temp.id('member'), pg_temp.id('member2'))::jsonb) IS NOT NULL AS _ \gset
SET ROLE tap54_gateway;
SELECT is(pg_temp.run('r1', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'an approval flow starts');
SELECT is(pg_temp.at(pg_temp.id('r1')), 'running@review', 'it waits at the approval');
SELECT is((SELECT array_agg(approver_id ORDER BY approver_id) FROM coditect.workflow_approvals WHERE execution_id = pg_temp.id('r1')),
          (SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY[pg_temp.id('member'), pg_temp.id('member2')]) x), 'one approval per listed approver');
SELECT ok((SELECT bool_and(status = 'pending' AND expires_at = now() + interval '1 hour') FROM coditect.workflow_approvals WHERE execution_id = pg_temp.id('r1')),
          'pending, expiring after the node''s period');
SELECT pg_temp.put('r1 member', (SELECT id FROM coditect.workflow_approvals WHERE execution_id = pg_temp.id('r1') AND approver_id = pg_temp.id('member'))) IS NOT NULL AS _ \gset
SELECT pg_temp.put('r1 member2', (SELECT id FROM coditect.workflow_approvals WHERE execution_id = pg_temp.id('r1') AND approver_id = pg_temp.id('member2'))) IS NOT NULL AS _ \gset
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.workflow_decide(%L, 'approved')::text$$, pg_temp.id('r1 member'))),
          'CD403: you are not an approver of this step', 'an admin who is not listed does not decide');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.workflow_decide(%L, 'approved')::text$$, pg_temp.id('r1 member'))),
          'CD403: you are not an approver of this step', 'a listed approver does not decide another''s approval');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_decide(%L, 'maybe')::text$$, pg_temp.id('r1 member'))),
          'CD400: decision must be approved or rejected', 'a decision is approved or rejected');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_decide(%L, 'approved', 'fine')::text$$, pg_temp.id('r1 member')))::jsonb
          - 'id' - 'tenant_id' - 'step_id' - 'execution_id' - 'approver_id' - 'decided_by' - 'created_at' - 'expires_at' - 'approved_at' - 'decided_at',
          '{"status": "approved", "comment": "fine", "min_role": null}', 'the listed approver approves');
SELECT is((SELECT (status::text, decided_by = pg_temp.id('member'), approved_at = now(), decided_at = now()) FROM coditect.workflow_approvals WHERE id = pg_temp.id('r1 member')),
          ROW('approved'::text, true, true, true), 'who decided and when');
SELECT is((SELECT status::text FROM coditect.workflow_approvals WHERE id = pg_temp.id('r1 member2')), 'cancelled', 'the other approver''s approval is no longer needed');
SELECT is(pg_temp.at(pg_temp.id('r1')), 'completed@done', 'approved: the "approved" edge is followed');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.workflow_decide(%L, 'rejected')::text$$, pg_temp.id('r1 member2'))),
          'CD409: the approval is already cancelled', 'no decision after the step is decided');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_decide(%L, 'rejected')::text$$, pg_temp.id('r1 member'))),
          'CD409: the approval is already approved', 'an approver decides once');
RESET ROLE;  -- (a refused call leaves no request context: read as the DBA)
SELECT is((SELECT context_data::jsonb -> 'review' ->> 'decision' FROM coditect.workflow_executions WHERE id = pg_temp.id('r1')), 'approved',
          'the decision joins the context');
SET ROLE tap54_gateway;

SELECT is(pg_temp.run('r2', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'a second run');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.workflow_decide(id, 'rejected', 'no')::text FROM coditect.workflow_approvals
                                                       WHERE execution_id = %L AND approver_id = %L$$, pg_temp.id('r2'), pg_temp.id('member2')))::jsonb ->> 'status',
          'rejected', 'an approver rejects');
SELECT is(pg_temp.at(pg_temp.id('r2')), 'running@fix', 'rejected: the "rejected" edge is followed');
SELECT is(pg_temp.steps(pg_temp.id('r2')), 'start:completed review:completed fix:running', 'the steps so far');

-- Expiry: correct when read before the job runs, then applied by it.
SELECT is(pg_temp.run('r3', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'a third run');
RESET ROLE;
UPDATE coditect.workflow_approvals SET expires_at = now() - interval '1 second' WHERE execution_id = pg_temp.id('r3');
SET ROLE tap54_gateway;
SELECT is((SELECT array_agg(DISTINCT status::text) FROM coditect.workflow_approvals WHERE execution_id = pg_temp.id('r3')), '{pending}',
          'past its deadline, the stored status is still pending (the job has not run)');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT string_agg(DISTINCT r ->> 'status', ',') FROM jsonb_array_elements(
              coditect.api_workflow_approvals_list('{"execution_id": "%s"}') -> 'results') r$$, pg_temp.id('r3'))),
          'expired', 'the API reads it as expired already');
SELECT matches(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_decide(id, 'approved')::text FROM coditect.workflow_approvals
                                                           WHERE execution_id = %L AND approver_id = %L$$, pg_temp.id('r3'), pg_temp.id('member'))),
               '^CD409: the approval expired at ', 'an expired approval is not decided');
RESET ROLE;
SELECT is(coditect.workflow_expire_approvals(), 1, 'the expiry job expires the step');
SELECT is((SELECT array_agg(DISTINCT status::text) FROM coditect.workflow_approvals WHERE execution_id = pg_temp.id('r3') AND step_id =
             (SELECT id FROM coditect.workflow_steps WHERE execution_id = pg_temp.id('r3') AND step_id = 'review')), '{expired}', 'its approvals are expired');
SELECT is(pg_temp.at(pg_temp.id('r3')), 'running@escalate', 'expired: the "expired" edge is followed');
SELECT ok((SELECT approver_id IS NULL AND min_role = 'admin' AND expires_at = now() + interval '7 days' FROM coditect.workflow_approvals
            WHERE execution_id = pg_temp.id('r3') AND status = 'pending'), 'a role approval, expiring after the workflow''s 7 days');
SELECT is(coditect.workflow_expire_approvals(), 0, 'a second run finds nothing');
SET ROLE tap54_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_decide(id, 'approved')::text FROM coditect.workflow_approvals
                                                      WHERE execution_id = %L AND status = 'pending'$$, pg_temp.id('r3'))),
          'CD403: you are not an approver of this step', 'a member is below the approval''s role');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.workflow_decide(id, 'rejected')::text FROM coditect.workflow_approvals
                                                    WHERE execution_id = %L AND status = 'pending'$$, pg_temp.id('r3')))::jsonb ->> 'status',
          'rejected', 'the owner (above admin) rejects');
SELECT is((SELECT (pg_temp.at(id), error_message) FROM coditect.workflow_executions WHERE id = pg_temp.id('r3')),
          ROW('failed@escalate'::text, 'step "escalate" ended rejected and the workflow has no edge for that'::text),
          'an outcome without an edge fails the execution, with the reason');
SELECT is(pg_temp.steps(pg_temp.id('r3')), 'start:completed review:completed escalate:completed', 'and keeps every step');
RESET ROLE;
-- Whoever writes: a decision by someone the approval does not name is refused.
SELECT matches(pg_temp.try(format($$UPDATE coditect.workflow_approvals SET status = 'approved', decided_by = %L
                               WHERE execution_id = %L AND approver_id = %L$$, pg_temp.id('guest'), pg_temp.id('r2'), pg_temp.id('member'))),
          '^CD422: workflow_approval: cannot go from ''cancelled'' to ''approved''', 'a decided approval stays decided (its state machine)');
SET ROLE tap54_gateway;
SELECT is(pg_temp.run('r4', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'a fourth run');
RESET ROLE;
SELECT is(pg_temp.try(format($$UPDATE coditect.workflow_approvals SET status = 'approved', decided_by = %L
                               WHERE execution_id = %L AND approver_id = %L$$, pg_temp.id('guest'), pg_temp.id('r4'), pg_temp.id('member'))),
          'CD403: only an approver of this step decides it', 'a DBA cannot record a decision by a user who is not the approver');
SELECT is(pg_temp.try(format($$UPDATE coditect.workflow_approvals SET status = 'approved', decided_by = %L
                               WHERE execution_id = %L AND approver_id = %L$$, pg_temp.id('member'), pg_temp.id('r4'), pg_temp.id('member'))),
          'ok', 'the approver''s own decision passes the rule');

------------------------------------------------------------------------------------------------
-- Cancellation
------------------------------------------------------------------------------------------------

SET ROLE tap54_gateway;
SELECT is(pg_temp.run('c1', 'member', 'member', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'a member starts a run');
SELECT is(pg_temp.as_user('member2', 'member', format('SELECT coditect.workflow_cancel(%L)::text', pg_temp.id('c1'))),
          'CD403: only who started an execution, or an admin, cancels it', 'another member does not cancel it');
SELECT is(pg_temp.as_user('member', 'member', format('SELECT coditect.workflow_cancel(%L)::text', pg_temp.id('c1')))::jsonb ->> 'status',
          'cancelled', 'who started it cancels it');
SELECT is(pg_temp.steps(pg_temp.id('c1')), 'start:completed review:skipped', 'the waiting step is skipped');
SELECT is((SELECT array_agg(DISTINCT status::text) FROM coditect.workflow_approvals WHERE execution_id = pg_temp.id('c1')), '{cancelled}',
          'its approvals are cancelled');
SELECT is(pg_temp.as_user('member', 'member', format('SELECT coditect.workflow_cancel(%L)::text', pg_temp.id('c1'))),
          'CD409: the execution is already cancelled', 'a cancelled execution stays cancelled');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_decide(id, 'approved')::text FROM coditect.workflow_approvals
                                                      WHERE execution_id = %L AND approver_id = %L$$, pg_temp.id('c1'), pg_temp.id('member'))),
          'CD409: the approval is already cancelled', 'nothing is decided after a cancellation');
SELECT is(pg_temp.as_user('admin', 'admin', format('SELECT coditect.workflow_cancel(%L)::text', pg_temp.id('r2')))::jsonb ->> 'status',
          'cancelled', 'an admin cancels any execution');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_complete_step(%L, 'fix')::text$$, pg_temp.id('r2'))),
          'CD409: the execution is cancelled, not running', 'a cancelled execution does not move');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Event triggers: a change of a watched resource starts the workflow in the same transaction
------------------------------------------------------------------------------------------------

INSERT INTO coditect.projects (tenant_id, name, key) VALUES (:'ta', 'Web', 'WEB');
INSERT INTO coditect.tasks (tenant_id, project_id, title, status)
SELECT :'ta', id, t, 'todo' FROM coditect.projects, unnest(ARRAY['T1', 'T2']) t WHERE key = 'WEB';
SELECT count(pg_temp.put(title, id)) AS _ FROM coditect.tasks WHERE tenant_id = :'ta' \gset
SELECT pg_temp.wf('On review', :'linear',
    '[{"type": "event", "resource": "task", "on": ["update"], "condition": "$.changes.status[1] == \"in_review\""}]') IS NOT NULL AS _ \gset
SELECT is((SELECT (resource_type, verbs, condition::text) FROM coditect_internal.workflow_event_triggers WHERE workflow_id = pg_temp.id('On review')),
          ROW('Task'::text, '{update}'::text[], '($."changes"."status"[1] == "in_review")'::text), 'publishing subscribes the active version to its event');
SET ROLE tap54_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"status": "in_progress"}') ->> 'status'$$, pg_temp.id('T1'))),
          'in_progress', 'a task moves to in_progress');
SELECT is((SELECT count(*) FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('On review')), 0::bigint, 'the condition does not hold: nothing starts');
SAVEPOINT before_review;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"status": "in_review"}') ->> 'status'$$, pg_temp.id('T1'))),
          'in_review', 'the task moves to in_review');
SELECT is((SELECT (trigger_type::text, triggered_by = pg_temp.id('member'), pg_temp.at(id), context_data::jsonb #>> '{event,resource_id}',
                   context_data::jsonb #> '{event,changes,status}')
             FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('On review')),
          ROW('event'::text, true, 'running@work'::text, pg_temp.id('T1')::text, '["in_progress", "in_review"]'::jsonb),
          'the workflow started in the same transaction, with the event as context and who caused it');
ROLLBACK TO SAVEPOINT before_review;
SELECT is((SELECT count(*) FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('On review')), 0::bigint,
          'rolled back with the change: no execution without the change');
RESET ROLE;
UPDATE coditect.workflows SET status = 'paused' WHERE id = pg_temp.id('On review');
SELECT is((SELECT count(*) FROM coditect_internal.workflow_event_triggers WHERE workflow_id = pg_temp.id('On review')), 0::bigint,
          'a paused version is no longer subscribed');
UPDATE coditect.tasks SET status = 'in_review' WHERE id = pg_temp.id('T1');
SELECT is((SELECT count(*) FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('On review')), 0::bigint, 'and starts nothing');

------------------------------------------------------------------------------------------------
-- Scheduled triggers: pg_cron jobs while the version is active
------------------------------------------------------------------------------------------------

SELECT pg_temp.wf('Weekly', :'linear', '[{"type": "scheduled", "cron": "0 9 * * 1", "context": {"kind": "weekly"}}]') IS NOT NULL AS _ \gset
SELECT is((SELECT concat_ws(' | ', schedule, command, database) FROM cron.job WHERE jobname = 'coditect-workflow-' || pg_temp.id('Weekly') || '-1'),
          concat_ws(' | ', '0 9 * * 1', format('SELECT coditect_internal.workflow_fire_scheduled(%L, %L, 1)', :'ta', pg_temp.id('Weekly')), current_database()),
          'publishing schedules the trigger with pg_cron, in this database');
SELECT ok(coditect_internal.workflow_fire_scheduled(:'ta', pg_temp.id('Weekly'), 1) IS NOT NULL, 'pg_cron''s command starts the workflow');
SELECT is((SELECT (trigger_type::text, triggered_by IS NULL, context_data::jsonb ->> 'kind', context_data::jsonb ? 'scheduled_at')
             FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('Weekly')),
          ROW('scheduled'::text, true, 'weekly'::text, true), 'a scheduled execution: the trigger''s context and the time');
UPDATE coditect.workflows SET status = 'archived' WHERE id = pg_temp.id('Weekly');
SELECT is((SELECT count(*) FROM cron.job WHERE jobname LIKE 'coditect-workflow-' || pg_temp.id('Weekly') || '-%'), 0::bigint,
          'archiving removes the job');
SELECT is(coditect_internal.workflow_fire_scheduled(:'ta', pg_temp.id('Weekly'), 1), NULL, 'a job left behind starts nothing');
SELECT pg_temp.wf('Twenty', :'linear', (SELECT jsonb_agg(jsonb_build_object('type', 'scheduled', 'cron', g || ' 3 * * *')) FROM generate_series(0, 19) g)) IS NOT NULL AS _ \gset
SELECT is((SELECT count(*) FROM cron.job c JOIN coditect_internal.workflow_cron_jobs j USING (jobid) WHERE j.tenant_id = :'ta'), 20::bigint,
          'twenty schedules of a tenant, each a pg_cron job');
SELECT pg_temp.wf('One more', :'linear', '[{"type": "scheduled", "cron": "0 4 * * *"}]', false) IS NOT NULL AS _ \gset
SELECT is(pg_temp.try(format($$UPDATE coditect.workflows SET status = 'active' WHERE id = %L$$, pg_temp.id('One more'))),
          'CD422: a tenant''s active workflows have at most 20 scheduled triggers', 'a twenty-first is refused (pg_cron is shared by all tenants)');
UPDATE coditect.workflows SET status = 'archived' WHERE id = pg_temp.id('Twenty');
SELECT is(pg_temp.try(format($$UPDATE coditect.workflows SET status = 'active' WHERE id = %L$$, pg_temp.id('One more'))), 'ok',
          'once the others are archived, it is scheduled');
SELECT is(pg_temp.try(format($$INSERT INTO coditect.workflows (tenant_id, name, definition, triggers, status) VALUES (%L, 'Bad cron', %L,
                                '[{"type": "scheduled", "cron": "61 * * * *"}]', 'draft')$$, :'ta', :'linear')), 'ok', 'a draft with a bad minute');
SELECT matches(pg_temp.try($$UPDATE coditect.workflows SET status = 'active' WHERE name = 'Bad cron'$$),
               '^CD422: the cron expression "61 \* \* \* \*" is not one pg_cron runs', 'pg_cron''s refusal refuses the publication');

------------------------------------------------------------------------------------------------
-- Webhook triggers: HMAC-SHA256 of the body with the workflow's secret
------------------------------------------------------------------------------------------------

\ir lib/sign.psql

SELECT pg_temp.wf('Hook', :'linear', '[{"type": "webhook"}]') IS NOT NULL AS _ \gset
SELECT pg_temp.wf('Hookless', :'linear') IS NOT NULL AS _ \gset
SET ROLE tap54_gateway;
SELECT is(pg_temp.as_user('member', 'member', format('SELECT coditect.workflow_rotate_secret(%L)::text', pg_temp.id('Hook'))),
          'CD403: permission denied: workflow.rotate_secret needs a role that holds it (current role: member)', 'members do not see secrets');
SELECT pg_temp.as_user('admin', 'admin', format('SELECT coditect.workflow_rotate_secret(%L)::text', pg_temp.id('Hook')))::jsonb AS hook \gset
SELECT matches(:'hook'::jsonb ->> 'secret', '^whsec_[0-9a-f]{64}$', 'an admin gets a new secret, once');
SELECT is(:'hook'::jsonb ->> 'webhook_path', '/api/v1/workflows/' || pg_temp.id('Hook') || '/webhook/', 'and the path to post to');
SELECT :'hook'::jsonb ->> 'secret' AS secret \gset
SELECT matches(:'hook'::jsonb ->> 'notification_secret', '^whsec_[0-9a-f]{64}$', 'and a second secret, for its notifications');
SELECT isnt(:'hook'::jsonb ->> 'notification_secret', :'secret', 'the two differ: what the workflow signs cannot start it');
SELECT pg_temp.as_user('admin', 'admin', format('SELECT coditect.workflow_rotate_secret(%L)::text', pg_temp.id('Hookless'))) IS NOT NULL AS _ \gset
\set body '{"order": 42}'
SELECT is(coditect.workflow_webhook(pg_temp.id('Hook'), pg_temp.sign(:'secret', :'body'), convert_to(:'body', 'UTF8')) - 'execution_id' - 'workflow_id',
          '{"status": "running", "current_step": "work"}', 'a signed request starts the workflow');
RESET ROLE;
SELECT is((SELECT (trigger_type::text, triggered_by IS NULL, context_data::jsonb) FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('Hook')),
          ROW('webhook'::text, true, '{"webhook": {"order": 42}}'::jsonb), 'a webhook execution: the body is its context');
SET ROLE tap54_gateway;
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'), pg_temp.sign(:'secret', :'body'), convert_to(:'body', 'UTF8'))),
          'CD409: this signed request was already received', 'a replayed request is refused');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'), pg_temp.sign(:'secret', :'body') || ',v0=x',
                             convert_to(:'body', 'UTF8'))),
          'CD409: this signed request was already received', 'a replay with a rewritten header (another scheme beside) is the same request');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'), 'v1=' || split_part(pg_temp.sign(:'secret', :'body'), 'v1=', 2)
                             || ',' || split_part(pg_temp.sign(:'secret', :'body'), ',', 1), convert_to(:'body', 'UTF8'))),
          'CD409: this signed request was already received', '... or its entries in another order');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'), pg_temp.sign(:'secret', :'body'), convert_to('{"order": 43}', 'UTF8'))),
          'CD401: the Coditect-Signature header is not a signature of this body', 'a changed body is refused');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'), pg_temp.sign('whsec_guess', '{"a": 1}'), convert_to('{"a": 1}', 'UTF8'))),
          'CD401: the Coditect-Signature header is not a signature of this body', 'another secret is refused');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'),
                             pg_temp.sign(:'secret', '{"a": 2}', floor(extract(epoch FROM now()))::bigint - 301), convert_to('{"a": 2}', 'UTF8'))),
          'CD401: the Coditect-Signature header is more than 300 s away from now', 'a stale signature is refused');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'), 'sha256=abc', convert_to('{}', 'UTF8'))),
          'CD401: the Coditect-Signature header is malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)', 'a malformed header is refused');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, NULL, %L)$$, pg_temp.id('Hook'), convert_to('{}', 'UTF8'))),
          'CD401: the Coditect-Signature header is malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)', 'no header is refused');
SELECT is(pg_temp.try(format($$SELECT coditect.workflow_webhook(%L, %L, %L)$$, pg_temp.id('Hook'), pg_temp.sign(:'secret', '[1]'), convert_to('[1]', 'UTF8'))),
          'CD400: the body must be a JSON object', 'a body that is not a JSON object is refused');
SELECT is(coditect.workflow_webhook(pg_temp.id('Hookless'), pg_temp.sign(:'secret', :'body'), convert_to(:'body', 'UTF8')), NULL,
          'a workflow without a webhook trigger is not found');
SELECT is(coditect.workflow_webhook(:'owner_b', pg_temp.sign(:'secret', :'body'), convert_to(:'body', 'UTF8')), NULL, 'an unknown workflow is not found');
RESET ROLE;
SELECT is((SELECT count(*) FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('Hook')), 1::bigint, 'only the genuine request started it');
SELECT ok(NOT has_table_privilege('coditect_gateway', 'coditect_internal.workflow_secrets', 'SELECT')
          AND NOT has_table_privilege('coditect_service', 'coditect_internal.workflow_secrets', 'SELECT')
          AND NOT has_table_privilege('coditect_analyst', 'coditect_internal.workflow_secrets', 'SELECT'), 'no client role reads the secrets');

------------------------------------------------------------------------------------------------
-- One execution's failure does not stop the expiry job nor the change an event watches
------------------------------------------------------------------------------------------------

SET ROLE tap54_gateway;
SELECT is(pg_temp.run('p1', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'a run to poison');
SELECT is(pg_temp.run('p2', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'and a sound one');
RESET ROLE;
-- As a DBA: a context the engine would refuse to grow (written past its checks).
UPDATE coditect.workflow_executions SET context_data = jsonb_build_object('big', repeat('x', 70000)) WHERE id = pg_temp.id('p1');
UPDATE coditect.workflow_approvals SET expires_at = now() - interval '1 second' WHERE execution_id IN (pg_temp.id('p1'), pg_temp.id('p2'));
SELECT is(coditect.workflow_expire_approvals(), 2, 'the job handles both');
SELECT is((SELECT (status::text, error_message LIKE 'the approval expired and moving on failed: CD400: an execution''s context is at most 64 KiB%')
             FROM coditect.workflow_executions WHERE id = pg_temp.id('p1')), ROW('failed'::text, true), 'the poisoned one fails, with the reason');
SELECT is(pg_temp.at(pg_temp.id('p2')), 'running@escalate', 'the other still follows its expired edge');

SELECT pg_temp.wf('Watch all', :'linear', '[{"type": "event", "resource": "task", "on": ["update"]}]') IS NOT NULL AS _ \gset
SET ROLE tap54_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, jsonb_build_object('description', repeat('y', 70000))) ->> 'title'$$,
                                                     pg_temp.id('T2'))), 'T2', 'a watched change too big for a workflow''s context goes through');
RESET ROLE;
SELECT is((SELECT count(*) FROM coditect.workflow_executions WHERE workflow_id = pg_temp.id('Watch all')), 0::bigint, 'the workflow did not start');
SELECT is((SELECT concat_ws('|', severity, resource_id = pg_temp.id('Watch all')::text, metadata ->> 'event_action', left(metadata ->> 'error', 65))
             FROM coditect.audit_logs WHERE action = 'workflow.trigger_failed'),
          'error|t|task.update|CD400: an execution''s context is at most 64 KiB of JSON (this one',
          'the failed start is in the audit trail, with the reason');
UPDATE coditect.workflows SET status = 'archived' WHERE id = pg_temp.id('Watch all');

------------------------------------------------------------------------------------------------
-- Notifications: rows of the transactional outbox (53_outbox), written in the engine's transaction
------------------------------------------------------------------------------------------------

INSERT INTO coditect.webhook_endpoints (tenant_id, name, url) VALUES (:'ta', 'ops', 'https://hooks.a.test/ops'),
                                                                     (:'ta', 'other', 'https://hooks.a.test/other');
SELECT pg_temp.wf('Notify', '{"nodes": [{"id": "start", "type": "start"},
        {"id": "tell", "type": "notification", "settings": {"channel": "ops", "message": "hello"}},
        {"id": "post", "type": "notification", "settings": {"webhook": "https://hooks.a.test/direct"}}, {"id": "end", "type": "end"}],
      "edges": [{"from": "start", "to": "tell"}, {"from": "tell", "to": "post"}, {"from": "post", "to": "end"}]}') IS NOT NULL AS _ \gset
CREATE FUNCTION pg_temp.outbox(p_execution uuid) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(event || '>' || url, ' ' ORDER BY created_at, event, url) FROM coditect.webhook_deliveries
     WHERE payload ->> 'execution_id' = p_execution::text
$$;
SET ROLE tap54_gateway;
SAVEPOINT before_notify;
SELECT is(pg_temp.run('n1', 'member', 'member', format($$SELECT coditect.workflow_start(%L, '{"order": 7}')::text$$, pg_temp.id('Notify'))), 'ok',
          'a workflow of two notifications');
RESET ROLE;
SELECT is(pg_temp.outbox(pg_temp.id('n1')),
          'workflow.completed>https://hooks.a.test/ops workflow.completed>https://hooks.a.test/other '
          || 'workflow.notification>https://hooks.a.test/direct workflow.notification>https://hooks.a.test/ops',
          'the channel node posts to its endpoint only, the webhook node to its URL, the end to every endpoint');
SELECT is((SELECT payload - 'execution_id' - 'workflow_id' FROM coditect.webhook_deliveries
            WHERE payload ->> 'execution_id' = pg_temp.id('n1')::text AND url = 'https://hooks.a.test/ops' AND event = 'workflow.notification'),
          '{"step": "tell", "context": {"order": 7}, "message": "hello", "workflow_name": "Notify", "workflow_version": 1}',
          'a notification carries its message, the step and the execution''s context');
SELECT is((SELECT s.secret FROM coditect.webhook_deliveries d JOIN coditect_internal.webhook_delivery_secrets s
            ON s.tenant_id = d.tenant_id AND s.delivery_id = d.id WHERE d.url = 'https://hooks.a.test/direct'),
          (SELECT notification_secret FROM coditect_internal.workflow_secrets WHERE lineage_id = pg_temp.id('Notify')),
          'a URL is signed with the workflow''s notification secret (not the one its webhook trigger checks)');
SELECT is((SELECT steps FROM (SELECT pg_temp.steps(pg_temp.id('n1')) AS steps) x), 'start:completed tell:completed post:completed end:completed',
          'each notification is a completed step');
SELECT is((SELECT string_agg(output_data::text, ' ' ORDER BY created_at) FROM coditect.workflow_steps
            WHERE execution_id = pg_temp.id('n1') AND step_type = 'notification'), '{"deliveries": 1} {"deliveries": 1}',
          'and says how many deliveries it queued');
ROLLBACK TO SAVEPOINT before_notify;
SELECT is((SELECT count(*) FROM coditect.webhook_deliveries WHERE tenant_id = :'ta'), 0::bigint,
          'rolled back with the execution: nothing is delivered for it');
SET ROLE tap54_gateway;
SELECT is(pg_temp.run('r5', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'an approval flow again');
RESET ROLE;
SELECT is((SELECT count(*) FROM coditect.webhook_deliveries WHERE event = 'approval.requested' AND payload ->> 'execution_id' = pg_temp.id('r5')::text),
          4::bigint, 'each approval is requested at each endpoint (two approvers, two endpoints)');
SELECT is((SELECT array_agg(DISTINCT payload ->> 'title') FROM coditect.webhook_deliveries
            WHERE event = 'approval.requested' AND payload ->> 'execution_id' = pg_temp.id('r5')::text), '{"Looks good?"}',
          'with the approval''s title');
SET ROLE tap54_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.workflow_decide(id, 'approved')::text FROM coditect.workflow_approvals
                                                      WHERE execution_id = %L AND approver_id = %L$$, pg_temp.id('r5'), pg_temp.id('member')))::jsonb ->> 'status',
          'approved', 'the approval is decided');
RESET ROLE;
SELECT is((SELECT count(*) FROM coditect.webhook_deliveries WHERE event = 'approval.decided' AND payload ->> 'execution_id' = pg_temp.id('r5')::text
             AND payload ->> 'decision' = 'approved'), 2::bigint, 'the decision is posted to each endpoint');
SET ROLE tap54_gateway;
SELECT is(pg_temp.run('r6', 'admin', 'admin', format('SELECT coditect.workflow_start(%L)::text', pg_temp.id('Review'))), 'ok', 'and once more');
RESET ROLE;
UPDATE coditect.workflow_approvals SET expires_at = now() - interval '1 second' WHERE execution_id = pg_temp.id('r6');
SELECT is(coditect.workflow_expire_approvals(), 1, 'its approvals expire');
SELECT is((SELECT count(*) FROM coditect.webhook_deliveries WHERE event = 'approval.decided' AND payload ->> 'execution_id' = pg_temp.id('r6')::text
             AND payload ->> 'decision' = 'expired'), 2::bigint, 'an expiry is posted as a decision too');

SELECT * FROM finish();
ROLLBACK;

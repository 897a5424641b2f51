-- The task activity feed (sql/34_task_activity.sql, issue 9): a security-invoker view of the
-- audit trail, one entry per changed field of an update, comments in the feed (their content
-- gone once deleted); through the generated list / get as a gateway login (filters, keyset
-- pages, nesting under a live task, permissions) and as bound analysts. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

\set fx t35
\ir lib/tenants.psql
\ir lib/as_user.psql
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'Activity A'), (:'tb', 'Activity B');
SELECT pg_temp.put('pa', id) AS _ FROM coditect.projects WHERE tenant_id = :'ta' \gset
INSERT INTO coditect.tasks (tenant_id, project_id, title) SELECT :'tb', id, 'B task' FROM coditect.projects WHERE tenant_id = :'tb';

------------------------------------------------------------------------------------------------
-- The view
------------------------------------------------------------------------------------------------

SELECT has_view('coditect', 'task_activity', 'view task_activity');
SELECT columns_are('coditect', 'task_activity',
                   ARRAY['id', 'tenant_id', 'task_id', 'user_id', 'action', 'field_changed', 'old_value', 'new_value',
                         'comment_id', 'created_at'],
                   'task_activity has the seeds'' fields, and the comment of a comment entry');
SELECT ok((SELECT reloptions @> '{security_invoker=true}' FROM pg_class WHERE oid = 'coditect.task_activity'::regclass),
          'the view runs as its reader (the audit trail''s and the tasks'' RLS apply)');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = 'coditect.task_activity_action'::regtype ORDER BY e.enumsortorder),
          ARRAY['created', 'updated', 'status_changed', 'assigned', 'unassigned', 'deleted', 'restored',
                'commented', 'comment_edited', 'comment_deleted', 'comment_restored'], 'the actions');
SELECT is((SELECT roles FROM coditect_internal.resources WHERE name = 'task_activity'), '{"view": "guest"}',
          'catalog: read-only, guests read it');
SELECT is((SELECT path FROM coditect_internal.resources WHERE name = 'task_activity'), '/api/v1/tasks/{task_id}/activity/',
          'catalog: nested under its task');

------------------------------------------------------------------------------------------------
-- Bound analysts see only their tenant's activity
------------------------------------------------------------------------------------------------

-- (Before any request context: a context would stand in for the analyst's binding in this
-- transaction.) Changes made by the DBA are audited, so in the feed, without a user.
INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (:'ta', pg_temp.id('pa'), 'A task by the DBA');
UPDATE coditect.tasks SET title = title || ', renamed';
CREATE ROLE tap35_analyst_a LOGIN;
CREATE ROLE tap35_analyst_b LOGIN;
SELECT coditect.bind_analyst('tap35_analyst_a', :'ta') IS NOT NULL AS _ \gset
SELECT coditect.bind_analyst('tap35_analyst_b', :'tb') IS NOT NULL AS _ \gset
SET SESSION AUTHORIZATION tap35_analyst_a;
SELECT count(*) AS an_a, count(*) FILTER (WHERE tenant_id <> :'ta') AS an_a_foreign FROM coditect.task_activity \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tap35_analyst_b;
SELECT count(*) AS an_b, count(*) FILTER (WHERE tenant_id <> :'tb') AS an_b_foreign,
       count(*) FILTER (WHERE action = 'updated') AS an_b_updates FROM coditect.task_activity \gset
RESET SESSION AUTHORIZATION;
SELECT is(:an_a::int, 2, 'the analyst bound to A reads A''s feed (created, renamed)');
SELECT is(:an_a_foreign::int, 0, '... and nothing of B');
SELECT is(:an_b::int, 2, 'the analyst bound to B reads B''s feed');
SELECT is(:an_b_foreign::int, 0, '... and nothing of A');
SELECT is(:an_b_updates::int, 1, '... its rename included');

------------------------------------------------------------------------------------------------
-- A task's life, through the API as a gateway login
------------------------------------------------------------------------------------------------

CREATE ROLE tap35_gateway LOGIN IN ROLE coditect_gateway;
SET ROLE tap35_gateway;
SELECT pg_temp.put('t1', (pg_temp.as_user('member', 'member', format(
    $$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "Write the feed"}') ->> 'id'$$, pg_temp.id('pa'))))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"title": "Write the activity feed", "priority": "high"}') ->> 'title'$$,
          pg_temp.id('t1'))), 'Write the activity feed', 'a member edits two fields at once');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.task_transition(%L, 'todo') ->> 'status'$$, pg_temp.id('t1'))),
          'todo', 'a member moves it to todo');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.task_transition(%L, 'in_progress') ->> 'status'$$, pg_temp.id('t1'))),
          'in_progress', '... and starts it (started_at stamped)');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_update(%L, '{"assignee_id": "%s"}') ->> 'assignee_id'$$,
          pg_temp.id('t1'), pg_temp.id('member2'))), pg_temp.id('member2')::text, 'an admin assigns it');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_update(%L, '{"assignee_id": null}') ->> 'assignee_id'$$,
          pg_temp.id('t1'))), 'done', '... and unassigns it');
SELECT pg_temp.put('c1', (pg_temp.as_user('member2', 'member', format(
    $$SELECT coditect.api_task_comments_create(%L, '{"content": "On it."}') ->> 'id'$$, pg_temp.id('t1'))))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "On it, today."}') ->> 'content'$$,
          pg_temp.id('t1'), pg_temp.id('c1'))), 'On it, today.', 'its author edits the comment');
SELECT pg_temp.put('c2', (pg_temp.as_user('member', 'member', format(
    $$SELECT coditect.api_task_comments_create(%L, '{"content": "Secret, to be deleted"}') ->> 'id'$$, pg_temp.id('t1'))))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_delete(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('c2'))),
          'done', 'a second comment is deleted by its author');

-- The feed: one entry per change, per changed field of an update.
CREATE TEMP TABLE feed AS SELECT NULL::jsonb AS j WITH NO DATA;
GRANT ALL ON feed TO PUBLIC;
INSERT INTO feed SELECT e FROM jsonb_array_elements(pg_temp.as_user('guest', 'guest', format(
    $$SELECT coditect.api_task_activity_list(%L, '{}', NULL, 200)$$, pg_temp.id('t1')))::jsonb -> 'results') e;
SELECT set_eq($$SELECT j ->> 'action' AS a, j ->> 'field_changed' AS f, j -> 'old_value' AS o, j -> 'new_value' AS n, j ->> 'user_id' AS u, j ->> 'comment_id' AS c FROM feed$$,
              format($$VALUES ('created', NULL, 'null'::jsonb, 'null'::jsonb, %1$L, NULL),
                              ('updated', 'title', '"Write the feed"', '"Write the activity feed"', %1$L, NULL),
                              ('updated', 'priority', '"medium"', '"high"', %1$L, NULL),
                              ('status_changed', 'status', '"backlog"', '"todo"', %1$L, NULL),
                              ('status_changed', 'status', '"todo"', '"in_progress"', %1$L, NULL),
                              ('assigned', 'assignee_id', 'null', %2$L, %3$L, NULL),
                              ('unassigned', 'assignee_id', %2$L, 'null', %3$L, NULL),
                              ('commented', NULL, 'null', '"On it."', %4$L, %5$L),
                              ('comment_edited', 'content', '"On it."', '"On it, today."', %4$L, %5$L),
                              ('commented', NULL, 'null', 'null', %1$L, %6$L),
                              ('comment_deleted', NULL, 'null', 'null', %1$L, %6$L)$$,
                     pg_temp.id('member'), to_jsonb(pg_temp.id('member2')::text), pg_temp.id('admin'), pg_temp.id('member2'),
                     pg_temp.id('c1'), pg_temp.id('c2')),
              'the feed: created, each edited field, each status change, assigned / unassigned, comments; a deleted comment shows no content');
SELECT is((SELECT count(*)::int FROM feed WHERE j ->> 'field_changed' IN ('updated_at', 'started_at', 'completed_at')), 0,
          'stamped fields (updated_at, started_at) are not entries of their own');
SELECT is((SELECT count(DISTINCT j ->> 'id')::int FROM feed), (SELECT count(*)::int FROM feed), 'entry ids are unique');
SELECT ok(NOT EXISTS (SELECT 1 FROM coditect.audit_logs WHERE resource_type LIKE 'task_activity%'),
          'the feed writes nothing: a change is recorded once, in the audit trail');

-- The list: newest first, keyset pages, filters, get.
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT jsonb_array_length(coditect.api_task_activity_list(%L) -> 'results')$$, pg_temp.id('t1'))),
          '11', 'the default page (50) holds the whole feed: a page size left out is the resource''s default');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_activity_list(%L, '{}', NULL, NULL) ->> 'count'$$, pg_temp.id('t1'))),
          'done', 'keyset pages by default: no count');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT jsonb_array_length(coditect.api_task_activity_list(%L, '{}', NULL, NULL) -> 'results')$$, pg_temp.id('t1'))),
          '11', 'a page size passed as NULL is the resource''s default (50), not 20');
CREATE FUNCTION pg_temp.walk(p_task uuid, p_size int) RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    cur text;
    page jsonb;
BEGIN
    LOOP
        page := coditect.api_task_activity_list(p_task, '{}', NULL, p_size, cur);
        RETURN QUERY SELECT jsonb_array_elements(page -> 'results');
        cur := page ->> 'next_cursor';
        EXIT WHEN cur IS NULL;
    END LOOP;
END $$;
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT jsonb_agg(x ->> 'id' ORDER BY x ->> 'id') FROM pg_temp.walk(%L, 2) x$$, pg_temp.id('t1')))::jsonb,
          (SELECT jsonb_agg(j ->> 'id' ORDER BY j ->> 'id') FROM feed), 'pages of 2 by cursor give every entry once');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT array_agg(x ->> 'created_at' || '/' || (x ->> 'id') ORDER BY n)
                                                      FROM jsonb_array_elements(coditect.api_task_activity_list(%L) -> 'results') WITH ORDINALITY e(x, n)$$, pg_temp.id('t1'))),
          (SELECT array_agg(j ->> 'created_at' || '/' || (j ->> 'id') ORDER BY j ->> 'created_at' DESC, (j ->> 'id')::uuid DESC) FROM feed)::text,
          'newest first (created_at, then id, descending)');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(x ->> 'new_value', ',' ORDER BY x ->> 'new_value')
                                                      FROM jsonb_array_elements(coditect.api_task_activity_list(%L, '{"action": "status_changed"}') -> 'results') x$$,
                                                   pg_temp.id('t1'))), 'in_progress,todo', 'filter: action');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT jsonb_array_length(coditect.api_task_activity_list(%L, '{"action__in": "assigned,unassigned"}') -> 'results')$$,
                                                   pg_temp.id('t1'))), '2', 'filter: action__in');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT jsonb_array_length(coditect.api_task_activity_list(%L, '{"field_changed": "title"}') -> 'results')$$,
                                                   pg_temp.id('t1'))), '1', 'filter: field_changed');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT jsonb_array_length(coditect.api_task_activity_list(%L, jsonb_build_object('user_id', %L)) -> 'results')$$,
                                                   pg_temp.id('t1'), pg_temp.id('admin'))), '2', 'filter: user_id');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_activity_list(%L, '{"action": "exploded"}')$$, pg_temp.id('t1'))),
             'CD400: invalid filter value%', 'an unknown action is CD400');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_activity_get(%L, %L) ->> 'field_changed'$$,
                                                   pg_temp.id('t1'), (SELECT j ->> 'id' FROM feed WHERE j ->> 'field_changed' = 'priority'))),
          'priority', 'get: one entry by id');

-- Read-only, nested under a live task of the caller's tenant.
SELECT alike(pg_temp.as_user('owner', 'owner', format($$INSERT INTO coditect.task_activity (id, tenant_id, task_id) VALUES (gen_random_uuid(), %L, %L)$$,
                                                      :'ta', pg_temp.id('t1'))), '55000: cannot insert into view%', 'nobody writes the feed');
SELECT ok(NOT has_table_privilege(r, 'coditect.task_activity', 'INSERT, UPDATE, DELETE'), r || ' has no write privilege on the feed')
  FROM unnest(ARRAY['coditect_gateway', 'coditect_service', 'coditect_analyst']) r;
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_task_activity_list(%L)$$, coditect.uuid_generate_v7())),
             'CD404: task % not found', 'the feed of an unknown task is CD404');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_task_activity_list(%L)$$,
                                                      (SELECT id FROM coditect.tasks WHERE title = 'B task'))),
             'CD404: task % not found', 'the feed of another tenant''s task is CD404');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_delete(%L)$$, pg_temp.id('t1'))), 'done', 'an admin deletes the task');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_activity_list(%L)$$, pg_temp.id('t1'))),
             'CD404: task % not found', 'the feed of a deleted task is CD404');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_restore(%L) ->> 'id'$$, pg_temp.id('t1'))),
          pg_temp.id('t1')::text, '... who restores it');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(x ->> 'action', ',' ORDER BY x ->> 'action')
                                                      FROM jsonb_array_elements(coditect.api_task_activity_list(%L, '{"action__in": ["deleted", "restored"]}') -> 'results') x$$,
                                                   pg_temp.id('t1'))), 'deleted,restored', 'deleted and restored are entries');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT count(*)::text FROM coditect.task_activity WHERE task_id = %L$$, pg_temp.id('t1'))),
          '13', 'direct SQL as a gateway login reads the same feed');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

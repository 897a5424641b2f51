-- The event trigger's per-backend cache of watched resources (src_ext/pg_workflow_events.cpp)
-- across sessions: a backend that has cached "nobody watches tasks" for a tenant sees a
-- workflow published by another session right after that commit, and one paused there stops
-- firing here; a tenant that watches nothing writes no execution. Committed fixtures (dblink
-- sessions), purged at the end.
\set ON_ERROR_STOP 1
SELECT no_plan();

CREATE EXTENSION IF NOT EXISTS dblink;
SELECT coditect.create_tenant('Events', 't55-events', 'e@t55.test', 'owner@t55.test') AS j \gset
SELECT :'j'::jsonb ->> 'tenant_id' AS tid \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tid', 'Web') RETURNING id AS project \gset
INSERT INTO coditect.tasks (tenant_id, project_id, title, status) VALUES (:'tid', :'project', 'T', 'todo') RETURNING id AS task \gset
INSERT INTO coditect.workflows (tenant_id, name, definition, triggers) VALUES (:'tid', 'On update',
    '{"nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}], "edges": [{"from": "s", "to": "e"}]}',
    '[{"type": "event", "resource": "task", "on": ["update"]}]') RETURNING id AS wf \gset

SELECT dblink_connect(c, format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                current_setting('port'), current_database()))
  FROM unnest(ARRAY['t55_writer', 't55_admin']) c;
CREATE FUNCTION pg_temp.touch(p_title text) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_exec('t55_writer', format('UPDATE coditect.tasks SET title = %L WHERE id = %L', p_title, current_setting('tap.task')))
$$;
SELECT set_config('tap.task', :'task', false) IS NOT NULL AS _ \gset
CREATE FUNCTION pg_temp.executions() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM coditect.workflow_executions WHERE workflow_id = current_setting('tap.wf')::uuid
$$;
SELECT set_config('tap.wf', :'wf', false) IS NOT NULL AS _ \gset

SELECT is(pg_temp.touch('one'), 'UPDATE 1', 'the writer session updates the task (caching: nobody watches tasks here)');
SELECT is(pg_temp.executions(), 0::bigint, 'the draft starts nothing');
SELECT is(dblink_exec('t55_admin', format($$UPDATE coditect.workflows SET status = 'active' WHERE id = %L$$, :'wf')), 'UPDATE 1',
          'another session publishes the workflow and commits');
SELECT is(pg_temp.touch('two'), 'UPDATE 1', 'the writer session updates the task again');
SELECT is(pg_temp.executions(), 1::bigint, 'its cached answer was dropped at that commit: the workflow started');
SELECT is(pg_temp.touch('three'), 'UPDATE 1', 'and again');
SELECT is(pg_temp.executions(), 2::bigint, 'each change starts it');
SELECT is(dblink_exec('t55_admin', format($$UPDATE coditect.workflows SET status = 'paused' WHERE id = %L$$, :'wf')), 'UPDATE 1',
          'the other session pauses it');
SELECT is(pg_temp.touch('four'), 'UPDATE 1', 'the writer session updates the task');
SELECT is(pg_temp.executions(), 2::bigint, 'nothing starts once it is paused');
SELECT is(dblink_exec('t55_writer', format($$UPDATE coditect.projects SET name = 'Web 2' WHERE id = %L$$, :'project')), 'UPDATE 1',
          'a change of a resource nobody watches');
SELECT is((SELECT count(*) FROM coditect.workflow_executions WHERE tenant_id = :'tid'), 2::bigint, 'starts nothing');
SELECT dblink_disconnect(c) FROM unnest(ARRAY['t55_writer', 't55_admin']) c;

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'tid');

-- Task numbers and keys (WEB-42): given by the database, per project, consecutive and without
-- gaps even when many sessions create tasks in one project at once; a project's key is set
-- once; a task is found by its key. The transition and move-to-sprint actions. Several sessions
-- through dblink (committed fixtures, removed at the end).
\set ON_ERROR_STOP 1
SELECT no_plan();

CREATE EXTENSION IF NOT EXISTS dblink;
CREATE ROLE tap34_gateway LOGIN IN ROLE coditect_gateway;
SELECT coditect.create_tenant('Keys', 't34-keys', 'k@t34.test', 'owner@t34.test') AS j \gset
SELECT :'j'::jsonb ->> 'tenant_id' AS tid, :'j'::jsonb ->> 'user_id' AS uid \gset
SELECT set_config('tap.tenant', :'tid', false), set_config('tap.user.owner', :'uid', false) \gset
\ir lib/as_user.psql
INSERT INTO coditect.projects (tenant_id, name, key) VALUES (:'tid', 'Website', 'WEB') RETURNING id AS web \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tid', 'No key') RETURNING id AS nokey \gset

-- Numbers and keys.
INSERT INTO coditect.tasks (tenant_id, project_id, title, number, key) VALUES (:'tid', :'web', 'First', 99, 'X-1')
RETURNING number AS n1, key AS k1 \gset
SELECT is(:'n1'::int, 1, 'the first task of a project is number 1 (a number given is not taken)');
SELECT is(:'k1'::text, 'WEB-1', 'its key is the project''s key and its number');
INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (:'tid', :'nokey', 'Keyless') RETURNING number AS n2, key IS NULL AS k2_null \gset
SELECT is(:'n2'::int, 1, 'numbers are per project');
SELECT ok(:'k2_null', 'a task of a project without a key has no key');
SELECT throws_ok(format($$UPDATE coditect.tasks SET number = 7 WHERE tenant_id = %L AND key = 'WEB-1'$$, :'tid'), 'CD422', NULL,
                 'a task keeps its number');
SELECT throws_ok(format($$UPDATE coditect.tasks SET project_id = %L WHERE tenant_id = %L AND key = 'WEB-1'$$, :'nokey', :'tid'),
                 'CD422', NULL, 'a task stays in its project');
SELECT throws_ok(format($$UPDATE coditect.projects SET key = 'SITE' WHERE tenant_id = %L AND id = %L$$, :'tid', :'web'), 'CD422',
                 'a project''s key is set once (its tasks are keyed WEB-<number>)', 'a project''s key is set once');
SELECT lives_ok(format($$UPDATE coditect.projects SET key = 'NK' WHERE tenant_id = %L AND id = %L$$, :'tid', :'nokey'),
                'a project without a key gets one');
SELECT throws_ok(format($$INSERT INTO coditect.projects (tenant_id, name, key) VALUES (%L, 'Other', 'WEB')$$, :'tid'), '23505', NULL,
                 'project keys are unique in the tenant');
SELECT throws_ok(format($$INSERT INTO coditect.projects (tenant_id, name, key) VALUES (%L, 'Lower', 'web')$$, :'tid'), '23514', NULL,
                 'a key is 2 to 10 upper-case letters and digits');

-- Through the API, as a gateway login: a task is found by its key; the actions.
SET ROLE tap34_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_tasks_list('{"key": "WEB-1"}') -> 'results' -> 0 ->> 'title'$$),
          'First', 'a task is found by its key (?key=WEB-1)');
SELECT pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "Second"}') ->> 'id'$$, :'web'))
    AS t2 \gset
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.task_transition(%L, 'todo') ->> 'status'$$, :'t2')), 'todo',
          'transition: backlog to todo');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.task_transition(%L, 'done')$$, :'t2')),
             'CD422:%in_progress%', 'a refused transition is CD422 and names the allowed targets');
SELECT ok(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.task_transition(%L, 'in_progress') ->> 'started_at'$$, :'t2')) IS NOT NULL,
          'in_progress stamps started_at');
RESET ROLE;
INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date) VALUES (:'tid', :'web', 'S1', '2027-01-04', '2027-01-18')
RETURNING id AS s1 \gset
INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date) VALUES (:'tid', :'nokey', 'Other S1', '2027-01-04', '2027-01-18')
RETURNING id AS s_other \gset
SET ROLE tap34_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.task_move_to_sprint(%L, %L) ->> 'sprint_id'$$, :'t2', :'s1')), :'s1',
          'move to a sprint of its project');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.task_move_to_sprint(%L, %L)$$, :'t2', :'s_other')), '23503:%',
             'not to a sprint of another project');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT (coditect.task_move_to_sprint(%L, NULL) ->> 'sprint_id') IS NULL$$, :'t2')),
          'true', 'out of the sprint');
SELECT alike(pg_temp.as_user('owner', 'guest', format($$SELECT coditect.task_transition(%L, 'todo')$$, :'t2')), 'CD403:%',
             'a guest cannot transition a task');
RESET ROLE;

-- Eight sessions create 25 tasks each in one project at once, each task its own transaction.
SELECT dblink_connect('t34_' || g, format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                                          current_setting('port'), current_database()))
  FROM generate_series(1, 8) g;
SELECT dblink_send_query('t34_' || g, format(
    $q$DO $d$ BEGIN FOR i IN 1..25 LOOP
          INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (%L, %L, 'race ' || %s || '-' || i);
          COMMIT;
      END LOOP; END $d$$q$, :'tid', :'web', g))
  FROM generate_series(1, 8) g;
SELECT count(*) FROM generate_series(1, 8) g, LATERAL dblink_get_result('t34_' || g) AS r(x text);
SELECT count(*) FROM generate_series(1, 8) g, LATERAL dblink_get_result('t34_' || g) AS r(x text);  -- the end of each
SELECT is(dblink_error_message('t34_' || g), 'OK', 'session ' || g || ' created its tasks without an error')
  FROM generate_series(1, 8) g;
SELECT dblink_disconnect('t34_' || g) FROM generate_series(1, 8) g;
SELECT is((SELECT count(*)::int FROM coditect.tasks WHERE tenant_id = :'tid' AND project_id = :'web' AND title LIKE 'race %'), 200,
          'all 200 tasks were made');
SELECT is((SELECT array_agg(number ORDER BY number) FROM coditect.tasks WHERE tenant_id = :'tid' AND project_id = :'web'),
          (SELECT array_agg(g) FROM generate_series(1, 202) g), 'numbers 1 to 202: distinct and consecutive, no gaps');
SELECT is((SELECT count(DISTINCT key)::int FROM coditect.tasks WHERE tenant_id = :'tid' AND project_id = :'web'), 202,
          'and so are the keys');

SELECT * FROM finish();

SELECT coditect.purge_tenant(:'tid');
DROP ROLE tap34_gateway;

-- Boards and the board view (sql/36_boards.sql), and the project-side task endpoints of issue 9
-- (sql/30_pm.sql, sql/06_catalog.sql): a project's tasks_count, /projects/{id}/tasks/ and
-- /projects/{id}/boards/ (list_by_project), the tags__contains filter. Columns, keys, indexes;
-- every rule of a board's columns for every writer; permissions; the view of kanban and scrum
-- boards; through the generated functions as a gateway login. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

\set fx t36
\ir lib/tenants.psql
\ir lib/as_user.psql
INSERT INTO coditect.projects (tenant_id, name, key) VALUES (:'ta', 'Web', 'WEB'), (:'ta', 'App', 'APP'), (:'tb', 'Secret', 'SEC');
SELECT count(pg_temp.put(key, id)) AS _ FROM coditect.projects \gset

------------------------------------------------------------------------------------------------
-- The table
------------------------------------------------------------------------------------------------

SELECT has_table('coditect', 'boards', 'table boards');
SELECT columns_are('coditect', 'boards', ARRAY['tenant_id', 'id', 'project_id', 'name', 'board_type', 'columns', 'created_at', 'updated_at'],
                   'boards has the seeds'' fields (no soft delete: the seeds give it none)');
SELECT col_type_is('coditect', 'boards', 'name', 'character varying(255)', 'boards.name varchar(255)');
SELECT col_type_is('coditect', 'boards', 'board_type', 'coditect.board_type', 'boards.board_type is the enum');
SELECT col_default_is('coditect', 'boards', 'board_type', 'kanban', 'boards.board_type defaults to kanban');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = 'coditect.board_type'::regtype ORDER BY e.enumsortorder),
          ARRAY['kanban', 'scrum', 'custom'], 'board types');
SELECT col_not_null('coditect', 'boards', c, 'boards.' || c || ' NOT NULL')
  FROM unnest(ARRAY['tenant_id', 'id', 'project_id', 'name', 'board_type', 'columns', 'created_at', 'updated_at']) c;
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = 'coditect.boards'::regclass AND c.contype = 'f'
                     AND pg_get_constraintdef(c.oid) = 'FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects(tenant_id, id) ON DELETE CASCADE'),
          'boards: the project, in the same tenant, cascades');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.boards'::regclass AND i.indisunique
                     AND pg_get_indexdef(i.indexrelid) LIKE '% (tenant_id, project_id, name)'),
          'boards: unique names in a project');
SELECT is(ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'coditect.boards'::regclass
                   AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'), '{}'::text[], 'boards: every index leads with tenant_id');

-- The default columns: one per status but cancelled, in the order of work.
INSERT INTO coditect.boards (tenant_id, project_id, name) VALUES (:'ta', pg_temp.id('WEB'), 'Default');
SELECT is((SELECT jsonb_agg(c ->> 'id' ORDER BY (c ->> 'position')::int) FROM coditect.boards, jsonb_array_elements(columns) c WHERE name = 'Default'),
          '["backlog", "todo", "in_progress", "in_review", "done"]', 'default columns: backlog, todo, in progress, in review, done');

-- Every rule of the columns, for a DBA without a context too (a CHECK).
CREATE FUNCTION pg_temp.cols(p_columns text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.try(format('UPDATE coditect.boards SET columns = %L WHERE name = ''Default''', p_columns))
$$;
SELECT is(pg_temp.cols(c), e, d) FROM (VALUES
    ('{"id": "a"}', '23514: value for domain coditect.json_array violates check constraint "json_array_check"', 'not an array (the column''s domain)'),
    ('[]', 'CD400: board columns must be a JSON array of 1 to 20 columns', 'no column'),
    ((SELECT jsonb_agg(jsonb_build_object('id', 'c' || g, 'name', 'C', 'status_mapping', '[]'::jsonb, 'position', g))::text FROM generate_series(1, 21) g),
     'CD400: board columns must be a JSON array of 1 to 20 columns', '21 columns'),
    ('["todo"]', 'CD400: board column 1: must be an object {id, name, status_mapping, position}', 'a column that is not an object'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo"], "position": 0, "color": "red"}]',
     'CD400: board column 1: unknown field(s) color (fields: id, name, status_mapping, position)', 'an unknown field'),
    ('[{"name": "A", "status_mapping": ["todo"], "position": 0}]', 'CD400: board column 1: id must be 1 to 64 of A-Z a-z 0-9 _ -', 'no id'),
    ('[{"id": "a b", "name": "A", "status_mapping": ["todo"], "position": 0}]', 'CD400: board column 1: id must be 1 to 64 of A-Z a-z 0-9 _ -', 'an id with a space'),
    ('[{"id": 7, "name": "A", "status_mapping": ["todo"], "position": 0}]', 'CD400: board column 1: id must be 1 to 64 of A-Z a-z 0-9 _ -', 'a numeric id'),
    ('[{"id": "a", "name": "  ", "status_mapping": ["todo"], "position": 0}]',
     'CD400: board column 1: name must be a non-blank string of at most 100 characters', 'a blank name'),
    (format('[{"id": "a", "name": "%s", "status_mapping": ["todo"], "position": 0}]', repeat('n', 101)),
     'CD400: board column 1: name must be a non-blank string of at most 100 characters', 'a name of 101 characters'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo"], "position": -1}]', 'CD400: board column 1: position must be an integer from 0 to 999999', 'a negative position'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo"], "position": 1.5}]', 'CD400: board column 1: position must be an integer from 0 to 999999', 'a fractional position'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo"], "position": "1"}]', 'CD400: board column 1: position must be an integer from 0 to 999999', 'a position as a string'),
    ('[{"id": "a", "name": "A", "status_mapping": [], "position": 0}]', 'CD400: board column 1: status_mapping must be a non-empty array of task statuses', 'no status'),
    ('[{"id": "a", "name": "A", "status_mapping": "todo", "position": 0}]', 'CD400: board column 1: status_mapping must be a non-empty array of task statuses', 'a status not in an array'),
    ('[{"id": "a", "name": "A", "status_mapping": ["doing"], "position": 0}]',
     'CD400: board column 1: "doing" is not a task status (backlog, todo, in_progress, in_review, done, cancelled)', 'an unknown status'),
    ('[{"id": "a", "name": "A", "status_mapping": [null], "position": 0}]',
     'CD400: board column 1: "null" is not a task status (backlog, todo, in_progress, in_review, done, cancelled)', 'a null status'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo"], "position": 0}, {"id": "b", "name": "B", "status_mapping": ["done", "todo"], "position": 1}]',
     'CD422: board column 2: status "todo" is already mapped to another column', 'a status in two columns'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo", "todo"], "position": 0}]',
     'CD422: board column 1: status "todo" is already mapped to another column', 'a status twice in a column'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo"], "position": 0}, {"id": "a", "name": "B", "status_mapping": ["done"], "position": 1}]',
     'CD422: board column 2: id "a" is used twice', 'an id twice'),
    ('[{"id": "a", "name": "A", "status_mapping": ["todo"], "position": 3}, {"id": "b", "name": "B", "status_mapping": ["done"], "position": 3}]',
     'CD422: board column 2: position 3 is used twice', 'a position twice'),
    ('[{"id": "open", "name": "Open", "status_mapping": ["backlog", "todo", "in_progress"], "position": 10}, {"id": "closed", "name": "Closed", "status_mapping": ["done", "cancelled"], "position": 20}]',
     'ok', 'two columns mapping several statuses each')
  ) v(c, e, d);
SELECT is(pg_temp.try($$INSERT INTO coditect.boards (tenant_id, project_id, name, columns) VALUES ('$$ || :'ta' || $$', '$$ || pg_temp.id('WEB') || $$', 'Bad', '[]')$$),
          'CD400: board columns must be a JSON array of 1 to 20 columns', 'the rules hold for an insert too');
SELECT is(pg_temp.try($$INSERT INTO coditect.boards (tenant_id, project_id, name) VALUES ('$$ || :'ta' || $$', '$$ || pg_temp.id('WEB') || $$', 'Default')$$),
          '23505: duplicate key value violates unique constraint "boards_tenant_project_name_key"', 'a name is unique in its project');
SELECT is(pg_temp.try($$INSERT INTO coditect.boards (tenant_id, project_id, name) VALUES ('$$ || :'ta' || $$', '$$ || pg_temp.id('APP') || $$', 'Default')$$),
          'ok', '... and may repeat in another project');
SELECT is(pg_temp.try($$INSERT INTO coditect.boards (tenant_id, project_id, name) VALUES ('$$ || :'ta' || $$', '$$ || pg_temp.id('SEC') || $$', 'Stolen')$$),
          '23503: insert or update on table "boards" violates foreign key constraint "boards_tenant_id_project_id_fkey"',
          'a board of another tenant''s project is refused');
DELETE FROM coditect.boards WHERE tenant_id = :'ta';

------------------------------------------------------------------------------------------------
-- Tasks to look at
------------------------------------------------------------------------------------------------

INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date, status)
VALUES (:'ta', pg_temp.id('WEB'), 'S1', '2026-11-01', '2026-11-15', 'planned');
SELECT pg_temp.put('S1', id) AS _ FROM coditect.sprints WHERE name = 'S1' \gset
-- WEB: 1 backlog low, 2 todo urgent, 3 todo medium (sprint), 4 in_progress high (sprint),
-- 5 done, 6 cancelled, 7 todo deleted; APP: 1 todo.
INSERT INTO coditect.tasks (tenant_id, project_id, title, status, priority, sprint_id, tags)
VALUES (:'ta', pg_temp.id('WEB'), 'w1', 'backlog', 'low', NULL, '["ui"]'),
       (:'ta', pg_temp.id('WEB'), 'w2', 'todo', 'urgent', NULL, '["ui", "bug"]'),
       (:'ta', pg_temp.id('WEB'), 'w3', 'todo', 'medium', pg_temp.id('S1'), '["api"]'),
       (:'ta', pg_temp.id('WEB'), 'w4', 'todo', 'high', pg_temp.id('S1'), '["api", "bug"]'),
       (:'ta', pg_temp.id('WEB'), 'w5', 'todo', 'medium', NULL, '[]'),
       (:'ta', pg_temp.id('WEB'), 'w6', 'backlog', 'medium', NULL, '[]'),
       (:'ta', pg_temp.id('WEB'), 'w7', 'todo', 'urgent', NULL, '[]'),
       (:'ta', pg_temp.id('APP'), 'a1', 'todo', 'urgent', NULL, '[]'),
       (:'tb', pg_temp.id('SEC'), 'b1', 'todo', 'urgent', NULL, '[]');
UPDATE coditect.tasks SET status = 'in_progress' WHERE title = 'w4';
UPDATE coditect.tasks SET status = 'in_progress' WHERE title = 'w5';
UPDATE coditect.tasks SET status = 'in_review' WHERE title = 'w5';
UPDATE coditect.tasks SET status = 'done' WHERE title = 'w5';
UPDATE coditect.tasks SET status = 'cancelled' WHERE title = 'w6';
UPDATE coditect.tasks SET deleted_at = now() WHERE title = 'w7';
SELECT count(pg_temp.put(title, id)) AS _ FROM coditect.tasks \gset

CREATE ROLE tap36_gateway LOGIN IN ROLE coditect_gateway;
SET ROLE tap36_gateway;

------------------------------------------------------------------------------------------------
-- A project's tasks_count; its tasks and boards under it; tags__contains
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_projects_get(%L) ->> 'tasks_count'$$, pg_temp.id('WEB'))), '6',
          'tasks_count: the project''s live tasks, cancelled and done included');
SELECT is(pg_temp.as_user('guest', 'guest', $$SELECT string_agg((r ->> 'name') || '=' || (r ->> 'tasks_count'), ',' ORDER BY r ->> 'name')
                                               FROM jsonb_array_elements(coditect.api_projects_list() -> 'results') r$$),
          'App=1,Web=6', 'tasks_count: in list rows too, counted per project, nothing of another tenant');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_projects_update(%L, '{"description": "the site"}') ->> 'tasks_count'$$,
          pg_temp.id('WEB'))), '6', 'tasks_count: in the answer of an update');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.api_projects_create('{"name": "Empty"}') ->> 'tasks_count'$$), '0',
          'tasks_count: 0 in the answer of a create');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "w8"}') ->> 'number'$$,
          pg_temp.id('WEB'))), '8', 'a member adds a task');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_projects_get(%L) ->> 'tasks_count'$$, pg_temp.id('WEB'))), '7',
          'tasks_count: follows a new task');
-- The ETag covers the computed field, and If-Match compares with what a get answered.
SELECT pg_temp.as_user('member', 'member', format($$SELECT coditect.row_etag(coditect.api_projects_get(%L))$$, pg_temp.id('WEB'))) AS etag \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_projects_update(%L, '{"description": "still the site"}', %L) ->> 'description'$$,
          pg_temp.id('WEB'), :'etag')), 'still the site', 'If-Match with the ETag of a get (tasks_count in it) is accepted');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_delete(%L)$$, (SELECT id FROM pg_temp.refs WHERE k = 'w1'))), 'done', 'an admin deletes w1');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_projects_update(%L, '{"description": "x"}', %L)$$,
             pg_temp.id('WEB'), coditect.row_etag(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_projects_get(%L)$$, pg_temp.id('WEB')))::jsonb
                                                    || '{"tasks_count": 7}'))),
             'CD412:%', 'a tasks_count that changed since the read makes the ETag stale');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_projects_get(%L) ->> 'tasks_count'$$, pg_temp.id('WEB'))), '6',
          'tasks_count: follows a deleted task');
SELECT is((SELECT count(*)::int FROM coditect_internal.resource_computed), 1, 'catalog: one computed field (project.tasks_count)');
SELECT is(pg_temp.as_user('guest', 'guest', $$SELECT c::text FROM jsonb_array_elements(coditect.api_catalog() -> 'resources') r, jsonb_array_elements(r -> 'columns') c
                                               WHERE r ->> 'name' = 'project' AND c ->> 'name' = 'tasks_count'$$)::jsonb
          @> '{"json_type": "integer", "read": true, "create": false, "update": false, "computed": true, "nullable": false}',
          true, 'catalog: tasks_count is published as a read-only integer');

SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(r ->> 'title', ',' ORDER BY r ->> 'title')
                                                      FROM jsonb_array_elements(coditect.api_tasks_list_by_project(%L) -> 'results') r$$, pg_temp.id('WEB'))),
          'w2,w3,w4,w5,w6,w8', '/projects/{id}/tasks/: the project''s live tasks');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(r ->> 'title', ',' ORDER BY r ->> 'title')
                                                      FROM jsonb_array_elements(coditect.api_tasks_list_by_project(%L, '{"status": "todo"}', 1, 50) -> 'results') r$$,
                                                   pg_temp.id('WEB'))), 'w2,w3', '... with the list''s filters (w8 is in the backlog)');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(r ->> 'title', ',' ORDER BY r ->> 'title')
                                                      FROM jsonb_array_elements(coditect.api_tasks_list_by_project(%L, jsonb_build_object('project_id', %L)) -> 'results') r$$,
                                                   pg_temp.id('WEB'), pg_temp.id('APP'))), 'w2,w3,w4,w5,w6,w8', '... the path''s project wins over a project_id filter');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_tasks_list_by_project(%L)$$, pg_temp.id('SEC'))),
             'CD404: project % not found', '... another tenant''s project is CD404');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_tasks_list_by_project(%L)$$, coditect.uuid_generate_v7())),
             'CD404: project % not found', '... an unknown project is CD404');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_tasks_list_by_project(%L, '{"nope": 1}')$$, pg_temp.id('WEB'))),
             'CD400: unknown filter(s): nope', '... an undeclared filter is CD400');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_projects_delete(%L)$$, pg_temp.id('APP'))), 'done', 'an admin deletes APP');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_tasks_list_by_project(%L)$$, pg_temp.id('APP'))),
             'CD404: project % not found', '... whose tasks are no longer listed under it');
SELECT is((SELECT path FROM coditect_internal.resource_operations WHERE resource = 'task' AND name = 'list_by_project'),
          '/api/v1/projects/{project_id}/tasks/', 'catalog: the path under the project');

SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(r ->> 'title', ',' ORDER BY r ->> 'title')
                                                      FROM jsonb_array_elements(coditect.api_tasks_list(%L) -> 'results') r$$, '{"tags__contains": "bug"}')),
          'w2,w4', 'tags__contains: tasks holding the tag');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(r ->> 'title', ',' ORDER BY r ->> 'title')
                                                      FROM jsonb_array_elements(coditect.api_tasks_list(%L) -> 'results') r$$, '{"tags__contains": "api,bug"}')),
          'w4', 'tags__contains: every one of several tags (comma-separated)');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(r ->> 'title', ',' ORDER BY r ->> 'title')
                                                      FROM jsonb_array_elements(coditect.api_tasks_list(%L) -> 'results') r$$, '{"tags__contains": ["ui", "bug"]}')),
          'w2', 'tags__contains: a JSON array of tags');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_tasks_list(%L) ->> 'count'$$, '{"tags__contains": "nobody"}')),
          '0', 'tags__contains: a tag nobody has');

------------------------------------------------------------------------------------------------
-- Boards through the API
------------------------------------------------------------------------------------------------

SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_boards_create('{"project_id": "%s", "name": "Mine"}')$$, pg_temp.id('WEB'))),
             'CD403: permission denied: board.create%', 'a member cannot create a board');
SELECT pg_temp.put('kanban', (pg_temp.as_user('admin', 'admin', format(
    $$SELECT coditect.api_boards_create('{"project_id": "%s", "name": "Kanban",
        "columns": [{"id": "todo", "name": "To do", "status_mapping": ["backlog", "todo"], "position": 0},
                    {"id": "done", "name": "Done", "status_mapping": ["done"], "position": 2},
                    {"id": "doing", "name": "Doing", "status_mapping": ["in_progress", "in_review"], "position": 1}]}') ->> 'id'$$,
    pg_temp.id('WEB'))))::uuid) AS _ \gset
SELECT ok(pg_temp.id('kanban') IS NOT NULL, 'an admin creates a kanban board');
SELECT pg_temp.put('scrum', (pg_temp.as_user('admin', 'admin', format(
    $$SELECT coditect.api_boards_create('{"project_id": "%s", "name": "Sprint board", "board_type": "scrum"}') ->> 'id'$$,
    pg_temp.id('WEB'))))::uuid) AS _ \gset
SELECT ok(pg_temp.id('scrum') IS NOT NULL, '... and a scrum board with the default columns');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_boards_update(%L, '{"columns": [{"id": "x", "name": "X", "status_mapping": ["todo"], "position": 0, "wip": 3}]}')$$,
             pg_temp.id('kanban'))), 'CD400: board column 1: unknown field(s) wip%', 'the API refuses bad columns with the rule''s words');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_boards_update(%L, '{"project_id": "%s"}')$$, pg_temp.id('kanban'), pg_temp.id('APP'))),
             'CD400:%project_id%', 'a board stays in its project');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_boards_delete(%L)$$, pg_temp.id('kanban'))),
             'CD403: permission denied: board.delete%', 'a member cannot delete a board');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(r ->> 'name', ',' ORDER BY r ->> 'name')
                                                      FROM jsonb_array_elements(coditect.api_boards_list_by_project(%L) -> 'results') r$$, pg_temp.id('WEB'))),
          'Kanban,Sprint board', 'a guest lists the project''s boards (/projects/{id}/boards/)');

-- The view of a kanban board: columns in position order, each with its count and its tasks,
-- most urgent first then by number; unmapped (cancelled) and deleted tasks nowhere.
SELECT pg_temp.as_user('guest', 'guest', format($$SELECT coditect.board_view(%L)$$, pg_temp.id('kanban'))) AS kv \gset
SELECT is((SELECT jsonb_agg(c ->> 'id') FROM jsonb_array_elements(:'kv'::jsonb -> 'columns') c), '["todo", "doing", "done"]',
          'board view: the columns in position order');
SELECT is((SELECT jsonb_object_agg(c ->> 'id', (SELECT jsonb_agg(t ->> 'title') FROM jsonb_array_elements(c -> 'tasks') t))
             FROM jsonb_array_elements(:'kv'::jsonb -> 'columns') c),
          '{"todo": ["w2", "w3", "w8"], "doing": ["w4"], "done": ["w5"]}',
          'board view: each column''s tasks, most urgent first, then by number; cancelled, deleted and other projects'' tasks nowhere');
SELECT is((SELECT jsonb_object_agg(c ->> 'id', c -> 'count') FROM jsonb_array_elements(:'kv'::jsonb -> 'columns') c),
          '{"todo": 3, "doing": 1, "done": 1}', 'board view: each column''s count');
SELECT is(:'kv'::jsonb #>> '{board,name}', 'Kanban', 'board view: the board itself');
SELECT is(:'kv'::jsonb -> 'columns' -> 0 -> 'status_mapping', '["backlog", "todo"]', 'board view: a column keeps its mapping');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.board_view(%L, 1) #> '{columns,0}'$$, pg_temp.id('kanban')))::jsonb
          - 'tasks' - 'status_mapping' || jsonb_build_object('titles', (SELECT jsonb_agg(t ->> 'title') FROM jsonb_array_elements(
             pg_temp.as_user('guest', 'guest', format($$SELECT coditect.board_view(%L, 1) #> '{columns,0,tasks}'$$, pg_temp.id('kanban')))::jsonb) t)),
          '{"id": "todo", "name": "To do", "position": 0, "count": 3, "titles": ["w2"]}', 'board view: ?limit= caps each column, the count stays');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.board_view(%L, 0)$$, pg_temp.id('kanban'))),
             'CD400: limit must be between 1 and 200', 'board view: limit 0 is CD400');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.board_view(%L, 201)$$, pg_temp.id('kanban'))),
             'CD400: limit must be between 1 and 200', 'board view: limit 201 is CD400');

-- A scrum board shows the active sprint's tasks; none while no sprint is active.
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT (SELECT sum(jsonb_array_length(c -> 'tasks')) FROM jsonb_array_elements(v -> 'columns') c)::text
                                                      || '/' || coalesce(v ->> 'sprint_id', 'none') FROM coditect.board_view(%L) v$$, pg_temp.id('scrum'))),
          '0/none', 'scrum board: no active sprint, no tasks');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_sprints_update(%L, '{"status": "active"}') ->> 'status'$$, pg_temp.id('S1'))),
          'active', 'an admin starts sprint S1');
SELECT pg_temp.as_user('guest', 'guest', format($$SELECT coditect.board_view(%L)$$, pg_temp.id('scrum'))) AS sv \gset
SELECT is((SELECT jsonb_object_agg(c ->> 'id', (SELECT coalesce(jsonb_agg(t ->> 'title'), '[]') FROM jsonb_array_elements(c -> 'tasks') t))
             FROM jsonb_array_elements(:'sv'::jsonb -> 'columns') c),
          '{"backlog": [], "todo": ["w3"], "in_progress": ["w4"], "in_review": [], "done": []}', 'scrum board: the active sprint''s tasks only');
SELECT is(:'sv'::jsonb ->> 'sprint_id', pg_temp.id('S1')::text, 'scrum board: names the sprint it shows');

-- Permissions and tenants.
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.board_view(%L)$$, coditect.uuid_generate_v7())),
             'CD404: board % not found', 'board view: an unknown board is CD404');
RESET ROLE;
INSERT INTO coditect.boards (tenant_id, project_id, name) VALUES (:'tb', pg_temp.id('SEC'), 'B board');
SET ROLE tap36_gateway;
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.board_view(%L)$$, (SELECT id FROM coditect.boards WHERE name = 'B board'))),
             'CD404: board % not found', 'board view: another tenant''s board is CD404');
SELECT alike(pg_temp.as_user('owner', 'none', format($$SELECT coditect.board_view(%L)$$, pg_temp.id('kanban'))),
             'CD4%', 'board view: a role without board.view is refused');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_boards_delete(%L)$$, pg_temp.id('kanban'))), 'done', 'an admin deletes a board');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT count(*)::text FROM coditect.boards WHERE id = %L$$, pg_temp.id('kanban'))), '0',
          '... for good (no soft delete)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

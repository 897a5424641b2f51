-- Project management, first slice (sql/30_pm.sql) against its contract (notes/pm-spec.md, issue 9):
-- sprints, milestones and tasks. Every column's type, nullability and default, the enums, keys,
-- foreign keys and indexes; then the rules: subtask depth and cycles, the task, sprint and
-- milestone state machines (every allowed and every refused transition, with the CD422 message
-- naming the allowed targets), stamps, story points, sprint dates, overlaps and the single
-- active sprint, unique live names, milestone progress after each kind of task change, the
-- privileges on progress, cross-project and cross-tenant references, a bound analyst, and the
-- generated API functions as a gateway login. Runs as a superuser, everything rolled back.
BEGIN;
SELECT no_plan();

CREATE SCHEMA t31;
-- Ids of fixture rows by key.
CREATE TABLE t31.refs (k text PRIMARY KEY, id uuid NOT NULL);
CREATE FUNCTION t31.id(text) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT id FROM t31.refs WHERE k = $1
$$;
CREATE FUNCTION t31.put(p_k text, p_id uuid) RETURNS uuid LANGUAGE sql AS $$
    INSERT INTO t31.refs VALUES (p_k, p_id) ON CONFLICT (k) DO UPDATE SET id = EXCLUDED.id RETURNING id
$$;
-- Runs p_sql; 'ok', or 'SQLSTATE: message'.
CREATE FUNCTION t31.try(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE p_sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- A refusal of the state machine lists the allowed targets in no promised order: sorted here.
CREATE FUNCTION t31.norm(m text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m ~ ': [^:]*\)$'
                THEN regexp_replace(m, ': [^:]*\)$', '') || ': '
                     || (SELECT string_agg(x, ', ' ORDER BY x COLLATE "C")
                           FROM unnest(string_to_array(substring(m FROM ': ([^:]*)\)$'), ', ')) x) || ')'
                ELSE m END
$$;

-- Text as JSON, or the text as a JSON string when it is an error message.
CREATE FUNCTION t31.j(p text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN p::jsonb;
EXCEPTION WHEN OTHERS THEN
    RETURN to_jsonb(p);
END $$;
-- The gateway and service logins below read the fixture ids.
GRANT USAGE ON SCHEMA t31 TO PUBLIC;
GRANT SELECT ON t31.refs TO PUBLIC;

-- Fixtures: tenants A, B and C; in A an admin, a member and a guest; projects.
SELECT coditect.create_tenant('PM A', 't31-a', 'a@t31-a.test', 'owner@t31-a.test') AS ja \gset
SELECT coditect.create_tenant('PM B', 't31-b', 'b@t31-b.test', 'owner@t31-b.test') AS jb \gset
SELECT coditect.create_tenant('PM C', 't31-c', 'c@t31-c.test', 'owner@t31-c.test') ->> 'tenant_id' AS tc \gset
SELECT :'ja'::jsonb->>'tenant_id' AS ta, :'ja'::jsonb->>'user_id' AS owner_a,
       :'jb'::jsonb->>'tenant_id' AS tb, :'jb'::jsonb->>'user_id' AS owner_b \gset
INSERT INTO coditect.users (tenant_id, email, role)
SELECT :'ta', r || '@t31-a.test', r::coditect.member_role FROM unnest(ARRAY['admin', 'member', 'guest']) r;
INSERT INTO coditect.memberships (tenant_id, user_id, role)
SELECT tenant_id, id, role FROM coditect.users WHERE tenant_id = :'ta' AND role <> 'owner';
SELECT set_config('tap.tenant', :'ta', false), set_config('tap.ta', :'ta', false), set_config('tap.tb', :'tb', false) \gset
SELECT count(set_config('tap.user.' || role, id::text, false)) AS _ FROM coditect.users WHERE tenant_id = :'ta' \gset
SELECT t31.put('ta', :'ta'), t31.put('tb', :'tb'), t31.put('owner_a', :'owner_a'), t31.put('owner_b', :'owner_b') \gset
SELECT t31.put('member_a', current_setting('tap.user.member')::uuid) \gset
\ir lib/as_user.psql

WITH p AS (INSERT INTO coditect.projects (tenant_id, name)
           VALUES (:'ta', 'PM One'), (:'ta', 'PM Two'), (:'ta', 'PM Progress'), (:'ta', 'PM Api'), (:'ta', 'PM Cascade'),
                  (:'tb', 'PM B One'), (:'tc', 'PM C One')
           RETURNING id, name)
SELECT count(t31.put(CASE name WHEN 'PM One' THEN 'p1' WHEN 'PM Two' THEN 'p2' WHEN 'PM Progress' THEN 'pp'
                               WHEN 'PM Api' THEN 'papi' WHEN 'PM Cascade' THEN 'pc' WHEN 'PM C One' THEN 'pcx' ELSE 'pb' END, id)) AS _ FROM p \gset

-- A task (title = key) in a project, straight from an INSERT.
CREATE FUNCTION t31.task(p_key text, p_project text, p_status text DEFAULT 'backlog', p_parent text DEFAULT NULL,
                         p_milestone text DEFAULT NULL, p_sprint text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v uuid;
BEGIN
    EXECUTE format('INSERT INTO coditect.tasks (tenant_id, project_id, title, status, parent_task_id, milestone_id, sprint_id)
                    SELECT p.tenant_id, p.id, $1, %L::coditect.task_status, $2, $3, $4 FROM coditect.projects p WHERE p.id = $5 RETURNING id', p_status)
       INTO STRICT v USING p_key, t31.id(p_parent), t31.id(p_milestone), t31.id(p_sprint), t31.id(p_project);
    RETURN t31.put(p_key, v);
END $$;
-- Moves a row of a table with a status column through the given statuses.
CREATE FUNCTION t31.walk(p_table regclass, p_key text, VARIADIC p_to text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY p_to LOOP
        EXECUTE format('UPDATE %s SET status = %L WHERE id = $1', p_table, s) USING t31.id(p_key);
    END LOOP;
    RETURN s;
END $$;
CREATE FUNCTION t31.progress(p_key text) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT progress_percent FROM coditect.milestones WHERE id = t31.id(p_key)
$$;

------------------------------------------------------------------------------------------------
-- Enums
------------------------------------------------------------------------------------------------

SELECT enum_has_labels('coditect', 'task_type', ARRAY['task', 'bug', 'feature', 'epic'], 'enum task_type');
SELECT enum_has_labels('coditect', 'task_status', ARRAY['backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled'],
                       'enum task_status');
SELECT enum_has_labels('coditect', 'task_priority', ARRAY['low', 'medium', 'high', 'urgent'], 'enum task_priority');
SELECT enum_has_labels('coditect', 'sprint_status', ARRAY['planned', 'active', 'completed', 'cancelled'], 'enum sprint_status');
SELECT enum_has_labels('coditect', 'milestone_status', ARRAY['open', 'in_progress', 'completed', 'cancelled'],
                       'enum milestone_status');

------------------------------------------------------------------------------------------------
-- Columns: types, NOT NULL, defaults
------------------------------------------------------------------------------------------------

CREATE TABLE t31.cols (ord serial, tbl name, col name, typ text, not_null boolean, def text);
INSERT INTO t31.cols (tbl, col, typ, not_null, def) VALUES
    ('sprints', 'tenant_id',        'uuid',                     true,  NULL),
    ('sprints', 'id',               'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('sprints', 'project_id',       'uuid',                     true,  NULL),
    ('sprints', 'name',             'character varying(255)',   true,  NULL),
    ('sprints', 'goal',             'text',                     true,  ''),
    ('sprints', 'status',           'coditect.sprint_status',   true,  'planned'),
    ('sprints', 'start_date',       'date',                     true,  NULL),
    ('sprints', 'end_date',         'date',                     true,  NULL),
    ('sprints', 'completed_at',     'timestamp with time zone', false, NULL),
    ('sprints', 'created_at',       'timestamp with time zone', true,  'now()'),
    ('sprints', 'updated_at',       'timestamp with time zone', true,  'now()'),
    ('sprints', 'deleted_at',       'timestamp with time zone', false, NULL),

    ('milestones', 'tenant_id',        'uuid',                      true,  NULL),
    ('milestones', 'id',               'uuid',                      true,  'coditect.uuid_generate_v7()'),
    ('milestones', 'project_id',       'uuid',                      true,  NULL),
    ('milestones', 'title',            'character varying(255)',    true,  NULL),
    ('milestones', 'description',      'text',                      true,  ''),
    ('milestones', 'status',           'coditect.milestone_status', true,  'open'),
    ('milestones', 'due_date',         'date',                      false, NULL),
    ('milestones', 'progress_percent', 'integer',                   true,  '0'),
    ('milestones', 'completed_at',     'timestamp with time zone',  false, NULL),
    ('milestones', 'created_at',       'timestamp with time zone',  true,  'now()'),
    ('milestones', 'updated_at',       'timestamp with time zone',  true,  'now()'),
    ('milestones', 'deleted_at',       'timestamp with time zone',  false, NULL),

    ('tasks', 'tenant_id',       'uuid',                     true,  NULL),
    ('tasks', 'id',              'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('tasks', 'project_id',      'uuid',                     true,  NULL),
    ('tasks', 'number',          'integer',                  true,  NULL),
    ('tasks', 'key',             'character varying(21)',    false, NULL),
    ('tasks', 'title',           'character varying(500)',   true,  NULL),
    ('tasks', 'description',     'text',                     true,  ''),
    ('tasks', 'task_type',       'coditect.task_type',       true,  'task'),
    ('tasks', 'status',          'coditect.task_status',     true,  'backlog'),
    ('tasks', 'priority',        'coditect.task_priority',   true,  'medium'),
    ('tasks', 'assignee_id',     'uuid',                     false, NULL),
    ('tasks', 'reporter_id',     'uuid',                     false, 'coditect.current_user_id()'),
    ('tasks', 'sprint_id',       'uuid',                     false, NULL),
    ('tasks', 'milestone_id',    'uuid',                     false, NULL),
    ('tasks', 'parent_task_id',  'uuid',                     false, NULL),
    ('tasks', 'story_points',    'integer',                  false, NULL),
    ('tasks', 'due_date',        'timestamp with time zone', false, NULL),
    ('tasks', 'started_at',      'timestamp with time zone', false, NULL),
    ('tasks', 'completed_at',    'timestamp with time zone', false, NULL),
    ('tasks', 'tags',            'coditect.json_array',      true,  '[]'),
    ('tasks', 'custom_fields',   'coditect.json_object',     true,  '{}'),
    ('tasks', 'created_at',      'timestamp with time zone', true,  'now()'),
    ('tasks', 'updated_at',      'timestamp with time zone', true,  'now()'),
    ('tasks', 'deleted_at',      'timestamp with time zone', false, NULL);

SELECT has_table('coditect'::name, t, 'table coditect.' || t || ' exists')
  FROM (SELECT DISTINCT tbl AS t FROM t31.cols) s ORDER BY t;
SELECT columns_are('coditect'::name, tbl, array_agg(col ORDER BY ord), tbl || ' has exactly the specified columns')
  FROM t31.cols GROUP BY tbl ORDER BY tbl;
SELECT col_type_is('coditect'::name, tbl, col, typ, format('%s.%s is %s', tbl, col, typ))
  FROM t31.cols ORDER BY ord;
SELECT CASE WHEN not_null THEN col_not_null('coditect'::name, tbl, col, format('%s.%s is NOT NULL', tbl, col))
            ELSE col_is_null('coditect'::name, tbl, col, format('%s.%s is nullable', tbl, col)) END
  FROM t31.cols ORDER BY ord;
SELECT CASE WHEN def IS NULL THEN col_hasnt_default('coditect'::name, tbl, col, format('%s.%s has no default', tbl, col))
            ELSE col_default_is('coditect'::name, tbl, col, def, format('%s.%s defaults to %s', tbl, col, def)) END
  FROM t31.cols ORDER BY ord;

------------------------------------------------------------------------------------------------
-- Keys, foreign keys, indexes, tenant mechanisms
------------------------------------------------------------------------------------------------

SELECT col_is_pk('coditect', t, ARRAY['tenant_id', 'id'], t || ': primary key (tenant_id, id)')
  FROM unnest(ARRAY['milestones', 'sprints', 'tasks']) t;
-- (tenant_id, project_id, id) is unique: what the project-bound foreign keys reference.
SELECT ok(EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = ('coditect.' || t)::regclass AND i.indisunique AND i.indpred IS NULL
                     AND pg_get_indexdef(i.indexrelid) LIKE '%USING btree (tenant_id, project_id, id)'),
          t || ': (tenant_id, project_id, id) is unique')
  FROM unnest(ARRAY['milestones', 'sprints', 'tasks']) t;

-- Foreign keys, by their full definition.
CREATE TABLE t31.fks (tbl name, def text);
INSERT INTO t31.fks VALUES
    ('sprints',    'FOREIGN KEY (tenant_id) REFERENCES coditect.tenants(id) ON DELETE CASCADE'),
    ('milestones', 'FOREIGN KEY (tenant_id) REFERENCES coditect.tenants(id) ON DELETE CASCADE'),
    ('tasks',      'FOREIGN KEY (tenant_id) REFERENCES coditect.tenants(id) ON DELETE CASCADE'),
    ('sprints',    'FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects(tenant_id, id) ON DELETE CASCADE'),
    ('milestones', 'FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects(tenant_id, id) ON DELETE CASCADE'),
    ('tasks',      'FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects(tenant_id, id) ON DELETE CASCADE'),
    ('tasks',      'FOREIGN KEY (tenant_id, assignee_id) REFERENCES coditect.users(tenant_id, id)'),
    ('tasks',      'FOREIGN KEY (tenant_id, reporter_id) REFERENCES coditect.users(tenant_id, id)'),
    ('tasks',      'FOREIGN KEY (tenant_id, project_id, sprint_id) REFERENCES coditect.sprints(tenant_id, project_id, id)'),
    ('tasks',      'FOREIGN KEY (tenant_id, project_id, milestone_id) REFERENCES coditect.milestones(tenant_id, project_id, id)'),
    ('tasks',      'FOREIGN KEY (tenant_id, project_id, parent_task_id) REFERENCES coditect.tasks(tenant_id, project_id, id)');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = ('coditect.' || f.tbl)::regclass AND c.contype = 'f'
                     AND pg_get_constraintdef(c.oid) = f.def),
          f.tbl || ': ' || f.def)
  FROM t31.fks f;
SELECT is((SELECT count(*)::int FROM pg_constraint c WHERE c.conrelid = ('coditect.' || t)::regclass AND c.contype = 'f'),
          (SELECT count(*)::int FROM t31.fks WHERE tbl = t), t || ': no other foreign key')
  FROM unnest(ARRAY['milestones', 'sprints', 'tasks']) t;

-- Indexes by definition (each leads with tenant_id; any name, any predicate).
CREATE TABLE t31.idx (tbl name, cols text);
INSERT INTO t31.idx VALUES
    ('sprints', 'tenant_id, project_id, status'), ('sprints', 'tenant_id, start_date, end_date'),
    ('milestones', 'tenant_id, project_id, status'), ('milestones', 'tenant_id, due_date'),
    ('tasks', 'tenant_id, project_id, status, created_at DESC, id DESC'), ('tasks', 'tenant_id, assignee_id'), ('tasks', 'tenant_id, sprint_id'),
    ('tasks', 'tenant_id, due_date'), ('tasks', 'tenant_id, parent_task_id'), ('tasks', 'tenant_id, milestone_id');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = ('coditect.' || x.tbl)::regclass
                     AND (pg_get_indexdef(i.indexrelid) LIKE '% USING btree (' || x.cols || ')'
                          OR pg_get_indexdef(i.indexrelid) LIKE '% USING btree (' || x.cols || ') WHERE %')),
          format('%s: index on (%s)', x.tbl, x.cols))
  FROM t31.idx x;
SELECT is(ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                 WHERE i.indrelid = ('coditect.' || t)::regclass
                   AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'),
          '{}'::text[], t || ': every index leads with tenant_id')
  FROM unnest(ARRAY['milestones', 'sprints', 'tasks']) t;
-- The live-row uniqueness and the single active sprint are partial unique indexes.
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.sprints'::regclass AND i.indisunique
                     AND pg_get_indexdef(i.indexrelid) LIKE '% (tenant_id, project_id, name) WHERE %deleted_at IS NULL%'),
          'sprints: unique (tenant_id, project_id, name) among live rows');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.milestones'::regclass AND i.indisunique
                     AND pg_get_indexdef(i.indexrelid) LIKE '% (tenant_id, project_id, title) WHERE %deleted_at IS NULL%'),
          'milestones: unique (tenant_id, project_id, title) among live rows');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.sprints'::regclass AND i.indisunique
                     AND pg_get_indexdef(i.indexrelid) LIKE '% (tenant_id, project_id) WHERE %active%'
                     AND pg_get_indexdef(i.indexrelid) LIKE '%deleted_at IS NULL%'),
          'sprints: at most one active live sprint per project (partial unique index)');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = 'coditect.sprints'::regclass AND c.contype = 'x'
                     AND pg_get_constraintdef(c.oid) LIKE 'EXCLUDE USING gist (tenant_id WITH =, project_id WITH =, daterange(start_date, end_date%) WITH &&) WHERE %'
                     AND pg_get_constraintdef(c.oid) LIKE '%deleted_at IS NULL%'
                     AND pg_get_constraintdef(c.oid) LIKE '%cancelled%'),
          'sprints: an exclusion constraint on the live, non-cancelled date ranges of a project');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = 'coditect.milestones'::regclass AND c.contype = 'c'
                     AND pg_get_constraintdef(c.oid) LIKE '%progress_percent >= 0%'
                     AND pg_get_constraintdef(c.oid) LIKE '%progress_percent <= 100%'),
          'milestones: CHECK progress_percent between 0 and 100');

-- Tenant tables: RLS forced, registered, soft delete.
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = ('coditect.' || t)::regclass),
          t || ': row-level security enabled and forced')
  FROM unnest(ARRAY['milestones', 'sprints', 'tasks']) t;
SELECT is((SELECT soft_delete FROM coditect_internal.tenant_tables WHERE relid = ('coditect.' || t)::regclass), true,
          t || ': a registered tenant table with soft delete')
  FROM unnest(ARRAY['milestones', 'sprints', 'tasks']) t;

------------------------------------------------------------------------------------------------
-- Defaults and plain rules of a row
------------------------------------------------------------------------------------------------

WITH r AS (INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (:'ta', t31.id('p1'), 'Defaults') RETURNING *)
SELECT t31.put('t_def', id) AS _ FROM r \gset
SELECT results_eq(format($$SELECT description, task_type::text, status::text, priority::text, assignee_id, reporter_id, sprint_id,
                                  milestone_id, parent_task_id, story_points, due_date, started_at, completed_at, tags::jsonb,
                                  custom_fields::jsonb, deleted_at, created_at = now() AND updated_at = now()
                             FROM coditect.tasks WHERE id = %L$$, t31.id('t_def')),
                  $$VALUES ('', 'task', 'backlog', 'medium', NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::int,
                            NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, '[]'::jsonb, '{}'::jsonb, NULL::timestamptz, true)$$,
                  'tasks: the defaults of a new task (no reporter without a request context)');

SELECT lives_ok(format($$INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date)
                         VALUES (%L, %L, 'Defaults', '2030-01-01', '2030-01-15')$$, :'ta', t31.id('p2')),
                'sprints: a row with only tenant, project, name and dates');
SELECT results_eq($$SELECT goal, status::text, completed_at, deleted_at FROM coditect.sprints WHERE name = 'Defaults'$$,
                  $$VALUES ('', 'planned', NULL::timestamptz, NULL::timestamptz)$$, 'sprints: the defaults of a new sprint');
SELECT lives_ok(format($$INSERT INTO coditect.milestones (tenant_id, project_id, title) VALUES (%L, %L, 'Defaults')$$,
                       :'ta', t31.id('p2')),
                'milestones: a row with only tenant, project and title');
SELECT results_eq($$SELECT description, status::text, due_date, progress_percent, completed_at, deleted_at
                      FROM coditect.milestones WHERE title = 'Defaults'$$,
                  $$VALUES ('', 'open', NULL::date, 0, NULL::timestamptz, NULL::timestamptz)$$,
                  'milestones: the defaults of a new milestone (progress 0 with no tasks)');

-- Non-blank names and titles.
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (%L, %L, %L)$$, :'ta', t31.id('p1'), v),
                 '23514', NULL, format('tasks: a blank title (%s) is refused', to_json(v)))
  FROM unnest(ARRAY['', ' ', E'\t\n']) v;
SELECT throws_ok(format($$INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date)
                         VALUES (%L, %L, %L, '2031-01-01', '2031-01-15')$$, :'ta', t31.id('p2'), v),
                 '23514', NULL, format('sprints: a blank name (%s) is refused', to_json(v)))
  FROM unnest(ARRAY['', ' ', E'\t\n']) v;
SELECT throws_ok(format($$INSERT INTO coditect.milestones (tenant_id, project_id, title) VALUES (%L, %L, %L)$$, :'ta', t31.id('p2'), v),
                 '23514', NULL, format('milestones: a blank title (%s) is refused', to_json(v)))
  FROM unnest(ARRAY['', ' ', E'\t\n']) v;
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (%L, %L, %L)$$, :'ta', t31.id('p1'), repeat('x', 501)),
                 '22001', NULL, 'tasks: a title longer than 500 characters is refused');
SELECT lives_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (%L, %L, %L)$$, :'ta', t31.id('p1'), repeat('x', 500)),
                'tasks: a title of 500 characters is accepted');

-- tags: a JSON array of strings; custom_fields: a JSON object.
SELECT lives_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, tags, custom_fields)
                         VALUES (%L, %L, 'Tagged', '["a", "b c"]', '{"k": [1]}')$$, :'ta', t31.id('p1')),
                'tasks: tags of strings and an object of custom fields are accepted');
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, tags) VALUES (%L, %L, 'Bad tags', %L)$$,
                        :'ta', t31.id('p1'), v),
                 '23514', NULL, 'tasks: tags ' || v || ' are refused')
  FROM unnest(ARRAY['["a", 1]', '[null]', '[["a"]]', '{"a": "b"}', '"a"']) v;
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, custom_fields) VALUES (%L, %L, 'Bad fields', %L)$$,
                        :'ta', t31.id('p1'), v),
                 '23514', NULL, 'tasks: custom_fields ' || v || ' are refused')
  FROM unnest(ARRAY['[]', '"a"', '1']) v;

-- Story points: NULL or Fibonacci from 1 to 89.
SELECT lives_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, story_points) VALUES (%L, %L, 'SP %s', %s)$$,
                       :'ta', t31.id('p1'), v, v),
                'tasks: story_points ' || v || ' is accepted')
  FROM unnest(ARRAY[1, 2, 3, 5, 8, 13, 21, 34, 55, 89]) v;
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, story_points) VALUES (%L, %L, 'SP bad', %s)$$,
                        :'ta', t31.id('p1'), v),
                 '23514', NULL, 'tasks: story_points ' || v || ' is refused')
  FROM unnest(ARRAY[4, 0, -1, 6, 144, 7]) v;
SELECT throws_ok(format($$UPDATE coditect.tasks SET story_points = 4 WHERE id = %L$$, t31.id('t_def')),
                 '23514', NULL, 'tasks: an update to 4 story points is refused');
SELECT lives_ok(format($$UPDATE coditect.tasks SET story_points = NULL WHERE id = %L$$, t31.id('t_def')),
                'tasks: story_points may be NULL');

------------------------------------------------------------------------------------------------
-- Subtask hierarchy: at most 3 levels, no cycles, subtrees count
------------------------------------------------------------------------------------------------

SELECT t31.task('h1', 'p1') IS NOT NULL AS _ \gset
SELECT lives_ok($$SELECT t31.task('h2', 'p1', p_parent => 'h1')$$, 'hierarchy: a subtask (depth 2)');
SELECT lives_ok($$SELECT t31.task('h3', 'p1', p_parent => 'h2')$$, 'hierarchy: a subtask of a subtask (depth 3) is accepted');
SELECT throws_ok($$SELECT t31.task('h4', 'p1', p_parent => 'h3')$$, 'CD422', NULL, 'hierarchy: a depth-4 subtask is refused');
SELECT is((SELECT count(*)::int FROM coditect.tasks WHERE title = 'h4'), 0, '... and not stored');
SELECT t31.task('f1', 'p1') IS NOT NULL AS _ \gset
SELECT throws_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('h3'), t31.id('f1')),
                 'CD422', NULL, 'hierarchy: moving a task under a depth-3 task is refused');
SELECT lives_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('h2'), t31.id('f1')),
                'hierarchy: moving a task under a depth-2 task is accepted');
-- Cycles.
SELECT throws_ok(format($$UPDATE coditect.tasks SET parent_task_id = id WHERE id = %L$$, t31.id('h1')),
                 'CD422', NULL, 'hierarchy: a task cannot be its own parent');
SELECT t31.task('c1', 'p1') IS NOT NULL AS _ \gset
SELECT t31.task('c2', 'p1', p_parent => 'c1') IS NOT NULL AS _ \gset
SELECT throws_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('c2'), t31.id('c1')),
                 'CD422', NULL, 'hierarchy: a task cannot become the subtask of its subtask (indirect cycle)');
SELECT throws_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('h3'), t31.id('h1')),
                 'CD422', NULL, 'hierarchy: a task cannot become the subtask of its grandchild');
SELECT is((SELECT parent_task_id FROM coditect.tasks WHERE id = t31.id('c1')), NULL, '... and the parent is unchanged');
-- Moving a subtree counts its depth.
SELECT t31.task('d1', 'p1') IS NOT NULL AS _ \gset
SELECT t31.task('d2', 'p1', p_parent => 'd1') IS NOT NULL AS _ \gset
SELECT throws_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('h2'), t31.id('d1')),
                 'CD422', NULL, 'hierarchy: moving a task with a subtask under a depth-2 task is refused (its subtask would be at depth 4)');
SELECT lives_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('h1'), t31.id('d1')),
                'hierarchy: moving it under a root task is accepted (depth 3)');
SELECT t31.task('e1', 'p1') IS NOT NULL AS _ \gset
SELECT throws_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('e1'), t31.id('h1')),
                 'CD422', NULL, 'hierarchy: a 3-level tree cannot be put under any task');
SELECT lives_ok(format($$UPDATE coditect.tasks SET parent_task_id = NULL WHERE id = %L$$, t31.id('d1')),
                'hierarchy: a subtask can become a root task again');
SELECT lives_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('e1'), t31.id('d1')),
                '... and go under another root');

------------------------------------------------------------------------------------------------
-- State machines: every allowed and every refused transition, with the refusal's message
------------------------------------------------------------------------------------------------

CREATE TABLE t31.allowed (machine text, from_s text, to_s text);
INSERT INTO t31.allowed VALUES
    ('task', NULL, 'backlog'), ('task', NULL, 'todo'), ('task', 'backlog', 'todo'), ('task', 'todo', 'backlog'),
    ('task', 'todo', 'in_progress'), ('task', 'in_progress', 'todo'), ('task', 'in_progress', 'in_review'),
    ('task', 'in_review', 'in_progress'), ('task', 'in_review', 'done'), ('task', 'backlog', 'cancelled'),
    ('task', 'todo', 'cancelled'), ('task', 'in_progress', 'cancelled'), ('task', 'in_review', 'cancelled'),
    ('task', 'done', 'todo'), ('task', 'cancelled', 'todo'),
    ('sprint', NULL, 'planned'), ('sprint', 'planned', 'active'), ('sprint', 'planned', 'cancelled'),
    ('sprint', 'active', 'completed'), ('sprint', 'active', 'cancelled'),
    ('milestone', NULL, 'open'), ('milestone', 'open', 'in_progress'), ('milestone', 'open', 'completed'),
    ('milestone', 'in_progress', 'completed'), ('milestone', 'open', 'cancelled'), ('milestone', 'in_progress', 'cancelled'),
    ('milestone', 'completed', 'in_progress');
-- How a row reaches each state: its first status and the transitions after it.
CREATE TABLE t31.paths (machine text, state text, first text, rest text[], tbl regclass);
INSERT INTO t31.paths VALUES
    ('task', 'backlog', 'backlog', '{}', 'coditect.tasks'), ('task', 'todo', 'todo', '{}', 'coditect.tasks'),
    ('task', 'in_progress', 'todo', '{in_progress}', 'coditect.tasks'),
    ('task', 'in_review', 'todo', '{in_progress,in_review}', 'coditect.tasks'),
    ('task', 'done', 'todo', '{in_progress,in_review,done}', 'coditect.tasks'),
    ('task', 'cancelled', 'backlog', '{cancelled}', 'coditect.tasks'),
    ('sprint', 'planned', 'planned', '{}', 'coditect.sprints'), ('sprint', 'active', 'planned', '{active}', 'coditect.sprints'),
    ('sprint', 'completed', 'planned', '{active,completed}', 'coditect.sprints'),
    ('sprint', 'cancelled', 'planned', '{cancelled}', 'coditect.sprints'),
    ('milestone', 'open', 'open', '{}', 'coditect.milestones'), ('milestone', 'in_progress', 'open', '{in_progress}', 'coditect.milestones'),
    ('milestone', 'completed', 'open', '{completed}', 'coditect.milestones'),
    ('milestone', 'cancelled', 'open', '{cancelled}', 'coditect.milestones');

-- A new row of the machine's table (in a project of its own) with the given status.
CREATE FUNCTION t31.new_row(p_machine text, p_key text, p_status text) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_pid uuid;
    v uuid;
BEGIN
    INSERT INTO coditect.projects (tenant_id, name) VALUES (current_setting('tap.ta')::uuid, 'tr ' || p_key) RETURNING id INTO v_pid;
    IF p_machine = 'task' THEN
        EXECUTE format('INSERT INTO coditect.tasks (tenant_id, project_id, title, status) VALUES ($1, $2, $3, %L) RETURNING id', p_status)
           INTO v USING current_setting('tap.ta')::uuid, v_pid, p_key;
    ELSIF p_machine = 'sprint' THEN
        EXECUTE format('INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date, status)
                        VALUES ($1, $2, $3, ''2032-01-01'', ''2032-01-15'', %L) RETURNING id', p_status)
           INTO v USING current_setting('tap.ta')::uuid, v_pid, p_key;
    ELSE
        EXECUTE format('INSERT INTO coditect.milestones (tenant_id, project_id, title, status) VALUES ($1, $2, $3, %L) RETURNING id', p_status)
           INTO v USING current_setting('tap.ta')::uuid, v_pid, p_key;
    END IF;
    RETURN v;
END $$;
-- Puts a row in p_from (NULL: a new row) and tries p_to: 'ok', 'SQLSTATE: message', or 'setup: ...'.
CREATE FUNCTION t31.attempt(p_machine text, p_from text, p_to text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_key text := p_machine || ' ' || coalesce(p_from, 'new') || ' to ' || p_to;
    p t31.paths;
    v uuid;
    s text;
BEGIN
    IF p_from IS NULL THEN
        BEGIN
            PERFORM t31.new_row(p_machine, v_key, p_to);
            RETURN 'ok';
        EXCEPTION WHEN OTHERS THEN
            RETURN SQLSTATE || ': ' || SQLERRM;
        END;
    END IF;
    SELECT * INTO STRICT p FROM t31.paths WHERE machine = p_machine AND state = p_from;
    BEGIN
        v := t31.new_row(p_machine, v_key, p.first);
        FOREACH s IN ARRAY p.rest LOOP
            EXECUTE format('UPDATE %s SET status = %L WHERE id = $1', p.tbl, s) USING v;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        RETURN 'setup: ' || SQLSTATE || ': ' || SQLERRM;
    END;
    BEGIN
        EXECUTE format('UPDATE %s SET status = %L WHERE id = $1', p.tbl, p_to) USING v;
        RETURN 'ok';
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE || ': ' || SQLERRM;
    END;
END $$;

SELECT set_eq(format($$SELECT from_status, to_status FROM coditect.state_transitions WHERE machine = %L$$, m),
              format($$SELECT from_s, to_s FROM t31.allowed WHERE machine = %L$$, m),
              'state machine ' || m || ': exactly the specified transitions')
  FROM unnest(ARRAY['task', 'sprint', 'milestone']) m;

CREATE TABLE t31.cases AS
SELECT m.machine, f.state AS from_s, t.state AS to_s,
       EXISTS (SELECT 1 FROM t31.allowed a WHERE a.machine = m.machine AND a.from_s IS NOT DISTINCT FROM f.state AND a.to_s = t.state) AS ok,
       coalesce((SELECT string_agg(quote_literal(a.to_s), ', ' ORDER BY quote_literal(a.to_s) COLLATE "C") FROM t31.allowed a
                  WHERE a.machine = m.machine AND a.from_s IS NOT DISTINCT FROM f.state), 'none') AS targets
  FROM (SELECT DISTINCT machine FROM t31.paths) m
  JOIN (SELECT machine, state FROM t31.paths UNION ALL SELECT DISTINCT machine, NULL FROM t31.paths) f ON f.machine = m.machine
  JOIN t31.paths t ON t.machine = m.machine
 WHERE f.state IS DISTINCT FROM t.state;

SELECT is(t31.norm(t31.attempt(machine, from_s, to_s)),
          CASE WHEN ok THEN 'ok'
               WHEN from_s IS NULL THEN format('CD422: %s: cannot start in %L (a new row starts in: %s)', machine, to_s, targets)
               ELSE format('CD422: %s: cannot go from %L to %L (from %L: %s)', machine, from_s, to_s, from_s, targets) END,
          format('%s: %s -> %s is %s', machine, coalesce(from_s, '(new)'), to_s, CASE WHEN ok THEN 'allowed' ELSE 'refused (CD422 naming the allowed targets)' END))
  FROM t31.cases
 ORDER BY machine, ok DESC, from_s NULLS FIRST, to_s;

-- Stamps: started_at on todo -> in_progress, completed_at on in_review -> done, cleared on reopen.
SELECT t31.task('st', 'p1', 'todo') IS NOT NULL AS _ \gset
SELECT is((SELECT started_at FROM coditect.tasks WHERE id = t31.id('st')), NULL, 'task: a new task has no started_at');
SELECT t31.walk('coditect.tasks', 'st', 'in_progress') AS _ \gset
SELECT is((SELECT started_at FROM coditect.tasks WHERE id = t31.id('st')), now(), 'task: todo -> in_progress stamps started_at');
SELECT is((SELECT completed_at FROM coditect.tasks WHERE id = t31.id('st')), NULL, '... and not completed_at');
SELECT t31.walk('coditect.tasks', 'st', 'in_review') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.tasks WHERE id = t31.id('st')), NULL, 'task: in review, not completed');
SELECT t31.walk('coditect.tasks', 'st', 'done') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.tasks WHERE id = t31.id('st')), now(), 'task: in_review -> done stamps completed_at');
SELECT t31.walk('coditect.tasks', 'st', 'todo') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.tasks WHERE id = t31.id('st')), NULL, 'task: reopening a done task (done -> todo) clears completed_at');
SELECT t31.walk('coditect.tasks', 'st', 'in_progress', 'in_review', 'done') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.tasks WHERE id = t31.id('st')), now(), 'task: done again, stamped again');
-- A completed_at forged on a cancelled task is cleared when it is reopened.
SELECT t31.task('st2', 'p1', 'backlog') IS NOT NULL AS _ \gset
SELECT t31.walk('coditect.tasks', 'st2', 'cancelled') AS _ \gset
UPDATE coditect.tasks SET completed_at = '2020-01-01' WHERE id = t31.id('st2');
SELECT t31.walk('coditect.tasks', 'st2', 'todo') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.tasks WHERE id = t31.id('st2')), NULL, 'task: reopening a cancelled task (cancelled -> todo) clears completed_at');
SELECT is((SELECT status::text FROM coditect.tasks WHERE id = t31.id('st2')), 'todo', '... and it is in todo');

WITH s AS (INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date)
           VALUES (:'ta', t31.id('p2'), 'Stamped', '2033-01-01', '2033-01-15') RETURNING id)
SELECT t31.put('s_stamp', id) AS _ FROM s \gset
SELECT t31.walk('coditect.sprints', 's_stamp', 'active') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.sprints WHERE id = t31.id('s_stamp')), NULL, 'sprint: an active sprint has no completed_at');
SELECT t31.walk('coditect.sprints', 's_stamp', 'completed') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.sprints WHERE id = t31.id('s_stamp')), now(), 'sprint: active -> completed stamps completed_at');
WITH m AS (INSERT INTO coditect.milestones (tenant_id, project_id, title) VALUES (:'ta', t31.id('p2'), 'Stamped 1'), (:'ta', t31.id('p2'), 'Stamped 2')
           RETURNING id, title)
SELECT count(t31.put(title, id)) AS _ FROM m \gset
SELECT t31.walk('coditect.milestones', 'Stamped 1', 'completed') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.milestones WHERE id = t31.id('Stamped 1')), now(), 'milestone: open -> completed stamps completed_at');
SELECT t31.walk('coditect.milestones', 'Stamped 2', 'in_progress') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.milestones WHERE id = t31.id('Stamped 2')), NULL, 'milestone: in progress, not completed');
SELECT t31.walk('coditect.milestones', 'Stamped 2', 'completed') AS _ \gset
SELECT is((SELECT completed_at FROM coditect.milestones WHERE id = t31.id('Stamped 2')), now(), 'milestone: in_progress -> completed stamps completed_at');

------------------------------------------------------------------------------------------------
-- Sprints: dates, overlaps, one active sprint, unique live names
------------------------------------------------------------------------------------------------

CREATE FUNCTION t31.sprint(p_key text, p_project text, p_start date, p_end date, p_name text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v uuid;
BEGIN
    INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date)
    SELECT p.tenant_id, p.id, coalesce(p_name, p_key), p_start, p_end FROM coditect.projects p WHERE p.id = t31.id(p_project)
    RETURNING id INTO STRICT v;
    RETURN t31.put(p_key, v);
END $$;

SELECT throws_ok($$SELECT t31.sprint('s_eq', 'p1', '2026-01-01', '2026-01-01')$$, '23514', NULL,
                 'sprints: end_date equal to start_date is refused');
SELECT throws_ok($$SELECT t31.sprint('s_neg', 'p1', '2026-01-10', '2026-01-01')$$, '23514', NULL,
                 'sprints: end_date before start_date is refused');
SELECT lives_ok($$SELECT t31.sprint('s1', 'p1', '2026-01-01', '2026-01-15')$$, 'sprints: a two-week sprint');
SELECT throws_ok($$SELECT t31.sprint('s_over', 'p1', '2026-01-10', '2026-01-20')$$, '23P01', NULL,
                 'sprints: an overlapping sprint of the same project is refused');
SELECT throws_ok($$SELECT t31.sprint('s_in', 'p1', '2026-01-05', '2026-01-06')$$, '23P01', NULL,
                 'sprints: a sprint inside another is refused');
SELECT throws_ok($$SELECT t31.sprint('s_around', 'p1', '2025-12-01', '2026-02-01')$$, '23P01', NULL,
                 'sprints: a sprint around another is refused');
SELECT throws_ok($$SELECT t31.sprint('s_lastday', 'p1', '2026-01-14', '2026-01-20')$$, '23P01', NULL,
                 'sprints: a sprint starting on the last day of another is refused');
SELECT lives_ok($$SELECT t31.sprint('s2', 'p1', '2026-01-15', '2026-01-29')$$,
                'sprints: an adjacent sprint (starting the day the previous ends) is accepted');
SELECT lives_ok($$SELECT t31.sprint('s0', 'p1', '2025-12-18', '2026-01-01')$$,
                'sprints: an adjacent sprint before (ending the day the next starts) is accepted');
SELECT lives_ok($$SELECT t31.sprint('s_p2', 'p2', '2026-01-10', '2026-01-20')$$,
                'sprints: overlapping sprints of different projects are accepted');
SELECT throws_ok(format($$UPDATE coditect.sprints SET end_date = '2026-01-16' WHERE id = %L$$, t31.id('s1')), '23P01', NULL,
                 'sprints: moving a sprint''s end into the next one is refused');
SELECT throws_ok(format($$UPDATE coditect.sprints SET end_date = start_date WHERE id = %L$$, t31.id('s1')), '23514', NULL,
                 'sprints: an update to end_date = start_date is refused');
-- A cancelled or deleted sprint does not block.
SELECT lives_ok($$SELECT t31.sprint('s_cancel', 'p1', '2026-03-01', '2026-03-15')$$, 'sprints: a March sprint');
SELECT t31.walk('coditect.sprints', 's_cancel', 'cancelled') AS _ \gset
SELECT lives_ok($$SELECT t31.sprint('s_after_cancel', 'p1', '2026-03-01', '2026-03-15')$$,
                'sprints: a cancelled sprint does not block the same dates');
SELECT lives_ok($$SELECT t31.sprint('s_del', 'p1', '2026-04-01', '2026-04-15')$$, 'sprints: an April sprint');
SELECT lives_ok(format($$DELETE FROM coditect.sprints WHERE id = %L$$, t31.id('s_del')), 'sprints: ... deleted');
SELECT isnt((SELECT deleted_at FROM coditect.sprints WHERE id = t31.id('s_del')), NULL, 'sprints: DELETE is a soft delete');
SELECT lives_ok($$SELECT t31.sprint('s_after_del', 'p1', '2026-04-01', '2026-04-15')$$,
                'sprints: a soft-deleted sprint does not block the same dates');
SELECT throws_ok(format($$SELECT coditect.restore_row('coditect.sprints', %L)$$, t31.id('s_del')), '23P01', NULL,
                 'sprints: restoring the deleted sprint over the live one is refused');

-- At most one active live sprint per project.
SELECT lives_ok($$SELECT t31.walk('coditect.sprints', 's1', 'active')$$, 'sprints: planned -> active');
SELECT throws_ok($$SELECT t31.walk('coditect.sprints', 's2', 'active')$$, '23505', NULL,
                 'sprints: a second active sprint in the project is refused');
SELECT lives_ok($$SELECT t31.walk('coditect.sprints', 's_p2', 'active')$$, 'sprints: an active sprint in another project is accepted');
SELECT lives_ok($$SELECT t31.walk('coditect.sprints', 's1', 'completed')$$, 'sprints: active -> completed');
SELECT lives_ok($$SELECT t31.walk('coditect.sprints', 's2', 'active')$$, 'sprints: after it, the next sprint can be active');
SELECT lives_ok(format($$DELETE FROM coditect.sprints WHERE id = %L$$, t31.id('s2')), 'sprints: the active sprint is deleted');
SELECT lives_ok($$SELECT t31.walk('coditect.sprints', 's_after_cancel', 'active')$$,
                'sprints: a soft-deleted active sprint does not block another active one');

-- Unique names among live rows.
SELECT throws_ok($$SELECT t31.sprint('s_dup', 'p1', '2026-06-01', '2026-06-15', 's0')$$, '23505', NULL,
                 'sprints: a second live sprint with the same name in the project is refused');
SELECT lives_ok($$SELECT t31.sprint('s_dup_p2', 'p2', '2026-06-01', '2026-06-15', 's0')$$,
                'sprints: the same name in another project is accepted');
SELECT lives_ok($$SELECT t31.sprint('s_dup2', 'p1', '2026-06-01', '2026-06-15', 's_del')$$,
                'sprints: the name of a soft-deleted sprint can be used again');

------------------------------------------------------------------------------------------------
-- Milestones: unique live titles
------------------------------------------------------------------------------------------------

CREATE FUNCTION t31.milestone(p_key text, p_project text, p_title text DEFAULT NULL) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v uuid;
BEGIN
    INSERT INTO coditect.milestones (tenant_id, project_id, title)
    SELECT p.tenant_id, p.id, coalesce(p_title, p_key) FROM coditect.projects p WHERE p.id = t31.id(p_project)
    RETURNING id INTO STRICT v;
    RETURN t31.put(p_key, v);
END $$;
SELECT lives_ok($$SELECT t31.milestone('m_u', 'p1', 'Beta')$$, 'milestones: Beta');
SELECT throws_ok($$SELECT t31.milestone('m_u2', 'p1', 'Beta')$$, '23505', NULL,
                 'milestones: a second live milestone titled Beta in the project is refused');
SELECT lives_ok($$SELECT t31.milestone('m_u3', 'p2', 'Beta')$$, 'milestones: the same title in another project is accepted');
SELECT lives_ok(format($$DELETE FROM coditect.milestones WHERE id = %L$$, t31.id('m_u')), 'milestones: Beta deleted');
SELECT isnt((SELECT deleted_at FROM coditect.milestones WHERE id = t31.id('m_u')), NULL, 'milestones: DELETE is a soft delete');
SELECT lives_ok($$SELECT t31.milestone('m_u4', 'p1', 'Beta')$$, 'milestones: a soft-deleted milestone''s title can be used again');
SELECT throws_ok(format($$SELECT coditect.restore_row('coditect.milestones', %L)$$, t31.id('m_u')), '23505', NULL,
                 'milestones: restoring the old Beta next to the live one is refused');

------------------------------------------------------------------------------------------------
-- Cross-project and cross-tenant references
------------------------------------------------------------------------------------------------

SELECT t31.sprint('xs_p1', 'p1', '2027-01-01', '2027-01-15') IS NOT NULL AS _ \gset
SELECT t31.sprint('xs_p2', 'p2', '2027-01-01', '2027-01-15') IS NOT NULL AS _ \gset
SELECT t31.sprint('xs_b', 'pb', '2027-01-01', '2027-01-15') IS NOT NULL AS _ \gset
SELECT t31.milestone('xm_p1', 'p1') IS NOT NULL AS _ \gset
SELECT t31.milestone('xm_p2', 'p2') IS NOT NULL AS _ \gset
SELECT t31.milestone('xm_b', 'pb') IS NOT NULL AS _ \gset
SELECT t31.task('xt_p2', 'p2') IS NOT NULL AS _ \gset
SELECT t31.task('xt_b', 'pb') IS NOT NULL AS _ \gset
SELECT t31.task('xt_c', 'pcx') IS NOT NULL AS _ \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'tb', 'someone@t31-b.test') RETURNING id AS user_b \gset

SELECT lives_ok($$SELECT t31.task('x_ok', 'p1', 'todo', NULL, 'xm_p1', 'xs_p1')$$,
                'tasks: a sprint and a milestone of the task''s project are accepted');
SELECT throws_ok($$SELECT t31.task('x1', 'p1', p_sprint => 'xs_p2')$$, '23503', NULL, 'tasks: a sprint of another project is refused');
SELECT throws_ok($$SELECT t31.task('x2', 'p1', p_milestone => 'xm_p2')$$, '23503', NULL, 'tasks: a milestone of another project is refused');
SELECT throws_ok($$SELECT t31.task('x3', 'p1', p_parent => 'xt_p2')$$, '23503', NULL, 'tasks: a parent of another project is refused');
SELECT throws_ok($$SELECT t31.task('x4', 'p1', p_sprint => 'xs_b')$$, '23503', NULL, 'tasks: a sprint of another tenant is refused');
SELECT throws_ok($$SELECT t31.task('x5', 'p1', p_milestone => 'xm_b')$$, '23503', NULL, 'tasks: a milestone of another tenant is refused');
SELECT throws_ok($$SELECT t31.task('x6', 'p1', p_parent => 'xt_b')$$, '23503', NULL, 'tasks: a parent of another tenant is refused');
SELECT throws_ok(format($$UPDATE coditect.tasks SET sprint_id = %L WHERE id = %L$$, t31.id('xs_p2'), t31.id('x_ok')), '23503', NULL,
                 'tasks: moving a task to a sprint of another project is refused');
SELECT throws_ok(format($$UPDATE coditect.tasks SET milestone_id = %L WHERE id = %L$$, t31.id('xm_p2'), t31.id('x_ok')), '23503', NULL,
                 'tasks: moving a task to a milestone of another project is refused');
SELECT throws_ok(format($$UPDATE coditect.tasks SET project_id = %L WHERE id = %L$$, t31.id('p2'), t31.id('x_ok')), 'CD422', NULL,
                 'tasks: moving a task to another project is refused (it keeps its project, number and key)');
SELECT throws_ok(format($$UPDATE coditect.tasks SET parent_task_id = %L WHERE id = %L$$, t31.id('xt_p2'), t31.id('x_ok')), '23503', NULL,
                 'tasks: moving a task under a task of another project is refused');
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (%L, %L, 'x7')$$, :'ta', t31.id('pb')),
                 '23503', NULL, 'tasks: a project of another tenant is refused');
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, assignee_id) VALUES (%L, %L, 'x8', %L)$$,
                        :'ta', t31.id('p1'), :'user_b'), '23503', NULL, 'tasks: an assignee of another tenant is refused');
SELECT throws_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, reporter_id) VALUES (%L, %L, 'x9', %L)$$,
                        :'ta', t31.id('p1'), :'user_b'), '23503', NULL, 'tasks: a reporter of another tenant is refused');
SELECT throws_ok(format($$UPDATE coditect.tasks SET assignee_id = %L WHERE id = %L$$, :'owner_b', t31.id('x_ok')), '23503', NULL,
                 'tasks: assigning a task to another tenant''s owner is refused');
SELECT lives_ok(format($$UPDATE coditect.tasks SET assignee_id = %L WHERE id = %L$$, t31.id('member_a'), t31.id('x_ok')),
                'tasks: an assignee of the task''s tenant is accepted');
SELECT throws_ok(format($$INSERT INTO coditect.sprints (tenant_id, project_id, name, start_date, end_date) VALUES (%L, %L, 'x', '2027-01-01', '2027-01-02')$$,
                        :'ta', t31.id('pb')), '23503', NULL, 'sprints: a project of another tenant is refused');
SELECT throws_ok(format($$INSERT INTO coditect.milestones (tenant_id, project_id, title) VALUES (%L, %L, 'x')$$, :'ta', t31.id('pb')),
                 '23503', NULL, 'milestones: a project of another tenant is refused');

-- ON DELETE behaviour: a removed user, sprint, milestone or parent leaves the task, without it.
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'leaving@t31-a.test') RETURNING id AS leaving \gset
SELECT lives_ok(format($$INSERT INTO coditect.tasks (tenant_id, project_id, title, assignee_id, reporter_id) VALUES (%L, %L, 'Orphan', %L, %L)$$,
                       :'ta', t31.id('p1'), :'leaving', :'leaving'), 'tasks: a task assigned to and reported by a user');
SELECT lives_ok(format($$DELETE FROM coditect.users WHERE id = %L$$, :'leaving'), 'the user is deleted');
SELECT results_eq($$SELECT assignee_id, reporter_id, project_id FROM coditect.tasks WHERE title = 'Orphan'$$,
                  format($$VALUES (NULL::uuid, NULL::uuid, %L::uuid)$$, t31.id('p1')),
                  'tasks: a deleted user''s tasks lose their assignee and reporter, and keep their project');

SELECT t31.sprint('od_s', 'p1', '2028-01-01', '2028-01-15') IS NOT NULL AS _ \gset
SELECT t31.milestone('od_m', 'p1') IS NOT NULL AS _ \gset
SELECT t31.task('od_parent', 'p1') IS NOT NULL AS _ \gset
SELECT t31.task('od_child', 'p1', 'todo', 'od_parent', 'od_m', 'od_s') IS NOT NULL AS _ \gset
DELETE FROM coditect.sprints WHERE id = t31.id('od_s');
DELETE FROM coditect.milestones WHERE id = t31.id('od_m');
SELECT lives_ok($$SELECT coditect.purge_deleted('coditect.sprints', '0 seconds'), coditect.purge_deleted('coditect.milestones', '0 seconds')$$,
                'the deleted sprint and milestone are purged');
SELECT results_eq(format($$SELECT sprint_id, milestone_id, project_id FROM coditect.tasks WHERE id = %L$$, t31.id('od_child')),
                  format($$VALUES (NULL::uuid, NULL::uuid, %L::uuid)$$, t31.id('p1')),
                  'tasks: a purged sprint and milestone are unset on their tasks, which keep their project');
SELECT lives_ok(format($$SELECT coditect_internal.allow_hard_delete(true); DELETE FROM coditect.tasks WHERE id = %L;
                         SELECT coditect_internal.allow_hard_delete(false)$$, t31.id('od_parent')),
                'the parent task is removed for good');
SELECT results_eq(format($$SELECT parent_task_id, project_id FROM coditect.tasks WHERE id = %L$$, t31.id('od_child')),
                  format($$VALUES (NULL::uuid, %L::uuid)$$, t31.id('p1')),
                  'tasks: a removed parent is unset on its subtasks, which keep their project');

-- A purged project takes its sprints, milestones and tasks with it.
SELECT t31.sprint('pc_s', 'pc', '2028-01-01', '2028-01-15') IS NOT NULL AS _ \gset
SELECT t31.milestone('pc_m', 'pc') IS NOT NULL AS _ \gset
SELECT t31.task('pc_t1', 'pc', 'todo', NULL, 'pc_m', 'pc_s') IS NOT NULL AS _ \gset
SELECT t31.task('pc_t2', 'pc', 'todo', 'pc_t1', 'pc_m', 'pc_s') IS NOT NULL AS _ \gset
DELETE FROM coditect.projects WHERE id = t31.id('pc');
SELECT lives_ok($$SELECT coditect.purge_deleted('coditect.projects', '0 seconds')$$, 'a deleted project with tasks is purged');
SELECT is((SELECT count(*)::int FROM coditect.tasks WHERE project_id = t31.id('pc')), 0, 'its tasks are gone');
SELECT is((SELECT count(*)::int FROM coditect.sprints WHERE project_id = t31.id('pc')), 0, 'its sprints are gone');
SELECT is((SELECT count(*)::int FROM coditect.milestones WHERE project_id = t31.id('pc')), 0, 'its milestones are gone');

------------------------------------------------------------------------------------------------
-- Milestone progress after each kind of task change
------------------------------------------------------------------------------------------------

SELECT t31.milestone('M1', 'pp') IS NOT NULL AS _ \gset
SELECT t31.milestone('M2', 'pp') IS NOT NULL AS _ \gset
SELECT is(t31.progress('M1'), 0, 'progress: 0 with no tasks');
SELECT t31.task('g1', 'pp', 'todo', p_milestone => 'M1') IS NOT NULL AS _ \gset
SELECT is(t31.progress('M1'), 0, 'progress: insert of an open task: 0/1 = 0');
SELECT t31.walk('coditect.tasks', 'g1', 'in_progress', 'in_review') AS _ \gset
SELECT is(t31.progress('M1'), 0, 'progress: in review is not done');
SELECT t31.walk('coditect.tasks', 'g1', 'done') AS _ \gset
SELECT is(t31.progress('M1'), 100, 'progress: status change to done: 1/1 = 100');
SELECT t31.task('g2', 'pp', 'backlog', p_milestone => 'M1') IS NOT NULL AS _ \gset
SELECT is(t31.progress('M1'), 50, 'progress: insert of a second task: 1/2 = 50');
SELECT t31.task('g3', 'pp', 'todo', p_milestone => 'M1') IS NOT NULL AS _ \gset
SELECT is(t31.progress('M1'), 33, 'progress: a third: 1/3 = 33');
SELECT t31.walk('coditect.tasks', 'g3', 'in_progress', 'in_review', 'done') AS _ \gset
SELECT is(t31.progress('M1'), 67, 'progress: 2/3 rounds to 67');
SELECT t31.walk('coditect.tasks', 'g2', 'cancelled') AS _ \gset
SELECT is(t31.progress('M1'), 100, 'progress: cancel: a cancelled task does not count (2/2)');
SELECT t31.walk('coditect.tasks', 'g3', 'todo') AS _ \gset
SELECT is(t31.progress('M1'), 50, 'progress: reopening a done task (1/2)');
SELECT t31.walk('coditect.tasks', 'g2', 'todo') AS _ \gset
SELECT is(t31.progress('M1'), 33, 'progress: reopening a cancelled task (1/3)');
UPDATE coditect.tasks SET milestone_id = t31.id('M2') WHERE id = t31.id('g3');
SELECT is(t31.progress('M1'), 50, 'progress: moving a task to another milestone updates the old one (1/2)');
SELECT is(t31.progress('M2'), 0, '... and the new one (0/1)');
UPDATE coditect.tasks SET milestone_id = t31.id('M2') WHERE id = t31.id('g1');
SELECT is(t31.progress('M1'), 0, 'progress: moving the done task away (0/1)');
SELECT is(t31.progress('M2'), 50, '... to the other milestone (1/2)');
UPDATE coditect.tasks SET milestone_id = NULL WHERE id = t31.id('g1');
SELECT is(t31.progress('M2'), 0, 'progress: taking a task out of its milestone (0/1)');
UPDATE coditect.tasks SET milestone_id = t31.id('M1') WHERE id = t31.id('g1');
SELECT is(t31.progress('M1'), 50, 'progress: putting a task into a milestone (1/2)');
DELETE FROM coditect.tasks WHERE id = t31.id('g1');
SELECT isnt((SELECT deleted_at FROM coditect.tasks WHERE id = t31.id('g1')), NULL, 'the done task is soft-deleted');
SELECT is(t31.progress('M1'), 0, 'progress: soft delete: a deleted task does not count (0/1)');
SELECT lives_ok(format($$SELECT coditect.restore_row('coditect.tasks', %L)$$, t31.id('g1')), 'the done task is restored');
SELECT is(t31.progress('M1'), 50, 'progress: restore: it counts again (1/2)');
SELECT t31.walk('coditect.tasks', 'g2', 'cancelled') AS _ \gset
SELECT is(t31.progress('M1'), 100, 'progress: 1/1 after a cancel');
SELECT t31.walk('coditect.tasks', 'g1', 'todo') AS _ \gset
SELECT is(t31.progress('M1'), 0, 'progress: 0/1');
SELECT t31.walk('coditect.tasks', 'g1', 'cancelled') AS _ \gset
SELECT is(t31.progress('M1'), 0, 'progress: every task cancelled: 0');
SELECT t31.walk('coditect.tasks', 'g1', 'todo', 'in_progress', 'in_review', 'done') AS _ \gset
SELECT t31.task('g4', 'pp', 'todo', p_milestone => 'M1') IS NOT NULL AS _ \gset
SELECT is(t31.progress('M1'), 50, 'progress: 1/2 before a hard delete');
SELECT lives_ok(format($$SELECT coditect_internal.allow_hard_delete(true); DELETE FROM coditect.tasks WHERE id = %L;
                         SELECT coditect_internal.allow_hard_delete(false)$$, t31.id('g4')),
                'a live open task is removed for good');
SELECT is(t31.progress('M1'), 100, 'progress: hard delete of a live task (1/1)');
SELECT t31.task('g5', 'pp', 'todo', p_milestone => 'M1') IS NOT NULL AS _ \gset
SELECT is(t31.progress('M1'), 50, 'progress: 1/2 before a soft delete and purge');
DELETE FROM coditect.tasks WHERE id = t31.id('g5');
SELECT is(t31.progress('M1'), 100, 'progress: soft delete (1/1)');
SELECT lives_ok($$SELECT coditect.purge_deleted('coditect.tasks', '0 seconds')$$, 'deleted tasks are purged');
SELECT is((SELECT count(*)::int FROM coditect.tasks WHERE id = t31.id('g5')), 0, 'the soft-deleted task is gone');
SELECT is(t31.progress('M1'), 100, 'progress: hard purge of a soft-deleted task leaves it as it was (1/1)');
SELECT t31.task('g6', 'pp', 'todo', p_milestone => 'M1') IS NOT NULL AS _ \gset
SELECT t31.task('g7', 'pp', 'todo', p_milestone => 'M1') IS NOT NULL AS _ \gset
SELECT is(t31.progress('M1'), 33, 'progress: several inserts (1/3)');
UPDATE coditect.tasks SET status = 'cancelled' WHERE id IN (t31.id('g6'), t31.id('g7'));
SELECT is(t31.progress('M1'), 100, 'progress: one statement changing several tasks (1/1)');
SELECT is(t31.progress('M2'), 0, 'progress: the other milestone is untouched (0/1)');

------------------------------------------------------------------------------------------------
-- A bound analyst sees only its tenant's rows
------------------------------------------------------------------------------------------------

CREATE ROLE tap31_analyst LOGIN;
SELECT coditect.bind_analyst('tap31_analyst', :'ta') IS NOT NULL AS _ \gset
SELECT count(*) FILTER (WHERE tenant_id = :'ta') AS a_tasks, count(*) FILTER (WHERE tenant_id = :'tb') AS b_tasks FROM coditect.tasks \gset
SET SESSION AUTHORIZATION tap31_analyst;
SELECT count(*) AS an_tasks, count(*) FILTER (WHERE tenant_id <> :'ta') AS an_foreign_tasks,
       (SELECT count(*) FROM coditect.sprints WHERE tenant_id <> :'ta') AS an_foreign_sprints,
       (SELECT count(*) FROM coditect.milestones WHERE tenant_id <> :'ta') AS an_foreign_milestones,
       (SELECT count(*) FROM coditect.sprints) AS an_sprints
  FROM coditect.tasks \gset
RESET SESSION AUTHORIZATION;
SELECT cmp_ok(:b_tasks::int, '>', 0, 'tenant B has tasks');
SELECT is(:an_tasks::int, :a_tasks::int, 'the analyst bound to A sees every task of A');
SELECT is(:an_foreign_tasks::int, 0, '... and no task of another tenant');
SELECT is(:an_foreign_sprints::int, 0, '... no sprint of another tenant');
SELECT cmp_ok(:an_sprints::int, '>', 0, '... but A''s sprints');
SELECT is(:an_foreign_milestones::int, 0, '... and no milestone of another tenant');
SELECT ok(NOT has_table_privilege('coditect_analyst', 'coditect.' || t, p), format('an analyst has no %s on %s', p, t))
  FROM unnest(ARRAY['milestones', 'sprints', 'tasks']) t, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p;

-- Tenant removal takes the tenant's sprints, milestones and tasks.
SELECT lives_ok(format('SELECT coditect.purge_tenant(%L)', :'tb'), 'purge_tenant(B)');
SELECT is((SELECT count(*)::int FROM coditect.tasks WHERE tenant_id = :'tb')
          + (SELECT count(*)::int FROM coditect.sprints WHERE tenant_id = :'tb')
          + (SELECT count(*)::int FROM coditect.milestones WHERE tenant_id = :'tb'), 0,
          'purge_tenant: B''s tasks, sprints and milestones are gone');
SELECT cmp_ok((SELECT count(*)::int FROM coditect.tasks WHERE tenant_id = :'ta'), '>', 0, '... and A''s are still there');

------------------------------------------------------------------------------------------------
-- The reporter of a task made in a request context; privileges on progress_percent
------------------------------------------------------------------------------------------------

-- (A request context lasts until the transaction ends: from here on, every row has A's context.)
SELECT lives_ok(format($$SELECT coditect.set_request_context(%L, %L, 'member');
                         INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (%L, %L, 'Reported')$$,
                       :'ta', t31.id('member_a'), :'ta', t31.id('p1')), 'tasks: an insert in a request context');
SELECT is((SELECT reporter_id FROM coditect.tasks WHERE title = 'Reported'), t31.id('member_a'),
          'tasks: reporter_id defaults to the current user');
SELECT is((SELECT status::text FROM coditect.tasks WHERE title = 'Reported'), 'backlog', 'tasks: status defaults to backlog');

-- progress_percent is not writable by clients.
CREATE ROLE tap31_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap31_service LOGIN IN ROLE coditect_service;
SELECT ok(NOT has_column_privilege(r, 'coditect.milestones', 'progress_percent', 'UPDATE'),
          format('%s has no UPDATE privilege on milestones.progress_percent', r))
  FROM unnest(ARRAY['coditect_gateway', 'coditect_service']) r;
SELECT ok('progress_percent' = ANY (coditect_internal.protected_insert_columns('coditect.milestones')),
          'milestones.progress_percent is the database''s on insert (protect_insert_columns)');
SELECT ok(has_column_privilege(r, 'coditect.milestones', 'progress_percent', 'SELECT'),
          r || ' reads milestones.progress_percent')
  FROM unnest(ARRAY['coditect_gateway', 'coditect_service']) r;
SET ROLE tap31_gateway;
SELECT alike(pg_temp.as_user('owner', 'owner', format($$UPDATE coditect.milestones SET progress_percent = 90 WHERE id = %L RETURNING 'done'$$, t31.id('M2'))),
             '42501:%', 'the gateway cannot UPDATE progress_percent (42501)');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$INSERT INTO coditect.milestones (tenant_id, project_id, title, progress_percent) VALUES (%L, %L, 'Forged', 90) RETURNING 'done'$$,
                                                     current_setting('tap.ta'), t31.id('pp'))),
             '42501: permission denied for column "progress_percent" of table coditect.milestones', 'the gateway cannot INSERT progress_percent (42501)');
SELECT is(pg_temp.as_user('owner', 'owner', format($$UPDATE coditect.milestones SET description = 'by the gateway' WHERE id = %L RETURNING 'done'$$, t31.id('M2'))),
          'done', 'the gateway updates the milestone''s other columns');
RESET ROLE;
SET ROLE tap31_service;
SELECT alike(pg_temp.as_user('owner', 'owner', format($$UPDATE coditect.milestones SET progress_percent = 90 WHERE id = %L RETURNING 'done'$$, t31.id('M2'))),
             '42501:%', 'a service cannot UPDATE progress_percent (42501)');
RESET ROLE;
SELECT is(t31.progress('M2'), 0, 'progress_percent is unchanged');

------------------------------------------------------------------------------------------------
-- Catalog and generated API functions (as a gateway login)
------------------------------------------------------------------------------------------------

SELECT results_eq($$SELECT name::text, plural::text, path::text, parent::text, relid::text, roles FROM coditect_internal.resources
                     WHERE name IN ('task', 'sprint', 'milestone') ORDER BY name$$,
                  $$VALUES ('milestone'::text, 'milestones'::text, '/api/v1/milestones/'::text, NULL::text, 'coditect.milestones'::text,
                            '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin", "restore": "admin"}'::jsonb),
                           ('sprint', 'sprints', '/api/v1/sprints/', NULL, 'coditect.sprints',
                            '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin", "restore": "admin"}'::jsonb),
                           ('task', 'tasks', '/api/v1/tasks/', NULL, 'coditect.tasks',
                            '{"view": "guest", "create": "member", "update": "member", "delete": "admin", "restore": "admin"}'::jsonb)$$,
                  'catalog: task, sprint and milestone are top-level resources with the specified paths and roles');
SELECT set_eq(format($$SELECT column_name::text FROM coditect_internal.resource_columns WHERE resource = %L AND on_create$$, r),
              c, 'catalog: ' || r || ' create fields')
  FROM (VALUES ('task', ARRAY['project_id', 'title', 'description', 'task_type', 'status', 'priority', 'assignee_id', 'sprint_id',
                              'milestone_id', 'parent_task_id', 'story_points', 'due_date', 'tags', 'custom_fields']),
               ('sprint', ARRAY['project_id', 'name', 'goal', 'start_date', 'end_date']),
               ('milestone', ARRAY['project_id', 'title', 'description', 'due_date'])) v(r, c);
SELECT set_eq(format($$SELECT column_name::text FROM coditect_internal.resource_columns WHERE resource = %L AND on_update$$, r),
              c, 'catalog: ' || r || ' update fields')
  FROM (VALUES ('task', ARRAY['title', 'description', 'task_type', 'status', 'priority', 'assignee_id', 'sprint_id',
                              'milestone_id', 'parent_task_id', 'story_points', 'due_date', 'tags', 'custom_fields']),
               ('sprint', ARRAY['name', 'goal', 'status', 'start_date', 'end_date']),
               ('milestone', ARRAY['title', 'description', 'status', 'due_date'])) v(r, c);
SELECT set_eq($$SELECT column_name::text, (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(filter_ops) o)
                  FROM coditect_internal.resource_columns WHERE resource = 'task' AND cardinality(filter_ops) > 0$$,
              $$VALUES ('project_id', 'exact'), ('key', 'exact,in'), ('status', 'exact,in'), ('priority', 'exact,in'), ('task_type', 'exact,in'),
                       ('assignee_id', 'exact,isnull'), ('sprint_id', 'exact,isnull'), ('milestone_id', 'exact,isnull'),
                       ('parent_task_id', 'exact,isnull'), ('due_date', 'gte,isnull,lt'), ('tags', 'contains'),
                       ('created_at', 'gte,lt')$$,
              'catalog: task filters');
SELECT set_eq(format($$SELECT column_name::text FROM coditect_internal.resource_columns WHERE resource = %L AND cardinality(filter_ops) > 0$$, r),
              c, 'catalog: ' || r || ' filters')
  FROM (VALUES ('sprint', ARRAY['project_id', 'status', 'start_date', 'created_at']),
               ('milestone', ARRAY['project_id', 'status', 'due_date', 'created_at'])) v(r, c);
SELECT ok((SELECT 'exact' = ANY (filter_ops) FROM coditect_internal.resource_columns WHERE resource = r AND column_name = c),
          format('catalog: %s.%s is an exact filter', r, c))
  FROM unnest(ARRAY['sprint', 'milestone']) r, unnest(ARRAY['project_id', 'status']) c;
SELECT set_eq($$SELECT unnest(orderings) FROM coditect_internal.resources WHERE name = 'task'$$,
              ARRAY['created_at', 'updated_at', 'priority', 'status', 'title', 'number'], 'catalog: task orderings');
SELECT set_eq($$SELECT unnest(search) FROM coditect_internal.resources WHERE name = 'task'$$,
              ARRAY['title', 'description'], 'catalog: task search');
SELECT set_eq(format($$SELECT rp.role::text FROM coditect.role_permissions rp JOIN coditect.permissions p ON p.id = rp.permission_id
                        WHERE p.codename = %L$$, perm), roles, 'permission ' || perm)
  FROM (VALUES ('task.view', ARRAY['owner', 'admin', 'member', 'guest']), ('task.create', ARRAY['owner', 'admin', 'member']),
               ('task.update', ARRAY['owner', 'admin', 'member']), ('task.delete', ARRAY['owner', 'admin']),
               ('task.restore', ARRAY['owner', 'admin']),
               ('sprint.view', ARRAY['owner', 'admin', 'member', 'guest']), ('sprint.create', ARRAY['owner', 'admin']),
               ('sprint.update', ARRAY['owner', 'admin']), ('sprint.delete', ARRAY['owner', 'admin']), ('sprint.restore', ARRAY['owner', 'admin']),
               ('milestone.view', ARRAY['owner', 'admin', 'member', 'guest']), ('milestone.create', ARRAY['owner', 'admin']),
               ('milestone.update', ARRAY['owner', 'admin']), ('milestone.delete', ARRAY['owner', 'admin']),
               ('milestone.restore', ARRAY['owner', 'admin'])) v(perm, roles);

-- Fixtures of the API project: tasks in known statuses, and one of tenant B (already made).
SELECT t31.task('a_b1', 'papi', 'backlog') IS NOT NULL AS _1, t31.task('a_t1', 'papi', 'todo') IS NOT NULL AS _2,
       t31.task('a_t2', 'papi', 'todo') IS NOT NULL AS _3, t31.task('a_d1', 'papi', 'todo') IS NOT NULL AS _4 \gset
SELECT t31.walk('coditect.tasks', 'a_d1', 'in_progress', 'in_review', 'done') AS _ \gset
SELECT t31.milestone('a_m', 'papi') IS NOT NULL AS _ \gset
SELECT set_config('tap.papi', t31.id('papi')::text, false), set_config('tap.a_m', t31.id('a_m')::text, false),
       set_config('tap.xt_c', t31.id('xt_c')::text, false) \gset
-- Titles of a task list answer, sorted; or the error.
CREATE FUNCTION pg_temp.titles(p_user text, p_filters text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN r !~ '^\{' THEN r
                ELSE (SELECT coalesce(string_agg(e ->> 'title', ',' ORDER BY e ->> 'title'), '') FROM jsonb_array_elements(r::jsonb -> 'results') e) END
      FROM pg_temp.as_user(p_user, p_user, format('SELECT coditect.api_tasks_list(%L)', p_filters)) r
$$;
SET ROLE tap31_gateway;

SELECT is(pg_temp.titles('guest', format('{"project_id": "%s"}', current_setting('tap.papi'))), 'a_b1,a_d1,a_t1,a_t2',
          'api_tasks_list: a guest lists a project''s tasks');
SELECT is(pg_temp.titles('guest', format('{"project_id": "%s", "status": "todo"}', current_setting('tap.papi'))), 'a_t1,a_t2',
          'api_tasks_list: status filter');
SELECT is(pg_temp.titles('guest', format('{"project_id": "%s", "status__in": "done,backlog"}', current_setting('tap.papi'))), 'a_b1,a_d1',
          'api_tasks_list: status__in filter');
SELECT alike(pg_temp.titles('guest', '{"status": "doing"}'), 'CD400: invalid filter value%', 'api_tasks_list: an unknown status is CD400');
SELECT alike(pg_temp.titles('guest', '{"story_points": "3"}'), 'CD400: unknown filter(s): story_points', 'api_tasks_list: an undeclared filter is CD400');
SELECT is(pg_temp.as_user('guest', 'guest', format('SELECT coditect.api_tasks_list(''{"project_id": "%s", "status": "todo"}'') ->> ''count''',
                                                   current_setting('tap.papi'))), '2', 'api_tasks_list: the count follows the filter');
SELECT is(pg_temp.titles('owner', format('{"project_id": "%s"}', t31.id('pcx'))), '', 'api_tasks_list: another tenant''s project shows nothing');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_tasks_get(%L)', current_setting('tap.xt_c'))), 'CD404%',
             'api_tasks_get: another tenant''s task is not found');

-- Create as a member; a guest cannot.
SELECT pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "Via API", "story_points": 3,
                                                  "tags": ["api"], "milestone_id": "%s", "status": "todo"}')$$,
                                                  current_setting('tap.papi'), current_setting('tap.a_m'))) AS api_task \gset
SELECT is(t31.j(:'api_task') ->> 'title', 'Via API', 'api_tasks_create: a member creates a task');
SELECT is(t31.j(:'api_task') ->> 'reporter_id', current_setting('tap.user.member'), '... reported by the member');
SELECT is(t31.j(:'api_task') ->> 'tenant_id', current_setting('tap.ta'), '... in the member''s tenant');
SELECT is(t31.j(:'api_task') ->> 'status', 'todo', '... in the status asked for');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "Guest"}')$$, current_setting('tap.papi'))),
             'CD403: permission denied: task.create%', 'api_tasks_create: a guest cannot create a task');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "Bad", "story_points": 4}')$$, current_setting('tap.papi'))),
             '23514%', 'api_tasks_create: 4 story points are refused');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "Bad", "status": "done"}')$$, current_setting('tap.papi'))),
             'CD422%', 'api_tasks_create: a task cannot start done');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_create('{"project_id": "%s", "title": "Bad", "started_at": "2026-01-01"}')$$, current_setting('tap.papi'))),
          'CD400: unknown or read-only field(s): started_at', 'api_tasks_create: started_at is not writable');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"project_id": "%s"}')$$, t31.j(:'api_task') ->> 'id', current_setting('tap.papi'))),
          'CD400: unknown or read-only field(s): project_id', 'api_tasks_update: project_id cannot change');
-- Transitions through the API keep the milestone's progress (the gateway cannot write it itself).
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"status": "in_progress"}') ->> 'status'$$, t31.j(:'api_task') ->> 'id')),
          'in_progress', 'api_tasks_update: a member moves a task to in_progress');
SELECT isnt(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_get(%L) ->> 'started_at'$$, t31.j(:'api_task') ->> 'id')),
            'done', '... which stamps started_at');
SELECT is(t31.norm(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"status": "done"}')$$, t31.j(:'api_task') ->> 'id'))),
          'CD422: task: cannot go from ''in_progress'' to ''done'' (from ''in_progress'': ''cancelled'', ''in_review'', ''todo'')',
          'api_tasks_update: a refused transition is CD422 naming the allowed targets');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"status": "in_review"}') ->> 'status'$$, t31.j(:'api_task') ->> 'id')),
          'in_review', 'api_tasks_update: to in_review');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_update(%L, '{"status": "done"}') ->> 'status'$$, t31.j(:'api_task') ->> 'id')),
          'done', 'api_tasks_update: to done');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_milestones_get(%L) ->> 'progress_percent'$$, current_setting('tap.a_m'))),
          '100', 'the milestone''s progress follows a task done through the API');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_tasks_delete(%L)$$, t31.j(:'api_task') ->> 'id')),
             'CD403%', 'api_tasks_delete: a member cannot delete a task');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_delete(%L)$$, t31.j(:'api_task') ->> 'id')),
          'done', 'api_tasks_delete: an admin deletes it');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_milestones_get(%L) ->> 'progress_percent'$$, current_setting('tap.a_m'))),
          '0', 'the milestone''s progress follows a task deleted through the API');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_restore(%L) ->> 'title'$$, t31.j(:'api_task') ->> 'id')),
          'Via API', 'api_tasks_restore: an admin restores it');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_milestones_get(%L) ->> 'progress_percent'$$, current_setting('tap.a_m'))),
          '100', 'the milestone''s progress follows a task restored through the API');

-- Sprints and milestones are created by admins only; progress is not an API field.
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_sprints_create('{"project_id": "%s", "name": "API sprint", "start_date": "2029-01-01", "end_date": "2029-01-15"}')$$, current_setting('tap.papi'))),
             'CD403: permission denied: sprint.create%', 'api_sprints_create: a member cannot create a sprint');
SELECT pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_sprints_create('{"project_id": "%s", "name": "API sprint", "goal": "ship", "start_date": "2029-01-01", "end_date": "2029-01-15"}')$$, current_setting('tap.papi'))) AS api_sprint \gset
SELECT is(t31.j(:'api_sprint') ->> 'status', 'planned', 'api_sprints_create: an admin creates a sprint, planned');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_sprints_create('{"project_id": "%s", "name": "API sprint 2", "start_date": "2029-01-01", "end_date": "2029-01-15", "status": "active"}')$$, current_setting('tap.papi'))),
          'CD400: unknown or read-only field(s): status', 'api_sprints_create: status is not a create field');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_sprints_create('{"project_id": "%s", "name": "API sprint 3", "start_date": "2029-01-10", "end_date": "2029-01-20"}')$$, current_setting('tap.papi'))),
             '23P01%', 'api_sprints_create: an overlapping sprint is 23P01');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_sprints_update(%L, '{"status": "active"}') ->> 'status'$$, t31.j(:'api_sprint') ->> 'id')),
          'active', 'api_sprints_update: an admin starts the sprint');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_sprints_update(%L, '{"goal": "x"}')$$, t31.j(:'api_sprint') ->> 'id')),
             'CD403%', 'api_sprints_update: a member cannot update a sprint');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_sprints_list('{"project_id": "%s", "status": "active"}')$$, current_setting('tap.papi'))),
             '%"count": 1%', 'api_sprints_list: a guest lists sprints by project and status');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_milestones_create('{"project_id": "%s", "title": "API milestone"}')$$, current_setting('tap.papi'))),
             'CD403: permission denied: milestone.create%', 'api_milestones_create: a member cannot create a milestone');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_milestones_create('{"project_id": "%s", "title": "API milestone", "progress_percent": 50}')$$, current_setting('tap.papi'))),
          'CD400: unknown or read-only field(s): progress_percent', 'api_milestones_create: progress_percent is refused (CD400)');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_milestones_update(%L, '{"progress_percent": 50}')$$, current_setting('tap.a_m'))),
          'CD400: unknown or read-only field(s): progress_percent', 'api_milestones_update: progress_percent is refused (CD400)');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_milestones_create('{"project_id": "%s", "title": "API milestone", "due_date": "2029-06-30"}')$$, current_setting('tap.papi'))),
             '%"progress_percent": 0%', 'api_milestones_create: an admin creates a milestone, at 0%');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_milestones_update(%L, '{"status": "in_progress"}') ->> 'status'$$, current_setting('tap.a_m'))),
          'in_progress', 'api_milestones_update: an admin moves a milestone to in_progress');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

-- Task comments (sql/32_task_comments.sql, issue 9): columns, defaults, keys and indexes; the
-- author rules for every writer with a request context (the author edits; another member, an
-- admin or an owner cannot; the author or an admin deletes; the author never changes; a comment
-- is written as its caller); a DBA without a context unrestricted; soft delete and restore;
-- nesting under the task (not found under another task, gone with a deleted task); through the
-- generated API functions as a gateway login and through direct SQL. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql

CREATE SCHEMA t33;
-- A comment's row as the DBA sees it (past RLS).
CREATE FUNCTION t33.row(p_k text) RETURNS coditect.task_comments LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT * FROM coditect.task_comments WHERE id = pg_temp.id(p_k)
$$;
GRANT USAGE ON SCHEMA t33 TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA t33 TO PUBLIC;

-- Fixtures: tenants A and B (lib/tenants.psql); tasks.
\set fx t33
\ir lib/tenants.psql
\ir lib/as_user.psql

WITH p AS (INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'Comments A'), (:'tb', 'Comments B') RETURNING tenant_id, id),
     t AS (INSERT INTO coditect.tasks (tenant_id, project_id, title)
           SELECT tenant_id, id, x FROM p, unnest(CASE WHEN tenant_id = :'ta' THEN ARRAY['t1', 't2', 't3'] ELSE ARRAY['tb'] END) x
           RETURNING id, title)
SELECT count(pg_temp.put(title, id)) AS _ FROM t \gset

------------------------------------------------------------------------------------------------
-- Columns, keys, indexes
------------------------------------------------------------------------------------------------

SELECT has_table('coditect', 'task_comments', 'table task_comments');
SELECT columns_are('coditect', 'task_comments',
                   ARRAY['tenant_id', 'id', 'task_id', 'author_id', 'content', 'created_at', 'updated_at', 'deleted_at'],
                   'task_comments has exactly the seeds'' columns');
CREATE TEMP TABLE cols (ord serial, col name, typ text, not_null boolean, def text);
INSERT INTO cols (col, typ, not_null, def) VALUES
    ('tenant_id',  'uuid',                     true,  NULL),
    ('id',         'uuid',                     true,  'coditect.uuid_generate_v7()'),
    ('task_id',    'uuid',                     true,  NULL),
    ('author_id',  'uuid',                     false, 'coditect.current_user_id()'),
    ('content',    'text',                     true,  NULL),
    ('created_at', 'timestamp with time zone', true,  'now()'),
    ('updated_at', 'timestamp with time zone', true,  'now()'),
    ('deleted_at', 'timestamp with time zone', false, NULL);
SELECT col_type_is('coditect', 'task_comments', col, typ, col || ' is ' || typ) FROM cols ORDER BY ord;
SELECT is((SELECT attnotnull FROM pg_attribute WHERE attrelid = 'coditect.task_comments'::regclass AND attname = col), not_null,
          col || CASE WHEN not_null THEN ' is NOT NULL' ELSE ' is nullable' END) FROM cols ORDER BY ord;
SELECT is((SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
            WHERE d.adrelid = 'coditect.task_comments'::regclass AND a.attname = col), def,
          col || ' default ' || coalesce(def, 'none')) FROM cols ORDER BY ord;
SELECT col_is_pk('coditect', 'task_comments', ARRAY['tenant_id', 'id'], 'primary key (tenant_id, id)');
SELECT fk_ok('coditect', 'task_comments', ARRAY['tenant_id', 'task_id'], 'coditect', 'tasks', ARRAY['tenant_id', 'id'],
             'a comment references its task within the tenant');
SELECT fk_ok('coditect', 'task_comments', ARRAY['tenant_id', 'author_id'], 'coditect', 'users', ARRAY['tenant_id', 'id'],
             'a comment references its author within the tenant');
SELECT is((SELECT confdeltype::text FROM pg_constraint WHERE conrelid = 'coditect.task_comments'::regclass AND confrelid = 'coditect.tasks'::regclass),
          'c', 'a task''s removal removes its comments (CASCADE)');
SELECT is((SELECT c.confdeltype::text || ' ' || pg_get_triggerdef(t.oid)
             FROM pg_constraint c JOIN pg_trigger t ON t.tgrelid = c.confrelid AND t.tgname = 'FK_set_null_' || c.conname
            WHERE c.conrelid = 'coditect.task_comments'::regclass AND c.confrelid = 'coditect.users'::regclass),
          'a CREATE TRIGGER "FK_set_null_task_comments_tenant_id_author_id_fkey" AFTER DELETE ON coditect.users '
          'FOR EACH ROW EXECUTE FUNCTION coditect_internal.null_references(''coditect.task_comments'', '
          '''SET author_id = NULL WHERE tenant_id OPERATOR(pg_catalog.=) $1 '
          'AND author_id OPERATOR(pg_catalog.=) $2'', ''tenant_id'', ''id'')',
          'a user''s removal sets the author to NULL, and only the author (NO ACTION + declare_null_on_delete)');
SELECT is((SELECT pg_get_indexdef('coditect.task_comments_task_created_idx'::regclass)),
          'CREATE INDEX task_comments_task_created_idx ON coditect.task_comments USING btree (tenant_id, task_id, created_at DESC, id DESC)',
          'index (tenant_id, task_id, created_at DESC, id DESC): a task''s comments, newest first');
SELECT is((SELECT pg_get_indexdef('coditect.task_comments_author_idx'::regclass)),
          'CREATE INDEX task_comments_author_idx ON coditect.task_comments USING btree (tenant_id, author_id)',
          'index (tenant_id, author_id): SET NULL of a removed user, ?author_id=');
SELECT is((SELECT array_agg(a.attname::text ORDER BY i.indexrelid::regclass::text) FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = 'coditect.task_comments'::regclass),
          '{tenant_id,tenant_id,tenant_id}', 'every index leads with tenant_id');
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 'coditect.task_comments'::regclass AND tgname = 'guard_task_comment'),
          'A', 'the author rules fire always (replica mode too)');
SELECT ok(NOT has_function_privilege('coditect_gateway', 'coditect_internal.guard_task_comment()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'coditect_internal.guard_task_comment()', 'EXECUTE'),
          'the trigger function is not callable by clients');

-- Content: Markdown, not blank, at most 65,536 characters.
SELECT is(pg_temp.try(format($$INSERT INTO coditect.task_comments (tenant_id, task_id, author_id, content) VALUES (%L, %L, %L, %L)$$,
                         :'ta', pg_temp.id('t1'), pg_temp.id('member'), c)), r, d)
  FROM (VALUES (repeat('x', 65536), 'ok', 'content of 65,536 characters is accepted'),
               (repeat('x', 65537), '23514: new row for relation "task_comments" violates check constraint "task_comments_content_check"',
                'content over 65,536 characters is refused'),
               (E' \n\t', '23514: new row for relation "task_comments" violates check constraint "task_comments_content_check"',
                'blank content is refused'),
               ('# Title' || E'\n\n' || '- **bold** `code`', 'ok', 'Markdown is stored as written')) v(c, r, d);

------------------------------------------------------------------------------------------------
-- The catalog
------------------------------------------------------------------------------------------------

SELECT is((SELECT parent || ':' || parent_column || ':' || path FROM coditect_internal.resources WHERE name = 'task_comment'),
          'task:task_id:/api/v1/tasks/{task_id}/comments/', 'task_comment is nested under task');
SELECT is((SELECT array_agg(method || ' ' || path ORDER BY path, method) FROM coditect_internal.resource_operations WHERE resource = 'task_comment'),
          '{"GET /api/v1/tasks/{task_id}/comments/","POST /api/v1/tasks/{task_id}/comments/","DELETE /api/v1/tasks/{task_id}/comments/{id}/","GET /api/v1/tasks/{task_id}/comments/{id}/","PATCH /api/v1/tasks/{task_id}/comments/{id}/","POST /api/v1/tasks/{task_id}/comments/{id}/restore/"}',
          'its operations and paths');
SELECT is((SELECT array_agg(column_name::text ORDER BY column_name) FILTER (WHERE on_create)::text || '/' ||
                  array_agg(column_name::text ORDER BY column_name) FILTER (WHERE on_update)::text
             FROM coditect_internal.resource_columns WHERE resource = 'task_comment'),
          '{content}/{content}', 'clients write content only (never the author, task or stamps)');
SELECT is((SELECT example ->> 'content' IS NOT NULL FROM coditect_internal.resources WHERE name = 'task_comment'), true,
          'the declaration carries an example body');
SELECT is((SELECT jsonb_agg(f ->> 'name' ORDER BY f ->> 'name') FROM jsonb_array_elements(coditect.api_catalog() -> 'resources') r,
                  jsonb_array_elements(r -> 'filters') f WHERE r ->> 'name' = 'task_comment'),
          '["author_id", "author_id__isnull", "created_at__gte", "created_at__lt"]'::jsonb, 'filters: author and creation time');

------------------------------------------------------------------------------------------------
-- A DBA without a context: nothing restricted but the author
------------------------------------------------------------------------------------------------

SELECT is(coditect.current_user_id(), NULL, 'the DBA has no request context');
WITH x AS (INSERT INTO coditect.task_comments (tenant_id, task_id, author_id, content)
           VALUES (:'ta', pg_temp.id('t1'), pg_temp.id('member'), 'Written by member') RETURNING id)
SELECT pg_temp.put('dba', id) FROM x \gset
SELECT is(pg_temp.try(format($$UPDATE coditect.task_comments SET content = 'Fixed by the DBA' WHERE id = %L$$, pg_temp.id('dba'))), 'ok',
          'DBA: edits anyone''s comment');
SELECT is(pg_temp.try(format($$DELETE FROM coditect.task_comments WHERE id = %L$$, pg_temp.id('dba'))), 'ok', 'DBA: deletes it ...');
SELECT ok((t33.row('dba')).deleted_at IS NOT NULL, '... softly');
SELECT is(coditect.restore_row('coditect.task_comments', pg_temp.id('dba')), true, 'DBA: restores it');
SELECT is(pg_temp.try(format($$UPDATE coditect.task_comments SET author_id = %L WHERE id = %L$$, pg_temp.id('member2'), pg_temp.id('dba'))),
          'CD422: the author of a comment cannot change', 'DBA: not even a DBA changes the author');
SELECT is(pg_temp.try(format($$UPDATE coditect.task_comments SET author_id = NULL WHERE id = %L$$, pg_temp.id('dba'))),
          'CD422: the author of a comment cannot change', 'DBA: ... nor clears it while the user exists');
SELECT is(pg_temp.try(format($$UPDATE coditect.task_comments SET task_id = %L WHERE id = %L$$, pg_temp.id('t2'), pg_temp.id('dba'))), 'ok',
          'DBA: moves a comment to another task (maintenance)');
SELECT is((t33.row('dba')).content, 'Fixed by the DBA', 'DBA: the comment is as the DBA left it');

------------------------------------------------------------------------------------------------
-- Direct SQL as a gateway login, in request contexts
------------------------------------------------------------------------------------------------

CREATE ROLE tap33_gateway LOGIN IN ROLE coditect_gateway;
SET ROLE tap33_gateway;

SELECT pg_temp.put('c1', pg_temp.as_user('member', 'member', format(
    $$INSERT INTO coditect.task_comments (tenant_id, task_id, content) VALUES (%L, %L, 'First!') RETURNING id$$, :'ta', pg_temp.id('t1')))::uuid) \gset
SELECT is((t33.row('c1')).author_id, pg_temp.id('member'), 'SQL: the author is the context''s user');
SELECT is(pg_temp.as_user('member', 'member', format(
    $$INSERT INTO coditect.task_comments (tenant_id, task_id, author_id, content) VALUES (%L, %L, %L, 'In your name') RETURNING id$$,
    :'ta', pg_temp.id('t1'), pg_temp.id('member2'))),
    'CD403: a comment is written by the caller: author_id cannot be set', 'SQL: nobody writes a comment in another''s name');
SELECT is(pg_temp.as_user('member', 'member', format($$UPDATE coditect.task_comments SET content = 'First! (edited)' WHERE id = %L RETURNING content$$, pg_temp.id('c1'))),
          'First! (edited)', 'SQL: the author edits the content');
SELECT is(pg_temp.as_user(u, r, format($$UPDATE coditect.task_comments SET content = 'Hijacked' WHERE id = %L RETURNING content$$, pg_temp.id('c1'))),
          'CD403: only the comment''s author can edit it', 'SQL: ' || u || ' cannot edit another''s comment')
  FROM (VALUES ('member2', 'member'), ('admin', 'admin'), ('owner', 'owner')) v(u, r);
SELECT is(pg_temp.as_user('member', 'member', format($$UPDATE coditect.task_comments SET author_id = %L WHERE id = %L RETURNING 1$$, pg_temp.id('member2'), pg_temp.id('c1'))),
          'CD422: the author of a comment cannot change', 'SQL: the author cannot give the comment away');
SELECT is(pg_temp.as_user('member', 'member', format($$UPDATE coditect.task_comments SET author_id = NULL WHERE id = %L RETURNING 1$$, pg_temp.id('c1'))),
          'CD422: the author of a comment cannot change', 'SQL: ... nor make it anonymous');
SELECT is(pg_temp.as_user('member', 'member', format($$UPDATE coditect.task_comments SET task_id = %L WHERE id = %L RETURNING 1$$, pg_temp.id('t2'), pg_temp.id('c1'))),
          'CD422: a comment cannot move to another task', 'SQL: a comment stays on its task');
SELECT is(pg_temp.as_user('member2', 'member', format($$DELETE FROM coditect.task_comments WHERE id = %L RETURNING 1$$, pg_temp.id('c1'))),
          'CD403: only the comment''s author or an admin can delete it', 'SQL: another member cannot delete it');
SELECT is(pg_temp.as_user('member2', 'member', format($$UPDATE coditect.task_comments SET deleted_at = now() WHERE id = %L RETURNING 1$$, pg_temp.id('c1'))),
          'CD403: only the comment''s author or an admin can delete it', 'SQL: ... not even by setting deleted_at');
SELECT ok((t33.row('c1')).deleted_at IS NULL, 'SQL: the comment is still live');
SELECT is(pg_temp.as_user('admin', 'admin', format($$DELETE FROM coditect.task_comments WHERE id = %L RETURNING 1$$, pg_temp.id('c1'))),
          'done', 'SQL: an admin deletes it');
SELECT ok((t33.row('c1')).deleted_at IS NOT NULL, 'SQL: ... softly (the row stays, deleted_at set)');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.restore_row('coditect.task_comments', %L)$$, pg_temp.id('c1'))),
          'CD403: only the comment''s author or an admin can restore it', 'SQL: another member cannot restore it');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.restore_row('coditect.task_comments', %L)$$, pg_temp.id('c1'))),
          'true', 'SQL: an owner restores it');
SELECT is(pg_temp.as_user('member', 'member', format($$DELETE FROM coditect.task_comments WHERE id = %L RETURNING 1$$, pg_temp.id('c1'))),
          'done', 'SQL: the author deletes it');
SELECT ok((t33.row('c1')).deleted_at IS NOT NULL, 'SQL: ... softly');
SELECT is((t33.row('c1')).content, 'First! (edited)', 'SQL: the refused writes changed nothing');
SELECT is(pg_temp.as_user('member', 'member', format($$INSERT INTO coditect.task_comments (tenant_id, task_id, content) VALUES (%L, %L, 'x') RETURNING id$$,
                                                     :'tb', pg_temp.id('tb'))),
          '42501: new row violates row-level security policy for table "task_comments"', 'SQL: no comment in another tenant');
SELECT is(pg_temp.as_user('member', 'member', format($$INSERT INTO coditect.task_comments (tenant_id, task_id, content) VALUES (%L, %L, 'x') RETURNING id$$,
                                                     :'ta', pg_temp.id('tb'))),
          '23503: insert or update on table "task_comments" violates foreign key constraint "task_comments_tenant_id_task_id_fkey"',
          'SQL: no comment on another tenant''s task');

------------------------------------------------------------------------------------------------
-- The generated API functions
------------------------------------------------------------------------------------------------

SELECT pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_create(%L, '{"content": "Via the API"}')$$, pg_temp.id('t1'))) AS a1 \gset
SELECT pg_temp.put('a1', (:'a1'::jsonb ->> 'id')::uuid) \gset
SELECT is(:'a1'::jsonb ->> 'author_id', pg_temp.id('member')::text, 'API: the author is the caller');
SELECT is(:'a1'::jsonb ->> 'task_id', pg_temp.id('t1')::text, 'API: the task is the path''s');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_create(%L, %L)$$, pg_temp.id('t1'),
                                                        jsonb_build_object('content', 'x', 'author_id', pg_temp.id('member2')))),
             'CD400: unknown or read-only field(s): author_id%', 'API: the author is not a field');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_create(%L, '{"content": "x", "task_id": "%s"}')$$,
                                                        pg_temp.id('t1'), pg_temp.id('t2'))),
             'CD400: %task_id%', 'API: nor is the task');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_create(%L, '{}')$$, pg_temp.id('t1'))),
             'CD400: missing required field(s): content', 'API: content is required');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_create(%L, '{"content": "   "}')$$, pg_temp.id('t1'))),
             '23514:%', 'API: blank content is refused');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_comments_create(%L, '{"content": "Hi"}')$$, pg_temp.id('t1'))),
             'CD403: permission denied: task_comment.create%', 'API: a guest cannot comment');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_comments_get(%L, %L) ->> 'content'$$, pg_temp.id('t1'), pg_temp.id('a1'))),
          'Via the API', 'API: a guest reads comments');
SELECT pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_create(%L, '{"content": "Second"}') ->> 'id'$$, pg_temp.id('t1'))) AS a2 \gset
SELECT pg_temp.put('a2', :'a2'::uuid) \gset

-- Lists and nesting.
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT (coditect.api_task_comments_list(%L) -> 'results' -> 0 ->> 'content') || ' / ' || (coditect.api_task_comments_list(%L) ->> 'count')$$,
                                                   pg_temp.id('t1'), pg_temp.id('t1'))),
          'Second / 4', 'API: a task''s live comments (not the deleted one), newest first');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_comments_list(%L, '{"author_id": "%s"}') ->> 'count'$$,
                                                   pg_temp.id('t1'), pg_temp.id('member2'))),
          '1', 'API: ?author_id=');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_comments_list(%L, p_ordering => 'created_at') -> 'results' -> -1 ->> 'content'$$,
                                                   pg_temp.id('t1'))),
          'Second', 'API: ?ordering=created_at (oldest first)');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_comments_list(%L) ->> 'count'$$, pg_temp.id('t3'))),
          '0', 'API: another task lists none of them');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_comments_get(%L, %L)$$, pg_temp.id('t3'), pg_temp.id('a1'))),
          format('CD404: task comment %s not found', pg_temp.id('a1')), 'API: a comment is not found under another task');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "x"}')$$, pg_temp.id('t3'), pg_temp.id('a1'))),
          format('CD404: task comment %s not found', pg_temp.id('a1')), 'API: ... nor updated there');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_list(%L)$$, pg_temp.id('tb'))),
          format('CD404: task %s not found', pg_temp.id('tb')), 'API: another tenant''s task is not found');

-- Edit and delete.
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "Via the API, edited"}') ->> 'content'$$,
                                                     pg_temp.id('t1'), pg_temp.id('a1'))),
          'Via the API, edited', 'API: the author edits');
SELECT is(pg_temp.as_user(u, r, format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "Mine now"}')$$, pg_temp.id('t1'), pg_temp.id('a1'))),
          'CD403: only the comment''s author can edit it', 'API: ' || u || ' cannot edit another''s comment')
  FROM (VALUES ('member2', 'member'), ('admin', 'admin'), ('owner', 'owner')) v(u, r);
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "x"}')$$, pg_temp.id('t1'), pg_temp.id('a1'))),
             'CD403: permission denied: task_comment.update%', 'API: a guest edits nothing');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_update(%L, %L, '{"author_id": "%s"}')$$,
                                                        pg_temp.id('t1'), pg_temp.id('a1'), pg_temp.id('member2'))),
             'CD400: unknown or read-only field(s): author_id%', 'API: the author cannot be changed');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_delete(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a1'))),
          'CD403: only the comment''s author or an admin can delete it', 'API: another member cannot delete it');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_task_comments_delete(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a1'))),
          'done', 'API: an admin deletes it');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_get(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a1'))),
          format('CD404: task comment %s not found', pg_temp.id('a1')), 'API: a deleted comment is gone');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_restore(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a1'))),
             'CD403: permission denied: task_comment.restore%', 'API: members do not restore');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_task_comments_restore(%L, %L) ->> 'content'$$, pg_temp.id('t1'), pg_temp.id('a1'))),
          'Via the API, edited', 'API: an admin restores it');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_delete(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a1'))),
          'done', 'API: the author deletes it');
SELECT ok((t33.row('a1')).deleted_at IS NOT NULL AND (t33.row('a1')).author_id = pg_temp.id('member'),
          'API: ... softly, author kept');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_task_comments_restore(%L, %L) ->> 'id'$$, pg_temp.id('t3'), pg_temp.id('a1'))),
          format('CD404: no deleted task comment %s', pg_temp.id('a1')), 'API: not restored under another task');

-- A deleted task takes its comments with it; restored, they are back.
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_delete(%L)$$, pg_temp.id('t1'))), 'done', 'an admin deletes the task');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_get(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a2'))),
          format('CD404: task %s not found', pg_temp.id('t1')), 'API: a comment of a deleted task is gone');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_list(%L)$$, pg_temp.id('t1'))),
          format('CD404: task %s not found', pg_temp.id('t1')), 'API: ... and so is the list');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_create(%L, '{"content": "Late"}')$$, pg_temp.id('t1'))),
          format('CD404: task %s not found', pg_temp.id('t1')), 'API: ... and nobody comments on it');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "Late"}')$$, pg_temp.id('t1'), pg_temp.id('a2'))),
          format('CD404: task %s not found', pg_temp.id('t1')), 'API: ... nor edits one');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_restore(%L) ->> 'title'$$, pg_temp.id('t1'))), 't1', 'the task is restored');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_comments_get(%L, %L) ->> 'content'$$, pg_temp.id('t1'), pg_temp.id('a2'))),
          'Second', 'API: ... and its comments are back');

-- A removed author: the comment stays, anonymous; admins may still delete it, nobody edits it.
SELECT is(pg_temp.as_user('owner', 'owner', format($$DELETE FROM coditect.users WHERE id = %L RETURNING 1$$, pg_temp.id('member2'))), '1',
          'an owner removes member2''s account');
RESET ROLE;
SELECT is((t33.row('a2')).author_id, NULL, 'the removed author''s comment stays, without an author');
SET ROLE tap33_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_update(%L, %L, '{"content": "x"}')$$, pg_temp.id('t1'), pg_temp.id('a2'))),
          'CD403: only the comment''s author can edit it', 'API: nobody edits an anonymous comment');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_comments_delete(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a2'))),
          'CD403: only the comment''s author or an admin can delete it', 'API: a member does not delete it');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_task_comments_delete(%L, %L)$$, pg_temp.id('t1'), pg_temp.id('a2'))),
          'done', 'API: an admin does');
RESET ROLE;

-- The trail.
SELECT is((SELECT array_agg(action ORDER BY id) FROM coditect.audit_logs WHERE resource_id = pg_temp.id('a1')::text),
          '{task_comment.create,task_comment.update,task_comment.delete,task_comment.restore,task_comment.delete}',
          'each change of a comment is audited');
SELECT is((SELECT user_id FROM coditect.audit_logs WHERE resource_id = pg_temp.id('a1')::text AND action = 'task_comment.create'),
          pg_temp.id('member'), '... with who made it');

SELECT * FROM finish();
ROLLBACK;

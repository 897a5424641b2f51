-- Task attachments (sql/46_task_attachments.sql, issue 10): made by an upload with target_kind
-- "task"; listed under their task and downloaded by whoever reads it; attached by members;
-- removed by their uploader or an admin, and their bytes with the last holder; gone with their
-- task; nothing of another tenant. As a gateway login in request contexts. Rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t46
\ir lib/tenants.psql
\ir lib/as_user.psql
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'Attach A'), (:'tb', 'Attach B');
INSERT INTO coditect.tasks (tenant_id, project_id, title) SELECT tenant_id, id, 'Task of ' || name FROM coditect.projects WHERE tenant_id IN (:'ta', :'tb');
SELECT pg_temp.put('task', id) AS _ FROM coditect.tasks WHERE tenant_id = :'ta' \gset
SELECT pg_temp.put('task_b', id) AS _ FROM coditect.tasks WHERE tenant_id = :'tb' \gset
CREATE ROLE tap46_gateway LOGIN IN ROLE coditect_gateway;
-- An upload of p_content as one append, as a user; its answer, or the error.
CREATE FUNCTION pg_temp.attach(p_user text, p_role text, p_content text, p_task uuid, p_name text DEFAULT 'notes.txt') RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user(p_user, p_role, format(
        $q$SELECT coditect.storage_append((coditect.storage_begin_upload(%s, %L) ->> 'id')::uuid, 0, convert_to(%L, 'UTF8')) -> 'target'$q$,
        octet_length(convert_to(p_content, 'UTF8')),
        jsonb_build_object('filename', p_name, 'content_type', 'text/plain', 'target_kind', 'task', 'target_id', p_task), p_content))
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

SELECT has_table('coditect', 'task_attachments', 'table task_attachments');
SELECT columns_are('coditect', 'task_attachments', ARRAY['tenant_id', 'id', 'task_id', 'uploader_id', 'filename', 'file_path',
                                                          'file_size_bytes', 'mime_type', 'checksum', 'blob_id', 'created_at'],
                   'the seeds'' fields, the checksum and the blob');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.task_attachments'::regclass
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(tenant_id, task_id, created_at DESC, id DESC)'), 'the seeds'' (task, -created_at) index');
SELECT is(ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'coditect.task_attachments'::regclass
                   AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'), '{}'::text[], 'every index leads with tenant_id');
SELECT is((SELECT path FROM coditect_internal.resources WHERE name = 'task_attachment'), '/api/v1/tasks/{task_id}/attachments/', 'nested under the task');

SET ROLE tap46_gateway;
SELECT pg_temp.put('a1', (pg_temp.attach('member', 'member', 'minutes of monday', pg_temp.id('task'))::jsonb ->> 'attachment_id')::uuid) AS _ \gset
SELECT ok(pg_temp.id('a1') IS NOT NULL, 'a member attaches a file by uploading it to the task');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT concat_ws('|', r ->> 'filename', r ->> 'file_size_bytes', r ->> 'mime_type', r ->> 'uploader_id' = %L,
                                                                     r ->> 'checksum' = encode(sha256('minutes of monday'), 'hex'))
                                                     FROM jsonb_array_elements(coditect.api_task_attachments_list(%L) -> 'results') r$$,
                                                  pg_temp.id('member'), pg_temp.id('task'))),
          'notes.txt|17|text/plain|t|t', 'a guest lists the task''s attachments: name, size, type, uploader, checksum');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT convert_from(coditect.storage_read((coditect.task_attachment_download(%L, %L) ->> 'blob_id')::uuid, 0, 100), 'UTF8')$$,
          pg_temp.id('task'), pg_temp.id('a1'))), 'minutes of monday', '... and downloads it');
SELECT alike(pg_temp.attach('guest', 'guest', 'x', pg_temp.id('task')), 'CD403:%', 'a guest attaches nothing');
SELECT alike(pg_temp.attach('member', 'member', 'x', coditect.uuid_generate_v7()), 'CD404: task % not found', 'an unknown task is refused when the upload is declared');
SELECT alike(pg_temp.attach('member', 'member', 'x', pg_temp.id('task_b')), 'CD404: task % not found', '... and another tenant''s');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.task_attachment_download(%L, %L)$$, pg_temp.id('task_b'), pg_temp.id('a1'))),
             'CD404:%', 'an attachment is found under its own task only');
SELECT alike(pg_temp.as_user('member', 'member', format($$INSERT INTO coditect.task_attachments (tenant_id, task_id, filename, file_path, file_size_bytes, mime_type, checksum, blob_id)
                                                         SELECT tenant_id, task_id, 'x', file_path, 1, mime_type, checksum, blob_id FROM coditect.task_attachments WHERE id = %L$$,
             pg_temp.id('a1'))), '42501:%', 'attachments are made by uploads only');
-- The same bytes twice: one blob, two holders.
SELECT pg_temp.put('a2', (pg_temp.attach('member2', 'member', 'minutes of monday', pg_temp.id('task'), 'copy.txt')::jsonb ->> 'attachment_id')::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', $$SELECT string_agg(ref_count::text, ',') FROM coditect.storage_blobs WHERE sha256 = sha256('minutes of monday')$$),
          '2', 'the same bytes attached twice are stored once, held twice');
SELECT alike(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_task_attachments_delete(%L, %L)$$, pg_temp.id('task'), pg_temp.id('a1'))),
             'CD403: only the uploader or an admin removes an attachment', 'another member cannot remove it');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_attachments_delete(%L, %L)$$, pg_temp.id('task'), pg_temp.id('a1'))),
          'done', 'its uploader removes it');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT string_agg(ref_count::text, ',') FROM coditect.storage_blobs WHERE sha256 = sha256('minutes of monday')$$),
          '1', '... and its hold on the bytes goes');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_task_attachments_delete(%L, %L)$$, pg_temp.id('task'), pg_temp.id('a2'))),
          'done', 'an admin removes any attachment');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT count(*)::text FROM coditect.storage_blobs WHERE sha256 = sha256('minutes of monday')$$),
          '0', 'the last holder gone, the bytes are gone');
SELECT pg_temp.put('a3', (pg_temp.attach('member', 'member', 'kept until the task goes', pg_temp.id('task'))::jsonb ->> 'attachment_id')::uuid) AS _ \gset
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_tasks_delete(%L)$$, pg_temp.id('task'))), 'done', 'the task is deleted (soft)');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_task_attachments_list(%L)$$, pg_temp.id('task'))),
             'CD404: task % not found', 'its attachments are gone with it');
RESET ROLE;
SELECT coditect_internal.allow_hard_delete(true);
DELETE FROM coditect.tasks WHERE id = pg_temp.id('task');
SELECT is((SELECT count(*)::int FROM coditect.storage_blobs WHERE sha256 = sha256('kept until the task goes')), 0,
          'a purged task takes its attachments and their bytes');

SELECT * FROM finish();
ROLLBACK;

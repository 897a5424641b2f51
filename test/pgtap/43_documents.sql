-- Folders, documents, versions and permissions (sql/42_documents.sql, issue 10): the folder tree
-- (computed paths, depth 10, no cycles, moves and renames rewriting every descendant, names
-- unique per parent, no delete of a non-empty folder); documents made by the API and by uploads
-- (the next version of the same document, none for the same bytes, dedup of the bytes); the
-- status machine and its tie to soft delete; access inside a tenant (private by default, grants
-- on documents and folders to users and teams, inheritance through three folder levels, a
-- document's own grants first, expiry, every level), document_access(), and what analysts see.
-- As a gateway login in request contexts, and as the DBA. Everything rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t43
\ir lib/tenants.psql
\ir lib/as_user.psql
INSERT INTO coditect.teams (tenant_id, name) VALUES (:'ta', 'Writers') RETURNING id AS team \gset
INSERT INTO coditect.team_members (tenant_id, team_id, user_id) VALUES (:'ta', :'team', pg_temp.id('member2'));
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'Docs A') RETURNING id AS pa \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'tb', 'Docs B') RETURNING id AS pb \gset

-- An upload of p_content as one append, as a user; its answer (with "target"), or the error.
CREATE FUNCTION pg_temp.upload(p_user text, p_role text, p_content text, p_metadata jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT to_jsonb(pg_temp.as_user(p_user, p_role, format(
        $q$SELECT coditect.storage_append((coditect.storage_begin_upload(%s, %L) ->> 'id')::uuid, 0, convert_to(%L, 'UTF8'))$q$,
        octet_length(convert_to(p_content, 'UTF8')), p_metadata, p_content)))
$$;
-- The JSON answer of pg_temp.upload, or NULL for an error.
CREATE FUNCTION pg_temp.answer(p jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE WHEN p #>> '{}' LIKE '{%' THEN (p #>> '{}')::jsonb END
$$;
CREATE ROLE tap43_gateway LOGIN IN ROLE coditect_gateway;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

SELECT has_table('coditect', t, 'table ' || t) FROM unnest(ARRAY['folders', 'documents', 'document_versions', 'document_permissions']) t;
SELECT columns_are('coditect', 'folders', ARRAY['tenant_id', 'id', 'project_id', 'parent_id', 'name', 'description', 'path', 'depth',
                                                 'ancestors', 'created_by', 'created_at', 'updated_at', 'deleted_at'], 'folders: the seeds'' fields, depth and ancestors');
SELECT columns_are('coditect', 'documents', ARRAY['tenant_id', 'id', 'project_id', 'folder_id', 'title', 'description', 'file_path',
                                                   'file_name', 'file_size_bytes', 'mime_type', 'checksum', 'version', 'status', 'owner_id',
                                                   'created_by', 'updated_by', 'tags', 'metadata', 'created_at', 'updated_at', 'deleted_at'],
                   'documents: the seeds'' fields');
SELECT columns_are('coditect', 'document_versions', ARRAY['tenant_id', 'id', 'document_id', 'version_number', 'blob_id', 'file_path',
                                                           'file_name', 'file_size_bytes', 'mime_type', 'checksum', 'change_summary',
                                                           'created_by', 'created_at'], 'document_versions: the seeds'' fields and the blob');
SELECT columns_are('coditect', 'document_permissions', ARRAY['tenant_id', 'id', 'document_id', 'folder_id', 'user_id', 'team_id',
                                                              'permission_level', 'granted_by', 'created_at', 'updated_at', 'expires_at'],
                   'document_permissions: the seeds'' fields');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = 'coditect.document_status'::regtype ORDER BY e.enumsortorder),
          ARRAY['draft', 'published', 'archived', 'deleted'], 'document statuses');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = 'coditect.document_permission_level'::regtype ORDER BY e.enumsortorder),
          ARRAY['view', 'edit', 'delete', 'admin'], 'permission levels, least first');
SELECT is(ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                 WHERE i.indrelid = ('coditect.' || t)::regclass AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'),
          '{}'::text[], t || ': every index leads with tenant_id')
  FROM unnest(ARRAY['folders', 'documents', 'document_versions', 'document_permissions']) t;
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.folders'::regclass AND i.indisunique AND i.indnullsnotdistinct
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(tenant_id, parent_id, name) NULLS NOT DISTINCT WHERE (deleted_at IS NULL)'),
          'folders: names unique per parent (the top level too) among live folders');
SELECT ok(EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = 'coditect.document_versions'::regclass AND c.contype = 'u'
                     AND pg_get_constraintdef(c.oid) = 'UNIQUE (tenant_id, document_id, version_number)'),
          'document_versions: (document, version_number) unique');
SELECT is((SELECT array_agg(polname || ':' || polcmd::text || ':' || polpermissive ORDER BY polname) FROM pg_policy WHERE polrelid = 'coditect.documents'::regclass),
          '{tenant_isolation_delete:d:true,tenant_isolation_insert:a:true,tenant_isolation_narrowed:r:true,tenant_isolation_update:w:true}',
          'documents: the tenant policy narrowed for reads, the tenant''s alone for writes (writes: the triggers)');

-- Analysts: everything of their tenant, nothing of another (before any request context: in this
-- transaction one would stand in for the binding).
INSERT INTO coditect.documents (tenant_id, title) VALUES (:'tb', 'B secret') RETURNING id AS b_secret \gset
INSERT INTO coditect.document_activity (tenant_id, document_id, action) VALUES (:'tb', :'b_secret', 'viewed');
CREATE ROLE tap43_analyst LOGIN;
SELECT coditect.bind_analyst('tap43_analyst', :'tb') IS NOT NULL AS _ \gset
SET SESSION AUTHORIZATION tap43_analyst;
SELECT count(*) FILTER (WHERE tenant_id = :'tb') AS an_own, count(*) FILTER (WHERE tenant_id <> :'tb') AS an_foreign FROM coditect.documents \gset
-- (document_level in the activity's policy, for a login without USAGE on coditect_internal.)
SELECT count(*) AS an_activity FROM coditect.document_activity WHERE document_id = :'b_secret' \gset
RESET SESSION AUTHORIZATION;
SELECT is(:an_own::int, 1, 'an analyst bound to B sees B''s document');
SELECT is(:an_foreign::int, 0, '... and none of A''s');
SELECT is(:an_activity::int, 1, '... and its activity (the policy''s document_level)');


------------------------------------------------------------------------------------------------
-- The folder tree
------------------------------------------------------------------------------------------------

SET ROLE tap43_gateway;
SELECT pg_temp.put('eng', (pg_temp.as_user('member', 'member', $$SELECT coditect.api_folders_create('{"name": "Eng"}') ->> 'id'$$))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT concat_ws('|', r ->> 'path', r ->> 'depth', r ->> 'ancestors') FROM coditect.api_folders_get(%L) r$$,
          pg_temp.id('eng'))), '/Eng|1|[]', 'a top folder: path /Eng, depth 1, no ancestors');
-- A chain of nine more under it: depth 10.
DO $$
DECLARE
    parent uuid := pg_temp.id('eng');
BEGIN
    FOR i IN 2..10 LOOP
        parent := (pg_temp.as_user('member', 'member', format($q$SELECT coditect.api_folders_create('{"name": "L%s", "parent_id": "%s"}') ->> 'id'$q$,
                                                             i, parent)))::uuid;
        PERFORM pg_temp.put('l' || i, parent);
    END LOOP;
END $$;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT concat_ws('|', r ->> 'path', r ->> 'depth', jsonb_array_length(r -> 'ancestors'))
                                                      FROM coditect.api_folders_get(%L) r$$, pg_temp.id('l10'))),
          '/Eng/L2/L3/L4/L5/L6/L7/L8/L9/L10|10|9', 'depth 10: the path of names, nine ancestors');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_create('{"name": "L11", "parent_id": "%s"}')$$, pg_temp.id('l10'))),
             'CD422: folders nest at most 10 deep', 'depth 11 is refused');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_update(%L, '{"parent_id": "%s"}')$$, pg_temp.id('eng'), pg_temp.id('l5'))),
             'CD422: a folder cannot move into itself or one of its subfolders', 'a cycle is refused (a folder into its subfolder)');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_update(%L, '{"parent_id": "%s"}')$$, pg_temp.id('l3'), pg_temp.id('l3'))),
             'CD422: a folder cannot move into itself%', 'a folder into itself is refused');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_create('{"name": "Eng"}')$$)),
             '23505:%', 'names are unique at the top level');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_create('{"name": "L3", "parent_id": "%s"}')$$, pg_temp.id('l2'))),
             '23505:%', '... and among a parent''s children');
SELECT alike(pg_temp.as_user('member', 'member', $$SELECT coditect.api_folders_create('{"name": "a/b"}')$$), '23514:%', 'a name has no slash');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_update(%L, '{"path": "/x"}')$$, pg_temp.id('eng'))),
             'CD400:%path%', 'path is not a field');
SELECT alike(pg_temp.as_user('member', 'member', format($$UPDATE coditect.folders SET depth = 1 WHERE id = %L$$, pg_temp.id('l3'))),
             '42501:%', 'depth cannot be written, even by SQL');
-- A move rewrites the subtree in the same statement.
SELECT pg_temp.put('ops', (pg_temp.as_user('member', 'member', $$SELECT coditect.api_folders_create('{"name": "Ops"}') ->> 'id'$$))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_update(%L, '{"parent_id": "%s"}') ->> 'path'$$, pg_temp.id('l6'), pg_temp.id('ops'))),
          '/Ops/L6', 'a move: L6 (with L7 to L10 under it) goes under Ops');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT concat_ws('|', r ->> 'path', r ->> 'depth') FROM coditect.api_folders_get(%L) r$$, pg_temp.id('l10'))),
          '/Ops/L6/L7/L8/L9/L10|6', '... its descendants'' paths and depths follow');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT (r -> 'ancestors')::text FROM coditect.api_folders_get(%L) r$$, pg_temp.id('l8'))),
          jsonb_build_array(pg_temp.id('ops'), pg_temp.id('l6'), pg_temp.id('l7'))::text, '... and their ancestors');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_update(%L, '{"name": "Operations"}') ->> 'path'$$, pg_temp.id('ops'))),
          '/Operations', 'a rename');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_get(%L) ->> 'path'$$, pg_temp.id('l10'))),
          '/Operations/L6/L7/L8/L9/L10', '... rewrites the paths below');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_update(%L, '{"parent_id": "%s"}')$$, pg_temp.id('ops'), pg_temp.id('l5'))),
             'CD422: folders nest at most 10 deep: the move would make 11 levels', 'a move that would nest 11 deep is refused');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT string_agg(r ->> 'path', ',' ORDER BY n) FROM jsonb_array_elements(
                                                 coditect.api_folders_list('{"depth__lte": 2}', 1, 50, NULL, 'path') -> 'results') WITH ORDINALITY x(r, n)$$),
          '/Eng,/Eng/L2,/Operations,/Operations/L6', 'tree listing: ordered by path, to a depth');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_list(jsonb_build_object('ancestors__contains', %L)) ->> 'count'$$,
          pg_temp.id('l6'))), '4', 'a subtree: ancestors__contains');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_delete(%L)$$, pg_temp.id('l9'))),
             'CD409: folder "L9" is not empty%', 'a folder with a subfolder cannot be deleted');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_folders_delete(%L)$$, pg_temp.id('l10'))), 'done', 'an empty one can');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Documents, versions, uploads
------------------------------------------------------------------------------------------------

SET ROLE tap43_gateway;
SELECT pg_temp.put('spec', (pg_temp.as_user('member', 'member', format(
    $$SELECT coditect.api_documents_create('{"title": "Spec", "folder_id": "%s", "project_id": "%s", "tags": ["design"]}') ->> 'id'$$,
    pg_temp.id('eng'), :'pa')))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT concat_ws('|', r ->> 'version', r ->> 'status', r ->> 'owner_id' = %L, r ->> 'file_name')
                                                      FROM coditect.api_documents_get(%L) r$$, pg_temp.id('member'), pg_temp.id('spec'))),
          '0|draft|t', 'a document made by the API: version 0, a draft, owned by its creator, no file yet');
SELECT is((pg_temp.answer(pg_temp.upload('member', 'member', 'first text', jsonb_build_object('filename', 'spec.md', 'content_type', 'text/markdown',
          'target_kind', 'document', 'target_id', pg_temp.id('spec'), 'change_summary', 'first draft'))) -> 'target') - 'document_id',
          '{"version_number": 1, "created": true}', 'an upload to the document is its version 1');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT concat_ws('|', r ->> 'version', r ->> 'file_name', r ->> 'file_size_bytes', r ->> 'mime_type',
                                                                     r ->> 'checksum' = encode(sha256('first text'), 'hex'), r ->> 'file_path' LIKE 'db:%%')
                                                      FROM coditect.api_documents_get(%L) r$$, pg_temp.id('spec'))),
          '1|spec.md|10|text/markdown|t|t', 'the document shows its current file');
SELECT is((pg_temp.answer(pg_temp.upload('member', 'member', 'first text', jsonb_build_object('filename', 'spec.md',
          'target_kind', 'document', 'target_id', pg_temp.id('spec')))) -> 'target') - 'document_id',
          '{"version_number": 1, "created": false}', 'the same bytes again make no version');
SELECT is(pg_temp.answer(pg_temp.upload('member', 'member', 'second text', jsonb_build_object('filename', 'spec.md', 'target_kind', 'document',
          'folder_id', pg_temp.id('eng')))) -> 'target',
          jsonb_build_object('document_id', pg_temp.id('spec'), 'version_number', 2, 'created', true),
          'a new upload of the same file name into the same folder is the next version of that document');
SELECT is(pg_temp.answer(pg_temp.upload('member', 'member', 'third text', jsonb_build_object('filename', 'SPEC.MD', 'target_kind', 'document',
          'folder_id', pg_temp.id('eng')))) #>> '{target,version_number}', '3', '... the file name''s letter case aside');
SELECT pg_temp.put('other', (pg_temp.answer(pg_temp.upload('member', 'member', 'second text', jsonb_build_object('filename', 'notes.md',
          'target_kind', 'document', 'folder_id', pg_temp.id('eng'), 'title', 'Notes'))) #>> '{target,document_id}')::uuid) AS _ \gset
SELECT isnt(pg_temp.id('other'), pg_temp.id('spec'), 'another file name makes another document');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT concat_ws('|', r ->> 'title', r ->> 'version', r ->> 'folder_id' = %L) FROM coditect.api_documents_get(%L) r$$,
          pg_temp.id('eng'), pg_temp.id('other'))), 'Notes|1|t', '... with the title and folder of its metadata');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT count(*)::text FROM coditect.storage_blobs WHERE sha256 = sha256('second text')$$), '1',
          'the same bytes in two documents are stored once');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT string_agg(concat_ws(':', r ->> 'version_number', r ->> 'change_summary'), ',' ORDER BY n)
                                                      FROM jsonb_array_elements(coditect.api_document_versions_list(%L) -> 'results') WITH ORDINALITY x(r, n)$$,
          pg_temp.id('spec'))), '3:,2:,1:first draft', 'the versions, newest first');
SELECT alike(pg_temp.as_user('member', 'member', format($$INSERT INTO coditect.document_versions (tenant_id, document_id, version_number, blob_id, file_path, file_name, file_size_bytes, mime_type, checksum)
                                                         SELECT tenant_id, document_id, 9, blob_id, file_path, file_name, file_size_bytes, mime_type, checksum FROM coditect.document_versions WHERE document_id = %L LIMIT 1$$,
             pg_temp.id('spec'))), '42501:%', 'versions are written by uploads only');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT concat_ws('|', r ->> 'size', r ->> 'filename', r ->> 'sha256' = encode(sha256('first text'), 'hex'))
                                                      FROM coditect.document_download(%L, 1) r$$, pg_temp.id('spec'))),
          '10|spec.md|t', 'download: a version''s file');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT convert_from(coditect.storage_read((coditect.document_download(%L) ->> 'blob_id')::uuid, 0, 100), 'UTF8')$$,
          pg_temp.id('spec'))), 'third text', 'download: the current version''s bytes');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_download(%L, 9)$$, pg_temp.id('spec'))),
             'CD404: document % has no version 9', 'download: an unknown version is CD404');
SELECT alike(pg_temp.upload('member', 'member', 'x', jsonb_build_object('filename', 'x.md', 'target_kind', 'folder', 'target_id', pg_temp.id('eng'))) #>> '{}',
             'CD400: unknown upload target "folder"%', 'an unknown upload target is refused when declared');
SELECT alike(pg_temp.upload('member', 'member', 'x', jsonb_build_object('filename', 'x.md', 'target_kind', 'document', 'target_id', coditect.uuid_generate_v7())) #>> '{}',
             'CD404: document % not found', 'an upload to an unknown document is refused when declared');
SELECT alike(pg_temp.upload('guest', 'guest', 'x', jsonb_build_object('filename', 'x.md', 'target_kind', 'document')) #>> '{}',
             'CD403:%', 'a guest uploads nothing');

-- Status: the machine, and deletion as the status "deleted".
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_update(%L, '{"status": "published"}') ->> 'status'$$, pg_temp.id('spec'))),
          'published', 'draft -> published');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_update(%L, '{"status": "draft"}')$$, pg_temp.id('other'))),
             '{%', 'a draft stays a draft (no change)');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_update(%L, '{"status": "archived"}') ->> 'status'$$, pg_temp.id('spec'))),
          'archived', 'published -> archived');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_update(%L, '{"status": "draft"}')$$, pg_temp.id('spec'))),
             'CD422:%', 'archived -> draft is refused (publish it again first)');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_delete(%L)$$, pg_temp.id('spec'))), 'done', 'its owner deletes it');
RESET ROLE;
SELECT is((SELECT status::text || '|' || (deleted_at IS NOT NULL) FROM coditect.documents WHERE id = pg_temp.id('spec')), 'deleted|true',
          'a soft-deleted document has the status deleted');
SET ROLE tap43_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_documents_restore(%L) ->> 'status'$$, pg_temp.id('spec'))), 'draft',
          'a restored document is a draft');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_update(%L, '{"status": "deleted"}') ->> 'status'$$, pg_temp.id('other'))),
          'deleted', 'the status deleted is a soft delete');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_get(%L)$$, pg_temp.id('other'))), 'CD404:%', '... the document is gone');
RESET ROLE;

------------------------------------------------------------------------------------------------
-- Access inside the tenant
------------------------------------------------------------------------------------------------

-- Fixtures by the owner: Eng/L2/L3 holds "deep", the top holds "top", L3 holds "own" with a
-- grant of its own.
SET ROLE tap43_gateway;
SELECT pg_temp.put('deep', (pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_documents_create('{"title": "Deep", "folder_id": "%s"}') ->> 'id'$$,
                                                                     pg_temp.id('l3'))))::uuid) AS _ \gset
SELECT pg_temp.put('own', (pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_documents_create('{"title": "Own grants", "folder_id": "%s"}') ->> 'id'$$,
                                                                    pg_temp.id('l3'))))::uuid) AS _ \gset
SELECT pg_temp.put('top', (pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_documents_create('{"title": "Top"}') ->> 'id'$$))::uuid) AS _ \gset
CREATE FUNCTION pg_temp.role_of(p_user text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE p_user WHEN 'member2' THEN 'member' ELSE p_user END
$$;
CREATE FUNCTION pg_temp.sees(p_user text, p_doc text) RETURNS boolean LANGUAGE sql AS $$
    SELECT pg_temp.as_user(p_user, pg_temp.role_of(p_user),
                           format('SELECT coditect.api_documents_get(%L) ->> ''id''', pg_temp.id(p_doc))) = pg_temp.id(p_doc)::text
$$;
CREATE FUNCTION pg_temp.access(p_user text, p_doc text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user(p_user, pg_temp.role_of(p_user),
                           format('SELECT concat_ws(''|'', a ->> ''level'', a ->> ''source'') FROM coditect.document_access(%L) a', pg_temp.id(p_doc)))
$$;
SELECT ok(NOT pg_temp.sees('member2', 'deep') AND NOT pg_temp.sees('guest', 'top'), 'private by default: without a grant a member or guest sees nothing');
SELECT ok(pg_temp.sees('admin', 'deep') AND pg_temp.sees('owner', 'top'), 'owners and admins of the tenant see everything');
SELECT is(pg_temp.access('admin', 'deep'), 'admin|role', 'document_access: an admin''s level comes from the role');
SELECT alike(pg_temp.access('member2', 'deep'), 'CD404:%', 'document_access: a document one cannot see is not found');
SELECT is(pg_temp.as_user('member2', 'member', $$SELECT coditect.api_documents_list() ->> 'count'$$), '0', 'member2 lists no document');

-- A grant on the top folder to the team: inherited three levels down.
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_document_permissions_create('{"folder_id": "%s", "team_id": "%s", "permission_level": "view"}') ->> 'permission_level'$$,
          pg_temp.id('eng'), :'team')), 'view', 'the owner grants view on Eng to the team');
SELECT ok(pg_temp.sees('member2', 'deep'), 'member2 (in the team) sees a document three folders down');
SELECT is(pg_temp.access('member2', 'deep'), 'view|folder', 'document_access: view, from a folder');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.document_access(%L) ->> 'source_id'$$, pg_temp.id('deep'))),
          pg_temp.id('eng')::text, '... the folder it comes from');
SELECT ok(NOT pg_temp.sees('member2', 'top'), '... but not one outside the folder');
SELECT ok(NOT pg_temp.sees('guest', 'deep'), '... and nobody outside the team');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT count(*)::text FROM coditect.folders WHERE id IN (%L, %L, %L)$$,
          pg_temp.id('eng'), pg_temp.id('l2'), pg_temp.id('l3'))), '3', 'member2 sees the folders too');
SELECT alike(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_documents_update(%L, '{"title": "Mine now"}')$$, pg_temp.id('deep'))),
             'CD403: changing a document needs the edit level', 'view does not edit');
SELECT alike(pg_temp.as_user('member2', 'member', format($$UPDATE coditect.documents SET title = 'Mine now' WHERE id = %L$$, pg_temp.id('deep'))),
             'CD403: changing a document needs the edit level', '... by direct SQL neither');
SELECT alike(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_folders_create('{"name": "Mine", "parent_id": "%s"}')$$, pg_temp.id('l3'))),
             'CD403: putting a folder into another needs the edit level', 'view does not add a subfolder');
-- A nearer folder's grant wins over the farther one.
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_document_permissions_create('{"folder_id": "%s", "user_id": "%s", "permission_level": "edit"}') ->> 'permission_level'$$,
          pg_temp.id('l2'), pg_temp.id('member'))), 'edit', 'the owner grants edit on L2 to the member');
SELECT is(pg_temp.access('member', 'deep'), 'edit|folder', 'the member edits what L2 holds');
SELECT ok(NOT pg_temp.sees('member2', 'deep'), 'the nearest folder with grants decides: member2''s team grant on Eng no longer reaches below L2');
-- A document's own grants come first.
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_document_permissions_create('{"document_id": "%s", "user_id": "%s", "permission_level": "delete"}') ->> 'permission_level'$$,
          pg_temp.id('own'), pg_temp.id('member2'))), 'delete', 'a grant of delete on one document to member2');
SELECT is(pg_temp.access('member2', 'own'), 'delete|document', 'member2''s level comes from the document''s own grant');
SELECT ok(NOT pg_temp.sees('member', 'own'), 'the member''s folder grant does not reach a document with grants of its own');
-- Each level.
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_update(%L, '{"title": "Deeper"}') ->> 'title'$$, pg_temp.id('deep'))),
          'Deeper', 'edit: the member changes the title');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_delete(%L)$$, pg_temp.id('deep'))),
             'CD403: deleting or restoring a document needs the delete level', 'edit does not delete');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_update(%L, '{"folder_id": null}')$$, pg_temp.id('deep'))),
             'CD403: moving a document where its edit level would be lost%', 'the member cannot move a document out of its own reach (to the top)');
SELECT alike(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_documents_update(%L, jsonb_build_object('owner_id', %L))$$,
             pg_temp.id('own'), pg_temp.id('member2'))), 'CD403: giving a document to another owner needs the admin level', 'delete level: no change of owner');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_document_permissions_list(jsonb_build_object('document_id', %L)) ->> 'count'$$,
          pg_temp.id('own'))), '1', 'member2 sees the document''s grants');
SELECT alike(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_document_permissions_create(jsonb_build_object('document_id', %L, 'user_id', %L))$$,
             pg_temp.id('own'), pg_temp.id('guest'))), 'CD403: managing the permissions of a document or folder needs the admin level', '... but only the admin level grants');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_documents_delete(%L)$$, pg_temp.id('own'))), 'done', 'delete level deletes');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_documents_restore(%L) ->> 'id'$$, pg_temp.id('own'))), pg_temp.id('own')::text, '(restored)');
SELECT is(pg_temp.as_user('owner', 'owner', format($$UPDATE coditect.document_permissions SET permission_level = 'admin' WHERE document_id = %L RETURNING permission_level::text$$,
          pg_temp.id('own'))), 'admin', 'the owner raises the grant to admin');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_document_permissions_create(jsonb_build_object('document_id', %L, 'user_id', %L)) ->> 'permission_level'$$,
          pg_temp.id('own'), pg_temp.id('guest'))), 'view', 'admin level: member2 grants view to the guest');
SELECT ok(pg_temp.sees('guest', 'own'), '... who sees it');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_documents_update(%L, '{"title": "x"}')$$, pg_temp.id('own'))),
             'CD403: permission denied: document.update%', 'a grant does not lift a role''s limits: a guest only reads');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_documents_update(%L, jsonb_build_object('owner_id', %L)) ->> 'owner_id'$$,
          pg_temp.id('own'), pg_temp.id('member2'))), pg_temp.id('member2')::text, 'admin level: member2 takes ownership');
SELECT is(pg_temp.access('member2', 'own'), 'admin|owner', '... and is its owner');
-- Expiry.
SELECT is(pg_temp.as_user('owner', 'owner', format($$UPDATE coditect.document_permissions SET expires_at = now() - interval '1 second'
                                                      WHERE folder_id = %L AND user_id = %L RETURNING 'expired'$$, pg_temp.id('l2'), pg_temp.id('member'))),
          'expired', 'the member''s grant on L2 expires');
SELECT ok(NOT pg_temp.sees('member', 'deep'), 'an expired grant gives nothing');
SELECT ok(pg_temp.sees('member2', 'deep'), '... and no longer hides the farther folder''s grant: member2 sees it again');
RESET ROLE;

-- The read policies (sets computed once per query) and document_grant() (one row) agree, for
-- every user of A and every document and folder, with the grants above.
CREATE TEMP TABLE every_row AS
SELECT 'document' AS kind, id, folder_id AS folder, owner_id AS owner FROM coditect.documents WHERE tenant_id = :'ta'
UNION ALL SELECT 'folder', id, id, created_by FROM coditect.folders WHERE tenant_id = :'ta';
GRANT SELECT ON every_row TO PUBLIC;
SET ROLE tap43_gateway;
SELECT is(pg_temp.as_user(u, pg_temp.role_of(u), format($$
              SELECT string_agg(kind || ':' || id, ',' ORDER BY kind, id) FROM pg_temp.every_row r
               WHERE (coditect_internal.document_grant(%L, CASE WHEN kind = 'document' THEN r.id END, r.folder, r.owner)).level >= 1$$, :'ta')),
          pg_temp.as_user(u, pg_temp.role_of(u), $$
              SELECT string_agg(kind || ':' || id, ',' ORDER BY kind, id) FROM (
                  SELECT 'document' AS kind, id FROM coditect.documents UNION ALL SELECT 'folder', id FROM coditect.folders) v$$),
          u || ': the read policies show exactly what document_grant() gives the view level')
  FROM unnest(ARRAY['owner', 'admin', 'member', 'member2', 'guest']) u;
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

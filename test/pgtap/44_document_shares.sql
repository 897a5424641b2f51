-- Shares and activity (sql/44_document_shares.sql, issue 10 items 6 and 7): the tables; tokens
-- never stored in clear (every column of the shares, the audit trail, the activity, the global
-- keys); who may create, list and revoke shares; the expiry cap from the tenant's setting;
-- opening a share (view, download, password, expired, revoked, locked, unknown, another
-- tenant's document): one NULL answer (the gateway's one 404) for every refusal; the lockout
-- after wrong passwords and its reset; access counting; the read grant of a public download;
-- the activity of views, downloads, uploads, edits, deletes, restores and shares, with IP and
-- user agent, each change once; the activity endpoint under the document's row access; the
-- catalog's "writes" flag. As a gateway login in request contexts, and as the DBA. Rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t44
\ir lib/tenants.psql
\ir lib/as_user.psql

-- as_user with the client's IP and user agent in the context (recorded with the activity).
CREATE FUNCTION pg_temp.as_client(p_user text, p_role text, p_ip inet, p_ua text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM coditect.set_request_context(current_setting('tap.tenant')::uuid,
                                         current_setting('tap.user.' || p_user)::uuid, p_role, p_ip, p_ua);
    EXECUTE p_sql INTO r;
    RETURN coalesce(nullif(r, ''), 'done');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- An upload of p_content (one append) as a user from an address; the answer's target.
CREATE FUNCTION pg_temp.upload(p_user text, p_content text, p_metadata jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT (pg_temp.as_client(p_user, 'member', '198.51.100.7', 'tap-uploader/1', format(
        $q$SELECT coditect.storage_append((coditect.storage_begin_upload(%s, %L) ->> 'id')::uuid, 0, convert_to(%L, 'UTF8')) -> 'target'$q$,
        octet_length(convert_to(p_content, 'UTF8')), p_metadata, p_content)))::jsonb
$$;
-- The activity of a document, oldest first, as "action:user:version:ip:ua:share" (the DBA's view).
CREATE FUNCTION pg_temp.activity(p_doc uuid) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(concat_ws(':', a.action, coalesce((SELECT r.k FROM pg_temp.refs r WHERE r.id = a.user_id LIMIT 1), '-'),
                                        coalesce(a.version_number::text, '-'), coalesce(host(a.ip_address), '-'),
                                        coalesce(a.user_agent, '-'), CASE WHEN a.share_id IS NULL THEN '-' ELSE 'share' END)
                             ORDER BY a.created_at, a.id), '{}')
      FROM coditect.document_activity a WHERE a.document_id = p_doc
$$;
CREATE ROLE tap44_gateway LOGIN IN ROLE coditect_gateway;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
UPDATE coditect.tenants SET share_max_days = 10 WHERE id = :'ta';

------------------------------------------------------------------------------------------------
-- Tables and catalog
------------------------------------------------------------------------------------------------

SELECT columns_are('coditect', 'document_shares',
    ARRAY['tenant_id', 'id', 'document_id', 'share_token_hash', 'created_by', 'permission_level', 'expires_at', 'password_hash',
          'access_count', 'last_accessed_at', 'failed_attempts', 'locked_until', 'is_active', 'created_at', 'updated_at'],
    'document_shares: the seeds'' fields (the token as its hash) and the lockout');
SELECT columns_are('coditect', 'document_activity',
    ARRAY['tenant_id', 'id', 'document_id', 'user_id', 'action', 'ip_address', 'user_agent', 'share_id', 'version_number', 'created_at'],
    'document_activity: the seeds'' fields, the share and the version');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = 'coditect.document_activity_action'::regtype ORDER BY e.enumsortorder),
          ARRAY['viewed', 'downloaded', 'uploaded', 'edited', 'deleted', 'restored', 'shared'], 'activity actions: the seeds''');
SELECT is(ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = 'coditect.document_share_level'::regtype ORDER BY e.enumsortorder),
          ARRAY['view', 'download'], 'share levels: view, download');
SELECT is(ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                 WHERE i.indrelid = ('coditect.' || t)::regclass AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'),
          '{}'::text[], t || ': every index leads with tenant_id')
  FROM unnest(ARRAY['document_shares', 'document_activity']) t;
SELECT ok(NOT has_table_privilege('coditect_gateway', 'coditect.' || t, 'INSERT')
          AND NOT has_table_privilege('coditect_gateway', 'coditect.' || t, 'UPDATE')
          AND NOT has_table_privilege('coditect_gateway', 'coditect.' || t, 'DELETE'),
          t || ': written by its functions only')
  FROM unnest(ARRAY['document_shares', 'document_activity']) t;
SELECT is((SELECT t.share_max_days FROM coditect.tenants t WHERE t.id = :'tb'), 30, 'a tenant''s shares last at most 30 days by default');
SELECT is(pg_temp.try($$UPDATE coditect.tenants SET share_max_days = 0 WHERE slug = 't44-b'$$),
          '23514: new row for relation "tenants" violates check constraint "tenants_share_max_days_check"', '... 1 to 365');
SELECT is((SELECT array_agg(o.path || ' ' || o.method ORDER BY o.path, o.method) FROM coditect_internal.resource_operations o WHERE o.writes),
          ARRAY['/api/v1/compliance-reports/{id}/pdf GET', '/api/v1/documents/{id}/ GET', '/api/v1/documents/{id}/content GET', '/api/v1/tasks/{task_id}/attachments/{id}/content GET',
                '/s/{token}/ GET', '/s/{token}/content GET'],
          'the GETs that write: a document''s detail and the downloads (recorded, audited), the public share routes');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(coditect.api_catalog() -> 'operations') o WHERE (o ->> 'writes')::boolean), 6,
          'api_catalog() publishes the writes flag');
SELECT is((SELECT o.auth || ' ' || (o.response -> 'null_answer' ->> 'status') || ' ' || (o.params -> 0 ->> 'secret')
             FROM coditect_internal.resource_operations o WHERE o.path = '/s/{token}/'),
          'none 404 true', 'GET /s/{token}/: no login, a NULL answer is 404, the token is a secret path parameter');
SELECT is(provolatile::text, 'v', 'the document get is volatile (it records "viewed")') FROM pg_proc WHERE oid = 'coditect.api_documents_get(uuid)'::regprocedure;

------------------------------------------------------------------------------------------------
-- Activity of changes, and of reads by members
------------------------------------------------------------------------------------------------

SET ROLE tap44_gateway;
SELECT pg_temp.put('doc', (pg_temp.upload('member', 'first draft', '{"filename": "plan.txt", "filetype": "text/plain", "target_kind": "document"}') ->> 'document_id')::uuid) AS _ \gset
SELECT is(pg_temp.activity(pg_temp.id('doc')), ARRAY['uploaded:member:1:198.51.100.7:tap-uploader/1:-'],
          'an upload that makes a document: "uploaded", version 1, with the uploader, IP and user agent');
SELECT is(pg_temp.as_client('member', 'member', '198.51.100.8', 'tap-editor/2',
                            format($$SELECT coditect.api_documents_update(%L, '{"title": "Plan", "tags": ["q3"]}') ->> 'title'$$, pg_temp.id('doc'))),
          'Plan', 'an edit');
SELECT is((pg_temp.upload('member', 'second draft', jsonb_build_object('filename', 'plan.txt', 'filetype', 'text/plain',
                                                                        'target_kind', 'document', 'target_id', pg_temp.id('doc'))) ->> 'version_number'),
          '2', 'a second version');
SELECT is((pg_temp.upload('member', 'second draft', jsonb_build_object('filename', 'plan.txt', 'filetype', 'text/plain',
                                                                        'target_kind', 'document', 'target_id', pg_temp.id('doc'))) ->> 'created'),
          'false', 'the same bytes again: no version');
SELECT is(pg_temp.as_client('member', 'member', '198.51.100.9', 'tap-reader/3',
                            format($$SELECT coditect.api_documents_get(%L) ->> 'version'$$, pg_temp.id('doc'))), '2', 'a detail read');
SELECT is(pg_temp.as_client('member', 'member', '198.51.100.9', 'tap-reader/3',
                            format($$SELECT coditect.document_download(%L) ->> 'size'$$, pg_temp.id('doc'))), '12', 'a download');
SELECT is(pg_temp.as_client('member', 'member', '198.51.100.9', 'tap-reader/3',
                            format($$SELECT coditect.document_download(%L, 1) ->> 'size'$$, pg_temp.id('doc'))), '11', 'a download of version 1');
SELECT is(pg_temp.as_client('member', 'member', '198.51.100.10', 'tap-deleter/4',
                            format($$SELECT coditect.api_documents_delete(%L)$$, pg_temp.id('doc'))), 'done', 'a delete');
SELECT is(pg_temp.as_client('admin', 'admin', '198.51.100.11', 'tap-admin/5',
                            format($$SELECT coditect.api_documents_restore(%L) ->> 'status'$$, pg_temp.id('doc'))), 'draft', 'a restore');
SELECT is(pg_temp.activity(pg_temp.id('doc')),
          ARRAY['uploaded:member:1:198.51.100.7:tap-uploader/1:-', 'edited:member:-:198.51.100.8:tap-editor/2:-',
                'uploaded:member:2:198.51.100.7:tap-uploader/1:-', 'viewed:member:-:198.51.100.9:tap-reader/3:-',
                'downloaded:member:2:198.51.100.9:tap-reader/3:-', 'downloaded:member:1:198.51.100.9:tap-reader/3:-',
                'deleted:member:-:198.51.100.10:tap-deleter/4:-', 'restored:admin:-:198.51.100.11:tap-admin/5:-'],
          'each change once (a version is "uploaded", never also "edited"; the same bytes nothing), reads recorded, with who, IP and user agent');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_documents_get(%L)$$, pg_temp.id('doc'))),
          format('CD404: document %s not found', pg_temp.id('doc')), 'a member without a grant does not see the document');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect_internal.record_document_read(%L, 'viewed')$$, pg_temp.id('doc'))),
          format('CD404: document %s not found', pg_temp.id('doc')), '... and cannot record a read of it');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect_internal.record_document_read(%L, 'edited')$$, pg_temp.id('doc'))),
          'CD400: only reads are recorded explicitly', 'changes are the triggers'' to record');
SELECT is(pg_temp.try($$INSERT INTO coditect.document_activity (tenant_id, document_id, action) VALUES (coditect.current_tenant_id(), pg_temp.id('doc'), 'viewed')$$),
          '42501: permission denied for table document_activity', 'no login writes the activity directly');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_document_activity_list(%L)$$, pg_temp.id('doc'))),
          format('CD404: document %s not found', pg_temp.id('doc')), 'the activity of a document one cannot read: 404');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_document_activity_list(%L) ->> 'count'$$, pg_temp.id('doc'))),
          format('CD404: document %s not found', pg_temp.id('doc')), '... for a guest without a grant too');
RESET ROLE;
INSERT INTO coditect.document_permissions (tenant_id, document_id, user_id, permission_level)
VALUES (:'ta', pg_temp.id('doc'), pg_temp.id('guest'), 'view'), (:'ta', pg_temp.id('doc'), pg_temp.id('member2'), 'edit');
SET ROLE tap44_gateway;
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT jsonb_array_length(coditect.api_document_activity_list(%L) -> 'results')$$, pg_temp.id('doc'))),
          '8', 'a guest with the view level reads the document''s activity');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT string_agg(e ->> 'action', ',') FROM jsonb_array_elements(coditect.api_document_activity_list(%L, '{"action__in": "viewed,downloaded"}') -> 'results') e$$, pg_temp.id('doc'))),
          'downloaded,downloaded,viewed', '... newest first, filtered by action');

------------------------------------------------------------------------------------------------
-- Creating shares: who, the expiry cap, the token shown once
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.document_share_create(%L, 'view', NULL, NULL)$$, pg_temp.id('doc'))),
          'CD403: permission denied: document_share.create needs a role that holds it (current role: guest)', 'guests make no shares');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.document_share_create(%L, 'view', NULL, NULL)$$, pg_temp.id('doc'))),
          'CD403: sharing a document by a public link needs the admin level', 'the edit level is not enough');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_create(%L, 'edit', NULL, NULL)$$, pg_temp.id('doc'))),
          'CD400: permission_level must be view or download', 'view or download only');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_create(%L, 'view', now() + interval '10 days 1 second', NULL)$$, pg_temp.id('doc'))),
          'CD422: a share lasts at most 10 days in this tenant', 'the expiry is capped by the tenant''s setting');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_create(%L, 'view', now() - interval '1 second', NULL)$$, pg_temp.id('doc'))),
          'CD400: expires_at must be in the future', 'an expiry in the past');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_create(%L, 'view', NULL, 'short')$$, pg_temp.id('doc'))),
          'CD400: a share''s password is 8 to 1024 characters', 'a password of 8 characters at least');

-- The owner of the document (a member) makes a view share, a download share and one with a password.
SELECT pg_temp.as_client('member', 'member', '203.0.113.1', 'tap-sharer/1',
                         format($$SELECT coditect.document_share_create(%L, 'view', NULL, NULL)$$, pg_temp.id('doc'))) AS view_link \gset
SELECT pg_temp.as_user('member', 'member',
                       format($$SELECT coditect.document_share_create(%L, 'download', now() + interval '10 days', NULL)$$, pg_temp.id('doc'))) AS dl_link \gset
SELECT pg_temp.as_user('admin', 'admin',
                       format($$SELECT coditect.document_share_create(%L, 'download', NULL, 'open sesame')$$, pg_temp.id('doc'))) AS pw_link \gset
SELECT :'view_link'::jsonb ->> 'token' AS view_token, :'dl_link'::jsonb ->> 'token' AS dl_token, :'pw_link'::jsonb ->> 'token' AS pw_token,
       :'view_link'::jsonb #>> '{share,id}' AS view_id, :'dl_link'::jsonb #>> '{share,id}' AS dl_id, :'pw_link'::jsonb #>> '{share,id}' AS pw_id \gset
SELECT ok(:'view_token'::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', 'the token: 128 bits, written as a UUID');
SELECT isnt(:'view_token'::text, :'dl_token'::text, 'every share has its own token');
SELECT is(:'view_link'::jsonb ->> 'path', '/s/' || :'view_token' || '/', 'the answer gives the public path');
SELECT is((:'view_link'::jsonb #>> '{share,expires_at}')::timestamptz, now() + interval '10 days', 'no expiry given: the tenant''s cap (10 days)');
SELECT is(jsonb_build_array(:'view_link'::jsonb -> 'share' ? 'share_token_hash', :'view_link'::jsonb -> 'share' ? 'password_hash',
                            :'pw_link'::jsonb #> '{share,has_password}', :'view_link'::jsonb #> '{share,has_password}'),
          '[false, false, true, false]', 'the answer has no hash, and says whether there is a password');

-- The token is nowhere in clear: no column of any share, no audit row, no activity, no global key.
RESET ROLE;
SELECT is((SELECT count(*)::int FROM coditect.document_shares s
            WHERE row_to_json(s)::text ILIKE ANY (ARRAY['%' || :'view_token' || '%', '%' || :'dl_token' || '%', '%' || :'pw_token' || '%',
                                                         '%' || replace(:'view_token', '-', '') || '%', '%' || replace(:'pw_token', '-', '') || '%'])), 0,
          'no column of document_shares holds a token (with or without dashes)');
SELECT is((SELECT share_token_hash::text FROM coditect.document_shares WHERE id = :'view_id'), encode(sha256(uuid_send(:'view_token'::uuid)), 'hex'),
          'the share keeps the SHA-256 of the token''s bytes');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a
            WHERE a.tenant_id = :'ta' AND row_to_json(a)::text ILIKE ANY (ARRAY['%' || :'view_token' || '%', '%' || :'pw_token' || '%',
                                                                                 '%' || replace(:'view_token', '-', '') || '%', '%open sesame%'])), 0,
          'no audit row holds a token or a password');
SELECT is((SELECT (a.changes -> 'share_token_hash' ->> 1) || (a.changes -> 'password_hash' ->> 1) FROM coditect.audit_logs a
            WHERE a.action = 'document_share.create' AND a.resource_id = :'pw_id'), '[REDACTED][REDACTED]',
          'the audit trail redacts the hashes too');
SELECT is((SELECT count(*)::int FROM coditect.document_activity a WHERE row_to_json(a)::text ILIKE '%' || :'view_token' || '%'), 0, 'no activity holds a token');
SELECT is((SELECT count(*)::int FROM coditect_internal.global_keys g WHERE g.value ILIKE ANY (ARRAY['%' || :'view_token' || '%', '%' || replace(:'view_token', '-', '') || '%'])), 0,
          'the global key is the hash too');
SELECT ok((SELECT password_hash FROM coditect.document_shares WHERE id = :'pw_id') LIKE '$scrypt$ln=15,r=8,p=3$%', 'the password: scrypt (N=2^15, r=8, p=3), salted');
SELECT is((pg_temp.activity(pg_temp.id('doc')))[9:], ARRAY['shared:member:-:203.0.113.1:tap-sharer/1:share', 'shared:member:-:-:-:share', 'shared:admin:-:-:-:share'],
          'making a share is recorded as "shared", with who and from where');
SET ROLE tap44_gateway;

-- Listing: those who may manage the document's shares.
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_document_shares_list(%L) ->> 'count'$$, pg_temp.id('doc'))), '3',
          'the document''s owner lists its shares');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.api_document_shares_list(%L) ->> 'count'$$, pg_temp.id('doc'))), '0',
          'the edit level sees none');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_document_shares_get(%L, %L) ?| ARRAY['share_token_hash', 'password_hash']$$, pg_temp.id('doc'), :'pw_id')),
          'false', 'a share as the API answers it has no hashes');

------------------------------------------------------------------------------------------------
-- Opening shares: one NULL (the same 404) for every refusal
------------------------------------------------------------------------------------------------

SELECT (coditect.share_open(:'view_token', NULL, '192.0.2.1', 'curl/8')) AS opened \gset
SELECT is(jsonb_build_array(:'opened'::jsonb ->> 'title', :'opened'::jsonb ->> 'permission_level', :'opened'::jsonb ->> 'content_path',
                            :'opened'::jsonb ->> 'file_size_bytes'),
          '["Plan", "view", null, "12"]', 'a view share shows the document''s description, no content path');
SELECT is(coditect.share_download(:'view_token', NULL, '192.0.2.1', 'curl/8'), NULL, 'a view share has no content');
SELECT is((coditect.share_open(:'dl_token', NULL, '192.0.2.2', 'wget/1')) ->> 'content_path', '/s/' || :'dl_token' || '/content',
          'a download share gives its content path');
SELECT (coditect.share_download(:'dl_token', NULL, '192.0.2.2', 'wget/1')) AS decision \gset
SELECT is(jsonb_build_array(:'decision'::jsonb ->> 'size', :'decision'::jsonb ->> 'filename', :'decision'::jsonb ->> 'content_type'),
          '["12", "plan.txt", "text/plain"]', 'a download share''s decision: the current version');
SELECT is(convert_from(coditect_internal.storage_read_granted((:'decision'::jsonb ->> 'blob_id')::uuid, 0, 100), 'UTF8'), 'second draft',
          'the decision grants its blob to the transaction (read without a request context)');
SELECT is(pg_temp.try(format('SELECT coditect_internal.storage_read_granted(%L, 0, 10)', (SELECT v.blob_id FROM coditect.document_versions v WHERE v.document_id = pg_temp.id('doc') AND v.version_number = 1))),
          'CD404: blob ' || (SELECT v.blob_id FROM coditect.document_versions v WHERE v.document_id = pg_temp.id('doc') AND v.version_number = 1) || ' not found',
          '... and no other blob');
SELECT is(coditect.share_open(gen_random_uuid(), NULL, NULL, NULL), NULL, 'an unknown token: NULL');
SELECT is(coditect.share_open(NULL, NULL, NULL, NULL), NULL, 'no token: NULL');

-- Passwords and the lockout.
SELECT is(coditect.share_open(:'pw_token', NULL, '192.0.2.3', 'x'), NULL, 'a password share without the password: NULL');
SELECT is(coditect.share_open(:'pw_token', 'open sesamE', '192.0.2.3', 'x'), NULL, '... with a wrong one: NULL');
SELECT is(coditect.share_download(:'pw_token', 'wrong wrong', '192.0.2.3', 'x'), NULL, '... its content with a wrong one: NULL');
SELECT is((coditect.share_open(:'pw_token', 'open sesame', '192.0.2.3', 'x')) ->> 'title', 'Plan', '... with the right one: the document');
RESET ROLE;
SELECT is((SELECT failed_attempts FROM coditect.document_shares WHERE id = :'pw_id'), 0, 'the right password resets the count of wrong ones');
SET ROLE tap44_gateway;
SELECT is(coditect.share_open(:'pw_token', 'nope-' || n, '192.0.2.4', 'x'), NULL, 'wrong password ' || n) FROM generate_series(1, 4) n;
RESET ROLE;
SELECT is((SELECT jsonb_build_array(failed_attempts, locked_until IS NULL) FROM coditect.document_shares WHERE id = :'pw_id'), '[4, true]',
          'four wrong passwords: counted, not locked yet');
SET ROLE tap44_gateway;
SELECT is(coditect.share_open(:'pw_token', 'nope-5', '192.0.2.4', 'x'), NULL, 'wrong password 5');
RESET ROLE;
SELECT is((SELECT locked_until FROM coditect.document_shares WHERE id = :'pw_id'), now() + interval '1 minute', 'the fifth locks the share for a minute');
SELECT (SELECT access_count FROM coditect.document_shares WHERE id = :'pw_id') AS pw_count \gset
SET ROLE tap44_gateway;
SELECT is(coditect.share_open(:'pw_token', 'open sesame', '192.0.2.3', 'x'), NULL, 'while locked, even the right password: NULL');
SELECT is(coditect.share_download(:'pw_token', 'open sesame', '192.0.2.3', 'x'), NULL, '... for the content too');
RESET ROLE;
SELECT is((SELECT jsonb_build_array(failed_attempts, access_count) FROM coditect.document_shares WHERE id = :'pw_id'), jsonb_build_array(5, :pw_count),
          'attempts while locked are neither counted as failures nor as accesses');
UPDATE coditect.document_shares SET locked_until = now() - interval '1 second' WHERE id = :'pw_id';
SET ROLE tap44_gateway;
SELECT is(coditect.share_open(:'pw_token', 'nope-6', '192.0.2.4', 'x'), NULL, 'after the lock, a sixth wrong password');
RESET ROLE;
SELECT is((SELECT locked_until FROM coditect.document_shares WHERE id = :'pw_id'), now() + interval '2 minutes', '... locks it for twice as long');
UPDATE coditect.document_shares SET locked_until = now() - interval '1 second' WHERE id = :'pw_id';
SET ROLE tap44_gateway;
SELECT is((coditect.share_download(:'pw_token', 'open sesame', '192.0.2.3', 'x')) ->> 'size', '12', 'after the lock, the right password opens it');
RESET ROLE;
SELECT is((SELECT jsonb_build_array(failed_attempts, locked_until) FROM coditect.document_shares WHERE id = :'pw_id'), '[0, null]',
          '... and clears the count and the lock');

-- Access counting and the activity of share accesses.
SELECT is((SELECT array_agg(s.access_count ORDER BY s.id) FROM coditect.document_shares s WHERE s.id IN (:'view_id', :'dl_id', :'pw_id')),
          ARRAY[1, 2, 2], 'every successful access is counted (view: 1 open; download: open and content; password: open and content)');
SELECT is((SELECT last_accessed_at FROM coditect.document_shares WHERE id = :'dl_id'), now(), 'and stamped');
SELECT is((pg_temp.activity(pg_temp.id('doc')))[12:],
          ARRAY['viewed:-:2:192.0.2.1:curl/8:share', 'viewed:-:2:192.0.2.2:wget/1:share', 'downloaded:-:2:192.0.2.2:wget/1:share',
                'viewed:-:2:192.0.2.3:x:share', 'downloaded:-:2:192.0.2.3:x:share'],
          'share accesses are recorded, without a user, with the share, the version, the IP and the user agent; refusals are not');

-- Expired, revoked, a deleted document.
ALTER TABLE coditect.document_shares DISABLE TRIGGER document_share_rules;
UPDATE coditect.document_shares SET expires_at = now() - interval '1 second' WHERE id = :'view_id';
ALTER TABLE coditect.document_shares ENABLE ALWAYS TRIGGER document_share_rules;
SET ROLE tap44_gateway;
SELECT is(coditect.share_open(:'view_token', NULL, NULL, NULL), NULL, 'an expired share: NULL');
SELECT is(pg_temp.as_user('member2', 'member', format($$SELECT coditect.document_share_revoke(%L, %L)$$, pg_temp.id('doc'), :'dl_id')),
          format('CD404: document share %s not found', :'dl_id'), 'the edit level revokes nothing');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.document_share_revoke(%L, %L)$$, pg_temp.id('doc'), :'dl_id')),
          'CD403: permission denied: document_share.revoke needs a role that holds it (current role: guest)', 'guests revoke nothing');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_revoke(%L, %L) ->> 'is_active'$$, pg_temp.id('doc'), :'dl_id')),
          'false', 'the owner revokes a share');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_revoke(%L, %L) ->> 'is_active'$$, pg_temp.id('doc'), :'dl_id')),
          'false', '... twice is harmless');
SELECT is(coditect.share_open(:'dl_token', NULL, NULL, NULL), NULL, 'a revoked share: NULL');
SELECT is(coditect.share_download(:'dl_token', NULL, NULL, NULL), NULL, '... its content too');
RESET ROLE;
SELECT is(pg_temp.try(format('UPDATE coditect.document_shares SET is_active = true WHERE id = %L', :'dl_id')),
          'CD422: a revoked share cannot be made active again: make a new one', 'a revoked share stays revoked (for the DBA too)');
SELECT is(pg_temp.try(format('UPDATE coditect.document_shares SET permission_level = ''download'' WHERE id = %L', :'view_id')),
          'CD422: a share does not change (revoke it and make another)', 'a share does not change');
SELECT is((SELECT count(*)::int FROM coditect.document_shares WHERE id = :'dl_id'), 1, 'revoking is an update: the share and its counts stay');
SET ROLE tap44_gateway;
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.api_documents_delete(%L)$$, pg_temp.id('doc'))), 'done', 'the document deleted');
SELECT is(coditect.share_open(:'pw_token', 'open sesame', NULL, NULL), NULL, 'a share of a deleted document: NULL');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_create(%L, 'view', NULL, NULL)$$, pg_temp.id('doc'))),
          format('CD404: document %s not found', pg_temp.id('doc')), 'no share of a deleted document');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_documents_restore(%L) ->> 'status'$$, pg_temp.id('doc'))), 'draft', 'restored');
SELECT is((coditect.share_open(:'pw_token', 'open sesame', NULL, NULL)) ->> 'title', 'Plan', '... and its share works again');

------------------------------------------------------------------------------------------------
-- Another tenant
------------------------------------------------------------------------------------------------

RESET ROLE;
INSERT INTO coditect.documents (tenant_id, title, owner_id, created_by, updated_by) VALUES (:'tb', 'B doc', :'owner_b', :'owner_b', :'owner_b')
    RETURNING id AS doc_b \gset
SELECT set_config('tap.tenant', :'tb', false) AS _, set_config('tap.user.owner_b', :'owner_b', false) AS _ \gset
SET ROLE tap44_gateway;
SELECT pg_temp.as_user('owner_b', 'owner', format($$SELECT coditect.document_share_create(%L, 'view', NULL, NULL)$$, :'doc_b')) AS b_link \gset
SELECT :'b_link'::jsonb ->> 'token' AS b_token, :'b_link'::jsonb #>> '{share,id}' AS b_id \gset
SELECT is((coditect.share_open(:'b_token', NULL, NULL, NULL)) ->> 'title', 'B doc', 'B''s token opens B''s document (the token is the tenant)');
SELECT is((SELECT t.share_max_days FROM coditect.tenants t WHERE t.id = :'tb'), 30, 'B''s cap is its own');
SELECT set_config('tap.tenant', :'ta', false) AS _ \gset
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.document_share_revoke(%L, %L)$$, :'doc_b', :'b_id')),
          format('CD404: document share %s not found', :'b_id'), 'A''s owner cannot revoke B''s share');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.document_share_create(%L, 'view', NULL, NULL)$$, :'doc_b')),
          format('CD404: document %s not found', :'doc_b'), 'A''s owner cannot share B''s document');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_document_shares_list(%L)$$, :'doc_b')),
          format('CD404: document %s not found', :'doc_b'), '... nor list B''s document''s shares');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_document_activity_list(%L)$$, :'doc_b')),
          format('CD404: document %s not found', :'doc_b'), '... nor read its activity');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_document_shares_get(%L, %L)$$, pg_temp.id('doc'), :'b_id')),
          format('CD404: document share %s not found', :'b_id'), '... nor get B''s share under A''s document');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

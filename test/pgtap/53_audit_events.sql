-- Audit events beyond row changes (sql/11_audit_events.sql, issue 11 item 11): the one writer
-- audit_event (names checked, the request context's columns as the row trigger writes them, no
-- login may call it); each event once with its action, resource, user and metadata:
-- registration, a token's login (once per token), grants and revocations of memberships, team
-- memberships and document grants, license issue, exports through the API and through a
-- share, refused and failed requests (and that their recorder writes nothing else); the purge
-- of remembered tokens; event rows sealed and verified like any other. Rolled back.
\set ON_ERROR_STOP 1
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t53
\ir lib/tenants.psql
\ir lib/as_user.psql
CREATE ROLE tap53_gateway LOGIN IN ROLE coditect_gateway;
CREATE ROLE tap53_service LOGIN IN ROLE coditect_service;
CREATE ROLE tap53_analyst LOGIN IN ROLE coditect_analyst;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
-- The event rows of tenant A (or of p_tenant), oldest first, as "action|resource_type|user|severity".
CREATE FUNCTION pg_temp.events(p_action text, p_tenant uuid DEFAULT current_setting('tap.tenant')::uuid)
RETURNS SETOF coditect.audit_logs LANGUAGE sql AS $$
    SELECT * FROM coditect.audit_logs a WHERE a.tenant_id = p_tenant AND a.action = p_action ORDER BY a.created_at, a.id
$$;
-- An upload of p_content as one append, as a member; the answer's target.
CREATE FUNCTION pg_temp.upload(p_user text, p_content text, p_metadata jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT (pg_temp.as_user(p_user, 'member', format(
        $q$SELECT coditect.storage_append((coditect.storage_begin_upload(%s, %L) ->> 'id')::uuid, 0, convert_to(%L, 'UTF8')) -> 'target'$q$,
        octet_length(convert_to(p_content, 'UTF8')), p_metadata, p_content)))::jsonb
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

------------------------------------------------------------------------------------------------
-- 1. The writer
------------------------------------------------------------------------------------------------

SELECT function_returns('coditect_internal', 'audit_event', ARRAY['uuid', 'text', 'text', 'text', 'jsonb', 'text', 'jsonb'], 'void',
                        'audit_event(tenant, action, resource_type, resource_id, metadata, severity, changes) returns void');
SELECT is(ARRAY(SELECT r FROM unnest(ARRAY['public', 'coditect_gateway', 'coditect_service', 'coditect_analyst']) r
                 WHERE has_function_privilege(r, 'coditect_internal.audit_event(uuid, text, text, text, jsonb, text, jsonb)', 'EXECUTE')),
          '{}'::text[], 'audit_event is executable by no client role (definer code calls it as the owner)');
-- Without a request context (none is set yet in this transaction): no user or request columns.
SELECT coditect_internal.audit_event(:'ta', 'tap53.nocontext', 'Tap53', NULL);
SELECT is((SELECT concat_ws('|', coalesce(user_id::text, '-'), coalesce(ip_address::text, '-'), coalesce(user_agent, '-'),
                            coalesce(request_method, '-'), coalesce(request_path, '-'), coalesce(request_id, '-'), metadata, changes, severity)
             FROM coditect.audit_logs WHERE action = 'tap53.nocontext'),
          '-|-|-|-|-|-|{}|{}|info', 'without a context: no user or request columns; the defaults: empty objects, severity info');

------------------------------------------------------------------------------------------------
-- 2. Registration (before any request context in this transaction, as at the gateway)
------------------------------------------------------------------------------------------------

SELECT is((SELECT array_agg(concat_ws('|', resource_type, resource_id, metadata ->> 'identity', metadata ->> 'role', metadata ->> 'membership_id'))
             FROM pg_temp.events('user.register')),
          ARRAY[concat_ws('|', 'User', pg_temp.id('owner'), 'email', 'owner',
                          (SELECT id FROM coditect.memberships WHERE tenant_id = :'ta' AND user_id = pg_temp.id('owner')))],
          'create_tenant (the service''s sign-up): one user.register of the owner, with the membership');
SET ROLE tap53_gateway;
SELECT coditect.api_register('fb-tap53-new', 'new@t53-c.test', 'T53 C', 't53-c') AS reg \gset
SELECT is(pg_temp.try($$SELECT coditect.record_login(repeat('a', 64), now(), now() + interval '1 hour')$$),
          'CD403: a login is recorded in a request context', 'record_login needs a request context');
SELECT is(pg_temp.try($$SELECT coditect.audit_request_outcome(403)$$),
          'CD403: a request''s outcome is recorded in its request context', 'so does audit_request_outcome');
RESET ROLE;
SELECT is((SELECT array_agg(concat_ws('|', resource_type, resource_id, coalesce(user_id::text, '-'), metadata ->> 'identity', metadata ->> 'tenant_id'))
             FROM pg_temp.events('user.register', (:'reg'::jsonb ->> 'tenant_id')::uuid)),
          ARRAY[concat_ws('|', 'User', :'reg'::jsonb ->> 'user_id', '-', 'firebase', :'reg'::jsonb ->> 'tenant_id')],
          'api_register: one user.register of the new user (nobody is signed in yet: no user column)');

------------------------------------------------------------------------------------------------
-- 1b. Nobody but definer code writes events
------------------------------------------------------------------------------------------------

SET ROLE tap53_gateway;
SELECT is(pg_temp.try(format($$SELECT coditect_internal.audit_event(%L, 'user.login', 'User', NULL)$$, :'ta')),
          '42501: permission denied for function audit_event', 'a gateway login cannot call it');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect_internal.audit_event(%L, 'user.login', 'User', NULL)$$, :'ta')),
          '42501: permission denied for function audit_event', '... not even in an owner''s request context');
RESET ROLE;
SET ROLE tap53_service;
SELECT is(pg_temp.try(format($$SELECT coditect_internal.audit_event(%L, 'x.y', 'X', NULL)$$, :'ta')),
          '42501: permission denied for function audit_event', 'nor a service login');
RESET ROLE;
SET ROLE tap53_analyst;
SELECT alike(pg_temp.try(format($$SELECT coditect_internal.audit_event(%L, 'x.y', 'X', NULL)$$, :'ta')),
             '42501: permission denied for %', 'nor an analyst');
RESET ROLE;

-- Names are checked (the DBA calls it here).
SELECT is(pg_temp.try(format($$SELECT coditect_internal.audit_event(%L, %L, %L, NULL, %L::jsonb, %L)$$, :'ta', a, t, m, s)), e, d)
  FROM (VALUES
    ('User.Login', 'User', '{}', 'info', 'CD400: an audit action is <resource>.<verb> in lower-case letters, digits and _ (at most 100 characters)', 'an action in capitals is refused'),
    ('login', 'User', '{}', 'info', 'CD400: an audit action is <resource>.<verb> in lower-case letters, digits and _ (at most 100 characters)', 'an action without a verb'),
    ('user.login', 'user', '{}', 'info', 'CD400: an audit resource type is PascalCase letters and digits (at most 100)', 'a resource type not in PascalCase'),
    ('user.login', 'User', '{}', 'debug', 'CD400: an audit severity is info, warning, error or critical', 'an unknown severity'),
    ('user.login', 'User', '[]', 'info', 'CD400: audit metadata and changes are JSON objects', 'metadata that is not an object'),
    ('user.login', 'User', '{}', NULL, 'CD400: audit_event needs a tenant, an action, a resource type and a severity', 'no severity')
  ) v(a, t, m, s, e, d);
SELECT is(pg_temp.try($$SELECT coditect_internal.audit_event(NULL, 'user.login', 'User', NULL)$$),
          'CD400: audit_event needs a tenant, an action, a resource type and a severity', 'no tenant');
SELECT is(pg_temp.try(format($$SELECT coditect_internal.audit_event(%L, 'user.login', 'User', repeat('x', 256))$$, :'ta')),
          'CD400: an audit resource id is at most 255 characters', 'a resource id longer than the column');
SELECT is(pg_temp.try(format($$SELECT coditect_internal.audit_event(%L, 'user.login', 'User', NULL, '{}', 'info', '"x"')$$, :'ta')),
          'CD400: audit metadata and changes are JSON objects', 'changes that are not an object');

-- In a request context: the context's columns, exactly as the row trigger fills them.
SELECT coditect.set_request_context(:'ta', pg_temp.id('admin'), 'admin', '198.51.100.53', 'tap53-agent/1', 'POST', '/api/v1/tap53/', 'tap53-req-1');
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'T53 context') RETURNING id AS ctx_project \gset
SELECT coditect_internal.audit_event(:'ta', 'tap53.probe', 'Tap53', 'r-1', '{"k": 1}', 'critical', '{"f": [null, 2]}');
SELECT is((SELECT concat_ws('|', user_id, host(ip_address), user_agent, request_method, request_path, request_id)
             FROM coditect.audit_logs WHERE action = 'tap53.probe'),
          (SELECT concat_ws('|', user_id, host(ip_address), user_agent, request_method, request_path, request_id)
             FROM coditect.audit_logs WHERE action = 'project.create' AND resource_id = :'ctx_project'),
          'an event row carries the user, IP, user agent, method, path and request id of the context, as a row change''s');
SELECT is((SELECT concat_ws('|', tenant_id, resource_type, resource_id, metadata, severity, changes) FROM coditect.audit_logs WHERE action = 'tap53.probe'),
          concat_ws('|', :'ta', 'Tap53', 'r-1', '{"k": 1}', 'critical', '{"f": [null, 2]}'), 'and the tenant, resource, metadata, severity and changes given');

------------------------------------------------------------------------------------------------
-- 3. Logins: once per token
------------------------------------------------------------------------------------------------

SELECT encode(sha256('tap53-token-1'), 'hex') AS h1, encode(sha256('tap53-token-2'), 'hex') AS h2 \gset
CREATE FUNCTION pg_temp.login(p_user text, p_role text, p_hash text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_user(p_user, p_role, format($q$SELECT coditect.record_login(%L, now() - interval '1 minute', now() + interval '1 hour')$q$, p_hash))
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
SET ROLE tap53_gateway;
SELECT is(pg_temp.login('member', 'member', :'h1'), 'true', 'the first request of a token records its login');
SELECT is(pg_temp.login('member', 'member', :'h1'), 'false', 'the same token again: not recorded again');
SELECT is(pg_temp.login('member', 'member', :'h1'), 'false', '... nor a third time');
SELECT is(pg_temp.login('admin', 'admin', :'h2'), 'true', 'another token: its own login');
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.record_login('XYZ', now(), now() + interval '1 hour')$$),
          'CD400: the token''s SHA-256 is 64 lower-case hex digits', 'the token is never passed: only its SHA-256');
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.record_login(%L, now(), NULL)$$, repeat('b', 64))),
          'CD400: a login needs the unexpired token''s expiry', 'a login needs the token''s expiry');
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.record_login(%L, now(), 'infinity')$$, repeat('c', 64))), 'true',
          'a token that says it never expires');
RESET ROLE;
SELECT is((SELECT expires_at FROM coditect_internal.token_logins WHERE token_sha256 = decode(repeat('c', 64), 'hex')), now() + interval '30 days',
          'is remembered for 30 days at most (the purge does not depend on what a gateway login says)');
SELECT is((SELECT array_agg(concat_ws('|', resource_type, user_id = pg_temp.id('member'), (metadata ->> 'issued_at')::timestamptz = now() - interval '1 minute',
                                      (metadata ->> 'expires_at')::timestamptz = now() + interval '1 hour', metadata ->> 'role', severity))
             FROM pg_temp.events('user.login') WHERE resource_id = pg_temp.id('member')::text),
          ARRAY['User|t|t|t|member|info'], 'one user.login of the member: the user, the token''s issue and expiry times, the role');
SELECT is((SELECT count(*)::int FROM pg_temp.events('user.login') WHERE resource_id = pg_temp.id('admin')::text AND user_id = pg_temp.id('admin')),
          1, 'and one of the admin''s token');
SELECT is((SELECT count(*)::int FROM coditect_internal.token_logins WHERE token_sha256 IN (decode(:'h1', 'hex'), decode(:'h2', 'hex'))), 2,
          'the tokens are remembered by their SHA-256');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a WHERE row_to_json(a)::text LIKE ANY (ARRAY['%tap53-token-%', '%' || :'h1' || '%'])), 0,
          'no audit row holds a token or its hash');
SELECT ok(NOT has_table_privilege(r, 'coditect_internal.token_logins', 'SELECT'), r || ' cannot read the remembered tokens')
  FROM unnest(ARRAY['coditect_gateway', 'coditect_service', 'coditect_analyst']) r;

-- The purge forgets tokens an hour after their expiry.
INSERT INTO coditect_internal.token_logins (token_sha256, expires_at)
VALUES (sha256('tap53-old'), now() - interval '2 hours'), (sha256('tap53-recent'), now() - interval '30 minutes');
SELECT cmp_ok(coditect.purge_token_logins(), '>=', 1::bigint, 'purge_token_logins() deletes the tokens expired over an hour ago');
SELECT is(ARRAY(SELECT encode(token_sha256, 'hex') FROM coditect_internal.token_logins
                 WHERE token_sha256 IN (sha256('tap53-old'), sha256('tap53-recent'), decode(:'h1', 'hex')) ORDER BY 1),
          ARRAY(SELECT x FROM unnest(ARRAY[encode(sha256('tap53-recent'), 'hex'), :'h1']) x ORDER BY 1),
          '... and keeps the others');

------------------------------------------------------------------------------------------------
-- 4. Grants and revocations (the DBA's changes in an owner's request context)
------------------------------------------------------------------------------------------------

SELECT coditect.set_request_context(:'ta', pg_temp.id('owner'), 'owner');
-- A resource's permission events as "action:old>new", oldest first.
CREATE FUNCTION pg_temp.grants(p_resource text, p_key text DEFAULT 'role') RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(concat(a.action, ':', coalesce(a.metadata ->> ('old_' || p_key), '-'), '>',
                                     coalesce(a.metadata ->> ('new_' || p_key), '-')) ORDER BY a.id), '{}')
      FROM coditect.audit_logs a WHERE a.resource_id = p_resource AND a.action LIKE 'permission.%'
$$;
INSERT INTO coditect.users (tenant_id, email, role) VALUES (:'ta', 'newbie@t53-a.test', 'member') RETURNING id AS newbie \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'ta', :'newbie', 'member') RETURNING id AS m_new \gset
UPDATE coditect.memberships SET role = 'admin' WHERE id = :'m_new';
UPDATE coditect.memberships SET role = 'guest' WHERE id = :'m_new';
UPDATE coditect.memberships SET role = 'guest', updated_at = now() WHERE id = :'m_new';
UPDATE coditect.memberships SET revoked_at = now() WHERE id = :'m_new';
UPDATE coditect.memberships SET role = 'member' WHERE id = :'m_new';
UPDATE coditect.memberships SET revoked_at = NULL WHERE id = :'m_new';
DELETE FROM coditect.memberships WHERE id = :'m_new';
SELECT is(pg_temp.grants(:'m_new'),
          ARRAY['permission.grant:->member', 'permission.grant:member>admin', 'permission.revoke:admin>guest', 'permission.revoke:guest>-',
                'permission.grant:->member', 'permission.revoke:member>-'],
          'memberships: made, raised, lowered, revoked, (changed while revoked: nothing), reinstated, deleted; an unchanged role: nothing');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a WHERE a.resource_id = :'m_new' AND a.action LIKE 'permission.%'
              AND a.resource_type = 'Membership' AND a.metadata ->> 'kind' = 'membership' AND a.metadata ->> 'user_id' = :'newbie'
              AND a.user_id = pg_temp.id('owner') AND a.tenant_id = :'ta' AND a.severity = 'info'), 6,
          'each: resource Membership, kind membership, the member, by the context''s user');

INSERT INTO coditect.teams (tenant_id, name) VALUES (:'ta', 'T53 team') RETURNING id AS team \gset
INSERT INTO coditect.team_members (tenant_id, team_id, user_id) VALUES (:'ta', :'team', pg_temp.id('member')) RETURNING id AS tm \gset
INSERT INTO coditect.team_members (tenant_id, team_id, user_id, role) VALUES (:'ta', :'team', pg_temp.id('guest'), 'lead') RETURNING id AS tm2 \gset
UPDATE coditect.team_members SET role = 'lead' WHERE id = :'tm';
UPDATE coditect.team_members SET role = 'member' WHERE id = :'tm';
DELETE FROM coditect.team_members WHERE id = :'tm';
DELETE FROM coditect.teams WHERE id = :'team';
SELECT is(pg_temp.grants(:'tm'), ARRAY['permission.grant:->member', 'permission.grant:member>lead', 'permission.revoke:lead>member', 'permission.revoke:member>-'],
          'team members: added, made lead, made member again, removed');
SELECT is(pg_temp.grants(:'tm2'), ARRAY['permission.grant:->lead', 'permission.revoke:lead>-'], 'deleting a team revokes its memberships');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a WHERE a.resource_id = :'tm' AND a.action LIKE 'permission.%'
              AND a.resource_type = 'TeamMember' AND a.metadata ->> 'kind' = 'team_membership' AND a.metadata ->> 'team_id' = :'team'
              AND a.metadata ->> 'user_id' = pg_temp.id('member')::text), 4, 'each: resource TeamMember, kind team_membership, the team and the user');

------------------------------------------------------------------------------------------------
-- 5. Exports, and document grants on the exported document
------------------------------------------------------------------------------------------------

SET ROLE tap53_gateway;
SELECT pg_temp.put('doc', (pg_temp.upload('member', 'the plan of t53', '{"filename": "plan53.txt", "filetype": "text/plain", "target_kind": "document"}')
                           ->> 'document_id')::uuid) AS _ \gset
SELECT is(pg_temp.as_user('member', 'member', format($$SELECT coditect.document_download(%L) ->> 'filename'$$, pg_temp.id('doc'))), 'plan53.txt',
          'the member downloads the document through the API');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect_internal.record_export('Document', %L, 1, 'x', 1)$$, coditect.uuid_generate_v7())),
             'CD404: Document % not found', 'an export of a document one cannot see is not recorded');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect_internal.record_export('Project', %L, 1, 'x', 1)$$, :'ctx_project')),
             'CD404: Project % not found', '... nor of anything but a file');
SELECT pg_temp.as_user('member', 'member', format($$SELECT coditect.document_share_create(%L, 'download', NULL, NULL) ->> 'token'$$, pg_temp.id('doc'))) AS dl_token \gset
SELECT is(coditect.share_download(:'dl_token', NULL, '192.0.2.53', 'tap53-fetch/1') ->> 'filename', 'plan53.txt', 'someone downloads it through a share');
RESET ROLE;
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'T53 attach') RETURNING id AS proj \gset
INSERT INTO coditect.tasks (tenant_id, project_id, title) VALUES (:'ta', :'proj', 'T53 task') RETURNING id AS task \gset
SET ROLE tap53_gateway;
SELECT pg_temp.as_user('member', 'member', format(
    $q$SELECT coditect.storage_append((coditect.storage_begin_upload(5, %L) ->> 'id')::uuid, 0, convert_to('notes', 'UTF8')) -> 'target' ->> 'attachment_id'$q$,
    jsonb_build_object('filename', 'notes53.txt', 'content_type', 'text/plain', 'target_kind', 'task', 'target_id', :'task'))) AS att \gset
SELECT is(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.task_attachment_download(%L, %L) ->> 'filename'$$, :'task', :'att')), 'notes53.txt',
          'a guest downloads a task''s attachment');
RESET ROLE;
SELECT is((SELECT array_agg(concat_ws('|', resource_type, resource_id, (SELECT r.k FROM pg_temp.refs r WHERE r.id = a.user_id), metadata ->> 'way',
                                      coalesce(metadata ->> 'version', '-'), metadata ->> 'file_name', metadata ->> 'size_bytes',
                                      coalesce(metadata ->> 'share_id', '-'), coalesce(metadata ->> 'ip_address', '-'), severity) ORDER BY a.id)
             FROM pg_temp.events('data.export') a),
          ARRAY[concat_ws('|', 'Document', pg_temp.id('doc'), 'member', 'api', '1', 'plan53.txt', '15', '-', '-', 'info'),
                concat_ws('|', 'Document', pg_temp.id('doc'), 'member', 'share', '1', 'plan53.txt', '15',
                          (SELECT id FROM coditect.document_shares WHERE document_id = pg_temp.id('doc')), '192.0.2.53', 'info'),
                concat_ws('|', 'TaskAttachment', :'att', 'guest', 'api', '-', 'notes53.txt', '5', '-', '-', 'info')],
          'data.export once per download: the document through the API (its version), through the share (the share, the client), the attachment');
SELECT is((SELECT o.path FROM coditect_internal.resource_operations o WHERE o.writes AND o.path LIKE '/api/v1/tasks/%/content'),
          '/api/v1/tasks/{task_id}/attachments/{id}/content', 'the attachment download writes (the gateway runs it read-write)');

-- Document grants, by the owner.
SELECT coditect.set_request_context(:'ta', pg_temp.id('owner'), 'owner');
INSERT INTO coditect.document_permissions (tenant_id, document_id, user_id, permission_level)
VALUES (:'ta', pg_temp.id('doc'), pg_temp.id('member2'), 'view') RETURNING id AS g1 \gset
UPDATE coditect.document_permissions SET permission_level = 'edit' WHERE id = :'g1';
UPDATE coditect.document_permissions SET permission_level = 'view' WHERE id = :'g1';
UPDATE coditect.document_permissions SET expires_at = now() + interval '1 day' WHERE id = :'g1';
UPDATE coditect.document_permissions SET user_id = pg_temp.id('guest') WHERE id = :'g1';
DELETE FROM coditect.document_permissions WHERE id = :'g1';
SELECT is(pg_temp.grants(:'g1', 'level'),
          ARRAY['permission.grant:->view', 'permission.grant:view>edit', 'permission.revoke:edit>view',
                'permission.revoke:view>-', 'permission.grant:->view', 'permission.revoke:view>-'],
          'document grants: given, raised, lowered, (an expiry: nothing), moved to another user (revoked and given), removed');
SELECT is((SELECT array_agg(concat_ws('|', a.resource_type, a.metadata ->> 'kind', a.metadata ->> 'document_id' = pg_temp.id('doc')::text,
                                      (SELECT r.k FROM pg_temp.refs r WHERE r.id = (a.metadata ->> 'user_id')::uuid)) ORDER BY a.id)
             FROM coditect.audit_logs a WHERE a.resource_id = :'g1' AND a.action LIKE 'permission.%'),
          ARRAY['DocumentGrant|document_grant|t|member2', 'DocumentGrant|document_grant|t|member2', 'DocumentGrant|document_grant|t|member2',
                'DocumentGrant|document_grant|t|member2', 'DocumentGrant|document_grant|t|guest', 'DocumentGrant|document_grant|t|guest'],
          'each: resource DocumentGrant, kind document_grant, the document and the grantee');
INSERT INTO coditect.teams (tenant_id, name) VALUES (:'ta', 'T53 readers') RETURNING id AS readers \gset
INSERT INTO coditect.document_permissions (tenant_id, document_id, team_id, permission_level)
VALUES (:'ta', pg_temp.id('doc'), :'readers', 'admin') RETURNING id AS g2 \gset
SELECT is((SELECT concat_ws('|', action, metadata ->> 'team_id' = :'readers', metadata ? 'user_id', metadata ->> 'new_level')
             FROM coditect.audit_logs WHERE resource_id = :'g2' AND action LIKE 'permission.%'),
          'permission.grant|t|f|admin', 'a grant to a team names the team');

------------------------------------------------------------------------------------------------
-- 6. License issue
------------------------------------------------------------------------------------------------

INSERT INTO coditect.licenses (tenant_id, tier, expiry_date, seats_total) VALUES (:'ta', 'PRO', now() + interval '1 year', 3)
RETURNING id AS lic, key_string AS lic_key \gset
UPDATE coditect.licenses SET seats_total = 4 WHERE id = :'lic';
SELECT is((SELECT array_agg(concat_ws('|', resource_type, resource_id, (SELECT r.k FROM pg_temp.refs r WHERE r.id = a.user_id), metadata ->> 'tier',
                                      metadata ->> 'seats_total', (metadata ->> 'expiry_date')::timestamptz = now() + interval '1 year', severity))
             FROM pg_temp.events('license.issue') a),
          ARRAY[concat_ws('|', 'License', :'lic', 'owner', 'PRO', '3', 't', 'info')],
          'a license made: one license.issue with its tier, seats and expiry, by the context''s user; a later change issues nothing');
SELECT is((SELECT count(*)::int FROM coditect.audit_logs a WHERE a.action = 'license.issue' AND a.metadata::text LIKE '%' || :'lic_key' || '%'), 0,
          'the key is not in the event');

------------------------------------------------------------------------------------------------
-- 7. Refused and failed requests
------------------------------------------------------------------------------------------------

SET ROLE tap53_gateway;
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.audit_request_outcome(403, 'CD403')$$), 'done', 'a 403 answer is recorded');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT coditect.audit_request_outcome(500)$$), 'done', 'a 500 answer is recorded');
SELECT is(pg_temp.as_user('member', 'member', format('SELECT coditect.audit_request_outcome(%s)', s)),
          'CD400: only refused (403) and failed (5xx) requests are recorded, not ' || s, 'not a ' || s)
  FROM unnest(ARRAY['200', '401', '404', '600']) s;
SELECT is(pg_temp.as_user('member', 'member', $$SELECT coditect.audit_request_outcome(403, 'x'' OR 1=1')$$),
          'CD400: a problem code is five digits or upper-case letters', 'a code is a SQLSTATE-shaped word');
-- Another tenant's: the request context is refused first (a member of A is no member of B).
SELECT is(pg_temp.try(format($$SELECT coditect.set_request_context(%L, %L, 'member'); SELECT coditect.audit_request_outcome(403)$$,
                             :'tb', pg_temp.id('member'))),
          'CD403: user is not an active member of this tenant', 'nobody records a refusal in another tenant');
RESET ROLE;
SELECT is(pg_get_function_arguments('coditect.audit_request_outcome(int, text)'::regprocedure), 'p_status integer, p_code text DEFAULT NULL::text',
          'the caller names no action, tenant or user: only the status and code');
SELECT is((SELECT array_agg(concat_ws('|', action, resource_type, tenant_id = :'ta', (SELECT r.k FROM pg_temp.refs r WHERE r.id = a.user_id), severity, metadata)
                            ORDER BY a.id)
             FROM coditect.audit_logs a WHERE a.action LIKE 'request.%'),
          ARRAY['request.refused|Request|t|member|warning|{"code": "CD403", "role": "member", "status": 403}',
                'request.failed|Request|t|admin|error|{"role": "admin", "status": 500}'],
          'request.refused (warning) and request.failed (error): the context''s tenant and user, the status and code; nothing else written');

------------------------------------------------------------------------------------------------
-- 8. Event rows are sealed and verified like any other
------------------------------------------------------------------------------------------------

-- The events of this file are moved (as the DBA, the partition's guards off) into an hour 50
-- hours back, so that a seal covers them; the chain the pg_cron job made is set aside (in this
-- transaction only) and made again.
SELECT date_trunc('hour', now(), 'UTC') - interval '50 hours' AS h0 \gset
SELECT partman.create_partition_time('coditect.audit_logs', ARRAY[date_trunc('month', :'h0'::timestamptz)]) AS _ \gset
CREATE TEMP TABLE moved AS
SELECT * FROM coditect.audit_logs WHERE created_at = now()
   AND action IN ('user.register', 'user.login', 'permission.grant', 'permission.revoke', 'license.issue', 'data.export',
                  'request.refused', 'request.failed', 'tap53.probe', 'tap53.nocontext');
SELECT cmp_ok((SELECT count(*)::int FROM moved), '>=', 30, 'the events of this file, to seal');
SELECT tableoid::regclass::text AS part FROM coditect.audit_logs WHERE id = (SELECT id FROM moved LIMIT 1) \gset
SELECT format('ALTER TABLE %s DISABLE TRIGGER ALL', :'part') \gexec
SELECT format('DELETE FROM %s WHERE id IN (SELECT id FROM moved)', :'part') \gexec
SELECT format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', :'part', t) FROM unnest(ARRAY['audit_logs_immutable', 'audit_logs_immutable_row']) t \gexec
INSERT INTO coditect.audit_logs (id, tenant_id, user_id, action, resource_type, resource_id, ip_address, user_agent, request_method,
                                 request_path, request_id, changes, metadata, severity, created_at)
SELECT id, tenant_id, user_id, action, resource_type, resource_id, ip_address, user_agent, request_method,
       request_path, request_id, changes, metadata, severity, :'h0'::timestamptz + interval '10 minutes' FROM moved;
ALTER TABLE coditect_internal.audit_seals DISABLE TRIGGER ALL;
DELETE FROM coditect_internal.audit_seals;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable_row;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable;
SELECT cmp_ok(coditect.audit_seal(), '>', 0, 'audit_seal() seals the trail');
SELECT is((SELECT row_count FROM coditect_internal.audit_seals WHERE period_start = :'h0'),
          (SELECT count(*) FROM coditect.audit_logs WHERE created_at >= :'h0' AND created_at < :'h0'::timestamptz + interval '1 hour'),
          'the hour of the events is sealed with all its rows');
SELECT is(coditect.audit_verify(:'h0', :'h0'::timestamptz + interval '1 hour') -> 'problems', '[]'::jsonb, 'verify finds the event rows intact');
SELECT tableoid::regclass::text AS old_part FROM coditect.audit_logs WHERE created_at = :'h0'::timestamptz + interval '10 minutes' LIMIT 1 \gset
SELECT format('ALTER TABLE %s DISABLE TRIGGER ALL', :'old_part') \gexec
SELECT format($$UPDATE %s SET metadata = metadata || '{"new_role": "owner"}' WHERE action = 'permission.grant' AND resource_id = %L$$,
              :'old_part', :'tm') \gexec
SELECT format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', :'old_part', t) FROM unnest(ARRAY['audit_logs_immutable', 'audit_logs_immutable_row']) t \gexec
SELECT is((SELECT jsonb_agg(p - 'detail' - 'period_end' - 'found_rows' - 'sealed_rows' - 'seq')
             FROM jsonb_array_elements(coditect.audit_verify(:'h0', :'h0'::timestamptz + interval '1 hour') -> 'problems') p),
          jsonb_build_array(jsonb_build_object('problem', 'rows_altered', 'period_start', :'h0'::timestamptz)),
          'an event row altered past the guards (a grant made an owner''s) is detected in its hour');

SELECT * FROM finish();
ROLLBACK;

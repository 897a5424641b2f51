-- Audit reviews and compliance reports (sql/56_compliance.sql, issue 11): the tables and their
-- rules and state machines; the four report types over seeded audit rows with known counts
-- (other tenants' and out-of-period rows do not count), checked exactly; the PDF stored and
-- downloaded; the failed path; roles; isolation. As a gateway login in request contexts.
-- Rolled back.
BEGIN;
SELECT no_plan();
\ir lib/refs.psql
\set fx t58
\ir lib/tenants.psql
\ir lib/as_user.psql
CREATE ROLE tap58_gateway LOGIN IN ROLE coditect_gateway;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

SELECT columns_are('coditect', 'audit_reviews', ARRAY['tenant_id', 'id', 'reviewer_id', 'review_type', 'scope_start_date',
                   'scope_end_date', 'status', 'findings', 'recommendations', 'created_at', 'updated_at', 'completed_at'],
                   'audit_reviews: the seeds'' fields');
SELECT columns_are('coditect', 'compliance_reports', ARRAY['tenant_id', 'id', 'report_type', 'period_start', 'period_end',
                   'status', 'report_data', 'file_path', 'blob_id', 'error_message', 'generated_by', 'created_at'],
                   'compliance_reports: the seeds'' fields, the stored PDF and the error');
SELECT enum_has_labels('coditect', 'audit_review_type', ARRAY['security', 'compliance', 'access', 'data'], 'review types');
SELECT enum_has_labels('coditect', 'audit_review_status', ARRAY['in_progress', 'completed', 'cancelled'], 'review statuses');
SELECT enum_has_labels('coditect', 'compliance_report_type', ARRAY['gdpr', 'hipaa', 'soc2', 'iso27001'], 'report types');
SELECT enum_has_labels('coditect', 'compliance_report_status', ARRAY['generating', 'completed', 'failed'], 'report statuses');
SELECT is(ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                 WHERE i.indrelid IN ('coditect.audit_reviews'::regclass, 'coditect.compliance_reports'::regclass)
                   AND pg_get_indexdef(i.indexrelid) !~ '^[^(]*\(tenant_id[,)]'), '{}'::text[], 'every index leads with tenant_id');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.audit_reviews'::regclass
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(tenant_id, created_at DESC, id DESC)'), 'reviews: (tenant, -created_at)');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.audit_reviews'::regclass
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(tenant_id, reviewer_id, status)'), 'reviews: (reviewer, status)');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.compliance_reports'::regclass
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(tenant_id, created_at DESC, id DESC)'), 'reports: (tenant, -created_at)');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'coditect.compliance_reports'::regclass
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(tenant_id, report_type%'), 'reports: report_type');
SELECT is(ARRAY(SELECT from_status || '>' || to_status || coalesce(':' || stamp_column, '') FROM coditect.state_transitions
                 WHERE machine = 'audit_review' AND from_status IS NOT NULL ORDER BY 1),
          '{in_progress>cancelled,in_progress>completed:completed_at}', 'the review state machine stamps completed_at');
SELECT is(ARRAY(SELECT coalesce(from_status, '') || '>' || to_status FROM coditect.state_transitions
                 WHERE machine = 'compliance_report' ORDER BY 1),
          '{>generating,generating>completed,generating>failed}', 'the report state machine');
SELECT is((SELECT roles FROM coditect_internal.resources WHERE name = 'compliance_report'), '{"view": "admin"}'::jsonb,
          'reports: admins read, nobody writes through the API');
SELECT is(ARRAY(SELECT privilege_type FROM information_schema.role_table_grants
                 WHERE table_schema = 'coditect' AND table_name = 'compliance_reports' AND grantee = 'coditect_gateway' ORDER BY 1),
          '{SELECT}', 'the gateway only reads reports');

------------------------------------------------------------------------------------------------
-- Audit reviews
------------------------------------------------------------------------------------------------

SET ROLE tap58_gateway;
SELECT pg_temp.put('rev', (pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_audit_reviews_create('{"review_type": "access", "scope_start_date": "2026-01-01", "scope_end_date": "2026-01-31"}') ->> 'id'$$))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', status, reviewer_id = %L, completed_at IS NULL) FROM coditect.audit_reviews WHERE id = %L$$,
          pg_temp.id('admin'), pg_temp.id('rev'))), 'in_progress|t|t', 'an admin opens a review: in progress, reviewed by them');
SELECT is(pg_temp.as_user('owner', 'owner',
          format($$SELECT coditect.api_audit_reviews_create(jsonb_build_object('review_type', 'security', 'scope_start_date', '2026-02-01',
                   'scope_end_date', '2026-02-01', 'reviewer_id', %L)) ->> 'reviewer_id'$$, pg_temp.id('admin'))),
          pg_temp.id('admin')::text, 'an owner opens one for an admin (a one-day scope)');
SELECT alike(pg_temp.as_user('admin', 'admin',
          format($$SELECT coditect.api_audit_reviews_create(jsonb_build_object('review_type', 'data', 'scope_start_date', '2026-01-01',
                   'scope_end_date', '2026-01-31', 'reviewer_id', %L))$$, pg_temp.id('member'))),
          'CD422: the reviewer must be an admin or owner of the tenant', 'a member is no reviewer');
SELECT alike(pg_temp.as_user('admin', 'admin',
          format($$SELECT coditect.api_audit_reviews_create(jsonb_build_object('review_type', 'data', 'scope_start_date', '2026-01-01',
                   'scope_end_date', '2026-01-31', 'reviewer_id', %L))$$, :'owner_b')),
          'CD422:%', 'nor a user of another tenant');
SELECT alike(pg_temp.as_user('admin', 'admin',
          $$SELECT coditect.api_audit_reviews_create('{"review_type": "data", "scope_start_date": "2026-02-01", "scope_end_date": "2026-01-31"}')$$),
          '23514:%audit_reviews_scope_check%', 'the scope ends on or after its start');
SELECT alike(pg_temp.as_user('admin', 'admin',
          $$SELECT coditect.api_audit_reviews_create('{"review_type": "audit", "scope_start_date": "2026-01-01", "scope_end_date": "2026-01-31"}')$$),
          '22P02:%', 'review types are the seeds''');
SELECT alike(pg_temp.as_user('member', 'member',
          $$SELECT coditect.api_audit_reviews_create('{"review_type": "data", "scope_start_date": "2026-01-01", "scope_end_date": "2026-01-31"}')$$),
          'CD403:%', 'members open no reviews');
SELECT alike(pg_temp.as_user('member', 'member', $$SELECT coditect.api_audit_reviews_list()$$), 'CD403:%', 'nor read them');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_audit_reviews_update(%L, '{"status": "completed"}')$$, pg_temp.id('rev'))),
             'CD422: a review is completed with its findings', 'a review is not completed without findings');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', r ->> 'status', r ->> 'completed_at' IS NOT NULL)
                                                  FROM coditect.api_audit_reviews_update(%L, '{"findings": "Two stale admin accounts.", "recommendations": "Quarterly access review.", "status": "completed"}') r$$,
          pg_temp.id('rev'))), 'completed|t', 'completed with findings: completed_at stamped');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_audit_reviews_update(%L, '{"status": "in_progress"}')$$, pg_temp.id('rev'))),
             'CD409: the review is completed%', 'a completed review does not reopen');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_audit_reviews_update(%L, '{"findings": "rewritten"}')$$, pg_temp.id('rev'))),
             'CD409:%', '... and its findings do not change');
SELECT pg_temp.put('rev2', (pg_temp.as_user('admin', 'admin',
    $$SELECT coditect.api_audit_reviews_create('{"review_type": "compliance", "scope_start_date": "2026-03-01", "scope_end_date": "2026-03-31"}') ->> 'id'$$))::uuid) AS _ \gset
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', r ->> 'status', r ->> 'completed_at' IS NULL)
                                                  FROM coditect.api_audit_reviews_update(%L, '{"status": "cancelled"}') r$$, pg_temp.id('rev2'))),
          'cancelled|t', 'a review in progress is cancelled');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_audit_reviews_update(%L, '{"status": "completed", "findings": "x"}')$$, pg_temp.id('rev2'))),
             'CD409:%', 'a cancelled review is closed');
RESET ROLE;
SELECT throws_ok($$UPDATE coditect.audit_reviews SET findings = 'edited' WHERE id = pg_temp.id('rev')$$, 'CD409', NULL,
                 'the rules hold for every writer');
SELECT throws_ok($$INSERT INTO coditect.audit_reviews (tenant_id, reviewer_id, review_type, scope_start_date, scope_end_date, status, findings)
                   VALUES (current_setting('tap.tenant')::uuid, pg_temp.id('admin'), 'data', '2026-01-01', '2026-01-02', 'completed', 'x')$$,
                 'CD422', NULL, 'a review starts in progress (the state machine)');
INSERT INTO coditect.audit_reviews (tenant_id, reviewer_id, review_type, scope_start_date, scope_end_date)
VALUES (:'tb', :'owner_b', 'security', '2026-01-01', '2026-01-31');
SET ROLE tap58_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT (coditect.api_audit_reviews_list() ->> 'count')$$), '3',
          'an owner lists the tenant''s three reviews, none of tenant B');

------------------------------------------------------------------------------------------------
-- Seeded audit rows: tenant A, 2026-01-05 .. 2026-01-11 (UTC), with rows just outside the period
-- and tenant B's in it.
------------------------------------------------------------------------------------------------

RESET ROLE;
CREATE TEMP TABLE seed (action text, severity text, who text, at timestamptz);
INSERT INTO seed VALUES
    ('permission.grant',       'info',     'admin',  '2026-01-05 09:00Z'),
    ('permission.grant',       'info',     'owner',  '2026-01-05 10:00Z'),
    ('permission.revoke',      'info',     'admin',  '2026-01-06 11:00Z'),
    ('membership.update',      'info',     'owner',  '2026-01-06 12:00Z'),
    ('task.create',            'info',     'member', '2026-01-06 13:00Z'),
    ('document.delete',        'warning',  'member', '2026-01-07 08:00Z'),
    ('task.purge',             'warning',  NULL,     '2026-01-07 09:00Z'),
    ('user.update',            'info',     'admin',  '2026-01-07 10:00Z'),
    ('user.register',          'info',     'member', '2026-01-08 10:00Z'),
    ('user.login',             'info',     'member', '2026-01-08 10:05Z'),
    ('user.login',             'info',     'admin',  '2026-01-08 11:00Z'),
    ('data.export',            'info',     'member', '2026-01-09 14:00Z'),
    ('license.issue',          'info',     'owner',  '2026-01-09 15:00Z'),
    ('report.generate',        'info',     'admin',  '2026-01-09 16:00Z'),
    ('license_session.create', 'info',     'member', '2026-01-10 16:00Z'),
    ('request.refused',        'warning',  'guest',  '2026-01-10 17:00Z'),
    ('task.update',            'critical', 'member', '2026-01-11 12:00Z'),
    ('request.failed',         'error',    'member', '2026-01-11 23:59:59Z');
INSERT INTO coditect.audit_logs (tenant_id, user_id, action, resource_type, resource_id, severity, created_at)
SELECT :'ta', pg_temp.id(who), action, split_part(action, '.', 1), 'r' || row_number() OVER (ORDER BY at), severity, at FROM seed;
INSERT INTO coditect.audit_logs (tenant_id, user_id, action, resource_type, severity, created_at) VALUES
    (:'ta', pg_temp.id('admin'), 'permission.grant', 'permission', 'info', '2026-01-04 23:59:59Z'),
    (:'ta', pg_temp.id('admin'), 'permission.grant', 'permission', 'info', '2026-01-12 00:00Z'),
    (:'ta', pg_temp.id('admin'), 'request.failed', 'request', 'error', '2025-01-08 12:00Z'),
    (:'tb', :'owner_b', 'permission.grant', 'permission', 'info', '2026-01-08 12:00Z');

-- A report's sections without their rows: key, count, users, by_action.
CREATE FUNCTION pg_temp.figures(p_data jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(s - 'rows' - 'title' - 'description' ORDER BY o) FROM jsonb_array_elements(p_data -> 'sections') WITH ORDINALITY x(s, o)
$$;
CREATE FUNCTION pg_temp.generate(p_user text, p_role text, p_type text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.as_user(p_user, p_role, format($q$SELECT coditect.generate_compliance_report(%L, '2026-01-05', '2026-01-11')$q$, p_type))::jsonb
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
SET ROLE tap58_gateway;

-- SOC 2, by an admin.
SELECT pg_temp.put('soc2', (pg_temp.generate('admin', 'admin', 'soc2') ->> 'id')::uuid) AS _ \gset
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', status, report_type, period_start, period_end, generated_by = %L,
                                                         file_path = '/api/v1/compliance-reports/' || id || '/pdf', blob_id IS NOT NULL, error_message IS NULL)
                                                    FROM coditect.compliance_reports WHERE id = %L$$, pg_temp.id('admin'), pg_temp.id('soc2'))),
          'completed|soc2|2026-01-05|2026-01-11|t|t|t|t', 'soc2: completed, by the admin, with its PDF''s download path');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT (report_data - 'sections' - 'generated_at' - 'activity')::text FROM coditect.compliance_reports WHERE id = %L$$, pg_temp.id('soc2')))::jsonb,
          jsonb_build_object('report_type', 'soc2', 'tenant', jsonb_build_object('id', :'ta', 'name', 't58 A'),
                             'period', '{"start": "2026-01-05", "end": "2026-01-11"}'::jsonb, 'totals', '{"events": 18, "users": 4}'::jsonb),
          'soc2: tenant, period, totals (18 events of 4 users; out-of-period and tenant B''s rows left out)');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT (report_data -> 'activity')::text FROM coditect.compliance_reports WHERE id = %L$$, pg_temp.id('soc2')))::jsonb,
          '[{"date": "2026-01-05", "count": 2}, {"date": "2026-01-06", "count": 3}, {"date": "2026-01-07", "count": 3},
            {"date": "2026-01-08", "count": 3}, {"date": "2026-01-09", "count": 3}, {"date": "2026-01-10", "count": 2},
            {"date": "2026-01-11", "count": 2}]'::jsonb, 'soc2: activity per day, the last second of the period included');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT pg_temp.figures(report_data)::text FROM coditect.compliance_reports WHERE id = %L$$, pg_temp.id('soc2')))::jsonb,
          '[{"key": "access_changes", "count": 4, "users": 2, "by_action": [{"action": "permission.grant", "count": 2},
              {"action": "membership.update", "count": 1}, {"action": "permission.revoke", "count": 1}]},
            {"key": "privileged_actions", "count": 6, "users": 2, "by_action": [{"action": "permission.grant", "count": 2},
              {"action": "license.issue", "count": 1}, {"action": "membership.update", "count": 1},
              {"action": "permission.revoke", "count": 1}, {"action": "report.generate", "count": 1}]},
            {"key": "authentication", "count": 3, "users": 2, "by_action": [{"action": "user.login", "count": 2},
              {"action": "user.register", "count": 1}]},
            {"key": "deletions", "count": 2, "users": 1, "by_action": [{"action": "document.delete", "count": 1},
              {"action": "task.purge", "count": 1}]},
            {"key": "failures", "count": 3, "users": 2, "by_action": [{"action": "request.failed", "count": 1},
              {"action": "request.refused", "count": 1}, {"action": "task.update", "count": 1}]}]'::jsonb,
          'soc2: its five sections, counted exactly');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT (report_data #> '{sections,0,rows}')::text FROM coditect.compliance_reports WHERE id = %L$$, pg_temp.id('soc2')))::jsonb,
          jsonb_build_array(
              jsonb_build_object('created_at', '2026-01-06 12:00:00', 'action', 'membership.update', 'user_id', pg_temp.id('owner'), 'resource_type', 'membership', 'resource_id', 'r4', 'severity', 'info'),
              jsonb_build_object('created_at', '2026-01-06 11:00:00', 'action', 'permission.revoke', 'user_id', pg_temp.id('admin'), 'resource_type', 'permission', 'resource_id', 'r3', 'severity', 'info'),
              jsonb_build_object('created_at', '2026-01-05 10:00:00', 'action', 'permission.grant', 'user_id', pg_temp.id('owner'), 'resource_type', 'permission', 'resource_id', 'r2', 'severity', 'info'),
              jsonb_build_object('created_at', '2026-01-05 09:00:00', 'action', 'permission.grant', 'user_id', pg_temp.id('admin'), 'resource_type', 'permission', 'resource_id', 'r1', 'severity', 'info')),
          'soc2: a section''s rows, newest first (UTC)');

-- GDPR, HIPAA, ISO 27001, by the owner.
SELECT is(pg_temp.figures(pg_temp.generate('owner', 'owner', 'gdpr') -> 'report_data'),
          '[{"key": "personal_data", "count": 2, "users": 2, "by_action": [{"action": "user.register", "count": 1}, {"action": "user.update", "count": 1}]},
            {"key": "data_exports", "count": 1, "users": 1, "by_action": [{"action": "data.export", "count": 1}]},
            {"key": "access_changes", "count": 4, "users": 2, "by_action": [{"action": "permission.grant", "count": 2},
              {"action": "membership.update", "count": 1}, {"action": "permission.revoke", "count": 1}]},
            {"key": "deletions", "count": 2, "users": 1, "by_action": [{"action": "document.delete", "count": 1}, {"action": "task.purge", "count": 1}]},
            {"key": "failures", "count": 3, "users": 2, "by_action": [{"action": "request.failed", "count": 1},
              {"action": "request.refused", "count": 1}, {"action": "task.update", "count": 1}]}]'::jsonb,
          'gdpr: personal data, exports, access changes, deletions, failures');
SELECT is(pg_temp.figures(pg_temp.generate('owner', 'owner', 'hipaa') -> 'report_data'),
          '[{"key": "authentication", "count": 3, "users": 2, "by_action": [{"action": "user.login", "count": 2}, {"action": "user.register", "count": 1}]},
            {"key": "access_changes", "count": 4, "users": 2, "by_action": [{"action": "permission.grant", "count": 2},
              {"action": "membership.update", "count": 1}, {"action": "permission.revoke", "count": 1}]},
            {"key": "data_exports", "count": 1, "users": 1, "by_action": [{"action": "data.export", "count": 1}]},
            {"key": "deletions", "count": 2, "users": 1, "by_action": [{"action": "document.delete", "count": 1}, {"action": "task.purge", "count": 1}]},
            {"key": "privileged_actions", "count": 6, "users": 2, "by_action": [{"action": "permission.grant", "count": 2},
              {"action": "license.issue", "count": 1}, {"action": "membership.update", "count": 1},
              {"action": "permission.revoke", "count": 1}, {"action": "report.generate", "count": 1}]},
            {"key": "failures", "count": 3, "users": 2, "by_action": [{"action": "request.failed", "count": 1},
              {"action": "request.refused", "count": 1}, {"action": "task.update", "count": 1}]}]'::jsonb,
          'hipaa: sign-ins, access changes, exports, deletions, privileged actions, failures');
SELECT is(pg_temp.figures(pg_temp.generate('owner', 'owner', 'iso27001') -> 'report_data'),
          '[{"key": "access_changes", "count": 4, "users": 2, "by_action": [{"action": "permission.grant", "count": 2},
              {"action": "membership.update", "count": 1}, {"action": "permission.revoke", "count": 1}]},
            {"key": "privileged_actions", "count": 6, "users": 2, "by_action": [{"action": "permission.grant", "count": 2},
              {"action": "license.issue", "count": 1}, {"action": "membership.update", "count": 1},
              {"action": "permission.revoke", "count": 1}, {"action": "report.generate", "count": 1}]},
            {"key": "authentication", "count": 3, "users": 2, "by_action": [{"action": "user.login", "count": 2}, {"action": "user.register", "count": 1}]},
            {"key": "license_usage", "count": 2, "users": 2, "by_action": [{"action": "license.issue", "count": 1}, {"action": "license_session.create", "count": 1}]},
            {"key": "data_exports", "count": 1, "users": 1, "by_action": [{"action": "data.export", "count": 1}]},
            {"key": "failures", "count": 3, "users": 2, "by_action": [{"action": "request.failed", "count": 1},
              {"action": "request.refused", "count": 1}, {"action": "task.update", "count": 1}]}]'::jsonb,
          'iso27001: access changes, privileged actions, sign-ins, license usage, exports, failures');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT string_agg(report_type || ':' || status, ',' ORDER BY created_at) FROM coditect.compliance_reports$$),
          'soc2:completed,gdpr:completed,hipaa:completed,iso27001:completed', 'four reports, all completed');

-- The PDF: stored like a document file, downloaded through the content protocol.
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', d ->> 'content_type', d ->> 'filename', (d ->> 'size')::bigint = b.size_bytes,
                                                         d ->> 'sha256' = encode(b.sha256, 'hex'), b.ref_count)
                                                    FROM coditect.compliance_report_download(%L) d
                                                    JOIN coditect.storage_blobs b ON b.id = (d ->> 'blob_id')::uuid$$, pg_temp.id('soc2'))),
          'application/pdf|soc2-report-2026-01-05-2026-01-11.pdf|t|t|1', 'the download answers the stored PDF (held once, by the report)');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', count(*), min(user_id::text) = %L, min(metadata ->> 'file_name'))
                                                    FROM coditect.audit_logs WHERE action = 'data.export' AND resource_id = %L$$,
                                                    pg_temp.id('admin'), pg_temp.id('soc2'))),
          '1|t|soc2-report-2026-01-05-2026-01-11.pdf', 'the download is audited as data.export, by its reader');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', count(*), min(resource_type), min(user_id::text) = %L,
                                                         min(metadata ->> 'report_type'), min(metadata ->> 'status'))
                                                    FROM coditect.audit_logs WHERE action = 'report.generate' AND resource_id = %L$$,
                                                    pg_temp.id('admin'), pg_temp.id('soc2'))),
          '1|ComplianceReport|t|soc2|completed', 'the generation is audited as report.generate, by who asked');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT convert_from(coditect.storage_read((coditect.compliance_report_download(%L) ->> 'blob_id')::uuid, 0, 5), 'UTF8')$$,
          pg_temp.id('soc2'))), '%PDF-', '... and its bytes are a PDF');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT u.target_kind || ':' || (u.target_id = %L) FROM coditect.upload_sessions u
                                                    JOIN coditect.compliance_reports r ON r.blob_id = u.blob_id WHERE r.id = %L$$, pg_temp.id('soc2'), pg_temp.id('soc2'))),
          'compliance_report:true', 'stored through the storage layer''s upload, its target the report');
SELECT alike(pg_temp.as_user('admin', 'admin',
             format($$SELECT coditect.storage_begin_upload(3, jsonb_build_object('target_kind', 'compliance_report', 'target_id', %L))$$, pg_temp.id('soc2'))),
             'CD404: no compliance report % is being generated', 'no upload replaces a generated report''s PDF');

------------------------------------------------------------------------------------------------
-- Roles, immutability, isolation
------------------------------------------------------------------------------------------------

SELECT alike(pg_temp.as_user('member', 'member', $$SELECT coditect.generate_compliance_report('gdpr', '2026-01-05', '2026-01-11')$$),
             'CD403:%compliance_report.generate%', 'members generate no reports');
SELECT alike(pg_temp.as_user('member', 'member', $$SELECT coditect.api_compliance_reports_list()$$), 'CD403:%', 'nor read them');
SELECT alike(pg_temp.as_user('member', 'member', format($$SELECT coditect.compliance_report_download(%L)$$, pg_temp.id('soc2'))),
             'CD403:%', 'nor download them');
SELECT alike(pg_temp.as_user('guest', 'guest', format($$SELECT coditect.api_compliance_reports_get(%L)$$, pg_temp.id('soc2'))), 'CD403:%', 'guests neither');
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.api_compliance_reports_get(%L) ->> 'status'$$, pg_temp.id('soc2'))),
          'completed', 'admins read reports through the API');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$UPDATE coditect.compliance_reports SET report_data = '{}' WHERE id = %L$$, pg_temp.id('soc2'))),
             '42501:%', 'clients write no reports: no UPDATE');
SELECT alike(pg_temp.as_user('admin', 'admin', $$INSERT INTO coditect.compliance_reports (tenant_id, report_type, period_start, period_end)
                                               VALUES (coditect.current_tenant_id(), 'gdpr', '2026-01-01', '2026-01-02')$$),
             '42501:%', '... and no INSERT');
SELECT alike(pg_temp.as_user('admin', 'admin', $$SELECT coditect.generate_compliance_report('pci', '2026-01-05', '2026-01-11')$$),
             'CD400: report type must be one of gdpr, hipaa, soc2, iso27001', 'unknown report types are refused');
SELECT alike(pg_temp.as_user('admin', 'admin', $$SELECT coditect.generate_compliance_report('gdpr', '2026-01-11', '2026-01-05')$$),
             'CD400:%', 'a period ends on or after its start');
SELECT alike(pg_temp.as_user('admin', 'admin', $$SELECT coditect.generate_compliance_report('gdpr', '2025-01-01', '2026-01-05')$$),
             'CD400: a report covers at most 366 days', 'a period is at most 366 days');
RESET ROLE;
SELECT throws_ok(format($$UPDATE coditect.compliance_reports SET report_data = '{}' WHERE id = %L$$, pg_temp.id('soc2')), 'CD409', NULL,
                 'a completed report is immutable, for every writer');
SELECT throws_ok(format($$UPDATE coditect.compliance_reports SET status = 'failed', error_message = 'x' WHERE id = %L$$, pg_temp.id('soc2')), 'CD409', NULL,
                 '... its status too');
-- Tenant B's report over the same period counts B's one row only; A sees none of it.
SELECT set_config('tap.tenant', :'tb', false) \gset
SELECT set_config('tap.user.owner_b', :'owner_b', false) \gset
SET ROLE tap58_gateway;
SELECT pg_temp.put('b_report', (pg_temp.generate('owner_b', 'owner', 'soc2') ->> 'id')::uuid) AS _ \gset
SELECT is(pg_temp.as_user('owner_b', 'owner', format($$SELECT concat_ws('|', report_data #>> '{totals,events}', report_data #>> '{sections,0,count}')
                                                     FROM coditect.compliance_reports WHERE id = %L$$, pg_temp.id('b_report'))),
          '1|1', 'tenant B''s report counts tenant B''s rows only');
SELECT is(pg_temp.as_user('owner_b', 'owner', $$SELECT count(*)::text FROM coditect.compliance_reports$$), '1', 'tenant B sees its own report only');
SELECT alike(pg_temp.as_user('owner_b', 'owner', format($$SELECT coditect.compliance_report_download(%L)$$, pg_temp.id('soc2'))),
             'CD404:%', '... and downloads none of tenant A''s');
SELECT alike(pg_temp.as_user('owner_b', 'owner', format($$SELECT coditect.api_audit_reviews_get(%L)$$, pg_temp.id('rev'))),
             'CD404:%', '... nor reads its reviews');
RESET ROLE;
SELECT set_config('tap.tenant', :'ta', false) \gset

------------------------------------------------------------------------------------------------
-- The failed path: the PDF rendering raises; the report is kept, failed, with the error.
------------------------------------------------------------------------------------------------

SET coditect.debug_fail_point = 'compliance_pdf';
SET ROLE tap58_gateway;
SELECT pg_temp.put('failed', (pg_temp.generate('admin', 'admin', 'gdpr') ->> 'id')::uuid) AS _ \gset
RESET ROLE;
RESET coditect.debug_fail_point;
SET ROLE tap58_gateway;
SELECT is(pg_temp.as_user('admin', 'admin', format($$SELECT concat_ws('|', status, error_message, blob_id IS NULL, file_path IS NULL,
                                                         report_data #>> '{totals,events}') FROM coditect.compliance_reports WHERE id = %L$$, pg_temp.id('failed'))),
          'failed|53200: out of memory|t|t|18', 'a failed rendering leaves a failed report with its error and figures, no file');
SELECT is(pg_temp.as_user('admin', 'admin', $$SELECT count(*)::text FROM coditect.upload_sessions WHERE target_kind = 'compliance_report'$$),
          '4', 'and nothing of its storage (the four PDFs stored before only)');
SELECT alike(pg_temp.as_user('admin', 'admin', format($$SELECT coditect.compliance_report_download(%L)$$, pg_temp.id('failed'))),
             'CD404:%', 'a failed report has no PDF');
RESET ROLE;
SELECT throws_ok(format($$UPDATE coditect.compliance_reports SET status = 'completed' WHERE id = %L$$, pg_temp.id('failed')), 'CD409', NULL,
                 'a failed report is immutable');
SELECT is(ARRAY(SELECT action FROM coditect.audit_logs WHERE tenant_id = :'ta' AND resource_type = 'ComplianceReport'
                   AND resource_id = pg_temp.id('failed')::text ORDER BY created_at, id),
          '{compliance_report.create,compliance_report.update,report.generate}', 'the audit trail has the report made, its failure and the generation event');

-- A generator removed from the tenant: its reports stay, without it.
DELETE FROM coditect.memberships WHERE user_id = pg_temp.id('admin');
DELETE FROM coditect.users WHERE id = pg_temp.id('admin');
SELECT is((SELECT count(*)::int FROM coditect.compliance_reports WHERE tenant_id = :'ta' AND generated_by IS NULL), 2,
          'reports of a removed user stay, generated_by null');
SELECT is((SELECT reviewer_id FROM coditect.audit_reviews WHERE id = pg_temp.id('rev')), NULL::uuid,
          'a closed review of a removed reviewer stays, without reviewer');

SELECT * FROM finish();
ROLLBACK;

-- 56_compliance: audit reviews and compliance reports (issue 11, the seeds' AuditReview and
-- ComplianceReport). A review is a person's examination of a period of the trail, in_progress
-- until completed (with its findings) or cancelled, then closed. A report is made by
-- coditect.generate_compliance_report only: its figures computed in SQL from the audit trail
-- (report_data), its PDF rendered in C++ (libharu) and stored like a document file; immutable
-- once generated. Admins and owners review, generate and read both (the trail is theirs to
-- read, 10_audit.sql). See README "Audit reviews and compliance reports".

CREATE TYPE coditect.audit_review_type AS ENUM ('security', 'compliance', 'access', 'data');
CREATE TYPE coditect.audit_review_status AS ENUM ('in_progress', 'completed', 'cancelled');
CREATE TYPE coditect.compliance_report_type AS ENUM ('gdpr', 'hipaa', 'soc2', 'iso27001');
CREATE TYPE coditect.compliance_report_status AS ENUM ('generating', 'completed', 'failed');

------------------------------------------------------------------------------------------------
-- Audit reviews
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.audit_reviews (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    reviewer_id      uuid DEFAULT coditect.current_user_id(),
    review_type      coditect.audit_review_type NOT NULL,
    scope_start_date date NOT NULL,
    scope_end_date   date NOT NULL,
    status           coditect.audit_review_status NOT NULL DEFAULT 'in_progress',
    findings         text NOT NULL DEFAULT '',
    recommendations  text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, reviewer_id) REFERENCES coditect.users (tenant_id, id),
    CONSTRAINT audit_reviews_scope_check CHECK (scope_end_date >= scope_start_date),
    CONSTRAINT audit_reviews_completed_check CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
SELECT coditect_internal.declare_null_on_delete('coditect.audit_reviews', '{tenant_id,reviewer_id}', '{reviewer_id}');
COMMENT ON TABLE coditect.audit_reviews IS
    'Manual reviews of the audit trail over a period: in_progress, then completed (with findings) or cancelled, then closed.';
COMMENT ON COLUMN coditect.audit_reviews.reviewer_id IS
    'An admin or owner of the tenant (default: the creator); null once that user is removed.';
-- The seeds' (tenant, -created_at) and (reviewer, status), led by the tenant.
CREATE INDEX audit_reviews_tenant_created_idx ON coditect.audit_reviews (tenant_id, created_at DESC, id DESC);
CREATE INDEX audit_reviews_reviewer_status_idx ON coditect.audit_reviews (tenant_id, reviewer_id, status);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('audit_review', NULL,          'in_progress', NULL),
    ('audit_review', 'in_progress', 'completed',   'completed_at'),
    ('audit_review', 'in_progress', 'cancelled',   NULL);

-- BEFORE INSERT or UPDATE, for every writer (named to run before enforce_transition): the
-- reviewer is an active admin or owner of the review's tenant; a review is completed with its
-- findings; a completed or cancelled review is closed (its reviewer may only be removed, which
-- is the users' ON DELETE SET NULL).
CREATE FUNCTION coditect_internal.audit_review_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status <> 'in_progress'
       AND ((NEW.review_type, NEW.scope_start_date, NEW.scope_end_date, NEW.status, NEW.findings, NEW.recommendations)
                IS DISTINCT FROM
            (OLD.review_type, OLD.scope_start_date, OLD.scope_end_date, OLD.status, OLD.findings, OLD.recommendations)
            OR (NEW.reviewer_id IS NOT NULL AND NEW.reviewer_id IS DISTINCT FROM OLD.reviewer_id)) THEN
        RAISE EXCEPTION 'the review is %: it cannot change any more', OLD.status USING ERRCODE = 'CD409';
    END IF;
    -- Another tenant's row (in a request context) is row-level security's to refuse.
    IF NEW.reviewer_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.reviewer_id IS DISTINCT FROM OLD.reviewer_id)
       AND (coditect.current_tenant_id() IS NULL OR NEW.tenant_id = coditect.current_tenant_id())
       AND NOT EXISTS (SELECT 1 FROM coditect.memberships m
                        WHERE m.tenant_id = NEW.tenant_id AND m.user_id = NEW.reviewer_id
                          AND m.revoked_at IS NULL AND m.role IN ('owner', 'admin')) THEN
        RAISE EXCEPTION 'the reviewer must be an admin or owner of the tenant' USING ERRCODE = 'CD422';
    END IF;
    IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status <> 'completed') AND NEW.findings !~ '\S' THEN
        RAISE EXCEPTION 'a review is completed with its findings' USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

SELECT coditect_internal.register_resource('coditect.audit_reviews', 'audit_review', p_state_machine => 'audit_review',
    p_path => '/api/v1/audit-reviews/',
    p_roles => '{"view": "admin", "create": "admin", "update": "admin"}',
    p_create => '{reviewer_id,review_type,scope_start_date,scope_end_date,findings,recommendations}',
    p_update => '{reviewer_id,review_type,scope_start_date,scope_end_date,status,findings,recommendations}',
    p_filters => '{"reviewer_id": ["exact", "isnull"], "review_type": ["exact", "in"], "status": ["exact", "in"],
                   "created_at": ["gte", "lt"], "scope_start_date": ["gte", "lte"], "scope_end_date": ["gte", "lte"]}',
    p_orderings => '{created_at,scope_start_date}', p_search => '{findings,recommendations}',
    p_example => '{"review_type": "access", "scope_start_date": "2026-01-01", "scope_end_date": "2026-03-31",
                   "findings": "", "recommendations": ""}');
-- completed_at is the state machine's; a review starts in progress (on insert:
-- protect_insert_columns, 00_base).
REVOKE INSERT, UPDATE ON coditect.audit_reviews FROM coditect_gateway, coditect_service;
GRANT INSERT, UPDATE (reviewer_id, review_type, scope_start_date, scope_end_date, status, findings, recommendations)
    ON coditect.audit_reviews TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.audit_reviews', '{status,completed_at}');
CREATE TRIGGER audit_review_rules BEFORE INSERT OR UPDATE ON coditect.audit_reviews
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_review_rules();
ALTER TABLE coditect.audit_reviews ENABLE ALWAYS TRIGGER audit_review_rules;

------------------------------------------------------------------------------------------------
-- Compliance reports
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.compliance_reports (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    report_type   coditect.compliance_report_type NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL,
    status        coditect.compliance_report_status NOT NULL DEFAULT 'generating',
    report_data   coditect.json_object NOT NULL DEFAULT '{}',
    file_path     varchar(500),
    blob_id       uuid,
    error_message text,
    generated_by  uuid DEFAULT coditect.current_user_id(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, generated_by) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id),
    CONSTRAINT compliance_reports_period_check CHECK (period_end >= period_start),
    CONSTRAINT compliance_reports_file_check CHECK ((status = 'completed') = (blob_id IS NOT NULL AND file_path IS NOT NULL)),
    CONSTRAINT compliance_reports_error_check CHECK ((status = 'failed') = (error_message IS NOT NULL))
);
SELECT coditect_internal.declare_null_on_delete('coditect.compliance_reports', '{tenant_id,generated_by}', '{generated_by}');
COMMENT ON TABLE coditect.compliance_reports IS
    'Compliance reports computed from the audit trail (coditect.generate_compliance_report); immutable once generated.';
COMMENT ON COLUMN coditect.compliance_reports.report_data IS
    'The figures: report_type, tenant, period, generated_at, totals, sections [{key, title, description, count, users, by_action, rows}], activity [{date, count}] (README "Audit reviews and compliance reports").';
COMMENT ON COLUMN coditect.compliance_reports.file_path IS 'Where the PDF is downloaded: /api/v1/compliance-reports/{id}/pdf.';
COMMENT ON COLUMN coditect.compliance_reports.blob_id IS 'The stored PDF (40_storage.sql).';
COMMENT ON COLUMN coditect.compliance_reports.error_message IS 'Why a failed report failed (SQLSTATE: message).';
-- The seeds' (tenant, -created_at) and report_type, led by the tenant.
CREATE INDEX compliance_reports_tenant_created_idx ON coditect.compliance_reports (tenant_id, created_at DESC, id DESC);
CREATE INDEX compliance_reports_type_idx ON coditect.compliance_reports (tenant_id, report_type, created_at DESC);
CREATE INDEX compliance_reports_blob_idx ON coditect.compliance_reports (tenant_id, blob_id);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('compliance_report', NULL,         'generating', NULL),
    ('compliance_report', 'generating', 'completed',  NULL),
    ('compliance_report', 'generating', 'failed',     NULL);

-- BEFORE UPDATE, for every writer: a generated report (completed or failed) does not change;
-- only its generator's reference may go (the users' ON DELETE SET NULL).
CREATE FUNCTION coditect_internal.compliance_report_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status <> 'generating'
       AND ((NEW.generated_by IS NOT NULL AND NEW.generated_by IS DISTINCT FROM OLD.generated_by)
            OR (NEW.tenant_id, NEW.id, NEW.report_type, NEW.period_start, NEW.period_end, NEW.status, NEW.report_data,
                NEW.file_path, NEW.blob_id, NEW.error_message, NEW.created_at)
               IS DISTINCT FROM
               (OLD.tenant_id, OLD.id, OLD.report_type, OLD.period_start, OLD.period_end, OLD.status, OLD.report_data,
                OLD.file_path, OLD.blob_id, OLD.error_message, OLD.created_at)) THEN
        RAISE EXCEPTION 'compliance report % is % and immutable', OLD.id, OLD.status USING ERRCODE = 'CD409';
    END IF;
    RETURN NEW;
END
$$;

-- Read by admins; written by the generator only (no write grants: p_writable false). The figures
-- stay out of the audit trail's diffs (they are the trail's own, and large).
SELECT coditect_internal.register_resource('coditect.compliance_reports', 'compliance_report',
    p_state_machine => 'compliance_report', p_path => '/api/v1/compliance-reports/',
    p_roles => '{"view": "admin"}', p_writable => false, p_audit_exclude => '{report_data}',
    p_filters => '{"report_type": ["exact", "in"], "status": ["exact", "in"], "generated_by": ["exact"],
                   "period_start": ["gte", "lte"], "period_end": ["gte", "lte"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,period_start}');
CREATE TRIGGER compliance_report_immutable BEFORE UPDATE ON coditect.compliance_reports
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.compliance_report_immutable();
CREATE TRIGGER release_held_blob AFTER DELETE ON coditect.compliance_reports
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.release_held_blob();
ALTER TABLE coditect.compliance_reports ENABLE ALWAYS TRIGGER compliance_report_immutable,
    ENABLE ALWAYS TRIGGER release_held_blob;

------------------------------------------------------------------------------------------------
-- The sections of each report type, as data: a section counts the audit rows of the period
-- whose action is one of `actions` or matches one of `patterns` (LIKE), or whose severity is
-- one of `severities`.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.compliance_sections (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z_]*$'),
    title       text NOT NULL,
    description text NOT NULL,
    actions     text[] NOT NULL DEFAULT '{}',
    patterns    text[] NOT NULL DEFAULT '{}',
    severities  text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE coditect_internal.compliance_report_sections (
    report_type coditect.compliance_report_type NOT NULL,
    position    int NOT NULL,
    section     text NOT NULL REFERENCES coditect_internal.compliance_sections (key),
    PRIMARY KEY (report_type, position),
    UNIQUE (report_type, section)
);
REVOKE ALL ON coditect_internal.compliance_sections, coditect_internal.compliance_report_sections FROM PUBLIC;

INSERT INTO coditect_internal.compliance_sections (key, title, description, actions, patterns, severities) VALUES
    ('access_changes', 'Changes of access rights',
     'Permissions and roles granted or revoked: memberships, team members, document grants.',
     '{permission.grant,permission.revoke,membership.create,membership.update,membership.delete,membership.purge,'
     'team_member.create,team_member.update,team_member.delete,'
     'document_permission.create,document_permission.update,document_permission.delete}', '{}', '{}'),
    ('privileged_actions', 'Privileged actions',
     'Actions reserved to admins and owners: tenant settings, licenses, memberships, permissions, reports, reviews.',
     '{permission.grant,permission.revoke,report.generate,user.delete,audit_review.create,audit_review.update}',
     '{tenant.%,license.%,membership.%}', '{}'),
    ('deletions', 'Deletions', 'Rows deleted (soft deletes included) or purged, of every resource.',
     '{}', '{%.delete,%.purge}', '{}'),
    ('personal_data', 'Personal data', 'Users'' records created, changed or deleted, and registrations.',
     '{user.register,user.create,user.update,user.delete}', '{}', '{}'),
    ('data_exports', 'Exports and access to data',
     'Files and data taken out: downloads of documents, shares, attachments and reports; share links made.',
     '{data.export,document_share.create,document_share.update}', '{}', '{}'),
    ('authentication', 'Sign-ups and sign-ins', 'Registrations and logins.', '{user.register,user.login}', '{}', '{}'),
    ('license_usage', 'License usage', 'License keys issued and seats acquired, renewed and released.',
     '{license.issue,license.create,license.update,license_session.create,license_session.update,license_session.delete}',
     '{}', '{}'),
    ('failures', 'Failed and refused operations', 'Requests refused (warning) or failed (error), and every error.',
     '{request.refused,request.failed}', '{}', '{error,critical}');

INSERT INTO coditect_internal.compliance_report_sections (report_type, position, section) VALUES
    ('gdpr', 1, 'personal_data'), ('gdpr', 2, 'data_exports'), ('gdpr', 3, 'access_changes'),
    ('gdpr', 4, 'deletions'), ('gdpr', 5, 'failures'),
    ('hipaa', 1, 'authentication'), ('hipaa', 2, 'access_changes'), ('hipaa', 3, 'data_exports'),
    ('hipaa', 4, 'deletions'), ('hipaa', 5, 'privileged_actions'), ('hipaa', 6, 'failures'),
    ('soc2', 1, 'access_changes'), ('soc2', 2, 'privileged_actions'), ('soc2', 3, 'authentication'),
    ('soc2', 4, 'deletions'), ('soc2', 5, 'failures'),
    ('iso27001', 1, 'access_changes'), ('iso27001', 2, 'privileged_actions'), ('iso27001', 3, 'authentication'),
    ('iso27001', 4, 'license_usage'), ('iso27001', 5, 'data_exports'), ('iso27001', 6, 'failures');

------------------------------------------------------------------------------------------------
-- Generation
------------------------------------------------------------------------------------------------

-- The figures of a report over the tenant's audit rows from p_start to p_end (whole UTC days,
-- both included). Owner's rights (it reads the trail, the tenant given explicitly). PL/pgSQL:
-- Citus cannot plan a SQL function's statement on a distributed table with its parameters.
CREATE FUNCTION coditect_internal.compliance_report_data(p_tenant uuid, p_type coditect.compliance_report_type,
                                                         p_start date, p_end date) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v jsonb;
BEGIN
    -- One pass over the period's rows (the (tenant_id, created_at) index, the months' partitions);
    -- each figure is then a grouping of that set, not another scan per section or per day.
    WITH logs AS MATERIALIZED (
        SELECT a.id, a.created_at, a.user_id, a.action, a.resource_type, a.resource_id, a.severity
          FROM coditect.audit_logs a
         WHERE a.tenant_id = p_tenant
           AND a.created_at >= p_start::timestamp AT TIME ZONE 'UTC'
           AND a.created_at < (p_end + 1)::timestamp AT TIME ZONE 'UTC'
    ), sections AS (
        SELECT rs.position, s.* FROM coditect_internal.compliance_report_sections rs
          JOIN coditect_internal.compliance_sections s ON s.key = rs.section
         WHERE rs.report_type = p_type
    ), matched AS MATERIALIZED (
        SELECT s.key, l.*,
               row_number() OVER (PARTITION BY s.key ORDER BY l.created_at DESC, l.id DESC) AS newest
          FROM sections s
          JOIN logs l ON l.action = ANY (s.actions) OR l.action LIKE ANY (s.patterns) OR l.severity = ANY (s.severities)
    ), counts AS (
        SELECT m.key, count(*) AS n, count(DISTINCT m.user_id) AS users FROM matched m GROUP BY m.key
    ), actions AS (
        SELECT x.key, jsonb_agg(jsonb_build_object('action', x.action, 'count', x.n) ORDER BY x.n DESC, x.action) AS list
          FROM (SELECT m.key, m.action, count(*) AS n FROM matched m GROUP BY m.key, m.action) x
         GROUP BY x.key
    ), latest AS (
        SELECT m.key, jsonb_agg(jsonb_build_object(
                   'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                   'action', m.action, 'user_id', m.user_id, 'resource_type', m.resource_type,
                   'resource_id', m.resource_id, 'severity', m.severity) ORDER BY m.newest) AS list
          FROM matched m WHERE m.newest <= 10 GROUP BY m.key
    ), per_day AS (
        SELECT (l.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM logs l GROUP BY 1
    )
    SELECT jsonb_build_object(
        'report_type', p_type,
        'tenant', (SELECT jsonb_build_object('id', t.id, 'name', t.name) FROM coditect.tenants t WHERE t.id = p_tenant),
        'period', jsonb_build_object('start', p_start, 'end', p_end),
        'generated_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'totals', (SELECT jsonb_build_object('events', count(*), 'users', count(DISTINCT l.user_id)) FROM logs l),
        'sections', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                'key', s.key, 'title', s.title, 'description', s.description,
                                'count', coalesce(c.n, 0), 'users', coalesce(c.users, 0),
                                'by_action', coalesce(a.list, '[]'), 'rows', coalesce(r.list, '[]'))
                            ORDER BY s.position), '[]')
                       FROM sections s
                       LEFT JOIN counts c ON c.key = s.key
                       LEFT JOIN actions a ON a.key = s.key
                       LEFT JOIN latest r ON r.key = s.key),
        'activity', (SELECT jsonb_agg(jsonb_build_object('date', d.day, 'count', coalesce(p.n, 0)) ORDER BY d.day)
                       FROM (SELECT g::date AS day FROM generate_series(p_start::timestamp, p_end::timestamp, interval '1 day') g) d
                       LEFT JOIN per_day p ON p.day = d.day))
      INTO v;
    RETURN v;
END
$$;

-- The PDF of report_data (src_ext/pg_compliance_pdf.cpp).
CREATE FUNCTION coditect_internal.compliance_report_pdf(jsonb) RETURNS bytea
    AS 'MODULE_PATHNAME', 'coditect_compliance_report_pdf' LANGUAGE C STABLE STRICT;

-- Upload target "compliance_report" (40_storage.sql's hook): the generator stores the PDF as an
-- upload whose completion attaches it to the report being generated. A report is generating
-- only inside its generator's transaction, so no other upload can reach one.
CREATE FUNCTION coditect_internal.compliance_report_upload_check(p_id uuid, p_metadata jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
BEGIN
    PERFORM coditect.require_permission('compliance_report.generate');
    IF p_id IS NULL OR NOT EXISTS (SELECT 1 FROM coditect.compliance_reports r
                                    WHERE r.tenant_id = v_tenant AND r.id = p_id
                                      AND r.status = 'generating' AND r.blob_id IS NULL) THEN
        RAISE EXCEPTION 'no compliance report % is being generated', p_id USING ERRCODE = 'CD404';
    END IF;
END
$$;

CREATE FUNCTION coditect_internal.compliance_report_upload_completed(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.compliance_report_upload_check(s.target_id, s.metadata);
    UPDATE coditect.compliance_reports
       SET blob_id = s.blob_id, file_path = '/api/v1/compliance-reports/' || s.target_id || '/pdf', status = 'completed'
     WHERE tenant_id = s.tenant_id AND id = s.target_id;
    RETURN jsonb_build_object('compliance_report_id', s.target_id);
END
$$;
SELECT coditect_internal.register_upload_target('compliance_report',
    'coditect_internal.compliance_report_upload_check(uuid, jsonb)',
    'coditect_internal.compliance_report_upload_completed(coditect.upload_sessions)');

-- A report as the API answers it (as its generated get: timestamps in UTC).
CREATE FUNCTION coditect_internal.compliance_report_answer(r coditect.compliance_reports) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(r)
$$;

-- POST /api/v1/compliance-reports/generate/: generates a report of the caller's tenant (admins and
-- owners). The row is made "generating" with its figures; the PDF is rendered and
-- stored in a subtransaction, so that a failure there (rendering, storage) leaves the report
-- "failed" with its error instead of losing it. Periods are whole UTC days, at most 366.
CREATE FUNCTION coditect.generate_compliance_report(p_type text, p_period_start date, p_period_end date)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me     record := coditect_internal.storage_caller();
    v_type coditect.compliance_report_type;
    r      coditect.compliance_reports;
    pdf    bytea;
    up     jsonb;
    msg    text;
    state  text;
BEGIN
    PERFORM coditect.require_permission('compliance_report.generate');
    IF p_type IS NULL OR p_type <> ALL (enum_range(NULL::coditect.compliance_report_type)::text[]) THEN
        RAISE EXCEPTION 'report type must be one of %',
            array_to_string(enum_range(NULL::coditect.compliance_report_type)::text[], ', ') USING ERRCODE = 'CD400';
    END IF;
    v_type := p_type::coditect.compliance_report_type;
    IF p_period_start IS NULL OR p_period_end IS NULL OR p_period_end < p_period_start THEN
        RAISE EXCEPTION 'a period needs period_start and period_end, the end not before the start' USING ERRCODE = 'CD400';
    END IF;
    IF p_period_end - p_period_start >= 366 THEN
        RAISE EXCEPTION 'a report covers at most 366 days' USING ERRCODE = 'CD400';
    END IF;

    INSERT INTO coditect.compliance_reports (tenant_id, report_type, period_start, period_end, generated_by, report_data)
    VALUES (me.tenant_id, v_type, p_period_start, p_period_end, me.user_id,
            coditect_internal.compliance_report_data(me.tenant_id, v_type, p_period_start, p_period_end))
    RETURNING * INTO r;
    BEGIN
        pdf := coditect_internal.compliance_report_pdf(r.report_data);
        up := coditect.storage_begin_upload(octet_length(pdf), jsonb_build_object(
            'filename', format('%s-report-%s-%s.pdf', v_type, p_period_start, p_period_end),
            'content_type', 'application/pdf', 'target_kind', 'compliance_report', 'target_id', r.id::text));
        PERFORM coditect.storage_append((up ->> 'id')::uuid, 0, pdf);
        IF NOT EXISTS (SELECT 1 FROM coditect.compliance_reports x
                        WHERE x.tenant_id = r.tenant_id AND x.id = r.id AND x.status = 'completed') THEN
            RAISE EXCEPTION 'the PDF was stored but not attached to the report' USING ERRCODE = 'XX000';
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        UPDATE coditect.compliance_reports SET status = 'failed', error_message = state || ': ' || msg
         WHERE tenant_id = r.tenant_id AND id = r.id;
    END;
    SELECT * INTO STRICT r FROM coditect.compliance_reports x WHERE x.tenant_id = me.tenant_id AND x.id = r.id;
    PERFORM coditect_internal.audit_event(me.tenant_id, 'report.generate', 'ComplianceReport', r.id::text,
        jsonb_build_object('report_type', r.report_type, 'period_start', r.period_start, 'period_end', r.period_end,
                           'status', r.status));
    RETURN coditect_internal.compliance_report_answer(r);
END
$$;
SELECT coditect_internal.register_action('compliance_report', 'generate',
    'coditect.generate_compliance_report(text, date, date)', 'POST', '/api/v1/compliance-reports/generate/',
    '[{"from": "body_field", "name": "report_type", "required": true},
      {"from": "body_field", "name": "period_start", "required": true},
      {"from": "body_field", "name": "period_end", "required": true}]',
    p_min_role => 'admin', p_status => 201, p_response => '{"resource": "compliance_report"}',
    p_summary => 'Generate a compliance report (gdpr, hipaa, soc2, iso27001) of a period from the audit trail, with its PDF');

-- GET /api/v1/compliance-reports/{id}/pdf: the PDF of a completed report (storage's "content"
-- protocol), for whoever reads reports; under the policies like every read. Audited as
-- data.export (11_audit_events.sql), so the operation writes although it is a GET.
CREATE FUNCTION coditect.compliance_report_download(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r    coditect.compliance_reports;
    b    coditect.storage_blobs;
BEGIN
    PERFORM coditect.require_permission('compliance_report.view');
    SELECT x.* INTO r FROM coditect.compliance_reports x WHERE x.id = p_id AND x.status = 'completed';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'compliance report % has no PDF', p_id USING ERRCODE = 'CD404';
    END IF;
    SELECT x.* INTO STRICT b FROM coditect.storage_blobs x WHERE x.tenant_id = r.tenant_id AND x.id = r.blob_id;
    PERFORM coditect_internal.record_export('ComplianceReport', r.id, NULL,
        format('%s-report-%s-%s.pdf', r.report_type, r.period_start, r.period_end), b.size_bytes);
    RETURN coditect_internal.content_answer(b.id, b.size_bytes, encode(b.sha256, 'hex'), 'application/pdf',
        format('%s-report-%s-%s.pdf', r.report_type, r.period_start, r.period_end));
END
$$;
SELECT coditect_internal.register_action('compliance_report', 'pdf', 'coditect.compliance_report_download(uuid)',
    'GET', '/api/v1/compliance-reports/{id}/pdf', '[{"from": "path", "name": "id"}]',
    p_permission => 'compliance_report.view', p_response => '{"protocol": "content"}', p_writes => true,
    p_summary => 'A completed report''s PDF, streamed (Range, ETag: its SHA-256)');

-- 11_audit_events: audit events beyond row changes (issue 11, item 11). The row trigger
-- (10_audit) writes '<resource>.<verb>' rows for every change; these are the events the seeds
-- name besides: registration, logins, permission grants and revocations, license issue, file
-- exports, refused and failed requests (and, from other files, report generation and workflow
-- events). All go through coditect_internal.audit_event(), which shares the trigger's insertion
-- (src_ext/pg_audit.cpp): the same columns, filled from the request context the same way, so
-- event rows are sealed (48_audit_seal) like any other. Only definer code calls it.
--
-- Actions, resource types and metadata (README "Audit events"):
--   user.register      User           create_tenant (api_register and the service's path)
--   user.login         User           the first request of a new token (record_login)
--   permission.grant   Membership, TeamMember, DocumentGrant: access given or raised
--   permission.revoke  the same: access taken or lowered
--   license.issue      License        a license (its key) is made
--   data.export        Document, TaskAttachment: a file downloaded, through the API or a share
--   request.refused    Request        a 403 answer (warning), recorded by the gateway afterwards
--   request.failed     Request        a 5xx answer (error), likewise

-- The one writer of event rows: validates the names (audit_diff.cpp: '<resource>.<verb>' in
-- lower case, a PascalCase resource type, severity info / warning / error / critical, JSON
-- objects) and inserts as the audit table's owner. Executable by no login.
CREATE FUNCTION coditect_internal.audit_event(p_tenant uuid, p_action text, p_resource_type text, p_resource_id text,
                                              p_metadata jsonb DEFAULT '{}', p_severity text DEFAULT 'info',
                                              p_changes jsonb DEFAULT '{}')
RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_audit_event' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION coditect_internal.audit_event(uuid, text, text, text, jsonb, text, jsonb) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Permission grants and revocations: AFTER ROW on memberships, team_members and
-- document_permissions (the triggers are made with their tables). Access given (a new or
-- reinstated membership, a grant) or raised (a higher role or level) is a grant; access taken
-- (deleted, revoked) or lowered is a revoke; a row that moves to another grantee or target is
-- a revoke of the old and a grant of the new. TG_ARGV[0] names the kind.
------------------------------------------------------------------------------------------------

-- The role or level a row of that kind gives (NULL: none, e.g. a revoked membership).
CREATE FUNCTION coditect_internal.grant_level(p_kind text, p_row jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_kind
               WHEN 'membership' THEN CASE WHEN p_row ->> 'revoked_at' IS NULL THEN p_row ->> 'role' END
               WHEN 'team_membership' THEN p_row ->> 'role'
               WHEN 'document_grant' THEN p_row ->> 'permission_level'
           END
$$;

-- Its rank, to tell a raise from a lowering.
CREATE FUNCTION coditect_internal.grant_rank(p_kind text, p_level text) RETURNS int
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_kind
               WHEN 'membership' THEN coditect_internal.role_rank(p_level)
               WHEN 'team_membership' THEN pg_catalog.array_position(ARRAY['member', 'lead'], p_level)
               WHEN 'document_grant' THEN pg_catalog.array_position(ARRAY['view', 'edit', 'delete', 'admin'], p_level)
           END
$$;

-- Who and what the grant names: the metadata's subject (the same for old and new unless moved).
CREATE FUNCTION coditect_internal.grant_subject(p_kind text, p_row jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.jsonb_strip_nulls(CASE p_kind
               WHEN 'membership' THEN pg_catalog.jsonb_build_object('user_id', p_row -> 'user_id')
               WHEN 'team_membership' THEN pg_catalog.jsonb_build_object('team_id', p_row -> 'team_id',
                                                                         'user_id', p_row -> 'user_id')
               WHEN 'document_grant' THEN pg_catalog.jsonb_build_object('document_id', p_row -> 'document_id',
                   'folder_id', p_row -> 'folder_id', 'user_id', p_row -> 'user_id', 'team_id', p_row -> 'team_id')
           END)
$$;

CREATE FUNCTION coditect_internal.audit_grant_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_kind text := TG_ARGV[0];
    v_type text := CASE TG_ARGV[0] WHEN 'membership' THEN 'Membership' WHEN 'team_membership' THEN 'TeamMember'
                                   WHEN 'document_grant' THEN 'DocumentGrant' END;
    v_key text := CASE TG_ARGV[0] WHEN 'document_grant' THEN 'level' ELSE 'role' END;
    o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END;
    n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END;
    v_old text;
    v_new text;
    v_action text;
BEGIN
    -- A tenant's purge removes everything; its row changes are audited, it revokes nothing.
    IF v_type IS NULL OR coditect_internal.hard_delete_allowed() THEN
        RETURN NULL;
    END IF;
    v_old := coditect_internal.grant_level(v_kind, o);
    v_new := coditect_internal.grant_level(v_kind, n);
    IF o IS NOT NULL AND n IS NOT NULL
       AND coditect_internal.grant_subject(v_kind, o) <> coditect_internal.grant_subject(v_kind, n) THEN
        -- Moved: the old grantee or target loses what it had, the new one gains it.
        IF v_old IS NOT NULL THEN
            PERFORM coditect_internal.audit_event((o ->> 'tenant_id')::uuid, 'permission.revoke', v_type, o ->> 'id',
                coditect_internal.grant_subject(v_kind, o)
                    || pg_catalog.jsonb_build_object('kind', v_kind, 'old_' || v_key, v_old, 'new_' || v_key, NULL));
        END IF;
        o := NULL;
        v_old := NULL;
    END IF;
    IF v_old IS NOT DISTINCT FROM v_new THEN
        RETURN NULL;
    END IF;
    v_action := CASE WHEN v_old IS NULL THEN 'permission.grant'
                     WHEN v_new IS NULL THEN 'permission.revoke'
                     WHEN coditect_internal.grant_rank(v_kind, v_new) > coditect_internal.grant_rank(v_kind, v_old)
                          THEN 'permission.grant'
                     ELSE 'permission.revoke' END;
    PERFORM coditect_internal.audit_event((coalesce(n, o) ->> 'tenant_id')::uuid, v_action, v_type,
        coalesce(n, o) ->> 'id',
        coditect_internal.grant_subject(v_kind, coalesce(n, o))
            || pg_catalog.jsonb_build_object('kind', v_kind, 'old_' || v_key, v_old, 'new_' || v_key, v_new));
    RETURN NULL;
END
$$;

------------------------------------------------------------------------------------------------
-- License issue: AFTER INSERT on licenses (80_licenses). The key is not in the metadata (the
-- row trigger redacts it too); the license's id names it.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.audit_license_issue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.audit_event(NEW.tenant_id, 'license.issue', 'License', NEW.id::text,
        pg_catalog.jsonb_build_object('tier', NEW.tier, 'features', NEW.features, 'seats_total', NEW.seats_total,
                                      'expiry_date', NEW.expiry_date, 'is_active', NEW.is_active));
    RETURN NULL;
END
$$;

------------------------------------------------------------------------------------------------
-- Logins: the first request of a new token. The gateway remembers the tokens it has seen (a
-- bounded set of their SHA-256s) and calls record_login for an unseen one, with the context of
-- the request set; this table makes it once per token across gateway processes and restarts.
-- Only the SHA-256 of the token is kept, until an hour after its expiry (purge_token_logins,
-- scheduled in 85_maintenance); an expired token is refused before it gets here.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.token_logins (
    token_sha256 bytea PRIMARY KEY CHECK (octet_length(token_sha256) = 32),
    expires_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE coditect_internal.token_logins IS
    'SHA-256 of each bearer token whose first request was audited as user.login; kept until its expiry.';
REVOKE ALL ON coditect_internal.token_logins FROM PUBLIC;
CREATE INDEX token_logins_expires_idx ON coditect_internal.token_logins (expires_at);

-- The gateway, for a token it has not seen, after set_request_context in the same transaction:
-- audits user.login for the context's user unless this token's login is recorded already.
-- p_token_sha256: the token's SHA-256 in hex; p_issued_at / p_expires_at: its iat and exp
-- claims. True when this call recorded it.
CREATE FUNCTION coditect.record_login(p_token_sha256 text, p_issued_at timestamptz, p_expires_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_user uuid := coditect.current_user_id();
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'a login is recorded in a request context' USING ERRCODE = 'CD403';
    END IF;
    IF p_token_sha256 IS NULL OR p_token_sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'the token''s SHA-256 is 64 lower-case hex digits' USING ERRCODE = 'CD400';
    END IF;
    IF p_expires_at IS NULL OR p_expires_at <= pg_catalog.now() - interval '1 hour' THEN
        RAISE EXCEPTION 'a login needs the unexpired token''s expiry' USING ERRCODE = 'CD400';
    END IF;
    -- Kept until the token expires, but at most 30 days: the purge must not depend on what a
    -- gateway login says (an 'infinity' would never go; a longer-lived token logs in again).
    INSERT INTO coditect_internal.token_logins (token_sha256, expires_at)
    VALUES (pg_catalog.decode(p_token_sha256, 'hex'), LEAST(p_expires_at, pg_catalog.now() + interval '30 days'))
    ON CONFLICT (token_sha256) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM coditect_internal.audit_event(coditect.current_tenant_id(), 'user.login', 'User', v_user::text,
        pg_catalog.jsonb_build_object('issued_at', p_issued_at, 'expires_at', p_expires_at,
                                      'role', coditect.current_user_role()));
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION coditect.record_login(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.record_login(text, timestamptz, timestamptz) TO coditect_gateway, coditect_service;

-- Maintenance (its pg_cron job): forgets the tokens that expired more than an hour ago (the
-- gateway accepts a minute of clock skew). Returns how many.
CREATE FUNCTION coditect.purge_token_logins() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM coditect_internal.token_logins t WHERE t.expires_at < pg_catalog.now() - interval '1 hour';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_token_logins() FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Refused and failed requests. The refused request's transaction rolls back with whatever it
-- wrote, so the gateway records its answer afterwards, in a short transaction of its own that
-- sets the same request context first (set_request_context checks the membership again). Only
-- these two actions, for the context's own tenant and user.
------------------------------------------------------------------------------------------------

-- p_status: the HTTP status answered (403, or 500-599); p_code: the problem's code (a SQLSTATE
-- or the gateway's CDnnn), when there is one.
CREATE FUNCTION coditect.audit_request_outcome(p_status int, p_code text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_user uuid := coditect.current_user_id();
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'a request''s outcome is recorded in its request context' USING ERRCODE = 'CD403';
    END IF;
    IF p_status IS NULL OR NOT (p_status = 403 OR p_status BETWEEN 500 AND 599) THEN
        RAISE EXCEPTION 'only refused (403) and failed (5xx) requests are recorded, not %', coalesce(p_status::text, 'NULL')
            USING ERRCODE = 'CD400';
    END IF;
    IF p_code IS NOT NULL AND p_code !~ '^[0-9A-Z]{5}$' THEN
        RAISE EXCEPTION 'a problem code is five digits or upper-case letters' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.audit_event(coditect.current_tenant_id(),
        CASE WHEN p_status = 403 THEN 'request.refused' ELSE 'request.failed' END, 'Request', NULL,
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('status', p_status, 'code', p_code,
                                                                   'role', coditect.current_user_role())),
        CASE WHEN p_status = 403 THEN 'warning' ELSE 'error' END);
END
$$;
REVOKE ALL ON FUNCTION coditect.audit_request_outcome(int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.audit_request_outcome(int, text) TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Exports: a file downloaded through the API (the download functions of 42 and 46, which run
-- with the caller's rights, call this) or through a share (share_download, a definer, calls
-- audit_event itself with way "share").
------------------------------------------------------------------------------------------------

-- data.export of the context's user: a Document they may read, or a TaskAttachment of their
-- tenant; anything else is not found (so nobody records exports of what they cannot see).
CREATE FUNCTION coditect_internal.record_export(p_resource_type text, p_resource_id uuid, p_version int,
                                                p_file_name text, p_size_bytes bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    v_visible boolean;
BEGIN
    v_visible := CASE p_resource_type
                     WHEN 'Document' THEN coalesce(coditect_internal.document_level(v_tenant, p_resource_id), 0) >= 1
                     WHEN 'TaskAttachment' THEN EXISTS (SELECT 1 FROM coditect.task_attachments a
                                                         WHERE a.tenant_id = v_tenant AND a.id = p_resource_id)
                     WHEN 'ComplianceReport' THEN EXISTS (SELECT 1 FROM coditect.compliance_reports r
                                                           WHERE r.tenant_id = v_tenant AND r.id = p_resource_id)
                     ELSE false
                 END;
    IF coditect.current_user_id() IS NULL OR NOT v_visible THEN
        RAISE EXCEPTION '% % not found', coalesce(p_resource_type, 'resource'), p_resource_id USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.audit_event(v_tenant, 'data.export', p_resource_type, p_resource_id::text,
        pg_catalog.jsonb_build_object('way', 'api', 'version', p_version, 'file_name', p_file_name,
                                      'size_bytes', p_size_bytes));
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.record_export(text, uuid, int, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.record_export(text, uuid, int, text, bigint)
    TO coditect_gateway, coditect_service;

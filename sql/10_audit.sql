-- 10_audit: the append-only audit trail. Written only by the extension's C++ writer (as the table
-- owner): the row trigger coditect_internal.audit_row_change() and, for events that are not row
-- changes, coditect_internal.audit_event() (11_audit_events); partitioned monthly by pg_partman;
-- immutable for every role.

CREATE TABLE coditect.audit_logs (
    id             uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    tenant_id      uuid NOT NULL,
    user_id        uuid,
    action         varchar(100) NOT NULL,
    resource_type  varchar(100) NOT NULL,
    resource_id    varchar(255),
    ip_address     inet,
    user_agent     varchar(500),
    request_method varchar(10),
    request_path   varchar(1000),
    request_id     varchar(128),
    changes        jsonb NOT NULL DEFAULT '{}',
    metadata       jsonb NOT NULL DEFAULT '{}',
    severity       varchar(20) NOT NULL DEFAULT 'info',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id, created_at)
) PARTITION BY RANGE (created_at);
-- No foreign keys: a referenced tenant or user may be purged, and the log must keep its rows
-- unchanged (ON DELETE SET NULL / CASCADE would have to update or delete them).
-- No CHECK constraints: the C++ writer is the only one and builds or checks action ('<resource>.<verb>'),
-- severity and the JSON objects itself; PostgreSQL re-reads each CHECK expression for every
-- audited row (measured: four CHECKs cost a fifth of the trigger's time).
COMMENT ON TABLE coditect.audit_logs IS
    'Append-only audit trail: one row per change of a tenant table, and the audit events (logins, grants, exports, ...); partitioned monthly.';

-- The seeds' indexes, each led by tenant_id like every index of a tenant table (see global_keys).
-- id last: the list's order (created_at, id) comes from the index, so a page is a short scan.
CREATE INDEX audit_logs_tenant_created_idx ON coditect.audit_logs (tenant_id, created_at DESC, id DESC);
CREATE INDEX audit_logs_user_created_idx ON coditect.audit_logs (tenant_id, user_id, created_at DESC);
CREATE INDEX audit_logs_resource_idx ON coditect.audit_logs (tenant_id, resource_type, resource_id);
CREATE INDEX audit_logs_action_idx ON coditect.audit_logs (tenant_id, action);
CREATE INDEX audit_logs_severity_idx ON coditect.audit_logs (tenant_id, severity)
    WHERE severity IN ('error', 'critical');

ALTER TABLE coditect.audit_logs ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON coditect.audit_logs FOR SELECT
    USING (tenant_id = coditect.current_tenant_id());
REVOKE ALL ON coditect.audit_logs FROM PUBLIC;
GRANT SELECT ON coditect.audit_logs TO coditect_gateway, coditect_service, coditect_analyst;

-- Immutability: row triggers are cloned to every partition; statement triggers are not, so
-- protect_audit_partitions() adds them to each partition (TRUNCATE has no row form). The one
-- guard of append-only tables: the audit trail, and (its argument naming it) the audit seals.
CREATE FUNCTION coditect_internal.reject_audit_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', coalesce(TG_ARGV[0], 'coditect.audit_logs'), TG_OP
        USING ERRCODE = 'CD403';
END
$$;

CREATE TRIGGER audit_logs_immutable_row BEFORE UPDATE OR DELETE ON coditect.audit_logs
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.reject_audit_change();
CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON coditect.audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION coditect_internal.reject_audit_change();
ALTER TABLE coditect.audit_logs ENABLE ALWAYS TRIGGER audit_logs_immutable_row;
ALTER TABLE coditect.audit_logs ENABLE ALWAYS TRIGGER audit_logs_immutable;

CREATE FUNCTION coditect_internal.partman_schema() RETURNS name
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_partman'
$$;

CREATE FUNCTION coditect_internal.protect_audit_partitions() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
BEGIN
    -- On Citus (coditect.distribute) the partitions are distributed tables: a trigger on them
    -- needs citus.enable_unsafe_triggers (this guard acts on its own rows only), and only what
    -- is not in place yet is altered (a partition's clone of the row trigger is named after its
    -- parent's shard there, so altering it by name fails on the shards; PostgreSQL clones it
    -- ENABLE ALWAYS).
    IF pg_catalog.to_regproc('pg_catalog.citus_is_coordinator') IS NOT NULL THEN
        PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    END IF;
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                 WHERE inhparent = 'coditect.audit_logs'::regclass LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = part AND tgname = 'audit_logs_immutable') THEN
            EXECUTE format('CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION coditect_internal.reject_audit_change()', part);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = part AND tgname = 'audit_logs_immutable' AND tgenabled <> 'A') THEN
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_logs_immutable', part);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = part AND tgname = 'audit_logs_immutable_row' AND tgenabled <> 'A') THEN
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_logs_immutable_row', part);
        END IF;
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', part);
    END LOOP;
END
$$;

-- Retention of the audit trail (default 1 year). Partitions wholly older than this are
-- dropped by coditect.audit_maintenance().
CREATE FUNCTION coditect.audit_retention() RETURNS interval
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r interval;
BEGIN
    EXECUTE format('SELECT retention::interval FROM %I.part_config WHERE parent_table = %L',
                   coditect_internal.partman_schema(), 'coditect.audit_logs') INTO r;
    RETURN r;
END
$$;

CREATE FUNCTION coditect.set_audit_retention(p_retention interval) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_retention IS NULL OR p_retention < interval '1 month' OR p_retention > interval '100 years' THEN
        RAISE EXCEPTION 'audit retention must be between 1 month and 100 years, got %', p_retention
            USING ERRCODE = 'CD400';
    END IF;
    EXECUTE format('UPDATE %I.part_config SET retention = %L WHERE parent_table = %L',
                   coditect_internal.partman_schema(), p_retention::text, 'coditect.audit_logs');
END
$$;

-- For a scheduler: makes the coming months' partitions, drops those past retention, and
-- protects new partitions against UPDATE / DELETE / TRUNCATE. pg_partman sets search_path with
-- session scope to the value it found on entry, and a session-scope SET outlives a function's
-- SET clause. So the owner-rights half runs with the pinned path (which pg_partman then finds
-- and keeps), and gives the caller's path, passed in by this invoker-rights wrapper, back.
CREATE FUNCTION coditect_internal.audit_maintenance_as_owner(p_caller_search_path text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
BEGIN
    -- The partitions CREATE EXTENSION made belong to the extension, and an extension's table
    -- cannot be dropped on its own: release those past retention first, so that pg_partman
    -- can drop them as it drops the ones it made later.
    FOR part IN SELECT c.oid::regclass FROM pg_inherits i
                  JOIN pg_class c ON c.oid = i.inhrelid
                  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                 WHERE i.inhparent = 'coditect.audit_logs'::regclass
                   AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
                       <= now() - coditect.audit_retention() LOOP
        EXECUTE format('ALTER EXTENSION coditect DROP TABLE %s', part);
    END LOOP;
    EXECUTE format('SELECT %I.run_maintenance(p_parent_table := %L, p_analyze := false, p_jobmon := false)',
                   coditect_internal.partman_schema(), 'coditect.audit_logs');
    PERFORM coditect_internal.protect_audit_partitions();
    PERFORM set_config('search_path', coalesce(p_caller_search_path, ''), false);
END
$$;

-- No SET clause (it would hide the caller's path); every name is schema-qualified and the
-- body has no operator.
CREATE FUNCTION coditect.audit_maintenance() RETURNS void
LANGUAGE sql AS $$
    SELECT coditect_internal.audit_maintenance_as_owner(pg_catalog.current_setting('search_path'))
$$;

REVOKE ALL ON FUNCTION coditect.audit_retention(), coditect.set_audit_retention(interval),
    coditect.audit_maintenance(), coditect_internal.audit_maintenance_as_owner(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.audit_retention(), coditect.audit_maintenance(),
    coditect_internal.audit_maintenance_as_owner(text) TO coditect_service;

-- The trail in the API: administrators read it, newest first, in keyset pages by default.
SELECT coditect_internal.register_resource('coditect.audit_logs', 'audit_log', p_mechanisms => false,
    p_path => '/api/v1/audit-logs/', p_roles => '{"view": "admin"}',
    p_filters => '{"user_id": ["exact", "isnull"], "action": ["exact", "in"], "resource_type": ["exact", "in"],
                   "resource_id": ["exact"], "severity": ["exact", "in"], "request_id": ["exact"],
                   "created_at": ["gte", "lt"]}',
    p_page_size => 50, p_keyset => true);

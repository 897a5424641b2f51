-- Built from sql/*.sql by make; edit those files instead.
\echo Use "CREATE EXTENSION coditect CASCADE" to load this file. \quit
-- 00_base: roles, the internal schema, the C++ functions, and the generic mechanisms every
-- tenant table is registered with (RLS, timestamps, soft delete, audit).

-- Group roles. Login roles belong to the DBA and are granted into these; none owns a table.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['coditect_gateway', 'coditect_service', 'coditect_analyst'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA coditect TO coditect_gateway, coditect_service, coditect_analyst;

-- Internal objects: not for application roles.
CREATE SCHEMA coditect_internal;
REVOKE ALL ON SCHEMA coditect_internal FROM PUBLIC;

-- Closed vocabularies are enum types, declared once: api_catalog() reads their values for
-- OpenAPI and TypeScript. Each domain declares its own next to its tables.
CREATE TYPE coditect.member_role AS ENUM ('owner', 'admin', 'member', 'guest');
COMMENT ON TYPE coditect.member_role IS 'A user''s role in a tenant, from the most to the least privileged.';

-- Under row-level security only leakproof operators may be used in an index condition, and
-- PostgreSQL does not mark enum equality so although it compares two OIDs and cannot fail:
-- without this, a filter on an enum column (a task's status) is applied row by row after the
-- tenant's rows are read. Per database; kept by the extension script.
ALTER FUNCTION pg_catalog.enum_eq(anyenum, anyenum) LEAKPROOF;

-- Domains shared by every domain's tables.
CREATE DOMAIN coditect.email AS varchar(254)
    CHECK (VALUE ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$');
CREATE DOMAIN coditect.url AS varchar(2000)
    CHECK (VALUE ~ '^https?://[^\s/$.?#][^\s]*$');
CREATE DOMAIN coditect.slug AS varchar(100)
    CHECK (VALUE ~ '^[a-z0-9]+(-[a-z0-9]+)*$');
CREATE DOMAIN coditect.json_object AS jsonb
    CHECK (jsonb_typeof(VALUE) = 'object');
CREATE DOMAIN coditect.json_array AS jsonb
    CHECK (jsonb_typeof(VALUE) = 'array');

------------------------------------------------------------------------------------------------
-- C++ functions (src_ext/)
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect.uuid_generate_v7() RETURNS uuid
    AS 'MODULE_PATHNAME', 'coditect_uuid_generate_v7' LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION coditect.uuid_generate_v7() IS
    'Time-ordered UUID (RFC 9562 version 7), monotonic within a backend.';

CREATE FUNCTION coditect.uuid_v7_time(uuid) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'coditect_uuid_v7_time' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Context readers. PARALLEL RESTRICTED, not SAFE: the context lives in this backend's memory,
-- which parallel workers do not share; restricted keeps the policies' init-plan in the leader.
CREATE FUNCTION coditect.current_tenant_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'coditect_current_tenant_id' LANGUAGE C STABLE LEAKPROOF PARALLEL RESTRICTED;
CREATE FUNCTION coditect.current_user_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'coditect_current_user_id' LANGUAGE C STABLE LEAKPROOF PARALLEL RESTRICTED;
CREATE FUNCTION coditect.current_user_role() RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_current_user_role' LANGUAGE C STABLE LEAKPROOF PARALLEL RESTRICTED;

CREATE FUNCTION coditect_internal.context_set(uuid, uuid, text, inet, text, text, text, text) RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_context_set' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION coditect_internal.allow_hard_delete(boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_allow_hard_delete' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION coditect_internal.hard_delete_allowed() RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_hard_delete_allowed' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION coditect_internal.stamp_timestamps() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_stamp_timestamps' LANGUAGE C;
CREATE FUNCTION coditect_internal.audit_row_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_audit_row_change' LANGUAGE C;
CREATE FUNCTION coditect_internal.enforce_transition() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_enforce_transition' LANGUAGE C;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA coditect_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.current_tenant_id(), coditect.current_user_id(),
    coditect.current_user_role() TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Soft delete: a DELETE by an application role becomes `SET deleted_at = now()`, which the
-- audit trigger records as `<resource>.delete`. Real deletes only in maintenance (purge).
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.soft_delete_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect_internal.hard_delete_allowed() THEN
        RETURN OLD;
    END IF;
    EXECUTE format('UPDATE %s SET deleted_at = now() WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL',
                   TG_RELID::regclass)
        USING OLD.tenant_id, OLD.id;
    RETURN NULL;
END
$$;

------------------------------------------------------------------------------------------------
-- Registry of tenant tables and the one function that applies every per-table mechanism.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.tenant_tables (
    relid         regclass PRIMARY KEY,
    resource      text NOT NULL UNIQUE,
    soft_delete   boolean NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- Applies, to a table with a tenant column:
--   * RLS enabled and forced, one policy on tenant = (SELECT coditect.current_tenant_id());
--   * grants: read/write to gateway and service, read to analysts (no TRUNCATE for anyone);
--   * the created_at / updated_at trigger, the soft-delete trigger when it has deleted_at;
--   * the audit trigger, ENABLE ALWAYS so session_replication_role cannot skip it.
-- `updated_at` never enters audit diffs (it changes with every update).
CREATE FUNCTION coditect_internal.register_tenant_table(
    p_table         regclass,
    p_resource      text,
    p_redact        text[] DEFAULT '{}',
    p_exclude       text[] DEFAULT '{}',
    p_tenant_column name DEFAULT 'tenant_id',
    p_writable      boolean DEFAULT true
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    has_col  boolean;
    soft     boolean;
    args     text[] := ARRAY['resource=' || p_resource];
    col      text;
BEGIN
    SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table AND attname = 'deleted_at' AND NOT attisdropped)
      INTO soft;

    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (%I = (SELECT coditect.current_tenant_id())) '
                   'WITH CHECK (%I = (SELECT coditect.current_tenant_id()))', p_table, p_tenant_column, p_tenant_column);

    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', p_table);
    EXECUTE format('GRANT SELECT ON %s TO coditect_gateway, coditect_service, coditect_analyst', p_table);
    IF p_writable THEN
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO coditect_gateway, coditect_service', p_table);
    END IF;

    SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table
                     AND attname IN ('created_at', 'updated_at') AND NOT attisdropped)
      INTO has_col;
    IF has_col THEN
        EXECUTE format('CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps()', p_table);
    END IF;
    IF soft THEN
        EXECUTE format('CREATE TRIGGER soft_delete_row BEFORE DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION coditect_internal.soft_delete_row()', p_table);
        args := args || 'soft_delete=deleted_at'::text;
    END IF;

    IF p_tenant_column <> 'tenant_id' THEN
        args := args || ('tenant_column=' || p_tenant_column);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table AND attname = 'updated_at' AND NOT attisdropped) THEN
        p_exclude := p_exclude || 'updated_at'::text;
    END IF;
    FOREACH col IN ARRAY p_exclude LOOP
        args := args || ('exclude=' || col);
    END LOOP;
    FOREACH col IN ARRAY p_redact LOOP
        args := args || ('redact=' || col);
    END LOOP;
    EXECUTE format('CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_row_change(%s)',
                   p_table, (SELECT string_agg(quote_literal(a), ', ') FROM unnest(args) a));
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_row_change', p_table);

    INSERT INTO coditect_internal.tenant_tables (relid, resource, soft_delete)
    VALUES (p_table, p_resource, soft);
    -- Tables created by an extension script are extension members, whose rows pg_dump skips
    -- unless they are marked as configuration tables. (A table of one's own is dumped anyway.)
    IF EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_class'::regclass AND objid = p_table AND deptype = 'e') THEN
        PERFORM pg_catalog.pg_extension_config_dump(p_table, '');
    END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- State machines as data. One C++ trigger (enforce_transition) checks every status change of a
-- registered table against these rows and stamps the transition's column. A NULL from_status
-- is a state a new row may start in. Global and read-only to tenants.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.state_transitions (
    machine      varchar(50) NOT NULL,
    from_status  varchar(30),
    to_status    varchar(30) NOT NULL,
    stamp_column name,
    CONSTRAINT state_transitions_key UNIQUE NULLS NOT DISTINCT (machine, from_status, to_status)
);
REVOKE ALL ON coditect.state_transitions FROM PUBLIC;
GRANT SELECT ON coditect.state_transitions TO coditect_gateway, coditect_service, coditect_analyst;

CREATE FUNCTION coditect_internal.register_state_machine(
    p_table regclass, p_machine text, p_status_column name DEFAULT 'status'
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER enforce_transition BEFORE INSERT OR UPDATE OF %I ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION coditect_internal.enforce_transition(%L, %L)',
                   p_status_column, p_table, p_machine, p_status_column);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER enforce_transition', p_table);
END
$$;

------------------------------------------------------------------------------------------------
-- Global uniqueness (slugs, Firebase uids, license keys, Stripe ids). An index on a tenant table
-- that does not lead with tenant_id leaks other tenants' values to anyone who can run EXPLAIN
-- ANALYZE (its scan runs below the RLS filter), and Citus refuses unique constraints without the
-- distribution column. So such values are claimed in this lookup table, which only SECURITY
-- DEFINER functions read, by one trigger declared with coditect_internal.claim_global_key().
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.global_keys (
    kind      varchar(100) NOT NULL,  -- '<table>.<column>'
    value     text NOT NULL,
    tenant_id uuid NOT NULL,
    row_id    uuid NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX global_keys_row_idx ON coditect_internal.global_keys (tenant_id, row_id);
REVOKE ALL ON coditect_internal.global_keys FROM PUBLIC;
-- Not dumped: derived from the tables it indexes, whose triggers rebuild it when they are restored.

-- AFTER ROW trigger; arguments: column, constraint name reported on a clash, tenant column.
-- A claim follows its row: a changed value, tenant or id moves it.
CREATE FUNCTION coditect_internal.sync_global_key() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col      text := TG_ARGV[0];
    v_kind   text := TG_TABLE_NAME || '.' || TG_ARGV[0];
    old_row  jsonb;
    new_row  jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF (old_row ->> col, old_row ->> TG_ARGV[2], old_row ->> 'id')
       IS NOT DISTINCT FROM (new_row ->> col, new_row ->> TG_ARGV[2], new_row ->> 'id') THEN
        RETURN NULL;
    END IF;
    IF old_row ->> col IS NOT NULL THEN
        DELETE FROM coditect_internal.global_keys WHERE kind = v_kind AND value = old_row ->> col;
    END IF;
    IF new_row ->> col IS NOT NULL THEN
        BEGIN
            INSERT INTO coditect_internal.global_keys (kind, value, tenant_id, row_id)
            VALUES (v_kind, new_row ->> col, (new_row ->> TG_ARGV[2])::uuid, (new_row ->> 'id')::uuid);
        EXCEPTION WHEN unique_violation THEN
            RAISE EXCEPTION '% is already taken', col USING ERRCODE = 'unique_violation',
                CONSTRAINT = TG_ARGV[1], COLUMN = col, TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
        END;
    END IF;
    RETURN NULL;
END
$$;

-- Declares p_column of p_table globally unique (NULLs allowed, many of them).
CREATE FUNCTION coditect_internal.claim_global_key(p_table regclass, p_column name, p_constraint name,
                                                   p_tenant_column name DEFAULT 'tenant_id') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OF %s OR DELETE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION coditect_internal.sync_global_key(%L, %L, %L)',
                   'global_key_' || p_column,
                   (SELECT string_agg(DISTINCT quote_ident(c), ', ') FROM unnest(ARRAY[p_column, p_tenant_column, 'id']) c),
                   p_table, p_column, p_constraint, p_tenant_column);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', p_table, 'global_key_' || p_column);
END
$$;

------------------------------------------------------------------------------------------------
-- Restore and purge of soft-deleted rows.
------------------------------------------------------------------------------------------------

-- Undoes a soft delete under the caller's RLS; audited as `<resource>.restore`. A live row
-- with the same unique name makes it fail with unique_violation.
CREATE FUNCTION coditect.restore_row(p_table regclass, p_id uuid) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM coditect_internal.tenant_tables WHERE relid = p_table AND soft_delete) THEN
        RAISE EXCEPTION '% is not a soft-delete table', p_table USING ERRCODE = 'CD400';
    END IF;
    EXECUTE format('UPDATE %s SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL', p_table)
        USING p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'no deleted row % in %', p_id, p_table USING ERRCODE = 'CD404';
    END IF;
    RETURN true;
END
$$;
-- The registry is read by restore_row as the definer would: grant only what it needs.
GRANT USAGE ON SCHEMA coditect_internal TO coditect_gateway, coditect_service;
GRANT SELECT ON coditect_internal.tenant_tables TO coditect_gateway, coditect_service;
GRANT EXECUTE ON FUNCTION coditect_internal.hard_delete_allowed() TO coditect_gateway, coditect_service;
REVOKE ALL ON FUNCTION coditect.restore_row(regclass, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.restore_row(regclass, uuid) TO coditect_gateway, coditect_service;

-- Maintenance only (DBA): really deletes rows soft-deleted longer ago than p_older_than,
-- across all tenants; each purge is audited as `<resource>.purge`.
CREATE FUNCTION coditect.purge_deleted(p_table regclass, p_older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM coditect_internal.tenant_tables WHERE relid = p_table AND soft_delete) THEN
        RAISE EXCEPTION '% is not a soft-delete table', p_table USING ERRCODE = 'CD400';
    END IF;
    IF p_older_than IS NULL OR p_older_than < interval '0' THEN
        RAISE EXCEPTION 'p_older_than must be a non-negative interval' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.allow_hard_delete(true);
    EXECUTE format('DELETE FROM %s WHERE deleted_at <= now() - $1', p_table) USING p_older_than;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM coditect_internal.allow_hard_delete(false);
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_deleted(regclass, interval) FROM PUBLIC;
-- 05_api: the checks of request bodies that every generated create and update function
-- (06_catalog) calls. They run as the caller, under RLS.

-- Rejects keys of p_body that are not in p_allowed (unknown or read-only fields).
CREATE FUNCTION coditect_internal.api_check_fields(p_body jsonb, p_allowed text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    unknown text;
BEGIN
    IF p_body IS NULL OR jsonb_typeof(p_body) <> 'object' THEN
        RAISE EXCEPTION 'the request body must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO unknown
      FROM jsonb_object_keys(p_body) k WHERE k <> ALL (p_allowed);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown or read-only field(s): %', unknown USING ERRCODE = 'CD400',
            HINT = 'writable fields: ' || array_to_string(p_allowed, ', ');
    END IF;
END
$$;

-- Checks a body's values against the table, so that bad input is CD400 naming every field at
-- fault rather than whatever the INSERT or UPDATE would raise: on create, a required field
-- (NOT NULL without a default, among p_required_of, the writable fields) that is missing; a
-- null for a NOT NULL column; a JSON type that does not fit (jsonb_populate_record would turn
-- {"name": {"a": 1}} into the text '{"a": 1}'): strings for text-like columns, numbers,
-- booleans and arrays for theirs, anything for JSON columns.
CREATE FUNCTION coditect_internal.api_check_values(p_table regclass, p_body jsonb, p_required_of text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(a.attname::text, ', ' ORDER BY a.attnum) INTO bad
      FROM pg_attribute a
     WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND NOT a.atthasdef
       AND a.attname::text = ANY (p_required_of) AND NOT p_body ? a.attname::text;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'missing required field(s): %', bad USING ERRCODE = 'CD400';
    END IF;
    SELECT string_agg(e.key, ', ' ORDER BY e.key) INTO bad
      FROM jsonb_each(p_body) e
      JOIN pg_attribute a ON a.attrelid = p_table AND a.attname = e.key AND NOT a.attisdropped
     WHERE a.attnotnull AND jsonb_typeof(e.value) = 'null';
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'field(s) that cannot be null: %', bad USING ERRCODE = 'CD400';
    END IF;
    SELECT string_agg(format('%s (expected %s, got %s)', x.k, x.expected, jsonb_typeof(x.v)), ', ' ORDER BY x.k)
      INTO bad
      FROM (SELECT e.key AS k, e.value AS v,
                   CASE WHEN bt.oid IN ('json'::regtype, 'jsonb'::regtype) THEN NULL
                        WHEN bt.typcategory = 'B' THEN 'boolean'
                        WHEN bt.typcategory = 'N' THEN 'number'
                        WHEN bt.typcategory = 'A' THEN 'array'
                        ELSE 'string' END AS expected
              FROM jsonb_each(p_body) e
              JOIN pg_attribute a ON a.attrelid = p_table AND a.attname = e.key AND NOT a.attisdropped
              JOIN pg_type t ON t.oid = a.atttypid
              JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) x
     WHERE x.expected IS NOT NULL AND jsonb_typeof(x.v) NOT IN (x.expected, 'null');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'wrong JSON type: %', bad USING ERRCODE = 'CD400';
    END IF;
END
$$;

-- 06_catalog: the resource catalog. One declaration per resource
-- (coditect_internal.register_resource) attaches the table mechanisms, records the resource,
-- creates its permissions and generates its API functions, whose SQL is static for that
-- resource so that PostgreSQL keeps their plans. coditect.api_catalog() publishes the catalog;
-- the gateway builds its routes and OpenAPI from it (and reloads on NOTIFY coditect_catalog).

------------------------------------------------------------------------------------------------
-- Permissions (global catalog, read-only to tenants)
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.permissions (
    id          uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    codename    varchar(100) NOT NULL UNIQUE CHECK (codename ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
    name        varchar(255) NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE coditect.role_permissions (
    role          coditect.member_role NOT NULL,
    permission_id uuid NOT NULL REFERENCES coditect.permissions (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, permission_id)
);

CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.role_permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();
REVOKE ALL ON coditect.permissions, coditect.role_permissions FROM PUBLIC;
GRANT SELECT ON coditect.permissions, coditect.role_permissions
    TO coditect_gateway, coditect_service, coditect_analyst;

-- Roles from the least to the most privileged: the enum's order.
CREATE FUNCTION coditect_internal.role_rank(p_role text) RETURNS int
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_role WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'member' THEN 2 WHEN 'guest' THEN 1 END
$$;

-- One permission and the roles that hold it: p_min_role and every role above it.
CREATE FUNCTION coditect_internal.declare_permission(p_codename text, p_name text, p_min_role text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid;
BEGIN
    IF coditect_internal.role_rank(p_min_role) IS NULL THEN
        RAISE EXCEPTION 'unknown role "%" for permission %', p_min_role, p_codename USING ERRCODE = 'CD400';
    END IF;
    INSERT INTO coditect.permissions (codename, name) VALUES (p_codename, p_name) RETURNING id INTO pid;
    INSERT INTO coditect.role_permissions (role, permission_id)
    SELECT r, pid FROM unnest(enum_range(NULL::coditect.member_role)) r
     WHERE coditect_internal.role_rank(r::text) >= coditect_internal.role_rank(p_min_role);
END
$$;

-- Whether the context's role holds a permission; an unknown codename is a programming error.
CREATE FUNCTION coditect.has_permission(p_codename text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    held boolean;
BEGIN
    -- One lookup: NULL when the codename does not exist, else whether the role holds it.
    SELECT EXISTS (SELECT 1 FROM coditect.role_permissions rp
                    WHERE rp.permission_id = p.id AND rp.role::text = coditect.current_user_role())
      INTO held
      FROM coditect.permissions p WHERE p.codename = p_codename;
    IF held IS NULL THEN
        RAISE EXCEPTION 'unknown permission "%"', p_codename USING ERRCODE = 'CD400';
    END IF;
    RETURN held;
END
$$;

CREATE FUNCTION coditect.require_permission(p_codename text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT coditect.has_permission(p_codename) THEN
        RAISE EXCEPTION 'permission denied: % needs a role that holds it (current role: %)',
            p_codename, coalesce(coditect.current_user_role(), 'none') USING ERRCODE = 'CD403';
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION coditect.has_permission(text), coditect.require_permission(text)
    TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- The catalog tables
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.resources (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z][a-z_]*$'),  -- as permission codenames
    plural           text NOT NULL UNIQUE CHECK (plural ~ '^[a-z][a-z0-9_]*$'),
    relid            regclass NOT NULL UNIQUE,
    path             text NOT NULL UNIQUE,
    parent           text REFERENCES coditect_internal.resources (name),
    parent_column    name,
    singleton        boolean NOT NULL DEFAULT false,
    soft_delete      boolean NOT NULL,
    search           name[] NOT NULL DEFAULT '{}',
    orderings        name[] NOT NULL,
    default_ordering text NOT NULL,
    page_size        int NOT NULL CHECK (page_size BETWEEN 1 AND 200),
    max_page_size    int NOT NULL DEFAULT 200 CHECK (max_page_size BETWEEN 1 AND 1000),
    keyset_default   boolean NOT NULL DEFAULT false,
    state_machine    text,
    after_create     regprocedure,
    tenant_column    name NOT NULL DEFAULT 'tenant_id',
    roles            jsonb NOT NULL,  -- least role per verb: {"view": "guest", ...}
    example          jsonb,           -- a valid create body, published in OpenAPI
    CHECK ((parent IS NULL) = (parent_column IS NULL))
);

-- Per column: readable (else hidden: never in answers), writable on create or update, and the
-- filter operators it allows.
CREATE TABLE coditect_internal.resource_columns (
    resource    text NOT NULL REFERENCES coditect_internal.resources (name) ON DELETE CASCADE,
    column_name name NOT NULL,
    readable    boolean NOT NULL,
    on_create   boolean NOT NULL,
    on_update   boolean NOT NULL,
    filter_ops  text[] NOT NULL DEFAULT '{}'
                CHECK (filter_ops <@ '{exact,in,isnull,gt,gte,lt,lte}'),
    PRIMARY KEY (resource, column_name)
);

-- Every operation of a resource: the CRUD verbs and the declared actions. sql is the one
-- statement the gateway prepares; params say where each $n comes from.
CREATE TABLE coditect_internal.resource_operations (
    resource   text NOT NULL REFERENCES coditect_internal.resources (name) ON DELETE CASCADE,
    name       text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    kind       text NOT NULL CHECK (kind IN ('list', 'get', 'create', 'update', 'delete', 'restore', 'action')),
    method     text NOT NULL CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
    path       text NOT NULL,
    function   regprocedure NOT NULL,
    permission text,
    auth       text NOT NULL DEFAULT 'bearer' CHECK (auth IN ('bearer', 'none')),
    params     jsonb NOT NULL,
    result     text NOT NULL CHECK (result IN ('list', 'row', 'json', 'void')),
    status     int NOT NULL,
    etag       boolean NOT NULL DEFAULT false,
    request    jsonb,
    response   jsonb,
    summary    text NOT NULL,
    sql        text NOT NULL,
    PRIMARY KEY (resource, name),
    UNIQUE (method, path)
);

REVOKE ALL ON coditect_internal.resources, coditect_internal.resource_columns,
    coditect_internal.resource_operations FROM PUBLIC;
GRANT SELECT ON coditect_internal.resources, coditect_internal.resource_columns,
    coditect_internal.resource_operations TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Helpers the generated functions call (static SQL only)
------------------------------------------------------------------------------------------------

-- Keyset cursors are opaque to clients: base64url of [ordering key, value, id] of the last row.
CREATE FUNCTION coditect_internal.api_cursor_encode(p_key text, p_value text, p_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT translate(encode(convert_to(jsonb_build_array(p_key, p_value, p_id)::text, 'UTF8'), 'base64'),
                     E'+/=\n', '-_')
$$;

-- The parsed list arguments: ordering keys ({-created_at}), page (NULL: keyset), page size,
-- and the cursor's value and id.
CREATE TYPE coditect_internal.list_request AS (
    keys         text[],
    page         int,
    size         int,
    cursor_value text,
    cursor_id    uuid
);

-- Validates the list arguments against the declaration; every refusal is CD400 naming what
-- is allowed. The common call (no filters, the default ordering, no cursor) takes no query.
CREATE FUNCTION coditect_internal.api_list_request(
    p_filters jsonb, p_page int, p_page_size int, p_cursor text, p_ordering text,
    p_filter_names text[], p_orderings text[], p_default_ordering text, p_max_size int
) RETURNS coditect_internal.list_request
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q coditect_internal.list_request;
    bad text;
    raw jsonb;
    allowed text[];
BEGIN
    IF p_filters IS NOT NULL AND p_filters <> '{}' THEN
        IF jsonb_typeof(p_filters) <> 'object' THEN
            RAISE EXCEPTION 'filters must be a JSON object' USING ERRCODE = 'CD400';
        END IF;
        SELECT string_agg(k, ', ' ORDER BY k) INTO bad
          FROM jsonb_object_keys(p_filters) k WHERE k <> ALL (p_filter_names);
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'unknown filter(s): %', bad USING ERRCODE = 'CD400',
                HINT = 'filters: ' || coalesce(nullif(array_to_string(p_filter_names, ', '), ''), 'none')
                       || '; also ordering, search, page, page_size, cursor';
        END IF;
        SELECT string_agg(k, ', ' ORDER BY k) INTO bad
          FROM jsonb_each(p_filters) e(k, v) WHERE jsonb_typeof(v) NOT IN ('string', 'number', 'boolean', 'array');
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'filter(s) without a usable value: %', bad USING ERRCODE = 'CD400';
        END IF;
    END IF;

    q.size := coalesce(p_page_size, 20);
    IF q.size < 1 OR q.size > p_max_size THEN
        RAISE EXCEPTION 'page_size must be between 1 and %', p_max_size USING ERRCODE = 'CD400';
    END IF;
    IF p_page < 1 THEN
        RAISE EXCEPTION 'page must be 1 or more' USING ERRCODE = 'CD400';
    END IF;
    q.page := p_page;

    IF p_ordering IS NULL OR p_ordering = p_default_ordering THEN
        q.keys := ARRAY[p_default_ordering];
    ELSE
        allowed := ARRAY(SELECT k FROM unnest(p_orderings) o, LATERAL (VALUES (o), ('-' || o)) v(k));
        q.keys := ARRAY(SELECT btrim(k) FROM unnest(string_to_array(coalesce(nullif(btrim(p_ordering), ''), p_default_ordering), ',')) k);
        SELECT string_agg(k, ', ') INTO bad FROM unnest(q.keys) k WHERE k <> ALL (allowed);
        IF bad IS NOT NULL OR cardinality(q.keys) > 3
           OR (SELECT count(DISTINCT ltrim(k, '-')) FROM unnest(q.keys) k) <> cardinality(q.keys) THEN
            RAISE EXCEPTION 'invalid ordering "%"', p_ordering USING ERRCODE = 'CD400',
                HINT = 'up to 3 distinct keys, comma-separated, of: ' || array_to_string(allowed, ', ');
        END IF;
    END IF;

    IF p_cursor IS NOT NULL THEN
        IF cardinality(q.keys) <> 1 THEN
            RAISE EXCEPTION 'cursor pagination needs an ordering by one key' USING ERRCODE = 'CD400';
        END IF;
        BEGIN
            raw := convert_from(decode(translate(p_cursor, '-_', '+/')
                                       || repeat('=', (4 - length(p_cursor) % 4) % 4), 'base64'), 'UTF8')::jsonb;
            q.cursor_value := raw ->> 1;
            q.cursor_id := (raw ->> 2)::uuid;
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'invalid cursor' USING ERRCODE = 'CD400';
        END;
        IF jsonb_typeof(raw) IS DISTINCT FROM 'array' OR raw ->> 0 IS DISTINCT FROM q.keys[1]
           OR q.cursor_value IS NULL OR q.cursor_id IS NULL THEN
            RAISE EXCEPTION 'invalid cursor (or one of another ordering)' USING ERRCODE = 'CD400';
        END IF;
        q.page := NULL;
    ELSIF q.page IS NULL AND cardinality(q.keys) <> 1 THEN
        RAISE EXCEPTION 'an ordering by several keys needs page pagination (?page=)' USING ERRCODE = 'CD400';
    END IF;
    RETURN q;
END
$$;

-- The values of an __in filter: a JSON array, or a comma-separated string.
CREATE FUNCTION coditect_internal.api_filter_values(p_value jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_value IS NULL THEN NULL
                WHEN jsonb_typeof(p_value) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(p_value))
                ELSE string_to_array(p_value #>> '{}', ',') END
$$;

CREATE FUNCTION coditect_internal.api_filter_bool(p_name text, p_value jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    IF lower(p_value #>> '{}') IN ('true', '1') THEN
        RETURN true;
    ELSIF lower(p_value #>> '{}') IN ('false', '0') THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION 'filter "%" takes true or false', p_name USING ERRCODE = 'CD400';
END
$$;

-- The ETag of a row as the API shows it (quoted, strong). The generated functions render rows
-- in UTC whatever the session's TimeZone, so a row's tag does not depend on who reads it.
CREATE FUNCTION coditect.row_etag(p_row jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT '"' || md5(p_row::text) || '"'
$$;

-- If-Match against a row: "*" matches any row; otherwise one of the listed strong tags.
-- A weak tag (W/"...") never matches (RFC 9110 uses the strong comparison here).
CREATE FUNCTION coditect_internal.etag_matches(p_if_match text, p_row jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tags text[];
BEGIN
    IF btrim(p_if_match) = '*' THEN
        RETURN true;
    END IF;
    IF p_if_match !~ '^\s*(W/)?"[^"]*"\s*(,\s*(W/)?"[^"]*"\s*)*$' THEN
        RAISE EXCEPTION 'If-Match must be * or a list of entity tags ("...")' USING ERRCODE = 'CD400';
    END IF;
    tags := ARRAY(SELECT m[2] FROM regexp_matches(p_if_match, '(W/)?("[^"]*")', 'g') m WHERE m[1] IS NULL);
    RETURN coditect.row_etag(p_row) = ANY (tags);
END
$$;

------------------------------------------------------------------------------------------------
-- Code generation
------------------------------------------------------------------------------------------------

-- A column's type as written in generated code (qualified: the search path is pinned).
CREATE FUNCTION coditect_internal.column_type(p_table regclass, p_column name) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format_type(atttypid, atttypmod) FROM pg_attribute
     WHERE attrelid = p_table AND attname = p_column AND attnum > 0 AND NOT attisdropped
$$;

-- The statement the gateway prepares for an operation: the function called with $1..$n cast
-- to its parameter types; a row answer also gives its ETag; a set answer becomes one array.
CREATE FUNCTION coditect_internal.operation_sql(p_function regprocedure, p_result text, p_etag boolean)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p.proretset THEN format('SELECT coalesce(jsonb_agg(to_jsonb(r)), ''[]'')::text FROM %s r', c.call)
                WHEN p_result = 'void' THEN format('SELECT %s', c.call)
                WHEN p_etag THEN format('SELECT r::text, coditect.row_etag(r) FROM %s r', c.call)
                ELSE format('SELECT %s::text', c.call) END
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
     CROSS JOIN LATERAL (
           SELECT format('%I.%I(%s)', n.nspname, p.proname,
                         coalesce(string_agg(format('$%s::%s', u.i, format_type(u.t, NULL)), ', ' ORDER BY u.i), '')) AS call
             FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i)) c
     WHERE p.oid = p_function
$$;

-- Records one operation of a resource and grants its function to the gateway and services.
CREATE FUNCTION coditect_internal.record_operation(
    p_resource text, p_name text, p_kind text, p_method text, p_path text, p_function regprocedure,
    p_permission text, p_params jsonb, p_result text, p_status int, p_etag boolean, p_request jsonb,
    p_response jsonb, p_summary text, p_auth text DEFAULT 'bearer'
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nargs int := (SELECT pronargs FROM pg_proc WHERE oid = p_function);
BEGIN
    IF jsonb_array_length(p_params) <> nargs THEN
        RAISE EXCEPTION 'operation %.%: % declares % parameters, the function takes %',
            p_resource, p_name, p_function, jsonb_array_length(p_params), nargs USING ERRCODE = 'CD400';
    END IF;
    INSERT INTO coditect_internal.resource_operations
        (resource, name, kind, method, path, function, permission, auth, params, result, status, etag,
         request, response, summary, sql)
    VALUES (p_resource, p_name, p_kind, p_method, p_path, p_function, p_permission, p_auth, p_params,
            p_result, p_status, p_etag, p_request, p_response, p_summary,
            coditect_internal.operation_sql(p_function, p_result, p_etag));
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p_function);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO coditect_gateway, coditect_service', p_function);
END
$$;

-- What every generated function of a resource shares.
CREATE TYPE coditect_internal.resource_code AS (
    fn        text,   -- coditect.api_<plural> (singletons: api_<name>)
    tbl       text,
    label     text,   -- 'team member'
    par_arg   text,   -- 'p_team_id uuid, '
    par_check text,   -- the parent must exist (and be live)
    par_param jsonb,  -- [{"from": "path", "name": "team_id"}]
    scope     text,   -- rows of this collection: the context's tenant, the parent, live
    key_where text,   -- the one row
    hidden    text,   -- " - ARRAY['a']::text[]" or ''
    item_path text
);

CREATE FUNCTION coditect_internal.resource_code(r coditect_internal.resources) RETURNS coditect_internal.resource_code
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g   coditect_internal.resource_code;
    par coditect_internal.resources;
BEGIN
    g.fn := 'coditect.api_' || CASE WHEN r.singleton THEN r.name ELSE r.plural END;
    g.tbl := r.relid::text;
    g.label := replace(r.name, '_', ' ');
    g.par_arg := '';
    g.par_check := '';
    g.par_param := '[]';
    -- The tenant is the policy's to add: naming it too would cost a filter (or a gating node)
    -- per row of a count. Instead a caller that bypasses row-level security is refused.
    g.scope := 'true';
    IF r.parent IS NOT NULL THEN
        SELECT * INTO STRICT par FROM coditect_internal.resources WHERE name = r.parent;
        g.par_arg := format('p_%s_id uuid, ', par.name);
        g.scope := format('t.%I = p_%s_id', r.parent_column, par.name);
        g.par_check := format(E'\n    PERFORM 1 FROM %s pt WHERE pt.%I = v_tenant AND pt.id = p_%s_id%s;'
                              || E'\n    IF NOT FOUND THEN'
                              || E'\n        RAISE EXCEPTION ''%s %% not found'', p_%s_id USING ERRCODE = ''CD404'';'
                              || E'\n    END IF;',
                              par.relid, par.tenant_column, par.name, CASE WHEN par.soft_delete THEN ' AND pt.deleted_at IS NULL' ELSE '' END,
                              replace(par.name, '_', ' '), par.name);
        g.par_param := jsonb_build_array(jsonb_build_object('from', 'path', 'name', par.name || '_id'));
    END IF;
    IF r.soft_delete THEN
        g.scope := g.scope || ' AND t.deleted_at IS NULL';
    END IF;
    g.key_where := CASE WHEN r.singleton THEN format('t.%I = v_tenant', r.tenant_column) ELSE 't.id = p_id' END
                   || CASE WHEN g.scope = 'true' THEN '' ELSE ' AND ' || g.scope END;
    SELECT coalesce(' - ARRAY[' || string_agg(quote_literal(column_name), ', ' ORDER BY column_name) || ']::text[]', '')
      INTO g.hidden FROM coditect_internal.resource_columns WHERE resource = r.name AND NOT readable;
    g.item_path := CASE WHEN r.singleton THEN r.path ELSE r.path || '{id}/' END;
    RETURN g;
END
$$;

-- The start of every generated function: the permission, looked up inline (the hot path;
-- require_permission words the refusal), and the refusal of a caller that bypasses row-level
-- security, under which the API works.
CREATE FUNCTION coditect_internal.generated_prologue(p_permission text, p_table text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format($f$IF NOT EXISTS (SELECT FROM coditect.permissions p JOIN coditect.role_permissions rp ON rp.permission_id = p.id
                    WHERE p.codename = %1$L AND rp.role = coditect.current_user_role()::coditect.member_role) THEN
        PERFORM coditect.require_permission(%1$L);
    END IF;
    IF NOT row_security_active(%2$L) THEN
        RAISE EXCEPTION 'the API works under row-level security, which %% bypasses', current_user USING ERRCODE = 'CD403';
    END IF;$f$, p_permission, p_table)
$$;

-- The list function: filters become typed variables; one static statement per ordering key
-- and direction, for a first page and for the page after a cursor; one statement for
-- orderings by several keys (page pagination only).
CREATE FUNCTION coditect_internal.generate_list(r coditect_internal.resources, g coditect_internal.resource_code,
                                                p_permission text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gen$
DECLARE
    names    text[] := '{}';
    decl     text := '';
    assign   text := '';
    preds    text := '';
    branches text := '';
    multi    text := '';
    cursors  text := '';
    c        record;
    f        text;
    o        name;
    dir      text;
    k        int;
    np       int := jsonb_array_length(g.par_param);
    sig      text;
    nosearch text := '';
BEGIN
    FOR c IN SELECT rc.column_name AS col, x.op, coditect_internal.column_type(r.relid, rc.column_name) AS typ
               FROM coditect_internal.resource_columns rc
               JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
              CROSS JOIN LATERAL unnest(rc.filter_ops) x(op)
              WHERE rc.resource = r.name
              ORDER BY a.attnum, array_position('{exact,in,isnull,gt,gte,lt,lte}'::text[], x.op) LOOP
        f := CASE c.op WHEN 'exact' THEN c.col ELSE c.col || '__' || c.op END;
        names := names || f;
        IF c.op = 'in' THEN
            decl := decl || format(E'\n    %I %s[];', 'f_' || f, c.typ);
            assign := assign || format(E'\n            %I := coditect_internal.api_filter_values(p_filters -> %L);', 'f_' || f, f);
            preds := preds || format(E'\n                   AND (%1$I IS NULL OR t.%2$I = ANY (%1$I))', 'f_' || f, c.col);
        ELSIF c.op = 'isnull' THEN
            decl := decl || format(E'\n    %I boolean;', 'f_' || f);
            assign := assign || format(E'\n            %I := coditect_internal.api_filter_bool(%L, p_filters -> %L);', 'f_' || f, f, f);
            preds := preds || format(E'\n                   AND (%1$I IS NULL OR (t.%2$I IS NULL) = %1$I)', 'f_' || f, c.col);
        ELSE
            decl := decl || format(E'\n    %I %s;', 'f_' || f, c.typ);
            assign := assign || format(E'\n            %I := p_filters ->> %L;', 'f_' || f, f);
            preds := preds || format(E'\n                   AND (%1$I IS NULL OR t.%2$I %3$s %1$I)', 'f_' || f, c.col,
                                     CASE c.op WHEN 'exact' THEN '=' WHEN 'gt' THEN '>' WHEN 'gte' THEN '>='
                                               WHEN 'lt' THEN '<' ELSE '<=' END);
        END IF;
    END LOOP;
    IF cardinality(r.search) = 0 THEN
        nosearch := E'\n    IF p_search IS NOT NULL THEN\n        RAISE EXCEPTION ''% has no search'', ' || quote_literal(replace(r.plural, '_', ' '))
                    || E' USING ERRCODE = ''CD400'';\n    END IF;';
    ELSE
        preds := preds || format(E'\n                   AND (p_search IS NULL OR to_tsvector(''simple'', concat_ws('' '', %s))'
                                 ' @@ websearch_to_tsquery(''simple'', p_search))',
                                 (SELECT string_agg('t.' || quote_ident(s), ', ') FROM unnest(r.search) s));
    END IF;

    -- Without filters or search (the common call) the statements are the plain ones, whose
    -- generic plans are those of hand-written SQL; with them, each filter is `(v IS NULL OR ...)`.
    FOREACH o IN ARRAY r.orderings LOOP
        decl := decl || format(E'\n    %I %s;', 'c_' || o, coditect_internal.column_type(r.relid, o));
        cursors := cursors || format(E'\n            IF q.keys[1] IN (%L, %L) THEN %I := q.cursor_value; END IF;', o, '-' || o, 'c_' || o);
        FOREACH dir IN ARRAY ARRAY['ASC', 'DESC'] LOOP
            branches := branches || format($f$
    ELSIF single AND q.keys[1] = %1$L THEN
        IF q.cursor_id IS NULL AND plain THEN
            SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
                SELECT t.* FROM %2$s t
                 WHERE %3$s
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim OFFSET off) t;
        ELSIF q.cursor_id IS NULL THEN
            SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
                SELECT t.* FROM %2$s t
                 WHERE %3$s%4$s
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim OFFSET off) t;
        ELSIF plain THEN
            SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
                SELECT t.* FROM %2$s t
                 WHERE %3$s AND (t.%5$I, t.id) %7$s (%8$I, q.cursor_id)
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim) t;
        ELSE
            SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
                SELECT t.* FROM %2$s t
                 WHERE %3$s AND (t.%5$I, t.id) %7$s (%8$I, q.cursor_id)%4$s
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim) t;
        END IF;$f$,
                CASE WHEN dir = 'DESC' THEN '-' ELSE '' END || o, g.tbl, g.scope, preds, o, dir,
                CASE WHEN dir = 'DESC' THEN '<' ELSE '>' END, 'c_' || o);
        END LOOP;
    END LOOP;
    FOR k IN 1..3 LOOP
        FOREACH o IN ARRAY r.orderings LOOP
            multi := multi || format(E'\n                 CASE WHEN q.keys[%1$s] = %2$L THEN t.%3$I END ASC,'
                                     || E' CASE WHEN q.keys[%1$s] = %4$L THEN t.%3$I END DESC,', k, o, o, '-' || o);
        END LOOP;
    END LOOP;

    EXECUTE format($f$
CREATE FUNCTION %1$s_list(%2$sp_filters jsonb DEFAULT '{}', p_page int DEFAULT %3$s, p_page_size int DEFAULT %4$s,
                          p_cursor text DEFAULT NULL, p_ordering text DEFAULT NULL, p_search text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    q      coditect_internal.list_request;
    single boolean;
    plain  boolean;
    total  bigint;
    rows   jsonb;
    lim    int;
    off    bigint;
    last   jsonb;%5$s
BEGIN
    %6$s
    p_search := nullif(btrim(p_search), '');%20$s
    plain := (p_filters IS NULL OR p_filters = '{}') AND p_search IS NULL;
    IF plain AND p_cursor IS NULL AND p_ordering IS NULL AND p_page_size BETWEEN 1 AND %10$s
       AND (p_page IS NULL OR p_page >= 1) THEN
        q := ROW(ARRAY[%9$L], p_page, p_page_size, NULL, NULL);   -- the common call, valid as it is
    ELSE
        q := coditect_internal.api_list_request(p_filters, p_page, p_page_size, p_cursor, p_ordering,
                                                %7$L, %8$L, %9$L, %10$s);
    END IF;
    single := cardinality(q.keys) = 1;%11$s
    IF NOT plain THEN
        BEGIN%12$s
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
            RAISE EXCEPTION 'invalid filter value: %%', SQLERRM USING ERRCODE = 'CD400';
        END;
    END IF;
    IF q.cursor_id IS NOT NULL THEN
        BEGIN%13$s
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'invalid cursor' USING ERRCODE = 'CD400';
        END;
    END IF;
    IF q.page IS NOT NULL AND plain THEN
        SELECT count(*) INTO total FROM %14$s t
         WHERE %19$s;
    ELSIF q.page IS NOT NULL THEN
        SELECT count(*) INTO total FROM %14$s t
         WHERE %19$s%15$s;
    END IF;
    IF q.page IS NOT NULL THEN
        lim := q.size;
        off := (q.page - 1)::bigint * q.size;
    ELSE
        lim := q.size + 1;
        off := 0;
    END IF;
    IF false THEN
        NULL;%16$s
    ELSE
        SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
            SELECT t.* FROM %14$s t
             WHERE %19$s%15$s
             ORDER BY %17$s t.id LIMIT lim OFFSET off) t;
    END IF;
    IF q.page IS NULL AND jsonb_array_length(rows) > q.size THEN
        last := rows -> (q.size - 1);
        rows := rows - q.size;
    END IF;
    RETURN jsonb_build_object(
        'count', total,
        'results', %18$s,
        'next_cursor', CASE WHEN last IS NOT NULL THEN coditect_internal.api_cursor_encode(
                                 q.keys[1], last ->> ltrim(q.keys[1], '-'), (last ->> 'id')::uuid) END);
END
$fn$$f$,
        g.fn, g.par_arg, CASE WHEN r.keyset_default THEN 'NULL' ELSE '1' END, r.page_size, decl,
        coditect_internal.generated_prologue(p_permission, g.tbl),
        names, r.orderings, r.default_ordering, r.max_page_size, g.par_check, assign,
        cursors, g.tbl, preds, branches, multi,
        CASE WHEN g.hidden = '' THEN 'rows'
             ELSE format('(SELECT coalesce(jsonb_agg(e%s ORDER BY n), ''[]'') FROM jsonb_array_elements(rows) WITH ORDINALITY x(e, n))', g.hidden) END,
        g.scope, nosearch);

    sig := format('%s_list(%sjsonb, int, int, text, text, text)', g.fn, repeat('uuid, ', np));
    PERFORM coditect_internal.record_operation(r.name, 'list', 'list', 'GET', r.path, sig::regprocedure, p_permission,
        g.par_param || '[{"from": "filters"}, {"from": "page"}, {"from": "page_size"}, {"from": "cursor"}, {"from": "ordering"}, {"from": "search"}]',
        'list', 200, false, NULL, jsonb_build_object('resource', r.name), 'List ' || replace(r.plural, '_', ' '));
END
$gen$;

-- get, create, update, delete and restore: one row each, by id (and parent), live rows only.
CREATE FUNCTION coditect_internal.generate_row_functions(r coditect_internal.resources, g coditect_internal.resource_code,
                                                         p_perms jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gen$
DECLARE
    np      int := jsonb_array_length(g.par_param);
    id_arg  text := CASE WHEN r.singleton THEN '' ELSE 'p_id uuid, ' END;
    id_par  jsonb := CASE WHEN r.singleton THEN '[]' ELSE '[{"from": "path", "name": "id"}]' END;
    id_sig  text := repeat('uuid, ', np + CASE WHEN r.singleton THEN 0 ELSE 1 END);
    missing text;
    article text := CASE WHEN g.label ~ '^[aeiou]' THEN 'an ' ELSE 'a ' END;
    cols    text[];
    vals    text;
    sets    text;
BEGIN
    -- A child of a parent that is gone (soft-deleted) is gone too.
    missing := g.par_check || format(E'\n    IF r IS NULL THEN\n        RAISE EXCEPTION ''%s%s not found''%s USING ERRCODE = ''CD404'';\n    END IF;',
                      g.label, CASE WHEN r.singleton THEN '' ELSE ' %' END,
                      CASE WHEN r.singleton THEN '' ELSE ', p_id' END);
    IF p_perms ? 'view' THEN
        EXECUTE format($f$
CREATE FUNCTION %1$s_get(%2$s) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;
BEGIN
    %3$s
    SELECT to_jsonb(t)%4$s INTO r FROM %5$s t WHERE %6$s;%7$s
    RETURN r;
END
$fn$$f$, g.fn, rtrim(g.par_arg || id_arg, ', '), coditect_internal.generated_prologue(p_perms ->> 'view', g.tbl),
            g.hidden, g.tbl, g.key_where, missing);
        PERFORM coditect_internal.record_operation(r.name, 'get', 'get', 'GET', g.item_path,
            format('%s_get(%s)', g.fn, rtrim(id_sig, ', '))::regprocedure, p_perms ->> 'view', g.par_param || id_par,
            'row', 200, true, NULL, jsonb_build_object('resource', r.name), 'Get ' || article || g.label);
    END IF;

    IF p_perms ? 'create' THEN
        SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum),
               string_agg(CASE WHEN a.atthasdef
                               THEN format(E'\n               CASE WHEN p_body ? %L THEN p.%I ELSE %s END', a.attname, a.attname,
                                           pg_get_expr(d.adbin, d.adrelid))
                               ELSE format(E'\n               p.%I', a.attname) END, ', ' ORDER BY a.attnum)
          INTO cols, vals
          FROM coditect_internal.resource_columns rc
          JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE rc.resource = r.name AND rc.on_create;
        EXECUTE format($f$
CREATE FUNCTION %1$s_create(%2$sp_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;
BEGIN
    %3$s
    PERFORM coditect_internal.api_check_fields(p_body, %4$L);
    PERFORM coditect_internal.api_check_values(%5$L, p_body, %4$L);%6$s
    INSERT INTO %5$s AS t (%7$s)
    SELECT %8$s
      FROM jsonb_populate_record(NULL::%5$s, p_body) p
    RETURNING to_jsonb(t) INTO r;%9$s
    RETURN r%10$s;
END
$fn$$f$, g.fn, g.par_arg, coditect_internal.generated_prologue(p_perms ->> 'create', g.tbl),
            ARRAY(SELECT rc.column_name::text FROM coditect_internal.resource_columns rc WHERE rc.resource = r.name AND rc.on_create ORDER BY 1),
            g.tbl, g.par_check,
            array_to_string(ARRAY[quote_ident(r.tenant_column)]
                            || CASE WHEN r.parent IS NULL THEN '{}'::text[] ELSE ARRAY[quote_ident(r.parent_column)] END
                            || coalesce(cols, '{}'), ', '),
            array_to_string(ARRAY['v_tenant']
                            || CASE WHEN r.parent IS NULL THEN '{}'::text[] ELSE ARRAY[format('p_%s_id', r.parent)] END
                            || CASE WHEN vals IS NULL THEN '{}'::text[] ELSE ARRAY[vals] END, ', '),
            CASE WHEN r.after_create IS NULL THEN ''
                 ELSE format(E'\n    PERFORM %s(r);', (SELECT p.oid::regproc::text FROM pg_proc p WHERE p.oid = r.after_create)) END,
            g.hidden);
        PERFORM coditect_internal.record_operation(r.name, 'create', 'create', 'POST', r.path,
            format('%s_create(%sjsonb)', g.fn, repeat('uuid, ', np))::regprocedure, p_perms ->> 'create',
            g.par_param || '[{"from": "body"}]', 'row', 201, true,
            jsonb_build_object('resource', r.name, 'mode', 'create'), jsonb_build_object('resource', r.name),
            'Create ' || article || g.label);
    END IF;

    IF p_perms ? 'update' THEN
        SELECT string_agg(format(E'\n           %1$I = CASE WHEN p_body ? %1$L THEN p.%1$I ELSE t.%1$I END', rc.column_name), ','
                          ORDER BY a.attnum)
          INTO sets
          FROM coditect_internal.resource_columns rc
          JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
         WHERE rc.resource = r.name AND rc.on_update;
        EXECUTE format($f$
CREATE FUNCTION %1$s_update(%2$sp_body jsonb, p_if_match text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;
BEGIN
    %3$s
    PERFORM coditect_internal.api_check_fields(p_body, %4$L);
    PERFORM coditect_internal.api_check_values(%5$L, p_body);
    SELECT to_jsonb(t)%6$s INTO r FROM %5$s t WHERE %7$s FOR NO KEY UPDATE;%8$s
    IF p_if_match IS NOT NULL AND NOT coditect_internal.etag_matches(p_if_match, r) THEN
        RAISE EXCEPTION '%9$s changed since it was read (If-Match)' USING ERRCODE = 'CD412';
    END IF;
    IF p_body = '{}' THEN
        RETURN r;
    END IF;
    UPDATE %5$s AS t SET%10$s
      FROM jsonb_populate_record(NULL::%5$s, p_body) p
     WHERE %7$s
    RETURNING to_jsonb(t)%6$s INTO r;
    RETURN r;
END
$fn$$f$, g.fn, g.par_arg || id_arg, coditect_internal.generated_prologue(p_perms ->> 'update', g.tbl),
            ARRAY(SELECT rc.column_name::text FROM coditect_internal.resource_columns rc WHERE rc.resource = r.name AND rc.on_update ORDER BY 1),
            g.tbl, g.hidden, g.key_where, missing, 'the ' || g.label, sets);
        PERFORM coditect_internal.record_operation(r.name, 'update', 'update', 'PATCH', g.item_path,
            format('%s_update(%sjsonb, text)', g.fn, id_sig)::regprocedure, p_perms ->> 'update',
            g.par_param || id_par || '[{"from": "body"}, {"from": "if_match"}]', 'row', 200, true,
            jsonb_build_object('resource', r.name, 'mode', 'update'), jsonb_build_object('resource', r.name),
            'Update ' || CASE WHEN r.singleton THEN 'the ' ELSE article END || g.label);
    END IF;

    IF p_perms ? 'delete' THEN
        EXECUTE format($f$
CREATE FUNCTION %1$s_delete(%2$sp_if_match text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;
BEGIN
    %3$s
    SELECT to_jsonb(t)%4$s INTO r FROM %5$s t WHERE %6$s FOR UPDATE;%7$s
    IF p_if_match IS NOT NULL AND NOT coditect_internal.etag_matches(p_if_match, r) THEN
        RAISE EXCEPTION '%8$s changed since it was read (If-Match)' USING ERRCODE = 'CD412';
    END IF;
    DELETE FROM %5$s AS t WHERE %6$s;
END
$fn$$f$, g.fn, g.par_arg || id_arg, coditect_internal.generated_prologue(p_perms ->> 'delete', g.tbl),
            g.hidden, g.tbl, g.key_where, missing, 'the ' || g.label);
        PERFORM coditect_internal.record_operation(r.name, 'delete', 'delete', 'DELETE', g.item_path,
            format('%s_delete(%stext)', g.fn, id_sig)::regprocedure, p_perms ->> 'delete',
            g.par_param || id_par || '[{"from": "if_match"}]', 'void', 204, false, NULL, NULL,
            'Delete ' || article || g.label || CASE WHEN r.soft_delete THEN ' (soft delete)' ELSE '' END);
    END IF;

    IF p_perms ? 'restore' THEN
        EXECUTE format($f$
CREATE FUNCTION %1$s_restore(%2$s) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;
BEGIN
    %3$s%9$s
    UPDATE %4$s AS t SET deleted_at = NULL
     WHERE t.id = p_id AND t.deleted_at IS NOT NULL AND t.%8$I = v_tenant%5$s
    RETURNING to_jsonb(t)%6$s INTO r;
    IF r IS NULL THEN
        RAISE EXCEPTION 'no deleted %7$s %%', p_id USING ERRCODE = 'CD404';
    END IF;
    RETURN r;
END
$fn$$f$, g.fn, rtrim(g.par_arg || id_arg, ', '), coditect_internal.generated_prologue(p_perms ->> 'restore', g.tbl), g.tbl,
            CASE WHEN r.parent IS NULL THEN '' ELSE format(' AND t.%I = p_%s_id', r.parent_column, r.parent) END,
            g.hidden, g.label, r.tenant_column, g.par_check);
        PERFORM coditect_internal.record_operation(r.name, 'restore', 'restore', 'POST', g.item_path || 'restore/',
            format('%s_restore(%s)', g.fn, rtrim(id_sig, ', '))::regprocedure, p_perms ->> 'restore', g.par_param || id_par,
            'row', 200, true, NULL, jsonb_build_object('resource', r.name), 'Restore a deleted ' || g.label);
    END IF;
END
$gen$;

-- (Re)creates the API functions of one resource from its catalog rows. Run again after a
-- change of the table's columns or defaults (coditect_internal.regenerate_resources()).
CREATE FUNCTION coditect_internal.generate_resource_functions(p_resource text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r     coditect_internal.resources;
    g     coditect_internal.resource_code;
    perms jsonb;
    f     regprocedure;
BEGIN
    SELECT * INTO STRICT r FROM coditect_internal.resources WHERE name = p_resource;
    g := coditect_internal.resource_code(r);
    FOR f IN SELECT o.function FROM coditect_internal.resource_operations o
              WHERE o.resource = r.name AND o.kind <> 'action' LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
    DELETE FROM coditect_internal.resource_operations WHERE resource = r.name AND kind <> 'action';
    SELECT coalesce(jsonb_object_agg(v, r.name || '.' || v), '{}') INTO perms FROM jsonb_object_keys(r.roles) v;
    IF perms ? 'view' AND NOT r.singleton THEN
        PERFORM coditect_internal.generate_list(r, g, perms ->> 'view');
    END IF;
    PERFORM coditect_internal.generate_row_functions(r, g, perms);
END
$$;

CREATE FUNCTION coditect_internal.regenerate_resources() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n text;
BEGIN
    FOR n IN SELECT name FROM coditect_internal.resources ORDER BY parent NULLS FIRST, name LOOP
        PERFORM coditect_internal.generate_resource_functions(n);
    END LOOP;
    PERFORM pg_notify('coditect_catalog', 'reload');
END
$$;

------------------------------------------------------------------------------------------------
-- Declarations
------------------------------------------------------------------------------------------------

-- Declares a tenant table a resource of the API. p_roles gives the minimum role of each verb
-- (view, create, update, delete, restore); a verb left out has no operation. p_filters maps
-- columns to their operators (exact, in, isnull, gt, gte, lt, lte). Hidden columns are never
-- answered and are redacted from the audit trail.
CREATE FUNCTION coditect_internal.register_resource(
    p_table            regclass,
    p_name             text,
    p_roles            jsonb,
    p_create           text[] DEFAULT '{}',
    p_update           text[] DEFAULT '{}',
    p_hidden           text[] DEFAULT '{}',
    p_filters          jsonb DEFAULT '{}',
    p_orderings        text[] DEFAULT '{created_at}',
    p_default_ordering text DEFAULT '-created_at',
    p_search           text[] DEFAULT '{}',
    p_plural           text DEFAULT NULL,
    p_path             text DEFAULT NULL,
    p_parent           text DEFAULT NULL,
    p_parent_column    name DEFAULT NULL,
    p_singleton        boolean DEFAULT false,
    p_page_size        int DEFAULT 20,
    p_keyset           boolean DEFAULT false,
    p_state_machine    text DEFAULT NULL,
    p_after_create     regprocedure DEFAULT NULL,
    p_redact           text[] DEFAULT '{}',
    p_audit_exclude    text[] DEFAULT '{}',
    p_tenant_column    name DEFAULT 'tenant_id',
    p_writable         boolean DEFAULT true,
    p_mechanisms       boolean DEFAULT true,
    p_example          jsonb DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cols    text[] := ARRAY(SELECT attname::text FROM pg_attribute
                             WHERE attrelid = p_table AND attnum > 0 AND NOT attisdropped);
    bad     text;
    verb    text;
    plural  text := coalesce(p_plural, p_name || 's');
    par     coditect_internal.resources;
    path    text := p_path;
BEGIN
    SELECT string_agg(c, ', ') INTO bad
      FROM unnest(p_create || p_update || p_hidden || p_orderings || p_search
                  || ARRAY(SELECT jsonb_object_keys(p_filters))) c
     WHERE c <> ALL (cols);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'resource %: % has no column(s) %', p_name, p_table, bad USING ERRCODE = 'CD400';
    END IF;
    SELECT string_agg(a.attname, ', ') INTO bad FROM pg_attribute a
     WHERE a.attrelid = p_table AND a.attname::text = ANY (p_orderings) AND NOT a.attnotnull;
    IF bad IS NOT NULL OR 'id' <> ALL (cols) THEN
        RAISE EXCEPTION 'resource %: orderings need NOT NULL columns and an id column (%)', p_name, coalesce(bad, 'id')
            USING ERRCODE = 'CD400';
    END IF;
    SELECT string_agg(k, ', ') INTO bad FROM jsonb_object_keys(p_roles) k
     WHERE k NOT IN ('view', 'create', 'update', 'delete', 'restore');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'resource %: unknown verb(s) %', p_name, bad USING ERRCODE = 'CD400';
    END IF;
    SELECT string_agg(k, ', ') INTO bad FROM jsonb_object_keys(coalesce(p_example, '{}')) k WHERE k <> ALL (p_create);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'resource %: the example has field(s) % that are not create fields', p_name, bad USING ERRCODE = 'CD400';
    END IF;
    IF p_parent IS NOT NULL THEN
        SELECT * INTO STRICT par FROM coditect_internal.resources WHERE name = p_parent;
        path := coalesce(path, par.path || '{' || par.name || '_id}/' || replace(plural, '_', '-') || '/');
    END IF;
    path := coalesce(path, '/api/v1/' || replace(plural, '_', '-') || '/');

    IF p_mechanisms THEN
        PERFORM coditect_internal.register_tenant_table(p_table, p_name, p_redact || p_hidden, p_audit_exclude,
                                                        p_tenant_column, p_writable);
        IF p_state_machine IS NOT NULL THEN
            PERFORM coditect_internal.register_state_machine(p_table, p_state_machine);
        END IF;
    END IF;

    INSERT INTO coditect_internal.resources
        (name, plural, relid, path, parent, parent_column, singleton, soft_delete, search, orderings,
         default_ordering, page_size, keyset_default, state_machine, after_create, tenant_column, roles, example)
    VALUES (p_name, plural, p_table, path, p_parent, p_parent_column, p_singleton, 'deleted_at' = ANY (cols),
            p_search, p_orderings, p_default_ordering, p_page_size, p_keyset, p_state_machine, p_after_create,
            p_tenant_column, p_roles, p_example);
    INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update, filter_ops)
    SELECT p_name, c, c <> ALL (p_hidden), c = ANY (p_create), c = ANY (p_update),
           coalesce(ARRAY(SELECT jsonb_array_elements_text(p_filters -> c)), '{}')
      FROM unnest(cols) c;

    FOR verb IN SELECT jsonb_object_keys(p_roles) LOOP
        PERFORM coditect_internal.declare_permission(p_name || '.' || verb,
            initcap(verb) || ' ' || replace(plural, '_', ' '), p_roles ->> verb);
    END LOOP;
    PERFORM coditect_internal.generate_resource_functions(p_name);
    PERFORM pg_notify('coditect_catalog', 'reload');
END
$$;

-- Declares a custom action of a resource: a stored function and where each of its arguments
-- comes from (params: [{"from": "body_field", "name": "key_string", "required": true}, ...],
-- see README "Resource catalog"). p_min_role creates the permission <resource>.<name>;
-- p_permission names an existing one. The function checks it itself.
CREATE FUNCTION coditect_internal.register_action(
    p_resource   text,
    p_name       text,
    p_function   regprocedure,
    p_method     text,
    p_path       text,
    p_params     jsonb DEFAULT '[]',
    p_permission text DEFAULT NULL,
    p_min_role   text DEFAULT NULL,
    p_response   jsonb DEFAULT NULL,
    p_status     int DEFAULT 200,
    p_auth       text DEFAULT 'bearer',
    p_summary    text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    perm text := p_permission;
    res  text;
BEGIN
    IF p_min_role IS NOT NULL THEN
        perm := p_resource || '.' || p_name;
        PERFORM coditect_internal.declare_permission(perm, initcap(replace(p_name, '_', ' ')) || ' ' || p_resource, p_min_role);
    END IF;
    SELECT CASE WHEN p.prorettype = 'void'::regtype THEN 'void' ELSE 'json' END INTO res
      FROM pg_proc p WHERE p.oid = p_function;
    PERFORM coditect_internal.record_operation(p_resource, p_name, 'action', p_method, p_path, p_function, perm,
        p_params, res, CASE WHEN res = 'void' THEN 204 ELSE p_status END, false, NULL, p_response,
        coalesce(p_summary, initcap(replace(p_name, '_', ' '))), p_auth);
    PERFORM pg_notify('coditect_catalog', 'reload');
END
$$;

------------------------------------------------------------------------------------------------
-- coditect.api_catalog(): the catalog as JSON, types from the PostgreSQL catalog
------------------------------------------------------------------------------------------------

-- JSON Schema facts of a type: json_type, format, max_length, enum_type, items.
CREATE FUNCTION coditect_internal.json_type_of(p_type oid, p_typmod int) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t    pg_type;
    base oid := p_type;
    mod  int := p_typmod;
    fmt  text;
BEGIN
    SELECT * INTO t FROM pg_type WHERE oid = p_type;
    -- Our domains say more than their base types.
    IF t.typtype = 'd' THEN
        fmt := CASE p_type WHEN 'coditect.email'::regtype THEN 'email' WHEN 'coditect.url'::regtype THEN 'uri' END;
        IF p_type = 'coditect.json_object'::regtype THEN
            RETURN '{"json_type": "object"}';
        ELSIF p_type = 'coditect.json_array'::regtype THEN
            RETURN '{"json_type": "array"}';
        END IF;
        base := t.typbasetype;
        mod := t.typtypmod;
        SELECT * INTO t FROM pg_type WHERE oid = base;
    END IF;
    IF t.typtype = 'e' THEN
        RETURN jsonb_build_object('json_type', 'string', 'enum_type', t.typname);
    END IF;
    IF t.typcategory = 'A' THEN
        RETURN jsonb_build_object('json_type', 'array', 'items', coditect_internal.json_type_of(t.typelem, mod));
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'json_type', CASE WHEN base IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'integer'
                          WHEN t.typcategory = 'N' THEN 'number'
                          WHEN t.typcategory = 'B' THEN 'boolean'
                          WHEN base IN ('json'::regtype, 'jsonb'::regtype) THEN 'any'
                          ELSE 'string' END,
        'format', coalesce(fmt, CASE base WHEN 'uuid'::regtype THEN 'uuid'
                                          WHEN 'timestamptz'::regtype THEN 'date-time'
                                          WHEN 'timestamp'::regtype THEN 'date-time'
                                          WHEN 'date'::regtype THEN 'date'
                                          WHEN 'int4'::regtype THEN 'int32'
                                          WHEN 'int8'::regtype THEN 'int64' END),
        'max_length', CASE WHEN base IN ('varchar'::regtype, 'bpchar'::regtype) AND mod > 4 THEN mod - 4 END));
END
$$;

-- One attribute (column or composite field) in the catalog's terms.
CREATE FUNCTION coditect_internal.catalog_attribute(p_rel oid, p_attnum int) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('name', a.attname, 'nullable', NOT a.attnotnull,
                              'description', col_description(a.attrelid, a.attnum), 'has_default', a.atthasdef,
                              'json_type', NULL, 'format', NULL, 'max_length', NULL, 'enum_type', NULL, 'items', NULL)
           || coditect_internal.json_type_of(a.atttypid, a.atttypmod)
      FROM pg_attribute a WHERE a.attrelid = p_rel AND a.attnum = p_attnum
$$;

CREATE FUNCTION coditect.api_catalog() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'version', (SELECT extversion FROM pg_extension WHERE extname = 'coditect'),
        'types', (
            SELECT coalesce(jsonb_agg(x ORDER BY x ->> 'name'), '[]') FROM (
                SELECT jsonb_build_object('name', t.typname, 'kind', 'enum', 'description', obj_description(t.oid, 'pg_type'),
                                          'values', (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder)
                                                       FROM pg_enum e WHERE e.enumtypid = t.oid)) AS x
                  FROM pg_type t WHERE t.typnamespace = 'coditect'::regnamespace AND t.typtype = 'e'
                UNION ALL
                SELECT jsonb_build_object('name', t.typname, 'kind', 'composite', 'description', obj_description(t.oid, 'pg_type'),
                                          'attributes', (SELECT jsonb_agg(coditect_internal.catalog_attribute(a.attrelid, a.attnum) ORDER BY a.attnum)
                                                           FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
                  FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
                 WHERE t.typnamespace = 'coditect'::regnamespace AND t.typtype = 'c' AND c.relkind = 'c') s),
        'resources', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'name', r.name, 'plural', r.plural,
                'schema_name', replace(initcap(replace(r.name, '_', ' ')), ' ', ''),
                'path', r.path, 'item_path', CASE WHEN r.singleton THEN NULL ELSE r.path || '{id}/' END,
                'singleton', r.singleton,
                'parent', CASE WHEN r.parent IS NOT NULL THEN jsonb_build_object('resource', r.parent,
                               'param', r.parent || '_id', 'column', r.parent_column) END,
                'description', obj_description(r.relid, 'pg_class'),
                'soft_delete', r.soft_delete, 'state_machine', r.state_machine,
                'columns', (SELECT jsonb_agg(coditect_internal.catalog_attribute(r.relid, a.attnum)
                                             || jsonb_build_object('read', rc.readable, 'create', rc.on_create,
                                                                   'update', rc.on_update,
                                                                   'required', rc.on_create AND a.attnotnull AND NOT a.atthasdef)
                                             ORDER BY a.attnum)
                              FROM coditect_internal.resource_columns rc
                              JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
                             WHERE rc.resource = r.name),
                'filters', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                       'name', CASE x.op WHEN 'exact' THEN rc.column_name::text ELSE rc.column_name || '__' || x.op END,
                                       'column', rc.column_name, 'op', x.op)
                                   ORDER BY a.attnum, array_position('{exact,in,isnull,gt,gte,lt,lte}'::text[], x.op)), '[]')
                              FROM coditect_internal.resource_columns rc
                              JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
                             CROSS JOIN LATERAL unnest(rc.filter_ops) x(op)
                             WHERE rc.resource = r.name),
                'orderings', to_jsonb(r.orderings), 'default_ordering', r.default_ordering,
                'search', cardinality(r.search) > 0,
                'page_size', r.page_size, 'max_page_size', r.max_page_size, 'keyset_default', r.keyset_default,
                'example', r.example)
                ORDER BY r.name), '[]')
              FROM coditect_internal.resources r),
        'operations', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'operation_id', r.plural || '_' || o.name, 'resource', o.resource,
                'kind', CASE WHEN o.kind = 'restore' THEN 'action' ELSE o.kind END,
                'method', o.method, 'path', o.path, 'summary', o.summary, 'auth', o.auth,
                'permission', o.permission, 'sql', o.sql, 'params', o.params, 'result', o.result,
                'status', o.status, 'etag', o.etag,
                'request', coalesce(o.request, (
                    SELECT jsonb_build_object('fields', jsonb_agg(jsonb_build_object(
                               'name', p.value ->> 'name', 'required', coalesce((p.value ->> 'required')::boolean, false),
                               'also_query', coalesce((p.value ->> 'also_query')::boolean, false))
                               || coditect_internal.json_type_of((SELECT u.t FROM unnest(f.proargtypes::oid[]) WITH ORDINALITY u(t, i)
                                                                   WHERE u.i = p.n), -1) ORDER BY p.n))
                      FROM pg_proc f, jsonb_array_elements(o.params) WITH ORDINALITY p(value, n)
                     WHERE f.oid = o.function AND p.value ->> 'from' = 'body_field')),
                'response', o.response)
                ORDER BY o.path, o.method), '[]')
              FROM coditect_internal.resource_operations o
              JOIN coditect_internal.resources r ON r.name = o.resource))
$$;
REVOKE ALL ON FUNCTION coditect.api_catalog(), coditect_internal.json_type_of(oid, int),
    coditect_internal.catalog_attribute(oid, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.api_catalog(), coditect_internal.json_type_of(oid, int),
    coditect_internal.catalog_attribute(oid, int) TO coditect_gateway, coditect_service;
-- 10_audit: the append-only audit trail. Written only by coditect_internal.audit_row_change()
-- (as the table owner); partitioned monthly by pg_partman; immutable for every role.

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
-- No CHECK constraints: the audit trigger is the only writer and builds action ('<resource>.<verb>'),
-- severity and the JSON objects itself; PostgreSQL re-reads each CHECK expression for every
-- audited row (measured: four CHECKs cost a fifth of the trigger's time).
COMMENT ON TABLE coditect.audit_logs IS
    'Append-only audit trail, one row per change of a tenant table; partitioned monthly.';

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
    USING (tenant_id = (SELECT coditect.current_tenant_id()));
REVOKE ALL ON coditect.audit_logs FROM PUBLIC;
GRANT SELECT ON coditect.audit_logs TO coditect_gateway, coditect_service, coditect_analyst;

-- Immutability: row triggers are cloned to every partition; statement triggers are not, so
-- protect_audit_partitions() adds them to each partition (TRUNCATE has no row form).
CREATE FUNCTION coditect_internal.reject_audit_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'coditect.audit_logs is append-only: % is not allowed', TG_OP
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
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                 WHERE inhparent = 'coditect.audit_logs'::regclass LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = part AND tgname = 'audit_logs_immutable') THEN
            EXECUTE format('CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION coditect_internal.reject_audit_change()', part);
        END IF;
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_logs_immutable', part);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_logs_immutable_row', part);
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
BEGIN
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
-- 20_tenancy: tenants, users, memberships, teams, team members, projects; the permission
-- catalog; the request context; analyst bindings; tenant creation.

CREATE FUNCTION coditect.is_valid_timezone(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_is_valid_timezone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.tenant_tier AS ENUM ('trial', 'starter', 'professional', 'enterprise');
COMMENT ON TYPE coditect.tenant_tier IS 'A tenant''s plan.';
CREATE TYPE coditect.company_size AS ENUM ('small', 'medium', 'large', 'enterprise');
CREATE TYPE coditect.team_role AS ENUM ('lead', 'member');
COMMENT ON TYPE coditect.team_role IS 'A user''s role in a team.';

CREATE TABLE coditect.tenants (
    id                     uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    name                   varchar(255) NOT NULL CHECK (name ~ '\S'),
    slug                   coditect.slug NOT NULL,
    email                  coditect.email NOT NULL,
    license_tier           coditect.tenant_tier NOT NULL DEFAULT 'trial',
    seats_total            integer NOT NULL DEFAULT 1 CHECK (seats_total >= 0),
    is_active              boolean NOT NULL DEFAULT true,
    stripe_customer_id     varchar(255),
    stripe_subscription_id varchar(255),
    billing_email          coditect.email,
    tax_id                 varchar(100),
    phone_number           varchar(50),
    website                coditect.url,
    industry               varchar(100),
    company_size           coditect.company_size,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- Slug and Stripe ids are unique across tenants through coditect_internal.global_keys; no
-- other index: the tenants table is the tenant key, and a lookup by e-mail or activity across
-- tenants is the service's, not a tenant's (an index on them would leak through EXPLAIN).
SELECT coditect_internal.claim_global_key('coditect.tenants', 'slug', 'tenants_slug_key', 'id');
SELECT coditect_internal.claim_global_key('coditect.tenants', 'stripe_customer_id', 'tenants_stripe_customer_key', 'id');
SELECT coditect_internal.claim_global_key('coditect.tenants', 'stripe_subscription_id', 'tenants_stripe_subscription_key', 'id');

CREATE TABLE coditect.users (
    tenant_id                uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                       uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    email                    coditect.email NOT NULL,
    firebase_uid             varchar(255),
    first_name               varchar(150) NOT NULL DEFAULT '',
    last_name                varchar(150) NOT NULL DEFAULT '',
    role                     coditect.member_role NOT NULL DEFAULT 'member',
    oauth_provider           varchar(50) CHECK (oauth_provider ~ '^[a-z][a-z0-9_.-]*$'),
    oauth_sub                varchar(255),
    phone_number             varchar(50),
    avatar_url               coditect.url,
    timezone                 varchar(50) NOT NULL DEFAULT 'UTC'
                             CHECK (coditect.is_valid_timezone(timezone)),
    language                 varchar(10) NOT NULL DEFAULT 'en'
                             CHECK (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
    notification_preferences coditect.json_object NOT NULL DEFAULT '{}',
    is_active                boolean NOT NULL DEFAULT true,
    last_login               timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_oauth_pair CHECK ((oauth_provider IS NULL) = (oauth_sub IS NULL))
);
CREATE UNIQUE INDEX users_tenant_email_key ON coditect.users (tenant_id, lower(email));
CREATE INDEX users_oauth_idx ON coditect.users (tenant_id, oauth_provider, oauth_sub);
-- A Firebase uid names one user across all tenants (the gateway resolves a token's sub by it).
SELECT coditect_internal.claim_global_key('coditect.users', 'firebase_uid', 'users_firebase_uid_key');
CREATE INDEX users_role_idx ON coditect.users (tenant_id, role);

CREATE TABLE coditect.memberships (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    user_id    uuid NOT NULL,
    role       coditect.member_role NOT NULL DEFAULT 'member',
    joined_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT memberships_tenant_user_key UNIQUE (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT memberships_revoked_after_joined CHECK (revoked_at IS NULL OR revoked_at >= joined_at)
);
CREATE INDEX memberships_active_idx ON coditect.memberships (tenant_id, user_id) WHERE revoked_at IS NULL;

CREATE TABLE coditect.teams (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    name        varchar(255) NOT NULL CHECK (name ~ '\S'),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT teams_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE coditect.team_members (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    team_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    role       coditect.team_role NOT NULL DEFAULT 'member',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT team_members_team_user_key UNIQUE (tenant_id, team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES coditect.teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_idx ON coditect.team_members (tenant_id, user_id);

CREATE TABLE coditect.projects (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    name        varchar(255) NOT NULL CHECK (name ~ '\S'),
    description text NOT NULL DEFAULT '',
    metadata    coditect.json_object NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    -- Prefix of its tasks' keys (WEB-42); set once (its tasks keep their keys), unique in the
    -- tenant among all projects, deleted ones included, so that no two tasks share a key.
    key         varchar(10) CHECK (key ~ '^[A-Z][A-Z0-9]{1,9}$'),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_deleted_after_created CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE UNIQUE INDEX projects_tenant_key_key ON coditect.projects (tenant_id, key);
CREATE UNIQUE INDEX projects_tenant_name_key ON coditect.projects (tenant_id, name)
    WHERE deleted_at IS NULL;
-- The list's default order (created_at, id), so that a page is a short index scan.
CREATE INDEX projects_tenant_created_idx ON coditect.projects (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- A plain DELETE of a tenant would cascade into soft-delete tables, whose rows would then be
-- kept (soft-deleted) and left pointing at nothing; tenants go through purge_tenant() only.
CREATE FUNCTION coditect_internal.require_purge() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT coditect_internal.hard_delete_allowed() THEN
        RAISE EXCEPTION 'tenants are removed with coditect.purge_tenant(), not DELETE'
            USING ERRCODE = 'CD403';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER tenants_require_purge BEFORE DELETE ON coditect.tenants
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.require_purge();

------------------------------------------------------------------------------------------------
-- Ownership. Only an owner grants or takes the owner role, by whatever path: a membership's
-- role or revocation, a user's role, deactivating or deleting an owner's account. A tenant
-- always keeps an active owner. Writes without a request context are the DBA's and the
-- definer functions' (tenant creation, purge) and need no owner.
------------------------------------------------------------------------------------------------

-- Serialises the changes of ownership of a tenant on its row, so that every check made after
-- it sees the others' committed changes. REPEATABLE READ would keep its older snapshot behind
-- the lock (a row that was only locked raises no 40001), so it is refused there; READ
-- COMMITTED and SERIALIZABLE are fine. False when the tenant is gone (purge).
CREATE FUNCTION coditect_internal.lock_tenant_for_ownership(p_tenant uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'changes of ownership need READ COMMITTED or SERIALIZABLE isolation'
            USING ERRCODE = 'CD400';
    END IF;
    PERFORM 1 FROM coditect.tenants WHERE id = p_tenant FOR NO KEY UPDATE;
    RETURN FOUND;
END
$$;

-- Whether a memberships or users row is an owner's: an unrevoked owner membership, or the
-- account of a user with the owner role or an unrevoked owner membership.
CREATE FUNCTION coditect_internal.is_owner_row(p_table name, p_row jsonb) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_row IS NULL THEN
        RETURN false;
    END IF;
    IF p_table = 'memberships' THEN
        RETURN p_row->>'role' = 'owner' AND p_row->>'revoked_at' IS NULL;
    END IF;
    RETURN p_row->>'role' = 'owner'
        OR EXISTS (SELECT 1 FROM coditect.memberships m
                    WHERE m.tenant_id = (p_row->>'tenant_id')::uuid AND m.user_id = (p_row->>'id')::uuid
                      AND m.role = 'owner' AND m.revoked_at IS NULL);
END
$$;

-- BEFORE ROW on memberships and users: writing an owner's membership or account, or making
-- one, needs an owner's context (so an admin can neither grant nor demote, revoke, deactivate,
-- delete or re-identify an owner: e-mail and identity-provider ids are how one logs in). A
-- membership never moves to another user.
CREATE FUNCTION coditect_internal.guard_ownership() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'memberships' AND TG_OP = 'UPDATE' THEN
        IF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            RAISE EXCEPTION 'a membership cannot move to another user' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF coditect.current_user_id() IS NOT NULL THEN
        -- Decided after the tenant lock, on what is committed: a concurrent promotion of this
        -- user is seen.
        PERFORM coditect_internal.lock_tenant_for_ownership(coalesce(NEW.tenant_id, OLD.tenant_id));
        IF coditect.current_user_role() IS DISTINCT FROM 'owner'
           AND (coditect_internal.is_owner_row(TG_TABLE_NAME, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END)
                OR coditect_internal.is_owner_row(TG_TABLE_NAME, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END)) THEN
            RAISE EXCEPTION 'only an owner can grant or take the owner role, or change an owner account'
                USING ERRCODE = 'CD403';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- AFTER ROW on memberships (update, delete) and users (is_active): the tenant keeps an active
-- owner. The tenant row lock serialises concurrent ownership changes of one tenant, so two
-- owners cannot each remove the other. Runs as the owner to see past RLS and lock the tenant.
CREATE FUNCTION coditect_internal.require_active_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect_internal.hard_delete_allowed() THEN
        RETURN NULL;  -- purge_tenant
    END IF;
    IF NOT coditect_internal.lock_tenant_for_ownership(OLD.tenant_id) THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM coditect.memberships m
                     JOIN coditect.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
                    WHERE m.tenant_id = OLD.tenant_id AND m.role = 'owner' AND m.revoked_at IS NULL
                      AND u.is_active) THEN
        RAISE EXCEPTION 'a tenant must keep an active owner: make another member owner first'
            USING ERRCODE = 'CD409';
    END IF;
    RETURN NULL;
END
$$;

GRANT EXECUTE ON FUNCTION coditect_internal.is_owner_row(name, jsonb), coditect_internal.lock_tenant_for_ownership(uuid)
    TO coditect_gateway, coditect_service;

CREATE TRIGGER guard_ownership BEFORE INSERT OR UPDATE OR DELETE ON coditect.memberships
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_ownership();
CREATE TRIGGER guard_ownership BEFORE INSERT OR UPDATE OR DELETE ON coditect.users
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_ownership();
CREATE TRIGGER require_active_owner AFTER UPDATE OF role, revoked_at OR DELETE ON coditect.memberships
    FOR EACH ROW WHEN (OLD.role = 'owner' AND OLD.revoked_at IS NULL)
    EXECUTE FUNCTION coditect_internal.require_active_owner();
CREATE TRIGGER require_active_owner AFTER UPDATE OF is_active ON coditect.users
    FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
    EXECUTE FUNCTION coditect_internal.require_active_owner();
ALTER TABLE coditect.memberships ENABLE ALWAYS TRIGGER guard_ownership, ENABLE ALWAYS TRIGGER require_active_owner;
ALTER TABLE coditect.users ENABLE ALWAYS TRIGGER guard_ownership, ENABLE ALWAYS TRIGGER require_active_owner;

-- Maintenance only (DBA): removes a tenant and everything it owns, soft-deleted rows included.
-- Each removed row is audited; the audit trail itself is kept until its retention ends.
CREATE FUNCTION coditect.purge_tenant(p_tenant_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.allow_hard_delete(true);
    DELETE FROM coditect.tenants WHERE id = p_tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.allow_hard_delete(false);
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_tenant(uuid) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Analyst bindings: a DBA binds a login to one tenant; it then reads that tenant's rows.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.analyst_bindings (
    role_oid  oid PRIMARY KEY,
    role_name name NOT NULL,
    tenant_id uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    bound_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION coditect.bind_analyst(p_role name, p_tenant_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = p_role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', p_role USING ERRCODE = 'CD404';
    END IF;
    IF r.rolsuper OR r.rolbypassrls THEN
        RAISE EXCEPTION 'role "%" bypasses row-level security and cannot be bound to a tenant', p_role
            USING ERRCODE = 'CD400';
    END IF;
    IF pg_has_role(p_role, 'coditect_gateway', 'MEMBER') OR pg_has_role(p_role, 'coditect_service', 'MEMBER') THEN
        RAISE EXCEPTION 'role "%" is a gateway or service role; an analyst login must be a separate role', p_role
            USING ERRCODE = 'CD400';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM coditect.tenants WHERE id = p_tenant_id) THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    INSERT INTO coditect_internal.analyst_bindings (role_oid, role_name, tenant_id)
    VALUES (r.oid, p_role, p_tenant_id)
    ON CONFLICT (role_oid) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, role_name = EXCLUDED.role_name,
                                         bound_at = now();
    IF NOT pg_has_role(p_role, 'coditect_analyst', 'MEMBER') THEN
        EXECUTE format('GRANT coditect_analyst TO %I', p_role);
    END IF;
END
$$;

CREATE FUNCTION coditect.unbind_analyst(p_role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r oid := to_regrole(quote_ident(p_role));
BEGIN
    -- Bindings are by oid: a renamed role is found under its new name; a dropped one by the
    -- name it had when it was bound.
    IF r IS NOT NULL THEN
        DELETE FROM coditect_internal.analyst_bindings WHERE role_oid = r;
    ELSE
        DELETE FROM coditect_internal.analyst_bindings WHERE role_name = p_role;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" is not bound to a tenant', p_role USING ERRCODE = 'CD404';
    END IF;
    IF r IS NOT NULL AND pg_has_role(r, 'coditect_analyst', 'MEMBER') THEN
        EXECUTE format('REVOKE coditect_analyst FROM %I', p_role);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION coditect.bind_analyst(name, uuid), coditect.unbind_analyst(name) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Request context
------------------------------------------------------------------------------------------------

-- Sets who is calling for the rest of the transaction. The user must be an active member of an
-- active tenant; p_user_role may lower the membership's role, never raise it.
CREATE FUNCTION coditect.set_request_context(
    p_tenant_id      uuid,
    p_user_id        uuid,
    p_user_role      text,
    p_client_ip      inet DEFAULT NULL,
    p_user_agent     text DEFAULT NULL,
    p_request_method text DEFAULT NULL,
    p_request_path   text DEFAULT NULL,
    p_request_id     text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    member_role text;
BEGIN
    IF p_tenant_id IS NULL OR p_user_id IS NULL OR p_user_role IS NULL THEN
        RAISE EXCEPTION 'tenant, user and role are required' USING ERRCODE = 'CD400';
    END IF;
    IF coditect_internal.role_rank(p_user_role) IS NULL THEN
        RAISE EXCEPTION 'unknown role "%": expected owner, admin, member or guest', p_user_role
            USING ERRCODE = 'CD400';
    END IF;
    IF p_request_method IS NOT NULL AND p_request_method !~ '^[A-Z]{1,10}$' THEN
        RAISE EXCEPTION 'request method must be 1 to 10 upper-case letters' USING ERRCODE = 'CD400';
    END IF;
    IF p_request_id IS NOT NULL AND p_request_id !~ '^[A-Za-z0-9._:-]{1,128}$' THEN
        RAISE EXCEPTION 'request id must be 1 to 128 letters, digits or . _ : -' USING ERRCODE = 'CD400';
    END IF;
    IF EXISTS (SELECT 1 FROM coditect_internal.analyst_bindings
                WHERE role_oid = to_regrole(quote_ident(session_user))::oid) THEN
        RAISE EXCEPTION 'an analyst login cannot set a request context' USING ERRCODE = 'CD403';
    END IF;

    SELECT m.role INTO member_role
      FROM coditect.memberships m
      JOIN coditect.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
      JOIN coditect.tenants t ON t.id = m.tenant_id
     WHERE m.tenant_id = p_tenant_id AND m.user_id = p_user_id
       AND m.revoked_at IS NULL AND u.is_active AND t.is_active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user is not an active member of this tenant' USING ERRCODE = 'CD403';
    END IF;
    IF coditect_internal.role_rank(p_user_role) > coditect_internal.role_rank(member_role) THEN
        RAISE EXCEPTION 'role "%" exceeds the membership role "%"', p_user_role, member_role
            USING ERRCODE = 'CD403';
    END IF;

    PERFORM coditect_internal.context_set(p_tenant_id, p_user_id, p_user_role, p_client_ip,
                                          left(p_user_agent, 500), p_request_method,
                                          left(p_request_path, 1000), p_request_id);
END
$$;
REVOKE ALL ON FUNCTION coditect.set_request_context(uuid, uuid, text, inet, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.set_request_context(uuid, uuid, text, inet, text, text, text, text)
    TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Tenant creation (services and the registration flow): a tenant, its owner, the membership.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect.create_tenant(
    p_name               text,
    p_slug               text,
    p_email              text,
    p_owner_email        text,
    p_owner_firebase_uid text DEFAULT NULL,
    p_license_tier       text DEFAULT 'trial'
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t uuid;
    u uuid;
    m uuid;
BEGIN
    INSERT INTO coditect.tenants (name, slug, email, license_tier)
    VALUES (p_name, p_slug, p_email, p_license_tier::coditect.tenant_tier) RETURNING id INTO t;
    INSERT INTO coditect.users (tenant_id, email, firebase_uid, role)
    VALUES (t, p_owner_email, p_owner_firebase_uid, 'owner') RETURNING id INTO u;
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES (t, u, 'owner') RETURNING id INTO m;
    RETURN jsonb_build_object('tenant_id', t, 'user_id', u, 'membership_id', m);
END
$$;
REVOKE ALL ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) TO coditect_service;

-- A project's key is set once: its tasks' keys are made from it.
CREATE FUNCTION coditect_internal.keep_project_key() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.key IS NOT NULL AND NEW.key IS DISTINCT FROM OLD.key THEN
        RAISE EXCEPTION 'a project''s key is set once (its tasks are keyed %-<number>)', OLD.key USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- A user invited through the API joins with a membership of the same role.
CREATE FUNCTION coditect_internal.add_invited_member(p_user jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES ((p_user ->> 'tenant_id')::uuid, (p_user ->> 'id')::uuid, (p_user ->> 'role')::coditect.member_role);
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.add_invited_member(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.add_invited_member(jsonb) TO coditect_gateway, coditect_service;

-- Nobody deletes their own account in a request context (an owner would lock themselves out
-- mid-request; an admin would lose the session that did it).
CREATE FUNCTION coditect_internal.refuse_self_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.id = coditect.current_user_id() AND OLD.tenant_id = coditect.current_tenant_id() THEN
        RAISE EXCEPTION 'you cannot delete yourself' USING ERRCODE = 'CD409';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER refuse_self_delete BEFORE DELETE ON coditect.users
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.refuse_self_delete();
ALTER TABLE coditect.users ENABLE ALWAYS TRIGGER refuse_self_delete;

------------------------------------------------------------------------------------------------
-- Resources (06_catalog): what the API shows of each table, and the least role per verb.
------------------------------------------------------------------------------------------------

-- A tenant edits its profile; plan, seats, activation and billing ids belong to the service.
SELECT coditect_internal.register_resource('coditect.tenants', 'tenant', p_plural => 'tenant',
    p_singleton => true, p_path => '/api/v1/tenant/',
    p_roles => '{"view": "guest", "update": "admin"}',
    p_update => '{name,email,billing_email,tax_id,phone_number,website,industry,company_size}',
    p_redact => '{tax_id}', p_tenant_column => 'id', p_writable => false);
GRANT UPDATE (name, email, billing_email, tax_id, phone_number, website, industry, company_size)
    ON coditect.tenants TO coditect_gateway;
GRANT UPDATE ON coditect.tenants TO coditect_service;

-- Identity-provider ids are hidden from the API and redacted from the audit trail.
SELECT coditect_internal.register_resource('coditect.users', 'user',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences}',
    p_update => '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences,is_active}',
    p_hidden => '{oauth_sub,firebase_uid}',
    p_filters => '{"email": ["exact", "in"], "role": ["exact", "in"], "is_active": ["exact"],
                   "last_login": ["isnull", "gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,email,last_name}', p_search => '{email,first_name,last_name}',
    p_after_create => 'coditect_internal.add_invited_member(jsonb)');

-- Memberships are made with their users; an admin changes a role or revokes (revoked_at).
SELECT coditect_internal.register_resource('coditect.memberships', 'membership',
    p_roles => '{"view": "member", "update": "admin"}',
    p_update => '{role,revoked_at}',
    p_filters => '{"user_id": ["exact", "in"], "role": ["exact", "in"], "revoked_at": ["isnull"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,joined_at}');

SELECT coditect_internal.register_resource('coditect.teams', 'team',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{name,description}', p_update => '{name,description}',
    p_filters => '{"name": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name}', p_search => '{name,description}');

SELECT coditect_internal.register_resource('coditect.team_members', 'team_member',
    p_parent => 'team', p_parent_column => 'team_id', p_path => '/api/v1/teams/{team_id}/members/',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{user_id,role}', p_update => '{role}',
    p_filters => '{"user_id": ["exact", "in"], "role": ["exact"], "created_at": ["gte", "lt"]}');

SELECT coditect_internal.register_resource('coditect.projects', 'project',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "admin", "restore": "admin"}',
    p_create => '{name,description,metadata,key}', p_update => '{name,description,metadata,key}',
    p_filters => '{"name": ["exact", "in"], "key": ["exact"], "created_at": ["gt", "gte", "lt", "lte"], "updated_at": ["gte", "lt"]}',
    p_orderings => '{created_at,updated_at,name}', p_search => '{name,description}',
    p_example => '{"name": "Website", "key": "WEB", "description": "The public site"}');
CREATE TRIGGER keep_project_key BEFORE UPDATE OF key ON coditect.projects
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_project_key();
ALTER TABLE coditect.projects ENABLE ALWAYS TRIGGER keep_project_key;

-- Registration: a verified identity with no user yet creates a tenant and becomes its owner.
CREATE FUNCTION coditect.api_register(p_firebase_uid text, p_email text, p_tenant_name text, p_tenant_slug text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_firebase_uid IS NULL OR p_firebase_uid !~ '\S' THEN
        RAISE EXCEPTION 'a verified subject is required' USING ERRCODE = 'CD400';
    END IF;
    IF EXISTS (SELECT 1 FROM coditect_internal.global_keys WHERE kind = 'users.firebase_uid' AND value = p_firebase_uid) THEN
        RAISE EXCEPTION 'this identity is already registered' USING ERRCODE = 'CD409';
    END IF;
    RETURN coditect.create_tenant(p_tenant_name, p_tenant_slug, p_email, p_email, p_firebase_uid);
END
$$;

REVOKE ALL ON FUNCTION coditect.api_register(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.api_register(text, text, text, text) TO coditect_gateway, coditect_service;

-- The user a Firebase uid belongs to (the gateway's lookup of a token's "sub").
CREATE FUNCTION coditect.resolve_firebase_user(p_firebase_uid text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('tenant_id', k.tenant_id, 'user_id', k.row_id, 'role', m.role)
      FROM coditect_internal.global_keys k
      LEFT JOIN coditect.memberships m ON m.tenant_id = k.tenant_id AND m.user_id = k.row_id AND m.revoked_at IS NULL
     WHERE k.kind = 'users.firebase_uid' AND k.value = p_firebase_uid
$$;

-- 30_pm: project management: sprints, milestones and tasks, their rules, task numbers and keys,
-- and the task actions (issue 9). Comments are in 32_task_comments.sql; activity and boards
-- come next.

CREATE TYPE coditect.task_type AS ENUM ('task', 'bug', 'feature', 'epic');
CREATE TYPE coditect.task_status AS ENUM ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled');
COMMENT ON TYPE coditect.task_status IS
    'backlog -> todo -> in_progress -> in_review -> done; cancelled from any open state; done and cancelled reopen to todo.';
CREATE TYPE coditect.task_priority AS ENUM ('low', 'medium', 'high', 'urgent');
CREATE TYPE coditect.sprint_status AS ENUM ('planned', 'active', 'completed', 'cancelled');
CREATE TYPE coditect.milestone_status AS ENUM ('open', 'in_progress', 'completed', 'cancelled');

------------------------------------------------------------------------------------------------
-- Sprints
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.sprints (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id   uuid NOT NULL,
    name         varchar(255) NOT NULL CHECK (name ~ '\S'),
    goal         text NOT NULL DEFAULT '',
    status       coditect.sprint_status NOT NULL DEFAULT 'planned',
    start_date   date NOT NULL,
    end_date     date NOT NULL,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    -- The target of tasks' (tenant, project, sprint): a task's sprint is of its project.
    CONSTRAINT sprints_tenant_project_id_key UNIQUE (tenant_id, project_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT sprints_end_after_start CHECK (end_date > start_date),
    -- Half-open ranges: a sprint may start on the day the previous one ends. Cancelled and
    -- deleted sprints take no dates.
    CONSTRAINT sprints_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, project_id WITH =, daterange(start_date, end_date) WITH &&)
        WHERE (deleted_at IS NULL AND status <> 'cancelled')
);
CREATE UNIQUE INDEX sprints_one_active_key ON coditect.sprints (tenant_id, project_id)
    WHERE status = 'active' AND deleted_at IS NULL;
CREATE UNIQUE INDEX sprints_tenant_project_name_key ON coditect.sprints (tenant_id, project_id, name)
    WHERE deleted_at IS NULL;
CREATE INDEX sprints_project_status_idx ON coditect.sprints (tenant_id, project_id, status);
CREATE INDEX sprints_dates_idx ON coditect.sprints (tenant_id, start_date, end_date);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('sprint', NULL,      'planned',   NULL),
    ('sprint', 'planned', 'active',    NULL),
    ('sprint', 'planned', 'cancelled', NULL),
    ('sprint', 'active',  'completed', 'completed_at'),
    ('sprint', 'active',  'cancelled', NULL);

------------------------------------------------------------------------------------------------
-- Milestones
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.milestones (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id       uuid NOT NULL,
    title            varchar(255) NOT NULL CHECK (title ~ '\S'),
    description      text NOT NULL DEFAULT '',
    status           coditect.milestone_status NOT NULL DEFAULT 'open',
    due_date         date,
    progress_percent integer NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT milestones_tenant_project_id_key UNIQUE (tenant_id, project_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON COLUMN coditect.milestones.progress_percent IS
    'Done tasks over all non-cancelled live tasks of the milestone, in percent; kept by the database.';
CREATE UNIQUE INDEX milestones_tenant_project_title_key ON coditect.milestones (tenant_id, project_id, title)
    WHERE deleted_at IS NULL;
CREATE INDEX milestones_project_status_idx ON coditect.milestones (tenant_id, project_id, status);
CREATE INDEX milestones_due_date_idx ON coditect.milestones (tenant_id, due_date);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('milestone', NULL,          'open',        NULL),
    ('milestone', 'open',        'in_progress', NULL),
    ('milestone', 'open',        'completed',   'completed_at'),
    ('milestone', 'in_progress', 'completed',   'completed_at'),
    ('milestone', 'open',        'cancelled',   NULL),
    ('milestone', 'in_progress', 'cancelled',   NULL),
    ('milestone', 'completed',   'in_progress', NULL);

------------------------------------------------------------------------------------------------
-- Tasks
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.tasks (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id     uuid NOT NULL,
    number         integer NOT NULL,      -- per project, from 1, given by the database
    key            varchar(21),           -- <project key>-<number> when the project has a key
    title          varchar(500) NOT NULL CHECK (title ~ '\S'),
    description    text NOT NULL DEFAULT '',
    task_type      coditect.task_type NOT NULL DEFAULT 'task',
    status         coditect.task_status NOT NULL DEFAULT 'backlog',
    priority       coditect.task_priority NOT NULL DEFAULT 'medium',
    assignee_id    uuid,
    reporter_id    uuid DEFAULT coditect.current_user_id(),
    sprint_id      uuid,
    milestone_id   uuid,
    parent_task_id uuid,
    -- Enforced, not advisory: estimates off the scale are a data error a board cannot sum.
    story_points   integer CHECK (story_points IN (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)),
    due_date       timestamptz,
    started_at     timestamptz,
    completed_at   timestamptz,
    tags           coditect.json_array NOT NULL DEFAULT '[]'
                   CHECK (NOT jsonb_path_exists(tags, 'strict $[*] ? (@.type() != "string")')),  -- strict: no nested arrays
    custom_fields  coditect.json_object NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT tasks_tenant_project_id_key UNIQUE (tenant_id, project_id, id),
    CONSTRAINT tasks_project_number_key UNIQUE (tenant_id, project_id, number),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (assignee_id),
    FOREIGN KEY (tenant_id, reporter_id) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (reporter_id),
    -- With the project in the key, a sprint, milestone or parent of another project is refused.
    FOREIGN KEY (tenant_id, project_id, sprint_id) REFERENCES coditect.sprints (tenant_id, project_id, id)
        ON DELETE SET NULL (sprint_id),
    FOREIGN KEY (tenant_id, project_id, milestone_id) REFERENCES coditect.milestones (tenant_id, project_id, id)
        ON DELETE SET NULL (milestone_id),
    FOREIGN KEY (tenant_id, project_id, parent_task_id) REFERENCES coditect.tasks (tenant_id, project_id, id)
        ON DELETE SET NULL (parent_task_id)
);
CREATE UNIQUE INDEX tasks_tenant_key_key ON coditect.tasks (tenant_id, key);
CREATE INDEX tasks_project_status_idx ON coditect.tasks (tenant_id, project_id, status);
CREATE INDEX tasks_assignee_idx ON coditect.tasks (tenant_id, assignee_id);
CREATE INDEX tasks_sprint_idx ON coditect.tasks (tenant_id, sprint_id);
CREATE INDEX tasks_milestone_idx ON coditect.tasks (tenant_id, milestone_id);
CREATE INDEX tasks_parent_idx ON coditect.tasks (tenant_id, parent_task_id);
CREATE INDEX tasks_due_date_idx ON coditect.tasks (tenant_id, due_date);
CREATE INDEX tasks_tenant_created_idx ON coditect.tasks (tenant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('task', NULL,          'backlog',     NULL),
    ('task', NULL,          'todo',        NULL),
    ('task', 'backlog',     'todo',        NULL),
    ('task', 'todo',        'backlog',     NULL),
    ('task', 'todo',        'in_progress', 'started_at'),
    ('task', 'in_progress', 'todo',        NULL),
    ('task', 'in_progress', 'in_review',   NULL),
    ('task', 'in_review',   'in_progress', NULL),
    ('task', 'in_review',   'done',        'completed_at'),
    ('task', 'backlog',     'cancelled',   NULL),
    ('task', 'todo',        'cancelled',   NULL),
    ('task', 'in_progress', 'cancelled',   NULL),
    ('task', 'in_review',   'cancelled',   NULL),
    ('task', 'done',        'todo',        NULL),
    ('task', 'cancelled',   'todo',        NULL);

-- The last task number of each project. A new task takes the next under the counter row's lock:
-- inserts into one project wait for each other only there (no table lock), and a rolled-back
-- insert gives its number back, so numbers have no gaps.
CREATE TABLE coditect_internal.task_counters (
    tenant_id   uuid NOT NULL,
    project_id  uuid NOT NULL,
    last_number integer NOT NULL,
    PRIMARY KEY (tenant_id, project_id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE
);
REVOKE ALL ON coditect_internal.task_counters FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.task_counters', '');

-- BEFORE INSERT OR UPDATE OF project_id, number, key: a task's number and key are given once by
-- the database; a task stays in its project. Runs as the owner, the counters' only user.
CREATE FUNCTION coditect_internal.number_task() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- A row for another tenant than the context's is the policy's to refuse (it checks before
    -- the constraints): this owner-rights code does not touch that tenant's rows first.
    IF coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.project_id, NEW.number, NEW.key) IS DISTINCT FROM (OLD.project_id, OLD.number, OLD.key) THEN
            RAISE EXCEPTION 'a task keeps its project, number and key' USING ERRCODE = 'CD422';
        END IF;
        RETURN NEW;
    END IF;
    INSERT INTO coditect_internal.task_counters AS c (tenant_id, project_id, last_number)
    VALUES (NEW.tenant_id, NEW.project_id, 1)
    ON CONFLICT (tenant_id, project_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING last_number INTO NEW.number;
    NEW.key := (SELECT p.key FROM coditect.projects p WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.project_id)
               || '-' || NEW.number;
    RETURN NEW;
END
$$;

-- BEFORE INSERT OR UPDATE OF parent_task_id: at most three levels (a task, its subtask and that
-- one's), and no task its own ancestor. The project row is locked first, so two moves in one
-- project cannot together make a cycle or a fourth level.
CREATE FUNCTION coditect_internal.check_task_hierarchy() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    above  int;      -- levels from NEW's parent up to its root, the parent included
    below  int;      -- levels of NEW's subtree, NEW included
    cyclic boolean;
BEGIN
    IF NEW.parent_task_id IS NULL
       OR (coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id()) THEN
        RETURN NEW;  -- another tenant's row: the policy refuses it
    END IF;
    PERFORM 1 FROM coditect.projects WHERE tenant_id = NEW.tenant_id AND id = NEW.project_id FOR NO KEY UPDATE;
    IF NEW.parent_task_id = NEW.id THEN
        RAISE EXCEPTION 'a task cannot be its own parent' USING ERRCODE = 'CD422';
    END IF;
    WITH RECURSIVE up (id, parent, depth, path) AS (
        SELECT t.id, t.parent_task_id, 1, ARRAY[t.id] FROM coditect.tasks t
         WHERE t.tenant_id = NEW.tenant_id AND t.id = NEW.parent_task_id
        UNION ALL
        SELECT t.id, t.parent_task_id, u.depth + 1, u.path || t.id FROM up u
          JOIN coditect.tasks t ON t.tenant_id = NEW.tenant_id AND t.id = u.parent
         WHERE NOT t.id = ANY (u.path))
    SELECT max(depth), bool_or(id = NEW.id) INTO above, cyclic FROM up;
    IF cyclic THEN
        RAISE EXCEPTION 'a task cannot be moved under its own subtask' USING ERRCODE = 'CD422';
    END IF;
    WITH RECURSIVE down (id, depth) AS (
        SELECT NEW.id, 1
        UNION ALL
        SELECT t.id, d.depth + 1 FROM down d
          JOIN coditect.tasks t ON t.tenant_id = NEW.tenant_id AND t.parent_task_id = d.id
         WHERE d.depth < 4)
    SELECT max(depth) INTO below FROM down;
    IF above + below > 3 THEN
        RAISE EXCEPTION 'subtasks go at most 3 levels deep (this would make %)', above + below
            USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- BEFORE UPDATE OF status: a reopened task is no longer complete.
CREATE FUNCTION coditect_internal.reopen_task() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status IN ('done', 'cancelled') AND NEW.status NOT IN ('done', 'cancelled') THEN
        NEW.completed_at := NULL;
    END IF;
    RETURN NEW;
END
$$;

-- AFTER a task change: the progress of the milestones it left and joined. Runs as the owner:
-- clients hold no privilege on progress_percent.
CREATE FUNCTION coditect_internal.update_milestone_progress() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ms uuid;
    tenant uuid := coalesce(NEW.tenant_id, OLD.tenant_id);
BEGIN
    FOR ms IN SELECT DISTINCT m FROM unnest(ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.milestone_id END,
                                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.milestone_id END]) m
               WHERE m IS NOT NULL LOOP
        UPDATE coditect.milestones m
           SET progress_percent = coalesce((
               SELECT round(100.0 * count(*) FILTER (WHERE t.status = 'done')
                            / nullif(count(*) FILTER (WHERE t.status <> 'cancelled'), 0))
                 FROM coditect.tasks t
                WHERE t.tenant_id = tenant AND t.milestone_id = ms AND t.deleted_at IS NULL), 0)
         WHERE m.tenant_id = tenant AND m.id = ms;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER number_task BEFORE INSERT OR UPDATE OF project_id, number, key ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.number_task();
CREATE TRIGGER check_task_hierarchy BEFORE INSERT OR UPDATE OF parent_task_id ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_task_hierarchy();
CREATE TRIGGER reopen_task BEFORE UPDATE OF status ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.reopen_task();
CREATE TRIGGER update_milestone_progress
    AFTER INSERT OR UPDATE OF status, milestone_id, deleted_at OR DELETE ON coditect.tasks
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.update_milestone_progress();
ALTER TABLE coditect.tasks ENABLE ALWAYS TRIGGER number_task, ENABLE ALWAYS TRIGGER check_task_hierarchy, ENABLE ALWAYS TRIGGER reopen_task,
    ENABLE ALWAYS TRIGGER update_milestone_progress;

------------------------------------------------------------------------------------------------
-- Resources
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.sprints', 'sprint', p_state_machine => 'sprint',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin", "restore": "admin"}',
    p_create => '{project_id,name,goal,start_date,end_date}',
    p_update => '{name,goal,status,start_date,end_date}',
    p_filters => '{"project_id": ["exact"], "status": ["exact", "in"], "start_date": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,start_date,name}', p_default_ordering => '-start_date',
    p_example => '{"name": "Sprint 12", "goal": "Ship the board view", "start_date": "2026-12-01", "end_date": "2026-12-15"}');

SELECT coditect_internal.register_resource('coditect.milestones', 'milestone', p_state_machine => 'milestone',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin", "restore": "admin"}',
    p_create => '{project_id,title,description,due_date}',
    p_update => '{title,description,status,due_date}',
    p_filters => '{"project_id": ["exact"], "status": ["exact", "in"], "due_date": ["gte", "lt", "isnull"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,title}', p_audit_exclude => '{progress_percent}',
    p_example => '{"title": "Public beta", "due_date": "2027-03-31"}');
-- progress_percent is the trigger's alone.
REVOKE INSERT, UPDATE ON coditect.milestones FROM coditect_gateway, coditect_service;
GRANT INSERT (tenant_id, id, project_id, title, description, status, due_date, completed_at, deleted_at),
      UPDATE (project_id, title, description, status, due_date, completed_at, deleted_at)
    ON coditect.milestones TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_resource('coditect.tasks', 'task', p_state_machine => 'task',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "admin", "restore": "admin"}',
    p_create => '{project_id,title,description,task_type,status,priority,assignee_id,sprint_id,milestone_id,parent_task_id,story_points,due_date,tags,custom_fields}',
    p_update => '{title,description,task_type,status,priority,assignee_id,sprint_id,milestone_id,parent_task_id,story_points,due_date,tags,custom_fields}',
    p_filters => '{"project_id": ["exact"], "key": ["exact", "in"], "status": ["exact", "in"], "priority": ["exact", "in"], "task_type": ["exact", "in"],
                   "assignee_id": ["exact", "isnull"], "sprint_id": ["exact", "isnull"], "milestone_id": ["exact", "isnull"],
                   "parent_task_id": ["exact", "isnull"], "due_date": ["gte", "lt", "isnull"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,updated_at,priority,status,title,number}', p_search => '{title,description}',
    p_example => '{"title": "Board view groups tasks by column", "task_type": "feature", "priority": "high",
                   "story_points": 5, "tags": ["frontend"]}');

-- Actions: a status change with the refusal naming the allowed targets (the state machine's
-- CD422), and a move to a sprint of the task's project (NULL: out of any sprint).
CREATE FUNCTION coditect.task_transition(p_id uuid, p_status coditect.task_status) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.api_tasks_update(p_id, jsonb_build_object('status', p_status))
$$;
CREATE FUNCTION coditect.task_move_to_sprint(p_id uuid, p_sprint_id uuid) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.api_tasks_update(p_id, jsonb_build_object('sprint_id', p_sprint_id))
$$;
SELECT coditect_internal.register_action('task', 'transition', 'coditect.task_transition(uuid, coditect.task_status)',
    'POST', '/api/v1/tasks/{id}/transition/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "status", "required": true}]',
    p_permission => 'task.update', p_response => '{"resource": "task"}',
    p_summary => 'Move a task to another status (422 names the allowed ones)');
SELECT coditect_internal.register_action('task', 'move_to_sprint', 'coditect.task_move_to_sprint(uuid, uuid)',
    'POST', '/api/v1/tasks/{id}/sprint/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "sprint_id", "required": true}]',
    p_permission => 'task.update', p_response => '{"resource": "task"}',
    p_summary => 'Put a task in a sprint of its project (sprint_id null: out of the sprint)');

-- 32_task_comments: comments on tasks (issue 9): Markdown, soft delete, nested under their task
-- (/api/v1/tasks/{task_id}/comments/). Only a comment's author edits it; the author or an admin
-- deletes it. The rules are the database's, for every writer with a request context.

CREATE TABLE coditect.task_comments (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    task_id    uuid NOT NULL,
    -- The context's user; not a create field, never changed (but set to NULL when the user is removed).
    author_id  uuid DEFAULT coditect.current_user_id(),
    content    text NOT NULL
               CONSTRAINT task_comments_content_check CHECK (content ~ '\S' AND char_length(content) <= 65536),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES coditect.tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, author_id) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (author_id)
);
COMMENT ON TABLE coditect.task_comments IS 'Comments on a task, newest first.';
COMMENT ON COLUMN coditect.task_comments.author_id IS
    'The user who wrote the comment (the caller); null once that user is removed.';
COMMENT ON COLUMN coditect.task_comments.content IS
    'Markdown, 1 to 65,536 characters, not blank. Only the author edits it.';
-- A task's comments, newest first (the list's default ordering; id breaks ties as the list does).
CREATE INDEX task_comments_task_created_idx ON coditect.task_comments (tenant_id, task_id, created_at DESC, id DESC);
-- ON DELETE SET NULL of a removed user, and ?author_id=.
CREATE INDEX task_comments_author_idx ON coditect.task_comments (tenant_id, author_id);

-- BEFORE INSERT, UPDATE or DELETE: who may write a comment. With a request context: a comment
-- is written as the context's user; only its author edits its content; its author or an admin
-- or owner deletes (a soft delete arrives here as a DELETE, then as the UPDATE of deleted_at)
-- or restores it; it stays on its task. For everyone: the author never changes, except to NULL
-- by ON DELETE SET NULL once the user is gone. Without a context (DBA, maintenance, purges)
-- nothing else is restricted.
CREATE FUNCTION coditect_internal.guard_task_comment() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me    uuid := coditect.current_user_id();
    admin boolean := coditect.current_user_role() IN ('owner', 'admin');
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF me IS NOT NULL AND NEW.author_id IS DISTINCT FROM me THEN
            RAISE EXCEPTION 'a comment is written by the caller: author_id cannot be set' USING ERRCODE = 'CD403';
        END IF;
        RETURN NEW;
    END IF;

    IF TG_OP = 'DELETE' THEN
        IF me IS NOT NULL AND NOT coditect_internal.hard_delete_allowed()
           AND OLD.author_id IS DISTINCT FROM me AND NOT admin THEN
            RAISE EXCEPTION 'only the comment''s author or an admin can delete it' USING ERRCODE = 'CD403';
        END IF;
        RETURN OLD;
    END IF;

    IF NEW.author_id IS DISTINCT FROM OLD.author_id
       AND NOT (NEW.author_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM coditect.users u WHERE u.tenant_id = OLD.tenant_id AND u.id = OLD.author_id)) THEN
        RAISE EXCEPTION 'the author of a comment cannot change' USING ERRCODE = 'CD422';
    END IF;
    IF me IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.task_id IS DISTINCT FROM OLD.task_id THEN
        RAISE EXCEPTION 'a comment cannot move to another task' USING ERRCODE = 'CD422';
    END IF;
    IF NEW.content IS DISTINCT FROM OLD.content AND OLD.author_id IS DISTINCT FROM me THEN
        RAISE EXCEPTION 'only the comment''s author can edit it' USING ERRCODE = 'CD403';
    END IF;
    IF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at AND OLD.author_id IS DISTINCT FROM me AND NOT admin THEN
        RAISE EXCEPTION 'only the comment''s author or an admin can % it',
            CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'delete' END USING ERRCODE = 'CD403';
    END IF;
    RETURN NEW;
END
$$;

-- Named to fire before soft_delete_row (BEFORE triggers fire in name order).
CREATE TRIGGER guard_task_comment BEFORE INSERT OR UPDATE OR DELETE ON coditect.task_comments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_task_comment();
ALTER TABLE coditect.task_comments ENABLE ALWAYS TRIGGER guard_task_comment;

-- Members comment; the trigger narrows update and delete to the author (and delete to admins too).
SELECT coditect_internal.register_resource('coditect.task_comments', 'task_comment',
    p_parent => 'task', p_parent_column => 'task_id', p_path => '/api/v1/tasks/{task_id}/comments/',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member", "restore": "admin"}',
    p_create => '{content}',
    p_update => '{content}',
    p_filters => '{"author_id": ["exact", "isnull"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}',
    p_example => '{"content": "Looks good to me. **One nit:** rename `groupBy` to `groupByColumn`."}');
-- 80_licenses: licenses, concurrent-seat sessions (acquire / heartbeat / release, zombies) and
-- Ed25519-signed license tokens. Seat counting is a counter on the license row, kept by a
-- trigger and bounded by a CHECK, so the invariant holds whoever writes the sessions.

CREATE FUNCTION coditect.license_key_generate() RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_license_key_generate' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION coditect.license_key_normalize(text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_license_key_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION coditect.license_key_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_license_key_is_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION coditect.license_session_ttl() RETURNS interval
    AS 'MODULE_PATHNAME', 'coditect_license_session_ttl' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION coditect.license_token_key_id(text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_license_token_key_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION coditect_internal.license_token_sign(uuid, uuid, text, jsonb, uuid, text, timestamptz, timestamptz)
    RETURNS text AS 'MODULE_PATHNAME', 'coditect_license_token_sign' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.license_signing_public_key(OUT key_id text, OUT public_key text, OUT public_key_pem text)
    RETURNS record AS 'MODULE_PATHNAME', 'coditect_license_signing_public_key' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.license_token_check(text, text, timestamptz) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_license_token_check' LANGUAGE C IMMUTABLE STRICT;
REVOKE ALL ON FUNCTION coditect_internal.license_token_sign(uuid, uuid, text, jsonb, uuid, text, timestamptz, timestamptz),
    coditect_internal.license_signing_public_key(), coditect_internal.license_token_check(text, text, timestamptz)
    FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.license_tier AS ENUM ('BASIC', 'PRO', 'ENTERPRISE');
COMMENT ON TYPE coditect.license_tier IS 'The edition a license unlocks.';
CREATE TYPE coditect.license_session_status AS ENUM ('active', 'zombie', 'ended');
COMMENT ON TYPE coditect.license_session_status IS
    'active: holds a seat; zombie: missed its heartbeat, seat freed, may come back; ended: released.';

CREATE TABLE coditect.licenses (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    key_string   varchar(23) NOT NULL DEFAULT coditect.license_key_generate()
                 CHECK (coditect.license_key_is_valid(key_string)),
    tier         coditect.license_tier NOT NULL DEFAULT 'BASIC',
    features     coditect.json_array NOT NULL DEFAULT '[]'
                 CHECK (NOT jsonb_path_exists(features, '$[*] ? (@.type() != "string")')),
    expiry_date  timestamptz NOT NULL,
    seats_total  integer NOT NULL DEFAULT 1 CHECK (seats_total >= 1),
    seats_in_use integer NOT NULL DEFAULT 0,
    is_active    boolean NOT NULL DEFAULT true,
    created_by   uuid DEFAULT coditect.current_user_id(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Keys are unique across tenants through global_keys; this serves the tenant's lookups.
    CONSTRAINT licenses_tenant_key_string_key UNIQUE (tenant_id, key_string),
    CONSTRAINT licenses_seats_within_total CHECK (seats_in_use >= 0 AND seats_in_use <= seats_total),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX licenses_tenant_created_idx ON coditect.licenses (tenant_id, created_at DESC, id DESC);
COMMENT ON COLUMN coditect.licenses.seats_in_use IS
    'Active sessions, kept by a trigger on license_sessions; never written by clients.';

CREATE TABLE coditect.license_sessions (
    tenant_id         uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    license_id        uuid NOT NULL,
    user_id           uuid NOT NULL,
    hardware_id       varchar(255) NOT NULL CHECK (hardware_id ~ '\S'),
    ip_address        inet,
    user_agent        varchar(500) NOT NULL DEFAULT '',
    status            coditect.license_session_status NOT NULL DEFAULT 'active',
    started_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    ended_by          uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, license_id) REFERENCES coditect.licenses (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, ended_by) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (ended_by),
    CONSTRAINT license_sessions_ended_at CHECK ((status = 'ended') = (ended_at IS NOT NULL))
);
-- One active session per license and machine: no seat sharing.
CREATE UNIQUE INDEX license_sessions_one_active_per_hardware
    ON coditect.license_sessions (tenant_id, license_id, hardware_id) WHERE status = 'active';
CREATE INDEX license_sessions_active_heartbeat_idx
    ON coditect.license_sessions (tenant_id, license_id, last_heartbeat_at) WHERE status = 'active';
CREATE INDEX license_sessions_hardware_idx ON coditect.license_sessions (tenant_id, hardware_id);
COMMENT ON COLUMN coditect.license_sessions.ended_by IS
    'Who ended the session: its user, an administrator (license.manage), or NULL for maintenance.';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('license_session', NULL,     'active', NULL),
    ('license_session', 'active', 'zombie', NULL),
    ('license_session', 'zombie', 'active', NULL),
    ('license_session', 'active', 'ended',  'ended_at'),
    ('license_session', 'zombie', 'ended',  'ended_at');

-- Keeps licenses.seats_in_use equal to the license's active sessions. The row lock this takes
-- on the license serialises concurrent acquirers, and the CHECK on licenses refuses the seat
-- past seats_total. Runs as the owner: clients hold no privilege on seats_in_use.
CREATE FUNCTION coditect_internal.count_license_seats() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    delta int := 0;
    tenant uuid;
    license uuid;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.license_id) IS DISTINCT FROM (OLD.tenant_id, OLD.license_id) THEN
        RAISE EXCEPTION 'a license session cannot move to another license' USING ERRCODE = 'CD422';
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status = 'active' THEN
        delta := delta - 1;
        tenant := OLD.tenant_id;
        license := OLD.license_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status = 'active' THEN
        delta := delta + 1;
        tenant := NEW.tenant_id;
        license := NEW.license_id;
    END IF;
    IF delta <> 0 THEN
        UPDATE coditect.licenses SET seats_in_use = seats_in_use + delta
         WHERE tenant_id = tenant AND id = license;
    END IF;
    RETURN NULL;
END
$$;

-- Administrators issue licenses (the key is generated) and change their terms.
SELECT coditect_internal.register_resource('coditect.licenses', 'license',
    p_roles => '{"view": "admin", "create": "admin", "update": "admin"}',
    p_create => '{tier,features,expiry_date,seats_total}',
    p_update => '{features,expiry_date,seats_total,is_active}',
    p_filters => '{"tier": ["exact", "in"], "is_active": ["exact"], "created_at": ["gte", "lt"],
                   "expiry_date": ["gte", "lt"]}',
    p_orderings => '{created_at,expiry_date}',
    p_redact => '{key_string}', p_audit_exclude => '{seats_in_use}');
SELECT coditect_internal.declare_permission('license.use', 'Acquire seats of licenses', 'member');
SELECT coditect_internal.declare_permission('license.manage', 'End other users'' license sessions', 'admin');
SELECT coditect_internal.register_tenant_table('coditect.license_sessions', 'license_session',
    p_exclude => '{last_heartbeat_at}');
SELECT coditect_internal.register_state_machine('coditect.license_sessions', 'license_session');
SELECT coditect_internal.claim_global_key('coditect.licenses', 'key_string', 'licenses_key_string_key');

-- A session belongs to the user who acquired it: nobody else heartbeats it (and receives its
-- signed token), revives, takes over or deletes it. Two changes are allowed on another user's
-- session: zombifying it once overdue (any acquire of the license does that), and an
-- administrator (license.manage) ending or deleting it. ended_by is this trigger's alone: who
-- ended the session (NULL for maintenance), cleared only by its foreign key when that user is
-- deleted. Without a request context (maintenance) nothing else is restricted.
CREATE FUNCTION coditect_internal.guard_license_session() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me uuid := coditect.current_user_id();
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF me IS NULL OR coditect.has_permission('license.manage') THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'only an administrator deletes license sessions' USING ERRCODE = 'CD403';
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.ended_by := NULL;
    ELSIF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        RAISE EXCEPTION 'a license session cannot change hands' USING ERRCODE = 'CD422';
    ELSIF NEW.status = 'ended' AND OLD.status <> 'ended' THEN
        NEW.ended_by := me;
    ELSIF NEW.ended_by IS NULL AND OLD.ended_by IS NOT NULL
          AND to_jsonb(NEW) - '{ended_by,updated_at}'::text[] = to_jsonb(OLD) - '{ended_by,updated_at}'::text[]
          AND NOT EXISTS (SELECT 1 FROM coditect.users u WHERE u.tenant_id = OLD.tenant_id AND u.id = OLD.ended_by) THEN
        RETURN NEW;  -- ON DELETE SET NULL (ended_by): the user who ended it was deleted
    ELSE
        NEW.ended_by := OLD.ended_by;
    END IF;
    IF me IS NULL OR NEW.user_id = me THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status = 'active' AND NEW.status = 'zombie'
           AND OLD.last_heartbeat_at < now() - coditect.license_session_ttl()
           AND to_jsonb(NEW) - '{status,updated_at}'::text[] = to_jsonb(OLD) - '{status,updated_at}'::text[] THEN
            RETURN NEW;
        END IF;
        IF NEW.status = 'ended' AND OLD.status <> 'ended' AND coditect.has_permission('license.manage')
           AND to_jsonb(NEW) - '{status,ended_at,ended_by,updated_at}'::text[]
               = to_jsonb(OLD) - '{status,ended_at,ended_by,updated_at}'::text[] THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'this license session belongs to another user' USING ERRCODE = 'CD403';
END
$$;
CREATE TRIGGER guard_license_session BEFORE INSERT OR UPDATE OR DELETE ON coditect.license_sessions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_license_session();
ALTER TABLE coditect.license_sessions ENABLE ALWAYS TRIGGER guard_license_session;
CREATE TRIGGER count_license_seats AFTER INSERT OR UPDATE OF status, license_id, tenant_id OR DELETE
    ON coditect.license_sessions FOR EACH ROW EXECUTE FUNCTION coditect_internal.count_license_seats();
ALTER TABLE coditect.license_sessions ENABLE ALWAYS TRIGGER count_license_seats;

-- seats_in_use is the trigger's alone.
REVOKE INSERT, UPDATE ON coditect.licenses FROM coditect_gateway, coditect_service;
GRANT INSERT (tenant_id, id, key_string, tier, features, expiry_date, seats_total, is_active, created_by),
      UPDATE (tier, features, expiry_date, seats_total, is_active)
    ON coditect.licenses TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Signing keys: public halves published for offline verification, several at once for rotation.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.license_signing_keys (
    key_id         varchar(64) PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9._-]+$'),
    algorithm      varchar(20) NOT NULL DEFAULT 'Ed25519' CHECK (algorithm = 'Ed25519'),
    public_key     text NOT NULL UNIQUE CHECK (public_key ~ '^[A-Za-z0-9_-]{43}$'),
    public_key_pem text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('coditect.license_signing_keys', '');
REVOKE ALL ON coditect.license_signing_keys FROM PUBLIC;
GRANT SELECT ON coditect.license_signing_keys TO coditect_gateway, coditect_service, coditect_analyst;

-- DBA: publishes the public half of the key named by coditect.license_signing_key_file under
-- coditect.license_signing_key_id. Publishing the same key again is harmless.
CREATE FUNCTION coditect.publish_license_signing_key() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
BEGIN
    SELECT * INTO k FROM coditect_internal.license_signing_public_key();
    INSERT INTO coditect.license_signing_keys (key_id, public_key, public_key_pem)
    VALUES (k.key_id, k.public_key, k.public_key_pem)
    ON CONFLICT (key_id) DO NOTHING;
    IF NOT EXISTS (SELECT 1 FROM coditect.license_signing_keys
                    WHERE key_id = k.key_id AND public_key = k.public_key) THEN
        RAISE EXCEPTION 'key id "%" is already published for another key', k.key_id USING ERRCODE = 'CD409';
    END IF;
    RETURN k.key_id;
END
$$;

-- DBA: stops accepting tokens signed with a key (after rotating to a new one).
CREATE FUNCTION coditect.retire_license_signing_key(p_key_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.license_signing_keys SET retired_at = now() WHERE key_id = p_key_id AND retired_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no published key "%"', p_key_id USING ERRCODE = 'CD404';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION coditect.publish_license_signing_key(), coditect.retire_license_signing_key(text) FROM PUBLIC;

CREATE FUNCTION coditect.license_public_keys()
RETURNS TABLE (key_id text, algorithm text, public_key text, public_key_pem text, created_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT key_id, algorithm, public_key, public_key_pem, created_at
      FROM coditect.license_signing_keys WHERE retired_at IS NULL ORDER BY created_at
$$;

-- {"valid", "verdict" (valid, malformed, unknown_key, bad_signature, expired), "claims"}.
CREATE FUNCTION coditect.license_verify(p_token text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kid text := coditect.license_token_key_id(p_token);
    pk text;
BEGIN
    IF kid IS NULL THEN
        RETURN jsonb_build_object('valid', false, 'verdict', 'malformed');
    END IF;
    SELECT public_key INTO pk FROM coditect.license_signing_keys WHERE key_id = kid AND retired_at IS NULL;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('valid', false, 'verdict', 'unknown_key', 'key_id', kid);
    END IF;
    RETURN coditect_internal.license_token_check(p_token, pk, now());
END
$$;

------------------------------------------------------------------------------------------------
-- Acquire, heartbeat, release, reap
------------------------------------------------------------------------------------------------

-- Turns this license's active sessions without a heartbeat for the TTL into zombies.
-- plpgsql, not sql: its plan is cached per session instead of re-planned on every call.
CREATE FUNCTION coditect_internal.zombify_overdue(p_tenant uuid, p_license uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.license_sessions SET status = 'zombie'
     WHERE tenant_id = p_tenant AND license_id = p_license AND status = 'active'
       AND last_heartbeat_at < now() - coditect.license_session_ttl();
END
$$;

-- The answer of acquire and heartbeat: the session, the seats, the deadline, a signed token.
-- The only path to the signing key, so it signs nothing but an active session of the calling
-- user, read here from the tables (never from arguments).
CREATE FUNCTION coditect_internal.license_session_answer(p_session_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.license_sessions;
    l coditect.licenses;
    deadline timestamptz;
BEGIN
    SELECT * INTO s FROM coditect.license_sessions
     WHERE tenant_id = coditect.current_tenant_id() AND id = p_session_id AND status = 'active'
       AND user_id = coditect.current_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active license session %', p_session_id USING ERRCODE = 'CD404';
    END IF;
    SELECT * INTO l FROM coditect.licenses WHERE tenant_id = s.tenant_id AND id = s.license_id;
    deadline := s.last_heartbeat_at + coditect.license_session_ttl();
    RETURN jsonb_build_object(
        'session_id', s.id, 'license_id', l.id, 'status', s.status, 'hardware_id', s.hardware_id,
        'tier', l.tier, 'features', l.features,
        'seats_used', l.seats_in_use, 'seats_total', l.seats_total,
        'heartbeat_deadline', deadline, 'license_expires_at', l.expiry_date,
        'token', coditect_internal.license_token_sign(l.id, l.tenant_id, l.tier::text, l.features, s.id,
                                                      s.hardware_id, now(), least(deadline, l.expiry_date)));
END
$$;

-- Locks the current tenant's license (by id, or by key when p_license is NULL), checks it may
-- be used, and zombifies its overdue sessions; returns it with its seat count after that.
CREATE FUNCTION coditect_internal.lock_usable_license(p_tenant uuid, p_license uuid, p_key text DEFAULT NULL)
RETURNS coditect.licenses
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l coditect.licenses;
BEGIN
    IF p_license IS NULL THEN
        SELECT * INTO l FROM coditect.licenses WHERE tenant_id = p_tenant AND key_string = p_key FOR UPDATE;
    ELSE
        SELECT * INTO l FROM coditect.licenses WHERE tenant_id = p_tenant AND id = p_license FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION '%', CASE WHEN p_license IS NULL THEN 'unknown license key' ELSE 'unknown license' END
            USING ERRCODE = 'CD404';
    END IF;
    IF NOT l.is_active THEN
        RAISE EXCEPTION 'the license is inactive' USING ERRCODE = 'CD403';
    END IF;
    IF l.expiry_date <= now() THEN
        RAISE EXCEPTION 'the license expired on %', to_char(l.expiry_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
            USING ERRCODE = 'CD410';
    END IF;
    PERFORM coditect_internal.zombify_overdue(l.tenant_id, l.id);
    SELECT seats_in_use INTO l.seats_in_use FROM coditect.licenses WHERE tenant_id = l.tenant_id AND id = l.id;
    RETURN l;
END
$$;

CREATE FUNCTION coditect_internal.require_context() RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no request context: call coditect.set_request_context first' USING ERRCODE = 'CD403';
    END IF;
    RETURN coditect.current_tenant_id();
END
$$;

CREATE FUNCTION coditect.license_acquire(
    p_key_string  text,
    p_hardware_id text,
    p_client_ip   inet DEFAULT NULL,
    p_user_agent  text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.require_context();
    key text;
    l coditect.licenses;
    s coditect.license_sessions;
BEGIN
    PERFORM coditect.require_permission('license.use');
    key := coditect.license_key_normalize(p_key_string);
    IF p_hardware_id IS NULL OR p_hardware_id !~ '\S' OR length(p_hardware_id) > 255 THEN
        RAISE EXCEPTION 'hardware id must be 1 to 255 characters' USING ERRCODE = 'CD400';
    END IF;
    -- Fast refusal without the license lock, so a crowd at a full license does not queue in
    -- front of its seat holders' heartbeats and releases. Only a refusal is decided here; a
    -- seat is only ever taken under the lock below.
    SELECT * INTO l FROM coditect.licenses WHERE tenant_id = tenant AND key_string = key;
    IF FOUND AND l.is_active AND l.expiry_date > now() AND l.seats_in_use >= l.seats_total
       AND NOT EXISTS (SELECT 1 FROM coditect.license_sessions
                        WHERE tenant_id = tenant AND license_id = l.id AND status = 'active'
                          AND (hardware_id = p_hardware_id
                               OR last_heartbeat_at < now() - coditect.license_session_ttl())) THEN
        RAISE EXCEPTION 'no free seat: % of % seats in use', l.seats_in_use, l.seats_total
            USING ERRCODE = 'CD409';
    END IF;
    l := coditect_internal.lock_usable_license(tenant, NULL, key);

    SELECT * INTO s FROM coditect.license_sessions
     WHERE tenant_id = tenant AND license_id = l.id AND hardware_id = p_hardware_id AND status = 'active';
    IF FOUND AND s.user_id <> coditect.current_user_id() THEN
        RAISE EXCEPTION 'this machine holds a session of another user on this license' USING ERRCODE = 'CD409';
    ELSIF FOUND THEN
        UPDATE coditect.license_sessions SET last_heartbeat_at = now()
         WHERE tenant_id = tenant AND id = s.id;
    ELSE
        IF l.seats_in_use >= l.seats_total THEN
            RAISE EXCEPTION 'no free seat: % of % seats in use', l.seats_in_use, l.seats_total
                USING ERRCODE = 'CD409';
        END IF;
        INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id, ip_address, user_agent)
        VALUES (tenant, l.id, coditect.current_user_id(), p_hardware_id, p_client_ip, coalesce(left(p_user_agent, 500), ''))
        RETURNING * INTO s;
    END IF;
    RETURN coditect_internal.license_session_answer(s.id);
END
$$;

CREATE FUNCTION coditect.license_heartbeat(p_session_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.require_context();
    l coditect.licenses;
    s coditect.license_sessions;
BEGIN
    PERFORM coditect.require_permission('license.use');
    -- Another user's session is unknown to the caller.
    SELECT * INTO s FROM coditect.license_sessions
     WHERE tenant_id = tenant AND id = p_session_id AND user_id = coditect.current_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown license session' USING ERRCODE = 'CD404';
    END IF;
    IF s.status = 'ended' THEN
        RAISE EXCEPTION 'the license session has ended; acquire a new one' USING ERRCODE = 'CD410';
    END IF;
    -- A live session keeps its seat: extending it needs no license lock (the seat count does
    -- not change). The WHERE re-checks both conditions on the row it locks.
    IF s.status = 'active' THEN
        SELECT * INTO l FROM coditect.licenses WHERE tenant_id = tenant AND id = s.license_id;
        IF l.is_active AND l.expiry_date > now() THEN
            UPDATE coditect.license_sessions SET last_heartbeat_at = now()
             WHERE tenant_id = tenant AND id = s.id AND status = 'active'
               AND last_heartbeat_at >= now() - coditect.license_session_ttl();
            IF FOUND THEN
                RETURN coditect_internal.license_session_answer(s.id);
            END IF;
        END IF;
    END IF;

    -- A lapsed session (or an unusable license): decide under the license lock.
    l := coditect_internal.lock_usable_license(tenant, s.license_id);
    SELECT * INTO s FROM coditect.license_sessions WHERE tenant_id = tenant AND id = p_session_id;
    IF s.status = 'ended' THEN
        RAISE EXCEPTION 'the license session has ended; acquire a new one' USING ERRCODE = 'CD410';
    END IF;
    IF s.status = 'zombie' THEN
        IF l.seats_in_use >= l.seats_total THEN
            RAISE EXCEPTION 'the session lapsed and no seat is free to revive it: % of % seats in use',
                l.seats_in_use, l.seats_total USING ERRCODE = 'CD409';
        END IF;
        IF EXISTS (SELECT 1 FROM coditect.license_sessions
                    WHERE tenant_id = tenant AND license_id = l.id AND hardware_id = s.hardware_id AND status = 'active') THEN
            RAISE EXCEPTION 'the session lapsed and this machine holds a newer session' USING ERRCODE = 'CD409';
        END IF;
        UPDATE coditect.license_sessions SET status = 'active', last_heartbeat_at = now()
         WHERE tenant_id = tenant AND id = s.id;
    ELSE
        UPDATE coditect.license_sessions SET last_heartbeat_at = now()
         WHERE tenant_id = tenant AND id = s.id;
    END IF;
    RETURN coditect_internal.license_session_answer(s.id);
END
$$;

-- Ends the session and frees its seat; releasing an ended session again does nothing. A user
-- releases their own sessions; an administrator (license.manage) any session of the tenant.
CREATE FUNCTION coditect.license_release(p_session_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.require_context();
    v_license uuid;
BEGIN
    PERFORM coditect.require_permission('license.use');
    SELECT s.license_id INTO v_license FROM coditect.license_sessions s
     WHERE s.tenant_id = tenant AND s.id = p_session_id
       AND (s.user_id = coditect.current_user_id() OR coditect.has_permission('license.manage'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown license session' USING ERRCODE = 'CD404';
    END IF;
    -- Same lock order as acquire (license, then session).
    PERFORM 1 FROM coditect.licenses WHERE tenant_id = tenant AND id = v_license FOR UPDATE;
    UPDATE coditect.license_sessions SET status = 'ended'
     WHERE tenant_id = tenant AND id = p_session_id AND status <> 'ended';
END
$$;

-- For a scheduler: zombifies overdue sessions of every tenant. Acquire and heartbeat do the same
-- for their license, so correctness never waits for this.
CREATE FUNCTION coditect.reap_zombie_sessions() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    UPDATE coditect.license_sessions SET status = 'zombie'
     WHERE status = 'active' AND last_heartbeat_at < now() - coditect.license_session_ttl();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION coditect.license_acquire(text, text, inet, text), coditect.license_heartbeat(uuid),
    coditect.license_release(uuid), coditect.reap_zombie_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.license_acquire(text, text, inet, text), coditect.license_heartbeat(uuid),
    coditect.license_release(uuid), coditect.reap_zombie_sessions() TO coditect_gateway, coditect_service;
REVOKE ALL ON FUNCTION coditect_internal.zombify_overdue(uuid, uuid), coditect_internal.license_session_answer(uuid),
    coditect_internal.lock_usable_license(uuid, uuid, text), coditect_internal.require_context() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.zombify_overdue(uuid, uuid), coditect_internal.license_session_answer(uuid),
    coditect_internal.lock_usable_license(uuid, uuid, text), coditect_internal.require_context()
    TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Seat endpoints: actions of the license resource
------------------------------------------------------------------------------------------------

-- The shapes of the answers, for the API description (the functions answer jsonb).
CREATE TYPE coditect.license_grant AS (
    session_id         uuid,
    license_id         uuid,
    status             coditect.license_session_status,
    hardware_id        varchar(255),
    tier               coditect.license_tier,
    features           coditect.json_array,
    seats_used         integer,
    seats_total        integer,
    heartbeat_deadline timestamptz,
    license_expires_at timestamptz,
    token              text
);
COMMENT ON TYPE coditect.license_grant IS 'A seat held by this machine, and its signed token.';
COMMENT ON COLUMN coditect.license_grant.heartbeat_deadline IS 'Heartbeat before this time or lose the seat.';
COMMENT ON COLUMN coditect.license_grant.token IS 'Signed license token (Ed25519), verifiable offline with the public keys.';
CREATE TYPE coditect.license_public_key AS (
    key_id         text,
    algorithm      text,
    public_key     text,
    public_key_pem text,
    created_at     timestamptz
);
COMMENT ON TYPE coditect.license_public_key IS 'A public key that verifies license tokens.';

SELECT coditect_internal.register_action('license', 'acquire', 'coditect.license_acquire(text, text, inet, text)',
    'POST', '/api/v1/licenses/acquire',
    '[{"from": "body_field", "name": "key_string", "required": true},
      {"from": "body_field", "name": "hardware_id", "required": true},
      {"from": "client_ip"}, {"from": "user_agent"}]',
    p_permission => 'license.use', p_response => '{"type": "license_grant"}',
    p_summary => 'Take a seat of a license for this machine');
SELECT coditect_internal.register_action('license', 'heartbeat', 'coditect.license_heartbeat(uuid)',
    'PUT', '/api/v1/licenses/heartbeat', '[{"from": "body_field", "name": "session_id", "required": true}]',
    p_permission => 'license.use', p_response => '{"type": "license_grant"}',
    p_summary => 'Keep a seat: a fresh deadline and token');
SELECT coditect_internal.register_action('license', 'release', 'coditect.license_release(uuid)',
    'DELETE', '/api/v1/licenses/release',
    '[{"from": "body_field", "name": "session_id", "required": true, "also_query": true}]',
    p_permission => 'license.use', p_summary => 'Free a seat (session_id in the body or the query)');
SELECT coditect_internal.register_action('license', 'public_keys', 'coditect.license_public_keys()',
    'GET', '/api/v1/licenses/public-keys/', p_auth => 'none',
    p_response => '{"type": "license_public_key", "array": true}',
    p_summary => 'Public keys that verify license tokens (public)');
-- 85_maintenance: the purge of ended license sessions and the pg_cron schedule of the
-- extension's maintenance (zombie reaping, audit partitions, that purge). Before 89/90 so that
-- it runs with the install script's own search_path (90_partitions resets it).

-- Maintenance (DBA and its pg_cron job): really deletes the license sessions of every tenant
-- that ended at least p_older_than ago (retention: ended sessions are kept 90 days). Zombie and
-- active sessions are never touched. Each deleted row is audited as `license_session.delete`.
CREATE FUNCTION coditect.purge_ended_license_sessions(p_older_than interval DEFAULT '90 days')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF p_older_than IS NULL OR p_older_than OPERATOR(pg_catalog.<) interval '0' THEN
        RAISE EXCEPTION 'p_older_than must be a non-negative interval, got %', coalesce(p_older_than::text, 'NULL')
            USING ERRCODE = 'CD400';
    END IF;
    DELETE FROM coditect.license_sessions
     WHERE status OPERATOR(pg_catalog.=) 'ended'
       -- OPERATOR() forms share one precedence, left to right: parenthesise.
       AND ended_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) p_older_than);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The jobs, in one place: name, cron schedule (GMT), command. Sessions turn zombie 6 minutes
-- after their last heartbeat, so reaping every minute frees a seat at most a minute late.
CREATE FUNCTION coditect.maintenance_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    VALUES ('coditect-reap-zombies', '* * * * *', 'SELECT coditect.reap_zombie_sessions()'),
           ('coditect-audit-maintenance', '7 * * * *', 'SELECT coditect.audit_maintenance()'),
           ('coditect-purge-license-sessions', '30 3 * * *', 'SELECT coditect.purge_ended_license_sessions()')
$$;

-- DBA: registers (or puts back) the jobs of maintenance_jobs() with pg_cron, to run in this
-- database. SECURITY DEFINER so that the jobs belong to, and run as, the extension owner
-- whichever DBA calls it: pg_cron keys jobs by (name, user), so a re-run replaces them.
-- pg_cron can only be installed in the database named by cron.database_name; elsewhere this
-- fails (55000) and the jobs are registered from that database (README, Scheduled maintenance).
CREATE FUNCTION coditect.schedule_maintenance()
RETURNS TABLE (jobid bigint, jobname text, schedule text, command text, database text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
            USING ERRCODE = '55000',
                  HINT = pg_catalog.format('pg_cron schedules from the database named by cron.database_name '
                      '(here: %s); preload pg_cron, name this database there and CREATE EXTENSION pg_cron in it, '
                      'or register coditect.maintenance_jobs() from that database with cron.schedule_in_database.',
                      coalesce(pg_catalog.current_setting('cron.database_name', true), 'not set: pg_cron is not preloaded'));
    END IF;
    database := pg_catalog.current_database();
    FOR j IN SELECT m.jobname, m.schedule, m.command FROM coditect.maintenance_jobs() m LOOP
        jobid := cron.schedule_in_database(j.jobname::text, j.schedule::text, j.command::text, database::text,
                                           NULL::text, true);
        -- pg_cron's upsert rewrites schedule and command only: put back the database and switch
        -- the job on again in case either was changed by hand.
        PERFORM cron.alter_job(jobid, j.schedule::text, j.command::text, database::text, NULL::text, true);
        jobname := j.jobname;
        schedule := j.schedule;
        command := j.command;
        RETURN NEXT;
    END LOOP;
END
$$;

-- DBA: removes the jobs again (pg_cron's rows are not part of the extension: run this before
-- DROP EXTENSION coditect, or the jobs fail every minute). Returns how many it removed.
CREATE FUNCTION coditect.unschedule_maintenance() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := 0;
    id bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
        RETURN 0;
    END IF;
    FOR id IN SELECT c.jobid FROM cron.job c
               WHERE c.username OPERATOR(pg_catalog.=) CURRENT_USER::text
                 AND c.database OPERATOR(pg_catalog.=) pg_catalog.current_database()::text
                 AND c.jobname OPERATOR(pg_catalog.=) ANY (SELECT m.jobname FROM coditect.maintenance_jobs() m) LOOP
        PERFORM cron.unschedule(id);
        n := n OPERATOR(pg_catalog.+) 1;
    END LOOP;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION coditect.purge_ended_license_sessions(interval), coditect.maintenance_jobs(),
    coditect.schedule_maintenance(), coditect.unschedule_maintenance() FROM PUBLIC;
-- 89_api_grants: the invoker-rights helpers of the generated API functions
-- (coditect_internal.api_*) are executable by the gateway and services only; they give no more
-- than plain SQL under RLS would. The generated functions are granted when they are made.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'coditect_internal'::regnamespace
                AND (p.proname LIKE 'api\_%' OR p.proname = 'etag_matches') LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO coditect_gateway, coditect_service', f);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION coditect.resolve_firebase_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.resolve_firebase_user(text) TO coditect_gateway, coditect_service;

-- Functions are executable by PUBLIC when created; functions made after 00_base's revoke still
-- are. Take that back everywhere, then give PUBLIC only the pure helpers and context readers
-- that policies, defaults and CHECK constraints call as whoever runs the statement. The grants
-- to coditect_gateway / coditect_service made next to each function stay; test/pgtap/12_security
-- pins the whole matrix.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA coditect, coditect_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    coditect.current_tenant_id(), coditect.current_user_id(), coditect.current_user_role(),
    coditect.uuid_generate_v7(), coditect.uuid_v7_time(uuid), coditect.is_valid_timezone(text),
    coditect.license_key_generate(), coditect.license_key_normalize(text), coditect.license_key_is_valid(text),
    coditect.license_token_key_id(text), coditect.license_session_ttl(), coditect.license_public_keys(),
    coditect.license_verify(text), coditect.row_etag(jsonb)
    TO PUBLIC;
-- 90_partitions: pg_partman set-up of coditect.audit_logs. Last in the install script because
-- pg_partman sets search_path with session scope (to the value it found, here the install
-- script's own); RESET at the end gives the session its default search_path back.

SELECT pg_catalog.set_config('search_path', 'coditect_internal, pg_catalog', false);
DO $$
BEGIN
    -- A configuration row left by an earlier install of the extension (DROP EXTENSION does not
    -- reach into pg_partman's tables) would make create_parent refuse.
    EXECUTE format('DELETE FROM %I.part_config WHERE parent_table = %L',
                   coditect_internal.partman_schema(), 'coditect.audit_logs');
    -- Monthly partitions, four made ahead, a default partition for anything outside them.
    EXECUTE format('SELECT %I.create_parent(p_parent_table := %L, p_control := %L, p_type := %L, '
                   'p_interval := %L, p_premake := 4, p_jobmon := false)',
                   coditect_internal.partman_schema(), 'coditect.audit_logs', 'created_at', 'native', 'monthly');
    EXECUTE format('UPDATE %I.part_config SET retention = %L, retention_keep_table = false, '
                   'infinite_time_partitions = true WHERE parent_table = %L',
                   coditect_internal.partman_schema(), '1 year', 'coditect.audit_logs');
END
$$;
SELECT coditect_internal.protect_audit_partitions();
RESET search_path;

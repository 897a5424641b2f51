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

-- Domains shared by every domain's tables.
CREATE DOMAIN coditect.email AS varchar(254)
    CHECK (VALUE ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$');
CREATE DOMAIN coditect.url AS varchar(2000)
    CHECK (VALUE ~ '^https?://[^\s/$.?#][^\s]*$');
CREATE DOMAIN coditect.slug AS varchar(100)
    CHECK (VALUE ~ '^[a-z0-9]+(-[a-z0-9]+)*$');
CREATE DOMAIN coditect.member_role AS varchar(20)
    CHECK (VALUE IN ('owner', 'admin', 'member', 'guest'));
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
    -- unless they are marked as configuration tables.
    PERFORM pg_catalog.pg_extension_config_dump(p_table, '');
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
-- 05_api: the generic half of the REST API functions. Each resource's coditect.api_* functions
-- (in its domain file) check the caller's permission and call these with the table and the
-- columns a client may read, write and filter on. They run as the caller, under RLS, in the
-- context set by coditect.set_request_context, so the rules of the tables apply unchanged.
--
-- Lists answer {"count", "results", "next_cursor"}: offset pages (p_page, p_page_size) with
-- the total count, or keyset pages when p_cursor is given (or p_page is NULL): results after
-- the cursor, no count (NULL), and next_cursor for the following page.

CREATE FUNCTION coditect_internal.api_bad_request(p_message text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '%', p_message USING ERRCODE = 'CD400';
END
$$;

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

-- WHERE clause for the given filters: equality on allowed columns; "<col>__gte" / "__lt" on
-- allowed range columns. Values are passed as text and cast by the column's type.
CREATE FUNCTION coditect_internal.api_where(p_table regclass, p_filters jsonb, p_allowed text[], p_ranges text[])
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text;
    v jsonb;
    col text;
    op text;
    typ text;
    clauses text[] := '{}';
BEGIN
    IF p_filters IS NULL THEN
        RETURN 'true';
    END IF;
    IF jsonb_typeof(p_filters) <> 'object' THEN
        RAISE EXCEPTION 'filters must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(p_filters) LOOP
        IF k LIKE '%\_\_gte' OR k LIKE '%\_\_lt' THEN
            col := regexp_replace(k, '__(gte|lt)$', '');
            op := CASE WHEN k LIKE '%\_\_gte' THEN '>=' ELSE '<' END;
            IF col <> ALL (coalesce(p_ranges, '{}')) THEN
                RAISE EXCEPTION 'unknown filter "%"', k USING ERRCODE = 'CD400';
            END IF;
        ELSE
            col := k;
            op := '=';
            IF col <> ALL (coalesce(p_allowed, '{}')) THEN
                RAISE EXCEPTION 'unknown filter "%"', k USING ERRCODE = 'CD400',
                    HINT = 'filters: ' || array_to_string(p_allowed || p_ranges, ', ');
            END IF;
        END IF;
        IF jsonb_typeof(v) NOT IN ('string', 'number', 'boolean') THEN
            RAISE EXCEPTION 'filter "%" needs a single value', k USING ERRCODE = 'CD400';
        END IF;
        SELECT format_type(atttypid, atttypmod) INTO typ FROM pg_attribute
         WHERE attrelid = p_table AND attname = col AND NOT attisdropped;
        -- A value its domain refuses is bad input (400), not a broken rule (23514 is 422).
        BEGIN
            EXECUTE format('SELECT %L::%s', v #>> '{}', typ);
        EXCEPTION WHEN integrity_constraint_violation THEN
            RAISE EXCEPTION 'invalid value for filter "%": %', k, SQLERRM USING ERRCODE = 'CD400';
        END;
        clauses := clauses || format('%I %s %L::%s', col, op, v #>> '{}', typ);
    END LOOP;
    RETURN coalesce(nullif(array_to_string(clauses, ' AND '), ''), 'true');
END
$$;

-- Keyset cursors are opaque to clients: base64url of "<created_at>|<id>" of the last row.
CREATE FUNCTION coditect_internal.api_cursor_encode(p_created_at timestamptz, p_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT translate(encode(convert_to(to_char(p_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                                       || '|' || p_id::text, 'UTF8'), 'base64'), E'+/=\n', '-_')
$$;

CREATE FUNCTION coditect_internal.api_cursor_decode(p_cursor text, OUT created_at timestamptz, OUT id uuid)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b64 text := translate(p_cursor, '-_', '+/');
    raw text;
BEGIN
    b64 := b64 || repeat('=', (4 - length(b64) % 4) % 4);
    raw := convert_from(decode(b64, 'base64'), 'UTF8');
    created_at := split_part(raw, '|', 1)::timestamptz;
    id := split_part(raw, '|', 2)::uuid;
    IF created_at IS NULL OR id IS NULL THEN
        RAISE EXCEPTION 'bad cursor';
    END IF;
EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid cursor' USING ERRCODE = 'CD400';
END
$$;

-- Newest first by (created_at, id). p_live_only hides soft-deleted rows.
CREATE FUNCTION coditect_internal.api_list(
    p_table     regclass,
    p_filters   jsonb,
    p_allowed   text[],
    p_ranges    text[],
    p_hidden    text[],
    p_page      int,
    p_page_size int,
    p_cursor    text,
    p_live_only boolean DEFAULT false
) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    where_sql text := coditect_internal.api_where(p_table, p_filters, p_allowed, p_ranges);
    size int := coalesce(p_page_size, 20);
    total bigint;
    rows jsonb;
    last jsonb;
    after record;
BEGIN
    IF size < 1 OR size > 200 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 200' USING ERRCODE = 'CD400';
    END IF;
    IF p_live_only THEN
        where_sql := where_sql || ' AND deleted_at IS NULL';
    END IF;
    IF p_cursor IS NOT NULL OR p_page IS NULL THEN
        IF p_cursor IS NOT NULL THEN
            after := coditect_internal.api_cursor_decode(p_cursor);
            where_sql := where_sql || format(' AND (created_at, id) < (%L::timestamptz, %L::uuid)', after.created_at, after.id);
        END IF;
        EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY created_at DESC, id DESC), ''[]'') '
                       'FROM (SELECT * FROM %s WHERE %s ORDER BY created_at DESC, id DESC LIMIT %s) t',
                       p_table, where_sql, size + 1) INTO rows;
        IF jsonb_array_length(rows) > size THEN
            last := rows -> (size - 1);
            rows := rows - size;
        END IF;
        RETURN jsonb_build_object(
            'count', NULL,
            'results', (SELECT coalesce(jsonb_agg(r - coalesce(p_hidden, '{}') ORDER BY n), '[]')
                          FROM jsonb_array_elements(rows) WITH ORDINALITY AS e(r, n)),
            'next_cursor', CASE WHEN last IS NULL THEN NULL
                                ELSE coditect_internal.api_cursor_encode((last->>'created_at')::timestamptz, (last->>'id')::uuid) END);
    END IF;
    IF p_page < 1 THEN
        RAISE EXCEPTION 'page must be 1 or more' USING ERRCODE = 'CD400';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s WHERE %s', p_table, where_sql) INTO total;
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY created_at DESC, id DESC), ''[]'') '
                   'FROM (SELECT * FROM %s WHERE %s ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s) t',
                   p_table, where_sql, size, (p_page - 1)::bigint * size) INTO rows;
    RETURN jsonb_build_object(
        'count', total,
        'results', (SELECT coalesce(jsonb_agg(r - coalesce(p_hidden, '{}') ORDER BY n), '[]')
                      FROM jsonb_array_elements(rows) WITH ORDINALITY AS e(r, n)),
        'next_cursor', NULL);
END
$$;

CREATE FUNCTION coditect_internal.api_get(p_table regclass, p_id uuid, p_hidden text[], p_live_only boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE id = $1%s', p_table,
                   CASE WHEN p_live_only THEN ' AND deleted_at IS NULL' ELSE '' END)
        USING p_id INTO r;
    IF r IS NULL THEN
        RAISE EXCEPTION 'not found' USING ERRCODE = 'CD404';
    END IF;
    RETURN r - coalesce(p_hidden, '{}');
END
$$;

-- INSERT of the body's fields (all in p_writable) plus tenant_id from the context.
CREATE FUNCTION coditect_internal.api_create(p_table regclass, p_body jsonb, p_writable text[], p_hidden text[])
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cols text;
    r jsonb;
BEGIN
    PERFORM coditect_internal.api_check_fields(p_body, p_writable);
    PERFORM coditect_internal.api_check_values(p_table, p_body, p_writable);
    SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(p_body) k;
    EXECUTE format('INSERT INTO %s (tenant_id%s) SELECT coditect.current_tenant_id()%s '
                   'FROM jsonb_populate_record(NULL::%s, $1) p RETURNING to_jsonb(%s.*)',
                   p_table, coalesce(', ' || cols, ''),
                   coalesce(', ' || (SELECT string_agg('p.' || quote_ident(k), ', ') FROM jsonb_object_keys(p_body) k), ''),
                   p_table, p_table)
        USING p_body INTO r;
    RETURN r - coalesce(p_hidden, '{}');
END
$$;

CREATE FUNCTION coditect_internal.api_update(p_table regclass, p_id uuid, p_body jsonb, p_writable text[],
                                             p_hidden text[], p_live_only boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sets text;
    r jsonb;
BEGIN
    PERFORM coditect_internal.api_check_fields(p_body, p_writable);
    PERFORM coditect_internal.api_check_values(p_table, p_body);
    SELECT string_agg(format('%I = p.%I', k, k), ', ') INTO sets FROM jsonb_object_keys(p_body) k;
    IF sets IS NULL THEN
        RETURN coditect_internal.api_get(p_table, p_id, p_hidden, p_live_only);
    END IF;
    EXECUTE format('UPDATE %s t SET %s FROM jsonb_populate_record(NULL::%s, $2) p WHERE t.id = $1%s RETURNING to_jsonb(t.*)',
                   p_table, sets, p_table, CASE WHEN p_live_only THEN ' AND t.deleted_at IS NULL' ELSE '' END)
        USING p_id, p_body INTO r;
    IF r IS NULL THEN
        RAISE EXCEPTION 'not found' USING ERRCODE = 'CD404';
    END IF;
    RETURN r - coalesce(p_hidden, '{}');
END
$$;

-- DELETE (a soft delete on soft-delete tables).
CREATE FUNCTION coditect_internal.api_delete(p_table regclass, p_id uuid, p_live_only boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.api_get(p_table, p_id, NULL, p_live_only);
    EXECUTE format('DELETE FROM %s WHERE id = $1', p_table) USING p_id;
END
$$;
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
CREATE INDEX audit_logs_tenant_created_idx ON coditect.audit_logs (tenant_id, created_at DESC);
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
-- 20_tenancy: tenants, users, memberships, teams, team members, projects; the permission
-- catalog; the request context; analyst bindings; tenant creation.

CREATE FUNCTION coditect.is_valid_timezone(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_is_valid_timezone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.tenants (
    id                     uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    name                   varchar(255) NOT NULL CHECK (name ~ '\S'),
    slug                   coditect.slug NOT NULL,
    email                  coditect.email NOT NULL,
    license_tier           varchar(20) NOT NULL DEFAULT 'trial'
                           CHECK (license_tier IN ('trial', 'starter', 'professional', 'enterprise')),
    seats_total            integer NOT NULL DEFAULT 1 CHECK (seats_total >= 0),
    is_active              boolean NOT NULL DEFAULT true,
    stripe_customer_id     varchar(255),
    stripe_subscription_id varchar(255),
    billing_email          coditect.email,
    tax_id                 varchar(100),
    phone_number           varchar(50),
    website                coditect.url,
    industry               varchar(100),
    company_size           varchar(20) CHECK (company_size IN ('small', 'medium', 'large', 'enterprise')),
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
    role       varchar(20) NOT NULL DEFAULT 'member' CHECK (role IN ('lead', 'member')),
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
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_deleted_after_created CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE UNIQUE INDEX projects_tenant_name_key ON coditect.projects (tenant_id, name)
    WHERE deleted_at IS NULL;
CREATE INDEX projects_tenant_created_idx ON coditect.projects (tenant_id, created_at DESC)
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

SELECT coditect_internal.register_tenant_table('coditect.tenants', 'tenant',
    p_redact => '{tax_id}', p_tenant_column => 'id', p_writable => false);
-- A tenant edits its profile; plan, seats, activation and billing ids belong to the service.
GRANT UPDATE (name, email, billing_email, tax_id, phone_number, website, industry, company_size)
    ON coditect.tenants TO coditect_gateway;
GRANT UPDATE ON coditect.tenants TO coditect_service;

-- Columns the API hides are redacted from the audit trail too (the trail is readable by admins).
SELECT coditect_internal.register_tenant_table('coditect.users', 'user', p_redact => '{oauth_sub,firebase_uid}');
SELECT coditect_internal.register_tenant_table('coditect.memberships', 'membership');
SELECT coditect_internal.register_tenant_table('coditect.teams', 'team');
SELECT coditect_internal.register_tenant_table('coditect.team_members', 'team_member');
SELECT coditect_internal.register_tenant_table('coditect.projects', 'project');

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
-- Global permission catalog (read-only to tenants)
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

WITH grants (codename, name, roles) AS (VALUES
    ('tenant.view',        'View the tenant',                 '{owner,admin,member,guest}'),
    ('tenant.update',      'Edit the tenant profile',         '{owner,admin}'),
    ('tenant.delete',      'Close the tenant',                '{owner}'),
    ('user.view',          'View users',                      '{owner,admin,member,guest}'),
    ('user.invite',        'Invite users',                    '{owner,admin}'),
    ('user.update',        'Edit users',                      '{owner,admin}'),
    ('user.delete',        'Remove users',                    '{owner,admin}'),
    ('membership.view',    'View memberships',                '{owner,admin,member}'),
    ('membership.manage',  'Change roles and revoke access',  '{owner,admin}'),
    ('team.view',          'View teams',                      '{owner,admin,member,guest}'),
    ('team.create',        'Create teams',                    '{owner,admin}'),
    ('team.update',        'Edit teams',                      '{owner,admin}'),
    ('team.delete',        'Delete teams',                    '{owner,admin}'),
    ('team_member.manage', 'Add and remove team members',     '{owner,admin}'),
    ('project.view',       'View projects',                   '{owner,admin,member,guest}'),
    ('project.create',     'Create projects',                 '{owner,admin,member}'),
    ('project.update',     'Edit projects',                   '{owner,admin,member}'),
    ('project.delete',     'Delete projects',                 '{owner,admin}'),
    ('project.restore',    'Restore deleted projects',        '{owner,admin}'),
    ('audit_log.view',     'Read the audit trail',            '{owner,admin}'),
    ('license.manage',     'List and issue licenses',         '{owner,admin}'),
    ('license.use',        'Acquire seats of licenses',       '{owner,admin,member}')
), inserted AS (
    INSERT INTO coditect.permissions (codename, name)
    SELECT codename, name FROM grants
    RETURNING id, codename
)
INSERT INTO coditect.role_permissions (role, permission_id)
SELECT r, i.id
  FROM inserted i JOIN grants g USING (codename), unnest(g.roles::text[]) AS r;

-- Whether the context's role holds a permission; an unknown codename is a programming error.
CREATE FUNCTION coditect.has_permission(p_codename text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    held boolean;
BEGIN
    -- One lookup: NULL when the codename does not exist, else whether the role holds it.
    SELECT EXISTS (SELECT 1 FROM coditect.role_permissions rp
                    WHERE rp.permission_id = p.id AND rp.role = coditect.current_user_role())
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

CREATE FUNCTION coditect_internal.role_rank(p_role text) RETURNS int
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_role WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'member' THEN 2 WHEN 'guest' THEN 1 END
$$;

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
    VALUES (p_name, p_slug, p_email, p_license_tier) RETURNING id INTO t;
    INSERT INTO coditect.users (tenant_id, email, firebase_uid, role)
    VALUES (t, p_owner_email, p_owner_firebase_uid, 'owner') RETURNING id INTO u;
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES (t, u, 'owner') RETURNING id INTO m;
    RETURN jsonb_build_object('tenant_id', t, 'user_id', u, 'membership_id', m);
END
$$;
REVOKE ALL ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) TO coditect_service;

------------------------------------------------------------------------------------------------
-- REST API functions (the gateway and services call these after set_request_context). Each
-- checks the permission, then uses the generic helpers of 05_api.sql under the caller's RLS.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect.api_tenant_get() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('tenant.view');
    RETURN coditect_internal.api_get('coditect.tenants', coditect.current_tenant_id(), NULL);
END
$$;

CREATE FUNCTION coditect.api_tenant_update(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('tenant.update');
    RETURN coditect_internal.api_update('coditect.tenants', coditect.current_tenant_id(), p_body,
        '{name,email,billing_email,tax_id,phone_number,website,industry,company_size}', NULL);
END
$$;

CREATE FUNCTION coditect.api_users_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                        p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.view');
    RETURN coditect_internal.api_list('coditect.users', p_filters, '{email,role,is_active}', '{created_at}',
                                      '{oauth_sub,firebase_uid}', p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_users_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.view');
    RETURN coditect_internal.api_get('coditect.users', p_id, '{oauth_sub,firebase_uid}');
END
$$;

-- Invites a user: the user and a membership with the same role.
CREATE FUNCTION coditect.api_users_create(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u jsonb;
BEGIN
    PERFORM coditect.require_permission('user.invite');
    u := coditect_internal.api_create('coditect.users', p_body,
        '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences}',
        '{oauth_sub,firebase_uid}');
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES (coditect.current_tenant_id(), (u->>'id')::uuid, u->>'role');
    RETURN u;
END
$$;

CREATE FUNCTION coditect.api_users_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.update');
    RETURN coditect_internal.api_update('coditect.users', p_id, p_body,
        '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences,is_active}',
        '{oauth_sub,firebase_uid}');
END
$$;

CREATE FUNCTION coditect.api_users_delete(p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.delete');
    IF p_id = coditect.current_user_id() THEN
        RAISE EXCEPTION 'you cannot delete yourself' USING ERRCODE = 'CD409';
    END IF;
    PERFORM coditect_internal.api_delete('coditect.users', p_id);
END
$$;

CREATE FUNCTION coditect.api_memberships_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                              p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('membership.view');
    RETURN coditect_internal.api_list('coditect.memberships', p_filters, '{user_id,role}', '{created_at}',
                                      NULL, p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_memberships_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('membership.view');
    RETURN coditect_internal.api_get('coditect.memberships', p_id, NULL);
END
$$;

-- Changes a role or revokes (revoked_at) a membership.
CREATE FUNCTION coditect.api_memberships_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('membership.manage');
    RETURN coditect_internal.api_update('coditect.memberships', p_id, p_body, '{role,revoked_at}', NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                        p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.view');
    RETURN coditect_internal.api_list('coditect.teams', p_filters, '{name}', '{created_at}',
                                      NULL, p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_teams_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.view');
    RETURN coditect_internal.api_get('coditect.teams', p_id, NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_create(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.create');
    RETURN coditect_internal.api_create('coditect.teams', p_body, '{name,description}', NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.update');
    RETURN coditect_internal.api_update('coditect.teams', p_id, p_body, '{name,description}', NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_delete(p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.delete');
    PERFORM coditect_internal.api_delete('coditect.teams', p_id);
END
$$;

CREATE FUNCTION coditect.api_team_members_list(p_team_id uuid, p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                               p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.view');
    PERFORM coditect_internal.api_get('coditect.teams', p_team_id, NULL);
    RETURN coditect_internal.api_list('coditect.team_members',
        coalesce(p_filters, '{}') || jsonb_build_object('team_id', p_team_id), '{team_id,user_id,role}',
        '{created_at}', NULL, p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_team_members_create(p_team_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team_member.manage');
    PERFORM coditect_internal.api_get('coditect.teams', p_team_id, NULL);
    PERFORM coditect_internal.api_check_fields(p_body, '{user_id,role}');
    RETURN coditect_internal.api_create('coditect.team_members', p_body || jsonb_build_object('team_id', p_team_id),
                                        '{team_id,user_id,role}', NULL);
END
$$;

CREATE FUNCTION coditect.api_team_members_delete(p_team_id uuid, p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team_member.manage');
    DELETE FROM coditect.team_members WHERE team_id = p_team_id AND id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not found' USING ERRCODE = 'CD404';
    END IF;
END
$$;

CREATE FUNCTION coditect.api_projects_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                           p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.view');
    RETURN coditect_internal.api_list('coditect.projects', p_filters, '{name}', '{created_at}',
                                      NULL, p_page, p_page_size, p_cursor, true);
END
$$;

CREATE FUNCTION coditect.api_projects_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.view');
    RETURN coditect_internal.api_get('coditect.projects', p_id, NULL, true);
END
$$;

CREATE FUNCTION coditect.api_projects_create(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.create');
    RETURN coditect_internal.api_create('coditect.projects', p_body, '{name,description,metadata}', NULL);
END
$$;

CREATE FUNCTION coditect.api_projects_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.update');
    RETURN coditect_internal.api_update('coditect.projects', p_id, p_body, '{name,description,metadata}', NULL, true);
END
$$;

CREATE FUNCTION coditect.api_projects_delete(p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.delete');
    PERFORM coditect_internal.api_delete('coditect.projects', p_id, true);
END
$$;

CREATE FUNCTION coditect.api_projects_restore(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.restore');
    PERFORM coditect.restore_row('coditect.projects', p_id);
    RETURN coditect_internal.api_get('coditect.projects', p_id, NULL, true);
END
$$;

CREATE FUNCTION coditect.api_audit_logs_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT NULL,
                                             p_page_size int DEFAULT 50, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('audit_log.view');
    RETURN coditect_internal.api_list('coditect.audit_logs', p_filters,
        '{user_id,action,resource_type,resource_id,severity,request_id}', '{created_at}', NULL, p_page, p_page_size, p_cursor);
END
$$;

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

-- The user a Firebase uid belongs to (the gateway's lookup of a token's "sub").
CREATE FUNCTION coditect.resolve_firebase_user(p_firebase_uid text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('tenant_id', k.tenant_id, 'user_id', k.row_id, 'role', m.role)
      FROM coditect_internal.global_keys k
      LEFT JOIN coditect.memberships m ON m.tenant_id = k.tenant_id AND m.user_id = k.row_id AND m.revoked_at IS NULL
     WHERE k.kind = 'users.firebase_uid' AND k.value = p_firebase_uid
$$;

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

CREATE TABLE coditect.licenses (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    key_string   varchar(23) NOT NULL DEFAULT coditect.license_key_generate()
                 CHECK (coditect.license_key_is_valid(key_string)),
    tier         varchar(20) NOT NULL DEFAULT 'BASIC' CHECK (tier IN ('BASIC', 'PRO', 'ENTERPRISE')),
    features     coditect.json_array NOT NULL DEFAULT '[]'
                 CHECK (NOT jsonb_path_exists(features, '$[*] ? (@.type() != "string")')),
    expiry_date  timestamptz NOT NULL,
    seats_total  integer NOT NULL DEFAULT 1 CHECK (seats_total >= 1),
    seats_in_use integer NOT NULL DEFAULT 0,
    is_active    boolean NOT NULL DEFAULT true,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Keys are unique across tenants through global_keys; this serves the tenant's lookups.
    CONSTRAINT licenses_tenant_key_string_key UNIQUE (tenant_id, key_string),
    CONSTRAINT licenses_seats_within_total CHECK (seats_in_use >= 0 AND seats_in_use <= seats_total),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX licenses_tenant_created_idx ON coditect.licenses (tenant_id, created_at DESC);
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
    status            varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'zombie', 'ended')),
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

SELECT coditect_internal.register_tenant_table('coditect.licenses', 'license',
    p_redact => '{key_string}', p_exclude => '{seats_in_use}');
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
        'token', coditect_internal.license_token_sign(l.id, l.tenant_id, l.tier, l.features, s.id,
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
-- REST API: licenses for admins (acquire / heartbeat / release above are the seat endpoints).
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect.api_licenses_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                           p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('license.manage');
    RETURN coditect_internal.api_list('coditect.licenses', p_filters, '{tier,is_active}', '{created_at,expiry_date}',
                                      NULL, p_page, p_page_size, p_cursor);
END
$$;

-- Issues a license: {"tier", "features", "expiry_date", "seats_total"}; the key is generated.
CREATE FUNCTION coditect.api_licenses_issue(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('license.manage');
    PERFORM coditect_internal.api_check_fields(p_body, '{tier,features,expiry_date,seats_total}');
    RETURN coditect_internal.api_create('coditect.licenses',
        p_body || jsonb_build_object('created_by', coditect.current_user_id()),
        '{tier,features,expiry_date,seats_total,created_by}', NULL);
END
$$;
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
-- 89_api_grants: every REST API function (coditect.api_*) and its invoker-rights helpers
-- (coditect_internal.api_*) is executable by the gateway and services only. The helpers give no
-- more than plain SQL under RLS would; the api_* functions add the permission checks.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE (p.pronamespace = 'coditect'::regnamespace AND p.proname LIKE 'api\_%')
                 OR (p.pronamespace = 'coditect_internal'::regnamespace AND p.proname LIKE 'api\_%') LOOP
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
    coditect.license_verify(text)
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

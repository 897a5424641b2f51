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
CREATE FUNCTION coditect_internal.invalidate_backend_caches() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_invalidate_backend_caches' LANGUAGE C;

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
--   * RLS enabled and forced, one policy on tenant = coditect.current_tenant_id() (no subquery,
--     which Citus refuses in a policy; STABLE, so an index condition still calls it once per scan),
--     which narrow_tenant_policy (below) alone may narrow further;
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
    EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (%I = coditect.current_tenant_id()) '
                   'WITH CHECK (%I = coditect.current_tenant_id())', p_table, p_tenant_column, p_tenant_column);

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

    -- The registry is a reference table on Citus: in an update every node makes the table's
    -- mechanisms above, the coordinator alone writes its row (README, Running on Citus).
    IF NOT coditect_internal.is_citus_worker() THEN
        INSERT INTO coditect_internal.tenant_tables (relid, resource, soft_delete)
        VALUES (p_table, p_resource, soft);
    END IF;
    -- Tables created by an extension script are extension members, whose rows pg_dump skips
    -- unless they are marked as configuration tables. (A table of one's own is dumped anyway.)
    IF EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_class'::regclass AND objid = p_table AND deptype = 'e') THEN
        PERFORM pg_catalog.pg_extension_config_dump(p_table, '');
    END IF;
END
$$;

-- Narrows a tenant table's rows beyond the tenant: the one way to add a row rule to a tenant
-- table. Citus (13.2.2) creates a shard's policies without AS RESTRICTIVE, also for shards made
-- later by moves, splits and rebalancing, so a restrictive policy would be ORed with the tenant's
-- there (every tenant's rows and a caller without context seeing them). Every policy is therefore
-- permissive and carries the tenant condition t (register_tenant_table's), with the semantics a
-- restrictive policy X had beside tenant_isolation on one node:
--   * p_command 'ALL': tenant_isolation becomes tenant_isolation_narrowed, USING and WITH CHECK
--     (t AND (X)) (a restrictive FOR ALL without WITH CHECK checks new rows with X);
--   * p_command 'SELECT': tenant_isolation_narrowed FOR SELECT USING (t AND (X)), and t alone
--     for the writes: tenant_isolation_insert / _update / _delete. An UPDATE or DELETE that reads
--     rows (and INSERT ... RETURNING) gets the SELECT policy too, as it got the restrictive one.
-- The catalog's row_access reads the name tenant_isolation_narrowed (tenant_rows_narrowed below).
CREATE FUNCTION coditect_internal.narrow_tenant_policy(p_table regclass, p_command text, p_using text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    qual text;
    t    text;
BEGIN
    SELECT pg_get_expr(p.polqual, p.polrelid) INTO qual
      FROM pg_policy p WHERE p.polrelid = p_table AND p.polname = 'tenant_isolation' AND p.polcmd = '*';
    IF qual IS NULL OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = p_table AND p.polname <> 'tenant_isolation') THEN
        RAISE EXCEPTION 'narrow_tenant_policy: % must have register_tenant_table''s tenant_isolation as its only policy', p_table;
    END IF;
    -- The column is the first word of the deparsed qual, "(<column> = coditect.current_tenant_id())".
    t := format('%I = coditect.current_tenant_id()', substring(qual FROM '^\((\w+) = '));
    EXECUTE format('DROP POLICY tenant_isolation ON %s', p_table);
    IF p_command = 'ALL' THEN
        EXECUTE format('CREATE POLICY tenant_isolation_narrowed ON %s USING (%s AND (%s)) WITH CHECK (%s AND (%s))',
                       p_table, t, p_using, t, p_using);
    ELSIF p_command = 'SELECT' THEN
        EXECUTE format('CREATE POLICY tenant_isolation_narrowed ON %s FOR SELECT USING (%s AND (%s))', p_table, t, p_using);
        EXECUTE format('CREATE POLICY tenant_isolation_insert ON %s FOR INSERT WITH CHECK (%s)', p_table, t);
        EXECUTE format('CREATE POLICY tenant_isolation_update ON %s FOR UPDATE USING (%s) WITH CHECK (%s)', p_table, t, t);
        EXECUTE format('CREATE POLICY tenant_isolation_delete ON %s FOR DELETE USING (%s)', p_table, t);
    ELSE
        RAISE EXCEPTION 'narrow_tenant_policy: command must be ALL or SELECT, not %', p_command;
    END IF;
END
$$;

-- Whether a table's rows are narrowed beyond the tenant (the catalog's row_access): who sees a
-- row depends on more than the tenant.
CREATE FUNCTION coditect_internal.tenant_rows_narrowed(p_table regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = p_table AND p.polname = 'tenant_isolation_narrowed')
$$;
REVOKE ALL ON FUNCTION coditect_internal.narrow_tenant_policy(regclass, text, text),
    coditect_internal.tenant_rows_narrowed(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.tenant_rows_narrowed(regclass) TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Backend caches that outlive the transaction (src_ext/pg_context_cache.cpp, pg_table_cache.cpp)
-- must hear of every committed write to the tables they read, and plain DML sends no relcache
-- invalidation. Each such table is declared once, where it is made: the trigger
-- invalidate_backend_caches then queues one of the table, delivered at commit to every backend,
-- whose caches' relcache callbacks keep the relations they read. Row triggers (PostgreSQL keeps
-- one invalidation per table and command), because logical replication's apply worker fires no
-- statement triggers but TRUNCATE's; ENABLE ALWAYS so session_replication_role skips none.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.declare_backend_cache_source(p_table regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER invalidate_backend_caches BEFORE INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION coditect_internal.invalidate_backend_caches()', p_table);
    EXECUTE format('CREATE TRIGGER invalidate_backend_caches_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION coditect_internal.invalidate_backend_caches()', p_table);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER invalidate_backend_caches, '
                   'ENABLE ALWAYS TRIGGER invalidate_backend_caches_truncate', p_table);
END
$$;

------------------------------------------------------------------------------------------------
-- ON DELETE SET NULL without the constraint action. Citus refuses SET NULL / SET DEFAULT on a
-- foreign key that carries the distribution column (tenant_id), so such a key is declared
-- ON DELETE NO ACTION and coditect_internal.declare_null_on_delete() gives it the same effect:
-- an AFTER DELETE row trigger on the referenced table that nulls the referencing columns in the
-- referencing rows, which are in the deleted row's tenant (on Citus, in the same shard group).
-- AFTER, not BEFORE: a BEFORE trigger's update of a row the same DELETE then removes (a folder
-- and its subfolder purged together) is an error. The trigger is named "FK_set_null_<constraint>"
-- because the triggers of one row event fire in bytewise name order and the NO ACTION check is
-- PostgreSQL's "RI_ConstraintTrigger_a_<oid>": nulling first, then the check finds nothing.
-- Like the constraint action it replaces, it fires the referencing table's triggers and is
-- skipped under session_replication_role = replica.
------------------------------------------------------------------------------------------------

-- A C trigger (src_ext/pg_null_references.cpp): it queues the update's own triggers to the
-- outer statement, as the built-in action does, and under Citus updates the colocated shard.
-- Arguments: the referencing table, the update's SET ... WHERE ..., the referenced columns that
-- fill its parameters.
CREATE FUNCTION coditect_internal.null_references() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_null_references' LANGUAGE C;

-- Declares that deleting the row p_table's foreign key (p_key) references sets p_set_null (key
-- columns other than tenant_id) to NULL. The foreign key must exist and be ON DELETE NO ACTION.
CREATE FUNCTION coditect_internal.declare_null_on_delete(p_table regclass, p_key name[], p_set_null name[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fk       pg_constraint%ROWTYPE;
    ref_cols name[];
    upd      text;
BEGIN
    SELECT c.* INTO fk FROM pg_constraint c
     WHERE c.conrelid = p_table AND c.contype = 'f'
       AND c.conkey = (SELECT array_agg(a.attnum ORDER BY k.i) FROM unnest(p_key) WITH ORDINALITY AS k(n, i)
                         JOIN pg_attribute a ON a.attrelid = p_table AND a.attname = k.n);
    IF NOT FOUND OR fk.confdeltype <> 'a' THEN
        RAISE EXCEPTION '% has no foreign key (%) ON DELETE NO ACTION', p_table, array_to_string(p_key, ', ');
    END IF;
    IF NOT p_set_null <@ p_key OR 'tenant_id' = ANY (p_set_null) OR cardinality(p_set_null) = 0 THEN
        RAISE EXCEPTION 'the columns set to NULL must be key columns other than tenant_id';
    END IF;
    SELECT array_agg(a.attname ORDER BY k.i) INTO ref_cols
      FROM unnest(fk.confkey) WITH ORDINALITY AS k(n, i)
      JOIN pg_attribute a ON a.attrelid = fk.confrelid AND a.attnum = k.n;
    -- Qualified names and operators: the trigger runs under a search_path of pg_catalog alone.
    upd := format('SET %s WHERE %s',
                  (SELECT string_agg(format('%I = NULL', c), ', ') FROM unnest(p_set_null) c),
                  (SELECT string_agg(format('%I OPERATOR(pg_catalog.=) $%s', k.n, k.i), ' AND ')
                     FROM unnest(p_key) WITH ORDINALITY AS k(n, i)));
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION coditect_internal.null_references(%L, %L, %s)',
                   left('FK_set_null_' || fk.conname, 63), fk.confrelid::regclass, p_table, upd,
                   (SELECT string_agg(quote_literal(c), ', ') FROM unnest(ref_cols) c));
END
$$;

------------------------------------------------------------------------------------------------
-- Columns that are the database's on INSERT (server-managed: ids, computed paths, totals, states
-- a trigger or the state machine owns). Writers hold INSERT on the whole table and one C trigger
-- (src_ext/pg_protect_columns.cpp) refuses, with 42501 naming the column, a declared column
-- whose value is not what the database would put there (its default here, NULL without one),
-- unless the writer is the table's owner (SECURITY DEFINER code) or a superuser. Column-level
-- INSERT grants would do it on one node but refuse every insert on Citus: the coordinator sends
-- every column, defaults evaluated, and the shard checks the caller's privileges on all of them.
-- For the shard to judge a value sent by the coordinator, a declared column's default must give
-- the same value there: a constant or the request context (coditect.current_user_id()), never
-- now() (refused below: leave such a column to the trigger that computes it) nor a volatile
-- function. A declared `id` has no default: the trigger gives the row a UUIDv7 when it has
-- none. Named to fire first among the BEFORE triggers: it judges what the writer sent.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.protect_columns() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_protect_columns' LANGUAGE C;

CREATE FUNCTION coditect_internal.protect_insert_columns(p_table regclass, p_columns name[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(c, ', ') INTO bad FROM unnest(p_columns) c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = p_table AND a.attname = c AND a.attnum > 0
                          AND NOT a.attisdropped)
        OR c IN ('tenant_id', 'created_at', 'updated_at');
    IF bad IS NOT NULL OR cardinality(p_columns) = 0 THEN
        RAISE EXCEPTION '%: no such column or not one to protect (tenant_id routes the row, stamp_timestamps owns created_at and updated_at): %',
            p_table, coalesce(bad, 'none given');
    END IF;
    SELECT string_agg(a.attname, ', ') INTO bad
      FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = p_table AND a.attname = ANY (p_columns)
       AND (a.attname = 'id' OR pg_get_expr(d.adbin, d.adrelid) ~* '\m(now|clock_timestamp|statement_timestamp|transaction_timestamp|random|gen_random_uuid|uuid_generate_v7|current_timestamp|localtimestamp)\M');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%: the default of % is not the same on a Citus shard as on the coordinator (an id has none: the trigger gives it)',
            p_table, bad;
    END IF;
    EXECUTE format('CREATE TRIGGER a_protect_columns BEFORE INSERT ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION coditect_internal.protect_columns(%L, %s)', p_table, p_table,
                   (SELECT string_agg(quote_literal(c), ', ') FROM unnest(p_columns) c));
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER a_protect_columns', p_table);
END
$$;

-- The declared columns of a table (tests and tools read the declaration, not the trigger).
CREATE FUNCTION coditect_internal.protected_insert_columns(p_table regclass) RETURNS name[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT array_agg(a.arg::name ORDER BY a.i)
      FROM pg_trigger t,
           unnest(string_to_array(regexp_replace(encode(t.tgargs, 'escape'), '\\000$', ''), '\000')) WITH ORDINALITY a (arg, i)
     WHERE t.tgrelid = p_table AND t.tgname = 'a_protect_columns' AND a.i > 1
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
SELECT coditect_internal.declare_backend_cache_source('coditect.state_transitions');  -- enforce_transition's cache

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

-- Whether this backend runs on a Citus worker (a node whose group is not the coordinator's, 0).
-- Read through EXECUTE so that a one-node install needs no Citus (no such table: false).
CREATE FUNCTION coditect_internal.is_citus_worker() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    grp int;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO grp;
    RETURN grp <> 0;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.is_citus_worker() FROM PUBLIC;
-- (The policy below calls it as the gateway or a service.)
GRANT EXECUTE ON FUNCTION coditect_internal.is_citus_worker() TO coditect_gateway, coditect_service;

CREATE TABLE coditect_internal.global_keys (
    kind      varchar(100) NOT NULL,  -- '<table>.<column>'
    value     text NOT NULL,
    tenant_id uuid NOT NULL,
    row_id    uuid NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX global_keys_row_idx ON coditect_internal.global_keys (tenant_id, row_id);
REVOKE ALL ON coditect_internal.global_keys FROM PUBLIC;
-- The gateway and services claim the keys of the rows they write themselves (global_key_claim
-- runs as its caller): on Citus the claim must travel over the connection that writes the row,
-- for the shard's trigger to see it. They see and claim their tenant's claims only; another
-- tenant's claim is a clash (23505), as it always was. On Citus a claim is written to every
-- node's placement, and a worker that holds none of the tenant's rows has no context: the
-- coordinator's placement, written in the same statement, checks the tenant there.
ALTER TABLE coditect_internal.global_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY global_keys_read ON coditect_internal.global_keys FOR SELECT TO coditect_gateway, coditect_service
    USING (tenant_id = coditect.current_tenant_id());
CREATE POLICY global_keys_claim ON coditect_internal.global_keys FOR INSERT TO coditect_gateway, coditect_service
    WITH CHECK (tenant_id = coditect.current_tenant_id() OR coditect_internal.is_citus_worker());
GRANT SELECT, INSERT ON coditect_internal.global_keys TO coditect_gateway, coditect_service;
-- Not dumped: derived from the tables it indexes, whose triggers rebuild it when they are restored.

-- The name of the table a row trigger fired for. On Citus a trigger fires on a worker's shard,
-- named after its table and shard id (users_102008); the table's name is answered then.
CREATE FUNCTION coditect_internal.trigger_table_name(p_name name) RETURNS name
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v name;
BEGIN
    IF p_name !~ '_[0-9]+$' OR pg_catalog.to_regclass('pg_catalog.pg_dist_shard') IS NULL THEN
        RETURN p_name;
    END IF;
    EXECUTE 'SELECT c.relname FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_class c ON c.oid = s.logicalrelid '
            'WHERE s.shardid = $1 AND $2 = c.relname::text || ''_'' || s.shardid::text'
       INTO v USING pg_catalog.substring(p_name::text, '_([0-9]+)$')::bigint, p_name::text;
    RETURN coalesce(v, p_name);
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.trigger_table_name(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.trigger_table_name(name) TO coditect_gateway, coditect_service;

-- AFTER ROW trigger; arguments: column, constraint name reported on a clash, tenant column.
-- A claim follows its row: a changed value, tenant or id moves it. The extension's own write
-- paths claim before they write (global_key_claim) and release after (global_key_release), on
-- the coordinator under Citus; on one node this trigger then finds the claim its row already
-- holds. On a Citus shard (the trigger fires on a worker, where a write to the reference table
-- global_keys is refused and a nested one crashes Citus 13.2.2 at COMMIT PREPARED) it only
-- checks that the new value is claimed by this row; old values of direct SQL writers there are
-- left to reap_global_keys().
CREATE FUNCTION coditect_internal.sync_global_key() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col      text := TG_ARGV[0];
    tbl      text := coditect_internal.trigger_table_name(TG_TABLE_NAME);
    on_shard boolean := tbl <> TG_TABLE_NAME;  -- fired on a Citus shard (<table>_<shard id>)
    v_kind   text := tbl || '.' || TG_ARGV[0];
    old_row  jsonb;
    new_row  jsonb;
    holder   record;
    nested   text;
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
    -- Hard deletes (purge_tenant, purge_deleted) remove their rows' claims themselves: on Citus
    -- this trigger fires on a shard, which cannot write the reference table.
    IF TG_OP = 'DELETE' AND coditect_internal.hard_delete_allowed() THEN
        RETURN NULL;
    END IF;
    IF on_shard THEN
        IF new_row ->> col IS NOT NULL THEN
            -- The read of the reference table's local placement is a nested distributed
            -- execution here: allowed for this read only.
            nested := coditect_internal.nested_begin();
            SELECT g.tenant_id, g.row_id INTO holder FROM coditect_internal.global_keys g
             WHERE g.kind = v_kind AND g.value = new_row ->> col;
            PERFORM coditect_internal.nested_end(nested);
            IF holder.tenant_id IS NULL THEN
                RAISE EXCEPTION '% of %.% is not claimed: on Citus, claim it first with coditect_internal.global_key_claim() on the coordinator',
                    col, TG_TABLE_SCHEMA, tbl USING ERRCODE = 'CD409', COLUMN = col, TABLE = tbl, SCHEMA = TG_TABLE_SCHEMA;
            ELSIF (holder.tenant_id, holder.row_id) IS DISTINCT FROM ((new_row ->> TG_ARGV[2])::uuid, (new_row ->> 'id')::uuid) THEN
                RAISE EXCEPTION '% is already taken', col USING ERRCODE = 'unique_violation',
                    CONSTRAINT = TG_ARGV[1], COLUMN = col, TABLE = tbl, SCHEMA = TG_TABLE_SCHEMA;
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    IF old_row ->> col IS NOT NULL THEN
        DELETE FROM coditect_internal.global_keys
         WHERE kind = v_kind AND value = old_row ->> col
           AND tenant_id = (old_row ->> TG_ARGV[2])::uuid AND row_id = (old_row ->> 'id')::uuid;
    END IF;
    PERFORM coditect_internal.global_key_claim(v_kind, new_row ->> col, (new_row ->> TG_ARGV[2])::uuid,
                                               (new_row ->> 'id')::uuid);
    RETURN NULL;
END
$$;

-- What a kind ('<table>.<column>') is: its table, column, the constraint its clash names and
-- its tenant column, read from the trigger claim_global_key() made.
CREATE FUNCTION coditect_internal.global_key_kind(p_kind text,
    OUT tbl regclass, OUT col text, OUT constraint_name text, OUT tenant_column text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    args text[];
BEGIN
    SELECT t.tgrelid, string_to_array(encode(t.tgargs, 'escape'), '\000') INTO tbl, args
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = pg_catalog.to_regclass(pg_catalog.format('coditect.%I', split_part(p_kind, '.', 1)))
       AND t.tgname = 'global_key_' || split_part(p_kind, '.', 2)
       AND t.tgfoid = 'coditect_internal.sync_global_key()'::regprocedure;
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'unknown global key %', p_kind USING ERRCODE = 'CD400';
    END IF;
    col := args[1];
    constraint_name := args[2];
    tenant_column := args[3];
END
$$;

-- Claims p_value of a kind for the row (p_tenant, p_row); a claim the row already holds is
-- accepted, another row's is a unique_violation naming the constraint (as the trigger's). NULL
-- claims nothing. Write paths call it before writing the row, in the same transaction, as the
-- login that writes the row: owner paths from their definer functions, the generated creates as
-- the caller (under the policy above, for the request's tenant).
CREATE FUNCTION coditect_internal.global_key_claim(p_kind text, p_value text, p_tenant uuid, p_row uuid)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
    d record;
BEGIN
    IF p_value IS NULL THEN
        RETURN;
    END IF;
    IF p_tenant IS NULL OR p_row IS NULL THEN
        RAISE EXCEPTION 'a global key is claimed for a tenant and a row' USING ERRCODE = 'CD400';
    END IF;
    -- On a Citus worker the claim would be a write of a reference table from there: refused
    -- inside a shard's query, and a nested one crashed Citus 13.2.2 at COMMIT PREPARED.
    IF coditect_internal.is_citus_worker() THEN
        RAISE EXCEPTION 'a global key (%) is claimed on the Citus coordinator, before the row is written on its worker', p_kind
            USING ERRCODE = 'CD409', HINT = 'Claim it first in the same transaction on the coordinator (README, Global keys on Citus).';
    END IF;
    LOOP
        -- (Not ON CONFLICT: on Citus an upsert of a reference table locks its placements in a
        -- mode that a caller with INSERT alone may not take.)
        BEGIN
            INSERT INTO coditect_internal.global_keys (kind, value, tenant_id, row_id)
            VALUES (p_kind, p_value, p_tenant, p_row);
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            NULL;
        END;
        SELECT g.tenant_id, g.row_id INTO k FROM coditect_internal.global_keys g
         WHERE g.kind = p_kind AND g.value = p_value;
        -- Else released meanwhile: try again; a caller under the policy sees no other tenant's
        -- claim, which is then the clash.
        EXIT WHEN FOUND OR pg_catalog.row_security_active('coditect_internal.global_keys'::regclass);
    END LOOP;
    IF (k.tenant_id, k.row_id) = (p_tenant, p_row) THEN
        RETURN;
    END IF;
    d := coditect_internal.global_key_kind(p_kind);
    RAISE EXCEPTION '% is already taken', d.col USING ERRCODE = 'unique_violation',
        CONSTRAINT = d.constraint_name, COLUMN = d.col, TABLE = split_part(p_kind, '.', 1), SCHEMA = 'coditect';
END
$$;

-- Removes the claim of p_value by (p_tenant, p_row) if that row no longer carries the value
-- (moved, cleared or deleted). Write paths call it after the write that changed the value.
CREATE FUNCTION coditect_internal.global_key_release(p_kind text, p_value text, p_tenant uuid, p_row uuid)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d       record;
    carried boolean;
BEGIN
    IF p_value IS NULL THEN
        RETURN false;
    END IF;
    d := coditect_internal.global_key_kind(p_kind);
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.%I OPERATOR(pg_catalog.=) $1 '
                              'AND t.id OPERATOR(pg_catalog.=) $2 AND t.%I::text OPERATOR(pg_catalog.=) $3)',
                              d.tbl, d.tenant_column, d.col)
       INTO carried USING p_tenant, p_row, p_value;
    IF carried THEN
        RETURN false;
    END IF;
    DELETE FROM coditect_internal.global_keys g
     WHERE g.kind = p_kind AND g.value = p_value AND g.tenant_id = p_tenant AND g.row_id = p_row;
    RETURN FOUND;
END
$$;

-- Maintenance: removes the claims whose row no longer carries the value. On one node the trigger
-- releases them at once and this finds none; on Citus, direct SQL writers (a DBA's UPDATE or
-- DELETE on the coordinator, tenant purges) leave the old value claimed until this job runs.
CREATE FUNCTION coditect.reap_global_keys() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kinds text[];
    v     text;
    d     record;
    stale record;
    n     bigint := 0;
BEGIN
    SELECT array_agg(DISTINCT g.kind) INTO kinds FROM coditect_internal.global_keys g;
    FOREACH v IN ARRAY coalesce(kinds, '{}') LOOP
        d := coditect_internal.global_key_kind(v);
        -- Read first, remove after: Citus refuses a reference-table write that reads a
        -- distributed table.
        FOR stale IN EXECUTE pg_catalog.format(
            'SELECT g.value, g.tenant_id, g.row_id FROM coditect_internal.global_keys g WHERE g.kind OPERATOR(pg_catalog.=) $1 '
            'EXCEPT SELECT t.%2$I::text, t.%3$I, t.id FROM %1$s t WHERE t.%2$I IS NOT NULL', d.tbl, d.col, d.tenant_column)
            USING v LOOP
            -- Checked again by release, row by row: on Citus the first read may have seen a
            -- claim whose row's commit had not yet reached its worker.
            IF coditect_internal.global_key_release(v, stale.value, stale.tenant_id, stale.row_id) THEN
                n := n + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.global_key_kind(text), coditect_internal.global_key_claim(text, text, uuid, uuid),
    coditect_internal.global_key_release(text, text, uuid, uuid), coditect.reap_global_keys()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.global_key_kind(text), coditect_internal.global_key_claim(text, text, uuid, uuid)
    TO coditect_gateway, coditect_service;

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
    -- A resource's generated create claims its keys before it writes (generate_row_functions).
    IF pg_catalog.to_regclass('coditect_internal.resources') IS NOT NULL THEN
        PERFORM coditect_internal.generate_resource_functions(x.name) FROM coditect_internal.resources x WHERE x.relid = p_table;
    END IF;
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
    v_tenants uuid[];
    v_ids uuid[];
    v_table text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM coditect_internal.tenant_tables WHERE relid = p_table AND soft_delete) THEN
        RAISE EXCEPTION '% is not a soft-delete table', p_table USING ERRCODE = 'CD400';
    END IF;
    IF p_older_than IS NULL OR p_older_than < interval '0' THEN
        RAISE EXCEPTION 'p_older_than must be a non-negative interval' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.allow_hard_delete(true);
    EXECUTE format('WITH d AS (DELETE FROM %s WHERE deleted_at <= now() - $1 RETURNING tenant_id, id)'
                   ' SELECT count(*), array_agg(tenant_id), array_agg(id) FROM d', p_table)
        USING p_older_than INTO n, v_tenants, v_ids;
    -- Their global keys (sync_global_key leaves them to hard deletes).
    IF n > 0 THEN
        v_table := (SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.oid = p_table);
        DELETE FROM coditect_internal.global_keys g
         USING unnest(v_tenants, v_ids) AS d(tenant_id, id)
         WHERE g.tenant_id = d.tenant_id AND g.row_id = d.id AND split_part(g.kind, '.', 1) = v_table;
    END IF;
    PERFORM coditect_internal.allow_hard_delete(false);
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_deleted(regclass, interval) FROM PUBLIC;

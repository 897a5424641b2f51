-- 06_catalog: the resource catalog. One declaration per resource
-- (coditect_internal.register_resource) attaches the table mechanisms, records the resource,
-- creates its permissions and generates its API functions, whose SQL is static for that
-- resource so that PostgreSQL keeps their plans. coditect.api_catalog() publishes the catalog;
-- the gateway builds its routes and OpenAPI from it (and reloads on NOTIFY coditect_catalog).
--
-- Actions (register_action) name their function, or, for an action that changes a row and
-- answers it, the SECURITY DEFINER coditect_internal.<x>_as(...) RETURNS uuid that does the work
-- (p_as) and the resource answered (p_answers): the catalog then writes the invoker function
-- coditect.<x> itself (generate_action_wrapper: _as's arguments and defaults, the answer read
-- by the resource's generated get under the caller's RLS, pinned search_path, the grants) and
-- records it, so regeneration writes it again. Converting a hand-written wrapper: delete it, put
-- its defaults on _as, declare p_as (and p_answers), drop _as from the file's GRANT (README,
-- Resource catalog). p_secret marks an answer that holds a secret shown once (never stored for
-- an Idempotency-Key).

------------------------------------------------------------------------------------------------
-- Notifications
------------------------------------------------------------------------------------------------

-- Every NOTIFY of the extension (coditect_catalog, coditect_outbox) goes through here. On a Citus
-- worker it does nothing: a NOTIFY inside Citus's two-phase commit fails at PREPARE, and no one
-- listens there (the gateway and coditect-worker talk to the coordinator; the worker also polls).
CREATE FUNCTION coditect_internal.notify(p_channel text, p_payload text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT coditect_internal.is_citus_worker() THEN
        PERFORM pg_catalog.pg_notify(p_channel, p_payload);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.notify(text, text) FROM PUBLIC;

-- Inside a shard's query on a Citus worker (a policy, a trigger, a function routed to the
-- tenant's node), Citus refuses a query of a distributed or reference table unless nested
-- execution is allowed. SQL code brackets such a read with nested_begin, which allows it on a
-- worker and answers the setting that nested_end restores; on one node both do nothing. (C code:
-- nested_execution_begin, src_ext/pg_context.cpp.)
CREATE FUNCTION coditect_internal.nested_begin() RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    was text;
BEGIN
    IF NOT coditect_internal.is_citus_worker() THEN
        RETURN NULL;
    END IF;
    was := pg_catalog.current_setting('citus.allow_nested_distributed_execution');
    PERFORM pg_catalog.set_config('citus.allow_nested_distributed_execution', 'on', true);
    RETURN was;
END
$$;
CREATE FUNCTION coditect_internal.nested_end(p_was text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_was IS NOT NULL THEN
        PERFORM pg_catalog.set_config('citus.allow_nested_distributed_execution', p_was, true);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.nested_begin(), coditect_internal.nested_end(text) FROM PUBLIC;

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
-- Cached by the seat calls (src_ext/pg_license_seats.cpp).
SELECT coditect_internal.declare_backend_cache_source('coditect.permissions');
SELECT coditect_internal.declare_backend_cache_source('coditect.role_permissions');

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
    -- The permissions are reference tables on Citus: the coordinator's run of a script writes
    -- them for every node (a worker's would write them again; install: distribute() copies them).
    IF coditect_internal.is_citus_worker() THEN
        RETURN;
    END IF;
    INSERT INTO coditect.permissions (codename, name) VALUES (p_codename, p_name) RETURNING id INTO pid;
    INSERT INTO coditect.role_permissions (role, permission_id)
    SELECT r, pid FROM unnest(enum_range(NULL::coditect.member_role)) r
     WHERE coditect_internal.role_rank(r::text) >= coditect_internal.role_rank(p_min_role);
END
$$;

-- Whether the context's role holds a permission; an unknown codename is a programming error.
-- Policies call it: C (src_ext/pg_nested_read.cpp) calling the PL/pgSQL body, so that on a Citus
-- worker its reads of the reference tables run inside the shard query.
CREATE FUNCTION coditect_internal.has_permission_body(p_codename text) RETURNS boolean
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
CREATE FUNCTION coditect.has_permission(p_codename text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_has_permission' LANGUAGE C STABLE;

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
    -- A view's rows are scoped by the row-level security of the table named here.
    rls_relid        regclass,
    -- Other collections that list it: {"project": "project_id"} adds /projects/{project_id}/tasks/.
    also_under       jsonb NOT NULL DEFAULT '{}',
    -- f(id) called by the get once the row is found: a read that records something (a
    -- document's "viewed"); the get's operation then writes (see resource_operations.writes).
    after_get        regprocedure,
    -- f(body) called by the create before it writes, as the caller: its writes of global tables
    -- (register_create_global).
    create_global    regprocedure,
    CHECK ((parent IS NULL) = (parent_column IS NULL))
);

-- Per column: readable (else hidden: never in answers), writable on create or update, and the
-- filter operators it allows (contains: an array or JSON array column holds every given value).
CREATE TABLE coditect_internal.resource_columns (
    resource    text NOT NULL REFERENCES coditect_internal.resources (name) ON DELETE CASCADE,
    column_name name NOT NULL,
    readable    boolean NOT NULL,
    on_create   boolean NOT NULL,
    on_update   boolean NOT NULL,
    filter_ops  text[] NOT NULL DEFAULT '{}'
                CHECK (filter_ops <@ '{exact,in,isnull,gt,gte,lt,lte,contains}'),
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
    -- A GET that writes (records a read): the gateway runs it in a read-write transaction.
    writes     boolean NOT NULL DEFAULT false,
    -- An action the catalog wrote (register_action p_as): the invoker function named wrapper,
    -- taking the arguments of wraps (owner rights, answers the id of the row it changed), and
    -- answering that row of the resource answers through its generated get.
    wraps      regprocedure,
    answers    text,
    wrapper    text,
    -- The answer holds a secret shown once (a signing secret, a token): never kept, not even
    -- for an Idempotency-Key's replay.
    secret     boolean NOT NULL DEFAULT false,
    -- Its global part (register_action p_global), run first as the caller.
    global_part regprocedure,
    CONSTRAINT resource_operations_wraps_check
        CHECK ((wraps IS NULL) = (answers IS NULL) AND (wraps IS NULL) = (wrapper IS NULL) AND (wraps IS NULL OR kind = 'action')
               AND (global_part IS NULL OR wraps IS NOT NULL)),
    PRIMARY KEY (resource, name),
    UNIQUE (method, path)
);

-- Computed fields: f(row) added to every answer of the resource, e.g. a project's tasks_count.
CREATE TABLE coditect_internal.resource_computed (
    resource text NOT NULL REFERENCES coditect_internal.resources (name) ON DELETE CASCADE,
    name     name NOT NULL,
    function regprocedure NOT NULL,
    PRIMARY KEY (resource, name)
);

-- JSON Schemas the API publishes beside the resources' (OpenAPI components): a name and the
-- function that answers the schema (its one source), e.g. WorkflowDefinition.
CREATE TABLE coditect_internal.api_schemas (
    name     text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Za-z0-9]*$'),
    function regprocedure NOT NULL
);

REVOKE ALL ON coditect_internal.resources, coditect_internal.resource_columns,
    coditect_internal.resource_operations, coditect_internal.resource_computed, coditect_internal.api_schemas FROM PUBLIC;
GRANT SELECT ON coditect_internal.resources, coditect_internal.resource_columns,
    coditect_internal.resource_operations, coditect_internal.resource_computed, coditect_internal.api_schemas
    TO coditect_gateway, coditect_service;

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
    p_response jsonb, p_summary text, p_auth text DEFAULT 'bearer', p_writes boolean DEFAULT false
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
         request, response, summary, sql, writes)
    VALUES (p_resource, p_name, p_kind, p_method, p_path, p_function, p_permission, p_auth, p_params,
            p_result, p_status, p_etag, p_request, p_response, p_summary,
            coditect_internal.operation_sql(p_function, p_result, p_etag), p_writes);
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
    item_path text,
    rls_tbl   text,   -- whose row-level security scopes the rows (a view's: its table's)
    computed  text,   -- " || jsonb_build_object('n', f(v_row))": the computed fields of a row
    computed_cols text  -- " || jsonb_build_object('n', f(x.v))": the same for a list's row x.v
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
    -- The tenant as a parameter (v_tenant) besides the policy's coditect.current_tenant_id():
    -- Citus routes a statement to one node only on a constant or parameter of the distribution
    -- column. Both are conditions of the same index column, so one node pays nothing for it.
    -- A caller that bypasses row-level security is refused (generated_prologue). A global
    -- catalog (products, tax rates: no tenant column) is a Citus reference table: no filter.
    g.scope := CASE WHEN coditect_internal.column_type(r.relid, r.tenant_column) IS NULL THEN 'true'
                    ELSE format('t.%I = v_tenant', r.tenant_column) END;
    IF r.parent IS NOT NULL THEN
        SELECT * INTO STRICT par FROM coditect_internal.resources WHERE name = r.parent;
        g.par_arg := format('p_%s_id uuid, ', par.name);
        g.scope := g.scope || format(' AND t.%I = p_%s_id', r.parent_column, par.name);
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
    g.key_where := CASE WHEN r.singleton THEN g.scope ELSE 't.id = p_id AND ' || g.scope END;
    SELECT coalesce(' - ARRAY[' || string_agg(quote_literal(column_name), ', ' ORDER BY column_name) || ']::text[]', '')
      INTO g.hidden FROM coditect_internal.resource_columns WHERE resource = r.name AND NOT readable;
    g.item_path := CASE WHEN r.singleton THEN r.path ELSE r.path || '{id}/' END;
    g.rls_tbl := coalesce(r.rls_relid, r.relid)::text;
    -- Computed fields are called on the row the statement answered (v_row, or x.v for a list's),
    -- never inside it: Citus runs a routed statement on a shard, where f(t) would take the
    -- shard's row type, refuses non-IMMUTABLE functions in RETURNING, and f's own query would be
    -- a distributed query from a shard.
    SELECT coalesce(string_agg(format(' || jsonb_build_object(%L, %s(v_row))', c.name, c.function::regproc), '' ORDER BY c.name), ''),
           coalesce(string_agg(format(' || jsonb_build_object(%L, %s(x.v))', c.name, c.function::regproc), '' ORDER BY c.name), '')
      INTO g.computed, g.computed_cols
      FROM coditect_internal.resource_computed c WHERE c.resource = r.name;
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
    FOR c IN SELECT rc.column_name AS col, x.op, coditect_internal.column_type(r.relid, rc.column_name) AS typ,
                    (SELECT typcategory = 'A' FROM pg_type WHERE oid = a.atttypid) AS is_array
               FROM coditect_internal.resource_columns rc
               JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
              CROSS JOIN LATERAL unnest(rc.filter_ops) x(op)
              WHERE rc.resource = r.name
              ORDER BY a.attnum, array_position('{exact,in,isnull,gt,gte,lt,lte,contains}'::text[], x.op) LOOP
        f := CASE c.op WHEN 'exact' THEN c.col ELSE c.col || '__' || c.op END;
        names := names || f;
        IF c.op = 'in' THEN
            decl := decl || format(E'\n    %I %s[];', 'f_' || f, c.typ);
            assign := assign || format(E'\n            %I := coditect_internal.api_filter_values(p_filters -> %L);', 'f_' || f, f);
            preds := preds || format(E'\n                   AND (%1$I IS NULL OR t.%2$I = ANY (%1$I))', 'f_' || f, c.col);
        ELSIF c.op = 'contains' THEN
            decl := decl || format(E'\n    %I %s;', 'f_' || f, c.typ);
            assign := assign || format(E'\n            %I := %s;', 'f_' || f,
                CASE WHEN c.is_array THEN format('coditect_internal.api_filter_values(p_filters -> %L)::%s', f, c.typ)
                     ELSE format('to_jsonb(coditect_internal.api_filter_values(p_filters -> %L))', f) END);
            preds := preds || format(E'\n                   AND (%1$I IS NULL OR t.%2$I @> %1$I)', 'f_' || f, c.col);
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
                SELECT t.*%9$s FROM %2$s t
                 WHERE %3$s
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim OFFSET off) t;
        ELSIF q.cursor_id IS NULL THEN
            SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
                SELECT t.*%9$s FROM %2$s t
                 WHERE %3$s%4$s
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim OFFSET off) t;
        ELSIF plain THEN
            SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
                SELECT t.*%9$s FROM %2$s t
                 WHERE %3$s AND (t.%5$I, t.id) %7$s (%8$I, q.cursor_id)
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim) t;
        ELSE
            SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') INTO rows FROM (
                SELECT t.*%9$s FROM %2$s t
                 WHERE %3$s AND (t.%5$I, t.id) %7$s (%8$I, q.cursor_id)%4$s
                 ORDER BY t.%5$I %6$s, t.id %6$s LIMIT lim) t;
        END IF;$f$,
                CASE WHEN dir = 'DESC' THEN '-' ELSE '' END || o, g.tbl, g.scope, preds, o, dir,
                CASE WHEN dir = 'DESC' THEN '<' ELSE '>' END, 'c_' || o, '');
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
    p_page_size := coalesce(p_page_size, %4$s);
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
    END IF;%21$s
    RETURN jsonb_build_object(
        'count', total,
        'results', %18$s,
        'next_cursor', CASE WHEN last IS NOT NULL THEN coditect_internal.api_cursor_encode(
                                 q.keys[1], last ->> ltrim(q.keys[1], '-'), (last ->> 'id')::uuid) END);
END
$fn$$f$,
        g.fn, g.par_arg, CASE WHEN r.keyset_default THEN 'NULL' ELSE '1' END, r.page_size, decl,
        coditect_internal.generated_prologue(p_permission, g.rls_tbl),
        names, r.orderings, r.default_ordering, r.max_page_size, g.par_check, assign,
        cursors, g.tbl, preds, branches, multi,
        CASE WHEN g.hidden = '' THEN 'rows'
             ELSE format('(SELECT coalesce(jsonb_agg(e%s ORDER BY n), ''[]'') FROM jsonb_array_elements(rows) WITH ORDINALITY x(e, n))', g.hidden) END,
        g.scope, nosearch,
        CASE WHEN g.computed_cols = '' THEN '' ELSE format($c$
    IF rows <> '[]' THEN
        SELECT jsonb_agg(e%s ORDER BY n) INTO rows
          FROM jsonb_array_elements(rows) WITH ORDINALITY a(e, n)
         CROSS JOIN LATERAL (SELECT jsonb_populate_record(NULL::%s, e) AS v) x;
    END IF;$c$, g.computed_cols, g.tbl) END);

    sig := format('%s_list(%sjsonb, int, int, text, text, text)', g.fn, repeat('uuid, ', np));
    PERFORM coditect_internal.record_operation(r.name, 'list', 'list', 'GET', r.path, sig::regprocedure, p_permission,
        g.par_param || '[{"from": "filters"}, {"from": "page"}, {"from": "page_size"}, {"from": "cursor"}, {"from": "ordering"}, {"from": "search"}]',
        'list', 200, false, NULL, jsonb_build_object('resource', r.name), 'List ' || replace(r.plural, '_', ' '));

    -- The same list under another collection (also_under): /projects/{project_id}/tasks/ is
    -- /tasks/?project_id=..., and a 404 when the project is not there.
    FOR c IN SELECT p.*, u.value #>> '{}' AS col
               FROM jsonb_each(r.also_under) u JOIN coditect_internal.resources p ON p.name = u.key LOOP
        EXECUTE format($f$
CREATE FUNCTION %1$s_list_by_%2$s(p_%2$s_id uuid, p_filters jsonb DEFAULT '{}', p_page int DEFAULT %3$s,
                          p_page_size int DEFAULT %4$s, p_cursor text DEFAULT NULL, p_ordering text DEFAULT NULL,
                          p_search text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
BEGIN
    %5$s
    PERFORM 1 FROM %6$s pt WHERE pt.%7$I = v_tenant AND pt.id = p_%2$s_id%8$s;
    IF NOT FOUND THEN
        RAISE EXCEPTION '%9$s %% not found', p_%2$s_id USING ERRCODE = 'CD404';
    END IF;
    RETURN %1$s_list(coalesce(p_filters, '{}') || jsonb_build_object(%10$L, p_%2$s_id), p_page, p_page_size,
                     p_cursor, p_ordering, p_search);
END
$fn$$f$,
            g.fn, c.name, CASE WHEN r.keyset_default THEN 'NULL' ELSE '1' END, r.page_size,
            coditect_internal.generated_prologue(p_permission, g.rls_tbl), c.relid, c.tenant_column,
            CASE WHEN c.soft_delete THEN ' AND pt.deleted_at IS NULL' ELSE '' END, replace(c.name, '_', ' '), c.col);
        PERFORM coditect_internal.record_operation(r.name, 'list_by_' || c.name, 'list', 'GET',
            c.path || '{' || c.name || '_id}/' || replace(r.plural, '_', '-') || '/',
            format('%s_list_by_%s(uuid, jsonb, int, int, text, text, text)', g.fn, c.name)::regprocedure, p_permission,
            jsonb_build_array(jsonb_build_object('from', 'path', 'name', c.name || '_id'))
            || '[{"from": "filters"}, {"from": "page"}, {"from": "page_size"}, {"from": "cursor"}, {"from": "ordering"}, {"from": "search"}]',
            'list', 200, false, NULL, jsonb_build_object('resource', r.name),
            format('List the %s of a %s', replace(r.plural, '_', ' '), replace(c.name, '_', ' ')));
    END LOOP;
END
$gen$;

-- A statement that answers one row into r: p_head || <the row> || p_tail. With computed fields,
-- and in a RETURNING clause (no p_head), the row goes into v_row first and r is made from it
-- outside the statement (resource_code): Citus refuses to_jsonb (STABLE) in an UPDATE's RETURNING.
CREATE FUNCTION coditect_internal.generated_answer(p_head text, p_tail text, p_hidden text, p_computed text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_computed = '' AND p_head <> '' THEN p_head || 'to_jsonb(t)' || p_hidden || ' INTO r' || p_tail || ';'
                ELSE p_head || 't.* INTO v_row' || p_tail || E';\n    IF FOUND THEN\n        r := to_jsonb(v_row)'
                     || p_hidden || p_computed || E';\n    END IF;' END
$$;

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
    vals    text[];
    sets    text;
    gk      text[];  -- the table's global keys (claim_global_key)
    k       text;
    pre     text := '';
    -- The row a computed field is called on, or a RETURNING clause answered (generated_answer).
    v_decl  text := format(E'\n    v_row %s;', g.tbl);
BEGIN
    -- A child of a parent that is gone (soft-deleted) is gone too.
    missing := g.par_check || format(E'\n    IF r IS NULL THEN\n        RAISE EXCEPTION ''%s%s not found''%s USING ERRCODE = ''CD404'';\n    END IF;',
                      g.label, CASE WHEN r.singleton THEN '' ELSE ' %' END,
                      CASE WHEN r.singleton THEN '' ELSE ', p_id' END);
    IF p_perms ? 'view' THEN
        EXECUTE format($f$
CREATE FUNCTION %1$s_get(%2$s) RETURNS jsonb
LANGUAGE plpgsql %8$s SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;%10$s
BEGIN
    %3$s
    %4$s%7$s%9$s
    RETURN r;
END
$fn$$f$, g.fn, rtrim(g.par_arg || id_arg, ', '), coditect_internal.generated_prologue(p_perms ->> 'view', g.rls_tbl),
            coditect_internal.generated_answer('SELECT ', format(' FROM %s t WHERE %s', g.tbl, g.key_where), g.hidden, g.computed),
            g.tbl, g.key_where, missing,
            CASE WHEN r.after_get IS NULL THEN 'STABLE' ELSE 'VOLATILE' END,
            CASE WHEN r.after_get IS NULL THEN ''
                 ELSE format(E'\n    PERFORM %s((r ->> ''id'')::uuid);', (SELECT p.oid::regproc::text FROM pg_proc p WHERE p.oid = r.after_get)) END, v_decl);
        PERFORM coditect_internal.record_operation(r.name, 'get', 'get', 'GET', g.item_path,
            format('%s_get(%s)', g.fn, rtrim(id_sig, ', '))::regprocedure, p_perms ->> 'view', g.par_param || id_par,
            'row', 200, true, NULL, jsonb_build_object('resource', r.name), 'Get ' || article || g.label
            || CASE WHEN r.after_get IS NULL THEN '' ELSE ' (recorded as read)' END, 'bearer', r.after_get IS NOT NULL);
    END IF;

    IF p_perms ? 'create' THEN
        SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}'),
               coalesce(array_agg(CASE WHEN a.atthasdef
                                       THEN format('CASE WHEN p_body ? %L THEN p.%I ELSE %s END', a.attname, a.attname,
                                                   pg_get_expr(d.adbin, d.adrelid))
                                       ELSE format('p.%I', a.attname) END ORDER BY a.attnum), '{}')
          INTO cols, vals
          FROM coditect_internal.resource_columns rc
          JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE rc.resource = r.name AND rc.on_create;
        -- A table with global keys: the row's id and keys are computed first and claimed as the
        -- caller (global_key_claim), then written; on Citus the shard's trigger only checks the
        -- claim, which must come over the caller's connection.
        -- (A key the create leaves NULL, written on create or by a default, claims nothing.)
        SELECT array_agg(x.args[1] ORDER BY x.args[1]) INTO gk
          FROM (SELECT string_to_array(encode(t.tgargs, 'escape'), '\000') AS args FROM pg_trigger t
                 WHERE t.tgrelid = r.relid AND t.tgfoid = 'coditect_internal.sync_global_key()'::regprocedure) x
         WHERE x.args[1] = ANY (cols)
            OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = r.relid AND a.attname = x.args[1] AND a.atthasdef);
        IF gk IS NOT NULL THEN
            IF EXISTS (SELECT 1 FROM pg_trigger t
                        WHERE t.tgrelid = r.relid AND t.tgfoid = 'coditect_internal.sync_global_key()'::regprocedure
                          AND (string_to_array(encode(t.tgargs, 'escape'), '\000'))[3] <> r.tenant_column) THEN
                RAISE EXCEPTION 'resource %: a global key held by another column than the tenant column', r.name USING ERRCODE = 'CD400';
            END IF;
            FOREACH k IN ARRAY ARRAY['id'] || gk LOOP
                IF k::name = ANY (coditect_internal.protected_insert_columns(r.relid)) THEN
                    RAISE EXCEPTION 'resource %: %, a protected column, is computed before the insert of a row with global keys',
                        r.name, k USING ERRCODE = 'CD400';
                END IF;
                IF NOT k = ANY (cols) THEN
                    cols := cols || k;
                    vals := vals || (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a
                                       JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                                      WHERE a.attrelid = r.relid AND a.attname = k);
                    IF vals[cardinality(vals)] IS NULL THEN
                        RAISE EXCEPTION 'resource %: its id has no default', r.name USING ERRCODE = 'CD400';
                    END IF;
                END IF;
            END LOOP;
            pre := format(E'\n    SELECT %s\n      INTO %s\n      FROM jsonb_populate_record(NULL::%s, p_body) p;',
                          (SELECT string_agg(vals[array_position(cols, c)], ', ' ORDER BY o) FROM unnest(ARRAY['id'] || gk) WITH ORDINALITY u(c, o)),
                          (SELECT string_agg(format('v_new.%I', c), ', ' ORDER BY o) FROM unnest(ARRAY['id'] || gk) WITH ORDINALITY u(c, o)),
                          g.tbl)
                || (SELECT string_agg(format(E'\n    PERFORM coditect_internal.global_key_claim(%L, to_jsonb(v_new.%I) #>> ''{}'', v_tenant, v_new.id);',
                                             (SELECT c.relname FROM pg_class c WHERE c.oid = r.relid) || '.' || c, c), '' ORDER BY c)
                      FROM unnest(gk) c);
            SELECT array_agg(CASE WHEN c = 'id' OR c = ANY (gk) THEN format('v_new.%I', c) ELSE vals[o] END ORDER BY o) INTO vals
              FROM unnest(cols) WITH ORDINALITY u(c, o);
            v_decl := v_decl || format(E'\n    v_new %s;', g.tbl);
        END IF;
        IF r.create_global IS NOT NULL THEN
            pre := format(E'\n    PERFORM %s(p_body);', r.create_global::regproc) || pre;
        END IF;
        EXECUTE format($f$
CREATE FUNCTION %1$s_create(%2$sp_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;%12$s
BEGIN
    %3$s
    PERFORM coditect_internal.api_check_fields(p_body, %4$L);
    PERFORM coditect_internal.api_check_values(%5$L, p_body, %4$L);%6$s%13$s
    INSERT INTO %5$s AS t (%7$s)
    SELECT %8$s
      FROM jsonb_populate_record(NULL::%5$s, p_body) p
    RETURNING %11$s%9$s
    RETURN r%10$s;
END
$fn$$f$, g.fn, g.par_arg, coditect_internal.generated_prologue(p_perms ->> 'create', g.rls_tbl),
            ARRAY(SELECT rc.column_name::text FROM coditect_internal.resource_columns rc WHERE rc.resource = r.name AND rc.on_create ORDER BY 1),
            g.tbl, g.par_check,
            array_to_string(ARRAY[quote_ident(r.tenant_column)]
                            || CASE WHEN r.parent IS NULL THEN '{}'::text[] ELSE ARRAY[quote_ident(r.parent_column)] END
                            || ARRAY(SELECT quote_ident(c) FROM unnest(cols) WITH ORDINALITY u(c, o) ORDER BY o), ', '),
            array_to_string(ARRAY['v_tenant']
                            || CASE WHEN r.parent IS NULL THEN '{}'::text[] ELSE ARRAY[format('p_%s_id', r.parent)] END
                            || ARRAY(SELECT E'\n               ' || v FROM unnest(vals) WITH ORDINALITY u(v, o) ORDER BY o), ', '),
            CASE WHEN r.after_create IS NULL THEN ''
                 ELSE format(E'\n    PERFORM %s(r);', (SELECT p.oid::regproc::text FROM pg_proc p WHERE p.oid = r.after_create)) END,
            g.hidden, coditect_internal.generated_answer('', '', '', g.computed), v_decl, pre);
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
    r jsonb;%13$s
BEGIN
    %3$s
    PERFORM coditect_internal.api_check_fields(p_body, %4$L);
    PERFORM coditect_internal.api_check_values(%5$L, p_body);
    %11$s%8$s
    IF p_if_match IS NOT NULL AND NOT coditect_internal.etag_matches(p_if_match, r) THEN
        RAISE EXCEPTION '%9$s changed since it was read (If-Match)' USING ERRCODE = 'CD412';
    END IF;
    IF p_body = '{}' THEN
        RETURN r;
    END IF;
    UPDATE %5$s AS t SET%10$s
      FROM jsonb_populate_record(NULL::%5$s, p_body) p
     WHERE %7$s
    RETURNING %12$s
    RETURN r;
END
$fn$$f$, g.fn, g.par_arg || id_arg, coditect_internal.generated_prologue(p_perms ->> 'update', g.rls_tbl),
            ARRAY(SELECT rc.column_name::text FROM coditect_internal.resource_columns rc WHERE rc.resource = r.name AND rc.on_update ORDER BY 1),
            g.tbl, NULL, g.key_where, missing, 'the ' || g.label, sets,
            coditect_internal.generated_answer('SELECT ', format(' FROM %s t WHERE %s FOR NO KEY UPDATE', g.tbl, g.key_where), g.hidden, g.computed),
            coditect_internal.generated_answer('', '', g.hidden, g.computed), v_decl);
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
    r jsonb;%9$s
BEGIN
    %3$s
    %4$s%7$s
    IF p_if_match IS NOT NULL AND NOT coditect_internal.etag_matches(p_if_match, r) THEN
        RAISE EXCEPTION '%8$s changed since it was read (If-Match)' USING ERRCODE = 'CD412';
    END IF;
    DELETE FROM %5$s AS t WHERE %6$s;
END
$fn$$f$, g.fn, g.par_arg || id_arg, coditect_internal.generated_prologue(p_perms ->> 'delete', g.rls_tbl),
            coditect_internal.generated_answer('SELECT ', format(' FROM %s t WHERE %s FOR UPDATE', g.tbl, g.key_where), g.hidden, g.computed),
            g.tbl, g.key_where, missing, 'the ' || g.label, v_decl);
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
    r jsonb;%10$s
BEGIN
    %3$s%9$s
    UPDATE %4$s AS t SET deleted_at = NULL
     WHERE t.id = p_id AND t.deleted_at IS NOT NULL AND t.%8$I = v_tenant%5$s
    RETURNING %6$s
    IF r IS NULL THEN
        RAISE EXCEPTION 'no deleted %7$s %%', p_id USING ERRCODE = 'CD404';
    END IF;
    RETURN r;
END
$fn$$f$, g.fn, rtrim(g.par_arg || id_arg, ', '), coditect_internal.generated_prologue(p_perms ->> 'restore', g.rls_tbl), g.tbl,
            CASE WHEN r.parent IS NULL THEN '' ELSE format(' AND t.%I = p_%s_id', r.parent_column, r.parent) END,
            coditect_internal.generated_answer('', '', g.hidden, g.computed), g.label, r.tenant_column, g.par_check, v_decl);
        PERFORM coditect_internal.record_operation(r.name, 'restore', 'restore', 'POST', g.item_path || 'restore/',
            format('%s_restore(%s)', g.fn, rtrim(id_sig, ', '))::regprocedure, p_perms ->> 'restore', g.par_param || id_par,
            'row', 200, true, NULL, jsonb_build_object('resource', r.name), 'Restore a deleted ' || g.label);
    END IF;
END
$gen$;

-- The invoker function of an action the catalog writes (register_action p_as): p_wrapper
-- (coditect.<name>) takes p_as's arguments as declared there (names and defaults), calls p_as
-- (owner rights: it checks the permission and does the work, then answers the row's id) and
-- answers that row through p_answers' generated get, under the caller's row-level security. The
-- get is a statement of its own: it is STABLE and would not see p_as's rows within one
-- statement. Created or replaced (regeneration); p_as is granted as the wrapper is.
-- p_as runs in a query on the request's tenant row, so that on Citus it runs on the tenant's node
-- through the caller's own connection, reading and writing the tenant's shards there (local to
-- it, with nested execution allowed for p_as alone): Citus refuses a shard group written over
-- two logins' connections in one transaction (the owner's write, then the caller's get). On one
-- node it is the same call, after one primary-key read. Without a context (or a tenant row in
-- sight) p_as is called as is, to refuse it. p_global, when given, runs first, as the caller, on
-- the node the caller talks to: the action's writes of global tables, which p_as cannot make on
-- a worker (Citus refuses a reference table's write there, and a nested one crashed it at
-- COMMIT PREPARED); p_as then sees them through the same connection.
CREATE FUNCTION coditect_internal.generate_action_wrapper(p_wrapper text, p_as regprocedure, p_answers text,
                                                          p_global regprocedure DEFAULT NULL)
RETURNS regprocedure
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $gen$
DECLARE
    r    coditect_internal.resources;
    p    pg_proc;
    args text;
    fn   regprocedure;
BEGIN
    SELECT * INTO r FROM coditect_internal.resources x WHERE x.name = p_answers;
    IF r.name IS NULL OR r.singleton OR r.parent IS NOT NULL OR NOT r.roles ? 'view' THEN
        RAISE EXCEPTION 'action %: the answered resource "%" must be a top-level resource with a get (view)', p_wrapper, p_answers
            USING ERRCODE = 'CD400';
    END IF;
    SELECT * INTO p FROM pg_proc x WHERE x.oid = p_as;
    IF p.prorettype <> 'uuid'::regtype OR p.proretset OR NOT p.prosecdef THEN
        RAISE EXCEPTION 'action %: % must be SECURITY DEFINER and return the uuid of the row it changed', p_wrapper, p_as
            USING ERRCODE = 'CD400';
    END IF;
    IF p_global IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_proc g WHERE g.oid = p_global AND g.proargtypes = p.proargtypes
           AND g.prorettype = 'void'::regtype AND NOT g.proretset AND NOT g.prosecdef) THEN
        -- (A definer's writes would go over the owner's connection, unseen by p_as on Citus.)
        RAISE EXCEPTION 'action %: % must take the arguments of %, return void and run as the caller (not SECURITY DEFINER)',
            p_wrapper, p_global, p_as USING ERRCODE = 'CD400';
    END IF;
    IF p_wrapper !~ '^coditect\.[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'action %: the function the catalog writes is coditect.<name>', p_wrapper USING ERRCODE = 'CD400';
    END IF;
    SELECT coalesce(string_agg(format('$%s', i), ', ' ORDER BY i), '') INTO args FROM generate_series(1, p.pronargs) i;
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION %1$s(%2$s) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    v_id     uuid;
BEGIN%6$s
    SELECT %3$s(%4$s) INTO v_id FROM coditect.tenants t WHERE t.id = v_tenant;
    IF NOT FOUND THEN
        v_id := %3$s(%4$s);
    END IF;
    RETURN coditect.api_%5$s_get(v_id);
END
$fn$$f$, p_wrapper, pg_get_function_arguments(p_as), p_as::regproc, args, r.plural,
             CASE WHEN p_global IS NOT NULL THEN format(E'\n    PERFORM %s(%s);', p_global::regproc, args) ELSE '' END);
    -- On a Citus worker p_as reads and writes the tenant's shards from inside the shard query.
    EXECUTE format('ALTER FUNCTION %s SET citus.allow_nested_distributed_execution = on', p_as);
    fn := format('%s(%s)', p_wrapper,
                 (SELECT coalesce(string_agg(format_type(t, NULL), ',' ORDER BY i), '')
                    FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i)))::regprocedure;
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', fn,
                   format('Written by the catalog (register_action): %s%s, then the %s it answers.',
                          CASE WHEN p_global IS NOT NULL THEN p_global::text || ', ' ELSE '' END, p_as, replace(r.name, '_', ' ')));
    EXECUTE format('REVOKE ALL ON FUNCTION %s, %s FROM PUBLIC', fn, p_as);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s, %s TO coditect_gateway, coditect_service', fn, p_as);
    IF p_global IS NOT NULL THEN
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p_global);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO coditect_gateway, coditect_service', p_global);
    END IF;
    RETURN fn;
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
    w     coditect_internal.resource_operations;
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
    -- The actions whose functions the catalog writes, as recorded.
    FOR w IN SELECT * FROM coditect_internal.resource_operations x WHERE x.resource = r.name AND x.wraps IS NOT NULL LOOP
        f := coditect_internal.generate_action_wrapper(w.wrapper, w.wraps, w.answers, w.global_part);
        UPDATE coditect_internal.resource_operations x SET function = f, sql = coditect_internal.operation_sql(f, w.result, w.etag)
         WHERE x.resource = w.resource AND x.name = w.name;
    END LOOP;
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
    PERFORM coditect_internal.notify('coditect_catalog', 'reload');
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
    p_example          jsonb DEFAULT NULL,
    p_rls_table        regclass DEFAULT NULL,
    p_also_under       jsonb DEFAULT '{}'
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
    view    boolean;
BEGIN
    SELECT string_agg(c, ', ') INTO bad
      FROM unnest(p_create || p_update || p_hidden || p_orderings || p_search
                  || ARRAY(SELECT jsonb_object_keys(p_filters))) c
     WHERE c <> ALL (cols);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'resource %: % has no column(s) %', p_name, p_table, bad USING ERRCODE = 'CD400';
    END IF;
    -- A view (read-only, e.g. a feed derived from the audit trail) takes no table mechanisms
    -- and names the table whose row-level security scopes it; its columns carry no NOT NULL,
    -- so its orderings are the declaration's word.
    view := (SELECT relkind = 'v' FROM pg_class WHERE oid = p_table);
    IF view AND (p_mechanisms OR p_rls_table IS NULL OR p_roles - 'view' <> '{}') THEN
        RAISE EXCEPTION 'resource %: a view is read-only (p_roles: view only), takes no mechanisms and needs p_rls_table', p_name
            USING ERRCODE = 'CD400';
    END IF;
    SELECT string_agg(a.attname, ', ') INTO bad FROM pg_attribute a
     WHERE a.attrelid = p_table AND a.attname::text = ANY (p_orderings) AND NOT a.attnotnull AND NOT view;
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
    SELECT string_agg(u.key, ', ') INTO bad FROM jsonb_each(p_also_under) u
     WHERE p_parent IS NOT NULL OR jsonb_typeof(u.value) <> 'string'
        OR NOT EXISTS (SELECT 1 FROM coditect_internal.resources x WHERE x.name = u.key)
        OR NOT coalesce(p_filters -> (u.value #>> '{}') ? 'exact', false);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'resource %: also_under % must name a resource and a column with an exact filter (top-level resources only)',
            p_name, bad USING ERRCODE = 'CD400';
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
         default_ordering, page_size, keyset_default, state_machine, after_create, tenant_column, roles, example,
         rls_relid, also_under)
    VALUES (p_name, plural, p_table, path, p_parent, p_parent_column, p_singleton, 'deleted_at' = ANY (cols),
            p_search, p_orderings, p_default_ordering, p_page_size, p_keyset, p_state_machine, p_after_create,
            p_tenant_column, p_roles, p_example, p_rls_table, p_also_under);
    INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update, filter_ops)
    SELECT p_name, c, c <> ALL (p_hidden), c = ANY (p_create), c = ANY (p_update),
           coalesce(ARRAY(SELECT jsonb_array_elements_text(p_filters -> c)), '{}')
      FROM unnest(cols) c;

    FOR verb IN SELECT jsonb_object_keys(p_roles) LOOP
        PERFORM coditect_internal.declare_permission(p_name || '.' || verb,
            initcap(verb) || ' ' || replace(plural, '_', ' '), p_roles ->> verb);
    END LOOP;
    PERFORM coditect_internal.generate_resource_functions(p_name);
    PERFORM coditect_internal.notify('coditect_catalog', 'reload');
END
$$;

-- Declares a custom action of a resource: a stored function and where each of its arguments
-- comes from (params: [{"from": "body_field", "name": "key_string", "required": true}, ...],
-- see README "Resource catalog"). p_min_role creates the permission <resource>.<name>;
-- p_permission names an existing one. The function checks it itself.
--
-- An action that changes a row and answers it: give p_as, the SECURITY DEFINER function that
-- checks the permission, does the work and returns the row's id, and p_answers, the resource
-- whose row is answered (default p_resource; top-level, with a get). The catalog then writes
-- p_function itself (coditect.<name>, or coditect.<name>(types) which must be p_as's argument
-- types): an invoker function taking p_as's arguments as declared there (names and defaults),
-- answering coditect.api_<plural>_get(id) under the caller's row-level security, granted with
-- p_as to the gateway and services, and recorded so that regenerate_resources() writes it again.
-- p_secret: the answer holds a secret shown once (never kept, not even by Idempotency-Key).
-- p_global (with p_as): the action's writes of global tables, an invoker function taking p_as's
-- arguments, run first (generate_action_wrapper says why).
CREATE FUNCTION coditect_internal.register_action(
    p_resource   text,
    p_name       text,
    p_function   text,
    p_method     text,
    p_path       text,
    p_params     jsonb DEFAULT '[]',
    p_permission text DEFAULT NULL,
    p_min_role   text DEFAULT NULL,
    p_response   jsonb DEFAULT NULL,
    p_status     int DEFAULT 200,
    p_auth       text DEFAULT 'bearer',
    p_summary    text DEFAULT NULL,
    p_writes     boolean DEFAULT false,
    p_as         regprocedure DEFAULT NULL,
    p_answers    text DEFAULT NULL,
    p_secret     boolean DEFAULT false,
    p_global     regprocedure DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    perm      text := p_permission;
    res       text;
    fn        regprocedure;
    v_wrapper text := split_part(p_function, '(', 1);
BEGIN
    IF p_min_role IS NOT NULL THEN
        perm := p_resource || '.' || p_name;
        PERFORM coditect_internal.declare_permission(perm, initcap(replace(p_name, '_', ' ')) || ' ' || p_resource, p_min_role);
    END IF;
    IF p_as IS NULL THEN
        IF p_answers IS NOT NULL OR p_global IS NOT NULL THEN
            RAISE EXCEPTION 'action %.%: p_answers and p_global go with p_as', p_resource, p_name USING ERRCODE = 'CD400';
        END IF;
        fn := p_function::regprocedure;
    ELSE
        fn := coditect_internal.generate_action_wrapper(v_wrapper, p_as, coalesce(p_answers, p_resource), p_global);
        IF p_function LIKE '%(%' AND to_regprocedure(p_function) IS DISTINCT FROM fn THEN
            RAISE EXCEPTION 'action %.%: % is not the function written for % (%)', p_resource, p_name, p_function, p_as, fn
                USING ERRCODE = 'CD400';
        END IF;
    END IF;
    SELECT CASE WHEN p.prorettype = 'void'::regtype THEN 'void' ELSE 'json' END INTO res
      FROM pg_proc p WHERE p.oid = fn;
    PERFORM coditect_internal.record_operation(p_resource, p_name, 'action', p_method, p_path, fn, perm,
        p_params, res, CASE WHEN res = 'void' THEN 204 ELSE p_status END, false, NULL,
        coalesce(p_response, CASE WHEN p_as IS NOT NULL THEN jsonb_build_object('resource', coalesce(p_answers, p_resource)) END),
        coalesce(p_summary, initcap(replace(p_name, '_', ' '))), p_auth, p_writes);
    UPDATE coditect_internal.resource_operations o
       SET wraps = p_as, answers = CASE WHEN p_as IS NOT NULL THEN coalesce(p_answers, p_resource) END,
           wrapper = CASE WHEN p_as IS NOT NULL THEN v_wrapper END, secret = p_secret, global_part = p_global
     WHERE o.resource = p_resource AND o.name = p_name;
    PERFORM coditect_internal.notify('coditect_catalog', 'reload');
END
$$;

-- Declares a computed field of a resource: p_function(row of the table), answered in every row
-- of the resource as p_name (read-only; in ETags too). E.g. a project's tasks_count.
CREATE FUNCTION coditect_internal.register_computed_field(p_resource text, p_name name, p_function regprocedure)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r coditect_internal.resources;
BEGIN
    SELECT * INTO STRICT r FROM coditect_internal.resources WHERE name = p_resource;
    IF NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_class c ON c.oid = r.relid
                    WHERE p.oid = p_function AND p.pronargs = 1 AND p.proargtypes[0] = c.reltype
                      AND NOT p.proretset AND p.provolatile <> 'v') THEN
        RAISE EXCEPTION 'computed field %.%: % must take one % row and return one value (STABLE)',
            p_resource, p_name, p_function, r.relid USING ERRCODE = 'CD400';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = r.relid AND attname = p_name AND NOT attisdropped) THEN
        RAISE EXCEPTION 'computed field %.%: the table has a column of that name', p_resource, p_name USING ERRCODE = 'CD400';
    END IF;
    INSERT INTO coditect_internal.resource_computed (resource, name, function) VALUES (p_resource, p_name, p_function);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p_function);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO coditect_gateway, coditect_service, coditect_analyst', p_function);
    PERFORM coditect_internal.generate_resource_functions(p_resource);
    PERFORM coditect_internal.notify('coditect_catalog', 'reload');
END
$$;

-- Names p_function in the resource's column p_column (a hook the generator calls), then
-- regenerates its functions: register_get_hook and register_create_global.
CREATE FUNCTION coditect_internal.set_resource_hook(p_resource text, p_column name, p_function regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int;
BEGIN
    EXECUTE format('UPDATE coditect_internal.resources SET %I = $1 WHERE name = $2', p_column) USING p_function, p_resource;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'unknown resource "%"', p_resource USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.generate_resource_functions(p_resource);
    PERFORM coditect_internal.notify('coditect_catalog', 'reload');
END
$$;

-- Declares a read hook of a resource: p_function(id) is called by the resource's get once the
-- row is found (under the caller's row-level security), e.g. to record a document's "viewed".
-- The get is then VOLATILE and its operation is published with "writes": the gateway runs it
-- in a read-write transaction although it is a GET.
CREATE FUNCTION coditect_internal.register_get_hook(p_resource text, p_function regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = p_function AND p.pronargs = 1
                      AND p.proargtypes[0] = 'uuid'::regtype AND p.prorettype = 'void'::regtype AND NOT p.proretset) THEN
        RAISE EXCEPTION 'get hook of %: % must take the row''s id (uuid) and return void', p_resource, p_function
            USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.set_resource_hook(p_resource, 'after_get', p_function);
END
$$;

-- Declares the global part of a resource's create (as register_action's p_global is an
-- action's): p_function(body jsonb), an invoker function returning void, is called by the
-- generated create after its checks, before it writes, as the caller. On Citus the row is
-- written on the tenant's worker, where a global table cannot be written: such writes (claims
-- of license keys a trigger will take) go here, on the coordinator, over the caller's
-- connection, which then writes the row.
CREATE FUNCTION coditect_internal.register_create_global(p_resource text, p_function regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = p_function AND p.pronargs = 1 AND p.proargtypes[0] = 'jsonb'::regtype
                      AND p.prorettype = 'void'::regtype AND NOT p.proretset AND NOT p.prosecdef) THEN
        RAISE EXCEPTION 'create''s global part of %: % must take the body (jsonb), return void and run as the caller',
            p_resource, p_function USING ERRCODE = 'CD400';
    END IF;
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p_function);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO coditect_gateway, coditect_service', p_function);
    PERFORM coditect_internal.set_resource_hook(p_resource, 'create_global', p_function);
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
    -- A row type is an object: a resource's row, or one of our composite types (nested answers).
    IF t.typtype = 'c' THEN
        RETURN coalesce((SELECT jsonb_build_object('json_type', 'object', 'resource', r.name)
                           FROM coditect_internal.resources r WHERE r.relid = t.typrelid),
                        CASE WHEN t.typnamespace = 'coditect'::regnamespace
                              AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'
                             THEN jsonb_build_object('json_type', 'object', 'composite', t.typname) END,
                        '{"json_type": "object"}');
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

-- The registered schemas, each answered by its function: {name: schema}.
CREATE FUNCTION coditect_internal.api_schemas_json() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s   record;
    doc jsonb;
    out jsonb := '{}';
BEGIN
    FOR s IN SELECT a.name, a.function FROM coditect_internal.api_schemas a ORDER BY a.name LOOP
        EXECUTE format('SELECT %s()', s.function::regproc) INTO doc;
        out := out || jsonb_build_object(s.name, doc);
    END LOOP;
    RETURN out;
END
$$;

-- Declares a JSON Schema the API publishes (p_function() answers it; no arguments).
CREATE FUNCTION coditect_internal.register_api_schema(p_name text, p_function regprocedure) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect_internal.api_schemas (name, function) VALUES (p_name, p_function);
    SELECT coditect_internal.notify('coditect_catalog', 'reload');
$$;

CREATE FUNCTION coditect.api_catalog() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'version', (SELECT extversion FROM pg_extension WHERE extname = 'coditect'),
        'schemas', coditect_internal.api_schemas_json(),
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
                             WHERE rc.resource = r.name)
                           || (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                          'name', c.name, 'nullable', false, 'description', obj_description(p.oid, 'pg_proc'),
                                          'has_default', false, 'json_type', NULL, 'format', NULL, 'max_length', NULL,
                                          'enum_type', NULL, 'items', NULL)
                                      || coditect_internal.json_type_of(p.prorettype, -1)
                                      || '{"read": true, "create": false, "update": false, "required": false, "computed": true}'
                                      ORDER BY c.name), '[]')
                                 FROM coditect_internal.resource_computed c JOIN pg_proc p ON p.oid = c.function
                                WHERE c.resource = r.name),
                'filters', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                       'name', CASE x.op WHEN 'exact' THEN rc.column_name::text ELSE rc.column_name || '__' || x.op END,
                                       'column', rc.column_name, 'op', x.op)
                                   ORDER BY a.attnum, array_position('{exact,in,isnull,gt,gte,lt,lte,contains}'::text[], x.op)), '[]')
                              FROM coditect_internal.resource_columns rc
                              JOIN pg_attribute a ON a.attrelid = r.relid AND a.attname = rc.column_name
                             CROSS JOIN LATERAL unnest(rc.filter_ops) x(op)
                             WHERE rc.resource = r.name),
                'orderings', to_jsonb(r.orderings), 'default_ordering', r.default_ordering,
                'search', cardinality(r.search) > 0,
                'page_size', r.page_size, 'max_page_size', r.max_page_size, 'keyset_default', r.keyset_default,
                'example', r.example,
                -- Rows seen by grants beyond the tenant (its policy narrowed): who sees a row depends on it.
                'row_access', coditect_internal.tenant_rows_narrowed(coalesce(r.rls_relid, r.relid)))
                ORDER BY r.name), '[]')
              FROM coditect_internal.resources r),
        'operations', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'operation_id', r.plural || '_' || o.name, 'resource', o.resource,
                'kind', CASE WHEN o.kind = 'restore' THEN 'action' ELSE o.kind END,
                'method', o.method, 'path', o.path, 'summary', o.summary, 'auth', o.auth,
                'permission', o.permission, 'sql', o.sql, 'params', o.params, 'result', o.result,
                'status', o.status, 'etag', o.etag, 'writes', o.writes, 'secret', o.secret,
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
    coditect_internal.catalog_attribute(oid, int), coditect_internal.api_schemas_json() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.api_catalog(), coditect_internal.json_type_of(oid, int),
    coditect_internal.catalog_attribute(oid, int), coditect_internal.api_schemas_json() TO coditect_gateway, coditect_service;

-- coditect 0.2.0 -> 0.3.0: the rest of project management (issue 9): the task activity feed, boards
-- and the board view, a project's tasks_count, /projects/{id}/tasks/, tags__contains; and what
-- the catalog gained for them: computed fields, lists under another collection (also_under),
-- read-only view resources, the contains filter, typed nested answers; a page size left out is
-- the resource's default; file storage, documents, shares and document activity, task
-- attachments (issue 10: sections 5 to 8), with what the catalog gained for them (GETs that
-- write, get hooks); the tamper-evident audit trail (issue 11, item 10: hourly seals, section 9,
-- and their job); the validator of workflow definitions and their JSON Schema (section 10).
\echo Use "ALTER EXTENSION coditect UPDATE TO '0.3.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- 1. The catalog (as in sql/06_catalog.sql)
------------------------------------------------------------------------------------------------

ALTER TABLE coditect_internal.resources
    ADD COLUMN rls_relid regclass,
    ADD COLUMN also_under jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN after_get regprocedure;
ALTER TABLE coditect_internal.resource_operations ADD COLUMN writes boolean NOT NULL DEFAULT false;
ALTER TABLE coditect_internal.resource_columns
    DROP CONSTRAINT resource_columns_filter_ops_check,
    ADD CONSTRAINT resource_columns_filter_ops_check CHECK (filter_ops <@ '{exact,in,isnull,gt,gte,lt,lte,contains}');

-- Computed fields: f(row) added to every answer of the resource, e.g. a project's tasks_count.
CREATE TABLE coditect_internal.resource_computed (
    resource text NOT NULL REFERENCES coditect_internal.resources (name) ON DELETE CASCADE,
    name     name NOT NULL,
    function regprocedure NOT NULL,
    PRIMARY KEY (resource, name)
);

REVOKE ALL ON coditect_internal.resources, coditect_internal.resource_columns,
    coditect_internal.resource_operations, coditect_internal.resource_computed FROM PUBLIC;
GRANT SELECT ON coditect_internal.resources, coditect_internal.resource_columns,
    coditect_internal.resource_operations, coditect_internal.resource_computed TO coditect_gateway, coditect_service;

ALTER TYPE coditect_internal.resource_code
    ADD ATTRIBUTE rls_tbl text,
    ADD ATTRIBUTE computed text,
    ADD ATTRIBUTE computed_cols text;

CREATE OR REPLACE FUNCTION coditect_internal.resource_code(r coditect_internal.resources) RETURNS coditect_internal.resource_code
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
    g.rls_tbl := coalesce(r.rls_relid, r.relid)::text;
    SELECT coalesce(string_agg(format(' || jsonb_build_object(%L, %s(t))', c.name, c.function::regproc), '' ORDER BY c.name), ''),
           coalesce(string_agg(format(', %s(t) AS %I', c.function::regproc, c.name), '' ORDER BY c.name), '')
      INTO g.computed, g.computed_cols
      FROM coditect_internal.resource_computed c WHERE c.resource = r.name;
    RETURN g;
END
$$;


-- The list function: filters become typed variables; one static statement per ordering key
-- and direction, for a first page and for the page after a cursor; one statement for
-- orderings by several keys (page pagination only).
CREATE OR REPLACE FUNCTION coditect_internal.generate_list(r coditect_internal.resources, g coditect_internal.resource_code,
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
                CASE WHEN dir = 'DESC' THEN '<' ELSE '>' END, 'c_' || o, g.computed_cols);
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
            SELECT t.*%21$s FROM %14$s t
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
        coditect_internal.generated_prologue(p_permission, g.rls_tbl),
        names, r.orderings, r.default_ordering, r.max_page_size, g.par_check, assign,
        cursors, g.tbl, preds, branches, multi,
        CASE WHEN g.hidden = '' THEN 'rows'
             ELSE format('(SELECT coalesce(jsonb_agg(e%s ORDER BY n), ''[]'') FROM jsonb_array_elements(rows) WITH ORDINALITY x(e, n))', g.hidden) END,
        g.scope, nosearch, g.computed_cols);

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


-- get, create, update, delete and restore: one row each, by id (and parent), live rows only.
CREATE OR REPLACE FUNCTION coditect_internal.generate_row_functions(r coditect_internal.resources, g coditect_internal.resource_code,
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
LANGUAGE plpgsql %8$s SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $fn$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    r jsonb;
BEGIN
    %3$s
    SELECT to_jsonb(t)%4$s INTO r FROM %5$s t WHERE %6$s;%7$s%9$s
    RETURN r;
END
$fn$$f$, g.fn, rtrim(g.par_arg || id_arg, ', '), coditect_internal.generated_prologue(p_perms ->> 'view', g.rls_tbl),
            g.hidden || g.computed, g.tbl, g.key_where, missing,
            CASE WHEN r.after_get IS NULL THEN 'STABLE' ELSE 'VOLATILE' END,
            CASE WHEN r.after_get IS NULL THEN ''
                 ELSE format(E'\n    PERFORM %s((r ->> ''id'')::uuid);', (SELECT p.oid::regproc::text FROM pg_proc p WHERE p.oid = r.after_get)) END);
        PERFORM coditect_internal.record_operation(r.name, 'get', 'get', 'GET', g.item_path,
            format('%s_get(%s)', g.fn, rtrim(id_sig, ', '))::regprocedure, p_perms ->> 'view', g.par_param || id_par,
            'row', 200, true, NULL, jsonb_build_object('resource', r.name), 'Get ' || article || g.label
            || CASE WHEN r.after_get IS NULL THEN '' ELSE ' (recorded as read)' END, 'bearer', r.after_get IS NOT NULL);
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
    RETURNING to_jsonb(t)%11$s INTO r;%9$s
    RETURN r%10$s;
END
$fn$$f$, g.fn, g.par_arg, coditect_internal.generated_prologue(p_perms ->> 'create', g.rls_tbl),
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
            g.hidden, g.computed);
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
$fn$$f$, g.fn, g.par_arg || id_arg, coditect_internal.generated_prologue(p_perms ->> 'update', g.rls_tbl),
            ARRAY(SELECT rc.column_name::text FROM coditect_internal.resource_columns rc WHERE rc.resource = r.name AND rc.on_update ORDER BY 1),
            g.tbl, g.hidden || g.computed, g.key_where, missing, 'the ' || g.label, sets);
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
$fn$$f$, g.fn, g.par_arg || id_arg, coditect_internal.generated_prologue(p_perms ->> 'delete', g.rls_tbl),
            g.hidden || g.computed, g.tbl, g.key_where, missing, 'the ' || g.label);
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
$fn$$f$, g.fn, rtrim(g.par_arg || id_arg, ', '), coditect_internal.generated_prologue(p_perms ->> 'restore', g.rls_tbl), g.tbl,
            CASE WHEN r.parent IS NULL THEN '' ELSE format(' AND t.%I = p_%s_id', r.parent_column, r.parent) END,
            g.hidden || g.computed, g.label, r.tenant_column, g.par_check);
        PERFORM coditect_internal.record_operation(r.name, 'restore', 'restore', 'POST', g.item_path || 'restore/',
            format('%s_restore(%s)', g.fn, rtrim(id_sig, ', '))::regprocedure, p_perms ->> 'restore', g.par_param || id_par,
            'row', 200, true, NULL, jsonb_build_object('resource', r.name), 'Restore a deleted ' || g.label);
    END IF;
END
$gen$;


-- JSON Schema facts of a type: json_type, format, max_length, enum_type, items.
CREATE OR REPLACE FUNCTION coditect_internal.json_type_of(p_type oid, p_typmod int) RETURNS jsonb
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


-- JSON Schemas the API publishes beside the resources' (OpenAPI components): a name and the
-- function that answers the schema (its one source), e.g. WorkflowDefinition.
CREATE TABLE coditect_internal.api_schemas (
    name     text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Za-z0-9]*$'),
    function regprocedure NOT NULL
);

REVOKE ALL ON coditect_internal.api_schemas FROM PUBLIC;
GRANT SELECT ON coditect_internal.api_schemas TO coditect_gateway, coditect_service;

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
    SELECT pg_notify('coditect_catalog', 'reload');
$$;

CREATE OR REPLACE FUNCTION coditect.api_catalog() RETURNS jsonb
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
                -- Rows seen by grants beyond the tenant (a restrictive policy): who sees a row depends on it.
                'row_access', EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = coalesce(r.rls_relid, r.relid) AND NOT p.polpermissive))
                ORDER BY r.name), '[]')
              FROM coditect_internal.resources r),
        'operations', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'operation_id', r.plural || '_' || o.name, 'resource', o.resource,
                'kind', CASE WHEN o.kind = 'restore' THEN 'action' ELSE o.kind END,
                'method', o.method, 'path', o.path, 'summary', o.summary, 'auth', o.auth,
                'permission', o.permission, 'sql', o.sql, 'params', o.params, 'result', o.result,
                'status', o.status, 'etag', o.etag, 'writes', o.writes,
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

DROP FUNCTION coditect_internal.register_resource(regclass, text, jsonb, text[], text[], text[], jsonb, text[], text, text[], text,
    text, text, name, boolean, integer, boolean, text, regprocedure, text[], text[], name, boolean, boolean, jsonb);
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
    PERFORM pg_notify('coditect_catalog', 'reload');
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
    PERFORM pg_notify('coditect_catalog', 'reload');
END
$$;


-- Operations that write although they are GETs (resource_operations.writes) and get hooks.
DROP FUNCTION coditect_internal.record_operation(text, text, text, text, text, regprocedure, text, jsonb, text, integer, boolean,
    jsonb, jsonb, text, text);
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

DROP FUNCTION coditect_internal.register_action(text, text, regprocedure, text, text, jsonb, text, text, jsonb, integer, text, text);
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
    p_summary    text DEFAULT NULL,
    p_writes     boolean DEFAULT false
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
        coalesce(p_summary, initcap(replace(p_name, '_', ' '))), p_auth, p_writes);
    PERFORM pg_notify('coditect_catalog', 'reload');
END
$$;

CREATE FUNCTION coditect_internal.register_get_hook(p_resource text, p_function regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = p_function AND p.pronargs = 1
                      AND p.proargtypes[0] = 'uuid'::regtype AND p.prorettype = 'void'::regtype AND NOT p.proretset) THEN
        RAISE EXCEPTION 'get hook of %: % must take the row''s id (uuid) and return void', p_resource, p_function
            USING ERRCODE = 'CD400';
    END IF;
    UPDATE coditect_internal.resources SET after_get = p_function WHERE name = p_resource;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown resource "%"', p_resource USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.generate_resource_functions(p_resource);
    PERFORM pg_notify('coditect_catalog', 'reload');
END
$$;

------------------------------------------------------------------------------------------------
-- 2. Declarations that change (as in sql/30_pm.sql); every generated function made again
------------------------------------------------------------------------------------------------

DROP INDEX coditect.tasks_project_status_idx;
-- A project's tasks of a status, newest first (the board's and the list's common call): the page
-- is read in index order and the count needs no sort; the seeds' (project, status) is its prefix.
CREATE INDEX tasks_project_status_idx ON coditect.tasks (tenant_id, project_id, status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
UPDATE coditect_internal.resources SET also_under = '{"project": "project_id"}' WHERE name = 'task';
UPDATE coditect_internal.resource_columns SET filter_ops = '{contains}' WHERE resource = 'task' AND column_name = 'tags';

-- Detail answers of projects carry tasks_count (the seeds' frontend contract): the live tasks,
-- subtasks and cancelled ones included, counted under the caller's row-level security.
CREATE FUNCTION coditect_internal.project_tasks_count(p coditect.projects) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM coditect.tasks t
     WHERE t.tenant_id OPERATOR(pg_catalog.=) p.tenant_id AND t.project_id OPERATOR(pg_catalog.=) p.id
       AND t.deleted_at IS NULL
$$;
COMMENT ON FUNCTION coditect_internal.project_tasks_count(coditect.projects) IS
    'The project''s live tasks (subtasks and cancelled ones included).';
SELECT coditect_internal.register_computed_field('project', 'tasks_count',
    'coditect_internal.project_tasks_count(coditect.projects)');
-- Every generated function again: lists take the resource's page size when none is given, the
-- task list is also under its project.
SELECT coditect_internal.regenerate_resources();

-- The one guard of append-only tables names the table it guards (as in sql/10_audit.sql).
CREATE OR REPLACE FUNCTION coditect_internal.reject_audit_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', coalesce(TG_ARGV[0], 'coditect.audit_logs'), TG_OP
        USING ERRCODE = 'CD403';
END
$$;

-- Maintenance releases the partitions CREATE EXTENSION made before dropping them past retention
-- (as in sql/10_audit.sql).
-- For a scheduler: makes the coming months' partitions, drops those past retention, and
-- protects new partitions against UPDATE / DELETE / TRUNCATE. pg_partman sets search_path with
-- session scope to the value it found on entry, and a session-scope SET outlives a function's
-- SET clause. So the owner-rights half runs with the pinned path (which pg_partman then finds
-- and keeps), and gives the caller's path, passed in by this invoker-rights wrapper, back.
CREATE OR REPLACE FUNCTION coditect_internal.audit_maintenance_as_owner(p_caller_search_path text) RETURNS void
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

-- The maintenance schedule gains the purge of abandoned uploads, the audit seals and the purge
-- of remembered tokens (as in sql/85_maintenance.sql).
-- The jobs, in one place: name, cron schedule (GMT), command. Sessions turn zombie 6 minutes
-- after their last heartbeat, so reaping every minute frees a seat at most a minute late. The
-- audit seal job closes each UTC hour of the audit trail soon after it (and its margin) ended;
-- a run with nothing to seal reads no audit row. Approvals expire within a minute of their deadline;
-- carts are marked expired within five minutes of theirs (they read as expired at once). Claims
-- of global keys their rows no longer carry (Citus, direct SQL writers) last at most an hour.
CREATE OR REPLACE FUNCTION coditect.maintenance_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    VALUES ('coditect-reap-zombies', '* * * * *', 'SELECT coditect.reap_zombie_sessions()'),
           ('coditect-audit-maintenance', '7 * * * *', 'SELECT coditect.audit_maintenance()'),
           ('coditect-purge-license-sessions', '30 3 * * *', 'SELECT coditect.purge_ended_license_sessions()'),
           ('coditect-purge-upload-sessions', '45 3 * * *', 'SELECT coditect.purge_upload_sessions()'),
           ('coditect-audit-seal', '*/10 * * * *', 'SELECT coditect.audit_seal()'),
           ('coditect-workflow-expiry', '* * * * *', 'SELECT coditect.workflow_expire_approvals()'),
           ('coditect-purge-token-logins', '15 * * * *', 'SELECT coditect.purge_token_logins()'),
           ('coditect-purge-webhook-deliveries', '15 4 * * *', 'SELECT coditect.purge_webhook_deliveries()'),
           ('coditect-purge-idempotency-keys', '25 * * * *', 'SELECT coditect.purge_idempotency_keys()'),
           ('coditect-subscriptions', '*/5 * * * *', 'SELECT coditect.subscription_maintenance()'),
           ('coditect-expire-carts', '*/5 * * * *', 'SELECT coditect.expire_carts()'),
           ('coditect-reap-global-keys', '50 * * * *', 'SELECT coditect.reap_global_keys()')
$$;

------------------------------------------------------------------------------------------------
-- 3. The task activity feed (as in sql/34_task_activity.sql)
------------------------------------------------------------------------------------------------

-- 34_task_activity: each task's activity feed (issue 9), derived from the audit trail. A change is
-- recorded once, by the one audit trigger; the feed is a read of it (security-invoker view, so
-- the audit trail's and the tasks' row-level security apply to every reader, analysts included).
-- An update gives one entry per changed field; comments appear as their own entries.

CREATE TYPE coditect.task_activity_action AS ENUM (
    'created', 'updated', 'status_changed', 'assigned', 'unassigned', 'deleted', 'restored',
    'commented', 'comment_edited', 'comment_deleted', 'comment_restored');
COMMENT ON TYPE coditect.task_activity_action IS
    'What happened to a task: its own changes (one entry per changed field of an update), and its comments.';

CREATE VIEW coditect.task_activity WITH (security_invoker = true) AS
-- The task's own changes. Fields the transition stamps (started_at, completed_at) and
-- updated_at follow from the entries they come with and are left out.
SELECT CASE WHEN f.field IS NULL THEN a.id ELSE md5(a.id::text || '/' || f.field)::uuid END AS id,
       a.tenant_id,
       t.id AS task_id,
       a.user_id,
       (CASE a.action
            WHEN 'task.create' THEN 'created'
            WHEN 'task.delete' THEN 'deleted'
            WHEN 'task.restore' THEN 'restored'
            ELSE CASE f.field
                     WHEN 'status' THEN 'status_changed'
                     WHEN 'assignee_id' THEN CASE WHEN f.change -> 1 = 'null' THEN 'unassigned' ELSE 'assigned' END
                     ELSE 'updated' END
        END)::coditect.task_activity_action AS action,
       f.field::varchar(100) AS field_changed,
       f.change -> 0 AS old_value,
       f.change -> 1 AS new_value,
       NULL::uuid AS comment_id,
       a.created_at
  FROM coditect.tasks t
  JOIN coditect.audit_logs a
    ON a.tenant_id = t.tenant_id AND a.resource_type = 'Task' AND a.resource_id = t.id::text
 CROSS JOIN LATERAL (
       SELECT NULL::text AS field, NULL::jsonb AS change
        WHERE a.action IN ('task.create', 'task.delete', 'task.restore')
       UNION ALL
       SELECT e.key, e.value FROM jsonb_each(a.changes) e
        WHERE a.action = 'task.update' AND e.key NOT IN ('updated_at', 'started_at', 'completed_at')) f
UNION ALL
-- Its comments. A comment that is deleted now shows no content anywhere in the feed.
SELECT a.id,
       a.tenant_id,
       c.task_id,
       a.user_id,
       (CASE a.action
            WHEN 'task_comment.create' THEN 'commented'
            WHEN 'task_comment.update' THEN 'comment_edited'
            WHEN 'task_comment.delete' THEN 'comment_deleted'
            ELSE 'comment_restored'
        END)::coditect.task_activity_action,
       CASE WHEN a.action = 'task_comment.update' THEN 'content' END::varchar(100),
       CASE WHEN c.deleted_at IS NULL THEN a.changes #> '{content,0}' END,
       CASE WHEN c.deleted_at IS NULL THEN a.changes #> '{content,1}' END,
       c.id,
       a.created_at
  FROM coditect.task_comments c
  JOIN coditect.audit_logs a
    ON a.tenant_id = c.tenant_id AND a.resource_type = 'TaskComment' AND a.resource_id = c.id::text
 WHERE a.action IN ('task_comment.create', 'task_comment.delete', 'task_comment.restore')
    OR (a.action = 'task_comment.update' AND a.changes ? 'content');

COMMENT ON VIEW coditect.task_activity IS
    'A task''s activity feed, newest first: its changes (one entry per field) and its comments, read from the audit trail.';
COMMENT ON COLUMN coditect.task_activity.id IS
    'The audit row''s id; for one field of an update, a UUID derived from it and the field.';
COMMENT ON COLUMN coditect.task_activity.user_id IS 'Who made the change (null: no request context, e.g. a DBA).';
COMMENT ON COLUMN coditect.task_activity.field_changed IS 'The field an update changed; null for other actions.';
COMMENT ON COLUMN coditect.task_activity.old_value IS 'The field''s value before (JSON); a comment''s content before an edit.';
COMMENT ON COLUMN coditect.task_activity.new_value IS 'The field''s value after (JSON); a comment''s content.';
COMMENT ON COLUMN coditect.task_activity.comment_id IS 'The comment of a comment entry.';
REVOKE ALL ON coditect.task_activity FROM PUBLIC;
GRANT SELECT ON coditect.task_activity TO coditect_gateway, coditect_service, coditect_analyst;

-- Readable by whoever reads the task, newest first in keyset pages.
SELECT coditect_internal.register_resource('coditect.task_activity', 'task_activity', p_mechanisms => false,
    p_plural => 'task_activity', p_parent => 'task', p_parent_column => 'task_id',
    p_path => '/api/v1/tasks/{task_id}/activity/', p_roles => '{"view": "guest"}',
    p_rls_table => 'coditect.audit_logs',
    p_filters => '{"user_id": ["exact"], "action": ["exact", "in"], "field_changed": ["exact", "in"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}', p_page_size => 50, p_keyset => true);

------------------------------------------------------------------------------------------------
-- 4. Boards (as in sql/36_boards.sql)
------------------------------------------------------------------------------------------------

-- 36_boards: boards of a project (issue 9) and the board view: the project's tasks grouped by the
-- board's columns. A board is a saved way of looking at tasks, so it has no soft delete (the
-- seeds give it none); admins manage boards, whoever reads tasks reads them.

CREATE TYPE coditect.board_type AS ENUM ('kanban', 'scrum', 'custom');
COMMENT ON TYPE coditect.board_type IS
    'kanban and custom boards show all the project''s tasks; scrum boards the tasks of its active sprint.';

-- The rules of a board's columns, for every writer: 1 to 20 objects {id, name, status_mapping,
-- position} and nothing else; id 1-64 of [A-Za-z0-9_-] and unique; name not blank, at most 100
-- characters; status_mapping one or more task statuses, each status in at most one column of
-- the board (a task shows once); position an integer >= 0, unique. Raises the first problem
-- (CD400 for the shape, CD422 for a clash), so the CHECK that calls it words its refusal.
CREATE FUNCTION coditect_internal.check_board_columns(p_columns jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col      jsonb;
    n        int := 0;
    bad      text;
    ids      text[] := '{}';
    places   int[] := '{}';
    statuses text[] := '{}';
    st       text;
BEGIN
    IF jsonb_typeof(p_columns) IS DISTINCT FROM 'array' OR jsonb_array_length(p_columns) NOT BETWEEN 1 AND 20 THEN
        RAISE EXCEPTION 'board columns must be a JSON array of 1 to 20 columns' USING ERRCODE = 'CD400';
    END IF;
    FOR col IN SELECT value FROM jsonb_array_elements(p_columns) LOOP
        n := n + 1;
        IF jsonb_typeof(col) <> 'object' THEN
            RAISE EXCEPTION 'board column %: must be an object {id, name, status_mapping, position}', n USING ERRCODE = 'CD400';
        END IF;
        SELECT string_agg(k, ', ' ORDER BY k) INTO bad FROM jsonb_object_keys(col) k
         WHERE k NOT IN ('id', 'name', 'status_mapping', 'position');
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'board column %: unknown field(s) % (fields: id, name, status_mapping, position)', n, bad
                USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'id') IS DISTINCT FROM 'string' OR col ->> 'id' !~ '^[A-Za-z0-9_-]{1,64}$' THEN
            RAISE EXCEPTION 'board column %: id must be 1 to 64 of A-Z a-z 0-9 _ -', n USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'name') IS DISTINCT FROM 'string' OR col ->> 'name' !~ '\S'
           OR char_length(col ->> 'name') > 100 THEN
            RAISE EXCEPTION 'board column %: name must be a non-blank string of at most 100 characters', n USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'position') IS DISTINCT FROM 'number' OR (col ->> 'position') !~ '^[0-9]{1,6}$' THEN
            RAISE EXCEPTION 'board column %: position must be an integer from 0 to 999999', n USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'status_mapping') IS DISTINCT FROM 'array' OR jsonb_array_length(col -> 'status_mapping') = 0 THEN
            RAISE EXCEPTION 'board column %: status_mapping must be a non-empty array of task statuses', n USING ERRCODE = 'CD400';
        END IF;
        FOR st IN SELECT value #>> '{}' FROM jsonb_array_elements(col -> 'status_mapping') LOOP
            IF st IS NULL OR st <> ALL (enum_range(NULL::coditect.task_status)::text[]) THEN
                RAISE EXCEPTION 'board column %: "%" is not a task status (%)', n, coalesce(st, 'null'),
                    array_to_string(enum_range(NULL::coditect.task_status)::text[], ', ') USING ERRCODE = 'CD400';
            END IF;
            IF st = ANY (statuses) THEN
                RAISE EXCEPTION 'board column %: status "%" is already mapped to another column', n, st USING ERRCODE = 'CD422';
            END IF;
            statuses := statuses || st;
        END LOOP;
        IF col ->> 'id' = ANY (ids) THEN
            RAISE EXCEPTION 'board column %: id "%" is used twice', n, col ->> 'id' USING ERRCODE = 'CD422';
        END IF;
        IF (col ->> 'position')::int = ANY (places) THEN
            RAISE EXCEPTION 'board column %: position % is used twice', n, col ->> 'position' USING ERRCODE = 'CD422';
        END IF;
        ids := ids || (col ->> 'id');
        places := places || (col ->> 'position')::int;
    END LOOP;
    RETURN true;
END
$$;

CREATE TABLE coditect.boards (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id uuid NOT NULL,
    name       varchar(255) NOT NULL CHECK (name ~ '\S'),
    board_type coditect.board_type NOT NULL DEFAULT 'kanban',
    columns    coditect.json_array NOT NULL DEFAULT
               '[{"id": "backlog", "name": "Backlog", "status_mapping": ["backlog"], "position": 0},
                 {"id": "todo", "name": "To do", "status_mapping": ["todo"], "position": 1},
                 {"id": "in_progress", "name": "In progress", "status_mapping": ["in_progress"], "position": 2},
                 {"id": "in_review", "name": "In review", "status_mapping": ["in_review"], "position": 3},
                 {"id": "done", "name": "Done", "status_mapping": ["done"], "position": 4}]'
               CONSTRAINT boards_columns_check CHECK (coditect_internal.check_board_columns(columns)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE coditect.boards IS 'Boards of a project: its tasks grouped in columns by status.';
COMMENT ON COLUMN coditect.boards.columns IS
    'The columns, [{id, name, status_mapping: [task statuses], position}]: 1 to 20, ids and positions unique, a status in at most one column. Default: one column per open status and done.';
-- A project's boards by name (names are unique in a project, as a user picks a board by name).
CREATE UNIQUE INDEX boards_tenant_project_name_key ON coditect.boards (tenant_id, project_id, name);
CREATE INDEX boards_tenant_created_idx ON coditect.boards (tenant_id, created_at DESC, id DESC);

SELECT coditect_internal.register_resource('coditect.boards', 'board',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{project_id,name,board_type,columns}', p_update => '{name,board_type,columns}',
    p_filters => '{"project_id": ["exact"], "board_type": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name}', p_also_under => '{"project": "project_id"}',
    p_example => '{"name": "Team board", "board_type": "kanban",
                   "columns": [{"id": "todo", "name": "To do", "status_mapping": ["backlog", "todo"], "position": 0},
                               {"id": "doing", "name": "Doing", "status_mapping": ["in_progress", "in_review"], "position": 1},
                               {"id": "done", "name": "Done", "status_mapping": ["done"], "position": 2}]}');

-- The board view's answer (its shape for the API; the function builds it as JSON).
CREATE TYPE coditect.board_view_column AS (
    id             text,
    name           text,
    status_mapping coditect.task_status[],
    position       int,
    count          bigint,
    tasks          coditect.tasks[]
);
COMMENT ON TYPE coditect.board_view_column IS
    'A board column with its task count and its first tasks, most urgent first, then by number.';
CREATE TYPE coditect.board_view AS (
    board     coditect.boards,
    sprint_id uuid,
    columns   coditect.board_view_column[]
);
COMMENT ON TYPE coditect.board_view IS
    'A board with its columns in position order; sprint_id: the active sprint a scrum board shows (null: none).';

-- The board with the tasks of each column: the project's live tasks whose status the column maps
-- (a scrum board: of the active sprint only; no active sprint, no tasks), at most p_limit per
-- column, most urgent first, then by number. Read through the generated functions, so the
-- caller needs board.view and task.view, and a board of another tenant is a 404.
CREATE FUNCTION coditect.board_view(p_id uuid, p_limit int DEFAULT 50) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    b      jsonb := coditect.api_boards_get(p_id);
    sprint uuid;
    cols   jsonb;
BEGIN
    p_limit := coalesce(p_limit, 50);
    IF p_limit NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'limit must be between 1 and 200' USING ERRCODE = 'CD400';
    END IF;
    IF b ->> 'board_type' = 'scrum' THEN
        SELECT s.id INTO sprint FROM coditect.sprints s
         WHERE s.tenant_id = v_tenant AND s.project_id = (b ->> 'project_id')::uuid
           AND s.status = 'active' AND s.deleted_at IS NULL;
    END IF;
    SELECT jsonb_agg(c.value || jsonb_build_object('count', coalesce(l -> 'count', '0'), 'tasks', coalesce(l -> 'results', '[]'))
                     ORDER BY (c.value ->> 'position')::int)
      INTO cols
      FROM jsonb_array_elements(b -> 'columns') c
      LEFT JOIN LATERAL (
           SELECT coditect.api_tasks_list(
                      jsonb_build_object('project_id', b ->> 'project_id', 'status__in', c.value -> 'status_mapping')
                      || CASE WHEN sprint IS NOT NULL THEN jsonb_build_object('sprint_id', sprint) ELSE '{}' END,
                      1, p_limit, NULL, '-priority,number') AS l
            WHERE b ->> 'board_type' <> 'scrum' OR sprint IS NOT NULL) x ON true;
    RETURN jsonb_build_object('board', b, 'sprint_id', sprint, 'columns', cols);
END
$$;
SELECT coditect_internal.register_action('board', 'view', 'coditect.board_view(uuid, int)',
    'GET', '/api/v1/boards/{id}/view/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "limit", "also_query": true}]',
    p_permission => 'board.view', p_response => '{"type": "board_view"}',
    p_summary => 'A board with its tasks grouped by its columns (?limit= tasks per column, default 50)');

------------------------------------------------------------------------------------------------
-- 5. 40_storage (as in sql/40_storage.sql)
------------------------------------------------------------------------------------------------

-- 40_storage: file content stored in PostgreSQL (issue 10, the layer under documents).
-- Content is addressed by its SHA-256 and kept once per tenant (never shared across tenants),
-- in chunks of at most 1 MiB, so no value of a whole file ever exists in memory. Uploads are
-- sessions written piece by piece at their current offset (the tus protocol's model); the
-- whole-file hash is carried from piece to piece as a small resumable state (C++, OpenSSL).
--
-- The storage interface (what the domain and the gateway call; an S3-compatible backend would
-- implement the same functions, see README "File storage"):
--   coditect.storage_begin_upload(length, metadata)          -> the upload session
--   coditect.storage_append(upload, offset, bytes, sha256)   -> the session (completed at the end)
--   coditect.storage_read(blob, offset, length)              -> bytes, at most one chunk's size
--   coditect_internal.storage_release(blob)                  -> drops one reference
-- and, for the domains, upload targets (coditect_internal.register_upload_target, below).

CREATE TYPE coditect.blob_status AS ENUM ('pending', 'ready');
COMMENT ON TYPE coditect.blob_status IS 'pending: an upload is writing it; ready: complete, hashed, immutable.';
CREATE TYPE coditect.upload_status AS ENUM ('uploading', 'completed');

-- 1 MiB: the largest value a read or write ever holds (bounded memory per request, and per
-- backend), few rows per file (1,024 for 1 GiB, so the index stays small), and far above
-- TOAST's own 2 kB slices, so per-row overhead is negligible. Stored uncompressed (EXTERNAL):
-- uploads are mostly compressed formats already, and an uncompressed TOAST value lets a
-- ranged read fetch only the slices it needs.
CREATE FUNCTION coditect.storage_chunk_size() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$ SELECT 1048576 $$;

-- The largest file a tenant's plan allows (binary units: 10 MiB, 100 MiB, 1 GiB).
CREATE FUNCTION coditect.storage_max_file_size(p_tier coditect.tenant_tier) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_tier WHEN 'trial' THEN 10485760 WHEN 'starter' THEN 10485760
                       WHEN 'professional' THEN 104857600 WHEN 'enterprise' THEN 1073741824 END::bigint
$$;

-- Resumable SHA-256 (src_ext/pg_sha256.cpp): the state after hashing data on top of state
-- (NULL: nothing yet), and the digest of a state.
CREATE FUNCTION coditect_internal.sha256_resume(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'coditect_sha256_resume' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION coditect_internal.sha256_digest(bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'coditect_sha256_digest' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------------
-- Tables. Written only by the functions below (definer rights): a direct write could change
-- bytes after their hash was verified. Read under RLS like every tenant table.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.storage_blobs (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    sha256       bytea CONSTRAINT storage_blobs_sha256_check CHECK (octet_length(sha256) = 32),
    size_bytes   bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    content_type varchar(255) NOT NULL DEFAULT 'application/octet-stream',
    status       coditect.blob_status NOT NULL DEFAULT 'pending',
    ref_count    int NOT NULL DEFAULT 0 CHECK (ref_count >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Content addressing and dedup, within a tenant only.
    CONSTRAINT storage_blobs_tenant_sha256_key UNIQUE (tenant_id, sha256),
    CONSTRAINT storage_blobs_ready_hashed CHECK ((status = 'ready') = (sha256 IS NOT NULL))
);
COMMENT ON TABLE coditect.storage_blobs IS 'File content, once per tenant and SHA-256; its bytes are in storage_chunks.';
COMMENT ON COLUMN coditect.storage_blobs.ref_count IS
    'How many holders (completed uploads without a target, document versions, ...) keep the content.';

CREATE TABLE coditect.storage_chunks (
    tenant_id uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id        uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    blob_id   uuid NOT NULL,
    seq       int NOT NULL CHECK (seq >= 0),
    -- Every chunk but a blob's last is exactly storage_chunk_size() bytes: chunk n starts at
    -- byte n * storage_chunk_size().
    data      bytea NOT NULL CONSTRAINT storage_chunks_data_check CHECK (octet_length(data) BETWEEN 1 AND 1048576),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT storage_chunks_blob_seq_key UNIQUE (tenant_id, blob_id, seq),
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE coditect.storage_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE coditect.storage_chunks IS 'The bytes of a blob in chunks of 1 MiB (the last one shorter).';

CREATE TABLE coditect.upload_sessions (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    user_id       uuid NOT NULL,
    blob_id       uuid NOT NULL,
    upload_length bigint NOT NULL CHECK (upload_length >= 0),
    upload_offset bigint NOT NULL DEFAULT 0,
    filename      varchar(255),
    content_type  varchar(255) NOT NULL DEFAULT 'application/octet-stream',
    metadata      coditect.json_object NOT NULL DEFAULT '{}',
    target_kind   varchar(50),
    target_id     uuid,
    sha256        bytea CHECK (octet_length(sha256) = 32),
    hash_state    bytea NOT NULL,
    status        coditect.upload_status NOT NULL DEFAULT 'uploading',
    expires_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT upload_sessions_offset_check CHECK (upload_offset BETWEEN 0 AND upload_length),
    CONSTRAINT upload_sessions_completed_check
        CHECK ((status = 'completed') = (completed_at IS NOT NULL AND upload_offset = upload_length)),
    CONSTRAINT upload_sessions_target_check CHECK (target_id IS NULL OR target_kind IS NOT NULL)
);
COMMENT ON TABLE coditect.upload_sessions IS 'Resumable uploads (tus): written at their offset, completed when it reaches the length.';
COMMENT ON COLUMN coditect.upload_sessions.blob_id IS
    'The content being written; after completion the blob holding it (an existing one when the bytes were known).';
COMMENT ON COLUMN coditect.upload_sessions.target_kind IS
    'What completion makes of the file (the document layer''s hook), with target_id; null: nothing.';
COMMENT ON COLUMN coditect.upload_sessions.sha256 IS 'The SHA-256 the client declared (metadata "sha256"), checked at completion.';
COMMENT ON COLUMN coditect.upload_sessions.hash_state IS 'The SHA-256 of the bytes so far, resumable (sha256_resume).';

CREATE INDEX upload_sessions_user_idx ON coditect.upload_sessions (tenant_id, user_id, created_at DESC);
CREATE INDEX upload_sessions_blob_idx ON coditect.upload_sessions (tenant_id, blob_id);
CREATE INDEX upload_sessions_expires_idx ON coditect.upload_sessions (tenant_id, expires_at) WHERE status = 'uploading';

-- Resources without generated verbs: their catalog entries, table mechanisms (RLS, audit,
-- timestamps, dump) and the actions below. Chunk bytes and hash states never enter the audit
-- trail; blobs and upload sessions are audited whole (create, each append's offset, completion).
SELECT coditect_internal.register_resource('coditect.storage_blobs', 'blob', '{}', p_path => '/api/v1/blobs/',
    p_writable => false);
SELECT coditect_internal.register_resource('coditect.upload_sessions', 'upload', '{}', p_path => '/api/v1/uploads/',
    p_writable => false, p_hidden => '{hash_state}');
SELECT coditect_internal.register_tenant_table('coditect.storage_chunks', 'storage_chunk', p_exclude => '{data}',
    p_writable => false);

SELECT coditect_internal.declare_permission('upload.create', 'Upload files', 'member');
SELECT coditect_internal.declare_permission('blob.download', 'Download uploaded files', 'member');

------------------------------------------------------------------------------------------------
-- Upload targets: what an upload makes (a document's next version, a task's attachment) is the
-- domain's that declared the target kind. Its check (target_id, metadata) runs when an upload is
-- declared and refuses what completion could not make; its completion (session) runs once the
-- upload completes, in its transaction, and is answered as "target". The session's blob then
-- holds one reference for it, which the target takes over; without a target the session keeps
-- it until it is purged.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.upload_targets (
    kind        text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z_]*$'),
    check_fn    regprocedure NOT NULL,  -- (target_id uuid, metadata jsonb) RETURNS void
    complete_fn regprocedure NOT NULL   -- (coditect.upload_sessions) RETURNS jsonb
);
REVOKE ALL ON coditect_internal.upload_targets FROM PUBLIC;

CREATE FUNCTION coditect_internal.register_upload_target(p_kind text, p_check regprocedure, p_complete regprocedure)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect_internal.upload_targets (kind, check_fn, complete_fn) VALUES (p_kind, p_check, p_complete)
$$;

CREATE FUNCTION coditect_internal.upload_target_check(p_kind text, p_id uuid, p_metadata jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f regprocedure;
BEGIN
    IF p_kind IS NULL AND p_id IS NULL THEN
        RETURN;
    END IF;
    SELECT t.check_fn INTO f FROM coditect_internal.upload_targets t WHERE t.kind = p_kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown upload target "%"', p_kind USING ERRCODE = 'CD400',
            HINT = 'target_kind: ' || (SELECT string_agg(kind, ', ' ORDER BY kind) FROM coditect_internal.upload_targets)
                   || '; none stores the file only';
    END IF;
    EXECUTE format('SELECT %s($1, $2)', f::regproc) USING p_id, p_metadata;
END
$$;

CREATE FUNCTION coditect_internal.upload_completed(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f regprocedure;
    r jsonb;
BEGIN
    IF s.target_kind IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT t.complete_fn INTO STRICT f FROM coditect_internal.upload_targets t WHERE t.kind = s.target_kind;
    EXECUTE format('SELECT %s($1)', f::regproc) INTO r USING s;
    RETURN r;
END
$$;

------------------------------------------------------------------------------------------------
-- The storage interface
------------------------------------------------------------------------------------------------

-- The context's tenant and user, or CD403.
CREATE FUNCTION coditect_internal.storage_caller(OUT tenant_id uuid, OUT user_id uuid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    tenant_id := coditect.current_tenant_id();
    user_id := coditect.current_user_id();
    IF tenant_id IS NULL OR user_id IS NULL THEN
        RAISE EXCEPTION 'no request context' USING ERRCODE = 'CD403';
    END IF;
END
$$;

-- What an upload session is answered as.
-- PL/pgSQL: Citus cannot plan a SQL function's statement on a distributed table.
CREATE FUNCTION coditect_internal.upload_answer(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', s.id, 'upload_offset', s.upload_offset, 'upload_length', s.upload_length,
        'status', s.status, 'filename', s.filename, 'content_type', s.content_type,
        'expires_at', to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'blob', CASE WHEN s.status = 'completed' THEN (
                    SELECT jsonb_build_object('id', b.id, 'sha256', encode(b.sha256, 'hex'), 'size', b.size_bytes,
                                              'content_type', s.content_type)
                      FROM coditect.storage_blobs b WHERE b.tenant_id = s.tenant_id AND b.id = s.blob_id) END);
END
$$;

-- Declares an upload of p_length bytes. Metadata (strings): filename (or name), content_type
-- (or filetype, type), sha256 (hex: checked at completion), target_kind and target_id (the
-- document layer's hook); others are kept as given.
CREATE FUNCTION coditect.storage_begin_upload(p_length bigint, p_metadata jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me      record := coditect_internal.storage_caller();
    md      jsonb := coalesce(p_metadata, '{}');
    lim     bigint;
    v_name  text;
    v_type  text;
    v_sha   bytea;
    v_blob  uuid;
    s       coditect.upload_sessions;
BEGIN
    PERFORM coditect.require_permission('upload.create');
    IF p_length IS NULL OR p_length < 0 THEN
        RAISE EXCEPTION 'the upload length must be a non-negative number of bytes' USING ERRCODE = 'CD400';
    END IF;
    IF jsonb_typeof(md) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_each(md) e WHERE jsonb_typeof(e.value) <> 'string') THEN
        RAISE EXCEPTION 'upload metadata must be an object of strings' USING ERRCODE = 'CD400';
    END IF;
    IF octet_length(md::text) > 4096 THEN
        RAISE EXCEPTION 'upload metadata is larger than 4096 bytes' USING ERRCODE = 'CD400';
    END IF;
    SELECT coditect.storage_max_file_size(t.license_tier) INTO lim FROM coditect.tenants t WHERE t.id = me.tenant_id;
    IF p_length > lim THEN
        RAISE EXCEPTION 'the file (% bytes) is larger than the % bytes the tenant''s plan allows', p_length, lim
            USING ERRCODE = 'CD413';
    END IF;
    v_name := coalesce(md ->> 'filename', md ->> 'name');
    IF v_name IS NOT NULL AND (v_name !~ '\S' OR v_name ~ '[[:cntrl:]/\\]' OR char_length(v_name) > 255) THEN
        RAISE EXCEPTION 'filename must be 1 to 255 characters without control characters or slashes' USING ERRCODE = 'CD400';
    END IF;
    v_type := coalesce(md ->> 'content_type', md ->> 'filetype', md ->> 'type');
    IF v_type = '' THEN
        v_type := NULL;
    END IF;
    IF v_type IS NOT NULL AND v_type !~ '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$' THEN
        RAISE EXCEPTION 'content type "%" is not a media type (type/subtype)', left(v_type, 100) USING ERRCODE = 'CD400';
    END IF;
    IF md ? 'sha256' THEN
        IF (md ->> 'sha256') !~ '^[0-9a-fA-F]{64}$' THEN
            RAISE EXCEPTION 'metadata sha256 must be 64 hexadecimal digits' USING ERRCODE = 'CD400';
        END IF;
        v_sha := decode(md ->> 'sha256', 'hex');
    END IF;
    IF (md ->> 'target_id') IS NOT NULL AND (md ->> 'target_id') !~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$' THEN
        RAISE EXCEPTION 'target_id must be a UUID' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.upload_target_check(md ->> 'target_kind', (md ->> 'target_id')::uuid, md);

    INSERT INTO coditect.storage_blobs (tenant_id, content_type)
    VALUES (me.tenant_id, coalesce(v_type, 'application/octet-stream')) RETURNING id INTO v_blob;
    INSERT INTO coditect.upload_sessions (tenant_id, user_id, blob_id, upload_length, filename, content_type,
                                          metadata, target_kind, target_id, sha256, hash_state, expires_at)
    VALUES (me.tenant_id, me.user_id, v_blob, p_length, v_name, coalesce(v_type, 'application/octet-stream'),
            md, md ->> 'target_kind', (md ->> 'target_id')::uuid, v_sha,
            coditect_internal.sha256_resume(NULL, NULL), now() + interval '24 hours')
    RETURNING * INTO s;
    IF p_length = 0 THEN
        s := coditect_internal.storage_complete(s);
    END IF;
    RETURN coditect_internal.upload_answer(s);
END
$$;

-- Completion: the size counted from the stored chunks and the whole-file SHA-256 (from the
-- resumable state, against the declared one if any; CD460 otherwise), then dedup: the bytes
-- of a hash the tenant holds already are dropped and the session points at that blob. Two
-- uploads of the same new bytes completing at once: the second meets the first's unique key,
-- waits for it, and dedups onto it.
CREATE FUNCTION coditect_internal.storage_complete(s coditect.upload_sessions) RETURNS coditect.upload_sessions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stored   bigint;
    digest   bytea := coditect_internal.sha256_digest(s.hash_state);
    existing uuid;
    pending  uuid := s.blob_id;
BEGIN
    SELECT coalesce(sum(octet_length(c.data)), 0) INTO stored FROM coditect.storage_chunks c
     WHERE c.tenant_id = s.tenant_id AND c.blob_id = pending;
    IF stored <> s.upload_length OR s.upload_offset <> s.upload_length THEN
        RAISE EXCEPTION 'upload %: % bytes stored, % declared', s.id, stored, s.upload_length USING ERRCODE = 'XX001';
    END IF;
    IF s.sha256 IS NOT NULL AND s.sha256 <> digest THEN
        RAISE EXCEPTION 'the file''s SHA-256 is % but % was declared', encode(digest, 'hex'), encode(s.sha256, 'hex')
            USING ERRCODE = 'CD460';
    END IF;
    SELECT b.id INTO existing FROM coditect.storage_blobs b
     WHERE b.tenant_id = s.tenant_id AND b.sha256 = digest FOR UPDATE;
    IF existing IS NULL THEN
        BEGIN
            UPDATE coditect.storage_blobs SET sha256 = digest, size_bytes = stored, status = 'ready', ref_count = 1
             WHERE tenant_id = s.tenant_id AND id = pending;
        EXCEPTION WHEN unique_violation THEN
            SELECT b.id INTO STRICT existing FROM coditect.storage_blobs b
             WHERE b.tenant_id = s.tenant_id AND b.sha256 = digest FOR UPDATE;
        END;
    END IF;
    IF existing IS NOT NULL THEN
        UPDATE coditect.storage_blobs SET ref_count = ref_count + 1 WHERE tenant_id = s.tenant_id AND id = existing;
        UPDATE coditect.upload_sessions SET blob_id = existing WHERE tenant_id = s.tenant_id AND id = s.id;
        DELETE FROM coditect.storage_blobs WHERE tenant_id = s.tenant_id AND id = pending;
    END IF;
    UPDATE coditect.upload_sessions SET status = 'completed', completed_at = now()
     WHERE tenant_id = s.tenant_id AND id = s.id RETURNING * INTO s;
    RETURN s;
END
$$;

-- Appends p_data at p_offset, which must be the session's offset (else CD409, nothing
-- written). p_sha256, when given, is the SHA-256 of p_data (else CD460, nothing written). More
-- bytes than declared, or than the plan allows now, is CD413. Reaching the declared length
-- completes the upload (CD460 if the whole file's hash differs from a declared one) and calls
-- the completion hook; its answer is the session with "blob" and "target".
CREATE FUNCTION coditect.storage_append(p_upload uuid, p_offset bigint, p_data bytea, p_sha256 bytea DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me     record := coditect_internal.storage_caller();
    cs     int := coditect.storage_chunk_size();
    s      coditect.upload_sessions;
    len    bigint := octet_length(p_data);
    lim    bigint;
    v_seq  int;
    pos    int := 0;
    room   int;
    target jsonb;
BEGIN
    PERFORM coditect.require_permission('upload.create');
    IF p_data IS NULL OR p_offset IS NULL THEN
        RAISE EXCEPTION 'an append needs its offset and bytes' USING ERRCODE = 'CD400';
    END IF;
    -- The session's row lock serialises appends to one upload: the second waits, then sees
    -- the first's offset.
    SELECT * INTO s FROM coditect.upload_sessions u
     WHERE u.tenant_id = me.tenant_id AND u.id = p_upload AND u.user_id = me.user_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no upload %', p_upload USING ERRCODE = 'CD404';
    END IF;
    IF s.status = 'completed' THEN
        RAISE EXCEPTION 'the upload is complete (% bytes)', s.upload_length USING ERRCODE = 'CD409';
    END IF;
    IF s.expires_at <= now() THEN
        RAISE EXCEPTION 'the upload expired at %', s.expires_at USING ERRCODE = 'CD410';
    END IF;
    IF p_offset <> s.upload_offset THEN
        RAISE EXCEPTION 'offset % does not match the upload''s offset %', p_offset, s.upload_offset
            USING ERRCODE = 'CD409', HINT = 'ask for the current offset (HEAD) and resume from it';
    END IF;
    IF p_sha256 IS NOT NULL AND pg_catalog.sha256(p_data) <> p_sha256 THEN
        RAISE EXCEPTION 'the checksum of the % bytes received does not match', len USING ERRCODE = 'CD460';
    END IF;
    IF s.upload_offset + len > s.upload_length THEN
        RAISE EXCEPTION '% bytes at offset % go past the declared length %', len, s.upload_offset, s.upload_length
            USING ERRCODE = 'CD413';
    END IF;
    SELECT coditect.storage_max_file_size(t.license_tier) INTO lim FROM coditect.tenants t WHERE t.id = me.tenant_id;
    IF s.upload_offset + len > lim THEN
        RAISE EXCEPTION 'the file is larger than the % bytes the tenant''s plan allows', lim USING ERRCODE = 'CD413';
    END IF;

    -- Top up the last, partial chunk, then whole chunks.
    v_seq := (s.upload_offset / cs)::int;
    room := cs - (s.upload_offset % cs)::int;
    IF room < cs AND len > 0 THEN
        UPDATE coditect.storage_chunks c SET data = c.data || substring(p_data FROM 1 FOR room)
         WHERE c.tenant_id = s.tenant_id AND c.blob_id = s.blob_id AND c.seq = v_seq;
        pos := least(room::bigint, len)::int;
        v_seq := v_seq + 1;
    END IF;
    WHILE pos < len LOOP
        INSERT INTO coditect.storage_chunks (tenant_id, blob_id, seq, data)
        VALUES (s.tenant_id, s.blob_id, v_seq, substring(p_data FROM pos + 1 FOR cs));
        pos := pos + cs;
        v_seq := v_seq + 1;
    END LOOP;

    UPDATE coditect.storage_blobs SET size_bytes = s.upload_offset + len WHERE tenant_id = s.tenant_id AND id = s.blob_id;
    UPDATE coditect.upload_sessions
       SET upload_offset = upload_offset + len, hash_state = coditect_internal.sha256_resume(hash_state, p_data),
           expires_at = now() + interval '24 hours'
     WHERE tenant_id = s.tenant_id AND id = s.id RETURNING * INTO s;
    IF s.upload_offset = s.upload_length THEN
        s := coditect_internal.storage_complete(s);
        target := coditect_internal.upload_completed(s);
    END IF;
    RETURN coditect_internal.upload_answer(s) || jsonb_build_object('target', target);
END
$$;

-- Up to one chunk's size of a blob's bytes from p_offset (fewer at the end; none past it).
-- Invoker rights: it reads what the caller may read under RLS, nothing more. Callers decide
-- access first (blob_download, the document layer's download) in the same transaction. Without
-- a request context (a public share's download), only the one blob that the share's decision
-- granted to the transaction is read (coditect_internal.storage_read_granted, 44_document_shares.sql).
CREATE FUNCTION coditect.storage_read(p_blob uuid, p_offset bigint, p_length int) RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
BEGIN
    IF tenant IS NULL THEN
        RETURN coditect_internal.storage_read_granted(p_blob, p_offset, p_length);
    END IF;
    RETURN coditect_internal.storage_read_chunks(tenant, p_blob, p_offset, p_length);
END
$$;

-- The bytes of a read, from the chunks of the tenant's blob (under the caller's rights).
CREATE FUNCTION coditect_internal.storage_read_chunks(p_tenant uuid, p_blob uuid, p_offset bigint, p_length int)
RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cs     int := coditect.storage_chunk_size();
    first  int;
    within int;
    head   bytea;
    tail   bytea;
BEGIN
    IF p_offset IS NULL OR p_offset < 0 OR p_length IS NULL OR p_length < 0 OR p_length > cs THEN
        RAISE EXCEPTION 'a read is 0 to % bytes from a non-negative offset', cs USING ERRCODE = 'CD400';
    END IF;
    first := (p_offset / cs)::int;
    within := (p_offset % cs)::int;
    -- Slices of uncompressed (EXTERNAL) values: only the TOAST pieces in the range are read.
    SELECT substring(k.data FROM within + 1 FOR p_length) INTO head FROM coditect.storage_chunks k
     WHERE k.tenant_id = p_tenant AND k.blob_id = p_blob AND k.seq = first;
    IF within + p_length > cs THEN
        SELECT substring(k.data FROM 1 FOR within + p_length - cs) INTO tail FROM coditect.storage_chunks k
         WHERE k.tenant_id = p_tenant AND k.blob_id = p_blob AND k.seq = first + 1;
    END IF;
    RETURN coalesce(head, '\x') || coalesce(tail, '\x');
END
$$;

-- Drops one reference to a blob; the last one deletes it with its chunks. For the domain's
-- definer functions (a document version purged, ...), not for clients.
CREATE FUNCTION coditect_internal.storage_release(p_tenant uuid, p_blob uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    left_over int;
BEGIN
    UPDATE coditect.storage_blobs SET ref_count = ref_count - 1
     WHERE tenant_id = p_tenant AND id = p_blob AND status = 'ready' AND ref_count > 0
    RETURNING ref_count INTO left_over;
    IF left_over = 0 THEN
        DELETE FROM coditect.storage_blobs WHERE tenant_id = p_tenant AND id = p_blob;
    END IF;
END
$$;

-- AFTER DELETE trigger of a table whose rows hold a blob (blob_id): the row's reference goes
-- with it (document versions, task attachments).
CREATE FUNCTION coditect_internal.release_held_blob() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.storage_release(OLD.tenant_id, OLD.blob_id);
    RETURN NULL;
END
$$;

-- Maintenance (DBA, pg_cron): drops expired unfinished uploads with their bytes, and
-- completed uploads without a target older than p_completed_age (releasing their reference).
CREATE FUNCTION coditect.purge_upload_sessions(p_completed_age interval DEFAULT '7 days') RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int := 0;
    c record;
    s record;
BEGIN
    IF p_completed_age IS NULL OR p_completed_age < interval '0' THEN
        RAISE EXCEPTION 'p_completed_age must be a non-negative interval' USING ERRCODE = 'CD400';
    END IF;
    -- The candidates are read without a lock, then each is locked by its tenant and id and
    -- checked again: on Citus a row lock must name the distribution column (one shard).
    FOR c IN SELECT u.tenant_id, u.id FROM coditect.upload_sessions u
              WHERE (u.status = 'uploading' AND u.expires_at <= now())
                 OR (u.status = 'completed' AND u.target_kind IS NULL AND u.completed_at <= now() - p_completed_age) LOOP
        SELECT u.tenant_id, u.id, u.blob_id, u.status INTO s FROM coditect.upload_sessions u
         WHERE u.tenant_id = c.tenant_id AND u.id = c.id
           AND ((u.status = 'uploading' AND u.expires_at <= now())
                OR (u.status = 'completed' AND u.target_kind IS NULL AND u.completed_at <= now() - p_completed_age))
           FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        DELETE FROM coditect.upload_sessions WHERE tenant_id = s.tenant_id AND id = s.id;
        IF s.status = 'uploading' THEN
            DELETE FROM coditect.storage_blobs WHERE tenant_id = s.tenant_id AND id = s.blob_id AND status = 'pending';
        ELSE
            PERFORM coditect_internal.storage_release(s.tenant_id, s.blob_id);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

------------------------------------------------------------------------------------------------
-- The API: tus (uploads) and the blob download, declared through the catalog. The gateway
-- speaks the protocol named by each operation's response "protocol"; these functions take the
-- tus headers as sent.
------------------------------------------------------------------------------------------------

-- tus Upload-Metadata: "key base64value,key2 base64value2" (a value may be absent). Keys are
-- ASCII without spaces or commas, values UTF-8 text.
CREATE FUNCTION coditect_internal.tus_metadata(p_header text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pair  text;
    parts text[];
    out   jsonb := '{}';
BEGIN
    IF p_header IS NULL OR p_header !~ '\S' THEN
        RETURN out;
    END IF;
    FOREACH pair IN ARRAY string_to_array(p_header, ',') LOOP
        parts := regexp_split_to_array(btrim(pair), ' +');
        IF cardinality(parts) > 2 OR parts[1] !~ '^[!-~]+$' OR out ? parts[1] THEN
            RAISE EXCEPTION 'malformed Upload-Metadata' USING ERRCODE = 'CD400';
        END IF;
        BEGIN
            out := out || jsonb_build_object(parts[1], coalesce(convert_from(decode(parts[2], 'base64'), 'UTF8'), ''));
        EXCEPTION WHEN invalid_parameter_value OR character_not_in_repertoire OR untranslatable_character THEN
            RAISE EXCEPTION 'malformed Upload-Metadata value of "%"', parts[1] USING ERRCODE = 'CD400';
        END;
    END LOOP;
    RETURN out;
END
$$;

-- A tus header that carries a byte count.
CREATE FUNCTION coditect_internal.tus_number(p_header text, p_name text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_header IS NULL OR p_header !~ '^[0-9]{1,18}$' THEN
        RAISE EXCEPTION '% must be a non-negative whole number', p_name USING ERRCODE = 'CD400';
    END IF;
    RETURN p_header::bigint;
END
$$;

-- POST /api/v1/uploads/ (tus creation): Upload-Length and Upload-Metadata.
CREATE FUNCTION coditect.upload_create(p_upload_length text, p_upload_metadata text) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.storage_begin_upload(coditect_internal.tus_number(p_upload_length, 'Upload-Length'),
                                         coditect_internal.tus_metadata(p_upload_metadata))
$$;

-- HEAD /api/v1/uploads/{id} (tus): the caller's own upload only.
CREATE FUNCTION coditect.upload_progress(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me record := coditect_internal.storage_caller();
    s  coditect.upload_sessions;
BEGIN
    PERFORM coditect.require_permission('upload.create');
    SELECT * INTO s FROM coditect.upload_sessions u
     WHERE u.tenant_id = me.tenant_id AND u.id = p_id AND u.user_id = me.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no upload %', p_id USING ERRCODE = 'CD404';
    END IF;
    IF s.status = 'uploading' AND s.expires_at <= now() THEN
        RAISE EXCEPTION 'the upload expired at %', s.expires_at USING ERRCODE = 'CD410';
    END IF;
    RETURN coditect_internal.upload_answer(s);
END
$$;

-- PATCH /api/v1/uploads/{id} (tus core + checksum): Upload-Offset, Upload-Checksum
-- ("sha256 <base64>"; other algorithms are 400) and the bytes.
CREATE FUNCTION coditect.upload_append(p_id uuid, p_upload_offset text, p_upload_checksum text, p_data bytea)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[];
    sum   bytea;
BEGIN
    IF p_upload_checksum IS NOT NULL THEN
        parts := regexp_split_to_array(btrim(p_upload_checksum), ' +');
        IF cardinality(parts) <> 2 OR lower(parts[1]) <> 'sha256' THEN
            RAISE EXCEPTION 'Upload-Checksum must be "sha256 <base64 digest>"' USING ERRCODE = 'CD400';
        END IF;
        BEGIN
            sum := decode(parts[2], 'base64');
        EXCEPTION WHEN invalid_parameter_value THEN
            sum := NULL;
        END;
        IF sum IS NULL OR octet_length(sum) <> 32 THEN
            RAISE EXCEPTION 'Upload-Checksum must be "sha256 <base64 digest>"' USING ERRCODE = 'CD400';
        END IF;
    END IF;
    RETURN coditect.storage_append(p_id, coditect_internal.tus_number(p_upload_offset, 'Upload-Offset'),
                                   coalesce(p_data, '\x'), sum);
END
$$;

-- Whether the caller may read a blob: owners and admins any of the tenant's, members those
-- they uploaded. (The document layer decides by its own permissions and reads the same way.)
-- PL/pgSQL: Citus cannot plan a SQL function's statement on a distributed table.
CREATE FUNCTION coditect_internal.blob_readable(p_tenant uuid, p_user uuid, p_blob uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coditect.current_user_role() IN ('owner', 'admin')
        OR EXISTS (SELECT 1 FROM coditect.upload_sessions u
                    WHERE u.tenant_id = p_tenant AND u.blob_id = p_blob AND u.user_id = p_user AND u.status = 'completed');
END
$$;

-- What a download's access decision answers the gateway's "content" protocol: the blob to read
-- with storage_read, its size, the read size, its SHA-256 (hex, the ETag), type and file name.
CREATE FUNCTION coditect_internal.content_answer(p_blob uuid, p_size bigint, p_sha256 text, p_content_type text,
                                                 p_filename text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('blob_id', p_blob, 'size', p_size, 'chunk_size', coditect.storage_chunk_size(),
                              'sha256', p_sha256, 'content_type', p_content_type, 'filename', p_filename)
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.content_answer(uuid, bigint, text, text, text)
    TO coditect_gateway, coditect_service;

-- GET /api/v1/blobs/{id}/content: the one access decision of a download. Answers what the
-- gateway needs to stream it (it then reads with storage_read in the same transaction).
CREATE FUNCTION coditect.blob_download(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me record := coditect_internal.storage_caller();
    b  coditect.storage_blobs;
BEGIN
    PERFORM coditect.require_permission('blob.download');
    SELECT * INTO b FROM coditect.storage_blobs x WHERE x.tenant_id = me.tenant_id AND x.id = p_id AND x.status = 'ready';
    IF NOT FOUND OR NOT coditect_internal.blob_readable(me.tenant_id, me.user_id, p_id) THEN
        RAISE EXCEPTION 'no file %', p_id USING ERRCODE = 'CD404';
    END IF;
    RETURN coditect_internal.content_answer(b.id, b.size_bytes, encode(b.sha256, 'hex'), b.content_type,
        (SELECT u.filename FROM coditect.upload_sessions u
          WHERE u.tenant_id = me.tenant_id AND u.blob_id = b.id AND u.status = 'completed'
            AND u.filename IS NOT NULL
          ORDER BY (u.user_id = me.user_id) DESC, u.completed_at DESC LIMIT 1));
END
$$;

REVOKE ALL ON FUNCTION coditect.storage_begin_upload(bigint, jsonb), coditect.storage_append(uuid, bigint, bytea, bytea),
    coditect.storage_read(uuid, bigint, int), coditect.purge_upload_sessions(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.storage_begin_upload(bigint, jsonb), coditect.storage_append(uuid, bigint, bytea, bytea),
    coditect.storage_read(uuid, bigint, int), coditect_internal.storage_read_chunks(uuid, uuid, bigint, int)
    TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_action('upload', 'create', 'coditect.upload_create(text, text)',
    'POST', '/api/v1/uploads/',
    '[{"from": "header", "name": "Upload-Length"}, {"from": "header", "name": "Upload-Metadata"}]',
    p_permission => 'upload.create', p_status => 201,
    p_response => jsonb_build_object('protocol', 'tus_create',
        'max_size', (SELECT max(coditect.storage_max_file_size(t)) FROM unnest(enum_range(NULL::coditect.tenant_tier)) t)),
    p_summary => 'Declare an upload (tus creation: Upload-Length, Upload-Metadata); 201 with its Location');
SELECT coditect_internal.register_action('upload', 'status', 'coditect.upload_progress(uuid)',
    'GET', '/api/v1/uploads/{id}', '[{"from": "path", "name": "id"}]',
    p_permission => 'upload.create', p_response => '{"protocol": "tus_status"}',
    p_summary => 'An upload''s offset (tus HEAD; Upload-Offset, Upload-Length)');
SELECT coditect_internal.register_action('upload', 'append', 'coditect.upload_append(uuid, text, text, bytea)',
    'PATCH', '/api/v1/uploads/{id}',
    '[{"from": "path", "name": "id"}, {"from": "header", "name": "Upload-Offset"},
      {"from": "header", "name": "Upload-Checksum"}, {"from": "body_octets"}]',
    p_permission => 'upload.create', p_response => '{"protocol": "tus_append"}',
    p_summary => 'Append bytes at the upload''s offset (tus PATCH, application/offset+octet-stream)');
SELECT coditect_internal.register_action('blob', 'download', 'coditect.blob_download(uuid)',
    'GET', '/api/v1/blobs/{id}/content', '[{"from": "path", "name": "id"}]',
    p_permission => 'blob.download', p_response => '{"protocol": "content"}',
    p_summary => 'The file''s bytes, streamed (Range, ETag: its SHA-256)');

-- The tus adapters run with the caller's rights (the gateway's, a service's): the pure
-- helpers they and storage_read use.
GRANT EXECUTE ON FUNCTION coditect_internal.tus_metadata(text), coditect_internal.tus_number(text, text),
    coditect.storage_chunk_size(), coditect.storage_max_file_size(coditect.tenant_tier)
    TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- 5a. 11_audit_events (as in sql/11_audit_events.sql)
------------------------------------------------------------------------------------------------

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

------------------------------------------------------------------------------------------------
-- 5b. Audit events of the tables made before (as in sql/10_audit.sql, 20_tenancy.sql and
-- 80_licenses.sql): the trail's comment, registration in create_tenant, grants of memberships and
-- team memberships, license issue
------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION coditect.create_tenant(
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
    -- Every sign-up path comes through here (api_register and the service's own).
    PERFORM coditect_internal.audit_event(t, 'user.register', 'User', u::text,
        jsonb_build_object('tenant_id', t, 'membership_id', m, 'role', 'owner', 'license_tier', p_license_tier,
                           'identity', CASE WHEN p_owner_firebase_uid IS NOT NULL THEN 'firebase' ELSE 'email' END));
    RETURN jsonb_build_object('tenant_id', t, 'user_id', u, 'membership_id', m);
END
$$;

-- permission.grant / permission.revoke events (11_audit_events).
CREATE TRIGGER audit_grant_change AFTER INSERT OR UPDATE OF role, revoked_at OR DELETE ON coditect.memberships
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_grant_change('membership');
CREATE TRIGGER audit_grant_change AFTER INSERT OR UPDATE OF role, team_id, user_id OR DELETE ON coditect.team_members
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_grant_change('team_membership');
ALTER TABLE coditect.memberships ENABLE ALWAYS TRIGGER audit_grant_change;
ALTER TABLE coditect.team_members ENABLE ALWAYS TRIGGER audit_grant_change;
COMMENT ON TABLE coditect.audit_logs IS
    'Append-only audit trail: one row per change of a tenant table, and the audit events (logins, grants, exports, ...); partitioned monthly.';
-- license.issue events (11_audit_events).
CREATE TRIGGER audit_license_issue AFTER INSERT ON coditect.licenses
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_license_issue();
ALTER TABLE coditect.licenses ENABLE ALWAYS TRIGGER audit_license_issue;

------------------------------------------------------------------------------------------------
-- 5c-catalogact. Actions the catalog writes, answers holding a secret (as in sql/06_catalog.sql):
-- register_action p_as / p_answers / p_secret, the operations' wraps, answers, wrapper and
-- secret, generate_action_wrapper, their regeneration, "secret" in api_catalog()
------------------------------------------------------------------------------------------------

ALTER TABLE coditect_internal.resource_operations
    ADD COLUMN wraps regprocedure,
    ADD COLUMN answers text,
    ADD COLUMN wrapper text,
    ADD COLUMN secret boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT resource_operations_wraps_check
        CHECK ((wraps IS NULL) = (answers IS NULL) AND (wraps IS NULL) = (wrapper IS NULL) AND (wraps IS NULL OR kind = 'action'));

-- The invoker function of an action the catalog writes (register_action p_as): p_wrapper
-- (coditect.<name>) takes p_as's arguments as declared there (names and defaults), calls p_as
-- (owner rights: it checks the permission and does the work, then answers the row's id) and
-- answers that row through p_answers' generated get, under the caller's row-level security. The
-- get is a statement of its own: it is STABLE and would not see p_as's rows within one
-- statement. Created or replaced (regeneration); p_as is granted as the wrapper is.
CREATE FUNCTION coditect_internal.generate_action_wrapper(p_wrapper text, p_as regprocedure, p_answers text)
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
    IF p_wrapper !~ '^coditect\.[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'action %: the function the catalog writes is coditect.<name>', p_wrapper USING ERRCODE = 'CD400';
    END IF;
    SELECT coalesce(string_agg(format('$%s', i), ', ' ORDER BY i), '') INTO args FROM generate_series(1, p.pronargs) i;
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION %1$s(%2$s) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_id uuid := %3$s(%4$s);
BEGIN
    RETURN coditect.api_%5$s_get(v_id);
END
$fn$$f$, p_wrapper, pg_get_function_arguments(p_as), p_as::regproc, args, r.plural);
    fn := format('%s(%s)', p_wrapper,
                 (SELECT coalesce(string_agg(format_type(t, NULL), ',' ORDER BY i), '')
                    FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i)))::regprocedure;
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', fn,
                   format('Written by the catalog (register_action): %s, then the %s it answers.', p_as, replace(r.name, '_', ' ')));
    EXECUTE format('REVOKE ALL ON FUNCTION %s, %s FROM PUBLIC', fn, p_as);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s, %s TO coditect_gateway, coditect_service', fn, p_as);
    RETURN fn;
END
$gen$;

-- (Re)creates the API functions of one resource from its catalog rows. Run again after a
-- change of the table's columns or defaults (coditect_internal.regenerate_resources()).
CREATE OR REPLACE FUNCTION coditect_internal.generate_resource_functions(p_resource text) RETURNS void
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
        f := coditect_internal.generate_action_wrapper(w.wrapper, w.wraps, w.answers);
        UPDATE coditect_internal.resource_operations x SET function = f, sql = coditect_internal.operation_sql(f, w.result, w.etag)
         WHERE x.resource = w.resource AND x.name = w.name;
    END LOOP;
END
$$;

DROP FUNCTION coditect_internal.register_action(text, text, regprocedure, text, text, jsonb, text, text, jsonb, integer, text, text, boolean);
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
    p_secret     boolean DEFAULT false
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
        IF p_answers IS NOT NULL THEN
            RAISE EXCEPTION 'action %.%: p_answers goes with p_as', p_resource, p_name USING ERRCODE = 'CD400';
        END IF;
        fn := p_function::regprocedure;
    ELSE
        fn := coditect_internal.generate_action_wrapper(v_wrapper, p_as, coalesce(p_answers, p_resource));
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
           wrapper = CASE WHEN p_as IS NOT NULL THEN v_wrapper END, secret = p_secret
     WHERE o.resource = p_resource AND o.name = p_name;
    PERFORM pg_notify('coditect_catalog', 'reload');
END
$$;

CREATE OR REPLACE FUNCTION coditect.api_catalog() RETURNS jsonb
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
                -- Rows seen by grants beyond the tenant (a restrictive policy): who sees a row depends on it.
                'row_access', EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = coalesce(r.rls_relid, r.relid) AND NOT p.polpermissive))
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

------------------------------------------------------------------------------------------------
-- 5c-seats. Seat calls and seat triggers in C++ (as in sql/80_licenses.sql): license_acquire,
-- license_heartbeat, license_release, count_license_seats and guard_license_session move to
-- src_ext/pg_license_seats.cpp; their PL/pgSQL helpers are dropped; the caches of the
-- permission catalog and the state machines (src_ext/pg_table_cache.cpp) and the one trigger
-- that invalidates the backend caches (as in sql/00_base.sql and 06_catalog.sql)
------------------------------------------------------------------------------------------------

-- The one invalidation trigger of the backend caches that outlive the transaction, for the
-- permission catalog and state machines here and the request context's checks (5c-ctxcache),
-- and its declaration (as in sql/00_base.sql).
CREATE FUNCTION coditect_internal.invalidate_backend_caches() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_invalidate_backend_caches' LANGUAGE C;
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
REVOKE ALL ON FUNCTION coditect_internal.invalidate_backend_caches(),
    coditect_internal.declare_backend_cache_source(regclass) FROM PUBLIC;
-- The permission catalog as the seat calls read it, and the state machines enforce_transition
-- reads (as in sql/00_base.sql and 06_catalog.sql).
SELECT coditect_internal.declare_backend_cache_source('coditect.state_transitions');
SELECT coditect_internal.declare_backend_cache_source('coditect.permissions');
SELECT coditect_internal.declare_backend_cache_source('coditect.role_permissions');

CREATE OR REPLACE FUNCTION coditect_internal.count_license_seats() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_count_license_seats' LANGUAGE C;
CREATE OR REPLACE FUNCTION coditect_internal.guard_license_session() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_guard_license_session' LANGUAGE C;
CREATE OR REPLACE FUNCTION coditect.license_acquire(
    p_key_string  text,
    p_hardware_id text,
    p_client_ip   inet DEFAULT NULL,
    p_user_agent  text DEFAULT NULL
) RETURNS jsonb AS 'MODULE_PATHNAME', 'coditect_license_acquire' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION coditect.license_heartbeat(p_session_id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_license_heartbeat' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION coditect.license_release(p_session_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_license_release' LANGUAGE C VOLATILE;
DROP FUNCTION coditect_internal.zombify_overdue(uuid, uuid), coditect_internal.license_session_answer(uuid),
    coditect_internal.lock_usable_license(uuid, uuid, text), coditect_internal.require_context();

------------------------------------------------------------------------------------------------
-- 5c-ctxcache. set_request_context in C with a per-backend cache of its checks, and the triggers
-- that invalidate that cache (as in sql/20_tenancy.sql)
------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION coditect.set_request_context(
    p_tenant_id      uuid,
    p_user_id        uuid,
    p_user_role      text,
    p_client_ip      inet DEFAULT NULL,
    p_user_agent     text DEFAULT NULL,
    p_request_method text DEFAULT NULL,
    p_request_path   text DEFAULT NULL,
    p_request_id     text DEFAULT NULL
) RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_set_request_context' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- The tables the context checks read invalidate the backend caches (declared in 5c-seats).
SELECT coditect_internal.declare_backend_cache_source('coditect.tenants');
SELECT coditect_internal.declare_backend_cache_source('coditect.users');
SELECT coditect_internal.declare_backend_cache_source('coditect.memberships');
SELECT coditect_internal.declare_backend_cache_source('coditect_internal.analyst_bindings');

------------------------------------------------------------------------------------------------
-- 5c-policies. Policies without subqueries, which Citus refuses (as in sql/00_base.sql and
-- sql/10_audit.sql): register_tenant_table's tenant_isolation, and that of every tenant table
-- made so far and of the audit trail, compare with coditect.current_tenant_id() itself instead of
-- an initplan over it. Tables registered by the sections below get the new form from the start.
------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION coditect_internal.register_tenant_table(
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

    INSERT INTO coditect_internal.tenant_tables (relid, resource, soft_delete)
    VALUES (p_table, p_resource, soft);
    -- Tables created by an extension script are extension members, whose rows pg_dump skips
    -- unless they are marked as configuration tables. (A table of one's own is dumped anyway.)
    IF EXISTS (SELECT 1 FROM pg_depend WHERE classid = 'pg_class'::regclass AND objid = p_table AND deptype = 'e') THEN
        PERFORM pg_catalog.pg_extension_config_dump(p_table, '');
    END IF;
END
$$;

-- (The column is the first word of the deparsed qual, "(<column> = ...": the text of the rest
-- depends on the search_path the update runs under.)
DO $$
DECLARE
    p   record;
    col text;
BEGIN
    FOR p IN SELECT pol.polrelid::regclass AS tbl, pg_get_expr(pol.polqual, pol.polrelid) AS qual,
                    pol.polwithcheck IS NOT NULL AS has_check
               FROM pg_catalog.pg_policy pol
              WHERE pol.polname = 'tenant_isolation' AND pol.polqual::text LIKE '%{SUBLINK%'
    LOOP
        col := substring(p.qual FROM '^\((\w+) = ');
        EXECUTE format('ALTER POLICY tenant_isolation ON %s USING (%I = coditect.current_tenant_id())', p.tbl, col);
        IF p.has_check THEN
            EXECUTE format('ALTER POLICY tenant_isolation ON %s WITH CHECK (%I = coditect.current_tenant_id())', p.tbl, col);
        END IF;
    END LOOP;
END
$$;

------------------------------------------------------------------------------------------------
-- 5c-keys. Keys Citus accepts (issue 13): ON DELETE SET NULL foreign keys carrying tenant_id become
-- NO ACTION with coditect_internal.declare_null_on_delete() (as in sql/00_base.sql, 30_pm.sql,
-- 32_task_comments.sql and 80_licenses.sql); analyst_bindings without its foreign key to the tenants
-- (as in sql/20_tenancy.sql)
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

ALTER TABLE coditect.tasks DROP CONSTRAINT tasks_tenant_id_assignee_id_fkey,
    ADD CONSTRAINT tasks_tenant_id_assignee_id_fkey FOREIGN KEY (tenant_id, assignee_id) REFERENCES coditect.users (tenant_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,assignee_id}', '{assignee_id}');
ALTER TABLE coditect.tasks DROP CONSTRAINT tasks_tenant_id_reporter_id_fkey,
    ADD CONSTRAINT tasks_tenant_id_reporter_id_fkey FOREIGN KEY (tenant_id, reporter_id) REFERENCES coditect.users (tenant_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,reporter_id}', '{reporter_id}');
ALTER TABLE coditect.tasks DROP CONSTRAINT tasks_tenant_id_project_id_sprint_id_fkey,
    ADD CONSTRAINT tasks_tenant_id_project_id_sprint_id_fkey FOREIGN KEY (tenant_id, project_id, sprint_id) REFERENCES coditect.sprints (tenant_id, project_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,project_id,sprint_id}', '{sprint_id}');
ALTER TABLE coditect.tasks DROP CONSTRAINT tasks_tenant_id_project_id_milestone_id_fkey,
    ADD CONSTRAINT tasks_tenant_id_project_id_milestone_id_fkey FOREIGN KEY (tenant_id, project_id, milestone_id) REFERENCES coditect.milestones (tenant_id, project_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,project_id,milestone_id}', '{milestone_id}');
ALTER TABLE coditect.tasks DROP CONSTRAINT tasks_tenant_id_project_id_parent_task_id_fkey,
    ADD CONSTRAINT tasks_tenant_id_project_id_parent_task_id_fkey FOREIGN KEY (tenant_id, project_id, parent_task_id) REFERENCES coditect.tasks (tenant_id, project_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,project_id,parent_task_id}', '{parent_task_id}');
ALTER TABLE coditect.task_comments DROP CONSTRAINT task_comments_tenant_id_author_id_fkey,
    ADD CONSTRAINT task_comments_tenant_id_author_id_fkey FOREIGN KEY (tenant_id, author_id) REFERENCES coditect.users (tenant_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.task_comments', '{tenant_id,author_id}', '{author_id}');
ALTER TABLE coditect.licenses DROP CONSTRAINT licenses_tenant_id_created_by_fkey,
    ADD CONSTRAINT licenses_tenant_id_created_by_fkey FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.licenses', '{tenant_id,created_by}', '{created_by}');
ALTER TABLE coditect.license_sessions DROP CONSTRAINT license_sessions_tenant_id_ended_by_fkey,
    ADD CONSTRAINT license_sessions_tenant_id_ended_by_fkey FOREIGN KEY (tenant_id, ended_by) REFERENCES coditect.users (tenant_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.license_sessions', '{tenant_id,ended_by}', '{ended_by}');

ALTER TABLE coditect_internal.analyst_bindings DROP CONSTRAINT analyst_bindings_tenant_id_fkey;
CREATE INDEX analyst_bindings_tenant_idx ON coditect_internal.analyst_bindings (tenant_id);
CREATE OR REPLACE FUNCTION coditect.purge_tenant(p_tenant_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.allow_hard_delete(true);
    DELETE FROM coditect.tenants WHERE id = p_tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    -- After the tenant's row is gone (a bind_analyst in progress holds it: waited for above).
    DELETE FROM coditect_internal.analyst_bindings b WHERE b.tenant_id = p_tenant_id;
    PERFORM coditect_internal.allow_hard_delete(false);
END
$$;

CREATE OR REPLACE FUNCTION coditect.bind_analyst(p_role name, p_tenant_id uuid) RETURNS void
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
    -- FOR KEY SHARE, as the foreign key's check would: a purge_tenant running now waits for
    -- this transaction, then removes the binding; one that ran first leaves no row here.
    PERFORM FROM coditect.tenants t WHERE t.id = p_tenant_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    INSERT INTO coditect_internal.analyst_bindings (role_oid, role_name, tenant_id)
    VALUES (r.oid, p_role, p_tenant_id)
    ON CONFLICT (role_oid) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, role_name = EXCLUDED.role_name,
                                         bound_at = EXCLUDED.bound_at;  -- no now() here: Citus refuses it
    IF NOT pg_has_role(p_role, 'coditect_analyst', 'MEMBER') THEN
        EXECUTE format('GRANT coditect_analyst TO %I', p_role);
    END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- 5c-catalog-citus. The catalog's code for Citus (as in sql/06_catalog.sql): every NOTIFY through
-- coditect_internal.notify (nothing on a Citus worker), the generated functions name the tenant
-- as a parameter (router queries) and call computed fields outside their statements; every generated
-- function made again, its computed fields called outside the statement
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
REVOKE ALL ON FUNCTION coditect_internal.is_citus_worker(), coditect_internal.notify(text, text) FROM PUBLIC;

-- A statement that answers one row into r: p_head || <the row> || p_tail. With computed fields,
-- and in a RETURNING clause (no p_head), the row goes into v_row first and r is made from it
-- outside the statement (resource_code): Citus refuses to_jsonb (STABLE) in an UPDATE's RETURNING.
CREATE FUNCTION coditect_internal.generated_answer(p_head text, p_tail text, p_hidden text, p_computed text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_computed = '' AND p_head <> '' THEN p_head || 'to_jsonb(t)' || p_hidden || ' INTO r' || p_tail || ';'
                ELSE p_head || 't.* INTO v_row' || p_tail || E';\n    IF FOUND THEN\n        r := to_jsonb(v_row)'
                     || p_hidden || p_computed || E';\n    END IF;' END
$$;

CREATE OR REPLACE FUNCTION coditect_internal.generate_list(r coditect_internal.resources, g coditect_internal.resource_code,
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

CREATE OR REPLACE FUNCTION coditect_internal.generate_row_functions(r coditect_internal.resources, g coditect_internal.resource_code,
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
    r jsonb;%12$s
BEGIN
    %3$s
    PERFORM coditect_internal.api_check_fields(p_body, %4$L);
    PERFORM coditect_internal.api_check_values(%5$L, p_body, %4$L);%6$s
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
                            || coalesce(cols, '{}'), ', '),
            array_to_string(ARRAY['v_tenant']
                            || CASE WHEN r.parent IS NULL THEN '{}'::text[] ELSE ARRAY[format('p_%s_id', r.parent)] END
                            || CASE WHEN vals IS NULL THEN '{}'::text[] ELSE ARRAY[vals] END, ', '),
            CASE WHEN r.after_create IS NULL THEN ''
                 ELSE format(E'\n    PERFORM %s(r);', (SELECT p.oid::regproc::text FROM pg_proc p WHERE p.oid = r.after_create)) END,
            g.hidden, coditect_internal.generated_answer('', '', '', g.computed), v_decl);
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

CREATE OR REPLACE FUNCTION coditect_internal.resource_code(r coditect_internal.resources) RETURNS coditect_internal.resource_code
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

CREATE OR REPLACE FUNCTION coditect_internal.regenerate_resources() RETURNS void
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

CREATE OR REPLACE FUNCTION coditect_internal.register_resource(
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

CREATE OR REPLACE FUNCTION coditect_internal.register_action(
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
    p_secret     boolean DEFAULT false
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
        IF p_answers IS NOT NULL THEN
            RAISE EXCEPTION 'action %.%: p_answers goes with p_as', p_resource, p_name USING ERRCODE = 'CD400';
        END IF;
        fn := p_function::regprocedure;
    ELSE
        fn := coditect_internal.generate_action_wrapper(v_wrapper, p_as, coalesce(p_answers, p_resource));
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
           wrapper = CASE WHEN p_as IS NOT NULL THEN v_wrapper END, secret = p_secret
     WHERE o.resource = p_resource AND o.name = p_name;
    PERFORM coditect_internal.notify('coditect_catalog', 'reload');
END
$$;

CREATE OR REPLACE FUNCTION coditect_internal.register_computed_field(p_resource text, p_name name, p_function regprocedure)
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

CREATE OR REPLACE FUNCTION coditect_internal.register_get_hook(p_resource text, p_function regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = p_function AND p.pronargs = 1
                      AND p.proargtypes[0] = 'uuid'::regtype AND p.prorettype = 'void'::regtype AND NOT p.proretset) THEN
        RAISE EXCEPTION 'get hook of %: % must take the row''s id (uuid) and return void', p_resource, p_function
            USING ERRCODE = 'CD400';
    END IF;
    UPDATE coditect_internal.resources SET after_get = p_function WHERE name = p_resource;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown resource "%"', p_resource USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.generate_resource_functions(p_resource);
    PERFORM coditect_internal.notify('coditect_catalog', 'reload');
END
$$;

CREATE OR REPLACE FUNCTION coditect_internal.register_api_schema(p_name text, p_function regprocedure) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect_internal.api_schemas (name, function) VALUES (p_name, p_function);
    SELECT coditect_internal.notify('coditect_catalog', 'reload');
$$;

-- Computed fields in PL/pgSQL: Citus cannot route a SQL function's statement on its parameters
-- (as in sql/30_pm.sql).
CREATE OR REPLACE FUNCTION coditect_internal.project_tasks_count(p coditect.projects) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT count(*) FROM coditect.tasks t
             WHERE t.tenant_id OPERATOR(pg_catalog.=) p.tenant_id AND t.project_id OPERATOR(pg_catalog.=) p.id
               AND t.deleted_at IS NULL);
END
$$;

SELECT coditect_internal.regenerate_resources();

------------------------------------------------------------------------------------------------
-- 5c-infra. Citus (issue 13): the audit partitions' guards (citus.enable_unsafe_triggers, only
-- what is not in place is altered; as in sql/10_audit.sql); triggers name their table without
-- the shard suffix (trigger_table_name; as in sql/00_base.sql and sql/20_tenancy.sql)
------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION coditect_internal.protect_audit_partitions() RETURNS void
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

CREATE OR REPLACE FUNCTION coditect_internal.sync_global_key() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col      text := TG_ARGV[0];
    v_kind   text := coditect_internal.trigger_table_name(TG_TABLE_NAME) || '.' || TG_ARGV[0];
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
                CONSTRAINT = TG_ARGV[1], COLUMN = col, TABLE = coditect_internal.trigger_table_name(TG_TABLE_NAME),
                SCHEMA = TG_TABLE_SCHEMA;
        END;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION coditect_internal.guard_ownership() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tbl name := coditect_internal.trigger_table_name(TG_TABLE_NAME);
BEGIN
    IF tbl = 'memberships' AND TG_OP = 'UPDATE' THEN
        IF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            RAISE EXCEPTION 'a membership cannot move to another user' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF coditect.current_user_id() IS NOT NULL THEN
        -- Decided after the tenant lock, on what is committed: a concurrent promotion of this
        -- user is seen.
        PERFORM coditect_internal.lock_tenant_for_ownership(coalesce(NEW.tenant_id, OLD.tenant_id));
        IF coditect.current_user_role() IS DISTINCT FROM 'owner'
           AND (coditect_internal.is_owner_row(tbl, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END)
                OR coditect_internal.is_owner_row(tbl, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END)) THEN
            RAISE EXCEPTION 'only an owner can grant or take the owner role, or change an owner account'
                USING ERRCODE = 'CD403';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

------------------------------------------------------------------------------------------------
-- 5c-gkeys. Global keys claimed by the write paths, the trigger only checking on a Citus shard,
-- and their reaper (as in sql/00_base.sql and 20_tenancy.sql)
------------------------------------------------------------------------------------------------

-- AFTER ROW trigger; arguments: column, constraint name reported on a clash, tenant column.
-- A claim follows its row: a changed value, tenant or id moves it. The extension's own write
-- paths claim before they write (global_key_claim) and release after (global_key_release), on
-- the coordinator under Citus; on one node this trigger then finds the claim its row already
-- holds. On a Citus shard (the trigger fires on a worker, where a write to the reference table
-- global_keys is refused and a nested one crashes Citus 13.2.2 at COMMIT PREPARED) it only
-- checks that the new value is claimed by this row; old values of direct SQL writers there are
-- left to reap_global_keys().
CREATE OR REPLACE FUNCTION coditect_internal.sync_global_key() RETURNS trigger
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
    IF on_shard THEN
        IF new_row ->> col IS NOT NULL THEN
            -- The read of the reference table's local placement is a nested distributed
            -- execution here: allowed for this read only.
            nested := pg_catalog.current_setting('citus.allow_nested_distributed_execution');
            PERFORM pg_catalog.set_config('citus.allow_nested_distributed_execution', 'on', true);
            SELECT g.tenant_id, g.row_id INTO holder FROM coditect_internal.global_keys g
             WHERE g.kind = v_kind AND g.value = new_row ->> col;
            PERFORM pg_catalog.set_config('citus.allow_nested_distributed_execution', nested, true);
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
-- claims nothing. Write paths call it before writing the row, in the same transaction.
CREATE FUNCTION coditect_internal.global_key_claim(p_kind text, p_value text, p_tenant uuid, p_row uuid)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
    LOOP
        INSERT INTO coditect_internal.global_keys (kind, value, tenant_id, row_id)
        VALUES (p_kind, p_value, p_tenant, p_row) ON CONFLICT (kind, value) DO NOTHING;
        IF FOUND THEN
            RETURN;
        END IF;
        SELECT g.tenant_id, g.row_id INTO k FROM coditect_internal.global_keys g
         WHERE g.kind = p_kind AND g.value = p_value;
        EXIT WHEN FOUND;  -- else released meanwhile: try again
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

CREATE OR REPLACE FUNCTION coditect.create_tenant(
    p_name               text,
    p_slug               text,
    p_email              text,
    p_owner_email        text,
    p_owner_firebase_uid text DEFAULT NULL,
    p_license_tier       text DEFAULT 'trial'
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t uuid := coditect.uuid_generate_v7();
    u uuid := coditect.uuid_generate_v7();
    m uuid;
BEGIN
    -- Global keys are claimed here, on the coordinator under Citus (00_base, global keys).
    PERFORM coditect_internal.global_key_claim('tenants.slug', p_slug, t, t);
    PERFORM coditect_internal.global_key_claim('users.firebase_uid', p_owner_firebase_uid, t, u);
    INSERT INTO coditect.tenants (id, name, slug, email, license_tier)
    VALUES (t, p_name, p_slug, p_email, p_license_tier::coditect.tenant_tier);
    INSERT INTO coditect.users (tenant_id, id, email, firebase_uid, role)
    VALUES (t, u, p_owner_email, p_owner_firebase_uid, 'owner');
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES (t, u, 'owner') RETURNING id INTO m;
    -- Every sign-up path comes through here (api_register and the service's own).
    PERFORM coditect_internal.audit_event(t, 'user.register', 'User', u::text,
        jsonb_build_object('tenant_id', t, 'membership_id', m, 'role', 'owner', 'license_tier', p_license_tier,
                           'identity', CASE WHEN p_owner_firebase_uid IS NOT NULL THEN 'firebase' ELSE 'email' END));
    RETURN jsonb_build_object('tenant_id', t, 'user_id', u, 'membership_id', m);
END
$$;

------------------------------------------------------------------------------------------------
-- 5c-caches. Hard deletes on Citus (as in sql/00_base.sql and sql/20_tenancy.sql): global keys
-- removed by the purges themselves (sync_global_key leaves them to hard deletes; on Citus it
-- fires on a shard), purge_tenant's deletes routed on the tenant.
CREATE OR REPLACE FUNCTION coditect_internal.sync_global_key() RETURNS trigger
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
            nested := pg_catalog.current_setting('citus.allow_nested_distributed_execution');
            PERFORM pg_catalog.set_config('citus.allow_nested_distributed_execution', 'on', true);
            SELECT g.tenant_id, g.row_id INTO holder FROM coditect_internal.global_keys g
             WHERE g.kind = v_kind AND g.value = new_row ->> col;
            PERFORM pg_catalog.set_config('citus.allow_nested_distributed_execution', nested, true);
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

CREATE OR REPLACE FUNCTION coditect.purge_deleted(p_table regclass, p_older_than interval DEFAULT '30 days')
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

CREATE OR REPLACE FUNCTION coditect.purge_tenant(p_tenant_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.allow_hard_delete(true);
    -- Router queries on the tenant (a parameter). Its global keys first: sync_global_key leaves
    -- them to hard deletes (on Citus it fires on a shard, which cannot write a reference table).
    DELETE FROM coditect_internal.global_keys g WHERE g.tenant_id = p_tenant_id;
    DELETE FROM coditect.tenants WHERE id = p_tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    -- After the tenant's row is gone (a bind_analyst in progress holds it: waited for above).
    DELETE FROM coditect_internal.analyst_bindings b WHERE b.tenant_id = p_tenant_id;
    PERFORM coditect_internal.allow_hard_delete(false);
END
$$;

------------------------------------------------------------------------------------------------
-- 5c-nested. Policy helpers that read other tables run on a Citus worker inside the shard query
-- (as in sql/06_catalog.sql): has_permission in C calling its PL/pgSQL body (the helpers of
-- 42_documents and 84_orders are made so in their sections)
------------------------------------------------------------------------------------------------

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
CREATE OR REPLACE FUNCTION coditect.has_permission(p_codename text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_has_permission' LANGUAGE C STABLE;

------------------------------------------------------------------------------------------------
-- 6. 42_documents (as in sql/42_documents.sql)
------------------------------------------------------------------------------------------------

-- 42_documents: folders, documents, their versions and permissions (issue 10), on the file
-- storage of 40_storage.sql. Access inside a tenant is the database's: row-level security asks
-- coditect_internal.document_level() for every row, so the API, services and analysts see the
-- same documents. Shares and activity are in 44_document_shares.sql.

CREATE TYPE coditect.document_status AS ENUM ('draft', 'published', 'archived', 'deleted');
COMMENT ON TYPE coditect.document_status IS
    'draft -> published -> archived (and back to published); deleted while soft-deleted, a restore makes a draft.';
CREATE TYPE coditect.document_permission_level AS ENUM ('view', 'edit', 'delete', 'admin');
COMMENT ON TYPE coditect.document_permission_level IS
    'view < edit < delete < admin: each level includes the ones before it; admin also manages the permissions.';

------------------------------------------------------------------------------------------------
-- Folders: a tree per tenant, at most 10 deep. path, depth and ancestors are computed.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.folders (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id  uuid,
    parent_id   uuid,
    name        varchar(255) NOT NULL CONSTRAINT folders_name_check CHECK (name ~ '\S' AND name !~ '[/[:cntrl:]]'),
    description text NOT NULL DEFAULT '',
    -- Computed by the database (folder_tree): '/Engineering/Specs', 1 for a top folder, and the
    -- ids from the top folder down to the parent.
    path        varchar(2800) NOT NULL DEFAULT '',
    depth       int NOT NULL DEFAULT 1 CONSTRAINT folders_depth_check CHECK (depth BETWEEN 1 AND 10),
    ancestors   uuid[] NOT NULL DEFAULT '{}',
    created_by  uuid DEFAULT coditect.current_user_id(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES coditect.folders (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.folders', '{tenant_id,project_id}', '{project_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.folders', '{tenant_id,parent_id}', '{parent_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.folders', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.folders IS 'Folders of documents, a tree at most 10 deep.';
COMMENT ON COLUMN coditect.folders.path IS 'The names from the top folder down, "/Engineering/Specs"; computed.';
COMMENT ON COLUMN coditect.folders.depth IS '1 for a top folder, at most 10; computed.';
COMMENT ON COLUMN coditect.folders.ancestors IS 'The ids from the top folder down to the parent; computed.';
-- Names are unique among a parent's live children (the top level included: NULLS NOT DISTINCT).
CREATE UNIQUE INDEX folders_tenant_parent_name_key ON coditect.folders (tenant_id, parent_id, name) NULLS NOT DISTINCT
    WHERE deleted_at IS NULL;
-- A folder's subtree by path prefix (moves rewrite it); lookups by path.
CREATE INDEX folders_tenant_path_idx ON coditect.folders (tenant_id, path text_pattern_ops);
CREATE INDEX folders_tenant_project_idx ON coditect.folders (tenant_id, project_id);
CREATE INDEX folders_tenant_created_idx ON coditect.folders (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- BEFORE INSERT or UPDATE: computes path, depth and ancestors from the parent; refuses a cycle
-- and a tree deeper than 10. Moves and renames in a tenant are serialized (an advisory lock per
-- tenant), so two concurrent moves cannot make a cycle. A parent must be live; a folder with
-- live children or documents cannot be deleted. With a request context: changing a folder needs
-- the edit level on it, deleting or restoring it delete, and putting it into a parent edit on
-- that parent. Definer rights: what the caller may not see counts too (a hidden child keeps a
-- folder from being deleted).
CREATE FUNCTION coditect_internal.folder_tree() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- (Another tenant's row is row-level security's to refuse.)
    me       uuid := CASE WHEN NEW.tenant_id = coditect.current_tenant_id() THEN coditect.current_user_id() END;
    par      record;
    deepest  int;
    moved    boolean := TG_OP = 'INSERT' OR NEW.parent_id IS DISTINCT FROM OLD.parent_id;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- A descendant rewritten by folder_subtree (path, depth and ancestors: no client writes them).
        IF NOT moved AND NEW.name = OLD.name AND NEW.path IS DISTINCT FROM OLD.path THEN
            RETURN NEW;
        END IF;
        IF me IS NOT NULL THEN
            PERFORM coditect_internal.require_level(
                (coditect_internal.document_grant(OLD.tenant_id, NULL, OLD.id, OLD.created_by)).level,
                CASE WHEN NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN 3 ELSE 2 END,
                CASE WHEN NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN 'deleting or restoring a folder' ELSE 'changing a folder' END);
        END IF;
        IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL
           AND (EXISTS (SELECT 1 FROM coditect.folders f WHERE f.tenant_id = NEW.tenant_id AND f.parent_id = NEW.id AND f.deleted_at IS NULL)
                OR EXISTS (SELECT 1 FROM coditect.documents d WHERE d.tenant_id = NEW.tenant_id AND d.folder_id = NEW.id AND d.deleted_at IS NULL)) THEN
            RAISE EXCEPTION 'folder "%" is not empty: delete or move what it holds first', NEW.name USING ERRCODE = 'CD409';
        END IF;
        IF NOT moved AND NEW.name = OLD.name THEN
            RETURN NEW;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('coditect.folders:' || NEW.tenant_id::text, 0));
    IF NEW.parent_id IS NULL THEN
        NEW.path := '/' || NEW.name;
        NEW.depth := 1;
        NEW.ancestors := '{}';
    ELSE
        SELECT f.path, f.depth, f.ancestors, f.deleted_at INTO par
          FROM coditect.folders f WHERE f.tenant_id = NEW.tenant_id AND f.id = NEW.parent_id;
        IF NOT FOUND OR par.deleted_at IS NOT NULL
           OR (me IS NOT NULL AND moved AND coditect_internal.folder_level(NEW.tenant_id, NEW.parent_id) < 1) THEN
            RAISE EXCEPTION 'parent folder % not found', NEW.parent_id USING ERRCODE = 'CD404';
        END IF;
        IF me IS NOT NULL AND moved THEN
            PERFORM coditect_internal.require_level(coditect_internal.folder_level(NEW.tenant_id, NEW.parent_id), 2,
                                                    'putting a folder into another');
        END IF;
        IF NEW.id = NEW.parent_id OR NEW.id = ANY (par.ancestors) THEN
            RAISE EXCEPTION 'a folder cannot move into itself or one of its subfolders' USING ERRCODE = 'CD422';
        END IF;
        NEW.path := par.path || '/' || NEW.name;
        NEW.depth := par.depth + 1;
        NEW.ancestors := par.ancestors || NEW.parent_id;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT max(f.depth) INTO deepest FROM coditect.folders f
         WHERE f.tenant_id = NEW.tenant_id AND OLD.id = ANY (f.ancestors)
           AND f.path LIKE coditect_internal.like_prefix(OLD.path) || '/%';
        IF deepest - OLD.depth + NEW.depth > 10 THEN
            RAISE EXCEPTION 'folders nest at most 10 deep: the move would make % levels', deepest - OLD.depth + NEW.depth
                USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF NEW.depth > 10 THEN
        RAISE EXCEPTION 'folders nest at most 10 deep' USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- A LIKE pattern matching p literally (for path prefixes).
CREATE FUNCTION coditect_internal.like_prefix(p text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace(replace(replace(p, '\', '\\'), '%', '\%'), '_', '\_')
$$;

-- AFTER a move or rename: every descendant's path, depth and ancestors follow, in the same
-- statement (definer rights: a descendant the caller cannot see moves too).
CREATE FUNCTION coditect_internal.folder_subtree() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.path IS DISTINCT FROM OLD.path THEN
        UPDATE coditect.folders f
           SET path = NEW.path || substr(f.path, char_length(OLD.path) + 1),
               depth = f.depth - OLD.depth + NEW.depth,
               ancestors = NEW.ancestors || NEW.id || f.ancestors[cardinality(OLD.ancestors) + 2:]
         WHERE f.tenant_id OPERATOR(pg_catalog.=) NEW.tenant_id AND NEW.id OPERATOR(pg_catalog.=) ANY (f.ancestors)
           AND f.path LIKE coditect_internal.like_prefix(OLD.path) || '/%';
    END IF;
    RETURN NULL;
END
$$;

------------------------------------------------------------------------------------------------
-- Documents and their versions
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.documents (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id      uuid,
    folder_id       uuid,
    title           varchar(500) NOT NULL CHECK (title ~ '\S'),
    description     text NOT NULL DEFAULT '',
    -- The current version's file (kept by document_versions' trigger).
    file_path       varchar(1000),
    file_name       varchar(255),
    file_size_bytes bigint CHECK (file_size_bytes >= 0),
    mime_type       varchar(255),
    checksum        varchar(64) CHECK (checksum ~ '^[0-9a-f]{64}$'),
    version         int NOT NULL DEFAULT 0 CHECK (version >= 0),
    status          coditect.document_status NOT NULL DEFAULT 'draft',
    owner_id        uuid DEFAULT coditect.current_user_id(),
    created_by      uuid DEFAULT coditect.current_user_id(),
    updated_by      uuid DEFAULT coditect.current_user_id(),
    tags            coditect.json_array NOT NULL DEFAULT '[]'
                    CHECK (NOT jsonb_path_exists(tags, 'strict $[*] ? (@.type() != "string")')),
    metadata        coditect.json_object NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id),
    FOREIGN KEY (tenant_id, folder_id) REFERENCES coditect.folders (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, updated_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,project_id}', '{project_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,folder_id}', '{folder_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,owner_id}', '{owner_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,created_by}', '{created_by}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,updated_by}', '{updated_by}');
COMMENT ON TABLE coditect.documents IS 'Documents: a file with its versions, in a folder (or at the top).';
COMMENT ON COLUMN coditect.documents.version IS 'The current version number (0 until the first file).';
COMMENT ON COLUMN coditect.documents.checksum IS 'SHA-256 of the current version (hex).';
COMMENT ON COLUMN coditect.documents.file_path IS 'Where the current version''s bytes are: "db:<sha256>" (stored in PostgreSQL).';
COMMENT ON COLUMN coditect.documents.owner_id IS 'The owner has every right on the document; defaults to its creator.';
-- The seeds' indexes, led by tenant_id.
CREATE INDEX documents_tenant_folder_idx ON coditect.documents (tenant_id, folder_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX documents_tenant_owner_idx ON coditect.documents (tenant_id, owner_id);
CREATE INDEX documents_tenant_checksum_idx ON coditect.documents (tenant_id, checksum);
CREATE INDEX documents_tenant_status_updated_idx ON coditect.documents (tenant_id, status, updated_at DESC);
CREATE INDEX documents_tenant_project_idx ON coditect.documents (tenant_id, project_id) WHERE deleted_at IS NULL;
CREATE INDEX documents_tenant_created_idx ON coditect.documents (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
-- "The same document" for an upload: a live document of that file name in that folder.
CREATE INDEX documents_tenant_folder_name_idx ON coditect.documents (tenant_id, folder_id, lower(file_name))
    WHERE deleted_at IS NULL;

CREATE TABLE coditect.document_versions (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id     uuid NOT NULL,
    version_number  int NOT NULL,
    blob_id         uuid NOT NULL,
    file_path       varchar(1000) NOT NULL,
    file_name       varchar(255) NOT NULL,
    file_size_bytes bigint NOT NULL CHECK (file_size_bytes >= 0),
    mime_type       varchar(255) NOT NULL,
    checksum        varchar(64) NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    change_summary  text NOT NULL DEFAULT '',
    created_by      uuid DEFAULT coditect.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT document_versions_number_key UNIQUE (tenant_id, document_id, version_number),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_versions', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.document_versions IS 'Every file a document has had, numbered 1, 2, 3, ... without gaps.';
CREATE INDEX document_versions_blob_idx ON coditect.document_versions (tenant_id, blob_id);

-- BEFORE INSERT: the next number of the document, taken under the document row's lock (so
-- concurrent uploads get consecutive numbers and a rolled-back one gives its number back), and
-- the document shows the new file. AFTER DELETE: the version's hold on its bytes goes.
CREATE FUNCTION coditect_internal.number_document_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- A variable, not the call inside coalesce: Citus refuses a non-immutable function in a
    -- CASE or COALESCE of a statement it routes (this one runs on the document's shard).
    v_user uuid := coditect.current_user_id();
BEGIN
    UPDATE coditect.documents d
       SET version = d.version + 1, file_path = NEW.file_path, file_name = NEW.file_name,
           file_size_bytes = NEW.file_size_bytes, mime_type = NEW.mime_type, checksum = NEW.checksum,
           updated_by = coalesce(v_user, d.updated_by)
     WHERE d.tenant_id OPERATOR(pg_catalog.=) NEW.tenant_id AND d.id OPERATOR(pg_catalog.=) NEW.document_id
    RETURNING d.version INTO NEW.version_number;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % not found', NEW.document_id USING ERRCODE = 'CD404';
    END IF;
    RETURN NEW;
END
$$;


------------------------------------------------------------------------------------------------
-- Permissions inside a tenant
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.document_permissions (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id      uuid,
    folder_id        uuid,
    user_id          uuid,
    team_id          uuid,
    permission_level coditect.document_permission_level NOT NULL DEFAULT 'view',
    granted_by       uuid DEFAULT coditect.current_user_id(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    -- On a document or on a folder, to a user or to a team. A grant goes with what it names
    -- (CASCADE: the seeds' SET_NULL would leave a grant on nothing).
    CONSTRAINT document_permissions_target_check CHECK (num_nonnulls(document_id, folder_id) = 1),
    CONSTRAINT document_permissions_grantee_check CHECK (num_nonnulls(user_id, team_id) = 1),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, folder_id) REFERENCES coditect.folders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, team_id) REFERENCES coditect.teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, granted_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_permissions', '{tenant_id,granted_by}', '{granted_by}');
COMMENT ON TABLE coditect.document_permissions IS
    'Grants on a document or a folder (inherited by what it holds) to a user or a team, until expires_at.';
-- One grant per target and grantee; the seeds' (document, user) and (folder, team) indexes.
CREATE UNIQUE INDEX document_permissions_grant_key
    ON coditect.document_permissions (tenant_id, document_id, folder_id, user_id, team_id) NULLS NOT DISTINCT;
CREATE INDEX document_permissions_folder_team_idx ON coditect.document_permissions (tenant_id, folder_id, team_id);
CREATE INDEX document_permissions_user_idx ON coditect.document_permissions (tenant_id, user_id);
CREATE INDEX document_permissions_team_idx ON coditect.document_permissions (tenant_id, team_id);


-- The caller's level on a document or folder (0 none, 1 view, 2 edit, 3 delete, 4 admin) and
-- where it comes from. Owners and admins of the tenant: admin ('role'); the document's owner or
-- the folder's creator: admin ('owner'); otherwise the document's own grants when it has any
-- unexpired one ('document'), else those of the nearest folder above it (or of the folder
-- itself) that has one ('folder', source_id naming it): the highest level among the grants
-- naming the caller or one of the caller's teams, none when they name others only. An analyst
-- (a bound login, no user) reads everything of its tenant ('analyst'). Definer rights: grants,
-- teams and folders are read whoever asks, for the context's tenant only. p_document NULL asks
-- for the folder p_folder itself.
CREATE FUNCTION coditect_internal.document_grant(p_tenant uuid, p_document uuid, p_folder uuid, p_owner uuid,
                                                 OUT level int, OUT source text, OUT source_id uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me    uuid := coditect.current_user_id();
    teams uuid[];
    chain uuid[];
    n     bigint;
BEGIN
    level := 0;
    IF p_tenant IS NULL OR p_tenant IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN;
    ELSIF me IS NULL THEN
        level := 1;
        source := 'analyst';
        RETURN;
    ELSIF coditect.current_user_role() IN ('owner', 'admin') THEN
        level := 4;
        source := 'role';
        RETURN;
    ELSIF p_owner = me THEN
        level := 4;
        source := 'owner';
        source_id := coalesce(p_document, p_folder);
        RETURN;
    END IF;
    teams := coditect_internal.my_teams();  -- p_tenant is the context's (checked above)
    IF p_document IS NOT NULL THEN
        SELECT count(*), max(array_position(enum_range(NULL::coditect.document_permission_level), p.permission_level))
                             FILTER (WHERE p.user_id = me OR p.team_id = ANY (teams))
          INTO n, level
          FROM coditect.document_permissions p
         WHERE p.tenant_id = p_tenant AND p.document_id = p_document AND (p.expires_at IS NULL OR p.expires_at > now());
        IF n > 0 THEN
            level := coalesce(level, 0);
            source := 'document';
            source_id := p_document;
            RETURN;
        END IF;
    END IF;
    IF p_folder IS NOT NULL THEN
        SELECT f.ancestors || f.id INTO chain FROM coditect.folders f WHERE f.tenant_id = p_tenant AND f.id = p_folder;
        SELECT p.folder_id,
               max(array_position(enum_range(NULL::coditect.document_permission_level), p.permission_level))
                   FILTER (WHERE p.user_id = me OR p.team_id = ANY (teams))
          INTO source_id, level
          FROM coditect.document_permissions p
         WHERE p.tenant_id = p_tenant AND p.folder_id = ANY (chain) AND (p.expires_at IS NULL OR p.expires_at > now())
         GROUP BY p.folder_id
         ORDER BY array_position(chain, p.folder_id) DESC
         LIMIT 1;
        IF source_id IS NOT NULL THEN
            level := coalesce(level, 0);
            source := 'folder';
            RETURN;
        END IF;
    END IF;
    level := 0;
END
$$;

-- The caller's level on a folder or a document, by its id (for policies and triggers on what a
-- folder holds or a document has). C (src_ext/pg_nested_read.cpp) calling the PL/pgSQL *_body,
-- so that on a Citus worker the reads run inside the shard query. PL/pgSQL, the grant computed
-- outside the statement: Citus cannot plan a SQL function's statement on a distributed table
-- (its parameters), and would run document_grant's own reads on the shard.
CREATE FUNCTION coditect_internal.folder_level_body(p_tenant uuid, p_folder uuid) RETURNS int
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_owner uuid;
BEGIN
    SELECT f.created_by INTO v_owner FROM coditect.folders f
     WHERE f.tenant_id OPERATOR(pg_catalog.=) p_tenant AND f.id OPERATOR(pg_catalog.=) p_folder;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN coalesce((coditect_internal.document_grant(p_tenant, NULL, p_folder, v_owner)).level, 0);
END
$$;
CREATE FUNCTION coditect_internal.document_level_body(p_tenant uuid, p_document uuid) RETURNS int
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_folder uuid;
    v_owner  uuid;
BEGIN
    SELECT d.folder_id, d.owner_id INTO v_folder, v_owner FROM coditect.documents d
     WHERE d.tenant_id OPERATOR(pg_catalog.=) p_tenant AND d.id OPERATOR(pg_catalog.=) p_document;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN coalesce((coditect_internal.document_grant(p_tenant, p_document, v_folder, v_owner)).level, 0);
END
$$;
CREATE FUNCTION coditect_internal.folder_level(p_tenant uuid, p_folder uuid) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_folder_level' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.document_level(p_tenant uuid, p_document uuid) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_document_level' LANGUAGE C STABLE;

-- What the caller's grants reach, as sets a query computes once (through the read policies' *_granted
-- functions below) instead of per row: the documents with grants of their own (for anyone), those of them whose
-- grants name the caller or a team of the caller, and the folders whose nearest folder with
-- grants (itself or above) names the caller or a team of the caller. The same rule as
-- document_grant(); any grant gives at least view. Unexpired grants only; the context's tenant.
-- PL/pgSQL, the context's tenant in a variable: on a Citus worker (inside a shard query) Citus
-- routes each read to the tenant's shard here by that value (a function call in the statement
-- would send it to every shard; a SQL function's parameter it cannot plan).
CREATE FUNCTION coditect_internal.my_teams() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    v_user   uuid := coditect.current_user_id();
    v_teams  uuid[];
BEGIN
    IF v_tenant IS NULL THEN
        RETURN '{}';
    END IF;
    SELECT coalesce(array_agg(tm.team_id), '{}') INTO v_teams FROM coditect.team_members tm
     WHERE tm.tenant_id = v_tenant AND tm.user_id = v_user;
    RETURN v_teams;
END
$$;
CREATE FUNCTION coditect_internal.granted_documents(p_mine boolean) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    v_user   uuid := coditect.current_user_id();
    v_teams  uuid[];
    v_ids    uuid[];
BEGIN
    IF v_tenant IS NULL THEN
        RETURN '{}';
    END IF;
    IF p_mine THEN
        v_teams := coditect_internal.my_teams();
    END IF;
    SELECT coalesce(array_agg(DISTINCT p.document_id), '{}') INTO v_ids FROM coditect.document_permissions p
     WHERE p.tenant_id = v_tenant AND p.document_id IS NOT NULL
       AND (p.expires_at IS NULL OR p.expires_at > now())
       AND (NOT p_mine OR p.user_id = v_user OR p.team_id = ANY (v_teams));
    RETURN v_ids;
END
$$;
CREATE FUNCTION coditect_internal.granted_folders() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    v_user   uuid := coditect.current_user_id();
    v_teams  uuid[];
    v_ids    uuid[];
BEGIN
    IF v_tenant IS NULL THEN
        RETURN '{}';
    END IF;
    v_teams := coditect_internal.my_teams();
    WITH granted AS (
        SELECT p.folder_id, bool_or(p.user_id = v_user OR p.team_id = ANY (v_teams)) AS mine
          FROM coditect.document_permissions p
         WHERE p.tenant_id = v_tenant AND p.folder_id IS NOT NULL
           AND (p.expires_at IS NULL OR p.expires_at > now())
         GROUP BY p.folder_id)
    SELECT coalesce(array_agg(f.id), '{}') INTO v_ids
      FROM coditect.folders f
     CROSS JOIN LATERAL (SELECT g.mine FROM unnest(f.ancestors || f.id) WITH ORDINALITY a(id, n)
                           JOIN granted g ON g.folder_id = a.id ORDER BY a.n DESC LIMIT 1) nearest
     WHERE f.tenant_id = v_tenant AND nearest.mine;
    RETURN v_ids;
END
$$;

-- The read policies' tests on those sets, a function call per row (policies hold no subquery:
-- Citus refuses them) that still reads each set once per query: C, keeping the sets of its first
-- call in the query's memory (src_ext/pg_granted.cpp). folder_granted: the folder is in
-- granted_folders(); document_granted: the document is in granted_documents(true), or its folder
-- in granted_folders() and it is not in granted_documents(false). False for another tenant's row.
CREATE FUNCTION coditect_internal.folder_granted(p_tenant uuid, p_folder uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_folder_granted' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.document_granted(p_tenant uuid, p_document uuid, p_folder uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_document_granted' LANGUAGE C STABLE;

-- The policies call these as whoever reads or writes.
GRANT EXECUTE ON FUNCTION coditect_internal.document_grant(uuid, uuid, uuid, uuid), coditect_internal.folder_level(uuid, uuid),
    coditect_internal.document_level(uuid, uuid), coditect_internal.my_teams(), coditect_internal.granted_documents(boolean),
    coditect_internal.granted_folders(), coditect_internal.folder_granted(uuid, uuid),
    coditect_internal.document_granted(uuid, uuid, uuid) TO coditect_gateway, coditect_service, coditect_analyst;

-- Reading: row-level security beyond the tenant (restrictive policies, ANDed with
-- tenant_isolation) shows a row to whoever holds the view level on it. Writing: the triggers
-- below ask for the level each change needs and refuse with CD403 naming it (a policy would
-- make a refused UPDATE or DELETE silently change nothing).
ALTER TABLE coditect.folders ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
-- The rule of document_grant(), with the grants' reach computed once per query (the *_granted
-- functions above).
CREATE POLICY folder_read ON coditect.folders AS RESTRICTIVE FOR SELECT
    USING (coditect.current_user_role() IN ('owner', 'admin') OR coditect.current_user_id() IS NULL
           OR created_by = coditect.current_user_id()
           OR coditect_internal.folder_granted(tenant_id, id));
ALTER TABLE coditect.documents ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY document_read ON coditect.documents AS RESTRICTIVE FOR SELECT
    USING (coditect.current_user_role() IN ('owner', 'admin') OR coditect.current_user_id() IS NULL
           OR owner_id = coditect.current_user_id()
           OR coditect_internal.document_granted(tenant_id, id, folder_id));
ALTER TABLE coditect.document_versions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY document_version_read ON coditect.document_versions AS RESTRICTIVE FOR SELECT
    USING (coditect.current_user_role() IN ('owner', 'admin') OR coditect_internal.document_level(tenant_id, document_id) >= 1);

-- The level a grant's target gives the caller.
CREATE FUNCTION coditect_internal.grant_target_level(p_tenant uuid, p_document uuid, p_folder uuid) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_document IS NOT NULL THEN coditect_internal.document_level(p_tenant, p_document)
                ELSE coditect_internal.folder_level(p_tenant, p_folder) END
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.grant_target_level(uuid, uuid, uuid)
    TO coditect_gateway, coditect_service, coditect_analyst;
ALTER TABLE coditect.document_permissions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY document_permission_read ON coditect.document_permissions AS RESTRICTIVE FOR SELECT
    USING (coditect.current_user_role() IN ('owner', 'admin')
           OR coditect_internal.grant_target_level(tenant_id, document_id, folder_id) >= 1);

-- Refuses, for a caller with a request context, a change that needs more than p_have.
CREATE FUNCTION coditect_internal.require_level(p_have int, p_need int, p_what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_have < p_need THEN
        RAISE EXCEPTION '% needs the % level', p_what, (enum_range(NULL::coditect.document_permission_level))[p_need]
            USING ERRCODE = 'CD403';
    END IF;
END
$$;

GRANT EXECUTE ON FUNCTION coditect_internal.require_level(int, int, text) TO coditect_gateway, coditect_service;

-- BEFORE INSERT, UPDATE or DELETE of a grant: the admin level on what it names.
CREATE FUNCTION coditect_internal.document_permission_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r coditect.document_permissions := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    -- (A row of another tenant is row-level security's to refuse.)
    IF coditect.current_user_id() IS NOT NULL AND r.tenant_id = coditect.current_tenant_id() THEN
        PERFORM coditect_internal.require_level(coditect_internal.grant_target_level(r.tenant_id, r.document_id, r.folder_id), 4,
                                                'managing the permissions of a document or folder');
    END IF;
    RETURN r;
END
$$;

------------------------------------------------------------------------------------------------
-- Rules of documents: status, deletion, ownership, who edited
------------------------------------------------------------------------------------------------

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('document', NULL,        'draft',     NULL),
    ('document', NULL,        'published', NULL),
    ('document', 'draft',     'published', NULL),
    ('document', 'published', 'draft',     NULL),
    ('document', 'published', 'archived',  NULL),
    ('document', 'archived',  'published', NULL),
    ('document', 'draft',     'deleted',   NULL),
    ('document', 'published', 'deleted',   NULL),
    ('document', 'archived',  'deleted',   NULL),
    ('document', 'deleted',   'draft',     NULL);

-- BEFORE INSERT or UPDATE (named to run before enforce_transition). The status "deleted" and the
-- soft delete are one thing: setting either sets the other, a restore (either way) makes a
-- draft. With a request context: a document goes into a folder only with the edit level on it
-- (a folder the caller cannot see is not found); changing a document needs the edit level on
-- it, deleting or restoring it delete, giving it to another owner admin; a move must leave the
-- caller the edit level (nobody moves a document out of their own reach by mistake); updated_by
-- is the caller.
CREATE FUNCTION coditect_internal.document_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me   uuid := coditect.current_user_id();
    need int := 2;
    what text := 'changing a document';
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        me := NULL;  -- another tenant's row: row-level security's to refuse
    END IF;
    IF me IS NOT NULL AND NEW.folder_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.folder_id IS DISTINCT FROM OLD.folder_id) THEN
        IF coditect_internal.folder_level(NEW.tenant_id, NEW.folder_id) < 1 THEN
            RAISE EXCEPTION 'folder % not found', NEW.folder_id USING ERRCODE = 'CD404';
        END IF;
        PERFORM coditect_internal.require_level(coditect_internal.folder_level(NEW.tenant_id, NEW.folder_id), 2,
                                                'putting a document into a folder');
    END IF;
    IF TG_OP = 'INSERT' THEN
        RETURN NEW;
    END IF;
    IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
        NEW.status := 'deleted';
    ELSIF NEW.deleted_at IS NULL AND OLD.deleted_at IS NOT NULL THEN
        NEW.status := 'draft';
    ELSIF NEW.status = 'deleted' AND OLD.status <> 'deleted' THEN
        NEW.deleted_at := now();
    ELSIF OLD.status = 'deleted' AND NEW.status <> 'deleted' THEN
        NEW.deleted_at := NULL;
    END IF;
    IF me IS NOT NULL THEN
        NEW.updated_by := me;
        IF NEW.owner_id IS DISTINCT FROM OLD.owner_id THEN
            need := 4;
            what := 'giving a document to another owner';
        ELSIF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
            need := 3;
            what := 'deleting or restoring a document';
        END IF;
        PERFORM coditect_internal.require_level(
            (coditect_internal.document_grant(OLD.tenant_id, OLD.id, OLD.folder_id, OLD.owner_id)).level, need, what);
        IF NEW.folder_id IS DISTINCT FROM OLD.folder_id THEN
            PERFORM coditect_internal.require_level(
                (coditect_internal.document_grant(NEW.tenant_id, NEW.id, NEW.folder_id, NEW.owner_id)).level, 2,
                'moving a document where its edit level would be lost');
        END IF;
    END IF;
    RETURN NEW;
END
$$;

------------------------------------------------------------------------------------------------
-- Resources
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.folders', 'folder',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member", "restore": "admin"}',
    p_create => '{project_id,parent_id,name,description}', p_update => '{project_id,parent_id,name,description}',
    p_filters => '{"parent_id": ["exact", "isnull"], "project_id": ["exact"], "name": ["exact"], "path": ["exact"],
                   "depth": ["exact", "lte"], "ancestors": ["contains"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name,path}', p_search => '{name,description}',
    p_example => '{"name": "Specs", "description": "Design documents"}');
-- path, depth and ancestors are the tree trigger's.
REVOKE INSERT, UPDATE ON coditect.folders FROM coditect_gateway, coditect_service;
GRANT INSERT (tenant_id, id, project_id, parent_id, name, description, created_by, deleted_at),
      UPDATE (project_id, parent_id, name, description, deleted_at)
    ON coditect.folders TO coditect_gateway, coditect_service;
CREATE TRIGGER folder_tree BEFORE INSERT OR UPDATE ON coditect.folders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.folder_tree();
CREATE TRIGGER folder_subtree AFTER UPDATE ON coditect.folders
    FOR EACH ROW WHEN (OLD.parent_id IS DISTINCT FROM NEW.parent_id OR OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION coditect_internal.folder_subtree();
ALTER TABLE coditect.folders ENABLE ALWAYS TRIGGER folder_tree, ENABLE ALWAYS TRIGGER folder_subtree;

SELECT coditect_internal.register_resource('coditect.documents', 'document', p_state_machine => 'document',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member", "restore": "admin"}',
    p_create => '{project_id,folder_id,title,description,status,tags,metadata}',
    p_update => '{project_id,folder_id,title,description,status,owner_id,tags,metadata}',
    p_filters => '{"folder_id": ["exact", "isnull"], "project_id": ["exact"], "owner_id": ["exact"], "status": ["exact", "in"],
                   "checksum": ["exact"], "mime_type": ["exact", "in"], "tags": ["contains"], "created_at": ["gte", "lt"],
                   "updated_at": ["gte", "lt"]}',
    p_orderings => '{created_at,updated_at,title}', p_search => '{title,description,tags}',
    p_also_under => '{"project": "project_id", "folder": "folder_id"}',
    p_example => '{"title": "Architecture overview", "description": "How the pieces fit", "tags": ["design"]}');
-- The file fields and version are the versions' (uploads); the people fields the database's.
REVOKE INSERT, UPDATE ON coditect.documents FROM coditect_gateway, coditect_service;
GRANT INSERT (tenant_id, id, project_id, folder_id, title, description, status, tags, metadata, deleted_at),
      UPDATE (project_id, folder_id, title, description, status, owner_id, tags, metadata, deleted_at)
    ON coditect.documents TO coditect_gateway, coditect_service;
CREATE TRIGGER document_rules BEFORE INSERT OR UPDATE ON coditect.documents
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_rules();
ALTER TABLE coditect.documents ENABLE ALWAYS TRIGGER document_rules;

SELECT coditect_internal.register_resource('coditect.document_versions', 'document_version',
    p_parent => 'document', p_parent_column => 'document_id', p_path => '/api/v1/documents/{document_id}/versions/',
    p_roles => '{"view": "guest"}', p_writable => false,
    p_filters => '{"version_number": ["exact", "gte", "lte"], "checksum": ["exact"], "created_at": ["gte", "lt"]}',
    p_orderings => '{version_number,created_at}', p_default_ordering => '-version_number');
CREATE TRIGGER number_document_version BEFORE INSERT ON coditect.document_versions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.number_document_version();
CREATE TRIGGER release_held_blob AFTER DELETE ON coditect.document_versions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.release_held_blob();
ALTER TABLE coditect.document_versions ENABLE ALWAYS TRIGGER number_document_version,
    ENABLE ALWAYS TRIGGER release_held_blob;

-- Grants are managed by whoever holds admin on what they name (the policies); members may try.
SELECT coditect_internal.register_resource('coditect.document_permissions', 'document_permission',
    p_path => '/api/v1/document-permissions/',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{document_id,folder_id,user_id,team_id,permission_level,expires_at}',
    p_update => '{permission_level,expires_at}',
    p_filters => '{"document_id": ["exact"], "folder_id": ["exact"], "user_id": ["exact"], "team_id": ["exact"],
                   "permission_level": ["exact", "in"], "expires_at": ["isnull", "lt", "gte"]}',
    p_orderings => '{created_at}',
    p_example => '{"document_id": "0190a6e5-7b1c-7cc3-9b2e-1234567890ab", "user_id": "0190a6e5-7b1c-7cc3-9b2e-1234567890ac",
                   "permission_level": "edit", "expires_at": "2027-12-31T00:00:00Z"}');
REVOKE INSERT, UPDATE ON coditect.document_permissions FROM coditect_gateway, coditect_service;
CREATE TRIGGER document_permission_rules BEFORE INSERT OR UPDATE OR DELETE ON coditect.document_permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_permission_rules();
ALTER TABLE coditect.document_permissions ENABLE ALWAYS TRIGGER document_permission_rules;
-- permission.grant / permission.revoke events (11_audit_events).
CREATE TRIGGER audit_grant_change
    AFTER INSERT OR UPDATE OF permission_level, document_id, folder_id, user_id, team_id OR DELETE
    ON coditect.document_permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_grant_change('document_grant');
ALTER TABLE coditect.document_permissions ENABLE ALWAYS TRIGGER audit_grant_change;
GRANT INSERT (tenant_id, id, document_id, folder_id, user_id, team_id, permission_level, expires_at),
      UPDATE (permission_level, expires_at)
    ON coditect.document_permissions TO coditect_gateway, coditect_service;

-- Detail answers of projects carry documents_count (the seeds' frontend contract): the live
-- documents of the project the caller may see.
-- PL/pgSQL, not SQL: Citus cannot route a SQL function's statement on its parameters.
CREATE FUNCTION coditect_internal.project_documents_count(p coditect.projects) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT count(*) FROM coditect.documents d
             WHERE d.tenant_id OPERATOR(pg_catalog.=) p.tenant_id AND d.project_id OPERATOR(pg_catalog.=) p.id
               AND d.deleted_at IS NULL);
END
$$;
COMMENT ON FUNCTION coditect_internal.project_documents_count(coditect.projects) IS
    'The project''s live documents that the caller may see.';
SELECT coditect_internal.register_computed_field('project', 'documents_count',
    'coditect_internal.project_documents_count(coditect.projects)');

------------------------------------------------------------------------------------------------
-- Access, download, and what an upload makes
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.document_access_grant AS (
    document_id uuid,
    level       coditect.document_permission_level,
    source      text,
    source_id   uuid
);
COMMENT ON TYPE coditect.document_access_grant IS
    'The caller''s level on a document and where it comes from: role (tenant owner or admin), owner, document (its own grants), folder (source_id: the nearest folder with grants), analyst.';

-- The caller's effective level on a document and its source; CD404 for one the caller cannot see.
CREATE FUNCTION coditect.document_access(p_document uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    d record;
    g record;
BEGIN
    PERFORM coditect.require_permission('document.view');
    SELECT x.tenant_id, x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
     WHERE x.tenant_id = v_tenant AND x.id = p_document AND x.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % not found', p_document USING ERRCODE = 'CD404';
    END IF;
    g := coditect_internal.document_grant(d.tenant_id, d.id, d.folder_id, d.owner_id);
    RETURN jsonb_build_object('document_id', d.id, 'level', (enum_range(NULL::coditect.document_permission_level))[g.level],
                              'source', g.source, 'source_id', g.source_id);
END
$$;
REVOKE ALL ON FUNCTION coditect.document_access(uuid) FROM PUBLIC;
SELECT coditect_internal.register_action('document', 'access', 'coditect.document_access(uuid)',
    'GET', '/api/v1/documents/{id}/access/', '[{"from": "path", "name": "id"}]',
    p_permission => 'document.view', p_response => '{"type": "document_access_grant"}',
    p_summary => 'The caller''s level on the document and where it comes from');

-- GET /api/v1/documents/{id}/content[?version=n]: the one access decision of a download (view
-- level, under the policies), answering what the gateway streams (storage's "content" protocol).
-- Recorded as the document's activity "downloaded" (44_document_shares.sql) and audited as
-- data.export (11_audit_events.sql), so the operation writes although it is a GET.
CREATE FUNCTION coditect.document_download(p_id uuid, p_version int DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v coditect.document_versions;
BEGIN
    PERFORM coditect.require_permission('document.view');
    SELECT x.* INTO v FROM coditect.documents d
      JOIN coditect.document_versions x ON x.tenant_id = d.tenant_id AND x.document_id = d.id
     WHERE d.id = p_id AND d.deleted_at IS NULL AND x.version_number = coalesce(p_version, d.version);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % has no version %', p_id, coalesce(p_version::text, 'yet') USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.record_document_read(p_id, 'downloaded', v.version_number);
    PERFORM coditect_internal.record_export('Document', p_id, v.version_number, v.file_name, v.file_size_bytes);
    RETURN coditect_internal.content_answer(v.blob_id, v.file_size_bytes, v.checksum, v.mime_type, v.file_name);
END
$$;
SELECT coditect_internal.register_action('document', 'download', 'coditect.document_download(uuid, int)',
    'GET', '/api/v1/documents/{id}/content',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "version", "also_query": true}]',
    p_permission => 'document.view', p_response => '{"protocol": "content"}', p_writes => true,
    p_summary => 'The document''s file (the current version, or ?version=n), streamed (Range, ETag: its SHA-256)');

-- Upload targets (storage's hook, 40_storage.sql). target_kind "document": with target_id, the
-- next version of that document (edit level on it); without, a new document from the metadata
-- folder_id, project_id, title (default: the file name), description; or, when a live document
-- of that file name is in that folder and the caller may edit it, its next version: "the same
-- document" is the same folder (or the top) and the same file name, letter case aside. A file
-- whose bytes are those of the current version makes no version. change_summary is kept on the
-- version. Checked when the upload is declared and again when it completes.
CREATE FUNCTION coditect_internal.document_upload_target(p_tenant uuid, p_id uuid, p_metadata jsonb, p_filename text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d      record;
    folder uuid;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
         WHERE x.tenant_id = p_tenant AND x.id = p_id AND x.deleted_at IS NULL;
        IF NOT FOUND OR (coditect_internal.document_grant(p_tenant, d.id, d.folder_id, d.owner_id)).level < 1 THEN
            RAISE EXCEPTION 'document % not found', p_id USING ERRCODE = 'CD404';
        ELSIF (coditect_internal.document_grant(p_tenant, d.id, d.folder_id, d.owner_id)).level < 2 THEN
            RAISE EXCEPTION 'a new version needs the edit level on the document' USING ERRCODE = 'CD403';
        END IF;
        RETURN d.id;
    END IF;
    PERFORM coditect.require_permission('document.create');
    BEGIN
        folder := (p_metadata ->> 'folder_id')::uuid;
        PERFORM (p_metadata ->> 'project_id')::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
        RAISE EXCEPTION 'folder_id and project_id must be UUIDs' USING ERRCODE = 'CD400';
    END;
    IF folder IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM coditect.folders f WHERE f.tenant_id = p_tenant AND f.id = folder AND f.deleted_at IS NULL)
           OR coditect_internal.folder_level(p_tenant, folder) < 1 THEN
            RAISE EXCEPTION 'folder % not found', folder USING ERRCODE = 'CD404';
        ELSIF coditect_internal.folder_level(p_tenant, folder) < 2 THEN
            RAISE EXCEPTION 'a new document needs the edit level on its folder' USING ERRCODE = 'CD403';
        END IF;
    END IF;
    IF p_filename IS NULL THEN
        RETURN NULL;
    END IF;
    FOR d IN SELECT x.id, x.folder_id, x.owner_id FROM coditect.documents x
              WHERE x.tenant_id = p_tenant AND x.folder_id IS NOT DISTINCT FROM folder
                AND lower(x.file_name) = lower(p_filename) AND x.deleted_at IS NULL
              ORDER BY x.created_at LOOP
        IF (coditect_internal.document_grant(p_tenant, d.id, d.folder_id, d.owner_id)).level >= 2 THEN
            RETURN d.id;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION coditect_internal.document_upload_check(p_id uuid, p_metadata jsonb) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT FROM coditect_internal.document_upload_target(coditect.current_tenant_id(), p_id, p_metadata, NULL)
$$;

-- At completion, in the upload's transaction: the document (found or made) gets the file as its
-- next version, which takes over the upload's hold on the bytes (or lets it go when the bytes
-- are the current version's). Answers {document_id, version_number, created}.
CREATE FUNCTION coditect_internal.document_upload_completed(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    doc  uuid := coditect_internal.document_upload_target(s.tenant_id, s.target_id, s.metadata, s.filename);
    sha  text;
    cur  record;
    v    int;
BEGIN
    SELECT encode(b.sha256, 'hex') INTO STRICT sha FROM coditect.storage_blobs b WHERE b.tenant_id = s.tenant_id AND b.id = s.blob_id;
    IF doc IS NULL THEN
        INSERT INTO coditect.documents (tenant_id, project_id, folder_id, title, description)
        VALUES (s.tenant_id, (s.metadata ->> 'project_id')::uuid, (s.metadata ->> 'folder_id')::uuid,
                left(coalesce(nullif(btrim(s.metadata ->> 'title'), ''), s.filename, 'Untitled'), 500),
                coalesce(s.metadata ->> 'description', ''))
        RETURNING id INTO doc;
    END IF;
    SELECT d.version, d.checksum INTO cur FROM coditect.documents d WHERE d.tenant_id = s.tenant_id AND d.id = doc FOR UPDATE;
    IF cur.checksum = sha THEN
        PERFORM coditect_internal.storage_release(s.tenant_id, s.blob_id);
        RETURN jsonb_build_object('document_id', doc, 'version_number', cur.version, 'created', false);
    END IF;
    INSERT INTO coditect.document_versions (tenant_id, document_id, version_number, blob_id, file_path, file_name,
                                            file_size_bytes, mime_type, checksum, change_summary)
    VALUES (s.tenant_id, doc, 0, s.blob_id, 'db:' || sha, coalesce(s.filename, 'file'), s.upload_length,
            s.content_type, sha, coalesce(s.metadata ->> 'change_summary', ''))
    RETURNING version_number INTO v;
    RETURN jsonb_build_object('document_id', doc, 'version_number', v, 'created', true);
END
$$;
SELECT coditect_internal.register_upload_target('document', 'coditect_internal.document_upload_check(uuid, jsonb)',
    'coditect_internal.document_upload_completed(coditect.upload_sessions)');
------------------------------------------------------------------------------------------------
-- 7. 44_document_shares (as in sql/44_document_shares.sql)
------------------------------------------------------------------------------------------------

-- 44_document_shares: public links to documents (shares) and what happens to documents
-- (activity), issue 10 items 6 and 7, on the documents of 42_documents.sql.
--
-- A share's token is 128 random bits (C++, OpenSSL's CSPRNG), given to its creator once and
-- stored only as its SHA-256, which is claimed in coditect_internal.global_keys: the public
-- functions find the tenant from the hash there (definer rights), and no login can probe
-- another tenant's hashes through an index. A password is stored as a scrypt hash. A wrong
-- password, an expiry, a revocation, a lockout and an unknown token all answer NULL, which the
-- catalog publishes as the same 404 ("null_answer"): the function returns normally so that a
-- wrong password's count is committed.
--
-- Activity is one table, written only by definer functions: changes by triggers on documents,
-- their versions and shares (one entry per change: an upload's version makes "uploaded", never
-- also "edited"), reads explicitly (the document get's hook, downloads, share accesses), with the
-- request context's IP and user agent (or, for a public share, the request's).

CREATE TYPE coditect.document_share_level AS ENUM ('view', 'download');
COMMENT ON TYPE coditect.document_share_level IS
    'view: the shared document''s description (title, file name, size, type, version); download: also its file.';
CREATE TYPE coditect.document_activity_action AS ENUM (
    'viewed', 'downloaded', 'uploaded', 'edited', 'deleted', 'restored', 'shared');
COMMENT ON TYPE coditect.document_activity_action IS
    'viewed (a detail read or a share opened), downloaded (the file, by a member or through a share), uploaded (a new version), edited, deleted, restored, shared (a public link made).';

-- The tenant's cap on a share's life (a tenant setting: admins change it with PATCH /api/v1/tenant/).
ALTER TABLE coditect.tenants ADD COLUMN share_max_days int NOT NULL DEFAULT 30
    CONSTRAINT tenants_share_max_days_check CHECK (share_max_days BETWEEN 1 AND 365);
COMMENT ON COLUMN coditect.tenants.share_max_days IS
    'The longest a public document share may last, in days (1 to 365; default 30).';
INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update)
VALUES ('tenant', 'share_max_days', true, false, true);
GRANT UPDATE (share_max_days) ON coditect.tenants TO coditect_gateway;
SELECT coditect_internal.generate_resource_functions('tenant');

-- C++ (src_ext/pg_share.cpp): the token, the password's hash and check, the context's client
-- and the one-blob read grant of a public download. None is executable but by the owner
-- (the definer functions below) unless granted.
CREATE FUNCTION coditect_internal.share_token_generate() RETURNS uuid
    AS 'MODULE_PATHNAME', 'coditect_share_token_generate' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.share_password_hash(text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_share_password_hash' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION coditect_internal.share_password_verify(text, text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_share_password_verify' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION coditect_internal.share_grant_blob(uuid, uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_share_grant_blob' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.share_granted_tenant(uuid) RETURNS uuid
    AS 'MODULE_PATHNAME', 'coditect_share_granted_tenant' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.context_client_ip() RETURNS inet
    AS 'MODULE_PATHNAME', 'coditect_context_client_ip' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.context_user_agent() RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_context_user_agent' LANGUAGE C STABLE;

-- The hash stored for a token: SHA-256 of its 16 bytes, in hex.
CREATE FUNCTION coditect_internal.share_token_hash(p_token uuid) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(uuid_send(p_token)), 'hex')
$$;

------------------------------------------------------------------------------------------------
-- Shares
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.document_shares (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id      uuid NOT NULL,
    -- The seeds' share_token, as its hash: the token itself is never stored.
    share_token_hash varchar(64) NOT NULL CONSTRAINT document_shares_token_hash_check CHECK (share_token_hash ~ '^[0-9a-f]{64}$'),
    created_by       uuid DEFAULT coditect.current_user_id(),
    permission_level coditect.document_share_level NOT NULL DEFAULT 'view',
    expires_at       timestamptz NOT NULL,
    password_hash    varchar(255),
    access_count     int NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed_at timestamptz,
    -- Wrong passwords since the last right one, and until when the share refuses every attempt.
    failed_attempts  int NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until     timestamptz,
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_shares', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.document_shares IS
    'Public links to a document: a token (stored as its SHA-256), an expiry, an optional password, view or download.';
COMMENT ON COLUMN coditect.document_shares.share_token_hash IS 'SHA-256 (hex) of the token; the token is shown once, at creation.';
COMMENT ON COLUMN coditect.document_shares.expires_at IS 'At most the tenant''s share_max_days after creation.';
COMMENT ON COLUMN coditect.document_shares.failed_attempts IS 'Wrong passwords since the last right one.';
COMMENT ON COLUMN coditect.document_shares.locked_until IS 'Until then every attempt is refused (after 5 wrong passwords; doubling, at most an hour).';
COMMENT ON COLUMN coditect.document_shares.is_active IS 'false once revoked (for good).';
-- The seeds' (document, is_active); the token's uniqueness is global_keys'.
CREATE INDEX document_shares_document_idx ON coditect.document_shares (tenant_id, document_id, is_active, created_at DESC, id DESC);
CREATE INDEX document_shares_tenant_created_idx ON coditect.document_shares (tenant_id, created_at DESC, id DESC);

SELECT coditect_internal.register_resource('coditect.document_shares', 'document_share',
    p_parent => 'document', p_parent_column => 'document_id', p_path => '/api/v1/documents/{document_id}/shares/',
    p_roles => '{"view": "guest"}', p_writable => false,
    p_hidden => '{share_token_hash,password_hash}',
    p_audit_exclude => '{access_count,last_accessed_at,failed_attempts,locked_until}',
    p_filters => '{"is_active": ["exact"], "permission_level": ["exact"], "expires_at": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,expires_at}');
SELECT coditect_internal.claim_global_key('coditect.document_shares', 'share_token_hash', 'document_shares_share_token_hash_key');

-- Who may manage a document's shares sees them: the admin level on it (analysts: all of theirs).
CREATE POLICY document_share_read ON coditect.document_shares AS RESTRICTIVE FOR SELECT
    USING (coditect.current_user_id() IS NULL OR coditect_internal.document_level(tenant_id, document_id) >= 4);

CREATE FUNCTION coditect_internal.document_share_has_password(s coditect.document_shares) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.password_hash IS NOT NULL
$$;
COMMENT ON FUNCTION coditect_internal.document_share_has_password(coditect.document_shares) IS
    'Whether the share asks for a password (X-Share-Password).';
SELECT coditect_internal.register_computed_field('document_share', 'has_password',
    'coditect_internal.document_share_has_password(coditect.document_shares)');

-- A share as the API answers it (hidden columns out, computed ones in).
CREATE FUNCTION coditect_internal.document_share_json(s coditect.document_shares) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(s) - ARRAY['share_token_hash', 'password_hash']
           || jsonb_build_object('has_password', coditect_internal.document_share_has_password(s))
$$;

CREATE TYPE coditect.document_share_link AS (
    token uuid,
    path  text,
    share coditect.document_shares
);
COMMENT ON TYPE coditect.document_share_link IS
    'A new share: its token (shown this once; only its hash is kept), the public path /s/{token}/ and the share.';

-- POST /api/v1/documents/{document_id}/shares/: a public link to the document. Needs
-- document_share.create and the admin level on the document (who may grant access to it may
-- publish it); expires_at defaults to, and may not exceed, now + the tenant's share_max_days.
-- A password is 8 to 1024 characters.
CREATE FUNCTION coditect.document_share_create(p_document uuid, p_permission_level text, p_expires_at timestamptz,
                                               p_password text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    d        record;
    lvl      coditect.document_share_level;
    cap      int;
    expiry   timestamptz;
    tok      uuid;
    s        coditect.document_shares;
    v_id     uuid := coditect.uuid_generate_v7();
BEGIN
    PERFORM coditect.require_permission('document_share.create');
    -- Definer rights read past row-level security: the tenant and the level are checked here.
    SELECT x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
     WHERE x.tenant_id = v_tenant AND x.id = p_document AND x.deleted_at IS NULL;
    IF NOT FOUND OR (coditect_internal.document_grant(v_tenant, d.id, d.folder_id, d.owner_id)).level < 1 THEN
        RAISE EXCEPTION 'document % not found', p_document USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.require_level((coditect_internal.document_grant(v_tenant, d.id, d.folder_id, d.owner_id)).level,
                                            4, 'sharing a document by a public link');
    IF coalesce(p_permission_level, 'view') NOT IN ('view', 'download') THEN
        RAISE EXCEPTION 'permission_level must be view or download' USING ERRCODE = 'CD400';
    END IF;
    lvl := coalesce(p_permission_level, 'view')::coditect.document_share_level;
    SELECT t.share_max_days INTO STRICT cap FROM coditect.tenants t WHERE t.id = v_tenant;
    expiry := coalesce(p_expires_at, now() + make_interval(days => cap));
    IF expiry <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = 'CD400';
    ELSIF expiry > now() + make_interval(days => cap) THEN
        RAISE EXCEPTION 'a share lasts at most % days in this tenant', cap USING ERRCODE = 'CD422',
            HINT = 'expires_at until ' || to_char(now() + make_interval(days => cap), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                   || ', or none for the longest';
    END IF;
    IF p_password IS NOT NULL AND char_length(p_password) NOT BETWEEN 8 AND 1024 THEN
        RAISE EXCEPTION 'a share''s password is 8 to 1024 characters' USING ERRCODE = 'CD400';
    END IF;
    tok := coditect_internal.share_token_generate();
    -- Claimed here, on the coordinator under Citus (00_base, global keys).
    PERFORM coditect_internal.global_key_claim('document_shares.share_token_hash', coditect_internal.share_token_hash(tok),
                                               v_tenant, v_id);
    INSERT INTO coditect.document_shares (tenant_id, id, document_id, share_token_hash, permission_level, expires_at, password_hash)
    VALUES (v_tenant, v_id, d.id, coditect_internal.share_token_hash(tok), lvl, expiry,
            CASE WHEN p_password IS NOT NULL THEN coditect_internal.share_password_hash(p_password) END)
    RETURNING * INTO s;
    RETURN jsonb_build_object('token', tok, 'path', '/s/' || tok || '/', 'share', coditect_internal.document_share_json(s));
END
$$;
SELECT coditect_internal.register_action('document_share', 'create',
    'coditect.document_share_create(uuid, text, timestamptz, text)', 'POST', '/api/v1/documents/{document_id}/shares/',
    '[{"from": "path", "name": "document_id"}, {"from": "body_field", "name": "permission_level"},
      {"from": "body_field", "name": "expires_at"}, {"from": "body_field", "name": "password"}]',
    p_min_role => 'member', p_status => 201, p_response => '{"type": "document_share_link"}', p_secret => true,
    p_summary => 'Share a document by a public link (admin level on it); the token is in this answer only');

-- POST /api/v1/documents/{document_id}/shares/{id}/revoke/: the link stops working for good
-- (is_active false; the row, its counts and its activity stay). Revoking is an update, not a
-- delete, so that who opened the document through the link stays explained. Twice is harmless.
CREATE FUNCTION coditect.document_share_revoke(p_document uuid, p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    d        record;
    s        coditect.document_shares;
BEGIN
    PERFORM coditect.require_permission('document_share.revoke');
    SELECT x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
     WHERE x.tenant_id = v_tenant AND x.id = p_document AND x.deleted_at IS NULL;
    IF NOT FOUND OR (coditect_internal.document_grant(v_tenant, d.id, d.folder_id, d.owner_id)).level < 4 THEN
        -- Shares are seen with the admin level only: without it, there is none to revoke.
        RAISE EXCEPTION 'document share % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    UPDATE coditect.document_shares x SET is_active = false
     WHERE x.tenant_id = v_tenant AND x.document_id = d.id AND x.id = p_id
    RETURNING * INTO s;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document share % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    RETURN coditect_internal.document_share_json(s);
END
$$;
SELECT coditect_internal.register_action('document_share', 'revoke', 'coditect.document_share_revoke(uuid, uuid)',
    'POST', '/api/v1/documents/{document_id}/shares/{id}/revoke/',
    '[{"from": "path", "name": "document_id"}, {"from": "path", "name": "id"}]',
    p_min_role => 'member', p_response => '{"resource": "document_share"}',
    p_summary => 'Revoke a public link (admin level on the document); for good');

-- A revoked share stays revoked, and nothing but its counters changes (every writer).
CREATE FUNCTION coditect_internal.document_share_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.is_active AND NOT OLD.is_active THEN
        RAISE EXCEPTION 'a revoked share cannot be made active again: make a new one' USING ERRCODE = 'CD422';
    END IF;
    -- (created_by may only go: its user was removed.)
    IF (NEW.tenant_id, NEW.id, NEW.document_id, NEW.share_token_hash, NEW.permission_level, NEW.expires_at,
        NEW.password_hash, NEW.created_at)
       IS DISTINCT FROM (OLD.tenant_id, OLD.id, OLD.document_id, OLD.share_token_hash, OLD.permission_level,
                         OLD.expires_at, OLD.password_hash, OLD.created_at)
       OR (NEW.created_by IS DISTINCT FROM OLD.created_by AND NEW.created_by IS NOT NULL) THEN
        RAISE EXCEPTION 'a share does not change (revoke it and make another)' USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER document_share_rules BEFORE UPDATE ON coditect.document_shares
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_share_rules();
ALTER TABLE coditect.document_shares ENABLE ALWAYS TRIGGER document_share_rules;

------------------------------------------------------------------------------------------------
-- Activity
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.document_activity (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id    uuid NOT NULL,
    user_id        uuid,
    action         coditect.document_activity_action NOT NULL,
    ip_address     inet,
    user_agent     varchar(500),
    -- Through which public link (viewed and downloaded by someone without an account), or
    -- which link was made (shared).
    share_id       uuid,
    -- The version uploaded or downloaded.
    version_number int,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, share_id) REFERENCES coditect.document_shares (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_activity', '{tenant_id,user_id}', '{user_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.document_activity', '{tenant_id,share_id}', '{share_id}');
COMMENT ON TABLE coditect.document_activity IS
    'What happened to a document, by whom, from where: reads recorded explicitly, changes by triggers.';
COMMENT ON COLUMN coditect.document_activity.user_id IS 'Who; none for a public share''s reader (share_id says which link).';
COMMENT ON COLUMN coditect.document_activity.share_id IS 'The public link read through (viewed, downloaded) or made (shared).';
COMMENT ON COLUMN coditect.document_activity.version_number IS 'The version uploaded or downloaded.';
-- The seeds' (document, -created_at) and (tenant, user, -created_at).
CREATE INDEX document_activity_document_idx ON coditect.document_activity (tenant_id, document_id, created_at DESC, id DESC);
CREATE INDEX document_activity_user_idx ON coditect.document_activity (tenant_id, user_id, created_at DESC);
CREATE INDEX document_activity_share_idx ON coditect.document_activity (tenant_id, share_id);

SELECT coditect_internal.register_resource('coditect.document_activity', 'document_activity',
    p_plural => 'document_activity', p_parent => 'document', p_parent_column => 'document_id',
    p_path => '/api/v1/documents/{document_id}/activity/', p_roles => '{"view": "guest"}', p_writable => false,
    p_filters => '{"action": ["exact", "in"], "user_id": ["exact"], "share_id": ["exact"], "created_at": ["gte", "lt"]}',
    p_page_size => 50, p_keyset => true);
-- Whoever reads the document reads its activity.
CREATE POLICY document_activity_read ON coditect.document_activity AS RESTRICTIVE FOR SELECT
    USING (coditect_internal.document_level(tenant_id, document_id) >= 1);

-- One entry. Not executable by any login: the definer functions below call it as the owner.
CREATE FUNCTION coditect_internal.document_activity_add(p_tenant uuid, p_document uuid, p_user uuid,
    p_action coditect.document_activity_action, p_share uuid, p_version int, p_ip inet, p_user_agent text)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect.document_activity (tenant_id, document_id, user_id, action, ip_address, user_agent,
                                            share_id, version_number)
    VALUES (p_tenant, p_document, p_user, p_action, p_ip, left(p_user_agent, 500), p_share, p_version)
$$;

-- A read by the context's user (viewed, downloaded), with the context's IP and user agent;
-- only of a document the user may read (so nobody records reads of what they cannot see).
CREATE FUNCTION coditect_internal.record_document_read(p_document uuid, p_action coditect.document_activity_action,
                                                       p_version int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
BEGIN
    IF p_action NOT IN ('viewed', 'downloaded') THEN
        RAISE EXCEPTION 'only reads are recorded explicitly' USING ERRCODE = 'CD400';
    END IF;
    IF coditect.current_user_id() IS NULL OR coditect_internal.document_level(v_tenant, p_document) < 1 THEN
        RAISE EXCEPTION 'document % not found', p_document USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.document_activity_add(v_tenant, p_document, coditect.current_user_id(), p_action, NULL,
        p_version, coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
END
$$;

-- The document get's hook (the catalog's register_get_hook): a detail read is "viewed".
CREATE FUNCTION coditect_internal.document_viewed(p_id uuid) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect_internal.record_document_read(p_id, 'viewed')
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.record_document_read(uuid, coditect.document_activity_action, int),
    coditect_internal.document_viewed(uuid) TO coditect_gateway, coditect_service;
SELECT coditect_internal.register_get_hook('document', 'coditect_internal.document_viewed(uuid)');

-- AFTER a change of a document, a version or a share: its one entry. A document's update that
-- changes only what a new version sets (version, file fields, updated_by) is the upload's,
-- recorded by the version; a deletion or restore is that, whatever else changed with it.
-- Creating a document without a file records nothing (the audit trail has it); its first file
-- is "uploaded".
CREATE FUNCTION coditect_internal.document_activity_of_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    act coditect.document_activity_action;
    me  uuid := CASE WHEN NEW.tenant_id = coditect.current_tenant_id() THEN coditect.current_user_id() END;
BEGIN
    IF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'document_versions' THEN
        PERFORM coditect_internal.document_activity_add(NEW.tenant_id, NEW.document_id, me, 'uploaded', NULL,
            NEW.version_number, coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
    ELSIF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'document_shares' THEN
        PERFORM coditect_internal.document_activity_add(NEW.tenant_id, NEW.document_id, me, 'shared', NEW.id,
            NULL, coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
    ELSE
        IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
            act := 'deleted';
        ELSIF NEW.deleted_at IS NULL AND OLD.deleted_at IS NOT NULL THEN
            act := 'restored';
        ELSIF (NEW.title, NEW.description, NEW.status, NEW.tags, NEW.metadata, NEW.folder_id, NEW.project_id, NEW.owner_id)
              IS DISTINCT FROM (OLD.title, OLD.description, OLD.status, OLD.tags, OLD.metadata, OLD.folder_id,
                                OLD.project_id, OLD.owner_id) THEN
            act := 'edited';
        END IF;
        IF act IS NOT NULL THEN
            PERFORM coditect_internal.document_activity_add(NEW.tenant_id, NEW.id, me, act, NULL, NULL,
                coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER document_activity AFTER UPDATE ON coditect.documents
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_activity_of_change();
CREATE TRIGGER document_activity AFTER INSERT ON coditect.document_versions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_activity_of_change();
CREATE TRIGGER document_activity AFTER INSERT ON coditect.document_shares
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_activity_of_change();
ALTER TABLE coditect.documents ENABLE ALWAYS TRIGGER document_activity;
ALTER TABLE coditect.document_versions ENABLE ALWAYS TRIGGER document_activity;
ALTER TABLE coditect.document_shares ENABLE ALWAYS TRIGGER document_activity;

------------------------------------------------------------------------------------------------
-- Opening a share: GET /s/{token}/ and /s/{token}/content, no login
------------------------------------------------------------------------------------------------

-- The decision of every public access, under the share row's lock (so concurrent attempts are
-- counted one after the other and none slips past a lockout): the share when the token is known,
-- active, unexpired, its document live, not locked, of the download level for a download, and
-- the password right; else NULL, the same
-- for every reason. A wrong password counts; the fifth in a row locks the share for 1 minute,
-- each further one doubles it (at most an hour); while locked even the right password is
-- refused and nothing is counted; a right password resets the count.
CREATE FUNCTION coditect_internal.share_admit(p_token uuid, p_password text, p_download boolean)
RETURNS coditect.document_shares
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
    s coditect.document_shares;
BEGIN
    IF p_token IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT g.tenant_id, g.row_id INTO k FROM coditect_internal.global_keys g
     WHERE g.kind = 'document_shares.share_token_hash' AND g.value = coditect_internal.share_token_hash(p_token);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT x.* INTO s FROM coditect.document_shares x
     WHERE x.tenant_id = k.tenant_id AND x.id = k.row_id FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT s.is_active OR s.expires_at <= now() OR s.locked_until > now()
       OR (p_download AND s.permission_level <> 'download')
       OR NOT EXISTS (SELECT 1 FROM coditect.documents d JOIN coditect.tenants t ON t.id = d.tenant_id
                       WHERE d.tenant_id = s.tenant_id AND d.id = s.document_id AND d.deleted_at IS NULL AND t.is_active) THEN
        RETURN NULL;
    END IF;
    IF s.password_hash IS NOT NULL THEN
        IF p_password IS NULL OR NOT coditect_internal.share_password_verify(p_password, s.password_hash) THEN
            UPDATE coditect.document_shares x
               SET failed_attempts = x.failed_attempts + 1,
                   locked_until = CASE WHEN x.failed_attempts + 1 >= 5
                                       THEN now() + least(interval '1 minute' * power(2, least(x.failed_attempts + 1 - 5, 10)),
                                                          interval '1 hour') END
             WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
            RETURN NULL;
        END IF;
    END IF;
    UPDATE coditect.document_shares x
       SET access_count = x.access_count + 1, last_accessed_at = now(), failed_attempts = 0, locked_until = NULL
     WHERE x.tenant_id = s.tenant_id AND x.id = s.id
    RETURNING * INTO s;
    RETURN s;
END
$$;

CREATE TYPE coditect.document_share_view AS (
    document_id      uuid,
    title            text,
    description      text,
    file_name        text,
    file_size_bytes  bigint,
    mime_type        text,
    checksum         text,
    version          int,
    updated_at       timestamptz,
    permission_level coditect.document_share_level,
    expires_at       timestamptz,
    content_path     text
);
COMMENT ON TYPE coditect.document_share_view IS
    'A shared document as its link shows it; content_path (download shares with a file) streams the file.';

-- What a share's link shows (timestamps in UTC, as every answer).
CREATE FUNCTION coditect_internal.document_share_view_json(d coditect.documents, s coditect.document_shares, p_token uuid)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(ROW(d.id, d.title, d.description, d.file_name, d.file_size_bytes, d.mime_type, d.checksum, d.version,
                        d.updated_at, s.permission_level, s.expires_at,
                        CASE WHEN s.permission_level = 'download' AND d.version > 0
                             THEN '/s/' || p_token || '/content' END)::coditect.document_share_view)
$$;

-- GET /s/{token}/ (no login; X-Share-Password when the share has one): the shared document's
-- description, counted and recorded as "viewed". NULL (the gateway's 404) for anything else.
CREATE FUNCTION coditect.share_open(p_token uuid, p_password text, p_ip inet, p_user_agent text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.document_shares := coditect_internal.share_admit(p_token, p_password, false);
    d coditect.documents;
BEGIN
    IF s.id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT x.* INTO STRICT d FROM coditect.documents x WHERE x.tenant_id = s.tenant_id AND x.id = s.document_id;
    PERFORM coditect_internal.document_activity_add(s.tenant_id, d.id, NULL, 'viewed', s.id, NULLIF(d.version, 0),
                                                    p_ip, p_user_agent);
    RETURN coditect_internal.document_share_view_json(d, s, p_token);
END
$$;

-- GET /s/{token}/content (download shares): the current version's file, streamed by the
-- gateway's "content" protocol in this transaction (the blob is granted to it: there is no
-- request context), counted and recorded as "downloaded" and audited as data.export. A view share has no content: NULL.
CREATE FUNCTION coditect.share_download(p_token uuid, p_password text, p_ip inet, p_user_agent text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.document_shares := coditect_internal.share_admit(p_token, p_password, true);
    v coditect.document_versions;
BEGIN
    IF s.id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT x.* INTO v FROM coditect.documents d
      JOIN coditect.document_versions x ON x.tenant_id = d.tenant_id AND x.document_id = d.id AND x.version_number = d.version
     WHERE d.tenant_id = s.tenant_id AND d.id = s.document_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM coditect_internal.share_grant_blob(s.tenant_id, v.blob_id);
    PERFORM coditect_internal.document_activity_add(s.tenant_id, s.document_id, NULL, 'downloaded', s.id, v.version_number,
                                                    p_ip, p_user_agent);
    -- No request context (nobody is signed in): the share and the client are the metadata's.
    PERFORM coditect_internal.audit_event(s.tenant_id, 'data.export', 'Document', s.document_id::text,
        jsonb_build_object('way', 'share', 'share_id', s.id, 'version', v.version_number, 'file_name', v.file_name,
                           'size_bytes', v.file_size_bytes, 'ip_address', host(p_ip), 'user_agent', left(p_user_agent, 500)));
    RETURN coditect_internal.content_answer(v.blob_id, v.file_size_bytes, v.checksum, v.mime_type, v.file_name);
END
$$;

-- storage_read without a request context (40_storage.sql): the blob this transaction's share
-- decision granted, of its tenant; any other blob is not found.
CREATE FUNCTION coditect_internal.storage_read_granted(p_blob uuid, p_offset bigint, p_length int) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.share_granted_tenant(p_blob);
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'blob % not found', p_blob USING ERRCODE = 'CD404';
    END IF;
    RETURN coditect_internal.storage_read_chunks(tenant, p_blob, p_offset, p_length);
END
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.storage_read_granted(uuid, bigint, int) TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_action('document_share', 'open', 'coditect.share_open(uuid, text, inet, text)',
    'GET', '/s/{token}/',
    '[{"from": "path", "name": "token", "secret": true}, {"from": "header", "name": "X-Share-Password"},
      {"from": "client_ip"}, {"from": "user_agent"}]',
    p_auth => 'none', p_writes => true,
    p_response => '{"type": "document_share_view", "null_answer": {"status": 404, "detail": "share not found"}}',
    p_summary => 'A shared document (no login; X-Share-Password when it has one); unknown, expired, revoked, locked or a wrong password: the same 404');
SELECT coditect_internal.register_action('document_share', 'download', 'coditect.share_download(uuid, text, inet, text)',
    'GET', '/s/{token}/content',
    '[{"from": "path", "name": "token", "secret": true}, {"from": "header", "name": "X-Share-Password"},
      {"from": "client_ip"}, {"from": "user_agent"}]',
    p_auth => 'none', p_writes => true,
    p_response => '{"protocol": "content", "null_answer": {"status": 404, "detail": "share not found"}}',
    p_summary => 'A download share''s file, streamed (Range, ETag: its SHA-256); no login; the same 404 as the share');

------------------------------------------------------------------------------------------------
-- 8. 46_task_attachments (as in sql/46_task_attachments.sql)
------------------------------------------------------------------------------------------------

-- 46_task_attachments: files attached to tasks (issue 10, the seeds' TaskAttachment), stored by
-- 40_storage.sql: an upload with target_kind "task" and target_id the task becomes an attachment
-- of it (/api/v1/tasks/{task_id}/attachments/). Whoever reads the task reads its attachments;
-- members attach; the uploader or an admin removes one (for good: the seeds give attachments no
-- soft delete, and the bytes go when nothing else holds them).

CREATE TABLE coditect.task_attachments (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    task_id         uuid NOT NULL,
    uploader_id     uuid DEFAULT coditect.current_user_id(),
    filename        varchar(255) NOT NULL CHECK (filename ~ '\S'),
    file_path       varchar(500) NOT NULL,
    file_size_bytes bigint NOT NULL CHECK (file_size_bytes >= 0),
    mime_type       varchar(255) NOT NULL,
    checksum        varchar(64) NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    blob_id         uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES coditect.tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, uploader_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.task_attachments', '{tenant_id,uploader_id}', '{uploader_id}');
COMMENT ON TABLE coditect.task_attachments IS 'Files attached to a task, newest first; made by uploads.';
COMMENT ON COLUMN coditect.task_attachments.file_path IS 'Where the bytes are: "db:<sha256>" (stored in PostgreSQL).';
COMMENT ON COLUMN coditect.task_attachments.uploader_id IS 'Who attached it; null once that user is removed.';
-- The seeds' (task, -created_at), led by the tenant.
CREATE INDEX task_attachments_task_created_idx ON coditect.task_attachments (tenant_id, task_id, created_at DESC, id DESC);
CREATE INDEX task_attachments_uploader_idx ON coditect.task_attachments (tenant_id, uploader_id);
CREATE INDEX task_attachments_blob_idx ON coditect.task_attachments (tenant_id, blob_id);

-- BEFORE UPDATE or DELETE, with a request context: the uploader or an admin or owner renames
-- or removes an attachment. (AFTER DELETE, release_held_blob lets its bytes go.)
CREATE FUNCTION coditect_internal.task_attachment_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect.current_user_id() IS NOT NULL AND OLD.tenant_id = coditect.current_tenant_id()
       AND OLD.uploader_id IS DISTINCT FROM coditect.current_user_id()
       AND coditect.current_user_role() NOT IN ('owner', 'admin') THEN
        RAISE EXCEPTION 'only the uploader or an admin % an attachment',
            CASE TG_OP WHEN 'DELETE' THEN 'removes' ELSE 'renames' END USING ERRCODE = 'CD403';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- Attachments are made by uploads only (no create verb, no writes but the delete).
SELECT coditect_internal.register_resource('coditect.task_attachments', 'task_attachment',
    p_parent => 'task', p_parent_column => 'task_id', p_path => '/api/v1/tasks/{task_id}/attachments/',
    p_roles => '{"view": "guest", "delete": "member"}', p_writable => false,
    p_filters => '{"uploader_id": ["exact"], "mime_type": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,filename}');
-- A delete reads its row FOR UPDATE first, which needs an UPDATE privilege: renaming is the one
-- change there is.
GRANT UPDATE (filename), DELETE ON coditect.task_attachments TO coditect_gateway, coditect_service;
SELECT coditect_internal.declare_permission('task_attachment.create', 'Attach files to tasks', 'member');
CREATE TRIGGER task_attachment_rules BEFORE UPDATE OR DELETE ON coditect.task_attachments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.task_attachment_rules();
CREATE TRIGGER release_held_blob AFTER DELETE ON coditect.task_attachments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.release_held_blob();
ALTER TABLE coditect.task_attachments ENABLE ALWAYS TRIGGER task_attachment_rules,
    ENABLE ALWAYS TRIGGER release_held_blob;

-- Upload target "task": target_id names a live task the caller can see (CD404 otherwise) and
-- the caller needs task_attachment.create; on completion the file becomes its attachment.
CREATE FUNCTION coditect_internal.task_attachment_upload_check(p_id uuid, p_metadata jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
BEGIN
    PERFORM coditect.require_permission('task_attachment.create');
    IF p_id IS NULL OR NOT EXISTS (SELECT 1 FROM coditect.tasks t
                                    WHERE t.tenant_id = v_tenant AND t.id = p_id AND t.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'task % not found', p_id USING ERRCODE = 'CD404';
    END IF;
END
$$;

CREATE FUNCTION coditect_internal.task_attachment_upload_completed(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sha text;
    a   uuid;
BEGIN
    PERFORM coditect_internal.task_attachment_upload_check(s.target_id, s.metadata);
    SELECT encode(b.sha256, 'hex') INTO STRICT sha FROM coditect.storage_blobs b WHERE b.tenant_id = s.tenant_id AND b.id = s.blob_id;
    INSERT INTO coditect.task_attachments (tenant_id, task_id, uploader_id, filename, file_path, file_size_bytes, mime_type,
                                           checksum, blob_id)
    VALUES (s.tenant_id, s.target_id, s.user_id, coalesce(s.filename, 'file'), 'db:' || sha, s.upload_length, s.content_type,
            sha, s.blob_id)
    RETURNING id INTO a;
    RETURN jsonb_build_object('task_id', s.target_id, 'attachment_id', a);
END
$$;
SELECT coditect_internal.register_upload_target('task', 'coditect_internal.task_attachment_upload_check(uuid, jsonb)',
    'coditect_internal.task_attachment_upload_completed(coditect.upload_sessions)');

-- GET /api/v1/tasks/{task_id}/attachments/{id}/content: the file, for whoever reads the task.
-- Audited as data.export (11_audit_events.sql), so the operation writes although it is a GET.
CREATE FUNCTION coditect.task_attachment_download(p_task_id uuid, p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    a coditect.task_attachments;
BEGIN
    PERFORM coditect.require_permission('task_attachment.view');
    SELECT x.* INTO a FROM coditect.task_attachments x
      JOIN coditect.tasks t ON t.tenant_id = x.tenant_id AND t.id = x.task_id AND t.deleted_at IS NULL
     WHERE x.tenant_id = v_tenant AND x.task_id = p_task_id AND x.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task attachment % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.record_export('TaskAttachment', a.id, NULL, a.filename, a.file_size_bytes);
    RETURN coditect_internal.content_answer(a.blob_id, a.file_size_bytes, a.checksum, a.mime_type, a.filename);
END
$$;
SELECT coditect_internal.register_action('task_attachment', 'download', 'coditect.task_attachment_download(uuid, uuid)',
    'GET', '/api/v1/tasks/{task_id}/attachments/{id}/content',
    '[{"from": "path", "name": "task_id"}, {"from": "path", "name": "id"}]',
    p_permission => 'task_attachment.view', p_response => '{"protocol": "content"}', p_writes => true,
    p_summary => 'An attachment''s file, streamed (Range, ETag: its SHA-256)');

------------------------------------------------------------------------------------------------
-- 9. 48_audit_seal (as in sql/48_audit_seal.sql)
------------------------------------------------------------------------------------------------

-- 48_audit_seal: a tamper-evident audit trail (issue 11, item 10). The immutability triggers stop
-- changes through SQL; a superuser or someone with the files can still change the rows. Seals
-- make such a change visible: every hour of the trail (all tenants together, UTC hours) is hashed
-- once it is over, and each hour's seal hashes the previous seal, so a changed, removed or added
-- row, or a changed or removed seal, breaks a digest or a link that coditect.audit_verify()
-- recomputes. After 40_storage: the rows are hashed with its resumable SHA-256 (bounded memory).
--
-- Canonical form of a row (audit_row_canonical): the JSON array, as jsonb text, of its columns
-- in table order, created_at as integer microseconds since the epoch (independent of TimeZone
-- and DateStyle) and ip_address as inet's text (with its mask, e.g. 192.0.2.7/32). A period's
-- rows digest is the SHA-256 of the concatenated SHA-256s of its rows' canonical texts, in
-- (created_at, id) order. A seal's hash is
-- sha256(previous hash || rows digest || int8send(start µs) || int8send(end µs) || int8send(count)),
-- the first seal's previous hash 32 zero bytes.

CREATE TABLE coditect_internal.audit_seals (
    seq          bigint PRIMARY KEY CHECK (seq >= 1),
    period_start timestamptz NOT NULL UNIQUE,
    period_end   timestamptz NOT NULL,
    row_count    bigint NOT NULL CHECK (row_count >= 0),
    rows_digest  bytea NOT NULL CHECK (octet_length(rows_digest) = 32),
    prev_hash    bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    sealed_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (period_end > period_start)
);
COMMENT ON TABLE coditect_internal.audit_seals IS
    'Hash chain over coditect.audit_logs, one seal per UTC hour; written by coditect.audit_seal() only.';
REVOKE ALL ON coditect_internal.audit_seals FROM PUBLIC;

-- Seals are append-only for every role, owner and superusers included, in replica mode too.
CREATE TRIGGER audit_seals_immutable_row BEFORE UPDATE OR DELETE ON coditect_internal.audit_seals
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.reject_audit_change('coditect_internal.audit_seals');
CREATE TRIGGER audit_seals_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON coditect_internal.audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION coditect_internal.reject_audit_change('coditect_internal.audit_seals');
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable_row;
ALTER TABLE coditect_internal.audit_seals ENABLE ALWAYS TRIGGER audit_seals_immutable;

-- The canonical text of an audit row (see the head of this file).
CREATE FUNCTION coditect_internal.audit_row_canonical(r coditect.audit_logs) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.jsonb_build_array(r.id, r.tenant_id, r.user_id, r.action, r.resource_type, r.resource_id,
                                        r.ip_address::text, r.user_agent, r.request_method, r.request_path,
                                        r.request_id, r.changes, r.metadata, r.severity,
                                        (pg_catalog.extract('epoch', r.created_at) * 1000000)::bigint)::text
$$;

-- A seal's hash from its fields.
CREATE FUNCTION coditect_internal.audit_seal_hash(p_prev bytea, p_digest bytea, p_start timestamptz,
                                                  p_end timestamptz, p_count bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.sha256(p_prev || p_digest
        || pg_catalog.int8send((pg_catalog.extract('epoch', p_start) * 1000000)::bigint)
        || pg_catalog.int8send((pg_catalog.extract('epoch', p_end) * 1000000)::bigint)
        || pg_catalog.int8send(p_count))
$$;

-- Digest and count of the rows of every UTC hour in [p_from, p_to) (hour-aligned bounds), one
-- ordered pass over the rows; hours without rows are answered too. Memory: one hash state.
CREATE FUNCTION coditect_internal.audit_period_digests(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (period_start timestamptz, period_end timestamptz, row_count bigint, rows_digest bytea)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    st bytea;
BEGIN
    period_start := p_from;
    period_end := p_from + interval '1 hour';
    row_count := 0;
    st := NULL;
    -- The row is passed as a coditect.audit_logs built from its columns, not as `a`: on Citus the
    -- query runs on the shards, whose row type is the shard's (audit_logs_102008), not the table's.
    FOR r IN SELECT a.created_at,
                    pg_catalog.sha256(pg_catalog.convert_to(coditect_internal.audit_row_canonical(
                        ROW(a.id, a.tenant_id, a.user_id, a.action, a.resource_type, a.resource_id, a.ip_address,
                            a.user_agent, a.request_method, a.request_path, a.request_id, a.changes, a.metadata,
                            a.severity, a.created_at)::coditect.audit_logs), 'UTF8')) AS h
               FROM coditect.audit_logs a
              WHERE a.created_at >= p_from AND a.created_at < p_to
              ORDER BY a.created_at, a.id LOOP
        WHILE r.created_at >= period_end LOOP
            rows_digest := coditect_internal.sha256_digest(coditect_internal.sha256_resume(st, NULL));
            RETURN NEXT;
            period_start := period_end;
            period_end := period_end + interval '1 hour';
            row_count := 0;
            st := NULL;
        END LOOP;
        st := coditect_internal.sha256_resume(st, r.h);
        row_count := row_count + 1;
    END LOOP;
    WHILE period_end <= p_to LOOP
        rows_digest := coditect_internal.sha256_digest(coditect_internal.sha256_resume(st, NULL));
        RETURN NEXT;
        period_start := period_end;
        period_end := period_end + interval '1 hour';
        row_count := 0;
        st := NULL;
    END LOOP;
END
$$;

-- Scheduler / DBA: seals every complete hour not sealed yet, from the last seal on (the first
-- run starts at the hour of the oldest audit row). An hour is complete when it ended at least
-- 5 minutes ago AND no transaction of this database that began before its end is still open
-- (created_at is the transaction's start, so an open transaction may still commit rows into it)
-- AND no prepared transaction exists (their start is unknown). A row that appears later in a
-- sealed hour was therefore written past the guards: verify reports it as added. Returns how many
-- hours it sealed.
CREATE FUNCTION coditect.audit_seal() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_last coditect_internal.audit_seals;
    v_horizon timestamptz;
    v_start timestamptz;
    v_prev bytea;
    v_seq bigint;
    v_hash bytea;
    p record;
    n integer := 0;
BEGIN
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'coditect.audit_seal() must run in a READ COMMITTED transaction'
            USING ERRCODE = 'CD409', HINT = 'An older snapshot could miss rows committed into the hours it seals.';
    END IF;
    -- One sealer at a time; readers (verify) go on.
    LOCK TABLE coditect_internal.audit_seals IN EXCLUSIVE MODE;
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    SELECT least(pg_catalog.now() - interval '5 minutes',
                 (SELECT min(s.xact_start) FROM pg_catalog.pg_stat_activity s
                   WHERE s.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
                     AND s.pid <> pg_catalog.pg_backend_pid()
                     AND s.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher', 'walsender')),
                 CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts x
                                    WHERE x.database = pg_catalog.current_database())
                      THEN '-infinity'::timestamptz END)
      INTO v_horizon;
    v_horizon := pg_catalog.date_trunc('hour', v_horizon, 'UTC');

    SELECT * INTO v_last FROM coditect_internal.audit_seals ORDER BY seq DESC LIMIT 1;
    IF v_last.seq IS NULL THEN
        SELECT pg_catalog.date_trunc('hour', min(a.created_at), 'UTC') INTO v_start FROM coditect.audit_logs a;
        IF v_start IS NULL THEN
            RETURN 0;
        END IF;
        v_prev := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
        v_seq := 0;
    ELSE
        v_start := v_last.period_end;
        v_prev := v_last.hash;
        v_seq := v_last.seq;
    END IF;
    IF v_start + interval '1 hour' > v_horizon THEN
        RETURN 0;
    END IF;

    FOR p IN SELECT * FROM coditect_internal.audit_period_digests(v_start, v_horizon) LOOP
        v_seq := v_seq + 1;
        v_hash := coditect_internal.audit_seal_hash(v_prev, p.rows_digest, p.period_start, p.period_end, p.row_count);
        INSERT INTO coditect_internal.audit_seals (seq, period_start, period_end, row_count, rows_digest, prev_hash, hash)
        VALUES (v_seq, p.period_start, p.period_end, p.row_count, p.rows_digest, v_prev, v_hash);
        v_prev := v_hash;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- DBA and services: recomputes the seals of the hours overlapping [p_from, p_to) and says what
-- changed since they were sealed. Per seal: its hash against its own fields (seal_altered), its
-- link to the seal before it (chain_broken: prev_hash, contiguous hours, a missing seal), and,
-- unless the hour is past retention (retired: its partition may be dropped), the rows' count and
-- digest (rows_removed, rows_added, rows_altered). Rows before the first seal within retention
-- are unsealed_rows (nothing legitimate is written there). Rows after the last seal are not yet
-- sealed and not a problem.
CREATE FUNCTION coditect.audit_verify(p_from timestamptz, p_to timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_retired_before timestamptz;
    v_first coditect_internal.audit_seals;
    v_head coditect_internal.audit_seals;
    v_before coditect_internal.audit_seals;
    s coditect_internal.audit_seals;
    p record;
    v_lo timestamptz;
    v_hi timestamptz;
    v_n bigint;
    v_checked integer := 0;
    v_retired integer := 0;
    v_problems jsonb := '[]';
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from >= p_to THEN
        RAISE EXCEPTION 'audit_verify needs p_from < p_to, got % and %', coalesce(p_from::text, 'NULL'),
            coalesce(p_to::text, 'NULL') USING ERRCODE = 'CD400';
    END IF;
    v_retired_before := pg_catalog.now() - coditect.audit_retention();
    SELECT * INTO v_first FROM coditect_internal.audit_seals ORDER BY seq LIMIT 1;
    SELECT * INTO v_head FROM coditect_internal.audit_seals ORDER BY seq DESC LIMIT 1;

    -- Rows before the chain (within retention and the range).
    v_lo := greatest(p_from, v_retired_before);
    v_hi := least(p_to, coalesce(v_first.period_start, '-infinity'));
    IF v_lo < v_hi THEN
        SELECT count(*) INTO v_n FROM coditect.audit_logs a WHERE a.created_at >= v_lo AND a.created_at < v_hi;
        IF v_n > 0 THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'unsealed_rows', 'seq', NULL,
                'period_start', v_lo, 'period_end', v_hi, 'found_rows', v_n,
                'detail', 'rows before the first seal');
        END IF;
    END IF;

    -- Each seal: its own hash, its link, and (within retention) its rows.
    FOR s IN SELECT * FROM coditect_internal.audit_seals x
              WHERE x.period_start < p_to AND x.period_end > p_from ORDER BY x.seq LOOP
        v_checked := v_checked + 1;
        IF s.hash IS DISTINCT FROM coditect_internal.audit_seal_hash(s.prev_hash, s.rows_digest, s.period_start,
                                                                      s.period_end, s.row_count) THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'seal_altered', 'seq', s.seq,
                'period_start', s.period_start, 'period_end', s.period_end,
                'detail', 'the seal''s hash does not match its fields');
        END IF;
        v_before := NULL;
        SELECT * INTO v_before FROM coditect_internal.audit_seals x WHERE x.seq = s.seq - 1;
        IF s.seq = 1 THEN
            IF s.prev_hash <> pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex') THEN
                v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'chain_broken', 'seq', s.seq,
                    'period_start', s.period_start, 'period_end', s.period_end,
                    'detail', 'the first seal does not start the chain');
            END IF;
        ELSIF v_before.seq IS NULL THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'chain_broken', 'seq', s.seq,
                'period_start', s.period_start, 'period_end', s.period_end,
                'detail', pg_catalog.format('seal %s is missing', s.seq - 1));
        ELSIF v_before.hash <> s.prev_hash OR v_before.period_end <> s.period_start THEN
            v_problems := v_problems || pg_catalog.jsonb_build_object('problem', 'chain_broken', 'seq', s.seq,
                'period_start', s.period_start, 'period_end', s.period_end,
                'detail', pg_catalog.format('does not follow seal %s', v_before.seq));
        END IF;
        IF s.period_end <= v_retired_before THEN
            v_retired := v_retired + 1;
        END IF;
    END LOOP;

    -- The rows of the sealed hours within retention, in one ordered pass.
    SELECT min(x.period_start), max(x.period_end) INTO v_lo, v_hi FROM coditect_internal.audit_seals x
     WHERE x.period_start < p_to AND x.period_end > p_from AND x.period_end > v_retired_before;
    IF v_lo IS NOT NULL THEN
        FOR p IN SELECT d.period_start, d.period_end, d.row_count, d.rows_digest, x.seq,
                        x.row_count AS sealed_rows, x.rows_digest AS sealed_digest
                   FROM coditect_internal.audit_period_digests(v_lo, v_hi) d
                   JOIN coditect_internal.audit_seals x ON x.period_start = d.period_start
                  WHERE x.period_end = d.period_end AND x.period_end > v_retired_before LOOP
            IF p.row_count <> p.sealed_rows OR p.rows_digest <> p.sealed_digest THEN
                v_problems := v_problems || pg_catalog.jsonb_build_object(
                    'problem', CASE WHEN p.row_count < p.sealed_rows THEN 'rows_removed'
                                    WHEN p.row_count > p.sealed_rows THEN 'rows_added'
                                    ELSE 'rows_altered' END,
                    'seq', p.seq, 'period_start', p.period_start, 'period_end', p.period_end,
                    'sealed_rows', p.sealed_rows, 'found_rows', p.row_count,
                    'detail', 'the hour''s rows differ from what was sealed');
            END IF;
        END LOOP;
    END IF;

    RETURN pg_catalog.jsonb_build_object(
        'intact', pg_catalog.jsonb_array_length(v_problems) = 0,
        'from', p_from, 'to', p_to, 'seals_checked', v_checked, 'retired', v_retired,
        'sealed_until', v_head.period_end,
        'head', CASE WHEN v_head.seq IS NOT NULL THEN pg_catalog.jsonb_build_object(
                    'seq', v_head.seq, 'hash', pg_catalog.encode(v_head.hash, 'hex')) END,
        'problems', v_problems);
END
$$;

REVOKE ALL ON FUNCTION coditect.audit_seal(), coditect.audit_verify(timestamptz, timestamptz),
    coditect_internal.audit_row_canonical(coditect.audit_logs),
    coditect_internal.audit_seal_hash(bytea, bytea, timestamptz, timestamptz, bigint),
    coditect_internal.audit_period_digests(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.audit_verify(timestamptz, timestamptz) TO coditect_service;

------------------------------------------------------------------------------------------------
-- 10. 50_workflow_definitions (as in sql/50_workflow_definitions.sql)
------------------------------------------------------------------------------------------------

-- 50_workflow_definitions: a workflow's definition (issue 11) is checked, not trusted. Nodes
-- (start, task, approval, notification, condition, end) with type-specific settings, and edges,
-- conditional ones carrying an SQL/JSON path predicate over the execution's context_data. The
-- checks are C++ (src_ext/workflow_definition.cpp, unit-tested), the conditions parsed by
-- PostgreSQL's jsonpath parser; the workflow tables call the validator from their checks.
-- Both functions are pure: executable by PUBLIC (sql/89_api_grants.sql), like the other helpers
-- that CHECK constraints call.

CREATE FUNCTION coditect.workflow_definition_problems(jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_workflow_definition_problems' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION coditect.workflow_definition_problems(jsonb) IS
    'Every problem of a workflow definition at once, as [{path, code, message}] (path: an SQL/JSON path into the definition); [] when it is valid';

CREATE FUNCTION coditect.workflow_definition_schema() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_workflow_definition_schema' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION coditect.workflow_definition_schema() IS
    'The JSON Schema (draft 2020-12) of a workflow definition; the graph rules are workflow_definition_problems''s';

-- Published in the API's OpenAPI document as the component WorkflowDefinition.
SELECT coditect_internal.register_api_schema('WorkflowDefinition', 'coditect.workflow_definition_schema()');

------------------------------------------------------------------------------------------------
-- 11. 53_outbox (as in sql/53_outbox.sql)
------------------------------------------------------------------------------------------------

-- 53_outbox: the transactional outbox of notifications and the tenants' webhook endpoints
-- (issue 11 item 7). The workflow engine (definer code) calls coditect_internal.outbox_emit()
-- in its own transaction: the deliveries it queues exist only if that transaction commits, and
-- NOTIFY coditect_outbox (sent at commit) wakes the worker. The worker (coditect-worker, a
-- login in coditect_worker) claims due deliveries with a lease, POSTs them signed with
-- HMAC-SHA256, and records each outcome: 2xx delivered, else retried with backoff until it is
-- dead. At least once: a crash after the POST and before the record sends it again, with the
-- same Idempotency-Key (the delivery's id).
--
-- Secrets never sit in a table a login can read: an endpoint's signing secret (32 random bytes,
-- the share tokens' CSPRNG) and a delivery's own URL secret live in coditect_internal tables
-- that only the owner's definer functions read; the secret is shown once, by rotate_secret.

-- The worker's group role (NOLOGIN, as the others): the DBA grants a login into it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coditect_worker') THEN
        CREATE ROLE coditect_worker NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA coditect TO coditect_worker;

CREATE TYPE coditect.webhook_delivery_status AS ENUM ('pending', 'delivered', 'dead');
COMMENT ON TYPE coditect.webhook_delivery_status IS
    'pending (waiting for its next attempt), delivered (a 2xx answer), dead (attempts exhausted, or its endpoint gone or inactive).';

-- The events the outbox carries (README "Outbox and webhooks"); an endpoint may also subscribe to '*'.
CREATE FUNCTION coditect_internal.outbox_events() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY['workflow.notification', 'approval.requested', 'approval.decided', 'workflow.completed', 'workflow.failed']
$$;

-- An endpoint's events: at least one, each known or '*', none twice.
CREATE FUNCTION coditect_internal.webhook_events_valid(p_events text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT cardinality(p_events) BETWEEN 1 AND 20
       AND p_events <@ (coditect_internal.outbox_events() || '*'::text)
       AND (SELECT count(DISTINCT e) FROM unnest(p_events) e) = cardinality(p_events)
$$;

-- Every signing secret of the product (endpoints here, workflows in 54_workflows): the string
-- "whsec_<64 hex>" (256 bits from OpenSSL's CSPRNG, src_ext/webhook_signature.cpp), whose bytes
-- are the HMAC key as given, the way Stripe's are: a receiver uses the string it was shown.
CREATE FUNCTION coditect_internal.webhook_secret_generate() RETURNS bytea
    AS 'MODULE_PATHNAME', 'coditect_webhook_secret_generate' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.webhook_secret_text() RETURNS bytea
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT convert_to('whsec_' || encode(coditect_internal.webhook_secret_generate(), 'hex'), 'UTF8')
$$;

------------------------------------------------------------------------------------------------
-- Webhook endpoints
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.webhook_endpoints (
    tenant_id         uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    name              varchar(100) NOT NULL
                      CONSTRAINT webhook_endpoints_name_check
                      CHECK (name <> '' AND btrim(name) = name AND name !~ '[[:cntrl:]]'),
    url               coditect.url NOT NULL,
    description       text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    events            text[] NOT NULL DEFAULT '{*}'
                      CONSTRAINT webhook_endpoints_events_check CHECK (coditect_internal.webhook_events_valid(events)),
    active            boolean NOT NULL DEFAULT true,
    secret_rotated_at timestamptz NOT NULL DEFAULT now(),
    created_by        uuid DEFAULT coditect.current_user_id(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_endpoints_name_key UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.webhook_endpoints', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.webhook_endpoints IS
    'Where the tenant''s notifications are POSTed, signed with the endpoint''s secret (Coditect-Signature).';
COMMENT ON COLUMN coditect.webhook_endpoints.name IS
    'Unique in the tenant; a workflow notification node''s channel names it (no surrounding spaces, no control characters).';
COMMENT ON COLUMN coditect.webhook_endpoints.url IS 'http:// or https:// (the certificate is verified).';
COMMENT ON COLUMN coditect.webhook_endpoints.events IS
    'The events it receives: workflow.notification, approval.requested, approval.decided, workflow.completed, workflow.failed, or * for all.';
COMMENT ON COLUMN coditect.webhook_endpoints.active IS 'An inactive endpoint gets no new deliveries; its pending ones die.';
COMMENT ON COLUMN coditect.webhook_endpoints.secret_rotated_at IS
    'When its signing secret was last made (POST .../rotate-secret/ makes a new one and shows it once).';
CREATE INDEX webhook_endpoints_tenant_created_idx ON coditect.webhook_endpoints (tenant_id, created_at DESC, id DESC);

SELECT coditect_internal.register_resource('coditect.webhook_endpoints', 'webhook_endpoint',
    p_roles => '{"view": "admin", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{name,url,description,events,active}', p_update => '{name,url,description,events,active}',
    p_filters => '{"name": ["exact"], "active": ["exact"], "events": ["contains"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name}', p_search => '{name,description}',
    p_example => '{"name": "ops", "url": "https://hooks.example.com/coditect", "events": ["approval.requested", "workflow.failed"]}');

-- The signing secrets: no login reads this table (row-level security on, no policy, no grant).
CREATE TABLE coditect_internal.webhook_endpoint_secrets (
    tenant_id   uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    secret      bytea NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 1024),
    PRIMARY KEY (tenant_id, endpoint_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES coditect.webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE coditect_internal.webhook_endpoint_secrets ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON coditect_internal.webhook_endpoint_secrets FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.webhook_endpoint_secrets', '');

-- AFTER INSERT: every endpoint has a secret from its first moment, whoever inserted it.
CREATE FUNCTION coditect_internal.webhook_endpoint_secret_init() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect_internal.webhook_endpoint_secrets (tenant_id, endpoint_id, secret)
    VALUES (NEW.tenant_id, NEW.id, coditect_internal.webhook_secret_text());
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_endpoint_secret AFTER INSERT ON coditect.webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.webhook_endpoint_secret_init();
ALTER TABLE coditect.webhook_endpoints ENABLE ALWAYS TRIGGER webhook_endpoint_secret;

-- The rotation stamp is the database's: only the owner's rotate_secret moves it (a login's own
-- UPDATE keeps it), so the audit trail's record of rotations is true.
CREATE FUNCTION coditect_internal.webhook_endpoint_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.secret_rotated_at := now();
    ELSIF NEW.secret_rotated_at IS DISTINCT FROM OLD.secret_rotated_at
          AND current_user <> (SELECT r.rolname FROM pg_extension x JOIN pg_roles r ON r.oid = x.extowner
                                WHERE x.extname = 'coditect') THEN
        NEW.secret_rotated_at := OLD.secret_rotated_at;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER webhook_endpoint_rules BEFORE INSERT OR UPDATE ON coditect.webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.webhook_endpoint_rules();
ALTER TABLE coditect.webhook_endpoints ENABLE ALWAYS TRIGGER webhook_endpoint_rules;

CREATE TYPE coditect.webhook_endpoint_secret AS (
    secret   text,
    endpoint coditect.webhook_endpoints
);
COMMENT ON TYPE coditect.webhook_endpoint_secret IS
    'A new signing secret (64 hex digits: the HMAC key is the 32 bytes they encode), shown this once, and its endpoint.';

-- POST /api/v1/webhook-endpoints/{id}/rotate-secret/ (admins): a new secret, answered once; the
-- old one stops at once (deliveries not yet sent are signed with the new one). The endpoint's
-- secret_rotated_at records it in the audit trail (never the secret).
CREATE FUNCTION coditect_internal.webhook_endpoint_json(e coditect.webhook_endpoints) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(e)
$$;

CREATE FUNCTION coditect.webhook_endpoint_rotate_secret(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    s        bytea := coditect_internal.webhook_secret_text();
    e        coditect.webhook_endpoints;
BEGIN
    PERFORM coditect.require_permission('webhook_endpoint.rotate_secret');
    UPDATE coditect.webhook_endpoints x SET secret_rotated_at = clock_timestamp()
     WHERE x.tenant_id = v_tenant AND x.id = p_id
    RETURNING * INTO e;
    IF e.id IS NULL THEN
        RAISE EXCEPTION 'webhook endpoint % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    UPDATE coditect_internal.webhook_endpoint_secrets x SET secret = s
     WHERE x.tenant_id = v_tenant AND x.endpoint_id = e.id;
    RETURN jsonb_build_object('secret', convert_from(s, 'UTF8'), 'endpoint', coditect_internal.webhook_endpoint_json(e));
END
$$;
REVOKE ALL ON FUNCTION coditect.webhook_endpoint_rotate_secret(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.webhook_endpoint_rotate_secret(uuid) TO coditect_gateway, coditect_service;
SELECT coditect_internal.register_action('webhook_endpoint', 'rotate_secret', 'coditect.webhook_endpoint_rotate_secret(uuid)',
    'POST', '/api/v1/webhook-endpoints/{id}/rotate-secret/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'admin', p_response => '{"type": "webhook_endpoint_secret"}', p_secret => true,
    p_summary => 'A new signing secret for the endpoint (admins), shown in this answer only; the old one stops working');

------------------------------------------------------------------------------------------------
-- The outbox: one row per delivery to one URL
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.webhook_deliveries (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    -- Also the Idempotency-Key: the same on every attempt.
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    endpoint_id      uuid,
    event            text NOT NULL CONSTRAINT webhook_deliveries_event_check
                     CHECK (event = ANY (coditect_internal.outbox_events())),
    payload          jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    url              coditect.url NOT NULL,
    status           coditect.webhook_delivery_status NOT NULL DEFAULT 'pending',
    attempts         int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code int CHECK (last_status_code BETWEEN 100 AND 599),
    last_error       text CHECK (char_length(last_error) <= 1000),
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES coditect.webhook_endpoints (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.webhook_deliveries', '{tenant_id,endpoint_id}', '{endpoint_id}');
COMMENT ON TABLE coditect.webhook_deliveries IS
    'The outbox: each notification for one URL, its attempts and outcome (read-only; written by the engine and the worker).';
COMMENT ON COLUMN coditect.webhook_deliveries.id IS 'Sent as Idempotency-Key, the same on every attempt.';
COMMENT ON COLUMN coditect.webhook_deliveries.endpoint_id IS
    'The endpoint it goes to; none for a workflow''s own webhook URL (or once the endpoint was deleted).';
COMMENT ON COLUMN coditect.webhook_deliveries.payload IS 'The event''s data (the body''s "data").';
COMMENT ON COLUMN coditect.webhook_deliveries.url IS 'Where it was (or will be) POSTed.';
COMMENT ON COLUMN coditect.webhook_deliveries.attempts IS 'Attempts made (answered or failed).';
COMMENT ON COLUMN coditect.webhook_deliveries.next_attempt_at IS 'When a worker may next try it (a claim leases it until then).';
COMMENT ON COLUMN coditect.webhook_deliveries.last_status_code IS 'The HTTP status of the last answer; none when there was none.';
COMMENT ON COLUMN coditect.webhook_deliveries.last_error IS 'Why the last attempt failed (connection, timeout, status).';
CREATE INDEX webhook_deliveries_tenant_created_idx ON coditect.webhook_deliveries (tenant_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_endpoint_idx ON coditect.webhook_deliveries (tenant_id, endpoint_id, created_at DESC);
-- The worker's claim reads the pending rows only.
CREATE INDEX webhook_deliveries_due_idx ON coditect.webhook_deliveries (tenant_id, next_attempt_at) WHERE status = 'pending';
-- The purge's.
CREATE INDEX webhook_deliveries_finished_idx ON coditect.webhook_deliveries (tenant_id, updated_at) WHERE status <> 'pending';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('webhook_delivery', NULL,      'pending',   NULL),
    ('webhook_delivery', 'pending', 'delivered', 'delivered_at'),
    ('webhook_delivery', 'pending', 'dead',      NULL);

SELECT coditect_internal.register_resource('coditect.webhook_deliveries', 'webhook_delivery',
    p_plural => 'webhook_deliveries', p_roles => '{"view": "admin"}', p_writable => false,
    p_state_machine => 'webhook_delivery',
    -- An attempt's bookkeeping is not a change worth an audit row; the outcome (status) is.
    p_audit_exclude => '{attempts,next_attempt_at,last_status_code,last_error,url}',
    p_filters => '{"status": ["exact", "in"], "event": ["exact", "in"], "endpoint_id": ["exact"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,next_attempt_at}', p_keyset => true, p_page_size => 50,
    p_also_under => '{"webhook_endpoint": "endpoint_id"}');

-- A workflow's own webhook URL: its secret, with the delivery (no login reads it).
CREATE TABLE coditect_internal.webhook_delivery_secrets (
    tenant_id   uuid NOT NULL,
    delivery_id uuid NOT NULL,
    secret      bytea NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 1024),
    PRIMARY KEY (tenant_id, delivery_id),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES coditect.webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE coditect_internal.webhook_delivery_secrets ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON coditect_internal.webhook_delivery_secrets FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.webhook_delivery_secrets', '');

-- Queues an event for delivery, in the caller's transaction; returns how many deliveries.
--   p_url given: one delivery to it, signed with p_url_secret (a workflow's own webhook).
--   else: one per active endpoint of the tenant subscribed to p_event (or '*'), and with
--   p_channel only the endpoint of that name. None is no error.
-- NOTIFY coditect_outbox (delivered at commit, never after a rollback) wakes the worker; its
-- payload is empty so that no other login listening learns a tenant's id. On a Citus worker node
-- coditect_internal.notify sends nothing: the worker's poll (CODITECT_WORKER_POLL_MS) delivers.
-- Owner-context only: the engine's definer functions call it (no login may).
CREATE FUNCTION coditect_internal.outbox_emit(p_tenant uuid, p_event text, p_payload jsonb,
                                              p_channel text DEFAULT NULL, p_url text DEFAULT NULL,
                                              p_url_secret bytea DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int;
    d uuid;
BEGIN
    IF p_tenant IS NULL OR NOT EXISTS (SELECT 1 FROM coditect.tenants t WHERE t.id = p_tenant) THEN
        RAISE EXCEPTION 'outbox: tenant % not found', p_tenant USING ERRCODE = 'CD404';
    ELSIF p_event IS NULL OR p_event <> ALL (coditect_internal.outbox_events()) THEN
        RAISE EXCEPTION 'outbox: unknown event "%"', p_event USING ERRCODE = 'CD400',
            HINT = 'one of ' || array_to_string(coditect_internal.outbox_events(), ', ');
    ELSIF p_payload IS NULL OR jsonb_typeof(p_payload) <> 'object' THEN
        RAISE EXCEPTION 'outbox: the payload must be a JSON object' USING ERRCODE = 'CD400';
    ELSIF octet_length(p_payload::text) > 262144 THEN
        RAISE EXCEPTION 'outbox: the payload is over 256 KiB' USING ERRCODE = 'CD400';
    END IF;
    IF p_url IS NOT NULL THEN
        IF p_url !~ '^https?://[^\s/$.?#][^\s]*$' OR char_length(p_url) > 2000 THEN
            RAISE EXCEPTION 'outbox: "%" is not an http(s) URL', left(p_url, 100) USING ERRCODE = 'CD400';
        ELSIF octet_length(p_url_secret) IS NULL OR octet_length(p_url_secret) NOT BETWEEN 16 AND 1024 THEN
            RAISE EXCEPTION 'outbox: a webhook URL needs its signing secret (16 to 1024 bytes)' USING ERRCODE = 'CD400';
        END IF;
        INSERT INTO coditect.webhook_deliveries (tenant_id, event, payload, url)
        VALUES (p_tenant, p_event, p_payload, p_url)
        RETURNING id INTO d;
        INSERT INTO coditect_internal.webhook_delivery_secrets (tenant_id, delivery_id, secret)
        VALUES (p_tenant, d, p_url_secret);
        n := 1;
    ELSE
        INSERT INTO coditect.webhook_deliveries (tenant_id, endpoint_id, event, payload, url)
        SELECT e.tenant_id, e.id, p_event, p_payload, e.url
          FROM coditect.webhook_endpoints e
         WHERE e.tenant_id = p_tenant AND e.active
           AND (p_event = ANY (e.events) OR '*' = ANY (e.events))
           AND (p_channel IS NULL OR e.name = p_channel)
         ORDER BY e.id;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    IF n > 0 THEN
        PERFORM coditect_internal.notify('coditect_outbox', '');
    END IF;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.outbox_emit(uuid, text, jsonb, text, text, bytea) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- The worker's functions (coditect_worker only)
------------------------------------------------------------------------------------------------

-- Claims up to p_limit due deliveries (every tenant) for p_lease_seconds: their next attempt
-- moves to the lease's end, so a worker that dies holding them gives them back then. SKIP
-- LOCKED: workers side by side claim different rows. Each row comes with what the POST needs,
-- the secret included. A delivery whose endpoint was deleted or switched off dies here.
CREATE FUNCTION coditect.outbox_claim(p_limit int DEFAULT 10, p_lease_seconds int DEFAULT 60)
RETURNS TABLE (id uuid, tenant_id uuid, event text, url text, payload jsonb, created_at text,
               attempts int, secret bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r        record;
    v_url    text;
    v_secret bytea;
    why      text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'p_limit must be 1 to 1000' USING ERRCODE = 'CD400';
    ELSIF p_lease_seconds IS NULL OR p_lease_seconds NOT BETWEEN 1 AND 3600 THEN
        RAISE EXCEPTION 'p_lease_seconds must be 1 to 3600' USING ERRCODE = 'CD400';
    END IF;
    FOR r IN SELECT d.tenant_id, d.id, d.endpoint_id, d.event, d.url, d.payload, d.created_at, d.attempts
               FROM coditect.webhook_deliveries d
              WHERE d.status = 'pending' AND d.next_attempt_at <= now()
              ORDER BY d.next_attempt_at, d.id
              LIMIT p_limit
                FOR UPDATE OF d SKIP LOCKED LOOP
        why := NULL;
        SELECT e.url, s.secret INTO v_url, v_secret
          FROM coditect.webhook_endpoints e
          JOIN coditect_internal.webhook_endpoint_secrets s ON s.tenant_id = e.tenant_id AND s.endpoint_id = e.id
         WHERE e.tenant_id = r.tenant_id AND e.id = r.endpoint_id AND e.active;
        IF NOT FOUND THEN
            v_url := r.url;
            SELECT s.secret INTO v_secret FROM coditect_internal.webhook_delivery_secrets s
             WHERE s.tenant_id = r.tenant_id AND s.delivery_id = r.id;
            why := CASE WHEN r.endpoint_id IS NOT NULL THEN 'the endpoint is inactive'
                        WHEN v_secret IS NULL THEN 'the endpoint was deleted' END;
        END IF;
        IF why IS NOT NULL THEN
            UPDATE coditect.webhook_deliveries x SET status = 'dead', last_error = why
             WHERE x.tenant_id = r.tenant_id AND x.id = r.id;
            CONTINUE;
        END IF;
        -- An endpoint's URL may have changed since the event: the delivery goes to the current one.
        UPDATE coditect.webhook_deliveries x
           SET next_attempt_at = now() + make_interval(secs => p_lease_seconds), url = v_url
         WHERE x.tenant_id = r.tenant_id AND x.id = r.id;
        id := r.id;
        tenant_id := r.tenant_id;
        event := r.event;
        url := v_url;
        payload := r.payload;
        created_at := to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        attempts := r.attempts;
        secret := v_secret;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Records one attempt's outcome: a 2xx status is delivered; anything else (another status, or
-- none: p_status_code NULL with p_error) counts an attempt and, before p_max_attempts, retries
-- after p_retry_in (the worker's backoff with jitter, at most a day), else the delivery is dead.
-- Returns the delivery's status after it. A delivery no longer pending (a duplicate outcome,
-- from a worker whose lease ran out) is left alone.
CREATE FUNCTION coditect.outbox_record(p_tenant uuid, p_id uuid, p_status_code int, p_error text,
                                       p_retry_in interval, p_max_attempts int)
RETURNS coditect.webhook_delivery_status
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d  coditect.webhook_deliveries;
    ok boolean := p_status_code BETWEEN 200 AND 299;
BEGIN
    IF p_status_code IS NOT NULL AND p_status_code NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'p_status_code must be an HTTP status (100 to 599)' USING ERRCODE = 'CD400';
    ELSIF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'p_max_attempts must be 1 to 100' USING ERRCODE = 'CD400';
    ELSIF p_retry_in IS NULL OR p_retry_in < interval '0' THEN
        RAISE EXCEPTION 'p_retry_in must be a non-negative interval' USING ERRCODE = 'CD400';
    ELSIF p_status_code IS NULL AND p_error IS NULL THEN
        RAISE EXCEPTION 'an attempt without an HTTP status needs its error' USING ERRCODE = 'CD400';
    END IF;
    SELECT x.* INTO d FROM coditect.webhook_deliveries x WHERE x.tenant_id = p_tenant AND x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'delivery % not found', p_id USING ERRCODE = 'CD404';
    ELSIF d.status <> 'pending' THEN
        RETURN d.status;
    END IF;
    IF ok THEN
        UPDATE coditect.webhook_deliveries x
           SET status = 'delivered', attempts = x.attempts + 1, last_status_code = p_status_code, last_error = NULL
         WHERE x.tenant_id = p_tenant AND x.id = p_id
        RETURNING * INTO d;
    ELSIF d.attempts + 1 >= p_max_attempts THEN
        UPDATE coditect.webhook_deliveries x
           SET status = 'dead', attempts = x.attempts + 1, last_status_code = p_status_code,
               last_error = left(coalesce(p_error, 'HTTP ' || p_status_code), 1000)
         WHERE x.tenant_id = p_tenant AND x.id = p_id
        RETURNING * INTO d;
    ELSE
        UPDATE coditect.webhook_deliveries x
           SET attempts = x.attempts + 1, last_status_code = p_status_code,
               last_error = left(coalesce(p_error, 'HTTP ' || p_status_code), 1000),
               next_attempt_at = now() + least(p_retry_in, interval '1 day')
         WHERE x.tenant_id = p_tenant AND x.id = p_id
        RETURNING * INTO d;
    END IF;
    RETURN d.status;
END
$$;
REVOKE ALL ON FUNCTION coditect.outbox_claim(int, int),
    coditect.outbox_record(uuid, uuid, int, text, interval, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.outbox_claim(int, int),
    coditect.outbox_record(uuid, uuid, int, text, interval, int) TO coditect_worker;

-- Maintenance (DBA and its pg_cron job): deletes delivered and dead deliveries whose outcome is
-- at least p_older_than old (retention: 30 days), in every tenant; pending ones stay.
CREATE FUNCTION coditect.purge_webhook_deliveries(p_older_than interval DEFAULT '30 days') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF p_older_than IS NULL OR p_older_than OPERATOR(pg_catalog.<) interval '0' THEN
        RAISE EXCEPTION 'p_older_than must be a non-negative interval, got %', coalesce(p_older_than::text, 'NULL')
            USING ERRCODE = 'CD400';
    END IF;
    DELETE FROM coditect.webhook_deliveries d
     WHERE d.status OPERATOR(pg_catalog.<>) 'pending'
       AND d.updated_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) p_older_than);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_webhook_deliveries(interval) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- 12. 54_workflows (as in sql/54_workflows.sql)
------------------------------------------------------------------------------------------------

-- 54_workflows: workflows, their executions, steps and approvals (issue 11), and the small engine
-- that runs them in the database.
--
-- A workflow row is one VERSION of a workflow: versions of one workflow share lineage_id and are
-- numbered from 1. A draft is edited freely; publishing (status draft -> active) freezes it for
-- good (workflows_guard refuses any other change to a published version, whoever writes) and
-- archives the lineage's previously active version; editing then means POST .../versions/, a new
-- draft copying the latest version. An execution is pinned to the version it started on (its
-- workflow_id), and its current_step is always a node id of that version's definition.
--
-- The engine (workflow_start / workflow_complete_step / workflow_decide / workflow_cancel) runs
-- as the owner: clients may read executions, steps and approvals under row-level security but not
-- write them, so every state they hold was reached through the graph. Each call moves the
-- execution along the definition's edges, through automatic nodes (condition, notification), to
-- the next node that waits for a person or an outside system (task, approval) or to an end.
-- Expected failures (a condition that does not evaluate, an outcome with no edge, a loop that
-- never waits) set the failed state and error_message on the execution and its step; the steps
-- before stay as they were.

CREATE TYPE coditect.workflow_type AS ENUM ('approval', 'automation', 'review', 'deployment', 'custom');
CREATE TYPE coditect.workflow_status AS ENUM ('draft', 'active', 'paused', 'archived');
COMMENT ON TYPE coditect.workflow_status IS
    'draft -> active (published: immutable) -> paused <-> active -> archived. Publishing a version archives the active one.';
CREATE TYPE coditect.workflow_trigger_type AS ENUM ('manual', 'scheduled', 'webhook', 'event');
CREATE TYPE coditect.workflow_execution_status AS ENUM ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled');
CREATE TYPE coditect.workflow_step_status AS ENUM ('pending', 'running', 'completed', 'failed', 'skipped');
-- The seeds' four, and cancelled: an approval no longer needed (another approver decided the
-- step, or the execution was cancelled), which is neither a decision nor an expiry.
CREATE TYPE coditect.workflow_approval_status AS ENUM ('pending', 'approved', 'rejected', 'expired', 'cancelled');

------------------------------------------------------------------------------------------------
-- Checks of a workflow's definition and triggers (CHECK constraints: every writer)
------------------------------------------------------------------------------------------------

-- The validator's problems (50_workflow_definitions), all of them in one refusal.
CREATE FUNCTION coditect_internal.check_workflow_definition(p_definition jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problems jsonb := coditect.workflow_definition_problems(p_definition);
BEGIN
    IF jsonb_array_length(problems) > 0 THEN
        RAISE EXCEPTION 'the workflow definition has % problem(s): %', jsonb_array_length(problems),
            (SELECT string_agg(format('%s: %s', p ->> 'path', p ->> 'message'), '; ')
               FROM jsonb_array_elements(problems) p)
            USING ERRCODE = 'CD422', HINT = 'coditect.workflow_definition_problems(definition) lists them as JSON';
    END IF;
    RETURN true;
END
$$;

-- A workflow's triggers: [{"type": "manual"}, {"type": "webhook"},
-- {"type": "scheduled", "cron": "0 9 * * 1", "context": {...}},
-- {"type": "event", "resource": "task", "on": ["update"], "condition": "$.changes.status[1] == \"in_review\""}].
-- The shape only; that an event's resource exists is workflows_guard's check (it reads the catalog).
CREATE FUNCTION coditect_internal.check_workflow_triggers(p_triggers jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t     jsonb;
    n     int := 0;
    kind  text;
    bad   text;
    allowed text[];
    seen  text[] := '{}';
BEGIN
    IF jsonb_typeof(p_triggers) IS DISTINCT FROM 'array' OR jsonb_array_length(p_triggers) > 20 THEN
        RAISE EXCEPTION 'triggers must be a JSON array of at most 20 triggers' USING ERRCODE = 'CD400';
    END IF;
    FOR t IN SELECT value FROM jsonb_array_elements(p_triggers) LOOP
        n := n + 1;
        kind := CASE WHEN jsonb_typeof(t) = 'object' THEN t ->> 'type' END;
        IF kind IS NULL OR kind <> ALL (enum_range(NULL::coditect.workflow_trigger_type)::text[]) THEN
            RAISE EXCEPTION 'trigger %: must be an object whose type is manual, scheduled, webhook or event', n
                USING ERRCODE = 'CD400';
        END IF;
        allowed := CASE kind WHEN 'event' THEN '{type,resource,on,condition}'
                             WHEN 'scheduled' THEN '{type,cron,context}' ELSE '{type}' END;
        SELECT string_agg(k, ', ' ORDER BY k) INTO bad FROM jsonb_object_keys(t) k WHERE k <> ALL (allowed);
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'trigger % (%): unknown field(s) % (fields: %)', n, kind, bad, array_to_string(allowed, ', ')
                USING ERRCODE = 'CD400';
        END IF;
        IF kind IN ('manual', 'webhook') THEN
            IF kind = ANY (seen) THEN
                RAISE EXCEPTION 'trigger %: a workflow has one % trigger', n, kind USING ERRCODE = 'CD400';
            END IF;
            seen := seen || kind;
        ELSIF kind = 'scheduled' THEN
            -- pg_cron's syntax: five fields or @hourly-style names, at most once a minute (not
            -- pg_cron's "N seconds": a tenant's schedules share the scheduler with everyone's).
            -- pg_cron checks the expression itself when the version is published.
            IF jsonb_typeof(t -> 'cron') IS DISTINCT FROM 'string'
               OR (t ->> 'cron') !~ '^\s*[0-9A-Za-z*/,-]+(\s+[0-9A-Za-z*/,-]+){4}\s*$|^@(yearly|annually|monthly|weekly|daily|hourly)$' THEN
                RAISE EXCEPTION 'trigger %: cron must be a cron expression such as "0 9 * * 1" (at most once a minute)', n
                    USING ERRCODE = 'CD400';
            END IF;
            IF t ? 'context' AND jsonb_typeof(t -> 'context') <> 'object' THEN
                RAISE EXCEPTION 'trigger %: context must be a JSON object', n USING ERRCODE = 'CD400';
            END IF;
        ELSE
            IF jsonb_typeof(t -> 'resource') IS DISTINCT FROM 'string' OR (t ->> 'resource') !~ '^[a-z][a-z_]*$' THEN
                RAISE EXCEPTION 'trigger %: resource must name a resource, such as "task"', n USING ERRCODE = 'CD400';
            END IF;
            IF t ? 'on' AND (jsonb_typeof(t -> 'on') <> 'array' OR jsonb_array_length(t -> 'on') = 0
                             OR EXISTS (SELECT 1 FROM jsonb_array_elements(t -> 'on') v
                                         WHERE v #>> '{}' IS NULL OR v #>> '{}' NOT IN ('create', 'update', 'delete', 'restore'))) THEN
                RAISE EXCEPTION 'trigger %: on must be a non-empty array of create, update, delete, restore', n
                    USING ERRCODE = 'CD400';
            END IF;
            IF t ? 'condition' THEN
                IF jsonb_typeof(t -> 'condition') <> 'string' THEN
                    RAISE EXCEPTION 'trigger %: condition must be an SQL/JSON path predicate (a string)', n USING ERRCODE = 'CD400';
                END IF;
                BEGIN
                    PERFORM (t ->> 'condition')::jsonpath;
                EXCEPTION WHEN syntax_error OR data_exception OR feature_not_supported THEN
                    RAISE EXCEPTION 'trigger %: condition is not an SQL/JSON path predicate: %', n, SQLERRM USING ERRCODE = 'CD400';
                END;
            END IF;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.workflows (
    tenant_id             uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                    uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    lineage_id            uuid NOT NULL,  -- the first version's id, shared by all versions
    project_id            uuid,
    name                  varchar(255) NOT NULL CHECK (name ~ '\S'),
    description           text NOT NULL DEFAULT '',
    workflow_type         coditect.workflow_type NOT NULL DEFAULT 'custom',
    version               integer NOT NULL DEFAULT 1,
    status                coditect.workflow_status NOT NULL DEFAULT 'draft',
    definition            jsonb NOT NULL
                          CONSTRAINT workflows_definition_check CHECK (coditect_internal.check_workflow_definition(definition)),
    triggers              coditect.json_array NOT NULL DEFAULT '[{"type": "manual"}]'
                          CONSTRAINT workflows_triggers_check CHECK (coditect_internal.check_workflow_triggers(triggers)),
    -- The seeds' "7 days default, configurable per workflow", in hours (a plain number for
    -- clients); a node's expire_after overrides it.
    approval_expiry_hours integer NOT NULL DEFAULT 168 CHECK (approval_expiry_hours BETWEEN 1 AND 8760),
    created_by            uuid DEFAULT coditect.current_user_id(),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    published_at          timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT workflows_lineage_version_key UNIQUE (tenant_id, lineage_id, version),
    CONSTRAINT workflows_published_check CHECK ((status = 'draft') = (published_at IS NULL)),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.workflows', '{tenant_id,project_id}', '{project_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.workflows', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.workflows IS
    'Workflow versions: a draft is edited, a published version (active, paused, archived) never changes; versions of one workflow share lineage_id.';
COMMENT ON COLUMN coditect.workflows.definition IS
    'The graph (nodes and edges, README "Workflow definitions"), checked by coditect.workflow_definition_problems on every write.';
CREATE INDEX workflows_tenant_status_idx ON coditect.workflows (tenant_id, status);
CREATE INDEX workflows_tenant_type_idx ON coditect.workflows (tenant_id, workflow_type);
CREATE INDEX workflows_tenant_created_idx ON coditect.workflows (tenant_id, created_at DESC, id DESC);
CREATE INDEX workflows_project_idx ON coditect.workflows (tenant_id, project_id);
-- One version of a workflow runs (active or paused), and one is being edited.
CREATE UNIQUE INDEX workflows_one_live_key ON coditect.workflows (tenant_id, lineage_id) WHERE status IN ('active', 'paused');
CREATE UNIQUE INDEX workflows_one_draft_key ON coditect.workflows (tenant_id, lineage_id) WHERE status = 'draft';

CREATE TABLE coditect.workflow_executions (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    workflow_id   uuid NOT NULL,  -- the version it runs, for its whole life
    triggered_by  uuid,
    trigger_type  coditect.workflow_trigger_type NOT NULL DEFAULT 'manual',
    status        coditect.workflow_execution_status NOT NULL DEFAULT 'pending',
    current_step  varchar(100),
    started_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    error_message text,
    context_data  coditect.json_object NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- NO ACTION, not the seeds' CASCADE: a version that ran keeps its history (archive it); a
    -- tenant's purge removes both in one statement.
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES coditect.workflows (tenant_id, id),
    FOREIGN KEY (tenant_id, triggered_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.workflow_executions', '{tenant_id,triggered_by}', '{triggered_by}');
CREATE INDEX workflow_executions_workflow_started_idx ON coditect.workflow_executions (tenant_id, workflow_id, started_at DESC);
CREATE INDEX workflow_executions_tenant_status_idx ON coditect.workflow_executions (tenant_id, status);
CREATE INDEX workflow_executions_tenant_created_idx ON coditect.workflow_executions (tenant_id, created_at DESC, id DESC);

CREATE TABLE coditect.workflow_steps (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    execution_id  uuid NOT NULL,
    step_id       varchar(100) NOT NULL,  -- the node's id in the pinned definition
    step_name     varchar(255) NOT NULL DEFAULT '',
    step_type     varchar(50) NOT NULL,   -- the node's type
    status        coditect.workflow_step_status NOT NULL DEFAULT 'pending',
    started_at    timestamptz,
    completed_at  timestamptz,
    input_data    coditect.json_object NOT NULL DEFAULT '{}',
    output_data   coditect.json_object NOT NULL DEFAULT '{}',
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, execution_id) REFERENCES coditect.workflow_executions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_steps_execution_started_idx ON coditect.workflow_steps (tenant_id, execution_id, started_at DESC);
CREATE INDEX workflow_steps_tenant_created_idx ON coditect.workflow_steps (tenant_id, created_at DESC, id DESC);

CREATE TABLE coditect.workflow_approvals (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    step_id     uuid NOT NULL,            -- the approval step (workflow_steps.id)
    execution_id uuid NOT NULL,           -- the step's execution, for lists and the engine
    approver_id uuid,                     -- a listed approver; NULL when min_role decides
    min_role    coditect.member_role,     -- members of this role or above decide
    status      coditect.workflow_approval_status NOT NULL DEFAULT 'pending',
    comment     text NOT NULL DEFAULT '',
    decided_by  uuid,
    approved_at timestamptz,              -- when it was approved (the seeds' field)
    decided_at  timestamptz,              -- when it was approved, rejected, expired or cancelled
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, step_id) REFERENCES coditect.workflow_steps (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, execution_id) REFERENCES coditect.workflow_executions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, approver_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, decided_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.workflow_approvals', '{tenant_id,approver_id}', '{approver_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.workflow_approvals', '{tenant_id,decided_by}', '{decided_by}');
CREATE INDEX workflow_approvals_approver_status_idx ON coditect.workflow_approvals (tenant_id, approver_id, status);
CREATE INDEX workflow_approvals_step_status_idx ON coditect.workflow_approvals (tenant_id, step_id, status);
CREATE INDEX workflow_approvals_tenant_created_idx ON coditect.workflow_approvals (tenant_id, created_at DESC, id DESC);
-- The expiry job's scan: pending approvals are few.
CREATE INDEX workflow_approvals_pending_expiry_idx ON coditect.workflow_approvals (tenant_id, expires_at)
    WHERE status = 'pending';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('workflow', NULL,     'draft',    NULL),
    ('workflow', 'draft',  'active',   'published_at'),
    ('workflow', 'active', 'paused',   NULL),
    ('workflow', 'paused', 'active',   NULL),
    ('workflow', 'active', 'archived', NULL),
    ('workflow', 'paused', 'archived', NULL),
    ('workflow_execution', NULL,      'running',   NULL),
    ('workflow_execution', 'running', 'completed', 'completed_at'),
    ('workflow_execution', 'running', 'failed',    'completed_at'),
    ('workflow_execution', 'running', 'cancelled', 'completed_at'),
    ('workflow_step', NULL,      'running',   'started_at'),
    ('workflow_step', NULL,      'completed', 'started_at'),
    ('workflow_step', NULL,      'failed',    'started_at'),
    ('workflow_step', 'running', 'completed', 'completed_at'),
    ('workflow_step', 'running', 'failed',    'completed_at'),
    ('workflow_step', 'running', 'skipped',   'completed_at'),
    ('workflow_approval', NULL,      'pending',   NULL),
    ('workflow_approval', 'pending', 'approved',  'approved_at'),
    ('workflow_approval', 'pending', 'rejected',  'decided_at'),
    ('workflow_approval', 'pending', 'expired',   'decided_at'),
    ('workflow_approval', 'pending', 'cancelled', 'decided_at');

------------------------------------------------------------------------------------------------
-- Rules for every writer
------------------------------------------------------------------------------------------------

-- The node of a definition with this id (NULL when none).
CREATE FUNCTION coditect_internal.workflow_node(p_definition jsonb, p_id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT n FROM jsonb_array_elements(p_definition -> 'nodes') n WHERE n ->> 'id' = p_id LIMIT 1
$$;

-- The resource an event trigger may watch: a tenant resource of the catalog, but none of the
-- workflow engine's own or the outbox's (their rows change as the engine runs: no loops).
CREATE FUNCTION coditect_internal.workflow_event_resource_type(p_resource text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace(initcap(replace(r.name, '_', ' ')), ' ', '')
      FROM coditect_internal.resources r
      JOIN coditect_internal.tenant_tables t ON t.relid = coalesce(r.rls_relid, r.relid)
     WHERE r.name = p_resource AND r.name !~ '^(workflow|webhook)'
$$;

-- BEFORE INSERT OR UPDATE: versions, immutability of published versions, users named in the
-- definition, the resources of event triggers. Publishing archives the running version.
CREATE FUNCTION coditect_internal.workflows_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    -- A row for another tenant than the context's is the policy's to refuse.
    IF coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.lineage_id IS NULL OR NEW.lineage_id = NEW.id THEN
            NEW.lineage_id := NEW.id;
            NEW.version := 1;
        ELSE
            -- A next version: numbered under the lineage's row locks, so two at once do not
            -- take the same number (the unique key would refuse the second anyway).
            PERFORM 1 FROM coditect.workflows w WHERE w.tenant_id = NEW.tenant_id AND w.lineage_id = NEW.lineage_id FOR UPDATE;
            SELECT max(w.version) + 1 INTO NEW.version FROM coditect.workflows w
             WHERE w.tenant_id = NEW.tenant_id AND w.lineage_id = NEW.lineage_id;
            IF NEW.version IS NULL THEN
                RAISE EXCEPTION 'workflow % not found', NEW.lineage_id USING ERRCODE = 'CD404';
            END IF;
        END IF;
    ELSE
        IF (NEW.lineage_id, NEW.version) IS DISTINCT FROM (OLD.lineage_id, OLD.version) THEN
            RAISE EXCEPTION 'a workflow version keeps its lineage and number' USING ERRCODE = 'CD422';
        END IF;
        -- (project_id and created_by may become NULL: their rows' deletion, ON DELETE SET NULL.)
        IF OLD.status <> 'draft' AND ((NEW.name, NEW.description, NEW.workflow_type, NEW.definition, NEW.triggers,
                                       NEW.approval_expiry_hours)
                                      IS DISTINCT FROM (OLD.name, OLD.description, OLD.workflow_type, OLD.definition,
                                                        OLD.triggers, OLD.approval_expiry_hours)
                                      OR (NEW.project_id IS DISTINCT FROM OLD.project_id AND NEW.project_id IS NOT NULL)
                                      OR (NEW.created_by IS DISTINCT FROM OLD.created_by AND NEW.created_by IS NOT NULL)) THEN
            RAISE EXCEPTION 'workflow "%" version % is published and cannot change; create the next version to edit it', OLD.name, OLD.version
                USING ERRCODE = 'CD422', HINT = 'POST /api/v1/workflows/{id}/versions/ makes a draft of the next version';
        END IF;
        IF OLD.status = 'draft' AND NEW.status = 'active' THEN
            UPDATE coditect.workflows w SET status = 'archived'
             WHERE w.tenant_id = NEW.tenant_id AND w.lineage_id = NEW.lineage_id AND w.id <> NEW.id
               AND w.status IN ('active', 'paused');
        END IF;
        IF NEW.definition IS NOT DISTINCT FROM OLD.definition AND NEW.triggers IS NOT DISTINCT FROM OLD.triggers THEN
            RETURN NEW;
        END IF;
    END IF;
    -- Users named by the definition are users of this tenant.
    SELECT string_agg(format('%s: no user %s in this tenant', u.path, u.id), '; ') INTO bad
      FROM (SELECT format('$.nodes[%s].settings.assignee', n.i - 1) AS path, n.node #>> '{settings,assignee}' AS id
              FROM jsonb_array_elements(NEW.definition -> 'nodes') WITH ORDINALITY n (node, i)
             WHERE n.node #>> '{settings,assignee}' IS NOT NULL
            UNION ALL
            SELECT format('$.nodes[%s].settings.approvers[%s]', n.i - 1, a.j - 1), a.id #>> '{}'
              FROM jsonb_array_elements(NEW.definition -> 'nodes') WITH ORDINALITY n (node, i),
                   jsonb_array_elements(n.node #> '{settings,approvers}') WITH ORDINALITY a (id, j)
             WHERE jsonb_typeof(n.node #> '{settings,approvers}') = 'array') u
     WHERE NOT EXISTS (SELECT 1 FROM coditect.users x WHERE x.tenant_id = NEW.tenant_id AND x.id = u.id::uuid);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'the workflow definition names unknown users: %', bad USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(format('trigger %s: "%s" is not a resource a workflow can watch', t.i, t.trig ->> 'resource'), '; ') INTO bad
      FROM jsonb_array_elements(NEW.triggers) WITH ORDINALITY t (trig, i)
     WHERE t.trig ->> 'type' = 'event' AND coditect_internal.workflow_event_resource_type(t.trig ->> 'resource') IS NULL;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '%', bad USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- BEFORE INSERT OR UPDATE of executions and steps: the node they name is a node of the pinned
-- version's definition, and they stay with their version and execution.
CREATE FUNCTION coditect_internal.workflow_node_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    node text;
    def  jsonb;
BEGIN
    -- Another tenant's row is the policy's to refuse; this owner-rights code reads nothing of it.
    IF coditect.current_tenant_id() IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    IF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'workflow_executions' THEN
        IF TG_OP = 'UPDATE' AND NEW.workflow_id IS DISTINCT FROM OLD.workflow_id THEN
            RAISE EXCEPTION 'an execution stays on the workflow version it started on' USING ERRCODE = 'CD422';
        END IF;
        node := NEW.current_step;
        SELECT w.definition INTO def FROM coditect.workflows w WHERE w.tenant_id = NEW.tenant_id AND w.id = NEW.workflow_id;
    ELSE
        IF TG_OP = 'UPDATE' AND (NEW.execution_id, NEW.step_id) IS DISTINCT FROM (OLD.execution_id, OLD.step_id) THEN
            RAISE EXCEPTION 'a step stays on its execution and node' USING ERRCODE = 'CD422';
        END IF;
        node := NEW.step_id;
        SELECT w.definition INTO def FROM coditect.workflow_executions e
          JOIN coditect.workflows w ON w.tenant_id = e.tenant_id AND w.id = e.workflow_id
         WHERE e.tenant_id = NEW.tenant_id AND e.id = NEW.execution_id;
    END IF;
    IF node IS NOT NULL AND def IS NOT NULL AND coditect_internal.workflow_node(def, node) IS NULL THEN
        RAISE EXCEPTION '"%" is not a step of this workflow version (its steps: %)', node,
            (SELECT string_agg(n ->> 'id', ', ') FROM jsonb_array_elements(def -> 'nodes') n)
            USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- BEFORE UPDATE OF status of approvals: a decision is made by whom the approval names (the
-- listed approver, or a member of at least min_role), whoever writes it.
CREATE FUNCTION coditect_internal.workflow_approval_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status NOT IN ('approved', 'rejected') OR NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT coalesce(NEW.decided_by = OLD.approver_id
                    OR (OLD.approver_id IS NULL AND OLD.min_role IS NOT NULL AND EXISTS (
                            SELECT 1 FROM coditect.memberships m
                             WHERE m.tenant_id = NEW.tenant_id AND m.user_id = NEW.decided_by AND m.revoked_at IS NULL
                               AND coditect_internal.role_rank(m.role::text) >= coditect_internal.role_rank(OLD.min_role::text))), false) THEN
        RAISE EXCEPTION 'only an approver of this step decides it' USING ERRCODE = 'CD403';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER workflows_guard BEFORE INSERT OR UPDATE ON coditect.workflows
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflows_guard();
CREATE TRIGGER workflow_node_guard BEFORE INSERT OR UPDATE OF workflow_id, current_step ON coditect.workflow_executions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_node_guard();
CREATE TRIGGER workflow_node_guard BEFORE INSERT OR UPDATE OF execution_id, step_id ON coditect.workflow_steps
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_node_guard();
CREATE TRIGGER workflow_approval_guard BEFORE UPDATE OF status ON coditect.workflow_approvals
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_approval_guard();
ALTER TABLE coditect.workflows ENABLE ALWAYS TRIGGER workflows_guard;
ALTER TABLE coditect.workflow_executions ENABLE ALWAYS TRIGGER workflow_node_guard;
ALTER TABLE coditect.workflow_steps ENABLE ALWAYS TRIGGER workflow_node_guard;
ALTER TABLE coditect.workflow_approvals ENABLE ALWAYS TRIGGER workflow_approval_guard;

-- What an approval's status is now: a pending one past its deadline reads as expired before the
-- expiry job has run (the job then follows the node's "expired" edge).
CREATE VIEW coditect.workflow_approval_states WITH (security_invoker = true) AS
SELECT a.tenant_id, a.id, a.step_id, a.execution_id, a.approver_id, a.min_role,
       CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN 'expired'::coditect.workflow_approval_status
            ELSE a.status END AS status,
       a.comment, a.decided_by, a.approved_at,
       CASE WHEN a.status = 'pending' AND a.expires_at <= now() THEN a.expires_at ELSE a.decided_at END AS decided_at,
       a.expires_at, a.created_at
  FROM coditect.workflow_approvals a;
COMMENT ON VIEW coditect.workflow_approval_states IS
    'Approvals as of now: a pending approval past expires_at is expired, whether or not the expiry job has run.';
REVOKE ALL ON coditect.workflow_approval_states FROM PUBLIC;
GRANT SELECT ON coditect.workflow_approval_states TO coditect_gateway, coditect_service, coditect_analyst;

------------------------------------------------------------------------------------------------
-- Secrets of workflows: one per workflow (lineage), for its webhook trigger and for signing the
-- notifications its nodes post to a URL; made like the endpoints' (53_outbox), only the owner
-- reads them (shown once, when an admin rotates one).
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.webhook_verify(p_secret bytea, p_header text, p_body bytea, p_tolerance_seconds int)
RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_webhook_verify' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION coditect_internal.webhook_verify(bytea, text, bytea, int) IS
    'valid, malformed, mismatch or expired: the header "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" against the body, now() within the tolerance';

-- An owner-only table (no policy to leak past), keyed like every tenant table (on Citus it is
-- distributed with the workflows) and also looked up by the lineage alone: the public webhook
-- endpoint knows the workflow but not yet its tenant.
-- Two secrets, so that what the workflow signs cannot start it: `secret` checks the webhook
-- trigger's requests, `notification_secret` signs the notifications it posts to URLs.
CREATE TABLE coditect_internal.workflow_secrets (
    lineage_id          uuid NOT NULL,
    tenant_id           uuid NOT NULL,
    secret              bytea NOT NULL,
    notification_secret bytea NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, lineage_id),
    FOREIGN KEY (tenant_id, lineage_id) REFERENCES coditect.workflows (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_secrets_lineage_idx ON coditect_internal.workflow_secrets (lineage_id);
REVOKE ALL ON coditect_internal.workflow_secrets FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.workflow_secrets', '');

-- Signed webhook requests already received, kept past the signature's tolerance: a replayed
-- request (same signature) is refused instead of starting the workflow again.
CREATE TABLE coditect_internal.workflow_webhook_receipts (
    lineage_id     uuid NOT NULL,
    signature_hash text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lineage_id, signature_hash)
);
REVOKE ALL ON coditect_internal.workflow_webhook_receipts FROM PUBLIC;

-- The lineage's notification secret, made (with the webhook secret) on first use.
CREATE FUNCTION coditect_internal.workflow_secret(p_tenant uuid, p_lineage uuid) RETURNS bytea
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s bytea;
BEGIN
    SELECT x.notification_secret INTO s FROM coditect_internal.workflow_secrets x
     WHERE x.lineage_id = p_lineage AND x.tenant_id = p_tenant;
    IF s IS NULL THEN
        INSERT INTO coditect_internal.workflow_secrets (lineage_id, tenant_id, secret, notification_secret)
        VALUES (p_lineage, p_tenant, coditect_internal.webhook_secret_text(), coditect_internal.webhook_secret_text())
        ON CONFLICT (tenant_id, lineage_id) DO NOTHING;
        SELECT x.notification_secret INTO STRICT s FROM coditect_internal.workflow_secrets x
         WHERE x.lineage_id = p_lineage AND x.tenant_id = p_tenant;
    END IF;
    RETURN s;
END
$$;

------------------------------------------------------------------------------------------------
-- The engine
------------------------------------------------------------------------------------------------

-- The node after p_node: a condition node's first edge whose condition holds against the
-- context (else its default edge), an approval's edge for the outcome, else the one edge.
-- NULL when there is none (an outcome without an edge). A condition that does not evaluate to
-- a boolean raises (jsonb_path_match's error): the caller fails the execution with it.
CREATE FUNCTION coditect_internal.workflow_next(p_definition jsonb, p_node jsonb, p_context jsonb, p_outcome text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e jsonb;
    fallback text;
BEGIN
    FOR e IN SELECT x FROM jsonb_array_elements(p_definition -> 'edges') x WHERE x ->> 'from' = p_node ->> 'id' LOOP
        CASE p_node ->> 'type'
            WHEN 'condition' THEN
                IF NOT e ? 'condition' THEN
                    fallback := e ->> 'to';
                ELSIF jsonb_path_match(p_context, (e ->> 'condition')::jsonpath) THEN
                    RETURN e ->> 'to';
                END IF;
            WHEN 'approval' THEN
                IF e ->> 'on' = p_outcome THEN
                    RETURN e ->> 'to';
                END IF;
            ELSE
                RETURN e ->> 'to';
        END CASE;
    END LOOP;
    RETURN fallback;
END
$$;

CREATE FUNCTION coditect_internal.workflow_step_add(p_tenant uuid, p_execution uuid, p_node jsonb,
                                                    p_status coditect.workflow_step_status,
                                                    p_output jsonb DEFAULT '{}', p_error text DEFAULT NULL)
RETURNS uuid
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect.workflow_steps (tenant_id, execution_id, step_id, step_name, step_type, status,
                                         input_data, output_data, error_message, completed_at)
    VALUES (p_tenant, p_execution, p_node ->> 'id', coalesce(p_node ->> 'name', ''), p_node ->> 'type', p_status,
            coalesce(p_node -> 'settings', '{}'), p_output, p_error,
            CASE WHEN p_status <> 'running' THEN now() END)
    RETURNING id
$$;

-- What the outbox posts about an execution.
CREATE FUNCTION coditect_internal.workflow_event_payload(w coditect.workflows, p_execution uuid, p_step text)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('workflow_id', w.id, 'workflow_name', w.name, 'workflow_version', w.version,
                              'execution_id', p_execution, 'step', p_step)
$$;

-- The failed state, with the reason on the execution and on the step that failed (if any).
CREATE FUNCTION coditect_internal.workflow_fail(w coditect.workflows, p_execution uuid, p_step text, p_message text,
                                               p_context jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.workflow_steps s SET status = 'failed', error_message = p_message
     WHERE s.tenant_id = w.tenant_id AND s.execution_id = p_execution AND s.status = 'running';
    UPDATE coditect.workflow_executions e SET status = 'failed', error_message = p_message, current_step = p_step,
           context_data = coalesce(p_context, e.context_data)
     WHERE e.tenant_id = w.tenant_id AND e.id = p_execution;
    PERFORM coditect_internal.outbox_emit(w.tenant_id, 'workflow.failed',
        coditect_internal.workflow_event_payload(w, p_execution, p_step) || jsonb_build_object('error', p_message));
END
$$;

-- Enters node p_node of a running execution and goes on through automatic nodes until one
-- waits (task, approval) or ends the execution. current_step, and the context when p_context
-- gives a new one, are written where it stops, in one update.
CREATE FUNCTION coditect_internal.workflow_advance(p_tenant uuid, p_execution uuid, p_node text,
                                                   p_context jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e      coditect.workflow_executions;
    w      coditect.workflows;
    cur    text := p_node;
    node   jsonb;
    nxt    text;
    n      int;
    visits int := 0;
    a      record;
    ctx    jsonb;
BEGIN
    SELECT * INTO STRICT e FROM coditect.workflow_executions x WHERE x.tenant_id = p_tenant AND x.id = p_execution;
    SELECT * INTO STRICT w FROM coditect.workflows x WHERE x.tenant_id = p_tenant AND x.id = e.workflow_id;
    ctx := coalesce(p_context, e.context_data);
    LOOP
        visits := visits + 1;
        node := coditect_internal.workflow_node(w.definition, cur);
        IF visits > 100 THEN
            PERFORM coditect_internal.workflow_fail(w, p_execution, cur,
                format('the execution went through 100 steps without waiting, at "%s": a loop whose exit never holds', cur), ctx);
            RETURN;
        END IF;
        CASE node ->> 'type'
            WHEN 'end' THEN
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed');
                UPDATE coditect.workflow_executions x SET status = 'completed', current_step = cur, context_data = ctx
                 WHERE x.tenant_id = p_tenant AND x.id = p_execution;
                PERFORM coditect_internal.outbox_emit(p_tenant, 'workflow.completed',
                    coditect_internal.workflow_event_payload(w, p_execution, cur));
                RETURN;
            WHEN 'task' THEN
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'running');
                UPDATE coditect.workflow_executions x SET current_step = cur, context_data = ctx
                 WHERE x.tenant_id = p_tenant AND x.id = p_execution;
                RETURN;
            WHEN 'approval' THEN
                UPDATE coditect.workflow_executions x SET current_step = cur, context_data = ctx
                 WHERE x.tenant_id = p_tenant AND x.id = p_execution;
                FOR a IN
                    WITH step AS (SELECT coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'running') AS id)
                    INSERT INTO coditect.workflow_approvals AS ap (tenant_id, step_id, execution_id, approver_id, min_role, expires_at)
                    SELECT p_tenant, step.id, p_execution, who.approver, (node #>> '{settings,min_role}')::coditect.member_role,
                           now() + coalesce((node #>> '{settings,expire_after}')::interval, make_interval(hours => w.approval_expiry_hours))
                      FROM step,
                           LATERAL (SELECT (v #>> '{}')::uuid AS approver
                                      FROM jsonb_array_elements(coalesce(node #> '{settings,approvers}', '[null]')) v) who
                    RETURNING ap.id, ap.approver_id, ap.min_role, ap.expires_at
                LOOP
                    PERFORM coditect_internal.outbox_emit(p_tenant, 'approval.requested',
                        coditect_internal.workflow_event_payload(w, p_execution, cur)
                        || jsonb_build_object('approval_id', a.id, 'approver_id', a.approver_id, 'min_role', a.min_role,
                                              'expires_at', a.expires_at, 'title', node #>> '{settings,title}'));
                END LOOP;
                RETURN;
            WHEN 'notification' THEN
                n := coditect_internal.outbox_emit(p_tenant, 'workflow.notification',
                    coditect_internal.workflow_event_payload(w, p_execution, cur)
                    || jsonb_build_object('message', node #>> '{settings,message}', 'context', ctx),
                    node #>> '{settings,channel}', node #>> '{settings,webhook}',
                    CASE WHEN node #> '{settings,webhook}' IS NOT NULL THEN coditect_internal.workflow_secret(p_tenant, w.lineage_id) END);
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed',
                                                            jsonb_build_object('deliveries', n));
                nxt := coditect_internal.workflow_next(w.definition, node, ctx, NULL);
            WHEN 'condition' THEN
                BEGIN
                    nxt := coditect_internal.workflow_next(w.definition, node, ctx, NULL);
                EXCEPTION WHEN data_exception OR syntax_error THEN
                    PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'failed', '{}',
                                                                format('a condition did not evaluate: %s', SQLERRM));
                    PERFORM coditect_internal.workflow_fail(w, p_execution, cur,
                        format('step "%s": a condition did not evaluate: %s', cur, SQLERRM), ctx);
                    RETURN;
                END;
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed', jsonb_build_object('next', nxt));
            ELSE  -- start
                PERFORM coditect_internal.workflow_step_add(p_tenant, p_execution, node, 'completed');
                nxt := coditect_internal.workflow_next(w.definition, node, ctx, NULL);
        END CASE;
        cur := nxt;
    END LOOP;
END
$$;

-- An execution's context stays under 64 KiB: it travels in every notification (the outbox takes
-- payloads of 256 KiB), and a refusal belongs to the call that grows it, not to a later job.
CREATE FUNCTION coditect_internal.workflow_context_check(p_context jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF octet_length(p_context::text) > 65536 THEN
        RAISE EXCEPTION 'an execution''s context is at most 64 KiB of JSON (this one would be % bytes)', octet_length(p_context::text)
            USING ERRCODE = 'CD400';
    END IF;
END
$$;

-- Leaves the waiting node of an execution with an outcome (a task: NULL; an approval:
-- approved, rejected or expired): its output goes into the context under the node's id, and
-- the execution goes on by the matching edge, or fails when the definition has none.
CREATE FUNCTION coditect_internal.workflow_leave(e coditect.workflow_executions, p_outcome text, p_output jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w   coditect.workflows;
    ctx jsonb := e.context_data || jsonb_build_object(e.current_step, p_output);
    nxt text;
BEGIN
    PERFORM coditect_internal.workflow_context_check(ctx);
    SELECT * INTO STRICT w FROM coditect.workflows x WHERE x.tenant_id = e.tenant_id AND x.id = e.workflow_id;
    UPDATE coditect.workflow_steps s SET status = 'completed', output_data = p_output
     WHERE s.tenant_id = e.tenant_id AND s.execution_id = e.id AND s.step_id = e.current_step AND s.status = 'running';
    nxt := coditect_internal.workflow_next(w.definition, coditect_internal.workflow_node(w.definition, e.current_step), ctx, p_outcome);
    IF nxt IS NULL THEN
        PERFORM coditect_internal.workflow_fail(w, e.id, e.current_step,
            format('step "%s" ended %s and the workflow has no edge for that', e.current_step, p_outcome), ctx);
    ELSE
        PERFORM coditect_internal.workflow_advance(e.tenant_id, e.id, nxt, ctx);
    END IF;
END
$$;

-- Starts the running version of the workflow p_workflow is a version of. Every trigger comes
-- here: the API (manual), an event, pg_cron (scheduled), a signed webhook.
CREATE FUNCTION coditect_internal.workflow_start_as(p_tenant uuid, p_workflow uuid, p_context jsonb,
                                                    p_trigger coditect.workflow_trigger_type, p_user uuid)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w     coditect.workflows;
    state text;
    id    uuid;
BEGIN
    SELECT x.* INTO w FROM coditect.workflows v
      JOIN coditect.workflows x ON x.tenant_id = v.tenant_id AND x.lineage_id = v.lineage_id AND x.status = 'active'
     WHERE v.tenant_id = p_tenant AND v.id = p_workflow
       FOR KEY SHARE OF x;
    IF w.id IS NULL THEN
        SELECT string_agg(format('version %s is %s', v.version, v.status), ', ' ORDER BY v.version) INTO state
          FROM coditect.workflows s JOIN coditect.workflows v ON v.tenant_id = s.tenant_id AND v.lineage_id = s.lineage_id
         WHERE s.tenant_id = p_tenant AND s.id = p_workflow;
        IF state IS NULL THEN
            RAISE EXCEPTION 'workflow % not found', p_workflow USING ERRCODE = 'CD404';
        END IF;
        RAISE EXCEPTION 'the workflow has no active version to start (%)', state USING ERRCODE = 'CD409';
    END IF;
    IF jsonb_typeof(p_context) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'context must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.workflow_context_check(p_context);
    IF p_trigger = 'manual' AND NOT w.triggers @> '[{"type": "manual"}]' THEN
        RAISE EXCEPTION 'workflow "%" is not started by hand (its triggers: %)', w.name, w.triggers USING ERRCODE = 'CD409';
    END IF;
    INSERT INTO coditect.workflow_executions (tenant_id, workflow_id, triggered_by, trigger_type, status, context_data)
    VALUES (p_tenant, w.id, p_user, p_trigger, 'running', p_context)
    RETURNING workflow_executions.id INTO id;
    PERFORM coditect_internal.workflow_advance(p_tenant, id,
        (SELECT n ->> 'id' FROM jsonb_array_elements(w.definition -> 'nodes') n WHERE n ->> 'type' = 'start'));
    RETURN id;
END
$$;

-- The execution of the request's tenant, locked; 404 when there is none.
CREATE FUNCTION coditect_internal.workflow_execution_for_update(p_execution uuid) RETURNS coditect.workflow_executions
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    e coditect.workflow_executions;
BEGIN
    SELECT * INTO e FROM coditect.workflow_executions x
     WHERE x.tenant_id = v_tenant AND x.id = p_execution FOR UPDATE;
    IF e.id IS NULL THEN
        RAISE EXCEPTION 'workflow execution % not found', p_execution USING ERRCODE = 'CD404';
    END IF;
    RETURN e;
END
$$;

-- The API's start (the action workflow.start: the catalog writes coditect.workflow_start around it).
CREATE FUNCTION coditect_internal.workflow_start_manual(p_workflow uuid, p_context jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('workflow.start');
    RETURN coditect_internal.workflow_start_as(coditect.current_tenant_id(), p_workflow, coalesce(p_context, '{}'),
                                               'manual', coditect.current_user_id());
END
$$;

CREATE FUNCTION coditect_internal.workflow_complete_step_as(p_execution uuid, p_step text, p_output jsonb DEFAULT '{}') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e    coditect.workflow_executions;
    node jsonb;
BEGIN
    PERFORM coditect.require_permission('workflow_execution.complete_step');
    e := coditect_internal.workflow_execution_for_update(p_execution);
    IF e.status <> 'running' THEN
        RAISE EXCEPTION 'the execution is %, not running', e.status USING ERRCODE = 'CD409';
    END IF;
    IF e.current_step IS DISTINCT FROM p_step THEN
        RAISE EXCEPTION 'the execution is at step "%", not "%"', e.current_step, p_step USING ERRCODE = 'CD409';
    END IF;
    node := coditect_internal.workflow_node((SELECT w.definition FROM coditect.workflows w
                                              WHERE w.tenant_id = e.tenant_id AND w.id = e.workflow_id), p_step);
    IF node ->> 'type' <> 'task' THEN
        RAISE EXCEPTION 'step "%" is an approval: an approver decides it (POST /api/v1/workflow-approvals/{id}/decide/)', p_step
            USING ERRCODE = 'CD409';
    END IF;
    IF node #>> '{settings,assignee}' IS NOT NULL AND (node #>> '{settings,assignee}')::uuid IS DISTINCT FROM coditect.current_user_id()
       AND coditect_internal.role_rank(coditect.current_user_role()) < coditect_internal.role_rank('admin') THEN
        RAISE EXCEPTION 'step "%" is assigned to another user', p_step USING ERRCODE = 'CD403';
    END IF;
    IF jsonb_typeof(coalesce(p_output, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'output must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.workflow_leave(e, NULL, coalesce(p_output, '{}'));
    RETURN e.id;
END
$$;

CREATE FUNCTION coditect_internal.workflow_decide_as(p_approval uuid, p_decision text, p_comment text DEFAULT '') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    a    coditect.workflow_approvals;
    e    coditect.workflow_executions;
    me   uuid := coditect.current_user_id();
    output jsonb;
BEGIN
    PERFORM coditect.require_permission('workflow_approval.decide');
    IF p_decision IS NULL OR p_decision NOT IN ('approved', 'rejected') THEN
        RAISE EXCEPTION 'decision must be approved or rejected' USING ERRCODE = 'CD400';
    END IF;
    SELECT * INTO a FROM coditect.workflow_approvals x WHERE x.tenant_id = v_tenant AND x.id = p_approval;
    IF a.id IS NULL THEN
        RAISE EXCEPTION 'workflow approval % not found', p_approval USING ERRCODE = 'CD404';
    END IF;
    e := coditect_internal.workflow_execution_for_update(a.execution_id);  -- the execution first, as the engine locks
    SELECT * INTO STRICT a FROM coditect.workflow_approvals x WHERE x.tenant_id = a.tenant_id AND x.id = p_approval FOR UPDATE;
    IF a.status <> 'pending' THEN
        RAISE EXCEPTION 'the approval is already %', a.status USING ERRCODE = 'CD409';
    END IF;
    IF a.expires_at <= now() THEN
        RAISE EXCEPTION 'the approval expired at %', a.expires_at USING ERRCODE = 'CD409';
    END IF;
    -- coalesce: a NULL anywhere (no listed approver, no role) is a refusal, not a pass.
    IF NOT coalesce(a.approver_id = me OR (a.approver_id IS NULL AND a.min_role IS NOT NULL
            AND coditect_internal.role_rank(coditect.current_user_role()) >= coditect_internal.role_rank(a.min_role::text)), false) THEN
        RAISE EXCEPTION 'you are not an approver of this step' USING ERRCODE = 'CD403';
    END IF;
    UPDATE coditect.workflow_approvals x SET status = p_decision::coditect.workflow_approval_status,
           comment = coalesce(p_comment, ''), decided_by = me, decided_at = now()
     WHERE x.tenant_id = a.tenant_id AND x.id = a.id;
    UPDATE coditect.workflow_approvals x SET status = 'cancelled'
     WHERE x.tenant_id = a.tenant_id AND x.step_id = a.step_id AND x.status = 'pending';
    output := jsonb_build_object('decision', p_decision, 'decided_by', me, 'comment', coalesce(p_comment, ''));
    PERFORM coditect_internal.outbox_emit(a.tenant_id, 'approval.decided',
        jsonb_build_object('approval_id', a.id, 'execution_id', e.id, 'step', e.current_step) || output);
    PERFORM coditect_internal.workflow_leave(e, p_decision, output);
    RETURN a.id;
END
$$;

CREATE FUNCTION coditect_internal.workflow_cancel_as(p_execution uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e coditect.workflow_executions;
BEGIN
    PERFORM coditect.require_permission('workflow_execution.cancel');
    e := coditect_internal.workflow_execution_for_update(p_execution);
    IF e.triggered_by IS DISTINCT FROM coditect.current_user_id()
       AND coditect_internal.role_rank(coditect.current_user_role()) < coditect_internal.role_rank('admin') THEN
        RAISE EXCEPTION 'only who started an execution, or an admin, cancels it' USING ERRCODE = 'CD403';
    END IF;
    IF e.status <> 'running' THEN
        RAISE EXCEPTION 'the execution is already %', e.status USING ERRCODE = 'CD409';
    END IF;
    UPDATE coditect.workflow_approvals x SET status = 'cancelled'
     WHERE x.tenant_id = e.tenant_id AND x.execution_id = e.id AND x.status = 'pending';
    UPDATE coditect.workflow_steps x SET status = 'skipped'
     WHERE x.tenant_id = e.tenant_id AND x.execution_id = e.id AND x.status = 'running';
    UPDATE coditect.workflow_executions x SET status = 'cancelled' WHERE x.tenant_id = e.tenant_id AND x.id = e.id;
    RETURN e.id;
END
$$;

-- Expiry, for every tenant (the pg_cron job): the approvals past their deadline expire, and
-- their executions follow the node's "expired" edge or fail. Returns the steps expired.
CREATE FUNCTION coditect.workflow_expire_approvals() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s     record;
    e     coditect.workflow_executions;
    n     int := 0;
    msg   text;
    state text;
BEGIN
    FOR s IN SELECT DISTINCT a.tenant_id, a.execution_id, a.step_id FROM coditect.workflow_approvals a
              WHERE a.status = 'pending' AND a.expires_at <= now() LOOP
        SELECT * INTO e FROM coditect.workflow_executions x
         WHERE x.tenant_id = s.tenant_id AND x.id = s.execution_id AND x.status = 'running' FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN e.id IS NULL;  -- an engine call holds it: the next run expires it
        -- One execution's failure (whatever its tenant's data) must not stop the others': it
        -- fails that execution, and the job goes on.
        BEGIN
            UPDATE coditect.workflow_approvals x SET status = 'expired'
             WHERE x.tenant_id = s.tenant_id AND x.step_id = s.step_id AND x.status = 'pending';
            PERFORM coditect_internal.outbox_emit(s.tenant_id, 'approval.decided',
                jsonb_build_object('execution_id', e.id, 'step', e.current_step, 'decision', 'expired'));
            PERFORM coditect_internal.workflow_leave(e, 'expired', '{"decision": "expired"}');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
            UPDATE coditect.workflow_approvals x SET status = 'expired'
             WHERE x.tenant_id = s.tenant_id AND x.step_id = s.step_id AND x.status = 'pending';
            UPDATE coditect.workflow_steps x SET status = 'failed', error_message = left(state || ': ' || msg, 1000)
             WHERE x.tenant_id = e.tenant_id AND x.execution_id = e.id AND x.status = 'running';
            UPDATE coditect.workflow_executions x SET status = 'failed',
                   error_message = left(format('the approval expired and moving on failed: %s: %s', state, msg), 1000)
             WHERE x.tenant_id = e.tenant_id AND x.id = e.id;
        END;
        n := n + 1;
    END LOOP;
    DELETE FROM coditect_internal.workflow_webhook_receipts r WHERE r.received_at < now() - interval '1 hour';
    RETURN n;
END
$$;
COMMENT ON FUNCTION coditect.workflow_expire_approvals() IS
    'Expires the approvals past their deadline (all tenants; the pg_cron job coditect-workflow-expiry) and moves their executions on';

------------------------------------------------------------------------------------------------
-- Triggers: events (the audit trail, same transaction), schedules (pg_cron), signed webhooks.
-- A version's event and scheduled triggers are live while it is the active version:
-- workflow_sync_triggers keeps the event subscriptions and the pg_cron jobs in step with that.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.workflow_event_triggers (
    tenant_id     uuid NOT NULL,
    workflow_id   uuid NOT NULL,
    position      integer NOT NULL,   -- the trigger's place in the version's triggers, from 1
    resource_type text NOT NULL,      -- as in audit_logs ('Task')
    verbs         text[] NOT NULL,
    condition     jsonpath,
    PRIMARY KEY (tenant_id, workflow_id, position),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES coditect.workflows (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_event_triggers_resource_idx ON coditect_internal.workflow_event_triggers (tenant_id, resource_type);
REVOKE ALL ON coditect_internal.workflow_event_triggers FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.workflow_event_triggers', '');

-- The audit trigger's WHEN condition (src_ext/pg_workflow_events.cpp): whether the tenant has a
-- subscription on the resource type, from a per-backend cache; workflow_events_changed() drops
-- every backend's cache after the subscriptions change. So an audited write of a table nobody
-- watches costs a hash lookup, not a trigger call.
CREATE FUNCTION coditect_internal.workflow_events_watched(p_tenant uuid, p_resource_type text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_workflow_events_watched' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.workflow_events_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_workflow_events_changed' LANGUAGE C VOLATILE;

-- pg_cron's job name for a version's scheduled trigger.
CREATE FUNCTION coditect_internal.workflow_job_name(p_workflow uuid, p_position int) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'coditect-workflow-' || p_workflow || '-' || p_position
$$;

-- The pg_cron jobs of each version's scheduled triggers, by tenant (pg_cron's job names are
-- names: 63 bytes, no room for the tenant), to remove them and to count a tenant's.
CREATE TABLE coditect_internal.workflow_cron_jobs (
    tenant_id   uuid NOT NULL,
    workflow_id uuid NOT NULL,
    position    integer NOT NULL,
    jobid       bigint NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, position)
);
REVOKE ALL ON coditect_internal.workflow_cron_jobs FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.workflow_cron_jobs', '');

-- AFTER INSERT, UPDATE OF status or DELETE of a version.
CREATE FUNCTION coditect_internal.workflow_sync_triggers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w      coditect.workflows := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    live   boolean := TG_OP <> 'DELETE' AND NEW.status = 'active';
    cron   boolean := EXISTS (SELECT 1 FROM pg_catalog.pg_extension x WHERE x.extname = 'pg_cron');
    job    bigint;
    sched  record;
BEGIN
    DELETE FROM coditect_internal.workflow_event_triggers t WHERE t.tenant_id = w.tenant_id AND t.workflow_id = w.id;
    PERFORM coditect_internal.workflow_events_changed();
    FOR job IN DELETE FROM coditect_internal.workflow_cron_jobs j WHERE j.tenant_id = w.tenant_id AND j.workflow_id = w.id
                RETURNING j.jobid LOOP
        IF cron THEN
            EXECUTE 'SELECT cron.unschedule(jobid) FROM cron.job WHERE jobid = $1' USING job;
        END IF;
    END LOOP;
    IF NOT live THEN
        RETURN NULL;
    END IF;
    -- Caps per tenant: every audited write of a watched resource runs its subscriptions, and
    -- schedules share pg_cron with every tenant.
    IF (SELECT count(*) FROM coditect_internal.workflow_event_triggers t WHERE t.tenant_id = w.tenant_id)
       + (SELECT count(*) FROM jsonb_array_elements(w.triggers) x WHERE x ->> 'type' = 'event') > 50 THEN
        RAISE EXCEPTION 'a tenant''s active workflows have at most 50 event triggers' USING ERRCODE = 'CD422';
    END IF;
    IF w.triggers @> '[{"type": "scheduled"}]' THEN
        IF (SELECT count(*) FROM coditect_internal.workflow_cron_jobs j WHERE j.tenant_id = w.tenant_id)
           + (SELECT count(*) FROM jsonb_array_elements(w.triggers) x WHERE x ->> 'type' = 'scheduled') > 20 THEN
            RAISE EXCEPTION 'a tenant''s active workflows have at most 20 scheduled triggers' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    INSERT INTO coditect_internal.workflow_event_triggers (tenant_id, workflow_id, position, resource_type, verbs, condition)
    SELECT w.tenant_id, w.id, t.i, coditect_internal.workflow_event_resource_type(t.trig ->> 'resource'),
           coalesce(ARRAY(SELECT jsonb_array_elements_text(t.trig -> 'on')), '{create,update,delete,restore}'),
           (t.trig ->> 'condition')::jsonpath
      FROM jsonb_array_elements(w.triggers) WITH ORDINALITY t (trig, i)
     WHERE t.trig ->> 'type' = 'event';
    IF w.triggers @> '[{"type": "scheduled"}]' AND NOT cron THEN
        RAISE EXCEPTION 'scheduled triggers need pg_cron in this database (see README "Scheduled maintenance")' USING ERRCODE = 'CD422';
    END IF;
    -- The job runs as this function's owner, in this database; pg_cron checks the expression.
    FOR sched IN SELECT x.trig, x.i FROM jsonb_array_elements(w.triggers) WITH ORDINALITY x (trig, i)
                  WHERE x.trig ->> 'type' = 'scheduled' LOOP
        INSERT INTO coditect_internal.workflow_cron_jobs (tenant_id, workflow_id, position, jobid)
        VALUES (w.tenant_id, w.id, sched.i, coditect_internal.workflow_cron_schedule(coditect_internal.workflow_job_name(w.id, sched.i::int),
            sched.trig ->> 'cron', format('SELECT coditect_internal.workflow_fire_scheduled(%L, %L, %s)', w.tenant_id, w.id, sched.i)));
    END LOOP;
    RETURN NULL;
END
$$;

-- cron.schedule_in_database through dynamic SQL: the extension works without pg_cron, and
-- pg_cron's refusal of an expression becomes a clear 422.
CREATE FUNCTION coditect_internal.workflow_cron_schedule(p_name text, p_schedule text, p_command text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, pg_catalog.current_database())'
       INTO job USING p_name, p_schedule, p_command;
    RETURN job;
EXCEPTION WHEN invalid_parameter_value OR invalid_text_representation THEN
    RAISE EXCEPTION 'the cron expression "%" is not one pg_cron runs: %', p_schedule, SQLERRM USING ERRCODE = 'CD422';
END
$$;

CREATE TRIGGER workflow_sync_triggers AFTER INSERT OR UPDATE OF status OR DELETE ON coditect.workflows
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.workflow_sync_triggers();
ALTER TABLE coditect.workflows ENABLE ALWAYS TRIGGER workflow_sync_triggers;

-- pg_cron's command for a scheduled trigger. A job left behind by a version no longer active
-- starts nothing.
CREATE FUNCTION coditect_internal.workflow_fire_scheduled(p_tenant uuid, p_workflow uuid, p_position int) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w coditect.workflows;
BEGIN
    SELECT * INTO w FROM coditect.workflows x WHERE x.tenant_id = p_tenant AND x.id = p_workflow AND x.status = 'active';
    IF w.id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN coditect_internal.workflow_start_as(p_tenant, p_workflow,
        coalesce(w.triggers -> (p_position - 1) -> 'context', '{}') || jsonb_build_object('scheduled_at', now()),
        'scheduled', NULL);
END
$$;

-- AFTER INSERT on the audit trail: a row change of a watched resource starts the workflows
-- whose event trigger matches it, in the transaction that made the change. The event is
-- {action, resource_type, resource_id, user_id, changes} (changes as in audit_logs:
-- {"column": [old, new]}); the trigger's condition is evaluated against it (an error counts as
-- false: a trigger never breaks the change it watches), and the execution's context is
-- {"event": event}. Called only for the rows of watched resource types (the WHEN condition).
CREATE FUNCTION coditect_internal.workflow_on_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s     record;
    ev    jsonb;
    msg   text;
    state text;
BEGIN
    FOR s IN SELECT t.workflow_id, t.verbs, t.condition FROM coditect_internal.workflow_event_triggers t
              WHERE t.tenant_id = NEW.tenant_id AND t.resource_type = NEW.resource_type
              ORDER BY t.workflow_id, t.position LOOP
        ev := coalesce(ev, jsonb_build_object('action', NEW.action, 'resource_type', NEW.resource_type,
                                              'resource_id', NEW.resource_id, 'user_id', NEW.user_id, 'changes', NEW.changes));
        IF split_part(NEW.action, '.', 2) = ANY (s.verbs)
           AND (s.condition IS NULL OR coalesce(jsonb_path_match(ev, s.condition, '{}', true), false)) THEN
            -- A workflow that cannot start (its context too large, a notification refused) is
            -- recorded in the audit trail; the change it watches goes on.
            BEGIN
                PERFORM coditect_internal.workflow_start_as(NEW.tenant_id, s.workflow_id, jsonb_build_object('event', ev),
                                                           'event', NEW.user_id);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
                PERFORM coditect_internal.audit_event(NEW.tenant_id, 'workflow.trigger_failed', 'Workflow', s.workflow_id::text,
                    jsonb_build_object('trigger', 'event', 'event_action', NEW.action, 'event_resource_id', NEW.resource_id,
                                       'error', left(state || ': ' || msg, 1000)), 'error');
            END;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER workflow_events AFTER INSERT ON coditect.audit_logs
    FOR EACH ROW WHEN (coditect_internal.workflow_events_watched(NEW.tenant_id, NEW.resource_type))
    EXECUTE FUNCTION coditect_internal.workflow_on_audit();

-- POST /api/v1/workflows/{lineage_id}/webhook/ (no login): the body, signed with the workflow's
-- secret in Coditect-Signature, starts its active version with {"webhook": body} as context.
-- Unknown workflows, and workflows without a webhook trigger or a secret, are not found (NULL:
-- 404); a bad or stale signature is 401; a replayed one 409.
CREATE FUNCTION coditect.workflow_webhook(p_workflow uuid, p_signature text, p_body bytea) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sec     coditect_internal.workflow_secrets;
    w       coditect.workflows;
    verdict text;
    body    jsonb;
    started uuid;
BEGIN
    -- Ids are the server's (uuid v7), so one tenant at most; should two ever hold it, neither is
    -- chosen (TOO_MANY_ROWS: no request starts a workflow of a tenant picked at random).
    BEGIN
        SELECT * INTO STRICT sec FROM coditect_internal.workflow_secrets x WHERE x.lineage_id = p_workflow;
    EXCEPTION WHEN no_data_found OR too_many_rows THEN
        RETURN NULL;
    END;
    SELECT * INTO w FROM coditect.workflows x
     WHERE x.tenant_id = sec.tenant_id AND x.lineage_id = p_workflow AND x.status = 'active';
    IF sec.lineage_id IS NULL OR w.id IS NULL OR NOT w.triggers @> '[{"type": "webhook"}]' THEN
        RETURN NULL;
    END IF;
    verdict := coditect_internal.webhook_verify(sec.secret, coalesce(p_signature, ''), coalesce(p_body, ''), 300);
    IF verdict <> 'valid' THEN
        RAISE EXCEPTION 'the Coditect-Signature header is %', CASE verdict WHEN 'expired' THEN 'more than 300 s away from now'
                                                                       WHEN 'mismatch' THEN 'not a signature of this body'
                                                                       ELSE 'malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)' END
            USING ERRCODE = 'CD401';
    END IF;
    BEGIN
        body := convert_from(p_body, 'UTF8')::jsonb;
    EXCEPTION WHEN data_exception OR untranslatable_character OR character_not_in_repertoire THEN
        RAISE EXCEPTION 'the body must be a JSON object' USING ERRCODE = 'CD400';
    END;
    IF jsonb_typeof(body) <> 'object' THEN
        RAISE EXCEPTION 'the body must be a JSON object' USING ERRCODE = 'CD400';
    END IF;
    -- A request is its timestamp and body (a header rewritten around a valid v1, with another
    -- v0 or v1 beside it, is the same request).
    INSERT INTO coditect_internal.workflow_webhook_receipts (lineage_id, signature_hash)
    VALUES (p_workflow, encode(sha256(convert_to(substring(p_signature FROM '(?:^|,)t=([0-9]+)') || '.', 'UTF8') || p_body), 'hex'))
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this signed request was already received' USING ERRCODE = 'CD409';
    END IF;
    started := coditect_internal.workflow_start_as(w.tenant_id, w.id, jsonb_build_object('webhook', body), 'webhook', NULL);
    RETURN (SELECT jsonb_build_object('execution_id', e.id, 'workflow_id', e.workflow_id, 'status', e.status,
                                      'current_step', e.current_step)
              FROM coditect.workflow_executions e WHERE e.tenant_id = w.tenant_id AND e.id = started);
END
$$;

-- POST /api/v1/workflows/{id}/webhook-secret/ (admins): new secrets for the workflow (all its
-- versions), shown this once; the old ones stop working.
CREATE FUNCTION coditect.workflow_rotate_secret(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    lineage uuid;
    s       bytea := coditect_internal.webhook_secret_text();
    ns      bytea := coditect_internal.webhook_secret_text();
BEGIN
    PERFORM coditect.require_permission('workflow.rotate_secret');
    SELECT w.lineage_id INTO lineage FROM coditect.workflows w WHERE w.tenant_id = v_tenant AND w.id = p_id;
    IF lineage IS NULL THEN
        RAISE EXCEPTION 'workflow % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    INSERT INTO coditect_internal.workflow_secrets AS x (lineage_id, tenant_id, secret, notification_secret)
    VALUES (lineage, coditect.current_tenant_id(), s, ns)
    ON CONFLICT (tenant_id, lineage_id) DO UPDATE SET secret = excluded.secret, notification_secret = excluded.notification_secret,
                                                      created_at = now();
    RETURN jsonb_build_object('secret', convert_from(s, 'UTF8'), 'notification_secret', convert_from(ns, 'UTF8'),
                              'webhook_path', '/api/v1/workflows/' || lineage || '/webhook/',
                              'signature_header', 'Coditect-Signature');
END
$$;

------------------------------------------------------------------------------------------------
-- Resources and actions
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.workflows', 'workflow', p_state_machine => 'workflow',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{project_id,name,description,workflow_type,definition,triggers,approval_expiry_hours}',
    p_update => '{project_id,name,description,workflow_type,definition,triggers,approval_expiry_hours,status}',
    p_filters => '{"project_id": ["exact"], "lineage_id": ["exact"], "status": ["exact", "in"], "workflow_type": ["exact", "in"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name,version}', p_search => '{name,description}',
    p_also_under => '{"project": "project_id"}',
    p_example => '{"name": "Expense approval", "workflow_type": "approval",
                   "definition": {"nodes": [{"id": "start", "type": "start"},
                                            {"id": "amount", "type": "condition"},
                                            {"id": "review", "type": "approval", "settings": {"min_role": "admin"}},
                                            {"id": "done", "type": "end"}],
                                  "edges": [{"from": "start", "to": "amount"},
                                            {"from": "amount", "to": "review", "condition": "$.amount > 1000"},
                                            {"from": "amount", "to": "done"},
                                            {"from": "review", "to": "done", "on": "approved"},
                                            {"from": "review", "to": "done", "on": "rejected"}]},
                   "triggers": [{"type": "manual"}]}');

-- Versions, states and publication are the database's: clients write the draft's fields and
-- the status (publishing, pausing, archiving go through the state machine).
REVOKE INSERT, UPDATE ON coditect.workflows FROM coditect_gateway, coditect_service;
-- Not id or lineage_id: ids are the database's (the secrets and webhook paths are keyed by them).
GRANT INSERT (tenant_id, project_id, name, description, workflow_type, definition, triggers,
              approval_expiry_hours, created_by),
      UPDATE (project_id, name, description, workflow_type, definition, triggers, approval_expiry_hours, status)
    ON coditect.workflows TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_resource('coditect.workflow_executions', 'workflow_execution',
    p_state_machine => 'workflow_execution', p_writable => false,
    p_roles => '{"view": "guest"}',
    p_filters => '{"workflow_id": ["exact"], "status": ["exact", "in"], "trigger_type": ["exact", "in"],
                   "triggered_by": ["exact"], "started_at": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,started_at}', p_also_under => '{"workflow": "workflow_id"}');

SELECT coditect_internal.register_resource('coditect.workflow_steps', 'workflow_step',
    p_state_machine => 'workflow_step', p_writable => false,
    p_roles => '{"view": "guest"}', p_parent => 'workflow_execution', p_parent_column => 'execution_id',
    p_path => '/api/v1/workflow-executions/{workflow_execution_id}/steps/',
    p_filters => '{"status": ["exact", "in"], "step_id": ["exact"]}',
    p_orderings => '{created_at}', p_default_ordering => 'created_at', p_page_size => 100);

-- The table takes the mechanisms; the API reads the view (expiry correct on read).
SELECT coditect_internal.register_tenant_table('coditect.workflow_approvals', 'workflow_approval', p_writable => false);
SELECT coditect_internal.register_state_machine('coditect.workflow_approvals', 'workflow_approval');
SELECT coditect_internal.register_resource('coditect.workflow_approval_states', 'workflow_approval',
    p_plural => 'workflow_approvals', p_path => '/api/v1/workflow-approvals/',
    p_roles => '{"view": "guest"}', p_mechanisms => false, p_rls_table => 'coditect.workflow_approvals',
    p_filters => '{"execution_id": ["exact"], "step_id": ["exact"], "approver_id": ["exact", "isnull"],
                   "status": ["exact", "in"], "expires_at": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,expires_at}');

-- Publishing: the draft becomes the active version (the state machine stamps published_at).
CREATE FUNCTION coditect.workflow_publish(p_id uuid) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.api_workflows_update(p_id, '{"status": "active"}')
$$;
-- The next version: a draft copying the workflow's latest version, to edit and publish. As the
-- owner (a client may not name a lineage), for the request's tenant.
CREATE FUNCTION coditect_internal.workflow_new_version_as(p_id uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    src coditect.workflows;
    id  uuid;
BEGIN
    PERFORM coditect.require_permission('workflow.create');
    SELECT l.* INTO src FROM coditect.workflows w
      JOIN coditect.workflows l ON l.tenant_id = w.tenant_id AND l.lineage_id = w.lineage_id
     WHERE w.tenant_id = v_tenant AND w.id = p_id
     ORDER BY l.version DESC LIMIT 1;
    -- (tenant_id is the context's: this owner-rights code writes no other tenant's rows.)
    IF src.id IS NULL THEN
        RAISE EXCEPTION 'workflow % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    IF src.status = 'draft' THEN
        RAISE EXCEPTION 'version % of this workflow is a draft already: edit it (id %)', src.version, src.id USING ERRCODE = 'CD409';
    END IF;
    INSERT INTO coditect.workflows (tenant_id, lineage_id, project_id, name, description, workflow_type, definition,
                                    triggers, approval_expiry_hours, created_by)
    VALUES (src.tenant_id, src.lineage_id, src.project_id, src.name, src.description, src.workflow_type, src.definition,
            src.triggers, src.approval_expiry_hours, coditect.current_user_id())
    RETURNING workflows.id INTO id;
    RETURN id;
END
$$;

-- The actions that move an execution or make a version: the engine (owner rights) does the
-- work and answers the row's id; the catalog writes the invoker function of each (p_as), which
-- answers the row through the generated get, under the caller's row-level security.
SELECT coditect_internal.register_action('workflow', 'publish', 'coditect.workflow_publish(uuid)',
    'POST', '/api/v1/workflows/{id}/publish/', '[{"from": "path", "name": "id"}]',
    p_permission => 'workflow.update', p_response => '{"resource": "workflow"}',
    p_summary => 'Publish a draft: it becomes the active version (immutable) and the previous active one is archived');
SELECT coditect_internal.register_action('workflow', 'new_version', 'coditect.workflow_new_version(uuid)',
    'POST', '/api/v1/workflows/{id}/versions/', '[{"from": "path", "name": "id"}]',
    p_permission => 'workflow.create', p_as => 'coditect_internal.workflow_new_version_as(uuid)', p_status => 201,
    p_summary => 'Make the next version of a workflow: a draft copying its latest version');
SELECT coditect_internal.register_action('workflow', 'start', 'coditect.workflow_start(uuid, jsonb)',
    'POST', '/api/v1/workflows/{id}/start/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "context"}]',
    p_min_role => 'member', p_as => 'coditect_internal.workflow_start_manual(uuid, jsonb)',
    p_answers => 'workflow_execution', p_status => 201,
    p_summary => 'Start the active version of a workflow by hand, with a context object');
SELECT coditect_internal.register_action('workflow', 'rotate_secret', 'coditect.workflow_rotate_secret(uuid)',
    'POST', '/api/v1/workflows/{id}/webhook-secret/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'admin', p_secret => true,
    p_summary => 'A new secret for the workflow''s webhook trigger and signed notifications (shown once)');
SELECT coditect_internal.register_action('workflow', 'webhook', 'coditect.workflow_webhook(uuid, text, bytea)',
    'POST', '/api/v1/workflows/{id}/webhook/',
    '[{"from": "path", "name": "id"}, {"from": "header", "name": "Coditect-Signature"}, {"from": "body_octets"}]',
    p_auth => 'none', p_status => 201,
    p_response => '{"null_answer": {"status": 404, "detail": "workflow not found"}}',
    p_summary => 'Start a workflow from a signed webhook (no login; Coditect-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>)');
SELECT coditect_internal.register_action('workflow_execution', 'complete_step', 'coditect.workflow_complete_step(uuid, text, jsonb)',
    'POST', '/api/v1/workflow-executions/{id}/complete/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "step", "required": true}, {"from": "body_field", "name": "output"}]',
    p_min_role => 'member', p_as => 'coditect_internal.workflow_complete_step_as(uuid, text, jsonb)',
    p_summary => 'Complete the task step the execution waits at (step: its node id), with an output object');
SELECT coditect_internal.register_action('workflow_execution', 'cancel', 'coditect.workflow_cancel(uuid)',
    'POST', '/api/v1/workflow-executions/{id}/cancel/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'member', p_as => 'coditect_internal.workflow_cancel_as(uuid)',
    p_summary => 'Cancel a running execution (who started it, or an admin)');
SELECT coditect_internal.register_action('workflow_approval', 'decide', 'coditect.workflow_decide(uuid, text, text)',
    'POST', '/api/v1/workflow-approvals/{id}/decide/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "decision", "required": true},
      {"from": "body_field", "name": "comment"}]',
    p_min_role => 'guest', p_as => 'coditect_internal.workflow_decide_as(uuid, text, text)',
    p_summary => 'Approve or reject (decision: approved | rejected); only an approver of the step, once');
GRANT EXECUTE ON FUNCTION coditect_internal.workflow_event_resource_type(text) TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- 13. 56_compliance (as in sql/56_compliance.sql)
------------------------------------------------------------------------------------------------

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
-- completed_at is the state machine's.
REVOKE INSERT, UPDATE ON coditect.audit_reviews FROM coditect_gateway, coditect_service;
GRANT INSERT (tenant_id, id, reviewer_id, review_type, scope_start_date, scope_end_date, findings, recommendations),
      UPDATE (reviewer_id, review_type, scope_start_date, scope_end_date, status, findings, recommendations)
    ON coditect.audit_reviews TO coditect_gateway, coditect_service;
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
-- both included). Owner's rights (it reads the trail, the tenant given explicitly).
CREATE FUNCTION coditect_internal.compliance_report_data(p_tenant uuid, p_type coditect.compliance_report_type,
                                                         p_start date, p_end date) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
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

------------------------------------------------------------------------------------------------
-- 14. 57_idempotency (as in sql/57_idempotency.sql)
------------------------------------------------------------------------------------------------

-- 57_idempotency: the Idempotency-Key header of authenticated POSTs through the gateway (README,
-- Idempotency keys). A key belongs to the request context's tenant and user: a member never gets
-- another user's answer replayed. The gateway, in the request's own transaction:
--   idempotency_claim(key, sha256) -> the POST's function -> idempotency_finish(key, answer)
-- so a key exists exactly when the effect it guards committed, with its answer. A concurrent
-- request with the same key waits on the claim's unique index until the first transaction ends:
-- committed, the claim refuses (CD409, constraint idempotency_key_taken) and the gateway reads
-- the stored answer (idempotency_lookup) to replay it; rolled back (the POST failed), the second
-- request runs as if it were the first. Refused requests therefore leave no key: nothing took
-- effect, and a corrected retry may reuse the key. Keys older than 24 hours are absent to reads
-- and to claims, and purged hourly (purge_idempotency_keys, 85_maintenance).
--
-- A tenant holds at most its quota of live keys (idempotency_quota): a claim beyond it is
-- refused (CD429) before the POST runs. An answer that holds a secret shown once (an operation
-- the catalog marks secret: a rotated signing secret, a share's token) is not kept: its key
-- still stands for the effect, and a repeat is refused (CD409) instead of replayed.

CREATE TABLE coditect_internal.idempotency_keys (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL,
    idem_key       text NOT NULL CHECK (octet_length(idem_key) BETWEEN 1 AND 255 AND idem_key ~ '^[ -~]+$'),
    request_sha256 bytea NOT NULL CHECK (octet_length(request_sha256) = 32),
    -- The first answer; NULL only inside the claiming transaction, before finish.
    status         integer CHECK (status BETWEEN 100 AND 599),
    content_type   text,
    headers        jsonb CHECK (jsonb_typeof(headers) = 'array'),
    body           text,
    -- The answer held a secret: status only, nothing of the answer kept.
    secret         boolean NOT NULL DEFAULT false CHECK (NOT secret OR (content_type IS NULL AND headers IS NULL AND body IS NULL)),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, idem_key)
);
COMMENT ON TABLE coditect_internal.idempotency_keys IS
    'Idempotency-Key of committed POSTs per tenant and user: the request''s SHA-256 and its first answer; 24 hours.';
REVOKE ALL ON coditect_internal.idempotency_keys FROM PUBLIC;
CREATE INDEX idempotency_keys_created_idx ON coditect_internal.idempotency_keys (created_at);
-- A tenant's live keys, counted by each claim.
CREATE INDEX idempotency_keys_tenant_created_idx ON coditect_internal.idempotency_keys (tenant_id, created_at);

-- A tenant's quota of live keys other than the default (the DBA's: owner-only, kept by pg_dump).
CREATE TABLE coditect_internal.idempotency_quotas (
    tenant_id     uuid PRIMARY KEY REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    max_live_keys integer NOT NULL CHECK (max_live_keys > 0)
);
COMMENT ON TABLE coditect_internal.idempotency_quotas IS
    'Per tenant, how many live Idempotency-Keys it may hold when not the default of idempotency_quota().';
REVOKE ALL ON coditect_internal.idempotency_quotas FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.idempotency_quotas', '');

-- The live keys a tenant may hold: its row in idempotency_quotas, else 10000.
-- PL/pgSQL: Citus cannot plan a SQL function's statement on a distributed table.
CREATE FUNCTION coditect_internal.idempotency_quota(p_tenant uuid) RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coalesce((SELECT q.max_live_keys FROM coditect_internal.idempotency_quotas q WHERE q.tenant_id = p_tenant), 10000);
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.idempotency_quota(uuid) FROM PUBLIC;

CREATE FUNCTION coditect_internal.idempotency_scope(p_key text, p_request_sha256 text,
                                                    OUT tenant uuid, OUT usr uuid, OUT sha bytea)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    tenant := coditect.current_tenant_id();
    usr := coditect.current_user_id();
    IF tenant IS NULL OR usr IS NULL THEN
        RAISE EXCEPTION 'an Idempotency-Key is used in a request context' USING ERRCODE = 'CD403';
    END IF;
    IF p_key IS NULL OR octet_length(p_key) NOT BETWEEN 1 AND 255 OR p_key !~ '^[ -~]+$' THEN
        RAISE EXCEPTION 'the Idempotency-Key header must be 1 to 255 printable ASCII characters' USING ERRCODE = 'CD400';
    END IF;
    IF p_request_sha256 IS NULL OR p_request_sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'the request''s SHA-256 is 64 lower-case hex digits' USING ERRCODE = 'CD400';
    END IF;
    -- The role the request acts as is part of the request: the same user with a lesser token
    -- (or since demoted) is not replayed an answer made for the greater role (409 instead).
    sha := pg_catalog.sha256(pg_catalog.decode(p_request_sha256, 'hex')
                             OPERATOR(pg_catalog.||) pg_catalog.convert_to(coalesce(coditect.current_user_role(), ''), 'UTF8'));
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.idempotency_scope(text, text) FROM PUBLIC;

-- The gateway, before running a POST with an Idempotency-Key: the stored first answer
-- ({status, content_type, headers, body}) of this key, NULL when there is none (or it is older
-- than 24 hours); CD409 when the key was used for a different request, or when the first
-- answer held a secret (not kept).
CREATE FUNCTION coditect.idempotency_lookup(p_key text, p_request_sha256 text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect_internal.idempotency_keys;
    k record := coditect_internal.idempotency_scope(p_key, p_request_sha256);
BEGIN
    SELECT * INTO s FROM coditect_internal.idempotency_keys x
     WHERE x.tenant_id OPERATOR(pg_catalog.=) k.tenant AND x.user_id OPERATOR(pg_catalog.=) k.usr
       AND x.idem_key OPERATOR(pg_catalog.=) p_key
       AND x.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours')
       AND x.status IS NOT NULL;
    IF s.idem_key IS NULL THEN
        RETURN NULL;
    END IF;
    IF s.request_sha256 OPERATOR(pg_catalog.<>) k.sha THEN
        RAISE EXCEPTION 'this Idempotency-Key was used for a different request (method, path or body)'
            USING ERRCODE = 'CD409', HINT = 'Use a new key for a new request.';
    END IF;
    IF s.secret THEN
        RAISE EXCEPTION 'the request with this Idempotency-Key took effect, but its answer (status %) held a secret, which is not kept: it cannot be answered again', s.status
            USING ERRCODE = 'CD409', HINT = 'Read the resource, or repeat the action with a new key to get a new secret.';
    END IF;
    RETURN pg_catalog.jsonb_build_object('status', s.status, 'content_type', s.content_type,
                                         'headers', s.headers, 'body', s.body);
END
$$;

-- The gateway, in the POST's transaction before its function: takes the key. Waits for a
-- concurrent transaction holding the same key; when that one committed, CD409 with the
-- constraint idempotency_key_taken (the gateway then replays its answer). CD429 when the tenant
-- holds its quota of live keys (concurrent claims may pass it by the number in flight).
CREATE FUNCTION coditect.idempotency_claim(p_key text, p_request_sha256 text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k      record := coditect_internal.idempotency_scope(p_key, p_request_sha256);
    quota  integer := coditect_internal.idempotency_quota(k.tenant);
    live   bigint;
    oldest timestamptz;
BEGIN
    -- An expired key is absent: its slot is taken over.
    DELETE FROM coditect_internal.idempotency_keys x
     WHERE x.tenant_id OPERATOR(pg_catalog.=) k.tenant AND x.user_id OPERATOR(pg_catalog.=) k.usr
       AND x.idem_key OPERATOR(pg_catalog.=) p_key
       AND x.created_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours');
    SELECT pg_catalog.count(*), pg_catalog.min(x.created_at) INTO live, oldest
      FROM (SELECT y.created_at FROM coditect_internal.idempotency_keys y
             WHERE y.tenant_id OPERATOR(pg_catalog.=) k.tenant
               AND y.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours')
             ORDER BY y.created_at LIMIT quota) x;
    IF live OPERATOR(pg_catalog.>=) quota THEN
        RAISE EXCEPTION 'this tenant holds % live Idempotency-Keys, its quota: the request was not run', quota
            USING ERRCODE = 'CD429',
                  HINT = pg_catalog.format('Retry after %s (a key lives 24 hours), or send the request without an Idempotency-Key.',
                                           pg_catalog.to_char((oldest OPERATOR(pg_catalog.+) interval '24 hours') AT TIME ZONE 'UTC',
                                                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    END IF;
    INSERT INTO coditect_internal.idempotency_keys (tenant_id, user_id, idem_key, request_sha256)
    VALUES (k.tenant, k.usr, p_key, k.sha)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'a request with this Idempotency-Key completed meanwhile'
            USING ERRCODE = 'CD409', CONSTRAINT = 'idempotency_key_taken';
    END IF;
    RETURN true;
END
$$;

-- The gateway, in the same transaction after the POST's function: the answer to replay. With
-- p_secret (the operation's answer holds a secret) only its status is kept.
CREATE FUNCTION coditect.idempotency_finish(p_key text, p_status integer, p_content_type text,
                                            p_headers jsonb, p_body text, p_secret boolean) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
BEGIN
    UPDATE coditect_internal.idempotency_keys x
       SET status = p_status, secret = coalesce(p_secret, false),
           content_type = CASE WHEN p_secret THEN NULL ELSE p_content_type END,
           headers = CASE WHEN p_secret THEN NULL ELSE coalesce(p_headers, '[]'::jsonb) END,
           body = CASE WHEN p_secret THEN NULL ELSE coalesce(p_body, '') END
     WHERE x.tenant_id OPERATOR(pg_catalog.=) v_tenant
       AND x.user_id OPERATOR(pg_catalog.=) coditect.current_user_id()
       AND x.idem_key OPERATOR(pg_catalog.=) p_key AND x.status IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no claim of this Idempotency-Key in this transaction' USING ERRCODE = 'CD409';
    END IF;
    RETURN true;
END
$$;

-- Maintenance (its pg_cron job): forgets the keys older than 24 hours. Returns how many.
CREATE FUNCTION coditect.purge_idempotency_keys() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM coditect_internal.idempotency_keys x
     WHERE x.created_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION coditect.idempotency_lookup(text, text), coditect.idempotency_claim(text, text),
    coditect.idempotency_finish(text, integer, text, jsonb, text, boolean), coditect.purge_idempotency_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.idempotency_lookup(text, text), coditect.idempotency_claim(text, text),
    coditect.idempotency_finish(text, integer, text, jsonb, text, boolean) TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- 15. 59_stripe_webhooks (as in sql/59_stripe_webhooks.sql)
------------------------------------------------------------------------------------------------

-- 59_stripe_webhooks: POST /api/v1/webhooks/stripe (no login; README, Stripe webhooks). Stripe
-- signs each event with the endpoint's secret (Stripe-Signature: t=<unix seconds>,v1=<hex
-- HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]), checked by the product's one verifier
-- (coditect_internal.webhook_verify, 54_workflows) within 300 s. Each event is stored once, by
-- its Stripe id: a redelivery answers 200 "already received" and changes nothing. An event is
-- then dispatched through coditect_internal.stripe_event_handlers (event type -> function): a
-- type without a handler is recorded as ignored. A handler's error fails the delivery (nothing
-- is stored), so Stripe delivers the event again later.

-- The endpoint's signing secret (whsec_...): one row, read only by the owner's functions. A DBA
-- sets it with coditect.set_stripe_webhook_secret.
CREATE TABLE coditect_internal.stripe_webhook_secret (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     text NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 255),
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON coditect_internal.stripe_webhook_secret FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.stripe_webhook_secret', '');

-- DBA: sets (or replaces) the Stripe endpoint's signing secret; NULL removes it (the endpoint
-- then answers 503). Not granted to any role: the owner or a superuser runs it.
CREATE FUNCTION coditect.set_stripe_webhook_secret(p_secret text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_secret IS NULL THEN
        DELETE FROM coditect_internal.stripe_webhook_secret;
        RETURN;
    END IF;
    IF octet_length(p_secret) NOT BETWEEN 16 AND 255 OR p_secret !~ '^[!-~]+$' THEN
        RAISE EXCEPTION 'a Stripe webhook secret is 16 to 255 printable characters (whsec_...)' USING ERRCODE = 'CD400';
    END IF;
    INSERT INTO coditect_internal.stripe_webhook_secret AS s (singleton, secret, updated_at)
    VALUES (true, p_secret, pg_catalog.now())
    ON CONFLICT (singleton) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at;  -- no now() here: Citus refuses it
END
$$;
REVOKE ALL ON FUNCTION coditect.set_stripe_webhook_secret(text) FROM PUBLIC;

-- The customer -> tenant mapping: Stripe's customer (cus_...) of a tenant is the seeds'
-- tenants.stripe_customer_id (20_tenancy; unique across tenants through the global keys). Every
-- handler finds its tenant from data.object.customer. The service role, when it makes the
-- Stripe customer at sign-up, binds it for its request's tenant, once. Rebinding and unbinding
-- are a DBA's (UPDATE coditect.tenants as superuser). A customer bound to another tenant is
-- refused (CD409): a customer's events reach one tenant. (Owner rights: without the context
-- check a service login could move another tenant's customer, and its payments, to its own.)
CREATE FUNCTION coditect.set_stripe_customer(p_tenant uuid, p_customer text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    other uuid;
    bound text;
BEGIN
    IF p_customer IS NULL OR p_customer !~ '^cus_[A-Za-z0-9_]{1,251}$' THEN
        RAISE EXCEPTION 'a Stripe customer id is cus_ followed by letters and digits' USING ERRCODE = 'CD400';
    END IF;
    IF p_tenant IS NULL OR p_tenant IS DISTINCT FROM coditect.current_tenant_id() THEN
        RAISE EXCEPTION 'a Stripe customer is bound for the request''s tenant only' USING ERRCODE = 'CD403';
    END IF;
    SELECT t.stripe_customer_id INTO bound FROM coditect.tenants t WHERE t.id OPERATOR(pg_catalog.=) p_tenant FOR UPDATE;
    IF bound OPERATOR(pg_catalog.<>) p_customer THEN
        RAISE EXCEPTION 'tenant % is bound to Stripe customer %: rebinding is a DBA''s', p_tenant, bound USING ERRCODE = 'CD409';
    END IF;
    SELECT k.tenant_id INTO other FROM coditect_internal.global_keys k
     WHERE k.kind OPERATOR(pg_catalog.=) 'tenants.stripe_customer_id' AND k.value OPERATOR(pg_catalog.=) p_customer;
    IF other IS NOT NULL AND other OPERATOR(pg_catalog.<>) p_tenant THEN
        RAISE EXCEPTION 'Stripe customer % is bound to another tenant', p_customer USING ERRCODE = 'CD409';
    END IF;
    -- Claimed here, on the coordinator under Citus (00_base, global keys); no old value to
    -- release: rebinding is refused above.
    PERFORM coditect_internal.global_key_claim('tenants.stripe_customer_id', p_customer, p_tenant, p_tenant);
    UPDATE coditect.tenants t SET stripe_customer_id = p_customer WHERE t.id OPERATOR(pg_catalog.=) p_tenant;
END
$$;
REVOKE ALL ON FUNCTION coditect.set_stripe_customer(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.set_stripe_customer(uuid, text) TO coditect_service;

-- Every event received, once. data_object: the event's data.object (what handlers read).
CREATE TABLE coditect_internal.stripe_events (
    event_id      text PRIMARY KEY CHECK (octet_length(event_id) BETWEEN 1 AND 255 AND event_id ~ '^[!-~]+$'),
    event_type    text NOT NULL CHECK (event_type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$'),
    created       timestamptz NOT NULL,   -- Stripe's "created"
    livemode      boolean NOT NULL,
    data_object   jsonb NOT NULL CHECK (jsonb_typeof(data_object) = 'object'),
    payload       jsonb NOT NULL,
    -- processed: its handler applied it; skipped: its handler found nothing to do (already
    -- applied, or older than what was applied of its object); refused: its handler changed
    -- nothing, for the reason given (an unknown customer, an amount that is not the order's);
    -- ignored: no handler.
    status        text NOT NULL CHECK (status IN ('processed', 'skipped', 'refused', 'ignored')),
    handler       regprocedure,
    received_at   timestamptz NOT NULL DEFAULT now(),
    object_id     text,                   -- data.object.id (pi_..., in_..., sub_...)
    tenant_id     uuid,                   -- the tenant of data.object.customer, once a handler found it
    reason        text,
    CHECK ((status = 'ignored') = (handler IS NULL)),
    CHECK (status <> 'refused' OR reason IS NOT NULL)
);
COMMENT ON TABLE coditect_internal.stripe_events IS
    'Stripe webhook events received (unique by Stripe event id), with the processing status of each.';
REVOKE ALL ON coditect_internal.stripe_events FROM PUBLIC;
CREATE INDEX stripe_events_type_idx ON coditect_internal.stripe_events (event_type, received_at);
-- The handlers' question: was a later event of this object applied already?
CREATE INDEX stripe_events_object_idx ON coditect_internal.stripe_events (object_id, created);

-- The dispatch: an exact event type ('charge.refunded') or a family ('invoice.*'); the exact
-- type wins. A handler is f(coditect_internal.stripe_events) RETURNS void, run as the owner in
-- the delivery's transaction with the event row already stored. A handler refuses an event by
-- raising SQLSTATE CDR01 (coditect_internal.stripe_refuse, 88_invoices): what it did is undone,
-- the event stays stored as refused with the message as its reason, and Stripe is answered 200
-- (a redelivery would be refused again). Any other error fails the delivery.
CREATE TABLE coditect_internal.stripe_event_handlers (
    event_type text PRIMARY KEY CHECK (event_type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$'),
    handler    regprocedure NOT NULL
);
REVOKE ALL ON coditect_internal.stripe_event_handlers FROM PUBLIC;

-- One declaration per handled type (the orders and payments session adds them).
CREATE FUNCTION coditect_internal.declare_stripe_handler(p_event_type text, p_handler regprocedure) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_proc p
                    WHERE p.oid OPERATOR(pg_catalog.=) p_handler
                      AND p.pronargs OPERATOR(pg_catalog.=) 1
                      AND p.proargtypes[0] OPERATOR(pg_catalog.=) 'coditect_internal.stripe_events'::regtype
                      AND p.prorettype OPERATOR(pg_catalog.=) 'void'::regtype) THEN
        RAISE EXCEPTION 'a Stripe event handler is f(coditect_internal.stripe_events) RETURNS void, not %', p_handler
            USING ERRCODE = 'CD400';
    END IF;
    INSERT INTO coditect_internal.stripe_event_handlers AS h (event_type, handler) VALUES (p_event_type, p_handler)
    ON CONFLICT (event_type) DO UPDATE SET handler = excluded.handler;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.declare_stripe_handler(text, regprocedure) FROM PUBLIC;

-- POST /api/v1/webhooks/stripe: verifies, parses and stores the event once, then dispatches it.
-- 401: bad or stale signature; 400: not a Stripe event; 503: no secret configured. Answers
-- {received, event_id, type, status, already_received[, reason]}.
CREATE FUNCTION coditect.stripe_webhook(p_signature text, p_body bytea) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sec     text;
    verdict text;
    ev      jsonb;
    e       coditect_internal.stripe_events;
    hname   text;
    h       regprocedure;
BEGIN
    SELECT s.secret INTO sec FROM coditect_internal.stripe_webhook_secret s;
    IF sec IS NULL THEN
        RAISE EXCEPTION 'the Stripe webhook secret is not configured' USING ERRCODE = 'CD503',
            HINT = 'A DBA runs SELECT coditect.set_stripe_webhook_secret(''whsec_...'').';
    END IF;
    verdict := coditect_internal.webhook_verify(pg_catalog.convert_to(sec, 'UTF8'), coalesce(p_signature, ''),
                                                coalesce(p_body, ''), 300);
    IF verdict OPERATOR(pg_catalog.<>) 'valid' THEN
        RAISE EXCEPTION 'the Stripe-Signature header is %',
            CASE verdict WHEN 'expired' THEN 'stale: its timestamp is more than 300 s away from now'
                         WHEN 'mismatch' THEN 'not a signature of this body with the configured secret'
                         ELSE 'malformed (t=<unix seconds>,v1=<hex HMAC-SHA256>)' END
            USING ERRCODE = 'CD401';
    END IF;
    BEGIN
        ev := pg_catalog.convert_from(p_body, 'UTF8')::jsonb;
    EXCEPTION WHEN data_exception OR untranslatable_character OR character_not_in_repertoire THEN
        RAISE EXCEPTION 'the body is not JSON' USING ERRCODE = 'CD400';
    END;
    IF pg_catalog.jsonb_typeof(ev) IS DISTINCT FROM 'object'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.->) 'id') IS DISTINCT FROM 'string'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.->) 'type') IS DISTINCT FROM 'string'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.->) 'created') IS DISTINCT FROM 'number'
       OR pg_catalog.jsonb_typeof(ev OPERATOR(pg_catalog.#>) '{data,object}') IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'not a Stripe event: an object with id, type, created and data.object is expected'
            USING ERRCODE = 'CD400';
    END IF;
    e.event_id := ev OPERATOR(pg_catalog.->>) 'id';
    e.event_type := ev OPERATOR(pg_catalog.->>) 'type';
    IF octet_length(e.event_id) NOT BETWEEN 1 AND 255 OR e.event_id !~ '^[!-~]+$'
       OR e.event_type !~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$' THEN
        RAISE EXCEPTION 'not a Stripe event: malformed id or type' USING ERRCODE = 'CD400';
    END IF;
    BEGIN
        e.created := pg_catalog.to_timestamp((ev OPERATOR(pg_catalog.->>) 'created')::double precision);
    EXCEPTION WHEN data_exception THEN
        RAISE EXCEPTION 'not a Stripe event: created is not a Unix time' USING ERRCODE = 'CD400';
    END;
    e.livemode := coalesce((ev OPERATOR(pg_catalog.->) 'livemode') OPERATOR(pg_catalog.=) 'true'::jsonb, false);
    e.data_object := ev OPERATOR(pg_catalog.#>) '{data,object}';
    e.payload := ev;
    e.object_id := e.data_object OPERATOR(pg_catalog.->>) 'id';
    -- The exact type, else the longest family that covers it (customer.subscription.* before
    -- customer.*).
    SELECT x.handler INTO h FROM coditect_internal.stripe_event_handlers x
     WHERE x.event_type OPERATOR(pg_catalog.=) e.event_type
        OR (pg_catalog.right(x.event_type, 2) OPERATOR(pg_catalog.=) '.*'
            AND pg_catalog.starts_with(e.event_type, pg_catalog.left(x.event_type, -1)))
     ORDER BY x.event_type OPERATOR(pg_catalog.=) e.event_type DESC, pg_catalog.length(x.event_type) DESC LIMIT 1;
    e.handler := h;
    e.status := CASE WHEN h IS NULL THEN 'ignored' ELSE 'processed' END;
    e.received_at := pg_catalog.now();
    -- A concurrent delivery of the same event waits here until the first one ends.
    INSERT INTO coditect_internal.stripe_events SELECT (e).* ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN (SELECT pg_catalog.jsonb_build_object('received', true, 'event_id', x.event_id, 'type', x.event_type,
                                                     'status', x.status, 'already_received', true)
                  FROM coditect_internal.stripe_events x WHERE x.event_id OPERATOR(pg_catalog.=) e.event_id);
    END IF;
    IF h IS NOT NULL THEN
        SELECT pg_catalog.format('%I.%I', n.nspname, p.proname) INTO hname
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
         WHERE p.oid OPERATOR(pg_catalog.=) h;
        BEGIN
            EXECUTE pg_catalog.format('SELECT %s($1)', hname) USING e;
        EXCEPTION WHEN SQLSTATE 'CDR01' THEN
            UPDATE coditect_internal.stripe_events x SET status = 'refused', reason = pg_catalog.left(SQLERRM, 1000)
             WHERE x.event_id OPERATOR(pg_catalog.=) e.event_id;
        END;
        SELECT x.status, x.reason INTO e.status, e.reason FROM coditect_internal.stripe_events x
         WHERE x.event_id OPERATOR(pg_catalog.=) e.event_id;
    END IF;
    RETURN pg_catalog.jsonb_build_object('received', true, 'event_id', e.event_id, 'type', e.event_type,
                                         'status', e.status, 'already_received', false)
           OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('reason', e.reason));
END
$$;
REVOKE ALL ON FUNCTION coditect.stripe_webhook(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.stripe_webhook(text, bytea) TO coditect_gateway, coditect_service;

-- Billing belongs to the tenant resource until payments exist (the orders session moves it).
-- (The handlers are 88_invoices'.)
SELECT coditect_internal.register_action('tenant', 'stripe_webhook', 'coditect.stripe_webhook(text, bytea)',
    'POST', '/api/v1/webhooks/stripe',
    '[{"from": "header", "name": "Stripe-Signature"}, {"from": "body_octets"}]',
    p_auth => 'none',
    p_summary => 'Receive a Stripe event (no login; Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>); idempotent by event id');

------------------------------------------------------------------------------------------------
-- 16. 60_reference (as in sql/60_reference.sql)
------------------------------------------------------------------------------------------------

-- 60_reference: reference data (ISO 4217 currencies, ISO 3166-1 countries, ISO 3166-2
-- subdivisions), money (amounts are bigint minor units of an ISO 4217 currency) and tax rates.
-- The catalogs are global and read-only: their rows come from 61_reference_data.sql, generated
-- by tools/coditect-refdata.cpp from Debian's iso-codes and ICU (README "Money and reference
-- data"); only the extension owner writes them. Tax rates are global too, written by the
-- service role; coditect.tax_amount is the one place tax is computed and rounded.

------------------------------------------------------------------------------------------------
-- Reference catalogs (rows: 61_reference_data.sql)
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.currencies (
    code         varchar(3) PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    numeric_code varchar(3) NOT NULL UNIQUE CHECK (numeric_code ~ '^[0-9]{3}$'),
    name         varchar(255) NOT NULL,
    exponent     smallint NOT NULL CHECK (exponent BETWEEN 0 AND 4),
    -- Legal tender (ICU/CLDR): false for funds (BOV, CLF, USN...), metals (XAU...), units of
    -- account (XDR...), XTS and XXX. Nothing is priced in those (products, coupons).
    priceable    boolean NOT NULL
);
COMMENT ON TABLE coditect.currencies IS
    'ISO 4217 currencies (Debian iso-codes); exponent: digits of the minor unit, from ICU (CLDR).';
COMMENT ON COLUMN coditect.currencies.exponent IS
    'An amount of 1234 minor units is 12.34 when the exponent is 2, 1234 when it is 0, 1.234 when it is 3.';
COMMENT ON COLUMN coditect.currencies.priceable IS
    'Legal tender (not among ICU''s uncommon codes, CLDR tender="false"): a price may be in it.';

CREATE TABLE coditect.countries (
    alpha_2      varchar(2) PRIMARY KEY CHECK (alpha_2 ~ '^[A-Z]{2}$'),
    alpha_3      varchar(3) NOT NULL UNIQUE CHECK (alpha_3 ~ '^[A-Z]{3}$'),
    numeric_code varchar(3) NOT NULL UNIQUE CHECK (numeric_code ~ '^[0-9]{3}$'),
    name         varchar(255) NOT NULL
);
COMMENT ON TABLE coditect.countries IS 'ISO 3166-1 countries (Debian iso-codes).';

CREATE TABLE coditect.subdivisions (
    code         varchar(6) PRIMARY KEY CHECK (code ~ '^[A-Z]{2}-[A-Z0-9]{1,3}$'),
    country_code varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    name         varchar(255) NOT NULL,
    type         varchar(100) NOT NULL,
    -- The target of (country_code, state_code) foreign keys: a subdivision of that country.
    CONSTRAINT subdivisions_country_code_key UNIQUE (country_code, code),
    CHECK (left(code, 2) = country_code)
);
COMMENT ON TABLE coditect.subdivisions IS 'ISO 3166-2 subdivisions (Debian iso-codes): states, provinces, regions.';

REVOKE ALL ON coditect.currencies, coditect.countries, coditect.subdivisions FROM PUBLIC;
GRANT SELECT ON coditect.currencies, coditect.countries, coditect.subdivisions
    TO coditect_gateway, coditect_service, coditect_analyst;

-- ICU's exponent of a currency, which pgTAP compares with the table (drift from ICU).
CREATE FUNCTION coditect_internal.icu_currency_exponent(text) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_icu_currency_exponent' LANGUAGE C STABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION coditect_internal.icu_currency_exponent(text) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Money
------------------------------------------------------------------------------------------------

-- The digits of a currency's minor unit: 0 for JPY, 2 for USD, 3 for KWD. CD422 when unknown.
CREATE FUNCTION coditect.currency_exponent(p_currency text) RETURNS int
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e int;
BEGIN
    SELECT c.exponent INTO e FROM coditect.currencies c WHERE c.code = p_currency;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown currency "%" (ISO 4217, upper case)', p_currency USING ERRCODE = 'CD422';
    END IF;
    RETURN e;
END
$$;

-- The currency a price or a coupon is in: a known, priceable one (CD422 otherwise).
CREATE FUNCTION coditect.require_priceable_currency(p_currency text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM coditect.currencies c WHERE c.code = p_currency) THEN
        RAISE EXCEPTION 'unknown currency "%" (ISO 4217, upper case)', p_currency USING ERRCODE = 'CD422';
    END IF;
    IF NOT (SELECT c.priceable FROM coditect.currencies c WHERE c.code = p_currency) THEN
        RAISE EXCEPTION 'currency % (%) is not legal tender: nothing is priced in it', p_currency,
            (SELECT c.name FROM coditect.currencies c WHERE c.code = p_currency) USING ERRCODE = 'CD422';
    END IF;
END
$$;

-- An amount for display: 1234 USD is '12.34 USD', 1234 JPY '1234 JPY', -5 KWD '-0.005 KWD'.
-- No grouping or symbols: those are the client's locale's to add.
CREATE FUNCTION coditect.money_format(p_amount bigint, p_currency text) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e    int := coditect.currency_exponent(p_currency);
    a    numeric := abs(p_amount::numeric);
    unit numeric := (10 ^ e)::bigint::numeric;
BEGIN
    RETURN CASE WHEN p_amount < 0 THEN '-' ELSE '' END || div(a, unit)::text
           || CASE WHEN e = 0 THEN '' ELSE '.' || lpad(mod(a, unit)::text, e, '0') END
           || ' ' || p_currency;
END
$$;

-- THE tax computation; nothing else rounds tax. p_amount is a line's amount in minor units:
-- the net amount when the rate is exclusive (tax is added), the gross amount when it is
-- inclusive (tax is contained). p_rate is a percentage (20 for 20 %).
--   exclusive: tax = round(amount * rate / 100)
--   inclusive: tax = round(amount * rate / (100 + rate))   (net = amount - tax)
-- Rounding: per line, to the currency's minor unit, half away from zero ("half-up";
-- PostgreSQL's round(numeric)), the rule tax authorities commonly prescribe for invoices;
-- per line so that a line's snapshotted tax is final and a refund of a line returns exactly
-- its tax; away from zero so that a credit mirrors its charge. The quotient is exact enough:
-- amount and rate are exact numerics and a value this close to .5 without being .5 cannot
-- arise from denominators this small.
CREATE FUNCTION coditect.tax_amount(p_amount bigint, p_rate numeric, p_inclusive boolean) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_rate < 0 OR p_rate > 100 THEN
        RAISE EXCEPTION 'a tax rate is a percentage between 0 and 100, not %', p_rate USING ERRCODE = 'CD422';
    END IF;
    -- The quotient at 20 decimals (numeric division keeps the dividend's scale), so that
    -- round() sees it exact even for amounts of 10^12 and more: one rounding, here.
    IF p_inclusive THEN
        RETURN round((p_amount::numeric * p_rate)::numeric(40, 20) / (100 + p_rate))::bigint;
    END IF;
    RETURN round(p_amount::numeric * p_rate / 100)::bigint;
END
$$;

-- A line's three amounts from tax_amount: net + tax = gross, whichever side the price is on.
CREATE FUNCTION coditect.tax_line(p_amount bigint, p_rate numeric, p_inclusive boolean,
                                  OUT net bigint, OUT tax bigint, OUT gross bigint)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    tax := coditect.tax_amount(p_amount, p_rate, p_inclusive);
    IF p_inclusive THEN
        gross := p_amount;
        net := p_amount - tax;
    ELSE
        net := p_amount;
        gross := p_amount + tax;
    END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- Tax rates (global; read by tenants through the catalog, written by the service role)
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.tax_type AS ENUM ('vat', 'gst', 'sales_tax');
COMMENT ON TYPE coditect.tax_type IS 'The kind of tax a rate collects.';

CREATE TABLE coditect.tax_rates (
    id                 uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    stripe_tax_rate_id varchar(255) UNIQUE,
    display_name       varchar(100) NOT NULL CHECK (display_name ~ '\S'),
    -- Four decimals, not the seeds' two: 8.875 % (New York City) exists.
    percentage         numeric(7, 4) NOT NULL CHECK (percentage >= 0 AND percentage <= 100),
    jurisdiction       varchar(100) NOT NULL DEFAULT '',
    country_code       varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    state_code         varchar(6),
    tax_type           coditect.tax_type NOT NULL DEFAULT 'vat',
    inclusive          boolean NOT NULL DEFAULT false,
    active             boolean NOT NULL DEFAULT true,
    valid_from         timestamptz,
    valid_until        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (country_code, state_code) REFERENCES coditect.subdivisions (country_code, code),
    CONSTRAINT tax_rates_validity CHECK (valid_from < valid_until)
);
CREATE INDEX tax_rates_country_state_idx ON coditect.tax_rates (country_code, state_code);
CREATE INDEX tax_rates_active_idx ON coditect.tax_rates (active);
CREATE INDEX tax_rates_created_idx ON coditect.tax_rates (created_at DESC, id DESC);
COMMENT ON COLUMN coditect.tax_rates.state_code IS
    'ISO 3166-2 subdivision of country_code (US-NY); NULL for a country-wide rate.';
COMMENT ON COLUMN coditect.tax_rates.inclusive IS
    'Prices already contain the tax (European VAT) rather than having it added (US sales tax).';
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.tax_rates
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();

-- Everyone with a request context reads the rates; only the service role writes them (rates
-- are deactivated, never deleted: orders keep a snapshot but the history stays readable).
ALTER TABLE coditect.tax_rates ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tax_rates_read ON coditect.tax_rates FOR SELECT USING (true);
CREATE POLICY tax_rates_service_insert ON coditect.tax_rates FOR INSERT TO coditect_service WITH CHECK (true);
CREATE POLICY tax_rates_service_update ON coditect.tax_rates FOR UPDATE TO coditect_service USING (true) WITH CHECK (true);
REVOKE ALL ON coditect.tax_rates FROM PUBLIC;
GRANT SELECT ON coditect.tax_rates TO coditect_gateway, coditect_service, coditect_analyst;
GRANT INSERT, UPDATE ON coditect.tax_rates TO coditect_service;
-- The service's rows are data, not extension objects: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('coditect.tax_rates', '');

-- The rate that applies to a billing address in (p_country, p_state) at p_at: an active rate
-- valid then, of the subdivision when it has one, else the country-wide one (a subdivision's
-- rate replaces the country's rather than adding to it: enter a combined rate, such as
-- Ontario's HST, as the subdivision's). Among several, the latest valid_from wins, then the
-- newest row. NULL when none applies (no tax); CD422 for an unknown country, or a subdivision
-- that is not the country's.
CREATE FUNCTION coditect.select_tax_rate(p_country text, p_state text DEFAULT NULL, p_at timestamptz DEFAULT now())
RETURNS coditect.tax_rates
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r coditect.tax_rates;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM coditect.countries c WHERE c.alpha_2 = p_country) THEN
        RAISE EXCEPTION 'unknown country "%" (ISO 3166-1 alpha-2)', p_country USING ERRCODE = 'CD422';
    END IF;
    IF p_state IS NOT NULL AND NOT EXISTS (SELECT 1 FROM coditect.subdivisions s
                                            WHERE s.code = p_state AND s.country_code = p_country) THEN
        RAISE EXCEPTION 'unknown subdivision "%" of %', p_state, p_country USING ERRCODE = 'CD422';
    END IF;
    SELECT t.* INTO r FROM coditect.tax_rates t
     WHERE t.active AND t.country_code = p_country AND (t.state_code IS NULL OR t.state_code = p_state)
       AND (t.valid_from IS NULL OR t.valid_from <= p_at) AND (t.valid_until IS NULL OR p_at < t.valid_until)
     ORDER BY t.state_code IS NULL, t.valid_from DESC NULLS LAST, t.created_at DESC, t.id DESC
     LIMIT 1;
    RETURN r;
END
$$;

REVOKE ALL ON FUNCTION coditect.currency_exponent(text), coditect.require_priceable_currency(text), coditect.money_format(bigint, text),
    coditect.tax_amount(bigint, numeric, boolean), coditect.tax_line(bigint, numeric, boolean),
    coditect.select_tax_rate(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.currency_exponent(text), coditect.require_priceable_currency(text), coditect.money_format(bigint, text),
    coditect.tax_amount(bigint, numeric, boolean), coditect.tax_line(bigint, numeric, boolean),
    coditect.select_tax_rate(text, text, timestamptz) TO coditect_gateway, coditect_service, coditect_analyst;

SELECT coditect_internal.register_resource('coditect.tax_rates', 'tax_rate', p_mechanisms => false,
    p_roles => '{"view": "guest"}',
    p_filters => '{"country_code": ["exact", "in"], "state_code": ["exact", "isnull"], "tax_type": ["exact"],
                   "inclusive": ["exact"], "active": ["exact"]}',
    p_orderings => '{created_at,percentage}');

------------------------------------------------------------------------------------------------
-- 17. 61_reference_data (as in sql/61_reference_data.sql)
------------------------------------------------------------------------------------------------

-- 61_reference_data: GENERATED by tools/coditect-refdata.cpp from Debian's iso-codes
-- (currencies, countries, subdivisions) and ICU (currency exponents, priceable). Do not edit:
-- regenerate (README "Money and reference data"); tests fail when this file and the
-- installed packages disagree.

INSERT INTO coditect.currencies (code, numeric_code, name, exponent, priceable) VALUES
    ('AED', '784', 'UAE Dirham', 2, true),
    ('AFN', '971', 'Afghani', 0, true),
    ('ALL', '008', 'Lek', 0, true),
    ('AMD', '051', 'Armenian Dram', 2, true),
    ('ANG', '532', 'Netherlands Antillean Guilder', 2, true),
    ('AOA', '973', 'Kwanza', 2, true),
    ('ARS', '032', 'Argentine Peso', 2, true),
    ('AUD', '036', 'Australian Dollar', 2, true),
    ('AWG', '533', 'Aruban Florin', 2, true),
    ('AZN', '944', 'Azerbaijan Manat', 2, true),
    ('BAM', '977', 'Convertible Mark', 2, true),
    ('BBD', '052', 'Barbados Dollar', 2, true),
    ('BDT', '050', 'Taka', 2, true),
    ('BGN', '975', 'Bulgarian Lev', 2, true),
    ('BHD', '048', 'Bahraini Dinar', 3, true),
    ('BIF', '108', 'Burundi Franc', 0, true),
    ('BMD', '060', 'Bermudian Dollar', 2, true),
    ('BND', '096', 'Brunei Dollar', 2, true),
    ('BOB', '068', 'Boliviano', 2, true),
    ('BOV', '984', 'Mvdol', 2, false),
    ('BRL', '986', 'Brazilian Real', 2, true),
    ('BSD', '044', 'Bahamian Dollar', 2, true),
    ('BTN', '064', 'Ngultrum', 2, true),
    ('BWP', '072', 'Pula', 2, true),
    ('BYN', '933', 'Belarusian Ruble', 2, true),
    ('BZD', '084', 'Belize Dollar', 2, true),
    ('CAD', '124', 'Canadian Dollar', 2, true),
    ('CDF', '976', 'Congolese Franc', 2, true),
    ('CHE', '947', 'WIR Euro', 2, false),
    ('CHF', '756', 'Swiss Franc', 2, true),
    ('CHW', '948', 'WIR Franc', 2, false),
    ('CLF', '990', 'Unidad de Fomento', 4, false),
    ('CLP', '152', 'Chilean Peso', 0, true),
    ('CNY', '156', 'Yuan Renminbi', 2, true),
    ('COP', '170', 'Colombian Peso', 2, true),
    ('COU', '970', 'Unidad de Valor Real', 2, false),
    ('CRC', '188', 'Costa Rican Colon', 2, true),
    ('CUC', '931', 'Peso Convertible', 2, true),
    ('CUP', '192', 'Cuban Peso', 2, true),
    ('CVE', '132', 'Cabo Verde Escudo', 2, true),
    ('CZK', '203', 'Czech Koruna', 2, true),
    ('DJF', '262', 'Djibouti Franc', 0, true),
    ('DKK', '208', 'Danish Krone', 2, true),
    ('DOP', '214', 'Dominican Peso', 2, true),
    ('DZD', '012', 'Algerian Dinar', 2, true),
    ('EGP', '818', 'Egyptian Pound', 2, true),
    ('ERN', '232', 'Nakfa', 2, true),
    ('ETB', '230', 'Ethiopian Birr', 2, true),
    ('EUR', '978', 'Euro', 2, true),
    ('FJD', '242', 'Fiji Dollar', 2, true),
    ('FKP', '238', 'Falkland Islands Pound', 2, true),
    ('GBP', '826', 'Pound Sterling', 2, true),
    ('GEL', '981', 'Lari', 2, true),
    ('GHS', '936', 'Ghana Cedi', 2, true),
    ('GIP', '292', 'Gibraltar Pound', 2, true),
    ('GMD', '270', 'Dalasi', 2, true),
    ('GNF', '324', 'Guinean Franc', 0, true),
    ('GTQ', '320', 'Quetzal', 2, true),
    ('GYD', '328', 'Guyana Dollar', 2, true),
    ('HKD', '344', 'Hong Kong Dollar', 2, true),
    ('HNL', '340', 'Lempira', 2, true),
    ('HRK', '191', 'Kuna', 2, true),
    ('HTG', '332', 'Gourde', 2, true),
    ('HUF', '348', 'Forint', 2, true),
    ('IDR', '360', 'Rupiah', 2, true),
    ('ILS', '376', 'New Israeli Sheqel', 2, true),
    ('INR', '356', 'Indian Rupee', 2, true),
    ('IQD', '368', 'Iraqi Dinar', 0, true),
    ('IRR', '364', 'Iranian Rial', 0, true),
    ('ISK', '352', 'Iceland Krona', 0, true),
    ('JMD', '388', 'Jamaican Dollar', 2, true),
    ('JOD', '400', 'Jordanian Dinar', 3, true),
    ('JPY', '392', 'Yen', 0, true),
    ('KES', '404', 'Kenyan Shilling', 2, true),
    ('KGS', '417', 'Som', 2, true),
    ('KHR', '116', 'Riel', 2, true),
    ('KMF', '174', 'Comorian Franc', 0, true),
    ('KPW', '408', 'North Korean Won', 0, true),
    ('KRW', '410', 'Won', 0, true),
    ('KWD', '414', 'Kuwaiti Dinar', 3, true),
    ('KYD', '136', 'Cayman Islands Dollar', 2, true),
    ('KZT', '398', 'Tenge', 2, true),
    ('LAK', '418', 'Lao Kip', 0, true),
    ('LBP', '422', 'Lebanese Pound', 0, true),
    ('LKR', '144', 'Sri Lanka Rupee', 2, true),
    ('LRD', '430', 'Liberian Dollar', 2, true),
    ('LSL', '426', 'Loti', 2, true),
    ('LYD', '434', 'Libyan Dinar', 3, true),
    ('MAD', '504', 'Moroccan Dirham', 2, true),
    ('MDL', '498', 'Moldovan Leu', 2, true),
    ('MGA', '969', 'Malagasy Ariary', 0, true),
    ('MKD', '807', 'Denar', 2, true),
    ('MMK', '104', 'Kyat', 0, true),
    ('MNT', '496', 'Tugrik', 2, true),
    ('MOP', '446', 'Pataca', 2, true),
    ('MRU', '929', 'Ouguiya', 2, true),
    ('MUR', '480', 'Mauritius Rupee', 2, true),
    ('MVR', '462', 'Rufiyaa', 2, true),
    ('MWK', '454', 'Malawi Kwacha', 2, true),
    ('MXN', '484', 'Mexican Peso', 2, true),
    ('MXV', '979', 'Mexican Unidad de Inversion (UDI)', 2, false),
    ('MYR', '458', 'Malaysian Ringgit', 2, true),
    ('MZN', '943', 'Mozambique Metical', 2, true),
    ('NAD', '516', 'Namibia Dollar', 2, true),
    ('NGN', '566', 'Naira', 2, true),
    ('NIO', '558', 'Cordoba Oro', 2, true),
    ('NOK', '578', 'Norwegian Krone', 2, true),
    ('NPR', '524', 'Nepalese Rupee', 2, true),
    ('NZD', '554', 'New Zealand Dollar', 2, true),
    ('OMR', '512', 'Rial Omani', 3, true),
    ('PAB', '590', 'Balboa', 2, true),
    ('PEN', '604', 'Sol', 2, true),
    ('PGK', '598', 'Kina', 2, true),
    ('PHP', '608', 'Philippine Peso', 2, true),
    ('PKR', '586', 'Pakistan Rupee', 2, true),
    ('PLN', '985', 'Zloty', 2, true),
    ('PYG', '600', 'Guarani', 0, true),
    ('QAR', '634', 'Qatari Rial', 2, true),
    ('RON', '946', 'Romanian Leu', 2, true),
    ('RSD', '941', 'Serbian Dinar', 0, true),
    ('RUB', '643', 'Russian Ruble', 2, true),
    ('RWF', '646', 'Rwanda Franc', 0, true),
    ('SAR', '682', 'Saudi Riyal', 2, true),
    ('SBD', '090', 'Solomon Islands Dollar', 2, true),
    ('SCR', '690', 'Seychelles Rupee', 2, true),
    ('SDG', '938', 'Sudanese Pound', 2, true),
    ('SEK', '752', 'Swedish Krona', 2, true),
    ('SGD', '702', 'Singapore Dollar', 2, true),
    ('SHP', '654', 'Saint Helena Pound', 2, true),
    ('SLE', '925', 'Leone', 2, true),
    ('SLL', '694', 'Leone', 0, true),
    ('SOS', '706', 'Somali Shilling', 0, true),
    ('SRD', '968', 'Surinam Dollar', 2, true),
    ('SSP', '728', 'South Sudanese Pound', 2, true),
    ('STN', '930', 'Dobra', 2, true),
    ('SVC', '222', 'El Salvador Colon', 2, true),
    ('SYP', '760', 'Syrian Pound', 0, true),
    ('SZL', '748', 'Lilangeni', 2, true),
    ('THB', '764', 'Baht', 2, true),
    ('TJS', '972', 'Somoni', 2, true),
    ('TMT', '934', 'Turkmenistan New Manat', 2, true),
    ('TND', '788', 'Tunisian Dinar', 3, true),
    ('TOP', '776', 'Pa’anga', 2, true),
    ('TRY', '949', 'Turkish Lira', 2, true),
    ('TTD', '780', 'Trinidad and Tobago Dollar', 2, true),
    ('TWD', '901', 'New Taiwan Dollar', 2, true),
    ('TZS', '834', 'Tanzanian Shilling', 2, true),
    ('UAH', '980', 'Hryvnia', 2, true),
    ('UGX', '800', 'Uganda Shilling', 0, true),
    ('USD', '840', 'US Dollar', 2, true),
    ('USN', '997', 'US Dollar (Next day)', 2, false),
    ('UYI', '940', 'Uruguay Peso en Unidades Indexadas (UI)', 0, false),
    ('UYU', '858', 'Peso Uruguayo', 2, true),
    ('UYW', '927', 'Unidad Previsional', 4, false),
    ('UZS', '860', 'Uzbekistan Sum', 2, true),
    ('VED', '926', 'Bolívar Soberano', 2, false),
    ('VES', '928', 'Bolívar Soberano', 2, true),
    ('VND', '704', 'Dong', 0, true),
    ('VUV', '548', 'Vatu', 0, true),
    ('WST', '882', 'Tala', 2, true),
    ('XAF', '950', 'CFA Franc BEAC', 0, true),
    ('XAG', '961', 'Silver', 2, false),
    ('XAU', '959', 'Gold', 2, false),
    ('XBA', '955', 'Bond Markets Unit European Composite Unit (EURCO)', 2, false),
    ('XBB', '956', 'Bond Markets Unit European Monetary Unit (E.M.U.-6)', 2, false),
    ('XBC', '957', 'Bond Markets Unit European Unit of Account 9 (E.U.A.-9)', 2, false),
    ('XBD', '958', 'Bond Markets Unit European Unit of Account 17 (E.U.A.-17)', 2, false),
    ('XCD', '951', 'East Caribbean Dollar', 2, true),
    ('XDR', '960', 'SDR (Special Drawing Right)', 2, false),
    ('XOF', '952', 'CFA Franc BCEAO', 0, true),
    ('XPD', '964', 'Palladium', 2, false),
    ('XPF', '953', 'CFP Franc', 0, true),
    ('XPT', '962', 'Platinum', 2, false),
    ('XSU', '994', 'Sucre', 2, false),
    ('XTS', '963', 'Codes specifically reserved for testing purposes', 2, false),
    ('XUA', '965', 'ADB Unit of Account', 2, false),
    ('XXX', '999', 'The codes assigned for transactions where no currency is involved', 2, false),
    ('YER', '886', 'Yemeni Rial', 0, true),
    ('ZAR', '710', 'Rand', 2, true),
    ('ZMW', '967', 'Zambian Kwacha', 2, true),
    ('ZWL', '932', 'Zimbabwe Dollar', 2, true);

INSERT INTO coditect.countries (alpha_2, alpha_3, numeric_code, name) VALUES
    ('AD', 'AND', '020', 'Andorra'),
    ('AE', 'ARE', '784', 'United Arab Emirates'),
    ('AF', 'AFG', '004', 'Afghanistan'),
    ('AG', 'ATG', '028', 'Antigua and Barbuda'),
    ('AI', 'AIA', '660', 'Anguilla'),
    ('AL', 'ALB', '008', 'Albania'),
    ('AM', 'ARM', '051', 'Armenia'),
    ('AO', 'AGO', '024', 'Angola'),
    ('AQ', 'ATA', '010', 'Antarctica'),
    ('AR', 'ARG', '032', 'Argentina'),
    ('AS', 'ASM', '016', 'American Samoa'),
    ('AT', 'AUT', '040', 'Austria'),
    ('AU', 'AUS', '036', 'Australia'),
    ('AW', 'ABW', '533', 'Aruba'),
    ('AX', 'ALA', '248', 'Åland Islands'),
    ('AZ', 'AZE', '031', 'Azerbaijan'),
    ('BA', 'BIH', '070', 'Bosnia and Herzegovina'),
    ('BB', 'BRB', '052', 'Barbados'),
    ('BD', 'BGD', '050', 'Bangladesh'),
    ('BE', 'BEL', '056', 'Belgium'),
    ('BF', 'BFA', '854', 'Burkina Faso'),
    ('BG', 'BGR', '100', 'Bulgaria'),
    ('BH', 'BHR', '048', 'Bahrain'),
    ('BI', 'BDI', '108', 'Burundi'),
    ('BJ', 'BEN', '204', 'Benin'),
    ('BL', 'BLM', '652', 'Saint Barthélemy'),
    ('BM', 'BMU', '060', 'Bermuda'),
    ('BN', 'BRN', '096', 'Brunei Darussalam'),
    ('BO', 'BOL', '068', 'Bolivia, Plurinational State of'),
    ('BQ', 'BES', '535', 'Bonaire, Sint Eustatius and Saba'),
    ('BR', 'BRA', '076', 'Brazil'),
    ('BS', 'BHS', '044', 'Bahamas'),
    ('BT', 'BTN', '064', 'Bhutan'),
    ('BV', 'BVT', '074', 'Bouvet Island'),
    ('BW', 'BWA', '072', 'Botswana'),
    ('BY', 'BLR', '112', 'Belarus'),
    ('BZ', 'BLZ', '084', 'Belize'),
    ('CA', 'CAN', '124', 'Canada'),
    ('CC', 'CCK', '166', 'Cocos (Keeling) Islands'),
    ('CD', 'COD', '180', 'Congo, The Democratic Republic of the'),
    ('CF', 'CAF', '140', 'Central African Republic'),
    ('CG', 'COG', '178', 'Congo'),
    ('CH', 'CHE', '756', 'Switzerland'),
    ('CI', 'CIV', '384', 'Côte d''Ivoire'),
    ('CK', 'COK', '184', 'Cook Islands'),
    ('CL', 'CHL', '152', 'Chile'),
    ('CM', 'CMR', '120', 'Cameroon'),
    ('CN', 'CHN', '156', 'China'),
    ('CO', 'COL', '170', 'Colombia'),
    ('CR', 'CRI', '188', 'Costa Rica'),
    ('CU', 'CUB', '192', 'Cuba'),
    ('CV', 'CPV', '132', 'Cabo Verde'),
    ('CW', 'CUW', '531', 'Curaçao'),
    ('CX', 'CXR', '162', 'Christmas Island'),
    ('CY', 'CYP', '196', 'Cyprus'),
    ('CZ', 'CZE', '203', 'Czechia'),
    ('DE', 'DEU', '276', 'Germany'),
    ('DJ', 'DJI', '262', 'Djibouti'),
    ('DK', 'DNK', '208', 'Denmark'),
    ('DM', 'DMA', '212', 'Dominica'),
    ('DO', 'DOM', '214', 'Dominican Republic'),
    ('DZ', 'DZA', '012', 'Algeria'),
    ('EC', 'ECU', '218', 'Ecuador'),
    ('EE', 'EST', '233', 'Estonia'),
    ('EG', 'EGY', '818', 'Egypt'),
    ('EH', 'ESH', '732', 'Western Sahara'),
    ('ER', 'ERI', '232', 'Eritrea'),
    ('ES', 'ESP', '724', 'Spain'),
    ('ET', 'ETH', '231', 'Ethiopia'),
    ('FI', 'FIN', '246', 'Finland'),
    ('FJ', 'FJI', '242', 'Fiji'),
    ('FK', 'FLK', '238', 'Falkland Islands (Malvinas)'),
    ('FM', 'FSM', '583', 'Micronesia, Federated States of'),
    ('FO', 'FRO', '234', 'Faroe Islands'),
    ('FR', 'FRA', '250', 'France'),
    ('GA', 'GAB', '266', 'Gabon'),
    ('GB', 'GBR', '826', 'United Kingdom'),
    ('GD', 'GRD', '308', 'Grenada'),
    ('GE', 'GEO', '268', 'Georgia'),
    ('GF', 'GUF', '254', 'French Guiana'),
    ('GG', 'GGY', '831', 'Guernsey'),
    ('GH', 'GHA', '288', 'Ghana'),
    ('GI', 'GIB', '292', 'Gibraltar'),
    ('GL', 'GRL', '304', 'Greenland'),
    ('GM', 'GMB', '270', 'Gambia'),
    ('GN', 'GIN', '324', 'Guinea'),
    ('GP', 'GLP', '312', 'Guadeloupe'),
    ('GQ', 'GNQ', '226', 'Equatorial Guinea'),
    ('GR', 'GRC', '300', 'Greece'),
    ('GS', 'SGS', '239', 'South Georgia and the South Sandwich Islands'),
    ('GT', 'GTM', '320', 'Guatemala'),
    ('GU', 'GUM', '316', 'Guam'),
    ('GW', 'GNB', '624', 'Guinea-Bissau'),
    ('GY', 'GUY', '328', 'Guyana'),
    ('HK', 'HKG', '344', 'Hong Kong'),
    ('HM', 'HMD', '334', 'Heard Island and McDonald Islands'),
    ('HN', 'HND', '340', 'Honduras'),
    ('HR', 'HRV', '191', 'Croatia'),
    ('HT', 'HTI', '332', 'Haiti'),
    ('HU', 'HUN', '348', 'Hungary'),
    ('ID', 'IDN', '360', 'Indonesia'),
    ('IE', 'IRL', '372', 'Ireland'),
    ('IL', 'ISR', '376', 'Israel'),
    ('IM', 'IMN', '833', 'Isle of Man'),
    ('IN', 'IND', '356', 'India'),
    ('IO', 'IOT', '086', 'British Indian Ocean Territory'),
    ('IQ', 'IRQ', '368', 'Iraq'),
    ('IR', 'IRN', '364', 'Iran, Islamic Republic of'),
    ('IS', 'ISL', '352', 'Iceland'),
    ('IT', 'ITA', '380', 'Italy'),
    ('JE', 'JEY', '832', 'Jersey'),
    ('JM', 'JAM', '388', 'Jamaica'),
    ('JO', 'JOR', '400', 'Jordan'),
    ('JP', 'JPN', '392', 'Japan'),
    ('KE', 'KEN', '404', 'Kenya'),
    ('KG', 'KGZ', '417', 'Kyrgyzstan'),
    ('KH', 'KHM', '116', 'Cambodia'),
    ('KI', 'KIR', '296', 'Kiribati'),
    ('KM', 'COM', '174', 'Comoros'),
    ('KN', 'KNA', '659', 'Saint Kitts and Nevis'),
    ('KP', 'PRK', '408', 'Korea, Democratic People''s Republic of'),
    ('KR', 'KOR', '410', 'Korea, Republic of'),
    ('KW', 'KWT', '414', 'Kuwait'),
    ('KY', 'CYM', '136', 'Cayman Islands'),
    ('KZ', 'KAZ', '398', 'Kazakhstan'),
    ('LA', 'LAO', '418', 'Lao People''s Democratic Republic'),
    ('LB', 'LBN', '422', 'Lebanon'),
    ('LC', 'LCA', '662', 'Saint Lucia'),
    ('LI', 'LIE', '438', 'Liechtenstein'),
    ('LK', 'LKA', '144', 'Sri Lanka'),
    ('LR', 'LBR', '430', 'Liberia'),
    ('LS', 'LSO', '426', 'Lesotho'),
    ('LT', 'LTU', '440', 'Lithuania'),
    ('LU', 'LUX', '442', 'Luxembourg'),
    ('LV', 'LVA', '428', 'Latvia'),
    ('LY', 'LBY', '434', 'Libya'),
    ('MA', 'MAR', '504', 'Morocco'),
    ('MC', 'MCO', '492', 'Monaco'),
    ('MD', 'MDA', '498', 'Moldova, Republic of'),
    ('ME', 'MNE', '499', 'Montenegro'),
    ('MF', 'MAF', '663', 'Saint Martin (French part)'),
    ('MG', 'MDG', '450', 'Madagascar'),
    ('MH', 'MHL', '584', 'Marshall Islands'),
    ('MK', 'MKD', '807', 'North Macedonia'),
    ('ML', 'MLI', '466', 'Mali'),
    ('MM', 'MMR', '104', 'Myanmar'),
    ('MN', 'MNG', '496', 'Mongolia'),
    ('MO', 'MAC', '446', 'Macao'),
    ('MP', 'MNP', '580', 'Northern Mariana Islands'),
    ('MQ', 'MTQ', '474', 'Martinique'),
    ('MR', 'MRT', '478', 'Mauritania'),
    ('MS', 'MSR', '500', 'Montserrat'),
    ('MT', 'MLT', '470', 'Malta'),
    ('MU', 'MUS', '480', 'Mauritius'),
    ('MV', 'MDV', '462', 'Maldives'),
    ('MW', 'MWI', '454', 'Malawi'),
    ('MX', 'MEX', '484', 'Mexico'),
    ('MY', 'MYS', '458', 'Malaysia'),
    ('MZ', 'MOZ', '508', 'Mozambique'),
    ('NA', 'NAM', '516', 'Namibia'),
    ('NC', 'NCL', '540', 'New Caledonia'),
    ('NE', 'NER', '562', 'Niger'),
    ('NF', 'NFK', '574', 'Norfolk Island'),
    ('NG', 'NGA', '566', 'Nigeria'),
    ('NI', 'NIC', '558', 'Nicaragua'),
    ('NL', 'NLD', '528', 'Netherlands'),
    ('NO', 'NOR', '578', 'Norway'),
    ('NP', 'NPL', '524', 'Nepal'),
    ('NR', 'NRU', '520', 'Nauru'),
    ('NU', 'NIU', '570', 'Niue'),
    ('NZ', 'NZL', '554', 'New Zealand'),
    ('OM', 'OMN', '512', 'Oman'),
    ('PA', 'PAN', '591', 'Panama'),
    ('PE', 'PER', '604', 'Peru'),
    ('PF', 'PYF', '258', 'French Polynesia'),
    ('PG', 'PNG', '598', 'Papua New Guinea'),
    ('PH', 'PHL', '608', 'Philippines'),
    ('PK', 'PAK', '586', 'Pakistan'),
    ('PL', 'POL', '616', 'Poland'),
    ('PM', 'SPM', '666', 'Saint Pierre and Miquelon'),
    ('PN', 'PCN', '612', 'Pitcairn'),
    ('PR', 'PRI', '630', 'Puerto Rico'),
    ('PS', 'PSE', '275', 'Palestine, State of'),
    ('PT', 'PRT', '620', 'Portugal'),
    ('PW', 'PLW', '585', 'Palau'),
    ('PY', 'PRY', '600', 'Paraguay'),
    ('QA', 'QAT', '634', 'Qatar'),
    ('RE', 'REU', '638', 'Réunion'),
    ('RO', 'ROU', '642', 'Romania'),
    ('RS', 'SRB', '688', 'Serbia'),
    ('RU', 'RUS', '643', 'Russian Federation'),
    ('RW', 'RWA', '646', 'Rwanda'),
    ('SA', 'SAU', '682', 'Saudi Arabia'),
    ('SB', 'SLB', '090', 'Solomon Islands'),
    ('SC', 'SYC', '690', 'Seychelles'),
    ('SD', 'SDN', '729', 'Sudan'),
    ('SE', 'SWE', '752', 'Sweden'),
    ('SG', 'SGP', '702', 'Singapore'),
    ('SH', 'SHN', '654', 'Saint Helena, Ascension and Tristan da Cunha'),
    ('SI', 'SVN', '705', 'Slovenia'),
    ('SJ', 'SJM', '744', 'Svalbard and Jan Mayen'),
    ('SK', 'SVK', '703', 'Slovakia'),
    ('SL', 'SLE', '694', 'Sierra Leone'),
    ('SM', 'SMR', '674', 'San Marino'),
    ('SN', 'SEN', '686', 'Senegal'),
    ('SO', 'SOM', '706', 'Somalia'),
    ('SR', 'SUR', '740', 'Suriname'),
    ('SS', 'SSD', '728', 'South Sudan'),
    ('ST', 'STP', '678', 'Sao Tome and Principe'),
    ('SV', 'SLV', '222', 'El Salvador'),
    ('SX', 'SXM', '534', 'Sint Maarten (Dutch part)'),
    ('SY', 'SYR', '760', 'Syrian Arab Republic'),
    ('SZ', 'SWZ', '748', 'Eswatini'),
    ('TC', 'TCA', '796', 'Turks and Caicos Islands'),
    ('TD', 'TCD', '148', 'Chad'),
    ('TF', 'ATF', '260', 'French Southern Territories'),
    ('TG', 'TGO', '768', 'Togo'),
    ('TH', 'THA', '764', 'Thailand'),
    ('TJ', 'TJK', '762', 'Tajikistan'),
    ('TK', 'TKL', '772', 'Tokelau'),
    ('TL', 'TLS', '626', 'Timor-Leste'),
    ('TM', 'TKM', '795', 'Turkmenistan'),
    ('TN', 'TUN', '788', 'Tunisia'),
    ('TO', 'TON', '776', 'Tonga'),
    ('TR', 'TUR', '792', 'Türkiye'),
    ('TT', 'TTO', '780', 'Trinidad and Tobago'),
    ('TV', 'TUV', '798', 'Tuvalu'),
    ('TW', 'TWN', '158', 'Taiwan, Province of China'),
    ('TZ', 'TZA', '834', 'Tanzania, United Republic of'),
    ('UA', 'UKR', '804', 'Ukraine'),
    ('UG', 'UGA', '800', 'Uganda'),
    ('UM', 'UMI', '581', 'United States Minor Outlying Islands'),
    ('US', 'USA', '840', 'United States'),
    ('UY', 'URY', '858', 'Uruguay'),
    ('UZ', 'UZB', '860', 'Uzbekistan'),
    ('VA', 'VAT', '336', 'Holy See (Vatican City State)'),
    ('VC', 'VCT', '670', 'Saint Vincent and the Grenadines'),
    ('VE', 'VEN', '862', 'Venezuela, Bolivarian Republic of'),
    ('VG', 'VGB', '092', 'Virgin Islands, British'),
    ('VI', 'VIR', '850', 'Virgin Islands, U.S.'),
    ('VN', 'VNM', '704', 'Viet Nam'),
    ('VU', 'VUT', '548', 'Vanuatu'),
    ('WF', 'WLF', '876', 'Wallis and Futuna'),
    ('WS', 'WSM', '882', 'Samoa'),
    ('YE', 'YEM', '887', 'Yemen'),
    ('YT', 'MYT', '175', 'Mayotte'),
    ('ZA', 'ZAF', '710', 'South Africa'),
    ('ZM', 'ZMB', '894', 'Zambia'),
    ('ZW', 'ZWE', '716', 'Zimbabwe');

INSERT INTO coditect.subdivisions (code, country_code, name, type) VALUES
    ('AD-02', 'AD', 'Canillo', 'Parish'),
    ('AD-03', 'AD', 'Encamp', 'Parish'),
    ('AD-04', 'AD', 'La Massana', 'Parish'),
    ('AD-05', 'AD', 'Ordino', 'Parish'),
    ('AD-06', 'AD', 'Sant Julià de Lòria', 'Parish'),
    ('AD-07', 'AD', 'Andorra la Vella', 'Parish'),
    ('AD-08', 'AD', 'Escaldes-Engordany', 'Parish'),
    ('AE-AJ', 'AE', '‘Ajmān', 'Emirate'),
    ('AE-AZ', 'AE', 'Abū Z̧aby', 'Emirate'),
    ('AE-DU', 'AE', 'Dubayy', 'Emirate'),
    ('AE-FU', 'AE', 'Al Fujayrah', 'Emirate'),
    ('AE-RK', 'AE', 'Ra’s al Khaymah', 'Emirate'),
    ('AE-SH', 'AE', 'Ash Shāriqah', 'Emirate'),
    ('AE-UQ', 'AE', 'Umm al Qaywayn', 'Emirate'),
    ('AF-BAL', 'AF', 'Balkh', 'Province'),
    ('AF-BAM', 'AF', 'Bāmyān', 'Province'),
    ('AF-BDG', 'AF', 'Bādghīs', 'Province'),
    ('AF-BDS', 'AF', 'Badakhshān', 'Province'),
    ('AF-BGL', 'AF', 'Baghlān', 'Province'),
    ('AF-DAY', 'AF', 'Dāykundī', 'Province'),
    ('AF-FRA', 'AF', 'Farāh', 'Province'),
    ('AF-FYB', 'AF', 'Fāryāb', 'Province'),
    ('AF-GHA', 'AF', 'Ghaznī', 'Province'),
    ('AF-GHO', 'AF', 'Ghōr', 'Province'),
    ('AF-HEL', 'AF', 'Helmand', 'Province'),
    ('AF-HER', 'AF', 'Herāt', 'Province'),
    ('AF-JOW', 'AF', 'Jowzjān', 'Province'),
    ('AF-KAB', 'AF', 'Kābul', 'Province'),
    ('AF-KAN', 'AF', 'Kandahār', 'Province'),
    ('AF-KAP', 'AF', 'Kāpīsā', 'Province'),
    ('AF-KDZ', 'AF', 'Kunduz', 'Province'),
    ('AF-KHO', 'AF', 'Khōst', 'Province'),
    ('AF-KNR', 'AF', 'Kunaṟ', 'Province'),
    ('AF-LAG', 'AF', 'Laghmān', 'Province'),
    ('AF-LOG', 'AF', 'Lōgar', 'Province'),
    ('AF-NAN', 'AF', 'Nangarhār', 'Province'),
    ('AF-NIM', 'AF', 'Nīmrōz', 'Province'),
    ('AF-NUR', 'AF', 'Nūristān', 'Province'),
    ('AF-PAN', 'AF', 'Panjshayr', 'Province'),
    ('AF-PAR', 'AF', 'Parwān', 'Province'),
    ('AF-PIA', 'AF', 'Paktiyā', 'Province'),
    ('AF-PKA', 'AF', 'Paktīkā', 'Province'),
    ('AF-SAM', 'AF', 'Samangān', 'Province'),
    ('AF-SAR', 'AF', 'Sar-e Pul', 'Province'),
    ('AF-TAK', 'AF', 'Takhār', 'Province'),
    ('AF-URU', 'AF', 'Uruzgān', 'Province'),
    ('AF-WAR', 'AF', 'Wardak', 'Province'),
    ('AF-ZAB', 'AF', 'Zābul', 'Province'),
    ('AG-03', 'AG', 'Saint George', 'Parish'),
    ('AG-04', 'AG', 'Saint John', 'Parish'),
    ('AG-05', 'AG', 'Saint Mary', 'Parish'),
    ('AG-06', 'AG', 'Saint Paul', 'Parish'),
    ('AG-07', 'AG', 'Saint Peter', 'Parish'),
    ('AG-08', 'AG', 'Saint Philip', 'Parish'),
    ('AG-10', 'AG', 'Barbuda', 'Dependency'),
    ('AG-11', 'AG', 'Redonda', 'Dependency'),
    ('AL-01', 'AL', 'Berat', 'County'),
    ('AL-02', 'AL', 'Durrës', 'County'),
    ('AL-03', 'AL', 'Elbasan', 'County'),
    ('AL-04', 'AL', 'Fier', 'County'),
    ('AL-05', 'AL', 'Gjirokastër', 'County'),
    ('AL-06', 'AL', 'Korçë', 'County'),
    ('AL-07', 'AL', 'Kukës', 'County'),
    ('AL-08', 'AL', 'Lezhë', 'County'),
    ('AL-09', 'AL', 'Dibër', 'County'),
    ('AL-10', 'AL', 'Shkodër', 'County'),
    ('AL-11', 'AL', 'Tiranë', 'County'),
    ('AL-12', 'AL', 'Vlorë', 'County'),
    ('AM-AG', 'AM', 'Aragac̣otn', 'Region'),
    ('AM-AR', 'AM', 'Ararat', 'Region'),
    ('AM-AV', 'AM', 'Armavir', 'Region'),
    ('AM-ER', 'AM', 'Erevan', 'City'),
    ('AM-GR', 'AM', 'Geġark''unik''', 'Region'),
    ('AM-KT', 'AM', 'Kotayk''', 'Region'),
    ('AM-LO', 'AM', 'Loṙi', 'Region'),
    ('AM-SH', 'AM', 'Širak', 'Region'),
    ('AM-SU', 'AM', 'Syunik''', 'Region'),
    ('AM-TV', 'AM', 'Tavuš', 'Region'),
    ('AM-VD', 'AM', 'Vayoć Jor', 'Region'),
    ('AO-BGO', 'AO', 'Bengo', 'Province'),
    ('AO-BGU', 'AO', 'Benguela', 'Province'),
    ('AO-BIE', 'AO', 'Bié', 'Province'),
    ('AO-CAB', 'AO', 'Cabinda', 'Province'),
    ('AO-CCU', 'AO', 'Cuando Cubango', 'Province'),
    ('AO-CNN', 'AO', 'Cunene', 'Province'),
    ('AO-CNO', 'AO', 'Cuanza-Norte', 'Province'),
    ('AO-CUS', 'AO', 'Cuanza-Sul', 'Province'),
    ('AO-HUA', 'AO', 'Huambo', 'Province'),
    ('AO-HUI', 'AO', 'Huíla', 'Province'),
    ('AO-LNO', 'AO', 'Lunda-Norte', 'Province'),
    ('AO-LSU', 'AO', 'Lunda-Sul', 'Province'),
    ('AO-LUA', 'AO', 'Luanda', 'Province'),
    ('AO-MAL', 'AO', 'Malange', 'Province'),
    ('AO-MOX', 'AO', 'Moxico', 'Province'),
    ('AO-NAM', 'AO', 'Namibe', 'Province'),
    ('AO-UIG', 'AO', 'Uíge', 'Province'),
    ('AO-ZAI', 'AO', 'Zaire', 'Province'),
    ('AR-A', 'AR', 'Salta', 'Province'),
    ('AR-B', 'AR', 'Buenos Aires', 'Province'),
    ('AR-C', 'AR', 'Ciudad Autónoma de Buenos Aires', 'City'),
    ('AR-D', 'AR', 'San Luis', 'Province'),
    ('AR-E', 'AR', 'Entre Ríos', 'Province'),
    ('AR-F', 'AR', 'La Rioja', 'Province'),
    ('AR-G', 'AR', 'Santiago del Estero', 'Province'),
    ('AR-H', 'AR', 'Chaco', 'Province'),
    ('AR-J', 'AR', 'San Juan', 'Province'),
    ('AR-K', 'AR', 'Catamarca', 'Province'),
    ('AR-L', 'AR', 'La Pampa', 'Province'),
    ('AR-M', 'AR', 'Mendoza', 'Province'),
    ('AR-N', 'AR', 'Misiones', 'Province'),
    ('AR-P', 'AR', 'Formosa', 'Province'),
    ('AR-Q', 'AR', 'Neuquén', 'Province'),
    ('AR-R', 'AR', 'Río Negro', 'Province'),
    ('AR-S', 'AR', 'Santa Fe', 'Province'),
    ('AR-T', 'AR', 'Tucumán', 'Province'),
    ('AR-U', 'AR', 'Chubut', 'Province'),
    ('AR-V', 'AR', 'Tierra del Fuego', 'Province'),
    ('AR-W', 'AR', 'Corrientes', 'Province'),
    ('AR-X', 'AR', 'Córdoba', 'Province'),
    ('AR-Y', 'AR', 'Jujuy', 'Province'),
    ('AR-Z', 'AR', 'Santa Cruz', 'Province'),
    ('AT-1', 'AT', 'Burgenland', 'State'),
    ('AT-2', 'AT', 'Kärnten', 'State'),
    ('AT-3', 'AT', 'Niederösterreich', 'State'),
    ('AT-4', 'AT', 'Oberösterreich', 'State'),
    ('AT-5', 'AT', 'Salzburg', 'State'),
    ('AT-6', 'AT', 'Steiermark', 'State'),
    ('AT-7', 'AT', 'Tirol', 'State'),
    ('AT-8', 'AT', 'Vorarlberg', 'State'),
    ('AT-9', 'AT', 'Wien', 'State'),
    ('AU-ACT', 'AU', 'Australian Capital Territory', 'Territory'),
    ('AU-NSW', 'AU', 'New South Wales', 'State'),
    ('AU-NT', 'AU', 'Northern Territory', 'Territory'),
    ('AU-QLD', 'AU', 'Queensland', 'State'),
    ('AU-SA', 'AU', 'South Australia', 'State'),
    ('AU-TAS', 'AU', 'Tasmania', 'State'),
    ('AU-VIC', 'AU', 'Victoria', 'State'),
    ('AU-WA', 'AU', 'Western Australia', 'State'),
    ('AZ-ABS', 'AZ', 'Abşeron', 'Rayon'),
    ('AZ-AGA', 'AZ', 'Ağstafa', 'Rayon'),
    ('AZ-AGC', 'AZ', 'Ağcabədi', 'Rayon'),
    ('AZ-AGM', 'AZ', 'Ağdam', 'Rayon'),
    ('AZ-AGS', 'AZ', 'Ağdaş', 'Rayon'),
    ('AZ-AGU', 'AZ', 'Ağsu', 'Rayon'),
    ('AZ-AST', 'AZ', 'Astara', 'Rayon'),
    ('AZ-BA', 'AZ', 'Bakı', 'Municipality'),
    ('AZ-BAB', 'AZ', 'Babək', 'Rayon'),
    ('AZ-BAL', 'AZ', 'Balakən', 'Rayon'),
    ('AZ-BAR', 'AZ', 'Bərdə', 'Rayon'),
    ('AZ-BEY', 'AZ', 'Beyləqan', 'Rayon'),
    ('AZ-BIL', 'AZ', 'Biləsuvar', 'Rayon'),
    ('AZ-CAB', 'AZ', 'Cəbrayıl', 'Rayon'),
    ('AZ-CAL', 'AZ', 'Cəlilabad', 'Rayon'),
    ('AZ-CUL', 'AZ', 'Culfa', 'Rayon'),
    ('AZ-DAS', 'AZ', 'Daşkəsən', 'Rayon'),
    ('AZ-FUZ', 'AZ', 'Füzuli', 'Rayon'),
    ('AZ-GA', 'AZ', 'Gəncə', 'Municipality'),
    ('AZ-GAD', 'AZ', 'Gədəbəy', 'Rayon'),
    ('AZ-GOR', 'AZ', 'Goranboy', 'Rayon'),
    ('AZ-GOY', 'AZ', 'Göyçay', 'Rayon'),
    ('AZ-GYG', 'AZ', 'Göygöl', 'Rayon'),
    ('AZ-HAC', 'AZ', 'Hacıqabul', 'Rayon'),
    ('AZ-IMI', 'AZ', 'İmişli', 'Rayon'),
    ('AZ-ISM', 'AZ', 'İsmayıllı', 'Rayon'),
    ('AZ-KAL', 'AZ', 'Kəlbəcər', 'Rayon'),
    ('AZ-KAN', 'AZ', 'Kǝngǝrli', 'Rayon'),
    ('AZ-KUR', 'AZ', 'Kürdəmir', 'Rayon'),
    ('AZ-LA', 'AZ', 'Lənkəran', 'Municipality'),
    ('AZ-LAC', 'AZ', 'Laçın', 'Rayon'),
    ('AZ-LAN', 'AZ', 'Lənkəran', 'Rayon'),
    ('AZ-LER', 'AZ', 'Lerik', 'Rayon'),
    ('AZ-MAS', 'AZ', 'Masallı', 'Rayon'),
    ('AZ-MI', 'AZ', 'Mingəçevir', 'Municipality'),
    ('AZ-NA', 'AZ', 'Naftalan', 'Municipality'),
    ('AZ-NEF', 'AZ', 'Neftçala', 'Rayon'),
    ('AZ-NV', 'AZ', 'Naxçıvan', 'Municipality'),
    ('AZ-NX', 'AZ', 'Naxçıvan', 'Autonomous republic'),
    ('AZ-OGU', 'AZ', 'Oğuz', 'Rayon'),
    ('AZ-ORD', 'AZ', 'Ordubad', 'Rayon'),
    ('AZ-QAB', 'AZ', 'Qəbələ', 'Rayon'),
    ('AZ-QAX', 'AZ', 'Qax', 'Rayon'),
    ('AZ-QAZ', 'AZ', 'Qazax', 'Rayon'),
    ('AZ-QBA', 'AZ', 'Quba', 'Rayon'),
    ('AZ-QBI', 'AZ', 'Qubadlı', 'Rayon'),
    ('AZ-QOB', 'AZ', 'Qobustan', 'Rayon'),
    ('AZ-QUS', 'AZ', 'Qusar', 'Rayon'),
    ('AZ-SA', 'AZ', 'Şəki', 'Municipality'),
    ('AZ-SAB', 'AZ', 'Sabirabad', 'Rayon'),
    ('AZ-SAD', 'AZ', 'Sədərək', 'Rayon'),
    ('AZ-SAH', 'AZ', 'Şahbuz', 'Rayon'),
    ('AZ-SAK', 'AZ', 'Şəki', 'Rayon'),
    ('AZ-SAL', 'AZ', 'Salyan', 'Rayon'),
    ('AZ-SAR', 'AZ', 'Şərur', 'Rayon'),
    ('AZ-SAT', 'AZ', 'Saatlı', 'Rayon'),
    ('AZ-SBN', 'AZ', 'Şabran', 'Rayon'),
    ('AZ-SIY', 'AZ', 'Siyəzən', 'Rayon'),
    ('AZ-SKR', 'AZ', 'Şəmkir', 'Rayon'),
    ('AZ-SM', 'AZ', 'Sumqayıt', 'Municipality'),
    ('AZ-SMI', 'AZ', 'Şamaxı', 'Rayon'),
    ('AZ-SMX', 'AZ', 'Samux', 'Rayon'),
    ('AZ-SR', 'AZ', 'Şirvan', 'Municipality'),
    ('AZ-SUS', 'AZ', 'Şuşa', 'Rayon'),
    ('AZ-TAR', 'AZ', 'Tərtər', 'Rayon'),
    ('AZ-TOV', 'AZ', 'Tovuz', 'Rayon'),
    ('AZ-UCA', 'AZ', 'Ucar', 'Rayon'),
    ('AZ-XA', 'AZ', 'Xankəndi', 'Municipality'),
    ('AZ-XAC', 'AZ', 'Xaçmaz', 'Rayon'),
    ('AZ-XCI', 'AZ', 'Xocalı', 'Rayon'),
    ('AZ-XIZ', 'AZ', 'Xızı', 'Rayon'),
    ('AZ-XVD', 'AZ', 'Xocavənd', 'Rayon'),
    ('AZ-YAR', 'AZ', 'Yardımlı', 'Rayon'),
    ('AZ-YE', 'AZ', 'Yevlax', 'Municipality'),
    ('AZ-YEV', 'AZ', 'Yevlax', 'Rayon'),
    ('AZ-ZAN', 'AZ', 'Zəngilan', 'Rayon'),
    ('AZ-ZAQ', 'AZ', 'Zaqatala', 'Rayon'),
    ('AZ-ZAR', 'AZ', 'Zərdab', 'Rayon'),
    ('BA-BIH', 'BA', 'Federacija Bosne i Hercegovine', 'Entity'),
    ('BA-BRC', 'BA', 'Brčko distrikt', 'District with special status'),
    ('BA-SRP', 'BA', 'Republika Srpska', 'Entity'),
    ('BB-01', 'BB', 'Christ Church', 'Parish'),
    ('BB-02', 'BB', 'Saint Andrew', 'Parish'),
    ('BB-03', 'BB', 'Saint George', 'Parish'),
    ('BB-04', 'BB', 'Saint James', 'Parish'),
    ('BB-05', 'BB', 'Saint John', 'Parish'),
    ('BB-06', 'BB', 'Saint Joseph', 'Parish'),
    ('BB-07', 'BB', 'Saint Lucy', 'Parish'),
    ('BB-08', 'BB', 'Saint Michael', 'Parish'),
    ('BB-09', 'BB', 'Saint Peter', 'Parish'),
    ('BB-10', 'BB', 'Saint Philip', 'Parish'),
    ('BB-11', 'BB', 'Saint Thomas', 'Parish'),
    ('BD-01', 'BD', 'Bandarban', 'District'),
    ('BD-02', 'BD', 'Barguna', 'District'),
    ('BD-03', 'BD', 'Bogura', 'District'),
    ('BD-04', 'BD', 'Brahmanbaria', 'District'),
    ('BD-05', 'BD', 'Bagerhat', 'District'),
    ('BD-06', 'BD', 'Barishal', 'District'),
    ('BD-07', 'BD', 'Bhola', 'District'),
    ('BD-08', 'BD', 'Cumilla', 'District'),
    ('BD-09', 'BD', 'Chandpur', 'District'),
    ('BD-10', 'BD', 'Chattogram', 'District'),
    ('BD-11', 'BD', 'Cox''s Bazar', 'District'),
    ('BD-12', 'BD', 'Chuadanga', 'District'),
    ('BD-13', 'BD', 'Dhaka', 'District'),
    ('BD-14', 'BD', 'Dinajpur', 'District'),
    ('BD-15', 'BD', 'Faridpur', 'District'),
    ('BD-16', 'BD', 'Feni', 'District'),
    ('BD-17', 'BD', 'Gopalganj', 'District'),
    ('BD-18', 'BD', 'Gazipur', 'District'),
    ('BD-19', 'BD', 'Gaibandha', 'District'),
    ('BD-20', 'BD', 'Habiganj', 'District'),
    ('BD-21', 'BD', 'Jamalpur', 'District'),
    ('BD-22', 'BD', 'Jashore', 'District'),
    ('BD-23', 'BD', 'Jhenaidah', 'District'),
    ('BD-24', 'BD', 'Joypurhat', 'District'),
    ('BD-25', 'BD', 'Jhalakathi', 'District'),
    ('BD-26', 'BD', 'Kishoreganj', 'District'),
    ('BD-27', 'BD', 'Khulna', 'District'),
    ('BD-28', 'BD', 'Kurigram', 'District'),
    ('BD-29', 'BD', 'Khagrachhari', 'District'),
    ('BD-30', 'BD', 'Kushtia', 'District'),
    ('BD-31', 'BD', 'Lakshmipur', 'District'),
    ('BD-32', 'BD', 'Lalmonirhat', 'District'),
    ('BD-33', 'BD', 'Manikganj', 'District'),
    ('BD-34', 'BD', 'Mymensingh', 'District'),
    ('BD-35', 'BD', 'Munshiganj', 'District'),
    ('BD-36', 'BD', 'Madaripur', 'District'),
    ('BD-37', 'BD', 'Magura', 'District'),
    ('BD-38', 'BD', 'Moulvibazar', 'District'),
    ('BD-39', 'BD', 'Meherpur', 'District'),
    ('BD-40', 'BD', 'Narayanganj', 'District'),
    ('BD-41', 'BD', 'Netrakona', 'District'),
    ('BD-42', 'BD', 'Narsingdi', 'District'),
    ('BD-43', 'BD', 'Narail', 'District'),
    ('BD-44', 'BD', 'Natore', 'District'),
    ('BD-45', 'BD', 'Chapai Nawabganj', 'District'),
    ('BD-46', 'BD', 'Nilphamari', 'District'),
    ('BD-47', 'BD', 'Noakhali', 'District'),
    ('BD-48', 'BD', 'Naogaon', 'District'),
    ('BD-49', 'BD', 'Pabna', 'District'),
    ('BD-50', 'BD', 'Pirojpur', 'District'),
    ('BD-51', 'BD', 'Patuakhali', 'District'),
    ('BD-52', 'BD', 'Panchagarh', 'District'),
    ('BD-53', 'BD', 'Rajbari', 'District'),
    ('BD-54', 'BD', 'Rajshahi', 'District'),
    ('BD-55', 'BD', 'Rangpur', 'District'),
    ('BD-56', 'BD', 'Rangamati', 'District'),
    ('BD-57', 'BD', 'Sherpur', 'District'),
    ('BD-58', 'BD', 'Satkhira', 'District'),
    ('BD-59', 'BD', 'Sirajganj', 'District'),
    ('BD-60', 'BD', 'Sylhet', 'District'),
    ('BD-61', 'BD', 'Sunamganj', 'District'),
    ('BD-62', 'BD', 'Shariatpur', 'District'),
    ('BD-63', 'BD', 'Tangail', 'District'),
    ('BD-64', 'BD', 'Thakurgaon', 'District'),
    ('BD-A', 'BD', 'Barishal', 'Division'),
    ('BD-B', 'BD', 'Chattogram', 'Division'),
    ('BD-C', 'BD', 'Dhaka', 'Division'),
    ('BD-D', 'BD', 'Khulna', 'Division'),
    ('BD-E', 'BD', 'Rajshahi', 'Division'),
    ('BD-F', 'BD', 'Rangpur', 'Division'),
    ('BD-G', 'BD', 'Sylhet', 'Division'),
    ('BD-H', 'BD', 'Mymensingh', 'Division'),
    ('BE-BRU', 'BE', 'Brussels Hoofdstedelijk Gewest', 'Region'),
    ('BE-VAN', 'BE', 'Antwerpen', 'Province'),
    ('BE-VBR', 'BE', 'Vlaams-Brabant', 'Province'),
    ('BE-VLG', 'BE', 'Vlaams Gewest', 'Region'),
    ('BE-VLI', 'BE', 'Limburg', 'Province'),
    ('BE-VOV', 'BE', 'Oost-Vlaanderen', 'Province'),
    ('BE-VWV', 'BE', 'West-Vlaanderen', 'Province'),
    ('BE-WAL', 'BE', 'wallonne, Région', 'Region'),
    ('BE-WBR', 'BE', 'Brabant wallon', 'Province'),
    ('BE-WHT', 'BE', 'Hainaut', 'Province'),
    ('BE-WLG', 'BE', 'Liège', 'Province'),
    ('BE-WLX', 'BE', 'Luxembourg', 'Province'),
    ('BE-WNA', 'BE', 'Namur', 'Province'),
    ('BF-01', 'BF', 'Boucle du Mouhoun', 'Region'),
    ('BF-02', 'BF', 'Cascades', 'Region'),
    ('BF-03', 'BF', 'Centre', 'Region'),
    ('BF-04', 'BF', 'Centre-Est', 'Region'),
    ('BF-05', 'BF', 'Centre-Nord', 'Region'),
    ('BF-06', 'BF', 'Centre-Ouest', 'Region'),
    ('BF-07', 'BF', 'Centre-Sud', 'Region'),
    ('BF-08', 'BF', 'Est', 'Region'),
    ('BF-09', 'BF', 'Hauts-Bassins', 'Region'),
    ('BF-10', 'BF', 'Nord', 'Region'),
    ('BF-11', 'BF', 'Plateau-Central', 'Region'),
    ('BF-12', 'BF', 'Sahel', 'Region'),
    ('BF-13', 'BF', 'Sud-Ouest', 'Region'),
    ('BF-BAL', 'BF', 'Balé', 'Province'),
    ('BF-BAM', 'BF', 'Bam', 'Province'),
    ('BF-BAN', 'BF', 'Banwa', 'Province'),
    ('BF-BAZ', 'BF', 'Bazèga', 'Province'),
    ('BF-BGR', 'BF', 'Bougouriba', 'Province'),
    ('BF-BLG', 'BF', 'Boulgou', 'Province'),
    ('BF-BLK', 'BF', 'Boulkiemdé', 'Province'),
    ('BF-COM', 'BF', 'Comoé', 'Province'),
    ('BF-GAN', 'BF', 'Ganzourgou', 'Province'),
    ('BF-GNA', 'BF', 'Gnagna', 'Province'),
    ('BF-GOU', 'BF', 'Gourma', 'Province'),
    ('BF-HOU', 'BF', 'Houet', 'Province'),
    ('BF-IOB', 'BF', 'Ioba', 'Province'),
    ('BF-KAD', 'BF', 'Kadiogo', 'Province'),
    ('BF-KEN', 'BF', 'Kénédougou', 'Province'),
    ('BF-KMD', 'BF', 'Komondjari', 'Province'),
    ('BF-KMP', 'BF', 'Kompienga', 'Province'),
    ('BF-KOP', 'BF', 'Koulpélogo', 'Province'),
    ('BF-KOS', 'BF', 'Kossi', 'Province'),
    ('BF-KOT', 'BF', 'Kouritenga', 'Province'),
    ('BF-KOW', 'BF', 'Kourwéogo', 'Province'),
    ('BF-LER', 'BF', 'Léraba', 'Province'),
    ('BF-LOR', 'BF', 'Loroum', 'Province'),
    ('BF-MOU', 'BF', 'Mouhoun', 'Province'),
    ('BF-NAM', 'BF', 'Namentenga', 'Province'),
    ('BF-NAO', 'BF', 'Nahouri', 'Province'),
    ('BF-NAY', 'BF', 'Nayala', 'Province'),
    ('BF-NOU', 'BF', 'Noumbiel', 'Province'),
    ('BF-OUB', 'BF', 'Oubritenga', 'Province'),
    ('BF-OUD', 'BF', 'Oudalan', 'Province'),
    ('BF-PAS', 'BF', 'Passoré', 'Province'),
    ('BF-PON', 'BF', 'Poni', 'Province'),
    ('BF-SEN', 'BF', 'Séno', 'Province'),
    ('BF-SIS', 'BF', 'Sissili', 'Province'),
    ('BF-SMT', 'BF', 'Sanmatenga', 'Province'),
    ('BF-SNG', 'BF', 'Sanguié', 'Province'),
    ('BF-SOM', 'BF', 'Soum', 'Province'),
    ('BF-SOR', 'BF', 'Sourou', 'Province'),
    ('BF-TAP', 'BF', 'Tapoa', 'Province'),
    ('BF-TUI', 'BF', 'Tuy', 'Province'),
    ('BF-YAG', 'BF', 'Yagha', 'Province'),
    ('BF-YAT', 'BF', 'Yatenga', 'Province'),
    ('BF-ZIR', 'BF', 'Ziro', 'Province'),
    ('BF-ZON', 'BF', 'Zondoma', 'Province'),
    ('BF-ZOU', 'BF', 'Zoundwéogo', 'Province'),
    ('BG-01', 'BG', 'Blagoevgrad', 'District'),
    ('BG-02', 'BG', 'Burgas', 'District'),
    ('BG-03', 'BG', 'Varna', 'District'),
    ('BG-04', 'BG', 'Veliko Tarnovo', 'District'),
    ('BG-05', 'BG', 'Vidin', 'District'),
    ('BG-06', 'BG', 'Vratsa', 'District'),
    ('BG-07', 'BG', 'Gabrovo', 'District'),
    ('BG-08', 'BG', 'Dobrich', 'District'),
    ('BG-09', 'BG', 'Kardzhali', 'District'),
    ('BG-10', 'BG', 'Kyustendil', 'District'),
    ('BG-11', 'BG', 'Lovech', 'District'),
    ('BG-12', 'BG', 'Montana', 'District'),
    ('BG-13', 'BG', 'Pazardzhik', 'District'),
    ('BG-14', 'BG', 'Pernik', 'District'),
    ('BG-15', 'BG', 'Pleven', 'District'),
    ('BG-16', 'BG', 'Plovdiv', 'District'),
    ('BG-17', 'BG', 'Razgrad', 'District'),
    ('BG-18', 'BG', 'Ruse', 'District'),
    ('BG-19', 'BG', 'Silistra', 'District'),
    ('BG-20', 'BG', 'Sliven', 'District'),
    ('BG-21', 'BG', 'Smolyan', 'District'),
    ('BG-22', 'BG', 'Sofia (stolitsa)', 'District'),
    ('BG-23', 'BG', 'Sofia', 'District'),
    ('BG-24', 'BG', 'Stara Zagora', 'District'),
    ('BG-25', 'BG', 'Targovishte', 'District'),
    ('BG-26', 'BG', 'Haskovo', 'District'),
    ('BG-27', 'BG', 'Shumen', 'District'),
    ('BG-28', 'BG', 'Yambol', 'District'),
    ('BH-13', 'BH', 'Al ‘Āşimah', 'Governorate'),
    ('BH-14', 'BH', 'Al Janūbīyah', 'Governorate'),
    ('BH-15', 'BH', 'Al Muḩarraq', 'Governorate'),
    ('BH-17', 'BH', 'Ash Shamālīyah', 'Governorate'),
    ('BI-BB', 'BI', 'Bubanza', 'Province'),
    ('BI-BL', 'BI', 'Bujumbura Rural', 'Province'),
    ('BI-BM', 'BI', 'Bujumbura Mairie', 'Province'),
    ('BI-BR', 'BI', 'Bururi', 'Province'),
    ('BI-CA', 'BI', 'Cankuzo', 'Province'),
    ('BI-CI', 'BI', 'Cibitoke', 'Province'),
    ('BI-GI', 'BI', 'Gitega', 'Province'),
    ('BI-KI', 'BI', 'Kirundo', 'Province'),
    ('BI-KR', 'BI', 'Karuzi', 'Province'),
    ('BI-KY', 'BI', 'Kayanza', 'Province'),
    ('BI-MA', 'BI', 'Makamba', 'Province'),
    ('BI-MU', 'BI', 'Muramvya', 'Province'),
    ('BI-MW', 'BI', 'Mwaro', 'Province'),
    ('BI-MY', 'BI', 'Muyinga', 'Province'),
    ('BI-NG', 'BI', 'Ngozi', 'Province'),
    ('BI-RM', 'BI', 'Rumonge', 'Province'),
    ('BI-RT', 'BI', 'Rutana', 'Province'),
    ('BI-RY', 'BI', 'Ruyigi', 'Province'),
    ('BJ-AK', 'BJ', 'Atacora', 'Department'),
    ('BJ-AL', 'BJ', 'Alibori', 'Department'),
    ('BJ-AQ', 'BJ', 'Atlantique', 'Department'),
    ('BJ-BO', 'BJ', 'Borgou', 'Department'),
    ('BJ-CO', 'BJ', 'Collines', 'Department'),
    ('BJ-DO', 'BJ', 'Donga', 'Department'),
    ('BJ-KO', 'BJ', 'Couffo', 'Department'),
    ('BJ-LI', 'BJ', 'Littoral', 'Department'),
    ('BJ-MO', 'BJ', 'Mono', 'Department'),
    ('BJ-OU', 'BJ', 'Ouémé', 'Department'),
    ('BJ-PL', 'BJ', 'Plateau', 'Department'),
    ('BJ-ZO', 'BJ', 'Zou', 'Department'),
    ('BN-BE', 'BN', 'Belait', 'District'),
    ('BN-BM', 'BN', 'Brunei-Muara', 'District'),
    ('BN-TE', 'BN', 'Temburong', 'District'),
    ('BN-TU', 'BN', 'Tutong', 'District'),
    ('BO-B', 'BO', 'El Beni', 'Department'),
    ('BO-C', 'BO', 'Cochabamba', 'Department'),
    ('BO-H', 'BO', 'Chuquisaca', 'Department'),
    ('BO-L', 'BO', 'La Paz', 'Department'),
    ('BO-N', 'BO', 'Pando', 'Department'),
    ('BO-O', 'BO', 'Oruro', 'Department'),
    ('BO-P', 'BO', 'Potosí', 'Department'),
    ('BO-S', 'BO', 'Santa Cruz', 'Department'),
    ('BO-T', 'BO', 'Tarija', 'Department'),
    ('BQ-BO', 'BQ', 'Bonaire', 'Special municipality'),
    ('BQ-SA', 'BQ', 'Saba', 'Special municipality'),
    ('BQ-SE', 'BQ', 'Sint Eustatius', 'Special municipality'),
    ('BR-AC', 'BR', 'Acre', 'State'),
    ('BR-AL', 'BR', 'Alagoas', 'State'),
    ('BR-AM', 'BR', 'Amazonas', 'State'),
    ('BR-AP', 'BR', 'Amapá', 'State'),
    ('BR-BA', 'BR', 'Bahia', 'State'),
    ('BR-CE', 'BR', 'Ceará', 'State'),
    ('BR-DF', 'BR', 'Distrito Federal', 'Federal district'),
    ('BR-ES', 'BR', 'Espírito Santo', 'State'),
    ('BR-GO', 'BR', 'Goiás', 'State'),
    ('BR-MA', 'BR', 'Maranhão', 'State'),
    ('BR-MG', 'BR', 'Minas Gerais', 'State'),
    ('BR-MS', 'BR', 'Mato Grosso do Sul', 'State'),
    ('BR-MT', 'BR', 'Mato Grosso', 'State'),
    ('BR-PA', 'BR', 'Pará', 'State'),
    ('BR-PB', 'BR', 'Paraíba', 'State'),
    ('BR-PE', 'BR', 'Pernambuco', 'State'),
    ('BR-PI', 'BR', 'Piauí', 'State'),
    ('BR-PR', 'BR', 'Paraná', 'State'),
    ('BR-RJ', 'BR', 'Rio de Janeiro', 'State'),
    ('BR-RN', 'BR', 'Rio Grande do Norte', 'State'),
    ('BR-RO', 'BR', 'Rondônia', 'State'),
    ('BR-RR', 'BR', 'Roraima', 'State'),
    ('BR-RS', 'BR', 'Rio Grande do Sul', 'State'),
    ('BR-SC', 'BR', 'Santa Catarina', 'State'),
    ('BR-SE', 'BR', 'Sergipe', 'State'),
    ('BR-SP', 'BR', 'São Paulo', 'State'),
    ('BR-TO', 'BR', 'Tocantins', 'State'),
    ('BS-AK', 'BS', 'Acklins', 'District'),
    ('BS-BI', 'BS', 'Bimini', 'District'),
    ('BS-BP', 'BS', 'Black Point', 'District'),
    ('BS-BY', 'BS', 'Berry Islands', 'District'),
    ('BS-CE', 'BS', 'Central Eleuthera', 'District'),
    ('BS-CI', 'BS', 'Cat Island', 'District'),
    ('BS-CK', 'BS', 'Crooked Island and Long Cay', 'District'),
    ('BS-CO', 'BS', 'Central Abaco', 'District'),
    ('BS-CS', 'BS', 'Central Andros', 'District'),
    ('BS-EG', 'BS', 'East Grand Bahama', 'District'),
    ('BS-EX', 'BS', 'Exuma', 'District'),
    ('BS-FP', 'BS', 'City of Freeport', 'District'),
    ('BS-GC', 'BS', 'Grand Cay', 'District'),
    ('BS-HI', 'BS', 'Harbour Island', 'District'),
    ('BS-HT', 'BS', 'Hope Town', 'District'),
    ('BS-IN', 'BS', 'Inagua', 'District'),
    ('BS-LI', 'BS', 'Long Island', 'District'),
    ('BS-MC', 'BS', 'Mangrove Cay', 'District'),
    ('BS-MG', 'BS', 'Mayaguana', 'District'),
    ('BS-MI', 'BS', 'Moore''s Island', 'District'),
    ('BS-NE', 'BS', 'North Eleuthera', 'District'),
    ('BS-NO', 'BS', 'North Abaco', 'District'),
    ('BS-NP', 'BS', 'New Providence', 'Island'),
    ('BS-NS', 'BS', 'North Andros', 'District'),
    ('BS-RC', 'BS', 'Rum Cay', 'District'),
    ('BS-RI', 'BS', 'Ragged Island', 'District'),
    ('BS-SA', 'BS', 'South Andros', 'District'),
    ('BS-SE', 'BS', 'South Eleuthera', 'District'),
    ('BS-SO', 'BS', 'South Abaco', 'District'),
    ('BS-SS', 'BS', 'San Salvador', 'District'),
    ('BS-SW', 'BS', 'Spanish Wells', 'District'),
    ('BS-WG', 'BS', 'West Grand Bahama', 'District'),
    ('BT-11', 'BT', 'Paro', 'District'),
    ('BT-12', 'BT', 'Chhukha', 'District'),
    ('BT-13', 'BT', 'Haa', 'District'),
    ('BT-14', 'BT', 'Samtse', 'District'),
    ('BT-15', 'BT', 'Thimphu', 'District'),
    ('BT-21', 'BT', 'Tsirang', 'District'),
    ('BT-22', 'BT', 'Dagana', 'District'),
    ('BT-23', 'BT', 'Punakha', 'District'),
    ('BT-24', 'BT', 'Wangdue Phodrang', 'District'),
    ('BT-31', 'BT', 'Sarpang', 'District'),
    ('BT-32', 'BT', 'Trongsa', 'District'),
    ('BT-33', 'BT', 'Bumthang', 'District'),
    ('BT-34', 'BT', 'Zhemgang', 'District'),
    ('BT-41', 'BT', 'Trashigang', 'District'),
    ('BT-42', 'BT', 'Monggar', 'District'),
    ('BT-43', 'BT', 'Pema Gatshel', 'District'),
    ('BT-44', 'BT', 'Lhuentse', 'District'),
    ('BT-45', 'BT', 'Samdrup Jongkhar', 'District'),
    ('BT-GA', 'BT', 'Gasa', 'District'),
    ('BT-TY', 'BT', 'Trashi Yangtse', 'District'),
    ('BW-CE', 'BW', 'Central', 'District'),
    ('BW-CH', 'BW', 'Chobe', 'District'),
    ('BW-FR', 'BW', 'Francistown', 'City'),
    ('BW-GA', 'BW', 'Gaborone', 'City'),
    ('BW-GH', 'BW', 'Ghanzi', 'District'),
    ('BW-JW', 'BW', 'Jwaneng', 'Town'),
    ('BW-KG', 'BW', 'Kgalagadi', 'District'),
    ('BW-KL', 'BW', 'Kgatleng', 'District'),
    ('BW-KW', 'BW', 'Kweneng', 'District'),
    ('BW-LO', 'BW', 'Lobatse', 'Town'),
    ('BW-NE', 'BW', 'North East', 'District'),
    ('BW-NW', 'BW', 'North West', 'District'),
    ('BW-SE', 'BW', 'South East', 'District'),
    ('BW-SO', 'BW', 'Southern', 'District'),
    ('BW-SP', 'BW', 'Selibe Phikwe', 'Town'),
    ('BW-ST', 'BW', 'Sowa Town', 'Town'),
    ('BY-BR', 'BY', 'Bresckaja voblasć', 'Oblast'),
    ('BY-HM', 'BY', 'Gorod Minsk', 'City'),
    ('BY-HO', 'BY', 'Gomel''skaja oblast''', 'Oblast'),
    ('BY-HR', 'BY', 'Grodnenskaja oblast''', 'Oblast'),
    ('BY-MA', 'BY', 'Mahilioŭskaja voblasć', 'Oblast'),
    ('BY-MI', 'BY', 'Minskaja oblast''', 'Oblast'),
    ('BY-VI', 'BY', 'Viciebskaja voblasć', 'Oblast'),
    ('BZ-BZ', 'BZ', 'Belize', 'District'),
    ('BZ-CY', 'BZ', 'Cayo', 'District'),
    ('BZ-CZL', 'BZ', 'Corozal', 'District'),
    ('BZ-OW', 'BZ', 'Orange Walk', 'District'),
    ('BZ-SC', 'BZ', 'Stann Creek', 'District'),
    ('BZ-TOL', 'BZ', 'Toledo', 'District'),
    ('CA-AB', 'CA', 'Alberta', 'Province'),
    ('CA-BC', 'CA', 'British Columbia', 'Province'),
    ('CA-MB', 'CA', 'Manitoba', 'Province'),
    ('CA-NB', 'CA', 'New Brunswick', 'Province'),
    ('CA-NL', 'CA', 'Newfoundland and Labrador', 'Province'),
    ('CA-NS', 'CA', 'Nova Scotia', 'Province'),
    ('CA-NT', 'CA', 'Northwest Territories', 'Territory'),
    ('CA-NU', 'CA', 'Nunavut', 'Territory'),
    ('CA-ON', 'CA', 'Ontario', 'Province'),
    ('CA-PE', 'CA', 'Prince Edward Island', 'Province'),
    ('CA-QC', 'CA', 'Quebec', 'Province'),
    ('CA-SK', 'CA', 'Saskatchewan', 'Province'),
    ('CA-YT', 'CA', 'Yukon', 'Territory'),
    ('CD-BC', 'CD', 'Kongo Central', 'Province'),
    ('CD-BU', 'CD', 'Bas-Uélé', 'Province'),
    ('CD-EQ', 'CD', 'Équateur', 'Province'),
    ('CD-HK', 'CD', 'Haut-Katanga', 'Province'),
    ('CD-HL', 'CD', 'Haut-Lomami', 'Province'),
    ('CD-HU', 'CD', 'Haut-Uélé', 'Province'),
    ('CD-IT', 'CD', 'Ituri', 'Province'),
    ('CD-KC', 'CD', 'Kasaï Central', 'Province'),
    ('CD-KE', 'CD', 'Kasaï Oriental', 'Province'),
    ('CD-KG', 'CD', 'Kwango', 'Province'),
    ('CD-KL', 'CD', 'Kwilu', 'Province'),
    ('CD-KN', 'CD', 'Kinshasa', 'City'),
    ('CD-KS', 'CD', 'Kasaï', 'Province'),
    ('CD-LO', 'CD', 'Lomami', 'Province'),
    ('CD-LU', 'CD', 'Lualaba', 'Province'),
    ('CD-MA', 'CD', 'Maniema', 'Province'),
    ('CD-MN', 'CD', 'Mai-Ndombe', 'Province'),
    ('CD-MO', 'CD', 'Mongala', 'Province'),
    ('CD-NK', 'CD', 'Nord-Kivu', 'Province'),
    ('CD-NU', 'CD', 'Nord-Ubangi', 'Province'),
    ('CD-SA', 'CD', 'Sankuru', 'Province'),
    ('CD-SK', 'CD', 'Sud-Kivu', 'Province'),
    ('CD-SU', 'CD', 'Sud-Ubangi', 'Province'),
    ('CD-TA', 'CD', 'Tanganyika', 'Province'),
    ('CD-TO', 'CD', 'Tshopo', 'Province'),
    ('CD-TU', 'CD', 'Tshuapa', 'Province'),
    ('CF-AC', 'CF', 'Ouham', 'Prefecture'),
    ('CF-BB', 'CF', 'Bamingui-Bangoran', 'Prefecture'),
    ('CF-BGF', 'CF', 'Bangui', 'Commune'),
    ('CF-BK', 'CF', 'Basse-Kotto', 'Prefecture'),
    ('CF-HK', 'CF', 'Haute-Kotto', 'Prefecture'),
    ('CF-HM', 'CF', 'Haut-Mbomou', 'Prefecture'),
    ('CF-HS', 'CF', 'Haute-Sangha / Mambéré-Kadéï', 'Prefecture'),
    ('CF-KB', 'CF', 'Gribingui', 'Economic prefecture'),
    ('CF-KG', 'CF', 'Kemö-Gïrïbïngï', 'Prefecture'),
    ('CF-LB', 'CF', 'Lobaye', 'Prefecture'),
    ('CF-MB', 'CF', 'Mbomou', 'Prefecture'),
    ('CF-MP', 'CF', 'Ombella-Mpoko', 'Prefecture'),
    ('CF-NM', 'CF', 'Nana-Mambéré', 'Prefecture'),
    ('CF-OP', 'CF', 'Ouham-Pendé', 'Prefecture'),
    ('CF-SE', 'CF', 'Sangha', 'Economic prefecture'),
    ('CF-UK', 'CF', 'Ouaka', 'Prefecture'),
    ('CF-VK', 'CF', 'Vakaga', 'Prefecture'),
    ('CG-11', 'CG', 'Bouenza', 'Department'),
    ('CG-12', 'CG', 'Pool', 'Department'),
    ('CG-13', 'CG', 'Sangha', 'Department'),
    ('CG-14', 'CG', 'Plateaux', 'Department'),
    ('CG-15', 'CG', 'Cuvette-Ouest', 'Department'),
    ('CG-16', 'CG', 'Pointe-Noire', 'Department'),
    ('CG-2', 'CG', 'Lékoumou', 'Department'),
    ('CG-5', 'CG', 'Kouilou', 'Department'),
    ('CG-7', 'CG', 'Likouala', 'Department'),
    ('CG-8', 'CG', 'Cuvette', 'Department'),
    ('CG-9', 'CG', 'Niari', 'Department'),
    ('CG-BZV', 'CG', 'Brazzaville', 'Department'),
    ('CH-AG', 'CH', 'Aargau', 'Canton'),
    ('CH-AI', 'CH', 'Appenzell Innerrhoden', 'Canton'),
    ('CH-AR', 'CH', 'Appenzell Ausserrhoden', 'Canton'),
    ('CH-BE', 'CH', 'Bern', 'Canton'),
    ('CH-BL', 'CH', 'Basel-Landschaft', 'Canton'),
    ('CH-BS', 'CH', 'Basel-Stadt', 'Canton'),
    ('CH-FR', 'CH', 'Freiburg', 'Canton'),
    ('CH-GE', 'CH', 'Genève', 'Canton'),
    ('CH-GL', 'CH', 'Glarus', 'Canton'),
    ('CH-GR', 'CH', 'Graubünden', 'Canton'),
    ('CH-JU', 'CH', 'Jura', 'Canton'),
    ('CH-LU', 'CH', 'Luzern', 'Canton'),
    ('CH-NE', 'CH', 'Neuchâtel', 'Canton'),
    ('CH-NW', 'CH', 'Nidwalden', 'Canton'),
    ('CH-OW', 'CH', 'Obwalden', 'Canton'),
    ('CH-SG', 'CH', 'Sankt Gallen', 'Canton'),
    ('CH-SH', 'CH', 'Schaffhausen', 'Canton'),
    ('CH-SO', 'CH', 'Solothurn', 'Canton'),
    ('CH-SZ', 'CH', 'Schwyz', 'Canton'),
    ('CH-TG', 'CH', 'Thurgau', 'Canton'),
    ('CH-TI', 'CH', 'Ticino', 'Canton'),
    ('CH-UR', 'CH', 'Uri', 'Canton'),
    ('CH-VD', 'CH', 'Vaud', 'Canton'),
    ('CH-VS', 'CH', 'Valais', 'Canton'),
    ('CH-ZG', 'CH', 'Zug', 'Canton'),
    ('CH-ZH', 'CH', 'Zürich', 'Canton'),
    ('CI-AB', 'CI', 'Abidjan', 'Autonomous district'),
    ('CI-BS', 'CI', 'Bas-Sassandra', 'District'),
    ('CI-CM', 'CI', 'Comoé', 'District'),
    ('CI-DN', 'CI', 'Denguélé', 'District'),
    ('CI-GD', 'CI', 'Gôh-Djiboua', 'District'),
    ('CI-LC', 'CI', 'Lacs', 'District'),
    ('CI-LG', 'CI', 'Lagunes', 'District'),
    ('CI-MG', 'CI', 'Montagnes', 'District'),
    ('CI-SM', 'CI', 'Sassandra-Marahoué', 'District'),
    ('CI-SV', 'CI', 'Savanes', 'District'),
    ('CI-VB', 'CI', 'Vallée du Bandama', 'District'),
    ('CI-WR', 'CI', 'Woroba', 'District'),
    ('CI-YM', 'CI', 'Yamoussoukro', 'Autonomous district'),
    ('CI-ZZ', 'CI', 'Zanzan', 'District'),
    ('CL-AI', 'CL', 'Aisén del General Carlos Ibañez del Campo', 'Region'),
    ('CL-AN', 'CL', 'Antofagasta', 'Region'),
    ('CL-AP', 'CL', 'Arica y Parinacota', 'Region'),
    ('CL-AR', 'CL', 'La Araucanía', 'Region'),
    ('CL-AT', 'CL', 'Atacama', 'Region'),
    ('CL-BI', 'CL', 'Biobío', 'Region'),
    ('CL-CO', 'CL', 'Coquimbo', 'Region'),
    ('CL-LI', 'CL', 'Libertador General Bernardo O''Higgins', 'Region'),
    ('CL-LL', 'CL', 'Los Lagos', 'Region'),
    ('CL-LR', 'CL', 'Los Ríos', 'Region'),
    ('CL-MA', 'CL', 'Magallanes', 'Region'),
    ('CL-ML', 'CL', 'Maule', 'Region'),
    ('CL-NB', 'CL', 'Ñuble', 'Region'),
    ('CL-RM', 'CL', 'Región Metropolitana de Santiago', 'Region'),
    ('CL-TA', 'CL', 'Tarapacá', 'Region'),
    ('CL-VS', 'CL', 'Valparaíso', 'Region'),
    ('CM-AD', 'CM', 'Adamaoua', 'Region'),
    ('CM-CE', 'CM', 'Centre', 'Region'),
    ('CM-EN', 'CM', 'Far North', 'Region'),
    ('CM-ES', 'CM', 'East', 'Region'),
    ('CM-LT', 'CM', 'Littoral', 'Region'),
    ('CM-NO', 'CM', 'North', 'Region'),
    ('CM-NW', 'CM', 'North-West', 'Region'),
    ('CM-OU', 'CM', 'West', 'Region'),
    ('CM-SU', 'CM', 'South', 'Region'),
    ('CM-SW', 'CM', 'South-West', 'Region'),
    ('CN-AH', 'CN', 'Anhui Sheng', 'Province'),
    ('CN-BJ', 'CN', 'Beijing Shi', 'Municipality'),
    ('CN-CQ', 'CN', 'Chongqing Shi', 'Municipality'),
    ('CN-FJ', 'CN', 'Fujian Sheng', 'Province'),
    ('CN-GD', 'CN', 'Guangdong Sheng', 'Province'),
    ('CN-GS', 'CN', 'Gansu Sheng', 'Province'),
    ('CN-GX', 'CN', 'Guangxi Zhuangzu Zizhiqu', 'Autonomous region'),
    ('CN-GZ', 'CN', 'Guizhou Sheng', 'Province'),
    ('CN-HA', 'CN', 'Henan Sheng', 'Province'),
    ('CN-HB', 'CN', 'Hubei Sheng', 'Province'),
    ('CN-HE', 'CN', 'Hebei Sheng', 'Province'),
    ('CN-HI', 'CN', 'Hainan Sheng', 'Province'),
    ('CN-HK', 'CN', 'Hong Kong SAR', 'Special administrative region'),
    ('CN-HL', 'CN', 'Heilongjiang Sheng', 'Province'),
    ('CN-HN', 'CN', 'Hunan Sheng', 'Province'),
    ('CN-JL', 'CN', 'Jilin Sheng', 'Province'),
    ('CN-JS', 'CN', 'Jiangsu Sheng', 'Province'),
    ('CN-JX', 'CN', 'Jiangxi Sheng', 'Province'),
    ('CN-LN', 'CN', 'Liaoning Sheng', 'Province'),
    ('CN-MO', 'CN', 'Macao SAR', 'Special administrative region'),
    ('CN-NM', 'CN', 'Nei Mongol Zizhiqu', 'Autonomous region'),
    ('CN-NX', 'CN', 'Ningxia Huizi Zizhiqu', 'Autonomous region'),
    ('CN-QH', 'CN', 'Qinghai Sheng', 'Province'),
    ('CN-SC', 'CN', 'Sichuan Sheng', 'Province'),
    ('CN-SD', 'CN', 'Shandong Sheng', 'Province'),
    ('CN-SH', 'CN', 'Shanghai Shi', 'Municipality'),
    ('CN-SN', 'CN', 'Shaanxi Sheng', 'Province'),
    ('CN-SX', 'CN', 'Shanxi Sheng', 'Province'),
    ('CN-TJ', 'CN', 'Tianjin Shi', 'Municipality'),
    ('CN-TW', 'CN', 'Taiwan Sheng', 'Province'),
    ('CN-XJ', 'CN', 'Xinjiang Uygur Zizhiqu', 'Autonomous region'),
    ('CN-XZ', 'CN', 'Xizang Zizhiqu', 'Autonomous region'),
    ('CN-YN', 'CN', 'Yunnan Sheng', 'Province'),
    ('CN-ZJ', 'CN', 'Zhejiang Sheng', 'Province'),
    ('CO-AMA', 'CO', 'Amazonas', 'Department'),
    ('CO-ANT', 'CO', 'Antioquia', 'Department'),
    ('CO-ARA', 'CO', 'Arauca', 'Department'),
    ('CO-ATL', 'CO', 'Atlántico', 'Department'),
    ('CO-BOL', 'CO', 'Bolívar', 'Department'),
    ('CO-BOY', 'CO', 'Boyacá', 'Department'),
    ('CO-CAL', 'CO', 'Caldas', 'Department'),
    ('CO-CAQ', 'CO', 'Caquetá', 'Department'),
    ('CO-CAS', 'CO', 'Casanare', 'Department'),
    ('CO-CAU', 'CO', 'Cauca', 'Department'),
    ('CO-CES', 'CO', 'Cesar', 'Department'),
    ('CO-CHO', 'CO', 'Chocó', 'Department'),
    ('CO-COR', 'CO', 'Córdoba', 'Department'),
    ('CO-CUN', 'CO', 'Cundinamarca', 'Department'),
    ('CO-DC', 'CO', 'Distrito Capital de Bogotá', 'Capital district'),
    ('CO-GUA', 'CO', 'Guainía', 'Department'),
    ('CO-GUV', 'CO', 'Guaviare', 'Department'),
    ('CO-HUI', 'CO', 'Huila', 'Department'),
    ('CO-LAG', 'CO', 'La Guajira', 'Department'),
    ('CO-MAG', 'CO', 'Magdalena', 'Department'),
    ('CO-MET', 'CO', 'Meta', 'Department'),
    ('CO-NAR', 'CO', 'Nariño', 'Department'),
    ('CO-NSA', 'CO', 'Norte de Santander', 'Department'),
    ('CO-PUT', 'CO', 'Putumayo', 'Department'),
    ('CO-QUI', 'CO', 'Quindío', 'Department'),
    ('CO-RIS', 'CO', 'Risaralda', 'Department'),
    ('CO-SAN', 'CO', 'Santander', 'Department'),
    ('CO-SAP', 'CO', 'San Andrés, Providencia y Santa Catalina', 'Department'),
    ('CO-SUC', 'CO', 'Sucre', 'Department'),
    ('CO-TOL', 'CO', 'Tolima', 'Department'),
    ('CO-VAC', 'CO', 'Valle del Cauca', 'Department'),
    ('CO-VAU', 'CO', 'Vaupés', 'Department'),
    ('CO-VID', 'CO', 'Vichada', 'Department'),
    ('CR-A', 'CR', 'Alajuela', 'Province'),
    ('CR-C', 'CR', 'Cartago', 'Province'),
    ('CR-G', 'CR', 'Guanacaste', 'Province'),
    ('CR-H', 'CR', 'Heredia', 'Province'),
    ('CR-L', 'CR', 'Limón', 'Province'),
    ('CR-P', 'CR', 'Puntarenas', 'Province'),
    ('CR-SJ', 'CR', 'San José', 'Province'),
    ('CU-01', 'CU', 'Pinar del Río', 'Province'),
    ('CU-03', 'CU', 'La Habana', 'Province'),
    ('CU-04', 'CU', 'Matanzas', 'Province'),
    ('CU-05', 'CU', 'Villa Clara', 'Province'),
    ('CU-06', 'CU', 'Cienfuegos', 'Province'),
    ('CU-07', 'CU', 'Sancti Spíritus', 'Province'),
    ('CU-08', 'CU', 'Ciego de Ávila', 'Province'),
    ('CU-09', 'CU', 'Camagüey', 'Province'),
    ('CU-10', 'CU', 'Las Tunas', 'Province'),
    ('CU-11', 'CU', 'Holguín', 'Province'),
    ('CU-12', 'CU', 'Granma', 'Province'),
    ('CU-13', 'CU', 'Santiago de Cuba', 'Province'),
    ('CU-14', 'CU', 'Guantánamo', 'Province'),
    ('CU-15', 'CU', 'Artemisa', 'Province'),
    ('CU-16', 'CU', 'Mayabeque', 'Province'),
    ('CU-99', 'CU', 'Isla de la Juventud', 'Special municipality'),
    ('CV-B', 'CV', 'Ilhas de Barlavento', 'Geographical region'),
    ('CV-BR', 'CV', 'Brava', 'Municipality'),
    ('CV-BV', 'CV', 'Boa Vista', 'Municipality'),
    ('CV-CA', 'CV', 'Santa Catarina', 'Municipality'),
    ('CV-CF', 'CV', 'Santa Catarina do Fogo', 'Municipality'),
    ('CV-CR', 'CV', 'Santa Cruz', 'Municipality'),
    ('CV-MA', 'CV', 'Maio', 'Municipality'),
    ('CV-MO', 'CV', 'Mosteiros', 'Municipality'),
    ('CV-PA', 'CV', 'Paul', 'Municipality'),
    ('CV-PN', 'CV', 'Porto Novo', 'Municipality'),
    ('CV-PR', 'CV', 'Praia', 'Municipality'),
    ('CV-RB', 'CV', 'Ribeira Brava', 'Municipality'),
    ('CV-RG', 'CV', 'Ribeira Grande', 'Municipality'),
    ('CV-RS', 'CV', 'Ribeira Grande de Santiago', 'Municipality'),
    ('CV-S', 'CV', 'Ilhas de Sotavento', 'Geographical region'),
    ('CV-SD', 'CV', 'São Domingos', 'Municipality'),
    ('CV-SF', 'CV', 'São Filipe', 'Municipality'),
    ('CV-SL', 'CV', 'Sal', 'Municipality'),
    ('CV-SM', 'CV', 'São Miguel', 'Municipality'),
    ('CV-SO', 'CV', 'São Lourenço dos Órgãos', 'Municipality'),
    ('CV-SS', 'CV', 'São Salvador do Mundo', 'Municipality'),
    ('CV-SV', 'CV', 'São Vicente', 'Municipality'),
    ('CV-TA', 'CV', 'Tarrafal', 'Municipality'),
    ('CV-TS', 'CV', 'Tarrafal de São Nicolau', 'Municipality'),
    ('CY-01', 'CY', 'Lefkosia', 'District'),
    ('CY-02', 'CY', 'Lemesos', 'District'),
    ('CY-03', 'CY', 'Larnaka', 'District'),
    ('CY-04', 'CY', 'Ammochostos', 'District'),
    ('CY-05', 'CY', 'Baf', 'District'),
    ('CY-06', 'CY', 'Girne', 'District'),
    ('CZ-10', 'CZ', 'Praha, Hlavní město', 'Capital city'),
    ('CZ-20', 'CZ', 'Středočeský kraj', 'Region'),
    ('CZ-201', 'CZ', 'Benešov', 'District'),
    ('CZ-202', 'CZ', 'Beroun', 'District'),
    ('CZ-203', 'CZ', 'Kladno', 'District'),
    ('CZ-204', 'CZ', 'Kolín', 'District'),
    ('CZ-205', 'CZ', 'Kutná Hora', 'District'),
    ('CZ-206', 'CZ', 'Mělník', 'District'),
    ('CZ-207', 'CZ', 'Mladá Boleslav', 'District'),
    ('CZ-208', 'CZ', 'Nymburk', 'District'),
    ('CZ-209', 'CZ', 'Praha-východ', 'District'),
    ('CZ-20A', 'CZ', 'Praha-západ', 'District'),
    ('CZ-20B', 'CZ', 'Příbram', 'District'),
    ('CZ-20C', 'CZ', 'Rakovník', 'District'),
    ('CZ-31', 'CZ', 'Jihočeský kraj', 'Region'),
    ('CZ-311', 'CZ', 'České Budějovice', 'District'),
    ('CZ-312', 'CZ', 'Český Krumlov', 'District'),
    ('CZ-313', 'CZ', 'Jindřichův Hradec', 'District'),
    ('CZ-314', 'CZ', 'Písek', 'District'),
    ('CZ-315', 'CZ', 'Prachatice', 'District'),
    ('CZ-316', 'CZ', 'Strakonice', 'District'),
    ('CZ-317', 'CZ', 'Tábor', 'District'),
    ('CZ-32', 'CZ', 'Plzeňský kraj', 'Region'),
    ('CZ-321', 'CZ', 'Domažlice', 'District'),
    ('CZ-322', 'CZ', 'Klatovy', 'District'),
    ('CZ-323', 'CZ', 'Plzeň-město', 'District'),
    ('CZ-324', 'CZ', 'Plzeň-jih', 'District'),
    ('CZ-325', 'CZ', 'Plzeň-sever', 'District'),
    ('CZ-326', 'CZ', 'Rokycany', 'District'),
    ('CZ-327', 'CZ', 'Tachov', 'District'),
    ('CZ-41', 'CZ', 'Karlovarský kraj', 'Region'),
    ('CZ-411', 'CZ', 'Cheb', 'District'),
    ('CZ-412', 'CZ', 'Karlovy Vary', 'District'),
    ('CZ-413', 'CZ', 'Sokolov', 'District'),
    ('CZ-42', 'CZ', 'Ústecký kraj', 'Region'),
    ('CZ-421', 'CZ', 'Děčín', 'District'),
    ('CZ-422', 'CZ', 'Chomutov', 'District'),
    ('CZ-423', 'CZ', 'Litoměřice', 'District'),
    ('CZ-424', 'CZ', 'Louny', 'District'),
    ('CZ-425', 'CZ', 'Most', 'District'),
    ('CZ-426', 'CZ', 'Teplice', 'District'),
    ('CZ-427', 'CZ', 'Ústí nad Labem', 'District'),
    ('CZ-51', 'CZ', 'Liberecký kraj', 'Region'),
    ('CZ-511', 'CZ', 'Česká Lípa', 'District'),
    ('CZ-512', 'CZ', 'Jablonec nad Nisou', 'District'),
    ('CZ-513', 'CZ', 'Liberec', 'District'),
    ('CZ-514', 'CZ', 'Semily', 'District'),
    ('CZ-52', 'CZ', 'Královéhradecký kraj', 'Region'),
    ('CZ-521', 'CZ', 'Hradec Králové', 'District'),
    ('CZ-522', 'CZ', 'Jičín', 'District'),
    ('CZ-523', 'CZ', 'Náchod', 'District'),
    ('CZ-524', 'CZ', 'Rychnov nad Kněžnou', 'District'),
    ('CZ-525', 'CZ', 'Trutnov', 'District'),
    ('CZ-53', 'CZ', 'Pardubický kraj', 'Region'),
    ('CZ-531', 'CZ', 'Chrudim', 'District'),
    ('CZ-532', 'CZ', 'Pardubice', 'District'),
    ('CZ-533', 'CZ', 'Svitavy', 'District'),
    ('CZ-534', 'CZ', 'Ústí nad Orlicí', 'District'),
    ('CZ-63', 'CZ', 'Kraj Vysočina', 'Region'),
    ('CZ-631', 'CZ', 'Havlíčkův Brod', 'District'),
    ('CZ-632', 'CZ', 'Jihlava', 'District'),
    ('CZ-633', 'CZ', 'Pelhřimov', 'District'),
    ('CZ-634', 'CZ', 'Třebíč', 'District'),
    ('CZ-635', 'CZ', 'Žďár nad Sázavou', 'District'),
    ('CZ-64', 'CZ', 'Jihomoravský kraj', 'Region'),
    ('CZ-641', 'CZ', 'Blansko', 'District'),
    ('CZ-642', 'CZ', 'Brno-město', 'District'),
    ('CZ-643', 'CZ', 'Brno-venkov', 'District'),
    ('CZ-644', 'CZ', 'Břeclav', 'District'),
    ('CZ-645', 'CZ', 'Hodonín', 'District'),
    ('CZ-646', 'CZ', 'Vyškov', 'District'),
    ('CZ-647', 'CZ', 'Znojmo', 'District'),
    ('CZ-71', 'CZ', 'Olomoucký kraj', 'Region'),
    ('CZ-711', 'CZ', 'Jeseník', 'District'),
    ('CZ-712', 'CZ', 'Olomouc', 'District'),
    ('CZ-713', 'CZ', 'Prostějov', 'District'),
    ('CZ-714', 'CZ', 'Přerov', 'District'),
    ('CZ-715', 'CZ', 'Šumperk', 'District'),
    ('CZ-72', 'CZ', 'Zlínský kraj', 'Region'),
    ('CZ-721', 'CZ', 'Kroměříž', 'District'),
    ('CZ-722', 'CZ', 'Uherské Hradiště', 'District'),
    ('CZ-723', 'CZ', 'Vsetín', 'District'),
    ('CZ-724', 'CZ', 'Zlín', 'District'),
    ('CZ-80', 'CZ', 'Moravskoslezský kraj', 'Region'),
    ('CZ-801', 'CZ', 'Bruntál', 'District'),
    ('CZ-802', 'CZ', 'Frýdek-Místek', 'District'),
    ('CZ-803', 'CZ', 'Karviná', 'District'),
    ('CZ-804', 'CZ', 'Nový Jičín', 'District'),
    ('CZ-805', 'CZ', 'Opava', 'District'),
    ('CZ-806', 'CZ', 'Ostrava-město', 'District'),
    ('DE-BB', 'DE', 'Brandenburg', 'Land'),
    ('DE-BE', 'DE', 'Berlin', 'Land'),
    ('DE-BW', 'DE', 'Baden-Württemberg', 'Land'),
    ('DE-BY', 'DE', 'Bayern', 'Land'),
    ('DE-HB', 'DE', 'Bremen', 'Land'),
    ('DE-HE', 'DE', 'Hessen', 'Land'),
    ('DE-HH', 'DE', 'Hamburg', 'Land'),
    ('DE-MV', 'DE', 'Mecklenburg-Vorpommern', 'Land'),
    ('DE-NI', 'DE', 'Niedersachsen', 'Land'),
    ('DE-NW', 'DE', 'Nordrhein-Westfalen', 'Land'),
    ('DE-RP', 'DE', 'Rheinland-Pfalz', 'Land'),
    ('DE-SH', 'DE', 'Schleswig-Holstein', 'Land'),
    ('DE-SL', 'DE', 'Saarland', 'Land'),
    ('DE-SN', 'DE', 'Sachsen', 'Land'),
    ('DE-ST', 'DE', 'Sachsen-Anhalt', 'Land'),
    ('DE-TH', 'DE', 'Thüringen', 'Land'),
    ('DJ-AR', 'DJ', 'Arta', 'Region'),
    ('DJ-AS', 'DJ', 'Ali Sabieh', 'Region'),
    ('DJ-DI', 'DJ', 'Dikhil', 'Region'),
    ('DJ-DJ', 'DJ', 'Djibouti', 'City'),
    ('DJ-OB', 'DJ', 'Awbūk', 'Region'),
    ('DJ-TA', 'DJ', 'Tadjourah', 'Region'),
    ('DK-81', 'DK', 'Nordjylland', 'Region'),
    ('DK-82', 'DK', 'Midtjylland', 'Region'),
    ('DK-83', 'DK', 'Syddanmark', 'Region'),
    ('DK-84', 'DK', 'Hovedstaden', 'Region'),
    ('DK-85', 'DK', 'Sjælland', 'Region'),
    ('DM-02', 'DM', 'Saint Andrew', 'Parish'),
    ('DM-03', 'DM', 'Saint David', 'Parish'),
    ('DM-04', 'DM', 'Saint George', 'Parish'),
    ('DM-05', 'DM', 'Saint John', 'Parish'),
    ('DM-06', 'DM', 'Saint Joseph', 'Parish'),
    ('DM-07', 'DM', 'Saint Luke', 'Parish'),
    ('DM-08', 'DM', 'Saint Mark', 'Parish'),
    ('DM-09', 'DM', 'Saint Patrick', 'Parish'),
    ('DM-10', 'DM', 'Saint Paul', 'Parish'),
    ('DM-11', 'DM', 'Saint Peter', 'Parish'),
    ('DO-01', 'DO', 'Distrito Nacional (Santo Domingo)', 'District'),
    ('DO-02', 'DO', 'Azua', 'Province'),
    ('DO-03', 'DO', 'Baoruco', 'Province'),
    ('DO-04', 'DO', 'Barahona', 'Province'),
    ('DO-05', 'DO', 'Dajabón', 'Province'),
    ('DO-06', 'DO', 'Duarte', 'Province'),
    ('DO-07', 'DO', 'Elías Piña', 'Province'),
    ('DO-08', 'DO', 'El Seibo', 'Province'),
    ('DO-09', 'DO', 'Espaillat', 'Province'),
    ('DO-10', 'DO', 'Independencia', 'Province'),
    ('DO-11', 'DO', 'La Altagracia', 'Province'),
    ('DO-12', 'DO', 'La Romana', 'Province'),
    ('DO-13', 'DO', 'La Vega', 'Province'),
    ('DO-14', 'DO', 'María Trinidad Sánchez', 'Province'),
    ('DO-15', 'DO', 'Monte Cristi', 'Province'),
    ('DO-16', 'DO', 'Pedernales', 'Province'),
    ('DO-17', 'DO', 'Peravia', 'Province'),
    ('DO-18', 'DO', 'Puerto Plata', 'Province'),
    ('DO-19', 'DO', 'Hermanas Mirabal', 'Province'),
    ('DO-20', 'DO', 'Samaná', 'Province'),
    ('DO-21', 'DO', 'San Cristóbal', 'Province'),
    ('DO-22', 'DO', 'San Juan', 'Province'),
    ('DO-23', 'DO', 'San Pedro de Macorís', 'Province'),
    ('DO-24', 'DO', 'Sánchez Ramírez', 'Province'),
    ('DO-25', 'DO', 'Santiago', 'Province'),
    ('DO-26', 'DO', 'Santiago Rodríguez', 'Province'),
    ('DO-27', 'DO', 'Valverde', 'Province'),
    ('DO-28', 'DO', 'Monseñor Nouel', 'Province'),
    ('DO-29', 'DO', 'Monte Plata', 'Province'),
    ('DO-30', 'DO', 'Hato Mayor', 'Province'),
    ('DO-31', 'DO', 'San José de Ocoa', 'Province'),
    ('DO-32', 'DO', 'Santo Domingo', 'Province'),
    ('DO-33', 'DO', 'Cibao Nordeste', 'Region'),
    ('DO-34', 'DO', 'Cibao Noroeste', 'Region'),
    ('DO-35', 'DO', 'Cibao Norte', 'Region'),
    ('DO-36', 'DO', 'Cibao Sur', 'Region'),
    ('DO-37', 'DO', 'El Valle', 'Region'),
    ('DO-38', 'DO', 'Enriquillo', 'Region'),
    ('DO-39', 'DO', 'Higuamo', 'Region'),
    ('DO-40', 'DO', 'Ozama', 'Region'),
    ('DO-41', 'DO', 'Valdesia', 'Region'),
    ('DO-42', 'DO', 'Yuma', 'Region'),
    ('DZ-01', 'DZ', 'Adrar', 'Province'),
    ('DZ-02', 'DZ', 'Chlef', 'Province'),
    ('DZ-03', 'DZ', 'Laghouat', 'Province'),
    ('DZ-04', 'DZ', 'Oum el Bouaghi', 'Province'),
    ('DZ-05', 'DZ', 'Batna', 'Province'),
    ('DZ-06', 'DZ', 'Béjaïa', 'Province'),
    ('DZ-07', 'DZ', 'Biskra', 'Province'),
    ('DZ-08', 'DZ', 'Béchar', 'Province'),
    ('DZ-09', 'DZ', 'Blida', 'Province'),
    ('DZ-10', 'DZ', 'Bouira', 'Province'),
    ('DZ-11', 'DZ', 'Tamanrasset', 'Province'),
    ('DZ-12', 'DZ', 'Tébessa', 'Province'),
    ('DZ-13', 'DZ', 'Tlemcen', 'Province'),
    ('DZ-14', 'DZ', 'Tiaret', 'Province'),
    ('DZ-15', 'DZ', 'Tizi Ouzou', 'Province'),
    ('DZ-16', 'DZ', 'Alger', 'Province'),
    ('DZ-17', 'DZ', 'Djelfa', 'Province'),
    ('DZ-18', 'DZ', 'Jijel', 'Province'),
    ('DZ-19', 'DZ', 'Sétif', 'Province'),
    ('DZ-20', 'DZ', 'Saïda', 'Province'),
    ('DZ-21', 'DZ', 'Skikda', 'Province'),
    ('DZ-22', 'DZ', 'Sidi Bel Abbès', 'Province'),
    ('DZ-23', 'DZ', 'Annaba', 'Province'),
    ('DZ-24', 'DZ', 'Guelma', 'Province'),
    ('DZ-25', 'DZ', 'Constantine', 'Province'),
    ('DZ-26', 'DZ', 'Médéa', 'Province'),
    ('DZ-27', 'DZ', 'Mostaganem', 'Province'),
    ('DZ-28', 'DZ', 'M''sila', 'Province'),
    ('DZ-29', 'DZ', 'Mascara', 'Province'),
    ('DZ-30', 'DZ', 'Ouargla', 'Province'),
    ('DZ-31', 'DZ', 'Oran', 'Province'),
    ('DZ-32', 'DZ', 'El Bayadh', 'Province'),
    ('DZ-33', 'DZ', 'Illizi', 'Province'),
    ('DZ-34', 'DZ', 'Bordj Bou Arréridj', 'Province'),
    ('DZ-35', 'DZ', 'Boumerdès', 'Province'),
    ('DZ-36', 'DZ', 'El Tarf', 'Province'),
    ('DZ-37', 'DZ', 'Tindouf', 'Province'),
    ('DZ-38', 'DZ', 'Tissemsilt', 'Province'),
    ('DZ-39', 'DZ', 'El Oued', 'Province'),
    ('DZ-40', 'DZ', 'Khenchela', 'Province'),
    ('DZ-41', 'DZ', 'Souk Ahras', 'Province'),
    ('DZ-42', 'DZ', 'Tipaza', 'Province'),
    ('DZ-43', 'DZ', 'Mila', 'Province'),
    ('DZ-44', 'DZ', 'Aïn Defla', 'Province'),
    ('DZ-45', 'DZ', 'Naama', 'Province'),
    ('DZ-46', 'DZ', 'Aïn Témouchent', 'Province'),
    ('DZ-47', 'DZ', 'Ghardaïa', 'Province'),
    ('DZ-48', 'DZ', 'Relizane', 'Province'),
    ('EC-A', 'EC', 'Azuay', 'Province'),
    ('EC-B', 'EC', 'Bolívar', 'Province'),
    ('EC-C', 'EC', 'Carchi', 'Province'),
    ('EC-D', 'EC', 'Orellana', 'Province'),
    ('EC-E', 'EC', 'Esmeraldas', 'Province'),
    ('EC-F', 'EC', 'Cañar', 'Province'),
    ('EC-G', 'EC', 'Guayas', 'Province'),
    ('EC-H', 'EC', 'Chimborazo', 'Province'),
    ('EC-I', 'EC', 'Imbabura', 'Province'),
    ('EC-L', 'EC', 'Loja', 'Province'),
    ('EC-M', 'EC', 'Manabí', 'Province'),
    ('EC-N', 'EC', 'Napo', 'Province'),
    ('EC-O', 'EC', 'El Oro', 'Province'),
    ('EC-P', 'EC', 'Pichincha', 'Province'),
    ('EC-R', 'EC', 'Los Ríos', 'Province'),
    ('EC-S', 'EC', 'Morona Santiago', 'Province'),
    ('EC-SD', 'EC', 'Santo Domingo de los Tsáchilas', 'Province'),
    ('EC-SE', 'EC', 'Santa Elena', 'Province'),
    ('EC-T', 'EC', 'Tungurahua', 'Province'),
    ('EC-U', 'EC', 'Sucumbíos', 'Province'),
    ('EC-W', 'EC', 'Galápagos', 'Province'),
    ('EC-X', 'EC', 'Cotopaxi', 'Province'),
    ('EC-Y', 'EC', 'Pastaza', 'Province'),
    ('EC-Z', 'EC', 'Zamora Chinchipe', 'Province'),
    ('EE-130', 'EE', 'Alutaguse', 'Rural municipality'),
    ('EE-141', 'EE', 'Anija', 'Rural municipality'),
    ('EE-142', 'EE', 'Antsla', 'Rural municipality'),
    ('EE-171', 'EE', 'Elva', 'Rural municipality'),
    ('EE-184', 'EE', 'Haapsalu', 'Urban municipality'),
    ('EE-191', 'EE', 'Haljala', 'Rural municipality'),
    ('EE-198', 'EE', 'Harku', 'Rural municipality'),
    ('EE-205', 'EE', 'Hiiumaa', 'Rural municipality'),
    ('EE-214', 'EE', 'Häädemeeste', 'Rural municipality'),
    ('EE-245', 'EE', 'Jõelähtme', 'Rural municipality'),
    ('EE-247', 'EE', 'Jõgeva', 'Rural municipality'),
    ('EE-251', 'EE', 'Jõhvi', 'Rural municipality'),
    ('EE-255', 'EE', 'Järva', 'Rural municipality'),
    ('EE-272', 'EE', 'Kadrina', 'Rural municipality'),
    ('EE-283', 'EE', 'Kambja', 'Rural municipality'),
    ('EE-284', 'EE', 'Kanepi', 'Rural municipality'),
    ('EE-291', 'EE', 'Kastre', 'Rural municipality'),
    ('EE-293', 'EE', 'Kehtna', 'Rural municipality'),
    ('EE-296', 'EE', 'Keila', 'Urban municipality'),
    ('EE-303', 'EE', 'Kihnu', 'Rural municipality'),
    ('EE-305', 'EE', 'Kiili', 'Rural municipality'),
    ('EE-317', 'EE', 'Kohila', 'Rural municipality'),
    ('EE-321', 'EE', 'Kohtla-Järve', 'Urban municipality'),
    ('EE-338', 'EE', 'Kose', 'Rural municipality'),
    ('EE-353', 'EE', 'Kuusalu', 'Rural municipality'),
    ('EE-37', 'EE', 'Harjumaa', 'County'),
    ('EE-39', 'EE', 'Hiiumaa', 'County'),
    ('EE-424', 'EE', 'Loksa', 'Urban municipality'),
    ('EE-430', 'EE', 'Lääneranna', 'Rural municipality'),
    ('EE-431', 'EE', 'Lääne-Harju', 'Rural municipality'),
    ('EE-432', 'EE', 'Luunja', 'Rural municipality'),
    ('EE-441', 'EE', 'Lääne-Nigula', 'Rural municipality'),
    ('EE-442', 'EE', 'Lüganuse', 'Rural municipality'),
    ('EE-446', 'EE', 'Maardu', 'Urban municipality'),
    ('EE-45', 'EE', 'Ida-Virumaa', 'County'),
    ('EE-478', 'EE', 'Muhu', 'Rural municipality'),
    ('EE-480', 'EE', 'Mulgi', 'Rural municipality'),
    ('EE-486', 'EE', 'Mustvee', 'Rural municipality'),
    ('EE-50', 'EE', 'Jõgevamaa', 'County'),
    ('EE-503', 'EE', 'Märjamaa', 'Rural municipality'),
    ('EE-511', 'EE', 'Narva', 'Urban municipality'),
    ('EE-514', 'EE', 'Narva-Jõesuu', 'Urban municipality'),
    ('EE-52', 'EE', 'Järvamaa', 'County'),
    ('EE-528', 'EE', 'Nõo', 'Rural municipality'),
    ('EE-557', 'EE', 'Otepää', 'Rural municipality'),
    ('EE-56', 'EE', 'Läänemaa', 'County'),
    ('EE-567', 'EE', 'Paide', 'Urban municipality'),
    ('EE-586', 'EE', 'Peipsiääre', 'Rural municipality'),
    ('EE-60', 'EE', 'Lääne-Virumaa', 'County'),
    ('EE-615', 'EE', 'Põhja-Sakala', 'Rural municipality'),
    ('EE-618', 'EE', 'Põltsamaa', 'Rural municipality'),
    ('EE-622', 'EE', 'Põlva', 'Rural municipality'),
    ('EE-624', 'EE', 'Pärnu', 'Urban municipality'),
    ('EE-638', 'EE', 'Põhja-Pärnumaa', 'Rural municipality'),
    ('EE-64', 'EE', 'Põlvamaa', 'County'),
    ('EE-651', 'EE', 'Raasiku', 'Rural municipality'),
    ('EE-653', 'EE', 'Rae', 'Rural municipality'),
    ('EE-661', 'EE', 'Rakvere', 'Rural municipality'),
    ('EE-663', 'EE', 'Rakvere', 'Urban municipality'),
    ('EE-668', 'EE', 'Rapla', 'Rural municipality'),
    ('EE-68', 'EE', 'Pärnumaa', 'County'),
    ('EE-689', 'EE', 'Ruhnu', 'Rural municipality'),
    ('EE-698', 'EE', 'Rõuge', 'Rural municipality'),
    ('EE-708', 'EE', 'Räpina', 'Rural municipality'),
    ('EE-71', 'EE', 'Raplamaa', 'County'),
    ('EE-712', 'EE', 'Saarde', 'Rural municipality'),
    ('EE-714', 'EE', 'Saaremaa', 'Rural municipality'),
    ('EE-719', 'EE', 'Saku', 'Rural municipality'),
    ('EE-726', 'EE', 'Saue', 'Rural municipality'),
    ('EE-732', 'EE', 'Setomaa', 'Rural municipality'),
    ('EE-735', 'EE', 'Sillamäe', 'Urban municipality'),
    ('EE-74', 'EE', 'Saaremaa', 'County'),
    ('EE-784', 'EE', 'Tallinn', 'Urban municipality'),
    ('EE-79', 'EE', 'Tartumaa', 'County'),
    ('EE-792', 'EE', 'Tapa', 'Rural municipality'),
    ('EE-793', 'EE', 'Tartu', 'Urban municipality'),
    ('EE-796', 'EE', 'Tartu', 'Rural municipality'),
    ('EE-803', 'EE', 'Toila', 'Rural municipality'),
    ('EE-809', 'EE', 'Tori', 'Rural municipality'),
    ('EE-81', 'EE', 'Valgamaa', 'County'),
    ('EE-824', 'EE', 'Tõrva', 'Rural municipality'),
    ('EE-834', 'EE', 'Türi', 'Rural municipality'),
    ('EE-84', 'EE', 'Viljandimaa', 'County'),
    ('EE-855', 'EE', 'Valga', 'Rural municipality'),
    ('EE-87', 'EE', 'Võrumaa', 'County'),
    ('EE-890', 'EE', 'Viimsi', 'Rural municipality'),
    ('EE-897', 'EE', 'Viljandi', 'Urban municipality'),
    ('EE-899', 'EE', 'Viljandi', 'Rural municipality'),
    ('EE-901', 'EE', 'Vinni', 'Rural municipality'),
    ('EE-903', 'EE', 'Viru-Nigula', 'Rural municipality'),
    ('EE-907', 'EE', 'Vormsi', 'Rural municipality'),
    ('EE-917', 'EE', 'Võru', 'Rural municipality'),
    ('EE-919', 'EE', 'Võru', 'Urban municipality'),
    ('EE-928', 'EE', 'Väike-Maarja', 'Rural municipality'),
    ('EG-ALX', 'EG', 'Al Iskandarīyah', 'Governorate'),
    ('EG-ASN', 'EG', 'Aswān', 'Governorate'),
    ('EG-AST', 'EG', 'Asyūţ', 'Governorate'),
    ('EG-BA', 'EG', 'Al Baḩr al Aḩmar', 'Governorate'),
    ('EG-BH', 'EG', 'Al Buḩayrah', 'Governorate'),
    ('EG-BNS', 'EG', 'Banī Suwayf', 'Governorate'),
    ('EG-C', 'EG', 'Al Qāhirah', 'Governorate'),
    ('EG-DK', 'EG', 'Ad Daqahlīyah', 'Governorate'),
    ('EG-DT', 'EG', 'Dumyāţ', 'Governorate'),
    ('EG-FYM', 'EG', 'Al Fayyūm', 'Governorate'),
    ('EG-GH', 'EG', 'Al Gharbīyah', 'Governorate'),
    ('EG-GZ', 'EG', 'Al Jīzah', 'Governorate'),
    ('EG-IS', 'EG', 'Al Ismā''īlīyah', 'Governorate'),
    ('EG-JS', 'EG', 'Janūb Sīnā''', 'Governorate'),
    ('EG-KB', 'EG', 'Al Qalyūbīyah', 'Governorate'),
    ('EG-KFS', 'EG', 'Kafr ash Shaykh', 'Governorate'),
    ('EG-KN', 'EG', 'Qinā', 'Governorate'),
    ('EG-LX', 'EG', 'Al Uqşur', 'Governorate'),
    ('EG-MN', 'EG', 'Al Minyā', 'Governorate'),
    ('EG-MNF', 'EG', 'Al Minūfīyah', 'Governorate'),
    ('EG-MT', 'EG', 'Maţrūḩ', 'Governorate'),
    ('EG-PTS', 'EG', 'Būr Sa‘īd', 'Governorate'),
    ('EG-SHG', 'EG', 'Sūhāj', 'Governorate'),
    ('EG-SHR', 'EG', 'Ash Sharqīyah', 'Governorate'),
    ('EG-SIN', 'EG', 'Shamāl Sīnā''', 'Governorate'),
    ('EG-SUZ', 'EG', 'As Suways', 'Governorate'),
    ('EG-WAD', 'EG', 'Al Wādī al Jadīd', 'Governorate'),
    ('ER-AN', 'ER', 'Ansabā', 'Region'),
    ('ER-DK', 'ER', 'Debubawi K’eyyĭḥ Baḥri', 'Region'),
    ('ER-DU', 'ER', 'Al Janūbī', 'Region'),
    ('ER-GB', 'ER', 'Gash-Barka', 'Region'),
    ('ER-MA', 'ER', 'Al Awsaţ', 'Region'),
    ('ER-SK', 'ER', 'Semienawi K’eyyĭḥ Baḥri', 'Region'),
    ('ES-A', 'ES', 'Alacant*', 'Province'),
    ('ES-AB', 'ES', 'Albacete', 'Province'),
    ('ES-AL', 'ES', 'Almería', 'Province'),
    ('ES-AN', 'ES', 'Andalucía', 'Autonomous community'),
    ('ES-AR', 'ES', 'Aragón', 'Autonomous community'),
    ('ES-AS', 'ES', 'Asturias, Principado de', 'Autonomous community'),
    ('ES-AV', 'ES', 'Ávila', 'Province'),
    ('ES-B', 'ES', 'Barcelona [Barcelona]', 'Province'),
    ('ES-BA', 'ES', 'Badajoz', 'Province'),
    ('ES-BI', 'ES', 'Bizkaia', 'Province'),
    ('ES-BU', 'ES', 'Burgos', 'Province'),
    ('ES-C', 'ES', 'A Coruña [La Coruña]', 'Province'),
    ('ES-CA', 'ES', 'Cádiz', 'Province'),
    ('ES-CB', 'ES', 'Cantabria', 'Autonomous community'),
    ('ES-CC', 'ES', 'Cáceres', 'Province'),
    ('ES-CE', 'ES', 'Ceuta', 'Autonomous city in north africa'),
    ('ES-CL', 'ES', 'Castilla y León', 'Autonomous community'),
    ('ES-CM', 'ES', 'Castilla-La Mancha', 'Autonomous community'),
    ('ES-CN', 'ES', 'Canarias', 'Autonomous community'),
    ('ES-CO', 'ES', 'Córdoba', 'Province'),
    ('ES-CR', 'ES', 'Ciudad Real', 'Province'),
    ('ES-CS', 'ES', 'Castelló*', 'Province'),
    ('ES-CT', 'ES', 'Catalunya [Cataluña]', 'Autonomous community'),
    ('ES-CU', 'ES', 'Cuenca', 'Province'),
    ('ES-EX', 'ES', 'Extremadura', 'Autonomous community'),
    ('ES-GA', 'ES', 'Galicia [Galicia]', 'Autonomous community'),
    ('ES-GC', 'ES', 'Las Palmas', 'Province'),
    ('ES-GI', 'ES', 'Girona [Gerona]', 'Province'),
    ('ES-GR', 'ES', 'Granada', 'Province'),
    ('ES-GU', 'ES', 'Guadalajara', 'Province'),
    ('ES-H', 'ES', 'Huelva', 'Province'),
    ('ES-HU', 'ES', 'Huesca', 'Province'),
    ('ES-IB', 'ES', 'Illes Balears [Islas Baleares]', 'Autonomous community'),
    ('ES-J', 'ES', 'Jaén', 'Province'),
    ('ES-L', 'ES', 'Lleida [Lérida]', 'Province'),
    ('ES-LE', 'ES', 'León', 'Province'),
    ('ES-LO', 'ES', 'La Rioja', 'Province'),
    ('ES-LU', 'ES', 'Lugo [Lugo]', 'Province'),
    ('ES-M', 'ES', 'Madrid', 'Province'),
    ('ES-MA', 'ES', 'Málaga', 'Province'),
    ('ES-MC', 'ES', 'Murcia, Región de', 'Autonomous community'),
    ('ES-MD', 'ES', 'Madrid, Comunidad de', 'Autonomous community'),
    ('ES-ML', 'ES', 'Melilla', 'Autonomous city in north africa'),
    ('ES-MU', 'ES', 'Murcia', 'Province'),
    ('ES-NA', 'ES', 'Nafarroa*', 'Province'),
    ('ES-NC', 'ES', 'Nafarroako Foru Komunitatea*', 'Autonomous community'),
    ('ES-O', 'ES', 'Asturias', 'Province'),
    ('ES-OR', 'ES', 'Ourense [Orense]', 'Province'),
    ('ES-P', 'ES', 'Palencia', 'Province'),
    ('ES-PM', 'ES', 'Illes Balears [Islas Baleares]', 'Province'),
    ('ES-PO', 'ES', 'Pontevedra [Pontevedra]', 'Province'),
    ('ES-PV', 'ES', 'Euskal Herria', 'Autonomous community'),
    ('ES-RI', 'ES', 'La Rioja', 'Autonomous community'),
    ('ES-S', 'ES', 'Cantabria', 'Province'),
    ('ES-SA', 'ES', 'Salamanca', 'Province'),
    ('ES-SE', 'ES', 'Sevilla', 'Province'),
    ('ES-SG', 'ES', 'Segovia', 'Province'),
    ('ES-SO', 'ES', 'Soria', 'Province'),
    ('ES-SS', 'ES', 'Gipuzkoa', 'Province'),
    ('ES-T', 'ES', 'Tarragona [Tarragona]', 'Province'),
    ('ES-TE', 'ES', 'Teruel', 'Province'),
    ('ES-TF', 'ES', 'Santa Cruz de Tenerife', 'Province'),
    ('ES-TO', 'ES', 'Toledo', 'Province'),
    ('ES-V', 'ES', 'Valencia', 'Province'),
    ('ES-VA', 'ES', 'Valladolid', 'Province'),
    ('ES-VC', 'ES', 'Valenciana, Comunidad', 'Autonomous community'),
    ('ES-VI', 'ES', 'Araba*', 'Province'),
    ('ES-Z', 'ES', 'Zaragoza', 'Province'),
    ('ES-ZA', 'ES', 'Zamora', 'Province'),
    ('ET-AA', 'ET', 'Addis Ababa', 'Administration'),
    ('ET-AF', 'ET', 'Afar', 'Regional state'),
    ('ET-AM', 'ET', 'Amara', 'Regional state'),
    ('ET-BE', 'ET', 'Benshangul-Gumaz', 'Regional state'),
    ('ET-DD', 'ET', 'Dire Dawa', 'Administration'),
    ('ET-GA', 'ET', 'Gambela Peoples', 'Regional state'),
    ('ET-HA', 'ET', 'Harari People', 'Regional state'),
    ('ET-OR', 'ET', 'Oromia', 'Regional state'),
    ('ET-SN', 'ET', 'Southern Nations, Nationalities and Peoples', 'Regional state'),
    ('ET-SO', 'ET', 'Somali', 'Regional state'),
    ('ET-TI', 'ET', 'Tigrai', 'Regional state'),
    ('FI-01', 'FI', 'Åland', 'Region'),
    ('FI-02', 'FI', 'Etelä-Karjala', 'Region'),
    ('FI-03', 'FI', 'Etelä-Pohjanmaa', 'Region'),
    ('FI-04', 'FI', 'Etelä-Savo', 'Region'),
    ('FI-05', 'FI', 'Kainuu', 'Region'),
    ('FI-06', 'FI', 'Kanta-Häme', 'Region'),
    ('FI-07', 'FI', 'Keski-Pohjanmaa', 'Region'),
    ('FI-08', 'FI', 'Keski-Suomi', 'Region'),
    ('FI-09', 'FI', 'Kymenlaakso', 'Region'),
    ('FI-10', 'FI', 'Lappi', 'Region'),
    ('FI-11', 'FI', 'Pirkanmaa', 'Region'),
    ('FI-12', 'FI', 'Pohjanmaa', 'Region'),
    ('FI-13', 'FI', 'Pohjois-Karjala', 'Region'),
    ('FI-14', 'FI', 'Pohjois-Pohjanmaa', 'Region'),
    ('FI-15', 'FI', 'Pohjois-Savo', 'Region'),
    ('FI-16', 'FI', 'Päijät-Häme', 'Region'),
    ('FI-17', 'FI', 'Satakunta', 'Region'),
    ('FI-18', 'FI', 'Uusimaa', 'Region'),
    ('FI-19', 'FI', 'Varsinais-Suomi', 'Region'),
    ('FJ-01', 'FJ', 'Ba', 'Province'),
    ('FJ-02', 'FJ', 'Bua', 'Province'),
    ('FJ-03', 'FJ', 'Cakaudrove', 'Province'),
    ('FJ-04', 'FJ', 'Kadavu', 'Province'),
    ('FJ-05', 'FJ', 'Lau', 'Province'),
    ('FJ-06', 'FJ', 'Lomaiviti', 'Province'),
    ('FJ-07', 'FJ', 'Macuata', 'Province'),
    ('FJ-08', 'FJ', 'Nadroga and Navosa', 'Province'),
    ('FJ-09', 'FJ', 'Naitasiri', 'Province'),
    ('FJ-10', 'FJ', 'Namosi', 'Province'),
    ('FJ-11', 'FJ', 'Ra', 'Province'),
    ('FJ-12', 'FJ', 'Rewa', 'Province'),
    ('FJ-13', 'FJ', 'Serua', 'Province'),
    ('FJ-14', 'FJ', 'Tailevu', 'Province'),
    ('FJ-C', 'FJ', 'Central', 'Division'),
    ('FJ-E', 'FJ', 'Eastern', 'Division'),
    ('FJ-N', 'FJ', 'Northern', 'Division'),
    ('FJ-R', 'FJ', 'Rotuma', 'Dependency'),
    ('FJ-W', 'FJ', 'Western', 'Division'),
    ('FM-KSA', 'FM', 'Kosrae', 'State'),
    ('FM-PNI', 'FM', 'Pohnpei', 'State'),
    ('FM-TRK', 'FM', 'Chuuk', 'State'),
    ('FM-YAP', 'FM', 'Yap', 'State'),
    ('FR-01', 'FR', 'Ain', 'Metropolitan department'),
    ('FR-02', 'FR', 'Aisne', 'Metropolitan department'),
    ('FR-03', 'FR', 'Allier', 'Metropolitan department'),
    ('FR-04', 'FR', 'Alpes-de-Haute-Provence', 'Metropolitan department'),
    ('FR-05', 'FR', 'Hautes-Alpes', 'Metropolitan department'),
    ('FR-06', 'FR', 'Alpes-Maritimes', 'Metropolitan department'),
    ('FR-07', 'FR', 'Ardèche', 'Metropolitan department'),
    ('FR-08', 'FR', 'Ardennes', 'Metropolitan department'),
    ('FR-09', 'FR', 'Ariège', 'Metropolitan department'),
    ('FR-10', 'FR', 'Aube', 'Metropolitan department'),
    ('FR-11', 'FR', 'Aude', 'Metropolitan department'),
    ('FR-12', 'FR', 'Aveyron', 'Metropolitan department'),
    ('FR-13', 'FR', 'Bouches-du-Rhône', 'Metropolitan department'),
    ('FR-14', 'FR', 'Calvados', 'Metropolitan department'),
    ('FR-15', 'FR', 'Cantal', 'Metropolitan department'),
    ('FR-16', 'FR', 'Charente', 'Metropolitan department'),
    ('FR-17', 'FR', 'Charente-Maritime', 'Metropolitan department'),
    ('FR-18', 'FR', 'Cher', 'Metropolitan department'),
    ('FR-19', 'FR', 'Corrèze', 'Metropolitan department'),
    ('FR-20R', 'FR', 'Corse', 'Metropolitan collectivity with special status'),
    ('FR-21', 'FR', 'Côte-d''Or', 'Metropolitan department'),
    ('FR-22', 'FR', 'Côtes-d''Armor', 'Metropolitan department'),
    ('FR-23', 'FR', 'Creuse', 'Metropolitan department'),
    ('FR-24', 'FR', 'Dordogne', 'Metropolitan department'),
    ('FR-25', 'FR', 'Doubs', 'Metropolitan department'),
    ('FR-26', 'FR', 'Drôme', 'Metropolitan department'),
    ('FR-27', 'FR', 'Eure', 'Metropolitan department'),
    ('FR-28', 'FR', 'Eure-et-Loir', 'Metropolitan department'),
    ('FR-29', 'FR', 'Finistère', 'Metropolitan department'),
    ('FR-2A', 'FR', 'Corse-du-Sud', 'Metropolitan department'),
    ('FR-2B', 'FR', 'Haute-Corse', 'Metropolitan department'),
    ('FR-30', 'FR', 'Gard', 'Metropolitan department'),
    ('FR-31', 'FR', 'Haute-Garonne', 'Metropolitan department'),
    ('FR-32', 'FR', 'Gers', 'Metropolitan department'),
    ('FR-33', 'FR', 'Gironde', 'Metropolitan department'),
    ('FR-34', 'FR', 'Hérault', 'Metropolitan department'),
    ('FR-35', 'FR', 'Ille-et-Vilaine', 'Metropolitan department'),
    ('FR-36', 'FR', 'Indre', 'Metropolitan department'),
    ('FR-37', 'FR', 'Indre-et-Loire', 'Metropolitan department'),
    ('FR-38', 'FR', 'Isère', 'Metropolitan department'),
    ('FR-39', 'FR', 'Jura', 'Metropolitan department'),
    ('FR-40', 'FR', 'Landes', 'Metropolitan department'),
    ('FR-41', 'FR', 'Loir-et-Cher', 'Metropolitan department'),
    ('FR-42', 'FR', 'Loire', 'Metropolitan department'),
    ('FR-43', 'FR', 'Haute-Loire', 'Metropolitan department'),
    ('FR-44', 'FR', 'Loire-Atlantique', 'Metropolitan department'),
    ('FR-45', 'FR', 'Loiret', 'Metropolitan department'),
    ('FR-46', 'FR', 'Lot', 'Metropolitan department'),
    ('FR-47', 'FR', 'Lot-et-Garonne', 'Metropolitan department'),
    ('FR-48', 'FR', 'Lozère', 'Metropolitan department'),
    ('FR-49', 'FR', 'Maine-et-Loire', 'Metropolitan department'),
    ('FR-50', 'FR', 'Manche', 'Metropolitan department'),
    ('FR-51', 'FR', 'Marne', 'Metropolitan department'),
    ('FR-52', 'FR', 'Haute-Marne', 'Metropolitan department'),
    ('FR-53', 'FR', 'Mayenne', 'Metropolitan department'),
    ('FR-54', 'FR', 'Meurthe-et-Moselle', 'Metropolitan department'),
    ('FR-55', 'FR', 'Meuse', 'Metropolitan department'),
    ('FR-56', 'FR', 'Morbihan', 'Metropolitan department'),
    ('FR-57', 'FR', 'Moselle', 'Metropolitan department'),
    ('FR-58', 'FR', 'Nièvre', 'Metropolitan department'),
    ('FR-59', 'FR', 'Nord', 'Metropolitan department'),
    ('FR-60', 'FR', 'Oise', 'Metropolitan department'),
    ('FR-61', 'FR', 'Orne', 'Metropolitan department'),
    ('FR-62', 'FR', 'Pas-de-Calais', 'Metropolitan department'),
    ('FR-63', 'FR', 'Puy-de-Dôme', 'Metropolitan department'),
    ('FR-64', 'FR', 'Pyrénées-Atlantiques', 'Metropolitan department'),
    ('FR-65', 'FR', 'Hautes-Pyrénées', 'Metropolitan department'),
    ('FR-66', 'FR', 'Pyrénées-Orientales', 'Metropolitan department'),
    ('FR-67', 'FR', 'Bas-Rhin', 'Metropolitan department'),
    ('FR-68', 'FR', 'Haut-Rhin', 'Metropolitan department'),
    ('FR-69', 'FR', 'Rhône', 'Metropolitan department'),
    ('FR-70', 'FR', 'Haute-Saône', 'Metropolitan department'),
    ('FR-71', 'FR', 'Saône-et-Loire', 'Metropolitan department'),
    ('FR-72', 'FR', 'Sarthe', 'Metropolitan department'),
    ('FR-73', 'FR', 'Savoie', 'Metropolitan department'),
    ('FR-74', 'FR', 'Haute-Savoie', 'Metropolitan department'),
    ('FR-75', 'FR', 'Paris', 'Metropolitan department'),
    ('FR-76', 'FR', 'Seine-Maritime', 'Metropolitan department'),
    ('FR-77', 'FR', 'Seine-et-Marne', 'Metropolitan department'),
    ('FR-78', 'FR', 'Yvelines', 'Metropolitan department'),
    ('FR-79', 'FR', 'Deux-Sèvres', 'Metropolitan department'),
    ('FR-80', 'FR', 'Somme', 'Metropolitan department'),
    ('FR-81', 'FR', 'Tarn', 'Metropolitan department'),
    ('FR-82', 'FR', 'Tarn-et-Garonne', 'Metropolitan department'),
    ('FR-83', 'FR', 'Var', 'Metropolitan department'),
    ('FR-84', 'FR', 'Vaucluse', 'Metropolitan department'),
    ('FR-85', 'FR', 'Vendée', 'Metropolitan department'),
    ('FR-86', 'FR', 'Vienne', 'Metropolitan department'),
    ('FR-87', 'FR', 'Haute-Vienne', 'Metropolitan department'),
    ('FR-88', 'FR', 'Vosges', 'Metropolitan department'),
    ('FR-89', 'FR', 'Yonne', 'Metropolitan department'),
    ('FR-90', 'FR', 'Territoire de Belfort', 'Metropolitan department'),
    ('FR-91', 'FR', 'Essonne', 'Metropolitan department'),
    ('FR-92', 'FR', 'Hauts-de-Seine', 'Metropolitan department'),
    ('FR-93', 'FR', 'Seine-Saint-Denis', 'Metropolitan department'),
    ('FR-94', 'FR', 'Val-de-Marne', 'Metropolitan department'),
    ('FR-95', 'FR', 'Val-d''Oise', 'Metropolitan department'),
    ('FR-971', 'FR', 'Guadeloupe', 'Overseas department'),
    ('FR-972', 'FR', 'Martinique', 'Overseas department'),
    ('FR-973', 'FR', 'Guyane (française)', 'Overseas department'),
    ('FR-974', 'FR', 'La Réunion', 'Overseas department'),
    ('FR-976', 'FR', 'Mayotte', 'Overseas department'),
    ('FR-ARA', 'FR', 'Auvergne-Rhône-Alpes', 'Metropolitan region'),
    ('FR-BFC', 'FR', 'Bourgogne-Franche-Comté', 'Metropolitan region'),
    ('FR-BL', 'FR', 'Saint-Barthélemy', 'Overseas collectivity'),
    ('FR-BRE', 'FR', 'Bretagne', 'Metropolitan region'),
    ('FR-CP', 'FR', 'Clipperton', 'Dependency'),
    ('FR-CVL', 'FR', 'Centre-Val de Loire', 'Metropolitan region'),
    ('FR-GES', 'FR', 'Grand-Est', 'Metropolitan region'),
    ('FR-GF', 'FR', 'Guyane (française)', 'Overseas region'),
    ('FR-GP', 'FR', 'Guadeloupe', 'Overseas region'),
    ('FR-HDF', 'FR', 'Hauts-de-France', 'Metropolitan region'),
    ('FR-IDF', 'FR', 'Île-de-France', 'Metropolitan region'),
    ('FR-MF', 'FR', 'Saint-Martin', 'Overseas collectivity'),
    ('FR-MQ', 'FR', 'Martinique', 'Overseas region'),
    ('FR-NAQ', 'FR', 'Nouvelle-Aquitaine', 'Metropolitan region'),
    ('FR-NC', 'FR', 'Nouvelle-Calédonie', 'Overseas collectivity with special status'),
    ('FR-NOR', 'FR', 'Normandie', 'Metropolitan region'),
    ('FR-OCC', 'FR', 'Occitanie', 'Metropolitan region'),
    ('FR-PAC', 'FR', 'Provence-Alpes-Côte-d’Azur', 'Metropolitan region'),
    ('FR-PDL', 'FR', 'Pays-de-la-Loire', 'Metropolitan region'),
    ('FR-PF', 'FR', 'Polynésie française', 'Overseas collectivity'),
    ('FR-PM', 'FR', 'Saint-Pierre-et-Miquelon', 'Overseas collectivity'),
    ('FR-RE', 'FR', 'La Réunion', 'Overseas region'),
    ('FR-TF', 'FR', 'Terres australes françaises', 'Overseas territory'),
    ('FR-WF', 'FR', 'Wallis-et-Futuna', 'Overseas collectivity'),
    ('FR-YT', 'FR', 'Mayotte', 'Overseas region'),
    ('GA-1', 'GA', 'Estuaire', 'Province'),
    ('GA-2', 'GA', 'Haut-Ogooué', 'Province'),
    ('GA-3', 'GA', 'Moyen-Ogooué', 'Province'),
    ('GA-4', 'GA', 'Ngounié', 'Province'),
    ('GA-5', 'GA', 'Nyanga', 'Province'),
    ('GA-6', 'GA', 'Ogooué-Ivindo', 'Province'),
    ('GA-7', 'GA', 'Ogooué-Lolo', 'Province'),
    ('GA-8', 'GA', 'Ogooué-Maritime', 'Province'),
    ('GA-9', 'GA', 'Woleu-Ntem', 'Province'),
    ('GB-ABC', 'GB', 'Armagh City, Banbridge and Craigavon', 'District'),
    ('GB-ABD', 'GB', 'Aberdeenshire', 'Council area'),
    ('GB-ABE', 'GB', 'Aberdeen City', 'Council area'),
    ('GB-AGB', 'GB', 'Argyll and Bute', 'Council area'),
    ('GB-AGY', 'GB', 'Isle of Anglesey [Sir Ynys Môn GB-YNM]', 'Unitary authority'),
    ('GB-AND', 'GB', 'Ards and North Down', 'District'),
    ('GB-ANN', 'GB', 'Antrim and Newtownabbey', 'District'),
    ('GB-ANS', 'GB', 'Angus', 'Council area'),
    ('GB-BAS', 'GB', 'Bath and North East Somerset', 'Unitary authority'),
    ('GB-BBD', 'GB', 'Blackburn with Darwen', 'Unitary authority'),
    ('GB-BCP', 'GB', 'Bournemouth, Christchurch and Poole', 'Unitary authority'),
    ('GB-BDF', 'GB', 'Bedford', 'Unitary authority'),
    ('GB-BDG', 'GB', 'Barking and Dagenham', 'London borough'),
    ('GB-BEN', 'GB', 'Brent', 'London borough'),
    ('GB-BEX', 'GB', 'Bexley', 'London borough'),
    ('GB-BFS', 'GB', 'Belfast City', 'District'),
    ('GB-BGE', 'GB', 'Bridgend [Pen-y-bont ar Ogwr GB-POG]', 'Unitary authority'),
    ('GB-BGW', 'GB', 'Blaenau Gwent', 'Unitary authority'),
    ('GB-BIR', 'GB', 'Birmingham', 'Metropolitan district'),
    ('GB-BKM', 'GB', 'Buckinghamshire', 'Two-tier county'),
    ('GB-BNE', 'GB', 'Barnet', 'London borough'),
    ('GB-BNH', 'GB', 'Brighton and Hove', 'Unitary authority'),
    ('GB-BNS', 'GB', 'Barnsley', 'Metropolitan district'),
    ('GB-BOL', 'GB', 'Bolton', 'Metropolitan district'),
    ('GB-BPL', 'GB', 'Blackpool', 'Unitary authority'),
    ('GB-BRC', 'GB', 'Bracknell Forest', 'Unitary authority'),
    ('GB-BRD', 'GB', 'Bradford', 'Metropolitan district'),
    ('GB-BRY', 'GB', 'Bromley', 'London borough'),
    ('GB-BST', 'GB', 'Bristol, City of', 'Unitary authority'),
    ('GB-BUR', 'GB', 'Bury', 'Metropolitan district'),
    ('GB-CAM', 'GB', 'Cambridgeshire', 'Two-tier county'),
    ('GB-CAY', 'GB', 'Caerphilly [Caerffili GB-CAF]', 'Unitary authority'),
    ('GB-CBF', 'GB', 'Central Bedfordshire', 'Unitary authority'),
    ('GB-CCG', 'GB', 'Causeway Coast and Glens', 'District'),
    ('GB-CGN', 'GB', 'Ceredigion [Sir Ceredigion]', 'Unitary authority'),
    ('GB-CHE', 'GB', 'Cheshire East', 'Unitary authority'),
    ('GB-CHW', 'GB', 'Cheshire West and Chester', 'Unitary authority'),
    ('GB-CLD', 'GB', 'Calderdale', 'Metropolitan district'),
    ('GB-CLK', 'GB', 'Clackmannanshire', 'Council area'),
    ('GB-CMA', 'GB', 'Cumbria', 'Two-tier county'),
    ('GB-CMD', 'GB', 'Camden', 'London borough'),
    ('GB-CMN', 'GB', 'Carmarthenshire [Sir Gaerfyrddin GB-GFY]', 'Unitary authority'),
    ('GB-CON', 'GB', 'Cornwall', 'Unitary authority'),
    ('GB-COV', 'GB', 'Coventry', 'Metropolitan district'),
    ('GB-CRF', 'GB', 'Cardiff [Caerdydd GB-CRD]', 'Unitary authority'),
    ('GB-CRY', 'GB', 'Croydon', 'London borough'),
    ('GB-CWY', 'GB', 'Conwy', 'Unitary authority'),
    ('GB-DAL', 'GB', 'Darlington', 'Unitary authority'),
    ('GB-DBY', 'GB', 'Derbyshire', 'Two-tier county'),
    ('GB-DEN', 'GB', 'Denbighshire [Sir Ddinbych GB-DDB]', 'Unitary authority'),
    ('GB-DER', 'GB', 'Derby', 'Unitary authority'),
    ('GB-DEV', 'GB', 'Devon', 'Two-tier county'),
    ('GB-DGY', 'GB', 'Dumfries and Galloway', 'Council area'),
    ('GB-DNC', 'GB', 'Doncaster', 'Metropolitan district'),
    ('GB-DND', 'GB', 'Dundee City', 'Council area'),
    ('GB-DOR', 'GB', 'Dorset', 'Two-tier county'),
    ('GB-DRS', 'GB', 'Derry and Strabane', 'District'),
    ('GB-DUD', 'GB', 'Dudley', 'Metropolitan district'),
    ('GB-DUR', 'GB', 'Durham, County', 'Unitary authority'),
    ('GB-EAL', 'GB', 'Ealing', 'London borough'),
    ('GB-EAY', 'GB', 'East Ayrshire', 'Council area'),
    ('GB-EDH', 'GB', 'Edinburgh, City of', 'Council area'),
    ('GB-EDU', 'GB', 'East Dunbartonshire', 'Council area'),
    ('GB-ELN', 'GB', 'East Lothian', 'Council area'),
    ('GB-ELS', 'GB', 'Eilean Siar', 'Council area'),
    ('GB-ENF', 'GB', 'Enfield', 'London borough'),
    ('GB-ENG', 'GB', 'England', 'Country'),
    ('GB-ERW', 'GB', 'East Renfrewshire', 'Council area'),
    ('GB-ERY', 'GB', 'East Riding of Yorkshire', 'Unitary authority'),
    ('GB-ESS', 'GB', 'Essex', 'Two-tier county'),
    ('GB-ESX', 'GB', 'East Sussex', 'Two-tier county'),
    ('GB-FAL', 'GB', 'Falkirk', 'Council area'),
    ('GB-FIF', 'GB', 'Fife', 'Council area'),
    ('GB-FLN', 'GB', 'Flintshire [Sir y Fflint GB-FFL]', 'Unitary authority'),
    ('GB-FMO', 'GB', 'Fermanagh and Omagh', 'District'),
    ('GB-GAT', 'GB', 'Gateshead', 'Metropolitan district'),
    ('GB-GLG', 'GB', 'Glasgow City', 'Council area'),
    ('GB-GLS', 'GB', 'Gloucestershire', 'Two-tier county'),
    ('GB-GRE', 'GB', 'Greenwich', 'London borough'),
    ('GB-GWN', 'GB', 'Gwynedd', 'Unitary authority'),
    ('GB-HAL', 'GB', 'Halton', 'Unitary authority'),
    ('GB-HAM', 'GB', 'Hampshire', 'Two-tier county'),
    ('GB-HAV', 'GB', 'Havering', 'London borough'),
    ('GB-HCK', 'GB', 'Hackney', 'London borough'),
    ('GB-HEF', 'GB', 'Herefordshire', 'Unitary authority'),
    ('GB-HIL', 'GB', 'Hillingdon', 'London borough'),
    ('GB-HLD', 'GB', 'Highland', 'Council area'),
    ('GB-HMF', 'GB', 'Hammersmith and Fulham', 'London borough'),
    ('GB-HNS', 'GB', 'Hounslow', 'London borough'),
    ('GB-HPL', 'GB', 'Hartlepool', 'Unitary authority'),
    ('GB-HRT', 'GB', 'Hertfordshire', 'Two-tier county'),
    ('GB-HRW', 'GB', 'Harrow', 'London borough'),
    ('GB-HRY', 'GB', 'Haringey', 'London borough'),
    ('GB-IOS', 'GB', 'Isles of Scilly', 'Unitary authority'),
    ('GB-IOW', 'GB', 'Isle of Wight', 'Unitary authority'),
    ('GB-ISL', 'GB', 'Islington', 'London borough'),
    ('GB-IVC', 'GB', 'Inverclyde', 'Council area'),
    ('GB-KEC', 'GB', 'Kensington and Chelsea', 'London borough'),
    ('GB-KEN', 'GB', 'Kent', 'Two-tier county'),
    ('GB-KHL', 'GB', 'Kingston upon Hull', 'Unitary authority'),
    ('GB-KIR', 'GB', 'Kirklees', 'Metropolitan district'),
    ('GB-KTT', 'GB', 'Kingston upon Thames', 'London borough'),
    ('GB-KWL', 'GB', 'Knowsley', 'Metropolitan district'),
    ('GB-LAN', 'GB', 'Lancashire', 'Two-tier county'),
    ('GB-LBC', 'GB', 'Lisburn and Castlereagh', 'District'),
    ('GB-LBH', 'GB', 'Lambeth', 'London borough'),
    ('GB-LCE', 'GB', 'Leicester', 'Unitary authority'),
    ('GB-LDS', 'GB', 'Leeds', 'Metropolitan district'),
    ('GB-LEC', 'GB', 'Leicestershire', 'Two-tier county'),
    ('GB-LEW', 'GB', 'Lewisham', 'London borough'),
    ('GB-LIN', 'GB', 'Lincolnshire', 'Two-tier county'),
    ('GB-LIV', 'GB', 'Liverpool', 'Metropolitan district'),
    ('GB-LND', 'GB', 'London, City of', 'City corporation'),
    ('GB-LUT', 'GB', 'Luton', 'Unitary authority'),
    ('GB-MAN', 'GB', 'Manchester', 'Metropolitan district'),
    ('GB-MDB', 'GB', 'Middlesbrough', 'Unitary authority'),
    ('GB-MDW', 'GB', 'Medway', 'Unitary authority'),
    ('GB-MEA', 'GB', 'Mid and East Antrim', 'District'),
    ('GB-MIK', 'GB', 'Milton Keynes', 'Unitary authority'),
    ('GB-MLN', 'GB', 'Midlothian', 'Council area'),
    ('GB-MON', 'GB', 'Monmouthshire [Sir Fynwy GB-FYN]', 'Unitary authority'),
    ('GB-MRT', 'GB', 'Merton', 'London borough'),
    ('GB-MRY', 'GB', 'Moray', 'Council area'),
    ('GB-MTY', 'GB', 'Merthyr Tydfil [Merthyr Tudful GB-MTU]', 'Unitary authority'),
    ('GB-MUL', 'GB', 'Mid-Ulster', 'District'),
    ('GB-NAY', 'GB', 'North Ayrshire', 'Council area'),
    ('GB-NBL', 'GB', 'Northumberland', 'Unitary authority'),
    ('GB-NEL', 'GB', 'North East Lincolnshire', 'Unitary authority'),
    ('GB-NET', 'GB', 'Newcastle upon Tyne', 'Metropolitan district'),
    ('GB-NFK', 'GB', 'Norfolk', 'Two-tier county'),
    ('GB-NGM', 'GB', 'Nottingham', 'Unitary authority'),
    ('GB-NIR', 'GB', 'Northern Ireland', 'Province'),
    ('GB-NLK', 'GB', 'North Lanarkshire', 'Council area'),
    ('GB-NLN', 'GB', 'North Lincolnshire', 'Unitary authority'),
    ('GB-NMD', 'GB', 'Newry, Mourne and Down', 'District'),
    ('GB-NSM', 'GB', 'North Somerset', 'Unitary authority'),
    ('GB-NTH', 'GB', 'Northamptonshire', 'Two-tier county'),
    ('GB-NTL', 'GB', 'Neath Port Talbot [Castell-nedd Port Talbot GB-CTL]', 'Unitary authority'),
    ('GB-NTT', 'GB', 'Nottinghamshire', 'Two-tier county'),
    ('GB-NTY', 'GB', 'North Tyneside', 'Metropolitan district'),
    ('GB-NWM', 'GB', 'Newham', 'London borough'),
    ('GB-NWP', 'GB', 'Newport [Casnewydd GB-CNW]', 'Unitary authority'),
    ('GB-NYK', 'GB', 'North Yorkshire', 'Two-tier county'),
    ('GB-OLD', 'GB', 'Oldham', 'Metropolitan district'),
    ('GB-ORK', 'GB', 'Orkney Islands', 'Council area'),
    ('GB-OXF', 'GB', 'Oxfordshire', 'Two-tier county'),
    ('GB-PEM', 'GB', 'Pembrokeshire [Sir Benfro GB-BNF]', 'Unitary authority'),
    ('GB-PKN', 'GB', 'Perth and Kinross', 'Council area'),
    ('GB-PLY', 'GB', 'Plymouth', 'Unitary authority'),
    ('GB-POR', 'GB', 'Portsmouth', 'Unitary authority'),
    ('GB-POW', 'GB', 'Powys', 'Unitary authority'),
    ('GB-PTE', 'GB', 'Peterborough', 'Unitary authority'),
    ('GB-RCC', 'GB', 'Redcar and Cleveland', 'Unitary authority'),
    ('GB-RCH', 'GB', 'Rochdale', 'Metropolitan district'),
    ('GB-RCT', 'GB', 'Rhondda Cynon Taff [Rhondda CynonTaf]', 'Unitary authority'),
    ('GB-RDB', 'GB', 'Redbridge', 'London borough'),
    ('GB-RDG', 'GB', 'Reading', 'Unitary authority'),
    ('GB-RFW', 'GB', 'Renfrewshire', 'Council area'),
    ('GB-RIC', 'GB', 'Richmond upon Thames', 'London borough'),
    ('GB-ROT', 'GB', 'Rotherham', 'Metropolitan district'),
    ('GB-RUT', 'GB', 'Rutland', 'Unitary authority'),
    ('GB-SAW', 'GB', 'Sandwell', 'Metropolitan district'),
    ('GB-SAY', 'GB', 'South Ayrshire', 'Council area'),
    ('GB-SCB', 'GB', 'Scottish Borders', 'Council area'),
    ('GB-SCT', 'GB', 'Scotland', 'Country'),
    ('GB-SFK', 'GB', 'Suffolk', 'Two-tier county'),
    ('GB-SFT', 'GB', 'Sefton', 'Metropolitan district'),
    ('GB-SGC', 'GB', 'South Gloucestershire', 'Unitary authority'),
    ('GB-SHF', 'GB', 'Sheffield', 'Metropolitan district'),
    ('GB-SHN', 'GB', 'St. Helens', 'Metropolitan district'),
    ('GB-SHR', 'GB', 'Shropshire', 'Unitary authority'),
    ('GB-SKP', 'GB', 'Stockport', 'Metropolitan district'),
    ('GB-SLF', 'GB', 'Salford', 'Metropolitan district'),
    ('GB-SLG', 'GB', 'Slough', 'Unitary authority'),
    ('GB-SLK', 'GB', 'South Lanarkshire', 'Council area'),
    ('GB-SND', 'GB', 'Sunderland', 'Metropolitan district'),
    ('GB-SOL', 'GB', 'Solihull', 'Metropolitan district'),
    ('GB-SOM', 'GB', 'Somerset', 'Two-tier county'),
    ('GB-SOS', 'GB', 'Southend-on-Sea', 'Unitary authority'),
    ('GB-SRY', 'GB', 'Surrey', 'Two-tier county'),
    ('GB-STE', 'GB', 'Stoke-on-Trent', 'Unitary authority'),
    ('GB-STG', 'GB', 'Stirling', 'Council area'),
    ('GB-STH', 'GB', 'Southampton', 'Unitary authority'),
    ('GB-STN', 'GB', 'Sutton', 'London borough'),
    ('GB-STS', 'GB', 'Staffordshire', 'Two-tier county'),
    ('GB-STT', 'GB', 'Stockton-on-Tees', 'Unitary authority'),
    ('GB-STY', 'GB', 'South Tyneside', 'Metropolitan district'),
    ('GB-SWA', 'GB', 'Swansea [Abertawe GB-ATA]', 'Unitary authority'),
    ('GB-SWD', 'GB', 'Swindon', 'Unitary authority'),
    ('GB-SWK', 'GB', 'Southwark', 'London borough'),
    ('GB-TAM', 'GB', 'Tameside', 'Metropolitan district'),
    ('GB-TFW', 'GB', 'Telford and Wrekin', 'Unitary authority'),
    ('GB-THR', 'GB', 'Thurrock', 'Unitary authority'),
    ('GB-TOB', 'GB', 'Torbay', 'Unitary authority'),
    ('GB-TOF', 'GB', 'Torfaen [Tor-faen]', 'Unitary authority'),
    ('GB-TRF', 'GB', 'Trafford', 'Metropolitan district'),
    ('GB-TWH', 'GB', 'Tower Hamlets', 'London borough'),
    ('GB-VGL', 'GB', 'Vale of Glamorgan, The [Bro Morgannwg GB-BMG]', 'Unitary authority'),
    ('GB-WAR', 'GB', 'Warwickshire', 'Two-tier county'),
    ('GB-WBK', 'GB', 'West Berkshire', 'Unitary authority'),
    ('GB-WDU', 'GB', 'West Dunbartonshire', 'Council area'),
    ('GB-WFT', 'GB', 'Waltham Forest', 'London borough'),
    ('GB-WGN', 'GB', 'Wigan', 'Metropolitan district'),
    ('GB-WIL', 'GB', 'Wiltshire', 'Unitary authority'),
    ('GB-WKF', 'GB', 'Wakefield', 'Metropolitan district'),
    ('GB-WLL', 'GB', 'Walsall', 'Metropolitan district'),
    ('GB-WLN', 'GB', 'West Lothian', 'Council area'),
    ('GB-WLS', 'GB', 'Wales [Cymru GB-CYM]', 'Country'),
    ('GB-WLV', 'GB', 'Wolverhampton', 'Metropolitan district'),
    ('GB-WND', 'GB', 'Wandsworth', 'London borough'),
    ('GB-WNM', 'GB', 'Windsor and Maidenhead', 'Unitary authority'),
    ('GB-WOK', 'GB', 'Wokingham', 'Unitary authority'),
    ('GB-WOR', 'GB', 'Worcestershire', 'Two-tier county'),
    ('GB-WRL', 'GB', 'Wirral', 'Metropolitan district'),
    ('GB-WRT', 'GB', 'Warrington', 'Unitary authority'),
    ('GB-WRX', 'GB', 'Wrexham [Wrecsam GB-WRC]', 'Unitary authority'),
    ('GB-WSM', 'GB', 'Westminster', 'London borough'),
    ('GB-WSX', 'GB', 'West Sussex', 'Two-tier county'),
    ('GB-YOR', 'GB', 'York', 'Unitary authority'),
    ('GB-ZET', 'GB', 'Shetland Islands', 'Council area'),
    ('GD-01', 'GD', 'Saint Andrew', 'Parish'),
    ('GD-02', 'GD', 'Saint David', 'Parish'),
    ('GD-03', 'GD', 'Saint George', 'Parish'),
    ('GD-04', 'GD', 'Saint John', 'Parish'),
    ('GD-05', 'GD', 'Saint Mark', 'Parish'),
    ('GD-06', 'GD', 'Saint Patrick', 'Parish'),
    ('GD-10', 'GD', 'Southern Grenadine Islands', 'Dependency'),
    ('GE-AB', 'GE', 'Abkhazia', 'Autonomous republic'),
    ('GE-AJ', 'GE', 'Ajaria', 'Autonomous republic'),
    ('GE-GU', 'GE', 'Guria', 'Region'),
    ('GE-IM', 'GE', 'Imereti', 'Region'),
    ('GE-KA', 'GE', 'K''akheti', 'Region'),
    ('GE-KK', 'GE', 'Kvemo Kartli', 'Region'),
    ('GE-MM', 'GE', 'Mtskheta-Mtianeti', 'Region'),
    ('GE-RL', 'GE', 'Rach''a-Lechkhumi-Kvemo Svaneti', 'Region'),
    ('GE-SJ', 'GE', 'Samtskhe-Javakheti', 'Region'),
    ('GE-SK', 'GE', 'Shida Kartli', 'Region'),
    ('GE-SZ', 'GE', 'Samegrelo-Zemo Svaneti', 'Region'),
    ('GE-TB', 'GE', 'Tbilisi', 'City'),
    ('GH-AA', 'GH', 'Greater Accra', 'Region'),
    ('GH-AF', 'GH', 'Ahafo', 'Region'),
    ('GH-AH', 'GH', 'Ashanti', 'Region'),
    ('GH-BE', 'GH', 'Bono East', 'Region'),
    ('GH-BO', 'GH', 'Bono', 'Region'),
    ('GH-CP', 'GH', 'Central', 'Region'),
    ('GH-EP', 'GH', 'Eastern', 'Region'),
    ('GH-NE', 'GH', 'North East', 'Region'),
    ('GH-NP', 'GH', 'Northern', 'Region'),
    ('GH-OT', 'GH', 'Oti', 'Region'),
    ('GH-SV', 'GH', 'Savannah', 'Region'),
    ('GH-TV', 'GH', 'Volta', 'Region'),
    ('GH-UE', 'GH', 'Upper East', 'Region'),
    ('GH-UW', 'GH', 'Upper West', 'Region'),
    ('GH-WN', 'GH', 'Western North', 'Region'),
    ('GH-WP', 'GH', 'Western', 'Region'),
    ('GL-AV', 'GL', 'Avannaata Kommunia', 'Municipality'),
    ('GL-KU', 'GL', 'Kommune Kujalleq', 'Municipality'),
    ('GL-QE', 'GL', 'Qeqqata Kommunia', 'Municipality'),
    ('GL-QT', 'GL', 'Kommune Qeqertalik', 'Municipality'),
    ('GL-SM', 'GL', 'Kommuneqarfik Sermersooq', 'Municipality'),
    ('GM-B', 'GM', 'Banjul', 'City'),
    ('GM-L', 'GM', 'Lower River', 'Division'),
    ('GM-M', 'GM', 'Central River', 'Division'),
    ('GM-N', 'GM', 'North Bank', 'Division'),
    ('GM-U', 'GM', 'Upper River', 'Division'),
    ('GM-W', 'GM', 'Western', 'Division'),
    ('GN-B', 'GN', 'Boké', 'Administrative region'),
    ('GN-BE', 'GN', 'Beyla', 'Prefecture'),
    ('GN-BF', 'GN', 'Boffa', 'Prefecture'),
    ('GN-BK', 'GN', 'Boké', 'Prefecture'),
    ('GN-C', 'GN', 'Conakry', 'Governorate'),
    ('GN-CO', 'GN', 'Coyah', 'Prefecture'),
    ('GN-D', 'GN', 'Kindia', 'Administrative region'),
    ('GN-DB', 'GN', 'Dabola', 'Prefecture'),
    ('GN-DI', 'GN', 'Dinguiraye', 'Prefecture'),
    ('GN-DL', 'GN', 'Dalaba', 'Prefecture'),
    ('GN-DU', 'GN', 'Dubréka', 'Prefecture'),
    ('GN-F', 'GN', 'Faranah', 'Administrative region'),
    ('GN-FA', 'GN', 'Faranah', 'Prefecture'),
    ('GN-FO', 'GN', 'Forécariah', 'Prefecture'),
    ('GN-FR', 'GN', 'Fria', 'Prefecture'),
    ('GN-GA', 'GN', 'Gaoual', 'Prefecture'),
    ('GN-GU', 'GN', 'Guékédou', 'Prefecture'),
    ('GN-K', 'GN', 'Kankan', 'Administrative region'),
    ('GN-KA', 'GN', 'Kankan', 'Prefecture'),
    ('GN-KB', 'GN', 'Koubia', 'Prefecture'),
    ('GN-KD', 'GN', 'Kindia', 'Prefecture'),
    ('GN-KE', 'GN', 'Kérouané', 'Prefecture'),
    ('GN-KN', 'GN', 'Koundara', 'Prefecture'),
    ('GN-KO', 'GN', 'Kouroussa', 'Prefecture'),
    ('GN-KS', 'GN', 'Kissidougou', 'Prefecture'),
    ('GN-L', 'GN', 'Labé', 'Administrative region'),
    ('GN-LA', 'GN', 'Labé', 'Prefecture'),
    ('GN-LE', 'GN', 'Lélouma', 'Prefecture'),
    ('GN-LO', 'GN', 'Lola', 'Prefecture'),
    ('GN-M', 'GN', 'Mamou', 'Administrative region'),
    ('GN-MC', 'GN', 'Macenta', 'Prefecture'),
    ('GN-MD', 'GN', 'Mandiana', 'Prefecture'),
    ('GN-ML', 'GN', 'Mali', 'Prefecture'),
    ('GN-MM', 'GN', 'Mamou', 'Prefecture'),
    ('GN-N', 'GN', 'Nzérékoré', 'Administrative region'),
    ('GN-NZ', 'GN', 'Nzérékoré', 'Prefecture'),
    ('GN-PI', 'GN', 'Pita', 'Prefecture'),
    ('GN-SI', 'GN', 'Siguiri', 'Prefecture'),
    ('GN-TE', 'GN', 'Télimélé', 'Prefecture'),
    ('GN-TO', 'GN', 'Tougué', 'Prefecture'),
    ('GN-YO', 'GN', 'Yomou', 'Prefecture'),
    ('GQ-AN', 'GQ', 'Annobon', 'Province'),
    ('GQ-BN', 'GQ', 'Bioko Nord', 'Province'),
    ('GQ-BS', 'GQ', 'Bioko Sud', 'Province'),
    ('GQ-C', 'GQ', 'Região Continental', 'Region'),
    ('GQ-CS', 'GQ', 'Centro Sud', 'Province'),
    ('GQ-DJ', 'GQ', 'Djibloho', 'Province'),
    ('GQ-I', 'GQ', 'Região Insular', 'Region'),
    ('GQ-KN', 'GQ', 'Kié-Ntem', 'Province'),
    ('GQ-LI', 'GQ', 'Litoral', 'Province'),
    ('GQ-WN', 'GQ', 'Wele-Nzas', 'Province'),
    ('GR-69', 'GR', 'Ágion Óros', 'Self-governed part'),
    ('GR-A', 'GR', 'Anatolikí Makedonía kai Thráki', 'Administrative region'),
    ('GR-B', 'GR', 'Kentrikí Makedonía', 'Administrative region'),
    ('GR-C', 'GR', 'Dytikí Makedonía', 'Administrative region'),
    ('GR-D', 'GR', 'Ípeiros', 'Administrative region'),
    ('GR-E', 'GR', 'Thessalía', 'Administrative region'),
    ('GR-F', 'GR', 'Ionía Nísia', 'Administrative region'),
    ('GR-G', 'GR', 'Dytikí Elláda', 'Administrative region'),
    ('GR-H', 'GR', 'Stereá Elláda', 'Administrative region'),
    ('GR-I', 'GR', 'Attikí', 'Administrative region'),
    ('GR-J', 'GR', 'Pelopónnisos', 'Administrative region'),
    ('GR-K', 'GR', 'Vóreio Aigaío', 'Administrative region'),
    ('GR-L', 'GR', 'Nótio Aigaío', 'Administrative region'),
    ('GR-M', 'GR', 'Kríti', 'Administrative region'),
    ('GT-AV', 'GT', 'Alta Verapaz', 'Department'),
    ('GT-BV', 'GT', 'Baja Verapaz', 'Department'),
    ('GT-CM', 'GT', 'Chimaltenango', 'Department'),
    ('GT-CQ', 'GT', 'Chiquimula', 'Department'),
    ('GT-ES', 'GT', 'Escuintla', 'Department'),
    ('GT-GU', 'GT', 'Guatemala', 'Department'),
    ('GT-HU', 'GT', 'Huehuetenango', 'Department'),
    ('GT-IZ', 'GT', 'Izabal', 'Department'),
    ('GT-JA', 'GT', 'Jalapa', 'Department'),
    ('GT-JU', 'GT', 'Jutiapa', 'Department'),
    ('GT-PE', 'GT', 'Petén', 'Department'),
    ('GT-PR', 'GT', 'El Progreso', 'Department'),
    ('GT-QC', 'GT', 'Quiché', 'Department'),
    ('GT-QZ', 'GT', 'Quetzaltenango', 'Department'),
    ('GT-RE', 'GT', 'Retalhuleu', 'Department'),
    ('GT-SA', 'GT', 'Sacatepéquez', 'Department'),
    ('GT-SM', 'GT', 'San Marcos', 'Department'),
    ('GT-SO', 'GT', 'Sololá', 'Department'),
    ('GT-SR', 'GT', 'Santa Rosa', 'Department'),
    ('GT-SU', 'GT', 'Suchitepéquez', 'Department'),
    ('GT-TO', 'GT', 'Totonicapán', 'Department'),
    ('GT-ZA', 'GT', 'Zacapa', 'Department'),
    ('GW-BA', 'GW', 'Bafatá', 'Region'),
    ('GW-BL', 'GW', 'Bolama / Bijagós', 'Region'),
    ('GW-BM', 'GW', 'Biombo', 'Region'),
    ('GW-BS', 'GW', 'Bissau', 'Autonomous sector'),
    ('GW-CA', 'GW', 'Cacheu', 'Region'),
    ('GW-GA', 'GW', 'Gabú', 'Region'),
    ('GW-L', 'GW', 'Leste', 'Province'),
    ('GW-N', 'GW', 'Norte', 'Province'),
    ('GW-OI', 'GW', 'Oio', 'Region'),
    ('GW-QU', 'GW', 'Quinara', 'Region'),
    ('GW-S', 'GW', 'Sul', 'Province'),
    ('GW-TO', 'GW', 'Tombali', 'Region'),
    ('GY-BA', 'GY', 'Barima-Waini', 'Region'),
    ('GY-CU', 'GY', 'Cuyuni-Mazaruni', 'Region'),
    ('GY-DE', 'GY', 'Demerara-Mahaica', 'Region'),
    ('GY-EB', 'GY', 'East Berbice-Corentyne', 'Region'),
    ('GY-ES', 'GY', 'Essequibo Islands-West Demerara', 'Region'),
    ('GY-MA', 'GY', 'Mahaica-Berbice', 'Region'),
    ('GY-PM', 'GY', 'Pomeroon-Supenaam', 'Region'),
    ('GY-PT', 'GY', 'Potaro-Siparuni', 'Region'),
    ('GY-UD', 'GY', 'Upper Demerara-Berbice', 'Region'),
    ('GY-UT', 'GY', 'Upper Takutu-Upper Essequibo', 'Region'),
    ('HN-AT', 'HN', 'Atlántida', 'Department'),
    ('HN-CH', 'HN', 'Choluteca', 'Department'),
    ('HN-CL', 'HN', 'Colón', 'Department'),
    ('HN-CM', 'HN', 'Comayagua', 'Department'),
    ('HN-CP', 'HN', 'Copán', 'Department'),
    ('HN-CR', 'HN', 'Cortés', 'Department'),
    ('HN-EP', 'HN', 'El Paraíso', 'Department'),
    ('HN-FM', 'HN', 'Francisco Morazán', 'Department'),
    ('HN-GD', 'HN', 'Gracias a Dios', 'Department'),
    ('HN-IB', 'HN', 'Islas de la Bahía', 'Department'),
    ('HN-IN', 'HN', 'Intibucá', 'Department'),
    ('HN-LE', 'HN', 'Lempira', 'Department'),
    ('HN-LP', 'HN', 'La Paz', 'Department'),
    ('HN-OC', 'HN', 'Ocotepeque', 'Department'),
    ('HN-OL', 'HN', 'Olancho', 'Department'),
    ('HN-SB', 'HN', 'Santa Bárbara', 'Department'),
    ('HN-VA', 'HN', 'Valle', 'Department'),
    ('HN-YO', 'HN', 'Yoro', 'Department'),
    ('HR-01', 'HR', 'Zagrebačka županija', 'County'),
    ('HR-02', 'HR', 'Krapinsko-zagorska županija', 'County'),
    ('HR-03', 'HR', 'Sisačko-moslavačka županija', 'County'),
    ('HR-04', 'HR', 'Karlovačka županija', 'County'),
    ('HR-05', 'HR', 'Varaždinska županija', 'County'),
    ('HR-06', 'HR', 'Koprivničko-križevačka županija', 'County'),
    ('HR-07', 'HR', 'Bjelovarsko-bilogorska županija', 'County'),
    ('HR-08', 'HR', 'Primorsko-goranska županija', 'County'),
    ('HR-09', 'HR', 'Ličko-senjska županija', 'County'),
    ('HR-10', 'HR', 'Virovitičko-podravska županija', 'County'),
    ('HR-11', 'HR', 'Požeško-slavonska županija', 'County'),
    ('HR-12', 'HR', 'Brodsko-posavska županija', 'County'),
    ('HR-13', 'HR', 'Zadarska županija', 'County'),
    ('HR-14', 'HR', 'Osječko-baranjska županija', 'County'),
    ('HR-15', 'HR', 'Šibensko-kninska županija', 'County'),
    ('HR-16', 'HR', 'Vukovarsko-srijemska županija', 'County'),
    ('HR-17', 'HR', 'Splitsko-dalmatinska županija', 'County'),
    ('HR-18', 'HR', 'Istarska županija', 'County'),
    ('HR-19', 'HR', 'Dubrovačko-neretvanska županija', 'County'),
    ('HR-20', 'HR', 'Međimurska županija', 'County'),
    ('HR-21', 'HR', 'Grad Zagreb', 'City'),
    ('HT-AR', 'HT', 'Artibonite', 'Department'),
    ('HT-CE', 'HT', 'Centre', 'Department'),
    ('HT-GA', 'HT', 'Grandans', 'Department'),
    ('HT-ND', 'HT', 'Nord', 'Department'),
    ('HT-NE', 'HT', 'Nord-Est', 'Department'),
    ('HT-NI', 'HT', 'Nip', 'Department'),
    ('HT-NO', 'HT', 'Nord-Ouest', 'Department'),
    ('HT-OU', 'HT', 'Lwès', 'Department'),
    ('HT-SD', 'HT', 'Sid', 'Department'),
    ('HT-SE', 'HT', 'Sidès', 'Department'),
    ('HU-BA', 'HU', 'Baranya', 'County'),
    ('HU-BC', 'HU', 'Békéscsaba', 'City with county rights'),
    ('HU-BE', 'HU', 'Békés', 'County'),
    ('HU-BK', 'HU', 'Bács-Kiskun', 'County'),
    ('HU-BU', 'HU', 'Budapest', 'Capital city'),
    ('HU-BZ', 'HU', 'Borsod-Abaúj-Zemplén', 'County'),
    ('HU-CS', 'HU', 'Csongrád', 'County'),
    ('HU-DE', 'HU', 'Debrecen', 'City with county rights'),
    ('HU-DU', 'HU', 'Dunaújváros', 'City with county rights'),
    ('HU-EG', 'HU', 'Eger', 'City with county rights'),
    ('HU-ER', 'HU', 'Érd', 'City with county rights'),
    ('HU-FE', 'HU', 'Fejér', 'County'),
    ('HU-GS', 'HU', 'Győr-Moson-Sopron', 'County'),
    ('HU-GY', 'HU', 'Győr', 'City with county rights'),
    ('HU-HB', 'HU', 'Hajdú-Bihar', 'County'),
    ('HU-HE', 'HU', 'Heves', 'County'),
    ('HU-HV', 'HU', 'Hódmezővásárhely', 'City with county rights'),
    ('HU-JN', 'HU', 'Jász-Nagykun-Szolnok', 'County'),
    ('HU-KE', 'HU', 'Komárom-Esztergom', 'County'),
    ('HU-KM', 'HU', 'Kecskemét', 'City with county rights'),
    ('HU-KV', 'HU', 'Kaposvár', 'City with county rights'),
    ('HU-MI', 'HU', 'Miskolc', 'City with county rights'),
    ('HU-NK', 'HU', 'Nagykanizsa', 'City with county rights'),
    ('HU-NO', 'HU', 'Nógrád', 'County'),
    ('HU-NY', 'HU', 'Nyíregyháza', 'City with county rights'),
    ('HU-PE', 'HU', 'Pest', 'County'),
    ('HU-PS', 'HU', 'Pécs', 'City with county rights'),
    ('HU-SD', 'HU', 'Szeged', 'City with county rights'),
    ('HU-SF', 'HU', 'Székesfehérvár', 'City with county rights'),
    ('HU-SH', 'HU', 'Szombathely', 'City with county rights'),
    ('HU-SK', 'HU', 'Szolnok', 'City with county rights'),
    ('HU-SN', 'HU', 'Sopron', 'City with county rights'),
    ('HU-SO', 'HU', 'Somogy', 'County'),
    ('HU-SS', 'HU', 'Szekszárd', 'City with county rights'),
    ('HU-ST', 'HU', 'Salgótarján', 'City with county rights'),
    ('HU-SZ', 'HU', 'Szabolcs-Szatmár-Bereg', 'County'),
    ('HU-TB', 'HU', 'Tatabánya', 'City with county rights'),
    ('HU-TO', 'HU', 'Tolna', 'County'),
    ('HU-VA', 'HU', 'Vas', 'County'),
    ('HU-VE', 'HU', 'Veszprém', 'County'),
    ('HU-VM', 'HU', 'Veszprém', 'City with county rights'),
    ('HU-ZA', 'HU', 'Zala', 'County'),
    ('HU-ZE', 'HU', 'Zalaegerszeg', 'City with county rights'),
    ('ID-AC', 'ID', 'Aceh', 'Province'),
    ('ID-BA', 'ID', 'Bali', 'Province'),
    ('ID-BB', 'ID', 'Kepulauan Bangka Belitung', 'Province'),
    ('ID-BE', 'ID', 'Bengkulu', 'Province'),
    ('ID-BT', 'ID', 'Banten', 'Province'),
    ('ID-GO', 'ID', 'Gorontalo', 'Province'),
    ('ID-JA', 'ID', 'Jambi', 'Province'),
    ('ID-JB', 'ID', 'Jawa Barat', 'Province'),
    ('ID-JI', 'ID', 'Jawa Timur', 'Province'),
    ('ID-JK', 'ID', 'Jakarta Raya', 'Capital district'),
    ('ID-JT', 'ID', 'Jawa Tengah', 'Province'),
    ('ID-JW', 'ID', 'Jawa', 'Geographical unit'),
    ('ID-KA', 'ID', 'Kalimantan', 'Geographical unit'),
    ('ID-KB', 'ID', 'Kalimantan Barat', 'Province'),
    ('ID-KI', 'ID', 'Kalimantan Timur', 'Province'),
    ('ID-KR', 'ID', 'Kepulauan Riau', 'Province'),
    ('ID-KS', 'ID', 'Kalimantan Selatan', 'Province'),
    ('ID-KT', 'ID', 'Kalimantan Tengah', 'Province'),
    ('ID-KU', 'ID', 'Kalimantan Utara', 'Province'),
    ('ID-LA', 'ID', 'Lampung', 'Province'),
    ('ID-MA', 'ID', 'Maluku', 'Province'),
    ('ID-ML', 'ID', 'Maluku', 'Geographical unit'),
    ('ID-MU', 'ID', 'Maluku Utara', 'Province'),
    ('ID-NB', 'ID', 'Nusa Tenggara Barat', 'Province'),
    ('ID-NT', 'ID', 'Nusa Tenggara Timur', 'Province'),
    ('ID-NU', 'ID', 'Nusa Tenggara', 'Geographical unit'),
    ('ID-PA', 'ID', 'Papua', 'Province'),
    ('ID-PB', 'ID', 'Papua Barat', 'Province'),
    ('ID-PP', 'ID', 'Papua', 'Geographical unit'),
    ('ID-RI', 'ID', 'Riau', 'Province'),
    ('ID-SA', 'ID', 'Sulawesi Utara', 'Province'),
    ('ID-SB', 'ID', 'Sumatera Barat', 'Province'),
    ('ID-SG', 'ID', 'Sulawesi Tenggara', 'Province'),
    ('ID-SL', 'ID', 'Sulawesi', 'Geographical unit'),
    ('ID-SM', 'ID', 'Sumatera', 'Geographical unit'),
    ('ID-SN', 'ID', 'Sulawesi Selatan', 'Province'),
    ('ID-SR', 'ID', 'Sulawesi Barat', 'Province'),
    ('ID-SS', 'ID', 'Sumatera Selatan', 'Province'),
    ('ID-ST', 'ID', 'Sulawesi Tengah', 'Province'),
    ('ID-SU', 'ID', 'Sumatera Utara', 'Province'),
    ('ID-YO', 'ID', 'Yogyakarta', 'Special region'),
    ('IE-C', 'IE', 'Connaught', 'Province'),
    ('IE-CE', 'IE', 'Clare', 'County'),
    ('IE-CN', 'IE', 'Cavan', 'County'),
    ('IE-CO', 'IE', 'Cork', 'County'),
    ('IE-CW', 'IE', 'Carlow', 'County'),
    ('IE-D', 'IE', 'Dublin', 'County'),
    ('IE-DL', 'IE', 'Donegal', 'County'),
    ('IE-G', 'IE', 'Galway', 'County'),
    ('IE-KE', 'IE', 'Kildare', 'County'),
    ('IE-KK', 'IE', 'Kilkenny', 'County'),
    ('IE-KY', 'IE', 'Kerry', 'County'),
    ('IE-L', 'IE', 'Leinster', 'Province'),
    ('IE-LD', 'IE', 'Longford', 'County'),
    ('IE-LH', 'IE', 'Louth', 'County'),
    ('IE-LK', 'IE', 'Limerick', 'County'),
    ('IE-LM', 'IE', 'Leitrim', 'County'),
    ('IE-LS', 'IE', 'Laois', 'County'),
    ('IE-M', 'IE', 'Munster', 'Province'),
    ('IE-MH', 'IE', 'Meath', 'County'),
    ('IE-MN', 'IE', 'Monaghan', 'County'),
    ('IE-MO', 'IE', 'Mayo', 'County'),
    ('IE-OY', 'IE', 'Offaly', 'County'),
    ('IE-RN', 'IE', 'Roscommon', 'County'),
    ('IE-SO', 'IE', 'Sligo', 'County'),
    ('IE-TA', 'IE', 'Tipperary', 'County'),
    ('IE-U', 'IE', 'Ulster', 'Province'),
    ('IE-WD', 'IE', 'Waterford', 'County'),
    ('IE-WH', 'IE', 'Westmeath', 'County'),
    ('IE-WW', 'IE', 'Wicklow', 'County'),
    ('IE-WX', 'IE', 'Wexford', 'County'),
    ('IL-D', 'IL', 'Al Janūbī', 'District'),
    ('IL-HA', 'IL', 'H̱efa', 'District'),
    ('IL-JM', 'IL', 'Al Quds', 'District'),
    ('IL-M', 'IL', 'Al Awsaţ', 'District'),
    ('IL-TA', 'IL', 'Tall Abīb', 'District'),
    ('IL-Z', 'IL', 'Ash Shamālī', 'District'),
    ('IN-AN', 'IN', 'Andaman and Nicobar Islands', 'Union territory'),
    ('IN-AP', 'IN', 'Andhra Pradesh', 'State'),
    ('IN-AR', 'IN', 'Arunāchal Pradesh', 'State'),
    ('IN-AS', 'IN', 'Assam', 'State'),
    ('IN-BR', 'IN', 'Bihār', 'State'),
    ('IN-CH', 'IN', 'Chandīgarh', 'Union territory'),
    ('IN-CT', 'IN', 'Chhattīsgarh', 'State'),
    ('IN-DH', 'IN', 'Dādra and Nagar Haveli and Damān and Diu', 'Union territory'),
    ('IN-DL', 'IN', 'Delhi', 'Union territory'),
    ('IN-GA', 'IN', 'Goa', 'State'),
    ('IN-GJ', 'IN', 'Gujarāt', 'State'),
    ('IN-HP', 'IN', 'Himāchal Pradesh', 'State'),
    ('IN-HR', 'IN', 'Haryāna', 'State'),
    ('IN-JH', 'IN', 'Jhārkhand', 'State'),
    ('IN-JK', 'IN', 'Jammu and Kashmīr', 'Union territory'),
    ('IN-KA', 'IN', 'Karnātaka', 'State'),
    ('IN-KL', 'IN', 'Kerala', 'State'),
    ('IN-LA', 'IN', 'Ladākh', 'Union territory'),
    ('IN-LD', 'IN', 'Lakshadweep', 'Union territory'),
    ('IN-MH', 'IN', 'Mahārāshtra', 'State'),
    ('IN-ML', 'IN', 'Meghālaya', 'State'),
    ('IN-MN', 'IN', 'Manipur', 'State'),
    ('IN-MP', 'IN', 'Madhya Pradesh', 'State'),
    ('IN-MZ', 'IN', 'Mizoram', 'State'),
    ('IN-NL', 'IN', 'Nāgāland', 'State'),
    ('IN-OR', 'IN', 'Odisha', 'State'),
    ('IN-PB', 'IN', 'Punjab', 'State'),
    ('IN-PY', 'IN', 'Puducherry', 'Union territory'),
    ('IN-RJ', 'IN', 'Rājasthān', 'State'),
    ('IN-SK', 'IN', 'Sikkim', 'State'),
    ('IN-TG', 'IN', 'Telangāna', 'State'),
    ('IN-TN', 'IN', 'Tamil Nādu', 'State'),
    ('IN-TR', 'IN', 'Tripura', 'State'),
    ('IN-UP', 'IN', 'Uttar Pradesh', 'State'),
    ('IN-UT', 'IN', 'Uttarākhand', 'State'),
    ('IN-WB', 'IN', 'West Bengal', 'State'),
    ('IQ-AN', 'IQ', 'Al Anbār', 'Governorate'),
    ('IQ-AR', 'IQ', 'Arbīl', 'Governorate'),
    ('IQ-BA', 'IQ', 'Al Başrah', 'Governorate'),
    ('IQ-BB', 'IQ', 'Bābil', 'Governorate'),
    ('IQ-BG', 'IQ', 'Baghdād', 'Governorate'),
    ('IQ-DA', 'IQ', 'Dahūk', 'Governorate'),
    ('IQ-DI', 'IQ', 'Diyālá', 'Governorate'),
    ('IQ-DQ', 'IQ', 'Dhī Qār', 'Governorate'),
    ('IQ-KA', 'IQ', 'Karbalā’', 'Governorate'),
    ('IQ-KI', 'IQ', 'Kirkūk', 'Governorate'),
    ('IQ-MA', 'IQ', 'Maysān', 'Governorate'),
    ('IQ-MU', 'IQ', 'Al Muthanná', 'Governorate'),
    ('IQ-NA', 'IQ', 'An Najaf', 'Governorate'),
    ('IQ-NI', 'IQ', 'Nīnawá', 'Governorate'),
    ('IQ-QA', 'IQ', 'Al Qādisīyah', 'Governorate'),
    ('IQ-SD', 'IQ', 'Şalāḩ ad Dīn', 'Governorate'),
    ('IQ-SU', 'IQ', 'As Sulaymānīyah', 'Governorate'),
    ('IQ-WA', 'IQ', 'Wāsiţ', 'Governorate'),
    ('IR-00', 'IR', 'Markazī', 'Province'),
    ('IR-01', 'IR', 'Gīlān', 'Province'),
    ('IR-02', 'IR', 'Māzandarān', 'Province'),
    ('IR-03', 'IR', 'Āz̄ārbāyjān-e Shārqī', 'Province'),
    ('IR-04', 'IR', 'Āz̄ārbāyjān-e Ghārbī', 'Province'),
    ('IR-05', 'IR', 'Kermānshāh', 'Province'),
    ('IR-06', 'IR', 'Khūzestān', 'Province'),
    ('IR-07', 'IR', 'Fārs', 'Province'),
    ('IR-08', 'IR', 'Kermān', 'Province'),
    ('IR-09', 'IR', 'Khorāsān-e Raẕavī', 'Province'),
    ('IR-10', 'IR', 'Eşfahān', 'Province'),
    ('IR-11', 'IR', 'Sīstān va Balūchestān', 'Province'),
    ('IR-12', 'IR', 'Kordestān', 'Province'),
    ('IR-13', 'IR', 'Hamadān', 'Province'),
    ('IR-14', 'IR', 'Chahār Maḩāl va Bakhtīārī', 'Province'),
    ('IR-15', 'IR', 'Lorestān', 'Province'),
    ('IR-16', 'IR', 'Īlām', 'Province'),
    ('IR-17', 'IR', 'Kohgīlūyeh va Bowyer Aḩmad', 'Province'),
    ('IR-18', 'IR', 'Būshehr', 'Province'),
    ('IR-19', 'IR', 'Zanjān', 'Province'),
    ('IR-20', 'IR', 'Semnān', 'Province'),
    ('IR-21', 'IR', 'Yazd', 'Province'),
    ('IR-22', 'IR', 'Hormozgān', 'Province'),
    ('IR-23', 'IR', 'Tehrān', 'Province'),
    ('IR-24', 'IR', 'Ardabīl', 'Province'),
    ('IR-25', 'IR', 'Qom', 'Province'),
    ('IR-26', 'IR', 'Qazvīn', 'Province'),
    ('IR-27', 'IR', 'Golestān', 'Province'),
    ('IR-28', 'IR', 'Khorāsān-e Shomālī', 'Province'),
    ('IR-29', 'IR', 'Khorāsān-e Jonūbī', 'Province'),
    ('IR-30', 'IR', 'Alborz', 'Province'),
    ('IS-1', 'IS', 'Höfuðborgarsvæði', 'Region'),
    ('IS-2', 'IS', 'Suðurnes', 'Region'),
    ('IS-3', 'IS', 'Vesturland', 'Region'),
    ('IS-4', 'IS', 'Vestfirðir', 'Region'),
    ('IS-5', 'IS', 'Norðurland vestra', 'Region'),
    ('IS-6', 'IS', 'Norðurland eystra', 'Region'),
    ('IS-7', 'IS', 'Austurland', 'Region'),
    ('IS-8', 'IS', 'Suðurland', 'Region'),
    ('IS-AKH', 'IS', 'Akrahreppur', 'Municipality'),
    ('IS-AKN', 'IS', 'Akraneskaupstaður', 'Municipality'),
    ('IS-AKU', 'IS', 'Akureyrarbær', 'Municipality'),
    ('IS-ARN', 'IS', 'Árneshreppur', 'Municipality'),
    ('IS-ASA', 'IS', 'Ásahreppur', 'Municipality'),
    ('IS-BFJ', 'IS', 'Borgarfjarðarhreppur', 'Municipality'),
    ('IS-BLA', 'IS', 'Bláskógabyggð', 'Municipality'),
    ('IS-BLO', 'IS', 'Blönduósbær', 'Municipality'),
    ('IS-BOG', 'IS', 'Borgarbyggð', 'Municipality'),
    ('IS-BOL', 'IS', 'Bolungarvíkurkaupstaður', 'Municipality'),
    ('IS-DAB', 'IS', 'Dalabyggð', 'Municipality'),
    ('IS-DAV', 'IS', 'Dalvíkurbyggð', 'Municipality'),
    ('IS-DJU', 'IS', 'Djúpavogshreppur', 'Municipality'),
    ('IS-EOM', 'IS', 'Eyja- og Miklaholtshreppur', 'Municipality'),
    ('IS-EYF', 'IS', 'Eyjafjarðarsveit', 'Municipality'),
    ('IS-FJD', 'IS', 'Fjarðabyggð', 'Municipality'),
    ('IS-FJL', 'IS', 'Fjallabyggð', 'Municipality'),
    ('IS-FLA', 'IS', 'Flóahreppur', 'Municipality'),
    ('IS-FLD', 'IS', 'Fljótsdalshérað', 'Municipality'),
    ('IS-FLR', 'IS', 'Fljótsdalshreppur', 'Municipality'),
    ('IS-GAR', 'IS', 'Garðabær', 'Municipality'),
    ('IS-GOG', 'IS', 'Grímsnes- og Grafningshreppur', 'Municipality'),
    ('IS-GRN', 'IS', 'Grindavíkurbær', 'Municipality'),
    ('IS-GRU', 'IS', 'Grundarfjarðarbær', 'Municipality'),
    ('IS-GRY', 'IS', 'Grýtubakkahreppur', 'Municipality'),
    ('IS-HAF', 'IS', 'Hafnarfjarðarkaupstaður', 'Municipality'),
    ('IS-HEL', 'IS', 'Helgafellssveit', 'Municipality'),
    ('IS-HRG', 'IS', 'Hörgársveit', 'Municipality'),
    ('IS-HRU', 'IS', 'Hrunamannahreppur', 'Municipality'),
    ('IS-HUT', 'IS', 'Húnavatnshreppur', 'Municipality'),
    ('IS-HUV', 'IS', 'Húnaþing vestra', 'Municipality'),
    ('IS-HVA', 'IS', 'Hvalfjarðarsveit', 'Municipality'),
    ('IS-HVE', 'IS', 'Hveragerðisbær', 'Municipality'),
    ('IS-ISA', 'IS', 'Ísafjarðarbær', 'Municipality'),
    ('IS-KAL', 'IS', 'Kaldrananeshreppur', 'Municipality'),
    ('IS-KJO', 'IS', 'Kjósarhreppur', 'Municipality'),
    ('IS-KOP', 'IS', 'Kópavogsbær', 'Municipality'),
    ('IS-LAN', 'IS', 'Langanesbyggð', 'Municipality'),
    ('IS-MOS', 'IS', 'Mosfellsbær', 'Municipality'),
    ('IS-MYR', 'IS', 'Mýrdalshreppur', 'Municipality'),
    ('IS-NOR', 'IS', 'Norðurþing', 'Municipality'),
    ('IS-RGE', 'IS', 'Rangárþing eystra', 'Municipality'),
    ('IS-RGY', 'IS', 'Rangárþing ytra', 'Municipality'),
    ('IS-RHH', 'IS', 'Reykhólahreppur', 'Municipality'),
    ('IS-RKN', 'IS', 'Reykjanesbær', 'Municipality'),
    ('IS-RKV', 'IS', 'Reykjavíkurborg', 'Municipality'),
    ('IS-SBH', 'IS', 'Svalbarðshreppur', 'Municipality'),
    ('IS-SBT', 'IS', 'Svalbarðsstrandarhreppur', 'Municipality'),
    ('IS-SDN', 'IS', 'Suðurnesjabær', 'Municipality'),
    ('IS-SDV', 'IS', 'Súðavíkurhreppur', 'Municipality'),
    ('IS-SEL', 'IS', 'Seltjarnarnesbær', 'Municipality'),
    ('IS-SEY', 'IS', 'Seyðisfjarðarkaupstaður', 'Municipality'),
    ('IS-SFA', 'IS', 'Sveitarfélagið Árborg', 'Municipality'),
    ('IS-SHF', 'IS', 'Sveitarfélagið Hornafjörður', 'Municipality'),
    ('IS-SKF', 'IS', 'Skaftárhreppur', 'Municipality'),
    ('IS-SKG', 'IS', 'Skagabyggð', 'Municipality'),
    ('IS-SKO', 'IS', 'Skorradalshreppur', 'Municipality'),
    ('IS-SKU', 'IS', 'Skútustaðahreppur', 'Municipality'),
    ('IS-SNF', 'IS', 'Snæfellsbær', 'Municipality'),
    ('IS-SOG', 'IS', 'Skeiða- og Gnúpverjahreppur', 'Municipality'),
    ('IS-SOL', 'IS', 'Sveitarfélagið Ölfus', 'Municipality'),
    ('IS-SSF', 'IS', 'Sveitarfélagið Skagafjörður', 'Municipality'),
    ('IS-SSS', 'IS', 'Sveitarfélagið Skagaströnd', 'Municipality'),
    ('IS-STR', 'IS', 'Strandabyggð', 'Municipality'),
    ('IS-STY', 'IS', 'Stykkishólmsbær', 'Municipality'),
    ('IS-SVG', 'IS', 'Sveitarfélagið Vogar', 'Municipality'),
    ('IS-TAL', 'IS', 'Tálknafjarðarhreppur', 'Municipality'),
    ('IS-THG', 'IS', 'Þingeyjarsveit', 'Municipality'),
    ('IS-TJO', 'IS', 'Tjörneshreppur', 'Municipality'),
    ('IS-VEM', 'IS', 'Vestmannaeyjabær', 'Municipality'),
    ('IS-VER', 'IS', 'Vesturbyggð', 'Municipality'),
    ('IS-VOP', 'IS', 'Vopnafjarðarhreppur', 'Municipality'),
    ('IT-21', 'IT', 'Piemonte', 'Region'),
    ('IT-23', 'IT', 'Val d''Aoste', 'Autonomous region'),
    ('IT-25', 'IT', 'Lombardia', 'Region'),
    ('IT-32', 'IT', 'Trentino-Alto Adige', 'Autonomous region'),
    ('IT-34', 'IT', 'Veneto', 'Region'),
    ('IT-36', 'IT', 'Friuli Venezia Giulia', 'Autonomous region'),
    ('IT-42', 'IT', 'Liguria', 'Region'),
    ('IT-45', 'IT', 'Emilia-Romagna', 'Region'),
    ('IT-52', 'IT', 'Toscana', 'Region'),
    ('IT-55', 'IT', 'Umbria', 'Region'),
    ('IT-57', 'IT', 'Marche', 'Region'),
    ('IT-62', 'IT', 'Lazio', 'Region'),
    ('IT-65', 'IT', 'Abruzzo', 'Region'),
    ('IT-67', 'IT', 'Molise', 'Region'),
    ('IT-72', 'IT', 'Campania', 'Region'),
    ('IT-75', 'IT', 'Puglia', 'Region'),
    ('IT-77', 'IT', 'Basilicata', 'Region'),
    ('IT-78', 'IT', 'Calabria', 'Region'),
    ('IT-82', 'IT', 'Sicilia', 'Autonomous region'),
    ('IT-88', 'IT', 'Sardegna', 'Autonomous region'),
    ('IT-AG', 'IT', 'Agrigento', 'Free municipal consortium'),
    ('IT-AL', 'IT', 'Alessandria', 'Province'),
    ('IT-AN', 'IT', 'Ancona', 'Province'),
    ('IT-AP', 'IT', 'Ascoli Piceno', 'Province'),
    ('IT-AQ', 'IT', 'L''Aquila', 'Province'),
    ('IT-AR', 'IT', 'Arezzo', 'Province'),
    ('IT-AT', 'IT', 'Asti', 'Province'),
    ('IT-AV', 'IT', 'Avellino', 'Province'),
    ('IT-BA', 'IT', 'Bari', 'Metropolitan city'),
    ('IT-BG', 'IT', 'Bergamo', 'Province'),
    ('IT-BI', 'IT', 'Biella', 'Province'),
    ('IT-BL', 'IT', 'Belluno', 'Province'),
    ('IT-BN', 'IT', 'Benevento', 'Province'),
    ('IT-BO', 'IT', 'Bologna', 'Metropolitan city'),
    ('IT-BR', 'IT', 'Brindisi', 'Province'),
    ('IT-BS', 'IT', 'Brescia', 'Province'),
    ('IT-BT', 'IT', 'Barletta-Andria-Trani', 'Province'),
    ('IT-BZ', 'IT', 'Bolzano', 'Autonomous province'),
    ('IT-CA', 'IT', 'Cagliari', 'Metropolitan city'),
    ('IT-CB', 'IT', 'Campobasso', 'Province'),
    ('IT-CE', 'IT', 'Caserta', 'Province'),
    ('IT-CH', 'IT', 'Chieti', 'Province'),
    ('IT-CL', 'IT', 'Caltanissetta', 'Free municipal consortium'),
    ('IT-CN', 'IT', 'Cuneo', 'Province'),
    ('IT-CO', 'IT', 'Como', 'Province'),
    ('IT-CR', 'IT', 'Cremona', 'Province'),
    ('IT-CS', 'IT', 'Cosenza', 'Province'),
    ('IT-CT', 'IT', 'Catania', 'Metropolitan city'),
    ('IT-CZ', 'IT', 'Catanzaro', 'Province'),
    ('IT-EN', 'IT', 'Enna', 'Free municipal consortium'),
    ('IT-FC', 'IT', 'Forlì-Cesena', 'Province'),
    ('IT-FE', 'IT', 'Ferrara', 'Province'),
    ('IT-FG', 'IT', 'Foggia', 'Province'),
    ('IT-FI', 'IT', 'Firenze', 'Metropolitan city'),
    ('IT-FM', 'IT', 'Fermo', 'Province'),
    ('IT-FR', 'IT', 'Frosinone', 'Province'),
    ('IT-GE', 'IT', 'Genova', 'Metropolitan city'),
    ('IT-GO', 'IT', 'Gorizia', 'Decentralized regional entity'),
    ('IT-GR', 'IT', 'Grosseto', 'Province'),
    ('IT-IM', 'IT', 'Imperia', 'Province'),
    ('IT-IS', 'IT', 'Isernia', 'Province'),
    ('IT-KR', 'IT', 'Crotone', 'Province'),
    ('IT-LC', 'IT', 'Lecco', 'Province'),
    ('IT-LE', 'IT', 'Lecce', 'Province'),
    ('IT-LI', 'IT', 'Livorno', 'Province'),
    ('IT-LO', 'IT', 'Lodi', 'Province'),
    ('IT-LT', 'IT', 'Latina', 'Province'),
    ('IT-LU', 'IT', 'Lucca', 'Province'),
    ('IT-MB', 'IT', 'Monza e Brianza', 'Province'),
    ('IT-MC', 'IT', 'Macerata', 'Province'),
    ('IT-ME', 'IT', 'Messina', 'Metropolitan city'),
    ('IT-MI', 'IT', 'Milano', 'Metropolitan city'),
    ('IT-MN', 'IT', 'Mantova', 'Province'),
    ('IT-MO', 'IT', 'Modena', 'Province'),
    ('IT-MS', 'IT', 'Massa-Carrara', 'Province'),
    ('IT-MT', 'IT', 'Matera', 'Province'),
    ('IT-NA', 'IT', 'Napoli', 'Metropolitan city'),
    ('IT-NO', 'IT', 'Novara', 'Province'),
    ('IT-NU', 'IT', 'Nuoro', 'Province'),
    ('IT-OR', 'IT', 'Oristano', 'Province'),
    ('IT-PA', 'IT', 'Palermo', 'Metropolitan city'),
    ('IT-PC', 'IT', 'Piacenza', 'Province'),
    ('IT-PD', 'IT', 'Padova', 'Province'),
    ('IT-PE', 'IT', 'Pescara', 'Province'),
    ('IT-PG', 'IT', 'Perugia', 'Province'),
    ('IT-PI', 'IT', 'Pisa', 'Province'),
    ('IT-PN', 'IT', 'Pordenone', 'Decentralized regional entity'),
    ('IT-PO', 'IT', 'Prato', 'Province'),
    ('IT-PR', 'IT', 'Parma', 'Province'),
    ('IT-PT', 'IT', 'Pistoia', 'Province'),
    ('IT-PU', 'IT', 'Pesaro e Urbino', 'Province'),
    ('IT-PV', 'IT', 'Pavia', 'Province'),
    ('IT-PZ', 'IT', 'Potenza', 'Province'),
    ('IT-RA', 'IT', 'Ravenna', 'Province'),
    ('IT-RC', 'IT', 'Reggio Calabria', 'Metropolitan city'),
    ('IT-RE', 'IT', 'Reggio Emilia', 'Province'),
    ('IT-RG', 'IT', 'Ragusa', 'Free municipal consortium'),
    ('IT-RI', 'IT', 'Rieti', 'Province'),
    ('IT-RM', 'IT', 'Roma', 'Metropolitan city'),
    ('IT-RN', 'IT', 'Rimini', 'Province'),
    ('IT-RO', 'IT', 'Rovigo', 'Province'),
    ('IT-SA', 'IT', 'Salerno', 'Province'),
    ('IT-SI', 'IT', 'Siena', 'Province'),
    ('IT-SO', 'IT', 'Sondrio', 'Province'),
    ('IT-SP', 'IT', 'La Spezia', 'Province'),
    ('IT-SR', 'IT', 'Siracusa', 'Free municipal consortium'),
    ('IT-SS', 'IT', 'Sassari', 'Province'),
    ('IT-SU', 'IT', 'Sud Sardegna', 'Province'),
    ('IT-SV', 'IT', 'Savona', 'Province'),
    ('IT-TA', 'IT', 'Taranto', 'Province'),
    ('IT-TE', 'IT', 'Teramo', 'Province'),
    ('IT-TN', 'IT', 'Trento', 'Autonomous province'),
    ('IT-TO', 'IT', 'Torino', 'Metropolitan city'),
    ('IT-TP', 'IT', 'Trapani', 'Free municipal consortium'),
    ('IT-TR', 'IT', 'Terni', 'Province'),
    ('IT-TS', 'IT', 'Trieste', 'Decentralized regional entity'),
    ('IT-TV', 'IT', 'Treviso', 'Province'),
    ('IT-UD', 'IT', 'Udine', 'Decentralized regional entity'),
    ('IT-VA', 'IT', 'Varese', 'Province'),
    ('IT-VB', 'IT', 'Verbano-Cusio-Ossola', 'Province'),
    ('IT-VC', 'IT', 'Vercelli', 'Province'),
    ('IT-VE', 'IT', 'Venezia', 'Metropolitan city'),
    ('IT-VI', 'IT', 'Vicenza', 'Province'),
    ('IT-VR', 'IT', 'Verona', 'Province'),
    ('IT-VT', 'IT', 'Viterbo', 'Province'),
    ('IT-VV', 'IT', 'Vibo Valentia', 'Province'),
    ('JM-01', 'JM', 'Kingston', 'Parish'),
    ('JM-02', 'JM', 'Saint Andrew', 'Parish'),
    ('JM-03', 'JM', 'Saint Thomas', 'Parish'),
    ('JM-04', 'JM', 'Portland', 'Parish'),
    ('JM-05', 'JM', 'Saint Mary', 'Parish'),
    ('JM-06', 'JM', 'Saint Ann', 'Parish'),
    ('JM-07', 'JM', 'Trelawny', 'Parish'),
    ('JM-08', 'JM', 'Saint James', 'Parish'),
    ('JM-09', 'JM', 'Hanover', 'Parish'),
    ('JM-10', 'JM', 'Westmoreland', 'Parish'),
    ('JM-11', 'JM', 'Saint Elizabeth', 'Parish'),
    ('JM-12', 'JM', 'Manchester', 'Parish'),
    ('JM-13', 'JM', 'Clarendon', 'Parish'),
    ('JM-14', 'JM', 'Saint Catherine', 'Parish'),
    ('JO-AJ', 'JO', '‘Ajlūn', 'Governorate'),
    ('JO-AM', 'JO', 'Al ‘A̅şimah', 'Governorate'),
    ('JO-AQ', 'JO', 'Al ‘Aqabah', 'Governorate'),
    ('JO-AT', 'JO', 'Aţ Ţafīlah', 'Governorate'),
    ('JO-AZ', 'JO', 'Az Zarqā’', 'Governorate'),
    ('JO-BA', 'JO', 'Al Balqā’', 'Governorate'),
    ('JO-IR', 'JO', 'Irbid', 'Governorate'),
    ('JO-JA', 'JO', 'Jarash', 'Governorate'),
    ('JO-KA', 'JO', 'Al Karak', 'Governorate'),
    ('JO-MA', 'JO', 'Al Mafraq', 'Governorate'),
    ('JO-MD', 'JO', 'Mādabā', 'Governorate'),
    ('JO-MN', 'JO', 'Ma‘ān', 'Governorate'),
    ('JP-01', 'JP', 'Hokkaido', 'Prefecture'),
    ('JP-02', 'JP', 'Aomori', 'Prefecture'),
    ('JP-03', 'JP', 'Iwate', 'Prefecture'),
    ('JP-04', 'JP', 'Miyagi', 'Prefecture'),
    ('JP-05', 'JP', 'Akita', 'Prefecture'),
    ('JP-06', 'JP', 'Yamagata', 'Prefecture'),
    ('JP-07', 'JP', 'Fukushima', 'Prefecture'),
    ('JP-08', 'JP', 'Ibaraki', 'Prefecture'),
    ('JP-09', 'JP', 'Tochigi', 'Prefecture'),
    ('JP-10', 'JP', 'Gunma', 'Prefecture'),
    ('JP-11', 'JP', 'Saitama', 'Prefecture'),
    ('JP-12', 'JP', 'Chiba', 'Prefecture'),
    ('JP-13', 'JP', 'Tokyo', 'Prefecture'),
    ('JP-14', 'JP', 'Kanagawa', 'Prefecture'),
    ('JP-15', 'JP', 'Niigata', 'Prefecture'),
    ('JP-16', 'JP', 'Toyama', 'Prefecture'),
    ('JP-17', 'JP', 'Ishikawa', 'Prefecture'),
    ('JP-18', 'JP', 'Fukui', 'Prefecture'),
    ('JP-19', 'JP', 'Yamanashi', 'Prefecture'),
    ('JP-20', 'JP', 'Nagano', 'Prefecture'),
    ('JP-21', 'JP', 'Gifu', 'Prefecture'),
    ('JP-22', 'JP', 'Shizuoka', 'Prefecture'),
    ('JP-23', 'JP', 'Aichi', 'Prefecture'),
    ('JP-24', 'JP', 'Mie', 'Prefecture'),
    ('JP-25', 'JP', 'Shiga', 'Prefecture'),
    ('JP-26', 'JP', 'Kyoto', 'Prefecture'),
    ('JP-27', 'JP', 'Osaka', 'Prefecture'),
    ('JP-28', 'JP', 'Hyogo', 'Prefecture'),
    ('JP-29', 'JP', 'Nara', 'Prefecture'),
    ('JP-30', 'JP', 'Wakayama', 'Prefecture'),
    ('JP-31', 'JP', 'Tottori', 'Prefecture'),
    ('JP-32', 'JP', 'Shimane', 'Prefecture'),
    ('JP-33', 'JP', 'Okayama', 'Prefecture'),
    ('JP-34', 'JP', 'Hiroshima', 'Prefecture'),
    ('JP-35', 'JP', 'Yamaguchi', 'Prefecture'),
    ('JP-36', 'JP', 'Tokushima', 'Prefecture'),
    ('JP-37', 'JP', 'Kagawa', 'Prefecture'),
    ('JP-38', 'JP', 'Ehime', 'Prefecture'),
    ('JP-39', 'JP', 'Kochi', 'Prefecture'),
    ('JP-40', 'JP', 'Fukuoka', 'Prefecture'),
    ('JP-41', 'JP', 'Saga', 'Prefecture'),
    ('JP-42', 'JP', 'Nagasaki', 'Prefecture'),
    ('JP-43', 'JP', 'Kumamoto', 'Prefecture'),
    ('JP-44', 'JP', 'Oita', 'Prefecture'),
    ('JP-45', 'JP', 'Miyazaki', 'Prefecture'),
    ('JP-46', 'JP', 'Kagoshima', 'Prefecture'),
    ('JP-47', 'JP', 'Okinawa', 'Prefecture'),
    ('KE-01', 'KE', 'Baringo', 'County'),
    ('KE-02', 'KE', 'Bomet', 'County'),
    ('KE-03', 'KE', 'Bungoma', 'County'),
    ('KE-04', 'KE', 'Busia', 'County'),
    ('KE-05', 'KE', 'Elgeyo/Marakwet', 'County'),
    ('KE-06', 'KE', 'Embu', 'County'),
    ('KE-07', 'KE', 'Garissa', 'County'),
    ('KE-08', 'KE', 'Homa Bay', 'County'),
    ('KE-09', 'KE', 'Isiolo', 'County'),
    ('KE-10', 'KE', 'Kajiado', 'County'),
    ('KE-11', 'KE', 'Kakamega', 'County'),
    ('KE-12', 'KE', 'Kericho', 'County'),
    ('KE-13', 'KE', 'Kiambu', 'County'),
    ('KE-14', 'KE', 'Kilifi', 'County'),
    ('KE-15', 'KE', 'Kirinyaga', 'County'),
    ('KE-16', 'KE', 'Kisii', 'County'),
    ('KE-17', 'KE', 'Kisumu', 'County'),
    ('KE-18', 'KE', 'Kitui', 'County'),
    ('KE-19', 'KE', 'Kwale', 'County'),
    ('KE-20', 'KE', 'Laikipia', 'County'),
    ('KE-21', 'KE', 'Lamu', 'County'),
    ('KE-22', 'KE', 'Machakos', 'County'),
    ('KE-23', 'KE', 'Makueni', 'County'),
    ('KE-24', 'KE', 'Mandera', 'County'),
    ('KE-25', 'KE', 'Marsabit', 'County'),
    ('KE-26', 'KE', 'Meru', 'County'),
    ('KE-27', 'KE', 'Migori', 'County'),
    ('KE-28', 'KE', 'Mombasa', 'County'),
    ('KE-29', 'KE', 'Murang''a', 'County'),
    ('KE-30', 'KE', 'Nairobi City', 'County'),
    ('KE-31', 'KE', 'Nakuru', 'County'),
    ('KE-32', 'KE', 'Nandi', 'County'),
    ('KE-33', 'KE', 'Narok', 'County'),
    ('KE-34', 'KE', 'Nyamira', 'County'),
    ('KE-35', 'KE', 'Nyandarua', 'County'),
    ('KE-36', 'KE', 'Nyeri', 'County'),
    ('KE-37', 'KE', 'Samburu', 'County'),
    ('KE-38', 'KE', 'Siaya', 'County'),
    ('KE-39', 'KE', 'Taita/Taveta', 'County'),
    ('KE-40', 'KE', 'Tana River', 'County'),
    ('KE-41', 'KE', 'Tharaka-Nithi', 'County'),
    ('KE-42', 'KE', 'Trans Nzoia', 'County'),
    ('KE-43', 'KE', 'Turkana', 'County'),
    ('KE-44', 'KE', 'Uasin Gishu', 'County'),
    ('KE-45', 'KE', 'Vihiga', 'County'),
    ('KE-46', 'KE', 'Wajir', 'County'),
    ('KE-47', 'KE', 'West Pokot', 'County'),
    ('KG-B', 'KG', 'Batken', 'Region'),
    ('KG-C', 'KG', 'Chuyskaya oblast''', 'Region'),
    ('KG-GB', 'KG', 'Bishkek Shaary', 'City'),
    ('KG-GO', 'KG', 'Gorod Osh', 'City'),
    ('KG-J', 'KG', 'Dzhalal-Abadskaya oblast''', 'Region'),
    ('KG-N', 'KG', 'Naryn', 'Region'),
    ('KG-O', 'KG', 'Osh', 'Region'),
    ('KG-T', 'KG', 'Talas', 'Region'),
    ('KG-Y', 'KG', 'Issyk-Kul''skaja oblast''', 'Region'),
    ('KH-1', 'KH', 'Banteay Mean Choăy', 'Province'),
    ('KH-10', 'KH', 'Kracheh', 'Province'),
    ('KH-11', 'KH', 'Mondol Kiri', 'Province'),
    ('KH-12', 'KH', 'Phnom Penh', 'Autonomous municipality'),
    ('KH-13', 'KH', 'Preah Vihear', 'Province'),
    ('KH-14', 'KH', 'Prey Veaeng', 'Province'),
    ('KH-15', 'KH', 'Pousaat', 'Province'),
    ('KH-16', 'KH', 'Rotanak Kiri', 'Province'),
    ('KH-17', 'KH', 'Siem Reab', 'Province'),
    ('KH-18', 'KH', 'Preah Sihanouk', 'Province'),
    ('KH-19', 'KH', 'Stoĕng Trêng', 'Province'),
    ('KH-2', 'KH', 'Baat Dambang', 'Province'),
    ('KH-20', 'KH', 'Svaay Rieng', 'Province'),
    ('KH-21', 'KH', 'Taakaev', 'Province'),
    ('KH-22', 'KH', 'Otdar Mean Chey', 'Province'),
    ('KH-23', 'KH', 'Kaeb', 'Province'),
    ('KH-24', 'KH', 'Pailin', 'Province'),
    ('KH-25', 'KH', 'Tbong Khmum', 'Province'),
    ('KH-3', 'KH', 'Kampong Chaam', 'Province'),
    ('KH-4', 'KH', 'Kampong Chhnang', 'Province'),
    ('KH-5', 'KH', 'Kampong Spueu', 'Province'),
    ('KH-6', 'KH', 'Kampong Thum', 'Province'),
    ('KH-7', 'KH', 'Kampot', 'Province'),
    ('KH-8', 'KH', 'Kandaal', 'Province'),
    ('KH-9', 'KH', 'Kaoh Kong', 'Province'),
    ('KI-G', 'KI', 'Gilbert Islands', 'Group of islands (20 inhabited islands)'),
    ('KI-L', 'KI', 'Line Islands', 'Group of islands (20 inhabited islands)'),
    ('KI-P', 'KI', 'Phoenix Islands', 'Group of islands (20 inhabited islands)'),
    ('KM-A', 'KM', 'Andjouân', 'Island'),
    ('KM-G', 'KM', 'Andjazîdja', 'Island'),
    ('KM-M', 'KM', 'Mohéli', 'Island'),
    ('KN-01', 'KN', 'Christ Church Nichola Town', 'Parish'),
    ('KN-02', 'KN', 'Saint Anne Sandy Point', 'Parish'),
    ('KN-03', 'KN', 'Saint George Basseterre', 'Parish'),
    ('KN-04', 'KN', 'Saint George Gingerland', 'Parish'),
    ('KN-05', 'KN', 'Saint James Windward', 'Parish'),
    ('KN-06', 'KN', 'Saint John Capisterre', 'Parish'),
    ('KN-07', 'KN', 'Saint John Figtree', 'Parish'),
    ('KN-08', 'KN', 'Saint Mary Cayon', 'Parish'),
    ('KN-09', 'KN', 'Saint Paul Capisterre', 'Parish'),
    ('KN-10', 'KN', 'Saint Paul Charlestown', 'Parish'),
    ('KN-11', 'KN', 'Saint Peter Basseterre', 'Parish'),
    ('KN-12', 'KN', 'Saint Thomas Lowland', 'Parish'),
    ('KN-13', 'KN', 'Saint Thomas Middle Island', 'Parish'),
    ('KN-15', 'KN', 'Trinity Palmetto Point', 'Parish'),
    ('KN-K', 'KN', 'Saint Kitts', 'State'),
    ('KN-N', 'KN', 'Nevis', 'State'),
    ('KP-01', 'KP', 'P''yǒngyang', 'Capital city'),
    ('KP-02', 'KP', 'P''yǒngan-namdo', 'Province'),
    ('KP-03', 'KP', 'P''yǒngan-bukto', 'Province'),
    ('KP-04', 'KP', 'Chagang-do', 'Province'),
    ('KP-05', 'KP', 'Hwanghae-namdo', 'Province'),
    ('KP-06', 'KP', 'Hwanghae-bukto', 'Province'),
    ('KP-07', 'KP', 'Kangweonto', 'Province'),
    ('KP-08', 'KP', 'Hamgyǒng-namdo', 'Province'),
    ('KP-09', 'KP', 'Hamgyǒng-bukto', 'Province'),
    ('KP-10', 'KP', 'Ryanggang-do', 'Province'),
    ('KP-13', 'KP', 'Raseon', 'Special city'),
    ('KP-14', 'KP', 'Nampho', 'Metropolitan city'),
    ('KR-11', 'KR', 'Seoul-teukbyeolsi', 'Special city'),
    ('KR-26', 'KR', 'Busan-gwangyeoksi', 'Metropolitan city'),
    ('KR-27', 'KR', 'Daegu-gwangyeoksi', 'Metropolitan city'),
    ('KR-28', 'KR', 'Incheon-gwangyeoksi', 'Metropolitan city'),
    ('KR-29', 'KR', 'Gwangju-gwangyeoksi', 'Metropolitan city'),
    ('KR-30', 'KR', 'Daejeon-gwangyeoksi', 'Metropolitan city'),
    ('KR-31', 'KR', 'Ulsan-gwangyeoksi', 'Metropolitan city'),
    ('KR-41', 'KR', 'Gyeonggi-do', 'Province'),
    ('KR-42', 'KR', 'Gangwon-do', 'Province'),
    ('KR-43', 'KR', 'Chungcheongbuk-do', 'Province'),
    ('KR-44', 'KR', 'Chungcheongnam-do', 'Province'),
    ('KR-45', 'KR', 'Jeollabuk-do', 'Province'),
    ('KR-46', 'KR', 'Jeollanam-do', 'Province'),
    ('KR-47', 'KR', 'Gyeongsangbuk-do', 'Province'),
    ('KR-48', 'KR', 'Gyeongsangnam-do', 'Province'),
    ('KR-49', 'KR', 'Jeju-teukbyeoljachido', 'Special self-governing province'),
    ('KR-50', 'KR', 'Sejong', 'Special self-governing city'),
    ('KW-AH', 'KW', 'Al Aḩmadī', 'Governorate'),
    ('KW-FA', 'KW', 'Al Farwānīyah', 'Governorate'),
    ('KW-HA', 'KW', 'Ḩawallī', 'Governorate'),
    ('KW-JA', 'KW', 'Al Jahrā’', 'Governorate'),
    ('KW-KU', 'KW', 'Al ‘Āşimah', 'Governorate'),
    ('KW-MU', 'KW', 'Mubārak al Kabīr', 'Governorate'),
    ('KZ-AKM', 'KZ', 'Akmolinskaja oblast''', 'Region'),
    ('KZ-AKT', 'KZ', 'Aktjubinskaja oblast''', 'Region'),
    ('KZ-ALA', 'KZ', 'Almaty', 'City'),
    ('KZ-ALM', 'KZ', 'Almatinskaja oblast''', 'Region'),
    ('KZ-AST', 'KZ', 'Nur-Sultan', 'City'),
    ('KZ-ATY', 'KZ', 'Atyrauskaja oblast''', 'Region'),
    ('KZ-KAR', 'KZ', 'Karagandinskaja oblast''', 'Region'),
    ('KZ-KUS', 'KZ', 'Kostanajskaja oblast''', 'Region'),
    ('KZ-KZY', 'KZ', 'Kyzylordinskaja oblast''', 'Region'),
    ('KZ-MAN', 'KZ', 'Mangghystaū oblysy', 'Region'),
    ('KZ-PAV', 'KZ', 'Pavlodar oblysy', 'Region'),
    ('KZ-SEV', 'KZ', 'Severo-Kazahstanskaja oblast''', 'Region'),
    ('KZ-SHY', 'KZ', 'Shymkent', 'City'),
    ('KZ-VOS', 'KZ', 'Shyghys Qazaqstan oblysy', 'Region'),
    ('KZ-YUZ', 'KZ', 'Turkestankaya oblast''', 'Region'),
    ('KZ-ZAP', 'KZ', 'Batys Qazaqstan oblysy', 'Region'),
    ('KZ-ZHA', 'KZ', 'Zhambyl oblysy', 'Region'),
    ('LA-AT', 'LA', 'Attapu', 'Province'),
    ('LA-BK', 'LA', 'Bokèo', 'Province'),
    ('LA-BL', 'LA', 'Bolikhamxai', 'Province'),
    ('LA-CH', 'LA', 'Champasak', 'Province'),
    ('LA-HO', 'LA', 'Houaphan', 'Province'),
    ('LA-KH', 'LA', 'Khammouan', 'Province'),
    ('LA-LM', 'LA', 'Louang Namtha', 'Province'),
    ('LA-LP', 'LA', 'Louangphabang', 'Province'),
    ('LA-OU', 'LA', 'Oudômxai', 'Province'),
    ('LA-PH', 'LA', 'Phôngsali', 'Province'),
    ('LA-SL', 'LA', 'Salavan', 'Province'),
    ('LA-SV', 'LA', 'Savannakhét', 'Province'),
    ('LA-VI', 'LA', 'Viangchan', 'Province'),
    ('LA-VT', 'LA', 'Viangchan', 'Prefecture'),
    ('LA-XA', 'LA', 'Xaignabouli', 'Province'),
    ('LA-XE', 'LA', 'Xékong', 'Province'),
    ('LA-XI', 'LA', 'Xiangkhouang', 'Province'),
    ('LA-XS', 'LA', 'Xaisômboun', 'Province'),
    ('LB-AK', 'LB', 'Aakkâr', 'Governorate'),
    ('LB-AS', 'LB', 'Ash Shimāl', 'Governorate'),
    ('LB-BA', 'LB', 'Bayrūt', 'Governorate'),
    ('LB-BH', 'LB', 'Baalbek-Hermel', 'Governorate'),
    ('LB-BI', 'LB', 'Al Biqā‘', 'Governorate'),
    ('LB-JA', 'LB', 'Al Janūb', 'Governorate'),
    ('LB-JL', 'LB', 'Jabal Lubnān', 'Governorate'),
    ('LB-NA', 'LB', 'An Nabaţīyah', 'Governorate'),
    ('LC-01', 'LC', 'Anse la Raye', 'District'),
    ('LC-02', 'LC', 'Castries', 'District'),
    ('LC-03', 'LC', 'Choiseul', 'District'),
    ('LC-05', 'LC', 'Dennery', 'District'),
    ('LC-06', 'LC', 'Gros Islet', 'District'),
    ('LC-07', 'LC', 'Laborie', 'District'),
    ('LC-08', 'LC', 'Micoud', 'District'),
    ('LC-10', 'LC', 'Soufrière', 'District'),
    ('LC-11', 'LC', 'Vieux Fort', 'District'),
    ('LC-12', 'LC', 'Canaries', 'District'),
    ('LI-01', 'LI', 'Balzers', 'Commune'),
    ('LI-02', 'LI', 'Eschen', 'Commune'),
    ('LI-03', 'LI', 'Gamprin', 'Commune'),
    ('LI-04', 'LI', 'Mauren', 'Commune'),
    ('LI-05', 'LI', 'Planken', 'Commune'),
    ('LI-06', 'LI', 'Ruggell', 'Commune'),
    ('LI-07', 'LI', 'Schaan', 'Commune'),
    ('LI-08', 'LI', 'Schellenberg', 'Commune'),
    ('LI-09', 'LI', 'Triesen', 'Commune'),
    ('LI-10', 'LI', 'Triesenberg', 'Commune'),
    ('LI-11', 'LI', 'Vaduz', 'Commune'),
    ('LK-1', 'LK', 'Western Province', 'Province'),
    ('LK-11', 'LK', 'Colombo', 'District'),
    ('LK-12', 'LK', 'Gampaha', 'District'),
    ('LK-13', 'LK', 'Kalutara', 'District'),
    ('LK-2', 'LK', 'Central Province', 'Province'),
    ('LK-21', 'LK', 'Kandy', 'District'),
    ('LK-22', 'LK', 'Matale', 'District'),
    ('LK-23', 'LK', 'Nuwara Eliya', 'District'),
    ('LK-3', 'LK', 'Southern Province', 'Province'),
    ('LK-31', 'LK', 'Galle', 'District'),
    ('LK-32', 'LK', 'Matara', 'District'),
    ('LK-33', 'LK', 'Hambantota', 'District'),
    ('LK-4', 'LK', 'Northern Province', 'Province'),
    ('LK-41', 'LK', 'Jaffna', 'District'),
    ('LK-42', 'LK', 'Kilinochchi', 'District'),
    ('LK-43', 'LK', 'Mannar', 'District'),
    ('LK-44', 'LK', 'Vavuniya', 'District'),
    ('LK-45', 'LK', 'Mullaittivu', 'District'),
    ('LK-5', 'LK', 'Eastern Province', 'Province'),
    ('LK-51', 'LK', 'Batticaloa', 'District'),
    ('LK-52', 'LK', 'Ampara', 'District'),
    ('LK-53', 'LK', 'Trincomalee', 'District'),
    ('LK-6', 'LK', 'North Western Province', 'Province'),
    ('LK-61', 'LK', 'Kurunegala', 'District'),
    ('LK-62', 'LK', 'Puttalam', 'District'),
    ('LK-7', 'LK', 'North Central Province', 'Province'),
    ('LK-71', 'LK', 'Anuradhapura', 'District'),
    ('LK-72', 'LK', 'Polonnaruwa', 'District'),
    ('LK-8', 'LK', 'Uva Province', 'Province'),
    ('LK-81', 'LK', 'Badulla', 'District'),
    ('LK-82', 'LK', 'Monaragala', 'District'),
    ('LK-9', 'LK', 'Sabaragamuwa Province', 'Province'),
    ('LK-91', 'LK', 'Ratnapura', 'District'),
    ('LK-92', 'LK', 'Kegalla', 'District'),
    ('LR-BG', 'LR', 'Bong', 'County'),
    ('LR-BM', 'LR', 'Bomi', 'County'),
    ('LR-CM', 'LR', 'Grand Cape Mount', 'County'),
    ('LR-GB', 'LR', 'Grand Bassa', 'County'),
    ('LR-GG', 'LR', 'Grand Gedeh', 'County'),
    ('LR-GK', 'LR', 'Grand Kru', 'County'),
    ('LR-GP', 'LR', 'Gbarpolu', 'County'),
    ('LR-LO', 'LR', 'Lofa', 'County'),
    ('LR-MG', 'LR', 'Margibi', 'County'),
    ('LR-MO', 'LR', 'Montserrado', 'County'),
    ('LR-MY', 'LR', 'Maryland', 'County'),
    ('LR-NI', 'LR', 'Nimba', 'County'),
    ('LR-RG', 'LR', 'River Gee', 'County'),
    ('LR-RI', 'LR', 'River Cess', 'County'),
    ('LR-SI', 'LR', 'Sinoe', 'County'),
    ('LS-A', 'LS', 'Maseru', 'District'),
    ('LS-B', 'LS', 'Botha-Bothe', 'District'),
    ('LS-C', 'LS', 'Leribe', 'District'),
    ('LS-D', 'LS', 'Berea', 'District'),
    ('LS-E', 'LS', 'Mafeteng', 'District'),
    ('LS-F', 'LS', 'Mohale''s Hoek', 'District'),
    ('LS-G', 'LS', 'Quthing', 'District'),
    ('LS-H', 'LS', 'Qacha''s Nek', 'District'),
    ('LS-J', 'LS', 'Mokhotlong', 'District'),
    ('LS-K', 'LS', 'Thaba-Tseka', 'District'),
    ('LT-01', 'LT', 'Akmenė', 'District municipality'),
    ('LT-02', 'LT', 'Alytaus miestas', 'City municipality'),
    ('LT-03', 'LT', 'Alytus', 'District municipality'),
    ('LT-04', 'LT', 'Anykščiai', 'District municipality'),
    ('LT-05', 'LT', 'Birštono', 'Municipality'),
    ('LT-06', 'LT', 'Biržai', 'District municipality'),
    ('LT-07', 'LT', 'Druskininkai', 'Municipality'),
    ('LT-08', 'LT', 'Elektrėnai', 'Municipality'),
    ('LT-09', 'LT', 'Ignalina', 'District municipality'),
    ('LT-10', 'LT', 'Jonava', 'District municipality'),
    ('LT-11', 'LT', 'Joniškis', 'District municipality'),
    ('LT-12', 'LT', 'Jurbarkas', 'District municipality'),
    ('LT-13', 'LT', 'Kaišiadorys', 'District municipality'),
    ('LT-14', 'LT', 'Kalvarijos', 'Municipality'),
    ('LT-15', 'LT', 'Kauno miestas', 'City municipality'),
    ('LT-16', 'LT', 'Kaunas', 'District municipality'),
    ('LT-17', 'LT', 'Kazlų Rūdos', 'Municipality'),
    ('LT-18', 'LT', 'Kėdainiai', 'District municipality'),
    ('LT-19', 'LT', 'Kelmė', 'District municipality'),
    ('LT-20', 'LT', 'Klaipėdos miestas', 'City municipality'),
    ('LT-21', 'LT', 'Klaipėda', 'District municipality'),
    ('LT-22', 'LT', 'Kretinga', 'District municipality'),
    ('LT-23', 'LT', 'Kupiškis', 'District municipality'),
    ('LT-24', 'LT', 'Lazdijai', 'District municipality'),
    ('LT-25', 'LT', 'Marijampolė', 'District municipality'),
    ('LT-26', 'LT', 'Mažeikiai', 'District municipality'),
    ('LT-27', 'LT', 'Molėtai', 'District municipality'),
    ('LT-28', 'LT', 'Neringa', 'Municipality'),
    ('LT-29', 'LT', 'Pagėgiai', 'Municipality'),
    ('LT-30', 'LT', 'Pakruojis', 'District municipality'),
    ('LT-31', 'LT', 'Palangos miestas', 'City municipality'),
    ('LT-32', 'LT', 'Panevėžio miestas', 'City municipality'),
    ('LT-33', 'LT', 'Panevėžys', 'District municipality'),
    ('LT-34', 'LT', 'Pasvalys', 'District municipality'),
    ('LT-35', 'LT', 'Plungė', 'District municipality'),
    ('LT-36', 'LT', 'Prienai', 'District municipality'),
    ('LT-37', 'LT', 'Radviliškis', 'District municipality'),
    ('LT-38', 'LT', 'Raseiniai', 'District municipality'),
    ('LT-39', 'LT', 'Rietavo', 'Municipality'),
    ('LT-40', 'LT', 'Rokiškis', 'District municipality'),
    ('LT-41', 'LT', 'Šakiai', 'District municipality'),
    ('LT-42', 'LT', 'Šalčininkai', 'District municipality'),
    ('LT-43', 'LT', 'Šiaulių miestas', 'City municipality'),
    ('LT-44', 'LT', 'Šiauliai', 'District municipality'),
    ('LT-45', 'LT', 'Šilalė', 'District municipality'),
    ('LT-46', 'LT', 'Šilutė', 'District municipality'),
    ('LT-47', 'LT', 'Širvintos', 'District municipality'),
    ('LT-48', 'LT', 'Skuodas', 'District municipality'),
    ('LT-49', 'LT', 'Švenčionys', 'District municipality'),
    ('LT-50', 'LT', 'Tauragė', 'District municipality'),
    ('LT-51', 'LT', 'Telšiai', 'District municipality'),
    ('LT-52', 'LT', 'Trakai', 'District municipality'),
    ('LT-53', 'LT', 'Ukmergė', 'District municipality'),
    ('LT-54', 'LT', 'Utena', 'District municipality'),
    ('LT-55', 'LT', 'Varėna', 'District municipality'),
    ('LT-56', 'LT', 'Vilkaviškis', 'District municipality'),
    ('LT-57', 'LT', 'Vilniaus miestas', 'City municipality'),
    ('LT-58', 'LT', 'Vilnius', 'District municipality'),
    ('LT-59', 'LT', 'Visaginas', 'Municipality'),
    ('LT-60', 'LT', 'Zarasai', 'District municipality'),
    ('LT-AL', 'LT', 'Alytaus apskritis', 'County'),
    ('LT-KL', 'LT', 'Klaipėdos apskritis', 'County'),
    ('LT-KU', 'LT', 'Kauno apskritis', 'County'),
    ('LT-MR', 'LT', 'Marijampolės apskritis', 'County'),
    ('LT-PN', 'LT', 'Panevėžio apskritis', 'County'),
    ('LT-SA', 'LT', 'Šiaulių apskritis', 'County'),
    ('LT-TA', 'LT', 'Tauragės apskritis', 'County'),
    ('LT-TE', 'LT', 'Telšių apskritis', 'County'),
    ('LT-UT', 'LT', 'Utenos apskritis', 'County'),
    ('LT-VL', 'LT', 'Vilniaus apskritis', 'County'),
    ('LU-CA', 'LU', 'Capellen', 'Canton'),
    ('LU-CL', 'LU', 'Clerf', 'Canton'),
    ('LU-DI', 'LU', 'Diekirch', 'Canton'),
    ('LU-EC', 'LU', 'Echternach', 'Canton'),
    ('LU-ES', 'LU', 'Esch an der Alzette', 'Canton'),
    ('LU-GR', 'LU', 'Grevenmacher', 'Canton'),
    ('LU-LU', 'LU', 'Luxembourg', 'Canton'),
    ('LU-ME', 'LU', 'Mersch', 'Canton'),
    ('LU-RD', 'LU', 'Redange', 'Canton'),
    ('LU-RM', 'LU', 'Remich', 'Canton'),
    ('LU-VD', 'LU', 'Veianen', 'Canton'),
    ('LU-WI', 'LU', 'Wiltz', 'Canton'),
    ('LV-001', 'LV', 'Aglonas novads', 'Municipality'),
    ('LV-002', 'LV', 'Aizkraukles novads', 'Municipality'),
    ('LV-003', 'LV', 'Aizputes novads', 'Municipality'),
    ('LV-004', 'LV', 'Aknīstes novads', 'Municipality'),
    ('LV-005', 'LV', 'Alojas novads', 'Municipality'),
    ('LV-006', 'LV', 'Alsungas novads', 'Municipality'),
    ('LV-007', 'LV', 'Alūksnes novads', 'Municipality'),
    ('LV-008', 'LV', 'Amatas novads', 'Municipality'),
    ('LV-009', 'LV', 'Apes novads', 'Municipality'),
    ('LV-010', 'LV', 'Auces novads', 'Municipality'),
    ('LV-011', 'LV', 'Ādažu novads', 'Municipality'),
    ('LV-012', 'LV', 'Babītes novads', 'Municipality'),
    ('LV-013', 'LV', 'Baldones novads', 'Municipality'),
    ('LV-014', 'LV', 'Baltinavas novads', 'Municipality'),
    ('LV-015', 'LV', 'Balvu novads', 'Municipality'),
    ('LV-016', 'LV', 'Bauskas novads', 'Municipality'),
    ('LV-017', 'LV', 'Beverīnas novads', 'Municipality'),
    ('LV-018', 'LV', 'Brocēnu novads', 'Municipality'),
    ('LV-019', 'LV', 'Burtnieku novads', 'Municipality'),
    ('LV-020', 'LV', 'Carnikavas novads', 'Municipality'),
    ('LV-021', 'LV', 'Cesvaines novads', 'Municipality'),
    ('LV-022', 'LV', 'Cēsu novads', 'Municipality'),
    ('LV-023', 'LV', 'Ciblas novads', 'Municipality'),
    ('LV-024', 'LV', 'Dagdas novads', 'Municipality'),
    ('LV-025', 'LV', 'Daugavpils novads', 'Municipality'),
    ('LV-026', 'LV', 'Dobeles novads', 'Municipality'),
    ('LV-027', 'LV', 'Dundagas novads', 'Municipality'),
    ('LV-028', 'LV', 'Durbes novads', 'Municipality'),
    ('LV-029', 'LV', 'Engures novads', 'Municipality'),
    ('LV-030', 'LV', 'Ērgļu novads', 'Municipality'),
    ('LV-031', 'LV', 'Garkalnes novads', 'Municipality'),
    ('LV-032', 'LV', 'Grobiņas novads', 'Municipality'),
    ('LV-033', 'LV', 'Gulbenes novads', 'Municipality'),
    ('LV-034', 'LV', 'Iecavas novads', 'Municipality'),
    ('LV-035', 'LV', 'Ikšķiles novads', 'Municipality'),
    ('LV-036', 'LV', 'Ilūkstes novads', 'Municipality'),
    ('LV-037', 'LV', 'Inčukalna novads', 'Municipality'),
    ('LV-038', 'LV', 'Jaunjelgavas novads', 'Municipality'),
    ('LV-039', 'LV', 'Jaunpiebalgas novads', 'Municipality'),
    ('LV-040', 'LV', 'Jaunpils novads', 'Municipality'),
    ('LV-041', 'LV', 'Jelgavas novads', 'Municipality'),
    ('LV-042', 'LV', 'Jēkabpils novads', 'Municipality'),
    ('LV-043', 'LV', 'Kandavas novads', 'Municipality'),
    ('LV-044', 'LV', 'Kārsavas novads', 'Municipality'),
    ('LV-045', 'LV', 'Kocēnu novads', 'Municipality'),
    ('LV-046', 'LV', 'Kokneses novads', 'Municipality'),
    ('LV-047', 'LV', 'Krāslavas novads', 'Municipality'),
    ('LV-048', 'LV', 'Krimuldas novads', 'Municipality'),
    ('LV-049', 'LV', 'Krustpils novads', 'Municipality'),
    ('LV-050', 'LV', 'Kuldīgas novads', 'Municipality'),
    ('LV-051', 'LV', 'Ķeguma novads', 'Municipality'),
    ('LV-052', 'LV', 'Ķekavas novads', 'Municipality'),
    ('LV-053', 'LV', 'Lielvārdes novads', 'Municipality'),
    ('LV-054', 'LV', 'Limbažu novads', 'Municipality'),
    ('LV-055', 'LV', 'Līgatnes novads', 'Municipality'),
    ('LV-056', 'LV', 'Līvānu novads', 'Municipality'),
    ('LV-057', 'LV', 'Lubānas novads', 'Municipality'),
    ('LV-058', 'LV', 'Ludzas novads', 'Municipality'),
    ('LV-059', 'LV', 'Madonas novads', 'Municipality'),
    ('LV-060', 'LV', 'Mazsalacas novads', 'Municipality'),
    ('LV-061', 'LV', 'Mālpils novads', 'Municipality'),
    ('LV-062', 'LV', 'Mārupes novads', 'Municipality'),
    ('LV-063', 'LV', 'Mērsraga novads', 'Municipality'),
    ('LV-064', 'LV', 'Naukšēnu novads', 'Municipality'),
    ('LV-065', 'LV', 'Neretas novads', 'Municipality'),
    ('LV-066', 'LV', 'Nīcas novads', 'Municipality'),
    ('LV-067', 'LV', 'Ogres novads', 'Municipality'),
    ('LV-068', 'LV', 'Olaines novads', 'Municipality'),
    ('LV-069', 'LV', 'Ozolnieku novads', 'Municipality'),
    ('LV-070', 'LV', 'Pārgaujas novads', 'Municipality'),
    ('LV-071', 'LV', 'Pāvilostas novads', 'Municipality'),
    ('LV-072', 'LV', 'Pļaviņu novads', 'Municipality'),
    ('LV-073', 'LV', 'Preiļu novads', 'Municipality'),
    ('LV-074', 'LV', 'Priekules novads', 'Municipality'),
    ('LV-075', 'LV', 'Priekuļu novads', 'Municipality'),
    ('LV-076', 'LV', 'Raunas novads', 'Municipality'),
    ('LV-077', 'LV', 'Rēzeknes novads', 'Municipality'),
    ('LV-078', 'LV', 'Riebiņu novads', 'Municipality'),
    ('LV-079', 'LV', 'Rojas novads', 'Municipality'),
    ('LV-080', 'LV', 'Ropažu novads', 'Municipality'),
    ('LV-081', 'LV', 'Rucavas novads', 'Municipality'),
    ('LV-082', 'LV', 'Rugāju novads', 'Municipality'),
    ('LV-083', 'LV', 'Rundāles novads', 'Municipality'),
    ('LV-084', 'LV', 'Rūjienas novads', 'Municipality'),
    ('LV-085', 'LV', 'Salas novads', 'Municipality'),
    ('LV-086', 'LV', 'Salacgrīvas novads', 'Municipality'),
    ('LV-087', 'LV', 'Salaspils novads', 'Municipality'),
    ('LV-088', 'LV', 'Saldus novads', 'Municipality'),
    ('LV-089', 'LV', 'Saulkrastu novads', 'Municipality'),
    ('LV-090', 'LV', 'Sējas novads', 'Municipality'),
    ('LV-091', 'LV', 'Siguldas novads', 'Municipality'),
    ('LV-092', 'LV', 'Skrīveru novads', 'Municipality'),
    ('LV-093', 'LV', 'Skrundas novads', 'Municipality'),
    ('LV-094', 'LV', 'Smiltenes novads', 'Municipality'),
    ('LV-095', 'LV', 'Stopiņu novads', 'Municipality'),
    ('LV-096', 'LV', 'Strenču novads', 'Municipality'),
    ('LV-097', 'LV', 'Talsu novads', 'Municipality'),
    ('LV-098', 'LV', 'Tērvetes novads', 'Municipality'),
    ('LV-099', 'LV', 'Tukuma novads', 'Municipality'),
    ('LV-100', 'LV', 'Vaiņodes novads', 'Municipality'),
    ('LV-101', 'LV', 'Valkas novads', 'Municipality'),
    ('LV-102', 'LV', 'Varakļānu novads', 'Municipality'),
    ('LV-103', 'LV', 'Vārkavas novads', 'Municipality'),
    ('LV-104', 'LV', 'Vecpiebalgas novads', 'Municipality'),
    ('LV-105', 'LV', 'Vecumnieku novads', 'Municipality'),
    ('LV-106', 'LV', 'Ventspils novads', 'Municipality'),
    ('LV-107', 'LV', 'Viesītes novads', 'Municipality'),
    ('LV-108', 'LV', 'Viļakas novads', 'Municipality'),
    ('LV-109', 'LV', 'Viļānu novads', 'Municipality'),
    ('LV-110', 'LV', 'Zilupes novads', 'Municipality'),
    ('LV-DGV', 'LV', 'Daugavpils', 'Republican city'),
    ('LV-JEL', 'LV', 'Jelgava', 'Republican city'),
    ('LV-JKB', 'LV', 'Jēkabpils', 'Republican city'),
    ('LV-JUR', 'LV', 'Jūrmala', 'Republican city'),
    ('LV-LPX', 'LV', 'Liepāja', 'Republican city'),
    ('LV-REZ', 'LV', 'Rēzekne', 'Republican city'),
    ('LV-RIX', 'LV', 'Rīga', 'Republican city'),
    ('LV-VEN', 'LV', 'Ventspils', 'Republican city'),
    ('LV-VMR', 'LV', 'Valmiera', 'Republican city'),
    ('LY-BA', 'LY', 'Banghāzī', 'Popularate'),
    ('LY-BU', 'LY', 'Al Buţnān', 'Popularate'),
    ('LY-DR', 'LY', 'Darnah', 'Popularate'),
    ('LY-GT', 'LY', 'Ghāt', 'Popularate'),
    ('LY-JA', 'LY', 'Al Jabal al Akhḑar', 'Popularate'),
    ('LY-JG', 'LY', 'Al Jabal al Gharbī', 'Popularate'),
    ('LY-JI', 'LY', 'Al Jafārah', 'Popularate'),
    ('LY-JU', 'LY', 'Al Jufrah', 'Popularate'),
    ('LY-KF', 'LY', 'Al Kufrah', 'Popularate'),
    ('LY-MB', 'LY', 'Al Marqab', 'Popularate'),
    ('LY-MI', 'LY', 'Mişrātah', 'Popularate'),
    ('LY-MJ', 'LY', 'Al Marj', 'Popularate'),
    ('LY-MQ', 'LY', 'Murzuq', 'Popularate'),
    ('LY-NL', 'LY', 'Nālūt', 'Popularate'),
    ('LY-NQ', 'LY', 'An Nuqāţ al Khams', 'Popularate'),
    ('LY-SB', 'LY', 'Sabhā', 'Popularate'),
    ('LY-SR', 'LY', 'Surt', 'Popularate'),
    ('LY-TB', 'LY', 'Ţarābulus', 'Popularate'),
    ('LY-WA', 'LY', 'Al Wāḩāt', 'Popularate'),
    ('LY-WD', 'LY', 'Wādī al Ḩayāt', 'Popularate'),
    ('LY-WS', 'LY', 'Wādī ash Shāţi’', 'Popularate'),
    ('LY-ZA', 'LY', 'Az Zāwiyah', 'Popularate'),
    ('MA-01', 'MA', 'Tanger-Tétouan-Al Hoceïma', 'Region'),
    ('MA-02', 'MA', 'L''Oriental', 'Region'),
    ('MA-03', 'MA', 'Fès-Meknès', 'Region'),
    ('MA-04', 'MA', 'Rabat-Salé-Kénitra', 'Region'),
    ('MA-05', 'MA', 'Béni Mellal-Khénifra', 'Region'),
    ('MA-06', 'MA', 'Casablanca-Settat', 'Region'),
    ('MA-07', 'MA', 'Marrakech-Safi', 'Region'),
    ('MA-08', 'MA', 'Drâa-Tafilalet', 'Region'),
    ('MA-09', 'MA', 'Souss-Massa', 'Region'),
    ('MA-10', 'MA', 'Guelmim-Oued Noun (EH-partial)', 'Region'),
    ('MA-11', 'MA', 'Laâyoune-Sakia El Hamra (EH-partial)', 'Region'),
    ('MA-12', 'MA', 'Dakhla-Oued Ed-Dahab (EH)', 'Region'),
    ('MA-AGD', 'MA', 'Agadir-Ida-Ou-Tanane', 'Prefecture'),
    ('MA-AOU', 'MA', 'Aousserd (EH)', 'Province'),
    ('MA-ASZ', 'MA', 'Assa-Zag (EH-partial)', 'Province'),
    ('MA-AZI', 'MA', 'Azilal', 'Province'),
    ('MA-BEM', 'MA', 'Béni Mellal', 'Province'),
    ('MA-BER', 'MA', 'Berkane', 'Province'),
    ('MA-BES', 'MA', 'Benslimane', 'Province'),
    ('MA-BOD', 'MA', 'Boujdour (EH)', 'Province'),
    ('MA-BOM', 'MA', 'Boulemane', 'Province'),
    ('MA-BRR', 'MA', 'Berrechid', 'Province'),
    ('MA-CAS', 'MA', 'Casablanca', 'Prefecture'),
    ('MA-CHE', 'MA', 'Chefchaouen', 'Province'),
    ('MA-CHI', 'MA', 'Chichaoua', 'Province'),
    ('MA-CHT', 'MA', 'Chtouka-Ait Baha', 'Province'),
    ('MA-DRI', 'MA', 'Driouch', 'Province'),
    ('MA-ERR', 'MA', 'Errachidia', 'Province'),
    ('MA-ESI', 'MA', 'Essaouira', 'Province'),
    ('MA-ESM', 'MA', 'Es-Semara (EH-partial)', 'Province'),
    ('MA-FAH', 'MA', 'Fahs-Anjra', 'Province'),
    ('MA-FES', 'MA', 'Fès', 'Prefecture'),
    ('MA-FIG', 'MA', 'Figuig', 'Province'),
    ('MA-FQH', 'MA', 'Fquih Ben Salah', 'Province'),
    ('MA-GUE', 'MA', 'Guelmim', 'Province'),
    ('MA-GUF', 'MA', 'Guercif', 'Province'),
    ('MA-HAJ', 'MA', 'El Hajeb', 'Province'),
    ('MA-HAO', 'MA', 'Al Haouz', 'Province'),
    ('MA-HOC', 'MA', 'Al Hoceïma', 'Province'),
    ('MA-IFR', 'MA', 'Ifrane', 'Province'),
    ('MA-INE', 'MA', 'Inezgane-Ait Melloul', 'Prefecture'),
    ('MA-JDI', 'MA', 'El Jadida', 'Province'),
    ('MA-JRA', 'MA', 'Jerada', 'Province'),
    ('MA-KEN', 'MA', 'Kénitra', 'Province'),
    ('MA-KES', 'MA', 'El Kelâa des Sraghna', 'Province'),
    ('MA-KHE', 'MA', 'Khémisset', 'Province'),
    ('MA-KHN', 'MA', 'Khénifra', 'Province'),
    ('MA-KHO', 'MA', 'Khouribga', 'Province'),
    ('MA-LAA', 'MA', 'Laâyoune (EH)', 'Province'),
    ('MA-LAR', 'MA', 'Larache', 'Province'),
    ('MA-MAR', 'MA', 'Marrakech', 'Prefecture'),
    ('MA-MDF', 'MA', 'M’diq-Fnideq', 'Prefecture'),
    ('MA-MED', 'MA', 'Médiouna', 'Province'),
    ('MA-MEK', 'MA', 'Meknès', 'Prefecture'),
    ('MA-MID', 'MA', 'Midelt', 'Province'),
    ('MA-MOH', 'MA', 'Mohammadia', 'Prefecture'),
    ('MA-MOU', 'MA', 'Moulay Yacoub', 'Province'),
    ('MA-NAD', 'MA', 'Nador', 'Province'),
    ('MA-NOU', 'MA', 'Nouaceur', 'Province'),
    ('MA-OUA', 'MA', 'Ouarzazate', 'Province'),
    ('MA-OUD', 'MA', 'Oued Ed-Dahab (EH)', 'Province'),
    ('MA-OUJ', 'MA', 'Oujda-Angad', 'Prefecture'),
    ('MA-OUZ', 'MA', 'Ouezzane', 'Province'),
    ('MA-RAB', 'MA', 'Rabat', 'Prefecture'),
    ('MA-REH', 'MA', 'Rehamna', 'Province'),
    ('MA-SAF', 'MA', 'Safi', 'Province'),
    ('MA-SAL', 'MA', 'Salé', 'Prefecture'),
    ('MA-SEF', 'MA', 'Sefrou', 'Province'),
    ('MA-SET', 'MA', 'Settat', 'Province'),
    ('MA-SIB', 'MA', 'Sidi Bennour', 'Province'),
    ('MA-SIF', 'MA', 'Sidi Ifni', 'Province'),
    ('MA-SIK', 'MA', 'Sidi Kacem', 'Province'),
    ('MA-SIL', 'MA', 'Sidi Slimane', 'Province'),
    ('MA-SKH', 'MA', 'Skhirate-Témara', 'Prefecture'),
    ('MA-TAF', 'MA', 'Tarfaya (EH-partial)', 'Province'),
    ('MA-TAI', 'MA', 'Taourirt', 'Province'),
    ('MA-TAO', 'MA', 'Taounate', 'Province'),
    ('MA-TAR', 'MA', 'Taroudannt', 'Province'),
    ('MA-TAT', 'MA', 'Tata', 'Province'),
    ('MA-TAZ', 'MA', 'Taza', 'Province'),
    ('MA-TET', 'MA', 'Tétouan', 'Province'),
    ('MA-TIN', 'MA', 'Tinghir', 'Province'),
    ('MA-TIZ', 'MA', 'Tiznit', 'Province'),
    ('MA-TNG', 'MA', 'Tanger-Assilah', 'Prefecture'),
    ('MA-TNT', 'MA', 'Tan-Tan (EH-partial)', 'Province'),
    ('MA-YUS', 'MA', 'Youssoufia', 'Province'),
    ('MA-ZAG', 'MA', 'Zagora', 'Province'),
    ('MC-CL', 'MC', 'La Colle', 'Quarter'),
    ('MC-CO', 'MC', 'La Condamine', 'Quarter'),
    ('MC-FO', 'MC', 'Fontvieille', 'Quarter'),
    ('MC-GA', 'MC', 'La Gare', 'Quarter'),
    ('MC-JE', 'MC', 'Jardin Exotique', 'Quarter'),
    ('MC-LA', 'MC', 'Larvotto', 'Quarter'),
    ('MC-MA', 'MC', 'Malbousquet', 'Quarter'),
    ('MC-MC', 'MC', 'Monte-Carlo', 'Quarter'),
    ('MC-MG', 'MC', 'Moneghetti', 'Quarter'),
    ('MC-MO', 'MC', 'Monaco-Ville', 'Quarter'),
    ('MC-MU', 'MC', 'Moulins', 'Quarter'),
    ('MC-PH', 'MC', 'Port-Hercule', 'Quarter'),
    ('MC-SD', 'MC', 'Sainte-Dévote', 'Quarter'),
    ('MC-SO', 'MC', 'La Source', 'Quarter'),
    ('MC-SP', 'MC', 'Spélugues', 'Quarter'),
    ('MC-SR', 'MC', 'Saint-Roman', 'Quarter'),
    ('MC-VR', 'MC', 'Vallon de la Rousse', 'Quarter'),
    ('MD-AN', 'MD', 'Anenii Noi', 'District'),
    ('MD-BA', 'MD', 'Bălți', 'City'),
    ('MD-BD', 'MD', 'Bender [Tighina]', 'City'),
    ('MD-BR', 'MD', 'Briceni', 'District'),
    ('MD-BS', 'MD', 'Basarabeasca', 'District'),
    ('MD-CA', 'MD', 'Cahul', 'District'),
    ('MD-CL', 'MD', 'Călărași', 'District'),
    ('MD-CM', 'MD', 'Cimișlia', 'District'),
    ('MD-CR', 'MD', 'Criuleni', 'District'),
    ('MD-CS', 'MD', 'Căușeni', 'District'),
    ('MD-CT', 'MD', 'Cantemir', 'District'),
    ('MD-CU', 'MD', 'Chișinău', 'City'),
    ('MD-DO', 'MD', 'Dondușeni', 'District'),
    ('MD-DR', 'MD', 'Drochia', 'District'),
    ('MD-DU', 'MD', 'Dubăsari', 'District'),
    ('MD-ED', 'MD', 'Edineț', 'District'),
    ('MD-FA', 'MD', 'Fălești', 'District'),
    ('MD-FL', 'MD', 'Florești', 'District'),
    ('MD-GA', 'MD', 'Găgăuzia, Unitatea teritorială autonomă (UTAG)', 'Autonomous territorial unit'),
    ('MD-GL', 'MD', 'Glodeni', 'District'),
    ('MD-HI', 'MD', 'Hîncești', 'District'),
    ('MD-IA', 'MD', 'Ialoveni', 'District'),
    ('MD-LE', 'MD', 'Leova', 'District'),
    ('MD-NI', 'MD', 'Nisporeni', 'District'),
    ('MD-OC', 'MD', 'Ocnița', 'District'),
    ('MD-OR', 'MD', 'Orhei', 'District'),
    ('MD-RE', 'MD', 'Rezina', 'District'),
    ('MD-RI', 'MD', 'Rîșcani', 'District'),
    ('MD-SD', 'MD', 'Șoldănești', 'District'),
    ('MD-SI', 'MD', 'Sîngerei', 'District'),
    ('MD-SN', 'MD', 'Stînga Nistrului, unitatea teritorială din', 'Territorial unit'),
    ('MD-SO', 'MD', 'Soroca', 'District'),
    ('MD-ST', 'MD', 'Strășeni', 'District'),
    ('MD-SV', 'MD', 'Ștefan Vodă', 'District'),
    ('MD-TA', 'MD', 'Taraclia', 'District'),
    ('MD-TE', 'MD', 'Telenești', 'District'),
    ('MD-UN', 'MD', 'Ungheni', 'District'),
    ('ME-01', 'ME', 'Andrijevica', 'Municipality'),
    ('ME-02', 'ME', 'Bar', 'Municipality'),
    ('ME-03', 'ME', 'Berane', 'Municipality'),
    ('ME-04', 'ME', 'Bijelo Polje', 'Municipality'),
    ('ME-05', 'ME', 'Budva', 'Municipality'),
    ('ME-06', 'ME', 'Cetinje', 'Municipality'),
    ('ME-07', 'ME', 'Danilovgrad', 'Municipality'),
    ('ME-08', 'ME', 'Herceg-Novi', 'Municipality'),
    ('ME-09', 'ME', 'Kolašin', 'Municipality'),
    ('ME-10', 'ME', 'Kotor', 'Municipality'),
    ('ME-11', 'ME', 'Mojkovac', 'Municipality'),
    ('ME-12', 'ME', 'Nikšić', 'Municipality'),
    ('ME-13', 'ME', 'Plav', 'Municipality'),
    ('ME-14', 'ME', 'Pljevlja', 'Municipality'),
    ('ME-15', 'ME', 'Plužine', 'Municipality'),
    ('ME-16', 'ME', 'Podgorica', 'Municipality'),
    ('ME-17', 'ME', 'Rožaje', 'Municipality'),
    ('ME-18', 'ME', 'Šavnik', 'Municipality'),
    ('ME-19', 'ME', 'Tivat', 'Municipality'),
    ('ME-20', 'ME', 'Ulcinj', 'Municipality'),
    ('ME-21', 'ME', 'Žabljak', 'Municipality'),
    ('ME-22', 'ME', 'Gusinje', 'Municipality'),
    ('ME-23', 'ME', 'Petnjica', 'Municipality'),
    ('ME-24', 'ME', 'Tuzi', 'Municipality'),
    ('MG-A', 'MG', 'Toamasina', 'Province'),
    ('MG-D', 'MG', 'Antsiranana', 'Province'),
    ('MG-F', 'MG', 'Fianarantsoa', 'Province'),
    ('MG-M', 'MG', 'Mahajanga', 'Province'),
    ('MG-T', 'MG', 'Antananarivo', 'Province'),
    ('MG-U', 'MG', 'Toliara', 'Province'),
    ('MH-ALK', 'MH', 'Ailuk', 'Municipality'),
    ('MH-ALL', 'MH', 'Ailinglaplap', 'Municipality'),
    ('MH-ARN', 'MH', 'Arno', 'Municipality'),
    ('MH-AUR', 'MH', 'Aur', 'Municipality'),
    ('MH-EBO', 'MH', 'Ebon', 'Municipality'),
    ('MH-ENI', 'MH', 'Enewetak & Ujelang', 'Municipality'),
    ('MH-JAB', 'MH', 'Jabat', 'Municipality'),
    ('MH-JAL', 'MH', 'Jaluit', 'Municipality'),
    ('MH-KIL', 'MH', 'Bikini & Kili', 'Municipality'),
    ('MH-KWA', 'MH', 'Kwajalein', 'Municipality'),
    ('MH-L', 'MH', 'Ralik chain', 'Chain (of islands)'),
    ('MH-LAE', 'MH', 'Lae', 'Municipality'),
    ('MH-LIB', 'MH', 'Lib', 'Municipality'),
    ('MH-LIK', 'MH', 'Likiep', 'Municipality'),
    ('MH-MAJ', 'MH', 'Majuro', 'Municipality'),
    ('MH-MAL', 'MH', 'Maloelap', 'Municipality'),
    ('MH-MEJ', 'MH', 'Mejit', 'Municipality'),
    ('MH-MIL', 'MH', 'Mili', 'Municipality'),
    ('MH-NMK', 'MH', 'Namdrik', 'Municipality'),
    ('MH-NMU', 'MH', 'Namu', 'Municipality'),
    ('MH-RON', 'MH', 'Rongelap', 'Municipality'),
    ('MH-T', 'MH', 'Ratak chain', 'Chain (of islands)'),
    ('MH-UJA', 'MH', 'Ujae', 'Municipality'),
    ('MH-UTI', 'MH', 'Utrik', 'Municipality'),
    ('MH-WTH', 'MH', 'Wotho', 'Municipality'),
    ('MH-WTJ', 'MH', 'Wotje', 'Municipality'),
    ('MK-101', 'MK', 'Veles', 'Municipality'),
    ('MK-102', 'MK', 'Gradsko', 'Municipality'),
    ('MK-103', 'MK', 'Demir Kapija', 'Municipality'),
    ('MK-104', 'MK', 'Kavadarci', 'Municipality'),
    ('MK-105', 'MK', 'Lozovo', 'Municipality'),
    ('MK-106', 'MK', 'Negotino', 'Municipality'),
    ('MK-107', 'MK', 'Rosoman', 'Municipality'),
    ('MK-108', 'MK', 'Sveti Nikole', 'Municipality'),
    ('MK-109', 'MK', 'Čaška', 'Municipality'),
    ('MK-201', 'MK', 'Berovo', 'Municipality'),
    ('MK-202', 'MK', 'Vinica', 'Municipality'),
    ('MK-203', 'MK', 'Delčevo', 'Municipality'),
    ('MK-204', 'MK', 'Zrnovci', 'Municipality'),
    ('MK-205', 'MK', 'Karbinci', 'Municipality'),
    ('MK-206', 'MK', 'Kočani', 'Municipality'),
    ('MK-207', 'MK', 'Makedonska Kamenica', 'Municipality'),
    ('MK-208', 'MK', 'Pehčevo', 'Municipality'),
    ('MK-209', 'MK', 'Probištip', 'Municipality'),
    ('MK-210', 'MK', 'Češinovo-Obleševo', 'Municipality'),
    ('MK-211', 'MK', 'Štip', 'Municipality'),
    ('MK-301', 'MK', 'Vevčani', 'Municipality'),
    ('MK-303', 'MK', 'Debar', 'Municipality'),
    ('MK-304', 'MK', 'Debrca', 'Municipality'),
    ('MK-307', 'MK', 'Kičevo', 'Municipality'),
    ('MK-308', 'MK', 'Makedonski Brod', 'Municipality'),
    ('MK-310', 'MK', 'Ohrid', 'Municipality'),
    ('MK-311', 'MK', 'Plasnica', 'Municipality'),
    ('MK-312', 'MK', 'Struga', 'Municipality'),
    ('MK-313', 'MK', 'Centar Župa', 'Municipality'),
    ('MK-401', 'MK', 'Bogdanci', 'Municipality'),
    ('MK-402', 'MK', 'Bosilovo', 'Municipality'),
    ('MK-403', 'MK', 'Valandovo', 'Municipality'),
    ('MK-404', 'MK', 'Vasilevo', 'Municipality'),
    ('MK-405', 'MK', 'Gevgelija', 'Municipality'),
    ('MK-406', 'MK', 'Dojran', 'Municipality'),
    ('MK-407', 'MK', 'Konče', 'Municipality'),
    ('MK-408', 'MK', 'Novo Selo', 'Municipality'),
    ('MK-409', 'MK', 'Radoviš', 'Municipality'),
    ('MK-410', 'MK', 'Strumica', 'Municipality'),
    ('MK-501', 'MK', 'Bitola', 'Municipality'),
    ('MK-502', 'MK', 'Demir Hisar', 'Municipality'),
    ('MK-503', 'MK', 'Dolneni', 'Municipality'),
    ('MK-504', 'MK', 'Krivogaštani', 'Municipality'),
    ('MK-505', 'MK', 'Kruševo', 'Municipality'),
    ('MK-506', 'MK', 'Mogila', 'Municipality'),
    ('MK-507', 'MK', 'Novaci', 'Municipality'),
    ('MK-508', 'MK', 'Prilep', 'Municipality'),
    ('MK-509', 'MK', 'Resen', 'Municipality'),
    ('MK-601', 'MK', 'Bogovinje', 'Municipality'),
    ('MK-602', 'MK', 'Brvenica', 'Municipality'),
    ('MK-603', 'MK', 'Vrapčište', 'Municipality'),
    ('MK-604', 'MK', 'Gostivar', 'Municipality'),
    ('MK-605', 'MK', 'Želino', 'Municipality'),
    ('MK-606', 'MK', 'Jegunovce', 'Municipality'),
    ('MK-607', 'MK', 'Mavrovo i Rostuše', 'Municipality'),
    ('MK-608', 'MK', 'Tearce', 'Municipality'),
    ('MK-609', 'MK', 'Tetovo', 'Municipality'),
    ('MK-701', 'MK', 'Kratovo', 'Municipality'),
    ('MK-702', 'MK', 'Kriva Palanka', 'Municipality'),
    ('MK-703', 'MK', 'Kumanovo', 'Municipality'),
    ('MK-704', 'MK', 'Lipkovo', 'Municipality'),
    ('MK-705', 'MK', 'Rankovce', 'Municipality'),
    ('MK-706', 'MK', 'Staro Nagoričane', 'Municipality'),
    ('MK-801', 'MK', 'Aerodrom †', 'Municipality'),
    ('MK-802', 'MK', 'Aračinovo', 'Municipality'),
    ('MK-803', 'MK', 'Butel †', 'Municipality'),
    ('MK-804', 'MK', 'Gazi Baba †', 'Municipality'),
    ('MK-805', 'MK', 'Gjorče Petrov †', 'Municipality'),
    ('MK-806', 'MK', 'Zelenikovo', 'Municipality'),
    ('MK-807', 'MK', 'Ilinden', 'Municipality'),
    ('MK-808', 'MK', 'Karpoš †', 'Municipality'),
    ('MK-809', 'MK', 'Kisela Voda †', 'Municipality'),
    ('MK-810', 'MK', 'Petrovec', 'Municipality'),
    ('MK-811', 'MK', 'Saraj †', 'Municipality'),
    ('MK-812', 'MK', 'Sopište', 'Municipality'),
    ('MK-813', 'MK', 'Studeničani', 'Municipality'),
    ('MK-814', 'MK', 'Centar †', 'Municipality'),
    ('MK-815', 'MK', 'Čair †', 'Municipality'),
    ('MK-816', 'MK', 'Čučer-Sandevo', 'Municipality'),
    ('MK-817', 'MK', 'Šuto Orizari †', 'Municipality'),
    ('ML-1', 'ML', 'Kayes', 'Region'),
    ('ML-10', 'ML', 'Taoudénit', 'Region'),
    ('ML-2', 'ML', 'Koulikoro', 'Region'),
    ('ML-3', 'ML', 'Sikasso', 'Region'),
    ('ML-4', 'ML', 'Ségou', 'Region'),
    ('ML-5', 'ML', 'Mopti', 'Region'),
    ('ML-6', 'ML', 'Tombouctou', 'Region'),
    ('ML-7', 'ML', 'Gao', 'Region'),
    ('ML-8', 'ML', 'Kidal', 'Region'),
    ('ML-9', 'ML', 'Ménaka', 'Region'),
    ('ML-BKO', 'ML', 'Bamako', 'District'),
    ('MM-01', 'MM', 'Sagaing', 'Region'),
    ('MM-02', 'MM', 'Bago', 'Region'),
    ('MM-03', 'MM', 'Magway', 'Region'),
    ('MM-04', 'MM', 'Mandalay', 'Region'),
    ('MM-05', 'MM', 'Tanintharyi', 'Region'),
    ('MM-06', 'MM', 'Yangon', 'Region'),
    ('MM-07', 'MM', 'Ayeyarwady', 'Region'),
    ('MM-11', 'MM', 'Kachin', 'State'),
    ('MM-12', 'MM', 'Kayah', 'State'),
    ('MM-13', 'MM', 'Kayin', 'State'),
    ('MM-14', 'MM', 'Chin', 'State'),
    ('MM-15', 'MM', 'Mon', 'State'),
    ('MM-16', 'MM', 'Rakhine', 'State'),
    ('MM-17', 'MM', 'Shan', 'State'),
    ('MM-18', 'MM', 'Nay Pyi Taw', 'Union territory'),
    ('MN-035', 'MN', 'Orhon', 'Province'),
    ('MN-037', 'MN', 'Darhan uul', 'Province'),
    ('MN-039', 'MN', 'Hentiy', 'Province'),
    ('MN-041', 'MN', 'Hövsgöl', 'Province'),
    ('MN-043', 'MN', 'Hovd', 'Province'),
    ('MN-046', 'MN', 'Uvs', 'Province'),
    ('MN-047', 'MN', 'Töv', 'Province'),
    ('MN-049', 'MN', 'Selenge', 'Province'),
    ('MN-051', 'MN', 'Sühbaatar', 'Province'),
    ('MN-053', 'MN', 'Ömnögovĭ', 'Province'),
    ('MN-055', 'MN', 'Övörhangay', 'Province'),
    ('MN-057', 'MN', 'Dzavhan', 'Province'),
    ('MN-059', 'MN', 'Dundgovĭ', 'Province'),
    ('MN-061', 'MN', 'Dornod', 'Province'),
    ('MN-063', 'MN', 'Dornogovĭ', 'Province'),
    ('MN-064', 'MN', 'Govĭ-Sümber', 'Province'),
    ('MN-065', 'MN', 'Govĭ-Altay', 'Province'),
    ('MN-067', 'MN', 'Bulgan', 'Province'),
    ('MN-069', 'MN', 'Bayanhongor', 'Province'),
    ('MN-071', 'MN', 'Bayan-Ölgiy', 'Province'),
    ('MN-073', 'MN', 'Arhangay', 'Province'),
    ('MN-1', 'MN', 'Ulaanbaatar', 'Capital city'),
    ('MR-01', 'MR', 'Hodh ech Chargui', 'Region'),
    ('MR-02', 'MR', 'Hodh el Gharbi', 'Region'),
    ('MR-03', 'MR', 'Assaba', 'Region'),
    ('MR-04', 'MR', 'Gorgol', 'Region'),
    ('MR-05', 'MR', 'Brakna', 'Region'),
    ('MR-06', 'MR', 'Trarza', 'Region'),
    ('MR-07', 'MR', 'Adrar', 'Region'),
    ('MR-08', 'MR', 'Dakhlet Nouâdhibou', 'Region'),
    ('MR-09', 'MR', 'Tagant', 'Region'),
    ('MR-10', 'MR', 'Guidimaka', 'Region'),
    ('MR-11', 'MR', 'Tiris Zemmour', 'Region'),
    ('MR-12', 'MR', 'Inchiri', 'Region'),
    ('MR-13', 'MR', 'Nouakchott Ouest', 'Region'),
    ('MR-14', 'MR', 'Nouakchott Nord', 'Region'),
    ('MR-15', 'MR', 'Nouakchott Sud', 'Region'),
    ('MT-01', 'MT', 'Attard', 'Local council'),
    ('MT-02', 'MT', 'Balzan', 'Local council'),
    ('MT-03', 'MT', 'Birgu', 'Local council'),
    ('MT-04', 'MT', 'Birkirkara', 'Local council'),
    ('MT-05', 'MT', 'Birżebbuġa', 'Local council'),
    ('MT-06', 'MT', 'Bormla', 'Local council'),
    ('MT-07', 'MT', 'Dingli', 'Local council'),
    ('MT-08', 'MT', 'Fgura', 'Local council'),
    ('MT-09', 'MT', 'Floriana', 'Local council'),
    ('MT-10', 'MT', 'Fontana', 'Local council'),
    ('MT-11', 'MT', 'Gudja', 'Local council'),
    ('MT-12', 'MT', 'Gżira', 'Local council'),
    ('MT-13', 'MT', 'Għajnsielem', 'Local council'),
    ('MT-14', 'MT', 'Għarb', 'Local council'),
    ('MT-15', 'MT', 'Għargħur', 'Local council'),
    ('MT-16', 'MT', 'Għasri', 'Local council'),
    ('MT-17', 'MT', 'Għaxaq', 'Local council'),
    ('MT-18', 'MT', 'Ħamrun', 'Local council'),
    ('MT-19', 'MT', 'Iklin', 'Local council'),
    ('MT-20', 'MT', 'Isla', 'Local council'),
    ('MT-21', 'MT', 'Kalkara', 'Local council'),
    ('MT-22', 'MT', 'Kerċem', 'Local council'),
    ('MT-23', 'MT', 'Kirkop', 'Local council'),
    ('MT-24', 'MT', 'Lija', 'Local council'),
    ('MT-25', 'MT', 'Luqa', 'Local council'),
    ('MT-26', 'MT', 'Marsa', 'Local council'),
    ('MT-27', 'MT', 'Marsaskala', 'Local council'),
    ('MT-28', 'MT', 'Marsaxlokk', 'Local council'),
    ('MT-29', 'MT', 'Mdina', 'Local council'),
    ('MT-30', 'MT', 'Mellieħa', 'Local council'),
    ('MT-31', 'MT', 'Mġarr', 'Local council'),
    ('MT-32', 'MT', 'Mosta', 'Local council'),
    ('MT-33', 'MT', 'Mqabba', 'Local council'),
    ('MT-34', 'MT', 'Msida', 'Local council'),
    ('MT-35', 'MT', 'Mtarfa', 'Local council'),
    ('MT-36', 'MT', 'Munxar', 'Local council'),
    ('MT-37', 'MT', 'Nadur', 'Local council'),
    ('MT-38', 'MT', 'Naxxar', 'Local council'),
    ('MT-39', 'MT', 'Paola', 'Local council'),
    ('MT-40', 'MT', 'Pembroke', 'Local council'),
    ('MT-41', 'MT', 'Pietà', 'Local council'),
    ('MT-42', 'MT', 'Qala', 'Local council'),
    ('MT-43', 'MT', 'Qormi', 'Local council'),
    ('MT-44', 'MT', 'Qrendi', 'Local council'),
    ('MT-45', 'MT', 'Rabat Gozo', 'Local council'),
    ('MT-46', 'MT', 'Rabat Malta', 'Local council'),
    ('MT-47', 'MT', 'Safi', 'Local council'),
    ('MT-48', 'MT', 'Saint Julian''s', 'Local council'),
    ('MT-49', 'MT', 'Saint John', 'Local council'),
    ('MT-50', 'MT', 'Saint Lawrence', 'Local council'),
    ('MT-51', 'MT', 'Saint Paul''s Bay', 'Local council'),
    ('MT-52', 'MT', 'Sannat', 'Local council'),
    ('MT-53', 'MT', 'Saint Lucia''s', 'Local council'),
    ('MT-54', 'MT', 'Santa Venera', 'Local council'),
    ('MT-55', 'MT', 'Siġġiewi', 'Local council'),
    ('MT-56', 'MT', 'Sliema', 'Local council'),
    ('MT-57', 'MT', 'Swieqi', 'Local council'),
    ('MT-58', 'MT', 'Ta'' Xbiex', 'Local council'),
    ('MT-59', 'MT', 'Tarxien', 'Local council'),
    ('MT-60', 'MT', 'Valletta', 'Local council'),
    ('MT-61', 'MT', 'Xagħra', 'Local council'),
    ('MT-62', 'MT', 'Xewkija', 'Local council'),
    ('MT-63', 'MT', 'Xgħajra', 'Local council'),
    ('MT-64', 'MT', 'Żabbar', 'Local council'),
    ('MT-65', 'MT', 'Żebbuġ Gozo', 'Local council'),
    ('MT-66', 'MT', 'Żebbuġ Malta', 'Local council'),
    ('MT-67', 'MT', 'Żejtun', 'Local council'),
    ('MT-68', 'MT', 'Żurrieq', 'Local council'),
    ('MU-AG', 'MU', 'Agalega Islands', 'Dependency'),
    ('MU-BL', 'MU', 'Black River', 'District'),
    ('MU-CC', 'MU', 'Cargados Carajos Shoals', 'Dependency'),
    ('MU-FL', 'MU', 'Flacq', 'District'),
    ('MU-GP', 'MU', 'Grand Port', 'District'),
    ('MU-MO', 'MU', 'Moka', 'District'),
    ('MU-PA', 'MU', 'Pamplemousses', 'District'),
    ('MU-PL', 'MU', 'Port Louis', 'District'),
    ('MU-PW', 'MU', 'Plaines Wilhems', 'District'),
    ('MU-RO', 'MU', 'Rodrigues Island', 'Dependency'),
    ('MU-RR', 'MU', 'Rivière du Rempart', 'District'),
    ('MU-SA', 'MU', 'Savanne', 'District'),
    ('MV-00', 'MV', 'South Ari Atoll', 'Administrative atoll'),
    ('MV-01', 'MV', 'Addu City', 'City'),
    ('MV-02', 'MV', 'North Ari Atoll', 'Administrative atoll'),
    ('MV-03', 'MV', 'Faadhippolhu', 'Administrative atoll'),
    ('MV-04', 'MV', 'Felidhu Atoll', 'Administrative atoll'),
    ('MV-05', 'MV', 'Hahdhunmathi', 'Administrative atoll'),
    ('MV-07', 'MV', 'North Thiladhunmathi', 'Administrative atoll'),
    ('MV-08', 'MV', 'Kolhumadulu', 'Administrative atoll'),
    ('MV-12', 'MV', 'Mulaku Atoll', 'Administrative atoll'),
    ('MV-13', 'MV', 'North Maalhosmadulu', 'Administrative atoll'),
    ('MV-14', 'MV', 'North Nilandhe Atoll', 'Administrative atoll'),
    ('MV-17', 'MV', 'South Nilandhe Atoll', 'Administrative atoll'),
    ('MV-20', 'MV', 'South Maalhosmadulu', 'Administrative atoll'),
    ('MV-23', 'MV', 'South Thiladhunmathi', 'Administrative atoll'),
    ('MV-24', 'MV', 'North Miladhunmadulu', 'Administrative atoll'),
    ('MV-25', 'MV', 'South Miladhunmadulu', 'Administrative atoll'),
    ('MV-26', 'MV', 'Male Atoll', 'Administrative atoll'),
    ('MV-27', 'MV', 'North Huvadhu Atoll', 'Administrative atoll'),
    ('MV-28', 'MV', 'South Huvadhu Atoll', 'Administrative atoll'),
    ('MV-29', 'MV', 'Fuvammulah', 'Administrative atoll'),
    ('MV-MLE', 'MV', 'Male', 'City'),
    ('MW-BA', 'MW', 'Balaka', 'District'),
    ('MW-BL', 'MW', 'Blantyre', 'District'),
    ('MW-C', 'MW', 'Central Region', 'Region'),
    ('MW-CK', 'MW', 'Chikwawa', 'District'),
    ('MW-CR', 'MW', 'Chiradzulu', 'District'),
    ('MW-CT', 'MW', 'Chitipa', 'District'),
    ('MW-DE', 'MW', 'Dedza', 'District'),
    ('MW-DO', 'MW', 'Dowa', 'District'),
    ('MW-KR', 'MW', 'Karonga', 'District'),
    ('MW-KS', 'MW', 'Kasungu', 'District'),
    ('MW-LI', 'MW', 'Lilongwe', 'District'),
    ('MW-LK', 'MW', 'Likoma', 'District'),
    ('MW-MC', 'MW', 'Mchinji', 'District'),
    ('MW-MG', 'MW', 'Mangochi', 'District'),
    ('MW-MH', 'MW', 'Machinga', 'District'),
    ('MW-MU', 'MW', 'Mulanje', 'District'),
    ('MW-MW', 'MW', 'Mwanza', 'District'),
    ('MW-MZ', 'MW', 'Mzimba', 'District'),
    ('MW-N', 'MW', 'Northern Region', 'Region'),
    ('MW-NB', 'MW', 'Nkhata Bay', 'District'),
    ('MW-NE', 'MW', 'Neno', 'District'),
    ('MW-NI', 'MW', 'Ntchisi', 'District'),
    ('MW-NK', 'MW', 'Nkhotakota', 'District'),
    ('MW-NS', 'MW', 'Nsanje', 'District'),
    ('MW-NU', 'MW', 'Ntcheu', 'District'),
    ('MW-PH', 'MW', 'Phalombe', 'District'),
    ('MW-RU', 'MW', 'Rumphi', 'District'),
    ('MW-S', 'MW', 'Southern Region', 'Region'),
    ('MW-SA', 'MW', 'Salima', 'District'),
    ('MW-TH', 'MW', 'Thyolo', 'District'),
    ('MW-ZO', 'MW', 'Zomba', 'District'),
    ('MX-AGU', 'MX', 'Aguascalientes', 'State'),
    ('MX-BCN', 'MX', 'Baja California', 'State'),
    ('MX-BCS', 'MX', 'Baja California Sur', 'State'),
    ('MX-CAM', 'MX', 'Campeche', 'State'),
    ('MX-CHH', 'MX', 'Chihuahua', 'State'),
    ('MX-CHP', 'MX', 'Chiapas', 'State'),
    ('MX-CMX', 'MX', 'Ciudad de México', 'Federal district'),
    ('MX-COA', 'MX', 'Coahuila de Zaragoza', 'State'),
    ('MX-COL', 'MX', 'Colima', 'State'),
    ('MX-DUR', 'MX', 'Durango', 'State'),
    ('MX-GRO', 'MX', 'Guerrero', 'State'),
    ('MX-GUA', 'MX', 'Guanajuato', 'State'),
    ('MX-HID', 'MX', 'Hidalgo', 'State'),
    ('MX-JAL', 'MX', 'Jalisco', 'State'),
    ('MX-MEX', 'MX', 'México', 'State'),
    ('MX-MIC', 'MX', 'Michoacán de Ocampo', 'State'),
    ('MX-MOR', 'MX', 'Morelos', 'State'),
    ('MX-NAY', 'MX', 'Nayarit', 'State'),
    ('MX-NLE', 'MX', 'Nuevo León', 'State'),
    ('MX-OAX', 'MX', 'Oaxaca', 'State'),
    ('MX-PUE', 'MX', 'Puebla', 'State'),
    ('MX-QUE', 'MX', 'Querétaro', 'State'),
    ('MX-ROO', 'MX', 'Quintana Roo', 'State'),
    ('MX-SIN', 'MX', 'Sinaloa', 'State'),
    ('MX-SLP', 'MX', 'San Luis Potosí', 'State'),
    ('MX-SON', 'MX', 'Sonora', 'State'),
    ('MX-TAB', 'MX', 'Tabasco', 'State'),
    ('MX-TAM', 'MX', 'Tamaulipas', 'State'),
    ('MX-TLA', 'MX', 'Tlaxcala', 'State'),
    ('MX-VER', 'MX', 'Veracruz de Ignacio de la Llave', 'State'),
    ('MX-YUC', 'MX', 'Yucatán', 'State'),
    ('MX-ZAC', 'MX', 'Zacatecas', 'State'),
    ('MY-01', 'MY', 'Johor', 'State'),
    ('MY-02', 'MY', 'Kedah', 'State'),
    ('MY-03', 'MY', 'Kelantan', 'State'),
    ('MY-04', 'MY', 'Melaka', 'State'),
    ('MY-05', 'MY', 'Negeri Sembilan', 'State'),
    ('MY-06', 'MY', 'Pahang', 'State'),
    ('MY-07', 'MY', 'Pulau Pinang', 'State'),
    ('MY-08', 'MY', 'Perak', 'State'),
    ('MY-09', 'MY', 'Perlis', 'State'),
    ('MY-10', 'MY', 'Selangor', 'State'),
    ('MY-11', 'MY', 'Terengganu', 'State'),
    ('MY-12', 'MY', 'Sabah', 'State'),
    ('MY-13', 'MY', 'Sarawak', 'State'),
    ('MY-14', 'MY', 'Wilayah Persekutuan Kuala Lumpur', 'Federal territory'),
    ('MY-15', 'MY', 'Wilayah Persekutuan Labuan', 'Federal territory'),
    ('MY-16', 'MY', 'Wilayah Persekutuan Putrajaya', 'Federal territory'),
    ('MZ-A', 'MZ', 'Niassa', 'Province'),
    ('MZ-B', 'MZ', 'Manica', 'Province'),
    ('MZ-G', 'MZ', 'Gaza', 'Province'),
    ('MZ-I', 'MZ', 'Inhambane', 'Province'),
    ('MZ-L', 'MZ', 'Maputo', 'Province'),
    ('MZ-MPM', 'MZ', 'Maputo', 'City'),
    ('MZ-N', 'MZ', 'Nampula', 'Province'),
    ('MZ-P', 'MZ', 'Cabo Delgado', 'Province'),
    ('MZ-Q', 'MZ', 'Zambézia', 'Province'),
    ('MZ-S', 'MZ', 'Sofala', 'Province'),
    ('MZ-T', 'MZ', 'Tete', 'Province'),
    ('NA-CA', 'NA', 'Zambezi', 'Region'),
    ('NA-ER', 'NA', 'Erongo', 'Region'),
    ('NA-HA', 'NA', 'Hardap', 'Region'),
    ('NA-KA', 'NA', '//Karas', 'Region'),
    ('NA-KE', 'NA', 'Kavango East', 'Region'),
    ('NA-KH', 'NA', 'Khomas', 'Region'),
    ('NA-KU', 'NA', 'Kunene', 'Region'),
    ('NA-KW', 'NA', 'Kavango West', 'Region'),
    ('NA-OD', 'NA', 'Otjozondjupa', 'Region'),
    ('NA-OH', 'NA', 'Omaheke', 'Region'),
    ('NA-ON', 'NA', 'Oshana', 'Region'),
    ('NA-OS', 'NA', 'Omusati', 'Region'),
    ('NA-OT', 'NA', 'Oshikoto', 'Region'),
    ('NA-OW', 'NA', 'Ohangwena', 'Region'),
    ('NE-1', 'NE', 'Agadez', 'Region'),
    ('NE-2', 'NE', 'Diffa', 'Region'),
    ('NE-3', 'NE', 'Dosso', 'Region'),
    ('NE-4', 'NE', 'Maradi', 'Region'),
    ('NE-5', 'NE', 'Tahoua', 'Region'),
    ('NE-6', 'NE', 'Tillabéri', 'Region'),
    ('NE-7', 'NE', 'Zinder', 'Region'),
    ('NE-8', 'NE', 'Niamey', 'Urban community'),
    ('NG-AB', 'NG', 'Abia', 'State'),
    ('NG-AD', 'NG', 'Adamawa', 'State'),
    ('NG-AK', 'NG', 'Akwa Ibom', 'State'),
    ('NG-AN', 'NG', 'Anambra', 'State'),
    ('NG-BA', 'NG', 'Bauchi', 'State'),
    ('NG-BE', 'NG', 'Benue', 'State'),
    ('NG-BO', 'NG', 'Borno', 'State'),
    ('NG-BY', 'NG', 'Bayelsa', 'State'),
    ('NG-CR', 'NG', 'Cross River', 'State'),
    ('NG-DE', 'NG', 'Delta', 'State'),
    ('NG-EB', 'NG', 'Ebonyi', 'State'),
    ('NG-ED', 'NG', 'Edo', 'State'),
    ('NG-EK', 'NG', 'Ekiti', 'State'),
    ('NG-EN', 'NG', 'Enugu', 'State'),
    ('NG-FC', 'NG', 'Abuja Federal Capital Territory', 'Capital territory'),
    ('NG-GO', 'NG', 'Gombe', 'State'),
    ('NG-IM', 'NG', 'Imo', 'State'),
    ('NG-JI', 'NG', 'Jigawa', 'State'),
    ('NG-KD', 'NG', 'Kaduna', 'State'),
    ('NG-KE', 'NG', 'Kebbi', 'State'),
    ('NG-KN', 'NG', 'Kano', 'State'),
    ('NG-KO', 'NG', 'Kogi', 'State'),
    ('NG-KT', 'NG', 'Katsina', 'State'),
    ('NG-KW', 'NG', 'Kwara', 'State'),
    ('NG-LA', 'NG', 'Lagos', 'State'),
    ('NG-NA', 'NG', 'Nasarawa', 'State'),
    ('NG-NI', 'NG', 'Niger', 'State'),
    ('NG-OG', 'NG', 'Ogun', 'State'),
    ('NG-ON', 'NG', 'Ondo', 'State'),
    ('NG-OS', 'NG', 'Osun', 'State'),
    ('NG-OY', 'NG', 'Oyo', 'State'),
    ('NG-PL', 'NG', 'Plateau', 'State'),
    ('NG-RI', 'NG', 'Rivers', 'State'),
    ('NG-SO', 'NG', 'Sokoto', 'State'),
    ('NG-TA', 'NG', 'Taraba', 'State'),
    ('NG-YO', 'NG', 'Yobe', 'State'),
    ('NG-ZA', 'NG', 'Zamfara', 'State'),
    ('NI-AN', 'NI', 'Costa Caribe Norte', 'Autonomous region'),
    ('NI-AS', 'NI', 'Costa Caribe Sur', 'Autonomous region'),
    ('NI-BO', 'NI', 'Boaco', 'Department'),
    ('NI-CA', 'NI', 'Carazo', 'Department'),
    ('NI-CI', 'NI', 'Chinandega', 'Department'),
    ('NI-CO', 'NI', 'Chontales', 'Department'),
    ('NI-ES', 'NI', 'Estelí', 'Department'),
    ('NI-GR', 'NI', 'Granada', 'Department'),
    ('NI-JI', 'NI', 'Jinotega', 'Department'),
    ('NI-LE', 'NI', 'León', 'Department'),
    ('NI-MD', 'NI', 'Madriz', 'Department'),
    ('NI-MN', 'NI', 'Managua', 'Department'),
    ('NI-MS', 'NI', 'Masaya', 'Department'),
    ('NI-MT', 'NI', 'Matagalpa', 'Department'),
    ('NI-NS', 'NI', 'Nueva Segovia', 'Department'),
    ('NI-RI', 'NI', 'Rivas', 'Department'),
    ('NI-SJ', 'NI', 'Río San Juan', 'Department'),
    ('NL-AW', 'NL', 'Aruba', 'Country'),
    ('NL-BQ1', 'NL', 'Bonaire', 'Special municipality'),
    ('NL-BQ2', 'NL', 'Saba', 'Special municipality'),
    ('NL-BQ3', 'NL', 'Sint Eustatius', 'Special municipality'),
    ('NL-CW', 'NL', 'Curaçao', 'Country'),
    ('NL-DR', 'NL', 'Drenthe', 'Province'),
    ('NL-FL', 'NL', 'Flevoland', 'Province'),
    ('NL-FR', 'NL', 'Fryslân', 'Province'),
    ('NL-GE', 'NL', 'Gelderland', 'Province'),
    ('NL-GR', 'NL', 'Groningen', 'Province'),
    ('NL-LI', 'NL', 'Limburg', 'Province'),
    ('NL-NB', 'NL', 'Noord-Brabant', 'Province'),
    ('NL-NH', 'NL', 'Noord-Holland', 'Province'),
    ('NL-OV', 'NL', 'Overijssel', 'Province'),
    ('NL-SX', 'NL', 'Sint Maarten', 'Country'),
    ('NL-UT', 'NL', 'Utrecht', 'Province'),
    ('NL-ZE', 'NL', 'Zeeland', 'Province'),
    ('NL-ZH', 'NL', 'Zuid-Holland', 'Province'),
    ('NO-03', 'NO', 'Oslo', 'County'),
    ('NO-11', 'NO', 'Rogaland', 'County'),
    ('NO-15', 'NO', 'Møre og Romsdal', 'County'),
    ('NO-18', 'NO', 'Nordland', 'County'),
    ('NO-21', 'NO', 'Svalbard (Arctic Region)', 'Arctic region'),
    ('NO-22', 'NO', 'Jan Mayen (Arctic Region)', 'Arctic region'),
    ('NO-30', 'NO', 'Viken', 'County'),
    ('NO-34', 'NO', 'Innlandet', 'County'),
    ('NO-38', 'NO', 'Vestfold og Telemark', 'County'),
    ('NO-42', 'NO', 'Agder', 'County'),
    ('NO-46', 'NO', 'Vestland', 'County'),
    ('NO-50', 'NO', 'Trööndelage', 'County'),
    ('NO-54', 'NO', 'Romssa ja Finnmárkku', 'County'),
    ('NP-1', 'NP', 'Central', 'Development region'),
    ('NP-2', 'NP', 'Mid Western', 'Development region'),
    ('NP-3', 'NP', 'Western', 'Development region'),
    ('NP-4', 'NP', 'Eastern', 'Development region'),
    ('NP-5', 'NP', 'Far Western', 'Development region'),
    ('NP-BA', 'NP', 'Bagmati', 'Zone'),
    ('NP-BH', 'NP', 'Bheri', 'Zone'),
    ('NP-DH', 'NP', 'Dhawalagiri', 'Zone'),
    ('NP-GA', 'NP', 'Gandaki', 'Zone'),
    ('NP-JA', 'NP', 'Janakpur', 'Zone'),
    ('NP-KA', 'NP', 'Karnali', 'Zone'),
    ('NP-KO', 'NP', 'Kosi', 'Zone'),
    ('NP-LU', 'NP', 'Lumbini', 'Zone'),
    ('NP-MA', 'NP', 'Mahakali', 'Zone'),
    ('NP-ME', 'NP', 'Mechi', 'Zone'),
    ('NP-NA', 'NP', 'Narayani', 'Zone'),
    ('NP-P1', 'NP', 'Province 1', 'Province'),
    ('NP-P2', 'NP', 'Province 2', 'Province'),
    ('NP-P3', 'NP', 'Bāgmatī', 'Province'),
    ('NP-P4', 'NP', 'Gandaki', 'Province'),
    ('NP-P5', 'NP', 'Province 5', 'Province'),
    ('NP-P6', 'NP', 'Karnali', 'Province'),
    ('NP-P7', 'NP', 'Sudūr Pashchim', 'Province'),
    ('NP-RA', 'NP', 'Rapti', 'Zone'),
    ('NP-SA', 'NP', 'Sagarmatha', 'Zone'),
    ('NP-SE', 'NP', 'Seti', 'Zone'),
    ('NR-01', 'NR', 'Aiwo', 'District'),
    ('NR-02', 'NR', 'Anabar', 'District'),
    ('NR-03', 'NR', 'Anetan', 'District'),
    ('NR-04', 'NR', 'Anibare', 'District'),
    ('NR-05', 'NR', 'Baitsi', 'District'),
    ('NR-06', 'NR', 'Boe', 'District'),
    ('NR-07', 'NR', 'Buada', 'District'),
    ('NR-08', 'NR', 'Denigomodu', 'District'),
    ('NR-09', 'NR', 'Ewa', 'District'),
    ('NR-10', 'NR', 'Ijuw', 'District'),
    ('NR-11', 'NR', 'Meneng', 'District'),
    ('NR-12', 'NR', 'Nibok', 'District'),
    ('NR-13', 'NR', 'Uaboe', 'District'),
    ('NR-14', 'NR', 'Yaren', 'District'),
    ('NZ-AUK', 'NZ', 'Auckland', 'Region'),
    ('NZ-BOP', 'NZ', 'Bay of Plenty', 'Region'),
    ('NZ-CAN', 'NZ', 'Canterbury', 'Region'),
    ('NZ-CIT', 'NZ', 'Chatham Islands Territory', 'Special island authority'),
    ('NZ-GIS', 'NZ', 'Gisborne', 'Region'),
    ('NZ-HKB', 'NZ', 'Hawke''s Bay', 'Region'),
    ('NZ-MBH', 'NZ', 'Marlborough', 'Region'),
    ('NZ-MWT', 'NZ', 'Manawatu-Wanganui', 'Region'),
    ('NZ-NSN', 'NZ', 'Nelson', 'Region'),
    ('NZ-NTL', 'NZ', 'Northland', 'Region'),
    ('NZ-OTA', 'NZ', 'Otago', 'Region'),
    ('NZ-STL', 'NZ', 'Southland', 'Region'),
    ('NZ-TAS', 'NZ', 'Tasman', 'Region'),
    ('NZ-TKI', 'NZ', 'Taranaki', 'Region'),
    ('NZ-WGN', 'NZ', 'Wellington', 'Region'),
    ('NZ-WKO', 'NZ', 'Waikato', 'Region'),
    ('NZ-WTC', 'NZ', 'West Coast', 'Region'),
    ('OM-BJ', 'OM', 'Janūb al Bāţinah', 'Governorate'),
    ('OM-BS', 'OM', 'Shamāl al Bāţinah', 'Governorate'),
    ('OM-BU', 'OM', 'Al Buraymī', 'Governorate'),
    ('OM-DA', 'OM', 'Ad Dākhilīyah', 'Governorate'),
    ('OM-MA', 'OM', 'Masqaţ', 'Governorate'),
    ('OM-MU', 'OM', 'Musandam', 'Governorate'),
    ('OM-SJ', 'OM', 'Janūb ash Sharqīyah', 'Governorate'),
    ('OM-SS', 'OM', 'Shamāl ash Sharqīyah', 'Governorate'),
    ('OM-WU', 'OM', 'Al Wusţá', 'Governorate'),
    ('OM-ZA', 'OM', 'Az̧ Z̧āhirah', 'Governorate'),
    ('OM-ZU', 'OM', 'Z̧ufār', 'Governorate'),
    ('PA-1', 'PA', 'Bocas del Toro', 'Province'),
    ('PA-10', 'PA', 'Panamá Oeste', 'Province'),
    ('PA-2', 'PA', 'Coclé', 'Province'),
    ('PA-3', 'PA', 'Colón', 'Province'),
    ('PA-4', 'PA', 'Chiriquí', 'Province'),
    ('PA-5', 'PA', 'Darién', 'Province'),
    ('PA-6', 'PA', 'Herrera', 'Province'),
    ('PA-7', 'PA', 'Los Santos', 'Province'),
    ('PA-8', 'PA', 'Panamá', 'Province'),
    ('PA-9', 'PA', 'Veraguas', 'Province'),
    ('PA-EM', 'PA', 'Emberá', 'Indigenous region'),
    ('PA-KY', 'PA', 'Guna Yala', 'Indigenous region'),
    ('PA-NB', 'PA', 'Ngöbe-Buglé', 'Indigenous region'),
    ('PE-AMA', 'PE', 'Amarumayu', 'Region'),
    ('PE-ANC', 'PE', 'Ancash', 'Region'),
    ('PE-APU', 'PE', 'Apurimaq', 'Region'),
    ('PE-ARE', 'PE', 'Arequipa', 'Region'),
    ('PE-AYA', 'PE', 'Ayacucho', 'Region'),
    ('PE-CAJ', 'PE', 'Cajamarca', 'Region'),
    ('PE-CAL', 'PE', 'El Callao', 'Region'),
    ('PE-CUS', 'PE', 'Cusco', 'Region'),
    ('PE-HUC', 'PE', 'Huánuco', 'Region'),
    ('PE-HUV', 'PE', 'Huancavelica', 'Region'),
    ('PE-ICA', 'PE', 'Ica', 'Region'),
    ('PE-JUN', 'PE', 'Hunin', 'Region'),
    ('PE-LAL', 'PE', 'La Libertad', 'Region'),
    ('PE-LAM', 'PE', 'Lambayeque', 'Region'),
    ('PE-LIM', 'PE', 'Lima', 'Region'),
    ('PE-LMA', 'PE', 'Lima hatun llaqta', 'Municipality'),
    ('PE-LOR', 'PE', 'Loreto', 'Region'),
    ('PE-MDD', 'PE', 'Madre de Dios', 'Region'),
    ('PE-MOQ', 'PE', 'Moquegua', 'Region'),
    ('PE-PAS', 'PE', 'Pasco', 'Region'),
    ('PE-PIU', 'PE', 'Piura', 'Region'),
    ('PE-PUN', 'PE', 'Puno', 'Region'),
    ('PE-SAM', 'PE', 'San Martin', 'Region'),
    ('PE-TAC', 'PE', 'Tacna', 'Region'),
    ('PE-TUM', 'PE', 'Tumbes', 'Region'),
    ('PE-UCA', 'PE', 'Ucayali', 'Region'),
    ('PG-CPK', 'PG', 'Chimbu', 'Province'),
    ('PG-CPM', 'PG', 'Central', 'Province'),
    ('PG-EBR', 'PG', 'East New Britain', 'Province'),
    ('PG-EHG', 'PG', 'Eastern Highlands', 'Province'),
    ('PG-EPW', 'PG', 'Enga', 'Province'),
    ('PG-ESW', 'PG', 'East Sepik', 'Province'),
    ('PG-GPK', 'PG', 'Gulf', 'Province'),
    ('PG-HLA', 'PG', 'Hela', 'Province'),
    ('PG-JWK', 'PG', 'Jiwaka', 'Province'),
    ('PG-MBA', 'PG', 'Milne Bay', 'Province'),
    ('PG-MPL', 'PG', 'Morobe', 'Province'),
    ('PG-MPM', 'PG', 'Madang', 'Province'),
    ('PG-MRL', 'PG', 'Manus', 'Province'),
    ('PG-NCD', 'PG', 'National Capital District (Port Moresby)', 'District'),
    ('PG-NIK', 'PG', 'New Ireland', 'Province'),
    ('PG-NPP', 'PG', 'Northern', 'Province'),
    ('PG-NSB', 'PG', 'Bougainville', 'Autonomous region'),
    ('PG-SAN', 'PG', 'West Sepik', 'Province'),
    ('PG-SHM', 'PG', 'Southern Highlands', 'Province'),
    ('PG-WBK', 'PG', 'West New Britain', 'Province'),
    ('PG-WHM', 'PG', 'Western Highlands', 'Province'),
    ('PG-WPD', 'PG', 'Western', 'Province'),
    ('PH-00', 'PH', 'National Capital Region', 'Region'),
    ('PH-01', 'PH', 'Ilocos (Region I)', 'Region'),
    ('PH-02', 'PH', 'Cagayan Valley (Region II)', 'Region'),
    ('PH-03', 'PH', 'Central Luzon (Region III)', 'Region'),
    ('PH-05', 'PH', 'Bicol (Region V)', 'Region'),
    ('PH-06', 'PH', 'Western Visayas (Region VI)', 'Region'),
    ('PH-07', 'PH', 'Central Visayas (Region VII)', 'Region'),
    ('PH-08', 'PH', 'Eastern Visayas (Region VIII)', 'Region'),
    ('PH-09', 'PH', 'Zamboanga Peninsula (Region IX)', 'Region'),
    ('PH-10', 'PH', 'Northern Mindanao (Region X)', 'Region'),
    ('PH-11', 'PH', 'Davao (Region XI)', 'Region'),
    ('PH-12', 'PH', 'Soccsksargen (Region XII)', 'Region'),
    ('PH-13', 'PH', 'Caraga (Region XIII)', 'Region'),
    ('PH-14', 'PH', 'Autonomous Region in Muslim Mindanao (ARMM)', 'Region'),
    ('PH-15', 'PH', 'Cordillera Administrative Region (CAR)', 'Region'),
    ('PH-40', 'PH', 'Calabarzon (Region IV-A)', 'Region'),
    ('PH-41', 'PH', 'Mimaropa (Region IV-B)', 'Region'),
    ('PH-ABR', 'PH', 'Abra', 'Province'),
    ('PH-AGN', 'PH', 'Agusan del Norte', 'Province'),
    ('PH-AGS', 'PH', 'Agusan del Sur', 'Province'),
    ('PH-AKL', 'PH', 'Aklan', 'Province'),
    ('PH-ALB', 'PH', 'Albay', 'Province'),
    ('PH-ANT', 'PH', 'Antique', 'Province'),
    ('PH-APA', 'PH', 'Apayao', 'Province'),
    ('PH-AUR', 'PH', 'Aurora', 'Province'),
    ('PH-BAN', 'PH', 'Bataan', 'Province'),
    ('PH-BAS', 'PH', 'Basilan', 'Province'),
    ('PH-BEN', 'PH', 'Benguet', 'Province'),
    ('PH-BIL', 'PH', 'Biliran', 'Province'),
    ('PH-BOH', 'PH', 'Bohol', 'Province'),
    ('PH-BTG', 'PH', 'Batangas', 'Province'),
    ('PH-BTN', 'PH', 'Batanes', 'Province'),
    ('PH-BUK', 'PH', 'Bukidnon', 'Province'),
    ('PH-BUL', 'PH', 'Bulacan', 'Province'),
    ('PH-CAG', 'PH', 'Cagayan', 'Province'),
    ('PH-CAM', 'PH', 'Camiguin', 'Province'),
    ('PH-CAN', 'PH', 'Camarines Norte', 'Province'),
    ('PH-CAP', 'PH', 'Capiz', 'Province'),
    ('PH-CAS', 'PH', 'Camarines Sur', 'Province'),
    ('PH-CAT', 'PH', 'Catanduanes', 'Province'),
    ('PH-CAV', 'PH', 'Cavite', 'Province'),
    ('PH-CEB', 'PH', 'Cebu', 'Province'),
    ('PH-COM', 'PH', 'Davao de Oro', 'Province'),
    ('PH-DAO', 'PH', 'Davao Oriental', 'Province'),
    ('PH-DAS', 'PH', 'Davao del Sur', 'Province'),
    ('PH-DAV', 'PH', 'Davao del Norte', 'Province'),
    ('PH-DIN', 'PH', 'Dinagat Islands', 'Province'),
    ('PH-DVO', 'PH', 'Davao Occidental', 'Province'),
    ('PH-EAS', 'PH', 'Eastern Samar', 'Province'),
    ('PH-GUI', 'PH', 'Guimaras', 'Province'),
    ('PH-IFU', 'PH', 'Ifugao', 'Province'),
    ('PH-ILI', 'PH', 'Iloilo', 'Province'),
    ('PH-ILN', 'PH', 'Ilocos Norte', 'Province'),
    ('PH-ILS', 'PH', 'Ilocos Sur', 'Province'),
    ('PH-ISA', 'PH', 'Isabela', 'Province'),
    ('PH-KAL', 'PH', 'Kalinga', 'Province'),
    ('PH-LAG', 'PH', 'Laguna', 'Province'),
    ('PH-LAN', 'PH', 'Lanao del Norte', 'Province'),
    ('PH-LAS', 'PH', 'Lanao del Sur', 'Province'),
    ('PH-LEY', 'PH', 'Leyte', 'Province'),
    ('PH-LUN', 'PH', 'La Union', 'Province'),
    ('PH-MAD', 'PH', 'Marinduque', 'Province'),
    ('PH-MAG', 'PH', 'Maguindanao', 'Province'),
    ('PH-MAS', 'PH', 'Masbate', 'Province'),
    ('PH-MDC', 'PH', 'Mindoro Occidental', 'Province'),
    ('PH-MDR', 'PH', 'Mindoro Oriental', 'Province'),
    ('PH-MOU', 'PH', 'Mountain Province', 'Province'),
    ('PH-MSC', 'PH', 'Misamis Occidental', 'Province'),
    ('PH-MSR', 'PH', 'Misamis Oriental', 'Province'),
    ('PH-NCO', 'PH', 'Cotabato', 'Province'),
    ('PH-NEC', 'PH', 'Negros Occidental', 'Province'),
    ('PH-NER', 'PH', 'Negros Oriental', 'Province'),
    ('PH-NSA', 'PH', 'Northern Samar', 'Province'),
    ('PH-NUE', 'PH', 'Nueva Ecija', 'Province'),
    ('PH-NUV', 'PH', 'Nueva Vizcaya', 'Province'),
    ('PH-PAM', 'PH', 'Pampanga', 'Province'),
    ('PH-PAN', 'PH', 'Pangasinan', 'Province'),
    ('PH-PLW', 'PH', 'Palawan', 'Province'),
    ('PH-QUE', 'PH', 'Quezon', 'Province'),
    ('PH-QUI', 'PH', 'Quirino', 'Province'),
    ('PH-RIZ', 'PH', 'Rizal', 'Province'),
    ('PH-ROM', 'PH', 'Romblon', 'Province'),
    ('PH-SAR', 'PH', 'Sarangani', 'Province'),
    ('PH-SCO', 'PH', 'South Cotabato', 'Province'),
    ('PH-SIG', 'PH', 'Siquijor', 'Province'),
    ('PH-SLE', 'PH', 'Southern Leyte', 'Province'),
    ('PH-SLU', 'PH', 'Sulu', 'Province'),
    ('PH-SOR', 'PH', 'Sorsogon', 'Province'),
    ('PH-SUK', 'PH', 'Sultan Kudarat', 'Province'),
    ('PH-SUN', 'PH', 'Surigao del Norte', 'Province'),
    ('PH-SUR', 'PH', 'Surigao del Sur', 'Province'),
    ('PH-TAR', 'PH', 'Tarlac', 'Province'),
    ('PH-TAW', 'PH', 'Tawi-Tawi', 'Province'),
    ('PH-WSA', 'PH', 'Samar', 'Province'),
    ('PH-ZAN', 'PH', 'Zamboanga del Norte', 'Province'),
    ('PH-ZAS', 'PH', 'Zamboanga del Sur', 'Province'),
    ('PH-ZMB', 'PH', 'Zambales', 'Province'),
    ('PH-ZSI', 'PH', 'Zamboanga Sibugay', 'Province'),
    ('PK-BA', 'PK', 'Balochistan', 'Province'),
    ('PK-GB', 'PK', 'Gilgit-Baltistan', 'Pakistan administered area'),
    ('PK-IS', 'PK', 'Islamabad', 'Federal capital territory'),
    ('PK-JK', 'PK', 'Azad Jammu and Kashmir', 'Pakistan administered area'),
    ('PK-KP', 'PK', 'Khyber Pakhtunkhwa', 'Province'),
    ('PK-PB', 'PK', 'Punjab', 'Province'),
    ('PK-SD', 'PK', 'Sindh', 'Province'),
    ('PL-02', 'PL', 'Dolnośląskie', 'Voivodship'),
    ('PL-04', 'PL', 'Kujawsko-pomorskie', 'Voivodship'),
    ('PL-06', 'PL', 'Lubelskie', 'Voivodship'),
    ('PL-08', 'PL', 'Lubuskie', 'Voivodship'),
    ('PL-10', 'PL', 'Łódzkie', 'Voivodship'),
    ('PL-12', 'PL', 'Małopolskie', 'Voivodship'),
    ('PL-14', 'PL', 'Mazowieckie', 'Voivodship'),
    ('PL-16', 'PL', 'Opolskie', 'Voivodship'),
    ('PL-18', 'PL', 'Podkarpackie', 'Voivodship'),
    ('PL-20', 'PL', 'Podlaskie', 'Voivodship'),
    ('PL-22', 'PL', 'Pomorskie', 'Voivodship'),
    ('PL-24', 'PL', 'Śląskie', 'Voivodship'),
    ('PL-26', 'PL', 'Świętokrzyskie', 'Voivodship'),
    ('PL-28', 'PL', 'Warmińsko-mazurskie', 'Voivodship'),
    ('PL-30', 'PL', 'Wielkopolskie', 'Voivodship'),
    ('PL-32', 'PL', 'Zachodniopomorskie', 'Voivodship'),
    ('PS-BTH', 'PS', 'Bethlehem', 'Governorate'),
    ('PS-DEB', 'PS', 'Deir El Balah', 'Governorate'),
    ('PS-GZA', 'PS', 'Gaza', 'Governorate'),
    ('PS-HBN', 'PS', 'Hebron', 'Governorate'),
    ('PS-JEM', 'PS', 'Jerusalem', 'Governorate'),
    ('PS-JEN', 'PS', 'Jenin', 'Governorate'),
    ('PS-JRH', 'PS', 'Jericho and Al Aghwar', 'Governorate'),
    ('PS-KYS', 'PS', 'Khan Yunis', 'Governorate'),
    ('PS-NBS', 'PS', 'Nablus', 'Governorate'),
    ('PS-NGZ', 'PS', 'North Gaza', 'Governorate'),
    ('PS-QQA', 'PS', 'Qalqilya', 'Governorate'),
    ('PS-RBH', 'PS', 'Ramallah', 'Governorate'),
    ('PS-RFH', 'PS', 'Rafah', 'Governorate'),
    ('PS-SLT', 'PS', 'Salfit', 'Governorate'),
    ('PS-TBS', 'PS', 'Tubas', 'Governorate'),
    ('PS-TKM', 'PS', 'Tulkarm', 'Governorate'),
    ('PT-01', 'PT', 'Aveiro', 'District'),
    ('PT-02', 'PT', 'Beja', 'District'),
    ('PT-03', 'PT', 'Braga', 'District'),
    ('PT-04', 'PT', 'Bragança', 'District'),
    ('PT-05', 'PT', 'Castelo Branco', 'District'),
    ('PT-06', 'PT', 'Coimbra', 'District'),
    ('PT-07', 'PT', 'Évora', 'District'),
    ('PT-08', 'PT', 'Faro', 'District'),
    ('PT-09', 'PT', 'Guarda', 'District'),
    ('PT-10', 'PT', 'Leiria', 'District'),
    ('PT-11', 'PT', 'Lisboa', 'District'),
    ('PT-12', 'PT', 'Portalegre', 'District'),
    ('PT-13', 'PT', 'Porto', 'District'),
    ('PT-14', 'PT', 'Santarém', 'District'),
    ('PT-15', 'PT', 'Setúbal', 'District'),
    ('PT-16', 'PT', 'Viana do Castelo', 'District'),
    ('PT-17', 'PT', 'Vila Real', 'District'),
    ('PT-18', 'PT', 'Viseu', 'District'),
    ('PT-20', 'PT', 'Região Autónoma dos Açores', 'Autonomous region'),
    ('PT-30', 'PT', 'Região Autónoma da Madeira', 'Autonomous region'),
    ('PW-002', 'PW', 'Aimeliik', 'State'),
    ('PW-004', 'PW', 'Airai', 'State'),
    ('PW-010', 'PW', 'Angaur', 'State'),
    ('PW-050', 'PW', 'Hatohobei', 'State'),
    ('PW-100', 'PW', 'Kayangel', 'State'),
    ('PW-150', 'PW', 'Koror', 'State'),
    ('PW-212', 'PW', 'Melekeok', 'State'),
    ('PW-214', 'PW', 'Ngaraard', 'State'),
    ('PW-218', 'PW', 'Ngarchelong', 'State'),
    ('PW-222', 'PW', 'Ngardmau', 'State'),
    ('PW-224', 'PW', 'Ngatpang', 'State'),
    ('PW-226', 'PW', 'Ngchesar', 'State'),
    ('PW-227', 'PW', 'Ngeremlengui', 'State'),
    ('PW-228', 'PW', 'Ngiwal', 'State'),
    ('PW-350', 'PW', 'Peleliu', 'State'),
    ('PW-370', 'PW', 'Sonsorol', 'State'),
    ('PY-1', 'PY', 'Concepción', 'Department'),
    ('PY-10', 'PY', 'Alto Paraná', 'Department'),
    ('PY-11', 'PY', 'Central', 'Department'),
    ('PY-12', 'PY', 'Ñeembucú', 'Department'),
    ('PY-13', 'PY', 'Amambay', 'Department'),
    ('PY-14', 'PY', 'Canindeyú', 'Department'),
    ('PY-15', 'PY', 'Presidente Hayes', 'Department'),
    ('PY-16', 'PY', 'Alto Paraguay', 'Department'),
    ('PY-19', 'PY', 'Boquerón', 'Department'),
    ('PY-2', 'PY', 'San Pedro', 'Department'),
    ('PY-3', 'PY', 'Cordillera', 'Department'),
    ('PY-4', 'PY', 'Guairá', 'Department'),
    ('PY-5', 'PY', 'Caaguazú', 'Department'),
    ('PY-6', 'PY', 'Caazapá', 'Department'),
    ('PY-7', 'PY', 'Itapúa', 'Department'),
    ('PY-8', 'PY', 'Misiones', 'Department'),
    ('PY-9', 'PY', 'Paraguarí', 'Department'),
    ('PY-ASU', 'PY', 'Asunción', 'Capital'),
    ('QA-DA', 'QA', 'Ad Dawḩah', 'Municipality'),
    ('QA-KH', 'QA', 'Al Khawr wa adh Dhakhīrah', 'Municipality'),
    ('QA-MS', 'QA', 'Ash Shamāl', 'Municipality'),
    ('QA-RA', 'QA', 'Ar Rayyān', 'Municipality'),
    ('QA-SH', 'QA', 'Ash Shīḩānīyah', 'Municipality'),
    ('QA-US', 'QA', 'Umm Şalāl', 'Municipality'),
    ('QA-WA', 'QA', 'Al Wakrah', 'Municipality'),
    ('QA-ZA', 'QA', 'Az̧ Z̧a‘āyin', 'Municipality'),
    ('RO-AB', 'RO', 'Alba', 'Department'),
    ('RO-AG', 'RO', 'Argeș', 'Department'),
    ('RO-AR', 'RO', 'Arad', 'Department'),
    ('RO-B', 'RO', 'București', 'Municipality'),
    ('RO-BC', 'RO', 'Bacău', 'Department'),
    ('RO-BH', 'RO', 'Bihor', 'Department'),
    ('RO-BN', 'RO', 'Bistrița-Năsăud', 'Department'),
    ('RO-BR', 'RO', 'Brăila', 'Department'),
    ('RO-BT', 'RO', 'Botoșani', 'Department'),
    ('RO-BV', 'RO', 'Brașov', 'Department'),
    ('RO-BZ', 'RO', 'Buzău', 'Department'),
    ('RO-CJ', 'RO', 'Cluj', 'Department'),
    ('RO-CL', 'RO', 'Călărași', 'Department'),
    ('RO-CS', 'RO', 'Caraș-Severin', 'Department'),
    ('RO-CT', 'RO', 'Constanța', 'Department'),
    ('RO-CV', 'RO', 'Covasna', 'Department'),
    ('RO-DB', 'RO', 'Dâmbovița', 'Department'),
    ('RO-DJ', 'RO', 'Dolj', 'Department'),
    ('RO-GJ', 'RO', 'Gorj', 'Department'),
    ('RO-GL', 'RO', 'Galați', 'Department'),
    ('RO-GR', 'RO', 'Giurgiu', 'Department'),
    ('RO-HD', 'RO', 'Hunedoara', 'Department'),
    ('RO-HR', 'RO', 'Harghita', 'Department'),
    ('RO-IF', 'RO', 'Ilfov', 'Department'),
    ('RO-IL', 'RO', 'Ialomița', 'Department'),
    ('RO-IS', 'RO', 'Iași', 'Department'),
    ('RO-MH', 'RO', 'Mehedinți', 'Department'),
    ('RO-MM', 'RO', 'Maramureș', 'Department'),
    ('RO-MS', 'RO', 'Mureș', 'Department'),
    ('RO-NT', 'RO', 'Neamț', 'Department'),
    ('RO-OT', 'RO', 'Olt', 'Department'),
    ('RO-PH', 'RO', 'Prahova', 'Department'),
    ('RO-SB', 'RO', 'Sibiu', 'Department'),
    ('RO-SJ', 'RO', 'Sălaj', 'Department'),
    ('RO-SM', 'RO', 'Satu Mare', 'Department'),
    ('RO-SV', 'RO', 'Suceava', 'Department'),
    ('RO-TL', 'RO', 'Tulcea', 'Department'),
    ('RO-TM', 'RO', 'Timiș', 'Department'),
    ('RO-TR', 'RO', 'Teleorman', 'Department'),
    ('RO-VL', 'RO', 'Vâlcea', 'Department'),
    ('RO-VN', 'RO', 'Vrancea', 'Department'),
    ('RO-VS', 'RO', 'Vaslui', 'Department'),
    ('RS-00', 'RS', 'Beograd', 'City'),
    ('RS-01', 'RS', 'Severnobački okrug', 'District'),
    ('RS-02', 'RS', 'Srednjebanatski okrug', 'District'),
    ('RS-03', 'RS', 'Severnobanatski okrug', 'District'),
    ('RS-04', 'RS', 'Južnobanatski okrug', 'District'),
    ('RS-05', 'RS', 'Zapadnobački okrug', 'District'),
    ('RS-06', 'RS', 'Južnobački okrug', 'District'),
    ('RS-07', 'RS', 'Sremski okrug', 'District'),
    ('RS-08', 'RS', 'Mačvanski okrug', 'District'),
    ('RS-09', 'RS', 'Kolubarski okrug', 'District'),
    ('RS-10', 'RS', 'Podunavski okrug', 'District'),
    ('RS-11', 'RS', 'Braničevski okrug', 'District'),
    ('RS-12', 'RS', 'Šumadijski okrug', 'District'),
    ('RS-13', 'RS', 'Pomoravski okrug', 'District'),
    ('RS-14', 'RS', 'Borski okrug', 'District'),
    ('RS-15', 'RS', 'Zaječarski okrug', 'District'),
    ('RS-16', 'RS', 'Zlatiborski okrug', 'District'),
    ('RS-17', 'RS', 'Moravički okrug', 'District'),
    ('RS-18', 'RS', 'Raški okrug', 'District'),
    ('RS-19', 'RS', 'Rasinski okrug', 'District'),
    ('RS-20', 'RS', 'Nišavski okrug', 'District'),
    ('RS-21', 'RS', 'Toplički okrug', 'District'),
    ('RS-22', 'RS', 'Pirotski okrug', 'District'),
    ('RS-23', 'RS', 'Jablanički okrug', 'District'),
    ('RS-24', 'RS', 'Pčinjski okrug', 'District'),
    ('RS-25', 'RS', 'Kosovski okrug', 'District'),
    ('RS-26', 'RS', 'Pećki okrug', 'District'),
    ('RS-27', 'RS', 'Prizrenski okrug', 'District'),
    ('RS-28', 'RS', 'Kosovsko-Mitrovački okrug', 'District'),
    ('RS-29', 'RS', 'Kosovsko-Pomoravski okrug', 'District'),
    ('RS-KM', 'RS', 'Kosovo-Metohija', 'Autonomous province'),
    ('RS-VO', 'RS', 'Vojvodina', 'Autonomous province'),
    ('RU-AD', 'RU', 'Adygeja, Respublika', 'Republic'),
    ('RU-AL', 'RU', 'Altaj, Respublika', 'Republic'),
    ('RU-ALT', 'RU', 'Altajskij kraj', 'Administrative territory'),
    ('RU-AMU', 'RU', 'Amurskaja oblast''', 'Administrative region'),
    ('RU-ARK', 'RU', 'Arhangel''skaja oblast''', 'Administrative region'),
    ('RU-AST', 'RU', 'Astrahanskaja oblast''', 'Administrative region'),
    ('RU-BA', 'RU', 'Bashkortostan, Respublika', 'Republic'),
    ('RU-BEL', 'RU', 'Belgorodskaja oblast''', 'Administrative region'),
    ('RU-BRY', 'RU', 'Brjanskaja oblast''', 'Administrative region'),
    ('RU-BU', 'RU', 'Burjatija, Respublika', 'Republic'),
    ('RU-CE', 'RU', 'Chechenskaya Respublika', 'Republic'),
    ('RU-CHE', 'RU', 'Chelyabinskaya oblast''', 'Administrative region'),
    ('RU-CHU', 'RU', 'Chukotskiy avtonomnyy okrug', 'Autonomous district'),
    ('RU-CU', 'RU', 'Chuvashskaya Respublika', 'Republic'),
    ('RU-DA', 'RU', 'Dagestan, Respublika', 'Republic'),
    ('RU-IN', 'RU', 'Ingushetiya, Respublika', 'Republic'),
    ('RU-IRK', 'RU', 'Irkutskaja oblast''', 'Administrative region'),
    ('RU-IVA', 'RU', 'Ivanovskaja oblast''', 'Administrative region'),
    ('RU-KAM', 'RU', 'Kamchatskiy kray', 'Administrative territory'),
    ('RU-KB', 'RU', 'Kabardino-Balkarskaja Respublika', 'Republic'),
    ('RU-KC', 'RU', 'Karachayevo-Cherkesskaya Respublika', 'Republic'),
    ('RU-KDA', 'RU', 'Krasnodarskij kraj', 'Administrative territory'),
    ('RU-KEM', 'RU', 'Kemerovskaja oblast''', 'Administrative region'),
    ('RU-KGD', 'RU', 'Kaliningradskaja oblast''', 'Administrative region'),
    ('RU-KGN', 'RU', 'Kurganskaja oblast''', 'Administrative region'),
    ('RU-KHA', 'RU', 'Habarovskij kraj', 'Administrative territory'),
    ('RU-KHM', 'RU', 'Hanty-Mansijskij avtonomnyj okrug', 'Autonomous district'),
    ('RU-KIR', 'RU', 'Kirovskaja oblast''', 'Administrative region'),
    ('RU-KK', 'RU', 'Hakasija, Respublika', 'Republic'),
    ('RU-KL', 'RU', 'Kalmykija, Respublika', 'Republic'),
    ('RU-KLU', 'RU', 'Kaluzhskaya oblast''', 'Administrative region'),
    ('RU-KO', 'RU', 'Komi, Respublika', 'Republic'),
    ('RU-KOS', 'RU', 'Kostromskaja oblast''', 'Administrative region'),
    ('RU-KR', 'RU', 'Karelija, Respublika', 'Republic'),
    ('RU-KRS', 'RU', 'Kurskaja oblast''', 'Administrative region'),
    ('RU-KYA', 'RU', 'Krasnojarskij kraj', 'Administrative territory'),
    ('RU-LEN', 'RU', 'Leningradskaja oblast''', 'Administrative region'),
    ('RU-LIP', 'RU', 'Lipeckaja oblast''', 'Administrative region'),
    ('RU-MAG', 'RU', 'Magadanskaja oblast''', 'Administrative region'),
    ('RU-ME', 'RU', 'Marij Èl, Respublika', 'Republic'),
    ('RU-MO', 'RU', 'Mordovija, Respublika', 'Republic'),
    ('RU-MOS', 'RU', 'Moskovskaja oblast''', 'Administrative region'),
    ('RU-MOW', 'RU', 'Moskva', 'Autonomous city'),
    ('RU-MUR', 'RU', 'Murmanskaja oblast''', 'Administrative region'),
    ('RU-NEN', 'RU', 'Neneckij avtonomnyj okrug', 'Autonomous district'),
    ('RU-NGR', 'RU', 'Novgorodskaja oblast''', 'Administrative region'),
    ('RU-NIZ', 'RU', 'Nizhegorodskaya oblast''', 'Administrative region'),
    ('RU-NVS', 'RU', 'Novosibirskaja oblast''', 'Administrative region'),
    ('RU-OMS', 'RU', 'Omskaja oblast''', 'Administrative region'),
    ('RU-ORE', 'RU', 'Orenburgskaja oblast''', 'Administrative region'),
    ('RU-ORL', 'RU', 'Orlovskaja oblast''', 'Administrative region'),
    ('RU-PER', 'RU', 'Permskij kraj', 'Administrative territory'),
    ('RU-PNZ', 'RU', 'Penzenskaja oblast''', 'Administrative region'),
    ('RU-PRI', 'RU', 'Primorskij kraj', 'Administrative territory'),
    ('RU-PSK', 'RU', 'Pskovskaja oblast''', 'Administrative region'),
    ('RU-ROS', 'RU', 'Rostovskaja oblast''', 'Administrative region'),
    ('RU-RYA', 'RU', 'Rjazanskaja oblast''', 'Administrative region'),
    ('RU-SA', 'RU', 'Saha, Respublika', 'Republic'),
    ('RU-SAK', 'RU', 'Sahalinskaja oblast''', 'Administrative region'),
    ('RU-SAM', 'RU', 'Samarskaja oblast''', 'Administrative region'),
    ('RU-SAR', 'RU', 'Saratovskaja oblast''', 'Administrative region'),
    ('RU-SE', 'RU', 'Severnaja Osetija, Respublika', 'Republic'),
    ('RU-SMO', 'RU', 'Smolenskaja oblast''', 'Administrative region'),
    ('RU-SPE', 'RU', 'Sankt-Peterburg', 'Autonomous city'),
    ('RU-STA', 'RU', 'Stavropol''skij kraj', 'Administrative territory'),
    ('RU-SVE', 'RU', 'Sverdlovskaja oblast''', 'Administrative region'),
    ('RU-TA', 'RU', 'Tatarstan, Respublika', 'Republic'),
    ('RU-TAM', 'RU', 'Tambovskaja oblast''', 'Administrative region'),
    ('RU-TOM', 'RU', 'Tomskaja oblast''', 'Administrative region'),
    ('RU-TUL', 'RU', 'Tul''skaja oblast''', 'Administrative region'),
    ('RU-TVE', 'RU', 'Tverskaja oblast''', 'Administrative region'),
    ('RU-TY', 'RU', 'Tyva, Respublika', 'Republic'),
    ('RU-TYU', 'RU', 'Tjumenskaja oblast''', 'Administrative region'),
    ('RU-UD', 'RU', 'Udmurtskaja Respublika', 'Republic'),
    ('RU-ULY', 'RU', 'Ul''janovskaja oblast''', 'Administrative region'),
    ('RU-VGG', 'RU', 'Volgogradskaja oblast''', 'Administrative region'),
    ('RU-VLA', 'RU', 'Vladimirskaja oblast''', 'Administrative region'),
    ('RU-VLG', 'RU', 'Vologodskaja oblast''', 'Administrative region'),
    ('RU-VOR', 'RU', 'Voronezhskaya oblast''', 'Administrative region'),
    ('RU-YAN', 'RU', 'Jamalo-Neneckij avtonomnyj okrug', 'Autonomous district'),
    ('RU-YAR', 'RU', 'Jaroslavskaja oblast''', 'Administrative region'),
    ('RU-YEV', 'RU', 'Evrejskaja avtonomnaja oblast''', 'Autonomous region'),
    ('RU-ZAB', 'RU', 'Zabajkal''skij kraj', 'Administrative territory'),
    ('RW-01', 'RW', 'City of Kigali', 'City'),
    ('RW-02', 'RW', 'Eastern', 'Province'),
    ('RW-03', 'RW', 'Northern', 'Province'),
    ('RW-04', 'RW', 'Western', 'Province'),
    ('RW-05', 'RW', 'Southern', 'Province'),
    ('SA-01', 'SA', 'Ar Riyāḑ', 'Region'),
    ('SA-02', 'SA', 'Makkah al Mukarramah', 'Region'),
    ('SA-03', 'SA', 'Al Madīnah al Munawwarah', 'Region'),
    ('SA-04', 'SA', 'Ash Sharqīyah', 'Region'),
    ('SA-05', 'SA', 'Al Qaşīm', 'Region'),
    ('SA-06', 'SA', 'Ḩā''il', 'Region'),
    ('SA-07', 'SA', 'Tabūk', 'Region'),
    ('SA-08', 'SA', 'Al Ḩudūd ash Shamālīyah', 'Region'),
    ('SA-09', 'SA', 'Jāzān', 'Region'),
    ('SA-10', 'SA', 'Najrān', 'Region'),
    ('SA-11', 'SA', 'Al Bāḩah', 'Region'),
    ('SA-12', 'SA', 'Al Jawf', 'Region'),
    ('SA-14', 'SA', '''Asīr', 'Region'),
    ('SB-CE', 'SB', 'Central', 'Province'),
    ('SB-CH', 'SB', 'Choiseul', 'Province'),
    ('SB-CT', 'SB', 'Capital Territory (Honiara)', 'Capital territory'),
    ('SB-GU', 'SB', 'Guadalcanal', 'Province'),
    ('SB-IS', 'SB', 'Isabel', 'Province'),
    ('SB-MK', 'SB', 'Makira-Ulawa', 'Province'),
    ('SB-ML', 'SB', 'Malaita', 'Province'),
    ('SB-RB', 'SB', 'Rennell and Bellona', 'Province'),
    ('SB-TE', 'SB', 'Temotu', 'Province'),
    ('SB-WE', 'SB', 'Western', 'Province'),
    ('SC-01', 'SC', 'Anse aux Pins', 'District'),
    ('SC-02', 'SC', 'Anse Boileau', 'District'),
    ('SC-03', 'SC', 'Anse Etoile', 'District'),
    ('SC-04', 'SC', 'Au Cap', 'District'),
    ('SC-05', 'SC', 'Anse Royale', 'District'),
    ('SC-06', 'SC', 'Baie Lazare', 'District'),
    ('SC-07', 'SC', 'Baie Sainte Anne', 'District'),
    ('SC-08', 'SC', 'Beau Vallon', 'District'),
    ('SC-09', 'SC', 'Bel Air', 'District'),
    ('SC-10', 'SC', 'Bel Ombre', 'District'),
    ('SC-11', 'SC', 'Cascade', 'District'),
    ('SC-12', 'SC', 'Glacis', 'District'),
    ('SC-13', 'SC', 'Grand Anse Mahe', 'District'),
    ('SC-14', 'SC', 'Grand Anse Praslin', 'District'),
    ('SC-15', 'SC', 'La Digue', 'District'),
    ('SC-16', 'SC', 'English River', 'District'),
    ('SC-17', 'SC', 'Mont Buxton', 'District'),
    ('SC-18', 'SC', 'Mont Fleuri', 'District'),
    ('SC-19', 'SC', 'Plaisance', 'District'),
    ('SC-20', 'SC', 'Pointe Larue', 'District'),
    ('SC-21', 'SC', 'Port Glaud', 'District'),
    ('SC-22', 'SC', 'Saint Louis', 'District'),
    ('SC-23', 'SC', 'Takamaka', 'District'),
    ('SC-24', 'SC', 'Les Mamelles', 'District'),
    ('SC-25', 'SC', 'Roche Caiman', 'District'),
    ('SC-26', 'SC', 'Ile Perseverance I', 'District'),
    ('SC-27', 'SC', 'Ile Perseverance II', 'District'),
    ('SD-DC', 'SD', 'Central Darfur', 'State'),
    ('SD-DE', 'SD', 'East Darfur', 'State'),
    ('SD-DN', 'SD', 'North Darfur', 'State'),
    ('SD-DS', 'SD', 'South Darfur', 'State'),
    ('SD-DW', 'SD', 'West Darfur', 'State'),
    ('SD-GD', 'SD', 'Gedaref', 'State'),
    ('SD-GK', 'SD', 'West Kordofan', 'State'),
    ('SD-GZ', 'SD', 'Gezira', 'State'),
    ('SD-KA', 'SD', 'Kassala', 'State'),
    ('SD-KH', 'SD', 'Khartoum', 'State'),
    ('SD-KN', 'SD', 'North Kordofan', 'State'),
    ('SD-KS', 'SD', 'South Kordofan', 'State'),
    ('SD-NB', 'SD', 'Blue Nile', 'State'),
    ('SD-NO', 'SD', 'Northern', 'State'),
    ('SD-NR', 'SD', 'River Nile', 'State'),
    ('SD-NW', 'SD', 'White Nile', 'State'),
    ('SD-RS', 'SD', 'Red Sea', 'State'),
    ('SD-SI', 'SD', 'Sennar', 'State'),
    ('SE-AB', 'SE', 'Stockholms län [SE-01]', 'County'),
    ('SE-AC', 'SE', 'Västerbottens län [SE-24]', 'County'),
    ('SE-BD', 'SE', 'Norrbottens län [SE-25]', 'County'),
    ('SE-C', 'SE', 'Uppsala län [SE-03]', 'County'),
    ('SE-D', 'SE', 'Södermanlands län [SE-04]', 'County'),
    ('SE-E', 'SE', 'Östergötlands län [SE-05]', 'County'),
    ('SE-F', 'SE', 'Jönköpings län [SE-06]', 'County'),
    ('SE-G', 'SE', 'Kronobergs län [SE-07]', 'County'),
    ('SE-H', 'SE', 'Kalmar län [SE-08]', 'County'),
    ('SE-I', 'SE', 'Gotlands län [SE-09]', 'County'),
    ('SE-K', 'SE', 'Blekinge län [SE-10]', 'County'),
    ('SE-M', 'SE', 'Skåne län [SE-12]', 'County'),
    ('SE-N', 'SE', 'Hallands län [SE-13]', 'County'),
    ('SE-O', 'SE', 'Västra Götalands län [SE-14]', 'County'),
    ('SE-S', 'SE', 'Värmlands län [SE-17]', 'County'),
    ('SE-T', 'SE', 'Örebro län [SE-18]', 'County'),
    ('SE-U', 'SE', 'Västmanlands län [SE-19]', 'County'),
    ('SE-W', 'SE', 'Dalarnas län [SE-20]', 'County'),
    ('SE-X', 'SE', 'Gävleborgs län [SE-21]', 'County'),
    ('SE-Y', 'SE', 'Västernorrlands län [SE-22]', 'County'),
    ('SE-Z', 'SE', 'Jämtlands län [SE-23]', 'County'),
    ('SG-01', 'SG', 'Central Singapore', 'District'),
    ('SG-02', 'SG', 'North East', 'District'),
    ('SG-03', 'SG', 'North West', 'District'),
    ('SG-04', 'SG', 'South East', 'District'),
    ('SG-05', 'SG', 'South West', 'District'),
    ('SH-AC', 'SH', 'Ascension', 'Geographical entity'),
    ('SH-HL', 'SH', 'Saint Helena', 'Geographical entity'),
    ('SH-TA', 'SH', 'Tristan da Cunha', 'Geographical entity'),
    ('SI-001', 'SI', 'Ajdovščina', 'Municipality'),
    ('SI-002', 'SI', 'Beltinci', 'Municipality'),
    ('SI-003', 'SI', 'Bled', 'Municipality'),
    ('SI-004', 'SI', 'Bohinj', 'Municipality'),
    ('SI-005', 'SI', 'Borovnica', 'Municipality'),
    ('SI-006', 'SI', 'Bovec', 'Municipality'),
    ('SI-007', 'SI', 'Brda', 'Municipality'),
    ('SI-008', 'SI', 'Brezovica', 'Municipality'),
    ('SI-009', 'SI', 'Brežice', 'Municipality'),
    ('SI-010', 'SI', 'Tišina', 'Municipality'),
    ('SI-011', 'SI', 'Celje', 'Municipality'),
    ('SI-012', 'SI', 'Cerklje na Gorenjskem', 'Municipality'),
    ('SI-013', 'SI', 'Cerknica', 'Municipality'),
    ('SI-014', 'SI', 'Cerkno', 'Municipality'),
    ('SI-015', 'SI', 'Črenšovci', 'Municipality'),
    ('SI-016', 'SI', 'Črna na Koroškem', 'Municipality'),
    ('SI-017', 'SI', 'Črnomelj', 'Municipality'),
    ('SI-018', 'SI', 'Destrnik', 'Municipality'),
    ('SI-019', 'SI', 'Divača', 'Municipality'),
    ('SI-020', 'SI', 'Dobrepolje', 'Municipality'),
    ('SI-021', 'SI', 'Dobrova-Polhov Gradec', 'Municipality'),
    ('SI-022', 'SI', 'Dol pri Ljubljani', 'Municipality'),
    ('SI-023', 'SI', 'Domžale', 'Municipality'),
    ('SI-024', 'SI', 'Dornava', 'Municipality'),
    ('SI-025', 'SI', 'Dravograd', 'Municipality'),
    ('SI-026', 'SI', 'Duplek', 'Municipality'),
    ('SI-027', 'SI', 'Gorenja vas-Poljane', 'Municipality'),
    ('SI-028', 'SI', 'Gorišnica', 'Municipality'),
    ('SI-029', 'SI', 'Gornja Radgona', 'Municipality'),
    ('SI-030', 'SI', 'Gornji Grad', 'Municipality'),
    ('SI-031', 'SI', 'Gornji Petrovci', 'Municipality'),
    ('SI-032', 'SI', 'Grosuplje', 'Municipality'),
    ('SI-033', 'SI', 'Šalovci', 'Municipality'),
    ('SI-034', 'SI', 'Hrastnik', 'Municipality'),
    ('SI-035', 'SI', 'Hrpelje-Kozina', 'Municipality'),
    ('SI-036', 'SI', 'Idrija', 'Municipality'),
    ('SI-037', 'SI', 'Ig', 'Municipality'),
    ('SI-038', 'SI', 'Ilirska Bistrica', 'Municipality'),
    ('SI-039', 'SI', 'Ivančna Gorica', 'Municipality'),
    ('SI-040', 'SI', 'Izola', 'Municipality'),
    ('SI-041', 'SI', 'Jesenice', 'Municipality'),
    ('SI-042', 'SI', 'Juršinci', 'Municipality'),
    ('SI-043', 'SI', 'Kamnik', 'Municipality'),
    ('SI-044', 'SI', 'Kanal', 'Municipality'),
    ('SI-045', 'SI', 'Kidričevo', 'Municipality'),
    ('SI-046', 'SI', 'Kobarid', 'Municipality'),
    ('SI-047', 'SI', 'Kobilje', 'Municipality'),
    ('SI-048', 'SI', 'Kočevje', 'Municipality'),
    ('SI-049', 'SI', 'Komen', 'Municipality'),
    ('SI-050', 'SI', 'Koper', 'Municipality'),
    ('SI-051', 'SI', 'Kozje', 'Municipality'),
    ('SI-052', 'SI', 'Kranj', 'Municipality'),
    ('SI-053', 'SI', 'Kranjska Gora', 'Municipality'),
    ('SI-054', 'SI', 'Krško', 'Municipality'),
    ('SI-055', 'SI', 'Kungota', 'Municipality'),
    ('SI-056', 'SI', 'Kuzma', 'Municipality'),
    ('SI-057', 'SI', 'Laško', 'Municipality'),
    ('SI-058', 'SI', 'Lenart', 'Municipality'),
    ('SI-059', 'SI', 'Lendava', 'Municipality'),
    ('SI-060', 'SI', 'Litija', 'Municipality'),
    ('SI-061', 'SI', 'Ljubljana', 'Municipality'),
    ('SI-062', 'SI', 'Ljubno', 'Municipality'),
    ('SI-063', 'SI', 'Ljutomer', 'Municipality'),
    ('SI-064', 'SI', 'Logatec', 'Municipality'),
    ('SI-065', 'SI', 'Loška dolina', 'Municipality'),
    ('SI-066', 'SI', 'Loški Potok', 'Municipality'),
    ('SI-067', 'SI', 'Luče', 'Municipality'),
    ('SI-068', 'SI', 'Lukovica', 'Municipality'),
    ('SI-069', 'SI', 'Majšperk', 'Municipality'),
    ('SI-070', 'SI', 'Maribor', 'Municipality'),
    ('SI-071', 'SI', 'Medvode', 'Municipality'),
    ('SI-072', 'SI', 'Mengeš', 'Municipality'),
    ('SI-073', 'SI', 'Metlika', 'Municipality'),
    ('SI-074', 'SI', 'Mežica', 'Municipality'),
    ('SI-075', 'SI', 'Miren-Kostanjevica', 'Municipality'),
    ('SI-076', 'SI', 'Mislinja', 'Municipality'),
    ('SI-077', 'SI', 'Moravče', 'Municipality'),
    ('SI-078', 'SI', 'Moravske Toplice', 'Municipality'),
    ('SI-079', 'SI', 'Mozirje', 'Municipality'),
    ('SI-080', 'SI', 'Murska Sobota', 'Municipality'),
    ('SI-081', 'SI', 'Muta', 'Municipality'),
    ('SI-082', 'SI', 'Naklo', 'Municipality'),
    ('SI-083', 'SI', 'Nazarje', 'Municipality'),
    ('SI-084', 'SI', 'Nova Gorica', 'Municipality'),
    ('SI-085', 'SI', 'Novo Mesto', 'Municipality'),
    ('SI-086', 'SI', 'Odranci', 'Municipality'),
    ('SI-087', 'SI', 'Ormož', 'Municipality'),
    ('SI-088', 'SI', 'Osilnica', 'Municipality'),
    ('SI-089', 'SI', 'Pesnica', 'Municipality'),
    ('SI-090', 'SI', 'Piran', 'Municipality'),
    ('SI-091', 'SI', 'Pivka', 'Municipality'),
    ('SI-092', 'SI', 'Podčetrtek', 'Municipality'),
    ('SI-093', 'SI', 'Podvelka', 'Municipality'),
    ('SI-094', 'SI', 'Postojna', 'Municipality'),
    ('SI-095', 'SI', 'Preddvor', 'Municipality'),
    ('SI-096', 'SI', 'Ptuj', 'Municipality'),
    ('SI-097', 'SI', 'Puconci', 'Municipality'),
    ('SI-098', 'SI', 'Rače-Fram', 'Municipality'),
    ('SI-099', 'SI', 'Radeče', 'Municipality'),
    ('SI-100', 'SI', 'Radenci', 'Municipality'),
    ('SI-101', 'SI', 'Radlje ob Dravi', 'Municipality'),
    ('SI-102', 'SI', 'Radovljica', 'Municipality'),
    ('SI-103', 'SI', 'Ravne na Koroškem', 'Municipality'),
    ('SI-104', 'SI', 'Ribnica', 'Municipality'),
    ('SI-105', 'SI', 'Rogašovci', 'Municipality'),
    ('SI-106', 'SI', 'Rogaška Slatina', 'Municipality'),
    ('SI-107', 'SI', 'Rogatec', 'Municipality'),
    ('SI-108', 'SI', 'Ruše', 'Municipality'),
    ('SI-109', 'SI', 'Semič', 'Municipality'),
    ('SI-110', 'SI', 'Sevnica', 'Municipality'),
    ('SI-111', 'SI', 'Sežana', 'Municipality'),
    ('SI-112', 'SI', 'Slovenj Gradec', 'Municipality'),
    ('SI-113', 'SI', 'Slovenska Bistrica', 'Municipality'),
    ('SI-114', 'SI', 'Slovenske Konjice', 'Municipality'),
    ('SI-115', 'SI', 'Starše', 'Municipality'),
    ('SI-116', 'SI', 'Sveti Jurij ob Ščavnici', 'Municipality'),
    ('SI-117', 'SI', 'Šenčur', 'Municipality'),
    ('SI-118', 'SI', 'Šentilj', 'Municipality'),
    ('SI-119', 'SI', 'Šentjernej', 'Municipality'),
    ('SI-120', 'SI', 'Šentjur', 'Municipality'),
    ('SI-121', 'SI', 'Škocjan', 'Municipality'),
    ('SI-122', 'SI', 'Škofja Loka', 'Municipality'),
    ('SI-123', 'SI', 'Škofljica', 'Municipality'),
    ('SI-124', 'SI', 'Šmarje pri Jelšah', 'Municipality'),
    ('SI-125', 'SI', 'Šmartno ob Paki', 'Municipality'),
    ('SI-126', 'SI', 'Šoštanj', 'Municipality'),
    ('SI-127', 'SI', 'Štore', 'Municipality'),
    ('SI-128', 'SI', 'Tolmin', 'Municipality'),
    ('SI-129', 'SI', 'Trbovlje', 'Municipality'),
    ('SI-130', 'SI', 'Trebnje', 'Municipality'),
    ('SI-131', 'SI', 'Tržič', 'Municipality'),
    ('SI-132', 'SI', 'Turnišče', 'Municipality'),
    ('SI-133', 'SI', 'Velenje', 'Municipality'),
    ('SI-134', 'SI', 'Velike Lašče', 'Municipality'),
    ('SI-135', 'SI', 'Videm', 'Municipality'),
    ('SI-136', 'SI', 'Vipava', 'Municipality'),
    ('SI-137', 'SI', 'Vitanje', 'Municipality'),
    ('SI-138', 'SI', 'Vodice', 'Municipality'),
    ('SI-139', 'SI', 'Vojnik', 'Municipality'),
    ('SI-140', 'SI', 'Vrhnika', 'Municipality'),
    ('SI-141', 'SI', 'Vuzenica', 'Municipality'),
    ('SI-142', 'SI', 'Zagorje ob Savi', 'Municipality'),
    ('SI-143', 'SI', 'Zavrč', 'Municipality'),
    ('SI-144', 'SI', 'Zreče', 'Municipality'),
    ('SI-146', 'SI', 'Železniki', 'Municipality'),
    ('SI-147', 'SI', 'Žiri', 'Municipality'),
    ('SI-148', 'SI', 'Benedikt', 'Municipality'),
    ('SI-149', 'SI', 'Bistrica ob Sotli', 'Municipality'),
    ('SI-150', 'SI', 'Bloke', 'Municipality'),
    ('SI-151', 'SI', 'Braslovče', 'Municipality'),
    ('SI-152', 'SI', 'Cankova', 'Municipality'),
    ('SI-153', 'SI', 'Cerkvenjak', 'Municipality'),
    ('SI-154', 'SI', 'Dobje', 'Municipality'),
    ('SI-155', 'SI', 'Dobrna', 'Municipality'),
    ('SI-156', 'SI', 'Dobrovnik', 'Municipality'),
    ('SI-157', 'SI', 'Dolenjske Toplice', 'Municipality'),
    ('SI-158', 'SI', 'Grad', 'Municipality'),
    ('SI-159', 'SI', 'Hajdina', 'Municipality'),
    ('SI-160', 'SI', 'Hoče-Slivnica', 'Municipality'),
    ('SI-161', 'SI', 'Hodoš', 'Municipality'),
    ('SI-162', 'SI', 'Horjul', 'Municipality'),
    ('SI-163', 'SI', 'Jezersko', 'Municipality'),
    ('SI-164', 'SI', 'Komenda', 'Municipality'),
    ('SI-165', 'SI', 'Kostel', 'Municipality'),
    ('SI-166', 'SI', 'Križevci', 'Municipality'),
    ('SI-167', 'SI', 'Lovrenc na Pohorju', 'Municipality'),
    ('SI-168', 'SI', 'Markovci', 'Municipality'),
    ('SI-169', 'SI', 'Miklavž na Dravskem polju', 'Municipality'),
    ('SI-170', 'SI', 'Mirna Peč', 'Municipality'),
    ('SI-171', 'SI', 'Oplotnica', 'Municipality'),
    ('SI-172', 'SI', 'Podlehnik', 'Municipality'),
    ('SI-173', 'SI', 'Polzela', 'Municipality'),
    ('SI-174', 'SI', 'Prebold', 'Municipality'),
    ('SI-175', 'SI', 'Prevalje', 'Municipality'),
    ('SI-176', 'SI', 'Razkrižje', 'Municipality'),
    ('SI-177', 'SI', 'Ribnica na Pohorju', 'Municipality'),
    ('SI-178', 'SI', 'Selnica ob Dravi', 'Municipality'),
    ('SI-179', 'SI', 'Sodražica', 'Municipality'),
    ('SI-180', 'SI', 'Solčava', 'Municipality'),
    ('SI-181', 'SI', 'Sveta Ana', 'Municipality'),
    ('SI-182', 'SI', 'Sveti Andraž v Slovenskih goricah', 'Municipality'),
    ('SI-183', 'SI', 'Šempeter-Vrtojba', 'Municipality'),
    ('SI-184', 'SI', 'Tabor', 'Municipality'),
    ('SI-185', 'SI', 'Trnovska Vas', 'Municipality'),
    ('SI-186', 'SI', 'Trzin', 'Municipality'),
    ('SI-187', 'SI', 'Velika Polana', 'Municipality'),
    ('SI-188', 'SI', 'Veržej', 'Municipality'),
    ('SI-189', 'SI', 'Vransko', 'Municipality'),
    ('SI-190', 'SI', 'Žalec', 'Municipality'),
    ('SI-191', 'SI', 'Žetale', 'Municipality'),
    ('SI-192', 'SI', 'Žirovnica', 'Municipality'),
    ('SI-193', 'SI', 'Žužemberk', 'Municipality'),
    ('SI-194', 'SI', 'Šmartno pri Litiji', 'Municipality'),
    ('SI-195', 'SI', 'Apače', 'Municipality'),
    ('SI-196', 'SI', 'Cirkulane', 'Municipality'),
    ('SI-197', 'SI', 'Kosanjevica na Krki', 'Municipality'),
    ('SI-198', 'SI', 'Makole', 'Municipality'),
    ('SI-199', 'SI', 'Mokronog-Trebelno', 'Municipality'),
    ('SI-200', 'SI', 'Poljčane', 'Municipality'),
    ('SI-201', 'SI', 'Renče-Vogrsko', 'Municipality'),
    ('SI-202', 'SI', 'Središče ob Dravi', 'Municipality'),
    ('SI-203', 'SI', 'Straža', 'Municipality'),
    ('SI-204', 'SI', 'Sveta Trojica v Slovenskih goricah', 'Municipality'),
    ('SI-205', 'SI', 'Sveti Tomaž', 'Municipality'),
    ('SI-206', 'SI', 'Šmarješke Toplice', 'Municipality'),
    ('SI-207', 'SI', 'Gorje', 'Municipality'),
    ('SI-208', 'SI', 'Log-Dragomer', 'Municipality'),
    ('SI-209', 'SI', 'Rečica ob Savinji', 'Municipality'),
    ('SI-210', 'SI', 'Sveti Jurij v Slovenskih goricah', 'Municipality'),
    ('SI-211', 'SI', 'Šentrupert', 'Municipality'),
    ('SI-212', 'SI', 'Mirna', 'Municipality'),
    ('SI-213', 'SI', 'Ankaran', 'Municipality'),
    ('SK-BC', 'SK', 'Banskobystrický kraj', 'Region'),
    ('SK-BL', 'SK', 'Bratislavský kraj', 'Region'),
    ('SK-KI', 'SK', 'Košický kraj', 'Region'),
    ('SK-NI', 'SK', 'Nitriansky kraj', 'Region'),
    ('SK-PV', 'SK', 'Prešovský kraj', 'Region'),
    ('SK-TA', 'SK', 'Trnavský kraj', 'Region'),
    ('SK-TC', 'SK', 'Trenčiansky kraj', 'Region'),
    ('SK-ZI', 'SK', 'Žilinský kraj', 'Region'),
    ('SL-E', 'SL', 'Eastern', 'Province'),
    ('SL-N', 'SL', 'Northern', 'Province'),
    ('SL-NW', 'SL', 'North Western', 'Province'),
    ('SL-S', 'SL', 'Southern', 'Province'),
    ('SL-W', 'SL', 'Western Area (Freetown)', 'Area'),
    ('SM-01', 'SM', 'Acquaviva', 'Municipality'),
    ('SM-02', 'SM', 'Chiesanuova', 'Municipality'),
    ('SM-03', 'SM', 'Domagnano', 'Municipality'),
    ('SM-04', 'SM', 'Faetano', 'Municipality'),
    ('SM-05', 'SM', 'Fiorentino', 'Municipality'),
    ('SM-06', 'SM', 'Borgo Maggiore', 'Municipality'),
    ('SM-07', 'SM', 'Città di San Marino', 'Municipality'),
    ('SM-08', 'SM', 'Montegiardino', 'Municipality'),
    ('SM-09', 'SM', 'Serravalle', 'Municipality'),
    ('SN-DB', 'SN', 'Diourbel', 'Region'),
    ('SN-DK', 'SN', 'Dakar', 'Region'),
    ('SN-FK', 'SN', 'Fatick', 'Region'),
    ('SN-KA', 'SN', 'Kaffrine', 'Region'),
    ('SN-KD', 'SN', 'Kolda', 'Region'),
    ('SN-KE', 'SN', 'Kédougou', 'Region'),
    ('SN-KL', 'SN', 'Kaolack', 'Region'),
    ('SN-LG', 'SN', 'Louga', 'Region'),
    ('SN-MT', 'SN', 'Matam', 'Region'),
    ('SN-SE', 'SN', 'Sédhiou', 'Region'),
    ('SN-SL', 'SN', 'Saint-Louis', 'Region'),
    ('SN-TC', 'SN', 'Tambacounda', 'Region'),
    ('SN-TH', 'SN', 'Thiès', 'Region'),
    ('SN-ZG', 'SN', 'Ziguinchor', 'Region'),
    ('SO-AW', 'SO', 'Awdal', 'Region'),
    ('SO-BK', 'SO', 'Bakool', 'Region'),
    ('SO-BN', 'SO', 'Banaadir', 'Region'),
    ('SO-BR', 'SO', 'Bari', 'Region'),
    ('SO-BY', 'SO', 'Bay', 'Region'),
    ('SO-GA', 'SO', 'Galguduud', 'Region'),
    ('SO-GE', 'SO', 'Gedo', 'Region'),
    ('SO-HI', 'SO', 'Hiiraan', 'Region'),
    ('SO-JD', 'SO', 'Jubbada Dhexe', 'Region'),
    ('SO-JH', 'SO', 'Jubbada Hoose', 'Region'),
    ('SO-MU', 'SO', 'Mudug', 'Region'),
    ('SO-NU', 'SO', 'Nugaal', 'Region'),
    ('SO-SA', 'SO', 'Sanaag', 'Region'),
    ('SO-SD', 'SO', 'Shabeellaha Dhexe', 'Region'),
    ('SO-SH', 'SO', 'Shabeellaha Hoose', 'Region'),
    ('SO-SO', 'SO', 'Sool', 'Region'),
    ('SO-TO', 'SO', 'Togdheer', 'Region'),
    ('SO-WO', 'SO', 'Woqooyi Galbeed', 'Region'),
    ('SR-BR', 'SR', 'Brokopondo', 'District'),
    ('SR-CM', 'SR', 'Commewijne', 'District'),
    ('SR-CR', 'SR', 'Coronie', 'District'),
    ('SR-MA', 'SR', 'Marowijne', 'District'),
    ('SR-NI', 'SR', 'Nickerie', 'District'),
    ('SR-PM', 'SR', 'Paramaribo', 'District'),
    ('SR-PR', 'SR', 'Para', 'District'),
    ('SR-SA', 'SR', 'Saramacca', 'District'),
    ('SR-SI', 'SR', 'Sipaliwini', 'District'),
    ('SR-WA', 'SR', 'Wanica', 'District'),
    ('SS-BN', 'SS', 'Northern Bahr el Ghazal', 'State'),
    ('SS-BW', 'SS', 'Western Bahr el Ghazal', 'State'),
    ('SS-EC', 'SS', 'Central Equatoria', 'State'),
    ('SS-EE', 'SS', 'Eastern Equatoria', 'State'),
    ('SS-EW', 'SS', 'Western Equatoria', 'State'),
    ('SS-JG', 'SS', 'Jonglei', 'State'),
    ('SS-LK', 'SS', 'Lakes', 'State'),
    ('SS-NU', 'SS', 'Upper Nile', 'State'),
    ('SS-UY', 'SS', 'Unity', 'State'),
    ('SS-WR', 'SS', 'Warrap', 'State'),
    ('ST-01', 'ST', 'Água Grande', 'District'),
    ('ST-02', 'ST', 'Cantagalo', 'District'),
    ('ST-03', 'ST', 'Caué', 'District'),
    ('ST-04', 'ST', 'Lembá', 'District'),
    ('ST-05', 'ST', 'Lobata', 'District'),
    ('ST-06', 'ST', 'Mé-Zóchi', 'District'),
    ('ST-P', 'ST', 'Príncipe', 'Autonomous region'),
    ('SV-AH', 'SV', 'Ahuachapán', 'Department'),
    ('SV-CA', 'SV', 'Cabañas', 'Department'),
    ('SV-CH', 'SV', 'Chalatenango', 'Department'),
    ('SV-CU', 'SV', 'Cuscatlán', 'Department'),
    ('SV-LI', 'SV', 'La Libertad', 'Department'),
    ('SV-MO', 'SV', 'Morazán', 'Department'),
    ('SV-PA', 'SV', 'La Paz', 'Department'),
    ('SV-SA', 'SV', 'Santa Ana', 'Department'),
    ('SV-SM', 'SV', 'San Miguel', 'Department'),
    ('SV-SO', 'SV', 'Sonsonate', 'Department'),
    ('SV-SS', 'SV', 'San Salvador', 'Department'),
    ('SV-SV', 'SV', 'San Vicente', 'Department'),
    ('SV-UN', 'SV', 'La Unión', 'Department'),
    ('SV-US', 'SV', 'Usulután', 'Department'),
    ('SY-DI', 'SY', 'Dimashq', 'Province'),
    ('SY-DR', 'SY', 'Dar''ā', 'Province'),
    ('SY-DY', 'SY', 'Dayr az Zawr', 'Province'),
    ('SY-HA', 'SY', 'Al Ḩasakah', 'Province'),
    ('SY-HI', 'SY', 'Ḩimş', 'Province'),
    ('SY-HL', 'SY', 'Ḩalab', 'Province'),
    ('SY-HM', 'SY', 'Ḩamāh', 'Province'),
    ('SY-ID', 'SY', 'Idlib', 'Province'),
    ('SY-LA', 'SY', 'Al Lādhiqīyah', 'Province'),
    ('SY-QU', 'SY', 'Al Qunayţirah', 'Province'),
    ('SY-RA', 'SY', 'Ar Raqqah', 'Province'),
    ('SY-RD', 'SY', 'Rīf Dimashq', 'Province'),
    ('SY-SU', 'SY', 'As Suwaydā''', 'Province'),
    ('SY-TA', 'SY', 'Ţarţūs', 'Province'),
    ('SZ-HH', 'SZ', 'Hhohho', 'Region'),
    ('SZ-LU', 'SZ', 'Lubombo', 'Region'),
    ('SZ-MA', 'SZ', 'Manzini', 'Region'),
    ('SZ-SH', 'SZ', 'Shiselweni', 'Region'),
    ('TD-BA', 'TD', 'Al Baţḩā’', 'Province'),
    ('TD-BG', 'TD', 'Bahr el Ghazal', 'Province'),
    ('TD-BO', 'TD', 'Borkou', 'Province'),
    ('TD-CB', 'TD', 'Chari-Baguirmi', 'Province'),
    ('TD-EE', 'TD', 'Ennedi-Est', 'Province'),
    ('TD-EO', 'TD', 'Ennedi-Ouest', 'Province'),
    ('TD-GR', 'TD', 'Guéra', 'Province'),
    ('TD-HL', 'TD', 'Hadjer Lamis', 'Province'),
    ('TD-KA', 'TD', 'Kanem', 'Province'),
    ('TD-LC', 'TD', 'Al Buḩayrah', 'Province'),
    ('TD-LO', 'TD', 'Logone-Occidental', 'Province'),
    ('TD-LR', 'TD', 'Logone-Oriental', 'Province'),
    ('TD-MA', 'TD', 'Mandoul', 'Province'),
    ('TD-MC', 'TD', 'Moyen-Chari', 'Province'),
    ('TD-ME', 'TD', 'Mayo-Kebbi-Est', 'Province'),
    ('TD-MO', 'TD', 'Mayo-Kebbi-Ouest', 'Province'),
    ('TD-ND', 'TD', 'Madīnat Injamīnā', 'Province'),
    ('TD-OD', 'TD', 'Ouaddaï', 'Province'),
    ('TD-SA', 'TD', 'Salamat', 'Province'),
    ('TD-SI', 'TD', 'Sila', 'Province'),
    ('TD-TA', 'TD', 'Tandjilé', 'Province'),
    ('TD-TI', 'TD', 'Tibastī', 'Province'),
    ('TD-WF', 'TD', 'Wadi Fira', 'Province'),
    ('TG-C', 'TG', 'Centrale', 'Region'),
    ('TG-K', 'TG', 'Kara', 'Region'),
    ('TG-M', 'TG', 'Maritime (Région)', 'Region'),
    ('TG-P', 'TG', 'Plateaux', 'Region'),
    ('TG-S', 'TG', 'Savanes', 'Region'),
    ('TH-10', 'TH', 'Krung Thep Maha Nakhon', 'Metropolitan administration'),
    ('TH-11', 'TH', 'Samut Prakan', 'Province'),
    ('TH-12', 'TH', 'Nonthaburi', 'Province'),
    ('TH-13', 'TH', 'Pathum Thani', 'Province'),
    ('TH-14', 'TH', 'Phra Nakhon Si Ayutthaya', 'Province'),
    ('TH-15', 'TH', 'Ang Thong', 'Province'),
    ('TH-16', 'TH', 'Lop Buri', 'Province'),
    ('TH-17', 'TH', 'Sing Buri', 'Province'),
    ('TH-18', 'TH', 'Chai Nat', 'Province'),
    ('TH-19', 'TH', 'Saraburi', 'Province'),
    ('TH-20', 'TH', 'Chon Buri', 'Province'),
    ('TH-21', 'TH', 'Rayong', 'Province'),
    ('TH-22', 'TH', 'Chanthaburi', 'Province'),
    ('TH-23', 'TH', 'Trat', 'Province'),
    ('TH-24', 'TH', 'Chachoengsao', 'Province'),
    ('TH-25', 'TH', 'Prachin Buri', 'Province'),
    ('TH-26', 'TH', 'Nakhon Nayok', 'Province'),
    ('TH-27', 'TH', 'Sa Kaeo', 'Province'),
    ('TH-30', 'TH', 'Nakhon Ratchasima', 'Province'),
    ('TH-31', 'TH', 'Buri Ram', 'Province'),
    ('TH-32', 'TH', 'Surin', 'Province'),
    ('TH-33', 'TH', 'Si Sa Ket', 'Province'),
    ('TH-34', 'TH', 'Ubon Ratchathani', 'Province'),
    ('TH-35', 'TH', 'Yasothon', 'Province'),
    ('TH-36', 'TH', 'Chaiyaphum', 'Province'),
    ('TH-37', 'TH', 'Amnat Charoen', 'Province'),
    ('TH-38', 'TH', 'Bueng Kan', 'Province'),
    ('TH-39', 'TH', 'Nong Bua Lam Phu', 'Province'),
    ('TH-40', 'TH', 'Khon Kaen', 'Province'),
    ('TH-41', 'TH', 'Udon Thani', 'Province'),
    ('TH-42', 'TH', 'Loei', 'Province'),
    ('TH-43', 'TH', 'Nong Khai', 'Province'),
    ('TH-44', 'TH', 'Maha Sarakham', 'Province'),
    ('TH-45', 'TH', 'Roi Et', 'Province'),
    ('TH-46', 'TH', 'Kalasin', 'Province'),
    ('TH-47', 'TH', 'Sakon Nakhon', 'Province'),
    ('TH-48', 'TH', 'Nakhon Phanom', 'Province'),
    ('TH-49', 'TH', 'Mukdahan', 'Province'),
    ('TH-50', 'TH', 'Chiang Mai', 'Province'),
    ('TH-51', 'TH', 'Lamphun', 'Province'),
    ('TH-52', 'TH', 'Lampang', 'Province'),
    ('TH-53', 'TH', 'Uttaradit', 'Province'),
    ('TH-54', 'TH', 'Phrae', 'Province'),
    ('TH-55', 'TH', 'Nan', 'Province'),
    ('TH-56', 'TH', 'Phayao', 'Province'),
    ('TH-57', 'TH', 'Chiang Rai', 'Province'),
    ('TH-58', 'TH', 'Mae Hong Son', 'Province'),
    ('TH-60', 'TH', 'Nakhon Sawan', 'Province'),
    ('TH-61', 'TH', 'Uthai Thani', 'Province'),
    ('TH-62', 'TH', 'Kamphaeng Phet', 'Province'),
    ('TH-63', 'TH', 'Tak', 'Province'),
    ('TH-64', 'TH', 'Sukhothai', 'Province'),
    ('TH-65', 'TH', 'Phitsanulok', 'Province'),
    ('TH-66', 'TH', 'Phichit', 'Province'),
    ('TH-67', 'TH', 'Phetchabun', 'Province'),
    ('TH-70', 'TH', 'Ratchaburi', 'Province'),
    ('TH-71', 'TH', 'Kanchanaburi', 'Province'),
    ('TH-72', 'TH', 'Suphan Buri', 'Province'),
    ('TH-73', 'TH', 'Nakhon Pathom', 'Province'),
    ('TH-74', 'TH', 'Samut Sakhon', 'Province'),
    ('TH-75', 'TH', 'Samut Songkhram', 'Province'),
    ('TH-76', 'TH', 'Phetchaburi', 'Province'),
    ('TH-77', 'TH', 'Prachuap Khiri Khan', 'Province'),
    ('TH-80', 'TH', 'Nakhon Si Thammarat', 'Province'),
    ('TH-81', 'TH', 'Krabi', 'Province'),
    ('TH-82', 'TH', 'Phangnga', 'Province'),
    ('TH-83', 'TH', 'Phuket', 'Province'),
    ('TH-84', 'TH', 'Surat Thani', 'Province'),
    ('TH-85', 'TH', 'Ranong', 'Province'),
    ('TH-86', 'TH', 'Chumphon', 'Province'),
    ('TH-90', 'TH', 'Songkhla', 'Province'),
    ('TH-91', 'TH', 'Satun', 'Province'),
    ('TH-92', 'TH', 'Trang', 'Province'),
    ('TH-93', 'TH', 'Phatthalung', 'Province'),
    ('TH-94', 'TH', 'Pattani', 'Province'),
    ('TH-95', 'TH', 'Yala', 'Province'),
    ('TH-96', 'TH', 'Narathiwat', 'Province'),
    ('TH-S', 'TH', 'Phatthaya', 'Special administrative city'),
    ('TJ-DU', 'TJ', 'Dushanbe', 'Capital territory'),
    ('TJ-GB', 'TJ', 'Kŭhistoni Badakhshon', 'Autonomous region'),
    ('TJ-KT', 'TJ', 'Khatlon', 'Region'),
    ('TJ-RA', 'TJ', 'nohiyahoi tobei jumhurí', 'Districts under republic administration'),
    ('TJ-SU', 'TJ', 'Sughd', 'Region'),
    ('TL-AL', 'TL', 'Aileu', 'Municipality'),
    ('TL-AN', 'TL', 'Ainaro', 'Municipality'),
    ('TL-BA', 'TL', 'Baucau', 'Municipality'),
    ('TL-BO', 'TL', 'Bobonaro', 'Municipality'),
    ('TL-CO', 'TL', 'Cova Lima', 'Municipality'),
    ('TL-DI', 'TL', 'Díli', 'Municipality'),
    ('TL-ER', 'TL', 'Ermera', 'Municipality'),
    ('TL-LA', 'TL', 'Lautein', 'Municipality'),
    ('TL-LI', 'TL', 'Likisá', 'Municipality'),
    ('TL-MF', 'TL', 'Manufahi', 'Municipality'),
    ('TL-MT', 'TL', 'Manatuto', 'Municipality'),
    ('TL-OE', 'TL', 'Oekusi-Ambenu', 'Special administrative region'),
    ('TL-VI', 'TL', 'Vikeke', 'Municipality'),
    ('TM-A', 'TM', 'Ahal', 'Region'),
    ('TM-B', 'TM', 'Balkan', 'Region'),
    ('TM-D', 'TM', 'Daşoguz', 'Region'),
    ('TM-L', 'TM', 'Lebap', 'Region'),
    ('TM-M', 'TM', 'Mary', 'Region'),
    ('TM-S', 'TM', 'Aşgabat', 'City'),
    ('TN-11', 'TN', 'Tunis', 'Governorate'),
    ('TN-12', 'TN', 'L''Ariana', 'Governorate'),
    ('TN-13', 'TN', 'Ben Arous', 'Governorate'),
    ('TN-14', 'TN', 'La Manouba', 'Governorate'),
    ('TN-21', 'TN', 'Nabeul', 'Governorate'),
    ('TN-22', 'TN', 'Zaghouan', 'Governorate'),
    ('TN-23', 'TN', 'Bizerte', 'Governorate'),
    ('TN-31', 'TN', 'Béja', 'Governorate'),
    ('TN-32', 'TN', 'Jendouba', 'Governorate'),
    ('TN-33', 'TN', 'Le Kef', 'Governorate'),
    ('TN-34', 'TN', 'Siliana', 'Governorate'),
    ('TN-41', 'TN', 'Kairouan', 'Governorate'),
    ('TN-42', 'TN', 'Kasserine', 'Governorate'),
    ('TN-43', 'TN', 'Sidi Bouzid', 'Governorate'),
    ('TN-51', 'TN', 'Sousse', 'Governorate'),
    ('TN-52', 'TN', 'Monastir', 'Governorate'),
    ('TN-53', 'TN', 'Mahdia', 'Governorate'),
    ('TN-61', 'TN', 'Sfax', 'Governorate'),
    ('TN-71', 'TN', 'Gafsa', 'Governorate'),
    ('TN-72', 'TN', 'Tozeur', 'Governorate'),
    ('TN-73', 'TN', 'Kébili', 'Governorate'),
    ('TN-81', 'TN', 'Gabès', 'Governorate'),
    ('TN-82', 'TN', 'Médenine', 'Governorate'),
    ('TN-83', 'TN', 'Tataouine', 'Governorate'),
    ('TO-01', 'TO', '''Eua', 'Division'),
    ('TO-02', 'TO', 'Ha''apai', 'Division'),
    ('TO-03', 'TO', 'Niuas', 'Division'),
    ('TO-04', 'TO', 'Tongatapu', 'Division'),
    ('TO-05', 'TO', 'Vava''u', 'Division'),
    ('TR-01', 'TR', 'Adana', 'Province'),
    ('TR-02', 'TR', 'Adıyaman', 'Province'),
    ('TR-03', 'TR', 'Afyonkarahisar', 'Province'),
    ('TR-04', 'TR', 'Ağrı', 'Province'),
    ('TR-05', 'TR', 'Amasya', 'Province'),
    ('TR-06', 'TR', 'Ankara', 'Province'),
    ('TR-07', 'TR', 'Antalya', 'Province'),
    ('TR-08', 'TR', 'Artvin', 'Province'),
    ('TR-09', 'TR', 'Aydın', 'Province'),
    ('TR-10', 'TR', 'Balıkesir', 'Province'),
    ('TR-11', 'TR', 'Bilecik', 'Province'),
    ('TR-12', 'TR', 'Bingöl', 'Province'),
    ('TR-13', 'TR', 'Bitlis', 'Province'),
    ('TR-14', 'TR', 'Bolu', 'Province'),
    ('TR-15', 'TR', 'Burdur', 'Province'),
    ('TR-16', 'TR', 'Bursa', 'Province'),
    ('TR-17', 'TR', 'Çanakkale', 'Province'),
    ('TR-18', 'TR', 'Çankırı', 'Province'),
    ('TR-19', 'TR', 'Çorum', 'Province'),
    ('TR-20', 'TR', 'Denizli', 'Province'),
    ('TR-21', 'TR', 'Diyarbakır', 'Province'),
    ('TR-22', 'TR', 'Edirne', 'Province'),
    ('TR-23', 'TR', 'Elazığ', 'Province'),
    ('TR-24', 'TR', 'Erzincan', 'Province'),
    ('TR-25', 'TR', 'Erzurum', 'Province'),
    ('TR-26', 'TR', 'Eskişehir', 'Province'),
    ('TR-27', 'TR', 'Gaziantep', 'Province'),
    ('TR-28', 'TR', 'Giresun', 'Province'),
    ('TR-29', 'TR', 'Gümüşhane', 'Province'),
    ('TR-30', 'TR', 'Hakkâri', 'Province'),
    ('TR-31', 'TR', 'Hatay', 'Province'),
    ('TR-32', 'TR', 'Isparta', 'Province'),
    ('TR-33', 'TR', 'Mersin', 'Province'),
    ('TR-34', 'TR', 'İstanbul', 'Province'),
    ('TR-35', 'TR', 'İzmir', 'Province'),
    ('TR-36', 'TR', 'Kars', 'Province'),
    ('TR-37', 'TR', 'Kastamonu', 'Province'),
    ('TR-38', 'TR', 'Kayseri', 'Province'),
    ('TR-39', 'TR', 'Kırklareli', 'Province'),
    ('TR-40', 'TR', 'Kırşehir', 'Province'),
    ('TR-41', 'TR', 'Kocaeli', 'Province'),
    ('TR-42', 'TR', 'Konya', 'Province'),
    ('TR-43', 'TR', 'Kütahya', 'Province'),
    ('TR-44', 'TR', 'Malatya', 'Province'),
    ('TR-45', 'TR', 'Manisa', 'Province'),
    ('TR-46', 'TR', 'Kahramanmaraş', 'Province'),
    ('TR-47', 'TR', 'Mardin', 'Province'),
    ('TR-48', 'TR', 'Muğla', 'Province'),
    ('TR-49', 'TR', 'Muş', 'Province'),
    ('TR-50', 'TR', 'Nevşehir', 'Province'),
    ('TR-51', 'TR', 'Niğde', 'Province'),
    ('TR-52', 'TR', 'Ordu', 'Province'),
    ('TR-53', 'TR', 'Rize', 'Province'),
    ('TR-54', 'TR', 'Sakarya', 'Province'),
    ('TR-55', 'TR', 'Samsun', 'Province'),
    ('TR-56', 'TR', 'Siirt', 'Province'),
    ('TR-57', 'TR', 'Sinop', 'Province'),
    ('TR-58', 'TR', 'Sivas', 'Province'),
    ('TR-59', 'TR', 'Tekirdağ', 'Province'),
    ('TR-60', 'TR', 'Tokat', 'Province'),
    ('TR-61', 'TR', 'Trabzon', 'Province'),
    ('TR-62', 'TR', 'Tunceli', 'Province'),
    ('TR-63', 'TR', 'Şanlıurfa', 'Province'),
    ('TR-64', 'TR', 'Uşak', 'Province'),
    ('TR-65', 'TR', 'Van', 'Province'),
    ('TR-66', 'TR', 'Yozgat', 'Province'),
    ('TR-67', 'TR', 'Zonguldak', 'Province'),
    ('TR-68', 'TR', 'Aksaray', 'Province'),
    ('TR-69', 'TR', 'Bayburt', 'Province'),
    ('TR-70', 'TR', 'Karaman', 'Province'),
    ('TR-71', 'TR', 'Kırıkkale', 'Province'),
    ('TR-72', 'TR', 'Batman', 'Province'),
    ('TR-73', 'TR', 'Şırnak', 'Province'),
    ('TR-74', 'TR', 'Bartın', 'Province'),
    ('TR-75', 'TR', 'Ardahan', 'Province'),
    ('TR-76', 'TR', 'Iğdır', 'Province'),
    ('TR-77', 'TR', 'Yalova', 'Province'),
    ('TR-78', 'TR', 'Karabük', 'Province'),
    ('TR-79', 'TR', 'Kilis', 'Province'),
    ('TR-80', 'TR', 'Osmaniye', 'Province'),
    ('TR-81', 'TR', 'Düzce', 'Province'),
    ('TT-ARI', 'TT', 'Arima', 'Borough'),
    ('TT-CHA', 'TT', 'Chaguanas', 'Borough'),
    ('TT-CTT', 'TT', 'Couva-Tabaquite-Talparo', 'Region'),
    ('TT-DMN', 'TT', 'Diego Martin', 'Region'),
    ('TT-MRC', 'TT', 'Mayaro-Rio Claro', 'Region'),
    ('TT-PED', 'TT', 'Penal-Debe', 'Region'),
    ('TT-POS', 'TT', 'Port of Spain', 'City'),
    ('TT-PRT', 'TT', 'Princes Town', 'Region'),
    ('TT-PTF', 'TT', 'Point Fortin', 'Borough'),
    ('TT-SFO', 'TT', 'San Fernando', 'City'),
    ('TT-SGE', 'TT', 'Sangre Grande', 'Region'),
    ('TT-SIP', 'TT', 'Siparia', 'Region'),
    ('TT-SJL', 'TT', 'San Juan-Laventille', 'Region'),
    ('TT-TOB', 'TT', 'Tobago', 'Ward'),
    ('TT-TUP', 'TT', 'Tunapuna-Piarco', 'Region'),
    ('TV-FUN', 'TV', 'Funafuti', 'Town council'),
    ('TV-NIT', 'TV', 'Niutao', 'Island council'),
    ('TV-NKF', 'TV', 'Nukufetau', 'Island council'),
    ('TV-NKL', 'TV', 'Nukulaelae', 'Island council'),
    ('TV-NMA', 'TV', 'Nanumea', 'Island council'),
    ('TV-NMG', 'TV', 'Nanumaga', 'Island council'),
    ('TV-NUI', 'TV', 'Nui', 'Island council'),
    ('TV-VAI', 'TV', 'Vaitupu', 'Island council'),
    ('TW-CHA', 'TW', 'Changhua', 'County'),
    ('TW-CYI', 'TW', 'Chiayi', 'City'),
    ('TW-CYQ', 'TW', 'Chiayi', 'County'),
    ('TW-HSQ', 'TW', 'Hsinchu', 'County'),
    ('TW-HSZ', 'TW', 'Hsinchu', 'City'),
    ('TW-HUA', 'TW', 'Hualien', 'County'),
    ('TW-ILA', 'TW', 'Yilan', 'County'),
    ('TW-KEE', 'TW', 'Keelung', 'City'),
    ('TW-KHH', 'TW', 'Kaohsiung', 'Special municipality'),
    ('TW-KIN', 'TW', 'Kinmen', 'County'),
    ('TW-LIE', 'TW', 'Lienchiang', 'County'),
    ('TW-MIA', 'TW', 'Miaoli', 'County'),
    ('TW-NAN', 'TW', 'Nantou', 'County'),
    ('TW-NWT', 'TW', 'New Taipei', 'Special municipality'),
    ('TW-PEN', 'TW', 'Penghu', 'County'),
    ('TW-PIF', 'TW', 'Pingtung', 'County'),
    ('TW-TAO', 'TW', 'Taoyuan', 'Special municipality'),
    ('TW-TNN', 'TW', 'Tainan', 'Special municipality'),
    ('TW-TPE', 'TW', 'Taipei', 'Special municipality'),
    ('TW-TTT', 'TW', 'Taitung', 'County'),
    ('TW-TXG', 'TW', 'Taichung', 'Special municipality'),
    ('TW-YUN', 'TW', 'Yunlin', 'County'),
    ('TZ-01', 'TZ', 'Arusha', 'Region'),
    ('TZ-02', 'TZ', 'Dar es Salaam', 'Region'),
    ('TZ-03', 'TZ', 'Dodoma', 'Region'),
    ('TZ-04', 'TZ', 'Iringa', 'Region'),
    ('TZ-05', 'TZ', 'Kagera', 'Region'),
    ('TZ-06', 'TZ', 'Pemba North', 'Region'),
    ('TZ-07', 'TZ', 'Zanzibar North', 'Region'),
    ('TZ-08', 'TZ', 'Kigoma', 'Region'),
    ('TZ-09', 'TZ', 'Kilimanjaro', 'Region'),
    ('TZ-10', 'TZ', 'Pemba South', 'Region'),
    ('TZ-11', 'TZ', 'Zanzibar South', 'Region'),
    ('TZ-12', 'TZ', 'Lindi', 'Region'),
    ('TZ-13', 'TZ', 'Mara', 'Region'),
    ('TZ-14', 'TZ', 'Mbeya', 'Region'),
    ('TZ-15', 'TZ', 'Zanzibar West', 'Region'),
    ('TZ-16', 'TZ', 'Morogoro', 'Region'),
    ('TZ-17', 'TZ', 'Mtwara', 'Region'),
    ('TZ-18', 'TZ', 'Mwanza', 'Region'),
    ('TZ-19', 'TZ', 'Coast', 'Region'),
    ('TZ-20', 'TZ', 'Rukwa', 'Region'),
    ('TZ-21', 'TZ', 'Ruvuma', 'Region'),
    ('TZ-22', 'TZ', 'Shinyanga', 'Region'),
    ('TZ-23', 'TZ', 'Singida', 'Region'),
    ('TZ-24', 'TZ', 'Tabora', 'Region'),
    ('TZ-25', 'TZ', 'Tanga', 'Region'),
    ('TZ-26', 'TZ', 'Manyara', 'Region'),
    ('TZ-27', 'TZ', 'Geita', 'Region'),
    ('TZ-28', 'TZ', 'Katavi', 'Region'),
    ('TZ-29', 'TZ', 'Njombe', 'Region'),
    ('TZ-30', 'TZ', 'Simiyu', 'Region'),
    ('TZ-31', 'TZ', 'Songwe', 'Region'),
    ('UA-05', 'UA', 'Vinnytska oblast', 'Region'),
    ('UA-07', 'UA', 'Volynska oblast', 'Region'),
    ('UA-09', 'UA', 'Luhanska oblast', 'Region'),
    ('UA-12', 'UA', 'Dnipropetrovska oblast', 'Region'),
    ('UA-14', 'UA', 'Donetska oblast', 'Region'),
    ('UA-18', 'UA', 'Zhytomyrska oblast', 'Region'),
    ('UA-21', 'UA', 'Zakarpatska oblast', 'Region'),
    ('UA-23', 'UA', 'Zaporizka oblast', 'Region'),
    ('UA-26', 'UA', 'Ivano-Frankivska oblast', 'Region'),
    ('UA-30', 'UA', 'Kyiv', 'City'),
    ('UA-32', 'UA', 'Kyivska oblast', 'Region'),
    ('UA-35', 'UA', 'Kirovohradska oblast', 'Region'),
    ('UA-40', 'UA', 'Sevastopol', 'City'),
    ('UA-43', 'UA', 'Avtonomna Respublika Krym', 'Republic'),
    ('UA-46', 'UA', 'Lvivska oblast', 'Region'),
    ('UA-48', 'UA', 'Mykolaivska oblast', 'Region'),
    ('UA-51', 'UA', 'Odeska oblast', 'Region'),
    ('UA-53', 'UA', 'Poltavska oblast', 'Region'),
    ('UA-56', 'UA', 'Rivnenska oblast', 'Region'),
    ('UA-59', 'UA', 'Sumska oblast', 'Region'),
    ('UA-61', 'UA', 'Ternopilska oblast', 'Region'),
    ('UA-63', 'UA', 'Kharkivska oblast', 'Region'),
    ('UA-65', 'UA', 'Khersonska oblast', 'Region'),
    ('UA-68', 'UA', 'Khmelnytska oblast', 'Region'),
    ('UA-71', 'UA', 'Cherkaska oblast', 'Region'),
    ('UA-74', 'UA', 'Chernihivska oblast', 'Region'),
    ('UA-77', 'UA', 'Chernivetska oblast', 'Region'),
    ('UG-101', 'UG', 'Kalangala', 'District'),
    ('UG-102', 'UG', 'Kampala', 'City'),
    ('UG-103', 'UG', 'Kiboga', 'District'),
    ('UG-104', 'UG', 'Luwero', 'District'),
    ('UG-105', 'UG', 'Masaka', 'District'),
    ('UG-106', 'UG', 'Mpigi', 'District'),
    ('UG-107', 'UG', 'Mubende', 'District'),
    ('UG-108', 'UG', 'Mukono', 'District'),
    ('UG-109', 'UG', 'Nakasongola', 'District'),
    ('UG-110', 'UG', 'Rakai', 'District'),
    ('UG-111', 'UG', 'Sembabule', 'District'),
    ('UG-112', 'UG', 'Kayunga', 'District'),
    ('UG-113', 'UG', 'Wakiso', 'District'),
    ('UG-114', 'UG', 'Lyantonde', 'District'),
    ('UG-115', 'UG', 'Mityana', 'District'),
    ('UG-116', 'UG', 'Nakaseke', 'District'),
    ('UG-117', 'UG', 'Buikwe', 'District'),
    ('UG-118', 'UG', 'Bukomansibi', 'District'),
    ('UG-119', 'UG', 'Butambala', 'District'),
    ('UG-120', 'UG', 'Buvuma', 'District'),
    ('UG-121', 'UG', 'Gomba', 'District'),
    ('UG-122', 'UG', 'Kalungu', 'District'),
    ('UG-123', 'UG', 'Kyankwanzi', 'District'),
    ('UG-124', 'UG', 'Lwengo', 'District'),
    ('UG-125', 'UG', 'Kyotera', 'District'),
    ('UG-126', 'UG', 'Kasanda', 'District'),
    ('UG-201', 'UG', 'Bugiri', 'District'),
    ('UG-202', 'UG', 'Busia', 'District'),
    ('UG-203', 'UG', 'Iganga', 'District'),
    ('UG-204', 'UG', 'Jinja', 'District'),
    ('UG-205', 'UG', 'Kamuli', 'District'),
    ('UG-206', 'UG', 'Kapchorwa', 'District'),
    ('UG-207', 'UG', 'Katakwi', 'District'),
    ('UG-208', 'UG', 'Kumi', 'District'),
    ('UG-209', 'UG', 'Mbale', 'District'),
    ('UG-210', 'UG', 'Pallisa', 'District'),
    ('UG-211', 'UG', 'Soroti', 'District'),
    ('UG-212', 'UG', 'Tororo', 'District'),
    ('UG-213', 'UG', 'Kaberamaido', 'District'),
    ('UG-214', 'UG', 'Mayuge', 'District'),
    ('UG-215', 'UG', 'Sironko', 'District'),
    ('UG-216', 'UG', 'Amuria', 'District'),
    ('UG-217', 'UG', 'Budaka', 'District'),
    ('UG-218', 'UG', 'Bududa', 'District'),
    ('UG-219', 'UG', 'Bukedea', 'District'),
    ('UG-220', 'UG', 'Bukwo', 'District'),
    ('UG-221', 'UG', 'Butaleja', 'District'),
    ('UG-222', 'UG', 'Kaliro', 'District'),
    ('UG-223', 'UG', 'Manafwa', 'District'),
    ('UG-224', 'UG', 'Namutumba', 'District'),
    ('UG-225', 'UG', 'Bulambuli', 'District'),
    ('UG-226', 'UG', 'Buyende', 'District'),
    ('UG-227', 'UG', 'Kibuku', 'District'),
    ('UG-228', 'UG', 'Kween', 'District'),
    ('UG-229', 'UG', 'Luuka', 'District'),
    ('UG-230', 'UG', 'Namayingo', 'District'),
    ('UG-231', 'UG', 'Ngora', 'District'),
    ('UG-232', 'UG', 'Serere', 'District'),
    ('UG-233', 'UG', 'Butebo', 'District'),
    ('UG-234', 'UG', 'Namisindwa', 'District'),
    ('UG-235', 'UG', 'Bugweri', 'District'),
    ('UG-236', 'UG', 'Kapelebyong', 'District'),
    ('UG-237', 'UG', 'Kalaki', 'District'),
    ('UG-301', 'UG', 'Adjumani', 'District'),
    ('UG-302', 'UG', 'Apac', 'District'),
    ('UG-303', 'UG', 'Arua', 'District'),
    ('UG-304', 'UG', 'Gulu', 'District'),
    ('UG-305', 'UG', 'Kitgum', 'District'),
    ('UG-306', 'UG', 'Kotido', 'District'),
    ('UG-307', 'UG', 'Lira', 'District'),
    ('UG-308', 'UG', 'Moroto', 'District'),
    ('UG-309', 'UG', 'Moyo', 'District'),
    ('UG-310', 'UG', 'Nebbi', 'District'),
    ('UG-311', 'UG', 'Nakapiripirit', 'District'),
    ('UG-312', 'UG', 'Pader', 'District'),
    ('UG-313', 'UG', 'Yumbe', 'District'),
    ('UG-314', 'UG', 'Abim', 'District'),
    ('UG-315', 'UG', 'Amolatar', 'District'),
    ('UG-316', 'UG', 'Amuru', 'District'),
    ('UG-317', 'UG', 'Dokolo', 'District'),
    ('UG-318', 'UG', 'Kaabong', 'District'),
    ('UG-319', 'UG', 'Koboko', 'District'),
    ('UG-320', 'UG', 'Maracha', 'District'),
    ('UG-321', 'UG', 'Oyam', 'District'),
    ('UG-322', 'UG', 'Agago', 'District'),
    ('UG-323', 'UG', 'Alebtong', 'District'),
    ('UG-324', 'UG', 'Amudat', 'District'),
    ('UG-325', 'UG', 'Kole', 'District'),
    ('UG-326', 'UG', 'Lamwo', 'District'),
    ('UG-327', 'UG', 'Napak', 'District'),
    ('UG-328', 'UG', 'Nwoya', 'District'),
    ('UG-329', 'UG', 'Otuke', 'District'),
    ('UG-330', 'UG', 'Zombo', 'District'),
    ('UG-331', 'UG', 'Omoro', 'District'),
    ('UG-332', 'UG', 'Pakwach', 'District'),
    ('UG-333', 'UG', 'Kwania', 'District'),
    ('UG-334', 'UG', 'Nabilatuk', 'District'),
    ('UG-335', 'UG', 'Karenga', 'District'),
    ('UG-336', 'UG', 'Madi-Okollo', 'District'),
    ('UG-337', 'UG', 'Obongi', 'District'),
    ('UG-401', 'UG', 'Bundibugyo', 'District'),
    ('UG-402', 'UG', 'Bushenyi', 'District'),
    ('UG-403', 'UG', 'Hoima', 'District'),
    ('UG-404', 'UG', 'Kabale', 'District'),
    ('UG-405', 'UG', 'Kabarole', 'District'),
    ('UG-406', 'UG', 'Kasese', 'District'),
    ('UG-407', 'UG', 'Kibaale', 'District'),
    ('UG-408', 'UG', 'Kisoro', 'District'),
    ('UG-409', 'UG', 'Masindi', 'District'),
    ('UG-410', 'UG', 'Mbarara', 'District'),
    ('UG-411', 'UG', 'Ntungamo', 'District'),
    ('UG-412', 'UG', 'Rukungiri', 'District'),
    ('UG-413', 'UG', 'Kamwenge', 'District'),
    ('UG-414', 'UG', 'Kanungu', 'District'),
    ('UG-415', 'UG', 'Kyenjojo', 'District'),
    ('UG-416', 'UG', 'Buliisa', 'District'),
    ('UG-417', 'UG', 'Ibanda', 'District'),
    ('UG-418', 'UG', 'Isingiro', 'District'),
    ('UG-419', 'UG', 'Kiruhura', 'District'),
    ('UG-420', 'UG', 'Buhweju', 'District'),
    ('UG-421', 'UG', 'Kiryandongo', 'District'),
    ('UG-422', 'UG', 'Kyegegwa', 'District'),
    ('UG-423', 'UG', 'Mitooma', 'District'),
    ('UG-424', 'UG', 'Ntoroko', 'District'),
    ('UG-425', 'UG', 'Rubirizi', 'District'),
    ('UG-426', 'UG', 'Sheema', 'District'),
    ('UG-427', 'UG', 'Kagadi', 'District'),
    ('UG-428', 'UG', 'Kakumiro', 'District'),
    ('UG-429', 'UG', 'Rubanda', 'District'),
    ('UG-430', 'UG', 'Bunyangabu', 'District'),
    ('UG-431', 'UG', 'Rukiga', 'District'),
    ('UG-432', 'UG', 'Kikuube', 'District'),
    ('UG-433', 'UG', 'Kazo', 'District'),
    ('UG-434', 'UG', 'Kitagwenda', 'District'),
    ('UG-435', 'UG', 'Rwampara', 'District'),
    ('UG-C', 'UG', 'Central', 'Geographical region'),
    ('UG-E', 'UG', 'Eastern', 'Geographical region'),
    ('UG-N', 'UG', 'Northern', 'Geographical region'),
    ('UG-W', 'UG', 'Western', 'Geographical region'),
    ('UM-67', 'UM', 'Johnston Atoll', 'Islands, groups of islands'),
    ('UM-71', 'UM', 'Midway Islands', 'Islands, groups of islands'),
    ('UM-76', 'UM', 'Navassa Island', 'Islands, groups of islands'),
    ('UM-79', 'UM', 'Wake Island', 'Islands, groups of islands'),
    ('UM-81', 'UM', 'Baker Island', 'Islands, groups of islands'),
    ('UM-84', 'UM', 'Howland Island', 'Islands, groups of islands'),
    ('UM-86', 'UM', 'Jarvis Island', 'Islands, groups of islands'),
    ('UM-89', 'UM', 'Kingman Reef', 'Islands, groups of islands'),
    ('UM-95', 'UM', 'Palmyra Atoll', 'Islands, groups of islands'),
    ('US-AK', 'US', 'Alaska', 'State'),
    ('US-AL', 'US', 'Alabama', 'State'),
    ('US-AR', 'US', 'Arkansas', 'State'),
    ('US-AS', 'US', 'American Samoa', 'Outlying area'),
    ('US-AZ', 'US', 'Arizona', 'State'),
    ('US-CA', 'US', 'California', 'State'),
    ('US-CO', 'US', 'Colorado', 'State'),
    ('US-CT', 'US', 'Connecticut', 'State'),
    ('US-DC', 'US', 'District of Columbia', 'District'),
    ('US-DE', 'US', 'Delaware', 'State'),
    ('US-FL', 'US', 'Florida', 'State'),
    ('US-GA', 'US', 'Georgia', 'State'),
    ('US-GU', 'US', 'Guam', 'Outlying area'),
    ('US-HI', 'US', 'Hawaii', 'State'),
    ('US-IA', 'US', 'Iowa', 'State'),
    ('US-ID', 'US', 'Idaho', 'State'),
    ('US-IL', 'US', 'Illinois', 'State'),
    ('US-IN', 'US', 'Indiana', 'State'),
    ('US-KS', 'US', 'Kansas', 'State'),
    ('US-KY', 'US', 'Kentucky', 'State'),
    ('US-LA', 'US', 'Louisiana', 'State'),
    ('US-MA', 'US', 'Massachusetts', 'State'),
    ('US-MD', 'US', 'Maryland', 'State'),
    ('US-ME', 'US', 'Maine', 'State'),
    ('US-MI', 'US', 'Michigan', 'State'),
    ('US-MN', 'US', 'Minnesota', 'State'),
    ('US-MO', 'US', 'Missouri', 'State'),
    ('US-MP', 'US', 'Northern Mariana Islands', 'Outlying area'),
    ('US-MS', 'US', 'Mississippi', 'State'),
    ('US-MT', 'US', 'Montana', 'State'),
    ('US-NC', 'US', 'North Carolina', 'State'),
    ('US-ND', 'US', 'North Dakota', 'State'),
    ('US-NE', 'US', 'Nebraska', 'State'),
    ('US-NH', 'US', 'New Hampshire', 'State'),
    ('US-NJ', 'US', 'New Jersey', 'State'),
    ('US-NM', 'US', 'New Mexico', 'State'),
    ('US-NV', 'US', 'Nevada', 'State'),
    ('US-NY', 'US', 'New York', 'State'),
    ('US-OH', 'US', 'Ohio', 'State'),
    ('US-OK', 'US', 'Oklahoma', 'State'),
    ('US-OR', 'US', 'Oregon', 'State'),
    ('US-PA', 'US', 'Pennsylvania', 'State'),
    ('US-PR', 'US', 'Puerto Rico', 'Outlying area'),
    ('US-RI', 'US', 'Rhode Island', 'State'),
    ('US-SC', 'US', 'South Carolina', 'State'),
    ('US-SD', 'US', 'South Dakota', 'State'),
    ('US-TN', 'US', 'Tennessee', 'State'),
    ('US-TX', 'US', 'Texas', 'State'),
    ('US-UM', 'US', 'United States Minor Outlying Islands', 'Outlying area'),
    ('US-UT', 'US', 'Utah', 'State'),
    ('US-VA', 'US', 'Virginia', 'State'),
    ('US-VI', 'US', 'Virgin Islands, U.S.', 'Outlying area'),
    ('US-VT', 'US', 'Vermont', 'State'),
    ('US-WA', 'US', 'Washington', 'State'),
    ('US-WI', 'US', 'Wisconsin', 'State'),
    ('US-WV', 'US', 'West Virginia', 'State'),
    ('US-WY', 'US', 'Wyoming', 'State'),
    ('UY-AR', 'UY', 'Artigas', 'Department'),
    ('UY-CA', 'UY', 'Canelones', 'Department'),
    ('UY-CL', 'UY', 'Cerro Largo', 'Department'),
    ('UY-CO', 'UY', 'Colonia', 'Department'),
    ('UY-DU', 'UY', 'Durazno', 'Department'),
    ('UY-FD', 'UY', 'Florida', 'Department'),
    ('UY-FS', 'UY', 'Flores', 'Department'),
    ('UY-LA', 'UY', 'Lavalleja', 'Department'),
    ('UY-MA', 'UY', 'Maldonado', 'Department'),
    ('UY-MO', 'UY', 'Montevideo', 'Department'),
    ('UY-PA', 'UY', 'Paysandú', 'Department'),
    ('UY-RN', 'UY', 'Río Negro', 'Department'),
    ('UY-RO', 'UY', 'Rocha', 'Department'),
    ('UY-RV', 'UY', 'Rivera', 'Department'),
    ('UY-SA', 'UY', 'Salto', 'Department'),
    ('UY-SJ', 'UY', 'San José', 'Department'),
    ('UY-SO', 'UY', 'Soriano', 'Department'),
    ('UY-TA', 'UY', 'Tacuarembó', 'Department'),
    ('UY-TT', 'UY', 'Treinta y Tres', 'Department'),
    ('UZ-AN', 'UZ', 'Andijon', 'Region'),
    ('UZ-BU', 'UZ', 'Buxoro', 'Region'),
    ('UZ-FA', 'UZ', 'Farg‘ona', 'Region'),
    ('UZ-JI', 'UZ', 'Jizzax', 'Region'),
    ('UZ-NG', 'UZ', 'Namangan', 'Region'),
    ('UZ-NW', 'UZ', 'Navoiy', 'Region'),
    ('UZ-QA', 'UZ', 'Qashqadaryo', 'Region'),
    ('UZ-QR', 'UZ', 'Qoraqalpog‘iston Respublikasi', 'Republic'),
    ('UZ-SA', 'UZ', 'Samarqand', 'Region'),
    ('UZ-SI', 'UZ', 'Sirdaryo', 'Region'),
    ('UZ-SU', 'UZ', 'Surxondaryo', 'Region'),
    ('UZ-TK', 'UZ', 'Toshkent', 'City'),
    ('UZ-TO', 'UZ', 'Toshkent', 'Region'),
    ('UZ-XO', 'UZ', 'Xorazm', 'Region'),
    ('VC-01', 'VC', 'Charlotte', 'Parish'),
    ('VC-02', 'VC', 'Saint Andrew', 'Parish'),
    ('VC-03', 'VC', 'Saint David', 'Parish'),
    ('VC-04', 'VC', 'Saint George', 'Parish'),
    ('VC-05', 'VC', 'Saint Patrick', 'Parish'),
    ('VC-06', 'VC', 'Grenadines', 'Parish'),
    ('VE-A', 'VE', 'Distrito Capital', 'Capital district'),
    ('VE-B', 'VE', 'Anzoátegui', 'State'),
    ('VE-C', 'VE', 'Apure', 'State'),
    ('VE-D', 'VE', 'Aragua', 'State'),
    ('VE-E', 'VE', 'Barinas', 'State'),
    ('VE-F', 'VE', 'Bolívar', 'State'),
    ('VE-G', 'VE', 'Carabobo', 'State'),
    ('VE-H', 'VE', 'Cojedes', 'State'),
    ('VE-I', 'VE', 'Falcón', 'State'),
    ('VE-J', 'VE', 'Guárico', 'State'),
    ('VE-K', 'VE', 'Lara', 'State'),
    ('VE-L', 'VE', 'Mérida', 'State'),
    ('VE-M', 'VE', 'Miranda', 'State'),
    ('VE-N', 'VE', 'Monagas', 'State'),
    ('VE-O', 'VE', 'Nueva Esparta', 'State'),
    ('VE-P', 'VE', 'Portuguesa', 'State'),
    ('VE-R', 'VE', 'Sucre', 'State'),
    ('VE-S', 'VE', 'Táchira', 'State'),
    ('VE-T', 'VE', 'Trujillo', 'State'),
    ('VE-U', 'VE', 'Yaracuy', 'State'),
    ('VE-V', 'VE', 'Zulia', 'State'),
    ('VE-W', 'VE', 'Dependencias Federales', 'Federal dependency'),
    ('VE-X', 'VE', 'La Guaira', 'State'),
    ('VE-Y', 'VE', 'Delta Amacuro', 'State'),
    ('VE-Z', 'VE', 'Amazonas', 'State'),
    ('VN-01', 'VN', 'Lai Châu', 'Province'),
    ('VN-02', 'VN', 'Lào Cai', 'Province'),
    ('VN-03', 'VN', 'Hà Giang', 'Province'),
    ('VN-04', 'VN', 'Cao Bằng', 'Province'),
    ('VN-05', 'VN', 'Sơn La', 'Province'),
    ('VN-06', 'VN', 'Yên Bái', 'Province'),
    ('VN-07', 'VN', 'Tuyên Quang', 'Province'),
    ('VN-09', 'VN', 'Lạng Sơn', 'Province'),
    ('VN-13', 'VN', 'Quảng Ninh', 'Province'),
    ('VN-14', 'VN', 'Hòa Bình', 'Province'),
    ('VN-18', 'VN', 'Ninh Bình', 'Province'),
    ('VN-20', 'VN', 'Thái Bình', 'Province'),
    ('VN-21', 'VN', 'Thanh Hóa', 'Province'),
    ('VN-22', 'VN', 'Nghệ An', 'Province'),
    ('VN-23', 'VN', 'Hà Tĩnh', 'Province'),
    ('VN-24', 'VN', 'Quảng Bình', 'Province'),
    ('VN-25', 'VN', 'Quảng Trị', 'Province'),
    ('VN-26', 'VN', 'Thừa Thiên-Huế', 'Province'),
    ('VN-27', 'VN', 'Quảng Nam', 'Province'),
    ('VN-28', 'VN', 'Kon Tum', 'Province'),
    ('VN-29', 'VN', 'Quảng Ngãi', 'Province'),
    ('VN-30', 'VN', 'Gia Lai', 'Province'),
    ('VN-31', 'VN', 'Bình Định', 'Province'),
    ('VN-32', 'VN', 'Phú Yên', 'Province'),
    ('VN-33', 'VN', 'Đắk Lắk', 'Province'),
    ('VN-34', 'VN', 'Khánh Hòa', 'Province'),
    ('VN-35', 'VN', 'Lâm Đồng', 'Province'),
    ('VN-36', 'VN', 'Ninh Thuận', 'Province'),
    ('VN-37', 'VN', 'Tây Ninh', 'Province'),
    ('VN-39', 'VN', 'Đồng Nai', 'Province'),
    ('VN-40', 'VN', 'Bình Thuận', 'Province'),
    ('VN-41', 'VN', 'Long An', 'Province'),
    ('VN-43', 'VN', 'Bà Rịa - Vũng Tàu', 'Province'),
    ('VN-44', 'VN', 'An Giang', 'Province'),
    ('VN-45', 'VN', 'Đồng Tháp', 'Province'),
    ('VN-46', 'VN', 'Tiền Giang', 'Province'),
    ('VN-47', 'VN', 'Kiến Giang', 'Province'),
    ('VN-49', 'VN', 'Vĩnh Long', 'Province'),
    ('VN-50', 'VN', 'Bến Tre', 'Province'),
    ('VN-51', 'VN', 'Trà Vinh', 'Province'),
    ('VN-52', 'VN', 'Sóc Trăng', 'Province'),
    ('VN-53', 'VN', 'Bắc Kạn', 'Province'),
    ('VN-54', 'VN', 'Bắc Giang', 'Province'),
    ('VN-55', 'VN', 'Bạc Liêu', 'Province'),
    ('VN-56', 'VN', 'Bắc Ninh', 'Province'),
    ('VN-57', 'VN', 'Bình Dương', 'Province'),
    ('VN-58', 'VN', 'Bình Phước', 'Province'),
    ('VN-59', 'VN', 'Cà Mau', 'Province'),
    ('VN-61', 'VN', 'Hải Dương', 'Province'),
    ('VN-63', 'VN', 'Hà Nam', 'Province'),
    ('VN-66', 'VN', 'Hưng Yên', 'Province'),
    ('VN-67', 'VN', 'Nam Định', 'Province'),
    ('VN-68', 'VN', 'Phú Thọ', 'Province'),
    ('VN-69', 'VN', 'Thái Nguyên', 'Province'),
    ('VN-70', 'VN', 'Vĩnh Phúc', 'Province'),
    ('VN-71', 'VN', 'Điện Biên', 'Province'),
    ('VN-72', 'VN', 'Đắk Nông', 'Province'),
    ('VN-73', 'VN', 'Hậu Giang', 'Province'),
    ('VN-CT', 'VN', 'Cần Thơ', 'Municipality'),
    ('VN-DN', 'VN', 'Đà Nẵng', 'Municipality'),
    ('VN-HN', 'VN', 'Hà Nội', 'Municipality'),
    ('VN-HP', 'VN', 'Hải Phòng', 'Municipality'),
    ('VN-SG', 'VN', 'Hồ Chí Minh', 'Municipality'),
    ('VU-MAP', 'VU', 'Malampa', 'Province'),
    ('VU-PAM', 'VU', 'Pénama', 'Province'),
    ('VU-SAM', 'VU', 'Sanma', 'Province'),
    ('VU-SEE', 'VU', 'Shéfa', 'Province'),
    ('VU-TAE', 'VU', 'Taféa', 'Province'),
    ('VU-TOB', 'VU', 'Torba', 'Province'),
    ('WF-AL', 'WF', 'Alo', 'Administrative precinct'),
    ('WF-SG', 'WF', 'Sigave', 'Administrative precinct'),
    ('WF-UV', 'WF', 'Uvea', 'Administrative precinct'),
    ('WS-AA', 'WS', 'A''ana', 'District'),
    ('WS-AL', 'WS', 'Aiga-i-le-Tai', 'District'),
    ('WS-AT', 'WS', 'Atua', 'District'),
    ('WS-FA', 'WS', 'Fa''asaleleaga', 'District'),
    ('WS-GE', 'WS', 'Gaga''emauga', 'District'),
    ('WS-GI', 'WS', 'Gagaifomauga', 'District'),
    ('WS-PA', 'WS', 'Palauli', 'District'),
    ('WS-SA', 'WS', 'Satupa''itea', 'District'),
    ('WS-TU', 'WS', 'Tuamasaga', 'District'),
    ('WS-VF', 'WS', 'Va''a-o-Fonoti', 'District'),
    ('WS-VS', 'WS', 'Vaisigano', 'District'),
    ('YE-AB', 'YE', 'Abyan', 'Governorate'),
    ('YE-AD', 'YE', '‘Adan', 'Governorate'),
    ('YE-AM', 'YE', '‘Amrān', 'Governorate'),
    ('YE-BA', 'YE', 'Al Bayḑā’', 'Governorate'),
    ('YE-DA', 'YE', 'Aḑ Ḑāli‘', 'Governorate'),
    ('YE-DH', 'YE', 'Dhamār', 'Governorate'),
    ('YE-HD', 'YE', 'Ḩaḑramawt', 'Governorate'),
    ('YE-HJ', 'YE', 'Ḩajjah', 'Governorate'),
    ('YE-HU', 'YE', 'Al Ḩudaydah', 'Governorate'),
    ('YE-IB', 'YE', 'Ibb', 'Governorate'),
    ('YE-JA', 'YE', 'Al Jawf', 'Governorate'),
    ('YE-LA', 'YE', 'Laḩij', 'Governorate'),
    ('YE-MA', 'YE', 'Ma’rib', 'Governorate'),
    ('YE-MR', 'YE', 'Al Mahrah', 'Governorate'),
    ('YE-MW', 'YE', 'Al Maḩwīt', 'Governorate'),
    ('YE-RA', 'YE', 'Raymah', 'Governorate'),
    ('YE-SA', 'YE', 'Amānat al ‘Āşimah [city]', 'Municipality'),
    ('YE-SD', 'YE', 'Şāʻdah', 'Governorate'),
    ('YE-SH', 'YE', 'Shabwah', 'Governorate'),
    ('YE-SN', 'YE', 'Şanʻā’', 'Governorate'),
    ('YE-SU', 'YE', 'Arkhabīl Suquţrá', 'Governorate'),
    ('YE-TA', 'YE', 'Tāʻizz', 'Governorate'),
    ('ZA-EC', 'ZA', 'Eastern Cape', 'Province'),
    ('ZA-FS', 'ZA', 'Free State', 'Province'),
    ('ZA-GP', 'ZA', 'Gauteng', 'Province'),
    ('ZA-KZN', 'ZA', 'Kwazulu-Natal', 'Province'),
    ('ZA-LP', 'ZA', 'Limpopo', 'Province'),
    ('ZA-MP', 'ZA', 'Mpumalanga', 'Province'),
    ('ZA-NC', 'ZA', 'Northern Cape', 'Province'),
    ('ZA-NW', 'ZA', 'North-West', 'Province'),
    ('ZA-WC', 'ZA', 'Western Cape', 'Province'),
    ('ZM-01', 'ZM', 'Western', 'Province'),
    ('ZM-02', 'ZM', 'Central', 'Province'),
    ('ZM-03', 'ZM', 'Eastern', 'Province'),
    ('ZM-04', 'ZM', 'Luapula', 'Province'),
    ('ZM-05', 'ZM', 'Northern', 'Province'),
    ('ZM-06', 'ZM', 'North-Western', 'Province'),
    ('ZM-07', 'ZM', 'Southern', 'Province'),
    ('ZM-08', 'ZM', 'Copperbelt', 'Province'),
    ('ZM-09', 'ZM', 'Lusaka', 'Province'),
    ('ZM-10', 'ZM', 'Muchinga', 'Province'),
    ('ZW-BU', 'ZW', 'Bulawayo', 'Province'),
    ('ZW-HA', 'ZW', 'Harare', 'Province'),
    ('ZW-MA', 'ZW', 'Manicaland', 'Province'),
    ('ZW-MC', 'ZW', 'Mashonaland Central', 'Province'),
    ('ZW-ME', 'ZW', 'Mashonaland East', 'Province'),
    ('ZW-MI', 'ZW', 'Midlands', 'Province'),
    ('ZW-MN', 'ZW', 'Matabeleland North', 'Province'),
    ('ZW-MS', 'ZW', 'Matabeleland South', 'Province'),
    ('ZW-MV', 'ZW', 'Masvingo', 'Province'),
    ('ZW-MW', 'ZW', 'Mashonaland West', 'Province');

------------------------------------------------------------------------------------------------
-- 18. 62_contacts (as in sql/62_contacts.sql)
------------------------------------------------------------------------------------------------

-- 62_contacts: addresses, phone numbers and e-mail addresses of an entity (a tenant, user,
-- team or project), the seeds' polymorphic (entity_type, entity_id). The database checks the
-- reference with real foreign keys: each contact table has, per declared entity type, a
-- generated column holding entity_id when entity_type is that type, with a foreign key (tenant
-- included) ON DELETE CASCADE. Deleting an entity deletes its contacts; another tenant's entity
-- cannot be named. Both are declared once per entity type (declare_contact_entity) and once per
-- contact table (declare_contact_table), never written by hand per pair.

CREATE TYPE coditect.address_type AS ENUM ('billing', 'shipping', 'office', 'home');
COMMENT ON TYPE coditect.address_type IS 'What an address is for.';
CREATE TYPE coditect.phone_type AS ENUM ('work', 'mobile', 'home', 'fax');
COMMENT ON TYPE coditect.phone_type IS 'What a phone number is.';
CREATE TYPE coditect.email_type AS ENUM ('work', 'personal', 'notification');
COMMENT ON TYPE coditect.email_type IS 'What an e-mail address is for.';

-- The entity types contacts may name, and the contact tables.
CREATE TABLE coditect_internal.contact_entity_types (
    entity_type varchar(50) PRIMARY KEY CHECK (entity_type ~ '^[a-z][a-z_]*$'),
    relid       regclass NOT NULL UNIQUE
);
CREATE TABLE coditect_internal.contact_tables (
    relid regclass PRIMARY KEY
);
REVOKE ALL ON coditect_internal.contact_entity_types, coditect_internal.contact_tables FROM PUBLIC;
-- guard_contact runs as the writer and looks the entity's table up here.
GRANT SELECT ON coditect_internal.contact_entity_types TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.addresses (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    entity_type   varchar(50) NOT NULL REFERENCES coditect_internal.contact_entity_types (entity_type),
    entity_id     uuid NOT NULL,
    address_type  coditect.address_type NOT NULL,
    label         varchar(100),
    full_name     varchar(255),
    company_name  varchar(255),
    address_line1 varchar(255) NOT NULL CHECK (address_line1 ~ '\S'),
    address_line2 varchar(255),
    city          varchar(100) NOT NULL CHECK (city ~ '\S'),
    state_code    varchar(6),
    postal_code   varchar(20) NOT NULL DEFAULT '',
    country_code  varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    latitude      numeric(9, 6) CHECK (latitude BETWEEN -90 AND 90),
    longitude     numeric(9, 6) CHECK (longitude BETWEEN -180 AND 180),
    -- A billing address's phone (the seeds' BillingAddress.phone): E.164, read as dialled in
    -- country_code (a_normalize_address_phone).
    phone         varchar(16) CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    is_default    boolean NOT NULL DEFAULT false,
    is_verified   boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- The subdivision, when given, is one of the country's (ISO 3166-2).
    FOREIGN KEY (country_code, state_code) REFERENCES coditect.subdivisions (country_code, code)
);
CREATE INDEX addresses_entity_idx ON coditect.addresses (tenant_id, entity_type, entity_id);
CREATE INDEX addresses_tenant_created_idx ON coditect.addresses (tenant_id, created_at DESC, id DESC);
-- One default address of each address type per entity: for the tenant itself (entity_id is
-- tenant_id), one default billing address per tenant, which checkout falls back on.
CREATE UNIQUE INDEX addresses_one_default ON coditect.addresses (tenant_id, entity_type, entity_id, address_type)
    WHERE is_default;
COMMENT ON COLUMN coditect.addresses.state_code IS 'ISO 3166-2 subdivision of country_code (US-CA), if any.';

CREATE TABLE coditect.phone_numbers (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    entity_type  varchar(50) NOT NULL REFERENCES coditect_internal.contact_entity_types (entity_type),
    entity_id    uuid NOT NULL,
    phone_type   coditect.phone_type NOT NULL,
    label        varchar(100),
    region_code  varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    country_code varchar(5) NOT NULL DEFAULT '' CHECK (country_code ~ '^(\+[1-9][0-9]{0,3})?$'),
    phone_number varchar(50) NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{1,14}$'),
    extension    varchar(20) CHECK (extension ~ '^[0-9]{1,20}$'),
    is_default   boolean NOT NULL DEFAULT false,
    is_verified  boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX phone_numbers_entity_idx ON coditect.phone_numbers (tenant_id, entity_type, entity_id);
CREATE INDEX phone_numbers_tenant_created_idx ON coditect.phone_numbers (tenant_id, created_at DESC, id DESC);
-- One default phone number per entity.
CREATE UNIQUE INDEX phone_numbers_one_default ON coditect.phone_numbers (tenant_id, entity_type, entity_id)
    WHERE is_default;
COMMENT ON COLUMN coditect.phone_numbers.region_code IS
    'The ISO 3166-1 country the number belongs to; a national form is read as dialled there.';
COMMENT ON COLUMN coditect.phone_numbers.phone_number IS
    'E.164 (+442079460958), normalized from what the client sent by libphonenumber.';
COMMENT ON COLUMN coditect.phone_numbers.country_code IS 'The calling code (+44), from the number.';

CREATE TABLE coditect.email_addresses (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    entity_type varchar(50) NOT NULL REFERENCES coditect_internal.contact_entity_types (entity_type),
    entity_id   uuid NOT NULL,
    email_type  coditect.email_type NOT NULL,
    label       varchar(100),
    email       coditect.email NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    is_verified boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX email_addresses_tenant_created_idx ON coditect.email_addresses (tenant_id, created_at DESC, id DESC);
CREATE INDEX email_addresses_email_idx ON coditect.email_addresses (tenant_id, lower(email));
-- An address once per entity, whatever its case; one default per entity.
CREATE UNIQUE INDEX email_addresses_entity_email_key
    ON coditect.email_addresses (tenant_id, entity_type, entity_id, lower(email));
CREATE UNIQUE INDEX email_addresses_one_default ON coditect.email_addresses (tenant_id, entity_type, entity_id)
    WHERE is_default;

------------------------------------------------------------------------------------------------
-- The polymorphic reference, declared once per entity type and once per contact table
------------------------------------------------------------------------------------------------

-- Links one contact table to one entity type: the column ref_<type> (entity_id when
-- entity_type is <type>), its foreign key to the entity ON DELETE CASCADE (the tenant in it),
-- and the index the cascade looks rows up by. For the tenant itself, no key but a CHECK that it
-- is the row's tenant: tenant_id's own key then guarantees it exists and cascades, and Citus
-- refuses a key from ref_tenant (not the distribution column) to tenants (id).
CREATE FUNCTION coditect_internal.link_contact_entity(p_contacts regclass, p_type text, p_entity regclass)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col  text := 'ref_' || p_type;
    tbl  text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_contacts);
    tenanted boolean := EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = p_entity
                                   AND a.attname = 'tenant_id' AND NOT a.attisdropped);
BEGIN
    EXECUTE format('ALTER TABLE %s ADD COLUMN %I uuid GENERATED ALWAYS AS '
                   '(CASE WHEN entity_type = %L THEN entity_id END) STORED', p_contacts, col, p_type);
    IF tenanted THEN
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (tenant_id, %I) REFERENCES %s (tenant_id, id) '
                       'ON DELETE CASCADE', p_contacts, tbl || '_' || col || '_fkey', col, p_entity);
        EXECUTE format('CREATE INDEX %I ON %s (tenant_id, %I) WHERE %I IS NOT NULL', tbl || '_' || col || '_idx',
                       p_contacts, col, col);
    ELSE
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I IS NULL OR %I = tenant_id)',
                       p_contacts, tbl || '_' || col || '_own_tenant', col, col);
    END IF;
    -- Internal: hidden from the API (a declaration after the resource's regenerates it).
    IF EXISTS (SELECT 1 FROM coditect_internal.resources r WHERE r.relid = p_contacts) THEN
        INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update)
        SELECT r.name, col, false, false, false FROM coditect_internal.resources r WHERE r.relid = p_contacts;
        PERFORM coditect_internal.generate_resource_functions(r.name)
           FROM coditect_internal.resources r WHERE r.relid = p_contacts;
    END IF;
END
$$;

-- An entity type contacts may name: its table (keyed by (tenant_id, id), or the tenants table).
CREATE FUNCTION coditect_internal.declare_contact_entity(p_type text, p_entity regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect_internal.contact_entity_types (entity_type, relid) VALUES (p_type, p_entity);
    PERFORM coditect_internal.link_contact_entity(c.relid, p_type, p_entity) FROM coditect_internal.contact_tables c;
END
$$;

-- A table of contacts (tenant_id, entity_type, entity_id, is_verified): linked to every
-- declared entity type, guarded by guard_contact.
CREATE FUNCTION coditect_internal.declare_contact_table(p_contacts regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect_internal.contact_tables (relid) VALUES (p_contacts);
    PERFORM coditect_internal.link_contact_entity(p_contacts, e.entity_type, e.relid)
       FROM coditect_internal.contact_entity_types e;
    EXECUTE format('CREATE TRIGGER guard_contact BEFORE INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_contact()', p_contacts);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER guard_contact', p_contacts);
END
$$;

-- The rules of every contact row, for every writer:
--   - the entity exists, live, in the row's tenant (the foreign key is the race-proof backstop;
--     this says which entity is missing, as a 422);
--   - in a request context, a user's contacts are that user's to write, everything else needs
--     contact.manage (administrators); a cascade from the entity's deletion passes;
--   - is_verified is set only by the service role (or the owner, who bypasses row-level
--     security); a changed address, number or e-mail is no longer verified.
CREATE FUNCTION coditect_internal.guard_contact() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me      uuid := coditect.current_user_id();
    ent     regclass;
    live    boolean;
    service boolean := pg_has_role(current_user, 'coditect_service', 'MEMBER') OR NOT row_security_active(TG_RELID);
    row_    jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
    old_    jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
    kept    text[] := ARRAY['is_verified', 'is_default', 'label', 'updated_at', 'created_at'];
BEGIN
    -- A row for another tenant than the context's: row-level security refuses it next.
    IF row_security_active(TG_RELID) AND (row_ ->> 'tenant_id')::uuid IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    SELECT e.relid INTO ent FROM coditect_internal.contact_entity_types e WHERE e.entity_type = row_ ->> 'entity_type';
    IF ent IS NULL THEN
        RAISE EXCEPTION 'contacts belong to one of: % (not "%")',
            (SELECT string_agg(entity_type, ', ' ORDER BY entity_type) FROM coditect_internal.contact_entity_types),
            row_ ->> 'entity_type' USING ERRCODE = 'CD422';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        EXECUTE format('SELECT %s FROM %s e WHERE e.id = $2%s',
                       CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ent AND a.attname = 'deleted_at'
                                            AND NOT a.attisdropped) THEN 'e.deleted_at IS NULL' ELSE 'true' END,
                       ent,
                       CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ent AND a.attname = 'tenant_id'
                                            AND NOT a.attisdropped) THEN ' AND e.tenant_id = $1' ELSE ' AND e.id = $1' END)
           INTO live USING (row_ ->> 'tenant_id')::uuid, (row_ ->> 'entity_id')::uuid;
        IF live IS NOT TRUE THEN
            RAISE EXCEPTION '% % not found in this tenant', row_ ->> 'entity_type', row_ ->> 'entity_id' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF me IS NOT NULL AND NOT (row_ ->> 'entity_type' = 'user' AND (row_ ->> 'entity_id')::uuid = me
                               AND (old_ IS NULL OR (old_ ->> 'entity_type' = 'user' AND (old_ ->> 'entity_id')::uuid = me)))
       AND NOT coditect.has_permission('contact.manage') THEN
        IF TG_OP = 'DELETE' THEN
            -- The entity's own deletion cascades here: the entity is already gone.
            EXECUTE format('SELECT count(*) = 0 FROM %s e WHERE e.id = $1', ent) INTO live USING (row_ ->> 'entity_id')::uuid;
            IF live THEN
                RETURN OLD;
            END IF;
        END IF;
        RAISE EXCEPTION 'only administrators manage contacts other than their own user''s' USING ERRCODE = 'CD403';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (row_ -> 'is_verified') IS DISTINCT FROM coalesce(old_ -> 'is_verified', 'false') AND NOT service THEN
        RAISE EXCEPTION 'only the service role sets is_verified' USING ERRCODE = 'CD403';
    END IF;
    -- What was verified is the contact itself: changing it clears the flag, unless the service
    -- sets both at once.
    -- (Generated columns, ref_*, are not computed yet in a BEFORE trigger: left out.)
    IF TG_OP = 'UPDATE' AND NEW.is_verified AND OLD.is_verified
       AND (SELECT jsonb_object_agg(k, v) FROM jsonb_each(row_) x(k, v) WHERE k <> ALL (kept) AND k NOT LIKE 'ref\_%')
           IS DISTINCT FROM
           (SELECT jsonb_object_agg(k, v) FROM jsonb_each(old_) x(k, v) WHERE k <> ALL (kept) AND k NOT LIKE 'ref\_%') THEN
        NEW.is_verified := false;
    END IF;
    RETURN NEW;
END
$$;

-- Phone numbers: E.164 from what the client typed, read as dialled in region_code.
CREATE FUNCTION coditect.phone_e164(p_number text, p_region text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_phone_e164' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION coditect.phone_e164(text, text) IS
    'A phone number in E.164 (libphonenumber), valid for the region (ISO 3166-1 alpha-2); CD422 otherwise.';
CREATE FUNCTION coditect.phone_calling_code(p_region text) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_phone_calling_code' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION coditect.phone_e164(text, text), coditect.phone_calling_code(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.phone_e164(text, text), coditect.phone_calling_code(text)
    TO coditect_gateway, coditect_service, coditect_analyst;

CREATE FUNCTION coditect_internal.normalize_phone_number() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.phone_number IS DISTINCT FROM OLD.phone_number
       OR NEW.region_code IS DISTINCT FROM OLD.region_code THEN
        NEW.phone_number := coditect.phone_e164(NEW.phone_number, NEW.region_code);
    END IF;
    NEW.country_code := '+' || coditect.phone_calling_code(NEW.region_code);
    RETURN NEW;
END
$$;
-- Named to run before guard_contact (alphabetical), which then sees the normalized number.
CREATE TRIGGER a_normalize_phone_number BEFORE INSERT OR UPDATE ON coditect.phone_numbers
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.normalize_phone_number();
ALTER TABLE coditect.phone_numbers ENABLE ALWAYS TRIGGER a_normalize_phone_number;

-- An address's phone in E.164, read as dialled in the address's country.
CREATE FUNCTION coditect_internal.normalize_address_phone() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.phone IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.phone IS DISTINCT FROM OLD.phone
                                  OR NEW.country_code IS DISTINCT FROM OLD.country_code) THEN
        NEW.phone := coditect.phone_e164(NEW.phone, NEW.country_code);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER a_normalize_address_phone BEFORE INSERT OR UPDATE ON coditect.addresses
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.normalize_address_phone();
ALTER TABLE coditect.addresses ENABLE ALWAYS TRIGGER a_normalize_address_phone;

-- E-mail addresses are stored with their domain in lower case (the local part is the mail
-- server's to interpret).
CREATE FUNCTION coditect_internal.normalize_email_address() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.email := split_part(NEW.email, '@', 1) || '@' || lower(substr(NEW.email, strpos(NEW.email, '@') + 1));
    RETURN NEW;
END
$$;
CREATE TRIGGER a_normalize_email_address BEFORE INSERT OR UPDATE OF email ON coditect.email_addresses
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.normalize_email_address();
ALTER TABLE coditect.email_addresses ENABLE ALWAYS TRIGGER a_normalize_email_address;

SELECT coditect_internal.declare_contact_table(t)
  FROM unnest('{coditect.addresses,coditect.phone_numbers,coditect.email_addresses}'::regclass[]) t;
SELECT coditect_internal.declare_contact_entity(e, t)
  FROM (VALUES ('tenant', 'coditect.tenants'::regclass), ('user', 'coditect.users'::regclass),
               ('team', 'coditect.teams'::regclass), ('project', 'coditect.projects'::regclass)) v(e, t);

------------------------------------------------------------------------------------------------
-- API
------------------------------------------------------------------------------------------------

SELECT coditect_internal.declare_permission('contact.manage', 'Manage the contacts of any entity', 'admin');

-- Members write their own user's contacts (guard_contact); administrators everyone's. Reads:
-- contact_read below.
SELECT coditect_internal.register_resource('coditect.addresses', 'address', p_plural => 'addresses',
    p_roles => '{"view": "member", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{entity_type,entity_id,address_type,label,full_name,company_name,address_line1,address_line2,city,state_code,postal_code,country_code,latitude,longitude,phone,is_default}',
    p_update => '{address_type,label,full_name,company_name,address_line1,address_line2,city,state_code,postal_code,country_code,latitude,longitude,phone,is_default}',
    p_hidden => ARRAY(SELECT 'ref_' || entity_type FROM coditect_internal.contact_entity_types),
    p_filters => '{"entity_type": ["exact"], "entity_id": ["exact"], "address_type": ["exact", "in"],
                   "country_code": ["exact", "in"], "is_default": ["exact"], "is_verified": ["exact"],
                   "created_at": ["gte", "lt"]}',
    p_search => '{label,full_name,company_name,address_line1,city,postal_code}',
    p_example => '{"entity_type": "user", "address_type": "billing", "address_line1": "1 Market St",
                   "city": "San Francisco", "state_code": "US-CA", "postal_code": "94105", "country_code": "US"}');
SELECT coditect_internal.register_resource('coditect.phone_numbers', 'phone_number',
    p_roles => '{"view": "member", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{entity_type,entity_id,phone_type,label,region_code,phone_number,extension,is_default}',
    p_update => '{phone_type,label,region_code,phone_number,extension,is_default}',
    p_hidden => ARRAY(SELECT 'ref_' || entity_type FROM coditect_internal.contact_entity_types),
    p_filters => '{"entity_type": ["exact"], "entity_id": ["exact"], "phone_type": ["exact", "in"],
                   "phone_number": ["exact"], "is_default": ["exact"], "is_verified": ["exact"],
                   "created_at": ["gte", "lt"]}',
    p_example => '{"entity_type": "user", "phone_type": "mobile", "region_code": "GB", "phone_number": "020 7946 0958"}');
SELECT coditect_internal.register_resource('coditect.email_addresses', 'email_address', p_plural => 'email_addresses',
    p_roles => '{"view": "member", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{entity_type,entity_id,email_type,label,email,is_default}',
    p_update => '{email_type,label,email,is_default}',
    p_hidden => ARRAY(SELECT 'ref_' || entity_type FROM coditect_internal.contact_entity_types),
    p_filters => '{"entity_type": ["exact"], "entity_id": ["exact"], "email_type": ["exact", "in"],
                   "email": ["exact"], "is_default": ["exact"], "is_verified": ["exact"],
                   "created_at": ["gte", "lt"]}',
    p_example => '{"entity_type": "user", "email_type": "work", "email": "ada@example.com"}');

-- Who reads (the tenant policy first): a user's contacts are that user's and contact.manage's
-- (owners, administrators); the tenant's, teams' and projects' are every member's. A caller
-- without a user (a service, an analyst) reads the tenant's all.
CREATE POLICY contact_read ON coditect.addresses AS RESTRICTIVE FOR SELECT
    USING (entity_type <> 'user' OR entity_id = coditect.current_user_id()
           OR coditect.current_user_id() IS NULL OR coditect.has_permission('contact.manage'));
CREATE POLICY contact_read ON coditect.phone_numbers AS RESTRICTIVE FOR SELECT
    USING (entity_type <> 'user' OR entity_id = coditect.current_user_id()
           OR coditect.current_user_id() IS NULL OR coditect.has_permission('contact.manage'));
CREATE POLICY contact_read ON coditect.email_addresses AS RESTRICTIVE FOR SELECT
    USING (entity_type <> 'user' OR entity_id = coditect.current_user_id()
           OR coditect.current_user_id() IS NULL OR coditect.has_permission('contact.manage'));

------------------------------------------------------------------------------------------------
-- 19. 82_products (as in sql/82_products.sql)
------------------------------------------------------------------------------------------------

-- 82_products: the product catalog, global like tax rates (60_reference): every tenant reads it
-- through the API, the service role writes it. After 80_licenses: a product that grants a
-- license names a license tier. Carts, orders and subscriptions (next) price from these rows
-- and snapshot what they use.

CREATE TYPE coditect.recurring_interval AS ENUM ('day', 'week', 'month', 'year');
COMMENT ON TYPE coditect.recurring_interval IS 'The billing period of a subscription product (Stripe''s recurring.interval).';

CREATE TABLE coditect.products (
    id                       uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    stripe_product_id        varchar(255) UNIQUE,
    stripe_price_id          varchar(255) UNIQUE,
    name                     varchar(255) NOT NULL CHECK (name ~ '\S'),
    description              text NOT NULL DEFAULT '',
    -- The price: minor units of currency (1999 USD is 19.99 USD), tax per the buyer's rate.
    unit_amount              bigint NOT NULL CHECK (unit_amount >= 0),
    currency                 varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    active                   boolean NOT NULL DEFAULT true,
    -- Products that must be bought with this one (checkout refuses a cart without them).
    requires                 uuid[] NOT NULL DEFAULT '{}',
    -- A license issued to the buyer's tenant when the order is paid or the subscription active.
    grants_license           boolean NOT NULL DEFAULT false,
    license_tier             coditect.license_tier,
    license_features         coditect.json_array NOT NULL DEFAULT '[]'
                             CHECK (NOT jsonb_path_exists(license_features, '$[*] ? (@.type() != "string")')),
    license_seats            integer CHECK (license_seats >= 1),
    -- How long a one-time purchase's license lasts; a subscription's lasts its period.
    license_duration_days    integer CHECK (license_duration_days >= 1),
    recurring_interval       coditect.recurring_interval,
    recurring_interval_count integer NOT NULL DEFAULT 1 CHECK (recurring_interval_count BETWEEN 1 AND 365),
    trial_period_days        integer CHECK (trial_period_days BETWEEN 1 AND 730),
    metadata                 coditect.json_object NOT NULL DEFAULT '{}',
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_license_terms CHECK (
        CASE WHEN grants_license
             THEN license_tier IS NOT NULL AND license_seats IS NOT NULL
                  AND (recurring_interval IS NOT NULL OR license_duration_days IS NOT NULL)
             ELSE license_tier IS NULL AND license_seats IS NULL AND license_duration_days IS NULL
                  AND license_features = '[]' END),
    CONSTRAINT products_trial_is_recurring CHECK (trial_period_days IS NULL OR recurring_interval IS NOT NULL),
    CONSTRAINT products_requires_not_self CHECK (id <> ALL (requires))
);
CREATE INDEX products_created_idx ON coditect.products (created_at DESC, id DESC);
CREATE INDEX products_active_idx ON coditect.products (active);
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.products
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();

-- requires names products that exist, each once. (A product is deactivated, never deleted,
-- so the names stay good.)
CREATE FUNCTION coditect_internal.check_product_requires() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text;
BEGIN
    IF cardinality(NEW.requires) <> (SELECT count(DISTINCT r) FROM unnest(NEW.requires) r) THEN
        RAISE EXCEPTION 'requires names a product twice' USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(r::text, ', ') INTO missing FROM unnest(NEW.requires) r
     WHERE NOT EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = r);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'requires names unknown product(s) %', missing USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_product_requires BEFORE INSERT OR UPDATE OF requires ON coditect.products
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_product_requires();

-- A price is in legal tender: not in a fund, metal, unit of account, XTS or XXX (the
-- currencies' priceable flag, from ICU).
CREATE FUNCTION coditect_internal.check_product_currency() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_priceable_currency(NEW.currency);
    RETURN NEW;
END
$$;
CREATE TRIGGER check_product_currency BEFORE INSERT OR UPDATE OF currency ON coditect.products
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_product_currency();

ALTER TABLE coditect.products ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY products_read ON coditect.products FOR SELECT USING (true);
CREATE POLICY products_service_insert ON coditect.products FOR INSERT TO coditect_service WITH CHECK (true);
CREATE POLICY products_service_update ON coditect.products FOR UPDATE TO coditect_service USING (true) WITH CHECK (true);
REVOKE ALL ON coditect.products FROM PUBLIC;
GRANT SELECT ON coditect.products TO coditect_gateway, coditect_service, coditect_analyst;
GRANT INSERT, UPDATE ON coditect.products TO coditect_service;
SELECT pg_catalog.pg_extension_config_dump('coditect.products', '');

SELECT coditect_internal.register_resource('coditect.products', 'product', p_mechanisms => false,
    p_roles => '{"view": "guest"}',
    p_filters => '{"active": ["exact"], "currency": ["exact", "in"], "recurring_interval": ["exact", "isnull"],
                   "grants_license": ["exact"], "license_tier": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_search => '{name,description}',
    p_orderings => '{created_at,name,unit_amount}', p_default_ordering => 'name');

------------------------------------------------------------------------------------------------
-- 20. 84_orders (as in sql/84_orders.sql)
------------------------------------------------------------------------------------------------

-- 84_orders: coupons, carts, checkout, orders with their lines, manual payments and refunds (issue 12).
-- After 82_products: carts and orders price from products. Money follows 60_reference: integer
-- minor units of one currency per cart and order, tax computed only by coditect.tax_line /
-- tax_amount (per line, half away from zero). The rules live in triggers, so they hold for
-- every writer: a cart's currency, its expiry, an order's totals (checked at commit), a paid
-- order's immutability, and refunds capped by what was paid (under the payment's row lock).
-- A discount is computed only by coditect_internal.coupon_discounts (per line, before tax).

CREATE TYPE coditect.cart_status AS ENUM ('active', 'checked_out', 'expired');
COMMENT ON TYPE coditect.cart_status IS 'A cart: open (active), turned into an order (checked_out), or past its expiry (expired).';
CREATE TYPE coditect.order_status AS ENUM ('pending', 'paid', 'partially_refunded', 'refunded', 'cancelled');
COMMENT ON TYPE coditect.order_status IS 'An order: placed (pending), paid, partially or fully refunded, or cancelled before payment.';
CREATE TYPE coditect.payment_status AS ENUM ('pending', 'processing', 'succeeded', 'failed', 'refunded', 'cancelled');
COMMENT ON TYPE coditect.payment_status IS 'A payment (the seeds'' statuses); refunded: all of it was given back.';
CREATE TYPE coditect.payment_method AS ENUM ('card', 'bank_account', 'google_pay', 'apple_pay', 'manual');
COMMENT ON TYPE coditect.payment_method IS 'How a payment was made; manual: recorded by a service (bank transfer, invoice).';
CREATE TYPE coditect.refund_reason AS ENUM ('duplicate', 'fraudulent', 'requested_by_customer');
COMMENT ON TYPE coditect.refund_reason IS 'Why money was given back (Stripe''s reasons).';
CREATE TYPE coditect.refund_status AS ENUM ('pending', 'succeeded', 'failed', 'cancelled');
COMMENT ON TYPE coditect.refund_status IS 'A refund (the seeds'' statuses).';

-- How long a cart lives after its last change.
CREATE FUNCTION coditect.cart_ttl() RETURNS interval
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT interval '24 hours' $$;

------------------------------------------------------------------------------------------------
-- Coupons: global like products (the service role writes them), Stripe's shape: a percentage
-- or an amount of one currency off, valid from / until, a redemption cap, optionally limited
-- to some products. Tenants never list them (a code is a secret until it is handed out): a
-- member applies a code to a cart, which finds the coupon by its code.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.coupons (
    id                  uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    stripe_coupon_id    varchar(255) UNIQUE,
    -- What the buyer types; matched whatever its case.
    code                varchar(50) NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$'),
    name                varchar(255) NOT NULL DEFAULT '',
    -- Either a percentage off the eligible lines, or an amount (minor units of currency) off them.
    percent_off         numeric(5, 2) CHECK (percent_off > 0 AND percent_off <= 100),
    amount_off          bigint CHECK (amount_off > 0),
    currency            varchar(3) REFERENCES coditect.currencies (code),
    -- Stripe's applies_to.products: empty, every product.
    applies_to_products uuid[] NOT NULL DEFAULT '{}',
    valid_from          timestamptz,
    valid_until         timestamptz,   -- Stripe's redeem_by
    max_redemptions     integer CHECK (max_redemptions >= 1),
    -- Orders placed with it (checkout counts, under the coupon's row lock).
    times_redeemed      integer NOT NULL DEFAULT 0 CHECK (times_redeemed >= 0),
    active              boolean NOT NULL DEFAULT true,
    metadata            coditect.json_object NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT coupons_kind CHECK ((percent_off IS NULL) <> (amount_off IS NULL) AND (amount_off IS NULL) = (currency IS NULL)),
    CONSTRAINT coupons_validity CHECK (valid_from < valid_until),
    CONSTRAINT coupons_redemptions CHECK (times_redeemed <= max_redemptions)
);
CREATE UNIQUE INDEX coupons_code_key ON coditect.coupons (upper(code));
CREATE INDEX coupons_created_idx ON coditect.coupons (created_at DESC, id DESC);
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.coupons
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();

-- An amount off is in legal tender; the products it applies to exist, each once.
CREATE FUNCTION coditect_internal.check_coupon() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text;
BEGIN
    IF NEW.currency IS NOT NULL THEN
        PERFORM coditect.require_priceable_currency(NEW.currency);
    END IF;
    IF cardinality(NEW.applies_to_products) <> (SELECT count(DISTINCT r) FROM unnest(NEW.applies_to_products) r) THEN
        RAISE EXCEPTION 'applies_to_products names a product twice' USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(r::text, ', ') INTO missing FROM unnest(NEW.applies_to_products) r
     WHERE NOT EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = r);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'applies_to_products names unknown product(s) %', missing USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_coupon BEFORE INSERT OR UPDATE OF currency, applies_to_products ON coditect.coupons
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_coupon();

ALTER TABLE coditect.coupons ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY coupons_service ON coditect.coupons TO coditect_service USING (true) WITH CHECK (true);
REVOKE ALL ON coditect.coupons FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON coditect.coupons TO coditect_service;
SELECT pg_catalog.pg_extension_config_dump('coditect.coupons', '');

------------------------------------------------------------------------------------------------
-- Carts
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.carts (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    -- Whose cart: the member who made it (guard_cart sets it from the request context); NULL
    -- once that user is deleted (the cart, and its order, stay).
    user_id        uuid,
    -- The cart's one currency: the first item's (or given at creation).
    currency       varchar(3) REFERENCES coditect.currencies (code),
    status         coditect.cart_status NOT NULL DEFAULT 'active',
    -- The discount code applied (cart_apply_discount); its amount is the computed field
    -- discount_amount, and checkout checks the code again.
    coupon_id      uuid REFERENCES coditect.coupons (id),
    discount_code  varchar(50),
    expires_at     timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    checked_out_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.carts', '{tenant_id,user_id}', '{user_id}');
CREATE INDEX carts_tenant_created_idx ON coditect.carts (tenant_id, created_at DESC, id DESC);
CREATE INDEX carts_user_idx ON coditect.carts (tenant_id, user_id, status);
-- The expiry job's scan of open carts past their time.
CREATE INDEX carts_active_expiry_idx ON coditect.carts (tenant_id, expires_at) WHERE status = 'active';

CREATE TABLE coditect.cart_items (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    cart_id     uuid NOT NULL,
    product_id  uuid NOT NULL REFERENCES coditect.products (id),
    quantity    integer NOT NULL CHECK (quantity > 0 AND quantity <= 10000),
    -- The product's price when added: shown to the buyer, NOT what the order charges (checkout
    -- snapshots the product's price then).
    unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
    currency    varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, cart_id) REFERENCES coditect.carts (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, cart_id, product_id)
);
CREATE INDEX cart_items_tenant_created_idx ON coditect.cart_items (tenant_id, created_at DESC, id DESC);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('cart', NULL,     'active',      NULL),
    ('cart', 'active', 'checked_out', 'checked_out_at'),
    ('cart', 'active', 'expired',     NULL);

-- Whether a cart is past its expiry (whatever the job has done yet).
CREATE FUNCTION coditect.cart_effective_status(p_cart coditect.carts) RETURNS coditect.cart_status
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_cart.status = 'active' AND p_cart.expires_at <= now() THEN 'expired'::coditect.cart_status
                ELSE p_cart.status END
$$;

-- The cart's owner is the member who makes it; an open cart's expiry moves with every change
-- (items touch their cart). A checked-out cart is kept (its order names it): only open or
-- expired carts are deleted. Plain statements may not change a closed cart.
CREATE FUNCTION coditect_internal.guard_cart() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'checked_out' AND NOT coditect_internal.hard_delete_allowed() THEN
            RAISE EXCEPTION 'cart % was checked out: its order names it', OLD.id USING ERRCODE = 'CD409';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL AND OLD.user_id IS NOT NULL
       AND to_jsonb(NEW) - '{user_id,updated_at}'::text[] = to_jsonb(OLD) - '{user_id,updated_at}'::text[]
       AND NOT EXISTS (SELECT 1 FROM coditect.users u WHERE u.tenant_id = OLD.tenant_id AND u.id = OLD.user_id) THEN
        RETURN NEW;  -- ON DELETE SET NULL (user_id): its user was deleted
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.user_id := coalesce(coditect.current_user_id(), NEW.user_id);
        NEW.status := 'active';
        NEW.checked_out_at := NULL;
    ELSIF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        RAISE EXCEPTION 'a cart cannot change hands' USING ERRCODE = 'CD422';
    ELSIF OLD.status <> 'active' THEN
        RAISE EXCEPTION 'cart % is %: it cannot change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    ELSIF NEW.status = 'active' AND OLD.expires_at <= now() THEN
        RAISE EXCEPTION 'cart % expired at %: start a new cart', OLD.id, OLD.expires_at USING ERRCODE = 'CD409';
    ELSIF NEW.currency IS DISTINCT FROM OLD.currency
          AND EXISTS (SELECT 1 FROM coditect.cart_items i WHERE i.tenant_id = OLD.tenant_id AND i.cart_id = OLD.id) THEN
        RAISE EXCEPTION 'cart % holds items in %: its currency cannot change', OLD.id, OLD.currency USING ERRCODE = 'CD422';
    END IF;
    IF NEW.status = 'active' THEN
        NEW.expires_at := now() + coditect.cart_ttl();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_cart BEFORE INSERT OR UPDATE OR DELETE ON coditect.carts
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_cart();
ALTER TABLE coditect.carts ENABLE ALWAYS TRIGGER guard_cart;

-- An item: its cart is open (locked, so that a checkout waits for it), of one currency with the
-- product (the first item sets the cart's), the product active; the price is the product's now.
-- Every change of an item is a change of its cart (its expiry moves). Owner rights: the
-- writer holds no UPDATE on carts; the cart is found by the item's own tenant.
CREATE FUNCTION coditect_internal.guard_cart_item() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c coditect.carts;
    p coditect.products;
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF TG_OP = 'DELETE' AND coditect_internal.hard_delete_allowed() THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.cart_id, NEW.product_id) IS DISTINCT FROM (OLD.tenant_id, OLD.cart_id, OLD.product_id) THEN
        RAISE EXCEPTION 'a cart item cannot move to another cart or product: add a new one' USING ERRCODE = 'CD422';
    END IF;
    -- A cart the writer may not see (another tenant's, another member's) is left to the row
    -- policies, which refuse the insert after this trigger: nothing about it is told here.
    IF TG_OP = 'INSERT' AND coditect.current_tenant_id() IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM coditect.carts v
                        WHERE v.tenant_id = coditect.current_tenant_id() AND v.tenant_id = NEW.tenant_id AND v.id = NEW.cart_id
                          AND (v.user_id = coditect.current_user_id() OR coditect.has_permission('order.manage'))) THEN
        RETURN NEW;
    END IF;
    SELECT * INTO c FROM coditect.carts WHERE tenant_id = r.tenant_id AND id = r.cart_id FOR UPDATE;
    IF c.id IS NULL THEN
        -- The cart is being deleted (the cascade): nothing to check.
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'cart % is %: its items cannot change', c.id, c.status USING ERRCODE = 'CD409';
    END IF;
    IF c.expires_at <= now() THEN
        RAISE EXCEPTION 'cart % expired at %: start a new cart', c.id, c.expires_at USING ERRCODE = 'CD409';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT * INTO p FROM coditect.products WHERE id = NEW.product_id;
        IF NOT p.active THEN
            RAISE EXCEPTION 'product "%" is not for sale', p.name USING ERRCODE = 'CD422';
        END IF;
        IF c.currency IS NOT NULL AND c.currency <> p.currency THEN
            RAISE EXCEPTION 'product "%" is priced in %, this cart in %: one currency per cart', p.name, p.currency, c.currency
                USING ERRCODE = 'CD422';
        END IF;
        NEW.unit_amount := p.unit_amount;
        NEW.currency := p.currency;
    END IF;
    -- Touching the cart moves its expiry (guard_cart) and sets its currency.
    UPDATE coditect.carts SET currency = coalesce(c.currency, p.currency), updated_at = now()
     WHERE tenant_id = c.tenant_id AND id = c.id;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_cart_item BEFORE INSERT OR UPDATE OR DELETE ON coditect.cart_items
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_cart_item();
ALTER TABLE coditect.cart_items ENABLE ALWAYS TRIGGER guard_cart_item;

------------------------------------------------------------------------------------------------
-- Orders and their lines
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.orders (
    tenant_id            uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                   uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    cart_id              uuid,
    -- Who placed it (members read their own orders).
    user_id              uuid,
    status               coditect.order_status NOT NULL DEFAULT 'pending',
    currency             varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    -- Sums of the lines: net of tax before the discount (net + discount), their tax, their
    -- discount, and what is charged (the lines' totals).
    subtotal_amount      bigint NOT NULL CHECK (subtotal_amount >= 0),
    tax_amount           bigint NOT NULL CHECK (tax_amount >= 0),
    discount_amount      bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
    total_amount         bigint NOT NULL CHECK (total_amount >= 0),
    -- The coupon redeemed, and its code as it was.
    coupon_id            uuid REFERENCES coditect.coupons (id),
    discount_code        varchar(50),
    -- The tax rate as it was at checkout (NULL id: no rate applies, tax 0).
    tax_rate_id          uuid REFERENCES coditect.tax_rates (id),
    tax_display_name     varchar(100),
    tax_percentage       numeric(7, 4) NOT NULL DEFAULT 0 CHECK (tax_percentage BETWEEN 0 AND 100),
    tax_inclusive        boolean NOT NULL DEFAULT false,
    -- The billing address as given at checkout (codes checked against the reference tables).
    billing_country_code varchar(2) NOT NULL REFERENCES coditect.countries (alpha_2),
    billing_state_code   varchar(6),
    billing_address      coditect.json_object NOT NULL DEFAULT '{}',
    -- Stripe's ids (88_invoices' handlers): the PaymentIntent that paid it, its Checkout Session.
    stripe_payment_intent_id   varchar(255),
    stripe_checkout_session_id varchar(255),
    paid_at              timestamptz,
    cancelled_at         timestamptz,
    refunded_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, cart_id) REFERENCES coditect.carts (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (billing_country_code, billing_state_code) REFERENCES coditect.subdivisions (country_code, code),
    CONSTRAINT orders_total CHECK (total_amount = subtotal_amount + tax_amount - discount_amount),
    CONSTRAINT orders_tax_rate_snapshot CHECK (tax_rate_id IS NOT NULL OR tax_percentage = 0),
    CONSTRAINT orders_discount_coupon CHECK ((coupon_id IS NULL) = (discount_code IS NULL)
                                             AND (discount_amount = 0 OR coupon_id IS NOT NULL))
);
SELECT coditect_internal.declare_null_on_delete('coditect.orders', '{tenant_id,user_id}', '{user_id}');
-- One order per cart.
CREATE UNIQUE INDEX orders_one_per_cart ON coditect.orders (tenant_id, cart_id);
CREATE INDEX orders_tenant_created_idx ON coditect.orders (tenant_id, created_at DESC, id DESC);
CREATE INDEX orders_user_idx ON coditect.orders (tenant_id, user_id, created_at DESC);
CREATE INDEX orders_status_idx ON coditect.orders (tenant_id, status, created_at DESC);
CREATE UNIQUE INDEX orders_stripe_payment_intent ON coditect.orders (tenant_id, stripe_payment_intent_id);
CREATE UNIQUE INDEX orders_stripe_checkout_session ON coditect.orders (tenant_id, stripe_checkout_session_id);

CREATE TABLE coditect.order_lines (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    order_id     uuid NOT NULL,
    product_id   uuid NOT NULL REFERENCES coditect.products (id),
    -- Snapshots of the product at checkout.
    product_name varchar(255) NOT NULL,
    unit_amount  bigint NOT NULL CHECK (unit_amount >= 0),
    quantity     integer NOT NULL CHECK (quantity > 0),
    -- amount = unit_amount x quantity as priced; the line's share of the order's discount;
    -- net + tax = total, from coditect.tax_line of amount - discount.
    amount          bigint NOT NULL,
    discount_amount bigint NOT NULL DEFAULT 0,
    net_amount      bigint NOT NULL,
    tax_amount      bigint NOT NULL CHECK (tax_amount >= 0),
    total_amount    bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT order_lines_amount CHECK (amount = unit_amount * quantity),
    CONSTRAINT order_lines_sum CHECK (net_amount + tax_amount = total_amount),
    CONSTRAINT order_lines_discount CHECK (discount_amount BETWEEN 0 AND amount)
);
CREATE INDEX order_lines_order_idx ON coditect.order_lines (tenant_id, order_id, created_at);
CREATE INDEX order_lines_tenant_created_idx ON coditect.order_lines (tenant_id, created_at DESC, id DESC);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('order', NULL,                 'pending',            NULL),
    ('order', 'pending',            'paid',               'paid_at'),
    ('order', 'pending',            'cancelled',          'cancelled_at'),
    ('order', 'paid',               'partially_refunded', NULL),
    ('order', 'paid',               'refunded',           'refunded_at'),
    ('order', 'partially_refunded', 'refunded',           'refunded_at');

-- A line's tax is the order's snapshotted rate applied by tax_line (the one computation) to the
-- line's amount less its discount: a writer gives the product, price, quantity and the line's
-- discount (checkout: coupon_discounts), the database the rest.
CREATE FUNCTION coditect_internal.price_order_line() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o coditect.orders;
    t record;
BEGIN
    SELECT * INTO o FROM coditect.orders WHERE tenant_id = NEW.tenant_id AND id = NEW.order_id;
    IF o.id IS NULL THEN
        RETURN NEW;  -- the foreign key refuses it
    END IF;
    NEW.amount := NEW.unit_amount * NEW.quantity;
    IF NEW.discount_amount NOT BETWEEN 0 AND NEW.amount THEN
        RAISE EXCEPTION 'a line''s discount is between 0 and its amount (%)', NEW.amount USING ERRCODE = 'CD422';
    END IF;
    t := coditect.tax_line(NEW.amount - NEW.discount_amount, o.tax_percentage, o.tax_inclusive);
    NEW.net_amount := t.net;
    NEW.tax_amount := t.tax;
    NEW.total_amount := t.gross;
    RETURN NEW;
END
$$;

-- Money rows are kept: orders, payments, refunds and invoices are deleted only with their tenant
-- (purge, hard_delete_allowed). One BEFORE DELETE trigger for all of them; its argument is the
-- refusal, with %s for the row's id.
CREATE FUNCTION coditect_internal.keep_rows() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect_internal.hard_delete_allowed() THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '%', format(TG_ARGV[0], OLD.id) USING ERRCODE = 'CD409';
END
$$;

-- Once an order is paid (or cancelled) nothing in it changes but its status along the machine
-- (refunds) and the stamps that go with it. A pending order may change, its totals checked at
-- commit.
CREATE FUNCTION coditect_internal.guard_order() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status <> 'pending'
       AND to_jsonb(NEW) - '{status,refunded_at,updated_at}'::text[] <> to_jsonb(OLD) - '{status,refunded_at,updated_at}'::text[]
       -- ON DELETE SET NULL (user_id): the user who placed it was deleted.
       AND NOT (NEW.user_id IS NULL AND OLD.user_id IS NOT NULL
                AND to_jsonb(NEW) - '{user_id,updated_at}'::text[] = to_jsonb(OLD) - '{user_id,updated_at}'::text[])
       -- Stripe's Checkout Session, told after its PaymentIntent paid the order: filled in once.
       AND NOT (OLD.stripe_checkout_session_id IS NULL
                AND to_jsonb(NEW) - '{stripe_checkout_session_id,updated_at}'::text[]
                    = to_jsonb(OLD) - '{stripe_checkout_session_id,updated_at}'::text[]) THEN
        RAISE EXCEPTION 'order % is %: nothing in it can change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    END IF;
    IF OLD.status <> 'pending' AND NEW.status = OLD.status AND NEW.refunded_at IS DISTINCT FROM OLD.refunded_at THEN
        RAISE EXCEPTION 'order % is %: nothing in it can change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_order BEFORE UPDATE ON coditect.orders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_order();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.orders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('orders are kept: cancel order %s instead');
ALTER TABLE coditect.orders ENABLE ALWAYS TRIGGER guard_order, ENABLE ALWAYS TRIGGER keep_rows;

CREATE FUNCTION coditect_internal.guard_order_line() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    st coditect.order_status;
BEGIN
    IF TG_OP = 'DELETE' AND coditect_internal.hard_delete_allowed() THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.order_id) IS DISTINCT FROM (OLD.tenant_id, OLD.order_id) THEN
        RAISE EXCEPTION 'an order line cannot move to another order' USING ERRCODE = 'CD422';
    END IF;
    SELECT o.status INTO st FROM coditect.orders o WHERE o.tenant_id = r.tenant_id AND o.id = r.order_id;
    IF st IS NOT NULL AND st <> 'pending' THEN
        RAISE EXCEPTION 'order % is %: nothing in it can change', r.order_id, st USING ERRCODE = 'CD409';
    END IF;
    RETURN r;
END
$$;
CREATE TRIGGER guard_order_line BEFORE INSERT OR UPDATE OR DELETE ON coditect.order_lines
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_order_line();
CREATE TRIGGER price_order_line BEFORE INSERT OR UPDATE ON coditect.order_lines
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.price_order_line();
ALTER TABLE coditect.order_lines ENABLE ALWAYS TRIGGER guard_order_line, ENABLE ALWAYS TRIGGER price_order_line;

-- At commit: an order's subtotal (net + discount), tax and discount are the sums of its lines'
-- (the CHECK makes the total follow: the sum of the lines' totals), and an order has lines. Deferred, so that the order and its lines are written in
-- any order within the transaction.
CREATE FUNCTION coditect_internal.check_order_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid;
    ord uuid;
    o coditect.orders;
    n bigint;
    net bigint;
    tax bigint;
    dis bigint;
BEGIN
    IF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'orders' THEN
        tenant := NEW.tenant_id;
        ord := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
        ord := OLD.order_id;
    ELSE
        tenant := NEW.tenant_id;
        ord := NEW.order_id;
    END IF;
    SELECT * INTO o FROM coditect.orders WHERE tenant_id = tenant AND id = ord;
    IF o.id IS NULL THEN
        RETURN NULL;  -- deleted with its tenant
    END IF;
    SELECT count(*), coalesce(sum(l.net_amount + l.discount_amount), 0), coalesce(sum(l.tax_amount), 0),
           coalesce(sum(l.discount_amount), 0) INTO n, net, tax, dis
      FROM coditect.order_lines l WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id;
    IF n = 0 THEN
        RAISE EXCEPTION 'order % has no lines', o.id USING ERRCODE = 'CD422';
    END IF;
    IF o.subtotal_amount <> net OR o.tax_amount <> tax OR o.discount_amount <> dis THEN
        RAISE EXCEPTION 'order %: subtotal %, tax % and discount % are not the sums of its lines (%, % and %)',
            o.id, o.subtotal_amount, o.tax_amount, o.discount_amount, net, tax, dis USING ERRCODE = 'CD422';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER check_order_totals AFTER INSERT OR UPDATE ON coditect.orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_order_totals();
CREATE CONSTRAINT TRIGGER check_order_totals AFTER INSERT OR UPDATE OR DELETE ON coditect.order_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION coditect_internal.check_order_totals();
ALTER TABLE coditect.orders ENABLE ALWAYS TRIGGER check_order_totals;
ALTER TABLE coditect.order_lines ENABLE ALWAYS TRIGGER check_order_totals;

------------------------------------------------------------------------------------------------
-- Payments and refunds
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.payments (
    tenant_id                uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                       uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    order_id                 uuid NOT NULL,
    invoice_id               uuid,  -- the invoice it paid (88_invoices: the foreign key, SET NULL)
    stripe_payment_intent_id varchar(255),
    stripe_charge_id         varchar(255),
    -- What a manual payment was (a bank transfer's reference).
    reference                varchar(255),
    amount                   bigint NOT NULL CHECK (amount > 0),
    currency                 varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    -- What refunds (pending or succeeded) took back: kept by the refunds' trigger.
    amount_refunded          bigint NOT NULL DEFAULT 0,
    status                   coditect.payment_status NOT NULL DEFAULT 'pending',
    payment_method           coditect.payment_method NOT NULL DEFAULT 'manual',
    card_last4               varchar(4) CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_brand               varchar(20),
    failure_code             varchar(50),
    failure_message          varchar(500),
    succeeded_at             timestamptz,
    refunded_at              timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id),
    CONSTRAINT payments_refund_cap CHECK (amount_refunded BETWEEN 0 AND amount)
);
CREATE INDEX payments_tenant_created_idx ON coditect.payments (tenant_id, created_at DESC, id DESC);
CREATE INDEX payments_order_idx ON coditect.payments (tenant_id, order_id);
CREATE INDEX payments_invoice_idx ON coditect.payments (tenant_id, invoice_id);
CREATE INDEX payments_status_idx ON coditect.payments (tenant_id, status);
-- An order is paid once: one payment that is not failed or cancelled.
CREATE UNIQUE INDEX payments_one_live_per_order ON coditect.payments (tenant_id, order_id)
    WHERE status NOT IN ('failed', 'cancelled');
-- The seeds' uniqueness of Stripe's ids (global, as Stripe's are; 12_security: tenant-led).
CREATE UNIQUE INDEX payments_stripe_payment_intent ON coditect.payments (tenant_id, stripe_payment_intent_id);

CREATE TABLE coditect.refunds (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    payment_id       uuid NOT NULL,
    order_id         uuid NOT NULL,
    stripe_refund_id varchar(255),
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    reason           coditect.refund_reason NOT NULL DEFAULT 'requested_by_customer',
    status           coditect.refund_status NOT NULL DEFAULT 'pending',
    refunded_by      uuid,
    succeeded_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES coditect.payments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id),
    FOREIGN KEY (tenant_id, refunded_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.refunds', '{tenant_id,refunded_by}', '{refunded_by}');
CREATE INDEX refunds_payment_idx ON coditect.refunds (tenant_id, payment_id, created_at DESC);
CREATE INDEX refunds_order_idx ON coditect.refunds (tenant_id, order_id);
CREATE INDEX refunds_tenant_created_idx ON coditect.refunds (tenant_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX refunds_stripe_refund ON coditect.refunds (tenant_id, stripe_refund_id);

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('payment', NULL,         'pending',    NULL),
    ('payment', NULL,         'succeeded',  'succeeded_at'),
    ('payment', 'pending',    'processing', NULL),
    ('payment', 'pending',    'succeeded',  'succeeded_at'),
    ('payment', 'processing', 'succeeded',  'succeeded_at'),
    ('payment', 'pending',    'failed',     NULL),
    ('payment', 'processing', 'failed',     NULL),
    ('payment', 'pending',    'cancelled',  NULL),
    ('payment', 'succeeded',  'refunded',   'refunded_at'),
    ('refund',  NULL,         'pending',    NULL),
    ('refund',  NULL,         'succeeded',  'succeeded_at'),
    ('refund',  'pending',    'succeeded',  'succeeded_at'),
    ('refund',  'pending',    'failed',     NULL),
    ('refund',  'pending',    'cancelled',  NULL);

-- A payment is of its order's total and currency, and only while the order is pending; a
-- succeeded payment pays the order (same transaction). Afterwards its amount, currency and
-- order never change (its status goes on through the machine; amount_refunded is the refunds').
CREATE FUNCTION coditect_internal.guard_payment() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o coditect.orders;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.tenant_id, NEW.order_id, NEW.amount, NEW.currency, NEW.payment_method)
           IS DISTINCT FROM (OLD.tenant_id, OLD.order_id, OLD.amount, OLD.currency, OLD.payment_method) THEN
            RAISE EXCEPTION 'a payment''s order, amount, currency and method cannot change' USING ERRCODE = 'CD409';
        END IF;
    ELSE
        SELECT * INTO o FROM coditect.orders WHERE tenant_id = NEW.tenant_id AND id = NEW.order_id FOR UPDATE;
        IF o.id IS NULL THEN
            RETURN NEW;  -- the foreign key refuses it
        END IF;
        IF o.status <> 'pending' THEN
            RAISE EXCEPTION 'order % is %: it takes no payment', o.id, o.status USING ERRCODE = 'CD409';
        END IF;
        IF NEW.amount <> o.total_amount OR NEW.currency <> o.currency THEN
            RAISE EXCEPTION 'a payment of order % is of its total, % (not %)', o.id,
                coditect.money_format(o.total_amount, o.currency), coditect.money_format(NEW.amount, NEW.currency)
                USING ERRCODE = 'CD422';
        END IF;
        NEW.amount_refunded := 0;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_payment BEFORE INSERT OR UPDATE ON coditect.payments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_payment();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.payments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('payments are kept');
ALTER TABLE coditect.payments ENABLE ALWAYS TRIGGER guard_payment, ENABLE ALWAYS TRIGGER keep_rows;

CREATE FUNCTION coditect_internal.payment_pays_order() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.orders SET status = 'paid'
     WHERE tenant_id = NEW.tenant_id AND id = NEW.order_id AND status = 'pending';
    RETURN NULL;
END
$$;
CREATE TRIGGER payment_pays_order AFTER INSERT OR UPDATE OF status ON coditect.payments
    FOR EACH ROW WHEN (NEW.status = 'succeeded') EXECUTE FUNCTION coditect_internal.payment_pays_order();
ALTER TABLE coditect.payments ENABLE ALWAYS TRIGGER payment_pays_order;

-- A refund takes from its payment under the payment's row lock: two refunds racing are
-- serialised, and the second sees the first's amount (the CHECK on payments is the backstop).
-- The payment and its order move to refunded / partially_refunded. A refund that fails or is
-- cancelled gives its amount back. Only the status of a refund changes.
CREATE FUNCTION coditect_internal.apply_refund() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p coditect.payments;
    delta bigint := 0;
BEGIN
    SELECT * INTO p FROM coditect.payments WHERE tenant_id = NEW.tenant_id AND id = NEW.payment_id FOR UPDATE;
    IF p.id IS NULL THEN
        RETURN NEW;  -- the foreign key refuses it
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF to_jsonb(NEW) - '{status,succeeded_at,stripe_refund_id,updated_at}'::text[]
           <> to_jsonb(OLD) - '{status,succeeded_at,stripe_refund_id,updated_at}'::text[]
           AND NOT (NEW.refunded_by IS NULL AND OLD.refunded_by IS NOT NULL
                    AND to_jsonb(NEW) - '{refunded_by,updated_at}'::text[] = to_jsonb(OLD) - '{refunded_by,updated_at}'::text[]) THEN
            RAISE EXCEPTION 'a refund''s amount, payment and reason cannot change' USING ERRCODE = 'CD409';
        END IF;
        IF OLD.status IN ('pending', 'succeeded') AND NEW.status IN ('failed', 'cancelled') THEN
            delta := -OLD.amount;
        END IF;
    ELSE
        IF p.status NOT IN ('succeeded', 'refunded') THEN
            RAISE EXCEPTION 'payment % is %: nothing was paid to refund', p.id, p.status USING ERRCODE = 'CD409';
        END IF;
        NEW.order_id := p.order_id;
        NEW.currency := p.currency;
        IF NEW.status IN ('pending', 'succeeded') THEN
            IF p.amount_refunded + NEW.amount > p.amount THEN
                RAISE EXCEPTION 'a refund of % exceeds what is left of payment % (% of %)',
                    coditect.money_format(NEW.amount, p.currency), p.id,
                    coditect.money_format(p.amount - p.amount_refunded, p.currency),
                    coditect.money_format(p.amount, p.currency) USING ERRCODE = 'CD409';
            END IF;
            delta := NEW.amount;
        END IF;
    END IF;
    IF delta <> 0 THEN
        UPDATE coditect.payments
           SET amount_refunded = amount_refunded + delta,
               status = CASE WHEN amount_refunded + delta = amount THEN 'refunded'::coditect.payment_status ELSE status END
         WHERE tenant_id = p.tenant_id AND id = p.id;
        UPDATE coditect.orders
           SET status = CASE WHEN p.amount_refunded + delta = p.amount THEN 'refunded'::coditect.order_status
                             ELSE 'partially_refunded'::coditect.order_status END
         WHERE tenant_id = p.tenant_id AND id = p.order_id AND status IN ('paid', 'partially_refunded')
           AND status <> CASE WHEN p.amount_refunded + delta = p.amount THEN 'refunded'::coditect.order_status
                              ELSE 'partially_refunded'::coditect.order_status END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER apply_refund BEFORE INSERT OR UPDATE ON coditect.refunds
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.apply_refund();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.refunds
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('refunds are kept');
ALTER TABLE coditect.refunds ENABLE ALWAYS TRIGGER apply_refund, ENABLE ALWAYS TRIGGER keep_rows;

------------------------------------------------------------------------------------------------
-- Discounts
------------------------------------------------------------------------------------------------

-- THE discount computation; nothing else computes or splits a discount. Given a cart's or an
-- order's lines (product, amount = unit price x quantity, in one currency), the coupon's
-- discount of each line, in minor units:
--   1. the eligible lines are those of the coupon's products (all lines when it names none),
--      E their amounts' sum;
--   2. the discount D is computed once on E: percent_off: round(E x percent / 100), half away
--      from zero like tax; amount_off: min(amount_off, E) (never more than the lines cost);
--   3. D is split across the eligible lines in proportion to their amounts by the largest
--      remainder method: each line gets floor(D x amount / E), and the units left over (fewer
--      than the eligible lines) go one each to the lines with the largest remainders, the
--      earlier line first on a tie. The shares sum to D exactly and none exceeds its line.
-- Tax is then tax_line(amount - share) per line (price_order_line): the only rounding of tax.
-- Owner rights: only the coupon row named is read (clients cannot read coupons).
CREATE FUNCTION coditect_internal.coupon_discounts(p_coupon uuid, p_products uuid[], p_amounts bigint[])
RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c coditect.coupons;
    eligible numeric;
    d numeric;
    shares bigint[];
BEGIN
    SELECT * INTO c FROM coditect.coupons x WHERE x.id = p_coupon;
    SELECT sum(u.a) INTO eligible FROM unnest(p_products, p_amounts) u(p, a)
     WHERE cardinality(c.applies_to_products) = 0 OR u.p = ANY (c.applies_to_products);
    IF c.id IS NULL OR coalesce(eligible, 0) = 0 THEN
        RETURN ARRAY(SELECT 0::bigint FROM unnest(p_amounts));
    END IF;
    d := CASE WHEN c.percent_off IS NOT NULL THEN round(eligible * c.percent_off / 100)
              ELSE least(c.amount_off, eligible) END;
    WITH l AS (
        SELECT u.i, CASE WHEN cardinality(c.applies_to_products) = 0 OR u.p = ANY (c.applies_to_products)
                         THEN u.a ELSE 0 END::numeric AS a
          FROM unnest(p_products, p_amounts) WITH ORDINALITY u(p, a, i)
    ), f AS (
        SELECT l.i, div(d * l.a, eligible) AS share, mod(d * l.a, eligible) AS remainder FROM l
    ), r AS (
        SELECT f.i, f.share, row_number() OVER (ORDER BY f.remainder DESC, f.i) AS rank FROM f
    )
    SELECT array_agg((r.share + CASE WHEN r.rank <= d - (SELECT sum(share) FROM f) THEN 1 ELSE 0 END)::bigint ORDER BY r.i)
      INTO shares FROM r;
    RETURN shares;
END
$$;

-- Whether coupon p_coupon (found by p_code) may be redeemed now by a cart in p_currency holding
-- p_products: CD422 saying why not. The same check when a code is applied and at checkout.
CREATE FUNCTION coditect_internal.coupon_check(p_coupon coditect.coupons, p_code text, p_currency text, p_products uuid[])
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_coupon.id IS NULL OR NOT p_coupon.active THEN
        RAISE EXCEPTION 'discount code "%" is not valid', p_code USING ERRCODE = 'CD422';
    END IF;
    IF p_coupon.valid_from > now() THEN
        RAISE EXCEPTION 'discount code "%" is not valid before %', p_coupon.code, p_coupon.valid_from USING ERRCODE = 'CD422';
    END IF;
    IF p_coupon.valid_until <= now() THEN
        RAISE EXCEPTION 'discount code "%" expired at %', p_coupon.code, p_coupon.valid_until USING ERRCODE = 'CD422';
    END IF;
    IF p_coupon.times_redeemed >= p_coupon.max_redemptions THEN
        RAISE EXCEPTION 'discount code "%" has been redeemed its % times', p_coupon.code, p_coupon.max_redemptions
            USING ERRCODE = 'CD422';
    END IF;
    IF p_coupon.currency IS NOT NULL AND p_coupon.currency IS DISTINCT FROM p_currency THEN
        RAISE EXCEPTION 'discount code "%" is an amount in %, this cart is in %', p_coupon.code, p_coupon.currency,
            coalesce(p_currency, 'no currency yet') USING ERRCODE = 'CD422';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM unnest(p_products) p
                    WHERE cardinality(p_coupon.applies_to_products) = 0 OR p = ANY (p_coupon.applies_to_products)) THEN
        RAISE EXCEPTION 'discount code "%" applies to none of the products in this cart', p_coupon.code
            USING ERRCODE = 'CD422';
    END IF;
END
$$;

-- A cart's discount as it stands (the computed field discount_amount): its items, under the
-- caller's row-level security, through coupon_discounts. Checkout may still refuse the code.
-- PL/pgSQL, not SQL: Citus cannot route a SQL function's statement on its parameters.
CREATE FUNCTION coditect.cart_discount_amount(p_cart coditect.carts) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_cart.coupon_id IS NULL THEN
        RETURN 0;
    END IF;
    RETURN (SELECT coalesce(sum(x), 0)::bigint
              FROM unnest(coditect_internal.coupon_discounts(
                       p_cart.coupon_id,
                       ARRAY(SELECT i.product_id FROM coditect.cart_items i
                              WHERE i.tenant_id = p_cart.tenant_id AND i.cart_id = p_cart.id ORDER BY i.created_at, i.id),
                       ARRAY(SELECT i.unit_amount * i.quantity FROM coditect.cart_items i
                              WHERE i.tenant_id = p_cart.tenant_id AND i.cart_id = p_cart.id ORDER BY i.created_at, i.id))) x);
END
$$;

------------------------------------------------------------------------------------------------
-- Resources: members see their own carts and orders, order.manage (administrators) all of the
-- tenant's (restrictive policies narrowing the tenant policy; lines, payments and refunds follow
-- their order). No request user (an analyst bound to the tenant, maintenance): the tenant's.
------------------------------------------------------------------------------------------------

SELECT coditect_internal.declare_permission('order.manage', 'Read and manage every cart and order of the tenant', 'admin');

SELECT coditect_internal.register_resource('coditect.carts', 'cart', p_state_machine => 'cart',
    p_roles => '{"view": "member", "create": "member", "delete": "member"}',
    p_create => '{currency}',
    p_filters => '{"status": ["exact", "in"], "currency": ["exact"], "user_id": ["exact"], "created_at": ["gte", "lt"],
                   "expires_at": ["gte", "lt"]}',
    p_orderings => '{created_at,expires_at}', p_audit_exclude => '{expires_at}',
    p_example => '{"currency": "USD"}');
SELECT coditect_internal.register_computed_field('cart', 'effective_status', 'coditect.cart_effective_status(coditect.carts)');
SELECT coditect_internal.register_computed_field('cart', 'discount_amount', 'coditect.cart_discount_amount(coditect.carts)');
REVOKE INSERT, UPDATE ON coditect.carts FROM coditect_gateway, coditect_service;
-- (UPDATE of currency: an empty cart's may change; the generated delete locks the row.)
GRANT INSERT (tenant_id, currency), UPDATE (currency) ON coditect.carts TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_resource('coditect.cart_items', 'cart_item',
    p_parent => 'cart', p_parent_column => 'cart_id', p_path => '/api/v1/carts/{cart_id}/items/',
    p_roles => '{"view": "member", "update": "member", "delete": "member"}',
    p_update => '{quantity}',
    p_filters => '{"product_id": ["exact"]}',
    p_orderings => '{created_at}', p_default_ordering => 'created_at', p_page_size => 100);
REVOKE INSERT, UPDATE ON coditect.cart_items FROM coditect_gateway, coditect_service;
GRANT INSERT (tenant_id, cart_id, product_id, quantity), UPDATE (quantity) ON coditect.cart_items
    TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_resource('coditect.orders', 'order', p_state_machine => 'order',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"status": ["exact", "in"], "currency": ["exact"], "user_id": ["exact"], "cart_id": ["exact"],
                   "created_at": ["gte", "lt"], "paid_at": ["gte", "lt"]}',
    p_orderings => '{created_at,total_amount}', p_keyset => true);
SELECT coditect_internal.register_resource('coditect.order_lines', 'order_line',
    p_parent => 'order', p_parent_column => 'order_id', p_path => '/api/v1/orders/{order_id}/lines/',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"product_id": ["exact"]}',
    p_orderings => '{created_at}', p_default_ordering => 'created_at', p_page_size => 100);
SELECT coditect_internal.register_resource('coditect.payments', 'payment', p_state_machine => 'payment',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"order_id": ["exact"], "status": ["exact", "in"], "payment_method": ["exact", "in"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}');
SELECT coditect_internal.register_resource('coditect.refunds', 'refund', p_state_machine => 'refund',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"order_id": ["exact"], "payment_id": ["exact"], "status": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}');

-- A cart's or an order's rows (items, lines, payments, refunds, invoices) are read with it: these
-- say whether the caller sees the cart or order (its policies decide: invoker rights). A function
-- call rather than an EXISTS in the policy, which Citus refuses (no subqueries in policies). C
-- (src_ext/pg_nested_read.cpp) calling the PL/pgSQL *_body, so that on a Citus worker the read
-- runs inside the shard query (Citus refuses a SQL function's parameters there).
CREATE FUNCTION coditect_internal.cart_visible_body(p_tenant uuid, p_cart uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM coditect.carts c
                    WHERE c.tenant_id OPERATOR(pg_catalog.=) p_tenant AND c.id OPERATOR(pg_catalog.=) p_cart);
END
$$;
CREATE FUNCTION coditect_internal.order_visible_body(p_tenant uuid, p_order uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM coditect.orders o
                    WHERE o.tenant_id OPERATOR(pg_catalog.=) p_tenant AND o.id OPERATOR(pg_catalog.=) p_order);
END
$$;
CREATE FUNCTION coditect_internal.cart_visible(p_tenant uuid, p_cart uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_cart_visible' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.order_visible(p_tenant uuid, p_order uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_order_visible' LANGUAGE C STABLE;
GRANT EXECUTE ON FUNCTION coditect_internal.cart_visible(uuid, uuid), coditect_internal.order_visible(uuid, uuid)
    TO coditect_gateway, coditect_service, coditect_analyst;

CREATE POLICY carts_own ON coditect.carts AS RESTRICTIVE
    USING (coditect.current_user_id() IS NULL OR user_id = coditect.current_user_id()
           OR coditect.has_permission('order.manage'));
CREATE POLICY cart_items_own ON coditect.cart_items AS RESTRICTIVE
    USING (coditect_internal.cart_visible(tenant_id, cart_id));
CREATE POLICY orders_own ON coditect.orders AS RESTRICTIVE
    USING (coditect.current_user_id() IS NULL OR user_id = coditect.current_user_id()
           OR coditect.has_permission('order.manage'));
CREATE POLICY order_lines_own ON coditect.order_lines AS RESTRICTIVE
    USING (coditect_internal.order_visible(tenant_id, order_id));
CREATE POLICY payments_own ON coditect.payments AS RESTRICTIVE
    USING (coditect_internal.order_visible(tenant_id, order_id));
CREATE POLICY refunds_own ON coditect.refunds AS RESTRICTIVE
    USING (coditect_internal.order_visible(tenant_id, order_id));

------------------------------------------------------------------------------------------------
-- Actions
------------------------------------------------------------------------------------------------

-- Adds a product to a cart (its quantity added to the item's if it is there already).
-- Invoker rights: the cart must be visible to the caller (its own, or order.manage).
CREATE FUNCTION coditect.cart_add_item(p_cart uuid, p_product uuid, p_quantity integer DEFAULT 1) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
BEGIN
    PERFORM coditect.require_permission('cart.add_item');
    IF NOT EXISTS (SELECT 1 FROM coditect.carts c WHERE c.tenant_id = v_tenant AND c.id = p_cart) THEN
        RAISE EXCEPTION 'cart % not found', p_cart USING ERRCODE = 'CD404';
    END IF;
    IF p_product IS NULL OR NOT EXISTS (SELECT 1 FROM coditect.products p WHERE p.id = p_product) THEN
        RAISE EXCEPTION 'product % not found', p_product USING ERRCODE = 'CD422';
    END IF;
    -- An absent body field arrives as NULL: the default, one.
    p_quantity := coalesce(p_quantity, 1);
    IF p_quantity < 1 THEN
        RAISE EXCEPTION 'quantity must be at least 1' USING ERRCODE = 'CD422';
    END IF;
    INSERT INTO coditect.cart_items AS i (tenant_id, cart_id, product_id, quantity)
    VALUES (v_tenant, p_cart, p_product, p_quantity)
    ON CONFLICT (tenant_id, cart_id, product_id) DO UPDATE SET quantity = i.quantity + excluded.quantity;
    RETURN coditect.api_carts_get(p_cart);
END
$$;

-- Applies a discount code to a cart (or, without a code, removes the cart's): the code must be
-- one a checkout of the cart would redeem now (coupon_check). Owner rights (clients cannot read
-- coupons), scoped to the request's tenant and to carts the caller may see.
CREATE FUNCTION coditect_internal.cart_apply_discount_as(p_cart uuid, p_code text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
    c coditect.carts;
    cp coditect.coupons;
BEGIN
    PERFORM coditect.require_permission('cart.apply_discount');
    SELECT * INTO c FROM coditect.carts
     WHERE tenant_id = tenant AND id = p_cart AND (user_id = coditect.current_user_id() OR coditect.has_permission('order.manage'))
       FOR UPDATE;
    IF c.id IS NULL THEN
        RAISE EXCEPTION 'cart % not found', p_cart USING ERRCODE = 'CD404';
    END IF;
    IF p_code IS NULL OR p_code !~ '\S' THEN
        UPDATE coditect.carts SET coupon_id = NULL, discount_code = NULL WHERE tenant_id = tenant AND id = c.id;
        RETURN c.id;
    END IF;
    SELECT * INTO cp FROM coditect.coupons x WHERE upper(x.code) = upper(btrim(p_code));
    PERFORM coditect_internal.coupon_check(cp, left(btrim(p_code), 50), c.currency,
        ARRAY(SELECT i.product_id FROM coditect.cart_items i WHERE i.tenant_id = tenant AND i.cart_id = c.id));
    -- (guard_cart refuses a closed or expired cart.)
    UPDATE coditect.carts SET coupon_id = cp.id, discount_code = cp.code WHERE tenant_id = tenant AND id = c.id;
    RETURN c.id;
END
$$;

-- Checkout: the cart (locked: a second checkout waits, then finds it checked out) becomes an
-- order with a line per item, priced from the products now, discounted by the cart's code
-- (checked again and redeemed, under the coupon's lock), taxed at the rate the billing address
-- selects. The billing address is, in this order: the given address (an address of type
-- billing of the tenant, or of the caller's user), the given country and subdivision (with a
-- free billing_address object), or the tenant's default billing address; its snapshot stays on
-- the order. Owner rights (clients do not write orders), scoped to the request's tenant and to
-- carts the caller may see.
CREATE FUNCTION coditect_internal.cart_checkout_as(p_cart uuid, p_country text DEFAULT NULL, p_state text DEFAULT NULL,
                                                   p_address jsonb DEFAULT NULL, p_billing_address uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
    me uuid := coditect.current_user_id();
    c coditect.carts;
    a coditect.addresses;
    cp coditect.coupons;
    rate coditect.tax_rates;
    missing text;
    v_country text := p_country;
    v_state text := p_state;
    v_address jsonb := coalesce(p_address, '{}');
    v_items uuid[];
    v_products uuid[];
    v_amounts bigint[];
    v_discounts bigint[];
    v_order uuid;
BEGIN
    PERFORM coditect.require_permission('cart.checkout');
    SELECT * INTO c FROM coditect.carts
     WHERE tenant_id = tenant AND id = p_cart AND (user_id = me OR coditect.has_permission('order.manage'))
       FOR UPDATE;
    IF c.id IS NULL THEN
        RAISE EXCEPTION 'cart % not found', p_cart USING ERRCODE = 'CD404';
    END IF;
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'cart % is %', c.id, c.status USING ERRCODE = 'CD409';
    END IF;
    IF c.expires_at <= now() THEN
        RAISE EXCEPTION 'cart % expired at %: start a new cart', c.id, c.expires_at USING ERRCODE = 'CD409';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM coditect.cart_items i WHERE i.tenant_id = tenant AND i.cart_id = c.id) THEN
        RAISE EXCEPTION 'cart % is empty', c.id USING ERRCODE = 'CD422';
    END IF;
    IF p_address IS NOT NULL AND jsonb_typeof(p_address) <> 'object' THEN
        RAISE EXCEPTION 'billing_address must be an object' USING ERRCODE = 'CD422';
    END IF;
    IF p_billing_address IS NOT NULL AND (p_country IS NOT NULL OR p_state IS NOT NULL OR p_address IS NOT NULL) THEN
        RAISE EXCEPTION 'give billing_address_id or country_code (with state_code and billing_address), not both'
            USING ERRCODE = 'CD422';
    END IF;
    IF p_country IS NULL AND (p_state IS NOT NULL OR p_address IS NOT NULL) THEN
        RAISE EXCEPTION 'country_code is required with state_code or billing_address (ISO 3166-1 alpha-2)' USING ERRCODE = 'CD422';
    END IF;
    IF p_billing_address IS NOT NULL THEN
        SELECT * INTO a FROM coditect.addresses x
         WHERE x.tenant_id = tenant AND x.id = p_billing_address AND x.address_type = 'billing'
           AND (x.entity_type = 'tenant' OR (x.entity_type = 'user' AND x.entity_id = me));
        IF a.id IS NULL THEN
            RAISE EXCEPTION 'billing address % not found (a billing address of the tenant or of your user)', p_billing_address
                USING ERRCODE = 'CD422';
        END IF;
    ELSIF p_country IS NULL THEN
        SELECT * INTO a FROM coditect.addresses x
         WHERE x.tenant_id = tenant AND x.entity_type = 'tenant' AND x.entity_id = tenant
           AND x.address_type = 'billing' AND x.is_default;
        IF a.id IS NULL THEN
            RAISE EXCEPTION 'no billing address: give billing_address_id or country_code, or set the tenant''s default billing address'
                USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF a.id IS NOT NULL THEN
        v_country := a.country_code;
        v_state := a.state_code;
        v_address := jsonb_strip_nulls(jsonb_build_object(
            'address_id', a.id, 'full_name', a.full_name, 'company_name', a.company_name,
            'address_line1', a.address_line1, 'address_line2', a.address_line2, 'city', a.city,
            'state_code', a.state_code, 'postal_code', a.postal_code, 'country_code', a.country_code, 'phone', a.phone));
    END IF;
    SELECT string_agg(format('"%s" requires "%s"', p.name, r.name), '; ' ORDER BY p.name, r.name) INTO missing
      FROM coditect.cart_items i
      JOIN coditect.products p ON p.id = i.product_id
      CROSS JOIN LATERAL unnest(p.requires) req(id)
      JOIN coditect.products r ON r.id = req.id
     WHERE i.tenant_id = tenant AND i.cart_id = c.id
       AND NOT EXISTS (SELECT 1 FROM coditect.cart_items j WHERE j.tenant_id = tenant AND j.cart_id = c.id AND j.product_id = req.id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'checkout refused: missing required products: %', missing USING ERRCODE = 'CD422';
    END IF;
    SELECT string_agg(format('"%s"', p.name), ', ' ORDER BY p.name) INTO missing
      FROM coditect.cart_items i JOIN coditect.products p ON p.id = i.product_id
     WHERE i.tenant_id = tenant AND i.cart_id = c.id AND (NOT p.active OR p.currency <> c.currency);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'checkout refused: no longer for sale in %: %', c.currency, missing USING ERRCODE = 'CD422';
    END IF;
    -- Validates the codes against the reference tables (CD422) and picks the rate.
    rate := coditect.select_tax_rate(v_country, v_state, now());

    SELECT array_agg(i.id ORDER BY i.created_at, i.id), array_agg(p.id ORDER BY i.created_at, i.id),
           array_agg(p.unit_amount * i.quantity ORDER BY i.created_at, i.id)
      INTO v_items, v_products, v_amounts
      FROM coditect.cart_items i JOIN coditect.products p ON p.id = i.product_id
     WHERE i.tenant_id = tenant AND i.cart_id = c.id;
    IF c.coupon_id IS NOT NULL THEN
        -- Checked again now, and redeemed: the lock serialises two checkouts racing for the
        -- last redemption.
        SELECT * INTO cp FROM coditect.coupons x WHERE x.id = c.coupon_id FOR UPDATE;
        PERFORM coditect_internal.coupon_check(cp, c.discount_code, c.currency, v_products);
        UPDATE coditect.coupons x SET times_redeemed = x.times_redeemed + 1 WHERE x.id = cp.id;
        v_discounts := coditect_internal.coupon_discounts(cp.id, v_products, v_amounts);
    ELSE
        v_discounts := ARRAY(SELECT 0::bigint FROM unnest(v_amounts));
    END IF;

    INSERT INTO coditect.orders (tenant_id, cart_id, user_id, currency, subtotal_amount, tax_amount, discount_amount,
                                 total_amount, coupon_id, discount_code,
                                 tax_rate_id, tax_display_name, tax_percentage, tax_inclusive,
                                 billing_country_code, billing_state_code, billing_address)
    SELECT tenant, c.id, me, c.currency, sum((t).net + l.d), sum((t).tax), sum(l.d), sum((t).gross), cp.id, cp.code,
           rate.id, rate.display_name, coalesce(rate.percentage, 0), coalesce(rate.inclusive, false),
           v_country, v_state, v_address
      FROM (SELECT u.d, coditect.tax_line(u.a - u.d, coalesce(rate.percentage, 0), coalesce(rate.inclusive, false)) AS t
              FROM unnest(v_amounts, v_discounts) u(a, d)) l
    RETURNING id INTO v_order;
    INSERT INTO coditect.order_lines (tenant_id, order_id, product_id, product_name, unit_amount, quantity,
                                      amount, discount_amount, net_amount, tax_amount, total_amount)
    SELECT tenant, v_order, p.id, p.name, p.unit_amount, i.quantity, 0, u.d, 0, 0, 0  -- priced by price_order_line
      FROM unnest(v_items, v_discounts) WITH ORDINALITY u(item, d, n)
      JOIN coditect.cart_items i ON i.tenant_id = tenant AND i.id = u.item
      JOIN coditect.products p ON p.id = i.product_id
     ORDER BY u.n;
    UPDATE coditect.carts SET status = 'checked_out' WHERE tenant_id = tenant AND id = c.id;
    RETURN v_order;
END
$$;

-- Cancels a pending order (its placer, or order.manage).
CREATE FUNCTION coditect_internal.order_cancel_as(p_order uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    o coditect.orders;
BEGIN
    PERFORM coditect.require_permission('order.cancel');
    SELECT * INTO o FROM coditect.orders
     WHERE tenant_id = v_tenant AND id = p_order
       AND (user_id = coditect.current_user_id() OR coditect.has_permission('order.manage'))
       FOR UPDATE;
    IF o.id IS NULL THEN
        RAISE EXCEPTION 'order % not found', p_order USING ERRCODE = 'CD404';
    END IF;
    IF o.status <> 'pending' THEN
        RAISE EXCEPTION 'order % is %: only a pending order is cancelled', o.id, o.status USING ERRCODE = 'CD409';
    END IF;
    UPDATE coditect.orders SET status = 'cancelled' WHERE tenant_id = o.tenant_id AND id = o.id;
    RETURN o.id;
END
$$;

-- The manual payment path (services only: a bank transfer seen, an invoice settled): a
-- succeeded payment of the order's total, which pays the order (payment_pays_order).
CREATE FUNCTION coditect.order_mark_paid(p_order uuid, p_reference text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    o coditect.orders;
    pay coditect.payments;
BEGIN
    SELECT * INTO o FROM coditect.orders WHERE tenant_id = v_tenant AND id = p_order FOR UPDATE;
    IF o.id IS NULL THEN
        RAISE EXCEPTION 'order % not found', p_order USING ERRCODE = 'CD404';
    END IF;
    IF o.status <> 'pending' THEN
        RAISE EXCEPTION 'order % is %: it takes no payment', o.id, o.status USING ERRCODE = 'CD409';
    END IF;
    IF o.total_amount = 0 THEN
        RAISE EXCEPTION 'order % costs nothing: there is nothing to pay', o.id USING ERRCODE = 'CD422';
    END IF;
    INSERT INTO coditect.payments (tenant_id, order_id, reference, amount, currency, status, payment_method)
    VALUES (o.tenant_id, o.id, left(p_reference, 255), o.total_amount, o.currency, 'succeeded', 'manual')
    RETURNING * INTO pay;
    RETURN to_jsonb(pay);
END
$$;

-- A refund of part or all of an order's payment (order.refund: administrators). The cap is
-- apply_refund's, under the payment's lock.
CREATE FUNCTION coditect_internal.order_refund_as(p_order uuid, p_amount bigint, p_reason text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
    pay coditect.payments;
    reason coditect.refund_reason;
    id uuid;
BEGIN
    PERFORM coditect.require_permission('order.refund');
    IF NOT EXISTS (SELECT 1 FROM coditect.orders o WHERE o.tenant_id = tenant AND o.id = p_order) THEN
        RAISE EXCEPTION 'order % not found', p_order USING ERRCODE = 'CD404';
    END IF;
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be a positive number of minor units' USING ERRCODE = 'CD422';
    END IF;
    IF p_reason IS NOT NULL AND p_reason NOT IN (SELECT unnest(enum_range(NULL::coditect.refund_reason))::text) THEN
        RAISE EXCEPTION 'reason must be one of duplicate, fraudulent, requested_by_customer' USING ERRCODE = 'CD422';
    END IF;
    reason := coalesce(p_reason, 'requested_by_customer')::coditect.refund_reason;
    SELECT * INTO pay FROM coditect.payments p
     WHERE p.tenant_id = tenant AND p.order_id = p_order AND p.status IN ('succeeded', 'refunded');
    IF pay.id IS NULL THEN
        RAISE EXCEPTION 'order % has no payment to refund', p_order USING ERRCODE = 'CD409';
    END IF;
    INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, amount, currency, reason, status, refunded_by)
    VALUES (tenant, pay.id, p_order, p_amount, pay.currency, reason, 'succeeded', coditect.current_user_id())
    RETURNING refunds.id INTO id;
    RETURN id;
END
$$;

SELECT coditect_internal.register_action('cart', 'add_item', 'coditect.cart_add_item(uuid, uuid, integer)',
    'POST', '/api/v1/carts/{id}/add/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "product_id", "required": true},
      {"from": "body_field", "name": "quantity"}]',
    p_min_role => 'member', p_response => '{"resource": "cart"}',
    p_summary => 'Add a product to the cart (quantity, default 1, added to the item''s); one currency per cart');
SELECT coditect_internal.register_action('cart', 'apply_discount', 'coditect.cart_apply_discount(uuid, text)',
    'POST', '/api/v1/carts/{id}/discount/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "code"}]',
    p_min_role => 'member', p_as => 'coditect_internal.cart_apply_discount_as(uuid, text)',
    p_summary => 'Apply a discount code to the cart (checked now and again at checkout); without a code, remove the cart''s');
SELECT coditect_internal.register_action('cart', 'checkout', 'coditect.cart_checkout(uuid, text, text, jsonb, uuid)',
    'POST', '/api/v1/carts/{id}/checkout/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "country_code"},
      {"from": "body_field", "name": "state_code"}, {"from": "body_field", "name": "billing_address"},
      {"from": "body_field", "name": "billing_address_id"}]',
    p_min_role => 'member', p_as => 'coditect_internal.cart_checkout_as(uuid, text, text, jsonb, uuid)',
    p_answers => 'order', p_status => 201,
    p_summary => 'Place the order: prices, the discount, the billing address (given by id, by country and state, or the tenant''s default) and its tax rate are snapshotted; every product''s requirements must be in the cart');
SELECT coditect_internal.register_action('order', 'cancel', 'coditect.order_cancel(uuid)',
    'POST', '/api/v1/orders/{id}/cancel/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'member', p_as => 'coditect_internal.order_cancel_as(uuid)',
    p_summary => 'Cancel a pending order (who placed it, or an administrator)');
SELECT coditect_internal.register_action('order', 'refund', 'coditect.order_refund(uuid, bigint, text)',
    'POST', '/api/v1/orders/{id}/refunds/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "amount", "required": true},
      {"from": "body_field", "name": "reason"}]',
    p_min_role => 'admin', p_as => 'coditect_internal.order_refund_as(uuid, bigint, text)',
    p_answers => 'refund', p_status => 201,
    p_summary => 'Refund part or all of a paid order (minor units); refunds never exceed what was paid');

REVOKE ALL ON FUNCTION coditect_internal.cart_checkout_as(uuid, text, text, jsonb, uuid), coditect_internal.order_cancel_as(uuid),
    coditect_internal.order_refund_as(uuid, bigint, text), coditect.order_mark_paid(uuid, text),
    coditect_internal.cart_apply_discount_as(uuid, text), coditect_internal.coupon_discounts(uuid, uuid[], bigint[]),
    coditect_internal.coupon_check(coditect.coupons, text, text, uuid[]), coditect.cart_discount_amount(coditect.carts) FROM PUBLIC;
-- The computed field discount_amount of carts, for whoever reads carts.
GRANT EXECUTE ON FUNCTION coditect.cart_discount_amount(coditect.carts), coditect_internal.coupon_discounts(uuid, uuid[], bigint[])
    TO coditect_gateway, coditect_service, coditect_analyst;
GRANT EXECUTE ON FUNCTION coditect.order_mark_paid(uuid, text) TO coditect_service;
GRANT EXECUTE ON FUNCTION coditect.cart_ttl() TO coditect_gateway, coditect_service, coditect_analyst;

-- Maintenance (DBA and its pg_cron job): open carts past their expiry become expired; expired
-- carts a week past it are deleted (with their items). Returns how many of each.
CREATE FUNCTION coditect.expire_carts(OUT expired bigint, OUT deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.carts SET status = 'expired' WHERE status = 'active' AND expires_at <= now();
    GET DIAGNOSTICS expired = ROW_COUNT;
    DELETE FROM coditect.carts WHERE status = 'expired' AND expires_at <= now() - interval '7 days';
    GET DIAGNOSTICS deleted = ROW_COUNT;
    deleted := deleted + coditect_internal.purge_guest_carts();  -- (87_guest_carts)
END
$$;
REVOKE ALL ON FUNCTION coditect.expire_carts() FROM PUBLIC;
------------------------------------------------------------------------------------------------
-- 21. 86_subscriptions (as in sql/86_subscriptions.sql)
------------------------------------------------------------------------------------------------

-- 86_subscriptions: subscriptions and entitlements (issue 12). An entitlement is what a tenant
-- holds of a product, from a source (a subscription here; a paid order line through the same
-- function when orders are paid): while it lasts, and when the product grants a license, a license
-- with the product's tier, features and seats. Entitlements are made and ended by the database
-- only, in the transaction that makes a subscription active or ends it, through the one pair
-- coditect_internal.entitlement_grant / entitlement_end.
--
-- Subscriptions follow Stripe's statuses: a new one is `trialing` when the product has a trial,
-- else `incomplete` until its first payment (`coditect.subscription_activate`, the manual path of
-- local use; Stripe's customer.subscription.* events will drive the same transitions); an
-- incomplete one left unpaid for 23 hours expires (`incomplete_expired`, the job). Canceling
-- at the period's end keeps the access until then; the pg_cron job ends what is due. A
-- subscription keeps the price, currency and interval it was made with; monthly and yearly
-- periods end on the billing cycle anchor's day (clamped to the month's last day).

CREATE TYPE coditect.subscription_status AS ENUM ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due',
                                                 'unpaid', 'canceled');
COMMENT ON TYPE coditect.subscription_status IS
    'incomplete -> active | incomplete_expired (unpaid 23 hours); trialing -> active | past_due; active <-> past_due -> unpaid; any live -> canceled. Entitled while trialing, active or past_due.';
CREATE TYPE coditect.entitlement_status AS ENUM ('active', 'ended');
CREATE TYPE coditect.entitlement_source AS ENUM ('subscription', 'order');

CREATE TABLE coditect.subscriptions (
    tenant_id              uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                     uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    product_id             uuid NOT NULL REFERENCES coditect.products (id),
    status                 coditect.subscription_status NOT NULL DEFAULT 'incomplete',
    quantity               integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 10000),
    -- The product's price and interval when subscribed (subscription_rules): a later change of
    -- the product's price does not change the subscription's.
    unit_amount            bigint NOT NULL CHECK (unit_amount >= 0),
    currency               varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    recurring_interval     coditect.recurring_interval NOT NULL,
    recurring_interval_count integer NOT NULL CHECK (recurring_interval_count BETWEEN 1 AND 365),
    current_period_start   timestamptz NOT NULL DEFAULT now(),
    current_period_end     timestamptz NOT NULL,
    trial_start            timestamptz,
    trial_end              timestamptz,
    -- The seeds' day of month (UTC) on which monthly and yearly periods end (the day subscribed
    -- when not given); the first period runs to its first occurrence.
    billing_cycle_anchor   integer CHECK (billing_cycle_anchor BETWEEN 1 AND 31),
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    canceled_at            timestamptz,
    ended_at               timestamptz,
    stripe_subscription_id varchar(255),
    last_payment_reference varchar(255),  -- the payment that paid the current period
    created_by             uuid DEFAULT coditect.current_user_id(),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT subscriptions_period_check CHECK (current_period_end > current_period_start),
    CONSTRAINT subscriptions_trial_check CHECK ((trial_start IS NULL) = (trial_end IS NULL) AND (trial_end IS NULL OR trial_end > trial_start)),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.subscriptions', '{tenant_id,created_by}', '{created_by}');
CREATE INDEX subscriptions_tenant_status_idx ON coditect.subscriptions (tenant_id, status);
CREATE INDEX subscriptions_tenant_created_idx ON coditect.subscriptions (tenant_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX subscriptions_tenant_stripe_key ON coditect.subscriptions (tenant_id, stripe_subscription_id);
-- One live subscription per tenant and product.
CREATE UNIQUE INDEX subscriptions_one_live_key ON coditect.subscriptions (tenant_id, product_id)
    WHERE status NOT IN ('canceled', 'incomplete_expired');
-- The job's scan of what is due (few rows: the live ones).
CREATE INDEX subscriptions_due_idx ON coditect.subscriptions (tenant_id, current_period_end)
    WHERE status NOT IN ('canceled', 'incomplete_expired');
-- The job's scan of first payments overdue.
CREATE INDEX subscriptions_incomplete_idx ON coditect.subscriptions (tenant_id, created_at) WHERE status = 'incomplete';

CREATE TABLE coditect.entitlements (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    product_id      uuid NOT NULL REFERENCES coditect.products (id),
    source_type     coditect.entitlement_source NOT NULL,
    source_id       uuid NOT NULL,   -- the subscription, or the order line
    subscription_id uuid,
    license_id      uuid,
    status          coditect.entitlement_status NOT NULL DEFAULT 'active',
    starts_at       timestamptz NOT NULL DEFAULT now(),
    ends_at         timestamptz,     -- NULL: no end (a one-time purchase without a duration)
    ended_at        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES coditect.subscriptions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, license_id) REFERENCES coditect.licenses (tenant_id, id),
    CONSTRAINT entitlements_subscription_check CHECK ((source_type = 'subscription') = (subscription_id IS NOT NULL)
                                                      AND (subscription_id IS NULL OR subscription_id = source_id))
);
SELECT coditect_internal.declare_null_on_delete('coditect.entitlements', '{tenant_id,license_id}', '{license_id}');
-- One live entitlement per source and product: granting twice (a replayed event) grants once.
CREATE UNIQUE INDEX entitlements_one_live_key ON coditect.entitlements (tenant_id, source_type, source_id, product_id)
    WHERE status = 'active';
CREATE INDEX entitlements_tenant_created_idx ON coditect.entitlements (tenant_id, created_at DESC, id DESC);
CREATE INDEX entitlements_tenant_product_idx ON coditect.entitlements (tenant_id, product_id, status);
CREATE INDEX entitlements_due_idx ON coditect.entitlements (tenant_id, ends_at) WHERE status = 'active';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('subscription', NULL,         'incomplete', NULL),
    ('subscription', NULL,         'trialing',   NULL),
    ('subscription', 'incomplete', 'active',     NULL),
    ('subscription', 'incomplete', 'canceled',   'canceled_at'),
    ('subscription', 'incomplete', 'incomplete_expired', 'ended_at'),
    ('subscription', 'trialing',   'active',     NULL),
    ('subscription', 'trialing',   'past_due',   NULL),
    ('subscription', 'trialing',   'canceled',   'canceled_at'),
    ('subscription', 'active',     'past_due',   NULL),
    ('subscription', 'active',     'canceled',   'canceled_at'),
    ('subscription', 'past_due',   'active',     NULL),
    ('subscription', 'past_due',   'unpaid',     NULL),
    ('subscription', 'past_due',   'canceled',   'canceled_at'),
    ('subscription', 'unpaid',     'active',     NULL),
    ('subscription', 'unpaid',     'canceled',   'canceled_at'),
    ('entitlement',  NULL,         'active',     NULL),
    ('entitlement',  'active',     'ended',      'ended_at');

------------------------------------------------------------------------------------------------
-- Entitlements: the one way in and out
------------------------------------------------------------------------------------------------

-- Grants the product to the tenant from the source, until p_ends_at (NULL: no end); issues the
-- product's license (tier, features, seats x p_quantity, expiring with the entitlement) when it
-- grants one. A source already entitled to the product is extended instead. Returns the
-- entitlement.
CREATE FUNCTION coditect_internal.entitlement_grant(p_tenant uuid, p_product uuid, p_source coditect.entitlement_source,
                                                    p_source_id uuid, p_ends_at timestamptz, p_quantity int DEFAULT 1)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p   coditect.products;
    e   coditect.entitlements;
    lic uuid;
    v_key text;
BEGIN
    SELECT * INTO STRICT p FROM coditect.products x WHERE x.id = p_product;
    SELECT * INTO e FROM coditect.entitlements x
     WHERE x.tenant_id = p_tenant AND x.source_type = p_source AND x.source_id = p_source_id
       AND x.product_id = p_product AND x.status = 'active'
       FOR UPDATE;
    IF e.id IS NOT NULL THEN
        UPDATE coditect.entitlements x SET ends_at = p_ends_at WHERE x.tenant_id = p_tenant AND x.id = e.id;
        UPDATE coditect.licenses l SET expiry_date = coalesce(p_ends_at, 'infinity'), is_active = true,
                                       seats_total = greatest(l.seats_in_use, p.license_seats * p_quantity)
         WHERE l.tenant_id = p_tenant AND l.id = e.license_id;
        RETURN e.id;
    END IF;
    IF p.grants_license THEN
        lic := coditect.uuid_generate_v7();
        v_key := coditect.license_key_generate();
        PERFORM coditect_internal.global_key_claim('licenses.key_string', v_key, p_tenant, lic);
        INSERT INTO coditect.licenses (tenant_id, id, key_string, tier, features, seats_total, expiry_date, created_by)
        VALUES (p_tenant, lic, v_key, p.license_tier, p.license_features, p.license_seats * p_quantity,
                coalesce(p_ends_at, 'infinity'), NULL);
    END IF;
    INSERT INTO coditect.entitlements (tenant_id, product_id, source_type, source_id, subscription_id, license_id, ends_at)
    VALUES (p_tenant, p_product, p_source, p_source_id, CASE WHEN p_source = 'subscription' THEN p_source_id END, lic, p_ends_at)
    RETURNING id INTO e.id;
    RETURN e.id;
END
$$;

-- Ends the source's live entitlements at p_at: now or earlier, they end (and their licenses
-- stop); later, they end then (the job ends them when it comes, and reads say so meanwhile).
CREATE FUNCTION coditect_internal.entitlement_end(p_tenant uuid, p_source coditect.entitlement_source, p_source_id uuid,
                                                  p_at timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int;
BEGIN
    UPDATE coditect.entitlements x SET ends_at = p_at,
           status = CASE WHEN p_at <= now() THEN 'ended'::coditect.entitlement_status ELSE x.status END
     WHERE x.tenant_id = p_tenant AND x.source_type = p_source AND x.source_id = p_source_id AND x.status = 'active';
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE coditect.licenses l SET expiry_date = LEAST(l.expiry_date, p_at),
           is_active = l.is_active AND p_at > now()
      FROM coditect.entitlements x
     WHERE x.tenant_id = p_tenant AND x.source_type = p_source AND x.source_id = p_source_id
       AND l.tenant_id = x.tenant_id AND l.id = x.license_id;
    RETURN n;
END
$$;

-- How long a subscription waits for its first payment before it expires (Stripe: 23 hours).
CREATE FUNCTION coditect.subscription_incomplete_ttl() RETURNS interval
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT interval '23 hours' $$;
GRANT EXECUTE ON FUNCTION coditect.subscription_incomplete_ttl() TO coditect_gateway, coditect_service, coditect_analyst;

------------------------------------------------------------------------------------------------
-- Subscriptions' rules, for every writer
------------------------------------------------------------------------------------------------

-- BEFORE INSERT: a subscription is of an active recurring product whose price, currency and
-- interval it snapshots; its first period (to the anchor's day) and trial come from them; it
-- starts trialing (a trial) or incomplete (awaiting its payment).
-- BEFORE UPDATE: the product, price and interval stay; a renewal moves the period forward only.
-- Invoker's rights: row_security_active() then tells a client (under the policies) from
-- owner-rights code.
CREATE FUNCTION coditect_internal.subscription_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p coditect.products;
BEGIN
    -- Another tenant's row from a client: the policy refuses it (owner-rights writers, to whom
    -- no policy applies, are held to every rule below).
    IF row_security_active('coditect.subscriptions') AND coditect.current_tenant_id() IS NOT NULL
       AND NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM coditect.products x WHERE x.id = NEW.product_id;
    IF TG_OP = 'INSERT' THEN
        IF p.id IS NULL OR NOT p.active OR p.recurring_interval IS NULL THEN
            RAISE EXCEPTION 'product % is not an active subscription product', NEW.product_id USING ERRCODE = 'CD422';
        END IF;
        NEW.current_period_start := now();
        NEW.unit_amount := p.unit_amount;
        NEW.currency := p.currency;
        NEW.recurring_interval := p.recurring_interval;
        NEW.recurring_interval_count := p.recurring_interval_count;
        NEW.billing_cycle_anchor := coalesce(NEW.billing_cycle_anchor, extract(day FROM now() AT TIME ZONE 'UTC')::int);
        NEW.created_by := coalesce(coditect.current_user_id(), NEW.created_by);
        NEW.last_payment_reference := NULL;
        -- A trial once per tenant and product: a canceled subscription does not earn a new one.
        IF p.trial_period_days IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM coditect.subscriptions x WHERE x.tenant_id = NEW.tenant_id AND x.product_id = NEW.product_id) THEN
            NEW.status := 'trialing';
            NEW.trial_start := now();
            NEW.trial_end := now() + make_interval(days => p.trial_period_days);
            NEW.current_period_end := NEW.trial_end;
        ELSE
            NEW.status := 'incomplete';
            NEW.trial_start := NULL;
            NEW.trial_end := NULL;
            NEW.current_period_end := coditect_internal.subscription_first_period_end(
                NEW.recurring_interval, NEW.recurring_interval_count, NEW.billing_cycle_anchor, now());
        END IF;
        NEW.canceled_at := NULL;
        NEW.ended_at := NULL;
        RETURN NEW;
    END IF;
    IF NEW.product_id IS DISTINCT FROM OLD.product_id THEN
        RAISE EXCEPTION 'a subscription keeps its product (cancel it and subscribe to the other)' USING ERRCODE = 'CD422';
    END IF;
    IF (NEW.unit_amount, NEW.currency, NEW.recurring_interval, NEW.recurring_interval_count, NEW.billing_cycle_anchor)
       IS DISTINCT FROM (OLD.unit_amount, OLD.currency, OLD.recurring_interval, OLD.recurring_interval_count, OLD.billing_cycle_anchor) THEN
        RAISE EXCEPTION 'a subscription keeps the price, interval and billing cycle anchor it was made with' USING ERRCODE = 'CD422';
    END IF;
    IF NEW.current_period_end < OLD.current_period_end THEN
        RAISE EXCEPTION 'a subscription''s period only moves forward' USING ERRCODE = 'CD422';
    END IF;
    IF OLD.status IN ('canceled', 'incomplete_expired')
       AND (NEW.cancel_at_period_end, NEW.quantity) IS DISTINCT FROM (OLD.cancel_at_period_end, OLD.quantity) THEN
        RAISE EXCEPTION 'a % subscription does not change', OLD.status USING ERRCODE = 'CD409';
    END IF;
    RETURN NEW;
END
$$;

-- The end of the period that starts at p_from, for an interval of p_count x p_interval.
-- Days and weeks: p_from plus the interval. Months and years: the anchor's day (UTC) of the
-- month that many months after p_from's, at p_from's time of day, the day clamped to the
-- month's last: from the anchor every time, never from the previous end, so that an anchor
-- of 31 gives 31 Jan -> 29 Feb (28 in other years) -> 31 Mar -> 30 Apr -> 31 May.
CREATE FUNCTION coditect_internal.subscription_period_end(p_interval coditect.recurring_interval, p_count integer,
                                                          p_anchor integer, p_from timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_interval
               WHEN 'day' THEN p_from + make_interval(days => p_count)
               WHEN 'week' THEN p_from + make_interval(weeks => p_count)
               ELSE coditect_internal.anchored_date(
                        date_trunc('month', p_from AT TIME ZONE 'UTC')
                            + make_interval(months => CASE WHEN p_interval = 'year' THEN 12 ELSE 1 END * p_count),
                        coalesce(p_anchor, extract(day FROM p_from AT TIME ZONE 'UTC')::int), p_from) END
$$;

-- The anchor's day of the month starting at p_month (UTC), clamped to its last day, at p_from's
-- time of day.
CREATE FUNCTION coditect_internal.anchored_date(p_month timestamp, p_anchor integer, p_from timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (p_month
            + make_interval(days => least(p_anchor, extract(day FROM p_month + interval '1 month' - interval '1 day')::int) - 1)
            + ((p_from AT TIME ZONE 'UTC') - date_trunc('day', p_from AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC'
$$;

-- The end of a subscription's first period: with the anchor on another day than p_from's, the
-- first occurrence of the anchor's day after p_from (a shorter first period, as Stripe's
-- billing_cycle_anchor makes it); else a whole period.
CREATE FUNCTION coditect_internal.subscription_first_period_end(p_interval coditect.recurring_interval, p_count integer,
                                                                p_anchor integer, p_from timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_interval IN ('day', 'week') OR p_anchor IS NULL
                     OR coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC'), p_anchor, p_from) = p_from
                THEN coditect_internal.subscription_period_end(p_interval, p_count, p_anchor, p_from)
                WHEN coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC'), p_anchor, p_from) > p_from
                THEN coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC'), p_anchor, p_from)
                ELSE coditect_internal.anchored_date(date_trunc('month', p_from AT TIME ZONE 'UTC') + interval '1 month',
                                                     p_anchor, p_from) END
$$;

-- AFTER INSERT OR UPDATE: entitled while trialing, active or past_due, to the end of the period
-- (and a trial's); canceled: until the period's end when canceled at it, else now.
CREATE FUNCTION coditect_internal.subscription_entitlements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status IN ('trialing', 'active', 'past_due') THEN
        -- A trial entitles one unit: seats are paid for.
        PERFORM coditect_internal.entitlement_grant(NEW.tenant_id, NEW.product_id, 'subscription', NEW.id,
                                                    NEW.current_period_end,
                                                    CASE WHEN NEW.status = 'trialing' THEN 1 ELSE NEW.quantity END);
    ELSIF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('canceled', 'unpaid') THEN
        PERFORM coditect_internal.entitlement_end(NEW.tenant_id, 'subscription', NEW.id,
            CASE WHEN NEW.status = 'canceled' AND NEW.cancel_at_period_end AND NEW.current_period_end > now()
                 THEN NEW.current_period_end ELSE now() END);
    END IF;
    RETURN NULL;
END
$$;

-- (Pure, and called by the invoker-rights rules.)
GRANT EXECUTE ON FUNCTION
    coditect_internal.subscription_period_end(coditect.recurring_interval, integer, integer, timestamptz),
    coditect_internal.subscription_first_period_end(coditect.recurring_interval, integer, integer, timestamptz),
    coditect_internal.anchored_date(timestamp, integer, timestamptz)
    TO coditect_gateway, coditect_service;
CREATE TRIGGER subscription_rules BEFORE INSERT OR UPDATE ON coditect.subscriptions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.subscription_rules();
CREATE TRIGGER subscription_entitlements AFTER INSERT OR UPDATE OF status, current_period_end, quantity ON coditect.subscriptions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.subscription_entitlements();
ALTER TABLE coditect.subscriptions ENABLE ALWAYS TRIGGER subscription_rules, ENABLE ALWAYS TRIGGER subscription_entitlements;

------------------------------------------------------------------------------------------------
-- Resources and actions
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.subscriptions', 'subscription', p_state_machine => 'subscription',
    p_roles => '{"view": "admin", "create": "admin"}',
    p_create => '{product_id,quantity,billing_cycle_anchor}',
    p_filters => '{"status": ["exact", "in"], "product_id": ["exact"], "current_period_end": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,current_period_end}');
-- The period, the status and Stripe's id are the database's and the billing side's: clients
-- subscribe (choosing the product and quantity) and cancel, through the action.
REVOKE INSERT, UPDATE, DELETE ON coditect.subscriptions FROM coditect_gateway, coditect_service;
GRANT INSERT (tenant_id, id, product_id, quantity, billing_cycle_anchor, created_by) ON coditect.subscriptions
    TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_resource('coditect.entitlements', 'entitlement', p_state_machine => 'entitlement',
    p_writable => false, p_roles => '{"view": "member"}',
    p_filters => '{"status": ["exact"], "product_id": ["exact"], "source_type": ["exact"], "subscription_id": ["exact"],
                   "ends_at": ["gte", "lt", "isnull"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,starts_at}');

-- POST /api/v1/subscriptions/{id}/cancel/ {"at_period_end": true}: at the period's end (access
-- until then; the job cancels it), or now (access ends now).
CREATE FUNCTION coditect_internal.subscription_cancel_as(p_id uuid, p_at_period_end boolean DEFAULT true) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    s coditect.subscriptions;
BEGIN
    PERFORM coditect.require_permission('subscription.cancel');
    SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = v_tenant AND x.id = p_id FOR UPDATE;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'subscription % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    IF s.status IN ('canceled', 'incomplete_expired') THEN
        RAISE EXCEPTION 'the subscription is already %', s.status USING ERRCODE = 'CD409';
    END IF;
    IF coalesce(p_at_period_end, true) AND s.status IN ('trialing', 'active', 'past_due') THEN
        UPDATE coditect.subscriptions x SET cancel_at_period_end = true WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    ELSE
        UPDATE coditect.subscriptions x SET status = 'canceled', cancel_at_period_end = false, ended_at = now()
         WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    END IF;
    RETURN s.id;
END
$$;
SELECT coditect_internal.register_action('subscription', 'cancel', 'coditect.subscription_cancel(uuid, boolean)',
    'POST', '/api/v1/subscriptions/{id}/cancel/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "at_period_end"}]',
    p_min_role => 'admin', p_as => 'coditect_internal.subscription_cancel_as(uuid, boolean)',
    p_summary => 'Cancel a subscription at its period''s end (default; entitled until then) or now');

-- The manual payment path (local use; Stripe's invoice.paid will do the same): a service, in the
-- tenant's request context, marks a subscription's period paid with the payment's reference:
-- incomplete, past_due or unpaid becomes active, and an active one renews for the next period.
-- The same reference again changes nothing (a retried call pays no second period).
-- coditect_internal.subscription_pay is the path itself, for the tenant given (Stripe's
-- invoice.paid, 88_invoices, runs without a request context).
CREATE FUNCTION coditect_internal.subscription_pay(p_tenant uuid, p_id uuid, p_reference text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.subscriptions;
BEGIN
    IF p_reference IS NULL OR p_reference !~ '\S' OR char_length(p_reference) > 255 THEN
        RAISE EXCEPTION 'a payment reference (1 to 255 characters) names the payment' USING ERRCODE = 'CD400';
    END IF;
    SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = p_tenant AND x.id = p_id FOR UPDATE;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'subscription % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    IF s.last_payment_reference IS NOT DISTINCT FROM p_reference THEN
        NULL;  -- already applied
    ELSIF s.status IN ('canceled', 'incomplete_expired') THEN
        RAISE EXCEPTION 'the subscription is %', s.status USING ERRCODE = 'CD409';
    ELSIF s.status = 'active' AND s.current_period_end > now() THEN
        UPDATE coditect.subscriptions x SET current_period_start = s.current_period_end, last_payment_reference = p_reference,
               current_period_end = coditect_internal.subscription_period_end(s.recurring_interval, s.recurring_interval_count,
                                                                              s.billing_cycle_anchor, s.current_period_end)
         WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    ELSE
        UPDATE coditect.subscriptions x SET status = 'active', current_period_start = now(), last_payment_reference = p_reference,
               current_period_end = greatest(s.current_period_end,
                   coditect_internal.subscription_period_end(s.recurring_interval, s.recurring_interval_count,
                                                             s.billing_cycle_anchor, now()))
         WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
    END IF;
    RETURN (SELECT to_jsonb(x) FROM coditect.subscriptions x WHERE x.tenant_id = s.tenant_id AND x.id = s.id);
END
$$;
CREATE FUNCTION coditect.subscription_activate(p_id uuid, p_reference text) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect_internal.subscription_pay(coditect.current_tenant_id(), p_id, p_reference)
$$;
REVOKE ALL ON FUNCTION coditect_internal.subscription_pay(uuid, uuid, text) FROM PUBLIC;
COMMENT ON FUNCTION coditect.subscription_activate(uuid, text) IS
    'The manual payment of a subscription''s period (services, in the tenant''s context): active from now, or renewed; idempotent by the payment reference';
REVOKE ALL ON FUNCTION coditect.subscription_activate(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.subscription_activate(uuid, text) TO coditect_service;

-- The job (pg_cron, every 5 minutes; all tenants): subscriptions canceled at their period's end
-- are canceled when it comes, trials that ended unpaid become past_due, subscriptions still
-- incomplete 23 hours after they were made expire (Stripe's incomplete_expired: the first
-- payment never came), and entitlements past their end end (their licenses stop). Returns how
-- many rows it changed.
CREATE FUNCTION coditect.subscription_maintenance() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int := 0;
    k int;
BEGIN
    UPDATE coditect.subscriptions x SET status = 'canceled', ended_at = x.current_period_end
     WHERE x.status NOT IN ('canceled', 'incomplete_expired') AND x.cancel_at_period_end AND x.current_period_end <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    UPDATE coditect.subscriptions x SET status = 'past_due'
     WHERE x.status = 'trialing' AND x.trial_end <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    UPDATE coditect.subscriptions x SET status = 'incomplete_expired'
     WHERE x.status = 'incomplete' AND x.created_at <= now() - coditect.subscription_incomplete_ttl();
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    UPDATE coditect.licenses l SET is_active = false
      FROM coditect.entitlements e
     WHERE e.status = 'active' AND e.ends_at <= now() AND l.tenant_id = e.tenant_id AND l.id = e.license_id AND l.is_active;
    UPDATE coditect.entitlements e SET status = 'ended' WHERE e.status = 'active' AND e.ends_at <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    RETURN n + k;
END
$$;
COMMENT ON FUNCTION coditect.subscription_maintenance() IS
    'Cancels subscriptions due at their period''s end, moves ended trials to past_due, expires subscriptions incomplete for 23 hours, ends entitlements past their end (all tenants; the pg_cron job coditect-subscriptions)';

------------------------------------------------------------------------------------------------
-- A license issued for an entitlement changes with it only: a client (to whom row-level security
-- applies) cannot switch it back on, extend it, or change its tier, features or seats.
------------------------------------------------------------------------------------------------

-- Invoker's rights, so that row_security_active() is the writer's (the entitlement functions,
-- owner-rights, are not held back).
CREATE FUNCTION coditect_internal.guard_entitled_license() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF row_security_active('coditect.licenses')
       AND EXISTS (SELECT 1 FROM coditect.entitlements e WHERE e.tenant_id = OLD.tenant_id AND e.license_id = OLD.id)
       AND (TG_OP = 'DELETE' OR (NEW.tier, NEW.features, NEW.seats_total, NEW.expiry_date, NEW.is_active)
                                IS DISTINCT FROM (OLD.tier, OLD.features, OLD.seats_total, OLD.expiry_date, OLD.is_active)) THEN
        RAISE EXCEPTION 'this license comes with an entitlement: it changes with its subscription or order'
            USING ERRCODE = 'CD403';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
-- Only updates that name a term fire it: the seat counter's (seats_in_use) does not.
CREATE TRIGGER guard_entitled_license BEFORE UPDATE OF tier, features, seats_total, expiry_date, is_active OR DELETE
    ON coditect.licenses FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_entitled_license();
ALTER TABLE coditect.licenses ENABLE ALWAYS TRIGGER guard_entitled_license;

------------------------------------------------------------------------------------------------
-- Orders (84_orders): a paid order entitles its products, in the transaction that marks it paid
-- (the manual payment, Stripe next); a product that grants a license issues it, for the
-- product's license_duration_days (or without end). A fully refunded order ends them.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.order_entitlements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l record;
BEGIN
    IF NEW.status = 'paid' AND OLD.status IS DISTINCT FROM 'paid' THEN
        FOR l IN SELECT ol.id, ol.product_id, ol.quantity, p.license_duration_days
                   FROM coditect.order_lines ol JOIN coditect.products p ON p.id = ol.product_id
                  WHERE ol.tenant_id = NEW.tenant_id AND ol.order_id = NEW.id AND p.recurring_interval IS NULL LOOP
            PERFORM coditect_internal.entitlement_grant(NEW.tenant_id, l.product_id, 'order', l.id,
                CASE WHEN l.license_duration_days IS NOT NULL THEN now() + make_interval(days => l.license_duration_days) END,
                l.quantity);
        END LOOP;
    ELSIF NEW.status = 'refunded' AND OLD.status IS DISTINCT FROM 'refunded' THEN
        PERFORM coditect_internal.entitlement_end(NEW.tenant_id, 'order', ol.id, now())
           FROM coditect.order_lines ol WHERE ol.tenant_id = NEW.tenant_id AND ol.order_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER order_entitlements AFTER UPDATE OF status ON coditect.orders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.order_entitlements();
ALTER TABLE coditect.orders ENABLE ALWAYS TRIGGER order_entitlements;

------------------------------------------------------------------------------------------------
-- 22. 87_guest_carts (as in sql/87_guest_carts.sql)
------------------------------------------------------------------------------------------------

-- 87_guest_carts: carts before sign-in (issue 12). A tenant's cart lives under the tenant's
-- row-level security, which a visitor without an account has not got. So a guest cart is kept
-- apart, in an owner-only table, and reached only through its token: 128 random bits shown once
-- to its maker (stored as their SHA-256, like the document shares' tokens), used as a capability
-- by SECURITY DEFINER functions that take nothing else. One token reaches one cart; an unknown,
-- expired or claimed token is not found. At sign-in the cart is claimed: its items move into a
-- cart of the user's tenant (priced anew), and the guest cart is gone.

CREATE TABLE coditect_internal.guest_carts (
    id         uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    token_hash varchar(64) NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    currency   varchar(3) REFERENCES coditect.currencies (code),
    -- [{"product_id": ..., "quantity": n}], at most 50 products.
    items      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(items) = 'array' AND jsonb_array_length(items) <= 50),
    expires_at timestamptz NOT NULL DEFAULT now() + coditect.cart_ttl(),  -- (84_orders: a cart's life)
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX guest_carts_expires_idx ON coditect_internal.guest_carts (expires_at);
REVOKE ALL ON coditect_internal.guest_carts FROM PUBLIC;
COMMENT ON TABLE coditect_internal.guest_carts IS
    'Carts of visitors before sign-in, reached only by their token (stored as its SHA-256); 24 hours after the last change.';

-- The live guest cart of a token, locked; NULL for any other token.
CREATE FUNCTION coditect_internal.guest_cart_of(p_token uuid) RETURNS coditect_internal.guest_carts
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT g.* FROM coditect_internal.guest_carts g
     WHERE g.token_hash = coditect_internal.share_token_hash(p_token) AND g.expires_at > now()
       FOR UPDATE
$$;

-- What a guest cart shows: its items with the products' current names and prices.
CREATE FUNCTION coditect_internal.guest_cart_json(g coditect_internal.guest_carts) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT jsonb_build_object(
        'currency', g.currency, 'expires_at', g.expires_at,
        'items', coalesce((SELECT jsonb_agg(jsonb_build_object('product_id', p.id, 'name', p.name, 'unit_amount', p.unit_amount,
                                                               'quantity', (i ->> 'quantity')::int) ORDER BY n)
                             FROM jsonb_array_elements(g.items) WITH ORDINALITY x (i, n)
                             JOIN coditect.products p ON p.id = (i ->> 'product_id')::uuid), '[]'),
        'subtotal', coalesce((SELECT sum(p.unit_amount * (i ->> 'quantity')::int)
                                FROM jsonb_array_elements(g.items) i JOIN coditect.products p ON p.id = (i ->> 'product_id')::uuid), 0))
$$;

-- POST /api/v1/guest-carts/ (no login): a new guest cart and its token, shown this once.
CREATE FUNCTION coditect.guest_cart_create() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    token uuid := coditect_internal.share_token_generate();
    g     coditect_internal.guest_carts;
BEGIN
    INSERT INTO coditect_internal.guest_carts (token_hash) VALUES (coditect_internal.share_token_hash(token)) RETURNING * INTO g;
    RETURN jsonb_build_object('token', token) || coditect_internal.guest_cart_json(g);
END
$$;

-- GET /api/v1/guest-carts/{token}/: the cart; NULL (404) for any token but a live cart's.
-- (A read: no lock, so that it runs in the gateway's read-only transaction of a GET.)
-- The row first, then its answer: on Citus a function of a scanned row would be pushed to the
-- shards, where the row's type is the shard's.
CREATE FUNCTION coditect.guest_cart_view(p_token uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g coditect_internal.guest_carts;
BEGIN
    SELECT x.* INTO g FROM coditect_internal.guest_carts x
     WHERE x.token_hash = coditect_internal.share_token_hash(p_token) AND x.expires_at > now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN coditect_internal.guest_cart_json(g);
END
$$;

-- POST /api/v1/guest-carts/{token}/add/ {"product_id", "quantity"}: adds to the quantity of an
-- active product, in the cart's one currency; the cart lives cart_ttl() (24 hours) from now.
CREATE FUNCTION coditect.guest_cart_add(p_token uuid, p_product uuid, p_quantity int DEFAULT 1) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g   coditect_internal.guest_carts := coditect_internal.guest_cart_of(p_token);
    p   coditect.products;
    q   int;
BEGIN
    IF g.id IS NULL THEN
        RETURN NULL;  -- (before looking at the body: an unknown token learns nothing)
    END IF;
    IF p_product IS NULL THEN
        RAISE EXCEPTION 'product_id is required' USING ERRCODE = 'CD400';
    END IF;
    SELECT * INTO p FROM coditect.products x WHERE x.id = p_product AND x.active;
    IF p.id IS NULL THEN
        RAISE EXCEPTION 'product % is not for sale', p_product USING ERRCODE = 'CD422';
    END IF;
    IF g.currency IS NOT NULL AND p.currency <> g.currency THEN
        RAISE EXCEPTION 'product "%" is priced in %, this cart in %', p.name, p.currency, g.currency USING ERRCODE = 'CD422';
    END IF;
    q := coalesce((SELECT (i ->> 'quantity')::int FROM jsonb_array_elements(g.items) i WHERE (i ->> 'product_id')::uuid = p.id), 0)
         + coalesce(p_quantity, 1);
    IF coalesce(p_quantity, 1) < 1 OR q > 10000 THEN
        RAISE EXCEPTION 'a quantity is 1 to 10000' USING ERRCODE = 'CD400';
    END IF;
    UPDATE coditect_internal.guest_carts x
       SET currency = p.currency, updated_at = now(), expires_at = now() + coditect.cart_ttl(),
           items = coalesce((SELECT jsonb_agg(i) FROM jsonb_array_elements(g.items) i WHERE (i ->> 'product_id')::uuid <> p.id), '[]')
                   || jsonb_build_array(jsonb_build_object('product_id', p.id, 'quantity', q))
     WHERE x.id = g.id
    RETURNING * INTO g;
    RETURN coditect_internal.guest_cart_json(g);
END
$$;

-- POST /api/v1/guest-carts/{token}/claim/ (signed in): the guest cart becomes a cart of the
-- caller's tenant, its items priced anew; the token stops working.
CREATE FUNCTION coditect_internal.guest_cart_claim_as(p_token uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g    coditect_internal.guest_carts;
    cart uuid;
BEGIN
    PERFORM coditect.require_permission('cart.create');
    g := coditect_internal.guest_cart_of(p_token);
    IF g.id IS NULL THEN
        RAISE EXCEPTION 'guest cart not found' USING ERRCODE = 'CD404';
    END IF;
    INSERT INTO coditect.carts (tenant_id, user_id, currency)
    VALUES (coditect.current_tenant_id(), coditect.current_user_id(), g.currency)
    RETURNING id INTO cart;
    INSERT INTO coditect.cart_items (tenant_id, cart_id, product_id, quantity, unit_amount, currency)
    SELECT coditect.current_tenant_id(), cart, p.id, (i ->> 'quantity')::int, p.unit_amount, p.currency
      FROM jsonb_array_elements(g.items) i JOIN coditect.products p ON p.id = (i ->> 'product_id')::uuid;
    DELETE FROM coditect_internal.guest_carts x WHERE x.id = g.id;
    RETURN cart;
END
$$;

-- Maintenance (the cart job's, 84_orders' expire_carts): guest carts past their time go.
CREATE FUNCTION coditect_internal.purge_guest_carts() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM coditect_internal.guest_carts g WHERE g.expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

SELECT coditect_internal.register_action('cart', 'guest_create', 'coditect.guest_cart_create()',
    'POST', '/api/v1/guest-carts/', '[]', p_auth => 'none', p_status => 201,
    p_summary => 'A cart before sign-in (no login): its token, shown this once, is the only way to it');
SELECT coditect_internal.register_action('cart', 'guest_view', 'coditect.guest_cart_view(uuid)',
    'GET', '/api/v1/guest-carts/{token}/', '[{"from": "path", "name": "token", "secret": true}]', p_auth => 'none',
    p_response => '{"null_answer": {"status": 404, "detail": "guest cart not found"}}',
    p_summary => 'A guest cart by its token (no login); unknown, expired or claimed: 404');
SELECT coditect_internal.register_action('cart', 'guest_add', 'coditect.guest_cart_add(uuid, uuid, integer)',
    'POST', '/api/v1/guest-carts/{token}/add/',
    '[{"from": "path", "name": "token", "secret": true}, {"from": "body_field", "name": "product_id"},
      {"from": "body_field", "name": "quantity"}]', p_auth => 'none',
    p_response => '{"null_answer": {"status": 404, "detail": "guest cart not found"}}',
    p_summary => 'Add a product to a guest cart (no login)');
SELECT coditect_internal.register_action('cart', 'guest_claim', 'coditect.guest_cart_claim(uuid)',
    'POST', '/api/v1/guest-carts/{token}/claim/', '[{"from": "path", "name": "token", "secret": true}]',
    p_permission => 'cart.create', p_as => 'coditect_internal.guest_cart_claim_as(uuid)', p_status => 201,
    p_summary => 'At sign-in: the guest cart becomes a cart of the caller''s tenant (priced anew); the token stops working');

------------------------------------------------------------------------------------------------
-- 23. 88_invoices (as in sql/88_invoices.sql)
------------------------------------------------------------------------------------------------

-- 88_invoices: invoices (issue 12, the seeds' Invoice "synced from Stripe") and the Stripe
-- webhook's handlers (59_stripe_webhooks dispatches; README, Stripe webhooks). Stripe is the
-- source of the billing facts; the database keeps its rules: a handler finds its tenant from the
-- event's customer (tenants.stripe_customer_id, coditect.set_stripe_customer), works in that
-- tenant only, and writes through the same tables, triggers and functions as every other path
-- (a payment row pays its order by payment_pays_order, refunds are capped by apply_refund,
-- subscriptions move along their state machine and entitle by subscription_entitlements, a
-- period is paid by subscription_pay). An event it cannot apply is refused (stored with the
-- reason, nothing changed); amounts pass through the one unit map, coditect.stripe_amount.

------------------------------------------------------------------------------------------------
-- Stripe's units: the one map at the boundary
------------------------------------------------------------------------------------------------

-- Digits of the minor unit in which Stripe expresses amounts of a currency (Stripe's "zero-decimal"
-- and "three-decimal" lists; every other currency two). ISK and UGX are zero-decimal currencies
-- that Stripe still sends as two-decimal (amounts divisible by 100); HUF and TWD are two-decimal
-- for charges (their zero-decimal rule is for payouts, which the handlers do not read).
CREATE FUNCTION coditect.stripe_currency_exponent(p_currency text) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN upper(p_currency) IN ('BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'VND',
                                           'VUV', 'XAF', 'XOF', 'XPF') THEN 0
                WHEN upper(p_currency) IN ('BHD', 'JOD', 'KWD', 'OMR', 'TND') THEN 3
                ELSE 2 END::smallint
$$;

-- Stripe's amount of a currency (its code in any case, as Stripe sends it lower-case) in our
-- minor units (coditect.currencies.exponent, from ICU): 500 ISK from Stripe (5.00) is 5 of ours,
-- 1000 KWD (1.000) is 1000. Refused (CD422): a currency we do not know, an amount that is not a
-- whole number, or one with a fraction of our minor unit (5.50 ISK).
CREATE FUNCTION coditect.stripe_amount(p_amount numeric, p_currency text) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ours  smallint;
    shift int;
BEGIN
    IF p_amount IS NULL OR p_currency IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT c.exponent INTO ours FROM coditect.currencies c WHERE c.code = upper(p_currency);
    IF ours IS NULL THEN
        RAISE EXCEPTION 'currency "%" is not an ISO 4217 currency we know', p_currency USING ERRCODE = 'CD422';
    END IF;
    IF p_amount <> trunc(p_amount) THEN
        RAISE EXCEPTION 'Stripe amount % % is not a whole number of minor units', p_amount, upper(p_currency) USING ERRCODE = 'CD422';
    END IF;
    shift := coditect.stripe_currency_exponent(p_currency) - ours;
    IF shift > 0 AND mod(p_amount, 10::numeric ^ shift) <> 0 THEN
        RAISE EXCEPTION 'Stripe amount % % (% decimals) is not a whole number of % minor units (% decimals)', p_amount,
            upper(p_currency), coditect.stripe_currency_exponent(p_currency), upper(p_currency), ours USING ERRCODE = 'CD422';
    END IF;
    IF abs(p_amount) >= 10::numeric ^ 18 THEN
        RAISE EXCEPTION 'Stripe amount % % is out of range', p_amount, upper(p_currency) USING ERRCODE = 'CD422';
    END IF;
    RETURN (p_amount * 10::numeric ^ (-shift))::bigint;
END
$$;
GRANT EXECUTE ON FUNCTION coditect.stripe_currency_exponent(text), coditect.stripe_amount(numeric, text)
    TO coditect_gateway, coditect_service, coditect_analyst;

------------------------------------------------------------------------------------------------
-- Invoices
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.invoice_status AS ENUM ('draft', 'open', 'paid', 'void', 'uncollectible');
COMMENT ON TYPE coditect.invoice_status IS
    'Stripe''s invoice statuses: draft -> open -> paid | void | uncollectible; uncollectible -> paid | void. Paid and void are final.';

CREATE TABLE coditect.invoices (
    tenant_id          uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                 uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    -- Stripe's number (given at finalization: none while a draft).
    number             varchar(255),
    status             coditect.invoice_status NOT NULL DEFAULT 'draft',
    currency           varchar(3) NOT NULL REFERENCES coditect.currencies (code),
    -- Minor units of currency: the lines net of tax, what discounts took off, the tax, and the total.
    subtotal_amount    bigint NOT NULL CHECK (subtotal_amount >= 0),
    discount_amount    bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
    tax_amount         bigint NOT NULL DEFAULT 0 CHECK (tax_amount >= 0),
    total_amount       bigint NOT NULL CHECK (total_amount >= 0),
    -- What is asked now (the total less the customer's credit), paid of it, and left.
    amount_due         bigint NOT NULL CHECK (amount_due >= 0),
    amount_paid        bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    amount_remaining   bigint NOT NULL CHECK (amount_remaining >= 0),
    -- The service period billed (a subscription's period).
    period_start       timestamptz,
    period_end         timestamptz,
    subscription_id    uuid,
    order_id           uuid,
    stripe_invoice_id  varchar(255),
    hosted_invoice_url coditect.url,
    due_date           timestamptz,
    finalized_at       timestamptz,
    paid_at            timestamptz,
    voided_at          timestamptz,
    marked_uncollectible_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES coditect.subscriptions (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES coditect.orders (tenant_id, id),
    CONSTRAINT invoices_total CHECK (total_amount = subtotal_amount - discount_amount + tax_amount),
    CONSTRAINT invoices_amount_paid CHECK (amount_paid + amount_remaining = amount_due),
    CONSTRAINT invoices_paid_in_full CHECK (status <> 'paid' OR amount_remaining = 0),
    CONSTRAINT invoices_period CHECK (period_end >= period_start)
);
COMMENT ON TABLE coditect.invoices IS
    'Invoices (Stripe''s, synced by the webhook''s invoice.* handler): amounts in minor units that add up, a state machine, final once paid or void.';
CREATE INDEX invoices_tenant_created_idx ON coditect.invoices (tenant_id, created_at DESC, id DESC);
CREATE INDEX invoices_status_idx ON coditect.invoices (tenant_id, status, created_at DESC);
CREATE INDEX invoices_subscription_idx ON coditect.invoices (tenant_id, subscription_id, created_at DESC);
CREATE INDEX invoices_order_idx ON coditect.invoices (tenant_id, order_id);
CREATE UNIQUE INDEX invoices_stripe_invoice ON coditect.invoices (tenant_id, stripe_invoice_id);
CREATE UNIQUE INDEX invoices_number ON coditect.invoices (tenant_id, number);

-- A payment names the invoice it paid (the seeds' Payment.invoice, SET NULL).
ALTER TABLE coditect.payments ADD FOREIGN KEY (tenant_id, invoice_id) REFERENCES coditect.invoices (tenant_id, id);
SELECT coditect_internal.declare_null_on_delete('coditect.payments', '{tenant_id,invoice_id}', '{invoice_id}');

-- The first status seen may be any (Stripe makes, finalizes and pays an automatic invoice at
-- once; an event may come late); afterwards only Stripe's moves.
INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('invoice', NULL,            'draft',         NULL),
    ('invoice', NULL,            'open',          'finalized_at'),
    ('invoice', NULL,            'paid',          'paid_at'),
    ('invoice', NULL,            'void',          'voided_at'),
    ('invoice', NULL,            'uncollectible', 'marked_uncollectible_at'),
    ('invoice', 'draft',         'open',          'finalized_at'),
    ('invoice', 'open',          'paid',          'paid_at'),
    ('invoice', 'open',          'void',          'voided_at'),
    ('invoice', 'open',          'uncollectible', 'marked_uncollectible_at'),
    ('invoice', 'uncollectible', 'paid',          'paid_at'),
    ('invoice', 'uncollectible', 'void',          'voided_at'),
    -- Stripe retries a PaymentIntent after a failed attempt (the same pi_), and reports a
    -- failure it never showed pending.
    ('payment', 'failed',        'succeeded',     'succeeded_at'),
    ('payment', NULL,            'failed',        NULL),
    -- Stripe gives a trial at checkout to a product we bill without one.
    ('subscription', 'incomplete', 'trialing',    NULL);

-- Once paid or void, nothing in an invoice changes; invoices are deleted only with their tenant
-- (keep_rows, 84_orders).
CREATE FUNCTION coditect_internal.guard_invoice() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.status IN ('paid', 'void') AND to_jsonb(NEW) - 'updated_at' <> to_jsonb(OLD) - 'updated_at' THEN
        RAISE EXCEPTION 'invoice % is %: nothing in it can change', OLD.id, OLD.status USING ERRCODE = 'CD409';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER guard_invoice BEFORE UPDATE ON coditect.invoices
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_invoice();
CREATE TRIGGER keep_rows BEFORE DELETE ON coditect.invoices
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_rows('invoices are kept: void invoice %s instead');
ALTER TABLE coditect.invoices ENABLE ALWAYS TRIGGER guard_invoice, ENABLE ALWAYS TRIGGER keep_rows;

-- Read like orders: owners and administrators (order.manage) every invoice of the tenant,
-- members the invoices of their own orders (orders_own decides), no request user (an analyst
-- bound to the tenant) the tenant's. Clients write none: the service role (in its tenant's
-- context) and the webhook's handlers do.
SELECT coditect_internal.register_resource('coditect.invoices', 'invoice', p_state_machine => 'invoice',
    p_roles => '{"view": "member"}', p_writable => false,
    p_filters => '{"status": ["exact", "in"], "currency": ["exact"], "subscription_id": ["exact"], "order_id": ["exact"],
                   "number": ["exact"], "created_at": ["gte", "lt"], "due_date": ["gte", "lt"], "paid_at": ["gte", "lt"],
                   "period_start": ["gte", "lt"]}',
    p_orderings => '{created_at,total_amount}');
CREATE POLICY invoices_own ON coditect.invoices AS RESTRICTIVE
    USING (coditect.current_user_id() IS NULL OR coditect.has_permission('order.manage')
           OR coditect_internal.order_visible(tenant_id, order_id));
GRANT INSERT, UPDATE ON coditect.invoices TO coditect_service;

------------------------------------------------------------------------------------------------
-- The handlers' common steps
------------------------------------------------------------------------------------------------

-- Refuses the event being handled: everything the handler did is undone and the event is stored
-- refused with this reason (stripe_webhook catches CDR01).
CREATE FUNCTION coditect_internal.stripe_refuse(p_reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '%', p_reason USING ERRCODE = 'CDR01';
END
$$;

-- Records what a handler did with its event (status processed or skipped, a reason, the tenant).
CREATE FUNCTION coditect_internal.stripe_outcome(e coditect_internal.stripe_events, p_status text, p_reason text)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE coditect_internal.stripe_events x SET status = p_status, reason = p_reason WHERE x.event_id = e.event_id
$$;

-- The tenant of the event's data.object.customer (refused when no tenant has that customer);
-- stored on the event.
CREATE FUNCTION coditect_internal.stripe_tenant(e coditect_internal.stripe_events) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    customer text := CASE jsonb_typeof(e.data_object -> 'customer')
                          WHEN 'string' THEN e.data_object ->> 'customer'
                          WHEN 'object' THEN e.data_object #>> '{customer,id}' END;
    t uuid;
BEGIN
    IF customer IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('%s %s names no customer', e.data_object ->> 'object', e.object_id));
    END IF;
    SELECT k.tenant_id INTO t FROM coditect_internal.global_keys k
     WHERE k.kind = 'tenants.stripe_customer_id' AND k.value = customer;
    IF t IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('unknown customer %s: no tenant is bound to it (coditect.set_stripe_customer)', customer));
    END IF;
    UPDATE coditect_internal.stripe_events x SET tenant_id = t WHERE x.event_id = e.event_id;
    RETURN t;
END
$$;

-- An amount of the event (a JSON number) in our minor units, through the one map; what cannot be
-- represented refuses the event.
CREATE FUNCTION coditect_internal.stripe_money(p_amount jsonb, p_currency text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_amount IS NULL OR jsonb_typeof(p_amount) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_amount) <> 'number' THEN
        PERFORM coditect_internal.stripe_refuse(format('amount %s is not a number', p_amount));
    END IF;
    RETURN coditect.stripe_amount(p_amount::text::numeric, p_currency);
EXCEPTION WHEN SQLSTATE 'CD422' THEN
    PERFORM coditect_internal.stripe_refuse(SQLERRM);
    RETURN NULL;
END
$$;

-- Our uuid in a Stripe field (client_reference_id, metadata.order_id), or NULL.
CREATE FUNCTION coditect_internal.stripe_uuid(p_value text) RETURNS uuid
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN p_value::uuid END
$$;

-- A Unix time of the event, or NULL.
CREATE FUNCTION coditect_internal.stripe_time(p_value jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(p_value) = 'number' THEN to_timestamp(p_value::text::double precision) END
$$;

-- Whether an event of the same object, created later than this one, was applied already (Stripe
-- does not deliver in order): then this one is stale.
CREATE FUNCTION coditect_internal.stripe_stale(e coditect_internal.stripe_events) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM coditect_internal.stripe_events x
                    WHERE x.object_id = e.object_id AND x.created > e.created AND x.event_id <> e.event_id
                      AND x.status IN ('processed', 'skipped') AND split_part(x.event_type, '.', 1) = split_part(e.event_type, '.', 1))
$$;

-- Serialises the handling of one Stripe object (two deliveries of events of one new invoice or
-- subscription would both insert it): a transaction lock on its id.
CREATE FUNCTION coditect_internal.stripe_lock(e coditect_internal.stripe_events) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('coditect.stripe:' || e.object_id, 0))
$$;

-- The order an event names, of the tenant (locked), or a refusal.
CREATE FUNCTION coditect_internal.stripe_order(e coditect_internal.stripe_events, p_tenant uuid, p_ref text)
RETURNS coditect.orders
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o coditect.orders;
BEGIN
    IF p_ref IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('%s %s names no order (client_reference_id or metadata.order_id)',
                                                       e.data_object ->> 'object', e.object_id));
    END IF;
    SELECT * INTO o FROM coditect.orders x
     WHERE x.tenant_id = p_tenant AND x.id = coditect_internal.stripe_uuid(p_ref) FOR UPDATE;
    IF o.id IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('order %s is not an order of the customer''s tenant', p_ref));
    END IF;
    RETURN o;
END
$$;

------------------------------------------------------------------------------------------------
-- Payments: checkout.session.completed, payment_intent.succeeded, payment_intent.payment_failed
------------------------------------------------------------------------------------------------

-- Pays the order with Stripe's PaymentIntent: a succeeded payment row (guard_payment checks it is
-- of the order's total and currency while the order is pending; payment_pays_order pays the order;
-- order_entitlements issues its entitlements and licenses), the same path as the manual payment.
-- A PaymentIntent that paid already changes nothing (Stripe tells it by the session and by the
-- intent); one that failed before succeeds now (Stripe retries the same intent).
CREATE FUNCTION coditect_internal.stripe_pay_order(e coditect_internal.stripe_events, p_tenant uuid, p_order text,
                                                   p_intent text, p_amount jsonb, p_currency text,
                                                   p_session text, p_charge text, p_method text, p_invoice text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o      coditect.orders := coditect_internal.stripe_order(e, p_tenant, p_order);
    pay    coditect.payments;
    amount bigint;
    cur    text := upper(p_currency);
    inv    uuid;
BEGIN
    IF p_intent IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('%s %s names no payment_intent', e.data_object ->> 'object', e.object_id));
    END IF;
    SELECT * INTO pay FROM coditect.payments x WHERE x.tenant_id = p_tenant AND x.stripe_payment_intent_id = p_intent FOR UPDATE;
    IF pay.id IS NOT NULL AND pay.order_id <> o.id THEN
        PERFORM coditect_internal.stripe_refuse(format('payment intent %s paid order %s, not %s', p_intent, pay.order_id, o.id));
    END IF;
    IF pay.status IN ('succeeded', 'refunded') THEN
        -- Told again (the session after the intent, or the other way round): what is new is kept.
        UPDATE coditect.payments x SET stripe_charge_id = p_charge
         WHERE x.tenant_id = p_tenant AND x.id = pay.id AND x.stripe_charge_id IS NULL AND p_charge IS NOT NULL;
        UPDATE coditect.orders x SET stripe_checkout_session_id = p_session
         WHERE x.tenant_id = p_tenant AND x.id = o.id AND x.stripe_checkout_session_id IS NULL AND p_session IS NOT NULL;
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('payment intent %s paid order %s already', p_intent, o.id));
        RETURN;
    END IF;
    amount := coditect_internal.stripe_money(p_amount, p_currency);
    IF o.status <> 'pending' THEN
        PERFORM coditect_internal.stripe_refuse(format('order %s is %s: it takes no payment (payment intent %s is to be refunded in Stripe)',
                                                       o.id, o.status, p_intent));
    END IF;
    IF amount IS DISTINCT FROM o.total_amount OR cur IS DISTINCT FROM o.currency THEN
        PERFORM coditect_internal.stripe_refuse(format('amount mismatch: payment intent %s paid %s, order %s totals %s', p_intent,
            coalesce(coditect.money_format(amount, cur), 'nothing'), o.id, coditect.money_format(o.total_amount, o.currency)));
    END IF;
    SELECT x.id INTO inv FROM coditect.invoices x WHERE x.tenant_id = p_tenant AND x.stripe_invoice_id = p_invoice;
    UPDATE coditect.orders x SET stripe_payment_intent_id = p_intent,
           stripe_checkout_session_id = coalesce(x.stripe_checkout_session_id, p_session)
     WHERE x.tenant_id = p_tenant AND x.id = o.id;
    IF pay.id IS NOT NULL THEN
        UPDATE coditect.payments x SET status = 'succeeded', stripe_charge_id = coalesce(p_charge, x.stripe_charge_id),
               invoice_id = coalesce(inv, x.invoice_id)
         WHERE x.tenant_id = p_tenant AND x.id = pay.id;
    ELSE
        INSERT INTO coditect.payments (tenant_id, order_id, invoice_id, stripe_payment_intent_id, stripe_charge_id, amount, currency,
                                       status, payment_method)
        VALUES (p_tenant, o.id, inv, p_intent, p_charge, amount, cur, 'succeeded', p_method::coditect.payment_method);
    END IF;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

-- Our payment method of a PaymentIntent's or Session's payment_method_types.
CREATE FUNCTION coditect_internal.stripe_method(p_object jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_object #>> '{payment_method_types,0}' IN ('us_bank_account', 'sepa_debit', 'bacs_debit', 'au_becs_debit',
                                                                'acss_debit', 'customer_balance')
                THEN 'bank_account' ELSE 'card' END
$$;

-- checkout.session.completed. Mode payment: the order of client_reference_id, paid by the
-- session's payment_intent (payment_status paid; an asynchronous method's session is paid later,
-- by its payment_intent.succeeded). Mode subscription: the subscription of client_reference_id
-- (ours, subscribed through the API) is bound to Stripe's (its customer.subscription.* events
-- then find it).
CREATE FUNCTION coditect_internal.stripe_checkout_completed(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t   uuid := coditect_internal.stripe_tenant(e);
    obj jsonb := e.data_object;
    s   coditect.subscriptions;
BEGIN
    IF obj ->> 'mode' = 'subscription' THEN
        SELECT * INTO s FROM coditect.subscriptions x
         WHERE x.tenant_id = t AND x.id = coditect_internal.stripe_uuid(obj ->> 'client_reference_id') FOR UPDATE;
        IF s.id IS NULL THEN
            PERFORM coditect_internal.stripe_outcome(e, 'skipped',
                'no subscription of the tenant in client_reference_id: its customer.subscription.* events apply it');
        ELSIF s.stripe_subscription_id IS NOT DISTINCT FROM obj ->> 'subscription' THEN
            PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('subscription %s is bound already', s.id));
        ELSIF s.stripe_subscription_id IS NOT NULL OR obj ->> 'subscription' IS NULL THEN
            PERFORM coditect_internal.stripe_refuse(format('subscription %s is bound to %s, not %s', s.id,
                                                           s.stripe_subscription_id, obj ->> 'subscription'));
        ELSE
            UPDATE coditect.subscriptions x SET stripe_subscription_id = obj ->> 'subscription' WHERE x.tenant_id = t AND x.id = s.id;
            PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
        END IF;
        RETURN;
    END IF;
    IF obj ->> 'payment_status' IS DISTINCT FROM 'paid' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('payment_status %s: the payment intent''s events pay it',
                                                                      coalesce(obj ->> 'payment_status', 'missing')));
        RETURN;
    END IF;
    PERFORM coditect_internal.stripe_pay_order(e, t, obj ->> 'client_reference_id', obj ->> 'payment_intent',
                                               obj -> 'amount_total', obj ->> 'currency', obj ->> 'id', NULL,
                                               coditect_internal.stripe_method(obj), obj ->> 'invoice');
END
$$;

-- payment_intent.succeeded: the order of metadata.order_id, paid by the intent (amount_received).
CREATE FUNCTION coditect_internal.stripe_payment_succeeded(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t   uuid := coditect_internal.stripe_tenant(e);
    obj jsonb := e.data_object;
BEGIN
    PERFORM coditect_internal.stripe_pay_order(e, t, obj #>> '{metadata,order_id}', obj ->> 'id',
                                               obj -> 'amount_received', obj ->> 'currency', NULL,
                                               CASE jsonb_typeof(obj -> 'latest_charge') WHEN 'string' THEN obj ->> 'latest_charge'
                                                    WHEN 'object' THEN obj #>> '{latest_charge,id}' END,
                                               coditect_internal.stripe_method(obj), obj ->> 'invoice');
END
$$;

-- payment_intent.payment_failed: a failed payment of the order with last_payment_error's code and
-- message (the order stays pending; the same intent failing again updates them).
CREATE FUNCTION coditect_internal.stripe_payment_failed(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t      uuid := coditect_internal.stripe_tenant(e);
    obj    jsonb := e.data_object;
    o      coditect.orders := coditect_internal.stripe_order(e, t, obj #>> '{metadata,order_id}');
    pay    coditect.payments;
    amount bigint := coditect_internal.stripe_money(obj -> 'amount', obj ->> 'currency');
    code   text := left(coalesce(obj #>> '{last_payment_error,decline_code}', obj #>> '{last_payment_error,code}'), 50);
    msg    text := left(coalesce(obj #>> '{last_payment_error,message}', obj #>> '{last_payment_error,code}'), 500);
BEGIN
    SELECT * INTO pay FROM coditect.payments x WHERE x.tenant_id = t AND x.stripe_payment_intent_id = obj ->> 'id' FOR UPDATE;
    IF pay.id IS NOT NULL AND pay.order_id <> o.id THEN
        PERFORM coditect_internal.stripe_refuse(format('payment intent %s is of order %s, not %s', obj ->> 'id', pay.order_id, o.id));
    ELSIF pay.status IN ('pending', 'processing', 'failed') THEN
        UPDATE coditect.payments x SET status = 'failed', failure_code = code, failure_message = msg
         WHERE x.tenant_id = t AND x.id = pay.id;
    ELSIF pay.id IS NOT NULL THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('payment intent %s is %s already', obj ->> 'id', pay.status));
        RETURN;
    ELSIF o.status <> 'pending' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('order %s is %s', o.id, o.status));
        RETURN;
    ELSIF amount IS DISTINCT FROM o.total_amount OR upper(obj ->> 'currency') IS DISTINCT FROM o.currency THEN
        PERFORM coditect_internal.stripe_refuse(format('amount mismatch: payment intent %s is of %s, order %s totals %s', obj ->> 'id',
            coalesce(coditect.money_format(amount, upper(obj ->> 'currency')), 'nothing'), o.id,
            coditect.money_format(o.total_amount, o.currency)));
    ELSE
        INSERT INTO coditect.payments (tenant_id, order_id, stripe_payment_intent_id, amount, currency, status, payment_method,
                                       failure_code, failure_message)
        VALUES (t, o.id, obj ->> 'id', amount, o.currency, 'failed', coditect_internal.stripe_method(obj)::coditect.payment_method,
                code, msg);
    END IF;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

------------------------------------------------------------------------------------------------
-- Refunds: charge.refunded
------------------------------------------------------------------------------------------------

-- charge.refunded: each refund of refunds.data (id re_, amount, reason, status) becomes a refund
-- row of the charge's payment, once by stripe_refund_id (a later status moves it along the
-- machine); apply_refund caps them under the payment's lock as for every refund. A charge
-- without the refunds list (API versions since 2022-11-15 do not include it) gives its
-- amount_refunded: the part not yet refunded here becomes one refund.
CREATE FUNCTION coditect_internal.stripe_charge_refunded(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t       uuid := coditect_internal.stripe_tenant(e);
    obj     jsonb := e.data_object;
    pay     coditect.payments;
    r       jsonb;
    old     coditect.refunds;
    amount  bigint;
    st      coditect.refund_status;
    changes int := 0;
BEGIN
    SELECT * INTO pay FROM coditect.payments x
     WHERE x.tenant_id = t AND (x.stripe_payment_intent_id = obj ->> 'payment_intent' OR x.stripe_charge_id = obj ->> 'id')
     ORDER BY x.stripe_charge_id = obj ->> 'id' DESC NULLS LAST LIMIT 1
       FOR UPDATE;  -- a concurrent delivery of the charge's refunds waits, then finds them
    IF pay.id IS NULL THEN
        PERFORM coditect_internal.stripe_refuse(format('charge %s (payment intent %s) paid no payment of the customer''s tenant',
                                                       obj ->> 'id', coalesce(obj ->> 'payment_intent', 'none')));
    END IF;
    UPDATE coditect.payments x SET stripe_charge_id = obj ->> 'id' WHERE x.tenant_id = t AND x.id = pay.id AND x.stripe_charge_id IS NULL;
    BEGIN
        IF jsonb_typeof(obj #> '{refunds,data}') = 'array' THEN
            FOR r IN SELECT x FROM jsonb_array_elements(obj #> '{refunds,data}') x ORDER BY x -> 'created', x ->> 'id' LOOP
                st := CASE r ->> 'status' WHEN 'succeeded' THEN 'succeeded' WHEN 'failed' THEN 'failed'
                                          WHEN 'canceled' THEN 'cancelled' ELSE 'pending' END;
                SELECT * INTO old FROM coditect.refunds x WHERE x.tenant_id = t AND x.stripe_refund_id = r ->> 'id';
                IF old.id IS NOT NULL THEN
                    IF old.status <> st AND old.status = 'pending' THEN
                        UPDATE coditect.refunds x SET status = st WHERE x.tenant_id = t AND x.id = old.id;
                        changes := changes + 1;
                    END IF;
                    CONTINUE;
                END IF;
                IF st IN ('failed', 'cancelled') THEN
                    CONTINUE;  -- never took anything here
                END IF;
                amount := coditect_internal.stripe_money(r -> 'amount', coalesce(r ->> 'currency', obj ->> 'currency'));
                IF upper(coalesce(r ->> 'currency', obj ->> 'currency')) <> pay.currency THEN
                    PERFORM coditect_internal.stripe_refuse(format('refund %s is in %s, payment %s in %s', r ->> 'id',
                        upper(coalesce(r ->> 'currency', obj ->> 'currency')), pay.id, pay.currency));
                END IF;
                INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, stripe_refund_id, amount, currency, reason, status)
                VALUES (t, pay.id, pay.order_id, r ->> 'id', amount, pay.currency,
                        CASE WHEN r ->> 'reason' IN ('duplicate', 'fraudulent') THEN r ->> 'reason'
                             ELSE 'requested_by_customer' END::coditect.refund_reason, st);
                changes := changes + 1;
            END LOOP;
        ELSE
            amount := coditect_internal.stripe_money(obj -> 'amount_refunded', obj ->> 'currency')
                      - (SELECT x.amount_refunded FROM coditect.payments x WHERE x.tenant_id = t AND x.id = pay.id);
            IF amount > 0 THEN
                INSERT INTO coditect.refunds (tenant_id, payment_id, order_id, amount, currency, status)
                VALUES (t, pay.id, pay.order_id, amount, pay.currency, 'succeeded');
                changes := 1;
            END IF;
        END IF;
    EXCEPTION WHEN SQLSTATE 'CD409' OR SQLSTATE 'CD422' THEN
        PERFORM coditect_internal.stripe_refuse(SQLERRM);
    END;
    PERFORM coditect_internal.stripe_outcome(e, CASE WHEN changes > 0 THEN 'processed' ELSE 'skipped' END,
                                             CASE WHEN changes = 0 THEN 'every refund of the charge is applied already' END);
END
$$;

------------------------------------------------------------------------------------------------
-- Invoices: invoice.*
------------------------------------------------------------------------------------------------

-- invoice.* (created, finalized, paid, payment_failed, voided, marked_uncollectible, ...): the
-- invoice as Stripe sends it, inserted or updated (by stripe_invoice_id) along the machine; an
-- older status than ours is stale (skipped), a paid or void invoice does not change. Amounts:
-- subtotal_amount is Stripe's subtotal_excluding_tax (else subtotal), tax_amount its tax,
-- total_amount its total, discount_amount what makes them add up (discounts and credits).
-- The subscription is Stripe's (subscription, or parent.subscription_details.subscription) as
-- ours; an order of metadata.order_id. invoice.paid of a subscription's invoice pays the
-- subscription's period through subscription_pay, with the invoice id as the payment reference
-- (so it applies once), unless our period already reaches the invoice's (Stripe's
-- customer.subscription.updated moved it first).
CREATE FUNCTION coditect_internal.stripe_invoice(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t        uuid := coditect_internal.stripe_tenant(e);
    obj      jsonb := e.data_object;
    cur      text := upper(obj ->> 'currency');
    sub_ref  text := coalesce(obj ->> 'subscription', obj #>> '{parent,subscription_details,subscription}');
    line     jsonb := (SELECT l FROM jsonb_array_elements(CASE WHEN jsonb_typeof(obj #> '{lines,data}') = 'array'
                                                              THEN obj #> '{lines,data}' ELSE '[]' END) l
                        WHERE l ? 'period' ORDER BY (l #>> '{period,end}')::numeric DESC LIMIT 1);
    inv      coditect.invoices;
    old      coditect.invoices;
    s        coditect.subscriptions;
    o        coditect.orders;
    st       coditect.invoice_status;
    rank     jsonb := '{"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}';
    sub      bigint;
    tax      bigint;
BEGIN
    IF e.object_id IS NULL OR e.event_type IN ('invoice.upcoming', 'invoice.deleted') THEN
        -- A preview (no id), or a draft Stripe deleted: no invoice of ours.
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('%s: no invoice to keep', e.event_type));
        RETURN;
    END IF;
    IF obj ->> 'status' IS NULL OR obj ->> 'status' NOT IN ('draft', 'open', 'paid', 'void', 'uncollectible') THEN
        PERFORM coditect_internal.stripe_refuse(format('invoice %s has status %s', e.object_id, coalesce(obj ->> 'status', 'none')));
    END IF;
    st := (obj ->> 'status')::coditect.invoice_status;
    PERFORM coditect_internal.stripe_lock(e);
    SELECT * INTO old FROM coditect.invoices x WHERE x.tenant_id = t AND x.stripe_invoice_id = e.object_id FOR UPDATE;
    IF old.status IN ('paid', 'void') THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('invoice %s is %s: it does not change', old.id, old.status));
        RETURN;
    END IF;
    IF (rank ->> st::text)::int < (rank ->> old.status::text)::int THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('invoice %s is %s already, past %s', old.id, old.status, st));
        RETURN;
    END IF;
    IF sub_ref IS NOT NULL THEN
        SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = t AND x.stripe_subscription_id = sub_ref;
        IF s.id IS NULL THEN
            PERFORM coditect_internal.stripe_refuse(format('subscription %s is not a subscription of the customer''s tenant', sub_ref));
        END IF;
    END IF;
    IF obj #>> '{metadata,order_id}' IS NOT NULL THEN
        o := coditect_internal.stripe_order(e, t, obj #>> '{metadata,order_id}');
    END IF;

    inv.tenant_id := t;
    inv.number := obj ->> 'number';
    inv.status := st;
    inv.currency := cur;
    sub := coditect_internal.stripe_money(coalesce(obj -> 'subtotal_excluding_tax', obj -> 'subtotal'), cur);
    tax := coalesce(coditect_internal.stripe_money(obj -> 'tax', cur), 0);
    inv.total_amount := coditect_internal.stripe_money(obj -> 'total', cur);
    inv.subtotal_amount := sub;
    inv.tax_amount := tax;
    inv.discount_amount := sub + tax - inv.total_amount;
    inv.amount_due := coditect_internal.stripe_money(obj -> 'amount_due', cur);
    inv.amount_paid := coalesce(coditect_internal.stripe_money(obj -> 'amount_paid', cur), 0);
    inv.amount_remaining := coalesce(coditect_internal.stripe_money(obj -> 'amount_remaining', cur), inv.amount_due - inv.amount_paid);
    inv.period_start := coalesce(coditect_internal.stripe_time(line #> '{period,start}'), coditect_internal.stripe_time(obj -> 'period_start'));
    inv.period_end := coalesce(coditect_internal.stripe_time(line #> '{period,end}'), coditect_internal.stripe_time(obj -> 'period_end'));
    inv.subscription_id := s.id;
    inv.order_id := o.id;
    inv.stripe_invoice_id := e.object_id;
    inv.hosted_invoice_url := CASE WHEN obj ->> 'hosted_invoice_url' ~ '^https://[^\s/$.?#][^\s]*$' AND length(obj ->> 'hosted_invoice_url') <= 2000
                                   THEN obj ->> 'hosted_invoice_url' END;
    inv.due_date := coditect_internal.stripe_time(obj -> 'due_date');
    BEGIN
        IF old.id IS NULL THEN
            INSERT INTO coditect.invoices (tenant_id, number, status, currency, subtotal_amount, discount_amount, tax_amount, total_amount,
                                           amount_due, amount_paid, amount_remaining, period_start, period_end, subscription_id, order_id,
                                           stripe_invoice_id, hosted_invoice_url, due_date)
            VALUES (t, inv.number, inv.status, inv.currency, inv.subtotal_amount, inv.discount_amount, inv.tax_amount, inv.total_amount,
                    inv.amount_due, inv.amount_paid, inv.amount_remaining, inv.period_start, inv.period_end, inv.subscription_id,
                    inv.order_id, inv.stripe_invoice_id, inv.hosted_invoice_url, inv.due_date)
            RETURNING * INTO inv;
        ELSE
            IF old.status = 'draft' AND st IN ('paid', 'void', 'uncollectible') THEN
                -- Its finalization was not told (not subscribed, or still to come): it was opened.
                UPDATE coditect.invoices x SET status = 'open' WHERE x.tenant_id = t AND x.id = old.id;
            END IF;
            UPDATE coditect.invoices x
               SET number = inv.number, status = inv.status, currency = inv.currency, subtotal_amount = inv.subtotal_amount,
                   discount_amount = inv.discount_amount, tax_amount = inv.tax_amount, total_amount = inv.total_amount,
                   amount_due = inv.amount_due, amount_paid = inv.amount_paid, amount_remaining = inv.amount_remaining,
                   period_start = inv.period_start, period_end = inv.period_end, subscription_id = inv.subscription_id,
                   order_id = coalesce(inv.order_id, x.order_id), hosted_invoice_url = coalesce(inv.hosted_invoice_url, x.hosted_invoice_url),
                   due_date = inv.due_date
             WHERE x.tenant_id = t AND x.id = old.id
            RETURNING * INTO inv;
        END IF;
    EXCEPTION WHEN check_violation OR not_null_violation OR unique_violation OR foreign_key_violation
                   OR SQLSTATE 'CD409' OR SQLSTATE 'CD422' THEN
        PERFORM coditect_internal.stripe_refuse(format('invoice %s: %s', e.object_id, SQLERRM));
    END;
    -- The period it pays: a subscription's first payment, a recovery, or a renewal not told yet.
    IF inv.status = 'paid' AND old.status IS DISTINCT FROM 'paid' AND s.id IS NOT NULL
       AND NOT (s.status = 'active' AND inv.period_end IS NOT NULL AND s.current_period_end >= inv.period_end) THEN
        BEGIN
            PERFORM coditect_internal.subscription_pay(t, s.id, e.object_id);
        EXCEPTION WHEN SQLSTATE 'CD409' THEN
            PERFORM coditect_internal.stripe_refuse(format('invoice %s: %s', e.object_id, SQLERRM));
        END;
    END IF;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

------------------------------------------------------------------------------------------------
-- Subscriptions: customer.subscription.*
------------------------------------------------------------------------------------------------

-- customer.subscription.* (created, updated, deleted, trial_will_end, ...): ours
-- follows Stripe's. Ours is the tenant's subscription of that stripe_subscription_id; else its
-- live subscription of the product not yet bound to Stripe (subscribed through the API), which
-- is bound; else a new one (subscribe rules: the product must be an active recurring product).
-- The product: the price of the first item, by products.stripe_price_id, else the price's
-- metadata.coditect_product_id. Stripe's status moves ours along the subscription machine
-- (incomplete_expired is canceled; deleted ends it now); its periods are taken (a period end
-- only forward: ours may be seconds later, from our clock at insert), with cancel_at_period_end,
-- the trial, quantity. A transition the machine does not have is refused. Events older than
-- one applied of the same subscription are skipped.
CREATE FUNCTION coditect_internal.stripe_subscription(e coditect_internal.stripe_events) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t       uuid := coditect_internal.stripe_tenant(e);
    obj     jsonb := e.data_object;
    item    jsonb := obj #> '{items,data,0}';
    p       coditect.products;
    s       coditect.subscriptions;
    target  coditect.subscription_status;
    p_start timestamptz := coalesce(coditect_internal.stripe_time(obj -> 'current_period_start'),
                                    coditect_internal.stripe_time(item -> 'current_period_start'));
    p_end   timestamptz := coalesce(coditect_internal.stripe_time(obj -> 'current_period_end'),
                                    coditect_internal.stripe_time(item -> 'current_period_end'));
    qty     int := coalesce((item ->> 'quantity')::int, (obj ->> 'quantity')::int, 1);
BEGIN
    PERFORM coditect_internal.stripe_lock(e);
    IF coditect_internal.stripe_stale(e) THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('a later event of %s was applied already', e.object_id));
        RETURN;
    END IF;
    IF e.event_type <> 'customer.subscription.deleted' AND coalesce(obj ->> 'status', '') NOT IN
           ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid', 'canceled') THEN
        -- paused (a trial that ended without a payment method) is not modelled.
        PERFORM coditect_internal.stripe_refuse(format('subscription %s: Stripe''s status %s is not modelled', e.object_id,
                                                       coalesce(obj ->> 'status', 'none')));
    END IF;
    target := CASE WHEN e.event_type = 'customer.subscription.deleted' THEN 'canceled'
                   ELSE CASE obj ->> 'status' WHEN 'incomplete_expired' THEN 'canceled' ELSE obj ->> 'status' END
              END::coditect.subscription_status;
    SELECT * INTO p FROM coditect.products x WHERE x.stripe_price_id = item #>> '{price,id}';
    IF p.id IS NULL THEN
        SELECT * INTO p FROM coditect.products x WHERE x.id = coditect_internal.stripe_uuid(item #>> '{price,metadata,coditect_product_id}');
    END IF;
    SELECT * INTO s FROM coditect.subscriptions x WHERE x.tenant_id = t AND x.stripe_subscription_id = e.object_id FOR UPDATE;
    IF s.id IS NULL AND target = 'canceled' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('subscription %s is not known here: nothing to end', e.object_id));
        RETURN;
    END IF;
    IF s.id IS NULL THEN
        IF p.id IS NULL THEN
            PERFORM coditect_internal.stripe_refuse(format('price %s of subscription %s is no product of ours (products.stripe_price_id or price metadata coditect_product_id)',
                                                           coalesce(item #>> '{price,id}', 'none'), e.object_id));
        END IF;
        SELECT * INTO s FROM coditect.subscriptions x
         WHERE x.tenant_id = t AND x.product_id = p.id AND x.status <> 'canceled' AND x.stripe_subscription_id IS NULL FOR UPDATE;
        IF s.id IS NOT NULL THEN
            UPDATE coditect.subscriptions x SET stripe_subscription_id = e.object_id WHERE x.tenant_id = t AND x.id = s.id
            RETURNING * INTO s;
        ELSE
            BEGIN
                INSERT INTO coditect.subscriptions (tenant_id, product_id, quantity, stripe_subscription_id)
                VALUES (t, p.id, qty, e.object_id) RETURNING * INTO s;
            EXCEPTION WHEN unique_violation OR check_violation OR SQLSTATE 'CD422' THEN
                PERFORM coditect_internal.stripe_refuse(format('subscription %s: %s', e.object_id, SQLERRM));
            END;
        END IF;
    ELSIF p.id IS NOT NULL AND p.id <> s.product_id THEN
        PERFORM coditect_internal.stripe_refuse(format('subscription %s changed its price to another product: not modelled (a subscription keeps its product)', e.object_id));
    END IF;
    IF s.status = 'canceled' THEN
        PERFORM coditect_internal.stripe_outcome(e, 'skipped', format('subscription %s is canceled: it does not change', s.id));
        RETURN;
    END IF;
    IF target IS DISTINCT FROM s.status AND NOT EXISTS (
           SELECT 1 FROM coditect.state_transitions x
            WHERE x.machine = 'subscription' AND x.from_status = s.status::text AND x.to_status = target::text) THEN
        PERFORM coditect_internal.stripe_refuse(format('subscription %s is %s: Stripe''s %s is not a move of the subscription machine',
                                                       s.id, s.status, obj ->> 'status'));
    END IF;
    BEGIN
        UPDATE coditect.subscriptions x
           SET status = target,
               quantity = qty,
               current_period_start = coalesce(p_start, x.current_period_start),
               current_period_end = greatest(coalesce(p_end, x.current_period_end), x.current_period_end),
               trial_start = CASE WHEN obj ? 'trial_start' THEN coditect_internal.stripe_time(obj -> 'trial_start') ELSE x.trial_start END,
               trial_end = CASE WHEN obj ? 'trial_end' THEN coditect_internal.stripe_time(obj -> 'trial_end') ELSE x.trial_end END,
               -- Deleted: ended now, whatever was asked for the period's end.
               cancel_at_period_end = CASE WHEN target = 'canceled' THEN false
                                           ELSE coalesce((obj ->> 'cancel_at_period_end')::boolean, x.cancel_at_period_end) END,
               ended_at = CASE WHEN target = 'canceled' THEN coalesce(coditect_internal.stripe_time(obj -> 'ended_at'), now()) END
         WHERE x.tenant_id = t AND x.id = s.id;
    EXCEPTION WHEN check_violation OR SQLSTATE 'CD409' OR SQLSTATE 'CD422' THEN
        PERFORM coditect_internal.stripe_refuse(format('subscription %s: %s', e.object_id, SQLERRM));
    END;
    PERFORM coditect_internal.stripe_outcome(e, 'processed', NULL);
END
$$;

REVOKE ALL ON FUNCTION coditect_internal.guard_invoice(), coditect_internal.stripe_refuse(text),
    coditect_internal.stripe_outcome(coditect_internal.stripe_events, text, text),
    coditect_internal.stripe_tenant(coditect_internal.stripe_events), coditect_internal.stripe_money(jsonb, text),
    coditect_internal.stripe_uuid(text), coditect_internal.stripe_time(jsonb), coditect_internal.stripe_stale(coditect_internal.stripe_events),
    coditect_internal.stripe_lock(coditect_internal.stripe_events),
    coditect_internal.stripe_order(coditect_internal.stripe_events, uuid, text),
    coditect_internal.stripe_pay_order(coditect_internal.stripe_events, uuid, text, text, jsonb, text, text, text, text, text),
    coditect_internal.stripe_method(jsonb), coditect_internal.stripe_checkout_completed(coditect_internal.stripe_events),
    coditect_internal.stripe_payment_succeeded(coditect_internal.stripe_events),
    coditect_internal.stripe_payment_failed(coditect_internal.stripe_events),
    coditect_internal.stripe_charge_refunded(coditect_internal.stripe_events),
    coditect_internal.stripe_invoice(coditect_internal.stripe_events),
    coditect_internal.stripe_subscription(coditect_internal.stripe_events) FROM PUBLIC;

SELECT coditect_internal.declare_stripe_handler('checkout.session.completed',
    'coditect_internal.stripe_checkout_completed(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('payment_intent.succeeded',
    'coditect_internal.stripe_payment_succeeded(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('payment_intent.payment_failed',
    'coditect_internal.stripe_payment_failed(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('charge.refunded',
    'coditect_internal.stripe_charge_refunded(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('invoice.*', 'coditect_internal.stripe_invoice(coditect_internal.stripe_events)');
SELECT coditect_internal.declare_stripe_handler('customer.subscription.*',
    'coditect_internal.stripe_subscription(coditect_internal.stripe_events)');

------------------------------------------------------------------------------------------------
-- 23c. 92_citus (as in sql/92_citus.sql)
------------------------------------------------------------------------------------------------

-- 92_citus: going distributed on Citus (issue 13). One routine, run by a superuser on the
-- coordinator after CREATE EXTENSION citus, citus_add_node of the workers, and CREATE EXTENSION
-- coditect (README, Running on Citus). It only adds Citus metadata: the schema is the one a
-- single node has. Every tenant table is distributed by its tenant column in one colocation
-- group (coditect.tenants by id), so a tenant's rows, its audit trail included, live in one
-- shard group on one node; every other table of the extension (the global catalogs) becomes a
-- reference table, copied to every node.
--
-- Which tables: the extension's tables in coditect and coditect_internal (partitions follow
-- their parent) and any table declared to the tenant registry or the resource catalog, so a
-- table an ALTER EXTENSION UPDATE or a register_resource() adds is found on the next run. A
-- table is a tenant table when it is registered as one, or when it has a tenant_id column and
-- each of its unique indexes includes it (Citus requires the distribution column in them);
-- the tenant column is the resource catalog's (tenants: id).
--
-- Foreign keys: Citus converts the whole foreign-key graph of a table it makes a reference
-- table and re-creates it on the workers, where CREATE EXTENSION already made those tables
-- ("relation already exists"); keys re-added on the coordinator collide with the workers'
-- copies. So every foreign key that touches a table still to convert is saved, dropped on the
-- coordinator and on every worker (with DDL propagation off there: the workers' tables are
-- the extension's own), the tables are converted, and the keys are added again from the saved
-- definitions through Citus, which creates them on the shards and the workers' tables.
-- A key Citus cannot have (from a reference table to a distributed one) stops the run.
--
-- Idempotent: converted tables are skipped, so a re-run after an upgrade or a new
-- registered table converts only what is new. The worker-side drops are not part of the
-- coordinator's transaction; a failed run leaves keys missing on workers only, which the
-- next run (IF EXISTS there) repairs. Local rows of converted tables (a single-node
-- installation's data, copied into the shards) are truncated on the coordinator.
--
-- Triggers: every trigger of the extension acts on its own row or its own tenant's rows
-- (colocated), which Citus calls unsafe only because it cannot check it; allowed here with
-- citus.enable_unsafe_triggers for this transaction.

CREATE FUNCTION coditect.distribute(shard_count int DEFAULT 32) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t0        timestamptz := clock_timestamp();
    r         record;
    fk        record;
    fks       jsonb := '[]';
    cmd       text;
    n_hash    int := 0;
    n_ref     int := 0;
    v_col     name;
    bad       text;
    has_rows  boolean;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'coditect.distribute() needs a superuser' USING ERRCODE = '42501';
    END IF;
    IF pg_catalog.to_regproc('pg_catalog.citus_is_coordinator') IS NULL THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = '55000', HINT = 'CREATE EXTENSION citus, add the workers, then run coditect.distribute().';
    END IF;
    EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO r;
    IF r IS NULL OR NOT (row_to_json(r) ->> 'citus_is_coordinator')::boolean THEN
        RAISE EXCEPTION 'coditect.distribute() runs on the Citus coordinator' USING ERRCODE = '55000';
    END IF;
    IF shard_count IS NULL OR shard_count < 1 THEN
        RAISE EXCEPTION 'shard_count must be positive, got %', shard_count USING ERRCODE = 'CD400';
    END IF;

    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    -- One connection per node for the whole transaction: the conversions copy data and create
    -- constraints after one another in it.
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);

    -- The tables still to convert, with their kind and distribution column.
    DROP TABLE IF EXISTS pg_temp.citus_plan, pg_temp.citus_guards, pg_temp.citus_triggers;
    CREATE TEMP TABLE pg_temp.citus_plan ON COMMIT DROP AS
    WITH candidates AS (
        SELECT c.oid::regclass AS relid
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                                      AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'coditect'
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND c.relnamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)
        UNION
        SELECT tt.relid FROM coditect_internal.tenant_tables tt
        UNION
        SELECT rs.relid FROM coditect_internal.resources rs
    )
    SELECT k.relid,
           coalesce((SELECT rs.tenant_column FROM coditect_internal.resources rs WHERE rs.relid = k.relid),
                    'tenant_id'::name) AS dist_col,
           k.relid IN (SELECT tt.relid FROM coditect_internal.tenant_tables tt) AS registered
      FROM candidates k
     WHERE (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = k.relid) IN ('r', 'p')  -- not views
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = k.relid);
    ALTER TABLE pg_temp.citus_plan ADD COLUMN kind text;
    UPDATE pg_temp.citus_plan p
       SET kind = CASE
           WHEN p.relid = 'coditect.tenants'::regclass THEN 'tenants'
           WHEN p.registered THEN 'tenant'
           WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = p.relid AND a.attname = p.dist_col AND NOT a.attisdropped)
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                 WHERE i.indrelid = p.relid AND i.indisunique
                                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                                    WHERE a.attrelid = p.relid AND a.attname = p.dist_col
                                                      AND a.attnum = ANY (i.indkey)))
                THEN 'tenant'
           ELSE 'reference' END;
    UPDATE pg_temp.citus_plan SET dist_col = 'id' WHERE kind = 'tenants';
    -- A registered tenant table whose unique index leaves out the tenant column cannot be
    -- distributed; say which, before anything is changed.
    SELECT string_agg(format('%s (%s)', p.relid, i.indexrelid::regclass), ', ') INTO bad
      FROM pg_temp.citus_plan p JOIN pg_catalog.pg_index i ON i.indrelid = p.relid AND i.indisunique
     WHERE p.kind = 'tenant'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = p.relid AND a.attname = p.dist_col AND a.attnum = ANY (i.indkey));
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unique indexes without the tenant column cannot be distributed: %', bad
            USING ERRCODE = '55000';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_temp.citus_plan) THEN
        RETURN jsonb_build_object('distributed', 0, 'reference', 0, 'foreign_keys', 0,
                                  'seconds', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3));
    END IF;

    -- Every foreign key touching a table to convert (partitions' clones follow their parent's).
    FOR fk IN SELECT c.conrelid::regclass AS tbl, c.conname, pg_catalog.pg_get_constraintdef(c.oid) AS def,
                     c.confrelid::regclass AS target
                FROM pg_catalog.pg_constraint c
               WHERE c.contype = 'f' AND c.conparentid = 0
                 AND (c.conrelid IN (SELECT relid FROM pg_temp.citus_plan)
                      OR c.confrelid IN (SELECT relid FROM pg_temp.citus_plan))
               ORDER BY 1, 2 LOOP
        fks := fks || jsonb_build_object('tbl', fk.tbl::text, 'name', fk.conname, 'def', fk.def,
                                         'target', fk.target::text);
    END LOOP;
    -- A key from a reference table to a distributed one cannot exist on Citus.
    SELECT string_agg(format('%s.%s', f ->> 'tbl', f ->> 'name'), ', ') INTO bad
      FROM jsonb_array_elements(fks) f
      JOIN pg_temp.citus_plan src ON src.relid = (f ->> 'tbl')::regclass AND src.kind = 'reference'
     WHERE (f ->> 'target')::regclass IN (SELECT relid FROM pg_temp.citus_plan WHERE kind <> 'reference')
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition dp
                    WHERE dp.logicalrelid = (f ->> 'target')::regclass AND dp.partmethod = 'h');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'foreign keys from global tables to tenant tables cannot be distributed: %', bad
            USING ERRCODE = '55000';
    END IF;

    -- Drop them on the workers first (their own connections, before this transaction locks
    -- anything there), then here.
    IF jsonb_array_length(fks) > 0 THEN
        SELECT 'SET citus.enable_ddl_propagation = off; '
               || string_agg(format('ALTER TABLE IF EXISTS %s DROP CONSTRAINT IF EXISTS %I;', f ->> 'tbl', f ->> 'name'), ' ')
          INTO cmd FROM jsonb_array_elements(fks) f;
        FOR r IN EXECUTE 'SELECT nodename, nodeport, success, result FROM pg_catalog.run_command_on_workers($1)'
                 USING cmd LOOP
            IF NOT r.success THEN
                RAISE EXCEPTION 'dropping the foreign keys on worker %:% failed: %', r.nodename, r.nodeport, r.result
                    USING ERRCODE = '55000';
            END IF;
        END LOOP;
        FOR fk IN SELECT f ->> 'tbl' AS tbl, f ->> 'name' AS name FROM jsonb_array_elements(fks) f LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
        END LOOP;
    END IF;

    -- Citus copies a table's rows into its shards with COPY, which fires the shards' row
    -- triggers: the state machine would refuse rows past their first state, timestamps would be
    -- stamped again and every row audited again. Our triggers are off for the conversion (the
    -- shards are made with that state) and restored to their exact state after it, below.
    -- Only tables with rows: an empty one copies nothing.
    CREATE TEMP TABLE pg_temp.citus_triggers (tbl regclass, tgname name, tgenabled "char") ON COMMIT DROP;
    FOR r IN SELECT relid FROM pg_temp.citus_plan LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', r.relid) INTO has_rows;
        IF has_rows THEN
            INSERT INTO pg_temp.citus_triggers
            SELECT t.tgrelid::regclass, t.tgname, t.tgenabled
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = r.relid AND NOT t.tgisinternal AND t.tgparentid = 0 AND t.tgenabled <> 'D';
        END IF;
    END LOOP;
    FOR r IN SELECT * FROM pg_temp.citus_triggers LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', r.tbl, r.tgname);
    END LOOP;

    -- Convert: tenants first (the colocation group), then the tenant tables, then the rest.
    FOR r IN SELECT * FROM pg_temp.citus_plan
              ORDER BY kind <> 'tenants', kind <> 'tenant', relid::text LOOP
        IF r.kind = 'tenants' THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, $2, shard_count => $3)'
                USING r.relid, r.dist_col::text, shard_count;
            n_hash := n_hash + 1;
        ELSIF r.kind = 'tenant' THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, $2, colocate_with => $3)'
                USING r.relid, r.dist_col::text, 'coditect.tenants';
            n_hash := n_hash + 1;
        ELSE
            EXECUTE 'SELECT pg_catalog.create_reference_table($1)' USING r.relid;
            n_ref := n_ref + 1;
        END IF;
    END LOOP;

    FOR r IN SELECT * FROM pg_temp.citus_triggers LOOP
        EXECUTE format('ALTER TABLE %s %s TRIGGER %I', r.tbl,
                       CASE r.tgenabled WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'ENABLE' END,
                       r.tgname);
    END LOOP;

    -- The coordinator's local copies of the converted tables' rows (now in the shards). The
    -- append-only guards refuse TRUNCATE: switched off locally (no DDL propagation, so shards
    -- and workers keep them) around it and restored to their exact state.
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    CREATE TEMP TABLE pg_temp.citus_guards ON COMMIT DROP AS
    SELECT t.tgrelid::regclass AS tbl, t.tgname, t.tgenabled
      FROM pg_catalog.pg_trigger t
     WHERE NOT t.tgisinternal AND (t.tgtype & 32) <> 0  -- TRUNCATE triggers
       AND (t.tgrelid IN (SELECT relid FROM pg_temp.citus_plan)
            OR t.tgrelid IN (SELECT i.inhrelid FROM pg_catalog.pg_inherits i
                              WHERE i.inhparent IN (SELECT relid FROM pg_temp.citus_plan)));
    FOR r IN SELECT * FROM pg_temp.citus_guards LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', r.tbl, r.tgname);
    END LOOP;
    FOR r IN SELECT relid FROM pg_temp.citus_plan LOOP
        EXECUTE 'SELECT pg_catalog.truncate_local_data_after_distributing_table($1)' USING r.relid;
    END LOOP;
    FOR r IN SELECT * FROM pg_temp.citus_guards LOOP
        EXECUTE format('ALTER TABLE %s %s TRIGGER %I', r.tbl,
                       CASE r.tgenabled WHEN 'O' THEN 'ENABLE' WHEN 'A' THEN 'ENABLE ALWAYS'
                                        WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'DISABLE' END, r.tgname);
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);

    -- The keys again, through Citus (shards and the workers' tables).
    FOR fk IN SELECT f ->> 'tbl' AS tbl, f ->> 'name' AS name, f ->> 'def' AS def
                FROM jsonb_array_elements(fks) f LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);
    END LOOP;

    RETURN jsonb_build_object('distributed', n_hash, 'reference', n_ref, 'foreign_keys', jsonb_array_length(fks),
                              'seconds', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3));
END
$$;
REVOKE ALL ON FUNCTION coditect.distribute(int) FROM PUBLIC;
COMMENT ON FUNCTION coditect.distribute(int) IS
    'Citus coordinator, superuser: distributes every tenant table by tenant (one colocation group with tenants), makes the other tables reference tables; re-runnable.';

------------------------------------------------------------------------------------------------
-- 24. Grants (as in sql/89_api_grants.sql): nothing new for PUBLIC but the pure helpers CHECK constraints call
------------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA coditect, coditect_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    coditect.current_tenant_id(), coditect.current_user_id(), coditect.current_user_role(),
    coditect.uuid_generate_v7(), coditect.uuid_v7_time(uuid), coditect.is_valid_timezone(text),
    coditect.license_key_generate(), coditect.license_key_normalize(text), coditect.license_key_is_valid(text),
    coditect.license_token_key_id(text), coditect.license_session_ttl(), coditect.license_public_keys(),
    coditect.license_verify(text), coditect.row_etag(jsonb), coditect_internal.check_board_columns(jsonb),
    coditect.workflow_definition_problems(jsonb), coditect.workflow_definition_schema(),
    coditect_internal.check_workflow_definition(jsonb), coditect_internal.check_workflow_triggers(jsonb),
    coditect_internal.outbox_events(), coditect_internal.webhook_events_valid(text[])
    TO PUBLIC;

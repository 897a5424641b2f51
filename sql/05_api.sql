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

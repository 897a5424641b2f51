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


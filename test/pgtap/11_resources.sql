-- The resource catalog, walked: every registered resource and each of its operations is held to
-- the same rules, so that a table declared later is checked without new tests:
--   * each operation's function exists, belongs to the extension, pins its search_path, takes
--     the declared parameters and is executable by the gateway and services only;
--   * each verb has its permission, held by owners and by no role below the declared minimum;
--   * the table has RLS (enabled, forced, the tenant policy), the audit trigger (ENABLE ALWAYS)
--     and the grants of a tenant table;
--   * api_catalog() publishes it; its list answers the envelope and refuses undeclared filters.
BEGIN;
SELECT no_plan();

CREATE TEMP TABLE ops AS
SELECT o.*, r.relid, r.singleton, r.parent, p.pronargs, p.proconfig,
       EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                  AND e.extname = 'coditect') AS member
  FROM coditect_internal.resource_operations o
  JOIN coditect_internal.resources r ON r.name = o.resource
  LEFT JOIN pg_proc p ON p.oid = o.function;

SELECT cmp_ok((SELECT count(*)::int FROM coditect_internal.resources), '>=', 8, 'the walk finds the resources');
SELECT cmp_ok((SELECT count(*)::int FROM ops), '>=', 35, 'the walk finds their operations');

SELECT ok(member, format('%s.%s: %s belongs to the extension', resource, name, function)) FROM ops ORDER BY resource, name;
SELECT is(jsonb_array_length(params), pronargs::int, format('%s.%s: one declared parameter per argument', resource, name))
  FROM ops ORDER BY resource, name;
SELECT is(concat_ws(',', CASE WHEN has_function_privilege('public', function, 'EXECUTE') THEN 'PUBLIC' END,
                         CASE WHEN has_function_privilege('coditect_gateway', function, 'EXECUTE') THEN 'gateway' END,
                         CASE WHEN has_function_privilege('coditect_service', function, 'EXECUTE') THEN 'service' END,
                         CASE WHEN has_function_privilege('coditect_analyst', function, 'EXECUTE') THEN 'analyst' END),
          'gateway,service', format('%s.%s: executable by the gateway and services only', resource, name))
  FROM ops WHERE auth = 'bearer' ORDER BY resource, name;
SELECT is(proconfig, ARRAY['search_path=pg_catalog, pg_temp', 'TimeZone=UTC'],
          format('%s.%s: pins search_path, answers in UTC', resource, name))
  FROM ops WHERE kind <> 'action' ORDER BY resource, name;
SELECT ok(sql ~ ('^SELECT .*' || replace(function::regproc::text, '.', '\.') || '\('), format('%s.%s: the statement calls the function', resource, name))
  FROM ops ORDER BY resource, name;

-- Permissions: every generated verb and every action's permission exists, the owner holds it.
SELECT ok(EXISTS (SELECT 1 FROM coditect.permissions p JOIN coditect.role_permissions rp ON rp.permission_id = p.id
                   WHERE p.codename = o.permission AND rp.role = 'owner'),
          format('%s.%s: permission %s exists and owners hold it', resource, name, permission))
  FROM ops o WHERE permission IS NOT NULL ORDER BY resource, name;
SELECT ok(permission IS NOT NULL OR auth = 'none', format('%s.%s: has a permission, or is public', resource, name))
  FROM ops ORDER BY resource, name;
-- The roles holding a permission are a top slice of the role order: no hole below a holder.
SELECT is((SELECT array_agg(r ORDER BY r) FROM coditect.role_permissions rp, LATERAL (SELECT rp.role::text) x(r)
            WHERE rp.permission_id = p.id),
          (SELECT array_agg(r::text ORDER BY r::text) FROM unnest(enum_range(NULL::coditect.member_role)) r
            WHERE coditect_internal.role_rank(r::text) >= (SELECT min(coditect_internal.role_rank(rp.role::text))
                                                          FROM coditect.role_permissions rp WHERE rp.permission_id = p.id)),
          p.codename || ': held by its least role and every role above it')
  FROM coditect.permissions p ORDER BY p.codename;

-- Tables. A view (a read-only resource) is scoped by its table's row-level security, so it must
-- run as its reader (security_invoker): a view runs as its owner otherwise, who bypasses RLS.
CREATE TEMP TABLE rels AS
SELECT r.name, r.relid, s.relrowsecurity, s.relforcerowsecurity, s.oid AS rls_relid, c.relkind,
       coalesce(c.reloptions, '{}') AS reloptions,
       EXISTS (SELECT 1 FROM coditect_internal.tenant_tables t WHERE t.relid = r.relid) AS registered,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = s.oid AND a.attname = r.tenant_column AND NOT a.attisdropped) AS tenanted
  FROM coditect_internal.resources r JOIN pg_class c ON c.oid = r.relid
  JOIN pg_class s ON s.oid = coalesce(r.rls_relid, r.relid);
SELECT ok(relrowsecurity AND relforcerowsecurity, name || ': row-level security enabled and forced') FROM rels ORDER BY name;
SELECT ok(EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = rls_relid AND polname = 'tenant_isolation'), name || ': has the tenant policy')
  FROM rels WHERE tenanted ORDER BY name;
-- A global catalog (products, tax rates: no tenant column) is read by every tenant and written
-- by the service role alone: its only writing policies are the service's.
SELECT ok(NOT has_table_privilege('coditect_gateway', relid, 'INSERT, UPDATE, DELETE')
          AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = relid AND p.polcmd <> 'r'
                             AND p.polroles <> ARRAY['coditect_service'::regrole::oid]),
          name || ': a global catalog, written by the service role only')
  FROM rels WHERE NOT tenanted ORDER BY name;
SELECT ok(relkind IN ('r', 'p') OR (relkind = 'v' AND reloptions @> '{security_invoker=true}'),
          name || ': a table (or partitioned table), or a view that runs as its reader')
  FROM rels ORDER BY name;
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = relid AND tgname = 'audit_row_change'), 'A',
          name || ': the audit trigger fires always')
  FROM rels WHERE registered ORDER BY name;
SELECT ok(has_table_privilege('coditect_gateway', relid, 'SELECT') AND has_table_privilege('coditect_service', relid, 'SELECT')
          AND has_table_privilege('coditect_analyst', relid, 'SELECT'), name || ': readable by gateway, service and analysts')
  FROM rels ORDER BY name;
SELECT ok(NOT has_table_privilege('coditect_analyst', relid, 'INSERT, UPDATE, DELETE, TRUNCATE')
          AND NOT has_table_privilege('coditect_gateway', relid, 'TRUNCATE')
          AND NOT has_table_privilege('public', relid, 'SELECT'), name || ': no writes by analysts, no TRUNCATE, nothing for PUBLIC')
  FROM rels ORDER BY name;
SELECT ok(has_any_column_privilege('coditect_gateway', o.relid, 'INSERT'), format('%s: the gateway may insert (it creates)', o.resource))
  FROM ops o WHERE o.kind = 'create' ORDER BY o.resource;

-- The published catalog.
CREATE TEMP TABLE cat AS SELECT coditect.api_catalog() AS j;
SELECT ok(EXISTS (SELECT 1 FROM cat, jsonb_array_elements(j -> 'resources') x WHERE x ->> 'name' = r.name),
          r.name || ': in api_catalog()')
  FROM coditect_internal.resources r ORDER BY r.name;
SELECT ok(EXISTS (SELECT 1 FROM cat, jsonb_array_elements(j -> 'operations') x
                   WHERE x ->> 'method' = o.method AND x ->> 'path' = o.path AND x ->> 'sql' = o.sql),
          format('%s.%s: in api_catalog() with its statement', o.resource, o.name))
  FROM ops o ORDER BY o.resource, o.name;
SELECT is((SELECT count(*)::int FROM cat, jsonb_array_elements(j -> 'resources') x, jsonb_array_elements(x -> 'columns') c
            WHERE c ->> 'json_type' IS NULL), 0, 'every column has a JSON type');
SELECT is((SELECT count(*)::int FROM cat, jsonb_array_elements(j -> 'resources') x, jsonb_array_elements(x -> 'columns') c
            WHERE c ->> 'enum_type' IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(j -> 'types') t WHERE t ->> 'name' = c ->> 'enum_type')), 0,
          'every enum a column names is among the published types');
SELECT is((SELECT x -> 'values' FROM cat, jsonb_array_elements(j -> 'types') x WHERE x ->> 'name' = 'member_role'),
          '["owner", "admin", "member", "guest"]'::jsonb, 'enum values are read from the type');
SELECT is((SELECT c -> 'max_length' FROM cat, jsonb_array_elements(j -> 'resources') x, jsonb_array_elements(x -> 'columns') c
            WHERE x ->> 'name' = 'project' AND c ->> 'name' = 'name'), '255'::jsonb, 'lengths are read from the column type');
SELECT is((SELECT c ->> 'description' FROM cat, jsonb_array_elements(j -> 'resources') x, jsonb_array_elements(x -> 'columns') c
            WHERE x ->> 'name' = 'license' AND c ->> 'name' = 'seats_in_use'),
          col_description('coditect.licenses'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'coditect.licenses'::regclass AND attname = 'seats_in_use')::int),
          'descriptions are read from COMMENT ON');

-- Behaviour of every list and get, as the owner of a fresh tenant (the generated SQL runs).
SELECT coditect.create_tenant('Walk', 't11-walk', 'walk@t11.test', 'owner@t11.test') AS w \gset
SELECT set_config('tap.tenant', :'w'::jsonb ->> 'tenant_id', false), set_config('tap.user.owner', :'w'::jsonb ->> 'user_id', false) \gset
\ir lib/as_user.psql
-- As a gateway login: RLS applies (a superuser would bypass it).
CREATE ROLE tap11_gateway LOGIN IN ROLE coditect_gateway;
-- Every path parameter (a parent's id, a row's id) is an id nobody has.
CREATE TEMP TABLE calls AS
SELECT o.resource, o.name, o.kind, o.params @> '[{"from": "path"}]' AS under_parent,
       format('SELECT %s(%s)::text', o.function::regproc,
              array_to_string(ARRAY(SELECT 'coditect.uuid_generate_v7()' FROM jsonb_array_elements(o.params) p
                                     WHERE p ->> 'from' = 'path')
                              || CASE o.kind WHEN 'list' THEN ARRAY['%s'] ELSE '{}' END, ', ')) AS tmpl
  FROM ops o WHERE o.kind IN ('list', 'get');
GRANT SELECT ON calls TO tap11_gateway;
SET ROLE tap11_gateway;
SELECT ok(pg_temp.as_user('owner', 'owner', format(tmpl, '''{}''::jsonb'))::jsonb ?& ARRAY['count', 'results', 'next_cursor'],
          resource || ': its list answers count, results and next_cursor')
  FROM calls WHERE kind = 'list' AND NOT under_parent ORDER BY resource;
SELECT alike(pg_temp.as_user('owner', 'owner', format(tmpl, '''{}''::jsonb')), 'CD404: % not found',
             resource || '.' || name || ': its list under an unknown parent is CD404')
  FROM calls WHERE kind = 'list' AND under_parent ORDER BY resource, name;
-- (A list under another collection delegates to the resource's list, which checks its filters.)
SELECT alike(pg_temp.as_user('owner', 'owner', format(tmpl, '''{"no_such_filter": "1"}''::jsonb')),
             'CD400: unknown filter(s): no_such_filter', resource || ': an undeclared filter is CD400')
  FROM calls WHERE kind = 'list' AND name = 'list' ORDER BY resource;
SELECT alike(pg_temp.as_user('owner', 'owner', tmpl), 'CD404:%', resource || ': get of an unknown id is CD404')
  FROM calls c JOIN coditect_internal.resources r ON r.name = c.resource
 WHERE kind = 'get' AND NOT r.singleton ORDER BY resource;

RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

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
SELECT ok(EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = rls_relid AND polname IN ('tenant_isolation', 'tenant_isolation_narrowed')),
          name || ': has the tenant policy (or it narrowed)')
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

-- Actions whose functions the catalog writes (register_action p_as): each wrapper takes its _as
-- function's arguments, runs as its caller (the _as as the owner) and answers the declared
-- resource's row.
SELECT is((SELECT p.proargtypes::oid[] FROM pg_proc p WHERE p.oid = o.function),
          (SELECT p.proargtypes::oid[] FROM pg_proc p WHERE p.oid = o.wraps),
          format('%s.%s: the written function takes the arguments of %s', o.resource, o.name, o.wraps))
  FROM ops o WHERE o.wraps IS NOT NULL ORDER BY o.resource, o.name;
SELECT ok((SELECT NOT w.prosecdef AND w.prorettype = 'jsonb'::regtype AND a.prosecdef
                  AND w.proconfig = ARRAY['search_path=pg_catalog, pg_temp']
             FROM pg_proc w, pg_proc a WHERE w.oid = o.function AND a.oid = o.wraps)
          AND o.response = jsonb_build_object('resource', o.answers),
          format('%s.%s: an invoker function (pinned search_path) around a definer, answering a %s', o.resource, o.name, o.answers))
  FROM ops o WHERE o.wraps IS NOT NULL ORDER BY o.resource, o.name;
SELECT cmp_ok((SELECT count(*)::int FROM ops WHERE wraps IS NOT NULL), '>=', 5, 'the workflows'' actions are written by the catalog');

-- One declaration, here, on a resource of its own (an extension's functions are not to drop):
-- a thing's "touch" (the _as refuses a guest, an unknown thing and a thing named "frozen"; its
-- second argument has a default the written function keeps).
CREATE TABLE coditect.tapthings (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    name       text NOT NULL,
    note       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
SELECT coditect_internal.register_resource('coditect.tapthings', 'tapthing', p_roles => '{"view": "guest"}');
CREATE FUNCTION coditect_internal.tap11_touch_as(p_id uuid, p_note text DEFAULT 'touched') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_id uuid;
BEGIN
    PERFORM coditect.require_permission('tapthing.touch');
    UPDATE coditect.tapthings x SET note = p_note
     WHERE x.tenant_id = coditect.current_tenant_id() AND x.id = p_id AND x.name <> 'frozen' RETURNING x.id INTO found_id;
    IF found_id IS NULL THEN
        RAISE EXCEPTION 'thing % not found or frozen', p_id USING ERRCODE = 'CD404';
    END IF;
    RETURN found_id;
END
$$;
CREATE FUNCTION coditect_internal.tap11_invoker_as(p_id uuid) RETURNS uuid LANGUAGE sql AS $$ SELECT p_id $$;
SELECT lives_ok($$SELECT coditect_internal.register_action('tapthing', 'touch', 'coditect.tap11_touch(uuid, text)',
                      'POST', '/api/v1/tapthings/{id}/touch/', '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "note"}]',
                      p_min_role => 'member', p_as => 'coditect_internal.tap11_touch_as(uuid, text)')$$,
                'an action declared with p_as');
SELECT is(pg_get_function_arguments('coditect.tap11_touch(uuid, text)'::regprocedure), 'p_id uuid, p_note text DEFAULT ''touched''::text',
          'the written function takes the _as function''s arguments, names and defaults');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'coditect.tap11_touch(uuid, text)'::regprocedure), false, 'it runs as its caller');
SELECT is(concat_ws(',', CASE WHEN has_function_privilege('public', f, 'EXECUTE') THEN 'PUBLIC' END,
                         CASE WHEN has_function_privilege('coditect_gateway', f, 'EXECUTE') THEN 'gateway' END,
                         CASE WHEN has_function_privilege('coditect_service', f, 'EXECUTE') THEN 'service' END,
                         CASE WHEN has_function_privilege('coditect_analyst', f, 'EXECUTE') THEN 'analyst' END),
          'gateway,service', f::text || ': executable by the gateway and services only')
  FROM unnest(ARRAY['coditect.tap11_touch(uuid, text)', 'coditect_internal.tap11_touch_as(uuid, text)']::regprocedure[]) f;
SELECT is((SELECT jsonb_build_object('function', function::text, 'response', response, 'permission', permission, 'answers', answers)
             FROM coditect_internal.resource_operations WHERE resource = 'tapthing' AND name = 'touch'),
          '{"function": "coditect.tap11_touch(uuid,text)", "response": {"resource": "tapthing"}, "permission": "tapthing.touch",
            "answers": "tapthing"}'::jsonb, 'recorded: its function, the row it answers, its permission');
SELECT throws_ok($$SELECT coditect_internal.register_action('tapthing', 'bad', 'coditect.tap11_bad', 'POST',
                       '/api/v1/tapthings/{id}/bad/', '[{"from": "path", "name": "id"}]', p_min_role => 'member',
                       p_as => 'coditect_internal.tap11_invoker_as(uuid)')$$,
                 'CD400', NULL, 'an _as function that is not SECURITY DEFINER is refused');
SELECT throws_ok($$SELECT coditect_internal.register_action('tapthing', 'bad', 'coditect.tap11_bad', 'POST',
                       '/api/v1/tapthings/{id}/bad/', '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "note"}]',
                       p_min_role => 'member', p_as => 'coditect_internal.tap11_touch_as(uuid, text)', p_answers => 'team_member')$$,
                 'CD400', NULL, 'an answered resource without a get by id alone (nested) is refused');
SELECT throws_ok($$SELECT coditect_internal.register_action('tapthing', 'bad', 'coditect.tap11_bad(uuid)', 'POST',
                       '/api/v1/tapthings/{id}/bad/', '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "note"}]',
                       p_min_role => 'member', p_as => 'coditect_internal.tap11_touch_as(uuid, text)')$$,
                 'CD400', NULL, 'a declared signature other than the _as function''s is refused');
-- Its global part (p_global): an invoker function taking the _as function's arguments, run
-- first, as the caller (on Citus on the coordinator, for writes of global tables).
CREATE FUNCTION coditect_internal.tap11_mark(p_id uuid, p_note text DEFAULT 'touched') RETURNS void LANGUAGE sql AS $$
    SELECT set_config('tap11.global', p_id || ' ' || p_note, true)
$$;
CREATE FUNCTION coditect_internal.tap11_mark_definer(p_id uuid, p_note text) RETURNS void LANGUAGE sql SECURITY DEFINER AS $$ SELECT $$;
CREATE FUNCTION coditect_internal.tap11_mark_one(p_id uuid) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT throws_ok($$SELECT coditect_internal.register_action('tapthing', 'bad', 'coditect.tap11_bad', 'POST',
                       '/api/v1/tapthings/{id}/bad/', '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "note"}]',
                       p_min_role => 'member', p_as => 'coditect_internal.tap11_touch_as(uuid, text)',
                       p_global => 'coditect_internal.tap11_mark_definer(uuid, text)')$$,
                 'CD400', NULL, 'a global part that is SECURITY DEFINER is refused (its writes would go over the owner''s connection)');
SELECT throws_ok($$SELECT coditect_internal.register_action('tapthing', 'bad', 'coditect.tap11_bad', 'POST',
                       '/api/v1/tapthings/{id}/bad/', '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "note"}]',
                       p_min_role => 'member', p_as => 'coditect_internal.tap11_touch_as(uuid, text)',
                       p_global => 'coditect_internal.tap11_mark_one(uuid)')$$,
                 'CD400', NULL, 'as one that takes other arguments');
SELECT lives_ok($$SELECT coditect_internal.register_action('tapthing', 'mark', 'coditect.tap11_touch_marked(uuid, text)',
                      'POST', '/api/v1/tapthings/{id}/mark/', '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "note"}]',
                      p_min_role => 'member', p_as => 'coditect_internal.tap11_touch_as(uuid, text)',
                      p_global => 'coditect_internal.tap11_mark(uuid, text)')$$,
                'an action declared with a global part');
SELECT is((SELECT global_part::text FROM coditect_internal.resource_operations WHERE resource = 'tapthing' AND name = 'mark'),
          'coditect_internal.tap11_mark(uuid,text)', 'recorded, for regeneration');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'coditect_internal.tap11_touch_as(uuid, text)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp', 'citus.allow_nested_distributed_execution=on'],
          'the _as function runs with nested execution allowed (on a Citus worker, inside the query on the tenant''s row)');

SELECT :'w'::jsonb ->> 'tenant_id' AS tw \gset
INSERT INTO coditect.tapthings (tenant_id, name) VALUES (:'tw', 'Touchable') RETURNING id AS touchable \gset
INSERT INTO coditect.tapthings (tenant_id, name) VALUES (:'tw', 'frozen') RETURNING id AS frozen \gset
INSERT INTO coditect.users (tenant_id, email, role) VALUES (:'tw', 'guest@t11.test', 'guest') RETURNING id AS guest \gset
INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES (:'tw', :'guest', 'guest');
SELECT set_config('tap.user.guest', :'guest', false) \gset
SELECT coditect.create_tenant('Other', 't11-other', 'other@t11.test', 'owner@other.t11.test') ->> 'tenant_id' AS other \gset
INSERT INTO coditect.tapthings (tenant_id, name) VALUES (:'other', 'Theirs') RETURNING id AS theirs \gset
-- As the superuser (RLS bypassed) the _as works but the answer's get refuses: it runs as the caller.
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT coditect.tap11_touch(%L)::text', :'touchable')),
          'CD403: the API works under row-level security, which postgres bypasses', 'the answer is read as the caller, under RLS');
SET ROLE tap11_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT coditect.tap11_touch(%L)::text', :'touchable'))::jsonb
            - '{updated_at}'::text[],
          pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_tapthings_get(%L)::text', :'touchable'))::jsonb - '{updated_at}'::text[],
          'the written function answers the row as the resource''s get does');
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT coditect.tap11_touch(%L, %L)::text', :'touchable', 'again'))::jsonb ->> 'note',
          'again', 'it passes every argument on');
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT coditect.tap11_touch_marked(%L, %L) ->> ''note''', :'touchable', 'marked'))
          || ' ' || current_setting('tap11.global'), 'marked ' || :'touchable' || ' marked',
          'the global part runs with the same arguments, then the _as function, then the get');
SELECT is(pg_temp.as_user('guest', 'guest', format('SELECT coditect.tap11_touch(%L)::text', :'touchable')),
          'CD403: permission denied: tapthing.touch needs a role that holds it (current role: guest)', 'it refuses what the _as refuses: a guest');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.tap11_touch(%L)::text', :'frozen')),
             'CD404: thing % not found or frozen', '... and a row the _as refuses');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.tap11_touch(%L)::text', :'theirs')),
             'CD404:%', '... and another tenant''s row');
RESET ROLE;
SELECT is((SELECT note FROM coditect.tapthings WHERE id = :'frozen'), '', 'a refused call changed nothing');

-- Regeneration writes it again, as recorded.
DROP FUNCTION coditect.tap11_touch(uuid, text);
SELECT lives_ok($$SELECT coditect_internal.generate_resource_functions('tapthing')$$, 'the resource is generated again');
SELECT is((SELECT function FROM coditect_internal.resource_operations WHERE resource = 'tapthing' AND name = 'touch'),
          to_regprocedure('coditect.tap11_touch(uuid, text)'), 'the written function is back, recorded as the action''s');
SET ROLE tap11_gateway;
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT coditect.tap11_touch(%L)::text', :'touchable'))::jsonb ->> 'note',
          'touched', 'and it works');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

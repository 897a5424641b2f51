-- The query language of the generated list functions (equality, __in, __isnull, __gt/__gte/
-- __lt/__lte, ordering by one or several declared keys, search, pages, keyset cursors, and the
-- refusals that name what is allowed), and lost-update protection (ETag / If-Match).
BEGIN;
SELECT no_plan();

SELECT coditect.create_tenant('Query', 't27-q', 'q@t27.test', 'owner@t27.test') AS j \gset
SELECT :'j'::jsonb ->> 'tenant_id' AS tid, :'j'::jsonb ->> 'user_id' AS owner_u \gset
SELECT coditect.create_tenant('Other', 't27-other', 'o@t27.test', 'owner@other.t27.test') IS NOT NULL AS other \gset
SELECT set_config('tap.tenant', :'tid', false), set_config('tap.user.owner', :'owner_u', false) \gset
\ir lib/as_user.psql
-- As a gateway login: RLS applies (a superuser would bypass it).
CREATE ROLE tap27_gateway LOGIN IN ROLE coditect_gateway;
-- Five projects with distinct, known creation times (the list's default order); the timestamp
-- trigger, which would stamp now(), is skipped in replica mode.
SET session_replication_role = replica;
INSERT INTO coditect.projects (tenant_id, name, description, created_at)
SELECT :'tid', n, d, timestamptz '2026-01-01' + g * interval '1 day'
  FROM (VALUES (1, 'Apple', 'red fruit'), (2, 'banana', 'yellow fruit'), (3, 'Cherry', 'small red stone fruit'),
               (4, 'Date', 'sweet'), (5, 'Elder', 'flower')) v(g, n, d);
UPDATE coditect.projects SET updated_at = created_at WHERE tenant_id = :'tid';
RESET session_replication_role;
INSERT INTO coditect.users (tenant_id, email, last_login) VALUES (:'tid', 'seen@t27.test', now());

CREATE FUNCTION pg_temp.names(p_filters text, p_page int DEFAULT 1, p_size int DEFAULT 20, p_cursor text DEFAULT NULL,
                              p_ordering text DEFAULT NULL, p_search text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN r LIKE 'CD%' OR r LIKE '2%' THEN r
                ELSE (SELECT string_agg(e ->> 'name', ',' ORDER BY n) FROM jsonb_array_elements(r::jsonb -> 'results') WITH ORDINALITY x(e, n)) END
      FROM pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_list(%L, %s, %s, %L, %L, %L)',
                                                   p_filters, coalesce(p_page::text, 'NULL'), p_size, p_cursor, p_ordering, p_search)) r
$$;

SELECT id AS pid FROM coditect.projects WHERE tenant_id = :'tid' AND name = 'Date' \gset
SET ROLE tap27_gateway;

-- Filters.
SELECT is(pg_temp.names('{"name": "Cherry"}'), 'Cherry', 'equality');
SELECT is(pg_temp.names('{"name__in": "Apple,Date"}'), 'Date,Apple', '__in, comma-separated');
SELECT is(pg_temp.names('{"name__in": ["Apple", "Elder"]}'), 'Elder,Apple', '__in, a JSON array');
SELECT is(pg_temp.names('{"created_at__gt": "2026-01-03"}'), 'Elder,Date,Cherry', '__gt');
SELECT is(pg_temp.names('{"created_at__gte": "2026-01-03"}'), 'Elder,Date,Cherry,banana', '__gte');
SELECT is(pg_temp.names('{"created_at__lt": "2026-01-03"}'), 'Apple', '__lt');
SELECT is(pg_temp.names('{"created_at__lte": "2026-01-03", "created_at__gt": "2026-01-02"}'), 'banana', '__lte with __gt: a range');
SELECT is(pg_temp.names('{"name": "Nobody"}'), NULL, 'no match, no rows');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_users_list('{"last_login__isnull": "false"}') -> 'results' -> 0 ->> 'email'$$),
          'seen@t27.test', '__isnull=false');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT string_agg(u ->> 'email', ',') FROM jsonb_array_elements(
                                                  coditect.api_users_list('{"last_login__isnull": "true"}') -> 'results') u$$),
          'owner@t27.test', '__isnull=true');
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_users_list('{"last_login__isnull": "maybe"}')$$),
             'CD400: filter "last_login__isnull" takes true or false', '__isnull takes a boolean');
SELECT alike(pg_temp.names('{"created_at__gte": "yesterday-ish"}'), 'CD400: invalid filter value:%', 'a value of the wrong type is CD400');
SELECT alike(pg_temp.names('{"name__in": "Apple,Date", "owner": "me"}'), 'CD400: unknown filter(s): owner', 'an undeclared filter is CD400');
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_list('{"description": "x"}')$$), 'CD400: %',
             'a column without a declared filter cannot be filtered');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_list('{"x__in": 1}')$$), NULL, 'never reached')
  WHERE false;
SELECT alike(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_list('{"name__contains": "A"}')$$),
             'CD400: unknown filter(s): name__contains', 'an undeclared operator is CD400');
SELECT is((SELECT r FROM pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_list('{"owner": "me"}')$$) r),
          'CD400: unknown filter(s): owner', 'the refusal names the filter');

-- Ordering.
SELECT is(pg_temp.names('{}'), 'Elder,Date,Cherry,banana,Apple', 'the default ordering: newest first');
SELECT is(pg_temp.names('{}', 1, 20, NULL, 'name'), 'Apple,Cherry,Date,Elder,banana', 'ordering by name');
SELECT is(pg_temp.names('{}', 1, 20, NULL, '-name'), 'banana,Elder,Date,Cherry,Apple', 'ordering by -name');
SELECT is(pg_temp.names('{}', 1, 20, NULL, 'created_at'), 'Apple,banana,Cherry,Date,Elder', 'oldest first');
SELECT is(pg_temp.names('{}', 1, 2, NULL, 'name'), 'Apple,Cherry', 'ordering with a page size');
SELECT is(pg_temp.names('{}', 2, 2, NULL, 'name'), 'Date,Elder', 'ordering, page 2');
RESET ROLE;
SET session_replication_role = replica;
UPDATE coditect.projects SET updated_at = CASE WHEN name IN ('Apple', 'Elder') THEN timestamptz '2026-06-01' ELSE '2026-03-01' END
 WHERE tenant_id = :'tid';
RESET session_replication_role;
SET ROLE tap27_gateway;
SELECT is(pg_temp.names('{}', 1, 20, NULL, '-updated_at,name'), 'Apple,Elder,Cherry,Date,banana', 'ordering by two keys');
SELECT is(pg_temp.names('{}', 1, 20, NULL, ' -updated_at , -name '), 'Elder,Apple,banana,Date,Cherry', 'spaces around keys are fine');
SELECT alike(pg_temp.names('{}', 1, 20, NULL, 'description'), 'CD400: invalid ordering "description"', 'an undeclared ordering is CD400');
SELECT is((SELECT r FROM pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_list('{}', 1, 20, NULL, 'colour')$$) r),
          'CD400: invalid ordering "colour"', '... with the allowed keys in the hint');
SELECT alike(pg_temp.names('{}', 1, 20, NULL, 'name,-name'), 'CD400: invalid ordering%', 'a key used twice is CD400');
SELECT alike(pg_temp.names('{}', NULL, 20, NULL, 'name,created_at'), 'CD400: an ordering by several keys needs page pagination%',
             'keyset pages need one key');

-- Search (full text over the declared columns).
SELECT is(pg_temp.names('{}', 1, 20, NULL, 'name', 'red'), 'Apple,Cherry', 'search');
SELECT is(pg_temp.names('{}', 1, 20, NULL, 'name', 'red -stone'), 'Apple', 'search with an exclusion');
SELECT is(pg_temp.names('{"name": "Apple"}', 1, 20, NULL, NULL, 'fruit'), 'Apple', 'search with a filter');
SELECT is(pg_temp.names('{}', 1, 20, NULL, 'name', '  '), 'Apple,Cherry,Date,Elder,banana', 'a blank search is no search');
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_memberships_list('{}', 1, 20, NULL, NULL, 'x')$$),
          'CD400: memberships has no search', 'a list without declared search refuses one');

-- Pages and cursors.
SELECT alike(pg_temp.names('{}', 1, 0), 'CD400: page_size must be between 1 and 200', 'page_size at least 1');
SELECT alike(pg_temp.names('{}', 1, 201), 'CD400: page_size must be between 1 and 200', 'page_size at most 200');
SELECT alike(pg_temp.names('{}', 0, 20), 'CD400: page must be 1 or more', 'pages start at 1');
SELECT is(pg_temp.names('{}', 9, 20), NULL, 'a page past the end is empty');
SELECT pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_projects_list('{}', NULL, 2, NULL, 'name')$$) AS k1 \gset
SELECT is(:'k1'::jsonb -> 'count', 'null'::jsonb, 'keyset pages have no count');
SELECT is(pg_temp.names('{}', NULL, 2, :'k1'::jsonb ->> 'next_cursor', 'name'), 'Date,Elder', 'the cursor continues by name');
SELECT pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_list('{}', NULL, 2, %L, 'name')$$, :'k1'::jsonb ->> 'next_cursor')) AS k2 \gset
SELECT is(pg_temp.names('{}', NULL, 2, :'k2'::jsonb ->> 'next_cursor', 'name'), 'banana', '... to the last page');
SELECT alike(pg_temp.names('{}', NULL, 2, :'k1'::jsonb ->> 'next_cursor', '-name'), 'CD400: invalid cursor%',
             'a cursor of another ordering is CD400');
SELECT alike(pg_temp.names('{}', NULL, 2, 'bm90IGEgY3Vyc29y', 'name'), 'CD400: invalid cursor%', 'a forged cursor is CD400');
SELECT is(pg_temp.names('{"name__in": "Apple,Cherry,Date"}', NULL, 2, :'k1'::jsonb ->> 'next_cursor', 'name'), 'Date',
          'filters apply after a cursor');

-- ETag and If-Match.
SELECT coditect.row_etag(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pid'))::jsonb) AS etag \gset
SELECT ok(:'etag' ~ '^"[0-9a-f]{32}"$', 'an ETag is a quoted strong tag');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"description": "v2"}', %L) ->> 'description'$$, :'pid', :'etag')),
          'v2', 'an update with the current ETag applies');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"description": "v3"}', %L)$$, :'pid', :'etag')),
             'CD412: the project changed since it was read%', 'an update with a stale ETag is CD412');
SELECT is(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L) ->> ''description''', :'pid')), 'v2',
          '... and changes nothing');
SET TimeZone = 'America/New_York';
SELECT is(coditect.row_etag(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pid'))::jsonb),
          coditect.row_etag(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{}')$$, :'pid'))::jsonb),
          'the functions agree on the tag in another time zone');
SELECT ok(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L) ->> ''created_at''', :'pid')) LIKE '%+00:00',
          'rows are answered in UTC whatever the session''s TimeZone');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"description": "v2b"}', %L) ->> 'description'$$,
                                                 :'pid', coditect.row_etag(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pid'))::jsonb))),
          'v2b', 'a tag read in another time zone still matches');
RESET TimeZone;
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"description": "v3"}', %L)$$, :'pid', 'W/' || :'etag')),
             'CD412:%', 'a weak tag never matches');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"description": "v3"}', 'abc')$$, :'pid')),
             'CD400: If-Match must be%', 'a malformed If-Match is CD400');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"description": "v3"}', '"x", %s') ->> 'description'$$, :'pid',
                                                 coditect.row_etag(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pid'))::jsonb))),
          'v3', 'any tag of a list may match');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{"description": "v4"}', '*') ->> 'description'$$, :'pid')),
          'v4', '* matches any current row');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_delete(%L, %L)$$, :'pid', :'etag')),
             'CD412:%', 'a delete with a stale ETag is CD412');
SELECT is(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_delete(%L, %L)$$, :'pid',
                                                 coditect.row_etag(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pid'))::jsonb))),
          'done', 'a delete with the current ETag applies');
SELECT alike(pg_temp.as_user('owner', 'owner', format($$SELECT coditect.api_projects_update(%L, '{}', '*')$$, :'pid')),
             'CD404:%', '* does not match a deleted row');

-- The API works under row-level security: a login that bypasses it (a superuser here) is refused
-- rather than answered with every tenant's rows.
RESET ROLE;
SELECT is(pg_temp.as_user('owner', 'owner', $$SELECT coditect.api_users_list('{}')$$),
          'CD403: the API works under row-level security, which postgres bypasses', 'a login that bypasses RLS is refused by a list');
SELECT alike(pg_temp.as_user('owner', 'owner', format('SELECT coditect.api_projects_get(%L)', :'pid')),
             'CD403: the API works under row-level security%', '... and by a get');

SELECT * FROM finish();
ROLLBACK;

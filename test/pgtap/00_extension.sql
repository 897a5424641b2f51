-- The extension itself: what CREATE EXTENSION brings in, roles, keys, validators.
BEGIN;
SELECT plan(26);

SELECT has_extension('coditect', 'coditect is installed');
SELECT has_extension('pg_partman', 'pg_partman comes with it');
SELECT has_extension('btree_gist', 'btree_gist comes with it');
SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'coditect'),
          'coditect', 'the extension lives in schema coditect');
SELECT isnt((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_partman'),
            'coditect', 'pg_partman lives in its own schema');

SELECT has_role('coditect_gateway');
SELECT has_role('coditect_service');
SELECT has_role('coditect_analyst');
SELECT is((SELECT bool_or(rolcanlogin) FROM pg_roles
            WHERE rolname IN ('coditect_gateway', 'coditect_service', 'coditect_analyst')),
          false, 'the group roles cannot log in');
SELECT is((SELECT count(*)::int FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
            WHERE c.relnamespace = 'coditect'::regnamespace AND r.rolcanlogin AND NOT r.rolsuper),
          0, 'no non-superuser login owns a coditect relation');

-- UUIDv7
SELECT matches(coditect.uuid_generate_v7()::text,
               '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
               'uuid_generate_v7() has version 7 and the RFC 9562 variant');
SELECT ok((SELECT bool_and(a < b) FROM (
             SELECT u AS a, lead(u) OVER (ORDER BY n) AS b
               FROM (SELECT n, coditect.uuid_generate_v7() AS u FROM generate_series(1, 20000) n) s) t
            WHERE b IS NOT NULL),
          'uuid_generate_v7() is strictly increasing within a backend (20000 calls)');
SELECT is((SELECT count(DISTINCT u)::int FROM (SELECT coditect.uuid_generate_v7() u FROM generate_series(1, 20000)) s),
          20000, 'uuid_generate_v7() does not repeat');
SELECT ok(abs(extract(epoch FROM coditect.uuid_v7_time(coditect.uuid_generate_v7()) - clock_timestamp())) < 5,
          'a UUIDv7 carries the current time');
SELECT is(coditect.uuid_v7_time('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), NULL, 'uuid_v7_time of a v4 uuid is NULL');
SELECT is(coditect.uuid_v7_time('017f22e2-79b0-7cc3-98c4-dc0c0c07398f'),
          '2022-02-22 19:22:22+00'::timestamptz, 'uuid_v7_time decodes the RFC 9562 example');

-- Validators and domains
SELECT ok(coditect.is_valid_timezone('Europe/Berlin'), 'Europe/Berlin is a time zone');
SELECT ok(NOT coditect.is_valid_timezone('Mars/Olympus'), 'Mars/Olympus is not');
SELECT ok(NOT coditect.is_valid_timezone(''), 'the empty string is not');
SELECT throws_ok($$SELECT 'not-an-email'::coditect.email$$, '23514', NULL, 'coditect.email rejects a malformed address');
SELECT lives_ok($$SELECT 'a.b+c@example.co.uk'::coditect.email$$, 'coditect.email accepts a normal address');
SELECT throws_ok($$SELECT 'Bad Slug'::coditect.slug$$, '23514', NULL, 'coditect.slug rejects spaces and capitals');
SELECT throws_ok($$SELECT 'javascript:alert(1)'::coditect.url$$, '23514', NULL, 'coditect.url accepts only http(s)');
SELECT throws_ok($$SELECT 'root'::coditect.member_role$$, '22P02', NULL, 'coditect.member_role knows four roles');

-- Context functions are readable by anyone, settable by gateway and service only.
SELECT ok(NOT has_function_privilege('public', 'coditect.set_request_context(uuid,uuid,text,inet,text,text,text,text)', 'EXECUTE'),
          'PUBLIC cannot execute set_request_context');
SELECT ok(NOT has_function_privilege('coditect_analyst', 'coditect.set_request_context(uuid,uuid,text,inet,text,text,text,text)', 'EXECUTE'),
          'analysts cannot execute set_request_context');

SELECT * FROM finish();
ROLLBACK;

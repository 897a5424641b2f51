-- The schema's shape that Citus needs, in the one schema of one-node and Citus installs (issue 13):
-- no policy holds a subquery (Citus refuses them on distributed tables: no `(SELECT f())`
-- initplan, no EXISTS, no `= ANY ((SELECT ...))`); no policy is restrictive; the document read policies still read the
-- grant sets once per query, not once per row; a contact's tenant reference is a CHECK, not a
-- foreign key from a column other than tenant_id to tenants (id). Everything rolled back.
BEGIN;
SELECT plan(13);
\ir lib/refs.psql
\set fx t14
\ir lib/tenants.psql
\ir lib/as_user.psql

-- The policies of tables in p_schemas that hold a subquery: a SubLink node in the stored
-- expression, or SELECT / EXISTS in its text.
CREATE FUNCTION pg_temp.subquery_policies(p_schemas name[]) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('%s.%s: %s', n.nspname, c.relname, p.polname) COLLATE "C"
      FROM pg_policy p
      JOIN pg_class c ON c.oid = p.polrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY (p_schemas)
       AND (coalesce(p.polqual::text, '') LIKE '%{SUBLINK%' OR coalesce(p.polwithcheck::text, '') LIKE '%{SUBLINK%'
            OR coalesce(pg_get_expr(p.polqual, p.polrelid), '') ~* '\m(select|exists)\M'
            OR coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') ~* '\m(select|exists)\M')
     ORDER BY 1
$$;

------------------------------------------------------------------------------------------------
-- No subquery in any policy
------------------------------------------------------------------------------------------------

-- The detector finds each form Citus refuses, and not a function call.
CREATE SCHEMA tap14_probe;
CREATE TABLE tap14_probe.t (tenant_id uuid, id uuid);
CREATE POLICY initplan ON tap14_probe.t USING (tenant_id = (SELECT coditect.current_tenant_id()));
CREATE POLICY exists_ ON tap14_probe.t USING (EXISTS (SELECT 1 FROM coditect.tenants x WHERE x.id = t.tenant_id));
CREATE POLICY any_ ON tap14_probe.t USING (id = ANY ((SELECT coditect_internal.granted_folders())::uuid[]));
CREATE POLICY check_ ON tap14_probe.t WITH CHECK (tenant_id = (SELECT coditect.current_tenant_id()));
CREATE POLICY call ON tap14_probe.t USING (tenant_id = coditect.current_tenant_id()
                                           AND coditect_internal.folder_granted(tenant_id, id));
SELECT is(ARRAY(SELECT pg_temp.subquery_policies('{tap14_probe}')),
          ARRAY['tap14_probe.t: any_', 'tap14_probe.t: check_', 'tap14_probe.t: exists_', 'tap14_probe.t: initplan'],
          'the detector finds an initplan, an EXISTS, an ANY over a subquery and a subquery in WITH CHECK');

SELECT cmp_ok((SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                WHERE c.relnamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)), '>', 60::bigint,
              'the extension''s policies are there to check');
SELECT is_empty($$SELECT * FROM pg_temp.subquery_policies('{coditect,coditect_internal}')$$,
                'no policy of the extension holds a subquery (Citus refuses them)');
SELECT is_empty($$SELECT c.oid::regclass::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                   WHERE p.polname = 'tenant_isolation'
                     AND pg_get_expr(p.polqual, p.polrelid) !~ '^\(\w+ = coditect\.current_tenant_id\(\)\)$'$$,
                'every tenant_isolation policy is <tenant column> = coditect.current_tenant_id()');
-- Citus 13.2.2 creates a shard's policies without AS RESTRICTIVE (ORing a restrictive policy with
-- the tenant's there): rows are narrowed by permissive policies carrying the tenant condition
-- (coditect_internal.narrow_tenant_policy; test/citus/policies.sql reads the shards).
SELECT is_empty($$SELECT c.oid::regclass::text, p.polname::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                   WHERE NOT p.polpermissive$$,
                'no policy is restrictive (Citus makes a shard''s policies permissive)');
-- A policy's helper that reads a table runs inside the shard query on a Citus worker, where
-- Citus refuses a SQL function's parameters and any nested read unless allowed: the functions
-- the policies call are C (src_ext/pg_nested_read.cpp and the context readers), or SQL reading
-- no table (FROM nowhere in their body); or is_citus_worker(), which reads a catalog of Citus
-- on its node (the policies of the global tables the gateway writes: global_keys,
-- coupon_redemptions).
SELECT is_empty($$SELECT DISTINCT d.refobjid::regprocedure::text
                    FROM pg_policy p
                    JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid AND d.refclassid = 'pg_proc'::regclass
                    JOIN pg_proc f ON f.oid = d.refobjid JOIN pg_language l ON l.oid = f.prolang
                   WHERE p.polrelid IN (SELECT c.oid FROM pg_class c
                                         WHERE c.relnamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace))
                     AND l.lanname <> 'c' AND NOT (l.lanname = 'sql' AND f.prosrc !~* '\mfrom\M')
                     AND f.oid <> 'coditect_internal.is_citus_worker()'::regprocedure$$,
                'every function a policy calls is C, or SQL reading no table');

------------------------------------------------------------------------------------------------
-- The document read policies read each grant set once per query
------------------------------------------------------------------------------------------------

-- 200 folders of the owner, the member granted view on 50 of them (through a team) and on one
-- document of its own in a folder it is not granted. As the member, a list of the folders and one
-- of the documents: one call of each set's function per query (the transaction's function
-- statistics count them), not one per row.
INSERT INTO coditect.teams (tenant_id, name) VALUES (:'ta', 'Readers') RETURNING id AS team \gset
INSERT INTO coditect.team_members (tenant_id, team_id, user_id) VALUES (:'ta', :'team', pg_temp.id('member'));
INSERT INTO coditect.folders (tenant_id, name, created_by)
SELECT :'ta', 'F' || g, pg_temp.id('owner') FROM generate_series(1, 200) g;
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id, created_by)
SELECT :'ta', f.id, 'D in ' || f.name, pg_temp.id('owner'), pg_temp.id('owner') FROM coditect.folders f WHERE f.tenant_id = :'ta';
INSERT INTO coditect.document_permissions (tenant_id, folder_id, team_id, permission_level, granted_by)
SELECT :'ta', f.id, :'team', 'view', pg_temp.id('owner')
  FROM coditect.folders f WHERE f.tenant_id = :'ta' AND f.name ~ '^F[0-9]*[05]$';
INSERT INTO coditect.document_permissions (tenant_id, document_id, user_id, permission_level, granted_by)
SELECT :'ta', d.id, pg_temp.id('member'), 'view', pg_temp.id('owner') FROM coditect.documents d
  JOIN coditect.folders f ON f.tenant_id = d.tenant_id AND f.id = d.folder_id WHERE f.name = 'F1';
-- ... and one of the granted folders' documents has grants of its own naming someone else: hidden.
INSERT INTO coditect.document_permissions (tenant_id, document_id, user_id, permission_level, granted_by)
SELECT :'ta', d.id, pg_temp.id('admin'), 'view', pg_temp.id('owner') FROM coditect.documents d
  JOIN coditect.folders f ON f.tenant_id = d.tenant_id AND f.id = d.folder_id WHERE f.name = 'F5';

SET track_functions = 'all';
CREATE ROLE tap14_gateway LOGIN IN ROLE coditect_gateway;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
SET ROLE tap14_gateway;
SELECT pg_temp.as_user('member', 'member', 'SELECT count(*) FROM coditect.folders') AS member_folders \gset
SELECT pg_temp.as_user('member', 'member', 'SELECT count(*) FROM coditect.documents') AS member_documents \gset
RESET ROLE;
SELECT is(:'member_folders'::text, '40', 'the member sees the 40 folders granted to its team');
SELECT is(:'member_documents'::text, '40',
          'and their documents but the one with grants of its own for someone else, plus its own grant''s');
SELECT is((SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'coditect_internal' AND funcname = 'granted_folders'),
          2::bigint, 'granted_folders() ran once per query (two queries over 200 folders and 200 documents)');
SELECT is((SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'coditect_internal' AND funcname = 'granted_documents'),
          2::bigint, 'granted_documents() ran once per set in the documents query (its own grants, and the caller''s)');
-- (The member's context is still the transaction's.)
SELECT is(ARRAY(SELECT coditect_internal.folder_granted(t, f.id) FROM coditect.folders f, unnest(ARRAY[:'ta', :'tb']::uuid[]) t
                 WHERE f.tenant_id = :'ta' AND f.name = 'F10'), ARRAY[true, false],
          'folder_granted: true for a granted folder, false for the same id under another tenant');

------------------------------------------------------------------------------------------------
-- A contact naming its tenant: a CHECK, not a foreign key to tenants (id)
------------------------------------------------------------------------------------------------

SELECT is_empty($$SELECT c.conname FROM pg_constraint c
                   WHERE c.contype = 'f' AND c.confrelid = 'coditect.tenants'::regclass
                     AND c.conrelid IN ('coditect.addresses'::regclass, 'coditect.phone_numbers'::regclass,
                                        'coditect.email_addresses'::regclass)
                     AND c.conkey <> ARRAY[(SELECT a.attnum FROM pg_attribute a
                                             WHERE a.attrelid = c.conrelid AND a.attname = 'tenant_id')]$$,
                'contacts: no foreign key to tenants but tenant_id''s (Citus refuses one from ref_tenant)');
-- The guarantee holds with the guard off: the database, not only the trigger.
ALTER TABLE coditect.email_addresses DISABLE TRIGGER guard_contact;
SELECT throws_ok(format($$INSERT INTO coditect.email_addresses (tenant_id, entity_type, entity_id, email_type, email)
                          VALUES (%L, 'tenant', %L, 'work', 'x@x.test')$$, :'ta', :'tb'),
                 '23514', NULL, 'a contact cannot name another tenant, even without the triggers');
ALTER TABLE coditect.email_addresses ENABLE ALWAYS TRIGGER guard_contact;

SELECT * FROM finish();
ROLLBACK;

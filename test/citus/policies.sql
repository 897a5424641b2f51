-- Run by scripts/test-citus.sh on the coordinator: no distributed table has a restrictive
-- policy, and every shard carries its table's policies as they are. Citus 13.2.2 creates a
-- shard's policies without AS RESTRICTIVE, which would OR a restrictive policy with the tenant's
-- there (README, Running on Citus): rows are narrowed by permissive policies carrying the tenant
-- condition instead (coditect_internal.narrow_tenant_policy). Read on every placement, so shards
-- made by moves, splits and rebalancing are checked too. Then the breach a restrictive policy
-- made, reproduced: a gateway login without a request context reads no address (the contacts'
-- read rule lets a caller without a user through, tenant_isolation alone stopping it).
-- Its two tenants stay (purge_tenant is not distributed yet); its role is removed at the end.
\set ON_ERROR_STOP 1
SELECT plan(6);

-- A policy as text, the same on the coordinator and on a shard (role names, not oids; the
-- shard's name replaced by its table's by the caller).
CREATE TEMP TABLE policies AS
SELECT p.polrelid::regclass AS tbl, c.relname::text AS relname,
       string_agg(concat(p.polname, ' ', p.polcmd, ' ', p.polpermissive, ' ',
                         ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END FROM unnest(p.polroles) r),
                         ' USING ', pg_get_expr(p.polqual, p.polrelid), ' CHECK ', pg_get_expr(p.polwithcheck, p.polrelid)),
                  E'\n' ORDER BY p.polname) AS def
  FROM pg_policy p JOIN pg_dist_partition d ON d.logicalrelid = p.polrelid JOIN pg_class c ON c.oid = p.polrelid
 GROUP BY p.polrelid, c.relname;

SELECT is_empty($$SELECT p.polrelid::regclass::text, p.polname::text FROM pg_policy p
                    JOIN pg_dist_partition d ON d.logicalrelid = p.polrelid WHERE NOT p.polpermissive$$,
                'no distributed table has a restrictive policy');
SELECT cmp_ok((SELECT count(*) FROM policies WHERE def LIKE '%tenant_isolation_narrowed%'), '>=', 16::bigint,
              'distributed tables with narrowed tenant policies exist (the check below reads them)');
SELECT is_empty($$
    SELECT p.tbl::text, r.shardid, r.nodeport, CASE WHEN r.success THEN replace(r.result, p.relname || '_' || r.shardid, p.relname) ELSE r.result END
      FROM policies p,
           run_command_on_placements(p.tbl, $q$SELECT string_agg(concat(p.polname, ' ', p.polcmd, ' ', p.polpermissive, ' ',
                                                         ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END FROM unnest(p.polroles) r),
                                                         ' USING ', pg_get_expr(p.polqual, p.polrelid), ' CHECK ', pg_get_expr(p.polwithcheck, p.polrelid)),
                                                  E'\n' ORDER BY p.polname)
                                           FROM pg_policy p WHERE p.polrelid = '%s'::regclass$q$) r
     WHERE NOT r.success OR replace(r.result, p.relname || '_' || r.shardid, p.relname) IS DISTINCT FROM p.def
     ORDER BY 1, 2$$,
    'every shard placement has its table''s policies: names, commands, permissive, roles, USING and WITH CHECK (listed: table, shard, node, its policies)');

-- The breach: two tenants' addresses (the tenant's own, which the read rule lets every member
-- and a caller without a user see), read by a gateway login without a context.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tappol_gw') THEN
        CREATE ROLE tappol_gw LOGIN IN ROLE coditect_gateway;
    END IF;
END $$;
SELECT 'tpol-' || substr(md5(random()::text), 1, 8) AS run \gset
SELECT coditect.create_tenant('Pol A', :'run' || '-a', 'a@tpol.test', 'owner@a.' || :'run' || '.test') ->> 'tenant_id' AS ta \gset
SELECT coditect.create_tenant('Pol B', :'run' || '-b', 'b@tpol.test', 'owner@b.' || :'run' || '.test') ->> 'tenant_id' AS tb \gset
INSERT INTO coditect.addresses (tenant_id, entity_type, entity_id, address_type, address_line1, city, country_code)
VALUES (:'ta', 'tenant', :'ta', 'billing', '1 A Street', 'Aville', 'FR'),
       (:'tb', 'tenant', :'tb', 'billing', '1 B Street', 'Bville', 'DE');
-- (Counts read first: a pgTAP call around a query routed to one shard would run on its worker.)
SELECT (SELECT count(*)::int FROM coditect.addresses WHERE tenant_id IN (:'ta', :'tb')) AS v_su \gset
SELECT is(:v_su, 2, 'the superuser reads both tenants'' addresses');
SET SESSION AUTHORIZATION tappol_gw;
SELECT (SELECT count(*)::int FROM coditect.addresses) AS v_all,
       (SELECT count(*)::int FROM coditect.addresses WHERE tenant_id = :'ta') AS v_a \gset
RESET SESSION AUTHORIZATION;
SELECT is(:v_all, 0, 'a gateway login without a request context reads no address of any shard (multi-shard)');
SELECT is(:v_a, 0, '... nor of one tenant''s shard (router)');
DROP ROLE tappol_gw;

-- Run by scripts/test-citus.sh on the coordinator: every shard carries its table's row policies
-- as they are, restrictive ones restrictive. Citus 13.2.2 creates a shard's policies without
-- AS RESTRICTIVE, which ORs them with tenant_isolation there (a row a restrictive policy lets
-- through becomes visible to every tenant and to no context; README, Running on Citus). Read
-- on every placement, so shards made by moves, splits and rebalancing are checked too.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(2);
CREATE TEMP TABLE policies AS
SELECT p.polrelid::regclass AS tbl, count(*) FILTER (WHERE p.polpermissive) AS permissive,
       count(*) FILTER (WHERE NOT p.polpermissive) AS restrictive
  FROM pg_policy p JOIN pg_dist_partition d ON d.logicalrelid = p.polrelid
 GROUP BY p.polrelid;
SELECT cmp_ok((SELECT count(*) FROM policies WHERE restrictive > 0), '>', 0::bigint,
              'distributed tables with restrictive policies exist (the check below reads them)');
SELECT is_empty($$
    SELECT p.tbl::text, r.shardid, r.nodeport, r.result
      FROM policies p,
           run_command_on_placements(p.tbl, $q$SELECT count(*) FILTER (WHERE polpermissive) || '/' || count(*) FILTER (WHERE NOT polpermissive)
                                                  FROM pg_policy WHERE polrelid = '%s'::regclass$q$) r
     WHERE NOT r.success OR r.result <> p.permissive || '/' || p.restrictive
     ORDER BY 1, 2$$,
    'every shard placement has its table''s permissive/restrictive policies (listed: table, shard, node, permissive/restrictive there)');
ROLLBACK;

-- Run by scripts/test-citus.sh on the coordinator of a Citus cluster after coditect.distribute():
-- every table of the extension is distributed (tenant tables by tenant in tenants' colocation
-- group) or a reference table, but the resource catalog, the same on every node, the foreign keys are those of the single-node schema, no local
-- rows are left behind; a re-run converts nothing (test-citus.sh adds a table the way an
-- extension update would, and checks that the next run converts it alone); the maintenance jobs run on the coordinator against the distributed tables: audit
-- partitions are made distributed and protected, the audit trail (rows on every node) is sealed
-- and verified, a row added on a shard into a sealed hour is reported. One transaction, rolled back.
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(22);
SET LOCAL client_min_messages = warning;

CREATE TEMP TABLE ext_tables AS
SELECT c.oid::regclass AS relid FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'coditect'
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relnamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace);

-- 1. What is distributed how.
SELECT cmp_ok((SELECT count(*)::int FROM ext_tables), '>=', 80, 'the walk finds the extension''s tables');
SELECT is(ARRAY(SELECT relid::text FROM ext_tables
                 WHERE relid NOT IN (SELECT logicalrelid FROM pg_dist_partition) ORDER BY 1),
          ARRAY(SELECT t::text FROM unnest(coditect_internal.node_local_tables()) t ORDER BY 1),
          'every table of the extension is a Citus table, but the resource catalog, which each node keeps');
SELECT is((SELECT count(DISTINCT result)::int FROM run_command_on_all_nodes(
             $$SELECT string_agg(o.resource || '.' || o.name || ' ' || o.function::text || ' ' || md5(p.prosrc), ',' ORDER BY 1)
                 FROM coditect_internal.resource_operations o JOIN pg_proc p ON p.oid = o.function$$)), 1,
          'every node has the same operations and their generated functions');
SELECT is((SELECT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition
            WHERE logicalrelid = 'coditect.tenants'::regclass), 'id', 'tenants are distributed by id');
SELECT is(ARRAY(SELECT tt.relid::text FROM coditect_internal.tenant_tables tt
                  JOIN pg_class c ON c.oid = tt.relid AND c.relkind IN ('r', 'p')
                  LEFT JOIN pg_dist_partition p ON p.logicalrelid = tt.relid
                  LEFT JOIN coditect_internal.resources r ON r.relid = tt.relid
                 WHERE p.partmethod IS DISTINCT FROM 'h'
                    OR column_to_column_name(p.logicalrelid, p.partkey) <> coalesce(r.tenant_column, 'tenant_id')
                    OR p.colocationid <> (SELECT colocationid FROM pg_dist_partition
                                           WHERE logicalrelid = 'coditect.tenants'::regclass)
                 ORDER BY 1), '{}',
          'every registered tenant table is distributed by its tenant column, colocated with tenants');
SELECT is((SELECT count(DISTINCT colocationid)::int FROM pg_dist_partition WHERE partmethod = 'h'), 1,
          'one colocation group for all hash-distributed tables (audit partitions included)');
SELECT is(ARRAY(SELECT relid::text FROM ext_tables t JOIN pg_dist_partition p ON p.logicalrelid = t.relid
                 WHERE p.partmethod = 'n' AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.relid
                                                        AND a.attname = 'tenant_id' AND NOT a.attisdropped)
                 ORDER BY 1),
          ARRAY['coditect_internal.analyst_bindings', 'coditect_internal.coupon_redemptions', 'coditect_internal.global_keys',
                'coditect_internal.stripe_events'],
          'the only global tables with a tenant column: analyst bindings, coupon redemptions, global keys, Stripe events');
SELECT is(ARRAY(SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'coditect.audit_logs'::regclass
                   AND inhrelid NOT IN (SELECT logicalrelid FROM pg_dist_partition) ORDER BY 1), '{}',
          'the audit partitions are distributed with their parent');

-- 2. The foreign keys are the single-node schema's (saved by test-citus.sh before distribute()).
SELECT set_eq($$SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE contype = 'f' AND conparentid = 0
                   AND connamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)
                   AND (conrelid IN (SELECT logicalrelid FROM pg_dist_partition)
                        OR conrelid = ANY (coditect_internal.node_local_tables()))$$,
              $$SELECT tbl, conname, def FROM citus_check.fks_before$$,
              'the foreign keys after distribute() are exactly those before it');
SELECT is((SELECT count(*)::int FROM run_command_on_placements('coditect.tasks',
              $$SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = '%s'::regclass$$)
            WHERE result::int <> (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0
                                   AND conrelid = 'coditect.tasks'::regclass)), 0,
          'every shard of tasks has the foreign keys of tasks');

-- 3. The coordinator kept no local copy of the rows it moved into shards.
SELECT is(ARRAY(SELECT relid::text FROM ext_tables WHERE pg_relation_size(relid) > 0
                   AND relid <> ALL (coditect_internal.node_local_tables()) ORDER BY 1), '{}',
          'no local rows are left on the coordinator (but the resource catalog''s, which stays local)');

-- 4. Re-runs.
SELECT is(coditect.distribute(8) - 'seconds', '{"distributed": 0, "reference": 0, "foreign_keys": 0}',
          'a second distribute() converts nothing');
SELECT is((SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = 'citus_check.fks_before'::regclass),
          NULL, 'a table outside the extension and its registries is left alone');

-- 5. Maintenance on the coordinator (test-citus.sh runs every job's command first, each in its own
-- transaction as pg_cron does).
-- Partitions made by that maintenance (test-citus.sh asks for one more month ahead each round)
-- are distributed and protected on every shard.
SELECT is(ARRAY(SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'coditect.audit_logs'::regclass
                   AND inhrelid NOT IN (SELECT logicalrelid FROM pg_dist_partition) ORDER BY 1), '{}',
          'the audit partitions maintenance made are distributed');
SELECT is(ARRAY(SELECT i.inhrelid::regclass || ': ' || p.result FROM pg_inherits i,
                LATERAL run_command_on_placements(i.inhrelid::regclass,
                    $$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass
                        AND tgname ~ '^audit_logs_immutable_row_[0-9]+$' AND tgenabled = 'A'$$) p
                 WHERE i.inhparent = 'coditect.audit_logs'::regclass AND p.result <> '1'), '{}',
          'every shard of every audit partition carries the row guard, enabled always');
-- Citus propagates a statement trigger made on a partition after distribution to the workers'
-- tables, not to the shards: what guards the newest partition through the coordinator is its
-- shards' row guard (UPDATE, DELETE) and the coordinator's statement guard (TRUNCATE runs there).
SELECT inhrelid::regclass AS newest FROM pg_inherits WHERE inhparent = 'coditect.audit_logs'::regclass
 ORDER BY inhrelid::regclass::text DESC LIMIT 1 \gset
ALTER TABLE coditect.audit_logs DISABLE TRIGGER workflow_events;
SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'FROM \(''([^'']+)''\)'))[1] AS newest_from
  FROM pg_class WHERE oid = :'newest'::regclass \gset
-- (Audit rows need no tenant row.)
SELECT coditect.uuid_generate_v7() AS one_tenant \gset
INSERT INTO coditect.audit_logs (tenant_id, action, resource_type, created_at)
VALUES (:'one_tenant', 'citus.future', 'Check', :'newest_from'::timestamptz + interval '1 day');
SELECT throws_ok(format('UPDATE %s SET action = %L', :'newest', 'x'), 'CD403', NULL,
                 'the newest partition refuses UPDATE through the coordinator');
SELECT throws_ok(format('DELETE FROM %s', :'newest'), 'CD403', NULL, 'and DELETE');
SELECT throws_ok(format('TRUNCATE %s', :'newest'), 'CD403', NULL, 'and TRUNCATE');
ALTER TABLE coditect.audit_logs ENABLE TRIGGER workflow_events;

-- 6. Seal and verify a trail spread over the nodes: rows of tenants on different workers.
SELECT array_agg(x.t) AS tenants FROM (
    SELECT DISTINCT ON (p.nodeport) g.t
      FROM (SELECT coditect.uuid_generate_v7() AS t FROM generate_series(1, 32)) g
      JOIN pg_dist_shard_placement p ON p.shardid = get_shard_id_for_distribution_column('coditect.tenants', g.t)
     ORDER BY p.nodeport, g.t) x \gset
SELECT cmp_ok(cardinality(:'tenants'::uuid[]), '>=', 2, 'tenant ids on at least two nodes (audit rows need no tenant row)');
ALTER TABLE coditect_internal.audit_seals DISABLE TRIGGER ALL;
DELETE FROM coditect_internal.audit_seals;
ALTER TABLE coditect_internal.audit_seals ENABLE TRIGGER ALL;
-- (Its workflow trigger's condition reads the workflow subscriptions from the shard: a nested
-- distributed query Citus refuses in a task sent by the coordinator. Off for these rows.)
ALTER TABLE coditect.audit_logs DISABLE TRIGGER workflow_events;
INSERT INTO coditect.audit_logs (tenant_id, action, resource_type, created_at)
SELECT t, 'citus.check', 'Check', date_trunc('hour', now()) - interval '3 hours' + n * interval '7 minutes'
  FROM unnest(:'tenants'::uuid[]) t, generate_series(1, 12) n;
SELECT cmp_ok(coditect.audit_seal(), '>=', 2, 'audit_seal() seals the complete hours of all nodes'' rows');
SELECT is(coditect.audit_verify(date_trunc('hour', now()) - interval '3 hours', now())->>'intact', 'true',
          'audit_verify() finds the trail intact');
-- A row slipped into a sealed hour on one worker's shard after sealing.
INSERT INTO coditect.audit_logs (tenant_id, action, resource_type, created_at)
VALUES ((:'tenants'::uuid[])[2], 'citus.late', 'Check', date_trunc('hour', now()) - interval '3 hours' + interval '1 minute');
SELECT is((SELECT string_agg(p ->> 'problem', ',') FROM jsonb_array_elements(
              coditect.audit_verify(date_trunc('hour', now()) - interval '3 hours', now())->'problems') p),
          'rows_added', 'a row added on a worker''s shard into a sealed hour is reported');

SELECT * FROM finish();
ROLLBACK;

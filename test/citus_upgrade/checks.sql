-- After ALTER EXTENSION coditect UPDATE to the test version of test/citus_upgrade/migration.sql
-- and coditect.distribute() (scripts/citus_upgrade_test.sh runs this on the coordinator as a
-- superuser, after the update and again after a node was added): every node is at the version,
-- every shard placement and every worker's copy of the changed and the new table has the
-- coordinator's columns, defaults, indexes, constraints, policies, triggers and row security,
-- every node has the replaced functions, the reference table's new column and row reached every
-- placement, and the API works through the coordinator as a gateway login: the new column (its
-- default on rows made before the update, its trigger, the replaced CHECK function, the changed
-- policy), the new table written and read by a gateway login, two tenants isolated.
\set ON_ERROR_STOP 1
SELECT plan(24);

-- A table's shape as one text, run on any node for a table or a shard (%1$s); shard suffixes of
-- index, constraint and relation names are cut, so a shard answers what its table does.
CREATE TEMP TABLE fp (q text);
INSERT INTO fp VALUES ($q$SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT format('column %%s %%s %%s %%s', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = '%1$s'::regclass AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'index ' || regexp_replace(pg_get_indexdef(indexrelid), '_[0-9]{6,}', '', 'g')
    FROM pg_index WHERE indrelid = '%1$s'::regclass
  UNION ALL
  SELECT format('constraint %%s %%s', regexp_replace(conname, '_[0-9]{6,}$', ''), pg_get_constraintdef(oid))
    FROM pg_constraint WHERE conrelid = '%1$s'::regclass AND contype IN ('c', 'p', 'u', 'x')
  UNION ALL
  SELECT format('policy %%s %%s %%s %%s %%s', polname, polpermissive, polcmd, pg_get_expr(polqual, polrelid),
                pg_get_expr(polwithcheck, polrelid))
    FROM pg_policy WHERE polrelid = '%1$s'::regclass
  UNION ALL
  SELECT format('trigger %%s %%s', tgenabled, regexp_replace(pg_get_triggerdef(t.oid), '_[0-9]{6,}', '', 'g'))
    FROM pg_trigger t WHERE t.tgrelid = '%1$s'::regclass AND NOT t.tgisinternal
     AND t.tgfoid <> 'pg_catalog.citus_truncate_trigger()'::regprocedure
  UNION ALL
  SELECT format('row security %%s %%s', relrowsecurity, relforcerowsecurity) FROM pg_class WHERE oid = '%1$s'::regclass
) s(x)$q$);
CREATE FUNCTION pg_temp.shape(p_table text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE format((SELECT q FROM fp), p_table) INTO r;
    RETURN r;
END
$$;
-- The placements (node:port shard) whose shape is not the coordinator's table's.
CREATE FUNCTION pg_temp.placements_unlike(p_table text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(format('%s:%s %s', p.nodename, p.nodeport, p.shardid), ', ' ORDER BY p.shardid)
      FROM run_command_on_placements(p_table::regclass, (SELECT q FROM fp)) p
     WHERE NOT p.success OR p.result IS DISTINCT FROM pg_temp.shape(p_table)
$$;
-- The workers (node:port) whose own copy of the table is not shaped as the coordinator's.
CREATE FUNCTION pg_temp.workers_unlike(p_table text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(format('%s:%s', w.nodename, w.nodeport), ', ' ORDER BY w.nodeport)
      FROM run_command_on_workers(format((SELECT q FROM fp), p_table)) w
     WHERE NOT w.success OR w.result IS DISTINCT FROM pg_temp.shape(p_table)
$$;

SELECT is((SELECT string_agg(DISTINCT result, ', ') FROM run_command_on_all_nodes(
             $$SELECT extversion FROM pg_extension WHERE extname = 'coditect'$$)),
          :'version', 'every node has the extension at the new version');
SELECT is((SELECT count(*)::int FROM run_command_on_placements('coditect.boards', 'SELECT 1')),
          (SELECT count(*)::int FROM pg_dist_shard WHERE logicalrelid = 'coditect.boards'::regclass),
          'boards: one placement per shard');
SELECT ok(pg_temp.shape('coditect.boards') ~ 'column color text t ''slate''::text'
          AND pg_temp.shape('coditect.boards') ~ 'index CREATE INDEX boards_tenant_color_idx ON coditect.boards USING btree \(tenant_id, color\)'
          AND pg_temp.shape('coditect.boards') ~ 'trigger A CREATE TRIGGER board_color_normalize'
          AND pg_temp.shape('coditect.boards') ~ 'color <> ''hidden''', 'boards on the coordinator: the new column, index, trigger and policy');
SELECT is(pg_temp.placements_unlike('coditect.boards'), NULL, 'boards: every shard placement is shaped as the coordinator''s table');
SELECT is(pg_temp.workers_unlike('coditect.boards'), NULL, 'boards: every worker''s table is shaped as the coordinator''s');

SELECT is((SELECT partmethod::text || ' ' || (colocationid = (SELECT colocationid FROM pg_dist_partition
                                                           WHERE logicalrelid = 'coditect.tenants'::regclass))::text
             FROM pg_dist_partition WHERE logicalrelid = 'coditect.board_labels'::regclass),
          'h true', 'board_labels: distributed, colocated with the tenants');
SELECT ok(pg_temp.shape('coditect.board_labels') ~ 'policy tenant_isolation' AND pg_temp.shape('coditect.board_labels') ~ 'row security t t'
          AND pg_temp.shape('coditect.board_labels') ~ 'trigger A CREATE TRIGGER audit_row_change',
          'board_labels on the coordinator: row security, its policy and the audit trigger (registered)');
SELECT is(pg_temp.placements_unlike('coditect.board_labels'), NULL, 'board_labels: every shard placement is shaped as the coordinator''s table');
SELECT is(pg_temp.workers_unlike('coditect.board_labels'), NULL, 'board_labels: every worker''s table is shaped as the coordinator''s');

SELECT is(pg_temp.placements_unlike('coditect.currencies'), NULL, 'currencies (reference): every placement is shaped as the coordinator''s table');
SELECT is(pg_temp.workers_unlike('coditect.currencies'), NULL, 'currencies: every worker''s table is shaped as the coordinator''s');
SELECT is((SELECT string_agg(DISTINCT coalesce(result, 'NULL'), ', ') FROM run_command_on_placements('coditect.currencies',
             $$SELECT symbol FROM %s WHERE code = 'EUR'$$)), '€', 'currencies: the catalog write after the new column reached every placement');

SELECT is((SELECT count(DISTINCT result)::int FROM run_command_on_all_nodes(
             $$SELECT string_agg(p.oid::regprocedure || md5(p.prosrc), ',' ORDER BY 1) FROM pg_proc p
                WHERE p.oid IN ('coditect_internal.check_board_columns(jsonb)'::regprocedure,
                                'coditect_internal.board_color_normalize()'::regprocedure)$$)), 1,
          'every node has the replaced and the new function, as the coordinator does');
SELECT ok((SELECT prosrc ~ 'char_length\(col ->> ''name''\) > 200' FROM pg_proc WHERE oid = 'coditect_internal.check_board_columns(jsonb)'::regprocedure),
          'the replaced function is the update''s');

-- The API through the coordinator, as a gateway login with a request context.
SELECT 'upg-' || substr(md5(random()::text), 1, 8) AS run \gset
SELECT coditect.create_tenant('Upgrade A', :'run' || '-a', 'a@upg.test', 'owner@a.' || :'run' || '.test') AS ja \gset
SELECT coditect.create_tenant('Upgrade B', :'run' || '-b', 'b@upg.test', 'owner@b.' || :'run' || '.test') AS jb \gset
SELECT :'ja'::jsonb ->> 'tenant_id' AS ta, :'ja'::jsonb ->> 'user_id' AS oa,
       :'jb'::jsonb ->> 'tenant_id' AS tb, :'jb'::jsonb ->> 'user_id' AS ob \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'A') RETURNING id AS pa \gset
-- A column name of 150 characters: the replaced CHECK function (on the shard) allows 200.
SELECT jsonb_build_array(jsonb_build_object('id', 'todo', 'name', repeat('n', 150), 'status_mapping', '["todo"]'::jsonb, 'position', 0))
       AS cols \gset
INSERT INTO coditect.boards (tenant_id, project_id, name, color) VALUES (:'ta', :'pa', 'Hidden', 'hidden');

BEGIN;
SET LOCAL ROLE upg_gw;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner') AS _ \gset
SELECT coditect.api_boards_create(jsonb_build_object('project_id', :'pa', 'name', 'Upgraded', 'color', 'TEAL',
                                                     'columns', :'cols'::jsonb)) AS b1 \gset
COMMIT;
SELECT :'b1'::jsonb ->> 'id' AS b1id \gset
BEGIN;
SET LOCAL ROLE upg_gw;
SELECT coditect.set_request_context(:'ta', :'oa', 'owner') AS _ \gset
SELECT coditect.api_boards_list() AS la \gset
INSERT INTO coditect.board_labels (tenant_id, board_id, name) VALUES (:'ta', :'b1id', 'Urgent') RETURNING name AS l1 \gset
SELECT coditect.api_board_labels_create(jsonb_build_object('board_id', :'b1id', 'name', 'Through the API')) AS l2 \gset
SELECT count(*) AS lla FROM coditect.board_labels WHERE board_id = :'b1id' \gset
COMMIT;
BEGIN;
SET LOCAL ROLE upg_gw;
SELECT coditect.set_request_context(:'tb', :'ob', 'owner') AS _ \gset
SELECT coditect.api_boards_list() AS lb, (SELECT count(*) FROM coditect.board_labels) AS llb \gset
COMMIT;

SELECT is(:'b1'::jsonb ->> 'color', 'teal', 'a board created with a color through the API: the new column, normalized by the new trigger on the shard');
SELECT is(char_length(:'b1'::jsonb #>> '{columns,0,name}'), 150, 'its 150-character column name passed the replaced CHECK function on the shard');
SELECT is((SELECT string_agg(r ->> 'name' || ' ' || (r ->> 'color'), ', ') FROM jsonb_array_elements(:'la'::jsonb -> 'results') r),
          'Upgraded teal', 'the generated list answers the new column; the changed policy hides the hidden board');
SELECT is((SELECT string_agg(DISTINCT color, ', ') FROM coditect.boards WHERE name = 'Made before the update'), 'slate',
          'a board made before the update has the new column''s default');
SELECT is(:'l1'::text, 'Urgent', 'a gateway login writes the new table through the coordinator, in its tenant''s context');
SELECT is(:'lla'::text, '2', 'and reads it back, with the label made through the new resource''s API');
SELECT is(:'l2'::jsonb ->> 'name', 'Through the API', 'the new resource''s generated create, through the coordinator');
SELECT is((SELECT count(DISTINCT result)::int FROM run_command_on_all_nodes(
             $$SELECT string_agg(o.name || ' ' || o.function::text || ' ' || md5(p.prosrc), ',' ORDER BY 1)
                 FROM coditect_internal.resource_operations o JOIN pg_proc p ON p.oid = o.function
                WHERE o.resource IN ('board', 'board_label')$$)), 1,
          'every node has the new resource''s and the changed resource''s operations and generated functions');
SELECT is(:'lb'::jsonb ->> 'count', '0', 'tenant B sees none of A''s boards');
SELECT is(:'llb'::text, '0', 'tenant B sees none of A''s labels (row security on the new table''s shards)');

SELECT * FROM finish();

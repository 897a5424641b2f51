-- 92_citus: going distributed on Citus (issue 13). One routine, run by a superuser on the
-- coordinator after CREATE EXTENSION citus, citus_add_node of the workers, and CREATE EXTENSION
-- coditect (README, Running on Citus). It only adds Citus metadata: the schema is the one a
-- single node has. Every tenant table is distributed by its tenant column in one colocation
-- group (coditect.tenants by id), so a tenant's rows, its audit trail included, live in one
-- shard group on one node; every other table of the extension (the global catalogs) becomes a
-- reference table, copied to every node, but the resource catalog (node_local_tables), which
-- each node keeps for itself.
--
-- Which tables: the extension's tables in coditect and coditect_internal (partitions follow
-- their parent) and any table declared to the tenant registry or the resource catalog, so a
-- table an ALTER EXTENSION UPDATE or a register_resource() adds is found on the next run; not
-- the resource catalog's own (node_local_tables). A
-- table is a tenant table when it is registered as one, or when it has a tenant_id column and
-- each of its unique indexes includes it (Citus requires the distribution column in them);
-- the tenant column is the resource catalog's (tenants: id).
--
-- Foreign keys: Citus converts the whole foreign-key graph of a table it makes a reference
-- table and re-creates it on the workers, where CREATE EXTENSION already made those tables
-- ("relation already exists"); keys re-added on the coordinator collide with the workers'
-- copies. So every foreign key that touches a table still to convert is saved, dropped on the
-- coordinator and on every worker (with DDL propagation off there: the workers' tables are
-- the extension's own), the tables are converted, and the keys are added again from the saved
-- definitions through Citus, which creates them on the shards and the workers' tables.
-- A key Citus cannot have (from a reference table to a distributed one) stops the run.
--
-- Idempotent: converted tables are skipped, so a re-run after an upgrade or a new
-- registered table converts only what is new. The worker-side drops are not part of the
-- coordinator's transaction; a failed run leaves keys missing on workers only, which the
-- next run (IF EXISTS there) repairs. Local rows of converted tables (a single-node
-- installation's data, copied into the shards) are truncated on the coordinator.
--
-- Triggers: every trigger of the extension acts on its own row or its own tenant's rows
-- (colocated), which Citus calls unsafe only because it cannot check it; allowed here with
-- citus.enable_unsafe_triggers for this transaction.

-- The resource catalog (its resources, columns, operations, computed fields and schemas) stays
-- a plain table on every node: each node's run of the extension's scripts (install, updates, a
-- node added later) writes its own rows and makes the functions generated from them, which the
-- rows name (regprocedure). As a reference table it could not take a new resource in an update:
-- the coordinator's rows would reach the workers before their run made the functions named.
-- The gateway reads the coordinator's; the generated functions run there, and the actions'
-- owner functions, which Citus runs on the workers, are the scripts' own.
CREATE FUNCTION coditect_internal.node_local_tables() RETURNS regclass[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY['coditect_internal.resources', 'coditect_internal.resource_columns', 'coditect_internal.resource_operations',
                 'coditect_internal.resource_computed', 'coditect_internal.api_schemas']::regclass[]
$$;
REVOKE ALL ON FUNCTION coditect_internal.node_local_tables() FROM PUBLIC;

CREATE FUNCTION coditect.distribute(shard_count int DEFAULT 32) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t0        timestamptz := clock_timestamp();
    r         record;
    fk        record;
    fks       jsonb := '[]';
    cmd       text;
    n_hash    int := 0;
    n_ref     int := 0;
    v_col     name;
    bad       text;
    has_rows  boolean;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'coditect.distribute() needs a superuser' USING ERRCODE = '42501';
    END IF;
    IF pg_catalog.to_regproc('pg_catalog.citus_is_coordinator') IS NULL THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = '55000', HINT = 'CREATE EXTENSION citus, add the workers, then run coditect.distribute().';
    END IF;
    EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO r;
    IF r IS NULL OR NOT (row_to_json(r) ->> 'citus_is_coordinator')::boolean THEN
        RAISE EXCEPTION 'coditect.distribute() runs on the Citus coordinator' USING ERRCODE = '55000';
    END IF;
    IF shard_count IS NULL OR shard_count < 1 THEN
        RAISE EXCEPTION 'shard_count must be positive, got %', shard_count USING ERRCODE = 'CD400';
    END IF;

    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    -- One connection per node for the whole transaction: the conversions copy data and create
    -- constraints after one another in it.
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);

    -- The tables still to convert, with their kind and distribution column.
    DROP TABLE IF EXISTS pg_temp.citus_plan, pg_temp.citus_guards, pg_temp.citus_triggers;
    CREATE TEMP TABLE pg_temp.citus_plan ON COMMIT DROP AS
    WITH candidates AS (
        SELECT c.oid::regclass AS relid
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                                      AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'coditect'
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND c.relnamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)
        UNION
        SELECT tt.relid FROM coditect_internal.tenant_tables tt
        UNION
        SELECT rs.relid FROM coditect_internal.resources rs
    )
    SELECT k.relid,
           coalesce((SELECT rs.tenant_column FROM coditect_internal.resources rs WHERE rs.relid = k.relid),
                    'tenant_id'::name) AS dist_col,
           k.relid IN (SELECT tt.relid FROM coditect_internal.tenant_tables tt) AS registered
      FROM candidates k
     WHERE (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = k.relid) IN ('r', 'p')  -- not views
       AND k.relid <> ALL (coditect_internal.node_local_tables())
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = k.relid);
    ALTER TABLE pg_temp.citus_plan ADD COLUMN kind text;
    UPDATE pg_temp.citus_plan p
       SET kind = CASE
           WHEN p.relid = 'coditect.tenants'::regclass THEN 'tenants'
           WHEN p.registered THEN 'tenant'
           WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = p.relid AND a.attname = p.dist_col AND NOT a.attisdropped)
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                 WHERE i.indrelid = p.relid AND i.indisunique
                                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                                    WHERE a.attrelid = p.relid AND a.attname = p.dist_col
                                                      AND a.attnum = ANY (i.indkey)))
                THEN 'tenant'
           ELSE 'reference' END;
    UPDATE pg_temp.citus_plan SET dist_col = 'id' WHERE kind = 'tenants';
    -- A registered tenant table whose unique index leaves out the tenant column cannot be
    -- distributed; say which, before anything is changed.
    SELECT string_agg(format('%s (%s)', p.relid, i.indexrelid::regclass), ', ') INTO bad
      FROM pg_temp.citus_plan p JOIN pg_catalog.pg_index i ON i.indrelid = p.relid AND i.indisunique
     WHERE p.kind = 'tenant'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = p.relid AND a.attname = p.dist_col AND a.attnum = ANY (i.indkey));
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unique indexes without the tenant column cannot be distributed: %', bad
            USING ERRCODE = '55000';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_temp.citus_plan) THEN
        RETURN jsonb_build_object('distributed', 0, 'reference', 0, 'foreign_keys', 0,
                                  'seconds', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3));
    END IF;

    -- Every foreign key touching a table to convert (partitions' clones follow their parent's).
    FOR fk IN SELECT c.conrelid::regclass AS tbl, c.conname, pg_catalog.pg_get_constraintdef(c.oid) AS def,
                     c.confrelid::regclass AS target
                FROM pg_catalog.pg_constraint c
               WHERE c.contype = 'f' AND c.conparentid = 0
                 AND (c.conrelid IN (SELECT relid FROM pg_temp.citus_plan)
                      OR c.confrelid IN (SELECT relid FROM pg_temp.citus_plan))
               ORDER BY 1, 2 LOOP
        fks := fks || jsonb_build_object('tbl', fk.tbl::text, 'name', fk.conname, 'def', fk.def,
                                         'target', fk.target::text);
    END LOOP;
    -- A key from a reference table to a distributed one cannot exist on Citus.
    SELECT string_agg(format('%s.%s', f ->> 'tbl', f ->> 'name'), ', ') INTO bad
      FROM jsonb_array_elements(fks) f
      JOIN pg_temp.citus_plan src ON src.relid = (f ->> 'tbl')::regclass AND src.kind = 'reference'
     WHERE (f ->> 'target')::regclass IN (SELECT relid FROM pg_temp.citus_plan WHERE kind <> 'reference')
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition dp
                    WHERE dp.logicalrelid = (f ->> 'target')::regclass AND dp.partmethod = 'h');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'foreign keys from global tables to tenant tables cannot be distributed: %', bad
            USING ERRCODE = '55000';
    END IF;

    -- Drop them on the workers first (their own connections, before this transaction locks
    -- anything there), then here.
    IF jsonb_array_length(fks) > 0 THEN
        SELECT 'SET citus.enable_ddl_propagation = off; '
               || string_agg(format('ALTER TABLE IF EXISTS %s DROP CONSTRAINT IF EXISTS %I;', f ->> 'tbl', f ->> 'name'), ' ')
          INTO cmd FROM jsonb_array_elements(fks) f;
        FOR r IN EXECUTE 'SELECT nodename, nodeport, success, result FROM pg_catalog.run_command_on_workers($1)'
                 USING cmd LOOP
            IF NOT r.success THEN
                RAISE EXCEPTION 'dropping the foreign keys on worker %:% failed: %', r.nodename, r.nodeport, r.result
                    USING ERRCODE = '55000';
            END IF;
        END LOOP;
        FOR fk IN SELECT f ->> 'tbl' AS tbl, f ->> 'name' AS name FROM jsonb_array_elements(fks) f LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
        END LOOP;
    END IF;

    -- Citus copies a table's rows into its shards with COPY, which fires the shards' row
    -- triggers: the state machine would refuse rows past their first state, timestamps would be
    -- stamped again and every row audited again. Our triggers are off for the conversion (the
    -- shards are made with that state) and restored to their exact state after it, below.
    -- Only tables with rows: an empty one copies nothing.
    CREATE TEMP TABLE pg_temp.citus_triggers (tbl regclass, tgname name, tgenabled "char") ON COMMIT DROP;
    FOR r IN SELECT relid FROM pg_temp.citus_plan LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', r.relid) INTO has_rows;
        IF has_rows THEN
            INSERT INTO pg_temp.citus_triggers
            SELECT t.tgrelid::regclass, t.tgname, t.tgenabled
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = r.relid AND NOT t.tgisinternal AND t.tgparentid = 0 AND t.tgenabled <> 'D';
        END IF;
    END LOOP;
    FOR r IN SELECT * FROM pg_temp.citus_triggers LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', r.tbl, r.tgname);
    END LOOP;

    -- Convert: tenants first (the colocation group), then the tenant tables, then the rest.
    FOR r IN SELECT * FROM pg_temp.citus_plan
              ORDER BY kind <> 'tenants', kind <> 'tenant', relid::text LOOP
        IF r.kind = 'tenants' THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, $2, shard_count => $3)'
                USING r.relid, r.dist_col::text, shard_count;
            n_hash := n_hash + 1;
        ELSIF r.kind = 'tenant' THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, $2, colocate_with => $3)'
                USING r.relid, r.dist_col::text, 'coditect.tenants';
            n_hash := n_hash + 1;
        ELSE
            EXECUTE 'SELECT pg_catalog.create_reference_table($1)' USING r.relid;
            n_ref := n_ref + 1;
        END IF;
    END LOOP;

    FOR r IN SELECT * FROM pg_temp.citus_triggers LOOP
        EXECUTE format('ALTER TABLE %s %s TRIGGER %I', r.tbl,
                       CASE r.tgenabled WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'ENABLE' END,
                       r.tgname);
    END LOOP;

    -- The coordinator's local copies of the converted tables' rows (now in the shards). The
    -- append-only guards refuse TRUNCATE: switched off locally (no DDL propagation, so shards
    -- and workers keep them) around it and restored to their exact state.
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    CREATE TEMP TABLE pg_temp.citus_guards ON COMMIT DROP AS
    SELECT t.tgrelid::regclass AS tbl, t.tgname, t.tgenabled
      FROM pg_catalog.pg_trigger t
     WHERE NOT t.tgisinternal AND (t.tgtype & 32) <> 0  -- TRUNCATE triggers
       AND (t.tgrelid IN (SELECT relid FROM pg_temp.citus_plan)
            OR t.tgrelid IN (SELECT i.inhrelid FROM pg_catalog.pg_inherits i
                              WHERE i.inhparent IN (SELECT relid FROM pg_temp.citus_plan)));
    FOR r IN SELECT * FROM pg_temp.citus_guards LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', r.tbl, r.tgname);
    END LOOP;
    FOR r IN SELECT relid FROM pg_temp.citus_plan LOOP
        EXECUTE 'SELECT pg_catalog.truncate_local_data_after_distributing_table($1)' USING r.relid;
    END LOOP;
    FOR r IN SELECT * FROM pg_temp.citus_guards LOOP
        EXECUTE format('ALTER TABLE %s %s TRIGGER %I', r.tbl,
                       CASE r.tgenabled WHEN 'O' THEN 'ENABLE' WHEN 'A' THEN 'ENABLE ALWAYS'
                                        WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'DISABLE' END, r.tgname);
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);

    -- The keys again, through Citus (shards and the workers' tables).
    FOR fk IN SELECT f ->> 'tbl' AS tbl, f ->> 'name' AS name, f ->> 'def' AS def
                FROM jsonb_array_elements(fks) f LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);
    END LOOP;

    RETURN jsonb_build_object('distributed', n_hash, 'reference', n_ref, 'foreign_keys', jsonb_array_length(fks),
                              'seconds', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3));
END
$$;
REVOKE ALL ON FUNCTION coditect.distribute(int) FROM PUBLIC;
COMMENT ON FUNCTION coditect.distribute(int) IS
    'Citus coordinator, superuser: distributes every tenant table by tenant (one colocation group with tenants), makes the other tables reference tables; re-runnable.';

-- Upgrades on Citus (README, Running on Citus: upgrading the extension). ALTER EXTENSION coditect
-- UPDATE on the coordinator runs the update script there first, then Citus sends the same ALTER
-- EXTENSION to every worker (DDL propagation off there), which runs the script on its own
-- objects. Functions, types and new tables are each node's own (Citus makes none of an
-- extension's on the workers), so those statements are plain and run on every node. DDL on
-- existing tables goes through alter_table, catalog writes through on_coordinator. Citus sends
-- the coordinator's catalog writes (rows of reference tables) to the workers as it runs them,
-- before the workers' run of the script: a row naming an object new in the update (a new table
-- registered, a new column filled) fails there. Such writes go in a second update step, its
-- own ALTER EXTENSION after the first's, in the same transaction.

-- DDL on an existing table (ALTER TABLE, CREATE INDEX, CREATE / ALTER POLICY, CREATE TRIGGER,
-- GRANT), one schema-qualified command on p_table each: every node applies it to its own copy
-- of the table and to the shard placements it holds (Citus's worker_apply_shard_ddl_command
-- names them as Citus does), Citus's propagation off, so that every placement gets it once,
-- from its node, after that node's run made what the statement uses (a new function, say).
-- Left to Citus, the coordinator's statement would reach the shards before the workers' run
-- made those; and Citus sends a statement of an extension script as the script's whole text
-- ("cannot insert multiple commands into a prepared statement"). One node, or a table Citus
-- does not manage: the statements run, as any other.
CREATE FUNCTION coditect_internal.alter_table(p_table regclass, VARIADIC p_statements text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s      text;
    shard  bigint;
    shards bigint[] := '{}';
    old    text;
    nsp    name := (SELECT n.nspname FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table);
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_placement') IS NOT NULL THEN
        EXECUTE 'SELECT coalesce(array_agg(s.shardid ORDER BY s.shardid), ''{}'')
                   FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid
                  WHERE s.logicalrelid = $1 AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group)'
            INTO shards USING p_table;
        -- Restored below: it would outlast this function, and an ALTER EXTENSION after it in
        -- the transaction would not reach the workers.
        old := pg_catalog.current_setting('citus.enable_ddl_propagation');
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    FOREACH s IN ARRAY p_statements LOOP
        EXECUTE s;
        FOREACH shard IN ARRAY shards LOOP
            EXECUTE 'SELECT pg_catalog.worker_apply_shard_ddl_command($1, $2, $3)' USING shard, nsp::text, s;
        END LOOP;
    END LOOP;
    IF old IS NOT NULL THEN
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', old, true);
    END IF;
END
$$;

-- Writes to the catalog (rows of global tables, which are reference tables on Citus:
-- register_resource, register_action, declare_permission, resource_columns, ...) and the
-- generated functions made from it: once, on the coordinator, whose writes Citus carries to
-- every node's placement in the same transaction. A worker's run would write them a second time
-- (or wait on the coordinator's locks: a distributed deadlock). On a worker this does nothing;
-- elsewhere it runs the statements, one EXECUTE each (schema-qualified).
CREATE FUNCTION coditect_internal.on_coordinator(VARIADIC p_statements text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text;
BEGIN
    IF coditect_internal.is_citus_worker() THEN
        RETURN;
    END IF;
    FOREACH s IN ARRAY p_statements LOOP
        EXECUTE s;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.alter_table(regclass, text[]), coditect_internal.on_coordinator(text[]) FROM PUBLIC;
COMMENT ON FUNCTION coditect_internal.alter_table(regclass, text[]) IS
    'Update scripts: DDL on an existing table, applied by every node to its copy and the shard placements it holds.';
COMMENT ON FUNCTION coditect_internal.on_coordinator(text[]) IS
    'Update scripts: catalog writes and registrations, run on the coordinator (or the one node), skipped on Citus workers.';

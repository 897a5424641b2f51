-- Keys Citus accepts (issue 13): with the tenants distributed by id and every other table that
-- has a tenant_id distributed by it (but the global ones, reference tables), Citus refuses an
-- ON DELETE/UPDATE SET NULL or SET DEFAULT that carries the distribution column, a unique key
-- (or unique index, or exclusion) without it, a foreign key between distributed tables without
-- it at the same position, and a foreign key from a reference table to a distributed one. The
-- catalog is checked for each. Then the behaviour the SET NULL keys had, now NO ACTION with
-- coditect_internal.declare_null_on_delete(): a hard delete (user removal, purges, tenant drop)
-- still sets the references to NULL, with a hostile search_path too; NO ACTION still refuses
-- what nothing nulls. And the two keys that changed: analyst_bindings (no foreign key: checked
-- by bind_analyst, removed by purge_tenant) and workflow_secrets (tenant_id, lineage_id).
-- Runs as a superuser, everything rolled back.
BEGIN;
SELECT plan(33);

-- The distributed tables and their distribution column.
CREATE TEMP TABLE dist AS
SELECT c.oid::regclass AS relid, CASE WHEN c.oid = 'coditect.tenants'::regclass THEN 'id' ELSE 'tenant_id' END::name AS col
  FROM pg_class c
 WHERE c.relnamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace)
   AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND (c.oid = 'coditect.tenants'::regclass
        OR (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
            AND c.oid NOT IN ('coditect_internal.global_keys'::regclass, 'coditect_internal.analyst_bindings'::regclass,
                              'coditect_internal.stripe_events'::regclass, 'coditect_internal.coupon_redemptions'::regclass)));
CREATE FUNCTION pg_temp.cols(p_rel oid, p_nums int2[]) RETURNS name[] LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(p_nums) WITH ORDINALITY AS k(n, i)
      JOIN pg_attribute a ON a.attrelid = p_rel AND a.attnum = k.n
$$;
CREATE TEMP VIEW cons AS
SELECT c.oid, c.conname, c.contype, c.conrelid, c.confrelid, c.confdeltype, c.confupdtype,
       pg_temp.cols(c.conrelid, c.conkey) AS cols, pg_temp.cols(c.confrelid, c.confkey) AS fcols,
       d.col AS dcol, fd.col AS fdcol
  FROM pg_constraint c
  LEFT JOIN dist d ON d.relid = c.conrelid
  LEFT JOIN dist fd ON fd.relid = c.confrelid
 WHERE c.connamespace IN ('coditect'::regnamespace, 'coditect_internal'::regnamespace) AND c.conrelid <> 0;

SELECT is((SELECT array_agg(relid::text) FROM coditect_internal.tenant_tables WHERE relid NOT IN (SELECT relid FROM dist)),
          NULL, 'every registered tenant table is distributed (has tenant_id, or is the tenants)');
SELECT cmp_ok((SELECT count(*)::int FROM dist), '>', (SELECT count(*)::int FROM coditect_internal.tenant_tables),
              'internal tables with a tenant_id are distributed too');
SELECT is((SELECT array_agg(conrelid::regclass || '.' || conname ORDER BY 1) FROM cons
            WHERE contype = 'f' AND dcol IS NOT NULL AND dcol = ANY (cols)
              AND (confdeltype IN ('n', 'd') OR confupdtype IN ('n', 'd'))),
          NULL, 'no SET NULL / SET DEFAULT foreign key carries the distribution column');
SELECT is((SELECT array_agg(conrelid::regclass || '.' || conname ORDER BY 1) FROM cons
            WHERE contype IN ('p', 'u', 'x') AND dcol IS NOT NULL AND NOT dcol = ANY (cols)),
          NULL, 'no primary key, unique or exclusion constraint of a distributed table lacks the distribution column');
SELECT is((SELECT array_agg(i.indexrelid::regclass::text ORDER BY 1) FROM pg_index i JOIN dist d ON d.relid = i.indrelid
            WHERE i.indisunique
              AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attname = d.col
                                 AND a.attnum = ANY (i.indkey))),
          NULL, 'no unique index of a distributed table lacks the distribution column');
SELECT is((SELECT array_agg(conrelid::regclass || '.' || conname ORDER BY 1) FROM cons
            WHERE contype = 'f' AND dcol IS NOT NULL AND fdcol IS NOT NULL
              AND (array_position(cols, dcol) IS NULL OR array_position(cols, dcol) IS DISTINCT FROM array_position(fcols, fdcol))),
          NULL, 'every foreign key between distributed tables carries the distribution column at the same position');
SELECT is((SELECT array_agg(conrelid::regclass || '.' || conname ORDER BY 1) FROM cons
            WHERE contype = 'f' AND dcol IS NULL AND fdcol IS NOT NULL),
          NULL, 'no global table (a reference table) has a foreign key to a distributed table');
SELECT is((SELECT pg_get_constraintdef(oid) FROM cons WHERE conrelid = 'coditect_internal.workflow_secrets'::regclass AND contype = 'p'),
          'PRIMARY KEY (tenant_id, lineage_id)', 'workflow_secrets: keyed by tenant and lineage');
SELECT is((SELECT array_agg(conname::text) FROM cons WHERE conrelid = 'coditect_internal.analyst_bindings'::regclass AND contype = 'f'),
          NULL, 'analyst_bindings: no foreign key (a reference table)');

-- The nulling triggers: one per former SET NULL key, on the referenced table, for a NO ACTION
-- key of the table it updates, and named to fire before PostgreSQL's NO ACTION check.
CREATE TEMP VIEW nulling AS
SELECT t.tgname, t.tgrelid, t.tgenabled, c.conname, c.confdeltype, c.confrelid, c.conrelid,
       split_part(encode(t.tgargs, 'escape'), '\000', 1) AS target
  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
  LEFT JOIN pg_constraint c ON t.tgname = 'FK_set_null_' || c.conname AND c.contype = 'f'
 WHERE p.oid = 'coditect_internal.null_references'::regproc;
SELECT is((SELECT count(*)::int FROM nulling), 37, '37 foreign keys are nulled on delete by declare_null_on_delete');
SELECT is((SELECT array_agg(tgname::text) FROM nulling
            WHERE conname IS NULL OR confdeltype <> 'a' OR confrelid <> tgrelid OR conrelid <> target::regclass),
          NULL, 'each on the referenced table of a NO ACTION foreign key of the table it updates');
SELECT is((SELECT array_agg(tgname::text) FROM nulling WHERE NOT tgname COLLATE "C" < 'RI_ConstraintTrigger'),
          NULL, 'each sorts before the RI_ConstraintTrigger_* of the NO ACTION check (same event: name order)');
SELECT throws_ok($$SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,project_id}', '{project_id}')$$,
                 'P0001', 'coditect.tasks has no foreign key (tenant_id, project_id) ON DELETE NO ACTION',
                 'declare_null_on_delete refuses a CASCADE key');
SELECT throws_ok($$SELECT coditect_internal.declare_null_on_delete('coditect.tasks', '{tenant_id,assignee_id}', '{tenant_id}')$$,
                 'P0001', 'the columns set to NULL must be key columns other than tenant_id',
                 'declare_null_on_delete never nulls tenant_id');

-- Fixtures: tenant A with two users, a project, tasks naming them, folders with documents,
-- an order with a payment and an invoice, a cart an order names; tenant B for the analyst.
SELECT coditect.create_tenant('Keys A', 'tap13k-a', 'a@tap13k-a.test', 'owner@tap13k-a.test')->>'tenant_id' AS ta \gset
SELECT coditect.create_tenant('Keys B', 'tap13k-b', 'b@tap13k-b.test', 'owner@tap13k-b.test')->>'tenant_id' AS tb \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'u1@tap13k-a.test') RETURNING id AS u1 \gset
INSERT INTO coditect.users (tenant_id, email) VALUES (:'ta', 'u2@tap13k-a.test') RETURNING id AS u2 \gset
INSERT INTO coditect.projects (tenant_id, name) VALUES (:'ta', 'Keys') RETURNING id AS p \gset
INSERT INTO coditect.tasks (tenant_id, project_id, title, assignee_id, reporter_id)
VALUES (:'ta', :'p', 'Both by u1', :'u1', :'u1') RETURNING id AS t1 \gset
INSERT INTO coditect.tasks (tenant_id, project_id, title, assignee_id, reporter_id, parent_task_id)
VALUES (:'ta', :'p', 'u1 and u2', :'u1', :'u2', :'t1') RETURNING id AS t2 \gset
INSERT INTO coditect.folders (tenant_id, name) VALUES (:'ta', 'Top') RETURNING id AS f1 \gset
INSERT INTO coditect.folders (tenant_id, name, parent_id) VALUES (:'ta', 'Sub', :'f1') RETURNING id AS f2 \gset
INSERT INTO coditect.folders (tenant_id, name, parent_id) VALUES (:'ta', 'Kept', :'f2') RETURNING id AS f3 \gset
INSERT INTO coditect.documents (tenant_id, folder_id, title, owner_id) VALUES (:'ta', :'f1', 'In top', :'u1') RETURNING id AS d1 \gset
INSERT INTO coditect.documents (tenant_id, folder_id, title) VALUES (:'ta', :'f2', 'In sub') RETURNING id AS d2 \gset
INSERT INTO coditect.carts (tenant_id, user_id) VALUES (:'ta', :'u2') RETURNING id AS cart \gset
INSERT INTO coditect.orders (tenant_id, cart_id, user_id, currency, subtotal_amount, tax_amount, total_amount, billing_country_code)
VALUES (:'ta', :'cart', :'u2', 'USD', 1000, 0, 1000, 'US') RETURNING id AS ord \gset
INSERT INTO coditect.payments (tenant_id, order_id, amount, currency, status)
VALUES (:'ta', :'ord', 1000, 'USD', 'succeeded') RETURNING id AS pay \gset
INSERT INTO coditect.invoices (tenant_id, status, currency, subtotal_amount, tax_amount, total_amount, amount_due, amount_paid,
                               amount_remaining, stripe_invoice_id)
VALUES (:'ta', 'paid', 'USD', 1000, 0, 1000, 1000, 1000, 0, 'in_tap13k') RETURNING id AS inv \gset
UPDATE coditect.payments SET invoice_id = :'inv' WHERE tenant_id = :'ta' AND id = :'pay';

-- Users removed in one statement, under a search_path whose uuid "=" would raise: the
-- triggers' updates use pg_catalog's. A task naming one user twice, and one naming both.
CREATE SCHEMA tap13k;
CREATE FUNCTION tap13k.eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
CREATE OPERATOR tap13k.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = tap13k.eq);
SET search_path = tap13k, pg_catalog, public;
SELECT lives_ok(format($$DELETE FROM coditect.users WHERE id::text IN (%L, %L)$$, :'u1', :'u2'),
                'two users removed in one statement');
RESET search_path;
SELECT is((SELECT array_agg(ARRAY[assignee_id, reporter_id] ORDER BY title) FROM coditect.tasks WHERE tenant_id = :'ta' AND id IN (:'t1', :'t2')),
          '{{NULL,NULL},{NULL,NULL}}'::uuid[], 'tasks: assignee and reporter set to NULL (one user twice, and both users)');
SELECT is((SELECT project_id FROM coditect.tasks WHERE tenant_id = :'ta' AND id = :'t2'), :'p'::uuid,
          'tasks: the project stays (only the named columns are nulled)');
SELECT is((SELECT owner_id FROM coditect.documents WHERE tenant_id = :'ta' AND id = :'d1'), NULL, 'documents: owner set to NULL');
SELECT is((SELECT user_id FROM coditect.orders WHERE tenant_id = :'ta' AND id = :'ord'), NULL, 'orders: user set to NULL');

-- Maintenance removes a folder with its subfolder in one statement (the parent's nulling finds
-- the subfolder gone); their documents and the kept subfolder lose the reference.
SELECT lives_ok(format($$SELECT coditect_internal.allow_hard_delete(true); DELETE FROM coditect.folders WHERE tenant_id = %L AND id IN (%L, %L);
                         SELECT coditect_internal.allow_hard_delete(false)$$, :'ta', :'f1', :'f2'),
                'a folder and its subfolder are removed for good in one statement');
SELECT is((SELECT array_agg(folder_id) FROM coditect.documents WHERE tenant_id = :'ta' AND id IN (:'d1', :'d2')),
          '{NULL,NULL}'::uuid[], 'documents: folder set to NULL by the purge');
SELECT is((SELECT parent_id FROM coditect.folders WHERE tenant_id = :'ta' AND id = :'f3'), NULL,
          'folders: a purged parent is unset on its subfolder');

-- A parent task removed for good: its subtask stays, without it.
SELECT lives_ok(format($$SELECT coditect_internal.allow_hard_delete(true); DELETE FROM coditect.tasks WHERE tenant_id = %L AND id = %L;
                         SELECT coditect_internal.allow_hard_delete(false)$$, :'ta', :'t1'), 'a parent task is removed for good');
SELECT is((SELECT parent_task_id FROM coditect.tasks WHERE tenant_id = :'ta' AND id = :'t2'), NULL, 'tasks: parent set to NULL');

-- An invoice removed (maintenance): the payment stays, without it.
SELECT lives_ok(format($$SELECT coditect_internal.allow_hard_delete(true); DELETE FROM coditect.invoices WHERE tenant_id = %L AND id = %L;
                         SELECT coditect_internal.allow_hard_delete(false)$$, :'ta', :'inv'), 'an invoice is removed in maintenance');
SELECT is((SELECT invoice_id FROM coditect.payments WHERE tenant_id = :'ta' AND id = :'pay'), NULL, 'payments: invoice set to NULL');

-- NO ACTION still refuses what nothing nulls: the cart an order names.
SELECT throws_ok(format($$SELECT coditect_internal.allow_hard_delete(true); DELETE FROM coditect.carts WHERE tenant_id = %L AND id = %L$$,
                        :'ta', :'cart'), '23503', NULL, 'a cart an order names cannot be removed (NO ACTION)');
SELECT coditect_internal.allow_hard_delete(false);

-- workflow_secrets by (tenant_id, lineage_id): made once, found again (its ON CONFLICT).
INSERT INTO coditect.workflows (tenant_id, name, definition)
VALUES (:'ta', 'Keys', '{"nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}], "edges": [{"from": "s", "to": "e"}]}')
RETURNING lineage_id AS lineage \gset
SELECT is(coditect_internal.workflow_secret(:'ta', :'lineage'), coditect_internal.workflow_secret(:'ta', :'lineage'),
          'workflow_secret: the lineage''s secret, made once');
SELECT is((SELECT count(*)::int FROM coditect_internal.workflow_secrets WHERE tenant_id = :'ta' AND lineage_id = :'lineage'), 1,
          'workflow_secrets: one row for the lineage');

-- The tenant dropped with everything referencing everything.
SELECT lives_ok(format($$SELECT coditect.purge_tenant(%L)$$, :'ta'), 'purge_tenant removes a tenant whose rows reference each other');

-- Analyst bindings without a foreign key: bind_analyst checks the tenant, purge_tenant unbinds.
CREATE ROLE tap13k_analyst LOGIN;
SELECT throws_ok($$SELECT coditect.bind_analyst('tap13k_analyst', coditect.uuid_generate_v7())$$, 'CD404', NULL,
                 'bind_analyst refuses a tenant that does not exist');
SELECT coditect.bind_analyst('tap13k_analyst', :'tb');
SELECT lives_ok(format($$SELECT coditect.purge_tenant(%L)$$, :'tb'), 'purge_tenant of a tenant with a bound analyst');
SELECT is((SELECT count(*)::int FROM coditect_internal.analyst_bindings WHERE role_name = 'tap13k_analyst'), 0,
          'purge_tenant removes the tenant''s analyst bindings');

SELECT * FROM finish();
ROLLBACK;

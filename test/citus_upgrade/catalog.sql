-- The second step of the test-only update of scripts/citus_upgrade_test.sh: the catalog, on the
-- coordinator (coditect_internal.on_coordinator), after every node made the first step's
-- objects, which these rows name: the new column in the API (rows of reference tables and the
-- functions generated from them), the currency's new value; the new table registered.

SELECT coditect_internal.on_coordinator(
    $$INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update, filter_ops)
      VALUES ('board', 'color', true, true, true, '{exact}')$$,
    $$SELECT coditect_internal.generate_resource_functions('board')$$,
    $$UPDATE coditect.currencies SET symbol = '€' WHERE code = 'EUR'$$);

-- The new table's mechanisms (row security, tenant_isolation, grants, timestamps, audit) on
-- every node's copy, its row in the tenant registry (a reference table) by the coordinator only
-- (register_tenant_table does that itself). Not register_resource: the rows of its generated
-- operations name generated functions, which the workers do not have when the coordinator
-- writes them (README, Running on Citus, Upgrading the extension).
SELECT coditect_internal.register_tenant_table('coditect.board_labels', 'board_label');

-- The second step of the test-only update of scripts/citus_upgrade_test.sh: the catalog, after
-- every node made the first step's objects, which these rows name: the new column in the API
-- (every node), the currency's new value (the coordinator, coditect_internal.on_coordinator),
-- the new table as a resource of the API.

-- The resource catalog is every node's own: plain statements.
INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update, filter_ops)
VALUES ('board', 'color', true, true, true, '{exact}');
SELECT coditect_internal.generate_resource_functions('board');
-- A row of a reference table: on the coordinator.
SELECT coditect_internal.on_coordinator($$UPDATE coditect.currencies SET symbol = '€' WHERE code = 'EUR'$$);

-- The new table as an API resource, a plain statement: every node's run makes the table's
-- mechanisms (row security, tenant_isolation, grants, timestamps, audit) on its copy, writes its
-- own resource catalog (node_local_tables) and makes the generated functions; the coordinator
-- alone writes the rows of reference tables (the tenant registry, the permissions).
SELECT coditect_internal.register_resource('coditect.board_labels', 'board_label',
    p_roles => '{"view": "guest", "create": "member", "delete": "member"}',
    p_create => '{board_id,name}', p_filters => '{"board_id": ["exact"]}', p_orderings => '{created_at,name}');

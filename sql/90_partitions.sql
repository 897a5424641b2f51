-- 90_partitions: pg_partman set-up of coditect.audit_logs. Last in the install script because
-- pg_partman sets search_path with session scope (to the value it found, here the install
-- script's own); RESET at the end gives the session its default search_path back.

SELECT pg_catalog.set_config('search_path', 'coditect_internal, pg_catalog', false);
DO $$
BEGIN
    -- A configuration row left by an earlier install of the extension (DROP EXTENSION does not
    -- reach into pg_partman's tables) would make create_parent refuse.
    EXECUTE format('DELETE FROM %I.part_config WHERE parent_table = %L',
                   coditect_internal.partman_schema(), 'coditect.audit_logs');
    -- Monthly partitions, four made ahead, a default partition for anything outside them.
    EXECUTE format('SELECT %I.create_parent(p_parent_table := %L, p_control := %L, p_type := %L, '
                   'p_interval := %L, p_premake := 4, p_jobmon := false)',
                   coditect_internal.partman_schema(), 'coditect.audit_logs', 'created_at', 'native', 'monthly');
    EXECUTE format('UPDATE %I.part_config SET retention = %L, retention_keep_table = false, '
                   'infinite_time_partitions = true WHERE parent_table = %L',
                   coditect_internal.partman_schema(), '1 year', 'coditect.audit_logs');
END
$$;
SELECT coditect_internal.protect_audit_partitions();
RESET search_path;

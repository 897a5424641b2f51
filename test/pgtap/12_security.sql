-- Security rules, each checked over the catalog so that later tables and functions are held to
-- them without new tests, and an attack on every owner-rights path by hostile logins:
--   * every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp (pg_temp last), and
--     so does every SQL / PL/pgSQL function of the extension (one reviewed exception);
--   * every index of a tenant table leads with its tenant column; EXPLAIN ANALYZE of a bound
--     analyst tells nothing about another tenant's values;
--   * no restrictive policy (Citus makes them permissive on shards); every policy of a tenant
--     table carries the tenant condition (narrow_tenant_policy narrows it: the reviewed tables);
--   * who may execute each function of the extension, and the permission x role matrix, are
--     pinned here as literal data (a grant added by mistake turns this file red);
--   * (13_owner_attack.sql attacks every owner-rights path with hostile logins.)
BEGIN;
SELECT no_plan();

CREATE TEMP TABLE ext_functions AS
SELECT p.oid, p.oid::regprocedure::text AS fn, p.prosecdef, l.lanname, p.proconfig,
       p.prorettype = 'trigger'::regtype AS is_trigger
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND e.oid = d.refobjid AND e.extname = 'coditect'
  JOIN pg_language l ON l.oid = p.prolang;

SELECT cmp_ok((SELECT count(*)::int FROM ext_functions WHERE prosecdef), '>=', 15,
              'the walk finds the SECURITY DEFINER functions');

------------------------------------------------------------------------------------------------
-- search_path
------------------------------------------------------------------------------------------------

-- (An action's owner function routed to the tenant's node also allows Citus's nested execution:
-- generate_action_wrapper.)
SELECT is(array_remove(proconfig, 'citus.allow_nested_distributed_execution=on'), ARRAY['search_path=pg_catalog, pg_temp'],
          fn || ': SECURITY DEFINER pins search_path to pg_catalog, pg_temp')
  FROM ext_functions WHERE prosecdef ORDER BY fn;

-- Invoker-rights functions run inside definer functions and triggers fired by them, and by the
-- gateway whatever its search_path: they must not depend on it either. The one exception takes
-- the caller's search_path as data (pg_partman keeps the path it finds with session scope).
SELECT is(proconfig[1:1], ARRAY['search_path=pg_catalog, pg_temp'], fn || ': pins search_path to pg_catalog, pg_temp')
  FROM ext_functions
 WHERE NOT prosecdef AND lanname IN ('sql', 'plpgsql') AND fn <> 'coditect.audit_maintenance()'
 ORDER BY fn;
SELECT is((SELECT prosrc FROM pg_proc WHERE oid = 'coditect.audit_maintenance()'::regprocedure),
          E'\n    SELECT coditect_internal.audit_maintenance_as_owner(pg_catalog.current_setting(''search_path''))\n',
          'coditect.audit_maintenance(): the unpinned wrapper is exactly one qualified call');

------------------------------------------------------------------------------------------------
-- Indexes and policies of tenant tables
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE tenant_rels AS
SELECT c.oid::regclass AS rel, CASE WHEN c.oid = 'coditect.tenants'::regclass THEN 'id' ELSE 'tenant_id' END AS tcol,
       c.relispartition
  FROM pg_class c
 WHERE c.relnamespace = 'coditect'::regnamespace AND c.relkind IN ('r', 'p')
   AND (c.oid = 'coditect.tenants'::regclass
        OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped));

SELECT cmp_ok((SELECT count(*)::int FROM tenant_rels WHERE NOT relispartition), '>=', 9, 'the walk finds the tenant tables');
SELECT is((SELECT count(*)::int FROM coditect_internal.tenant_tables WHERE relid NOT IN (SELECT rel FROM tenant_rels)), 0,
          'every registered tenant table is in the walk');

SELECT is((SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]),
          t.tcol, i.indexrelid::regclass || ': leads with ' || t.tcol)
  FROM tenant_rels t JOIN pg_index i ON i.indrelid = t.rel
 ORDER BY i.indexrelid::regclass::text;

-- No restrictive policy anywhere: Citus (13.2.2) makes a shard's policies permissive, which
-- would OR a restrictive one with the tenant's (test/citus/policies.sql reads every shard).
SELECT is_empty($$SELECT c.oid::regclass::text, p.polname::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                   WHERE NOT p.polpermissive$$,
                'no table has a restrictive policy');
-- Every policy of a tenant table is for every role and carries the tenant condition t: its USING
-- and WITH CHECK are each absent, t, or (t AND ...) (pg_get_expr prints an AND whose first
-- operand is t so; an OR or a comparison over it does not start that way).
CREATE FUNCTION pg_temp.tenant_conditioned(p_expr text, p_col text) RETURNS boolean LANGUAGE sql AS $$
    SELECT p_expr IS NULL OR p_expr = format('(%s = coditect.current_tenant_id())', p_col)
           OR starts_with(p_expr, format('((%s = coditect.current_tenant_id()) AND ', p_col))
$$;
SELECT ok(NOT pg_temp.tenant_conditioned('(tenant_id = coditect.current_tenant_id())', 'id')
          AND NOT pg_temp.tenant_conditioned('(((tenant_id = coditect.current_tenant_id()) AND a) OR b)', 'tenant_id')
          AND NOT pg_temp.tenant_conditioned('((tenant_id = coditect.current_tenant_id()) OR b)', 'tenant_id')
          AND pg_temp.tenant_conditioned('((tenant_id = coditect.current_tenant_id()) AND (a OR b))', 'tenant_id'),
          'the tenant-condition check refuses another column, an OR over (t AND a), t OR b; accepts (t AND (a OR b))');
SELECT is(array_agg(p.polname::text ORDER BY p.polname), NULL,
          t.rel || ': every policy is for every role and carries the tenant condition in USING and WITH CHECK')
  FROM tenant_rels t JOIN pg_policy p ON p.polrelid = t.rel
 WHERE NOT t.relispartition
   AND NOT (p.polroles = '{0}' AND (p.polqual IS NOT NULL OR p.polwithcheck IS NOT NULL)
            AND pg_temp.tenant_conditioned(pg_get_expr(p.polqual, p.polrelid), t.tcol)
            AND pg_temp.tenant_conditioned(pg_get_expr(p.polwithcheck, p.polrelid), t.tcol))
 GROUP BY t.rel;
SELECT ok(EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.rel), t.rel || ': has a policy')
  FROM tenant_rels t WHERE NOT t.relispartition ORDER BY t.rel::text;
-- Beside the plain tenant_isolation (t for every command), the tables whose rows are narrowed
-- further (coditect_internal.narrow_tenant_policy): reads only (documents by their grants, other
-- users' contacts for administrators; writes t), or reads and writes (carts, orders, invoices their own).
SELECT set_eq($$SELECT p.polrelid::regclass::text, p.polname::text, p.polcmd::text FROM pg_policy p JOIN tenant_rels t ON t.rel = p.polrelid
                  WHERE p.polname <> 'tenant_isolation'$$,
              $$SELECT 'coditect.' || t, n, c
                  FROM unnest(ARRAY['folders', 'documents', 'document_versions', 'document_permissions', 'document_shares',
                                    'document_activity', 'addresses', 'phone_numbers', 'email_addresses']) t,
                       (VALUES ('tenant_isolation_narrowed', 'r'), ('tenant_isolation_insert', 'a'),
                               ('tenant_isolation_update', 'w'), ('tenant_isolation_delete', 'd')) v(n, c)
                UNION ALL
                SELECT 'coditect.' || t, 'tenant_isolation_narrowed', '*'
                  FROM unnest(ARRAY['carts', 'cart_items', 'orders', 'order_lines', 'payments', 'refunds', 'invoices']) t$$,
              'the narrowed tables are exactly the reviewed ones');
-- The catalog's row_access (who sees a row depends on more than the tenant) is the resources
-- over these tables.
SELECT set_eq($$SELECT r ->> 'name' FROM jsonb_array_elements(coditect.api_catalog() -> 'resources') r
                  WHERE (r ->> 'row_access')::boolean$$,
              $$SELECT r.name FROM coditect_internal.resources r
                 WHERE coalesce(r.rls_relid, r.relid)::text IN ('coditect.folders', 'coditect.documents', 'coditect.document_versions',
                           'coditect.document_permissions', 'coditect.document_shares', 'coditect.document_activity',
                           'coditect.addresses', 'coditect.phone_numbers', 'coditect.email_addresses', 'coditect.carts',
                           'coditect.cart_items', 'coditect.orders', 'coditect.order_lines', 'coditect.payments',
                           'coditect.refunds', 'coditect.invoices')$$,
              'api_catalog: row_access exactly for the resources over narrowed tables');
SELECT is_empty($$SELECT p.polrelid::regclass::text, p.polname::text FROM pg_policy p JOIN tenant_rels t ON t.rel = p.polrelid
                   WHERE p.polname ~ '^tenant_isolation(_insert|_update|_delete)?$'
                     AND (coalesce(pg_get_expr(p.polqual, p.polrelid), format('(%s = coditect.current_tenant_id())', t.tcol))
                            <> format('(%s = coditect.current_tenant_id())', t.tcol)
                          OR coalesce(pg_get_expr(p.polwithcheck, p.polrelid), format('(%s = coditect.current_tenant_id())', t.tcol))
                            <> format('(%s = coditect.current_tenant_id())', t.tcol))$$,
                'tenant_isolation and the write policies of tables narrowed for reads are the tenant condition alone');
-- The mechanism refuses what it cannot express, and a table narrowed already.
SELECT throws_ok($$SELECT coditect_internal.narrow_tenant_policy('coditect.projects', 'UPDATE', 'true')$$,
                 'P0001', 'narrow_tenant_policy: command must be ALL or SELECT, not UPDATE', 'narrow_tenant_policy: ALL or SELECT only');
SELECT throws_ok($$SELECT coditect_internal.narrow_tenant_policy('coditect.carts', 'ALL', 'true')$$,
                 'P0001', 'narrow_tenant_policy: coditect.carts must have register_tenant_table''s tenant_isolation as its only policy',
                 'narrow_tenant_policy: a table narrowed already is refused');
SELECT ok(NOT coditect_internal.tenant_rows_narrowed('coditect.projects') AND coditect_internal.tenant_rows_narrowed('coditect.carts')
          AND coditect_internal.tenant_rows_narrowed('coditect.addresses'),
          'tenant_rows_narrowed: carts and addresses narrowed, projects not');

-- Enum equality is leakproof here, so a filter on an enum column (a task's status) can be an
-- index condition under RLS instead of a filter over all the tenant's rows.
SELECT ok((SELECT proleakproof FROM pg_proc WHERE oid = 'pg_catalog.enum_eq(anyenum,anyenum)'::regprocedure),
          'enum equality is leakproof in this database');

------------------------------------------------------------------------------------------------
-- Who may execute what: every function of the extension, as literal data; the API functions
-- generated from the resource catalog are checked by 11_resources.sql, over the catalog.
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE expected_execute (fn text PRIMARY KEY, roles text);
INSERT INTO expected_execute VALUES
    ('coditect.api_catalog()', 'gateway,service'),
    ('coditect.api_register(text,text,text,text)', 'gateway,service'),
    ('coditect.audit_maintenance()', 'service'),
    ('coditect.audit_retention()', 'service'),
    ('coditect.audit_seal()', ''),
    ('coditect.distribute(integer)', ''),
    ('coditect.audit_verify(timestamp with time zone,timestamp with time zone)', 'service'),
    ('coditect_internal.audit_row_canonical(coditect.audit_logs)', ''),
    ('coditect_internal.audit_seal_hash(bytea,bytea,timestamp with time zone,timestamp with time zone,bigint)', ''),
    ('coditect_internal.audit_period_digests(timestamp with time zone,timestamp with time zone)', ''),
    ('coditect.bind_analyst(name,uuid)', ''),
    ('coditect.create_tenant(text,text,text,text,text,text)', 'service'),
    ('coditect.current_tenant_id()', 'PUBLIC'),
    ('coditect.current_user_id()', 'PUBLIC'),
    ('coditect.current_user_role()', 'PUBLIC'),
    ('coditect.has_permission(text)', 'gateway,service'),
    ('coditect_internal.has_permission_body(text)', ''),
    ('coditect.is_valid_timezone(text)', 'PUBLIC'),
    ('coditect.license_acquire(text,text,inet,text)', 'gateway,service'),
    ('coditect.license_heartbeat(uuid)', 'gateway,service'),
    ('coditect.license_key_generate()', 'PUBLIC'),
    ('coditect.license_key_is_valid(text)', 'PUBLIC'),
    ('coditect.license_key_normalize(text)', 'PUBLIC'),
    ('coditect.license_public_keys()', 'PUBLIC'),
    ('coditect.license_release(uuid)', 'gateway,service'),
    ('coditect.license_session_ttl()', 'PUBLIC'),
    ('coditect.license_token_key_id(text)', 'PUBLIC'),
    ('coditect.license_verify(text)', 'PUBLIC'),
    ('coditect.maintenance_jobs()', ''),
    ('coditect.publish_license_signing_key()', ''),
    ('coditect.purge_deleted(regclass,interval)', ''),
    ('coditect.purge_ended_license_sessions(interval)', ''),
    ('coditect.purge_tenant(uuid)', ''),
    ('coditect.reap_global_keys()', ''),
    ('coditect.reap_zombie_sessions()', 'gateway,service'),
    ('coditect.require_permission(text)', 'gateway,service'),
    ('coditect.resolve_firebase_user(text)', 'gateway,service'),
    ('coditect.restore_row(regclass,uuid)', 'gateway,service'),
    ('coditect.retire_license_signing_key(text)', ''),
    ('coditect.row_etag(jsonb)', 'PUBLIC'),
    ('coditect.schedule_maintenance()', ''),
    ('coditect.set_audit_retention(interval)', ''),
    ('coditect.set_request_context(uuid,uuid,text,inet,text,text,text,text)', 'gateway,service'),
    ('coditect.task_move_to_sprint(uuid,uuid)', 'gateway,service'),
    ('coditect.task_transition(uuid,coditect.task_status)', 'gateway,service'),
    ('coditect.board_view(uuid,integer)', 'gateway,service'),
    ('coditect.blob_download(uuid)', 'gateway,service'),
    ('coditect.compliance_report_download(uuid)', 'gateway,service'),
    ('coditect.generate_compliance_report(text,date,date)', 'gateway,service'),
    ('coditect_internal.audit_review_rules()', ''),
    ('coditect_internal.compliance_report_answer(coditect.compliance_reports)', ''),
    ('coditect_internal.compliance_report_data(uuid,coditect.compliance_report_type,date,date)', ''),
    ('coditect_internal.compliance_report_immutable()', ''),
    ('coditect_internal.compliance_report_pdf(jsonb)', ''),
    ('coditect_internal.compliance_report_upload_check(uuid,jsonb)', ''),
    ('coditect_internal.compliance_report_upload_completed(coditect.upload_sessions)', ''),
    ('coditect.purge_upload_sessions(interval)', ''),
    ('coditect.storage_append(uuid,bigint,bytea,bytea)', 'gateway,service'),
    ('coditect.storage_begin_upload(bigint,jsonb)', 'gateway,service'),
    ('coditect.storage_chunk_size()', 'gateway,service'),
    ('coditect.storage_max_file_size(coditect.tenant_tier)', 'gateway,service'),
    ('coditect.storage_read(uuid,bigint,integer)', 'gateway,service'),
    ('coditect.upload_append(uuid,text,text,bytea)', 'gateway,service'),
    ('coditect.upload_create(text,text)', 'gateway,service'),
    ('coditect.upload_progress(uuid)', 'gateway,service'),
    ('coditect_internal.blob_readable(uuid,uuid,uuid)', ''),
    ('coditect_internal.sha256_digest(bytea)', ''),
    ('coditect_internal.sha256_resume(bytea,bytea)', ''),
    ('coditect_internal.storage_caller()', ''),
    ('coditect_internal.storage_complete(coditect.upload_sessions)', ''),
    ('coditect_internal.storage_release(uuid,uuid)', ''),
    ('coditect_internal.tus_metadata(text)', 'gateway,service'),
    ('coditect_internal.tus_number(text,text)', 'gateway,service'),
    ('coditect_internal.upload_answer(coditect.upload_sessions)', ''),
    ('coditect_internal.upload_completed(coditect.upload_sessions)', ''),
    ('coditect_internal.upload_target_check(text,uuid,jsonb)', ''),
    ('coditect_internal.register_upload_target(text,regprocedure,regprocedure)', ''),
    ('coditect_internal.document_upload_check(uuid,jsonb)', ''),
    ('coditect_internal.document_upload_completed(coditect.upload_sessions)', ''),
    ('coditect.document_access(uuid)', 'gateway,service'),
    ('coditect.document_download(uuid,integer)', 'gateway,service'),
    ('coditect.task_attachment_download(uuid,uuid)', 'gateway,service'),
    ('coditect_internal.task_attachment_rules()', ''),
    ('coditect_internal.task_attachment_upload_check(uuid,jsonb)', ''),
    ('coditect_internal.task_attachment_upload_completed(coditect.upload_sessions)', ''),
    ('coditect.document_share_create(uuid,text,timestamp with time zone,text)', 'gateway,service'),
    ('coditect.document_share_revoke(uuid,uuid)', 'gateway,service'),
    ('coditect.share_open(uuid,text,inet,text)', 'gateway,service'),
    ('coditect.share_download(uuid,text,inet,text)', 'gateway,service'),
    ('coditect_internal.context_client_ip()', ''),
    ('coditect_internal.context_user_agent()', ''),
    ('coditect_internal.document_activity_add(uuid,uuid,uuid,coditect.document_activity_action,uuid,integer,inet,text)', ''),
    ('coditect_internal.document_activity_of_change()', ''),
    ('coditect_internal.document_share_has_password(coditect.document_shares)', 'gateway,service,analyst'),
    ('coditect_internal.document_share_json(coditect.document_shares)', ''),
    ('coditect_internal.document_share_rules()', ''),
    ('coditect_internal.document_share_view_json(coditect.documents,coditect.document_shares,uuid)', ''),
    ('coditect_internal.document_viewed(uuid)', 'gateway,service'),
    ('coditect_internal.record_document_read(uuid,coditect.document_activity_action,integer)', 'gateway,service'),
    ('coditect_internal.register_get_hook(text,regprocedure)', ''),
    ('coditect_internal.set_resource_hook(text,name,regprocedure)', ''),
    ('coditect_internal.share_admit(uuid,text,boolean)', ''),
    ('coditect_internal.share_grant_blob(uuid,uuid)', ''),
    ('coditect_internal.share_granted_tenant(uuid)', ''),
    ('coditect_internal.share_password_hash(text)', ''),
    ('coditect_internal.share_password_verify(text,text)', ''),
    ('coditect_internal.share_token_generate()', ''),
    ('coditect_internal.share_token_hash(uuid)', ''),
    ('coditect_internal.storage_read_chunks(uuid,uuid,bigint,integer)', 'gateway,service'),
    ('coditect_internal.storage_read_granted(uuid,bigint,integer)', 'gateway,service'),
    ('coditect.unbind_analyst(name)', ''),
    ('coditect.unschedule_maintenance()', ''),
    ('coditect.uuid_generate_v7()', 'PUBLIC'),
    ('coditect.uuid_v7_time(uuid)', 'PUBLIC'),
    ('coditect.workflow_definition_problems(jsonb)', 'PUBLIC'),
    ('coditect.workflow_definition_schema()', 'PUBLIC'),
    ('coditect_internal.add_invited_member(jsonb)', 'gateway,service'),
    ('coditect_internal.allow_hard_delete(boolean)', ''),
    ('coditect_internal.api_check_fields(jsonb,text[])', 'gateway,service'),
    ('coditect_internal.api_check_values(regclass,jsonb,text[])', 'gateway,service'),
    ('coditect_internal.api_cursor_encode(text,text,uuid)', 'gateway,service'),
    ('coditect_internal.api_filter_bool(text,jsonb)', 'gateway,service'),
    ('coditect_internal.api_filter_values(jsonb)', 'gateway,service'),
    ('coditect_internal.api_list_request(jsonb,integer,integer,text,text,text[],text[],text,integer)', 'gateway,service'),
    ('coditect_internal.audit_maintenance_as_owner(text)', 'service'),
    ('coditect_internal.audit_row_change()', ''),
    ('coditect_internal.audit_event(uuid,text,text,text,jsonb,text,jsonb)', ''),
    ('coditect_internal.audit_grant_change()', ''),
    ('coditect_internal.audit_license_issue()', ''),
    ('coditect_internal.grant_level(text,jsonb)', ''),
    ('coditect_internal.grant_rank(text,text)', ''),
    ('coditect_internal.grant_subject(text,jsonb)', ''),
    ('coditect_internal.record_export(text,uuid,integer,text,bigint)', 'gateway,service'),
    ('coditect.record_login(text,timestamp with time zone,timestamp with time zone)', 'gateway,service'),
    ('coditect.purge_token_logins()', ''),
    ('coditect.audit_request_outcome(integer,text)', 'gateway,service'),
    ('coditect_internal.catalog_attribute(oid,integer)', 'gateway,service'),
    ('coditect_internal.api_schemas_json()', 'gateway,service'),
    ('coditect_internal.register_api_schema(text,regprocedure)', ''),
    ('coditect_internal.check_task_hierarchy()', ''),
    ('coditect_internal.claim_global_key(regclass,name,name,name)', ''),
    ('coditect_internal.column_type(regclass,name)', ''),
    ('coditect_internal.context_set(uuid,uuid,text,inet,text,text,text,text)', ''),
    ('coditect_internal.count_license_seats()', ''),
    ('coditect_internal.declare_backend_cache_source(regclass)', ''),
    ('coditect_internal.declare_null_on_delete(regclass,name[],name[])', ''),
    ('coditect_internal.null_references()', ''),
    ('coditect_internal.protect_columns()', ''),
    ('coditect_internal.protect_insert_columns(regclass,name[])', ''),
    ('coditect_internal.protected_insert_columns(regclass)', ''),
    ('coditect_internal.declare_permission(text,text,text)', ''),
    ('coditect_internal.enforce_transition()', ''),
    ('coditect_internal.etag_matches(text,jsonb)', 'gateway,service'),
    ('coditect_internal.generate_action_wrapper(text,regprocedure,text,regprocedure)', ''),
    ('coditect_internal.generate_list(coditect_internal.resources,coditect_internal.resource_code,text)', ''),
    ('coditect_internal.generate_resource_functions(text)', ''),
    ('coditect_internal.generated_prologue(text,text)', ''),
    ('coditect_internal.generate_row_functions(coditect_internal.resources,coditect_internal.resource_code,jsonb)', ''),
    ('coditect_internal.guard_license_session()', ''),
    ('coditect_internal.invalidate_backend_caches()', ''),
    ('coditect_internal.guard_ownership()', ''),
    ('coditect_internal.guard_task_comment()', ''),
    ('coditect_internal.hard_delete_allowed()', 'gateway,service'),
    ('coditect_internal.is_owner_row(name,jsonb)', 'gateway,service'),
    ('coditect_internal.trigger_table_name(name)', 'gateway,service'),
    ('coditect_internal.json_type_of(oid,integer)', 'gateway,service'),
    ('coditect_internal.keep_project_key()', ''),
    ('coditect_internal.license_signing_public_key()', ''),
    ('coditect_internal.license_token_check(text,text,timestamp with time zone)', ''),
    ('coditect_internal.license_token_sign(uuid,uuid,text,jsonb,uuid,text,timestamp with time zone,timestamp with time zone)', ''),
    ('coditect_internal.lock_tenant_for_ownership(uuid)', 'gateway,service'),
    ('coditect_internal.number_task()', ''),
    ('coditect_internal.project_tasks_count(coditect.projects)', 'gateway,service,analyst'),
    ('coditect_internal.check_board_columns(jsonb)', 'PUBLIC'),
    ('coditect_internal.document_grant(uuid,uuid,uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.folder_level(uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.document_level(uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.folder_level_body(uuid,uuid)', ''),
    ('coditect_internal.document_level_body(uuid,uuid)', ''),
    ('coditect_internal.grant_target_level(uuid,uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.my_teams()', 'gateway,service,analyst'),
    ('coditect_internal.granted_documents(boolean)', 'gateway,service,analyst'),
    ('coditect_internal.granted_folders()', 'gateway,service,analyst'),
    ('coditect_internal.folder_granted(uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.document_granted(uuid,uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.require_level(integer,integer,text)', 'gateway,service'),
    ('coditect_internal.document_permission_rules()', ''),
    ('coditect_internal.project_documents_count(coditect.projects)', 'gateway,service,analyst'),
    ('coditect_internal.folder_tree()', ''),
    ('coditect_internal.folder_subtree()', ''),
    ('coditect_internal.like_prefix(text)', ''),
    ('coditect_internal.number_document_version()', ''),
    ('coditect_internal.release_held_blob()', ''),
    ('coditect_internal.content_answer(uuid,bigint,text,text,text)', 'gateway,service'),
    ('coditect_internal.document_rules()', ''),
    ('coditect_internal.document_upload_target(uuid,uuid,jsonb,text)', ''),
    ('coditect_internal.operation_sql(regprocedure,text,boolean)', ''),
    ('coditect_internal.partman_schema()', ''),
    ('coditect_internal.protect_audit_partitions()', ''),
    ('coditect_internal.record_operation(text,text,text,text,text,regprocedure,text,jsonb,text,integer,boolean,jsonb,jsonb,text,text,boolean)', ''),
    ('coditect_internal.refuse_self_delete()', ''),
    ('coditect_internal.regenerate_resources()', ''),
    ('coditect_internal.notify(text,text)', ''),
    ('coditect_internal.generated_answer(text,text,text,text)', ''),
    ('coditect_internal.global_key_claim(text,text,uuid,uuid)', 'gateway,service'),
    ('coditect_internal.global_key_kind(text)', 'gateway,service'),
    ('coditect_internal.global_key_release(text,text,uuid,uuid)', ''),
    ('coditect_internal.is_citus_worker()', 'gateway,service'),
    ('coditect_internal.on_coordinator(text[])', ''),
    ('coditect_internal.node_local_tables()', ''),
    ('coditect_internal.alter_table(regclass,text[])', ''),
    ('coditect_internal.register_action(text,text,text,text,text,jsonb,text,text,jsonb,integer,text,text,boolean,regprocedure,text,boolean,regprocedure)', ''),
    ('coditect_internal.register_resource(regclass,text,jsonb,text[],text[],text[],jsonb,text[],text,text[],text,text,text,name,boolean,integer,boolean,text,regprocedure,text[],text[],name,boolean,boolean,jsonb,regclass,jsonb)', ''),
    ('coditect_internal.register_computed_field(text,name,regprocedure)', ''),
    ('coditect_internal.register_state_machine(regclass,text,name)', ''),
    ('coditect_internal.register_tenant_table(regclass,text,text[],text[],name,boolean)', ''),
    ('coditect_internal.narrow_tenant_policy(regclass,text,text)', ''),
    ('coditect_internal.tenant_rows_narrowed(regclass)', 'gateway,service'),
    ('coditect_internal.reject_audit_change()', ''),
    ('coditect_internal.reopen_task()', ''),
    ('coditect_internal.require_active_owner()', ''),
    ('coditect_internal.require_purge()', ''),
    ('coditect_internal.resource_code(coditect_internal.resources)', ''),
    ('coditect_internal.role_rank(text)', ''),
    ('coditect_internal.soft_delete_row()', ''),
    ('coditect_internal.stamp_timestamps()', ''),
    ('coditect_internal.sync_global_key()', ''),
    ('coditect_internal.update_milestone_progress()', ''),
    ('coditect.workflow_cancel(uuid)', 'gateway,service'),
    ('coditect.workflow_complete_step(uuid,text,jsonb)', 'gateway,service'),
    ('coditect.workflow_decide(uuid,text,text)', 'gateway,service'),
    ('coditect.workflow_expire_approvals()', ''),
    ('coditect.workflow_new_version(uuid)', 'gateway,service'),
    ('coditect.workflow_publish(uuid)', 'gateway,service'),
    ('coditect.workflow_rotate_secret(uuid)', 'gateway,service'),
    ('coditect.workflow_start(uuid,jsonb)', 'gateway,service'),
    ('coditect.workflow_webhook(uuid,text,bytea)', 'gateway,service'),
    ('coditect.idempotency_lookup(text,text)', 'gateway,service'),
    ('coditect.idempotency_claim(text,text)', 'gateway,service'),
    ('coditect.idempotency_finish(text,integer,text,jsonb,text,boolean)', 'gateway,service'),
    ('coditect_internal.idempotency_lookup_as(text,text)', 'gateway,service'),
    ('coditect_internal.idempotency_claim_as(text,text)', 'gateway,service'),
    ('coditect_internal.idempotency_finish_as(text,integer,text,jsonb,text,boolean)', 'gateway,service'),
    ('coditect_internal.nested_begin()', ''),
    ('coditect_internal.nested_end(text)', ''),
    ('coditect_internal.idempotency_quota(uuid)', ''),
    ('coditect.purge_idempotency_keys()', ''),
    ('coditect_internal.idempotency_scope(text,text)', ''),
    ('coditect.set_stripe_webhook_secret(text)', ''),
    ('coditect.stripe_webhook(text,bytea)', 'gateway,service'),
    ('coditect_internal.declare_stripe_handler(text,regprocedure)', ''),
    ('coditect.set_stripe_customer(uuid,text)', 'service'),
    ('coditect.stripe_amount(numeric,text)', 'gateway,service,analyst'),
    ('coditect.stripe_currency_exponent(text)', 'gateway,service,analyst'),
    ('coditect_internal.guard_invoice()', ''),
    ('coditect_internal.stripe_charge_refunded(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_checkout_completed(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_invoice(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_method(jsonb)', ''),
    ('coditect_internal.stripe_money(jsonb,text)', ''),
    ('coditect_internal.stripe_order(coditect_internal.stripe_events,uuid,text)', ''),
    ('coditect_internal.stripe_outcome(coditect_internal.stripe_events,text,text)', ''),
    ('coditect_internal.stripe_pay_order(coditect_internal.stripe_events,uuid,text,text,jsonb,text,text,text,text,text)', ''),
    ('coditect_internal.stripe_payment_failed(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_payment_succeeded(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_refuse(text)', ''),
    ('coditect_internal.stripe_stale(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_lock(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_subscription(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_tenant(coditect_internal.stripe_events)', ''),
    ('coditect_internal.stripe_time(jsonb)', ''),
    ('coditect_internal.stripe_uuid(text)', ''),
    ('coditect_internal.check_workflow_definition(jsonb)', 'PUBLIC'),
    ('coditect_internal.check_workflow_triggers(jsonb)', 'PUBLIC'),
    ('coditect_internal.webhook_secret_text()', ''),
    ('coditect_internal.webhook_verify(bytea,text,bytea,integer)', ''),
    ('coditect_internal.workflow_advance(uuid,uuid,text,jsonb)', ''),
    ('coditect_internal.workflow_approval_guard()', ''),
    ('coditect_internal.workflow_cancel_as(uuid)', 'gateway,service'),
    ('coditect_internal.workflow_complete_step_as(uuid,text,jsonb)', 'gateway,service'),
    ('coditect_internal.workflow_cron_schedule(text,text,text)', ''),
    ('coditect_internal.workflow_decide_as(uuid,text,text)', 'gateway,service'),
    ('coditect_internal.workflow_event_payload(coditect.workflows,uuid,text)', ''),
    ('coditect_internal.workflow_event_resource_type(text)', 'gateway,service'),
    ('coditect_internal.workflow_execution_for_update(uuid)', ''),
    ('coditect_internal.workflow_fail(coditect.workflows,uuid,text,text,jsonb)', ''),
    ('coditect_internal.workflow_events_changed()', ''),
    ('coditect_internal.workflow_events_watched(uuid,text)', ''),
    ('coditect_internal.workflow_fire_scheduled(uuid,uuid,integer)', ''),
    ('coditect_internal.workflow_job_name(uuid,integer)', ''),
    ('coditect_internal.workflow_context_check(jsonb)', ''),
    ('coditect_internal.workflow_new_version_as(uuid)', 'gateway,service'),
    ('coditect_internal.workflow_leave(coditect.workflow_executions,text,jsonb)', ''),
    ('coditect_internal.workflow_next(jsonb,jsonb,jsonb,text)', ''),
    ('coditect_internal.workflow_node(jsonb,text)', ''),
    ('coditect_internal.workflow_node_guard()', ''),
    ('coditect_internal.workflow_on_audit()', ''),
    ('coditect_internal.workflow_secret(uuid,uuid)', ''),
    ('coditect_internal.workflow_start_as(uuid,uuid,jsonb,coditect.workflow_trigger_type,uuid)', ''),
    ('coditect_internal.workflow_start_manual(uuid,jsonb)', 'gateway,service'),
    ('coditect_internal.workflow_step_add(uuid,uuid,jsonb,coditect.workflow_step_status,jsonb,text)', ''),
    ('coditect_internal.workflow_sync_triggers()', ''),
    ('coditect_internal.workflows_guard()', ''),
    ('coditect.outbox_claim(integer,integer)', 'worker'),
    ('coditect.outbox_record(uuid,uuid,integer,text,interval,integer)', 'worker'),
    ('coditect.purge_webhook_deliveries(interval)', ''),
    ('coditect.webhook_endpoint_rotate_secret(uuid)', 'gateway,service'),
    ('coditect_internal.webhook_endpoint_rotate_secret_as(uuid)', 'gateway,service'),
    ('coditect_internal.outbox_emit(uuid,text,jsonb,text,text,bytea)', ''),
    ('coditect_internal.outbox_events()', 'PUBLIC'),
    ('coditect_internal.webhook_endpoint_json(coditect.webhook_endpoints)', ''),
    ('coditect_internal.webhook_endpoint_rules()', ''),
    ('coditect_internal.webhook_endpoint_secret_init()', ''),
    ('coditect_internal.webhook_events_valid(text[])', 'PUBLIC'),
    ('coditect_internal.webhook_secret_generate()', ''),
    ('coditect.guest_cart_add(uuid,uuid,integer)', 'gateway,service'),
    ('coditect.guest_cart_claim(uuid)', 'gateway,service'),
    ('coditect.guest_cart_create()', 'gateway,service'),
    ('coditect.guest_cart_view(uuid)', 'gateway,service'),
    ('coditect_internal.guest_cart_take_as(uuid)', 'gateway,service'),
    ('coditect_internal.guest_cart_fill_as(character varying,jsonb)', 'gateway,service'),
    ('coditect_internal.guest_cart_json(coditect_internal.guest_carts)', ''),
    ('coditect_internal.guest_cart_of(uuid)', ''),
    ('coditect_internal.purge_guest_carts()', ''),
    ('coditect.subscription_activate(uuid,text)', 'service'),
    ('coditect_internal.subscription_pay(uuid,uuid,text)', ''),
    ('coditect_internal.guard_entitled_license()', ''),
    ('coditect_internal.order_entitlements()', ''),
    ('coditect.subscription_cancel(uuid,boolean)', 'gateway,service'),
    ('coditect.subscription_maintenance()', ''),
    ('coditect_internal.entitlement_end(uuid,coditect.entitlement_source,uuid,timestamp with time zone)', ''),
    ('coditect_internal.entitlement_grant(uuid,uuid,coditect.entitlement_source,uuid,timestamp with time zone,integer)', ''),
    ('coditect_internal.subscription_cancel_as(uuid,boolean)', 'gateway,service'),
    ('coditect_internal.subscription_entitlements()', ''),
    ('coditect_internal.subscription_period_end(coditect.recurring_interval,integer,integer,timestamp with time zone)', 'gateway,service'),
    ('coditect_internal.subscription_first_period_end(coditect.recurring_interval,integer,integer,timestamp with time zone)', 'gateway,service'),
    ('coditect_internal.anchored_date(timestamp without time zone,integer,timestamp with time zone)', 'gateway,service'),
    ('coditect.subscription_incomplete_ttl()', 'gateway,service,analyst'),
    ('coditect_internal.subscription_rules()', ''),
    ('coditect.currency_exponent(text)', 'gateway,service,analyst'),
    ('coditect.require_priceable_currency(text)', 'gateway,service,analyst'),
    ('coditect.money_format(bigint,text)', 'gateway,service,analyst'),
    ('coditect.tax_amount(bigint,numeric,boolean)', 'gateway,service,analyst'),
    ('coditect.tax_line(bigint,numeric,boolean)', 'gateway,service,analyst'),
    ('coditect.select_tax_rate(text,text,timestamp with time zone)', 'gateway,service,analyst'),
    ('coditect_internal.icu_currency_exponent(text)', ''),
    ('coditect.phone_e164(text,text)', 'gateway,service,analyst'),
    ('coditect.phone_calling_code(text)', 'gateway,service,analyst'),
    ('coditect_internal.link_contact_entity(regclass,text,regclass)', ''),
    ('coditect_internal.declare_contact_entity(text,regclass)', ''),
    ('coditect_internal.declare_contact_table(regclass)', ''),
    ('coditect_internal.guard_contact()', ''),
    ('coditect_internal.normalize_phone_number()', ''),
    ('coditect_internal.normalize_address_phone()', ''),
    ('coditect_internal.normalize_email_address()', ''),
    ('coditect_internal.check_product_requires()', ''),
    ('coditect_internal.check_product_currency()', ''),
    ('coditect_internal.check_coupon()', ''),
    ('coditect_internal.coupon_check(coditect.coupons,text,text,uuid[],uuid)', ''),
    ('coditect_internal.coupon_slots(uuid)', 'gateway,service'),
    ('coditect_internal.cart_checkout_redeem(uuid,text,text,jsonb,uuid)', 'gateway,service'),
    ('coditect.coupon_times_redeemed(uuid)', 'service'),
    ('coditect_internal.license_key_take(uuid)', ''),
    ('coditect_internal.license_keys_claim(uuid,coditect.entitlement_source,uuid[],uuid[])', 'gateway,service'),
    ('coditect_internal.subscription_create_global(jsonb)', 'gateway,service'),
    ('coditect_internal.subscription_start_key_claim(uuid,uuid)', 'gateway,service'),
    ('coditect_internal.register_create_global(text,regprocedure)', ''),
    ('coditect_internal.order_license_keys_claim(uuid,uuid)', 'service'),
    ('coditect_internal.coupon_discounts(uuid,uuid[],bigint[])', 'gateway,service,analyst'),
    ('coditect.cart_discount_amount(coditect.carts)', 'gateway,service,analyst'),
    ('coditect.cart_apply_discount(uuid,text)', 'gateway,service'),
    ('coditect_internal.cart_apply_discount_as(uuid,text)', 'gateway,service'),
    ('coditect.cart_add_item(uuid,uuid,integer)', 'gateway,service'),
    ('coditect.cart_checkout(uuid,text,text,jsonb,uuid)', 'gateway,service'),
    ('coditect.cart_effective_status(coditect.carts)', 'gateway,service,analyst'),
    ('coditect.cart_ttl()', 'gateway,service,analyst'),
    ('coditect.expire_carts()', ''),
    ('coditect.order_cancel(uuid)', 'gateway,service'),
    ('coditect.order_mark_paid(uuid,text)', 'service'),
    ('coditect.order_refund(uuid,bigint,text)', 'gateway,service'),
    ('coditect_internal.apply_refund()', ''),
    ('coditect_internal.cart_checkout_as(uuid,text,text,jsonb,uuid)', 'gateway,service'),
    ('coditect_internal.check_order_totals()', ''),
    ('coditect_internal.cart_visible(uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.order_visible(uuid,uuid)', 'gateway,service,analyst'),
    ('coditect_internal.cart_visible_body(uuid,uuid)', ''),
    ('coditect_internal.order_visible_body(uuid,uuid)', ''),
    ('coditect_internal.guard_cart()', ''),
    ('coditect_internal.guard_cart_item()', ''),
    ('coditect_internal.guard_order()', ''),
    ('coditect_internal.guard_order_line()', ''),
    ('coditect_internal.guard_payment()', ''),
    ('coditect_internal.keep_rows()', ''),
    ('coditect_internal.order_cancel_as(uuid)', 'gateway,service'),
    ('coditect_internal.order_refund_as(uuid,bigint,text)', 'gateway,service'),
    ('coditect_internal.payment_pays_order()', ''),
    ('coditect_internal.price_order_line()', '');

CREATE TEMP TABLE actual_execute AS
SELECT fn, CASE WHEN has_function_privilege('public', oid, 'EXECUTE') THEN 'PUBLIC'
                ELSE concat_ws(',', CASE WHEN has_function_privilege('coditect_gateway', oid, 'EXECUTE') THEN 'gateway' END,
                                    CASE WHEN has_function_privilege('coditect_service', oid, 'EXECUTE') THEN 'service' END,
                                    CASE WHEN has_function_privilege('coditect_analyst', oid, 'EXECUTE') THEN 'analyst' END,
                                    CASE WHEN has_function_privilege('coditect_worker', oid, 'EXECUTE') THEN 'worker' END)
           END AS roles
  FROM ext_functions
 WHERE oid NOT IN (SELECT function FROM coditect_internal.resource_operations WHERE kind <> 'action');

SELECT is(a.roles, e.roles, coalesce(a.fn, e.fn) || ': executable by ' || coalesce(nullif(e.roles, ''), 'the DBA only'))
  FROM actual_execute a FULL JOIN expected_execute e ON e.fn = a.fn
 ORDER BY coalesce(a.fn, e.fn);

------------------------------------------------------------------------------------------------
-- The permission matrix, as literal data (the gateway's and the API's checks read this table).
------------------------------------------------------------------------------------------------

SELECT set_eq(
    $$SELECT p.codename::text, rp.role::text FROM coditect.role_permissions rp JOIN coditect.permissions p ON p.id = rp.permission_id$$,
    $$SELECT c, r FROM (VALUES
        ('tenant.view', '{owner,admin,member,guest}'), ('tenant.update', '{owner,admin}'),
        ('user.view', '{owner,admin,member,guest}'), ('user.create', '{owner,admin}'), ('user.update', '{owner,admin}'),
        ('user.delete', '{owner,admin}'), ('membership.view', '{owner,admin,member}'), ('membership.update', '{owner,admin}'),
        ('team.view', '{owner,admin,member,guest}'), ('team.create', '{owner,admin}'), ('team.update', '{owner,admin}'),
        ('team.delete', '{owner,admin}'), ('team_member.view', '{owner,admin,member,guest}'),
        ('team_member.create', '{owner,admin}'), ('team_member.update', '{owner,admin}'), ('team_member.delete', '{owner,admin}'),
        ('project.view', '{owner,admin,member,guest}'), ('project.create', '{owner,admin,member}'),
        ('project.update', '{owner,admin,member}'), ('project.delete', '{owner,admin}'), ('project.restore', '{owner,admin}'),
        ('audit_log.view', '{owner,admin}'), ('license.view', '{owner,admin}'), ('license.create', '{owner,admin}'),
        ('license.update', '{owner,admin}'), ('license.manage', '{owner,admin}'), ('license.use', '{owner,admin,member}'),
        ('sprint.view', '{owner,admin,member,guest}'), ('sprint.create', '{owner,admin}'), ('sprint.update', '{owner,admin}'),
        ('sprint.delete', '{owner,admin}'), ('sprint.restore', '{owner,admin}'),
        ('milestone.view', '{owner,admin,member,guest}'), ('milestone.create', '{owner,admin}'),
        ('milestone.update', '{owner,admin}'), ('milestone.delete', '{owner,admin}'), ('milestone.restore', '{owner,admin}'),
        ('task.view', '{owner,admin,member,guest}'), ('task.create', '{owner,admin,member}'),
        ('task.update', '{owner,admin,member}'), ('task.delete', '{owner,admin}'), ('task.restore', '{owner,admin}'),
        ('task_comment.view', '{owner,admin,member,guest}'), ('task_comment.create', '{owner,admin,member}'),
        ('task_comment.update', '{owner,admin,member}'), ('task_comment.delete', '{owner,admin,member}'),
        ('task_comment.restore', '{owner,admin}'), ('task_activity.view', '{owner,admin,member,guest}'),
        ('board.view', '{owner,admin,member,guest}'), ('board.create', '{owner,admin}'), ('board.update', '{owner,admin}'),
        ('board.delete', '{owner,admin}'), ('upload.create', '{owner,admin,member}'),
        ('blob.download', '{owner,admin,member}'),
        ('folder.view', '{owner,admin,member,guest}'), ('folder.create', '{owner,admin,member}'),
        ('folder.update', '{owner,admin,member}'), ('folder.delete', '{owner,admin,member}'), ('folder.restore', '{owner,admin}'),
        ('document.view', '{owner,admin,member,guest}'), ('document.create', '{owner,admin,member}'),
        ('document.update', '{owner,admin,member}'), ('document.delete', '{owner,admin,member}'),
        ('document.restore', '{owner,admin}'), ('document_version.view', '{owner,admin,member,guest}'),
        ('document_permission.view', '{owner,admin,member,guest}'), ('document_permission.create', '{owner,admin,member}'),
        ('document_permission.update', '{owner,admin,member}'), ('document_permission.delete', '{owner,admin,member}'),
        ('task_attachment.view', '{owner,admin,member,guest}'), ('task_attachment.delete', '{owner,admin,member}'),
        ('task_attachment.create', '{owner,admin,member}'),
        ('workflow.view', '{owner,admin,member,guest}'), ('workflow.create', '{owner,admin}'), ('workflow.update', '{owner,admin}'),
        ('workflow.delete', '{owner,admin}'), ('workflow.start', '{owner,admin,member}'), ('workflow.rotate_secret', '{owner,admin}'),
        ('workflow_execution.view', '{owner,admin,member,guest}'), ('workflow_execution.complete_step', '{owner,admin,member}'),
        ('workflow_execution.cancel', '{owner,admin,member}'), ('workflow_step.view', '{owner,admin,member,guest}'),
        ('workflow_approval.view', '{owner,admin,member,guest}'), ('workflow_approval.decide', '{owner,admin,member,guest}'),
        ('document_share.view', '{owner,admin,member,guest}'), ('document_share.create', '{owner,admin,member}'),
        ('document_share.revoke', '{owner,admin,member}'), ('document_activity.view', '{owner,admin,member,guest}'),
        ('audit_review.view', '{owner,admin}'), ('audit_review.create', '{owner,admin}'), ('audit_review.update', '{owner,admin}'),
        ('compliance_report.view', '{owner,admin}'), ('compliance_report.generate', '{owner,admin}'),
        ('webhook_endpoint.view', '{owner,admin}'), ('webhook_endpoint.create', '{owner,admin}'),
        ('webhook_endpoint.update', '{owner,admin}'), ('webhook_endpoint.delete', '{owner,admin}'),
        ('webhook_endpoint.rotate_secret', '{owner,admin}'), ('webhook_delivery.view', '{owner,admin}'),
        ('subscription.view', '{owner,admin}'), ('subscription.create', '{owner,admin}'), ('subscription.cancel', '{owner,admin}'),
        ('entitlement.view', '{owner,admin,member}'),
        ('tax_rate.view', '{owner,admin,member,guest}'), ('product.view', '{owner,admin,member,guest}'),
        ('address.view', '{owner,admin,member}'), ('address.create', '{owner,admin,member}'),
        ('address.update', '{owner,admin,member}'), ('address.delete', '{owner,admin,member}'),
        ('phone_number.view', '{owner,admin,member}'), ('phone_number.create', '{owner,admin,member}'),
        ('phone_number.update', '{owner,admin,member}'), ('phone_number.delete', '{owner,admin,member}'),
        ('email_address.view', '{owner,admin,member}'), ('email_address.create', '{owner,admin,member}'),
        ('email_address.update', '{owner,admin,member}'), ('email_address.delete', '{owner,admin,member}'),
        ('contact.manage', '{owner,admin}'),
        ('cart.view', '{owner,admin,member}'), ('cart.create', '{owner,admin,member}'), ('cart.delete', '{owner,admin,member}'),
        ('cart.add_item', '{owner,admin,member}'), ('cart.checkout', '{owner,admin,member}'),
        ('cart.apply_discount', '{owner,admin,member}'),
        ('cart_item.view', '{owner,admin,member}'), ('cart_item.update', '{owner,admin,member}'),
        ('cart_item.delete', '{owner,admin,member}'), ('order.view', '{owner,admin,member}'),
        ('order.cancel', '{owner,admin,member}'), ('order.refund', '{owner,admin}'), ('order.manage', '{owner,admin}'),
        ('order_line.view', '{owner,admin,member}'), ('payment.view', '{owner,admin,member}'),
        ('refund.view', '{owner,admin,member}'), ('invoice.view', '{owner,admin,member}')
      ) v(c, rs), unnest(rs::text[]) r$$,
    'role_permissions is exactly the reviewed codename x role matrix');

------------------------------------------------------------------------------------------------
-- Fixtures: tenants A and B; B holds the secrets an attacker in A wants.
------------------------------------------------------------------------------------------------

CREATE SCHEMA tap12;
GRANT USAGE ON SCHEMA tap12 TO PUBLIC;
CREATE TABLE tap12.ids AS
SELECT 'A'::text AS k, coditect.create_tenant('Sec A', 'sec-a', 'a@sec.test', 'owner@a.sec.test', 'fb-sec-a') AS j
UNION ALL SELECT 'B', coditect.create_tenant('Sec B', 'sec-b', 'b@sec.test', 'owner@b.sec.test', 'fb-sec-secret-b');
CREATE FUNCTION tap12.tid(text) RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (j->>'tenant_id')::uuid FROM tap12.ids WHERE k = $1 $$;
CREATE FUNCTION tap12.uid(text) RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (j->>'user_id')::uuid FROM tap12.ids WHERE k = $1 $$;
INSERT INTO coditect.licenses (tenant_id, expiry_date, seats_total)
SELECT tap12.tid(k), now() + interval '1 year', 3 FROM tap12.ids;
INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id)
SELECT l.tenant_id, l.id, tap12.uid(k), 'hw-' || k || '-secret' FROM coditect.licenses l JOIN tap12.ids ON l.tenant_id = tap12.tid(k);
INSERT INTO coditect.projects (tenant_id, name) SELECT tap12.tid(k), 'Project ' || k FROM tap12.ids;
UPDATE coditect.tenants SET stripe_customer_id = 'cus_secret_b' WHERE id = tap12.tid('B');
UPDATE coditect.users SET oauth_provider = 'google', oauth_sub = 'google-secret-b' WHERE id = tap12.uid('B');
-- Enough users that a plan through a selective index is the cheap one, as in a real tenant.
INSERT INTO coditect.users (tenant_id, email, firebase_uid)
SELECT tap12.tid(k), 'u' || g || '@' || k || '.sec.test', 'fb-' || k || '-' || g FROM tap12.ids, generate_series(1, 300) g;
ANALYZE coditect.users, coditect.audit_logs;
SELECT key_string AS key_a FROM coditect.licenses WHERE tenant_id = tap12.tid('A') \gset
SELECT key_string AS key_b FROM coditect.licenses WHERE tenant_id = tap12.tid('B') \gset
GRANT SELECT ON tap12.ids TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tap12 TO PUBLIC;

CREATE ROLE tap12_analyst LOGIN;
SELECT coditect.bind_analyst('tap12_analyst', tap12.tid('A'));

------------------------------------------------------------------------------------------------
-- EXPLAIN ANALYZE as a bound analyst: the plan of a query for B's value must be the plan of a
-- query for a value nobody has (same row counts in every node, "Rows Removed by Filter" too).
------------------------------------------------------------------------------------------------

-- The row figures of every node of the plan, in order.
CREATE FUNCTION tap12.plan_rows(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_bitmapscan = off;
    EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || p_sql INTO plan;
    RESET enable_seqscan;
    RESET enable_bitmapscan;
    RETURN (SELECT string_agg(m[1], ' ' ORDER BY n)
              FROM regexp_matches(plan::text, '"(?:Actual Rows|Rows Removed by Filter|Rows Removed by Index Recheck)": (\d+)', 'g')
                   WITH ORDINALITY AS x(m, n));
END $$;
GRANT EXECUTE ON FUNCTION tap12.plan_rows(text) TO PUBLIC;

-- A predicate with %L for the value, as an attacker would write it to reach an index.
CREATE TEMP TABLE probes (name text, tbl text, pred text, secret text, blank text DEFAULT 'nobody-has-this');
INSERT INTO probes (name, tbl, pred, secret) VALUES
    ('users.firebase_uid', 'coditect.users', 'firebase_uid = %L', 'fb-sec-secret-b'),
    ('users.oauth', 'coditect.users', 'oauth_provider = ''google'' AND oauth_sub = %L', 'google-secret-b'),
    ('licenses.key_string', 'coditect.licenses', 'key_string = %L', :'key_b'),
    ('license_sessions.hardware_id', 'coditect.license_sessions', 'hardware_id = %L', 'hw-B-secret'),
    ('tenants.slug', 'coditect.tenants', 'slug = %L', 'sec-b'),
    ('tenants.stripe_customer_id', 'coditect.tenants', 'stripe_customer_id = %L', 'cus_secret_b'),
    ('tenants.email', 'coditect.tenants', 'email = %L', 'b@sec.test'),
    ('audit_logs.resource', 'coditect.audit_logs', 'resource_type = ''project'' AND resource_id = %L',
     (SELECT id::text FROM coditect.projects WHERE tenant_id = tap12.tid('B'))),
    ('audit_logs.user_id', 'coditect.audit_logs', 'user_id = %L', tap12.uid('B')::text),
    ('audit_logs.action', 'coditect.audit_logs', 'action = %L', 'tenant.update');
UPDATE probes SET blank = coditect.uuid_generate_v7()::text WHERE name = 'audit_logs.user_id';
GRANT SELECT ON probes TO PUBLIC;

SET SESSION AUTHORIZATION tap12_analyst;
CREATE TEMP TABLE explain_results AS
SELECT name,
       tap12.plan_rows(format('SELECT * FROM %s WHERE ' || pred, tbl, secret)) AS secret_plan,
       tap12.plan_rows(format('SELECT * FROM %s WHERE ' || pred, tbl, blank)) AS blank_plan
  FROM probes;
RESET SESSION AUTHORIZATION;
SELECT is(secret_plan, blank_plan, name || ': EXPLAIN ANALYZE of another tenant''s value looks like a value nobody has')
  FROM explain_results ORDER BY name;

SELECT * FROM finish();
ROLLBACK;

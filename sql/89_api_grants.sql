-- 89_api_grants: the invoker-rights helpers of the generated API functions
-- (coditect_internal.api_*) are executable by the gateway and services only; they give no more
-- than plain SQL under RLS would. The generated functions are granted when they are made.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'coditect_internal'::regnamespace
                AND (p.proname LIKE 'api\_%' OR p.proname = 'etag_matches') LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO coditect_gateway, coditect_service', f);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION coditect.resolve_firebase_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.resolve_firebase_user(text) TO coditect_gateway, coditect_service;

-- Functions are executable by PUBLIC when created; functions made after 00_base's revoke still
-- are. Take that back everywhere, then give PUBLIC only the pure helpers and context readers
-- that policies, defaults and CHECK constraints call as whoever runs the statement. The grants
-- to coditect_gateway / coditect_service made next to each function stay; test/pgtap/12_security
-- pins the whole matrix.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA coditect, coditect_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    coditect.current_tenant_id(), coditect.current_user_id(), coditect.current_user_role(),
    coditect.uuid_generate_v7(), coditect.uuid_v7_time(uuid), coditect.is_valid_timezone(text),
    coditect.license_key_generate(), coditect.license_key_normalize(text), coditect.license_key_is_valid(text),
    coditect.license_token_key_id(text), coditect.license_session_ttl(), coditect.license_public_keys(),
    coditect.license_verify(text), coditect.row_etag(jsonb), coditect_internal.check_board_columns(jsonb),
    coditect.workflow_definition_problems(jsonb), coditect.workflow_definition_schema(),
    coditect_internal.check_workflow_definition(jsonb), coditect_internal.check_workflow_triggers(jsonb),
    coditect_internal.outbox_events(), coditect_internal.webhook_events_valid(text[])
    TO PUBLIC;

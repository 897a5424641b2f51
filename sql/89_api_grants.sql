-- 89_api_grants: every REST API function (coditect.api_*) and its invoker-rights helpers
-- (coditect_internal.api_*) is executable by the gateway and services only. The helpers give no
-- more than plain SQL under RLS would; the api_* functions add the permission checks.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE (p.pronamespace = 'coditect'::regnamespace AND p.proname LIKE 'api\_%')
                 OR (p.pronamespace = 'coditect_internal'::regnamespace AND p.proname LIKE 'api\_%') LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO coditect_gateway, coditect_service', f);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION coditect.resolve_firebase_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.resolve_firebase_user(text) TO coditect_gateway, coditect_service;

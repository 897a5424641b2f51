-- bench/seats_before.sql: the seat calls as they were before they moved to C++ (the PL/pgSQL
-- license_acquire / license_heartbeat / license_release with their helpers and the PL/pgSQL
-- seat-counting and session-guard triggers of sql/80_licenses.sql, and the licenses guard of
-- sql/86_subscriptions.sql firing on every update), copied from those files at commit 82e9b4c
-- into schema seats_before. Loaded by bench/seats.sh into its throw-away cluster only, so that
-- one run measures before and after; never part of the extension.
-- seats_before.use('before' | 'after') switches the triggers between the two (run it with no
-- client connected); the calls are seats_before.license_* (before) and coditect.license_*.
CREATE SCHEMA seats_before;

CREATE FUNCTION seats_before.count_license_seats() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    delta int := 0;
    tenant uuid;
    license uuid;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.license_id) IS DISTINCT FROM (OLD.tenant_id, OLD.license_id) THEN
        RAISE EXCEPTION 'a license session cannot move to another license' USING ERRCODE = 'CD422';
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status = 'active' THEN
        delta := delta - 1;
        tenant := OLD.tenant_id;
        license := OLD.license_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status = 'active' THEN
        delta := delta + 1;
        tenant := NEW.tenant_id;
        license := NEW.license_id;
    END IF;
    IF delta <> 0 THEN
        UPDATE coditect.licenses SET seats_in_use = seats_in_use + delta
         WHERE tenant_id = tenant AND id = license;
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION seats_before.guard_license_session() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me uuid := coditect.current_user_id();
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF me IS NULL OR coditect.has_permission('license.manage') THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'only an administrator deletes license sessions' USING ERRCODE = 'CD403';
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.ended_by := NULL;
    ELSIF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        RAISE EXCEPTION 'a license session cannot change hands' USING ERRCODE = 'CD422';
    ELSIF NEW.status = 'ended' AND OLD.status <> 'ended' THEN
        NEW.ended_by := me;
    ELSIF NEW.ended_by IS NULL AND OLD.ended_by IS NOT NULL
          AND to_jsonb(NEW) - '{ended_by,updated_at}'::text[] = to_jsonb(OLD) - '{ended_by,updated_at}'::text[]
          AND NOT EXISTS (SELECT 1 FROM coditect.users u WHERE u.tenant_id = OLD.tenant_id AND u.id = OLD.ended_by) THEN
        RETURN NEW;  -- ON DELETE SET NULL (ended_by): the user who ended it was deleted
    ELSE
        NEW.ended_by := OLD.ended_by;
    END IF;
    IF me IS NULL OR NEW.user_id = me THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status = 'active' AND NEW.status = 'zombie'
           AND OLD.last_heartbeat_at < now() - coditect.license_session_ttl()
           AND to_jsonb(NEW) - '{status,updated_at}'::text[] = to_jsonb(OLD) - '{status,updated_at}'::text[] THEN
            RETURN NEW;
        END IF;
        IF NEW.status = 'ended' AND OLD.status <> 'ended' AND coditect.has_permission('license.manage')
           AND to_jsonb(NEW) - '{status,ended_at,ended_by,updated_at}'::text[]
               = to_jsonb(OLD) - '{status,ended_at,ended_by,updated_at}'::text[] THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'this license session belongs to another user' USING ERRCODE = 'CD403';
END
$$;
CREATE FUNCTION seats_before.zombify_overdue(p_tenant uuid, p_license uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.license_sessions SET status = 'zombie'
     WHERE tenant_id = p_tenant AND license_id = p_license AND status = 'active'
       AND last_heartbeat_at < now() - coditect.license_session_ttl();
END
$$;

-- The answer of acquire and heartbeat: the session, the seats, the deadline, a signed token.
-- The only path to the signing key, so it signs nothing but an active session of the calling
-- user, read here from the tables (never from arguments).
CREATE FUNCTION seats_before.license_session_answer(p_session_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.license_sessions;
    l coditect.licenses;
    deadline timestamptz;
BEGIN
    SELECT * INTO s FROM coditect.license_sessions
     WHERE tenant_id = coditect.current_tenant_id() AND id = p_session_id AND status = 'active'
       AND user_id = coditect.current_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active license session %', p_session_id USING ERRCODE = 'CD404';
    END IF;
    SELECT * INTO l FROM coditect.licenses WHERE tenant_id = s.tenant_id AND id = s.license_id;
    deadline := s.last_heartbeat_at + coditect.license_session_ttl();
    RETURN jsonb_build_object(
        'session_id', s.id, 'license_id', l.id, 'status', s.status, 'hardware_id', s.hardware_id,
        'tier', l.tier, 'features', l.features,
        'seats_used', l.seats_in_use, 'seats_total', l.seats_total,
        'heartbeat_deadline', deadline, 'license_expires_at', l.expiry_date,
        'token', coditect_internal.license_token_sign(l.id, l.tenant_id, l.tier::text, l.features, s.id,
                                                      s.hardware_id, now(), least(deadline, l.expiry_date)));
END
$$;

-- Locks the current tenant's license (by id, or by key when p_license is NULL), checks it may
-- be used, and zombifies its overdue sessions; returns it with its seat count after that.
CREATE FUNCTION seats_before.lock_usable_license(p_tenant uuid, p_license uuid, p_key text DEFAULT NULL)
RETURNS coditect.licenses
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l coditect.licenses;
BEGIN
    IF p_license IS NULL THEN
        SELECT * INTO l FROM coditect.licenses WHERE tenant_id = p_tenant AND key_string = p_key FOR UPDATE;
    ELSE
        SELECT * INTO l FROM coditect.licenses WHERE tenant_id = p_tenant AND id = p_license FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION '%', CASE WHEN p_license IS NULL THEN 'unknown license key' ELSE 'unknown license' END
            USING ERRCODE = 'CD404';
    END IF;
    IF NOT l.is_active THEN
        RAISE EXCEPTION 'the license is inactive' USING ERRCODE = 'CD403';
    END IF;
    IF l.expiry_date <= now() THEN
        RAISE EXCEPTION 'the license expired on %', to_char(l.expiry_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
            USING ERRCODE = 'CD410';
    END IF;
    PERFORM seats_before.zombify_overdue(l.tenant_id, l.id);
    SELECT seats_in_use INTO l.seats_in_use FROM coditect.licenses WHERE tenant_id = l.tenant_id AND id = l.id;
    RETURN l;
END
$$;

CREATE FUNCTION seats_before.require_context() RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no request context: call coditect.set_request_context first' USING ERRCODE = 'CD403';
    END IF;
    RETURN coditect.current_tenant_id();
END
$$;

CREATE FUNCTION seats_before.license_acquire(
    p_key_string  text,
    p_hardware_id text,
    p_client_ip   inet DEFAULT NULL,
    p_user_agent  text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := seats_before.require_context();
    key text;
    l coditect.licenses;
    s coditect.license_sessions;
BEGIN
    PERFORM coditect.require_permission('license.use');
    key := coditect.license_key_normalize(p_key_string);
    IF p_hardware_id IS NULL OR p_hardware_id !~ '\S' OR length(p_hardware_id) > 255 THEN
        RAISE EXCEPTION 'hardware id must be 1 to 255 characters' USING ERRCODE = 'CD400';
    END IF;
    -- Fast refusal without the license lock, so a crowd at a full license does not queue in
    -- front of its seat holders' heartbeats and releases. Only a refusal is decided here; a
    -- seat is only ever taken under the lock below.
    SELECT * INTO l FROM coditect.licenses WHERE tenant_id = tenant AND key_string = key;
    IF FOUND AND l.is_active AND l.expiry_date > now() AND l.seats_in_use >= l.seats_total
       AND NOT EXISTS (SELECT 1 FROM coditect.license_sessions
                        WHERE tenant_id = tenant AND license_id = l.id AND status = 'active'
                          AND (hardware_id = p_hardware_id
                               OR last_heartbeat_at < now() - coditect.license_session_ttl())) THEN
        RAISE EXCEPTION 'no free seat: % of % seats in use', l.seats_in_use, l.seats_total
            USING ERRCODE = 'CD409';
    END IF;
    l := seats_before.lock_usable_license(tenant, NULL, key);

    SELECT * INTO s FROM coditect.license_sessions
     WHERE tenant_id = tenant AND license_id = l.id AND hardware_id = p_hardware_id AND status = 'active';
    IF FOUND AND s.user_id <> coditect.current_user_id() THEN
        RAISE EXCEPTION 'this machine holds a session of another user on this license' USING ERRCODE = 'CD409';
    ELSIF FOUND THEN
        UPDATE coditect.license_sessions SET last_heartbeat_at = now()
         WHERE tenant_id = tenant AND id = s.id;
    ELSE
        IF l.seats_in_use >= l.seats_total THEN
            RAISE EXCEPTION 'no free seat: % of % seats in use', l.seats_in_use, l.seats_total
                USING ERRCODE = 'CD409';
        END IF;
        INSERT INTO coditect.license_sessions (tenant_id, license_id, user_id, hardware_id, ip_address, user_agent)
        VALUES (tenant, l.id, coditect.current_user_id(), p_hardware_id, p_client_ip, coalesce(left(p_user_agent, 500), ''))
        RETURNING * INTO s;
    END IF;
    RETURN seats_before.license_session_answer(s.id);
END
$$;

CREATE FUNCTION seats_before.license_heartbeat(p_session_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := seats_before.require_context();
    l coditect.licenses;
    s coditect.license_sessions;
BEGIN
    PERFORM coditect.require_permission('license.use');
    -- Another user's session is unknown to the caller.
    SELECT * INTO s FROM coditect.license_sessions
     WHERE tenant_id = tenant AND id = p_session_id AND user_id = coditect.current_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown license session' USING ERRCODE = 'CD404';
    END IF;
    IF s.status = 'ended' THEN
        RAISE EXCEPTION 'the license session has ended; acquire a new one' USING ERRCODE = 'CD410';
    END IF;
    -- A live session keeps its seat: extending it needs no license lock (the seat count does
    -- not change). The WHERE re-checks both conditions on the row it locks.
    IF s.status = 'active' THEN
        SELECT * INTO l FROM coditect.licenses WHERE tenant_id = tenant AND id = s.license_id;
        IF l.is_active AND l.expiry_date > now() THEN
            UPDATE coditect.license_sessions SET last_heartbeat_at = now()
             WHERE tenant_id = tenant AND id = s.id AND status = 'active'
               AND last_heartbeat_at >= now() - coditect.license_session_ttl();
            IF FOUND THEN
                RETURN seats_before.license_session_answer(s.id);
            END IF;
        END IF;
    END IF;

    -- A lapsed session (or an unusable license): decide under the license lock.
    l := seats_before.lock_usable_license(tenant, s.license_id);
    SELECT * INTO s FROM coditect.license_sessions WHERE tenant_id = tenant AND id = p_session_id;
    IF s.status = 'ended' THEN
        RAISE EXCEPTION 'the license session has ended; acquire a new one' USING ERRCODE = 'CD410';
    END IF;
    IF s.status = 'zombie' THEN
        IF l.seats_in_use >= l.seats_total THEN
            RAISE EXCEPTION 'the session lapsed and no seat is free to revive it: % of % seats in use',
                l.seats_in_use, l.seats_total USING ERRCODE = 'CD409';
        END IF;
        IF EXISTS (SELECT 1 FROM coditect.license_sessions
                    WHERE tenant_id = tenant AND license_id = l.id AND hardware_id = s.hardware_id AND status = 'active') THEN
            RAISE EXCEPTION 'the session lapsed and this machine holds a newer session' USING ERRCODE = 'CD409';
        END IF;
        UPDATE coditect.license_sessions SET status = 'active', last_heartbeat_at = now()
         WHERE tenant_id = tenant AND id = s.id;
    ELSE
        UPDATE coditect.license_sessions SET last_heartbeat_at = now()
         WHERE tenant_id = tenant AND id = s.id;
    END IF;
    RETURN seats_before.license_session_answer(s.id);
END
$$;

-- Ends the session and frees its seat; releasing an ended session again does nothing. A user
-- releases their own sessions; an administrator (license.manage) any session of the tenant.
CREATE FUNCTION seats_before.license_release(p_session_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := seats_before.require_context();
    v_license uuid;
BEGIN
    PERFORM coditect.require_permission('license.use');
    SELECT s.license_id INTO v_license FROM coditect.license_sessions s
     WHERE s.tenant_id = tenant AND s.id = p_session_id
       AND (s.user_id = coditect.current_user_id() OR coditect.has_permission('license.manage'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown license session' USING ERRCODE = 'CD404';
    END IF;
    -- Same lock order as acquire (license, then session).
    PERFORM 1 FROM coditect.licenses WHERE tenant_id = tenant AND id = v_license FOR UPDATE;
    UPDATE coditect.license_sessions SET status = 'ended'
     WHERE tenant_id = tenant AND id = p_session_id AND status <> 'ended';
END
$$;

GRANT USAGE ON SCHEMA seats_before TO coditect_gateway, coditect_service;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA seats_before FROM PUBLIC;
GRANT EXECUTE ON FUNCTION seats_before.license_acquire(text, text, inet, text), seats_before.license_heartbeat(uuid),
    seats_before.license_release(uuid), seats_before.zombify_overdue(uuid, uuid),
    seats_before.license_session_answer(uuid), seats_before.lock_usable_license(uuid, uuid, text),
    seats_before.require_context() TO coditect_gateway, coditect_service;

CREATE FUNCTION seats_before.use(p_path text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fn text := CASE p_path WHEN 'before' THEN 'seats_before' WHEN 'after' THEN 'coditect_internal' END;
BEGIN
    IF fn IS NULL THEN
        RAISE EXCEPTION 'use(''before'') or use(''after'')';
    END IF;
    DROP TRIGGER count_license_seats ON coditect.license_sessions;
    EXECUTE format('CREATE TRIGGER count_license_seats AFTER INSERT OR UPDATE OF status, license_id, tenant_id OR DELETE
                    ON coditect.license_sessions FOR EACH ROW EXECUTE FUNCTION %I.count_license_seats()', fn);
    ALTER TABLE coditect.license_sessions ENABLE ALWAYS TRIGGER count_license_seats;
    DROP TRIGGER guard_license_session ON coditect.license_sessions;
    EXECUTE format('CREATE TRIGGER guard_license_session BEFORE INSERT OR UPDATE OR DELETE ON coditect.license_sessions
                    FOR EACH ROW EXECUTE FUNCTION %I.guard_license_session()', fn);
    ALTER TABLE coditect.license_sessions ENABLE ALWAYS TRIGGER guard_license_session;
    DROP TRIGGER guard_entitled_license ON coditect.licenses;
    EXECUTE format('CREATE TRIGGER guard_entitled_license BEFORE %s ON coditect.licenses
                    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_entitled_license()',
                   CASE p_path WHEN 'before' THEN 'UPDATE OR DELETE'
                        ELSE 'UPDATE OF tier, features, seats_total, expiry_date, is_active OR DELETE' END);
    ALTER TABLE coditect.licenses ENABLE ALWAYS TRIGGER guard_entitled_license;
END
$$;
REVOKE ALL ON FUNCTION seats_before.use(text) FROM PUBLIC;

-- 80_licenses: licenses, concurrent-seat sessions (acquire / heartbeat / release, zombies) and
-- Ed25519-signed license tokens. Seat counting is a counter on the license row, kept by a
-- trigger and bounded by a CHECK, so the invariant holds whoever writes the sessions.

CREATE FUNCTION coditect.license_key_generate() RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_license_key_generate' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION coditect.license_key_normalize(text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_license_key_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION coditect.license_key_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_license_key_is_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION coditect.license_session_ttl() RETURNS interval
    AS 'MODULE_PATHNAME', 'coditect_license_session_ttl' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION coditect.license_token_key_id(text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_license_token_key_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION coditect_internal.license_token_sign(uuid, uuid, text, jsonb, uuid, text, timestamptz, timestamptz)
    RETURNS text AS 'MODULE_PATHNAME', 'coditect_license_token_sign' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.license_signing_public_key(OUT key_id text, OUT public_key text, OUT public_key_pem text)
    RETURNS record AS 'MODULE_PATHNAME', 'coditect_license_signing_public_key' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.license_token_check(text, text, timestamptz) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_license_token_check' LANGUAGE C IMMUTABLE STRICT;
REVOKE ALL ON FUNCTION coditect_internal.license_token_sign(uuid, uuid, text, jsonb, uuid, text, timestamptz, timestamptz),
    coditect_internal.license_signing_public_key(), coditect_internal.license_token_check(text, text, timestamptz)
    FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.license_tier AS ENUM ('BASIC', 'PRO', 'ENTERPRISE');
COMMENT ON TYPE coditect.license_tier IS 'The edition a license unlocks.';
CREATE TYPE coditect.license_session_status AS ENUM ('active', 'zombie', 'ended');
COMMENT ON TYPE coditect.license_session_status IS
    'active: holds a seat; zombie: missed its heartbeat, seat freed, may come back; ended: released.';

CREATE TABLE coditect.licenses (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    key_string   varchar(23) NOT NULL DEFAULT coditect.license_key_generate()
                 CHECK (coditect.license_key_is_valid(key_string)),
    tier         coditect.license_tier NOT NULL DEFAULT 'BASIC',
    features     coditect.json_array NOT NULL DEFAULT '[]'
                 CHECK (NOT jsonb_path_exists(features, '$[*] ? (@.type() != "string")')),
    expiry_date  timestamptz NOT NULL,
    seats_total  integer NOT NULL DEFAULT 1 CHECK (seats_total >= 1),
    seats_in_use integer NOT NULL DEFAULT 0,
    is_active    boolean NOT NULL DEFAULT true,
    created_by   uuid DEFAULT coditect.current_user_id(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Keys are unique across tenants through global_keys; this serves the tenant's lookups.
    CONSTRAINT licenses_tenant_key_string_key UNIQUE (tenant_id, key_string),
    CONSTRAINT licenses_seats_within_total CHECK (seats_in_use >= 0 AND seats_in_use <= seats_total),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX licenses_tenant_created_idx ON coditect.licenses (tenant_id, created_at DESC, id DESC);
COMMENT ON COLUMN coditect.licenses.seats_in_use IS
    'Active sessions, kept by a trigger on license_sessions; never written by clients.';

CREATE TABLE coditect.license_sessions (
    tenant_id         uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    license_id        uuid NOT NULL,
    user_id           uuid NOT NULL,
    hardware_id       varchar(255) NOT NULL CHECK (hardware_id ~ '\S'),
    ip_address        inet,
    user_agent        varchar(500) NOT NULL DEFAULT '',
    status            coditect.license_session_status NOT NULL DEFAULT 'active',
    started_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    ended_by          uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, license_id) REFERENCES coditect.licenses (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, ended_by) REFERENCES coditect.users (tenant_id, id) ON DELETE SET NULL (ended_by),
    CONSTRAINT license_sessions_ended_at CHECK ((status = 'ended') = (ended_at IS NOT NULL))
);
-- One active session per license and machine: no seat sharing.
CREATE UNIQUE INDEX license_sessions_one_active_per_hardware
    ON coditect.license_sessions (tenant_id, license_id, hardware_id) WHERE status = 'active';
CREATE INDEX license_sessions_active_heartbeat_idx
    ON coditect.license_sessions (tenant_id, license_id, last_heartbeat_at) WHERE status = 'active';
CREATE INDEX license_sessions_hardware_idx ON coditect.license_sessions (tenant_id, hardware_id);
COMMENT ON COLUMN coditect.license_sessions.ended_by IS
    'Who ended the session: its user, an administrator (license.manage), or NULL for maintenance.';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('license_session', NULL,     'active', NULL),
    ('license_session', 'active', 'zombie', NULL),
    ('license_session', 'zombie', 'active', NULL),
    ('license_session', 'active', 'ended',  'ended_at'),
    ('license_session', 'zombie', 'ended',  'ended_at');

-- Keeps licenses.seats_in_use equal to the license's active sessions. The row lock this takes
-- on the license serialises concurrent acquirers, and the CHECK on licenses refuses the seat
-- past seats_total. Runs as the owner: clients hold no privilege on seats_in_use.
CREATE FUNCTION coditect_internal.count_license_seats() RETURNS trigger
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

-- Administrators issue licenses (the key is generated) and change their terms.
SELECT coditect_internal.register_resource('coditect.licenses', 'license',
    p_roles => '{"view": "admin", "create": "admin", "update": "admin"}',
    p_create => '{tier,features,expiry_date,seats_total}',
    p_update => '{features,expiry_date,seats_total,is_active}',
    p_filters => '{"tier": ["exact", "in"], "is_active": ["exact"], "created_at": ["gte", "lt"],
                   "expiry_date": ["gte", "lt"]}',
    p_orderings => '{created_at,expiry_date}',
    p_redact => '{key_string}', p_audit_exclude => '{seats_in_use}');
SELECT coditect_internal.declare_permission('license.use', 'Acquire seats of licenses', 'member');
SELECT coditect_internal.declare_permission('license.manage', 'End other users'' license sessions', 'admin');
SELECT coditect_internal.register_tenant_table('coditect.license_sessions', 'license_session',
    p_exclude => '{last_heartbeat_at}');
SELECT coditect_internal.register_state_machine('coditect.license_sessions', 'license_session');
SELECT coditect_internal.claim_global_key('coditect.licenses', 'key_string', 'licenses_key_string_key');

-- A session belongs to the user who acquired it: nobody else heartbeats it (and receives its
-- signed token), revives, takes over or deletes it. Two changes are allowed on another user's
-- session: zombifying it once overdue (any acquire of the license does that), and an
-- administrator (license.manage) ending or deleting it. ended_by is this trigger's alone: who
-- ended the session (NULL for maintenance), cleared only by its foreign key when that user is
-- deleted. Without a request context (maintenance) nothing else is restricted.
CREATE FUNCTION coditect_internal.guard_license_session() RETURNS trigger
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
CREATE TRIGGER guard_license_session BEFORE INSERT OR UPDATE OR DELETE ON coditect.license_sessions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_license_session();
ALTER TABLE coditect.license_sessions ENABLE ALWAYS TRIGGER guard_license_session;
CREATE TRIGGER count_license_seats AFTER INSERT OR UPDATE OF status, license_id, tenant_id OR DELETE
    ON coditect.license_sessions FOR EACH ROW EXECUTE FUNCTION coditect_internal.count_license_seats();
ALTER TABLE coditect.license_sessions ENABLE ALWAYS TRIGGER count_license_seats;

-- seats_in_use is the trigger's alone.
REVOKE INSERT, UPDATE ON coditect.licenses FROM coditect_gateway, coditect_service;
-- license.issue events (11_audit_events).
CREATE TRIGGER audit_license_issue AFTER INSERT ON coditect.licenses
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_license_issue();
ALTER TABLE coditect.licenses ENABLE ALWAYS TRIGGER audit_license_issue;
GRANT INSERT (tenant_id, id, key_string, tier, features, expiry_date, seats_total, is_active, created_by),
      UPDATE (tier, features, expiry_date, seats_total, is_active)
    ON coditect.licenses TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Signing keys: public halves published for offline verification, several at once for rotation.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.license_signing_keys (
    key_id         varchar(64) PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9._-]+$'),
    algorithm      varchar(20) NOT NULL DEFAULT 'Ed25519' CHECK (algorithm = 'Ed25519'),
    public_key     text NOT NULL UNIQUE CHECK (public_key ~ '^[A-Za-z0-9_-]{43}$'),
    public_key_pem text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('coditect.license_signing_keys', '');
REVOKE ALL ON coditect.license_signing_keys FROM PUBLIC;
GRANT SELECT ON coditect.license_signing_keys TO coditect_gateway, coditect_service, coditect_analyst;

-- DBA: publishes the public half of the key named by coditect.license_signing_key_file under
-- coditect.license_signing_key_id. Publishing the same key again is harmless.
CREATE FUNCTION coditect.publish_license_signing_key() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
BEGIN
    SELECT * INTO k FROM coditect_internal.license_signing_public_key();
    INSERT INTO coditect.license_signing_keys (key_id, public_key, public_key_pem)
    VALUES (k.key_id, k.public_key, k.public_key_pem)
    ON CONFLICT (key_id) DO NOTHING;
    IF NOT EXISTS (SELECT 1 FROM coditect.license_signing_keys
                    WHERE key_id = k.key_id AND public_key = k.public_key) THEN
        RAISE EXCEPTION 'key id "%" is already published for another key', k.key_id USING ERRCODE = 'CD409';
    END IF;
    RETURN k.key_id;
END
$$;

-- DBA: stops accepting tokens signed with a key (after rotating to a new one).
CREATE FUNCTION coditect.retire_license_signing_key(p_key_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE coditect.license_signing_keys SET retired_at = now() WHERE key_id = p_key_id AND retired_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no published key "%"', p_key_id USING ERRCODE = 'CD404';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION coditect.publish_license_signing_key(), coditect.retire_license_signing_key(text) FROM PUBLIC;

CREATE FUNCTION coditect.license_public_keys()
RETURNS TABLE (key_id text, algorithm text, public_key text, public_key_pem text, created_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT key_id, algorithm, public_key, public_key_pem, created_at
      FROM coditect.license_signing_keys WHERE retired_at IS NULL ORDER BY created_at
$$;

-- {"valid", "verdict" (valid, malformed, unknown_key, bad_signature, expired), "claims"}.
CREATE FUNCTION coditect.license_verify(p_token text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kid text := coditect.license_token_key_id(p_token);
    pk text;
BEGIN
    IF kid IS NULL THEN
        RETURN jsonb_build_object('valid', false, 'verdict', 'malformed');
    END IF;
    SELECT public_key INTO pk FROM coditect.license_signing_keys WHERE key_id = kid AND retired_at IS NULL;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('valid', false, 'verdict', 'unknown_key', 'key_id', kid);
    END IF;
    RETURN coditect_internal.license_token_check(p_token, pk, now());
END
$$;

------------------------------------------------------------------------------------------------
-- Acquire, heartbeat, release, reap
------------------------------------------------------------------------------------------------

-- Turns this license's active sessions without a heartbeat for the TTL into zombies.
-- plpgsql, not sql: its plan is cached per session instead of re-planned on every call.
CREATE FUNCTION coditect_internal.zombify_overdue(p_tenant uuid, p_license uuid) RETURNS void
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
CREATE FUNCTION coditect_internal.license_session_answer(p_session_id uuid) RETURNS jsonb
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
CREATE FUNCTION coditect_internal.lock_usable_license(p_tenant uuid, p_license uuid, p_key text DEFAULT NULL)
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
    PERFORM coditect_internal.zombify_overdue(l.tenant_id, l.id);
    SELECT seats_in_use INTO l.seats_in_use FROM coditect.licenses WHERE tenant_id = l.tenant_id AND id = l.id;
    RETURN l;
END
$$;

CREATE FUNCTION coditect_internal.require_context() RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no request context: call coditect.set_request_context first' USING ERRCODE = 'CD403';
    END IF;
    RETURN coditect.current_tenant_id();
END
$$;

CREATE FUNCTION coditect.license_acquire(
    p_key_string  text,
    p_hardware_id text,
    p_client_ip   inet DEFAULT NULL,
    p_user_agent  text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.require_context();
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
    l := coditect_internal.lock_usable_license(tenant, NULL, key);

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
    RETURN coditect_internal.license_session_answer(s.id);
END
$$;

CREATE FUNCTION coditect.license_heartbeat(p_session_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.require_context();
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
                RETURN coditect_internal.license_session_answer(s.id);
            END IF;
        END IF;
    END IF;

    -- A lapsed session (or an unusable license): decide under the license lock.
    l := coditect_internal.lock_usable_license(tenant, s.license_id);
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
    RETURN coditect_internal.license_session_answer(s.id);
END
$$;

-- Ends the session and frees its seat; releasing an ended session again does nothing. A user
-- releases their own sessions; an administrator (license.manage) any session of the tenant.
CREATE FUNCTION coditect.license_release(p_session_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.require_context();
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

-- For a scheduler: zombifies overdue sessions of every tenant. Acquire and heartbeat do the same
-- for their license, so correctness never waits for this.
CREATE FUNCTION coditect.reap_zombie_sessions() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    UPDATE coditect.license_sessions SET status = 'zombie'
     WHERE status = 'active' AND last_heartbeat_at < now() - coditect.license_session_ttl();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION coditect.license_acquire(text, text, inet, text), coditect.license_heartbeat(uuid),
    coditect.license_release(uuid), coditect.reap_zombie_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.license_acquire(text, text, inet, text), coditect.license_heartbeat(uuid),
    coditect.license_release(uuid), coditect.reap_zombie_sessions() TO coditect_gateway, coditect_service;
REVOKE ALL ON FUNCTION coditect_internal.zombify_overdue(uuid, uuid), coditect_internal.license_session_answer(uuid),
    coditect_internal.lock_usable_license(uuid, uuid, text), coditect_internal.require_context() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.zombify_overdue(uuid, uuid), coditect_internal.license_session_answer(uuid),
    coditect_internal.lock_usable_license(uuid, uuid, text), coditect_internal.require_context()
    TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Seat endpoints: actions of the license resource
------------------------------------------------------------------------------------------------

-- The shapes of the answers, for the API description (the functions answer jsonb).
CREATE TYPE coditect.license_grant AS (
    session_id         uuid,
    license_id         uuid,
    status             coditect.license_session_status,
    hardware_id        varchar(255),
    tier               coditect.license_tier,
    features           coditect.json_array,
    seats_used         integer,
    seats_total        integer,
    heartbeat_deadline timestamptz,
    license_expires_at timestamptz,
    token              text
);
COMMENT ON TYPE coditect.license_grant IS 'A seat held by this machine, and its signed token.';
COMMENT ON COLUMN coditect.license_grant.heartbeat_deadline IS 'Heartbeat before this time or lose the seat.';
COMMENT ON COLUMN coditect.license_grant.token IS 'Signed license token (Ed25519), verifiable offline with the public keys.';
CREATE TYPE coditect.license_public_key AS (
    key_id         text,
    algorithm      text,
    public_key     text,
    public_key_pem text,
    created_at     timestamptz
);
COMMENT ON TYPE coditect.license_public_key IS 'A public key that verifies license tokens.';

SELECT coditect_internal.register_action('license', 'acquire', 'coditect.license_acquire(text, text, inet, text)',
    'POST', '/api/v1/licenses/acquire',
    '[{"from": "body_field", "name": "key_string", "required": true},
      {"from": "body_field", "name": "hardware_id", "required": true},
      {"from": "client_ip"}, {"from": "user_agent"}]',
    p_permission => 'license.use', p_response => '{"type": "license_grant"}',
    p_summary => 'Take a seat of a license for this machine');
SELECT coditect_internal.register_action('license', 'heartbeat', 'coditect.license_heartbeat(uuid)',
    'PUT', '/api/v1/licenses/heartbeat', '[{"from": "body_field", "name": "session_id", "required": true}]',
    p_permission => 'license.use', p_response => '{"type": "license_grant"}',
    p_summary => 'Keep a seat: a fresh deadline and token');
SELECT coditect_internal.register_action('license', 'release', 'coditect.license_release(uuid)',
    'DELETE', '/api/v1/licenses/release',
    '[{"from": "body_field", "name": "session_id", "required": true, "also_query": true}]',
    p_permission => 'license.use', p_summary => 'Free a seat (session_id in the body or the query)');
SELECT coditect_internal.register_action('license', 'public_keys', 'coditect.license_public_keys()',
    'GET', '/api/v1/licenses/public-keys/', p_auth => 'none',
    p_response => '{"type": "license_public_key", "array": true}',
    p_summary => 'Public keys that verify license tokens (public)');

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
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.licenses', '{tenant_id,created_by}', '{created_by}');
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
    FOREIGN KEY (tenant_id, ended_by) REFERENCES coditect.users (tenant_id, id),
    CONSTRAINT license_sessions_ended_at CHECK ((status = 'ended') = (ended_at IS NOT NULL))
);
SELECT coditect_internal.declare_null_on_delete('coditect.license_sessions', '{tenant_id,ended_by}', '{ended_by}');
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
-- past seats_total. Writes as the owner (C, src_ext/pg_license_seats.cpp): clients hold no
-- privilege on seats_in_use.
CREATE FUNCTION coditect_internal.count_license_seats() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_count_license_seats' LANGUAGE C;

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
-- C (src_ext/pg_license_seats.cpp), with the caller's rights.
CREATE FUNCTION coditect_internal.guard_license_session() RETURNS trigger
    AS 'MODULE_PATHNAME', 'coditect_guard_license_session' LANGUAGE C;
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
-- (On insert: protect_insert_columns, 00_base.)
GRANT INSERT, UPDATE (tier, features, expiry_date, seats_total, is_active)
    ON coditect.licenses TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.licenses', '{seats_in_use}');

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

-- The seat calls (C, src_ext/pg_license_seats.cpp; saved plans, one SPI connection per call
-- under a pinned search_path, the caller's rights, the request context's tenant). They need a
-- request context (CD403) and license.use (CD403).
-- acquire: a seat of the tenant's license (by key: CD400 malformed or mistyped, CD404 unknown)
-- for this machine (hardware id of 1 to 255 characters, CD400). Under the license's row lock:
-- inactive CD403, expired CD410; overdue sessions of the license become zombies; the machine's
-- own active session is extended and returned again (another user's: CD409); else a new
-- session if a seat is free (CD409 "no free seat"). When another call holds the lock, a read
-- without it refuses a full license first, so a crowd does not queue in front of its seat
-- holders. The answer: the session, the seats, the deadline and a signed token.
CREATE FUNCTION coditect.license_acquire(
    p_key_string  text,
    p_hardware_id text,
    p_client_ip   inet DEFAULT NULL,
    p_user_agent  text DEFAULT NULL
) RETURNS jsonb AS 'MODULE_PATHNAME', 'coditect_license_acquire' LANGUAGE C VOLATILE;

-- heartbeat: keeps the caller's own session (another user's is unknown, CD404; an ended one
-- CD410). A live session of a usable license is extended by one statement without the license
-- lock (the seat count does not change); a lapsed one is decided under the lock: revived when a
-- seat is free and the machine holds no newer session (else CD409). Answers as acquire.
CREATE FUNCTION coditect.license_heartbeat(p_session_id uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'coditect_license_heartbeat' LANGUAGE C VOLATILE;

-- release: ends the session and frees its seat; releasing an ended session again does nothing.
-- A user releases their own sessions; an administrator (license.manage) any session of the
-- tenant (else CD404). Same lock order as acquire (license, then session).
CREATE FUNCTION coditect.license_release(p_session_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_license_release' LANGUAGE C VOLATILE;

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

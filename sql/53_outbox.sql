-- 53_outbox: the transactional outbox of notifications and the tenants' webhook endpoints
-- (issue 11 item 7). The workflow engine (definer code) calls coditect_internal.outbox_emit()
-- in its own transaction: the deliveries it queues exist only if that transaction commits, and
-- NOTIFY coditect_outbox (sent at commit) wakes the worker. The worker (coditect-worker, a
-- login in coditect_worker) claims due deliveries with a lease, POSTs them signed with
-- HMAC-SHA256, and records each outcome: 2xx delivered, else retried with backoff until it is
-- dead. At least once: a crash after the POST and before the record sends it again, with the
-- same Idempotency-Key (the delivery's id).
--
-- Secrets never sit in a table a login can read: an endpoint's signing secret (32 random bytes,
-- the share tokens' CSPRNG) and a delivery's own URL secret live in coditect_internal tables
-- that only the owner's definer functions read; the secret is shown once, by rotate_secret.

-- The worker's group role (NOLOGIN, as the others): the DBA grants a login into it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coditect_worker') THEN
        CREATE ROLE coditect_worker NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA coditect TO coditect_worker;

CREATE TYPE coditect.webhook_delivery_status AS ENUM ('pending', 'delivered', 'dead');
COMMENT ON TYPE coditect.webhook_delivery_status IS
    'pending (waiting for its next attempt), delivered (a 2xx answer), dead (attempts exhausted, or its endpoint gone or inactive).';

-- The events the outbox carries (README "Outbox and webhooks"); an endpoint may also subscribe to '*'.
CREATE FUNCTION coditect_internal.outbox_events() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY['workflow.notification', 'approval.requested', 'approval.decided', 'workflow.completed', 'workflow.failed']
$$;

-- An endpoint's events: at least one, each known or '*', none twice.
CREATE FUNCTION coditect_internal.webhook_events_valid(p_events text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT cardinality(p_events) BETWEEN 1 AND 20
       AND p_events <@ (coditect_internal.outbox_events() || '*'::text)
       AND (SELECT count(DISTINCT e) FROM unnest(p_events) e) = cardinality(p_events)
$$;

-- Every signing secret of the product (endpoints here, workflows in 54_workflows): the string
-- "whsec_<64 hex>" (256 bits from OpenSSL's CSPRNG, src_ext/webhook_signature.cpp), whose bytes
-- are the HMAC key as given, the way Stripe's are: a receiver uses the string it was shown.
CREATE FUNCTION coditect_internal.webhook_secret_generate() RETURNS bytea
    AS 'MODULE_PATHNAME', 'coditect_webhook_secret_generate' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.webhook_secret_text() RETURNS bytea
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT convert_to('whsec_' || encode(coditect_internal.webhook_secret_generate(), 'hex'), 'UTF8')
$$;

-- Owner-rights functions the gateway calls in a query on the request's tenant row (the
-- webhook secret's rotation here, the Idempotency-Key's calls in 57_idempotency): on Citus that
-- query runs on the tenant's node through the caller's own connection, and the function reads
-- and writes the tenant's shard group there, local to it, between nested_begin and nested_end
-- (06_catalog). (Citus refuses a shard group written over two logins' connections in one
-- transaction: the owner's, then the caller's.)

------------------------------------------------------------------------------------------------
-- Webhook endpoints
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.webhook_endpoints (
    tenant_id         uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    name              varchar(100) NOT NULL
                      CONSTRAINT webhook_endpoints_name_check
                      CHECK (name <> '' AND btrim(name) = name AND name !~ '[[:cntrl:]]'),
    url               coditect.url NOT NULL,
    description       text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    events            text[] NOT NULL DEFAULT '{*}'
                      CONSTRAINT webhook_endpoints_events_check CHECK (coditect_internal.webhook_events_valid(events)),
    active            boolean NOT NULL DEFAULT true,
    secret_rotated_at timestamptz NOT NULL DEFAULT now(),
    created_by        uuid DEFAULT coditect.current_user_id(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_endpoints_name_key UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.webhook_endpoints', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.webhook_endpoints IS
    'Where the tenant''s notifications are POSTed, signed with the endpoint''s secret (Coditect-Signature).';
COMMENT ON COLUMN coditect.webhook_endpoints.name IS
    'Unique in the tenant; a workflow notification node''s channel names it (no surrounding spaces, no control characters).';
COMMENT ON COLUMN coditect.webhook_endpoints.url IS 'http:// or https:// (the certificate is verified).';
COMMENT ON COLUMN coditect.webhook_endpoints.events IS
    'The events it receives: workflow.notification, approval.requested, approval.decided, workflow.completed, workflow.failed, or * for all.';
COMMENT ON COLUMN coditect.webhook_endpoints.active IS 'An inactive endpoint gets no new deliveries; its pending ones die.';
COMMENT ON COLUMN coditect.webhook_endpoints.secret_rotated_at IS
    'When its signing secret was last made (POST .../rotate-secret/ makes a new one and shows it once).';
CREATE INDEX webhook_endpoints_tenant_created_idx ON coditect.webhook_endpoints (tenant_id, created_at DESC, id DESC);

SELECT coditect_internal.register_resource('coditect.webhook_endpoints', 'webhook_endpoint',
    p_roles => '{"view": "admin", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{name,url,description,events,active}', p_update => '{name,url,description,events,active}',
    p_filters => '{"name": ["exact"], "active": ["exact"], "events": ["contains"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name}', p_search => '{name,description}',
    p_example => '{"name": "ops", "url": "https://hooks.example.com/coditect", "events": ["approval.requested", "workflow.failed"]}');

-- The signing secrets: no login reads this table (row-level security on, no policy, no grant).
CREATE TABLE coditect_internal.webhook_endpoint_secrets (
    tenant_id   uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    secret      bytea NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 1024),
    PRIMARY KEY (tenant_id, endpoint_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES coditect.webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE coditect_internal.webhook_endpoint_secrets ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON coditect_internal.webhook_endpoint_secrets FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.webhook_endpoint_secrets', '');

-- AFTER INSERT: every endpoint has a secret from its first moment, whoever inserted it.
CREATE FUNCTION coditect_internal.webhook_endpoint_secret_init() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect_internal.webhook_endpoint_secrets (tenant_id, endpoint_id, secret)
    VALUES (NEW.tenant_id, NEW.id, coditect_internal.webhook_secret_text());
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_endpoint_secret AFTER INSERT ON coditect.webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.webhook_endpoint_secret_init();
ALTER TABLE coditect.webhook_endpoints ENABLE ALWAYS TRIGGER webhook_endpoint_secret;

-- The rotation stamp is the database's: only the owner's rotate_secret moves it (a login's own
-- UPDATE keeps it), so the audit trail's record of rotations is true.
CREATE FUNCTION coditect_internal.webhook_endpoint_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.secret_rotated_at := now();
    ELSIF NEW.secret_rotated_at IS DISTINCT FROM OLD.secret_rotated_at
          AND current_user <> (SELECT r.rolname FROM pg_extension x JOIN pg_roles r ON r.oid = x.extowner
                                WHERE x.extname = 'coditect') THEN
        NEW.secret_rotated_at := OLD.secret_rotated_at;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER webhook_endpoint_rules BEFORE INSERT OR UPDATE ON coditect.webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.webhook_endpoint_rules();
ALTER TABLE coditect.webhook_endpoints ENABLE ALWAYS TRIGGER webhook_endpoint_rules;

CREATE TYPE coditect.webhook_endpoint_secret AS (
    secret   text,
    endpoint coditect.webhook_endpoints
);
COMMENT ON TYPE coditect.webhook_endpoint_secret IS
    'A new signing secret (64 hex digits: the HMAC key is the 32 bytes they encode), shown this once, and its endpoint.';

-- POST /api/v1/webhook-endpoints/{id}/rotate-secret/ (admins): a new secret, answered once; the
-- old one stops at once (deliveries not yet sent are signed with the new one). The endpoint's
-- secret_rotated_at records it in the audit trail (never the secret).
CREATE FUNCTION coditect_internal.webhook_endpoint_json(e coditect.webhook_endpoints) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(e)
$$;

CREATE FUNCTION coditect_internal.webhook_endpoint_rotate_secret_as(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    s        bytea := coditect_internal.webhook_secret_text();
    v_now    timestamptz := clock_timestamp();  -- a value: Citus refuses clock_timestamp() in an UPDATE
    nested   text := coditect_internal.nested_begin();
    e        coditect.webhook_endpoints;
BEGIN
    PERFORM coditect.require_permission('webhook_endpoint.rotate_secret');
    UPDATE coditect.webhook_endpoints x SET secret_rotated_at = v_now
     WHERE x.tenant_id = v_tenant AND x.id = p_id
    RETURNING * INTO e;
    IF e.id IS NULL THEN
        RAISE EXCEPTION 'webhook endpoint % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    UPDATE coditect_internal.webhook_endpoint_secrets x SET secret = s
     WHERE x.tenant_id = v_tenant AND x.endpoint_id = e.id;
    PERFORM coditect_internal.nested_end(nested);
    RETURN jsonb_build_object('secret', convert_from(s, 'UTF8'), 'endpoint', coditect_internal.webhook_endpoint_json(e));
END
$$;
-- The gateway's call: the function above in a query on the tenant's row (nested_begin).
CREATE FUNCTION coditect.webhook_endpoint_rotate_secret(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    r        jsonb;
BEGIN
    SELECT coditect_internal.webhook_endpoint_rotate_secret_as(p_id) INTO r FROM coditect.tenants t WHERE t.id = v_tenant;
    IF NOT FOUND THEN
        r := coditect_internal.webhook_endpoint_rotate_secret_as(p_id);
    END IF;
    RETURN r;
END
$$;
REVOKE ALL ON FUNCTION coditect.webhook_endpoint_rotate_secret(uuid), coditect_internal.webhook_endpoint_rotate_secret_as(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.webhook_endpoint_rotate_secret(uuid), coditect_internal.webhook_endpoint_rotate_secret_as(uuid)
    TO coditect_gateway, coditect_service;
SELECT coditect_internal.register_action('webhook_endpoint', 'rotate_secret', 'coditect.webhook_endpoint_rotate_secret(uuid)',
    'POST', '/api/v1/webhook-endpoints/{id}/rotate-secret/', '[{"from": "path", "name": "id"}]',
    p_min_role => 'admin', p_response => '{"type": "webhook_endpoint_secret"}', p_secret => true,
    p_summary => 'A new signing secret for the endpoint (admins), shown in this answer only; the old one stops working');

------------------------------------------------------------------------------------------------
-- The outbox: one row per delivery to one URL
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.webhook_deliveries (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    -- Also the Idempotency-Key: the same on every attempt.
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    endpoint_id      uuid,
    event            text NOT NULL CONSTRAINT webhook_deliveries_event_check
                     CHECK (event = ANY (coditect_internal.outbox_events())),
    payload          jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    url              coditect.url NOT NULL,
    status           coditect.webhook_delivery_status NOT NULL DEFAULT 'pending',
    attempts         int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code int CHECK (last_status_code BETWEEN 100 AND 599),
    last_error       text CHECK (char_length(last_error) <= 1000),
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES coditect.webhook_endpoints (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.webhook_deliveries', '{tenant_id,endpoint_id}', '{endpoint_id}');
COMMENT ON TABLE coditect.webhook_deliveries IS
    'The outbox: each notification for one URL, its attempts and outcome (read-only; written by the engine and the worker).';
COMMENT ON COLUMN coditect.webhook_deliveries.id IS 'Sent as Idempotency-Key, the same on every attempt.';
COMMENT ON COLUMN coditect.webhook_deliveries.endpoint_id IS
    'The endpoint it goes to; none for a workflow''s own webhook URL (or once the endpoint was deleted).';
COMMENT ON COLUMN coditect.webhook_deliveries.payload IS 'The event''s data (the body''s "data").';
COMMENT ON COLUMN coditect.webhook_deliveries.url IS 'Where it was (or will be) POSTed.';
COMMENT ON COLUMN coditect.webhook_deliveries.attempts IS 'Attempts made (answered or failed).';
COMMENT ON COLUMN coditect.webhook_deliveries.next_attempt_at IS 'When a worker may next try it (a claim leases it until then).';
COMMENT ON COLUMN coditect.webhook_deliveries.last_status_code IS 'The HTTP status of the last answer; none when there was none.';
COMMENT ON COLUMN coditect.webhook_deliveries.last_error IS 'Why the last attempt failed (connection, timeout, status).';
CREATE INDEX webhook_deliveries_tenant_created_idx ON coditect.webhook_deliveries (tenant_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_endpoint_idx ON coditect.webhook_deliveries (tenant_id, endpoint_id, created_at DESC);
-- The worker's claim reads the pending rows only.
CREATE INDEX webhook_deliveries_due_idx ON coditect.webhook_deliveries (tenant_id, next_attempt_at) WHERE status = 'pending';
-- The purge's.
CREATE INDEX webhook_deliveries_finished_idx ON coditect.webhook_deliveries (tenant_id, updated_at) WHERE status <> 'pending';

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('webhook_delivery', NULL,      'pending',   NULL),
    ('webhook_delivery', 'pending', 'delivered', 'delivered_at'),
    ('webhook_delivery', 'pending', 'dead',      NULL);

SELECT coditect_internal.register_resource('coditect.webhook_deliveries', 'webhook_delivery',
    p_plural => 'webhook_deliveries', p_roles => '{"view": "admin"}', p_writable => false,
    p_state_machine => 'webhook_delivery',
    -- An attempt's bookkeeping is not a change worth an audit row; the outcome (status) is.
    p_audit_exclude => '{attempts,next_attempt_at,last_status_code,last_error,url}',
    p_filters => '{"status": ["exact", "in"], "event": ["exact", "in"], "endpoint_id": ["exact"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,next_attempt_at}', p_keyset => true, p_page_size => 50,
    p_also_under => '{"webhook_endpoint": "endpoint_id"}');

-- A workflow's own webhook URL: its secret, with the delivery (no login reads it).
CREATE TABLE coditect_internal.webhook_delivery_secrets (
    tenant_id   uuid NOT NULL,
    delivery_id uuid NOT NULL,
    secret      bytea NOT NULL CHECK (octet_length(secret) BETWEEN 16 AND 1024),
    PRIMARY KEY (tenant_id, delivery_id),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES coditect.webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE coditect_internal.webhook_delivery_secrets ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON coditect_internal.webhook_delivery_secrets FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.webhook_delivery_secrets', '');

-- Queues an event for delivery, in the caller's transaction; returns how many deliveries.
--   p_url given: one delivery to it, signed with p_url_secret (a workflow's own webhook).
--   else: one per active endpoint of the tenant subscribed to p_event (or '*'), and with
--   p_channel only the endpoint of that name. None is no error.
-- NOTIFY coditect_outbox (delivered at commit, never after a rollback) wakes the worker; its
-- payload is empty so that no other login listening learns a tenant's id. On a Citus worker node
-- coditect_internal.notify sends nothing: the worker's poll (CODITECT_WORKER_POLL_MS) delivers.
-- Owner-context only: the engine's definer functions call it (no login may).
CREATE FUNCTION coditect_internal.outbox_emit(p_tenant uuid, p_event text, p_payload jsonb,
                                              p_channel text DEFAULT NULL, p_url text DEFAULT NULL,
                                              p_url_secret bytea DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int;
    d uuid;
BEGIN
    IF p_tenant IS NULL OR NOT EXISTS (SELECT 1 FROM coditect.tenants t WHERE t.id = p_tenant) THEN
        RAISE EXCEPTION 'outbox: tenant % not found', p_tenant USING ERRCODE = 'CD404';
    ELSIF p_event IS NULL OR p_event <> ALL (coditect_internal.outbox_events()) THEN
        RAISE EXCEPTION 'outbox: unknown event "%"', p_event USING ERRCODE = 'CD400',
            HINT = 'one of ' || array_to_string(coditect_internal.outbox_events(), ', ');
    ELSIF p_payload IS NULL OR jsonb_typeof(p_payload) <> 'object' THEN
        RAISE EXCEPTION 'outbox: the payload must be a JSON object' USING ERRCODE = 'CD400';
    ELSIF octet_length(p_payload::text) > 262144 THEN
        RAISE EXCEPTION 'outbox: the payload is over 256 KiB' USING ERRCODE = 'CD400';
    END IF;
    IF p_url IS NOT NULL THEN
        IF p_url !~ '^https?://[^\s/$.?#][^\s]*$' OR char_length(p_url) > 2000 THEN
            RAISE EXCEPTION 'outbox: "%" is not an http(s) URL', left(p_url, 100) USING ERRCODE = 'CD400';
        ELSIF octet_length(p_url_secret) IS NULL OR octet_length(p_url_secret) NOT BETWEEN 16 AND 1024 THEN
            RAISE EXCEPTION 'outbox: a webhook URL needs its signing secret (16 to 1024 bytes)' USING ERRCODE = 'CD400';
        END IF;
        INSERT INTO coditect.webhook_deliveries (tenant_id, event, payload, url)
        VALUES (p_tenant, p_event, p_payload, p_url)
        RETURNING id INTO d;
        INSERT INTO coditect_internal.webhook_delivery_secrets (tenant_id, delivery_id, secret)
        VALUES (p_tenant, d, p_url_secret);
        n := 1;
    ELSE
        INSERT INTO coditect.webhook_deliveries (tenant_id, endpoint_id, event, payload, url)
        SELECT e.tenant_id, e.id, p_event, p_payload, e.url
          FROM coditect.webhook_endpoints e
         WHERE e.tenant_id = p_tenant AND e.active
           AND (p_event = ANY (e.events) OR '*' = ANY (e.events))
           AND (p_channel IS NULL OR e.name = p_channel)
         ORDER BY e.id;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    IF n > 0 THEN
        PERFORM coditect_internal.notify('coditect_outbox', '');
    END IF;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.outbox_emit(uuid, text, jsonb, text, text, bytea) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- The worker's functions (coditect_worker only)
------------------------------------------------------------------------------------------------

-- Claims up to p_limit due deliveries (every tenant) for p_lease_seconds: their next attempt
-- moves to the lease's end, so a worker that dies holding them gives them back then. SKIP
-- LOCKED: workers side by side claim different rows. Each row comes with what the POST needs,
-- the secret included. A delivery whose endpoint was deleted or switched off dies here.
-- On Citus (the outbox distributed) a row lock over every shard is refused: the due rows are
-- read without it (over the shards, oldest first, a page of p_limit at a time), and each is then
-- locked by its tenant and id (a router query on its node) with SKIP LOCKED, due and pending
-- checked again under the lock; a page whose rows other workers took is followed by the next.
-- On one node the one query with its row locks, as before.
CREATE FUNCTION coditect.outbox_claim(p_limit int DEFAULT 10, p_lease_seconds int DEFAULT 60)
RETURNS TABLE (id uuid, tenant_id uuid, event text, url text, payload jsonb, created_at text,
               attempts int, secret bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r         record;
    c         record;
    due       refcursor;
    v_url     text;
    v_secret  bytea;
    why       text;
    sharded   boolean := false;
    seen      int;
    t_ids     uuid[] := '{}';
    d_ids     uuid[] := '{}';
    after_at  timestamptz;
    after_id  uuid;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'p_limit must be 1 to 1000' USING ERRCODE = 'CD400';
    ELSIF p_lease_seconds IS NULL OR p_lease_seconds NOT BETWEEN 1 AND 3600 THEN
        RAISE EXCEPTION 'p_lease_seconds must be 1 to 3600' USING ERRCODE = 'CD400';
    END IF;
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
            INTO sharded USING 'coditect.webhook_deliveries'::regclass;
    END IF;
    IF NOT sharded THEN
        OPEN due FOR SELECT d.tenant_id, d.id, d.endpoint_id, d.event, d.url, d.payload, d.created_at, d.attempts
                       FROM coditect.webhook_deliveries d
                      WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                      ORDER BY d.next_attempt_at, d.id
                      LIMIT p_limit
                        FOR UPDATE OF d SKIP LOCKED;
    ELSE
        LOOP
            seen := 0;
            FOR c IN SELECT d.tenant_id, d.id, d.next_attempt_at FROM coditect.webhook_deliveries d
                      WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                        AND (after_at IS NULL OR (d.next_attempt_at, d.id) > (after_at, after_id))
                      ORDER BY d.next_attempt_at, d.id
                      LIMIT p_limit LOOP
                seen := seen + 1;
                after_at := c.next_attempt_at;
                after_id := c.id;
                PERFORM 1 FROM coditect.webhook_deliveries d
                  WHERE d.tenant_id = c.tenant_id AND d.id = c.id
                    AND d.status = 'pending' AND d.next_attempt_at <= now()
                    FOR UPDATE SKIP LOCKED;
                IF FOUND THEN
                    t_ids := t_ids || c.tenant_id;
                    d_ids := d_ids || c.id;
                    EXIT WHEN cardinality(d_ids) >= p_limit;
                END IF;
            END LOOP;
            EXIT WHEN cardinality(d_ids) >= p_limit OR seen < p_limit;
        END LOOP;
        -- The rows locked above (read over their shards; locked already).
        OPEN due FOR SELECT d.tenant_id, d.id, d.endpoint_id, d.event, d.url, d.payload, d.created_at, d.attempts
                       FROM coditect.webhook_deliveries d
                      WHERE d.tenant_id = ANY (t_ids) AND d.id = ANY (d_ids)
                        AND t_ids[array_position(d_ids, d.id)] = d.tenant_id
                      ORDER BY d.next_attempt_at, d.id;
    END IF;
    LOOP
        FETCH due INTO r;
        EXIT WHEN NOT FOUND;
        why := NULL;
        SELECT e.url, s.secret INTO v_url, v_secret
          FROM coditect.webhook_endpoints e
          JOIN coditect_internal.webhook_endpoint_secrets s ON s.tenant_id = e.tenant_id AND s.endpoint_id = e.id
         WHERE e.tenant_id = r.tenant_id AND e.id = r.endpoint_id AND e.active;
        IF NOT FOUND THEN
            v_url := r.url;
            SELECT s.secret INTO v_secret FROM coditect_internal.webhook_delivery_secrets s
             WHERE s.tenant_id = r.tenant_id AND s.delivery_id = r.id;
            why := CASE WHEN r.endpoint_id IS NOT NULL THEN 'the endpoint is inactive'
                        WHEN v_secret IS NULL THEN 'the endpoint was deleted' END;
        END IF;
        IF why IS NOT NULL THEN
            UPDATE coditect.webhook_deliveries x SET status = 'dead', last_error = why
             WHERE x.tenant_id = r.tenant_id AND x.id = r.id;
            CONTINUE;
        END IF;
        -- An endpoint's URL may have changed since the event: the delivery goes to the current one.
        UPDATE coditect.webhook_deliveries x
           SET next_attempt_at = now() + make_interval(secs => p_lease_seconds), url = v_url
         WHERE x.tenant_id = r.tenant_id AND x.id = r.id;
        id := r.id;
        tenant_id := r.tenant_id;
        event := r.event;
        url := v_url;
        payload := r.payload;
        created_at := to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        attempts := r.attempts;
        secret := v_secret;
        RETURN NEXT;
    END LOOP;
    CLOSE due;
END
$$;

-- Records one attempt's outcome: a 2xx status is delivered; anything else (another status, or
-- none: p_status_code NULL with p_error) counts an attempt and, before p_max_attempts, retries
-- after p_retry_in (the worker's backoff with jitter, at most a day), else the delivery is dead.
-- Returns the delivery's status after it. A delivery no longer pending (a duplicate outcome,
-- from a worker whose lease ran out) is left alone.
CREATE FUNCTION coditect.outbox_record(p_tenant uuid, p_id uuid, p_status_code int, p_error text,
                                       p_retry_in interval, p_max_attempts int)
RETURNS coditect.webhook_delivery_status
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d  coditect.webhook_deliveries;
    ok boolean := p_status_code BETWEEN 200 AND 299;
BEGIN
    IF p_status_code IS NOT NULL AND p_status_code NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'p_status_code must be an HTTP status (100 to 599)' USING ERRCODE = 'CD400';
    ELSIF p_max_attempts IS NULL OR p_max_attempts NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'p_max_attempts must be 1 to 100' USING ERRCODE = 'CD400';
    ELSIF p_retry_in IS NULL OR p_retry_in < interval '0' THEN
        RAISE EXCEPTION 'p_retry_in must be a non-negative interval' USING ERRCODE = 'CD400';
    ELSIF p_status_code IS NULL AND p_error IS NULL THEN
        RAISE EXCEPTION 'an attempt without an HTTP status needs its error' USING ERRCODE = 'CD400';
    END IF;
    SELECT x.* INTO d FROM coditect.webhook_deliveries x WHERE x.tenant_id = p_tenant AND x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'delivery % not found', p_id USING ERRCODE = 'CD404';
    ELSIF d.status <> 'pending' THEN
        RETURN d.status;
    END IF;
    IF ok THEN
        UPDATE coditect.webhook_deliveries x
           SET status = 'delivered', attempts = x.attempts + 1, last_status_code = p_status_code, last_error = NULL
         WHERE x.tenant_id = p_tenant AND x.id = p_id
        RETURNING * INTO d;
    ELSIF d.attempts + 1 >= p_max_attempts THEN
        UPDATE coditect.webhook_deliveries x
           SET status = 'dead', attempts = x.attempts + 1, last_status_code = p_status_code,
               last_error = left(coalesce(p_error, 'HTTP ' || p_status_code), 1000)
         WHERE x.tenant_id = p_tenant AND x.id = p_id
        RETURNING * INTO d;
    ELSE
        UPDATE coditect.webhook_deliveries x
           SET attempts = x.attempts + 1, last_status_code = p_status_code,
               last_error = left(coalesce(p_error, 'HTTP ' || p_status_code), 1000),
               next_attempt_at = now() + least(p_retry_in, interval '1 day')
         WHERE x.tenant_id = p_tenant AND x.id = p_id
        RETURNING * INTO d;
    END IF;
    RETURN d.status;
END
$$;
REVOKE ALL ON FUNCTION coditect.outbox_claim(int, int),
    coditect.outbox_record(uuid, uuid, int, text, interval, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.outbox_claim(int, int),
    coditect.outbox_record(uuid, uuid, int, text, interval, int) TO coditect_worker;

-- Maintenance (DBA and its pg_cron job): deletes delivered and dead deliveries whose outcome is
-- at least p_older_than old (retention: 30 days), in every tenant; pending ones stay.
CREATE FUNCTION coditect.purge_webhook_deliveries(p_older_than interval DEFAULT '30 days') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF p_older_than IS NULL OR p_older_than OPERATOR(pg_catalog.<) interval '0' THEN
        RAISE EXCEPTION 'p_older_than must be a non-negative interval, got %', coalesce(p_older_than::text, 'NULL')
            USING ERRCODE = 'CD400';
    END IF;
    DELETE FROM coditect.webhook_deliveries d
     WHERE d.status OPERATOR(pg_catalog.<>) 'pending'
       AND d.updated_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) p_older_than);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_webhook_deliveries(interval) FROM PUBLIC;

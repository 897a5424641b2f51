-- 57_idempotency: the Idempotency-Key header of authenticated POSTs through the gateway (README,
-- Idempotency keys). A key belongs to the request context's tenant and user: a member never gets
-- another user's answer replayed. The gateway, in the request's own transaction:
--   idempotency_claim(key, sha256) -> the POST's function -> idempotency_finish(key, answer)
-- so a key exists exactly when the effect it guards committed, with its answer. A concurrent
-- request with the same key waits on the claim's unique index until the first transaction ends:
-- committed, the claim refuses (CD409, constraint idempotency_key_taken) and the gateway reads
-- the stored answer (idempotency_lookup) to replay it; rolled back (the POST failed), the second
-- request runs as if it were the first. Refused requests therefore leave no key: nothing took
-- effect, and a corrected retry may reuse the key. Keys older than 24 hours are absent to reads
-- and to claims, and purged hourly (purge_idempotency_keys, 85_maintenance).
--
-- A tenant holds at most its quota of live keys (idempotency_quota): a claim beyond it is
-- refused (CD429) before the POST runs. An answer that holds a secret shown once (an operation
-- the catalog marks secret: a rotated signing secret, a share's token) is not kept: its key
-- still stands for the effect, and a repeat is refused (CD409) instead of replayed.

CREATE TABLE coditect_internal.idempotency_keys (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL,
    idem_key       text NOT NULL CHECK (octet_length(idem_key) BETWEEN 1 AND 255 AND idem_key ~ '^[ -~]+$'),
    request_sha256 bytea NOT NULL CHECK (octet_length(request_sha256) = 32),
    -- The first answer; NULL only inside the claiming transaction, before finish.
    status         integer CHECK (status BETWEEN 100 AND 599),
    content_type   text,
    headers        jsonb CHECK (jsonb_typeof(headers) = 'array'),
    body           text,
    -- The answer held a secret: status only, nothing of the answer kept.
    secret         boolean NOT NULL DEFAULT false CHECK (NOT secret OR (content_type IS NULL AND headers IS NULL AND body IS NULL)),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, idem_key)
);
COMMENT ON TABLE coditect_internal.idempotency_keys IS
    'Idempotency-Key of committed POSTs per tenant and user: the request''s SHA-256 and its first answer; 24 hours.';
REVOKE ALL ON coditect_internal.idempotency_keys FROM PUBLIC;
CREATE INDEX idempotency_keys_created_idx ON coditect_internal.idempotency_keys (created_at);
-- A tenant's live keys, counted by each claim.
CREATE INDEX idempotency_keys_tenant_created_idx ON coditect_internal.idempotency_keys (tenant_id, created_at);

-- A tenant's quota of live keys other than the default (the DBA's: owner-only, kept by pg_dump).
CREATE TABLE coditect_internal.idempotency_quotas (
    tenant_id     uuid PRIMARY KEY REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    max_live_keys integer NOT NULL CHECK (max_live_keys > 0)
);
COMMENT ON TABLE coditect_internal.idempotency_quotas IS
    'Per tenant, how many live Idempotency-Keys it may hold when not the default of idempotency_quota().';
REVOKE ALL ON coditect_internal.idempotency_quotas FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('coditect_internal.idempotency_quotas', '');

-- The live keys a tenant may hold: its row in idempotency_quotas, else 10000.
-- PL/pgSQL: Citus cannot plan a SQL function's statement on a distributed table.
CREATE FUNCTION coditect_internal.idempotency_quota(p_tenant uuid) RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coalesce((SELECT q.max_live_keys FROM coditect_internal.idempotency_quotas q WHERE q.tenant_id = p_tenant), 10000);
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.idempotency_quota(uuid) FROM PUBLIC;

CREATE FUNCTION coditect_internal.idempotency_scope(p_key text, p_request_sha256 text,
                                                    OUT tenant uuid, OUT usr uuid, OUT sha bytea)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    tenant := coditect.current_tenant_id();
    usr := coditect.current_user_id();
    IF tenant IS NULL OR usr IS NULL THEN
        RAISE EXCEPTION 'an Idempotency-Key is used in a request context' USING ERRCODE = 'CD403';
    END IF;
    IF p_key IS NULL OR octet_length(p_key) NOT BETWEEN 1 AND 255 OR p_key !~ '^[ -~]+$' THEN
        RAISE EXCEPTION 'the Idempotency-Key header must be 1 to 255 printable ASCII characters' USING ERRCODE = 'CD400';
    END IF;
    IF p_request_sha256 IS NULL OR p_request_sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'the request''s SHA-256 is 64 lower-case hex digits' USING ERRCODE = 'CD400';
    END IF;
    -- The role the request acts as is part of the request: the same user with a lesser token
    -- (or since demoted) is not replayed an answer made for the greater role (409 instead).
    sha := pg_catalog.sha256(pg_catalog.decode(p_request_sha256, 'hex')
                             OPERATOR(pg_catalog.||) pg_catalog.convert_to(coalesce(coditect.current_user_role(), ''), 'UTF8'));
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.idempotency_scope(text, text) FROM PUBLIC;

-- The gateway, before running a POST with an Idempotency-Key: the stored first answer
-- ({status, content_type, headers, body}) of this key, NULL when there is none (or it is older
-- than 24 hours); CD409 when the key was used for a different request, or when the first
-- answer held a secret (not kept).
CREATE FUNCTION coditect_internal.idempotency_lookup_as(p_key text, p_request_sha256 text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect_internal.idempotency_keys;
    k record := coditect_internal.idempotency_scope(p_key, p_request_sha256);
    nested text := coditect_internal.nested_begin();
BEGIN
    SELECT * INTO s FROM coditect_internal.idempotency_keys x
     WHERE x.tenant_id OPERATOR(pg_catalog.=) k.tenant AND x.user_id OPERATOR(pg_catalog.=) k.usr
       AND x.idem_key OPERATOR(pg_catalog.=) p_key
       AND x.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours')
       AND x.status IS NOT NULL;
    PERFORM coditect_internal.nested_end(nested);
    IF s.idem_key IS NULL THEN
        RETURN NULL;
    END IF;
    IF s.request_sha256 OPERATOR(pg_catalog.<>) k.sha THEN
        RAISE EXCEPTION 'this Idempotency-Key was used for a different request (method, path or body)'
            USING ERRCODE = 'CD409', HINT = 'Use a new key for a new request.';
    END IF;
    IF s.secret THEN
        RAISE EXCEPTION 'the request with this Idempotency-Key took effect, but its answer (status %) held a secret, which is not kept: it cannot be answered again', s.status
            USING ERRCODE = 'CD409', HINT = 'Read the resource, or repeat the action with a new key to get a new secret.';
    END IF;
    RETURN pg_catalog.jsonb_build_object('status', s.status, 'content_type', s.content_type,
                                         'headers', s.headers, 'body', s.body);
END
$$;

-- The gateway, in the POST's transaction before its function: takes the key. Waits for a
-- concurrent transaction holding the same key; when that one committed, false (the caller,
-- idempotency_claim, raises CD409 with the constraint idempotency_key_taken; the gateway then
-- replays its answer). CD429 when the tenant holds its quota of live keys (concurrent claims
-- may pass it by the number in flight).
CREATE FUNCTION coditect_internal.idempotency_claim_as(p_key text, p_request_sha256 text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k      record := coditect_internal.idempotency_scope(p_key, p_request_sha256);
    nested text := coditect_internal.nested_begin();
    quota  integer := coditect_internal.idempotency_quota(k.tenant);
    live   bigint;
    oldest timestamptz;
    taken  boolean;
BEGIN
    -- An expired key is absent: its slot is taken over.
    DELETE FROM coditect_internal.idempotency_keys x
     WHERE x.tenant_id OPERATOR(pg_catalog.=) k.tenant AND x.user_id OPERATOR(pg_catalog.=) k.usr
       AND x.idem_key OPERATOR(pg_catalog.=) p_key
       AND x.created_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours');
    SELECT pg_catalog.count(*), pg_catalog.min(x.created_at) INTO live, oldest
      FROM (SELECT y.created_at FROM coditect_internal.idempotency_keys y
             WHERE y.tenant_id OPERATOR(pg_catalog.=) k.tenant
               AND y.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours')
             ORDER BY y.created_at LIMIT quota) x;
    IF live OPERATOR(pg_catalog.>=) quota THEN
        RAISE EXCEPTION 'this tenant holds % live Idempotency-Keys, its quota: the request was not run', quota
            USING ERRCODE = 'CD429',
                  HINT = pg_catalog.format('Retry after %s (a key lives 24 hours), or send the request without an Idempotency-Key.',
                                           pg_catalog.to_char((oldest OPERATOR(pg_catalog.+) interval '24 hours') AT TIME ZONE 'UTC',
                                                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    END IF;
    INSERT INTO coditect_internal.idempotency_keys (tenant_id, user_id, idem_key, request_sha256)
    VALUES (k.tenant, k.usr, p_key, k.sha)
    ON CONFLICT DO NOTHING;
    taken := NOT FOUND;
    PERFORM coditect_internal.nested_end(nested);
    RETURN NOT taken;
END
$$;

-- The gateway, in the same transaction after the POST's function: the answer to replay. With
-- p_secret (the operation's answer holds a secret) only its status is kept.
CREATE FUNCTION coditect_internal.idempotency_finish_as(p_key text, p_status integer, p_content_type text,
                                                     p_headers jsonb, p_body text, p_secret boolean) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    nested   text := coditect_internal.nested_begin();
BEGIN
    UPDATE coditect_internal.idempotency_keys x
       SET status = p_status, secret = coalesce(p_secret, false),
           content_type = CASE WHEN p_secret THEN NULL ELSE p_content_type END,
           headers = CASE WHEN p_secret THEN NULL ELSE coalesce(p_headers, '[]'::jsonb) END,
           body = CASE WHEN p_secret THEN NULL ELSE coalesce(p_body, '') END
     WHERE x.tenant_id OPERATOR(pg_catalog.=) v_tenant
       AND x.user_id OPERATOR(pg_catalog.=) coditect.current_user_id()
       AND x.idem_key OPERATOR(pg_catalog.=) p_key AND x.status IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no claim of this Idempotency-Key in this transaction' USING ERRCODE = 'CD409';
    END IF;
    PERFORM coditect_internal.nested_end(nested);
    RETURN true;
END
$$;

-- Maintenance (its pg_cron job): forgets the keys older than 24 hours. Returns how many.
CREATE FUNCTION coditect.purge_idempotency_keys() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM coditect_internal.idempotency_keys x
     WHERE x.created_at OPERATOR(pg_catalog.<=) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The gateway's calls: each runs its owner-rights function above in a query on the request's
-- tenant row, so that on Citus it runs on the tenant's node through the caller's own connection
-- (reading and writing the key's shard there, local to it). Citus refuses a shard group written
-- over two logins' connections in one transaction: the owner's claim, then the caller's POST.
-- On one node the same call, one primary-key read more. Without a context (or a tenant row in
-- sight) the owner function is called as is, to refuse it (CD403).
CREATE FUNCTION coditect.idempotency_lookup(p_key text, p_request_sha256 text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    r jsonb;
BEGIN
    SELECT coditect_internal.idempotency_lookup_as(p_key, p_request_sha256) INTO r FROM coditect.tenants t WHERE t.id = v_tenant;
    IF NOT FOUND THEN
        r := coditect_internal.idempotency_lookup_as(p_key, p_request_sha256);
    END IF;
    RETURN r;
END
$$;

CREATE FUNCTION coditect.idempotency_claim(p_key text, p_request_sha256 text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    r boolean;
BEGIN
    SELECT coditect_internal.idempotency_claim_as(p_key, p_request_sha256) INTO r FROM coditect.tenants t WHERE t.id = v_tenant;
    IF NOT FOUND THEN
        r := coditect_internal.idempotency_claim_as(p_key, p_request_sha256);
    END IF;
    -- Raised here, on the node the gateway talks to: Citus relays a worker's error without its
    -- constraint name, which the gateway reads.
    IF NOT r THEN
        RAISE EXCEPTION 'a request with this Idempotency-Key completed meanwhile'
            USING ERRCODE = 'CD409', CONSTRAINT = 'idempotency_key_taken';
    END IF;
    RETURN true;
END
$$;

CREATE FUNCTION coditect.idempotency_finish(p_key text, p_status integer, p_content_type text,
                                            p_headers jsonb, p_body text, p_secret boolean) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    r boolean;
BEGIN
    SELECT coditect_internal.idempotency_finish_as(p_key, p_status, p_content_type, p_headers, p_body, p_secret) INTO r
      FROM coditect.tenants t WHERE t.id = v_tenant;
    IF NOT FOUND THEN
        r := coditect_internal.idempotency_finish_as(p_key, p_status, p_content_type, p_headers, p_body, p_secret);
    END IF;
    RETURN r;
END
$$;

REVOKE ALL ON FUNCTION coditect.idempotency_lookup(text, text), coditect.idempotency_claim(text, text),
    coditect.idempotency_finish(text, integer, text, jsonb, text, boolean), coditect.purge_idempotency_keys(),
    coditect_internal.idempotency_lookup_as(text, text), coditect_internal.idempotency_claim_as(text, text),
    coditect_internal.idempotency_finish_as(text, integer, text, jsonb, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.idempotency_lookup(text, text), coditect.idempotency_claim(text, text),
    coditect.idempotency_finish(text, integer, text, jsonb, text, boolean),
    coditect_internal.idempotency_lookup_as(text, text), coditect_internal.idempotency_claim_as(text, text),
    coditect_internal.idempotency_finish_as(text, integer, text, jsonb, text, boolean) TO coditect_gateway, coditect_service;

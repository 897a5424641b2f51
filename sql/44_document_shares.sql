-- 44_document_shares: public links to documents (shares) and what happens to documents
-- (activity), issue 10 items 6 and 7, on the documents of 42_documents.sql.
--
-- A share's token is 128 random bits (C++, OpenSSL's CSPRNG), given to its creator once and
-- stored only as its SHA-256, which is claimed in coditect_internal.global_keys: the public
-- functions find the tenant from the hash there (definer rights), and no login can probe
-- another tenant's hashes through an index. A password is stored as a scrypt hash. A wrong
-- password, an expiry, a revocation, a lockout and an unknown token all answer NULL, which the
-- catalog publishes as the same 404 ("null_answer"): the function returns normally so that a
-- wrong password's count is committed.
--
-- Activity is one table, written only by definer functions: changes by triggers on documents,
-- their versions and shares (one entry per change: an upload's version makes "uploaded", never
-- also "edited"), reads explicitly (the document get's hook, downloads, share accesses), with the
-- request context's IP and user agent (or, for a public share, the request's).

CREATE TYPE coditect.document_share_level AS ENUM ('view', 'download');
COMMENT ON TYPE coditect.document_share_level IS
    'view: the shared document''s description (title, file name, size, type, version); download: also its file.';
CREATE TYPE coditect.document_activity_action AS ENUM (
    'viewed', 'downloaded', 'uploaded', 'edited', 'deleted', 'restored', 'shared');
COMMENT ON TYPE coditect.document_activity_action IS
    'viewed (a detail read or a share opened), downloaded (the file, by a member or through a share), uploaded (a new version), edited, deleted, restored, shared (a public link made).';

-- The tenant's cap on a share's life (a tenant setting: admins change it with PATCH /api/v1/tenant/).
ALTER TABLE coditect.tenants ADD COLUMN share_max_days int NOT NULL DEFAULT 30
    CONSTRAINT tenants_share_max_days_check CHECK (share_max_days BETWEEN 1 AND 365);
COMMENT ON COLUMN coditect.tenants.share_max_days IS
    'The longest a public document share may last, in days (1 to 365; default 30).';
INSERT INTO coditect_internal.resource_columns (resource, column_name, readable, on_create, on_update)
VALUES ('tenant', 'share_max_days', true, false, true);
GRANT UPDATE (share_max_days) ON coditect.tenants TO coditect_gateway;
SELECT coditect_internal.generate_resource_functions('tenant');

-- C++ (src_ext/pg_share.cpp): the token, the password's hash and check, the context's client
-- and the one-blob read grant of a public download. None is executable but by the owner
-- (the definer functions below) unless granted.
CREATE FUNCTION coditect_internal.share_token_generate() RETURNS uuid
    AS 'MODULE_PATHNAME', 'coditect_share_token_generate' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.share_password_hash(text) RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_share_password_hash' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION coditect_internal.share_password_verify(text, text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_share_password_verify' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION coditect_internal.share_grant_blob(uuid, uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'coditect_share_grant_blob' LANGUAGE C VOLATILE;
CREATE FUNCTION coditect_internal.share_granted_tenant(uuid) RETURNS uuid
    AS 'MODULE_PATHNAME', 'coditect_share_granted_tenant' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.context_client_ip() RETURNS inet
    AS 'MODULE_PATHNAME', 'coditect_context_client_ip' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.context_user_agent() RETURNS text
    AS 'MODULE_PATHNAME', 'coditect_context_user_agent' LANGUAGE C STABLE;

-- The hash stored for a token: SHA-256 of its 16 bytes, in hex.
CREATE FUNCTION coditect_internal.share_token_hash(p_token uuid) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(uuid_send(p_token)), 'hex')
$$;

------------------------------------------------------------------------------------------------
-- Shares
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.document_shares (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id      uuid NOT NULL,
    -- The seeds' share_token, as its hash: the token itself is never stored.
    share_token_hash varchar(64) NOT NULL CONSTRAINT document_shares_token_hash_check CHECK (share_token_hash ~ '^[0-9a-f]{64}$'),
    created_by       uuid DEFAULT coditect.current_user_id(),
    permission_level coditect.document_share_level NOT NULL DEFAULT 'view',
    expires_at       timestamptz NOT NULL,
    password_hash    varchar(255),
    access_count     int NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    last_accessed_at timestamptz,
    -- Wrong passwords since the last right one, and until when the share refuses every attempt.
    failed_attempts  int NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until     timestamptz,
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_shares', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.document_shares IS
    'Public links to a document: a token (stored as its SHA-256), an expiry, an optional password, view or download.';
COMMENT ON COLUMN coditect.document_shares.share_token_hash IS 'SHA-256 (hex) of the token; the token is shown once, at creation.';
COMMENT ON COLUMN coditect.document_shares.expires_at IS 'At most the tenant''s share_max_days after creation.';
COMMENT ON COLUMN coditect.document_shares.failed_attempts IS 'Wrong passwords since the last right one.';
COMMENT ON COLUMN coditect.document_shares.locked_until IS 'Until then every attempt is refused (after 5 wrong passwords; doubling, at most an hour).';
COMMENT ON COLUMN coditect.document_shares.is_active IS 'false once revoked (for good).';
-- The seeds' (document, is_active); the token's uniqueness is global_keys'.
CREATE INDEX document_shares_document_idx ON coditect.document_shares (tenant_id, document_id, is_active, created_at DESC, id DESC);
CREATE INDEX document_shares_tenant_created_idx ON coditect.document_shares (tenant_id, created_at DESC, id DESC);

SELECT coditect_internal.register_resource('coditect.document_shares', 'document_share',
    p_parent => 'document', p_parent_column => 'document_id', p_path => '/api/v1/documents/{document_id}/shares/',
    p_roles => '{"view": "guest"}', p_writable => false,
    p_hidden => '{share_token_hash,password_hash}',
    p_audit_exclude => '{access_count,last_accessed_at,failed_attempts,locked_until}',
    p_filters => '{"is_active": ["exact"], "permission_level": ["exact"], "expires_at": ["gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,expires_at}');
SELECT coditect_internal.claim_global_key('coditect.document_shares', 'share_token_hash', 'document_shares_share_token_hash_key');

-- Who may manage a document's shares sees them: the admin level on it (analysts: all of theirs).
SELECT coditect_internal.narrow_tenant_policy('coditect.document_shares', 'SELECT',
    $$coditect.current_user_id() IS NULL OR coditect_internal.document_level(tenant_id, document_id) >= 4$$);

CREATE FUNCTION coditect_internal.document_share_has_password(s coditect.document_shares) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.password_hash IS NOT NULL
$$;
COMMENT ON FUNCTION coditect_internal.document_share_has_password(coditect.document_shares) IS
    'Whether the share asks for a password (X-Share-Password).';
SELECT coditect_internal.register_computed_field('document_share', 'has_password',
    'coditect_internal.document_share_has_password(coditect.document_shares)');

-- A share as the API answers it (hidden columns out, computed ones in).
CREATE FUNCTION coditect_internal.document_share_json(s coditect.document_shares) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(s) - ARRAY['share_token_hash', 'password_hash']
           || jsonb_build_object('has_password', coditect_internal.document_share_has_password(s))
$$;

CREATE TYPE coditect.document_share_link AS (
    token uuid,
    path  text,
    share coditect.document_shares
);
COMMENT ON TYPE coditect.document_share_link IS
    'A new share: its token (shown this once; only its hash is kept), the public path /s/{token}/ and the share.';

-- POST /api/v1/documents/{document_id}/shares/: a public link to the document. Needs
-- document_share.create and the admin level on the document (who may grant access to it may
-- publish it); expires_at defaults to, and may not exceed, now + the tenant's share_max_days.
-- A password is 8 to 1024 characters.
CREATE FUNCTION coditect.document_share_create(p_document uuid, p_permission_level text, p_expires_at timestamptz,
                                               p_password text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    d        record;
    lvl      coditect.document_share_level;
    cap      int;
    expiry   timestamptz;
    tok      uuid;
    s        coditect.document_shares;
    v_id     uuid := coditect.uuid_generate_v7();
BEGIN
    PERFORM coditect.require_permission('document_share.create');
    -- Definer rights read past row-level security: the tenant and the level are checked here.
    SELECT x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
     WHERE x.tenant_id = v_tenant AND x.id = p_document AND x.deleted_at IS NULL;
    IF NOT FOUND OR (coditect_internal.document_grant(v_tenant, d.id, d.folder_id, d.owner_id)).level < 1 THEN
        RAISE EXCEPTION 'document % not found', p_document USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.require_level((coditect_internal.document_grant(v_tenant, d.id, d.folder_id, d.owner_id)).level,
                                            4, 'sharing a document by a public link');
    IF coalesce(p_permission_level, 'view') NOT IN ('view', 'download') THEN
        RAISE EXCEPTION 'permission_level must be view or download' USING ERRCODE = 'CD400';
    END IF;
    lvl := coalesce(p_permission_level, 'view')::coditect.document_share_level;
    SELECT t.share_max_days INTO STRICT cap FROM coditect.tenants t WHERE t.id = v_tenant;
    expiry := coalesce(p_expires_at, now() + make_interval(days => cap));
    IF expiry <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = 'CD400';
    ELSIF expiry > now() + make_interval(days => cap) THEN
        RAISE EXCEPTION 'a share lasts at most % days in this tenant', cap USING ERRCODE = 'CD422',
            HINT = 'expires_at until ' || to_char(now() + make_interval(days => cap), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                   || ', or none for the longest';
    END IF;
    IF p_password IS NOT NULL AND char_length(p_password) NOT BETWEEN 8 AND 1024 THEN
        RAISE EXCEPTION 'a share''s password is 8 to 1024 characters' USING ERRCODE = 'CD400';
    END IF;
    tok := coditect_internal.share_token_generate();
    -- Claimed here, on the coordinator under Citus (00_base, global keys).
    PERFORM coditect_internal.global_key_claim('document_shares.share_token_hash', coditect_internal.share_token_hash(tok),
                                               v_tenant, v_id);
    INSERT INTO coditect.document_shares (tenant_id, id, document_id, share_token_hash, permission_level, expires_at, password_hash)
    VALUES (v_tenant, v_id, d.id, coditect_internal.share_token_hash(tok), lvl, expiry,
            CASE WHEN p_password IS NOT NULL THEN coditect_internal.share_password_hash(p_password) END)
    RETURNING * INTO s;
    RETURN jsonb_build_object('token', tok, 'path', '/s/' || tok || '/', 'share', coditect_internal.document_share_json(s));
END
$$;
SELECT coditect_internal.register_action('document_share', 'create',
    'coditect.document_share_create(uuid, text, timestamptz, text)', 'POST', '/api/v1/documents/{document_id}/shares/',
    '[{"from": "path", "name": "document_id"}, {"from": "body_field", "name": "permission_level"},
      {"from": "body_field", "name": "expires_at"}, {"from": "body_field", "name": "password"}]',
    p_min_role => 'member', p_status => 201, p_response => '{"type": "document_share_link"}', p_secret => true,
    p_summary => 'Share a document by a public link (admin level on it); the token is in this answer only');

-- POST /api/v1/documents/{document_id}/shares/{id}/revoke/: the link stops working for good
-- (is_active false; the row, its counts and its activity stay). Revoking is an update, not a
-- delete, so that who opened the document through the link stays explained. Twice is harmless.
CREATE FUNCTION coditect.document_share_revoke(p_document uuid, p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    d        record;
    s        coditect.document_shares;
BEGIN
    PERFORM coditect.require_permission('document_share.revoke');
    SELECT x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
     WHERE x.tenant_id = v_tenant AND x.id = p_document AND x.deleted_at IS NULL;
    IF NOT FOUND OR (coditect_internal.document_grant(v_tenant, d.id, d.folder_id, d.owner_id)).level < 4 THEN
        -- Shares are seen with the admin level only: without it, there is none to revoke.
        RAISE EXCEPTION 'document share % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    UPDATE coditect.document_shares x SET is_active = false
     WHERE x.tenant_id = v_tenant AND x.document_id = d.id AND x.id = p_id
    RETURNING * INTO s;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document share % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    RETURN coditect_internal.document_share_json(s);
END
$$;
SELECT coditect_internal.register_action('document_share', 'revoke', 'coditect.document_share_revoke(uuid, uuid)',
    'POST', '/api/v1/documents/{document_id}/shares/{id}/revoke/',
    '[{"from": "path", "name": "document_id"}, {"from": "path", "name": "id"}]',
    p_min_role => 'member', p_response => '{"resource": "document_share"}',
    p_summary => 'Revoke a public link (admin level on the document); for good');

-- A revoked share stays revoked, and nothing but its counters changes (every writer).
CREATE FUNCTION coditect_internal.document_share_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.is_active AND NOT OLD.is_active THEN
        RAISE EXCEPTION 'a revoked share cannot be made active again: make a new one' USING ERRCODE = 'CD422';
    END IF;
    -- (created_by may only go: its user was removed.)
    IF (NEW.tenant_id, NEW.id, NEW.document_id, NEW.share_token_hash, NEW.permission_level, NEW.expires_at,
        NEW.password_hash, NEW.created_at)
       IS DISTINCT FROM (OLD.tenant_id, OLD.id, OLD.document_id, OLD.share_token_hash, OLD.permission_level,
                         OLD.expires_at, OLD.password_hash, OLD.created_at)
       OR (NEW.created_by IS DISTINCT FROM OLD.created_by AND NEW.created_by IS NOT NULL) THEN
        RAISE EXCEPTION 'a share does not change (revoke it and make another)' USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER document_share_rules BEFORE UPDATE ON coditect.document_shares
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_share_rules();
ALTER TABLE coditect.document_shares ENABLE ALWAYS TRIGGER document_share_rules;

------------------------------------------------------------------------------------------------
-- Activity
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.document_activity (
    tenant_id      uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id    uuid NOT NULL,
    user_id        uuid,
    action         coditect.document_activity_action NOT NULL,
    ip_address     inet,
    user_agent     varchar(500),
    -- Through which public link (viewed and downloaded by someone without an account), or
    -- which link was made (shared).
    share_id       uuid,
    -- The version uploaded or downloaded.
    version_number int,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, share_id) REFERENCES coditect.document_shares (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_activity', '{tenant_id,user_id}', '{user_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.document_activity', '{tenant_id,share_id}', '{share_id}');
COMMENT ON TABLE coditect.document_activity IS
    'What happened to a document, by whom, from where: reads recorded explicitly, changes by triggers.';
COMMENT ON COLUMN coditect.document_activity.user_id IS 'Who; none for a public share''s reader (share_id says which link).';
COMMENT ON COLUMN coditect.document_activity.share_id IS 'The public link read through (viewed, downloaded) or made (shared).';
COMMENT ON COLUMN coditect.document_activity.version_number IS 'The version uploaded or downloaded.';
-- The seeds' (document, -created_at) and (tenant, user, -created_at).
CREATE INDEX document_activity_document_idx ON coditect.document_activity (tenant_id, document_id, created_at DESC, id DESC);
CREATE INDEX document_activity_user_idx ON coditect.document_activity (tenant_id, user_id, created_at DESC);
CREATE INDEX document_activity_share_idx ON coditect.document_activity (tenant_id, share_id);

SELECT coditect_internal.register_resource('coditect.document_activity', 'document_activity',
    p_plural => 'document_activity', p_parent => 'document', p_parent_column => 'document_id',
    p_path => '/api/v1/documents/{document_id}/activity/', p_roles => '{"view": "guest"}', p_writable => false,
    p_filters => '{"action": ["exact", "in"], "user_id": ["exact"], "share_id": ["exact"], "created_at": ["gte", "lt"]}',
    p_page_size => 50, p_keyset => true);
-- Whoever reads the document reads its activity.
SELECT coditect_internal.narrow_tenant_policy('coditect.document_activity', 'SELECT',
    $$coditect_internal.document_level(tenant_id, document_id) >= 1$$);

-- One entry. Not executable by any login: the definer functions below call it as the owner.
CREATE FUNCTION coditect_internal.document_activity_add(p_tenant uuid, p_document uuid, p_user uuid,
    p_action coditect.document_activity_action, p_share uuid, p_version int, p_ip inet, p_user_agent text)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect.document_activity (tenant_id, document_id, user_id, action, ip_address, user_agent,
                                            share_id, version_number)
    VALUES (p_tenant, p_document, p_user, p_action, p_ip, left(p_user_agent, 500), p_share, p_version)
$$;

-- A read by the context's user (viewed, downloaded), with the context's IP and user agent;
-- only of a document the user may read (so nobody records reads of what they cannot see).
CREATE FUNCTION coditect_internal.record_document_read(p_document uuid, p_action coditect.document_activity_action,
                                                       p_version int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
BEGIN
    IF p_action NOT IN ('viewed', 'downloaded') THEN
        RAISE EXCEPTION 'only reads are recorded explicitly' USING ERRCODE = 'CD400';
    END IF;
    IF coditect.current_user_id() IS NULL OR coditect_internal.document_level(v_tenant, p_document) < 1 THEN
        RAISE EXCEPTION 'document % not found', p_document USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.document_activity_add(v_tenant, p_document, coditect.current_user_id(), p_action, NULL,
        p_version, coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
END
$$;

-- The document get's hook (the catalog's register_get_hook): a detail read is "viewed".
CREATE FUNCTION coditect_internal.document_viewed(p_id uuid) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect_internal.record_document_read(p_id, 'viewed')
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.record_document_read(uuid, coditect.document_activity_action, int),
    coditect_internal.document_viewed(uuid) TO coditect_gateway, coditect_service;
SELECT coditect_internal.register_get_hook('document', 'coditect_internal.document_viewed(uuid)');

-- AFTER a change of a document, a version or a share: its one entry. A document's update that
-- changes only what a new version sets (version, file fields, updated_by) is the upload's,
-- recorded by the version; a deletion or restore is that, whatever else changed with it.
-- Creating a document without a file records nothing (the audit trail has it); its first file
-- is "uploaded".
CREATE FUNCTION coditect_internal.document_activity_of_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    act coditect.document_activity_action;
    me  uuid := CASE WHEN NEW.tenant_id = coditect.current_tenant_id() THEN coditect.current_user_id() END;
BEGIN
    IF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'document_versions' THEN
        PERFORM coditect_internal.document_activity_add(NEW.tenant_id, NEW.document_id, me, 'uploaded', NULL,
            NEW.version_number, coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
    ELSIF coditect_internal.trigger_table_name(TG_TABLE_NAME) = 'document_shares' THEN
        PERFORM coditect_internal.document_activity_add(NEW.tenant_id, NEW.document_id, me, 'shared', NEW.id,
            NULL, coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
    ELSE
        IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
            act := 'deleted';
        ELSIF NEW.deleted_at IS NULL AND OLD.deleted_at IS NOT NULL THEN
            act := 'restored';
        ELSIF (NEW.title, NEW.description, NEW.status, NEW.tags, NEW.metadata, NEW.folder_id, NEW.project_id, NEW.owner_id)
              IS DISTINCT FROM (OLD.title, OLD.description, OLD.status, OLD.tags, OLD.metadata, OLD.folder_id,
                                OLD.project_id, OLD.owner_id) THEN
            act := 'edited';
        END IF;
        IF act IS NOT NULL THEN
            PERFORM coditect_internal.document_activity_add(NEW.tenant_id, NEW.id, me, act, NULL, NULL,
                coditect_internal.context_client_ip(), coditect_internal.context_user_agent());
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER document_activity AFTER UPDATE ON coditect.documents
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_activity_of_change();
CREATE TRIGGER document_activity AFTER INSERT ON coditect.document_versions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_activity_of_change();
CREATE TRIGGER document_activity AFTER INSERT ON coditect.document_shares
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_activity_of_change();
ALTER TABLE coditect.documents ENABLE ALWAYS TRIGGER document_activity;
ALTER TABLE coditect.document_versions ENABLE ALWAYS TRIGGER document_activity;
ALTER TABLE coditect.document_shares ENABLE ALWAYS TRIGGER document_activity;

------------------------------------------------------------------------------------------------
-- Opening a share: GET /s/{token}/ and /s/{token}/content, no login
------------------------------------------------------------------------------------------------

-- The decision of every public access, under the share row's lock (so concurrent attempts are
-- counted one after the other and none slips past a lockout): the share when the token is known,
-- active, unexpired, its document live, not locked, of the download level for a download, and
-- the password right; else NULL, the same
-- for every reason. A wrong password counts; the fifth in a row locks the share for 1 minute,
-- each further one doubles it (at most an hour); while locked even the right password is
-- refused and nothing is counted; a right password resets the count.
CREATE FUNCTION coditect_internal.share_admit(p_token uuid, p_password text, p_download boolean)
RETURNS coditect.document_shares
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
    s coditect.document_shares;
BEGIN
    IF p_token IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT g.tenant_id, g.row_id INTO k FROM coditect_internal.global_keys g
     WHERE g.kind = 'document_shares.share_token_hash' AND g.value = coditect_internal.share_token_hash(p_token);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT x.* INTO s FROM coditect.document_shares x
     WHERE x.tenant_id = k.tenant_id AND x.id = k.row_id FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT s.is_active OR s.expires_at <= now() OR s.locked_until > now()
       OR (p_download AND s.permission_level <> 'download')
       OR NOT EXISTS (SELECT 1 FROM coditect.documents d JOIN coditect.tenants t ON t.id = d.tenant_id
                       WHERE d.tenant_id = s.tenant_id AND d.id = s.document_id AND d.deleted_at IS NULL AND t.is_active) THEN
        RETURN NULL;
    END IF;
    IF s.password_hash IS NOT NULL THEN
        IF p_password IS NULL OR NOT coditect_internal.share_password_verify(p_password, s.password_hash) THEN
            -- Computed from the locked row outside the statement: Citus refuses now() in a CASE
            -- of an UPDATE on a distributed table.
            s.failed_attempts := s.failed_attempts + 1;
            s.locked_until := CASE WHEN s.failed_attempts >= 5
                                   THEN now() + least(interval '1 minute' * power(2, least(s.failed_attempts - 5, 10)),
                                                      interval '1 hour') END;
            UPDATE coditect.document_shares x SET failed_attempts = s.failed_attempts, locked_until = s.locked_until
             WHERE x.tenant_id = s.tenant_id AND x.id = s.id;
            RETURN NULL;
        END IF;
    END IF;
    UPDATE coditect.document_shares x
       SET access_count = x.access_count + 1, last_accessed_at = now(), failed_attempts = 0, locked_until = NULL
     WHERE x.tenant_id = s.tenant_id AND x.id = s.id
    RETURNING * INTO s;
    RETURN s;
END
$$;

CREATE TYPE coditect.document_share_view AS (
    document_id      uuid,
    title            text,
    description      text,
    file_name        text,
    file_size_bytes  bigint,
    mime_type        text,
    checksum         text,
    version          int,
    updated_at       timestamptz,
    permission_level coditect.document_share_level,
    expires_at       timestamptz,
    content_path     text
);
COMMENT ON TYPE coditect.document_share_view IS
    'A shared document as its link shows it; content_path (download shares with a file) streams the file.';

-- What a share's link shows (timestamps in UTC, as every answer).
CREATE FUNCTION coditect_internal.document_share_view_json(d coditect.documents, s coditect.document_shares, p_token uuid)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(ROW(d.id, d.title, d.description, d.file_name, d.file_size_bytes, d.mime_type, d.checksum, d.version,
                        d.updated_at, s.permission_level, s.expires_at,
                        CASE WHEN s.permission_level = 'download' AND d.version > 0
                             THEN '/s/' || p_token || '/content' END)::coditect.document_share_view)
$$;

-- GET /s/{token}/ (no login; X-Share-Password when the share has one): the shared document's
-- description, counted and recorded as "viewed". NULL (the gateway's 404) for anything else.
CREATE FUNCTION coditect.share_open(p_token uuid, p_password text, p_ip inet, p_user_agent text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.document_shares := coditect_internal.share_admit(p_token, p_password, false);
    d coditect.documents;
BEGIN
    IF s.id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT x.* INTO STRICT d FROM coditect.documents x WHERE x.tenant_id = s.tenant_id AND x.id = s.document_id;
    PERFORM coditect_internal.document_activity_add(s.tenant_id, d.id, NULL, 'viewed', s.id, NULLIF(d.version, 0),
                                                    p_ip, p_user_agent);
    RETURN coditect_internal.document_share_view_json(d, s, p_token);
END
$$;

-- GET /s/{token}/content (download shares): the current version's file, streamed by the
-- gateway's "content" protocol in this transaction (the blob is granted to it: there is no
-- request context), counted and recorded as "downloaded" and audited as data.export. A view share has no content: NULL.
CREATE FUNCTION coditect.share_download(p_token uuid, p_password text, p_ip inet, p_user_agent text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s coditect.document_shares := coditect_internal.share_admit(p_token, p_password, true);
    v coditect.document_versions;
BEGIN
    IF s.id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT x.* INTO v FROM coditect.documents d
      JOIN coditect.document_versions x ON x.tenant_id = d.tenant_id AND x.document_id = d.id AND x.version_number = d.version
     WHERE d.tenant_id = s.tenant_id AND d.id = s.document_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM coditect_internal.share_grant_blob(s.tenant_id, v.blob_id);
    PERFORM coditect_internal.document_activity_add(s.tenant_id, s.document_id, NULL, 'downloaded', s.id, v.version_number,
                                                    p_ip, p_user_agent);
    -- No request context (nobody is signed in): the share and the client are the metadata's.
    PERFORM coditect_internal.audit_event(s.tenant_id, 'data.export', 'Document', s.document_id::text,
        jsonb_build_object('way', 'share', 'share_id', s.id, 'version', v.version_number, 'file_name', v.file_name,
                           'size_bytes', v.file_size_bytes, 'ip_address', host(p_ip), 'user_agent', left(p_user_agent, 500)));
    RETURN coditect_internal.content_answer(v.blob_id, v.file_size_bytes, v.checksum, v.mime_type, v.file_name);
END
$$;

-- storage_read without a request context (40_storage.sql): the blob this transaction's share
-- decision granted, of its tenant; any other blob is not found.
CREATE FUNCTION coditect_internal.storage_read_granted(p_blob uuid, p_offset bigint, p_length int) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect_internal.share_granted_tenant(p_blob);
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'blob % not found', p_blob USING ERRCODE = 'CD404';
    END IF;
    RETURN coditect_internal.storage_read_chunks(tenant, p_blob, p_offset, p_length);
END
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.storage_read_granted(uuid, bigint, int) TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_action('document_share', 'open', 'coditect.share_open(uuid, text, inet, text)',
    'GET', '/s/{token}/',
    '[{"from": "path", "name": "token", "secret": true}, {"from": "header", "name": "X-Share-Password"},
      {"from": "client_ip"}, {"from": "user_agent"}]',
    p_auth => 'none', p_writes => true,
    p_response => '{"type": "document_share_view", "null_answer": {"status": 404, "detail": "share not found"}}',
    p_summary => 'A shared document (no login; X-Share-Password when it has one); unknown, expired, revoked, locked or a wrong password: the same 404');
SELECT coditect_internal.register_action('document_share', 'download', 'coditect.share_download(uuid, text, inet, text)',
    'GET', '/s/{token}/content',
    '[{"from": "path", "name": "token", "secret": true}, {"from": "header", "name": "X-Share-Password"},
      {"from": "client_ip"}, {"from": "user_agent"}]',
    p_auth => 'none', p_writes => true,
    p_response => '{"protocol": "content", "null_answer": {"status": 404, "detail": "share not found"}}',
    p_summary => 'A download share''s file, streamed (Range, ETag: its SHA-256); no login; the same 404 as the share');

-- 40_storage: file content stored in PostgreSQL (issue 10, the layer under documents).
-- Content is addressed by its SHA-256 and kept once per tenant (never shared across tenants),
-- in chunks of at most 1 MiB, so no value of a whole file ever exists in memory. Uploads are
-- sessions written piece by piece at their current offset (the tus protocol's model); the
-- whole-file hash is carried from piece to piece as a small resumable state (C++, OpenSSL).
--
-- The storage interface (what the domain and the gateway call; an S3-compatible backend would
-- implement the same functions, see README "File storage"):
--   coditect.storage_begin_upload(length, metadata)          -> the upload session
--   coditect.storage_append(upload, offset, bytes, sha256)   -> the session (completed at the end)
--   coditect.storage_read(blob, offset, length)              -> bytes, at most one chunk's size
--   coditect_internal.storage_release(blob)                  -> drops one reference
-- and, for the domains, upload targets (coditect_internal.register_upload_target, below).

CREATE TYPE coditect.blob_status AS ENUM ('pending', 'ready');
COMMENT ON TYPE coditect.blob_status IS 'pending: an upload is writing it; ready: complete, hashed, immutable.';
CREATE TYPE coditect.upload_status AS ENUM ('uploading', 'completed');

-- 1 MiB: the largest value a read or write ever holds (bounded memory per request, and per
-- backend), few rows per file (1,024 for 1 GiB, so the index stays small), and far above
-- TOAST's own 2 kB slices, so per-row overhead is negligible. Stored uncompressed (EXTERNAL):
-- uploads are mostly compressed formats already, and an uncompressed TOAST value lets a
-- ranged read fetch only the slices it needs.
CREATE FUNCTION coditect.storage_chunk_size() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$ SELECT 1048576 $$;

-- The largest file a tenant's plan allows (binary units: 10 MiB, 100 MiB, 1 GiB).
CREATE FUNCTION coditect.storage_max_file_size(p_tier coditect.tenant_tier) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_tier WHEN 'trial' THEN 10485760 WHEN 'starter' THEN 10485760
                       WHEN 'professional' THEN 104857600 WHEN 'enterprise' THEN 1073741824 END::bigint
$$;

-- Resumable SHA-256 (src_ext/pg_sha256.cpp): the state after hashing data on top of state
-- (NULL: nothing yet), and the digest of a state.
CREATE FUNCTION coditect_internal.sha256_resume(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'coditect_sha256_resume' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION coditect_internal.sha256_digest(bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'coditect_sha256_digest' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------------
-- Tables. Written only by the functions below (definer rights): a direct write could change
-- bytes after their hash was verified. Read under RLS like every tenant table.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.storage_blobs (
    tenant_id    uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    sha256       bytea CONSTRAINT storage_blobs_sha256_check CHECK (octet_length(sha256) = 32),
    size_bytes   bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    content_type varchar(255) NOT NULL DEFAULT 'application/octet-stream',
    status       coditect.blob_status NOT NULL DEFAULT 'pending',
    ref_count    int NOT NULL DEFAULT 0 CHECK (ref_count >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Content addressing and dedup, within a tenant only.
    CONSTRAINT storage_blobs_tenant_sha256_key UNIQUE (tenant_id, sha256),
    CONSTRAINT storage_blobs_ready_hashed CHECK ((status = 'ready') = (sha256 IS NOT NULL))
);
COMMENT ON TABLE coditect.storage_blobs IS 'File content, once per tenant and SHA-256; its bytes are in storage_chunks.';
COMMENT ON COLUMN coditect.storage_blobs.ref_count IS
    'How many holders (completed uploads without a target, document versions, ...) keep the content.';

CREATE TABLE coditect.storage_chunks (
    tenant_id uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id        uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    blob_id   uuid NOT NULL,
    seq       int NOT NULL CHECK (seq >= 0),
    -- Every chunk but a blob's last is exactly storage_chunk_size() bytes: chunk n starts at
    -- byte n * storage_chunk_size().
    data      bytea NOT NULL CONSTRAINT storage_chunks_data_check CHECK (octet_length(data) BETWEEN 1 AND 1048576),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT storage_chunks_blob_seq_key UNIQUE (tenant_id, blob_id, seq),
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE coditect.storage_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE coditect.storage_chunks IS 'The bytes of a blob in chunks of 1 MiB (the last one shorter).';

CREATE TABLE coditect.upload_sessions (
    tenant_id     uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    user_id       uuid NOT NULL,
    blob_id       uuid NOT NULL,
    upload_length bigint NOT NULL CHECK (upload_length >= 0),
    upload_offset bigint NOT NULL DEFAULT 0,
    filename      varchar(255),
    content_type  varchar(255) NOT NULL DEFAULT 'application/octet-stream',
    metadata      coditect.json_object NOT NULL DEFAULT '{}',
    target_kind   varchar(50),
    target_id     uuid,
    sha256        bytea CHECK (octet_length(sha256) = 32),
    hash_state    bytea NOT NULL,
    status        coditect.upload_status NOT NULL DEFAULT 'uploading',
    expires_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT upload_sessions_offset_check CHECK (upload_offset BETWEEN 0 AND upload_length),
    CONSTRAINT upload_sessions_completed_check
        CHECK ((status = 'completed') = (completed_at IS NOT NULL AND upload_offset = upload_length)),
    CONSTRAINT upload_sessions_target_check CHECK (target_id IS NULL OR target_kind IS NOT NULL)
);
COMMENT ON TABLE coditect.upload_sessions IS 'Resumable uploads (tus): written at their offset, completed when it reaches the length.';
COMMENT ON COLUMN coditect.upload_sessions.blob_id IS
    'The content being written; after completion the blob holding it (an existing one when the bytes were known).';
COMMENT ON COLUMN coditect.upload_sessions.target_kind IS
    'What completion makes of the file (the document layer''s hook), with target_id; null: nothing.';
COMMENT ON COLUMN coditect.upload_sessions.sha256 IS 'The SHA-256 the client declared (metadata "sha256"), checked at completion.';
COMMENT ON COLUMN coditect.upload_sessions.hash_state IS 'The SHA-256 of the bytes so far, resumable (sha256_resume).';

CREATE INDEX upload_sessions_user_idx ON coditect.upload_sessions (tenant_id, user_id, created_at DESC);
CREATE INDEX upload_sessions_blob_idx ON coditect.upload_sessions (tenant_id, blob_id);
CREATE INDEX upload_sessions_expires_idx ON coditect.upload_sessions (tenant_id, expires_at) WHERE status = 'uploading';

-- Resources without generated verbs: their catalog entries, table mechanisms (RLS, audit,
-- timestamps, dump) and the actions below. Chunk bytes and hash states never enter the audit
-- trail; blobs and upload sessions are audited whole (create, each append's offset, completion).
SELECT coditect_internal.register_resource('coditect.storage_blobs', 'blob', '{}', p_path => '/api/v1/blobs/',
    p_writable => false);
SELECT coditect_internal.register_resource('coditect.upload_sessions', 'upload', '{}', p_path => '/api/v1/uploads/',
    p_writable => false, p_hidden => '{hash_state}');
SELECT coditect_internal.register_tenant_table('coditect.storage_chunks', 'storage_chunk', p_exclude => '{data}',
    p_writable => false);

SELECT coditect_internal.declare_permission('upload.create', 'Upload files', 'member');
SELECT coditect_internal.declare_permission('blob.download', 'Download uploaded files', 'member');

------------------------------------------------------------------------------------------------
-- Upload targets: what an upload makes (a document's next version, a task's attachment) is the
-- domain's that declared the target kind. Its check (target_id, metadata) runs when an upload is
-- declared and refuses what completion could not make; its completion (session) runs once the
-- upload completes, in its transaction, and is answered as "target". The session's blob then
-- holds one reference for it, which the target takes over; without a target the session keeps
-- it until it is purged.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.upload_targets (
    kind        text PRIMARY KEY CHECK (kind ~ '^[a-z][a-z_]*$'),
    check_fn    regprocedure NOT NULL,  -- (target_id uuid, metadata jsonb) RETURNS void
    complete_fn regprocedure NOT NULL   -- (coditect.upload_sessions) RETURNS jsonb
);
REVOKE ALL ON coditect_internal.upload_targets FROM PUBLIC;

CREATE FUNCTION coditect_internal.register_upload_target(p_kind text, p_check regprocedure, p_complete regprocedure)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO coditect_internal.upload_targets (kind, check_fn, complete_fn) VALUES (p_kind, p_check, p_complete)
$$;

CREATE FUNCTION coditect_internal.upload_target_check(p_kind text, p_id uuid, p_metadata jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f regprocedure;
BEGIN
    IF p_kind IS NULL AND p_id IS NULL THEN
        RETURN;
    END IF;
    SELECT t.check_fn INTO f FROM coditect_internal.upload_targets t WHERE t.kind = p_kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown upload target "%"', p_kind USING ERRCODE = 'CD400',
            HINT = 'target_kind: ' || (SELECT string_agg(kind, ', ' ORDER BY kind) FROM coditect_internal.upload_targets)
                   || '; none stores the file only';
    END IF;
    EXECUTE format('SELECT %s($1, $2)', f::regproc) USING p_id, p_metadata;
END
$$;

CREATE FUNCTION coditect_internal.upload_completed(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f regprocedure;
    r jsonb;
BEGIN
    IF s.target_kind IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT t.complete_fn INTO STRICT f FROM coditect_internal.upload_targets t WHERE t.kind = s.target_kind;
    EXECUTE format('SELECT %s($1)', f::regproc) INTO r USING s;
    RETURN r;
END
$$;

------------------------------------------------------------------------------------------------
-- The storage interface
------------------------------------------------------------------------------------------------

-- The context's tenant and user, or CD403.
CREATE FUNCTION coditect_internal.storage_caller(OUT tenant_id uuid, OUT user_id uuid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    tenant_id := coditect.current_tenant_id();
    user_id := coditect.current_user_id();
    IF tenant_id IS NULL OR user_id IS NULL THEN
        RAISE EXCEPTION 'no request context' USING ERRCODE = 'CD403';
    END IF;
END
$$;

-- What an upload session is answered as.
-- PL/pgSQL: Citus cannot plan a SQL function's statement on a distributed table.
CREATE FUNCTION coditect_internal.upload_answer(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', s.id, 'upload_offset', s.upload_offset, 'upload_length', s.upload_length,
        'status', s.status, 'filename', s.filename, 'content_type', s.content_type,
        'expires_at', to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'blob', CASE WHEN s.status = 'completed' THEN (
                    SELECT jsonb_build_object('id', b.id, 'sha256', encode(b.sha256, 'hex'), 'size', b.size_bytes,
                                              'content_type', s.content_type)
                      FROM coditect.storage_blobs b WHERE b.tenant_id = s.tenant_id AND b.id = s.blob_id) END);
END
$$;

-- Declares an upload of p_length bytes. Metadata (strings): filename (or name), content_type
-- (or filetype, type), sha256 (hex: checked at completion), target_kind and target_id (the
-- document layer's hook); others are kept as given.
CREATE FUNCTION coditect.storage_begin_upload(p_length bigint, p_metadata jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me      record := coditect_internal.storage_caller();
    md      jsonb := coalesce(p_metadata, '{}');
    lim     bigint;
    v_name  text;
    v_type  text;
    v_sha   bytea;
    v_blob  uuid;
    s       coditect.upload_sessions;
BEGIN
    PERFORM coditect.require_permission('upload.create');
    IF p_length IS NULL OR p_length < 0 THEN
        RAISE EXCEPTION 'the upload length must be a non-negative number of bytes' USING ERRCODE = 'CD400';
    END IF;
    IF jsonb_typeof(md) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_each(md) e WHERE jsonb_typeof(e.value) <> 'string') THEN
        RAISE EXCEPTION 'upload metadata must be an object of strings' USING ERRCODE = 'CD400';
    END IF;
    IF octet_length(md::text) > 4096 THEN
        RAISE EXCEPTION 'upload metadata is larger than 4096 bytes' USING ERRCODE = 'CD400';
    END IF;
    SELECT coditect.storage_max_file_size(t.license_tier) INTO lim FROM coditect.tenants t WHERE t.id = me.tenant_id;
    IF p_length > lim THEN
        RAISE EXCEPTION 'the file (% bytes) is larger than the % bytes the tenant''s plan allows', p_length, lim
            USING ERRCODE = 'CD413';
    END IF;
    v_name := coalesce(md ->> 'filename', md ->> 'name');
    IF v_name IS NOT NULL AND (v_name !~ '\S' OR v_name ~ '[[:cntrl:]/\\]' OR char_length(v_name) > 255) THEN
        RAISE EXCEPTION 'filename must be 1 to 255 characters without control characters or slashes' USING ERRCODE = 'CD400';
    END IF;
    v_type := coalesce(md ->> 'content_type', md ->> 'filetype', md ->> 'type');
    IF v_type = '' THEN
        v_type := NULL;
    END IF;
    IF v_type IS NOT NULL AND v_type !~ '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$' THEN
        RAISE EXCEPTION 'content type "%" is not a media type (type/subtype)', left(v_type, 100) USING ERRCODE = 'CD400';
    END IF;
    IF md ? 'sha256' THEN
        IF (md ->> 'sha256') !~ '^[0-9a-fA-F]{64}$' THEN
            RAISE EXCEPTION 'metadata sha256 must be 64 hexadecimal digits' USING ERRCODE = 'CD400';
        END IF;
        v_sha := decode(md ->> 'sha256', 'hex');
    END IF;
    IF (md ->> 'target_id') IS NOT NULL AND (md ->> 'target_id') !~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$' THEN
        RAISE EXCEPTION 'target_id must be a UUID' USING ERRCODE = 'CD400';
    END IF;
    PERFORM coditect_internal.upload_target_check(md ->> 'target_kind', (md ->> 'target_id')::uuid, md);

    INSERT INTO coditect.storage_blobs (tenant_id, content_type)
    VALUES (me.tenant_id, coalesce(v_type, 'application/octet-stream')) RETURNING id INTO v_blob;
    INSERT INTO coditect.upload_sessions (tenant_id, user_id, blob_id, upload_length, filename, content_type,
                                          metadata, target_kind, target_id, sha256, hash_state, expires_at)
    VALUES (me.tenant_id, me.user_id, v_blob, p_length, v_name, coalesce(v_type, 'application/octet-stream'),
            md, md ->> 'target_kind', (md ->> 'target_id')::uuid, v_sha,
            coditect_internal.sha256_resume(NULL, NULL), now() + interval '24 hours')
    RETURNING * INTO s;
    IF p_length = 0 THEN
        s := coditect_internal.storage_complete(s);
    END IF;
    RETURN coditect_internal.upload_answer(s);
END
$$;

-- Completion: the size counted from the stored chunks and the whole-file SHA-256 (from the
-- resumable state, against the declared one if any; CD460 otherwise), then dedup: the bytes
-- of a hash the tenant holds already are dropped and the session points at that blob. Two
-- uploads of the same new bytes completing at once: the second meets the first's unique key,
-- waits for it, and dedups onto it.
CREATE FUNCTION coditect_internal.storage_complete(s coditect.upload_sessions) RETURNS coditect.upload_sessions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stored   bigint;
    digest   bytea := coditect_internal.sha256_digest(s.hash_state);
    existing uuid;
    pending  uuid := s.blob_id;
BEGIN
    SELECT coalesce(sum(octet_length(c.data)), 0) INTO stored FROM coditect.storage_chunks c
     WHERE c.tenant_id = s.tenant_id AND c.blob_id = pending;
    IF stored <> s.upload_length OR s.upload_offset <> s.upload_length THEN
        RAISE EXCEPTION 'upload %: % bytes stored, % declared', s.id, stored, s.upload_length USING ERRCODE = 'XX001';
    END IF;
    IF s.sha256 IS NOT NULL AND s.sha256 <> digest THEN
        RAISE EXCEPTION 'the file''s SHA-256 is % but % was declared', encode(digest, 'hex'), encode(s.sha256, 'hex')
            USING ERRCODE = 'CD460';
    END IF;
    SELECT b.id INTO existing FROM coditect.storage_blobs b
     WHERE b.tenant_id = s.tenant_id AND b.sha256 = digest FOR UPDATE;
    IF existing IS NULL THEN
        BEGIN
            UPDATE coditect.storage_blobs SET sha256 = digest, size_bytes = stored, status = 'ready', ref_count = 1
             WHERE tenant_id = s.tenant_id AND id = pending;
        EXCEPTION WHEN unique_violation THEN
            SELECT b.id INTO STRICT existing FROM coditect.storage_blobs b
             WHERE b.tenant_id = s.tenant_id AND b.sha256 = digest FOR UPDATE;
        END;
    END IF;
    IF existing IS NOT NULL THEN
        UPDATE coditect.storage_blobs SET ref_count = ref_count + 1 WHERE tenant_id = s.tenant_id AND id = existing;
        UPDATE coditect.upload_sessions SET blob_id = existing WHERE tenant_id = s.tenant_id AND id = s.id;
        DELETE FROM coditect.storage_blobs WHERE tenant_id = s.tenant_id AND id = pending;
    END IF;
    UPDATE coditect.upload_sessions SET status = 'completed', completed_at = now()
     WHERE tenant_id = s.tenant_id AND id = s.id RETURNING * INTO s;
    RETURN s;
END
$$;

-- Appends p_data at p_offset, which must be the session's offset (else CD409, nothing
-- written). p_sha256, when given, is the SHA-256 of p_data (else CD460, nothing written). More
-- bytes than declared, or than the plan allows now, is CD413. Reaching the declared length
-- completes the upload (CD460 if the whole file's hash differs from a declared one) and calls
-- the completion hook; its answer is the session with "blob" and "target".
CREATE FUNCTION coditect.storage_append(p_upload uuid, p_offset bigint, p_data bytea, p_sha256 bytea DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me     record := coditect_internal.storage_caller();
    cs     int := coditect.storage_chunk_size();
    s      coditect.upload_sessions;
    len    bigint := octet_length(p_data);
    lim    bigint;
    v_seq  int;
    pos    int := 0;
    room   int;
    target jsonb;
BEGIN
    PERFORM coditect.require_permission('upload.create');
    IF p_data IS NULL OR p_offset IS NULL THEN
        RAISE EXCEPTION 'an append needs its offset and bytes' USING ERRCODE = 'CD400';
    END IF;
    -- The session's row lock serialises appends to one upload: the second waits, then sees
    -- the first's offset.
    SELECT * INTO s FROM coditect.upload_sessions u
     WHERE u.tenant_id = me.tenant_id AND u.id = p_upload AND u.user_id = me.user_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no upload %', p_upload USING ERRCODE = 'CD404';
    END IF;
    IF s.status = 'completed' THEN
        RAISE EXCEPTION 'the upload is complete (% bytes)', s.upload_length USING ERRCODE = 'CD409';
    END IF;
    IF s.expires_at <= now() THEN
        RAISE EXCEPTION 'the upload expired at %', s.expires_at USING ERRCODE = 'CD410';
    END IF;
    IF p_offset <> s.upload_offset THEN
        RAISE EXCEPTION 'offset % does not match the upload''s offset %', p_offset, s.upload_offset
            USING ERRCODE = 'CD409', HINT = 'ask for the current offset (HEAD) and resume from it';
    END IF;
    IF p_sha256 IS NOT NULL AND pg_catalog.sha256(p_data) <> p_sha256 THEN
        RAISE EXCEPTION 'the checksum of the % bytes received does not match', len USING ERRCODE = 'CD460';
    END IF;
    IF s.upload_offset + len > s.upload_length THEN
        RAISE EXCEPTION '% bytes at offset % go past the declared length %', len, s.upload_offset, s.upload_length
            USING ERRCODE = 'CD413';
    END IF;
    SELECT coditect.storage_max_file_size(t.license_tier) INTO lim FROM coditect.tenants t WHERE t.id = me.tenant_id;
    IF s.upload_offset + len > lim THEN
        RAISE EXCEPTION 'the file is larger than the % bytes the tenant''s plan allows', lim USING ERRCODE = 'CD413';
    END IF;

    -- Top up the last, partial chunk, then whole chunks.
    v_seq := (s.upload_offset / cs)::int;
    room := cs - (s.upload_offset % cs)::int;
    IF room < cs AND len > 0 THEN
        UPDATE coditect.storage_chunks c SET data = c.data || substring(p_data FROM 1 FOR room)
         WHERE c.tenant_id = s.tenant_id AND c.blob_id = s.blob_id AND c.seq = v_seq;
        pos := least(room::bigint, len)::int;
        v_seq := v_seq + 1;
    END IF;
    WHILE pos < len LOOP
        INSERT INTO coditect.storage_chunks (tenant_id, blob_id, seq, data)
        VALUES (s.tenant_id, s.blob_id, v_seq, substring(p_data FROM pos + 1 FOR cs));
        pos := pos + cs;
        v_seq := v_seq + 1;
    END LOOP;

    UPDATE coditect.storage_blobs SET size_bytes = s.upload_offset + len WHERE tenant_id = s.tenant_id AND id = s.blob_id;
    UPDATE coditect.upload_sessions
       SET upload_offset = upload_offset + len, hash_state = coditect_internal.sha256_resume(hash_state, p_data),
           expires_at = now() + interval '24 hours'
     WHERE tenant_id = s.tenant_id AND id = s.id RETURNING * INTO s;
    IF s.upload_offset = s.upload_length THEN
        s := coditect_internal.storage_complete(s);
        target := coditect_internal.upload_completed(s);
    END IF;
    RETURN coditect_internal.upload_answer(s) || jsonb_build_object('target', target);
END
$$;

-- Up to one chunk's size of a blob's bytes from p_offset (fewer at the end; none past it).
-- It reads the request tenant's chunks, what the caller may read under RLS (tenant isolation),
-- nothing more. Callers decide access first (blob_download, the document layer's download) in
-- the same transaction. Owner's rights: those download functions record the download as the
-- owner, and on Citus a shard written as one user cannot be read as another in the same
-- transaction. Without a request context (a public share's download), only the one blob that
-- the share's decision granted to the transaction is read (coditect_internal.storage_read_granted,
-- 44_document_shares.sql).
CREATE FUNCTION coditect.storage_read(p_blob uuid, p_offset bigint, p_length int) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := coditect.current_tenant_id();
BEGIN
    IF tenant IS NULL THEN
        RETURN coditect_internal.storage_read_granted(p_blob, p_offset, p_length);
    END IF;
    RETURN coditect_internal.storage_read_chunks(tenant, p_blob, p_offset, p_length);
END
$$;

-- The bytes of a read, from the chunks of the tenant's blob (under the caller's rights).
CREATE FUNCTION coditect_internal.storage_read_chunks(p_tenant uuid, p_blob uuid, p_offset bigint, p_length int)
RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cs     int := coditect.storage_chunk_size();
    first  int;
    within int;
    head   bytea;
    tail   bytea;
BEGIN
    IF p_offset IS NULL OR p_offset < 0 OR p_length IS NULL OR p_length < 0 OR p_length > cs THEN
        RAISE EXCEPTION 'a read is 0 to % bytes from a non-negative offset', cs USING ERRCODE = 'CD400';
    END IF;
    first := (p_offset / cs)::int;
    within := (p_offset % cs)::int;
    -- Slices of uncompressed (EXTERNAL) values: only the TOAST pieces in the range are read.
    SELECT substring(k.data FROM within + 1 FOR p_length) INTO head FROM coditect.storage_chunks k
     WHERE k.tenant_id = p_tenant AND k.blob_id = p_blob AND k.seq = first;
    IF within + p_length > cs THEN
        SELECT substring(k.data FROM 1 FOR within + p_length - cs) INTO tail FROM coditect.storage_chunks k
         WHERE k.tenant_id = p_tenant AND k.blob_id = p_blob AND k.seq = first + 1;
    END IF;
    RETURN coalesce(head, '\x') || coalesce(tail, '\x');
END
$$;

-- Drops one reference to a blob; the last one deletes it with its chunks. For the domain's
-- definer functions (a document version purged, ...), not for clients.
CREATE FUNCTION coditect_internal.storage_release(p_tenant uuid, p_blob uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    left_over int;
BEGIN
    UPDATE coditect.storage_blobs SET ref_count = ref_count - 1
     WHERE tenant_id = p_tenant AND id = p_blob AND status = 'ready' AND ref_count > 0
    RETURNING ref_count INTO left_over;
    IF left_over = 0 THEN
        DELETE FROM coditect.storage_blobs WHERE tenant_id = p_tenant AND id = p_blob;
    END IF;
END
$$;

-- AFTER DELETE trigger of a table whose rows hold a blob (blob_id): the row's reference goes
-- with it (document versions, task attachments).
CREATE FUNCTION coditect_internal.release_held_blob() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.storage_release(OLD.tenant_id, OLD.blob_id);
    RETURN NULL;
END
$$;

-- Maintenance (DBA, pg_cron): drops expired unfinished uploads with their bytes, and
-- completed uploads without a target older than p_completed_age (releasing their reference).
CREATE FUNCTION coditect.purge_upload_sessions(p_completed_age interval DEFAULT '7 days') RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int := 0;
    c record;
    s record;
BEGIN
    IF p_completed_age IS NULL OR p_completed_age < interval '0' THEN
        RAISE EXCEPTION 'p_completed_age must be a non-negative interval' USING ERRCODE = 'CD400';
    END IF;
    -- The candidates are read without a lock, then each is locked by its tenant and id and
    -- checked again: on Citus a row lock must name the distribution column (one shard).
    FOR c IN SELECT u.tenant_id, u.id FROM coditect.upload_sessions u
              WHERE (u.status = 'uploading' AND u.expires_at <= now())
                 OR (u.status = 'completed' AND u.target_kind IS NULL AND u.completed_at <= now() - p_completed_age) LOOP
        SELECT u.tenant_id, u.id, u.blob_id, u.status INTO s FROM coditect.upload_sessions u
         WHERE u.tenant_id = c.tenant_id AND u.id = c.id
           AND ((u.status = 'uploading' AND u.expires_at <= now())
                OR (u.status = 'completed' AND u.target_kind IS NULL AND u.completed_at <= now() - p_completed_age))
           FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        DELETE FROM coditect.upload_sessions WHERE tenant_id = s.tenant_id AND id = s.id;
        IF s.status = 'uploading' THEN
            DELETE FROM coditect.storage_blobs WHERE tenant_id = s.tenant_id AND id = s.blob_id AND status = 'pending';
        ELSE
            PERFORM coditect_internal.storage_release(s.tenant_id, s.blob_id);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

------------------------------------------------------------------------------------------------
-- The API: tus (uploads) and the blob download, declared through the catalog. The gateway
-- speaks the protocol named by each operation's response "protocol"; these functions take the
-- tus headers as sent.
------------------------------------------------------------------------------------------------

-- tus Upload-Metadata: "key base64value,key2 base64value2" (a value may be absent). Keys are
-- ASCII without spaces or commas, values UTF-8 text.
CREATE FUNCTION coditect_internal.tus_metadata(p_header text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pair  text;
    parts text[];
    out   jsonb := '{}';
BEGIN
    IF p_header IS NULL OR p_header !~ '\S' THEN
        RETURN out;
    END IF;
    FOREACH pair IN ARRAY string_to_array(p_header, ',') LOOP
        parts := regexp_split_to_array(btrim(pair), ' +');
        IF cardinality(parts) > 2 OR parts[1] !~ '^[!-~]+$' OR out ? parts[1] THEN
            RAISE EXCEPTION 'malformed Upload-Metadata' USING ERRCODE = 'CD400';
        END IF;
        BEGIN
            out := out || jsonb_build_object(parts[1], coalesce(convert_from(decode(parts[2], 'base64'), 'UTF8'), ''));
        EXCEPTION WHEN invalid_parameter_value OR character_not_in_repertoire OR untranslatable_character THEN
            RAISE EXCEPTION 'malformed Upload-Metadata value of "%"', parts[1] USING ERRCODE = 'CD400';
        END;
    END LOOP;
    RETURN out;
END
$$;

-- A tus header that carries a byte count.
CREATE FUNCTION coditect_internal.tus_number(p_header text, p_name text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_header IS NULL OR p_header !~ '^[0-9]{1,18}$' THEN
        RAISE EXCEPTION '% must be a non-negative whole number', p_name USING ERRCODE = 'CD400';
    END IF;
    RETURN p_header::bigint;
END
$$;

-- POST /api/v1/uploads/ (tus creation): Upload-Length and Upload-Metadata.
CREATE FUNCTION coditect.upload_create(p_upload_length text, p_upload_metadata text) RETURNS jsonb
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT coditect.storage_begin_upload(coditect_internal.tus_number(p_upload_length, 'Upload-Length'),
                                         coditect_internal.tus_metadata(p_upload_metadata))
$$;

-- HEAD /api/v1/uploads/{id} (tus): the caller's own upload only.
CREATE FUNCTION coditect.upload_progress(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me record := coditect_internal.storage_caller();
    s  coditect.upload_sessions;
BEGIN
    PERFORM coditect.require_permission('upload.create');
    SELECT * INTO s FROM coditect.upload_sessions u
     WHERE u.tenant_id = me.tenant_id AND u.id = p_id AND u.user_id = me.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no upload %', p_id USING ERRCODE = 'CD404';
    END IF;
    IF s.status = 'uploading' AND s.expires_at <= now() THEN
        RAISE EXCEPTION 'the upload expired at %', s.expires_at USING ERRCODE = 'CD410';
    END IF;
    RETURN coditect_internal.upload_answer(s);
END
$$;

-- PATCH /api/v1/uploads/{id} (tus core + checksum): Upload-Offset, Upload-Checksum
-- ("sha256 <base64>"; other algorithms are 400) and the bytes.
CREATE FUNCTION coditect.upload_append(p_id uuid, p_upload_offset text, p_upload_checksum text, p_data bytea)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[];
    sum   bytea;
BEGIN
    IF p_upload_checksum IS NOT NULL THEN
        parts := regexp_split_to_array(btrim(p_upload_checksum), ' +');
        IF cardinality(parts) <> 2 OR lower(parts[1]) <> 'sha256' THEN
            RAISE EXCEPTION 'Upload-Checksum must be "sha256 <base64 digest>"' USING ERRCODE = 'CD400';
        END IF;
        BEGIN
            sum := decode(parts[2], 'base64');
        EXCEPTION WHEN invalid_parameter_value THEN
            sum := NULL;
        END;
        IF sum IS NULL OR octet_length(sum) <> 32 THEN
            RAISE EXCEPTION 'Upload-Checksum must be "sha256 <base64 digest>"' USING ERRCODE = 'CD400';
        END IF;
    END IF;
    RETURN coditect.storage_append(p_id, coditect_internal.tus_number(p_upload_offset, 'Upload-Offset'),
                                   coalesce(p_data, '\x'), sum);
END
$$;

-- Whether the caller may read a blob: owners and admins any of the tenant's, members those
-- they uploaded. (The document layer decides by its own permissions and reads the same way.)
-- PL/pgSQL: Citus cannot plan a SQL function's statement on a distributed table.
CREATE FUNCTION coditect_internal.blob_readable(p_tenant uuid, p_user uuid, p_blob uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coditect.current_user_role() IN ('owner', 'admin')
        OR EXISTS (SELECT 1 FROM coditect.upload_sessions u
                    WHERE u.tenant_id = p_tenant AND u.blob_id = p_blob AND u.user_id = p_user AND u.status = 'completed');
END
$$;

-- What a download's access decision answers the gateway's "content" protocol: the blob to read
-- with storage_read, its size, the read size, its SHA-256 (hex, the ETag), type and file name.
CREATE FUNCTION coditect_internal.content_answer(p_blob uuid, p_size bigint, p_sha256 text, p_content_type text,
                                                 p_filename text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('blob_id', p_blob, 'size', p_size, 'chunk_size', coditect.storage_chunk_size(),
                              'sha256', p_sha256, 'content_type', p_content_type, 'filename', p_filename)
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.content_answer(uuid, bigint, text, text, text)
    TO coditect_gateway, coditect_service;

-- GET /api/v1/blobs/{id}/content: the one access decision of a download. Answers what the
-- gateway needs to stream it (it then reads with storage_read in the same transaction).
CREATE FUNCTION coditect.blob_download(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me record := coditect_internal.storage_caller();
    b  coditect.storage_blobs;
BEGIN
    PERFORM coditect.require_permission('blob.download');
    SELECT * INTO b FROM coditect.storage_blobs x WHERE x.tenant_id = me.tenant_id AND x.id = p_id AND x.status = 'ready';
    IF NOT FOUND OR NOT coditect_internal.blob_readable(me.tenant_id, me.user_id, p_id) THEN
        RAISE EXCEPTION 'no file %', p_id USING ERRCODE = 'CD404';
    END IF;
    RETURN coditect_internal.content_answer(b.id, b.size_bytes, encode(b.sha256, 'hex'), b.content_type,
        (SELECT u.filename FROM coditect.upload_sessions u
          WHERE u.tenant_id = me.tenant_id AND u.blob_id = b.id AND u.status = 'completed'
            AND u.filename IS NOT NULL
          ORDER BY (u.user_id = me.user_id) DESC, u.completed_at DESC LIMIT 1));
END
$$;

REVOKE ALL ON FUNCTION coditect.storage_begin_upload(bigint, jsonb), coditect.storage_append(uuid, bigint, bytea, bytea),
    coditect.storage_read(uuid, bigint, int), coditect.purge_upload_sessions(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.storage_begin_upload(bigint, jsonb), coditect.storage_append(uuid, bigint, bytea, bytea),
    coditect.storage_read(uuid, bigint, int), coditect_internal.storage_read_chunks(uuid, uuid, bigint, int)
    TO coditect_gateway, coditect_service;

SELECT coditect_internal.register_action('upload', 'create', 'coditect.upload_create(text, text)',
    'POST', '/api/v1/uploads/',
    '[{"from": "header", "name": "Upload-Length"}, {"from": "header", "name": "Upload-Metadata"}]',
    p_permission => 'upload.create', p_status => 201,
    p_response => jsonb_build_object('protocol', 'tus_create',
        'max_size', (SELECT max(coditect.storage_max_file_size(t)) FROM unnest(enum_range(NULL::coditect.tenant_tier)) t)),
    p_summary => 'Declare an upload (tus creation: Upload-Length, Upload-Metadata); 201 with its Location');
SELECT coditect_internal.register_action('upload', 'status', 'coditect.upload_progress(uuid)',
    'GET', '/api/v1/uploads/{id}', '[{"from": "path", "name": "id"}]',
    p_permission => 'upload.create', p_response => '{"protocol": "tus_status"}',
    p_summary => 'An upload''s offset (tus HEAD; Upload-Offset, Upload-Length)');
SELECT coditect_internal.register_action('upload', 'append', 'coditect.upload_append(uuid, text, text, bytea)',
    'PATCH', '/api/v1/uploads/{id}',
    '[{"from": "path", "name": "id"}, {"from": "header", "name": "Upload-Offset"},
      {"from": "header", "name": "Upload-Checksum"}, {"from": "body_octets"}]',
    p_permission => 'upload.create', p_response => '{"protocol": "tus_append"}',
    p_summary => 'Append bytes at the upload''s offset (tus PATCH, application/offset+octet-stream)');
SELECT coditect_internal.register_action('blob', 'download', 'coditect.blob_download(uuid)',
    'GET', '/api/v1/blobs/{id}/content', '[{"from": "path", "name": "id"}]',
    p_permission => 'blob.download', p_response => '{"protocol": "content"}',
    p_summary => 'The file''s bytes, streamed (Range, ETag: its SHA-256)');

-- The tus adapters run with the caller's rights (the gateway's, a service's): the pure
-- helpers they and storage_read use.
GRANT EXECUTE ON FUNCTION coditect_internal.tus_metadata(text), coditect_internal.tus_number(text, text),
    coditect.storage_chunk_size(), coditect.storage_max_file_size(coditect.tenant_tier)
    TO coditect_gateway, coditect_service;

-- 42_documents: folders, documents, their versions and permissions (issue 10), on the file
-- storage of 40_storage.sql. Access inside a tenant is the database's: row-level security asks
-- coditect_internal.document_level() for every row, so the API, services and analysts see the
-- same documents. Shares and activity are in 44_document_shares.sql.

CREATE TYPE coditect.document_status AS ENUM ('draft', 'published', 'archived', 'deleted');
COMMENT ON TYPE coditect.document_status IS
    'draft -> published -> archived (and back to published); deleted while soft-deleted, a restore makes a draft.';
CREATE TYPE coditect.document_permission_level AS ENUM ('view', 'edit', 'delete', 'admin');
COMMENT ON TYPE coditect.document_permission_level IS
    'view < edit < delete < admin: each level includes the ones before it; admin also manages the permissions.';

------------------------------------------------------------------------------------------------
-- Folders: a tree per tenant, at most 10 deep. path, depth and ancestors are computed.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.folders (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id  uuid,
    parent_id   uuid,
    name        varchar(255) NOT NULL CONSTRAINT folders_name_check CHECK (name ~ '\S' AND name !~ '[/[:cntrl:]]'),
    description text NOT NULL DEFAULT '',
    -- Computed by the database (folder_tree): '/Engineering/Specs', 1 for a top folder, and the
    -- ids from the top folder down to the parent.
    path        varchar(2800) NOT NULL DEFAULT '',
    depth       int NOT NULL DEFAULT 1 CONSTRAINT folders_depth_check CHECK (depth BETWEEN 1 AND 10),
    ancestors   uuid[] NOT NULL DEFAULT '{}',
    created_by  uuid DEFAULT coditect.current_user_id(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES coditect.folders (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.folders', '{tenant_id,project_id}', '{project_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.folders', '{tenant_id,parent_id}', '{parent_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.folders', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.folders IS 'Folders of documents, a tree at most 10 deep.';
COMMENT ON COLUMN coditect.folders.path IS 'The names from the top folder down, "/Engineering/Specs"; computed.';
COMMENT ON COLUMN coditect.folders.depth IS '1 for a top folder, at most 10; computed.';
COMMENT ON COLUMN coditect.folders.ancestors IS 'The ids from the top folder down to the parent; computed.';
-- Names are unique among a parent's live children (the top level included: NULLS NOT DISTINCT).
CREATE UNIQUE INDEX folders_tenant_parent_name_key ON coditect.folders (tenant_id, parent_id, name) NULLS NOT DISTINCT
    WHERE deleted_at IS NULL;
-- A folder's subtree by path prefix (moves rewrite it); lookups by path.
CREATE INDEX folders_tenant_path_idx ON coditect.folders (tenant_id, path text_pattern_ops);
CREATE INDEX folders_tenant_project_idx ON coditect.folders (tenant_id, project_id);
CREATE INDEX folders_tenant_created_idx ON coditect.folders (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- BEFORE INSERT or UPDATE: computes path, depth and ancestors from the parent; refuses a cycle
-- and a tree deeper than 10. Moves and renames in a tenant are serialized (an advisory lock per
-- tenant), so two concurrent moves cannot make a cycle. A parent must be live; a folder with
-- live children or documents cannot be deleted. With a request context: changing a folder needs
-- the edit level on it, deleting or restoring it delete, and putting it into a parent edit on
-- that parent. Definer rights: what the caller may not see counts too (a hidden child keeps a
-- folder from being deleted).
CREATE FUNCTION coditect_internal.folder_tree() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- (Another tenant's row is row-level security's to refuse.)
    me       uuid := CASE WHEN NEW.tenant_id = coditect.current_tenant_id() THEN coditect.current_user_id() END;
    par      record;
    deepest  int;
    moved    boolean := TG_OP = 'INSERT' OR NEW.parent_id IS DISTINCT FROM OLD.parent_id;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- A descendant rewritten by folder_subtree (path, depth and ancestors: no client writes them).
        IF NOT moved AND NEW.name = OLD.name AND NEW.path IS DISTINCT FROM OLD.path THEN
            RETURN NEW;
        END IF;
        IF me IS NOT NULL THEN
            PERFORM coditect_internal.require_level(
                (coditect_internal.document_grant(OLD.tenant_id, NULL, OLD.id, OLD.created_by)).level,
                CASE WHEN NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN 3 ELSE 2 END,
                CASE WHEN NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN 'deleting or restoring a folder' ELSE 'changing a folder' END);
        END IF;
        IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL
           AND (EXISTS (SELECT 1 FROM coditect.folders f WHERE f.tenant_id = NEW.tenant_id AND f.parent_id = NEW.id AND f.deleted_at IS NULL)
                OR EXISTS (SELECT 1 FROM coditect.documents d WHERE d.tenant_id = NEW.tenant_id AND d.folder_id = NEW.id AND d.deleted_at IS NULL)) THEN
            RAISE EXCEPTION 'folder "%" is not empty: delete or move what it holds first', NEW.name USING ERRCODE = 'CD409';
        END IF;
        IF NOT moved AND NEW.name = OLD.name THEN
            RETURN NEW;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('coditect.folders:' || NEW.tenant_id::text, 0));
    IF NEW.parent_id IS NULL THEN
        NEW.path := '/' || NEW.name;
        NEW.depth := 1;
        NEW.ancestors := '{}';
    ELSE
        SELECT f.path, f.depth, f.ancestors, f.deleted_at INTO par
          FROM coditect.folders f WHERE f.tenant_id = NEW.tenant_id AND f.id = NEW.parent_id;
        IF NOT FOUND OR par.deleted_at IS NOT NULL
           OR (me IS NOT NULL AND moved AND coditect_internal.folder_level(NEW.tenant_id, NEW.parent_id) < 1) THEN
            RAISE EXCEPTION 'parent folder % not found', NEW.parent_id USING ERRCODE = 'CD404';
        END IF;
        IF me IS NOT NULL AND moved THEN
            PERFORM coditect_internal.require_level(coditect_internal.folder_level(NEW.tenant_id, NEW.parent_id), 2,
                                                    'putting a folder into another');
        END IF;
        IF NEW.id = NEW.parent_id OR NEW.id = ANY (par.ancestors) THEN
            RAISE EXCEPTION 'a folder cannot move into itself or one of its subfolders' USING ERRCODE = 'CD422';
        END IF;
        NEW.path := par.path || '/' || NEW.name;
        NEW.depth := par.depth + 1;
        NEW.ancestors := par.ancestors || NEW.parent_id;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT max(f.depth) INTO deepest FROM coditect.folders f
         WHERE f.tenant_id = NEW.tenant_id AND OLD.id = ANY (f.ancestors)
           AND f.path LIKE coditect_internal.like_prefix(OLD.path) || '/%';
        IF deepest - OLD.depth + NEW.depth > 10 THEN
            RAISE EXCEPTION 'folders nest at most 10 deep: the move would make % levels', deepest - OLD.depth + NEW.depth
                USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF NEW.depth > 10 THEN
        RAISE EXCEPTION 'folders nest at most 10 deep' USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- A LIKE pattern matching p literally (for path prefixes).
CREATE FUNCTION coditect_internal.like_prefix(p text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace(replace(replace(p, '\', '\\'), '%', '\%'), '_', '\_')
$$;

-- AFTER a move or rename: every descendant's path, depth and ancestors follow, in the same
-- statement (definer rights: a descendant the caller cannot see moves too).
CREATE FUNCTION coditect_internal.folder_subtree() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.path IS DISTINCT FROM OLD.path THEN
        UPDATE coditect.folders f
           SET path = NEW.path || substr(f.path, char_length(OLD.path) + 1),
               depth = f.depth - OLD.depth + NEW.depth,
               ancestors = NEW.ancestors || NEW.id || f.ancestors[cardinality(OLD.ancestors) + 2:]
         WHERE f.tenant_id OPERATOR(pg_catalog.=) NEW.tenant_id AND NEW.id OPERATOR(pg_catalog.=) ANY (f.ancestors)
           AND f.path LIKE coditect_internal.like_prefix(OLD.path) || '/%';
    END IF;
    RETURN NULL;
END
$$;

------------------------------------------------------------------------------------------------
-- Documents and their versions
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.documents (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id      uuid,
    folder_id       uuid,
    title           varchar(500) NOT NULL CHECK (title ~ '\S'),
    description     text NOT NULL DEFAULT '',
    -- The current version's file (kept by document_versions' trigger).
    file_path       varchar(1000),
    file_name       varchar(255),
    file_size_bytes bigint CHECK (file_size_bytes >= 0),
    mime_type       varchar(255),
    checksum        varchar(64) CHECK (checksum ~ '^[0-9a-f]{64}$'),
    version         int NOT NULL DEFAULT 0 CHECK (version >= 0),
    status          coditect.document_status NOT NULL DEFAULT 'draft',
    owner_id        uuid DEFAULT coditect.current_user_id(),
    created_by      uuid DEFAULT coditect.current_user_id(),
    updated_by      uuid DEFAULT coditect.current_user_id(),
    tags            coditect.json_array NOT NULL DEFAULT '[]'
                    CHECK (NOT jsonb_path_exists(tags, 'strict $[*] ? (@.type() != "string")')),
    metadata        coditect.json_object NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id),
    FOREIGN KEY (tenant_id, folder_id) REFERENCES coditect.folders (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, updated_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,project_id}', '{project_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,folder_id}', '{folder_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,owner_id}', '{owner_id}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,created_by}', '{created_by}');
SELECT coditect_internal.declare_null_on_delete('coditect.documents', '{tenant_id,updated_by}', '{updated_by}');
COMMENT ON TABLE coditect.documents IS 'Documents: a file with its versions, in a folder (or at the top).';
COMMENT ON COLUMN coditect.documents.version IS 'The current version number (0 until the first file).';
COMMENT ON COLUMN coditect.documents.checksum IS 'SHA-256 of the current version (hex).';
COMMENT ON COLUMN coditect.documents.file_path IS 'Where the current version''s bytes are: "db:<sha256>" (stored in PostgreSQL).';
COMMENT ON COLUMN coditect.documents.owner_id IS 'The owner has every right on the document; defaults to its creator.';
-- The seeds' indexes, led by tenant_id.
CREATE INDEX documents_tenant_folder_idx ON coditect.documents (tenant_id, folder_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX documents_tenant_owner_idx ON coditect.documents (tenant_id, owner_id);
CREATE INDEX documents_tenant_checksum_idx ON coditect.documents (tenant_id, checksum);
CREATE INDEX documents_tenant_status_updated_idx ON coditect.documents (tenant_id, status, updated_at DESC);
CREATE INDEX documents_tenant_project_idx ON coditect.documents (tenant_id, project_id) WHERE deleted_at IS NULL;
CREATE INDEX documents_tenant_created_idx ON coditect.documents (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
-- "The same document" for an upload: a live document of that file name in that folder.
CREATE INDEX documents_tenant_folder_name_idx ON coditect.documents (tenant_id, folder_id, lower(file_name))
    WHERE deleted_at IS NULL;

CREATE TABLE coditect.document_versions (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id     uuid NOT NULL,
    version_number  int NOT NULL,
    blob_id         uuid NOT NULL,
    file_path       varchar(1000) NOT NULL,
    file_name       varchar(255) NOT NULL,
    file_size_bytes bigint NOT NULL CHECK (file_size_bytes >= 0),
    mime_type       varchar(255) NOT NULL,
    checksum        varchar(64) NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    change_summary  text NOT NULL DEFAULT '',
    created_by      uuid DEFAULT coditect.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT document_versions_number_key UNIQUE (tenant_id, document_id, version_number),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_versions', '{tenant_id,created_by}', '{created_by}');
COMMENT ON TABLE coditect.document_versions IS 'Every file a document has had, numbered 1, 2, 3, ... without gaps.';
CREATE INDEX document_versions_blob_idx ON coditect.document_versions (tenant_id, blob_id);

-- BEFORE INSERT: the next number of the document, taken under the document row's lock (so
-- concurrent uploads get consecutive numbers and a rolled-back one gives its number back), and
-- the document shows the new file. AFTER DELETE: the version's hold on its bytes goes.
CREATE FUNCTION coditect_internal.number_document_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- A variable, not the call inside coalesce: Citus refuses a non-immutable function in a
    -- CASE or COALESCE of a statement it routes (this one runs on the document's shard).
    v_user uuid := coditect.current_user_id();
BEGIN
    UPDATE coditect.documents d
       SET version = d.version + 1, file_path = NEW.file_path, file_name = NEW.file_name,
           file_size_bytes = NEW.file_size_bytes, mime_type = NEW.mime_type, checksum = NEW.checksum,
           updated_by = coalesce(v_user, d.updated_by)
     WHERE d.tenant_id OPERATOR(pg_catalog.=) NEW.tenant_id AND d.id OPERATOR(pg_catalog.=) NEW.document_id
    RETURNING d.version INTO NEW.version_number;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % not found', NEW.document_id USING ERRCODE = 'CD404';
    END IF;
    RETURN NEW;
END
$$;


------------------------------------------------------------------------------------------------
-- Permissions inside a tenant
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.document_permissions (
    tenant_id        uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    document_id      uuid,
    folder_id        uuid,
    user_id          uuid,
    team_id          uuid,
    permission_level coditect.document_permission_level NOT NULL DEFAULT 'view',
    granted_by       uuid DEFAULT coditect.current_user_id(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    -- On a document or on a folder, to a user or to a team. A grant goes with what it names
    -- (CASCADE: the seeds' SET_NULL would leave a grant on nothing).
    CONSTRAINT document_permissions_target_check CHECK (num_nonnulls(document_id, folder_id) = 1),
    CONSTRAINT document_permissions_grantee_check CHECK (num_nonnulls(user_id, team_id) = 1),
    FOREIGN KEY (tenant_id, document_id) REFERENCES coditect.documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, folder_id) REFERENCES coditect.folders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, team_id) REFERENCES coditect.teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, granted_by) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.document_permissions', '{tenant_id,granted_by}', '{granted_by}');
COMMENT ON TABLE coditect.document_permissions IS
    'Grants on a document or a folder (inherited by what it holds) to a user or a team, until expires_at.';
-- One grant per target and grantee; the seeds' (document, user) and (folder, team) indexes.
CREATE UNIQUE INDEX document_permissions_grant_key
    ON coditect.document_permissions (tenant_id, document_id, folder_id, user_id, team_id) NULLS NOT DISTINCT;
CREATE INDEX document_permissions_folder_team_idx ON coditect.document_permissions (tenant_id, folder_id, team_id);
CREATE INDEX document_permissions_user_idx ON coditect.document_permissions (tenant_id, user_id);
CREATE INDEX document_permissions_team_idx ON coditect.document_permissions (tenant_id, team_id);


-- The caller's level on a document or folder (0 none, 1 view, 2 edit, 3 delete, 4 admin) and
-- where it comes from. Owners and admins of the tenant: admin ('role'); the document's owner or
-- the folder's creator: admin ('owner'); otherwise the document's own grants when it has any
-- unexpired one ('document'), else those of the nearest folder above it (or of the folder
-- itself) that has one ('folder', source_id naming it): the highest level among the grants
-- naming the caller or one of the caller's teams, none when they name others only. An analyst
-- (a bound login, no user) reads everything of its tenant ('analyst'). Definer rights: grants,
-- teams and folders are read whoever asks, for the context's tenant only. p_document NULL asks
-- for the folder p_folder itself.
CREATE FUNCTION coditect_internal.document_grant(p_tenant uuid, p_document uuid, p_folder uuid, p_owner uuid,
                                                 OUT level int, OUT source text, OUT source_id uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me    uuid := coditect.current_user_id();
    teams uuid[];
    chain uuid[];
    n     bigint;
BEGIN
    level := 0;
    IF p_tenant IS NULL OR p_tenant IS DISTINCT FROM coditect.current_tenant_id() THEN
        RETURN;
    ELSIF me IS NULL THEN
        level := 1;
        source := 'analyst';
        RETURN;
    ELSIF coditect.current_user_role() IN ('owner', 'admin') THEN
        level := 4;
        source := 'role';
        RETURN;
    ELSIF p_owner = me THEN
        level := 4;
        source := 'owner';
        source_id := coalesce(p_document, p_folder);
        RETURN;
    END IF;
    teams := coditect_internal.my_teams();  -- p_tenant is the context's (checked above)
    IF p_document IS NOT NULL THEN
        SELECT count(*), max(array_position(enum_range(NULL::coditect.document_permission_level), p.permission_level))
                             FILTER (WHERE p.user_id = me OR p.team_id = ANY (teams))
          INTO n, level
          FROM coditect.document_permissions p
         WHERE p.tenant_id = p_tenant AND p.document_id = p_document AND (p.expires_at IS NULL OR p.expires_at > now());
        IF n > 0 THEN
            level := coalesce(level, 0);
            source := 'document';
            source_id := p_document;
            RETURN;
        END IF;
    END IF;
    IF p_folder IS NOT NULL THEN
        SELECT f.ancestors || f.id INTO chain FROM coditect.folders f WHERE f.tenant_id = p_tenant AND f.id = p_folder;
        SELECT p.folder_id,
               max(array_position(enum_range(NULL::coditect.document_permission_level), p.permission_level))
                   FILTER (WHERE p.user_id = me OR p.team_id = ANY (teams))
          INTO source_id, level
          FROM coditect.document_permissions p
         WHERE p.tenant_id = p_tenant AND p.folder_id = ANY (chain) AND (p.expires_at IS NULL OR p.expires_at > now())
         GROUP BY p.folder_id
         ORDER BY array_position(chain, p.folder_id) DESC
         LIMIT 1;
        IF source_id IS NOT NULL THEN
            level := coalesce(level, 0);
            source := 'folder';
            RETURN;
        END IF;
    END IF;
    level := 0;
END
$$;

-- The caller's level on a folder or a document, by its id (for policies and triggers on what a
-- folder holds or a document has). C (src_ext/pg_nested_read.cpp) calling the PL/pgSQL *_body,
-- so that on a Citus worker the reads run inside the shard query. PL/pgSQL, the grant computed
-- outside the statement: Citus cannot plan a SQL function's statement on a distributed table
-- (its parameters), and would run document_grant's own reads on the shard.
CREATE FUNCTION coditect_internal.folder_level_body(p_tenant uuid, p_folder uuid) RETURNS int
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_owner uuid;
BEGIN
    SELECT f.created_by INTO v_owner FROM coditect.folders f
     WHERE f.tenant_id OPERATOR(pg_catalog.=) p_tenant AND f.id OPERATOR(pg_catalog.=) p_folder;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN coalesce((coditect_internal.document_grant(p_tenant, NULL, p_folder, v_owner)).level, 0);
END
$$;
CREATE FUNCTION coditect_internal.document_level_body(p_tenant uuid, p_document uuid) RETURNS int
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_folder uuid;
    v_owner  uuid;
BEGIN
    SELECT d.folder_id, d.owner_id INTO v_folder, v_owner FROM coditect.documents d
     WHERE d.tenant_id OPERATOR(pg_catalog.=) p_tenant AND d.id OPERATOR(pg_catalog.=) p_document;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN coalesce((coditect_internal.document_grant(p_tenant, p_document, v_folder, v_owner)).level, 0);
END
$$;
CREATE FUNCTION coditect_internal.folder_level(p_tenant uuid, p_folder uuid) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_folder_level' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.document_level(p_tenant uuid, p_document uuid) RETURNS int
    AS 'MODULE_PATHNAME', 'coditect_document_level' LANGUAGE C STABLE;

-- What the caller's grants reach, as sets a query computes once (through the read policies' *_granted
-- functions below) instead of per row: the documents with grants of their own (for anyone), those of them whose
-- grants name the caller or a team of the caller, and the folders whose nearest folder with
-- grants (itself or above) names the caller or a team of the caller. The same rule as
-- document_grant(); any grant gives at least view. Unexpired grants only; the context's tenant.
-- PL/pgSQL, the context's tenant in a variable: on a Citus worker (inside a shard query) Citus
-- routes each read to the tenant's shard here by that value (a function call in the statement
-- would send it to every shard; a SQL function's parameter it cannot plan).
CREATE FUNCTION coditect_internal.my_teams() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    v_user   uuid := coditect.current_user_id();
    v_teams  uuid[];
BEGIN
    IF v_tenant IS NULL THEN
        RETURN '{}';
    END IF;
    SELECT coalesce(array_agg(tm.team_id), '{}') INTO v_teams FROM coditect.team_members tm
     WHERE tm.tenant_id = v_tenant AND tm.user_id = v_user;
    RETURN v_teams;
END
$$;
CREATE FUNCTION coditect_internal.granted_documents(p_mine boolean) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    v_user   uuid := coditect.current_user_id();
    v_teams  uuid[];
    v_ids    uuid[];
BEGIN
    IF v_tenant IS NULL THEN
        RETURN '{}';
    END IF;
    IF p_mine THEN
        v_teams := coditect_internal.my_teams();
    END IF;
    SELECT coalesce(array_agg(DISTINCT p.document_id), '{}') INTO v_ids FROM coditect.document_permissions p
     WHERE p.tenant_id = v_tenant AND p.document_id IS NOT NULL
       AND (p.expires_at IS NULL OR p.expires_at > now())
       AND (NOT p_mine OR p.user_id = v_user OR p.team_id = ANY (v_teams));
    RETURN v_ids;
END
$$;
CREATE FUNCTION coditect_internal.granted_folders() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();
    v_user   uuid := coditect.current_user_id();
    v_teams  uuid[];
    v_ids    uuid[];
BEGIN
    IF v_tenant IS NULL THEN
        RETURN '{}';
    END IF;
    v_teams := coditect_internal.my_teams();
    WITH granted AS (
        SELECT p.folder_id, bool_or(p.user_id = v_user OR p.team_id = ANY (v_teams)) AS mine
          FROM coditect.document_permissions p
         WHERE p.tenant_id = v_tenant AND p.folder_id IS NOT NULL
           AND (p.expires_at IS NULL OR p.expires_at > now())
         GROUP BY p.folder_id)
    SELECT coalesce(array_agg(f.id), '{}') INTO v_ids
      FROM coditect.folders f
     CROSS JOIN LATERAL (SELECT g.mine FROM unnest(f.ancestors || f.id) WITH ORDINALITY a(id, n)
                           JOIN granted g ON g.folder_id = a.id ORDER BY a.n DESC LIMIT 1) nearest
     WHERE f.tenant_id = v_tenant AND nearest.mine;
    RETURN v_ids;
END
$$;

-- The read policies' tests on those sets, a function call per row (policies hold no subquery:
-- Citus refuses them) that still reads each set once per query: C, keeping the sets of its first
-- call in the query's memory (src_ext/pg_granted.cpp). folder_granted: the folder is in
-- granted_folders(); document_granted: the document is in granted_documents(true), or its folder
-- in granted_folders() and it is not in granted_documents(false). False for another tenant's row.
CREATE FUNCTION coditect_internal.folder_granted(p_tenant uuid, p_folder uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_folder_granted' LANGUAGE C STABLE;
CREATE FUNCTION coditect_internal.document_granted(p_tenant uuid, p_document uuid, p_folder uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_document_granted' LANGUAGE C STABLE;

-- The policies call these as whoever reads or writes.
GRANT EXECUTE ON FUNCTION coditect_internal.document_grant(uuid, uuid, uuid, uuid), coditect_internal.folder_level(uuid, uuid),
    coditect_internal.document_level(uuid, uuid), coditect_internal.my_teams(), coditect_internal.granted_documents(boolean),
    coditect_internal.granted_folders(), coditect_internal.folder_granted(uuid, uuid),
    coditect_internal.document_granted(uuid, uuid, uuid) TO coditect_gateway, coditect_service, coditect_analyst;

-- Reading: row-level security beyond the tenant (the tenant policy narrowed for SELECT by
-- narrow_tenant_policy, sql/00_base.sql, after each table's register_resource below) shows a
-- row to whoever holds the view level on it. Writing: the triggers below ask for the level each
-- change needs and refuse with CD403 naming it (a policy would make a refused UPDATE or DELETE
-- silently change nothing).

-- The level a grant's target gives the caller.
CREATE FUNCTION coditect_internal.grant_target_level(p_tenant uuid, p_document uuid, p_folder uuid) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_document IS NOT NULL THEN coditect_internal.document_level(p_tenant, p_document)
                ELSE coditect_internal.folder_level(p_tenant, p_folder) END
$$;
GRANT EXECUTE ON FUNCTION coditect_internal.grant_target_level(uuid, uuid, uuid)
    TO coditect_gateway, coditect_service, coditect_analyst;

-- Refuses, for a caller with a request context, a change that needs more than p_have.
CREATE FUNCTION coditect_internal.require_level(p_have int, p_need int, p_what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_have < p_need THEN
        RAISE EXCEPTION '% needs the % level', p_what, (enum_range(NULL::coditect.document_permission_level))[p_need]
            USING ERRCODE = 'CD403';
    END IF;
END
$$;

GRANT EXECUTE ON FUNCTION coditect_internal.require_level(int, int, text) TO coditect_gateway, coditect_service;

-- BEFORE INSERT, UPDATE or DELETE of a grant: the admin level on what it names.
CREATE FUNCTION coditect_internal.document_permission_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r coditect.document_permissions := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    -- (A row of another tenant is row-level security's to refuse.)
    IF coditect.current_user_id() IS NOT NULL AND r.tenant_id = coditect.current_tenant_id() THEN
        PERFORM coditect_internal.require_level(coditect_internal.grant_target_level(r.tenant_id, r.document_id, r.folder_id), 4,
                                                'managing the permissions of a document or folder');
    END IF;
    RETURN r;
END
$$;

------------------------------------------------------------------------------------------------
-- Rules of documents: status, deletion, ownership, who edited
------------------------------------------------------------------------------------------------

INSERT INTO coditect.state_transitions (machine, from_status, to_status, stamp_column) VALUES
    ('document', NULL,        'draft',     NULL),
    ('document', NULL,        'published', NULL),
    ('document', 'draft',     'published', NULL),
    ('document', 'published', 'draft',     NULL),
    ('document', 'published', 'archived',  NULL),
    ('document', 'archived',  'published', NULL),
    ('document', 'draft',     'deleted',   NULL),
    ('document', 'published', 'deleted',   NULL),
    ('document', 'archived',  'deleted',   NULL),
    ('document', 'deleted',   'draft',     NULL);

-- BEFORE INSERT or UPDATE (named to run before enforce_transition). The status "deleted" and the
-- soft delete are one thing: setting either sets the other, a restore (either way) makes a
-- draft. With a request context: a document goes into a folder only with the edit level on it
-- (a folder the caller cannot see is not found); changing a document needs the edit level on
-- it, deleting or restoring it delete, giving it to another owner admin; a move must leave the
-- caller the edit level (nobody moves a document out of their own reach by mistake); updated_by
-- is the caller.
CREATE FUNCTION coditect_internal.document_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me   uuid := coditect.current_user_id();
    need int := 2;
    what text := 'changing a document';
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM coditect.current_tenant_id() THEN
        me := NULL;  -- another tenant's row: row-level security's to refuse
    END IF;
    IF me IS NOT NULL AND NEW.folder_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.folder_id IS DISTINCT FROM OLD.folder_id) THEN
        IF coditect_internal.folder_level(NEW.tenant_id, NEW.folder_id) < 1 THEN
            RAISE EXCEPTION 'folder % not found', NEW.folder_id USING ERRCODE = 'CD404';
        END IF;
        PERFORM coditect_internal.require_level(coditect_internal.folder_level(NEW.tenant_id, NEW.folder_id), 2,
                                                'putting a document into a folder');
    END IF;
    IF TG_OP = 'INSERT' THEN
        RETURN NEW;
    END IF;
    IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
        NEW.status := 'deleted';
    ELSIF NEW.deleted_at IS NULL AND OLD.deleted_at IS NOT NULL THEN
        NEW.status := 'draft';
    ELSIF NEW.status = 'deleted' AND OLD.status <> 'deleted' THEN
        NEW.deleted_at := now();
    ELSIF OLD.status = 'deleted' AND NEW.status <> 'deleted' THEN
        NEW.deleted_at := NULL;
    END IF;
    IF me IS NOT NULL THEN
        NEW.updated_by := me;
        IF NEW.owner_id IS DISTINCT FROM OLD.owner_id THEN
            need := 4;
            what := 'giving a document to another owner';
        ELSIF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
            need := 3;
            what := 'deleting or restoring a document';
        END IF;
        PERFORM coditect_internal.require_level(
            (coditect_internal.document_grant(OLD.tenant_id, OLD.id, OLD.folder_id, OLD.owner_id)).level, need, what);
        IF NEW.folder_id IS DISTINCT FROM OLD.folder_id THEN
            PERFORM coditect_internal.require_level(
                (coditect_internal.document_grant(NEW.tenant_id, NEW.id, NEW.folder_id, NEW.owner_id)).level, 2,
                'moving a document where its edit level would be lost');
        END IF;
    END IF;
    RETURN NEW;
END
$$;

------------------------------------------------------------------------------------------------
-- Resources
------------------------------------------------------------------------------------------------

SELECT coditect_internal.register_resource('coditect.folders', 'folder',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member", "restore": "admin"}',
    p_create => '{project_id,parent_id,name,description}', p_update => '{project_id,parent_id,name,description}',
    p_filters => '{"parent_id": ["exact", "isnull"], "project_id": ["exact"], "name": ["exact"], "path": ["exact"],
                   "depth": ["exact", "lte"], "ancestors": ["contains"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name,path}', p_search => '{name,description}',
    p_example => '{"name": "Specs", "description": "Design documents"}');
-- The rule of document_grant(), with the grants' reach computed once per query (the *_granted
-- functions above).
SELECT coditect_internal.narrow_tenant_policy('coditect.folders', 'SELECT',
    $$coditect.current_user_role() IN ('owner', 'admin') OR coditect.current_user_id() IS NULL
      OR created_by = coditect.current_user_id()
      OR coditect_internal.folder_granted(tenant_id, id)$$);
-- path, depth and ancestors are the tree trigger's (on insert: protect_insert_columns, 00_base).
REVOKE INSERT, UPDATE ON coditect.folders FROM coditect_gateway, coditect_service;
GRANT INSERT, UPDATE (project_id, parent_id, name, description, deleted_at)
    ON coditect.folders TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.folders', '{path,depth,ancestors}');
CREATE TRIGGER folder_tree BEFORE INSERT OR UPDATE ON coditect.folders
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.folder_tree();
CREATE TRIGGER folder_subtree AFTER UPDATE ON coditect.folders
    FOR EACH ROW WHEN (OLD.parent_id IS DISTINCT FROM NEW.parent_id OR OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION coditect_internal.folder_subtree();
ALTER TABLE coditect.folders ENABLE ALWAYS TRIGGER folder_tree, ENABLE ALWAYS TRIGGER folder_subtree;

SELECT coditect_internal.register_resource('coditect.documents', 'document', p_state_machine => 'document',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member", "restore": "admin"}',
    p_create => '{project_id,folder_id,title,description,status,tags,metadata}',
    p_update => '{project_id,folder_id,title,description,status,owner_id,tags,metadata}',
    p_filters => '{"folder_id": ["exact", "isnull"], "project_id": ["exact"], "owner_id": ["exact"], "status": ["exact", "in"],
                   "checksum": ["exact"], "mime_type": ["exact", "in"], "tags": ["contains"], "created_at": ["gte", "lt"],
                   "updated_at": ["gte", "lt"]}',
    p_orderings => '{created_at,updated_at,title}', p_search => '{title,description,tags}',
    p_also_under => '{"project": "project_id", "folder": "folder_id"}',
    p_example => '{"title": "Architecture overview", "description": "How the pieces fit", "tags": ["design"]}');
SELECT coditect_internal.narrow_tenant_policy('coditect.documents', 'SELECT',
    $$coditect.current_user_role() IN ('owner', 'admin') OR coditect.current_user_id() IS NULL
      OR owner_id = coditect.current_user_id()
      OR coditect_internal.document_granted(tenant_id, id, folder_id)$$);
-- The file fields and version are the versions' (uploads); the people fields the database's
-- (on insert: protect_insert_columns, 00_base).
REVOKE INSERT, UPDATE ON coditect.documents FROM coditect_gateway, coditect_service;
GRANT INSERT, UPDATE (project_id, folder_id, title, description, status, owner_id, tags, metadata, deleted_at)
    ON coditect.documents TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.documents',
    '{file_path,file_name,file_size_bytes,mime_type,checksum,version,owner_id,created_by,updated_by}');
CREATE TRIGGER document_rules BEFORE INSERT OR UPDATE ON coditect.documents
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_rules();
ALTER TABLE coditect.documents ENABLE ALWAYS TRIGGER document_rules;

SELECT coditect_internal.register_resource('coditect.document_versions', 'document_version',
    p_parent => 'document', p_parent_column => 'document_id', p_path => '/api/v1/documents/{document_id}/versions/',
    p_roles => '{"view": "guest"}', p_writable => false,
    p_filters => '{"version_number": ["exact", "gte", "lte"], "checksum": ["exact"], "created_at": ["gte", "lt"]}',
    p_orderings => '{version_number,created_at}', p_default_ordering => '-version_number');
SELECT coditect_internal.narrow_tenant_policy('coditect.document_versions', 'SELECT',
    $$coditect.current_user_role() IN ('owner', 'admin') OR coditect_internal.document_level(tenant_id, document_id) >= 1$$);
CREATE TRIGGER number_document_version BEFORE INSERT ON coditect.document_versions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.number_document_version();
CREATE TRIGGER release_held_blob AFTER DELETE ON coditect.document_versions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.release_held_blob();
ALTER TABLE coditect.document_versions ENABLE ALWAYS TRIGGER number_document_version,
    ENABLE ALWAYS TRIGGER release_held_blob;

-- Grants are managed by whoever holds admin on what they name (the policies); members may try.
SELECT coditect_internal.register_resource('coditect.document_permissions', 'document_permission',
    p_path => '/api/v1/document-permissions/',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member"}',
    p_create => '{document_id,folder_id,user_id,team_id,permission_level,expires_at}',
    p_update => '{permission_level,expires_at}',
    p_filters => '{"document_id": ["exact"], "folder_id": ["exact"], "user_id": ["exact"], "team_id": ["exact"],
                   "permission_level": ["exact", "in"], "expires_at": ["isnull", "lt", "gte"]}',
    p_orderings => '{created_at}',
    p_example => '{"document_id": "0190a6e5-7b1c-7cc3-9b2e-1234567890ab", "user_id": "0190a6e5-7b1c-7cc3-9b2e-1234567890ac",
                   "permission_level": "edit", "expires_at": "2027-12-31T00:00:00Z"}');
SELECT coditect_internal.narrow_tenant_policy('coditect.document_permissions', 'SELECT',
    $$coditect.current_user_role() IN ('owner', 'admin')
      OR coditect_internal.grant_target_level(tenant_id, document_id, folder_id) >= 1$$);
REVOKE INSERT, UPDATE ON coditect.document_permissions FROM coditect_gateway, coditect_service;
CREATE TRIGGER document_permission_rules BEFORE INSERT OR UPDATE OR DELETE ON coditect.document_permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.document_permission_rules();
ALTER TABLE coditect.document_permissions ENABLE ALWAYS TRIGGER document_permission_rules;
-- permission.grant / permission.revoke events (11_audit_events).
CREATE TRIGGER audit_grant_change
    AFTER INSERT OR UPDATE OF permission_level, document_id, folder_id, user_id, team_id OR DELETE
    ON coditect.document_permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_grant_change('document_grant');
ALTER TABLE coditect.document_permissions ENABLE ALWAYS TRIGGER audit_grant_change;
-- granted_by is the database's (on insert: protect_insert_columns, 00_base).
GRANT INSERT, UPDATE (permission_level, expires_at)
    ON coditect.document_permissions TO coditect_gateway, coditect_service;
SELECT coditect_internal.protect_insert_columns('coditect.document_permissions', '{granted_by}');

-- Detail answers of projects carry documents_count (the seeds' frontend contract): the live
-- documents of the project the caller may see.
-- PL/pgSQL, not SQL: Citus cannot route a SQL function's statement on its parameters.
CREATE FUNCTION coditect_internal.project_documents_count(p coditect.projects) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT count(*) FROM coditect.documents d
             WHERE d.tenant_id OPERATOR(pg_catalog.=) p.tenant_id AND d.project_id OPERATOR(pg_catalog.=) p.id
               AND d.deleted_at IS NULL);
END
$$;
COMMENT ON FUNCTION coditect_internal.project_documents_count(coditect.projects) IS
    'The project''s live documents that the caller may see.';
SELECT coditect_internal.register_computed_field('project', 'documents_count',
    'coditect_internal.project_documents_count(coditect.projects)');

------------------------------------------------------------------------------------------------
-- Access, download, and what an upload makes
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.document_access_grant AS (
    document_id uuid,
    level       coditect.document_permission_level,
    source      text,
    source_id   uuid
);
COMMENT ON TYPE coditect.document_access_grant IS
    'The caller''s level on a document and where it comes from: role (tenant owner or admin), owner, document (its own grants), folder (source_id: the nearest folder with grants), analyst.';

-- The caller's effective level on a document and its source; CD404 for one the caller cannot see.
CREATE FUNCTION coditect.document_access(p_document uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    d record;
    g record;
BEGIN
    PERFORM coditect.require_permission('document.view');
    SELECT x.tenant_id, x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
     WHERE x.tenant_id = v_tenant AND x.id = p_document AND x.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % not found', p_document USING ERRCODE = 'CD404';
    END IF;
    g := coditect_internal.document_grant(d.tenant_id, d.id, d.folder_id, d.owner_id);
    RETURN jsonb_build_object('document_id', d.id, 'level', (enum_range(NULL::coditect.document_permission_level))[g.level],
                              'source', g.source, 'source_id', g.source_id);
END
$$;
REVOKE ALL ON FUNCTION coditect.document_access(uuid) FROM PUBLIC;
SELECT coditect_internal.register_action('document', 'access', 'coditect.document_access(uuid)',
    'GET', '/api/v1/documents/{id}/access/', '[{"from": "path", "name": "id"}]',
    p_permission => 'document.view', p_response => '{"type": "document_access_grant"}',
    p_summary => 'The caller''s level on the document and where it comes from');

-- GET /api/v1/documents/{id}/content[?version=n]: the one access decision of a download (view
-- level, under the policies), answering what the gateway streams (storage's "content" protocol).
-- Recorded as the document's activity "downloaded" (44_document_shares.sql) and audited as
-- data.export (11_audit_events.sql), so the operation writes although it is a GET.
CREATE FUNCTION coditect.document_download(p_id uuid, p_version int DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v coditect.document_versions;
BEGIN
    PERFORM coditect.require_permission('document.view');
    SELECT x.* INTO v FROM coditect.documents d
      JOIN coditect.document_versions x ON x.tenant_id = d.tenant_id AND x.document_id = d.id
     WHERE d.id = p_id AND d.deleted_at IS NULL AND x.version_number = coalesce(p_version, d.version);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % has no version %', p_id, coalesce(p_version::text, 'yet') USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.record_document_read(p_id, 'downloaded', v.version_number);
    PERFORM coditect_internal.record_export('Document', p_id, v.version_number, v.file_name, v.file_size_bytes);
    RETURN coditect_internal.content_answer(v.blob_id, v.file_size_bytes, v.checksum, v.mime_type, v.file_name);
END
$$;
SELECT coditect_internal.register_action('document', 'download', 'coditect.document_download(uuid, int)',
    'GET', '/api/v1/documents/{id}/content',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "version", "also_query": true}]',
    p_permission => 'document.view', p_response => '{"protocol": "content"}', p_writes => true,
    p_summary => 'The document''s file (the current version, or ?version=n), streamed (Range, ETag: its SHA-256)');

-- Upload targets (storage's hook, 40_storage.sql). target_kind "document": with target_id, the
-- next version of that document (edit level on it); without, a new document from the metadata
-- folder_id, project_id, title (default: the file name), description; or, when a live document
-- of that file name is in that folder and the caller may edit it, its next version: "the same
-- document" is the same folder (or the top) and the same file name, letter case aside. A file
-- whose bytes are those of the current version makes no version. change_summary is kept on the
-- version. Checked when the upload is declared and again when it completes.
CREATE FUNCTION coditect_internal.document_upload_target(p_tenant uuid, p_id uuid, p_metadata jsonb, p_filename text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d      record;
    folder uuid;
BEGIN
    IF p_id IS NOT NULL THEN
        SELECT x.id, x.folder_id, x.owner_id INTO d FROM coditect.documents x
         WHERE x.tenant_id = p_tenant AND x.id = p_id AND x.deleted_at IS NULL;
        IF NOT FOUND OR (coditect_internal.document_grant(p_tenant, d.id, d.folder_id, d.owner_id)).level < 1 THEN
            RAISE EXCEPTION 'document % not found', p_id USING ERRCODE = 'CD404';
        ELSIF (coditect_internal.document_grant(p_tenant, d.id, d.folder_id, d.owner_id)).level < 2 THEN
            RAISE EXCEPTION 'a new version needs the edit level on the document' USING ERRCODE = 'CD403';
        END IF;
        RETURN d.id;
    END IF;
    PERFORM coditect.require_permission('document.create');
    BEGIN
        folder := (p_metadata ->> 'folder_id')::uuid;
        PERFORM (p_metadata ->> 'project_id')::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
        RAISE EXCEPTION 'folder_id and project_id must be UUIDs' USING ERRCODE = 'CD400';
    END;
    IF folder IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM coditect.folders f WHERE f.tenant_id = p_tenant AND f.id = folder AND f.deleted_at IS NULL)
           OR coditect_internal.folder_level(p_tenant, folder) < 1 THEN
            RAISE EXCEPTION 'folder % not found', folder USING ERRCODE = 'CD404';
        ELSIF coditect_internal.folder_level(p_tenant, folder) < 2 THEN
            RAISE EXCEPTION 'a new document needs the edit level on its folder' USING ERRCODE = 'CD403';
        END IF;
    END IF;
    IF p_filename IS NULL THEN
        RETURN NULL;
    END IF;
    FOR d IN SELECT x.id, x.folder_id, x.owner_id FROM coditect.documents x
              WHERE x.tenant_id = p_tenant AND x.folder_id IS NOT DISTINCT FROM folder
                AND lower(x.file_name) = lower(p_filename) AND x.deleted_at IS NULL
              ORDER BY x.created_at LOOP
        IF (coditect_internal.document_grant(p_tenant, d.id, d.folder_id, d.owner_id)).level >= 2 THEN
            RETURN d.id;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION coditect_internal.document_upload_check(p_id uuid, p_metadata jsonb) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT FROM coditect_internal.document_upload_target(coditect.current_tenant_id(), p_id, p_metadata, NULL)
$$;

-- At completion, in the upload's transaction: the document (found or made) gets the file as its
-- next version, which takes over the upload's hold on the bytes (or lets it go when the bytes
-- are the current version's). Answers {document_id, version_number, created}.
CREATE FUNCTION coditect_internal.document_upload_completed(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    doc  uuid := coditect_internal.document_upload_target(s.tenant_id, s.target_id, s.metadata, s.filename);
    sha  text;
    cur  record;
    v    int;
BEGIN
    SELECT encode(b.sha256, 'hex') INTO STRICT sha FROM coditect.storage_blobs b WHERE b.tenant_id = s.tenant_id AND b.id = s.blob_id;
    IF doc IS NULL THEN
        INSERT INTO coditect.documents (tenant_id, project_id, folder_id, title, description)
        VALUES (s.tenant_id, (s.metadata ->> 'project_id')::uuid, (s.metadata ->> 'folder_id')::uuid,
                left(coalesce(nullif(btrim(s.metadata ->> 'title'), ''), s.filename, 'Untitled'), 500),
                coalesce(s.metadata ->> 'description', ''))
        RETURNING id INTO doc;
    END IF;
    SELECT d.version, d.checksum INTO cur FROM coditect.documents d WHERE d.tenant_id = s.tenant_id AND d.id = doc FOR UPDATE;
    IF cur.checksum = sha THEN
        PERFORM coditect_internal.storage_release(s.tenant_id, s.blob_id);
        RETURN jsonb_build_object('document_id', doc, 'version_number', cur.version, 'created', false);
    END IF;
    INSERT INTO coditect.document_versions (tenant_id, document_id, version_number, blob_id, file_path, file_name,
                                            file_size_bytes, mime_type, checksum, change_summary)
    VALUES (s.tenant_id, doc, 0, s.blob_id, 'db:' || sha, coalesce(s.filename, 'file'), s.upload_length,
            s.content_type, sha, coalesce(s.metadata ->> 'change_summary', ''))
    RETURNING version_number INTO v;
    RETURN jsonb_build_object('document_id', doc, 'version_number', v, 'created', true);
END
$$;
SELECT coditect_internal.register_upload_target('document', 'coditect_internal.document_upload_check(uuid, jsonb)',
    'coditect_internal.document_upload_completed(coditect.upload_sessions)');

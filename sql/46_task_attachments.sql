-- 46_task_attachments: files attached to tasks (issue 10, the seeds' TaskAttachment), stored by
-- 40_storage.sql: an upload with target_kind "task" and target_id the task becomes an attachment
-- of it (/api/v1/tasks/{task_id}/attachments/). Whoever reads the task reads its attachments;
-- members attach; the uploader or an admin removes one (for good: the seeds give attachments no
-- soft delete, and the bytes go when nothing else holds them).

CREATE TABLE coditect.task_attachments (
    tenant_id       uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    task_id         uuid NOT NULL,
    uploader_id     uuid DEFAULT coditect.current_user_id(),
    filename        varchar(255) NOT NULL CHECK (filename ~ '\S'),
    file_path       varchar(500) NOT NULL,
    file_size_bytes bigint NOT NULL CHECK (file_size_bytes >= 0),
    mime_type       varchar(255) NOT NULL,
    checksum        varchar(64) NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    blob_id         uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES coditect.tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, uploader_id) REFERENCES coditect.users (tenant_id, id),
    FOREIGN KEY (tenant_id, blob_id) REFERENCES coditect.storage_blobs (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.task_attachments', '{tenant_id,uploader_id}', '{uploader_id}');
COMMENT ON TABLE coditect.task_attachments IS 'Files attached to a task, newest first; made by uploads.';
COMMENT ON COLUMN coditect.task_attachments.file_path IS 'Where the bytes are: "db:<sha256>" (stored in PostgreSQL).';
COMMENT ON COLUMN coditect.task_attachments.uploader_id IS 'Who attached it; null once that user is removed.';
-- The seeds' (task, -created_at), led by the tenant.
CREATE INDEX task_attachments_task_created_idx ON coditect.task_attachments (tenant_id, task_id, created_at DESC, id DESC);
CREATE INDEX task_attachments_uploader_idx ON coditect.task_attachments (tenant_id, uploader_id);
CREATE INDEX task_attachments_blob_idx ON coditect.task_attachments (tenant_id, blob_id);

-- BEFORE UPDATE or DELETE, with a request context: the uploader or an admin or owner renames
-- or removes an attachment. (AFTER DELETE, release_held_blob lets its bytes go.)
CREATE FUNCTION coditect_internal.task_attachment_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect.current_user_id() IS NOT NULL AND OLD.tenant_id = coditect.current_tenant_id()
       AND OLD.uploader_id IS DISTINCT FROM coditect.current_user_id()
       AND coditect.current_user_role() NOT IN ('owner', 'admin') THEN
        RAISE EXCEPTION 'only the uploader or an admin % an attachment',
            CASE TG_OP WHEN 'DELETE' THEN 'removes' ELSE 'renames' END USING ERRCODE = 'CD403';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- Attachments are made by uploads only (no create verb, no writes but the delete).
SELECT coditect_internal.register_resource('coditect.task_attachments', 'task_attachment',
    p_parent => 'task', p_parent_column => 'task_id', p_path => '/api/v1/tasks/{task_id}/attachments/',
    p_roles => '{"view": "guest", "delete": "member"}', p_writable => false,
    p_filters => '{"uploader_id": ["exact"], "mime_type": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,filename}');
-- A delete reads its row FOR UPDATE first, which needs an UPDATE privilege: renaming is the one
-- change there is.
GRANT UPDATE (filename), DELETE ON coditect.task_attachments TO coditect_gateway, coditect_service;
SELECT coditect_internal.declare_permission('task_attachment.create', 'Attach files to tasks', 'member');
CREATE TRIGGER task_attachment_rules BEFORE UPDATE OR DELETE ON coditect.task_attachments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.task_attachment_rules();
CREATE TRIGGER release_held_blob AFTER DELETE ON coditect.task_attachments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.release_held_blob();
ALTER TABLE coditect.task_attachments ENABLE ALWAYS TRIGGER task_attachment_rules,
    ENABLE ALWAYS TRIGGER release_held_blob;

-- Upload target "task": target_id names a live task the caller can see (CD404 otherwise) and
-- the caller needs task_attachment.create; on completion the file becomes its attachment.
CREATE FUNCTION coditect_internal.task_attachment_upload_check(p_id uuid, p_metadata jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
BEGIN
    PERFORM coditect.require_permission('task_attachment.create');
    IF p_id IS NULL OR NOT EXISTS (SELECT 1 FROM coditect.tasks t
                                    WHERE t.tenant_id = v_tenant AND t.id = p_id AND t.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'task % not found', p_id USING ERRCODE = 'CD404';
    END IF;
END
$$;

CREATE FUNCTION coditect_internal.task_attachment_upload_completed(s coditect.upload_sessions) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sha text;
    a   uuid;
BEGIN
    PERFORM coditect_internal.task_attachment_upload_check(s.target_id, s.metadata);
    SELECT encode(b.sha256, 'hex') INTO STRICT sha FROM coditect.storage_blobs b WHERE b.tenant_id = s.tenant_id AND b.id = s.blob_id;
    INSERT INTO coditect.task_attachments (tenant_id, task_id, uploader_id, filename, file_path, file_size_bytes, mime_type,
                                           checksum, blob_id)
    VALUES (s.tenant_id, s.target_id, s.user_id, coalesce(s.filename, 'file'), 'db:' || sha, s.upload_length, s.content_type,
            sha, s.blob_id)
    RETURNING id INTO a;
    RETURN jsonb_build_object('task_id', s.target_id, 'attachment_id', a);
END
$$;
SELECT coditect_internal.register_upload_target('task', 'coditect_internal.task_attachment_upload_check(uuid, jsonb)',
    'coditect_internal.task_attachment_upload_completed(coditect.upload_sessions)');

-- GET /api/v1/tasks/{task_id}/attachments/{id}/content: the file, for whoever reads the task.
-- Audited as data.export (11_audit_events.sql), so the operation writes although it is a GET.
CREATE FUNCTION coditect.task_attachment_download(p_task_id uuid, p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    a coditect.task_attachments;
BEGIN
    PERFORM coditect.require_permission('task_attachment.view');
    SELECT x.* INTO a FROM coditect.task_attachments x
      JOIN coditect.tasks t ON t.tenant_id = x.tenant_id AND t.id = x.task_id AND t.deleted_at IS NULL
     WHERE x.tenant_id = v_tenant AND x.task_id = p_task_id AND x.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task attachment % not found', p_id USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.record_export('TaskAttachment', a.id, NULL, a.filename, a.file_size_bytes);
    RETURN coditect_internal.content_answer(a.blob_id, a.file_size_bytes, a.checksum, a.mime_type, a.filename);
END
$$;
SELECT coditect_internal.register_action('task_attachment', 'download', 'coditect.task_attachment_download(uuid, uuid)',
    'GET', '/api/v1/tasks/{task_id}/attachments/{id}/content',
    '[{"from": "path", "name": "task_id"}, {"from": "path", "name": "id"}]',
    p_permission => 'task_attachment.view', p_response => '{"protocol": "content"}', p_writes => true,
    p_summary => 'An attachment''s file, streamed (Range, ETag: its SHA-256)');

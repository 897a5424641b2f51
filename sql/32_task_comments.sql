-- 32_task_comments: comments on tasks (issue 9): Markdown, soft delete, nested under their task
-- (/api/v1/tasks/{task_id}/comments/). Only a comment's author edits it; the author or an admin
-- deletes it. The rules are the database's, for every writer with a request context.

CREATE TABLE coditect.task_comments (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    task_id    uuid NOT NULL,
    -- The context's user; not a create field, never changed (but set to NULL when the user is removed).
    author_id  uuid DEFAULT coditect.current_user_id(),
    content    text NOT NULL
               CONSTRAINT task_comments_content_check CHECK (content ~ '\S' AND char_length(content) <= 65536),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES coditect.tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, author_id) REFERENCES coditect.users (tenant_id, id)
);
SELECT coditect_internal.declare_null_on_delete('coditect.task_comments', '{tenant_id,author_id}', '{author_id}');
COMMENT ON TABLE coditect.task_comments IS 'Comments on a task, newest first.';
COMMENT ON COLUMN coditect.task_comments.author_id IS
    'The user who wrote the comment (the caller); null once that user is removed.';
COMMENT ON COLUMN coditect.task_comments.content IS
    'Markdown, 1 to 65,536 characters, not blank. Only the author edits it.';
-- A task's comments, newest first (the list's default ordering; id breaks ties as the list does).
CREATE INDEX task_comments_task_created_idx ON coditect.task_comments (tenant_id, task_id, created_at DESC, id DESC);
-- ON DELETE SET NULL of a removed user, and ?author_id=.
CREATE INDEX task_comments_author_idx ON coditect.task_comments (tenant_id, author_id);

-- BEFORE INSERT, UPDATE or DELETE: who may write a comment. With a request context: a comment
-- is written as the context's user; only its author edits its content; its author or an admin
-- or owner deletes (a soft delete arrives here as a DELETE, then as the UPDATE of deleted_at)
-- or restores it; it stays on its task. For everyone: the author never changes, except to NULL
-- by ON DELETE SET NULL once the user is gone. Without a context (DBA, maintenance, purges)
-- nothing else is restricted.
CREATE FUNCTION coditect_internal.guard_task_comment() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me    uuid := coditect.current_user_id();
    admin boolean := coditect.current_user_role() IN ('owner', 'admin');
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF me IS NOT NULL AND NEW.author_id IS DISTINCT FROM me THEN
            RAISE EXCEPTION 'a comment is written by the caller: author_id cannot be set' USING ERRCODE = 'CD403';
        END IF;
        RETURN NEW;
    END IF;

    IF TG_OP = 'DELETE' THEN
        IF me IS NOT NULL AND NOT coditect_internal.hard_delete_allowed()
           AND OLD.author_id IS DISTINCT FROM me AND NOT admin THEN
            RAISE EXCEPTION 'only the comment''s author or an admin can delete it' USING ERRCODE = 'CD403';
        END IF;
        RETURN OLD;
    END IF;

    IF NEW.author_id IS DISTINCT FROM OLD.author_id
       AND NOT (NEW.author_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM coditect.users u WHERE u.tenant_id = OLD.tenant_id AND u.id = OLD.author_id)) THEN
        RAISE EXCEPTION 'the author of a comment cannot change' USING ERRCODE = 'CD422';
    END IF;
    IF me IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.task_id IS DISTINCT FROM OLD.task_id THEN
        RAISE EXCEPTION 'a comment cannot move to another task' USING ERRCODE = 'CD422';
    END IF;
    IF NEW.content IS DISTINCT FROM OLD.content AND OLD.author_id IS DISTINCT FROM me THEN
        RAISE EXCEPTION 'only the comment''s author can edit it' USING ERRCODE = 'CD403';
    END IF;
    IF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at AND OLD.author_id IS DISTINCT FROM me AND NOT admin THEN
        RAISE EXCEPTION 'only the comment''s author or an admin can % it',
            CASE WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'delete' END USING ERRCODE = 'CD403';
    END IF;
    RETURN NEW;
END
$$;

-- Named to fire before soft_delete_row (BEFORE triggers fire in name order).
CREATE TRIGGER guard_task_comment BEFORE INSERT OR UPDATE OR DELETE ON coditect.task_comments
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_task_comment();
ALTER TABLE coditect.task_comments ENABLE ALWAYS TRIGGER guard_task_comment;

-- Members comment; the trigger narrows update and delete to the author (and delete to admins too).
SELECT coditect_internal.register_resource('coditect.task_comments', 'task_comment',
    p_parent => 'task', p_parent_column => 'task_id', p_path => '/api/v1/tasks/{task_id}/comments/',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "member", "restore": "admin"}',
    p_create => '{content}',
    p_update => '{content}',
    p_filters => '{"author_id": ["exact", "isnull"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}',
    p_example => '{"content": "Looks good to me. **One nit:** rename `groupBy` to `groupByColumn`."}');

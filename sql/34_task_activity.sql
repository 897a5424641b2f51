-- 34_task_activity: each task's activity feed (issue 9), derived from the audit trail. A change is
-- recorded once, by the one audit trigger; the feed is a read of it (security-invoker view, so
-- the audit trail's and the tasks' row-level security apply to every reader, analysts included).
-- An update gives one entry per changed field; comments appear as their own entries.

CREATE TYPE coditect.task_activity_action AS ENUM (
    'created', 'updated', 'status_changed', 'assigned', 'unassigned', 'deleted', 'restored',
    'commented', 'comment_edited', 'comment_deleted', 'comment_restored');
COMMENT ON TYPE coditect.task_activity_action IS
    'What happened to a task: its own changes (one entry per changed field of an update), and its comments.';

CREATE VIEW coditect.task_activity WITH (security_invoker = true) AS
-- The task's own changes. Fields the transition stamps (started_at, completed_at) and
-- updated_at follow from the entries they come with and are left out.
SELECT CASE WHEN f.field IS NULL THEN a.id ELSE md5(a.id::text || '/' || f.field)::uuid END AS id,
       a.tenant_id,
       t.id AS task_id,
       a.user_id,
       (CASE a.action
            WHEN 'task.create' THEN 'created'
            WHEN 'task.delete' THEN 'deleted'
            WHEN 'task.restore' THEN 'restored'
            ELSE CASE f.field
                     WHEN 'status' THEN 'status_changed'
                     WHEN 'assignee_id' THEN CASE WHEN f.change -> 1 = 'null' THEN 'unassigned' ELSE 'assigned' END
                     ELSE 'updated' END
        END)::coditect.task_activity_action AS action,
       f.field::varchar(100) AS field_changed,
       f.change -> 0 AS old_value,
       f.change -> 1 AS new_value,
       NULL::uuid AS comment_id,
       a.created_at
  FROM coditect.tasks t
  JOIN coditect.audit_logs a
    ON a.tenant_id = t.tenant_id AND a.resource_type = 'Task' AND a.resource_id = t.id::text
 CROSS JOIN LATERAL (
       SELECT NULL::text AS field, NULL::jsonb AS change
        WHERE a.action IN ('task.create', 'task.delete', 'task.restore')
       UNION ALL
       SELECT e.key, e.value FROM jsonb_each(a.changes) e
        WHERE a.action = 'task.update' AND e.key NOT IN ('updated_at', 'started_at', 'completed_at')) f
UNION ALL
-- Its comments. A comment that is deleted now shows no content anywhere in the feed.
SELECT a.id,
       a.tenant_id,
       c.task_id,
       a.user_id,
       (CASE a.action
            WHEN 'task_comment.create' THEN 'commented'
            WHEN 'task_comment.update' THEN 'comment_edited'
            WHEN 'task_comment.delete' THEN 'comment_deleted'
            ELSE 'comment_restored'
        END)::coditect.task_activity_action,
       CASE WHEN a.action = 'task_comment.update' THEN 'content' END::varchar(100),
       CASE WHEN c.deleted_at IS NULL THEN a.changes #> '{content,0}' END,
       CASE WHEN c.deleted_at IS NULL THEN a.changes #> '{content,1}' END,
       c.id,
       a.created_at
  FROM coditect.task_comments c
  JOIN coditect.audit_logs a
    ON a.tenant_id = c.tenant_id AND a.resource_type = 'TaskComment' AND a.resource_id = c.id::text
 WHERE a.action IN ('task_comment.create', 'task_comment.delete', 'task_comment.restore')
    OR (a.action = 'task_comment.update' AND a.changes ? 'content');

COMMENT ON VIEW coditect.task_activity IS
    'A task''s activity feed, newest first: its changes (one entry per field) and its comments, read from the audit trail.';
COMMENT ON COLUMN coditect.task_activity.id IS
    'The audit row''s id; for one field of an update, a UUID derived from it and the field.';
COMMENT ON COLUMN coditect.task_activity.user_id IS 'Who made the change (null: no request context, e.g. a DBA).';
COMMENT ON COLUMN coditect.task_activity.field_changed IS 'The field an update changed; null for other actions.';
COMMENT ON COLUMN coditect.task_activity.old_value IS 'The field''s value before (JSON); a comment''s content before an edit.';
COMMENT ON COLUMN coditect.task_activity.new_value IS 'The field''s value after (JSON); a comment''s content.';
COMMENT ON COLUMN coditect.task_activity.comment_id IS 'The comment of a comment entry.';
REVOKE ALL ON coditect.task_activity FROM PUBLIC;
GRANT SELECT ON coditect.task_activity TO coditect_gateway, coditect_service, coditect_analyst;

-- Readable by whoever reads the task, newest first in keyset pages.
SELECT coditect_internal.register_resource('coditect.task_activity', 'task_activity', p_mechanisms => false,
    p_plural => 'task_activity', p_parent => 'task', p_parent_column => 'task_id',
    p_path => '/api/v1/tasks/{task_id}/activity/', p_roles => '{"view": "guest"}',
    p_rls_table => 'coditect.audit_logs',
    p_filters => '{"user_id": ["exact"], "action": ["exact", "in"], "field_changed": ["exact", "in"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at}', p_page_size => 50, p_keyset => true);

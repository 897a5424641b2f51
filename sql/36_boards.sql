-- 36_boards: boards of a project (issue 9) and the board view: the project's tasks grouped by the
-- board's columns. A board is a saved way of looking at tasks, so it has no soft delete (the
-- seeds give it none); admins manage boards, whoever reads tasks reads them.

CREATE TYPE coditect.board_type AS ENUM ('kanban', 'scrum', 'custom');
COMMENT ON TYPE coditect.board_type IS
    'kanban and custom boards show all the project''s tasks; scrum boards the tasks of its active sprint.';

-- The rules of a board's columns, for every writer: 1 to 20 objects {id, name, status_mapping,
-- position} and nothing else; id 1-64 of [A-Za-z0-9_-] and unique; name not blank, at most 100
-- characters; status_mapping one or more task statuses, each status in at most one column of
-- the board (a task shows once); position an integer >= 0, unique. Raises the first problem
-- (CD400 for the shape, CD422 for a clash), so the CHECK that calls it words its refusal.
CREATE FUNCTION coditect_internal.check_board_columns(p_columns jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col      jsonb;
    n        int := 0;
    bad      text;
    ids      text[] := '{}';
    places   int[] := '{}';
    statuses text[] := '{}';
    st       text;
BEGIN
    IF jsonb_typeof(p_columns) IS DISTINCT FROM 'array' OR jsonb_array_length(p_columns) NOT BETWEEN 1 AND 20 THEN
        RAISE EXCEPTION 'board columns must be a JSON array of 1 to 20 columns' USING ERRCODE = 'CD400';
    END IF;
    FOR col IN SELECT value FROM jsonb_array_elements(p_columns) LOOP
        n := n + 1;
        IF jsonb_typeof(col) <> 'object' THEN
            RAISE EXCEPTION 'board column %: must be an object {id, name, status_mapping, position}', n USING ERRCODE = 'CD400';
        END IF;
        SELECT string_agg(k, ', ' ORDER BY k) INTO bad FROM jsonb_object_keys(col) k
         WHERE k NOT IN ('id', 'name', 'status_mapping', 'position');
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'board column %: unknown field(s) % (fields: id, name, status_mapping, position)', n, bad
                USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'id') IS DISTINCT FROM 'string' OR col ->> 'id' !~ '^[A-Za-z0-9_-]{1,64}$' THEN
            RAISE EXCEPTION 'board column %: id must be 1 to 64 of A-Z a-z 0-9 _ -', n USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'name') IS DISTINCT FROM 'string' OR col ->> 'name' !~ '\S'
           OR char_length(col ->> 'name') > 100 THEN
            RAISE EXCEPTION 'board column %: name must be a non-blank string of at most 100 characters', n USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'position') IS DISTINCT FROM 'number' OR (col ->> 'position') !~ '^[0-9]{1,6}$' THEN
            RAISE EXCEPTION 'board column %: position must be an integer from 0 to 999999', n USING ERRCODE = 'CD400';
        END IF;
        IF jsonb_typeof(col -> 'status_mapping') IS DISTINCT FROM 'array' OR jsonb_array_length(col -> 'status_mapping') = 0 THEN
            RAISE EXCEPTION 'board column %: status_mapping must be a non-empty array of task statuses', n USING ERRCODE = 'CD400';
        END IF;
        FOR st IN SELECT value #>> '{}' FROM jsonb_array_elements(col -> 'status_mapping') LOOP
            IF st IS NULL OR st <> ALL (enum_range(NULL::coditect.task_status)::text[]) THEN
                RAISE EXCEPTION 'board column %: "%" is not a task status (%)', n, coalesce(st, 'null'),
                    array_to_string(enum_range(NULL::coditect.task_status)::text[], ', ') USING ERRCODE = 'CD400';
            END IF;
            IF st = ANY (statuses) THEN
                RAISE EXCEPTION 'board column %: status "%" is already mapped to another column', n, st USING ERRCODE = 'CD422';
            END IF;
            statuses := statuses || st;
        END LOOP;
        IF col ->> 'id' = ANY (ids) THEN
            RAISE EXCEPTION 'board column %: id "%" is used twice', n, col ->> 'id' USING ERRCODE = 'CD422';
        END IF;
        IF (col ->> 'position')::int = ANY (places) THEN
            RAISE EXCEPTION 'board column %: position % is used twice', n, col ->> 'position' USING ERRCODE = 'CD422';
        END IF;
        ids := ids || (col ->> 'id');
        places := places || (col ->> 'position')::int;
    END LOOP;
    RETURN true;
END
$$;

CREATE TABLE coditect.boards (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    project_id uuid NOT NULL,
    name       varchar(255) NOT NULL CHECK (name ~ '\S'),
    board_type coditect.board_type NOT NULL DEFAULT 'kanban',
    columns    coditect.json_array NOT NULL DEFAULT
               '[{"id": "backlog", "name": "Backlog", "status_mapping": ["backlog"], "position": 0},
                 {"id": "todo", "name": "To do", "status_mapping": ["todo"], "position": 1},
                 {"id": "in_progress", "name": "In progress", "status_mapping": ["in_progress"], "position": 2},
                 {"id": "in_review", "name": "In review", "status_mapping": ["in_review"], "position": 3},
                 {"id": "done", "name": "Done", "status_mapping": ["done"], "position": 4}]'
               CONSTRAINT boards_columns_check CHECK (coditect_internal.check_board_columns(columns)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES coditect.projects (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE coditect.boards IS 'Boards of a project: its tasks grouped in columns by status.';
COMMENT ON COLUMN coditect.boards.columns IS
    'The columns, [{id, name, status_mapping: [task statuses], position}]: 1 to 20, ids and positions unique, a status in at most one column. Default: one column per open status and done.';
-- A project's boards by name (names are unique in a project, as a user picks a board by name).
CREATE UNIQUE INDEX boards_tenant_project_name_key ON coditect.boards (tenant_id, project_id, name);
CREATE INDEX boards_tenant_created_idx ON coditect.boards (tenant_id, created_at DESC, id DESC);

SELECT coditect_internal.register_resource('coditect.boards', 'board',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{project_id,name,board_type,columns}', p_update => '{name,board_type,columns}',
    p_filters => '{"project_id": ["exact"], "board_type": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name}', p_also_under => '{"project": "project_id"}',
    p_example => '{"name": "Team board", "board_type": "kanban",
                   "columns": [{"id": "todo", "name": "To do", "status_mapping": ["backlog", "todo"], "position": 0},
                               {"id": "doing", "name": "Doing", "status_mapping": ["in_progress", "in_review"], "position": 1},
                               {"id": "done", "name": "Done", "status_mapping": ["done"], "position": 2}]}');

-- The board view's answer (its shape for the API; the function builds it as JSON).
CREATE TYPE coditect.board_view_column AS (
    id             text,
    name           text,
    status_mapping coditect.task_status[],
    position       int,
    count          bigint,
    tasks          coditect.tasks[]
);
COMMENT ON TYPE coditect.board_view_column IS
    'A board column with its task count and its first tasks, most urgent first, then by number.';
CREATE TYPE coditect.board_view AS (
    board     coditect.boards,
    sprint_id uuid,
    columns   coditect.board_view_column[]
);
COMMENT ON TYPE coditect.board_view IS
    'A board with its columns in position order; sprint_id: the active sprint a scrum board shows (null: none).';

-- The board with the tasks of each column: the project's live tasks whose status the column maps
-- (a scrum board: of the active sprint only; no active sprint, no tasks), at most p_limit per
-- column, most urgent first, then by number. Read through the generated functions, so the
-- caller needs board.view and task.view, and a board of another tenant is a 404.
CREATE FUNCTION coditect.board_view(p_id uuid, p_limit int DEFAULT 50) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    v_tenant uuid := coditect.current_tenant_id();  -- a parameter: Citus routes on it
    b      jsonb := coditect.api_boards_get(p_id);
    sprint uuid;
    cols   jsonb;
BEGIN
    p_limit := coalesce(p_limit, 50);
    IF p_limit NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'limit must be between 1 and 200' USING ERRCODE = 'CD400';
    END IF;
    IF b ->> 'board_type' = 'scrum' THEN
        SELECT s.id INTO sprint FROM coditect.sprints s
         WHERE s.tenant_id = v_tenant AND s.project_id = (b ->> 'project_id')::uuid
           AND s.status = 'active' AND s.deleted_at IS NULL;
    END IF;
    SELECT jsonb_agg(c.value || jsonb_build_object('count', coalesce(l -> 'count', '0'), 'tasks', coalesce(l -> 'results', '[]'))
                     ORDER BY (c.value ->> 'position')::int)
      INTO cols
      FROM jsonb_array_elements(b -> 'columns') c
      LEFT JOIN LATERAL (
           SELECT coditect.api_tasks_list(
                      jsonb_build_object('project_id', b ->> 'project_id', 'status__in', c.value -> 'status_mapping')
                      || CASE WHEN sprint IS NOT NULL THEN jsonb_build_object('sprint_id', sprint) ELSE '{}' END,
                      1, p_limit, NULL, '-priority,number') AS l
            WHERE b ->> 'board_type' <> 'scrum' OR sprint IS NOT NULL) x ON true;
    RETURN jsonb_build_object('board', b, 'sprint_id', sprint, 'columns', cols);
END
$$;
SELECT coditect_internal.register_action('board', 'view', 'coditect.board_view(uuid, int)',
    'GET', '/api/v1/boards/{id}/view/',
    '[{"from": "path", "name": "id"}, {"from": "body_field", "name": "limit", "also_query": true}]',
    p_permission => 'board.view', p_response => '{"type": "board_view"}',
    p_summary => 'A board with its tasks grouped by its columns (?limit= tasks per column, default 50)');

-- 20_tenancy: tenants, users, memberships, teams, team members, projects; the permission
-- catalog; the request context; analyst bindings; tenant creation.

CREATE FUNCTION coditect.is_valid_timezone(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_is_valid_timezone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.tenants (
    id                     uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    name                   varchar(255) NOT NULL CHECK (name ~ '\S'),
    slug                   coditect.slug NOT NULL,
    email                  coditect.email NOT NULL,
    license_tier           varchar(20) NOT NULL DEFAULT 'trial'
                           CHECK (license_tier IN ('trial', 'starter', 'professional', 'enterprise')),
    seats_total            integer NOT NULL DEFAULT 1 CHECK (seats_total >= 0),
    is_active              boolean NOT NULL DEFAULT true,
    stripe_customer_id     varchar(255),
    stripe_subscription_id varchar(255),
    billing_email          coditect.email,
    tax_id                 varchar(100),
    phone_number           varchar(50),
    website                coditect.url,
    industry               varchar(100),
    company_size           varchar(20) CHECK (company_size IN ('small', 'medium', 'large', 'enterprise')),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- Slug and Stripe ids are unique across tenants through coditect_internal.global_keys; no
-- other index: the tenants table is the tenant key, and a lookup by e-mail or activity across
-- tenants is the service's, not a tenant's (an index on them would leak through EXPLAIN).
SELECT coditect_internal.claim_global_key('coditect.tenants', 'slug', 'tenants_slug_key', 'id');
SELECT coditect_internal.claim_global_key('coditect.tenants', 'stripe_customer_id', 'tenants_stripe_customer_key', 'id');
SELECT coditect_internal.claim_global_key('coditect.tenants', 'stripe_subscription_id', 'tenants_stripe_subscription_key', 'id');

CREATE TABLE coditect.users (
    tenant_id                uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id                       uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    email                    coditect.email NOT NULL,
    firebase_uid             varchar(255),
    first_name               varchar(150) NOT NULL DEFAULT '',
    last_name                varchar(150) NOT NULL DEFAULT '',
    role                     coditect.member_role NOT NULL DEFAULT 'member',
    oauth_provider           varchar(50) CHECK (oauth_provider ~ '^[a-z][a-z0-9_.-]*$'),
    oauth_sub                varchar(255),
    phone_number             varchar(50),
    avatar_url               coditect.url,
    timezone                 varchar(50) NOT NULL DEFAULT 'UTC'
                             CHECK (coditect.is_valid_timezone(timezone)),
    language                 varchar(10) NOT NULL DEFAULT 'en'
                             CHECK (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
    notification_preferences coditect.json_object NOT NULL DEFAULT '{}',
    is_active                boolean NOT NULL DEFAULT true,
    last_login               timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_oauth_pair CHECK ((oauth_provider IS NULL) = (oauth_sub IS NULL))
);
CREATE UNIQUE INDEX users_tenant_email_key ON coditect.users (tenant_id, lower(email));
CREATE INDEX users_oauth_idx ON coditect.users (tenant_id, oauth_provider, oauth_sub);
-- A Firebase uid names one user across all tenants (the gateway resolves a token's sub by it).
SELECT coditect_internal.claim_global_key('coditect.users', 'firebase_uid', 'users_firebase_uid_key');
CREATE INDEX users_role_idx ON coditect.users (tenant_id, role);

CREATE TABLE coditect.memberships (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    user_id    uuid NOT NULL,
    role       coditect.member_role NOT NULL DEFAULT 'member',
    joined_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT memberships_tenant_user_key UNIQUE (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT memberships_revoked_after_joined CHECK (revoked_at IS NULL OR revoked_at >= joined_at)
);
CREATE INDEX memberships_active_idx ON coditect.memberships (tenant_id, user_id) WHERE revoked_at IS NULL;

CREATE TABLE coditect.teams (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    name        varchar(255) NOT NULL CHECK (name ~ '\S'),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT teams_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE coditect.team_members (
    tenant_id  uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    team_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    role       varchar(20) NOT NULL DEFAULT 'member' CHECK (role IN ('lead', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT team_members_team_user_key UNIQUE (tenant_id, team_id, user_id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES coditect.teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES coditect.users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_idx ON coditect.team_members (tenant_id, user_id);

CREATE TABLE coditect.projects (
    tenant_id   uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT coditect.uuid_generate_v7(),
    name        varchar(255) NOT NULL CHECK (name ~ '\S'),
    description text NOT NULL DEFAULT '',
    metadata    coditect.json_object NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_deleted_after_created CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE UNIQUE INDEX projects_tenant_name_key ON coditect.projects (tenant_id, name)
    WHERE deleted_at IS NULL;
CREATE INDEX projects_tenant_created_idx ON coditect.projects (tenant_id, created_at DESC)
    WHERE deleted_at IS NULL;

-- A plain DELETE of a tenant would cascade into soft-delete tables, whose rows would then be
-- kept (soft-deleted) and left pointing at nothing; tenants go through purge_tenant() only.
CREATE FUNCTION coditect_internal.require_purge() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT coditect_internal.hard_delete_allowed() THEN
        RAISE EXCEPTION 'tenants are removed with coditect.purge_tenant(), not DELETE'
            USING ERRCODE = 'CD403';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER tenants_require_purge BEFORE DELETE ON coditect.tenants
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.require_purge();

SELECT coditect_internal.register_tenant_table('coditect.tenants', 'tenant',
    p_redact => '{tax_id}', p_tenant_column => 'id', p_writable => false);
-- A tenant edits its profile; plan, seats, activation and billing ids belong to the service.
GRANT UPDATE (name, email, billing_email, tax_id, phone_number, website, industry, company_size)
    ON coditect.tenants TO coditect_gateway;
GRANT UPDATE ON coditect.tenants TO coditect_service;

-- Columns the API hides are redacted from the audit trail too (the trail is readable by admins).
SELECT coditect_internal.register_tenant_table('coditect.users', 'user', p_redact => '{oauth_sub,firebase_uid}');
SELECT coditect_internal.register_tenant_table('coditect.memberships', 'membership');
SELECT coditect_internal.register_tenant_table('coditect.teams', 'team');
SELECT coditect_internal.register_tenant_table('coditect.team_members', 'team_member');
SELECT coditect_internal.register_tenant_table('coditect.projects', 'project');

------------------------------------------------------------------------------------------------
-- Ownership. Only an owner grants or takes the owner role, by whatever path: a membership's
-- role or revocation, a user's role, deactivating or deleting an owner's account. A tenant
-- always keeps an active owner. Writes without a request context are the DBA's and the
-- definer functions' (tenant creation, purge) and need no owner.
------------------------------------------------------------------------------------------------

-- Serialises the changes of ownership of a tenant on its row, so that every check made after
-- it sees the others' committed changes. REPEATABLE READ would keep its older snapshot behind
-- the lock (a row that was only locked raises no 40001), so it is refused there; READ
-- COMMITTED and SERIALIZABLE are fine. False when the tenant is gone (purge).
CREATE FUNCTION coditect_internal.lock_tenant_for_ownership(p_tenant uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'changes of ownership need READ COMMITTED or SERIALIZABLE isolation'
            USING ERRCODE = 'CD400';
    END IF;
    PERFORM 1 FROM coditect.tenants WHERE id = p_tenant FOR NO KEY UPDATE;
    RETURN FOUND;
END
$$;

-- Whether a memberships or users row is an owner's: an unrevoked owner membership, or the
-- account of a user with the owner role or an unrevoked owner membership.
CREATE FUNCTION coditect_internal.is_owner_row(p_table name, p_row jsonb) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_row IS NULL THEN
        RETURN false;
    END IF;
    IF p_table = 'memberships' THEN
        RETURN p_row->>'role' = 'owner' AND p_row->>'revoked_at' IS NULL;
    END IF;
    RETURN p_row->>'role' = 'owner'
        OR EXISTS (SELECT 1 FROM coditect.memberships m
                    WHERE m.tenant_id = (p_row->>'tenant_id')::uuid AND m.user_id = (p_row->>'id')::uuid
                      AND m.role = 'owner' AND m.revoked_at IS NULL);
END
$$;

-- BEFORE ROW on memberships and users: writing an owner's membership or account, or making
-- one, needs an owner's context (so an admin can neither grant nor demote, revoke, deactivate,
-- delete or re-identify an owner: e-mail and identity-provider ids are how one logs in). A
-- membership never moves to another user.
CREATE FUNCTION coditect_internal.guard_ownership() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'memberships' AND TG_OP = 'UPDATE' THEN
        IF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            RAISE EXCEPTION 'a membership cannot move to another user' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF coditect.current_user_id() IS NOT NULL THEN
        -- Decided after the tenant lock, on what is committed: a concurrent promotion of this
        -- user is seen.
        PERFORM coditect_internal.lock_tenant_for_ownership(coalesce(NEW.tenant_id, OLD.tenant_id));
        IF coditect.current_user_role() IS DISTINCT FROM 'owner'
           AND (coditect_internal.is_owner_row(TG_TABLE_NAME, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END)
                OR coditect_internal.is_owner_row(TG_TABLE_NAME, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END)) THEN
            RAISE EXCEPTION 'only an owner can grant or take the owner role, or change an owner account'
                USING ERRCODE = 'CD403';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- AFTER ROW on memberships (update, delete) and users (is_active): the tenant keeps an active
-- owner. The tenant row lock serialises concurrent ownership changes of one tenant, so two
-- owners cannot each remove the other. Runs as the owner to see past RLS and lock the tenant.
CREATE FUNCTION coditect_internal.require_active_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coditect_internal.hard_delete_allowed() THEN
        RETURN NULL;  -- purge_tenant
    END IF;
    IF NOT coditect_internal.lock_tenant_for_ownership(OLD.tenant_id) THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM coditect.memberships m
                     JOIN coditect.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
                    WHERE m.tenant_id = OLD.tenant_id AND m.role = 'owner' AND m.revoked_at IS NULL
                      AND u.is_active) THEN
        RAISE EXCEPTION 'a tenant must keep an active owner: make another member owner first'
            USING ERRCODE = 'CD409';
    END IF;
    RETURN NULL;
END
$$;

GRANT EXECUTE ON FUNCTION coditect_internal.is_owner_row(name, jsonb), coditect_internal.lock_tenant_for_ownership(uuid)
    TO coditect_gateway, coditect_service;

CREATE TRIGGER guard_ownership BEFORE INSERT OR UPDATE OR DELETE ON coditect.memberships
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_ownership();
CREATE TRIGGER guard_ownership BEFORE INSERT OR UPDATE OR DELETE ON coditect.users
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.guard_ownership();
CREATE TRIGGER require_active_owner AFTER UPDATE OF role, revoked_at OR DELETE ON coditect.memberships
    FOR EACH ROW WHEN (OLD.role = 'owner' AND OLD.revoked_at IS NULL)
    EXECUTE FUNCTION coditect_internal.require_active_owner();
CREATE TRIGGER require_active_owner AFTER UPDATE OF is_active ON coditect.users
    FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
    EXECUTE FUNCTION coditect_internal.require_active_owner();
ALTER TABLE coditect.memberships ENABLE ALWAYS TRIGGER guard_ownership, ENABLE ALWAYS TRIGGER require_active_owner;
ALTER TABLE coditect.users ENABLE ALWAYS TRIGGER guard_ownership, ENABLE ALWAYS TRIGGER require_active_owner;

-- Maintenance only (DBA): removes a tenant and everything it owns, soft-deleted rows included.
-- Each removed row is audited; the audit trail itself is kept until its retention ends.
CREATE FUNCTION coditect.purge_tenant(p_tenant_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.allow_hard_delete(true);
    DELETE FROM coditect.tenants WHERE id = p_tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    PERFORM coditect_internal.allow_hard_delete(false);
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_tenant(uuid) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Global permission catalog (read-only to tenants)
------------------------------------------------------------------------------------------------

CREATE TABLE coditect.permissions (
    id          uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    codename    varchar(100) NOT NULL UNIQUE CHECK (codename ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
    name        varchar(255) NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE coditect.role_permissions (
    role          coditect.member_role NOT NULL,
    permission_id uuid NOT NULL REFERENCES coditect.permissions (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, permission_id)
);

CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();
CREATE TRIGGER stamp_timestamps BEFORE INSERT OR UPDATE ON coditect.role_permissions
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.stamp_timestamps();
REVOKE ALL ON coditect.permissions, coditect.role_permissions FROM PUBLIC;
GRANT SELECT ON coditect.permissions, coditect.role_permissions
    TO coditect_gateway, coditect_service, coditect_analyst;

WITH grants (codename, name, roles) AS (VALUES
    ('tenant.view',        'View the tenant',                 '{owner,admin,member,guest}'),
    ('tenant.update',      'Edit the tenant profile',         '{owner,admin}'),
    ('tenant.delete',      'Close the tenant',                '{owner}'),
    ('user.view',          'View users',                      '{owner,admin,member,guest}'),
    ('user.invite',        'Invite users',                    '{owner,admin}'),
    ('user.update',        'Edit users',                      '{owner,admin}'),
    ('user.delete',        'Remove users',                    '{owner,admin}'),
    ('membership.view',    'View memberships',                '{owner,admin,member}'),
    ('membership.manage',  'Change roles and revoke access',  '{owner,admin}'),
    ('team.view',          'View teams',                      '{owner,admin,member,guest}'),
    ('team.create',        'Create teams',                    '{owner,admin}'),
    ('team.update',        'Edit teams',                      '{owner,admin}'),
    ('team.delete',        'Delete teams',                    '{owner,admin}'),
    ('team_member.manage', 'Add and remove team members',     '{owner,admin}'),
    ('project.view',       'View projects',                   '{owner,admin,member,guest}'),
    ('project.create',     'Create projects',                 '{owner,admin,member}'),
    ('project.update',     'Edit projects',                   '{owner,admin,member}'),
    ('project.delete',     'Delete projects',                 '{owner,admin}'),
    ('project.restore',    'Restore deleted projects',        '{owner,admin}'),
    ('audit_log.view',     'Read the audit trail',            '{owner,admin}'),
    ('license.manage',     'List and issue licenses',         '{owner,admin}'),
    ('license.use',        'Acquire seats of licenses',       '{owner,admin,member}')
), inserted AS (
    INSERT INTO coditect.permissions (codename, name)
    SELECT codename, name FROM grants
    RETURNING id, codename
)
INSERT INTO coditect.role_permissions (role, permission_id)
SELECT r, i.id
  FROM inserted i JOIN grants g USING (codename), unnest(g.roles::text[]) AS r;

-- Whether the context's role holds a permission; an unknown codename is a programming error.
CREATE FUNCTION coditect.has_permission(p_codename text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    held boolean;
BEGIN
    -- One lookup: NULL when the codename does not exist, else whether the role holds it.
    SELECT EXISTS (SELECT 1 FROM coditect.role_permissions rp
                    WHERE rp.permission_id = p.id AND rp.role = coditect.current_user_role())
      INTO held
      FROM coditect.permissions p WHERE p.codename = p_codename;
    IF held IS NULL THEN
        RAISE EXCEPTION 'unknown permission "%"', p_codename USING ERRCODE = 'CD400';
    END IF;
    RETURN held;
END
$$;

CREATE FUNCTION coditect.require_permission(p_codename text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT coditect.has_permission(p_codename) THEN
        RAISE EXCEPTION 'permission denied: % needs a role that holds it (current role: %)',
            p_codename, coalesce(coditect.current_user_role(), 'none') USING ERRCODE = 'CD403';
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION coditect.has_permission(text), coditect.require_permission(text)
    TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Analyst bindings: a DBA binds a login to one tenant; it then reads that tenant's rows.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.analyst_bindings (
    role_oid  oid PRIMARY KEY,
    role_name name NOT NULL,
    tenant_id uuid NOT NULL REFERENCES coditect.tenants (id) ON DELETE CASCADE,
    bound_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION coditect.bind_analyst(p_role name, p_tenant_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = p_role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', p_role USING ERRCODE = 'CD404';
    END IF;
    IF r.rolsuper OR r.rolbypassrls THEN
        RAISE EXCEPTION 'role "%" bypasses row-level security and cannot be bound to a tenant', p_role
            USING ERRCODE = 'CD400';
    END IF;
    IF pg_has_role(p_role, 'coditect_gateway', 'MEMBER') OR pg_has_role(p_role, 'coditect_service', 'MEMBER') THEN
        RAISE EXCEPTION 'role "%" is a gateway or service role; an analyst login must be a separate role', p_role
            USING ERRCODE = 'CD400';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM coditect.tenants WHERE id = p_tenant_id) THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    INSERT INTO coditect_internal.analyst_bindings (role_oid, role_name, tenant_id)
    VALUES (r.oid, p_role, p_tenant_id)
    ON CONFLICT (role_oid) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, role_name = EXCLUDED.role_name,
                                         bound_at = now();
    IF NOT pg_has_role(p_role, 'coditect_analyst', 'MEMBER') THEN
        EXECUTE format('GRANT coditect_analyst TO %I', p_role);
    END IF;
END
$$;

CREATE FUNCTION coditect.unbind_analyst(p_role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r oid := to_regrole(quote_ident(p_role));
BEGIN
    -- Bindings are by oid: a renamed role is found under its new name; a dropped one by the
    -- name it had when it was bound.
    IF r IS NOT NULL THEN
        DELETE FROM coditect_internal.analyst_bindings WHERE role_oid = r;
    ELSE
        DELETE FROM coditect_internal.analyst_bindings WHERE role_name = p_role;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" is not bound to a tenant', p_role USING ERRCODE = 'CD404';
    END IF;
    IF r IS NOT NULL AND pg_has_role(r, 'coditect_analyst', 'MEMBER') THEN
        EXECUTE format('REVOKE coditect_analyst FROM %I', p_role);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION coditect.bind_analyst(name, uuid), coditect.unbind_analyst(name) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Request context
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect_internal.role_rank(p_role text) RETURNS int
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_role WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'member' THEN 2 WHEN 'guest' THEN 1 END
$$;

-- Sets who is calling for the rest of the transaction. The user must be an active member of an
-- active tenant; p_user_role may lower the membership's role, never raise it.
CREATE FUNCTION coditect.set_request_context(
    p_tenant_id      uuid,
    p_user_id        uuid,
    p_user_role      text,
    p_client_ip      inet DEFAULT NULL,
    p_user_agent     text DEFAULT NULL,
    p_request_method text DEFAULT NULL,
    p_request_path   text DEFAULT NULL,
    p_request_id     text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    member_role text;
BEGIN
    IF p_tenant_id IS NULL OR p_user_id IS NULL OR p_user_role IS NULL THEN
        RAISE EXCEPTION 'tenant, user and role are required' USING ERRCODE = 'CD400';
    END IF;
    IF coditect_internal.role_rank(p_user_role) IS NULL THEN
        RAISE EXCEPTION 'unknown role "%": expected owner, admin, member or guest', p_user_role
            USING ERRCODE = 'CD400';
    END IF;
    IF p_request_method IS NOT NULL AND p_request_method !~ '^[A-Z]{1,10}$' THEN
        RAISE EXCEPTION 'request method must be 1 to 10 upper-case letters' USING ERRCODE = 'CD400';
    END IF;
    IF p_request_id IS NOT NULL AND p_request_id !~ '^[A-Za-z0-9._:-]{1,128}$' THEN
        RAISE EXCEPTION 'request id must be 1 to 128 letters, digits or . _ : -' USING ERRCODE = 'CD400';
    END IF;
    IF EXISTS (SELECT 1 FROM coditect_internal.analyst_bindings
                WHERE role_oid = to_regrole(quote_ident(session_user))::oid) THEN
        RAISE EXCEPTION 'an analyst login cannot set a request context' USING ERRCODE = 'CD403';
    END IF;

    SELECT m.role INTO member_role
      FROM coditect.memberships m
      JOIN coditect.users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
      JOIN coditect.tenants t ON t.id = m.tenant_id
     WHERE m.tenant_id = p_tenant_id AND m.user_id = p_user_id
       AND m.revoked_at IS NULL AND u.is_active AND t.is_active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user is not an active member of this tenant' USING ERRCODE = 'CD403';
    END IF;
    IF coditect_internal.role_rank(p_user_role) > coditect_internal.role_rank(member_role) THEN
        RAISE EXCEPTION 'role "%" exceeds the membership role "%"', p_user_role, member_role
            USING ERRCODE = 'CD403';
    END IF;

    PERFORM coditect_internal.context_set(p_tenant_id, p_user_id, p_user_role, p_client_ip,
                                          left(p_user_agent, 500), p_request_method,
                                          left(p_request_path, 1000), p_request_id);
END
$$;
REVOKE ALL ON FUNCTION coditect.set_request_context(uuid, uuid, text, inet, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.set_request_context(uuid, uuid, text, inet, text, text, text, text)
    TO coditect_gateway, coditect_service;

------------------------------------------------------------------------------------------------
-- Tenant creation (services and the registration flow): a tenant, its owner, the membership.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect.create_tenant(
    p_name               text,
    p_slug               text,
    p_email              text,
    p_owner_email        text,
    p_owner_firebase_uid text DEFAULT NULL,
    p_license_tier       text DEFAULT 'trial'
) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t uuid;
    u uuid;
    m uuid;
BEGIN
    INSERT INTO coditect.tenants (name, slug, email, license_tier)
    VALUES (p_name, p_slug, p_email, p_license_tier) RETURNING id INTO t;
    INSERT INTO coditect.users (tenant_id, email, firebase_uid, role)
    VALUES (t, p_owner_email, p_owner_firebase_uid, 'owner') RETURNING id INTO u;
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES (t, u, 'owner') RETURNING id INTO m;
    RETURN jsonb_build_object('tenant_id', t, 'user_id', u, 'membership_id', m);
END
$$;
REVOKE ALL ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) TO coditect_service;

------------------------------------------------------------------------------------------------
-- REST API functions (the gateway and services call these after set_request_context). Each
-- checks the permission, then uses the generic helpers of 05_api.sql under the caller's RLS.
------------------------------------------------------------------------------------------------

CREATE FUNCTION coditect.api_tenant_get() RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('tenant.view');
    RETURN coditect_internal.api_get('coditect.tenants', coditect.current_tenant_id(), NULL);
END
$$;

CREATE FUNCTION coditect.api_tenant_update(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('tenant.update');
    RETURN coditect_internal.api_update('coditect.tenants', coditect.current_tenant_id(), p_body,
        '{name,email,billing_email,tax_id,phone_number,website,industry,company_size}', NULL);
END
$$;

CREATE FUNCTION coditect.api_users_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                        p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.view');
    RETURN coditect_internal.api_list('coditect.users', p_filters, '{email,role,is_active}', '{created_at}',
                                      '{oauth_sub,firebase_uid}', p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_users_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.view');
    RETURN coditect_internal.api_get('coditect.users', p_id, '{oauth_sub,firebase_uid}');
END
$$;

-- Invites a user: the user and a membership with the same role.
CREATE FUNCTION coditect.api_users_create(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u jsonb;
BEGIN
    PERFORM coditect.require_permission('user.invite');
    u := coditect_internal.api_create('coditect.users', p_body,
        '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences}',
        '{oauth_sub,firebase_uid}');
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES (coditect.current_tenant_id(), (u->>'id')::uuid, u->>'role');
    RETURN u;
END
$$;

CREATE FUNCTION coditect.api_users_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.update');
    RETURN coditect_internal.api_update('coditect.users', p_id, p_body,
        '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences,is_active}',
        '{oauth_sub,firebase_uid}');
END
$$;

CREATE FUNCTION coditect.api_users_delete(p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('user.delete');
    IF p_id = coditect.current_user_id() THEN
        RAISE EXCEPTION 'you cannot delete yourself' USING ERRCODE = 'CD409';
    END IF;
    PERFORM coditect_internal.api_delete('coditect.users', p_id);
END
$$;

CREATE FUNCTION coditect.api_memberships_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                              p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('membership.view');
    RETURN coditect_internal.api_list('coditect.memberships', p_filters, '{user_id,role}', '{created_at}',
                                      NULL, p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_memberships_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('membership.view');
    RETURN coditect_internal.api_get('coditect.memberships', p_id, NULL);
END
$$;

-- Changes a role or revokes (revoked_at) a membership.
CREATE FUNCTION coditect.api_memberships_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('membership.manage');
    RETURN coditect_internal.api_update('coditect.memberships', p_id, p_body, '{role,revoked_at}', NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                        p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.view');
    RETURN coditect_internal.api_list('coditect.teams', p_filters, '{name}', '{created_at}',
                                      NULL, p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_teams_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.view');
    RETURN coditect_internal.api_get('coditect.teams', p_id, NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_create(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.create');
    RETURN coditect_internal.api_create('coditect.teams', p_body, '{name,description}', NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.update');
    RETURN coditect_internal.api_update('coditect.teams', p_id, p_body, '{name,description}', NULL);
END
$$;

CREATE FUNCTION coditect.api_teams_delete(p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.delete');
    PERFORM coditect_internal.api_delete('coditect.teams', p_id);
END
$$;

CREATE FUNCTION coditect.api_team_members_list(p_team_id uuid, p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                               p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team.view');
    PERFORM coditect_internal.api_get('coditect.teams', p_team_id, NULL);
    RETURN coditect_internal.api_list('coditect.team_members',
        coalesce(p_filters, '{}') || jsonb_build_object('team_id', p_team_id), '{team_id,user_id,role}',
        '{created_at}', NULL, p_page, p_page_size, p_cursor);
END
$$;

CREATE FUNCTION coditect.api_team_members_create(p_team_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team_member.manage');
    PERFORM coditect_internal.api_get('coditect.teams', p_team_id, NULL);
    PERFORM coditect_internal.api_check_fields(p_body, '{user_id,role}');
    RETURN coditect_internal.api_create('coditect.team_members', p_body || jsonb_build_object('team_id', p_team_id),
                                        '{team_id,user_id,role}', NULL);
END
$$;

CREATE FUNCTION coditect.api_team_members_delete(p_team_id uuid, p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('team_member.manage');
    DELETE FROM coditect.team_members WHERE team_id = p_team_id AND id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not found' USING ERRCODE = 'CD404';
    END IF;
END
$$;

CREATE FUNCTION coditect.api_projects_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT 1,
                                           p_page_size int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.view');
    RETURN coditect_internal.api_list('coditect.projects', p_filters, '{name}', '{created_at}',
                                      NULL, p_page, p_page_size, p_cursor, true);
END
$$;

CREATE FUNCTION coditect.api_projects_get(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.view');
    RETURN coditect_internal.api_get('coditect.projects', p_id, NULL, true);
END
$$;

CREATE FUNCTION coditect.api_projects_create(p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.create');
    RETURN coditect_internal.api_create('coditect.projects', p_body, '{name,description,metadata}', NULL);
END
$$;

CREATE FUNCTION coditect.api_projects_update(p_id uuid, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.update');
    RETURN coditect_internal.api_update('coditect.projects', p_id, p_body, '{name,description,metadata}', NULL, true);
END
$$;

CREATE FUNCTION coditect.api_projects_delete(p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.delete');
    PERFORM coditect_internal.api_delete('coditect.projects', p_id, true);
END
$$;

CREATE FUNCTION coditect.api_projects_restore(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('project.restore');
    PERFORM coditect.restore_row('coditect.projects', p_id);
    RETURN coditect_internal.api_get('coditect.projects', p_id, NULL, true);
END
$$;

CREATE FUNCTION coditect.api_audit_logs_list(p_filters jsonb DEFAULT '{}', p_page int DEFAULT NULL,
                                             p_page_size int DEFAULT 50, p_cursor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect.require_permission('audit_log.view');
    RETURN coditect_internal.api_list('coditect.audit_logs', p_filters,
        '{user_id,action,resource_type,resource_id,severity,request_id}', '{created_at}', NULL, p_page, p_page_size, p_cursor);
END
$$;

-- Registration: a verified identity with no user yet creates a tenant and becomes its owner.
CREATE FUNCTION coditect.api_register(p_firebase_uid text, p_email text, p_tenant_name text, p_tenant_slug text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_firebase_uid IS NULL OR p_firebase_uid !~ '\S' THEN
        RAISE EXCEPTION 'a verified subject is required' USING ERRCODE = 'CD400';
    END IF;
    IF EXISTS (SELECT 1 FROM coditect_internal.global_keys WHERE kind = 'users.firebase_uid' AND value = p_firebase_uid) THEN
        RAISE EXCEPTION 'this identity is already registered' USING ERRCODE = 'CD409';
    END IF;
    RETURN coditect.create_tenant(p_tenant_name, p_tenant_slug, p_email, p_email, p_firebase_uid);
END
$$;

-- The user a Firebase uid belongs to (the gateway's lookup of a token's "sub").
CREATE FUNCTION coditect.resolve_firebase_user(p_firebase_uid text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('tenant_id', k.tenant_id, 'user_id', k.row_id, 'role', m.role)
      FROM coditect_internal.global_keys k
      LEFT JOIN coditect.memberships m ON m.tenant_id = k.tenant_id AND m.user_id = k.row_id AND m.revoked_at IS NULL
     WHERE k.kind = 'users.firebase_uid' AND k.value = p_firebase_uid
$$;


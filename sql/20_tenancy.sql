-- 20_tenancy: tenants, users, memberships, teams, team members, projects; the permission
-- catalog; the request context; analyst bindings; tenant creation.

CREATE FUNCTION coditect.is_valid_timezone(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'coditect_is_valid_timezone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------------------------

CREATE TYPE coditect.tenant_tier AS ENUM ('trial', 'starter', 'professional', 'enterprise');
COMMENT ON TYPE coditect.tenant_tier IS 'A tenant''s plan.';
CREATE TYPE coditect.company_size AS ENUM ('small', 'medium', 'large', 'enterprise');
CREATE TYPE coditect.team_role AS ENUM ('lead', 'member');
COMMENT ON TYPE coditect.team_role IS 'A user''s role in a team.';

CREATE TABLE coditect.tenants (
    id                     uuid PRIMARY KEY DEFAULT coditect.uuid_generate_v7(),
    name                   varchar(255) NOT NULL CHECK (name ~ '\S'),
    slug                   coditect.slug NOT NULL,
    email                  coditect.email NOT NULL,
    license_tier           coditect.tenant_tier NOT NULL DEFAULT 'trial',
    seats_total            integer NOT NULL DEFAULT 1 CHECK (seats_total >= 0),
    is_active              boolean NOT NULL DEFAULT true,
    stripe_customer_id     varchar(255),
    stripe_subscription_id varchar(255),
    billing_email          coditect.email,
    tax_id                 varchar(100),
    phone_number           varchar(50),
    website                coditect.url,
    industry               varchar(100),
    company_size           coditect.company_size,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- Slug and Stripe ids are unique across tenants through coditect_internal.global_keys; no
-- other index: the tenants table is the tenant key, and a lookup by e-mail or activity across
-- tenants is the service's, not a tenant's (an index on them would leak through EXPLAIN).
SELECT coditect_internal.claim_global_key('coditect.tenants', 'slug', 'tenants_slug_key', 'id');
SELECT coditect_internal.claim_global_key('coditect.tenants', 'stripe_customer_id', 'tenants_stripe_customer_key', 'id');
SELECT coditect_internal.claim_global_key('coditect.tenants', 'stripe_subscription_id', 'tenants_stripe_subscription_key', 'id');
-- tenants, users, memberships and analyst_bindings are read by set_request_context's cache.
SELECT coditect_internal.declare_backend_cache_source('coditect.tenants');

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
SELECT coditect_internal.declare_backend_cache_source('coditect.users');

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
SELECT coditect_internal.declare_backend_cache_source('coditect.memberships');

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
    role       coditect.team_role NOT NULL DEFAULT 'member',
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
    -- Prefix of its tasks' keys (WEB-42); set once (its tasks keep their keys), unique in the
    -- tenant among all projects, deleted ones included, so that no two tasks share a key.
    key         varchar(10) CHECK (key ~ '^[A-Z][A-Z0-9]{1,9}$'),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_deleted_after_created CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
CREATE UNIQUE INDEX projects_tenant_key_key ON coditect.projects (tenant_id, key);
CREATE UNIQUE INDEX projects_tenant_name_key ON coditect.projects (tenant_id, name)
    WHERE deleted_at IS NULL;
-- The list's default order (created_at, id), so that a page is a short index scan.
CREATE INDEX projects_tenant_created_idx ON coditect.projects (tenant_id, created_at DESC, id DESC)
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
DECLARE
    tbl name := coditect_internal.trigger_table_name(TG_TABLE_NAME);
BEGIN
    IF tbl = 'memberships' AND TG_OP = 'UPDATE' THEN
        IF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            RAISE EXCEPTION 'a membership cannot move to another user' USING ERRCODE = 'CD422';
        END IF;
    END IF;
    IF coditect.current_user_id() IS NOT NULL THEN
        -- Decided after the tenant lock, on what is committed: a concurrent promotion of this
        -- user is seen.
        PERFORM coditect_internal.lock_tenant_for_ownership(coalesce(NEW.tenant_id, OLD.tenant_id));
        IF coditect.current_user_role() IS DISTINCT FROM 'owner'
           AND (coditect_internal.is_owner_row(tbl, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END)
                OR coditect_internal.is_owner_row(tbl, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END)) THEN
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
-- permission.grant / permission.revoke events (11_audit_events).
CREATE TRIGGER audit_grant_change AFTER INSERT OR UPDATE OF role, revoked_at OR DELETE ON coditect.memberships
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_grant_change('membership');
CREATE TRIGGER audit_grant_change AFTER INSERT OR UPDATE OF role, team_id, user_id OR DELETE ON coditect.team_members
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.audit_grant_change('team_membership');
ALTER TABLE coditect.memberships ENABLE ALWAYS TRIGGER audit_grant_change;
ALTER TABLE coditect.team_members ENABLE ALWAYS TRIGGER audit_grant_change;
ALTER TABLE coditect.users ENABLE ALWAYS TRIGGER guard_ownership, ENABLE ALWAYS TRIGGER require_active_owner;

-- Maintenance only (DBA): removes a tenant and everything it owns, soft-deleted rows included.
-- Each removed row is audited; the audit trail itself is kept until its retention ends.
CREATE FUNCTION coditect.purge_tenant(p_tenant_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM coditect_internal.allow_hard_delete(true);
    -- Router queries on the tenant (a parameter). Its global keys first: sync_global_key leaves
    -- them to hard deletes (on Citus it fires on a shard, which cannot write a reference table).
    DELETE FROM coditect_internal.global_keys g WHERE g.tenant_id = p_tenant_id;
    DELETE FROM coditect.tenants WHERE id = p_tenant_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    -- After the tenant's row is gone (a bind_analyst in progress holds it: waited for above).
    DELETE FROM coditect_internal.analyst_bindings b WHERE b.tenant_id = p_tenant_id;
    PERFORM coditect_internal.allow_hard_delete(false);
END
$$;
REVOKE ALL ON FUNCTION coditect.purge_tenant(uuid) FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- Analyst bindings: a DBA binds a login to one tenant; it then reads that tenant's rows.
------------------------------------------------------------------------------------------------

CREATE TABLE coditect_internal.analyst_bindings (
    role_oid  oid PRIMARY KEY,
    role_name name NOT NULL,
    -- No foreign key: a global table (a Citus reference table) cannot reference the tenants
    -- (distributed). bind_analyst checks the tenant under a lock purge_tenant waits for, and
    -- purge_tenant removes the tenant's bindings.
    tenant_id uuid NOT NULL,
    bound_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analyst_bindings_tenant_idx ON coditect_internal.analyst_bindings (tenant_id);
SELECT coditect_internal.declare_backend_cache_source('coditect_internal.analyst_bindings');

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
    -- FOR KEY SHARE, as the foreign key's check would: a purge_tenant running now waits for
    -- this transaction, then removes the binding; one that ran first leaves no row here.
    PERFORM FROM coditect.tenants t WHERE t.id = p_tenant_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant % does not exist', p_tenant_id USING ERRCODE = 'CD404';
    END IF;
    INSERT INTO coditect_internal.analyst_bindings (role_oid, role_name, tenant_id)
    VALUES (r.oid, p_role, p_tenant_id)
    ON CONFLICT (role_oid) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, role_name = EXCLUDED.role_name,
                                         bound_at = EXCLUDED.bound_at;  -- no now() here: Citus refuses it
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

-- Sets who is calling for the rest of the transaction (src_ext/pg_context.cpp). The user must be
-- an active member of an active tenant; p_user_role may lower the membership's role, never raise
-- it; a bound analyst login gets no context. In C and not SECURITY DEFINER: it reads memberships,
-- users, tenants and analyst bindings itself, as their owner, with a pinned search path, and
-- only when this backend has no answer cached. A cached answer lives until a write to one of
-- those tables commits: their trigger invalidate_backend_caches (00_base) sends a relcache
-- invalidation of the table, which every backend applies before its next transaction and before
-- each context call, so a revoked membership, a deactivated user or tenant, a changed role or a
-- deleted row counts from the next call after the COMMIT, in every backend. On a Citus
-- coordinator it then SET LOCALs coditect.request for the workers; a backend without a context
-- reads that setting and runs these same checks (EXECUTE on this function included) before
-- taking it (README, "How the context reaches the node that runs a query").
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
    AS 'MODULE_PATHNAME', 'coditect_set_request_context' LANGUAGE C VOLATILE PARALLEL UNSAFE;
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
    t uuid := coditect.uuid_generate_v7();
    u uuid := coditect.uuid_generate_v7();
    m uuid;
BEGIN
    -- Global keys are claimed here, on the coordinator under Citus (00_base, global keys).
    PERFORM coditect_internal.global_key_claim('tenants.slug', p_slug, t, t);
    PERFORM coditect_internal.global_key_claim('users.firebase_uid', p_owner_firebase_uid, t, u);
    INSERT INTO coditect.tenants (id, name, slug, email, license_tier)
    VALUES (t, p_name, p_slug, p_email, p_license_tier::coditect.tenant_tier);
    INSERT INTO coditect.users (tenant_id, id, email, firebase_uid, role)
    VALUES (t, u, p_owner_email, p_owner_firebase_uid, 'owner');
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES (t, u, 'owner') RETURNING id INTO m;
    -- Every sign-up path comes through here (api_register and the service's own).
    PERFORM coditect_internal.audit_event(t, 'user.register', 'User', u::text,
        jsonb_build_object('tenant_id', t, 'membership_id', m, 'role', 'owner', 'license_tier', p_license_tier,
                           'identity', CASE WHEN p_owner_firebase_uid IS NOT NULL THEN 'firebase' ELSE 'email' END));
    RETURN jsonb_build_object('tenant_id', t, 'user_id', u, 'membership_id', m);
END
$$;
REVOKE ALL ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.create_tenant(text, text, text, text, text, text) TO coditect_service;

-- A project's key is set once: its tasks' keys are made from it.
CREATE FUNCTION coditect_internal.keep_project_key() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.key IS NOT NULL AND NEW.key IS DISTINCT FROM OLD.key THEN
        RAISE EXCEPTION 'a project''s key is set once (its tasks are keyed %-<number>)', OLD.key USING ERRCODE = 'CD422';
    END IF;
    RETURN NEW;
END
$$;

-- A user invited through the API joins with a membership of the same role.
CREATE FUNCTION coditect_internal.add_invited_member(p_user jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO coditect.memberships (tenant_id, user_id, role)
    VALUES ((p_user ->> 'tenant_id')::uuid, (p_user ->> 'id')::uuid, (p_user ->> 'role')::coditect.member_role);
END
$$;
REVOKE ALL ON FUNCTION coditect_internal.add_invited_member(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect_internal.add_invited_member(jsonb) TO coditect_gateway, coditect_service;

-- Nobody deletes their own account in a request context (an owner would lock themselves out
-- mid-request; an admin would lose the session that did it).
CREATE FUNCTION coditect_internal.refuse_self_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.id = coditect.current_user_id() AND OLD.tenant_id = coditect.current_tenant_id() THEN
        RAISE EXCEPTION 'you cannot delete yourself' USING ERRCODE = 'CD409';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER refuse_self_delete BEFORE DELETE ON coditect.users
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.refuse_self_delete();
ALTER TABLE coditect.users ENABLE ALWAYS TRIGGER refuse_self_delete;

------------------------------------------------------------------------------------------------
-- Resources (06_catalog): what the API shows of each table, and the least role per verb.
------------------------------------------------------------------------------------------------

-- A tenant edits its profile; plan, seats, activation and billing ids belong to the service.
SELECT coditect_internal.register_resource('coditect.tenants', 'tenant', p_plural => 'tenant',
    p_singleton => true, p_path => '/api/v1/tenant/',
    p_roles => '{"view": "guest", "update": "admin"}',
    p_update => '{name,email,billing_email,tax_id,phone_number,website,industry,company_size}',
    p_redact => '{tax_id}', p_tenant_column => 'id', p_writable => false);
GRANT UPDATE (name, email, billing_email, tax_id, phone_number, website, industry, company_size)
    ON coditect.tenants TO coditect_gateway;
GRANT UPDATE ON coditect.tenants TO coditect_service;

-- Identity-provider ids are hidden from the API and redacted from the audit trail.
SELECT coditect_internal.register_resource('coditect.users', 'user',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences}',
    p_update => '{email,first_name,last_name,role,phone_number,avatar_url,timezone,language,notification_preferences,is_active}',
    p_hidden => '{oauth_sub,firebase_uid}',
    p_filters => '{"email": ["exact", "in"], "role": ["exact", "in"], "is_active": ["exact"],
                   "last_login": ["isnull", "gte", "lt"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,email,last_name}', p_search => '{email,first_name,last_name}',
    p_after_create => 'coditect_internal.add_invited_member(jsonb)');

-- Memberships are made with their users; an admin changes a role or revokes (revoked_at).
SELECT coditect_internal.register_resource('coditect.memberships', 'membership',
    p_roles => '{"view": "member", "update": "admin"}',
    p_update => '{role,revoked_at}',
    p_filters => '{"user_id": ["exact", "in"], "role": ["exact", "in"], "revoked_at": ["isnull"],
                   "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,joined_at}');

SELECT coditect_internal.register_resource('coditect.teams', 'team',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{name,description}', p_update => '{name,description}',
    p_filters => '{"name": ["exact", "in"], "created_at": ["gte", "lt"]}',
    p_orderings => '{created_at,name}', p_search => '{name,description}');

SELECT coditect_internal.register_resource('coditect.team_members', 'team_member',
    p_parent => 'team', p_parent_column => 'team_id', p_path => '/api/v1/teams/{team_id}/members/',
    p_roles => '{"view": "guest", "create": "admin", "update": "admin", "delete": "admin"}',
    p_create => '{user_id,role}', p_update => '{role}',
    p_filters => '{"user_id": ["exact", "in"], "role": ["exact"], "created_at": ["gte", "lt"]}');

SELECT coditect_internal.register_resource('coditect.projects', 'project',
    p_roles => '{"view": "guest", "create": "member", "update": "member", "delete": "admin", "restore": "admin"}',
    p_create => '{name,description,metadata,key}', p_update => '{name,description,metadata,key}',
    p_filters => '{"name": ["exact", "in"], "key": ["exact"], "created_at": ["gt", "gte", "lt", "lte"], "updated_at": ["gte", "lt"]}',
    p_orderings => '{created_at,updated_at,name}', p_search => '{name,description}',
    p_example => '{"name": "Website", "key": "WEB", "description": "The public site"}');
CREATE TRIGGER keep_project_key BEFORE UPDATE OF key ON coditect.projects
    FOR EACH ROW EXECUTE FUNCTION coditect_internal.keep_project_key();
ALTER TABLE coditect.projects ENABLE ALWAYS TRIGGER keep_project_key;

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

REVOKE ALL ON FUNCTION coditect.api_register(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION coditect.api_register(text, text, text, text) TO coditect_gateway, coditect_service;

-- The user a Firebase uid belongs to (the gateway's lookup of a token's "sub").
-- PL/pgSQL, the key first, then the membership by its tenant: on Citus a router query on the
-- tenant's shard (Citus cannot plan a SQL function's parameters, nor route the join).
CREATE FUNCTION coditect.resolve_firebase_user(p_firebase_uid text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k coditect_internal.global_keys;
    v_role coditect.member_role;
BEGIN
    SELECT * INTO k FROM coditect_internal.global_keys x
     WHERE x.kind = 'users.firebase_uid' AND x.value = p_firebase_uid;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT m.role INTO v_role FROM coditect.memberships m
     WHERE m.tenant_id = k.tenant_id AND m.user_id = k.row_id AND m.revoked_at IS NULL;
    RETURN jsonb_build_object('tenant_id', k.tenant_id, 'user_id', k.row_id, 'role', v_role);
END
$$;


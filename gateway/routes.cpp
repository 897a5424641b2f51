#include "routes.hpp"

#include <algorithm>

namespace coditect::gateway {

namespace {

using json = nlohmann::json;

const std::vector<std::string> kCreated = {"created_at__gte", "created_at__lt"};

std::vector<std::string> filters(std::vector<std::string> names,
                                 const std::vector<std::string>& ranges = kCreated) {
  names.insert(names.end(), ranges.begin(), ranges.end());
  return names;
}

const std::vector<Arg> kListArgs = {Arg::Filters, Arg::Page, Arg::PageSize, Arg::Cursor};

std::vector<Route> make_routes() {
  std::vector<Route> r;
  auto add = [&](Route x) { r.push_back(std::move(x)); };
  auto list = [](std::string path, std::string op, std::string tag, std::string summary,
                 std::string fn, std::vector<std::string> f, std::string item, bool keyset = false,
                 int page_size = 20) {
    Route x;
    x.method = "GET";
    x.path = std::move(path);
    x.operation_id = std::move(op);
    x.tag = std::move(tag);
    x.summary = std::move(summary);
    x.sql = "SELECT " + fn + "($1::jsonb, $2::int, $3::int, $4::text)::text";
    x.args = kListArgs;
    x.result = ResultKind::List;
    x.list = ListSpec{std::move(f), page_size, keyset};
    x.response_schema = std::move(item);
    return x;
  };
  auto route = [](std::string method, std::string path, std::string op, std::string tag,
                  std::string summary, std::string sql, std::vector<Arg> args,
                  ResultKind result = ResultKind::Json, int status = 200, std::string request = {},
                  std::string response = {}) {
    Route x;
    x.method = std::move(method);
    x.path = std::move(path);
    x.operation_id = std::move(op);
    x.tag = std::move(tag);
    x.summary = std::move(summary);
    x.sql = std::move(sql);
    x.args = std::move(args);
    x.result = result;
    x.success_status = status;
    x.request_schema = std::move(request);
    x.response_schema = std::move(response);
    return x;
  };

  // Public.
  {
    Route h = route("GET", "/health/", "health", "operations",
                    "Liveness and database check (runs SELECT 1)", "SELECT 1::text", {},
                    ResultKind::Health, 200, {}, "Health");
    h.auth = Auth::None;
    add(h);
    Route s = route("GET", "/api/schema/", "schema", "operations", "This OpenAPI 3.1 document", "",
                    {}, ResultKind::Schema);
    s.auth = Auth::None;
    add(s);
  }
  {
    Route reg = route("POST", "/api/v1/auth/register", "auth_register", "auth",
                      "Register the token's identity: a new tenant owned by it",
                      "SELECT coditect.api_register($1, $2, $3, $4)::text",
                      {Arg::RegSubject, Arg::RegEmail, Arg::RegTenantName, Arg::RegTenantSlug},
                      ResultKind::Json, 201, "Register", "Registered");
    reg.auth = Auth::Register;
    reg.body_fields = {"tenant_name", "tenant_slug", "email"};
    add(reg);
  }

  // Tenant.
  add(route("GET", "/api/v1/tenant/", "tenant_get", "tenant", "The caller's tenant",
            "SELECT coditect.api_tenant_get()::text", {}, ResultKind::Json, 200, {}, "Tenant"));
  add(route("PATCH", "/api/v1/tenant/", "tenant_update", "tenant", "Edit the tenant's profile",
            "SELECT coditect.api_tenant_update($1::jsonb)::text", {Arg::Body}, ResultKind::Json,
            200, "TenantUpdate", "Tenant"));

  // Users.
  add(list("/api/v1/users/", "users_list", "users", "List users", "coditect.api_users_list",
           filters({"email", "role", "is_active"}), "User"));
  add(route("POST", "/api/v1/users/", "users_create", "users",
            "Invite a user (with a membership of the same role)",
            "SELECT coditect.api_users_create($1::jsonb)::text", {Arg::Body}, ResultKind::Json, 201,
            "UserCreate", "User"));
  add(route("GET", "/api/v1/users/{id}/", "users_get", "users", "A user",
            "SELECT coditect.api_users_get($1::uuid)::text", {Arg::PathId}, ResultKind::Json, 200,
            {}, "User"));
  add(route("PATCH", "/api/v1/users/{id}/", "users_update", "users", "Edit a user",
            "SELECT coditect.api_users_update($1::uuid, $2::jsonb)::text", {Arg::PathId, Arg::Body},
            ResultKind::Json, 200, "UserUpdate", "User"));
  add(route("DELETE", "/api/v1/users/{id}/", "users_delete", "users", "Delete a user",
            "SELECT coditect.api_users_delete($1::uuid)", {Arg::PathId}, ResultKind::Void, 204));

  // Memberships.
  add(list("/api/v1/memberships/", "memberships_list", "memberships", "List memberships",
           "coditect.api_memberships_list", filters({"user_id", "role"}), "Membership"));
  add(route("GET", "/api/v1/memberships/{id}/", "memberships_get", "memberships", "A membership",
            "SELECT coditect.api_memberships_get($1::uuid)::text", {Arg::PathId}, ResultKind::Json,
            200, {}, "Membership"));
  add(route("PATCH", "/api/v1/memberships/{id}/", "memberships_update", "memberships",
            "Change a membership's role or revoke it (revoked_at)",
            "SELECT coditect.api_memberships_update($1::uuid, $2::jsonb)::text",
            {Arg::PathId, Arg::Body}, ResultKind::Json, 200, "MembershipUpdate", "Membership"));

  // Teams.
  add(list("/api/v1/teams/", "teams_list", "teams", "List teams", "coditect.api_teams_list",
           filters({"name"}), "Team"));
  add(route("POST", "/api/v1/teams/", "teams_create", "teams", "Create a team",
            "SELECT coditect.api_teams_create($1::jsonb)::text", {Arg::Body}, ResultKind::Json, 201,
            "TeamWrite", "Team"));
  add(route("GET", "/api/v1/teams/{id}/", "teams_get", "teams", "A team",
            "SELECT coditect.api_teams_get($1::uuid)::text", {Arg::PathId}, ResultKind::Json, 200,
            {}, "Team"));
  add(route("PATCH", "/api/v1/teams/{id}/", "teams_update", "teams", "Edit a team",
            "SELECT coditect.api_teams_update($1::uuid, $2::jsonb)::text", {Arg::PathId, Arg::Body},
            ResultKind::Json, 200, "TeamWrite", "Team"));
  add(route("DELETE", "/api/v1/teams/{id}/", "teams_delete", "teams", "Delete a team",
            "SELECT coditect.api_teams_delete($1::uuid)", {Arg::PathId}, ResultKind::Void, 204));
  {
    Route x = list("/api/v1/teams/{id}/members/", "team_members_list", "teams",
                   "List a team's members", "", filters({"user_id", "role"}), "TeamMember");
    x.sql =
        "SELECT coditect.api_team_members_list($1::uuid, $2::jsonb, $3::int, $4::int, "
        "$5::text)::text";
    x.args = {Arg::PathId, Arg::Filters, Arg::Page, Arg::PageSize, Arg::Cursor};
    add(x);
  }
  add(route("POST", "/api/v1/teams/{id}/members/", "team_members_create", "teams",
            "Add a member to a team",
            "SELECT coditect.api_team_members_create($1::uuid, $2::jsonb)::text",
            {Arg::PathId, Arg::Body}, ResultKind::Json, 201, "TeamMemberCreate", "TeamMember"));
  add(route("DELETE", "/api/v1/teams/{id}/members/{member_id}/", "team_members_delete", "teams",
            "Remove a member from a team",
            "SELECT coditect.api_team_members_delete($1::uuid, $2::uuid)",
            {Arg::PathId, Arg::PathId2}, ResultKind::Void, 204));

  // Projects.
  add(list("/api/v1/projects/", "projects_list", "projects", "List live projects",
           "coditect.api_projects_list", filters({"name"}), "Project"));
  add(route("POST", "/api/v1/projects/", "projects_create", "projects", "Create a project",
            "SELECT coditect.api_projects_create($1::jsonb)::text", {Arg::Body}, ResultKind::Json,
            201, "ProjectWrite", "Project"));
  add(route("GET", "/api/v1/projects/{id}/", "projects_get", "projects", "A live project",
            "SELECT coditect.api_projects_get($1::uuid)::text", {Arg::PathId}, ResultKind::Json,
            200, {}, "Project"));
  add(route("PATCH", "/api/v1/projects/{id}/", "projects_update", "projects", "Edit a project",
            "SELECT coditect.api_projects_update($1::uuid, $2::jsonb)::text",
            {Arg::PathId, Arg::Body}, ResultKind::Json, 200, "ProjectWrite", "Project"));
  add(route("DELETE", "/api/v1/projects/{id}/", "projects_delete", "projects",
            "Delete a project (soft delete)", "SELECT coditect.api_projects_delete($1::uuid)",
            {Arg::PathId}, ResultKind::Void, 204));
  add(route("POST", "/api/v1/projects/{id}/restore/", "projects_restore", "projects",
            "Restore a deleted project", "SELECT coditect.api_projects_restore($1::uuid)::text",
            {Arg::PathId}, ResultKind::Json, 200, {}, "Project"));

  // Licenses.
  add(list("/api/v1/licenses/", "licenses_list", "licenses", "List licenses",
           "coditect.api_licenses_list",
           filters({"tier", "is_active"},
                   {"created_at__gte", "created_at__lt", "expiry_date__gte", "expiry_date__lt"}),
           "License"));
  add(route("POST", "/api/v1/licenses/", "licenses_issue", "licenses",
            "Issue a license (the key is generated)",
            "SELECT coditect.api_licenses_issue($1::jsonb)::text", {Arg::Body}, ResultKind::Json,
            201, "LicenseIssue", "License"));
  {
    Route x = route("POST", "/api/v1/licenses/acquire", "licenses_acquire", "licenses",
                    "Take a seat of a license for this machine",
                    "SELECT coditect.license_acquire($1, $2, $3::inet, $4)::text",
                    {Arg::KeyString, Arg::HardwareId, Arg::ClientIp, Arg::UserAgent},
                    ResultKind::Json, 200, "LicenseAcquire", "LicenseSession");
    x.body_fields = {"key_string", "hardware_id"};
    add(x);
  }
  {
    Route x = route("PUT", "/api/v1/licenses/heartbeat", "licenses_heartbeat", "licenses",
                    "Keep a seat: a fresh deadline and token",
                    "SELECT coditect.license_heartbeat($1::uuid)::text", {Arg::SessionId},
                    ResultKind::Json, 200, "SessionRef", "LicenseSession");
    x.body_fields = {"session_id"};
    add(x);
  }
  {
    Route x = route("DELETE", "/api/v1/licenses/release", "licenses_release", "licenses",
                    "Free a seat (session_id in the body or the query)",
                    "SELECT coditect.license_release($1::uuid)", {Arg::SessionId}, ResultKind::Void,
                    204, "SessionRef");
    x.body_fields = {"session_id"};
    add(x);
  }
  {
    Route x = route("GET", "/api/v1/licenses/public-keys/", "licenses_public_keys", "licenses",
                    "Public keys that verify license tokens (public)",
                    "SELECT coalesce(jsonb_agg(to_jsonb(k)), '[]')::text "
                    "FROM coditect.license_public_keys() k",
                    {}, ResultKind::Json, 200, {}, "PublicKeys");
    x.auth = Auth::None;
    add(x);
  }

  // Audit trail (keyset pages by default).
  add(list("/api/v1/audit-logs/", "audit_logs_list", "audit", "The tenant's audit trail",
           "coditect.api_audit_logs_list",
           filters({"user_id", "action", "resource_type", "resource_id", "severity", "request_id"}),
           "AuditLog", true, 50));
  return r;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{'; }

}  // namespace

const std::vector<Route>& routes() {
  static const std::vector<Route> table = make_routes();
  return table;
}

RouteMatch match_route(std::string_view method, std::string_view path) {
  RouteMatch m;
  // Empty segments ("//") are not collapsed: such a path matches nothing.
  if (path.empty() || path.front() != '/' || path.find("//") != std::string_view::npos) return m;
  auto segs = split_path(path);
  for (const auto& r : routes()) {
    auto rsegs = split_path(r.path);
    if (rsegs.size() != segs.size()) continue;
    std::vector<std::string> ids;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      if (is_param(rsegs[i]))
        ids.emplace_back(segs[i]);
      else
        ok = rsegs[i] == segs[i];
    }
    if (!ok) continue;
    m.path_known = true;
    if (std::find(m.allowed.begin(), m.allowed.end(), r.method) == m.allowed.end())
      m.allowed.push_back(r.method);
    if (r.method == method && !m.route) {
      m.route = &r;
      m.path_ids = std::move(ids);
    }
  }
  return m;
}

namespace {

json ref(const std::string& name) { return json{{"$ref", "#/components/schemas/" + name}}; }

json obj(json props, std::vector<std::string> required = {}, bool closed = false) {
  json o = {{"type", "object"}, {"properties", std::move(props)}};
  if (!required.empty()) o["required"] = required;
  if (closed) o["additionalProperties"] = false;
  return o;
}

const json kUuid = {{"type", "string"}, {"format", "uuid"}};
const json kTime = {{"type", "string"}, {"format", "date-time"}};
const json kStr = {{"type", "string"}};
const json kBool = {{"type", "boolean"}};
const json kInt = {{"type", "integer"}};
json nullable(json t) { return json{{"oneOf", {std::move(t), {{"type", "null"}}}}}; }
json role_enum() { return {{"type", "string"}, {"enum", {"owner", "admin", "member", "guest"}}}; }

json component_schemas() {
  json s;
  s["Problem"] = obj({{"type", kStr},
                      {"title", kStr},
                      {"status", kInt},
                      {"detail", kStr},
                      {"code", {{"type", "string"}, {"description", "SQLSTATE, or CDnnn"}}},
                      {"hint", kStr},
                      {"constraint", kStr},
                      {"column", kStr},
                      {"instance", kStr}},
                     {"type", "title", "status", "detail", "code"});
  s["Health"] = obj({{"status", kStr}, {"database", kStr}});
  s["Register"] = obj({{"tenant_name", kStr}, {"tenant_slug", kStr}, {"email", kStr}},
                      {"tenant_name", "tenant_slug"}, true);
  s["Registered"] = obj({{"tenant_id", kUuid}, {"user_id", kUuid}, {"membership_id", kUuid}});
  json tenant_w = {
      {"name", kStr},
      {"email", kStr},
      {"billing_email", kStr},
      {"tax_id", kStr},
      {"phone_number", kStr},
      {"website", kStr},
      {"industry", kStr},
      {"company_size", {{"type", "string"}, {"enum", {"small", "medium", "large", "enterprise"}}}}};
  s["TenantUpdate"] = obj(tenant_w, {}, true);
  json tenant = tenant_w;
  tenant.update({{"id", kUuid},
                 {"slug", kStr},
                 {"license_tier", kStr},
                 {"seats_total", kInt},
                 {"is_active", kBool},
                 {"created_at", kTime},
                 {"updated_at", kTime}});
  s["Tenant"] = obj(tenant);
  json user_w = {{"email", kStr},
                 {"first_name", kStr},
                 {"last_name", kStr},
                 {"role", role_enum()},
                 {"phone_number", kStr},
                 {"avatar_url", kStr},
                 {"timezone", kStr},
                 {"language", kStr},
                 {"notification_preferences", {{"type", "object"}}}};
  s["UserCreate"] = obj(user_w, {"email"}, true);
  json user_u = user_w;
  user_u["is_active"] = kBool;
  s["UserUpdate"] = obj(user_u, {}, true);
  json user = user_u;
  user.update({{"id", kUuid},
               {"tenant_id", kUuid},
               {"last_login", nullable(kTime)},
               {"created_at", kTime},
               {"updated_at", kTime}});
  s["User"] = obj(user);
  s["MembershipUpdate"] = obj({{"role", role_enum()}, {"revoked_at", nullable(kTime)}}, {}, true);
  s["Membership"] = obj({{"id", kUuid},
                         {"tenant_id", kUuid},
                         {"user_id", kUuid},
                         {"role", role_enum()},
                         {"joined_at", kTime},
                         {"revoked_at", nullable(kTime)},
                         {"created_at", kTime},
                         {"updated_at", kTime}});
  s["TeamWrite"] = obj({{"name", kStr}, {"description", kStr}}, {}, true);
  s["Team"] = obj({{"id", kUuid},
                   {"tenant_id", kUuid},
                   {"name", kStr},
                   {"description", kStr},
                   {"created_at", kTime},
                   {"updated_at", kTime}});
  json tm_role = {{"type", "string"}, {"enum", {"lead", "member"}}};
  s["TeamMemberCreate"] = obj({{"user_id", kUuid}, {"role", tm_role}}, {"user_id"}, true);
  s["TeamMember"] = obj({{"id", kUuid},
                         {"tenant_id", kUuid},
                         {"team_id", kUuid},
                         {"user_id", kUuid},
                         {"role", tm_role},
                         {"created_at", kTime},
                         {"updated_at", kTime}});
  s["ProjectWrite"] =
      obj({{"name", kStr}, {"description", kStr}, {"metadata", {{"type", "object"}}}}, {}, true);
  s["Project"] = obj({{"id", kUuid},
                      {"tenant_id", kUuid},
                      {"name", kStr},
                      {"description", kStr},
                      {"metadata", {{"type", "object"}}},
                      {"created_at", kTime},
                      {"updated_at", kTime},
                      {"deleted_at", nullable(kTime)}});
  json tier = {{"type", "string"}, {"enum", {"BASIC", "PRO", "ENTERPRISE"}}};
  json features = {{"type", "array"}, {"items", kStr}};
  s["LicenseIssue"] = obj({{"tier", tier},
                           {"features", features},
                           {"expiry_date", kTime},
                           {"seats_total", {{"type", "integer"}, {"minimum", 1}}}},
                          {"expiry_date"}, true);
  s["License"] = obj({{"id", kUuid},
                      {"tenant_id", kUuid},
                      {"key_string", kStr},
                      {"tier", tier},
                      {"features", features},
                      {"expiry_date", kTime},
                      {"seats_total", kInt},
                      {"seats_in_use", kInt},
                      {"is_active", kBool},
                      {"created_by", nullable(kUuid)},
                      {"created_at", kTime},
                      {"updated_at", kTime}});
  s["LicenseAcquire"] =
      obj({{"key_string", {{"type", "string"}, {"example", "CODITECT-ABCD-EFGH-JKLM"}}},
           {"hardware_id", kStr}},
          {"key_string", "hardware_id"}, true);
  s["SessionRef"] = obj({{"session_id", kUuid}}, {"session_id"}, true);
  s["LicenseSession"] =
      obj({{"session_id", kUuid},
           {"license_id", kUuid},
           {"status", kStr},
           {"hardware_id", kStr},
           {"tier", tier},
           {"features", features},
           {"seats_used", kInt},
           {"seats_total", kInt},
           {"heartbeat_deadline", kTime},
           {"license_expires_at", kTime},
           {"token", {{"type", "string"}, {"description", "signed license token"}}}});
  s["PublicKeys"] = {{"type", "array"},
                     {"items", obj({{"key_id", kStr},
                                    {"algorithm", kStr},
                                    {"public_key", kStr},
                                    {"public_key_pem", kStr},
                                    {"created_at", kTime}})}};
  s["AuditLog"] = obj({{"id", kUuid},
                       {"tenant_id", kUuid},
                       {"user_id", nullable(kUuid)},
                       {"action", kStr},
                       {"resource_type", kStr},
                       {"resource_id", nullable(kStr)},
                       {"ip_address", nullable(kStr)},
                       {"user_agent", nullable(kStr)},
                       {"request_method", nullable(kStr)},
                       {"request_path", nullable(kStr)},
                       {"request_id", nullable(kStr)},
                       {"changes", {{"type", "object"}}},
                       {"metadata", {{"type", "object"}}},
                       {"severity", kStr},
                       {"created_at", kTime}});
  return s;
}

json problem_response(const std::string& description) {
  return {{"description", description},
          {"content", {{"application/problem+json", {{"schema", ref("Problem")}}}}}};
}

}  // namespace

json openapi_document(const std::string& server_url) {
  json doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = {{"title", "Coditect Core API"},
                 {"version", "0.1.0"},
                 {"description",
                  "REST gateway over the coditect PostgreSQL extension: every operation is one "
                  "stored function called under the caller's request context. Errors are "
                  "application/problem+json (RFC 9457) with the SQLSTATE in `code`."}};
  if (!server_url.empty()) doc["servers"] = json::array({{{"url", server_url}}});
  doc["components"]["securitySchemes"]["bearerAuth"] = {
      {"type", "http"},
      {"scheme", "bearer"},
      {"bearerFormat", "JWT"},
      {"description",
       "HS256 (shared secret) or RS256 / ES256 (public keys by kid). Claims: sub (a user id, or "
       "a Firebase uid resolved to its user), tenant_id, role."}};
  doc["components"]["schemas"] = component_schemas();
  json paths = json::object();
  for (const auto& r : routes()) {
    json op;
    op["operationId"] = r.operation_id;
    op["summary"] = r.summary;
    op["tags"] = json::array({r.tag});
    if (r.auth == Auth::None)
      op["security"] = json::array();
    else
      op["security"] = json::array({{{"bearerAuth", json::array()}}});
    json params = json::array();
    for (const auto& seg : split_path(r.path))
      if (is_param(seg))
        params.push_back({{"name", std::string(seg.substr(1, seg.size() - 2))},
                          {"in", "path"},
                          {"required", true},
                          {"schema", kUuid}});
    if (r.result == ResultKind::List) {
      params.push_back(
          {{"name", "page"},
           {"in", "query"},
           {"schema", {{"type", "integer"}, {"minimum", 1}}},
           {"description", r.list.keyset_default ? "page number (default: keyset pages by cursor)"
                                                 : "page number (default 1)"}});
      params.push_back({{"name", "page_size"},
                        {"in", "query"},
                        {"schema",
                         {{"type", "integer"},
                          {"minimum", 1},
                          {"maximum", 200},
                          {"default", r.list.default_page_size}}}});
      params.push_back({{"name", "cursor"},
                        {"in", "query"},
                        {"schema", kStr},
                        {"description", "keyset cursor from a previous page's next link"}});
      for (const auto& f : r.list.filters)
        params.push_back({{"name", f},
                          {"in", "query"},
                          {"schema", kStr},
                          {"description", f.find("__") != std::string::npos ? "range filter"
                                                                            : "equality filter"}});
    }
    if (r.operation_id == "licenses_release")
      params.push_back({{"name", "session_id"},
                        {"in", "query"},
                        {"schema", kUuid},
                        {"description", "instead of the body"}});
    if (!params.empty()) op["parameters"] = params;
    if (!r.request_schema.empty())
      op["requestBody"] = {
          {"required", r.operation_id != "licenses_release"},
          {"content", {{"application/json", {{"schema", ref(r.request_schema)}}}}}};
    json responses;
    std::string ok = std::to_string(r.success_status);
    if (r.result == ResultKind::Void) {
      responses[ok] = {{"description", "done"}};
    } else if (r.result == ResultKind::List) {
      responses[ok] = {
          {"description", "one page"},
          {"content",
           {{"application/json",
             {{"schema", obj({{"count", nullable(kInt)},
                              {"next", nullable({{"type", "string"}, {"format", "uri"}})},
                              {"previous", nullable({{"type", "string"}, {"format", "uri"}})},
                              {"results", {{"type", "array"}, {"items", ref(r.response_schema)}}}},
                             {"count", "next", "previous", "results"})}}}}}};
    } else if (r.result == ResultKind::Schema) {
      responses[ok] = {{"description", "OpenAPI document"},
                       {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    } else {
      responses[ok] = {{"description", "ok"},
                       {"content", {{"application/json", {{"schema", ref(r.response_schema)}}}}}};
    }
    if (r.result != ResultKind::Schema && r.result != ResultKind::Health)
      responses["400"] = problem_response("bad input");
    if (r.auth != Auth::None) {
      responses["401"] = problem_response("missing or invalid bearer token");
      responses["403"] = problem_response("forbidden (decided by the database)");
    }
    if (r.path.find('{') != std::string::npos || r.auth != Auth::None)
      responses["404"] = problem_response("not found (also another tenant's ids)");
    if (r.result != ResultKind::Schema) responses["503"] = problem_response("database unavailable");
    responses["default"] = problem_response("error");
    std::string lower = r.method;
    for (auto& c : lower) c = static_cast<char>(c - 'A' + 'a');
    op["responses"] = responses;
    paths[r.path][lower] = op;
  }
  doc["paths"] = paths;
  return doc;
}

}  // namespace coditect::gateway

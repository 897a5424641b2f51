#include "routes.hpp"

#include <algorithm>

namespace coditect::gateway {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 1;  // after the leading '/'
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool is_param(std::string_view seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

Route operational(RouteKind kind, std::string method, std::string path, std::string id,
                  std::string summary) {
  Route r;
  r.kind = kind;
  r.op.operation_id = std::move(id);
  r.op.kind = "operational";
  r.op.method = std::move(method);
  r.op.path = std::move(path);
  r.op.summary = std::move(summary);
  r.op.auth = Auth::None;
  return r;
}

Param body_field(std::string name) {
  Param p;
  p.from = Source::BodyField;
  p.name = std::move(name);
  p.type.json_type = "string";
  return p;
}

}  // namespace

std::vector<Route> operational_routes() {
  std::vector<Route> out;
  out.push_back(operational(RouteKind::Health, "GET", "/health/", "health",
                            "Liveness and database check (runs SELECT 1)"));
  out.push_back(
      operational(RouteKind::Schema, "GET", "/api/schema/", "schema", "This OpenAPI 3.1 document"));
  Route reg = operational(RouteKind::Call, "POST", "/api/v1/auth/register", "auth_register",
                          "Register the token's identity: a new tenant owned by it");
  reg.op.auth = Auth::Register;
  reg.op.sql = "SELECT coditect.api_register($1, $2, $3, $4)::text";
  Param sub, email;
  sub.from = Source::TokenSub;
  email.from = Source::TokenEmail;
  email.name = "email";
  email.type.json_type = "string";
  reg.op.params = {sub, email, body_field("tenant_name"), body_field("tenant_slug")};
  reg.op.status = 201;
  reg.op.request = {{"schema", "Register"}};  // schemas the gateway declares itself
  reg.op.response = {{"schema", "Registered"}};
  out.push_back(std::move(reg));
  return out;
}

const std::vector<std::pair<std::string, std::string>>& fixed_statements() {
  static const std::vector<std::pair<std::string, std::string>> s = {
      {"gw:health", "SELECT 1::text"},
      {"gw:set_context",
       "SELECT coditect.set_request_context($1::uuid, $2::uuid, $3::text, $4::inet, $5::text, "
       "$6::text, $7::text, $8::text)"},
      {"gw:resolve_firebase_user", "SELECT coditect.resolve_firebase_user($1::text)::text"},
      // The storage interface's read (a download streams its file with it, after the
      // route's decision in the same transaction).
      {"gw:content_read", "SELECT coditect.storage_read($1::uuid, $2::bigint, $3::int)"},
      // Audit events (audit_events.hpp): a new token's login, a refused or failed answer.
      {"gw:record_login",
       "SELECT coditect.record_login($1::text, to_timestamp($2::float8), "
       "to_timestamp($3::float8))::text"},
      {"gw:audit_outcome", "SELECT coditect.audit_request_outcome($1::int, $2::text)"},
      // Idempotency keys (idempotency.hpp).
      {"gw:idempotency_lookup", "SELECT coditect.idempotency_lookup($1::text, $2::text)::text"},
      {"gw:idempotency_claim", "SELECT coditect.idempotency_claim($1::text, $2::text)::text"},
      {"gw:idempotency_finish",
       "SELECT coditect.idempotency_finish($1::text, $2::int, $3::text, $4::jsonb, "
       "$5::text, $6::boolean)::text"}};
  return s;
}

RouteTable::RouteTable(Catalog catalog) : catalog_(std::move(catalog)) {
  routes_ = operational_routes();
  for (const auto& op : catalog_.operations) {
    Route r;
    r.op = op;
    routes_.push_back(std::move(r));
  }
  nodes_.emplace_back();
  for (size_t i = 0; i < routes_.size(); ++i) {
    Route& r = routes_[i];
    if (!r.op.resource.empty()) r.resource = catalog_.resource(r.op.resource);
    for (auto seg : split_path(r.op.path))
      if (is_param(seg)) r.path_params.emplace_back(seg.substr(1, seg.size() - 2));
    for (size_t k = 0; k < i; ++k)
      if (routes_[k].op.operation_id == r.op.operation_id)
        throw CatalogError("operation " + r.op.operation_id + ": the name is taken");
    insert(static_cast<int>(i));
  }
}

void RouteTable::insert(int index) {
  const Route& r = routes_[static_cast<size_t>(index)];
  int node = 0;
  for (auto seg : split_path(r.op.path)) {
    if (seg.empty()) continue;  // the trailing slash
    int next;
    if (is_param(seg)) {
      next = nodes_[static_cast<size_t>(node)].param;
      if (next < 0) {
        next = static_cast<int>(nodes_.size());
        nodes_.emplace_back();
        nodes_[static_cast<size_t>(node)].param = next;
      }
    } else {
      auto& lit = nodes_[static_cast<size_t>(node)].literal;
      auto it = lit.find(seg);
      if (it == lit.end()) {
        next = static_cast<int>(nodes_.size());
        lit.emplace(std::string(seg), next);
        nodes_.emplace_back();
      } else {
        next = it->second;
      }
    }
    node = next;
  }
  auto& methods = nodes_[static_cast<size_t>(node)].methods;
  for (const auto& [m, other] : methods)
    if (m == r.op.method)
      throw CatalogError("operations " + routes_[static_cast<size_t>(other)].op.operation_id +
                         " and " + r.op.operation_id + " share " + m + " " + r.op.path);
  methods.emplace_back(r.op.method, index);
}

int RouteTable::find(int node, const std::vector<std::string_view>& segs, size_t i,
                     std::vector<std::string_view>& values) const {
  const Node& n = nodes_[static_cast<size_t>(node)];
  if (i == segs.size()) return n.methods.empty() ? -1 : node;
  auto it = n.literal.find(segs[i]);
  if (it != n.literal.end()) {
    int found = find(it->second, segs, i + 1, values);
    if (found >= 0) return found;
  }
  if (n.param >= 0) {
    values.push_back(segs[i]);
    int found = find(n.param, segs, i + 1, values);
    if (found >= 0) return found;
    values.pop_back();
  }
  return -1;
}

RouteMatch RouteTable::match(std::string_view method, std::string_view path) const {
  RouteMatch m;
  if (path.empty() || path.front() != '/' || path.find("//") != std::string_view::npos) return m;
  auto segs = split_path(path);
  if (!segs.empty() && segs.back().empty()) segs.pop_back();  // the trailing slash
  std::vector<std::string_view> values;
  int node = find(0, segs, 0, values);
  if (node < 0) return m;
  m.path_known = true;
  for (const auto& [name, index] : nodes_[static_cast<size_t>(node)].methods) {
    m.allowed.push_back(name);
    if (name == method) m.route = &routes_[static_cast<size_t>(index)];
  }
  if (m.route)
    for (size_t i = 0; i < values.size() && i < m.route->path_params.size(); ++i)
      m.path_params.emplace_back(m.route->path_params[i], std::string(values[i]));
  return m;
}

}  // namespace coditect::gateway

#include "openapi.hpp"

#include <functional>
#include <set>

#include "idempotency.hpp"

namespace coditect::gateway {

namespace {

using json = nlohmann::json;

json schema_ref(const std::string& name) { return json{{"$ref", "#/components/schemas/" + name}}; }

json object(json props, std::vector<std::string> required = {}, bool closed = false) {
  json o = {{"type", "object"}, {"properties", std::move(props)}};
  if (!required.empty()) o["required"] = std::move(required);
  if (closed) o["additionalProperties"] = false;
  return o;
}

const json kStr = {{"type", "string"}};
const json kInt = {{"type", "integer"}};
const json kUuid = {{"type", "string"}, {"format", "uuid"}};

// Component names of the catalog's types: PascalCase, with "Type" added where that would
// clash with a resource's or the gateway's own schema.
class Names {
 public:
  explicit Names(const Catalog& cat) {
    std::set<std::string> taken = {"Problem", "Health", "Register", "Registered"};
    for (const auto& r : cat.resources) {
      resources_[r.name] = r.schema_name;
      for (const char* suffix : {"", "Create", "Update", "List"})
        taken.insert(r.schema_name + suffix);
    }
    for (const auto& t : cat.types) {
      std::string n = pascal_case(t.name);
      while (taken.count(n)) n += "Type";
      taken.insert(n);
      types_[t.name] = n;
    }
  }
  const std::string& type(const std::string& name) const { return types_.at(name); }
  const std::string& resource(const std::string& name) const { return resources_.at(name); }

 private:
  std::map<std::string, std::string> types_, resources_;
};

// The schema of one value. with_null: a nullable value admits null.
json value_schema(const ValueType& t, const Names& names, bool with_null = true) {
  bool null = with_null && t.nullable;
  json s;
  if (!t.enum_type.empty() || !t.resource.empty() || !t.composite.empty()) {
    s = schema_ref(!t.enum_type.empty()  ? names.type(t.enum_type)
                   : !t.resource.empty() ? names.resource(t.resource)
                                         : names.type(t.composite));
    if (null) s = json{{"oneOf", {s, {{"type", "null"}}}}};
  } else {
    if (t.json_type != "any") {
      s["type"] = null ? json::array({t.json_type, "null"}) : json(t.json_type);
    }
    if (!t.format.empty()) s["format"] = t.format;
    if (t.max_length && t.json_type == "string") s["maxLength"] = *t.max_length;
    if (t.json_type == "array")
      s["items"] = t.items ? value_schema(*t.items, names) : json::object();
  }
  if (!t.description.empty()) s["description"] = t.description;
  if (s.is_null()) s = json::object();
  return s;
}

// An object of columns: every listed one required (answers), or only those marked so (inputs).
json columns_schema(const std::vector<const Column*>& cols, const Names& names, bool all_required,
                    bool closed) {
  json props = json::object();
  std::vector<std::string> required;
  for (const Column* c : cols) {
    props[c->name] = value_schema(c->type, names);
    if (all_required || c->required) required.push_back(c->name);
  }
  return object(std::move(props), std::move(required), closed);
}

std::vector<const Column*> pick(const Resource& r, bool Column::*which) {
  std::vector<const Column*> out;
  for (const auto& c : r.columns)
    if (c.*which) out.push_back(&c);
  return out;
}

json list_schema(const std::string& item) {
  return object({{"count", {{"type", json::array({"integer", "null"})}}},
                 {"next", {{"type", json::array({"string", "null"})}, {"format", "uri"}}},
                 {"previous", {{"type", json::array({"string", "null"})}, {"format", "uri"}}},
                 {"results", {{"type", "array"}, {"items", schema_ref(item)}}}},
                {"count", "next", "previous", "results"});
}

json gateway_schemas() {
  json s;
  s["Problem"] = object({{"type", kStr},
                         {"title", kStr},
                         {"status", kInt},
                         {"detail", kStr},
                         {"code", {{"type", "string"}, {"description", "SQLSTATE, or CDnnn"}}},
                         {"hint", kStr},
                         {"constraint", kStr},
                         {"column", kStr},
                         {"instance", kStr}},
                        {"type", "title", "status", "detail", "code"});
  s["Health"] = object({{"status", kStr}, {"database", kStr}}, {"status"});
  s["Register"] = object({{"tenant_name", kStr}, {"tenant_slug", kStr}, {"email", kStr}},
                         {"tenant_name", "tenant_slug"}, true);
  s["Registered"] = object({{"tenant_id", kUuid}, {"user_id", kUuid}, {"membership_id", kUuid}},
                           {"tenant_id", "user_id", "membership_id"});
  return s;
}

// Which Create / Update / List schemas some operation uses (the others are not emitted).
std::set<std::string> used_schemas(const RouteTable& table) {
  std::set<std::string> used;
  for (const auto& r : table.routes()) {
    if (!r.resource) continue;
    if (r.op.result == ResultKind::List) used.insert(r.resource->schema_name + "List");
    const json& req = r.op.request;
    if (req.is_object() && req.contains("mode") && req.contains("resource")) {
      const Resource* res = table.catalog().resource(req.value("resource", ""));
      if (res)
        used.insert(res->schema_name + (req.value("mode", "") == "create" ? "Create" : "Update"));
    }
  }
  return used;
}

json component_schemas(const RouteTable& table, const Names& names) {
  const Catalog& cat = table.catalog();
  json s = gateway_schemas();
  for (const auto& t : cat.types) {
    json c;
    if (t.kind == "enum") {
      c = {{"type", "string"}, {"enum", t.values}};
    } else {
      std::vector<const Column*> attrs;
      for (const auto& a : t.attributes) attrs.push_back(&a);
      c = columns_schema(attrs, names, true, false);
    }
    if (!t.description.empty()) c["description"] = t.description;
    s[names.type(t.name)] = c;
  }
  // A published schema's own references ("#/$defs/node") point into itself: here, into its
  // component (and its "$id", a base of its own, would take them elsewhere).
  for (const auto& [name, schema] : cat.schemas) {
    json c = schema;
    c.erase("$id");
    std::function<void(json&)> rebase = [&](json& j) {
      if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
          if (it.key() == "$ref" && it->is_string() && it->get<std::string>().rfind("#/", 0) == 0)
            *it = "#/components/schemas/" + name + it->get<std::string>().substr(1);
          else
            rebase(*it);
        }
      } else if (j.is_array()) {
        for (auto& e : j) rebase(e);
      }
    };
    rebase(c);
    s[name] = c;
  }
  std::set<std::string> used = used_schemas(table);
  for (const auto& r : cat.resources) {
    json read = columns_schema(pick(r, &Column::read), names, true, false);
    if (!r.description.empty()) read["description"] = r.description;
    // Which rows a caller sees depends on grants, not only on the role (clients and tests).
    if (r.row_access) read["x-row-access"] = true;
    s[r.schema_name] = read;
    if (used.count(r.schema_name + "Create")) {
      s[r.schema_name + "Create"] = columns_schema(pick(r, &Column::create), names, false, true);
      if (r.example.is_object()) s[r.schema_name + "Create"]["examples"] = json::array({r.example});
    }
    if (used.count(r.schema_name + "Update")) {
      json u = columns_schema(pick(r, &Column::update), names, false, true);
      u.erase("required");  // a PATCH sends what changes
      s[r.schema_name + "Update"] = u;
    }
    if (used.count(r.schema_name + "List")) s[r.schema_name + "List"] = list_schema(r.schema_name);
  }
  return s;
}

json problem_response(const std::string& description) {
  return {{"description", description},
          {"content", {{"application/problem+json", {{"schema", schema_ref("Problem")}}}}}};
}

// The body fields of an action: request.fields when declared, else its body_field params.
std::vector<Param> body_fields(const Operation& op) {
  std::vector<Param> out;
  const json& req = op.request;
  if (req.is_object() && req.contains("fields") && req["fields"].is_array()) {
    for (const auto& f : req["fields"]) {
      Param p;
      p.from = Source::BodyField;
      p.name = f.value("name", "");
      p.required = f.value("required", false);
      p.type.json_type = f.value("json_type", "any");
      if (f.contains("format") && f["format"].is_string()) p.type.format = f["format"];
      if (f.contains("enum_type") && f["enum_type"].is_string()) p.type.enum_type = f["enum_type"];
      if (f.contains("max_length") && f["max_length"].is_number_integer())
        p.type.max_length = f["max_length"].get<long>();
      if (f.contains("description") && f["description"].is_string())
        p.type.description = f["description"];
      out.push_back(std::move(p));
    }
    return out;
  }
  for (const auto& p : op.params)
    if (p.from == Source::BodyField || p.from == Source::TokenEmail) out.push_back(p);
  return out;
}

json query_param(const std::string& name, json schema, const std::string& description = {}) {
  json p = {{"name", name}, {"in", "query"}, {"required", false}, {"schema", std::move(schema)}};
  if (!description.empty()) p["description"] = description;
  return p;
}

json filter_schema(const Filter& f, const Resource& r, const Names& names) {
  const Column* c = r.column(f.column);
  if (f.op == "isnull") return {{"type", "boolean"}};
  if (f.op == "in") return {{"type", "string"}, {"description", "comma-separated values"}};
  if (f.op == "contains")
    return {{"type", "string"}, {"description", "comma-separated values, all of which it holds"}};
  if (!c) return kStr;
  json s = value_schema(c->type, names, false);
  s.erase("description");
  s.erase("maxLength");
  if (c->type.json_type == "object" || c->type.json_type == "array" || c->type.json_type == "any")
    return kStr;
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

json parameters(const Route& route, const Names& names) {
  const Operation& op = route.op;
  const Resource* r = route.resource;
  json params = json::array();
  for (const auto& name : route.path_params)
    params.push_back({{"name", name}, {"in", "path"}, {"required", true}, {"schema", kUuid}});
  for (const auto& p : op.params) {
    switch (p.from) {
      case Source::Filters:
        if (r)
          for (const auto& f : r->filters)
            params.push_back(query_param(f.name, filter_schema(f, *r, names),
                                         f.op == "exact" ? "" : f.op + " filter on " + f.column));
        break;
      case Source::Page:
        params.push_back(query_param("page", {{"type", "integer"}, {"minimum", 1}},
                                     r && r->keyset_default
                                         ? "page number (default: keyset pages by cursor)"
                                         : "page number (default 1)"));
        break;
      case Source::PageSize:
        params.push_back(query_param("page_size", {{"type", "integer"},
                                                   {"minimum", 1},
                                                   {"maximum", r ? r->max_page_size : 200},
                                                   {"default", r ? r->page_size : 20}}));
        break;
      case Source::Cursor:
        params.push_back(
            query_param("cursor", kStr, "keyset cursor from a previous page's next link"));
        break;
      case Source::Ordering:
        if (r) {
          json p = query_param(
              "ordering", kStr,
              "comma-separated keys, '-' for descending; keys: " + join(r->orderings) +
                  (r->default_ordering.empty() ? "" : " (default " + r->default_ordering + ")"));
          p["x-orderings"] = r->orderings;  // for clients and tests that walk the document
          params.push_back(std::move(p));
        }
        break;
      case Source::Search:
        if (!r || r->search) params.push_back(query_param("search", kStr, "full-text search"));
        break;
      case Source::BodyField:
        if (p.also_query)
          params.push_back(query_param(p.name, value_schema(p.type, names), "instead of the body"));
        break;
      case Source::Header:
        params.push_back(
            {{"name", p.name}, {"in", "header"}, {"required", false}, {"schema", kStr}});
        break;
      case Source::IfMatch:
        params.push_back({{"name", "If-Match"},
                          {"in", "header"},
                          {"required", false},
                          {"schema", kStr},
                          {"description", "the ETag last read: 412 when the row changed since"}});
        break;
      default:
        break;
    }
  }
  if (takes_idempotency_key(op))
    params.push_back(
        {{"name", kIdempotencyKeyHeader},
         {"in", "header"},
         {"required", false},
         {"schema", {{"type", "string"}, {"minLength", 1}, {"maxLength", 255}}},
         {"description", op.secret ? "the answer holds a secret, which is not kept: a retry with "
                                     "the same key is 409 and does nothing; 24 hours"
                                   : "a retry with the same key and request answers the first "
                                     "answer (Idempotent-Replayed: true); another request with it "
                                     "409; 24 hours"}});
  return params;
}

// The request body schema, or null when the operation reads none.
json request_schema(const Route& route, const RouteTable& table, const Names& names,
                    json& components, bool* required) {
  const Operation& op = route.op;
  const json& req = op.request;
  *required = true;
  if (req.is_object() && req.contains("schema")) return schema_ref(req["schema"]);
  if (req.is_object() && req.contains("mode")) {
    const Resource* r = table.catalog().resource(req.value("resource", ""));
    if (r)
      return schema_ref(r->schema_name + (req.value("mode", "") == "create" ? "Create" : "Update"));
  }
  if (op.takes(Source::Body)) return {{"type", "object"}};
  std::vector<Param> fields = body_fields(op);
  if (fields.empty()) return nullptr;
  json props = json::object();
  std::vector<std::string> req_names;
  bool body_needed = false;
  for (const auto& f : fields) {
    props[f.name] = value_schema(f.type, names);
    if (f.required) req_names.push_back(f.name);
    bool also_query = false;
    for (const auto& p : op.params) also_query = also_query || (p.name == f.name && p.also_query);
    body_needed = body_needed || (f.required && !also_query);
  }
  *required = body_needed;
  std::string name = pascal_case(op.operation_id) + "Request";
  components[name] = object(std::move(props), std::move(req_names), true);
  return schema_ref(name);
}

json success_schema(const Route& route, const RouteTable& table, const Names& names) {
  const Operation& op = route.op;
  const json& res = op.response;
  if (op.result == ResultKind::List && route.resource)
    return schema_ref(route.resource->schema_name + "List");
  if (res.is_object() && res.contains("schema")) return schema_ref(res["schema"]);
  json s = json::object();
  if (res.is_object() && res.contains("resource")) {
    const Resource* r = table.catalog().resource(res.value("resource", ""));
    if (r) s = schema_ref(r->schema_name);
  } else if (res.is_object() && res.contains("type") &&
             table.catalog().type(res.value("type", ""))) {
    s = schema_ref(names.type(res["type"]));
  }
  if (res.is_object() && res.value("array", false)) s = {{"type", "array"}, {"items", s}};
  return s;
}

std::string tag(const Route& route) {
  if (route.resource) return route.resource->plural;
  const std::string& p = route.op.path;
  const std::string prefix = "/api/v1/";
  if (p.rfind(prefix, 0) == 0)
    return p.substr(prefix.size(), p.find('/', prefix.size()) - prefix.size());
  return "operations";
}

json operation_object(const Route& route, const RouteTable& table, const Names& names,
                      json& components) {
  const Operation& op = route.op;
  json o;
  o["operationId"] = op.operation_id;
  if (!op.summary.empty()) o["summary"] = op.summary;
  if (!op.permission.empty()) o["x-permission"] = op.permission;  // checked by the database
  if (op.writes) o["x-writes"] = true;  // a GET that records a read (a read-write transaction)
  o["tags"] = json::array({tag(route)});
  o["security"] =
      op.auth == Auth::None ? json::array() : json::array({{{"bearerAuth", json::array()}}});
  json params = parameters(route, names);
  if (!params.empty()) o["parameters"] = params;
  bool body_required = true;
  json body = request_schema(route, table, names, components, &body_required);
  if (op.takes(Source::BodyOctets))
    o["requestBody"] = {
        {"required", true},
        {"content",
         {{"application/offset+octet-stream",
           {{"schema", {{"type", "string"}, {"contentMediaType", "application/octet-stream"}}}}}}}};
  else if (!body.is_null())
    o["requestBody"] = {{"required", body_required},
                        {"content", {{"application/json", {{"schema", body}}}}}};
  json responses;
  std::string ok = std::to_string(op.status);
  if (route.kind == RouteKind::Schema) {
    responses[ok] = {{"description", "OpenAPI document"},
                     {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
  } else if (route.kind == RouteKind::Health) {
    responses[ok] = {{"description", "ok"},
                     {"content", {{"application/json", {{"schema", schema_ref("Health")}}}}}};
  } else if (op.protocol == Protocol::Content) {
    responses[ok] = {
        {"description", "the file (206 with Content-Range for a Range; 416 past its end)"},
        {"content",
         {{"application/octet-stream",
           {{"schema", {{"type", "string"}, {"contentMediaType", "application/octet-stream"}}}}}}}};
    responses[ok]["headers"]["ETag"] = {
        {"description", "the file's SHA-256, quoted"}, {"required", true}, {"schema", kStr}};
  } else if (op.protocol == Protocol::TusStatus || op.protocol == Protocol::TusAppend) {
    responses[op.protocol == Protocol::TusAppend ? "204" : ok] = {
        {"description", "tus: the upload's offset"},
        {"headers", {{"Upload-Offset", {{"required", true}, {"schema", kStr}}}}}};
    if (op.protocol == Protocol::TusAppend) responses.erase(ok);
  } else if (op.result == ResultKind::Void) {
    responses[ok] = {{"description", "done"}};
  } else {
    responses[ok] = {
        {"description", op.result == ResultKind::List ? "one page" : "ok"},
        {"content", {{"application/json", {{"schema", success_schema(route, table, names)}}}}}};
  }
  if (op.etag)
    responses[ok]["headers"]["ETag"] = {
        {"description", "the row's version, for If-Match"}, {"required", true}, {"schema", kStr}};
  if (route.kind == RouteKind::Call) responses["400"] = problem_response("bad input");
  if (op.auth != Auth::None) {
    responses["401"] = problem_response("missing or invalid bearer token");
    responses["403"] = problem_response("forbidden (decided by the database)");
  }
  if (op.null_answer_detail)  // one 404 for every refusal (a share's token)
    responses["404"] = problem_response(*op.null_answer_detail);
  else if (!route.path_params.empty() || op.auth == Auth::Bearer)
    responses["404"] = problem_response("not found (also another tenant's ids)");
  if (op.kind == "update" || op.kind == "delete" || op.takes(Source::IfMatch))
    responses["412"] = problem_response("If-Match does not match the row's current ETag");
  if (route.kind != RouteKind::Schema) responses["503"] = problem_response("database unavailable");
  responses["default"] = problem_response("error");
  o["responses"] = responses;
  return o;
}

}  // namespace

json openapi_document(const RouteTable& table, const std::string& server_url) {
  Names names(table.catalog());
  json doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = {{"title", "Coditect Core API"},
                 {"version", table.catalog().version.empty() ? "0" : table.catalog().version},
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
  json components = component_schemas(table, names);
  json paths = json::object();
  for (const auto& route : table.routes()) {
    std::string method = route.op.method;
    for (auto& c : method) c = static_cast<char>(c - 'A' + 'a');
    paths[route.op.path][method] = operation_object(route, table, names, components);
  }
  doc["components"]["schemas"] = std::move(components);
  doc["paths"] = std::move(paths);
  return doc;
}

}  // namespace coditect::gateway

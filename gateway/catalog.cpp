#include "catalog.hpp"

#include <algorithm>
#include <set>

namespace coditect::gateway {

namespace {

using json = nlohmann::json;

// Accessors that treat a missing key and null alike and name the entry on a type error.
std::string text(const json& j, const char* key, const std::string& where, bool required = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw CatalogError(where + ": \"" + key + "\" is required");
    return {};
  }
  if (!it->is_string()) throw CatalogError(where + ": \"" + key + "\" must be a string");
  return it->get<std::string>();
}

bool flag(const json& j, const char* key, const std::string& where, bool dflt = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) throw CatalogError(where + ": \"" + key + "\" must be true or false");
  return it->get<bool>();
}

long number(const json& j, const char* key, const std::string& where, long dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_number_integer()) throw CatalogError(where + ": \"" + key + "\" must be an integer");
  return it->get<long>();
}

const json& array(const json& j, const char* key, const std::string& where) {
  static const json empty = json::array();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return empty;
  if (!it->is_array()) throw CatalogError(where + ": \"" + key + "\" must be an array");
  return *it;
}

const std::set<std::string> kJsonTypes = {"string", "integer", "number", "boolean",
                                          "object", "array",   "any"};

ValueType value_type(const json& j, const std::string& where) {
  if (!j.is_object()) throw CatalogError(where + ": must be an object");
  ValueType t;
  t.json_type = text(j, "json_type", where);
  if (t.json_type.empty()) t.json_type = "any";
  if (!kJsonTypes.count(t.json_type))
    throw CatalogError(where + ": unknown json_type \"" + t.json_type + "\"");
  t.format = text(j, "format", where);
  t.enum_type = text(j, "enum_type", where);
  t.resource = text(j, "resource", where);
  t.composite = text(j, "composite", where);
  t.description = text(j, "description", where);
  t.nullable = flag(j, "nullable", where);
  auto ml = j.find("max_length");
  if (ml != j.end() && !ml->is_null()) t.max_length = number(j, "max_length", where, 0);
  auto items = j.find("items");
  if (items != j.end() && !items->is_null())
    t.items = std::make_shared<ValueType>(value_type(*items, where + " items"));
  return t;
}

Column column(const json& j, const std::string& owner) {
  std::string where = owner + " column";
  Column c;
  c.name = text(j, "name", where, true);
  where += " " + c.name;
  c.type = value_type(j, where);
  c.read = flag(j, "read", where, true);
  c.create = flag(j, "create", where);
  c.update = flag(j, "update", where);
  c.required = flag(j, "required", where);
  c.has_default = flag(j, "has_default", where);
  return c;
}

Resource resource(const json& j) {
  if (!j.is_object()) throw CatalogError("resources: every entry must be an object");
  Resource r;
  r.name = text(j, "name", "resource", true);
  std::string where = "resource " + r.name;
  r.plural = text(j, "plural", where);
  r.schema_name = text(j, "schema_name", where);
  if (r.schema_name.empty()) r.schema_name = pascal_case(r.name);
  r.path = text(j, "path", where);
  r.item_path = text(j, "item_path", where);
  r.description = text(j, "description", where);
  r.singleton = flag(j, "singleton", where);
  r.soft_delete = flag(j, "soft_delete", where);
  r.search = flag(j, "search", where);
  r.keyset_default = flag(j, "keyset_default", where);
  r.row_access = flag(j, "row_access", where);
  auto parent = j.find("parent");
  if (parent != j.end() && parent->is_object())
    r.parent_param = text(*parent, "param", where + " parent", true);
  for (const auto& c : array(j, "columns", where)) r.columns.push_back(column(c, where));
  for (const auto& f : array(j, "filters", where)) {
    if (!f.is_object()) throw CatalogError(where + ": every filter must be an object");
    r.filters.push_back({text(f, "name", where + " filter", true),
                         text(f, "column", where + " filter"), text(f, "op", where + " filter")});
  }
  for (const auto& o : array(j, "orderings", where)) {
    if (!o.is_string()) throw CatalogError(where + ": orderings must be strings");
    r.orderings.push_back(o.get<std::string>());
  }
  r.default_ordering = text(j, "default_ordering", where);
  if (auto e = j.find("example"); e != j.end() && !e->is_null()) {
    if (!e->is_object()) throw CatalogError(where + ": example must be an object");
    r.example = *e;
  }
  r.page_size = static_cast<int>(number(j, "page_size", where, 20));
  r.max_page_size = static_cast<int>(number(j, "max_page_size", where, 200));
  if (r.page_size < 1 || r.max_page_size < r.page_size)
    throw CatalogError(where + ": page_size must be 1..max_page_size");
  return r;
}

CatalogType catalog_type(const json& j) {
  if (!j.is_object()) throw CatalogError("types: every entry must be an object");
  CatalogType t;
  t.name = text(j, "name", "type", true);
  std::string where = "type " + t.name;
  t.kind = text(j, "kind", where, true);
  t.description = text(j, "description", where);
  if (t.kind == "enum") {
    for (const auto& v : array(j, "values", where)) {
      if (!v.is_string()) throw CatalogError(where + ": enum values must be strings");
      t.values.push_back(v.get<std::string>());
    }
  } else if (t.kind == "composite") {
    for (const auto& a : array(j, "attributes", where)) t.attributes.push_back(column(a, where));
  } else {
    throw CatalogError(where + ": kind must be enum or composite");
  }
  return t;
}

const std::map<std::string, Source> kSources = {{"path", Source::Path},
                                                {"filters", Source::Filters},
                                                {"page", Source::Page},
                                                {"page_size", Source::PageSize},
                                                {"cursor", Source::Cursor},
                                                {"ordering", Source::Ordering},
                                                {"search", Source::Search},
                                                {"body", Source::Body},
                                                {"body_field", Source::BodyField},
                                                {"if_match", Source::IfMatch},
                                                {"client_ip", Source::ClientIp},
                                                {"user_agent", Source::UserAgent},
                                                {"header", Source::Header},
                                                {"body_octets", Source::BodyOctets}};

Param param(const json& j, const std::string& where) {
  if (!j.is_object()) throw CatalogError(where + ": every param must be an object");
  Param p;
  std::string from = text(j, "from", where, true);
  auto it = kSources.find(from);
  if (it == kSources.end()) throw CatalogError(where + ": unknown param source \"" + from + "\"");
  p.from = it->second;
  p.name = text(j, "name", where);
  if ((p.from == Source::Path || p.from == Source::BodyField || p.from == Source::Header) &&
      p.name.empty())
    throw CatalogError(where + ": a " + from + " param needs a name");
  p.required = flag(j, "required", where);
  p.also_query = flag(j, "also_query", where);
  p.secret = flag(j, "secret", where);
  if (p.secret && p.from != Source::Path)
    throw CatalogError(where + ": only a path param can be secret");
  if (p.from == Source::BodyField) p.type = value_type(j, where + " " + p.name);
  return p;
}

// Names of the {params} of a path, in order.
std::vector<std::string> path_params(const std::string& path) {
  std::vector<std::string> out;
  for (size_t i = path.find('{'); i != std::string::npos; i = path.find('{', i + 1)) {
    size_t end = path.find('}', i);
    if (end == std::string::npos) break;
    out.push_back(path.substr(i + 1, end - i - 1));
  }
  return out;
}

// The highest $n in a statement (0 when none).
size_t highest_placeholder(const std::string& sql) {
  size_t high = 0;
  for (size_t i = 0; i + 1 < sql.size(); ++i) {
    if (sql[i] != '$' || sql[i + 1] < '0' || sql[i + 1] > '9') continue;
    size_t n = 0, k = i + 1;
    while (k < sql.size() && sql[k] >= '0' && sql[k] <= '9') n = n * 10 + (sql[k++] - '0');
    high = std::max(high, n);
  }
  return high;
}

bool identifier(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

Operation operation(const json& j, const Catalog& cat) {
  if (!j.is_object()) throw CatalogError("operations: every entry must be an object");
  Operation op;
  op.operation_id = text(j, "operation_id", "operation", true);
  std::string where = "operation " + op.operation_id;
  if (!identifier(op.operation_id))
    throw CatalogError(where + ": operation_id must be 1-63 of a-z 0-9 _");
  op.resource = text(j, "resource", where);
  if (!op.resource.empty() && !cat.resource(op.resource))
    throw CatalogError(where + ": unknown resource \"" + op.resource + "\"");
  op.kind = text(j, "kind", where, true);
  op.method = text(j, "method", where, true);
  static const std::set<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (!methods.count(op.method)) throw CatalogError(where + ": unknown method " + op.method);
  op.path = text(j, "path", where, true);
  if (op.path.front() != '/' || op.path.find("//") != std::string::npos)
    throw CatalogError(where + ": path must start with / and have no empty segment");
  op.summary = text(j, "summary", where);
  op.permission = text(j, "permission", where);
  std::string auth = text(j, "auth", where);
  if (auth.empty() || auth == "bearer")
    op.auth = Auth::Bearer;
  else if (auth == "none")
    op.auth = Auth::None;
  else
    throw CatalogError(where + ": auth must be bearer or none");
  op.sql = text(j, "sql", where, true);
  if (op.sql.find(';') != std::string::npos)
    throw CatalogError(where + ": sql must be one statement without ';'");
  for (const auto& p : array(j, "params", where)) op.params.push_back(param(p, where));
  if (highest_placeholder(op.sql) != op.params.size())
    throw CatalogError(where + ": sql uses $1..$" + std::to_string(highest_placeholder(op.sql)) +
                       " but " + std::to_string(op.params.size()) + " params are declared");
  std::vector<std::string> in_path = path_params(op.path), declared;
  for (const auto& p : op.params)
    if (p.from == Source::Path) declared.push_back(p.name);
  for (const auto& n : declared)
    if (std::find(in_path.begin(), in_path.end(), n) == in_path.end())
      throw CatalogError(where + ": param {" + n + "} is not in the path");
  for (const auto& n : in_path)
    if (std::find(declared.begin(), declared.end(), n) == declared.end())
      throw CatalogError(where + ": path parameter {" + n + "} has no param");
  std::string result = text(j, "result", where, true);
  static const std::map<std::string, ResultKind> results = {{"list", ResultKind::List},
                                                            {"row", ResultKind::Row},
                                                            {"json", ResultKind::Json},
                                                            {"void", ResultKind::Void}};
  auto r = results.find(result);
  if (r == results.end()) throw CatalogError(where + ": unknown result \"" + result + "\"");
  op.result = r->second;
  op.status = static_cast<int>(number(j, "status", where, 200));
  if (op.status != 200 && op.status != 201 && op.status != 204)
    throw CatalogError(where + ": status must be 200, 201 or 204");
  op.etag = flag(j, "etag", where);
  op.writes = flag(j, "writes", where);
  op.secret = flag(j, "secret", where);
  op.request = j.value("request", json());
  op.response = j.value("response", json());
  // A body field's type may be given in request.fields rather than in its param.
  if (op.request.is_object() && op.request.contains("fields") && op.request["fields"].is_array())
    for (auto& p : op.params)
      for (const auto& f : op.request["fields"])
        if (p.from == Source::BodyField && p.type.json_type == "any" && f.is_object() &&
            f.value("name", "") == p.name)
          p.type = value_type(f, where + " field " + p.name);
  if (op.response.is_object() && op.response.contains("protocol")) {
    static const std::map<std::string, Protocol> protocols = {{"tus_create", Protocol::TusCreate},
                                                              {"tus_status", Protocol::TusStatus},
                                                              {"tus_append", Protocol::TusAppend},
                                                              {"content", Protocol::Content}};
    std::string name = text(op.response, "protocol", where);
    auto pr = protocols.find(name);
    if (pr == protocols.end()) throw CatalogError(where + ": unknown protocol \"" + name + "\"");
    op.protocol = pr->second;
    op.max_size = number(op.response, "max_size", where, 0);
    if (op.protocol == Protocol::TusCreate && op.max_size <= 0)
      throw CatalogError(where + ": a tus creation needs max_size");
  }
  if (op.response.is_object() && op.response.contains("null_answer")) {
    const json& n = op.response["null_answer"];
    if (!n.is_object() || n.value("status", 0) != 404 || !n.contains("detail") ||
        !n["detail"].is_string())
      throw CatalogError(where + ": null_answer must be {\"status\": 404, \"detail\": text}");
    op.null_answer_detail = n["detail"].get<std::string>();
  }
  if (op.takes(Source::BodyOctets) && (op.takes(Source::Body) || op.takes(Source::BodyField)))
    throw CatalogError(where + ": a body is raw bytes or JSON, not both");
  if (op.result == ResultKind::List && op.resource.empty())
    throw CatalogError(where + ": a list needs a resource");
  return op;
}

}  // namespace

const Column* Resource::column(const std::string& n) const {
  for (const auto& c : columns)
    if (c.name == n) return &c;
  return nullptr;
}

bool Operation::takes(Source s) const {
  for (const auto& p : params)
    if (p.from == s) return true;
  return false;
}

const Resource* Catalog::resource(const std::string& name) const {
  for (const auto& r : resources)
    if (r.name == name) return &r;
  return nullptr;
}

const CatalogType* Catalog::type(const std::string& name) const {
  for (const auto& t : types)
    if (t.name == name) return &t;
  return nullptr;
}

std::string pascal_case(const std::string& snake) {
  std::string out;
  bool up = true;
  for (char c : snake) {
    if (c == '_' || c == '-' || c == ' ') {
      up = true;
      continue;
    }
    out.push_back(up && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    up = false;
  }
  return out;
}

namespace {
bool identifier_like_schema(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] < 'A' || s[0] > 'Z') return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}
}  // namespace

Catalog parse_catalog(const json& j) {
  if (!j.is_object()) throw CatalogError("the catalog must be a JSON object");
  Catalog cat;
  cat.version = text(j, "version", "catalog");
  std::set<std::string> names;
  for (const auto& t : array(j, "types", "catalog")) {
    cat.types.push_back(catalog_type(t));
    if (!names.insert(cat.types.back().name).second)
      throw CatalogError("type " + cat.types.back().name + " is declared twice");
  }
  names.clear();
  for (const auto& r : array(j, "resources", "catalog")) {
    cat.resources.push_back(resource(r));
    if (!names.insert(cat.resources.back().name).second)
      throw CatalogError("resource " + cat.resources.back().name + " is declared twice");
  }
  // enum_type, resource and composite references resolve (columns, items, composite attributes).
  auto check_type = [&](const ValueType& t, const std::string& where, auto&& self) -> void {
    if (!t.enum_type.empty()) {
      const CatalogType* e = cat.type(t.enum_type);
      if (!e || e->kind != "enum")
        throw CatalogError(where + ": enum_type \"" + t.enum_type + "\" is not an enum type");
    }
    if (!t.resource.empty() && !cat.resource(t.resource))
      throw CatalogError(where + ": resource \"" + t.resource + "\" is not in the catalog");
    if (!t.composite.empty()) {
      const CatalogType* c = cat.type(t.composite);
      if (!c || c->kind != "composite")
        throw CatalogError(where + ": composite \"" + t.composite + "\" is not a composite type");
    }
    if (t.items) self(*t.items, where + " items", self);
  };
  for (const auto& r : cat.resources)
    for (const auto& c : r.columns)
      check_type(c.type, "resource " + r.name + " " + c.name, check_type);
  for (const auto& t : cat.types)
    for (const auto& a : t.attributes)
      check_type(a.type, "type " + t.name + " " + a.name, check_type);
  // Published schemas: objects, named apart from every component the catalog makes.
  if (auto sc = j.find("schemas"); sc != j.end() && !sc->is_null()) {
    if (!sc->is_object()) throw CatalogError("catalog: \"schemas\" must be an object");
    std::set<std::string> taken = {"Problem", "Health", "Register", "Registered"};
    for (const auto& r : cat.resources)
      for (const char* suffix : {"", "Create", "Update", "List"})
        taken.insert(r.schema_name + suffix);
    for (const auto& t : cat.types) taken.insert(pascal_case(t.name));
    for (auto it = sc->begin(); it != sc->end(); ++it) {
      if (!identifier_like_schema(it.key()))
        throw CatalogError("schema \"" + it.key() + "\": a name is PascalCase letters and digits");
      if (taken.count(it.key()))
        throw CatalogError("schema " + it.key() + " clashes with a component of the catalog");
      if (!it->is_object()) throw CatalogError("schema " + it.key() + " must be an object");
      cat.schemas[it.key()] = *it;
    }
  }
  names.clear();
  for (const auto& o : array(j, "operations", "catalog")) {
    cat.operations.push_back(operation(o, cat));
    if (!names.insert(cat.operations.back().operation_id).second)
      throw CatalogError("operation " + cat.operations.back().operation_id + " is declared twice");
  }
  return cat;
}

Catalog parse_catalog_text(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw CatalogError("the catalog is not valid JSON");
  return parse_catalog(j);
}

}  // namespace coditect::gateway

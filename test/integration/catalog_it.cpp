// Catalog-driven integration test: walks GET /api/schema/ and, for every resource and every
// role, runs what the role may run (create with a body generated from <Schema>Create, get,
// update with If-Match, list with each declared filter and ordering, delete) and expects 403
// for the rest; checks that another tenant's ids are 404, that undeclared filters and fields
// are 400 and that a stale If-Match is 412. A resource added later is tested without new code.
//
// Its suite runs before GatewayIT (this file is linked first), whose last test stops the
// gateway.
#include <gtest/gtest.h>

#include <algorithm>
#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "it_support.hpp"
#include "jwt_auth.hpp"
#include "query.hpp"

using coditect::it::HttpResult;
using nlohmann::json;

namespace {

using coditect::it::env;

const std::vector<std::string> kRoles = {"owner", "admin", "member", "guest"};

json parsed(const HttpResult& r) { return json::parse(r.body, nullptr, false); }

std::string describe(const HttpResult& r) {
  return std::to_string(r.status) + " " + r.body.substr(0, 400);
}

// Two tenants: X with a user of each role, Y with an owner; tokens for them; the permissions
// each role holds (coditect.role_permissions, read as superuser).
struct Setting : coditect::it::Target {
  bool ready = false;
  std::string suffix;
  std::string tenant_x, tenant_y, owner_y;
  std::map<std::string, std::string> user_x;         // role -> user id
  std::map<std::string, std::set<std::string>> may;  // role -> permission codenames
  int counter = 0;

  void setup() {
    if (!connect()) return;
    suffix = std::to_string(std::mt19937_64(std::random_device{}())() % 1000000000);
    json x = json::parse(
        sql("SELECT coditect.create_tenant('Catalog X', $1, 'x@cat.test', 'owner-x@cat.test')",
            {"cat-x-" + suffix}));
    tenant_x = x["tenant_id"];
    user_x["owner"] = x["user_id"];
    for (std::string role : {"admin", "member", "guest"}) {
      user_x[role] = sql(
          "INSERT INTO coditect.users (tenant_id, email, role) VALUES ($1, $2, $3) RETURNING id",
          {tenant_x, role + "-" + suffix + "@cat.test", role});
      sql("INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)",
          {tenant_x, user_x[role], role});
    }
    json y = json::parse(
        sql("SELECT coditect.create_tenant('Catalog Y', $1, 'y@cat.test', 'owner-y@cat.test')",
            {"cat-y-" + suffix}));
    tenant_y = y["tenant_id"];
    owner_y = y["user_id"];
    PGresult* r = PQexec(db,
                         "SELECT rp.role::text, p.codename FROM coditect.role_permissions rp "
                         "JOIN coditect.permissions p ON p.id = rp.permission_id");
    for (int i = 0; i < PQntuples(r); ++i) may[PQgetvalue(r, i, 0)].insert(PQgetvalue(r, i, 1));
    PQclear(r);
    ready = true;
  }

  std::string token_x(const std::string& role) { return token(user_x[role], tenant_x, role); }
  std::string token_y() { return token(owner_y, tenant_y, "owner"); }

  HttpResult call(const std::string& method, const std::string& target, const std::string& tok,
                  const std::string& body = {}, coditect::it::Headers headers = {}) {
    if (!tok.empty()) headers.emplace_back("Authorization", "Bearer " + tok);
    return coditect::it::http_request(host, port, method, target, body, headers);
  }
  std::string unique() { return std::to_string(++counter) + "-" + suffix; }
};

Setting& S() {
  static Setting* s = [] {
    auto* x = new Setting;
    try {
      x->setup();
    } catch (const std::exception& e) {
      std::cerr << "catalog fixtures failed: " << e.what() << "\n";
      x->ready = false;
    }
    return x;
  }();
  return *s;
}

// ---------------------------------------------------------------------------------------------
// The document: resources as collections (a GET answering <S>List) and their operations.
// ---------------------------------------------------------------------------------------------

std::string ref_name(const json& schema) {
  if (!schema.is_object() || !schema.contains("$ref")) return {};
  std::string r = schema["$ref"];
  return r.substr(r.rfind('/') + 1);
}

struct Resource {
  std::string schema;               // component name of a row
  std::string collection;           // "/api/v1/teams/{team_id}/members/"
  std::string item;                 // collection + "{id}/", or empty
  std::map<std::string, json> ops;  // "list", "create", "get", "update", "delete" -> operation
  bool singleton = false;           // get / update on the collection path itself
  // The same rows listed under another collection: "/api/v1/projects/{project_id}/tasks/".
  std::vector<std::string> also_listed;
  bool row_access = false;  // x-row-access: rows seen by grants (documents), not by role alone
};

std::vector<Resource> resources(const json& doc) {
  std::vector<Resource> out;
  const json& paths = doc["paths"];
  // The schema a JSON answer refers to ("" for answers that are not JSON: tus, files).
  auto answer = [](const json& op, const char* status) {
    json::json_pointer p("/responses/" + std::string(status) + "/content/application~1json/schema");
    return op.contains(p) ? ref_name(op[p]) : std::string();
  };
  for (const auto& [path, item] : paths.items()) {
    if (!item.contains("get")) continue;
    std::string list = answer(item["get"], "200");
    Resource r;
    if (list.size() > 4 && list.substr(list.size() - 4) == "List") {
      r.schema = list.substr(0, list.size() - 4);
      r.collection = path;
      r.ops["list"] = item["get"];
      if (item.contains("post") && answer(item["post"], "201") == r.schema)
        r.ops["create"] = item["post"];
      std::string ip = path + "{id}/";
      if (paths.contains(ip)) {
        r.item = ip;
        for (const char* m : {"get", "patch", "delete"})
          if (paths[ip].contains(m))
            r.ops[m == std::string("get")     ? "get"
                  : m == std::string("patch") ? "update"
                                              : "delete"] = paths[ip][m];
      }
    } else if (!list.empty() && path.find('{') == std::string::npos &&
               doc["components"]["schemas"].contains(list + "Update") && item.contains("patch")) {
      // A singleton: get and update at one path.
      r.schema = list;
      r.collection = path;
      r.singleton = true;
      r.ops["get"] = item["get"];
      r.ops["update"] = item["patch"];
    } else {
      continue;
    }
    const json& schemas = doc["components"]["schemas"];
    auto schema = schemas.find(r.schema);
    r.row_access =
        schema != schemas.end() && schema->is_object() && schema->value("x-row-access", false);
    out.push_back(r);
  }
  // One resource per row schema: the collection that creates (else the least nested) is its
  // own, the other lists of the same rows are also_listed.
  std::vector<Resource> merged;
  for (auto& r : out) {
    auto braces = [](const std::string& p) { return std::count(p.begin(), p.end(), '{'); };
    auto same = std::find_if(merged.begin(), merged.end(),
                             [&](const Resource& m) { return m.schema == r.schema; });
    if (same == merged.end()) {
      merged.push_back(r);
    } else if (!r.singleton && !same->singleton) {
      bool primary = r.ops.count("create") > same->ops.count("create") ||
                     (r.ops.count("create") == same->ops.count("create") &&
                      braces(r.collection) < braces(same->collection));
      if (primary) std::swap(*same, r);
      same->also_listed.push_back(r.collection);
    }
  }
  return merged;
}

// The parent collections of a nested path: "{team_id}" after "/api/v1/teams/".
std::vector<std::pair<std::string, std::string>> parents(const std::string& collection) {
  std::vector<std::pair<std::string, std::string>> out;  // param, parent collection
  for (size_t i = collection.find('{'); i != std::string::npos; i = collection.find('{', i + 1))
    out.emplace_back(collection.substr(i + 1, collection.find('}', i) - i - 1),
                     collection.substr(0, i));
  return out;
}

std::string fill(std::string path, const std::map<std::string, std::string>& values) {
  for (const auto& [k, v] : values) {
    std::string key = "{" + k + "}";
    for (size_t i; (i = path.find(key)) != std::string::npos;) path.replace(i, key.size(), v);
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// The walk.
// ---------------------------------------------------------------------------------------------

class CatalogIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!S().ready) GTEST_SKIP() << "set the CODITECT_IT_* variables (scripts/test.sh)";
    auto r = S().call("GET", "/api/schema/", "");
    ASSERT_EQ(r.status, 200);
    doc_ = parsed(r);
  }

  const json& component(const std::string& name) { return doc_["components"]["schemas"][name]; }

  // A collection's path for the resource with this row schema.
  const Resource* by_schema(const std::string& schema) {
    for (const auto& r : all_)
      if (r.schema == schema) return &r;
    return nullptr;
  }
  const Resource* by_collection(const std::string& path) {
    for (const auto& r : all_)
      if (r.collection == path) return &r;
    return nullptr;
  }

  // A value for a schema, or nullopt when this test cannot make one (the data-driven skip).
  std::optional<json> value_for(const std::string& field, const json& s) {
    if (s.contains("oneOf")) return value_for(field, s["oneOf"][0]);
    if (s.contains("$ref")) return value_for(field, component(ref_name(s)));
    if (s.contains("enum")) return s["enum"].back();  // the last: the least privileged role
    json type = s.value("type", json());
    if (type.is_array()) type = type[0];
    std::string t = type.is_string() ? type.get<std::string>() : "any";
    std::string format = s.value("format", "");
    if (t == "string") {
      if (format == "uuid") return reference(field);
      if (format == "date-time") return "2099-01-01T00:00:00Z";
      if (format == "date") return "2099-01-01";
      if (format == "email") return "cat-" + S().unique() + "@cat.test";
      if (format == "uri") return "https://cat.test/" + S().unique();
      if (!format.empty()) return std::nullopt;
      std::string v = "cat " + S().unique();
      if (s.contains("maxLength")) v = v.substr(0, s["maxLength"].get<size_t>());
      return v;
    }
    if (t == "integer" || t == "number") return 1;
    if (t == "boolean") return true;
    if (t == "object") return json::object();
    if (t == "array") return json::array();
    return std::nullopt;
  }

  // A uuid field "<x>_id" names a row of the resource x: a fresh one, made as the owner.
  std::optional<json> reference(const std::string& field) {
    if (field.size() < 4 || field.substr(field.size() - 3) != "_id") return std::nullopt;
    std::string schema;
    bool up = true;
    for (char c : field.substr(0, field.size() - 3)) {
      if (c == '_') {
        up = true;
        continue;
      }
      schema.push_back(up ? static_cast<char>(std::toupper(c)) : c);
      up = false;
    }
    const Resource* r = by_schema(schema);
    if (!r || !r->ops.count("create")) return std::nullopt;
    auto made = create_row(*r, S().token_x("owner"));
    if (!made) return std::nullopt;
    return (*made)["id"];
  }

  // A body for <S>Create: every required field, nothing else.
  std::optional<json> create_body(const Resource& r) {
    const json& s = component(r.schema + "Create");
    // The declared example, where it has the field (it knows rules a type cannot say, such as
    // an end after a start), but not for plain strings, made unique here (names are often
    // unique), nor for references, made fresh.
    const json example = s.contains("examples") ? s["examples"][0] : json::object();
    json body = json::object();
    for (const auto& name : s.value("required", json::array())) {
      const json& prop = s["properties"][name.get<std::string>()];
      bool plain_string = prop.value("type", json()) == "string" && !prop.contains("format") &&
                          !prop.contains("enum") && !prop.contains("$ref");
      if (example.contains(name.get<std::string>()) && prop.value("format", "") != "uuid" &&
          !plain_string) {
        body[name.get<std::string>()] = example[name.get<std::string>()];
        continue;
      }
      auto v = value_for(name, prop);
      if (!v) return std::nullopt;
      body[name.get<std::string>()] = *v;
    }
    // The example's references beyond the required fields (a grant names a document and a
    // user, of columns that are each optional): fresh rows too.
    for (const auto& [name, value] : example.items()) {
      const json& prop = s["properties"].value(name, json::object());
      if (body.contains(name) || prop.value("format", "") != "uuid") continue;
      auto v = reference(name);
      if (!v) return std::nullopt;
      body[name] = *v;
    }
    return body;
  }

  // The path values of a resource's parents: a fresh parent row each, or, for a parent that
  // clients do not create (a workflow's execution: the engine makes them), the newest the owner
  // sees; `none` is set when there is none to take (nothing under it to walk).
  std::optional<std::map<std::string, std::string>> parent_ids(const Resource& r,
                                                               bool* none = nullptr) {
    std::map<std::string, std::string> ids;
    for (const auto& [param, path] : parents(r.collection)) {
      const Resource* p = by_collection(fill(path, {}));
      if (!p) return std::nullopt;
      if (!p->ops.count("create")) {
        auto list = S().call("GET", fill(path, ids), S().token_x("owner"));
        if (list.status != 200) return std::nullopt;
        const json rows = parsed(list)["results"];
        if (rows.empty()) {
          if (none) *none = true;
          return std::nullopt;
        }
        ids[param] = rows[0]["id"];
        continue;
      }
      auto row = create_row(*p, S().token_x("owner"));
      if (!row) return std::nullopt;
      ids[param] = (*row)["id"];
    }
    return ids;
  }

  std::optional<json> create_row(const Resource& r, const std::string& token,
                                 HttpResult* answer = nullptr) {
    auto ids = parent_ids(r);
    auto body = create_body(r);
    if (!ids || !body) return std::nullopt;
    auto res = S().call("POST", fill(r.collection, *ids), token, body->dump());
    if (answer) *answer = res;
    if (res.status != 201) return std::nullopt;
    json row = parsed(res);
    for (const auto& [k, v] : *ids) row["__" + k] = v;  // remembered for the item path
    return row;
  }

  std::string item_path(const Resource& r, const json& row) {
    std::map<std::string, std::string> v;
    for (auto it = row.begin(); it != row.end(); ++it)
      if (it.key().rfind("__", 0) == 0) v[it.key().substr(2)] = it->get<std::string>();
    if (r.singleton) return fill(r.collection, v);
    v["id"] = row["id"];
    return fill(r.item, v);
  }

  // A change for <S>Update: a plain string set anew, else the row's own value of its first
  // field (so that no rule of the row is broken, while the row is still written).
  json update_body(const Resource& r, const json& row) {
    const json& s = component(r.schema + "Update");
    for (const auto& [name, p] : s["properties"].items()) {
      json t = p.value("type", json());
      if ((t == "string" || t == json::array({"string", "null"})) && !p.contains("format") &&
          !p.contains("enum")) {
        std::string v = "upd " + S().unique();
        if (p.contains("maxLength")) v = v.substr(0, p["maxLength"].get<size_t>());
        return {{name, v}};
      }
    }
    for (const auto& [name, p] : s["properties"].items())
      if (row.contains(name)) return {{name, row[name]}};
    return json::object();
  }

  bool may(const std::string& role, const json& op) {
    return S().may[role].count(op.value("x-permission", "")) > 0;
  }

  // Every key of an answer is a property of its schema, and every property is there.
  void expect_shape(const Resource& r, const json& row) {
    const json& s = component(r.schema);
    std::set<std::string> want, got;
    for (const auto& [k, v] : s["properties"].items()) want.insert(k);
    for (const auto& [k, v] : row.items())
      if (k.rfind("__", 0) != 0) got.insert(k);
    EXPECT_EQ(got, want) << r.schema;
  }

  void walk(const Resource& r, const std::string& role);

  json doc_;
  std::vector<Resource> all_;
};

void CatalogIT::walk(const Resource& r, const std::string& role) {
  SCOPED_TRACE(r.schema + " as " + role);
  Setting& s = S();
  std::string t = s.token_x(role), owner = s.token_x("owner");

  // Create (or let the owner make the row when this role may not).
  json row;
  if (r.ops.count("create")) {
    HttpResult res;
    auto made = create_row(r, t, &res);
    if (may(role, r.ops.at("create"))) {
      ASSERT_TRUE(made) << "create: " << describe(res);
      EXPECT_FALSE(res.header("etag").empty());
    } else {
      EXPECT_EQ(res.status, 403) << "create: " << describe(res);
      made = create_row(r, owner, &res);
      ASSERT_TRUE(made) << "create as owner: " << describe(res);
    }
    row = *made;
  } else if (r.singleton) {
    row = json::object();
  } else {
    // No create: the newest row the owner sees (under fresh parents: a new task has activity).
    bool no_parent_rows = false;
    auto ids = parent_ids(r, &no_parent_rows);
    if (no_parent_rows) {
      std::cout << "[ NO ROWS  ] " << r.schema << " as " << role
                << ": its parent has none (made by the engine), nothing to walk\n";
      return;
    }
    ASSERT_TRUE(ids) << "no parent row for " << r.collection;
    auto list = s.call("GET", fill(r.collection, *ids), owner);
    ASSERT_EQ(list.status, 200) << describe(list);
    // Rows made only by other paths (versions and attachments come from uploads; pgTAP and
    // storage_it cover them): the list answered, nothing more to walk here.
    if (parsed(list)["results"].empty()) {
      std::cout << "[ NO ROWS  ] " << r.schema << " as " << role << ": listed, nothing to walk\n";
      return;
    }
    row = parsed(list)["results"][0];
    for (const auto& [k, v] : *ids) row["__" + k] = v;
  }
  std::string path = item_path(r, row);

  // Get: the row and its ETag.
  std::string etag;
  if (r.ops.count("get")) {
    auto got = s.call("GET", path, t);
    if (may(role, r.ops.at("get"))) {
      ASSERT_EQ(got.status, 200) << "get: " << describe(got);
      etag = got.header("etag");
      EXPECT_FALSE(etag.empty());
      json g = parsed(got);
      expect_shape(r, g);
      if (!r.singleton) {
        EXPECT_EQ(g["id"], row["id"]);
      }
      for (auto it = g.begin(); it != g.end(); ++it)
        if (!row.contains(it.key())) row[it.key()] = *it;
    } else {
      EXPECT_EQ(got.status, 403) << "get: " << describe(got);
      etag = s.call("GET", path, owner).header("etag");
    }
  }

  // Update with If-Match, then the same stale ETag again: 412.
  if (r.ops.count("update")) {
    json change = update_body(r, row);
    auto upd = s.call("PATCH", path, t, change.dump(), {{"If-Match", etag}});
    if (may(role, r.ops.at("update"))) {
      ASSERT_EQ(upd.status, 200) << "update " << change.dump() << ": " << describe(upd);
      std::string fresh = upd.header("etag");
      EXPECT_FALSE(fresh.empty());
      if (!etag.empty() && fresh != etag) {
        auto stale = s.call("PATCH", path, t, change.dump(), {{"If-Match", etag}});
        EXPECT_EQ(stale.status, 412) << "stale If-Match: " << describe(stale);
        EXPECT_EQ(parsed(stale).value("code", ""), "CD412");
      }
      auto unknown = s.call("PATCH", path, t, R"({"undeclared_field_xyz": 1})");
      EXPECT_EQ(unknown.status, 400) << "unknown field: " << describe(unknown);
    } else {
      EXPECT_EQ(upd.status, 403) << "update: " << describe(upd);
    }
  }

  // List, with each declared filter (valued from the row), each ordering, search.
  if (r.ops.count("list")) {
    std::map<std::string, std::string> ids;
    for (auto it = row.begin(); it != row.end(); ++it)
      if (it.key().rfind("__", 0) == 0) ids[it.key().substr(2)] = it->get<std::string>();
    std::string base = fill(r.collection, ids);
    const json& op = r.ops.at("list");
    bool allowed = may(role, op);
    auto list = s.call("GET", base + "?page_size=200", t);
    if (!allowed) {
      EXPECT_EQ(list.status, 403) << "list: " << describe(list);
    } else {
      ASSERT_EQ(list.status, 200) << "list: " << describe(list);
      for (const auto& p : op.value("parameters", json::array())) {
        std::string name = p["name"], in = p["in"];
        if (in != "query") continue;
        std::string q;
        if (name == "ordering") {
          for (const auto& o : p.value("x-orderings", json::array())) {
            std::string key = o;
            for (std::string v : {key, "-" + key}) {
              auto res = s.call("GET", base + "?ordering=" + v, t);
              EXPECT_EQ(res.status, 200) << "ordering " << v << ": " << describe(res);
            }
          }
          continue;
        }
        if (name == "search") {
          EXPECT_EQ(s.call("GET", base + "?search=cat", t).status, 200) << "search";
          continue;
        }
        if (name == "page" || name == "page_size" || name == "cursor") continue;
        size_t sep = name.find("__");
        std::string column = name.substr(0, sep),
                    op_name = sep == std::string::npos ? "exact" : name.substr(sep + 2);
        json v = row.value(column, json());
        std::string value;
        bool from_row = true;
        if (op_name == "contains") {
          // The row's own elements, comma-separated (an empty array gives nothing to ask).
          if (!v.is_array() || v.empty()) continue;
          for (const auto& e : v)
            value += (value.empty() ? "" : ",") + (e.is_string() ? e.get<std::string>() : e.dump());
        } else if (op_name == "isnull") {
          value = v.is_null() ? "true" : "false";
        } else if (v.is_null() || v.is_object() || v.is_array()) {
          // No value in the row to filter by: a well-formed one of the parameter's type.
          from_row = false;
          const json& ps = p["schema"];
          if (ps.value("format", "") == "uuid") {
            value = "0190a6e5-7b1c-7cc3-9b2e-1234567890ab";
          } else {
            // The column's own schema where the row has it (its maxLength, its enum).
            const json& row_props = component(r.schema)["properties"];
            auto gen = value_for(column, row_props.contains(column) ? row_props[column] : ps);
            if (!gen) continue;
            value = gen->is_string() ? gen->get<std::string>() : gen->dump();
          }
        } else {
          value = v.is_string() ? v.get<std::string>() : v.dump();
        }
        std::string enc = coditect::gateway::percent_encode(value);
        auto res = s.call("GET", base + "?page_size=200&" + name + "=" + enc, t);
        EXPECT_EQ(res.status, 200) << "filter " << name << "=" << value << ": " << describe(res);
        if (res.status == 200 && from_row &&
            (op_name == "exact" || op_name == "in" || op_name == "isnull" ||
             op_name == "contains") &&
            row.contains("id")) {
          bool found = false;
          json page = parsed(res);  // kept: a range-for over a temporary's member dangles
          for (const auto& x : page["results"]) found = found || x["id"] == row["id"];
          EXPECT_TRUE(found) << "filter " << name << "=" << value << " lost the row " << row["id"]
                             << ": " << describe(res);
        }
      }
      auto bad = s.call("GET", base + "?undeclared_filter_xyz=1", t);
      EXPECT_EQ(bad.status, 400) << "undeclared filter: " << describe(bad);
    }
    // Under another collection, valued from the row (a task's project_id): the row is there,
    // and under a parent nobody has the list is 404.
    for (const auto& other : r.also_listed) {
      std::map<std::string, std::string> values;
      for (const auto& [param, parent] : parents(other))
        if (row.contains(param) && row[param].is_string()) values[param] = row[param];
      if (values.size() != parents(other).size())
        continue;  // not under one (a document at the top)
      auto res = s.call("GET", fill(other, values) + "?page_size=200", t);
      if (!allowed) {
        EXPECT_EQ(res.status, 403) << other << ": " << describe(res);
        continue;
      }
      ASSERT_EQ(res.status, 200) << other << ": " << describe(res);
      bool found = false;
      json page = parsed(res);
      for (const auto& x : page["results"]) found = found || x["id"] == row["id"];
      EXPECT_TRUE(found) << other << " lost the row " << row["id"] << ": " << describe(res);
      for (auto& [param, v] : values) v = "0190a6e5-7b1c-7cc3-9b2e-1234567890ab";
      EXPECT_EQ(s.call("GET", fill(other, values), t).status, 404) << other << " of nobody";
    }
  }

  // Delete: a stale If-Match is 412; then the delete, and the row is gone.
  if (r.ops.count("delete")) {
    auto del = s.call("DELETE", path, t, "", {{"If-Match", "\"stale-etag\""}});
    if (may(role, r.ops.at("delete"))) {
      EXPECT_EQ(del.status, 412) << "delete with a stale If-Match: " << describe(del);
      del = s.call("DELETE", path, t);
      EXPECT_EQ(del.status, 204) << "delete: " << describe(del);
      if (r.ops.count("get")) {
        EXPECT_EQ(s.call("GET", path, owner).status, 404);
      }
    } else {
      EXPECT_EQ(del.status, 403) << "delete: " << describe(del);
    }
  }
}

}  // namespace

TEST_F(CatalogIT, EveryResourceEveryRole) {
  all_ = resources(doc_);
  ASSERT_FALSE(all_.empty());
  std::set<std::string> walked;
  for (const auto& r : all_) {
    if (r.ops.count("create") && !create_body(r)) {
      // The one skip rule: a required create field of a type this test cannot generate.
      std::cout << "[ SKIPPED  ] " << r.schema << ": a required create field cannot be made\n";
      continue;
    }
    for (const auto& role : kRoles) {
      // Rows seen by grants: an owner or admin sees every one by role; what a member or a
      // guest sees depends on the grants, which test/pgtap/43_documents.sql covers.
      if (r.row_access && role != "owner" && role != "admin") continue;
      walk(r, role);
    }
    walked.insert(r.schema + (r.row_access ? "(owner, admin)" : ""));
  }
  std::string names;
  for (const auto& n : walked) names += n + " ";
  std::cout << "[ WALKED   ] " << walked.size() << " resources: " << names << "\n";
  EXPECT_GE(walked.size(), 5u);
}

TEST_F(CatalogIT, AnotherTenantsRowsAreNotFound) {
  all_ = resources(doc_);
  Setting& s = S();
  std::string y = s.token_y();
  for (const auto& r : all_) {
    if (r.singleton || r.item.empty() || !r.ops.count("create")) continue;
    SCOPED_TRACE(r.schema);
    auto row = create_row(r, s.token_x("owner"));
    if (!row) continue;
    std::string path = item_path(r, *row);
    for (const char* m : {"GET", "PATCH", "DELETE"}) {
      std::string op = m == std::string("GET")     ? "get"
                       : m == std::string("PATCH") ? "update"
                                                   : "delete";
      if (!r.ops.count(op)) continue;
      auto res = s.call(m, path, y, m == std::string("PATCH") ? update_body(r, *row).dump() : "");
      EXPECT_EQ(res.status, 404) << m << " " << path << ": " << describe(res);
    }
    auto list = s.call("GET", fill(r.collection, {}) + "?page_size=200", y);
    EXPECT_EQ(list.body.find((*row)["id"].get<std::string>()), std::string::npos);
    // And the row is untouched.
    EXPECT_EQ(s.call("GET", path, s.token_x("owner")).status, 200);
  }
}

TEST_F(CatalogIT, UnknownCreateFieldsAre400) {
  all_ = resources(doc_);
  for (const auto& r : all_) {
    if (!r.ops.count("create")) continue;
    SCOPED_TRACE(r.schema);
    auto ids = parent_ids(r);
    auto body = create_body(r);
    if (!ids || !body) continue;
    (*body)["undeclared_field_xyz"] = 1;
    auto res = S().call("POST", fill(r.collection, *ids), S().token_x("owner"), body->dump());
    EXPECT_EQ(res.status, 400) << describe(res);
  }
}

// A changed catalog reaches the running gateway through NOTIFY coditect_catalog, also after
// its listening connection was ended by the server (it reconnects and loads again).
TEST_F(CatalogIT, ReloadsOnNotifyAndAfterLosingItsListener) {
  Setting& s = S();
  std::string before = s.sql("SELECT obj_description('coditect.projects'::regclass, 'pg_class')");
  auto description = [&]() {
    json d = parsed(s.call("GET", "/api/schema/", ""));
    return d["components"]["schemas"]["Project"].value("description", "");
  };
  auto wait_for = [&](const std::string& want) {
    for (int i = 0; i < 100 && description() != want; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return description();
  };
  auto comment = [&](const std::string& text) {
    s.sql("SELECT set_config('cat.comment', $1, false)", {text});
    s.sql(
        "DO $$ BEGIN EXECUTE format('COMMENT ON TABLE coditect.projects IS %L', "
        "current_setting('cat.comment')); END $$");
  };
  comment("Projects, reloaded " + s.suffix);
  s.sql("NOTIFY coditect_catalog");
  EXPECT_EQ(wait_for("Projects, reloaded " + s.suffix), "Projects, reloaded " + s.suffix);
  EXPECT_EQ(s.call("GET", "/api/v1/projects/", s.token_x("owner")).status, 200)
      << "statements prepared for the old catalog are replaced";

  EXPECT_EQ(s.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  "WHERE application_name = 'coditect-gateway-catalog'"),
            "1");
  comment("Projects, after reconnecting " + s.suffix);
  // The listener reloads on reconnecting; a NOTIFY afterwards is heard too.
  EXPECT_EQ(wait_for("Projects, after reconnecting " + s.suffix),
            "Projects, after reconnecting " + s.suffix);
  comment(before);
  s.sql("NOTIFY coditect_catalog");
  EXPECT_EQ(wait_for(before), before);
}

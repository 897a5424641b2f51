// The OpenAPI 3.1 document derived from the catalog: exact component schemas (required,
// nullable, enums by $ref, create / update / list), parameters, bodies, ETag and If-Match.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "catalog_fixture.hpp"
#include "openapi.hpp"

using namespace coditect::gateway;
using nlohmann::json;

namespace {

const json& doc() {
  static const RouteTable t(parse_catalog(fixture_catalog()));
  static const json d = openapi_document(t, "http://127.0.0.1:8080");
  return d;
}

const json& schema(const std::string& name) { return doc()["components"]["schemas"][name]; }

std::set<std::string> names_of(const json& params) {
  std::set<std::string> out;
  for (const auto& p : params) out.insert(p["name"].get<std::string>());
  return out;
}

}  // namespace

TEST(GatewayOpenApi, Basics) {
  EXPECT_EQ(doc()["openapi"], "3.1.0");
  EXPECT_EQ(doc()["info"]["version"], "0.2.0");
  EXPECT_EQ(doc()["servers"][0]["url"], "http://127.0.0.1:8080");
  EXPECT_EQ(doc()["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
  for (const char* s : {"Problem", "Health", "Register", "Registered"})
    EXPECT_TRUE(doc()["components"]["schemas"].contains(s)) << s;
  size_t ops = 0;
  for (const auto& [path, item] : doc()["paths"].items()) ops += item.size();
  EXPECT_EQ(ops, fixture_catalog()["operations"].size() + 3);
}

TEST(GatewayOpenApi, ReadSchemaListsEveryReadColumnAsRequired) {
  const json& p = schema("Project");
  EXPECT_EQ(p["type"], "object");
  std::set<std::string> props, required(p["required"].begin(), p["required"].end());
  for (const auto& [k, v] : p["properties"].items()) props.insert(k);
  EXPECT_EQ(props, (std::set<std::string>{"id", "tenant_id", "name", "description", "metadata",
                                          "created_at", "updated_at", "deleted_at"}));
  EXPECT_EQ(required, props);
  EXPECT_EQ(p["properties"]["deleted_at"]["type"], json::array({"string", "null"}));
  EXPECT_EQ(p["properties"]["deleted_at"]["format"], "date-time");
  EXPECT_EQ(
      p["properties"]["id"],
      (json{{"type", "string"}, {"format", "uuid"}, {"description", "Primary key (UUIDv7)"}}));
  EXPECT_EQ(p["properties"]["name"]["maxLength"], 255);
  EXPECT_EQ(p["properties"]["metadata"]["type"], "object");
  EXPECT_EQ(p["description"], "A project of the tenant");
  // Hidden columns are never in an answer.
  EXPECT_FALSE(schema("User")["properties"].contains("firebase_uid"));
  EXPECT_FALSE(schema("Tenant")["properties"].contains("stripe_customer_id"));
}

TEST(GatewayOpenApi, CreateAndUpdateInputs) {
  const json& c = schema("ProjectCreate");
  EXPECT_EQ(c["additionalProperties"], false);
  EXPECT_EQ(c["required"], json::array({"name"}));
  EXPECT_EQ(c["properties"].size(), 3u);
  const json& u = schema("ProjectUpdate");
  EXPECT_EQ(u["additionalProperties"], false);
  EXPECT_FALSE(u.contains("required"));
  EXPECT_TRUE(schema("UserUpdate")["properties"].contains("is_active"));
  EXPECT_FALSE(schema("UserCreate")["properties"].contains("is_active"));
  EXPECT_EQ(schema("LicenseCreate")["properties"]["features"],
            (json{{"type", "array"}, {"items", {{"type", "string"}}}}));
  // Only the inputs some operation takes.
  EXPECT_FALSE(doc()["components"]["schemas"].contains("AuditLogCreate"));
  EXPECT_FALSE(doc()["components"]["schemas"].contains("MembershipCreate"));
  EXPECT_TRUE(doc()["components"]["schemas"].contains("MembershipUpdate"));
}

TEST(GatewayOpenApi, EnumsAndCompositesAreComponents) {
  EXPECT_EQ(schema("MemberRole"), (json{{"type", "string"},
                                        {"enum", {"owner", "admin", "member", "guest"}},
                                        {"description", "A member's role in a tenant"}}));
  EXPECT_EQ(schema("User")["properties"]["role"]["$ref"], "#/components/schemas/MemberRole");
  EXPECT_EQ(
      schema("Tenant")["properties"]["company_size"],
      (json{{"oneOf", {{{"$ref", "#/components/schemas/CompanySize"}}, {{"type", "null"}}}}}));
  const json& g = schema("LicenseGrant");
  EXPECT_EQ(g["type"], "object");
  EXPECT_EQ(g["required"].size(), g["properties"].size());
  EXPECT_EQ(g["properties"]["tier"]["$ref"], "#/components/schemas/LicenseTier");
}

// Nested answers: a value that is a resource's row or one of the catalog's composite types (an
// action's answer, e.g. a board view) is a $ref to that schema, in arrays too.
TEST(GatewayOpenApi, ResourceAndCompositeValuesAreReferences) {
  json j = fixture_catalog();
  json attrs = json::array(
      {{{"name", "project"}, {"json_type", "object"}, {"resource", "project"}, {"nullable", true}},
       {{"name", "grants"},
        {"json_type", "array"},
        {"items", {{"json_type", "object"}, {"composite", "license_grant"}}}}});
  j["types"].push_back({{"name", "project_view"}, {"kind", "composite"}, {"attributes", attrs}});
  const RouteTable t(parse_catalog(j));
  const json d = openapi_document(t, "");
  const json& v = d["components"]["schemas"]["ProjectView"];
  EXPECT_EQ(v["properties"]["project"],
            (json{{"oneOf", {{{"$ref", "#/components/schemas/Project"}}, {{"type", "null"}}}}}));
  EXPECT_EQ(v["properties"]["grants"],
            (json{{"type", "array"}, {"items", {{"$ref", "#/components/schemas/LicenseGrant"}}}}));
}

// A schema the catalog publishes (a workflow definition's JSON Schema) is a component as it is.
TEST(GatewayOpenApi, PublishedSchemasAreComponents) {
  json j = fixture_catalog();
  json flow = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"$id", "https://coditect.test/workflow-definition"},
      {"type", "object"},
      {"required", {"nodes", "edges"}},
      {"properties", {{"nodes", {{"type", "array"}, {"items", {{"$ref", "#/$defs/node"}}}}}}},
      {"$defs", {{"node", {{"type", "object"}}}}}};
  j["schemas"] = {{"WorkflowDefinition", flow}};
  const RouteTable t(parse_catalog(j));
  json c = openapi_document(t, "")["components"]["schemas"]["WorkflowDefinition"];
  // As published, its own references pointing into its component, without a base of its own.
  EXPECT_EQ(c["properties"]["nodes"]["items"]["$ref"],
            "#/components/schemas/WorkflowDefinition/$defs/node");
  EXPECT_FALSE(c.contains("$id"));
  EXPECT_EQ(c["$defs"], flow["$defs"]);
  EXPECT_EQ(c["required"], flow["required"]);
}

TEST(GatewayOpenApi, ListEnvelope) {
  const json& l = schema("ProjectList");
  EXPECT_EQ(l["required"], json::array({"count", "next", "previous", "results"}));
  EXPECT_EQ(l["properties"]["count"]["type"], json::array({"integer", "null"}));
  EXPECT_EQ(l["properties"]["next"]["format"], "uri");
  EXPECT_EQ(l["properties"]["results"]["items"]["$ref"], "#/components/schemas/Project");
  const json& op = doc()["paths"]["/api/v1/projects/"]["get"];
  EXPECT_EQ(op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ProjectList");
}

TEST(GatewayOpenApi, ListParametersFromFiltersOrderingsAndSearch) {
  const json& op = doc()["paths"]["/api/v1/users/"]["get"];
  std::set<std::string> n = names_of(op["parameters"]);
  for (const char* want :
       {"email", "email__in", "role", "role__in", "is_active", "last_login__isnull",
        "created_at__gte", "created_at__lt", "page", "page_size", "cursor", "ordering", "search"})
    EXPECT_TRUE(n.count(want)) << want;
  std::map<std::string, json> by_name;
  for (const auto& p : op["parameters"]) by_name[p["name"]] = p;
  EXPECT_EQ(by_name["role"]["schema"]["$ref"], "#/components/schemas/MemberRole");
  EXPECT_EQ(by_name["is_active"]["schema"]["type"], "boolean");
  EXPECT_EQ(by_name["last_login__isnull"]["schema"]["type"], "boolean");
  EXPECT_EQ(by_name["created_at__gte"]["schema"]["format"], "date-time");
  EXPECT_NE(by_name["ordering"]["description"].get<std::string>().find("last_name"),
            std::string::npos);
  EXPECT_EQ(by_name["ordering"]["x-orderings"], json::array({"created_at", "email", "last_name"}));
  EXPECT_EQ(op["x-permission"], "user.view");
  // Memberships declare no search.
  EXPECT_FALSE(
      names_of(doc()["paths"]["/api/v1/memberships/"]["get"]["parameters"]).count("search"));
  // Page sizes from the resource.
  for (const auto& p : doc()["paths"]["/api/v1/audit-logs/"]["get"]["parameters"]) {
    if (p["name"] == "page_size") {
      EXPECT_EQ(p["schema"]["default"], 50);
    }
  }
}

TEST(GatewayOpenApi, PathParamsAreUuids) {
  const json& op = doc()["paths"]["/api/v1/teams/{team_id}/members/{id}/"]["delete"];
  std::vector<std::string> in_path;
  for (const auto& p : op["parameters"])
    if (p["in"] == "path") {
      in_path.push_back(p["name"]);
      EXPECT_EQ(p["schema"]["format"], "uuid");
      EXPECT_EQ(p["required"], true);
    }
  EXPECT_EQ(in_path, (std::vector<std::string>{"team_id", "id"}));
}

TEST(GatewayOpenApi, EtagAndIfMatch) {
  const json& get = doc()["paths"]["/api/v1/projects/{id}/"]["get"];
  EXPECT_EQ(get["responses"]["200"]["headers"]["ETag"]["schema"]["type"], "string");
  EXPECT_FALSE(get["responses"].contains("412"));
  const json& patch = doc()["paths"]["/api/v1/projects/{id}/"]["patch"];
  EXPECT_TRUE(patch["responses"].contains("412"));
  EXPECT_TRUE(patch["responses"]["200"]["headers"].contains("ETag"));
  bool if_match = false;
  for (const auto& p : patch["parameters"])
    if_match = if_match || (p["name"] == "If-Match" && p["in"] == "header" && !p["required"]);
  EXPECT_TRUE(if_match);
  EXPECT_EQ(patch["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ProjectUpdate");
  const json& del = doc()["paths"]["/api/v1/projects/{id}/"]["delete"];
  EXPECT_TRUE(del["responses"].contains("412"));
  EXPECT_TRUE(del["responses"].contains("204"));
  EXPECT_EQ(doc()["paths"]["/api/v1/projects/"]["post"]["responses"]["201"]["headers"]["ETag"]
                 ["required"],
            true);
}

TEST(GatewayOpenApi, ActionBodiesFromTheirFields) {
  const json& acquire = doc()["paths"]["/api/v1/licenses/acquire"]["post"];
  EXPECT_EQ(acquire["requestBody"]["required"], true);
  std::string ref = acquire["requestBody"]["content"]["application/json"]["schema"]["$ref"];
  const json& body = schema(ref.substr(21));
  EXPECT_EQ(body["required"], json::array({"key_string", "hardware_id"}));
  EXPECT_EQ(body["additionalProperties"], false);
  EXPECT_EQ(body["properties"]["key_string"]["maxLength"], 23);
  EXPECT_EQ(acquire["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/LicenseGrant");
  // session_id in the body or the query: the body is optional, the query parameter declared.
  const json& release = doc()["paths"]["/api/v1/licenses/release"]["delete"];
  EXPECT_EQ(release["requestBody"]["required"], false);
  EXPECT_TRUE(names_of(release["parameters"]).count("session_id"));
  const json& keys = doc()["paths"]["/api/v1/licenses/public-keys/"]["get"];
  EXPECT_TRUE(keys["security"].empty());
  EXPECT_EQ(keys["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"],
            "#/components/schemas/LicensePublicKey");
  const json& reg = doc()["paths"]["/api/v1/auth/register"]["post"];
  EXPECT_EQ(reg["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Register");
  EXPECT_EQ(reg["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Registered");
}

TEST(GatewayOpenApi, EveryReferenceResolvesAndEveryOperationIsDocumented) {
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "$ref") {
          std::string ref = it->get<std::string>();
          ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
          EXPECT_TRUE(doc()["components"]["schemas"].contains(ref.substr(21))) << ref;
        } else {
          walk(*it);
        }
      }
    } else if (j.is_array()) {
      for (const auto& e : j) walk(e);
    }
  };
  walk(doc()["paths"]);
  walk(doc()["components"]);
  RouteTable t(parse_catalog(fixture_catalog()));
  for (const auto& r : t.routes()) {
    std::string m = r.op.method;
    for (auto& c : m) c = static_cast<char>(std::tolower(c));
    ASSERT_TRUE(doc()["paths"][r.op.path].contains(m)) << r.op.path << " " << m;
    const json& op = doc()["paths"][r.op.path][m];
    EXPECT_EQ(op["operationId"], r.op.operation_id);
    EXPECT_TRUE(op["responses"].contains(std::to_string(r.op.status))) << r.op.operation_id;
    if (r.op.auth == Auth::None)
      EXPECT_TRUE(op["security"].empty()) << r.op.operation_id;
    else
      EXPECT_TRUE(op["security"][0].contains("bearerAuth")) << r.op.operation_id;
  }
}

TEST(GatewayOpenApi, TypeNamesNeverClashWithResourceSchemas) {
  json j = fixture_catalog();
  j["types"].push_back({{"name", "project"}, {"kind", "enum"}, {"values", {"a"}}});
  RouteTable t(parse_catalog(j));
  json d = openapi_document(t, "");
  EXPECT_FALSE(d.contains("servers"));
  EXPECT_EQ(d["components"]["schemas"]["ProjectType"]["enum"], json::array({"a"}));
  EXPECT_EQ(d["components"]["schemas"]["Project"]["type"], "object");
}

TEST(GatewayOpenApi, AuthenticatedPostsTakeAnIdempotencyKey) {
  for (const auto& [path, item] : doc()["paths"].items())
    for (const auto& [method, op] : item.items()) {
      bool has = false;
      for (const auto& p : op.value("parameters", json::array()))
        has = has || (p["name"] == "Idempotency-Key" && p["in"] == "header" && !p["required"] &&
                      p["schema"]["maxLength"] == 255);
      // Registration has a token but no tenant context yet: it answers 409 when repeated.
      bool in_tenant =
          !op.value("security", json::array()).empty() && path != "/api/v1/auth/register";
      EXPECT_EQ(has, method == "post" && in_tenant) << method << " " << path;
    }
}

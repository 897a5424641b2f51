// The route table built from the catalog, and matching: path parameters, trailing slashes,
// 404 and 405, literal segments before parameters, a catalog of realistic size.
#include <gtest/gtest.h>

#include <set>

#include "catalog_fixture.hpp"
#include "routes.hpp"

using namespace coditect::gateway;
using nlohmann::json;

namespace {

const RouteTable& table() {
  static const RouteTable t(parse_catalog(fixture_catalog()));
  return t;
}

const char* kId = "0190a6e5-7b1c-7cc3-9b2e-1234567890ab";

}  // namespace

TEST(GatewayRoutes, MatchWithPathParams) {
  auto m = table().match("GET", std::string("/api/v1/projects/") + kId + "/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->op.operation_id, "projects_get");
  EXPECT_EQ(m.path_params, (std::vector<std::pair<std::string, std::string>>{{"id", kId}}));
  m = table().match("DELETE", "/api/v1/teams/t/members/m/");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->op.operation_id, "team_members_delete");
  EXPECT_EQ(m.path_params,
            (std::vector<std::pair<std::string, std::string>>{{"team_id", "t"}, {"id", "m"}}));
  EXPECT_EQ(m.route->resource->name, "team_member");
}

TEST(GatewayRoutes, TrailingSlashIsOptional) {
  EXPECT_TRUE(table().match("GET", "/api/v1/projects").route);
  EXPECT_TRUE(table().match("GET", "/api/v1/projects/").route);
  EXPECT_TRUE(table().match("POST", "/api/v1/licenses/acquire/").route);
  EXPECT_TRUE(table().match("POST", "/api/v1/licenses/acquire").route);
  EXPECT_TRUE(table().match("GET", "/health").route);
  EXPECT_TRUE(table().match("GET", "/api/schema").route);
  EXPECT_TRUE(table().match("POST", "/api/v1/auth/register/").route);
}

TEST(GatewayRoutes, UnknownPathsAndWrongMethods) {
  auto m = table().match("GET", "/api/v1/nothing/");
  EXPECT_FALSE(m.route);
  EXPECT_FALSE(m.path_known);
  EXPECT_FALSE(table().match("GET", "/api//v1/projects/").path_known);
  EXPECT_FALSE(table().match("GET", "").path_known);
  EXPECT_FALSE(table().match("GET", "/").path_known);
  EXPECT_FALSE(table().match("GET", "api/v1/projects/").path_known);
  EXPECT_FALSE(table().match("GET", "/api/v1/projects/x/y/").path_known);
  EXPECT_FALSE(table().match("GET", "/api/v1/projects/x/restore/extra").path_known);
  m = table().match("PUT", "/api/v1/projects/");
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "POST"}));
  m = table().match("POST", "/api/v1/projects/x/");
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "PATCH", "DELETE"}));
  m = table().match("GET", "/api/v1/tenant/");
  EXPECT_EQ(m.route->op.operation_id, "tenants_get");
}

TEST(GatewayRoutes, OperationalRoutesStayInCode) {
  std::set<std::string> pub;
  for (const auto& r : table().routes())
    if (r.op.auth == Auth::None) pub.insert(r.op.operation_id);
  EXPECT_EQ(pub, (std::set<std::string>{"health", "schema", "licenses_public_keys"}));
  auto m = table().match("POST", "/api/v1/auth/register");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.route->op.auth, Auth::Register);
  EXPECT_EQ(table().match("GET", "/health/").route->kind, RouteKind::Health);
  EXPECT_EQ(table().match("GET", "/api/schema/").route->kind, RouteKind::Schema);
  EXPECT_EQ(table().routes().size(), table().catalog().operations.size() + 3);
}

TEST(GatewayRoutes, LiteralSegmentsWinOverParams) {
  json j = fixture_catalog();
  // /api/v1/licenses/{id}/ beside /api/v1/licenses/acquire and /public-keys/.
  json get = {{"operation_id", "licenses_get"},
              {"resource", "license"},
              {"kind", "get"},
              {"method", "GET"},
              {"path", "/api/v1/licenses/{id}/"},
              {"sql", "SELECT f($1)"},
              {"params", {{{"from", "path"}, {"name", "id"}}}},
              {"result", "row"}};
  j["operations"].push_back(get);
  RouteTable t(parse_catalog(j));
  EXPECT_EQ(t.match("GET", "/api/v1/licenses/public-keys/").route->op.operation_id,
            "licenses_public_keys");
  EXPECT_EQ(t.match("GET", std::string("/api/v1/licenses/") + kId).route->op.operation_id,
            "licenses_get");
  auto m = t.match("GET", "/api/v1/licenses/acquire");
  EXPECT_FALSE(m.route) << "the literal path is the one meant";
  EXPECT_EQ(m.allowed, std::vector<std::string>{"POST"});
}

TEST(GatewayRoutes, ClashesAreCatalogErrors) {
  json j = fixture_catalog();
  json dup = j["operations"][0];
  dup["operation_id"] = "tenant_get_again";
  j["operations"].push_back(dup);
  EXPECT_THROW(RouteTable{parse_catalog(j)}, CatalogError);
  j = fixture_catalog();
  json shadow = j["operations"][0];
  shadow["operation_id"] = "my_health";
  shadow["path"] = "/health";
  j["operations"].push_back(shadow);
  EXPECT_THROW(RouteTable{parse_catalog(j)}, CatalogError) << "an operational route's path";
  j = fixture_catalog();
  j["operations"][0]["operation_id"] = "auth_register";
  EXPECT_THROW(RouteTable{parse_catalog(j)}, CatalogError) << "an operational route's name";
}

// 75 resources of 5 operations each plus a nested collection and an action: every path
// reaches its own operation (the trie, not a scan, decides).
TEST(GatewayRoutes, SeventyFiveResources) {
  json j = {{"version", "x"},
            {"types", json::array()},
            {"resources", json::array()},
            {"operations", json::array()}};
  auto add = [&](std::string id, std::string method, std::string path, int n_params) {
    json params = json::array();
    std::string sql = "SELECT f(";
    for (size_t i = path.find('{'); i != std::string::npos; i = path.find('{', i + 1))
      params.push_back({{"from", "path"}, {"name", path.substr(i + 1, path.find('}', i) - i - 1)}});
    while (static_cast<int>(params.size()) < n_params) params.push_back({{"from", "body"}});
    for (size_t i = 1; i <= params.size(); ++i) sql += (i > 1 ? ", $" : "$") + std::to_string(i);
    j["operations"].push_back({{"operation_id", id},
                               {"kind", "action"},
                               {"method", method},
                               {"path", path},
                               {"sql", sql + ")"},
                               {"params", params},
                               {"result", "json"}});
  };
  for (int i = 0; i < 75; ++i) {
    std::string r = "r" + std::to_string(i), base = "/api/v1/" + r + "s/";
    add(r + "_list", "GET", base, 0);
    add(r + "_create", "POST", base, 1);
    add(r + "_get", "GET", base + "{id}/", 1);
    add(r + "_update", "PATCH", base + "{id}/", 2);
    add(r + "_delete", "DELETE", base + "{id}/", 1);
    add(r + "_children", "GET", base + "{parent_id}/children/", 1);
    add(r + "_child", "GET", base + "{parent_id}/children/{id}/", 2);
    add(r + "_act", "POST", base + "{id}/act/", 1);
  }
  RouteTable t(parse_catalog(j));
  EXPECT_EQ(t.routes().size(), 75u * 8 + 3);
  for (int i = 0; i < 75; ++i) {
    std::string r = "r" + std::to_string(i), base = "/api/v1/" + r + "s/";
    EXPECT_EQ(t.match("PATCH", base + "x").route->op.operation_id, r + "_update");
    auto m = t.match("GET", base + "p/children/c/");
    ASSERT_TRUE(m.route);
    EXPECT_EQ(m.route->op.operation_id, r + "_child");
    EXPECT_EQ(m.path_params[0], (std::pair<std::string, std::string>{"parent_id", "p"}));
    EXPECT_EQ(m.path_params[1], (std::pair<std::string, std::string>{"id", "c"}));
    EXPECT_EQ(t.match("POST", base + "x/act").route->op.operation_id, r + "_act");
    EXPECT_EQ(t.match("PUT", base + "x/act").allowed, std::vector<std::string>{"POST"});
  }
}
